"""Suffix drafting: longest match in earlier outputs, most frequent continuation, bounds, the proposer's choice."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from splitsecond.serving.speculative.proposers import Proposal, Proposer, SuffixCache, SuffixProposer


def _reference(outputs: list[list[int]], context: list[int], k: int, max_match: int, min_match: int,
               min_prob: float, max_occurrences: int) -> tuple[list[int], int]:  # fmt: skip
    """Quadratic oracle, written independently: occurrences scanned newest first, majority walk."""
    for m in range(min(max_match, len(context)), min_match - 1, -1):
        pattern = context[len(context) - m :]
        live: list[tuple[list[int], int]] = []  # (output, index after the occurrence)
        for out in reversed(outputs):
            for j in range(len(out) - m, -1, -1):
                if out[j : j + m] == pattern and len(live) < max_occurrences:
                    live.append((out, j + m))
        if not live:
            continue
        draft: list[int] = []
        prob = 1.0
        while live and len(draft) < k:
            nxt = [o[i] if i < len(o) else None for o, i in live]
            tok, count = Counter(nxt).most_common(1)[0]
            prob *= count / len(live)
            if tok is None or prob < min_prob:
                break
            draft.append(tok)
            live = [(o, i + 1) for o, i in live if i < len(o) and o[i] == tok]
        return draft, m
    return [], 0


def test_continues_the_longest_match_along_the_most_frequent_path():
    cache = SuffixCache()
    cache.add([1, 2, 3, 4, 5])
    cache.add([9, 2, 3, 7, 8])
    cache.add([2, 3, 7, 6])
    # (2, 3) occurs three times: 7 follows twice, 4 once; after (2, 3, 7) the most recent of 8 / 6 wins
    assert cache.lookup([0, 2, 3], 3, min_prob=0.0) == ([7, 6], 2)
    # the probability floor cuts the walk: 2/3, then 2/3 * 1/2 = 1/3
    assert cache.lookup([0, 2, 3], 3, min_prob=0.5) == ([7], 2)
    # a longer suffix match wins over the frequent short one, and ends where its output ended
    assert cache.lookup([1, 2, 3], 5, min_prob=0.0) == ([4, 5], 3)
    assert cache.lookup([2, 3], 0) == ([], 0)


def test_no_match_below_min_match_and_nothing_across_outputs():
    cache = SuffixCache()
    cache.add([1, 2])
    cache.add([3, 4])
    assert cache.lookup([5, 6], 4) == ([], 0)
    assert cache.lookup([9, 2], 4, min_match=1) == ([], 1)  # 2 ended its output: nothing follows
    assert cache.lookup([2, 3], 4) == ([], 0)  # (2, 3) spans two outputs: not a match
    assert SuffixCache().lookup([1, 2], 4) == ([], 0)


def test_matches_a_quadratic_reference_on_random_histories():
    rng = random.Random(0)
    for trial in range(200):
        vocab = rng.choice([3, 5, 40, 70_000])  # large ids exercise every byte of the packing
        occ = rng.choice([2, 32])
        cache = SuffixCache(max_occurrences=occ)
        outputs = [
            [rng.randrange(vocab) for _ in range(rng.randrange(1, 30))] for _ in range(rng.randrange(1, 6))
        ]
        for o in outputs:
            cache.add(o)
        context = [rng.randrange(vocab) for _ in range(rng.randrange(1, 20))]
        k, max_match, min_prob = rng.randrange(0, 8), rng.randrange(2, 10), rng.choice([0.0, 0.1, 0.5])
        got = cache.lookup(context, k, max_match=max_match, min_match=2, min_prob=min_prob)
        if k == 0:
            assert got == ([], 0)
            continue
        assert got == _reference(outputs, context, k, max_match, 2, min_prob, occ), (trial, outputs, context)


def test_the_oldest_outputs_make_room():
    cache = SuffixCache(max_tokens=10)
    cache.add([1, 2, 3])  # 4 tokens with its end marker
    cache.add([4, 5, 6])
    assert len(cache) == 2 and cache.num_tokens == 8
    cache.add([7, 8])  # 11 > 10: the first output goes
    assert cache.outputs() == [[4, 5, 6], [7, 8]]
    assert cache.lookup([1, 2], 2) == ([], 0)
    assert cache.lookup([4, 5], 2) == ([6], 2)
    cache.add(list(range(100, 130)))  # longer than the cache: its last 9 tokens are kept
    assert cache.outputs() == [list(range(121, 130))]
    cache.add([])
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0 and cache.lookup([121, 122], 2) == ([], 0)


def test_misaligned_byte_matches_are_skipped():
    # 256 = bytes 00 01 00 00 and 1 = 01 00 00 00: the packed (1, 0) occurs inside (256, 0, 0)
    cache = SuffixCache()
    cache.add([256, 0, 0, 7])
    assert cache.lookup([1, 0], 2) == ([], 0)
    cache.add([1, 0, 9])
    assert cache.lookup([1, 0], 2) == ([9], 2)


def test_proposer_takes_the_longer_match_and_learns_outputs():
    cache = SuffixCache()
    p: Proposer = SuffixProposer(cache, max_match=8)
    assert p.name == "suffix"
    prompt = [50, 51, 52, 53, 10, 11, 12, 60]
    # nothing learned yet: prompt lookup over the request's own context
    assert p.propose([*prompt, 10, 11], 2) == Proposal([12, 60])
    assert cache.stats.from_context == 1
    p.learn([10, 11, 20, 21, 22])
    # the earlier output matches (10, 11) as long as the prompt does: the cache wins the tie
    assert p.propose([*prompt, 10, 11], 3).tokens == [20, 21, 22]
    # a longer match in the prompt wins over the cache's shorter one
    assert p.propose([*prompt, 52, 53, 10, 11], 2).tokens == [12, 60]
    assert p.propose([99, 98], 2).tokens == []
    assert (cache.stats.from_cache, cache.stats.from_context, cache.stats.empty) == (1, 2, 1)
    p.reset()
    assert len(cache) == 1  # the shared cache outlives the request


def test_validation():
    for bad in [{"max_tokens": 0}, {"max_occurrences": 0}, {"max_tokens": 1.5}]:
        with pytest.raises(ValueError, match="SuffixCache"):
            SuffixCache(**bad)
    cache = SuffixCache()
    with pytest.raises(ValueError, match=r"\[0, 2\*\*31\)"):
        cache.add([1, -2])
    with pytest.raises(ValueError, match="k must be"):
        cache.lookup([1, 2], -1)
    with pytest.raises(ValueError, match="min_match"):
        cache.lookup([1, 2], 2, max_match=2, min_match=3)
    with pytest.raises(ValueError, match="32 bits"):
        cache.add([1, 2])
        cache.lookup([1, 2**40], 2)
    for bad in [{"max_match": 0}, {"min_match": 0}, {"max_match": 2, "min_match": 3}, {"min_prob": 2}]:
        with pytest.raises(ValueError, match="SuffixProposer"):
            SuffixProposer(cache, **bad)
