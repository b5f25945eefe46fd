"""The train_fgd_encoder stage on small synthetic window sets: training, determinism, published checkpoints."""
from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest
import torch

from gesturegen.config import load_params
from gesturegen.data.rawformat import write_store
from gesturegen.data.windowstore import open_split
from gesturegen.io import read_json
from gesturegen.models.fgd_encoder import (
    AQGTEmbeddingNet,
    CheckpointLayoutError,
    EmbeddingNetConfig,
    MotionAE,
    MotionAEConfig,
    load_encoder,
)
from stages import build_windows, train_fgd_encoder
from tests.conftest import synthetic_clip, write_params, write_synthetic_dataset

HEADLINE_KEYS = {"recon_l1", "fgd_halves", "device"}
REPORT_KEYS = {"dataset", "source", "arch", "pose_dim", "feature_dim", "n_train", "n_val", "val_recon_l1",
               "val_joint_mae", "fgd_val_halves", "fgd_val_halves_n", "epochs", "steps", "best_epoch",
               "best_val_loss", "compute"}


@pytest.fixture(scope="module")
def ted_windows(tmp_path_factory):
    root = tmp_path_factory.mktemp("ted")
    raw = write_synthetic_dataset(root / "raw")
    build_windows.main(["--params", str(write_params(root / "params.yaml")), "--dataset", "demo", "--raw", str(raw),
                        "--out-dir", str(root / "bw")])
    return root / "bw" / "windows"


@pytest.fixture(scope="module")
def aqgt_windows(tmp_path_factory):
    root = tmp_path_factory.mktemp("aqgt")
    rng = np.random.default_rng(0)
    for split, n in {"train": 2, "val": 1, "test": 1}.items():
        vids = [{"vid": f"{split}_video{v}", "framerate": 25.0,
                 "clips": [synthetic_clip(rng, 1.0 + 10 * c, 6.0, n_joints=53) for c in range(2)]} for v in range(n)]
        write_store(root / "raw" / split, vids, {"dataset": "synthetic"})
    params = write_params(root / "params.yaml", {"data_sources.aqgt.words_unit": "seconds"})
    build_windows.main(["--params", str(params), "--dataset", "aqgt", "--raw", str(root / "raw"),
                        "--out-dir", str(root / "bw")])
    return root / "bw" / "windows"


def _run(tmp_path, windows, out, changes=None, dataset="demo"):
    params = write_params(tmp_path / f"params_{out}.yaml",
                          {"train_fgd_encoder.epochs": 2, "train_fgd_encoder.batch_size": 16, **(changes or {})})
    train_fgd_encoder.main(["--params", str(params), "--dataset", dataset, "--windows", str(windows),
                            "--out-dir", str(tmp_path / out)])
    headline = read_json(tmp_path / out / "metrics.json")
    assert set(headline) == HEADLINE_KEYS and headline["device"] == "cpu"
    report = read_json(tmp_path / out / "report.json")
    assert set(report) == REPORT_KEYS
    assert headline["recon_l1"] == report["val_recon_l1"] and headline["fgd_halves"] == report["fgd_val_halves"]
    assert report["compute"]["device"] == "cpu"
    assert report["compute"]["threads"] == load_params(params).compute.threads_for("train_fgd_encoder")
    assert read_json(tmp_path / out / "timings.json")["total_seconds"] > 0    # timings stay out of the metrics
    return tmp_path / out, report


def _loss_rows(out):
    with open(out / "loss.csv") as fh:
        return list(csv.DictReader(fh))


def test_trains_and_writes_outputs(tmp_path, ted_windows):
    out, m = _run(tmp_path, ted_windows, "a")
    assert m["source"] == "trained" and m["arch"] == "motion_ae" and m["pose_dim"] == 126 and m["feature_dim"] == 128
    assert m["n_train"] == 36 and m["n_val"] == 12
    assert m["epochs"] == 2 and m["steps"] == 2 * (36 // 16) and m["best_epoch"] in (1, 2)
    assert 0 < m["val_recon_l1"] < 10 and 0 < m["val_joint_mae"] < 10
    assert m["fgd_val_halves"] is not None and np.isfinite(m["fgd_val_halves"]) and m["fgd_val_halves_n"] == 6
    rows = _loss_rows(out)
    assert [r["epoch"] for r in rows] == ["1", "2"] and all(float(r["val_loss"]) > 0 for r in rows)
    assert m["best_val_loss"] == pytest.approx(min(float(r["val_loss"]) for r in rows))
    info = read_json(out / "encoder" / "config.json")
    assert info["source"] == "trained" and info["pose_dim"] == 126 and info["latent_dim"] == 128
    assert info["dataset"] == "demo" and info["params"]["epochs"] == 2
    enc = load_encoder(out / "encoder")
    feats = enc.features(open_split(ted_windows / "val").dir_vec)
    assert feats.shape == (12, 128) and feats.dtype == np.float32 and np.isfinite(feats).all()


def test_same_seed_same_bytes(tmp_path, ted_windows):
    a, ma = _run(tmp_path, ted_windows, "a")
    b, mb = _run(tmp_path, ted_windows, "b")
    assert (a / "encoder" / "model.safetensors").read_bytes() == (b / "encoder" / "model.safetensors").read_bytes()
    assert (a / "loss.csv").read_bytes() == (b / "loss.csv").read_bytes()
    assert ma == mb and (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()
    c, _ = _run(tmp_path, ted_windows, "c", {"seed": 7})
    assert (a / "encoder" / "model.safetensors").read_bytes() != (c / "encoder" / "model.safetensors").read_bytes()


def _randomized(module):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.dtype.is_floating_point:
                t.add_(torch.randn(t.shape, generator=g).abs() * 0.1 if name.endswith("running_var")
                       else torch.randn(t.shape, generator=g) * 0.1)
    return module.eval()


def test_published_motion_ae_checkpoint(tmp_path, ted_windows):
    src = _randomized(MotionAE(MotionAEConfig(pose_dim=126)))
    ckpt = tmp_path / "checkpoint_best.bin"
    torch.save({"args": argparse.Namespace(epochs=180), "epoch": 100, "pose_dim": 126, "latent_dim": 128,
                "motion_ae": src.state_dict()}, ckpt)
    out, m = _run(tmp_path, ted_windows, "pub", {"train_fgd_encoder.checkpoint": str(ckpt)})
    assert m["source"] == "published" and m["epochs"] == 0 and m["steps"] == 0 and m["val_recon_l1"] > 0
    assert _loss_rows(out) == []
    assert read_json(out / "encoder" / "config.json")["checkpoint"] == str(ckpt)
    val = open_split(ted_windows / "val").dir_vec
    np.testing.assert_array_equal(load_encoder(out / "encoder").features(val), src.features(val))


def test_published_aqgt_checkpoint(tmp_path, aqgt_windows):
    src = _randomized(AQGTEmbeddingNet(EmbeddingNetConfig()))
    state = dict(src.state_dict())
    state["decoder.gru.weight_ih_l0"] = torch.zeros(900, 64)          # AQGT's decoder keys are ignored
    ckpt = tmp_path / "gesture_autoencoder_checkpoint_best.bin"
    torch.save({"pose_dim": 159, "gen_dict": state}, ckpt)
    changes = {"train_fgd_encoder.checkpoint": str(ckpt), "data_sources.aqgt.words_unit": "seconds"}
    out, m = _run(tmp_path, aqgt_windows, "aqgt", changes, dataset="aqgt")
    assert m["source"] == "published" and m["arch"] == "aqgt_embedding" and m["pose_dim"] == 159
    assert m["feature_dim"] == 32 and m["val_recon_l1"] is None
    enc = load_encoder(out / "encoder")
    assert not enc.config.variational
    val = open_split(aqgt_windows / "val").dir_vec
    np.testing.assert_array_equal(enc.features(val), src.features(val))


def test_published_checkpoint_of_the_wrong_kind(tmp_path, ted_windows):
    ckpt = tmp_path / "aqgt.bin"
    torch.save({"gen_dict": AQGTEmbeddingNet(EmbeddingNetConfig()).state_dict()}, ckpt)
    with pytest.raises(CheckpointLayoutError, match=r"aqgt\.bin.*missing top-level keys"):
        _run(tmp_path, ted_windows, "bad", {"train_fgd_encoder.checkpoint": str(ckpt)})
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())   # nothing half-written


def test_a_failed_run_keeps_the_previous_outputs(tmp_path, ted_windows):
    out, _ = _run(tmp_path, ted_windows, "keep")
    before = {f.relative_to(out): f.read_bytes() for f in sorted(out.rglob("*")) if f.is_file()}
    ckpt = tmp_path / "broken.bin"
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointLayoutError):
        _run(tmp_path, ted_windows, "keep", {"train_fgd_encoder.checkpoint": str(ckpt)})
    after = {f.relative_to(out): f.read_bytes() for f in sorted(out.rglob("*")) if f.is_file()}
    assert after == before
