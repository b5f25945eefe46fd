"""Cut raw clips into fixed-length, filtered 15 fps windows (ldmc-spec §2.4).

Pure functions on one clip at a time; the build_windows stage owns the files.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from gesturegen.config import BuildWindowsParams
from gesturegen.data.filters import reject_reason
from gesturegen.data.skeleton import Skeleton


def resample_frames(frames: np.ndarray, duration_s: float, fps: float) -> np.ndarray:
    """Resample (T, ...) frames to `fps` as the original does.

    Output frame k samples source index k * T / (duration_s * fps), for k = 0, 1, ... while that is < T, with linear
    interpolation and linear extrapolation past the last source frame.
    """
    n = frames.shape[0]
    step = n / (duration_s * fps)
    pos = np.arange(math.ceil(n / step)) * step
    pos = pos[pos < n]                                                  # (T15,)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, max(n - 2, 0))
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo).reshape((-1,) + (1,) * (frames.ndim - 1))
    src = frames.astype(np.float64, copy=False)
    return src[lo] + frac * (src[hi] - src[lo])


@dataclass(frozen=True)
class WindowSpec:
    """Sizes derived once from build_windows params."""
    fps: int
    n_frames: int          # motion frames per window (34)
    span_frames: int       # frames used for words, filters and audio (34 exact, 42 faithful)
    stride: int
    sample_rate_hz: int
    audio_samples: int     # samples per window
    faithful: bool

    @classmethod
    def from_params(cls, p: BuildWindowsParams) -> WindowSpec:
        faithful = p.span == "faithful"
        span = round(p.n_frames * 1.25) if faithful else p.n_frames  # Python rounds half to even: 42.5 -> 42
        audio = int(span / p.fps * p.sample_rate_hz) if faithful else round(p.n_frames / p.fps * p.sample_rate_hz)
        return cls(p.fps, p.n_frames, span, p.stride, p.sample_rate_hz, audio, faithful)

    def count(self, n_frames_clip: int) -> int:
        return 0 if n_frames_clip < self.span_frames else (n_frames_clip - self.span_frames) // self.stride + 1


@dataclass
class ClipWindows:
    """The accepted windows of one clip."""
    vectors: list[np.ndarray] = field(default_factory=list)   # each (n_frames, V*3), not mean-subtracted
    joints: list[np.ndarray] = field(default_factory=list)    # each (n_frames, J, 3)
    audio: list[np.ndarray] = field(default_factory=list)     # each (audio_samples,)
    words: list[list[tuple[str, float, float]]] = field(default_factory=list)  # absolute seconds
    start_frames: list[int] = field(default_factory=list)     # first 15 fps frame in the clip
    start_times: list[float] = field(default_factory=list)    # seconds in the video
    covered_s: float = 0.0                                    # union of the accepted spans, seconds
    rejected: Counter = field(default_factory=Counter)


def _symmetric_slice(x: np.ndarray, start: int, length: int) -> np.ndarray:
    """x[start:start+length], padded past the end with numpy's 'symmetric' mode (as the original)."""
    piece = x[start:start + length]
    if piece.shape[0] < length:
        piece = np.pad(piece, (0, length - piece.shape[0]), mode="symmetric" if piece.shape[0] else "constant")
    return piece


def words_in_seconds(clip: dict, words_unit: str, aqgt_faithful: bool) -> tuple[list[tuple[str, float, float]],
                                                                               float]:
    """The clip's words as (word, start_s, end_s) in video seconds, and the source fps of frame-numbered words."""
    start, end = float(clip["start_time"]), float(clip["end_time"])
    if words_unit == "seconds":
        return [(str(w), float(s), float(e)) for w, s, e in clip["words"]], float("nan")
    f0 = clip.get("start_frame_no")
    f1 = clip.get("end_frame_no")
    src_fps = (f1 - f0) / (end - start) if f0 is not None and f1 is not None and f1 > f0 else \
        len(clip["skeletons_3d"]) / (end - start)
    f0 = 0 if f0 is None else f0
    if aqgt_faithful:
        return [(str(w), float(s), float(e)) for w, s, e in clip["words"]], src_fps
    return [(str(w), start + (s - f0) / src_fps, start + (e - f0) / src_fps) for w, s, e in clip["words"]], src_fps


def cut_clip(clip: dict, skeleton: Skeleton, spec: WindowSpec, p: BuildWindowsParams, words_unit: str,
             mean_pose: np.ndarray) -> ClipWindows:
    """Resample one (validated) clip, cut windows, filter them and slice their audio."""
    out = ClipWindows()
    start, end = float(clip["start_time"]), float(clip["end_time"])
    duration = end - start
    joints = resample_frames(np.asarray(clip["skeletons_3d"], dtype=np.float64), duration, spec.fps)  # (T15, J, 3)
    n = spec.count(joints.shape[0])
    if n == 0:
        out.rejected["clip_too_short"] += 1
        return out
    aqgt_faithful = words_unit == "frames" and p.aqgt_word_frames == "faithful"
    words, src_fps = words_in_seconds(clip, words_unit, aqgt_faithful)
    audio = np.asarray(clip["audio_raw"])
    vectors = skeleton.to_vectors(joints).reshape(joints.shape[0], -1).astype(np.float32)      # (T15, V*3)
    last_end = -math.inf
    for i in range(n):
        f = i * spec.stride
        if aqgt_faithful:  # the original: source-fps frame number plus 15 fps offsets, no conversion (a bug)
            lo, hi = clip["start_frame_no"] + f, clip["start_frame_no"] + f + spec.span_frames
        else:
            lo, hi = start + f / spec.fps, start + (f + spec.span_frames) / spec.fps
        win_words = [w for w in words if w[1] < hi and w[2] > lo]
        if aqgt_faithful:
            f0 = clip["start_frame_no"]
            win_words = [(w, start + (s - f0) / src_fps, start + (e - f0) / src_fps) for w, s, e in win_words]
        span = joints[f:f + spec.span_frames]
        reason = reject_reason(span, win_words, skeleton, mean_pose, p.filters)
        if reason is not None:
            out.rejected[reason] += 1
            continue
        if spec.faithful:
            a0 = math.floor(f / joints.shape[0] * audio.shape[0])
        else:
            a0 = round(f / spec.fps * spec.sample_rate_hz)
        out.vectors.append(vectors[f:f + spec.n_frames])
        out.joints.append(span[:spec.n_frames].astype(np.float32))
        out.audio.append(_symmetric_slice(audio, a0, spec.audio_samples))
        out.words.append(win_words)
        out.start_frames.append(f)
        out.start_times.append(start + f / spec.fps)
        w0, w1 = start + f / spec.fps, start + (f + spec.span_frames) / spec.fps
        out.covered_s += w1 - max(w0, last_end)
        last_end = w1
    return out


def shared_videos(videos_by_split: dict[str, list[str]]) -> dict[str, list[str]]:
    """Videos found in more than one split, each with the splits it is in (in the given order)."""
    splits_of: dict[str, list[str]] = {}
    for split, vids in videos_by_split.items():
        for vid in dict.fromkeys(vids):
            splits_of.setdefault(vid, []).append(split)
    return {vid: splits for vid, splits in sorted(splits_of.items()) if len(splits) > 1}
