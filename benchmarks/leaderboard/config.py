"""Leaderboard configuration: a TOML file naming agents, envs, seeds, clock mode and latency settings.

::

    [leaderboard]
    name = "quick"
    mode = "virtual"              # arena mode: virtual (deterministic) or realtime
    seeds = [1, 2]                # default seeds of every env
    act_timeout_s = 20.0          # an agent slower than this on one decision forfeits
    max_attempts = 3              # a match whose worker fails this often is marked failed
    serve = "smollm2-135m"        # start our server on this model; agent specs may use {serve}
    cache_db = "runs/plans.sqlite" # plan cache store of apc/ agents (default: next to the results)

    [[serve]]                     # more servers: each agent names the one it uses, {serve:<name>}
    name = "coder-0.5b"           # default: the model
    model = "qwen2.5-coder-0.5b"  # a ladder short name or a path
    port = "auto"                 # or a fixed port, e.g. 8001
    args = ["--dtype", "float32"] # further `splitsecond serve` options
    precision = "int4"            # optional: source, bf16, int8, int4 or mixed:<fraction> (`serve --precision`)
    timeout_s = 600               # how long it may take to come up

    [envs.streetfighter]
    characters = [["kai", "kai"], ["zara", "brick"]]
    round_seconds = 10
    rounds_to_win = 1
    decision_interval_ms = 100    # optional: one decision per 100 ms of game time (paused latency)
    pairing = "round-robin"       # or "gauntlet": only pairs with an anchor agent (anchor = true)

    [envs.hftbench]
    seeds = [1, 2, 3]
    session_seconds = 30

    [[agents]]
    name = "punisher"
    spec = "punisher"
    latency = ["fixed:50", "fixed:200"]     # two variants: punisher@fixed:50, punisher@fixed:200
    anchor = true                           # an anchor of a gauntlet pairing

    [[agents]]
    name = "smollm2"
    spec = "openai/smollm2-135m@{serve}?thinking=reflex"
    latency = "token:smollm2-135m-cpu"
    envs = ["streetfighter"]

    [[agents]]
    name = "coder-0.5b-reflex"
    spec = "openai/qwen2.5-coder-0.5b@{serve:coder-0.5b}?thinking=reflex"
    latency = ["fixed:100", "fixed:400"]
    model = "qwen2.5-coder-0.5b"  # optional: the model the report groups it under

``{serve}`` means the server of ``leaderboard.serve`` or, without it, the only ``[[serve]]`` entry;
``{serve:<name>}`` a ``[[serve]]`` entry by name (``leaderboard.serve`` is the entry named after its
model). The runner starts only the servers the unplayed matches need. A ``[stack]`` table (see
:mod:`.stack`) gives the servers their KV tier and adds edges (``{edge:<name>}`` in a spec: the
worker's own edge) and the plan cache's store and adapter.

:func:`load_config` reads and validates a file; :meth:`LeaderboardConfig.validate` builds every
agent, latency model and env once, so a bad entry is reported before any match runs, with a
message naming it (:class:`ConfigError`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitsecond.agents.arena.config import MODES

if TYPE_CHECKING:
    from splitsecond.benchmarks.leaderboard.stack import StackConfig, StackEdge

SERVE_PLACEHOLDER = "{serve}"
"""Written in an agent spec, replaced by the embedded server's ``api_base`` at run time."""

_SERVE_REF_RE = re.compile(r"\{serve(?::([^{}]*))?\}")
_EDGE_REF_RE = re.compile(r"\{edge:([^{}]*)\}")

EDGE_PREFIX = "edge:"
"""Key prefix of an edge's ``api_base`` in an ``api_bases`` mapping (``edge:<name>``)."""

DEFAULT_SERVE = ""
"""The server name that stands for the bare ``{serve}`` in an ``api_bases`` mapping."""

ENV_IDS = {"streetfighter": "splitsecond/StreetFighter-v0", "hftbench": "splitsecond/HFTBench-v0"}
"""Short env names accepted in ``[envs.<name>]`` and ``agents.envs``, and their Gymnasium ids."""

_NAME_RE = re.compile(r"^[A-Za-z0-9_.:+\-]+$")
_SERVE_NAME_RE = re.compile(r"^[^{}\s]+$")
_DUMMY_API_BASE = "http://127.0.0.1:9/v1"


class ConfigError(ValueError):
    """A leaderboard config is invalid; the message names the bad entry and what is valid."""


def env_key(name: str) -> str:
    """The short name (``streetfighter``/``hftbench``) of an env given by short name or Gymnasium id.

    Raises:
        ConfigError: for an unknown env.
    """
    text = str(name).strip()
    low = text.rsplit("/", 1)[-1].lower().split("-v")[0]
    if low in ENV_IDS:
        return low
    raise ConfigError(f"unknown env {name!r}; valid: {', '.join(ENV_IDS)} (or {', '.join(ENV_IDS.values())})")


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; valid: {', '.join(allowed)}")


def _check_seeds(seeds: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(seeds, list | tuple)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ConfigError(f"{where} must be a non-empty list of distinct integers >= 0, got {seeds!r}")
    return tuple(seeds)


def _positive(value: Any, where: str, integer: bool = False, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    kinds = int if integer else int | float
    if not isinstance(value, kinds) or isinstance(value, bool) or value <= 0:
        what = "a positive integer" if integer else "a number > 0"
        raise ConfigError(f"{where} must be {what}{' or left out' if optional else ''}, got {value!r}")
    return value


def serve_refs(spec: str) -> list[str]:
    """The servers an agent spec names: ``{serve:<name>}`` gives ``name``, ``{serve}``
    :data:`DEFAULT_SERVE` (in order of appearance, without repeats)."""
    return list(dict.fromkeys((m.group(1) or DEFAULT_SERVE).strip() for m in _SERVE_REF_RE.finditer(spec)))


def edge_refs(spec: str) -> list[str]:
    """The edges an agent spec names with ``{edge:<name>}`` (in order, without repeats)."""
    return list(dict.fromkeys(m.group(1).strip() for m in _EDGE_REF_RE.finditer(spec)))


def substitute_serve(spec: str, api_bases: Mapping[str, str]) -> str:
    """``spec`` with every ``{serve}``/``{serve:<name>}`` replaced by its server's ``api_base`` and
    every ``{edge:<name>}`` by its edge's.

    Args:
        spec: an agent spec.
        api_bases: server name -> ``api_base`` (:data:`DEFAULT_SERVE` for the bare ``{serve}``;
            ``edge:<name>`` for an edge).

    Raises:
        KeyError: naming a server (or ``edge:<name>``) the mapping lacks.
    """

    def one(match: re.Match[str]) -> str:
        name = (match.group(1) or DEFAULT_SERVE).strip()
        if name not in api_bases:
            raise KeyError(name)
        return api_bases[name]

    def edge(match: re.Match[str]) -> str:
        name = EDGE_PREFIX + match.group(1).strip()
        if name not in api_bases:
            raise KeyError(name)
        return api_bases[name]

    return _EDGE_REF_RE.sub(edge, _SERVE_REF_RE.sub(one, spec))


def _dummy_spec(spec: str) -> str:
    """``spec`` with every server and edge placeholder replaced by a dummy endpoint (for parsing)."""
    return _EDGE_REF_RE.sub(_DUMMY_API_BASE, _SERVE_REF_RE.sub(_DUMMY_API_BASE, spec))


def spec_model(spec: str) -> str | None:
    """The model an LLM agent spec talks to: the LiteLLM name without the ``apc/`` plan-cache prefix
    and the provider (``apc/openai/smollm2-135m@...`` -> ``smollm2-135m``); ``None`` for other agents."""
    from splitsecond.agents.specs import parse_agent_spec

    try:
        parsed = parse_agent_spec(_dummy_spec(spec))
    except ValueError:
        return None
    if parsed.kind != "llm":
        return None
    target = parsed.target.removeprefix("apc/")
    return target.split("/", 1)[1] if "/" in target else target


@dataclass(frozen=True)
class ServeEntry:
    """One model server the runner starts (a ``[[serve]]`` entry, or ``leaderboard.serve``).

    Attributes:
        name: what agent specs call it (``{serve:<name>}``).
        model: the model to serve: a ladder short name or a path.
        port: a fixed port, or ``None`` for a free one.
        args: further ``splitsecond serve`` options.
        timeout_s: how long the server may take to come up.
    """

    name: str
    model: str
    port: int | None = None
    args: tuple[str, ...] = ()
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        where = f"serve entry {self.name!r}"
        if not isinstance(self.name, str) or not _SERVE_NAME_RE.match(self.name):
            raise ConfigError(f"{where}: name must be non-empty, without spaces or braces, got {self.name!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"{where}: model must be a model short name or path, got {self.model!r}")
        if self.port is not None and (
            not isinstance(self.port, int) or isinstance(self.port, bool) or not 1 <= self.port <= 65535
        ):
            raise ConfigError(f'{where}: port must be "auto" or an integer in 1..65535, got {self.port!r}')
        if not isinstance(self.args, tuple) or not all(isinstance(a, str) for a in self.args):
            raise ConfigError(f"{where}: args must be a list of strings, got {self.args!r}")
        _positive(self.timeout_s, f"{where}: timeout_s")


@dataclass(frozen=True)
class EnvSettings:
    """One env of the leaderboard and how its matches are set up.

    Attributes:
        key: ``streetfighter`` or ``hftbench``.
        seeds: match seeds (each pairing/session is played once per seed).
        env_kwargs: keyword arguments of the env's multi-agent class (``round_seconds``,
            ``session_seconds``, any :class:`~splitsecond.envs.hftbench.MarketConfig` field ...).
        characters: StreetFighter character pairs ``(player_0, player_1)``; every pairing is
            played with each of them.
        pairing: StreetFighter: ``round-robin`` (every ordered pair of participants) or
            ``gauntlet`` (only pairs with at least one ``anchor`` agent: the anchors play each other
            and every other agent plays every anchor, on both sides; the ratings stay on one scale
            through the anchors, at a fraction of the matches of a round robin of many LLM agents).
    """

    key: str
    seeds: tuple[int, ...]
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    characters: tuple[tuple[str, str], ...] = ()
    pairing: str = "round-robin"

    @property
    def env_id(self) -> str:
        """The Gymnasium id."""
        return ENV_IDS[self.key]


@dataclass(frozen=True)
class AgentEntry:
    """One ``[[agents]]`` entry.

    Attributes:
        name: display name (letters, digits, ``_.:+-``; no ``@``, which marks latency variants).
        spec: an agent spec (:mod:`splitsecond.agents.specs`), possibly with ``{serve}``.
        latency: latency model specs; several make one variant per setting, named ``name@spec``.
        envs: the envs it plays (short names); ``None``: every env of the config it can play.
        model: the model the report's latency study groups it under (default: the served model
            of its ``{serve...}``, else the model in its spec; none for scripted agents).
        anchor: an anchor of a ``gauntlet`` pairing (see :class:`EnvSettings`).
    """

    name: str
    spec: str
    latency: tuple[str, ...] = ("declared",)
    envs: tuple[str, ...] | None = None
    model: str | None = None
    anchor: bool = False


@dataclass(frozen=True)
class Participant:
    """A rated player: an agent at one latency setting.

    Attributes:
        name: unique name (``base`` or ``base@latency``).
        base: the agent entry's name (variants of one agent share it).
        spec: the agent spec (``{serve}`` not yet substituted).
        latency: the latency model spec.
        envs: the envs it plays.
        anchor: an anchor of a ``gauntlet`` pairing.
    """

    name: str
    base: str
    spec: str
    latency: str
    envs: tuple[str, ...]
    anchor: bool = False


@dataclass(frozen=True)
class LeaderboardConfig:
    """A whole leaderboard (see the module docstring for the TOML form).

    Attributes:
        name: the leaderboard's name.
        agents: the agent entries.
        envs: the envs, by short name.
        mode: arena mode, ``virtual`` or ``realtime``.
        act_timeout_s: the longest one decision may take before the agent forfeits.
        max_decisions: cap on decisions per match (``None``: none).
        max_wall_s: cap on the real time of one match (``None``: none).
        max_attempts: tries of a match whose worker fails before it is marked failed.
        serve: model the runner serves with our engine for ``{serve}`` (``None``: none).
        serve_args: further ``splitsecond serve`` options of that server.
        servers: the ``[[serve]]`` entries (more servers, each named).
        cache_db: plan cache store of ``apc/`` agents (``None``: ``plans.sqlite`` next to the
            results database).
        save_replays: keep each match's episode log and replay (needed for report GIFs).
        bootstrap: bootstrap resamples for the confidence intervals.
        prior_draws: virtual draws credited to every pair in the Bradley–Terry fit.
        stack: the ``[stack]`` (KV tiers, edges, plan cache store; ``None``: servers as configured).
    """

    name: str
    agents: tuple[AgentEntry, ...]
    envs: Mapping[str, EnvSettings]
    mode: str = "virtual"
    act_timeout_s: float = 30.0
    max_decisions: int | None = None
    max_wall_s: float | None = None
    max_attempts: int = 3
    serve: str | None = None
    serve_args: tuple[str, ...] = ()
    servers: tuple[ServeEntry, ...] = ()
    cache_db: str | None = None
    save_replays: bool = True
    bootstrap: int = 500
    prior_draws: float = 1.0
    stack: StackConfig | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(f"leaderboard.name must match {_NAME_RE.pattern}, got {self.name!r}")
        if self.mode not in MODES:
            raise ConfigError(f"leaderboard.mode must be one of {MODES}, got {self.mode!r}")
        _positive(self.act_timeout_s, "leaderboard.act_timeout_s")
        _positive(self.max_decisions, "leaderboard.max_decisions", integer=True, optional=True)
        _positive(self.max_wall_s, "leaderboard.max_wall_s", optional=True)
        _positive(self.max_attempts, "leaderboard.max_attempts", integer=True)
        _positive(self.bootstrap, "leaderboard.bootstrap", integer=True)
        if not isinstance(self.prior_draws, int | float) or self.prior_draws < 0:
            raise ConfigError(f"leaderboard.prior_draws must be a number >= 0, got {self.prior_draws!r}")
        if self.serve is not None and (not isinstance(self.serve, str) or not self.serve.strip()):
            raise ConfigError(f"leaderboard.serve must be a model name, got {self.serve!r}")
        if self.cache_db is not None and (not isinstance(self.cache_db, str) or not self.cache_db.strip()):
            raise ConfigError(f"leaderboard.cache_db must be a path or redis:// URL, got {self.cache_db!r}")
        names: dict[str, str] = {}
        ports: dict[int, str] = {}
        for where, entry in self._serve_places():
            if entry.name in names:
                raise ConfigError(
                    f"{where} ({entry.name!r}): the name is used twice (also by {names[entry.name]}); "
                    "give each [[serve]] entry its own name"
                )
            names[entry.name] = where
            if entry.port is not None:
                if entry.port in ports:
                    raise ConfigError(
                        f"{where} ({entry.name!r}): port {entry.port} is also the port of {ports[entry.port]}"
                    )
                ports[entry.port] = f"{where} ({entry.name!r})"
        if not self.envs:
            raise ConfigError(f"the config names no env; add [envs.<name>] with <name> in {list(ENV_IDS)}")
        if not self.agents:
            raise ConfigError("the config names no agent; add [[agents]] entries")

    def _serve_places(self) -> list[tuple[str, ServeEntry]]:
        out = []
        if self.serve is not None:
            out.append(
                ("leaderboard.serve", ServeEntry(self.serve, self.serve, None, tuple(self.serve_args)))
            )
        out += [(f"serve[{i}]", entry) for i, entry in enumerate(self.servers)]
        return out

    def serve_entries(self) -> dict[str, ServeEntry]:
        """Every server the config can start, by name (``leaderboard.serve`` first, named after its
        model)."""
        return {entry.name: entry for _, entry in self._serve_places()}

    def default_serve(self) -> str | None:
        """The server the bare ``{serve}`` means: ``leaderboard.serve``, else the only ``[[serve]]``
        entry; ``None`` when there is none or several."""
        if self.serve is not None:
            return self.serve
        return self.servers[0].name if len(self.servers) == 1 else None

    def serve_name(self, ref: str) -> str:
        """The server a placeholder names (``ref`` from :func:`serve_refs`).

        Raises:
            ConfigError: for an unknown name, or a bare ``{serve}`` with no or several servers.
        """
        entries = self.serve_entries()
        if ref == DEFAULT_SERVE:
            default = self.default_serve()
            if default is not None:
                return default
            if not entries:
                raise ConfigError(
                    f"the spec uses {SERVE_PLACEHOLDER} but leaderboard.serve names no model to serve "
                    "(and there is no [[serve]] entry)"
                )
            raise ConfigError(
                f"{SERVE_PLACEHOLDER} is ambiguous with {len(entries)} [[serve]] entries; write "
                f"{{serve:<name>}} with <name> one of {', '.join(entries)}"
            )
        if ref not in entries:
            raise ConfigError(
                f"the spec names {{serve:{ref}}} but no [[serve]] entry is called {ref!r}; defined: "
                f"{', '.join(entries) or 'none'}"
            )
        return ref

    def edge(self, name: str) -> StackEdge:
        """The ``[stack.edges.<name>]`` entry.

        Raises:
            ConfigError: when the config defines no such edge.
        """
        edges = self.stack.edges if self.stack is not None else {}
        if name not in edges:
            raise ConfigError(
                f"the spec names {{edge:{name}}} but no [stack.edges.{name}] is defined; defined: "
                f"{', '.join(edges) or 'none'}"
            )
        return edges[name]

    def servers_for(self, specs: Iterable[str]) -> list[ServeEntry]:
        """The servers the given agent specs need (through their edges too), in config order."""
        specs = list(specs)
        wanted = {self.serve_name(ref) for spec in specs for ref in serve_refs(spec)}
        wanted |= {self.edge(ref).server for spec in specs for ref in edge_refs(spec)}
        return [entry for name, entry in self.serve_entries().items() if name in wanted]

    def served_model(self, spec: str) -> str | None:
        """The model of the (first) server an agent spec uses (directly or through an edge), or
        ``None`` if it uses none."""
        refs = serve_refs(spec)
        if refs:
            return self.serve_entries()[self.serve_name(refs[0])].model
        edges = edge_refs(spec)
        if edges:
            return self.serve_entries()[self.edge(edges[0]).server].model
        return None

    def study_model(self, entry: AgentEntry) -> str | None:
        """The model the report's latency study groups ``entry`` under (see :class:`AgentEntry`)."""
        return entry.model or self.served_model(entry.spec) or spec_model(entry.spec)

    def participants(self) -> list[Participant]:
        """Every agent at every latency setting, in config order."""
        out: list[Participant] = []
        for entry in self.agents:
            envs = entry.envs if entry.envs is not None else _default_envs(entry.spec, tuple(self.envs))
            for lat in entry.latency:
                name = entry.name if len(entry.latency) == 1 else f"{entry.name}@{lat}"
                out.append(Participant(name, entry.name, entry.spec, lat, envs, entry.anchor))
        return out

    def players(self, env: str) -> list[Participant]:
        """The participants of one env (short name)."""
        return [p for p in self.participants() if env in p.envs]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (stored with the results)."""
        data = asdict(self)
        data["envs"] = {k: asdict(v) for k, v in self.envs.items()}
        return data

    def digest(self) -> str:
        """A short hash of the whole config."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def validate(self) -> None:
        """Check every agent, latency setting and env by building each once (no match is played).

        Raises:
            ConfigError: naming the bad entry.
        """
        from splitsecond.agents.arena.games import game_for
        from splitsecond.agents.latency.factory import make_latency_model
        from splitsecond.agents.specs import make_agent, parse_agent_spec

        for key, settings in self.envs.items():
            if settings.pairing == "gauntlet" and not any(p.anchor for p in self.players(key)):
                raise ConfigError(
                    f"envs.{key}: pairing 'gauntlet' needs at least one agent with anchor = true"
                )
        if self.stack is not None:
            self.stack.check_names(self.serve_entries())
            adapter = self.stack.plan_cache.adapter
            try:
                for ref in serve_refs(adapter or ""):
                    self.serve_name(ref)
            except ConfigError as exc:
                raise ConfigError(f"stack.plan_cache.adapter: {exc}") from None
        names: dict[str, str] = {}
        for i, entry in enumerate(self.agents):
            where = f"agents[{i}] ({entry.name!r})"
            if entry.name in names:
                raise ConfigError(f"{where}: the name is used twice (also by {names[entry.name]})")
            names[entry.name] = where
            try:
                for ref in serve_refs(entry.spec):
                    self.serve_name(ref)
                for ref in edge_refs(entry.spec):
                    self.edge(ref)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            spec = _dummy_spec(entry.spec)
            try:
                parsed = parse_agent_spec(spec)
                agent = make_agent(parsed)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}: bad agent spec {entry.spec!r}: {exc}") from None
            closer = getattr(agent, "close", None)
            if callable(closer):
                closer()
            for env in entry.envs or ():
                if env not in self.envs:
                    raise ConfigError(
                        f"{where}: envs names {env!r}, which the config does not run; configured: "
                        f"{', '.join(self.envs)}"
                    )
                playable = _playable_envs(entry.spec)
                if playable is not None and env not in playable:
                    raise ConfigError(
                        f"{where}: built-in {entry.spec!r} cannot play {ENV_IDS[env]}; it plays "
                        f"{', '.join(playable)}"
                    )
            for env in entry.envs if entry.envs is not None else _default_envs(entry.spec, tuple(self.envs)):
                step_ms = game_for(ENV_IDS[env]).step_ms
                for lat in entry.latency:
                    try:
                        make_latency_model(lat, step_ms)
                    except (ValueError, TypeError) as exc:
                        raise ConfigError(f"{where}: bad latency {lat!r} for {env}: {exc}") from None
        seen: dict[tuple[str, str], str] = {}
        for p in self.participants():
            other = seen.setdefault((p.spec, p.latency), p.name)
            if other != p.name:
                raise ConfigError(
                    f"the same agent (spec {p.spec!r}, latency {p.latency!r}) is listed twice, as {other!r} "
                    f"and {p.name!r}; one agent must have one name"
                )
        for key, settings in self.envs.items():
            players = self.players(key)
            needed = 2
            if len(players) < needed:
                raise ConfigError(
                    f"envs.{key}: needs at least {needed} agents, has {[p.name for p in players]}"
                )
            game = game_for(settings.env_id)
            ids = game.agent_ids(2 if key == "streetfighter" else len(players))
            for kwargs in env_kwargs_variants(settings):
                try:
                    env = game.make_env(ids, dict(kwargs))
                    env.close()
                except (ValueError, TypeError) as exc:
                    raise ConfigError(f"envs.{key}: bad env settings {dict(kwargs)}: {exc}") from None


def env_kwargs_variants(settings: EnvSettings) -> list[dict[str, Any]]:
    """The env keyword arguments of each match variant (one per StreetFighter character pair)."""
    base = dict(settings.env_kwargs)
    if not settings.characters:
        return [base]
    return [{**base, "characters": tuple(pair)} for pair in settings.characters]


def _playable_envs(spec: str) -> tuple[str, ...] | None:
    """The envs a built-in can play, or ``None`` for agents that may play any env."""
    from splitsecond.agents.baselines import (
        HFTMarketMaker,
        HFTMomentumTrader,
        HFTNewsReactor,
        HFTRandomTrader,
    )
    from splitsecond.agents.baselines.streetfighter import fighter_names
    from splitsecond.agents.specs import parse_agent_spec

    try:
        parsed = parse_agent_spec(_dummy_spec(spec))
    except ValueError:
        return None
    if parsed.kind != "builtin":
        return None
    if parsed.target in fighter_names():
        return ("streetfighter",)
    if parsed.target in {
        c.name for c in (HFTMarketMaker, HFTMomentumTrader, HFTNewsReactor, HFTRandomTrader)
    }:
        return ("hftbench",)
    return None


def _default_envs(spec: str, configured: tuple[str, ...]) -> tuple[str, ...]:
    playable = _playable_envs(spec)
    return configured if playable is None else tuple(e for e in configured if e in playable)


# ---------------------------------------------------------------------------------- TOML


_TOP_KEYS = ("leaderboard", "envs", "agents", "serve", "stack")
_LB_KEYS = (
    "name",
    "mode",
    "seeds",
    "act_timeout_s",
    "max_decisions",
    "max_wall_s",
    "max_attempts",
    "serve",
    "serve_args",
    "cache_db",
    "save_replays",
    "bootstrap",
    "prior_draws",
)
_ENV_KEYS = {
    "streetfighter": (
        "seeds",
        "characters",
        "round_seconds",
        "rounds_to_win",
        "decision_interval_ms",
        "pairing",
        "env_kwargs",
    ),
    "hftbench": ("seeds", "session_seconds", "decision_interval_ms", "env_kwargs"),
}
_AGENT_KEYS = ("name", "spec", "latency", "envs", "model", "anchor")
PAIRINGS = ("round-robin", "gauntlet")
_SERVE_KEYS = ("name", "model", "port", "args", "timeout_s", "precision")


def _env_settings(key: str, table: Mapping[str, Any], default_seeds: Any) -> EnvSettings:
    where = f"envs.{key}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    _check_keys(table, _ENV_KEYS[key], where)
    seeds = table.get("seeds", default_seeds)
    if seeds is None:
        raise ConfigError(f"{where}: no seeds; set {where}.seeds or leaderboard.seeds")
    seeds = _check_seeds(seeds, f"{where}.seeds" if "seeds" in table else "leaderboard.seeds")
    kwargs = dict(table.get("env_kwargs", {}))
    if not isinstance(table.get("env_kwargs", {}), Mapping):
        raise ConfigError(f"{where}.env_kwargs must be a table")
    for name in _ENV_KEYS[key]:
        if name not in ("seeds", "characters", "env_kwargs", "pairing") and name in table:
            kwargs[name] = table[name]
    characters: tuple[tuple[str, str], ...] = ()
    if "characters" in table:
        from splitsecond.envs.streetfighter.frame_data import CHARACTER_NAMES

        chars = table["characters"]
        if not isinstance(chars, list) or not chars:
            raise ConfigError(f"{where}.characters must be a non-empty list of [name, name] pairs")
        pairs = []
        for pair in chars:
            if (
                not isinstance(pair, list | tuple)
                or len(pair) != 2
                or not all(c in CHARACTER_NAMES for c in pair)
            ):
                raise ConfigError(
                    f"{where}.characters: bad pair {pair!r}; each is [name, name] with names from "
                    f"{', '.join(CHARACTER_NAMES)}"
                )
            pairs.append((str(pair[0]), str(pair[1])))
        characters = tuple(pairs)
    pairing = table.get("pairing", "round-robin")
    if pairing not in PAIRINGS:
        raise ConfigError(f"{where}.pairing must be one of {', '.join(PAIRINGS)}, got {pairing!r}")
    return EnvSettings(key, seeds, kwargs, characters, pairing)


def _agent_entry(i: int, table: Any) -> AgentEntry:
    where = f"agents[{i}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table with name/spec/latency/envs, got {table!r}")
    _check_keys(table, _AGENT_KEYS, where)
    spec = table.get("spec")
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{where}: spec must be a non-empty agent spec string, got {spec!r}")
    name = table.get("name", spec.strip() if re.fullmatch(r"[\w\-]+", spec.strip()) else None)
    if name is None:
        raise ConfigError(f"{where}: give a name for agent spec {spec!r}")
    if not isinstance(name, str) or not _NAME_RE.match(name) or "@" in name:
        raise ConfigError(
            f"{where}: name must be letters, digits and _.:+- (no '@', which marks latency variants), "
            f"got {name!r}"
        )
    latency = table.get("latency", "declared")
    lat = (latency,) if isinstance(latency, str) else latency
    if (
        not isinstance(lat, list | tuple)
        or not lat
        or not all(isinstance(x, str) and x.strip() for x in lat)
        or len(set(lat)) != len(lat)
    ):
        raise ConfigError(
            f"{where} ({name!r}): latency must be a spec string or a non-empty list of distinct specs, "
            f"got {latency!r}"
        )
    envs = table.get("envs")
    if envs is not None:
        if not isinstance(envs, list) or not envs:
            raise ConfigError(f"{where} ({name!r}): envs must be a non-empty list of env names")
        envs = tuple(dict.fromkeys(env_key(e) for e in envs))
    model = table.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ConfigError(f"{where} ({name!r}): model must be a model name, got {model!r}")
    anchor = table.get("anchor", False)
    if not isinstance(anchor, bool):
        raise ConfigError(f"{where} ({name!r}): anchor must be true or false, got {anchor!r}")
    return AgentEntry(name, spec.strip(), tuple(x.strip() for x in lat), envs, model, anchor)


def _serve_entry(i: int, table: Any) -> ServeEntry:
    where = f"serve[{i}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table with {'/'.join(_SERVE_KEYS)}, got {table!r}")
    _check_keys(table, _SERVE_KEYS, where)
    model = table.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{where}: model must be a model short name or path, got {model!r}")
    name = table.get("name", model.strip())
    label = f"{where} ({name!r})"
    port = table.get("port", "auto")
    if port == "auto":
        port = None
    elif not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ConfigError(f'{label}: port must be "auto" or an integer in 1..65535, got {port!r}')
    args = table.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigError(f"{label}: args must be a list of strings (serve options), got {args!r}")
    precision = table.get("precision")
    if precision is not None:  # the same model at two precisions: two entries with their own names
        from splitsecond.serving.config import PRECISIONS
        from splitsecond.serving.kernels.mixed_precision import is_mixed, parse_target

        if is_mixed(precision):
            try:
                parse_target(precision)
            except ValueError as exc:
                raise ConfigError(f"{label}: {exc}") from None
        elif precision not in PRECISIONS:
            raise ConfigError(
                f"{label}: precision must be one of {PRECISIONS} or 'mixed:<target>', got {precision!r}"
            )
        args = [*args, "--precision", precision]
    try:
        return ServeEntry(name, model.strip(), port, tuple(args), table.get("timeout_s", 300.0))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def config_from_dict(data: Mapping[str, Any], default_name: str = "leaderboard") -> LeaderboardConfig:
    """Build and validate a config from parsed TOML (see the module docstring).

    Raises:
        ConfigError: naming the bad entry.
    """
    _check_keys(data, _TOP_KEYS, "the config file")
    lb = data.get("leaderboard", {})
    if not isinstance(lb, Mapping):
        raise ConfigError("[leaderboard] must be a table")
    _check_keys(lb, _LB_KEYS, "[leaderboard]")
    envs_table = data.get("envs", {})
    if not isinstance(envs_table, Mapping):
        raise ConfigError("[envs] must be a table of [envs.<name>] tables")
    envs: dict[str, EnvSettings] = {}
    for raw_key, table in envs_table.items():
        key = env_key(raw_key)
        envs[key] = _env_settings(key, table, lb.get("seeds"))
    agents_list = data.get("agents", [])
    if not isinstance(agents_list, list):
        raise ConfigError("agents must be an array of tables ([[agents]])")
    agents = tuple(_agent_entry(i, t) for i, t in enumerate(agents_list))
    serve_list = data.get("serve", [])
    if not isinstance(serve_list, list):
        raise ConfigError(
            "serve must be an array of tables ([[serve]]); a single model goes in leaderboard.serve"
        )
    servers = tuple(_serve_entry(i, t) for i, t in enumerate(serve_list))
    serve_args = lb.get("serve_args", [])
    if not isinstance(serve_args, list) or not all(isinstance(a, str) for a in serve_args):
        raise ConfigError(f"leaderboard.serve_args must be a list of strings, got {serve_args!r}")
    stack = None
    if "stack" in data:
        from splitsecond.benchmarks.leaderboard.stack import stack_from_dict

        stack = stack_from_dict(data["stack"])
    if "save_replays" in lb and not isinstance(lb["save_replays"], bool):
        raise ConfigError(f"leaderboard.save_replays must be true or false, got {lb['save_replays']!r}")
    config = LeaderboardConfig(
        name=lb.get("name", default_name),
        agents=agents,
        envs=envs,
        mode=lb.get("mode", "virtual"),
        act_timeout_s=lb.get("act_timeout_s", 30.0),
        max_decisions=lb.get("max_decisions"),
        max_wall_s=lb.get("max_wall_s"),
        max_attempts=lb.get("max_attempts", 3),
        serve=lb.get("serve"),
        serve_args=tuple(serve_args),
        servers=servers,
        cache_db=lb.get("cache_db"),
        save_replays=lb.get("save_replays", True),
        bootstrap=lb.get("bootstrap", 500),
        prior_draws=lb.get("prior_draws", 1.0),
        stack=stack,
    )
    config.validate()
    return config


def load_config(path: str | Path) -> LeaderboardConfig:
    """Read and validate a leaderboard TOML file.

    Raises:
        ConfigError: for a missing file, bad TOML or a bad entry (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"leaderboard config {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(data, default_name=path.stem)


def resize_config(
    config: LeaderboardConfig, *, seeds: int | None = None, max_decisions: int | None = None
) -> LeaderboardConfig:
    """The same leaderboard, smaller: each env keeps only its first ``seeds`` seeds and every match
    stops after ``max_decisions`` decisions in all (``None``: as configured). Everything else (agents,
    servers, ``[stack]``, env settings) is unchanged; the match keys hold both, so a resized run never
    mixes with the full one and resumes when run again with the same sizes.

    Raises:
        ConfigError: when ``seeds`` or ``max_decisions`` is not a positive integer.
    """
    from dataclasses import replace

    _positive(seeds, "--seeds", integer=True, optional=True)
    _positive(max_decisions, "--max-decisions", integer=True, optional=True)
    if seeds is not None:
        envs = {key: replace(s, seeds=s.seeds[:seeds]) for key, s in config.envs.items()}
        config = replace(config, envs=envs)
    if max_decisions is not None:
        config = replace(config, max_decisions=max_decisions)
    return config
