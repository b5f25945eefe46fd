"""Raw clip LMDBs: our stable, pickle-free encoding of the TED Expressive / AQGT clip schema (ldmc-spec §2.1).

An LMDB directory per split, `data.mdb` plus `digest.json` (its size and blake2b). One value per video under its
key (the source's key, or a 10-digit zero-padded index); each value is a 16-byte blake2b of (key, payload) followed
by the payload: msgpack of {'vid': str, 'clips': [clip, ...], ...} where numpy arrays are msgpack extension type 1
(dtype, shape, little-endian bytes). The key `__format__` holds {'format': 'gesturegen-raw', 'version': 2,
'n_videos': N, ...}, checksummed the same way.

Before anything memory-maps a data.mdb, `verify_store` checks its header and its whole-file digest
(gesturegen.data.lmdbfile); on a mismatch a child process scans the records (a damaged B-tree can crash LMDB) and the
error names the damaged keys. Every value read is checked against its own checksum, and its structure by
gesturegen.data.records. Official LMDBs (values from the removed `pyarrow.serialize`) are recognised and refused
with a pointer to convert_raw.
"""
from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

import lmdb
import msgpack
import numpy as np

from gesturegen.data.lmdbfile import (
    DIGEST_FILE,
    META_KEY,
    RawFormatError,
    check_lmdb_dir,
    digest_mismatch,
    probe_meta,
    scan_store,
    write_digest,
)
from gesturegen.data.records import check_video

FORMAT_NAME = "gesturegen-raw"
FORMAT_VERSION = 2
CHECKSUM_BYTES = 16
_EXT_NDARRAY = 1
MAP_SIZE = 1 << 40  # sparse; LMDB only uses what it writes
_RECREATE = "re-create this split (re-run convert_raw / make_demo_data)"
_SKIP_HINT = ("or to count and skip such records set build_windows.on_bad_record: skip "
              "(convert_raw.on_corrupt: skip when converting)")


class RecordError(RawFormatError):
    """One record cannot be used: `reason` is a short code (checksum, undecodable, not_a_video), `detail` the text."""

    def __init__(self, path: Path, key: str, reason: str, detail: str):
        self.path, self.key, self.reason, self.detail = Path(path), key, reason, detail
        super().__init__(f"{path}: key {key}: {detail}; {_RECREATE}, {_SKIP_HINT}")

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


_DECODE_ERRORS = (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, StopIteration)


def video_key(index: int) -> bytes:
    return b"%010d" % index


def record_checksum(key: bytes, payload: bytes | memoryview) -> bytes:
    """blake2b-128 of (key, payload): a value copied under another key fails too."""
    h = hashlib.blake2b(digest_size=CHECKSUM_BYTES, person=b"gesturegen-raw2")
    h.update(struct.pack("<I", len(key)))
    h.update(key)
    h.update(payload)
    return h.digest()


def seal(key: bytes, payload: bytes) -> bytes:
    """The stored value: checksum + payload."""
    return record_checksum(key, payload) + payload


def unseal(key: bytes, value: bytes) -> bytes | None:
    """The payload if the value's checksum matches its key and payload, else None."""
    if len(value) < CHECKSUM_BYTES:
        return None
    payload = memoryview(value)[CHECKSUM_BYTES:]
    return bytes(payload) if record_checksum(key, payload) == value[:CHECKSUM_BYTES] else None


# --- writing ----------------------------------------------------------------------------------------------------

def _keyed(videos: Iterable[dict | tuple[str | bytes, dict]]) -> Iterator[tuple[bytes, dict]]:
    for n, item in enumerate(videos):
        if isinstance(item, tuple):
            key, video = item
            yield (key.encode() if isinstance(key, str) else bytes(key)), video
        else:
            yield video_key(n), item


def write_store(path: str | Path, videos: Iterable[dict | tuple[str | bytes, dict]], meta: dict | None = None) -> int:
    """Write videos to a new LMDB at `path` (plus digest.json); returns the number written.

    `videos` yields video dicts (keys '%010d' by position) or (key, video) pairs (the source's keys, kept).
    """
    path = Path(path)
    if (path / "data.mdb").exists():
        raise FileExistsError(f"{path}: already holds an LMDB; write_store makes a new one (remove it first)")
    path.mkdir(parents=True, exist_ok=True)
    n = 0
    env = lmdb.open(str(path), map_size=MAP_SIZE, subdir=True, meminit=True)
    try:
        with env.begin(write=True) as txn:
            for key, video in _keyed(videos):
                if key == META_KEY or not key:
                    raise ValueError(f"{path}: {key!r} cannot be a video key")
                if not txn.put(key, seal(key, encode(video)), overwrite=False):
                    raise ValueError(f"{path}: key {key.decode(errors='replace')} appears twice")
                n += 1
            txn.put(META_KEY, seal(META_KEY, encode({"format": FORMAT_NAME, "version": FORMAT_VERSION,
                                                     **(meta or {}), "n_videos": n})))
    finally:
        env.close()
    # lock.mdb is runtime state (reader table, pids), not data: drop it so the same records give the same folder
    # hash (readers open with lock=False and never need it)
    (path / "lock.mdb").unlink(missing_ok=True)
    write_digest(path)
    return n


# --- reading ----------------------------------------------------------------------------------------------------

def _meta_from_raw(path: Path, raw_meta: bytes | None) -> dict:
    """Our `__format__` record, checked: present, checksummed, current format and version."""
    if raw_meta is None:
        raise RawFormatError(
            f"{path}: no `__format__` record: this looks like an official LMDB written with "
            f"pyarrow.serialize. Convert it first: the convert_raw stage does this (see README, 'Real datasets')")
    payload = unseal(META_KEY, raw_meta)
    try:
        meta = decode(payload if payload is not None else raw_meta)
    except _DECODE_ERRORS:
        meta = None
    if not isinstance(meta, dict):
        raise RawFormatError(f"{path}: the `__format__` record is corrupt (checksum mismatch); {_RECREATE}")
    if meta.get("format") == FORMAT_NAME and meta.get("version") != FORMAT_VERSION:
        raise RawFormatError(f"{path}: written in {FORMAT_NAME!r} v{meta.get('version')!r}, which has no checksums; "
                             f"this version reads v{FORMAT_VERSION}: re-run convert_raw / make_demo_data")
    if payload is None:
        raise RawFormatError(f"{path}: the `__format__` record is corrupt (checksum mismatch); {_RECREATE}")
    if meta.get("format") != FORMAT_NAME:
        raise RawFormatError(f"{path}: format {meta.get('format')!r}, expected {FORMAT_NAME!r} v{FORMAT_VERSION}")
    if not isinstance(meta.get("n_videos"), int):
        raise RawFormatError(f"{path}: the `__format__` record has no n_videos; {_RECREATE}")
    return meta


def verify_store(path: Path, tolerate_bad_records: bool = False) -> set[str]:
    """Everything a reader checks before memory-mapping one of our stores; returns the keys known to be damaged.

    Header (truncation), digest.json present, data.mdb matching it. On a mismatch the records are scanned in a
    child process: the error names the damaged keys, or the key after which the scan crashed. With
    `tolerate_bad_records`, damage confined to individual records (checksums fail, nothing crashed) is returned
    instead, so the caller can skip those keys; anything else still raises.
    """
    check_lmdb_dir(path)
    if not (path / DIGEST_FILE).is_file():
        probe = probe_meta(path)
        if probe.failure:
            raise RawFormatError(f"{path}: the LMDB is damaged: opening it in a separate process "
                                 f"{probe.failure.replace('stopped with', 'gave')}; replace it with an intact copy")
        _meta_from_raw(path, probe.meta)  # official or an old version: says so
        raise RawFormatError(f"{path}: no {DIGEST_FILE} beside data.mdb (it holds the file's checksum); the folder "
                             f"is incomplete: {_RECREATE}")
    mismatch = digest_mismatch(path)
    if mismatch is None:
        return set()
    report = scan_store(path)
    if tolerate_bad_records and report.bad and report.failure is None:
        return {k for k, _ in report.bad}
    if report.bad or report.failure:
        found = report.describe()
    else:
        found = (f"all {report.n_records} records still match their checksums, so the damage is in LMDB's own pages "
                 f"(free space or structure)")
    skip = f", {_SKIP_HINT}" if report.bad and not report.failure else ""
    raise RawFormatError(f"{path}: data.mdb does not match {DIGEST_FILE} ({mismatch}); the file changed after it was "
                         f"written. Scanning its records in a separate process: {found}. Fix: {_RECREATE}{skip}")


class RawStore:
    """Read-only access to one split's raw clip LMDB in our encoding, verified before it is memory-mapped.

    With `tolerate_bad_records`, a store whose damage is confined to individual records opens, `damaged_keys`
    lists them, and reading one raises RecordError (callers count and skip it). `verified` passes on the damaged
    keys that an earlier RawStore of the same path found, instead of reading and hashing the whole file again.
    """

    def __init__(self, path: str | Path, tolerate_bad_records: bool = False, verified: set[str] | None = None):
        self.path = Path(path)
        self.damaged_keys = verify_store(self.path, tolerate_bad_records) if verified is None else set(verified)
        self._env = lmdb.open(str(self.path), readonly=True, lock=False, readahead=False, subdir=True)
        try:
            with self._env.begin() as txn:
                raw_meta = txn.get(META_KEY)
                self._keys = [k for k in txn.cursor().iternext(values=False) if k != META_KEY]
            self.meta = _meta_from_raw(self.path, raw_meta)
            n, good = self.meta["n_videos"], len(self._keys) - len(self.damaged_keys)
            if len(self._keys) < n or good > n:
                raise RawFormatError(f"{self.path}: {len(self._keys)} records but the `__format__` record says "
                                     f"{n}: records were added or removed after writing; {_RECREATE}")
        except BaseException:
            self._env.close()
            raise

    @property
    def source(self) -> str:
        """The file this split was converted from (convert_raw records it), else this store itself."""
        return str(self.meta.get("source") or self.path)

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> list[str]:
        return [k.decode(errors="backslashreplace") for k in self._keys]

    def read(self, key: str) -> dict:
        """One video, checked against its checksum; a damaged or undecodable value raises RecordError."""
        kb = key.encode()
        with self._env.begin() as txn:
            data = txn.get(kb)
        if data is None:
            raise RawFormatError(f"{self.path}: no record with key {key!r}")
        payload = unseal(kb, data)
        if payload is None:
            raise RecordError(self.path, key, "checksum", "checksum mismatch: the value (or its key) was changed "
                                                          "after writing")
        try:
            video = decode(payload)
        except _DECODE_ERRORS as e:
            raise RecordError(self.path, key, "undecodable", f"value does not decode ({type(e).__name__}: {e})"
                              ) from None
        problem = check_video(video)
        if problem is not None:
            raise RecordError(self.path, key, problem.reason, problem.message)
        return video

    def __iter__(self) -> Iterator[tuple[str, dict]]:
        for key in self.keys():
            yield key, self.read(key)

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
