"""Fréchet Gesture Distance and the paired feature distance ("feat_D"), as computed by Trimodal, HA2G, DiffGesture,
AQGT and LDMC (`EmbeddingSpaceEvaluator.get_scores`, itself pytorch-fid's `calculate_frechet_distance`);
see metrics.md §2.2. Features come from a pose encoder; this module only sees (N, D) arrays.
"""
from __future__ import annotations

import warnings
from typing import Self

import numpy as np
import scipy
from scipy import linalg

FALLBACK_FGD = 1e10          # what the published evaluators report when sqrtm's imaginary part is too large
_EPS = 1e-6                  # diagonal offset of the retry on a non-finite sqrtm
_IMAG_ATOL = 1e-3
# scipy 1.16 deprecated sqrtm's `disp` (removed in 1.18); `disp=False` only added an error estimate we never use,
# so on new scipy the plain call is the same computation.
_SQRTM_HAS_DISP = np.lib.NumpyVersion(scipy.__version__) < "1.16.0"


class FGDResult(float):
    """The FGD as a plain float, plus how it was obtained.

    Attributes:
        fallback: True when sqrtm(S_g S_r) kept an imaginary diagonal part > 1e-3; the value is then
            FALLBACK_FGD (1e10), exactly what the published code reports (it catches its own ValueError).
            Treat such a value as "FGD failed", never as a distance.
        regularized: True when sqrtm(S_g S_r) was not finite and was recomputed with 1e-6·I added to both
            covariances (as published).
        max_imag: the largest |imag| entry of sqrtm's result (0.0 when it was real).
    """

    fallback: bool
    regularized: bool
    max_imag: float

    def __new__(cls, value: float, *, fallback: bool = False, regularized: bool = False,
                max_imag: float = 0.0) -> Self:
        obj = super().__new__(cls, value)
        obj.fallback, obj.regularized, obj.max_imag = bool(fallback), bool(regularized), float(max_imag)
        return obj

    @property
    def value(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return (f"FGDResult({float(self)!r}, fallback={self.fallback}, regularized={self.regularized}, "
                f"max_imag={self.max_imag:.3g})")


def check_features(feats: np.ndarray, name: str = "features", min_samples: int = 2) -> np.ndarray:
    """Validate a (N, D) feature matrix and return it as float64; raise ValueError with a clear message."""
    feats = np.asarray(feats)
    if feats.ndim != 2:
        raise ValueError(f"{name}: expected a (N, D) feature matrix, got shape {feats.shape}")
    if feats.shape[0] < min_samples:
        raise ValueError(f"{name}: need at least {min_samples} samples, got {feats.shape[0]}")
    if feats.shape[1] < 1:
        raise ValueError(f"{name}: features have zero dimensions")
    feats = feats.astype(np.float64, copy=False)
    bad = ~np.isfinite(feats)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(f"{name}: {bad.sum()} non-finite (NaN/inf) values in {rows.size} of {feats.shape[0]} "
                         f"samples (first rows: {rows[:5].tolist()}); the feature extractor or generator diverged")
    return feats


def _sqrtm(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)   # singular products are handled by the retry
        warnings.simplefilter("ignore", RuntimeWarning)
        if _SQRTM_HAS_DISP:
            return linalg.sqrtm(a, disp=False)[0]
        return linalg.sqrtm(a)


def frechet_distance_from_moments(mu_real: np.ndarray, cov_real: np.ndarray,
                                  mu_gen: np.ndarray, cov_gen: np.ndarray) -> FGDResult:
    """||mu_g - mu_r||² + tr(S_g) + tr(S_r) - 2 tr(sqrtm(S_g S_r)), with the published retry and fallback."""
    mu_g, mu_r = np.atleast_1d(np.asarray(mu_gen, np.float64)), np.atleast_1d(np.asarray(mu_real, np.float64))
    s_g, s_r = np.atleast_2d(np.asarray(cov_gen, np.float64)), np.atleast_2d(np.asarray(cov_real, np.float64))
    d = mu_r.shape[0]
    if mu_g.shape != (d,) or s_g.shape != (d, d) or s_r.shape != (d, d):
        raise ValueError(f"moment shapes disagree: mu_real {mu_r.shape}, mu_gen {mu_g.shape}, "
                         f"cov_real {s_r.shape}, cov_gen {s_g.shape}")
    for name, a in (("mu_real", mu_r), ("mu_gen", mu_g), ("cov_real", s_r), ("cov_gen", s_g)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN/inf")

    diff = mu_g - mu_r
    covmean = _sqrtm(s_g @ s_r)                                                 # (D, D)
    regularized = False
    if not np.isfinite(covmean).all():
        offset = np.eye(d) * _EPS
        covmean = _sqrtm((s_g + offset) @ (s_r + offset))
        regularized = True
    max_imag = 0.0
    if np.iscomplexobj(covmean):
        max_imag = float(np.max(np.abs(covmean.imag)))
        # the published test looks at the diagonal only (np.allclose(diag.imag, 0, atol=1e-3))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=_IMAG_ATOL):
            return FGDResult(FALLBACK_FGD, fallback=True, regularized=regularized, max_imag=max_imag)
        covmean = covmean.real
    value = diff @ diff + np.trace(s_g) + np.trace(s_r) - 2 * np.trace(covmean)
    return FGDResult(float(value), regularized=regularized, max_imag=max_imag)


def frechet_distance(real: np.ndarray, gen: np.ndarray) -> FGDResult:
    """FGD between real (N, D) and generated (M, D) features (np.cov rowvar=False, i.e. ddof=1).

    Returns an FGDResult, a float subclass: use it as the number, and check `.fallback` (1e10 reported because
    sqrtm was complex, as published) and `.regularized` (1e-6·I retry). NaN/inf features or fewer than 2
    samples raise ValueError.
    """
    real, gen = check_features(real, "real features"), check_features(gen, "generated features")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape}, generated {gen.shape}")
    return frechet_distance_from_moments(real.mean(0), np.cov(real, rowvar=False),
                                         gen.mean(0), np.cov(gen, rowvar=False))


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_symmetric(real: np.ndarray, gen: np.ndarray, real_sqrt: np.ndarray | None = None,
                               real_cov: np.ndarray | None = None) -> FGDResult:
    """The same Fréchet distance with tr sqrt(S_g S_r) computed as Σ sqrt(eig(S_r^½ S_g S_r^½)), a symmetric PSD
    matrix (corrected mode).

    Equal to `frechet_distance` wherever sqrtm(S_g S_r) is well defined (up to rounding, ~1e-13 relative on
    800 x 128-d features), 2x faster (5x with `real_sqrt` = S_r^½ and `real_cov` = S_r reused across generated
    sets; measured single-threaded, 800 x 128-d), and still defined when the covariances are singular (n < d),
    where sqrtm of the product may not exist and the published code falls back or keeps an arbitrary real part.
    Never falls back.
    """
    real, gen = check_features(real, "real features"), check_features(gen, "generated features")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape}, generated {gen.shape}")
    s_r = np.atleast_2d(np.cov(real, rowvar=False) if real_cov is None else real_cov)
    s_g = np.atleast_2d(np.cov(gen, rowvar=False))
    root = _psd_sqrt(s_r) if real_sqrt is None else real_sqrt
    eig = np.linalg.eigvalsh(root @ s_g @ root)
    diff = gen.mean(0) - real.mean(0)
    value = diff @ diff + np.trace(s_g) + np.trace(s_r) - 2 * np.sqrt(np.clip(eig, 0, None)).sum()
    return FGDResult(float(value))


def feature_distance(real: np.ndarray, gen: np.ndarray) -> float:
    """feat_D: mean over i of ||real_i - gen_i||_1 on paired samples (same N, same order)."""
    real, gen = check_features(real, "real features", 1), check_features(gen, "generated features", 1)
    if real.shape != gen.shape:
        raise ValueError(f"feature_distance pairs sample i with sample i: shapes must match, "
                         f"got real {real.shape} and generated {gen.shape}")
    return float(np.mean(np.sum(np.abs(real - gen), axis=1)))


def fgd_of_halves(features: np.ndarray, seed: int) -> tuple[float | None, int]:
    """Real-vs-real FGD between two seeded random halves of one set of features, and the half size.

    Should be << 1 once each half has many more windows than feature dimensions; small halves give rank-deficient
    covariances and a larger value. None when a half would hold fewer than 2 windows.
    """
    half = features.shape[0] // 2
    if half < 2:
        return None, half
    perm = np.random.default_rng(seed).permutation(features.shape[0])
    return float(frechet_distance(features[perm[:half]], features[perm[half:2 * half]])), half
