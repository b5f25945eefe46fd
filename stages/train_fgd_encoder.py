"""Train the FGD feature extractor of one dataset (HA2G's MotionAE recipe), or import a published one.

Reads   <windows>/{train,val}/ and <windows>/normalization.json   (build_windows)
        params train_fgd_encoder.checkpoint, when set: HA2G `checkpoint_best.bin` (126-d data) or AQGT
        `gesture_autoencoder_checkpoint_best.bin` (159-d data), read with torch.load(weights_only=True)
Writes  <out-dir>/encoder/{model.safetensors,config.json}   (gesturegen.models.fgd_encoder.load_encoder)
        <out-dir>/metrics.json   val reconstruction error, real-vs-real FGD of two val halves, epochs, steps, seconds
        <out-dir>/loss.csv       epoch, train_loss, val_loss (per window; header only for a published encoder)
Params  params.yaml → seed, train_fgd_encoder   (gesturegen.config.TrainFGDEncoderParams)

The cosine term of the loss compares the bone vectors with the train mean added back (HA2G compared the
mean-subtracted vectors); the kept weights are those of the epoch with the lowest val loss (HA2G's checkpoint_best).
"""
from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from gesturegen.config import TrainFGDEncoderParams, load_params, to_dict
from gesturegen.data.skeleton import get_skeleton
from gesturegen.data.windowstore import WindowSplit, open_split
from gesturegen.io import read_json, write_json
from gesturegen.models.fgd_encoder import (
    FeatureExtractor,
    MotionAE,
    MotionAEConfig,
    load_published_aqgt_embedding,
    load_published_motion_ae,
    save_encoder,
)

PUBLISHED_LOADERS = {126: ("HA2G MotionAE", load_published_motion_ae),
                     159: ("AQGT EmbeddingNet", load_published_aqgt_embedding)}


class TrainFGDEncoderError(RuntimeError):
    pass


class _Windows(Dataset):
    """Rows of a (N, T, D) array (memory-mapped or not) as float32 tensors."""

    def __init__(self, arr: np.ndarray):
        self.arr = arr

    def __len__(self) -> int:
        return self.arr.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.arr[i], dtype=np.float32))


def _train(p: TrainFGDEncoderParams, seed: int, train: WindowSplit, val: WindowSplit, mean: np.ndarray | None,
           out_dir: Path) -> tuple[MotionAE, dict, list[dict]]:
    import pytorch_lightning as pl

    from gesturegen.systems.fgd_system import FGDEncoderSystem

    n, t, d = train.dir_vec.shape
    if n < 2:
        raise TrainFGDEncoderError(f"{train.path}: {n} train window(s); training needs at least 2 (BatchNorm)")
    if p.epochs < 1 or p.batch_size < 2:
        raise TrainFGDEncoderError("train_fgd_encoder: epochs must be >= 1 and batch_size >= 2")
    pl.seed_everything(seed, workers=True)
    system = FGDEncoderSystem(MotionAEConfig(pose_dim=d, latent_dim=p.latent_dim, n_frames=t), lr=p.lr,
                              betas=(p.beta1, p.beta2), step_size=p.step_size, gamma=p.gamma,
                              vel_weight=p.vel_weight, cos_weight=p.cos_weight,
                              mean_dir_vec=None if mean is None or p.cosine_on == "mean_subtracted"
                              else mean.tolist())
    # HA2G drops the last partial train batch; a split smaller than one batch trains on one short batch
    train_loader = DataLoader(_Windows(train.dir_vec), batch_size=p.batch_size, shuffle=True,
                              drop_last=n >= p.batch_size, num_workers=0)
    val_loader = DataLoader(_Windows(val.dir_vec), batch_size=max(p.batch_size, 256), shuffle=False, num_workers=0)
    trainer = pl.Trainer(accelerator="auto", devices=1, max_epochs=p.epochs, deterministic=True, logger=False,
                         enable_checkpointing=False, num_sanity_val_steps=0, enable_progress_bar=True,
                         default_root_dir=out_dir)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")  # num_workers=0 on purpose
        trainer.fit(system, train_loader, val_loader)
    seconds = time.perf_counter() - start
    model = system.model.cpu()
    model.load_state_dict(system.best_state)
    info = {"epochs": trainer.current_epoch, "steps": trainer.global_step, "seconds": round(seconds, 3),
            "best_epoch": system.best_epoch, "best_val_loss": system.best_val_loss}
    return model.eval(), info, system.history


def _load_published(checkpoint: Path, dim: int, n_frames: int) -> FeatureExtractor:
    if dim not in PUBLISHED_LOADERS:
        raise TrainFGDEncoderError(
            f"train_fgd_encoder.checkpoint is set ({checkpoint}) but the windows are {dim}-d; published "
            f"extractors exist for {', '.join(f'{k}-d ({v[0]})' for k, v in PUBLISHED_LOADERS.items())}. "
            f"Clear the checkpoint to train one")
    model = PUBLISHED_LOADERS[dim][1](checkpoint)
    if model.pose_dim != dim or model.n_frames != n_frames:
        raise TrainFGDEncoderError(f"{checkpoint}: the extractor takes {model.n_frames}-frame windows of "
                                   f"{model.pose_dim}-d vectors, the windows are {n_frames} x {dim}-d")
    return model


def _fgd_halves(features: np.ndarray, seed: int) -> dict:
    """Real-vs-real FGD between two random halves of the val features (should be << 1 once each half has many
    more windows than feature dimensions; small halves give rank-deficient covariances and a larger value)."""
    from gesturegen.metrics.fgd import frechet_distance  # imported lazily: scipy is not needed to train

    half = features.shape[0] // 2
    if half < 2:
        return {"fgd_val_halves": None, "fgd_val_halves_n": half}
    perm = np.random.default_rng(seed).permutation(features.shape[0])
    fgd = frechet_distance(features[perm[:half]], features[perm[half:2 * half]])
    return {"fgd_val_halves": float(fgd), "fgd_val_halves_n": half}


def run(p: TrainFGDEncoderParams, seed: int, dataset: str, windows: Path, out_dir: Path) -> dict:
    train, val = open_split(windows / "train"), open_split(windows / "val")
    dim, n_frames = val.dir_vec.shape[2], val.dir_vec.shape[1]
    if train.dir_vec.shape[1:] != val.dir_vec.shape[1:]:
        raise TrainFGDEncoderError(f"{windows}: train windows {train.dir_vec.shape[1:]} and val windows "
                                   f"{val.dir_vec.shape[1:]} differ; re-run build_windows")
    norm_path = windows / "normalization.json"
    mean = np.asarray(read_json(norm_path)["mean_dir_vec"], dtype=np.float32) if norm_path.is_file() else None
    out_dir.mkdir(parents=True, exist_ok=True)

    history: list[dict] = []
    if p.checkpoint:
        start = time.perf_counter()
        model = _load_published(Path(p.checkpoint), dim, n_frames)
        source = "published"
        info = {"epochs": 0, "steps": 0, "seconds": round(time.perf_counter() - start, 3), "best_epoch": None,
                "best_val_loss": None}
    else:
        model, info, history = _train(p, seed, train, val, mean, out_dir)
        source = "trained"
    save_encoder(model, out_dir / "encoder", source=source,
                 extra={"dataset": dataset, "checkpoint": p.checkpoint or None,
                        "params": to_dict(p), "seed": seed})

    with open(out_dir / "loss.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "train_loss", "val_loss"])
        w.writerows([r["epoch"], repr(float(r["train_loss"])), repr(float(r["val_loss"]))] for r in history)

    skeleton = get_skeleton(val.meta["skeleton"]) if "skeleton" in val.meta else None
    if isinstance(model, MotionAE):
        from gesturegen.systems.fgd_system import reconstruction_errors
        recon = reconstruction_errors(model, val.dir_vec, mean, skeleton)
    else:  # AQGT's net is loaded without its decoder
        recon = {"recon_l1": None, "joint_mae": None}
    return {"dataset": dataset, "source": source, "arch": model.arch, "pose_dim": model.pose_dim,
            "feature_dim": model.feature_dim, "n_train": len(train), "n_val": len(val),
            "val_recon_l1": recon["recon_l1"], "val_joint_mae": recon["joint_mae"],
            **_fgd_halves(model.features(val.dir_vec), seed), **info}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--windows", type=Path, required=True, help="build_windows output: {train,val}/ folders")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    metrics = run(params.train_fgd_encoder, params.seed, args.dataset, args.windows, args.out_dir)
    write_json(args.out_dir / "metrics.json", metrics)
    print(f"train_fgd_encoder {args.dataset}: {metrics['source']} {metrics['arch']} "
          f"({metrics['pose_dim']}-d -> {metrics['feature_dim']}-d), {metrics['epochs']} epochs in "
          f"{metrics['seconds']:.1f} s; val recon L1 {metrics['val_recon_l1']}, "
          f"FGD(val half, val half) {metrics['fgd_val_halves']}")


if __name__ == "__main__":
    main()
