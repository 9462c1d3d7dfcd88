"""Replay of 1-second OHLC bars: loaders, intra-bar path, fills at quotes (not at the bar's low/high),
the original benchmark's ``lsb`` fill rule, and the real shared data when it is present."""

from __future__ import annotations

import json

import pytest

from splitsecond.envs.hftbench import HFTBenchEnv, load_bars, load_bars_csv, load_bars_json
from splitsecond.envs.hftbench.replay_data import DATA_ENV_VAR, default_data_dir, resolve_data_file
from splitsecond.envs.timing import TimedAction

START = 9 * 3600 + 30 * 60  # 09:30:00


def _hms(sod):
    return f"{sod // 3600:02d}:{sod % 3600 // 60:02d}:{sod % 60:02d}"


def _bars(n=40, gap_at=None):
    """Identical wide bars (low 99, high 101) every second, except a missing second at ``gap_at``."""
    out = {}
    for k in range(n):
        if k == gap_at:
            continue
        out[_hms(START + k)] = {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5}
    return out


def _write_json(path, bars, date="2024-01-02"):
    path.write_text(json.dumps({date: bars}))
    return path


def _write_csv(path, bars, date="2024-01-02", symbol=None):
    lines = ["date,time,open,high,low,close" + (",symbol" if symbol else "")]
    for t, b in bars.items():
        lines.append(
            f"{date},{t},{b['open']},{b['high']},{b['low']},{b['close']}" + (f",{symbol}" if symbol else "")
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_and_csv_loaders_agree(tmp_path):
    bars = _bars(10, gap_at=4)
    j = load_bars_json(_write_json(tmp_path / "ohlc_TEST_2024-01-02.json", bars))["2024-01-02"]
    c = load_bars_csv(_write_csv(tmp_path / "whatever.csv", bars, symbol="TEST"))["2024-01-02"]
    assert j == c
    assert j.symbol == "TEST" and len(j) == 9
    assert load_bars(tmp_path / "ohlc_TEST_2024-01-02.json")["2024-01-02"] == j
    assert j.bar_at(START + 4) is None and j.bar_at(START + 5) == (100.0, 101.0, 99.0, 100.5)


def test_loader_errors(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("date,time,open,close\n2024-01-02,09:30:00,1,1\n")
    with pytest.raises(ValueError, match="missing columns"):
        load_bars_csv(p)
    bad = {"09:30:00": {"open": 100.0, "high": 99.0, "low": 98.0, "close": 100.0}}
    with pytest.raises(ValueError, match=r"open 100.0 outside \[low 98.0, high 99.0\]"):
        load_bars_json(_write_json(tmp_path / "ohlc_BAD_x.json", bad))
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        (tmp_path / "y.json").write_text(json.dumps({"yesterday": {}}))
        load_bars_json(tmp_path / "y.json")
    with pytest.raises(ValueError, match=r"\.json, \.csv"):
        load_bars(tmp_path / "bars.parquet")
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_data_file("nope.json", tmp_path)


def test_intrabar_path_is_deterministic(tmp_path):
    bars = {_hms(START): {"open": 10.0, "high": 13.0, "low": 9.0, "close": 12.0}}
    bars[_hms(START + 2)] = {"open": 12.0, "high": 12.5, "low": 10.0, "close": 11.0}
    s = load_bars_json(_write_json(tmp_path / "ohlc_P_d.json", bars))["2024-01-02"]
    # up bar: open -> low -> high -> close
    assert [s.price_at(START + x) for x in (0.0, 1 / 3, 2 / 3)] == pytest.approx([10.0, 9.0, 13.0])
    assert s.price_at(START + 0.999999) == pytest.approx(12.0, abs=1e-4)
    assert s.price_at(START + 1.5) == 12.0  # no bar: stays at the last close
    # down bar: open -> high -> low -> close
    assert [s.price_at(START + 2 + x) for x in (1 / 3, 2 / 3)] == pytest.approx([12.5, 10.0])


def test_zero_latency_round_trip_does_not_earn_the_bar_range(tmp_path):
    path = _write_json(tmp_path / "ohlc_WIDE_2024-01-02.json", _bars(40))
    env = HFTBenchEnv(clock="fixed", latency_ms=0.0, replay_files=(str(path),), session_seconds=30.0)
    obs, info = env.reset(seed=0)
    assert info["time_of_day"].startswith("09:30:00")
    for k in range(200):
        obs, r, term, _, info = env.step("BUY 100 WIDE @ MKT" if k % 2 == 0 else "SELL 100 WIDE @ MKT")
        if term:
            break
    fills = [f for f in env.market.stats[env.market.agents[0]].fills if f.liquidity == "taker"]
    buys = [f.price for f in fills if f.side > 0]
    sells = [f.price for f in fills if f.side < 0]
    assert len(buys) > 50 and len(sells) > 50
    assert min(buys) > 99.0 and max(sells) < 101.0  # never at the bar's low / high
    pnl = env.summary()["pnl"]
    naive = len(sells) * 100 * (101.0 - 99.0)  # what the original's zero-latency rule would pay
    assert pnl < 0 < naive


def test_lsb_fill_model_slides_toward_daily_mean(tmp_path):
    bars = _bars(40, gap_at=6)
    bars[_hms(START + 30)] = {"open": 100.0, "high": 105.0, "low": 95.0, "close": 100.0}
    path = _write_json(tmp_path / "ohlc_LSB_2024-01-02.json", bars)
    mean = ((101.0 * 38 + 105.0) / 39 + (99.0 * 38 + 95.0) / 39) / 2
    env = HFTBenchEnv(
        clock="explicit",
        replay_files=(str(path),),
        fill_model="lsb",
        decision_interval_ms=1000.0,
        session_seconds=20.0,
    )
    env.reset(seed=0)
    # observed at 09:30:00 with 0 latency: buy at the bar's low (the original's free arbitrage)
    _, _, _, _, info = env.step(TimedAction("BUY 10 LSB", 0.0))
    assert info["fills"][0]["price"] == pytest.approx(99.0) and info["fills"][0]["liquidity"] == "lsb"
    # observed at 09:30:01, 750 ms latency: halfway from the high to the daily mean
    _, _, _, _, info = env.step(TimedAction("SELL 10 LSB", 750.0))
    assert info["fills"][0]["price"] == pytest.approx(101.0 * 0.5 + mean * 0.5, abs=1e-6)
    # 1.5 s or more: the daily mean
    _, _, _, _, info = env.step(TimedAction("BUY 10 LSB", 1500.0))
    assert info["fills"][0]["price"] == pytest.approx(mean, abs=1e-6)
    _, _, _, _, info = env.step(TimedAction("BUY 10 LSB @ 99.50", 0.0))
    assert info["rejections"][0]["code"] == "lsb_market_only"
    # walk to the missing second 09:30:06
    while info["time_of_day"][:8] != "09:30:06":
        _, _, _, _, info = env.step(TimedAction(None, 0.0))
    _, _, _, _, info = env.step(TimedAction("SELL 10 LSB", 0.0))
    assert info["rejections"][0]["code"] == "lsb_no_bar"


def test_lsb_needs_replay_data():
    with pytest.raises(ValueError, match="replay"):
        HFTBenchEnv(fill_model="lsb")


def _shared(name):
    folder = default_data_dir()
    path = folder / name
    if not path.exists():
        pytest.skip(
            f"shared HFTBench data {path} not found (set ${DATA_ENV_VAR} to the folder of ohlc_*.json)"
        )
    return path


def test_real_data_replay_follows_the_bars():
    _shared("ohlc_NVDA_2024-08-05.json")
    _shared("ohlc_AMZN_2024-08-05.json")
    env = HFTBenchEnv(
        clock="fixed",
        latency_ms=5.0,
        replay_files=("ohlc_NVDA_2024-08-05.json", "ohlc_AMZN_2024-08-05.json"),
        replay_start="10:00:00",
        session_seconds=30.0,
    )
    obs, info = env.reset(seed=0)
    assert info["symbols"] == ["NVDA", "AMZN"] and info["time_of_day"].startswith("10:00:00")
    market = env.market
    errors = []
    term = False
    k = 0
    while not term:
        obs, r, term, _, info = env.step("BUY 10 NVDA" if k == 3 else ("SELL 10 NVDA" if k == 50 else None))
        k += 1
        for i, series in enumerate(market.series):
            ref = series.price_at(market.time_of_day(market.kernel.now))
            errors.append(abs(obs["mid_px"][i] - ref) / ref)
    errors.sort()
    assert errors[len(errors) // 2] < 5e-4  # the book's mid tracks the real price (median within 5 bp)
    s = env.summary()
    assert s["fills"] >= 2 and s["orders_accepted"] == 2
