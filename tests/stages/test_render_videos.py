"""render_videos on a small synthetic dataset (raw clips → build_windows) with small models saved as the stages save
theirs: one video per chosen clip with sound, its poster, motion.npz and a BVH that an independent reader reads back;
bad params and failures that leave the previous outputs as they were."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gesturegen.data.skeleton import TED_EXPRESSIVE
from gesturegen.io import read_json
from gesturegen.render import probe
from stages import build_windows, render_videos
from stages.render_videos import RenderVideosError, clip_name, style_reference
from tests.conftest import write_params, write_synthetic_dataset
from tests.tiny_models import save_tiny_models
from tests.unit.test_bvh import check_against_bvhio

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CHOSEN = {"render_videos.clips": {"val": [1], "test": [0]}, "render_videos.size_px": 96,
          "render_videos.poster_frames": 2}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    raw = write_synthetic_dataset(root / "raw")
    params = write_params(root / "params.yaml", CHOSEN)
    build_windows.main(["--params", str(params), "--dataset", "demo", "--raw", str(raw), "--out-dir",
                        str(root / "bw")])
    save_tiny_models(root / "models")
    return root


def _args(root, out, params=None):
    return ["--params", str(params or root / "params.yaml"), "--dataset", "demo", "--raw", str(root / "raw"),
            "--windows", str(root / "bw" / "windows"), "--diffusion", str(root / "models" / "d-{part}"),
            "--out-dir", str(out)]


@pytest.fixture(scope="module")
def rendered(world):
    render_videos.main(_args(world, world / "out"))
    return world / "out"


def test_one_video_with_sound_a_poster_and_motion_per_chosen_clip(rendered, world):
    import bvhio

    names = [clip_name("val", 1, "val_video0", 1), clip_name("test", 0, "test_video0", 0)]
    assert sorted(p.name for p in (rendered / "videos").iterdir()) == sorted(names)
    report = read_json(rendered / "report.json")
    assert [c["name"] for c in report["clips"]] == names
    mean = np.asarray(read_json(world / "bw" / "windows" / "normalization.json")["mean_dir_vec"], np.float32)
    for name, clip in zip(names, report["clips"]):
        folder = rendered / "videos" / name
        assert sorted(p.name for p in folder.iterdir()) == ["motion.bvh", "motion.npz", "video.mp4"]
        media = probe(folder / "video.mp4")
        # the synthetic clips last 6 s: 90 frames at 15 fps, the whole clip
        assert (media.video_codec, media.audio_codec, media.n_video, media.n_audio) == ("h264", "aac", 1, 1)
        assert abs(media.duration_s - 6.0) < 0.1 and media.fps == 15
        m = np.load(folder / "motion.npz")
        assert m["joints"].shape == (90, 43, 3) and np.isfinite(m["joints"]).all()
        info = json.loads(str(m["info"]))
        assert info["split"] == clip["split"] and info["first_seed"] == "ground truth" and info["windows"] == 3
        assert m["words"].size == clip["words"] and (np.diff(m["word_times"][:, 0]) >= 0).all()
        assert bvhio.readAsBvh(str(folder / "motion.bvh")).FrameCount == 90
        check_against_bvhio(folder / "motion.bvh", m["vectors"], TED_EXPRESSIVE, mean)
        poster = rendered / "posters" / f"{name}.png"
        assert poster.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert clip["words"] > 0 and clip["style_reference_window"] >= 0
    # the style reference of val clip 1 lies in the video's other clip (apart from the rendered one)
    import pandas as pd
    table = pd.read_csv(world / "bw" / "windows" / "val" / "windows.csv")
    assert table.set_index("window").loc[report["clips"][0]["style_reference_window"], "clip"] == 0
    assert read_json(rendered / "metrics.json") == {"videos": 2, "device": "cpu"} and report["video_s"] == 12.0
    assert report["render_speed_x_realtime"] > 0 and report["compute"]["threads"] >= 1


def test_style_reference_is_apart_from_the_clip():
    import pandas as pd

    table = pd.DataFrame({"window": [0, 1, 2, 3], "vid": ["a", "a", "a", "b"], "start_time_s": [0.0, 2.0, 10.0, 0.0],
                          "end_time_s": [2.2, 4.2, 12.2, 2.2]})
    rng = np.random.default_rng(0)
    assert {style_reference(table, "a", 0, 0.0, 5.0, rng) for _ in range(20)} == {2}
    assert {style_reference(table, "b", 0, 0.0, 5.0, rng) for _ in range(5)} == {3}     # none apart: its own
    assert style_reference(table, "c", 0, 0.0, 5.0, rng) == -1


def test_a_clip_row_past_the_end_is_an_error_and_the_outputs_stay(rendered, world):
    before = {p: p.read_bytes() for p in rendered.rglob("*") if p.is_file()}
    bad = write_params(world / "bad.yaml", {**CHOSEN, "render_videos.clips": {"val": [0, 7]}})
    with pytest.raises(RenderVideosError, match=r"render_videos\.clips\.val: row 7, but .*clips\.csv has 2 clips"):
        render_videos.main(_args(world, rendered, bad))
    assert {p: p.read_bytes() for p in rendered.rglob("*") if p.is_file()} == before


def test_models_of_another_window_geometry_are_refused(world, tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(world / "models", models)
    for part in ("body", "hand"):
        cfg = models / f"d-{part}" / "config.json"
        info = json.loads(cfg.read_text())
        info["fps"] = 25
        cfg.write_text(json.dumps(info))
    args = _args(world, tmp_path / "out")
    args[args.index("--diffusion") + 1] = str(models / "d-{part}")
    with pytest.raises(RenderVideosError, match="at 25 fps"):
        render_videos.main(args)
    assert not (tmp_path / "out" / "videos").exists()
