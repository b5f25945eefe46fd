"""gesturegen.io.replace_on_success: outputs appear all at once, or the previous ones stay byte for byte."""
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gesturegen.io import replace_on_success


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def _previous_outputs(out):
    (out / "windows" / "train").mkdir(parents=True)
    (out / "windows" / "train" / "a.npy").write_bytes(b"old array")
    (out / "metrics.json").write_text('{"old": 1}\n')


def test_success_swaps_folders_and_files_in(tmp_path):
    out = tmp_path / "out"
    _previous_outputs(out)
    with replace_on_success(out / "windows", out / "metrics.json") as (windows, metrics):
        assert windows.parent == out and windows.name.startswith(".windows.staging-") and not windows.exists()
        windows.mkdir()
        (windows / "new.npy").write_bytes(b"new")
        metrics.write_text('{"new": 1}\n')
        assert (out / "windows" / "train" / "a.npy").read_bytes() == b"old array"  # untouched until the end
    assert _snapshot(out) == {"metrics.json": b'{"new": 1}\n', "windows": None, "windows/new.npy": b"new"}


def test_first_run_creates_parents(tmp_path):
    with replace_on_success(tmp_path / "a" / "b" / "raw") as (raw,):
        raw.mkdir()
    assert (tmp_path / "a" / "b" / "raw").is_dir() and _snapshot(tmp_path / "a" / "b") == {"raw": None}


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_previous_outputs_byte_identical(tmp_path, exc):
    out = tmp_path / "out"
    _previous_outputs(out)
    before = _snapshot(out)
    with pytest.raises(exc), replace_on_success(out / "windows", out / "metrics.json") as (windows, metrics):
        windows.mkdir()
        (windows / "half.npy").write_bytes(b"half written")
        metrics.write_text("{")
        raise exc("stage failed")
    assert _snapshot(out) == before  # no staging folder left either


def test_unwritten_output_is_an_error_and_nothing_is_swapped(tmp_path):
    out = tmp_path / "out"
    _previous_outputs(out)
    before = _snapshot(out)
    with pytest.raises(FileNotFoundError, match=r"nothing was written to .*\.metrics\.json\.staging-"), \
            replace_on_success(out / "windows", out / "metrics.json") as (windows, _):
        windows.mkdir()
    assert _snapshot(out) == before


def test_stale_staging_from_a_killed_run_is_removed(tmp_path):
    out = tmp_path / "out"
    _previous_outputs(out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(dead.stdout)  # a process that has exited: its staging folder is stale
    (out / f".windows.staging-{pid}" / "train").mkdir(parents=True)
    (out / f".windows.old-{pid}").mkdir()
    (out / f".metrics.json.staging-{pid}").write_text("{")
    (out / ".windows.staging-1").mkdir()          # pid 1 runs (init): another live run's folder is left alone
    (out / ".windows.staging-notapid").mkdir()    # not ours
    with replace_on_success(out / "windows", out / "metrics.json") as (windows, metrics):
        assert not (out / f".windows.staging-{pid}").exists() and not (out / f".windows.old-{pid}").exists()
        assert not (out / f".metrics.json.staging-{pid}").exists()
        windows.mkdir()
        metrics.write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == [".windows.staging-1", ".windows.staging-notapid",
                                                      "metrics.json", "windows"]


def test_the_same_output_twice_is_refused(tmp_path):
    with pytest.raises(ValueError, match="the same output twice"), \
            replace_on_success(tmp_path / "x", tmp_path / "y" / ".." / "x"):
        pass


def _tree(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}


def _write(folder: Path, file: Path, tag: str) -> None:
    folder.mkdir()
    (folder / "a.txt").write_text(f"a {tag}")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text(f"b {tag}")
    file.write_text(f"metrics {tag}")


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
    """SIGKILL after everything is written to staging, before the swap: the previous outputs stay."""
    with replace_on_success(tmp_path / "out", tmp_path / "m.json") as (d, f):
        _write(d, f, "old")
    before = _tree(tmp_path)
    p = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path)], cwd=Path(__file__).parents[2], check=False)
    assert p.returncode == -signal.SIGKILL
    assert {k: v for k, v in _tree(tmp_path).items() if not k.startswith(".")} == before
    assert list(tmp_path.glob(".out.staging-*")) and list(tmp_path.glob(".m.json.staging-*"))
    with replace_on_success(tmp_path / "out", tmp_path / "m.json") as (d, f):
        _write(d, f, "next")
    assert _tree(tmp_path) == {"m.json": b"metrics next", "out/a.txt": b"a next", "out/sub/b.txt": b"b next"}


def test_a_folder_parked_by_an_interrupted_swap_is_restored(tmp_path):
    """Where the file system cannot exchange two paths atomically the swap parks the old folder; if the run dies
    right then, the next run puts it back before anything else."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    parked = tmp_path / f".out.old-{int(dead.stdout)}"
    parked.mkdir()
    (parked / "a.txt").write_text("a old")
    with pytest.raises(RuntimeError), replace_on_success(tmp_path / "out"):
        raise RuntimeError("fails before writing")
    assert _tree(tmp_path) == {"out/a.txt": b"a old"}
