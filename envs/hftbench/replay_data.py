"""Real 1-second OHLC bars: loaders (JSON and CSV), the intra-bar price path, the data folder.

JSON (the original HFTBench's format)::

    {"YYYY-MM-DD": {"HH:MM:SS": {"open": f, "high": f, "low": f, "close": f}, ...}, ...}

CSV: a header row, then one bar per row, columns (in any order)::

    date,time,open,high,low,close[,symbol]
    2024-08-05,09:30:00,101.5,101.9,101.2,101.8,NVDA

Seconds with no trade are absent in both formats. The symbol comes from the ``symbol`` argument,
else the CSV ``symbol`` column, else the file name (``ohlc_<SYMBOL>_<date>.json`` or
``<SYMBOL>.csv``).

Intra-bar path (deterministic): within second ``s`` the price goes linearly
open -> low -> high -> close when ``close >= open`` (else open -> high -> low -> close), each leg
taking a third of the second; between bars (seconds without trades) it stays at the last close.

Data folder: the ``data_dir`` argument, else ``$SPLITSECOND_HFT_DATA``, else
``<repo>/../shared/data/hftbench``. The shared files are read in place, never copied.
"""

from __future__ import annotations

import csv
import json
import os
import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_ENV_VAR = "SPLITSECOND_HFT_DATA"
"""Environment variable naming the folder of replay data files."""

_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def default_data_dir() -> Path:
    """``$SPLITSECOND_HFT_DATA`` if set, else ``<repo>/../shared/data/hftbench``."""
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hftbench"


def resolve_data_file(name: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolve a data file name: absolute or existing paths as given, else inside the data folder.

    Raises:
        FileNotFoundError: naming where it looked.
    """
    path = Path(name)
    if path.is_absolute() or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"replay data file {path} does not exist")
        return path
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    candidate = folder / path
    if not candidate.exists():
        raise FileNotFoundError(
            f"replay data file {name!s} not found in {folder} (set data_dir or ${DATA_ENV_VAR})"
        )
    return candidate


def parse_time_of_day(text: str) -> int:
    """``"HH:MM:SS"`` -> seconds since midnight. Raises ``ValueError`` on another format."""
    m = _TIME_RE.match(text.strip())
    if not m:
        raise ValueError(f"time of day must be HH:MM:SS, got {text!r}")
    h, mi, s = (int(g) for g in m.groups())
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"time of day out of range: {text!r}")
    return h * 3600 + mi * 60 + s


def format_time_of_day(seconds: float) -> str:
    """Seconds since midnight -> ``"HH:MM:SS.mmm"``."""
    ms = int(round(seconds * 1000))
    s, ms = divmod(ms, 1000)
    h, rem = divmod(s, 3600)
    mi, s = divmod(rem, 60)
    return f"{h:02d}:{mi:02d}:{s:02d}.{ms:03d}"


@dataclass(frozen=True)
class BarSeries:
    """One symbol-day of 1-second bars, sorted by time.

    Attributes:
        symbol: ticker.
        date: ``YYYY-MM-DD``.
        seconds: second of day of each bar (strictly increasing).
        open, high, low, close: prices in dollars, index-aligned with ``seconds``.
    """

    symbol: str
    date: str
    seconds: tuple[int, ...]
    open: tuple[float, ...]
    high: tuple[float, ...]
    low: tuple[float, ...]
    close: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.seconds)
        if n == 0:
            raise ValueError(f"BarSeries {self.symbol} {self.date} has no bars")
        if not all(len(a) == n for a in (self.open, self.high, self.low, self.close)):
            raise ValueError("BarSeries columns must have equal lengths")
        for i in range(n):
            o, h, lo, c = self.open[i], self.high[i], self.low[i], self.close[i]
            if not (lo <= min(o, c) and max(o, c) <= h and lo > 0):
                raise ValueError(
                    f"BarSeries {self.symbol} bar at {format_time_of_day(self.seconds[i])[:8]} is inconsistent: "
                    f"open={o} high={h} low={lo} close={c}"
                )
            if i and self.seconds[i] <= self.seconds[i - 1]:
                raise ValueError("BarSeries seconds must be strictly increasing")

    def __len__(self) -> int:
        return len(self.seconds)

    @property
    def first_second(self) -> int:
        """Second of day of the first bar."""
        return self.seconds[0]

    @property
    def last_second(self) -> int:
        """Second of day of the last bar."""
        return self.seconds[-1]

    def bar_at(self, second: int) -> tuple[float, float, float, float] | None:
        """``(open, high, low, close)`` of the bar of this second of day, or ``None`` (no trade)."""
        i = bisect_right(self.seconds, second) - 1
        if i >= 0 and self.seconds[i] == second:
            return self.open[i], self.high[i], self.low[i], self.close[i]
        return None

    def price_at(self, t: float) -> float:
        """The intra-bar path's price at ``t`` seconds of day (see the module docstring)."""
        second = int(t // 1)
        i = bisect_right(self.seconds, second) - 1
        if i < 0:
            return self.open[0]
        if self.seconds[i] != second:
            return self.close[i]
        o, h, lo, c = self.open[i], self.high[i], self.low[i], self.close[i]
        first, second_leg = (lo, h) if c >= o else (h, lo)
        x = (t - second) * 3.0
        if x < 1.0:
            return o + (first - o) * x
        if x < 2.0:
            return first + (second_leg - first) * (x - 1.0)
        return second_leg + (c - second_leg) * (x - 2.0)

    def lsb_daily_mean(self) -> float:
        """The original HFTBench's daily average: ``(mean(high) + mean(low)) / 2``."""
        return (sum(self.high) / len(self.high) + sum(self.low) / len(self.low)) / 2.0


def _symbol_from_name(path: Path) -> str:
    m = re.match(r"^ohlc_([A-Za-z0-9.]+)_", path.name)
    if m:
        return m.group(1).upper()
    return path.stem.split("_")[0].upper()


def _series_from_mapping(
    symbol: str, date: str, bars: Mapping[str, Mapping[str, float]], source: str
) -> BarSeries:
    rows = []
    for time_text, bar in bars.items():
        try:
            rows.append(
                (
                    parse_time_of_day(time_text),
                    float(bar["open"]),
                    float(bar["high"]),
                    float(bar["low"]),
                    float(bar["close"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: bad bar at {date} {time_text!r}: {exc}") from exc
    rows.sort()
    return BarSeries(
        symbol,
        date,
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
        tuple(r[4] for r in rows),
    )


def load_bars_json(path: str | os.PathLike[str], symbol: str | None = None) -> dict[str, BarSeries]:
    """Load a JSON bar file; returns ``{date: BarSeries}``. Raises ``ValueError`` on a bad format."""
    path = Path(path)
    with path.open() as f:
        data = json.load(f)
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected {{'YYYY-MM-DD': {{'HH:MM:SS': {{open, high, low, close}}}}}}")
    sym = (symbol or _symbol_from_name(path)).upper()
    out = {}
    for date, bars in data.items():
        if not _DATE_RE.match(str(date)) or not isinstance(bars, dict):
            raise ValueError(f"{path}: top-level keys must be YYYY-MM-DD dates mapping to bars, got {date!r}")
        out[date] = _series_from_mapping(sym, date, bars, str(path))
    return out


CSV_COLUMNS = ("date", "time", "open", "high", "low", "close")
"""Required CSV columns (an optional ``symbol`` column may follow)."""


def load_bars_csv(path: str | os.PathLike[str], symbol: str | None = None) -> dict[str, BarSeries]:
    """Load a CSV bar file (see the module docstring); returns ``{date: BarSeries}``."""
    path = Path(path)
    by_date: dict[str, dict[str, dict[str, float]]] = {}
    csv_symbol = None
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        fields = [c.strip().lower() for c in (reader.fieldnames or [])]
        missing = [c for c in CSV_COLUMNS if c not in fields]
        if missing:
            raise ValueError(f"{path}: CSV is missing columns {missing}; required: {', '.join(CSV_COLUMNS)}")
        for row in reader:
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
            date = row["date"]
            if not _DATE_RE.match(date):
                raise ValueError(f"{path}: bad date {date!r} (expected YYYY-MM-DD)")
            if row.get("symbol"):
                csv_symbol = row["symbol"].upper()
            by_date.setdefault(date, {})[row["time"]] = {k: row[k] for k in ("open", "high", "low", "close")}
    if not by_date:
        raise ValueError(f"{path}: CSV has no bars")
    sym = (symbol or csv_symbol or _symbol_from_name(path)).upper()
    return {d: _series_from_mapping(sym, d, bars, str(path)) for d, bars in by_date.items()}


def load_bars(path: str | os.PathLike[str], symbol: str | None = None) -> dict[str, BarSeries]:
    """Load ``.json`` or ``.csv`` bars by extension; returns ``{date: BarSeries}``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return load_bars_json(path, symbol)
    if suffix == ".csv":
        return load_bars_csv(path, symbol)
    raise ValueError(f"unknown bar file type {suffix!r} for {path}; valid: .json, .csv")


def load_replay_day(
    files: tuple[str, ...] | list[str], data_dir: str | None = None, date: str | None = None
) -> list[BarSeries]:
    """Load several files and pick one common day (``date`` or the first day all files share).

    Results are cached per ``(files, data_dir, date)`` (series are immutable), so resetting a
    replay env does not parse the files again; a file changed on disk meanwhile is not re-read.
    """
    return list(_load_replay_day(tuple(str(f) for f in files), data_dir, date))


@lru_cache(maxsize=8)
def _load_replay_day(files: tuple[str, ...], data_dir: str | None, date: str | None) -> tuple[BarSeries, ...]:
    if not files:
        raise ValueError("no replay files given")
    loaded = [load_bars(resolve_data_file(f, data_dir)) for f in files]
    common = sorted(set.intersection(*(set(d) for d in loaded)))
    if date is None:
        if not common:
            raise ValueError(f"replay files {list(files)} share no common date")
        date = common[0]
    elif date not in common:
        raise ValueError(f"replay_date {date!r} not in every file; common dates: {common}")
    series = [d[date] for d in loaded]
    names = [s.symbol for s in series]
    if len(set(names)) != len(names):
        raise ValueError(f"replay files give duplicate symbols {names}")
    return tuple(series)
