"""The evaluation protocol: all metrics of generated motion against the ground truth, in both modes, plus the
control "generators" every model is compared to.

Protocol (metrics.md §2.1): 34-frame windows at 15 fps, the first 4 frames are ground-truth seed poses in every
generated clip, 16 kHz audio. Motion is given as mean-subtracted vectors (N, 34, D), as the models produce it.

faithful:  DiffGesture/LDMC evaluator semantics: the windows are cut into batches of `batch_size` with drop_last (one
           batch of all windows when there are fewer), FGD over those, diversity as one permutation of batches,
           BC with flat normalisation and thres 0.001 (TED Expressive constants when the skeleton is TED's).
corrected: every window, diversity averaged over seeded sample permutations, BC with per-vector normalisation and
           the dataset's own angle-change constants; skipped BC clips are reported.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gesturegen.data.skeleton import Skeleton
from gesturegen.metrics.beat import audio_onsets, beat_consistency
from gesturegen.metrics.diversity import diversity, diversity_faithful
from gesturegen.metrics.fgd import feature_distance, frechet_distance
from gesturegen.metrics.motion import accel_diff, joint_mae

CONTROLS = ("ground_truth", "mean_pose", "random_window", "seed_still")


# --- controls ---------------------------------------------------------------------------------------------------

def make_control(name: str, target: np.ndarray, train: np.ndarray, rng: np.random.Generator,
                 n_seed: int = 4) -> np.ndarray:
    """A control's motion for every target window (N, T, D), mean-subtracted, with the target's seed frames."""
    if name == "ground_truth":
        return np.array(target, dtype=np.float32, copy=True)
    if name == "mean_pose":
        out = np.zeros_like(target, dtype=np.float32)                 # the mean pose is 0 after mean subtraction
    elif name == "random_window":
        out = np.asarray(train[np.sort(rng.integers(0, train.shape[0], target.shape[0]))], dtype=np.float32)
        out = out[rng.permutation(out.shape[0])]                      # sorted reads from the memmap, then shuffled
    elif name == "seed_still":
        out = np.repeat(np.asarray(target[:, n_seed - 1:n_seed], dtype=np.float32), target.shape[1], axis=1)
    else:
        raise ValueError(f"unknown control {name!r}; choose one of {CONTROLS}")
    out[:, :n_seed] = target[:, :n_seed]
    return out


# --- the metrics of one generated set ---------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalSettings:
    batch_size: int = 128
    diversity_permutations: int = 100
    bc_sigma: float = 0.1
    bc_thres_faithful: float = 0.001
    bc_thres_corrected: float = 0.03
    n_seed: int = 4
    fps: int = 15
    sample_rate_hz: int = 16000


def faithful_batches(n: int, batch_size: int) -> int:
    """How many windows the faithful evaluator sees: whole batches only (drop_last), at least one batch."""
    return n if n < batch_size else (n // batch_size) * batch_size


def evaluate_motion(gen: np.ndarray, real: np.ndarray, audio: np.ndarray, features: Callable[[np.ndarray], np.ndarray],
                    skeleton: Skeleton, mean_dir_vec: np.ndarray, change_angle_corrected: np.ndarray,
                    change_angle_faithful: np.ndarray, s: EvalSettings, rng: np.random.Generator,
                    real_feats: np.ndarray | None = None, pair_real: np.ndarray | None = None,
                    onsets: list[np.ndarray] | None = None) -> dict[str, float]:
    """Every metric of `gen` (N, T, D) against `real` (M, T, D), both modes.

    `pair_real` (N, T, D) is the paired target for feature distance, MAE and acceleration (default: `real`, which
    then must have N windows). `audio` (N, S) belongs to the generated windows (BC); pass its precomputed
    `onsets` (one array per window) to avoid detecting them again. An FGD that fell back to the published 1e10
    (covariance square root with a large imaginary part) is flagged in `fgd_*_fallback`.
    """
    pair = real if pair_real is None else pair_real
    gen_feats = features(gen)
    real_feats = features(real) if real_feats is None else real_feats
    pair_feats = real_feats if pair_real is None else features(pair)
    n_f = faithful_batches(gen.shape[0], s.batch_size)
    n_rf = faithful_batches(real.shape[0], s.batch_size)
    bs = min(s.batch_size, n_f)
    fgd_f = frechet_distance(real_feats[:n_rf], gen_feats[:n_f])
    fgd_c = frechet_distance(real_feats, gen_feats)
    out: dict[str, float] = {
        "fgd_faithful": float(fgd_f), "fgd_faithful_fallback": int(fgd_f.fallback),
        "fgd_corrected": float(fgd_c), "fgd_corrected_fallback": int(fgd_c.fallback),
        "feature_distance": float(feature_distance(pair_feats, gen_feats)),
        "diversity_faithful": float(diversity_faithful([gen_feats[i:i + bs] for i in range(0, n_f, bs)], rng)),
        "joint_mae": float(joint_mae(gen, pair, mean_dir_vec, skeleton, n_seed=s.n_seed)),
        "accel_diff": float(accel_diff(gen, pair, mean_dir_vec, skeleton)),
    }
    div_mean, div_std = diversity(gen_feats, n_permutations=s.diversity_permutations,
                                  seed=int(rng.integers(2 ** 31)))
    out["diversity_corrected"] = float(div_mean)
    out["diversity_corrected_std"] = float(div_std)
    if onsets is None:
        onsets = [audio_onsets(a, sr=s.sample_rate_hz) for a in audio]
    for mode, thres, change in (("faithful", s.bc_thres_faithful, change_angle_faithful),
                                ("corrected", s.bc_thres_corrected, change_angle_corrected)):
        n = n_f if mode == "faithful" else gen.shape[0]
        bc = beat_consistency(gen[:n], mean_dir_vec, audio[:n], skeleton, mode=mode, change_angle=change,
                              thres=thres, sigma=s.bc_sigma, sr=s.sample_rate_hz, fps=s.fps, onsets=onsets[:n])
        out[f"bc_{mode}"] = float(bc.score)
        out[f"bc_{mode}_skipped_no_motion_beat"] = int(bc.n_skipped_no_motion_beat)
        out[f"bc_{mode}_skipped_no_onset"] = int(bc.n_skipped_no_onset)
    return out
