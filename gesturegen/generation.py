"""Generating motion with the trained latent diffusion models (no files, no params: stages and tools pass arrays).

- `reference_windows`: for every window, reference windows of the same video that do not overlap it in time (the
  style condition's source; a video with no such window gets -1: no style).
- `window_conditions`: the `Conditions` of windows from stored features, seed poses and reference latents.
- `generate_part`: one part's motion (N, T, out_dim) for windows: sample latents, decode through the VQ-VAE.
- `generate_windows`: the whole body (N, T, D) mean-subtracted, body and hand sampled independently with the same
  conditions (ldmc-spec §6.7) and assembled by index, the seed frames set to the given ones.
- `join_seed`: a generated window joined to the seed frames it continues (long-form generation between windows,
  `evaluate` and the diffusion stage's checkpoint selection with the real seed frames), so what is scored is what is
  shown.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gesturegen.models.denoisers import MODALITIES, Conditions
from gesturegen.models.diffusion import SamplerConfig
from gesturegen.models.latent_diffusion import LatentDiffusion, SamplingMemo, decode, null_keep


def reference_windows(videos: np.ndarray, start_s: np.ndarray, end_s: np.ndarray, k: int,
                      rng: np.random.Generator) -> np.ndarray:
    """(N, k) int64: k reference windows per window (drawn with replacement) among the windows of the same video
    whose time span does not overlap its own; -1 where the video has none."""
    videos, start_s, end_s = np.asarray(videos), np.asarray(start_s, float), np.asarray(end_s, float)
    out = np.full((videos.size, k), -1, dtype=np.int64)
    for v in np.unique(videos):
        rows = np.flatnonzero(videos == v)
        s, e = start_s[rows], end_s[rows]
        apart = (e[:, None] <= s[None, :] + 1e-9) | (e[None, :] <= s[:, None] + 1e-9)
        for i, row in enumerate(rows):
            cand = rows[apart[i]]
            if cand.size:
                out[row] = cand[rng.integers(0, cand.size, k)]
    return out


@dataclass
class WindowInputs:
    """What conditions a split's windows: per-frame and pooled speech and text features, the full-body motion
    (for the seed frames) and, per part, the reference latents' rows (`refs`, -1: none) into `ref_latents`."""
    audio_frames: np.ndarray
    text_frames: np.ndarray
    audio_pooled: np.ndarray
    text_pooled: np.ndarray
    seed_motion: np.ndarray        # (N, n_seed, in_dim)
    refs: np.ndarray               # (N,) int64


def window_conditions(model: LatentDiffusion, inputs: WindowInputs, ref_latents: np.ndarray,
                      rows: slice | np.ndarray = slice(None)) -> tuple[Conditions, np.ndarray]:
    """(Conditions, has_style (n,) bool) of windows `rows`."""
    f32 = lambda a: torch.as_tensor(np.array(a, np.float32))     # a copy: the stored arrays are read-only
    refs = np.asarray(inputs.refs)[rows]
    has_style = refs >= 0
    ref = np.asarray(ref_latents[np.maximum(refs, 0)], np.float32)
    # rows without a reference get the reference of row 0 here; `keep` replaces their style by the null embedding
    style = model.style_of(torch.as_tensor(ref)) if len(ref) else torch.zeros(0, model.config.denoiser.style_dim)
    seed = f32(inputs.seed_motion[rows])
    return Conditions(f32(inputs.audio_frames[rows]), f32(inputs.text_frames[rows]), f32(inputs.audio_pooled[rows]),
                      f32(inputs.text_pooled[rows]), seed.reshape(seed.shape[0], -1), style), has_style


def generate_part(model: LatentDiffusion, vqvae, inputs: WindowInputs, ref_latents: np.ndarray,
                  sampler: SamplerConfig, seed: int, drop: Sequence[str] = (), use_ema: bool = True,
                  quantize: bool = False, batch_size: int = 1024, memo: SamplingMemo | None = None) -> np.ndarray:
    """One part's motion (N, T, out_dim) of every window: latents sampled (noise from `seed`), decoded. `memo`: a
    SamplingMemo shared by calls with this model and these inputs and references (the same motion with it or
    without; LatentDiffusion.generate)."""
    n = inputs.seed_motion.shape[0]
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for i in range(0, n, batch_size):
        rows = slice(i, min(n, i + batch_size))
        cond, has_style = window_conditions(model, inputs, ref_latents, rows)
        keep = null_keep(len(cond), tuple(drop))
        keep[:, MODALITIES.index("style")] &= torch.as_tensor(has_style)
        # the network on its device (a GPU while a stage trains there); the noise from the CPU generator `g`
        dev = next(model.parameters()).device
        z = model.generate(cond.to(dev), keep.to(dev), sampler, generator=g, use_ema=use_ema, memo=memo,
                           tag=(i, batch_size))
        vq_dev = next(vqvae.parameters()).device
        out.append(decode(vqvae, z.to(vq_dev), quantize=quantize).cpu().numpy())
    c = vqvae.config
    return np.concatenate(out) if out else np.zeros((0, c.n_frames, c.out_dim), np.float32)


@dataclass
class PartModel:
    """One part's models for generation: its diffusion model, its VQ-VAE and its dimensions in the full body."""
    diffusion: LatentDiffusion
    vqvae: object
    dims: np.ndarray


def style_latents(part: PartModel, reference_motion: np.ndarray) -> np.ndarray:
    """The latents (L, C) of a reference window (T, in_dim) through the part's VQ-VAE encoder: the style source of
    generation from a reference clip. A window of another skeleton or length is refused, naming both."""
    from gesturegen.models.vqvae import VQVAEMismatchError

    c = part.vqvae.config
    ref = np.asarray(reference_motion, np.float32)
    if ref.shape != (c.n_frames, c.in_dim):
        raise VQVAEMismatchError(f"style reference: a window of shape {ref.shape}, the models need ({c.n_frames}, "
                                 f"{c.in_dim}) ({part.vqvae.info.get('dataset')!r} windows); give a reference of the "
                                 f"same dataset and skeleton")
    with torch.no_grad():
        return part.vqvae.encode(torch.as_tensor(ref[None]))[0].numpy()


JOINS = ("paste", "crossfade", "inertialize")


@dataclass(frozen=True)
class Join:
    """How a generated window continues its seed frames (`join_seed`).

    paste: the seed frames, then the window's own frames from n_seed on, as generated: a jump at the seam wherever
    the window's reconstruction of the seed differs from it (what `evaluate` did before; on the demo body: 0.253
    stroke hits per val window at the frame after the seam, the ground truth 0.054). crossfade: the window's first n_seed frames
    cross-faded into the seed frames (weights 1/(n+1) ... n/(n+1)), its later frames as generated (long-form
    generation before; the seam frames are then no longer the seed). inertialize: the seed frames kept, and the
    offset between the seed and the window at the last seed frame, in position and velocity, added to the window's
    next `frames` frames decaying to zero along a cubic Hermite curve (inertialization, Bollo 2018: the transition
    of game animation), so position and velocity are continuous at the seam.
    """
    method: str = "inertialize"
    frames: int = 6

    def __post_init__(self) -> None:
        if self.method not in JOINS:
            raise ValueError(f"join method {self.method!r}: one of {', '.join(JOINS)}")
        if self.frames < 1:
            raise ValueError(f"join frames: at least 1, got {self.frames}")


def join_seed(seed: np.ndarray, window: np.ndarray, join: Join = Join()) -> np.ndarray:
    """Windows (..., T, D) joined to their seed frames (..., n_seed, D) as `join` says (Join): a new array, float32,
    whose first n_seed frames are the seed frames except with crossfade."""
    seed, out = np.asarray(seed, np.float32), np.array(window, np.float32, copy=True)
    n_seed, t = seed.shape[-2], out.shape[-2]
    if seed.shape[:-2] != out.shape[:-2] or seed.shape[-1] != out.shape[-1] or not 0 < n_seed < t:
        raise ValueError(f"join_seed: seed frames {seed.shape} do not fit windows {out.shape}")
    if join.method == "crossfade":
        ramp = (np.arange(1, n_seed + 1, dtype=np.float32) / (n_seed + 1))[:, None]
        out[..., :n_seed, :] = (1 - ramp) * seed + ramp * out[..., :n_seed, :]
        return out
    if join.method == "inertialize":
        last = n_seed - 1
        d0 = seed[..., last, :] - out[..., last, :]
        dv = ((seed[..., last, :] - seed[..., last - 1, :]) - (out[..., last, :] - out[..., last - 1, :])
              if n_seed > 1 else np.zeros_like(d0))
        n = min(join.frames, t - n_seed)
        tau = np.arange(1, n + 1, dtype=np.float32) / join.frames
        h00, h10 = 2 * tau ** 3 - 3 * tau ** 2 + 1, join.frames * (tau ** 3 - 2 * tau ** 2 + tau)
        out[..., n_seed:n_seed + n, :] += h00[:, None] * d0[..., None, :] + h10[:, None] * dv[..., None, :]
    out[..., :n_seed, :] = seed
    return out


@dataclass
class LongForm:
    motion: np.ndarray          # (frames, D) mean-subtracted, frames = n_seed + n_windows * (T - n_seed)
    n_windows: int
    silent: bool                # the speech was silent (or empty): generated without the speech condition
    notes: list


def generate_long(parts: Sequence[PartModel], audio_frames: np.ndarray, text_frames: np.ndarray,
                  audio_pooled: np.ndarray, text_pooled: np.ndarray, sampler: SamplerConfig, seed: int,
                  first_seed: np.ndarray | None = None, styles: Sequence[np.ndarray | None] | None = None,
                  audio: np.ndarray | None = None, silence_rms: float = 1e-4, use_ema: bool = True,
                  quantize: bool = False, progress=None, join: Join = Join()) -> LongForm:
    """A whole recording as consecutive windows (per-window features (N, T, ·) and (N, ·), windows starting every
    T − n_seed frames): the first window's seed frames are `first_seed` (n_seed, D) (None: the dataset's mean pose,
    0 after mean subtraction), every later window's are the last n_seed frames generated so far (the original never
    updated its seed); each window is joined to those frames by `join` (join_seed; the default inertializes the
    seam). `styles`: per part the latents (L, C) of a reference window (style_latents) or None (no style). `audio`:
    the waveform, only to tell silence (RMS below `silence_rms`, or empty): then the speech condition is nulled
    and `silent` is set."""
    d0 = parts[0].diffusion.config.denoiser
    n, t = audio_frames.shape[0], d0.n_frames
    in_dim = parts[0].vqvae.config.in_dim
    n_seed = d0.seed_dim // in_dim
    notes: list = []
    silent = audio is not None and (np.asarray(audio).size == 0 or
                                    float(np.sqrt(np.mean(np.square(np.asarray(audio, np.float64))))) < silence_rms)
    if silent:
        notes.append("the speech is silent: generated without the speech condition")
    first = np.zeros((n_seed, in_dim), np.float32) if first_seed is None else np.asarray(first_seed, np.float32)
    if first.shape != (n_seed, in_dim):
        raise ValueError(f"first_seed: shape {first.shape}, expected ({n_seed}, {in_dim})")
    out = np.zeros((n_seed + n * (t - n_seed), in_dim), np.float32)
    out[:n_seed] = first
    g = torch.Generator().manual_seed(int(seed))
    f32 = lambda a: torch.as_tensor(np.array(a, np.float32)[None])     # one window as a batch of 1
    for k in progress(range(n)) if progress else range(n):
        at = k * (t - n_seed)
        seed_frames = out[at:at + n_seed].copy()
        window = np.zeros((t, in_dim), np.float32)
        for j, part in enumerate(parts):
            m = part.diffusion
            ref = None if styles is None else styles[j]
            style = (m.style_of(torch.as_tensor(np.asarray(ref, np.float32)[None])) if ref is not None
                     else torch.zeros(1, m.config.denoiser.style_dim))
            cond = Conditions(f32(audio_frames[k]), f32(text_frames[k]), f32(audio_pooled[k]), f32(text_pooled[k]),
                              torch.as_tensor(seed_frames.reshape(1, -1)), style)
            drop = tuple(x for x, off in (("speech", silent), ("style", ref is None)) if off)
            z = m.generate(cond, null_keep(1, drop), sampler, generator=g, use_ema=use_ema)
            window[:, part.dims] = decode(part.vqvae, z, quantize=quantize)[0].numpy()
        out[at:at + t] = join_seed(seed_frames, window, join)
    return LongForm(out, n, bool(silent), notes)
