"""The file under an LMDB, checked before anything memory-maps it (a damaged data.mdb can crash LMDB itself).

`check_lmdb_header` reads data.mdb's two meta pages with plain file reads and refuses a truncated file; `digest.json`
beside data.mdb holds its size and blake2b (`write_digest`, `digest_mismatch`); `scan_store`, `probe_meta` and the
walk of a truncated file read the records in a child process, so a crash there (SIGBUS, SIGSEGV) is reported with
the last key read instead of killing the stage. Nothing here knows the records' encoding but the child's `scan`
mode, which checks each value's checksum (gesturegen.data.rawformat.unseal).
"""
from __future__ import annotations

import json
import os
import resource
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb

from gesturegen.io import file_digest

DIGEST_FILE = "digest.json"  # beside data.mdb: {"file", "size", "blake2b"} of the whole data.mdb
META_KEY = b"__format__"     # our stores' format record (gesturegen.data.rawformat)


class RawFormatError(ValueError):
    """A raw LMDB (or one record in it) cannot be used; the message names the file, the key and the fix."""


# --- the header, before anything maps the file ------------------------------------------------------------------------

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

def write_digest(lmdb_dir: Path) -> None:
    size, digest = file_digest(lmdb_dir / "data.mdb")
    (lmdb_dir / DIGEST_FILE).write_text(json.dumps({"file": "data.mdb", "size": size, "blake2b": digest},
                                                   indent=2) + "\n")


def digest_mismatch(lmdb_dir: Path) -> str | None:
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
    cmd = [sys.executable, "-c", "from gesturegen.data.lmdbfile import _child_main; _child_main()", mode,
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
    from gesturegen.data.rawformat import unseal  # the child only; rawformat imports this module

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
