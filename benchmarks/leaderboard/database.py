"""The results store: one SQLite file (WAL) holding every scheduled match and its outcome.

Tables:

``leaderboards``
    name, the config (JSON) and its digest.
``participants``
    per leaderboard: name, base agent, spec, latency setting, envs.
``matches``
    one row per match key (``PRIMARY KEY``): env, seed, parameters, seats, ``status``
    (``pending`` -> ``running`` -> ``done``/``forfeit``, or ``failed`` after ``max_attempts``
    failures), ``attempts`` (times started), ``failures``, winner, the outcome (JSON), error.
``schedule``
    which leaderboard plays which match (a match shared by two leaderboards is played once).
``seats``
    one row per ``(match key, seat)`` (``PRIMARY KEY``): rank, score, forfeit, decisions and how
    many of them failed (``errors``: the call failed or the agent raised; ``fallbacks``: the
    fallback action was played; ``timeouts``), latency, tokens, the agent's ``prompt_version``,
    metrics. A store written before those columns existed gets them when opened, filled from each
    match's stored outcome.

Scheduling is ``INSERT OR IGNORE``; finishing a match updates its row only while it is
``running`` and inserts its seats in the same transaction, so a result can never be counted
twice. Only the coordinator process writes.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitsecond.benchmarks.leaderboard.config import LeaderboardConfig
from splitsecond.benchmarks.leaderboard.outcome import MatchOutcome
from splitsecond.benchmarks.leaderboard.schedule import MatchTask, SeatTask

STATUSES = ("pending", "running", "done", "forfeit", "failed")
"""Match states; ``done`` and ``forfeit`` are finished and count in the ratings."""

FINISHED = ("done", "forfeit")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leaderboards (
    name TEXT PRIMARY KEY,
    config_json TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS participants (
    leaderboard TEXT NOT NULL,
    name TEXT NOT NULL,
    base TEXT NOT NULL,
    spec TEXT NOT NULL,
    latency TEXT NOT NULL,
    envs TEXT NOT NULL,
    PRIMARY KEY (leaderboard, name)
);
CREATE TABLE IF NOT EXISTS matches (
    key TEXT PRIMARY KEY,
    env TEXT NOT NULL,
    env_id TEXT NOT NULL,
    seed INTEGER NOT NULL,
    params_json TEXT NOT NULL,
    seats_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'done', 'forfeit', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    winner TEXT,
    end_reason TEXT,
    outcome_json TEXT,
    error TEXT,
    worker TEXT,
    wall_s REAL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS schedule (
    leaderboard TEXT NOT NULL,
    key TEXT NOT NULL REFERENCES matches(key),
    position INTEGER NOT NULL,
    PRIMARY KEY (leaderboard, key)
);
CREATE TABLE IF NOT EXISTS seats (
    key TEXT NOT NULL REFERENCES matches(key),
    seat INTEGER NOT NULL,
    name TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    score REAL NOT NULL,
    forfeited INTEGER NOT NULL,
    forfeit_reason TEXT,
    decisions INTEGER NOT NULL,
    median_latency_ms REAL,
    median_measured_ms REAL,
    tokens INTEGER NOT NULL,
    metrics_json TEXT NOT NULL,
    fallbacks INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    timeouts INTEGER NOT NULL DEFAULT 0,
    prompt_version TEXT,
    PRIMARY KEY (key, seat)
);
CREATE INDEX IF NOT EXISTS matches_status ON matches(status);
CREATE INDEX IF NOT EXISTS seats_name ON seats(name);
"""


_SEAT_COLUMNS = {
    "fallbacks": "INTEGER NOT NULL DEFAULT 0",
    "errors": "INTEGER NOT NULL DEFAULT 0",
    "timeouts": "INTEGER NOT NULL DEFAULT 0",
    "prompt_version": "TEXT",
}
"""Seat columns added after the first release of the store (migrated in by :meth:`ResultsDB.migrate`)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ResultsDB:
    """The SQLite results store (see the module docstring).

    Args:
        path: the database file (created with its folder if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30.0)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a crash can lose the last commits, never corrupt; a lost result is replayed
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(_SCHEMA)
        self.conn.commit()
        self.migrate()

    def migrate(self) -> list[str]:
        """Add the seat columns an older store lacks, filled from the stored outcomes; returns the
        columns added."""
        have = {r["name"] for r in self.conn.execute("PRAGMA table_info(seats)")}
        missing = [c for c in _SEAT_COLUMNS if c not in have]
        if not missing:
            return []
        with self.conn:
            for column in missing:
                try:
                    self.conn.execute(f"ALTER TABLE seats ADD COLUMN {column} {_SEAT_COLUMNS[column]}")
                except sqlite3.OperationalError as exc:  # another process added it just now
                    if "duplicate column" not in str(exc):
                        raise
            rows = self.conn.execute(
                "SELECT key, outcome_json FROM matches WHERE outcome_json IS NOT NULL"
            ).fetchall()
            for row in rows:
                for seat in json.loads(row["outcome_json"]).get("seats", []):
                    values = {c: seat.get(c) for c in missing}
                    sets = ", ".join(f"{c} = COALESCE(?, {c})" for c in missing)
                    self.conn.execute(
                        f"UPDATE seats SET {sets} WHERE key = ? AND seat = ?",
                        (*values.values(), row["key"], seat.get("seat")),
                    )
        return missing

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ scheduling

    def register(self, config: LeaderboardConfig, tasks: Sequence[MatchTask]) -> int:
        """Store the config, its participants and its schedule; returns how many matches are new."""
        now = _now()
        with self.conn:
            self.conn.execute(
                "INSERT INTO leaderboards(name, config_json, digest, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET config_json=excluded.config_json, "
                "digest=excluded.digest, updated_at=excluded.updated_at",
                (config.name, json.dumps(config.to_dict(), default=str), config.digest(), now),
            )
            self.conn.execute("DELETE FROM participants WHERE leaderboard = ?", (config.name,))
            self.conn.executemany(
                "INSERT INTO participants(leaderboard, name, base, spec, latency, envs) VALUES (?,?,?,?,?,?)",
                [
                    (config.name, p.name, p.base, p.spec, p.latency, json.dumps(list(p.envs)))
                    for p in config.participants()
                ],
            )
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO matches(key, env, env_id, seed, params_json, seats_json, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        t.key,
                        t.env,
                        t.env_id,
                        t.seed,
                        json.dumps(t.params(), sort_keys=True),
                        json.dumps([asdict(s) for s in t.seats]),
                        now,
                    )
                    for t in tasks
                ],
            )
            new = self.conn.total_changes - before
            self.conn.execute("DELETE FROM schedule WHERE leaderboard = ?", (config.name,))
            self.conn.executemany(
                "INSERT INTO schedule(leaderboard, key, position) VALUES (?, ?, ?)",
                [(config.name, t.key, t.position) for t in tasks],
            )
        return new

    def recover_interrupted(self, keys: Iterable[str]) -> int:
        """Put matches left ``running`` by an interrupted run back to ``pending``; returns how many."""
        keys = list(keys)
        with self.conn:
            cur = self.conn.executemany(
                "UPDATE matches SET status='pending', attempts=MAX(attempts - 1, 0) "
                "WHERE key = ? AND status = 'running'",
                [(k,) for k in keys],
            )
        return cur.rowcount

    def reset(self, keys: Iterable[str], statuses: Sequence[str] = STATUSES) -> int:
        """Forget the outcome of the given matches in ``statuses`` (``--rerun``); returns how many."""
        bad = sorted(set(statuses) - set(STATUSES))
        if bad:
            raise ValueError(f"unknown statuses {bad}; valid: {STATUSES}")
        marks = ",".join("?" * len(statuses))
        n = 0
        with self.conn:
            for key in keys:
                cur = self.conn.execute(
                    f"UPDATE matches SET status='pending', attempts=0, failures=0, winner=NULL, "
                    f"end_reason=NULL, outcome_json=NULL, error=NULL, worker=NULL, wall_s=NULL, "
                    f"started_at=NULL, finished_at=NULL WHERE key = ? AND status IN ({marks})",
                    (key, *statuses),
                )
                if cur.rowcount:
                    self.conn.execute("DELETE FROM seats WHERE key = ?", (key,))
                    n += 1
        return n

    # ------------------------------------------------------------------ state changes

    def start(self, key: str) -> bool:
        """``pending`` -> ``running`` (attempts + 1); ``False`` if the match was not pending."""
        with self.conn:
            cur = self.conn.execute(
                "UPDATE matches SET status='running', attempts=attempts + 1, started_at=? "
                "WHERE key = ? AND status = 'pending'",
                (_now(), key),
            )
        return cur.rowcount == 1

    def finish(self, outcome: MatchOutcome) -> bool:
        """Record a played match; ``False`` (and nothing written) if it was not ``running``."""
        with self.conn:
            cur = self.conn.execute(
                "UPDATE matches SET status=?, winner=?, end_reason=?, outcome_json=?, error=NULL, "
                "worker=?, wall_s=?, finished_at=? WHERE key = ? AND status = 'running'",
                (
                    outcome.status,
                    outcome.winner,
                    outcome.end_reason,
                    json.dumps(outcome.to_dict()),
                    outcome.worker,
                    outcome.wall_s,
                    _now(),
                    outcome.key,
                ),
            )
            if cur.rowcount != 1:
                return False
            self.conn.executemany(
                "INSERT INTO seats(key, seat, name, agent_id, rank, score, forfeited, forfeit_reason, "
                "decisions, median_latency_ms, median_measured_ms, tokens, metrics_json, fallbacks, errors, "
                "timeouts, prompt_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        outcome.key,
                        s.seat,
                        s.name,
                        s.agent_id,
                        s.rank,
                        s.score,
                        int(s.forfeited),
                        s.forfeit_reason,
                        s.decisions,
                        s.median_latency_ms,
                        s.median_measured_ms,
                        s.tokens,
                        json.dumps(s.metrics),
                        s.fallbacks,
                        s.errors,
                        s.timeouts,
                        s.prompt_version,
                    )
                    for s in outcome.seats
                ],
            )
        return True

    def fail(self, key: str, error: str, max_attempts: int, count: bool = True) -> str:
        """A failed attempt: back to ``pending``, or ``failed`` after ``max_attempts`` failures.

        Args:
            key: the match.
            error: what went wrong.
            max_attempts: failures allowed.
            count: ``False`` for a failure that cannot be pinned on this match (a process pool
                broken by another match): the attempt is not counted.

        Returns:
            the new status.
        """
        with self.conn:
            row = self.conn.execute("SELECT failures, attempts FROM matches WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise KeyError(f"no match {key!r}")
            failures = row["failures"] + int(count)
            status = "failed" if failures >= max_attempts else "pending"
            attempts = row["attempts"] if count else max(row["attempts"] - 1, 0)
            self.conn.execute(
                "UPDATE matches SET status=?, failures=?, attempts=?, error=?, finished_at=? "
                "WHERE key = ? AND status = 'running'",
                (status, failures, attempts, error[:2000], _now() if status == "failed" else None, key),
            )
        return status

    # ------------------------------------------------------------------ queries

    def leaderboards(self) -> list[str]:
        """Names of the leaderboards in the store, most recently updated first."""
        rows = self.conn.execute("SELECT name FROM leaderboards ORDER BY updated_at DESC, name").fetchall()
        return [r["name"] for r in rows]

    def config_dict(self, leaderboard: str) -> dict[str, Any]:
        """The stored config of a leaderboard."""
        row = self.conn.execute(
            "SELECT config_json FROM leaderboards WHERE name = ?", (leaderboard,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no leaderboard {leaderboard!r} in {self.path}; stored: {self.leaderboards()}")
        return json.loads(row["config_json"])

    def participants(self, leaderboard: str) -> list[dict[str, Any]]:
        """The participants of a leaderboard (name, base, spec, latency, envs)."""
        rows = self.conn.execute(
            "SELECT name, base, spec, latency, envs FROM participants WHERE leaderboard = ? ORDER BY rowid",
            (leaderboard,),
        ).fetchall()
        return [{**dict(r), "envs": json.loads(r["envs"])} for r in rows]

    def status_counts(self, leaderboard: str | None = None) -> dict[str, int]:
        """How many scheduled matches are in each status."""
        counts = dict.fromkeys(STATUSES, 0)
        if leaderboard is None:
            rows = self.conn.execute("SELECT status, COUNT(*) AS n FROM matches GROUP BY status")
        else:
            rows = self.conn.execute(
                "SELECT m.status, COUNT(*) AS n FROM matches m JOIN schedule s ON s.key = m.key "
                "WHERE s.leaderboard = ? GROUP BY m.status",
                (leaderboard,),
            )
        for r in rows:
            counts[r["status"]] = r["n"]
        return counts

    def matches(self, leaderboard: str, statuses: Sequence[str] = STATUSES) -> list[dict[str, Any]]:
        """The leaderboard's matches in schedule order, with ``seats`` (and ``outcome`` once played)."""
        marks = ",".join("?" * len(statuses))
        rows = self.conn.execute(
            f"SELECT m.*, s.position FROM matches m JOIN schedule s ON s.key = m.key "
            f"WHERE s.leaderboard = ? AND m.status IN ({marks}) ORDER BY s.position",
            (leaderboard, *statuses),
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["params"] = json.loads(d.pop("params_json"))
            d["seats"] = json.loads(d.pop("seats_json"))
            d["outcome"] = json.loads(d.pop("outcome_json")) if d["outcome_json"] else None
            out.append(d)
        return out

    def task(self, row: dict[str, Any]) -> MatchTask:
        """Rebuild the :class:`MatchTask` of a match row (from :meth:`matches`)."""
        p = row["params"]
        return MatchTask(
            key=row["key"],
            env=row["env"],
            env_id=row["env_id"],
            seed=row["seed"],
            env_kwargs=p["env_kwargs"],
            mode=p["mode"],
            act_timeout_s=p["act_timeout_s"],
            max_decisions=p["max_decisions"],
            max_wall_s=p["max_wall_s"],
            seats=tuple(SeatTask(**s) for s in row["seats"]),
            position=row.get("position", 0),
            serve=p.get("serve", {}),
        )

    def seat_rows(self, leaderboard: str) -> list[dict[str, Any]]:
        """Every seat of every finished match of a leaderboard (with the match's env and status)."""
        rows = self.conn.execute(
            "SELECT st.*, m.env, m.seed, m.status, s.position FROM seats st "
            "JOIN matches m ON m.key = st.key JOIN schedule s ON s.key = m.key "
            "WHERE s.leaderboard = ? AND m.status IN ('done', 'forfeit') ORDER BY s.position, st.seat",
            (leaderboard,),
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["metrics"] = json.loads(d.pop("metrics_json"))
            d["forfeited"] = bool(d["forfeited"])
            out.append(d)
        return out
