"""``precision = "mixed:<target>"``: the target's syntax, the plan (monotone, sensitivity-ordered, within the
int4..source byte range), the sensitivity cache, the config / leaderboard wiring, and one real model."""

from __future__ import annotations

import json

import pytest

from splitsecond.serving import EngineConfig
from splitsecond.serving.kernels import mixed_precision as mp
from splitsecond.serving.kernels.mixed_precision import (
    LayerSensitivity,
    MixedPlan,
    Sensitivities,
    parse_target,
    plan_mixed,
)
from splitsecond.serving.kernels.ops import kernels_available

needs_kernels = pytest.mark.skipif(not kernels_available(), reason="the CPU kernels could not be built here")


def _sens(kls: list[float], high: int = 1000, low: int = 500, fixed: int = 300) -> Sensitivities:
    units = tuple(LayerSensitivity(f"layers.{i}", kl, high, low) for i, kl in enumerate(kls))
    return Sensitivities(units, fixed, 64)


@pytest.mark.parametrize(
    ("text", "value"), [("mixed:0.8", 0.8), ("mixed:80%", 0.8), ("mixed:1", 1.0), ("mixed:.5", 0.5)]
)
def test_targets_parse(text, value):
    assert parse_target(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "bad", ["mixed:", "mixed:0", "mixed:1.2", "mixed:120%", "mixed:30ms", "mixed:-0.5", "int4"]
)
def test_bad_targets_say_what_a_target_is(bad):
    with pytest.raises(ValueError, match="fraction of the source precision's weight bytes"):
        parse_target(bad)
    if bad.startswith("mixed:"):
        with pytest.raises(ValueError, match="e.g. 'mixed:0.8'"):
            EngineConfig(precision=bad)


def test_config_accepts_mixed_and_serves_it_on_the_kernels():
    assert EngineConfig(precision="mixed:0.8").precision == "mixed:0.8"
    with pytest.raises(ValueError, match="served by weight_packing 'quant'"):
        EngineConfig(precision="mixed:0.8", weight_packing="fp16")
    if kernels_available():
        cfg = EngineConfig(precision="mixed:0.8", device="cpu", dtype="float32")
        assert cfg.resolved_weight_packing() == "quant"


def test_leaderboard_serve_entry_takes_a_mixed_precision():
    from splitsecond.benchmarks.leaderboard.config import ConfigError, _serve_entry

    entry = _serve_entry(0, {"model": "smollm2-135m", "name": "smol-mixed", "precision": "mixed:0.7"})
    assert entry.args[-2:] == ("--precision", "mixed:0.7")
    with pytest.raises(ConfigError, match="fraction of the source"):
        _serve_entry(0, {"model": "smollm2-135m", "precision": "mixed:fast"})


def test_the_least_sensitive_layers_go_down_first():
    sens = _sens([0.5, 0.01, 0.2, 0.001])
    plan = plan_mixed(sens, (sens.source_bytes - 1000) / sens.source_bytes)  # room for two layers down
    assert set(plan.moved) == {"layers.3", "layers.1"}
    assert plan.met and plan.step_bytes == sens.source_bytes - 1000
    assert plan.precision_of("layers.1.mlp.down_proj") == "int4"
    assert plan.precision_of("layers.0.self_attn.qkv_proj") == "source"
    with pytest.raises(KeyError):
        plan.precision_of("layers.9.mlp.down_proj")


def test_kl_per_byte_saved_orders_layers_of_different_sizes():
    units = (LayerSensitivity("layers.0", 0.10, 3000, 1000), LayerSensitivity("layers.1", 0.06, 1000, 500))
    plan = plan_mixed(Sensitivities(units, 0), 0.99)
    assert plan.moved == ["layers.0"]  # 0.05 per kB saved against 0.12


def test_the_plan_is_monotone_in_the_target():
    sens = _sens([0.3, 0.02, 0.7, 0.05, 0.11, 0.0, 0.4])
    targets = [i / 20 for i in range(1, 21)]
    plans = [plan_mixed(sens, t) for t in targets]
    for smaller, larger in zip(plans, plans[1:], strict=False):
        assert set(larger.moved) <= set(smaller.moved)
        assert smaller.step_bytes <= larger.step_bytes
    for plan in plans:
        assert sens.int4_bytes <= plan.step_bytes <= sens.source_bytes
    assert plan_mixed(sens, 1.0).moved == []


def test_an_unreachable_target_moves_everything_and_says_so(caplog):
    sens = _sens([0.1, 0.2])
    plan = plan_mixed(sens, 0.1)
    assert not plan.met and len(plan.moved) == 2 and plan.step_bytes == sens.int4_bytes
    assert "below what int4 everywhere reaches" in caplog.text


def test_layers_that_save_nothing_never_move():
    units = (LayerSensitivity("layers.0", 0.0, 500, 500), LayerSensitivity("layers.1", 0.3, 1000, 500))
    plan = plan_mixed(Sensitivities(units, 0), 0.5)
    assert plan.moved == ["layers.1"]


@pytest.mark.parametrize("target", [0, 1.5, "0.8"])
def test_plan_rejects_a_bad_target(target):
    with pytest.raises(ValueError, match="byte fraction"):
        plan_mixed(_sens([0.1]), target)


def test_sensitivities_validate_and_round_trip():
    with pytest.raises(ValueError, match="kl must be"):
        LayerSensitivity("layers.0", -1.0, 1, 1)
    with pytest.raises(ValueError, match="'layers.<i>'"):
        LayerSensitivity("mlp", 0.1, 1, 1)
    with pytest.raises(ValueError, match="unique"):
        Sensitivities((LayerSensitivity("layers.0", 0.1, 1, 1),) * 2)
    sens = _sens([0.1, 0.2])
    assert Sensitivities.from_json(json.loads(json.dumps(sens.to_json()))) == sens
    with pytest.raises(ValueError, match="version"):
        Sensitivities.from_json({**sens.to_json(), "version": 0})


def test_calibration_and_heldout_texts_ship_and_differ():
    calib, held = mp.calibration_text(), mp.heldout_text()
    assert 2000 < len(calib) < 8000 and 2000 < len(held) < 8000
    assert not set(calib.split("\n\n")) & set(held.split("\n\n"))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITSECOND_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_the_cache_is_keyed_by_the_file_and_reused(cache_dir, tmp_path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF not really")
    sens = _sens([0.1, 0.2])
    path = mp.store_cached(gguf, sens)
    assert path is not None and path.parent == cache_dir / "sensitivity"
    monkeypatch.setattr(mp, "measure_sensitivities", lambda *a, **k: pytest.fail("measured again"))
    assert mp.sensitivities_for(gguf) == sens
    gguf.write_bytes(b"GGUF another file")  # another sum: another entry
    assert mp.load_cached(gguf) is None
    path.write_text("{broken")
    gguf.write_bytes(b"GGUF not really")
    assert mp.load_cached(gguf) is None and not path.exists()  # a bad entry is dropped


@needs_kernels
@pytest.mark.slow
def test_smollm2_mixed_loads_serves_a_choice_and_sits_between_int4_and_source(cache_dir):
    """SmolLM2's projections are all Q4_1: no layer has anything to save, so nothing is measured, the plan
    is source everywhere (= int4's bytes) and the target 0.5 is reported unmet."""
    from splitsecond.benchmarks.engine_kernels import weight_bytes_per_step
    from splitsecond.serving import LLM, SamplingParams, StructuredOutput
    from splitsecond.serving.loader.registry import resolve_model

    bytes_of = {}
    for precision in ("int4", "mixed:0.5", "source"):
        llm = LLM(
            "smollm2-135m", precision=precision, weight_packing="quant", num_kv_blocks=32, num_threads=1
        )
        bytes_of[precision] = weight_bytes_per_step(llm.engine)
        if precision.startswith("mixed"):
            actions = ["block_high", "jump_forward", "heavy_punch"]
            params = SamplingParams(temperature=0, max_tokens=8, structured=StructuredOutput(choice=actions))
            out = llm.generate(["You are a fighter. The opponent jumps at you. Your action:"], params)
            assert out[0].outputs[0].text in actions
        llm.engine.close()
    assert bytes_of["int4"] <= bytes_of["mixed:0.5"] <= bytes_of["source"]
    sens = mp.load_cached(resolve_model("smollm2-135m").path)
    assert sens is not None and all(u.kl == 0.0 and u.saved == 0 for u in sens.units)


@needs_kernels
@pytest.mark.slow
def test_measured_sensitivities_rank_real_layers(tmp_path, monkeypatch):
    """Gemma 3 270M mixes 8-bit (Q5_0 / Q8_0 / Q6_K) and Q4_K projections: every layer has bytes to save
    and a measured KL; the plan for 0.9 moves the least sensitive and lands between int4 and source."""
    from splitsecond.serving.loader.registry import resolve_model

    gguf = resolve_model("gemma3-270m").path  # assembled in the real cache, before it moves
    monkeypatch.setenv("SPLITSECOND_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(
        mp, "CALIBRATION_TOKENS", 16
    )  # a quarter of the real text: the ranking is still measured
    sens = mp.sensitivities_for(gguf)
    assert mp.load_cached(gguf) == sens
    assert all(u.saved > 0 and u.kl > 0 for u in sens.units)
    plan: MixedPlan = plan_mixed(sens, 0.9)
    assert plan.met and sens.int4_bytes < plan.step_bytes < sens.source_bytes
    kept = [u.kl / u.saved for u in sens.units if u.name not in plan.moved]
    moved = [u.kl / u.saved for u in sens.units if u.name in plan.moved]
    assert max(moved) <= min(kept)
