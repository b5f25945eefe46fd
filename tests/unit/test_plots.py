"""The figures name their dataset, label their axes with units and carry legends (gesturegen.plots)."""
import numpy as np

from gesturegen import plots
from gesturegen.evaluation import CONTROLS


def _summary():
    rows = []
    for split, n in (("val", 96), ("test", 86)):
        for i, control in enumerate(CONTROLS):
            for metric in plots.CONTROL_METRICS:
                rows.append({"split": split, "control": control, "metric": metric, "n_windows": n,
                             "mean": 1.0 + i, "ci95": 0.1, "n": 3})
    return rows


def test_controls_figure_names_the_dataset_and_labels_every_panel():
    fig = plots.controls_figure(_summary(), "ted_expressive", CONTROLS, 3)
    assert fig._suptitle.get_text().startswith("ted_expressive:")
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() == "control"
        assert "(" in ax.get_ylabel() and ")" in ax.get_ylabel()          # a quantity with its unit
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["val (96 query windows)", "test (86 query windows)"]
    assert len(fig.axes) == len(plots.CONTROL_METRICS)
    fig.clf()


def test_controls_figure_draws_only_present_metrics_and_marks_not_applicable():
    rows = [r for r in _summary() if r["metric"] in ("fgd_corrected", "joint_mae")]
    for r in rows:
        if r["control"] == "ground_truth" and r["metric"] == "joint_mae":
            r.update(mean=None, ci95=None, applicable=False)
    fig = plots.controls_figure(rows, "demo", CONTROLS, 15)
    assert [ax.get_title().split(" ")[0] for ax in fig.axes] == ["FGD", "joint"]
    assert sum(t.get_text() == "n/a" for t in fig.axes[1].texts) == 2       # ground truth, on both splits
    fig.clf()


def test_clip_figure_names_the_dataset_and_labels_its_axes():
    sr = 16000
    t = np.arange(50)
    joints = np.zeros((50, 43, 3), np.float32)
    joints[:, 7, 1] = np.sin(t / 5.0)
    clip = {"start_time": 1.0, "end_time": 3.0, "audio_raw": np.zeros(2 * sr, np.float16), "skeletons_3d": joints,
            "words": [["hello", 1.2, 1.5], ["there", 1.6, 2.0]]}
    fig = plots.clip_figure(clip, sr, "demo dataset")
    audio, motion = fig.axes
    assert audio.get_title().startswith("demo dataset, one clip: 2 words")
    assert "full scale" in audio.get_ylabel() and "(s)" in motion.get_xlabel() and "/s" in motion.get_ylabel()
    assert [t.get_text() for t in motion.get_legend().get_texts()] == ["left wrist", "right wrist"]
    fig.clf()
