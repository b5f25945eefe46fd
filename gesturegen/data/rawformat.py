"""Raw clip LMDBs: our stable, pickle-free encoding of the TED Expressive / AQGT clip schema (ldmc-spec §2.1).

An LMDB directory per split, `data.mdb` plus `digest.json` (its size and blake2b). One value per video under its
key (the source's key, or a 10-digit zero-padded index); each value is a 16-byte blake2b of (key, payload) followed
by the payload: msgpack of {'vid': str, 'clips': [clip, ...], ...} where numpy arrays are msgpack extension type 1
(dtype, shape, little-endian bytes). The key `__format__` holds {'format': 'gesturegen-raw', 'version': 2,
'n_videos': N, ...}, checksummed the same way.

Before anything memory-maps a data.mdb, `check_lmdb_header` reads its two meta pages and refuses a truncated file,
and `RawStore` checks the whole-file digest; on a mismatch a child process scans the records (a damaged B-tree can
crash LMDB) and the error names the damaged keys. Every value read is checked against its own checksum. Official
LMDBs (values from the removed `pyarrow.serialize`) are recognised and refused with a pointer to convert_raw.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import signal
import struct
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import lmdb
import msgpack
import numpy as np

FORMAT_NAME = "gesturegen-raw"
FORMAT_VERSION = 2
META_KEY = b"__format__"
DIGEST_FILE = "digest.json"  # beside data.mdb: {"file", "size", "blake2b"} of the whole data.mdb
CHECKSUM_BYTES = 16
_EXT_NDARRAY = 1
MAP_SIZE = 1 << 40  # sparse; LMDB only uses what it writes
_RECREATE = "re-create this split (re-run convert_raw / make_demo_data)"
_SKIP_HINT = ("or to count and skip such records set build_windows.on_bad_record: skip "
              "(convert_raw.on_corrupt: skip when converting)")


class RawFormatError(ValueError):
    """A raw LMDB (or one record in it) cannot be used; the message names the file, the key and the fix."""


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


# --- the file before it is memory-mapped ------------------------------------------------------------------------

LMDB_MAGIC = 0xBEEFC0DE
LMDB_DATA_VERSION = 1
_P_META = 0x08
_META_STRUCT = struct.Struct("<II QQ IHHQQQQQ IHHQQQQQ QQ")  # MDB_meta after the 16-byte page header (64-bit LMDB)


@dataclass(frozen=True)
class LmdbHeader:
    """What the newer of data.mdb's two meta pages says."""
    page_size: int
    last_pg: int
    txnid: int
    entries: int      # records in the main database
    file_size: int

    @property
    def needed_bytes(self) -> int:
        return (self.last_pg + 1) * self.page_size


def _parse_meta(page: bytes) -> tuple[dict | None, str]:
    if len(page) < 16 + _META_STRUCT.size:
        return None, f"only {len(page)} bytes"
    flags = struct.unpack_from("<H", page, 10)[0]
    f = _META_STRUCT.unpack_from(page, 16)
    magic, version, psize, last_pg, txnid = f[0], f[1], f[4], f[20], f[21]
    if not flags & _P_META or magic != LMDB_MAGIC:
        return None, f"no LMDB meta page (flags {flags:#x}, magic {magic:#010x}, expected {LMDB_MAGIC:#010x})"
    if version != LMDB_DATA_VERSION:
        return None, f"LMDB data version {version}, expected {LMDB_DATA_VERSION}"
    if psize < 512 or psize > 65536 or psize & (psize - 1):
        return None, f"implausible page size {psize}"
    return {"page_size": psize, "last_pg": last_pg, "txnid": txnid, "entries": f[18]}, ""


def check_lmdb_header(path: str | Path, locate: bool = True) -> LmdbHeader:
    """Parse data.mdb's two meta pages (without mmap) and refuse a file LMDB would read past the end of.

    `path` is the LMDB directory or its data.mdb. Raises RawFormatError naming the file, its size and what the
    header says when a meta page is invalid or the file is shorter than (last_pg + 1) * page_size; for a truncated
    file (with `locate`) a child process reads the records to name the last one still complete.
    """
    path = Path(path)
    f = path / "data.mdb" if path.is_dir() else path
    size = f.stat().st_size
    with open(f, "rb") as fh:
        first = fh.read(4096)
        meta0, why0 = _parse_meta(first)
        fh.seek(meta0["page_size"] if meta0 else 4096)
        meta1, why1 = _parse_meta(fh.read(4096))
    damaged = f"{f}: not a usable LMDB file ({size} bytes)"
    if meta0 is None:
        raise RawFormatError(f"{damaged}: meta page 0 is invalid ({why0}); the file is damaged or not an LMDB. "
                             f"Replace it with an intact copy")
    if meta1 is None:
        raise RawFormatError(f"{damaged}: meta page 1 at offset {meta0['page_size']} is invalid ({why1}); the file "
                             f"is damaged or truncated. Replace it with an intact copy")
    if meta1["page_size"] != meta0["page_size"]:
        raise RawFormatError(f"{damaged}: the meta pages disagree on the page size ({meta0['page_size']} vs "
                             f"{meta1['page_size']}); the file is damaged. Replace it with an intact copy")
    meta = meta1 if meta1["txnid"] > meta0["txnid"] else meta0
    header = LmdbHeader(file_size=size, **meta)
    if size < header.needed_bytes:
        found = f" Reading it in a separate process: {_locate_cut(f.parent)}." if locate else ""
        raise RawFormatError(
            f"{f}: truncated: {size} bytes, but its header (page size {header.page_size}, last page "
            f"{header.last_pg}, txn {header.txnid}, {header.entries} records) needs {header.needed_bytes} bytes."
            f"{found} The copy is incomplete (an interrupted download or disk full?); replace it with an intact copy")
    return header


def _locate_cut(lmdb_dir: Path) -> str:
    report = _run_child("walk", lmdb_dir, timeout_s=60 + (lmdb_dir / "data.mdb").stat().st_size / 20e6)
    if report.failure is None:
        return f"all {report.n_records} records are still complete (only free pages were cut off)"
    if report.last_key is None:
        return f"no record is readable (it {report.failure} before the first key)"
    return (f"{report.n_records} record(s) complete, up to key {report.last_key} (reading the next one "
            f"{report.failure}): the records after key {report.last_key} are in the missing part")


# --- the whole-file digest --------------------------------------------------------------------------------------

def file_digest(path: Path, chunk: int = 1 << 22) -> tuple[int, str]:
    """(size, blake2b hex) of a file, in one sequential read."""
    h = hashlib.blake2b()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def write_digest(lmdb_dir: Path) -> None:
    size, digest = file_digest(lmdb_dir / "data.mdb")
    (lmdb_dir / DIGEST_FILE).write_text(json.dumps({"file": "data.mdb", "size": size, "blake2b": digest},
                                                   indent=2) + "\n")


def _digest_mismatch(lmdb_dir: Path) -> str | None:
    """None if data.mdb matches digest.json, else what differs."""
    try:
        want = json.loads((lmdb_dir / DIGEST_FILE).read_text())
        want_size, want_digest = int(want["size"]), str(want["blake2b"])
    except (ValueError, KeyError, TypeError) as e:
        return f"{DIGEST_FILE} is unreadable ({type(e).__name__}: {e})"
    size, digest = file_digest(lmdb_dir / "data.mdb")
    if size != want_size:
        return f"data.mdb has {size} bytes, {DIGEST_FILE} says {want_size}"
    if digest != want_digest:
        return f"data.mdb's blake2b is {digest[:16]}…, {DIGEST_FILE} says {want_digest[:16]}…"
    return None


# --- crash-isolated scans (a child process reads the LMDB; a crash there is survivable) ---------------------------

@dataclass
class ScanReport:
    """What a child process found reading every record of an LMDB."""
    bad: list[tuple[str, str]] = field(default_factory=list)   # (key, problem)
    n_records: int = 0
    last_key: str | None = None      # the last record the child finished
    failure: str | None = None       # how the child died or stopped, if it did
    meta: bytes | None = None        # the raw `__format__` value (probe only)

    def describe(self, limit: int = 5) -> str:
        """The damaged keys and how the scan ended, for an error message."""
        parts = [f"key {k}: {why}" for k, why in self.bad[:limit]]
        if len(self.bad) > limit:
            parts.append(f"and {len(self.bad) - limit} more damaged key(s)")
        if self.failure:
            after = f"after key {self.last_key}" if self.last_key is not None else "before the first key"
            parts.append(f"the scan {self.failure} {after} (the record after it, or the LMDB pages leading to it, "
                         f"are damaged)")
        return "; ".join(parts)


def _child_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the gesturegen package
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def no_core_dump() -> None:
    """Called first in a child that may crash on a damaged file: a crash is reported, no core file is left."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _run_child(mode: str, lmdb_dir: Path, timeout_s: float) -> ScanReport:
    cmd = [sys.executable, "-c", "from gesturegen.data.rawformat import _child_main; _child_main()", mode,
           str(lmdb_dir)]
    report = ScanReport()
    try:
        res = subprocess.run(cmd, capture_output=True, env=_child_env(), timeout=timeout_s, check=False)
        out, rc, err = res.stdout, res.returncode, res.stderr
    except subprocess.TimeoutExpired as e:
        out, rc, err = e.stdout or b"", None, e.stderr or b""
    done = False
    for line in out.decode(errors="replace").splitlines():
        try:
            kind, *rest = json.loads(line)
        except (ValueError, TypeError):
            continue  # not one of our frames
        if kind == "ok":
            report.n_records += 1
            report.last_key = rest[0]
        elif kind == "bad":
            report.n_records += 1
            report.last_key = rest[0]
            report.bad.append((rest[0], rest[1]))
        elif kind == "meta":
            report.meta = bytes.fromhex(rest[0]) if rest[0] is not None else None
        elif kind == "fatal":
            report.failure = f"stopped with an LMDB error ({rest[0]})"
        elif kind == "end":
            done = True
    if rc is None:
        report.failure = f"did not finish within {timeout_s:.0f} s (a loop in damaged B-tree pages?)"
    elif rc < 0:
        report.failure = f"crashed ({signal_name(rc)})"
    elif not done and report.failure is None:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {rc}"]
        report.failure = f"failed ({tail[0]})"
    return report


def _child_main() -> None:
    """Runs in the child: `scan DIR` checks every record's checksum, `walk DIR` reads every record (any LMDB),
    `probe DIR` reports the raw `__format__` value."""
    no_core_dump()
    mode, path = sys.argv[1], sys.argv[2]

    def emit(*frame: Any) -> None:
        sys.stdout.write(json.dumps(frame) + "\n")
        sys.stdout.flush()  # a crash must not swallow what was already found

    try:
        env = lmdb.open(path, readonly=True, lock=False, readahead=False, subdir=True)
    except lmdb.Error as e:
        emit("fatal", f"{type(e).__name__}: {e}")
        sys.exit(3)
    try:
        with env.begin() as txn:
            if mode == "probe":
                value = txn.get(META_KEY)
                emit("meta", value.hex() if value is not None else None)
            else:
                for key, value in txn.cursor():  # each value is copied out of the map: every byte is read
                    name = key.decode(errors="backslashreplace")
                    if mode == "scan" and unseal(key, value) is None:
                        emit("bad", name, "checksum mismatch (the value or its key was changed)")
                    else:
                        emit("ok", name)
    except lmdb.Error as e:
        emit("fatal", f"{type(e).__name__}: {e}")
        sys.exit(3)
    finally:
        env.close()
    emit("end")


def scan_store(lmdb_dir: Path) -> ScanReport:
    """Check every record's checksum in a child process (survives SIGBUS/SIGSEGV from a damaged file)."""
    size = (lmdb_dir / "data.mdb").stat().st_size
    return _run_child("scan", lmdb_dir, timeout_s=60 + size / 20e6)


def probe_meta(lmdb_dir: Path) -> ScanReport:
    """Read the raw `__format__` value in a child process (for LMDBs without a digest: official ones)."""
    return _run_child("probe", lmdb_dir, timeout_s=120)


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

def looks_like_lmdb(path: Path) -> bool:
    return (path / "data.mdb").is_file()


def check_lmdb_dir(path: Path) -> LmdbHeader:
    """A split's LMDB directory exists, holds data.mdb, and data.mdb's header is sound."""
    if not path.exists():
        raise RawFormatError(f"{path}: no such LMDB directory; put the split there (see data/README.md) "
                             f"or fix the dataset's name in params.yaml `datasets`")
    if not looks_like_lmdb(path):
        raise RawFormatError(f"{path}: not an LMDB directory (no data.mdb inside)")
    return check_lmdb_header(path)


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
    mismatch = _digest_mismatch(path)
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
    lists them, and reading one raises RecordError (callers count and skip it).
    """

    def __init__(self, path: str | Path, tolerate_bad_records: bool = False):
        self.path = Path(path)
        self.damaged_keys = verify_store(self.path, tolerate_bad_records)
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


# --- record and clip validation ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipProblem:
    reason: str   # short code used in rejection counts
    message: str  # what is wrong and how to fix it


def check_video(video: Any) -> ClipProblem | None:
    """What is wrong with a decoded record's top level ({'vid', 'clips': [...]}), or None."""
    if not isinstance(video, dict):
        return ClipProblem("not_a_video", f"expected a dict with 'vid' and 'clips', got {type(video).__name__}")
    if "vid" not in video or not isinstance(video.get("clips"), list):
        return ClipProblem("not_a_video", f"expected a dict with 'vid' and a list 'clips', got keys "
                                          f"{sorted(map(str, video))[:8]}")
    return None


def _first_non_finite(arr: np.ndarray) -> int | None:
    bad = ~np.isfinite(arr)
    return int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1))) if bad.any() else None


def _check_audio(audio: Any, sample_rate_hz: int) -> ClipProblem | None:
    arr = np.asarray(audio) if not isinstance(audio, np.ndarray) else audio
    if arr.dtype.kind not in "biuf" or arr.ndim != 1:
        return ClipProblem("bad_audio", f"audio_raw is not a 1-D numeric array (dtype {arr.dtype}, shape "
                                        f"{arr.shape})")
    i = _first_non_finite(arr)
    if i is not None:
        n_bad = int((~np.isfinite(arr)).sum())
        return ClipProblem("nan_audio", f"audio_raw has {n_bad} NaN/inf sample(s), first at sample {i} "
                                        f"({i / sample_rate_hz:.3f} s into the clip)")
    return None


def check_record(video: Any, sample_rate_hz: int = 16000) -> ClipProblem | None:
    """The first problem that makes a decoded record unusable as it enters the pipeline (convert_raw), or None.

    Structure ({'vid', 'clips': [dict, ...]}), numeric arrays of the right rank (skeletons_3d (T, J, 3), audio_raw
    1-D), no NaN/inf in either, numeric finite start/end times. Domain checks (joint count, words, audio length)
    are check_clip's (build_windows).
    """
    problem = check_video(video)
    if problem is not None:
        return problem
    for ci, clip in enumerate(video["clips"]):
        problem = _check_clip_arrays(clip, sample_rate_hz)
        if problem is not None:
            return ClipProblem(problem.reason, f"clip {ci}: {problem.message}")
    return None


def _check_clip_arrays(clip: Any, sample_rate_hz: int) -> ClipProblem | None:
    if not isinstance(clip, dict):
        return ClipProblem("bad_clip", f"a clip must be a dict, got {type(clip).__name__}")
    for name in ("skeletons_3d", "audio_raw"):
        if name not in clip:
            return ClipProblem("missing_field", f"clip has no {name!r} field")
    skel = clip["skeletons_3d"]
    if not isinstance(skel, np.ndarray) or skel.dtype.kind not in "biuf":
        what = f"dtype {skel.dtype}" if isinstance(skel, np.ndarray) else type(skel).__name__
        return ClipProblem("bad_skeleton", f"skeletons_3d is not a numeric array ({what})")
    if skel.ndim != 3 or skel.shape[2] != 3 or skel.shape[0] == 0:
        return ClipProblem("bad_skeleton", f"skeletons_3d has shape {skel.shape}, expected (T, J, 3)")
    frame = _first_non_finite(skel)
    if frame is not None:
        return ClipProblem("nan_skeleton", f"skeletons_3d has NaN/inf values, first at frame {frame}")
    problem = _check_audio(clip["audio_raw"], sample_rate_hz)
    if problem is not None:
        return problem
    for name in ("start_time", "end_time"):
        t = clip.get(name)
        if name in clip and not (isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)):
            return ClipProblem("bad_times", f"{name}={t!r} is not a finite number")
    return None


def check_clip(clip: Any, n_joints: int, words_unit: str, sample_rate_hz: int = 16000,
               audio_tolerance_s: float = 0.1) -> ClipProblem | None:
    """The first problem that makes a raw clip unusable, or None.

    Checks: required fields, joint count, NaN/inf joints, numeric finite audio, times, word order, and that the
    audio covers the clip.
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
    problem = _check_audio(clip["audio_raw"], sample_rate_hz)
    if problem is not None:
        return problem
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
