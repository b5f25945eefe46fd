"""workflow/snakemake_patches.py against Snakemake's own backup code (fast: no workflow is run)."""
import importlib.util
from pathlib import Path

import pytest
from snakemake.persistence import FileBackupMixin

ROOT = Path(__file__).resolve().parents[2]


class _Backups(FileBackupMixin):
    def __init__(self, path: Path):
        self.path = path


def _patches():
    spec = importlib.util.spec_from_file_location("snakemake_patches", ROOT / "workflow/snakemake_patches.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_backup_left_by_a_killed_run_is_replaced_by_the_output_in_place(tmp_path, monkeypatch):
    """A requeued SLURM job (or the run after a kill -9) finds the backup its predecessor made: unpatched, Snakemake's
    copytree raises FileExistsError before the stage starts; patched, the backup holds the output now in place, and
    restoring it after a failure gives that output back."""
    # Snakemake's own method, also where the workflow (hence the patch) was loaded earlier in this process; the
    # class is put back as it was after the test
    installed = FileBackupMixin.backup_output
    monkeypatch.setattr(FileBackupMixin, "backup_output", getattr(installed, "original", installed))
    out = tmp_path / "results/stage/model"
    out.mkdir(parents=True)
    (out / "weights.bin").write_bytes(b"current")
    backups = _Backups(tmp_path / ".snakemake")
    backups.backup_output(out)                              # the first attempt's backup ...
    (backups._get_backup_path(out) / "weights.bin").write_bytes(b"older")   # ... of what was there then
    (backups._get_backup_path(out) / "leftover.tmp").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        backups.backup_output(out)                          # Snakemake as installed
    _patches().replace_stale_backups()
    _patches().replace_stale_backups()                      # applying it twice wraps once
    assert FileBackupMixin.backup_output.replaces_stale_backups
    backups.backup_output(out)
    saved = backups._get_backup_path(out)
    assert sorted(p.name for p in saved.iterdir()) == ["weights.bin"]
    assert (saved / "weights.bin").read_bytes() == b"current"
    (out / "weights.bin").write_bytes(b"half-written")      # the job fails: Snakemake restores its backup
    assert backups.restore_output(out)
    assert (out / "weights.bin").read_bytes() == b"current"
    single = tmp_path / "results/stage/metrics.json"        # a file: replaced the same way
    single.write_text("{}")
    backups.backup_output(single)
    single.write_text('{"a": 1}')
    backups.backup_output(single)
    assert backups._get_backup_path(single).read_text() == '{"a": 1}'
