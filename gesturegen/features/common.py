"""What every feature module shares: the on-disk names, the encoder protocols, errors and small helpers.

Imports nothing of gesturegen.features, so the encoders and the store can import it without a cycle.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gesturegen.data.records import first_non_finite

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
