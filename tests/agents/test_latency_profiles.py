"""Latency profiles: TOML round trip, validation, lookup by name, the shipped profile."""

import pytest

from splitsecond.agents.latency import LatencyProfile, available_profiles, load_profile, profile_from_toml

PROFILE = LatencyProfile(
    name="lab-h100", model="openai/llama", hardware="H100 \"SXM\"", precision="bf16", rtt_ms=1.5,
    ttft_base_ms=12.0, ttft_per_token_ms=0.02, ttft_per_cached_token_ms=0.001, tpot_ms=6.5,
    source="measured", created="2025-01-01T00:00:00Z", notes="line one\nline two", fit={"r2": 0.99, "samples": 12},
)  # fmt: skip


def test_toml_round_trip(tmp_path):
    path = PROFILE.save(tmp_path / "sub" / "lab-h100.toml")
    assert load_profile(path) == PROFILE
    assert profile_from_toml(PROFILE.to_toml()) == PROFILE


def test_lookup_by_name_in_user_dirs(tmp_path, monkeypatch):
    PROFILE.save(tmp_path / "lab-h100.toml")
    monkeypatch.setenv("SPLITSECOND_PROFILE_PATH", str(tmp_path))
    assert "lab-h100" in available_profiles()
    assert load_profile("lab-h100") == PROFILE


def test_unknown_name_lists_available():
    with pytest.raises(ValueError, match="available"):
        load_profile("no-such-profile")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profile]\nname='x'\n", "needs a \\[latency\\] table"),
        ("[latency]\nrtt_ms=1\n", "misses"),
        (
            "[latency]\nrtt_ms=-1\nttft_base_ms=1\nttft_per_token_ms=1\nttft_per_cached_token_ms=1\ntpot_ms=1\n",
            "rtt_ms",
        ),
        (
            "[profile]\nname='x'\nsource='guess'\n[latency]\nrtt_ms=1\nttft_base_ms=1\nttft_per_token_ms=1\nttft_per_cached_token_ms=1\ntpot_ms=1\n",
            "source",
        ),
        ("not toml [", "invalid profile TOML"),
    ],
)
def test_invalid_profiles_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        profile_from_toml(text, default_name="x")


def test_shipped_profiles_load_and_say_their_source():
    shipped = available_profiles()
    assert "smollm2-135m-cpu" in shipped
    for name in shipped:
        profile = load_profile(name)
        assert profile.source in ("measured", "estimate", "manual", "placeholder")
        assert profile.tpot_ms > 0
