"""Helpers of the plan cache benchmark (``benchmarks/plan_cache.py``): pricing by latency profiles,
intervals, metering roles and argument checks. The benchmark itself needs three model servers."""

import pytest

from splitsecond.agents.thinking import PlanThenAct, parse_thinking
from splitsecond.benchmarks import plan_cache as pc


def pricing():
    return pc.Pricing.load(pc.PLANNER, pc.ADAPTERS)


def test_a_planner_call_costs_its_computed_tokens_and_an_adapter_call_less():
    p = pricing()
    plan = pc.CallRecord("qwen2.5-coder-1.5b", "plan", prompt=400, cached=360, completion=20)
    assert plan.computed == 60
    assert p.planner_tokens(plan) == pytest.approx(60)
    same = pc.CallRecord("smollm2-135m", "cache", prompt=400, cached=360, completion=20)
    assert 0 < p.planner_tokens(same) < 60 and p.ms(same) < p.ms(plan)
    cost = pc.cost_of([plan, same, pc.CallRecord("qwen2.5-coder-1.5b", "act", 400, 390, 2)], p)
    assert cost["total"]["calls"] == 3 and cost["plan_step"]["calls"] == 2
    assert cost["cache"]["computed_tokens"] == 60 and cost["act"]["computed_tokens"] == 12
    with pytest.raises(ValueError, match="no latency profile"):
        p.ms(pc.CallRecord("gpt-5", "plan", 1, 0, 1))


def test_ledger_names_models_by_short_name_and_skips_no_call():
    from splitsecond.cache import Usage

    ledger = pc.Ledger()
    mark = ledger.mark()
    ledger.add("meter/openai/qwen2.5-coder-1.5b", "plan", Usage(10, 4, 3, requests=1))
    ledger.add("openai/smollm2-135m", "cache", Usage())
    assert ledger.since(mark) == [pc.CallRecord("qwen2.5-coder-1.5b", "plan", 10, 4, 3)]


def test_intervals_and_paired_score_comparison():
    mean, lo, hi = pc.t_interval([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6) and lo < 0.6 < hi and hi - mean == pytest.approx(mean - lo)
    assert pc.t_interval([0.4]) == (0.4, 0.4, 0.4)
    same = pc.compare_scores([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert same["difference"] == 0 and same["ratio"]["ratio"] == pytest.approx(1.0)
    worse = pc.compare_scores([0.5, 0.6, 0.7], [0.4, 0.55, 0.6])
    assert worse["ratio"]["high"] < 1.0
    assert pc.compare_scores([-1.0, 1.0], [0.0, 0.0])["ratio"] is None  # no ratio of a signed mean 0
    with pytest.raises(ValueError, match="paired"):
        pc.compare_scores([1.0], [1.0, 2.0])
    assert pc.percentile([1, 2, 3, 4, 100], 0.95) == 100 and pc.percentile([], 0.95) == 0.0
    assert pc.reduction(200, 50) == pytest.approx(0.75) and pc.reduction(0, 1) is None


def test_plan_calls_are_told_from_action_calls():
    plan_schema = {"response_format": {"type": "json_schema", "json_schema": {"name": "plan"}}}
    assert pc._is_plan([], plan_schema, {})
    assert pc._is_plan([], {}, {"apc_role": "plan"}) and not pc._is_plan([], plan_schema, {"apc_role": "act"})
    free = [{"role": "user", "content": "Now:\nFAR\n\nWrite a short fighting plan for the next few moves."}]
    assert pc._is_plan(free, {}, {})
    assert not pc._is_plan(free, {"extra_body": {"structured_outputs": {"choice": ["LP"]}}}, {})


def test_templates_keep_button_names_and_follow_plans_must_name_an_action():
    assert {"LP", "HP", "MK"} <= set(pc._protected())
    check = pc._validator("plan-follow:4")
    assert check('{"steps": ["walk_forward", "LP"]}', "") is None and "no action" in check("be patient", "")
    assert pc._validator("plan-then-act:4") is None


def test_envs_play_plan_styles_and_bad_arguments_are_refused():
    for setup in pc.ENVS.values():
        assert all(isinstance(parse_thinking(s), PlanThenAct) for s in setup.styles)
    assert not any(s.startswith("plan-follow") for s in pc.ENVS["hftbench"].styles)  # text orders
    with pytest.raises(SystemExit):
        pc.main(["--envs", "chess"])
    with pytest.raises(SystemExit):
        pc.main(["--styles", "reflex"])
    with pytest.raises(SystemExit):
        pc.main(["--adapters", ""])


def test_the_planners_own_answer_is_compared_only_while_the_matches_agree():
    plan = {"role": "plan"}

    def match(played, planned):
        return {"seed": 1, "played": played, "calls": [[plan] if p else [] for p in planned]}

    uncached = match([["1", "a"], ["2", "a"], ["3", "b"], ["4", "b"], ["5", "c"]], [1, 0, 1, 0, 1])
    # decision 0: planner (same plan); 2: a hit with the planner's plan; 4: a hit with another plan
    same = match([["1", "a"], ["2", "a"], ["3", "b"], ["4", "b"], ["5", "x"]], [1, 0, 0, 0, 0])
    got = pc.plan_agreement([uncached], [same], every=2)
    assert got == {"compared": 3, "hits_compared": 2, "same_plan": 2, "hits_with_another_plan": 1,
                   "hit_false_rate": 0.5}  # fmt: skip
    # once the cached match played another action, later situations are not comparable
    parted = match([["1", "a"], ["9", "a"], ["3", "b"], ["4", "b"], ["5", "x"]], [1, 0, 0, 0, 0])
    assert pc.plan_agreement([uncached], [parted], every=2)["compared"] == 1
