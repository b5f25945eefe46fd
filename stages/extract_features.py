"""Speech and text features for every window: per motion frame (N, T, D) and pooled per window (N, D).

Reads   <windows>/{train,val,test}/   build_windows splits (audio.npy, windows.csv, words.csv, meta.json)
Writes  <out-dir>/features/<split>/{audio_frames,audio_pooled,text_frames,text_pooled}.npy + meta.json (with their
        checksums)
        <out-dir>/features/audio_projection.safetensors   (data2vec audio with pooling: projection only)
        <out-dir>/metrics.json            windows, audio seconds, extraction seconds per split; dims
Params  params.yaml → seed, extract_features   (gesturegen.config.ExtractFeaturesParams)
Model folders in params are relative to the working directory (the repository root).
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gesturegen.config import ExtractFeaturesParams, load_params, to_dict
from gesturegen.data.windowstore import NpyAppender, WindowSplit, array_checksums, open_split
from gesturegen.features import (
    ARRAY_NAMES,
    FEATURES_FORMAT,
    FEATURES_VERSION,
    AudioEncoder,
    FeatureError,
    TextEncoder,
    check_finite,
    make_encoders,
)
from gesturegen.io import write_json

SPLITS = ("train", "val", "test")
SILENCE = {"text_frames": "zero vector where no word's [start, end] contains the frame instant k/fps "
                          "(pauses, silence); windows without words have zero text_frames and text_pooled",
           "audio_frames": "computed from the audio as is (silence gives -100 dB log-mel, unvoiced pitch 0 for the "
                           "default encoder); audio shorter than the window is zero-padded"}


def window_words(split: WindowSplit) -> list[list[tuple[str, float, float]]]:
    """Each window's words with times relative to its start (frame 0) in seconds."""
    starts = split.windows()["start_time_s"].to_numpy(np.float64)
    out: list[list[tuple[str, float, float]]] = [[] for _ in range(len(split))]
    words = split.words()
    for w, text, s, e in zip(words["window"].to_numpy(), words["word"], words["start_s"].to_numpy(np.float64),
                             words["end_s"].to_numpy(np.float64)):
        out[int(w)].append((str(text), float(s - starts[w]), float(e - starts[w])))
    return out


def _extract_split(name: str, split: WindowSplit, out: Path, audio_enc: AudioEncoder, text_enc: TextEncoder,
                   batch_size: int) -> dict:
    meta_w = split.meta
    n, t, sr = len(split), int(meta_w["n_frames"]), int(meta_w["sample_rate_hz"])
    words = window_words(split)
    out.mkdir(parents=True)
    writers = {"audio_frames": NpyAppender(out / "audio_frames.npy", np.float32, (t, audio_enc.frame_dim)),
               "audio_pooled": NpyAppender(out / "audio_pooled.npy", np.float32, (audio_enc.pooled_dim,)),
               "text_frames": NpyAppender(out / "text_frames.npy", np.float32, (t, text_enc.frame_dim)),
               "text_pooled": NpyAppender(out / "text_pooled.npy", np.float32, (text_enc.pooled_dim,))}
    spent = {"audio": 0.0, "text": 0.0}
    try:
        for i in tqdm(range(0, n, batch_size), desc=f"extract_features {name}", unit="batch", leave=False):
            audio = np.asarray(split.audio[i:i + batch_size], dtype=np.float32)   # only this batch leaves the memmap
            check_finite({"the input audio (windows audio.npy)": audio}, name, offset=i)
            t0 = time.perf_counter()
            af, ap = audio_enc.encode(audio, t)
            t1 = time.perf_counter()
            tf, tp = text_enc.encode(words[i:i + batch_size], t)
            spent["audio"] += t1 - t0
            spent["text"] += time.perf_counter() - t1
            batch = {"audio_frames": af, "audio_pooled": ap, "text_frames": tf, "text_pooled": tp}
            check_finite(batch, name, offset=i)
            for key, arr in batch.items():
                writers[key].append(arr)
    finally:
        for wr in writers.values():
            wr.close()
    minutes = n * split.audio.shape[1] / sr / 60
    return {"windows": n, "frames": t, "audio_seconds": round(minutes * 60, 3),
            "extraction_seconds": {k: round(v, 3) for k, v in {**spent, "total": sum(spent.values())}.items()},
            "seconds_per_audio_minute": {k: round(v / minutes, 4) if minutes else None
                                         for k, v in {**spent, "total": sum(spent.values())}.items()}}


def run(p: ExtractFeaturesParams, seed: int, dataset: str, windows: Path, out_dir: Path,
        device: str | None = None) -> dict:
    names = [s for s in SPLITS if (windows / s / "meta.json").is_file()]
    if not names:
        raise FeatureError(f"{windows}: no split folder with meta.json ({', '.join(SPLITS)}); run build_windows")
    splits = {s: open_split(windows / s) for s in names}
    first = splits[names[0]].meta
    for s, sp in splits.items():
        if (sp.meta["sample_rate_hz"], sp.meta["fps"], sp.meta["n_frames"]) != \
                (first["sample_rate_hz"], first["fps"], first["n_frames"]):
            raise FeatureError(f"{windows / s}: sample rate / fps / n_frames differ from {names[0]}; rebuild windows")
    if device is None:
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    features = out_dir / "features"
    if features.exists():
        shutil.rmtree(features)
    features.mkdir(parents=True)

    t0 = time.perf_counter()
    audio_enc, text_enc = make_encoders(p, sample_rate_hz=int(first["sample_rate_hz"]), fps=float(first["fps"]),
                                        seed=seed, device=device)
    load_s = time.perf_counter() - t0
    projection = getattr(audio_enc, "save_projection", lambda _: None)(features / "audio_projection.safetensors")
    encoders = {"audio": audio_enc.describe(), "text": text_enc.describe()}
    dims = {"audio_frames": audio_enc.frame_dim, "audio_pooled": audio_enc.pooled_dim,
            "text_frames": text_enc.frame_dim, "text_pooled": text_enc.pooled_dim}
    metrics: dict = {"dataset": dataset, "device": device, "encoders": {k: v["name"] for k, v in encoders.items()},
                     "dims": dims, "load_seconds": round(load_s, 3)}
    for name, split in splits.items():
        m = _extract_split(name, split, features / name, audio_enc, text_enc, p.batch_size)
        meta_w = split.meta
        write_json(features / name / "meta.json", {
            "format": FEATURES_FORMAT, "version": FEATURES_VERSION, "dataset": dataset, "split": name,
            "n_windows": m["windows"], "n_frames": m["frames"], "fps": meta_w["fps"],
            "span": meta_w.get("span"), "span_frames": meta_w.get("span_frames"),
            "sample_rate_hz": meta_w["sample_rate_hz"], "audio_samples": int(split.audio.shape[1]),
            "frame_times": "frame k is the instant k/fps after the window start (windows.csv start_time_s), "
                           "the time of motion frame k",
            "arrays": {a: {"dtype": "float32", "shape": [m["windows"], m["frames"], dims[a]] if a.endswith("frames")
                           else [m["windows"], dims[a]]} for a in ARRAY_NAMES},
            "dims": dims, "encoders": encoders, "silence": SILENCE,
            "audio_projection": projection.name if projection else None,
            "windows": {"dataset": meta_w.get("dataset"), "split": meta_w.get("split"),
                        "n_windows": meta_w["n_windows"], "n_frames": meta_w["n_frames"]},
            "params": to_dict(p), "seed": seed,
            "checksums": array_checksums(features / name, ARRAY_NAMES)})  # of the final bytes; open_features checks
        metrics[name] = m
    return metrics


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--windows", type=Path, required=True, help="build_windows output: <...>/windows")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    metrics = run(params.extract_features, params.seed, args.dataset, args.windows, args.out_dir)
    write_json(args.out_dir / "metrics.json", metrics)
    print(f"extract_features {args.dataset}: " + ", ".join(
        f"{s} {metrics[s]['windows']} windows ({metrics[s]['seconds_per_audio_minute']['total']:.2f} s per audio min)"
        for s in SPLITS if s in metrics) + f"; dims {metrics['dims']}")


if __name__ == "__main__":
    main()
