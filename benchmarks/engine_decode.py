"""In-process engine benchmark: decode speed, batching, prefix caching, constrained decoding, vs transformers.

Run: ``.venv/bin/python -m splitsecond.benchmarks.engine_decode [--quick] [--skip-hf]``.

Measured in one process on this machine (the engine's ``LLMEngine`` directly, no HTTP):

- single-stream greedy decode tokens/s (64 tokens after a short prompt), default config (fp32 with
  fp16-packed weights, or bf16 with oneDNN-blocked and int4 weights where the CPU has AVX-512 BF16)
  and plain fp32 weights;
- batch throughput: 8 prompts decoded together (generated tokens/s);
- time to first token of a ~270-token prompt cold vs the same prompt plus a few tokens with its prefix
  cached (the agent loop's next decision);
- decision latency: ~270 prompt tokens whose system prompt and most of the observation are cached, to a
  choice-constrained action among 20;
- grammar mask overhead per token on the SmolLM2 vocabulary (49152): llguidance vs xgrammar, plus the
  compile time of a new schema for each (why the engine uses llguidance);
- Hugging Face ``transformers`` ``generate`` on the same GGUF (``from_pretrained(gguf_file=...)``):
  single-stream tokens/s measured in rounds interleaved with ours (ratio = median of per-round ratios),
  and the max logit difference vs our fp32 path.

Every figure is a median over repeats. Other processes share the 2 cores: the load average before and
after is recorded, and absolute numbers move with it; ratios measured back to back are steadier.
Results go to ``benchmarks/results/engine_decode.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from splitsecond.benchmarks.machine import machine_info
from splitsecond.serving import EngineConfig, SamplingParams, StructuredOutput
from splitsecond.serving.engine.llm_engine import LLMEngine
from splitsecond.serving.loader.model_loader import load_model

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "engine_decode.json"
ACTIONS = [
    "idle", "walk_forward", "walk_back", "crouch", "jump", "jump_forward", "jump_back", "block_high",
    "block_low", "light_punch", "medium_punch", "heavy_punch", "light_kick", "medium_kick", "heavy_kick",
    "throw", "fireball", "dragon_punch", "hurricane_kick", "dash_back",
]  # fmt: skip
SYSTEM = (
    "You control a fighter in a 2D fighting game running at 60 frames per second. Every action you choose "
    "lands after your thinking time, so answer fast. Valid actions: " + ", ".join(ACTIONS) + ". "
    "Spacing rules: fireball at long range, dragon_punch against jump-ins, block_low against sweeps, "
    "throw when the opponent blocks at close range, dash_back to escape the corner. Reply with one action."
)


def _run(engine: LLMEngine, rid: str, prompt, params: SamplingParams):
    engine.add_request(rid, prompt, params)
    final = None
    while engine.has_unfinished_requests():
        for out in engine.step():
            if out.finished and out.request_id == rid:
                final = out
    return final


DECODE_PROMPT = "Write a long story about a fighter who"
DECODE_TOKENS = 64
_decode_ids = iter(range(10**9))


def decode_once(engine: LLMEngine, n_tokens: int = DECODE_TOKENS) -> float:
    """Single-stream greedy decode tokens/s of one request (first token excluded)."""
    p = SamplingParams(temperature=0, max_tokens=n_tokens, ignore_eos=True)
    out = _run(engine, f"dec{next(_decode_ids)}", DECODE_PROMPT, p)
    m = out.metrics
    return (n_tokens - 1) / (m["finish_time"] - m["first_token_time"])


def bench_batch(engine: LLMEngine, repeats: int, batch: int = 8, n_tokens: int = 32) -> float:
    """Median generated tokens/s with ``batch`` prompts decoded together."""
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for i in range(batch):
            engine.add_request(
                f"b{r}-{i}",
                f"Story {i}: once upon a time",
                SamplingParams(temperature=0, max_tokens=n_tokens, ignore_eos=True),
            )
        while engine.has_unfinished_requests():
            engine.step()
        rates.append(batch * n_tokens / (time.perf_counter() - t0))
    return statistics.median(rates)


def _decision_prompt(engine: LLMEngine, turn: int) -> str:
    # The agent resends the system prompt and most of the last observation; only the tail changes.
    observation = (
        "You: x=312, health 74, meter 2, standing. Opponent: x=388, health 61, airborne, moving toward you. "
        "Distance 76 px. Last opponent actions: jump_forward, heavy_kick, block_low. Your last action: "
        f"walk_forward. Round time 41 s. Frame {1000 + turn * 7}, turn {turn}."
    )
    return engine.tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": observation + " Your action?"}]
    )


def bench_prefix(engine: LLMEngine, repeats: int) -> dict:
    """Time to first token of a ~300-token prompt, cold vs with its prefix cached."""
    cold, warm, cached = [], [], []
    p = SamplingParams(temperature=0, max_tokens=1)
    for r in range(repeats):
        engine.block_manager.reset_prefix_cache()
        prompt = _decision_prompt(engine, r)
        out = _run(engine, f"cold{r}", prompt, p)
        cold.append(out.metrics["first_token_time"] - out.metrics["arrival_time"])
        out = _run(engine, f"warm{r}", prompt + " Now decide.", p)
        warm.append(out.metrics["first_token_time"] - out.metrics["arrival_time"])
        cached.append(out.num_cached_tokens)
    return {
        "prompt_tokens": len(out.prompt_token_ids),
        "cold_prefill_ms": statistics.median(cold) * 1e3,
        "warm_prefill_ms": statistics.median(warm) * 1e3,
        "cached_tokens": statistics.median(cached),
        "speedup": statistics.median(cold) / statistics.median(warm),
    }


def bench_decision(engine: LLMEngine, repeats: int) -> dict:
    """Latency of a choice-constrained action from a ~300-token prompt whose prefix is cached."""
    so = StructuredOutput(choice=ACTIONS)
    p = SamplingParams(temperature=0, max_tokens=8, structured=so)
    _run(engine, "warmup", _decision_prompt(engine, 0), p)
    lat, passes, tokens = [], [], 0
    for r in range(repeats):
        out = _run(engine, f"dec-{r}", _decision_prompt(engine, r + 1), p)
        assert out.outputs[0].text in ACTIONS
        lat.append(out.metrics["finish_time"] - out.metrics["arrival_time"])
        passes.append(out.metrics["num_forward_passes"])
        tokens = len(out.prompt_token_ids)
    return {
        "prompt_tokens": tokens,
        "latency_p50_ms": statistics.median(lat) * 1e3,
        "latency_max_ms": max(lat) * 1e3,
        "forward_passes_p50": statistics.median(passes),
    }


def bench_grammar(engine: LLMEngine) -> dict:
    """Per-token mask time and compile time on the model's vocabulary: llguidance vs xgrammar."""
    import llguidance
    import llguidance.torch as lt
    import xgrammar as xgr

    tok = engine.tokenizer
    vocab = tok.vocab_size
    schema = {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ACTIONS},
            "confidence": {"type": "number"},
            "reason": {"type": "string", "maxLength": 80},
        },
        "required": ["action", "confidence", "reason"],
    }
    text = json.dumps(
        {"action": "dragon_punch", "confidence": 0.8, "reason": "the opponent is jumping in close"}
    )
    ids = tok.encode(text)
    result: dict = {"vocab_size": vocab, "tokens_walked": len(ids)}

    t = time.perf_counter()
    lltok = llguidance.LLTokenizer(tok.backend.to_str(), n_vocab=vocab, eos_token=tok.eos_token_ids)
    result["llguidance_tokenizer_init_ms"] = (time.perf_counter() - t) * 1e3
    t = time.perf_counter()
    m = llguidance.LLMatcher(lltok, llguidance.LLMatcher.grammar_from_json_schema(schema), log_level=0)
    result["llguidance_compile_ms"] = (time.perf_counter() - t) * 1e3
    mask = lt.allocate_token_bitmask(1, vocab)
    times = []
    for tid in ids:
        t = time.perf_counter()
        lt.fill_next_token_bitmask(m, mask, 0)
        times.append(time.perf_counter() - t)
        m.consume_token(tid)
    result["llguidance_mask_us_p50"] = statistics.median(times) * 1e6
    result["llguidance_mask_us_max"] = max(times) * 1e6

    t = time.perf_counter()
    info = xgr.TokenizerInfo(
        [tok.id_to_token(i) for i in range(vocab)],
        vocab_type=xgr.VocabType.BYTE_LEVEL,
        vocab_size=vocab,
        stop_token_ids=tok.eos_token_ids,
    )
    compiler = xgr.GrammarCompiler(info)
    result["xgrammar_tokenizer_init_ms"] = (time.perf_counter() - t) * 1e3
    t = time.perf_counter()
    compiled = compiler.compile_json_schema(json.dumps(schema))
    result["xgrammar_compile_ms"] = (time.perf_counter() - t) * 1e3
    matcher = xgr.GrammarMatcher(compiled)
    bitmask = xgr.allocate_token_bitmask(1, vocab)
    times = []
    for tid in ids:
        t = time.perf_counter()
        matcher.fill_next_token_bitmask(bitmask, 0)
        times.append(time.perf_counter() - t)
        matcher.accept_token(tid)
    result["xgrammar_mask_us_p50"] = statistics.median(times) * 1e6
    result["xgrammar_mask_us_max"] = max(times) * 1e6
    result["chosen"] = "llguidance"
    result["why"] = "compile of a new schema/choice list in ~1 ms (xgrammar: ~1 s); masks negligible for both"
    return result


def load_hf(path: Path):
    """transformers' model from the same GGUF (``from_pretrained(gguf_file=...)``) and its load time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM

    t = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    ).eval()
    return model, time.perf_counter() - t


def hf_decode_once(model, ids: list[int], n_tokens: int = DECODE_TOKENS) -> float:
    """transformers ``generate`` greedy tokens/s for one request (first token's time excluded)."""
    with torch.inference_mode():
        t = time.perf_counter()
        model.generate(
            torch.tensor([ids]), max_new_tokens=1, min_new_tokens=1, do_sample=False, pad_token_id=2
        )
        first = time.perf_counter() - t
        t = time.perf_counter()
        model.generate(
            torch.tensor([ids]),
            max_new_tokens=n_tokens,
            min_new_tokens=n_tokens,
            do_sample=False,
            pad_token_id=2,
        )
    return (n_tokens - 1) / max(1e-9, time.perf_counter() - t - first)


def hf_logit_diff(model, loaded_fp32) -> dict:
    """Max |logit difference| between transformers and our plain-fp32 path on a chat prompt."""
    from splitsecond.serving.engine.kv_cache import KVCache
    from splitsecond.serving.engine.model_runner import ForwardItem, ModelRunner

    tok = loaded_fp32.tokenizer
    pids = tok.encode(tok.apply_chat_template([{"role": "user", "content": SYSTEM}]))
    with torch.inference_mode():
        ref = model(torch.tensor([pids])).logits[0].float()
    runner = ModelRunner(
        loaded_fp32.model, KVCache(loaded_fp32.model.config, 64, 16, torch.float32, "cpu"), "cpu"
    )
    mine = runner.run([ForwardItem(pids, 0, list(range(1, 64)), num_logits=len(pids))])
    return {
        "logit_max_abs_diff_fp32": (mine - ref).abs().max().item(),
        "logit_scale": ref.abs().max().item(),
        "logit_prompt_tokens": len(pids),
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--skip-hf", action="store_true", help="skip the transformers comparison")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    repeats = 2 if args.quick else 5
    console = Console()
    results: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine_info()}

    console.print("loading the engine (default config) ...")
    t = time.perf_counter()
    engine = LLMEngine(EngineConfig(num_kv_blocks=512))
    results["engine_load_s"] = time.perf_counter() - t
    results["config"] = {
        "dtype": str(engine.dtype),
        "weight_packing": engine.weight_packing,
        "threads": torch.get_num_threads(),
        "block_size": engine.config.block_size,
    }
    console.print("batch throughput ...")
    results["batch8_tok_s"] = bench_batch(engine, max(1, repeats // 2))
    console.print("prefix cache ...")
    results["prefix"] = bench_prefix(engine, repeats)
    console.print("decision latency ...")
    results["decision"] = bench_decision(engine, repeats * 2)
    console.print("grammar masks ...")
    results["grammar"] = bench_grammar(engine)

    # Single-stream decode, interleaved round by round (default, fp32 weights, transformers) so that the
    # load from other processes hits all three alike and the ratios stay meaningful.
    loaded32 = load_model("smollm2-135m", torch.float32, "cpu")
    engine32 = LLMEngine(EngineConfig(num_kv_blocks=256, weight_packing="none"), loaded=loaded32)
    hf_model = None
    if not args.skip_hf:
        console.print("loading transformers on the same GGUF ...")
        hf_model, results["hf_load_s"] = load_hf(loaded32.resolved.path)
        results["hf_logits"] = hf_logit_diff(hf_model, loaded32)
        hf_decode_once(hf_model, loaded32.tokenizer.encode(DECODE_PROMPT), 4)
    decode_once(engine, 4)
    decode_once(engine32, 4)
    rates: dict[str, list[float]] = {"default": [], "fp32": [], "hf": []}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("single-stream decode rounds", total=repeats)
        for _ in range(repeats):
            rates["default"].append(decode_once(engine))
            rates["fp32"].append(decode_once(engine32))
            if hf_model is not None:
                rates["hf"].append(hf_decode_once(hf_model, loaded32.tokenizer.encode(DECODE_PROMPT)))
            progress.advance(task)
    results["decode_rounds"] = rates
    results["decode_tok_s"] = statistics.median(rates["default"])
    results["decode_tok_s_fp32_weights"] = statistics.median(rates["fp32"])
    if rates["hf"]:
        results["hf_decode_tok_s"] = statistics.median(rates["hf"])
        per_round = [d / h for d, h in zip(rates["default"], rates["hf"], strict=True)]
        per_round32 = [d / h for d, h in zip(rates["fp32"], rates["hf"], strict=True)]
        results["ratio_decode_vs_hf"] = statistics.median(per_round)
        results["ratio_decode_fp32_vs_hf"] = statistics.median(per_round32)
    results["machine"]["loadavg_1m_after"] = os.getloadavg()[0]

    table = Table(title="engine_decode (medians)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    cfg = results["config"]
    default_label = f"{cfg['dtype'].removeprefix('torch.')}, {cfg['weight_packing'] or 'plain'} weights"
    rows = [
        (f"single-stream decode, default ({default_label}) tok/s", results["decode_tok_s"]),
        ("single-stream decode, fp32 weights tok/s", results["decode_tok_s_fp32_weights"]),
        ("batch of 8 tok/s", results["batch8_tok_s"]),
        (f"prefill {results['prefix']['prompt_tokens']} tok cold ms", results["prefix"]["cold_prefill_ms"]),
        ("same prompt + a few tokens, prefix cached ms", results["prefix"]["warm_prefill_ms"]),
        ("decision latency p50 ms", results["decision"]["latency_p50_ms"]),
        ("llguidance mask us/token", results["grammar"]["llguidance_mask_us_p50"]),
        ("xgrammar mask us/token", results["grammar"]["xgrammar_mask_us_p50"]),
        ("llguidance compile ms", results["grammar"]["llguidance_compile_ms"]),
        ("xgrammar compile ms", results["grammar"]["xgrammar_compile_ms"]),
    ]
    if "hf_decode_tok_s" in results:
        rows += [
            ("transformers generate tok/s", results["hf_decode_tok_s"]),
            ("ratio default / transformers (per round)", results["ratio_decode_vs_hf"]),
            ("ratio fp32 / transformers (per round)", results["ratio_decode_fp32_vs_hf"]),
            ("max |logit diff| fp32 vs transformers", results["hf_logits"]["logit_max_abs_diff_fp32"]),
        ]
    for name, value in rows:
        table.add_row(name, f"{value:.3g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(
        f"load average 1 min: {results['machine']['loadavg_1m']:.1f} before, {results['machine']['loadavg_1m_after']:.1f} after (2 cores shared)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {RESULTS}")
    return results


if __name__ == "__main__":
    main()
