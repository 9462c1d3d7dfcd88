"""The engine on SplitSecond's CPU kernels against llama.cpp on the same GGUF, in one process.

Run: ``python -m splitsecond.benchmarks.engine_kernels [--models M ...] [--rounds N] [--quick]`` on an
otherwise idle machine (other work on the cores skews both sides).

Per model (default ``smollm2-135m`` and ``qwen2.5-coder-1.5b``), in rounds that alternate ours and
llama.cpp (``llama-cpp-python``, same thread count), each figure a median over rounds, each ratio the
median of the per-round ratios:

- single-stream greedy decode tok/s (64 tokens);
- 16 concurrent requests (32 tokens each): our generated tok/s, against llama.cpp's single stream
  (llama-cpp-python has no parallel slots: its 16 requests would run one after another);
- a StreetFighter-like decision: a cached system prompt plus about 75 new prompt tokens (a fresh
  observation), answered under a choice constraint among the actions: p50 latency, both sides reusing
  the shared prefix (our prefix cache, llama.cpp's reuse of the last prompt);
- for smollm2-135m also our previous PyTorch path (fp16 FBGEMM weights, ``precision="bf16"``);
- a roofline line: weight bytes read per decode step over the machine's measured read bandwidth, the
  decode rate that bound allows, and how far the measured rate is from it.

Then the peak resident memory of ``qwen2.5-coder-1.5b`` served at ``precision="int4"`` (a child process
that loads it and decodes a few tokens). JSON to ``benchmarks/results/engine_kernels.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from splitsecond.benchmarks.engine_decode import ACTIONS, SYSTEM, _run, bench_batch, decode_once
from splitsecond.benchmarks.machine import machine_info
from splitsecond.serving import EngineConfig, SamplingParams, StructuredOutput
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.layers.linear import Linear
from splitsecond.serving.loader.registry import resolve_model

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "engine_kernels.json"
MODELS = ("smollm2-135m", "qwen2.5-coder-1.5b")
RSS_MODEL = "qwen2.5-coder-1.5b"
GOALS = {
    "decode_vs_llamacpp": 1.0,
    "decision_ms_smollm2": 30.0,
    "decision_vs_llamacpp_1.5b": 1.5,
    "rss_1.5b_int4_gb": 1.5,
}


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def observation(i: int) -> str:
    """A fresh game observation of about 75 tokens (numbers change every turn)."""
    return (
        f"Frame {1000 + 7 * i}. You: x={300 + i % 50}, health {90 - i % 40}, meter {i % 4}, standing, "
        f"facing right. Opponent: x={380 + i % 30}, health {70 - i % 30}, airborne, moving toward you, "
        f"last actions jump_forward, heavy_kick, block_low. Distance {60 + i % 40} px. "
        f"Round time {40 - i % 20} s. Your action?"
    )


def decision_prompt(tokenizer, i: int) -> str:
    """The full chat prompt of decision ``i`` (shared system prompt, new observation)."""
    return tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": observation(i)}]
    )


def weight_bytes_per_step(engine: LLMEngine) -> int:
    """Bytes of weights one decode step reads (projections and LM head, in their served format)."""
    model = engine.model
    total = 0
    for m in model.modules():
        if isinstance(m, Linear):
            if m.quant is not None:
                total += m.quant.nbytes
            else:  # dense (fp16-packed weights are not counted: this is for the kernel path)
                total += m.weight.numel() * m.weight.element_size()
    head = model._quant_head
    if head is not None:
        total += head.nbytes
    else:
        total += model.lm_head_weight.numel() * 2  # fp16-packed head
    return total


def read_bandwidth_gbs(threads: int, mb: int = 512) -> float:
    """Measured memory read bandwidth (GB/s): the median of summing a ``mb`` MB float32 buffer."""
    torch.set_num_threads(threads)
    x = torch.ones(mb * 2**20 // 4)
    x.sum()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        x.sum()
        times.append(time.perf_counter() - t)
    return x.numel() * 4 / statistics.median(times) / 1e9


def load_llamacpp(gguf: Path, threads: int):
    """llama.cpp on the GGUF with ``threads`` threads (quiet)."""
    from llama_cpp import Llama

    return Llama(model_path=str(gguf), n_ctx=2048, n_batch=512, n_threads=threads, verbose=False, seed=0)


def llamacpp_decode(llm, n_tokens: int, nonce: int) -> float:
    """llama.cpp single-stream greedy decode tok/s (first token excluded)."""
    times = []
    t0 = time.perf_counter()
    for _ in llm.create_completion(
        f"[{nonce}] Write a long story about a fighter who",
        max_tokens=n_tokens,
        temperature=0,
        stream=True,
        logit_bias={llm.token_eos(): -1e9},
    ):
        times.append(time.perf_counter() - t0)
    return (len(times) - 1) / (times[-1] - times[0])


def llamacpp_decision(llm, grammar, prompt: str) -> tuple[float, str]:
    """Seconds to a grammar-constrained action for ``prompt`` (reusing the last prompt's KV)."""
    t = time.perf_counter()
    out = llm.create_completion(prompt, grammar=grammar, max_tokens=12, temperature=0)
    return time.perf_counter() - t, out["choices"][0]["text"]


def ours_decision(engine: LLMEngine, prompt: str, rid: str) -> tuple[float, str, int]:
    """Seconds to a choice-constrained action, its text and the prompt tokens not served from cache."""
    p = SamplingParams(temperature=0, max_tokens=8, structured=StructuredOutput(choice=ACTIONS))
    out = _run(engine, rid, prompt, p)
    new = len(out.prompt_token_ids) - out.num_cached_tokens
    return out.metrics["finish_time"] - out.metrics["arrival_time"], out.outputs[0].text, new


def bench_model(model: str, threads: int, rounds: int, quick: bool, progress: Progress) -> dict[str, Any]:
    """All figures of one model (see the module docstring)."""
    from llama_cpp import LlamaGrammar

    gguf = resolve_model(model).path
    t = time.perf_counter()
    engine = LLMEngine(EngineConfig(model=model, num_threads=threads, num_kv_blocks=512))
    load_ours = time.perf_counter() - t
    t = time.perf_counter()
    lcpp = load_llamacpp(gguf, threads)
    load_lcpp = time.perf_counter() - t
    baseline = None
    if model == "smollm2-135m":
        baseline = LLMEngine(
            EngineConfig(model=model, num_threads=threads, num_kv_blocks=512, precision="bf16")
        )
    grammar = LlamaGrammar.from_string(
        "root ::= " + " | ".join(json.dumps(a) for a in ACTIONS), verbose=False
    )
    n_dec = 32 if quick else 64
    n_decisions = 3 if quick else 5
    # warm up both (and fill the shared prefix)
    decode_once(engine, 8)
    llamacpp_decode(lcpp, 8, -1)
    ours_decision(engine, decision_prompt(engine.tokenizer, 0), "warm")
    llamacpp_decision(lcpp, grammar, decision_prompt(engine.tokenizer, 0))
    if baseline is not None:
        decode_once(baseline, 8)
        ours_decision(baseline, decision_prompt(engine.tokenizer, 0), "warm")
    per_round: list[dict[str, Any]] = []
    task = progress.add_task(f"{model}: rounds", total=rounds)
    for r in range(rounds):
        rd: dict[str, Any] = {}
        rd["ours_decode_tok_s"] = decode_once(engine, n_dec)
        rd["llamacpp_decode_tok_s"] = llamacpp_decode(lcpp, n_dec, r)
        rd["ours_16_concurrent_tok_s"] = bench_batch(engine, 1, batch=16, n_tokens=32)
        lat, lc_lat, new_tokens, valid = [], [], [], 0
        for i in range(n_decisions):
            prompt = decision_prompt(engine.tokenizer, 1 + r * 100 + i)
            s, text, new = ours_decision(engine, prompt, f"d{r}-{i}")
            lat.append(s)
            new_tokens.append(new)
            valid += text in ACTIONS
            lc_lat.append(llamacpp_decision(lcpp, grammar, prompt)[0])
        rd["ours_decision_ms"] = _median(lat) * 1e3
        rd["llamacpp_decision_ms"] = _median(lc_lat) * 1e3
        rd["decision_new_prompt_tokens"] = _median(new_tokens)
        rd["decisions_valid"] = f"{valid}/{n_decisions}"
        if baseline is not None:
            rd["pytorch_path_decode_tok_s"] = decode_once(baseline, n_dec)
            rd["pytorch_path_16_concurrent_tok_s"] = bench_batch(baseline, 1, batch=16, n_tokens=32)
            rd["pytorch_path_decision_ms"] = (
                _median(
                    [
                        ours_decision(
                            baseline, decision_prompt(engine.tokenizer, 1 + r * 100 + i), f"b{r}-{i}"
                        )[0]
                        for i in range(n_decisions)
                    ]
                )
                * 1e3
            )
        rd["decode_vs_llamacpp"] = rd["ours_decode_tok_s"] / rd["llamacpp_decode_tok_s"]
        rd["concurrent16_vs_llamacpp_single"] = rd["ours_16_concurrent_tok_s"] / rd["llamacpp_decode_tok_s"]
        rd["decision_time_vs_llamacpp"] = rd["ours_decision_ms"] / rd["llamacpp_decision_ms"]
        per_round.append(rd)
        progress.advance(task)
    keys = per_round[0].keys()
    med = {k: _median([rd[k] for rd in per_round]) for k in keys if not isinstance(per_round[0][k], str)}
    nbytes = weight_bytes_per_step(engine)
    res = {
        "model": model,
        "weight_packing": engine.weight_packing,
        "load_s": {"ours": load_ours, "llamacpp": load_lcpp},
        "median": med,
        "rounds": per_round,
        "weight_bytes_per_decode_step": nbytes,
    }
    del engine, baseline, lcpp
    return res


def peak_rss(model: str, precision: str, threads: int) -> dict[str, Any]:
    """Peak and final resident memory (GB) of a child process that serves ``model`` at ``precision``."""
    code = (
        "import resource, json, sys\n"
        "from splitsecond.serving import LLM, SamplingParams\n"
        f"llm = LLM({model!r}, precision={precision!r}, num_threads={threads}, num_kv_blocks=256)\n"
        "llm.generate(['Hello'], SamplingParams(temperature=0, max_tokens=8))\n"
        "rss = int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize()\n"
        "print(json.dumps({'peak_rss_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,"
        " 'rss_after_load_gb': rss / 2**30, 'weight_packing': llm.engine.weight_packing}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return {"model": model, "precision": precision, **json.loads(out.stdout.strip().splitlines()[-1])}


def roofline(res: dict[str, Any], bandwidth: float) -> dict[str, Any]:
    """The decode-rate bound from weight bytes per step and read bandwidth, and how close we are."""
    nbytes = res["weight_bytes_per_decode_step"]
    bound = bandwidth * 1e9 / nbytes
    got = res["median"]["ours_decode_tok_s"]
    return {
        "weight_mb_per_step": nbytes / 1e6,
        "read_bandwidth_gbs": bandwidth,
        "bound_tok_s": bound,
        "measured_tok_s": got,
        "fraction_of_bound": got / bound,
    }


def print_table(results: dict[str, Any], console: Console) -> None:
    """One row per model: ours, llama.cpp, ratio (median of per-round ratios)."""
    t = Table(title="engine_kernels (AVX2 kernels; medians over rounds)")
    for col in ("model", "figure", "ours", "llama.cpp", "ratio", "PyTorch path"):
        t.add_column(col)
    for name, res in results["models"].items():
        m = res["median"]
        t.add_row(
            name,
            "decode tok/s",
            f"{m['ours_decode_tok_s']:.1f}",
            f"{m['llamacpp_decode_tok_s']:.1f}",
            f"{m['decode_vs_llamacpp']:.2f}x",
            f"{m.get('pytorch_path_decode_tok_s', float('nan')):.1f}",
        )
        t.add_row(
            "",
            "16 concurrent tok/s",
            f"{m['ours_16_concurrent_tok_s']:.1f}",
            "(single stream)",
            f"{m['concurrent16_vs_llamacpp_single']:.2f}x",
            f"{m.get('pytorch_path_16_concurrent_tok_s', float('nan')):.1f}",
        )
        t.add_row(
            "",
            f"decision p50 ms ({m['decision_new_prompt_tokens']:.0f} new tokens)",
            f"{m['ours_decision_ms']:.1f}",
            f"{m['llamacpp_decision_ms']:.1f}",
            f"{m['decision_time_vs_llamacpp']:.2f}x time",
            f"{m.get('pytorch_path_decision_ms', float('nan')):.1f}",
        )
        rl = res["roofline"]
        t.add_row(
            "",
            "roofline",
            f"{rl['weight_mb_per_step']:.0f} MB/step",
            f"{rl['read_bandwidth_gbs']:.1f} GB/s",
            f"{rl['fraction_of_bound']:.2f} of {rl['bound_tok_s']:.0f} tok/s",
            "",
        )
    console.print(t)
    if "rss" in results:
        console.print(f"peak RSS: {results['rss']}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="threads for both engines (default: the cores)")
    ap.add_argument("--quick", action="store_true", help="fewer tokens and decisions per round")
    ap.add_argument("--skip-rss", action="store_true", help="leave out the peak-memory child process")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    threads = args.threads or EngineConfig().resolved_num_threads()
    console = Console()
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine_before": machine_info(),
        "threads": threads,
        "models": {},
    }
    bandwidth = read_bandwidth_gbs(threads)
    results["read_bandwidth_gbs"] = bandwidth
    with Progress(console=console, transient=True) as progress:
        for model in args.models:
            res = bench_model(model, threads, args.rounds, args.quick, progress)
            res["roofline"] = roofline(res, bandwidth)
            results["models"][model] = res
    if not args.skip_rss:
        results["rss"] = peak_rss(RSS_MODEL, "int4", threads)
    results["machine_after"] = machine_info()
    results["goals"] = GOALS
    print_table(results, console)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    console.print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
