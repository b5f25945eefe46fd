"""The demo dataset: espeak-ng speech with rule-based co-speech gestures on the TED Expressive skeleton.

Records follow the TED Expressive raw schema (ldmc-spec §2.1), so downstream stages cannot tell them from real data.
Motion = per-speaker rest pose + beats at word onsets (stronger for stressed, longer, louder words) + lexical
gestures for a small vocabulary + phrase-level drift + idle breathing/sway + small noise, built as direction vectors
around the published mean pose and turned into joints with its bone lengths. The rules are listed in
docs/demo_rules.md. Everything is a pure function of the seed.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import librosa
import numpy as np
from scipy.ndimage import gaussian_filter1d
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn, hence of librosa

from gesturegen.config import FilterParams
from gesturegen.data.filters import reject_reason
from gesturegen.data.skeleton import TED_EXPRESSIVE
from gesturegen.data.speech import Utterance, Voice, synthesize

GENERATOR = "gesturegen.data.demo/1"
SPLITS = ("train", "val", "test")
SKELETON = TED_EXPRESSIVE

# --- sizes -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSize:
    videos: tuple[int, int, int]          # train, val, test
    clips_per_video: tuple[int, int]      # inclusive range
    clip_s: tuple[float, float]           # target clip length range, seconds


SIZES = {
    "default": DemoSize(videos=(24, 3, 3), clips_per_video=(1, 3), clip_s=(5.0, 15.0)),   # ≈ 10 min of clips
    "tiny": DemoSize(videos=(3, 1, 1), clips_per_video=(1, 2), clip_s=(5.0, 8.0)),
}

# --- vocabulary and sentences ----------------------------------------------------------------------------------

LEXICAL = {  # word -> gesture (docs/demo_rules.md)
    **dict.fromkeys(("big", "huge", "large"), "big"),
    **dict.fromkeys(("small", "little"), "small"),
    **dict.fromkeys(("i", "me", "my"), "self"),
    **dict.fromkeys(("you", "your"), "you"),
    **{w: f"count{n}" for n, w in enumerate(("one", "two", "three", "four", "five"), 1)},
    **dict.fromkeys(("up", "high"), "up"),
    **dict.fromkeys(("no", "not"), "no"),
}

_SLOTS = {
    "BIG": ("big", "huge", "large"),
    "SMALL": ("small", "little"),
    "NUM": ("two", "three", "four", "five"),
    "NOUN": ("idea", "problem", "change", "question", "project", "story", "team", "city", "company", "school",
             "system", "plan", "result", "garden", "machine", "community", "market", "experiment"),
    "NOUNS": ("ideas", "problems", "changes", "questions", "projects", "stories", "teams", "cities", "steps",
              "reasons", "people", "lessons", "mistakes", "friends"),
    "ADJ": ("new", "simple", "strange", "real", "hard", "good", "better", "different", "beautiful", "quiet",
            "honest", "dangerous"),
    "VERB": ("build", "change", "share", "solve", "explain", "imagine", "test", "improve", "measure", "design"),
    "WHEN": ("every day", "last year", "this morning", "in the end", "ten years ago", "right now", "back then"),
}

TEMPLATES = (
    "I think this is a {BIG} {NOUN}.",
    "You can see that the {NOUN} is not {SMALL} at all.",
    "My first {NOUN} started with one {SMALL} step.",
    "Let me tell you about {NUM} {NOUNS} that changed my life.",
    "The numbers went up {WHEN}.",
    "No, it was not easy, but it was worth it.",
    "Your {NOUN} can grow from something {SMALL} into something {BIG}.",
    "I asked myself one {ADJ} question.",
    "Do you remember the first time you saw a {BIG} {NOUN}?",
    "There were {NUM} of us in a {SMALL} room.",
    "Aim high, and do not stop.",
    "It is not about me, it is about you.",
    "I was {ADJ}, and my {NOUN} was {ADJ} too.",
    "The bar is high, but you can reach it.",
    "Here are {NUM} reasons why this matters to you.",
    "First a {SMALL} step, then a {BIG} leap.",
    "My friends told me no, so I did it anyway.",
    "Think about how {BIG} the {NOUN} really is.",
    "Even a {SMALL} {NOUN} can make a {BIG} difference.",
    "We need to speak up about the {NOUN}.",
    "I could not believe my eyes.",
    "You and I can {VERB} a {ADJ} {NOUN} together.",
    "Prices go up, and the {NOUN} goes down.",
    "Look at this {ADJ} {NOUN} in front of you.",
    "One day I found a {SMALL} {NOUN} on my desk.",
    "That is not what I expected {WHEN}.",
    "{NUM} years ago, my {NOUN} was very {SMALL}.",
    "So I stood up and said no.",
    "You have to keep your hopes high.",
    "The {NOUN} was {BIG}, and the team was {SMALL}.",
    "Now it is your turn to {VERB} it.",
    "I have {NUM} {NOUNS} for you today.",
    "What would you do with a {BIG} {NOUN}?",
    "It is a {ADJ} {NOUN}, not a {ADJ} {NOUN}.",
    "Let me show you how we {VERB} it.",
    "This changed my mind about the {NOUN}.",
    "We started with just one {NOUN} and {NUM} {NOUNS}.",
    "Nobody said it would be easy to {VERB} a {NOUN}.",
    "Raise your hand up if you agree with me.",
    "The {NOUN} behind this {NOUN} is {ADJ} and {BIG}.",
    "We tried to {VERB} the {NOUN} {WHEN}.",
    "Not one of my {NOUNS} was {SMALL}.",
)


def make_sentence(rng: np.random.Generator) -> str:
    """One sentence from the fixed template corpus, slots filled from the generator."""
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    out, rest = [], template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        slot, _, rest = tail.partition("}")
        choices = _SLOTS[slot]
        out += [head, choices[int(rng.integers(len(choices)))]]
    text = "".join(out) + rest
    return text[0].upper() + text[1:]


# --- speakers --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeakerStyle:
    """How one speaker talks and moves."""
    voice: Voice
    handedness: str                           # "right" | "left" | "both"
    amplitude: float                          # gesture size multiplier
    rest_offset: tuple[float, float, float]   # wrist rest offset from the mean pose (outward, down, backward), m
    rest_curl: float                          # relaxed finger curl, 0 (open) .. 1 (fist)
    tempo: float                              # >1: slower, wider gestures
    smoothness_s: float                       # Gaussian smoothing of the gesture trajectories, seconds
    sway: float                               # idle motion multiplier


def make_speakers(n: int, seed: int) -> list[SpeakerStyle]:
    """n speakers, alternating male/female voices; a pure function of (n, seed)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EA]))
    speakers = []
    for k in range(n):
        female = k % 2 == 1
        lo = rng.uniform(145, 175) if female else rng.uniform(72, 95)
        voice = Voice(gender="female" if female else "male",
                      pitch_hz=(round(lo), round(lo + (rng.uniform(55, 85) if female else rng.uniform(28, 45)))),
                      formant_scale=round(rng.uniform(1.07, 1.15) if female else rng.uniform(0.95, 1.03), 3),
                      rate_wpm=int(rng.integers(150, 186)), pitch=int(rng.integers(35, 66)),
                      pitch_range=int(rng.integers(40, 76)))
        speakers.append(SpeakerStyle(
            voice=voice, handedness=("right", "left", "both")[k % 3] if k < 3 else str(rng.choice(["right", "left",
                                                                                                   "both"])),
            amplitude=round(rng.uniform(0.8, 1.3), 3),
            rest_offset=(round(float(rng.uniform(-0.02, 0.05)), 3),
                         round(float(rng.choice([-1, 1]) * rng.uniform(0.03, 0.06)), 3),
                         round(float(rng.uniform(-0.04, 0.03)), 3)),
            rest_curl=round(rng.uniform(0.3, 0.6), 3), tempo=round(rng.uniform(0.85, 1.2), 3),
            smoothness_s=round(rng.uniform(0.05, 0.1), 3), sway=round(rng.uniform(0.6, 1.4), 3)))
    return speakers


# --- geometry --------------------------------------------------------------------------------------------------

_MEAN_POSE = SKELETON.published_means()[0].astype(np.float64)          # (43, 3)
_LENGTHS = SKELETON.bone_lengths(_MEAN_POSE)                           # (42,)
_MEAN_VEC = SKELETON.to_vectors(_MEAN_POSE)                            # (42, 3) unit
_ROOT = _MEAN_POSE[0]
# per hand (left = subject's left, +x; right, -x): vector indices and joints
_ARM = {"left": {"shoulder": 2, "elbow": 4, "wrist": 6, "upper": 3, "fore": 4, "fingers": 5, "out": 1.0},
        "right": {"shoulder": 3, "elbow": 5, "wrist": 7, "upper": 20, "fore": 21, "fingers": 22, "out": -1.0}}
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")                # skeleton order within a hand
_HEAD = (37, 38, 39, 40, 41)
# curl angles (degrees) of the three segments of a finger / the thumb at curl 1, measured from the relaxed metacarpal
_CURL_DEG = {"finger": (25.0, 95.0, 175.0), "thumb": (12.0, 45.0, 85.0)}
_CURL_REF = 0.4                                                        # the mean pose's curl (the metacarpal's zero)


def _rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: (..., 3) unit axes and (...) angles -> (..., 3, 3)."""
    axis = np.broadcast_to(axis, np.shape(angle) + (3,))
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.stack([np.stack([c + x * x * C, x * y * C - z * s, x * z * C + y * s], -1),
                     np.stack([y * x * C + z * s, c + y * y * C, y * z * C - x * s], -1),
                     np.stack([z * x * C - y * s, z * y * C + x * s, c + z * z * C], -1)], -2)


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations taking unit a (3,) to unit b (T, 3): (T, 3, 3)."""
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    angle = np.arctan2(s, b @ a)
    axis = np.where(s[:, None] > 1e-9, axis / np.maximum(s, 1e-12)[:, None], np.array([1.0, 0.0, 0.0]))
    return _rotation(axis, angle)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _two_bone_ik(shoulder: np.ndarray, target: np.ndarray, a: float, b: float, pole: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Upper-arm and forearm unit directions (T, 3) reaching for target (T, 3), elbow bent towards pole (3,)."""
    d_vec = target - shoulder
    d = np.clip(np.linalg.norm(d_vec, axis=-1), abs(a - b) + 1e-3, 0.985 * (a + b))
    u = _unit(d_vec)
    v = pole - (u @ pole)[:, None] * u
    v = _unit(v)
    cos_a = np.clip((a * a + d * d - b * b) / (2 * a * d), -1.0, 1.0)
    upper = cos_a[:, None] * u + np.sqrt(1 - cos_a ** 2)[:, None] * v
    elbow = shoulder + a * upper
    fore = _unit(shoulder + d[:, None] * u - elbow)
    return upper, fore


@dataclass(frozen=True)
class _HandModel:
    """A hand in the mean pose's frame: metacarpals, curl axes and the forearm they hang from."""
    fore0: np.ndarray       # (3,)
    meta0: np.ndarray       # (5, 3) wrist -> first finger joint
    axes: np.ndarray        # (5, 3) curl axis per finger
    flex_axis: np.ndarray   # (3,)
    pole: np.ndarray        # (3,) elbow bend direction at rest


def _hand_model(side: str) -> _HandModel:
    arm = _ARM[side]
    base = arm["fingers"]
    meta = np.stack([_MEAN_VEC[base + 3 * f] for f in range(5)])
    tips = np.stack([_MEAN_VEC[base + 3 * f + 2] for f in range(5)])
    axes = _unit(np.cross(meta, tips))
    s, e, w = (_MEAN_POSE[arm[k]] for k in ("shoulder", "elbow", "wrist"))
    u = _unit(w - s)
    pole = (e - s) - ((e - s) @ u) * u
    pole = _unit(_unit(pole) + 0.3 * np.array([arm["out"], 0.0, 0.0]))
    return _HandModel(_MEAN_VEC[arm["fore"]], meta, axes, _unit(axes[:4].mean(0)), pole)


_HANDS = {side: _hand_model(side) for side in _ARM}


# --- gesture trajectories --------------------------------------------------------------------------------------


@dataclass
class _Track:
    """Per-frame gesture parameters of one hand, in the torso frame."""
    offset: np.ndarray      # (T, 3) wrist offset from the mean pose, m (x outward-signed later)
    curl: np.ndarray        # (T, 5) finger curls
    twist: np.ndarray       # (T,) forearm rotation, rad
    flex: np.ndarray        # (T,) wrist flexion, rad


@dataclass(frozen=True)
class _Lexical:
    """Target of a lexical gesture for the acting hand(s): wrist offset (outward, down, back), curls, twist."""
    hands: str                                  # "dominant" | "both"
    offset: tuple[float, float, float]
    curl: tuple[float, float, float, float, float]   # index, middle, pinky, ring, thumb
    twist: float = 0.0
    ramp_s: tuple[float, float] = (0.35, 0.45)      # blend in before the word, blend out after it


def _count(n: int) -> _Lexical:
    ext = {1: (0,), 2: (0, 1), 3: (0, 1, 3), 4: (0, 1, 3, 2), 5: (0, 1, 3, 2, 4)}[n]  # index, middle, ring, pinky, thumb
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
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_frames: float) -> np.ndarray:
    """Low-pass Gaussian noise with unit standard deviation along axis 0."""
    x = gaussian_filter1d(rng.standard_normal(shape), sigma_frames, axis=0, mode="wrap")
    return x / max(float(x.std()), 1e-9)


def _loudness(audio: np.ndarray, sr: int, t0: float) -> float:
    a, b = max(0, int((t0 - 0.03) * sr)), int((t0 + 0.15) * sr)
    seg = audio[a:b].astype(np.float64)
    return float(np.sqrt(np.mean(seg ** 2))) if seg.size else 0.0


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
    tracks = {s: _Track(np.tile(rest, (T, 1)), np.full((T, 5), style.rest_curl), np.zeros(T), np.zeros(T))
              for s in sides}
    head = np.zeros((T, 3))                                                          # yaw, pitch (nod), roll

    beats = beat_schedule(words, audio, sr, style.tempo)
    # phrase drift: the hands' resting place in gesture space moves at every sentence and at about every second
    # stressed stroke
    moves = sorted({0.0, *phrase_starts,
                    *(w0 - 0.15 for w0, _, stressed in beats if stressed and drift_rng.random() < 0.5)})
    for s in sides:
        steps = np.zeros((T, 3))
        for p0 in moves:
            steps[t >= p0] = drift_rng.normal(0, [0.04, 0.045, 0.035])
        tracks[s].offset += gaussian_filter1d(steps, 0.2 * fps, axis=0, mode="nearest")
    # (a) beats at word onsets (beat_schedule): the wrist strokes down and a little forward, the hand opens and
    # flicks, strong stressed beats nod the head
    beat = {s: np.zeros((T, 3)) for s in sides}
    beat_curl = np.zeros(T)
    beat_flex = np.zeros(T)
    for w0, strength, stressed in beats:
        tau = (t - w0) / style.tempo
        # preparation (the hand rises before the onset), stroke (down through the onset), retraction
        stroke = -0.45 * np.exp(-0.5 * ((tau + 0.2) / 0.12) ** 2) + 0.6 * np.exp(-0.5 * ((tau - 0.08) / 0.1) ** 2)
        amp = 0.16 * style.amplitude * strength
        for s in sides:
            beat[s] += amp * beat_gain[s] * stroke[:, None] * np.array([0.15, 1.0, -0.35])
        beat_curl += -0.35 * strength * np.exp(-0.5 * ((tau - 0.04) / 0.1) ** 2)   # the hand opens on the stroke
        beat_flex += 0.35 * strength * stroke
        if stressed and strength > 0.7:
            head[:, 1] += 0.06 * strength * np.exp(-0.5 * ((tau - 0.1) / 0.1) ** 2)

    # (b) lexical gestures: blend towards the word's target from just before the word until just after it; beats
    # go on at 40 % during a lexical gesture
    weights = {s: np.zeros(T) for s in sides}
    sums = {s: _Track(np.zeros((T, 3)), np.zeros((T, 5)), np.zeros(T), np.zeros(T)) for s in sides}
    for word, w0, w1, _ in words:
        kind = LEXICAL.get(word)
        if kind is None:
            continue
        if kind == "no":  # head shake, about ±14° at 3 Hz
            env = _envelope(t, w0, w1 + 0.25 * style.tempo, 0.2, 0.3)
            head[:, 0] += 0.25 * np.sin(2 * np.pi * 3.0 * (t - w0)) * env
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
    breath = 0.02 * np.sin(2 * np.pi * t / idle_rng.uniform(3.5, 4.5) + idle_rng.uniform(0, 2 * np.pi))
    lean = np.stack([0.03 * sway * np.sin(2 * np.pi * 0.11 * t + idle_rng.uniform(0, 2 * np.pi)),
                     0.02 * sway * np.sin(2 * np.pi * 0.07 * t + idle_rng.uniform(0, 2 * np.pi))], -1)

    # tempo/smoothness of the speaker
    sigma = style.smoothness_s * fps
    for s in sides:
        tr = tracks[s]
        tr.offset = gaussian_filter1d(tr.offset, sigma, axis=0, mode="nearest")
        tr.curl = np.clip(gaussian_filter1d(tr.curl, sigma, axis=0, mode="nearest"), -0.1, 1.1)
        tr.twist = gaussian_filter1d(tr.twist, sigma, mode="nearest")
        tr.flex = gaussian_filter1d(tr.flex, sigma, mode="nearest")
    head = gaussian_filter1d(head, sigma, axis=0, mode="nearest")
    return _pose(tracks, head, breath, lean, noise_rng)


def _pose(tracks: dict[str, _Track], head: np.ndarray, breath: np.ndarray, lean: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """Gesture parameters -> direction vectors in the torso frame -> rotate the torso -> joints."""
    T = head.shape[0]
    vec = np.repeat(_MEAN_VEC[None], T, 0)                                          # (T, 42, 3)
    # breathing lifts the shoulders
    for i in (1, 2):
        vec[:, i] = _unit(vec[:, i] + np.stack([np.zeros(T), -breath, np.zeros(T)], -1))
    # head: yaw about y, nod about x, roll about z, around the neck
    r_head = _rotation(np.array([0.0, 1.0, 0.0]), head[:, 0]) @ _rotation(np.array([1.0, 0.0, 0.0]), -head[:, 1]) \
        @ _rotation(np.array([0.0, 0.0, 1.0]), head[:, 2])
    vec[:, list(_HEAD)] = np.einsum("tij,tkj->tki", r_head, vec[:, list(_HEAD)])
    neck = _ROOT + _LENGTHS[0] * vec[:, 0]
    for side, arm in _ARM.items():
        tr, hm = tracks[side], _HANDS[side]
        sign = np.array([arm["out"], 1.0, 1.0])
        shoulder = neck + _LENGTHS[arm["shoulder"] - 1] * vec[:, arm["shoulder"] - 1]  # vectors 1, 2 lead there
        target = _MEAN_POSE[arm["wrist"]] + tr.offset * sign
        upper, fore = _two_bone_ik(shoulder, target, _LENGTHS[arm["upper"]], _LENGTHS[arm["fore"]], hm.pole)
        vec[:, arm["upper"]], vec[:, arm["fore"]] = upper, fore
        # the hand: twist about the mean forearm, flex about the hand's curl axis, then follow the forearm
        r_hand = _align(hm.fore0, fore) @ _rotation(hm.fore0, arm["out"] * tr.twist) \
            @ _rotation(hm.flex_axis, tr.flex)                                        # (T, 3, 3)
        for f in range(5):
            kind = "thumb" if _FINGERS[f] == "thumb" else "finger"
            c = tr.curl[:, f]
            for seg, deg in enumerate(_CURL_DEG[kind]):
                angle = np.radians(deg) * (c - _CURL_REF if seg == 0 else c)
                if seg > 0:
                    angle = angle + np.radians(_CURL_DEG[kind][0]) * (c - _CURL_REF)
                local = np.einsum("tij,j->ti", _rotation(hm.axes[f], angle), hm.meta0[f])
                vec[:, arm["fingers"] + 3 * f + seg] = np.einsum("tij,tj->ti", r_hand, local)
    # small estimation-like noise on every bone direction
    vec = _unit(vec + rng.normal(0, 0.004, vec.shape))
    # sway/lean of the whole upper body about the root
    r_torso = _rotation(np.array([0.0, 0.0, 1.0]), lean[:, 0]) @ _rotation(np.array([1.0, 0.0, 0.0]), lean[:, 1])
    vec = np.einsum("tij,tkj->tki", r_torso, vec)
    return SKELETON.to_joints(vec, lengths=_LENGTHS, root=_ROOT).astype(np.float32)


# --- clips, videos, splits -------------------------------------------------------------------------------------


def log_mel(audio: np.ndarray, sr: int) -> np.ndarray:
    """The TED Expressive `audio_feat`: librosa log-mel, n_fft 1024, hop 512, 128 mels, dB re max, float16.

    One BLAS thread: a multi-threaded mel projection can round differently from run to run (seen: one float16 ulp
    in a few clips of a busy machine), and the demo files must be byte-identical for a seed.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=sr, n_fft=1024,
                                             hop_length=512, n_mels=128, power=2.0)
    return librosa.power_to_db(mel, ref=np.max).astype(np.float16)


def _speak_clip(style: SpeakerStyle, rng: np.random.Generator, clip_s: float, limits: tuple[float, float], sr: int
                ) -> tuple[np.ndarray, list[tuple[str, float, float, bool]], list[float]]:
    """Audio (float32) and words (clip-relative seconds) of sentences said one after another with short pauses."""
    pieces = [np.zeros(round(rng.uniform(0.12, 0.3) * sr), np.float32)]
    pos = len(pieces[0])
    words: list[tuple[str, float, float, bool]] = []
    phrases: list[float] = []
    while True:
        utt: Utterance = synthesize(make_sentence(rng), style.voice, sr)
        a = max(0, int((utt.words[0].start_s - 0.01) * sr))
        b = min(len(utt.audio), math.ceil((utt.words[-1].end_s + 0.02) * sr))
        gap = round(rng.uniform(0.12, 0.35) * sr) if words else 0
        length = (pos + gap + b - a) / sr
        if words and length > limits[1] and pos / sr >= limits[0]:
            break
        pieces.append(np.zeros(gap, np.float32))
        pos += gap
        shift = (pos - a) / sr
        phrases.append(pos / sr)
        words += [(w.text, w.start_s + shift, w.end_s + shift, w.stressed) for w in utt.words]
        pieces.append(utt.audio[a:b])
        pos += b - a
        if pos / sr >= clip_s:
            break
    pieces.append(np.zeros(round(rng.uniform(0.15, 0.3) * sr), np.float32))
    return np.concatenate(pieces), words, phrases


def make_clip(style: SpeakerStyle, rng: np.random.Generator, start_frame: int, fps: int, sr: int,
              clip_s: float, limits: tuple[float, float]) -> dict:
    """One raw clip in the TED Expressive schema, starting at `start_frame` of its video."""
    audio, words, phrases = _speak_clip(style, rng, clip_s, limits, sr)
    n_frames = math.ceil(len(audio) * fps / sr)
    n_audio = round(n_frames * sr / fps)
    audio = np.pad(audio, (0, n_audio - len(audio)))
    joints = gesture_joints(words, audio, sr, n_frames, fps, style, rng, phrases[1:])   # (T, 43, 3)
    start = start_frame / fps
    return {
        "skeletons_3d": joints,
        "skeletons": np.ascontiguousarray(joints[:, :, :2]),
        "audio_raw": audio.astype(np.float16),
        "audio_feat": log_mel(audio, sr),
        "words": [[w, round(start + w0, 6), round(start + w1, 6)] for w, w0, w1, _ in words],
        "start_frame_no": int(start_frame), "end_frame_no": int(start_frame + n_frames),
        "start_time": float(start), "end_time": float((start_frame + n_frames) / fps),
    }


_VID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class VideoPlan:
    split: str
    index: int           # within the split
    speaker: int
    vid: str
    seed: tuple[int, ...] = field(repr=False)


def plan_videos(size: str, seed: int, n_speakers: int) -> list[VideoPlan]:
    """Which videos each split gets and who speaks in them (every speaker has at least one train video)."""
    if n_speakers < 1:
        raise ValueError(f"n_speakers must be >= 1, got {n_speakers}")
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose one of {sorted(SIZES)}")
    n_train, n_val, n_test = SIZES[size].videos
    n_train = max(n_train, n_speakers)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x71D]))
    order = rng.permutation(n_speakers)
    plans = []
    for split, n in zip(SPLITS, (n_train, n_val, n_test)):
        for i in range(n):
            speaker = int(order[i % n_speakers]) if split == "train" else int(rng.integers(n_speakers))
            vid = "".join(_VID_CHARS[int(c)] for c in rng.integers(len(_VID_CHARS), size=11))
            plans.append(VideoPlan(split, i, speaker, vid, (seed, SPLITS.index(split), i)))
    return plans


def make_video(plan: VideoPlan, style: SpeakerStyle, size: str, fps: int, sr: int) -> dict:
    """One video record {'vid', 'framerate', 'clips'}: consecutive clips with gaps between them."""
    spec = SIZES[size]
    rng = np.random.default_rng(np.random.SeedSequence(list(plan.seed)))
    lo, hi = spec.clips_per_video
    # train videos vary; val/test videos get the middle count, so the splits stay near 80/10/10 of the time
    n_clips = int(rng.integers(lo, hi + 1)) if plan.split == "train" else (lo + hi) // 2
    frame = int(rng.integers(1 * fps, 40 * fps))
    clips = []
    for _ in range(n_clips):
        clip = make_clip(style, rng, frame, fps, sr, float(rng.uniform(*spec.clip_s)), spec.clip_s)
        clips.append(clip)
        frame = clip["end_frame_no"] + int(rng.integers(round(0.4 * fps), 5 * fps))
    return {"vid": plan.vid, "framerate": float(fps), "clips": clips}


def generate(size: str, seed: int, fps: int = 25, sample_rate_hz: int = 16000, n_speakers: int = 4
             ) -> Iterator[tuple[VideoPlan, dict]]:
    """All videos of the demo dataset, split by split, as (plan, video record)."""
    speakers = make_speakers(n_speakers, seed)
    for plan in plan_videos(size, seed, n_speakers):
        yield plan, make_video(plan, speakers[plan.speaker], size, fps, sample_rate_hz)


# --- checks ----------------------------------------------------------------------------------------------------


def window_verdicts(clip: dict, fps: int = 15, n_frames: int = 34, stride: int = 10,
                    filters: FilterParams | None = None) -> list[str | None]:
    """reject_reason for every window of a clip resampled to `fps` (linear interpolation, exact 34-frame span)."""
    joints = np.asarray(clip["skeletons_3d"], dtype=np.float64)
    start, end = float(clip["start_time"]), float(clip["end_time"])
    src_t = start + np.arange(joints.shape[0]) / (joints.shape[0] / (end - start))
    dst_t = start + np.arange(int((end - start) * fps)) / fps
    flat = joints.reshape(joints.shape[0], -1)
    res = np.stack([np.interp(dst_t, src_t, flat[:, k]) for k in range(flat.shape[1])], -1).reshape(
        len(dst_t), *joints.shape[1:])
    mean_pose = SKELETON.published_means()[0]
    out = []
    for f in range(0, len(dst_t) - n_frames + 1, stride):
        lo, hi = start + f / fps, start + (f + n_frames) / fps
        words = [w for w in clip["words"] if w[1] < hi and w[2] > lo]
        out.append(reject_reason(res[f:f + n_frames], words, SKELETON, mean_pose, filters or FilterParams()))
    return out
