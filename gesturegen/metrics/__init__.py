"""Evaluation metrics on arrays (metrics.md §2): FGD, KID and feat_D, diversity, Beat Consistency, joint MAE and accel,
beat F1 against true strokes (oracle).

Pure numpy/scipy (librosa only for audio onsets, imported on use); no files, no params.
"""
from gesturegen.metrics.beat import (
    TED_EXPRESSIVE_CHANGE_ANGLE,
    BCResult,
    BCTerms,
    angle_change_constants,
    angle_pairs,
    angle_series,
    audio_onsets,
    audio_onsets_many,
    bc_score,
    bc_terms,
    beat_consistency,
    motion_beat_lists,
    motion_beats,
)
from gesturegen.metrics.diversity import diversity, diversity_faithful
from gesturegen.metrics.fgd import (
    FALLBACK_FGD,
    FGDResult,
    feature_distance,
    frechet_distance,
    frechet_distance_symmetric,
)
from gesturegen.metrics.kid import KIDResult, kernel_distance
from gesturegen.metrics.motion import accel_diff, joint_mae, joints_from_vectors, mean_ci95
from gesturegen.metrics.oracle import BeatF1, beat_f1

__all__ = [
    "FALLBACK_FGD",
    "TED_EXPRESSIVE_CHANGE_ANGLE",
    "BCResult",
    "BCTerms",
    "BeatF1",
    "FGDResult",
    "KIDResult",
    "accel_diff",
    "angle_change_constants",
    "angle_pairs",
    "angle_series",
    "audio_onsets",
    "audio_onsets_many",
    "bc_score",
    "bc_terms",
    "beat_consistency",
    "beat_f1",
    "diversity",
    "diversity_faithful",
    "feature_distance",
    "frechet_distance",
    "frechet_distance_symmetric",
    "joint_mae",
    "joints_from_vectors",
    "kernel_distance",
    "mean_ci95",
    "motion_beat_lists",
    "motion_beats",
]
