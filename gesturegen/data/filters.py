"""The original window filters (ldmc-spec §2.4 steps 7 and 9), in the original order.

Each returns the reason a window is rejected, or None. Joints are y-down, (T, J, 3). The verdicts decide which
windows build_windows stores, so the spine angle uses gesturegen.numerics' arccos (numpy's is dispatched per CPU).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gesturegen import numerics
from gesturegen.config import FilterParams
from gesturegen.data.skeleton import Skeleton

REASONS = ("few_words", "pose", "spine_angle", "motion", "text", "nan")


def spine_angles_deg(joints: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Angle per frame between the spine vector and straight up (0, -1, 0), in degrees."""
    lo, hi = skeleton.spine
    spine = joints[:, hi] - joints[:, lo]
    norm = np.linalg.norm(spine, axis=-1)
    cos = -spine[:, 1] / np.where(norm > 0, norm, 1.0)
    return numerics.arccos(np.clip(cos, -1.0, 1.0)) * (180.0 / numerics.PI)


def is_static(joints: np.ndarray, skeleton: Skeleton, p: FilterParams) -> bool:
    if skeleton.name == "aqgt":
        return float(np.var(joints.reshape(-1))) < p.aqgt_var_threshold
    left, right = skeleton.wrists
    var_l = float(np.var(joints[:, left], axis=0).sum())
    var_r = float(np.var(joints[:, right], axis=0).sum())
    return var_l < p.wrist_var_threshold and var_r < p.wrist_var_threshold


def reject_reason(joints: np.ndarray, words: Sequence[Sequence], skeleton: Skeleton, mean_pose: np.ndarray,
                  p: FilterParams) -> str | None:
    """The first filter that rejects this window, or None if it is kept."""
    if len(words) < p.min_words:
        return "few_words"
    if float(np.mean(np.abs(joints - mean_pose))) < p.pose_threshold:
        return "pose"
    angles = spine_angles_deg(joints, skeleton)
    if angles.max() > p.spine_max_deg or angles.mean() > p.spine_mean_deg:
        return "spine_angle"
    if is_static(joints, skeleton, p):
        return "motion"
    if len(words) > p.max_words or any(len(str(w[0])) > p.max_word_chars for w in words):
        return "text"
    if not np.isfinite(joints).all():
        return "nan"
    return None
