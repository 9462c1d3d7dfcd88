"""The serving benchmark's decision compute floor: FLOPs of the new prompt tokens at a probed GEMM rate."""

from __future__ import annotations

from pathlib import Path

import pytest

from splitsecond.benchmarks.serving_http import decision_compute_floor
from splitsecond.serving import resolve_model


def test_floor_counts_every_projection_of_every_layer():
    floor = decision_compute_floor(Path(resolve_model("smollm2-135m").path), 8)
    hidden, inter, kv, layers = 576, 1536, 192, 30  # SmolLM2-135M: q/o 576x576, k/v 192x576, MLP 3x
    assert floor["projection_params"] == layers * (2 * hidden * hidden + 2 * kv * hidden + 3 * hidden * inter)
    assert floor["new_tokens"] == 8 and floor["gemm_gflops"] > 0
    assert floor["floor_s"] == pytest.approx(
        2 * 8 * floor["projection_params"] / (floor["gemm_gflops"] * 1e9)
    )


def test_floor_work_grows_with_new_tokens():
    gguf = Path(resolve_model("smollm2-135m").path)
    # the work is linear in the new tokens; the time also depends on the GEMM rate probed on this machine
    # at that row count (a measurement, so not compared here: a test never fails because the machine was slow)
    one, many = decision_compute_floor(gguf, 1), decision_compute_floor(gguf, 64)
    work = [f["floor_s"] * f["gemm_gflops"] for f in (one, many)]
    assert work[1] == pytest.approx(64 * work[0])
