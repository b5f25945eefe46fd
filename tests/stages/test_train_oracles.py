"""The train_oracles stage: with annotations (a synthetic world whose labels and speakers are recoverable from the
motion) and without (the tiny demo preset with its annotations removed, as a real dataset has none)."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from gesturegen.data.annotations import load_window_annotations
from gesturegen.data.windowstore import open_split
from gesturegen.evaluators import open_oracle_scorer
from gesturegen.io import read_json
from gesturegen.models.oracles import event_crops, load_oracles
from gesturegen.models.sync_evaluator import EvaluatorMismatchError
from stages import build_windows, make_demo_data, train_oracles
from tests.conftest import ROOT, write_params
from tests.evaluator_world import LABELS, write_world

TINY = ROOT / "tests" / "tiny" / "params.yaml"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(tmp_path, windows, out="out", epochs=6):
    params = write_params(tmp_path / f"{out}.yaml", {"train_oracles.epochs": epochs})
    train_oracles.main(["--params", str(params), "--dataset", "demo", "--windows", str(windows),
                        "--out-dir", str(tmp_path / out)])
    return tmp_path / out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return write_world(tmp_path_factory.mktemp("world"))[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, world):
    return _run(tmp_path_factory.mktemp("oracles"), world)


def test_event_crops_skip_events_mostly_outside_and_stay_inside_the_window(world):
    ann = load_window_annotations(world / "train")
    c = event_crops(ann, LABELS, 34, 15, 16, 0.5)
    ev = ann.events
    inside = (np.minimum(ev.end_s, 34 / 15) - np.maximum(ev.start_s, 0)).clip(0) / (ev.end_s - ev.start_s)
    assert c.skipped_outside == int((inside < 0.5).sum()) > 0 and len(c.label) == int((inside >= 0.5).sum())
    assert c.start.min() >= 0 and c.start.max() <= 34 - 16
    assert sum(c.counts.values()) == len(c.label)
    crops = c.take(open_split(world / "train").dir_vec)
    assert crops.shape == (len(c.label), 16, 126)
    after_seed = event_crops(ann, LABELS, 34, 15, 16, 0.5, skip=4)     # the seed frames are no evidence
    assert after_seed.start.min() >= 4 and after_seed.skipped_outside >= c.skipped_outside


def test_trains_both_oracles_and_reports_them(trained):
    head, rep = read_json(trained / "metrics.json"), read_json(trained / "report.json")
    assert head == {"device": "cpu"}
    assert rep["available"] and rep["labels"] == list(LABELS) and rep["speakers"] == ["spk0", "spk1", "spk2"]
    lex, spk = rep["lexical"], rep["speaker"]
    assert lex["val_acc"] > 0.8 and lex["val_acc"] > lex["chance_majority"] + 0.1
    assert spk["val_acc"] > 0.8 and spk["val_unseen_speaker"] == 0
    assert lex["skipped_outside"]["train"] > 0 and lex["train_events"] == sum(lex["train_counts"].values())
    with open(trained / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["oracle"] for r in rows} == {"lexical", "speaker"} and len(rows) == 12
    oracles = load_oracles(trained / "oracles", dataset="demo")
    assert oracles.available and oracles.lexical is not None and oracles.speaker is not None


def test_scorer_ground_truth_is_the_ceiling_and_controls_the_floor(trained, world):
    scorer = open_oracle_scorer(trained / "oracles", world, ["val", "test"], dataset="demo")
    assert scorer.skipped is None
    test, train = open_split(world / "test"), open_split(world / "train")
    rows = np.arange(len(test))
    rng = np.random.default_rng(0)
    gt = scorer("test", np.asarray(test.dir_vec), rows, rng)
    rand = scorer("test", np.asarray(train.dir_vec)[rng.integers(0, len(train), len(test))], rows, rng)
    mean = scorer("test", np.zeros_like(np.asarray(test.dir_vec)), rows, rng)
    assert set(gt) == {"lexical_acc", "speaker_acc"}
    assert gt["lexical_acc"] > 0.8 and gt["speaker_acc"] > 0.8
    for control in (rand, mean):
        assert control["lexical_acc"] < gt["lexical_acc"] - 0.3 and control["speaker_acc"] < 0.7
    # a subset, repeated rows: each gen row is judged by the events of its own window, at the same frames
    sub = np.r_[rows[5:20], rows[5:10]]
    part = scorer("test", np.asarray(test.dir_vec)[sub], sub, rng)
    assert part["lexical_acc"] > 0.8
    # the same numbers from their definition: every event of each query row's window, cropped from that row's motion
    crops, motion = scorer.crops["test"], np.asarray(test.dir_vec, np.float32)
    events = [e for w in sub for e in np.flatnonzero(crops.window == w)]
    x = np.stack([motion[crops.window[e], crops.start[e]:crops.start[e] + crops.crop_frames] for e in events])
    assert part["lexical_acc"] == float((scorer.oracles.lexical.predict(x) == crops.label[events]).mean())
    want = scorer.speaker["test"][sub]
    pred = scorer.oracles.speaker.predict(motion[sub][want >= 0])
    assert part["speaker_acc"] == float((pred == want[want >= 0]).mean())


def test_refuses_oracles_of_another_dataset(trained, world):
    with pytest.raises(EvaluatorMismatchError, match="trained on dataset 'demo', not 'aqgt'.*train_oracles"):
        open_oracle_scorer(trained / "oracles", world, ["val"], dataset="aqgt")


def test_annotations_in_one_split_only_is_an_error(tmp_path, world):
    w = tmp_path / "windows"
    shutil.copytree(world, w)
    shutil.rmtree(w / "val" / "annotations")
    with pytest.raises(train_oracles.TrainOraclesError, match=r"val/annotations does not.*every split or in none"):
        _run(tmp_path, w)


def test_unknown_label_names_the_file(tmp_path, world, trained):
    w = tmp_path / "windows"
    shutil.copytree(world, w)
    ev = pd.read_csv(w / "test" / "annotations" / "events.csv")
    ev.loc[0, "label"] = "wave"
    ev.to_csv(w / "test" / "annotations" / "events.csv", index=False)
    with pytest.raises(ValueError, match=r"split 'test'.*\['wave'\].*re-run train_oracles"):
        open_oracle_scorer(trained / "oracles", w, ["test"])


@pytest.fixture(scope="module")
def tiny_windows(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    make_demo_data.main(["--params", str(TINY), "--out", str(root / "data"), "--report-dir", str(root / "report")])
    build_windows.main(["--params", str(TINY), "--dataset", "demo", "--raw", str(root / "data"),
                        "--out-dir", str(root / "bw")])
    windows = root / "bw" / "windows"
    for split in ("train", "val", "test"):   # as a dataset without annotations (TED Expressive, AQGT) has them
        shutil.rmtree(windows / split / "annotations")
    return windows


def test_tiny_preset_without_annotations_succeeds_and_says_so(tiny_windows, tmp_path):
    train_oracles.main(["--params", str(TINY), "--dataset", "demo", "--windows", str(tiny_windows),
                        "--out-dir", str(tmp_path / "out")])
    assert read_json(tmp_path / "out" / "metrics.json") == {"available": False, "device": "cpu"}
    rep = read_json(tmp_path / "out" / "report.json")
    assert rep["available"] is False and "no annotations" in rep["reason"]
    assert sorted(p.name for p in (tmp_path / "out" / "oracles").iterdir()) == ["config.json"]
    assert (tmp_path / "out" / "history.csv").read_text().strip() == "oracle,epoch,train_loss,train_acc,val_loss,val_acc"
    scorer = open_oracle_scorer(tmp_path / "out" / "oracles", tiny_windows, ["val", "test"], dataset="demo")
    assert scorer.skipped.startswith("skipped:") and "no annotations" in scorer.skipped
    val = open_split(tiny_windows / "val")
    assert scorer("val", np.asarray(val.dir_vec), np.arange(len(val)), np.random.default_rng(0)) == {}
