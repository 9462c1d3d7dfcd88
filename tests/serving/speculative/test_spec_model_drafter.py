"""ModelDrafter on the real SmolLM2-135M: greedy drafts equal greedy decoding, rollback, early exit, sampling."""

from __future__ import annotations

import pytest
import torch

from splitsecond.serving.engine.kv_cache import KVCache
from splitsecond.serving.engine.model_runner import ForwardItem, ModelRunner
from splitsecond.serving.loader.model_loader import load_model
from splitsecond.serving.speculative.proposers import ModelDrafter, Proposer, self_speculative_model
from splitsecond.serving.speculative.verification import target_probs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", torch.float32, "cpu")


@pytest.fixture(scope="module")
def prompt(loaded):
    return loaded.tokenizer.encode(
        "Actions: attack_left, attack_right, block, jump. The opponent jumps, so I"
    )


def _fresh_logits(model, tokens: list[int], num_logits: int = 1) -> torch.Tensor:
    """Logits after the last ``num_logits`` tokens, from one fresh forward (no cache reuse)."""
    cache = KVCache(model.config, -(-len(tokens) // 16), 16, torch.float32, "cpu")
    runner = ModelRunner(model, cache, "cpu")
    return runner.run([ForwardItem(tokens, 0, list(range(cache.num_blocks)), num_logits=num_logits)])


def _plain_greedy(model, prompt: list[int], n: int) -> list[int]:
    """Greedy decoding by recomputing the whole sequence every step: independent of any KV bookkeeping."""
    seq = list(prompt)
    for _ in range(n):
        seq.append(int(_fresh_logits(model, seq)[-1].argmax()))
    return seq[len(prompt) :]


def test_full_model_greedy_drafts_equal_greedy_decoding(loaded, prompt):
    reference = _plain_greedy(loaded.model, prompt, 10)
    drafter: Proposer = ModelDrafter(loaded.model, 128)
    one_shot = drafter.propose(prompt, 10)
    assert one_shot.tokens == reference and one_shot.dists is None
    # rounds of k=3 where the "server" keeps 0-2 drafts and appends the true next token: every draft
    # must still be the true continuation, whatever tail of the private cache was rolled back
    context = list(prompt)
    for kept in (2, 0, 1, 2):
        draft = drafter.propose(context, 3).tokens
        done = len(context) - len(prompt)
        assert draft == reference[done : done + 3]
        context += reference[done : done + kept + 1]


def test_rollback_to_a_diverging_context_matches_a_fresh_drafter(loaded, prompt):
    other = loaded.tokenizer.encode(" The capital of France is")
    diverged = prompt[: len(prompt) // 2] + other
    used = ModelDrafter(loaded.model, 128)
    used.propose(prompt, 4)
    result = used.propose(diverged, 4)
    assert result == ModelDrafter(loaded.model, 128).propose(diverged, 4)
    assert used.cached_tokens == diverged + result.tokens[:-1]
    used.reset()
    assert used.cached_tokens == []


def test_self_speculative_view_shares_weights_and_differs_from_full(loaded, prompt):
    model = loaded.model
    total = len(model.layers)
    view = self_speculative_model(model, 6)
    assert len(view.layers) == 6 and view.config.num_layers == 6
    assert len(model.layers) == total and model.config.num_layers == total  # target untouched
    assert view.layers[5] is model.layers[5] and view.embed_tokens is model.embed_tokens
    assert view.norm is model.norm
    full = ModelDrafter(model, 128).propose(prompt, 6).tokens
    early = ModelDrafter(view, 128, name="layerskip-6").propose(prompt, 6).tokens
    assert len(early) == 6 and early != full
    assert ModelDrafter(model, 128).propose(prompt, 6).tokens == full  # the target still runs all layers
    assert self_speculative_model(model, total).config.num_layers == total
    for bad in (0, total + 1, 2.0):
        with pytest.raises(ValueError, match="num_layers"):
            self_speculative_model(model, bad)


def test_sampled_drafts_return_their_exact_sparse_distribution(loaded, prompt):
    drafter = ModelDrafter(loaded.model, 128, temperature=0.8, top_k=5, seed=11)
    proposal = drafter.propose(prompt, 4)
    assert len(proposal.tokens) == 4 and len(proposal.dists) == 4
    logits = _fresh_logits(loaded.model, prompt + proposal.tokens[:-1], num_logits=4)
    expected = target_probs(logits, 0.8, top_k=5)
    for token, dist, row in zip(proposal.tokens, proposal.dists, expected, strict=True):
        assert len(dist.ids) == 5 and abs(sum(dist.probs) - 1) < 1e-5 and dist.prob(token) > 0
        assert set(dist.ids) == set(row.nonzero().flatten().tolist())
        assert torch.allclose(torch.tensor(dist.probs), row[dist.ids], atol=1e-4)
    again = ModelDrafter(loaded.model, 128, temperature=0.8, top_k=5, seed=11).propose(prompt, 4)
    assert again.tokens == proposal.tokens  # seeded


def test_length_limits_and_validation(loaded, prompt):
    drafter = ModelDrafter(loaded.model, len(prompt) + 2)
    assert len(drafter.propose(prompt, 8).tokens) == 2  # no room for more in the private cache
    assert drafter.propose(prompt + [1, 2], 8).tokens == []
    with pytest.raises(ValueError, match="at most"):
        drafter.propose(prompt + [1, 2, 3], 1)
    with pytest.raises(ValueError, match="k must be"):
        drafter.propose(prompt, -1)
    with pytest.raises(ValueError, match="token ids"):
        drafter.propose([1, 10**9], 1)
    for kwargs in (
        {"max_len": 1},
        {"max_len": 10**7},
        {"temperature": -1.0},
        {"top_k": 0},
        {"block_size": 0},
    ):
        with pytest.raises(ValueError, match="ModelDrafter"):
            ModelDrafter(loaded.model, **{"max_len": 64, **kwargs})


def test_adopt_copies_the_shared_prefix_and_drafts_as_a_fresh_drafter(loaded, prompt):
    first = ModelDrafter(loaded.model, 128)
    first.propose(prompt, 3)
    second = ModelDrafter(loaded.model, 128)
    second.seed = first  # as the edge seeds a new drafter from its newest one
    other = prompt[:-2] + loaded.tokenizer.encode(" block")
    assert second.propose(other, 4) == ModelDrafter(loaded.model, 128).propose(other, 4)
    assert second.seed is None and second.cached_tokens[: len(prompt) - 2] == prompt[:-2]
    with pytest.raises(ValueError, match="adopt"):
        ModelDrafter(loaded.model, 256).adopt(first)  # another cache size


def test_stop_ends_a_draft_after_the_current_token(loaded, prompt):
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) >= 2

    drafter = ModelDrafter(loaded.model, 128)
    assert (
        drafter.propose(prompt, 6, stop=stop).tokens
        == ModelDrafter(loaded.model, 128).propose(prompt, 2).tokens
    )


def test_reduced_vocab_drafts_the_best_token_of_the_subset(loaded, prompt):
    from splitsecond.serving.speculative.proposers import reduced_vocab_model

    vocab = loaded.model.config.vocab_size
    full = ModelDrafter(loaded.model, 128).propose(prompt, 4).tokens
    whole = reduced_vocab_model(loaded.model, list(range(vocab)))
    assert ModelDrafter(whole, 128).propose(prompt, 4).tokens == full
    banned = set(full)
    subset = [t for t in range(vocab) if t not in banned]
    drafted = ModelDrafter(reduced_vocab_model(loaded.model, subset), 128).propose(prompt, 4).tokens
    assert drafted and not banned & set(drafted)
    with pytest.raises(ValueError, match="token_ids"):
        reduced_vocab_model(loaded.model, [vocab])
