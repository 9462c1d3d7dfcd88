"""Fixtures of the plan cache tests: a real redis-server on a free loopback port, and a store
fixture parametrised over SQLite and Redis so every store test runs against both."""

import os
import shutil
import socket
import subprocess
import time

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real ``redis-server`` for the session; skips with the reason when it cannot run."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; scripts/system-deps.sh)")
    try:
        import redis
    except ModuleNotFoundError:
        pytest.skip("the redis Python client is not installed (pip install redis)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.skip(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    client.close()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def store_spec(request, tmp_path):
    """``(kind, where)``: a fresh SQLite path or a fresh Redis namespace."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "plans.db")
    url = request.getfixturevalue("redis_url")
    return "redis", (url, f"test:{request.node.name}:{time.monotonic_ns()}")


def open_test_store(spec):
    """A store object for a :func:`store_spec` value (also usable in a child process)."""
    kind, where = spec
    if kind == "sqlite":
        from splitsecond.cache.stores import SQLiteStore

        return SQLiteStore(where)
    from splitsecond.cache.stores.redis import RedisStore

    url, namespace = where
    return RedisStore(url, namespace=namespace)


@pytest.fixture
def store(store_spec):
    """A fresh empty store (SQLite and Redis)."""
    s = open_test_store(store_spec)
    yield s
    s.clear()
    s.close()
