"""Session-wide settings: the suite keeps its scratch state in one temporary folder and on loopback.

Set before any test module imports ray or matplotlib (both read these when they load):

* Ray: session files and sockets under ``RAY_TMPDIR`` (not ``/tmp/ray``), no usage-stats file in
  ``~/.ray``, and a local instance that listens on 127.0.0.1 only (Ray otherwise resolves loopback
  to the machine's network address). The Ray test also gives Ray a temporary ``HOME`` for the
  token it writes to ``~/.ray``.
* matplotlib: its config and font cache under ``MPLCONFIGDIR`` (not ``~/.config``, ``~/.cache``).

The folder is removed at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile

# A short path: Ray's unix sockets live under it and socket paths are limited to 107 bytes.
SCRATCH = tempfile.mkdtemp(prefix="splitsecond-tests-")
_SETTINGS = {
    "RAY_TMPDIR": os.path.join(SCRATCH, "ray"),
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_CONFIG_PATH": os.path.join(SCRATCH, "ray-usage.json"),
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # off: 127.0.0.1 stays loopback (see executors.py)
    "MPLCONFIGDIR": os.path.join(SCRATCH, "matplotlib"),
}
for _name, _value in _SETTINGS.items():
    os.environ[_name] = _value
os.makedirs(_SETTINGS["RAY_TMPDIR"], exist_ok=True)
os.makedirs(_SETTINGS["MPLCONFIGDIR"], exist_ok=True)


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001 - pytest's hook signature
    """Remove the session's scratch folder."""
    shutil.rmtree(SCRATCH, ignore_errors=True)
