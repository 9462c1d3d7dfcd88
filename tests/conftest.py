"""Session-wide settings: the suite keeps its scratch state in one temporary folder and on loopback.

Set before any test module imports ray or matplotlib (both read these when they load):

* Ray: session files and sockets under ``RAY_TMPDIR`` (not ``/tmp/ray``), no usage-stats file in
  ``~/.ray``, and a local instance that listens on 127.0.0.1 only (Ray otherwise resolves loopback
  to the machine's network address). The Ray test also gives Ray a temporary ``HOME`` for the
  token it writes to ``~/.ray``.
* matplotlib: its config and font cache under ``MPLCONFIGDIR`` (not ``~/.config``, ``~/.cache``).

The folder is removed at the end of the session.

Under pytest-xdist (``scripts/test.sh`` runs one worker per core), each worker is pinned to its own
share of the cores before anything imports torch, so its engines, and the servers it starts (they
inherit the affinity), size their thread pools to that share: two workers never run four compute
threads on two cores. Tests are handed out a module at a time (a module's fixtures, a loaded model or a
server, are built once), and the modules that hold the ladder's larger models in memory go to one
worker as one unit, so no two of them run at the same time.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# A short path: Ray's unix sockets live under it and socket paths are limited to 107 bytes.
SCRATCH = tempfile.mkdtemp(prefix="splitsecond-tests-")
_SETTINGS = {
    "RAY_TMPDIR": os.path.join(SCRATCH, "ray"),
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_CONFIG_PATH": os.path.join(SCRATCH, "ray-usage.json"),
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # off: 127.0.0.1 stays loopback (see executors.py)
    "MPLCONFIGDIR": os.path.join(SCRATCH, "matplotlib"),
}


def _pin_xdist_worker() -> None:
    """Restrict this xdist worker (``gw<i>`` of ``PYTEST_XDIST_WORKER_COUNT``) to every n-th core."""
    worker, count = (
        os.environ.get("PYTEST_XDIST_WORKER"),
        int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")),
    )
    if not worker or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    share = cores[int(worker.removeprefix("gw")) % count :: count]
    if share:
        os.sched_setaffinity(0, share)
        os.environ["OMP_NUM_THREADS"] = str(len(share))


_pin_xdist_worker()
for _name, _value in _SETTINGS.items():
    os.environ[_name] = _value
os.makedirs(_SETTINGS["RAY_TMPDIR"], exist_ok=True)
os.makedirs(_SETTINGS["MPLCONFIGDIR"], exist_ok=True)


LARGE_MODELS = "large-models"
LARGE_MODEL_MODULES = {
    "tests/serving/test_ladder_models.py",  # the 1.5B model in float32, beside transformers
    "tests/serving/speculative/test_spec_qwen_draft.py",  # the 1.5B verifier and the 0.5B drafter
    "tests/serving/server/test_ladder_http_e2e.py",  # a server of the 0.5B model
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist hands out a module at a time, the large-model modules as one unit and first (xdist's
    own ``loadgroup`` marks are not applied under pytest 9, so the grouping is done here)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return LARGE_MODELS if module in LARGE_MODEL_MODULES else module

        def _assign_work_unit(self, node) -> None:
            if LARGE_MODELS in self.workqueue:  # the longest unit starts first, not last
                self.workqueue.move_to_end(LARGE_MODELS, last=False)
            super()._assign_work_unit(node)

    return ModuleScheduling(config, log)


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001 - pytest's hook signature
    """Remove the session's scratch folder."""
    shutil.rmtree(SCRATCH, ignore_errors=True)
