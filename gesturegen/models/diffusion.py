"""Latent diffusion apart from the networks: noise schedules, training objectives and samplers (ldmc-spec §6.4–6.5).

Schedules (`steps` = T diffusion steps; ᾱ_t = Π_{s<=t} (1 - β_s), t = 0 … T-1):
    linear  the original's: β linear from 1e-4·1000/T to 0.02·1000/T (0.001 → 0.2 at T = 100, the standard DDPM
            schedule at T = 1000), float64, clipped at 0.999 (T < 21 would give β > 1)
    cosine  Nichol & Dhariwal (s = 0.008, β clipped at 0.999)
Objectives: what the network predicts, `eps` (the original), `v` (√ᾱ·ε − √(1−ᾱ)·x₀) or `x0`; any of them converts to
the others at a given (x_t, t), so every sampler works with every objective.

Samplers (a denoiser is `net(x_t (B, L, C), t (B,) long, keep (B, M) bool) -> prediction (B, L, C)`; `keep` says
which condition modalities each sample sees, gesturegen.models.denoisers.MODALITIES):
    ddpm_lerp   the original (faithful): i = T-1 … 1, ε̂ = ε_u + 0.5·(ε_c − ε_u) (an interpolation that weakens the
                condition, not guidance), x ← (x − β_i/√(1−ᾱ_i)·ε̂)/√α_i + √β_i·z, z = 0 at i = 1; always
                2·(T−1) network evaluations (index 0 is never visited)
    ddim        diffusers' DDIMScheduler (η 0, trailing timesteps): any number of steps 1 … T
    dpmsolver++ diffusers' DPMSolverMultistepScheduler (2nd order, steps uniform in log-SNR, `use_lu_lambdas`: with
                the linear schedule's long tail of tiny ᾱ, evenly spaced timesteps shrink the samples' spread at 10
                steps to 0.82 of the data's for an exact Gaussian denoiser, log-SNR spacing keeps 1.02): any number
                of steps 1 … T
    ddpm        diffusers' DDPMScheduler: ancestral sampling through all T steps (the 1,000-step reference when T is)
Guidance (ddim, dpmsolver++, ddpm): per-modality classifier-free guidance on the prediction,
    p = p(c) + Σ_m (w_m − 1)·(p(c) − p(c without m)),
which for one modality is the usual uncond + w·(cond − uncond); a modality with w_m = 1 costs nothing, each other
one a network evaluation per step (the variants run as one batch). With `guidance_all` w ≠ 1 the term
(w − 1)·(p(c) − p(∅)) is added as well.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

SCHEDULES = ("linear", "cosine")
OBJECTIVES = ("eps", "v", "x0")
SAMPLERS = ("ddpm_lerp", "ddim", "dpmsolver++", "ddpm")
_DIFFUSERS_PREDICTION = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class SamplerError(ValueError):
    """A sampler asked for something it cannot do (an unsupported number of steps, an unknown name)."""


def make_betas(steps: int, schedule: str = "linear") -> np.ndarray:
    """β_t (float64, T values) of a schedule (module docstring)."""
    if steps < 2:
        raise ValueError(f"diffusion steps: at least 2, got {steps}")
    if schedule == "linear":
        scale = 1000.0 / steps
        return np.minimum(np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64), 0.999)
    if schedule == "cosine":
        s = 0.008
        f = np.cos((np.arange(steps + 1, dtype=np.float64) / steps + s) / (1 + s) * math.pi / 2) ** 2
        return np.minimum(1 - f[1:] / f[:-1], 0.999)
    raise ValueError(f"schedule: one of {SCHEDULES}, got {schedule!r}")


class Schedule:
    """ᾱ and friends of a schedule as float64 numpy and float32 torch; q_sample, training targets, conversions."""

    def __init__(self, steps: int, schedule: str = "linear", objective: str = "eps"):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective: one of {OBJECTIVES}, got {objective!r}")
        self.steps, self.schedule, self.objective = steps, schedule, objective
        self.betas = make_betas(steps, schedule)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(self.alphas)
        self._sa = torch.as_tensor(np.sqrt(self.alphas_cumprod), dtype=torch.float32)
        self._s1a = torch.as_tensor(np.sqrt(1.0 - self.alphas_cumprod), dtype=torch.float32)

    def _coef(self, t: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (-1,) + (1,) * (x.dim() - 1)
        return (self._sa.to(x.device)[t].view(shape), self._s1a.to(x.device)[t].view(shape))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        a, s = self._coef(t, x0)
        return a * x0 + s * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.objective == "eps":
            return noise
        if self.objective == "x0":
            return x0
        a, s = self._coef(t, x0)
        return a * noise - s * x0

    def to_eps_x0(self, pred: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ε̂, x̂₀) from a prediction of this schedule's objective at (x_t, t)."""
        a, s = self._coef(t, x_t)
        if self.objective == "eps":
            return pred, (x_t - s * pred) / a
        if self.objective == "x0":
            return (x_t - a * pred) / s, pred
        return a * pred + s * x_t, a * x_t - s * pred


@dataclass(frozen=True)
class SamplerConfig:
    name: Literal["ddpm_lerp", "ddim", "dpmsolver++", "ddpm"] = "dpmsolver++"
    steps: int = 10                        # sampler steps (ddpm_lerp and ddpm: always the schedule's)
    guidance: dict[str, float] = field(default_factory=dict)   # per modality w (missing: 1)
    guidance_all: float = 1.0
    lerp: float = 0.5                      # ddpm_lerp's interpolation weight (the original's cfg_scale)


def check_sampler(cfg: SamplerConfig, schedule_steps: int, modalities: Sequence[str]) -> None:
    """Raise SamplerError when `cfg` cannot run on a model of `schedule_steps` steps (names the fix)."""
    if cfg.name not in SAMPLERS:
        raise SamplerError(f"sampler {cfg.name!r}: choose one of {SAMPLERS}")
    unknown = sorted(set(cfg.guidance) - set(modalities))
    if unknown:
        raise SamplerError(f"guidance for unknown modalities {unknown}; the model's are {list(modalities)}")
    if cfg.name in ("ddim", "dpmsolver++") and not 1 <= cfg.steps <= schedule_steps:
        raise SamplerError(f"sampler {cfg.name}: {cfg.steps} steps asked, the model has {schedule_steps} diffusion "
                           f"steps; use 1 … {schedule_steps}")
    if cfg.name == "ddpm_lerp" and cfg.steps not in (schedule_steps - 1, 2 * (schedule_steps - 1)):
        raise SamplerError(f"sampler ddpm_lerp (the original's) visits every step: {schedule_steps - 1} steps, "
                           f"{2 * (schedule_steps - 1)} network evaluations; {cfg.steps} is not supported (use "
                           f"ddim or dpmsolver++ for fewer)")
    if cfg.name == "ddpm" and cfg.steps != schedule_steps:
        raise SamplerError(f"sampler ddpm is ancestral through all {schedule_steps} steps; {cfg.steps} is not "
                           f"supported (use ddim or dpmsolver++ for fewer)")


def evaluations_per_step(cfg: SamplerConfig, modalities: Sequence[str]) -> int:
    """Network evaluations (samples through the network) per sampler step and window."""
    if cfg.name == "ddpm_lerp":
        return 2
    return 1 + sum(1 for m in modalities if cfg.guidance.get(m, 1.0) != 1.0) + int(cfg.guidance_all != 1.0)


def nfe(cfg: SamplerConfig, schedule_steps: int, modalities: Sequence[str]) -> int:
    """Network evaluations per window of a whole sampling run."""
    steps = schedule_steps - 1 if cfg.name == "ddpm_lerp" else schedule_steps if cfg.name == "ddpm" else cfg.steps
    return steps * evaluations_per_step(cfg, modalities)


def _diffusers_scheduler(cfg: SamplerConfig, schedule: Schedule):
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    common = {"num_train_timesteps": schedule.steps, "trained_betas": schedule.betas.tolist(),
              "prediction_type": _DIFFUSERS_PREDICTION[schedule.objective]}
    if cfg.name == "ddim":
        s = DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True, timestep_spacing="trailing")
    elif cfg.name == "dpmsolver++":
        s = DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2,
                                        use_lu_lambdas=True, lower_order_final=True, final_sigmas_type="zero")
    else:
        s = DDPMScheduler(**common, clip_sample=False, variance_type="fixed_small")
    s.set_timesteps(schedule.steps if cfg.name == "ddpm" else cfg.steps)
    return s


def _guided(net: Denoiser, x: torch.Tensor, t: torch.Tensor, keep: torch.Tensor, cfg: SamplerConfig,
            modalities: Sequence[str]) -> torch.Tensor:
    """The guided prediction at (x, t): p(c) + Σ_m (w_m − 1)(p(c) − p(c∖m)) [+ (w_all − 1)(p(c) − p(∅))], all the
    variants through the network as one batch."""
    variants, weights = [keep], []
    for j, m in enumerate(modalities):
        w = cfg.guidance.get(m, 1.0)
        if w != 1.0:
            k = keep.clone()
            k[:, j] = False
            variants.append(k)
            weights.append(w - 1.0)
    if cfg.guidance_all != 1.0:
        variants.append(torch.zeros_like(keep))
        weights.append(cfg.guidance_all - 1.0)
    if len(variants) == 1:
        return net(x, t, keep)
    n = len(variants)
    out = net(x.repeat(n, 1, 1), t.repeat(n), torch.cat(variants)).chunk(n)
    pred = out[0]
    for w, o in zip(weights, out[1:]):
        pred = pred + w * (out[0] - o)
    return pred


def _randn(shape, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (a CPU generator by default) and moved to `device`:
    the same noise, so the same samples up to rounding, whichever device the network runs on."""
    src = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=src).to(device)


@torch.no_grad()
def sample(net: Denoiser, schedule: Schedule, keep: torch.Tensor, shape: tuple[int, ...], cfg: SamplerConfig,
           modalities: Sequence[str], generator: torch.Generator | None = None,
           noise: torch.Tensor | None = None) -> torch.Tensor:
    """Samples x₀ (B, L, C) from noise (drawn with `generator` unless given), for conditions whose presence per
    sample and modality is `keep` (B, M) bool; the network closes over the condition tensors."""
    check_sampler(cfg, schedule.steps, modalities)
    device = keep.device
    x = noise if noise is not None else _randn(shape, generator, device)
    b = x.shape[0]
    if cfg.name == "ddpm_lerp":
        none = torch.zeros_like(keep)
        for i in range(schedule.steps - 1, 0, -1):
            t = torch.full((b,), i, dtype=torch.long, device=device)
            out = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([keep, none]))
            eps_c, _ = schedule.to_eps_x0(out[:b], x, t)
            eps_u, _ = schedule.to_eps_x0(out[b:], x, t)
            eps = torch.lerp(eps_u, eps_c, cfg.lerp)
            beta, alpha, abar = (float(v[i]) for v in (schedule.betas, schedule.alphas, schedule.alphas_cumprod))
            x = (x - beta / math.sqrt(1 - abar) * eps) / math.sqrt(alpha)
            if i > 1:
                x = x + math.sqrt(beta) * _randn(x.shape, generator, device)
        return x
    sched = _diffusers_scheduler(cfg, schedule)
    for ts in sched.timesteps:
        t = torch.full((b,), int(ts), dtype=torch.long, device=device)
        pred = _guided(net, x, t, keep, cfg, modalities)
        x = sched.step(pred, ts, x, generator=generator).prev_sample if cfg.name == "ddpm" else \
            sched.step(pred, ts, x).prev_sample
    return x
