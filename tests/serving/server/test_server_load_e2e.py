"""End-to-end: a client that goes away frees its KV blocks; a full queue answers 429, not a collapse.

The shared server (conftest.py) batches at most 4 sequences and queues at most 4 requests, so a
burst of 16 overflows at once.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m"
LONG = {"max_tokens": 400, "ignore_eos": True, "temperature": 0}


def _metrics(server) -> dict[str, float]:
    text = httpx.get(server.base_url + "/metrics", headers=server.headers(), timeout=10).text
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = sorted((k, v) for k, v in s.labels.items() if k != "model_name")
            key = s.name + (str(labels) if labels else "")
            out[key] = s.value
    return out


def _wait_idle(server, timeout_s=20.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    m = _metrics(server)
    while time.monotonic() < deadline:
        m = _metrics(server)
        if (
            m["splitsecond_num_requests_running"] == 0
            and m["splitsecond_num_requests_waiting"] == 0
            and m["splitsecond_kv_cache_free_blocks"] == m["splitsecond_kv_cache_total_blocks"]
        ):
            return m
        time.sleep(0.1)
    raise AssertionError(f"engine never went idle: {m}")


def _aborts(m) -> float:
    return m.get("splitsecond_request_finish_total[('finish_reason', 'abort')]", 0.0)


def _busy(m) -> bool:
    return (
        m["splitsecond_num_requests_running"] > 0
        or m["splitsecond_kv_cache_free_blocks"] < m["splitsecond_kv_cache_total_blocks"]
    )


def test_disconnect_mid_stream_frees_blocks(server):
    before = _aborts(_wait_idle(server))
    body = {"model": MODEL, "prompt": "Count with me: one, two, three,", "stream": True, **LONG}
    with (
        httpx.Client(timeout=30, headers=server.headers()) as c,
        c.stream("POST", server.api_base + "/completions", json=body) as r,
    ):
        assert r.status_code == 200
        lines = r.iter_lines()  # held: dropping the iterator would close the connection
        got = 0
        while got < 3:
            got += next(lines).startswith("data: {")
        assert _busy(_metrics(server))  # still generating while we hold the stream
        next(lines)
    # Leaving the block closed the connection mid-stream.
    m = _wait_idle(server)
    assert _aborts(m) == before + 1


def test_disconnect_while_waiting_for_a_non_streamed_answer(server):
    before = _aborts(_wait_idle(server))
    body = {"model": MODEL, "prompt": "Tell me a long story.", **LONG}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            server.api_base + "/completions",
            json=body,
            headers=server.headers(),
            timeout=httpx.Timeout(30, read=0.5),
        )
    m = _wait_idle(server)
    assert _aborts(m) == before + 1


def test_full_queue_answers_429_with_retry_after(server):
    _wait_idle(server)

    async def one(c: httpx.AsyncClient, i: int) -> httpx.Response:
        body = {"model": MODEL, "prompt": f"Request {i}: list numbers", "max_tokens": 16, "ignore_eos": True}
        return await c.post(server.api_base + "/completions", json=body)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, headers=server.headers()) as c:
            return await asyncio.gather(*(one(c, i) for i in range(16)))

    responses = asyncio.run(burst())
    codes = sorted(r.status_code for r in responses)
    assert 200 in codes and 429 in codes, codes
    assert set(codes) <= {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 0
    err = limited.json()["error"]
    assert err["type"] == "rate_limit_error" and err["code"] == "engine_overloaded"
    # The server is still healthy and serves the next request.
    ok = httpx.post(
        server.api_base + "/completions",
        json={"model": MODEL, "prompt": "hi", "max_tokens": 2},
        headers=server.headers(),
        timeout=60,
    )
    assert ok.status_code == 200
    _wait_idle(server)
