"""The train_sync_evaluator stage on a synthetic world whose speech predicts its motion's timing, and its scorer."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from gesturegen.evaluators import open_sync_scorer
from gesturegen.io import read_json
from gesturegen.models.sync_evaluator import EvaluatorMismatchError, load_sync_evaluator
from stages import train_sync_evaluator
from tests.conftest import write_params
from tests.evaluator_world import make_split, write_features, write_world

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return write_world(tmp_path_factory.mktemp("world"), annotations=False)


def _run(tmp_path, world, out="out", changes=None):
    windows, features = world
    params = write_params(tmp_path / f"{out}.yaml", {"train_sync_evaluator.epochs": 6, **(changes or {})})
    train_sync_evaluator.main(["--params", str(params), "--dataset", "demo", "--windows", str(windows),
                               "--features", str(features), "--out-dir", str(tmp_path / out)])
    return tmp_path / out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, world):
    return _run(tmp_path_factory.mktemp("sync"), world)


def test_learns_the_pairing_and_writes_its_outputs(trained):
    head, rep = read_json(trained / "metrics.json"), read_json(trained / "report.json")
    assert set(head) == {"rprec3", "device"} and head["device"] == "cpu"
    val = rep["val"]
    assert val["pool"] == 32 and val["chance"]["top3"] == pytest.approx(3 / 32)
    assert val["true"]["top3"] > 3 * 3 / 32                                  # the true pairing: far above chance
    assert val["shuffled"]["top3"] < 2 * 3 / 32                              # a shuffled one: about chance
    assert val["true"]["mm_dist"] < val["shuffled"]["mm_dist"]
    assert head["rprec3"] == round(val["true"]["top3"], 4)
    assert rep["n_train"] == 240 and rep["n_val"] == 48 and rep["val_videos"] == 4 and 1 <= rep["best_epoch"] <= 6
    with open(trained / "loss.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == [str(i) for i in range(1, 7)] and all(r["val_top3"] for r in rows)
    assert max(float(r["val_top3"]) for r in rows) == pytest.approx(float(rows[rep["best_epoch"] - 1]["val_top3"]))
    info = json.loads((trained / "evaluator" / "config.json").read_text())
    assert info["dataset"] == "demo" and info["features"]["audio_dim"] == 8 and info["features"]["use_text"]
    assert len(json.dumps(head)) < 300


def test_same_seed_same_bytes(tmp_path, world, trained):
    again = _run(tmp_path, world, "again")
    for name in ("evaluator/model.safetensors", "loss.csv", "metrics.json"):
        assert (again / name).read_bytes() == (trained / name).read_bytes(), name


def test_scorer_ranks_ground_truth_above_the_controls(trained, world):
    from gesturegen.data.windowstore import open_split

    windows, features = world
    scorer = open_sync_scorer(trained / "evaluator", features, windows, ["val", "test"], dataset="demo")
    test = open_split(windows / "test")
    train = open_split(windows / "train")
    rows = np.arange(len(test))
    rng = np.random.default_rng(0)
    gt = scorer("test", np.asarray(test.dir_vec), rows, rng)
    rand = scorer("test", np.asarray(train.dir_vec)[rng.integers(0, len(train), len(test))], rows, rng)
    still = scorer("test", np.zeros_like(np.asarray(test.dir_vec)), rows, rng)
    assert set(gt) == {"rprec_top1", "rprec_top2", "rprec_top3", "mm_dist"}
    assert gt["rprec_top3"] > 3 * 3 / 32 and rand["rprec_top3"] < 2 * 3 / 32
    assert still["rprec_top3"] == pytest.approx(3 / 32)          # one motion for every window: exactly chance
    seeds = np.zeros_like(np.asarray(test.dir_vec))
    seeds[:, :4] = test.dir_vec[:, :4]                            # the real seed frames carry no credit
    assert scorer("test", seeds, rows, rng)["rprec_top3"] == pytest.approx(3 / 32)
    assert gt["mm_dist"] < rand["mm_dist"]
    # rows may repeat and come in any order: each gen row is scored against the speech of its own window
    sub = np.r_[rows[::-1], rows[:8]]
    again = scorer("test", np.asarray(test.dir_vec)[sub], sub, np.random.default_rng(1))
    assert again["rprec_top3"] > 3 * 3 / 32


def test_refuses_another_dataset_or_other_features(trained, world, tmp_path):
    windows, features = world
    with pytest.raises(EvaluatorMismatchError, match=r"trained on dataset 'demo', not 'ted_expressive'.*"
                                                     r"train_sync_evaluator"):
        load_sync_evaluator(trained / "evaluator", dataset="ted_expressive")
    other = tmp_path / "features"
    shutil.copytree(features, other)
    shutil.rmtree(other / "val")
    data = make_split(np.random.default_rng(5), 4, 12)
    write_features(other / "val", data, "val", audio_name="data2vec")
    with pytest.raises(EvaluatorMismatchError, match=r"audio_encoder 'default' \(evaluator\) vs 'data2vec' "
                                                     r"\(features\).*re-run train_sync_evaluator"):
        open_sync_scorer(trained / "evaluator", other, windows, ["val"])
    with pytest.raises(ValueError, match=r"expects motion .* \(B, 34, 126\)"):
        open_sync_scorer(trained / "evaluator", features, windows, ["val"])("val", np.zeros((3, 34, 10)),
                                                                            np.arange(3), np.random.default_rng())


def test_val_of_one_video_keeps_the_last_epoch(tmp_path):
    windows, features = write_world(tmp_path / "w", sizes={"train": (4, 10), "val": (1, 6)}, annotations=False)
    out = _run(tmp_path, (windows, features), changes={"train_sync_evaluator.epochs": 2})
    rep = read_json(out / "report.json")
    assert rep["best_epoch"] == 2 and rep["val"]["true"] is None and "1 video" in rep["val"]["note"]
    assert read_json(out / "metrics.json")["rprec3"] is None


def test_one_train_video_is_a_clear_error(tmp_path):
    windows, features = write_world(tmp_path / "w", sizes={"train": (1, 10), "val": (2, 6)}, annotations=False)
    with pytest.raises(train_sync_evaluator.TrainSyncEvaluatorError, match="at least 2 videos"):
        _run(tmp_path, (windows, features))
    assert not (tmp_path / "out").exists()
