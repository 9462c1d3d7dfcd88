"""Grammar-constrained decoding with llguidance.

Why llguidance (measured on this 2-core AMD EPYC, SmolLM2 vocab of 49152, a 3-field JSON schema walked
over 30 tokens; see ``benchmarks/engine_decode.py`` for the recorded run):

- llguidance 1.9: compile 1.3 ms per new schema, token mask 52-56 us median (2 ms worst, first token).
- xgrammar 0.2: compile 1.2-1.8 s per new schema, token mask 3.4-7 us median (12 ms worst).

Both masks are negligible next to a ~25 ms forward pass, but xgrammar's compile costs seconds for every
new schema or choice list an agent sends, while llguidance's costs a millisecond. llguidance also
computes fast-forward tokens (``compute_ff_tokens``): when the grammar leaves only one way on, those
tokens are appended without sampling, so a choice like ``"attack_left"`` vs ``"attack_right"`` takes one
forward pass to decide and none to spell out.

A choice is constrained to each option's canonical tokenization (a grammar over token ids), not to its
characters: a character grammar accepts any spelling of an option, so after the token ``d`` both
``dragon_punch`` and ``dash_back`` (spelt ``d`` + ``ash``...) stay open and a second forward pass must
decide (measured on SmolLM2's StreetFighter actions: 2 passes per decision before, 1 after, for the 7
of 20 actions fixed by their first canonical token), and the model can wander onto token paths it never
saw in training.
"""

from __future__ import annotations

import json
import logging
import threading

import torch

from splitsecond.serving.constrained.json_schema import json_schema_grammar
from splitsecond.serving.errors import InvalidSchemaError
from splitsecond.serving.loader.tokenizer import Tokenizer
from splitsecond.serving.sampling_params import StructuredOutput

logger = logging.getLogger(__name__)


def _token_term(token_id: int, tokenizer: Tokenizer) -> str:
    """The Lark term for one token of a canonical tokenization: ``<[id]>``, or the token's text when
    a byte-fallback token spells the same byte.

    SentencePiece vocabularies (Gemma) hold ``<0x5F>`` next to ``_`` and ``<0x0A>`` next to a newline.
    llguidance finds a forced token by its bytes, lands on the twin and rejects the token (a forced
    ``<[236779]>``, the ``_`` after ``walk`` in ``walk_forward``, fails); the one-byte text accepts either.
    """
    text = tokenizer.decode([token_id], skip_special_tokens=False)
    twin = tokenizer.token_to_id(f"<0x{ord(text):02X}>") if len(text.encode("utf-8")) == 1 else None
    if twin is not None and twin != token_id:
        return json.dumps(text)
    return f"<[{token_id}]>"


def _canonical_choice(choice: list[str], tokenizer: Tokenizer) -> str | None:
    """Lark alternatives of each option's token ids; None when an option does not round-trip or
    contains a special token's text (which would encode to that special token, e.g. EOS)."""
    alternatives = []
    for option in choice:
        ids = tokenizer.encode(option, add_special_tokens=False)
        if not ids or tokenizer.decode(ids, skip_special_tokens=True) != option:
            return None
        alternatives.append(" ".join(_token_term(t, tokenizer) for t in ids))
    return " | ".join(alternatives)


def structured_to_grammar(so: StructuredOutput, tokenizer: Tokenizer | None = None) -> str:
    """The llguidance grammar (JSON string) for a ``StructuredOutput``.

    With a ``tokenizer``, a choice is a grammar over each option's canonical token ids (see the module
    docstring); a choice with an option that does not survive an encode/decode round trip (without
    special tokens) keeps the character grammar.
    """
    import llguidance

    try:
        if so.json_schema is not None:
            return json_schema_grammar(so.json_schema, so.json_schema_mode)
        if so.json_object:
            return llguidance.LLMatcher.grammar_from_json_schema({"type": "object"})
        if so.choice is not None:
            alternatives = _canonical_choice(so.choice, tokenizer) if tokenizer is not None else None
            if alternatives is None:
                alternatives = " | ".join(json.dumps(c) for c in so.choice)
            return llguidance.LLMatcher.grammar_from_lark(f"start: {alternatives}\n")
        return llguidance.LLMatcher.grammar_from_regex(so.regex)
    except (ValueError, TypeError) as e:
        raise InvalidSchemaError(f"invalid {so.kind}: {e}") from e


class GrammarMatcher:
    """The state of one sequence inside its grammar: token masks, acceptance, forced tokens."""

    def __init__(self, matcher, vocab_size: int) -> None:
        self._m = matcher
        self.vocab_size = vocab_size

    def fill_bitmask(self, bitmask: torch.Tensor, row: int) -> None:
        """Write the allowed-token bitmask (int32, 32 tokens per word) into ``bitmask[row]``."""
        # Direct call (not llguidance.torch, whose import pulls in torch.compile machinery).
        target = bitmask[row]
        if bitmask.dtype != torch.int32 or not target.is_contiguous() or target.device.type != "cpu":
            raise ValueError("bitmask must be a contiguous int32 CPU tensor")
        self._m.unsafe_compute_mask_ptr(target.data_ptr(), target.numel() * 4)

    def accept(self, token_id: int) -> bool:
        """Advance by one token; False if the grammar rejects it."""
        return self._m.consume_token(token_id)

    def rollback(self, num_tokens: int) -> None:
        """Undo the last ``num_tokens`` accepted tokens (used after checking a speculative draft)."""
        if num_tokens > 0:
            self._m.rollback(num_tokens)

    def forced_tokens(self) -> list[int]:
        """Tokens the grammar forces next (empty when there is a real choice)."""
        return self._m.compute_ff_tokens()

    @property
    def is_stopped(self) -> bool:
        """True when the grammar admits no further token (the output is complete)."""
        return self._m.is_stopped()

    @property
    def is_accepting(self) -> bool:
        """True when the text so far is a complete match (EOS allowed)."""
        return self._m.is_accepting()

    @property
    def error(self) -> str | None:
        """The matcher's error message, if it entered the error state."""
        return self._m.get_error() if self._m.is_error() else None


class GrammarCompiler:
    """Compiles ``StructuredOutput`` constraints for one tokenizer (grammars are cached by content)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = tokenizer.vocab_size
        self._lltok = None
        self._lock = threading.Lock()
        self._cache: dict[str, str] = {}
        self._templates: dict[str, object] = {}  # grammar -> an unused LLMatcher to copy

    @property
    def lltokenizer(self):
        """The llguidance tokenizer (built once: ~0.4 s for SmolLM2's 49k tokens, ~3 s for Gemma's 262k)."""
        with self._lock:
            if self._lltok is None:
                import llguidance

                self._lltok = llguidance.LLTokenizer(
                    self.tokenizer.backend.to_str(),
                    n_vocab=self.vocab_size,
                    eos_token=self.tokenizer.eos_token_ids,
                )
            return self._lltok

    def compile(self, so: StructuredOutput) -> str:
        """Validate and return the grammar for ``so``; raises ``InvalidSchemaError``."""
        import llguidance

        fields = {"s": so.json_schema, "m": so.json_schema_mode, "o": so.json_object, "c": so.choice}
        key = json.dumps({**fields, "r": so.regex}, sort_keys=True)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        grammar = structured_to_grammar(so, self.tokenizer)
        error = llguidance.LLMatcher.validate_grammar(grammar, self.lltokenizer)
        if error and not error.startswith("WARNING"):
            raise InvalidSchemaError(f"invalid {so.kind}: {error}")
        with self._lock:
            if len(self._cache) >= 256:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = grammar
        return grammar

    def matcher(self, grammar: str) -> GrammarMatcher:
        """A fresh matcher at the start of ``grammar``.

        The first matcher of a grammar is kept as a template; later ones are its ``deep_copy`` (1 us
        against 0.4-0.7 ms to build one, on the request path of every constrained decision).
        """
        import llguidance

        with self._lock:
            template = self._templates.get(grammar)
        if template is None:
            template = llguidance.LLMatcher(self.lltokenizer, grammar, log_level=0)
            if template.is_error():
                raise InvalidSchemaError(template.get_error())
            with self._lock:
                if len(self._templates) >= 256:
                    self._templates.pop(next(iter(self._templates)))
                self._templates[grammar] = template
        with self._lock:
            return GrammarMatcher(template.deep_copy(), self.vocab_size)


def bitmask_to_ids(bitmask_row: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Token ids whose bit is set in one bitmask row ([ceil(V/32)] int32)."""
    bits = torch.arange(32, dtype=torch.int32)
    allowed = ((bitmask_row[:, None] >> bits) & 1).bool().reshape(-1)[:vocab_size]
    return allowed.nonzero().flatten()


def apply_bitmask(logits: torch.Tensor, bitmask: torch.Tensor) -> None:
    """Set logits of tokens whose bit is 0 in ``bitmask`` ([N, ceil(V/32)] int32) to -inf, in place."""
    n, vocab = logits.shape
    bits = torch.arange(32, dtype=torch.int32, device=bitmask.device)
    allowed = ((bitmask[:, :, None] >> bits) & 1).bool().reshape(n, -1)[:, :vocab]
    logits.masked_fill_(~allowed.to(logits.device), float("-inf"))
