import numpy as np
import pandas as pd
import pytest
import torch

from gesturegen.io import read_json
from gesturegen.models.fgd_encoder import MotionAE, MotionAEConfig, save_encoder
from gesturegen.summary import summarize
from stages import build_windows, evaluate_baselines


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    from tests.conftest import write_params, write_synthetic_dataset
    tmp = tmp_path_factory.mktemp("eval")
    raw = write_synthetic_dataset(tmp / "raw", videos={"train": 4, "val": 2, "test": 2})
    params = write_params(tmp / "params.yaml", {"evaluate_baselines.seeds": [0, 1],
                                                "evaluate_baselines.diversity_permutations": 10,
                                                "evaluate_baselines.faithful_batch_size": {"demo": 8},
                                                "evaluate_baselines.min_half_windows": 8,
                                                "evaluate_baselines.n_partitions": 3})
    build_windows.main(["--params", str(params), "--dataset", "demo", "--raw", str(raw), "--out-dir", str(tmp / "w")])
    torch.manual_seed(0)
    save_encoder(MotionAE(MotionAEConfig(pose_dim=126)).eval(), tmp / "encoder")
    args = ["--params", str(params), "--dataset", "demo", "--windows", str(tmp / "w/windows"),
            "--encoder", str(tmp / "encoder")]
    evaluate_baselines.main(args + ["--out-dir", str(tmp / "a")])       # compute.threads 2: a worker per split
    one = write_params(tmp / "params1.yaml", {"compute.threads": 1}, base=params)
    evaluate_baselines.main(["--params", str(one)] + args[2:] + ["--out-dir", str(tmp / "b")])   # in this process
    return tmp


def _table(evaluated, out="a"):
    """summary.csv as {split: {control: {metric: {mean, ci95, n}}}}."""
    t: dict = {}
    for r in pd.read_csv(evaluated / out / "summary.csv").to_dict("records"):
        t.setdefault(r["split"], {}).setdefault(r["control"], {})[r["metric"]] = r
    return t


def test_outputs_and_structure(evaluated):
    report = read_json(evaluated / "a/report.json")
    assert report["faithful_batch_size"] == 8 and report["seeds"] == [0, 1] and report["n_partitions"] == 3
    assert report["n_windows"] == {"val": 24, "test": 24} and report["compute"]["device"] == "cpu"
    assert report["n_videos"] == {"val": 2, "test": 2}
    assert report["extractor"] == {"source": "trained", "arch": "motion_ae", "recentred": False,
                                   "normalization": "train"}
    m = _table(evaluated)
    for split in ("val", "test"):
        for control in ("ground_truth", "mean_pose", "random_window", "seed_still"):
            for key in ("fgd_corrected", "kid_corrected", "kid_se", "diversity_faithful", "diversity_corrected",
                        "bc_faithful", "bc_corrected", "bcgap", "bc_shuffled", "bc_corrected_skipped_no_motion_beat"):
                cell = m[split][control][key]
                assert {"mean", "ci95", "n", "n_windows", "applicable", "note"} <= set(cell), (split, control, key)
                assert cell["applicable"]
            # corrected: every row on a 12-window query half against the other video's 12 windows, 2 x 3 runs
            assert m[split][control]["fgd_corrected"]["n_windows"] == 12
            assert m[split][control]["fgd_corrected"]["n_reference"] == 12
            assert m[split][control]["fgd_corrected"]["n"] == 2 and m[split][control]["fgd_corrected"]["n_runs"] == 6 and m[split][control]["fgd_corrected"]["small_n"]
            assert "d = 128; n < 10 d" in m[split][control]["fgd_corrected"]["note"]
            assert m[split][control]["bc_faithful"]["n_windows"] == 24 and m[split][control]["bc_faithful"]["n"] == 2
            # the synthetic dataset has no annotations: the oracle metrics say so, and are the only gap
            for key in ("beat_f1", "beat_precision", "beat_recall"):
                assert not m[split][control][key]["applicable"]
                assert m[split][control][key]["note"] == "skipped: no annotations for this dataset"
        for key in ("joint_mae", "feature_distance", "accel_diff", "fgd_faithful"):
            gt = m[split]["ground_truth"][key]
            assert not gt["applicable"] and pd.isna(gt["mean"]) and gt["note"].startswith("not applicable")
            assert m[split]["random_window"][key]["applicable"] and m[split]["random_window"][key]["mean"] > 0
    assert report["oracle"] == {"val": "skipped: no annotations for this dataset",
                                "test": "skipped: no annotations for this dataset"}
    assert len(report["summary"]) == len(pd.read_csv(evaluated / "a/summary.csv"))
    # the headline: a handful of numbers, each equal to its cell of the full table
    head = read_json(evaluated / "a/metrics.json")
    assert set(head) == {"val", "test", "device"}
    for split in ("val", "test"):
        assert set(head[split]) == {"fgd", "bc"} and set(head[split]["fgd"]) == {"gt", "rand"}
        assert head[split]["fgd"]["rand"] == pytest.approx(m[split]["random_window"]["fgd_corrected"]["mean"])
        assert head[split]["fgd"]["gt"] == pytest.approx(m[split]["ground_truth"]["fgd_corrected"]["mean"])
        assert head[split]["bc"] == {"gt": pytest.approx(m[split]["ground_truth"]["bc_corrected"]["mean"])}
    runs = pd.read_csv(evaluated / "a/runs.csv")
    assert len(runs) == 2 * 2 * 4 * (1 + 3)                   # splits x seeds x controls x (whole split + partitions)
    consts = read_json(evaluated / "a/beat_constants.json")
    assert len(consts["corrected"]) == 41 and all(c > 0 for c in consts["corrected"])
    # the demo shares TED Expressive's skeleton but not its published constants (metrics.md §2.8)
    assert consts["faithful_source"] == "this dataset's train split" and consts["dataset"] == "demo"
    assert (evaluated / "a/controls.png").stat().st_size > 10_000


def test_controls_behave_as_expected(evaluated):
    m = _table(evaluated)["val"]
    # deterministic controls do not vary with the seed (faithful: the whole split, no partitions)
    assert m["mean_pose"]["fgd_faithful"]["ci95"] == 0 and m["seed_still"]["bc_faithful"]["ci95"] == 0
    # motion that stops after the seed frames is less diverse and has fewer beats than the real motion
    assert m["mean_pose"]["diversity_corrected"]["mean"] < m["ground_truth"]["diversity_corrected"]["mean"]
    assert m["seed_still"]["accel_diff"]["mean"] > 0
    assert m["mean_pose"]["fgd_faithful"]["mean"] > m["random_window"]["fgd_faithful"]["mean"]


def test_summary_skips_nan_runs():
    s = summarize(np.array([0.5, np.nan, 0.7]))
    assert s["n"] == 2 and s["mean"] == 0.6 and s["ci95"] > 0
    assert summarize(np.array([np.nan])) == {"mean": None, "ci95": None, "n": 0}


def test_same_numbers_from_worker_processes_and_from_one_process(evaluated):
    """Run a scored each split in a worker process of one thread, run b everything in this process on one thread:
    the same numbers, in the same order."""
    ra, rb = read_json(evaluated / "a/report.json"), read_json(evaluated / "b/report.json")
    assert (ra["compute"]["workers"], rb["compute"]["workers"]) == (2, 1)
    assert {k: v for k, v in ra.items() if k != "compute"} == {k: v for k, v in rb.items() if k != "compute"}
    for name in ("metrics.json", "summary.csv"):
        assert (evaluated / "a" / name).read_text() == (evaluated / "b" / name).read_text()
    np.testing.assert_array_equal(pd.read_csv(evaluated / "a/runs.csv").select_dtypes("number").to_numpy(),
                                  pd.read_csv(evaluated / "b/runs.csv").select_dtypes("number").to_numpy())


def _small_params(tmp, **changes):
    from tests.conftest import write_params
    return write_params(tmp / "params.yaml", {"evaluate_baselines.seeds": [0], "evaluate_baselines.n_partitions": 2,
                                              "evaluate_baselines.diversity_permutations": 5,
                                              "evaluate_baselines.faithful_batch_size": {"demo": 8},
                                              "evaluate_baselines.min_half_windows": 8,
                                              **{f"evaluate_baselines.{k}": v for k, v in changes.items()}})


def test_annotations_enable_the_oracle_only_where_present(evaluated, tmp_path):
    """Annotated val (strokes at every 5th frame), unannotated test: beat F1 on val, skipped on test; the other
    metrics of test are those of a run without any annotations."""
    import shutil

    from gesturegen.data.annotations import write_window_annotations
    shutil.copytree(evaluated / "w/windows", tmp_path / "windows")
    write_window_annotations(tmp_path / "windows/val", 24, [(w, k / 15) for w in range(24) for k in (8, 16, 24)],
                             [], ["spk0"] * 24, [])
    args = ["--params", str(_small_params(tmp_path)), "--dataset", "demo", "--encoder", str(evaluated / "encoder")]
    evaluate_baselines.main(args + ["--windows", str(tmp_path / "windows"), "--out-dir", str(tmp_path / "ann")])
    evaluate_baselines.main(args + ["--windows", str(evaluated / "w/windows"), "--out-dir", str(tmp_path / "none")])
    ann, none = (pd.read_csv(tmp_path / d / "summary.csv") for d in ("ann", "none"))
    f1 = ann[(ann.metric == "beat_f1") & (ann.control == "ground_truth")].set_index("split")
    assert f1.loc["val", "applicable"] and 0 <= f1.loc["val", "mean"] <= 1
    assert not f1.loc["test", "applicable"] and f1.loc["test", "note"] == "skipped: no annotations for this dataset"
    assert read_json(tmp_path / "ann/report.json")["oracle"]["val"].startswith("beat F1")
    pd.testing.assert_frame_equal(ann[ann.split == "test"].reset_index(drop=True),
                                  none[none.split == "test"].reset_index(drop=True))


def test_split_too_small_is_an_error_naming_split_and_fix(evaluated, tmp_path):
    args = ["--params", str(_small_params(tmp_path, min_half_windows=13)), "--dataset", "demo",
            "--windows", str(evaluated / "w/windows"), "--encoder", str(evaluated / "encoder"),
            "--out-dir", str(tmp_path / "out")]
    with pytest.raises(evaluate_baselines.EvaluateBaselinesError,
                       match=r"split 'val': 2 videos, 24 windows \(val_video0 \(12\), val_video1 \(12\)\).*"
                             r"under the minimum of 13.*evaluate_baselines.min_half_windows"):
        evaluate_baselines.main(args)
    assert not (tmp_path / "out/metrics.json").exists()


def test_video_shared_with_train_is_an_error_naming_it(evaluated, tmp_path):
    from gesturegen.data.rawformat import write_store
    from tests.conftest import synthetic_clip, write_params
    rng = np.random.default_rng(3)
    split_vids = {"train": ["a", "b", "c"], "val": ["c", "d"], "test": ["e", "f"]}
    for split, vids in split_vids.items():
        write_store(tmp_path / "raw" / split, [{"vid": v, "framerate": 25.0,
                                                 "clips": [synthetic_clip(rng, 1.0, 6.0)]} for v in vids],
                    {"dataset": "synthetic"})
    params = _small_params(tmp_path, min_half_windows=2)
    write_params(params, {"build_windows.allow_shared_videos": True}, base=params)
    build_windows.main(["--params", str(params), "--dataset", "demo", "--raw", str(tmp_path / "raw"),
                        "--out-dir", str(tmp_path / "w")])
    with pytest.raises(evaluate_baselines.EvaluateBaselinesError,
                       match=r"split 'val' shares 1 video\(s\) with train \(c\)"):
        evaluate_baselines.main(["--params", str(params), "--dataset", "demo", "--windows",
                                 str(tmp_path / "w/windows"), "--encoder", str(evaluated / "encoder"),
                                 "--out-dir", str(tmp_path / "out")])
