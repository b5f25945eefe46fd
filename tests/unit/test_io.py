"""gesturegen.io: outputs are replaced only when the block that writes them succeeds."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gesturegen.io import replace_on_success


def _tree(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}


def _write(folder: Path, file: Path, tag: str) -> None:
    folder.mkdir()
    (folder / "a.txt").write_text(f"a {tag}")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text(f"b {tag}")
    file.write_text(f"metrics {tag}")


def test_success_replaces_folders_and_files(tmp_path):
    with replace_on_success(tmp_path / "out", tmp_path / "m.json") as (d, f):
        _write(d, f, "old")
    (tmp_path / "out" / "stale.txt").write_text("only in the old folder")
    with replace_on_success(tmp_path / "out", tmp_path / "m.json") as (d, f):
        _write(d, f, "new")
    assert _tree(tmp_path) == {"m.json": b"metrics new", "out/a.txt": b"a new", "out/sub/b.txt": b"b new"}


def test_an_exception_leaves_the_previous_outputs(tmp_path):
    with replace_on_success(tmp_path / "out", tmp_path / "m.json") as (d, f):
        _write(d, f, "old")
    before = _tree(tmp_path)
    with pytest.raises(RuntimeError, match="boom"), replace_on_success(tmp_path / "out", tmp_path / "m.json") as (d, f):
        _write(d, f, "new")
        raise RuntimeError("boom")
    assert _tree(tmp_path) == before                         # staging removed, finals untouched


def test_a_missing_output_is_an_error_and_changes_nothing(tmp_path):
    (tmp_path / "m.json").write_text("old")
    with pytest.raises(FileNotFoundError, match="did not write out"), \
            replace_on_success(tmp_path / "m.json", tmp_path / "out") as (f, _):
        f.write_text("new")
    assert _tree(tmp_path) == {"m.json": b"old"}


KILLED = """
import os, signal, sys
from pathlib import Path
from gesturegen.io import replace_on_success
root = Path(sys.argv[1])
with replace_on_success(root / "out", root / "m.json") as (d, f):
    d.mkdir(); (d / "a.txt").write_text("a new"); f.write_text("metrics new")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_writer_leaves_the_previous_outputs_and_the_next_run_cleans_up(tmp_path):
    with replace_on_success(tmp_path / "out", tmp_path / "m.json") as (d, f):
        _write(d, f, "old")
    before = _tree(tmp_path)
    p = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path)], cwd=Path(__file__).parents[2])
    assert p.returncode == -signal.SIGKILL
    assert {k: v for k, v in _tree(tmp_path).items() if not k.startswith(".")} == before
    assert list(tmp_path.glob(".out.staging-*")) and list(tmp_path.glob(".m.json.staging-*"))
    with replace_on_success(tmp_path / "out", tmp_path / "m.json") as (d, f):
        _write(d, f, "next")
    assert _tree(tmp_path) == {"m.json": b"metrics next", "out/a.txt": b"a next", "out/sub/b.txt": b"b next"}


def test_a_folder_parked_by_an_interrupted_swap_is_restored(tmp_path):
    """Where the file system cannot exchange two paths atomically the swap parks the old folder; if the run dies
    right then, the next run puts it back before anything else."""
    (tmp_path / f".out.old-{os.getpid() + 1}").mkdir()
    (tmp_path / f".out.old-{os.getpid() + 1}" / "a.txt").write_text("a old")
    with pytest.raises(RuntimeError), replace_on_success(tmp_path / "out") as (d,):
        raise RuntimeError("fails before writing")
    assert _tree(tmp_path) == {"out/a.txt": b"a old"}
