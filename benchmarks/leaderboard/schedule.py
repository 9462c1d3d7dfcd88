"""The schedule: every match a leaderboard plays, each with a stable key.

* StreetFighter: a full round-robin. Every ordered pair of distinct participants (so each pair
  meets on both sides), every character pair, every seed. With ``pairing = "gauntlet"`` only the
  ordered pairs that hold at least one anchor participant.
* HFTBench: one shared-market session per seed with every participant in the same market; the
  seat order is rotated from one seed to the next so no agent always sits first (agent ``i`` of a
  match is reset with ``seed + i``).

A match's key is a hash of everything that determines it (env, env settings, seed, mode, limits,
each seat's name, spec and latency, and the model and options of the servers its seats use), so the same match scheduled twice has the same key and
the results store can refuse a second copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

from splitsecond.benchmarks.leaderboard.config import (
    EDGE_PREFIX,
    LeaderboardConfig,
    Participant,
    edge_refs,
    env_kwargs_variants,
    serve_refs,
)


@dataclass(frozen=True)
class SeatTask:
    """One seat of a scheduled match.

    Attributes:
        name: the participant's name.
        spec: its agent spec (``{serve}`` not yet substituted).
        latency: its latency model spec.
    """

    name: str
    spec: str
    latency: str


@dataclass(frozen=True)
class MatchTask:
    """One scheduled match: everything a worker needs to play it.

    Attributes:
        key: stable hash of the match's parameters (see the module docstring).
        env: ``streetfighter`` or ``hftbench``.
        env_id: the Gymnasium id.
        seed: the match seed.
        env_kwargs: env keyword arguments.
        mode: arena mode.
        act_timeout_s: decision time limit.
        max_decisions: decision cap, or ``None``.
        max_wall_s: wall-time cap, or ``None``.
        seats: the seats in order (``player_0``/``player_1``, ``trader_0`` ...).
        position: order in the schedule.
        serve: what the seats' server placeholders serve: placeholder name (``""`` for the bare
            ``{serve}``, ``edge:<name>`` for an edge) -> ``{"model": ..., "args": [...]}`` (an edge
            adds its ``draft`` and ``rtt_ms``); part of the key, so a match whose server now runs
            another model is a new match.
    """

    key: str
    env: str
    env_id: str
    seed: int
    env_kwargs: dict[str, Any]
    mode: str
    act_timeout_s: float
    max_decisions: int | None
    max_wall_s: float | None
    seats: tuple[SeatTask, ...]
    position: int = field(default=0, compare=False)
    serve: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The parameters the key is computed from (JSON-friendly)."""
        return match_params(
            self.env_id,
            self.seed,
            self.env_kwargs,
            self.mode,
            self.act_timeout_s,
            self.max_decisions,
            self.max_wall_s,
            self.seats,
            self.serve,
        )


def match_params(
    env_id: str,
    seed: int,
    env_kwargs: dict[str, Any],
    mode: str,
    act_timeout_s: float,
    max_decisions: int | None,
    max_wall_s: float | None,
    seats: tuple[SeatTask, ...],
    serve: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The canonical parameters of a match (what its key hashes); ``serve`` only when a seat uses a
    server."""
    params = {
        "env_id": env_id,
        "seed": seed,
        "env_kwargs": json.loads(json.dumps(env_kwargs, sort_keys=True, default=list)),
        "mode": mode,
        "act_timeout_s": float(act_timeout_s),
        "max_decisions": max_decisions,
        "max_wall_s": max_wall_s,
        "seats": [{"name": s.name, "spec": s.spec, "latency": s.latency} for s in seats],
    }
    if serve:
        params["serve"] = json.loads(json.dumps(serve, sort_keys=True))
    return params


def served_by(config: LeaderboardConfig, seats: tuple[SeatTask, ...]) -> dict[str, Any]:
    """What the seats' server placeholders serve (see :attr:`MatchTask.serve`)."""
    entries = config.serve_entries()
    out: dict[str, Any] = {}
    for seat in seats:
        for ref in serve_refs(seat.spec):
            entry = entries[config.serve_name(ref)]
            out[ref] = {"model": entry.model, "args": list(entry.args)}
        for ref in edge_refs(seat.spec):
            edge = config.edge(ref)
            out[EDGE_PREFIX + ref] = {
                "model": entries[edge.server].model,
                "args": list(entries[edge.server].args),
                "draft": edge.draft,
                "rtt_ms": float(edge.rtt_ms),
            }
    return out


def match_key(params: dict[str, Any]) -> str:
    """A 24-hex-digit SHA-256 of the canonical JSON of ``params``."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _task(
    config: LeaderboardConfig,
    env: str,
    seed: int,
    kwargs: dict[str, Any],
    players: list[Participant],
    position: int,
) -> MatchTask:
    settings = config.envs[env]
    seats = tuple(SeatTask(p.name, p.spec, p.latency) for p in players)
    serve = served_by(config, seats)
    params = match_params(
        settings.env_id,
        seed,
        kwargs,
        config.mode,
        config.act_timeout_s,
        config.max_decisions,
        config.max_wall_s,
        seats,
        serve,
    )
    return MatchTask(
        key=match_key(params),
        env=env,
        env_id=settings.env_id,
        seed=seed,
        env_kwargs=kwargs,
        mode=config.mode,
        act_timeout_s=config.act_timeout_s,
        max_decisions=config.max_decisions,
        max_wall_s=config.max_wall_s,
        seats=seats,
        position=position,
        serve=serve,
    )


def schedule(config: LeaderboardConfig) -> list[MatchTask]:
    """Every match of the leaderboard, seeds outermost so early results cover every pairing."""
    tasks: list[MatchTask] = []
    for env, settings in config.envs.items():
        players = config.players(env)
        variants = env_kwargs_variants(settings)
        for k, seed in enumerate(settings.seeds):
            if env == "streetfighter":
                for kwargs in variants:
                    for a, b in permutations(players, 2):
                        if settings.pairing == "gauntlet" and not (a.anchor or b.anchor):
                            continue
                        tasks.append(_task(config, env, seed, kwargs, [a, b], len(tasks)))
            else:
                shift = k % len(players)
                rotated = players[shift:] + players[:shift]
                for kwargs in variants:
                    tasks.append(_task(config, env, seed, kwargs, rotated, len(tasks)))
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("the schedule holds the same match twice (duplicate agents or seeds?)")
    return tasks
