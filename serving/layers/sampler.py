"""``Sampler``: greedy, temperature, top-k, top-p and per-request seeded sampling, plus logprobs.

Random rows use the exponential-race trick (``argmax(p / Exp(1))`` is a draw from ``p``), with noise
from the request's own ``torch.Generator`` when it has a seed, so a seeded request samples the same
tokens whatever else shares its batch. Logprobs come from the raw model distribution (before
temperature, top-k/p and grammar masks), like vLLM's default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SamplingRow:
    """How to sample one logits row."""

    temperature: float
    top_p: float = 1.0
    top_k: int = -1
    generator: torch.Generator | None = None
    num_logprobs: int | None = None


@dataclass
class SampleResult:
    """Chosen token ids and, for rows that asked, (chosen logprob, rank, top ids, top logprobs)."""

    token_ids: list[int]
    logprobs: list[tuple[float, int, list[int], list[float]] | None]


class Sampler:
    """Samples one token per row of float32 logits."""

    def __call__(
        self, logits: torch.Tensor, rows: list[SamplingRow], raw_logits: torch.Tensor | None = None
    ) -> SampleResult:
        """Sample from ``logits`` ([N, V], masked already); ``raw_logits`` feed the logprobs."""
        n = logits.shape[0]
        greedy = [r.temperature == 0 for r in rows]
        chosen = logits.argmax(dim=-1) if all(greedy) else self._sample(logits, rows, greedy)
        token_ids = chosen.tolist()
        logprobs: list = [None] * n
        want = [i for i, r in enumerate(rows) if r.num_logprobs is not None]
        if want:
            src = raw_logits if raw_logits is not None else logits
            lp = torch.log_softmax(src[want].float(), dim=-1)
            k = max(rows[i].num_logprobs for i in want)
            top_vals, top_ids = lp.topk(k, dim=-1) if k > 0 else (lp[:, :0], lp[:, :0].long())
            for j, i in enumerate(want):
                tok = token_ids[i]
                chosen_lp = lp[j, tok]
                rank = int((lp[j] > chosen_lp).sum().item()) + 1
                kk = rows[i].num_logprobs
                logprobs[i] = (float(chosen_lp), rank, top_ids[j, :kk].tolist(), top_vals[j, :kk].tolist())
        return SampleResult(token_ids, logprobs)

    def _sample(self, logits: torch.Tensor, rows: list[SamplingRow], greedy: list[bool]) -> torch.Tensor:
        temps = torch.tensor([r.temperature if r.temperature > 0 else 1.0 for r in rows], dtype=logits.dtype)
        scaled = logits / temps.to(logits.device)[:, None]
        if any(r.top_k > 0 or r.top_p < 1.0 for r in rows):
            scaled = self._top_k_top_p(scaled, rows)
        probs = torch.softmax(scaled, dim=-1)
        noise = torch.empty_like(probs)
        for i, r in enumerate(rows):
            noise[i].exponential_(generator=r.generator)
        sampled = (probs / noise).argmax(dim=-1)
        if any(greedy):
            sampled = torch.where(torch.tensor(greedy, device=logits.device), logits.argmax(dim=-1), sampled)
        return sampled

    @staticmethod
    def _top_k_top_p(logits: torch.Tensor, rows: list[SamplingRow]) -> torch.Tensor:
        vocab = logits.shape[-1]
        sorted_logits, sorted_idx = logits.sort(dim=-1, descending=True)
        ks = torch.tensor([r.top_k if r.top_k > 0 else vocab for r in rows], device=logits.device)
        ranks = torch.arange(vocab, device=logits.device)[None, :]
        remove = ranks >= ks[:, None]
        ps = torch.tensor([r.top_p for r in rows], dtype=logits.dtype, device=logits.device)
        if (ps < 1).any():
            probs = torch.softmax(sorted_logits.masked_fill(remove, float("-inf")), dim=-1)
            cum_before = probs.cumsum(dim=-1) - probs  # mass strictly before each token
            remove |= cum_before >= ps[:, None]
        remove[:, 0] = False  # always keep the most likely token
        sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
        return torch.empty_like(logits).scatter_(-1, sorted_idx, sorted_logits)
