"""Training the MotionAE FGD feature extractor with HA2G's recipe (metrics.md §2.9).

Loss per batch (HA2G `train_feature_extractor_expressive.py`), summed over the batch as there:
    sum_b [ mean_{t,d} |x̂ - x|  +  vel_weight * mean_{t,d} |Δx̂ - Δx| ]  +  cos_weight * sum_{b,t,v} (1 - cos(x̂_v, x_v))
where Δ is the frame difference and v runs over the 3-d vectors. HA2G takes the cosine of the mean-subtracted
vectors; pass `mean_dir_vec` to add the mean back first, so the cosine compares the actual bone vectors.
Adam(lr, betas), StepLR(step_size epochs, gamma). The logged losses are per window (the batch sum / B).
"""
from __future__ import annotations

import math

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from gesturegen.data.skeleton import Skeleton
from gesturegen.models.fgd_encoder import MotionAE, MotionAEConfig


def _cosine3(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """F.cosine_similarity(a, b, dim=-1) for 3-vectors, written per component: several times faster on CPU
    (the generic kernel reduces a size-3 inner dimension slowly)."""
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    dot = ax * bx + ay * by + az * bz
    return dot / ((ax * ax + ay * ay + az * az) * (bx * bx + by * by + bz * bz)).clamp_min(eps * eps).sqrt()


def motion_ae_loss(pred: torch.Tensor, target: torch.Tensor, vel_weight: float = 1.0, cos_weight: float = 1e-3,
                   mean_dir_vec: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """HA2G's loss on (B, T, D) tensors; returns the batch-summed `loss` and its per-window parts."""
    b = pred.shape[0]
    recon = F.l1_loss(pred, target, reduction="none").mean(dim=(1, 2))                       # (B,)
    vel = F.l1_loss(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1], reduction="none").mean(dim=(1, 2))
    p, t = pred, target
    if mean_dir_vec is not None:
        p, t = pred + mean_dir_vec, target + mean_dir_vec
    cos = (1 - _cosine3(p.reshape(b, p.shape[1], -1, 3), t.reshape(b, t.shape[1], -1, 3))).sum(dim=(1, 2))  # (B,)
    loss = (recon + vel_weight * vel).sum() + cos_weight * cos.sum()
    return {"loss": loss, "recon": recon.mean(), "vel": vel.mean(), "cos": cos.mean()}


class FGDEncoderSystem(pl.LightningModule):
    """MotionAE + HA2G loss and optimiser; keeps the weights of the epoch with the lowest val loss."""

    def __init__(self, config: MotionAEConfig, lr: float = 5e-4, betas: tuple[float, float] = (0.5, 0.999),
                 step_size: int = 30, gamma: float = 0.1, vel_weight: float = 1.0, cos_weight: float = 1e-3,
                 mean_dir_vec: list[float] | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["mean_dir_vec"])
        self.model = MotionAE(config)
        self.lr, self.betas, self.step_size, self.gamma = lr, tuple(betas), step_size, gamma
        self.vel_weight, self.cos_weight = vel_weight, cos_weight
        mean = torch.zeros(0) if mean_dir_vec is None else torch.as_tensor(np.asarray(mean_dir_vec), dtype=torch.float32)
        self.register_buffer("mean_dir_vec", mean, persistent=False)
        self.history: list[dict] = []          # one row per finished epoch: epoch, train_loss, val_loss
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch, self.best_val_loss = -1, float("inf")
        self._sums = {"train": [0.0, 0], "val": [0.0, 0]}

    def _step(self, batch: torch.Tensor, stage: str) -> torch.Tensor:
        pred, _ = self.model(batch)
        parts = motion_ae_loss(pred, batch, self.vel_weight, self.cos_weight,
                               self.mean_dir_vec if self.mean_dir_vec.numel() else None)
        b = batch.shape[0]
        self._sums[stage][0] += parts["loss"].item()
        self._sums[stage][1] += b
        self.log(f"{stage}_loss", parts["loss"] / b, on_step=False, on_epoch=True, prog_bar=True, batch_size=b)
        self.log_dict({f"{stage}_{k}": parts[k] for k in ("recon", "vel", "cos")},
                      on_step=False, on_epoch=True, batch_size=b)
        return parts["loss"]

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._step(batch, "val")

    def _epoch_mean(self, stage: str) -> float:
        total, n = self._sums[stage]
        self._sums[stage] = [0.0, 0]
        return total / n if n else float("nan")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._sums["val"] = [0.0, 0]
            return
        self._val_loss = self._epoch_mean("val")

    def on_train_epoch_end(self) -> None:
        # validation of this epoch has already run (Lightning validates inside the training epoch)
        val = getattr(self, "_val_loss", float("nan"))
        self._val_loss = float("nan")
        self.history.append({"epoch": self.current_epoch + 1, "train_loss": self._epoch_mean("train"),
                             "val_loss": val})
        if math.isnan(val) or val < self.best_val_loss:   # without validation: the last epoch
            self.best_val_loss, self.best_epoch = val, self.current_epoch + 1
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr, betas=self.betas)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=self.step_size, gamma=self.gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


@torch.no_grad()
def reconstruction_errors(model: MotionAE, dir_vec: np.ndarray, mean_dir_vec: np.ndarray | None = None,
                          skeleton: Skeleton | None = None, batch_size: int = 256) -> dict[str, float | None]:
    """Eval-mode reconstruction error of (N, T, D) mean-subtracted windows, all frames.

    recon_l1: mean |x̂ - x| over all values (vector space). joint_mae (needs the mean and the skeleton):
    gesturegen.metrics.joint_mae with n_seed=0, i.e. mean |joints(x̂) - joints(x)| per coordinate, joints rebuilt
    as DiffGesture does (mean added back, table bone lengths, root at the origin).
    """
    from gesturegen.metrics.motion import joint_mae

    model.check_input(dir_vec)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    l1_sum = joint_sum = 0.0
    n = 0
    with_joints = skeleton is not None and mean_dir_vec is not None
    try:
        for i in range(0, dir_vec.shape[0], batch_size):
            x = torch.as_tensor(np.array(dir_vec[i:i + batch_size], dtype=np.float32), device=device)
            pred, _ = model(x)
            b = x.shape[0]
            l1_sum += (pred - x).abs().mean().item() * b
            if with_joints:
                joint_sum += joint_mae(pred.cpu().numpy(), x.cpu().numpy(), mean_dir_vec, skeleton, n_seed=0) * b
            n += b
    finally:
        model.train(was_training)
    n = max(n, 1)
    return {"recon_l1": l1_sum / n, "joint_mae": joint_sum / n if with_joints else None}
