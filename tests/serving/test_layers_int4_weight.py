"""Int4 copies of projection weights: exact on a 4-bit grid, flagged off it, and used only for small passes."""

from __future__ import annotations

import pytest
import torch

from splitsecond.serving.layers import linear
from splitsecond.serving.layers.int4_weight import EXACT_MAX_ERROR, GROUP_SIZE, Int4Weight, int4_available
from splitsecond.serving.layers.linear import Linear

pytestmark = pytest.mark.skipif(not int4_available(), reason="this torch build has no CPU int4 matmul")


def q4_1_weight(out_f: int, in_f: int, seed: int = 0) -> torch.Tensor:
    """A weight as a Q4_1 GGUF stores it: per 32 inputs, ``d * q + m`` with q in 0..15 (both ends used)."""
    g = torch.Generator().manual_seed(seed)
    groups = in_f // GROUP_SIZE
    q = torch.randint(0, 16, (out_f, groups, GROUP_SIZE), generator=g).float()
    q[..., 0], q[..., 1] = 0, 15
    d = torch.rand(out_f, groups, 1, generator=g) * 0.01 + 1e-3
    m = -d * (
        7.5 + torch.rand(out_f, groups, 1, generator=g) - 0.5
    )  # a zero-centred group, as trained weights are
    return (d * q + m).view(out_f, in_f)


def test_a_4bit_grid_is_recovered_exactly_up_to_scale_rounding():
    w = q4_1_weight(96, 128)
    for dtype in (torch.float32, torch.bfloat16):
        q = Int4Weight.from_weight(w.to(dtype))
        assert q.max_error <= EXACT_MAX_ERROR, dtype
        x = torch.randn(5, 128).to(dtype)
        want = x.float() @ w.t()
        got = q.matmul(x).float()
        assert (got - want).abs().max() <= 2e-2 * want.abs().max(), dtype


def test_weights_off_a_4bit_grid_are_flagged_lossy():
    w = torch.randn(96, 128, generator=torch.Generator().manual_seed(1)) * 0.02
    q = Int4Weight.from_weight(w)
    assert q.max_error > 2 * EXACT_MAX_ERROR  # ~1/30 of a group's range: half a grid step
    x = torch.randn(3, 128)
    assert (q.matmul(x) - x @ w.t()).norm() / (x @ w.t()).norm() < 0.15  # still a usable 4-bit fit


def test_in_features_must_be_whole_groups():
    with pytest.raises(ValueError, match="multiple of the int4 group size"):
        Int4Weight.from_weight(torch.zeros(8, GROUP_SIZE + 8))


def test_linear_uses_the_int4_copy_for_small_passes_only():
    w = q4_1_weight(64, 96, seed=2).bfloat16()
    layer = Linear(96, 64, bias=True, dtype=torch.bfloat16)
    layer.weight.data.copy_(w)
    layer.bias.data.copy_(torch.linspace(-1, 1, 64))
    dense = Linear(96, 64, bias=True, dtype=torch.bfloat16)
    dense.load_state_dict(layer.state_dict())
    layer.int4 = Int4Weight.from_weight(w)
    layer.pack_onednn()  # falls back to the plain weight where oneDNN cannot block bf16
    small = torch.randn(linear.INT4_MAX_ROWS, 96).bfloat16()
    large = torch.randn(linear.INT4_MAX_ROWS + 1, 96).bfloat16()
    assert torch.equal(layer(small), layer.int4.matmul(small) + layer.bias)
    assert (layer(large) - dense(large)).abs().max() <= 1e-2 * dense(large).abs().max()
    assert layer(small[:1].view(1, 1, 96)).shape == (1, 1, 64)


def test_a_model_whose_projections_are_not_whole_groups_gets_no_int4_copies():
    from splitsecond.serving.models.llama import LlamaForCausalLM
    from splitsecond.serving.models.model_config import ModelConfig

    cfg = ModelConfig(
        architecture="llama", vocab_size=64, hidden_size=48, intermediate_size=80, num_layers=2,
        num_heads=3, num_kv_heads=1, head_dim=16, rms_norm_eps=1e-5, rope_theta=1e4,
        max_position_embeddings=64, tie_word_embeddings=True,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    assert model.pack_weights("int4", exact_only=False) in ("onednn", None)
    assert all(m.int4 is None for m in model.modules() if isinstance(m, Linear))
