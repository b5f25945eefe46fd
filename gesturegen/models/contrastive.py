"""Contrastive terms that pull the VQ-VAE's latent steps towards the speech, the text and the video (ldmc-spec §4.3).

Latent steps (of the normalised, pre-quantisation latents z (B, L, C)): step 0 against the text, step 1 against the
audio, steps 2 and 3 against other windows of the same video ("style").

mode "faithful" (the original, exactly up to numerics):
    sim(g, o, M, τ): S[a, b] = cos(g[a], o[b]) / τ;  loss = mean_a -(Σ_b M[a,b]) · log(P_a / N_a) with
    P_a = Σ_b M[a,b] e^S[a,b] and N_a = Σ_b (1 - M[a,b]) e^S[a,b]: the positives are *not* in the denominator, one
    direction only. Text and audio: M = identity, τ 0.01; style: M[a,b] = same video (diagonal included), τ 1, on
    steps 2 and 3, averaged. The text (and the audio, when its dimension is not code_dim) goes through a frozen
    random projection, seeded and saved with the model (the original's `textLayer`). Weight 5e-7 on the sum.
    The log-ratio is computed as logsumexp(S over M) - logsumexp(S over not-M), which is the same number without the
    overflow of e^(1/0.01); a batch whose rows have no negative (every window from one video: the original's
    ±inf) is counted and skipped.
mode "infonce" (our default): symmetric InfoNCE between a latent step and a *trained* projection of the per-frame
    features (Conv1d over the motion's frames, mean over time, Linear to code_dim), with the other windows of the
    same video removed from the negatives; the style steps use a supervised-contrastive loss (positives: other
    windows of the same video; a window with no positive in the batch is left out). Weights and temperatures are
    params. A batch in which no row has a valid negative is counted and skipped.
mode "none": no contrastive term (the projections still exist, frozen, so that retrieval can be reported; not "off",
    which YAML reads as false).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gesturegen.distributed import gather_rows

MODES = ("none", "faithful", "infonce")
TEXT_STEP, AUDIO_STEP, STYLE_STEPS = 0, 1, (2, 3)


@dataclass(frozen=True)
class ContrastiveConfig:
    mode: Literal["none", "faithful", "infonce"] = "infonce"
    code_dim: int = 512
    audio_dim: int = 136            # pooled (faithful) or per-frame (infonce) feature dims, from extract_features
    text_dim: int = 384
    audio_frame_dim: int = 68
    text_frame_dim: int = 384
    weight: float = 5e-7            # faithful: one weight on text + audio + style
    tau: float = 0.01               # faithful text/audio temperature (style: 1, hard-coded in the original)
    weight_text: float = 0.001      # infonce
    weight_audio: float = 0.001
    weight_style: float = 0.0005
    tau_speech: float = 0.1
    tau_style: float = 0.2
    head_hidden: int = 128
    projection_seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"contrastive mode: one of {MODES}, got {self.mode!r}")
        if min(self.tau, self.tau_speech, self.tau_style) <= 0:
            raise ValueError("contrastive temperatures must be > 0")


def _frozen_projection(in_dim: int, out_dim: int, gen: torch.Generator) -> torch.Tensor:
    """A random Linear weight as nn.Linear initialises it (U(±1/sqrt(in))), from a seeded generator."""
    bound = 1.0 / in_dim ** 0.5
    return (torch.rand((out_dim, in_dim), generator=gen) * 2 - 1) * bound


class FrameHead(nn.Module):
    """Per-frame features (B, T, D) -> (B, C): Conv1d k3 -> ReLU -> mean over frames -> Linear."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.conv = nn.Conv1d(in_dim, hidden, 3, padding=1)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.conv(x.transpose(1, 2))).mean(-1))


@dataclass
class ContrastiveTerms:
    total: torch.Tensor                  # weighted sum (0 in mode none or when every term skipped)
    text: torch.Tensor | None            # unweighted terms (None: skipped this batch)
    audio: torch.Tensor | None
    style: torch.Tensor | None
    skipped: int                         # terms skipped in this batch (no valid negative / positive)


def faithful_loss(g: torch.Tensor, o: torch.Tensor, mask: torch.Tensor, tau: float) -> torch.Tensor | None:
    """The original's sim-loss (module docstring), rows g[a] against all o[b]. Rows without a negative (the
    original's ±inf) or without a positive are left out of the mean; None when no row is left."""
    s = F.normalize(g, dim=-1) @ F.normalize(o, dim=-1).t() / tau        # (B, B) S[a, b] = cos(g[a], o[b]) / τ
    m = mask.to(torch.bool)
    neg = ~m
    rows = neg.any(1) & m.any(1)
    if not bool(rows.any()):
        return None
    minus_inf = torch.finfo(s.dtype).min
    log_p = torch.logsumexp(s.masked_fill(neg, minus_inf), dim=1)        # log P_a without overflowing e^(1/τ)
    log_n = torch.logsumexp(s.masked_fill(m, minus_inf), dim=1)          # log N_a
    per_row = -m.sum(1).to(s.dtype) * (log_p - log_n)
    return per_row[rows].mean()


def info_nce(a: torch.Tensor, b: torch.Tensor, video_ids: torch.Tensor, tau: float) -> torch.Tensor | None:
    """Symmetric InfoNCE of pairs (a[i], b[i]); other windows of the same video are not negatives. Rows without a
    negative are left out; None when no row has one."""
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).t() / tau
    same = video_ids[:, None] == video_ids[None, :]
    eye = torch.eye(len(video_ids), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    rows = (~same).any(1)
    if not bool(rows.any()):
        return None
    target = torch.arange(len(video_ids), device=logits.device)
    la = F.cross_entropy(logits[rows], target[rows])
    lb = F.cross_entropy(logits.t()[rows], target[rows])
    return 0.5 * (la + lb)


def sup_con(z: torch.Tensor, video_ids: torch.Tensor, tau: float) -> torch.Tensor | None:
    """Supervised contrastive loss: positives are the other windows of the same video, the denominator every other
    window. Rows without a positive or without a negative are left out; None when none is left."""
    s = F.normalize(z, dim=-1) @ F.normalize(z, dim=-1).t() / tau
    n = len(video_ids)
    eye = torch.eye(n, dtype=torch.bool, device=s.device)
    pos = (video_ids[:, None] == video_ids[None, :]) & ~eye
    rows = pos.any(1) & (~pos & ~eye).any(1)
    if not bool(rows.any()):
        return None
    log_prob = s - torch.logsumexp(s.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    mean_pos = (log_prob * pos).sum(1) / pos.sum(1).clamp_min(1)
    return -mean_pos[rows].mean()


class Contrastive(nn.Module):
    """The contrastive terms and the projections of the speech and text features into the latent space."""

    def __init__(self, config: ContrastiveConfig):
        super().__init__()
        self.config = c = config
        gen = torch.Generator().manual_seed(int(c.projection_seed))
        # frozen random projections (faithful, and for retrieval in mode none): buffers, saved, never trained
        self.register_buffer("text_proj", _frozen_projection(c.text_dim, c.code_dim, gen))
        self.register_buffer("audio_proj", torch.eye(c.code_dim) if c.audio_dim == c.code_dim
                             else _frozen_projection(c.audio_dim, c.code_dim, gen))
        if c.mode == "infonce":
            self.audio_head = FrameHead(c.audio_frame_dim, c.head_hidden, c.code_dim)
            self.text_head = FrameHead(c.text_frame_dim, c.head_hidden, c.code_dim)

    def embed(self, audio_pooled: torch.Tensor, text_pooled: torch.Tensor, audio_frames: torch.Tensor,
              text_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(audio, text) in the latent space (B, C): trained heads in mode infonce, frozen projections otherwise."""
        if self.config.mode == "infonce":
            return self.audio_head(audio_frames), self.text_head(text_frames)
        return audio_pooled @ self.audio_proj.t(), text_pooled @ self.text_proj.t()

    def forward(self, z: torch.Tensor, audio_pooled: torch.Tensor, text_pooled: torch.Tensor,
                audio_frames: torch.Tensor, text_frames: torch.Tensor, video_ids: torch.Tensor) -> ContrastiveTerms:
        c = self.config
        zero = z.new_zeros(())
        if c.mode == "none":
            return ContrastiveTerms(zero, None, None, None, 0)
        if z.shape[1] < 4:
            raise ValueError(f"contrastive learning needs 4 latent steps (text, audio, 2 x style), got {z.shape[1]}")
        audio, text = self.embed(audio_pooled, text_pooled, audio_frames, text_frames)
        # under DDP every rank scores the whole batch (its negatives are the other ranks' windows too), as one
        # process would; the gathered rows carry their gradient back to the rank that holds them
        z, audio, text = (gather_rows(t, grad=True) for t in (z, audio, text))
        video_ids = gather_rows(video_ids)
        if c.mode == "faithful":
            eye = torch.eye(z.shape[0], device=z.device)
            same = (video_ids[:, None] == video_ids[None, :]).to(z.dtype)
            lt = faithful_loss(z[:, TEXT_STEP], text, eye, c.tau)
            la = faithful_loss(z[:, AUDIO_STEP], audio, eye, c.tau)
            s1 = faithful_loss(z[:, STYLE_STEPS[0]], z[:, STYLE_STEPS[0]], same, 1.0)
            s2 = faithful_loss(z[:, STYLE_STEPS[1]], z[:, STYLE_STEPS[1]], same, 1.0)
            ls = None if s1 is None or s2 is None else 0.5 * (s1 + s2)
            terms = [(lt, c.weight), (la, c.weight), (ls, c.weight)]
        else:
            lt = info_nce(z[:, TEXT_STEP], text, video_ids, c.tau_speech)
            la = info_nce(z[:, AUDIO_STEP], audio, video_ids, c.tau_speech)
            s1 = sup_con(z[:, STYLE_STEPS[0]], video_ids, c.tau_style)
            s2 = sup_con(z[:, STYLE_STEPS[1]], video_ids, c.tau_style)
            ls = None if s1 is None or s2 is None else 0.5 * (s1 + s2)
            terms = [(lt, c.weight_text), (la, c.weight_audio), (ls, c.weight_style)]
        total = zero
        for t, w in terms:
            if t is not None:
                total = total + w * t
        return ContrastiveTerms(total, lt, la, ls, sum(t is None for t, _ in terms))
