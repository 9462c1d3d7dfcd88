"""Prompt lookup: longest suffix n-gram, most recent match, overlapping copy, validation."""

from __future__ import annotations

import random

import pytest

from splitsecond.serving.speculative.proposers import PromptLookupProposer, Proposal, Proposer


def _reference(context: list[int], k: int, max_ngram: int, min_ngram: int) -> list[int]:
    """Plain quadratic prompt lookup, written independently as the oracle."""
    n_ctx = len(context)
    for n in range(max_ngram, min_ngram - 1, -1):
        if n >= n_ctx:
            continue
        suffix = context[n_ctx - n :]
        for j in range(n_ctx - n - 1, -1, -1):
            if context[j : j + n] == suffix:
                ext = list(context)
                for t in range(k):
                    ext.append(ext[j + n + t])
                return ext[n_ctx:]
    return []


def test_copies_what_followed_the_latest_match_of_the_longest_ngram():
    p = PromptLookupProposer(max_ngram=3)
    #          0  1  2  3  4  5  6  7  8  9 10 11
    context = [1, 2, 3, 4, 5, 9, 2, 3, 7, 8, 1, 2, 3]
    # the 3-gram (1, 2, 3) occurs at 0: copy 4, 5, 9 (the later (2, 3) at 6 is only a 2-gram match)
    assert p.propose(context, 3) == Proposal([4, 5, 9])
    # without the 3-gram the most recent 2-gram match wins
    assert PromptLookupProposer(max_ngram=2).propose(context, 2).tokens == [7, 8]
    assert p.propose(context, 0).tokens == []


def test_overlapping_copy_continues_a_periodic_tail():
    p = PromptLookupProposer(max_ngram=2)
    assert p.propose([5, 1, 2, 1, 2, 1, 2], 5).tokens == [1, 2, 1, 2, 1]
    assert p.propose([7, 7, 7], 4).tokens == [7, 7, 7, 7]


def test_no_match_proposes_nothing():
    p = PromptLookupProposer(max_ngram=3, min_ngram=2)
    assert p.propose([1, 2, 3, 4, 5], 4).tokens == []
    assert p.propose([], 4).tokens == []
    assert p.propose([1], 4).tokens == []


def test_matches_a_quadratic_reference_on_random_contexts():
    rng = random.Random(0)
    p = PromptLookupProposer(max_ngram=4, min_ngram=1)
    for trial in range(300):
        vocab = rng.choice([3, 6, 50, 70_000])  # large ids exercise all four bytes of the packing
        context = [rng.randrange(vocab) for _ in range(rng.randrange(0, 60))]
        k = rng.randrange(0, 7)
        expected = _reference(context, k, 4, 1) if context else []
        assert p.propose(context, k).tokens == expected, (trial, context, k)


def test_incremental_and_diverging_contexts_give_fresh_results():
    rng = random.Random(1)
    base = [rng.randrange(20) for _ in range(200)]
    cached = PromptLookupProposer()
    for step in range(60):
        if step % 7 == 3:  # roll back and diverge, as after a rejected draft
            base = base[: len(base) - 5] + [rng.randrange(20) for _ in range(3)]
        else:
            base = base + [rng.randrange(20)]
        assert cached.propose(base, 4) == PromptLookupProposer().propose(base, 4)
    cached.reset()
    assert cached.propose(base, 4) == PromptLookupProposer().propose(base, 4)


def test_misaligned_byte_matches_are_skipped():
    # 256 = bytes 00 01 00 00 and 1 = 01 00 00 00: the byte string of [1] occurs inside [256, 0]
    p = PromptLookupProposer(max_ngram=1)
    assert p.propose([256, 0, 5, 1], 2).tokens == []
    assert p.propose([1, 9, 256, 0, 5, 1], 2).tokens == [9, 256]


def test_is_a_proposer_and_validates():
    p: Proposer = PromptLookupProposer()
    assert p.name == "prompt-lookup"
    for bad in [{"max_ngram": 0}, {"min_ngram": 0}, {"max_ngram": 2, "min_ngram": 3}, {"max_ngram": 2.5}]:
        with pytest.raises(ValueError, match="ngram"):
            PromptLookupProposer(**bad)
    with pytest.raises(ValueError, match="k must be"):
        p.propose([1, 2, 1], -1)
    with pytest.raises(ValueError, match="32 bits"):
        p.propose([1, 2**40, 1], 2)
