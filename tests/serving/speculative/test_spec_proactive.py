"""Proactive drafts are kept only when the server appended exactly the assumed tokens."""

from __future__ import annotations

import pytest

from splitsecond.serving.speculative.proactive import ProactiveDraft, ProactiveStats
from splitsecond.serving.speculative.proposers import Proposal


def test_kept_only_on_an_exact_match_and_counted():
    stats = ProactiveStats()
    draft = ProactiveDraft(assumed=[5, 6, 7, 9], continuation=Proposal([1, 2, 3]))
    assert draft.resolve([5, 6, 7, 9], stats) == Proposal([1, 2, 3])
    assert draft.resolve([5, 6, 8], stats) is None  # a rejection mid-draft
    assert draft.resolve([5, 6, 7, 4], stats) is None  # all accepted but a different bonus
    assert draft.resolve([5, 6, 7, 9, 1], stats) is None
    assert (stats.kept, stats.discarded, stats.tokens_kept) == (1, 3, 3)
    assert stats.keep_rate == 0.25


def test_resolve_without_stats_and_empty_stats():
    assert ProactiveDraft([3], Proposal([])).resolve((3,)) == Proposal([])
    assert ProactiveStats().keep_rate == 0.0


def test_needs_an_assumed_token():
    with pytest.raises(ValueError, match="assumed"):
        ProactiveDraft([], Proposal([1]))
