"""Unit tests of the timing contract (splitsecond.envs.timing)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from splitsecond.envs.timing import (
    CLOCK_NAMES,
    Clock,
    ExplicitClock,
    FixedClock,
    TimedAction,
    WallClock,
    make_clock,
    ms_to_us,
)


def test_timed_action_accepts_finite_non_negative_latency() -> None:
    assert TimedAction(3, 0).latency_ms == 0
    assert TimedAction("x", 12.5).latency_ms == 12.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float32(50.0), 50.0),
        (np.float64(12.5), 12.5),
        (np.int64(3), 3.0),
        (np.uint8(7), 7.0),
        (np.float16(0), 0.0),
    ],
)
def test_timed_action_accepts_numpy_numbers(value: object, expected: float) -> None:
    ta = TimedAction(0, value)  # type: ignore[arg-type]
    assert ta.latency_ms == expected and type(ta.latency_ms) is float
    assert ExplicitClock().charge(ta) == (0, int(expected * 1000))


def test_numpy_float32_latency_rounds_like_its_decimal_value() -> None:
    assert ExplicitClock().charge(TimedAction(1, np.float32(16.6667))) == (1, 16_667)


@pytest.mark.parametrize(
    "bad",
    [
        -1,
        -0.001,
        math.inf,
        -math.inf,
        math.nan,
        "5",
        None,
        True,
        False,
        np.bool_(True),
        np.float32("nan"),
        np.int64(-1),
    ],
)
def test_timed_action_rejects_bad_latency(bad: object) -> None:
    with pytest.raises(ValueError, match="latency_ms"):
        TimedAction(0, bad)  # type: ignore[arg-type]


def test_timed_action_is_frozen() -> None:
    ta = TimedAction(1, 2.0)
    with pytest.raises(AttributeError):
        ta.latency_ms = 3.0  # type: ignore[misc]


def test_ms_to_us_rounds_to_nearest_microsecond() -> None:
    assert ms_to_us(0) == 0
    assert ms_to_us(1) == 1000
    assert ms_to_us(16.6667) == 16667
    assert ms_to_us(0.0004) == 0
    assert isinstance(ms_to_us(2.5), int)


def test_explicit_clock_uses_the_stated_latency_and_a_default_for_bare_actions() -> None:
    clock = ExplicitClock(default_ms=7)
    clock.observed()
    assert clock.charge(TimedAction(4, 33.0)) == (4, 33_000)
    assert clock.charge(5) == (5, 7_000)
    assert ExplicitClock().charge(1) == (1, 0)


def test_fixed_clock_ignores_the_stated_latency() -> None:
    clock = FixedClock(50)
    assert clock.charge(TimedAction(2, 999.0)) == (2, 50_000)
    assert clock.charge(3) == (3, 50_000)


def test_wall_clock_measures_real_time_and_ignores_claims() -> None:
    clock = WallClock()
    clock.observed()
    time.sleep(0.02)
    action, latency_us = clock.charge(TimedAction(9, 0.0))
    assert action == 9
    assert latency_us >= 19_000
    # Without observed() there is nothing to measure: zero.
    assert clock.charge(1) == (1, 0)


@pytest.mark.parametrize("bad", [-5, math.nan, math.inf])
def test_clocks_reject_invalid_latency(bad: float) -> None:
    with pytest.raises(ValueError):
        ExplicitClock(bad)
    with pytest.raises(ValueError):
        FixedClock(bad)
    with pytest.raises(ValueError):
        make_clock("fixed", bad)


def test_make_clock_by_name() -> None:
    assert isinstance(make_clock("wall"), WallClock)
    assert isinstance(make_clock("explicit", 3), ExplicitClock)
    assert make_clock("explicit", 3).default_us == 3000
    assert make_clock("fixed", 8).latency_us == 8000
    assert set(CLOCK_NAMES) == {"wall", "explicit", "fixed"}
    for name in CLOCK_NAMES:
        assert isinstance(make_clock(name), Clock)


def test_make_clock_passes_clock_objects_through() -> None:
    clock = FixedClock(1)
    assert make_clock(clock) is clock


def test_make_clock_errors_name_the_valid_set() -> None:
    with pytest.raises(ValueError, match="wall, explicit, fixed"):
        make_clock("sundial")
    with pytest.raises(TypeError, match="clock must be"):
        make_clock(42)  # type: ignore[arg-type]
