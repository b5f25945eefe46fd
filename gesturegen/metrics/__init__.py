"""Evaluation metrics on arrays (metrics.md §2): FGD and feat_D, diversity, Beat Consistency, joint MAE and accel.

Pure numpy/scipy (librosa only for audio onsets, imported on use); no files, no params.
"""
from gesturegen.metrics.beat import (
    TED_EXPRESSIVE_CHANGE_ANGLE,
    BCResult,
    angle_change_constants,
    angle_pairs,
    angle_series,
    audio_onsets,
    beat_consistency,
    motion_beats,
)
from gesturegen.metrics.diversity import diversity, diversity_faithful
from gesturegen.metrics.fgd import FALLBACK_FGD, FGDResult, feature_distance, frechet_distance
from gesturegen.metrics.motion import accel_diff, joint_mae, joints_from_vectors, mean_ci95

__all__ = [
    "FALLBACK_FGD",
    "TED_EXPRESSIVE_CHANGE_ANGLE",
    "BCResult",
    "FGDResult",
    "accel_diff",
    "angle_change_constants",
    "angle_pairs",
    "angle_series",
    "audio_onsets",
    "beat_consistency",
    "diversity",
    "diversity_faithful",
    "feature_distance",
    "frechet_distance",
    "joint_mae",
    "joints_from_vectors",
    "mean_ci95",
    "motion_beats",
]
