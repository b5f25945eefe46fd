"""Raw clip LMDBs: our stable, pickle-free encoding of the TED Expressive / AQGT clip schema (ldmc-spec §2.1).

An LMDB directory per split. Keys are 10-digit zero-padded indices, one value per video, exactly as in the
official files; each value is msgpack of {'vid': str, 'clips': [clip, ...], ...} where numpy arrays are msgpack
extension type 1 (dtype, shape, little-endian bytes). The key `__format__` holds
{'format': 'gesturegen-raw', 'version': 1, ...}. Official LMDBs (values from the removed `pyarrow.serialize`)
are recognised and refused with a pointer to the convert_raw stage.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb
import msgpack
import numpy as np

FORMAT_NAME = "gesturegen-raw"
FORMAT_VERSION = 1
META_KEY = b"__format__"
_EXT_NDARRAY = 1
MAP_SIZE = 1 << 40  # sparse; LMDB only uses what it writes


class RawFormatError(ValueError):
    """A raw LMDB (or one record in it) cannot be used; the message names the file, the key and the fix."""


# --- encoding ---------------------------------------------------------------------------------------------------

def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"cannot encode an array of dtype {obj.dtype}")
        arr = np.ascontiguousarray(obj, dtype=obj.dtype.newbyteorder("<"))
        header = msgpack.packb([arr.dtype.str, list(arr.shape)])
        return msgpack.ExtType(_EXT_NDARRAY, header + arr.tobytes())
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code != _EXT_NDARRAY:
        return msgpack.ExtType(code, data)
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    dtype, shape = next(unpacker)
    offset = unpacker.tell()
    arr = np.frombuffer(data, dtype=np.dtype(dtype), offset=offset, count=math.prod(shape)).reshape(shape)
    return arr.copy()  # own, writable memory: the LMDB buffer goes away with the transaction


def encode(value: Any) -> bytes:
    return msgpack.packb(value, default=_default, use_bin_type=True)


def decode(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def video_key(index: int) -> bytes:
    return b"%010d" % index


# --- writing ----------------------------------------------------------------------------------------------------

def write_store(path: str | Path, videos: Iterable[dict], meta: dict | None = None) -> int:
    """Write videos (dicts with 'vid' and 'clips') to a new LMDB at `path`; returns the number written."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    n = 0
    env = lmdb.open(str(path), map_size=MAP_SIZE, subdir=True, meminit=True)
    try:
        with env.begin(write=True) as txn:
            for video in videos:
                txn.put(video_key(n), encode(video))
                n += 1
            txn.put(META_KEY, encode({"format": FORMAT_NAME, "version": FORMAT_VERSION, **(meta or {}),
                                      "n_videos": n}))
    finally:
        env.close()
    # lock.mdb is runtime state (reader table, pids), not data: drop it so the same records give the same folder
    # hash (readers open with lock=False and never need it)
    (path / "lock.mdb").unlink(missing_ok=True)
    return n


# --- reading ----------------------------------------------------------------------------------------------------

def looks_like_lmdb(path: Path) -> bool:
    return (path / "data.mdb").is_file()


class RawStore:
    """Read-only access to one split's raw clip LMDB in our encoding."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise RawFormatError(f"{self.path}: no such LMDB directory; put the split there (see data/README.md) "
                                 f"or fix the dataset's name in params.yaml `datasets`")
        if not looks_like_lmdb(self.path):
            raise RawFormatError(f"{self.path}: not an LMDB directory (no data.mdb inside)")
        self._env = lmdb.open(str(self.path), readonly=True, lock=False, readahead=False, subdir=True)
        with self._env.begin() as txn:
            raw_meta = txn.get(META_KEY)
            self._keys = [k for k in txn.cursor().iternext(values=False) if k != META_KEY]
        if raw_meta is None:
            raise RawFormatError(
                f"{self.path}: no `__format__` record: this looks like an official LMDB written with "
                f"pyarrow.serialize. Convert it first: the convert_raw stage does this (see README, 'Real datasets')")
        try:
            self.meta = decode(raw_meta)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            raise RawFormatError(f"{self.path}: unreadable `__format__` record ({e})") from None
        if self.meta.get("format") != FORMAT_NAME or self.meta.get("version") != FORMAT_VERSION:
            raise RawFormatError(f"{self.path}: format {self.meta.get('format')!r} version "
                                 f"{self.meta.get('version')!r}, expected {FORMAT_NAME!r} v{FORMAT_VERSION}")

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> list[str]:
        return [k.decode() for k in self._keys]

    def read(self, key: str) -> dict:
        """One video; a value that does not decode raises RawFormatError naming the file and key."""
        with self._env.begin() as txn:
            data = txn.get(key.encode())
        if data is None:
            raise RawFormatError(f"{self.path}: no record with key {key!r}")
        try:
            video = decode(data)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            raise RawFormatError(
                f"{self.path}: key {key}: value is corrupt ({type(e).__name__}: {e}); re-create this split "
                f"(convert_raw / make_demo_data), or to count and skip such records set "
                f"build_windows.on_bad_record: skip (convert_raw.on_corrupt: skip when converting)") from None
        if not isinstance(video, dict) or not isinstance(video.get("clips"), list) or "vid" not in video:
            raise RawFormatError(f"{self.path}: key {key}: expected a dict with 'vid' and 'clips', "
                                 f"got {type(video).__name__} with keys {list(video)[:8] if isinstance(video, dict) else '-'}")
        return video

    def __iter__(self) -> Iterator[tuple[str, dict]]:
        for key in self.keys():
            yield key, self.read(key)

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> RawStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- clip validation --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipProblem:
    reason: str   # short code used in rejection counts
    message: str  # what is wrong and how to fix it


def check_clip(clip: Any, n_joints: int, words_unit: str, sample_rate_hz: int = 16000,
               audio_tolerance_s: float = 0.1) -> ClipProblem | None:
    """The first problem that makes a raw clip unusable, or None.

    Checks: required fields, joint count, NaN/inf joints, times, word order, and that the audio covers the clip.
    """
    if not isinstance(clip, dict):
        return ClipProblem("bad_clip", f"a clip must be a dict, got {type(clip).__name__}")
    for name in ("skeletons_3d", "audio_raw", "words", "start_time", "end_time"):
        if name not in clip:
            return ClipProblem("missing_field", f"clip has no {name!r} field")
    try:
        skel = np.asarray(clip["skeletons_3d"], dtype=np.float64)
    except (ValueError, TypeError) as e:
        return ClipProblem("bad_skeleton", f"skeletons_3d is not a numeric (T, J, 3) array ({e})")
    if skel.ndim != 3 or skel.shape[1:] != (n_joints, 3):
        return ClipProblem("joint_count", f"skeletons_3d has shape {skel.shape}, expected (T, {n_joints}, 3); "
                                          f"is the dataset's `skeleton` in params.yaml right?")
    if skel.shape[0] < 2:
        return ClipProblem("too_short", f"clip has {skel.shape[0]} skeleton frame(s)")
    if not np.isfinite(skel).all():
        bad = np.unique(np.nonzero(~np.isfinite(skel))[0])
        return ClipProblem("nan_skeleton", f"skeletons_3d has NaN/inf values in {bad.size} frame(s), first at "
                                           f"frame {int(bad[0])}")
    start, end = clip["start_time"], clip["end_time"]
    if not (isinstance(start, (int, float)) and isinstance(end, (int, float)) and end > start):
        return ClipProblem("bad_times", f"start_time={start!r}, end_time={end!r}: need end_time > start_time")
    for i, w in enumerate(clip["words"]):
        if not (isinstance(w, (list, tuple)) and len(w) == 3 and isinstance(w[0], str)):
            return ClipProblem("bad_word", f"word {i} is {w!r}, expected [word, start, end]")
        if not (math.isfinite(w[1]) and math.isfinite(w[2])) or w[2] < w[1]:
            return ClipProblem("word_order", f"word {i} {w[0]!r} ends before it starts ({w[1]} > {w[2]} "
                                             f"{words_unit})")
    n_audio = len(clip["audio_raw"])
    need = (end - start) * sample_rate_hz
    if n_audio < need - audio_tolerance_s * sample_rate_hz:
        return ClipProblem("short_audio", f"audio_raw has {n_audio} samples ({n_audio / sample_rate_hz:.2f} s) "
                                          f"but the clip lasts {end - start:.2f} s")
    return None
