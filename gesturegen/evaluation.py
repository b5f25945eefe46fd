"""The evaluation protocol (v2): every metric of generated motion against real motion, in both modes, plus the
control "generators" every model is compared to.

Protocol (metrics.md §2.1): 34-frame windows at 15 fps, the first 4 frames are ground-truth seed poses in every
generated clip, 16 kHz audio. Motion is given as mean-subtracted vectors (N, T, D), as the models produce it.

corrected: same n and same reference for every row. The split's videos are partitioned into a reference half R and
           a query half Q (video-disjoint, balanced by window count, seeded; several partitions per run seed); every
           row, the ground truth included, is scored as (its motion on Q's windows) against (the real motion of R):
           FGD (symmetric form, defined for n < d too) and KID (unbiased) on the extractor's features, diversity over seeded derangements, BC with
           per-vector normalisation and this dataset's constants, the BC gap (own audio minus another video's
           audio), the paired errors against Q's real motion (not for the ground truth: not applicable), beat F1
           against the true strokes (only with annotations), and any plug-in scorer (trained evaluators).
           Mean ± 95 % CI over partitions × seeds.
faithful:  DiffGesture/LDMC evaluator semantics on the whole split: batches of `batch_size` with drop_last (one
           batch of all windows when there are fewer), FGD against the same windows' ground truth (so not
           applicable to the ground-truth row: 0 by construction), diversity as one permutation of batches, BC with
           flat normalisation and thres 0.001 (TED Expressive's published constants only for TED Expressive).
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from gesturegen.data.annotations import WindowAnnotations
from gesturegen.data.skeleton import Skeleton
from gesturegen.metrics.beat import audio_onsets_many, bc_score, bc_terms, bc_terms_padded, motion_beat_lists, pad_times
from gesturegen.metrics.diversity import diversity, diversity_faithful
from gesturegen.metrics.fgd import _psd_sqrt, frechet_distance, frechet_distance_symmetric
from gesturegen.metrics.kid import kernel_distance
from gesturegen.metrics.motion import joints_from_vectors
from gesturegen.metrics.oracle import beat_f1, stroke_hits

CONTROLS = ("ground_truth", "mean_pose", "random_window", "seed_still")
CONTROL_CODES = {"ground_truth": "gt", "mean_pose": "mean", "random_window": "rand", "seed_still": "still"}
PAIRED = ("feature_distance", "joint_mae", "accel_diff")          # compare window i with its own real motion
ORACLE = ("beat_precision", "beat_recall", "beat_f1")              # need the true strokes (demo annotations)
RUN_KEYS = ("split", "seed", "partition", "control", "n_windows", "n_reference", "feature_dim")
WHOLE_SPLIT = "all"     # `partition` of the faithful rows: the whole split, no partition

# a scorer: (split, query motion (n, T, D) mean-subtracted, the query windows' rows in the split, rng) -> metrics
Scorer = Callable[[str, np.ndarray, np.ndarray, np.random.Generator], dict[str, float]]


class EvaluationError(ValueError):
    """The evaluation cannot be done as asked (split too small, videos shared with train, …); says how to fix it."""


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


# --- settings and inputs ----------------------------------------------------------------------------------------

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
    n_partitions: int = 5              # video-disjoint R/Q partitions per run seed
    min_half_windows: int = 32         # fewer windows in R or Q is an error
    bcgap_derangements: int = 5        # audio re-pairings averaged in the BC gap
    beat_tolerance_frames: float = 2   # beat F1: a motion beat within ± this many frames of a true stroke

    @classmethod
    def from_protocol(cls, protocol, dataset: str, window_meta: dict) -> EvalSettings:
        """The settings of the evaluate_baselines params section (`protocol`) for a dataset's windows."""
        p = protocol
        return cls(batch_size=p.faithful_batch_size.get(dataset, 128), diversity_permutations=p.diversity_permutations,
                   bc_sigma=p.bc_sigma, bc_thres_faithful=p.bc_thres_faithful, bc_thres_corrected=p.bc_thres_corrected,
                   n_seed=window_meta["n_seed_frames"], fps=window_meta["fps"],
                   sample_rate_hz=window_meta["sample_rate_hz"], n_partitions=p.n_partitions,
                   min_half_windows=p.min_half_windows, bcgap_derangements=p.bcgap_derangements,
                   beat_tolerance_frames=p.beat_tolerance_frames)


@dataclass(frozen=True)
class EvalSplit:
    """One evaluated split: real motion (N, T, D) mean-subtracted, audio (N, S), the video of each window (names
    or ids, used for partitions and derangements), and its evaluation-only annotations (None: the dataset has none)."""
    name: str
    dir_vec: np.ndarray
    audio: np.ndarray
    videos: np.ndarray
    annotations: WindowAnnotations | None = None


def faithful_batches(n: int, batch_size: int) -> int:
    """How many windows the faithful evaluator sees: whole batches only (drop_last), at least one batch."""
    return n if n < batch_size else (n // batch_size) * batch_size


def _describe_videos(names: np.ndarray, counts: np.ndarray, limit: int = 8) -> str:
    listed = ", ".join(f"{n} ({c})" for n, c in list(zip(names.tolist(), counts.tolist()))[:limit])
    return listed + (f", … {names.size - limit} more" if names.size > limit else "")


def video_partitions(videos: np.ndarray, n_partitions: int, min_half: int, rng: np.random.Generator,
                     split: str = "split") -> list[tuple[np.ndarray, np.ndarray]]:
    """`n_partitions` seeded (R, Q) partitions of a split's windows by video: no video in both halves, the halves
    balanced by window count (videos in a random order, each to the half with fewer windows so far). Returns
    (reference rows, query rows), sorted. Fewer than 2 videos or a half under `min_half` windows is an error."""
    videos = np.asarray(videos)
    names, inverse, counts = np.unique(videos, return_inverse=True, return_counts=True)
    if names.size < 2:
        raise EvaluationError(
            f"split {split!r} has {names.size} video(s) ({_describe_videos(names, counts)}; {videos.size} windows): "
            f"the corrected protocol needs at least 2 videos to split into a reference and a query half. Add "
            f"videos to the split, or do not evaluate it")
    if n_partitions < 1:
        raise EvaluationError(f"n_partitions must be >= 1, got {n_partitions}")
    parts = []
    for _ in range(n_partitions):
        in_q = np.zeros(names.size, dtype=bool)
        nq = nr = 0
        for v in rng.permutation(names.size):
            if nq < nr or (nq == nr and rng.random() < 0.5):
                in_q[v], nq = True, nq + counts[v]
            else:
                nr += counts[v]
        q, r = np.flatnonzero(in_q[inverse]), np.flatnonzero(~in_q[inverse])
        if min(q.size, r.size) < min_half:
            raise EvaluationError(
                f"split {split!r}: {names.size} videos, {videos.size} windows ({_describe_videos(names, counts)}); "
                f"a video-disjoint partition gave halves of {r.size} and {q.size} windows, under the minimum of "
                f"{min_half} per half (min_half_windows). Add videos to the split or lower min_half_windows")
        parts.append((r, q))
    return parts


def cross_video_derangement(videos: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A seeded permutation `perm` without fixed points that pairs window i with window perm[i] of another video
    whenever possible (no video holds more than half the windows); returns (perm, pairs within one video).

    Windows are grouped by video (videos and windows in random order) and shifted by the largest group's size."""
    videos = np.asarray(videos)
    n = videos.size
    if n < 2:
        raise EvaluationError(f"a derangement needs at least 2 windows, got {n}")
    _, inverse, counts = np.unique(videos, return_inverse=True, return_counts=True)
    order = np.lexsort((rng.random(n), rng.permutation(counts.size)[inverse]))
    big = int(counts.max())
    shift = big if big <= n - big else n // 2
    perm = np.empty(n, dtype=np.int64)
    perm[order] = order[(np.arange(n) + shift) % n]
    return perm, int(np.sum(inverse[perm] == inverse))


def check_disjoint_videos(split: str, videos: np.ndarray, train_videos: np.ndarray) -> None:
    """random_window draws from train: a video in both train and the evaluated split is an error naming it."""
    shared = np.intersect1d(np.unique(videos), np.unique(train_videos))
    if shared.size:
        raise EvaluationError(
            f"split {split!r} shares {shared.size} video(s) with train ({', '.join(map(str, shared[:10].tolist()))}"
            f"{' …' if shared.size > 10 else ''}): random_window draws real train motion, so it could draw the "
            f"evaluated windows themselves, and a model trained on them would be scored on its training data. "
            f"Fix the split assignment of the data (and keep build_windows.allow_shared_videos false)")


def beat_constants(train_dir_vec: np.ndarray, mean_dir_vec: np.ndarray, skeleton: Skeleton, dataset: str) -> dict:
    """BC's per-pair angle-change constants: corrected from this train split (per-vector normalisation); faithful
    the published DiffGesture constants for the dataset TED Expressive only, every other dataset (the demo too,
    although it shares TED's skeleton) from its own train split (flat normalisation; metrics.md §2.8)."""
    from gesturegen.metrics.beat import TED_EXPRESSIVE_CHANGE_ANGLE, angle_change_constants

    raw = np.asarray(train_dir_vec, dtype=np.float64) + mean_dir_vec
    corrected = angle_change_constants(raw, skeleton, normalize="per_vector")
    if dataset == "ted_expressive" and skeleton.name == "ted_expressive":
        faithful, source = np.asarray(TED_EXPRESSIVE_CHANGE_ANGLE), "published (DiffGesture test_expressive.py)"
    else:
        faithful, source = angle_change_constants(raw, skeleton, normalize="flat"), "this dataset's train split"
    return {"dataset": dataset, "corrected": corrected.tolist(), "faithful": faithful.tolist(),
            "faithful_source": source, "corrected_source": "this dataset's train split",
            "n_train_windows": int(train_dir_vec.shape[0])}


# --- one split, prepared once ------------------------------------------------------------------------------------

@dataclass
class SplitContext:
    """What every row of a split shares, computed once: real motion, real features and joints, the partitions of each
    run seed, and the audio onsets (librosa, about 7 ms a window: computed at their first use, so a caller that scores
    only FGD, such as the diffusion stage's checkpoint selection, never pays for them)."""
    split: EvalSplit
    real: np.ndarray
    real_feats: np.ndarray
    real_joints: np.ndarray
    sample_rate_hz: int                          # the audio's (EvalSettings), for the onsets
    partitions: dict[int, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    ref_stats: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @cached_property
    def onsets(self) -> list[np.ndarray]:
        """Each window's audio onset times (s)."""
        return audio_onsets_many(self.split.audio, sr=self.sample_rate_hz)

    def ref_moments(self, run_seed: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(S_R, S_R^½) of the reference half's real features, computed once per (run seed, partition)."""
        if (run_seed, k) not in self.ref_stats:
            cov = np.cov(self.real_feats[self.partitions[run_seed][k][0]].astype(np.float64), rowvar=False)
            self.ref_stats[(run_seed, k)] = (cov, _psd_sqrt(cov))
        return self.ref_stats[(run_seed, k)]


def prepare_split(split: EvalSplit, features: Callable[[np.ndarray], np.ndarray], skeleton: Skeleton,
                  mean_dir_vec: np.ndarray, s: EvalSettings, seed: int, run_seeds: Sequence[int]) -> SplitContext:
    real = np.asarray(split.dir_vec, dtype=np.float32)
    if not (real.shape[0] == len(split.audio) == len(split.videos)):
        raise EvaluationError(f"split {split.name!r}: {real.shape[0]} motion windows, {len(split.audio)} audio "
                              f"clips, {len(split.videos)} video labels; they must match")
    if split.annotations is not None and split.annotations.n_windows != real.shape[0]:
        raise EvaluationError(f"split {split.name!r}: annotations for {split.annotations.n_windows} windows, the "
                              f"split has {real.shape[0]}; re-run build_windows")
    tag = zlib.crc32(split.name.encode())
    parts = {rs: video_partitions(split.videos, s.n_partitions, s.min_half_windows,
                                  np.random.default_rng([seed, rs, tag, 1]), split.name) for rs in run_seeds}
    joints = joints_from_vectors(real, mean_dir_vec, skeleton).astype(np.float32)
    return SplitContext(split, real, features(real), joints, s.sample_rate_hz, parts)


def _joints(gen: np.ndarray, mean_dir_vec: np.ndarray, skeleton: Skeleton, chunk: int = 256) -> np.ndarray:
    """Joint positions (float64) of every window, computed once per generated set, `chunk` windows at a time."""
    return np.concatenate([joints_from_vectors(gen[i:i + chunk], mean_dir_vec, skeleton)
                           for i in range(0, gen.shape[0], chunk)])


def _per_window_paired(ctx: SplitContext, gen_joints: np.ndarray, gen_feats: np.ndarray, n_seed: int,
                       chunk: int = 256) -> dict[str, np.ndarray]:
    """feat_D, joint MAE (after the seed frames) and acceleration difference of each window against its own real
    window; the mean over any subset of windows is then the published metric of that subset."""
    n = gen_joints.shape[0]
    mae, acc = np.empty(n), np.empty(n)
    for i in range(0, n, chunk):
        joints = gen_joints[i:i + chunk]
        real = ctx.real_joints[i:i + chunk].astype(np.float64)
        mae[i:i + chunk] = np.abs(joints[:, n_seed:] - real[:, n_seed:]).mean(axis=(1, 2, 3))
        d2 = np.diff(real, n=2, axis=1) - np.diff(joints, n=2, axis=1)
        acc[i:i + chunk] = np.abs(d2).reshape(d2.shape[0], -1).mean(1)
    return {"feature_distance": np.abs(ctx.real_feats.astype(np.float64) - gen_feats).sum(1), "joint_mae": mae,
            "accel_diff": acc}


def score_motion(ctx: SplitContext, gen: np.ndarray, name: str, run_seed: int,
                 features: Callable[[np.ndarray], np.ndarray], skeleton: Skeleton, mean_dir_vec: np.ndarray,
                 constants: dict, s: EvalSettings, seed: int, scorers: Sequence[Scorer] = (),
                 is_ground_truth: bool = False) -> list[dict]:
    """The rows of one generated motion set `gen` (N, T, D) for every window of the split, under one run seed: one
    faithful row over the whole split and one corrected row per partition (query half against reference half)."""
    split, n = ctx.split.name, ctx.real.shape[0]
    if gen.shape != ctx.real.shape:
        raise EvaluationError(f"{name} on {split!r}: motion of shape {gen.shape}, the split is {ctx.real.shape}")
    code = zlib.crc32(f"{split}/{name}".encode())
    rng = np.random.default_rng([seed, run_seed, code])
    gen_feats = ctx.real_feats if is_ground_truth else features(gen)
    dim = int(gen_feats.shape[1])
    change_c, change_f = np.asarray(constants["corrected"]), np.asarray(constants["faithful"])
    beats = motion_beat_lists(gen, mean_dir_vec, skeleton, "corrected", change_c, s.bc_thres_corrected, s.fps)
    own = bc_terms(beats, ctx.onsets, s.bc_sigma)
    # the BC gap looks only after the seed frames: they are the real motion in every row, and would pair with their
    # own audio in every row, a gap that no generator earned
    after_seed = s.n_seed / s.fps - 1e-9
    beats_g = pad_times([b[b >= after_seed] for b in beats])
    onsets_g = pad_times([o[o >= after_seed] for o in ctx.onsets])     # dropped before padding: times first per row
    own_g = bc_terms_padded(beats_g, onsets_g, s.bc_sigma)
    # a paired metric: over every window of the split (it needs no reference half), once per run seed
    gap_rng = np.random.default_rng([seed, run_seed, code, 0xBC])
    shuffled, same = [], 0
    for _ in range(s.bcgap_derangements):
        perm, n_same = cross_video_derangement(ctx.split.videos, gap_rng)
        shuffled.append(bc_score(bc_terms_padded(beats_g, onsets_g[perm], s.bc_sigma), sequential=False).score)
        same += n_same
    bc_other = float(np.nanmean(shuffled)) if np.isfinite(shuffled).any() else float("nan")
    bc_gap = float(bc_score(own_g, sequential=False).score) - bc_other
    cross_video = 1.0 - same / (s.bcgap_derangements * n)
    # joints once per generated set: the paired errors and the stroke hits of beat F1 share them
    gen_joints = ctx.real_joints if is_ground_truth else _joints(gen, mean_dir_vec, skeleton)
    paired = None if is_ground_truth else _per_window_paired(ctx, gen_joints, gen_feats, s.n_seed)

    # faithful: the whole split as the published evaluator sees it
    n_f = faithful_batches(n, s.batch_size)
    bs = min(s.batch_size, n_f)
    faithful = {"split": split, "seed": run_seed, "partition": WHOLE_SPLIT, "control": name, "n_windows": n_f,
                "n_reference": n_f, "feature_dim": dim}
    if not is_ground_truth:
        fgd_f = frechet_distance(ctx.real_feats[:n_f], gen_feats[:n_f])
        faithful.update(fgd_faithful=float(fgd_f), fgd_faithful_fallback=int(fgd_f.fallback))
    faithful["diversity_faithful"] = float(diversity_faithful([gen_feats[i:i + bs] for i in range(0, n_f, bs)], rng))
    beats_f = motion_beat_lists(gen[:n_f], mean_dir_vec, skeleton, "faithful", change_f, s.bc_thres_faithful, s.fps)
    bc_f = bc_score(bc_terms(beats_f, ctx.onsets[:n_f], s.bc_sigma))
    faithful.update(bc_faithful=float(bc_f.score), bc_faithful_skipped_no_motion_beat=bc_f.n_skipped_no_motion_beat,
                    bc_faithful_skipped_no_onset=bc_f.n_skipped_no_onset)
    rows = [faithful]

    ann = ctx.split.annotations
    hits = None                               # stroke hits of gen, for beat F1 (computed once, when annotated)
    for k, (ref, query) in enumerate(ctx.partitions[run_seed]):
        prng = np.random.default_rng([seed, run_seed, code, k])
        cov_r, root_r = ctx.ref_moments(run_seed, k)
        fgd = frechet_distance_symmetric(ctx.real_feats[ref], gen_feats[query], root_r, cov_r)
        kid = kernel_distance(ctx.real_feats[ref], gen_feats[query])
        div_mean, div_std = diversity(gen_feats[query], n_permutations=s.diversity_permutations, seed=prng)
        bc = bc_score(own, query)
        row = {"split": split, "seed": run_seed, "partition": k, "control": name, "n_windows": int(query.size),
               "n_reference": int(ref.size), "feature_dim": dim,
               "fgd_corrected": float(fgd), "fgd_corrected_fallback": int(fgd.fallback),
               "fgd_small_n": int(min(query.size, ref.size) < 10 * dim),
               "kid_corrected": kid.value, "kid_se": kid.se,
               "diversity_corrected": float(div_mean), "diversity_corrected_std": float(div_std),
               "bc_corrected": float(bc.score), "bc_corrected_skipped_no_motion_beat": bc.n_skipped_no_motion_beat,
               "bc_corrected_skipped_no_onset": bc.n_skipped_no_onset}
        row.update(bc_shuffled=bc_other, bcgap=bc_gap, bcgap_cross_video=cross_video)
        if paired is not None:
            row.update({m: float(v[query].mean()) for m, v in paired.items()})
        if ann is not None:
            if hits is None:
                hits = stroke_hits(gen_joints, skeleton.wrists, s.fps)
            f = beat_f1([hits[i] for i in query], [ann.strokes[i] for i in query], s.fps, gen.shape[1], s.n_seed,
                        s.beat_tolerance_frames)
            row.update(beat_precision=f.precision, beat_recall=f.recall, beat_f1=f.f1)
        for scorer in scorers:
            extra = scorer(split, gen[query], query, prng)
            clash = set(extra) & set(row)
            if clash:
                raise EvaluationError(f"scorer {getattr(scorer, '__name__', scorer)!r} returned metric(s) "
                                      f"{sorted(clash)} that the protocol already reports; rename them")
            row.update({m: float(v) for m, v in extra.items()})
        rows.append(row)
    return rows


def run_controls(splits: Sequence[EvalSplit], train_dir_vec: np.ndarray, train_videos: np.ndarray,
                 features: Callable[[np.ndarray], np.ndarray], skeleton: Skeleton, mean_dir_vec: np.ndarray,
                 constants: dict, s: EvalSettings, seed: int, run_seeds: Sequence[int],
                 scorers: Sequence[Scorer] = (), progress: Callable | None = None) -> list[dict]:
    """The rows of every control on every split: per run seed, one faithful row and `n_partitions` corrected rows.

    `scorers` are plug-in metrics (e.g. trained evaluators: R-precision, classifier accuracy): each is called on
    every corrected row as scorer(split, query motion (n, T, D), query rows in the split, rng) and its metrics
    join the row (and so the summary, with CIs)."""
    for sp in splits:
        check_disjoint_videos(sp.name, sp.videos, train_videos)
    jobs = [(sp, rs, c) for sp in splits for rs in run_seeds for c in CONTROLS]
    rows: list[dict] = []
    ctx: SplitContext | None = None
    for sp, run_seed, control in (progress(jobs) if progress else jobs):
        if ctx is None or ctx.split is not sp:     # one split in memory at a time
            ctx = prepare_split(sp, features, skeleton, mean_dir_vec, s, seed, run_seeds)
        rng = np.random.default_rng([seed, run_seed, CONTROLS.index(control)])
        gen = ctx.real if control == "ground_truth" else make_control(control, ctx.real, train_dir_vec, rng,
                                                                      n_seed=s.n_seed)
        rows += score_motion(ctx, gen, control, run_seed, features, skeleton, mean_dir_vec, constants, s, seed,
                             scorers, is_ground_truth=control == "ground_truth")
    return rows


def run_generator(splits: Sequence[EvalSplit], generate: Callable[[EvalSplit], np.ndarray], name: str,
                  train_videos: np.ndarray, features: Callable[[np.ndarray], np.ndarray], skeleton: Skeleton,
                  mean_dir_vec: np.ndarray, constants: dict, s: EvalSettings, seed: int, run_seeds: Sequence[int],
                  scorers: Sequence[Scorer] = (), progress: Callable | None = None,
                  deterministic: bool = True, contexts: dict[str, SplitContext] | None = None) -> list[dict]:
    """The rows of a model's motion on every split, as run_controls gives a control's: `generate(split)` returns
    (N, T, D) mean-subtracted motion for every window of the split (the seed frames are set to the real ones here,
    as the protocol gives them to every generator). A deterministic generator (a reconstruction) is called once
    per split; otherwise once per run seed. `contexts`: splits already prepared (prepare_split with these
    run_seeds), by name."""
    for sp in splits:
        check_disjoint_videos(sp.name, sp.videos, train_videos)
    jobs = [(sp, rs) for sp in splits for rs in run_seeds]
    rows: list[dict] = []
    ctx: SplitContext | None = None
    gen: np.ndarray | None = None
    for sp, run_seed in (progress(jobs) if progress else jobs):
        if ctx is None or ctx.split is not sp:
            ctx = (contexts or {}).get(sp.name) or prepare_split(sp, features, skeleton, mean_dir_vec, s, seed,
                                                                 run_seeds)
            gen = None
        if gen is None or not deterministic:
            gen = np.array(generate(sp), dtype=np.float32, copy=True)
            if gen.shape != ctx.real.shape:
                raise EvaluationError(f"{name} on {sp.name!r}: motion of shape {gen.shape}, the split is "
                                      f"{ctx.real.shape}")
            gen[:, :s.n_seed] = ctx.real[:, :s.n_seed]
        rows += score_motion(ctx, gen, name, run_seed, features, skeleton, mean_dir_vec, constants, s, seed, scorers)
    return rows
