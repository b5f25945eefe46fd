"""The demo speakers: one espeak-ng voice and one motion style each, drawn from the seed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gesturegen.data.speech import Voice


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
    calm_prob: float = 0.0                    # share of sentences said calmly: quieter, without beats
    minor_beat_prob: float = 0.0              # chance of a small beat on a stressed word that is not an accent


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
            smoothness_s=round(rng.uniform(0.05, 0.1), 3), sway=round(rng.uniform(0.6, 1.4), 3),
            calm_prob=round(rng.uniform(0.08, 0.3), 3), minor_beat_prob=round(rng.uniform(0.1, 0.4), 3)))
    return speakers
