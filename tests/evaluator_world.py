"""A small synthetic world for the trained evaluators: windows and features folders in the real on-disk formats,
with speech that predicts the motion's timing, a speaker style in both, and lexical events whose label is
recoverable from the motion around them (annotations written with write_window_annotations).

    audio channel 0:    pulses at the window's beat frames;      motion dims 0-11: a bump at the same frames
    audio channel 1:    the speaker's constant;                   motion dims 12-23: the speaker's fixed offset
    event of label l:   motion dims 24+12l .. 35+12l raised over the event's frames (audio knows nothing of it)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gesturegen.data.annotations import write_window_annotations
from gesturegen.data.windowstore import WINDOWS_FORMAT, WINDOWS_VERSION, array_checksums, window_checksums
from gesturegen.features.common import ARRAY_NAMES, FEATURES_FORMAT, FEATURES_VERSION
from gesturegen.io import write_json

T, D, DA, DT, FPS = 34, 126, 8, 6, 15
LABELS = ("big", "one", "you")
SPEAKERS = ("spk0", "spk1", "spk2")


def _bump(frames: np.ndarray, t: int = T, width: float = 1.5) -> np.ndarray:
    k = np.arange(t)[:, None]
    return np.exp(-0.5 * ((k - frames[None]) / width) ** 2).sum(1)


def make_split(rng: np.random.Generator, n_videos: int, per_video: int, first_video: int = 0) -> dict:
    n = n_videos * per_video
    vids = np.repeat(np.arange(first_video, first_video + n_videos), per_video).astype(np.int32)
    spk = vids % len(SPEAKERS)
    audio = 0.3 * rng.standard_normal((n, T, DA))
    text = rng.standard_normal((n, T, DT))
    motion = 0.05 * rng.standard_normal((n, T, D))
    styles = np.random.default_rng(99).standard_normal((len(SPEAKERS), 12))   # the same styles in every split
    events = []
    for i in range(n):
        beats = rng.choice(np.arange(2, T - 2), size=3, replace=False)
        pulse = _bump(beats.astype(float))
        audio[i, :, 0] += 2 * pulse
        motion[i, :, 0:12] += 0.5 * pulse[:, None]
        audio[i, :, 1] += spk[i] - 1.0
        motion[i, :, 12:24] += 0.3 * styles[spk[i]]
        if i % 4 != 3:                                   # three windows in four have an event
            lab = int(rng.integers(len(LABELS)))
            s = int(rng.integers(-10, T - 4))          # some start before the window (mostly outside: skipped)
            e = s + 10
            lo, hi = max(s, 0), min(e, T)
            motion[i, lo:hi, 24 + 12 * lab:36 + 12 * lab] += 0.6
            events.append((i, LABELS[lab], s / FPS, e / FPS))
    strokes = [(i, float(f) / FPS) for i in range(n) for f in np.flatnonzero(np.diff(np.sign(np.diff(
        motion[i, :, 0]))) < 0)[:2]]
    return {"dir_vec": motion.astype(np.float32), "video_ids": vids, "audio_frames": audio.astype(np.float32),
            "text_frames": text.astype(np.float32), "events": events, "strokes": strokes,
            "speaker": [SPEAKERS[s] for s in spk]}


def write_windows(split_dir: Path, data: dict, split: str, dataset: str = "demo",
                  annotations: bool = True) -> Path:
    split_dir.mkdir(parents=True, exist_ok=True)
    n = data["dir_vec"].shape[0]
    np.save(split_dir / "dir_vec.npy", data["dir_vec"])
    np.save(split_dir / "poses.npy", np.zeros((n, T, 1, 3), np.float32))
    np.save(split_dir / "audio.npy", np.zeros((n, 16), np.float16))
    np.save(split_dir / "video_ids.npy", data["video_ids"])
    np.save(split_dir / "clip_audio.npy", np.zeros(16, np.float16))
    vids = data["video_ids"]
    k = np.array([np.sum(vids[:i] == v) for i, v in enumerate(vids)])      # position in its video
    start = k * (T // 2)                                                    # a window overlaps only its neighbours
    pd.DataFrame({"window": np.arange(n), "video_id": vids, "vid": [f"video{v}" for v in vids], "clip": 0,
                  "start_frame": start, "start_time_s": start / FPS, "end_time_s": (start + T) / FPS,
                  "clip_row": 0}).to_csv(split_dir / "windows.csv", index=False)
    write_json(split_dir / "meta.json", {
        "format": WINDOWS_FORMAT, "version": WINDOWS_VERSION, "dataset": dataset, "split": split, "n_windows": n,
        "n_frames": T, "n_seed_frames": 4, "fps": FPS, "dim": D, "sample_rate_hz": 16000, "normalization": "train",
        "skeleton": "ted_expressive", "checksums": window_checksums(split_dir)})
    if annotations:
        write_window_annotations(split_dir, n, data["strokes"], data["events"], data["speaker"], list(LABELS))
    return split_dir


def write_features(split_dir: Path, data: dict, split: str, dataset: str = "demo", audio_name: str = "default",
                   text_name: str = "minilm") -> Path:
    split_dir.mkdir(parents=True, exist_ok=True)
    a, t = data["audio_frames"], data["text_frames"]
    n = a.shape[0]
    arrays = {"audio_frames": a, "audio_pooled": np.concatenate([a.mean(1), a.std(1)], 1),
              "text_frames": t, "text_pooled": t.mean(1)}
    for k, v in arrays.items():
        np.save(split_dir / f"{k}.npy", v.astype(np.float32))
    dims = {k: int(v.shape[-1]) for k, v in arrays.items()}
    write_json(split_dir / "meta.json", {
        "format": FEATURES_FORMAT, "version": FEATURES_VERSION, "dataset": dataset, "split": split, "n_windows": n,
        "n_frames": T, "fps": FPS, "dims": dims,
        "encoders": {"audio": {"name": audio_name}, "text": {"name": text_name}},
        "checksums": array_checksums(split_dir, ARRAY_NAMES)})
    return split_dir


def write_world(root: Path, seed: int = 0, sizes: dict | None = None, annotations: bool = True,
                dataset: str = "demo") -> tuple[Path, Path]:
    """root/windows/<split>/ and root/features/<split>/; sizes: {split: (videos, windows per video)}."""
    rng = np.random.default_rng(seed)
    sizes = sizes or {"train": (12, 20), "val": (4, 12), "test": (4, 12)}
    first = 0
    for split, (nv, per) in sizes.items():
        data = make_split(rng, nv, per, first)
        first += nv
        write_windows(root / "windows" / split, data, split, dataset, annotations)
        write_features(root / "features" / split, data, split, dataset)
    return root / "windows", root / "features"
