"""One part's latent diffusion model: a denoiser over the (standardised) continuous latents of a frozen VQ-VAE, its
schedule and objective, and the way back from a sample to motion (ldmc-spec §6).

    x₀ = (z − mean) / std           z: the VQ-VAE's normalised pre-quantisation latents (B, L, C) (extract_codes);
                                    mean, std per (step, channel) over the train split ("standardize"), or 0 and 1
                                    ("none", the original)
    sample x₀ (gesturegen.models.diffusion.sample), z = x₀ · std + mean, then the VQ-VAE's latent normalisation
    again (the original's F.normalize after sampling), optionally the nearest codes, then the VQ-VAE's decoder.

The speech and text features (per frame and pooled) enter the denoiser standardised per dimension with the train
split's mean and std ("standardize", `set_condition_stats`; kept as buffers, so a saved model applies them itself)
or as extract_features wrote them ("none": the default audio features are raw log-mel dB (std ≈ 25), onset
strength and pitch in Hz (mean ≈ 98), which swamped the latent tokens in the transformer's residual stream).

Saved as `model.safetensors` (denoiser, its EMA copy, the latent statistics) + `config.json` (this config and what
it was trained on: dataset, part, the VQ-VAE's folder and config digest), so `evaluate`, `render_videos` and
`gesturegen generate` rebuild it from the folder alone and refuse it beside a VQ-VAE of another dataset or part.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gesturegen.io import read_model_config
from gesturegen.models.denoisers import MODALITIES, Conditions, DenoiserConfig, build_denoiser, context_key
from gesturegen.models.diffusion import SamplerConfig, Schedule, nfe, sample
from gesturegen.models.stroke_plan import StrokePlanConfig, StrokePredictor, bumps, peaks, probabilities

DIFFUSION_FORMAT = "gesturegen-latent-diffusion"
DIFFUSION_VERSION = 3          # 2: the condition statistics (buffers cond_*); 3: the stroke plan (config, weights)


class DiffusionMismatchError(ValueError):
    """A diffusion model used with a VQ-VAE, dataset, part or conditions it was not trained for; names the fix."""


@dataclass(frozen=True)
class LatentDiffusionConfig:
    denoiser: DenoiserConfig
    steps: int = 100
    schedule: Literal["linear", "cosine"] = "linear"
    objective: Literal["eps", "v", "x0"] = "v"
    latent_norm: Literal["faithful", "vector"] = "vector"     # the VQ-VAE's (renormalisation after sampling)
    latent_scale: Literal["standardize", "none"] = "standardize"
    condition_scale: Literal["standardize", "none"] = "standardize"   # the speech and text features
    style_steps: tuple[int, ...] = (2, 3)                     # the reference latent's slots that make the style
    stroke_plan: StrokePlanConfig | None = None               # the predicted stroke plan (gesturegen.models.stroke_plan)

    def __post_init__(self) -> None:
        if self.denoiser.steps != self.steps:
            raise ValueError(f"denoiser steps {self.denoiser.steps} != schedule steps {self.steps}")
        planned = self.stroke_plan is not None
        if planned != (self.denoiser.plan_channels == 1):
            raise ValueError(f"the denoiser has {self.denoiser.plan_channels} plan channel(s); a stroke plan needs 1 "
                             f"and no plan 0")
        if planned and self.denoiser.kind != "transformer":
            raise ValueError("stroke_plan: only the transformer denoiser reads per-frame speech; the unet (the "
                             "original's) has no place for a plan (set stroke_plan.mode: none)")
        if planned and self.stroke_plan.audio_dim != self.denoiser.audio_frame_dim:
            raise ValueError(f"stroke_plan audio_dim {self.stroke_plan.audio_dim} != the denoiser's audio frames "
                             f"{self.denoiser.audio_frame_dim}")
        if self.style_steps and max(self.style_steps) >= self.denoiser.n_latent:
            raise ValueError(f"style_steps {self.style_steps}: the VQ-VAE has {self.denoiser.n_latent} latent steps")

    @staticmethod
    def from_dict(d: dict[str, Any]) -> LatentDiffusionConfig:
        d = dict(d)
        d["denoiser"] = DenoiserConfig(**d["denoiser"])
        d["style_steps"] = tuple(d["style_steps"])
        if d.get("stroke_plan") is not None:
            d["stroke_plan"] = StrokePlanConfig(**d["stroke_plan"])
        return LatentDiffusionConfig(**d)


class LatentDiffusion(nn.Module):
    def __init__(self, config: LatentDiffusionConfig):
        super().__init__()
        self.config = config
        dc = config.denoiser
        self.net = build_denoiser(dc)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.register_buffer("latent_mean", torch.zeros(dc.n_latent, dc.code_dim))
        self.register_buffer("latent_std", torch.ones(dc.n_latent, dc.code_dim))
        for name, dim in self._condition_dims().items():
            self.register_buffer(f"cond_mean_{name}", torch.zeros(dim))
            self.register_buffer(f"cond_std_{name}", torch.ones(dim))
        self.schedule = Schedule(config.steps, config.schedule, config.objective)
        if config.stroke_plan is not None:
            self.plan = StrokePredictor(config.stroke_plan).requires_grad_(False)   # trained apart (fit_predictor)
            self.register_buffer("plan_threshold", torch.tensor(0.5))
        self.info: dict[str, Any] = {}

    # --- latents ---
    def set_latent_stats(self, latents: np.ndarray) -> None:
        """Per (step, channel) mean and std of the train latents (N, L, C) ("standardize"); else 0 and 1."""
        if self.config.latent_scale == "none":
            return
        z = torch.as_tensor(np.asarray(latents, np.float64))
        self.latent_mean.copy_(z.mean(0).float())
        self.latent_std.copy_(z.std(0).clamp_min(1e-4).float())

    def to_x0(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean) / self.latent_std

    def from_x0(self, x0: torch.Tensor) -> torch.Tensor:
        """The VQ-VAE latents of a sample: unstandardised and normalised as the VQ-VAE's encoder normalises."""
        z = x0 * self.latent_std + self.latent_mean
        c = self.config.denoiser
        if self.config.latent_norm == "faithful":
            return F.normalize(z, dim=1)
        return F.normalize(z, dim=2) * (c.code_dim / c.n_latent) ** 0.5

    def style_of(self, ref_latents: torch.Tensor) -> torch.Tensor:
        """The style condition (B, style_dim) from reference latents (B, L, C): their style slots, standardised.
        Computed where the model's statistics are (a GPU while a stage trains there), returned on the input's device."""
        idx = list(self.config.style_steps)
        z = self.to_x0(ref_latents.to(self.latent_mean.device))
        return z[:, idx].reshape(ref_latents.shape[0], -1).to(ref_latents.device)

    # --- conditions ---
    def _condition_dims(self) -> dict[str, int]:
        c = self.config.denoiser
        return {"audio_frames": c.audio_frame_dim, "text_frames": c.text_frame_dim,
                "audio_pooled": c.audio_pooled_dim, "text_pooled": c.text_pooled_dim}

    def set_condition_stats(self, **features: np.ndarray) -> None:
        """Per-dimension mean and std of the train split's speech and text features (audio_frames, text_frames:
        (N, T, D); audio_pooled, text_pooled: (N, D)) ("standardize"; "none" keeps 0 and 1). A dimension that is
        constant in the train split keeps std 1 (it stays constant, and a new value at inference stays finite)."""
        if self.config.condition_scale == "none":
            return
        dims = self._condition_dims()
        if set(features) != set(dims):
            raise ValueError(f"set_condition_stats: expected {sorted(dims)}, got {sorted(features)}")
        for name, a in features.items():
            a = np.asarray(a)
            a = a.reshape(-1, a.shape[-1])
            if a.shape[1] != dims[name]:
                raise DiffusionMismatchError(f"condition {name}: dimension {a.shape[1]}, the model has {dims[name]}")
            mean = np.zeros(a.shape[1])
            sq = np.zeros(a.shape[1])
            for i in range(0, a.shape[0], 65536):          # float64 sums in chunks: no float64 copy of the split
                chunk = a[i:i + 65536].astype(np.float64)
                mean += chunk.sum(0)
                sq += (chunk ** 2).sum(0)
            n = max(a.shape[0], 1)
            mean /= n
            std = np.sqrt(np.maximum(sq / n - mean ** 2, 0.0))
            std[std < 1e-6] = 1.0
            getattr(self, f"cond_mean_{name}").copy_(torch.as_tensor(mean, dtype=torch.float32))
            getattr(self, f"cond_std_{name}").copy_(torch.as_tensor(std, dtype=torch.float32))

    def standardise(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """A speech or text feature (audio_frames, text_frames, audio_pooled, text_pooled) as the model reads it."""
        mean, std = getattr(self, f"cond_mean_{name}"), getattr(self, f"cond_std_{name}")
        return (x - mean.to(x.device)) / std.to(x.device)

    def plan_of(self, audio_frames: torch.Tensor) -> torch.Tensor:
        """The predicted stroke plan (B, T) of standardised audio frames (B, T, Da) (module stroke_plan)."""
        c = self.config.stroke_plan
        prob = probabilities(self.plan, audio_frames, batch_size=max(len(audio_frames), 1))   # one pass
        return bumps(peaks(prob, self.plan_threshold.to(prob.device), c.radius), c.width)

    def scale_conditions(self, cond: Conditions, plan: torch.Tensor | None = None) -> Conditions:
        """The conditions as the denoiser sees them: speech and text standardised (identity before
        set_condition_stats and with "none"); with a stroke plan, the plan (B, T) as the last channel of the audio
        frames: `plan` if given (training: the ground truth's hits), else the predicted one; seed poses and style as
        given."""
        f = self.standardise
        audio = f("audio_frames", cond.audio_frames)
        if self.config.stroke_plan is not None:
            plan = self.plan_of(audio) if plan is None else plan.to(audio.dtype)
            audio = torch.cat([audio, plan[..., None]], dim=-1)
        elif plan is not None:
            raise ValueError("scale_conditions: a plan was given to a model without a stroke plan")
        return Conditions(audio, f("text_frames", cond.text_frames), f("audio_pooled", cond.audio_pooled),
                          f("text_pooled", cond.text_pooled), cond.seed, cond.style)

    # --- sampling ---
    def denoise(self, x: torch.Tensor, t: torch.Tensor, cond: Conditions, keep: torch.Tensor,
                use_ema: bool = True, cache: dict | None = None) -> torch.Tensor:
        return self.sampling_net(use_ema)(x, t, cond, keep, cache=cache)

    def sampling_net(self, use_ema: bool = True) -> nn.Module:
        """The denoiser that samples: the EMA copy or the raw weights."""
        return self.ema if use_ema else self.net

    def check_conditions(self, cond: Conditions) -> None:
        """Every condition tensor has the shape the model was trained with; else DiffusionMismatchError naming it."""
        c = self.config.denoiser
        want = {"audio_frames": (c.n_frames, c.audio_frame_dim), "text_frames": (c.n_frames, c.text_frame_dim),
                "audio_pooled": (c.audio_pooled_dim,), "text_pooled": (c.text_pooled_dim,), "seed": (c.seed_dim,),
                "style": (c.style_dim,)}
        n = len(cond)
        for name, shape in want.items():
            got = tuple(getattr(cond, name).shape)
            if got != (n, *shape):
                raise DiffusionMismatchError(
                    f"condition {name}: shape {got}, the model was trained with {(n, *shape)} (batch {n}); features "
                    f"of another extractor, windows of another length or skeleton, or a reference of another "
                    f"dataset? Use the inputs of the dataset the model was trained on")

    @torch.no_grad()
    def generate(self, cond: Conditions, keep: torch.Tensor, sampler: SamplerConfig,
                 generator: torch.Generator | None = None, use_ema: bool = True,
                 batch_size: int = 1024, memo: SamplingMemo | None = None, tag: object = None) -> torch.Tensor:
        """Latents z (B, L, C) for conditions `cond` (keep: (B, M) which modalities each sample sees).

        `memo` (SamplingMemo): shared by runs of this model with these same conditions (`tag` tells apart the
        condition sets one memo holds), it keeps the scaled conditions and the denoiser's context of `keep` from one
        run to the next; the samples are the same with it or without."""
        c = self.config.denoiser
        self.check_conditions(cond)
        cond = memo.get_or_build((tag, "scaled"), lambda: self.scale_conditions(cond)) if memo is not None else \
            self.scale_conditions(cond)
        net_module = self.sampling_net(use_ema)
        out = []
        for i in range(0, len(cond), batch_size):
            part = cond.slice(i, i + batch_size)
            k = keep[i:i + batch_size]
            cache: dict = {}        # the step-independent context, once per condition set of this run
            if memo is not None and hasattr(net_module, "context"):
                key = context_key(k)
                cache[key] = memo.get_or_build((tag, "context", use_ema, i, batch_size, key),
                                               lambda: net_module.context(part, k))
            conds = {1: part}       # the conditions repeated for guidance's variants, once per run

            def net(x, t, kk, conds=conds, cache=cache):
                reps = x.shape[0] // len(conds[1])
                if reps not in conds:
                    conds[reps] = conds[1].repeat(reps)
                return self.denoise(x, t, conds[reps], kk, use_ema, cache)

            x0 = sample(net, self.schedule, k, (len(part), c.n_latent, c.code_dim), sampler, MODALITIES,
                        generator=generator)
            out.append(self.from_x0(x0))
        return torch.cat(out) if out else torch.zeros(0, c.n_latent, c.code_dim)

    def nfe(self, sampler: SamplerConfig) -> int:
        return nfe(sampler, self.config.steps, MODALITIES)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        for e, p in zip(self.ema.parameters(), self.net.parameters()):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.ema.buffers(), self.net.buffers()):
            e.copy_(b)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters())


def _nbytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Conditions):
        value = value.fields()
    return sum(_nbytes(v) for v in value) if isinstance(value, (tuple, list)) else 0


@dataclass
class SamplingMemo:
    """What sampling runs of one model with the same conditions share (evaluate's rows of a split: other samplers,
    seeds, conditions nulled): the scaled conditions (with the predicted stroke plan) and the denoiser's
    step-independent context per condition set, kept while they fit in `budget_bytes` (beyond it a run computes
    them as without a memo). `reused_seconds` adds up what the reused entries took to build, so that a run's time
    can be reported as it would be alone."""
    budget_bytes: int
    entries: dict = dataclasses.field(default_factory=dict)       # key -> (value, build seconds)
    used_bytes: int = 0
    reused_seconds: float = 0.0

    def get_or_build(self, key, build):
        if key in self.entries:
            value, seconds = self.entries[key]
            self.reused_seconds += seconds
            return value
        t0 = time.perf_counter()
        value = build()
        seconds, size = time.perf_counter() - t0, _nbytes(value)
        if self.used_bytes + size <= self.budget_bytes:
            self.entries[key] = (value, seconds)
            self.used_bytes += size
        return value


def decode(vqvae, z: torch.Tensor, quantize: bool = False, batch_size: int = 1024) -> torch.Tensor:
    """The part's motion (B, T, out_dim) of latents z through a VQ-VAE's decoder: nearest codes first (the original)
    or the continuous latents as they are."""
    out = []
    with torch.no_grad():
        for i in range(0, z.shape[0], batch_size):
            zi = z[i:i + batch_size]
            out.append(vqvae.decode_latents(zi) if quantize else vqvae.decoder(zi))
    c = vqvae.config
    return torch.cat(out) if out else torch.zeros(0, c.n_frames, c.out_dim)


def save_diffusion(model: LatentDiffusion, directory: str | Path, info: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    cfg = {"format": DIFFUSION_FORMAT, "version": DIFFUSION_VERSION, "config": dataclasses.asdict(model.config),
           **info}
    (directory / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return directory


def load_diffusion(directory: str | Path, dataset: str | None = None, part: str | None = None,
                   vqvae_info: dict | None = None) -> LatentDiffusion:
    """Rebuild a saved model (eval mode) from its folder; refuse it for another dataset or part, or beside a VQ-VAE
    (its config.json as `vqvae_info`) other than the one it was trained on."""
    from safetensors.torch import load_file

    from gesturegen.models.checkpoint import load_strict

    directory = Path(directory)
    info, cfg_path = read_model_config(directory, DIFFUSION_FORMAT, DIFFUSION_VERSION, "diffusion")
    for key, want in (("dataset", dataset), ("part", part)):
        if want is not None and info.get(key) != want:
            raise DiffusionMismatchError(
                f"{cfg_path}: this diffusion model was trained for {key} {info.get(key)!r}, not {want!r}; pass "
                f"results/diffusion/{dataset or info.get('dataset')}-{part or info.get('part')}/model")
    if vqvae_info is not None:
        want = info.get("vqvae", {})
        have = {"dataset": vqvae_info.get("dataset"), "part": vqvae_info.get("part"),
                "config": vqvae_info.get("config")}
        for key in ("dataset", "part", "config"):
            if want.get(key) != have[key]:
                raise DiffusionMismatchError(
                    f"{cfg_path}: trained on the latents of a VQ-VAE of {want.get('dataset')!r}/{want.get('part')!r}"
                    f" ({want.get('path')}), but the VQ-VAE given is {have['dataset']!r}/{have['part']!r}"
                    f"{' with another config' if key == 'config' else ''}; pair it with the VQ-VAE it was trained "
                    f"on (retrain with the diffusion stage after train_vqvae changes)")
    model = LatentDiffusion(LatentDiffusionConfig.from_dict(info["config"]))
    weights = directory / "model.safetensors"
    load_strict(model, load_file(str(weights)), weights, "the weights")
    model.info = info
    return model.eval()


def null_keep(n: int, drop: tuple[str, ...] = (), device=None) -> torch.Tensor:
    """keep (n, M): every modality present except those in `drop`."""
    unknown = sorted(set(drop) - set(MODALITIES))
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; choose from {MODALITIES}")
    k = torch.ones(n, len(MODALITIES), dtype=torch.bool, device=device)
    for m in drop:
        k[:, MODALITIES.index(m)] = False
    return k

