"""Kernel distance (KID, Bińkowski et al., ICLR 2018): the unbiased MMD² between two feature sets under the
polynomial kernel k(x, y) = (x·y / d + 1)³, with its standard error.

FGD fits a Gaussian to each set, and its estimate is biased upward at small n (the bias grows with d / n); KID's
estimate is unbiased at every n (its mean over draws is the population value, 0 for two samples of one
distribution), so it can go slightly negative. The standard error is the two-sample jackknife over the full
sample (delete one real or one generated feature vector at a time), exact in O(n²) from the kernel row sums.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gesturegen.metrics.fgd import check_features


@dataclass(frozen=True)
class KIDResult:
    value: float     # unbiased MMD² (feature units: the kernel's)
    se: float        # jackknife standard error of `value`
    n_real: int
    n_gen: int
    dim: int

    def __float__(self) -> float:
        return self.value


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> np.ndarray:
    """(gamma x·y + coef0)^degree for every pair of rows: (m, d), (n, d) -> (m, n); gamma defaults to 1/d."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (gamma * (x @ y.T) + coef0) ** degree


def kernel_distance(real: np.ndarray, gen: np.ndarray, degree: int = 3, gamma: float | None = None,
                    coef0: float = 1.0) -> KIDResult:
    """Unbiased MMD² between real (m, d) and generated (n, d) features (m, n >= 3), with its jackknife SE.

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / m(m-1) + Σ_{i≠j} k(y_i, y_j) / n(n-1) - 2 Σ_{i,j} k(x_i, y_j) / mn.
    """
    x, y = check_features(real, "real features", 3), check_features(gen, "generated features", 3)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sizes differ: real {x.shape}, generated {y.shape}")
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    kxx, kyy, kxy = (polynomial_kernel(a, b, degree, gamma, coef0) for a, b in ((x, x), (y, y), (x, y)))
    rxx = kxx.sum(1) - np.diagonal(kxx)          # row sums without the diagonal
    ryy = kyy.sum(1) - np.diagonal(kyy)
    cx, cy = kxy.sum(1), kxy.sum(0)              # cross sums of each real / generated sample
    sxx, syy, sxy = rxx.sum(), ryy.sum(), cx.sum()
    value = sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)
    # leave one real sample out: its row and column leave the xx sum, its row the xy sum
    loo_x = (sxx - 2 * rxx) / ((m - 1) * (m - 2)) + syy / (n * (n - 1)) - 2 * (sxy - cx) / ((m - 1) * n)
    loo_y = sxx / (m * (m - 1)) + (syy - 2 * ryy) / ((n - 1) * (n - 2)) - 2 * (sxy - cy) / (m * (n - 1))
    var = (m - 1) / m * np.sum((loo_x - loo_x.mean()) ** 2) + (n - 1) / n * np.sum((loo_y - loo_y.mean()) ** 2)
    return KIDResult(float(value), float(np.sqrt(var)), m, n, d)
