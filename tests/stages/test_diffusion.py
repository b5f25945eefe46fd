"""The diffusion and evaluate stages on a small windows world (tests.evaluator_world) with random VQ-VAEs: outputs,
exact resume after a kill, the evaluation's rows and table, and bad inputs."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from gesturegen.config import ParamsError, load_params
from gesturegen.data.skeleton import TED_EXPRESSIVE
from gesturegen.data.windowstore import open_split
from gesturegen.io import read_json, write_json
from gesturegen.models.fgd_encoder import MotionAE, MotionAEConfig, save_encoder
from gesturegen.models.latent_diffusion import load_diffusion
from gesturegen.models.vqvae import VQVAE, VQVAEConfig, save_vqvae
from stages import diffusion, evaluate, extract_codes
from tests.conftest import write_params
from tests.evaluator_world import write_world

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZES = {"train": (6, 10), "val": (3, 8), "test": (3, 8)}
TINY = {"diffusion.steps": 30, "diffusion.val_every": 1, "diffusion.sampler.steps": 2,
        "diffusion.models.demo": {"width": 32, "layers": 1, "heads": 4, "epochs": 2, "batch_size": 16, "lr": 0.001},
        "evaluate.seeds": [0, 1], "evaluate.nfe_sweep": [1, 2], "evaluate.ablations": ["speech", "style", "speech+style"],
        "evaluate_baselines.seeds": [0, 1], "evaluate_baselines.diversity_permutations": 5,
        "evaluate_baselines.faithful_batch_size": {"demo": 8}, "evaluate_baselines.min_half_windows": 8,
        "evaluate_baselines.n_partitions": 2, "evaluate_baselines.bcgap_derangements": 3}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion")
    windows, features = write_world(root, sizes=SIZES)
    write_json(windows / "normalization.json",
               {"source": "published", "mean_dir_vec": TED_EXPRESSIVE.published_means()[1].reshape(-1)})
    params = write_params(root / "params.yaml", TINY)
    torch.manual_seed(0)
    train = torch.as_tensor(np.array(open_split(windows / "train").dir_vec))
    for part, out_dim in (("body", 36), ("hand", 90)):
        model = VQVAE(VQVAEConfig(in_dim=126, out_dim=out_dim, width=16, code_dim=32, codebook_size=64))
        model.train()
        model(train)                                    # initialises the codebook
        save_vqvae(model.eval(), root / f"vq-{part}", {"dataset": "demo", "part": part, "skeleton": "ted_expressive"})
        extract_codes.main(["--params", str(params), "--dataset", "demo", "--part", part, "--windows", str(windows),
                            "--model", str(root / f"vq-{part}"), "--out-dir", str(root / f"codes-{part}")])
    save_encoder(MotionAE(MotionAEConfig(pose_dim=126)).eval(), root / "encoder")
    return root


def _args(root, part, out, **over):
    args = {"--params": root / "params.yaml", "--dataset": "demo", "--part": part, "--windows": root / "windows",
            "--features": root / "features", "--codes": root / f"codes-{part}/codes", "--vqvae": root / f"vq-{part}",
            "--encoder": root / "encoder", "--out-dir": out, **over}
    return [str(x) for kv in args.items() for x in kv]


@pytest.fixture(scope="module")
def trained(world):
    for part in ("body", "hand"):
        diffusion.main(_args(world, part, world / f"d-{part}"))
    return world


def test_outputs_model_metrics_and_curves(trained):
    out = trained / "d-body"
    assert not (out / "resume").exists()
    vq = read_json(trained / "vq-body/config.json")
    model = load_diffusion(out / "model", dataset="demo", part="body", vqvae_info=vq)
    assert model.config.steps == 30 and model.config.denoiser.n_latent == 4
    assert model.config.style_steps == (2, 3)
    # the speech and text statistics of the train split travel in the weights
    assert model.config.condition_scale == "standardize"
    frames = np.load(trained / "features/train/audio_frames.npy").astype(np.float64)
    np.testing.assert_allclose(model.cond_mean_audio_frames.numpy(), frames.mean(axis=(0, 1)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.cond_std_audio_frames.numpy(), frames.reshape(-1, frames.shape[-1]).std(0),
                               rtol=1e-4, atol=1e-6)
    m = read_json(out / "metrics.json")
    assert set(m) == {"val", "mparams", "device"}
    assert np.isfinite(m["val"]["fgd"]["part"]) and m["mparams"] > 0
    assert r_nfe(out) == 2 and read_json(out / "report.json")["history"][-1]["train_loss"] > 0
    r = read_json(out / "report.json")
    assert [h["epoch"] for h in r["history"]] == [1, 2] and all("val_score" in h for h in r["history"])
    assert r["style_references"]["val_without"] == 0          # every val window has a non-overlapping reference
    # the stroke plan: trained on the ground truth's hits, its val threshold saved in the weights and reported
    plan = r["stroke_plan"]
    assert model.config.stroke_plan is not None and model.config.denoiser.plan_channels == 1
    assert float(model.plan_threshold) == pytest.approx(plan["threshold"])
    assert plan["threshold"] in [t["threshold"] for t in plan["thresholds"]]
    assert len(plan["train_loss"]) == load_params(trained / "params.yaml").diffusion.stroke_plan.epochs
    assert r["train_guidance"] == {"speech": 2.0}
    tsv = pd.read_csv(out / "dvclive/plots/metrics/val_score.tsv", sep="\t")
    assert list(tsv["step"]) == [0, 1]
    assert read_json(out / "timings.json")["samples_per_s"] > 0


def r_nfe(out):
    return read_json(out / "report.json")["sampler"]["nfe"]


class Kill(Exception):
    pass


def test_exact_resume_after_a_kill(trained, tmp_path):
    import pytorch_lightning as pl

    class Killer(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 1:
                raise Kill("killed")

    root = trained
    p = load_params(root / "params.yaml")
    args = (p.diffusion, p.evaluate_baselines, p.compute, p.seed, "demo", "body", root / "windows", root / "features",
            root / "codes-body/codes", root / "vq-body", root / "encoder", tmp_path / "b")
    with pytest.raises(Kill):
        diffusion.run(*args, callbacks=(Killer(),))
    assert (tmp_path / "b/resume/last.ckpt").is_file() and not (tmp_path / "b/model").exists()
    diffusion.run(*args)
    assert read_json(tmp_path / "b/report.json")["resumed"] is True
    a = load_file(str(root / "d-body/model/model.safetensors"))
    b = load_file(str(tmp_path / "b/model/model.safetensors"))
    assert a.keys() == b.keys() and any(k.startswith("ema.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert read_json(root / "d-body/report.json")["history"] == read_json(tmp_path / "b/report.json")["history"]


def test_codes_of_another_vqvae_are_refused(world, tmp_path):
    with pytest.raises(diffusion.DiffusionStageError, match="not extracted with the VQ-VAE"):
        diffusion.main(_args(world, "body", tmp_path / "x", **{"--codes": world / "codes-hand/codes"}))
    assert not (tmp_path / "x").exists()


def test_a_sampler_the_schedule_cannot_run_is_a_params_error(world, tmp_path):
    bad = write_params(tmp_path / "p.yaml", {**TINY, "diffusion.sampler.steps": 31})
    with pytest.raises(ParamsError, match=r"diffusion.sampler.steps: 31 for dpmsolver\+\+; use 1 ... diffusion.steps"):
        load_params(bad)


def _eval_args(root, out, **over):
    args = {"--params": root / "params.yaml", "--dataset": "demo", "--windows": root / "windows",
            "--features": root / "features", "--codes": root / "codes-{part}/codes", "--vqvae": root / "vq-{part}",
            "--diffusion": root / "d-{part}/model", "--encoder": root / "encoder", "--out-dir": out, **over}
    return [str(x) for kv in args.items() for x in kv]


@pytest.fixture(scope="module")
def evaluated(trained):
    """evaluate with compute.threads 2: its runs in two worker processes of one thread."""
    evaluate.main(_eval_args(trained, trained / "ev"))
    return trained / "ev"


def test_evaluate_numbers_do_not_depend_on_the_worker_processes_or_the_memo(trained, evaluated, tmp_path):
    """Two one-thread workers sharing a split's conditions and context between runs (evaluate.memo_mb, the
    default) against one worker computing them in every run: the same files, byte for byte."""
    one = write_params(tmp_path / "p1.yaml", {"compute.threads": 1, "evaluate.memo_mb": 0},
                       base=trained / "params.yaml")
    evaluate.main(_eval_args(trained, tmp_path / "ev1", **{"--params": one}))
    assert read_json(evaluated / "report.json")["compute"]["workers"] == 2
    assert read_json(tmp_path / "ev1/report.json")["compute"]["workers"] == 1
    for name in ("summary.csv", "runs.csv", "metrics.json"):
        assert (evaluated / name).read_text() == (tmp_path / "ev1" / name).read_text(), name


def test_evaluate_rows_table_and_plots(evaluated):
    out = evaluated
    s = pd.read_csv(out / "summary.csv")
    assert {"model", "no_speech", "no_style", "no_speech+style", "nfe_1", "nfe_2"} == set(s["control"])
    assert set(s[s["control"] == "model"]["split"]) == {"val", "test"}
    assert set(s[s["control"] == "nfe_1"]["split"]) == {"val"}            # the sweep on sweep_splits only
    fgd = s[(s["control"] == "model") & (s["metric"] == "fgd_corrected") & (s["split"] == "val")].iloc[0]
    assert fgd["n"] == 2 and np.isfinite(fgd["mean"])
    # the default sampler (2 steps) is the sweep's nfe_2: the same motion, so the same values
    pick = lambda c: s[(s["control"] == c) & (s["split"] == "val")].set_index("metric")["mean"]
    assert pick("model")["fgd_corrected"] == pick("nfe_2")["fgd_corrected"]
    m = read_json(out / "metrics.json")
    assert set(m) == {"val", "test", "device"} and set(m["val"]) == {"fgd", "beat"}
    assert np.isfinite(m["val"]["fgd"]["gen"])
    r = read_json(out / "report.json")
    assert set(r["table"]) == {"model", "no_speech", "no_style", "no_speech+style", "nfe_1", "nfe_2"}
    assert r["rows"]["no_speech+style"]["dropped"] == ["speech", "style"]
    # nfe_1 is sampled on its own, with 1 step (the tiny model's rows differ only in the 7th digit, below
    # summary.csv's rounding, so its values cannot show it)
    assert r["rows"]["nfe_1"]["sampler"]["steps"] == 1 and r["rows"]["nfe_2"]["nfe"] == 2
    assert r["table"]["nfe_2"]["fgd"] == r["table"]["model"]["fgd"]
    assert r["rows"]["nfe_1"]["nfe"] == 1 and r["rows"]["model"]["nfe"] == 2
    assert r["rtf_batched_median"]["val/model"] > 0
    for png in ("nfe.png", "rows.png"):
        assert (out / png).stat().st_size > 10_000


def test_evaluate_refuses_a_model_of_another_part(trained, tmp_path):
    swapped = tmp_path / "d"
    shutil.copytree(trained / "d-hand/model", swapped / "d-body/model")
    shutil.copytree(trained / "d-hand/model", swapped / "d-hand/model")
    with pytest.raises(evaluate.EvaluateError, match="trained for part 'hand', not 'body'"):
        evaluate.main(_eval_args(trained, tmp_path / "ev", **{"--diffusion": swapped / "d-{part}/model"}))
    with pytest.raises(evaluate.EvaluateError, match=r"needs a \{part\} placeholder"):
        evaluate.main(_eval_args(trained, tmp_path / "ev", **{"--diffusion": trained / "d-body/model"}))
    assert not (tmp_path / "ev").exists()


def test_a_joined_ablation_is_checked_against_the_row_without_its_last_condition():
    """no_speech+style is compared with no_speech on the style's target (speaker accuracy): what the style adds once
    the voice, which also tells the speaker, is nulled; a single condition is compared with the model."""
    from gesturegen.config import EvaluateBaselinesParams, EvaluateParams

    def cell(control, mean, ci):
        return {"split": "val", "control": control, "metric": "speaker_acc", "mean": mean, "ci95": ci}
    summary = [cell("model", 0.90, 0.02), cell("no_style", 0.88, 0.02), cell("no_speech", 0.80, 0.02),
               cell("no_speech+style", 0.60, 0.02)]
    p = EvaluateParams(ablations=("style", "speech+style"))
    abl = evaluate._checks(summary, p, EvaluateBaselinesParams(splits=("val",)))["val/ablations"]
    assert abl["no_style/speaker_acc"] == {"against": "model", "full": 0.90, "nulled": 0.88, "separated": False}
    assert abl["no_speech+style/speaker_acc"] == {"against": "no_speech", "full": 0.80, "nulled": 0.60,
                                                  "separated": True}


def test_the_few_step_rows_are_checked_against_the_largest_nfe():
    """report.json's checks say whether each sweep row at 10 network evaluations or fewer has its FGD and KID mean
    inside the 95 % CI of the sweep's largest NFE (the issue's 100-step sampler); rows above 10 are not checked."""
    from gesturegen.config import EvaluateBaselinesParams, EvaluateParams

    def cell(control, metric, mean, ci):
        return {"split": "val", "control": control, "metric": metric, "mean": mean, "ci95": ci}
    summary = [cell("nfe_100", "fgd_corrected", 5.0, 0.4), cell("nfe_100", "kid_corrected", 0.05, 0.01),
               cell("nfe_2", "fgd_corrected", 5.3, 0.5), cell("nfe_2", "kid_corrected", 0.07, 0.01),
               cell("nfe_10", "fgd_corrected", 4.5, 0.2), cell("nfe_10", "kid_corrected", 0.05, 0.01),
               cell("nfe_25", "fgd_corrected", 9.0, 0.2), cell("nfe_25", "kid_corrected", 0.05, 0.01)]
    few = evaluate._checks(summary, EvaluateParams(ablations=()), EvaluateBaselinesParams(splits=("val",)))
    few = few["val/few_step"]
    assert few["reference"] == "nfe_100"
    assert few["nfe_2/fgd_corrected"] == {"mean": 5.3, "reference": 5.0, "reference_ci95": 0.4, "within_ci": True}
    assert few["nfe_2/kid_corrected"]["within_ci"] is False            # 0.02 above, CI 0.01
    assert few["nfe_10/fgd_corrected"]["within_ci"] is False           # 0.5 below, CI 0.4: outside either way
    assert not any(k.startswith("nfe_25") for k in few)
