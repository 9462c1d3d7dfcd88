"""A composed run survives its components dying: the server, an edge and Redis are each killed during a
short run on SmolLM2-135M; each is restarted once, the matches in flight are replayed (never scored
twice, never as losses), and a component that dies past ``max_restarts`` stops the run with a clear
message, leaving the unplayed matches pending and nothing running."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from splitsecond.benchmarks.leaderboard import config_from_dict, run_leaderboard
from splitsecond.benchmarks.leaderboard.server import STATE_FILE, process_start_time
from splitsecond.benchmarks.leaderboard.stack_runtime import STACK_DIR, STATS_FILE, StackDown

pytestmark = pytest.mark.slow


def make_config(max_restarts: int = 1, seeds=(1, 2)) -> object:
    return config_from_dict(
        {
            "leaderboard": {
                "name": "kill",
                "seeds": list(seeds),
                "act_timeout_s": 60.0,
                "save_replays": False,
                "max_decisions": 8,
            },
            "serve": [{"name": "small", "model": "smollm2-135m", "args": ["--num-threads", "1"]}],
            "envs": {"streetfighter": {"round_seconds": 3, "rounds_to_win": 1}},
            "stack": {
                "max_restarts": max_restarts,
                "health_interval_s": 1.0,
                "servers": {"small": {"kv_tier": "flash", "zone_size_mb": 64, "num_kv_blocks": 160}},
                "edges": {"e": {"server": "small", "draft": "suffix", "rtt_ms": 2}},
                "plan_cache": {"store": "redis"},
            },
            "agents": [
                {
                    "name": "direct",
                    "spec": "openai/smollm2-135m@{serve:small}?thinking=reflex&prompt=compact",
                },
                {"name": "edged", "spec": "apc/openai/smollm2-135m@{edge:e}?thinking=reflex&prompt=compact"},
                {"spec": "zoner"},
            ],
        }
    )


def _pids(state: Path) -> dict[str, int]:
    try:
        data = json.loads(state.read_text())
    except (OSError, ValueError):
        return {}
    return {s["name"]: s["pid"] for s in data.get("servers", [])}


def _running(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5.0) as conn:
            return conn.execute("SELECT COUNT(*) FROM matches WHERE status = 'running'").fetchone()[0]
    except sqlite3.Error:
        return 0


class Killer(threading.Thread):
    """Kills the named components one after the other, each while a match is being played (and
    after the previous kill's restart is done)."""

    def __init__(self, db: Path, names: list[str]) -> None:
        super().__init__(daemon=True)
        self.db, self.names, self.killed = db, names, []
        self.state = db.parent / STATE_FILE
        self.stop = threading.Event()

    def run(self) -> None:
        seen: set[int] = set()
        for name in self.names:
            while not self.stop.is_set():
                pid = _pids(self.state).get(name)
                if pid is not None and pid not in seen and _running(self.db) and process_start_time(pid):
                    time.sleep(1.0)  # mid-match
                    os.kill(pid, signal.SIGKILL)
                    seen.add(pid)
                    self.killed.append(name)
                    break
                time.sleep(0.2)
            seen |= set(_pids(self.state).values())
            while not self.stop.is_set() and _pids(self.state).get(name) in seen:  # wait for its restart
                time.sleep(0.2)
            seen = set()


def test_each_component_killed_mid_run_is_restarted_and_its_matches_replayed(tmp_path):
    db = tmp_path / "results.sqlite"
    config = make_config()
    killer = Killer(db, ["server small", "edge e#0", "redis"])
    killer.start()
    try:
        summary = run_leaderboard(config, db, workers=2, poll_s=0.1)
    finally:
        killer.stop.set()
    assert killer.killed == ["server small", "edge e#0", "redis"]
    assert (
        "server small" in summary.restarts and "edge e#0" in summary.restarts and "redis" in summary.restarts
    )
    assert summary.replayed >= 1
    with sqlite3.connect(db) as conn:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM matches GROUP BY status").fetchall())
        seats, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT key || ':' || seat) FROM seats"
        ).fetchone()
        errors = conn.execute("SELECT COALESCE(SUM(errors), 0) FROM seats").fetchone()[0]
    assert statuses.get("done", 0) + statuses.get("forfeit", 0) == summary.scheduled == summary.played
    assert seats == distinct == 2 * summary.scheduled  # nothing counted twice
    assert errors == 0  # no match was scored on fallbacks from a dead component
    with sqlite3.connect(db) as conn:
        outcomes = [json.loads(r[0]) for r in conn.execute("SELECT outcome_json FROM matches")]
    edged = [s for o in outcomes for s in o["seats"] if s["name"] == "edged"]
    # the server's prefix-cache hits reach the latency model through the plan cache layer and the edge
    assert sum(s["cached_tokens"] for s in edged) > 0 and all(s["measured_ms"] for s in edged)
    stats = json.loads((tmp_path / STACK_DIR / STATS_FILE).read_text())
    assert stats["server small"]["restarts"] == 1 and len(stats["server small"]["logs"]) == 2
    assert all(Path(p).is_file() for row in stats.values() for p in row["logs"])
    assert not (tmp_path / STACK_DIR / "small.zone").exists()  # the zone it made is removed
    assert not any(process_start_time(pid) for pid in _pids(db.parent / STATE_FILE).values())


def test_a_component_that_dies_past_max_restarts_stops_the_run(tmp_path):
    db = tmp_path / "results.sqlite"
    killer = Killer(db, ["server small"])
    killer.start()
    started = time.monotonic()
    try:
        with pytest.raises(StackDown, match=r"server small exited with code -9 again after 0 restart\(s\)"):
            run_leaderboard(make_config(max_restarts=0, seeds=(1,)), db, workers=2, poll_s=0.1)
    finally:
        killer.stop.set()
    assert time.monotonic() - started < 240
    with sqlite3.connect(db) as conn:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM matches GROUP BY status").fetchall())
    assert (
        statuses.get("pending", 0) >= 1 and statuses.get("running", 0) == 0 and statuses.get("failed", 0) == 0
    )
    assert not (db.parent / STATE_FILE).exists()
