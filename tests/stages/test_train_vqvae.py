"""train_vqvae on a small synthetic dataset: outputs, exact resume after a kill, bad inputs."""
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from gesturegen.io import read_json
from gesturegen.models.fgd_encoder import MotionAE, MotionAEConfig, save_encoder
from gesturegen.models.vqvae import VQVAEMismatchError, load_vqvae
from stages import build_windows, extract_features, train_vqvae

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"train_vqvae.models.demo": {"width": 16, "faithful_width": False, "codebook_size": 32, "code_dim": 32, "down_t": 3,
                                    "levels": 2, "epochs": 2, "batch_size": 16, "lr": 0.001},   # 2: residual codebooks
        "train_vqvae.retrieval_pool": 4,
        "evaluate_baselines.seeds": [0, 1], "evaluate_baselines.diversity_permutations": 5,
        "evaluate_baselines.faithful_batch_size": {"demo": 8}, "evaluate_baselines.min_half_windows": 8,
        "evaluate_baselines.n_partitions": 2, "evaluate_baselines.bcgap_derangements": 3}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tests.conftest import write_params, write_synthetic_dataset
    tmp = tmp_path_factory.mktemp("vq")
    raw = write_synthetic_dataset(tmp / "raw", videos={"train": 4, "val": 2, "test": 2})
    params = write_params(tmp / "params.yaml", TINY)
    build_windows.main(["--params", str(params), "--dataset", "demo", "--raw", str(raw), "--out-dir", str(tmp / "w")])
    extract_features.main(["--params", str(params), "--dataset", "demo", "--windows", str(tmp / "w/windows"),
                           "--out-dir", str(tmp / "f")])
    torch.manual_seed(0)
    save_encoder(MotionAE(MotionAEConfig(pose_dim=126)).eval(), tmp / "encoder")
    return tmp


def _args(world, out, params=None, part="body"):
    return ["--params", str(params or world / "params.yaml"), "--dataset", "demo", "--part", part,
            "--windows", str(world / "w/windows"), "--features", str(world / "f/features"),
            "--encoder", str(world / "encoder"), "--out-dir", str(out)]


@pytest.fixture(scope="module")
def trained(world):
    train_vqvae.main(_args(world, world / "a"))
    return world / "a"


def test_outputs_model_and_metrics(trained):
    out = trained
    assert not (out / "resume").exists()                       # removed on success
    model = load_vqvae(out / "model", dataset="demo", part="body")
    assert model.config.in_dim == 126 and model.config.out_dim == 36 and model.config.n_latent == 4
    assert bool(model.quantizer.initted)                       # the codebook state travels with the weights
    with pytest.raises(VQVAEMismatchError, match="part 'body', not 'hand'"):
        load_vqvae(out / "model", part="hand")
    m = read_json(out / "metrics.json")
    assert set(m) == {"recon_l1", "val", "perplexity", "dead", "mparams", "device"}
    assert set(m["val"]) == {"fgd", "beat"} and m["val"]["fgd"]["rec"] > 0
    r = read_json(out / "report.json")                         # retrieval and the other v2 metrics: report, summary
    assert {"audio", "text"} <= set(r["retrieval_val"]) or r["retrieval_val"]["pool"] is None
    summary = pd.read_csv(out / "summary.csv")
    assert "kid_corrected" in set(summary["metric"])                 # (no oracles here: no lexical, speaker)
    assert m["val"]["beat"]["rec"] is None          # no annotations in this synthetic dataset
    assert 1 <= m["perplexity"] <= 32 and m["mparams"] > 0
    assert read_json(out / "timings.json")["samples_per_s"] > 0
    r = read_json(out / "report.json")
    assert len(r["history"]) == 2 and 1 <= r["best_epoch"] <= 2
    for row in r["history"]:
        assert {"train_recon", "train_commit", "train_text", "train_audio", "train_style", "perplexity",
                "dead_codes", "unused_codes", "val_score", "val_part_l1"} <= set(row)
    assert r["retrieval_val"]["pool"] == 4 and 0 <= r["retrieval_val"]["audio"]["r1"] <= 1
    assert r["model"]["parameters"]["total"] == sum(p.numel() for p in model.parameters())
    s = pd.read_csv(out / "summary.csv")
    assert set(s["control"]) == {"reconstruction"} and set(s["split"]) == {"val", "test"}
    fgd = s[(s["metric"] == "fgd_corrected") & (s["split"] == "val")].iloc[0]
    assert fgd["n"] == 2 and np.isfinite(fgd["mean"])
    curves = out / "dvclive" / "plots" / "metrics"
    tsv = pd.read_csv(curves / "val_score.tsv", sep="\t")
    assert list(tsv["step"]) == [0, 1]


def test_ddp_on_two_processes_writes_once_and_matches_one_process(world, trained, tmp_path):
    """compute.devices 2: Lightning starts a second rank by running the stage's command line again; only rank 0
    evaluates and writes, and the run ends where the one-process run ends (the same global batches)."""
    import subprocess
    import sys

    from tests.conftest import ROOT, write_params
    params = write_params(tmp_path / "p.yaml", {**TINY, "compute.devices": 2})
    p = subprocess.run([sys.executable, "-m", "stages.train_vqvae", *_args(world, tmp_path / "ddp", params)],
                       cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Starting with 2 processes" in p.stdout + p.stderr
    assert (p.stdout + p.stderr).count("train_vqvae demo-body: ") == 1          # rank 0's summary line only
    out = tmp_path / "ddp"
    m, m1 = read_json(out / "metrics.json"), read_json(trained / "metrics.json")
    assert m["device"] == "cpu×2" and m1["device"] == "cpu"
    assert read_json(out / "report.json")["compute"]["devices"] == 2
    assert m["recon_l1"] == pytest.approx(m1["recon_l1"], rel=1e-3)
    assert not (out / "resume").exists()
    a, b = (load_file(str(d / "model/model.safetensors")) for d in (trained, out))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-4)


class Kill(Exception):
    pass


def _run_args(world, out) -> tuple:
    """train_vqvae.run's positional arguments for the body on `world`, into `out`."""
    from gesturegen.config import load_params
    params = load_params(world / "params.yaml")
    return (params.train_vqvae, params.evaluate_baselines, params.compute, params.seed, "demo", "body",
            world / "w/windows", world / "f/features", world / "encoder", out)


def _assert_same_weights(a_dir, b_dir) -> None:
    a, b = (load_file(str(d / "model/model.safetensors")) for d in (a_dir, b_dir))
    assert a.keys() == b.keys() and "quantizer.codebook" in a
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_exact_resume_after_a_kill(world, trained, tmp_path):
    """2 epochs straight == 1 epoch + kill + resume + 1 epoch: identical weights and codebook state."""
    import pytorch_lightning as pl

    class Killer(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 1:          # epoch 1's checkpoint is on disk by now
                raise Kill("killed")

    args = _run_args(world, tmp_path / "b")
    with pytest.raises(Kill):
        train_vqvae.run(*args, callbacks=(Killer(),))
    assert (tmp_path / "b/resume/last.ckpt").is_file() and not (tmp_path / "b/model").exists()
    train_vqvae.run(*args)
    assert read_json(tmp_path / "b/report.json")["resumed"] is True
    _assert_same_weights(trained, tmp_path / "b")
    ha, hb = read_json(trained / "report.json")["history"], read_json(tmp_path / "b/report.json")["history"]
    assert ha == hb


def test_a_damaged_checkpoint_is_refused_and_the_previous_epoch_resumed(world, trained, tmp_path, capsys):
    """Killed after both epochs' checkpoints, the last one then damaged (truncated, as by a kill while it was
    written): the rerun names it, keeps it aside, resumes from the epoch before, and ends with the uninterrupted
    run's weights."""
    import pytorch_lightning as pl

    class KillAtTheEnd(pl.Callback):
        def on_train_end(self, trainer, module):
            raise Kill("killed")

    args = _run_args(world, tmp_path / "d")
    with pytest.raises(Kill):
        train_vqvae.run(*args, callbacks=(KillAtTheEnd(),))
    resume = tmp_path / "d/resume"
    assert sorted(f.name for f in resume.iterdir()) == ["last.ckpt", "prev.ckpt"]
    data = (resume / "last.ckpt").read_bytes()
    (resume / "last.ckpt").write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    train_vqvae.run(*args)
    out = capsys.readouterr().out
    assert f"{resume / 'last.ckpt'} cannot be read (RuntimeError" in out and "kept as last.ckpt.damaged" in out
    assert f"resuming from {resume / 'prev.ckpt'} (epoch 1 done)" in out
    _assert_same_weights(trained, tmp_path / "d")


def test_a_resume_checkpoint_of_other_params_is_not_used(world, tmp_path, capsys):
    import pytorch_lightning as pl

    from tests.conftest import write_params

    class Killer(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 1:
                raise Kill("killed")

    with pytest.raises(Kill):
        train_vqvae.run(*_run_args(world, tmp_path / "c"), callbacks=(Killer(),))
    other = write_params(tmp_path / "p.yaml", {**TINY, "train_vqvae.commit_weight": 0.002})
    train_vqvae.main(_args(world, tmp_path / "c", other))
    assert "written for other params or inputs; starting afresh" in capsys.readouterr().out
    assert read_json(tmp_path / "c/report.json")["resumed"] is False


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_outputs(world, trained, tmp_path):
    import shutil

    from gesturegen.systems.vqvae_system import NonFiniteLossError
    from tests.conftest import write_params

    shutil.copytree(trained, tmp_path / "d")
    before = (tmp_path / "d/model/model.safetensors").read_bytes()
    bad = write_params(tmp_path / "p.yaml", {**TINY, "train_vqvae.models.demo": {**TINY["train_vqvae.models.demo"], "lr": 1.0e12}})
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step \d+"):
        train_vqvae.main(_args(world, tmp_path / "d", bad))
    assert (tmp_path / "d/model/model.safetensors").read_bytes() == before


def test_features_of_other_windows_are_refused(world, tmp_path):
    import shutil
    shutil.copytree(world / "f", tmp_path / "f")
    # the val features in the place of train's: their window count does not match train's windows
    shutil.rmtree(tmp_path / "f/features/train")
    shutil.copytree(world / "f/features/val", tmp_path / "f/features/train")
    args = _args(world, tmp_path / "e")
    args[args.index("--features") + 1] = str(tmp_path / "f/features")
    with pytest.raises(train_vqvae.TrainVQVAEError, match="does not belong to"):
        train_vqvae.main(args)


@pytest.mark.parametrize("down_t,match", [(6, "cannot bring back"), (4, "contrastive terms use steps 0-3")])
def test_a_bad_down_t_names_the_key(world, tmp_path, down_t, match):
    from tests.conftest import write_params

    bad = write_params(tmp_path / "p.yaml", {**TINY, "train_vqvae.models.demo": {**TINY["train_vqvae.models.demo"],
                                                                               "down_t": down_t}})
    with pytest.raises(train_vqvae.TrainVQVAEError, match=rf"train_vqvae\.models\.demo\.down_t = {down_t}: .*{match}|"
                                                          rf"train_vqvae\.models\.demo\.down_t = {down_t} .*{match}"):
        train_vqvae.main(_args(world, tmp_path / "g", bad))
    assert not (tmp_path / "g").exists()

