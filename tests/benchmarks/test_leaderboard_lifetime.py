"""``kill -9`` of ``splitsecond leaderboard run`` leaves nothing running, and a stale server is replaced.

The first test runs the real command (embedded ``smollm2-135m`` server, two pool workers), kills
its process with SIGKILL mid-run and checks that every process it had started is gone: the server,
the workers and multiprocessing's resource tracker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitsecond.benchmarks.leaderboard.server import STATE_FILE, process_start_time, stop_stale_server

AGENTS = Path(__file__).resolve().parent / "leaderboard_test_agents.py"
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                out.setdefault(ppid, []).append(int(entry))
    return out


def _descendants(pid: int) -> dict[int, int | None]:
    """``{pid: start time}`` of every process below ``pid``."""
    tree, found, todo = _children(), {}, [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found[child] = process_start_time(child)
            todo.append(child)
    return found


def _running(pid: int, start: int | None) -> bool:
    if start is None or process_start_time(pid) != start:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")
    return ""


@pytest.mark.slow
def test_kill_9_of_a_run_takes_its_server_workers_and_tracker_along(tmp_path):
    config = tmp_path / "lb.toml"
    config.write_text(
        f"""
[leaderboard]
name = "kill"
seeds = [1, 2]
act_timeout_s = 20.0
save_replays = false
serve = "smollm2-135m"
serve_args = ["--num-kv-blocks", "16", "--max-num-seqs", "4", "--max-num-batched-tokens", "64"]

[envs.streetfighter]
round_seconds = 60
rounds_to_win = 1

[[agents]]
name = "sleeper"
spec = "{AGENTS}:Sleeper?seconds=0.5&base={{serve}}"

[[agents]]
name = "zoner"
spec = "zoner"
""",
        encoding="utf-8",
    )
    db = tmp_path / "run" / "results.sqlite"
    cmd = [sys.executable, "-c", "from splitsecond.cli import main; main()", "leaderboard", "run", str(config),
           "--db", str(db), "--workers", "2", "--no-report"]  # fmt: skip
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed in finally
    run = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[int, int | None] = {}
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and run.poll() is None:
            seen.update(_descendants(run.pid))
            workers = [p for p in seen if "spawn_main" in _cmdline(p)]
            tracker = [p for p in seen if "resource_tracker" in _cmdline(p)]
            if (db.parent / STATE_FILE).exists() and len(workers) >= 2 and tracker:
                break
            time.sleep(0.2)
        else:
            pytest.fail(
                f"the run did not get going: {(tmp_path / 'run.log').read_text(errors='replace')[-3000:]}"
            )
        time.sleep(1.0)  # matches in flight
        seen.update(_descendants(run.pid))
        server = json.loads((db.parent / STATE_FILE).read_text())["servers"][0]["pid"]
        assert server in seen and _running(server, seen[server])
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_running(p, s) for p, s in seen.items()):
            time.sleep(0.1)
        left = {p: _cmdline(p)[:120] for p, s in seen.items() if _running(p, s)}
        assert not left, f"still running after kill -9 of their run: {left}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        for pid, start in seen.items():
            if _running(pid, start):
                os.kill(pid, signal.SIGKILL)
        run.wait(timeout=10)
        log.close()


def _record(path: Path, pid: int, start: int | None, owner: int, owner_start: int | None) -> None:
    state = {"pid": pid, "start_time": start, "port": 1, "owner_pid": owner, "owner_start_time": owner_start}
    path.write_text(json.dumps(state), encoding="utf-8")


def test_a_stale_server_of_a_dead_run_is_stopped_and_a_live_runs_one_is_not(tmp_path):
    state = tmp_path / STATE_FILE
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_owner = int(finished.stdout)
    stale = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "serve", "fake"],
                             start_new_session=True)  # fmt: skip
    try:
        start = process_start_time(stale.pid)
        _record(state, stale.pid, start, os.getpid(), process_start_time(os.getpid()))
        with pytest.raises(RuntimeError, match="another leaderboard run"):
            stop_stale_server(state)  # its run (this process) is alive: not stale
        assert _running(stale.pid, start)

        _record(state, stale.pid, start, dead_owner, 12345)
        assert stop_stale_server(state, timeout_s=5.0) is True
        assert stale.wait(timeout=5) is not None and not state.exists()

        _record(state, stale.pid, start, dead_owner, 12345)  # a record of processes long gone
        assert stop_stale_server(state) is False and not state.exists()
        assert stop_stale_server(state) is False  # no record at all
    finally:
        if stale.poll() is None:
            stale.kill()
            stale.wait()


def test_the_stale_servers_of_a_dead_run_are_all_stopped(tmp_path):
    state = tmp_path / STATE_FILE
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    fakes = [
        subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)", "serve", name], start_new_session=True
        )
        for name in ("small", "big")
    ]
    try:
        starts = [process_start_time(f.pid) for f in fakes]
        record = {
            "owner_pid": int(finished.stdout),
            "owner_start_time": 12345,
            "servers": [
                {"name": n, "pid": f.pid, "start_time": s, "port": 1}
                for n, f, s in zip(("small", "big"), fakes, starts, strict=True)
            ],
        }
        state.write_text(json.dumps({**record, "owner_pid": os.getpid(),
                                     "owner_start_time": process_start_time(os.getpid())}))  # fmt: skip
        with pytest.raises(RuntimeError, match=f"{fakes[0].pid}, {fakes[1].pid}"):
            stop_stale_server(state)  # its run (this process) is alive
        state.write_text(json.dumps(record))
        assert stop_stale_server(state, timeout_s=5.0) is True
        assert all(f.wait(timeout=5) is not None for f in fakes) and not state.exists()
    finally:
        for f in fakes:
            if f.poll() is None:
                f.kill()
                f.wait()


def test_no_entries_start_nothing_and_a_taken_port_is_named(tmp_path):
    import socket

    from splitsecond.benchmarks.leaderboard.config import ServeEntry
    from splitsecond.benchmarks.leaderboard.server import embedded_servers

    with embedded_servers([], state_path=tmp_path / STATE_FILE) as bases:
        assert bases == {}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        entries = [ServeEntry("big", "qwen2.5-coder-1.5b", port=port)]
        with (
            pytest.raises(RuntimeError, match=f"serve entry 'big' .*port {port} is in use"),
            embedded_servers(entries, state_path=tmp_path / STATE_FILE),
        ):
            pytest.fail("no server may start on a taken port")
    assert not (tmp_path / STATE_FILE).exists()


def test_pool_workers_run_one_sleeping_openmp_thread():
    code = (
        "import logging, os\n"
        "from splitsecond.benchmarks.leaderboard.executors import _init_worker\n"
        "_init_worker(logging.ERROR, os.getppid())\n"
        "import torch\n"
        "print(torch.get_num_threads(), os.environ['OMP_NUM_THREADS'], os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1", "PASSIVE"]


def test_a_server_that_does_not_start_is_named_and_the_block_never_runs(tmp_path):
    from splitsecond.benchmarks.leaderboard.config import ServeEntry
    from splitsecond.benchmarks.leaderboard.server import embedded_servers

    entries = [
        ServeEntry("typo", "qwen2.5-coder-0.5bb", timeout_s=60),
        ServeEntry("big", "qwen2.5-coder-1.5b"),
    ]
    with (
        pytest.raises(
            RuntimeError, match=r"(?s)serve entry 'typo' \(qwen2.5-coder-0.5bb\) did not start.*unknown model"
        ),
        embedded_servers(entries, state_path=tmp_path / STATE_FILE),
    ):
        pytest.fail("the block must not run when a server fails to start")
    assert not (tmp_path / STATE_FILE).exists()
