"""Small, safe file helpers shared by the stages (JSON only; nothing here unpickles)."""
from __future__ import annotations

import contextlib
import json
import math
import os
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


# --- outputs replaced only on success -------------------------------------------------------------------------------

@contextlib.contextmanager
def replace_on_success(*finals: str | Path) -> Iterator[list[Path]]:
    """Yield a staging path beside each final output; move them into place only if the block succeeds.

    Staging paths are hidden siblings (`.<name>.staging-<pid>`); stale ones left by a killed run are removed first.
    On success each staged path replaces its final: a file with os.replace, a folder by exchanging the two paths
    atomically (renameat2 RENAME_EXCHANGE) and deleting the old one. On any exception the staging paths are
    removed and the finals are left exactly as they were, so a failed or interrupted run never destroys the
    previous outputs.
    """
    finals_p = [Path(f) for f in finals]
    staged = []
    for final in finals_p:
        final.parent.mkdir(parents=True, exist_ok=True)
        _recover(final)
        staged.append(final.parent / f".{final.name}.staging-{os.getpid()}")
    try:
        yield staged
    except BaseException:
        for s in staged:
            _remove(s)
        raise
    missing = [final.name for s, final in zip(staged, finals_p) if not s.exists()]
    if missing:
        for s in staged:
            _remove(s)
        raise FileNotFoundError(f"{finals_p[0].parent}: the stage did not write {', '.join(missing)}; "
                                f"outputs left unchanged")
    # the commit: a few renames, microseconds; files first (os.replace), then folders (atomic exchange)
    pairs = sorted(zip(staged, finals_p), key=lambda p: p[0].is_dir() or p[1].is_dir())
    for s, final in pairs:
        if final.exists() and (s.is_dir() or final.is_dir()):
            _exchange(s, final)        # final now holds the new output, s the previous one
            _remove(s)
        else:
            os.replace(s, final)


def _recover(final: Path) -> None:
    """Clean up after a run killed while swapping: restore a previous output parked as `.<name>.old-*` if the
    final is missing, then drop leftover staging and parked paths."""
    parked = sorted(final.parent.glob(f".{final.name}.old-*"))
    if parked and not final.exists():
        os.replace(parked.pop(), final)
    for stale in [*parked, *final.parent.glob(f".{final.name}.staging-*")]:
        _remove(stale)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux renameat2); where the file system cannot, park b, move a, drop nothing
    (a kill in between leaves b parked as `.<name>.old-<pid>`, which the next run restores)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
    parked = b.parent / f".{b.name}.old-{os.getpid()}"
    os.replace(b, parked)
    os.replace(a, b)
    os.replace(parked, a)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
