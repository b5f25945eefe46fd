"""Small, safe file helpers shared by the stages: JSON (nothing here unpickles) and all-or-nothing outputs."""
from __future__ import annotations

import contextlib
import functools
import hashlib
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


def read_model_config(directory: str | Path, fmt: str, version: int, writer: str,
                      weights: str | None = "model.safetensors") -> tuple[dict, Path]:
    """(config.json, the config's path) of a saved model folder, after checking that it (and the `weights` file,
    when named) exists and that its format and version are `fmt` v`version`; errors name the file and `writer`."""
    directory = Path(directory)
    cfg_path = directory / "config.json"
    need = ["config.json"] + ([weights] if weights else [])
    if not all((directory / n).is_file() for n in need):
        raise FileNotFoundError(f"{directory}: expected {' and '.join(need)} (written by {writer})")
    return check_format(read_json(cfg_path), cfg_path, fmt, version, writer), cfg_path


def check_format(info: dict, path: Path, fmt: str, version: int, writer: str,
                 error: type[Exception] = ValueError) -> dict:
    """`info` (read from `path`) when its "format" and "version" are `fmt` v`version`; else `error` naming the
    file, what it says, what was expected and that `writer` rewrites it."""
    if info.get("format") != fmt or info.get("version") != version:
        raise error(f"{path}: format {info.get('format')!r} v{info.get('version')!r}, expected {fmt!r} v{version}; "
                    f"re-run {writer}")
    return info


def file_digest(path: Path, chunk: int = 1 << 22) -> tuple[int, str]:
    """(size, blake2b hex) of a file, in one sequential read."""
    h = hashlib.blake2b()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


# --- all-or-nothing outputs ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def replace_on_success(*finals: str | Path) -> Iterator[tuple[Path, ...]]:
    """Write outputs beside their final paths; swap them in only if the block finishes without an exception.

    Yields one staging path per final path: a hidden sibling `.<name>.staging-<pid>` that does not exist yet (make
    a folder there or write a file). Leftovers of killed runs (pid no longer running) are cleaned up first, and a
    previous output that such a run had parked as `.<name>.old-<pid>` is put back if its final path is missing.
    When the block succeeds, each staging path replaces its final path: a file with os.replace, a folder by
    exchanging the two paths atomically (renameat2 RENAME_EXCHANGE; a park-and-rename where the file system cannot)
    and deleting the old one. When it raises (KeyboardInterrupt too), the staging paths are deleted and every final
    path is left as it was, byte for byte.

        with replace_on_success(out_dir / "windows", out_dir / "metrics.json") as (windows, metrics):
            windows.mkdir()
            ...                                   # write into windows/ and metrics
        # here out_dir/windows and out_dir/metrics.json are the new ones

    Several outputs are swapped one after the other (files first, then folders), so a run killed during the swaps
    (microseconds) can leave some new and some old outputs; a run killed at any time before leaves only the old.
    A block that leaves a staging path unwritten is an error (FileNotFoundError) and nothing is swapped.
    """
    paths = [Path(f) for f in finals]
    if len({p.resolve() for p in paths}) != len(paths):
        raise ValueError(f"replace_on_success: the same output twice in {[str(p) for p in paths]}")
    for final in paths:
        final.parent.mkdir(parents=True, exist_ok=True)
        _recover(final)
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
    # the commit: a few renames; files first (os.replace), then folders (atomic exchange)
    pairs = sorted(zip(staged, paths), key=lambda p: p[0].is_dir() or p[1].is_dir())
    for s, final in pairs:
        if (final.exists() or final.is_symlink()) and (s.is_dir() or final.is_dir()):
            _exchange(s, final)        # final now holds the new output, s the previous one
            _remove(s)
        else:
            os.replace(s, final)


def staging_path(final: Path, kind: str = "staging") -> Path:
    """The hidden sibling `.<name>.<kind>-<pid>` of `final` (same folder, so a rename swaps it in atomically)."""
    return final.parent / f".{final.name}.{kind}-{os.getpid()}"


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


def _recover(final: Path) -> None:
    """After runs that were killed (their pid is gone): put back a previous output parked as `.<name>.old-<pid>`
    when the final is missing, then delete their `.staging-` and `.old-` siblings. A live run's are left alone."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(staging|old)-(\d+)$")
    dead = sorted((m.group(1), p) for p in final.parent.iterdir()
                  if (m := pattern.match(p.name)) and not _pid_alive(int(m.group(2))))
    parked = [p for kind, p in dead if kind == "old"]
    if parked and not (final.exists() or final.is_symlink()):
        os.replace(parked[-1], final)
    for _, path in dead:
        if path.exists() or path.is_symlink():
            _remove(path)


_RENAME_EXCHANGE = 2


@functools.cache
def _libc():
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux renameat2). Where the file system cannot, park b as `.<name>.old-<pid>`,
    move a into place and move the parked one to a; a kill in between leaves b parked, and the next run puts it
    back (_recover)."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
    parked = staging_path(b, "old")
    os.replace(b, parked)
    try:
        os.replace(a, b)
    except OSError:
        os.replace(parked, b)          # put the previous output back
        raise
    os.replace(parked, a)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
