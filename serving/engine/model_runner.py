"""``ModelRunner``: turns scheduled work into one forward pass over the paged KV cache.

Input is a list of ``ForwardItem`` — for each sequence, the new tokens to run (a prefill chunk, one
decode token, or k tokens to verify) with their start position and block table. The runner flattens
them, builds ``AttentionMetadata`` once (slot indices, gathered block tables, masks; for a model with
sliding-window layers also one set of groups per window size) and returns the logits of the items that
asked for them (``logits_rows`` of each item: by default the last token; a speculative verifier asks for
all k).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from splitsecond.serving.engine.kv_cache import KVCache
from splitsecond.serving.layers.attention import AttentionGroup, AttentionMetadata
from splitsecond.serving.models import CausalLM

logger = logging.getLogger(__name__)


@dataclass
class ForwardItem:
    """One sequence's share of a forward pass.

    ``token_ids`` are the new tokens (positions ``start_pos ..``); ``block_table`` must cover
    ``start_pos + len(token_ids)`` tokens. ``num_logits`` is how many trailing tokens need logits (0: none).
    """

    token_ids: list[int]
    start_pos: int
    block_table: list[int]
    num_logits: int = 1


class ModelRunner:
    """Runs the model on a batch of ``ForwardItem`` and returns float32 logits ``[sum(num_logits), V]``."""

    def __init__(self, model: CausalLM | None, kv_cache: KVCache, device: str) -> None:
        self.model = model
        self.kv_cache = kv_cache
        self.block_size = kv_cache.block_size
        self.device = torch.device(device)
        self.num_forward_passes = 0
        # the sliding windows the model's layers use; groups are built for each once per pass
        self.attention_windows: tuple[int, ...] = model.config.attention_windows if model is not None else ()

    def _tensor(self, data, dtype=torch.long) -> torch.Tensor:
        return torch.tensor(data, dtype=dtype, device=self.device)

    def build_metadata(
        self, items: list[ForwardItem], windows: tuple[int, ...] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, AttentionMetadata]:
        """(input_ids [T], positions [T], attention metadata) for ``items``.

        ``windows``: the sliding windows to build groups for (default: the model's ``attention_windows``).
        """
        bs = self.block_size
        ids: list[int] = []
        pos: list[int] = []
        slot_blocks: list[int] = []
        slot_offsets: list[int] = []
        starts: list[int] = []  # flat index of each item's first token
        for it in items:
            starts.append(len(ids))
            ids.extend(it.token_ids)
            p = range(it.start_pos, it.start_pos + len(it.token_ids))
            pos.extend(p)
            table = it.block_table
            slot_blocks.extend(table[x // bs] for x in p)
            slot_offsets.extend(x % bs for x in p)
        T = len(ids)
        decode = [i for i, it in enumerate(items) if len(it.token_ids) == 1]
        longer = [i for i, it in enumerate(items) if len(it.token_ids) > 1]
        members = [g for g in (decode, longer) if g]
        groups = [self._group(items, g, starts, single=len(items) == 1) for g in members]
        windows = self.attention_windows if windows is None else windows
        window_groups = {
            w: [self._window_group(items, m, g, w) for m, g in zip(members, groups, strict=True)]
            for w in windows
        }
        meta = AttentionMetadata(
            slot_blocks=self._tensor(slot_blocks),
            slot_offsets=self._tensor(slot_offsets),
            groups=groups,
            num_tokens=T,
            window_groups=window_groups,
        )
        return self._tensor(ids), self._tensor(pos), meta

    def _group(
        self, items: list[ForwardItem], members: list[int], starts: list[int], single: bool
    ) -> AttentionGroup:
        bs = self.block_size
        B = len(members)
        q_lens = [len(items[i].token_ids) for i in members]
        ctx = [items[i].start_pos + q for i, q in zip(members, q_lens, strict=False)]
        Q = max(q_lens)
        NB = max((c + bs - 1) // bs for c in ctx)
        key_blocks = [
            items[i].block_table[:NB] + [0] * (NB - len(items[i].block_table[:NB])) for i in members
        ]
        if B == 1:
            i, q, c = members[0], q_lens[0], ctx[0]
            mask = None
            if q > 1:
                start = c - q
                mask = (
                    torch.arange(c, device=self.device)[None, :]
                    <= (start + torch.arange(q, device=self.device))[:, None]
                )
                mask = mask[None, None]
            query_index = None if single else self._tensor([list(range(starts[i], starts[i] + q))])
            out_index = None if single else self._tensor(list(range(starts[i], starts[i] + q)))
            return AttentionGroup(self._tensor(key_blocks), query_index, mask, c, None, out_index)
        qi = [[starts[i] + min(j, q - 1) for j in range(Q)] for i, q in zip(members, q_lens, strict=False)]
        q_start = self._tensor([c - q for c, q in zip(ctx, q_lens, strict=False)])
        qpos = q_start[:, None] + torch.arange(Q, device=self.device)[None, :]  # [B, Q] positions
        mask = torch.arange(NB * bs, device=self.device)[None, None, :] <= qpos[:, :, None]
        out_valid = None
        if min(q_lens) != Q:
            out_valid = (
                torch.arange(Q, device=self.device)[None, :] < self._tensor(q_lens)[:, None]
            ).reshape(-1)
        out_index = self._tensor(
            [starts[i] + j for i, q in zip(members, q_lens, strict=False) for j in range(q)]
        )
        return AttentionGroup(
            self._tensor(key_blocks), self._tensor(qi), mask[:, None], None, out_valid, out_index
        )

    def _window_group(
        self, items: list[ForwardItem], members: list[int], full: AttentionGroup, window: int
    ) -> AttentionGroup:
        """``full`` (the group's global-attention form) restricted to keys ``p - window < k <= p``.

        Only the blocks the window reaches are gathered; ``full`` itself serves when every query's window
        covers the whole context (no extra gather or mask).
        """
        bs = self.block_size
        q_lens = [len(items[i].token_ids) for i in members]
        ctx = [items[i].start_pos + q for i, q in zip(members, q_lens, strict=True)]
        if max(ctx) <= window:
            return full
        lo = [max(0, c - q - window + 1) for c, q in zip(ctx, q_lens, strict=True)]  # first key in reach
        first = [x // bs for x in lo]
        last = [(c + bs - 1) // bs for c in ctx]
        if len(members) == 1:
            i, q, c, lo0, fb = members[0], q_lens[0], ctx[0], lo[0], first[0]
            blocks = self._tensor([items[i].block_table[fb : last[0]]])
            mask = None
            if q > 1:  # keys lo0..c-1 against queries c-q..c-1: causal and inside the window
                kpos = torch.arange(lo0, c, device=self.device)[None, :]
                qpos = torch.arange(c - q, c, device=self.device)[:, None]
                mask = ((kpos <= qpos) & (kpos > qpos - window))[None, None]
            return AttentionGroup(
                blocks, full.query_index, mask, c - fb * bs, None, full.out_index, key_start=lo0 - fb * bs
            )
        NB = max(b - a for a, b in zip(first, last, strict=True))
        tables = [
            items[i].block_table[a:b] + [0] * (NB - (b - a))
            for i, a, b in zip(members, first, last, strict=True)
        ]
        Q = max(q_lens)
        kpos = self._tensor([a * bs for a in first])[:, None] + torch.arange(NB * bs, device=self.device)
        # padding queries repeat their sequence's last real query, so no row is fully masked
        qpos = self._tensor(
            [[c - q + min(j, q - 1) for j in range(Q)] for c, q in zip(ctx, q_lens, strict=True)]
        )
        kpos, qpos = kpos[:, None, :], qpos[:, :, None]
        mask = (kpos <= qpos) & (kpos > qpos - window)  # [B, Q, NB * bs]
        return AttentionGroup(
            self._tensor(tables), full.query_index, mask[:, None], None, full.out_valid, full.out_index
        )

    @torch.inference_mode()
    def run(self, items: list[ForwardItem]) -> torch.Tensor:
        """One forward pass; returns logits for the requested trailing tokens of each item, in order."""
        hidden = self.run_hidden(items)
        if hidden.shape[0] == 0:
            return hidden.new_empty(0, self.model.config.vocab_size, dtype=torch.float32)
        return self.model.compute_logits(hidden)

    @torch.inference_mode()
    def run_hidden(self, items: list[ForwardItem]) -> torch.Tensor:
        """One forward pass; returns final hidden states of the requested trailing tokens, in order.

        The caller computes logits (all of them, or only the grammar-allowed ones).
        """
        input_ids, positions, meta = self.build_metadata(items)
        hidden = self.model(input_ids, positions, self.kv_cache.layer_views, meta)
        rows: list[int] = []
        flat = 0
        for it in items:
            n = len(it.token_ids)
            rows.extend(range(flat + n - it.num_logits, flat + n))
            flat += n
        self.num_forward_passes += 1
        if len(rows) == hidden.shape[0]:
            return hidden
        return hidden[self._tensor(rows)]
