"""The latency study's view of a leaderboard: quality against median decision latency, per model.

For each env the report groups the agents by the model they run (:func:`participant_models`:
an agent entry's ``model`` field, else the model its ``{serve...}`` server runs, else the model in
its spec; scripted agents have none), draws each model's latency curves (an agent listed at several
latency settings is one curve), marks the Pareto front of the agents not flagged for fallbacks, and
states what the data shows in one sentence (:func:`study_sentence`), computed from the numbers:

* two models measured at the same latency settings whose order flips as latency grows: "At >= 400
  ms per decision A (Elo 1540) beats B (1490); at 100 ms B is ahead (1560 vs 1500)";
* else, with two or more models, the models on the Pareto front: "The fastest model on the Pareto
  front is A (...); B is better (...) but 3.1x slower (...)", or "A dominates: ...";
* else the Pareto front of all agents: "The fastest agent on the Pareto front is X; Y is better but
  N x slower".
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

from splitsecond.benchmarks.leaderboard.config import DEFAULT_SERVE, serve_refs, spec_model
from splitsecond.benchmarks.leaderboard.stats import FALLBACK_FLAG_SHARE, pareto_front


@dataclass(frozen=True)
class StudyPoint:
    """One agent in the study.

    Attributes:
        name: the participant.
        base: its agent entry (latency variants share it).
        model: the model it runs, or ``None`` for scripted agents.
        setting: its latency setting (``fixed:400``, ``token:...`` ...).
        latency_ms: its median decision latency.
        quality: Elo (StreetFighter) or mean daily yield in % (HFTBench).
        flagged: more than :data:`~splitsecond.benchmarks.leaderboard.stats.FALLBACK_FLAG_SHARE`
            fallbacks.
    """

    name: str
    base: str
    model: str | None
    setting: str
    latency_ms: float
    quality: float
    flagged: bool = False


def participant_models(
    config: Mapping[str, Any], participants: Sequence[Mapping[str, Any]]
) -> dict[str, str | None]:
    """Participant name -> the model it runs (see the module docstring), from a stored config dict
    (:meth:`LeaderboardConfig.to_dict`) and the stored participants."""
    served: dict[str, str] = {}
    if config.get("serve"):
        served[config["serve"]] = config["serve"]
    servers = list(config.get("servers") or [])
    for entry in servers:
        served[entry["name"]] = entry["model"]
    default = config.get("serve") or (servers[0]["name"] if len(servers) == 1 else None)
    if default is not None:
        served[DEFAULT_SERVE] = served[default]
    labels = {a["name"]: a.get("model") for a in config.get("agents") or []}
    out: dict[str, str | None] = {}
    for p in participants:
        refs = [r for r in serve_refs(p["spec"]) if r in served]
        out[p["name"]] = labels.get(p["base"]) or (served[refs[0]] if refs else None) or spec_model(p["spec"])
    return out


def _q(value: float, quality: str) -> str:
    return f"Elo {value:.0f}" if quality == "elo" else f"mean yield {value:+.3f}%"


def _bare(value: float, quality: str) -> str:
    return f"{value:.0f}" if quality == "elo" else f"{value:+.3f}%"


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _slower(fast: float, slow: float) -> str:
    if fast <= 0:
        return f"slower ({_ms(slow)} against {_ms(fast)})"
    return f"{slow / fast:.1f}x slower ({_ms(slow)} against {_ms(fast)})"


def _crossover(points: Sequence[StudyPoint], quality: str) -> str | None:
    """A pair of models whose order flips as latency grows, compared at the settings both played."""
    best: dict[tuple[str, str], StudyPoint] = {}
    for p in points:
        assert p.model is not None
        key = (p.model, p.setting)
        if key not in best or p.quality > best[key].quality:
            best[key] = p
    models = sorted({p.model for p in points if p.model is not None})
    found: list[tuple[int, float, str]] = []
    for a, b in combinations(models, 2):
        shared = sorted(
            (
                (statistics.median([best[(a, s)].latency_ms, best[(b, s)].latency_ms]), s)
                for s in {p.setting for p in points}
                if (a, s) in best and (b, s) in best
            ),
        )
        pairs = [(lat, best[(a, s)], best[(b, s)]) for lat, s in shared]
        signs = [(pa.quality > pb.quality) - (pa.quality < pb.quality) for _, pa, pb in pairs]
        if len(shared) < 2 or 0 in signs:
            continue
        flips = [i for i in range(1, len(signs)) if signs[i] != signs[i - 1]]
        if not flips:
            continue
        i = flips[-1]
        lat, pa, pb = pairs[i]
        prev_lat, qa, qb = pairs[i - 1]
        win, lose = (pa, pb) if signs[i] > 0 else (pb, pa)
        before_win, before_lose = (qa, qb) if signs[i] > 0 else (qb, qa)
        text = (
            f"At >= {_ms(lat)} per decision {win.model} ({_q(win.quality, quality)}) beats {lose.model} "
            f"({_bare(lose.quality, quality)}); at {_ms(prev_lat)} {lose.model} is ahead "
            f"({_bare(before_lose.quality, quality)} vs {_bare(before_win.quality, quality)})"
        )
        found.append((-len(shared), lat, text))
    return min(found)[2] if found else None


def _front_of(points: Sequence[StudyPoint]) -> list[StudyPoint]:
    by_name = {p.name: p for p in points}
    return [by_name[n] for n in pareto_front({p.name: (p.latency_ms, p.quality) for p in points})]


def _model_front(points: Sequence[StudyPoint], quality: str) -> str:
    front = _front_of(points)
    fast, good = front[0], front[-1]
    if fast.model != good.model:
        return (
            f"The fastest model on the Pareto front is {fast.model} ({fast.name}: {_q(fast.quality, quality)} at "
            f"{_ms(fast.latency_ms)}); {good.model} is better ({good.name}: {_q(good.quality, quality)}) but "
            f"{_slower(fast.latency_ms, good.latency_ms)}"
        )
    others = sorted({p.model for p in points if p.model != good.model and p.model is not None})
    runner = max((p for p in points if p.model != good.model), key=lambda p: p.quality)
    return (
        f"{good.model} dominates {', '.join(others)}: every agent of theirs is matched by a {good.model} agent at "
        f"least as fast and as good (best {good.model}: {_q(good.quality, quality)} at {_ms(good.latency_ms)}; "
        f"best {runner.model}: {_q(runner.quality, quality)} at {_ms(runner.latency_ms)})"
    )


def _agent_front(points: Sequence[StudyPoint], quality: str) -> str:
    front = _front_of(points)
    fast, good = front[0], front[-1]
    if fast is good:
        text = (
            f"{fast.name} is both the fastest and the best agent ({_q(fast.quality, quality)} at "
            f"{_ms(fast.latency_ms)})"
        )
    else:
        text = (
            f"The fastest agent on the Pareto front is {fast.name} ({_q(fast.quality, quality)} at "
            f"{_ms(fast.latency_ms)}); {good.name} is better ({_q(good.quality, quality)}) but "
            f"{_slower(fast.latency_ms, good.latency_ms)}"
        )
    models = {p.model for p in points if p.model is not None}
    if len(models) == 1 and not any(p.model is not None for p in front):
        model = next(iter(models))
        best = max((p for p in points if p.model == model), key=lambda p: p.quality)
        text += (
            f"; no {model} agent is on the front (its best, {best.name}, reaches {_q(best.quality, quality)} "
            f"at {_ms(best.latency_ms)})"
        )
    return text


def study_sentence(points: Sequence[StudyPoint], quality: str) -> str:
    """One sentence stating what the points show (see the module docstring); flagged agents are
    left out (and the sentence says how many)."""
    usable = [p for p in points if not p.flagged]
    left_out = len(points) - len(usable)
    note = (
        f" ({left_out} agent(s) with more than {FALLBACK_FLAG_SHARE:.0%} fallbacks left out)"
        if left_out
        else ""
    )
    if not usable:
        return f"No agent has finished matches with decision latencies yet{note}."
    with_model = [p for p in usable if p.model is not None]
    if len({p.model for p in with_model}) >= 2:
        text = _crossover(with_model, quality) or _model_front(with_model, quality)
    else:
        text = _agent_front(usable, quality)
    return text + note + "."


def study_view(points: Sequence[StudyPoint], quality: str) -> dict[str, Any]:
    """The study section of an env's report (JSON-friendly).

    Returns:
        ``quality``; ``models``: model -> its agents (latency order) and ``curves`` (agent entry ->
        its latency variants in latency order, where there are two or more); ``pareto``: the front
        of the unflagged agents; ``sentence``.
    """
    models: dict[str, dict[str, Any]] = {}
    for p in sorted(points, key=lambda p: (p.latency_ms, p.name)):
        if p.model is None:
            continue
        m = models.setdefault(p.model, {"agents": [], "curves": {}})
        m["agents"].append(asdict(p))
        m["curves"].setdefault(p.base, []).append(p.name)
    for m in models.values():
        m["curves"] = {b: names for b, names in m["curves"].items() if len(names) > 1}
    front = [p.name for p in _front_of([p for p in points if not p.flagged])] if points else []
    return {
        "quality": quality,
        "models": dict(sorted(models.items())),
        "pareto": front,
        "sentence": study_sentence(points, quality),
    }
