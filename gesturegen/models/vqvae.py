"""The per-part motion VQ-VAE of LDMC (ldmc-spec §4.1): T2M-GPT's 1-D convolutional encoder and decoder around the
EMA-reset quantizer.

    encoder  (B, T, in_dim) full body -> Conv1d k3 -> ReLU -> down_t x [Conv1d k4 s2 p1 -> Resnet1D(depth)]
             -> Conv1d k3 -> (B, L, code_dim) -> LayerNorm -> latent normalisation   (T 34 -> L 4)
    quantize each of the L latent vectors (EMA-reset codebook)
    decoder  (B, L, code_dim) -> Conv1d k3 -> ReLU -> down_t x [Resnet1D(depth) -> Upsample x2 -> Conv1d k3]
             -> Conv1d k3 (padding to T) -> ReLU -> Conv1d k3 -> (B, T, out_dim) the part

Resnet1D: `depth` blocks x + Conv1x1(ReLU(Conv1d k3, dilation d (ReLU(x)))), dilations growth^i listed in reverse
order (243, 81, 27, 9, 3, 1 for depth 6, growth 3), no normalisation.

Latent normalisation: "faithful" normalises each channel along the L time steps (F.normalize(dim=1) of the original,
an accident the original's diffusion sampler copies); "vector" normalises each latent vector, scaled to norm
sqrt(code_dim / L), the faithful mode's mean per-step norm, so that both give latents of the same scale.

Width: the original passes the codebook size into the width slot (W = 1024 for TED Expressive, 512 for AQGT;
VQVAEConfig.faithful_width); here it is its own field.

Saved as `model.safetensors` + `config.json` (save_vqvae / load_vqvae): the json holds this config and what the
model was trained on (dataset, part, skeleton, window geometry), so that every downstream stage rebuilds the model
from the folder alone and refuses it for another dataset or part.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gesturegen.io import read_model_config
from gesturegen.models.quantizer import QuantizeEMAReset

VQVAE_FORMAT = "gesturegen-vqvae"
VQVAE_VERSION = 1
PARTS = ("body", "hand")


class VQVAEMismatchError(ValueError):
    """A VQ-VAE folder used for a dataset, part or data it was not trained on; names both and the fix."""


@dataclass(frozen=True)
class VQVAEConfig:
    in_dim: int                    # full-body vector dimension the encoder sees (126 TED Expressive, 159 AQGT)
    out_dim: int                   # the part the decoder reconstructs (TED 36 body / 90 hand; AQGT 33 / 126)
    n_frames: int = 34
    width: int = 128
    code_dim: int = 512
    codebook_size: int = 1024
    down_t: int = 3
    stride_t: int = 2
    depth: int = 6
    dilation_growth: int = 3
    mu: float = 0.99
    reset_below: float = 1.0       # EMA count under which a code is reset (the original: 1.0)
    latent_norm: Literal["faithful", "vector"] = "vector"
    quantizer_seed: int = 0
    levels: int = 1                # residual quantisation: codebooks per latent vector (1: the original)

    def __post_init__(self) -> None:
        if self.latent_norm not in ("faithful", "vector"):
            raise ValueError(f"latent_norm: 'faithful' or 'vector', got {self.latent_norm!r}")
        if min(self.in_dim, self.out_dim, self.width, self.code_dim, self.depth) < 1 or self.down_t < 0 or self.stride_t != 2:
            raise ValueError(f"VQVAEConfig: positive sizes and stride_t 2 needed, got {self}")
        pad2 = self.n_frames - self.n_latent * self.stride_t ** self.down_t + 2
        if self.n_latent < 1 or pad2 < 0 or pad2 % 2:
            raise ValueError(f"VQVAEConfig: n_frames {self.n_frames} with down_t {self.down_t} gives "
                             f"{self.n_latent} latent steps that the decoder cannot bring back to {self.n_frames} "
                             f"frames; use n_frames 34 (the original) or change down_t")

    @property
    def n_latent(self) -> int:
        t = self.n_frames
        for _ in range(self.down_t):
            t = (t + 2 - 4) // self.stride_t + 1            # Conv1d k4, s2, p1
        return t

    @property
    def final_padding(self) -> int:
        return (self.n_frames - self.n_latent * self.stride_t ** self.down_t + 2) // 2

    @staticmethod
    def faithful_width(codebook_size: int) -> int:
        """The original's width: its positional-argument slip passes the codebook size into the width slot."""
        return codebook_size


class ResBlock1D(nn.Module):
    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Resnet1D(nn.Sequential):
    def __init__(self, width: int, depth: int, growth: int):
        super().__init__(*[ResBlock1D(width, growth ** i) for i in reversed(range(depth))])


class Encoder(nn.Module):
    def __init__(self, c: VQVAEConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(c.in_dim, c.width, 3, padding=1), nn.ReLU()]
        for _ in range(c.down_t):
            layers += [nn.Conv1d(c.width, c.width, 2 * c.stride_t, c.stride_t, padding=c.stride_t // 2),
                       Resnet1D(c.width, c.depth, c.dilation_growth)]
        layers.append(nn.Conv1d(c.width, c.code_dim, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:        # (B, T, D) -> (B, L, C)
        return self.net(x.transpose(1, 2)).transpose(1, 2)


class Decoder(nn.Module):
    def __init__(self, c: VQVAEConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(c.code_dim, c.width, 3, padding=1), nn.ReLU()]
        for _ in range(c.down_t):
            layers += [Resnet1D(c.width, c.depth, c.dilation_growth), nn.Upsample(scale_factor=c.stride_t),
                       nn.Conv1d(c.width, c.width, 3, padding=1)]
        layers += [nn.Conv1d(c.width, c.width, 3, padding=c.final_padding), nn.ReLU(),
                   nn.Conv1d(c.width, c.out_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:        # (B, L, C) -> (B, T, D_out)
        return self.net(z.transpose(1, 2)).transpose(1, 2)


@dataclass
class VQVAEOutput:
    recon: torch.Tensor        # (B, T, out_dim)
    latents: torch.Tensor      # (B, L, C) continuous, normalised, before quantisation (what diffusion learns)
    indices: torch.Tensor      # (B, L) int64
    commit: torch.Tensor       # scalar
    perplexity: torch.Tensor   # scalar, of this batch


class VQVAE(nn.Module):
    def __init__(self, config: VQVAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.norm = nn.LayerNorm(config.code_dim)
        self.quantizer = QuantizeEMAReset(config.codebook_size, config.code_dim, config.mu, config.quantizer_seed,
                                          config.reset_below)
        # residual levels (none at levels 1: the state dict is the single-codebook one)
        self.residual = nn.ModuleList(
            QuantizeEMAReset(config.codebook_size, config.code_dim, config.mu, config.quantizer_seed + k + 1,
                             config.reset_below) for k in range(config.levels - 1))
        self.decoder = Decoder(config)
        self.info: dict[str, Any] = {}

    def _residual_value(self, flat: torch.Tensor, first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the dequantised value of all levels, the residual levels' commit loss) of rows `flat` whose first level
        dequantises to `first`; each further codebook quantises what the ones before missed."""
        total, commit = first.detach(), flat.new_zeros(())
        for level in self.residual:
            q = level(flat - total)
            total, commit = total + q.x_q.detach(), commit + q.commit
        return total, commit

    def _check(self, x: torch.Tensor) -> None:
        c = self.config
        if x.dim() != 3 or tuple(x.shape[1:]) != (c.n_frames, c.in_dim):
            raise VQVAEMismatchError(f"VQ-VAE: expected motion (B, {c.n_frames}, {c.in_dim}), got "
                                     f"{tuple(x.shape)}; windows of another skeleton or window length?")

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """LayerNorm over channels, then the latent normalisation (module docstring)."""
        z = self.norm(z)
        if self.config.latent_norm == "faithful":
            return F.normalize(z, dim=1)                       # along the L steps, per channel (the original)
        return F.normalize(z, dim=2) * (self.config.code_dim / self.config.n_latent) ** 0.5

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Full-body motion (B, T, in_dim) -> continuous normalised latents (B, L, C), before quantisation."""
        self._check(x)
        return self.normalize(self.encoder(x))

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        z = self.encode(x)
        b, n, c = z.shape
        flat = z.reshape(b * n, c)
        q = self.quantizer(flat)
        x_q, commit = q.x_q, q.commit
        if len(self.residual):
            total, extra = self._residual_value(flat, q.x_q)
            x_q, commit = flat + (total - flat).detach(), commit + extra      # straight-through to the encoder
        recon = self.decoder(x_q.view(b, n, c))
        return VQVAEOutput(recon, z, q.indices.view(b, n), commit, q.perplexity)

    @torch.no_grad()
    def nearest_codes(self, z: torch.Tensor) -> torch.Tensor:
        """The nearest codes of latents z (B, L, C): indices (B, L) with one codebook, (B, L, levels) with residual
        levels (level k quantises what levels 0 … k−1 missed)."""
        b, n, c = z.shape
        flat = z.reshape(b * n, c)
        first = self.quantizer.nearest(flat)
        if not len(self.residual):
            return first.view(b, n)
        out, total = [first], self.quantizer.dequantize(first)
        for level in self.residual:
            idx = level.nearest(flat - total)
            out.append(idx)
            total = total + level.dequantize(idx)
        return torch.stack(out, dim=-1).view(b, n, self.config.levels)

    @torch.no_grad()
    def code_indices(self, x: torch.Tensor) -> torch.Tensor:
        return self.nearest_codes(self.encode(x))

    def dequantize(self, indices: torch.Tensor) -> torch.Tensor:
        """Code indices -> the quantised latents (B, L, C): (B, L) through the first codebook (for a residual model
        the coarse value), (B, L, levels) summed over every level."""
        c = self.config
        shape = (c.n_latent,) if indices.dim() == 2 else (c.n_latent, c.levels)
        if indices.dim() not in (2, 3) or tuple(indices.shape[1:]) != shape:
            raise VQVAEMismatchError(f"VQ-VAE: expected code indices (B, {c.n_latent}) or, with its {c.levels} "
                                     f"residual levels, (B, {c.n_latent}, {c.levels}); got {tuple(indices.shape)}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= c.codebook_size):
            raise VQVAEMismatchError(f"VQ-VAE: code indices outside [0, {c.codebook_size})")
        if indices.dim() == 2:
            return self.quantizer.dequantize(indices)
        total = self.quantizer.dequantize(indices[..., 0])
        for k, level in enumerate(self.residual, start=1):
            total = total + level.dequantize(indices[..., k])
        return total

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Code indices (B, L) or (B, L, levels) -> the part's motion (B, T, out_dim)."""
        return self.decoder(self.dequantize(indices))

    def decode_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Continuous latents (B, L, C) -> nearest codes (every level) -> the part's motion (how diffusion samples
        decode)."""
        return self.decode_indices(self.nearest_codes(z))

    def parameter_count(self) -> dict[str, int]:
        def count(m: nn.Module) -> int:
            return sum(p.numel() for p in m.parameters())
        return {"encoder": count(self.encoder) + count(self.norm), "decoder": count(self.decoder),
                "total": count(self)}

    # numpy conveniences for stages (eval mode, batched, no grad)
    @torch.no_grad()
    def run_numpy(self, motion: np.ndarray, batch_size: int = 512) -> dict[str, np.ndarray]:
        """recon (N, T, out_dim), latents (N, L, C), indices (N, L) of full-body motion (N, T, in_dim)."""
        was = self.training
        self.eval()
        dev = next(self.parameters()).device
        out: dict[str, list[np.ndarray]] = {"recon": [], "latents": [], "indices": []}
        for i in range(0, motion.shape[0], batch_size):
            x = torch.as_tensor(np.asarray(motion[i:i + batch_size], np.float32), device=dev)
            o = self(x)
            out["recon"].append(o.recon.cpu().numpy())
            out["latents"].append(o.latents.cpu().numpy())
            out["indices"].append(o.indices.cpu().numpy())
        self.train(was)
        if not out["recon"]:
            c = self.config
            return {"recon": np.zeros((0, c.n_frames, c.out_dim), np.float32),
                    "latents": np.zeros((0, c.n_latent, c.code_dim), np.float32),
                    "indices": np.zeros((0, c.n_latent), np.int64)}
        return {k: np.concatenate(v) for k, v in out.items()}


# --- parts ------------------------------------------------------------------------------------------------------

def part_dims(skeleton, part: str) -> np.ndarray:
    """Flat dimension indices of a part (ascending vector order, 3 per vector) in a skeleton's (…, V*3) vectors."""
    if part not in PARTS:
        raise ValueError(f"part: 'body' or 'hand', got {part!r}")
    vectors = skeleton.body_vectors if part == "body" else skeleton.hand_vectors
    return np.asarray([3 * v + k for v in vectors for k in range(3)], dtype=np.int64)


def assemble(full: np.ndarray, part_motion: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """`full` (…, D) with the dims of one part replaced by `part_motion` (…, len(dims)): a part's reconstruction
    with the other part's ground truth (the original's validation), by index for either skeleton."""
    out = np.array(full, dtype=np.float32, copy=True)
    out[..., dims] = part_motion
    return out


# --- files -----------------------------------------------------------------------------------------------------

def save_vqvae(model: VQVAE, directory: str | Path, info: dict[str, Any]) -> Path:
    """`<directory>/model.safetensors` (weights and quantizer buffers) + `config.json` (format, config, info)."""
    from safetensors.torch import save_file

    reserved = sorted({"format", "version", "config"} & set(info))
    if reserved:
        raise ValueError(f"save_vqvae: info keys {reserved} are reserved (written from the model)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    cfg = {"format": VQVAE_FORMAT, "version": VQVAE_VERSION, "config": dataclasses.asdict(model.config), **info}
    (directory / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return directory


def load_vqvae(directory: str | Path, dataset: str | None = None, part: str | None = None) -> VQVAE:
    """Rebuild a saved VQ-VAE in eval mode from its folder alone; with `dataset` / `part`, refuse one trained for
    another. The json is in `model.info`."""
    from safetensors.torch import load_file

    from gesturegen.models.checkpoint import load_strict

    directory = Path(directory)
    weights = directory / "model.safetensors"
    info, cfg_path = read_model_config(directory, VQVAE_FORMAT, VQVAE_VERSION, "train_vqvae")
    for key, want in (("dataset", dataset), ("part", part)):
        if want is not None and info.get(key) != want:
            raise VQVAEMismatchError(
                f"{cfg_path}: this VQ-VAE was trained for {key} {info.get(key)!r}, not {want!r}; pass "
                f"results/train_vqvae/{dataset or info.get('dataset')}-{part or info.get('part')}/model")
    model = VQVAE(VQVAEConfig(**info["config"]))
    load_strict(model, load_file(str(weights)), weights, "the weights")
    model.info = info
    return model.eval()
