"""Leaderboard schedule: full round-robin on both sides, shared-market sessions, stable keys."""

from __future__ import annotations

import copy
from collections import Counter
from itertools import permutations

from splitsecond.benchmarks.leaderboard import config_from_dict, schedule

DATA = {
    "leaderboard": {"name": "s", "seeds": [1, 2, 3]},
    "envs": {
        "streetfighter": {"round_seconds": 5, "characters": [["kai", "kai"], ["zara", "brick"]]},
        "hftbench": {"session_seconds": 5, "seeds": [7, 8, 9, 10]},
    },
    "agents": [
        {"spec": "rushdown"},
        {"spec": "zoner"},
        {"name": "punisher", "spec": "punisher", "latency": ["fixed:50", "fixed:300"]},
        {"spec": "random", "latency": "fixed:10"},
        {"spec": "hft-momentum", "latency": "fixed:1"},
    ],
}


def test_round_robin_covers_every_pair_side_seed_and_character():
    cfg = config_from_dict(DATA)
    tasks = schedule(cfg)
    sf = [t for t in tasks if t.env == "streetfighter"]
    players = [p.name for p in cfg.players("streetfighter")]
    assert len(players) == 5
    seen = Counter((t.seats[0].name, t.seats[1].name, t.seed, t.env_kwargs["characters"]) for t in sf)
    expected = {
        (a, b, seed, chars)
        for a, b in permutations(players, 2)
        for seed in (1, 2, 3)
        for chars in (("kai", "kai"), ("zara", "brick"))
    }
    assert set(seen) == expected and all(n == 1 for n in seen.values())
    assert len(sf) == 5 * 4 * 3 * 2
    # each unordered pair meets on both sides equally often
    sides = Counter((t.seats[0].name, t.seats[1].name) for t in sf)
    for a, b in permutations(players, 2):
        assert sides[(a, b)] == sides[(b, a)] == 6
    # latency variants carry their own latency spec
    lat = {s.name: s.latency for t in sf for s in t.seats}
    assert lat["punisher@fixed:50"] == "fixed:50" and lat["rushdown"] == "declared"


def test_hft_sessions_put_everyone_in_one_market_with_rotating_seats():
    cfg = config_from_dict(DATA)
    hft = [t for t in schedule(cfg) if t.env == "hftbench"]
    players = [p.name for p in cfg.players("hftbench")]
    assert players == ["random", "hft-momentum"]
    assert [t.seed for t in hft] == [7, 8, 9, 10]
    assert all(sorted(s.name for s in t.seats) == sorted(players) for t in hft)
    firsts = Counter(t.seats[0].name for t in hft)
    assert firsts == {"random": 2, "hft-momentum": 2}


def test_keys_are_stable_unique_and_follow_the_parameters():
    cfg = config_from_dict(DATA)
    a = schedule(cfg)
    b = schedule(config_from_dict(copy.deepcopy(DATA)))
    assert [t.key for t in a] == [t.key for t in b]
    assert len({t.key for t in a}) == len(a)
    changed = copy.deepcopy(DATA)
    changed["envs"]["streetfighter"]["round_seconds"] = 6
    c = schedule(config_from_dict(changed))
    sf_a = {t.key for t in a if t.env == "streetfighter"}
    sf_c = {t.key for t in c if t.env == "streetfighter"}
    assert not sf_a & sf_c
    assert {t.key for t in a if t.env == "hftbench"} == {t.key for t in c if t.env == "hftbench"}
