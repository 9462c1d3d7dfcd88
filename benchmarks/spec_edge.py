"""Edge-assisted speculative decoding (SpecEdge) against server-only decoding, on one real server.

Run: ``.venv/bin/python -m splitsecond.benchmarks.spec_edge [--quick]``.

One ``splitsecond serve --speculative-edge`` subprocess serves the whole run. In each cell of the grid
(workload x concurrent users x round-trip time x mode) every user sends greedy requests back to back;
the grid is measured ``rounds`` times and each figure is the median over rounds (this 2-core machine's
speed drifts by up to 1.5x within minutes, and a cell lasts seconds):

- **server-only**: streamed ``/v1/completions`` over HTTP (the server decodes one token per step);
- **edge-assisted**: an :class:`~splitsecond.serving.speculative.edge.engine.EdgeEngine` in this
  process drafts (prompt lookup, suffix = this edge's earlier outputs plus prompt lookup, the target's
  first N layers, or the whole target as drafter) and the server verifies each draft over gRPC.

No request repeats a prompt within a cell (``prompts`` >= 2 x users when the suffix source runs): the
suffix source drafts from earlier outputs, and a repeated prompt would be drafted from its own answer.
Before every cell its cache is reset to the outputs of the *history*: on agent prompts, the agent's
``history`` decisions that come before the measured ones in the same episodes (what an edge serving that
agent would have seen); on general prompts, nothing. During the cell it learns from each finished
request, as it does in deployment.

Figures, as the SpecEdge paper defines them: *server throughput* = tokens generated / server busy time
(the engine's ``busy_seconds``, from ``/debug/engine_stats`` before and after the cell: only that cell's
load runs); *inter-token latency* (ITL) = decode wall time after the first token / tokens after the
first, per request (median over requests); mean acceptance length (tokens per verification round, the
target's own token included), acceptance rate, per-position acceptance and bytes per round (from the
edge's ``spec_summary``). Every greedy output is compared with the server-only output of the same
prompt at one user (``lossless``).

The network between edge and server is a real path (``benchmarks.netem``): the server runs in its own
network namespace, joined by a veth pair with ``tc netem`` on both ends when the kernel has netem, or
else by two TUN devices and a relay process that holds every packet RTT/2 and drops the lossy
conditions' share (``--lossy-rtts``, 1 % per direction by default; kernel TCP retransmits). Where no
namespace can be made (not root), the edge's in-process delay
(``EdgeConfig.one_way_delay_ms`` = RTT / 2 on every message in each direction). In-process, the
server-only rows at RTT > 0 are derived from the 0 ms measurement: the server streams without waiting
for the client, so a one-way delay shifts every token's arrival equally (ITL and server throughput
unchanged) and adds one RTT to the time to first token. The JSON says which method ran and why.

Goals (issue text): >= 2.2x server throughput and >= 11% lower ITL at 14 ms RTT, and never a lower
server throughput than server-only at the highest load. Results go to
``benchmarks/results/spec_edge.json``.

``--preset qwen`` measures a small draft model on the edge (issue 24): Qwen2.5-Coder-0.5B drafting
(``model:qwen2.5-coder-0.5b``, the suffix source beside it) for a Qwen2.5-Coder-1.5B server in
float32, at 1, 4 and 8 users, 14 ms by default (``--rtts 5,14,50 --lossy-rtts 14`` for the rest). The
server and the edges are separate processes pinned to separate cores (``--pin``: the server on CPU 0
with one torch thread, this process with every edge on CPU 1); each user sends one prompt (three at one
user) and every output is compared with the server-only output of the same prompt in the same run.
Besides the figures above it reports the end-to-end decision latency (request sent to last token,
median) and, per cell, issue 24's goals (``draft_model_goals``). One workload per invocation fits in
about ten minutes on this 2-vCPU machine; ``--quick`` halves that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from splitsecond.benchmarks.machine import machine_info
from splitsecond.benchmarks.netem import LinkConditions, NetLink, probe_network, remove_stale

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "spec_edge.json"

#: Goals from the issue: server-throughput ratio and ITL reduction at 14 ms RTT.
GOAL_THROUGHPUT_RATIO = 2.2
GOAL_ITL_REDUCTION = 0.11
GOAL_RTT_MS = 14.0

SERVER_ONLY = "server-only"
WORKLOADS = ("general", "agent")
#: Draft sources this benchmark knows (``self:N`` with any N >= 1).
KNOWN_SOURCES = ("prompt-lookup", "suffix", "self:N", "model", "model:NAME", "none")
#: Early-exit depth of the ``self:N`` drafter (smollm2-135m has 30 decoder layers).
SELF_LAYERS = 10


# ---------------------------------------------------------------- configuration


@dataclass
class BenchConfig:
    """What one run measures.

    ``users``: concurrent users per cell; ``rtts_ms``: round-trip times edge <-> server; ``sources``:
    edge draft sources (``EdgeConfig.draft`` values); ``workloads``: "general" and/or "agent";
    ``max_tokens``: per workload; ``prompts``: prompts per workload (at most 16); ``history``: agent
    decisions before the measured ones whose outputs seed the suffix source's cache; ``rounds``: times the
    whole grid is measured (each cell's figures are medians over rounds, each ratio the median of the
    per-round ratios against that round's server-only peer); ``model_draft_users``:
    user counts at which the "model" source runs (it costs a full forward per draft token on this CPU);
    ``self_draft_users``: user counts at which ``self:N`` sources run (``None``: all of ``users``);
    ``max_draft_tokens``: the edge's cap on k; ``network``: "auto" (a real link, netem or the tun relay
    of ``benchmarks.netem``, where this machine allows one, else in-process), "netem" (a real link
    required) or "in-process". ``lossy_rtts_ms``: RTTs measured again with ``loss_pct`` % packet loss
    in each direction (real links only). ``requests_per_user``: when set, a cell at u users sends
    ``max(min_requests, u * requests_per_user)`` prompts once each (at most ``prompts``) instead of
    every prompt (:func:`schedule`), and each output is checked against the server-only peer cell's
    output of the same prompt. ``pin``: the server on CPU 0 with one torch thread, this process (the
    edges) and the link's relay on CPU 1 (``os.sched_setaffinity``).
    """

    users: tuple[int, ...] = (1, 4, 8)
    rtts_ms: tuple[float, ...] = (0.0, 14.0)
    sources: tuple[str, ...] = ("prompt-lookup", "suffix", f"self:{SELF_LAYERS}", "model")
    workloads: tuple[str, ...] = WORKLOADS
    max_tokens: dict[str, int] = field(default_factory=lambda: {"general": 48, "agent": 24})
    prompts: int = 16
    history: int = 16
    rounds: int = 3
    model_draft_users: tuple[int, ...] = (1,)
    self_draft_users: tuple[int, ...] | None = (1,)
    max_draft_tokens: int = 8
    network: str = "auto"
    lossy_rtts_ms: tuple[float, ...] = ()
    loss_pct: float = 1.0
    requests_per_user: int | None = None
    min_requests: int = 3
    pin: bool = False

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"BenchConfig: {msg}")

        if not self.users or any(not isinstance(u, int) or isinstance(u, bool) or u < 1 for u in self.users):
            bad(f"users must be positive integers, got {self.users!r}")
        if not self.rtts_ms or any(not isinstance(r, int | float) or r < 0 for r in self.rtts_ms):
            bad(f"rtts_ms must be numbers >= 0, got {self.rtts_ms!r}")
        if 0 not in self.rtts_ms and self.network == "in-process":
            bad(f"rtts_ms must include 0 (the server-only reference, in-process), got {self.rtts_ms!r}")
        if any(not isinstance(r, int | float) or r < 0 for r in self.lossy_rtts_ms):
            bad(f"lossy_rtts_ms must be numbers >= 0, got {self.lossy_rtts_ms!r}")
        if not isinstance(self.loss_pct, int | float) or not 0 < self.loss_pct < 100:
            bad(f"loss_pct must be in (0, 100), got {self.loss_pct!r}")
        for name in ("requests_per_user", "min_requests"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                bad(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.pin, bool):
            bad(f"pin must be True or False, got {self.pin!r}")
        for s in self.sources:
            if not isinstance(s, str) or not (
                s in ("prompt-lookup", "suffix", "model", "none")
                or (s.startswith("self:") and s[5:].isdigit())
                or (s.startswith("model:") and len(s) > 6)
            ):
                bad(f"unknown draft source {s!r}; valid: {', '.join(KNOWN_SOURCES)}")
        if not self.workloads or any(w not in WORKLOADS for w in self.workloads):
            bad(f"workloads must be among {WORKLOADS}, got {self.workloads!r}")
        for w in self.workloads:
            m = self.max_tokens.get(w)
            if not isinstance(m, int) or m < 2:
                bad(f"max_tokens[{w!r}] must be an integer >= 2 (ITL needs two tokens), got {m!r}")
        if not isinstance(self.prompts, int) or not 1 <= self.prompts <= len(GENERAL_PROMPTS):
            bad(f"prompts must be an integer in [1, {len(GENERAL_PROMPTS)}], got {self.prompts!r}")
        if not isinstance(self.rounds, int) or isinstance(self.rounds, bool) or not 1 <= self.rounds <= 10:
            bad(f"rounds must be an integer in [1, 10], got {self.rounds!r}")
        if not isinstance(self.history, int) or isinstance(self.history, bool) or self.history < 0:
            bad(f"history must be an integer >= 0, got {self.history!r}")
        if "suffix" in self.sources and self.requests_per_user is None and self.prompts < 2 * max(self.users):
            bad(f"the suffix source drafts from earlier outputs, so no prompt may repeat within a cell: "
                f"prompts ({self.prompts}) must be >= 2 x the largest user count ({max(self.users)})")  # fmt: skip
        for name in ("model_draft_users", "self_draft_users"):
            v = getattr(self, name)
            if v is not None and any(not isinstance(u, int) or isinstance(u, bool) or u < 1 for u in v):
                bad(
                    f"{name} must be positive integers{' or None' if name == 'self_draft_users' else ''}, got {v!r}"
                )
        if not isinstance(self.max_draft_tokens, int) or not 1 <= self.max_draft_tokens <= 64:
            bad(f"max_draft_tokens must be an integer in [1, 64], got {self.max_draft_tokens!r}")
        if self.network not in ("auto", "netem", "in-process"):
            bad(f"network must be 'auto', 'netem' or 'in-process', got {self.network!r}")
        self.users = tuple(sorted(set(self.users)))
        self.rtts_ms = tuple(sorted({float(r) for r in self.rtts_ms}))
        self.lossy_rtts_ms = tuple(sorted({float(r) for r in self.lossy_rtts_ms}))

    def conditions(self, real_link: bool) -> list[LinkConditions]:
        """The network conditions of the grid: every RTT without loss, then (real links only) the lossy ones."""
        out = [LinkConditions(r) for r in self.rtts_ms]
        if real_link:
            out += [LinkConditions(r, self.loss_pct) for r in self.lossy_rtts_ms]
        return out

    def cell_prompts(self, users: int, num_prompts: int) -> int:
        """How many of the workload's prompts a cell at ``users`` users sends (all, unless
        ``requests_per_user`` is set)."""
        if self.requests_per_user is None:
            return num_prompts
        return min(num_prompts, max(self.min_requests, users * self.requests_per_user))

    def sources_at(self, users: int) -> list[str]:
        """The draft sources measured at ``users`` concurrent users."""

        def runs(s: str) -> bool:
            if s == "model":
                return users in self.model_draft_users
            if s.startswith("self:"):
                return self.self_draft_users is None or users in self.self_draft_users
            return True

        return [s for s in self.sources if runs(s)]


# ---------------------------------------------------------------- prompts

_PARAGRAPH = (
    "The city council voted on Tuesday to convert the old railway depot into a public library and "
    "community workshop. Construction will start in March and is expected to last eighteen months. "
    "The project is funded by a regional grant and a local bond, and the council promised that the "
    "building's brick facade and clock tower will be preserved."
)

GENERAL_PROMPTS: tuple[str, ...] = (
    "Explain in three sentences why the sky is blue.",
    "List five practical tips for writing clean Python code, one line each.",
    "Write a short story (about five sentences) about a robot who learns to paint.",
    "Write a Python function `fibonacci(n)` that returns the n-th Fibonacci number iteratively, with a docstring.",
    f"Summarise the following paragraph in two sentences.\n\n{_PARAGRAPH}",
    "Here is a product description:\n\n\"The Trailmaster backpack is lightweight, waterproof and has a "
    "padded laptop sleeve. Its lightweight frame carries up to 20 kg.\"\n\nRewrite it word for word, but "
    "replace every 'lightweight' with 'featherlight'.",
    "Here is a function:\n\n```python\ndef average(values):\n    total = 0\n    for v in values:\n        "
    "total += v\n    return total / len(values)\n```\n\nAdd type hints and a docstring; show the whole function.",
    "What are the main differences between TCP and UDP? Answer as a short list.",
    "Describe how a bicycle's gears work to a ten-year-old.",
    "Give three arguments for and three against working from home.",
    "Write a limerick about a cat who loves mathematics.",
    "Write a SQL query that returns the ten customers with the highest total order value from tables "
    "`customers(id, name)` and `orders(id, customer_id, amount)`.",
    "Translate into French: 'The train to Lyon leaves at nine, and the tickets are in my bag.'",
    "Here is a list: apples, pears, plums, cherries, grapes. Repeat the list in alphabetical order, "
    "one item per line.",
    "Explain what a hash table is and when you would use one, in one paragraph.",
    "Draft a polite two-sentence email asking a colleague to move our meeting to Thursday.",
)  # fmt: skip
"""Sixteen varied instructions: explain, list, story, code, summarise, translate, and some whose answer
copies the prompt."""


def _agent_messages(n: int) -> list[list[dict[str, str]]]:
    """``n`` decision prompts as our LLM agents send them (chain-of-thought style, compact rules).

    Observations come from real StreetFighter and HFTBench episodes (seeded, random actions), alternating
    between the two games; the messages are built by the agents' own prompt templates.
    """
    import gymnasium as gym

    import splitsecond.envs  # noqa: F401  (registers the env ids)
    from splitsecond.agents.base import EnvSpec
    from splitsecond.agents.prompts import HFTBENCH_COMPACT, STREETFIGHTER_COMPACT
    from splitsecond.envs.hftbench.orders import GRAMMAR
    from splitsecond.envs.streetfighter import ACTION_NAMES

    out: list[list[dict[str, str]]] = []
    # a fixed zero latency, not the wall clock: the same prompts on a busy machine as on an idle one
    sf = gym.make("splitsecond/StreetFighter-v0", clock="fixed", latency_ms=0.0)
    hft = gym.make("splitsecond/HFTBench-v0", clock="fixed", latency_ms=0.0)
    try:
        sf_spec = EnvSpec("splitsecond/StreetFighter-v0", sf.action_space, sf.observation_space,
                          action_names=tuple(ACTION_NAMES))  # fmt: skip
        hft_spec = EnvSpec("splitsecond/HFTBench-v0", hft.action_space, hft.observation_space)
        sf.reset(seed=7)
        hft.reset(seed=7)
        sf.action_space.seed(7)
        hft.action_space.seed(7)
        sf_history: list[str] = []
        hft_history: list[str] = []
        for i in range(n):
            if i % 2 == 0:
                for _ in range(25):
                    a = int(sf.action_space.sample())
                    *_, info = sf.step(a)
                sf_history.append(f"t={0.4 * (i // 2 + 1):.2f}s: {ACTION_NAMES[a]}")
                out.append(STREETFIGHTER_COMPACT.messages(sf_spec, "chain-of-thought", list(ACTION_NAMES),
                                                          str(info["text"]), sf_history[-3:-1]))  # fmt: skip
            else:
                for _ in range(3):
                    *_, info = hft.step(hft.action_space.sample())
                hft_history.append(f"t={0.3 * (i // 2 + 1):.2f}s: HOLD")
                out.append(HFTBENCH_COMPACT.messages(hft_spec, "chain-of-thought", [GRAMMAR], str(info["text"]),
                                                     hft_history[-3:-1]))  # fmt: skip
    finally:
        sf.close()
        hft.close()
    return out


def build_prompts(workload: str, tokenizer: Any, n: int, history: int = 0) -> tuple[list[str], list[str]]:
    """(history, prompts): ``n`` prompt strings of ``workload`` with the model's chat template applied,
    and the ``history`` prompts that come before them (agent decisions earlier in the same episodes;
    general prompts have no history)."""
    if workload == "general":
        past: list[list[dict[str, str]]] = []
        messages = [[{"role": "user", "content": p}] for p in GENERAL_PROMPTS[:n]]
    elif workload == "agent":
        every = _agent_messages(history + n)
        past, messages = every[:history], every[history:]
    else:
        raise ValueError(f"unknown workload {workload!r}; valid: {WORKLOADS}")
    return [tokenizer.apply_chat_template(m) for m in past], [
        tokenizer.apply_chat_template(m) for m in messages
    ]


# ---------------------------------------------------------------- pure helpers (unit-tested)


@dataclass
class RequestRecord:
    """One request as its user saw it: times (s, from sending) of each token arrival and the output."""

    prompt_index: int
    text: str
    tokens: int
    ttft_s: float
    itl_s: float | None
    wall_s: float


def median(xs: Iterable[float | None]) -> float | None:
    """Median of the non-None values, None when there are none."""
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def percentile(xs: Iterable[float | None], q: float) -> float | None:
    """Nearest-rank ``q`` quantile (0..1) of the non-None values, None when there are none."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    vals = sorted(x for x in xs if x is not None)
    if not vals:
        return None
    return vals[min(len(vals) - 1, int(round(q * (len(vals) - 1))))]


def itl_seconds(arrivals: Sequence[float], tokens: int) -> float | None:
    """Inter-token latency of one request: (last arrival - first arrival) / (tokens - 1).

    ``arrivals`` are the times at which token-carrying messages arrived (one message may carry several
    tokens); the first one carries the first token. None when fewer than two tokens came, or when they all
    came in one message (nothing to measure).
    """
    if tokens < 2 or len(arrivals) < 2:
        return None
    return (arrivals[-1] - arrivals[0]) / (tokens - 1)


def schedule(num_prompts: int, users: int) -> list[int]:
    """Prompt indices of one cell, in the order users take them: every prompt at least once, and at least
    two requests per user (so every user is still busy while the others run)."""
    if num_prompts < 1 or users < 1:
        raise ValueError(f"need num_prompts >= 1 and users >= 1, got {num_prompts}, {users}")
    total = max(num_prompts, 2 * users)
    total = -(-total // num_prompts) * num_prompts  # whole passes over the prompts
    return [i % num_prompts for i in range(total)]


def engine_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | int | None]:
    """What the server did between two ``/debug/engine_stats`` snapshots, and its server throughput."""
    tokens = int(after["generation_tokens_total"]) - int(before["generation_tokens_total"])
    busy = float(after["busy_seconds"]) - float(before["busy_seconds"])
    if tokens < 0 or busy < 0:
        raise ValueError("engine stats went backwards: were the snapshots swapped or the server restarted?")
    delta: dict[str, float | int | None] = {
        "generation_tokens": tokens,
        "busy_s": busy,
        "server_throughput_tok_s": tokens / busy if busy > 0 else None,
    }
    for key in ("num_forward_passes", "spec_rounds", "spec_draft_tokens", "spec_accepted_tokens",
                "prompt_tokens_total", "prefix_cache_queries", "prefix_cache_hits"):  # fmt: skip
        delta[key] = int(after.get(key, 0)) - int(before.get(key, 0))
    return delta


def edge_stats_delta(before: Any, after: Any) -> Any:
    """The ``EdgeStats`` of what happened between two snapshots of one edge (field by field).

    Draft positions that no round of the interval proposed are dropped (as in a fresh ``EdgeStats``,
    ``proposed_at`` lists only positions proposed at least once; rounds propose positions 0..k-1, so
    those are the trailing ones).
    """
    if type(before) is not type(after) or not dataclasses.is_dataclass(after):
        raise TypeError("edge_stats_delta needs two snapshots of the same dataclass")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(after):
        a, b = getattr(after, f.name), getattr(before, f.name)
        if isinstance(a, list):
            b = list(b) + [0] * (len(a) - len(b))
            values[f.name] = [x - y for x, y in zip(a, b, strict=True)]
        else:
            values[f.name] = a - b
    proposed = values.get("proposed_at")
    if proposed is not None:
        n = len(proposed)
        while n and proposed[n - 1] == 0:
            n -= 1
        values["proposed_at"] = proposed[:n]
        values["accepted_at"] = values["accepted_at"][:n]
    return type(after)(**values)


def summarise_requests(records: Sequence[RequestRecord], reference: dict[int, str] | None) -> dict[str, Any]:
    """Medians over a cell's requests, and how many outputs differ from ``reference`` (prompt -> text)."""
    itls = [r.itl_s for r in records]
    mismatches = None
    if reference is not None:
        mismatches = sum(
            1 for r in records if r.prompt_index in reference and reference[r.prompt_index] != r.text
        )
    return {
        "requests": len(records),
        "tokens": sum(r.tokens for r in records),
        "itl_ms": _ms(median(itls)),
        "itl_p90_ms": _ms(percentile(itls, 0.9)),
        "ttft_ms": _ms(median(r.ttft_s for r in records)),
        "request_s": median(r.wall_s for r in records),
        "decision_ms": _ms(median(r.wall_s for r in records)),
        "mismatches": mismatches,
        "lossless": None if mismatches is None else mismatches == 0,
    }


def _ms(s: float | None) -> float | None:
    return None if s is None else 1000 * s


def cell_id(workload: str, users: int, rtt_ms: float, source: str, loss_pct: float = 0.0) -> str:
    """A cell's name in the JSON, e.g. ``general/u4/rtt14/prompt-lookup`` or ``agent/u1/rtt14-loss1/suffix``."""
    return f"{workload}/u{users}/{LinkConditions(rtt_ms, loss_pct).label}/{source}"


def derive_server_only(cell: dict[str, Any], rtt_ms: float) -> dict[str, Any]:
    """The server-only cell at ``rtt_ms`` from its 0 ms measurement (in-process network emulation).

    The server streams each token as soon as it is made, so a one-way delay shifts every arrival by the
    same amount: ITL and server throughput are unchanged, the time to first token grows by one RTT.
    """
    out = copy.deepcopy(cell)
    out["rtt_ms"] = rtt_ms
    out["id"] = cell_id(cell["workload"], cell["users"], rtt_ms, SERVER_ONLY)
    if out.get("ttft_ms") is not None:
        out["ttft_ms"] += rtt_ms
    out["derived_from"] = cell["id"]
    return out


def compare_to_server_only(cells: list[dict[str, Any]]) -> None:
    """Add to each edge cell its ratio to the server-only cell of the same workload, users, RTT and round:
    ``throughput_ratio`` (> 1: the server makes more tokens per busy second) and ``itl_change_pct``
    (< 0: tokens come faster)."""
    peers = {
        (c["workload"], c["users"], c["rtt_ms"], c.get("loss_pct", 0.0), c.get("round")): c
        for c in cells
        if c["source"] == SERVER_ONLY
    }
    for c in cells:
        peer = peers.get((c["workload"], c["users"], c["rtt_ms"], c.get("loss_pct", 0.0), c.get("round")))
        c["vs"] = peer["id"] if peer is not None else None
        thr = c.get("server_throughput_tok_s")
        ptr = peer.get("server_throughput_tok_s") if peer else None
        c["throughput_ratio"] = thr / ptr if thr and ptr else None
        itl, pitl = c.get("itl_ms"), (peer.get("itl_ms") if peer else None)
        c["itl_change_pct"] = 100 * (itl / pitl - 1) if itl and pitl else None
        dec, pdec = c.get("decision_ms"), (peer.get("decision_ms") if peer else None)
        c["decision_change_pct"] = 100 * (dec / pdec - 1) if dec and pdec else None


_MEDIAN_FIELDS = ("server_throughput_tok_s", "itl_ms", "itl_p90_ms", "ttft_ms", "request_s", "wall_s",
                  "client_tokens_per_s", "throughput_ratio", "itl_change_pct", "decision_ms",
                  "decision_change_pct")  # fmt: skip
"""Figures of a cell that :func:`merge_rounds` takes the median of over rounds."""


def sum_stats(items: Sequence[Any]) -> Any:
    """Field-by-field sum of dataclass snapshots of one type (lists element-wise, the shorter padded)."""
    if not items:
        raise ValueError("sum_stats needs at least one snapshot")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(items[0]):
        vals = [getattr(x, f.name) for x in items]
        if isinstance(vals[0], list):
            width = max(len(v) for v in vals)
            values[f.name] = [sum(v[i] for v in vals if i < len(v)) for i in range(width)]
        else:
            values[f.name] = sum(vals)
    return type(items[0])(**values)


def merge_rounds(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One cell per id out of its rounds (call :func:`compare_to_server_only` on the rounds first).

    Figures and ratios are medians over the rounds that did not fail; request, token and mismatch
    counts, server counters and edge statistics are summed; ``rounds`` keeps each round's headline
    figures. A cell whose every round failed keeps the first error.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault(c["id"], []).append(c)
    merged: list[dict[str, Any]] = []
    for group in groups.values():
        ok = [c for c in group if not c.get("error")]
        first = group[0]
        m: dict[str, Any] = {k: first[k] for k in ("id", "workload", "users", "rtt_ms", "loss_pct", "source",
                                                   "vs", "derived_from") if k in first}  # fmt: skip
        for f in _MEDIAN_FIELDS:
            m[f] = median(c.get(f) for c in ok)
        m["requests"] = sum(c.get("requests", 0) for c in ok)
        m["tokens"] = sum(c.get("tokens", 0) for c in ok)
        mismatches = [c.get("mismatches") for c in ok]
        m["mismatches"] = sum(mismatches) if ok and None not in mismatches else None
        m["lossless"] = None if m["mismatches"] is None else m["mismatches"] == 0
        servers = [c["server"] for c in ok if c.get("server")]
        if servers:
            server = {
                k: sum(s.get(k) or 0 for s in servers) for k in servers[0] if k != "server_throughput_tok_s"
            }
            busy = server.get("busy_s") or 0
            server["server_throughput_tok_s"] = server.get("generation_tokens", 0) / busy if busy else None
            m["server"] = server
        edges = [c["_edge_delta"] for c in ok if c.get("_edge_delta") is not None]
        if edges:
            m["edge"] = sum_stats(edges).summary()
            suffix = [c["_suffix_delta"] for c in ok if c.get("_suffix_delta") is not None]
            if suffix:
                m["edge"]["suffix"] = dataclasses.asdict(sum_stats(suffix))
            sources = [c["_sources_delta"] for c in ok if c.get("_sources_delta") is not None]
            if sources:
                m["edge"]["draft_sources"] = dataclasses.asdict(sum_stats(sources))
        m["rounds"] = [{"round": c.get("round"), "error": c.get("error"),
                        **{f: c.get(f) for f in ("server_throughput_tok_s", "throughput_ratio", "itl_ms",
                                                 "itl_change_pct", "mismatches")}} for c in group]  # fmt: skip
        errors = [c["error"] for c in group if c.get("error")]
        if errors and not ok:
            m["error"] = errors[0]
        elif errors:
            m["failed_rounds"] = len(errors)
        merged.append(m)
    return merged


#: Sources left out of the goals by default: the whole target as drafter is an acceptance upper bound,
#: not an edge anyone deploys (the edge would need the server's model and its compute).
UPPER_BOUND_SOURCES = ("model",)


def evaluate_goals(
    cells: list[dict[str, Any]],
    goal_rtt_ms: float = GOAL_RTT_MS,
    exclude: Sequence[str] = UPPER_BOUND_SOURCES,
) -> dict[str, Any]:
    """The goals block: which edge cells at ``goal_rtt_ms`` give the best throughput ratio and ITL
    reduction, whether one cell meets both, and whether edge assistance is never slower at the most users.
    Cells of the ``exclude`` sources are left out. Call :func:`compare_to_server_only` first.
    """
    cells = [c for c in cells if c["source"] not in exclude]
    edge = [c for c in cells if c["source"] != SERVER_ONLY and c["rtt_ms"] == goal_rtt_ms]
    thr = [c for c in edge if c.get("throughput_ratio") is not None]
    itl = [c for c in edge if c.get("itl_change_pct") is not None]
    best_thr = max(thr, key=lambda c: c["throughput_ratio"], default=None)
    best_itl = min(itl, key=lambda c: c["itl_change_pct"], default=None)

    def reduction(c: dict[str, Any]) -> float:
        return -c["itl_change_pct"] / 100

    both = [
        c["id"]
        for c in edge
        if c.get("throughput_ratio") is not None
        and c.get("itl_change_pct") is not None
        and c["throughput_ratio"] >= GOAL_THROUGHPUT_RATIO
        and reduction(c) >= GOAL_ITL_REDUCTION
    ]
    thr_goal = {
        "goal": GOAL_THROUGHPUT_RATIO,
        "best": best_thr["throughput_ratio"] if best_thr else None,
        "best_cell": best_thr["id"] if best_thr else None,
        "median": median(c["throughput_ratio"] for c in thr),
        "median_over": [c["id"] for c in thr],
        "met": bool(best_thr and best_thr["throughput_ratio"] >= GOAL_THROUGHPUT_RATIO),
    }
    itl_goal = {
        "goal": GOAL_ITL_REDUCTION,
        "best": reduction(best_itl) if best_itl else None,
        "best_cell": best_itl["id"] if best_itl else None,
        "median": median(reduction(c) for c in itl),
        "median_over": [c["id"] for c in itl],
        "met": bool(best_itl and reduction(best_itl) >= GOAL_ITL_REDUCTION),
    }
    top = max((c["users"] for c in cells), default=None)
    checks = []
    for workload in sorted({c["workload"] for c in cells}):
        for rtt in sorted({c["rtt_ms"] for c in cells}):
            group = [c for c in cells if c["source"] != SERVER_ONLY and c["workload"] == workload
                     and c["rtt_ms"] == rtt and c["users"] == top and c.get("throughput_ratio") is not None]  # fmt: skip
            if not group:
                continue
            best = max(group, key=lambda c: c["throughput_ratio"])
            checks.append({"workload": workload, "rtt_ms": rtt, "best_source": best["source"],
                           "cell": best["id"], "throughput_ratio": best["throughput_ratio"],
                           "met": best["throughput_ratio"] >= 1.0})  # fmt: skip
    never_slower = {
        "users": top,
        "definition": "at the largest user count, per workload and RTT, the best source's server throughput "
        ">= server-only's",
        "checks": checks,
        "met": bool(checks) and all(c["met"] for c in checks),
    }
    return {
        "rtt_ms": goal_rtt_ms,
        "sources_excluded": list(exclude),
        "server_throughput_ratio_at_14ms": thr_goal,
        "itl_reduction_at_14ms": itl_goal,
        "cells_meeting_both": both,
        "never_slower_at_high_load": never_slower,
        "met": bool(both) and never_slower["met"],
        "definition": "met = one edge cell at the goal RTT reaches both the throughput ratio and the ITL "
        "reduction, and the never-slower check holds; 'best' is the best single cell, 'median' the median "
        "over every edge cell at the goal RTT",
    }


#: Issue 24's goals for a small draft model on the edge: server-throughput ratio per workload at 1-4
#: users, ITL reduction at every user count, never below server-only at the most users, lossless.
DRAFT_MODEL_THROUGHPUT_GOALS = {"agent": 2.2, "general": 1.5}
DRAFT_MODEL_ITL_REDUCTION = 0.11
DRAFT_MODEL_GOAL_MAX_USERS = 4


def evaluate_draft_model_goals(cells: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """Issue 24's goals, cell by cell, for the ``source`` cells (e.g. ``model:qwen2.5-coder-0.5b``) against
    server-only decoding of the same run and network conditions: throughput ratio >= the workload's goal
    at <= 4 users and >= 1.0 above; ITL at least 11 % lower at every user count; lossless everywhere.
    Call :func:`compare_to_server_only` first."""
    rows = []
    for c in cells:
        if c["source"] != source:
            continue
        goal = (
            DRAFT_MODEL_THROUGHPUT_GOALS.get(c["workload"], 1.0)
            if c["users"] <= DRAFT_MODEL_GOAL_MAX_USERS
            else 1.0
        )
        ratio, itl = c.get("throughput_ratio"), c.get("itl_change_pct")
        rows.append({"id": c["id"], "throughput_ratio": ratio, "throughput_goal": goal,
                     "throughput_met": ratio is not None and ratio >= goal, "itl_change_pct": itl,
                     "itl_met": itl is not None and -itl / 100 >= DRAFT_MODEL_ITL_REDUCTION,
                     "decision_change_pct": c.get("decision_change_pct"),
                     "lossless": c.get("lossless")})  # fmt: skip
    return {
        "source": source,
        "definition": f"per cell: server-throughput ratio >= {DRAFT_MODEL_THROUGHPUT_GOALS} at <= "
        f"{DRAFT_MODEL_GOAL_MAX_USERS} users and >= 1.0 above; ITL >= {100 * DRAFT_MODEL_ITL_REDUCTION:.0f}% "
        "lower than server-only; outputs identical to server-only (lossless)",
        "cells": rows,
        "throughput_met": bool(rows) and all(r["throughput_met"] for r in rows),
        "itl_met": bool(rows) and all(r["itl_met"] for r in rows),
        "lossless": bool(rows) and all(r["lossless"] is not False for r in rows),
    }


# ---------------------------------------------------------------- measurement


class Bench:
    """Measures cells against one running server (HTTP at ``base_url``, gRPC verifier at ``spec_target``)."""

    def __init__(self, base_url: str, spec_target: str, model: str, http: httpx.AsyncClient) -> None:
        self.base_url = base_url
        self.spec_target = spec_target
        self.model = model
        self.http = http

    async def engine_stats(self) -> dict[str, Any]:
        """The server engine's ``EngineStats`` as a dict."""
        r = await self.http.get(f"{self.base_url}/debug/engine_stats")
        r.raise_for_status()
        return r.json()

    async def http_request(self, prompt_index: int, prompt: str, max_tokens: int) -> RequestRecord:
        """One streamed greedy completion over HTTP (server-only)."""
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
        t0 = time.perf_counter()
        arrivals: list[float] = []
        parts: list[str] = []
        usage: dict[str, Any] = {}
        async with self.http.stream("POST", f"{self.base_url}/v1/completions", json=body) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                ev = json.loads(line[6:])
                if "error" in ev:
                    raise RuntimeError(f"server error: {ev['error']}")
                if ev.get("choices"):
                    arrivals.append(time.perf_counter() - t0)
                    parts.append(ev["choices"][0].get("text") or "")
                if ev.get("usage"):
                    usage = ev["usage"]
        wall = time.perf_counter() - t0
        tokens = int(usage.get("completion_tokens", 0))
        if not arrivals or not tokens:
            raise RuntimeError(f"the server streamed no tokens for prompt {prompt_index}")
        return RequestRecord(
            prompt_index, "".join(parts), tokens, arrivals[0], itl_seconds(arrivals, tokens), wall
        )

    async def edge_request(
        self, edge: Any, prompt_index: int, prompt: str, max_tokens: int, rid: str
    ) -> RequestRecord:
        """One greedy request through ``edge`` (drafts here, verification on the server)."""
        from splitsecond.serving.sampling_params import SamplingParams

        params = SamplingParams(temperature=0, max_tokens=max_tokens)
        t0 = time.perf_counter()
        arrivals: list[float] = []
        last = None
        async for out in edge.generate(prompt, params, rid):
            if out.outputs[0].delta_token_ids:
                arrivals.append(time.perf_counter() - t0)
            last = out
        wall = time.perf_counter() - t0
        if last is None or not arrivals:
            raise RuntimeError(f"the edge produced no tokens for prompt {prompt_index}")
        comp = last.outputs[0]
        tokens = len(comp.token_ids)
        return RequestRecord(
            prompt_index, comp.text, tokens, arrivals[0], itl_seconds(arrivals, tokens), wall
        )

    async def run_users(self, users: int, prompts: list[str], max_tokens: int, edge: Any | None,
                        tag: str, once: bool = False) -> list[RequestRecord]:  # fmt: skip
        """``users`` closed-loop users working through :func:`schedule` (``once``: every prompt once);
        records in completion order."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(prompts)) if once else schedule(len(prompts), users):
            queue.put_nowait(i)
        records: list[RequestRecord] = []

        async def user(u: int) -> None:
            n = 0
            while not queue.empty():
                i = queue.get_nowait()
                if edge is None:
                    rec = await self.http_request(i, prompts[i], max_tokens)
                else:
                    rec = await self.edge_request(edge, i, prompts[i], max_tokens, f"{tag}-u{u}-{n}")
                records.append(rec)
                n += 1

        async with asyncio.TaskGroup() as tg:  # one failure cancels the other users
            for u in range(users):
                tg.create_task(user(u))
        return records

    async def measure(self, users: int, prompts: list[str], max_tokens: int, edge: Any | None, tag: str,
                      reference: dict[int, str] | None, once: bool = False) -> dict[str, Any]:  # fmt: skip
        """One cell: the users' requests, the server's busy-time delta and (edge) the raw ``EdgeStats`` and
        ``SuffixStats`` deltas, which :func:`merge_rounds` sums over rounds into the ``edge`` figures."""
        snap = None
        cache = getattr(edge, "suffix_cache", None)
        suffix_before = dataclasses.replace(cache.stats) if cache is not None else None
        hybrid = getattr(edge, "hybrid_stats", None)
        sources_before = dataclasses.replace(hybrid) if hybrid is not None else None
        if edge is not None:
            edge.spec_summary()  # syncs the byte and proactive counters into edge_stats
            snap = dataclasses.replace(edge.edge_stats, proposed_at=list(edge.edge_stats.proposed_at),
                                       accepted_at=list(edge.edge_stats.accepted_at))  # fmt: skip
        before = await self.engine_stats()
        t0 = time.perf_counter()
        records = await self.run_users(users, prompts, max_tokens, edge, tag, once)
        wall = time.perf_counter() - t0
        after = await self.engine_stats()
        delta = engine_delta(before, after)
        cell: dict[str, Any] = {**summarise_requests(records, reference), "wall_s": wall,
                                "server_throughput_tok_s": delta["server_throughput_tok_s"], "server": delta,
                                "client_tokens_per_s": sum(r.tokens for r in records) / wall}  # fmt: skip
        if edge is not None:
            edge.spec_summary()
            cell["_edge_delta"] = edge_stats_delta(snap, edge.edge_stats)
            if cache is not None:  # which candidate the suffix source drafted from
                cell["_suffix_delta"] = edge_stats_delta(suffix_before, cache.stats)
            if hybrid is not None:  # model + suffix: which source each draft came from
                cell["_sources_delta"] = edge_stats_delta(sources_before, hybrid)
        cell["_records"] = records
        return cell


_EMPTY_CELL: dict[str, Any] = {"requests": 0, "tokens": 0, "itl_ms": None, "itl_p90_ms": None, "ttft_ms": None,
                               "server_throughput_tok_s": None, "mismatches": None, "lossless": None}  # fmt: skip
"""The figures of a cell that failed (its ``error`` says why)."""


def _edge_config(server: str, model: str, source: str, delay_ms: float, max_draft: int) -> Any:
    from splitsecond.serving.speculative.edge.config import EdgeConfig

    return EdgeConfig(
        server=server,
        model=model,
        draft=source,
        one_way_delay_ms=delay_ms,
        max_draft_tokens=max_draft,
        plain_fallback=source not in UPPER_BOUND_SOURCES,  # the upper bound always drafts
    )


async def run_grid(cfg: BenchConfig, bench: Bench, link: NetLink | None, progress: Progress,
                   prompts: dict[str, list[str]], history: dict[str, list[str]]) -> list[dict[str, Any]]:  # fmt: skip
    """Every cell of ``cfg``'s grid (see the module docstring). Without ``requests_per_user`` the server-only
    1-user cell of each workload is measured first and gives the reference outputs; with it, each
    server-only cell's outputs are the reference of the edge cells after it. ``history``: per workload, the
    prompts whose outputs (decoded by the server alone, all at once) the suffix source's cache holds at
    the start of each cell. ``link``: the real network path (None: in-process delays)."""
    from splitsecond.serving.speculative.edge.engine import EdgeEngine

    cells: list[dict[str, Any]] = []
    references: dict[str, dict[int, str]] = {}
    conditions = cfg.conditions(link is not None)
    once = cfg.requests_per_user is not None
    n_edge = sum(len(cfg.sources_at(u)) for u in cfg.users) * len(conditions)
    n_server = len(cfg.users) * (len(conditions) if link is not None else 1)
    total = len(cfg.workloads) * (cfg.rounds * (n_edge + n_server) + 1)
    task = progress.add_task("cells", total=total)

    def add(
        workload: str, users: int, cond: LinkConditions, source: str, round_: int, cell: dict[str, Any]
    ) -> None:
        cell.update({"id": cell_id(workload, users, cond.rtt_ms, source, cond.loss_pct), "workload": workload,
                     "users": users, "rtt_ms": cond.rtt_ms, "loss_pct": cond.loss_pct, "source": source,
                     "round": round_})  # fmt: skip
        records = cell.pop("_records", None)
        if once and source == SERVER_ONLY and records:
            for r in records:
                references.setdefault(workload, {}).setdefault(r.prompt_index, r.text)
        cells.append(cell)

    async def attempt(workload: str, users: int, cond: LinkConditions, source: str, round_: int,
                      measurement: Any) -> None:  # fmt: skip
        """Await one cell's measurement (a coroutine); a failure is recorded in the cell and the grid goes on."""
        try:
            cell = await measurement
        except Exception as e:  # one broken cell must not end the run
            logger.exception("cell %s failed", cell_id(workload, users, cond.rtt_ms, source, cond.loss_pct))
            cell = {"error": f"{type(e).__name__}: {e}", **_EMPTY_CELL}
        add(workload, users, cond, source, round_, cell)

    edges: dict[tuple, Any] = {}  # one edge per source and workload (and RTT, in-process) for the whole run
    learned: dict[str, list[list[int]]] = {}  # per workload, the history's outputs (suffix source)

    async def reset_suffix_cache(edge: Any, workload: str) -> None:
        if workload not in learned:  # the history runs once, on the server alone (greedy: the same outputs)
            m = cfg.max_tokens[workload]
            recs = await asyncio.gather(
                *(bench.http_request(i, p, m) for i, p in enumerate(history[workload]))
            )
            learned[workload] = [edge.tokenizer.encode(r.text) for r in recs]
        edge.suffix_cache.clear()
        for out in learned[workload]:
            edge.suffix_cache.add(out)

    async def edge_cell(
        source: str, cond: LinkConditions, workload: str, users: int, tag: str
    ) -> dict[str, Any]:
        key = (source, workload) if link is not None else (source, cond.rtt_ms, workload)
        if key not in edges:  # created on first use and warmed by one short request
            delay = 0.0 if link is not None else cond.rtt_ms / 2
            edge = await asyncio.to_thread(
                EdgeEngine, _edge_config(bench.spec_target, bench.model, source, delay, cfg.max_draft_tokens)
            )
            edges[key] = edge
            await bench.edge_request(edge, 0, prompts[workload][0], 4, f"warm-{tag}")
        if edges[key].suffix_cache is not None:
            await reset_suffix_cache(edges[key], workload)
        n = cfg.cell_prompts(users, len(prompts[workload]))
        return await bench.measure(users, prompts[workload][:n], cfg.max_tokens[workload], edges[key], tag,
                                   references.get(workload, {}), once)  # fmt: skip

    async def server_cell(workload: str, users: int) -> dict[str, Any]:
        n = cfg.cell_prompts(users, len(prompts[workload]))
        ref = dict(references.get(workload, {}))
        return await bench.measure(
            users, prompts[workload][:n], cfg.max_tokens[workload], None, "so", ref, once
        )

    # Peers back to back (server-only, then every source) so load drift hits them alike; the whole grid
    # again in each round.
    try:
        for workload in cfg.workloads:
            # Warm-up: every prompt's prefill into the prefix cache; then (unless once) the 1-user references.
            if link is not None:
                link.set_conditions(LinkConditions())
            progress.update(task, description=f"{workload}: warm-up and references")
            for i, p in enumerate(prompts[workload]):
                await bench.http_request(i, p, 2)
            if not once:
                ref = await bench.measure(1, prompts[workload], cfg.max_tokens[workload], None, "ref", None)
                references[workload] = {r.prompt_index: r.text for r in ref["_records"]}
            progress.advance(task)
            for round_ in range(cfg.rounds):
                for users in cfg.users:
                    for cond in conditions:
                        if link is not None and link.conditions != cond:
                            link.set_conditions(cond)
                        where = f"round {round_ + 1}/{cfg.rounds} {workload} u{users} {cond.label}"
                        if link is not None or cond.rtt_ms == 0:
                            progress.update(task, description=f"{where} {SERVER_ONLY}")
                            await attempt(
                                workload, users, cond, SERVER_ONLY, round_, server_cell(workload, users)
                            )
                            progress.advance(task)
                        for source in cfg.sources_at(users):
                            progress.update(task, description=f"{where} {source}")
                            tag = f"{workload}-u{users}-{cond.label}-{source}-{round_}"
                            await attempt(workload, users, cond, source, round_,
                                          edge_cell(source, cond, workload, users, tag))  # fmt: skip
                            progress.advance(task)
    finally:
        for edge in edges.values():
            await edge.shutdown()
    if link is None:  # server-only at RTT > 0, derived from 0 ms
        for c in [c for c in cells if c["source"] == SERVER_ONLY and c["rtt_ms"] == 0]:
            for rtt in cfg.rtts_ms:
                if rtt > 0:
                    cells.append(derive_server_only(c, rtt))
    compare_to_server_only(cells)
    merged = merge_rounds(cells)
    order = {w: i for i, w in enumerate(cfg.workloads)}
    merged.sort(key=lambda c: (order[c["workload"]], c["users"], c.get("loss_pct", 0.0), c["rtt_ms"],
                               c["source"] != SERVER_ONLY))  # fmt: skip
    return merged


# ---------------------------------------------------------------- report


def _fmt(v: float | None, spec: str, suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def print_tables(cells: list[dict[str, Any]], console: Console) -> None:
    """One rich table per workload."""
    for workload in dict.fromkeys(c["workload"] for c in cells):
        t = Table(
            title=f"spec_edge — {workload} prompts (medians; ratios vs server-only, same users and RTT)"
        )
        for col in ("users", "link", "mode / source", "server tok/s", "x server-only", "ITL ms", "ITL vs SO",
                    "TTFT ms", "decision ms", "accept len", "accept rate", "bytes/round", "lossless"):  # fmt: skip
            t.add_column(col, justify="left" if col == "mode / source" else "right")
        for c in (c for c in cells if c["workload"] == workload):
            e = c.get("edge") or {}
            mode = c["source"] + (" (derived)" if c.get("derived_from") else "")
            mode += " [red]error[/]" if c.get("error") else ""
            lossless = {True: "[green]yes[/]", False: f"[red]no ({c['mismatches']})[/]", None: "-"}[
                c.get("lossless")
            ]
            ratio = c.get("throughput_ratio") if c["source"] != SERVER_ONLY else None
            itl_ch = c.get("itl_change_pct") if c["source"] != SERVER_ONLY else None
            link = LinkConditions(c["rtt_ms"], c.get("loss_pct", 0.0)).label
            t.add_row(str(c["users"]), link, mode, _fmt(c.get("server_throughput_tok_s"), ".1f"),
                      _fmt(ratio, ".2f", "x"), _fmt(c.get("itl_ms"), ".1f"), _fmt(itl_ch, "+.0f", "%"),
                      _fmt(c.get("ttft_ms"), ".0f"), _fmt(c.get("decision_ms"), ".0f"),
                      _fmt(e.get("mean_acceptance_length"), ".2f"),
                      _fmt(e.get("acceptance_rate"), ".2f"), _fmt(e.get("bytes_per_round"), ".0f"), lossless)  # fmt: skip
        console.print(t)


def print_draft_model_goals(goals: dict[str, Any], console: Console) -> None:
    """Issue 24's goals for one draft-model source, a line per cell."""

    def mark(ok: bool) -> str:
        return "[green]met[/]" if ok else "[red]not met[/]"

    console.print(f"draft-model goals for {goals['source']} ({goals['definition']}):")
    for r in goals["cells"]:
        console.print(f"  {r['id']}: {_fmt(r['throughput_ratio'], '.2f', 'x')} (goal {r['throughput_goal']}x: "
                      f"{mark(r['throughput_met'])}), ITL {_fmt(r['itl_change_pct'], '+.0f', '%')} "
                      f"({mark(r['itl_met'])}), decision {_fmt(r['decision_change_pct'], '+.0f', '%')}, "
                      f"lossless {r['lossless']}")  # fmt: skip
    console.print(f"  throughput {mark(goals['throughput_met'])}, ITL {mark(goals['itl_met'])}, "
                  f"lossless {mark(goals['lossless'])}")  # fmt: skip


def print_goals(goals: dict[str, Any], console: Console) -> None:
    """The goals block in a few lines."""
    tg, ig, ns = goals["server_throughput_ratio_at_14ms"], goals["itl_reduction_at_14ms"], goals[
        "never_slower_at_high_load"]  # fmt: skip

    def mark(ok: bool) -> str:
        return "[green]met[/]" if ok else "[red]not met[/]"

    console.print(
        f"server throughput at {goals['rtt_ms']:g} ms RTT: best {_fmt(tg['best'], '.2f', 'x')} "
        f"({tg['best_cell']}), median {_fmt(tg['median'], '.2f', 'x')}; goal >= {tg['goal']}x: {mark(tg['met'])}"
    )
    console.print(f"ITL reduction at {goals['rtt_ms']:g} ms RTT: best {_fmt(ig['best'] and 100 * ig['best'], '.0f', '%')} "
                  f"({ig['best_cell']}), median {_fmt(ig['median'] and 100 * ig['median'], '.0f', '%')}; "
                  f"goal >= {100 * ig['goal']:.0f}%: {mark(ig['met'])}")  # fmt: skip
    console.print(f"cells meeting both: {', '.join(goals['cells_meeting_both']) or 'none'}")
    for c in ns["checks"]:
        console.print(f"at {ns['users']} users, {c['workload']}, {c['rtt_ms']:g} ms: best source {c['best_source']} "
                      f"{c['throughput_ratio']:.2f}x server-only: {mark(c['met'])}")  # fmt: skip
    excluded = ", ".join(goals.get("sources_excluded") or []) or "none"
    console.print(f"all goals (sources excluded: {excluded}): {mark(goals['met'])}")


# ---------------------------------------------------------------- main


def _edge_settings(cfg: BenchConfig, model: str) -> dict[str, Any]:
    """The ``EdgeConfig`` every edge of the run uses, less what varies per cell (server, draft, delay)."""
    settings = dataclasses.asdict(
        _edge_config("127.0.0.1:1", model, "prompt-lookup", 0.0, cfg.max_draft_tokens)
    )
    for varying in ("server", "draft", "one_way_delay_ms", "plain_fallback"):
        settings.pop(varying, None)
    settings["plain_fallback"] = (
        f"on, except for {', '.join(UPPER_BOUND_SOURCES)} (the upper bound always drafts)"
    )
    return settings


SERVER_CPU, EDGE_CPU = 0, 1
"""With ``pin``: the server's core, and the core of this process (the edges) and the link's relay."""

#: ``--preset qwen``: Qwen2.5-Coder-0.5B drafting on the edge for a Qwen2.5-Coder-1.5B server (issue 24).
QWEN_PRESET: dict[str, Any] = {
    "model": "qwen2.5-coder-1.5b",
    "source": "model:qwen2.5-coder-0.5b",
    "config": {
        "users": (1, 4, 8),
        "rtts_ms": (14.0,),
        "max_tokens": {"general": 20, "agent": 20},
        "prompts": 8,
        "history": 4,
        "rounds": 1,
        "requests_per_user": 1,
        "min_requests": 3,
        "pin": True,
    },  # fmt: skip
    "quick": {"users": (1, 4), "max_tokens": {"general": 12, "agent": 12}, "prompts": 4, "history": 2},
    "server_args": ["--dtype", "float32"],
}


def _start_server(model: str, extra_args: list[str], link: NetLink | None, pin: bool) -> Any:
    from splitsecond.serving.server.launcher import ServerProcess, find_free_port

    host = link.server_ip if link is not None else "127.0.0.1"
    port = find_free_port()
    args = [sys.executable, "-c", "from splitsecond.cli import main; main()", "serve", model, "--host", host,
            "--port", str(port), *extra_args]  # fmt: skip
    if pin:
        args = ["taskset", "-c", str(SERVER_CPU), *args, "--num-threads", "1"]
    if link is not None:
        args = [*link.command_prefix(), *args]
    env = dict(os.environ)
    env.pop("SPLITSECOND_API_KEY", None)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    server = ServerProcess(args, host, port, None, env)
    try:
        server.wait_ready(600.0)
    except BaseException:
        server.stop()
        raise
    return server


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The :class:`BenchConfig` of the command line (``--quick`` shrinks the grid, ``--preset`` picks one)."""
    kw: dict[str, Any] = {"network": args.network}
    if args.preset == "qwen":
        kw.update(QWEN_PRESET["config"], sources=(QWEN_PRESET["source"],))
        if args.quick:
            kw.update(QWEN_PRESET["quick"])
    elif args.quick:
        kw.update(users=(1, 4), max_tokens={"general": 32, "agent": 16}, prompts=8, history=8, rounds=1)
    if args.rounds is not None:
        kw["rounds"] = args.rounds
    if args.sources:
        kw["sources"] = tuple(s.strip() for s in args.sources.split(","))
    if args.workloads:
        kw["workloads"] = tuple(w.strip() for w in args.workloads.split(","))
    if args.pin is not None:
        kw["pin"] = args.pin
    if args.loss is not None:
        kw["loss_pct"] = args.loss
    try:
        if args.users:
            kw["users"] = tuple(int(u) for u in args.users.split(","))
        if args.rtts:
            kw["rtts_ms"] = tuple(float(r) for r in args.rtts.split(","))
        if args.lossy_rtts:
            kw["lossy_rtts_ms"] = tuple(float(r) for r in args.lossy_rtts.split(","))
        if args.max_tokens:
            kw["max_tokens"] = dict.fromkeys(WORKLOADS, int(args.max_tokens))
    except ValueError:
        raise ValueError(
            f"--users, --rtts, --lossy-rtts and --max-tokens take (comma-separated) numbers, got {args.users!r}, "
            f"{args.rtts!r}, {args.lossy_rtts!r}, {args.max_tokens!r}"
        ) from None
    return BenchConfig(**kw)


def _terminate_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the link's namespace and the server are cleaned up on the way out."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the tables, write the JSON; returns the results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="users 1 and 4, 8 prompts, shorter outputs (~1 min)")
    ap.add_argument("--preset", choices=("qwen",), default=None,
                    help="qwen: Qwen2.5-Coder-0.5B drafting for a Qwen2.5-Coder-1.5B server in float32, server "
                    "and edges pinned to one core each, users 1,4,8 at 14 ms (one workload per run fits ~10 min; "
                    "quick: users 1,4, 4 prompts)")  # fmt: skip
    ap.add_argument(
        "--model", default=None, help="served model (default smollm2-135m; qwen preset: the 1.5B)"
    )
    ap.add_argument("--sources", default=None, help="comma-separated draft sources (default: prompt-lookup,"
                    f"suffix,self:{SELF_LAYERS},model; 'model' only at 1 user)")  # fmt: skip
    ap.add_argument("--workloads", default=None, help="comma-separated: general, agent (default both)")
    ap.add_argument("--users", default=None, help="comma-separated user counts (default 1,4,8; quick 1,4)")
    ap.add_argument(
        "--rtts", default=None, help="comma-separated RTTs in ms (default 0,14; in-process needs 0)"
    )
    ap.add_argument(
        "--lossy-rtts", default=None, help="RTTs measured again with --loss %% loss (real links only)"
    )
    ap.add_argument(
        "--loss", type=float, default=None, help="packet loss %% per direction of --lossy-rtts (1)"
    )
    ap.add_argument("--max-tokens", default=None, help="output tokens per request, every workload")
    ap.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="server on CPU 0 (one thread), edges on CPU 1 (default: on with --preset qwen)",
    )
    ap.add_argument(
        "--network",
        default="auto",
        choices=("auto", "netem", "in-process"),
        help="network emulation: a real link where this machine allows one (auto: tc netem, else a TUN "
        "relay), a real link required (netem), or in-process delays",
    )
    ap.add_argument(
        "--rounds", type=int, default=None, help="times the grid is measured (default 3; quick 1)"
    )
    ap.add_argument("--server-arg", action="append", default=[], help="extra 'splitsecond serve' option")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        cfg = config_from_args(args)
    except ValueError as e:
        ap.error(str(e))
    model = args.model or (QWEN_PRESET["model"] if args.preset == "qwen" else "smollm2-135m")
    if args.preset == "qwen":
        args.server_arg = [*QWEN_PRESET["server_args"], *args.server_arg]
    _terminate_on_sigterm()
    if cfg.pin:
        if (os.cpu_count() or 1) < 2:
            ap.error("--pin needs two CPUs")
        os.sched_setaffinity(0, {EDGE_CPU})
        import torch

        torch.set_num_threads(1)

    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    t_start = time.perf_counter()
    if cfg.network == "in-process":
        method, why = None, "in-process emulation requested (--network in-process)"
    else:
        remove_stale()
        method, why = probe_network()
        if method is None and cfg.network == "netem":
            raise SystemExit(f"--network netem: no real link can be made here ({why})")
    if method is None and 0 not in cfg.rtts_ms:  # in-process: server-only is measured at 0 ms and derived
        cfg = dataclasses.replace(cfg, rtts_ms=(0.0, *cfg.rtts_ms))
    how = {
        "netem": "server in its own network namespace behind a veth pair, tc netem delay RTT/2 (and the loss) "
        "on each end",
        "tun-relay": "server in its own network namespace behind a pair of TUN devices; a relay process "
        "(benchmarks.netem, pinned beside the edges, nice -10) holds every IP packet RTT/2 in each direction "
        "and drops loss_pct % of them (kernel TCP retransmits); the relay's timers are accurate to ~1 ms",
    }
    emulation = {
        "method": method or "in-process",
        "reason": why,
        "lossy_conditions": "measured" if method else "skipped (in-process delays cannot drop packets)",
        "how": how[method]
        if method
        else "EdgeConfig.one_way_delay_ms = RTT/2: every edge<->server message is held RTT/2 in each direction "
        "(asyncio.sleep; drafting continues meanwhile); server-only rows at RTT > 0 derived from 0 ms "
        "(ITL and server throughput unchanged, TTFT + RTT) because the server streams without waiting for "
        "the client",
    }
    console.print(f"network emulation: {emulation['method']} ({why})")
    if cfg.pin:
        console.print(
            f"pinned: server on CPU {SERVER_CPU} (1 torch thread), edges and relay on CPU {EDGE_CPU}"
        )

    from splitsecond.serving.loader.model_loader import load_tokenizer
    from splitsecond.serving.server.launcher import find_free_port

    tokenizer = load_tokenizer(model)
    built = {w: build_prompts(w, tokenizer, cfg.prompts, cfg.history) for w in cfg.workloads}
    history = {w: h for w, (h, _) in built.items()}
    prompts = {w: p for w, (_, p) in built.items()}
    spec_port = find_free_port()
    server_args = ["--speculative-edge", "--spec-port", str(spec_port), *args.server_arg]
    results: dict[str, Any] = {
        "benchmark": "spec_edge",
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "machine": machine_info(),
        "model": model,
        "preset": args.preset,
        "quick": args.quick,
        "config": {
            **dataclasses.asdict(cfg),
            "server_args": server_args,
            "server_threads": f"1, pinned to CPU {SERVER_CPU}; the edges (this process) on CPU {EDGE_CPU}"
            if cfg.pin
            else "torch default (one per core) — the server gets the whole machine",
            "edge": _edge_settings(cfg, model),
            "sampling": "temperature 0 (greedy), EOS honoured",
        },  # fmt: skip
        "network_emulation": emulation,
        "notes": [
            "Edges run in the benchmark process on the same machine as the server: drafting and "
            "verification share the CPU cores (a real deployment drafts on the agent's own device). "
            "Prompt-lookup drafting costs microseconds; self:N and model drafts cost real CPU here and "
            "lengthen the server's busy time.",
            "The 'model' source drafts with the whole target (acceptance upper bound, a full forward per "
            "draft token); it runs only at the user counts in config.model_draft_users, self:N only at "
            "config.self_draft_users (model drafts of many users would share this CPU with the server).",
            f"self:{SELF_LAYERS} is early exit without training: on smollm2-135m its greedy next token agrees "
            "poorly with the full model's (teacher-forced agreement on 5 of these prompts, measured on this "
            "machine: 0.04 at N=10, 0.07 at 16, 0.19 at 20, 0.33 at 24, 0.52 at 28 of 30 layers); N=10 is "
            "kept as the cheap setting.",
            "Acceptance counts every drafted position of every round: in a request's last round, draft "
            "tokens past the target's EOS are compared with what the target predicts after it, so even the "
            "'model' source (same weights) shows < 1 at late positions on prompts whose answers end early.",
            "goals leaves out the 'model' source (an acceptance upper bound, not a deployable edge); "
            "goals_with_model_upper_bound includes it.",
            "server-side counters per cell (engine_stats deltas) are under 'server': forward passes, "
            "verification rounds, prompt tokens computed, prefix-cache lookups and hits.",
            "The machine is shared with other jobs: timings are noisy; see machine.loadavg_1m.",
            "Each cell: users work through every prompt (at least once, at least two requests per user), "
            "greedy; ITL/TTFT are medians over requests; server throughput is the cell's "
            "generated tokens / the engine's busy seconds (steps that ran a forward pass). The grid runs "
            "config.rounds times; a cell's figures are medians over its rounds, its ratios medians of the "
            "per-round ratios against the same round's server-only peer (cells[].rounds lists each round).",
            "lossless compares each output's text with the server-only output of the same prompt at one user. "
            "With bfloat16 weights (the server's default on a CPU with AVX-512 BF16) plain decoding is not "
            "batch-invariant either: a server-only cell at several users can differ from the 1-user "
            "reference where two tokens' logits nearly tie (the GEMM kernels round differently for "
            "different row counts), and a verification pass scores k + 1 rows where plain decoding scores "
            "one. Verification is exact against its own logits (tested in float32, where every cell is "
            "lossless: --server-arg=--dtype --server-arg=float32).",
            "suffix: before every cell the edge's cache is reset to the outputs of the workload's history "
            "(agent: the decisions before the measured ones in the same episodes; general: none) and it "
            "learns from each finished request of the cell; no prompt repeats within a cell. "
            "edge.suffix counts which candidate each proposal used (from_cache: earlier outputs; "
            "from_context: prompt lookup over the request itself).",
        ],
        "prompts": {w: [p[-160:] for p in ps] for w, ps in prompts.items()},
    }
    if cfg.pin:
        results["notes"].insert(0, f"Server and edges are separate processes pinned to separate cores: the server on "
            f"CPU {SERVER_CPU} with one torch thread, this process (every edge, the users) on CPU {EDGE_CPU} with "
            "one torch thread; all of a cell's edges share that one core (a deployment drafts on each agent's "
            "own device), so drafting for several users queues there.")  # fmt: skip
    with contextlib.ExitStack() as stack:
        link = stack.enter_context(NetLink(method, {EDGE_CPU} if cfg.pin else None)) if method else None
        server = stack.enter_context(_start_server(model, server_args, link, cfg.pin))
        spec_target = f"{server.host}:{spec_port}"

        async def go() -> list[dict[str, Any]]:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(timeout=600, limits=limits) as http:
                bench = Bench(server.base_url, spec_target, model, http)
                with Progress(console=console, transient=True) as progress:
                    return await run_grid(cfg, bench, link, progress, prompts, history)

        cells = asyncio.run(go())
    results["cells"] = cells
    results["goals"] = evaluate_goals(cells)
    results["goals_with_model_upper_bound"] = evaluate_goals(cells, exclude=())
    draft_models = [s for s in cfg.sources if s.startswith("model:")]
    results["draft_model_goals"] = {s: evaluate_draft_model_goals(cells, s) for s in draft_models}
    results["duration_s"] = time.perf_counter() - t_start
    print_tables(cells, console)
    print_goals(results["goals"], console)
    for goals in results["draft_model_goals"].values():
        print_draft_model_goals(goals, console)
    ub = results["goals_with_model_upper_bound"]
    console.print(f"with the 'model' upper bound included: best throughput "
                  f"{_fmt(ub['server_throughput_ratio_at_14ms']['best'], '.2f', 'x')} "
                  f"({ub['server_throughput_ratio_at_14ms']['best_cell']}); cells meeting both: "
                  f"{', '.join(ub['cells_meeting_both']) or 'none'}")  # fmt: skip
    console.print(f"wall time {results['duration_s']:.0f} s; 1-minute load average at the start "
                  f"{results['machine']['loadavg_1m']:.2f} on {results['machine']['cores']} cores.")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
