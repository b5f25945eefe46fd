"""Render the videos of the default run: whole val/test clips generated long-form by the body and hand diffusion
models, side by side with the ground truth, with the clip's speech as the sound track and its words as subtitles.

Each chosen clip (render_videos.clips: per split, rows of the split's clips.csv) is generated as `gesturegen generate`
generates a recording: the clip's speech and text features computed as extract_features computes them, windows of 34
frames every 30, each window's seed the last frames generated so far. The first window's seed is the ground truth's
first frames; the style condition is another window of the same video (not overlapping the clip when the video has
one), through each part's VQ-VAE. Both panels are drawn through the same bone lengths (the mean pose's).

Reads   <raw>/<split>                  convert_raw's raw clips: the ground-truth motion, words and speech of a clip
        <windows>                      build_windows' windows/: clips.csv (the clip rows), windows.csv and dir_vec
                                       (the style reference), normalization.json, meta.json (fps, window sizes)
        <diffusion>                    diffusion's model/ folders with a {part} placeholder (each names its VQ-VAE)
Writes  <out-dir>/videos/<name>/       per clip: video.mp4 (H.264 + AAC), motion.npz (joints, vectors, fps, skeleton,
                                       the generation's settings), motion.bvh; <name> = <split>-<row>-<vid>-<clip>
        <out-dir>/posters/<name>.png   per clip: a strip of frames, ground truth above generated
        <out-dir>/report.json          per clip: duration, windows, words, reference window, the video's streams
                                       (checked: one H.264 and one AAC stream of the clip's duration), seconds
        <out-dir>/metrics.json         headline: videos rendered, device
Params  params.yaml → seed, compute, data_sources, build_windows, extract_features, diffusion (the sampler),
        render_videos
"""
from __future__ import annotations

import argparse
import json
import re
import time
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gesturegen.compute import use_compute
from gesturegen.config import Params, load_params, to_dict
from gesturegen.io import read_json, replace_on_success, write_json

PARTS = ("body", "hand")


class RenderVideosError(RuntimeError):
    pass


def clip_name(split: str, row: int, vid: str, clip: int) -> str:
    """A clip's file name: split, clips.csv row, video id (characters outside [A-Za-z0-9_.-] as _), clip index."""
    return f"{split}-{row:03d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', str(vid))}-{clip}"


def chosen_clips(windows: Path, clips: dict) -> list[tuple[str, int, dict]]:
    """(split, row, clips.csv record) of every chosen clip; a row past the end of the split is an error naming the
    param."""
    import pandas as pd

    out = []
    for split, rows in clips.items():
        table = pd.read_csv(windows / split / "clips.csv")
        for r in rows:
            if r >= len(table):
                raise RenderVideosError(f"params.yaml: render_videos.clips.{split}: row {r}, but "
                                        f"{windows / split / 'clips.csv'} has {len(table)} clips (rows 0-"
                                        f"{len(table) - 1}); choose rows that exist")
            out.append((split, int(r), table.iloc[r].to_dict()))
    return out


def read_raw_clips(raw_split: Path, wanted: dict[str, set[int]]) -> dict[tuple[str, int], dict]:
    """The raw clips {(vid, clip index): clip} of the wanted videos of one split (convert_raw's store, read until
    every wanted video is found); a video or clip that is not there is an error naming the store."""
    from gesturegen.data.rawformat import RawStore

    found: dict[tuple[str, int], dict] = {}
    left = set(wanted)
    with RawStore(raw_split) as store:
        for key in store.keys():
            if not left:
                break
            video = store.read(key)
            vid = str(video["vid"])
            if vid not in left:
                continue
            left.discard(vid)
            for ci in wanted[vid]:
                if ci >= len(video["clips"]):
                    raise RenderVideosError(f"{raw_split}: key {key} (vid {vid!r}) has {len(video['clips'])} clips, "
                                            f"clips.csv names clip {ci}; re-run build_windows on this raw data")
                found[(vid, ci)] = video["clips"][ci]
    if left:
        raise RenderVideosError(f"{raw_split}: no video {sorted(left)} (named by clips.csv); re-run build_windows on "
                                f"this raw data")
    return found


def style_reference(table, vid: str, clip: int, t0: float, t1: float, rng: np.random.Generator) -> int:
    """A window of the same video whose span does not overlap the clip's [t0, t1) (any window of the video when
    none is apart, -1 when the video has none)."""
    same = table[table["vid"].astype(str) == vid]
    apart = same[(same["end_time_s"] <= t0 + 1e-9) | (same["start_time_s"] >= t1 - 1e-9)]
    pool = apart if len(apart) else same
    return -1 if not len(pool) else int(pool["window"].to_numpy()[rng.integers(0, len(pool))])


def run(params: Params, dataset: str, raw: Path, windows: Path, diffusion: Path, out_dir: Path) -> dict:
    """Render into out_dir (outputs replaced only on success); returns the headline metrics."""
    from gesturegen.data.windows import resample_frames, words_in_seconds
    from gesturegen.data.windowstore import open_split
    from gesturegen.features import make_encoders
    from gesturegen.generate import GenerateError, generate_recording, load_part_models, write_outputs
    from gesturegen.generation import style_latents
    from gesturegen.metrics.motion import joints_from_vectors
    from gesturegen.models.vqvae import VQVAEMismatchError
    from gesturegen.models.latent_diffusion import DiffusionMismatchError
    from gesturegen.recording import SAMPLE_RATE, Recording, Word
    from gesturegen.render import Panel, probe, render_poster, render_video
    from stages.diffusion import join_config, sampler_config

    p, dp = params.render_videos, params.diffusion
    machine = use_compute(params.compute.device, params.compute.threads_for("render_videos"))
    start = time.perf_counter()
    source = params.data_sources[dataset]
    if params.build_windows.sample_rate_hz != SAMPLE_RATE:
        raise RenderVideosError(f"params.yaml: build_windows.sample_rate_hz is {params.build_windows.sample_rate_hz}; "
                                f"the speech encoders take {SAMPLE_RATE} Hz")
    template = str(diffusion)      # load_part_models refuses a template without its {part} placeholder
    try:
        parts, info, skeleton, mean = load_part_models(template, dataset, windows / "normalization.json")
    except (FileNotFoundError, ValueError, VQVAEMismatchError, DiffusionMismatchError) as e:
        raise RenderVideosError(str(e)) from None
    meta = read_json(windows / "train" / "meta.json")
    fps, n_frames, n_seed = float(meta["fps"]), int(meta["n_frames"]), int(meta["n_seed_frames"])
    span = int(meta.get("span_frames") or n_frames)
    if (fps, n_frames, n_seed) != (float(info["fps"]), int(info["n_frames"]), int(info["n_seed_frames"])):
        raise RenderVideosError(f"{template}: models trained on windows of {info['n_frames']} frames at "
                                f"{info['fps']} fps, {windows} has {n_frames} at {fps}; rerun the DAG")
    audio_enc, text_enc = make_encoders(params.extract_features, sample_rate_hz=SAMPLE_RATE, fps=fps,
                                        seed=params.seed)
    sampler, join = sampler_config(dp), join_config(dp)
    aqgt_faithful = source.words_unit == "frames" and params.build_windows.aqgt_word_frames == "faithful"
    chosen = chosen_clips(windows, p.clips)
    raw_clips: dict[str, dict] = {}
    for split in sorted({s for s, _, _ in chosen}):
        wanted: dict[str, set[int]] = {}
        for s, _, rec in chosen:
            if s == split:
                wanted.setdefault(str(rec["vid"]), set()).add(int(rec["clip"]))
        raw_clips[split] = read_raw_clips(raw / split, wanted)

    clips_report, seconds_video, seconds_render, seconds_generate = [], 0.0, 0.0, 0.0
    opened: dict = {}
    with replace_on_success(out_dir / "videos", out_dir / "posters", out_dir / "report.json",
                            out_dir / "metrics.json") as (videos_dir, posters_dir, report_json, metrics_json):
        videos_dir.mkdir()
        posters_dir.mkdir()
        for split, row, rec in tqdm(chosen, desc=f"render_videos {dataset}", unit="clip"):
            vid, ci = str(rec["vid"]), int(rec["clip"])
            clip = raw_clips[split][(vid, ci)]
            t0, t1 = float(clip["start_time"]), float(clip["end_time"])
            duration = t1 - t0
            joints = resample_frames(np.asarray(clip["skeletons_3d"], np.float64), duration, fps)
            truth = skeleton.to_vectors(joints).reshape(joints.shape[0], -1).astype(np.float32) - mean
            audio = np.asarray(clip["audio_raw"], np.float32)
            if p.max_seconds:
                truth = truth[:int(round(p.max_seconds * fps))]
                audio = audio[:int(round(p.max_seconds * SAMPLE_RATE))]
            words = [Word(w, s - t0, e - t0) for w, s, e in words_in_seconds(clip, source.words_unit,
                                                                             aqgt_faithful)[0]]
            seconds = audio.size / SAMPLE_RATE
            words = [w for w in words if w.start < seconds]
            name = clip_name(split, row, vid, ci)
            if split not in opened:
                w_split = open_split(windows / split)
                opened[split] = (w_split, w_split.windows())
            w_split, table = opened[split]
            rng = np.random.default_rng([params.seed, zlib.crc32(f"{split}/{row}".encode())])
            ref = style_reference(table, vid, ci, t0, t0 + seconds, rng)
            styles = None if ref < 0 else [style_latents(part, np.array(w_split.dir_vec[ref], np.float32))
                                           for part in parts]
            noise_seed = zlib.crc32(f"{params.seed}/{split}/{row}".encode())
            g0 = time.perf_counter()
            try:
                gen = generate_recording(Recording(raw / split, audio, SAMPLE_RATE, 1), words, parts, audio_enc,
                                         text_enc, mean, skeleton, sampler, fps=fps, n_frames=n_frames,
                                         n_seed=n_seed, seed=noise_seed, span_frames=span, use_ema=dp.use_ema,
                                         quantize=dp.quantize, styles=styles, first_seed=truth[:n_seed],
                                         join=join)
            except GenerateError as e:
                raise RenderVideosError(f"{name}: {e}") from None
            g1 = time.perf_counter()
            n = min(gen.vectors.shape[0], truth.shape[0])
            truth_joints = joints_from_vectors(truth[:n], mean, skeleton).astype(np.float32)
            clip_info = {"dataset": dataset, "split": split, "clip_row": row, "vid": vid, "clip": ci,
                         "start_time_s": t0, "duration_s": round(seconds, 3), "frames": n, "windows": gen.n_windows,
                         "words": len(words), "style_reference_window": ref, "noise_seed": noise_seed,
                         "first_seed": "ground truth", "sampler": {"name": sampler.name, "steps": sampler.steps},
                         "join": to_dict(dp.join),
                         "use_ema": dp.use_ema, "quantize": dp.quantize,
                         "models": {pt: template.replace("{part}", pt) for pt in PARTS}, "notes": gen.notes}
            folder = videos_dir / name
            gen.vectors, gen.joints = gen.vectors[:n], gen.joints[:n]
            write_outputs(folder, gen, skeleton, mean, clip_info, words)
            panels = [Panel("ground truth", truth_joints), Panel("generated", gen.joints)]
            word_times = [(w.text, w.start, w.end) for w in words]
            title = (f"{dataset} {split} clip {row} ({vid} #{ci}): {sampler.name} {sampler.steps} steps, "
                     f"seed poses from the ground truth")
            audio_n = audio[:int(round(n / fps * SAMPLE_RATE))]
            r0 = time.perf_counter()
            video = render_video(folder / "video.mp4", panels, skeleton, fps, audio=audio_n, words=word_times,
                                 title=title, size_px=p.size_px)
            r1 = time.perf_counter()
            render_poster(posters_dir / f"{name}.png", panels, skeleton, fps, n_frames=p.poster_frames,
                          words=word_times, title=f"{dataset} {split} clip {row} ({vid} #{ci}), {sampler.name} "
                                                  f"{sampler.steps} steps")
            media = probe(video)
            want = n / fps
            if (media.video_codec, media.audio_codec, media.n_video, media.n_audio) != ("h264", "aac", 1, 1) or \
                    media.duration_s is None or abs(media.duration_s - want) > 0.15:
                raise RenderVideosError(f"{video}: expected one H.264 and one AAC stream of {want:.2f} s, ffmpeg "
                                        f"reports {media}")
            seconds_video += want
            seconds_render += r1 - r0
            seconds_generate += g1 - g0
            clips_report.append({"name": name, **clip_info,
                                 "video": {"codec": media.video_codec, "audio": media.audio_codec,
                                           "duration_s": media.duration_s, "fps": media.fps},
                                 "seconds": {"generate": round(g1 - g0, 3), "render": round(r1 - r0, 3)}})
        # `dvc metrics show` stays narrow: the count of videos (a column make_demo_data shares) and the device; the
        # seconds and speeds are in report.json
        metrics = {"videos": len(clips_report), "device": params.compute.device}
        write_json(report_json, {
            "dataset": dataset, "clips": clips_report, "compute": machine, "video_s": round(seconds_video, 2),
            "render_speed_x_realtime": round(seconds_video / max(seconds_render, 1e-9), 2),
            "generate_rtf": round(seconds_generate / max(seconds_video, 1e-9), 4),
            "params": {"render_videos": to_dict(p)}})
        write_json(metrics_json, metrics)
    print(f"render_videos {dataset}: {len(clips_report)} videos, {seconds_video:.1f} s of video in "
          f"{time.perf_counter() - start:.1f} s (render {seconds_render:.1f} s, generation {seconds_generate:.1f} s)")
    return metrics


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--raw", type=Path, required=True, help="convert_raw's raw/ folder (one store per split)")
    ap.add_argument("--windows", type=Path, required=True, help="build_windows' windows/ folder")
    ap.add_argument("--diffusion", type=Path, required=True, help="diffusion's model/ folder, with {part}")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    if args.dataset not in params.data_sources:
        raise SystemExit(f"--dataset {args.dataset!r}: not in params.yaml's data_sources "
                         f"({sorted(params.data_sources)})")
    start = time.perf_counter()
    metrics = run(params, args.dataset, args.raw, args.windows, args.diffusion, args.out_dir)
    write_json(args.out_dir / "timings.json", {"total_seconds": round(time.perf_counter() - start, 3)})
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
