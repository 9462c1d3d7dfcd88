"""Replay times: files' clock zones (given or detected), the exchange's clock, the default start at
the regular-session open, and the real UTC-stamped files."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from splitsecond.envs.hftbench import HFTBenchEnv, MarketConfig
from splitsecond.envs.hftbench.replay_data import (
    DATA_ENV_VAR,
    default_data_dir,
    load_bars_json,
    load_replay_day,
)
from splitsecond.envs.hftbench.replay_zone import convert_second, convert_series, detect_zone, iso_timestamp

NY = "America/New_York"
OPEN = 9 * 3600 + 30 * 60


def _hms(second: int) -> str:
    return f"{second // 3600:02d}:{second % 3600 // 60:02d}:{second % 60:02d}"


def _day(first: int, open_: int, last: int, sparse_every: int = 10, base: float = 100.0) -> dict:
    """Bars every ``sparse_every`` s from ``first`` (pre-market), every second from ``open_``;
    the price is ``base`` before the open and ``base + 5`` from it, to see where a replay starts."""
    bars = {}
    for s in range(first, last + 1):
        if s < open_ and (s - first) % sparse_every:
            continue
        p = base if s < open_ else base + 5.0
        bars[_hms(s)] = {"open": p, "high": p, "low": p, "close": p}
    return bars


def _write(tmp_path, name, date, bars):
    path = tmp_path / name
    path.write_text(json.dumps({date: bars}))
    return path


def test_clock_conversion_follows_daylight_saving_time():
    summer, winter = dt.date(2025, 4, 4), dt.date(2024, 1, 2)
    assert convert_second(summer, 13 * 3600 + 1800, "UTC", NY) == OPEN  # UTC-4
    assert convert_second(winter, 14 * 3600 + 1800, "UTC", NY) == OPEN  # UTC-5
    assert convert_second(summer, OPEN, NY, "UTC") == 13 * 3600 + 1800
    assert convert_second(summer, 2 * 3600, "UTC", NY) == -2 * 3600  # 22:00 the day before
    assert iso_timestamp("2025-04-04", OPEN, NY) == "2025-04-04T09:30:00.000-04:00"
    assert iso_timestamp("2024-01-02", OPEN + 0.25, NY) == "2024-01-02T09:30:00.250-05:00"


def test_detection_reads_utc_files_as_utc_and_exchange_files_as_exchange_time(tmp_path):
    utc_open = 13 * 3600 + 1800
    utc = load_bars_json(
        _write(tmp_path, "ohlc_U_x.json", "2025-04-04", _day(9 * 3600 + 1800, utc_open, 14 * 3600 + 1800))
    )
    assert detect_zone(utc["2025-04-04"], NY, OPEN) == "UTC"
    local = load_bars_json(
        _write(tmp_path, "ohlc_L_x.json", "2025-04-04", _day(5 * 3600 + 1800, OPEN, 10 * 3600 + 1800))
    )
    assert detect_zone(local["2025-04-04"], NY, OPEN) == NY
    short = load_bars_json(_write(tmp_path, "ohlc_S_x.json", "2025-04-04", _day(OPEN, OPEN, OPEN + 40)))
    assert detect_zone(short["2025-04-04"], NY, OPEN) == NY  # a few bars at 09:30: exchange time
    moved = convert_series(utc["2025-04-04"], "UTC", NY)
    assert moved.first_second == 5 * 3600 + 1800 and moved.bar_at(OPEN) == (105.0, 105.0, 105.0, 105.0)
    assert convert_series(moved, NY, NY) is moved


@pytest.mark.parametrize(("date", "offset"), [("2025-04-04", "-04:00"), ("2024-01-02", "-05:00")])
def test_default_replay_of_a_utc_file_starts_at_the_open(tmp_path, date, offset):
    utc_open = convert_second(dt.date.fromisoformat(date), OPEN, NY, "UTC")
    path = _write(tmp_path, "ohlc_UTC_x.json", date, _day(utc_open - 5 * 3600, utc_open, utc_open + 3600))
    for zone in ("auto", "UTC"):
        env = HFTBenchEnv(clock="fixed", replay_files=(str(path),), data_timezone=zone, session_seconds=5.0)
        obs, info = env.reset(seed=0)
        assert info["time_of_day"] == "09:30:00.000" and info["timestamp"] == f"{date}T09:30:00.000{offset}"
        assert env.market.specs[0].price == 105.0  # the open's price, not the pre-market's
    # stating the wrong zone is obeyed: the file's 09:30 is then the open (thin pre-market data)
    env = HFTBenchEnv(clock="fixed", replay_files=(str(path),), data_timezone=NY, session_seconds=5.0)
    obs, info = env.reset(seed=0)
    assert info["time_of_day"] == "09:30:00.000" and env.market.specs[0].price == 100.0
    # replay_start is exchange time; another exchange zone moves everything with it
    env = HFTBenchEnv(clock="fixed", replay_files=(str(path),), replay_start="09:00:00", session_seconds=5.0)
    obs, info = env.reset(seed=0)
    assert info["time_of_day"] == "09:00:00.000" and env.market.specs[0].price == 100.0
    env = HFTBenchEnv(
        clock="fixed",
        replay_files=(str(path),),
        replay_timezone="Europe/London",
        data_timezone="UTC",
        session_open="14:30:00",
        session_seconds=5.0,
    )
    _, info = env.reset(seed=0)
    assert info["timestamp"] == f"{date}T14:30:00.000" + ("+01:00" if offset == "-04:00" else "+00:00")


def test_data_starting_after_the_open_starts_at_its_first_bar(tmp_path):
    path = _write(tmp_path, "ohlc_LATE_x.json", "2025-04-04", _day(OPEN + 600, OPEN + 600, OPEN + 700))
    env = HFTBenchEnv(clock="fixed", replay_files=(str(path),), data_timezone=NY, session_seconds=5.0)
    _, info = env.reset(seed=0)
    assert info["time_of_day"] == "09:40:00.000"
    with pytest.raises(ValueError, match="after the data ends"):
        HFTBenchEnv(clock="fixed", replay_files=(str(path),), replay_start="15:00:00").reset(seed=0)


def test_zone_options_are_validated():
    with pytest.raises(ValueError, match="replay_timezone must be an IANA time zone"):
        MarketConfig(replay_timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="data_timezone must be an IANA time zone"):
        MarketConfig(data_timezone="EST5EDT-ish")
    with pytest.raises(ValueError, match="session_open must be a time of day HH:MM:SS"):
        MarketConfig(session_open="9.30")
    with pytest.raises(ValueError, match="replay_start must be a time of day HH:MM:SS"):
        MarketConfig(replay_start="25:00:00")


def _shared(name):
    path = default_data_dir() / name
    if not path.exists():
        pytest.skip(f"shared HFTBench data {path} not found (set ${DATA_ENV_VAR})")
    return path


def test_real_nvda_replay_starts_at_the_1330_utc_open():
    _shared("ohlc_NVDA_2025-04-04.json")
    env = HFTBenchEnv(clock="fixed", replay_files=("ohlc_NVDA_2025-04-04.json",), session_seconds=2.0)
    obs, info = env.reset(seed=0)
    when = dt.datetime.fromisoformat(info["timestamp"]).astimezone(dt.UTC)
    assert when.strftime("%H:%M:%S") == "13:30:00" and info["time_of_day"] == "09:30:00.000"
    assert env.market.specs[0].price == pytest.approx(98.91)  # the regular session's opening print
    assert obs["mid_px"][0] == pytest.approx(98.91, abs=0.15)
    assert env.spec_metadata["symbols"] == ["NVDA"]
    # every shared file is detected as UTC: its 13:30 bar is the exchange's 09:30 bar
    for name in ("ohlc_AAPL_2025-04-04.json", "ohlc_AMZN_2024-08-05.json", "ohlc_NVDA_2024-08-05.json"):
        _shared(name)
        raw = next(iter(load_bars_json(default_data_dir() / name).values()))
        (series,) = load_replay_day((name,))
        assert series.bar_at(OPEN) == raw.bar_at(13 * 3600 + 1800)
