"""The isolated pyarrow 11 environment that reads official (pyarrow.serialize) LMDBs, and how stages find it.

`pyarrow.serialize` was removed from pyarrow; pyarrow==11 with numpy<2 (envs/legacy.txt) still reads it but cannot
share our environment. That venv is made only by an explicit step, `python -m gesturegen.data.legacy setup`
(`setup_legacy_env`, the one place that installs anything); stages find it with `legacy_python`, which never installs
anything and names the setup command when the env is missing or broken.
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
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import gesturegen

ENV_VAR = "GESTUREGEN_LEGACY_ENV"
REPO_ROOT = Path(gesturegen.__file__).resolve().parent.parent  # the worker imports gesturegen from here
REQUIREMENTS = REPO_ROOT / "envs" / "legacy.txt"
_MARKER = ".gesturegen-legacy-ok"  # holds the hash of the requirements the env was built from
SETUP_COMMAND = "python -m gesturegen.data.legacy setup"
_PROBE = ("import numpy, pyarrow, lmdb, msgpack; assert numpy.__version__ < '2', numpy.__version__; "
          "assert hasattr(pyarrow, 'deserialize'); import gesturegen.data.rawformat")


class LegacyEnvError(RuntimeError):
    """The isolated environment is missing, broken or cannot be created; the message says how to make it."""


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
