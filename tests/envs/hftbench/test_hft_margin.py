"""Account rules: buying power from a margin rule, short sales that need it, coded rejections, the
maintenance check that liquidates at market, and margin calls in the metrics (issue 20's cases)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from splitsecond.envs.hftbench import HFTBenchEnv, ScheduledNews
from splitsecond.envs.hftbench.margin import (
    CASH_ACCOUNT,
    MARGIN_RULES,
    REG_T,
    REG_T_INTRADAY,
    AccountRisk,
    MarginRule,
    SymbolRisk,
    margin_rule,
)
from splitsecond.envs.hftbench.order_book import BUY, SELL
from splitsecond.envs.hftbench.replay_data import default_data_dir

SHORT = {"session_seconds": 10.0, "warmup_seconds": 1.0, "news_rate_per_min": 0.0}
DEEP = {"maker_size": (3_000, 4_000)}  # books deep enough to fill large orders at once
M = 1_000_000  # micro-dollars per dollar


def _gross_leverage(obs) -> float:
    gross = float((np.abs(obs["position"]) * obs["mid_px"]).sum())
    return gross / float(obs["equity"][0])


# ---------------------------------------------------------------------------- the rule itself
def test_margin_rule_presets_and_validation():
    assert CASH_ACCOUNT.leverage == 1.0 and REG_T.leverage == 2.0 and REG_T_INTRADAY.leverage == 4.0
    assert set(MARGIN_RULES) == {"cash", "reg_t", "reg_t_intraday"}
    assert margin_rule("reg_t") is REG_T and margin_rule(REG_T_INTRADAY) is REG_T_INTRADAY
    assert "initial 50% (2x), maintenance 25%" in REG_T.describe()
    with pytest.raises(ValueError, match="presets: cash, reg_t, reg_t_intraday"):
        margin_rule("portfolio")
    for bad in ({"initial_margin": 0.0}, {"initial_margin": float("nan")}, {"initial_margin": 1.5}):
        with pytest.raises(ValueError, match="initial_margin"):
            MarginRule("x", **bad)
    with pytest.raises(ValueError, match=r"maintenance_margin must be a number in \[0, initial_margin\]"):
        MarginRule("x", 0.25, 0.5)
    with pytest.raises(ValueError, match="MarketConfig.margin"):
        HFTBenchEnv(margin="yolo")


def test_buying_power_arithmetic():
    # $100k cash, flat: a cash account may open $100k of positions, Reg-T $200k.
    flat = AccountRisk(100_000 * M, (SymbolRisk(0), SymbolRisk(0)))
    assert flat.buying_power(CASH_ACCOUNT) == 100_000 * M
    assert flat.buying_power(REG_T) == 200_000 * M
    # Short $100k: the proceeds sit in cash but buy nothing; the borrowed value uses the power.
    short = AccountRisk(200_000 * M, (SymbolRisk(-100_000 * M), SymbolRisk(0)))
    assert short.equity == 100_000 * M and short.gross == 100_000 * M
    assert short.buying_power(CASH_ACCOUNT) == 0
    assert short.buying_power(REG_T) == 100_000 * M
    # Buying back the short needs no power; buying more than it back needs power for the rest.
    assert short.accepts(CASH_ACCOUNT, 0, BUY, 100_000 * M, 0)
    assert short.added_exposure(0, BUY, 150_000 * M) == 0  # -100k -> +50k: gross falls
    assert short.added_exposure(0, BUY, 250_000 * M) == 50_000 * M
    assert not short.accepts(CASH_ACCOUNT, 0, BUY, 250_000 * M, 0)
    assert not short.accepts(CASH_ACCOUNT, 1, SELL, 1 * M, 0)  # another short sale
    # Open orders count on their worse side; fees are reserved.
    orders = AccountRisk(100_000 * M, (SymbolRisk(0, open_buys=60_000 * M, open_sells=10_000 * M),), 300 * M)
    assert orders.exposure == 60_000 * M
    assert orders.buying_power(CASH_ACCOUNT) == (100_000 - 300 - 60_000) * M
    # Maintenance: equity below 25% of the positions' value, or below zero.
    assert not AccountRisk(0, (SymbolRisk(100 * M),)).in_margin_call(REG_T)  # equity 100, gross 100
    assert AccountRisk(-76 * M, (SymbolRisk(100 * M),)).in_margin_call(REG_T)  # equity 24 < 25
    assert AccountRisk(-1, (SymbolRisk(0),)).in_margin_call(REG_T)  # negative equity, flat


# ---------------------------------------------------------------------------- issue 20's cases
def test_synthetic_short_then_buy_does_not_reach_6x_gross_exposure():
    """Before: SELL 1000 of each symbol, then BUY 3000 ACME and BOLT held ~5.8x gross on $100k."""
    limits = {None: 1.0, "reg_t": 2.0, "reg_t_intraday": 4.0}
    for margin, limit in limits.items():
        env = HFTBenchEnv(clock="fixed", latency_ms=1.0, **SHORT, **({"margin": margin} if margin else {}))
        obs, _ = env.reset(seed=0)
        codes = []
        steps = [
            "SELL 1000 ACME; SELL 1000 BOLT; SELL 1000 CHIP; SELL 1000 IDX",
            "BUY 3000 ACME; BUY 3000 BOLT",
        ]
        for action in [*steps, None, None]:
            obs, _, _, _, info = env.step(action)
            codes += [r["code"] for r in info["rejections"]]
            assert _gross_leverage(obs) <= limit * 1.01, margin
        assert "insufficient_buying_power" in codes
        assert env.summary()["max_leverage"] <= limit * 1.01
    # the default is the cash account: the first short sale uses all of the buying power
    env = HFTBenchEnv(clock="fixed", latency_ms=1.0, **SHORT)
    env.reset(seed=0)
    obs, _, _, _, info = env.step("SELL 1000 ACME; SELL 1000 BOLT")
    assert obs["position"].tolist() == [-1000, 0, 0, 0]
    assert [r["code"] for r in info["rejections"]] == ["insufficient_buying_power"]
    assert abs(float(obs["buying_power"][0])) < 100.0 and abs(info["buying_power"]) < 100.0
    assert "buying power" in info["text"]
    # buying the short back needs no buying power
    obs, _, _, _, info = env.step("BUY 1000 ACME")
    assert obs["position"].tolist() == [0, 0, 0, 0] and not info["rejections"]


def test_aapl_replay_round_trips_cannot_lose_more_than_the_account():
    """Before: buying and selling 100 AAPL at market every step ended at cash -$30,614.79 (-130.6%):
    once buys were refused for want of cash, sells still went through and built a short."""
    if not (default_data_dir() / "ohlc_AAPL_2025-04-04.json").exists():
        pytest.skip("shared HFTBench data not found")
    env = HFTBenchEnv(
        clock="fixed",
        latency_ms=0.0,
        replay_files=("ohlc_AAPL_2025-04-04.json",),
        initial_cash=20_000.0,  # one 100-share buy (~$19k) at a time: the rule binds within seconds
        session_seconds=300.0,
    )
    obs, info = env.reset(seed=0)
    term = False
    while not term:
        obs, _, term, _, info = env.step("BUY 100 AAPL @ MKT; SELL 100 AAPL @ MKT")
        assert float(obs["cash"][0]) >= 0.0
        assert float(obs["equity"][0]) > 0.0
        if not term:
            assert _gross_leverage(obs) <= 1.05
    s = info["summary"]
    assert s["daily_yield_pct"] > -100.0 and s["final_equity"] > 0
    assert s["max_leverage"] <= 1.05 and s["margin_calls"] == 0
    assert env.market.stats[env.market.agents[0]].rejections["insufficient_buying_power"] > 100


# ---------------------------------------------------------------------------- maintenance
def _levered_long(news_pct: float, margin: str = "reg_t_intraday"):
    env = HFTBenchEnv(
        clock="fixed",
        latency_ms=1.0,
        margin=margin,
        news_schedule=(ScheduledNews(2.0, "ACME", -1, news_pct),),
        **SHORT,
        **DEEP,
    )
    env.reset(seed=0)
    total_cash = env.market.ledger.total_cash()
    obs, _, _, _, info = env.step("BUY 3800 ACME")  # ~$380k on $100k equity: 3.8x
    assert obs["position"][0] == 3800 and not info["rejections"]
    return env, total_cash


def test_maintenance_breach_liquidates_at_market_and_is_counted():
    env, total_cash = _levered_long(20.0)  # ACME -20%: equity ~$24k < 25% of ~$304k
    margin_events, liquidations = [], []
    term = False
    while not term:
        obs, _, term, _, info = env.step(None)
        margin_events += info["margin_calls"]
        liquidations += [f for f in info["fills"] if f["liquidity"] == "liquidation"]
    assert len(margin_events) == 1
    event = margin_events[0]
    assert event["equity"] < event["requirement"] and event["rule"] == "reg_t_intraday"
    assert 2.0 <= event["time_us"] / 1e6 <= 3.0  # soon after the headline
    assert sum(f["qty"] for f in liquidations) == 3800 and {f["side"] for f in liquidations} == {"sell"}
    s = info["summary"]
    assert s["margin_calls"] == 1 and s["liquidations"] == 1 and s["liquidated_shares"] == 3800
    assert s["final_equity"] > 0 and s["fill_ratio"] == 1.0  # forced fills are not the agent's fills
    assert not any(f["liquidity"] == "close" for f in info["fills"])  # nothing left for the close
    env.market.check_conservation(total_cash)  # forced sales move money, never create it


def test_negative_equity_is_a_margin_call():
    env, _ = _levered_long(35.0)  # ACME -35%: 3.8x long loses more than the equity
    term = False
    while not term:
        obs, _, term, _, info = env.step(None)
    s = info["summary"]
    assert s["final_equity"] < 0 and s["margin_calls"] >= 1 and s["liquidations"] == 1
    # a bust account cannot add positions
    assert float(obs["buying_power"][0]) < 0


def test_cash_account_survives_the_same_drop_without_a_call():
    env = HFTBenchEnv(
        clock="fixed",
        latency_ms=1.0,
        news_schedule=(ScheduledNews(2.0, "ACME", -1, 35.0),),
        **SHORT,
        **DEEP,
    )
    env.reset(seed=0)
    _, _, _, _, info = env.step("BUY 3800 ACME")
    assert info["rejections"][0]["code"] == "insufficient_buying_power"
    _, _, _, _, info = env.step("BUY 900 ACME")
    assert not info["rejections"]
    term = False
    while not term:
        _, _, term, _, info = env.step(None)
    assert info["summary"]["margin_calls"] == 0 and info["summary"]["final_equity"] > 0


def test_lsb_fill_model_liquidates_at_the_lsb_price(tmp_path):
    bars = {}
    for k in range(40):
        price = 100.0 if k < 10 else 60.0  # a 40% fall at 09:30:10
        bars[f"09:30:{k:02d}"] = {"open": price, "high": price, "low": price, "close": price}
    path = tmp_path / "ohlc_DROP_2024-01-02.json"
    path.write_text(json.dumps({"2024-01-02": bars}))
    env = HFTBenchEnv(
        clock="fixed",
        latency_ms=0.0,
        replay_files=(str(path),),
        fill_model="lsb",
        margin="reg_t_intraday",
        session_seconds=30.0,
    )
    env.reset(seed=0)
    _, _, _, _, info = env.step("BUY 3900 DROP")
    assert info["fills"][0]["qty"] == 3900
    term = False
    fills = []
    while not term:
        _, _, term, _, info = env.step(None)
        fills += info["fills"]
    forced = [f for f in fills if f["liquidity"] == "liquidation"]
    assert (
        len(forced) == 1 and forced[0]["qty"] == 3900 and forced[0]["price"] == pytest.approx(60.0, abs=1.0)
    )
    assert info["summary"]["margin_calls"] == 1
    assert info["summary"]["final_equity"] < 0  # 3.9x long through a 40% gap: bust, and visible
