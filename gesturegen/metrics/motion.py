"""Joint-space errors printed by DiffGesture/HA2G `evaluate_testset` (metrics.md §2.5): joint MAE after the seed
frames and the acceleration difference, both on joint positions rebuilt from the vectors; plus a Student-t 95%
interval for reporting a metric over seeds.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gesturegen.data.skeleton import Skeleton


def joints_from_vectors(vec: np.ndarray, mean_dir_vec: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Mean-subtracted vectors (..., V*3) or (..., V, 3) -> joint positions (..., J, 3).

    The mean is added back and the vectors are used as they are (not renormalised), as `convert_dir_vec_to_pose`
    does: direction skeletons get the table bone lengths with the root at the origin, offset skeletons are summed
    along the parent array.
    """
    vec = np.asarray(vec, dtype=np.float64)
    mean = np.asarray(mean_dir_vec, dtype=np.float64).reshape(-1)
    if mean.size != skeleton.dim:
        raise ValueError(f"mean_dir_vec: expected {skeleton.dim} values for {skeleton.name}, got {mean.size}")
    if vec.shape[-1] == skeleton.dim:
        vec = vec.reshape(vec.shape[:-1] + (skeleton.n_vectors, 3))
    vec = skeleton.check_vectors(vec, "vectors") + mean.reshape(skeleton.n_vectors, 3)
    return skeleton.to_joints(vec)


def joint_mae(out_vec: np.ndarray, target_vec: np.ndarray, mean_dir_vec: np.ndarray, skeleton: Skeleton,
              n_seed: int = 4) -> float:
    """mean |out_joints[:, n_seed:] - target_joints[:, n_seed:]| over clips, frames, joints and xyz.

    Args:
        out_vec: generated mean-subtracted vectors (N, T, D), or (N, T - n_seed, D) when the seed frames were not
            generated (then compared with target[:, n_seed:], as the published code does).
        target_vec: ground truth (N, T, D).
    """
    out = joints_from_vectors(out_vec, mean_dir_vec, skeleton)                  # (N, T, J, 3)
    target = joints_from_vectors(target_vec, mean_dir_vec, skeleton)
    if out.ndim != 4 or target.ndim != 4 or out.shape[0] != target.shape[0]:
        raise ValueError(f"joint_mae: expected (N, T, D) clips, got {np.shape(out_vec)} and {np.shape(target_vec)}")
    t = target.shape[1]
    if out.shape[1] == t:
        out = out[:, n_seed:]
    elif out.shape[1] != t - n_seed:
        raise ValueError(f"joint_mae: generated clips have {out.shape[1]} frames, target {t} (n_seed={n_seed})")
    return float(np.mean(np.abs(out - target[:, n_seed:])))


def accel_diff(out: np.ndarray, target: np.ndarray, mean_dir_vec: np.ndarray | None = None,
               skeleton: Skeleton | None = None) -> float:
    """mean |Δ²target - Δ²out|, second differences along time (axis 1) over all frames, seed frames included.

    DiffGesture computes it on joint positions: pass mean-subtracted vectors (N, T, D) with `mean_dir_vec` and
    `skeleton` to convert them, or joint positions (N, T, J, 3) directly (then leave both None). Without a
    skeleton the arrays are differenced as given, whatever they represent.
    """
    if (mean_dir_vec is None) != (skeleton is None):
        raise ValueError("accel_diff: pass both mean_dir_vec and skeleton (vectors) or neither (joint positions)")
    if skeleton is not None:
        out, target = joints_from_vectors(out, mean_dir_vec, skeleton), joints_from_vectors(target, mean_dir_vec,
                                                                                           skeleton)
    out, target = np.asarray(out, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if out.shape != target.shape or out.ndim < 2 or out.shape[1] < 3:
        raise ValueError(f"accel_diff: need equal (N, T>=3, ...) arrays, got {out.shape} and {target.shape}")
    return float(np.mean(np.abs(np.diff(target, n=2, axis=1) - np.diff(out, n=2, axis=1))))


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(mean, half-width) of the two-sided 95% Student-t interval: t_{0.975, n-1} · s / sqrt(n), s with ddof=1.

    One value gives a NaN half-width (no spread estimate); none raises ValueError.
    """
    from scipy import stats

    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("mean_ci95: no values")
    if not np.isfinite(x).all():
        raise ValueError(f"mean_ci95: non-finite values {x.tolist()}")
    if x.size == 1:
        return float(x[0]), float("nan")
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean()), float(half)
