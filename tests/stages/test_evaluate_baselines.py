import numpy as np
import pandas as pd
import pytest
import torch

from gesturegen.evaluation import summarize
from gesturegen.io import read_json
from gesturegen.models.fgd_encoder import MotionAE, MotionAEConfig, save_encoder
from stages import build_windows, evaluate_baselines


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    from tests.conftest import write_params, write_synthetic_dataset
    tmp = tmp_path_factory.mktemp("eval")
    raw = write_synthetic_dataset(tmp / "raw", videos={"train": 4, "val": 2, "test": 2})
    params = write_params(tmp / "params.yaml", {"evaluate_baselines.seeds": [0, 1],
                                                "evaluate_baselines.diversity_permutations": 10,
                                                "evaluate_baselines.faithful_batch_size": {"demo": 8}})
    build_windows.main(["--params", str(params), "--dataset", "demo", "--raw", str(raw), "--out-dir", str(tmp / "w")])
    torch.manual_seed(0)
    save_encoder(MotionAE(MotionAEConfig(pose_dim=126)).eval(), tmp / "encoder")
    args = ["--params", str(params), "--dataset", "demo", "--windows", str(tmp / "w/windows"),
            "--encoder", str(tmp / "encoder")]
    evaluate_baselines.main(args + ["--out-dir", str(tmp / "a")])
    evaluate_baselines.main(args + ["--out-dir", str(tmp / "b")])
    return tmp


def _table(evaluated, out="a"):
    """summary.csv as {split: {control: {metric: {mean, ci95, n}}}}."""
    t: dict = {}
    for r in pd.read_csv(evaluated / out / "summary.csv").to_dict("records"):
        t.setdefault(r["split"], {}).setdefault(r["control"], {})[r["metric"]] = r
    return t


def test_outputs_and_structure(evaluated):
    report = read_json(evaluated / "a/report.json")
    assert report["faithful_batch_size"] == 8 and report["seeds"] == [0, 1]
    assert report["n_windows"] == {"val": 24, "test": 24} and report["compute"]["device"] == "cpu"
    m = _table(evaluated)
    for split in ("val", "test"):
        for control in ("ground_truth", "mean_pose", "random_window", "seed_still"):
            for key in ("fgd_faithful", "fgd_corrected", "feature_distance", "diversity_faithful",
                        "diversity_corrected", "bc_faithful", "bc_corrected", "joint_mae", "accel_diff",
                        "bc_corrected_skipped_no_motion_beat"):
                assert {"mean", "ci95", "n", "n_windows"} <= set(m[split][control][key]), (split, control, key)
                assert m[split][control][key]["n_windows"] == 24
    assert len(report["summary"]) == len(pd.read_csv(evaluated / "a/summary.csv"))
    # the headline: a handful of numbers, each equal to its cell of the full table
    head = read_json(evaluated / "a/metrics.json")
    assert set(head) == {"val", "test", "device"}
    for split in ("val", "test"):
        assert set(head[split]) == {"fgd", "bc"} and set(head[split]["fgd"]) == {"gt", "rand"}
        assert head[split]["fgd"]["rand"] == pytest.approx(m[split]["random_window"]["fgd_corrected"]["mean"])
        assert head[split]["bc"] == {"gt": pytest.approx(m[split]["ground_truth"]["bc_corrected"]["mean"])}
    runs = pd.read_csv(evaluated / "a/runs.csv")
    assert len(runs) == 2 * 2 * 4
    consts = read_json(evaluated / "a/beat_constants.json")
    assert len(consts["corrected"]) == 41 and all(c > 0 for c in consts["corrected"])
    assert consts["faithful_source"].startswith("published")
    assert (evaluated / "a/controls.png").stat().st_size > 10_000


def test_controls_behave_as_expected(evaluated):
    m = _table(evaluated)["val"]
    # deterministic controls do not vary with the seed
    assert m["mean_pose"]["fgd_corrected"]["ci95"] == 0 and m["seed_still"]["joint_mae"]["ci95"] == 0
    # motion that stops after the seed frames is less diverse and has fewer beats than the real motion
    assert m["mean_pose"]["diversity_corrected"]["mean"] < m["ground_truth"]["diversity_corrected"]["mean"]
    assert m["seed_still"]["accel_diff"]["mean"] > 0
    assert m["mean_pose"]["fgd_corrected"]["mean"] > m["random_window"]["fgd_corrected"]["mean"]


def test_summary_skips_nan_runs():
    s = summarize(np.array([0.5, np.nan, 0.7]))
    assert s["n"] == 2 and s["mean"] == 0.6 and s["ci95"] > 0
    assert summarize(np.array([np.nan])) == {"mean": None, "ci95": None, "n": 0}


def test_same_seed_same_numbers(evaluated):
    for name in ("metrics.json", "summary.csv", "report.json"):
        assert (evaluated / "a" / name).read_text() == (evaluated / "b" / name).read_text()
    np.testing.assert_array_equal(pd.read_csv(evaluated / "a/runs.csv").select_dtypes("number").to_numpy(),
                                  pd.read_csv(evaluated / "b/runs.csv").select_dtypes("number").to_numpy())
