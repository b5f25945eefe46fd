"""benchmarks/faithful_row.py's train step (the part that runs on a GPU machine) on a small synthetic bundle: the
original's UNet trained through the real Lightning path, its 99-step lerp sampler, the files the score step reads."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("faithful_row", ROOT / "benchmarks" / "faithful_row.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bundle(folder: Path, n: int = 8, n_latent: int = 4, code_dim: int = 16) -> None:
    rng = np.random.default_rng(0)
    feats = {"audio_frames": 6, "text_frames": 5, "audio_pooled": 7, "text_pooled": 9}
    for split in ("train", "val", "test"):
        arrays = {"audio_pooled": rng.normal(size=(n, 7)).astype(np.float32),
                  "text_pooled": rng.normal(size=(n, 9)).astype(np.float32),
                  "seed": rng.normal(size=(n, 4, 126)).astype(np.float32)}
        if split == "train":
            for part in ("body", "hand"):
                arrays[f"latents_{part}"] = rng.normal(size=(n, n_latent, code_dim)).astype(np.float32)
        np.savez_compressed(folder / f"{split}.npz", **arrays)
    vq = {"in_dim": 126, "out_dim": 36, "width": 16, "code_dim": code_dim, "codebook_size": 8, "down_t": 3}
    meta = {"dataset": "demo", "seed": 3, "run_seeds": [0, 1], "n_frames": 34, "n_seed_frames": 4, "fps": 15.0,
            "features": feats,
            "parts": {p: {"n_latent": n_latent, "code_dim": code_dim, "latent_norm": "vector", "in_dim": 126,
                          "vqvae_config": {"config": {**vq, "out_dim": 36 if p == "body" else 90}}}
                      for p in ("body", "hand")}}
    (folder / "meta.json").write_text(json.dumps(meta))


def test_train_writes_what_score_reads(tmp_path):
    mod = _script()
    _bundle(tmp_path)
    out = tmp_path / "out"
    mod.train(tmp_path, out, "hand", "cpu", epochs=2, threads=1)
    report = json.loads((out / "report_hand.json").read_text())
    assert report["epochs"] == 2 and len(report["history"]) == 2
    assert report["nfe"] == 198                      # 99 steps x (conditional + unconditional)
    assert report["faithful"]["sampler"] == "ddpm_lerp" and report["faithful"]["use_ema"] is False
    assert report["device_check"]["max_abs_diff"] == 0.0 and report["device_check"]["max_abs"] > 0
    for split in ("val", "test"):
        z = np.load(out / f"z_hand_{split}.npz")
        assert sorted(z.files) == [f"{split}_0", f"{split}_1"]
        assert z[f"{split}_0"].shape == (8, 4, 16) and np.isfinite(z[f"{split}_0"]).all()
        # the run seeds draw other noise
        assert not np.allclose(z[f"{split}_0"], z[f"{split}_1"])
    # the noise is evaluate's: the same part, split and run seed give the same samples again
    again = tmp_path / "again"
    mod.train(tmp_path, again, "hand", "cpu", epochs=2, threads=1)      # (epochs change the weights)
    np.testing.assert_array_equal(np.load(out / "z_hand_val.npz")["val_0"], np.load(again / "z_hand_val.npz")["val_0"])
    # a second device call: the saved weights, one run seed, the same samples, the first call's training record
    later = tmp_path / "later"
    mod.train(tmp_path, later, "hand", "cpu", epochs=2, threads=1, run_seeds=(1,), checkpoints=out, sample_only=True)
    z = np.load(later / "z_hand_test.npz")
    assert z.files == ["test_1"]
    np.testing.assert_array_equal(z["test_1"], np.load(out / "z_hand_test.npz")["test_1"])
    assert json.loads((later / "report_hand.json").read_text())["history"] == report["history"]
    # a third call into the same folder adds its run seed to what is there (score reads one file per split)
    mod.train(tmp_path, later, "hand", "cpu", epochs=2, threads=1, run_seeds=(0,), checkpoints=out, sample_only=True)
    z = np.load(later / "z_hand_test.npz")
    assert sorted(z.files) == ["test_0", "test_1"]
    for k in z.files:
        np.testing.assert_array_equal(z[k], np.load(out / "z_hand_test.npz")[k])
    assert set(json.loads((later / "report_hand.json").read_text())["generate_seconds"]) == {
        "val_0", "val_1", "test_0", "test_1"}
    with pytest.raises(FileNotFoundError, match="without --sample-only"):
        mod.train(tmp_path, later, "body", "cpu", epochs=2, threads=1, checkpoints=out, sample_only=True)


def test_noise_seed_is_evaluates():
    import zlib

    mod = _script()
    assert mod.noise_seed(1234, 2, "val", "hand") == zlib.crc32(b"1234/2/val") + 1


@pytest.mark.parametrize("missing", ["val.npz", "meta.json"])
def test_train_names_a_missing_bundle_file(tmp_path, missing):
    mod = _script()
    _bundle(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing.split(".")[0]):
        mod.train(tmp_path, tmp_path / "out", "body", "cpu", epochs=1, threads=1)
