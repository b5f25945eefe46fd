"""The demo's gesture rules (docs/demo_rules.md): beats on accented words, lexical gestures, drift and idle motion.

Beats go to the accents of each intonation unit (its most prominent stressed words) and, with the speaker's
probability, small ones to its other stressed words; their size follows the word's loudness and the sentence's
emphasis, and calm sentences have none. gesture_joints also returns what it did (stroke hits, lexical events): the
evaluation-only annotations of the demo. Each rule adds to per-hand tracks (wrist offset, finger curls, forearm twist, wrist flexion) and head angles, which
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


@dataclass(frozen=True)
class Phrase:
    """One sentence as it was said: its words [first, first + sum(units)), its intonation units and its emphasis."""
    first: int                   # index of its first word in the clip's word list
    units: tuple[int, ...]       # word counts of its intonation units (the stretches between commas)
    emphasis: float              # scales its beats; the clip generator scales the loudness of its speech with it
    calm: bool = False           # said calmly: no beats, and each lexical gesture only with probability CALM_LEXICAL

    @property
    def stop(self) -> int:
        return self.first + sum(self.units)


@dataclass(frozen=True)
class Beat:
    onset: float                 # the word's onset, s from the clip start
    strength: float              # stroke size (before the speaker's amplitude)
    accent: bool                 # an accent of its intonation unit, or a minor beat


IDLE_CURL, IDLE_TWIST = 0.08, 0.1  # idle drift of the finger curls and the forearm twist
CALM_LEXICAL = 0.5               # a calm phrase performs each of its lexical gestures with this probability
MIN_BEAT = 0.2                   # beats weaker than this are not made (they would vanish in the idle motion)
# the stroke's hit: the hand's lowest point, where the stroke stops (a minimum of wrist speed), relative to the
# word's onset, for tempo 1 (the stroke shape in gesture_joints)
STROKE_HIT_S = 0.088


def beat_strength(stressed: bool, duration_s: float, loudness: float) -> float:
    """Prominence of a word: stressed words 2.5x unstressed ones, longer and louder (relative RMS) words more."""
    return (1.0 if stressed else 0.4) * (0.6 + 0.4 * min(duration_s / 0.35, 1.0)) * float(np.clip(loudness, 0.3, 1.2))


def beat_schedule(words: Sequence[tuple[str, float, float, bool]], audio: np.ndarray, sr: int,
                  phrases: Sequence[Phrase], tempo: float = 1.0, minor_prob: float = 0.0,
                  rng: np.random.Generator | None = None) -> list[Beat]:
    """The beat strokes of a clip, by onset.

    In each intonation unit of a phrase that is not calm, the accents are its most prominent stressed words (one in
    a unit of up to four words, two in a longer one; prominence = beat_strength); every other stressed word gets a
    minor beat (half as strong) with probability `minor_prob` (drawn from `rng`). Strength = prominence x the
    phrase's emphasis; loudness is the RMS of the speech around the onset relative to the clip's 90th percentile.
    Accents are placed first, strongest first, then minor beats, at most one stroke per 0.5 s x tempo; beats weaker
    than MIN_BEAT are dropped.
    """
    rms = [_loudness(audio, sr, w[1]) for w in words]
    ref = max(float(np.percentile(rms, 90)) if rms else 0.0, 1e-6)
    accents: list[Beat] = []
    minors: list[Beat] = []
    for ph in phrases:
        if ph.calm:
            continue
        first = ph.first
        for n in ph.units:
            unit = range(first, first + n)
            first += n
            stressed = [j for j in unit if words[j][3]]
            prom = {j: beat_strength(True, words[j][2] - words[j][1], rms[j] / ref) for j in stressed}
            top = sorted(stressed, key=lambda j: (-prom[j], j))[:1 if n <= 4 else 2]
            for j in stressed:
                if j in top:
                    accents.append(Beat(words[j][1], prom[j] * ph.emphasis, True))
                elif rng is not None and rng.random() < minor_prob:
                    minors.append(Beat(words[j][1], 0.5 * prom[j] * ph.emphasis, False))
    min_gap = 0.5 * tempo
    beats: list[Beat] = []
    for group in (accents, minors):
        for b in sorted(group, key=lambda b: (-b.strength, b.onset)):
            if b.strength >= MIN_BEAT and all(abs(b.onset - o.onset) >= min_gap for o in beats):
                beats.append(b)
    return sorted(beats, key=lambda b: b.onset)


@dataclass(frozen=True)
class ClipGestures:
    """A clip's motion and what made it (the evaluation-only annotations), times in seconds from the clip start."""
    joints: np.ndarray                              # (T, 43, 3) float32
    strokes_s: tuple[float, ...]                    # the hit of every beat stroke (STROKE_HIT_S after its onset)
    events: tuple[tuple[str, float, float], ...]    # (gesture kind, start, end): where its motion is active


def gesture_joints(words: Sequence[tuple[str, float, float, bool]], audio: np.ndarray, sr: int, n_frames: int,
                   fps: float, style: SpeakerStyle, rng: np.random.Generator, phrases: Sequence[Phrase]
                   ) -> ClipGestures:
    """Joint positions (n_frames, 43, 3) for one clip and its true strokes and lexical events.

    `words` are (word, start, end, stressed) in seconds from the clip start; `phrases` group them into sentences;
    `audio` is the clip's waveform, used for the loudness of beats.
    """
    t = np.arange(n_frames) / fps                                                    # (T,)
    T = n_frames
    # independent streams: the words change the drift, beat and lexical draws only
    drift_rng, idle_rng, noise_rng, beat_rng, lexical_rng = rng.spawn(5)
    sides = ("left", "right")
    dominant = {"right": ("right",), "left": ("left",), "both": ("right", "left")}[style.handedness]
    beat_gain = {s: (1.0 if s in dominant else 0.35) for s in sides}
    rest = np.array(style.rest_offset)
    tracks = {s: HandTrack(np.tile(rest, (T, 1)), np.full((T, 5), style.rest_curl), np.zeros(T), np.zeros(T))
              for s in sides}
    head = np.zeros((T, 3))                                                          # yaw, pitch (nod), roll

    beats = beat_schedule(words, audio, sr, phrases, style.tempo, style.minor_beat_prob, beat_rng)
    # phrase drift: the hands' resting place in gesture space moves at every sentence (less in a calm one) and at
    # about every second accent
    moves = {0.0: 1.0}
    for ph in phrases[1:]:
        moves[words[ph.first][1]] = 0.4 if ph.calm else 1.0
    for b in beats:
        if b.accent and drift_rng.random() < 0.5:
            moves[b.onset - 0.15] = 1.0
    drift_sd = np.array([0.04, 0.045, 0.035])
    for s in sides:
        steps = np.zeros((T, 3))
        for p0 in sorted(moves):
            steps[t >= p0] = moves[p0] * drift_sd * nx.standard_normal(drift_rng, (3,))
        tracks[s].offset += nx.gaussian_filter1d(steps, 0.2 * fps, axis=0, mode="nearest")
    # (a) beats at word onsets (beat_schedule): the wrist strokes down and a little forward, the hand opens and
    # flicks, strong stressed beats nod the head
    beat = {s: np.zeros((T, 3)) for s in sides}
    beat_curl = np.zeros(T)
    beat_flex = np.zeros(T)
    for b in beats:
        w0, strength = b.onset, b.strength
        tau = (t - w0) / style.tempo
        # preparation (the hand rises before the onset), stroke (down through the onset), retraction
        stroke = -0.45 * _bump((tau + 0.2) / 0.12) + 0.6 * _bump((tau - 0.08) / 0.1)
        amp = 0.16 * style.amplitude * strength
        for s in sides:
            beat[s] += amp * beat_gain[s] * stroke[:, None] * np.array([0.15, 1.0, -0.35])
        beat_curl += -0.35 * strength * _bump((tau - 0.04) / 0.1)                   # the hand opens on the stroke
        beat_flex += 0.35 * strength * stroke
        if b.accent and strength > 0.7:
            head[:, 1] += 0.06 * strength * _bump((tau - 0.1) / 0.1)

    # (b) lexical gestures: blend towards the word's target from just before the word until just after it; beats
    # go on at 40 % during a lexical gesture. A calm phrase makes each of them only with probability CALM_LEXICAL.
    calm = np.zeros(len(words), dtype=bool)
    for ph in phrases:
        calm[ph.first:ph.stop] = ph.calm
    weights = {s: np.zeros(T) for s in sides}
    sums = {s: HandTrack(np.zeros((T, 3)), np.zeros((T, 5)), np.zeros(T), np.zeros(T)) for s in sides}
    events: list[tuple[str, float, float]] = []
    for i, (word, w0, w1, _) in enumerate(words):
        kind = LEXICAL.get(word)
        if kind is None or (calm[i] and lexical_rng.random() >= CALM_LEXICAL):
            continue
        off = w1 + 0.25 * style.tempo
        if kind == "no":  # head shake, about ±14° at 3 Hz
            env = _envelope(t, w0, off, 0.2, 0.3)
            head[:, 0] += 0.25 * nx.sin(2 * nx.PI * 3.0 * (t - w0)) * env
            events.append((kind, w0 - 0.2, off + 0.3))
            continue
        target = LEXICAL_TARGETS[kind]
        ramp_in, ramp_out = target.ramp_s[0] * style.tempo, target.ramp_s[1] * style.tempo
        env = _envelope(t, w0, off, ramp_in, ramp_out)
        events.append((kind, w0 - ramp_in, off + ramp_out))
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
        tracks[s].curl += IDLE_CURL * _smooth_noise(idle_rng, (T, 5), 0.4 * fps)
        tracks[s].twist += IDLE_TWIST * _smooth_noise(idle_rng, (T,), 0.6 * fps)
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
    joints = pose_joints(tracks, head, breath, lean, noise_rng)
    return ClipGestures(joints, tuple(b.onset + STROKE_HIT_S * style.tempo for b in beats), tuple(events))
