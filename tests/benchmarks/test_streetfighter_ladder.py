"""The StreetFighter opponent ladder: its report logic on made-up results, and a test-sized round robin."""

from __future__ import annotations

import json

from splitsecond.benchmarks.streetfighter_ladder import (
    LADDER,
    QUICK_CHARACTER_PAIRS,
    QUICK_LADDER,
    MatchResult,
    contests,
    head_to_head,
    ladder_report,
    play_match,
    quick_ladder,
    slowed_check,
    to_json,
)
from splitsecond.envs.streetfighter import OPPONENTS


def _result(p0: str, p1: str, winner: int | None, rounds: tuple[str, ...] = ("ko", "ko")) -> MatchResult:
    return MatchResult((p0, p1), ("kai", "kai"), 0, winner, rounds, 1000)


def test_the_ladder_is_the_registry_order() -> None:
    assert tuple(OPPONENTS) == LADDER
    assert set(QUICK_LADDER) <= set(LADDER)
    assert [LADDER.index(n) for n in QUICK_LADDER] == sorted(LADDER.index(n) for n in QUICK_LADDER)


def test_head_to_head_counts_both_sides_draws_and_time_outs() -> None:
    results = [
        _result("a", "b", 0),
        _result("b", "a", 1, ("time", "time")),  # a wins on time from side 1
        _result("a", "b", None, ("time", "time")),  # double time-out draw
        _result("b", "a", 0, ("ko", "ko")),
    ]
    h2h = head_to_head(results, ["a", "b"])
    assert h2h["a"]["b"] == {"wins": 2, "draws": 1, "losses": 1, "wins_on_time": 1}
    assert h2h["b"]["a"] == {"wins": 1, "draws": 1, "losses": 2, "wins_on_time": 0}
    assert [r.double_timeout_draw for r in results] == [False, False, True, False]
    assert [c.ranks for c in contests(results)] == [(0, 1), (1, 0), (0, 0), (0, 1)]


def test_report_of_a_clean_ladder_and_of_a_cycle() -> None:
    ladder = [_result(hi, lo, 0) for lo, hi in (("a", "b"), ("b", "c"), ("a", "c")) for _ in range(12)]
    report = ladder_report(ladder, ["a", "b", "c"], bootstrap=20)
    assert report["order_holds"] and report["neighbours_separated"]
    assert report["beats_all"] == ["c"]
    assert report["ratings"]["c"]["score"] == 1.0 and report["draws"] == 0
    # rock-paper-scissors: nobody beats everyone, the order cannot hold
    cycle = [_result(w, lo, 0) for w, lo in (("b", "a"), ("c", "b"), ("a", "c")) for _ in range(12)]
    report = ladder_report(cycle, ["a", "b", "c"], bootstrap=20)
    assert report["beats_all"] == [] and not report["order_holds"]
    assert not report["neighbours_separated"]


def test_play_match_is_deterministic_and_applies_reaction_overrides() -> None:
    a = play_match(("zoner", "punisher"), ("kai", "kai"), seed=0)
    assert a == play_match(("zoner", "punisher"), ("kai", "kai"), seed=0)
    assert a.winner == 1 and all(r in ("ko", "time") for r in a.rounds)
    slow = play_match(("zoner", "punisher"), ("kai", "kai"), seed=0, reaction_ms={"punisher": 200.0})
    assert slow.winner == 0  # the frame-perfect punisher loses once it reacts like a human


def test_quick_round_robin_confirms_clearly_separated_rungs() -> None:
    report = quick_ladder(bootstrap=30)
    names = list(QUICK_LADDER)
    assert report["matches"] == len(names) * (len(names) - 1) * len(QUICK_CHARACTER_PAIRS)
    elos = [report["ratings"][n]["elo"] for n in names]
    assert elos == sorted(elos), report["ratings"]
    assert report["order_holds"] and report["neighbours_separated"], report["neighbours"]
    assert report["double_timeout_draws"] == 0
    assert report["beats_all"] == ["punisher"]


def test_the_top_fighter_wins_by_reaction_time_not_by_a_dominant_strategy() -> None:
    check = slowed_check("punisher", ["punisher", "zoner"], (0,), QUICK_CHARACTER_PAIRS)
    assert check["reaction_ms"] == 200.0
    assert not check["still_beats_all"] and check["scores"]["zoner"] < 0.5


def test_json_has_one_line_per_match_and_round_trips() -> None:
    report = {
        "ladder": ["a", "b"],
        "results": [[["a", "b"], ["kai", "zara"], 0, None, ["time", "time"], 11940]],
    }
    text = to_json(report)
    assert json.loads(text) == report
    assert '[["a","b"],["kai","zara"],0,null,["time","time"],11940]' in text.splitlines()[-3]
    assert json.loads(to_json({"ladder": []})) == {"ladder": []}
