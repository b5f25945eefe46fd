"""Train the speech <-> motion sync evaluator of one dataset (R-precision and multimodal distance of evaluated motion).

Reads   <windows>/{train,val}/   build_windows (dir_vec, video_ids, meta.json)
        <features>/{train,val}/  extract_features (audio_frames, text_frames, meta.json)
Writes  <out-dir>/evaluator/{model.safetensors,config.json}   (gesturegen.models.sync_evaluator.load_sync_evaluator)
        <out-dir>/metrics.json   headline: val R-precision top-3 of the true pairing, device
        <out-dir>/report.json    val R-precision top-1/2/3 and multimodal distance, true vs shuffled pairing; sizes,
                                 epochs, best epoch, compute
        <out-dir>/loss.csv       epoch, train_loss, val_loss, val_top1, val_top2, val_top3
        <out-dir>/timings.json   seconds (not tracked)
Params  params.yaml → seed, compute, train_sync_evaluator   (gesturegen.config.TrainSyncEvaluatorParams)

Symmetric InfoNCE with other windows of the same video masked out as negatives; the kept weights are those of the
epoch with the best val R-precision top-3 among `pool` (the last epoch when val has too few videos to score).
"""
from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np

from gesturegen.compute import use_compute
from gesturegen.config import ComputeParams, TrainSyncEvaluatorParams, load_params, to_dict
from gesturegen.data.windowstore import open_split
from gesturegen.io import replace_on_success, write_json

LOSS_COLUMNS = ("epoch", "train_loss", "val_loss", "val_top1", "val_top2", "val_top3")


class TrainSyncEvaluatorError(RuntimeError):
    pass


def _load(windows: Path, features: Path, split: str):
    from gesturegen.features import open_features

    w = open_split(windows / split)
    f = open_features(features / split, w)
    return w, f


def _tensors(w, f, use_text: bool):
    import torch

    n, t = len(w), w.dir_vec.shape[1]
    text = torch.as_tensor(np.array(f.text_frames, np.float32)) if use_text else torch.zeros(n, t, 0)
    return (torch.as_tensor(np.array(f.audio_frames, np.float32)), text,
            torch.as_tensor(np.array(w.dir_vec, np.float32)), torch.as_tensor(np.array(w.video_ids, np.int64)))


def shuffled_pairing(video_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation that gives every window the motion of a window of another video (as far as possible)."""
    n = video_ids.size
    perm = rng.permutation(n)
    for _ in range(100):
        bad = np.flatnonzero(video_ids[perm] == video_ids)
        if bad.size == 0:
            break
        for i in bad:                         # swap with a random partner where both end up in other videos
            j = int(rng.integers(n))
            if video_ids[perm[j]] != video_ids[i] and video_ids[perm[i]] != video_ids[j]:
                perm[i], perm[j] = perm[j], perm[i]
    return perm


def run(p: TrainSyncEvaluatorParams, compute: ComputeParams, seed: int, dataset: str, windows: Path,
        features: Path, out_dir: Path) -> tuple[dict, dict]:
    """Train the evaluator into out_dir; returns (headline metrics, timings)."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from gesturegen.metrics.retrieval import multimodal_distance, r_precision
    from gesturegen.models.sync_evaluator import SyncEvaluatorConfig, save_sync_evaluator
    from gesturegen.systems.sync_system import SyncEvaluatorSystem, retrieval_pool
    from gesturegen.training import trainer_device

    (wt, ft), (wv, fv) = _load(windows, features, "train"), _load(windows, features, "val")
    if wt.dir_vec.shape[1:] != wv.dir_vec.shape[1:] or ft.meta["dims"] != fv.meta["dims"]:
        raise TrainSyncEvaluatorError(f"{windows} / {features}: train and val differ in shape or feature dims; "
                                      f"re-run build_windows and extract_features")
    for f in (ft, fv):
        if f.meta.get("dataset") not in (None, dataset):
            raise TrainSyncEvaluatorError(f"{f.path}: features of dataset {f.meta['dataset']!r}, not {dataset!r}; "
                                          f"pass --features results/extract_features/{dataset}/features")
    n, t, d = wt.dir_vec.shape
    if n < 2 or np.unique(wt.video_ids).size < 2:
        raise TrainSyncEvaluatorError(f"{wt.path}: {n} train window(s) in {np.unique(wt.video_ids).size} video(s); "
                                      f"contrastive training needs windows of at least 2 videos")
    if p.epochs < 1 or p.batch_size < 2 or p.temperature <= 0:
        raise TrainSyncEvaluatorError("train_sync_evaluator: epochs >= 1, batch_size >= 2, temperature > 0 needed")
    machine = use_compute(compute.device, compute.threads_for("train_sync_evaluator"))
    start = time.perf_counter()
    pl.seed_everything(seed, workers=True, verbose=False)
    dims = ft.meta["dims"]
    skip = int(wt.meta.get("n_seed_frames", 0)) if p.skip_seed_frames else 0
    config = SyncEvaluatorConfig(motion_dim=d, audio_dim=dims["audio_frames"],
                                 text_dim=dims["text_frames"] if p.use_text else 0, n_frames=t, hidden=p.hidden,
                                 text_proj=p.text_proj, embed_dim=p.embed_dim, dropout=p.dropout,
                                 motion_skip=skip, motion_center=p.motion_center)
    system = SyncEvaluatorSystem(config, temperature=p.temperature, lr=p.lr, weight_decay=p.weight_decay,
                                 pool=p.pool, val_trials=p.val_trials, seed=seed)
    system.model.set_statistics(ft.audio_frames, ft.text_frames if p.use_text else None, wt.dir_vec)
    train_loader = DataLoader(TensorDataset(*_tensors(wt, ft, p.use_text)), batch_size=p.batch_size, shuffle=True,
                              drop_last=n >= p.batch_size, num_workers=0)
    val_loader = DataLoader(TensorDataset(*_tensors(wv, fv, p.use_text)), batch_size=max(p.batch_size, 256),
                            num_workers=0)
    device = compute.device
    with replace_on_success(out_dir / "evaluator", out_dir / "loss.csv", out_dir / "report.json",
                            out_dir / "metrics.json") as (ev_dir, loss_csv, report_json, metrics_json):
        trainer = pl.Trainer(**trainer_device(device), max_epochs=p.epochs,
                             logger=False, enable_checkpointing=False, num_sanity_val_steps=0,
                             enable_progress_bar=True, enable_model_summary=False, default_root_dir=ev_dir.parent)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            trainer.fit(system, train_loader, val_loader)
        train_s = time.perf_counter() - start
        model = system.model.cpu()
        model.load_state_dict(system.best_state)
        model.eval()

        # val: the true pairing against a shuffled one (each window gets the motion of a window of another video)
        vids = np.asarray(wv.video_ids)
        s = model.embed_speech(fv.audio_frames, fv.text_frames)
        m = model.embed_motion(wv.dir_vec)
        pool = retrieval_pool(vids, p.pool)
        rng = np.random.default_rng(seed)
        perm = shuffled_pairing(vids, rng)
        val: dict = {"pool": pool, "chance": None, "true": None, "shuffled": None}
        if pool is not None:
            val["chance"] = {f"top{k}": k / pool for k in (1, 2, 3)}
            for name, mm in (("true", m), ("shuffled", m[perm])):
                rp = r_precision(s, mm, vids, np.random.default_rng(seed), pool=pool, trials=10)
                val[name] = {**rp, "mm_dist": multimodal_distance(s, mm)}
        else:
            val["note"] = (f"val has windows of {np.unique(vids).size} video(s) only ({len(wv)} windows): too few "
                           f"to draw R-precision distractors from other videos; the last epoch is kept")
        n_params = sum(x.numel() for x in model.parameters())
        info = {"dataset": dataset,
                "features": {"audio_encoder": ft.meta["encoders"]["audio"]["name"],
                             "text_encoder": ft.meta["encoders"]["text"]["name"], "audio_dim": dims["audio_frames"],
                             "text_dim": dims["text_frames"], "use_text": p.use_text},
                "motion": {"dim": d, "n_frames": t, "normalization": wt.meta.get("normalization"), "skip_frames": skip,
                           "input": "mean-subtracted dir_vec (build_windows) from frame skip_frames on, standardised "
                                    "with train statistics"},
                "pool": p.pool, "params": to_dict(p), "seed": seed}
        save_sync_evaluator(model, ev_dir, info)
        with open(loss_csv, "w", newline="") as fh:
            wr = csv.writer(fh)
            wr.writerow(LOSS_COLUMNS)
            wr.writerows([r["epoch"], *("" if r.get(c) is None else repr(float(r[c])) for c in LOSS_COLUMNS[1:])]
                         for r in system.history)
        top3 = val["true"]["top3"] if val["true"] else None
        headline = {"rprec3": None if top3 is None else round(top3, 4),
                    "device": compute.device}
        write_json(report_json, {
            "dataset": dataset, "n_train": n, "n_val": len(wv), "train_videos": int(np.unique(wt.video_ids).size),
            "val_videos": int(np.unique(vids).size), "parameters": n_params, "epochs": trainer.current_epoch,
            "steps": trainer.global_step, "best_epoch": system.best_epoch, "val": val, "evaluator": info,
            "compute": machine})
        write_json(metrics_json, headline)
    return headline, {"train_seconds": round(train_s, 3), "total_seconds": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--windows", type=Path, required=True, help="build_windows output: {train,val}/ folders")
    ap.add_argument("--features", type=Path, required=True, help="extract_features output: {train,val}/ folders")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    metrics, timings = run(params.train_sync_evaluator, params.compute, params.seed, args.dataset, args.windows,
                           args.features, args.out_dir)
    write_json(args.out_dir / "timings.json", timings)
    print(f"train_sync_evaluator {args.dataset}: {timings['total_seconds']:.1f} s; val R-precision top-3 "
          f"{metrics['rprec3']} (chance 3/32)")


if __name__ == "__main__":
    main()
