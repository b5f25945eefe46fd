"""Demo clips, videos and splits: sentences said one after another, their gestures, records in the raw schema."""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from gesturegen.data.annotations import RECORD_FIELD
from gesturegen.data.demo.gestures import Phrase, gesture_joints
from gesturegen.data.demo.logmel import log_mel
from gesturegen.data.demo.sentences import intonation_units, make_sentence
from gesturegen.data.demo.speakers import SpeakerStyle, make_speakers
from gesturegen.data.speech import Utterance, synthesize

SPLITS = ("train", "val", "test")
# the TED Expressive raw schema (ldmc-spec §2.1) as the demo writes it: no speaker label or style in it, so a model
# can only tell speakers apart by how they sound and move
VIDEO_FIELDS = ("vid", "framerate", "clips")
CLIP_FIELDS = ("skeletons_3d", "skeletons", "audio_raw", "audio_feat", "words", "start_frame_no", "end_frame_no",
               "start_time", "end_time")
# ... plus one optional field beside them, for evaluation only (oracle metrics), never a model input: what the
# generator did, {"speaker": "spk<k>", "clips": [{"strokes_s": [t, ...], "events": [[label, start, end], ...]}, ...]}
# with one entry per clip and times in video seconds like the words (strokes: the hit of each beat stroke; events:
# each lexical gesture, labelled by its kind in sentences.LEXICAL, over the span where its motion is active).
# build_windows carries it into the windows' annotations/ folder (gesturegen.data.annotations); real datasets lack it.
ANNOTATIONS_FIELD = RECORD_FIELD


def phrase_gain(emphasis: float) -> float:
    """Loudness of a sentence's speech (a factor on the waveform) for its emphasis: calm 0.41 ... emphatic 1."""
    return min(1.0, 0.3 + 0.55 * emphasis)


CALM_EMPHASIS = 0.2
EMPHASIS = (0.55, 1.35)        # the range of a sentence's emphasis unless it is said calmly


@dataclass(frozen=True)
class DemoSize:
    videos: tuple[int, int, int]          # train, val, test (each at least n_speakers: every speaker in every split)
    clips_per_video: tuple[int, int]      # inclusive range, train videos
    eval_clips: int                       # clips per val/test video
    clip_s: tuple[float, float]           # target clip length range, seconds


SIZES = {
    # evaluation scale: >= 1,500 windows in val and in test and >= 4,000 in train after the default filters, from
    # 20 videos each in val and test (5 per speaker)
    "default": DemoSize(videos=(70, 20, 20), clips_per_video=(2, 5), eval_clips=4, clip_s=(10.0, 21.0)),
    "tiny": DemoSize(videos=(4, 4, 4), clips_per_video=(1, 2), eval_clips=1, clip_s=(5.0, 8.0)),
}


def _speak_clip(style: SpeakerStyle, rng: np.random.Generator, clip_s: float, limits: tuple[float, float], sr: int,
                split: str, sentences: list[str] | None
                ) -> tuple[np.ndarray, list[tuple[str, float, float, bool]], list[Phrase]]:
    """Audio (float32), words (clip-relative seconds) and phrases of sentences said one after another with short
    pauses, each with its own emphasis (a calm one with probability style.calm_prob), its loudness following it."""
    pieces = [np.zeros(round(rng.uniform(0.12, 0.3) * sr), np.float32)]
    pos = len(pieces[0])
    words: list[tuple[str, float, float, bool]] = []
    phrases: list[Phrase] = []
    while True:
        text = make_sentence(rng, split)
        calm = bool(rng.random() < style.calm_prob)
        emphasis = CALM_EMPHASIS if calm else round(float(rng.uniform(*EMPHASIS)), 3)
        utt: Utterance = synthesize(text, style.voice, sr)
        a = max(0, int((utt.words[0].start_s - 0.01) * sr))
        b = min(len(utt.audio), math.ceil((utt.words[-1].end_s + 0.02) * sr))
        gap = round(rng.uniform(0.12, 0.35) * sr) if words else 0
        length = (pos + gap + b - a) / sr
        if words and length > limits[1] and pos / sr >= limits[0]:
            break
        pieces.append(np.zeros(gap, np.float32))
        pos += gap
        shift = (pos - a) / sr
        units = intonation_units(text)
        assert sum(units) == len(utt.words), (text, units, len(utt.words))
        phrases.append(Phrase(len(words), tuple(units), emphasis, calm))
        words += [(w.text, w.start_s + shift, w.end_s + shift, w.stressed) for w in utt.words]
        pieces.append(utt.audio[a:b] * np.float32(phrase_gain(emphasis)))
        pos += b - a
        if sentences is not None:
            sentences.append(text)
        if pos / sr >= clip_s:
            break
    pieces.append(np.zeros(round(rng.uniform(0.15, 0.3) * sr), np.float32))
    return np.concatenate(pieces), words, phrases


def make_clip(style: SpeakerStyle, rng: np.random.Generator, start_frame: int, fps: int, sr: int,
              clip_s: float, limits: tuple[float, float], split: str = "train",
              sentences: list[str] | None = None) -> tuple[dict, dict]:
    """One raw clip in the TED Expressive schema, starting at `start_frame` of its video, and its annotations
    ({"strokes_s", "events"} in video seconds); `sentences`, if given, receives the sentences said."""
    audio, words, phrases = _speak_clip(style, rng, clip_s, limits, sr, split, sentences)
    n_frames = math.ceil(len(audio) * fps / sr)
    n_audio = round(n_frames * sr / fps)
    audio = np.pad(audio, (0, n_audio - len(audio)))
    motion = gesture_joints(words, audio, sr, n_frames, fps, style, rng, phrases)
    joints = motion.joints                                                              # (T, 43, 3)
    start = start_frame / fps
    annotations = {"strokes_s": [round(start + s, 6) for s in motion.strokes_s],
                   "events": [[kind, round(start + a, 6), round(start + b, 6)] for kind, a, b in motion.events]}
    return {
        "skeletons_3d": joints,
        "skeletons": np.ascontiguousarray(joints[:, :, :2]),
        "audio_raw": audio.astype(np.float16),
        "audio_feat": log_mel(audio, sr),
        "words": [[w, round(start + w0, 6), round(start + w1, 6)] for w, w0, w1, _ in words],
        "start_frame_no": int(start_frame), "end_frame_no": int(start_frame + n_frames),
        "start_time": float(start), "end_time": float((start_frame + n_frames) / fps),
    }, annotations


_VID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class VideoPlan:
    split: str
    index: int           # within the split
    speaker: int
    vid: str
    seed: tuple[int, ...] = field(repr=False)


def plan_videos(size: str, seed: int, n_speakers: int) -> list[VideoPlan]:
    """Which videos each split gets and who speaks in them: every speaker in every split, as evenly as the counts
    allow (a split with fewer videos than speakers grows to one video per speaker)."""
    if n_speakers < 1:
        raise ValueError(f"n_speakers must be >= 1, got {n_speakers}")
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose one of {sorted(SIZES)}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x71D]))
    plans = []
    for split, n in zip(SPLITS, SIZES[size].videos):
        n = max(n, n_speakers)
        order = rng.permutation(n_speakers)
        for i in range(n):
            speaker = int(order[i % n_speakers])
            vid = "".join(_VID_CHARS[int(c)] for c in rng.integers(len(_VID_CHARS), size=11))
            plans.append(VideoPlan(split, i, speaker, vid, (seed, SPLITS.index(split), i)))
    return plans


def make_video(plan: VideoPlan, style: SpeakerStyle, size: str, fps: int, sr: int,
               sentences: list[str] | None = None) -> dict:
    """One video record {'vid', 'framerate', 'clips', 'annotations'}: consecutive clips with gaps between them, and
    what the generator did in them (ANNOTATIONS_FIELD). `sentences`, if given, receives the sentences said."""
    spec = SIZES[size]
    rng = np.random.default_rng(np.random.SeedSequence(list(plan.seed)))
    lo, hi = spec.clips_per_video
    n_clips = int(rng.integers(lo, hi + 1)) if plan.split == "train" else spec.eval_clips
    frame = int(rng.integers(1 * fps, 40 * fps))
    clips, notes = [], []
    for _ in range(n_clips):
        clip, note = make_clip(style, rng, frame, fps, sr, float(rng.uniform(*spec.clip_s)), spec.clip_s,
                               plan.split, sentences)
        clips.append(clip)
        notes.append(note)
        frame = clip["end_frame_no"] + int(rng.integers(round(0.4 * fps), 5 * fps))
    return {"vid": plan.vid, "framerate": float(fps), "clips": clips,
            ANNOTATIONS_FIELD: {"speaker": speaker_id(plan.speaker), "clips": notes}}


def speaker_id(speaker: int) -> str:
    """The speaker's id in the annotations: spk0, spk1, ..."""
    return f"spk{speaker}"


def generate(size: str, seed: int, fps: int = 25, sample_rate_hz: int = 16000, n_speakers: int = 4
             ) -> Iterator[tuple[VideoPlan, dict]]:
    """All videos of the demo dataset, split by split, as (plan, video record)."""
    speakers = make_speakers(n_speakers, seed)
    for plan in plan_videos(size, seed, n_speakers):
        yield plan, make_video(plan, speakers[plan.speaker], size, fps, sample_rate_hz)
