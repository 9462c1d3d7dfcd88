"""What every handler of one server shares: the engine, the settings, the metrics, the model names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from splitsecond.serving.server.config import ServerConfig
from splitsecond.serving.server.errors import model_not_found
from splitsecond.serving.server.metrics import ServerMetrics


@dataclass
class ServerState:
    """The per-app state handlers read from ``request.app.state.server``.

    Attributes:
        engine: The running :class:`splitsecond.serving.AsyncEngine`.
        config: The server's settings.
        metrics: The server's Prometheus series.
        model_name: The name the model is served (and answered) under.
        aliases: Every other name a request may use for it (compared case-insensitively).
    """

    engine: Any
    config: ServerConfig
    metrics: ServerMetrics
    model_name: str
    aliases: frozenset[str] = field(default_factory=frozenset)

    def check_model(self, requested: str | None) -> str:
        """The served name for a request's ``model`` field; an unknown model is a 404.

        Accepts the served name and the aliases (see :func:`model_aliases`), case-insensitively.
        """
        if requested is None or requested == "":
            return self.model_name
        if requested == self.model_name or requested.lower() in self.aliases:
            return self.model_name
        raise model_not_found(requested, [self.model_name])


def model_aliases(model_name: str, engine: Any, extra: tuple[str, ...]) -> frozenset[str]:
    """Names accepted for the served model (lower-cased): its names and the configured aliases.

    Includes every alias the model registry maps to the engine's model (e.g.
    ``HuggingFaceTB/SmolLM2-135M-Instruct`` for ``smollm2-135m``); no file system path is accepted.
    """
    engine_model = getattr(engine, "model_name", model_name)
    names = {model_name, engine_model, *extra}
    try:
        from splitsecond.serving.loader import registry

        names.update(alias for alias, target in registry.ALIASES.items() if target == engine_model)
    except (ImportError, AttributeError):  # the registry is optional help: the short name still works
        pass
    return frozenset(n.lower() for n in names if n)
