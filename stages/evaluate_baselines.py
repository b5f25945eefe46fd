"""Reference rows every model is compared to: all metrics, both modes, for simple controls, over several seeds.

Controls (each keeps the 4 ground-truth seed frames; gesturegen.evaluation): ground_truth (distances: half of the
windows against the other half; diversity and BC: all windows), mean_pose, random_window (a random training window
per evaluated window), seed_still (the last seed pose held).

Reads   <windows>/{train,val,test}   (build_windows), <encoder>  (train_fgd_encoder)
Writes  <out-dir>/metrics.json         headline per split: corrected FGD of the ground truth and of a random window,
                                       corrected BC of the ground truth
        <out-dir>/summary.csv          every metric, both modes: mean, 95% CI and n over seeds, per split and control
        <out-dir>/runs.csv             every seed's row
        <out-dir>/report.json          summary.csv as JSON, plus seeds, batch size, compute
        <out-dir>/beat_constants.json  per-pair angle-change constants of the train split (BC's change_angle)
        <out-dir>/controls.png         the summary as bars
Params  params.yaml → seed, compute, evaluate_baselines   (gesturegen.config.EvaluateBaselinesParams)
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from gesturegen import evaluation, plots
from gesturegen.compute import use_compute
from gesturegen.config import ComputeParams, EvaluateBaselinesParams, load_params
from gesturegen.data.skeleton import get_skeleton
from gesturegen.data.windowstore import open_split
from gesturegen.io import read_json, replace_on_success, write_json


def run(p: EvaluateBaselinesParams, compute: ComputeParams, seed: int, dataset: str, windows: Path, encoder_dir: Path,
        out_dir: Path) -> dict:
    """Evaluate every control into out_dir (outputs replaced only on success); returns the headline metrics."""
    from gesturegen.models.fgd_encoder import load_encoder

    machine = use_compute(compute.device, compute.threads)
    train = open_split(windows / "train")
    splits = {s: open_split(windows / s) for s in p.splits}
    skeleton = get_skeleton(train.meta["skeleton"])
    mean_dir_vec = np.asarray(read_json(windows / "normalization.json")["mean_dir_vec"], dtype=np.float32)
    encoder = load_encoder(encoder_dir).to(compute.device)
    settings = evaluation.EvalSettings(
        batch_size=p.faithful_batch_size.get(dataset, 128), diversity_permutations=p.diversity_permutations,
        bc_sigma=p.bc_sigma, bc_thres_faithful=p.bc_thres_faithful, bc_thres_corrected=p.bc_thres_corrected,
        n_seed=train.meta["n_seed_frames"], fps=train.meta["fps"], sample_rate_hz=train.meta["sample_rate_hz"])
    consts = evaluation.beat_constants(train.dir_vec, mean_dir_vec, skeleton)
    runs = evaluation.run_controls({s: (sp.dir_vec, sp.audio) for s, sp in splits.items()}, train.dir_vec,
                                   encoder.features, skeleton, mean_dir_vec, consts, settings, seed, p.seeds,
                                   progress=lambda jobs: tqdm(jobs, desc="evaluate_baselines", unit="run"))
    summary = evaluation.summary_rows(runs)
    headline = {**evaluation.headline(summary), "device": compute.device}
    with replace_on_success(*(out_dir / n for n in ("beat_constants.json", "runs.csv", "summary.csv", "report.json",
                                                   "controls.png", "metrics.json"))) as staged:
        consts_json, runs_csv, summary_csv, report_json, plot_png, metrics_json = staged
        write_json(consts_json, consts)
        pd.DataFrame(runs).to_csv(runs_csv, index=False)
        pd.DataFrame(summary).to_csv(summary_csv, index=False)
        write_json(report_json, {"dataset": dataset, "seeds": list(p.seeds), "controls": list(evaluation.CONTROLS),
                                 "control_codes": evaluation.CONTROL_CODES, "faithful_batch_size": settings.batch_size,
                                 "n_windows": {s: len(sp) for s, sp in splits.items()}, "compute": machine,
                                 "summary": summary})
        plots.save(plots.controls_figure(summary, dataset, evaluation.CONTROLS, len(p.seeds)), plot_png)
        write_json(metrics_json, headline)
    return headline


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True, help="the dataset's name (selects its faithful batch size)")
    ap.add_argument("--windows", type=Path, required=True, help="build_windows' windows/ folder")
    ap.add_argument("--encoder", type=Path, required=True, help="train_fgd_encoder's encoder/ folder")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    start = time.perf_counter()
    run(params.evaluate_baselines, params.compute, params.seed, args.dataset, args.windows, args.encoder,
        args.out_dir)
    write_json(args.out_dir / "timings.json", {"total_seconds": round(time.perf_counter() - start, 3)})


if __name__ == "__main__":
    main()
