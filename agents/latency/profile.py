"""Latency profiles: how fast one model runs on one machine, kept in a small TOML file.

A profile states, for one (model, hardware, precision) triple::

    latency = rtt_ms + ttft_base_ms + ttft_per_token_ms * uncached_prompt_tokens
              + ttft_per_cached_token_ms * cached_prompt_tokens + tpot_ms * completion_tokens

``splitsecond calibrate`` measures a served model and writes one. Profiles are looked up by name
(the file stem) in, in order: the directories of ``$SPLITSECOND_PROFILE_PATH`` (``os.pathsep``
separated), ``~/.config/splitsecond/profiles`` and the profiles shipped in this package; a path to
a ``.toml`` file is accepted as well.

File format::

    [profile]
    name = "smollm2-135m-cpu"
    model = "smollm2-135m"
    hardware = "2-core x86_64 CPU"
    precision = "float32"
    source = "measured"          # or "estimate" (derived from published figures) / "manual" / "placeholder"
    created = "2025-01-01T00:00:00Z"
    notes = "..."

    [latency]
    rtt_ms = 1.0
    ttft_base_ms = 20.0
    ttft_per_token_ms = 0.5
    ttft_per_cached_token_ms = 0.05
    tpot_ms = 15.0
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

SOURCES = ("measured", "estimate", "manual", "placeholder")
PROFILE_PATH_ENV = "SPLITSECOND_PROFILE_PATH"
USER_PROFILE_DIR = Path("~/.config/splitsecond/profiles")


@dataclass(frozen=True)
class LatencyProfile:
    """The speed of one model on one machine (see the module docstring for the formula).

    Attributes:
        name: the profile's name (the file stem by convention).
        model: the served model's name.
        hardware: the machine, in words.
        precision: the weights' dtype / quantisation.
        rtt_ms: network and HTTP round trip of one request.
        ttft_base_ms: fixed part of the time to first token.
        ttft_per_token_ms: prefill cost of each prompt token not served from a cache.
        ttft_per_cached_token_ms: cost of each prompt token served from the prefix cache.
        tpot_ms: time per output token after the first.
        source: ``measured`` (by ``splitsecond calibrate``), ``estimate`` (derived from published
            hardware figures; the notes name them), ``manual`` or ``placeholder``.
        created: ISO-8601 timestamp of the measurement.
        notes: free text (fit quality, sample counts ...).
        fit: extra numbers kept from the calibration (r2, samples ...).
    """

    name: str
    model: str
    hardware: str
    precision: str
    rtt_ms: float
    ttft_base_ms: float
    ttft_per_token_ms: float
    ttft_per_cached_token_ms: float
    tpot_ms: float
    source: str = "manual"
    created: str = ""
    notes: str = ""
    fit: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("rtt_ms", "ttft_base_ms", "ttft_per_token_ms", "ttft_per_cached_token_ms", "tpot_ms"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"profile {self.name!r}: {key} must be a finite number >= 0, got {value!r}")
        if self.source not in SOURCES:
            raise ValueError(f"profile {self.name!r}: source must be one of {SOURCES}, got {self.source!r}")
        if not self.name:
            raise ValueError("profile name must not be empty")

    def latency_ms(
        self,
        prompt_tokens: int,
        cached_tokens: int,
        completion_tokens: int,
        requests: int = 1,
        rtt_ms: float | None = None,
    ) -> float:
        """Modelled latency of ``requests`` calls that together used these tokens.

        ``rtt_ms`` overrides the profile's round trip (e.g. a remote API instead of localhost).
        """
        if min(prompt_tokens, cached_tokens, completion_tokens, requests) < 0:
            raise ValueError("token counts and requests must be >= 0")
        uncached = max(0, prompt_tokens - cached_tokens)
        rtt = self.rtt_ms if rtt_ms is None else rtt_ms
        return (
            requests * (rtt + self.ttft_base_ms)
            + self.ttft_per_token_ms * uncached
            + self.ttft_per_cached_token_ms * min(cached_tokens, prompt_tokens)
            + self.tpot_ms * completion_tokens
        )

    def to_toml(self) -> str:
        """The profile as TOML text (the format in the module docstring)."""
        meta = {
            k: getattr(self, k)
            for k in ("name", "model", "hardware", "precision", "source", "created", "notes")
        }
        lines = ["[profile]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in meta.items()]
        lines += ["", "[latency]"]
        for k in ("rtt_ms", "ttft_base_ms", "ttft_per_token_ms", "ttft_per_cached_token_ms", "tpot_ms"):
            lines.append(f"{k} = {_toml_value(float(getattr(self, k)))}")
        if self.fit:
            lines += ["", "[fit]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in self.fit.items()]
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the profile to ``path`` (parent directories are created); returns the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_toml(), encoding="utf-8")
        return out

    def as_dict(self) -> dict:
        """The profile as a plain dict (for logs)."""
        return asdict(self)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(round(value, 6))
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def profile_from_toml(text: str, default_name: str = "") -> LatencyProfile:
    """Parse a profile from TOML text.

    Raises:
        ValueError: when a section or a key is missing or a value is invalid.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"invalid profile TOML: {exc}") from exc
    meta = data.get("profile", {})
    lat = data.get("latency")
    if not isinstance(lat, dict):
        raise ValueError("profile TOML needs a [latency] table")
    required = ("rtt_ms", "ttft_base_ms", "ttft_per_token_ms", "ttft_per_cached_token_ms", "tpot_ms")
    missing = [k for k in required if k not in lat]
    if missing:
        raise ValueError(
            f"profile [latency] misses {', '.join(missing)}; required keys: {', '.join(required)}"
        )
    return LatencyProfile(
        name=str(meta.get("name", default_name)),
        model=str(meta.get("model", "")),
        hardware=str(meta.get("hardware", "")),
        precision=str(meta.get("precision", "")),
        source=str(meta.get("source", "manual")),
        created=str(meta.get("created", "")),
        notes=str(meta.get("notes", "")),
        fit={k: v for k, v in data.get("fit", {}).items() if isinstance(v, int | float)},
        **{k: float(lat[k]) for k in required},
    )


def profile_dirs() -> list[Path]:
    """Directories searched for profiles by name, in order (see the module docstring)."""
    dirs = [Path(p).expanduser() for p in os.environ.get(PROFILE_PATH_ENV, "").split(os.pathsep) if p]
    dirs.append(USER_PROFILE_DIR.expanduser())
    dirs.append(Path(str(resources.files("splitsecond.agents.latency") / "profiles")))
    return dirs


def available_profiles() -> dict[str, Path]:
    """Every profile found by name, mapped to its file (earlier directories win)."""
    found: dict[str, Path] = {}
    for d in profile_dirs():
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                found.setdefault(f.stem, f)
    return found


def load_profile(name_or_path: str | os.PathLike[str]) -> LatencyProfile:
    """Load a profile by name (searched in :func:`profile_dirs`) or from a ``.toml`` path.

    Raises:
        ValueError: when no such profile exists (the message lists the available ones) or the
            file is invalid.
    """
    path = Path(name_or_path).expanduser()
    if not (path.suffix == ".toml" and path.is_file()):
        found = available_profiles()
        if str(name_or_path) not in found:
            names = ", ".join(sorted(found)) or "none"
            raise ValueError(f"unknown latency profile {str(name_or_path)!r}; available: {names}")
        path = found[str(name_or_path)]
    try:
        return profile_from_toml(path.read_text(encoding="utf-8"), default_name=path.stem)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
