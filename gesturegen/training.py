"""Helpers shared by the training stages (no params, no model code): the fingerprint that decides whether a resume
checkpoint belongs to this run, the Lightning accelerator of a compute.device, and DVCLive curves from a history."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path


def run_fingerprint(*parts) -> str:
    """blake2b-128 of the JSON of `parts` (params, seeds, input checksums): a resume checkpoint of another run differs."""
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def lightning_device(device: str) -> tuple[str, object]:
    """(accelerator, devices) of Lightning's Trainer for a compute.device: cpu, cuda[:N] or mps."""
    if device == "cpu":
        return "cpu", 1
    if device.startswith("cuda"):
        return "gpu", [int(device.partition(":")[2] or 0)]
    return "mps", 1


def write_dvclive(live_dir: Path, history: list[dict]) -> None:
    """A per-epoch history as DVCLive metrics (dvclive/plots/metrics/*.tsv, step = epoch - 1)."""
    from dvclive import Live

    with Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None, monitor_system=False) as live:
        for row in history:
            for k, v in row.items():
                if k != "epoch" and v is not None:
                    live.log_metric(k, v)
            live.next_step()


class KeepsBest:
    """Mixin of the Lightning systems that keep their best epoch: the history, the kept epoch and its weights and
    the run's fingerprint travel in the resume checkpoint (Lightning's on_save/on_load_checkpoint hooks)."""

    fingerprint: str = ""

    def init_best(self) -> None:
        import math

        self.fingerprint = ""          # of the params and inputs: a checkpoint of another run is not resumed
        self.history: list[dict] = []
        self.best_state: dict | None = None
        self.best_epoch, self.best_score = 0, math.inf

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["gesturegen"] = {"history": self.history, "best_epoch": self.best_epoch,
                                    "best_score": self.best_score, "fingerprint": self.fingerprint}
        checkpoint["gesturegen_best"] = self.best_state or {}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        g = checkpoint["gesturegen"]
        self.history, self.best_epoch, self.best_score = list(g["history"]), int(g["best_epoch"]), g["best_score"]
        self.best_state = dict(checkpoint["gesturegen_best"]) or None


def find_resume(resume_dir: Path, fingerprint: str, label: str) -> tuple[Path | None, int]:
    """(checkpoint to resume from, epochs it has done) from `resume_dir/last.ckpt` when it was written for this
    `fingerprint`; a checkpoint of other params or inputs is deleted. `label` names the run in what is printed."""
    import torch

    ckpt = Path(resume_dir) / "last.ckpt"
    if not ckpt.is_file():
        return None, 0
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    epoch = int(state.get("epoch", -1))
    if state.get("gesturegen", {}).get("fingerprint") == fingerprint:
        print(f"{label}: resuming from {ckpt} (epoch {epoch + 1} done)")
        return ckpt, epoch + 1
    print(f"{label}: {ckpt} was written for other params or inputs; starting afresh")
    ckpt.unlink()
    return None, 0


def epoch_loader(dataset, batch_size: int, seed: int):
    """The training DataLoader: batches of min(batch_size, n), the order a function of (seed, epoch)
    (EpochSampler: exact resume), the last short batch dropped when there are two full ones."""
    from torch.utils.data import DataLoader

    from gesturegen.systems.vqvae_system import EpochSampler

    bs = min(batch_size, len(dataset))
    return DataLoader(dataset, batch_size=bs, sampler=EpochSampler(len(dataset), seed),
                      drop_last=len(dataset) >= 2 * bs, num_workers=0)


def fit(system, train_loader, val_loader, max_epochs: int, resume_dir: Path, device: str,
        ckpt_path: Path | None = None, callbacks: tuple = ()) -> float:
    """Lightning fit with a checkpoint of the last epoch in `resume_dir` (exact resume), no logger, a progress bar;
    returns the seconds it took."""
    import time
    import warnings

    import pytorch_lightning as pl

    accelerator, devices = lightning_device(device)
    saver = pl.callbacks.ModelCheckpoint(dirpath=resume_dir, filename="last", save_last=False, save_top_k=1,
                                         every_n_epochs=1, save_on_train_epoch_end=True, enable_version_counter=False)
    trainer = pl.Trainer(accelerator=accelerator, devices=devices, max_epochs=max_epochs, deterministic=True,
                         logger=False, callbacks=[saver, *callbacks], num_sanity_val_steps=0,
                         enable_progress_bar=True, enable_model_summary=False, default_root_dir=resume_dir)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*treespec.*")
        trainer.fit(system, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
    return time.perf_counter() - t0
