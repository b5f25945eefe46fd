"""Small, safe file helpers shared by the stages: JSON (nothing here unpickles) and all-or-nothing outputs."""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN; DVC and browsers choke on it
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    return obj


def write_json(path: str | Path, obj: Any) -> Path:
    """Write obj as stable, human-readable JSON (sorted keys, numpy scalars converted), creating parents."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(obj), indent=2, sort_keys=True) + "\n")
    return path


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


# --- all-or-nothing outputs ---------------------------------------------------------------------------------------

def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftover (this process cannot be using it: staging names are made per call)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_siblings(final: Path) -> None:
    """Delete `.<name>.staging-<pid>` / `.<name>.old-<pid>` left by runs that were killed (their pid is gone)."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(staging|old)-(\d+)$")
    for sibling in final.parent.iterdir():
        m = pattern.match(sibling.name)
        if m and not _pid_alive(int(m.group(2))):
            _remove(sibling)


def staging_path(final: Path, kind: str = "staging") -> Path:
    """The hidden sibling `.<name>.<kind>-<pid>` of `final` (same folder, so a rename swaps it in atomically)."""
    return final.parent / f".{final.name}.{kind}-{os.getpid()}"


@contextlib.contextmanager
def replace_on_success(*finals: str | Path) -> Iterator[tuple[Path, ...]]:
    """Write outputs beside their final paths; swap them in only if the block finishes without an exception.

    Yields one staging path per final path: a hidden sibling `.<name>.staging-<pid>` that does not exist yet (make
    a folder there or write a file). Staging and `.old` siblings left by killed runs (pid no longer running) are
    removed first. When the block succeeds, each staging path replaces its final path: a file with os.replace;
    otherwise the final goes to `.<name>.old-<pid>`, the staged one is renamed into place, and the old one is
    deleted. When it raises (KeyboardInterrupt too), the staging paths are deleted and every final path is left
    as it was, byte for byte.

        with replace_on_success(out_dir / "windows", out_dir / "metrics.json") as (windows, metrics):
            windows.mkdir()
            ...                                   # write into windows/ and metrics
        # here out_dir/windows and out_dir/metrics.json are the new ones

    Each swap is a rename in one folder (atomic on a local file system); several outputs are swapped one after the
    other, so a run killed during the swaps (milliseconds) can leave some new and some old outputs. A block that
    leaves a staging path unwritten is an error (FileNotFoundError) and nothing is swapped.
    """
    paths = [Path(f) for f in finals]
    if len({p.resolve() for p in paths}) != len(paths):
        raise ValueError(f"replace_on_success: the same output twice in {[str(p) for p in paths]}")
    for final in paths:
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_siblings(final)
    staged = [staging_path(final) for final in paths]
    try:
        yield tuple(staged)
        unwritten = [str(s) for s in staged if not s.exists() and not s.is_symlink()]
        if unwritten:
            raise FileNotFoundError(f"replace_on_success: nothing was written to {', '.join(unwritten)}; the "
                                    f"outputs were left as they were")
    except BaseException:
        for s in staged:
            _remove(s)
        raise
    olds: list[Path] = []
    try:
        for final, s in zip(paths, staged):
            if s.is_dir() or final.is_dir():
                old = staging_path(final, "old")
                if final.exists() or final.is_symlink():
                    final.rename(old)
                    olds.append(old)
                try:
                    s.rename(final)
                except OSError:
                    if olds and olds[-1] == old:
                        old.rename(final)  # put the previous output back
                        olds.pop()
                    raise
            else:
                os.replace(s, final)
    finally:
        for path in olds + staged:
            if path.exists() or path.is_symlink():
                _remove(path)
