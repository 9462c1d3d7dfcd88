"""The calibration fit recovers known coefficients; negative ones are clamped and refitted."""

import pytest

from splitsecond.agents.calibrate import CalibrationConfig, Sample, fit_latency


def synthetic(intercept, per_token, per_cached, tpot, noise=0.0):
    out = []
    k = 0
    for prompt in (20, 150, 600, 1200):
        for cached in (0, prompt // 2):
            for completion in (1, 16, 48):
                k += 1
                jitter = noise * ((k * 7919) % 11 - 5) / 5
                latency = (
                    intercept
                    + per_token * (prompt - cached)
                    + per_cached * cached
                    + tpot * completion
                    + jitter
                )
                out.append(Sample("x", prompt, cached, completion, latency))
    return out


def test_fit_recovers_coefficients():
    coef, r2 = fit_latency(synthetic(25.0, 0.4, 0.03, 18.0))
    assert coef["intercept"] == pytest.approx(25.0)
    assert coef["per_token"] == pytest.approx(0.4)
    assert coef["per_cached_token"] == pytest.approx(0.03)
    assert coef["tpot"] == pytest.approx(18.0)
    assert r2 == pytest.approx(1.0)


def test_fit_with_noise_is_close():
    coef, r2 = fit_latency(synthetic(25.0, 0.4, 0.03, 18.0, noise=2.0))
    assert coef["per_token"] == pytest.approx(0.4, abs=0.01)
    assert coef["tpot"] == pytest.approx(18.0, abs=0.2)
    assert 0.99 < r2 <= 1.0


def test_negative_coefficients_are_fixed_at_zero():
    coef, _ = fit_latency(synthetic(25.0, 0.4, -0.05, 18.0))
    assert coef["per_cached_token"] == 0.0
    assert all(v >= 0 for v in coef.values())


def test_config_validation():
    with pytest.raises(ValueError):
        CalibrationConfig(model="")
    with pytest.raises(ValueError):
        CalibrationConfig(model="m", prompt_words=(10,))
    with pytest.raises(ValueError):
        CalibrationConfig(model="m", repeats=0)
    with pytest.raises(ValueError):
        fit_latency([Sample("x", 1, 0, 1, 1.0)])
    assert CalibrationConfig.quick("m").repeats == 2
