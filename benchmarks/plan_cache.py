"""Plan cache benchmark: a large planner, a small adapter, agents that play; cached against uncached.

The planner is ``qwen2.5-coder-1.5b``; the cache's cheap model (keyword fallback and template
adaptation) is ``smollm2-135m``, with ``qwen2.5-coder-0.5b`` as a second adapter arm; all three are
served by our engine (subprocesses, one after another's calls: never two computing at once). Per env
and thinking style (StreetFighter against ``rushdown``: ``plan-follow:N`` and ``plan-then-act:N``;
HFTBench against ``hft-market-maker``: ``plan-then-act:N``, its orders are text), the run:

1. warms a plan cache on warm-up seeds (the cached agent, first adapter);
2. plays the evaluation seeds cached, once per adapter, each arm starting from a copy of the warmed
   store (and learning online, as a deployed cache would);
3. plays the same seeds uncached (every plan from the planner), last: the planner server's prefix
   cache then already holds what the cached arms computed on those seeds, which can only flatter the
   uncached arm (the reductions are conservative).

The world waits while the agent thinks (``paused`` latency, one decision per ``decision_interval_ms``
of game time), so both arms face the same opponents in the same world and scores compare plans. Decision
latency is *modelled*: each model call is priced by the latency profile of the model that served it
(``agents/latency/profiles/<model>-cpu.toml``, measured here by ``splitsecond calibrate``), so results do
not depend on the machine's load. Per arm the JSON reports:

* cost: planner-equivalent tokens (each call's computed prompt, cached prompt and completion tokens
  weighted by its model's per-token time relative to the planner's), computed tokens (prompt not served
  by the prefix cache, plus completion) and modelled milliseconds, in total and for the plan step (plan
  calls and the cache's own calls: what the cache replaces);
* mean and p95 decision latency (modelled);
* hit rate, false-hit rate (hits whose adapted plan failed validation or whose segment lost) and, for
  context, how often the planner's own fresh plans lost;
* score with a 95 % interval (StreetFighter: the share of health left, wins; HFTBench: yield) and the
  paired cached - uncached difference;
* the cache's overhead in computed tokens (keyword, extraction and adaptation calls).

Keywords come from rules on the observation text first (:mod:`splitsecond.cache.situation_rules`), the
adapter model only when no rule matches; templates are extracted by rules (no call). Run::

    python -m splitsecond.benchmarks.plan_cache --quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

logger = logging.getLogger(__name__)

PLANNER = "qwen2.5-coder-1.5b"
ADAPTERS = ("smollm2-135m", "qwen2.5-coder-0.5b")
MIN_SEGMENT_REWARD = -1e-9
"""Insert criterion: a plan segment that did not lose (reward >= 0) went well."""
START_CASH = 100_000.0
"""HFTBench's default starting cash (the yield's denominator)."""
RESULTS = Path(__file__).resolve().parent / "results" / "plan_cache.json"
PREVIOUS_RESULTS = RESULTS.with_name("plan_cache_smollm2_only.json")
"""Where the earlier format's figures (SmolLM2 as planner and adapter) are kept."""


@dataclass(frozen=True)
class EnvSetup:
    """One env of the benchmark: opponent, env settings, styles, adapter vocabulary and reward."""

    name: str
    env_id: str
    opponent: str
    env_kwargs: dict[str, Any]
    styles: tuple[str, ...]
    vocabulary: tuple[str, ...]
    examples: tuple[tuple[str, str], ...]
    names: tuple[str, ...]
    reward_fn: Callable[[Any, Any], float]
    quick_kwargs: dict[str, Any] = field(default_factory=dict)


def _sf_reward(previous: Any, observation: Any) -> float:
    """Damage dealt minus damage taken (per 100 HP) between two observations; 5 per round won/lost."""
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


ENVS: dict[str, EnvSetup] = {
    "streetfighter": EnvSetup(
        name="streetfighter",
        env_id="splitsecond/StreetFighter-v0",
        opponent="rushdown",
        env_kwargs={"round_seconds": 8, "rounds_to_win": 1, "decision_interval_ms": 500},
        quick_kwargs={"round_seconds": 4},
        styles=("plan-follow:4", "plan-then-act:4"),
        vocabulary=("approach", "attack", "defend", "zone", "punish"),
        examples=(
            ("In reach: nothing (too far). Situation: FAR (gap 2000).", "approach"),
            ("In reach: LP, HP. Situation: PUNISH (opponent recovering from HK).", "punish"),
            ("In reach: LP. Situation: OPPONENT JUMPING IN (gap 300).", "defend"),
        ),
        names=("kai", "brick", "zara", "ryu", "ken"),
        reward_fn=_sf_reward,
    ),
    "hftbench": EnvSetup(
        name="hftbench",
        env_id="splitsecond/HFTBench-v0",
        opponent="hft-market-maker",
        env_kwargs={"session_seconds": 9.0, "decision_interval_ms": 1000.0},
        quick_kwargs={"session_seconds": 4.0},
        styles=("plan-then-act:3",),
        vocabulary=("buy", "sell", "hold", "make market", "cancel"),
        examples=(
            ("ACME bid 99.95 | ask 100.01 pos +0. News: ACME beats estimates.", "buy"),
            ("ACME pos +300, price falling. News: ACME misses estimates.", "sell"),
            ("Spread wide, pos +0. News: none.", "make market"),
        ),
        names=("ACME", "BOLT", "CHIP", "IDX"),
        reward_fn=_hft_reward,
    ),
}


# ---------------------------------------------------------------------------------- ledger
@dataclass(frozen=True)
class CallRecord:
    """One model call: which model served it, for what, and its tokens."""

    model: str
    role: str
    prompt: int
    cached: int
    completion: int

    @property
    def computed(self) -> int:
        """Tokens the server computed: the prompt not served by its prefix cache, plus the completion."""
        return max(0, self.prompt - self.cached) + self.completion


class Ledger:
    """Every model call of the run, in order (the agent's decisions run one at a time)."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self._lock = threading.Lock()

    def add(self, model: str, role: str, usage: Any) -> None:
        """Record a call from its LiteLLM usage or a cache :class:`~splitsecond.cache.Usage`."""
        from splitsecond.cache.client import Usage, usage_from_response

        u = usage if isinstance(usage, Usage) else usage_from_response(usage)
        if not u.requests:
            return
        with self._lock:
            self.calls.append(
                CallRecord(_short(model), role, u.prompt_tokens, u.cached_tokens, u.completion_tokens)
            )

    def mark(self) -> int:
        """The position of the next call."""
        with self._lock:
            return len(self.calls)

    def since(self, mark: int) -> list[CallRecord]:
        """The calls recorded after ``mark``."""
        with self._lock:
            return list(self.calls[mark:])


def _short(model: str) -> str:
    """``openai/qwen2.5-coder-1.5b`` (or ``meter/openai/...``) -> ``qwen2.5-coder-1.5b``."""
    return model.rsplit("/", 1)[-1]


class Pricing:
    """Prices calls by each model's latency profile (``<model>-cpu``), in planner-equivalent tokens.

    A call on model ``m`` counts its computed prompt tokens times ``m.ttft_per_token / P.ttft_per_token``,
    its cached prompt tokens times ``m.ttft_per_cached_token / P.ttft_per_token`` and its completion
    tokens times ``m.tpot / P.tpot`` (``P``: the planner): the planner tokens that take as long. A
    planner call is its computed tokens.
    """

    def __init__(self, planner: str, profiles: dict[str, Any]) -> None:
        if planner not in profiles:
            raise ValueError(f"no latency profile for the planner {planner!r}")
        self.planner = planner
        self.profiles = profiles

    @classmethod
    def load(cls, planner: str, models: Sequence[str]) -> Pricing:
        """Profiles ``<model>-cpu`` of the planner and ``models``."""
        from splitsecond.agents import load_profile

        return cls(planner, {m: load_profile(f"{m}-cpu") for m in {planner, *models}})

    def _profile(self, model: str) -> Any:
        if model not in self.profiles:
            raise ValueError(f"no latency profile for {model!r}; have {sorted(self.profiles)}")
        return self.profiles[model]

    def ms(self, call: CallRecord) -> float:
        """The call's modelled latency (its model's profile, one request)."""
        return self._profile(call.model).latency_ms(call.prompt, call.cached, call.completion, 1)

    def planner_tokens(self, call: CallRecord) -> float:
        """The call in planner-equivalent tokens (see the class docstring)."""
        m, p = self._profile(call.model), self.profiles[self.planner]
        uncached = max(0, call.prompt - call.cached)
        cached = min(call.cached, call.prompt)
        return (
            uncached * m.ttft_per_token_ms / p.ttft_per_token_ms
            + cached * m.ttft_per_cached_token_ms / p.ttft_per_token_ms
            + call.completion * m.tpot_ms / p.tpot_ms
        )


def cost_of(calls: Sequence[CallRecord], pricing: Pricing) -> dict[str, Any]:
    """Cost of ``calls``: planner-equivalent tokens, computed tokens and modelled ms, in all and per role."""

    def one(cs: Sequence[CallRecord]) -> dict[str, float]:
        return {
            "calls": len(cs),
            "planner_eq_tokens": round(sum(pricing.planner_tokens(c) for c in cs), 1),
            "computed_tokens": sum(c.computed for c in cs),
            "prompt_tokens": sum(c.prompt for c in cs),
            "cached_tokens": sum(c.cached for c in cs),
            "modelled_ms": round(sum(pricing.ms(c) for c in cs), 1),
        }

    roles = sorted({c.role for c in calls})
    return {
        "total": one(calls),
        "plan_step": one([c for c in calls if c.role != "act"]),
        **{role: one([c for c in calls if c.role == role]) for role in roles},
    }


# ---------------------------------------------------------------------------------- statistics
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean with a two-sided 95 % Student-t interval (a point for n < 2)."""
    if not values:
        raise ValueError("t_interval needs at least one value")
    mean = statistics.fmean(values)
    n = len(values)
    if n < 2:
        return mean, mean, mean
    half = _T95.get(n - 1, 1.96) * statistics.stdev(values) / math.sqrt(n)
    return mean, mean - half, mean + half


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def reduction(base: float, new: float) -> float | None:
    """``1 - new / base`` (``None`` when ``base`` is not positive)."""
    return None if base <= 0 else 1.0 - new / base


def compare_scores(uncached: Sequence[float], cached: Sequence[float]) -> dict[str, Any]:
    """Paired comparison of a positive quality score over the same seeds: the difference with its 95 %
    t interval, and the ratio cached / uncached with the interval ``1 + difference interval / uncached
    mean`` (the uncached mean held fixed)."""
    if len(uncached) != len(cached) or not uncached:
        raise ValueError("compare_scores needs the same non-zero number of paired scores")
    diff, lo, hi = t_interval([c - u for u, c in zip(uncached, cached, strict=True)])
    base = statistics.fmean(uncached)
    ratio = None if base <= 0 else {
        "ratio": 1.0 + diff / base, "low": 1.0 + lo / base, "high": 1.0 + hi / base
    }  # fmt: skip
    return {"difference": diff, "difference_ci95": [lo, hi], "ratio": ratio}


# ---------------------------------------------------------------------------------- metering
def _is_plan(
    messages: list[dict[str, Any]], optional_params: dict[str, Any], metadata: dict[str, Any]
) -> bool:
    """A plan call: the agent's ``apc_role``, a JSON-schema plan, or the layer's own detector."""
    from splitsecond.cache.layer import is_plan_call

    if metadata.get("apc_role") is not None:
        return metadata["apc_role"] == "plan"
    schema = (optional_params.get("response_format") or {}).get("json_schema") or {}
    return schema.get("name") == "plan" or is_plan_call(messages, optional_params, {})


def _meter(ledger: Ledger) -> Any:
    """A pass-through LiteLLM provider ``meter/<model>`` that records each call in ``ledger``."""
    import litellm
    from litellm import CustomLLM

    class Meter(CustomLLM):
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
            metadata = (litellm_params or {}).get("metadata") or {}
            role = "plan" if _is_plan(messages, optional_params, metadata) else "act"
            response = litellm.completion(
                model=model,
                messages=messages,
                api_base=api_base,
                api_key=api_key,
                num_retries=0,
                timeout=timeout,
                **kwargs,
            )
            ledger.add(model, role, response)
            return response  # fmt: skip

    return Meter()


def _metered_client(model: str, api_base: str, ledger: Ledger) -> Any:
    """The cache's cheap model, each call recorded in ``ledger`` (role ``cache``)."""
    from splitsecond.cache import ModelClient

    class Metered(ModelClient):
        def complete(self, messages, max_tokens, choices=None, regex=None):  # noqa: ANN001, ANN201
            done = super().complete(messages, max_tokens, choices, regex)
            ledger.add(self.model, "cache", done.usage)
            return done

    return Metered(f"openai/{model}", api_base, timeout_s=300.0)


class Recorded:
    """Wraps an agent: the calls made during each decision (from the ledger), per decision."""

    def __init__(self, agent: Any, ledger: Ledger) -> None:
        self.agent = agent
        self.ledger = ledger
        self.name = str(getattr(agent, "name", type(agent).__name__))
        self.decisions: list[list[CallRecord]] = []
        self.played: list[tuple[str, str | None]] = []  # (action, plan in force) per decision

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["agent"], name)

    def reset(self, spec: Any, seed: int | None = None) -> None:
        """Reset the wrapped agent."""
        self.agent.reset(spec, seed)

    def act(self, observation: Any) -> Any:
        """Decide with the wrapped agent, keeping the decision's calls."""
        mark = self.ledger.mark()
        decision = self.agent.act(observation)
        self.decisions.append(self.ledger.since(mark))
        trace = getattr(decision, "trace", None)
        plan = getattr(trace, "plan", None)
        self.played.append((str(decision.action), " ".join(plan.split()) if plan else None))
        return decision

    def close(self) -> None:
        """Close the wrapped agent."""
        closer = getattr(self.agent, "close", None)
        if callable(closer):
            closer()


# ---------------------------------------------------------------------------------- playing
def _play(setup: EnvSetup, agent: Recorded, seed: int, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """One match of ``agent`` against the env's scripted opponent; the match's figures."""
    from splitsecond.agents.arena import MatchConfig, run_match

    fighting = setup.env_id.endswith("StreetFighter-v0")
    me, other = ("player_0", "player_1") if fighting else ("trader_0", "trader_1")
    start = len(agent.decisions)
    with tempfile.TemporaryDirectory(prefix="apc-bench-") as out_dir:
        result = run_match(
            {me: agent, other: setup.opponent},
            MatchConfig(env_id=setup.env_id, seed=seed, env_kwargs=env_kwargs, act_timeout_s=600.0,
                        out_dir=Path(out_dir)),
            latency={me: "paused"},
        )  # fmt: skip
    stats = result.agents[me]
    row: dict[str, Any] = {
        "seed": seed,
        "won": result.winner == stats.agent_id,
        "draw": result.winner is None,
        "decisions": stats.decisions,
        "fallbacks": stats.fallbacks,
        "errors": getattr(stats, "errors", 0),
        "calls": [[c.__dict__ for c in d] for d in agent.decisions[start:]],
        "played": [list(p) for p in agent.played[start:]],
    }
    if fighting:
        health = result.details.get("health") or [0, 0]
        mine, theirs = float(health[0]), float(health[1])
        row["quality"] = 0.5 if mine + theirs <= 0 else mine / (mine + theirs)
    else:
        pnl = float((result.details.get("pnl") or {}).get(me, stats.score))
        row["pnl"] = pnl
        row["quality"] = 100.0 * pnl / START_CASH  # yield, percent
    return row


def _validator(style: str) -> Callable[[str, str], str | None] | None:
    """plan-follow: an adapted plan must name at least one StreetFighter action."""
    if not style.startswith("plan-follow"):
        return None
    from splitsecond.agents.parsing import actions_in_order
    from splitsecond.envs.streetfighter.actions import ACTION_NAMES

    def names_an_action(plan: str, situation: str) -> str | None:
        return None if actions_in_order(plan, ACTION_NAMES) else "the adapted plan names no action"

    return names_an_action


def _protected() -> tuple[str, ...]:
    """Upper-case words a template keeps: order verbs and StreetFighter's button names."""
    from splitsecond.cache.template import RuleTemplateExtractor
    from splitsecond.envs.streetfighter.actions import ACTION_NAMES

    return (*RuleTemplateExtractor().protected, *(n for n in ACTION_NAMES if n.isupper()))


def _make_cache(setup: EnvSetup, style: str, db: Path, cheap: Any, adapter_tokens: int) -> Any:
    from splitsecond.cache import (
        Adapter,
        CachePolicy,
        InsertCriterion,
        LLMKeywordExtractor,
        MatcherConfig,
        PlanCache,
        RuleTemplateExtractor,
    )
    from splitsecond.cache.rule_first import RuleFirstKeywordExtractor
    from splitsecond.cache.situation_rules import rules_for

    return PlanCache(
        db,
        cheap=cheap,
        keywords=RuleFirstKeywordExtractor(
            rules_for(setup.env_id),
            LLMKeywordExtractor(examples=setup.examples, vocabulary=setup.vocabulary, max_tokens=4),
        ),
        templates=RuleTemplateExtractor(names=setup.names, protected=_protected()),
        adapter=Adapter(max_tokens=adapter_tokens, validator=_validator(style)),
        matcher=MatcherConfig(semantic=False),
        policy=CachePolicy(insert=InsertCriterion(min_reward=MIN_SEGMENT_REWARD, min_decisions=1)),
    )


def plan_agreement(
    uncached: list[dict[str, Any]], cached: list[dict[str, Any]], every: int
) -> dict[str, Any]:
    """The planner's own answer to each cached plan decision, where it is known.

    The world waits while the agent thinks and decoding is greedy, so while a cached match has played
    the same actions as the uncached match on its seed, the uncached match's plan at the same decision
    is what the planner answers in that very situation. At each plan decision (every ``every``-th,
    from the first) of such a shared stretch, the cached plan is compared with the planner's: a hit
    (no planner call) with another plan is a *counterfactual false hit*.
    """
    out = {"compared": 0, "hits_compared": 0, "same_plan": 0, "hits_with_another_plan": 0}
    by_seed = {m["seed"]: m for m in uncached}
    for c in cached:
        u = by_seed.get(c["seed"])
        if u is None:
            continue
        for k in range(0, min(len(u["played"]), len(c["played"])), every):
            if [a for a, _ in u["played"][:k]] != [a for a, _ in c["played"][:k]]:
                break  # the matches parted: the planner's answer to this situation is unknown
            hit = not any(call["role"] == "plan" for call in c["calls"][k])
            same = u["played"][k][1] == c["played"][k][1]
            out["compared"] += 1
            out["same_plan"] += int(same)
            out["hits_compared"] += int(hit)
            out["hits_with_another_plan"] += int(hit and not same)
    out["hit_false_rate"] = (
        out["hits_with_another_plan"] / out["hits_compared"] if out["hits_compared"] else None
    )
    return out


def _latency(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "mean": statistics.fmean(values) if values else 0.0,
        "median": statistics.median(values) if values else 0.0,
        "p95": percentile(values, 0.95),
    }


def summarise(matches: list[dict[str, Any]], pricing: Pricing) -> dict[str, Any]:
    """An arm's figures from its matches (see the module docstring)."""
    decisions = [[CallRecord(**c) for c in d] for m in matches for d in m["calls"]]
    latency = [sum(pricing.ms(c) for c in d) for d in decisions]
    quality = [m["quality"] for m in matches]
    mean, lo, hi = t_interval(quality)
    out: dict[str, Any] = {
        "matches": len(matches),
        "decisions": len(decisions),
        "fallbacks": sum(m["fallbacks"] for m in matches),
        "errors": sum(m["errors"] for m in matches),
        "wins": sum(m["won"] for m in matches),
        "draws": sum(m["draw"] for m in matches),
        "quality": quality,
        "quality_mean": mean,
        "quality_ci95": [lo, hi],
        "latency_ms": _latency(latency),
        # decisions that called a model at all (plan-follow plays the plan without a call in between)
        "calling_decisions_latency_ms": _latency([x for x, d in zip(latency, decisions, strict=True) if d]),
        "cost": cost_of([c for d in decisions for c in d], pricing),
    }
    if matches and "pnl" in matches[0]:
        out["pnl"] = [m["pnl"] for m in matches]
    return out


def _cache_figures(
    delta: dict[str, float], reports: Counter[str], keyword_counts: Counter[str]
) -> dict[str, Any]:
    hits = int(delta["hits"])
    served = reports["win"] + reports["loss"] + reports["removed"]
    fresh = reports["inserted"] + reports["kept"] + reports["skipped"]
    return {
        "lookups": int(delta["lookups"]),
        "hits": hits,
        "hit_rate": delta["hits"] / delta["lookups"] if delta["lookups"] else 0.0,
        "false_hits": int(delta["false_hits"]),
        "false_hit_rate": delta["false_hits"] / hits if hits else 0.0,
        "adapt_rejected": int(delta["adapt_rejected"]),
        "adapter_calls": int(delta["adapter_calls"]),
        "served_segments": {"won": reports["win"], "lost": reports["loss"] + reports["removed"]},
        "served_loss_rate": (reports["loss"] + reports["removed"]) / served if served else None,
        "planner_segments": {"went_well": reports["inserted"] + reports["kept"], "lost": reports["skipped"]},
        "planner_loss_rate": reports["skipped"] / fresh if fresh else None,
        "inserts": int(delta["inserts"]),
        "demotions": int(delta["demotions"]),
        "removals": int(delta["removals"]),
        "keywords": dict(keyword_counts),
        "overhead_tokens_reported": {
            k: int(delta[k]) for k in ("keyword_tokens", "extraction_tokens", "adapter_tokens")
        },
    }


@dataclass
class Servers:
    """The planner model and its api_base, and the api_base of each adapter model."""

    planner: str
    adapters: dict[str, str]
    planner_model: str = PLANNER


def run_style(
    setup: EnvSetup, style: str, servers: Servers, warm: list[int], evals: list[int],
    env_kwargs: dict[str, Any], pricing: Pricing, workdir: Path, adapter_tokens: int, plan_tokens: int,
    progress: Callable[[str], None] = lambda _s: None,
) -> dict[str, Any]:  # fmt: skip
    """Warm-up, then the uncached arm and one cached arm per adapter, on ``evals`` (see the docstring)."""
    import litellm

    from splitsecond.agents import LLMAgent
    from splitsecond.agents.thinking import parse_thinking
    from splitsecond.cache import PlanFeedback, register
    from splitsecond.cache.layer import registered, unregister

    ledger = Ledger()
    litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p["provider"] != "meter"] + [
        {"provider": "meter", "custom_handler": _meter(ledger)}
    ]
    thinking = parse_thinking(style)
    thinking = type(thinking)(**{**thinking.__dict__, "plan_tokens": plan_tokens})
    model = f"meter/openai/{servers.planner_model}"

    def agent(cache: Any | None, name: str) -> Recorded:
        llm = LLMAgent(f"apc/{model}" if cache is not None else model, api_base=servers.planner,
                       thinking=thinking, structured="choice", prompt="compact", history=0, name=name,
                       timeout_s=600.0)  # fmt: skip
        inner = PlanFeedback(llm, cache, setup.reward_fn) if cache is not None else llm
        return Recorded(inner, ledger)

    def cached_arm(db: Path, adapter: str, seeds: list[int], label: str) -> tuple[list[dict[str, Any]], dict]:
        cheap = _metered_client(adapter, servers.adapters[adapter], ledger)
        cache = _make_cache(setup, style, db, cheap, adapter_tokens)
        register(cache)
        try:
            before = cache.metrics.summary()
            player = agent(cache, label)
            matches = []
            for s in seeds:
                progress(f"{setup.name} {style} {label} seed {s}")
                matches.append(_play(setup, player, s, env_kwargs))
            player.agent.flush()
            after = cache.metrics.summary()
            delta = {k: after[k] - before[k] for k in after}
            handler = registered()
            crossed = sum(
                1 for r in (handler.recent if handler else ()) if r.hit and r.match is not None
                and not r.match.entry.scope.startswith(f"{setup.env_id.rsplit('/', 1)[-1]}|")
            )  # fmt: skip
            figures = _cache_figures(delta, player.agent.reports, cache.keywords.counts)
            figures["cross_scope_hits"] = crossed
            figures["entries_at_end"] = cache.store.count()
            return matches, figures
        finally:
            unregister()
            cache.close()

    try:
        first = next(iter(servers.adapters))
        warm_db = workdir / f"{setup.name}-{style.replace(':', '')}-warm.db"
        _, warm_figures = cached_arm(warm_db, first, warm, "warm-up")
        out: dict[str, Any] = {
            "style": style,
            "warm_up": {"seeds": warm, "adapter": first, **warm_figures},
        }
        # The cached arms play first and the uncached arm last, on the same planner server: its prefix
        # cache then holds what the cached arms computed on the same seeds, which can only make the
        # uncached arm cheaper (the reductions below are conservative; a later adapter arm also finds
        # what an earlier one computed).
        cached, cached_matches = {}, {}
        for adapter in servers.adapters:
            db = workdir / f"{setup.name}-{style.replace(':', '')}-{adapter}.db"
            shutil.copyfile(warm_db, db)
            matches, figures = cached_arm(db, adapter, evals, f"cached ({adapter})")
            cached_matches[adapter] = matches
            cached[adapter] = summarise(matches, pricing)
            cached[adapter]["cache"] = figures
        uncached = []
        for s in evals:
            progress(f"{setup.name} {style} uncached seed {s}")
            uncached.append(_play(setup, agent(None, "uncached"), s, env_kwargs))
        u = summarise(uncached, pricing)
        out["arm_order"] = [*(f"cached:{a}" for a in servers.adapters), "uncached"]
        out["uncached"] = u
        for adapter, c in cached.items():
            c["vs_uncached"] = {
                "cost_reduction": reduction(u["cost"]["total"]["planner_eq_tokens"],
                                            c["cost"]["total"]["planner_eq_tokens"]),
                "plan_step_cost_reduction": reduction(u["cost"]["plan_step"]["planner_eq_tokens"],
                                                      c["cost"]["plan_step"]["planner_eq_tokens"]),
                "computed_token_reduction": reduction(u["cost"]["total"]["computed_tokens"],
                                                      c["cost"]["total"]["computed_tokens"]),
                "mean_latency_reduction": reduction(u["latency_ms"]["mean"], c["latency_ms"]["mean"]),
                "p95_latency_reduction": reduction(u["latency_ms"]["p95"], c["latency_ms"]["p95"]),
                "cache_overhead_computed_tokens": c["cost"].get("cache", {}).get("computed_tokens", 0),
                "score": compare_scores(u["quality"], c["quality"]),
                "planner_counterfactual": plan_agreement(uncached, cached_matches[adapter], thinking.every),
            }  # fmt: skip
            out[f"cached:{adapter}"] = c
        return out
    finally:
        litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p["provider"] != "meter"]


def preflight(model: str, api_base: str, log_path: Any = None) -> None:
    """One JSON-schema plan call and one choice call: a server that cannot serve them stops the run now.

    Raises:
        RuntimeError: naming the model, the failure and the server's log.
    """
    import litellm

    from splitsecond.agents.llm_agent import plan_schema
    from splitsecond.envs.streetfighter.actions import ACTION_NAMES

    messages = [{"role": "user", "content": "Name two fighting moves."}]
    base = {"model": f"openai/{model}", "api_base": api_base, "api_key": "splitsecond-local",
            "messages": messages, "max_tokens": 16, "temperature": 0.0, "num_retries": 0, "timeout": 600}  # fmt: skip
    schema = {"type": "json_schema", "json_schema": {"name": "plan", "strict": True,
                                                     "schema": plan_schema(list(ACTION_NAMES), 4)}}  # fmt: skip
    for what, extra in (
        ("a JSON-schema plan", {"response_format": schema}),
        ("a choice", {"extra_body": {"structured_outputs": {"choice": list(ACTION_NAMES)}}}),
    ):
        try:
            litellm.completion(**base, **extra)
        except Exception as exc:  # noqa: BLE001 - re-raised with the server's log
            raise RuntimeError(
                f"{model} at {api_base} failed {what} before the run: {type(exc).__name__}: {str(exc)[:300]} "
                f"(server log: {log_path})"
            ) from exc


# ---------------------------------------------------------------------------------- report
def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "-"
    return f"{100 * x:+.0f}%" if pct else f"{x:.2f}"


def table(results: dict[str, Any]) -> Any:
    """The run as a rich table: one row per env, style and arm."""
    from rich.table import Table

    t = Table(
        title=f"Plan cache: planner {results['planner']}, cached vs uncached on the same seeds (modelled latency)"
    )
    for col in ("env", "style", "arm", "cost (planner-eq tok)", "computed tok", "lat mean/p95 ms",
                "quality [95% CI]", "hit", "false hit", "overhead tok", "cost / lat vs uncached"):  # fmt: skip
        t.add_column(col, justify="right")
    for env, styles in results["envs"].items():
        for style, r in styles.items():
            for arm, s in r.items():
                if arm not in ("uncached",) and not arm.startswith("cached:"):
                    continue
                cache, vs = s.get("cache"), s.get("vs_uncached")
                t.add_row(
                    env, style, arm, f"{s['cost']['total']['planner_eq_tokens']:.0f}",
                    str(s["cost"]["total"]["computed_tokens"]),
                    f"{s['latency_ms']['mean']:.0f}/{s['latency_ms']['p95']:.0f}",
                    f"{s['quality_mean']:.3f} [{s['quality_ci95'][0]:.3f}, {s['quality_ci95'][1]:.3f}]",
                    f"{cache['hit_rate']:.2f}" if cache else "-",
                    f"{cache['false_hit_rate']:.2f}" if cache else "-",
                    str(vs["cache_overhead_computed_tokens"]) if vs else "-",
                    f"{_fmt(-vs['cost_reduction'])} / {_fmt(-vs['mean_latency_reduction'])}" if vs else "-",
                )  # fmt: skip
    return t


def _keep_previous(out: Path) -> None:
    """Keep an earlier-format result file (SmolLM2 as planner and adapter) under its own name."""
    if not out.exists():
        return
    try:
        previous = json.loads(out.read_text(encoding="utf-8"))
    except ValueError:
        return
    if previous.get("planner") is None and out == RESULTS and not PREVIOUS_RESULTS.exists():
        PREVIOUS_RESULTS.write_text(json.dumps(previous, indent=2), encoding="utf-8")
        logger.warning("kept the earlier results (SmolLM2 planner) in %s", PREVIOUS_RESULTS)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (see the module docstring) and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds, shorter episodes (~10-15 min)")
    parser.add_argument("--envs", default=",".join(ENVS), help=f"comma-separated, of: {', '.join(ENVS)}")
    parser.add_argument("--styles", default=None, help="comma-separated thinking styles (default: per env)")
    parser.add_argument("--adapters", default=",".join(ADAPTERS), help="comma-separated adapter models")
    parser.add_argument("--planner", default=PLANNER, help="the planner model (a ladder short name)")
    parser.add_argument(
        "--planner-threads", type=int, default=2, help="engine threads of the planner's server"
    )
    parser.add_argument("--threads", type=int, default=1, help="engine threads of each adapter's server")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    unknown = [e for e in envs if e not in ENVS]
    if unknown:
        parser.error(f"unknown envs {unknown}; valid: {', '.join(ENVS)}")
    adapters = [a.strip() for a in args.adapters.split(",") if a.strip()]
    if not adapters:
        parser.error("--adapters needs at least one model")
    if args.threads < 1 or args.planner_threads < 1:
        parser.error("--threads and --planner-threads must be >= 1")
    styles = [s.strip() for s in args.styles.split(",")] if args.styles else None
    if styles:
        from splitsecond.agents.thinking import PlanThenAct, parse_thinking

        for s in styles:
            try:
                ok = isinstance(parse_thinking(s), PlanThenAct)
            except ValueError as exc:
                parser.error(str(exc))
            if not ok:
                parser.error(f"style {s!r}: the plan cache needs plan-follow:N or plan-then-act:N")
    logging.basicConfig(level=logging.WARNING)
    pricing = Pricing.load(args.planner, adapters)
    if args.quick:
        warm = {"streetfighter": [101, 102], "hftbench": [101]}
        evals = {"streetfighter": [1, 2, 3], "hftbench": [1, 2]}
    else:
        warm = {"streetfighter": [101, 102, 103, 104], "hftbench": [101, 102]}
        evals = {"streetfighter": [1, 2, 3, 4, 5, 6], "hftbench": [1, 2, 3, 4]}
    settings = {"adapter_tokens": 24, "plan_tokens": 40}

    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from splitsecond.serving.server import start_server_subprocess

    t0 = time.perf_counter()
    started = []
    results: dict[str, Any] = {
        "benchmark": "plan_cache",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "engine_threads": {"planner": args.planner_threads, "adapters": args.threads}},  # fmt: skip
        "mode": "quick" if args.quick else "full",
        "planner": args.planner,
        "adapters": adapters,
        "note": (
            "Planner and adapters are separate models served by our engine. The world waits while the agent "
            "thinks (paused latency; decisions every decision_interval_ms of game time), so scores compare "
            "plans; decision latency and cost are modelled from each call's tokens by the profile "
            "<model>-cpu of the model that served it (AVX2 CPU profiles). Cost: planner-equivalent tokens "
            "(see Pricing). Keywords: rules on the observation text first, the adapter model second; "
            "templates by rules; no semantic fallback. Each cached arm starts from a copy of the store "
            "warmed on warm_seeds and keeps learning. Arm order per style: warm-up, cached arms, uncached "
            "last, on one planner server: the uncached arm finds the cached arms' prompts in the prefix cache "
            "(same seeds), so reductions are conservative. A hit that needs no call is charged 0 ms. quality: "
            "StreetFighter share of health left (0.5 even), HFTBench yield in percent."
        ),
        "settings": {
            **settings,
            "warm_seeds": {e: warm[e] for e in envs},
            "eval_seeds": {e: evals[e] for e in envs},
            "env_kwargs": {e: {**ENVS[e].env_kwargs, **(ENVS[e].quick_kwargs if args.quick else {})} for e in envs},
            "opponents": {e: ENVS[e].opponent for e in envs},
            "min_segment_reward": MIN_SEGMENT_REWARD,
            "profiles": {m: p.name for m, p in pricing.profiles.items()},
        },
        "envs": {},
    }  # fmt: skip
    try:
        extra = ["--num-threads", str(args.threads)]
        planner = start_server_subprocess(
            args.planner,
            extra_args=["--num-threads", str(args.planner_threads)],
            timeout_s=900,
            keep_log=True,
        )
        started.append(planner)
        preflight(args.planner, planner.api_base, planner.log_path)
        adapter_bases = {}
        for a in adapters:
            server = start_server_subprocess(a, extra_args=extra, timeout_s=600, keep_log=True)
            started.append(server)
            preflight(a, server.api_base, server.log_path)
            adapter_bases[a] = server.api_base
        servers = Servers(planner.api_base, adapter_bases, args.planner)
        with tempfile.TemporaryDirectory() as tmp, Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
        ) as bar:  # fmt: skip
            task = bar.add_task("plan cache", total=None)

            def note(what: str) -> None:
                bar.update(task, description=what)
                logger.warning("%5.0f s  %s", time.perf_counter() - t0, what)

            for name in envs:
                setup = ENVS[name]
                kwargs = results["settings"]["env_kwargs"][name]
                results["envs"][name] = {}
                for style in styles or setup.styles:
                    if name == "hftbench" and style.startswith("plan-follow"):
                        continue  # HFTBench's orders are text: plan-follow needs named actions
                    results["envs"][name][style] = run_style(
                        setup, style, servers, warm[name], evals[name], kwargs, pricing, Path(tmp),
                        progress=note, **settings,
                    )  # fmt: skip
    finally:
        for server in started:
            server.stop()
    results["wall_s"] = time.perf_counter() - t0
    for server in started:  # kept only while a failure might need them
        Path(server.log_path).unlink(missing_ok=True)
    _keep_previous(args.out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    Console().print(table(results))
    return results


if __name__ == "__main__":
    main()
