"""Mixed precision per layer (the FPX idea): the layers most sensitive to quantisation stay at the GGUF's own
precision, the rest go down to 4 bits until a latency target is met.

``precision = "mixed:<target>"``: ``<target>`` is the fraction of the source precision's weight bytes one
decode step may read, ``mixed:0.8`` or ``mixed:80%`` (in (0, 1]). The bytes are every projection plus the
LM head, in the kernels' formats: a CPU decode step streams each weight byte once and is bound by memory
bandwidth (``benchmarks/engine_kernels.py``'s roofline: the kernels decode at 0.46-0.82 of bytes /
bandwidth), so the bytes a step moves are a latency proxy that does not depend on the machine or its load,
unlike a time in milliseconds. The head and embedding table always stay at source.

Each decoder layer is one unit (its four projections: q|k|v fused, o, gate|up fused, down) with two steps:
"source" (each projection in its GGUF format, re-encoded exactly) and "int4" (``kernel_sources``: 5/6/8-bit
tensors quantised down). A unit's sensitivity is the mean KL divergence (nats per token) of the model's
next-token distributions on a calibration text (``data/calibration.txt``, shipped with the package) when
that one layer goes down and the rest stay at source. ``plan_mixed`` moves layers down in ascending order of
KL per byte saved (the greedy knapsack order; for layers of one size that is the sensitivity order) until
the step's bytes meet the target; a smaller target moves a superset of layers (the plan is monotone in the
target), and ``MixedPlan.precision_of`` gives each projection's precision. Layers already 4-bit in the file
save nothing and are never measured. A target below what "int4" everywhere reaches moves every layer and
logs a warning (``MixedPlan.met`` is False). A layer rather than a projection is the unit because each unit
costs a forward pass of the calibration text on the kernels, whose float32 prefill is slow (about 0.1 s per
token for the 0.5B model on two AVX2 cores): per projection would be four times as many.

Measuring loads the model a second time at source (seconds to a few minutes: one forward pass of
``CALIBRATION_TOKENS`` tokens per movable layer), so the result is cached as JSON under
``<cache>/sensitivity/``, keyed by the GGUF's sha256 (the sums ``loader.weight_cache`` remembers), the
calibration text's and the format version: a second start reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

MIXED_PREFIX = "mixed:"
HIGH, LOW = "source", "int4"
"""The two steps of a unit: its GGUF's own format, and 4 bits."""
CALIBRATION_TOKENS = 64
"""Tokens of the calibration text each measurement runs (one forward pass per movable layer)."""
SENSITIVITY_VERSION = 1
"""Bump when the measurement changes (the cached sensitivities are then measured again)."""
DATA_DIR = Path(__file__).resolve().parent / "data"
_TARGET = re.compile(r"^(?P<value>\d+(?:\.\d*)?|\.\d+)(?P<pct>%?)$")


def calibration_text() -> str:
    """The calibration text the sensitivities are measured on (prose, numbers and a little code)."""
    return (DATA_DIR / "calibration.txt").read_text(encoding="utf-8")


def heldout_text() -> str:
    """A held-out text of the same kinds, never used for calibration (for perplexity)."""
    return (DATA_DIR / "heldout.txt").read_text(encoding="utf-8")


def is_mixed(precision: object) -> bool:
    """True when ``precision`` is a ``mixed:<target>`` string (well formed or not)."""
    return isinstance(precision, str) and precision.startswith(MIXED_PREFIX)


def parse_target(precision: str) -> float:
    """The byte fraction of ``mixed:<fraction>`` / ``mixed:<percent>%``; ValueError when malformed or
    outside (0, 1]."""
    text = precision.removeprefix(MIXED_PREFIX).strip() if is_mixed(precision) else None
    match = _TARGET.match(text) if text is not None else None
    usage = (
        "precision 'mixed:<target>' takes the fraction of the source precision's weight bytes per decode "
        "step, in (0, 1]: e.g. 'mixed:0.8' or 'mixed:80%'"
    )
    if match is None:
        raise ValueError(f"{usage}; got {precision!r}")
    value = float(match["value"]) / (100.0 if match["pct"] else 1.0)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{usage}; got {precision!r} ({value:g} of the source's bytes)")
    return value


@dataclass(frozen=True)
class LayerSensitivity:
    """One unit (a decoder layer's projections): its quantisation sensitivity and its bytes at each step.

    Attributes:
        name: the layer, as ``layers.<i>``.
        kl: mean KL(source || this layer at int4) of the next-token distributions on the calibration
            text, nats per token (0 for a layer already 4-bit in the file).
        high_bytes: bytes the layer's projections read per step at "source".
        low_bytes: bytes at "int4".
    """

    name: str
    kl: float
    high_bytes: int
    low_bytes: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.startswith("layers."):
            raise ValueError(f"a unit's name is 'layers.<i>', got {self.name!r}")
        if not isinstance(self.kl, int | float) or not math.isfinite(self.kl) or self.kl < 0:
            raise ValueError(f"{self.name}: kl must be a finite number >= 0, got {self.kl!r}")
        for key in ("high_bytes", "low_bytes"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{self.name}: {key} must be an integer >= 0, got {value!r}")

    @property
    def saved(self) -> int:
        """Bytes per step saved by moving the unit down (0 or less: nothing to gain)."""
        return self.high_bytes - self.low_bytes


@dataclass(frozen=True)
class Sensitivities:
    """Every unit of one model, plus the bytes per step that no plan moves (the LM head)."""

    units: tuple[LayerSensitivity, ...]
    fixed_bytes: int = 0
    calibration_tokens: int = 0

    def __post_init__(self) -> None:
        if not self.units:
            raise ValueError("Sensitivities need at least one unit")
        if len({u.name for u in self.units}) != len(self.units):
            raise ValueError("unit names must be unique")
        if not isinstance(self.fixed_bytes, int) or self.fixed_bytes < 0:
            raise ValueError(f"fixed_bytes must be an integer >= 0, got {self.fixed_bytes!r}")

    @property
    def source_bytes(self) -> int:
        """Bytes per step with every unit at source."""
        return self.fixed_bytes + sum(u.high_bytes for u in self.units)

    @property
    def int4_bytes(self) -> int:
        """Bytes per step with every movable unit at int4 (what precision "int4" reads)."""
        return self.fixed_bytes + sum(min(u.high_bytes, u.low_bytes) for u in self.units)

    def to_json(self) -> dict:
        """A JSON-ready dict (``from_json`` reads it back)."""
        return {
            "version": SENSITIVITY_VERSION,
            "fixed_bytes": self.fixed_bytes,
            "calibration_tokens": self.calibration_tokens,
            "units": [asdict(u) for u in self.units],
        }

    @classmethod
    def from_json(cls, data: dict) -> Sensitivities:
        """Read ``to_json``'s dict; ValueError for another version or a malformed one."""
        if not isinstance(data, dict) or data.get("version") != SENSITIVITY_VERSION:
            raise ValueError("not a sensitivity record of this version")
        try:
            units = tuple(LayerSensitivity(**u) for u in data["units"])
            return cls(units, int(data["fixed_bytes"]), int(data.get("calibration_tokens", 0)))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed sensitivity record: {exc}") from None


@dataclass(frozen=True)
class MixedPlan:
    """The precision of every unit for one target, and the bytes per step it reads.

    Attributes:
        target: the byte fraction asked for.
        precisions: layer (``layers.<i>``) -> "source" or "int4".
        step_bytes: bytes per decode step under the plan (units and head).
        source_bytes: the same at "source" everywhere; ``int4_bytes`` at "int4" everywhere.
        met: whether ``step_bytes <= target * source_bytes``.
    """

    target: float
    precisions: dict[str, str] = field(repr=False)
    step_bytes: int
    source_bytes: int
    int4_bytes: int
    met: bool

    @property
    def fraction(self) -> float:
        """``step_bytes / source_bytes``."""
        return self.step_bytes / self.source_bytes if self.source_bytes else 1.0

    @property
    def moved(self) -> list[str]:
        """The layers at int4."""
        return [name for name, p in self.precisions.items() if p == LOW]

    def precision_of(self, projection: str) -> str:
        """The precision of a projection ``layers.<i>.<module>`` (its layer's); KeyError for another layer."""
        layer = ".".join(projection.split(".")[:2])
        if layer not in self.precisions:
            raise KeyError(f"the plan has no layer {layer!r} (projection {projection!r})")
        return self.precisions[layer]


def plan_mixed(sensitivities: Sensitivities, target: float) -> MixedPlan:
    """Move the least sensitive units (per byte saved) down to int4 until ``step bytes <= target x source
    bytes``; the rest stay at source. ``target`` in (0, 1] (see ``parse_target``)."""
    if not isinstance(target, int | float) or not 0.0 < target <= 1.0:
        raise ValueError(f"target must be a byte fraction in (0, 1], got {target!r}")
    source = sensitivities.source_bytes
    budget = target * source
    movable = sorted((u for u in sensitivities.units if u.saved > 0), key=lambda u: (u.kl / u.saved, u.name))
    precisions = {u.name: HIGH for u in sensitivities.units}
    step = source
    for unit in movable:
        if step <= budget:
            break
        precisions[unit.name] = LOW
        step -= unit.saved
    met = step <= budget
    if not met:
        logger.warning(
            "mixed:%g is below what int4 everywhere reaches (%.3f of the source's bytes): "
            "every layer that saves bytes goes down",
            target,
            sensitivities.int4_bytes / source,
        )
    return MixedPlan(target, precisions, step, source, sensitivities.int4_bytes, met)


# ------------------------------------------------------------------------------------------- measuring


def sequence_logits(model, token_ids: list[int]) -> torch.Tensor:
    """float32 logits [len(token_ids), vocab] of one sequence from position 0 (a fresh paged KV cache)."""
    from splitsecond.serving.engine.kv_cache import KVCache
    from splitsecond.serving.engine.model_runner import ForwardItem, ModelRunner

    block = 16
    blocks = max(1, -(-len(token_ids) // block))
    dtype = model.embed_tokens.weight.dtype
    runner = ModelRunner(model, KVCache(model.config, blocks, block, dtype, "cpu"), "cpu")
    with torch.no_grad():
        return runner.run([ForwardItem(list(token_ids), 0, list(range(blocks)), num_logits=len(token_ids))])


def mean_kl(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Mean over positions of KL(softmax(reference) || softmax(other)), nats."""
    p, q = torch.log_softmax(reference.float(), -1), torch.log_softmax(other.float(), -1)
    return max(0.0, float((p.exp() * (p - q)).sum(-1).mean()))


def layer_projections(model, i: int) -> list[tuple[str, list[str]]]:
    """(module name, the Hugging Face weights stacked into it) for every projection of layer ``i``."""
    from splitsecond.serving.models.causal_lm import FUSED_PROJECTIONS

    return [
        (f"layers.{i}.{name}", [f"layers.{i}.{p}" for p in parts])
        for name, parts in FUSED_PROJECTIONS.items()
    ]


def measure_sensitivities(model, sources, token_ids: list[int], progress: bool = False) -> Sensitivities:
    """Each layer's KL when it alone goes to int4, on ``token_ids``.

    ``model``: a loaded ``CausalLM`` on the kernels at "source" (``pack_weights("quant")``); ``sources``:
    its ``KernelSources``. Layers whose projections are all 4-bit already (int4 is the same weight) get
    KL 0 without a forward pass. The model is left as it was.
    """
    if model.weight_packing != "quant" or model._quant_head is None:
        raise ValueError("measuring sensitivities needs a model on the CPU kernels at precision 'source'")
    reference = sequence_logits(model, token_ids)
    out: list[LayerSensitivity] = []
    with _progress(progress) as p:
        task = p.add_task("sensitivity", total=len(model.layers)) if p is not None else None
        for i in range(len(model.layers)):
            projections = [(model.get_submodule(name), parts) for name, parts in layer_projections(model, i)]
            highs = [linear.quant for linear, _ in projections]
            high_bytes = sum(q.nbytes for q in highs)
            if all(f == "q4" for q in highs for f in q.formats):  # already 4-bit: int4 is the same weight
                out.append(LayerSensitivity(f"layers.{i}", 0.0, high_bytes, high_bytes))
            else:
                lows = [sources.weight(parts, LOW) for _, parts in projections]
                try:
                    for (linear, _), low in zip(projections, lows, strict=True):
                        linear.quant = low
                    kl = mean_kl(reference, sequence_logits(model, token_ids))
                finally:
                    for (linear, _), high in zip(projections, highs, strict=True):
                        linear.quant = high
                out.append(LayerSensitivity(f"layers.{i}", kl, high_bytes, sum(q.nbytes for q in lows)))
            if p is not None:
                p.advance(task)
    return Sensitivities(tuple(out), model._quant_head.nbytes, len(token_ids))


def _progress(show: bool):
    if not show:
        return contextlib.nullcontext(None)
    from rich.progress import Progress

    return Progress(transient=True)


# ------------------------------------------------------------------------------------------- the cache


def cache_path(gguf: Path) -> Path:
    """Where the sensitivities of ``gguf`` are cached (hashes the file the first time it is seen)."""
    from splitsecond.serving.loader.cache_dir import cache_root
    from splitsecond.serving.loader.weight_cache import FileDigests

    root = cache_root()
    digest = FileDigests(root / "digests.json").sha256(Path(gguf))
    calib = hashlib.sha256(calibration_text().encode()).hexdigest()[:12]
    return root / "sensitivity" / f"{digest[:32]}-{calib}-t{CALIBRATION_TOKENS}-v{SENSITIVITY_VERSION}.json"


def load_cached(gguf: Path) -> Sensitivities | None:
    """The cached sensitivities of ``gguf``, or None (absent or unreadable: a bad entry is deleted)."""
    path = cache_path(gguf)
    if not path.exists():
        return None
    try:
        return Sensitivities.from_json(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        logger.warning("dropping the unreadable sensitivity cache %s: %s", path, exc)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def store_cached(gguf: Path, sensitivities: Sensitivities) -> Path | None:
    """Write ``sensitivities`` for ``gguf`` atomically; the path, or None when it could not be written."""
    path = cache_path(gguf)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(sensitivities.to_json(), f)
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not cache the sensitivities at %s: %s", path, exc)
        return None
    return path


def sensitivities_for(gguf: Path, progress: bool = False) -> Sensitivities:
    """The sensitivities of the GGUF ``gguf``: from the cache, else measured (loading it at source on the
    kernels, float32 on CPU) and cached."""
    cached = load_cached(gguf)
    if cached is not None:
        logger.info("sensitivities of %s from the cache", Path(gguf).name)
        return cached
    from splitsecond.serving.loader.model_loader import load_model

    loaded = load_model(str(gguf), torch.float32, "cpu", kernel_precision=HIGH)
    if loaded.model.weight_packing != "quant":
        raise ValueError(f"{gguf}: mixed precision needs the CPU kernels and a GGUF they can read")
    ids = loaded.tokenizer.encode(calibration_text())[:CALIBRATION_TOKENS]
    logger.info("measuring the quantisation sensitivity of %s on %d tokens", Path(gguf).name, len(ids))
    measured = measure_sensitivities(loaded.model, loaded.model.kernel_sources, ids, progress)
    store_cached(gguf, measured)
    return measured


def plan_for(gguf: Path, precision: str) -> MixedPlan:
    """The plan of ``precision`` (``mixed:<target>``) for the GGUF ``gguf`` (sensitivities cached)."""
    plan = plan_mixed(sensitivities_for(gguf), parse_target(precision))
    logger.info(
        "%s: %d of %d layers at int4, %.3f of the source's bytes per step (int4: %.3f)",
        precision,
        len(plan.moved),
        len(plan.precisions),
        plan.fraction,
        plan.int4_bytes / plan.source_bytes,
    )
    return plan
