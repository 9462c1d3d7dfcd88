"""Plan stores: the :class:`PlanStore` contract, SQLite (embedded default) and Redis (shared).

:func:`open_store` reads a store from a string: a file path (SQLite) or a ``redis://`` URL.
"""

from __future__ import annotations

from pathlib import Path

from splitsecond.cache.stores.base import PlanEntry, PlanStore, new_entry_id
from splitsecond.cache.stores.sqlite import SQLiteStore, default_db_path


def open_store(where: str | Path | PlanStore | None = None) -> PlanStore:
    """A store from ``where``: ``None`` (the default SQLite file), a path (SQLite), a
    ``redis://``/``rediss://`` URL (Redis), or a store object (passed through)."""
    if where is None:
        return SQLiteStore()
    if isinstance(where, str) and where.startswith(("redis://", "rediss://", "unix://")):
        from splitsecond.cache.stores.redis import RedisStore

        return RedisStore(where)
    if isinstance(where, str | Path):
        return SQLiteStore(where)
    if isinstance(where, PlanStore):
        return where
    raise TypeError(f"expected a path, a redis:// URL or a PlanStore, got {type(where).__name__}")


__all__ = ["PlanEntry", "PlanStore", "SQLiteStore", "default_db_path", "new_entry_id", "open_store"]
