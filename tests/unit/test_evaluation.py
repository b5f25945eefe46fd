import numpy as np
import pytest

from gesturegen.evaluation import (
    CONTROLS,
    EvalSettings,
    EvalSplit,
    EvaluationError,
    beat_constants,
    check_disjoint_videos,
    cross_video_derangement,
    faithful_batches,
    make_control,
    run_controls,
    video_partitions,
)
from gesturegen.summary import summary_rows


@pytest.fixture
def target():
    return np.random.default_rng(0).standard_normal((10, 34, 126)).astype(np.float32)


@pytest.mark.parametrize("name", CONTROLS)
def test_controls_keep_the_seed_frames(name, target):
    train = np.random.default_rng(1).standard_normal((50, 34, 126)).astype(np.float32)
    out = make_control(name, target, train, np.random.default_rng(2))
    assert out.shape == target.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :4], target[:, :4])


def test_control_definitions(target):
    train = np.random.default_rng(1).standard_normal((50, 34, 126)).astype(np.float32)
    rng = np.random.default_rng(2)
    np.testing.assert_array_equal(make_control("mean_pose", target, train, rng)[:, 4:], 0)
    still = make_control("seed_still", target, train, rng)
    np.testing.assert_array_equal(still[:, 4:], np.repeat(target[:, 3:4], 30, axis=1))
    rnd = make_control("random_window", target, train, rng)
    rows = {r.tobytes() for r in train[:, 4:]}
    assert all(w[4:].tobytes() in rows for w in rnd)
    a = make_control("random_window", target, train, np.random.default_rng(5))
    b = make_control("random_window", target, train, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown control"):
        make_control("nope", target, train, rng)


def test_faithful_batches_drop_last():
    assert faithful_batches(300, 128) == 256 and faithful_batches(98, 128) == 98 and faithful_batches(128, 128) == 128


# --- protocol v2 ------------------------------------------------------------------------------------------------

def _videos(counts):
    return np.repeat([f"v{i}" for i in range(len(counts))], counts)


def test_partitions_are_video_disjoint_balanced_and_seeded():
    videos = _videos([30, 10, 25, 40, 15, 20, 35, 5])
    parts = video_partitions(videos, 6, 20, np.random.default_rng(0))
    assert len(parts) == 6
    for ref, query in parts:
        assert np.intersect1d(videos[ref], videos[query]).size == 0
        assert np.array_equal(np.sort(np.concatenate([ref, query])), np.arange(videos.size))
        assert abs(ref.size - query.size) <= 40                             # at most the largest video apart
    assert len({tuple(q) for _, q in parts}) > 1                            # different partitions
    again = video_partitions(videos, 6, 20, np.random.default_rng(0))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(parts, again))


def test_a_split_too_small_for_two_halves_is_an_error_naming_it():
    with pytest.raises(EvaluationError, match=r"split 'val' has 1 video\(s\) \(v0 \(12\); 12 windows\)"):
        video_partitions(_videos([12]), 5, 2, np.random.default_rng(0), "val")
    with pytest.raises(EvaluationError, match=r"split 'test': 2 videos, 20 windows.*under the minimum of 15.*"
                                              r"lower min_half_windows"):
        video_partitions(_videos([10, 10]), 5, 15, np.random.default_rng(0), "test")


def test_cross_video_derangement():
    rng = np.random.default_rng(0)
    videos = _videos([5, 3, 4, 2])
    for _ in range(20):
        perm, same = cross_video_derangement(videos, rng)
        assert np.array_equal(np.sort(perm), np.arange(videos.size)) and same == 0
        assert np.all(videos[perm] != videos)
    # one video dominates: still no window paired with itself, and the same-video pairs are counted
    perm, same = cross_video_derangement(_videos([8, 2]), rng)
    assert not np.any(perm == np.arange(10)) and same == int(np.sum(_videos([8, 2])[perm] == _videos([8, 2])))
    assert same > 0


def test_a_video_shared_with_train_is_an_error_naming_it():
    check_disjoint_videos("val", np.array(["a", "b"]), np.array(["c"]))
    with pytest.raises(EvaluationError, match=r"split 'val' shares 1 video\(s\) with train \(b\).*random_window"):
        check_disjoint_videos("val", np.array(["a", "b", "b"]), np.array(["b", "c"]))


def test_faithful_bc_constants_published_only_for_ted_expressive():
    from gesturegen.data.skeleton import TED_EXPRESSIVE
    from gesturegen.metrics.beat import TED_EXPRESSIVE_CHANGE_ANGLE
    _, mean = TED_EXPRESSIVE.published_means()
    train = 0.05 * np.random.default_rng(0).standard_normal((6, 34, 126)).astype(np.float32)
    ted = beat_constants(train, mean.reshape(-1), TED_EXPRESSIVE, "ted_expressive")
    demo = beat_constants(train, mean.reshape(-1), TED_EXPRESSIVE, "demo")       # the same skeleton
    assert ted["faithful"] == list(TED_EXPRESSIVE_CHANGE_ANGLE) and ted["faithful_source"].startswith("published")
    assert demo["faithful_source"] == "this dataset's train split" and demo["faithful"] != ted["faithful"]
    assert demo["corrected"] == ted["corrected"]


@pytest.fixture(scope="module")
def protocol_runs():
    """Two small synthetic splits (one annotated: strokes where the motion really beats), a trivial scorer."""
    import pandas as pd

    from gesturegen.data.annotations import WindowAnnotations
    from gesturegen.data.skeleton import TED_EXPRESSIVE

    rng = np.random.default_rng(0)
    _, mean = TED_EXPRESSIVE.published_means()
    mean = mean.reshape(-1)

    def windows(n):
        t = np.arange(34)[None, :, None]
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        x = 0.08 * np.sin(2 * np.pi * t / 7.5 + phase) + 0.01 * rng.standard_normal((n, 34, 126))
        return x.astype(np.float32)

    def strokes_of(x):   # the frames where a wrist's downward swing ends: the motion's own stroke hits
        from gesturegen.metrics.motion import joints_from_vectors
        from gesturegen.metrics.oracle import stroke_hits
        return tuple(stroke_hits(joints_from_vectors(x, mean, TED_EXPRESSIVE), TED_EXPRESSIVE.wrists, 15))

    train = windows(40)
    consts = beat_constants(train, mean, TED_EXPRESSIVE, "demo")
    audio = (0.1 * rng.standard_normal((24, 36267))).astype(np.float32)
    val, test = windows(24), windows(24)
    ann = WindowAnnotations(24, strokes_of(val), pd.DataFrame(columns=["window", "label", "start_s", "end_s"]),
                            np.zeros(24, np.int64), ("spk0",), ())
    calls = []

    def scorer(split, gen, rows, rng):
        calls.append((split, gen.shape, rows.copy()))
        return {"toy_energy": float(np.abs(gen[:, 4:]).mean())}

    s = EvalSettings(batch_size=8, diversity_permutations=5, n_partitions=3, min_half_windows=6,
                     bcgap_derangements=2)
    splits = [EvalSplit("val", val, audio, _videos([6, 6, 6, 6]), ann),
              EvalSplit("test", test, audio, _videos([8, 8, 8]), None)]
    feats = lambda x: np.asarray(x[:, ::4, :8], np.float64).reshape(len(x), -1)
    runs = run_controls(splits, train, np.array(["t0"] * 40), feats, TED_EXPRESSIVE, mean, consts, s, 7, (0, 1),
                        scorers=[scorer])
    return runs, calls


def test_run_controls_rows_and_scorer(protocol_runs):
    runs, calls = protocol_runs
    assert len(runs) == 2 * 2 * 4 * (1 + 3)                    # splits x seeds x controls x (faithful + partitions)
    corrected = [r for r in runs if r["partition"] != "all"]
    assert len(calls) == len(corrected)
    for r in corrected:
        assert r["n_windows"] + r["n_reference"] == 24 and r["feature_dim"] == 72 and "toy_energy" in r
        assert {"kid_corrected", "kid_se", "bcgap", "bc_shuffled", "fgd_small_n"} <= set(r)
        assert ("joint_mae" in r) == (r["control"] != "ground_truth")
        assert ("beat_f1" in r) == (r["split"] == "val")
    # the scorer sees the query windows' motion and their rows in the split; the mean pose has no energy
    split, shape, rows = calls[0]
    assert split == "val" and shape == (rows.size, 34, 126)
    gt = [r for r in corrected if r["control"] == "ground_truth" and r["split"] == "val"]
    still = [r for r in corrected if r["control"] == "mean_pose" and r["split"] == "val"]
    assert min(r["toy_energy"] for r in gt) > 0.02 and max(r["toy_energy"] for r in still) == 0
    # every row is scored on the same query half as the ground truth of its partition
    by = {(r["split"], r["seed"], r["partition"]): r["n_windows"] for r in gt}
    assert all(by[(r["split"], r["seed"], r["partition"])] == r["n_windows"] for r in still)
    # the oracle: the ground truth's hits are the strokes (F1 = 1); motion that stops finds at most the stroke
    # that the jump from the seed frames to the held pose ends
    assert all(r["beat_f1"] == 1.0 for r in gt) and max(r["beat_recall"] for r in still) < 0.25
    faithful_gt = [r for r in runs if r["partition"] == "all" and r["control"] == "ground_truth"]
    assert all("fgd_faithful" not in r and r["n_windows"] == 24 for r in faithful_gt)


def test_summary_marks_not_applicable_and_skipped_oracle(protocol_runs):
    runs, _ = protocol_runs
    summary = summary_rows(runs, {"test": "no annotations for this dataset"})
    cell = {(r["split"], r["control"], r["metric"]): r for r in summary}
    for metric in ("joint_mae", "feature_distance", "accel_diff", "fgd_faithful"):
        r = cell[("val", "ground_truth", metric)]
        assert r["applicable"] is False and r["mean"] is None and r["note"].startswith("not applicable")
        assert cell[("val", "random_window", metric)]["applicable"] is True
    f1 = cell[("test", "ground_truth", "beat_f1")]
    assert f1["applicable"] is False and f1["note"] == "skipped: no annotations for this dataset"
    assert cell[("val", "ground_truth", "beat_f1")]["mean"] == 1.0
    fgd = cell[("val", "random_window", "fgd_corrected")]
    assert fgd["small_n"] is True and "d = 72" in fgd["note"]
    assert fgd["n"] == 2 and fgd["n_runs"] == 6        # the CI is over 2 seeds (each the mean of its 3 partitions)
    assert cell[("val", "random_window", "bc_faithful")]["n"] == 2 and cell[("val", "ground_truth", "toy_energy")]
    # nothing else changes without annotations: the same metrics apart from the oracle ones
    names = lambda split: {r["metric"] for r in summary if r["split"] == split} 
    assert names("val") == names("test")


def test_ci_is_over_seed_means_not_over_correlated_runs():
    """Runs of one seed share its generated motion: the CI must come from the seeds' means, so identical runs
    within a seed do not shrink it."""
    runs = [{"split": "val", "control": "c", "seed": sd, "partition": k, "n_windows": 10, "n_reference": 10,
             "feature_dim": 4, "m": v} for sd, v in ((0, 1.0), (1, 2.0), (2, 3.0)) for k in range(5)]
    row = next(r for r in summary_rows(runs) if r["metric"] == "m")
    assert row["n"] == 3 and row["n_runs"] == 15 and row["mean"] == 2.0
    assert row["ci95"] == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)   # t(0.975, 2) * sd / sqrt(3)


def test_summary_rows_read_back_from_csv_keep_empty_cells_none(tmp_path):
    """A summary.csv read back gives the rows summary_rows wrote: an empty cell is None (NaN would count as present
    where plots and tables test a cell), and the split / control filters keep only what they name."""
    import pandas as pd

    from gesturegen.summary import read_summary_rows
    runs = [{"split": sp, "control": c, "seed": sd, "partition": 0, "n_windows": 10, "n_reference": 10,
             "feature_dim": 4, "m": 1.0 + sd} for sp in ("val", "test") for c in ("a", "b") for sd in (0, 1)]
    rows = summary_rows(runs)
    pd.DataFrame(rows).to_csv(tmp_path / "summary.csv", index=False)
    back = read_summary_rows(tmp_path / "summary.csv", splits=["val"], controls=["b"])
    assert back and {(r["split"], r["control"]) for r in back} == {("val", "b")}
    assert not any(isinstance(v, float) and np.isnan(v) for r in back for v in r.values())
    empty = {k for r in rows if r["split"] == "val" and r["control"] == "b" for k, v in r.items() if v is None}
    assert empty and all(r[k] is None for r in back for k in empty)
    assert [r["mean"] for r in back] == [r["mean"] for r in rows if r["split"] == "val" and r["control"] == "b"]


def test_stroke_hits_find_the_end_of_a_downward_stroke_only():
    from gesturegen.metrics.oracle import stroke_hits
    t = np.arange(34)
    joints = np.zeros((3, 34, 10, 3))
    # window 0: wrist 6 goes down fast (y down = +) from frame 10 to 14 and stops: one hit at frame 14
    joints[0, :, 6, 1] = np.clip(t - 10, 0, 4) * 0.05
    # window 1: the same, as slowly as idle drift (0.15 units/s): no hit
    joints[1, :, 6, 1] = np.clip(t - 10, 0, 4) * 0.01
    # window 2: both wrists stroke together: one hit, not two
    joints[2, :, 6, 1] = joints[2, :, 7, 1] = np.clip(t - 10, 0, 4) * 0.05
    hits = stroke_hits(joints, (6, 7), fps=15)
    assert [len(h) for h in hits] == [1, 0, 1]
    assert abs(hits[0][0] * 15 - 14) <= 1 and abs(hits[2][0] * 15 - 14) <= 1


def _one_split(real: np.ndarray, onsets: list[np.ndarray]):
    """A 24-window split of 4 videos prepared for score_motion with the given onsets, its settings, feature map,
    mean pose and beat constants."""
    from gesturegen.data.skeleton import TED_EXPRESSIVE
    from gesturegen.evaluation import prepare_split

    _, mean = TED_EXPRESSIVE.published_means()
    mean = mean.reshape(-1)
    consts = beat_constants(real, mean, TED_EXPRESSIVE, "demo")
    s = EvalSettings(batch_size=8, diversity_permutations=5, n_partitions=2, min_half_windows=6,
                     bcgap_derangements=3)
    split = EvalSplit("val", real, np.zeros((24, 100), np.float32), np.repeat(["a", "b", "c", "d"], 6), None)
    feats = lambda m: np.asarray(m[:, ::4, :8], np.float64).reshape(len(m), -1)
    ctx = prepare_split(split, feats, TED_EXPRESSIVE, mean, s, 7, (0,))
    ctx.__dict__["onsets"] = onsets                  # instead of librosa's on the (silent) audio
    return ctx, s, feats, mean, consts


def test_bc_gap_scores_every_onset_after_the_seed_frames():
    """The BC gap's own pairing is BC over the onsets and motion beats after the seed frames, every one of them: a
    window's onsets before the seed end are dropped, not zeros in place of its last onsets (an earlier bug)."""
    from gesturegen.data.skeleton import TED_EXPRESSIVE
    from gesturegen.evaluation import score_motion
    from gesturegen.metrics.beat import bc_score, bc_terms, motion_beat_lists

    rng = np.random.default_rng(5)
    t = np.arange(34)[None, :, None]
    x = (0.08 * np.sin(2 * np.pi * t / 6.0 + rng.uniform(0, 6.3, (24, 1, 1)))
         + 0.01 * rng.standard_normal((24, 34, 126))).astype(np.float32)
    # onsets of every window, some inside the seed frames (before 4 / 15 s)
    onsets = [np.sort(np.r_[rng.uniform(0, 0.25, 2), rng.uniform(0.3, 2.2, 8)]) for _ in range(24)]
    ctx, s, feats, mean, consts = _one_split(x, onsets)
    row = score_motion(ctx, x, "real", 0, feats, TED_EXPRESSIVE, mean, consts, s, 7)[1]
    after = s.n_seed / s.fps - 1e-9
    beats = motion_beat_lists(x, mean, TED_EXPRESSIVE, "corrected", consts["corrected"], s.bc_thres_corrected, s.fps)
    own = bc_score(bc_terms([b[b >= after] for b in beats], [o[o >= after] for o in onsets], s.bc_sigma),
                   sequential=False).score
    assert row["bcgap"] + row["bc_shuffled"] == pytest.approx(own, rel=1e-12)


def test_paired_errors_of_a_row_are_their_definitions_over_its_query_windows():
    """joint MAE (after the seed frames), acceleration difference and feature distance of each corrected row are
    the means over that row's query windows of the per-window errors against the same windows' real motion."""
    from gesturegen.data.skeleton import TED_EXPRESSIVE
    from gesturegen.evaluation import score_motion
    from gesturegen.metrics.motion import joints_from_vectors

    rng = np.random.default_rng(6)
    real = (0.05 * rng.standard_normal((24, 34, 126))).astype(np.float32)
    gen = real + (0.02 * rng.standard_normal(real.shape)).astype(np.float32)
    gen[:, :4] = real[:, :4]
    ctx, s, feats, mean, consts = _one_split(real, [np.array([0.5, 1.0])] * 24)
    rows = score_motion(ctx, gen, "noisy", 0, feats, TED_EXPRESSIVE, mean, consts, s, 7)[1:]
    jr = joints_from_vectors(real, mean, TED_EXPRESSIVE).astype(np.float32).astype(np.float64)
    jg = joints_from_vectors(gen, mean, TED_EXPRESSIVE)
    for row, (_, query) in zip(rows, ctx.partitions[0]):
        mae = np.abs(jg[query, 4:] - jr[query, 4:]).mean()
        acc = np.abs(np.diff(jr[query], 2, axis=1) - np.diff(jg[query], 2, axis=1)).reshape(query.size, -1).mean()
        dist = np.abs(feats(real)[query] - feats(gen)[query]).sum(1).mean()
        assert row["n_windows"] == query.size
        assert row["joint_mae"] == pytest.approx(mae, rel=1e-9)
        assert row["accel_diff"] == pytest.approx(acc, rel=1e-9)
        assert row["feature_distance"] == pytest.approx(dist, rel=1e-9)
