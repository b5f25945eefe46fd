"""The EMA-reset vector quantizer of T2M-GPT / LDMC (ldmc-spec §4.2), with its state kept where it belongs.

Nearest code by squared Euclidean distance; the codebook follows an exponential moving average (μ) of the vectors
assigned to each code; codes whose EMA count falls below 1 ("dead") are replaced by vectors of the current batch
(tiled with small noise when the batch has fewer vectors than codes); straight-through gradient and a commitment
loss MSE(x, sg(x_q)) (no codebook loss: the EMA replaces it).

Fixes over the original, each needed for exact resume and multi-GPU training:
- the codebook, the EMA sums and counts and the init flag are **buffers**, saved in every checkpoint (the original
  kept them as plain attributes: a resumed run re-initialised its codebook from the first batch);
- under DDP the batch statistics are summed over ranks and the init/reset vectors are drawn from the rows of all
  ranks in rank order, so every rank keeps the same codebook (the original let them drift apart), the one a single
  process would keep with the concatenated batch;
- the noise of the init/reset tiling is drawn from a generator seeded by (`seed`, update count), a buffer too, so a
  resumed run draws the same noise as an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gesturegen.distributed import gather_rows, sum_ranks


@dataclass
class Quantized:
    x_q: torch.Tensor          # (N, C) straight-through quantised vectors (value of the code, gradient of x)
    indices: torch.Tensor      # (N,) int64
    commit: torch.Tensor       # scalar MSE(x, sg(x_q))
    perplexity: torch.Tensor   # scalar exp(entropy of this batch's code histogram)


class QuantizeEMAReset(nn.Module):
    def __init__(self, codebook_size: int, code_dim: int, mu: float = 0.99, seed: int = 0,
                 reset_below: float = 1.0):
        super().__init__()
        if codebook_size < 2 or code_dim < 1 or not 0.0 < mu < 1.0:
            raise ValueError(f"quantizer: codebook_size >= 2, code_dim >= 1 and 0 < mu < 1 needed, got "
                             f"{codebook_size}, {code_dim}, {mu}")
        self.codebook_size, self.code_dim, self.mu, self.seed = codebook_size, code_dim, mu, seed
        # a code whose EMA count (assignments per step) is below this is dead and reset; the original's 1.0 resets
        # nearly every code at every step when a batch has fewer vectors than codes (LDMC: 128 vs 1024)
        self.reset_below = reset_below
        self.register_buffer("codebook", torch.zeros(codebook_size, code_dim))
        self.register_buffer("code_sum", torch.zeros(codebook_size, code_dim))
        self.register_buffer("code_count", torch.zeros(codebook_size))
        self.register_buffer("initted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    # --- helpers ---
    def _tile(self, x: torch.Tensor) -> torch.Tensor:
        """At least `codebook_size` rows from x: repeated with Gaussian noise (std 0.01/sqrt(C)) when x has fewer."""
        n, c = x.shape
        if n >= self.codebook_size:
            return x
        repeats = (self.codebook_size + n - 1) // n
        gen = torch.Generator(device="cpu").manual_seed(int(self.seed) * 1_000_003 + int(self.updates))
        noise = torch.randn((n * repeats, c), generator=gen).to(x.device, x.dtype)
        return x.repeat(repeats, 1) + noise * (0.01 / c ** 0.5)

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        rows = self._tile(gather_rows(x))[: self.codebook_size].clone()
        self.codebook.copy_(rows)
        self.code_sum.copy_(rows)
        # every code starts at the reset threshold (the original: 1.0 = its threshold): a code the first update does
        # not use is reset at once, as in the original, whatever the threshold
        self.code_count.fill_(self.reset_below)
        self.initted.fill_(True)

    @torch.no_grad()
    def _update(self, x: torch.Tensor, indices: torch.Tensor) -> None:
        onehot = F.one_hot(indices, self.codebook_size).to(x.dtype)         # (N, K)
        code_sum = sum_ranks(onehot.t() @ x)                         # (K, C)
        code_count = sum_ranks(onehot.sum(0))                        # (K,)
        rand = self._tile(gather_rows(x))[: self.codebook_size]
        self.code_sum.mul_(self.mu).add_(code_sum, alpha=1.0 - self.mu)
        self.code_count.mul_(self.mu).add_(code_count, alpha=1.0 - self.mu)
        alive = (self.code_count >= self.reset_below).unsqueeze(1).to(x.dtype)
        update = self.code_sum / self.code_count.clamp_min(1e-12).unsqueeze(1)
        self.codebook.copy_(alive * update + (1.0 - alive) * rand)
        self.updates.add_(1)

    # --- public ---
    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code of each row of x (N, C), by squared Euclidean distance."""
        cb = self.codebook
        dist = (x.pow(2).sum(-1, keepdim=True) - 2 * x @ cb.t() + cb.pow(2).sum(-1)[None])
        return dist.argmin(-1)

    def dequantize(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.codebook)

    def dead_codes(self) -> int:
        """Codes whose EMA count is below `reset_below`: the ones the next training step would reset."""
        return int((self.code_count < self.reset_below).sum()) if bool(self.initted) else self.codebook_size

    def forward(self, x: torch.Tensor) -> Quantized:
        """Quantise rows x (N, C); in training mode, initialise (first call) and update the codebook first."""
        if x.dim() != 2 or x.shape[1] != self.code_dim:
            raise ValueError(f"quantizer: expected (N, {self.code_dim}) vectors, got {tuple(x.shape)}")
        if self.training and not bool(self.initted):
            self._init(x.detach())
        indices = self.nearest(x.detach())
        x_d = self.dequantize(indices)                   # the codebook before this step's update (as the original)
        if self.training:
            self._update(x.detach(), indices)
        counts = torch.bincount(indices, minlength=self.codebook_size).to(x.dtype)
        prob = counts / counts.sum()
        perplexity = torch.exp(-(prob * torch.log(prob + 1e-7)).sum())
        commit = F.mse_loss(x, x_d.detach())
        x_q = x + (x_d - x).detach()
        return Quantized(x_q, indices, commit, perplexity)
