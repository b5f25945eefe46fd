"""Deterministic numerics: as accurate as numpy/scipy's own functions (their bits per CPU: test_data_determinism)."""
import numpy as np
import pytest
import scipy.ndimage
import scipy.signal

from gesturegen import numerics as nx

RNG = np.random.default_rng(0)


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want) / np.spacing(np.abs(want))))


@pytest.mark.parametrize("ours, theirs, x", [
    (nx.exp, np.exp, np.concatenate([RNG.uniform(-30, 30, 50_000), RNG.uniform(-700, 700, 5000)])),
    (nx.log, np.log, np.exp(RNG.uniform(-700, 700, 50_000))),
    (nx.log10, np.log10, np.exp(RNG.uniform(-700, 700, 50_000))),
    (nx.sin, np.sin, np.concatenate([RNG.uniform(-10, 10, 50_000), RNG.uniform(-3000, 3000, 5000)])),
    (nx.cos, np.cos, np.concatenate([RNG.uniform(-10, 10, 50_000), RNG.uniform(-3000, 3000, 5000)])),
    (nx.atan, np.arctan, np.concatenate([RNG.uniform(-4, 4, 50_000), RNG.uniform(-1e6, 1e6, 5000)])),
    (nx.arccos, np.arccos, RNG.uniform(-1, 1, 50_000)),
])
def test_elementary_functions_are_within_a_few_ulp(ours, theirs, x):
    assert _ulps(ours(x), theirs(x)) <= 3


def test_special_values():
    np.testing.assert_array_equal(nx.exp([0.0, -np.inf, np.inf, -800.0, 800.0]), [1.0, 0.0, np.inf, 0.0, np.inf])
    np.testing.assert_array_equal(nx.log([1.0, 0.0, np.inf]), [0.0, -np.inf, np.inf])
    assert np.isnan(nx.log([-1.0, np.nan])).all() and np.isnan(nx.sin([np.inf, np.nan])).all()
    np.testing.assert_allclose(nx.arccos([-1.0, 0.0, 1.0]), [np.pi, np.pi / 2, 0.0], atol=1e-15)
    np.testing.assert_allclose(nx.atan([np.inf, -np.inf]), [np.pi / 2, -np.pi / 2])


def test_small_products_match_numpy():
    a, b, v = RNG.standard_normal((50, 3, 3)), RNG.standard_normal((50, 3, 3)), RNG.standard_normal((50, 3))
    np.testing.assert_allclose(nx.matmul3(a, b), a @ b, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(nx.matvec3(a, v), np.einsum("tij,tj->ti", a, v), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(nx.matvec3(a, v[0]), a @ v[0], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(nx.norm3(v), np.linalg.norm(v, axis=-1), rtol=1e-15)


def test_standard_normal_is_normal_and_reproducible():
    z = nx.standard_normal(np.random.default_rng(3), (400, 500))
    assert z.shape == (400, 500)
    np.testing.assert_array_equal(z, nx.standard_normal(np.random.default_rng(3), (400, 500)))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(z ** 4) - 3) < 0.05 and abs(np.mean(np.abs(z) > 3) - 0.0027) < 0.001
    assert nx.standard_normal(np.random.default_rng(3), (3,)).shape == (3,)


@pytest.mark.parametrize("mode", ["nearest", "wrap", "reflect"])
def test_gaussian_filter_matches_scipy(mode):
    x = RNG.standard_normal((300, 4))
    for sigma in (0.8, 3.3, 17.5):
        np.testing.assert_allclose(nx.gaussian_filter1d(x, sigma, axis=0, mode=mode),
                                   scipy.ndimage.gaussian_filter1d(x, sigma, axis=0, mode=mode), atol=1e-14)


def test_power_spectrum_matches_the_fft():
    for n in (4, 16, 1024):
        x = RNG.standard_normal((2, 3, n))
        want = np.abs(np.fft.rfft(x)) ** 2
        np.testing.assert_allclose(nx.power_spectrum(x), want, rtol=1e-11, atol=1e-11 * want.max())
    np.testing.assert_allclose(nx.hann(1024), scipy.signal.get_window("hann", 1024), atol=1e-15)
    with pytest.raises(ValueError, match="power of two"):
        nx.power_spectrum(np.zeros((2, 1000)))


def test_resampler_keeps_the_passband_and_removes_aliases():
    sr_in, sr_out = 22050, 16000
    t = np.arange(sr_in) / sr_in
    y = nx.resample(np.sin(2 * np.pi * 1000 * t), sr_in, sr_out)
    assert len(y) == sr_out
    mid = y[2000:-2000]
    ref = np.sin(2 * np.pi * 1000 * np.arange(sr_out)[2000:-2000] / sr_out)
    assert np.abs(mid - ref).max() < 2e-3                      # in band: amplitude and phase kept
    alias = nx.resample(np.sin(2 * np.pi * 9000 * t), sr_in, sr_out)[2000:-2000]
    assert np.sqrt(np.mean(alias ** 2)) < 1e-4                 # 9 kHz would fold to 7 kHz: >= 77 dB down
    np.testing.assert_array_equal(nx.resample(y, sr_out, sr_out), y)
