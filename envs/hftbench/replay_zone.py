"""Time zones of replays: the bar files' clock times and the exchange's.

Bar files give clock times without a zone. A replay runs in the exchange's zone
(``MarketConfig.replay_timezone``, default ``America/New_York``): ``replay_start``,
``session_open`` and ``info["time_of_day"]`` are clock times there, and ``info["timestamp"]`` is
the ISO 8601 instant with its offset. Each file's own zone is ``MarketConfig.data_timezone``
(e.g. ``UTC``, the zone of the shared files from the original HFTBench), or ``auto``, the default:

**Detection** (:func:`detect_zone`): a liquid stock trades in nearly every second of its regular
session and in far fewer before it. For each candidate zone of the file, the exchange's and UTC,
the session open (``session_open`` in the exchange's zone on the file's date) is placed on the
file's clock and the share of seconds with a bar in the :data:`OPEN_WINDOW_S` seconds after it is
measured. The file is read as UTC when that share is at least :data:`DETECTION_MARGIN` higher
read as UTC than read as exchange time; otherwise as exchange time. The decision and both shares
are logged (``INFO``). Files of illiquid symbols, or whose data starts after the open, cannot be
told apart this way: give their zone.

Clock times convert by their wall-clock meaning on the file's date (zoneinfo, so daylight saving
time is right: 13:30 UTC is 09:30 in New York in summer and 08:30 in winter).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from bisect import bisect_left
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from splitsecond.envs.hftbench.replay_data import BarSeries

logger = logging.getLogger(__name__)

UTC = "UTC"
OPEN_WINDOW_S = 1_800
"""Seconds after the session open whose bar density :func:`detect_zone` compares."""
DETECTION_MARGIN = 0.10
"""How much denser (as a share of seconds) the open must look read as UTC to read a file as UTC."""


def _date(series: BarSeries) -> dt.date:
    return dt.date.fromisoformat(series.date)


def convert_second(date: dt.date, second: int, from_zone: str, to_zone: str) -> int:
    """The clock time ``second`` (seconds after midnight of ``date`` in ``from_zone``) as seconds
    after midnight of ``date`` in ``to_zone`` (outside ``[0, 86400)`` on a neighbouring day)."""
    wall = dt.datetime.combine(date, dt.time(), tzinfo=ZoneInfo(from_zone)) + dt.timedelta(seconds=second)
    there = wall.astimezone(ZoneInfo(to_zone))
    return (there.date() - date).days * 86_400 + there.hour * 3600 + there.minute * 60 + there.second


def convert_series(series: BarSeries, from_zone: str, to_zone: str) -> BarSeries:
    """``series`` with its clock times moved from ``from_zone`` to ``to_zone``.

    Raises:
        ValueError: when the conversion would repeat clock times (a daylight-saving fold inside
            the data).
    """
    if ZoneInfo(from_zone) == ZoneInfo(to_zone):
        return series
    date = _date(series)
    first = convert_second(date, series.seconds[0], from_zone, to_zone) - series.seconds[0]
    last = convert_second(date, series.seconds[-1], from_zone, to_zone) - series.seconds[-1]
    if first == last:  # one offset for the whole day: shift
        seconds = tuple(s + first for s in series.seconds)
    else:
        seconds = tuple(convert_second(date, s, from_zone, to_zone) for s in series.seconds)
        if any(b <= a for a, b in zip(seconds, seconds[1:], strict=False)):
            raise ValueError(
                f"{series.symbol} {series.date}: converting clock times from {from_zone} to {to_zone} "
                "repeats times (a daylight-saving change inside the data); give a zone without one"
            )
    return dataclasses.replace(series, seconds=seconds)


def open_density(series: BarSeries, open_second: int) -> float:
    """Share of the :data:`OPEN_WINDOW_S` seconds from ``open_second`` (file clock) that have a bar."""
    lo = bisect_left(series.seconds, open_second)
    hi = bisect_left(series.seconds, open_second + OPEN_WINDOW_S)
    return (hi - lo) / OPEN_WINDOW_S


def detect_zone(series: BarSeries, exchange_zone: str, session_open: int, source: str = "") -> str:
    """The zone of ``series``' clock times: ``UTC`` or ``exchange_zone`` (see the module docstring).

    Args:
        series: one file's bars of one day, clock times as in the file.
        exchange_zone: the exchange's zone.
        session_open: the regular session's open, seconds after midnight in ``exchange_zone``.
        source: the file, for the log line.
    """
    if ZoneInfo(exchange_zone) == ZoneInfo(UTC):
        return exchange_zone
    date = _date(series)
    as_exchange = open_density(series, session_open)
    as_utc = open_density(series, convert_second(date, session_open, exchange_zone, UTC))
    zone = UTC if as_utc >= as_exchange + DETECTION_MARGIN else exchange_zone
    logger.info(
        "%s: clock times read as %s (bars in the %d s after the open: %.0f%% as UTC, %.0f%% as %s); "
        "set data_timezone to override",
        source or f"{series.symbol} {series.date}",
        zone,
        OPEN_WINDOW_S,
        100 * as_utc,
        100 * as_exchange,
        exchange_zone,
    )
    return zone


def to_exchange_time(
    series: BarSeries, data_zone: str, exchange_zone: str, session_open: int, source: str = ""
) -> BarSeries:
    """``series`` on the exchange's clock; ``data_zone`` is the file's zone or ``"auto"`` (detect)."""
    zone = detect_zone(series, exchange_zone, session_open, source) if data_zone == "auto" else data_zone
    return convert_series(series, zone, exchange_zone)


def iso_timestamp(date: str, second: float, zone: str) -> str:
    """ISO 8601 instant of clock time ``second`` after midnight of ``date`` in ``zone``, with its
    offset and milliseconds, e.g. ``2025-04-04T09:30:00.000-04:00``."""
    midnight = dt.datetime.combine(dt.date.fromisoformat(date), dt.time(), tzinfo=ZoneInfo(zone))
    ms = int(round(second * 1000))
    return (midnight + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
