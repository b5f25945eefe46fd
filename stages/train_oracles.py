"""Train the demo oracles of one dataset: a lexical gesture classifier and a speaker classifier on real motion.

Reads   <windows>/{train,val}/   build_windows (dir_vec, meta.json) and the evaluation-only annotations/ beside them
                                 (gesturegen.data.annotations; real datasets have none)
Writes  <out-dir>/oracles/{config.json,lexical.safetensors,speaker.safetensors}   (gesturegen.models.oracles)
        <out-dir>/metrics.json   headline: device, and {"available": false} without annotations (the val
                                 lexical and speaker accuracies are in report.json)
        <out-dir>/report.json    events used and skipped, label and speaker counts, chance, best epochs, compute
        <out-dir>/history.csv    oracle, epoch, train_loss, train_acc, val_loss, val_acc
        <out-dir>/timings.json   seconds (not tracked)
Params  params.yaml → seed, compute, train_oracles   (gesturegen.config.TrainOraclesParams)

Without annotations the stage succeeds and says so: oracles/config.json has `available: false` and the reason, no
classifier is written, and the evaluation skips the oracle metrics. Each classifier keeps the epoch with the best
val accuracy.
"""
from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np

from gesturegen.compute import use_compute
from gesturegen.config import ComputeParams, TrainOraclesParams, load_params, to_dict
from gesturegen.data.annotations import FOLDER, load_window_annotations
from gesturegen.data.windowstore import open_split
from gesturegen.io import read_json, replace_on_success, write_json

HISTORY_COLUMNS = ("oracle", "epoch", "train_loss", "train_acc", "val_loss", "val_acc")


class TrainOraclesError(RuntimeError):
    pass


def _fit(p: TrainOraclesParams, seed: int, device: str, x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray,
         y_va: np.ndarray, n_classes: int, root: Path, skip: int = 0):
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from gesturegen.models.oracles import MotionClassifierConfig
    from gesturegen.systems.classifier_system import ClassifierSystem
    from gesturegen.training import trainer_device

    pl.seed_everything(seed, workers=True, verbose=False)
    cfg = MotionClassifierConfig(in_dim=x_tr.shape[2], n_frames=x_tr.shape[1], n_classes=n_classes,
                                 hidden=p.hidden, dropout=p.dropout, skip=skip)
    system = ClassifierSystem(cfg, lr=p.lr, weight_decay=p.weight_decay)
    system.model.set_statistics(x_tr)

    def loader(x, y, shuffle):
        ds = TensorDataset(torch.as_tensor(np.array(x, np.float32)), torch.as_tensor(np.array(y, np.int64)))
        return DataLoader(ds, batch_size=p.batch_size if shuffle else max(p.batch_size, 256), shuffle=shuffle,
                          drop_last=shuffle and len(y) > p.batch_size, num_workers=0)

    trainer = pl.Trainer(**trainer_device(device), max_epochs=p.epochs,
                         logger=False, enable_checkpointing=False, num_sanity_val_steps=0, enable_progress_bar=True,
                         enable_model_summary=False, default_root_dir=root)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(system, loader(x_tr, y_tr, True), loader(x_va, y_va, False) if len(y_va) else None)
    model = system.model.cpu()
    model.load_state_dict(system.best_state)
    model.eval()
    acc = float((model.predict(x_va) == y_va).mean()) if len(y_va) else None
    counts = np.bincount(y_va, minlength=n_classes) if len(y_va) else np.zeros(n_classes)
    return model, system.history, {"val_acc": acc, "chance_majority": float(counts.max() / max(counts.sum(), 1)),
                                   "best_epoch": system.best_epoch, "epochs": trainer.current_epoch,
                                   "parameters": sum(x.numel() for x in model.parameters())}


def run(p: TrainOraclesParams, compute: ComputeParams, seed: int, dataset: str, windows: Path,
        out_dir: Path) -> tuple[dict, dict]:
    """Train (or, without annotations, describe the absence of) the oracles into out_dir."""
    from gesturegen.models.oracles import Oracles, event_crops, save_oracles

    start = time.perf_counter()
    wt, wv = open_split(windows / "train"), open_split(windows / "val")
    at, av = load_window_annotations(wt.path), load_window_annotations(wv.path)
    if (at is None) != (av is None):
        have, lack = (wt.path, wv.path) if av is None else (wv.path, wt.path)
        raise TrainOraclesError(f"{have / FOLDER} exists but {lack / FOLDER} does not: a dataset has annotations in "
                                f"every split or in none; re-run build_windows")
    n_frames, dim = int(wt.meta["n_frames"]), int(wt.dir_vec.shape[2])
    fps = float(wt.meta["fps"])
    skip = int(wt.meta.get("n_seed_frames", 0)) if p.skip_seed_frames else 0
    info: dict = {"dataset": dataset, "params": to_dict(p), "seed": seed, "crop_frames": p.crop_frames,
                  "min_inside": p.min_inside, "fps": fps, "skip_frames": skip,
                  "motion": {"dim": dim, "n_frames": n_frames, "normalization": wt.meta.get("normalization")}}
    machine = use_compute(compute.device, compute.threads_for("train_oracles"))
    with replace_on_success(out_dir / "oracles", out_dir / "history.csv", out_dir / "report.json",
                            out_dir / "metrics.json") as (or_dir, hist_csv, report_json, metrics_json):
        history: list[dict] = []
        if at is None:
            reason = f"dataset {dataset!r} has no annotations ({wt.path / FOLDER} absent): no oracle metrics"
            oracles = Oracles({**info, "available": False, "reason": reason})
            report: dict = {"dataset": dataset, "available": False, "reason": reason}
            headline: dict = {"available": False}
        else:
            if at.n_windows != len(wt) or av.n_windows != len(wv):
                raise TrainOraclesError(f"{windows}: annotations for {at.n_windows}/{av.n_windows} windows but the "
                                        f"splits have {len(wt)}/{len(wv)}; re-run build_windows")
            labels, speakers = tuple(at.labels), tuple(at.speakers)
            oracles = Oracles({**info, "available": True, "labels": list(labels), "speakers": list(speakers)})
            report = {"dataset": dataset, "available": True, "labels": list(labels), "speakers": list(speakers)}
            # lexical: crops around the events
            ct = event_crops(at, labels, n_frames, fps, p.crop_frames, p.min_inside, str(wt.path / FOLDER), skip)
            cv = event_crops(av, labels, n_frames, fps, p.crop_frames, p.min_inside, str(wv.path / FOLDER), skip)
            lex = {"train_events": len(ct.label), "val_events": len(cv.label),
                   "skipped_outside": {"train": ct.skipped_outside, "val": cv.skipped_outside},
                   "train_counts": ct.counts, "val_counts": cv.counts}
            if len(set(ct.label.tolist())) >= 2:
                oracles.lexical, h, fit = _fit(p, seed, compute.device, ct.take(wt.dir_vec), ct.label,
                                               cv.take(wv.dir_vec), cv.label, len(labels), or_dir.parent)
                history += [{"oracle": "lexical", **r} for r in h]
                lex.update(fit)
            else:
                lex["note"] = "fewer than 2 labels among the train events: no lexical classifier"
            # speaker: whole windows; val windows of speakers absent from train cannot be scored
            index = {s: i for i, s in enumerate(speakers)}
            yv = np.array([index.get(av.speakers[i], -1) for i in av.speaker], dtype=np.int64)
            known = yv >= 0
            spk = {"train_windows": len(wt), "val_windows": int(known.sum()), "val_unseen_speaker": int((~known).sum())}
            if len(set(at.speaker.tolist())) >= 2:
                oracles.speaker, h, fit = _fit(p, seed, compute.device, np.asarray(wt.dir_vec, np.float32),
                                               at.speaker, np.asarray(wv.dir_vec, np.float32)[known], yv[known],
                                               len(speakers), or_dir.parent, skip)
                history += [{"oracle": "speaker", **r} for r in h]
                spk.update(fit)
            else:
                spk["note"] = "fewer than 2 speakers in train: no speaker classifier"
            report.update({"lexical": lex, "speaker": spk})
            # the accuracies stay in report.json: two more columns would push `dvc metrics show` past 300 characters
            headline = {}
        headline["device"] = compute.device
        report["compute"] = machine
        save_oracles(oracles, or_dir)
        with open(hist_csv, "w", newline="") as fh:
            wr = csv.writer(fh)
            wr.writerow(HISTORY_COLUMNS)
            wr.writerows([r["oracle"], r["epoch"], *("" if r.get(c) is None else repr(float(r[c]))
                                                     for c in HISTORY_COLUMNS[2:])] for r in history)
        write_json(report_json, report)
        write_json(metrics_json, headline)
    return headline, {"total_seconds": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--windows", type=Path, required=True, help="build_windows output: {train,val}/ folders")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    metrics, timings = run(params.train_oracles, params.compute, params.seed, args.dataset, args.windows,
                           args.out_dir)
    write_json(args.out_dir / "timings.json", timings)
    rep = read_json(args.out_dir / "report.json")
    acc = {k: rep[k].get("val_acc") for k in ("lexical", "speaker") if isinstance(rep.get(k), dict)}
    print(f"train_oracles {args.dataset}: {timings['total_seconds']:.1f} s; {metrics}; val accuracy {acc}")


if __name__ == "__main__":
    main()
