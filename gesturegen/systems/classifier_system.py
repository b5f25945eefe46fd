"""Training a motion classifier (the demo oracles): cross-entropy, AdamW, and selection of the epoch with the best
val accuracy (the last epoch when there is no val batch). Batches are (motion (B, T, D), class index (B,))."""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from gesturegen.models.oracles import MotionClassifier, MotionClassifierConfig


class ClassifierSystem(pl.LightningModule):
    def __init__(self, config: MotionClassifierConfig, lr: float = 1e-3, weight_decay: float = 1e-4):
        super().__init__()
        self.save_hyperparameters()
        self.model = MotionClassifier(config)
        self.lr, self.weight_decay = lr, weight_decay
        self.history: list[dict] = []    # epoch, train_loss, val_loss, val_acc
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch, self.best_score = -1, -math.inf
        self._sums = {"train": [0.0, 0, 0], "val": [0.0, 0, 0]}   # loss sum, correct, n
        self._val_row: dict = {}

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        s = self._sums[stage]
        s[0] += loss.item() * len(y)
        s[1] += int((logits.argmax(1) == y).sum())
        s[2] += len(y)
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def _take(self, stage: str) -> tuple[float, float]:
        loss, correct, n = self._sums[stage]
        self._sums[stage] = [0.0, 0, 0]
        return (loss / n, correct / n) if n else (float("nan"), float("nan"))

    def on_validation_epoch_end(self) -> None:
        loss, acc = self._take("val")
        if not self.trainer.sanity_checking:
            self._val_row = {"val_loss": loss, "val_acc": acc}

    def on_train_epoch_end(self) -> None:
        loss, acc = self._take("train")
        row, self._val_row = {"epoch": self.current_epoch + 1, "train_loss": loss, "train_acc": acc,
                              **self._val_row}, {}
        self.history.append(row)
        score = row.get("val_acc", float("nan"))
        if math.isnan(score):
            score = float(self.current_epoch)      # no val: keep the last epoch
        if score > self.best_score:
            self.best_score, self.best_epoch = score, self.current_epoch + 1
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
