"""Real 1-second OHLC bars: loaders (JSON and CSV), the intra-bar price path, the data folder.

JSON (the original HFTBench's format)::

    {"YYYY-MM-DD": {"HH:MM:SS": {"open": f, "high": f, "low": f, "close": f}, ...}, ...}

CSV: a header row, then one bar per row, columns (in any order)::

    date,time,open,high,low,close[,symbol]
    2024-08-05,09:30:00,101.5,101.9,101.2,101.8,NVDA

Seconds with no trade are absent in both formats. The symbol comes from the ``symbol`` argument,
else the CSV ``symbol`` column, else the file name (``ohlc_<SYMBOL>_<date>.json`` or
``<SYMBOL>.csv``).

Bars must be in increasing time order, once each, with finite positive prices and
``low <= open, close <= high``; an empty, truncated or otherwise broken file raises
:class:`~.bar_validation.BarFileError` (a ``ValueError``) naming the file and the line or the
bar's clock time (:mod:`.bar_validation`). Clock times are those of the file's own time zone;
:func:`load_replay_day` converts them to the exchange's (:mod:`.replay_zone`).

Intra-bar path (deterministic): within second ``s`` the price goes linearly
open -> low -> high -> close when ``close >= open`` (else open -> high -> low -> close), each leg
taking a third of the second; between bars (seconds without trades) it stays at the last close.

Data folder: the ``data_dir`` argument, else ``$SPLITSECOND_HFT_DATA``, else
``<repo>/../shared/data/hftbench``. The shared files are read in place, never copied.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from splitsecond.envs.hftbench.bar_validation import BarFileError, TimestampOrder, check_prices
from splitsecond.envs.hftbench.replay_zone import to_exchange_time

logger = logging.getLogger(__name__)

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
    """Seconds since midnight -> ``"HH:MM:SS.mmm"`` (times on a neighbouring day wrap around)."""
    ms = int(round(seconds * 1000)) % (86_400 * 1000)
    s, ms = divmod(ms, 1000)
    h, rem = divmod(s, 3600)
    mi, s = divmod(rem, 60)
    return f"{h:02d}:{mi:02d}:{s:02d}.{ms:03d}"


@dataclass(frozen=True)
class BarSeries:
    """One symbol-day of 1-second bars, sorted by time.

    Attributes:
        symbol: ticker.
        date: ``YYYY-MM-DD`` (the file's).
        seconds: second of day of each bar (strictly increasing); after a time-zone conversion
            (:mod:`.replay_zone`) seconds since midnight of ``date`` in the new zone, which may
            fall outside ``[0, 86400)`` for bars on a neighbouring day there.
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
            finite = all(math.isfinite(x) for x in (o, h, lo, c))
            if not (finite and lo <= min(o, c) and max(o, c) <= h and lo > 0):
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


def _series(symbol: str, date: str, rows: list[tuple[int, float, float, float, float]]) -> BarSeries:
    return BarSeries(
        symbol,
        date,
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
        tuple(r[4] for r in rows),
    )


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as its ``(key, value)`` pairs in file order (duplicate keys kept)."""


def _price(path: Path, raw: Any, name: str, *, line: int | None = None, when: str | None = None) -> float:
    if isinstance(raw, bool) or raw is None:
        raise BarFileError(path, f"{name} is {raw!r}, not a price", line=line, when=when)
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise BarFileError(path, f"{name} is {raw!r}, not a price", line=line, when=when) from None


def _clock(path: Path, text: str, *, line: int | None = None, when: str | None = None) -> int:
    try:
        return parse_time_of_day(text)
    except (ValueError, AttributeError):
        raise BarFileError(path, f"clock time {text!r} is not HH:MM:SS", line=line, when=when) from None


def load_bars_json(path: str | os.PathLike[str], symbol: str | None = None) -> dict[str, BarSeries]:
    """Load a JSON bar file; returns ``{date: BarSeries}``.

    Raises:
        BarFileError: for an empty, truncated or malformed file or a bad bar (see the module docstring).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BarFileError(path, f"not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise BarFileError(path, "empty file (no bars)")
    try:
        data = json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        raise BarFileError(
            path, f"not valid JSON (truncated?): {exc.msg} at column {exc.colno}", line=exc.lineno
        ) from None
    shape = "{'YYYY-MM-DD': {'HH:MM:SS': {open, high, low, close}}}"
    if not isinstance(data, _Pairs) or not data:
        raise BarFileError(path, f"expected {shape}, got {'{}' if data == [] else type(data).__name__}")
    sym = (symbol or _symbol_from_name(path)).upper()
    order = TimestampOrder(path)
    out: dict[str, BarSeries] = {}
    for date, bars in data:
        if not _DATE_RE.match(str(date)) or not isinstance(bars, _Pairs):
            raise BarFileError(path, f"top-level keys must be YYYY-MM-DD dates mapping to bars, got {date!r}")
        if date in out:
            raise BarFileError(path, f"date {date} appears twice")
        rows = []
        for clock, bar in bars:
            when = f"{date} {clock}"
            second = _clock(path, clock, when=when)
            order.check(date, second, clock)
            fields = dict(bar) if isinstance(bar, _Pairs) else {}
            if not isinstance(bar, _Pairs) or len(fields) != len(bar):
                raise BarFileError(path, "a bar must be {open, high, low, close}, each once", when=when)
            missing = [k for k in ("open", "high", "low", "close") if k not in fields]
            if missing:
                raise BarFileError(path, f"bar lacks {', '.join(missing)}", when=when)
            o, h, lo, c = (_price(path, fields[k], k, when=when) for k in ("open", "high", "low", "close"))
            check_prices(path, o, h, lo, c, when=when)
            rows.append((second, o, h, lo, c))
        if not rows:
            raise BarFileError(path, f"date {date} has no bars")
        out[date] = _series(sym, date, rows)
    return out


CSV_COLUMNS = ("date", "time", "open", "high", "low", "close")
"""Required CSV columns (an optional ``symbol`` column may follow)."""


def load_bars_csv(path: str | os.PathLike[str], symbol: str | None = None) -> dict[str, BarSeries]:
    """Load a CSV bar file (see the module docstring); returns ``{date: BarSeries}``.

    Blank lines are skipped.

    Raises:
        BarFileError: for an empty or truncated file, missing columns or a bad row (naming its line).
    """
    path = Path(path)
    rows_by_date: dict[str, list[tuple[int, float, float, float, float]]] = {}
    csv_symbol = None
    order = TimestampOrder(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BarFileError(path, f"not UTF-8 text (byte {exc.start})") from None
    with io.StringIO(text, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise BarFileError(path, "empty file (no header row)", line=1)
        fields = [c.strip().lower() for c in header]
        missing = [c for c in CSV_COLUMNS if c not in fields]
        if missing:
            raise BarFileError(
                path, f"CSV is missing columns {missing}; required: {', '.join(CSV_COLUMNS)}", line=1
            )
        col = {name: fields.index(name) for name in (*CSV_COLUMNS, "symbol") if name in fields}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(fields):
                raise BarFileError(
                    path, f"{len(row)} columns where the header has {len(fields)} (truncated row?)", line=line
                )
            cell = {name: row[k].strip() for name, k in col.items()}
            date, clock = cell["date"], cell["time"]
            if not _DATE_RE.match(date):
                raise BarFileError(path, f"bad date {date!r} (expected YYYY-MM-DD)", line=line)
            when = f"{date} {clock}"
            second = _clock(path, clock, line=line, when=when)
            order.check(date, second, clock, line=line)
            o, h, lo, c = (
                _price(path, cell[k] or None, k, line=line, when=when)
                for k in ("open", "high", "low", "close")
            )
            check_prices(path, o, h, lo, c, line=line, when=when)
            if cell.get("symbol"):
                csv_symbol = cell["symbol"].upper()
            rows_by_date.setdefault(date, []).append((second, o, h, lo, c))
    if not rows_by_date:
        raise BarFileError(path, "CSV has no bars (a header only)")
    sym = (symbol or csv_symbol or _symbol_from_name(path)).upper()
    return {d: _series(sym, d, rows) for d, rows in rows_by_date.items()}


def load_bars(path: str | os.PathLike[str], symbol: str | None = None) -> dict[str, BarSeries]:
    """Load ``.json`` or ``.csv`` bars by extension; returns ``{date: BarSeries}``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return load_bars_json(path, symbol)
    if suffix == ".csv":
        return load_bars_csv(path, symbol)
    raise ValueError(f"unknown bar file type {suffix!r} for {path}; valid: .json, .csv")


def default_replay_start(series: list[BarSeries] | tuple[BarSeries, ...], session_open: int) -> int:
    """Where a replay starts by default: the session open (seconds of day), or the first second
    every series has reached when the data starts later; the first such second when the data
    ends before the open (a pre-market file)."""
    first = max(s.first_second for s in series)
    end = min(s.last_second for s in series) + 1
    if session_open >= end:
        logger.info("replay data ends before the session open; starting at the first common bar")
        return first
    return max(session_open, first)


def load_replay_day(
    files: tuple[str, ...] | list[str],
    data_dir: str | None = None,
    date: str | None = None,
    replay_timezone: str = "America/New_York",
    data_timezone: str = "auto",
    session_open: str = "09:30:00",
) -> list[BarSeries]:
    """Load several files, pick one common day and put its bars on the exchange's clock.

    Args:
        files: bar files (names resolve in ``data_dir``, :func:`resolve_data_file`).
        data_dir: the data folder (default :func:`default_data_dir`).
        date: the day (``YYYY-MM-DD``); default the first day all files share.
        replay_timezone: the exchange's zone; the series' seconds are clock times there.
        data_timezone: the files' zone, or ``"auto"`` to detect it per file (:mod:`.replay_zone`).
        session_open: the regular session's open in ``replay_timezone`` (used by the detection).

    Results are cached per arguments (series are immutable), so resetting a replay env does not
    parse the files again; a file changed on disk meanwhile is not re-read.
    """
    return list(
        _load_replay_day(
            tuple(str(f) for f in files), data_dir, date, replay_timezone, data_timezone, session_open
        )
    )


@lru_cache(maxsize=8)
def _load_replay_day(
    files: tuple[str, ...],
    data_dir: str | None,
    date: str | None,
    replay_timezone: str,
    data_timezone: str,
    session_open: str,
) -> tuple[BarSeries, ...]:
    if not files:
        raise ValueError("no replay files given")
    paths = [resolve_data_file(f, data_dir) for f in files]
    loaded = [load_bars(p) for p in paths]
    common = sorted(set.intersection(*(set(d) for d in loaded)))
    if date is None:
        if not common:
            raise ValueError(f"replay files {list(files)} share no common date")
        date = common[0]
    elif date not in common:
        raise ValueError(f"replay_date {date!r} not in every file; common dates: {common}")
    open_s = parse_time_of_day(session_open)
    series = [
        to_exchange_time(d[date], data_timezone, replay_timezone, open_s, str(p))
        for d, p in zip(loaded, paths, strict=True)
    ]
    names = [s.symbol for s in series]
    if len(set(names)) != len(names):
        raise ValueError(f"replay files give duplicate symbols {names}")
    return tuple(series)
