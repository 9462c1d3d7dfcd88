"""``EngineConfig``: every knob of the serving engine, validated on construction."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from splitsecond.serving.kvtier.config import SWAP_POLICIES, SwapTierConfig

_DTYPES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")
_DEVICES = ("auto", "cpu", "cuda")
_PACKINGS = ("auto", "none", "fp16", "int4", "quant")
PRECISIONS = ("source", "bf16", "int8", "int4")
"""``EngineConfig.precision`` values (besides ``mixed:<target>``)."""


def _needs_kernels(precision: str) -> bool:
    """True for the precisions only the CPU kernels serve: int8, int4 and ``mixed:<target>``."""
    return precision in ("int8", "int4") or precision.startswith("mixed:")


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when this CPU has native bf16 matmul (AVX-512 BF16 or AMX), read from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _cgroup_cpu_quota(path: str = "/sys/fs/cgroup/cpu.max") -> float | None:
    """CPUs allowed by this process's cgroup v2 quota (``"max"``: none), or ``None`` if unknown."""
    try:
        with open(path) as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


@dataclass
class EngineConfig:
    """Configuration of the serving engine.

    ``model`` is a short name (see ``splitsecond.serving.loader.registry``), a ``.gguf`` file or a
    Hugging Face safetensors folder. ``dtype="auto"`` picks bf16 on a CPU with native bf16 (AVX-512 BF16
    / AMX) and fp32 otherwise; bf16 on CUDA. The KV cache has ``num_kv_blocks`` blocks of ``block_size``
    tokens; when ``num_kv_blocks`` is None it is sized from ``kv_cache_memory_mb``.
    ``max_num_batched_tokens`` is the token budget of one forward pass (prefill is chunked to fit).
    ``max_waiting`` bounds the waiting queue: beyond it ``add_request`` raises ``EngineOverloadedError``.
    ``weight_packing`` stores the projection weights for faster decode on CPU: "fp16" (float32 models,
    FBGEMM: half the memory traffic of fp32 at ~2e-4 relative error per matmul; activations,
    accumulation and KV stay fp32), "int4" (bf16/fp16 models: the weights in oneDNN's blocked layout,
    1.4-2x faster than plain bf16 matmuls, plus a 4-bit copy of each projection for passes of up to 8
    tokens, 4x faster at one token; see ``layers.linear`` and ``layers.int4_weight``) or "none" (exact
    ``dtype`` weights). "auto" is "fp16" on CPU with fp32 (decode is memory-bound there: measured 1.6x
    faster decode, logits within 1.2e-3 of fp32), "int4" on CPU with bf16/fp16, whose 4-bit copies are
    made only if the checkpoint is already on a 4-bit grid (a Q4_1 GGUF, so nothing is lost), else "none".
    "quant" (float32 activations): SplitSecond's CPU kernels (``serving.kernels``) over the GGUF's own
    4-bit / 8-bit weights, re-encoded exactly; "auto" picks it for ``precision`` "int8" / "int4" /
    "mixed:<target>" only:
    on the AVX2 dev box it decoded 1.15x faster than "fp16" and started 5x faster, but its float32
    GEMM lost to FBGEMM's at prefill (a StreetFighter decision 473 against 230 ms) and at 16 rows
    (``benchmarks/results/engine_kernels.json``), and agent traffic is mostly prefill. ``precision`` says which weights a model is served at: "source" (the checkpoint's own),
    "int8" / "int4" (every projection quantised to 8 / 4 bits, via the kernels) or "bf16" (16-bit
    dense weights: fp16-packed on a CPU without native bf16) or "mixed:<target>" (the projections most
    sensitive to quantisation at source, the rest at int4, until a decode step reads at most ``<target>``
    of the source's weight bytes: ``mixed:0.8`` or ``mixed:80%``; see ``kernels.mixed_precision``).
    ``num_threads`` sets ``torch.set_num_threads`` on CPU. None uses every core this process may run
    on: on an idle 2-core machine, 2 threads against 1 measured 1.8x throughput at 16 concurrent
    requests and 0.6x decision latency. On a machine busy with other work set it lower: there a
    second OpenMP thread made decode 4x *slower* (threads spin at barriers waiting for a
    descheduled sibling).

    KV tier (``serving.kvtier``): ``kv_swap_policy`` is what a preempted sequence's KV becomes when the
    cache is full — "auto" (the default: "flash" where the zone's folder is writable, the zone sized
    from its free disk up to ``kv_swap_size_mb``, else "recompute"; see ``kvtier.auto``), "recompute"
    (dropped, recomputed later), "dram" (parked in a host-memory pool of
    ``kv_dram_swap_mb``) or "flash" (parked in a flash zone of ``kv_swap_size_mb`` at ``kv_swap_path``:
    a file, or a block device used as is; None makes a file in the temp directory, deleted by
    ``LLMEngine.close()``). The zone file is fully preallocated at start-up (a full disk shows then, not
    mid-swap), hence the modest 1024 MB default; segments (the GC/erase unit) are 1 MB rounded down to
    whole KV pages, at least one (smaller segments die whole more often, so garbage collection moves
    less: see ``kvtier.flash_zone.DEFAULT_SEGMENT_BYTES``). A zone that cannot be created logs a warning
    and the engine serves with recompute. With a tier and prefix caching, ``kv_spill_prefix_cache`` also
    spills cold prefix-cache blocks there on eviction (at most half the tier) and restores them on a
    prefix hit. ``kv_swap_io_backend`` is the zone's I/O path: "auto", "posix" or "kvikio".

    Speculative sessions (``serving.speculative``, an edge drafts and the engine verifies): a draft has
    at most ``spec_max_draft_tokens`` tokens, and the engine advises each edge a draft length so that
    all sessions' verification together stays near ``spec_verify_token_budget`` tokens per step (past
    that, a CPU forward pass turns compute-bound and rejected draft tokens cost real time). A step
    that would verify only drafts waits for drafts due from other edges, at most half a step and
    ``spec_batch_hold_ms`` (``serving.speculative.batching.PipelineBatcher``; 0 never waits).
    """

    model: str = "smollm2-135m"
    dtype: str = "auto"
    device: str = "auto"
    block_size: int = 16
    num_kv_blocks: int | None = None
    kv_cache_memory_mb: int = 512
    max_num_seqs: int = 64
    max_num_batched_tokens: int = 512
    max_model_len: int | None = None
    enable_prefix_caching: bool = True
    max_waiting: int = 256
    seed: int = 0
    num_threads: int | None = None
    weight_packing: str = "auto"
    precision: str = "source"
    kv_swap_policy: str = "auto"
    kv_swap_path: str | None = None
    kv_swap_size_mb: int = 1024
    kv_swap_io_backend: str = "auto"
    kv_dram_swap_mb: int = 1024
    kv_spill_prefix_cache: bool = True
    spec_max_draft_tokens: int = 8
    spec_verify_token_budget: int = 96
    spec_batch_hold_ms: float = 60.0

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"EngineConfig: {msg}")

        if not isinstance(self.model, str | os.PathLike) or not str(self.model):
            bad("model must be a short name or a path")
        self.model = str(self.model)
        if self.dtype not in _DTYPES:
            bad(f"dtype must be one of {_DTYPES}, got {self.dtype!r}")
        if self.device not in _DEVICES and not str(self.device).startswith("cuda:"):
            bad(f"device must be one of {_DEVICES} or 'cuda:N', got {self.device!r}")
        if (
            not isinstance(self.block_size, int)
            or self.block_size < 1
            or self.block_size & (self.block_size - 1)
        ):
            bad(f"block_size must be a power of two >= 1, got {self.block_size!r}")
        if self.num_kv_blocks is not None and (
            not isinstance(self.num_kv_blocks, int) or self.num_kv_blocks < 2
        ):
            bad(f"num_kv_blocks must be an integer >= 2 or None, got {self.num_kv_blocks!r}")
        if not isinstance(self.kv_cache_memory_mb, int) or self.kv_cache_memory_mb < 1:
            bad(f"kv_cache_memory_mb must be a positive integer, got {self.kv_cache_memory_mb!r}")
        if not isinstance(self.max_num_seqs, int) or self.max_num_seqs < 1:
            bad(f"max_num_seqs must be >= 1, got {self.max_num_seqs!r}")
        if not isinstance(self.max_num_batched_tokens, int) or self.max_num_batched_tokens < 1:
            bad(f"max_num_batched_tokens must be >= 1, got {self.max_num_batched_tokens!r}")
        if self.max_num_batched_tokens < self.max_num_seqs:
            bad(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= max_num_seqs "
                f"({self.max_num_seqs}) so every running sequence can decode each step"
            )
        if self.max_model_len is not None and (
            not isinstance(self.max_model_len, int) or self.max_model_len < 2
        ):
            bad(f"max_model_len must be an integer >= 2 or None, got {self.max_model_len!r}")
        if not isinstance(self.max_waiting, int) or self.max_waiting < 1:
            bad(f"max_waiting must be >= 1, got {self.max_waiting!r}")
        if not isinstance(self.seed, int):
            bad(f"seed must be an integer, got {self.seed!r}")
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or self.num_threads < 1):
            bad(f"num_threads must be a positive integer or None, got {self.num_threads!r}")
        if not isinstance(self.spec_max_draft_tokens, int) or not 0 <= self.spec_max_draft_tokens <= 64:
            bad(f"spec_max_draft_tokens must be an integer in [0, 64], got {self.spec_max_draft_tokens!r}")
        if not isinstance(self.spec_verify_token_budget, int) or self.spec_verify_token_budget < 1:
            bad(f"spec_verify_token_budget must be a positive integer, got {self.spec_verify_token_budget!r}")
        if not isinstance(self.spec_batch_hold_ms, int | float) or not 0 <= self.spec_batch_hold_ms <= 1000:
            bad(f"spec_batch_hold_ms must be in [0, 1000], got {self.spec_batch_hold_ms!r}")
        if self.weight_packing not in _PACKINGS:
            bad(f"weight_packing must be one of {_PACKINGS}, got {self.weight_packing!r}")
        if not isinstance(self.precision, str) or (
            self.precision not in PRECISIONS and not self.precision.startswith("mixed:")
        ):
            bad(f"precision must be one of {PRECISIONS} or 'mixed:<target>', got {self.precision!r}")
        if self.precision.startswith("mixed:"):
            from splitsecond.serving.kernels.mixed_precision import parse_target

            try:
                parse_target(self.precision)
            except ValueError as e:
                bad(str(e))
        if _needs_kernels(self.precision) and self.weight_packing not in ("auto", "quant"):
            bad(f"precision={self.precision!r} is served by weight_packing 'quant' (or 'auto')")
        if self.weight_packing == "quant" and self.precision == "bf16":
            bad("weight_packing='quant' keeps quantised weights; it cannot serve precision='bf16'")
        if self.kv_swap_policy not in SWAP_POLICIES:
            bad(f"kv_swap_policy must be one of {SWAP_POLICIES}, got {self.kv_swap_policy!r}")
        if self.kv_swap_path is not None:
            if not isinstance(self.kv_swap_path, str | os.PathLike) or not str(self.kv_swap_path):
                bad(f"kv_swap_path must be a file or block-device path or None, got {self.kv_swap_path!r}")
            self.kv_swap_path = str(self.kv_swap_path)
        for name, least in (("kv_swap_size_mb", 2), ("kv_dram_swap_mb", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                bad(f"{name} must be an integer >= {least}, got {value!r}")
        if not isinstance(self.kv_spill_prefix_cache, bool):
            bad(f"kv_spill_prefix_cache must be True or False, got {self.kv_spill_prefix_cache!r}")
        try:
            self.swap_tier_config()
        except ValueError as e:  # pragma: no cover - the checks above cover SwapTierConfig's
            bad(f"invalid KV tier settings: {e}")

    def swap_tier_config(self) -> SwapTierConfig:
        """The ``SwapTierConfig`` of this engine's KV tier (validated)."""
        return SwapTierConfig(
            policy=self.kv_swap_policy,
            path=self.kv_swap_path,
            size_mb=self.kv_swap_size_mb,
            dram_mb=self.kv_dram_swap_mb,
            staging_mb=min(64, self.kv_swap_size_mb),  # never more bounce memory than zone
            io_backend=self.kv_swap_io_backend,
        )

    def resolved_num_threads(self) -> int:
        """Intra-op CPU threads the engine uses: ``num_threads``, else the cores free to this process.

        Those are the cores of its CPU affinity (``taskset``, a container's cpuset), fewer when a
        cgroup CPU quota (``cpu.max``: ``docker --cpus``) allows less; never more threads than
        that, since an OpenMP thread without a core of its own stalls every barrier. Whether
        waiting threads spin is decided when torch loads (``OMP_WAIT_POLICY``; the server and the
        CLI make them sleep, see ``serving.server.launcher.passive_openmp_env``).
        """
        if self.num_threads is not None:
            return self.num_threads
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        quota = _cgroup_cpu_quota()
        if quota is not None:
            cores = min(cores, max(1, int(quota)))
        return max(1, cores)

    def resolved_weight_packing(self, dtype=None) -> str | None:
        """'quant', 'fp16', 'int4' or None (plain weights in ``dtype``, by default ``resolved_dtype()``).

        "int4" from "auto" is applied only if the weights are already on a 4-bit grid (the engine checks).
        "quant" (SplitSecond's CPU kernels over the GGUF's own quantised weights, ``serving.kernels``)
        is what "auto" picks on CPU with float32 activations for ``precision`` "int8" / "int4"; a model
        that cannot take it (no GGUF) falls back to "fp16".
        """
        if self.weight_packing == "none":
            return None
        from splitsecond.serving.kernels.ops import kernels_available
        from splitsecond.serving.layers.int4_weight import int4_available
        from splitsecond.serving.layers.linear import packing_available

        dtype = self.resolved_dtype() if dtype is None else dtype
        on_cpu = self.resolved_device() == "cpu"
        cpu_fp32 = on_cpu and str(dtype) == "torch.float32"
        cpu_half = on_cpu and str(dtype) in ("torch.bfloat16", "torch.float16")
        if _needs_kernels(self.precision) and not (cpu_fp32 and kernels_available()):
            raise ValueError(
                f"precision={self.precision!r} needs the CPU kernels: device cpu, dtype float32 and a "
                "C++ compiler at set-up (see serving.kernels.build)"
            )
        if self.weight_packing == "quant":
            if not cpu_fp32 or not kernels_available():
                raise ValueError("weight_packing='quant' needs device cpu, dtype float32 and the CPU kernels")
            return "quant"
        if self.weight_packing == "auto":
            if cpu_fp32 and _needs_kernels(self.precision):
                return "quant"
            if cpu_fp32 and packing_available():
                return "fp16"
            return "int4" if cpu_half and int4_available() else None
        if self.weight_packing == "int4":
            if not cpu_half or not int4_available():
                raise ValueError("weight_packing='int4' needs device cpu and dtype bfloat16 or float16")
            return "int4"
        if not cpu_fp32 or not packing_available():
            raise ValueError(
                f"weight_packing={self.weight_packing!r} needs device cpu, dtype float32 and FBGEMM"
            )
        return self.weight_packing

    def resolved_device(self) -> str:
        """The torch device string this config runs on ('cpu' or 'cuda[:N]')."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_dtype(self):
        """The torch dtype of weights and activations for this config on its device."""
        import torch

        named = {
            "float32": torch.float32,
            "fp32": torch.float32,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
        }
        if self.dtype != "auto":
            return named[self.dtype]
        if self.resolved_device().startswith("cuda"):
            return torch.bfloat16
        return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
