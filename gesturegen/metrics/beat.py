"""Beat Consistency (BC) of the TED lineage: HA2G / DiffGesture `test_expressive.py: evaluate_testset`
(metrics.md §2.4 and §2.8). Motion beats are minima of a normalised bone-angle change score; each audio onset
scores exp(-d²/2σ²) with d its distance to the nearest motion beat.

Audio onsets come from `librosa.onset.onset_detect` with its defaults, so BC depends on the librosa version;
the project pins librosa==0.11.0 (envs/requirements.txt). Two modes: "faithful" reproduces DiffGesture's TED
Expressive numbers (flat normalisation, thres 0.001, the published constants), "corrected" normalises each vector.
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gesturegen.data.skeleton import AQGT, TED_EXPRESSIVE, Skeleton, SkeletonError

Normalize = Literal["flat", "per_vector"]
Mode = Literal["faithful", "corrected"]

# --- published TED Expressive constants (DiffGesture test_expressive.py, identical in HA2G) ---
# vectors 0..41 are the dataset's direction vectors; 42 = left palm normal, 43 = right palm normal
TED_EXPRESSIVE_ANGLE_PAIRS: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (11, 12), (12, 13), (14, 15), (15, 16),
    (17, 18), (18, 19), (17, 5), (5, 8), (8, 14), (14, 11), (2, 20), (20, 21), (22, 23), (23, 24), (25, 26),
    (26, 27), (28, 29), (29, 30), (31, 32), (32, 33), (34, 35), (35, 36), (34, 22), (22, 25), (25, 31), (31, 28),
    (0, 37), (37, 38), (37, 39), (38, 40), (39, 41), (4, 42), (21, 43))

TED_EXPRESSIVE_CHANGE_ANGLE: tuple[float, ...] = (
    0.0027804733254015446, 0.002761547453701496, 0.005953566171228886, 0.013764726929366589,
    0.022748252376914024, 0.039307352155447006, 0.03733552247285843, 0.03775784373283386, 0.0485558956861496,
    0.032914578914642334, 0.03800227493047714, 0.03757007420063019, 0.027338404208421707, 0.01640886254608631,
    0.003166505601257086, 0.0017252820543944836, 0.0018696568440645933, 0.0016072227153927088, 0.005681346170604229,
    0.013287615962326527, 0.021516695618629456, 0.033936675637960434, 0.03094293735921383, 0.03378918394446373,
    0.044323261827230453, 0.034706637263298035, 0.03369896858930588, 0.03573163226246834, 0.02628341130912304,
    0.014071882702410221, 0.0029828345868736506, 0.0015706412959843874, 0.0017107439925894141, 0.0014634154504165053,
    0.004873405676335096, 0.002998138777911663, 0.0030240598134696484, 0.0009890805231407285, 0.0012279648799449205,
    0.047324635088443756, 0.04472292214632034)

DEFAULT_THRES = {"faithful": 0.001, "corrected": 0.03}
_NORMALIZE = {"faithful": "flat", "corrected": "per_vector"}
_F_NORMALIZE_EPS = 1e-12       # torch.nn.functional.normalize's eps

# Palm normals appended after the dataset's vectors, as cross(sum of vectors a, sum of vectors b) per hand.
# TED Expressive (published): left = cross(v11, v17), right = cross(v28, v34), i.e. wrist->pinky1 x wrist->thumb1.
# AQGT (ours): wrist->index1 x wrist->pinky1. Index1 hangs off the wrist (v16 / v37); pinky1 hangs off the
# near-zero hand-root offset (v11 / v32), so wrist->pinky1 = v11 + v28 (left) and v32 + v49 (right).
_PALMS: dict[str, tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]] = {
    TED_EXPRESSIVE.name: (((11,), (17,)), ((28,), (34,))),
    AQGT.name: (((16,), (11, 28)), ((37,), (32, 49))),
}


def _aqgt_angle_pairs() -> tuple[tuple[int, int], ...]:
    """(parent bone, child bone) along the arm and finger chains of the AQGT parent array, then (forearm, palm).

    AQGT vector i is the bone ending at joint i. For every arm/hand joint c (index >= 5, i.e. below the shoulders)
    whose parent p is not a branch point, (p, c) pairs the bone into p with the bone into c. Branch points (the
    thorax, the wrists, the hand roots) are excluded: bones leaving them are siblings, not a chain, and the hand-root
    offset is ~0 so its direction is noise. That gives shoulder-upper arm and upper arm-forearm, and the three
    consecutive pairs of each finger (17 per side), then (left forearm 7, left palm 53) and (right forearm 10,
    right palm 54), mirroring TED Expressive's (4, 42) and (21, 43). 36 pairs in all.
    """
    parents = [p for p, _ in AQGT.bones]
    n_children = Counter(parents)
    pairs = [(parents[c], c) for c in range(5, AQGT.n_vectors) if parents[c] > 0 and n_children[parents[c]] == 1]
    return tuple(pairs) + ((7, AQGT.n_vectors), (10, AQGT.n_vectors + 1))


def angle_pairs(skeleton: Skeleton) -> tuple[tuple[int, int], ...]:
    """The BC angle pairs (i, j) over the skeleton's vectors plus its two palm normals (indices V and V+1).

    TED Expressive: the published 41 pairs (finger chains, inter-finger, neck-head, forearm-palm).
    AQGT: 36 pairs derived from the parent array, see `_aqgt_angle_pairs`.
    """
    if skeleton.name == TED_EXPRESSIVE.name:
        return TED_EXPRESSIVE_ANGLE_PAIRS
    if skeleton.name == AQGT.name:
        return _aqgt_angle_pairs()
    raise SkeletonError(f"no BC angle pairs defined for skeleton {skeleton.name!r}")


def _as_vectors(vectors: np.ndarray, skeleton: Skeleton, where: str, dtype: type | None = np.float64) -> np.ndarray:
    """(..., V, 3) or flat (..., V*3) -> (..., V, 3), as float64 unless dtype is None (keeps a memmap lazy)."""
    vectors = np.asarray(vectors, dtype=dtype)
    if vectors.ndim >= 1 and vectors.shape[-1] == skeleton.dim:
        vectors = vectors.reshape(vectors.shape[:-1] + (skeleton.n_vectors, 3))
    return skeleton.check_vectors(vectors, where)


def _beat_vectors(vectors: np.ndarray, skeleton: Skeleton, normalize: Normalize) -> np.ndarray:
    """Vectors with the mean added (..., V, 3) -> palm normals appended and normalised (..., V+2, 3)."""
    palms = [np.cross(vectors[..., list(a), :].sum(-2), vectors[..., list(b), :].sum(-2))[..., None, :]
             for a, b in _PALMS[skeleton.name]]
    allv = np.concatenate([vectors, *palms], axis=-2)                           # (..., V+2, 3)
    if normalize == "flat":
        # DiffGesture F.normalize on the whole (V+2)*3 frame vector: sub-vectors end up with norm ~1/sqrt(V+2)
        norm = np.linalg.norm(allv.reshape(allv.shape[:-2] + (-1,)), axis=-1)[..., None, None]
    elif normalize == "per_vector":
        norm = np.linalg.norm(allv, axis=-1, keepdims=True)
    else:
        raise ValueError(f"normalize must be 'flat' or 'per_vector', got {normalize!r}")
    return allv / np.maximum(norm, _F_NORMALIZE_EPS)


def angle_series(dir_vec_with_mean: np.ndarray, skeleton: Skeleton,
                 normalize: Normalize = "per_vector") -> np.ndarray:
    """Angles a = acos(clip(<v_i, v_j>, -1, 1)) / pi for every BC pair.

    Args:
        dir_vec_with_mean: raw vectors (mean added back), (..., T, V, 3) or flat (..., T, V*3).
        normalize: "flat" (DiffGesture Expressive: one normalisation over the whole frame vector incl. palm
            normals) or "per_vector" (each 3-d vector to unit length).
    Returns:
        (..., T, P) angles in [0, 1].
    """
    vec = _beat_vectors(_as_vectors(dir_vec_with_mean, skeleton, "dir_vec_with_mean"), skeleton, normalize)
    pairs = np.asarray(angle_pairs(skeleton))                                   # (P, 2)
    dots = np.sum(vec[..., pairs[:, 0], :] * vec[..., pairs[:, 1], :], axis=-1)  # (..., T, P)
    return np.arccos(np.clip(dots, -1.0, 1.0)) / np.pi


def angle_diff(angles: np.ndarray, change_angle: Sequence[float] | np.ndarray) -> np.ndarray:
    """Per-frame change score: d[t] = sum_p |a[t,p] - a[t-1,p]| / change_angle[p] / P, with d[0] = 0.

    angles (..., T, P) -> (..., T).
    """
    angles = np.asarray(angles, dtype=np.float64)
    change = _check_change_angle(change_angle, angles.shape[-1])
    steps = np.abs(np.diff(angles, axis=-2)) / change / change.size           # (..., T-1, P)
    d = steps.sum(-1)                                                           # (..., T-1)
    return np.concatenate([np.zeros(d.shape[:-1] + (1,)), d], axis=-1)


def angle_change_constants(train_vectors: np.ndarray, skeleton: Skeleton, normalize: Normalize = "per_vector",
                           chunk_size: int = 1024) -> np.ndarray:
    """change_angle for a dataset: mean |a[t] - a[t-1]| per pair over all consecutive frames of the train windows.

    The analogue of HA2G's `calculate_angle_stats.py`, for datasets other than TED Expressive. Use the same
    `normalize` as the BC mode the constants are meant for ("per_vector" for corrected mode).

    Args:
        train_vectors: raw vectors with the mean added back, (N, T, V*3) or (N, T, V, 3); may be a memmap
            (processed `chunk_size` windows at a time).
    Returns:
        (P,) float64, in angle_pairs(skeleton) order.
    """
    train_vectors = np.asarray(train_vectors)
    if train_vectors.ndim not in (3, 4) or train_vectors.shape[0] < 1 or train_vectors.shape[1] < 2:
        raise ValueError(f"train_vectors: expected (N, T>=2, V*3) or (N, T>=2, V, 3), got {train_vectors.shape}")
    total = np.zeros(len(angle_pairs(skeleton)))
    count = 0
    for start in range(0, train_vectors.shape[0], chunk_size):
        a = angle_series(train_vectors[start:start + chunk_size], skeleton, normalize)  # (n, T, P)
        steps = np.abs(np.diff(a, axis=1))                                      # (n, T-1, P)
        if not np.isfinite(steps).all():
            raise ValueError(f"train_vectors: non-finite values in windows {start}..{start + a.shape[0] - 1}")
        total += steps.sum((0, 1))
        count += steps.shape[0] * steps.shape[1]
    return total / count


def _check_change_angle(change_angle: Sequence[float] | np.ndarray, n_pairs: int) -> np.ndarray:
    change = np.asarray(change_angle, dtype=np.float64)
    if change.shape != (n_pairs,):
        raise ValueError(f"change_angle: expected {n_pairs} constants (one per angle pair), got shape {change.shape}")
    if not (np.isfinite(change).all() and (change > 0).all()):
        raise ValueError("change_angle: constants must be finite and > 0 (a pair whose angle never changes in the "
                         "train split cannot normalise the change score)")
    return change


def motion_beats(angle_diff: np.ndarray, thres: float, fps: float = 15) -> np.ndarray:
    """Motion-beat times (s): frames t in 2..T-2 where angle_diff[t] is a strict local minimum and
    max(angle_diff[t-1], angle_diff[t+1]) - angle_diff[t] >= thres; time = t / fps. (range(2, 33) for T = 34.)"""
    d = np.asarray(angle_diff, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"angle_diff: expected a (T,) series, got shape {d.shape}")
    t = np.arange(2, d.size - 1)
    if t.size == 0:
        return np.zeros(0)
    prev, cur, nxt = d[t - 1], d[t], d[t + 1]
    beat = (cur < prev) & (cur < nxt) & (np.maximum(prev, nxt) - cur >= thres)
    return t[beat] / fps


def _mono_float32(audio: np.ndarray) -> np.ndarray:
    """A mono clip as float32, refusing other shapes and NaN/inf."""
    y = np.asarray(audio)
    if y.ndim != 1:
        raise ValueError(f"audio: expected a mono (S,) signal, got shape {y.shape}")
    y = y.astype(np.float32)
    if not np.isfinite(y).all():
        raise ValueError("audio: contains NaN/inf")
    return y


def audio_onsets(audio: np.ndarray, sr: int = 16000) -> np.ndarray:
    """Onset times (s) from librosa.onset.onset_detect(y=audio, sr=sr, units='time'), all other defaults
    (hop 512, backtrack=False). The audio is cast to float32; a zero-length or all-silent clip gives no onsets."""
    y = _mono_float32(audio)
    if not y.any():
        return np.zeros(0)            # what librosa returns for an all-zero envelope, without its short-input warning
    import librosa  # heavy import, only needed here

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large", category=UserWarning)
        return np.asarray(librosa.onset.onset_detect(y=y, sr=sr, units="time"), dtype=np.float64)


def audio_onsets_many(audios: Sequence[np.ndarray], sr: int = 16000, batch: int = 256) -> list[np.ndarray]:
    """audio_onsets of every clip, the same values, about 1.4× faster for many clips: the STFTs of clips of equal
    length are computed `batch` at a time and the mel filter bank once, where librosa.onset.onset_detect(y=...)
    rebuilds the filter bank (a quarter of its time) for every clip. The steps after the STFT are librosa's own, per
    clip (power_to_db's top_db floor is relative to each clip's maximum): the mel projection
    (np.einsum("...ft,mf->...mt", |STFT|², mel basis), as librosa.feature.melspectrogram),
    librosa.onset.onset_strength(S=dB) and librosa.onset.onset_detect(onset_envelope=..., units="time").
    tests/unit/test_metrics_beat.py checks the equality on real speech."""
    import librosa

    clips = [_mono_float32(a) for a in audios]
    out: list[np.ndarray] = [np.zeros(0)] * len(clips)
    by_length: dict[int, list[int]] = {}
    for i, y in enumerate(clips):
        if y.any():                      # an all-silent clip has no onsets (audio_onsets)
            by_length.setdefault(y.size, []).append(i)
    mel_basis = librosa.filters.mel(sr=sr, n_fft=2048, fmax=0.5 * sr)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large", category=UserWarning)
        for idx in by_length.values():
            for j in range(0, len(idx), batch):
                rows = idx[j:j + batch]
                power = np.abs(librosa.stft(np.stack([clips[i] for i in rows]), n_fft=2048, hop_length=512)) ** 2
                for i, p in zip(rows, power):
                    mel = np.abs(np.einsum("...ft,mf->...mt", p, mel_basis, optimize=True))
                    env = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr)
                    out[i] = np.asarray(librosa.onset.onset_detect(onset_envelope=env, sr=sr, units="time"),
                                        dtype=np.float64)
    return out


def onset_scores(onsets: np.ndarray, beats: np.ndarray, sigma: float = 0.1) -> np.ndarray:
    """exp(-min_m (a - m)² / (2 sigma²)) per audio onset a against the motion beats m: (A,) -> (A,)."""
    onsets, beats = np.asarray(onsets, dtype=np.float64), np.asarray(beats, dtype=np.float64)
    if beats.size == 0:
        raise ValueError("onset_scores: no motion beats to align with")
    d2 = np.min((onsets[:, None] - beats[None, :]) ** 2, axis=1)                # (A,)
    return np.exp(-d2 / (2 * sigma ** 2))


@dataclass(frozen=True)
class BCResult:
    """BC over a set of clips.

    score: sum of all onset terms / n_onsets (the published AverageMeter weighted by onsets per clip);
        NaN when no clip was scored.
    n_scored + n_skipped_no_motion_beat + n_skipped_no_onset == n_clips. A clip without a motion beat is skipped
    (as published) before its audio is looked at; a clip with motion beats but no audio onset is skipped too
    (the original would raise ZeroDivisionError on it).
    """

    score: float
    n_clips: int
    n_scored: int
    n_skipped_no_motion_beat: int
    n_skipped_no_onset: int
    n_onsets: int
    mode: str
    thres: float


def beat_consistency(dir_vecs: np.ndarray, mean_dir_vec: np.ndarray, audios: np.ndarray | Sequence[np.ndarray] | None,
                     skeleton: Skeleton, mode: Mode = "faithful",
                     change_angle: Sequence[float] | np.ndarray | None = None, thres: float | None = None,
                     sigma: float = 0.1, sr: int = 16000, fps: float = 15,
                     onsets: Sequence[np.ndarray] | None = None, chunk_size: int = 512) -> BCResult:
    """Beat Consistency of N clips.

    faithful: DiffGesture Expressive. Palm normals from the mean-added vectors, one flat normalisation of the whole
        (V+2)*3 frame vector, thres 0.001, change_angle defaults to the published TED Expressive constants
        (other skeletons must pass theirs).
    corrected: each 3-d vector normalised on its own, thres 0.03, change_angle required (compute it with
        `angle_change_constants(train, skeleton, "per_vector")`, or pass TED_EXPRESSIVE_CHANGE_ANGLE).

    Args:
        dir_vecs: mean-subtracted vectors (N, T, V*3) or (N, T, V, 3), all T frames (seed frames included).
        mean_dir_vec: (V*3,) or (V, 3), added back before the angles.
        audios: (N, S) or N mono arrays at `sr`; ignored when `onsets` (N arrays of onset times, s) is given,
            e.g. to reuse the ground-truth clips' onsets for the generated ones.
    """
    if mode not in _NORMALIZE:
        raise ValueError(f"mode must be 'faithful' or 'corrected', got {mode!r}")
    vecs = _as_vectors(dir_vecs, skeleton, "dir_vecs", dtype=None)                # cast chunk by chunk below
    if vecs.ndim != 4:
        raise ValueError(f"dir_vecs: expected (N, T, {skeleton.dim}) clips, got {np.shape(dir_vecs)}")
    mean = np.asarray(mean_dir_vec, dtype=np.float64).reshape(-1)
    if mean.size != skeleton.dim:
        raise ValueError(f"mean_dir_vec: expected {skeleton.dim} values, got {mean.size}")
    n = vecs.shape[0]
    if onsets is None:
        if audios is None:
            raise ValueError("beat_consistency needs `audios` or precomputed `onsets`")
        if len(audios) != n:
            raise ValueError(f"got {n} motion clips but {len(audios)} audio clips")
    elif len(onsets) != n:
        raise ValueError(f"got {n} motion clips but {len(onsets)} onset lists")
    if change_angle is None:
        if mode == "faithful" and skeleton.name == TED_EXPRESSIVE.name:
            change_angle = TED_EXPRESSIVE_CHANGE_ANGLE
        else:
            raise ValueError(f"beat_consistency({mode!r}) on {skeleton.name}: pass change_angle, computed from the "
                             f"train split with angle_change_constants(...)")
    change = _check_change_angle(change_angle, len(angle_pairs(skeleton)))
    thres = DEFAULT_THRES[mode] if thres is None else float(thres)
    normalize = _NORMALIZE[mode]
    mean = mean.reshape(skeleton.n_vectors, 3)

    beats = _beats_of_chunks(vecs, mean, skeleton, normalize, change, thres, fps, chunk_size)
    need = [i for i, b in enumerate(beats) if b.size]       # onsets are only detected where a motion beat exists
    times = [np.zeros(0)] * n
    for i in need:
        times[i] = np.asarray(onsets[i], dtype=np.float64) if onsets is not None else audio_onsets(audios[i], sr)
    return bc_score(bc_terms(beats, times, sigma), mode=mode, thres=thres)


def _beats_of_chunks(vecs: np.ndarray, mean: np.ndarray, skeleton: Skeleton, normalize: Normalize,
                     change: np.ndarray, thres: float, fps: float, chunk_size: int) -> list[np.ndarray]:
    out = []
    for start in range(0, vecs.shape[0], chunk_size):
        chunk = vecs[start:start + chunk_size].astype(np.float64) + mean                # (n, T, V, 3)
        diff = angle_diff(angle_series(chunk, skeleton, normalize), change)             # (n, T)
        out.extend(motion_beats(d, thres, fps) for d in diff)
    return out


def motion_beat_lists(dir_vecs: np.ndarray, mean_dir_vec: np.ndarray, skeleton: Skeleton, mode: Mode,
                      change_angle: Sequence[float] | np.ndarray, thres: float | None = None, fps: float = 15,
                      chunk_size: int = 512) -> list[np.ndarray]:
    """The motion-beat times (s) of every clip, as BC detects them in `mode` (one array per clip, maybe empty).

    Detect once, then score any subset or any pairing with audio with `bc_terms` / `bc_score`."""
    if mode not in _NORMALIZE:
        raise ValueError(f"mode must be 'faithful' or 'corrected', got {mode!r}")
    vecs = _as_vectors(dir_vecs, skeleton, "dir_vecs", dtype=None)
    if vecs.ndim != 4:
        raise ValueError(f"dir_vecs: expected (N, T, {skeleton.dim}) clips, got {np.shape(dir_vecs)}")
    mean = np.asarray(mean_dir_vec, dtype=np.float64).reshape(skeleton.n_vectors, 3)
    change = _check_change_angle(change_angle, len(angle_pairs(skeleton)))
    thres = DEFAULT_THRES[mode] if thres is None else float(thres)
    return _beats_of_chunks(vecs, mean, skeleton, _NORMALIZE[mode], change, thres, fps, chunk_size)


@dataclass(frozen=True)
class BCTerms:
    """Per clip: the sum of its onset terms, its number of onsets, and its status (0 scored, 1 skipped: no motion
    beat, 2 skipped: no audio onset). BC of any subset of clips = `bc_score(terms, rows)`."""
    sums: np.ndarray     # (N,) float64
    counts: np.ndarray   # (N,) int64
    status: np.ndarray   # (N,) int8


def pad_times(lists: Sequence[np.ndarray]) -> np.ndarray:
    """Ragged per-clip times as one (N, L) float64 array padded with NaN (L >= 1), for bc_terms_padded."""
    sizes = [np.asarray(x).size for x in lists]
    out = np.full((len(lists), max(sizes, default=0) or 1), np.nan)
    for i, x in enumerate(lists):
        out[i, :sizes[i]] = np.asarray(x, dtype=np.float64).reshape(-1)
    return out


def bc_terms(beats: Sequence[np.ndarray], onsets: Sequence[np.ndarray], sigma: float = 0.1) -> BCTerms:
    """BC's per-clip terms for motion beats `beats[i]` against audio onsets `onsets[i]` (any pairing)."""
    if len(beats) != len(onsets):
        raise ValueError(f"got {len(beats)} motion-beat lists but {len(onsets)} onset lists")
    return bc_terms_padded(pad_times(beats), pad_times(onsets), sigma)


def bc_terms_padded(beats: np.ndarray, onsets: np.ndarray, sigma: float = 0.1) -> BCTerms:
    """bc_terms on NaN-padded (N, B) motion beats and (N, A) audio onsets (pad_times): every clip at once, so
    re-pairing clips with other audio (the BC gap's derangements) is one indexing and a few array operations. Each
    row of `onsets` holds its times first and NaN after them (pad_times): a NaN before a time is an error."""
    if beats.shape[0] != onsets.shape[0]:
        raise ValueError(f"got {beats.shape[0]} motion-beat rows but {onsets.shape[0]} onset rows")
    has_b, has_a = np.isfinite(beats), np.isfinite(onsets)
    gaps = np.flatnonzero((has_a[:, 1:] & ~has_a[:, :-1]).any(1))
    if gaps.size:
        raise ValueError(f"onsets: row {int(gaps[0])} (and {gaps.size - 1} more) has a NaN before an onset time; "
                         f"each row must hold its times first and the NaN padding after them (build it with "
                         f"pad_times, dropping unwanted onsets before padding)")
    nb, na = has_b.sum(1), has_a.sum(1)
    status = np.where(nb == 0, 1, np.where(na == 0, 2, 0)).astype(np.int8)
    b = np.where(has_b, beats, np.inf)
    with np.errstate(invalid="ignore"):
        d2 = np.min((onsets[:, :, None] - b[:, None, :]) ** 2, axis=2)           # (N, A): nearest motion beat
        terms = np.where(has_a & (status == 0)[:, None], np.exp(-d2 / (2 * sigma ** 2)), 0.0)
    sums = np.zeros(beats.shape[0])
    scored = status == 0
    for k in np.unique(na[scored]):      # each clip's k onsets summed as onset_scores(...).sum() sums them: one
        rows = np.flatnonzero(scored & (na == k))      # contiguous row of k per clip, numpy's pairwise sum
        sums[rows] = terms[rows, :k].sum(axis=1)
    return BCTerms(sums, np.where(status == 0, na, 0).astype(np.int64), status)


def bc_score(terms: BCTerms, rows: Sequence[int] | np.ndarray | None = None, mode: str = "corrected",
             thres: float = float("nan"), sequential: bool = True) -> BCResult:
    """BC over clips `rows` (default: all): the onset-weighted mean of their terms, skipped clips counted."""
    rows = np.arange(terms.sums.size) if rows is None else np.asarray(rows, dtype=np.int64)
    total, n_onsets = 0.0, 0
    status = terms.status[rows]
    if sequential:
        for i in rows[status == 0]:      # sequential, in clip order: the published AverageMeter's arithmetic
            total += float(terms.sums[i])
            n_onsets += int(terms.counts[i])
    else:                                # numpy's pairwise sum: the same value up to rounding, much faster
        total, n_onsets = float(terms.sums[rows[status == 0]].sum()), int(terms.counts[rows[status == 0]].sum())
    n_scored = int((status == 0).sum())
    return BCResult(score=total / n_onsets if n_onsets else float("nan"), n_clips=int(rows.size), n_scored=n_scored,
                    n_skipped_no_motion_beat=int((status == 1).sum()), n_skipped_no_onset=int((status == 2).sum()),
                    n_onsets=n_onsets, mode=mode, thres=thres)
