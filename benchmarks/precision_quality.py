"""What the precision knob costs in quality and buys in speed, per ladder model, on the CPU kernels.

Run: ``python -m splitsecond.benchmarks.precision_quality [--models M ...] [--mixed mixed:0.8] [--quick]``
on an otherwise idle machine. ``--quick`` does ``smollm2-135m`` and ``qwen2.5-coder-0.5b`` with fewer
prompts.

Per model and precision (``source``, ``int8``, ``int4`` and one ``mixed:<target>``; every one served by
``weight_packing="quant"`` so that only the weights differ):

- perplexity on a held-out text (``serving/kernels/data/heldout.txt``, never the calibration text the
  mixed plan is measured on), over its first ``--ppl-tokens`` tokens in one pass;
- agreement of greedy actions with ``source`` on decision prompts built from real StreetFighter and
  HFTBench episodes (seeded random play) by the agents' own prompt template (reflex style, compact
  rules), each answered under a choice constraint among that observation's actions (StreetFighter's
  action names; HFTBench's order menu, ``agents.prompts.OrderMenu``);
- decode tok/s (``engine_decode.decode_once``, median of 3) and the median decision latency of those prompts (their
  shared system prompt served from the prefix cache after the first);
- the weight bytes one decode step reads (``engine_kernels.weight_bytes_per_step``) as a fraction of
  ``source``'s: the latency proxy that ``mixed:<target>`` plans to.

JSON to ``benchmarks/results/precision_quality.json`` (merged by model with what is there, so a model run
alone adds to the file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from splitsecond.benchmarks.engine_decode import _run, decode_once
from splitsecond.benchmarks.engine_kernels import weight_bytes_per_step
from splitsecond.benchmarks.machine import machine_info
from splitsecond.serving import EngineConfig, SamplingParams, StructuredOutput
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.kernels.mixed_precision import heldout_text, sequence_logits

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "precision_quality.json"
MODELS = ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
QUICK_MODELS = ("smollm2-135m", "qwen2.5-coder-0.5b")
MIXED = "mixed:0.8"
SEED = 7


@dataclass(frozen=True)
class DecisionPrompt:
    """One recorded decision: the game, the chat messages and the actions it may answer."""

    game: str
    messages: list[dict[str, str]]
    choices: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.game not in ("StreetFighter", "HFTBench"):
            raise ValueError(f"unknown game {self.game!r}")
        if not self.choices or len(set(self.choices)) != len(self.choices):
            raise ValueError("a decision needs distinct choices")


def decision_prompts(n_per_game: int, seed: int = SEED, steps_between: int = 20) -> list[DecisionPrompt]:
    """``n_per_game`` StreetFighter and HFTBench decisions from seeded episodes of random play, as the LLM
    agent prompts them (reflex style, compact rules), alternating games. The envs run on their fixed clock
    (each step charges the same latency), so the prompts are the same on every run."""
    import gymnasium as gym

    import splitsecond.envs  # noqa: F401  (registers the env ids)
    from splitsecond.agents.base import EnvSpec, Observation
    from splitsecond.agents.prompts import HFTBENCH_COMPACT, STREETFIGHTER_COMPACT, OrderMenu
    from splitsecond.envs.hftbench import GRAMMAR, RULES
    from splitsecond.envs.streetfighter import ACTION_NAMES

    if n_per_game < 1:
        raise ValueError(f"n_per_game must be >= 1, got {n_per_game}")
    sf = gym.make("splitsecond/StreetFighter-v0", clock="fixed")  # not the wall clock: reproducible
    hft = gym.make("splitsecond/HFTBench-v0", clock="fixed")
    out: list[DecisionPrompt] = []
    try:
        sf.reset(seed=seed)
        hft.reset(seed=seed)
        sf.action_space.seed(seed)
        hft.action_space.seed(seed)
        sf_spec = EnvSpec("splitsecond/StreetFighter-v0", sf.action_space, sf.observation_space,
                          action_names=tuple(ACTION_NAMES))  # fmt: skip
        env, market = hft.unwrapped, hft.unwrapped.market
        hft_spec = EnvSpec(
            "splitsecond/HFTBench-v0",
            hft.action_space,
            hft.observation_space,
            rules=RULES,
            metadata={
                "symbols": list(market.symbols),
                "tick_sizes": list(market.tick_sizes),
                "lot_sizes": list(market.lot_sizes),
                "short_limit_shares": env.config.short_limit_shares,
                "fill_model": env.config.fill_model,
                "text_action_grammar": GRAMMAR,
            },
        )
        menu = OrderMenu()
        for _ in range(n_per_game):
            for _ in range(steps_between):
                obs, _, done, trunc, info = sf.step(int(sf.action_space.sample()))
                if done or trunc:
                    obs, info = sf.reset()
            names = list(ACTION_NAMES)
            msgs = STREETFIGHTER_COMPACT.messages(sf_spec, "reflex", names, str(info["text"]), [])
            out.append(DecisionPrompt("StreetFighter", msgs, tuple(names)))
            for _ in range(max(1, steps_between // 5)):
                obs, _, done, trunc, info = hft.step(hft.action_space.sample())
                if done or trunc:
                    obs, info = hft.reset()
            choices = tuple(menu.build(hft_spec, Observation(obs, str(info["text"]))))
            shown = [menu.syntax(hft_spec)]
            msgs = HFTBENCH_COMPACT.messages(hft_spec, "reflex", shown, str(info["text"]), [])
            out.append(DecisionPrompt("HFTBench", msgs, choices))
    finally:
        sf.close()
        hft.close()
    return out


def perplexity(engine: LLMEngine, text: str, max_tokens: int) -> tuple[float, int]:
    """(perplexity of the first ``max_tokens`` tokens of ``text`` in one pass, tokens scored)."""
    ids = engine.tokenizer.encode(text)[:max_tokens]
    if len(ids) < 2:
        raise ValueError("the held-out text has fewer than two tokens")
    logits = sequence_logits(engine.model, ids)
    nll = torch.nn.functional.cross_entropy(logits[:-1].float(), torch.tensor(ids[1:]))
    return math.exp(float(nll)), len(ids) - 1


def decide(engine: LLMEngine, prompt: DecisionPrompt, rid: str) -> tuple[float, str]:
    """(seconds, the greedy action) for one decision under its choice constraint."""
    text = engine.tokenizer.apply_chat_template(prompt.messages)
    params = SamplingParams(
        temperature=0, max_tokens=24, structured=StructuredOutput(choice=list(prompt.choices))
    )
    out = _run(engine, rid, text, params)
    return out.metrics["finish_time"] - out.metrics["arrival_time"], out.outputs[0].text


def bench_precision(
    model: str,
    precision: str,
    prompts: list[DecisionPrompt],
    threads: int,
    ppl_tokens: int,
    decode_tokens: int,
) -> dict[str, Any]:
    """Every figure of ``model`` at ``precision`` (agreement is filled in by the caller)."""
    t = time.perf_counter()
    engine = LLMEngine(
        EngineConfig(
            model=model,
            precision=precision,
            weight_packing="quant",
            device="cpu",
            dtype="float32",
            num_threads=threads,
            num_kv_blocks=256,
            kv_swap_policy="recompute",
        )
    )
    load_s = time.perf_counter() - t
    try:
        ppl, scored = perplexity(engine, heldout_text(), ppl_tokens)
        decode_once(engine, 8)  # warm up
        tok_s = statistics.median(decode_once(engine, decode_tokens) for _ in range(3))
        times, actions = [], []
        for i, p in enumerate(prompts):
            s, action = decide(engine, p, f"{precision}-{i}")
            times.append(s)
            actions.append(action)
        warm = times[2:] or times  # the first decision of each game fills its system prompt's cache
        return {
            "precision": precision,
            "load_s": load_s,
            "perplexity": ppl,
            "ppl_tokens": scored,
            "decode_tok_s": tok_s,
            "decision_ms_p50": statistics.median(warm) * 1e3,
            "weight_bytes_per_step": weight_bytes_per_step(engine),
            "actions": actions,
            "valid": sum(a in p.choices for a, p in zip(actions, prompts, strict=True)),
        }
    finally:
        engine.close()
        del engine
        gc.collect()


def bench_model(
    model: str,
    precisions: list[str],
    prompts: list[DecisionPrompt],
    args: argparse.Namespace,
    progress: Progress,
) -> dict[str, Any]:
    """All precisions of one model; agreement and byte fractions against its ``source`` row."""
    task = progress.add_task(model, total=len(precisions))
    rows = []
    for precision in precisions:
        rows.append(
            bench_precision(model, precision, prompts, args.threads, args.ppl_tokens, args.decode_tokens)
        )
        progress.advance(task)
    source = rows[0]
    for row in rows:
        same = [a == b for a, b in zip(row["actions"], source["actions"], strict=True)]
        row["agreement"] = sum(same) / len(same)
        row["agreement_by_game"] = {
            game: statistics.mean(s for s, p in zip(same, prompts, strict=True) if p.game == game)
            for game in ("StreetFighter", "HFTBench")
        }
        row["bytes_vs_source"] = row["weight_bytes_per_step"] / source["weight_bytes_per_step"]
        row["decode_vs_source"] = row["decode_tok_s"] / source["decode_tok_s"]
    return {"model": model, "rows": rows}


def print_table(results: dict[str, Any], console: Console) -> None:
    """One row per (model, precision)."""
    table = Table(title="Precision vs quality (AVX2 CPU kernels, float32 activations)")
    for col in (
        "model",
        "precision",
        "bytes/step",
        "ppl",
        "agree SF",
        "agree HFT",
        "decode tok/s",
        "decision ms",
    ):
        table.add_column(col)
    for name, res in results.items():
        for r in res["rows"]:
            by = r["agreement_by_game"]
            table.add_row(
                name,
                r["precision"],
                f"{r['weight_bytes_per_step'] / 1e6:.0f} MB ({r['bytes_vs_source']:.2f})",
                f"{r['perplexity']:.2f}",
                f"{by['StreetFighter']:.2f}",
                f"{by['HFTBench']:.2f}",
                f"{r['decode_tok_s']:.1f}",
                f"{r['decision_ms_p50']:.0f}",
            )
    console.print(table)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse options, run, print the table and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=None, help=f"default: {' '.join(MODELS)}")
    ap.add_argument("--mixed", default=MIXED, help="the mixed precision to rate (mixed:<fraction>)")
    ap.add_argument(
        "--precisions", nargs="+", default=None, help="default: source int8 int4 and --mixed (source first)"
    )
    ap.add_argument("--prompts", type=int, default=None, help="decisions per game (default 6; quick 3)")
    ap.add_argument("--ppl-tokens", type=int, default=None, help="held-out tokens (default 512; quick 256)")
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smollm2-135m and qwen2.5-coder-0.5b, fewer prompts")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    precisions = args.precisions or ["source", "int8", "int4", args.mixed]
    for p in precisions:  # a bad precision fails before any model loads
        EngineConfig(precision=p, weight_packing="quant")
    if precisions[0] != "source":
        raise SystemExit("--precisions must start with source (agreement is measured against it)")
    models = args.models or list(QUICK_MODELS if args.quick else MODELS)
    args.prompts = args.prompts or (3 if args.quick else 6)
    args.ppl_tokens = args.ppl_tokens or (256 if args.quick else 512)
    torch.set_num_threads(args.threads)
    console = Console(width=130)  # the table's columns, also when piped
    prompts = decision_prompts(args.prompts)
    machine = machine_info()
    results: dict[str, Any] = {}
    doc: dict[str, Any] = {}
    with Progress(console=console, transient=True) as progress:
        for model in models:  # written after each model: a long run keeps what it finished
            results[model] = bench_model(model, precisions, prompts, args, progress)
            doc = _write(args, machine, results)
    print_table(results, console)
    console.print(f"wrote {args.out}")
    return doc


def _write(args: argparse.Namespace, machine: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """Merge ``results`` by model into the JSON at ``args.out`` (other models' rows are kept)."""
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    doc = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "machine_after": machine_info(),
        "threads": args.threads,
        "prompts_per_game": args.prompts,
        "models": {**previous.get("models", {}), **results},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    return doc


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
