"""gesturegen.io.replace_on_success: outputs appear all at once, or the previous ones stay byte for byte."""
import subprocess
import sys

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
