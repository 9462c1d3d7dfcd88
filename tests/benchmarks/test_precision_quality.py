"""The precision quality benchmark: its decision prompts come from the real envs with a choice among each
observation's actions, it refuses bad precisions before loading a model, and a short run writes its JSON."""

from __future__ import annotations

import json

import pytest

from splitsecond.benchmarks.precision_quality import DecisionPrompt, decision_prompts, main
from splitsecond.serving.kernels.ops import kernels_available


def test_decision_prompts_are_real_and_reproducible():
    prompts = decision_prompts(2)
    assert [p.game for p in prompts] == ["StreetFighter", "HFTBench"] * 2
    sf, hft = prompts[0], prompts[1]
    assert "walk_forward" in sf.choices and hft.choices[0] == "HOLD"
    assert any(c.startswith(("BUY", "SELL")) for c in hft.choices)
    assert sf.messages[0]["role"] == "system" and sf.messages[-1]["role"] == "user"
    assert prompts[2].messages[-1] != sf.messages[-1]  # play moved on between decisions
    again = decision_prompts(2)
    assert [p.messages for p in again] == [p.messages for p in prompts]


def test_a_decision_needs_a_known_game_and_distinct_choices():
    with pytest.raises(ValueError, match="unknown game"):
        DecisionPrompt("Chess", [], ("e4",))
    with pytest.raises(ValueError, match="distinct choices"):
        DecisionPrompt("HFTBench", [], ("HOLD", "HOLD"))


@pytest.mark.parametrize("bad", [["--mixed", "mixed:2"], ["--precisions", "source", "fp8"]])
def test_bad_precisions_fail_before_any_model_loads(bad, tmp_path):
    with pytest.raises(ValueError, match="precision"):
        main([*bad, "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()


@pytest.mark.skipif(not kernels_available(), reason="the CPU kernels could not be built here")
@pytest.mark.slow
def test_a_short_run_writes_agreement_against_source(tmp_path):
    out = tmp_path / "pq.json"
    args = ["--models", "smollm2-135m", "--precisions", "source", "mixed:0.9", "--prompts", "1"]
    main([*args, "--ppl-tokens", "32", "--decode-tokens", "4", "--threads", "1", "--out", str(out)])
    rows = json.loads(out.read_text())["models"]["smollm2-135m"]["rows"]
    assert [r["precision"] for r in rows] == ["source", "mixed:0.9"]
    assert rows[0]["agreement"] == 1.0 and rows[0]["bytes_vs_source"] == 1.0
    for r in rows:
        assert r["valid"] == 2 and 1.0 < r["perplexity"] < 1e4 and r["decode_tok_s"] > 0
