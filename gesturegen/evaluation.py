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


# --- the reference rows: every control, several seeds ---------------------------------------------------------

CONTROL_CODES = {"ground_truth": "gt", "mean_pose": "mean", "random_window": "rand", "seed_still": "still"}


def beat_constants(train_dir_vec: np.ndarray, mean_dir_vec: np.ndarray, skeleton: Skeleton) -> dict:
    """BC's per-pair angle-change constants: corrected from this train split (per-vector normalisation); faithful
    the published DiffGesture constants on TED Expressive's skeleton, else this train split's (flat)."""
    from gesturegen.metrics.beat import TED_EXPRESSIVE_CHANGE_ANGLE, angle_change_constants

    raw = np.asarray(train_dir_vec, dtype=np.float64) + mean_dir_vec
    corrected = angle_change_constants(raw, skeleton, normalize="per_vector")
    if skeleton.name == "ted_expressive":   # the published constants reproduce DiffGesture's numbers
        faithful, source = np.asarray(TED_EXPRESSIVE_CHANGE_ANGLE), "published (DiffGesture test_expressive.py)"
    else:
        faithful, source = angle_change_constants(raw, skeleton, normalize="flat"), "this dataset's train split"
    return {"corrected": corrected.tolist(), "faithful": faithful.tolist(), "faithful_source": source,
            "corrected_source": "this dataset's train split", "n_train_windows": int(train_dir_vec.shape[0])}


def run_controls(splits: dict[str, tuple[np.ndarray, np.ndarray]], train_dir_vec: np.ndarray,
                 features: Callable[[np.ndarray], np.ndarray], skeleton: Skeleton, mean_dir_vec: np.ndarray,
                 constants: dict, s: EvalSettings, seed: int, run_seeds: tuple[int, ...],
                 progress: Callable | None = None) -> list[dict]:
    """One row of metrics per (split, run seed, control); `splits` maps a name to (dir_vec, audio).

    ground_truth: distances between one random half and the other; diversity and BC over every window (as the
    field reports GT rows). The other controls against all windows.
    """
    change_c, change_f = np.asarray(constants["corrected"]), np.asarray(constants["faithful"])
    jobs = [(split, rs, c) for split in splits for rs in run_seeds for c in CONTROLS]
    rows, cache = [], {}
    for split, run_seed, control in (progress(jobs) if progress else jobs):
        if split not in cache:    # one split in memory at a time
            real = np.asarray(splits[split][0], dtype=np.float32)
            audio = np.asarray(splits[split][1], dtype=np.float32)
            cache = {split: (real, audio, [audio_onsets(a, sr=s.sample_rate_hz) for a in audio], features(real))}
        real, audio, onsets, real_feats = cache[split]
        rng = np.random.default_rng([seed, run_seed, CONTROLS.index(control)])
        if control == "ground_truth":
            order = rng.permutation(real.shape[0])
            a, b = np.sort(order[: real.shape[0] // 2]), np.sort(order[real.shape[0] // 2:][: real.shape[0] // 2])
            m = evaluate_motion(real[a], real[b], audio[a], features, skeleton, mean_dir_vec, change_c, change_f, s,
                                rng, real_feats=real_feats[b], onsets=[onsets[i] for i in a])
            whole = evaluate_motion(real, real, audio, features, skeleton, mean_dir_vec, change_c, change_f, s, rng,
                                    real_feats=real_feats, onsets=onsets)
            m.update({k: v for k, v in whole.items() if k.startswith(("diversity", "bc_"))})
        else:
            gen = make_control(control, real, train_dir_vec, rng, n_seed=s.n_seed)
            m = evaluate_motion(gen, real, audio, features, skeleton, mean_dir_vec, change_c, change_f, s, rng,
                                real_feats=real_feats, onsets=onsets)
        rows.append({"split": split, "seed": run_seed, "control": control, "n_windows": real.shape[0], **m})
    return rows


def summarize(values: np.ndarray) -> dict:
    """Mean and 95% CI half-width (Student's t) over seeds of the finite values; `n` counts them (BC is NaN when
    no clip of a run could be scored, e.g. no motion beat anywhere)."""
    from gesturegen.metrics.motion import mean_ci95

    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean, half = mean_ci95(finite) if finite.size > 1 else (float(finite[0]), float("nan"))
    return {"mean": round(float(mean), 6), "ci95": round(float(half), 6) if np.isfinite(half) else None,
            "n": int(finite.size)}


def summary_rows(runs: list[dict]) -> list[dict]:
    """The tidy summary: one row per (split, control, metric) with mean, ci95 and the number of finite runs."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["split"], r["control"]), []).append(r)
    metrics = [k for k in runs[0] if k not in ("split", "seed", "control", "n_windows")] if runs else []
    return [{"split": split, "control": control, "metric": k, "n_windows": rs[0]["n_windows"],
             **summarize(np.array([r[k] for r in rs], dtype=float))}
            for (split, control), rs in groups.items() for k in metrics]


HEADLINE = (("fgd_corrected", "ground_truth"), ("fgd_corrected", "random_window"), ("bc_corrected", "ground_truth"))


def headline(summary: list[dict]) -> dict:
    """The few numbers `dvc metrics show` prints, per split: corrected FGD of the ground truth (its two halves) and
    of a random training window, corrected BC of the ground truth; keyed `<split>.fgd.gt`, `<split>.fgd.rand`,
    `<split>.bc.gt` (codes: CONTROL_CODES). Every other cell is in summary.csv."""
    out: dict = {}
    for row in summary:
        code = CONTROL_CODES[row["control"]]
        if (row["metric"], row["control"]) in HEADLINE:
            out.setdefault(row["split"], {}).setdefault(row["metric"].split("_")[0], {})[code] = row["mean"]
    return out
