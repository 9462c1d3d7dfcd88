"""Helpers of the plan cache benchmark (``benchmarks/plan_cache.py``); the benchmark itself needs a server."""

import pytest

from splitsecond.agents import PlanThenAct
from splitsecond.benchmarks import plan_cache


def test_health_share_is_positive_and_even_at_half():
    assert plan_cache._health_share([600, 200]) == pytest.approx(0.75)
    assert plan_cache._health_share([0, 0]) == 0.5
    assert plan_cache._health_share([0, 500]) == 0.0


def test_the_follow_arm_plays_plans_on_streetfighter():
    follow = plan_cache.ENVS["streetfighter-follow"]
    assert follow.actor == "follow" and follow.env_id == plan_cache.ENVS["streetfighter"].env_id
    assert PlanThenAct(actor=follow.actor).name == "plan-follow"
    check = plan_cache._plan_validator(follow)
    assert check("walk_forward then HP", "") is None and "no action" in check("be patient", "")
    assert plan_cache._plan_validator(plan_cache.ENVS["streetfighter"]) is None
    assert {s.actor for k, s in plan_cache.ENVS.items() if k != "streetfighter-follow"} == {"model"}


def test_unknown_env_is_refused():
    with pytest.raises(SystemExit):
        plan_cache.main(["--envs", "chess"])
