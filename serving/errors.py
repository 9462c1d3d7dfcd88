"""Errors the serving engine raises; the HTTP server maps each to a status code.

Client errors (bad prompt, bad schema) also subclass ``ValueError`` so plain Python callers can catch them
the usual way. ``EngineOverloadedError`` is a capacity error (HTTP 503/429), not a ``ValueError``.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error raised by the serving engine."""


class PromptTooLongError(EngineError, ValueError):
    """The prompt plus ``max_tokens`` does not fit in the model's context window."""

    def __init__(self, prompt_tokens: int, max_tokens: int, max_model_len: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.max_model_len = max_model_len
        super().__init__(
            f"prompt has {prompt_tokens} tokens and max_tokens is {max_tokens} "
            f"({prompt_tokens + max_tokens} in all), over the model's context of {max_model_len} tokens"
        )


class InvalidSchemaError(EngineError, ValueError):
    """A structured-output constraint (JSON schema, regex, choice list) could not be compiled."""


class EngineOverloadedError(EngineError):
    """The waiting queue is full (``EngineConfig.max_waiting``); retry later."""


class RequestAbortedError(EngineError):
    """The request was aborted (by ``abort`` or engine shutdown) before it finished."""


class EngineDeadError(EngineError):
    """The engine's step loop crashed; no further requests can be served."""


class InvalidParameterError(EngineError, ValueError):
    """A sampling parameter the engine cannot honour (out of range for the model or for int64).

    ``param`` names the ``SamplingParams`` field at fault (the server maps it to the request's field).
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


class RequestFailedError(EngineError):
    """One request failed inside an engine step (its sampling, grammar or verification); the other
    requests of the batch were not affected.

    ``detail`` is the internal cause, for the server's log; it is not meant for the client.
    """

    def __init__(self, request_id: str, detail: str) -> None:
        self.request_id = request_id
        self.detail = detail
        super().__init__(f"request {request_id!r} failed inside the engine")
