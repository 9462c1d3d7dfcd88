"""The rendering benchmark's logic at a tiny size (no timing assertions)."""

from __future__ import annotations

from splitsecond.benchmarks.streetfighter_render import scripted_match, time_frames


def test_time_frames_times_every_frame_and_counts_poses() -> None:
    replay = scripted_match(40)
    assert replay.final_frame >= 40 and replay.meta["decisions"]
    result = time_frames(replay, 30, show_hitboxes=True)
    assert result["frames"] == 30
    assert 0 < result["median_ms"] <= result["p90_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert sum(result["poses"].values()) == 60  # two fighters per frame
