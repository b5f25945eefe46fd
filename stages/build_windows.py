"""Cut a dataset's raw clips into filtered, normalised 15 fps windows (ldmc-spec §2.4).

Reads   <raw>/{train,val,test}            raw clip LMDBs in our encoding (convert_raw)
Writes  <out-dir>/windows/{train,val,test}/  arrays (windows, and the audio of their clips) + tables + meta.json with
                                            the arrays' checksums (gesturegen.data.windowstore)
        <out-dir>/windows/videos.csv, normalization.json, rejections.csv
        <out-dir>/windows/bad_records.csv  every record/clip skipped with on_bad_record: skip (header only when none)
        <out-dir>/windows/<split>/annotations/  evaluation-only window annotations (strokes, lexical events, speaker),
                                           only when the records carry them (our demo; gesturegen.data.annotations)
        <out-dir>/metrics.json             headline: windows per split
        <out-dir>/report.json              windows, videos, clips, hours, rejections and bad records per split
        all or nothing: on an error the previous outputs stay as they were (gesturegen.io.replace_on_success)
Params  params.yaml → build_windows, data_sources.<dataset>   (gesturegen.config.BuildWindowsParams)

The same video in two splits is leakage: an error naming the videos, unless build_windows.allow_shared_videos.
Record annotations never reach a model input array: they go to the annotations/ folder only, and a dataset has them
in every video or in none (else an error naming the file and key).
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from gesturegen.config import BuildWindowsParams, DataSource, load_params, to_dict
from gesturegen.data.annotations import RECORD_FIELD, window_view, write_window_annotations
from gesturegen.data.normalize import subtract_mean, train_statistics
from gesturegen.data.rawformat import RawStore, RecordError
from gesturegen.data.records import check_annotations, check_clip
from gesturegen.data.skeleton import Skeleton, get_skeleton
from gesturegen.data.windows import WindowSpec, cut_clip, shared_videos
from gesturegen.data.windowstore import WINDOWS_FORMAT, WINDOWS_VERSION, NpyAppender, window_checksums
from gesturegen.io import replace_on_success, write_json

SPLITS = ("train", "val", "test")
BAD_RECORD_COLUMNS = ["split", "raw_file", "key", "source_file", "source_key", "vid", "clip", "reason", "detail"]


class BuildWindowsError(RuntimeError):
    pass


def _cut_split(store: RawStore, split_dir: Path, skeleton: Skeleton, spec: WindowSpec, p: BuildWindowsParams,
               source: DataSource, mean_pose: np.ndarray) -> dict:
    """Write one split's windows (vectors not yet mean-subtracted); returns its bookkeeping."""
    split_dir.mkdir(parents=True)
    vec = NpyAppender(split_dir / "dir_vec.npy", np.float32, (spec.n_frames, skeleton.dim))
    pos = NpyAppender(split_dir / "poses.npy", np.float32, (spec.n_frames, skeleton.n_joints, 3))
    aud = NpyAppender(split_dir / "audio.npy", np.float16, (spec.audio_samples,))
    clip_aud = NpyAppender(split_dir / "clip_audio.npy", np.float16, ())   # whole clips with a kept window
    rows, words, vids, clip_rows = [], [], [], []
    rejected: Counter = Counter()
    per_video: dict[str, Counter] = defaultdict(Counter)
    bad: Counter = Counter()
    bad_rows: list[tuple] = []   # BAD_RECORD_COLUMNS; keys are the source's (convert_raw keeps them)
    seen_vids: list[str] = []
    annotated: dict[bool, str] = {}                # has annotations -> the first key that does (or does not)
    ann_strokes: list[tuple[int, float]] = []
    ann_events: list[tuple[int, str, float, float]] = []
    ann_speaker: list[str] = []
    labels: set[str] = set()
    duration = spec.n_frames / spec.fps
    clips = 0
    clip_s = covered_s = 0.0
    for key in tqdm(store.keys(), desc=f"build_windows {split_dir.name}", unit="video", leave=False):
        try:
            video = store.read(key)
        except RecordError as e:
            if p.on_bad_record == "error":
                raise
            bad["corrupt_value"] += 1
            per_video[f"<key {key}>"]["corrupt_value"] += 1
            bad_rows.append((split_dir.name, str(store.path), key, store.source, key, "", "", e.reason, e.detail))
            continue
        vid = str(video["vid"])
        seen_vids.append(vid)
        notes = video.get(RECORD_FIELD)
        annotated.setdefault(notes is not None, key)
        if len(annotated) > 1:
            raise BuildWindowsError(
                f"{store.path}: key {annotated[True]} has {RECORD_FIELD!r} (evaluation-only annotations) but key "
                f"{annotated[False]} has none; a dataset's videos either all carry them or none does. Regenerate the "
                f"data, or remove the field from every record")
        if notes is not None:
            problem = check_annotations(notes, len(video["clips"]))
            if problem is not None:
                raise BuildWindowsError(f"{store.path}: key {key} (vid {vid!r}): bad {RECORD_FIELD!r} field: "
                                        f"{problem.message}. Regenerate the data (make_demo_data) or remove the field")
            labels.update(str(ev[0]) for note in notes["clips"] for ev in note["events"])
        for ci, clip in enumerate(video["clips"]):
            problem = check_clip(clip, skeleton.n_joints, source.words_unit, p.sample_rate_hz)
            if problem is not None:
                if p.on_bad_record == "error":
                    origin = f" (from {store.source}, key {key})" if store.source != str(store.path) else ""
                    raise BuildWindowsError(
                        f"{store.path}: key {key} (vid {vid!r}) clip {ci}{origin}: {problem.message}. Fix the source "
                        f"data, or set build_windows.on_bad_record: skip to count such clips and go on")
                bad[problem.reason] += 1
                bad_rows.append((split_dir.name, str(store.path), key, store.source, key, vid, ci, problem.reason,
                                 problem.message))
                per_video[vid][problem.reason] += 1
                continue
            clips += 1
            clip_s += float(clip["end_time"]) - float(clip["start_time"])
            cw = cut_clip(clip, skeleton, spec, p, source.words_unit, mean_pose)
            rejected.update(cw.rejected)
            per_video[vid].update(cw.rejected)
            covered_s += cw.covered_s
            if not cw.vectors:
                continue
            vec.append(np.stack(cw.vectors))
            pos.append(np.stack(cw.joints))
            aud.append(np.stack(cw.audio))
            clip_audio = np.asarray(clip["audio_raw"])
            clip_rows.append((len(clip_rows), vid, ci, clip_aud.n, clip_audio.shape[0], float(clip["start_time"])))
            clip_aud.append(clip_audio)
            for j, (f, t0, ww) in enumerate(zip(cw.start_frames, cw.start_times, cw.words)):
                w = len(rows)
                rows.append((w, vid, ci, f, t0, t0 + spec.n_frames / spec.fps, clip_rows[-1][0]))
                words.extend((w, text, s, e) for text, s, e in ww)
                vids.append(vid)
                if notes is not None:
                    st, ev = window_view(notes["clips"][ci], t0, duration)
                    ann_strokes.extend((w, t) for t in st)
                    ann_events.extend((w, *e) for e in ev)
                    ann_speaker.append(notes["speaker"])
    for a in (vec, pos, aud, clip_aud):
        a.close()
    return {"rows": rows, "clip_rows": clip_rows, "words": words, "vids": vids, "rejected": rejected,
            "per_video": per_video, "bad": bad,
            "bad_rows": bad_rows, "videos": seen_vids, "clips": clips, "clip_hours": clip_s / 3600,
            "covered_hours": covered_s / 3600, "n": vec.n, "annotated": annotated,
            "annotations": (ann_strokes, ann_events, ann_speaker, labels)}


def run(p: BuildWindowsParams, dataset: str, source: DataSource, raw: Path, windows_dir: Path) -> dict:
    """Write the windows into windows_dir (a new folder: main() passes a staging path); returns the metrics."""
    skeleton = get_skeleton(source.skeleton)
    spec = WindowSpec.from_params(p)
    pub_pose, pub_vec = skeleton.published_means()
    windows_dir.mkdir(parents=True)

    parts: dict[str, dict] = {}
    for split in SPLITS:
        with RawStore(raw / split, tolerate_bad_records=p.on_bad_record == "skip") as store:
            if len(store) == 0:
                raise BuildWindowsError(f"{raw / split}: the split is empty (0 videos); every split needs data "
                                        f"(re-run convert_raw / make_demo_data, or check data/{dataset}/{split})")
            parts[split] = _cut_split(store, windows_dir / split, skeleton, spec, p, source, pub_pose)
        if parts[split]["n"] == 0:
            raise BuildWindowsError(
                f"{raw / split}: no window survived ({dict(parts[split]['rejected'])} rejected, bad records "
                f"{dict(parts[split]['bad'])}); the split would be empty. Check the data or relax "
                f"build_windows.filters")
        shared = shared_videos({s: part["videos"] for s, part in parts.items()})
        if shared and not p.allow_shared_videos:
            listing = "; ".join(f"{vid!r} in {' and '.join(splits)}" for vid, splits in list(shared.items())[:10])
            raise BuildWindowsError(
                f"{raw}: {len(shared)} video(s) appear in more than one split, which leaks test data into training: "
                f"{listing}{' ...' if len(shared) > 10 else ''}. Fix the split assignment of the data, or set "
                f"build_windows.allow_shared_videos: true if this is intended")

    has_notes = {split: True in part["annotated"] for split, part in parts.items()}
    if len(set(has_notes.values())) > 1:
        yes, no = (next(s for s in SPLITS if has_notes[s] is v) for v in (True, False))
        raise BuildWindowsError(
            f"{raw / yes}: the records carry {RECORD_FIELD!r} (evaluation-only annotations) but those of {raw / no} "
            f"(e.g. key {parts[no]['annotated'][False]}) do not; every split of a dataset has them or none does")
    labels = sorted(set().union(*(part["annotations"][3] for part in parts.values())))

    # persistent video ids: one table for all splits, sorted by vid; a (permitted) shared video lists its splits
    all_vids = sorted({v for part in parts.values() for v in part["videos"]})
    video_id = {v: i for i, v in enumerate(all_vids)}
    splits_of = {v: ";".join(s for s in SPLITS if v in set(parts[s]["videos"])) for v in all_vids}
    pd.DataFrame({"video_id": range(len(all_vids)), "vid": all_vids, "split": [splits_of[v] for v in all_vids]}
                 ).to_csv(windows_dir / "videos.csv", index=False)

    train = windows_dir / "train"
    train_mean, train_std, train_pose = train_statistics(np.load(train / "dir_vec.npy", mmap_mode="r"),
                                                         np.load(train / "poses.npy", mmap_mode="r"))
    if p.normalization == "published":
        mean_vec, mean_pose = pub_vec.reshape(-1), pub_pose
    else:
        mean_vec, mean_pose = train_mean, train_pose
    write_json(windows_dir / "normalization.json", {
        "source": p.normalization, "mean_dir_vec": mean_vec, "std_dir_vec": train_std, "mean_pose": mean_pose,
        "n_train_windows": parts["train"]["n"]})

    rej_rows = []
    metrics: dict = {"dataset": dataset, "skeleton": skeleton.name}
    for split, part in parts.items():
        d = windows_dir / split
        vectors = np.load(d / "dir_vec.npy", mmap_mode="r+")
        subtract_mean(vectors, mean_vec)
        vectors.flush()
        del vectors
        np.save(d / "video_ids.npy", np.array([video_id[v] for v in part["vids"]], dtype=np.int32))
        pd.DataFrame([(w, video_id[v], v, c, f, t0, t1, r) for w, v, c, f, t0, t1, r in part["rows"]],
                     columns=["window", "video_id", "vid", "clip", "start_frame", "start_time_s", "end_time_s",
                              "clip_row"]).to_csv(d / "windows.csv", index=False)
        pd.DataFrame([(r, video_id[v], v, c, o, n, t0) for r, v, c, o, n, t0 in part["clip_rows"]],
                     columns=["clip_row", "video_id", "vid", "clip", "sample_offset", "n_samples", "start_time_s"]
                     ).to_csv(d / "clips.csv", index=False)
        pd.DataFrame(part["words"], columns=["window", "word", "start_s", "end_s"]).to_csv(d / "words.csv",
                                                                                          index=False)
        write_json(d / "meta.json", {
            "format": WINDOWS_FORMAT, "version": WINDOWS_VERSION, "dataset": dataset, "split": split,
            "skeleton": skeleton.name, "n_windows": part["n"], "n_frames": spec.n_frames,
            "n_seed_frames": p.n_seed_frames, "fps": spec.fps, "stride": spec.stride, "span": p.span,
            "span_frames": spec.span_frames, "sample_rate_hz": spec.sample_rate_hz,
            "audio_samples": spec.audio_samples, "dim": skeleton.dim, "n_joints": skeleton.n_joints,
            "body_dim": skeleton.body_dim, "hand_dim": skeleton.hand_dim, "normalization": p.normalization,
            "clip_audio_samples": part["clip_rows"][-1][3] + part["clip_rows"][-1][4],
            "annotations": has_notes[split],
            "params": to_dict(p), "checksums": window_checksums(d)})  # of the final bytes
        if has_notes[split]:
            strokes, events, speakers, _ = part["annotations"]
            write_window_annotations(d, part["n"], strokes, events, speakers, labels)
        for vid, counts in sorted(part["per_video"].items()):
            rej_rows += [(split, video_id.get(vid, -1), vid, r, n) for r, n in sorted(counts.items())]
        metrics[split] = {
            "windows": part["n"], "videos": len(part["videos"]), "clips": part["clips"],
            "clip_hours": round(part["clip_hours"], 6), "speech_hours": round(part["covered_hours"], 6),
            "clip_audio_hours": round(sum(r[4] for r in part["clip_rows"]) / spec.sample_rate_hz / 3600, 6),
            "rejected": dict(sorted(part["rejected"].items())), "bad_records": dict(sorted(part["bad"].items())),
            "annotations": has_notes[split],
        }
    pd.DataFrame(rej_rows, columns=["split", "video_id", "vid", "reason", "count"]).to_csv(
        windows_dir / "rejections.csv", index=False)
    pd.DataFrame([r for part in parts.values() for r in part["bad_rows"]], columns=BAD_RECORD_COLUMNS).to_csv(
        windows_dir / "bad_records.csv", index=False)
    metrics["total"] = {k: sum(metrics[s][k] for s in SPLITS)
                        for k in ("windows", "videos", "clips", "clip_hours", "speech_hours")}
    return metrics


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--raw", type=Path, required=True, help="folder with {train,val,test} raw clip LMDBs")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    if args.dataset not in params.data_sources:
        ap.error(f"--dataset {args.dataset!r} is not under data_sources in {args.params}")
    with replace_on_success(args.out_dir / "windows", args.out_dir / "report.json",
                            args.out_dir / "metrics.json") as (windows_dir, report_file, metrics_file):
        report = run(params.build_windows, args.dataset, params.data_sources[args.dataset], args.raw, windows_dir)
        write_json(report_file, report)
        write_json(metrics_file, {"windows": {s: report[s]["windows"] for s in SPLITS}})
    t = report["total"]
    print(f"build_windows {args.dataset}: {t['windows']} windows "
          + ", ".join(f"{s} {report[s]['windows']}" for s in SPLITS) + f"; {t['speech_hours'] * 60:.1f} min speech")


if __name__ == "__main__":
    main()
