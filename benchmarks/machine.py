"""Where a benchmark's numbers were measured: one description shared by every benchmark's JSON."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine_info(**extra: Any) -> dict[str, Any]:
    """CPU (with its vector ISA and native bf16), cores, load average, Python and platform, plus torch's
    version and threads when loaded.

    The 1-minute load average is recorded because these benchmarks often share a small machine:
    figures taken at a high load are slower than the machine is.
    """
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "avx512": "avx512f" in (flags := cpu_flags()),
        "native_bf16": bool(flags & {"avx512_bf16", "amx_bf16"}),
        "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    info.update(extra)
    return info
