"""convert_raw's input: official (pyarrow.serialize) LMDBs via an isolated env, or ours; the canonical clip form.

`pyarrow.serialize` was removed from pyarrow; pyarrow==11 with numpy<2 (envs/legacy.txt) still reads it but cannot
share our environment. `ensure_legacy_env` finds or creates that venv; `iter_legacy_videos` runs
gesturegen/data/legacy_worker.py inside it and decodes what it streams, in OUR encoding (rawformat.encode);
`write_legacy_store` writes an official-format LMDB (for tests). `open_source` recognises either format, and
`canonicalize_video` is the form convert_raw stores.
"""
from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import lmdb
import msgpack
import numpy as np

import gesturegen
from gesturegen.data import rawformat

ENV_VAR = "GESTUREGEN_LEGACY_ENV"
REPO_ROOT = Path(gesturegen.__file__).resolve().parent.parent  # the worker imports gesturegen from here
REQUIREMENTS = REPO_ROOT / "envs" / "legacy.txt"
_MARKER = ".gesturegen-legacy-ok"  # holds the hash of the requirements the env was built from
_PROBE = ("import numpy, pyarrow, lmdb, msgpack; assert numpy.__version__ < '2', numpy.__version__; "
          "assert hasattr(pyarrow, 'deserialize'); import gesturegen.data.rawformat")


class LegacyEnvError(RuntimeError):
    """The isolated environment cannot be created or used; the message says how to make it by hand."""


@dataclass(frozen=True)
class BadRecord:
    """A value that could not be read (yielded in place of the video); `error` names the exception."""
    key: str
    error: str


# --- the isolated environment -----------------------------------------------------------------------------------

def _requirements() -> Path:
    if not REQUIREMENTS.is_file():
        raise LegacyEnvError(f"{REQUIREMENTS}: not found; converting official LMDBs needs a source checkout of "
                             f"gesturegen (pip install -e .), not an installed wheel")
    return REQUIREMENTS


def _requirements_hash() -> str:
    return hashlib.sha256(_requirements().read_bytes()).hexdigest()[:12]


def legacy_env_dir() -> Path:
    """$GESTUREGEN_LEGACY_ENV, else ~/.cache/gesturegen/legacy-<hash of envs/legacy.txt>."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return Path.home() / ".cache" / "gesturegen" / f"legacy-{_requirements_hash()}"


def _python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def _clean_environ() -> dict[str, str]:
    """Our environment minus anything that would put the main env's packages (numpy>=2) on the legacy path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(PYTHONNOUSERSITE="1")
    return env


def worker_environ() -> dict[str, str]:
    """Environment for the worker: the repo root on PYTHONPATH, so it imports gesturegen.data.rawformat."""
    return {**_clean_environ(), "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def _base_python() -> str:
    """This interpreter if it is at most 3.11 (pyarrow 11's newest wheels), else a python3.11 on PATH if any."""
    if sys.version_info[:2] <= (3, 11):
        return sys.executable
    return shutil.which("python3.11") or sys.executable


def _by_hand(env_dir: Path) -> str:
    return (f"To create it by hand, with a CPython 3.11 (pyarrow 11 has no wheels for newer Pythons; this one is "
            f"{sys.version_info.major}.{sys.version_info.minor}):\n"
            f"  python3.11 -m venv {env_dir}\n"
            f"  {_python(env_dir)} -m pip install -r {REQUIREMENTS}\n"
            f"or point ${ENV_VAR} at an existing environment with those packages.")


def _probe(python: Path) -> str | None:
    """None if `python` can run the worker, else what went wrong."""
    try:
        res = subprocess.run([str(python), "-c", _PROBE], check=False, env=worker_environ(), capture_output=True,
                             text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if res.returncode == 0 else (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]


def _run_logged(cmd: list[str], log: IO[str]) -> tuple[int, str]:
    """Run cmd, echo its output to `log`; returns (exit code, last lines)."""
    print("[gesturegen legacy env] $ " + " ".join(cmd), file=log, flush=True)
    tail: collections.deque[str] = collections.deque(maxlen=25)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=_clean_environ()) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            print(line, end="", file=log, flush=True)
    return proc.returncode, "\n".join(tail)


@contextlib.contextmanager
def _locked(env_dir: Path) -> Iterator[None]:
    """Serialise env creation between processes (Snakemake may convert two datasets at once)."""
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(env_dir.parent / f".{env_dir.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_legacy_env(log: IO[str] | None = None) -> Path:
    """The legacy env's python, creating the env (python -m venv + pip install -r envs/legacy.txt) if needed."""
    log = log or sys.stderr
    env_dir, digest = legacy_env_dir(), _requirements_hash()
    marker = env_dir / _MARKER
    python = _python(env_dir)
    if python.exists() and marker.is_file() and marker.read_text().strip() == digest:
        return python
    with _locked(env_dir):
        if python.exists() and marker.is_file() and marker.read_text().strip() == digest:
            return python  # another process made it while we waited
        if python.exists() and not marker.is_file() and _probe(python) is None:
            return python  # made by hand and working
        created = not env_dir.exists()
        print(f"[gesturegen legacy env] setting up {env_dir} from {REQUIREMENTS} (once; takes a minute)",
              file=log, flush=True)
        steps = ([] if python.exists() else [[_base_python(), "-m", "venv", str(env_dir)]]) + [
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(REQUIREMENTS)]]
        for cmd in steps:
            rc, tail = _run_logged(cmd, log)
            if rc != 0:
                if created and ENV_VAR not in os.environ:
                    shutil.rmtree(env_dir, ignore_errors=True)  # a half-made default env would only confuse
                raise LegacyEnvError(f"creating the legacy environment failed: `{' '.join(cmd)}` exited {rc}:\n"
                                     f"{tail}\n{_by_hand(env_dir)}")
        problem = _probe(python)
        if problem is not None:
            raise LegacyEnvError(f"the legacy environment {env_dir} was installed but cannot run the worker: "
                                 f"{problem}\n{_by_hand(env_dir)}")
        marker.write_text(digest + "\n")
        print(f"[gesturegen legacy env] ready: {python}", file=log, flush=True)
    return python


# --- talking to the worker --------------------------------------------------------------------------------------

def _worker_cmd(python: Path, mode: str, lmdb_path: Path) -> list[str]:
    return [str(python), "-m", "gesturegen.data.legacy_worker", mode, str(lmdb_path)]


def _stderr_tail(fh: IO[bytes], n: int = 20) -> str:
    fh.seek(0)
    lines = fh.read().decode(errors="replace").strip().splitlines()
    return "\n".join(lines[-n:]) or "(no output on stderr)"


def iter_legacy_videos(lmdb_path: str | Path, python: Path | None = None) -> Iterator[tuple[str, dict | BadRecord]]:
    """Every (key, video) of an official LMDB, in key order; a value that does not deserialize gives a BadRecord.

    Raises LegacyEnvError if the worker dies (the message has its stderr).
    """
    lmdb_path = Path(lmdb_path).resolve()
    python = python or ensure_legacy_env()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_worker_cmd(python, "read", lmdb_path), stdout=subprocess.PIPE, stderr=err,
                                env=worker_environ())
        assert proc.stdout is not None
        last_key, done = None, False
        try:
            # max_buffer_size=0: no 100 MiB cap; an AQGT video with float64 audio can be large
            for frame in msgpack.Unpacker(proc.stdout, raw=False, max_buffer_size=0):
                kind = frame[0]
                if kind == "video":
                    last_key = frame[1]
                    try:
                        video = rawformat.decode(frame[2])
                    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError) as e:
                        video = BadRecord(frame[1], f"undecodable frame from the worker ({e})")
                    yield frame[1], video
                elif kind == "error":
                    last_key = frame[1]
                    yield frame[1], BadRecord(frame[1], frame[2])
                elif kind == "end":
                    done = True
            rc = proc.wait()
            if not done or rc != 0:
                after = f"after key {last_key}" if last_key is not None else "before the first key"
                raise LegacyEnvError(f"{lmdb_path}: the legacy worker stopped {after} (exit {rc}); if a value "
                                     f"crashed pyarrow, the next key is corrupt. Its stderr:\n{_stderr_tail(err)}")
        finally:
            if proc.poll() is None:  # the consumer stopped early, or we raised
                proc.kill()
                proc.wait()
            proc.stdout.close()


def write_legacy_store(lmdb_path: str | Path, videos: Iterable[dict], python: Path | None = None) -> int:
    """Write videos to a new official-format LMDB (pyarrow.serialize values, keys '%010d'); for tests."""
    lmdb_path = Path(lmdb_path).resolve()
    python = python or ensure_legacy_env()
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

    def records(self) -> Iterator[tuple[str, dict | BadRecord]]:
        if self.format == LEGACY_FORMAT:
            yield from iter_legacy_videos(self.path)
            return
        env = lmdb.open(str(self.path), readonly=True, lock=False, readahead=False, subdir=True)
        try:
            with env.begin() as txn:
                for key, value in txn.cursor():
                    if key == rawformat.META_KEY:
                        continue
                    try:
                        video: dict | BadRecord = rawformat.decode(value)
                    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
                        video = BadRecord(key.decode(errors="replace"), f"{type(e).__name__}: {e}")
                    yield key.decode(errors="replace"), video
        finally:
            env.close()


def open_source(path: str | Path) -> SourceSplit:
    """Recognise one split's LMDB; raises RawFormatError (naming the path and what to put there) if unusable."""
    path = Path(path)
    if not path.exists():
        raise rawformat.RawFormatError(
            f"{path}: no such LMDB directory. Put this split's LMDB there (the official TED Expressive / AQGT "
            f"directory holding data.mdb and lock.mdb, or one in our encoding); see data/README.md")
    if not rawformat.looks_like_lmdb(path):
        raise rawformat.RawFormatError(f"{path}: not an LMDB directory (no data.mdb inside); put the split's "
                                       f"LMDB directory itself there, see data/README.md")
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, subdir=True)
    try:
        with env.begin() as txn:
            ours = txn.get(rawformat.META_KEY) is not None
        n_entries = int(env.stat()["entries"])
    finally:
        env.close()
    if not ours:
        return SourceSplit(path, LEGACY_FORMAT, n_entries, {})
    with rawformat.RawStore(path) as store:  # validates the `__format__` record
        return SourceSplit(path, rawformat.FORMAT_NAME, len(store), dict(store.meta))


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


def check_video(video: Any) -> str | None:
    """What is wrong with a decoded video's top level, or None."""
    if not isinstance(video, dict):
        return f"expected a dict with 'vid' and 'clips', got {type(video).__name__}"
    if "vid" not in video or not isinstance(video.get("clips"), list):
        return f"expected a dict with 'vid' and a list 'clips', got keys {sorted(map(str, video))[:8]}"
    return None


def canonicalize_video(video: dict) -> dict:
    """The video with every clip canonicalised (see canonicalize_clip); all other fields kept."""
    return {**video, "clips": [canonicalize_clip(c) for c in video["clips"]]}
