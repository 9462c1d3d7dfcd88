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


def test_a_match_whose_server_runs_another_model_is_a_new_match():
    data = copy.deepcopy(DATA)
    data["serve"] = [{"name": "small", "model": "qwen2.5-coder-0.5b"}]
    data["agents"].append({"name": "llm", "spec": "openai/q@{serve:small}", "envs": ["streetfighter"]})
    before = schedule(config_from_dict(data))
    data["serve"][0]["model"] = "qwen2.5-coder-1.5b"
    after = schedule(config_from_dict(data))
    uses = {t.key for t in before if any("{serve" in s.spec for s in t.seats)}
    assert uses and not uses & {t.key for t in after}
    assert {t.key for t in before} - uses == {
        t.key for t in after if not any("{serve" in s.spec for s in t.seats)
    }
    task = next(t for t in after if t.key not in uses and any("{serve" in s.spec for s in t.seats))
    assert task.serve == {"small": {"model": "qwen2.5-coder-1.5b", "args": []}}
    # matches without a server keep the keys they had before servers entered the key
    assert [t.key for t in schedule(config_from_dict(DATA))][:3] == [t.key for t in before][:3]


def test_gauntlet_pairs_every_agent_with_every_anchor_only():
    import pytest

    from splitsecond.benchmarks.leaderboard import ConfigError

    data = copy.deepcopy(DATA)
    data["envs"]["streetfighter"]["pairing"] = "gauntlet"
    data["agents"][0]["anchor"] = True  # rushdown
    data["agents"][3]["anchor"] = True  # random
    cfg = config_from_dict(data)
    sf = [t for t in schedule(cfg) if t.env == "streetfighter"]
    anchors = {"rushdown", "random"}
    pairs = {(t.seats[0].name, t.seats[1].name) for t in sf}
    players = [p.name for p in cfg.players("streetfighter")]
    assert pairs == {(a, b) for a, b in permutations(players, 2) if a in anchors or b in anchors}
    assert ("zoner", "punisher@fixed:50") not in pairs and ("zoner", "rushdown") in pairs
    assert len(sf) == len(pairs) * 3 * 2  # seeds x character pairs
    data["agents"][0]["anchor"] = data["agents"][3]["anchor"] = False
    with pytest.raises(ConfigError, match="anchor"):
        config_from_dict(data).validate()
    data["envs"]["streetfighter"]["pairing"] = "swiss"
    with pytest.raises(ConfigError, match="pairing"):
        config_from_dict(data)
    data["envs"]["streetfighter"]["pairing"] = "gauntlet"
    data["agents"][0]["anchor"] = "yes"
    with pytest.raises(ConfigError, match="anchor"):
        config_from_dict(data)
