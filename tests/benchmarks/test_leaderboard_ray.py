"""A leaderboard on a local Ray instance: every match recorded once, a dead worker retried, and Ray
on loopback with its files in the session's scratch folder (``tests/conftest.py``)."""

from __future__ import annotations

import http.server
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from splitsecond.benchmarks.leaderboard import RayBackend, config_from_dict, run_leaderboard

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'splitsecond[distributed]')")

AGENTS = Path(__file__).resolve().parent / "leaderboard_test_agents.py"


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One local Ray instance (2 CPUs, its own backend) for the module's runs, which reuse it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(tmp_path_factory.mktemp("home")))  # Ray writes its auth token to ~/.ray
        backend = RayBackend("local", workers=2)
        try:
            yield backend
        finally:
            backend.close()


@pytest.mark.slow
def test_ray_local_run_with_a_dying_worker(tmp_path, local_ray):
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
    assert local_ray.started_here and ray.cluster_resources().get("CPU") == 2
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    assert (Path(os.environ["RAY_TMPDIR"]) / "ray" / "session_latest").exists()  # not /tmp/ray
    summary = run_leaderboard(cfg, db, ray_address="local", workers=2)  # reuses the instance
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


@pytest.mark.slow
def test_ray_workers_register_apc_and_a_failing_endpoint_stops_the_run(tmp_path, local_ray):
    import importlib.util

    from splitsecond.benchmarks.leaderboard.worker import EndpointDown

    spec = importlib.util.spec_from_file_location(
        "lb_endpoints", AGENTS.parent / "test_leaderboard_endpoints.py"
    )
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    _BrokenModel, make_config = helpers._BrokenModel, helpers.make_config

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BrokenModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = tmp_path / "providers.txt"
    cfg = config_from_dict(
        make_config(
            f"apc/openai/smollm2-135m@http://127.0.0.1:{server.server_address[1]}/v1?thinking=reflex",
            [{"name": "probe", "spec": f"{AGENTS}:ProviderProbe?out={probe}", "latency": "fixed:50"}],
            name="cached",
        )
    )
    try:
        with pytest.raises(EndpointDown, match="agent 'cached': its first 3 decisions all failed") as info:
            run_leaderboard(cfg, tmp_path / "ray-apc.sqlite", ray_address="local", workers=1)
    finally:
        server.shutdown()
    assert "LLM Provider NOT provided" not in str(info.value)
    assert "apc" in probe.read_text(encoding="utf-8").split(",")
