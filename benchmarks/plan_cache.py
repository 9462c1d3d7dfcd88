"""Plan cache benchmark: plan-then-act agents with and without the cache over the same seeds.

On StreetFighter (against the built-in ``zoner``) and HFTBench (against ``hft-market-maker``), a
plan-then-act LLM agent served by our engine (``splitsecond serve smollm2-135m``, a subprocess)
plays the same evaluation seeds twice: straight to the model, and through the ``apc/`` LiteLLM
layer with a :class:`~splitsecond.cache.PlanCache` that was warmed on separate seeds (and keeps
learning online). Per env it reports:

* cost: tokens of the planner (the "large" model's plan calls) — the cost the cache replaces —
  plus actor tokens, the cache's own overhead (keywords, template extraction, adaptation) and the
  total of everything;
* decision latency: mean and p95, measured wall time and modelled (token profile
  ``smollm2-135m-cpu``);
* score: win rate, mean reward and the share of health left (StreetFighter), mean reward/PnL "yield"
  (HFTBench);
* hit rate, false-hit rate and the other cache counters.

A third arm, ``streetfighter-follow``, uses the ``plan-follow`` style: the plan (a few action names)
is played as written, with no model call between plans, so the score depends on the plan alone:
that is where "keeps the uncached score" can be tested (SmolLM2's action calls mostly ignore the
plan in force, so in the other arms equal scores prove little).

Only one model is embedded (SmolLM2-135M): the "large" planner and the "cheap" keyword/adapter
model are the *same* model with different budgets (planner ``plan_tokens`` vs adapter
``max_tokens``); the JSON says so. Run::

    .venv/bin/python -m splitsecond.benchmarks.plan_cache --quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

logger = logging.getLogger(__name__)

MODEL = "openai/smollm2-135m"
MIN_SEGMENT_REWARD = -1e-9
"""Insert criterion of the benchmark: a segment that did not lose (reward >= 0) went well."""
RESULTS = Path(__file__).resolve().parent / "results" / "plan_cache.json"


@dataclass(frozen=True)
class EnvSetup:
    """One env of the benchmark: opponent, env settings, keyword vocabulary and reward."""

    name: str
    env_id: str
    opponent: str
    env_kwargs: dict[str, Any]
    vocabulary: tuple[str, ...]
    examples: tuple[tuple[str, str], ...]
    names: tuple[str, ...]
    reward_fn: Callable[[Any, Any], float]
    latency: str = "fixed:200"
    actor: str = "model"
    """``PlanThenAct.actor``: ``model`` (an action call per decision) or ``follow`` (the plan is played)."""
    extra: dict[str, Any] = field(default_factory=dict)


def _sf_reward(previous: Any, observation: Any) -> float:
    """Damage dealt minus damage taken (per 100 HP) between two observations."""
    from splitsecond.envs.streetfighter import decode_observation

    a, b = decode_observation(previous.data), decode_observation(observation.data)
    if b["match"]["round"] != a["match"]["round"]:
        won = b["self"]["rounds_won"] - a["self"]["rounds_won"]
        lost = b["opponent"]["rounds_won"] - a["opponent"]["rounds_won"]
        return 5.0 * (won - lost)
    dealt = a["opponent"]["health"] - b["opponent"]["health"]
    taken = a["self"]["health"] - b["self"]["health"]
    return (dealt - taken) / 100.0


def _hft_reward(previous: Any, observation: Any) -> float:
    """Equity change (dollars) between two observations."""
    return float(observation.info.get("equity", 0.0)) - float(previous.info.get("equity", 0.0))


_STREETFIGHTER = EnvSetup(
    name="streetfighter",
    env_id="splitsecond/StreetFighter-v0",
    opponent="zoner",
    env_kwargs={"round_seconds": 5, "rounds_to_win": 1},
    vocabulary=("approach", "attack", "defend", "zone", "punish"),
    examples=(
        ("Distance 2000 (far). Opponent standing, free to act.", "approach"),
        ("Distance 300 (close). Opponent recovering from a kick.", "punish"),
        ("Opponent jumping in. Your health is low.", "defend"),
    ),
    names=("brick", "zara", "ryu", "ken"),
    reward_fn=_sf_reward,
)

ENVS = {
    "streetfighter": _STREETFIGHTER,
    # the plan is played as written (plan-follow): the score depends on the plan alone
    "streetfighter-follow": replace(_STREETFIGHTER, name="streetfighter-follow", actor="follow"),
    "hftbench": EnvSetup(
        name="hftbench",
        env_id="splitsecond/HFTBench-v0",
        opponent="hft-market-maker",
        env_kwargs={"session_seconds": 15.0, "decision_interval_ms": 1000.0},
        vocabulary=("buy", "sell", "hold", "make market", "cancel"),
        examples=(
            ("ACME bid 99.95 | ask 100.01, rising. pos +0. News: ACME beats estimates.", "buy"),
            ("pos +300 ACME, price falling, PnL -$40.", "sell"),
            ("Spread wide, no news, pos +0.", "make market"),
        ),
        names=("ACME", "BOLT", "CHIP", "IDX"),
        reward_fn=_hft_reward,
    ),
}


# ---------------------------------------------------------------------------------- metering
def _meter_class() -> Any:
    """A pass-through LiteLLM provider ``meter/<model>`` that counts plan-call and other tokens."""
    import litellm
    from litellm import CustomLLM

    from splitsecond.cache.client import usage_from_response
    from splitsecond.cache.layer import is_plan_call

    class Meter(CustomLLM):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = {"plan": 0, "act": 0}
            self.calls = {"plan": 0, "act": 0}

        def completion(
            self,
            model,
            messages,
            api_base,
            custom_prompt_dict,
            model_response,
            print_verbose,
            encoding,
            api_key,
            logging_obj,
            optional_params,
            acompletion=None,
            litellm_params=None,
            logger_fn=None,
            headers=None,
            timeout=None,
            client=None,
        ):  # noqa: ANN001, ANN201
            kwargs = {k: v for k, v in optional_params.items() if k not in ("max_retries", "stream")}
            role = "plan" if is_plan_call(messages, optional_params, {}) else "act"
            response = litellm.completion(model=model, messages=messages, api_base=api_base, api_key=api_key,
                                          num_retries=0, timeout=timeout, **kwargs)  # fmt: skip
            u = usage_from_response(response)
            self.tokens[role] += u.prompt_tokens + u.completion_tokens
            self.calls[role] += 1
            return response

    return Meter


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def _reduction(base: float, new: float) -> float | None:
    return None if base <= 0 else 1.0 - new / base


def _play(setup: EnvSetup, agent: Any, seed: int, max_decisions: int | None) -> dict[str, Any]:
    from splitsecond.agents import load_profile
    from splitsecond.agents.arena import MatchConfig, read_episode_log, run_match

    profile = load_profile("smollm2-135m-cpu")
    out_dir = Path(tempfile.mkdtemp(prefix="apc-bench-"))

    fighting = setup.env_id.endswith("StreetFighter-v0")
    me_id, other_id = ("player_0", "player_1") if fighting else ("trader_0", "trader_1")
    result = run_match(
        {me_id: agent, other_id: setup.opponent},
        MatchConfig(env_id=setup.env_id, seed=seed, env_kwargs=setup.env_kwargs, max_decisions=max_decisions,
                    act_timeout_s=300.0, out_dir=out_dir),
        latency={me_id: setup.latency},
    )  # fmt: skip
    me = result.agents[me_id]
    usages = [
        r["usage"]
        for r in read_episode_log(result.log_path)
        if r["type"] == "decision" and r["agent"] == me_id
    ]
    modelled = [
        profile.latency_ms(u["prompt"], u["cached"], u["completion"], max(1, u["requests"])) for u in usages
    ]
    health = result.details.get("health") if fighting else None
    return {
        "seed": seed,
        "score": me.score,
        # StreetFighter: my share of the health left at the end (0.5 = even); a positive score
        "health_share": _health_share(health) if health else None,
        "won": result.winner == me.agent_id,
        "decisions": me.decisions,
        "fallbacks": me.fallbacks,
        "measured_ms": list(me.measured_ms),
        "modelled_ms": modelled,
        "tokens": me.usage.prompt_tokens + me.usage.completion_tokens,
        "end_reason": result.end_reason,
    }


def _plan_validator(setup: EnvSetup) -> Callable[[str, str], str | None] | None:
    """For a played plan (``follow``), an adapted plan must name at least one of the env's actions."""
    if setup.actor != "follow":
        return None
    from splitsecond.agents.parsing import actions_in_order
    from splitsecond.envs.streetfighter.actions import ACTION_NAMES

    def names_an_action(plan: str, situation: str) -> str | None:
        return None if actions_in_order(plan, ACTION_NAMES) else "the adapted plan names no action"

    return names_an_action


def _health_share(health: list[float]) -> float:
    """My (first) share of the health both fighters have left; 0.5 when both are at zero."""
    mine, theirs = float(health[0]), float(health[1])
    return 0.5 if mine + theirs <= 0 else mine / (mine + theirs)


def _summarise(matches: list[dict[str, Any]]) -> dict[str, Any]:
    measured = [x for m in matches for x in m["measured_ms"]]
    modelled = [x for m in matches for x in m["modelled_ms"]]
    return {
        "matches": len(matches),
        "decisions": sum(m["decisions"] for m in matches),
        "fallbacks": sum(m["fallbacks"] for m in matches),
        "win_rate": sum(m["won"] for m in matches) / len(matches),
        "mean_score": statistics.fmean(m["score"] for m in matches),
        "scores": [m["score"] for m in matches],
        "mean_health_share": (
            statistics.fmean(m["health_share"] for m in matches)
            if all(m["health_share"] is not None for m in matches)
            else None
        ),
        "latency_measured_ms": {
            "mean": statistics.fmean(measured),
            "median": statistics.median(measured),
            "p95": _percentile(measured, 0.95),
        },
        "latency_modelled_ms": {
            "mean": statistics.fmean(modelled),
            "median": statistics.median(modelled),
            "p95": _percentile(modelled, 0.95),
        },
    }


def run_env(
    setup: EnvSetup, api_base: str, warm_seeds: list[int], eval_seeds: list[int], max_decisions: int,
    plan_every: int, plan_tokens: int, adapter_tokens: int, db: Path,
) -> dict[str, Any]:  # fmt: skip
    """Warm a cache on ``warm_seeds``, then play ``eval_seeds`` without and with it."""
    import litellm

    from splitsecond.agents import LLMAgent, PlanThenAct
    from splitsecond.cache import (
        Adapter,
        CachePolicy,
        InsertCriterion,
        LLMKeywordExtractor,
        LLMTemplateExtractor,
        MatcherConfig,
        PlanCache,
        PlanFeedback,
        RuleTemplateExtractor,
        register,
    )  # fmt: skip
    from splitsecond.cache.layer import unregister

    meter = _meter_class()()
    litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p["provider"] != "meter"] + [
        {"provider": "meter", "custom_handler": meter}
    ]
    cache = PlanCache(
        db,
        keywords=LLMKeywordExtractor(examples=setup.examples, vocabulary=setup.vocabulary, max_tokens=4),
        templates=LLMTemplateExtractor(rules=RuleTemplateExtractor(names=setup.names), max_tokens=48),
        adapter=Adapter(max_tokens=adapter_tokens, validator=_plan_validator(setup)),
        matcher=MatcherConfig(semantic=True),
        policy=CachePolicy(insert=InsertCriterion(min_reward=MIN_SEGMENT_REWARD, min_decisions=1)),
    )
    cache.clear()
    register(cache)
    thinking = PlanThenAct(every=plan_every, plan_tokens=plan_tokens, actor=setup.actor)

    def agent(cached: bool) -> Any:
        model = f"meter/apc/{MODEL}" if cached else f"meter/{MODEL}"
        llm = LLMAgent(model, api_base=api_base, thinking=thinking, structured="choice",
                       name="cached" if cached else "uncached")  # fmt: skip
        return PlanFeedback(llm, cache, setup.reward_fn) if cached else llm

    def snapshot() -> dict[str, Any]:
        return {"meter": json.loads(json.dumps(meter.tokens)), "cache": cache.metrics.summary()}

    try:
        for seed in warm_seeds:
            _play(setup, agent(True), seed, max_decisions)
        entries_after_warmup = cache.store.count()
        out: dict[str, Any] = {}
        for arm in ("uncached", "cached"):
            before = snapshot()
            matches = [_play(setup, agent(arm == "cached"), s, max_decisions) for s in eval_seeds]
            after = snapshot()
            summary = _summarise(matches)
            delta = {k: after["cache"][k] - before["cache"][k] for k in after["cache"]}
            plan_step = after["meter"]["plan"] - before["meter"]["plan"]
            act = after["meter"]["act"] - before["meter"]["act"]
            if arm == "uncached":
                planner = plan_step
                overhead = 0
            else:
                planner = int(delta["planner_tokens"])
                overhead = int(delta["keyword_tokens"] + delta["extraction_tokens"] + delta["adapter_tokens"])
            summary["tokens"] = {
                "planner_large": planner,
                "actor": act,
                "cache_overhead": overhead,
                "total": planner + act + overhead,
            }
            if arm == "cached":
                lookups = delta["lookups"] or 1
                summary["cache"] = {
                    "hit_rate": delta["hits"] / lookups,
                    "false_hit_rate": delta["false_hits"] / delta["hits"] if delta["hits"] else 0.0,
                    **{k: delta[k] for k in ("lookups", "hits", "hits_exact", "hits_semantic", "misses",
                                             "false_hits", "adapt_rejected", "adapter_calls", "inserts",
                                             "wins", "demotions", "removals", "semantic_rejected",
                                             "keyword_tokens", "extraction_tokens", "adapter_tokens",
                                             "tokens_saved", "latency_saved_ms")},
                }  # fmt: skip
            out[arm] = summary
        u, c = out["uncached"], out["cached"]
        out["comparison"] = {
            "planner_cost_reduction": _reduction(u["tokens"]["planner_large"], c["tokens"]["planner_large"]),
            "total_token_reduction": _reduction(u["tokens"]["total"], c["tokens"]["total"]),
            "mean_latency_reduction_measured": _reduction(
                u["latency_measured_ms"]["mean"], c["latency_measured_ms"]["mean"]
            ),
            "p95_latency_reduction_measured": _reduction(
                u["latency_measured_ms"]["p95"], c["latency_measured_ms"]["p95"]
            ),
            "mean_latency_reduction_modelled": _reduction(
                u["latency_modelled_ms"]["mean"], c["latency_modelled_ms"]["mean"]
            ),
            "score_ratio": (c["mean_score"] / u["mean_score"]) if u["mean_score"] > 0 else None,
            "health_share_ratio": (
                c["mean_health_share"] / u["mean_health_share"] if u["mean_health_share"] else None
            ),
            "score_difference": c["mean_score"] - u["mean_score"],
            "win_rate_difference": c["win_rate"] - u["win_rate"],
        }
        out["actor"] = setup.actor
        out["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        out["entries_after_warmup"] = entries_after_warmup
        out["entries_at_end"] = cache.store.count()
        return out
    finally:
        unregister()
        litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p["provider"] != "meter"]
        cache.close()


def _table(results: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="Plan cache: uncached vs cached (same eval seeds)")
    for col in ("env", "arm", "planner tok", "total tok", "lat mean/p95 ms (wall)", "lat mean ms (model)",
                "score", "health share", "win", "hit", "false hit"):  # fmt: skip
        table.add_column(col, justify="right")
    for env, r in results["envs"].items():
        for arm in ("uncached", "cached"):
            s = r[arm]
            cache = s.get("cache", {})
            table.add_row(
                env, arm, str(s["tokens"]["planner_large"]), str(s["tokens"]["total"]),
                f"{s['latency_measured_ms']['mean']:.0f}/{s['latency_measured_ms']['p95']:.0f}",
                f"{s['latency_modelled_ms']['mean']:.0f}", f"{s['mean_score']:+.2f}",
                "-" if s.get("mean_health_share") is None else f"{s['mean_health_share']:.2f}",
                f"{s['win_rate']:.2f}",
                f"{cache.get('hit_rate', 0):.2f}" if cache else "-",
                f"{cache.get('false_hit_rate', 0):.2f}" if cache else "-",
            )  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (see the module docstring) and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="few seeds and decisions (minutes)")
    parser.add_argument(
        "--envs",
        default=",".join(ENVS),
        help=f"comma-separated, of: {', '.join(ENVS)}",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--merge", action="store_true", help="keep the other envs' results already in --out (same mode)"
    )
    parser.add_argument("--api-base", default=None, help="use a running server instead of starting one")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    unknown = [e for e in envs if e not in ENVS]
    if unknown:
        parser.error(f"unknown envs {unknown}; valid: {', '.join(ENVS)}")
    if args.quick:
        warm, evals, max_decisions = [100, 101], [1, 2, 3], None
    else:
        warm, evals, max_decisions = [100, 101, 102, 103], [1, 2, 3, 4, 5, 6], None
    settings = {"plan_every": 2, "plan_tokens": 48, "adapter_tokens": 24}

    from rich.console import Console

    from splitsecond.serving.server import start_server_subprocess

    t0 = time.perf_counter()
    server = None
    if args.api_base is None:
        server = start_server_subprocess("smollm2-135m", timeout_s=300)
    api_base = args.api_base or server.api_base
    results: dict[str, Any] = {
        "benchmark": "plan_cache",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "mode": "quick" if args.quick else "full",
        "model": MODEL,
        "note": (
            "Only one model is embedded (SmolLM2-135M): the large planner and the cheap keyword/adapter "
            "model are the same model with different budgets (planner plan_tokens vs adapter max_tokens; "
            "keyword calls are constrained to a vocabulary, a few tokens). 'planner_large' tokens are the "
            "plan calls that reach the planner; cached-arm plan steps cost keyword + adaptation tokens, "
            "counted under cache_overhead. Wall latencies are noisy on a shared 2-core machine; the "
            "modelled latency uses the placeholder profile smollm2-135m-cpu. The cache is warmed on "
            "warm_seeds (cached agent only) and keeps learning during the cached eval. The simulation "
            "charges every decision a fixed 200 ms (both arms face the same world timing, so scores "
            "compare plan quality); decision latency is reported separately. Insert criterion: a plan "
            "segment with reward >= 0."
        ),
        "settings": {
            **settings,
            "warm_seeds": warm,
            "eval_seeds": evals,
            "max_decisions": max_decisions,
            "sim_latency": {k: v.latency for k, v in ENVS.items()},
            "min_segment_reward": MIN_SEGMENT_REWARD,
            "env_kwargs": {k: v.env_kwargs for k, v in ENVS.items()},
        },
        "envs": {},
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in envs:
                logger.warning("plan cache benchmark: %s", name)
                results["envs"][name] = run_env(
                    ENVS[name], api_base, warm, evals, max_decisions, db=Path(tmp) / f"{name}.db", **settings
                )
    finally:
        if server is not None:
            server.stop()
    results["wall_s"] = time.perf_counter() - t0
    if args.merge and args.out.exists():
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        if previous.get("mode") == results["mode"]:
            results["envs"] = {**previous.get("envs", {}), **results["envs"]}
            results["wall_s"] += previous.get("wall_s", 0.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    Console().print(_table(results))
    for name, r in results["envs"].items():
        Console().print(name, json.dumps(r["comparison"], indent=1))
    return results


if __name__ == "__main__":
    main()
