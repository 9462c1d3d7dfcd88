"""The ``auto`` KV tier policy (the engine's default): flash where the zone's folder is writable, the
zone sized from its free disk; recompute where no zone fits. Reachable from ``splitsecond serve``
(policy, size and I/O backend)."""

from __future__ import annotations

import os
import shutil

import pytest
from typer.testing import CliRunner

from splitsecond.serving import EngineConfig
from splitsecond.serving.kvtier.auto import AUTO_DISK_FRACTION, AUTO_MIN_ZONE_MB, auto_zone_mb, resolve_auto
from splitsecond.serving.kvtier.config import SwapTierConfig


def test_the_engine_default_is_auto_and_io_backend_is_configurable():
    config = EngineConfig()
    assert config.kv_swap_policy == "auto" and config.swap_tier_config().io_backend == "auto"
    assert EngineConfig(kv_swap_io_backend="posix").swap_tier_config().io_backend == "posix"
    with pytest.raises(ValueError, match="io_backend must be one of"):
        EngineConfig(kv_swap_io_backend="aio")


def test_auto_is_flash_sized_from_free_disk(tmp_path):
    free_mb = shutil.disk_usage(tmp_path).free // 2**20
    zone = tmp_path / "sub" / "kv.zone"  # a folder still to be made: its existing parent decides
    resolved = resolve_auto(SwapTierConfig(policy="auto", path=str(zone), size_mb=10**6))
    assert resolved.policy == "flash" and resolved.path == str(zone)
    assert resolved.size_mb == pytest.approx(free_mb * AUTO_DISK_FRACTION, rel=0.05)
    capped = resolve_auto(SwapTierConfig(policy="auto", path=str(zone), size_mb=128))
    assert capped.size_mb == 128 and capped.staging_mb <= 128
    assert resolve_auto(SwapTierConfig(policy="dram")).policy == "dram"  # only auto is resolved


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_auto_is_recompute_where_the_folder_is_not_writable(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o500)
    assert auto_zone_mb(locked / "kv.zone", 1024) == 0
    assert resolve_auto(SwapTierConfig(policy="auto", path=str(locked / "kv.zone"))).policy == "recompute"


def test_auto_is_recompute_under_a_file_or_without_room(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert auto_zone_mb(blocker / "kv.zone", 1024) == 0  # the nearest existing "folder" is a file
    assert auto_zone_mb(tmp_path / "kv.zone", AUTO_MIN_ZONE_MB - 1) == 0  # below the minimum
    assert resolve_auto(SwapTierConfig(policy="auto", path=str(blocker / "z"))).policy == "recompute"


def test_serve_passes_the_tier_options_to_the_engine(monkeypatch):
    import splitsecond.cli.serve as serve_cli
    from splitsecond.cli import _load_commands, app

    _load_commands()
    seen = {}
    monkeypatch.setattr(serve_cli, "_refuse_unservable", lambda model: None)
    monkeypatch.setattr(
        "splitsecond.serving.server.run_server",
        lambda engine, server, verifier=None: seen.update(engine=engine),
    )
    args = ["serve", "smollm2-135m", "--kv-swap-policy", "flash", "--kv-swap-io-backend", "posix",
            "--kv-swap-size-mb", "64", "--kv-dram-swap-mb", "32"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    engine = seen["engine"]
    assert (engine.kv_swap_policy, engine.kv_swap_io_backend, engine.kv_swap_size_mb) == (
        "flash",
        "posix",
        64,
    )
    assert engine.kv_dram_swap_mb == 32
    bad = CliRunner().invoke(app, ["serve", "smollm2-135m", "--kv-swap-io-backend", "aio"])
    assert bad.exit_code != 0 and "io_backend" in bad.output
