"""FGD feature extractors: the HA2G/DiffGesture `MotionAE` (TED Expressive) and the AQGT `EmbeddingNet` pose encoder.

Both are the Trimodal `PoseEncoderConv` stack (Yoon et al. 2020) with the module and parameter names of the
published checkpoints (metrics.md §2.9, ldmc-spec §7), so their state dicts load key for key:

    MotionAE (126-d, 34 frames):   encoder.net.{0,1,2}.{0,1}.*, encoder.net.3.*, encoder.out_net.{0,1,3,4,6}.*,
                                    decoder.pre_net.{0,1,3}.*, decoder.net.{0,1,3,4,6,7}.*   -> z (128-d)
    AQGT EmbeddingNet (159-d):      pose_encoder.net.*, pose_encoder.out_net.*, pose_encoder.fc_{mu,logvar}.*
                                    on frames 4..33 (30 frames, flatten 320)                   -> mu (32-d)

The published out_net/pre_net LeakyReLUs were built as `nn.LeakyReLU(True)`, i.e. negative_slope = 1.0 (identity);
`leaky_slope_quirk=True` keeps that so the published weights compute what they computed.

Our own encoders are stored as `model.safetensors` + `config.json` (save_encoder / load_encoder); the published
`.bin` files are read with torch.load(weights_only=True), never unpickled freely.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from gesturegen.io import read_model_config
from gesturegen.models.checkpoint import CheckpointLayoutError, load_strict

ENCODER_FORMAT = "gesturegen-fgd-encoder"
ENCODER_VERSION = 1
QUIRK_SLOPE = 1.0      # nn.LeakyReLU(True): the positional bool became negative_slope
PROPER_SLOPE = 0.2


# --- building blocks ----------------------------------------------------------------------------------------------

def _conv_norm_relu(c_in: int, c_out: int, downsample: bool = False) -> nn.Sequential:
    k, s = (4, 2) if downsample else (3, 1)
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel_size=k, stride=s), nn.BatchNorm1d(c_out),
                         nn.LeakyReLU(PROPER_SLOPE))


def conv_out_frames(n_frames: int) -> int:
    """Frames left after the conv stack (k3, k3, k4/s2, k3, no padding): 34 -> 12, 30 -> 10."""
    t = n_frames - 4
    t = (t - 4) // 2 + 1
    return t - 2


class PoseEncoderConv(nn.Module):
    """(B, T, D) -> (B, out_dim): 4 conv blocks, flatten 32 x T', then Linear-BN-LReLU x2 and a Linear."""

    def __init__(self, n_frames: int, pose_dim: int, out_dim: int, leaky_slope_quirk: bool = True):
        super().__init__()
        t_out = conv_out_frames(n_frames)
        if t_out < 1:
            raise ValueError(f"PoseEncoderConv needs at least 12 frames, got n_frames={n_frames}")
        slope = QUIRK_SLOPE if leaky_slope_quirk else PROPER_SLOPE
        self.net = nn.Sequential(
            _conv_norm_relu(pose_dim, 32),
            _conv_norm_relu(32, 64),
            _conv_norm_relu(64, 64, downsample=True),
            nn.Conv1d(64, 32, 3),
        )
        self.out_net = nn.Sequential(
            nn.Linear(32 * t_out, 256),        # 384 for 34 frames, 320 for 30
            nn.BatchNorm1d(256),
            nn.LeakyReLU(slope),
            nn.Linear(256, 128),
            nn.BatchNorm1d(128),
            nn.LeakyReLU(slope),
            nn.Linear(128, out_dim),
        )

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        out = self.net(poses.transpose(1, 2))  # (B, 32, T')
        return self.out_net(out.flatten(1))


class PoseDecoderConv(nn.Module):
    """(B, latent) -> (B, T, D): Linear to 4 x T channels-by-frames, then ConvTranspose up and Conv back down."""

    def __init__(self, n_frames: int, pose_dim: int, latent_dim: int, leaky_slope_quirk: bool = True):
        super().__init__()
        slope = QUIRK_SLOPE if leaky_slope_quirk else PROPER_SLOPE
        self.pre_net = nn.Sequential(
            nn.Linear(latent_dim, 64),
            nn.BatchNorm1d(64),
            nn.LeakyReLU(slope),
            nn.Linear(64, 4 * n_frames),       # 136 for 34 frames
        )
        self.net = nn.Sequential(              # T -> T+2 -> T+4 -> T+2 -> T
            nn.ConvTranspose1d(4, 32, 3),
            nn.BatchNorm1d(32),
            nn.LeakyReLU(PROPER_SLOPE),
            nn.ConvTranspose1d(32, 32, 3),
            nn.BatchNorm1d(32),
            nn.LeakyReLU(PROPER_SLOPE),
            nn.Conv1d(32, 32, 3),
            nn.Conv1d(32, pose_dim, 3),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.pre_net(z).view(z.shape[0], 4, -1)  # (B, 4, T)
        return self.net(out).transpose(1, 2)           # (B, T, D)


# --- the common interface -----------------------------------------------------------------------------------------

class FeatureExtractor(nn.Module):
    """Base of the FGD feature extractors: `encode` on tensors, `features` on numpy windows.

    Subclasses set `pose_dim`, `n_frames`, `feature_dim` and `config`, and implement `encode`.
    """

    arch: ClassVar[str] = ""
    pose_dim: int
    n_frames: int
    feature_dim: int
    config: Any

    def check_input(self, x: torch.Tensor | np.ndarray) -> None:
        shape = tuple(x.shape)
        if len(shape) != 3 or shape[1] != self.n_frames or shape[2] != self.pose_dim:
            raise ValueError(
                f"{type(self).__name__} expects windows of shape (B, {self.n_frames}, {self.pose_dim}) "
                f"(mean-subtracted vectors, all {self.n_frames} frames), got {shape}; this extractor only "
                f"fits {self.n_frames}-frame windows of {self.pose_dim}-d data")

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, F)
        raise NotImplementedError

    @torch.no_grad()
    def features(self, dir_vec: np.ndarray, batch_size: int = 256, offset: np.ndarray | None = None) -> np.ndarray:
        """(N, T, D) mean-subtracted windows -> (N, F) float32 features, in eval mode, batch by batch.

        `offset` (D,) is added to every frame first: `recentring_offset` re-centres windows normalised with another
        mean than the one this extractor was trained on."""
        self.check_input(dir_vec)
        shift = None if offset is None else np.asarray(offset, dtype=np.float32).reshape(-1)
        if shift is not None and shift.shape != (self.pose_dim,):
            raise ValueError(f"offset: expected {self.pose_dim} values, got {shift.shape}")
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = np.empty((dir_vec.shape[0], self.feature_dim), dtype=np.float32)
        try:
            for i in range(0, dir_vec.shape[0], batch_size):
                x = np.array(dir_vec[i:i + batch_size], dtype=np.float32)
                x = torch.as_tensor(x if shift is None else x + shift, device=device)
                out[i:i + x.shape[0]] = self.encode(x).float().cpu().numpy()
        finally:
            self.train(was_training)
        return out


# --- MotionAE (HA2G / DiffGesture, TED Expressive) ----------------------------------------------------------------

@dataclass(frozen=True)
class MotionAEConfig:
    pose_dim: int
    latent_dim: int = 128
    n_frames: int = 34
    leaky_slope_quirk: bool = True   # out_net / pre_net LeakyReLUs are identities, as in the published checkpoint


class MotionAE(FeatureExtractor):
    """The HA2G motion autoencoder; the FGD feature is the 128-d encoder output z."""

    arch = "motion_ae"

    def __init__(self, config: MotionAEConfig):
        super().__init__()
        self.config = config
        self.pose_dim, self.n_frames, self.feature_dim = config.pose_dim, config.n_frames, config.latent_dim
        self.encoder = PoseEncoderConv(config.n_frames, config.pose_dim, config.latent_dim, config.leaky_slope_quirk)
        self.decoder = PoseDecoderConv(config.n_frames, config.pose_dim, config.latent_dim, config.leaky_slope_quirk)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.encoder(x)  # (B, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decoder(z), z  # (B, T, D), (B, latent)


# --- AQGT EmbeddingNet (pose encoder only) -------------------------------------------------------------------------

@dataclass(frozen=True)
class EmbeddingNetConfig:
    pose_dim: int = 159
    n_frames: int = 34               # window length given to `encode`; the encoder sees frames n_seed_frames..
    n_seed_frames: int = 4
    latent_dim: int = 32
    variational: bool = False        # True: z = mu + eps * sigma (AQGT's evaluator default; stochastic FGD)
    leaky_slope_quirk: bool = True


class AQGTEmbeddingNet(FeatureExtractor):
    """AQGT's evaluator network without its GRU decoder (only used for discarded reconstruction terms).

    The feature is mu (deterministic) unless `config.variational`, which samples z = mu + eps * exp(logvar / 2)
    from torch's global RNG, as AQGT's `push_samples` does.
    """

    arch = "aqgt_embedding"

    def __init__(self, config: EmbeddingNetConfig):
        super().__init__()
        self.config = config
        self.pose_dim, self.n_frames, self.feature_dim = config.pose_dim, config.n_frames, config.latent_dim
        if not 0 <= config.n_seed_frames < config.n_frames:
            raise ValueError(f"n_seed_frames={config.n_seed_frames} must be in [0, n_frames={config.n_frames})")
        self.pose_encoder = _AQGTPoseEncoder(config)

    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) windows -> (mu, logvar), each (B, latent), from frames n_seed_frames.. ."""
        self.check_input(x)
        return self.pose_encoder(x[:, self.config.n_seed_frames:])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, D) -> (z, mu, logvar); z is mu unless config.variational."""
        mu, logvar = self.encode_stats(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.config.variational else mu
        return z, mu, logvar


class _AQGTPoseEncoder(PoseEncoderConv):
    """PoseEncoderConv with AQGT's 32-d head and the fc_mu / fc_logvar layers (names as published)."""

    def __init__(self, config: EmbeddingNetConfig):
        super().__init__(config.n_frames - config.n_seed_frames, config.pose_dim, 32, config.leaky_slope_quirk)
        self.fc_mu = nn.Linear(32, config.latent_dim)
        self.fc_logvar = nn.Linear(32, config.latent_dim)

    def forward(self, poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        out = super().forward(poses)  # (B, 32)
        return self.fc_mu(out), self.fc_logvar(out)


# --- published checkpoints -----------------------------------------------------------------------------------------

def _torch_load(path: Path) -> dict:
    """torch.load(weights_only=True); the published files also hold the training `args` (an argparse.Namespace)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError) as e:
        raise CheckpointLayoutError(f"{path}: not a readable torch checkpoint ({e})") from None
    except pickle.UnpicklingError as e:
        try:
            extra = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # noqa: BLE001 - only used to improve the message
            extra = []
        raise CheckpointLayoutError(
            f"{path}: cannot be read with torch.load(weights_only=True)"
            + (f"; it holds objects other than tensors and plain containers: {extra}" if extra else f" ({e})")
            + ". Re-save only the needed keys (e.g. {'pose_dim', 'latent_dim', 'motion_ae'} or {'gen_dict'}) "
              "in an environment you trust") from None
    if not isinstance(ckpt, dict):
        raise CheckpointLayoutError(f"{path}: expected a torch-saved dict, got {type(ckpt).__name__}")
    return ckpt


def load_published_motion_ae(path: str | Path, leaky_slope_quirk: bool = True) -> MotionAE:
    """HA2G's `checkpoint_best.bin` ({'pose_dim', 'latent_dim', 'motion_ae', ...}) as a MotionAE in eval mode."""
    path = Path(path)
    ckpt = _torch_load(path)
    missing = [k for k in ("pose_dim", "latent_dim", "motion_ae") if k not in ckpt]
    if missing:
        raise CheckpointLayoutError(f"{path}: not a HA2G MotionAE checkpoint, missing top-level keys {missing} "
                                    f"(found {sorted(map(str, ckpt))}); expected 'pose_dim', 'latent_dim', "
                                    f"'motion_ae'")
    config = MotionAEConfig(pose_dim=int(ckpt["pose_dim"]), latent_dim=int(ckpt["latent_dim"]),
                            leaky_slope_quirk=leaky_slope_quirk)
    model = MotionAE(config)
    load_strict(model, ckpt["motion_ae"], path, "'motion_ae'")
    return model.eval()


def load_published_aqgt_embedding(path: str | Path, variational: bool = False,
                                  leaky_slope_quirk: bool = True) -> AQGTEmbeddingNet:
    """AQGT's `gesture_autoencoder_checkpoint_best.bin` ({'gen_dict', ...}) as an AQGTEmbeddingNet in eval mode.

    The pose dimension comes from the first conv's weight. `decoder.*` keys (the GRU decoder) are ignored; every
    other key must match. variational=False gives mu (deterministic), True the sampled features of AQGT's
    evaluator.
    """
    path = Path(path)
    ckpt = _torch_load(path)
    if "gen_dict" not in ckpt:
        raise CheckpointLayoutError(f"{path}: not an AQGT EmbeddingNet checkpoint, no 'gen_dict' key "
                                    f"(found {sorted(map(str, ckpt))})")
    state = ckpt["gen_dict"]
    first = state.get("pose_encoder.net.0.0.weight") if isinstance(state, dict) else None
    if not isinstance(first, torch.Tensor) or first.ndim != 3:
        raise CheckpointLayoutError(f"{path}: 'gen_dict' has no 3-d 'pose_encoder.net.0.0.weight'; "
                                    f"not the AQGT EmbeddingNet layout")
    mu = state.get("pose_encoder.fc_mu.weight")
    latent = int(mu.shape[0]) if isinstance(mu, torch.Tensor) else 32
    config = EmbeddingNetConfig(pose_dim=int(first.shape[1]), latent_dim=latent, variational=variational,
                                leaky_slope_quirk=leaky_slope_quirk)
    model = AQGTEmbeddingNet(config)
    load_strict(model, state, path, "'gen_dict'", ignore_prefixes=("decoder.",))
    return model.eval()


# --- our own format: safetensors + JSON -----------------------------------------------------------------------------

_ARCHS: dict[str, tuple[type[FeatureExtractor], type]] = {
    MotionAE.arch: (MotionAE, MotionAEConfig),
    AQGTEmbeddingNet.arch: (AQGTEmbeddingNet, EmbeddingNetConfig),
}


def save_encoder(model: FeatureExtractor, directory: str | Path, source: str = "trained",
                 extra: dict | None = None) -> Path:
    """Write `<directory>/model.safetensors` + `config.json` (arch, config, pose/feature dims, source, extra)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # a single metadata key: safetensors writes metadata in hash order, which would break byte-identical outputs
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    info = {"format": ENCODER_FORMAT, "version": ENCODER_VERSION, "arch": model.arch,
            "config": dataclasses.asdict(model.config), "pose_dim": model.pose_dim, "n_frames": model.n_frames,
            "latent_dim": model.feature_dim, "feature_dim": model.feature_dim, "source": source,
            **(extra or {})}
    (directory / "config.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return directory


def load_encoder(directory: str | Path, **overrides: Any) -> FeatureExtractor:
    """Rebuild an encoder saved by save_encoder, in eval mode; `overrides` replace config fields
    (e.g. variational=True for an AQGT net)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    weights = directory / "model.safetensors"
    info, cfg_path = read_model_config(directory, ENCODER_FORMAT, ENCODER_VERSION,
                                       "save_encoder / the train_fgd_encoder stage")
    if info.get("arch") not in _ARCHS:
        raise ValueError(f"{cfg_path}: unknown arch {info.get('arch')!r} (known: {sorted(_ARCHS)})")
    cls, cfg_cls = _ARCHS[info["arch"]]
    model = cls(cfg_cls(**{**info["config"], **overrides}))
    load_strict(model, load_file(str(weights)), weights, "the weights")
    return model.eval()


PUBLISHED = {126: ("HA2G MotionAE", load_published_motion_ae),
             159: ("AQGT EmbeddingNet", load_published_aqgt_embedding)}


def load_published(path: str | Path, pose_dim: int, n_frames: int) -> FeatureExtractor:
    """The published extractor for `pose_dim`-d windows (126: HA2G MotionAE, 159: AQGT EmbeddingNet), checked
    against the windows' shape."""
    if pose_dim not in PUBLISHED:
        raise CheckpointLayoutError(
            f"{path}: the windows are {pose_dim}-d; published extractors exist for "
            f"{', '.join(f'{k}-d ({v[0]})' for k, v in PUBLISHED.items())}. Clear the checkpoint to train one")
    model = PUBLISHED[pose_dim][1](path)
    if model.pose_dim != pose_dim or model.n_frames != n_frames:
        raise CheckpointLayoutError(f"{path}: the extractor takes {model.n_frames}-frame windows of "
                                    f"{model.pose_dim}-d vectors, the windows are {n_frames} x {pose_dim}-d")
    return model


def read_encoder_info(directory: str | Path) -> dict:
    """config.json of an encoder saved by save_encoder: arch, dims, `source` ("trained" or "published"), dataset…"""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (written by save_encoder / the train_fgd_encoder stage)")
    return json.loads(path.read_text())


def recentring_offset(source: str, normalization: str, mean_dir_vec: np.ndarray,
                      published_mean_dir_vec: np.ndarray) -> np.ndarray | None:
    """What to add to mean-subtracted windows before a published extractor sees them, or None when nothing.

    A published checkpoint was trained on vectors minus the *published* mean; windows normalised with another mean
    (`normalization` "train": this dataset's train statistics) are re-centred: + their mean - the published mean.
    Our own extractors are trained on the windows as they are (offset None)."""
    if source != "published" or normalization == "published":
        return None
    mean = np.asarray(mean_dir_vec, dtype=np.float64).reshape(-1)
    published = np.asarray(published_mean_dir_vec, dtype=np.float64).reshape(-1)
    if mean.shape != published.shape:
        raise CheckpointLayoutError(f"the windows' mean has {mean.size} values, the published mean {published.size}: "
                                    f"the published extractor does not fit this skeleton")
    return (mean - published).astype(np.float32)
