"""The serving benchmark's report logic: speed-ups, goals and the table (no measuring here)."""

from __future__ import annotations

import io

from rich.console import Console

from splitsecond.benchmarks.serving_http import ACTIONS, GAME_RULES, print_table, summarise


def _res(decode, thr16, cold, hit, decision):
    return {
        "single_stream_decode_tok_s": {"median": decode},
        "throughput_tok_s": {"1": {"median": decode}, "16": {"median": thr16}},
        "ttft_s": {"cold": cold, "prefix_hit": hit},
        "decision_latency_s": {"p50": decision, "p90": decision * 2},
    }


def _rounds(*pairs):
    return [{"ours": o, "hf_transformers": h, "llamacpp": None} for o, h in pairs]


def test_goals_and_speedups():
    rows = {
        r["figure"]: r
        for r in summarise(_rounds((_res(60, 400, 0.2, 0.03, 0.025), _res(20, 100, 0.3, 0.3, 0.1))))
    }
    assert rows["single-stream decode"]["speedup_vs_hf"] == 3 and rows["single-stream decode"]["met"] is True
    assert (
        rows["throughput @ 16 concurrent"]["speedup_vs_hf"] == 4 and rows["throughput @ 16 concurrent"]["met"]
    )
    assert rows["TTFT prefix hit"]["met"] is True  # 30 ms <= 20% of 200 ms
    assert rows["decision latency p50"]["met"] is True and rows["decision latency p50"]["speedup_vs_hf"] == 4
    assert (
        rows["throughput @ 64 concurrent"]["ours"] is None
        and rows["throughput @ 64 concurrent"]["met"] is None
    )

    slow = {
        r["figure"]: r
        for r in summarise(_rounds((_res(30, 200, 0.2, 0.1, 0.05), _res(20, 100, 0.3, 0.3, 0.1))))
    }
    assert slow["single-stream decode"]["met"] is False
    assert slow["throughput @ 16 concurrent"]["met"] is False
    assert slow["TTFT prefix hit"]["met"] is False
    assert slow["decision latency p50"]["met"] is False


def test_missing_peer_leaves_ratios_empty_and_table_prints():
    rows = summarise(_rounds((_res(60, 400, 0.2, 0.03, 0.025), None)))
    assert all(r["speedup_vs_hf"] is None for r in rows)
    assert rows[0]["met"] is None  # a ratio goal cannot be judged without the peer
    out = io.StringIO()
    print_table(rows, Console(file=out, width=200))
    assert "decision latency p50" in out.getvalue() and "25.0 ms" in out.getvalue()


def test_speedup_is_the_median_of_per_round_ratios():
    # The machine slows down after round 1, for both: a ratio of medians over rounds would mix
    # rounds (24 / 10); the median of per-round ratios (2, 2, 4) compares like with like.
    rows = {
        r["figure"]: r
        for r in summarise(
            _rounds(
                (_res(60, 300, 0.2, 0.03, 0.1), _res(30, 100, 0.3, 0.3, 0.2)),
                (_res(20, 300, 0.2, 0.03, 0.1), _res(10, 100, 0.3, 0.3, 0.2)),
                (_res(24, 300, 0.2, 0.03, 0.1), _res(6, 100, 0.3, 0.3, 0.2)),
            )
        )
    }
    decode = rows["single-stream decode"]
    assert decode["ours"] == 24 and decode["hf"] == 10  # medians over rounds
    assert decode["speedup_vs_hf"] == 2  # median of 2, 2, 4 (not 24 / 10)
    assert decode["met"] is True
    assert rows["throughput @ 16 concurrent"]["speedup_vs_hf"] == 3


def test_game_prompt_lists_every_action():
    assert len(ACTIONS) == 20 and len(set(ACTIONS)) == 20
    assert all(a in GAME_RULES for a in ACTIONS)
