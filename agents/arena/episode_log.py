"""The episode log: one JSON line per decision, bracketed by a header and a result line.

Line types (the ``type`` field):

``match``
    env id, seed, mode, the agents (id, name, latency model).
``decision``
    ``i`` (global decision number), ``agent``, ``t_us`` (simulated time of the observation),
    ``latency_ms`` (charged), ``land_us`` (when the action lands), ``measured_ms`` (wall time
    of the call; the only field that differs between two runs of a virtual-time match),
    ``action``, ``action_name``, ``fallback``, ``error``, ``usage`` (prompt/cached/completion
    tokens, requests), and for LLM agents ``raw`` (the raw answer) and ``plan``.
``event``
    something the arena did: a forfeit, a timeout.
``result``
    the :class:`~splitsecond.agents.arena.result.MatchResult` as a dict.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

WALL_CLOCK_FIELDS = ("measured_ms", "wall_s")


def _jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and other objects to JSON-friendly values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class EpisodeLog:
    """Appends records to a JSONL file, or keeps them in memory when ``path`` is ``None``.

    Args:
        path: the ``.jsonl`` file to write (parent directories are created).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.records: list[dict[str, Any]] = []
        self._fh: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8")

    def write(self, record_type: str, **fields: Any) -> dict[str, Any]:
        """Append one record of ``record_type``; returns it."""
        record = {"type": record_type, **_jsonable(fields)}
        self.records.append(record)
        if self._fh is not None:
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        return record

    def decisions(self) -> list[dict[str, Any]]:
        """The decision records so far."""
        return [r for r in self.records if r["type"] == "decision"]

    def close(self) -> None:
        """Flush and close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> EpisodeLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_episode_log(path: str | Path) -> list[dict[str, Any]]:
    """Read every record of an episode log."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def without_wall_clock(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records minus the wall-clock fields: equal for two runs of a deterministic match."""
    out = []
    for r in records:
        r = {k: v for k, v in r.items() if k not in WALL_CLOCK_FIELDS}
        if r["type"] == "result":
            r = {k: v for k, v in r.items() if k not in ("agents", "log_path", "replay_path", "gif_path")}
        out.append(r)
    return out
