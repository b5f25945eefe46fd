"""The original's encoders, facebook/data2vec-audio-base-960h and facebook/data2vec-text-base, without its bugs.

Weights are read ONLY from local folders (local_files_only=True); nothing is downloaded. Get them once, on a machine
with internet, with e.g.
    huggingface-cli download facebook/data2vec-audio-base-960h --local-dir data/models/data2vec-audio-base-960h
    huggingface-cli download facebook/data2vec-text-base --local-dir data/models/data2vec-text-base
Every weight of the encoder must come from the folder (a missing one raises instead of being silently random).

Audio (ldmc-spec §3 used a randomly initialised x-vector head, re-drawn per split and at inference):
  input      the window audio (resampled to the feature extractor's rate if needed), normalised by the model's feature
             extractor (zero mean / unit variance per window when do_normalize), all of it attended.
  per frame  Data2VecAudioModel last hidden states (~50 Hz; hidden frame j covers samples [j·stride, j·stride + rf),
             centre j·stride + (rf-1)/2, stride 320 and receptive field rf 400 for the base model) linearly
             interpolated at the motion frame instants k/fps (clamped to the first/last hidden frame).
  pooled     "mean": the mean of the hidden states over the window's whole audio (hidden_size, 768);
             "projection": an x-vector-style statistics pooling, concat(mean, std) over time, times ONE seeded
             random Gaussian matrix (2·hidden_size × 512, N(0, 1/(2·hidden_size))), drawn once from `seed`,
             shared by every split and saved (safetensors) with the features so inference reuses it.
Text (ldmc-spec §2.4/§3 padded with id 0 = <s> and averaged over padding, without an attention mask):
  Data2VecTextModel with the RoBERTa tokenizer's pad id (1) and an attention mask; per word / per frame / pooled as
  in gesturegen.features.text (pooled = attention-masked mean over tokens, not normalised).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from gesturegen.features.common import FeatureError, ModelFolderError, sha256_files
from gesturegen.features.text import WEIGHT_FILES, HFTextEncoder, load_pretrained, missing_model_files, present_files

AUDIO_REPO = "facebook/data2vec-audio-base-960h"
TEXT_REPO = "facebook/data2vec-text-base"
AUDIO_FILES = (("config.json",), WEIGHT_FILES, ("preprocessor_config.json",))
TEXT_FILES = (("config.json",), WEIGHT_FILES, ("tokenizer.json", "vocab.json+merges.txt"))
PROJECTION_DIM = 512


def download_hint(repo: str, folder: str | Path) -> str:
    return (f"Put the weights of {repo} there: on a machine with internet run `huggingface-cli download {repo} "
            f"--local-dir {folder}` (or `hf download {repo} --local-dir {folder}`) and copy the folder over; "
            f"see extract_features.data2vec_*_dir in params.yaml")


def check_model_dir(folder: str | Path, kind: str, display: str | Path | None = None) -> list[str]:
    """Raise ModelFolderError listing what is missing from a data2vec folder (kind 'audio' or 'text'); return the
    files that will be read (for hashing)."""
    folder = Path(folder)
    repo, groups = (AUDIO_REPO, AUDIO_FILES) if kind == "audio" else (TEXT_REPO, TEXT_FILES)
    hint = download_hint(repo, display or folder)
    if not folder.is_dir():
        raise ModelFolderError(f"data2vec-{kind}: model folder {folder} does not exist. {hint}")
    config = folder / "config.json"
    if config.is_file():                       # a wrong folder first: its missing files would only mislead
        model_type = json.loads(config.read_text()).get("model_type")
        if model_type != f"data2vec-{kind}":
            raise ModelFolderError(f"data2vec-{kind}: {config} has model_type {model_type!r}, expected "
                                   f"'data2vec-{kind}'; wrong folder? {hint}")
    missing = missing_model_files(folder, groups)
    if missing:
        raise ModelFolderError(f"data2vec-{kind}: model folder {folder} is incomplete, missing: "
                               f"{'; '.join(missing)}. {hint}")
    return present_files(folder, groups)


def make_projection(in_dim: int, seed: int, out_dim: int = PROJECTION_DIM):
    """The seeded x-vector-style projection: (in_dim, out_dim) float32, N(0, 1/in_dim), from torch's CPU generator."""
    import torch
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(in_dim, out_dim, generator=g, dtype=torch.float32) / math.sqrt(in_dim)


def save_projection(path: str | Path, projection, seed: int | None) -> Path:
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"projection": projection.contiguous()}, str(path),
              metadata={"seed": str(seed), "input": "concat(mean, std) over time of last_hidden_state",
                        "encoder": AUDIO_REPO})
    return path


def load_projection(path: str | Path):
    from safetensors.torch import load_file
    return load_file(str(path))["projection"]


def hidden_frame_geometry(config: Any) -> tuple[int, int]:
    """(stride, receptive field) in samples of the convolutional feature encoder."""
    stride, rf = 1, 1
    for k, s in zip(config.conv_kernel, config.conv_stride):
        rf += (k - 1) * stride
        stride *= s
    return stride, rf


class Data2VecAudioEncoder:
    """Data2VecAudioModel hidden states per motion frame, pooled by mean or by the shared seeded projection."""

    name = "data2vec-audio"

    def __init__(self, model_dir: str | Path, *, sample_rate_hz: int = 16000, fps: float = 15,
                 pooling: str = "mean", projection=None, seed: int | None = None, device: str = "cpu",
                 display_dir: str | None = None):
        import torch
        from transformers import AutoFeatureExtractor, Data2VecAudioModel
        folder = Path(model_dir)
        files = check_model_dir(folder, "audio", display_dir)
        if pooling not in ("mean", "projection"):
            raise ValueError(f"pooling must be 'mean' or 'projection', got {pooling!r}")
        self.folder, self.sr, self.fps, self.device, self.pooling = folder, int(sample_rate_hz), float(fps), device, \
            pooling
        self.display_dir = display_dir if display_dir is not None else str(folder)
        self.feature_extractor = AutoFeatureExtractor.from_pretrained(str(folder), local_files_only=True)
        self.model = load_pretrained(Data2VecAudioModel, folder).to(device)
        self.model_sr = int(self.feature_extractor.sampling_rate)
        self.stride, self.rf = hidden_frame_geometry(self.model.config)
        hidden = int(self.model.config.hidden_size)
        self.frame_dim = hidden
        self.seed = seed
        if pooling == "projection":
            if projection is None:
                if seed is None:
                    raise ValueError("pooling='projection' needs the saved projection or a seed to draw it")
                projection = make_projection(2 * hidden, seed)
            if tuple(projection.shape) != (2 * hidden, PROJECTION_DIM):
                raise FeatureError(f"audio projection has shape {tuple(projection.shape)}, expected "
                                   f"{(2 * hidden, PROJECTION_DIM)} for hidden size {hidden}")
            self.projection = projection.to(torch.float32)
            self.pooled_dim = PROJECTION_DIM
        else:
            self.projection = None
            self.pooled_dim = hidden
        self.hashes = sha256_files(folder, files)
        self._torch = torch

    def save_projection(self, path: str | Path) -> Path | None:
        """Write the shared projection (pooling='projection'); None for mean pooling."""
        return None if self.projection is None else save_projection(path, self.projection, self.seed)

    def encode(self, audio: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        if self.sr != self.model_sr and audio.shape[1]:
            import librosa
            audio = librosa.resample(audio, orig_sr=self.sr, target_sr=self.model_sr, axis=-1).astype(np.float32)
        if audio.shape[1] < self.rf:                                   # zero-length / very short audio
            audio = np.pad(audio, ((0, 0), (0, self.rf - audio.shape[1])))
        inputs = self.feature_extractor(list(audio), sampling_rate=self.model_sr, return_tensors="pt",
                                        return_attention_mask=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_values", "attention_mask")}
        with torch.inference_mode():
            hidden = self.model(**inputs).last_hidden_state.float()    # (B, T, H), all frames valid
        if self.projection is None:
            pooled = hidden.mean(1)
        else:
            stats = torch.cat([hidden.mean(1), hidden.std(1, unbiased=False)], dim=-1)
            pooled = stats @ self.projection.to(hidden.device)
        t = hidden.shape[1]
        centres = np.arange(n_frames) * (self.model_sr / self.fps)    # motion frame instants, in samples
        pos = np.clip((centres - (self.rf - 1) / 2) / self.stride, 0, t - 1)
        j0 = np.floor(pos).astype(np.int64)
        j1 = np.minimum(j0 + 1, t - 1)
        w = torch.as_tensor(pos - j0, dtype=hidden.dtype, device=hidden.device)[None, :, None]
        frames = (1 - w) * hidden[:, j0] + w * hidden[:, j1]
        return frames.cpu().numpy().astype(np.float32), pooled.cpu().numpy().astype(np.float32)

    def describe(self) -> dict[str, Any]:
        import transformers
        fe = self.feature_extractor
        return {
            "name": self.name, "repo": AUDIO_REPO, "frame_dim": self.frame_dim, "pooled_dim": self.pooled_dim,
            "model_dir": self.display_dir, "files_sha256": self.hashes, "transformers": transformers.__version__,
            "model_sample_rate_hz": self.model_sr, "do_normalize": bool(getattr(fe, "do_normalize", False)),
            "hidden_stride_samples": self.stride, "receptive_field_samples": self.rf,
            "per_frame": "last_hidden_state linearly interpolated at k/fps (hidden frame centre "
                         "j*stride + (rf-1)/2 samples)",
            "pooling": self.pooling,
            "pooled": ("mean of last_hidden_state over the window's audio" if self.projection is None else
                       f"concat(mean, std) over time @ seeded random projection ({2 * self.frame_dim}x"
                       f"{PROJECTION_DIM}, seed {self.seed}), saved as audio_projection.safetensors"),
        }


class Data2VecTextEncoder(HFTextEncoder):
    """Data2VecTextModel (768-d) with pad id 1 and an attention mask; per-frame word vectors, masked-mean pooled."""

    def __init__(self, model_dir: str | Path, *, fps: float = 15, device: str = "cpu", display_dir: str | None = None):
        from transformers import Data2VecTextModel
        check_model_dir(model_dir, "text", display_dir)
        super().__init__(model_dir, name="data2vec-text", fps=fps, model_cls=Data2VecTextModel, device=device,
                         required=TEXT_FILES, hint=download_hint(TEXT_REPO, display_dir or model_dir),
                         normalize_pooled=False, display_dir=display_dir,
                         model_kwargs={"add_pooling_layer": False})

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "repo": TEXT_REPO}
