"""A ``tokenizers`` tokenizer that reproduces llama.cpp's SentencePiece ("llama"/SPM) tokenizer of a GGUF.

A GGUF with ``tokenizer.ggml.model = "llama"`` (Gemma, Llama 2, Mistral) stores tokens, scores and
token types, but no merges. llama.cpp tokenizes such a vocabulary as follows:

1. Control, user-defined and unknown tokens (types 3, 4, 2) are cut out of the raw text first, longest
   token first (user-defined ones always; Gemma's ``"\\n"``, ``"  "``, ``"<start_of_turn>"``...).
2. Every remaining fragment gets a leading space when ``tokenizer.ggml.add_space_prefix`` is true (the
   default; False for Gemma 3), and its spaces become ``'▁'``.
3. The fragment starts as one symbol per character; repeatedly, the adjacent pair whose concatenation is
   the vocabulary token with the highest score is merged (ties: the leftmost pair). A symbol that is not
   a token ends as its UTF-8 bytes (``<0xNN>`` byte tokens).

Step 3 is BPE with one merge ``(left, right)`` for every way of cutting a token into two tokens, ranked by
the token's score (the way transformers' GGUF converter rebuilds merges). Normal tokens' scores are
distinct in practice (Gemma's are ``-rank``), so the rank order is llama.cpp's order. Control,
user-defined, unknown and byte tokens never come out of a merge: the first three are cut out of the text
before merging and the last stand only for bytes. Step 1 is the tokenizer's added-token matching
(leftmost-longest, which agrees with llama.cpp's longest-first cut on these vocabularies), and step 2 its
normalizer, which runs on each fragment between added tokens.

Decoding turns ``'▁'`` back into spaces and byte tokens back into bytes, drops the prefix space when the
model adds one, and skips control tokens (``skip_special_tokens``) while keeping user-defined ones.
"""

from __future__ import annotations

import logging

from tokenizers import AddedToken, decoders, models, normalizers
from tokenizers import Tokenizer as _FastTokenizer

logger = logging.getLogger(__name__)

SPACE = "\u2581"
"""SentencePiece's visible space, ``'▁'``."""

# GGUF token types (llama.cpp's llama_token_type).
TOKEN_NORMAL = 1
TOKEN_UNKNOWN = 2
TOKEN_CONTROL = 3
TOKEN_USER_DEFINED = 4
TOKEN_BYTE = 6
_NOT_MERGED = frozenset({TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_BYTE})


def sentencepiece_merges(tokens: list[str], scores: list[float], types: list[int]) -> list[tuple[str, str]]:
    """BPE merges equivalent to llama.cpp's score-driven SPM merging, best first.

    Every cut of a mergeable token into two vocabulary tokens is a merge; merges are ranked by the
    token's score (highest first, then by id) and, within a token, by cut position.
    """
    vocab = set(tokens)
    order = sorted(
        (i for i, ty in enumerate(types) if ty not in _NOT_MERGED and len(tokens[i]) > 1),
        key=lambda i: -scores[i],
    )
    merges: list[tuple[str, str]] = []
    append = merges.append
    for i in order:  # ~1.7M cuts for Gemma's 262k tokens: keep this loop lean
        tok = tokens[i]
        for k in range(1, len(tok)):
            left = tok[:k]
            if left in vocab:
                right = tok[k:]
                if right in vocab:
                    append((left, right))
    return merges


def build_sentencepiece_tokenizer(meta: dict) -> _FastTokenizer:
    """The ``tokenizers.Tokenizer`` for a GGUF's SentencePiece vocabulary (``tokenizer.ggml.*`` metadata)."""
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    types: list[int] = meta.get("tokenizer.ggml.token_type") or [TOKEN_NORMAL] * len(tokens)
    scores: list[float] = meta.get("tokenizer.ggml.scores") or [0.0] * len(tokens)
    if not len(tokens) == len(types) == len(scores):
        raise ValueError(
            f"GGUF tokenizer arrays disagree: {len(tokens)} tokens, {len(types)} types, {len(scores)} scores"
        )
    vocab = {tok: i for i, tok in enumerate(tokens)}  # a repeated token keeps its last id, as in llama.cpp
    if len(vocab) != len(tokens):
        logger.warning("GGUF vocabulary repeats %d token strings", len(tokens) - len(vocab))
    unk_id = meta.get("tokenizer.ggml.unknown_token_id")
    unk = tokens[int(unk_id)] if unk_id is not None and 0 <= int(unk_id) < len(tokens) else None
    bpe = models.BPE(
        vocab=vocab,
        merges=sentencepiece_merges(tokens, scores, types),
        unk_token=unk,
        fuse_unk=True,
        byte_fallback=True,
    )
    fast = _FastTokenizer(bpe)
    add_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
    replace = normalizers.Replace(" ", SPACE)
    fast.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), replace]) if add_prefix else replace
    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    fast.decoder = decoders.Sequence(steps)
    special = [
        AddedToken(tok, special=True, normalized=False)
        for tok, ty in zip(tokens, types, strict=True)
        if ty in (TOKEN_CONTROL, TOKEN_UNKNOWN) and tok
    ]
    user = [
        AddedToken(tok, special=False, normalized=False)
        for tok, ty in zip(tokens, types, strict=True)
        if ty == TOKEN_USER_DEFINED and tok
    ]
    if special:
        fast.add_special_tokens(special)
    if user:
        fast.add_tokens(user)
    return fast
