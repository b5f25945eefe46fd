"""Speech and text features for every window: per motion frame (N, T, D) and pooled per window (N, D).

The default audio features are computed once per clip (clip_audio.npy) and sliced for each window; Data2Vec audio
runs per window (its input normalisation and self-attention span the whole input); text runs per window, in batches.

Reads   <windows>/{train,val,test}/   build_windows splits (clip_audio.npy, clips.csv, audio.npy, windows.csv,
                                      words.csv, meta.json)
Writes  <out-dir>/features/<split>/{audio_frames,audio_pooled,text_frames,text_pooled}.npy + meta.json (with their
        checksums)
        <out-dir>/features/audio_projection.safetensors   (data2vec audio with pooling: projection only)
        <out-dir>/metrics.json            headline: per-frame audio and text dims, device
        <out-dir>/report.json             windows, frames and audio seconds per split; encoders; dims; compute
        <out-dir>/timings.json            seconds per split and per encoder (not tracked: differs run to run)
Params  params.yaml → seed, compute, extract_features   (gesturegen.config.ExtractFeaturesParams)
Model folders in params are relative to the working directory (the repository root). Outputs are replaced only
when the whole stage succeeds.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gesturegen.compute import use_compute
from gesturegen.config import ComputeParams, ExtractFeaturesParams, load_params, to_dict
from gesturegen.data.windowstore import NpyAppender, WindowSplit, array_checksums, open_split
from gesturegen.features import (
    ARRAY_NAMES,
    FEATURES_FORMAT,
    FEATURES_VERSION,
    AudioEncoder,
    FeatureError,
    TextEncoder,
    check_finite,
    first_non_finite,
    make_encoders,
)
from gesturegen.io import read_json, replace_on_success, write_json

SPLITS = ("train", "val", "test")
TEXT_CHUNK_BATCHES = 16
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


def clip_windows(split: WindowSplit) -> list[tuple[int, int, np.ndarray]]:
    """(clip_row, first window, start frames of its windows) per clip, in window order; the windows of one clip must be
    consecutive (build_windows writes them so)."""
    windows = split.windows()
    rows, starts = windows["clip_row"].to_numpy(np.int64), windows["start_frame"].to_numpy(np.int64)
    cuts = np.flatnonzero(np.diff(rows)) + 1
    groups = np.split(np.arange(len(rows)), cuts)
    if len({int(rows[g[0]]) for g in groups}) != len(groups):
        raise FeatureError(f"{split.path / 'windows.csv'}: the windows of a clip are not consecutive (clip_row); "
                           f"re-run build_windows")
    return [(int(rows[g[0]]), int(g[0]), starts[g]) for g in groups]


def _audio_per_clip(name: str, split: WindowSplit, audio_enc: AudioEncoder, writers: dict) -> None:
    """The default audio features of each clip's whole audio, sliced for its windows (appended in window order)."""
    from gesturegen.features.audio import slice_windows
    t, span = int(split.meta["n_frames"]), int(split.meta.get("span_frames") or split.meta["n_frames"])
    clips = split.clips().set_index("clip_row")
    for row, first, starts in tqdm(clip_windows(split), desc=f"extract_features {name} audio", unit="clip",
                                   leave=False):
        c = clips.loc[row]
        y = np.asarray(split.audio_of_clip(int(c.sample_offset), int(c.n_samples)), dtype=np.float32)
        bad = first_non_finite(y)
        if bad is not None:
            raise FeatureError(
                f"split {name!r}: {split.path / 'clip_audio.npy'} has NaN/inf at sample {int(c.sample_offset) + bad} "
                f"(clip_row {row}: video {c.vid!r} clip {c['clip']}, sample {bad} of the clip; windows {first}-"
                f"{first + len(starts) - 1}); fix the data, then re-run build_windows and extract_features")
        af, ap = slice_windows(audio_enc.clip_frames(y, int(starts.max()) + span), starts, t, span)
        check_finite({"audio_frames": af, "audio_pooled": ap}, name, offset=first)
        writers["audio_frames"].append(af)
        writers["audio_pooled"].append(ap)


def text_features(text_enc: TextEncoder, words: list, n_frames: int, batch_size: int) -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
    """Text features of `words` (one list per window), encoded in batches of batch_size windows of similar length
    (less padding; the encoders are padding-invariant through their attention mask), returned in the given order."""
    order = np.argsort([sum(len(w[0]) + 1 for w in ws) for ws in words], kind="stable")
    frames = np.empty((len(words), n_frames, text_enc.frame_dim), np.float32)
    pooled = np.empty((len(words), text_enc.pooled_dim), np.float32)
    for i in range(0, len(words), batch_size):
        idx = order[i:i + batch_size]
        frames[idx], pooled[idx] = text_enc.encode([words[j] for j in idx], n_frames)
    return frames, pooled


def _extract_split(name: str, split: WindowSplit, out: Path, audio_enc: AudioEncoder, text_enc: TextEncoder,
                   batch_size: int) -> dict:
    meta_w = split.meta
    n, t, sr = len(split), int(meta_w["n_frames"]), int(meta_w["sample_rate_hz"])
    words = window_words(split)
    per_clip = getattr(audio_enc, "per_clip", False)
    out.mkdir(parents=True)
    writers = {"audio_frames": NpyAppender(out / "audio_frames.npy", np.float32, (t, audio_enc.frame_dim)),
               "audio_pooled": NpyAppender(out / "audio_pooled.npy", np.float32, (audio_enc.pooled_dim,)),
               "text_frames": NpyAppender(out / "text_frames.npy", np.float32, (t, text_enc.frame_dim)),
               "text_pooled": NpyAppender(out / "text_pooled.npy", np.float32, (text_enc.pooled_dim,))}
    spent = {"audio": 0.0, "text": 0.0}
    try:
        if per_clip:
            t0 = time.perf_counter()
            _audio_per_clip(name, split, audio_enc, writers)
            spent["audio"] += time.perf_counter() - t0
        chunk = TEXT_CHUNK_BATCHES * batch_size     # text batches are sorted by length within chunks of windows
        for i in tqdm(range(0, n, chunk), desc=f"extract_features {name}", unit="chunk", leave=False):
            batch = {}
            t0 = time.perf_counter()
            if not per_clip:                        # per window, in batches
                parts = []
                for j in range(i, min(i + chunk, n), batch_size):
                    audio = np.asarray(split.audio[j:j + batch_size], dtype=np.float32)   # only this batch is read
                    check_finite({"the input audio (windows audio.npy)": audio}, name, offset=j)
                    parts.append(audio_enc.encode(audio, t))
                batch["audio_frames"], batch["audio_pooled"] = (np.concatenate(a) for a in zip(*parts))
            t1 = time.perf_counter()
            batch["text_frames"], batch["text_pooled"] = text_features(text_enc, words[i:i + chunk], t, batch_size)
            spent["audio"] += t1 - t0
            spent["text"] += time.perf_counter() - t1
            check_finite(batch, name, offset=i)
            for key, arr in batch.items():
                writers[key].append(arr)
    finally:
        for wr in writers.values():
            wr.close()
    minutes = n * split.audio.shape[1] / sr / 60
    clip_minutes = float(split.clips()["n_samples"].sum()) / sr / 60
    spent["total"] = sum(spent.values())
    return {"windows": n, "frames": t, "audio_seconds": round(minutes * 60, 3),
            "clip_audio_seconds": round(clip_minutes * 60, 3),
            "audio_features": "per clip" if per_clip else "per window"}, {
        "extraction_seconds": {k: round(v, 3) for k, v in spent.items()},
        "seconds_per_audio_minute": {k: round(v / minutes, 4) if minutes else None for k, v in spent.items()},
        "seconds_per_clip_audio_minute": {k: round(v / clip_minutes, 4) if clip_minutes else None
                                          for k, v in spent.items()}}


def run(p: ExtractFeaturesParams, compute: ComputeParams, seed: int, dataset: str, windows: Path,
        out_dir: Path) -> tuple[dict, dict]:
    """Features of every split into out_dir (replaced only on success); returns (headline metrics, timings)."""
    names = [s for s in SPLITS if (windows / s / "meta.json").is_file()]
    if not names:
        raise FeatureError(f"{windows}: no split folder with meta.json ({', '.join(SPLITS)}); run build_windows")
    splits = {s: open_split(windows / s) for s in names}
    first = splits[names[0]].meta
    for s, sp in splits.items():
        if (sp.meta["sample_rate_hz"], sp.meta["fps"], sp.meta["n_frames"]) != \
                (first["sample_rate_hz"], first["fps"], first["n_frames"]):
            raise FeatureError(f"{windows / s}: sample rate / fps / n_frames differ from {names[0]}; rebuild windows")
    machine = use_compute(compute.device, compute.threads_for("extract_features"))
    with replace_on_success(out_dir / "features", out_dir / "report.json", out_dir / "metrics.json") as staged:
        features, report_json, metrics_json = staged
        features.mkdir()
        report, timings = _extract(p, compute.device, seed, dataset, splits, features)
        report["compute"] = machine
        headline = {"device": compute.device}            # the dims are in report.json: not a number to track
        write_json(report_json, report)
        write_json(metrics_json, headline)
    return headline, timings


def _extract(p: ExtractFeaturesParams, device: str, seed: int, dataset: str, splits: dict[str, WindowSplit],
             features: Path) -> tuple[dict, dict]:
    first = next(iter(splits.values())).meta
    t0 = time.perf_counter()
    audio_enc, text_enc = make_encoders(p, sample_rate_hz=int(first["sample_rate_hz"]), fps=float(first["fps"]),
                                        seed=seed, device=device)
    load_s = time.perf_counter() - t0
    projection = getattr(audio_enc, "save_projection", lambda _: None)(features / "audio_projection.safetensors")
    encoders = {"audio": audio_enc.describe(), "text": text_enc.describe()}
    dims = {"audio_frames": audio_enc.frame_dim, "audio_pooled": audio_enc.pooled_dim,
            "text_frames": text_enc.frame_dim, "text_pooled": text_enc.pooled_dim}
    report: dict = {"dataset": dataset, "encoders": {k: v["name"] for k, v in encoders.items()}, "dims": dims}
    timings: dict = {"load_seconds": round(load_s, 3)}
    for name, split in splits.items():
        m, timings[name] = _extract_split(name, split, features / name, audio_enc, text_enc, p.batch_size)
        meta_w = split.meta
        write_json(features / name / "meta.json", {
            "format": FEATURES_FORMAT, "version": FEATURES_VERSION, "dataset": dataset, "split": name,
            "n_windows": m["windows"], "n_frames": m["frames"], "fps": meta_w["fps"],
            "span": meta_w.get("span"), "span_frames": meta_w.get("span_frames"),
            "sample_rate_hz": meta_w["sample_rate_hz"], "audio_samples": int(split.audio.shape[1]),
            "audio_features": m["audio_features"],
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
        report[name] = m
    return report, timings


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--windows", type=Path, required=True, help="build_windows output: <...>/windows")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    _, timings = run(params.extract_features, params.compute, params.seed, args.dataset, args.windows,
                           args.out_dir)
    write_json(args.out_dir / "timings.json", timings)
    dims = read_json(args.out_dir / "report.json")["dims"]
    print(f"extract_features {args.dataset}: " + ", ".join(
        f"{s} ({timings[s]['seconds_per_clip_audio_minute']['total']:.2f} s per min of clip audio)"
        for s in SPLITS if s in timings)
        + f"; per-frame dims audio {dims['audio_frames']}, text {dims['text_frames']}")


if __name__ == "__main__":
    main()
