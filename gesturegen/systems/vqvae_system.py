"""Training one part's VQ-VAE with its contrastive terms (ldmc-spec §4.4–4.5, with the fixes behind params).

loss = SmoothL1(recon, the part's ground truth) + commit_weight · commit + the contrastive terms (already weighted).
AdamW(lr, betas, weight_decay) and MultiStepLR(milestones in epochs, gamma), as the original.

Batches are (motion (B, T, D) full body, audio_pooled, text_pooled, audio_frames, text_frames, video_id); the
frames tensors may be (B, 0) placeholders when the contrastive mode does not use them.

Per epoch (`history`): means over the epoch's batches of the training terms (true means: the original divided by
the last batch index), the perplexity of the epoch's code usage, the codes never used in the epoch and the codes the
quantizer would reset (EMA count < 1), contrastive batches skipped; on val: the part's reconstruction error and the
selection score from `val_score` (the v2 protocol's corrected FGD of the reconstruction assembled with the other
part's ground truth), and retrieval R@1 from the latent slots. The weights of the epoch with the lowest score are
kept (`best_state`).

Exact resume: everything that changes during training is in the Lightning checkpoint (weights, quantizer buffers,
optimizer, scheduler, loop counters, and here the history and the best weights); the data order of an epoch is a
function of (seed, epoch) (gesturegen.training.EpochSampler) and the quantizer's reset noise of (seed, update count), so a run resumed
from an epoch-end checkpoint ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from gesturegen.distributed import rank_world, sum_ranks
from gesturegen.models.contrastive import AUDIO_STEP, TEXT_STEP, Contrastive, ContrastiveConfig
from gesturegen.models.vqvae import VQVAE, VQVAEConfig
from gesturegen.training import KeepsBest

HISTORY_TERMS = ("loss", "recon", "commit", "text", "audio", "style")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; names the epoch and step."""


class VQVAESystem(KeepsBest, pl.LightningModule):
    def __init__(self, config: VQVAEConfig, contrastive: ContrastiveConfig, part_dims: np.ndarray,
                 commit_weight: float = 0.001, recon_loss: str = "l1_smooth", vel_weight: float = 0.0,
                 select_by: str = "fgd", lr: float = 2e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, milestones: tuple[int, ...] = (), gamma: float = 0.5,
                 val_score: Callable[[np.ndarray], float] | None = None,
                 val_retrieval: Callable[[np.ndarray, np.ndarray, np.ndarray], dict] | None = None):
        super().__init__()
        self.model = VQVAE(config)
        self.contrastive = Contrastive(contrastive)
        self.register_buffer("part_idx", torch.as_tensor(np.asarray(part_dims), dtype=torch.long), persistent=False)
        self.recon_loss, self.vel_weight, self.select_by = recon_loss, vel_weight, select_by
        self.commit_weight, self.lr, self.betas, self.weight_decay = commit_weight, lr, tuple(betas), weight_decay
        self.milestones, self.gamma = list(milestones), gamma
        self.val_score, self.val_retrieval = val_score, val_retrieval
        self.init_best()
        self._reset_epoch()
        self._val: list[tuple[torch.Tensor, ...]] = []
        self._val_row: dict = {}

    # --- state ---
    def _reset_epoch(self) -> None:
        self._sums = dict.fromkeys(HISTORY_TERMS, 0.0)
        self._counts = dict.fromkeys(HISTORY_TERMS, 0)
        self._skipped = 0
        self._usage = torch.zeros(self.model.config.codebook_size, dtype=torch.long)

    def weights(self) -> dict[str, torch.Tensor]:
        """The model and the contrastive projections (what is saved)."""
        return {**{f"model.{k}": v for k, v in self.model.state_dict().items()},
                **{f"contrastive.{k}": v for k, v in self.contrastive.state_dict().items()}}

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
        self.contrastive.load_state_dict({k[12:]: v for k, v in state.items() if k.startswith("contrastive.")})

    # --- steps ---
    def _forward(self, batch):
        motion, a_pool, t_pool, a_frames, t_frames, vid = batch
        out = self.model(motion)
        target = motion.index_select(-1, self.part_idx)
        recon = self._recon(out.recon, target)
        if self.vel_weight:
            recon = recon + self.vel_weight * self._recon(out.recon.diff(dim=1), target.diff(dim=1))
        terms = self.contrastive(out.latents, a_pool, t_pool, a_frames, t_frames, vid)
        loss = recon + self.commit_weight * out.commit + terms.total
        return loss, recon, out, terms

    def _recon(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.recon_loss == "l1":
            return F.l1_loss(pred, target)
        if self.recon_loss == "l2":
            return F.mse_loss(pred, target)
        return F.smooth_l1_loss(pred, target)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, recon, out, terms = self._forward(batch)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"epoch {self.current_epoch + 1}, step {self.global_step + 1} (batch {batch_idx + 1} of the epoch): "
                f"the training loss is {loss.item()} (reconstruction {recon.item()}, commit {out.commit.item()}); "
                f"lower train_vqvae.lr or check the windows for extreme values")
        for name, value in (("loss", loss), ("recon", recon), ("commit", out.commit), ("text", terms.text),
                            ("audio", terms.audio), ("style", terms.style)):
            if value is not None:
                self._sums[name] += float(value.detach())
                self._counts[name] += 1
        self._skipped += terms.skipped
        self._usage += torch.bincount(out.indices.reshape(-1).cpu(), minlength=self._usage.numel())
        self.log("recon", recon, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch[0].shape[0])
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        motion, a_pool, t_pool, a_frames, t_frames, vid = batch
        out = self.model(motion)
        target = motion.index_select(-1, self.part_idx)
        audio, text = self.contrastive.embed(a_pool, t_pool, a_frames, t_frames)
        self._val.append(tuple(x.detach().cpu() for x in (
            out.recon, (out.recon - target).abs().mean((1, 2)), out.latents[:, AUDIO_STEP], out.latents[:, TEXT_STEP],
            audio, text, vid)))

    def on_validation_epoch_end(self) -> None:
        parts, self._val = self._val, []
        if self.trainer.sanity_checking or not parts:
            return
        cat = [torch.cat([p[i] for p in parts]).numpy() for i in range(7)]
        recon, err, z_audio, z_text, audio, text, vid = cat
        row = {"val_part_l1": float(err.mean())}
        if self.val_score is not None:
            row["val_score"] = float(self.val_score(recon))
            self.log("val_fgd", row["val_score"], prog_bar=True)
        if self.val_retrieval is not None:
            for name, (q, c) in (("audio", (z_audio, audio)), ("text", (z_text, text))):
                r = self.val_retrieval(q, c, vid)
                if r:
                    row[f"val_{name}_r1"] = r["r1"]
        self._val_row = row

    def _sum_over_ranks(self) -> None:
        """Under DDP: the epoch's sums, counts and code usage of all ranks (each saw its share of every batch; the
        contrastive terms, computed on the gathered batch, are the same on every rank, as their skips)."""
        world = rank_world()[1]
        if world == 1:
            return
        packed = torch.tensor([*(self._sums[k] for k in HISTORY_TERMS), *(self._counts[k] for k in HISTORY_TERMS),
                               self._skipped], dtype=torch.float64, device=self.device)
        sum_ranks(packed)
        n = len(HISTORY_TERMS)
        self._sums = {k: float(packed[i]) for i, k in enumerate(HISTORY_TERMS)}
        self._counts = {k: int(packed[n + i]) for i, k in enumerate(HISTORY_TERMS)}
        self._skipped = round(float(packed[-1]) / world)
        self._usage = sum_ranks(self._usage.to(self.device)).cpu()

    def on_train_epoch_end(self) -> None:
        self._sum_over_ranks()
        row, self._val_row = self._val_row, {}
        epoch = self.current_epoch + 1
        usage = self._usage.double()
        p = usage / usage.sum().clamp_min(1)
        out = {"epoch": epoch, **{f"train_{k}": (self._sums[k] / self._counts[k] if self._counts[k] else None)
                                  for k in HISTORY_TERMS},
               "perplexity": float(torch.exp(-(p * torch.log(p + 1e-12)).sum())),
               "unused_codes": int((self._usage == 0).sum()), "dead_codes": self.model.quantizer.dead_codes(),
               "contrastive_skipped": self._skipped, "lr": float(self.trainer.optimizers[0].param_groups[0]["lr"]),
               **row}
        self.history.append(out)
        self._reset_epoch()
        key = "val_score" if self.select_by == "fgd" else "val_part_l1"
        score = row.get(key, -float(epoch))                  # no val score: keep the last epoch
        if not math.isfinite(score):
            score = math.inf
        if score < self.best_score or self.best_state is None:
            self.best_score, self.best_epoch = score, epoch
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.weights().items()}

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=self.milestones, gamma=self.gamma)
        return [opt], [{"scheduler": sched, "interval": "epoch"}]
