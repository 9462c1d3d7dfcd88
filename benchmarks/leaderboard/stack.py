"""The ``[stack]`` of a leaderboard: the whole serving stack one run starts, checks and stops.

::

    [stack]
    max_restarts = 1                  # a component that dies is restarted this often, then the run stops
    health_interval_s = 5.0           # how often /health is asked (process deaths are seen at once)

    [stack.servers.coder-1.5b]        # a [[serve]] entry (or leaderboard.serve) by name
    kv_tier = "flash"                 # auto (default), flash, dram or recompute
    zone_path = "auto"                # flash zone file; auto: <run folder>/stack/<server>.zone
    zone_size_mb = "auto"             # auto: sized from the zone folder's free disk
    io_backend = "auto"               # auto, posix or kvikio
    kv_cache_memory_mb = 24           # the DRAM KV budget (what a busy GPU's would be, scaled down)
    max_num_seqs = 8

    [stack.edges.coder-edge]          # one edge per worker, for agent specs with {edge:coder-edge}
    server = "coder-1.5b"             # the server whose verifier it drafts for
    draft = "model:qwen2.5-coder-0.5b"  # or suffix, prompt-lookup, none ...
    rtt_ms = 20.0                     # emulated round trip to the server (half each way)
    verify_timeout_s = 240.0          # longest wait for a verdict (default: leaderboard.act_timeout_s)

    [stack.plan_cache]                # the store and cheap model of apc/ agents
    store = "sqlite"                  # sqlite (next to the results), redis (a redis-server the run
                                      # starts and supervises), or a redis:// URL
    adapter = "openai/smollm2-135m@{serve:adapter}"  # the cache's cheap model (default: the agent's)

Routing is per agent, in its spec: ``openai/qwen2.5-coder-1.5b@{serve:coder-1.5b}`` talks to the
server, ``...@{edge:coder-edge}`` to the worker's own edge, and an ``apc/`` prefix puts the plan cache
in front of either.

:func:`stack_from_dict` validates the table (:class:`ConfigError` naming the bad key); the runner
(:mod:`.stack_runtime`) starts the servers with these settings, then the edges, then the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from splitsecond.benchmarks.leaderboard.config import ConfigError, _check_keys, _positive

KV_TIERS = ("auto", "flash", "dram", "recompute")
"""KV tier policies of a stack server (``auto``: flash where the zone fits, see ``kvtier.auto``)."""

IO_BACKENDS = ("auto", "posix", "kvikio")
"""I/O paths of a flash zone."""

STORES = ("sqlite", "redis")
"""Plan cache stores a stack can name (besides a ``redis://`` URL)."""

_DRAFT_RE = re.compile(r"^(prompt-lookup|suffix|none|model|model:\S+|self:[1-9]\d*)$")
_NAME_RE = re.compile(r"^[^{}\s:]+$")

_STACK_KEYS = ("max_restarts", "health_interval_s", "servers", "edges", "plan_cache")
_SERVER_KEYS = (
    "kv_tier",
    "zone_path",
    "zone_size_mb",
    "io_backend",
    "dram_swap_mb",
    "kv_cache_memory_mb",
    "num_kv_blocks",
    "max_num_seqs",
    "args",
)
_EDGE_KEYS = ("server", "draft", "rtt_ms", "max_draft_tokens", "args", "timeout_s", "verify_timeout_s")
_CACHE_KEYS = ("store", "adapter")


def _optional_int(value: Any, where: str) -> int | None:
    return _positive(value, where, integer=True, optional=True)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(a, str) for a in value):
        raise ConfigError(f"{where} must be a list of strings, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class StackServer:
    """The KV tier and memory of one server of the stack (``[stack.servers.<name>]``).

    Attributes:
        name: the ``[[serve]]`` entry (or ``leaderboard.serve``) it configures.
        kv_tier: ``auto``, ``flash``, ``dram`` or ``recompute`` (see :data:`KV_TIERS`).
        zone_path: the flash zone file (``None``: ``<run folder>/stack/<name>.zone``).
        zone_size_mb: the zone's size in MiB (``None``: sized from the folder's free disk).
        io_backend: the zone's I/O path (see :data:`IO_BACKENDS`).
        dram_swap_mb: the host-memory pool of the ``dram`` tier (``None``: the engine's default).
        kv_cache_memory_mb: the DRAM KV budget (``None``: the engine's default).
        num_kv_blocks: KV blocks (overrides ``kv_cache_memory_mb``).
        max_num_seqs: sequences in one batch.
        args: further ``splitsecond serve`` options.
    """

    name: str
    kv_tier: str = "auto"
    zone_path: str | None = None
    zone_size_mb: int | None = None
    io_backend: str = "auto"
    dram_swap_mb: int | None = None
    kv_cache_memory_mb: int | None = None
    num_kv_blocks: int | None = None
    max_num_seqs: int | None = None
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"stack.servers.{self.name}"
        if self.kv_tier not in KV_TIERS:
            raise ConfigError(f"{where}.kv_tier must be one of {', '.join(KV_TIERS)}, got {self.kv_tier!r}")
        if self.io_backend not in IO_BACKENDS:
            raise ConfigError(
                f"{where}.io_backend must be one of {', '.join(IO_BACKENDS)}, got {self.io_backend!r}"
            )
        if self.zone_path is not None and (not isinstance(self.zone_path, str) or not self.zone_path.strip()):
            raise ConfigError(f'{where}.zone_path must be a file path or "auto", got {self.zone_path!r}')
        if self.zone_size_mb is not None and (
            not isinstance(self.zone_size_mb, int)
            or isinstance(self.zone_size_mb, bool)
            or self.zone_size_mb < 2
        ):
            raise ConfigError(
                f'{where}.zone_size_mb must be an integer >= 2 or "auto", got {self.zone_size_mb!r}'
            )
        for name in ("dram_swap_mb", "kv_cache_memory_mb", "num_kv_blocks", "max_num_seqs"):
            _optional_int(getattr(self, name), f"{where}.{name}")
        if self.num_kv_blocks is not None and self.num_kv_blocks < 2:
            raise ConfigError(f"{where}.num_kv_blocks must be >= 2, got {self.num_kv_blocks!r}")
        if self.kv_tier not in ("flash", "auto") and (
            self.zone_path is not None or self.zone_size_mb is not None
        ):
            raise ConfigError(
                f"{where}: zone_path and zone_size_mb need kv_tier flash or auto, not {self.kv_tier!r}"
            )

    def serve_args(self, zone_path: str, zone_size_mb: int | None) -> list[str]:
        """The ``splitsecond serve`` options of this server (``zone_path``/``zone_size_mb``: resolved)."""
        args = ["--kv-swap-policy", self.kv_tier]
        if self.kv_tier in ("flash", "auto"):
            args += ["--kv-swap-path", zone_path, "--kv-swap-io-backend", self.io_backend]
            if zone_size_mb is not None:
                args += ["--kv-swap-size-mb", str(zone_size_mb)]
        for flag, value in (
            ("--kv-dram-swap-mb", self.dram_swap_mb),
            ("--kv-cache-memory-mb", self.kv_cache_memory_mb),
            ("--num-kv-blocks", self.num_kv_blocks),
            ("--max-num-seqs", self.max_num_seqs),
        ):
            if value is not None:
                args += [flag, str(value)]
        return [*args, *self.args]


@dataclass(frozen=True)
class StackEdge:
    """An edge of the stack (``[stack.edges.<name>]``); the runner starts one per worker.

    Attributes:
        name: what agent specs call it (``{edge:<name>}``).
        server: the server (``[[serve]]`` name) whose verifier it drafts for.
        draft: the draft source (``suffix``, ``model:NAME`` ... as ``splitsecond edge --draft``).
        rtt_ms: the emulated round trip to the server (half of it each way).
        max_draft_tokens: the longest draft per round.
        args: further ``splitsecond edge`` options.
        timeout_s: how long it may take to come up.
        verify_timeout_s: the longest wait for the server's verdict (``None``: the leaderboard's
            ``act_timeout_s``, as a decision may take that long: a slow server prefilling a long
            prompt would otherwise fail the call that a direct route still answers).
    """

    name: str
    server: str
    draft: str = "suffix"
    rtt_ms: float = 0.0
    max_draft_tokens: int = 8
    args: tuple[str, ...] = ()
    timeout_s: float = 300.0
    verify_timeout_s: float | None = None

    def __post_init__(self) -> None:
        where = f"stack.edges.{self.name}"
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(f"{where}: the name must be non-empty, without spaces, ':' or braces")
        if not isinstance(self.server, str) or not self.server.strip():
            raise ConfigError(f"{where}.server must name a [[serve]] entry, got {self.server!r}")
        if not isinstance(self.draft, str) or not _DRAFT_RE.match(self.draft):
            raise ConfigError(
                f"{where}.draft must be prompt-lookup, suffix, none, model, model:NAME or self:N, got {self.draft!r}"
            )
        if not isinstance(self.rtt_ms, int | float) or isinstance(self.rtt_ms, bool) or self.rtt_ms < 0:
            raise ConfigError(f"{where}.rtt_ms must be a number >= 0, got {self.rtt_ms!r}")
        if not isinstance(self.max_draft_tokens, int) or not 0 <= self.max_draft_tokens <= 64:
            raise ConfigError(
                f"{where}.max_draft_tokens must be an integer in 0..64, got {self.max_draft_tokens!r}"
            )
        _positive(self.timeout_s, f"{where}.timeout_s")
        _positive(self.verify_timeout_s, f"{where}.verify_timeout_s", optional=True)

    def edge_args(self, model: str, verify_timeout_s: float = 30.0) -> list[str]:
        """The ``splitsecond edge`` options (without ``--server``/``--port``) for served ``model``
        (``verify_timeout_s``: used unless :attr:`verify_timeout_s` is set)."""
        return [
            "--verify-timeout-s",
            f"{self.verify_timeout_s or verify_timeout_s:g}",
            "--model",
            model,
            "--draft",
            self.draft,
            "--one-way-delay-ms",
            f"{self.rtt_ms / 2:g}",
            "--max-draft-tokens",
            str(self.max_draft_tokens),
            *self.args,
        ]


@dataclass(frozen=True)
class StackPlanCache:
    """The plan cache of ``apc/`` agents (``[stack.plan_cache]``).

    Attributes:
        store: ``sqlite`` (``leaderboard.cache_db`` or next to the results), ``redis`` (a
            ``redis-server`` the run starts and supervises) or a ``redis://`` URL.
        adapter: the cache's cheap model as an LLM spec ``<litellm model>@<api_base>`` (the base may be
            ``{serve:<name>}``); ``None``: each agent's own model.
    """

    store: str = "sqlite"
    adapter: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.store, str) or not (
            self.store in STORES or self.store.startswith(("redis://", "rediss://"))
        ):
            raise ConfigError(
                f"stack.plan_cache.store must be sqlite, redis or a redis:// URL, got {self.store!r}"
            )
        if self.adapter is not None and (
            not isinstance(self.adapter, str) or "@" not in self.adapter or self.adapter.startswith("apc/")
        ):
            raise ConfigError(
                "stack.plan_cache.adapter must be '<litellm model>@<api_base>' (not through apc/), "
                f"e.g. 'openai/smollm2-135m@{{serve:adapter}}', got {self.adapter!r}"
            )


@dataclass(frozen=True)
class StackConfig:
    """A leaderboard's ``[stack]`` (see the module docstring).

    Attributes:
        servers: KV tier settings per server name.
        edges: the edges, by name.
        plan_cache: the plan cache's store and adapter.
        max_restarts: restarts allowed per component before the run stops.
        health_interval_s: seconds between ``/health`` probes of every component.
    """

    servers: Mapping[str, StackServer] = field(default_factory=dict)
    edges: Mapping[str, StackEdge] = field(default_factory=dict)
    plan_cache: StackPlanCache = field(default_factory=StackPlanCache)
    max_restarts: int = 1
    health_interval_s: float = 5.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.max_restarts, int)
            or isinstance(self.max_restarts, bool)
            or self.max_restarts < 0
        ):
            raise ConfigError(f"stack.max_restarts must be an integer >= 0, got {self.max_restarts!r}")
        _positive(self.health_interval_s, "stack.health_interval_s")

    def check_names(self, serve_names: Mapping[str, Any]) -> None:
        """Every server named by ``[stack.servers.*]`` and ``edges.*.server`` exists.

        Raises:
            ConfigError: naming the entry and the servers defined.
        """
        known = ", ".join(serve_names) or "none"
        for name in self.servers:
            if name not in serve_names:
                raise ConfigError(
                    f"stack.servers.{name}: no [[serve]] entry is called {name!r}; defined: {known}"
                )
        for edge in self.edges.values():
            if edge.server not in serve_names:
                raise ConfigError(
                    f"stack.edges.{edge.name}.server: no [[serve]] entry is called {edge.server!r}; defined: {known}"
                )

    def server(self, name: str) -> StackServer:
        """The settings of server ``name`` (defaults when ``[stack.servers.<name>]`` is absent)."""
        return self.servers.get(name) or StackServer(name)

    def verified_servers(self) -> set[str]:
        """Servers an edge drafts for (they also run the gRPC verifier)."""
        return {edge.server for edge in self.edges.values()}


def _server(name: str, table: Any) -> StackServer:
    where = f"stack.servers.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    _check_keys(table, _SERVER_KEYS, where)
    kw = dict(table)
    for key in ("zone_path", "zone_size_mb"):
        if kw.get(key) == "auto":
            kw[key] = None
    if "args" in kw:
        kw["args"] = _strings(kw["args"], f"{where}.args")
    return StackServer(name, **kw)


def _edge(name: str, table: Any) -> StackEdge:
    where = f"stack.edges.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    _check_keys(table, _EDGE_KEYS, where)
    if "server" not in table:
        raise ConfigError(f"{where}: server is required (the [[serve]] entry it drafts for)")
    kw = dict(table)
    if "args" in kw:
        kw["args"] = _strings(kw["args"], f"{where}.args")
    return StackEdge(name, **kw)


def stack_from_dict(table: Any) -> StackConfig:
    """Build a :class:`StackConfig` from a parsed ``[stack]`` table.

    Raises:
        ConfigError: naming the bad key.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"[stack] must be a table, got {table!r}")
    _check_keys(table, _STACK_KEYS, "[stack]")
    for key in ("servers", "edges", "plan_cache"):
        if key in table and not isinstance(table[key], Mapping):
            raise ConfigError(f"stack.{key} must be a table, got {table[key]!r}")
    cache = table.get("plan_cache", {})
    _check_keys(cache, _CACHE_KEYS, "stack.plan_cache")
    return StackConfig(
        servers={name: _server(name, t) for name, t in table.get("servers", {}).items()},
        edges={name: _edge(name, t) for name, t in table.get("edges", {}).items()},
        plan_cache=StackPlanCache(**cache),
        max_restarts=table.get("max_restarts", 1),
        health_interval_s=table.get("health_interval_s", 5.0),
    )
