"""A real network path with delay and loss between a benchmark and a server it starts.

The server runs in its own network namespace; every byte between it and the benchmark crosses a link
with a one-way delay of RTT / 2 in each direction and, optionally, random packet loss in each
direction (the kernel's TCP retransmits as it would on a real path). Two ways to build the link, tried
in this order by :func:`probe_network`:

- **netem**: a veth pair, ``tc qdisc ... netem delay D loss L%`` on both ends (needs the sch_netem
  kernel module);
- **tun-relay**: a TUN device on each side and a small relay process (``python -m
  splitsecond.benchmarks.netem relay``) that holds every IP packet for D before writing it to the other
  side, and drops L% of them (for kernels without netem, e.g. a Firecracker guest, where only
  namespaces and TUN work).

Both need root (CAP_NET_ADMIN). Where neither works the caller falls back to an in-process delay and
says so. :class:`NetLink` is a context manager: leaving it (also on an error, and on SIGTERM when the
caller turns that into ``SystemExit``) stops the relay and deletes the devices and the namespace;
:func:`remove_stale` deletes what a killed earlier run left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import random
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass

logger = logging.getLogger(__name__)

PREFIX = "ssnet"  # namespaces and devices of this module are named ssnet-<pid> / ssnh<n> / ssnn<n>
METHODS = ("netem", "tun-relay")

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_CLONE_NEWNET = 0x40000000
_TIMER_SLACK_S = 0.0005


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)


@dataclass(frozen=True)
class LinkConditions:
    """What the link does to traffic: ``rtt_ms`` (half in each direction) and ``loss_pct`` per direction."""

    rtt_ms: float = 0.0
    loss_pct: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.rtt_ms, int | float) or not 0 <= self.rtt_ms <= 10_000:
            raise ValueError(f"LinkConditions: rtt_ms must be in [0, 10000], got {self.rtt_ms!r}")
        if not isinstance(self.loss_pct, int | float) or not 0 <= self.loss_pct < 100:
            raise ValueError(f"LinkConditions: loss_pct must be in [0, 100), got {self.loss_pct!r}")

    @property
    def label(self) -> str:
        """E.g. ``rtt14`` or ``rtt14-loss1``."""
        return f"rtt{self.rtt_ms:g}" + (f"-loss{self.loss_pct:g}" if self.loss_pct else "")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Delete the namespaces of earlier runs whose process is gone (their devices go with them); returns
    their names."""
    r = _run(["ip", "netns", "list"])
    removed = []
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(f"{PREFIX}-"):
            continue
        pid = name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            _run(["ip", "netns", "del", name])
            removed.append(name)
    for dev in _run(["ip", "-o", "link", "show"]).stdout.splitlines():
        parts = dev.split(":")
        if len(parts) > 1:
            ifname = parts[1].strip().split("@")[0]
            if (
                ifname.startswith(("ssnh", "ssnn"))
                and ifname[4:].isdigit()
                and not _pid_alive(int(ifname[4:]))
            ):
                _run(["ip", "link", "del", ifname])
    return removed


def probe_network() -> tuple[str | None, str]:
    """The link method that works here ("netem", "tun-relay") or None, and why; tried on throwaway
    devices inside a throwaway namespace (the host's interfaces are never touched)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, "not root: network namespaces, tc and TUN devices need CAP_NET_ADMIN"
    missing = [t for t in ("ip", "tc") if shutil.which(t) is None]
    if missing:
        return None, f"{' and '.join(missing)} not installed"
    ns = f"{PREFIX}-probe-{os.getpid()}"
    try:
        r = _run(["ip", "netns", "add", ns])
        if r.returncode:
            return None, f"cannot create a network namespace: {r.stderr.strip()}"
        r = _run(["ip", "-n", ns, "link", "add", "ssp0", "type", "veth", "peer", "name", "ssp1"])
        netem_error = r.stderr.strip() if r.returncode else ""
        if not r.returncode:
            r = _run(
                ["tc", "-n", ns, "qdisc", "add", "dev", "ssp0", "root", "netem", "delay", "1ms", "loss", "1%"]
            )
            if not r.returncode:
                return "netem", "tc netem works on a veth pair between network namespaces"
            netem_error = r.stderr.strip()
        if not os.path.exists("/dev/net/tun"):
            return None, f"no tc netem ({netem_error}) and no /dev/net/tun"
        r = _run(["ip", "-n", ns, "tuntap", "add", "dev", "sst0", "mode", "tun"])
        if r.returncode:
            return None, f"no tc netem ({netem_error}) and no TUN device: {r.stderr.strip()}"
        return "tun-relay", f"tc netem unavailable ({netem_error}); TUN devices and namespaces work"
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"probe failed: {e}"
    finally:
        _run(["ip", "netns", "del", ns])


class NetLink:
    """A network namespace for a server, joined to this one by a link of ``method`` (see the module).

    ``server_ip`` is the server's address (inside the namespace), ``host_ip`` this side's;
    ``command_prefix()`` runs a command inside the namespace; ``set_conditions`` changes delay and loss
    while connections stay open. ``relay_cpus``: CPUs the tun relay is pinned to (None: any).
    """

    def __init__(self, method: str, relay_cpus: set[int] | None = None) -> None:
        if method not in METHODS:
            raise ValueError(f"NetLink: method must be one of {METHODS}, got {method!r}")
        pid = os.getpid()
        self.method = method
        self.relay_cpus = relay_cpus
        self.namespace = f"{PREFIX}-{pid}"
        self.host_if, self.ns_if = f"ssnh{pid}", f"ssnn{pid}"
        octet = 16 + pid % 200
        self.host_ip, self.server_ip = f"10.214.{octet}.1", f"10.214.{octet}.2"
        self.conditions = LinkConditions()
        self._relay: subprocess.Popen[str] | None = None

    def _check(self, cmd: list[str]) -> None:
        r = _run(cmd)
        if r.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")

    def __enter__(self) -> NetLink:
        ns = self.namespace
        try:
            self._check(["ip", "netns", "add", ns])
            self._check(["ip", "-n", ns, "link", "set", "lo", "up"])
            if self.method == "netem":
                self._check(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if,
                             "netns", ns])  # fmt: skip
                self._check(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if])
                self._check(["ip", "-n", ns, "addr", "add", f"{self.server_ip}/30", "dev", self.ns_if])
            else:
                self._check(["ip", "tuntap", "add", "dev", self.host_if, "mode", "tun"])
                self._check(["ip", "tuntap", "add", "dev", self.ns_if, "mode", "tun"])
                self._check(["ip", "link", "set", self.ns_if, "netns", ns])
                self._check(["ip", "addr", "add", self.host_ip, "peer", self.server_ip, "dev", self.host_if])
                self._check(["ip", "-n", ns, "addr", "add", self.server_ip, "peer", self.host_ip, "dev",
                             self.ns_if])  # fmt: skip
                self._start_relay()
            self._check(["ip", "link", "set", self.host_if, "up"])
            self._check(["ip", "-n", ns, "link", "set", self.ns_if, "up"])
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start_relay(self) -> None:
        cmd = [sys.executable, "-m", "splitsecond.benchmarks.netem", "relay", self.host_if, self.ns_if,
               self.namespace]  # fmt: skip
        if self.relay_cpus:
            cmd = ["taskset", "-c", ",".join(str(c) for c in sorted(self.relay_cpus)), *cmd]
        self._relay = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        line = self._relay.stdout.readline() if self._relay.stdout else ""
        if line.strip() != "ready":
            raise RuntimeError(f"the tun relay did not start (said {line.strip()!r})")

    def set_conditions(self, conditions: LinkConditions) -> None:
        """Delay each direction by ``rtt_ms / 2`` and drop ``loss_pct`` % of its packets."""
        if self.method == "netem":
            for prefix, dev in (([], self.host_if), (["-n", self.namespace], self.ns_if)):
                if conditions.rtt_ms > 0 or conditions.loss_pct > 0:
                    cmd = ["tc", *prefix, "qdisc", "replace", "dev", dev, "root", "netem", "delay",
                           f"{conditions.rtt_ms / 2:g}ms"]  # fmt: skip
                    if conditions.loss_pct:
                        cmd += ["loss", f"{conditions.loss_pct:g}%"]
                    self._check(cmd)
                else:
                    _run(["tc", *prefix, "qdisc", "del", "dev", dev, "root"])
        else:
            relay = self._relay
            if relay is None or relay.stdin is None or relay.stdout is None or relay.poll() is not None:
                raise RuntimeError("the tun relay is not running")
            relay.stdin.write(f"{conditions.rtt_ms / 2} {conditions.loss_pct}\n")
            relay.stdin.flush()
            if relay.stdout.readline().strip() != "ok":
                raise RuntimeError("the tun relay did not take the new conditions")
        self.conditions = conditions

    def command_prefix(self) -> list[str]:
        """Prefix that runs a command inside the server's namespace."""
        return ["ip", "netns", "exec", self.namespace]

    def __exit__(self, *exc: object) -> None:
        if self._relay is not None:
            if self._relay.poll() is None:
                self._relay.terminate()
                try:
                    self._relay.wait(5)
                except subprocess.TimeoutExpired:
                    self._relay.kill()
            self._relay = None
        _run(["ip", "link", "del", self.host_if])
        _run(["ip", "netns", "del", self.namespace])


# ---------------------------------------------------------------- the relay process


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    return fd


def _enter_namespace(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


async def _relay(host_fd: int, ns_fd: int) -> None:
    """Move packets between the two TUN devices, each held ``delay`` s and dropped with ``loss`` %; new
    "DELAY_S LOSS_PCT" lines on stdin change both (answered "ok")."""
    loop = asyncio.get_running_loop()
    state = {"delay": 0.0, "loss": 0.0}
    rng = random.Random(0)

    def write(fd: int, packet: bytes) -> None:
        with contextlib.suppress(
            OSError
        ):  # the device is going away, or its queue is full: lost, as on a wire
            os.write(fd, packet)

    def pump(src: int, dst: int) -> None:
        def readable() -> None:
            while True:
                try:
                    packet = os.read(src, 65536)
                except BlockingIOError:
                    return
                except OSError:
                    return
                if state["loss"] and rng.random() * 100 < state["loss"]:
                    continue
                if state["delay"] > 0:  # the loop's timers fire up to ~1 ms late: aim half a ms early
                    loop.call_later(max(0.0, state["delay"] - _TIMER_SLACK_S), write, dst, packet)
                else:
                    write(dst, packet)

        loop.add_reader(src, readable)

    pump(host_fd, ns_fd)
    pump(ns_fd, host_fd)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    while line := await reader.readline():
        delay, loss = (float(x) for x in line.split())
        state["delay"], state["loss"] = delay / 1000, loss
        print("ok", flush=True)


def relay_main(argv: list[str] | None = None) -> None:
    """``python -m splitsecond.benchmarks.netem relay HOST_IF NS_IF NAMESPACE`` (started by ``NetLink``)."""
    ap = argparse.ArgumentParser(description="Relay IP packets between two TUN devices with delay and loss.")
    ap.add_argument("command", choices=["relay"])
    ap.add_argument("host_if")
    ap.add_argument("ns_if")
    ap.add_argument("namespace")
    args = ap.parse_args(argv)
    with contextlib.suppress(OSError):
        os.nice(-10)  # packets leave on time even while the drafting core is busy
    host_fd = _open_tun(args.host_if)
    _enter_namespace(args.namespace)
    ns_fd = _open_tun(args.ns_if)
    asyncio.run(_relay(host_fd, ns_fd))


if __name__ == "__main__":
    relay_main()
