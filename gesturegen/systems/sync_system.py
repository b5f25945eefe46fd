"""Training the speech <-> motion sync evaluator: symmetric InfoNCE with same-video negatives masked, AdamW, and
selection of the epoch with the best val R-precision top-3 (the last epoch when val cannot be scored).

Batches are (audio_frames, text_frames, motion, video_id) tensors. Validation collects the val embeddings and
scores R-precision with the same distractor pools every epoch (a generator re-seeded from `seed`), so epochs are
compared on the same draw.
"""
from __future__ import annotations

import math

import numpy as np
import pytorch_lightning as pl
import torch

from gesturegen.metrics.retrieval import r_precision
from gesturegen.models.sync_evaluator import SyncEvaluator, SyncEvaluatorConfig, info_nce


class SyncEvaluatorSystem(pl.LightningModule):
    def __init__(self, config: SyncEvaluatorConfig, temperature: float = 0.1, lr: float = 1e-3,
                 weight_decay: float = 1e-4, pool: int = 32, val_trials: int = 3, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.model = SyncEvaluator(config)
        self.temperature, self.lr, self.weight_decay = temperature, lr, weight_decay
        self.pool, self.val_trials, self.seed = pool, val_trials, seed
        self.history: list[dict] = []   # epoch, train_loss, val_loss, val_top1/2/3
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch, self.best_score = -1, -math.inf
        self._train = [0.0, 0]
        self._val: list[tuple[torch.Tensor, ...]] = []
        self._val_row: dict = {}

    def _loss(self, batch) -> torch.Tensor:
        audio, text, motion, vid = batch
        s = self.model.encode_speech(audio, text if self.model.text_proj is not None else None)
        m = self.model.encode_motion(motion)
        return info_nce(s, m, vid, self.temperature), s, m

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch)
        b = batch[0].shape[0]
        self._train[0] += loss.item() * b
        self._train[1] += b
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=b)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, s, m = self._loss(batch)
        self._val.append((loss.detach() * batch[0].shape[0], s.detach().cpu(), m.detach().cpu(), batch[3].cpu()))

    def on_validation_epoch_end(self) -> None:
        parts, self._val = self._val, []
        if self.trainer.sanity_checking or not parts:
            return
        n = sum(p[1].shape[0] for p in parts)
        s = torch.cat([p[1] for p in parts]).numpy()
        m = torch.cat([p[2] for p in parts]).numpy()
        vid = torch.cat([p[3] for p in parts]).numpy()
        row = {"val_loss": float(sum(p[0].item() for p in parts) / n)}
        pool = retrieval_pool(vid, self.pool)
        if pool is not None:
            rp = r_precision(s, m, vid, np.random.default_rng(self.seed), pool=pool, trials=self.val_trials)
            row.update({f"val_{k}": v for k, v in rp.items()})
            self.log("val_top3", rp["top3"], prog_bar=True)
        self._val_row = row

    def on_train_epoch_end(self) -> None:
        row, self._val_row = self._val_row, {}
        total, n = self._train
        self._train = [0.0, 0]
        row = {"epoch": self.current_epoch + 1, "train_loss": total / n if n else float("nan"), **row}
        self.history.append(row)
        score = row.get("val_top3")
        if score is None:            # val cannot be scored: keep the last epoch
            score = float(self.current_epoch)
        if score > self.best_score:
            self.best_score, self.best_epoch = score, self.current_epoch + 1
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def retrieval_pool(video_ids: np.ndarray, pool: int) -> int | None:
    """The pool that R-precision can use on these windows: `pool`, or smaller when some video has fewer than
    pool - 1 windows of other videos to draw from (k = 1..3 needs at least 4); None when not even that."""
    vids = np.asarray(video_ids)
    _, counts = np.unique(vids, return_counts=True)
    if counts.size < 2:
        return None
    avail = int(vids.size - counts.max()) + 1
    p = min(pool, avail)
    return p if p >= 4 else None
