"""Workarounds for Snakemake behaviour that would cost a run its work, applied by rules/common.smk in every Snakemake
process that reads the workflow (the main one and each SLURM job step).

stale update() backups (snakemake 9.27.1, persistence FileBackupMixin.backup_output): before a job runs, every
    update()-flagged output is copied to .snakemake/backups/<path>, with shutil.copytree for a folder, which raises
    FileExistsError when a backup is already there. One is left whenever the process that made it died before
    restoring or removing it: a SLURM job preempted and requeued (the requeued job step then fails before its stage
    starts), a `kill -9`. The stages replace their outputs only on success (gesturegen.io.replace_on_success), so
    the output in place is always a complete result, and it is what the backup must hold: the stale copy is
    replaced. (Upstream: the review of snakemake/snakemake#3833 names the case; 9.27.1 still raises.)
"""
from __future__ import annotations

import shutil
from pathlib import Path


def replace_stale_backups() -> None:
    """Patch FileBackupMixin.backup_output to remove a backup left by an earlier, killed process first (once)."""
    from snakemake.persistence import FileBackupMixin

    original = FileBackupMixin.backup_output
    if getattr(original, "replaces_stale_backups", False):
        return

    def backup_output(self, path: Path) -> None:
        stale = self._get_backup_path(path)
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        elif stale.exists() or stale.is_symlink():
            stale.unlink()
        original(self, path)

    backup_output.replaces_stale_backups = True
    backup_output.original = original
    FileBackupMixin.backup_output = backup_output
