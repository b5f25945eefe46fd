"""On-disk layout of one dataset split's windows: memory-mappable .npy arrays plus CSV/JSON tables.

    <split>/dir_vec.npy    float32 (N, T, V*3)   mean-subtracted vectors (the model target)
    <split>/poses.npy      float32 (N, T, J, 3)  raw joint positions (15 fps)
    <split>/audio.npy      float16 (N, S)        16 kHz audio of the window's span
    <split>/video_ids.npy  int32   (N,)          persistent ids from ../videos.csv
    <split>/clip_audio.npy float16 (A,)          the whole audio of every clip with a kept window, concatenated
    <split>/windows.csv    window, video_id, vid, clip, start_frame, start_time_s, end_time_s, clip_row
    <split>/clips.csv      clip_row, video_id, vid, clip, sample_offset, n_samples, start_time_s: where each clip's
                           audio lies in clip_audio.npy (sample 0 = the clip's start_time_s; clip frame f at 15 fps
                           is sample round(f * sr / fps)); a window's start_frame counts frames of its clip
    <split>/words.csv      window, word, start_s, end_s (video seconds)
    <split>/meta.json      shapes, fps, span, skeleton, format version, and `checksums` of every array

Arrays are appended window by window (the whole split never sits in memory) and the .npy header is written last.

Checksums (`array_checksums`, `verify_arrays`; also used for the feature arrays): per .npy file its size, the
blake2b of the whole file, and a crc32 of the header and of every block of 64 rows. `open_split` verifies by
default: one sequential blake2b pass per file (the crc32s are computed only after a mismatch, to name the damaged
rows). Blocks rather than one crc per row: a block of 64 windows is enough to find the damage (windows.csv maps rows
to videos), and the list stays small enough to live in meta.json (TED Expressive's ~200k train windows: ~3k numbers
per array) instead of a sidecar file that could itself go missing. crc32 is fine for this job: it only localises
damage that blake2b has already detected. clip_audio.npy is 1-D: its blocks are CLIP_AUDIO_BLOCK samples (about a
minute at 16 kHz) and an error names the damaged samples.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gesturegen.io import check_format, file_digest, read_json

WINDOWS_FORMAT = "gesturegen-windows"
WINDOWS_VERSION = 3
ROW_ARRAYS = ("dir_vec", "poses", "audio", "video_ids")       # one row per window
WINDOW_ARRAYS = ROW_ARRAYS + ("clip_audio",)
BLOCK_ROWS = 64
CLIP_AUDIO_BLOCK = 1 << 20
_HEADER_BYTES = 128  # a multiple of 64, room for any 4-D shape
_CHUNK = 1 << 22


class ArrayIntegrityError(ValueError):
    """An array file is truncated, damaged or does not match its checksums; the message names the file and rows."""


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
    clip_audio: np.ndarray | None = None

    def __len__(self) -> int:
        return self.dir_vec.shape[0]

    def windows(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "windows.csv")

    def clips(self) -> pd.DataFrame:
        """clips.csv: one row per clip with a kept window (clip_row, video_id, vid, clip, sample_offset, n_samples,
        start_time_s)."""
        return pd.read_csv(self.path / "clips.csv")

    def audio_of_clip(self, sample_offset: int, n_samples: int) -> np.ndarray:
        """A clip's whole audio (float16, memory-mapped), from its clips.csv sample_offset and n_samples."""
        if self.clip_audio is None or sample_offset < 0 or sample_offset + n_samples > self.clip_audio.shape[0]:
            size = None if self.clip_audio is None else self.clip_audio.shape[0]
            raise ValueError(f"{self.path / 'clip_audio.npy'}: samples {sample_offset}+{n_samples} are outside the "
                             f"array ({size} samples); clips.csv and clip_audio.npy disagree, re-run build_windows")
        return self.clip_audio[sample_offset:sample_offset + n_samples]

    def words(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "words.csv", keep_default_na=False, dtype={"word": str})


def npy_layout(f: Path, error: type[Exception] = ArrayIntegrityError) -> tuple[int, tuple[int, ...], np.dtype]:
    """(header bytes, shape, dtype) of a C-order .npy file, read without loading or mapping it."""
    try:
        with open(f, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
    except (ValueError, OSError, SyntaxError, EOFError) as e:
        raise error(f"{f}: not a readable .npy file ({type(e).__name__}: {e})") from None
    if fortran or dtype.hasobject:
        raise error(f"{f}: {'Fortran-order' if fortran else 'object'} array; not written by gesturegen")
    return offset, tuple(shape), dtype


def _row_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize


def mmap_arrays(folder: Path, names: tuple[str, ...], stage: str,
                error: type[Exception] = FileNotFoundError) -> dict[str, np.ndarray]:
    """Memory-map folder/<name>.npy for each name (read-only, no pickle); a missing file is an `error` naming the
    file and the stage that writes it, and a file shorter than its header says is one too (before numpy maps it)."""
    arrays = {}
    for name in names:
        f = folder / f"{name}.npy"
        if not f.is_file():
            raise error(f"{f}: missing; the folder is incomplete, re-run {stage}")
        offset, shape, dtype = npy_layout(f, error)
        need = offset + (shape[0] * _row_bytes(shape, dtype) if shape else dtype.itemsize)
        size = f.stat().st_size
        if size < need:
            rows = max(size - offset, 0) // max(_row_bytes(shape, dtype), 1) if shape else 0
            raise error(f"{f}: truncated: {size} bytes, but its header says {shape} {dtype} ({need} bytes); only "
                        f"rows 0-{rows - 1} are complete. Re-run {stage}")
        arrays[name] = np.load(f, mmap_mode="r", allow_pickle=False)
    return arrays


def _block_crcs(f: Path, offset: int, row_bytes: int, block_rows: int) -> tuple[int, list[int], str]:
    """crc32 of the header, of every block of `block_rows` rows (the last one may be short), and the blake2b."""
    h = hashlib.blake2b()
    crcs = []
    with open(f, "rb") as fh:
        header = fh.read(offset)
        h.update(header)
        block_bytes = max(row_bytes * block_rows, 1)
        while True:
            crc, left, got = 0, block_bytes, 0
            while left:
                buf = fh.read(min(left, _CHUNK))
                if not buf:
                    break
                h.update(buf)
                crc = zlib.crc32(buf, crc)
                left -= len(buf)
                got += len(buf)
            if not got:
                break
            crcs.append(crc)
    return zlib.crc32(header), crcs, h.hexdigest()


def array_checksums(folder: str | Path, names: tuple[str, ...] | list[str],
                    block_rows: int = BLOCK_ROWS) -> dict[str, dict[str, Any]]:
    """Checksums of folder/<name>.npy (their final bytes), for meta.json: {name: {file, size, blake2b, rows,
    row_bytes, header_bytes, header_crc32, block_rows, block_crc32: [...]}}."""
    folder = Path(folder)
    out = {}
    for name in names:
        f = folder / f"{name}.npy"
        offset, shape, dtype = npy_layout(f)
        row_bytes = _row_bytes(shape, dtype)
        header_crc, crcs, digest = _block_crcs(f, offset, row_bytes, block_rows)
        out[name] = {"file": f.name, "size": f.stat().st_size, "blake2b": digest, "rows": int(shape[0]) if shape
                     else 1, "row_bytes": row_bytes, "header_bytes": offset, "header_crc32": header_crc,
                     "block_rows": block_rows, "block_crc32": crcs}
    return out


def window_checksums(folder: str | Path) -> dict[str, dict[str, Any]]:
    """Checksums of a window split's arrays (WINDOW_ARRAYS): blocks of 64 windows, and of CLIP_AUDIO_BLOCK samples
    for the 1-D clip_audio."""
    out = array_checksums(folder, ROW_ARRAYS)
    out["clip_audio"] = array_checksums(folder, ("clip_audio",), block_rows=CLIP_AUDIO_BLOCK)["clip_audio"]
    out["clip_audio"]["rows_are"] = "samples"
    return out


def _ranges(rows: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}-{b - 1}" if b - a > 1 else str(a) for a, b in rows)


def verify_arrays(folder: str | Path, checksums: dict[str, dict[str, Any]], stage: str,
                  error: type[Exception] = ArrayIntegrityError) -> None:
    """Check every array file against its checksums (from meta.json); raise `error` naming the file and the damaged
    rows (window indices) otherwise. Costs one sequential read of each file."""
    folder = Path(folder)
    for c in checksums.values():
        f = folder / c["file"]
        where = f"{f} (checked against {folder / 'meta.json'})"
        if not f.is_file():
            raise error(f"{f}: missing; the folder is incomplete, re-run {stage}")
        size = f.stat().st_size
        if size != c["size"]:
            complete = max(size - c["header_bytes"], 0) // max(c["row_bytes"], 1)
            what = (f"truncated: {size} bytes instead of {c['size']}; rows {complete}-{c['rows'] - 1} (of "
                    f"{c['rows']}) are missing or incomplete" if size < c["size"] else
                    f"{size} bytes instead of {c['size']}: bytes were appended")
            raise error(f"{where}: {what}. The file is damaged; re-run {stage}")
        if file_digest(f)[1] == c["blake2b"]:
            continue
        header_crc, crcs, _ = _block_crcs(f, c["header_bytes"], c["row_bytes"], c["block_rows"])
        k = c["block_rows"]
        bad = [(i * k, min((i + 1) * k, c["rows"])) for i, (got, want) in enumerate(zip(crcs, c["block_crc32"]))
               if got != want]
        parts = []
        if header_crc != c["header_crc32"]:
            parts.append("the .npy header")
        if bad:
            parts.append(f"rows ({c.get('rows_are', 'windows')}) {_ranges(bad)} (checked in blocks of {k} rows)")
        found = " and ".join(parts) or "bytes that no block checksum covers"
        raise error(f"{where}: the content does not match its blake2b: {found} changed after writing. The file "
                    f"is damaged; re-run {stage}")


def read_meta(folder: Path, fmt: str, version: int, arrays: tuple[str, ...], stage: str,
              error: type[Exception] = ValueError,
              integrity_error: type[Exception] = ArrayIntegrityError) -> dict[str, Any]:
    """A split folder's meta.json, checked for its format, version and the checksums of `arrays`; errors name the
    file and the stage that rewrites it."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder}: no meta.json; is this a {stage} split folder? Run {stage}")
    meta = check_format(read_json(meta_path), meta_path, fmt, version, stage, error)
    if sorted(meta.get("checksums") or {}) != sorted(arrays):
        raise integrity_error(f"{meta_path}: no checksums for {list(arrays)}; re-run {stage}")
    return meta


def open_split(path: str | Path, verify: bool = True) -> WindowSplit:
    """Open a build_windows split read-only: meta.json, the memory-mapped arrays, and (by default) their checksums.

    `verify=False` skips the checksum pass (one read of every array) for repeated opens in a hot loop; truncation
    is still caught from the .npy headers.
    """
    path = Path(path)
    meta = read_meta(path, WINDOWS_FORMAT, WINDOWS_VERSION, WINDOW_ARRAYS, "build_windows")
    arrays = mmap_arrays(path, WINDOW_ARRAYS, "build_windows", error=ArrayIntegrityError)
    n = meta["n_windows"]
    for name in ROW_ARRAYS:
        arr = arrays[name]
        if arr.shape[0] != n:
            raise ValueError(f"{path / (name + '.npy')}: {arr.shape[0]} rows but meta.json says {n} windows; "
                             f"the folder is inconsistent, re-run build_windows")
    if verify:
        verify_arrays(path, meta["checksums"], "build_windows")
    return WindowSplit(path, meta, **arrays)
