"""Demo oracle classifiers: motion-only classifiers trained on real motion with the evaluation-only annotations
(gesturegen.data.annotations), applied to evaluated motion to ask "does this motion show the gesture / the speaker
that the speech calls for?".

    lexical: a crop of `crop_frames` frames centred on an annotated event's midpoint (shifted to stay inside the
             window after its seed frames) -> the event's label. Events with less than `min_inside` of their extent
             there are skipped (and counted).
    speaker: the window after its seed frames -> the speaker id.

The seed frames are skipped because every generator and every control keeps the real ones: they are no evidence
that the evaluated motion fits the speech.

Both are `MotionClassifier`s: standardise (train statistics, saved as buffers) -> Conv1d k3 -> Conv1d k4/s2 ->
Conv1d k3 (GELU) -> mean and max over time -> dropout -> Linear. Stored as `<name>.safetensors` per classifier plus
one `config.json` (save_oracles / load_oracles); without annotations the folder holds only `config.json` saying
`available: false` and why.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gesturegen.data.annotations import AnnotationError, WindowAnnotations
from gesturegen.io import read_model_config
from gesturegen.models.sync_evaluator import STD_FLOOR, EvaluatorMismatchError, channel_stats

ORACLES_FORMAT = "gesturegen-oracles"
ORACLES_VERSION = 1


@dataclass(frozen=True)
class MotionClassifierConfig:
    in_dim: int
    n_frames: int
    n_classes: int
    hidden: int = 64
    dropout: float = 0.1
    skip: int = 0               # leading frames ignored (the seed frames every evaluated row keeps)


class MotionClassifier(nn.Module):
    """(B, T, D) mean-subtracted motion -> (B, n_classes) logits."""

    def __init__(self, config: MotionClassifierConfig):
        super().__init__()
        c = self.config = config
        self.net = nn.Sequential(
            nn.Conv1d(c.in_dim, c.hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(c.hidden, c.hidden, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(c.hidden, c.hidden, 3, padding=1), nn.GELU(),
        )
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(2 * c.hidden, c.n_classes))
        self.register_buffer("mean", torch.zeros(c.in_dim))
        self.register_buffer("std", torch.ones(c.in_dim))

    def set_statistics(self, x: np.ndarray) -> None:
        mean, std = channel_stats(x[:, self.config.skip:])
        self.mean.copy_(torch.as_tensor(mean))
        self.std.copy_(torch.as_tensor(np.maximum(std, STD_FLOOR)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.ndim != 3 or tuple(x.shape[1:]) != (c.n_frames, c.in_dim):
            raise ValueError(f"motion classifier expects (B, {c.n_frames}, {c.in_dim}), got {tuple(x.shape)}")
        h = self.net(((x[:, c.skip:] - self.mean) / self.std).transpose(1, 2))
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], dim=1))

    @torch.no_grad()
    def predict(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """(N, T, D) -> (N,) int64 class indices (eval mode)."""
        was = self.training
        self.eval()
        device = next(self.parameters()).device
        out = np.empty(x.shape[0], dtype=np.int64)
        try:
            for i in range(0, x.shape[0], batch_size):
                xb = torch.as_tensor(np.array(x[i:i + batch_size], np.float32), device=device)
                out[i:i + xb.shape[0]] = self(xb).argmax(1).cpu().numpy()
        finally:
            self.train(was)
        return out


# --- event crops --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventCrops:
    """The annotated events usable inside their windows: crop `start` frames, window rows and label indices."""
    window: np.ndarray        # (m,) window index (into the annotated windows)
    start: np.ndarray         # (m,) first frame of the crop
    label: np.ndarray         # (m,) index into the label list
    skipped_outside: int      # events with less than min_inside of their extent inside the window
    crop_frames: int
    counts: dict[str, int] = field(default_factory=dict)   # usable events per label

    def take(self, motion: np.ndarray) -> np.ndarray:
        """(n, T, D) motion of the annotated windows -> (m, crop_frames, D) crops."""
        if len(self.window) == 0:
            return np.zeros((0, self.crop_frames, motion.shape[2]), np.float32)
        offs = self.start[:, None] + np.arange(self.crop_frames)[None]
        return np.asarray(motion[self.window[:, None], offs], dtype=np.float32)


def event_crops(ann: WindowAnnotations, labels: tuple[str, ...] | list[str], n_frames: int, fps: float,
                crop_frames: int, min_inside: float, where: str = "annotations", skip: int = 0) -> EventCrops:
    """Which events of `ann` a lexical classifier can see, and where (frames) to crop them. The visible part of
    a window starts at frame `skip` (the seed frames are not evidence): the extent inside is measured there, and
    crops stay within frames skip .. n_frames - 1."""
    if not 1 <= crop_frames <= n_frames - skip:
        raise ValueError(f"crop_frames must be in 1..{n_frames - skip} (the window after {skip} seed frames), got "
                         f"{crop_frames}")
    index = {lab: i for i, lab in enumerate(labels)}
    ev = ann.events
    unknown = sorted(set(ev["label"]) - set(index))
    if unknown:
        raise AnnotationError(f"{where}: event label(s) {unknown} are not among the classifier's labels "
                              f"{list(labels)}; the oracles were trained on another label set, re-run train_oracles")
    dur_win = n_frames / fps
    start_s, end_s = ev["start_s"].to_numpy(np.float64), ev["end_s"].to_numpy(np.float64)
    t0 = skip / fps
    inside = np.clip(np.minimum(end_s, dur_win) - np.maximum(start_s, t0), 0.0, None)
    length = end_s - start_s
    ok = np.where(length > 0, inside >= min_inside * np.maximum(length, 1e-12), (start_s >= t0) & (start_s <= dur_win))
    mid = (start_s + end_s) / 2 * fps
    start = np.clip(np.round(mid - crop_frames / 2), skip, n_frames - crop_frames).astype(np.int64)
    lab = np.array([index[v] for v in ev["label"]], dtype=np.int64)
    counts = {labels[i]: int(c) for i, c in zip(*np.unique(lab[ok], return_counts=True))}
    return EventCrops(ev["window"].to_numpy(np.int64)[ok], start[ok], lab[ok], int((~ok).sum()), crop_frames,
                      counts)


# --- the pair of oracles and their checkpoint --------------------------------------------------------------------------

@dataclass
class Oracles:
    """The trained classifiers (either may be None) and what they were trained on."""
    info: dict[str, Any]
    lexical: MotionClassifier | None = None
    speaker: MotionClassifier | None = None

    @property
    def available(self) -> bool:
        return bool(self.info.get("available"))

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.info.get("labels", ()))

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(self.info.get("speakers", ()))


def save_oracles(oracles: Oracles, directory: str | Path) -> Path:
    """`<directory>/config.json` (+ lexical.safetensors / speaker.safetensors for the trained classifiers)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    configs = {}
    for name in ("lexical", "speaker"):
        model = getattr(oracles, name)
        if model is None:
            continue
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(directory / f"{name}.safetensors"), metadata={"format": "pt"})
        configs[name] = dataclasses.asdict(model.config)
    info = {"format": ORACLES_FORMAT, "version": ORACLES_VERSION, **oracles.info, "classifiers": configs}
    (directory / "config.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return directory


def load_oracles(directory: str | Path, dataset: str | None = None) -> Oracles:
    """The oracles saved by train_oracles (classifiers in eval mode); `available` is False when the dataset had no
    annotations (then no classifier). With `dataset`, refuse oracles of another dataset."""
    from safetensors.torch import load_file

    from gesturegen.models.checkpoint import load_strict

    directory = Path(directory)
    info, cfg_path = read_model_config(directory, ORACLES_FORMAT, ORACLES_VERSION, "train_oracles", weights=None)
    if dataset is not None and info.get("dataset") != dataset:
        raise EvaluatorMismatchError(
            f"{cfg_path}: these oracles were trained on dataset {info.get('dataset')!r}, not {dataset!r}; use "
            f"results/train_oracles/{dataset}/oracles (run train_oracles for {dataset!r})")
    configs = info.pop("classifiers", {})
    out = Oracles(info)
    for name, cfg in configs.items():
        model = MotionClassifier(MotionClassifierConfig(**cfg))
        weights = directory / f"{name}.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"{weights}: missing although config.json lists it; re-run train_oracles")
        load_strict(model, load_file(str(weights)), weights, "the weights")
        setattr(out, name, model.eval())
    return out
