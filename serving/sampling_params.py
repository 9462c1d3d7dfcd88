"""Per-request generation settings: ``SamplingParams`` and the ``StructuredOutput`` constraint."""

from __future__ import annotations

from dataclasses import dataclass, field

from splitsecond.serving.constrained.json_schema import (
    JSON_SCHEMA_MODES,
    MAX_SCHEMA_BYTES,
    MAX_SCHEMA_DEPTH,
    json_depth,
    json_size,
)
from splitsecond.serving.errors import InvalidParameterError, InvalidSchemaError

MAX_LOGPROBS = 20

INT64_MAX = 2**63 - 1
"""Largest value of an integer parameter (torch and the samplers hold them as int64)."""

SEED_RANGE = (-(2**63), 2**64)
"""Seeds accepted, ``[low, high)``: what ``torch.Generator.manual_seed`` takes."""

MAX_STOP_STRINGS = 64
"""Most ``stop`` strings (each checked after every token), of at most ``MAX_STOP_CHARS`` characters."""

MAX_STOP_CHARS = 1024

MAX_STOP_TOKEN_IDS = 1024
"""Most ``stop_token_ids``."""

MAX_CHOICES = 4096
"""Most options of a ``choice`` constraint."""

MAX_CHOICE_CHARS = 32 * 1024
"""Most characters of all options of a ``choice`` constraint together (32 KiB compile in 0.2-1 s)."""

MAX_REGEX_CHARS = 16 * 1024
"""Longest ``regex`` constraint."""


@dataclass(frozen=True)
class StructuredOutput:
    """Constrain the generated text. Exactly one of the fields must be set.

    - ``json_schema``: output is JSON valid under this JSON schema.
    - ``json_object``: output is any JSON object.
    - ``choice``: output is exactly one of these strings.
    - ``regex``: output fully matches this regular expression.

    ``json_schema_mode`` (for ``json_schema``): "strict" (the default) follows OpenAI's structured
    outputs: an object with ``properties`` admits no other property unless its ``additionalProperties``
    says so, and no whitespace is generated between tokens; "permissive" is plain JSON Schema (extra
    properties allowed, free whitespace). See ``serving.constrained.json_schema``.

    Sizes are bounded so that compiling stays well under a second: a choice list holds at most
    ``MAX_CHOICES`` options and ``MAX_CHOICE_CHARS`` characters, a regex ``MAX_REGEX_CHARS``, a schema
    ``MAX_SCHEMA_BYTES`` of JSON nested at most ``MAX_SCHEMA_DEPTH`` deep (``InvalidSchemaError``
    beyond). An invalid schema or regex raises ``InvalidSchemaError`` when the request is submitted.
    """

    json_schema: dict | None = None
    json_object: bool = False
    choice: list[str] | None = None
    regex: str | None = None
    json_schema_mode: str = "strict"

    def __post_init__(self) -> None:
        set_fields = [
            name
            for name, on in (
                ("json_schema", self.json_schema is not None),
                ("json_object", bool(self.json_object)),
                ("choice", self.choice is not None),
                ("regex", self.regex is not None),
            )
            if on
        ]
        if len(set_fields) != 1:
            raise ValueError(
                "StructuredOutput needs exactly one of json_schema, json_object, choice, regex; "
                f"got {set_fields or 'none'}"
            )
        if self.json_schema is not None and not isinstance(self.json_schema, dict):
            raise ValueError(f"json_schema must be a dict, got {type(self.json_schema).__name__}")
        if self.choice is not None:
            if not isinstance(self.choice, list | tuple) or not self.choice:
                raise ValueError("choice must be a non-empty list of strings")
            if not all(isinstance(c, str) and c for c in self.choice):
                raise ValueError("every choice must be a non-empty string")
        if self.regex is not None and (not isinstance(self.regex, str) or not self.regex):
            raise ValueError("regex must be a non-empty string")
        if self.json_schema_mode not in JSON_SCHEMA_MODES:
            raise ValueError(
                f"json_schema_mode must be one of {JSON_SCHEMA_MODES}, got {self.json_schema_mode!r}"
            )
        self._check_size()

    def _check_size(self) -> None:
        if self.choice is not None:
            chars = sum(len(c) for c in self.choice)
            if len(self.choice) > MAX_CHOICES or chars > MAX_CHOICE_CHARS:
                raise InvalidSchemaError(
                    f"choice list too large: {len(self.choice)} options, {chars} characters "
                    f"(at most {MAX_CHOICES} options and {MAX_CHOICE_CHARS} characters)"
                )
        if self.regex is not None and len(self.regex) > MAX_REGEX_CHARS:
            raise InvalidSchemaError(
                f"regex too long: {len(self.regex)} characters (at most {MAX_REGEX_CHARS})"
            )
        if self.json_schema is not None:
            depth = json_depth(self.json_schema, MAX_SCHEMA_DEPTH + 1)
            if depth > MAX_SCHEMA_DEPTH:
                raise InvalidSchemaError(f"JSON schema nested deeper than {MAX_SCHEMA_DEPTH} levels")
            try:
                size = json_size(self.json_schema)
            except ValueError as exc:
                raise InvalidSchemaError(f"JSON schema is {exc}") from None
            if size > MAX_SCHEMA_BYTES:
                raise InvalidSchemaError(f"JSON schema too large: over {MAX_SCHEMA_BYTES} bytes of JSON")

    @property
    def kind(self) -> str:
        """Which constraint this is: 'json_schema', 'json_object', 'choice' or 'regex'."""
        if self.json_schema is not None:
            return "json_schema"
        if self.json_object:
            return "json_object"
        if self.choice is not None:
            return "choice"
        return "regex"


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one request (OpenAI/vLLM semantics).

    ``temperature=0`` is greedy. ``top_k`` of 0 or -1 disables top-k. ``seed`` gives the request its own
    random generator, so the same seed gives the same output whatever else is batched with it.
    ``stop`` strings are trimmed from the output; ``stop_token_ids`` and EOS end generation (EOS is
    ignored with ``ignore_eos``). ``logprobs=k`` returns the chosen token's logprob and the top-k
    (``k <= 20``), taken from the model's raw distribution before temperature and constraints.
    ``min_tokens`` suppresses EOS, stop tokens and stop strings until that many tokens are generated.

    Invalid values raise ``InvalidParameterError`` (a ``ValueError``) naming the field in ``param``:
    integers must fit int64 (``seed``: ``SEED_RANGE``). What depends on the model (token ids below the
    vocabulary size, the context length) is checked when the engine builds the request.
    """

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    seed: int | None = None
    max_tokens: int = 16
    min_tokens: int = 0
    stop: list[str] | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    logprobs: int | None = None
    structured: StructuredOutput | None = None
    skip_special_tokens: bool = True
    _stop_tuple: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def bad(param: str, msg: str) -> None:
            raise InvalidParameterError(param, f"SamplingParams: {msg}")

        def is_int(v: object, low: int = -INT64_MAX - 1, high: int = INT64_MAX) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high

        if not is_int(self.n, 1):
            bad("n", f"n must be an integer >= 1, got {self.n!r}")
        if not isinstance(self.temperature, int | float) or not 0 <= self.temperature < float("inf"):
            bad("temperature", f"temperature must be >= 0, got {self.temperature!r}")
        if not isinstance(self.top_p, int | float) or not 0 < self.top_p <= 1:
            bad("top_p", f"top_p must be in (0, 1], got {self.top_p!r}")
        if not is_int(self.top_k, -1):
            bad("top_k", f"top_k must be -1 or 0 (off) or a positive int64 integer, got {self.top_k!r}")
        if self.seed is not None and not is_int(self.seed, SEED_RANGE[0], SEED_RANGE[1] - 1):
            bad("seed", f"seed must be an integer in [-2**63, 2**64) or None, got {self.seed!r}")
        if not is_int(self.max_tokens, 1):
            bad("max_tokens", f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if not is_int(self.min_tokens, 0):
            bad("min_tokens", f"min_tokens must be an integer >= 0, got {self.min_tokens!r}")
        if self.min_tokens > self.max_tokens:
            bad(
                "min_tokens", f"min_tokens ({self.min_tokens}) must not exceed max_tokens ({self.max_tokens})"
            )
        if self.stop is not None:
            if isinstance(self.stop, str):
                object.__setattr__(self, "stop", [self.stop])
            if not isinstance(self.stop, list | tuple) or not all(
                isinstance(s, str) and s for s in self.stop
            ):
                bad("stop", "stop must be a list of non-empty strings")
            if len(self.stop) > MAX_STOP_STRINGS or any(len(s) > MAX_STOP_CHARS for s in self.stop):
                bad("stop", f"at most {MAX_STOP_STRINGS} stop strings of at most {MAX_STOP_CHARS} characters")
            object.__setattr__(self, "_stop_tuple", tuple(self.stop))
        if self.stop_token_ids is not None and (
            not isinstance(self.stop_token_ids, list | tuple)
            or not all(is_int(t, 0) for t in self.stop_token_ids)
        ):
            bad("stop_token_ids", "stop_token_ids must be a list of non-negative integers")
        if self.stop_token_ids is not None and len(self.stop_token_ids) > MAX_STOP_TOKEN_IDS:
            bad("stop_token_ids", f"at most {MAX_STOP_TOKEN_IDS} stop_token_ids")
        if self.logprobs is not None and not is_int(self.logprobs, 0, MAX_LOGPROBS):
            bad(
                "logprobs",
                f"logprobs must be an integer in [0, {MAX_LOGPROBS}] or None, got {self.logprobs!r}",
            )
        if self.structured is not None and not isinstance(self.structured, StructuredOutput):
            bad("structured", "structured must be a StructuredOutput")

    @property
    def greedy(self) -> bool:
        """True when sampling is argmax (temperature 0)."""
        return self.temperature == 0

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """The stop strings as a tuple (empty when none)."""
        return self._stop_tuple
