"""Oracle metrics that need the true gesture annotations (only the demo dataset has them): beat F1 of the motion
beats against the true stroke times.

A motion beat (BC's detector, gesturegen.metrics.beat.motion_beat_lists) matches a stroke when they lie within
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
