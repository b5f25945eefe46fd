"""Training one part's latent diffusion model (ldmc-spec §6.4, §6.6, with the fixes behind params).

Batches are (window index, latents z (B, L, C), audio_frames, text_frames, audio_pooled, text_pooled, seed poses
(B, n_seed · in_dim)). The style condition of window i is the style slots of a reference window of the same video
that does not overlap it: `refs[i, epoch % K]` indexes `style_table` (the train split's standardised style slots);
-1 means the video has no such window, and the sample trains without style.

loss = recon_loss(objective target, prediction) at t ~ U{t_min … T−1} (t_min 0: every step; 1: the original, which
never trains index 0). Condition dropout: "per_sample" (ours) drops each modality of each sample with its own
probability and all of them with `drop_all`; "faithful" draws once per batch as the original (r < 0.1: no condition,
< 0.2: no seed, < 0.3: no text, < 0.4: no speech). The EMA copy (decay `ema_decay`) is a plain copy for the first
`ema_start` steps, as the original, then warms up (ema_decay_at), and is what samples (the original never sampled
with it). Without the warm-up, decay 0.999 over the demo's ~1,400 steps kept mostly untrained weights: val FGD of
the hand 18.5 with the EMA, 7.2 with the raw weights of the same run.

With a stroke plan (gesturegen.models.stroke_plan), `plans[i]` (N, T) is window i's plan of its ground-truth stroke
hits (`val_plans` for the val loss): the denoiser learns to put a stroke where the plan says.

Training-time guidance (`train_guidance`, ours; "model guidance", Tang et al. 2025, "Diffusion Models without
Classifier-free Guidance"): for a modality m with scale s_m > 1 the target becomes
    target + (w_m − 1) · sg(f(x_t, c) − f(x_t, c without m)),   w_m = 2 − 1 / s_m
with the network's own predictions (sg: no gradient; the second forward pass reuses the first one's dropout masks).
Samples trained without m keep the plain target, so f(·, without m) stays the unguided one and at the fixed point
f(x_t, c) = f_u + s_m · (E[target | c] − f_u): the prediction of classifier-free guidance at scale s_m, at one network
evaluation per step instead of two (the demo's speech at 2: beat F1 of the body 0.41 -> 0.46, README).

Every `val_every` epochs (and at the last) `val_score(model)` samples val and scores it (the stage: the v2
protocol's corrected FGD of the decoded part assembled with the other part's ground truth); the weights with the
lowest score are kept. Exact resume: all randomness of a training step comes from a generator seeded with
(seed, global step), the history and the best weights are in the checkpoint.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from gesturegen.distributed import rank_world, sum_ranks
from gesturegen.models.denoisers import MODALITIES, Conditions
from gesturegen.models.latent_diffusion import LatentDiffusion
from gesturegen.training import KeepsBest

FAITHFUL_DROP = ((0.1, MODALITIES), (0.2, ("seed",)), (0.3, ("text",)), (0.4, ("speech",)))


class NonFiniteDiffusionLossError(FloatingPointError):
    pass


def guidance_weights(train_guidance: dict[str, float] | None) -> dict[str, float]:
    """Per guided modality the weight w = 2 − 1/s of its training-time guidance scale s (module doc; s = 1: none)."""
    guided = {m: 2.0 - 1.0 / s for m, s in (train_guidance or {}).items() if s != 1.0}
    bad = sorted(set(guided) - set(MODALITIES))
    if bad or any(s < 1.0 for s in (train_guidance or {}).values()):
        raise ValueError(f"train_guidance: scales >= 1 of {MODALITIES}, got {train_guidance}")
    return guided


def guided_target(net, x_t: torch.Tensor, t: torch.Tensor, cond, keep: torch.Tensor, pred: torch.Tensor,
                  target: torch.Tensor, guided: dict[str, float], mask_seed: int | None = None) -> torch.Tensor:
    """The training target with each guided modality's term (w − 1)·sg(pred − net(x_t, t, cond without it)) added
    (`guided`: guidance_weights). `mask_seed`: the seed the pass that gave `pred` drew its dropout masks from, so that
    each guidance pass draws the same ones."""
    for name, w in guided.items():
        without = keep.clone()
        without[:, MODALITIES.index(name)] = False
        with torch.no_grad():
            if mask_seed is not None:
                torch.manual_seed(mask_seed)
            target = target + (w - 1.0) * (pred.detach() - net(x_t, t, cond, without))
    return target


class DiffusionSystem(KeepsBest, pl.LightningModule):
    def __init__(self, model: LatentDiffusion, style_table: torch.Tensor, refs: torch.Tensor,
                 drop: dict[str, float], drop_all: float = 0.1, dropout_mode: str = "per_sample",
                 loss: str = "l1_smooth", t_min: int = 0, lr: float = 2e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, milestones: tuple[int, ...] = (), gamma: float = 0.5,
                 ema_decay: float = 0.999, ema_start: int = 0, ema_warmup: bool = True, val_every: int = 1, max_epochs: int = 1,
                 val_score: Callable[[LatentDiffusion], float] | None = None, seed: int = 0,
                 val_style_table: torch.Tensor | None = None, val_refs: torch.Tensor | None = None,
                 plans: torch.Tensor | None = None, val_plans: torch.Tensor | None = None,
                 train_guidance: dict[str, float] | None = None):
        super().__init__()
        self.model = model
        self.register_buffer("style_table", style_table, persistent=False)
        self.register_buffer("refs", refs, persistent=False)
        # the val loss's references: rows of the val split's own table (no style when not given)
        self.register_buffer("val_style_table", style_table[:0] if val_style_table is None else val_style_table,
                             persistent=False)
        self.register_buffer("val_refs", torch.zeros(0, 1, dtype=torch.long) if val_refs is None else val_refs,
                             persistent=False)
        # the ground truth's stroke plans (N, T) of the train and val windows (empty: the model has no plan)
        for name, table in (("plans", plans), ("val_plans", val_plans)):
            self.register_buffer(name, torch.zeros(0, 0) if table is None else table.float(), persistent=False)
        if (model.config.stroke_plan is not None) != bool(self.plans.numel()):
            raise ValueError("DiffusionSystem: pass the ground truth's stroke plans exactly when the model has a "
                             "stroke plan")
        self.guided = guidance_weights(train_guidance)
        self.drop, self.drop_all, self.dropout_mode = dict(drop), drop_all, dropout_mode
        self.loss_name, self.t_min = loss, t_min
        self.lr, self.betas, self.weight_decay = lr, tuple(betas), weight_decay
        self.milestones, self.gamma = list(milestones), gamma
        self.ema_decay, self.ema_start, self.ema_warmup = ema_decay, ema_start, ema_warmup
        self.val_every, self.max_epochs, self.val_score, self.seed = val_every, max_epochs, val_score, seed
        self.init_best()
        self._sum, self._n, self._val_sum, self._val_n = 0.0, 0, 0.0, 0

    # --- one step ---
    def _keep(self, b: int, has_style: torch.Tensor, g: torch.Generator, n: int, share: slice) -> torch.Tensor:
        """Which conditions each of the b samples keeps; the draws are made for the whole batch of n (all DDP
        ranks) and this rank takes its `share`, so that DDP draws what one process would."""
        keep = torch.ones(b, len(MODALITIES), dtype=torch.bool)
        if self.dropout_mode == "faithful":
            r = float(torch.rand((), generator=g))
            for bound, names in FAITHFUL_DROP:
                if r < bound:
                    for m in names:
                        keep[:, MODALITIES.index(m)] = False
                    break
        else:
            for j, m in enumerate(MODALITIES):
                keep[:, j] &= torch.rand(n, generator=g)[share] >= self.drop.get(m, 0.0)
            keep &= (torch.rand(n, generator=g)[share] >= self.drop_all)[:, None]
        keep[:, MODALITIES.index("style")] &= has_style.cpu()
        return keep

    def _loss(self, batch, g: torch.Generator, val: bool = False) -> torch.Tensor:
        idx, z, a_frames, t_frames, a_pool, t_pool, seed = batch
        m = self.model
        b = z.shape[0]
        refs, table = (self.val_refs, self.val_style_table) if val else (self.refs, self.style_table)
        ref = refs[idx, self.current_epoch % refs.shape[1]] if refs.numel() and table.numel() else \
            torch.full((b,), -1, dtype=torch.long, device=z.device)
        has_style = ref >= 0
        style = table[ref.clamp_min(0)] if table.numel() else \
            torch.zeros(b, m.config.denoiser.style_dim, device=z.device)
        plans = self.val_plans if val else self.plans
        cond = m.scale_conditions(Conditions(a_frames, t_frames, a_pool, t_pool, seed, style),
                                  plan=plans[idx] if plans.numel() else None)
        rank, world = (0, 1) if val else rank_world()     # DDP: this rank's share of the draws of the whole batch
        n, share = b * world, slice(rank * b, (rank + 1) * b)
        keep = self._keep(b, has_style, g, n, share).to(z.device)
        x0 = m.to_x0(z)
        t = torch.randint(self.t_min, m.config.steps, (n,), generator=g)[share].to(z.device)
        noise = torch.randn((n, *x0.shape[1:]), generator=g)[share].to(z.device)
        x_t = m.schedule.q_sample(x0, t, noise)
        target = m.schedule.target(x0, noise, t)
        # the dropout masks from g too: the guidance passes below draw the same masks as the one with gradients
        mask_seed = int(torch.randint(0, 2 ** 62, (), generator=g))
        torch.manual_seed(mask_seed)
        pred = m.net(x_t, t, cond, keep)
        if not val:
            target = guided_target(m.net, x_t, t, cond, keep, pred, target, self.guided, mask_seed)
        return F.mse_loss(pred, target) if self.loss_name == "l2" else F.smooth_l1_loss(pred, target)

    def _generator(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed * 1_000_003 + self.global_step * 7 + salt) % (2 ** 63))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch, self._generator(1))
        if not torch.isfinite(loss):
            raise NonFiniteDiffusionLossError(
                f"epoch {self.current_epoch + 1}, step {self.global_step + 1}: the diffusion loss is {loss.item()}; "
                f"lower diffusion lr or check the latents of extract_codes")
        self._sum += float(loss.detach())
        self._n += 1
        self.log("loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch[1].shape[0])
        return loss

    def ema_decay_at(self, step: int) -> float:
        """The EMA decay after optimiser step `step`: 0 (a plain copy) up to `ema_start`; then `ema_decay`, or with
        `ema_warmup` min(ema_decay, (1 + n) / (10 + n)) after n EMA updates (diffusers' EMAModel rule), so that a
        short run's EMA is not an average dominated by its first, untrained weights."""
        if step <= self.ema_start:
            return 0.0
        n = step - self.ema_start
        return min(self.ema_decay, (1 + n) / (10 + n)) if self.ema_warmup else self.ema_decay

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.model.update_ema(self.ema_decay_at(self.global_step))

    def validation_step(self, batch, batch_idx: int) -> None:
        loss = self._loss(batch, torch.Generator().manual_seed(self.seed + 7919 * batch_idx), val=True)
        self._val_sum += float(loss) * batch[1].shape[0]
        self._val_n += batch[1].shape[0]

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._val_sum, self._val_n = 0.0, 0

    def on_train_epoch_end(self) -> None:
        if rank_world()[1] > 1:                         # DDP: the loss over every rank's share of the batches
            packed = sum_ranks(torch.tensor([self._sum, self._n], dtype=torch.float64, device=self.device))
            self._sum, self._n = float(packed[0]), int(packed[1])
        epoch = self.current_epoch + 1
        row = {"epoch": epoch, "train_loss": self._sum / max(self._n, 1),
               "val_loss": self._val_sum / self._val_n if self._val_n else None,
               "lr": float(self.trainer.optimizers[0].param_groups[0]["lr"])}
        self._sum, self._n, self._val_sum, self._val_n = 0.0, 0, 0.0, 0
        if self.val_score is not None and (epoch % self.val_every == 0 or epoch == self.max_epochs):
            was = self.model.training
            self.model.eval()
            row["val_score"] = float(self.val_score(self.model))
            self.model.train(was)
            self.log("val_fgd", row["val_score"], prog_bar=True)
        self.history.append(row)
        if self.val_score is None:
            score = -float(epoch)                     # no val score: keep the last epoch
        else:
            score = row.get("val_score", math.inf)    # epochs without a val score are kept only if nothing else is
            score = score if math.isfinite(score) else math.inf
        if score < self.best_score or self.best_state is None:
            self.best_score, self.best_epoch = score, epoch
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def configure_optimizers(self):
        params = [p for p in self.model.net.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=self.milestones, gamma=self.gamma)
        return [opt], [{"scheduler": sched, "interval": "epoch"}]
