"""On-disk layout of one dataset split's windows: memory-mappable .npy arrays plus CSV/JSON tables.

    <split>/dir_vec.npy    float32 (N, T, V*3)   mean-subtracted vectors (the model target)
    <split>/poses.npy      float32 (N, T, J, 3)  raw joint positions (15 fps)
    <split>/audio.npy      float16 (N, S)        16 kHz audio of the window's span
    <split>/video_ids.npy  int32   (N,)          persistent ids from ../videos.csv
    <split>/windows.csv    window, video_id, vid, clip, start_frame, start_time_s, end_time_s
    <split>/words.csv      window, word, start_s, end_s (video seconds)
    <split>/meta.json      shapes, fps, span, skeleton, format version

Arrays are appended window by window (the whole split never sits in memory) and the .npy header is written last.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gesturegen.io import read_json

WINDOWS_FORMAT = "gesturegen-windows"
WINDOWS_VERSION = 1
_HEADER_BYTES = 128  # a multiple of 64, room for any 4-D shape


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (np.lib.format.dtype_to_descr(dtype), shape)
    magic = b"\x93NUMPY\x01\x00"
    room = _HEADER_BYTES - len(magic) - 2
    if len(text) + 1 > room:
        raise ValueError(f"npy header for shape {shape} does not fit in {_HEADER_BYTES} bytes")
    return magic + struct.pack("<H", room) + (text.ljust(room - 1) + "\n").encode("latin1")


class NpyAppender:
    """Write a .npy file one row block at a time; rows must share dtype and trailing shape."""

    def __init__(self, path: Path, dtype: np.dtype | str, row_shape: tuple[int, ...]):
        self.path, self.dtype, self.row_shape, self.n = Path(path), np.dtype(dtype), tuple(row_shape), 0
        self._fh = open(self.path, "wb")
        self._fh.write(_npy_header(self.dtype, (0,) + self.row_shape))

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: row shape {rows.shape[1:]} != {self.row_shape}")
        self._fh.write(rows.tobytes())
        self.n += rows.shape[0]

    def close(self) -> None:
        self._fh.seek(0)
        self._fh.write(_npy_header(self.dtype, (self.n,) + self.row_shape))
        self._fh.close()


@dataclass
class WindowSplit:
    """A written split, opened read-only with memory-mapped arrays."""
    path: Path
    meta: dict[str, Any]
    dir_vec: np.ndarray
    poses: np.ndarray
    audio: np.ndarray
    video_ids: np.ndarray

    def __len__(self) -> int:
        return self.dir_vec.shape[0]

    def windows(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "windows.csv")

    def words(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "words.csv", keep_default_na=False, dtype={"word": str})


def mmap_arrays(folder: Path, names: tuple[str, ...], stage: str,
                error: type[Exception] = FileNotFoundError) -> dict[str, np.ndarray]:
    """Memory-map folder/<name>.npy for each name (read-only, no pickle); a missing file is an `error` naming the
    file and the stage that writes it."""
    arrays = {}
    for name in names:
        f = folder / f"{name}.npy"
        if not f.is_file():
            raise error(f"{f}: missing; the folder is incomplete, re-run {stage}")
        arrays[name] = np.load(f, mmap_mode="r", allow_pickle=False)
    return arrays


def open_split(path: str | Path) -> WindowSplit:
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path}: no meta.json; is this a build_windows split folder? Run build_windows")
    meta = read_json(meta_path)
    if meta.get("format") != WINDOWS_FORMAT or meta.get("version") != WINDOWS_VERSION:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r} v{meta.get('version')!r}, "
                         f"expected {WINDOWS_FORMAT!r} v{WINDOWS_VERSION}; re-run build_windows")
    arrays = mmap_arrays(path, ("dir_vec", "poses", "audio", "video_ids"), "build_windows")
    n = meta["n_windows"]
    for name, arr in arrays.items():
        if arr.shape[0] != n:
            raise ValueError(f"{path / (name + '.npy')}: {arr.shape[0]} rows but meta.json says {n} windows; "
                             f"the folder is inconsistent, re-run build_windows")
    return WindowSplit(path, meta, **arrays)
