"""SplitSecond's cache folder on this machine (assembled models, prepared weights, file sums)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$SPLITSECOND_CACHE_DIR``, else ``$XDG_CACHE_HOME/splitsecond``, else ``~/.cache/splitsecond``."""
    explicit = os.environ.get("SPLITSECOND_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "splitsecond"
