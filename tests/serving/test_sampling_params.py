"""SamplingParams validation and the Sampler's top-k / top-p / seed behaviour on synthetic logits."""

from __future__ import annotations

import pytest
import torch

from splitsecond.serving import EngineConfig, SamplingParams
from splitsecond.serving.layers.sampler import Sampler, SamplingRow


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_k": -2}, "top_k"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"min_tokens": 5, "max_tokens": 2}, "min_tokens"),
        ({"logprobs": 21}, "logprobs"),
        ({"stop": [""]}, "stop"),
        ({"stop_token_ids": [-1]}, "stop_token_ids"),
        ({"structured": {"choice": ["a"]}}, "structured"),
    ],
)
def test_invalid_params_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplingParams(**kwargs)


def test_stop_string_is_normalised_to_list():
    assert SamplingParams(stop="END").stop_strings == ("END",)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"block_size": 12}, "power of two"), ({"dtype": "int4"}, "dtype"), ({"max_num_seqs": 0}, "max_num_seqs"),
     ({"max_num_batched_tokens": 8, "max_num_seqs": 16}, "max_num_batched_tokens"), ({"weight_packing": "q4"}, "weight_packing")],
)  # fmt: skip
def test_invalid_engine_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EngineConfig(**kwargs)


def test_top_k_and_top_p_restrict_the_support():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]]).repeat(200, 1)
    sampler = Sampler()
    gen = torch.Generator().manual_seed(0)
    top2 = sampler(logits, [SamplingRow(1.0, top_k=2, generator=gen)] * 200).token_ids
    assert set(top2) == {0, 1}
    # p(0) = 0.64, p(1) = 0.24: top_p 0.7 keeps exactly tokens 0 and 1.
    nucleus = sampler(logits, [SamplingRow(1.0, top_p=0.7, generator=gen)] * 200).token_ids
    assert set(nucleus) == {0, 1}
    greedy = sampler(logits[:3], [SamplingRow(0.0)] * 3).token_ids
    assert greedy == [0, 0, 0]


def test_seeded_rows_are_reproducible_and_independent_of_batch():
    torch.manual_seed(1)
    logits = torch.randn(1, 1000).repeat(4, 1)
    sampler = Sampler()

    def draw(seed: int, rows_before: int) -> int:
        rows = [SamplingRow(1.0) for _ in range(rows_before)]
        rows.append(SamplingRow(1.0, generator=torch.Generator().manual_seed(seed)))
        return sampler(logits[: rows_before + 1], rows).token_ids[-1]

    assert draw(7, 0) == draw(7, 3) == draw(7, 1)
    assert len({draw(s, 0) for s in range(20)}) > 1  # different seeds do differ


def test_logprobs_report_rank_and_top():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    res = Sampler()(logits, [SamplingRow(0.0, num_logprobs=2)])
    lp, rank, top_ids, top_vals = res.logprobs[0]
    assert rank == 1 and top_ids == [0, 1]
    assert lp == pytest.approx(torch.log_softmax(logits, -1)[0, 0].item())
    assert top_vals[0] == pytest.approx(lp)
