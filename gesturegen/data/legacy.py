"""convert_raw's input: official (pyarrow.serialize) LMDBs via an isolated env, or ours; the canonical clip form.

`pyarrow.serialize` was removed from pyarrow; pyarrow==11 with numpy<2 (envs/legacy.txt) still reads it but cannot
share our environment. That venv is made only by an explicit step, `python -m gesturegen.data.legacy setup`
(`setup_legacy_env`); stages find it with `legacy_python`, which never installs anything and names the setup command
when the env is missing or broken. `iter_legacy_videos` runs gesturegen/data/legacy_worker.py inside it (crash
isolation: a damaged file can kill the worker, never the stage) and decodes what it streams, in OUR encoding;
`write_legacy_store` writes an official-format LMDB (for tests). `open_source` recognises either format after
checking the LMDB header, and `canonicalize_video` is the form convert_raw stores.
"""
from __future__ import annotations

import argparse
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

import msgpack
import numpy as np

import gesturegen
from gesturegen.data import rawformat

ENV_VAR = "GESTUREGEN_LEGACY_ENV"
REPO_ROOT = Path(gesturegen.__file__).resolve().parent.parent  # the worker imports gesturegen from here
REQUIREMENTS = REPO_ROOT / "envs" / "legacy.txt"
_MARKER = ".gesturegen-legacy-ok"  # holds the hash of the requirements the env was built from
SETUP_COMMAND = "python -m gesturegen.data.legacy setup"
_PROBE = ("import numpy, pyarrow, lmdb, msgpack; assert numpy.__version__ < '2', numpy.__version__; "
          "assert hasattr(pyarrow, 'deserialize'); import gesturegen.data.rawformat")


class LegacyEnvError(RuntimeError):
    """The isolated environment is missing, broken or cannot be created; the message says how to make it."""


@dataclass(frozen=True)
class BadRecord:
    """A value that could not be read (yielded in place of the video): `reason` a short code, `error` the text."""
    key: str
    error: str
    reason: str = "undecodable"


# --- the isolated environment -----------------------------------------------------------------------------------

def _requirements() -> Path:
    if not REQUIREMENTS.is_file():
        raise LegacyEnvError(f"{REQUIREMENTS}: not found; converting official LMDBs needs a source checkout of "
                             f"gesturegen (pip install -e .), not an installed wheel")
    return REQUIREMENTS


def _requirements_hash() -> str:
    """Hash of the requirement lines only: editing a comment in envs/legacy.txt does not ask for a new env."""
    lines = [ln.strip() for ln in _requirements().read_text().splitlines()]
    return hashlib.sha256("\n".join(ln for ln in lines if ln and not ln.startswith("#")).encode()).hexdigest()[:12]


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


def _marker_ok(env_dir: Path) -> bool:
    marker = env_dir / _MARKER
    return marker.is_file() and marker.read_text().strip() == _requirements_hash()


def setup_legacy_env(log: IO[str] | None = None) -> Path:
    """Create (python -m venv + pip install -r envs/legacy.txt) or validate the legacy env; returns its python.

    The one place that installs anything (needs PyPI); run it as `python -m gesturegen.data.legacy setup`.
    """
    log = log or sys.stderr
    env_dir = legacy_env_dir()
    python = _python(env_dir)
    with _locked(env_dir):
        if python.exists() and (_marker_ok(env_dir) or not (env_dir / _MARKER).is_file()) and _probe(python) is None:
            _probed[python] = None
            return python  # made earlier (by us or by hand) and working
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
        (env_dir / _MARKER).write_text(_requirements_hash() + "\n")
        _probed[python] = None
    return python


_probed: dict[Path, str | None] = {}  # python -> problem (None: works), probed once per process


def _not_ready(env_dir: Path, what: str) -> LegacyEnvError:
    return LegacyEnvError(
        f"reading official (pyarrow.serialize) LMDBs needs the isolated legacy environment (pyarrow 11, "
        f"envs/legacy.txt), and {what}. Stages never install anything; create it once (needs PyPI, about 20 s) with\n"
        f"  {SETUP_COMMAND}\n"
        f"(it goes to {env_dir}; set ${ENV_VAR} to put it elsewhere or to use an existing environment with those "
        f"packages), then re-run.")


def legacy_python() -> Path:
    """The legacy env's python if it is set up and works; never creates or installs anything.

    Raises LegacyEnvError naming `python -m gesturegen.data.legacy setup` (and $GESTUREGEN_LEGACY_ENV) otherwise.
    """
    env_dir = legacy_env_dir()
    python = _python(env_dir)
    if not python.exists():
        where = f"${ENV_VAR}={os.environ[ENV_VAR]}" if os.environ.get(ENV_VAR) else str(env_dir)
        raise _not_ready(env_dir, f"it is not set up ({where} has no bin/python)")
    if (env_dir / _MARKER).is_file() and not _marker_ok(env_dir):
        raise _not_ready(env_dir, f"{env_dir} was made from an older envs/legacy.txt")
    if python not in _probed:
        _probed[python] = _probe(python)
    if _probed[python] is not None:
        raise _not_ready(env_dir, f"the one at {env_dir} is broken ({_probed[python]})")
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

    The LMDB header is checked before the worker starts. Raises RawFormatError naming the file and the last key
    read if the worker is killed by a signal or LMDB reports damage (the file is corrupt after that key), and
    LegacyEnvError if the worker fails otherwise (the message has its stderr).
    """
    lmdb_path = Path(lmdb_path).resolve()
    rawformat.check_lmdb_header(lmdb_path)
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
                how = (f"was killed by {rawformat.signal_name(rc)}" if rc < 0 else f"stopped: {fatal}")
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

    def records(self, python: Path | None = None) -> Iterator[tuple[str, dict | BadRecord]]:
        """(key, video) in key order; a value that fails its checksum or does not decode gives a BadRecord."""
        if self.format == LEGACY_FORMAT:
            yield from iter_legacy_videos(self.path, python)
            return
        with rawformat.RawStore(self.path, self.tolerate_bad_records) as store:
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
    if not path.exists():
        raise rawformat.RawFormatError(
            f"{path}: no such LMDB directory. Put this split's LMDB there (the official TED Expressive / AQGT "
            f"directory holding data.mdb and lock.mdb, or one in our encoding); see data/README.md")
    if not rawformat.looks_like_lmdb(path):
        raise rawformat.RawFormatError(f"{path}: not an LMDB directory (no data.mdb inside); put the split's "
                                       f"LMDB directory itself there, see data/README.md")
    header = rawformat.check_lmdb_header(path)
    if not (path / rawformat.DIGEST_FILE).is_file():
        probe = rawformat.probe_meta(path)
        if probe.failure:
            raise rawformat.RawFormatError(
                f"{path}: the LMDB is damaged: looking it up in a separate process {probe.failure}; replace it with "
                f"an intact copy (see data/README.md)")
        if probe.meta is None:
            return SourceSplit(path, LEGACY_FORMAT, header.entries, {})
    with rawformat.RawStore(path, tolerate_bad_records) as store:  # digest, `__format__` record, key count
        return SourceSplit(path, rawformat.FORMAT_NAME, len(store), dict(store.meta), tolerate_bad_records)


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
