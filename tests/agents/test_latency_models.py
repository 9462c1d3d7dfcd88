"""The latency models: wall, fixed, declared, token (profile) and token budget, and their specs."""

import math

import pytest

from splitsecond.agents.base import Decision, TokenUsage
from splitsecond.agents.latency import (
    DeclaredLatency,
    FixedLatency,
    LatencyModel,
    LatencyProfile,
    PausedLatency,
    TokenBudgetLatency,
    TokenLatency,
    WallLatency,
    make_latency_model,
)

PROFILE = LatencyProfile(
    name="test-gpu", model="m", hardware="h", precision="bf16", rtt_ms=2.0, ttft_base_ms=10.0,
    ttft_per_token_ms=0.5, ttft_per_cached_token_ms=0.05, tpot_ms=4.0,
)  # fmt: skip


def decision(prompt=0, cached=0, completion=0, requests=0, latency=None):
    return Decision(action=0, latency_ms=latency, usage=TokenUsage(prompt, cached, completion, requests))


def test_wall_returns_measured_time():
    assert WallLatency().latency_ms(decision(), 12.5) == 12.5
    with pytest.raises(ValueError):
        WallLatency().latency_ms(decision(), float("nan"))


def test_fixed_ignores_everything():
    model = FixedLatency(50)
    assert model.latency_ms(decision(100, 0, 100), 999.0) == 50.0
    for bad in (-1, float("inf"), "50", True):
        with pytest.raises(ValueError):
            FixedLatency(bad)


def test_paused_charges_nothing_whatever_the_call_cost():
    model = make_latency_model("paused")
    assert isinstance(model, PausedLatency)
    assert model.latency_ms(decision(2000, 0, 64, 2), 4321.0) == 0.0
    assert "paused" in model.describe()
    for bad in ("paused:3", "paused:fixed:0"):
        with pytest.raises(ValueError, match="paused"):
            make_latency_model(bad)


def test_declared_prefers_the_decision_then_falls_back():
    model = DeclaredLatency(FixedLatency(7))
    assert model.latency_ms(decision(latency=180.0), 3.0) == 180.0
    assert model.latency_ms(decision(), 3.0) == 7.0
    assert DeclaredLatency().latency_ms(decision(), 3.0) == 3.0  # wall by default
    with pytest.raises(ValueError):
        model.latency_ms(decision(latency=-5.0), 3.0)


def test_token_model_formula():
    model = TokenLatency(PROFILE)
    # 1 request: rtt 2 + base 10 + 0.5*(100-60) + 0.05*60 + 4*5 = 2+10+20+3+20
    assert model.latency_ms(decision(100, 60, 5, 1), 0.0) == pytest.approx(55.0)
    # two requests pay the fixed part twice; requests=0 counts as one call
    assert model.latency_ms(decision(100, 60, 5, 2), 0.0) == pytest.approx(67.0)
    assert model.latency_ms(decision(100, 60, 5, 0), 0.0) == pytest.approx(55.0)
    # more completion tokens cost tpot each; the measured time is ignored
    assert (
        model.latency_ms(decision(100, 60, 6, 1), 1e6) - model.latency_ms(decision(100, 60, 5, 1), 0) == 4.0
    )
    # cached tokens are cheaper than uncached
    assert model.latency_ms(decision(100, 100, 1, 1), 0) < model.latency_ms(decision(100, 0, 1, 1), 0)
    assert TokenLatency(PROFILE, rtt_ms=50.0).latency_ms(decision(0, 0, 0, 1), 0) == 60.0


def test_token_budget_steps():
    model = TokenBudgetLatency(tokens_per_step=8, step_ms=1000 / 60)
    assert model.latency_ms(decision(completion=0), 5.0) == 0.0
    assert model.latency_ms(decision(completion=1), 5.0) == pytest.approx(1000 / 60)
    assert model.latency_ms(decision(completion=8), 5.0) == pytest.approx(1000 / 60)
    assert model.latency_ms(decision(completion=9), 5.0) == pytest.approx(2000 / 60)
    with pytest.raises(ValueError):
        TokenBudgetLatency(0, 16.0)
    with pytest.raises(ValueError):
        TokenBudgetLatency(8, 0.0)


def test_models_satisfy_the_protocol():
    for model in (
        WallLatency(),
        FixedLatency(1),
        PausedLatency(),
        DeclaredLatency(),
        TokenLatency(PROFILE),
        TokenBudgetLatency(4, 10),
    ):
        assert isinstance(model, LatencyModel)
        assert model.describe()
        assert math.isfinite(model.latency_ms(decision(10, 2, 3, 1), 1.0))


def test_specs(tmp_path):
    path = PROFILE.save(tmp_path / "test-gpu.toml")
    assert isinstance(make_latency_model("wall"), WallLatency)
    assert make_latency_model("fixed:50").ms == 50.0
    assert make_latency_model("declared:fixed:3").latency_ms(decision(), 0.0) == 3.0
    token = make_latency_model(f"token:{path},rtt=20")
    assert token.profile == PROFILE and token.rtt_ms == 20.0
    budget = make_latency_model("budget:8", step_ms=10.0)
    assert (budget.tokens_per_step, budget.step_ms) == (8, 10.0)
    assert make_latency_model("budget:8,step=5").step_ms == 5.0
    model = FixedLatency(1)
    assert make_latency_model(model) is model


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "fast",
        "fixed",
        "fixed:abc",
        "fixed:-3",
        "budget:0",
        "budget:x",
        "budget:4",
        "token:no-such-profile",
        "token:p,foo=1",
        "wall:3",
    ],
)
def test_bad_specs_name_the_valid_forms(spec):
    with pytest.raises(ValueError) as err:
        make_latency_model(spec)
    assert str(err.value)
