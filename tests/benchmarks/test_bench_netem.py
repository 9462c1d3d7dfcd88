"""The benchmark's network path: link conditions, and (as root, where the kernel allows) a real link
between this process and a namespace with the delay it was given, cleaned up on exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from splitsecond.benchmarks.netem import LinkConditions, NetLink, probe_network, remove_stale


def test_link_conditions_validate_and_label() -> None:
    assert LinkConditions(14).label == "rtt14" and LinkConditions(14, 1).label == "rtt14-loss1"
    assert LinkConditions(2.5, 0.5).label == "rtt2.5-loss0.5"
    for bad in ({"rtt_ms": -1}, {"loss_pct": 100}, {"rtt_ms": "14"}):
        with pytest.raises(ValueError, match="LinkConditions"):
            LinkConditions(**bad)
    with pytest.raises(ValueError, match="method"):
        NetLink("carrier-pigeon")


def _echo_rtt_ms(link: NetLink, samples: int = 5) -> float:
    port = 39000 + os.getpid() % 1000
    code = (f"import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"s.bind(('{link.server_ip}',{port}));s.listen();c,_=s.accept()\n"
            "while (d:=c.recv(64)):\n    c.sendall(d)\n")  # fmt: skip
    server = subprocess.Popen([*link.command_prefix(), sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = socket.create_connection((link.server_ip, port), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(samples):
            t = time.perf_counter()
            conn.sendall(b"x" * 32)
            conn.recv(64)
            times.append(1000 * (time.perf_counter() - t))
        conn.close()
        return sorted(times)[len(times) // 2]
    finally:
        server.wait(10)


def test_a_real_link_delays_by_its_rtt_and_leaves_nothing_behind() -> None:
    method, why = probe_network()
    if method is None:
        pytest.skip(f"no real link here: {why}")
    remove_stale()
    with NetLink(method) as link:
        namespace = link.namespace
        link.set_conditions(LinkConditions(20.0))
        assert _echo_rtt_ms(link) >= 19.0  # never faster than the wire it emulates (slower when loaded)
        link.set_conditions(LinkConditions(0.0))
        assert link.conditions == LinkConditions(0.0)
    assert namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
