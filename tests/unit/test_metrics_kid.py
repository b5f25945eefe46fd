"""KID: the unbiased polynomial-kernel MMD² and its jackknife standard error (gesturegen.metrics.kid)."""
import numpy as np
import pytest

from gesturegen.metrics.kid import kernel_distance, polynomial_kernel


def _naive_mmd2(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3                                   
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_matches_the_definition_with_unequal_sizes():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((9, 4)), rng.standard_normal((7, 4)) + 0.3
    r = kernel_distance(x, y)
    assert r.value == pytest.approx(_naive_mmd2(x, y), rel=1e-12)
    assert (r.n_real, r.n_gen, r.dim) == (9, 7, 4) and r.se > 0
    np.testing.assert_allclose(polynomial_kernel(x, y), (x @ y.T / 4 + 1) ** 3)


def test_jackknife_se_is_exact_leave_one_out():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((6, 3))
    lx = np.array([_naive_mmd2(np.delete(x, i, 0), y) for i in range(8)])
    ly = np.array([_naive_mmd2(x, np.delete(y, j, 0)) for j in range(6)])
    var = 7 / 8 * np.sum((lx - lx.mean()) ** 2) + 5 / 6 * np.sum((ly - ly.mean()) ** 2)
    assert kernel_distance(x, y).se == pytest.approx(np.sqrt(var), rel=1e-9)


def test_unbiased_at_small_n_and_separates_distributions():
    """Two samples of one distribution: KID averages to 0 within its standard error even at n = 20 in 16-d
    (where FGD would be far above 0); a shifted distribution is far above its SE."""
    rng = np.random.default_rng(2)
    same = [kernel_distance(rng.standard_normal((20, 16)), rng.standard_normal((20, 16))) for _ in range(200)]
    values = np.array([r.value for r in same])
    assert abs(values.mean()) < 3 * values.std() / np.sqrt(values.size)
    assert (values < 0).any()                                # unbiased, so it can go negative
    # the jackknife SE tracks the spread of the estimate over draws (within a factor 2)
    assert 0.5 < np.mean([r.se for r in same]) / values.std() < 2
    far = kernel_distance(rng.standard_normal((50, 16)), rng.standard_normal((50, 16)) + 1.0)
    assert far.value > 5 * far.se


def test_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        kernel_distance(np.zeros((2, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="feature sizes differ"):
        kernel_distance(np.zeros((5, 4)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        kernel_distance(np.full((5, 4), np.nan), np.zeros((5, 4)))
