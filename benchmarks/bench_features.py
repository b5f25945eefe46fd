"""Feature extraction cost per minute of speech, for each encoder, and yin's agreement with pyin. Prints two tables.

    python benchmarks/bench_features.py [--windows results/build_windows/demo/windows/val] [--minutes 4]
        [--threads 2] [--speech ../shared/data/speech/arctic_a0007.wav] [--no-data2vec]

Cost: the clips of the split (whole clips, in order, until `--minutes` of clip audio), timed as the stage runs them:
the default audio features once per clip and sliced for the windows (target: <= 0.3 s per minute of speech on 2
cores), then, for comparison, per window from each window's own audio (the previous way) and with pyin; text per
window in batches (extract_features.batch_size windows). A minute of clip audio is a minute of speech; windows
overlap (stride 10 of 34 frames), so it holds about 2.9 minutes of window audio. Data2Vec weights cannot be
downloaded here, so its rows use randomly initialised models in the real base configuration (hidden 768, 12 layers):
the cost is the same as with the real weights.

Agreement: the default features' f0 and voiced flag with `pitch: yin` against `pitch: pyin` (the previous default), at
the 15 fps frame instants of the whole recording: voicing agreement (% of frames), gross pitch error (% of the frames
voiced in both whose f0 differ by more than 20 %) and the median absolute difference in cents (pyin's own grid is
25 cents). On the real ARCTIC recording and on the split's clips.
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

from gesturegen.config import ExtractFeaturesParams
from gesturegen.data.windowstore import open_split
from gesturegen.features.audio import DefaultAudioEncoder, slice_windows
from gesturegen.features.data2vec import Data2VecAudioEncoder, Data2VecTextEncoder
from gesturegen.features.text import MiniLMTextEncoder
from stages.extract_features import clip_windows, window_words


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


def _timed(fn) -> np.ndarray:
    """(wall, CPU) seconds: on a busy machine the CPU time of this process is what an idle one would take (for
    one thread; with more torch threads, CPU time adds up over the threads)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return np.array([time.perf_counter() - t, time.process_time() - c])


def _batched(encode, items, batch: int) -> None:
    for i in range(0, len(items), batch):
        encode(items[i:i + batch], 34)


def pitch_agreement(yin: np.ndarray, pyin: np.ndarray) -> tuple[int, float, float, float]:
    """(frames, voicing agreement %, gross pitch error %, median |cents|) of (K, 2) [f0_hz, voiced] arrays."""
    vy, vp = yin[:, 1] > 0, pyin[:, 1] > 0
    both = vy & vp
    ratio = yin[both, 0] / pyin[both, 0]
    return (len(vy), 100 * float((vy == vp).mean()), 100 * float((np.abs(ratio - 1) > 0.2).mean()),
            float(np.median(np.abs(1200 * np.log2(ratio)))))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=Path, default=Path("results/build_windows/demo/windows/val"))
    ap.add_argument("--minutes", type=float, default=4.0, help="minutes of clip audio to time")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speech", type=Path, default=Path("../shared/data/speech/arctic_a0007.wav"))
    ap.add_argument("--no-data2vec", action="store_true")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    split = open_split(args.windows)
    sr, span = int(split.meta["sample_rate_hz"]), int(split.meta["span_frames"])
    clips = split.clips().set_index("clip_row")
    groups, minutes = [], 0.0
    for row, first, starts in clip_windows(split):
        if minutes >= args.minutes:
            break
        c = clips.loc[row]
        y = np.asarray(split.audio_of_clip(int(c.sample_offset), int(c.n_samples)), np.float32)
        groups.append((y, first, starts))
        minutes += y.shape[0] / sr / 60
    idx = np.concatenate([first + np.arange(len(starts)) for _, first, starts in groups])
    window_audio = np.asarray(split.audio[idx], np.float32)
    words = [window_words(split)[i] for i in idx]
    win_minutes = len(idx) * window_audio.shape[1] / sr / 60
    batch = ExtractFeaturesParams().batch_size

    enc = {p: DefaultAudioEncoder(sample_rate_hz=sr, pitch=p) for p in ("yin", "pyin")}
    enc["yin"].encode(window_audio[:2], 34)                                   # warm-up
    enc["pyin"].encode(window_audio[:2], 34)

    def per_clip(e: DefaultAudioEncoder) -> None:
        for y, _, starts in groups:
            slice_windows(e.clip_frames(y, int(starts.max()) + span), starts, 34, span)

    text = MiniLMTextEncoder()
    text.encode(words[:2], 34)
    rows = [("default audio, per clip (yin)", _timed(lambda: per_clip(enc["yin"])) / minutes),
            ("default audio, per clip (pyin)", _timed(lambda: per_clip(enc["pyin"])) / minutes),
            ("default audio, per window (yin)", _timed(lambda: _batched(enc["yin"].encode, window_audio, batch))
             / minutes),
            (f"default text (MiniLM), per window, batch {batch}", _timed(lambda: _batched(text.encode, words, batch))
             / minutes)]
    rows.insert(4, ("default total (audio per clip + text)", rows[0][1] + rows[3][1]))
    if not args.no_data2vec:
        with tempfile.TemporaryDirectory() as tmp:
            a_dir, t_dir = _base_models(Path(tmp))
            m = min(len(idx), 32)
            a, t = Data2VecAudioEncoder(a_dir), Data2VecTextEncoder(t_dir)
            a.encode(window_audio[:2], 34)
            t.encode(words[:2], 34)
            rows.append(("data2vec audio, per window (random weights)",
                         _timed(lambda: _batched(a.encode, window_audio[:m], 16)) * len(idx) / m / minutes))
            rows.append(("data2vec text, per window (random weights)",
                         _timed(lambda: _batched(t.encode, words[:m], 16)) * len(idx) / m / minutes))
    print_table(("encoder", "s per min of speech (wall / CPU)", "s per min of window audio (wall / CPU)"),
                [(name, f"{sec[0]:8.3f} / {sec[1]:.3f}", f"{sec[0] * minutes / win_minutes:8.3f} / "
                  f"{sec[1] * minutes / win_minutes:.3f}") for name, sec in rows])
    print(f"({minutes:.1f} min of clip audio = {len(groups)} clips of {args.windows}, {len(idx)} windows = "
          f"{win_minutes:.1f} min of window audio; {args.threads} torch threads, CPU; load average before: "
          f"{load:.1f})")

    # per split of the same dataset: its clip audio and windows, and the default features' time at the rates above
    rate = {"audio": rows[0][1], "text": rows[3][1] * minutes / len(idx)}      # per minute of speech; per window
    per_split = []
    for d in sorted(p for p in args.windows.parent.iterdir() if (p / "meta.json").is_file()):
        s = open_split(d, verify=False)
        mins, n = float(s.clips()["n_samples"].sum()) / sr / 60, len(s)
        est = rate["audio"] * mins + rate["text"] * n
        per_split.append((d.name, f"{mins:.1f}", str(n), f"{est[0]:.1f} / {est[1]:.1f}"))
    print_table(("split", "min of clip audio", "windows", "default audio + text, s (wall / CPU), at these rates"),
                per_split)

    agree = []
    if args.speech.is_file():
        import soundfile
        y, file_sr = soundfile.read(args.speech, dtype="float32")
        if file_sr == sr:
            agree.append((f"{args.speech.name} (real speech)", [y]))
    agree.append((f"{args.windows.parent.parent.name} {args.windows.name} clips", [y for y, _, _ in groups]))
    table = []
    for name, ys in agree:
        got = {p: np.concatenate([e.clip_frames(y, int(np.ceil(len(y) * 15 / sr)))[:, -2:] for y in ys])
               for p, e in enc.items()}
        n, voicing, gpe, cents = pitch_agreement(got["yin"], got["pyin"])
        table.append((name, str(n), f"{voicing:.1f} %", f"{gpe:.2f} %", f"{cents:.1f}"))
    print_table(("yin vs pyin", "frames", "voicing agreement", "gross pitch error", "median |cents|"), table)


if __name__ == "__main__":
    main()
