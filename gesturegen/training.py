"""Helpers shared by the training stages (no params, no model code): the fingerprint that decides whether a resume
checkpoint belongs to this run, the Lightning accelerator of a compute.device, the training order (one process or
DDP ranks), Lightning's fit, and DVCLive curves from a history."""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np


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


def trainer_device(device: str) -> dict:
    """Lightning Trainer keywords for a compute.device: accelerator, devices, and determinism: exact on a CPU; on a
    GPU a warning where a kernel has no deterministic version (the UNet's linear upsampling backward) rather than a
    refusal to train."""
    accelerator, devices = lightning_device(device)
    return {"accelerator": accelerator, "devices": devices, "deterministic": True if accelerator == "cpu" else "warn"}


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


LAST, PREVIOUS = "last.ckpt", "prev.ckpt"
# what torch.load raises on a truncated or overwritten checkpoint (a zip archive torch cannot read, an unpickling
# error under weights_only, a short read)
_DAMAGED = (RuntimeError, EOFError, ValueError, OSError, pickle.UnpicklingError)


def find_resume(resume_dir: Path, fingerprint: str, label: str) -> tuple[Path | None, int]:
    """(checkpoint to resume from, epochs it has done): `resume_dir/last.ckpt`, or the epoch before it
    (`prev.ckpt`, kept by fit) when last.ckpt cannot be read: a damaged checkpoint is refused, named and kept aside
    as `<name>.damaged`. A checkpoint written for other params or inputs (`fingerprint`) is deleted and the run
    starts afresh. `label` names the run in what is printed."""
    import torch

    for name in (LAST, PREVIOUS):
        ckpt = Path(resume_dir) / name
        if not ckpt.is_file():
            continue
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except _DAMAGED as e:
            aside = ckpt.with_name(name + ".damaged")
            print(f"{label}: {ckpt} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:200]}); kept as "
                  f"{aside.name}, not used")
            ckpt.replace(aside)
            continue
        epoch = int(state.get("epoch", -1))
        if state.get("gesturegen", {}).get("fingerprint") == fingerprint:
            print(f"{label}: resuming from {ckpt} (epoch {epoch + 1} done)")
            return ckpt, epoch + 1
        print(f"{label}: {ckpt} was written for other params or inputs; starting afresh")
        for old in (LAST, PREVIOUS):             # every DDP rank looks: the first one deletes them
            (Path(resume_dir) / old).unlink(missing_ok=True)
        return None, 0
    return None, 0


class EpochSampler:
    """The training order: a permutation of range(n) that depends only on (seed, epoch). Lightning calls set_epoch
    every epoch, so a resumed run sees the same batches as an uninterrupted one.

    With `world` > 1 (DDP) the permutation is cut into global batches of `batch_size` and rank r takes the r-th of
    `world` equal, consecutive shares of each: the ranks together see exactly the batches one process would (a
    last global batch shorter than `batch_size` is dropped). The rank is read from the process group when an epoch
    starts, since the loader is built before Lightning starts the processes."""

    def __init__(self, n: int, seed: int, batch_size: int = 1, world: int = 1):
        self.n, self.seed, self.batch_size, self.world, self.epoch = n, seed, batch_size, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        if self.world == 1:
            return iter(perm.tolist())
        from gesturegen.distributed import rank_world

        rank, world = rank_world()
        if world != self.world:
            raise RuntimeError(f"the loader was built for {self.world} DDP processes but the process group has "
                               f"{world}")
        share = self.batch_size // world
        starts = np.arange(self.n // self.batch_size) * self.batch_size + rank * share
        return iter(perm[(starts[:, None] + np.arange(share)[None]).reshape(-1)].tolist())

    def __len__(self) -> int:
        if self.world == 1:
            return self.n
        return self.n // self.batch_size * (self.batch_size // self.world)


def epoch_loader(dataset, batch_size: int, seed: int, world: int = 1):
    """The training DataLoader: global batches of min(batch_size, n), the order a function of (seed, epoch)
    (EpochSampler: exact resume), the last short batch dropped when there are two full ones (always under DDP).
    With `world` DDP processes each rank's loader yields its 1/world share of every global batch."""
    from torch.utils.data import DataLoader

    bs = min(batch_size, len(dataset))
    if world > 1:
        if bs % world:
            raise ValueError(f"a batch of {bs} windows does not split into {world} equal shares (compute.devices x "
                             f"compute.num_nodes DDP processes): use a batch size that is a multiple of {world}")
        return DataLoader(dataset, batch_size=bs // world, sampler=EpochSampler(len(dataset), seed, bs, world),
                          drop_last=False, num_workers=0)
    return DataLoader(dataset, batch_size=bs, sampler=EpochSampler(len(dataset), seed),
                      drop_last=len(dataset) >= 2 * bs, num_workers=0)


def _keep_previous_checkpoint():
    import os

    import pytorch_lightning as pl

    class KeepPrevious(pl.callbacks.ModelCheckpoint):
        """ModelCheckpoint whose file of the last epoch is moved to prev.ckpt before the next one is written: a
        checkpoint damaged while it is written (a kill, a full disk) leaves the one before it (find_resume)."""

        def _save_checkpoint(self, trainer, filepath: str) -> None:
            if trainer.is_global_zero and os.path.isfile(filepath):
                os.replace(filepath, os.path.join(os.path.dirname(filepath), PREVIOUS))
            super()._save_checkpoint(trainer, filepath)
    return KeepPrevious


def cluster_environment(world: int, num_nodes: int = 1):
    """Lightning's cluster environment. Inside a SLURM job whose tasks srun started (one per process: multi-node)
    it is SLURM's; otherwise Lightning starts the `world` processes itself (one SLURM task with N GPUs, or no SLURM).
    Lightning's SIGUSR1 auto-requeue stays off: a preempted job is requeued by SLURM (`--requeue`) and the stage
    resumes from its last epoch-end checkpoint, which gives the same weights as an uninterrupted run; Lightning's
    mid-epoch HPC checkpoint would not."""
    import os

    from pytorch_lightning.plugins.environments import LightningEnvironment, SLURMEnvironment

    tasks = int(os.environ.get("SLURM_NTASKS", "1")) if SLURMEnvironment.detect() else 1
    if tasks > 1:
        if tasks != world:
            raise ValueError(f"SLURM started {tasks} tasks but compute.devices x compute.num_nodes is {world}: one "
                             f"task per training process (srun --ntasks-per-node=<devices>)")
        return SLURMEnvironment(auto_requeue=False)
    if num_nodes > 1:          # Lightning would wait for the other nodes' processes for ever
        raise ValueError(f"compute.num_nodes is {num_nodes}: training across nodes needs one SLURM task per process "
                         f"(srun --nodes={num_nodes} --ntasks-per-node=<devices> python -m stages.<stage> ...); this "
                         f"process is not one of them. On one node, set num_nodes: 1")
    return LightningEnvironment()


def fit(system, train_loader, val_loader, max_epochs: int, resume_dir: Path, compute,
        ckpt_path: Path | None = None, callbacks: tuple = ()) -> tuple[float, bool]:
    """Lightning fit on compute.device with compute.precision, over compute.devices x compute.num_nodes DDP
    processes when more than one, with a checkpoint of the last epoch in `resume_dir` (exact resume), no logger, a
    progress bar. Returns (seconds, whether this process is global rank 0: only it writes the stage's outputs).

    DDP starts the other ranks by running this process's command line again (Lightning's subprocess launcher), so
    a stage that trains with devices > 1 must run as `python -m stages.<name>`, not inside another program."""
    import time
    import warnings

    import pytorch_lightning as pl

    KeepPrevious = _keep_previous_checkpoint()
    where = trainer_device(compute.device)
    accelerator, devices = where["accelerator"], where["devices"]
    strategy = "auto"
    if compute.world_size > 1:
        from pytorch_lightning.strategies import DDPStrategy

        devices = compute.devices
        strategy = DDPStrategy(process_group_backend="gloo" if accelerator == "cpu" else "nccl",
                               find_unused_parameters=True)
    environment = cluster_environment(compute.world_size, compute.num_nodes)
    saver = KeepPrevious(dirpath=resume_dir, filename="last", save_last=False, save_top_k=1, every_n_epochs=1,
                         save_on_train_epoch_end=True, enable_version_counter=False)
    trainer = pl.Trainer(accelerator=accelerator, devices=devices, num_nodes=compute.num_nodes, strategy=strategy,
                         precision=compute.precision, plugins=[environment],
                         use_distributed_sampler=False, max_epochs=max_epochs, deterministic=where["deterministic"],
                         logger=False, callbacks=[saver, *callbacks], num_sanity_val_steps=0,
                         enable_progress_bar=True, enable_model_summary=False, default_root_dir=resume_dir)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*treespec.*")
        warnings.filterwarnings("ignore", message=".*srun.*command is available.*")
        trainer.fit(system, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
    return time.perf_counter() - t0, trainer.is_global_zero
