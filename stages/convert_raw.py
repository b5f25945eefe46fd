"""Convert one dataset's raw clip LMDBs (official pyarrow ones, or ours) to our encoding, losslessly.

Reads   <src>/{train,val,test}   (official TED Expressive / AQGT LMDBs, converted in the isolated legacy env,
                                  or LMDBs already in our encoding, re-encoded and so validated)
Writes  <out-dir>/raw/{train,val,test}, <out-dir>/metrics.json
Params  params.yaml → convert_raw, data_sources[<dataset>]   (gesturegen.config.ConvertRawParams, DataSource)
"""
from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from gesturegen.config import ConvertRawParams, DataSource, load_params
from gesturegen.data import rawformat
from gesturegen.data.legacy import BadRecord, SourceSplit, canonicalize_video, check_video, open_source
from gesturegen.io import write_json

SPLITS = ("train", "val", "test")
_COUNTS = ("videos", "clips", "hours", "words", "skipped_corrupt")


def _clip_seconds(clip: object) -> float:
    try:
        return float(clip["end_time"]) - float(clip["start_time"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return 0.0


def _videos(source: SourceSplit, p: ConvertRawParams, stats: dict, desc: str) -> Iterator[dict]:
    """The source's videos, canonicalised, in key order; corrupt ones raise or (on_corrupt: skip) are counted."""
    # closing(): stop the legacy worker / close the LMDB at once when a corrupt value raises
    with closing(source.records()) as records, tqdm(records, total=source.n_videos, desc=desc, unit="video") as bar:
        yield from _checked(bar, source.path, p, stats)


def _checked(records: Iterable, path: Path, p: ConvertRawParams, stats: dict) -> Iterator[dict]:
    for key, video in records:
        problem = video.error if isinstance(video, BadRecord) else check_video(video)
        if problem is None:
            try:
                video = canonicalize_video(video)
            except ValueError as e:
                problem = str(e)
        if problem is not None:
            if p.on_corrupt == "skip":
                stats["skipped_corrupt"] += 1
                continue
            raise rawformat.RawFormatError(
                f"{path}: key {key}: corrupt value ({problem}). Fix: replace this split with an intact copy "
                f"(see data/README.md), or set `convert_raw: on_corrupt: skip` in params.yaml to count and skip it")
        clips = video["clips"]
        stats["videos"] += 1
        stats["clips"] += len(clips)
        stats["hours"] += sum(_clip_seconds(c) for c in clips) / 3600.0
        stats["words"] += sum(len(c.get("words") or []) for c in clips if isinstance(c, dict))
        yield video


def convert_split(source: SourceSplit, dest: Path, dataset: str, data_source: DataSource,
                  p: ConvertRawParams) -> dict:
    """Write `source` to `dest` in our encoding, keys renumbered 0..N-1; returns the split's counts."""
    if source.n_videos == 0:
        raise rawformat.RawFormatError(f"{source.path}: the LMDB holds no videos; put the split's data there "
                                       f"(see data/README.md)")
    meta = {"dataset": dataset, "skeleton": data_source.skeleton, "words_unit": data_source.words_unit,
            "source_format": source.format, "source": str(source.path)}
    if source.meta:
        meta["source_meta"] = {k: v for k, v in source.meta.items() if k not in ("format", "version", "n_videos")}
    stats: dict = {k: 0 for k in _COUNTS}
    n = rawformat.write_store(dest, _videos(source, p, stats, f"{dataset}/{dest.name}"), meta)
    if n == 0:
        raise rawformat.RawFormatError(f"{source.path}: all {stats['skipped_corrupt']} videos are corrupt; "
                                       f"nothing to convert")
    stats["hours"] = round(stats["hours"], 6)
    return stats


def run(p: ConvertRawParams, dataset: str, data_source: DataSource, src: Path, out_dir: Path) -> dict:
    """Convert <src>/{train,val,test} into <out_dir>/raw/; returns the metrics (per split and total)."""
    sources = {split: open_source(src / split) for split in SPLITS}  # fail on a missing split before any work
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / "raw.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        metrics: dict = {split: convert_split(sources[split], partial / split, dataset, data_source, p)
                         for split in SPLITS}
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(out_dir / "raw", ignore_errors=True)
    partial.rename(out_dir / "raw")
    metrics["total"] = {k: sum(metrics[s][k] for s in SPLITS) for k in _COUNTS}
    metrics["total"]["hours"] = round(metrics["total"]["hours"], 6)
    return metrics


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True, help="a name under data_sources in params.yaml")
    ap.add_argument("--src", type=Path, required=True, help="folder holding the train/val/test LMDBs")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    if args.dataset not in params.data_sources:
        ap.error(f"--dataset {args.dataset!r}: not under data_sources in {args.params} "
                 f"(known: {sorted(params.data_sources)})")
    metrics = run(params.convert_raw, args.dataset, params.data_sources[args.dataset], args.src, args.out_dir)
    write_json(args.out_dir / "metrics.json", metrics)


if __name__ == "__main__":
    main()
