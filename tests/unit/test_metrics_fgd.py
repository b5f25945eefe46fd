import json
import pickle
import warnings

import numpy as np
import pytest

from gesturegen.metrics import fgd
from gesturegen.metrics.fgd import (
    FALLBACK_FGD,
    FGDResult,
    feature_distance,
    frechet_distance,
    frechet_distance_from_moments,
)


def test_fgd_of_identical_sets_is_zero():
    x = np.random.default_rng(0).standard_normal((500, 8))
    assert abs(frechet_distance(x, x)) < 1e-6


def test_one_dimensional_gaussians_exact_moments():
    # N(0, 1) vs N(1, 4): 1 + 1 + 4 - 2 * 2 = 2 (metrics.md §2.6)
    assert frechet_distance_from_moments(0.0, 1.0, 1.0, 4.0) == pytest.approx(2.0, abs=1e-12)


def test_one_dimensional_gaussians_sampled():
    rng = np.random.default_rng(1)
    real = rng.normal(0.0, 1.0, (200_000, 1))
    gen = rng.normal(1.0, 2.0, (200_000, 1))
    assert frechet_distance(real, gen) == pytest.approx(2.0, abs=0.05)


def test_diagonal_covariances_closed_form():
    mu_r, mu_g = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    var_r, var_g = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((mu_r - mu_g) ** 2) + np.sum((np.sqrt(var_r) - np.sqrt(var_g)) ** 2)
    got = frechet_distance_from_moments(mu_r, np.diag(var_r), mu_g, np.diag(var_g))
    assert got == pytest.approx(expected, abs=1e-10)
    assert not got.fallback and not got.regularized


def test_result_is_a_float_with_flags():
    x = np.random.default_rng(2).standard_normal((50, 4))
    r = frechet_distance(x, x + 1.0)
    assert isinstance(r, float) and r == pytest.approx(4.0, abs=1e-6)
    assert json.loads(json.dumps({"fgd": r}))["fgd"] == pytest.approx(float(r))
    r2 = pickle.loads(pickle.dumps(r))
    assert float(r2) == float(r) and r2.fallback is False and r.value == float(r)


def test_no_scipy_deprecation_warning():
    x = np.random.default_rng(3).standard_normal((40, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        frechet_distance(x, 2 * x)


def test_rank_deficient_covariances_stay_finite():
    rng = np.random.default_rng(4)
    r = frechet_distance(rng.standard_normal((5, 20)), rng.standard_normal((6, 20)))
    assert np.isfinite(r) and r > 0


def test_non_finite_sqrtm_retries_with_offset(monkeypatch):
    calls = []
    real_sqrtm = fgd._sqrtm

    def flaky(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(fgd, "_sqrtm", flaky)
    r = frechet_distance_from_moments(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))
    assert r.regularized and not r.fallback and r == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(calls[1], (1 + 1e-6) ** 2 * np.eye(2))


def test_large_imaginary_part_gives_published_fallback(monkeypatch):
    monkeypatch.setattr(fgd, "_sqrtm", lambda a: a.astype(complex) + 0.5j * np.eye(len(a)))
    r = frechet_distance_from_moments(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))
    assert r.fallback and float(r) == FALLBACK_FGD and r.max_imag == pytest.approx(0.5)


def test_small_imaginary_part_is_dropped(monkeypatch):
    monkeypatch.setattr(fgd, "_sqrtm", lambda a: a.astype(complex) + 1e-4j * np.eye(len(a)))
    r = frechet_distance_from_moments(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))
    assert not r.fallback and r == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_raise(bad):
    x = np.random.default_rng(5).standard_normal((10, 3))
    y = x.copy()
    y[4, 1] = bad
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance(x, y)
    with pytest.raises(ValueError, match="non-finite"):
        feature_distance(y, x)


def test_too_few_samples_or_bad_shapes_raise():
    x = np.ones((10, 3))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(x, np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        frechet_distance(np.ones(10), np.ones(10))
    with pytest.raises(ValueError, match="feature sizes differ"):
        frechet_distance(x, np.ones((10, 4)))


def test_feature_distance_paired_l1():
    real = np.array([[0.0, 0.0], [1.0, 1.0]])
    gen = np.array([[1.0, -2.0], [1.0, 1.0]])
    assert feature_distance(real, gen) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="pairs sample i"):
        feature_distance(real, gen[:1])


def test_fgd_result_repr():
    assert "fallback=True" in repr(FGDResult(1e10, fallback=True))


def test_symmetric_form_equals_the_published_one():
    from gesturegen.metrics.fgd import _psd_sqrt, frechet_distance, frechet_distance_symmetric
    rng = np.random.default_rng(0)
    for n, d in ((400, 16), (300, 64)):
        real = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
        gen = 0.8 * rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 0.3
        ref = frechet_distance(real, gen)
        assert frechet_distance_symmetric(real, gen) == pytest.approx(ref, rel=1e-8)
        root = _psd_sqrt(np.cov(real, rowvar=False))
        assert frechet_distance_symmetric(real, gen, real_sqrt=root) == pytest.approx(ref, rel=1e-8)
    x = rng.standard_normal((50, 8))
    assert abs(frechet_distance_symmetric(x, x)) < 1e-9
    # 1-D Gaussians N(0,1) vs N(1,4): 2 (metrics.md §2.6), and defined for singular covariances (n < d)
    a, b = rng.standard_normal((200_000, 1)), 1 + 2 * rng.standard_normal((200_000, 1))
    assert frechet_distance_symmetric(a, b) == pytest.approx(2.0, abs=0.05)
    small = frechet_distance_symmetric(rng.standard_normal((10, 32)), rng.standard_normal((12, 32)))
    assert np.isfinite(small) and small > 0 and not small.fallback
