"""The speech <-> motion sync evaluator: two small encoders into one unit-norm embedding space, trained with a
symmetric InfoNCE in the manner of Guo et al. 2022's text-to-motion evaluators (for R-precision and the multimodal
distance).

    speech encoder: per-frame audio features (+ per-frame text features, projected per frame) (B, T, Da [+ Dt])
    motion encoder: mean-subtracted direction vectors (B, T, D), from frame `motion_skip` on: the seed frames are
                    given to every generator and control, so they must not count as evidence of sync
    each: standardise with train statistics (buffers, saved with the weights) -> Conv1d k3 -> 2 x Conv1d k4/s2 ->
          flatten (keeps *when* things happen: sync is about timing) -> Linear -> L2-normalise

Stored as `model.safetensors` + `config.json` (save_sync_evaluator / load_sync_evaluator); the json records the
dataset and the feature encoders and dims it was trained on, and loading it for anything else is an error that names
both.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gesturegen.io import read_model_config

EVALUATOR_FORMAT = "gesturegen-sync-evaluator"
EVALUATOR_VERSION = 1
STD_FLOOR = 1e-3   # a feature channel with a smaller train std is divided by this instead (constant channels)


class EvaluatorMismatchError(ValueError):
    """An evaluator checkpoint used with data it was not trained for; the message names both and the fix."""


@dataclass(frozen=True)
class SyncEvaluatorConfig:
    motion_dim: int
    audio_dim: int
    text_dim: int = 0           # 0: speech is the audio features only
    n_frames: int = 34
    hidden: int = 64
    text_proj: int = 32         # per-frame projection of the text features before the speech convs
    embed_dim: int = 128
    dropout: float = 0.1
    motion_skip: int = 0        # leading motion frames the motion encoder ignores (the seed frames every row keeps)
    motion_center: bool = False  # subtract each window's own temporal mean: only the movement counts, not the posture


def _flat_frames(n_frames: int) -> int:
    t = n_frames
    for _ in range(2):
        t = (t + 2 - 4) // 2 + 1       # k4, s2, p1
    return t


class SequenceEncoder(nn.Module):
    """(B, T, C) -> (B, E) unit-norm: Conv k3, two Conv k4/s2 (GELU), flatten, dropout, Linear."""

    def __init__(self, in_dim: int, n_frames: int, hidden: int, embed_dim: int, dropout: float):
        super().__init__()
        t = _flat_frames(n_frames)
        if t < 1:
            raise ValueError(f"SequenceEncoder needs at least 4 frames, got {n_frames}")
        self.net = nn.Sequential(
            nn.Conv1d(in_dim, hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(hidden, hidden, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(hidden, hidden, 4, stride=2, padding=1), nn.GELU(),
        )
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden * t, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x.transpose(1, 2)).flatten(1)
        return F.normalize(self.out(h), dim=-1)


class SyncEvaluator(nn.Module):
    """Speech and motion encoders with their input statistics; `embed_speech` / `embed_motion` work on numpy."""

    def __init__(self, config: SyncEvaluatorConfig):
        super().__init__()
        c = self.config = config
        self.text_proj = nn.Linear(c.text_dim, c.text_proj) if c.text_dim else None
        speech_in = c.audio_dim + (c.text_proj if c.text_dim else 0)
        self.speech = SequenceEncoder(speech_in, c.n_frames, c.hidden, c.embed_dim, c.dropout)
        if not 0 <= c.motion_skip <= c.n_frames - 4:
            raise ValueError(f"motion_skip must be in 0..{c.n_frames - 4}, got {c.motion_skip}")
        self.motion = SequenceEncoder(c.motion_dim, c.n_frames - c.motion_skip, c.hidden, c.embed_dim, c.dropout)
        for name, dim in (("audio", c.audio_dim), ("text", c.text_dim), ("motion", c.motion_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))

    def set_statistics(self, audio: np.ndarray, text: np.ndarray | None, motion: np.ndarray) -> None:
        """Per-channel mean and std of (N, T, C) train arrays (std floored at STD_FLOOR)."""
        motion = np.asarray(motion[:, self.config.motion_skip:], np.float32)
        if self.config.motion_center:
            motion = motion - motion.mean(axis=1, keepdims=True)
        for name, arr in (("audio", audio), ("text", text), ("motion", motion)):
            if arr is None or arr.shape[-1] == 0:
                continue
            mean, std = channel_stats(arr)
            getattr(self, f"{name}_mean").copy_(torch.as_tensor(mean))
            getattr(self, f"{name}_std").copy_(torch.as_tensor(np.maximum(std, STD_FLOOR)))

    def check(self, x: torch.Tensor | np.ndarray, dim: int, what: str) -> None:
        shape = tuple(x.shape)
        if len(shape) != 3 or shape[1] != self.config.n_frames or shape[2] != dim:
            raise ValueError(f"sync evaluator expects {what} of shape (B, {self.config.n_frames}, {dim}), got "
                             f"{shape}")

    def encode_speech(self, audio: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        self.check(audio, c.audio_dim, "audio_frames")
        x = (audio - self.audio_mean) / self.audio_std
        if self.text_proj is not None:
            if text is None:
                raise ValueError("this sync evaluator was trained with text: pass the text_frames too")
            self.check(text, c.text_dim, "text_frames")
            x = torch.cat([x, self.text_proj((text - self.text_mean) / self.text_std)], dim=-1)
        return self.speech(x)

    def encode_motion(self, motion: torch.Tensor) -> torch.Tensor:
        self.check(motion, self.config.motion_dim, "motion (mean-subtracted dir_vec)")
        x = motion[:, self.config.motion_skip:]
        if self.config.motion_center:
            x = x - x.mean(dim=1, keepdim=True)
        return self.motion((x - self.motion_mean) / self.motion_std)

    @torch.no_grad()
    def _embed(self, fn, arrays: list[np.ndarray | None], batch_size: int) -> np.ndarray:
        was = self.training
        self.eval()
        device = next(self.parameters()).device
        n = arrays[0].shape[0]
        out = np.empty((n, self.config.embed_dim), dtype=np.float32)
        try:
            for i in range(0, n, batch_size):
                xs = [None if a is None else torch.as_tensor(np.array(a[i:i + batch_size], np.float32),
                                                             device=device) for a in arrays]
                out[i:i + batch_size] = fn(*xs).cpu().numpy()
        finally:
            self.train(was)
        return out

    def embed_speech(self, audio: np.ndarray, text: np.ndarray | None = None, batch_size: int = 512) -> np.ndarray:
        """(N, T, Da), (N, T, Dt) per-frame features -> (N, E) float32 unit vectors (eval mode)."""
        return self._embed(self.encode_speech, [audio, text if self.text_proj is not None else None], batch_size)

    def embed_motion(self, motion: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """(N, T, D) mean-subtracted motion -> (N, E) float32 unit vectors (eval mode)."""
        return self._embed(self.encode_motion, [motion], batch_size)


def channel_stats(arr: np.ndarray, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per last-axis channel of an (N, ..., C) array, block by block (memory-mapped input)."""
    c = arr.shape[-1]
    s, ss, n = np.zeros(c), np.zeros(c), 0
    for i in range(0, arr.shape[0], block):
        x = np.asarray(arr[i:i + block], np.float64).reshape(-1, c)
        s += x.sum(0)
        ss += (x * x).sum(0)
        n += x.shape[0]
    mean = s / max(n, 1)
    return mean.astype(np.float32), np.sqrt(np.maximum(ss / max(n, 1) - mean ** 2, 0)).astype(np.float32)


def info_nce(speech: torch.Tensor, motion: torch.Tensor, video_ids: torch.Tensor,
             temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of unit embeddings; other windows of the *same video* are masked out of the
    logits (they overlap the positive or share its speaker and topic, so they are not negatives)."""
    logits = speech @ motion.T / temperature
    same = video_ids[:, None] == video_ids[None, :]
    eye = torch.eye(len(video_ids), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    target = torch.arange(len(video_ids), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


# --- checkpoint -----------------------------------------------------------------------------------------------------

def save_sync_evaluator(model: SyncEvaluator, directory: str | Path, info: dict[str, Any]) -> Path:
    """`<directory>/model.safetensors` + `config.json` (format, config, and `info`: dataset, features, ...)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    cfg = {"format": EVALUATOR_FORMAT, "version": EVALUATOR_VERSION, "config": dataclasses.asdict(model.config),
           **info}
    (directory / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return directory


def load_sync_evaluator(directory: str | Path, dataset: str | None = None) -> SyncEvaluator:
    """Rebuild a saved sync evaluator in eval mode; with `dataset`, refuse one trained on another dataset.
    The json is in `model.info` (dataset, features: encoders and dims, normalisation)."""
    from safetensors.torch import load_file

    from gesturegen.models.checkpoint import load_strict

    directory = Path(directory)
    weights = directory / "model.safetensors"
    info, cfg_path = read_model_config(directory, EVALUATOR_FORMAT, EVALUATOR_VERSION, "train_sync_evaluator")
    if dataset is not None and info.get("dataset") != dataset:
        raise EvaluatorMismatchError(
            f"{cfg_path}: this sync evaluator was trained on dataset {info.get('dataset')!r}, not {dataset!r}; use "
            f"results/train_sync_evaluator/{dataset}/evaluator (run train_sync_evaluator for {dataset!r})")
    model = SyncEvaluator(SyncEvaluatorConfig(**info["config"]))
    load_strict(model, load_file(str(weights)), weights, "the weights")
    model.info = info
    model.directory = directory
    return model.eval()
