"""Reading a written feature split: memory-mapped arrays checked against their meta.json and checksums."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gesturegen.features.common import ARRAY_NAMES, FEATURES_FORMAT, FEATURES_VERSION, FeatureError

if TYPE_CHECKING:
    from gesturegen.data.windowstore import WindowSplit


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
    from gesturegen.data.windowstore import mmap_arrays, read_meta, verify_arrays

    path = Path(split_dir)
    if not (path / "meta.json").is_file():
        raise FeatureError(f"{path}: no meta.json; is this an extract_features split folder? Run extract_features")
    meta = read_meta(path, FEATURES_FORMAT, FEATURES_VERSION, ARRAY_NAMES, "extract_features", error=FeatureError,
                     integrity_error=FeatureError)
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


def open_windows_and_features(windows: str | Path, features: str | Path, dataset: str, split: str,
                              error: type[Exception] = FeatureError):
    """(windows split, feature split) of `<windows>/<split>` and `<features>/<split>`, checked to be the dataset's
    and to belong together; the error (of type `error`) names the folders and the stage option that fixes it."""
    from gesturegen.data.windowstore import open_split

    w = open_split(Path(windows) / split)
    if w.meta.get("dataset") not in (None, dataset):
        raise error(f"{w.path}: windows of dataset {w.meta['dataset']!r}, not {dataset!r}; pass "
                    f"--windows results/build_windows/{dataset}/windows")
    try:
        f = open_features(Path(features) / split, w)
    except (FeatureError, FileNotFoundError) as e:   # say which pair of folders does not match
        raise error(f"{Path(features) / split} does not belong to {w.path}: {e}") from None
    fw = f.meta.get("windows", {})
    if fw.get("split", split) != split or f.meta.get("dataset", dataset) != dataset:
        raise error(f"{f.path}: features of {f.meta.get('dataset')!r}/{fw.get('split')!r}, the windows are "
                    f"{dataset!r}/{split!r}; pass --features results/extract_features/{dataset}/features")
    return w, f
