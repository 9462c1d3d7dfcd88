"""The embedded model server a leaderboard starts when its config says ``serve = "<model>"``.

Agent specs written with ``{serve}`` (``openai/smollm2-135m@{serve}``) talk to it; it is started
once per run with :func:`splitsecond.serving.server.start_server_subprocess` and stopped at the end.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def embedded_server(
    model: str | None, extra_args: Sequence[str] = (), timeout_s: float = 300.0
) -> Iterator[str | None]:
    """Serve ``model`` for the duration of the block; yields its ``api_base`` (``None`` if no model).

    Raises:
        RuntimeError: when the server does not come up (the message holds its log).
    """
    if model is None:
        yield None
        return
    from splitsecond.serving.server.launcher import start_server_subprocess

    logger.info("starting the embedded server for %s", model)
    server = start_server_subprocess(model, extra_args=list(extra_args), timeout_s=timeout_s)
    try:
        yield server.api_base
    finally:
        server.stop()
