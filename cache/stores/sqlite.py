"""The embedded store: one SQLite file in WAL mode, safe for many threads and processes.

Each thread opens its own connection; writes run in ``BEGIN IMMEDIATE`` transactions and a
``busy_timeout`` makes a writer wait for another instead of failing, so two processes writing at
once lose nothing. The default file is ``~/.cache/splitsecond/plans.db`` (or
``$SPLITSECOND_CACHE_DB``).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from splitsecond.cache.stores.base import PlanEntry

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    keyword TEXT NOT NULL,
    template TEXT NOT NULL,
    embedding TEXT,
    score REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    wins INTEGER NOT NULL DEFAULT 0,
    losses INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_used REAL NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    UNIQUE (scope, keyword)
);
CREATE INDEX IF NOT EXISTS plans_last_used ON plans (last_used);
CREATE INDEX IF NOT EXISTS plans_created_at ON plans (created_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value REAL NOT NULL);
"""
_COLUMNS = "id, scope, keyword, template, embedding, score, hits, wins, losses, created_at, last_used, meta"


def default_db_path() -> Path:
    """``$SPLITSECOND_CACHE_DB`` if set, else ``~/.cache/splitsecond/plans.db``."""
    env = os.environ.get("SPLITSECOND_CACHE_DB")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "splitsecond" / "plans.db"


def _row_to_entry(row: tuple[Any, ...]) -> PlanEntry:
    return PlanEntry(
        id=row[0],
        scope=row[1],
        keyword=row[2],
        template=row[3],
        embedding=json.loads(row[4]) if row[4] else None,
        score=float(row[5]),
        hits=int(row[6]),
        wins=int(row[7]),
        losses=int(row[8]),
        created_at=float(row[9]),
        last_used=float(row[10]),
        meta=json.loads(row[11]) if row[11] else {},
    )


class SQLiteStore:
    """A :class:`~splitsecond.cache.stores.base.PlanStore` in one SQLite file (see the module docstring).

    Args:
        path: the database file (created with its folder); ``None``: :func:`default_db_path`.
        busy_timeout_s: how long a writer waits for another before failing.
    """

    def __init__(self, path: str | Path | None = None, busy_timeout_s: float = 30.0) -> None:
        if not (isinstance(busy_timeout_s, int | float) and busy_timeout_s > 0):
            raise ValueError(f"busy_timeout_s must be > 0, got {busy_timeout_s!r}")
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        if self.path.exists() and self.path.is_dir():
            raise ValueError(f"plan cache db path {self.path} is a directory; give a file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = float(busy_timeout_s)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        with self._write() as conn:
            for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # ------------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ------------------------------------------------------------------ reads
    def get(self, scope: str, keyword: str) -> PlanEntry | None:
        """The entry under ``(scope, keyword)``, or ``None``."""
        row = (
            self._conn()
            .execute(f"SELECT {_COLUMNS} FROM plans WHERE scope = ? AND keyword = ?", (scope, keyword))
            .fetchone()
        )
        return _row_to_entry(row) if row else None

    def get_by_id(self, entry_id: str) -> PlanEntry | None:
        """The entry with ``entry_id``, or ``None``."""
        row = self._conn().execute(f"SELECT {_COLUMNS} FROM plans WHERE id = ?", (entry_id,)).fetchone()
        return _row_to_entry(row) if row else None

    def candidates(self, scope: str) -> list[PlanEntry]:
        """Every entry of ``scope``."""
        rows = self._conn().execute(f"SELECT {_COLUMNS} FROM plans WHERE scope = ?", (scope,)).fetchall()
        return [_row_to_entry(r) for r in rows]

    def entries(self) -> list[PlanEntry]:
        """Every entry, most recently used first."""
        rows = self._conn().execute(f"SELECT {_COLUMNS} FROM plans ORDER BY last_used DESC").fetchall()
        return [_row_to_entry(r) for r in rows]

    def count(self) -> int:
        """How many entries."""
        return int(self._conn().execute("SELECT COUNT(*) FROM plans").fetchone()[0])

    def counters(self) -> dict[str, float]:
        """Every named counter."""
        return {n: float(v) for n, v in self._conn().execute("SELECT name, value FROM counters").fetchall()}

    # ------------------------------------------------------------------ writes
    def put(self, entry: PlanEntry) -> None:
        """Write ``entry``, replacing any entry under the same ``(scope, keyword)``."""
        values = (
            entry.id,
            entry.scope,
            entry.keyword,
            entry.template,
            json.dumps(entry.embedding) if entry.embedding is not None else None,
            float(entry.score),
            int(entry.hits),
            int(entry.wins),
            int(entry.losses),
            float(entry.created_at),
            float(entry.last_used),
            json.dumps(entry.meta),
        )
        with self._write() as conn:
            conn.execute(
                "DELETE FROM plans WHERE scope = ? AND keyword = ? AND id != ?", values[1:3] + values[:1]
            )
            conn.execute(f"INSERT OR REPLACE INTO plans ({_COLUMNS}) VALUES ({', '.join('?' * 12)})", values)

    def touch(self, entry_id: str, now: float) -> None:
        """``hits + 1`` and ``last_used = now``."""
        with self._write() as conn:
            conn.execute("UPDATE plans SET hits = hits + 1, last_used = ? WHERE id = ?", (now, entry_id))

    def adjust(self, entry_id: str, score_delta: float, wins: int = 0, losses: int = 0) -> PlanEntry | None:
        """Add to score, wins and losses atomically; the updated entry, or ``None`` if it is gone."""
        with self._write() as conn:
            conn.execute(
                "UPDATE plans SET score = score + ?, wins = wins + ?, losses = losses + ? WHERE id = ?",
                (score_delta, wins, losses, entry_id),
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM plans WHERE id = ?", (entry_id,)).fetchone()
        return _row_to_entry(row) if row else None

    def delete(self, entry_id: str) -> bool:
        """Remove an entry; whether it existed."""
        with self._write() as conn:
            return conn.execute("DELETE FROM plans WHERE id = ?", (entry_id,)).rowcount > 0

    def expire(self, cutoff: float) -> int:
        """Remove entries created at or before ``cutoff``."""
        with self._write() as conn:
            return conn.execute("DELETE FROM plans WHERE created_at <= ?", (cutoff,)).rowcount

    def evict_lru(self, max_entries: int) -> int:
        """Remove the least recently used entries beyond ``max_entries``."""
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM plans WHERE id IN (SELECT id FROM plans ORDER BY last_used DESC, created_at DESC "
                "LIMIT -1 OFFSET ?)",
                (max_entries,),
            ).rowcount

    def clear(self) -> int:
        """Remove every entry and counter."""
        with self._write() as conn:
            n = conn.execute("DELETE FROM plans").rowcount
            conn.execute("DELETE FROM counters")
        return n

    def incr(self, counters: Mapping[str, float]) -> None:
        """Add to named counters atomically."""
        items = [(str(k), float(v)) for k, v in counters.items() if v]
        if not items:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                items,
            )

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing never matters
                logger.debug("closing a sqlite connection failed", exc_info=True)
        self._local = threading.local()
