"""Oracle metrics that need the true gesture annotations (only the demo dataset has them): beat F1 of the motion's
stroke hits against the true stroke times.

Stroke hits (`stroke_hits`): a frame where a wrist's downward velocity (y-down) falls to zero or below after it
reached at least `min_speed` (skeleton units per second) within the previous `lookback` frames: the end of a
downward stroke, which is what the demo annotates as the stroke time (the hand's lowest point). Hits of the two
wrists within one frame of each other are one hit (a two-handed stroke). BC's own motion beats (minima of joint
angular speed over every joint, fingers included) fire about 6 times per 34-frame window even in idle motion, so
they cannot tell a stroke from a fidget: measured on the demo's val split, BC's detector gives the ground truth a
beat F1 of 0.31 against 0.23 for a random window, the stroke-hit detector 0.6 against 0.17.

A hit matches a stroke when they lie within
`tolerance_frames` of each other; each beat matches at most one stroke and each stroke at most one beat (greedy in
time order, which is a maximum matching for equal tolerance windows on a line). Only the frames after the seed
frames where BC can detect a beat are scored: [n_seed, T - 2]; strokes and beats outside are ignored.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BeatF1:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else float("nan")


def match_beats(beats: np.ndarray, strokes: np.ndarray, tolerance: float) -> int:
    """How many beats match a stroke one-to-one within `tolerance` (same unit as the times)."""
    b, s = np.sort(np.asarray(beats, np.float64)), np.sort(np.asarray(strokes, np.float64))
    i = j = tp = 0
    while i < b.size and j < s.size:
        if b[i] < s[j] - tolerance:
            i += 1                      # this beat is too early for every stroke left
        elif b[i] > s[j] + tolerance:
            j += 1                      # this stroke has no beat left near it
        else:
            tp, i, j = tp + 1, i + 1, j + 1
    return tp


def beat_f1(beats: Sequence[np.ndarray], strokes: Sequence[np.ndarray], fps: float, n_frames: int, n_seed: int,
            tolerance_frames: float = 2) -> BeatF1:
    """Pooled beat precision / recall / F1 over clips: beats[i] and strokes[i] are times (s) in clip i."""
    if len(beats) != len(strokes):
        raise ValueError(f"got {len(beats)} motion-beat lists but {len(strokes)} stroke lists")
    lo, hi, tol = n_seed / fps, (n_frames - 2) / fps, tolerance_frames / fps + 1e-9
    tp = fp = fn = 0
    for b, s in zip(beats, strokes):
        b, s = np.asarray(b, np.float64), np.asarray(s, np.float64)
        b, s = b[(b >= lo - 1e-9) & (b <= hi + 1e-9)], s[(s >= lo - 1e-9) & (s <= hi + 1e-9)]
        m = match_beats(b, s, tol)
        tp, fp, fn = tp + m, fp + b.size - m, fn + s.size - m
    return BeatF1(tp, fp, fn)


def stroke_hits(joints: np.ndarray, wrists: Sequence[int], fps: float, min_speed: float = 0.2,
                lookback: int = 4) -> list[np.ndarray]:
    """Per window of `joints` (N, T, J, 3; y down), the times (s from frame 0) of its stroke hits (module doc)."""
    joints = np.asarray(joints, dtype=np.float64)
    vy = np.gradient(joints[:, :, list(wrists), 1], axis=1) * fps            # (N, T, W) downward velocity
    n, t = vy.shape[:2]
    ends = (vy[:, :-1] > 0) & (vy[:, 1:] <= 0)                                # stroke ends at frame k + 1
    peak = np.full(vy.shape, -np.inf)
    for k in range(1, t):                                                     # max over frames k - lookback .. k - 1
        peak[:, k] = vy[:, max(0, k - lookback):k].max(axis=1)
    hit = np.zeros((n, t, vy.shape[2]), bool)
    hit[:, 1:] = ends & (peak[:, 1:] >= min_speed)
    out = []
    for i in range(n):
        frames = np.flatnonzero(hit[i].any(axis=1))
        keep = frames[np.concatenate([[True], np.diff(frames) > 1])] if frames.size else frames
        out.append(keep / fps)
    return out
