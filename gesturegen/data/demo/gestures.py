"""The demo's gesture rules (docs/demo_rules.md): beats at word onsets, lexical gestures, phrase drift and idle motion.

Each rule adds to per-hand tracks (wrist offset, finger curls, forearm twist, wrist flexion) and head angles, which
gesturegen.data.demo.body turns into joints. Smooth curves (Gaussian bumps, raised cosines, sines) come from
gesturegen.numerics, so the tracks are the same bits on every machine.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gesturegen import numerics as nx
from gesturegen.data.demo.body import HandTrack, pose_joints
from gesturegen.data.demo.sentences import LEXICAL
from gesturegen.data.demo.speakers import SpeakerStyle


@dataclass(frozen=True)
class _Lexical:
    """Target of a lexical gesture for the acting hand(s): wrist offset (outward, down, back), curls, twist."""
    hands: str                                  # "dominant" | "both"
    offset: tuple[float, float, float]
    curl: tuple[float, float, float, float, float]   # index, middle, pinky, ring, thumb
    twist: float = 0.0
    ramp_s: tuple[float, float] = (0.35, 0.45)      # blend in before the word, blend out after it


def _count(n: int) -> _Lexical:
    # extended in the order index, middle, ring, pinky, thumb (skeleton order: index, middle, pinky, ring, thumb)
    ext = {1: (0,), 2: (0, 1), 3: (0, 1, 3), 4: (0, 1, 3, 2), 5: (0, 1, 3, 2, 4)}[n]
    curl = tuple(0.0 if f in ext else (0.85 if f == 4 else 1.0) for f in range(5))
    return _Lexical("dominant", (-0.03, -0.17, -0.09), curl, 0.5)


LEXICAL_TARGETS = {
    "big": _Lexical("both", (0.17, -0.10, -0.07), (0.05, 0.05, 0.1, 0.05, 0.1), 0.5, (0.45, 0.5)),
    "small": _Lexical("both", (-0.10, -0.10, -0.07), (0.5, 0.75, 0.8, 0.8, 0.45), 0.3),
    # hand to chest: the wrist comes to about (±0.03, -0.60, -0.10), palm towards the body
    "self": _Lexical("dominant", (-0.135, -0.14, 0.09), (0.1, 0.1, 0.15, 0.1, 0.2), 1.1, (0.45, 0.5)),
    "you": _Lexical("dominant", (-0.03, -0.09, -0.16), (0.0, 1.0, 1.0, 1.0, 0.8), 0.0),
    "up": _Lexical("dominant", (0.04, -0.28, 0.0), (0.0, 0.8, 0.9, 0.9, 0.7), -0.4, (0.6, 0.7)),
    **{f"count{n}": _count(n) for n in range(1, 6)},
}


def _envelope(t: np.ndarray, on: float, off: float, ramp_in: float, ramp_out: float) -> np.ndarray:
    """0 → 1 (raised cosine over [on - ramp_in, on]), hold until off, → 0 over [off, off + ramp_out]."""
    up = np.clip((t - (on - ramp_in)) / ramp_in, 0, 1)
    down = np.clip(1 - (t - off) / ramp_out, 0, 1)
    return 0.5 - 0.5 * nx.cos(nx.PI * np.minimum(up, down))


def _bump(x: np.ndarray) -> np.ndarray:
    """exp(-x**2 / 2): the Gaussian shape of strokes, flicks and nods."""
    return nx.exp(-0.5 * (x * x))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_frames: float) -> np.ndarray:
    """Low-pass Gaussian noise with unit standard deviation along axis 0."""
    x = nx.gaussian_filter1d(nx.standard_normal(rng, shape), sigma_frames, axis=0, mode="wrap")
    return x / max(float(x.std()), 1e-9)   # numpy's pairwise sums: a fixed order on every CPU


def _loudness(audio: np.ndarray, sr: int, t0: float) -> float:
    a, b = max(0, int((t0 - 0.03) * sr)), int((t0 + 0.15) * sr)
    seg = audio[a:b].astype(np.float64)
    return float(np.sqrt(np.mean(seg * seg))) if seg.size else 0.0


def beat_strength(stressed: bool, duration_s: float, loudness: float) -> float:
    """Stroke size of a beat: stressed words 2.5x unstressed ones, longer and louder (relative RMS) words more."""
    return (1.0 if stressed else 0.4) * (0.6 + 0.4 * min(duration_s / 0.35, 1.0)) * float(np.clip(loudness, 0.3, 1.2))


def beat_schedule(words: Sequence[tuple[str, float, float, bool]], audio: np.ndarray, sr: int, tempo: float = 1.0
                  ) -> list[tuple[float, float, bool]]:
    """(onset, strength, stressed) of the beat strokes, by onset.

    Stressed words are served first, then unstressed ones in the gaps, at most one stroke per 0.5 s x tempo.
    Loudness is the RMS of the speech around the onset relative to the clip's 90th percentile.
    """
    rms = [_loudness(audio, sr, w[1]) for w in words]
    ref = max(float(np.percentile(rms, 90)) if rms else 0.0, 1e-6)
    min_gap = 0.5 * tempo
    beats: list[tuple[float, float, bool]] = []
    for want_stress in (True, False):
        for (_, w0, w1, stressed), r in zip(words, rms):
            if stressed == want_stress and all(abs(w0 - o) >= min_gap for o, _, _ in beats):
                beats.append((w0, beat_strength(stressed, w1 - w0, r / ref), stressed))
    return sorted(beats)


def gesture_joints(words: Sequence[tuple[str, float, float, bool]], audio: np.ndarray, sr: int, n_frames: int,
                   fps: float, style: SpeakerStyle, rng: np.random.Generator,
                   phrase_starts: Sequence[float] = ()) -> np.ndarray:
    """Joint positions (n_frames, 43, 3) for one clip; word times in seconds from the clip start.

    `words` are (word, start, end, stressed); `audio` is the clip's waveform, used for the loudness of beats.
    """
    t = np.arange(n_frames) / fps                                                    # (T,)
    T = n_frames
    drift_rng, idle_rng, noise_rng = rng.spawn(3)  # independent streams: words change the drift only
    sides = ("left", "right")
    dominant = {"right": ("right",), "left": ("left",), "both": ("right", "left")}[style.handedness]
    beat_gain = {s: (1.0 if s in dominant else 0.35) for s in sides}
    rest = np.array(style.rest_offset)
    tracks = {s: HandTrack(np.tile(rest, (T, 1)), np.full((T, 5), style.rest_curl), np.zeros(T), np.zeros(T))
              for s in sides}
    head = np.zeros((T, 3))                                                          # yaw, pitch (nod), roll

    beats = beat_schedule(words, audio, sr, style.tempo)
    # phrase drift: the hands' resting place in gesture space moves at every sentence and at about every second
    # stressed stroke
    moves = sorted({0.0, *phrase_starts,
                    *(w0 - 0.15 for w0, _, stressed in beats if stressed and drift_rng.random() < 0.5)})
    drift_sd = np.array([0.04, 0.045, 0.035])
    for s in sides:
        steps = np.zeros((T, 3))
        for p0 in moves:
            steps[t >= p0] = drift_sd * nx.standard_normal(drift_rng, (3,))
        tracks[s].offset += nx.gaussian_filter1d(steps, 0.2 * fps, axis=0, mode="nearest")
    # (a) beats at word onsets (beat_schedule): the wrist strokes down and a little forward, the hand opens and
    # flicks, strong stressed beats nod the head
    beat = {s: np.zeros((T, 3)) for s in sides}
    beat_curl = np.zeros(T)
    beat_flex = np.zeros(T)
    for w0, strength, stressed in beats:
        tau = (t - w0) / style.tempo
        # preparation (the hand rises before the onset), stroke (down through the onset), retraction
        stroke = -0.45 * _bump((tau + 0.2) / 0.12) + 0.6 * _bump((tau - 0.08) / 0.1)
        amp = 0.16 * style.amplitude * strength
        for s in sides:
            beat[s] += amp * beat_gain[s] * stroke[:, None] * np.array([0.15, 1.0, -0.35])
        beat_curl += -0.35 * strength * _bump((tau - 0.04) / 0.1)                   # the hand opens on the stroke
        beat_flex += 0.35 * strength * stroke
        if stressed and strength > 0.7:
            head[:, 1] += 0.06 * strength * _bump((tau - 0.1) / 0.1)

    # (b) lexical gestures: blend towards the word's target from just before the word until just after it; beats
    # go on at 40 % during a lexical gesture
    weights = {s: np.zeros(T) for s in sides}
    sums = {s: HandTrack(np.zeros((T, 3)), np.zeros((T, 5)), np.zeros(T), np.zeros(T)) for s in sides}
    for word, w0, w1, _ in words:
        kind = LEXICAL.get(word)
        if kind is None:
            continue
        if kind == "no":  # head shake, about ±14° at 3 Hz
            env = _envelope(t, w0, w1 + 0.25 * style.tempo, 0.2, 0.3)
            head[:, 0] += 0.25 * nx.sin(2 * nx.PI * 3.0 * (t - w0)) * env
            continue
        target = LEXICAL_TARGETS[kind]
        env = _envelope(t, w0, w1 + 0.25 * style.tempo, target.ramp_s[0] * style.tempo, target.ramp_s[1] * style.tempo)
        for s in (sides if target.hands == "both" else dominant[:1]):
            weights[s] += env
            sums[s].offset += env[:, None] * np.array(target.offset)
            sums[s].curl += env[:, None] * np.array(target.curl)
            sums[s].twist += env * target.twist
    for s in sides:
        w = weights[s]
        cover = np.minimum(w, 1.0)
        norm = np.maximum(w, 1.0)
        tr = tracks[s]
        keep = 1.0 - cover
        tr.offset = tr.offset * keep[:, None] + sums[s].offset / norm[:, None]
        tr.curl = tr.curl * keep[:, None] + sums[s].curl / norm[:, None]
        tr.twist = tr.twist * keep + sums[s].twist / norm
        damp = 1.0 - 0.6 * cover
        tr.offset += beat[s] * damp[:, None]
        tr.curl += (beat_curl * beat_gain[s] * damp)[:, None]
        tr.flex += beat_flex * beat_gain[s] * damp

    # (d) idle: slow drift of hands and fingers, breathing, sway and head drift
    sway = style.sway
    for s in sides:
        tracks[s].offset += 0.012 * sway * _smooth_noise(idle_rng, (T, 3), 0.5 * fps)
        tracks[s].curl += 0.08 * _smooth_noise(idle_rng, (T, 5), 0.4 * fps)
        tracks[s].twist += 0.1 * _smooth_noise(idle_rng, (T,), 0.6 * fps)
    head += 0.04 * sway * _smooth_noise(idle_rng, (T, 3), 0.7 * fps)
    breath = 0.02 * nx.sin(2 * nx.PI * t / idle_rng.uniform(3.5, 4.5) + idle_rng.uniform(0, 2 * nx.PI))
    lean = np.stack([0.03 * sway * nx.sin(2 * nx.PI * 0.11 * t + idle_rng.uniform(0, 2 * nx.PI)),
                     0.02 * sway * nx.sin(2 * nx.PI * 0.07 * t + idle_rng.uniform(0, 2 * nx.PI))], -1)

    # tempo/smoothness of the speaker
    sigma = style.smoothness_s * fps
    for s in sides:
        tr = tracks[s]
        tr.offset = nx.gaussian_filter1d(tr.offset, sigma, axis=0, mode="nearest")
        tr.curl = np.clip(nx.gaussian_filter1d(tr.curl, sigma, axis=0, mode="nearest"), -0.1, 1.1)
        tr.twist = nx.gaussian_filter1d(tr.twist, sigma, mode="nearest")
        tr.flex = nx.gaussian_filter1d(tr.flex, sigma, mode="nearest")
    head = nx.gaussian_filter1d(head, sigma, axis=0, mode="nearest")
    return pose_joints(tracks, head, breath, lean, noise_rng)
