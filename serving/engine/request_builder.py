"""``RequestBuilder``: turn a prompt and ``SamplingParams`` into a ``Request`` the engine can run.

Everything that could fail inside a batched step is checked here, against the model, before the
request is admitted: prompt token ids and ``stop_token_ids`` below the vocabulary size, the context
length, the output constraint (compiled here). A ``top_k`` at least the vocabulary size keeps every
token, so it is read as "off". Safe to call from any thread (the server calls it from a worker thread,
so tokenising and grammar compilation do not stall its event loop).
"""

from __future__ import annotations

import dataclasses

import torch

from splitsecond.serving.constrained.grammar import GrammarCompiler
from splitsecond.serving.engine.detokenizer import IncrementalDetokenizer
from splitsecond.serving.engine.prompt_encoding import encode_prompt
from splitsecond.serving.engine.sequence import Request, Sequence
from splitsecond.serving.errors import InvalidParameterError, PromptTooLongError
from splitsecond.serving.sampling_params import SEED_RANGE, SamplingParams


def model_params(params: SamplingParams, vocab_size: int) -> SamplingParams:
    """``params`` checked against a model of ``vocab_size`` tokens (``InvalidParameterError``)."""
    if not isinstance(params, SamplingParams):
        raise TypeError(f"params must be SamplingParams, got {type(params).__name__}")
    bad = [t for t in params.stop_token_ids or () if t >= vocab_size]
    if bad:
        raise InvalidParameterError(
            "stop_token_ids", f"stop_token_ids must be token ids in [0, {vocab_size}); got {bad[:5]}"
        )
    if params.top_k >= vocab_size:
        params = dataclasses.replace(params, top_k=-1)
    return params


def request_seed(seed: int, index: int) -> int:
    """The seed of completion ``index`` of a request seeded with ``seed`` (kept in ``SEED_RANGE``)."""
    s = seed + index
    return s - (SEED_RANGE[1] - SEED_RANGE[0]) if s >= SEED_RANGE[1] else s


class RequestBuilder:
    """Builds requests for one model (see module docstring).

    Args:
        tokenizer: The model's tokenizer.
        grammars: Compiles output constraints for that tokenizer.
        vocab_size: The model's vocabulary size.
        max_model_len: Prompt + output tokens a request may use.
        device: Where seeded requests' random generators live.
    """

    def __init__(
        self, tokenizer, grammars: GrammarCompiler, vocab_size: int, max_model_len: int, device: str
    ) -> None:
        self.tokenizer = tokenizer
        self.grammars = grammars
        self.vocab_size = vocab_size
        self.max_model_len = max_model_len
        self.device = device

    def prompt_ids(self, prompt: str | list[int]) -> list[int]:
        """The prompt as token ids (text is tokenised; ids are range-checked)."""
        if isinstance(prompt, str):
            ids = encode_prompt(self.tokenizer, prompt)
        else:
            ids = [int(t) for t in prompt]
            bad = [t for t in ids if not 0 <= t < self.vocab_size]
            if bad:
                raise ValueError(f"prompt token ids must be in [0, {self.vocab_size}); got {bad[:5]}")
        if not ids:
            raise ValueError("prompt is empty")
        return ids

    def build(
        self, request_id: str, prompt: str | list[int], params: SamplingParams, speculative: bool = False
    ) -> Request:
        """Tokenise and validate a request (raises ``PromptTooLongError``, ``InvalidSchemaError``,
        ``InvalidParameterError``, ``ValueError``).

        ``speculative``: the request advances by verified drafts; it must have ``n == 1`` and no logprobs.
        """
        params = model_params(params, self.vocab_size)
        if speculative and (params.n != 1 or params.logprobs is not None):
            raise ValueError("speculative requests need n=1 and no logprobs")
        ids = self.prompt_ids(prompt)
        if len(ids) + params.max_tokens > self.max_model_len:
            raise PromptTooLongError(len(ids), params.max_tokens, self.max_model_len)
        grammar = self.grammars.compile(params.structured) if params.structured is not None else None
        text = prompt if isinstance(prompt, str) else None
        req = Request(
            request_id=request_id, prompt=text, prompt_token_ids=ids, params=params, speculative=speculative
        )
        for i in range(params.n):
            gen = None
            if params.seed is not None:
                gen = torch.Generator(device=self.device).manual_seed(request_seed(params.seed, i))
            matcher = self.grammars.matcher(grammar) if grammar is not None else None
            detok = IncrementalDetokenizer(self.tokenizer, params.stop_strings, params.skip_special_tokens)
            req.seqs.append(Sequence(req, i, ids, gen, matcher, detok))
        return req
