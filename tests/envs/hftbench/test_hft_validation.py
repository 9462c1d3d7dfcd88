"""Strict inputs: broken bar files name the file and the line or clock time; bad fees and share
counts are refused at construction; array actions outside the space are refused, not executed;
NumPy numbers are numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from splitsecond.envs.hftbench import (
    FeeSchedule,
    HFTBenchEnv,
    MarketConfig,
    Order,
    SpaceDims,
    build_action,
    load_bars,
    load_bars_csv,
    load_bars_json,
)
from splitsecond.envs.hftbench.bar_validation import BarFileError

SHORT = {"session_seconds": 10.0, "warmup_seconds": 1.0, "news_rate_per_min": 0.0}
GOOD = {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5}


# ---------------------------------------------------------------------------- bar files
def _json_file(tmp_path, bars, name="ohlc_T_2024-01-02.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"2024-01-02": bars}))
    return path


@pytest.mark.parametrize(
    ("bar", "message"),
    [
        ({**GOOD, "high": 98.0}, "high 98.0 < low 99.0"),
        ({**GOOD, "high": float("inf")}, "high is inf"),
        ({**GOOD, "low": float("nan")}, "low is nan"),
        ({**GOOD, "close": -1.0}, "close is -1.0"),
        ({**GOOD, "open": 102.0}, r"open 102.0 outside \[low 99.0, high 101.0\]"),
        ({"open": 100.0, "high": 101.0, "low": 99.0}, "bar lacks close"),
        ({**GOOD, "open": True}, "open is True, not a price"),
    ],
)
def test_bad_prices_name_the_file_and_clock_time(tmp_path, bar, message):
    path = _json_file(tmp_path, {"09:30:00": GOOD, "09:30:01": bar})
    with pytest.raises(BarFileError, match=message) as exc:
        load_bars_json(path)
    assert str(path) in str(exc.value) and "2024-01-02 09:30:01" in str(exc.value)
    assert exc.value.when == "2024-01-02 09:30:01" and isinstance(exc.value, ValueError)


def test_duplicate_and_unordered_json_timestamps(tmp_path):
    dup = tmp_path / "ohlc_D_x.json"  # json.dumps cannot write a repeated key: write the text
    bar = json.dumps(GOOD)
    dup.write_text(f'{{"2024-01-02": {{"09:30:00": {bar}, "09:30:00": {bar}}}}}')
    with pytest.raises(BarFileError, match=r"2024-01-02 09:30:00: duplicate timestamp"):
        load_bars_json(dup)
    unordered = _json_file(tmp_path, {"09:30:05": GOOD, "09:30:03": GOOD})
    with pytest.raises(BarFileError, match=r"09:30:03: timestamp comes after 2024-01-02 09:30:05"):
        load_bars_json(unordered)
    days = tmp_path / "ohlc_E_x.json"
    days.write_text(json.dumps({"2024-01-03": {"09:30:00": GOOD}, "2024-01-02": {"09:30:00": GOOD}}))
    with pytest.raises(BarFileError, match="increasing time order"):
        load_bars_json(days)


def test_empty_and_truncated_json(tmp_path):
    empty = tmp_path / "ohlc_E_x.json"
    empty.write_text("")
    with pytest.raises(BarFileError, match=r"ohlc_E_x.json: empty file"):
        load_bars_json(empty)
    full = json.dumps({"2024-01-02": {"09:30:00": GOOD, "09:30:01": GOOD}}, indent=1)
    cut = tmp_path / "ohlc_C_x.json"
    cut.write_text(full[: len(full) // 2])
    with pytest.raises(BarFileError, match=r"ohlc_C_x.json, line \d+: not valid JSON \(truncated\?\)") as exc:
        load_bars_json(cut)
    assert exc.value.line is not None and exc.value.line > 1
    (tmp_path / "ohlc_N_x.json").write_text("{}")
    with pytest.raises(BarFileError, match="expected"):
        load_bars_json(tmp_path / "ohlc_N_x.json")
    (tmp_path / "ohlc_Z_x.json").write_text('{"2024-01-02": {}}')
    with pytest.raises(BarFileError, match="date 2024-01-02 has no bars"):
        load_bars_json(tmp_path / "ohlc_Z_x.json")


def _csv(tmp_path, lines, name="t.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_errors_name_the_line(tmp_path):
    head = "date,time,open,high,low,close"
    row = "2024-01-02,09:30:0{},100,101,99,100.5"
    cases = [
        ([head, row.format(0), row.format(0)], 3, r"duplicate timestamp \(first at line 2\)"),
        ([head, row.format(5), row.format(3)], 3, "comes after line 2"),
        ([head, row.format(0), "2024-01-02,09:30:01,100,inf,99,100"], 3, "high is inf"),
        ([head, row.format(0), "2024-01-02,09:30:01,100,NaN,99,100"], 3, "high is nan"),
        ([head, row.format(0), "2024-01-02,09:30:01,100,98,99,100"], 3, "high 98.0 < low 99.0"),
        (
            [head, row.format(0), "2024-01-02,09:30:01,100,101"],
            3,
            r"4 columns where the header has 6 \(truncated",
        ),
        ([head, row.format(0), "2024-01-02,09:30:01,100,101,99,"], 3, "close is None, not a price"),
        ([head, "02/01/2024,09:30:00,100,101,99,100"], 2, "bad date"),
        ([head, "2024-01-02,9h30,100,101,99,100"], 2, "clock time '9h30' is not HH:MM:SS"),
    ]
    for lines, line, message in cases:
        path = _csv(tmp_path, lines)
        with pytest.raises(BarFileError, match=message) as exc:
            load_bars_csv(path)
        assert exc.value.line == line and f"t.csv, line {line}" in str(exc.value), message
    with pytest.raises(BarFileError, match="empty file"):
        load_bars_csv(_csv(tmp_path, [""]))
    with pytest.raises(BarFileError, match="no bars"):
        load_bars_csv(_csv(tmp_path, [head]))
    binary = tmp_path / "b.csv"
    binary.write_bytes(head.encode() + b"\n\xff\xfe\n")
    with pytest.raises(BarFileError, match=r"b.csv: not UTF-8 text"):
        load_bars_csv(binary)
    # blank lines are fine
    ok = load_bars(_csv(tmp_path, [head, row.format(0), "", row.format(1)], name="OK.csv"))
    assert len(ok["2024-01-02"]) == 2 and ok["2024-01-02"].symbol == "OK"


def test_replay_env_refuses_a_broken_file(tmp_path):
    path = _json_file(
        tmp_path, {"09:30:00": GOOD, "09:30:01": {**GOOD, "low": 102.0}}, "ohlc_BAD_2024-01-02.json"
    )
    env = HFTBenchEnv(clock="fixed", replay_files=(str(path),), session_seconds=1.0)
    with pytest.raises(
        BarFileError, match="ohlc_BAD_2024-01-02.json, 2024-01-02 09:30:01: high 101.0 < low 102.0"
    ):
        env.reset(seed=0)


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("maker", "taker", "message"),
    [
        (float("nan"), 0.003, "maker_per_share"),
        (-0.002, float("nan"), "taker_per_share"),
        (-0.002, float("inf"), "taker_per_share"),
        (0.001, -0.0005, "taker_per_share must be >= 0"),
        (-0.004, 0.003, "maker rebate exceeds taker fee"),
        (True, 0.003, "maker_per_share"),
    ],
)
def test_fee_schedule_refuses_bad_rates(maker, taker, message):
    with pytest.raises(ValueError, match=message):
        FeeSchedule(maker, taker)


def test_fee_schedule_accepts_numpy_and_the_default_rebate():
    fees = FeeSchedule(np.float32(-0.001), np.float64(0.002))
    assert fees.maker_micros == -1_000 and fees.taker_micros == 2_000
    assert FeeSchedule().maker_micros == -2_000


@pytest.mark.parametrize(
    "field", ["short_limit_shares", "max_order_shares", "maker_max_inventory", "noise_size", "momentum_size"]
)
@pytest.mark.parametrize("value", [2.5, 100.0, True, float("nan")])
def test_share_counts_must_be_integers(field, value):
    with pytest.raises(ValueError, match=f"MarketConfig.{field} must be an integer"):
        MarketConfig(**{field: value})


def test_share_counts_accept_numpy_integers():
    assert MarketConfig(short_limit_shares=np.int64(50)).short_limit_shares == 50


# ---------------------------------------------------------------------------- actions
def test_array_quantity_beyond_max_lots_is_refused_not_executed():
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, **SHORT)
    env.reset(seed=0)
    assert env.dims.max_lots == 1_000
    action = build_action(env.dims, [(3, 1, 0, 1, 0)])
    action["quantity"][0] = 5_000  # market buy of 5,000 lots of BOLT: $250k, within max_order_shares
    assert not env.action_space.contains(action)
    obs, _, _, _, info = env.step(action)
    assert obs["position"].tolist() == [0, 0, 0, 0] and not info["fills"]
    (rej,) = info["rejections"]
    assert rej["code"] == "outside_action_space"
    assert "action['quantity'][0] = 5000 is outside the action space [0, 1000]" in rej["reason"]
    # the same order inside the space executes
    obs, _, _, _, info = env.step(build_action(env.dims, [(3, 1, 0, 5, 0)]))
    assert obs["position"].tolist() == [0, 5, 0, 0]


@pytest.mark.parametrize(
    ("slot", "field", "value"),
    [
        ((3, 0, 0, 1, 0), "quantity", -1),
        ((3, 0, 0, 1, 0), "symbol", 4),
        ((1, 0, 0, 1, 0), "price_offset", 1_001),
        ((2, 0, 0, 1, 0), "price_offset", -1_001),
        ((5, 0, 0, 0, 1), "cancel_id", -3),
    ],
)
def test_other_fields_outside_the_space_are_refused(slot, field, value):
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, **SHORT)
    env.reset(seed=0)
    action = build_action(env.dims, [slot])
    action[field][0] = value
    _, _, _, _, info = env.step(action)
    assert [r["code"] for r in info["rejections"]] == ["outside_action_space"]
    assert field in info["rejections"][0]["reason"]
    assert env.summary()["orders_accepted"] == 0


def test_unused_fields_are_ignored():
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, dims=SpaceDims(max_offset_ticks=5), **SHORT)
    env.reset(seed=0)
    action = build_action(env.dims, [(3, 0, 0, 2, 0)])
    action["price_offset"][0] = 10_000  # a market order has no price
    obs, _, _, _, info = env.step(action)
    assert not info["rejections"] and obs["position"][0] == 2


def test_numpy_quantities_and_prices_are_numbers():
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, **SHORT)
    obs, _ = env.reset(seed=0)
    price = round(float(obs["bid_px"][0, 0]) - 0.05, 2)
    below = np.float32(price)  # e.g. 99.94999694824219 as a Python float: 0.0003 ticks off
    orders = [
        Order("buy", "ACME", np.int64(10), below),  # np.float32 price on the tick at its own precision
        Order("buy", "BOLT", np.int32(3)),
        Order("buy", "BOLT", np.float64(2.0)),
    ]
    obs, _, _, _, info = env.step(orders)
    assert not info["rejections"] and len(info["accepted"]) == 3
    j = obs["order_id"].tolist().index(info["accepted"][0]["order_id"])
    assert obs["order_px"][j] == pytest.approx(price, abs=1e-9) and obs["order_qty"][j] == 10
    assert obs["position"][1] == 5
    _, _, _, _, info = env.step([Order("buy", "BOLT", np.float32(2.5)), Order("buy", "BOLT", True)])
    assert [r["code"] for r in info["rejections"]] == ["bad_quantity", "bad_quantity"]
