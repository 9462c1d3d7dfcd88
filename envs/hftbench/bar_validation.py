"""Checks of bar files before a replay trusts them; every error names the file and where.

A bar file is refused with :class:`BarFileError` (a ``ValueError``) when it is empty, truncated or
not valid JSON/CSV, when a bar's prices are not finite, not positive or inverted (``high < low``,
``open`` or ``close`` outside ``[low, high]``), when a timestamp repeats, or when timestamps do not
increase (the loaders do not sort: a file out of order is a broken file). The message names the
file and the CSV line or the bar's date and clock time, e.g.::

    data/ohlc_X_2024-01-02.json, 2024-01-02 09:30:05: high 99.0 < low 100.0
    data/x.csv, line 7, 2024-01-02 09:30:05: duplicate timestamp (first at line 6)
"""

from __future__ import annotations

import math
import os


class BarFileError(ValueError):
    """A bar file that cannot be replayed.

    Attributes:
        path: the file.
        problem: what is wrong.
        line: the 1-based line (CSV, or where JSON parsing stopped), if known.
        when: the bar's ``YYYY-MM-DD HH:MM:SS``, if known.
    """

    def __init__(
        self, path: str | os.PathLike[str], problem: str, *, line: int | None = None, when: str | None = None
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.when = when
        where = "".join(
            part for part in (f", line {line}" if line is not None else "", f", {when}" if when else "")
        )
        super().__init__(f"{self.path}{where}: {problem}")


def check_prices(
    path: str | os.PathLike[str],
    open_: float,
    high: float,
    low: float,
    close: float,
    *,
    line: int | None = None,
    when: str | None = None,
) -> None:
    """Refuse non-finite, non-positive or inverted OHLC prices.

    Raises:
        BarFileError: naming the file, ``line`` / ``when`` and the offending prices.
    """
    prices = {"open": open_, "high": high, "low": low, "close": close}
    for name, value in prices.items():
        if not math.isfinite(value):
            raise BarFileError(path, f"{name} is {value} (prices must be finite)", line=line, when=when)
        if value <= 0:
            raise BarFileError(path, f"{name} is {value} (prices must be positive)", line=line, when=when)
    if high < low:
        raise BarFileError(path, f"high {high} < low {low}", line=line, when=when)
    for name in ("open", "close"):
        if not low <= prices[name] <= high:
            raise BarFileError(
                path, f"{name} {prices[name]} outside [low {low}, high {high}]", line=line, when=when
            )


class TimestampOrder:
    """Refuses repeated and decreasing timestamps, fed one bar at a time in file order.

    Args:
        path: the file, for messages.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._last: tuple[str, int] | None = None
        self._last_label = ""

    def check(self, date: str, second: int, clock: str, *, line: int | None = None) -> None:
        """Accept the bar at ``date`` / ``second`` (written ``clock`` in the file) or raise.

        Raises:
            BarFileError: for a timestamp equal to or earlier than the previous bar's.
        """
        key = (date, second)
        when = f"{date} {clock}"
        if self._last is not None and key <= self._last:
            if key == self._last:
                problem = "duplicate timestamp" + (
                    f" (first at {self._last_label})" if line is not None else ""
                )
            else:
                problem = f"timestamp comes after {self._last_label}; bars must be in increasing time order"
            raise BarFileError(self.path, problem, line=line, when=when)
        self._last = key
        self._last_label = when if line is None else f"line {line}"
