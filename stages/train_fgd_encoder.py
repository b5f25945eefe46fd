"""Train the FGD feature extractor of one dataset (HA2G's MotionAE recipe), or import a published one.

Reads   <windows>/{train,val}/ and <windows>/normalization.json   (build_windows)
        params train_fgd_encoder.checkpoint, when set: HA2G `checkpoint_best.bin` (126-d data) or AQGT
        `gesture_autoencoder_checkpoint_best.bin` (159-d data), read with torch.load(weights_only=True)
Writes  <out-dir>/encoder/{model.safetensors,config.json}   (gesturegen.models.fgd_encoder.load_encoder)
        <out-dir>/metrics.json   headline: val reconstruction L1, real-vs-real FGD of two val halves, device
        <out-dir>/report.json    everything else: joint MAE, epochs, steps, best epoch, sizes, compute
        <out-dir>/loss.csv       epoch, train_loss, val_loss (per window; header only for a published encoder)
        <out-dir>/timings.json   seconds (not tracked: it differs from run to run)
Params  params.yaml → seed, compute, train_fgd_encoder   (gesturegen.config.TrainFGDEncoderParams)

The kept weights are those of the epoch with the lowest val loss (HA2G's checkpoint_best). Outputs are replaced
only when the whole stage succeeds.
"""
from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np

from gesturegen.compute import use_compute
from gesturegen.config import ComputeParams, TrainFGDEncoderParams, load_params, to_dict
from gesturegen.data.skeleton import get_skeleton
from gesturegen.data.windowstore import WindowSplit, open_split
from gesturegen.io import read_json, replace_on_success, write_json


class TrainFGDEncoderError(RuntimeError):
    pass


def _train(p: TrainFGDEncoderParams, seed: int, train: WindowSplit, val: WindowSplit, mean: np.ndarray | None,
           device: str, root: Path):
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from gesturegen.data.datasets import WindowArray
    from gesturegen.models.fgd_encoder import MotionAEConfig
    from gesturegen.systems.fgd_system import FGDEncoderSystem
    from gesturegen.training import trainer_device

    n, t, d = train.dir_vec.shape
    if n < 2:
        raise TrainFGDEncoderError(f"{train.path}: {n} train window(s); training needs at least 2 (BatchNorm)")
    if p.epochs < 1 or p.batch_size < 2:
        raise TrainFGDEncoderError("train_fgd_encoder: epochs must be >= 1 and batch_size >= 2")
    pl.seed_everything(seed, workers=True, verbose=False)
    system = FGDEncoderSystem(MotionAEConfig(pose_dim=d, latent_dim=p.latent_dim, n_frames=t), lr=p.lr,
                              betas=(p.beta1, p.beta2), step_size=p.step_size, gamma=p.gamma,
                              vel_weight=p.vel_weight, cos_weight=p.cos_weight,
                              mean_dir_vec=None if mean is None or p.cosine_on == "mean_subtracted"
                              else mean.tolist())
    # HA2G drops the last partial train batch; a split smaller than one batch trains on one short batch
    train_loader = DataLoader(WindowArray(train.dir_vec), batch_size=p.batch_size, shuffle=True,
                              drop_last=n >= p.batch_size, num_workers=0)
    val_loader = DataLoader(WindowArray(val.dir_vec), batch_size=max(p.batch_size, 256), shuffle=False,
                            num_workers=0)
    trainer = pl.Trainer(**trainer_device(device), max_epochs=p.epochs,
                         logger=False, enable_checkpointing=False, num_sanity_val_steps=0, enable_progress_bar=True,
                         enable_model_summary=False, default_root_dir=root)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")  # num_workers=0 on purpose
        trainer.fit(system, train_loader, val_loader)
    model = system.model.cpu()
    model.load_state_dict(system.best_state)
    info = {"epochs": trainer.current_epoch, "steps": trainer.global_step, "best_epoch": system.best_epoch,
            "best_val_loss": system.best_val_loss}
    return model.eval(), info, system.history


def run(p: TrainFGDEncoderParams, compute: ComputeParams, seed: int, dataset: str, windows: Path,
        out_dir: Path) -> tuple[dict, dict]:
    """Train (or load) the extractor into out_dir; returns (headline metrics, timings)."""
    from gesturegen.metrics.fgd import fgd_of_halves
    from gesturegen.models.fgd_encoder import MotionAE, load_published, save_encoder
    from gesturegen.systems.fgd_system import reconstruction_errors

    train, val = open_split(windows / "train"), open_split(windows / "val")
    dim, n_frames = val.dir_vec.shape[2], val.dir_vec.shape[1]
    if train.dir_vec.shape[1:] != val.dir_vec.shape[1:]:
        raise TrainFGDEncoderError(f"{windows}: train windows {train.dir_vec.shape[1:]} and val windows "
                                   f"{val.dir_vec.shape[1:]} differ; re-run build_windows")
    norm_path = windows / "normalization.json"
    mean = np.asarray(read_json(norm_path)["mean_dir_vec"], dtype=np.float32) if norm_path.is_file() else None
    machine = use_compute(compute.device, compute.threads_for("train_fgd_encoder"))

    start = time.perf_counter()
    history: list[dict] = []
    with replace_on_success(out_dir / "encoder", out_dir / "loss.csv", out_dir / "report.json",
                            out_dir / "metrics.json") as (enc_dir, loss_csv, report_json, metrics_json):
        if p.checkpoint:
            model = load_published(Path(p.checkpoint), dim, n_frames)
            source = "published"
            info: dict = {"epochs": 0, "steps": 0, "best_epoch": None, "best_val_loss": None}
        else:
            model, info, history = _train(p, seed, train, val, mean, compute.device, enc_dir.parent)
            source = "trained"
        train_s = time.perf_counter() - start
        save_encoder(model, enc_dir, source=source,
                     extra={"dataset": dataset, "checkpoint": p.checkpoint or None, "params": to_dict(p),
                            "seed": seed})
        with open(loss_csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["epoch", "train_loss", "val_loss"])
            w.writerows([r["epoch"], repr(float(r["train_loss"])), repr(float(r["val_loss"]))] for r in history)

        skeleton = get_skeleton(val.meta["skeleton"]) if "skeleton" in val.meta else None
        recon = reconstruction_errors(model, val.dir_vec, mean, skeleton) if isinstance(model, MotionAE) \
            else {"recon_l1": None, "joint_mae": None}   # AQGT's net is loaded without its decoder
        fgd_halves, half = fgd_of_halves(model.features(val.dir_vec), seed)
        headline = {"recon_l1": recon["recon_l1"], "fgd_halves": fgd_halves, "device": compute.device}
        write_json(report_json, {
            "dataset": dataset, "source": source, "arch": model.arch, "pose_dim": model.pose_dim,
            "feature_dim": model.feature_dim, "n_train": len(train), "n_val": len(val),
            "val_recon_l1": recon["recon_l1"], "val_joint_mae": recon["joint_mae"], "fgd_val_halves": fgd_halves,
            "fgd_val_halves_n": half, "compute": machine, **info})
        write_json(metrics_json, headline)
    return headline, {"train_seconds": round(train_s, 3), "total_seconds": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--windows", type=Path, required=True, help="build_windows output: {train,val}/ folders")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    metrics, timings = run(params.train_fgd_encoder, params.compute, params.seed, args.dataset, args.windows,
                           args.out_dir)
    write_json(args.out_dir / "timings.json", timings)
    print(f"train_fgd_encoder {args.dataset}: {timings['total_seconds']:.1f} s; val recon L1 {metrics['recon_l1']}, "
          f"FGD(val half, val half) {metrics['fgd_halves']}")


if __name__ == "__main__":
    main()
