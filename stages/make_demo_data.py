"""Generate the embedded demo dataset: espeak-ng speech with rule-based gestures, in the TED Expressive raw format.

Reads   nothing (everything follows from the seed)
Writes  <out>/{train,val,test}              raw clip LMDBs (gesturegen.data.rawformat)
        <report-dir>/metrics.json           headline: minutes of speech
        <report-dir>/report.json            videos, clips, words, seconds and speakers per split; hours
        <report-dir>/clip.png               one clip: waveform with its words, wrist speed over time
Params  params.yaml → seed, make_demo_data   (gesturegen.config.MakeDemoDataParams)

Everything is written to staging folders first and replaces the previous outputs only when the whole stage
succeeds.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gesturegen.config import MakeDemoDataParams, load_params, to_dict
from gesturegen.data import demo
from gesturegen.data.rawformat import write_store
from gesturegen.io import replace_on_success, write_json


def plot_clip(clip: dict, path: Path, sample_rate_hz: int) -> None:
    """Waveform with word boundaries and labels above, left/right wrist speed below (PNG at `path`)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = float(clip["start_time"])
    audio = np.asarray(clip["audio_raw"], dtype=np.float32)
    joints = np.asarray(clip["skeletons_3d"], dtype=np.float64)
    fps = joints.shape[0] / (float(clip["end_time"]) - t0)
    fig, (ax_a, ax_m) = plt.subplots(2, 1, figsize=(14, 6), sharex=True, height_ratios=[1.2, 1])
    ax_a.plot(np.arange(len(audio)) / sample_rate_hz, audio, lw=0.4, color="0.35")
    top = float(np.abs(audio).max()) or 1.0
    for i, (word, s, e) in enumerate(clip["words"]):
        ax_a.axvspan(s - t0, e - t0, color="tab:blue" if i % 2 else "tab:orange", alpha=0.15, lw=0)
        ax_a.axvline(s - t0, color="tab:blue", lw=0.6)
        ax_a.text((s + e) / 2 - t0, top * (1.08 if i % 2 else 1.25), word, ha="center", va="bottom", fontsize=8,
                  rotation=0)
    ax_a.set_ylim(-top * 1.1, top * 1.6)
    ax_a.set_ylabel("audio (full scale = 1)")
    ax_a.set_title(f"demo dataset, one clip: {len(clip['words'])} words (spans shaded), "
                   f"{len(audio) / sample_rate_hz:.1f} s (video time {t0:.2f} s)")
    t = np.arange(joints.shape[0] - 1) / fps
    for joint, name, color in ((6, "left wrist", "tab:green"), (7, "right wrist", "tab:red")):
        speed = np.linalg.norm(np.diff(joints[:, joint], axis=0), axis=-1) * fps
        ax_m.plot(t, speed, color=color, lw=1.2, label=name)
    for _, s, _ in clip["words"]:
        ax_m.axvline(s - t0, color="tab:blue", lw=0.4, alpha=0.4)
    ax_m.set_ylabel("wrist speed (skeleton units/s ≈ m/s)")
    ax_m.set_xlabel("time from clip start (s); vertical lines: word onsets")
    ax_m.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def run(p: MakeDemoDataParams, seed: int, out: Path, report_dir: Path) -> dict:
    """Write the three split LMDBs, the report and the figure (replacing the previous ones only on success);
    returns the headline metrics."""
    with replace_on_success(out, report_dir / "report.json", report_dir / "clip.png",
                            report_dir / "metrics.json") as (data_tmp, report_tmp, plot_tmp, metrics_tmp):
        report = _generate(p, seed, data_tmp, plot_tmp)
        headline = {"speech_minutes": report["speech_minutes"]}
        write_json(report_tmp, report)
        write_json(metrics_tmp, headline)
    return headline


def _generate(p: MakeDemoDataParams, seed: int, out: Path, plot: Path) -> dict:
    out.mkdir(parents=True)
    plans = demo.plan_videos(p.size, seed, p.n_speakers)
    speakers = demo.make_speakers(p.n_speakers, seed)
    stats: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    spk: dict[str, set] = defaultdict(set)
    verdicts: list[str | None] = []
    first_clip: list[dict] = []
    bar = tqdm(total=len(plans), desc="make_demo_data", unit="video")

    def videos(split: str) -> Iterator[dict]:
        for plan in (pl for pl in plans if pl.split == split):
            video = demo.make_video(plan, speakers[plan.speaker], p.size, p.fps, p.sample_rate_hz)
            s = stats[split]
            s["videos"] += 1
            for clip in video["clips"]:
                s["clips"] += 1
                s["words"] += len(clip["words"])
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
    for split in demo.SPLITS:
        write_store(out / split, videos(split), {**meta, "split": split})
    bar.close()

    metrics: dict = {}
    for split in demo.SPLITS:
        s = stats[split]
        metrics[split] = {"videos": int(s["videos"]), "clips": int(s["clips"]), "words": int(s["words"]),
                          "clip_s": round(s["clip_s"], 3), "speech_s": round(s["speech_s"], 3),
                          "speakers": len(spk[split])}
    total_s = sum(metrics[s]["clip_s"] for s in demo.SPLITS)
    metrics.update(total_hours=round(total_s / 3600, 5),
                   speech_minutes=round(sum(metrics[s]["speech_s"] for s in demo.SPLITS) / 60, 3),
                   speakers=p.n_speakers,
                   # share of 34-frame 15 fps windows the default build_windows filters keep (a sanity check)
                   window_pass_fraction=round(sum(v is None for v in verdicts) / max(len(verdicts), 1), 4))
    plot_clip(first_clip[0], plot, p.sample_rate_hz)
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
