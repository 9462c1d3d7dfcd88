"""Serving benchmark: SplitSecond's engine behind its OpenAI-compatible HTTP server, against peers.

Run: ``.venv/bin/python -m splitsecond.benchmarks.serving_http [--quick]``.

Measured in one run on this machine, same GGUF weights and prompts throughout:

- single-stream decode tokens/s (streamed, time between first and last token);
- throughput (generated tokens/s) at 1, 4, 16 and 64 concurrent HTTP requests;
- time to first token of a ~300-token prompt, cold and with its prefix cached;
- decision latency: a StreetFighter-sized observation (game rules + observation, warm prefix) to a
  valid action chosen among 20 by a choice constraint, full HTTP round trip.

Peers: Hugging Face ``transformers`` ``generate`` on the same GGUF (dequantised), and llama.cpp via
``llama-cpp-python`` when importable. The 2 cores of this VM swing by up to 2x from minute to minute,
so the run is split into rounds: each round measures every figure for us, then HF, then llama.cpp,
back to back (all three loaded once). A figure is the median over rounds; a ratio is the median of the
per-round ratios (> 1 means SplitSecond is faster). The decision figure also reports how many prompt
tokens were new (not prefix-cached) and a compute floor: those tokens' projection FLOPs at the rate
this CPU's fastest GEMM sustains with the weights in cache. Results go to
``benchmarks/results/serving_http.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from splitsecond.benchmarks.machine import machine_info

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "serving_http.json"

ACTIONS = [
    "idle", "walk_forward", "walk_back", "crouch", "jump", "jump_forward", "jump_back", "block_high",
    "block_low", "light_punch", "medium_punch", "heavy_punch", "light_kick", "medium_kick", "heavy_kick",
    "throw", "fireball", "dragon_punch", "hurricane_kick", "dash_back",
]  # fmt: skip

GAME_RULES = (
    "You control Ryu in a 2D fighting game at 60 frames per second. Your action lands only when your "
    "answer arrives, so answer fast. Each fighter has 100 health; two rounds win the match. Light attacks "
    "are fast but weak, heavy attacks hit hard but leave you open if blocked. Kicks reach further than "
    "punches. A throw beats blocking at close range. A fireball crosses the screen; a hurricane kick "
    "passes over it. A dragon punch beats jump-ins but is punished if it misses. Block high against "
    "standing and jumping attacks, low against sweeps. Jumping avoids throws and low attacks. Dash back "
    "to escape the corner. Reply with exactly one action name from this list and nothing else: "
    f"{', '.join(ACTIONS)}."
)


def _observation(i: int) -> str:
    """A per-decision observation (~80 tokens) that varies with ``i``."""
    return (
        f"Frame {1200 + 7 * i}. You: x={310 + i % 50} px, health {100 - i % 37}, meter {(i * 13) % 100}, "
        f"standing. Opponent (Ken): x={390 - i % 30} px, health {88 - i % 41}, meter {(i * 7) % 100}, "
        f"{['jumping toward you', 'crouching', 'throwing a fireball', 'walking forward', 'blocking'][i % 5]}. "
        f"Distance {80 - i % 30} px. Time left {99 - i % 60} s. Your action?"
    )


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class HttpBench:
    """Measures through a running server's OpenAI API."""

    def __init__(self, api_base: str, model: str) -> None:
        self.api_base = api_base
        self.model = model

    async def stream_completion(self, c: httpx.AsyncClient, prompt: str, max_tokens: int) -> dict[str, Any]:
        """One streamed completion: arrival times of each token event and the usage."""
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
        t0 = time.perf_counter()
        times: list[float] = []
        usage: dict[str, Any] = {}
        async with c.stream("POST", f"{self.api_base}/completions", json=body) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                ev = json.loads(line[6:])
                if ev.get("choices"):
                    times.append(time.perf_counter() - t0)
                if ev.get("usage"):
                    usage = ev["usage"]
        return {"times": times, "usage": usage}

    async def decode_rate(self, c: httpx.AsyncClient, max_tokens: int) -> float:
        """Single-stream decode tokens/s, first token excluded."""
        out = await self.stream_completion(c, f"[{uuid.uuid4().hex[:8]}] Once upon a time", max_tokens)
        n = out["usage"]["completion_tokens"]
        return (n - 1) / (out["times"][-1] - out["times"][0])

    async def throughput(self, c: httpx.AsyncClient, concurrency: int, max_tokens: int) -> float:
        """Generated tokens/s with ``concurrency`` requests in flight at once."""

        async def one(i: int) -> int:
            body = {"model": self.model, "prompt": f"Story {i} ({uuid.uuid4().hex[:6]}): once upon a time",
                    "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}  # fmt: skip
            r = await c.post(f"{self.api_base}/completions", json=body)
            r.raise_for_status()
            return int(r.json()["usage"]["completion_tokens"])

        t0 = time.perf_counter()
        counts = await asyncio.gather(*(one(i) for i in range(concurrency)))
        return sum(counts) / (time.perf_counter() - t0)

    async def ttft(self, c: httpx.AsyncClient, prompt: str) -> tuple[float, int]:
        """Time to the first token event of a 1-token streamed completion, and its cached tokens."""
        out = await self.stream_completion(c, prompt, 1)
        return out["times"][0], int(out["usage"]["prompt_tokens_details"]["cached_tokens"])

    async def decision(self, c: httpx.AsyncClient, i: int) -> tuple[float, str, int, int]:
        """One decision: rules + observation to a choice-constrained action.

        Returns (latency s, action, prompt tokens, prefix-cached prompt tokens).
        """
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": GAME_RULES},
                {"role": "user", "content": _observation(i)},
            ],
            "max_tokens": 12,
            "temperature": 0,
            "structured_outputs": {"choice": ACTIONS},
        }
        t0 = time.perf_counter()
        r = await c.post(f"{self.api_base}/chat/completions", json=body)
        dt_s = time.perf_counter() - t0
        r.raise_for_status()
        out = r.json()
        usage = out["usage"]
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        return dt_s, out["choices"][0]["message"]["content"], int(usage["prompt_tokens"]), cached

    async def prompt_tokens(self, c: httpx.AsyncClient, prompt: str) -> int:
        """How many tokens the server counts in ``prompt``."""
        r = await c.post(
            f"{self.api_base}/completions", json={"model": self.model, "prompt": prompt, "max_tokens": 1}
        )
        r.raise_for_status()
        return int(r.json()["usage"]["prompt_tokens"])


def _long_prompt(nonce: str) -> str:
    """A ~300-token prompt whose first tokens are unique (so it starts cold)."""
    return f"Session {nonce}. {GAME_RULES}\n{_observation(3)}"


async def bench_server(
    api_base: str, model: str, quick: bool, progress: Progress, round_index: int = 0
) -> dict[str, Any]:
    """All figures of our engine for one round, measured through the HTTP server.

    Each round's decisions see observations no earlier round sent (a repeat would be a full-prompt
    prefix hit, not a new decision).
    """
    b = HttpBench(api_base, model)
    res: dict[str, Any] = {}
    reps = 2 if quick else 3
    dec_tokens = 48 if quick else 128
    thr_tokens = 32 if quick else 64
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    async with httpx.AsyncClient(timeout=600, limits=limits) as c:
        await b.decode_rate(c, 8)  # warm-up (first-call allocations)
        task = progress.add_task("ours: decode", total=reps)
        rates = []
        for _ in range(reps):
            rates.append(await b.decode_rate(c, dec_tokens))
            progress.advance(task)
        res["single_stream_decode_tok_s"] = {
            "median": _median(rates),
            "samples": rates,
            "max_tokens": dec_tokens,
        }

        res["throughput_tok_s"] = {}
        levels = (1, 4, 16, 64)
        task = progress.add_task("ours: throughput", total=len(levels) * reps)
        for conc in levels:
            xs = []
            for _ in range(reps):
                xs.append(await b.throughput(c, conc, thr_tokens))
                progress.advance(task)
            res["throughput_tok_s"][str(conc)] = {
                "median": _median(xs),
                "samples": xs,
                "max_tokens": thr_tokens,
            }

        trials = 3 if quick else 5
        task = progress.add_task("ours: TTFT", total=trials)
        cold, hit, cached = [], [], []
        for _ in range(trials):
            p = _long_prompt(uuid.uuid4().hex)
            t_cold, _ = await b.ttft(c, p)
            t_hit, n_cached = await b.ttft(c, p)
            cold.append(t_cold)
            hit.append(t_hit)
            cached.append(n_cached)
            progress.advance(task)
        n_prompt = await b.prompt_tokens(c, _long_prompt("x"))
        res["ttft_s"] = {"cold": _median(cold), "prefix_hit": _median(hit), "cold_samples": cold,
                         "hit_samples": hit, "cached_tokens": _median(cached), "prompt_tokens": n_prompt}  # fmt: skip

        n = 8 if quick else 30
        task = progress.add_task("ours: decisions", total=n)
        await b.decision(c, 10_000)  # warm the rules' prefix
        lat, valid, actions, new_tokens = [], 0, [], []
        prompt_tokens = 0
        for i in range(n):
            s, action, prompt_tokens, n_cached = await b.decision(c, round_index * 1000 + i)
            lat.append(s)
            valid += action in ACTIONS
            actions.append(action)
            new_tokens.append(prompt_tokens - n_cached)
            progress.advance(task)
        res["decision_latency_s"] = {"p50": _median(lat), "p90": _pct(lat, 0.9), "samples": lat,
                                     "valid": valid, "n": n, "prompt_tokens": prompt_tokens,
                                     "new_prompt_tokens": _median(new_tokens),
                                     "actions_seen": sorted(set(actions))}  # fmt: skip
    return res


def decision_compute_floor(gguf: Path, new_tokens: int) -> dict[str, Any]:
    """The least time the decision's prefill can take on this CPU, from FLOPs and a GEMM probe.

    Every new prompt token passes through all projections (2 FLOPs per weight). The probe times the
    model's widest projection as the default engine runs it on this machine (FBGEMM fp16 for fp32
    models; for bf16, int4 copies up to ``INT4_MAX_ROWS`` rows and oneDNN-blocked bf16 above) at
    ``new_tokens`` rows, with the weight hot in cache: an optimistic rate, so the floor is a true lower
    bound for the engine's kernels.
    """
    import math

    import torch

    from splitsecond.serving.config import EngineConfig
    from splitsecond.serving.layers.int4_weight import Int4Weight
    from splitsecond.serving.layers.linear import Linear
    from splitsecond.serving.loader.gguf_file import GGUFFile

    blocks = [t for t in GGUFFile(gguf).tensors if t.name.startswith("blk.") and len(t.shape) == 2]
    params = sum(math.prod(t.shape) for t in blocks)
    widest = max(blocks, key=lambda t: math.prod(t.shape))
    rows = max(1, int(new_tokens))
    config = EngineConfig(device="cpu")
    dtype = config.resolved_dtype()
    packing = config.resolved_weight_packing(dtype)
    layer = Linear(min(widest.shape), max(widest.shape), dtype=dtype)
    torch.nn.init.normal_(layer.weight, std=0.02)
    if packing == "fp16":
        layer.pack("fp16")
    elif packing == "int4":
        layer.int4 = Int4Weight.from_weight(layer.weight.data)
        layer.pack_onednn()
    x = torch.randn(rows, min(widest.shape), dtype=dtype)
    with torch.inference_mode():
        for _ in range(5):
            layer(x)
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            layer(x)
            times.append(time.perf_counter() - t0)
    gflops = 2 * rows * math.prod(widest.shape) / min(times) / 1e9
    return {"new_tokens": rows, "projection_params": params, "gemm_gflops": gflops, "dtype": str(dtype),
            "packing": packing, "floor_s": 2 * rows * params / (gflops * 1e9)}  # fmt: skip


# ---------------------------------------------------------------- Hugging Face transformers peer


def load_hf(gguf: Path) -> tuple[Any, Any]:
    """(tokenizer, fp32 model) of ``transformers`` on the GGUF (dequantised), loaded once per run."""
    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF conversion bar
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    if tok.chat_template is None:  # e.g. Gemma's GGUF: the same built-in template our engine uses
        tok.chat_template = builtin_chat_template(gguf)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok, model


def bench_hf(hf: tuple[Any, Any], quick: bool, progress: Progress) -> dict[str, Any]:
    """One round of the same figures with ``transformers`` ``generate`` (fp32, no prefix cache)."""
    import torch

    tok, model = hf

    def gen(prompts: list[str], new: int) -> float:
        enc = tok(prompts, return_tensors="pt", padding=True)
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(**enc, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                           pad_token_id=tok.pad_token_id)  # fmt: skip
        return time.perf_counter() - t0

    res: dict[str, Any] = {}
    reps = 2 if quick else 3
    dec_tokens = 48 if quick else 128
    thr_tokens = 32 if quick else 64
    gen(["warm up"], 4)
    task = progress.add_task("HF: decode", total=reps)
    rates = []
    for _ in range(reps):
        t1 = gen(["Once upon a time"], 1)
        tn = gen(["Once upon a time"], dec_tokens)
        rates.append((dec_tokens - 1) / (tn - t1))
        progress.advance(task)
    res["single_stream_decode_tok_s"] = {"median": _median(rates), "samples": rates}

    res["throughput_tok_s"] = {}
    levels = (1, 4, 16) if quick else (1, 4, 16, 64)
    task = progress.add_task("HF: throughput", total=len(levels) * reps)
    for conc in levels:
        xs = []
        for _ in range(reps):
            prompts = [f"Story {i}: once upon a time" for i in range(conc)]
            xs.append(conc * thr_tokens / gen(prompts, thr_tokens))
            progress.advance(task)
        res["throughput_tok_s"][str(conc)] = {"median": _median(xs), "samples": xs}

    trials = 3 if quick else 5
    task = progress.add_task("HF: TTFT", total=trials)
    ttfts = []
    for _ in range(trials):
        ttfts.append(gen([_long_prompt(uuid.uuid4().hex)], 1))
        progress.advance(task)
    res["ttft_s"] = {"cold": _median(ttfts), "prefix_hit": _median(ttfts), "note": "no prefix cache"}

    # Decision: no constrained decoding; greedy for as many tokens as the longest action needs.
    longest = max(len(tok(a, add_special_tokens=False).input_ids) for a in ACTIONS)
    n = 5 if quick else 10
    task = progress.add_task("HF: decisions", total=n)
    lat = []
    for i in range(n):
        text = tok.apply_chat_template(
            [{"role": "system", "content": GAME_RULES}, {"role": "user", "content": _observation(i)}],
            tokenize=False, add_generation_prompt=True,
        )  # fmt: skip
        lat.append(gen([text], longest))
        progress.advance(task)
    res["decision_latency_s"] = {"p50": _median(lat), "p90": _pct(lat, 0.9), "samples": lat,
                                 "note": f"unconstrained, {longest} greedy tokens, no prefix cache"}  # fmt: skip
    return res


# ---------------------------------------------------------------- llama.cpp peer


def load_llamacpp(gguf: Path) -> Any:
    """llama.cpp (``llama-cpp-python``) on the GGUF, loaded once per run."""
    from llama_cpp import Llama

    template = builtin_chat_template(gguf)
    handler = None
    if template is not None:  # llama-cpp-python would fall back to a Llama-2 prompt format
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        handler = Jinja2ChatFormatter(
            template, eos_token="<end_of_turn>", bos_token="<bos>"
        ).to_chat_handler()
    return Llama(
        model_path=str(gguf), n_ctx=1024, n_batch=512, n_threads=os.cpu_count(), verbose=False, seed=0,
        chat_handler=handler,
    )  # fmt: skip


def builtin_chat_template(gguf: Path) -> str | None:
    """The chat template our engine uses for a GGUF that carries none (None when it has its own)."""
    from splitsecond.serving.loader.chat_templates import BUILTIN_CHAT_TEMPLATES
    from splitsecond.serving.loader.gguf_file import GGUFFile

    meta = GGUFFile(gguf).metadata
    if meta.get("tokenizer.chat_template"):
        return None
    return BUILTIN_CHAT_TEMPLATES.get(meta.get("general.architecture"))


def bench_llamacpp(llm: Any, quick: bool, progress: Progress, round_index: int = 0) -> dict[str, Any]:
    """One round of the single-stream figures with llama.cpp on the same GGUF (new observations per
    round, as for ours)."""
    from llama_cpp import LlamaGrammar

    eos = llm.token_eos()
    no_eos = {eos: -1e9}
    res: dict[str, Any] = {}
    reps = 2 if quick else 3
    dec_tokens = 48 if quick else 128

    def stream_times(prompt: str, max_tokens: int, **kw: Any) -> list[float]:
        t0 = time.perf_counter()
        times = []
        for _ in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0, stream=True, **kw):
            times.append(time.perf_counter() - t0)
        return times

    stream_times("warm up", 4)
    task = progress.add_task("llama.cpp: decode", total=reps)
    rates = []
    for _ in range(reps):
        t = stream_times(f"[{uuid.uuid4().hex[:8]}] Once upon a time", dec_tokens, logit_bias=no_eos)
        rates.append((len(t) - 1) / (t[-1] - t[0]))
        progress.advance(task)
    res["single_stream_decode_tok_s"] = {"median": _median(rates), "samples": rates}
    thr = [dec_tokens / (stream_times(f"[{uuid.uuid4().hex[:8]}] Story", dec_tokens, logit_bias=no_eos)[-1])
           for _ in range(reps)]  # fmt: skip
    res["throughput_tok_s"] = {"1": {"median": _median(thr), "samples": thr}}

    trials = 3 if quick else 5
    cold, hit = [], []
    task = progress.add_task("llama.cpp: TTFT", total=trials)
    for _ in range(trials):
        p = _long_prompt(uuid.uuid4().hex)
        cold.append(stream_times(p, 1)[0])
        hit.append(stream_times(p, 1)[0])
        progress.advance(task)
    res["ttft_s"] = {
        "cold": _median(cold),
        "prefix_hit": _median(hit),
        "note": "llama.cpp reuses the last prompt's KV",
    }

    grammar = LlamaGrammar.from_string(
        "root ::= " + " | ".join(json.dumps(a) for a in ACTIONS), verbose=False
    )

    def decide(i: int) -> tuple[float, str]:
        t0 = time.perf_counter()
        out = llm.create_chat_completion(
            [{"role": "system", "content": GAME_RULES}, {"role": "user", "content": _observation(i)}],
            grammar=grammar, max_tokens=12, temperature=0,
        )  # fmt: skip
        return time.perf_counter() - t0, out["choices"][0]["message"]["content"]

    decide(10_000)
    n = 5 if quick else 15
    task = progress.add_task("llama.cpp: decisions", total=n)
    lat, valid = [], 0
    for i in range(n):
        s, a = decide(round_index * 1000 + i)
        lat.append(s)
        valid += a in ACTIONS
        progress.advance(task)
    res["decision_latency_s"] = {"p50": _median(lat), "p90": _pct(lat, 0.9), "samples": lat, "valid": valid, "n": n,
                                 "note": "GBNF choice grammar, in-process (no HTTP)"}  # fmt: skip
    return res


# ---------------------------------------------------------------- report


def _speedup(ours: float | None, peer: float | None, higher_is_better: bool) -> float | None:
    if ours is None or peer is None or ours == 0 or peer == 0:
        return None
    return ours / peer if higher_is_better else peer / ours


def summarise(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the results table from per-round results (``{"ours", "hf_transformers", "llamacpp"}``).

    Each figure is the median over rounds of that round's figure; each speed-up is the median of the
    per-round speed-ups (ours and the peer measured back to back); the goal is judged on those.
    """

    def get(d: dict[str, Any] | None, *path: str) -> float | None:
        for p in path:
            if d is None:
                return None
            d = d.get(p)
        return d  # type: ignore[return-value]

    def over(who: str, path: tuple[str, ...]) -> float | None:
        return _median([v for r in rounds if (v := get(r.get(who), *path)) is not None])

    def ratio(peer: str, path: tuple[str, ...], higher: bool) -> float | None:
        per_round = [_speedup(get(r.get("ours"), *path), get(r.get(peer), *path), higher) for r in rounds]
        return _median([x for x in per_round if x is not None])

    rows: list[dict[str, Any]] = []

    def row(name: str, unit: str, path: tuple[str, ...], higher: bool, goal: str | None = None,
            met: Callable[[float | None, float | None], bool | None] | None = None) -> None:  # fmt: skip
        o = over("ours", path)
        vs_hf = ratio("hf_transformers", path, higher)
        rows.append({"figure": name, "unit": unit, "ours": o, "hf": over("hf_transformers", path),
                     "llamacpp": over("llamacpp", path), "speedup_vs_hf": vs_hf,
                     "speedup_vs_llamacpp": ratio("llamacpp", path, higher), "goal": goal,
                     "met": met(o, vs_hf) if met else None})  # fmt: skip

    row("single-stream decode", "tok/s", ("single_stream_decode_tok_s", "median"), True, ">= 2x HF",
        lambda o, s: None if s is None else s >= 2)  # fmt: skip
    for conc in ("1", "4", "16", "64"):
        goal = ">= 3x HF" if conc == "16" else None
        row(f"throughput @ {conc} concurrent", "tok/s", ("throughput_tok_s", conc, "median"), True, goal,
            (lambda o, s: None if s is None else s >= 3) if conc == "16" else None)  # fmt: skip
    row("TTFT cold (~300-token prompt)", "ms", ("ttft_s", "cold"), False)
    cold = over("ours", ("ttft_s", "cold"))
    row("TTFT prefix hit", "ms", ("ttft_s", "prefix_hit"), False, "<= 20% of cold",
        lambda o, s: None if o is None or cold is None else o <= 0.2 * cold)  # fmt: skip
    row("decision latency p50", "ms", ("decision_latency_s", "p50"), False, "<= 30 ms",
        lambda o, s: None if o is None else o <= 0.030)  # fmt: skip
    row("decision latency p90", "ms", ("decision_latency_s", "p90"), False)
    return rows


def print_table(rows: list[dict[str, Any]], console: Console, title: str = "serving_http") -> None:
    """One model's results as a rich table."""
    t = Table(title=title)
    for col in ("figure", "ours", "HF transformers", "x vs HF", "llama.cpp", "x vs llama.cpp", "goal", "met"):
        t.add_column(col, justify="left" if col in ("figure", "goal") else "right")

    def fmt(v: float | None, unit: str) -> str:
        if v is None:
            return "-"
        return f"{v * 1000:.1f} ms" if unit == "ms" else f"{v:.1f} {unit}"

    for r in rows:
        met = {True: "[green]met[/]", False: "[red]not met[/]", None: ""}[r["met"]]
        sx = "-" if r["speedup_vs_hf"] is None else f"{r['speedup_vs_hf']:.2f}x"
        sl = "-" if r["speedup_vs_llamacpp"] is None else f"{r['speedup_vs_llamacpp']:.2f}x"
        t.add_row(r["figure"], fmt(r["ours"], r["unit"]), fmt(r["hf"], r["unit"]), sx, fmt(r["llamacpp"], r["unit"]),
                  sl, r["goal"] or "", met)  # fmt: skip
    console.print(t)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def start_times(model: str, server_args: list[str]) -> dict[str, float]:
    """Seconds from ``splitsecond serve`` to a ready ``/health``: cold (no prepared weights: the GGUF
    is dequantised) and warm (the prepared-weights cache entry exists, as on every later start)."""
    from splitsecond.serving.server import start_server_subprocess

    def start(env: dict[str, str]) -> float:
        server, seconds = _timed(lambda: start_server_subprocess(model, extra_args=server_args, env=env))
        server.stop()
        return seconds

    cold = start({"SPLITSECOND_WEIGHT_CACHE": "0"})
    start({})  # writes the cache entry if this machine had none
    return {"cold": cold, "warm": start({})}


def bench_model(model: str, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Every figure of one model, for us and the peers, in rounds (see module docstring)."""
    from splitsecond.serving import resolve_model
    from splitsecond.serving.server import start_server_subprocess

    gguf = Path(resolve_model(model).path)
    results: dict[str, Any] = {"model": model, "weights": gguf.name}
    rounds: list[dict[str, Any]] = []
    results["rounds"] = rounds
    load_s: dict[str, Any] = {}
    results["load_s"] = load_s
    with Progress(console=console, transient=True) as progress, contextlib.ExitStack() as stack:
        api_base = args.api_base
        if api_base is None:
            load_s["ours"] = start_times(model, args.server_arg)
            server = stack.enter_context(start_server_subprocess(model, extra_args=args.server_arg))
            api_base = server.api_base
        hf = lcpp = None
        if not args.skip_hf:
            hf, load_s["hf_transformers"] = _timed(lambda: load_hf(gguf))
        if not args.skip_llamacpp:
            try:
                lcpp, load_s["llamacpp"] = _timed(lambda: load_llamacpp(gguf))
            except ImportError:
                results["llamacpp_note"] = "llama-cpp-python is not installed; peer skipped"
        for r in range(args.rounds or (2 if args.quick else 3)):
            rd: dict[str, Any] = {"ours": asyncio.run(bench_server(api_base, model, args.quick, progress, r))}
            rd["hf_transformers"] = None if hf is None else bench_hf(hf, args.quick, progress)
            rd["llamacpp"] = None if lcpp is None else bench_llamacpp(lcpp, args.quick, progress, r)
            rounds.append(rd)
            console.log(f"{model}: round {r + 1} done")
        del hf, lcpp
    new_tokens = _median([rd["ours"]["decision_latency_s"]["new_prompt_tokens"] for rd in rounds])
    results["decision_compute_floor"] = decision_compute_floor(gguf, int(new_tokens or 1))
    results["summary"] = summarise(rounds)
    return results


def ladder_rows(per_model: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model: load times and the headline figures beside both peers (README table)."""
    rows = []
    for model, res in per_model.items():
        by_name = {r["figure"]: r for r in res["summary"]}
        load = res.get("load_s", {})
        rows.append({
            "model": model,
            "load_cold_s": (load.get("ours") or {}).get("cold"),
            "load_warm_s": (load.get("ours") or {}).get("warm"),
            "load_hf_s": load.get("hf_transformers"),
            "load_llamacpp_s": load.get("llamacpp"),
            **{f"{key}_{who}": by_name[figure][who]
               for key, figure in (("decode", "single-stream decode"), ("c16", "throughput @ 16 concurrent"),
                                   ("decision_p50", "decision latency p50"))
               for who in ("ours", "hf", "llamacpp", "speedup_vs_hf", "speedup_vs_llamacpp")},
        })  # fmt: skip
    return rows


def print_ladder(rows: list[dict[str, Any]], console: Console) -> None:
    """The per-model table: ours, then the ratio against transformers (HF) and llama.cpp (lcpp)."""
    t = Table(title="serving_http: the model ladder (medians over rounds; x = ours vs peer, > 1 is faster)")
    for col in ("model", "start cold / warm", "HF / lcpp load", "decode tok/s", "16 concurrent tok/s",
                "decision p50"):  # fmt: skip
        t.add_column(col, justify="left" if col == "model" else "right")

    def num(v: float | None, f: str) -> str:
        return "-" if v is None else format(v, f)

    def cell(r: dict[str, Any], key: str, scale: float, f: str, unit: str) -> str:
        ours = r[f"{key}_ours"]
        v = "-" if ours is None else f"{ours * scale:{f}} {unit}"
        return f"{v} ({num(r[f'{key}_speedup_vs_hf'], '.2f')}x HF, {num(r[f'{key}_speedup_vs_llamacpp'], '.2f')}x lcpp)"

    for r in rows:
        t.add_row(
            r["model"],
            f"{num(r['load_cold_s'], '.1f')} / {num(r['load_warm_s'], '.1f')} s",
            f"{num(r['load_hf_s'], '.1f')} / {num(r['load_llamacpp_s'], '.1f')} s",
            cell(r, "decode", 1, ".1f", ""),
            cell(r, "c16", 1, ".1f", ""),
            cell(r, "decision_p50", 1000, ".0f", "ms"),
        )
    console.print(t)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark on each model, print the tables, write the JSON; returns the results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and tokens (a few minutes)")
    ap.add_argument(
        "--model", action="append", default=None,
        help="model to measure (repeatable; default: every installed model of the ladder)",
    )  # fmt: skip
    ap.add_argument("--skip-hf", action="store_true", help="leave out the transformers peer")
    ap.add_argument("--skip-llamacpp", action="store_true", help="leave out the llama.cpp peer")
    ap.add_argument(
        "--api-base", default=None, help="measure an already running server instead of starting one"
    )
    ap.add_argument("--server-arg", action="append", default=[], help="extra 'splitsecond serve' option")
    ap.add_argument(
        "--rounds", type=int, default=None, help="rounds of ours/HF/llama.cpp (default 2 quick, 3)"
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    models = args.model or installed_ladder()
    if args.api_base is not None and len(models) != 1:
        ap.error("--api-base measures one running server: name its model with one --model")

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    results: dict[str, Any] = {"benchmark": "serving_http", "date": dt.datetime.now(dt.UTC).isoformat(),
                               "machine": machine_info(), "quick": args.quick, "models": {}}  # fmt: skip
    for model in models:
        res = bench_model(model, args, console)
        results["models"][model] = res
        print_table(
            res["summary"], console, title=f"serving_http: {model} over HTTP vs peers (medians over rounds)"
        )
        floor = res["decision_compute_floor"]
        console.print(f"decision: {floor['new_tokens']} new prompt tokens per decision; their projections at "
                      f"{floor['gemm_gflops']:.0f} GFLOP/s (hot-cache GEMM) take at least "
                      f"{floor['floor_s'] * 1000:.0f} ms on this CPU")  # fmt: skip
        if "llamacpp_note" in res:
            console.print(f"[yellow]{res['llamacpp_note']}[/]")
        results["ladder"] = ladder_rows(results["models"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(results, indent=2)
        )  # after each model: a long run keeps what it measured
    print_ladder(results["ladder"], console)
    load = results["machine"]["loadavg_1m"]
    console.print(f"1-minute load average at the start: {load:.2f} on {results['machine']['cores']} cores.")
    console.print(f"wrote {args.out}")
    return results


def installed_ladder() -> list[str]:
    """The ladder's models whose packages are installed, in the registry's order (smallest first)."""
    from splitsecond.serving.loader.registry import list_models

    return [status.model.name for status in list_models() if status.installed]


if __name__ == "__main__":
    main()
