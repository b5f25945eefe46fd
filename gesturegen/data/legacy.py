"""convert_raw's input: official (pyarrow.serialize) LMDBs read by a worker in the legacy env, or ours; the
canonical clip form.

`iter_legacy_videos` runs gesturegen/data/legacy_worker.py inside the isolated env of gesturegen.data.legacy_env
(crash isolation: a damaged file can kill the worker, never the stage) and decodes what it streams, in OUR encoding;
`write_legacy_store` writes an official-format LMDB (for tests). `open_source` recognises either format after
checking the LMDB header, and `canonicalize_video` is the form convert_raw stores. `python -m gesturegen.data.legacy
setup` creates the env.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgpack
import numpy as np

from gesturegen.data import lmdbfile, rawformat
from gesturegen.data.legacy_env import (
    ENV_VAR,
    SETUP_COMMAND,
    LegacyEnvError,
    legacy_python,
    setup_legacy_env,
    worker_environ,
)


@dataclass(frozen=True)
class BadRecord:
    """A value that could not be read (yielded in place of the video): `reason` a short code, `error` the text."""
    key: str
    error: str
    reason: str = "undecodable"


# --- talking to the worker --------------------------------------------------------------------------------------

def _worker_cmd(python: Path, mode: str, lmdb_path: Path) -> list[str]:
    return [str(python), "-m", "gesturegen.data.legacy_worker", mode, str(lmdb_path)]


def _stderr_tail(fh: IO[bytes], n: int = 20) -> str:
    fh.seek(0)
    lines = fh.read().decode(errors="replace").strip().splitlines()
    return "\n".join(lines[-n:]) or "(no output on stderr)"


def iter_legacy_videos(lmdb_path: str | Path, python: Path | None = None) -> Iterator[tuple[str, dict | BadRecord]]:
    """Every (key, video) of an official LMDB, in key order; a value that does not deserialize gives a BadRecord.

    The LMDB header is checked before the worker starts. Raises RawFormatError naming the file and the last key
    read if the worker is killed by a signal or LMDB reports damage (the file is corrupt after that key), and
    LegacyEnvError if the worker fails otherwise (the message has its stderr).
    """
    lmdb_path = Path(lmdb_path).resolve()
    lmdbfile.check_lmdb_header(lmdb_path)
    python = python or legacy_python()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_worker_cmd(python, "read", lmdb_path), stdout=subprocess.PIPE, stderr=err,
                                env=worker_environ())
        assert proc.stdout is not None
        last_key, done, fatal = None, False, None
        try:
            # max_buffer_size=0: no 100 MiB cap; an AQGT video with float64 audio can be large
            for frame in msgpack.Unpacker(proc.stdout, raw=False, max_buffer_size=0):
                kind = frame[0]
                if kind == "video":
                    last_key = frame[1]
                    try:
                        video = rawformat.decode(frame[2])
                    except rawformat._DECODE_ERRORS as e:
                        video = BadRecord(frame[1], f"undecodable frame from the worker ({e})")
                    yield frame[1], video
                elif kind == "error":
                    last_key = frame[1]
                    yield frame[1], BadRecord(frame[1], frame[3], frame[2])
                elif kind == "fatal":
                    fatal = frame[1]
                elif kind == "end":
                    done = True
            rc = proc.wait()
            after = f"after key {last_key} (the last record read)" if last_key is not None else \
                "before the first record"
            if rc < 0 or fatal is not None:
                how = (f"was killed by {lmdbfile.signal_name(rc)}" if rc < 0 else f"stopped: {fatal}")
                raise rawformat.RawFormatError(
                    f"{lmdb_path}: reading the official LMDB in the legacy worker {how} {after}: the file is damaged "
                    f"there (the next record, or the LMDB pages leading to it). Replace this split with an intact "
                    f"copy (see data/README.md)")
            if not done or rc != 0:
                raise LegacyEnvError(f"{lmdb_path}: the legacy worker stopped {after} (exit {rc}). Its stderr:\n"
                                     f"{_stderr_tail(err)}\nIf the environment is broken, re-create it: "
                                     f"{SETUP_COMMAND}")
        finally:
            if proc.poll() is None:  # the consumer stopped early, or we raised
                proc.kill()
                proc.wait()
            proc.stdout.close()


def write_legacy_store(lmdb_path: str | Path, videos: Iterable[dict], python: Path | None = None) -> int:
    """Write videos to a new official-format LMDB (pyarrow.serialize values, keys '%010d'); for tests."""
    lmdb_path = Path(lmdb_path).resolve()
    python = python or legacy_python()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_worker_cmd(python, "write", lmdb_path), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, env=worker_environ())
        assert proc.stdin is not None and proc.stdout is not None
        try:
            for video in videos:
                proc.stdin.write(msgpack.packb(rawformat.encode(video), use_bin_type=True))
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the worker died; reported below
        out = proc.stdout.read()
        rc = proc.wait()
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(out)
        frames = list(unpacker)
        if rc != 0 or not frames or frames[-1][0] != "end":
            raise LegacyEnvError(f"{lmdb_path}: the legacy worker failed writing (exit {rc}):\n{_stderr_tail(err)}")
        return int(frames[-1][1])


# --- one source split, either format ----------------------------------------------------------------------------

LEGACY_FORMAT = "legacy-pyarrow"


@dataclass(frozen=True)
class SourceSplit:
    """An input LMDB of convert_raw: official (pyarrow) or already ours; `records()` streams it in key order."""
    path: Path
    format: str      # LEGACY_FORMAT or rawformat.FORMAT_NAME
    n_videos: int
    meta: dict       # our `__format__` record; {} for an official LMDB
    tolerate_bad_records: bool = False  # ours: open even if damage is confined to single records (skip them)
    damaged_keys: frozenset[str] | None = None   # ours: what open_source's verification found (None: verify)

    def records(self, python: Path | None = None) -> Iterator[tuple[str, dict | BadRecord]]:
        """(key, video) in key order; a value that fails its checksum or does not decode gives a BadRecord."""
        if self.format == LEGACY_FORMAT:
            yield from iter_legacy_videos(self.path, python)
            return
        with rawformat.RawStore(self.path, self.tolerate_bad_records, verified=self.damaged_keys) as store:
            for key in store.keys():  # noqa: SIM118 - keys, not (key, video) pairs
                try:
                    video: dict | BadRecord = store.read(key)
                except rawformat.RecordError as e:
                    video = BadRecord(key, e.detail, e.reason)
                yield key, video


def open_source(path: str | Path, tolerate_bad_records: bool = False) -> SourceSplit:
    """Recognise one split's LMDB; raises RawFormatError (naming the path and what to put there) if unusable.

    The header is checked first (a truncated file is refused before anything maps it). Ours (with digest.json) is
    verified as RawStore does; an LMDB without a digest is probed for a `__format__` record in a child process and,
    without one, is an official LMDB (read later by the legacy worker only).
    """
    path = Path(path)
    header = lmdbfile.check_lmdb_dir(path)
    if not (path / lmdbfile.DIGEST_FILE).is_file():
        probe = lmdbfile.probe_meta(path)
        if probe.failure:
            raise rawformat.RawFormatError(
                f"{path}: the LMDB is damaged: looking it up in a separate process {probe.failure}; replace it with "
                f"an intact copy (see data/README.md)")
        if probe.meta is None:
            return SourceSplit(path, LEGACY_FORMAT, header.entries, {})
    with rawformat.RawStore(path, tolerate_bad_records) as store:  # digest, `__format__` record, key count
        return SourceSplit(path, rawformat.FORMAT_NAME, len(store), dict(store.meta), tolerate_bad_records,
                           frozenset(store.damaged_keys))


# --- canonical form ---------------------------------------------------------------------------------------------

def _stack_frames(frames: list) -> np.ndarray:
    arrays = [np.asarray(f) for f in frames]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"skeletons_3d frames have different shapes {sorted(shapes)[:4]}")
    out = np.stack(arrays)
    if out.dtype.kind != "f":
        out = out.astype(np.float64)  # ints/bools (e.g. np.zeros placeholders of int type) are exact in float64
    return out


def _audio_array(samples: list) -> np.ndarray:
    a64 = np.asarray(samples, dtype=np.float64)
    if a64.ndim != 1:
        raise ValueError(f"audio_raw is a nested list of shape {a64.shape}, expected a flat list of samples")
    a32 = a64.astype(np.float32)
    return a32 if np.array_equal(a32.astype(np.float64), a64, equal_nan=True) else a64


def canonicalize_clip(clip: Any) -> Any:
    """AQGT's list-of-(53, 3) `skeletons_3d` → one (T, 53, 3) float array; list-of-float `audio_raw` → float32 if
    that is exact, else float64. Everything else is kept as it is. Raises ValueError for ragged data."""
    if not isinstance(clip, dict):
        return clip
    clip = dict(clip)
    skel = clip.get("skeletons_3d")
    if isinstance(skel, (list, tuple)) and skel:
        clip["skeletons_3d"] = _stack_frames(list(skel))
    audio = clip.get("audio_raw")
    if isinstance(audio, (list, tuple)):
        clip["audio_raw"] = _audio_array(list(audio))
    return clip


def canonicalize_video(video: dict) -> dict:
    """The video with every clip canonicalised (see canonicalize_clip); all other fields kept."""
    return {**video, "clips": [canonicalize_clip(c) for c in video["clips"]]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gesturegen.data.legacy",
                                 description="The isolated pyarrow 11 environment that reads official LMDBs.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create the environment from envs/legacy.txt (needs PyPI), or validate it")
    sub.add_parser("check", help="validate the environment without installing anything")
    args = ap.parse_args(argv)
    try:
        python = setup_legacy_env() if args.command == "setup" else legacy_python()
    except LegacyEnvError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"legacy environment ready: {python.parent.parent}\n  python: {python}\n"
          f"  convert_raw finds it there{'' if os.environ.get(ENV_VAR) else f' (or set {ENV_VAR} to a folder)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
