"""The denoisers of the latent diffusion, with their condition encoders (ldmc-spec §6.2–6.3).

Both take x_t (B, L, C) (the L latent steps of a VQ-VAE, C = code_dim), the step t (B,) and the conditions, and
return the objective's prediction (B, L, C). Conditions (`Conditions`): speech and text per frame (B, T, ·) and
pooled (B, ·) from extract_features, the seed poses (B, n_seed · in_dim: the first frames of the full-body motion),
the style (B, style_dim: the style slots of a reference window's latent from the same video), and `keep` (B, M)
bool: which modalities (MODALITIES) each sample sees. A modality that is not kept is replaced by a learned null
embedding (transformer) or zeroed (unet, as the original) — condition dropout in training, guidance and ablations
at inference all go through `keep`.

kind "transformer" (ours): the L latent steps are tokens (Linear C → width, learned positions, plus the speech and
    text of the frames each token covers: the T frames resampled to L·k, k = ceil(T / L) per token, projected); each
    block is self-attention over the tokens, cross-attention to the T frames of speech + text (projected, summed per
    frame, learned frame positions), and a feed-forward layer; the step, the style and the seed poses modulate every block
    (adaptive LayerNorm with zero-initialised gates, DiT's adaLN-Zero). Sinusoidal step embedding of t·1000/T.
kind "unet" (faithful, the original's UNet_conditional): the L latent steps are channels and the C code dims a 1-D
    axis; y = [audio | text | seed] (each time_dim/3: the pooled audio and text through frozen seeded random
    projections (the original fed its 512-d x-vector as is and its text through a frozen random layer), the seed
    poses through a Linear, trained unless `train_seed_encoder` is false, the original's bug) is added to a
    sinusoidal embedding of the raw step; DoubleConv/Down/Up/SelfAttention as ldmc-spec §6.3 (the unused
    label_emb, 1.57 M parameters, is left out). No style input, as the original.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

MODALITIES = ("speech", "text", "style", "seed")
KINDS = ("transformer", "unet")


@dataclass
class Conditions:
    audio_frames: torch.Tensor     # (B, T, Da)
    text_frames: torch.Tensor      # (B, T, Dt)
    audio_pooled: torch.Tensor     # (B, Pa)
    text_pooled: torch.Tensor      # (B, Pt)
    seed: torch.Tensor             # (B, n_seed * in_dim)
    style: torch.Tensor            # (B, S)

    def __len__(self) -> int:
        return self.seed.shape[0]

    def fields(self) -> tuple[torch.Tensor, ...]:
        return (self.audio_frames, self.text_frames, self.audio_pooled, self.text_pooled, self.seed, self.style)

    def repeat(self, n: int) -> Conditions:
        return Conditions(*(x.repeat(n, *([1] * (x.dim() - 1))) for x in self.fields()))

    def to(self, device) -> Conditions:
        return Conditions(*(x.to(device) for x in self.fields()))

    def slice(self, i: int, j: int) -> Conditions:
        return Conditions(*(x[i:j] for x in self.fields()))


@dataclass(frozen=True)
class DenoiserConfig:
    n_latent: int                  # L latent steps per window
    code_dim: int                  # C
    n_frames: int                  # T frames of the per-frame features
    audio_frame_dim: int
    text_frame_dim: int
    audio_pooled_dim: int
    text_pooled_dim: int
    seed_dim: int                  # n_seed * in_dim
    style_dim: int                 # the reference latent's style slots, flattened
    steps: int = 100               # diffusion steps (the transformer scales t to 0 … 1000)
    kind: Literal["transformer", "unet"] = "transformer"
    width: int = 128
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    unet_time_dim: int = 1536
    train_seed_encoder: bool = True
    projection_seed: int = 0
    plan_channels: int = 0         # per-frame channels appended to the audio frames (the stroke plan: 1)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"denoiser: one of {KINDS}, got {self.kind!r}")
        if self.kind == "transformer" and self.width % self.heads:
            raise ValueError(f"denoiser width {self.width} must be a multiple of heads {self.heads}")
        if self.kind == "unet":
            if self.code_dim % 8:
                raise ValueError(f"the unet halves the code axis 3 times: code_dim {self.code_dim} must be a "
                                 f"multiple of 8")
            if self.unet_time_dim % 6:
                raise ValueError(f"unet_time_dim {self.unet_time_dim}: a multiple of 6 (3 condition slots, sin/cos)")


def sinusoidal(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[sin(t·ω_k), cos(t·ω_k)], ω_k = 10000^(−2k/dim), k < dim/2 (the original's pos_encoding)."""
    half = dim // 2
    freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, device=t.device, dtype=torch.float32)[:half] / dim))
    arg = t.float()[:, None] * freq[None]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)


def context_key(keep: torch.Tensor) -> tuple:
    """The key of one condition set's step-independent context in a sampling run's cache (LatentTransformer.forward):
    the batch size and which modalities each sample keeps."""
    return keep.shape[0], keep.cpu().numpy().tobytes()


# --- ours: a transformer over the latent tokens ---------------------------------------------------------------------

def _interpolation_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """W (n_out, n_in) with W @ x = F.interpolate(x, n_out, mode="linear", align_corners=True) along the frames."""
    pos = torch.arange(n_out, dtype=torch.float64) * ((n_in - 1) / max(n_out - 1, 1))
    lo = pos.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    w[torch.arange(n_out), lo] += 1 - (pos - lo)
    w[torch.arange(n_out), hi] += pos - lo
    return w.float()


class _CrossAttention(nn.Module):
    """Multi-head attention of the latent tokens to the condition frames; the frames' keys and values are computed
    by `kv` once per sampling run (they do not depend on the step). Written out as softmax(q·kᵀ/√d)·v with the
    keys stored transposed and pre-scaled: for 4 queries against 34 frames, torch's CPU scaled_dot_product_attention
    took 4× as long (15 ms against 4 ms per call at batch 1024, 2 threads), a third of the sampling time."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.kv_proj, self.o = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def kv(self, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(kᵀ/√d_head (B, heads, d_head, T), v (B, heads, T, d_head)) of the condition frames, contiguous (made once
        per sampling run: as views, every step's matmul copied them)."""
        k, v = self.kv_proj(mem).chunk(2, dim=-1)
        k = self._split(k)
        return (k * k.shape[-1] ** -0.5).transpose(-1, -2).contiguous(), self._split(v).contiguous()

    def forward(self, h: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        kt, v = kv
        out = torch.matmul(self._split(self.q(h)), kt).softmax(dim=-1).matmul(v)
        b, _, n, dh = out.shape
        return self.o(out.transpose(1, 2).reshape(b, n, self.heads * dh))


def _softmax_short(a: torch.Tensor) -> torch.Tensor:
    """softmax over a short last axis, as elementwise ops over the whole tensor: torch's CPU kernel vectorises along
    the last axis and is 5× slower for the 8 keys of the token self-attention (2.4 against 0.5 ms at batch 1024)."""
    a = (a - a.amax(dim=-1, keepdim=True)).exp()
    return a / a.sum(dim=-1, keepdim=True)


class _TokenAttention(nn.Module):
    """Multi-head self-attention over the latent tokens, with nn.MultiheadAttention's parameters (names, shapes,
    initialisation) written out as softmax(q·kᵀ/√d)·v: for 9 tokens torch's module spent most of its time outside
    the arithmetic (13 ms against ~4 ms per call at batch 1024 on 2 threads; its training path is Python)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape
        dh = d // self.heads
        q, k, v = F.linear(h, self.in_proj_weight, self.in_proj_bias).view(b, n, 3, self.heads, dh).permute(
            2, 0, 3, 1, 4)
        out = _softmax_short(torch.matmul(q * dh ** -0.5, k.transpose(-1, -2))).matmul(v)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, ff_mult: int, dropout: float):
        super().__init__()
        self.n1 = nn.LayerNorm(d, elementwise_affine=False)
        self.sa = _TokenAttention(d, heads)
        self.n2 = nn.LayerNorm(d)
        self.ca = _CrossAttention(d, heads)
        self.n3 = nn.LayerNorm(d, elementwise_affine=False)
        self.ff = nn.Sequential(nn.Linear(d, ff_mult * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_mult * d, d))
        self.mod = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        nn.init.zeros_(self.mod[1].weight)
        nn.init.zeros_(self.mod[1].bias)

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], c: torch.Tensor) -> torch.Tensor:
        s1, b1, g1, s2, b2, g2 = self.mod(c)[:, None].chunk(6, dim=-1)
        h = self.n1(x) * (1 + s1) + b1
        x = x + g1 * self.sa(h)
        x = x + self.ca(self.n2(x), kv)
        h = self.n3(x) * (1 + s2) + b2
        return x + g2 * self.ff(h)


class LatentTransformer(nn.Module):
    def __init__(self, c: DenoiserConfig):
        super().__init__()
        self.config = c
        d = c.width
        self.inp = nn.Linear(c.code_dim, d)
        self.pos = nn.Parameter(torch.randn(1, c.n_latent, d) * 0.02)
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        a_dim = c.audio_frame_dim + c.plan_channels       # the stroke plan rides with the speech
        self.audio = nn.Linear(a_dim, d)
        self.text = nn.Linear(c.text_frame_dim, d)
        # the aligned path: each latent token also gets the k frames it covers (frames resampled to L * k)
        self.chunk = -(-c.n_frames // c.n_latent)
        # the resampling as a (L·k, T) matrix of linear-interpolation weights (align_corners): one matmul gives the
        # tokens' frames already in token order, where F.interpolate and a permute cost 3 ms + a copy per call
        self.register_buffer("resample", _interpolation_matrix(c.n_frames, c.n_latent * self.chunk),
                             persistent=False)
        self.audio_tok = nn.Linear(self.chunk * a_dim, d)
        self.text_tok = nn.Linear(self.chunk * c.text_frame_dim, d)
        self.frame_pos = nn.Parameter(torch.randn(1, c.n_frames, d) * 0.02)
        self.seed = nn.Sequential(nn.Linear(c.seed_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.style = nn.Sequential(nn.Linear(c.style_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.null = nn.ParameterDict({m: nn.Parameter(torch.randn(d) * 0.02) for m in MODALITIES})
        self.blocks = nn.ModuleList(_Block(d, c.heads, c.ff_mult, c.dropout) for _ in range(c.layers))
        self.out_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out_mod = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, c.code_dim)
        for layer in (self.out_mod[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _pick(self, emb: torch.Tensor, keep: torch.Tensor, name: str) -> torch.Tensor:
        k = keep.view((-1,) + (1,) * (emb.dim() - 1))
        return torch.where(k, emb, self.null[name].to(emb.dtype))

    def _aligned(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) frames -> (B, L, k·D): resampled (linear) to L·k frames, k consecutive frames per latent token."""
        b, _, dim = frames.shape
        return torch.matmul(self.resample.to(frames.dtype), frames).view(b, self.config.n_latent, self.chunk * dim)

    def context(self, cond: Conditions, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list]:
        """What does not depend on the step: the style + seed vector (B, width), the aligned speech + text of each
        latent token (B, L, width) and every block's cross-attention keys and values of the condition frames."""
        vec = self._pick(self.style(cond.style), keep[:, 2], "style") + self._pick(self.seed(cond.seed), keep[:, 3],
                                                                                  "seed")
        tok = (self._pick(self.audio_tok(self._aligned(cond.audio_frames)), keep[:, 0], "speech")
               + self._pick(self.text_tok(self._aligned(cond.text_frames)), keep[:, 1], "text"))
        mem = (self._pick(self.audio(cond.audio_frames), keep[:, 0], "speech")
               + self._pick(self.text(cond.text_frames), keep[:, 1], "text") + self.frame_pos)
        return vec, tok, [block.ca.kv(mem) for block in self.blocks]

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Conditions, keep: torch.Tensor,
                cache: dict | None = None) -> torch.Tensor:
        """`cache`: a dict kept over one sampling run, so that the context is computed once per condition set."""
        c = self.config
        if cache is None:
            vec, tok, kvs = self.context(cond, keep)
        else:
            key = context_key(keep)
            if key not in cache:
                cache[key] = self.context(cond, keep)
            vec, tok, kvs = cache[key]
        vec = vec + self.t_mlp(sinusoidal(t.float() * (1000.0 / c.steps), c.width))
        h = self.inp(x) + self.pos + tok
        for block, kv in zip(self.blocks, kvs):
            h = block(h, kv, vec)
        shift, scale = self.out_mod(vec)[:, None].chunk(2, dim=-1)
        return self.out(self.out_norm(h) * (1 + scale) + shift)


# --- faithful: the original's UNet_conditional -----------------------------------------------------------------------

class _DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int, mid: int | None = None, residual: bool = False):
        super().__init__()
        mid = mid or cout
        self.residual = residual
        self.net = nn.Sequential(nn.Conv1d(cin, mid, 3, padding=1, bias=False), nn.GroupNorm(1, mid), nn.GELU(),
                                 nn.Conv1d(mid, cout, 3, padding=1, bias=False), nn.GroupNorm(1, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x + self.net(x)) if self.residual else self.net(x)


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.conv = nn.Sequential(nn.MaxPool1d(2), _DoubleConv(cin, cin, residual=True), _DoubleConv(cin, cout))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb, cout))

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.emb(e)[:, :, None]


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="linear", align_corners=True)
        self.conv = nn.Sequential(_DoubleConv(cin, cin, residual=True), _DoubleConv(cin, cout, cin // 2))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1)) + self.emb(e)[:, :, None]


class _SelfAttention(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.ln = nn.LayerNorm(ch)
        self.mha = nn.MultiheadAttention(ch, 4, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(ch), nn.Linear(ch, ch), nn.GELU(), nn.Linear(ch, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:       # (B, ch, len): the positions are the tokens
        h = x.transpose(1, 2)
        n = self.ln(h)
        h = self.mha(n, n, n, need_weights=False)[0] + h
        return (self.ff(h) + h).transpose(1, 2)


class FaithfulUNet(nn.Module):
    def __init__(self, c: DenoiserConfig):
        super().__init__()
        self.config = c
        e, k = c.unet_time_dim, c.unet_time_dim // 3
        g = torch.Generator().manual_seed(c.projection_seed)
        # frozen random projections of the pooled features (buffers: saved, never trained)
        self.register_buffer("audio_proj", torch.randn(c.audio_pooled_dim, k, generator=g) / math.sqrt(c.audio_pooled_dim))
        self.register_buffer("text_proj", torch.randn(c.text_pooled_dim, k, generator=g) / math.sqrt(c.text_pooled_dim))
        self.seed_enc = nn.Linear(c.seed_dim, k)
        self.seed_enc.requires_grad_(c.train_seed_encoder)
        self.inc = _DoubleConv(c.n_latent, 64)
        self.down1, self.sa1 = _Down(64, 128, e), _SelfAttention(128)
        self.down2, self.sa2 = _Down(128, 256, e), _SelfAttention(256)
        self.down3, self.sa3 = _Down(256, 256, e), _SelfAttention(256)
        self.bot1, self.bot2, self.bot3 = _DoubleConv(256, 512), _DoubleConv(512, 512), _DoubleConv(512, 256)
        self.up1, self.sa4 = _Up(512, 128, e), _SelfAttention(128)
        self.up2, self.sa5 = _Up(256, 64, e), _SelfAttention(64)
        self.up3, self.sa6 = _Up(128, 64, e), _SelfAttention(64)
        self.outc = nn.Conv1d(64, c.n_latent, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Conditions, keep: torch.Tensor,
                cache: dict | None = None) -> torch.Tensor:
        kf = keep.to(x.dtype)
        y = torch.cat([(cond.audio_pooled @ self.audio_proj) * kf[:, 0:1],
                       (cond.text_pooled @ self.text_proj) * kf[:, 1:2],
                       self.seed_enc(cond.seed) * kf[:, 3:4]], dim=-1)
        e = sinusoidal(t, self.config.unet_time_dim) + y
        x1 = self.inc(x)
        x2 = self.sa1(self.down1(x1, e))
        x3 = self.sa2(self.down2(x2, e))
        x4 = self.sa3(self.down3(x3, e))
        x4 = self.bot3(self.bot2(self.bot1(x4)))
        h = self.sa4(self.up1(x4, x3, e))
        h = self.sa5(self.up2(h, x2, e))
        h = self.sa6(self.up3(h, x1, e))
        return self.outc(h)


def build_denoiser(c: DenoiserConfig) -> nn.Module:
    return LatentTransformer(c) if c.kind == "transformer" else FaithfulUNet(c)
