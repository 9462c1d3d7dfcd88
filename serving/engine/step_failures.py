"""``StepFailures``: the requests that failed during one engine step, failed after the step's shared work.

A value no check caught, or a grammar library error, must end its own request and no other: the step's
per-sequence stages (grammar masks, sampling, token appending, draft verification) record a failure here
instead of raising, and the step ends those requests (finish reason "error") once the batch is done.
"""

from __future__ import annotations

import logging

from splitsecond.serving.engine.sequence import Request, Sequence
from splitsecond.serving.engine.token_appender import TokenAppender

logger = logging.getLogger(__name__)


class StepFailures:
    """Failed requests of one step, by request id (the first failure of a request is kept)."""

    def __init__(self) -> None:
        self._failed: dict[str, tuple[Request, str]] = {}

    def record(self, seq: Sequence, stage: str, exc: BaseException) -> None:
        """Note that ``seq``'s request failed in ``stage``; logs the exception with its traceback."""
        req = seq.request
        logger.error("request %s failed in %s: %r", req.request_id, stage, exc, exc_info=exc)
        self._failed.setdefault(req.request_id, (req, f"{stage} failed: {type(exc).__name__}: {exc}"))

    def __contains__(self, seq: Sequence) -> bool:
        return seq.request.request_id in self._failed

    def __bool__(self) -> bool:
        return bool(self._failed)

    def apply(self, appender: TokenAppender) -> list[Request]:
        """End every failed request (finish reason "error"); returns them."""
        for req, detail in self._failed.values():
            appender.fail(req, detail)
        return [req for req, _ in self._failed.values()]
