"""``run_edge``: serve the OpenAI-compatible API on the agent's machine through an ``EdgeEngine``."""

from __future__ import annotations

import logging

from splitsecond.serving.server.config import ServerConfig
from splitsecond.serving.speculative.edge.config import EdgeConfig

logger = logging.getLogger(__name__)


def create_edge_app(edge_config: EdgeConfig, server_config: ServerConfig):
    """The FastAPI app of an edge: the server's own app over an ``EdgeEngine`` built at start-up."""
    from splitsecond.serving.server.app import create_app
    from splitsecond.serving.speculative.edge.engine import EdgeEngine

    return create_app(server_config, engine_factory=lambda: EdgeEngine(edge_config))


def run_edge(edge_config: EdgeConfig, server_config: ServerConfig) -> None:
    """Serve until interrupted (blocks); ``/debug/engine_stats`` shows the speculation counters."""
    from splitsecond.serving.server.launcher import serve_app

    app = create_edge_app(edge_config, server_config)
    logger.info("edge drafting with %s for verifier %s", edge_config.draft, edge_config.server)
    serve_app(app, server_config)


def start_edge_subprocess(
    server: str,
    extra_args: list[str] | tuple[str, ...] = (),
    *,
    port: int | None = None,
    timeout_s: float = 120.0,
    api_key: str | None = None,
):
    """Start ``splitsecond edge --server SERVER`` on a free loopback port and wait for ``/health``.

    ``api_key``: the key the verifier requires, handed over in ``$SPLITSECOND_API_KEY`` (never on the
    command line); the edge's own API then requires it too. Returns a
    :class:`splitsecond.serving.server.launcher.ServerProcess` (``api_base`` is the edge's OpenAI base
    URL); use it as a context manager.
    """
    import os
    import sys

    from splitsecond.serving.server.config import API_KEY_ENV
    from splitsecond.serving.server.launcher import ServerProcess, find_free_port

    port = port or find_free_port()
    args = [sys.executable, "-c", "from splitsecond.cli import main; main()", "edge", "--server", server,
            "--host", "127.0.0.1", "--port", str(port), *extra_args]  # fmt: skip
    env = dict(os.environ)
    env.pop(API_KEY_ENV, None)
    if api_key is not None:
        env[API_KEY_ENV] = api_key
    proc = ServerProcess(args, "127.0.0.1", port, api_key, env)
    try:
        proc.wait_ready(timeout_s)
    except BaseException:
        proc.stop()
        raise
    return proc
