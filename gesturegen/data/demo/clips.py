"""Demo clips, videos and splits: sentences said one after another, their gestures, records in the raw schema."""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from gesturegen.data.demo.gestures import gesture_joints
from gesturegen.data.demo.logmel import log_mel
from gesturegen.data.demo.sentences import make_sentence
from gesturegen.data.demo.speakers import SpeakerStyle, make_speakers
from gesturegen.data.speech import Utterance, synthesize

SPLITS = ("train", "val", "test")
# the TED Expressive raw schema (ldmc-spec §2.1) as the demo writes it, and nothing else: no speaker label or style,
# so a model can only tell speakers apart by how they sound and move
VIDEO_FIELDS = ("vid", "framerate", "clips")
CLIP_FIELDS = ("skeletons_3d", "skeletons", "audio_raw", "audio_feat", "words", "start_frame_no", "end_frame_no",
               "start_time", "end_time")


@dataclass(frozen=True)
class DemoSize:
    videos: tuple[int, int, int]          # train, val, test
    clips_per_video: tuple[int, int]      # inclusive range
    clip_s: tuple[float, float]           # target clip length range, seconds


SIZES = {
    "default": DemoSize(videos=(24, 3, 3), clips_per_video=(1, 3), clip_s=(5.0, 15.0)),   # ≈ 10 min of clips
    "tiny": DemoSize(videos=(3, 1, 1), clips_per_video=(1, 2), clip_s=(5.0, 8.0)),
}


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
