"""Convert one dataset's raw clip LMDBs (official pyarrow ones, or ours) to our encoding, losslessly.

Reads   <src>/{train,val,test}   (official TED Expressive / AQGT LMDBs, read by the worker of the legacy env that
                                  `python -m gesturegen.data.legacy setup` creates, or LMDBs already in our encoding,
                                  re-encoded and so validated)
Writes  <out-dir>/raw/{train,val,test}   our encoding, keys kept from the source, source path in `__format__`
        <out-dir>/raw/skipped.csv        every record skipped with on_corrupt: skip (header only when none)
        <out-dir>/metrics.json           headline: videos converted, records skipped
        <out-dir>/report.json            videos, clips, hours, words and skips per split and in total
        all or nothing: on an error the previous outputs stay as they were (gesturegen.io.replace_on_success)
Params  params.yaml → convert_raw, data_sources[<dataset>]   (gesturegen.config.ConvertRawParams, DataSource)
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from gesturegen.config import ConvertRawParams, DataSource, load_params
from gesturegen.data import rawformat
from gesturegen.data.legacy import LEGACY_FORMAT, BadRecord, SourceSplit, canonicalize_video, open_source
from gesturegen.data.legacy_env import legacy_python
from gesturegen.data.records import ClipProblem, check_record, check_video
from gesturegen.io import replace_on_success, write_json

SPLITS = ("train", "val", "test")
_COUNTS = ("videos", "clips", "hours", "words", "skipped_corrupt")
SKIPPED_COLUMNS = ("split", "source_file", "source_key", "vid", "reason", "detail")


def _clip_seconds(clip: object) -> float:
    try:
        return float(clip["end_time"]) - float(clip["start_time"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return 0.0


def _videos(source: SourceSplit, split: str, p: ConvertRawParams, stats: dict, skipped: list[dict],
            python: Path | None, desc: str) -> Iterator[tuple[str, dict]]:
    """The source's (key, video) pairs, canonicalised and validated, in key order; corrupt ones raise or
    (on_corrupt: skip) are counted and listed."""
    # closing(): stop the legacy worker / close the LMDB at once when a corrupt value raises
    with closing(source.records(python)) as records, tqdm(records, total=source.n_videos, desc=desc,
                                                          unit="video") as bar:
        yield from _checked(bar, source.path, split, p, stats, skipped)


def _checked(records: Iterable, path: Path, split: str, p: ConvertRawParams, stats: dict,
             skipped: list[dict]) -> Iterator[tuple[str, dict]]:
    for key, video in records:
        if isinstance(video, BadRecord):
            reason, problem = video.reason, video.error
        else:
            reason, problem = "bad_record", None
            found = check_video(video)
            if found is None:
                try:
                    video = canonicalize_video(video)
                except ValueError as e:
                    found = ClipProblem("bad_record", str(e))
            found = found or check_record(video)
            if found is not None:
                reason, problem = found.reason, found.message
        if problem is not None:
            vid = video.get("vid", "") if isinstance(video, dict) else ""
            if p.on_corrupt == "skip":
                stats["skipped_corrupt"] += 1
                skipped.append({"split": split, "source_file": str(path), "source_key": key, "vid": vid,
                                "reason": reason, "detail": problem})
                continue
            raise rawformat.RawFormatError(
                f"{path}: key {key}{f' (vid {vid!r})' if vid else ''}: corrupt value ({problem}). Fix: replace this "
                f"split with an intact copy (see data/README.md), or set `convert_raw: on_corrupt: skip` in "
                f"params.yaml to count and skip it (listed in raw/skipped.csv)")
        clips = video["clips"]
        stats["videos"] += 1
        stats["clips"] += len(clips)
        stats["hours"] += sum(_clip_seconds(c) for c in clips) / 3600.0
        stats["words"] += sum(len(c.get("words") or []) for c in clips if isinstance(c, dict))
        yield key, video


def convert_split(source: SourceSplit, dest: Path, dataset: str, data_source: DataSource, p: ConvertRawParams,
                  skipped: list[dict], python: Path | None = None) -> dict:
    """Write `source` to `dest` in our encoding, keeping its keys; returns the split's counts."""
    if source.n_videos == 0:
        raise rawformat.RawFormatError(f"{source.path}: the LMDB holds no videos; put the split's data there "
                                       f"(see data/README.md)")
    meta = {"dataset": dataset, "skeleton": data_source.skeleton, "words_unit": data_source.words_unit,
            "source_format": source.format, "source": str(source.path), "keys": "source"}
    if source.meta:
        meta["source_meta"] = {k: v for k, v in source.meta.items() if k not in ("format", "version", "n_videos")}
    stats: dict = {k: 0 for k in _COUNTS}
    n = rawformat.write_store(dest, _videos(source, dest.name, p, stats, skipped, python, f"{dataset}/{dest.name}"),
                              meta)
    if n == 0:
        raise rawformat.RawFormatError(f"{source.path}: all {stats['skipped_corrupt']} videos are corrupt; "
                                       f"nothing to convert")
    stats["hours"] = round(stats["hours"], 6)
    return stats


def write_skipped(path: Path, skipped: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, SKIPPED_COLUMNS)
        writer.writeheader()
        writer.writerows(skipped)


def run(p: ConvertRawParams, dataset: str, data_source: DataSource, src: Path, raw_dir: Path) -> dict:
    """Convert <src>/{train,val,test} into raw_dir (which must not exist yet); returns the metrics."""
    # every split is checked (header, digest or format) and the legacy env found before any work
    sources = {split: open_source(src / split, p.on_corrupt == "skip") for split in SPLITS}
    python = legacy_python() if any(s.format == LEGACY_FORMAT for s in sources.values()) else None
    raw_dir.mkdir(parents=True)
    skipped: list[dict] = []
    metrics: dict = {split: convert_split(sources[split], raw_dir / split, dataset, data_source, p, skipped, python)
                     for split in SPLITS}
    write_skipped(raw_dir / "skipped.csv", skipped)
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
    with replace_on_success(args.out_dir / "raw", args.out_dir / "report.json",
                            args.out_dir / "metrics.json") as (raw_dir, report_file, metrics_file):
        report = run(params.convert_raw, args.dataset, params.data_sources[args.dataset], args.src, raw_dir)
        write_json(report_file, report)
        write_json(metrics_file, {"videos": report["total"]["videos"], "skipped": report["total"]["skipped_corrupt"]})
    n = report["total"]["skipped_corrupt"]
    if n:
        print(f"convert_raw {args.dataset}: skipped {n} corrupt record(s), listed in "
              f"{args.out_dir / 'raw' / 'skipped.csv'}", file=sys.stderr)


if __name__ == "__main__":
    main()
