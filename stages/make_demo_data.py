"""Generate the embedded demo dataset: espeak-ng speech with rule-based gestures, in the TED Expressive raw format.

Reads   nothing (everything follows from the seed)
Writes  <out>/{train,val,test}              raw clip LMDBs (gesturegen.data.rawformat); each video record carries
                                            the evaluation-only annotations (demo.ANNOTATIONS_FIELD)
        <report-dir>/metrics.json           headline: minutes of speech
        <report-dir>/report.json            videos, clips, words, seconds, speakers, sentences, strokes and lexical
                                            events per split; hours; the held-out templates
        <report-dir>/clip.png               one clip: waveform with its words, wrist speed over time
Params  params.yaml → seed, make_demo_data   (gesturegen.config.MakeDemoDataParams)

The videos are made by up to MAX_WORKERS processes, one per CPU this process may run on (Snakemake's `threads:`, a
SLURM job's CPUs): each video follows from its own seed, so the output is the same for any number of workers, and
the count is not a param.

Everything is written to staging folders first and replaces the previous outputs only when the whole stage
succeeds.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from gesturegen import plots
from gesturegen.config import MakeDemoDataParams, load_params, to_dict
from gesturegen.data import demo
from gesturegen.data.rawformat import write_store
from gesturegen.io import replace_on_success, write_json

MAX_WORKERS = 8


def default_workers() -> int:
    """The CPUs this process may run on, at most MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def run(p: MakeDemoDataParams, seed: int, out: Path, report_dir: Path, workers: int | None = None) -> dict:
    """Write the three split LMDBs, the report and the figure (replacing the previous ones only on success);
    returns the headline metrics. `workers` processes make the videos (None: default_workers(); 1: this one)."""
    with replace_on_success(out, report_dir / "report.json", report_dir / "clip.png",
                            report_dir / "metrics.json") as (data_tmp, report_tmp, plot_tmp, metrics_tmp):
        report = _generate(p, seed, data_tmp, plot_tmp, default_workers() if workers is None else workers)
        headline = {"speech_minutes": report["speech_minutes"]}
        write_json(report_tmp, report)
        write_json(metrics_tmp, headline)
    return headline


def _make_video(plan: demo.VideoPlan, style: demo.SpeakerStyle, p: MakeDemoDataParams) -> tuple[dict, list[str]]:
    """One video and the sentences it says (a worker's task: everything follows from the plan's seed)."""
    said: list[str] = []
    return demo.make_video(plan, style, p.size, p.fps, p.sample_rate_hz, said), said


def _generate(p: MakeDemoDataParams, seed: int, out: Path, plot: Path, workers: int) -> dict:
    out.mkdir(parents=True)
    plans = demo.plan_videos(p.size, seed, p.n_speakers)
    speakers = demo.make_speakers(p.n_speakers, seed)
    stats: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    spk: dict[str, set] = defaultdict(set)
    said: dict[str, list[str]] = defaultdict(list)
    heard: dict[str, set] = defaultdict(set)
    verdicts: list[str | None] = []
    first_clip: list[dict] = []
    bar = tqdm(total=len(plans), desc="make_demo_data", unit="video")

    # every video is submitted at once (so that no worker waits at a split's end) and written in plan order; spawn,
    # not fork: the workers start clean of this process's libraries (espeak-ng, BLAS threads)
    workers = min(workers, len(plans))
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
    pending = {id(pl): pool.submit(_make_video, pl, speakers[pl.speaker], p) for pl in plans} if pool else {}

    def made(split: str) -> Iterator[tuple[demo.VideoPlan, tuple[dict, list[str]]]]:
        for plan in (pl for pl in plans if pl.split == split):
            yield plan, (pending.pop(id(plan)).result() if pool else _make_video(plan, speakers[plan.speaker], p))

    def videos(split: str) -> Iterator[dict]:
        for plan, (video, sentences) in made(split):
            said[split].extend(sentences)
            s = stats[split]
            s["videos"] += 1
            for note in video[demo.ANNOTATIONS_FIELD]["clips"]:
                s["strokes"] += len(note["strokes_s"])
                s["lexical_events"] += len(note["events"])
            for clip in video["clips"]:
                s["clips"] += 1
                s["words"] += len(clip["words"])
                heard[split].update(w for w, _, _ in clip["words"])
                s["clip_s"] += clip["end_time"] - clip["start_time"]
                s["speech_s"] += sum(e - b for _, b, e in clip["words"])
                verdicts.extend(demo.window_verdicts(clip))
                if not first_clip:
                    first_clip.append(clip)
            spk[split].add(plan.speaker)
            bar.update()
            yield video

    meta = {"dataset": "demo", "skeleton": "ted_expressive", "generator": demo.GENERATOR, "seed": seed,
            "params": to_dict(p)}
    try:
        for split in demo.SPLITS:
            write_store(out / split, videos(split), {**meta, "split": split})
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    bar.close()

    metrics: dict = {}
    for split in demo.SPLITS:
        s = stats[split]
        metrics[split] = {"videos": int(s["videos"]), "clips": int(s["clips"]), "words": int(s["words"]),
                          "clip_s": round(s["clip_s"], 3), "speech_s": round(s["speech_s"], 3),
                          "speakers": len(spk[split]), "sentences": len(said[split]),
                          "distinct_sentences": len(set(said[split])), "strokes": int(s["strokes"]),
                          "lexical_events": int(s["lexical_events"])}
    # val/test sentences are new (held-out templates, evaluation fillings): checked here, guaranteed by construction
    seen = set(said["train"])
    for split in ("val", "test"):
        repeated = sorted(set(said[split]) & seen)
        if repeated:
            raise RuntimeError(f"make_demo_data: {len(repeated)} {split} sentence(s) also said in train, e.g. "
                               f"{repeated[0]!r}; the generator's sentence roles are broken (demo.sentence_role)")
    total_s = sum(metrics[s]["clip_s"] for s in demo.SPLITS)
    metrics.update(total_hours=round(total_s / 3600, 5),
                   speech_minutes=round(sum(metrics[s]["speech_s"] for s in demo.SPLITS) / 60, 3),
                   speakers=p.n_speakers,
                   held_out_templates=list(demo.HELD_OUT),
                   # gesture words never said in train (the default size says them all; tiny may miss a few)
                   lexical_words_missing_in_train=sorted(set(demo.LEXICAL) - heard["train"]),
                   # share of 34-frame 15 fps windows the default build_windows filters keep (a sanity check)
                   window_pass_fraction=round(sum(v is None for v in verdicts) / max(len(verdicts), 1), 4))
    plots.save(plots.clip_figure(first_clip[0], p.sample_rate_hz, "demo dataset"), plot, dpi=110)
    return metrics


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, required=True, help="dataset folder, gets train/ val/ test/")
    ap.add_argument("--report-dir", type=Path, required=True, help="where metrics.json and clip.png go")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    run(params.make_demo_data, params.seed, args.out, args.report_dir)


if __name__ == "__main__":
    main()
