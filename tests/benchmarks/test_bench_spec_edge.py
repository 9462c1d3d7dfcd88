"""Pure helpers of the SpecEdge benchmark: ITL, schedules, deltas, ratios and the goals block (no server)."""

from __future__ import annotations

import pytest

from splitsecond.benchmarks.spec_edge import (
    SERVER_ONLY,
    BenchConfig,
    RequestRecord,
    cell_id,
    compare_to_server_only,
    derive_server_only,
    edge_stats_delta,
    engine_delta,
    evaluate_goals,
    itl_seconds,
    median,
    percentile,
    schedule,
    summarise_requests,
)
from splitsecond.serving.speculative.edge.stats import EdgeStats


def test_itl_is_decode_time_over_tokens_after_the_first() -> None:
    # 5 tokens in 3 messages: first at 0.1 s, last at 0.5 s -> 0.4 s over 4 later tokens.
    assert itl_seconds([0.1, 0.3, 0.5], 5) == pytest.approx(0.1)
    assert itl_seconds([0.2], 1) is None
    assert itl_seconds([], 0) is None
    assert itl_seconds([0.2], 3) is None  # every token in one message: nothing to measure


def test_median_and_percentile_skip_none() -> None:
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([None]) is None
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == 5.0
    assert percentile([None], 0.5) is None
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        percentile([1.0], 1.5)


@pytest.mark.parametrize(
    ("prompts", "users", "total"), [(8, 1, 8), (8, 4, 8), (8, 8, 16), (4, 4, 8), (3, 1, 3)]
)
def test_schedule_covers_every_prompt_and_keeps_users_busy(prompts: int, users: int, total: int) -> None:
    s = schedule(prompts, users)
    assert len(s) == total
    assert set(s) == set(range(prompts))
    assert len(s) >= 2 * users
    assert all(s.count(i) == total // prompts for i in range(prompts))
    with pytest.raises(ValueError):
        schedule(0, 1)


def test_engine_delta_gives_tokens_per_busy_second() -> None:
    before = {"generation_tokens_total": 100, "busy_seconds": 2.0, "spec_rounds": 1}
    after = {"generation_tokens_total": 160, "busy_seconds": 5.0, "spec_rounds": 11, "num_forward_passes": 7}
    d = engine_delta(before, after)
    assert d["generation_tokens"] == 60
    assert d["busy_s"] == pytest.approx(3.0)
    assert d["server_throughput_tok_s"] == pytest.approx(20.0)
    assert d["spec_rounds"] == 10 and d["num_forward_passes"] == 7
    assert engine_delta(before, before)["server_throughput_tok_s"] is None
    with pytest.raises(ValueError, match="backwards"):
        engine_delta(after, before)


def test_edge_stats_delta_isolates_one_cell() -> None:
    s = EdgeStats()
    s.record_round(2, 1, 2, 0.05, 0.0, 0.02)
    before = EdgeStats(
        **{**s.__dict__, "proposed_at": list(s.proposed_at), "accepted_at": list(s.accepted_at)}
    )
    s.record_round(4, 4, 5, 0.05, 0.0, 0.04)
    s.record_round(4, 0, 1, 0.05, 0.0, 0.04)
    d = edge_stats_delta(before, s)
    assert (d.rounds, d.draft_tokens, d.accepted_tokens, d.round_tokens) == (2, 8, 4, 6)
    assert d.proposed_at == [2, 2, 2, 2] and d.accepted_at == [1, 1, 1, 1]
    summary = d.summary()
    assert summary["mean_acceptance_length"] == pytest.approx(3.0)
    assert summary["per_position_acceptance"] == [0.5] * 4
    assert summary["server_throughput_tok_s"] == pytest.approx(6 / 0.08)
    with pytest.raises(TypeError):
        edge_stats_delta({}, s)


def test_edge_stats_delta_drops_positions_the_interval_never_proposed() -> None:
    s = EdgeStats()
    s.record_round(6, 6, 7, 0.05, 0.0, 0.02)  # an earlier cell drafted 6 positions
    before = EdgeStats(
        **{**s.__dict__, "proposed_at": list(s.proposed_at), "accepted_at": list(s.accepted_at)}
    )
    s.record_round(2, 1, 2, 0.05, 0.0, 0.02)  # this cell drafts only 2
    d = edge_stats_delta(before, s)
    assert d.proposed_at == [1, 1] and d.accepted_at == [1, 0]
    assert d.summary()["per_position_acceptance"] == [1.0, 0.0]
    nothing = edge_stats_delta(s, s)
    assert nothing.proposed_at == [] and nothing.summary()["per_position_acceptance"] == []


def _rec(i: int, text: str, itl: float | None, ttft: float = 0.1) -> RequestRecord:
    return RequestRecord(prompt_index=i, text=text, tokens=10, ttft_s=ttft, itl_s=itl, wall_s=1.0)


def test_summarise_requests_counts_mismatches_against_the_reference() -> None:
    recs = [_rec(0, "a", 0.02), _rec(1, "b", 0.04), _rec(0, "a!", 0.03)]
    s = summarise_requests(recs, {0: "a", 1: "b"})
    assert s["requests"] == 3 and s["tokens"] == 30
    assert s["itl_ms"] == pytest.approx(30.0)
    assert s["ttft_ms"] == pytest.approx(100.0)
    assert s["mismatches"] == 1 and s["lossless"] is False
    assert summarise_requests(recs[:2], {0: "a", 1: "b"})["lossless"] is True
    assert summarise_requests(recs, None)["lossless"] is None


def _cell(workload: str, users: int, rtt: float, source: str, thr: float, itl: float) -> dict:
    return {"id": cell_id(workload, users, rtt, source), "workload": workload, "users": users, "rtt_ms": rtt,
            "source": source, "server_throughput_tok_s": thr, "itl_ms": itl, "ttft_ms": 100.0}  # fmt: skip


def test_derived_server_only_keeps_itl_and_adds_one_rtt_to_ttft() -> None:
    base = _cell("agent", 4, 0.0, SERVER_ONLY, 50.0, 80.0)
    d = derive_server_only(base, 14.0)
    assert d["id"] == "agent/u4/rtt14/server-only" and d["derived_from"] == base["id"]
    assert (d["itl_ms"], d["server_throughput_tok_s"], d["ttft_ms"]) == (80.0, 50.0, 114.0)
    assert base["ttft_ms"] == 100.0  # the measured cell is left alone


def test_ratios_compare_with_the_server_only_cell_of_the_same_users_and_rtt() -> None:
    cells = [
        _cell("general", 1, 14.0, SERVER_ONLY, 10.0, 100.0),
        _cell("general", 1, 14.0, "prompt-lookup", 25.0, 80.0),
        _cell("general", 8, 14.0, SERVER_ONLY, 60.0, 130.0),
        _cell("general", 8, 14.0, "prompt-lookup", 54.0, 150.0),
        _cell("general", 8, 14.0, "self:10", 66.0, 120.0),
        _cell("general", 8, 0.0, "self:10", 99.0, 99.0),  # no peer at 0 ms
    ]
    compare_to_server_only(cells)
    assert cells[1]["throughput_ratio"] == pytest.approx(2.5)
    assert cells[1]["itl_change_pct"] == pytest.approx(-20.0)
    assert cells[3]["vs"] == "general/u8/rtt14/server-only"
    assert cells[3]["throughput_ratio"] == pytest.approx(0.9)
    assert cells[5]["throughput_ratio"] is None and cells[5]["vs"] is None

    goals = evaluate_goals(cells)
    thr, itl = goals["server_throughput_ratio_at_14ms"], goals["itl_reduction_at_14ms"]
    assert thr["best"] == pytest.approx(2.5) and thr["best_cell"] == "general/u1/rtt14/prompt-lookup"
    assert thr["met"] is True
    assert thr["median"] == pytest.approx(1.1)  # of 2.5, 0.9, 1.1
    assert itl["best"] == pytest.approx(0.2) and itl["met"] is True
    assert goals["cells_meeting_both"] == ["general/u1/rtt14/prompt-lookup"]
    ns = goals["never_slower_at_high_load"]
    assert ns["users"] == 8
    assert [c["best_source"] for c in ns["checks"]] == ["self:10"]  # the 0 ms cell has no peer
    assert ns["checks"][0]["throughput_ratio"] == pytest.approx(1.1) and ns["met"] is True
    assert goals["met"] is True


def test_goals_not_met_when_edge_is_slower_at_high_load() -> None:
    cells = [
        _cell("agent", 8, 14.0, SERVER_ONLY, 60.0, 100.0),
        _cell("agent", 8, 14.0, "prompt-lookup", 30.0, 50.0),
    ]
    compare_to_server_only(cells)
    goals = evaluate_goals(cells)
    assert goals["itl_reduction_at_14ms"]["met"] is True
    assert goals["server_throughput_ratio_at_14ms"]["met"] is False
    assert goals["never_slower_at_high_load"]["met"] is False
    assert goals["met"] is False
    assert evaluate_goals([])["met"] is False


def test_bench_config_validates() -> None:
    cfg = BenchConfig(users=(8, 1, 4, 4), rtts_ms=(14, 0))
    assert cfg.users == (1, 4, 8) and cfg.rtts_ms == (0.0, 14.0)
    assert "model" in cfg.sources_at(1) and "model" not in cfg.sources_at(4)
    assert "self:10" in cfg.sources_at(1) and cfg.sources_at(4) == cfg.sources_at(8) == [
        "prompt-lookup",
        "suffix",
    ]
    assert "self:10" in BenchConfig(self_draft_users=None).sources_at(8)
    assert (
        BenchConfig(prompts=8, users=(1, 8), sources=("prompt-lookup",)).prompts == 8
    )  # no suffix: repeats ok
    for bad in (
        {"users": (0,)},
        {"rtts_ms": (14.0,), "network": "in-process"},
        {"loss_pct": 0},
        {"requests_per_user": 0},
        {"pin": 1},
        {"sources": ("model:",)},
        {"sources": ("eagle",)},
        {"sources": ("self:x",)},
        {"workloads": ("chat",)},
        {"max_tokens": {"general": 1, "agent": 24}},
        {"prompts": 17},
        {"history": -1},
        {"rounds": 0},
        {"prompts": 8, "users": (1, 8)},  # suffix needs a prompt per request: 16 at 8 users
        {"network": "tc"},
        {"model_draft_users": (0,)},
        {"self_draft_users": ("4",)},
    ):
        with pytest.raises(ValueError, match="BenchConfig"):
            BenchConfig(**bad)


def test_rounds_merge_into_medians_of_per_round_ratios() -> None:
    from splitsecond.benchmarks.spec_edge import merge_rounds, sum_stats
    from splitsecond.serving.speculative.edge.stats import EdgeStats

    def cell(source, rnd, thr, itl, **kw):
        c = {"id": f"agent/u1/rtt0/{source}", "workload": "agent", "users": 1, "rtt_ms": 0.0, "source": source,
             "round": rnd, "server_throughput_tok_s": thr, "itl_ms": itl, "requests": 4, "tokens": 40,
             "mismatches": 0, "server": {"generation_tokens": 40, "busy_s": 40 / thr} if thr else None}  # fmt: skip
        c.update(kw)
        return c

    stats = [EdgeStats(rounds=10, round_tokens=30, proposed_at=[10, 5], accepted_at=[8, 0]),
             EdgeStats(rounds=5, round_tokens=20, proposed_at=[5], accepted_at=[4])]  # fmt: skip
    rounds = [
        cell(SERVER_ONLY, 0, 50, 20), cell("suffix", 0, 100, 10, _edge_delta=stats[0]),
        cell(SERVER_ONLY, 1, 100, 10), cell("suffix", 1, 150, 8, _edge_delta=stats[1], mismatches=1),
        cell(SERVER_ONLY, 2, 80, 12), cell("suffix", 2, None, None, error="RuntimeError: boom"),
    ]  # fmt: skip
    compare_to_server_only(rounds)
    assert [c.get("throughput_ratio") for c in rounds if c["source"] == "suffix"] == [2.0, 1.5, None]
    merged = {c["source"]: c for c in merge_rounds(rounds)}
    s = merged["suffix"]
    assert s["throughput_ratio"] == 1.75 and s["server_throughput_tok_s"] == 125  # medians of the good rounds
    assert s["itl_change_pct"] == pytest.approx(-35.0)  # median of -50% and -20%
    assert s["requests"] == 8 and s["mismatches"] == 1 and s["lossless"] is False and s["failed_rounds"] == 1
    assert s["server"]["server_throughput_tok_s"] == pytest.approx(80 / (40 / 100 + 40 / 150))
    assert s["edge"]["rounds"] == 15 and s["edge"]["per_position_acceptance"] == [12 / 15, 0.0]
    assert [r["round"] for r in s["rounds"]] == [0, 1, 2] and s["rounds"][2]["error"]
    assert merged[SERVER_ONLY]["server_throughput_tok_s"] == 80 and merged[SERVER_ONLY]["lossless"] is True
    assert sum_stats(stats).proposed_at == [15, 5]
    with pytest.raises(ValueError):
        sum_stats([])
    failed = merge_rounds(
        [cell("suffix", 0, None, None, error="E1"), cell("suffix", 1, None, None, error="E2")]
    )
    assert failed[0]["error"] == "E1" and failed[0]["server_throughput_tok_s"] is None


def test_history_prompts_are_the_decisions_before_the_measured_ones() -> None:
    from splitsecond.benchmarks.spec_edge import build_prompts
    from splitsecond.serving.loader.model_loader import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    history, prompts = build_prompts("agent", tok, 3, history=2)
    together = history + prompts
    alone = build_prompts("agent", tok, 5)[1]
    # StreetFighter decisions (even positions) replay exactly; HFTBench stamps its wall-clock time
    assert together[0::2] == alone[0::2]
    assert len(set(history + prompts)) == 5  # every decision differs
    general_history, general = build_prompts("general", tok, 16, history=4)
    assert general_history == [] and len(set(general)) == 16


def test_tables_and_goals_print_with_failed_and_derived_cells() -> None:
    import io

    from rich.console import Console

    from splitsecond.benchmarks.spec_edge import _EMPTY_CELL, print_goals, print_tables

    so = {**_cell("agent", 1, 0.0, SERVER_ONLY, 10.0, 100.0), "lossless": True, "mismatches": 0}
    edge = {**_cell("agent", 1, 14.0, "prompt-lookup", 20.0, 50.0), "lossless": False, "mismatches": 2,
            "edge": {"mean_acceptance_length": 2.5, "acceptance_rate": 0.4, "bytes_per_round": 300.0}}  # fmt: skip
    failed = {**_EMPTY_CELL, "id": "agent/u1/rtt14/self:10", "workload": "agent", "users": 1, "rtt_ms": 14.0,
              "source": "self:10", "error": "VerifierError: closed"}  # fmt: skip
    cells = [so, derive_server_only(so, 14.0), edge, failed]
    compare_to_server_only(cells)
    out = io.StringIO()
    console = Console(file=out, width=200)
    print_tables(cells, console)
    print_goals(evaluate_goals(cells), console)
    text = out.getvalue()
    assert "error" in text and "(derived)" in text and "no (2)" in text
    assert "2.00x" in text and "-50%" in text


def test_goals_leave_out_the_model_upper_bound_unless_asked() -> None:
    cells = [
        _cell("general", 1, 14.0, SERVER_ONLY, 10.0, 100.0),
        _cell("general", 1, 14.0, "model", 40.0, 80.0),
        _cell("general", 1, 14.0, "prompt-lookup", 12.0, 95.0),
    ]
    compare_to_server_only(cells)
    goals = evaluate_goals(cells)
    assert goals["sources_excluded"] == ["model"]
    assert goals["server_throughput_ratio_at_14ms"]["best_cell"] == "general/u1/rtt14/prompt-lookup"
    assert goals["met"] is False
    upper = evaluate_goals(cells, exclude=())
    assert upper["cells_meeting_both"] == ["general/u1/rtt14/model"] and upper["met"] is True


def test_lossy_conditions_have_their_own_cells_and_peers() -> None:
    cfg = BenchConfig(rtts_ms=(14, 5, 50), lossy_rtts_ms=(14,), sources=("model:qwen2.5-coder-0.5b",))
    assert [c.label for c in cfg.conditions(real_link=True)] == ["rtt5", "rtt14", "rtt50", "rtt14-loss1"]
    assert [c.label for c in cfg.conditions(real_link=False)] == [
        "rtt5",
        "rtt14",
        "rtt50",
    ]  # no loss in-process
    assert cell_id("agent", 1, 14.0, "suffix", 1.0) == "agent/u1/rtt14-loss1/suffix"
    cells = []
    for loss, so_thr, edge_thr in ((0.0, 2.0, 5.0), (1.0, 2.0, 3.0)):
        for source, thr, itl in ((SERVER_ONLY, so_thr, 400.0), ("model:qwen2.5-coder-0.5b", edge_thr, 300.0)):
            c = _cell("agent", 1, 14.0, source, thr, itl)
            c.update(id=cell_id("agent", 1, 14.0, source, loss), loss_pct=loss, decision_ms=2 * itl)
            cells.append(c)
    compare_to_server_only(cells)
    clean, lossy = cells[1], cells[3]
    assert clean["vs"] == "agent/u1/rtt14/server-only" and clean["throughput_ratio"] == pytest.approx(2.5)
    assert lossy["vs"] == "agent/u1/rtt14-loss1/server-only" and lossy["throughput_ratio"] == pytest.approx(
        1.5
    )
    assert clean["decision_change_pct"] == pytest.approx(-25.0)


def test_cell_prompts_send_each_prompt_once_per_user() -> None:
    cfg = BenchConfig(requests_per_user=1, min_requests=3, prompts=8, users=(1, 4, 8))
    assert [cfg.cell_prompts(u, 8) for u in (1, 4, 8)] == [3, 4, 8]
    assert BenchConfig().cell_prompts(4, 16) == 16  # without requests_per_user: every prompt


def test_draft_model_goals_check_every_cell() -> None:
    from splitsecond.benchmarks.spec_edge import evaluate_draft_model_goals

    src = "model:qwen2.5-coder-0.5b"
    cells = [
        {"id": "agent/u1", "workload": "agent", "users": 1, "source": src, "throughput_ratio": 2.3,
         "itl_change_pct": -15.0, "lossless": True},
        {"id": "general/u4", "workload": "general", "users": 4, "source": src, "throughput_ratio": 1.4,
         "itl_change_pct": -20.0, "lossless": True},
        {"id": "agent/u8", "workload": "agent", "users": 8, "source": src, "throughput_ratio": 1.0,
         "itl_change_pct": 5.0, "lossless": True},
        {"id": "agent/u1/so", "workload": "agent", "users": 1, "source": SERVER_ONLY, "throughput_ratio": None},
    ]  # fmt: skip
    goals = evaluate_draft_model_goals(cells, src)
    by_id = {r["id"]: r for r in goals["cells"]}
    assert set(by_id) == {"agent/u1", "general/u4", "agent/u8"}
    assert by_id["agent/u1"]["throughput_met"] and by_id["agent/u1"]["itl_met"]
    assert by_id["general/u4"]["throughput_goal"] == 1.5 and not by_id["general/u4"]["throughput_met"]
    assert by_id["agent/u8"]["throughput_goal"] == 1.0 and by_id["agent/u8"]["throughput_met"]
    assert not by_id["agent/u8"]["itl_met"]
    assert not goals["throughput_met"] and not goals["itl_met"] and goals["lossless"]
    assert evaluate_draft_model_goals(cells, "model:other")["throughput_met"] is False  # no cells: not met


def test_qwen_preset_and_new_options_parse() -> None:
    import argparse

    from splitsecond.benchmarks.spec_edge import QWEN_PRESET, config_from_args

    def ns(**kw) -> argparse.Namespace:
        base = {"network": "auto", "preset": None, "quick": False, "rounds": None, "sources": None,
                "workloads": None, "pin": None, "loss": None, "users": None, "rtts": None, "lossy_rtts": None,
                "max_tokens": None}  # fmt: skip
        return argparse.Namespace(**{**base, **kw})

    cfg = config_from_args(ns(preset="qwen", lossy_rtts="14", rtts="5,14,50"))
    assert cfg.sources == (QWEN_PRESET["source"],) and cfg.users == (1, 4, 8) and cfg.pin
    assert [c.label for c in cfg.conditions(True)] == ["rtt5", "rtt14", "rtt50", "rtt14-loss1"]
    quick = config_from_args(ns(preset="qwen", quick=True, max_tokens="8", pin=False))
    assert quick.users == (1, 4) and quick.max_tokens == {"general": 8, "agent": 8} and not quick.pin
    with pytest.raises(ValueError, match="numbers"):
        config_from_args(ns(lossy_rtts="x"))
