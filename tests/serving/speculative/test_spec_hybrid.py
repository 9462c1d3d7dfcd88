"""ModelSuffixProposer: the suffix source's draft when it predicts all k tokens, else the model's; the
edge's config and CLI options for it."""

from __future__ import annotations

import pytest

from splitsecond.serving.speculative.edge.config import EdgeConfig
from splitsecond.serving.speculative.proposers import (
    HybridStats,
    ModelSuffixProposer,
    Proposal,
    Proposer,
    SuffixCache,
    SuffixProposer,
)


class _CountingModel:
    """A stand-in draft model (the proposer under test is the hybrid): always guesses ``[7, 7, ...]`` and
    counts its calls, its resets and the ``stop`` callbacks it was handed."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self.resets = 0
        self.learned: list[list[int]] = []
        self.stops: list[object] = []

    def propose(self, context: list[int], k: int, stop=None) -> Proposal:
        self.calls += 1
        self.stops.append(stop)
        return Proposal([7] * k)

    def reset(self) -> None:
        self.resets += 1

    def learn(self, output: list[int]) -> None:
        self.learned.append(output)


def _hybrid(outputs: list[list[int]]) -> tuple[ModelSuffixProposer, _CountingModel, SuffixCache]:
    cache = SuffixCache()
    for out in outputs:
        cache.add(out)
    model = _CountingModel()
    return ModelSuffixProposer(model, SuffixProposer(cache), HybridStats()), model, cache


def test_suffix_draft_goes_out_alone_when_a_long_match_predicts_all_k_tokens() -> None:
    hybrid, model, _ = _hybrid([[1, 2, 3, 4, 5, 6, 7, 8]])
    proposer: Proposer = hybrid
    assert proposer.propose([9, 1, 2, 3, 4], 3).tokens == [5, 6, 7]  # a 4-token match: trusted
    assert model.calls == 0  # the model was not run
    assert hybrid.stats == HybridStats(from_suffix=1, from_model=0)
    assert hybrid.name == "counting+suffix"
    assert proposer.propose([9, 1, 2], 3).tokens == [7, 7, 7]  # a 2-token match is not: the model drafts
    assert model.calls == 1
    lenient = ModelSuffixProposer(_CountingModel(), hybrid.suffix, trust_match=2)
    assert lenient.propose([9, 1, 2], 3).tokens == [3, 4, 5]
    with pytest.raises(ValueError, match="trust_match"):
        ModelSuffixProposer(_CountingModel(), hybrid.suffix, trust_match=-1)


def test_model_drafts_when_the_suffix_source_predicts_fewer_tokens() -> None:
    hybrid, model, _ = _hybrid([[1, 2, 3, 4]])
    assert hybrid.propose([9, 1, 2], 5).tokens == [7] * 5  # suffix had [3, 4]: the model's 5 are longer
    assert hybrid.propose([9, 8], 2).tokens == [7, 7]  # no match at all
    assert model.calls == 2 and hybrid.stats == HybridStats(from_suffix=0, from_model=2)
    assert hybrid.propose([1], 0).tokens == [] and model.calls == 2
    with pytest.raises(ValueError, match="k must be"):
        hybrid.propose([1], -1)


def test_stop_reaches_the_model_and_learn_reaches_both_sources() -> None:
    hybrid, model, cache = _hybrid([])

    def stop() -> bool:
        return False

    hybrid.propose([1, 2], 3, stop=stop)
    assert model.stops == [stop]
    hybrid.learn([4, 5, 6])
    assert model.learned == [[4, 5, 6]] and cache.outputs() == [[4, 5, 6]]
    hybrid.reset()
    assert model.resets == 0  # the model keeps its KV cache: the next request reuses the shared prefix
    with pytest.raises(TypeError, match="Proposer"):
        ModelSuffixProposer(object(), SuffixProposer(cache))  # type: ignore[arg-type]


def test_edge_config_validates_the_new_options() -> None:
    cfg = EdgeConfig(server="127.0.0.1:1", draft="model:qwen2.5-coder-0.5b", draft_vocab=65536)
    assert cfg.suffix_with_model is True and cfg.draft_kind() == ("model", "qwen2.5-coder-0.5b")
    for bad in ({"suffix_with_model": 1}, {"draft_vocab": 0}, {"draft_vocab": True}):
        with pytest.raises(ValueError, match="EdgeConfig"):
            EdgeConfig(server="127.0.0.1:1", **bad)


def test_edge_cli_takes_the_new_options() -> None:
    from typer.testing import CliRunner

    from splitsecond.cli import _load_commands, app

    _load_commands()
    result = CliRunner().invoke(app, ["edge", "--help"])
    assert result.exit_code == 0
    assert "--model-only" in result.output and "--draft-vocab" in result.output
    bad = CliRunner().invoke(app, ["edge", "--server", "127.0.0.1:1", "--draft-vocab", "0"])
    assert bad.exit_code != 0 and "draft_vocab" in bad.output
