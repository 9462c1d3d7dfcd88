"""Per-request generation settings: ``SamplingParams`` and the ``StructuredOutput`` constraint."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LOGPROBS = 20


@dataclass(frozen=True)
class StructuredOutput:
    """Constrain the generated text. Exactly one of the fields must be set.

    - ``json_schema``: output is JSON valid under this JSON schema.
    - ``json_object``: output is any JSON object.
    - ``choice``: output is exactly one of these strings.
    - ``regex``: output fully matches this regular expression.

    An invalid schema or regex raises ``InvalidSchemaError`` when the request is submitted.
    """

    json_schema: dict | None = None
    json_object: bool = False
    choice: list[str] | None = None
    regex: str | None = None

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
        def bad(msg: str) -> None:
            raise ValueError(f"SamplingParams: {msg}")

        if not isinstance(self.n, int) or self.n < 1:
            bad(f"n must be an integer >= 1, got {self.n!r}")
        if not isinstance(self.temperature, int | float) or self.temperature < 0:
            bad(f"temperature must be >= 0, got {self.temperature!r}")
        if not isinstance(self.top_p, int | float) or not 0 < self.top_p <= 1:
            bad(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < -1:
            bad(f"top_k must be -1 or 0 (off) or a positive integer, got {self.top_k!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            bad(f"seed must be an integer or None, got {self.seed!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            bad(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if not isinstance(self.min_tokens, int) or self.min_tokens < 0:
            bad(f"min_tokens must be an integer >= 0, got {self.min_tokens!r}")
        if self.min_tokens > self.max_tokens:
            bad(f"min_tokens ({self.min_tokens}) must not exceed max_tokens ({self.max_tokens})")
        if self.stop is not None:
            if isinstance(self.stop, str):
                object.__setattr__(self, "stop", [self.stop])
            if not all(isinstance(s, str) and s for s in self.stop):
                bad("stop must be a list of non-empty strings")
            object.__setattr__(self, "_stop_tuple", tuple(self.stop))
        if self.stop_token_ids is not None and not all(
            isinstance(t, int) and t >= 0 for t in self.stop_token_ids
        ):
            bad("stop_token_ids must be a list of non-negative integers")
        if self.logprobs is not None and (
            not isinstance(self.logprobs, int) or not 0 <= self.logprobs <= MAX_LOGPROBS
        ):
            bad(f"logprobs must be an integer in [0, {MAX_LOGPROBS}] or None, got {self.logprobs!r}")
        if self.structured is not None and not isinstance(self.structured, StructuredOutput):
            bad("structured must be a StructuredOutput")

    @property
    def greedy(self) -> bool:
        """True when sampling is argmax (temperature 0)."""
        return self.temperature == 0

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """The stop strings as a tuple (empty when none)."""
        return self._stop_tuple
