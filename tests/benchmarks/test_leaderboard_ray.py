"""A leaderboard on a local Ray instance: every match recorded once, a dead worker retried, and Ray
on loopback with its files in the session's scratch folder (``tests/conftest.py``)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from splitsecond.benchmarks.leaderboard import RayBackend, config_from_dict, run_leaderboard

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'splitsecond[distributed]')")

AGENTS = Path(__file__).resolve().parent / "leaderboard_test_agents.py"


@pytest.mark.slow
def test_ray_local_run_with_a_dying_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # Ray writes its auth token to ~/.ray
    marker = tmp_path / "killed"
    cfg = config_from_dict(
        {
            "leaderboard": {"name": "r", "seeds": [1], "act_timeout_s": 5.0, "save_replays": False},
            "envs": {"streetfighter": {"round_seconds": 3, "rounds_to_win": 1}},
            "agents": [
                {"spec": "rushdown"},
                {"spec": "zoner"},
                {"name": "killer", "spec": f"{AGENTS}:KillOnce?marker={marker}"},
            ],
        }
    )
    db = tmp_path / "ray.sqlite"
    backend = RayBackend("local", workers=2)  # the backend's own local instance, reused by the run
    try:
        assert backend.started_here and ray.cluster_resources().get("CPU") == 2
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        assert (Path(os.environ["RAY_TMPDIR"]) / "ray" / "session_latest").exists()  # not /tmp/ray
        summary = run_leaderboard(cfg, db, ray_address="local", workers=2)
    finally:
        backend.close()
    assert summary.backend == "ray"
    assert marker.exists()
    assert summary.played == 6 and summary.status_counts["done"] == 6
    # the death is pinned on the one match that caused it (Ray runs each match as its own task)
    assert summary.failed_attempts == 1
    with sqlite3.connect(db) as conn:
        n, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT key || ':' || seat) FROM seats"
        ).fetchone()
        failures = sorted(r[0] for r in conn.execute("SELECT failures FROM matches"))
    assert n == distinct == 12
    assert failures == [0, 0, 0, 0, 0, 1]
