"""Verification is lossless: greedy equals argmax decoding, rejection sampling reproduces the target.

The distribution tests simulate decoding with a small Markov "target" (next-token distribution depends on
the previous token) and a Markov "drafter", run >= 20000 seeded trials, and compare the empirical
distribution of the first emitted token and of the first two emitted tokens with the exact target
distribution. The bound is 3x a normal-approximation estimate of the total-variation distance a
*correct* sampler shows at this sample size, so it is loose enough for any seed yet tight enough that
the negative controls (a verifier that always accepts, one that resamples from p instead of the
residual) fail it by a wide margin. Everything is seeded, so the tests cannot flake.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
import torch

from splitsecond.serving.layers.sampler import Sampler, SamplingRow
from splitsecond.serving.speculative.verification import (
    SparseDraftDist,
    Verdict,
    target_probs,
    validate_draft,
    verify_greedy,
    verify_rejection,
)

V = 4
TRIALS = 20_000

# Target: row 0 is p(first token); row 1 + a is p(next | previous token a).
TARGET = torch.tensor(
    [
        [0.40, 0.30, 0.20, 0.10],
        [0.10, 0.60, 0.20, 0.10],
        [0.25, 0.25, 0.25, 0.25],
        [0.70, 0.00, 0.10, 0.20],
        [0.05, 0.15, 0.30, 0.50],
    ]
)
# A sparse drafter that is often wrong: each state's q covers 2-3 tokens, one outside p's support.
SPARSE_Q = [
    SparseDraftDist([2, 0, 3], [0.5, 0.3, 0.2]),
    SparseDraftDist([1, 3], [0.9, 0.1]),
    SparseDraftDist([0, 1, 2], [0.2, 0.2, 0.6]),
    SparseDraftDist([1, 0], [0.5, 0.5]),  # q(1) > 0 but p(1 | 2) = 0
    SparseDraftDist([3, 2, 1], [0.6, 0.3, 0.1]),
]
GREEDY_DRAFT = [2, 1, 0, 1, 3]  # a deterministic drafter's token after each state (point-mass q)


def _state(prev: int | None) -> int:
    return 0 if prev is None else prev + 1


def _exact_first_two() -> dict[tuple[int, int], float]:
    p0 = TARGET[0].tolist()
    return {(a, b): p0[a] * TARGET[_state(a), b].item() for a in range(V) for b in range(V) if p0[a] > 0}


def _simulate(
    verify, k: int, sparse: bool, seed: int, length: int = 2, trials: int = TRIALS
) -> tuple[dict, dict]:
    """Frequencies of the first emitted token and of the first ``length`` (1 or 2), over ``trials`` decodes."""
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    first: Counter = Counter()
    pairs: Counter = Counter()
    rows: dict[tuple[int, ...], torch.Tensor] = {}
    for _ in range(trials):
        emitted: list[int] = []
        while len(emitted) < length:
            prev = emitted[-1] if emitted else None
            draft: list[int] = []
            for _ in range(k):
                s = _state(draft[-1] if draft else prev)
                if sparse:
                    q = SPARSE_Q[s]
                    draft.append(rng.choices(q.ids, q.probs)[0])
                else:
                    draft.append(GREEDY_DRAFT[s])
            states = [_state(prev)] + [_state(x) for x in draft]
            dists = [SPARSE_Q[s] for s in states[:-1]] if sparse else None
            key = tuple(states)
            if key not in rows:
                rows[key] = TARGET[states]
            verdict = verify(rows[key], draft, dists, gen)
            emitted += draft[: verdict.accepted] + [verdict.token]
        first[emitted[0]] += 1
        pairs[tuple(emitted[:length])] += 1
    return _freq(first, trials), _freq(pairs, trials)


def _freq(counts: Counter, n: int) -> dict:
    return {x: c / n for x, c in counts.items()}


def _tv(freq: dict, exact: dict) -> float:
    keys = set(freq) | set(exact)
    return 0.5 * sum(abs(freq.get(x, 0.0) - exact.get(x, 0.0)) for x in keys)


def _bound(exact: dict) -> float:
    """3x the normal-approximation total-variation spread of a correct sampler over TRIALS draws."""
    return 3 * 0.5 * sum(math.sqrt(p * (1 - p) / TRIALS) for p in exact.values())


EXACT_FIRST = dict(enumerate(TARGET[0].tolist()))
EXACT_PAIRS = _exact_first_two()


def test_k0_samples_the_target():
    first, _ = _simulate(verify_rejection, 0, False, 1, length=1)
    assert _tv(first, EXACT_FIRST) < _bound(EXACT_FIRST)


@pytest.mark.parametrize(
    ("k", "sparse", "seed"),
    [(3, True, 3), (3, False, 4)],
    ids=["k3-sparse-q", "k3-point-mass-q"],
)
def test_rejection_sampling_reproduces_target_distribution(k, sparse, seed):
    first, pairs = _simulate(verify_rejection, k, sparse, seed)
    assert _bound(EXACT_PAIRS) < 0.04  # the sample is large enough for a meaningful test
    assert _tv(first, EXACT_FIRST) < _bound(EXACT_FIRST)
    assert _tv(pairs, EXACT_PAIRS) < _bound(EXACT_PAIRS)


def _always_accept(probs, draft, dists, gen):
    return Verdict(len(draft), int(torch.multinomial(probs[len(draft)], 1, generator=gen).item()))


def _resample_from_p(probs, draft, dists, gen):
    """A subtle bug: on rejection, draw from p instead of the residual max(0, p - q)."""
    u = torch.rand(len(draft), generator=gen).tolist()
    for i, x in enumerate(draft):
        q_x = 1.0 if dists is None else dists[i].prob(x)
        if u[i] * q_x >= probs[i, x].item():
            return Verdict(i, int(torch.multinomial(probs[i], 1, generator=gen).item()))
    return Verdict(len(draft), int(torch.multinomial(probs[len(draft)], 1, generator=gen).item()))


@pytest.mark.parametrize("wrong", [_always_accept, _resample_from_p], ids=["always-accept", "resample-p"])
def test_negative_controls_fail_the_distribution_check(wrong):
    first, pairs = _simulate(wrong, 1, True, 5, trials=TRIALS // 4)  # caught even with 1/4 the draws
    assert _tv(first, EXACT_FIRST) > 2 * _bound(EXACT_FIRST)
    assert _tv(pairs, EXACT_PAIRS) > 2 * _bound(EXACT_PAIRS)


def test_seeded_rejection_is_reproducible():
    a = _simulate_few(seed=7)
    assert a == _simulate_few(seed=7)
    assert a != _simulate_few(seed=8)


def _simulate_few(seed: int) -> list[Verdict]:
    gen = torch.Generator().manual_seed(seed)
    draft = [0, 1, 0]
    dists = [SPARSE_Q[0], SPARSE_Q[1], SPARSE_Q[2]]
    return [verify_rejection(TARGET[[0, 1, 2, 1]], draft, dists, gen) for _ in range(50)]


def test_greedy_verification_equals_argmax_decoding():
    torch.manual_seed(0)
    vocab = 12
    table = torch.randn(vocab + 1, vocab)  # logits after each previous token (row 0: first token)
    reference, prev = [], None
    for _ in range(40):
        prev = int(table[_state(prev)].argmax())
        reference.append(prev)
    rng = random.Random(0)
    out: list[int] = []
    rounds = 0
    while len(out) < 40:
        k = rng.randint(0, 5)
        # a drafter right ~70% of the time: the true continuation with random corruptions
        truth = reference[len(out) : len(out) + k]
        draft = [t if rng.random() < 0.7 else rng.randrange(vocab) for t in truth]
        states = [_state(out[-1] if out else None)] + [_state(x) for x in draft]
        verdict = verify_greedy(table[states], draft)
        assert 0 <= verdict.accepted <= len(draft)
        out += draft[: verdict.accepted] + [verdict.token]
        rounds += 1
    assert out[:40] == reference
    assert rounds < 40  # some drafts were accepted


def test_greedy_all_accepted_emits_bonus():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 1.0], [0.0, 1.0, 4.0]])
    assert verify_greedy(logits, [1, 0]) == Verdict(2, 2)
    assert verify_greedy(logits, [1, 2]) == Verdict(1, 0)
    assert verify_greedy(logits[:1], []) == Verdict(0, 1)


def test_zero_mass_residual_falls_back_to_target():
    # q covers p's only token and more (sum 1.0005 is within tolerance): max(0, p - q) is all zero.
    probs = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    dists = [SparseDraftDist([0, 1], [0.0005, 1.0])]
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert verify_rejection(probs, [0], dists, gen) == Verdict(0, 1)


def test_point_mass_rejection_never_reemits_the_rejected_token():
    probs = torch.tensor([[0.6, 0.4, 0.0], [1.0, 0.0, 0.0]])
    gen = torch.Generator().manual_seed(0)
    verdicts = [verify_rejection(probs, [1], None, gen) for _ in range(300)]
    rejected = [v for v in verdicts if v.accepted == 0]
    assert rejected and all(v.token == 0 for v in rejected)
    assert all(v == Verdict(1, 0) for v in verdicts if v.accepted == 1)


def test_target_probs_match_the_sampler():
    torch.manual_seed(1)
    logits = torch.randn(1, 8) * 2
    for temperature, top_p, top_k in [(0.7, 1.0, -1), (1.0, 1.0, 3), (1.3, 0.8, -1), (0.9, 0.9, 5)]:
        probs = target_probs(logits, temperature, top_p, top_k)
        assert probs.dtype == torch.float32 and torch.allclose(probs.sum(-1), torch.ones(1))
        row = SamplingRow(temperature=temperature, top_p=top_p, top_k=top_k)
        kept = Sampler._top_k_top_p(logits / temperature, [row]).isfinite()
        assert torch.equal(probs > 0, kept)
        if top_k > 0:
            assert int((probs > 0).sum()) <= top_k
    # the sampler's own draws follow target_probs
    gen = torch.Generator().manual_seed(3)
    row = SamplingRow(temperature=0.9, top_p=0.9, top_k=5, generator=gen)
    n = 20_000
    draws = Counter(Sampler()(logits.expand(n, -1), [row] * n).token_ids)
    exact = dict(enumerate(target_probs(logits, 0.9, 0.9, 5)[0].tolist()))
    tv = 0.5 * sum(abs(draws.get(t, 0) / n - p) for t, p in exact.items())
    assert tv < 3 * 0.5 * sum(math.sqrt(p * (1 - p) / n) for p in exact.values())


def test_target_probs_rejects_bad_settings():
    logits = torch.zeros(2, 5)
    with pytest.raises(ValueError, match="temperature"):
        target_probs(logits, 0.0)
    with pytest.raises(ValueError, match="top_p"):
        target_probs(logits, 1.0, top_p=0.0)
    with pytest.raises(ValueError, match="rows, vocab"):
        target_probs(torch.zeros(5), 1.0)


def test_sparse_draft_dist_validation():
    with pytest.raises(ValueError, match="same length"):
        SparseDraftDist([1, 2], [1.0])
    with pytest.raises(ValueError, match="unique"):
        SparseDraftDist([1, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match=">= 0"):
        SparseDraftDist([1, 2], [1.5, -0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        SparseDraftDist([1, 2], [0.5, 0.4])
    with pytest.raises(ValueError, match="at least one"):
        SparseDraftDist([], [])
    with pytest.raises(ValueError, match="non-negative integers"):
        SparseDraftDist([-1], [1.0])
    d = SparseDraftDist([4, 9], [0.25, 0.75])
    assert d.prob(9) == 0.75 and d.prob(5) == 0.0


def test_validate_draft_errors():
    ok = SparseDraftDist([3, 4], [0.5, 0.5])
    validate_draft([3, 4], [ok, ok], vocab_size=10, max_k=4)
    validate_draft([], None, vocab_size=10, max_k=0)
    with pytest.raises(ValueError, match="at most 2"):
        validate_draft([1, 2, 3], None, vocab_size=10, max_k=2)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        validate_draft([1, 10], None, vocab_size=10, max_k=4)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        validate_draft([-1], None, vocab_size=10, max_k=4)
    with pytest.raises(ValueError, match="1 draft distributions for 2"):
        validate_draft([3, 4], [ok], vocab_size=10, max_k=4)
    with pytest.raises(ValueError, match="outside"):
        validate_draft([3], [SparseDraftDist([3, 12], [0.5, 0.5])], vocab_size=10, max_k=4)
    with pytest.raises(ValueError, match="probability 0"):
        validate_draft([5], [ok], vocab_size=10, max_k=4)


def test_verify_rejects_inconsistent_input():
    probs = torch.full((3, 4), 0.25)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="need 2 rows"):
        verify_rejection(probs, [1], None, gen)
    with pytest.raises(ValueError, match="need 3 rows"):
        verify_greedy(probs[:2], [1, 2])
    with pytest.raises(ValueError, match="probability 0"):
        verify_rejection(probs, [1, 2], [SparseDraftDist([0], [1.0]), SparseDraftDist([2], [1.0])], gen)
    with pytest.raises(ValueError, match="1 draft distributions for 2"):
        verify_rejection(probs, [1, 2], [SparseDraftDist([1], [1.0])], gen)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        verify_rejection(probs, [1, 7], None, gen)
    with pytest.raises(ValueError, match="no mass"):
        verify_rejection(torch.zeros(1, 4), [], None, gen)
    with pytest.raises(ValueError, match="outside"):
        verify_rejection(probs[:2], [1], [SparseDraftDist([1, 9], [0.5, 0.5])], gen)
