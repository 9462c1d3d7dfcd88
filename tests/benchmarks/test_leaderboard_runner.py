"""Running leaderboards on a process pool: resume without double counting, forfeits, dead workers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from splitsecond.benchmarks.leaderboard import (
    MatchFailed,
    MatchFinished,
    ResultsDB,
    RunFinished,
    RunStarted,
    config_from_dict,
    run_leaderboard,
    schedule,
)

AGENTS = Path(__file__).resolve().parent / "leaderboard_test_agents.py"


def make_config(agents: list[dict], seeds=(1, 2), **lb) -> object:
    return config_from_dict(
        {
            "leaderboard": {
                "name": "t",
                "seeds": list(seeds),
                "act_timeout_s": 5.0,
                "save_replays": False,
                **lb,
            },
            "envs": {"streetfighter": {"round_seconds": 3, "rounds_to_win": 1}},
            "agents": agents,
        }
    )


def seat_count(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT key || ':' || seat) FROM seats").fetchone()
    return rows[0], rows[1]


def test_resume_after_interruption_never_double_counts(tmp_path):
    cfg = make_config([{"spec": "rushdown"}, {"spec": "zoner"}, {"spec": "random", "latency": "fixed:50"}])
    tasks = schedule(cfg)
    assert len(tasks) == 12
    db = tmp_path / "r.sqlite"
    events = []
    first = run_leaderboard(cfg, db, workers=2, limit=5, on_event=events.append)
    assert first.played == 5 and first.status_counts["pending"] == 7
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sum(isinstance(e, MatchFinished) for e in events) == 5
    # a coordinator killed mid-run leaves rows 'running': mark two pending matches so
    with sqlite3.connect(db) as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM matches WHERE status='pending' LIMIT 2")]
        conn.executemany("UPDATE matches SET status='running', attempts=1 WHERE key=?", [(k,) for k in keys])
        done_before = {
            r[0]: r[1] for r in conn.execute("SELECT key, finished_at FROM matches WHERE status='done'")
        }
    second = run_leaderboard(cfg, db, workers=2)
    assert second.played == 7
    assert second.status_counts == {"pending": 0, "running": 0, "done": 12, "forfeit": 0, "failed": 0}
    assert seat_count(db) == (24, 24)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, finished_at FROM matches").fetchall()
        again = {k: f for k, f in rows if k in done_before}
        attempts = [r[0] for r in conn.execute("SELECT attempts FROM matches")]
    assert again == done_before  # finished matches were not played again
    assert attempts == [1] * 12
    third = run_leaderboard(cfg, db, workers=2)
    assert third.played == 0 and seat_count(db) == (24, 24)
    # --rerun plays everything again, still one row per seat
    fourth = run_leaderboard(cfg, db, workers=2, rerun=True)
    assert fourth.played == 12 and seat_count(db) == (24, 24)
    with ResultsDB(db) as store:
        assert {m["key"] for m in store.matches("t")} == {t.key for t in tasks}


def test_crashes_and_timeouts_lose_by_forfeit(tmp_path):
    cfg = make_config(
        [
            {"name": "crasher", "spec": f"{AGENTS}:Crasher"},
            {"name": "hanger", "spec": f"{AGENTS}:Hanger"},
            {"spec": "zoner"},
        ],
        seeds=(1,),
        act_timeout_s=0.5,
    )
    db = tmp_path / "f.sqlite"
    summary = run_leaderboard(cfg, db, workers=2)
    assert summary.played == 6 and summary.forfeits == 6
    with ResultsDB(db) as store:
        matches = {tuple(s["name"] for s in m["seats"]): m for m in store.matches("t")}
        seats = store.seat_rows("t")
    assert all(m["status"] == "forfeit" for m in matches.values())
    assert matches[("zoner", "crasher")]["winner"] == "zoner"
    assert matches[("hanger", "zoner")]["winner"] == "zoner"
    assert matches[("crasher", "hanger")]["winner"] is None  # both forfeit: a draw
    assert matches[("hanger", "crasher")]["winner"] is None
    reasons = {(r["key"], r["name"]): r["forfeit_reason"] for r in seats if r["forfeited"]}
    assert all(
        v.startswith("crash: RuntimeError: crasher blew up")
        for (_, n), v in reasons.items()
        if n == "crasher"
    )
    assert all(v == "timeout" for (_, n), v in reasons.items() if n == "hanger")
    assert not any(r["forfeited"] for r in seats if r["name"] == "zoner")


def test_dead_worker_is_retried_and_counted_once(tmp_path):
    marker = tmp_path / "killed-once"
    cfg = make_config(
        [
            {"name": "killer", "spec": f"{AGENTS}:KillOnce?marker={marker}"},
            {"spec": "zoner"},
            {"spec": "rushdown"},
        ],
        seeds=(1,),
    )
    db = tmp_path / "k.sqlite"
    events = []
    summary = run_leaderboard(cfg, db, workers=2, on_event=events.append)
    assert marker.exists()  # a worker process really died
    assert summary.failed_attempts >= 1 and summary.failed == 0
    assert summary.status_counts["done"] == 6 and summary.played == 6
    assert seat_count(db) == (12, 12)
    failures = [e for e in events if isinstance(e, MatchFailed)]
    assert all("died" in e.error for e in failures)


def test_a_worker_that_always_dies_ends_failed(tmp_path):
    marker = tmp_path / "m"
    cfg = make_config(
        [{"name": "killer", "spec": f"{AGENTS}:KillOnce?marker={marker}&always=true"}, {"spec": "zoner"}],
        seeds=(1,),
        max_attempts=1,
    )
    db = tmp_path / "a.sqlite"
    summary = run_leaderboard(cfg, db, workers=1)
    assert summary.failed == 2 and summary.status_counts["failed"] == 2 and summary.played == 0
    with ResultsDB(db) as store:
        rows = store.matches("t")
    assert all(r["failures"] == 1 and "died" in r["error"] for r in rows)
    assert seat_count(db) == (0, 0)


def test_bad_arguments():
    cfg = make_config([{"spec": "rushdown"}, {"spec": "zoner"}], seeds=(1,))
    with pytest.raises(ValueError, match="workers"):
        run_leaderboard(cfg, ":memory:", workers=0)
    with pytest.raises(ValueError, match="limit"):
        run_leaderboard(cfg, ":memory:", limit=-1)


def test_a_server_no_pending_match_needs_is_not_started(tmp_path):
    # an entry that would fail to start (no such model): the run only works if it is left alone
    data = {
        "leaderboard": {"name": "t", "seeds": [1], "act_timeout_s": 5.0, "save_replays": False},
        "serve": [{"name": "unused", "model": "no-such-model"}],
        "envs": {"streetfighter": {"round_seconds": 3, "rounds_to_win": 1}},
        "agents": [{"spec": "rushdown"}, {"spec": "zoner"}],
    }
    summary = run_leaderboard(config_from_dict(data), tmp_path / "s.sqlite", workers=2)
    assert summary.played == 2 and not (tmp_path / "server.json").exists()
