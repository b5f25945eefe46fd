"""Reference rows every model is compared to: all metrics, both modes, for simple controls (protocol v2).

Controls (each keeps the 4 ground-truth seed frames; gesturegen.evaluation): ground_truth (the real motion),
mean_pose, random_window (a random training window per evaluated window), seed_still (the last seed pose held).
Corrected mode: each split's videos are partitioned into a reference half R and a query half Q several times per
seed; every row, the ground truth included, is its motion on Q against the real motion of R (same n, same
reference). Faithful mode: the published evaluator on the whole split.

Reads   <windows>/{train,val,test}   (build_windows; <split>/annotations/ when the dataset has them),
        <encoder>  (train_fgd_encoder), <features>/<split>  (extract_features: the sync evaluator's speech input),
        <sync>  (train_sync_evaluator: R-precision and multimodal distance of every row),
        <oracles>  (train_oracles: lexical gesture and speaker accuracy; skipped, saying so, without annotations)
Writes  <out-dir>/metrics.json         headline per split: corrected FGD of the ground truth and of a random window,
                                       corrected BC of the ground truth
        <out-dir>/summary.csv          every metric, both modes: mean, 95% CI and n over partitions x seeds, per
                                       split and control, with applicability, FGD sample size and notes
        <out-dir>/runs.csv             every run's row (partition "all": the faithful whole-split row)
        <out-dir>/report.json          summary.csv as JSON, plus seeds, partitions, extractor, oracle status, compute
        <out-dir>/beat_constants.json  per-pair angle-change constants of the train split (BC's change_angle)
        <out-dir>/controls.png         the summary as bars
Params  params.yaml → seed, compute, evaluate_baselines   (gesturegen.config.EvaluateBaselinesParams)
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from gesturegen import evaluation, plots
from gesturegen.compute import cpu_workers, spawn_pool, use_compute
from gesturegen.config import ComputeParams, EvaluateBaselinesParams, load_params
from gesturegen.data.annotations import load_window_annotations
from gesturegen.data.skeleton import get_skeleton
from gesturegen.data.windowstore import open_split
from gesturegen.io import read_json, replace_on_success, write_json
from gesturegen.summary import headline as summary_headline
from gesturegen.summary import summary_rows

NO_ANNOTATIONS = "no annotations for this dataset"


class EvaluateBaselinesError(RuntimeError):
    pass


@dataclass
class _Setup:
    """What scoring the controls needs, for some splits."""
    train: object
    skeleton: object
    norm: dict
    mean_dir_vec: np.ndarray
    features: object
    info: dict
    settings: evaluation.EvalSettings
    splits: list
    oracle: dict
    scorers: tuple
    evaluators: dict
    consts: dict


def _setup(p: EvaluateBaselinesParams, device: str, dataset: str, windows: Path, encoder_dir: Path,
           split_names: list[str], scorers: tuple = (), features_dir: Path | None = None,
           sync_dir: Path | None = None, oracles_dir: Path | None = None, open_sync: bool = True) -> _Setup:
    """Everything but the sync scorer when not `open_sync` (the parent of the worker processes: its report entry
    only)."""
    from gesturegen.evaluators import open_extractor
    from gesturegen.models.sync_evaluator import EvaluatorMismatchError

    train = open_split(windows / "train")
    skeleton = get_skeleton(train.meta["skeleton"])
    norm = read_json(windows / "normalization.json")
    mean_dir_vec = np.asarray(norm["mean_dir_vec"], dtype=np.float32)
    try:
        features, info = open_extractor(encoder_dir, norm, skeleton, dataset, device)
    except EvaluatorMismatchError as e:
        raise EvaluateBaselinesError(str(e)) from None
    settings = evaluation.EvalSettings.from_protocol(p, dataset, train.meta)
    splits, oracle = [], {}
    for name in split_names:
        sp = open_split(windows / name)
        ann = load_window_annotations(windows / name)
        oracle[name] = "beat F1 against the annotated strokes" if ann is not None else f"skipped: {NO_ANNOTATIONS}"
        splits.append(evaluation.EvalSplit(name, sp.dir_vec, sp.audio, sp.windows()["vid"].astype(str).to_numpy(),
                                           ann))
    scorers = tuple(scorers)
    evaluators: dict = {}
    if sync_dir is not None:
        from gesturegen.evaluators import open_sync_scorer
        if features_dir is None:
            raise EvaluateBaselinesError("the sync evaluator needs the features: pass --features too")
        if open_sync:
            scorers += (open_sync_scorer(sync_dir, features_dir, windows, split_names, dataset, pool=p.rprec_pool,
                                         trials=p.rprec_trials),)
        evaluators["sync"] = {"evaluator": str(sync_dir), "pool": p.rprec_pool, "trials": p.rprec_trials}
    if oracles_dir is not None:
        from gesturegen.evaluators import open_oracle_scorer
        oracle_scorer = open_oracle_scorer(oracles_dir, windows, split_names, dataset)
        scorers += (oracle_scorer,)
        evaluators["oracles"] = oracle_scorer.skipped or "lexical gesture and speaker accuracy"
        if oracle_scorer.skipped:
            oracle = {s: f"{v}; lexical/speaker accuracy {oracle_scorer.skipped}" for s, v in oracle.items()}
    consts = evaluation.beat_constants(train.dir_vec, mean_dir_vec, skeleton, dataset)
    return _Setup(train, skeleton, norm, mean_dir_vec, features, info, settings, splits, oracle, scorers, evaluators,
                  consts)


def _controls(st: _Setup, p: EvaluateBaselinesParams, seed: int, windows: Path, progress=None) -> list[dict]:
    try:
        return evaluation.run_controls(st.splits, st.train.dir_vec, st.train.windows()["vid"].astype(str).to_numpy(),
                                       st.features, st.skeleton, st.mean_dir_vec, st.consts, st.settings, seed,
                                       p.seeds, scorers=st.scorers, progress=progress)
    except evaluation.EvaluationError as e:
        raise EvaluateBaselinesError(f"{windows}: {e} (params: evaluate_baselines.min_half_windows, "
                                     f"evaluate_baselines.splits)") from None


def _split_worker(args: tuple) -> list[dict]:
    """A worker process: the controls of one split, on one thread."""
    p, device, seed, dataset, windows, encoder_dir, split, features_dir, sync_dir, oracles_dir = args
    use_compute(device, 1)
    st = _setup(p, device, dataset, windows, encoder_dir, [split], features_dir=features_dir, sync_dir=sync_dir,
                oracles_dir=oracles_dir)
    return _controls(st, p, seed, windows)


def run(p: EvaluateBaselinesParams, compute: ComputeParams, seed: int, dataset: str, windows: Path, encoder_dir: Path,
        out_dir: Path, scorers: tuple[evaluation.Scorer, ...] = (), features_dir: Path | None = None,
        sync_dir: Path | None = None, oracles_dir: Path | None = None) -> dict:
    """Evaluate every control into out_dir (outputs replaced only on success); returns the headline metrics.

    On the CPU with compute.threads_for("evaluate_baselines") = n > 1 (and no extra `scorers`), each split is
    scored in its own worker process of one thread, at most n at a time: the scoring is mostly single-threaded
    numpy (one two-thread process kept 2 cores at 150 %); the runs are collected in split order, as one process
    makes them."""
    threads = compute.threads_for("evaluate_baselines")
    workers = 1 if scorers else cpu_workers(compute.device, threads, len(p.splits))
    machine = {**use_compute(compute.device, 1 if workers > 1 else threads), "threads": threads, "workers": workers}
    st = _setup(p, compute.device, dataset, windows, encoder_dir, list(p.splits), scorers, features_dir, sync_dir,
                oracles_dir, open_sync=workers == 1)
    if workers == 1:
        runs = _controls(st, p, seed, windows, progress=lambda jobs: tqdm(jobs, desc="evaluate_baselines", unit="run"))
    else:
        args = [(p, compute.device, seed, dataset, windows, encoder_dir, split, features_dir, sync_dir, oracles_dir)
                for split in p.splits]
        with spawn_pool(workers) as pool:
            per_split = list(tqdm(pool.map(_split_worker, args), total=len(args), desc="evaluate_baselines",
                                  unit="split"))
        runs = [r for rows in per_split for r in rows]
    consts, features, info, norm, splits, oracle, evaluators, settings = (
        st.consts, st.features, st.info, st.norm, st.splits, st.oracle, st.evaluators, st.settings)
    summary = summary_rows(runs, {s: NO_ANNOTATIONS for s in p.splits if oracle[s].startswith("skipped")})
    headline = {**summary_headline(summary), "device": compute.device}
    with replace_on_success(*(out_dir / n for n in ("beat_constants.json", "runs.csv", "summary.csv", "report.json",
                                                   "controls.png", "metrics.json"))) as staged:
        consts_json, runs_csv, summary_csv, report_json, plot_png, metrics_json = staged
        write_json(consts_json, consts)
        pd.DataFrame(runs).to_csv(runs_csv, index=False)
        pd.DataFrame(summary).to_csv(summary_csv, index=False)
        write_json(report_json, {
            "dataset": dataset, "protocol": "v2", "seeds": list(p.seeds), "n_partitions": p.n_partitions,
            "controls": list(evaluation.CONTROLS), "control_codes": evaluation.CONTROL_CODES,
            "faithful_batch_size": settings.batch_size, "n_windows": {s.name: len(s.videos) for s in splits},
            "n_videos": {s.name: int(np.unique(s.videos).size) for s in splits}, "oracle": oracle,
            "evaluators": evaluators,
            "extractor": {"source": info.get("source"), "arch": info.get("arch"),
                          "recentred": features.recentred, "normalization": norm["source"]},
            "compute": machine, "summary": summary})
        plots.save(plots.controls_figure(summary, dataset, evaluation.CONTROLS,
                                         len(p.seeds) * p.n_partitions), plot_png)
        write_json(metrics_json, headline)
    return headline


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True, help="the dataset's name (selects its faithful batch size)")
    ap.add_argument("--windows", type=Path, required=True, help="build_windows' windows/ folder")
    ap.add_argument("--encoder", type=Path, required=True, help="train_fgd_encoder's encoder/ folder")
    ap.add_argument("--features", type=Path, help="extract_features' features/ folder (for --sync)")
    ap.add_argument("--sync", type=Path, help="train_sync_evaluator's evaluator/ folder")
    ap.add_argument("--oracles", type=Path, help="train_oracles' oracles/ folder")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    start = time.perf_counter()
    run(params.evaluate_baselines, params.compute, params.seed, args.dataset, args.windows, args.encoder,
        args.out_dir, features_dir=args.features, sync_dir=args.sync, oracles_dir=args.oracles)
    write_json(args.out_dir / "timings.json", {"total_seconds": round(time.perf_counter() - start, 3)})


if __name__ == "__main__":
    main()
