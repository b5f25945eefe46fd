"""The make_demo_data stage on the tiny preset: outputs, determinism, and that build_windows accepts them."""
import numpy as np
import pytest

from gesturegen.data.rawformat import RawStore
from gesturegen.data.records import check_clip
from gesturegen.io import read_json
from stages import make_demo_data
from tests.conftest import ROOT

TINY = ROOT / "tests" / "tiny" / "params.yaml"
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    make_demo_data.main(["--params", str(TINY), "--out", str(root / "data"), "--report-dir", str(root / "report")])
    return root


def test_writes_three_readable_splits_and_a_report(tiny_run):
    for split in SPLITS:
        with RawStore(tiny_run / "data" / split) as store:
            assert store.meta["dataset"] == "demo" and store.meta["skeleton"] == "ted_expressive"
            assert store.meta["split"] == split and len(store) >= 1
            for _, video in store:
                assert video["framerate"] == 25.0 and "speaker" not in video
                for clip in video["clips"]:
                    assert check_clip(clip, 43, "seconds") is None
                    assert clip["skeletons_3d"].dtype == np.float32 and clip["audio_raw"].dtype == np.float16
    m = read_json(tiny_run / "report" / "report.json")
    assert read_json(tiny_run / "report" / "metrics.json") == {"speech_minutes": m["speech_minutes"]}
    assert [m[s]["videos"] for s in SPLITS] == [4, 1, 1]   # tiny: 3 train videos, grown to one per speaker
    assert m["train"]["speakers"] == m["speakers"] == 4
    for s in SPLITS:
        assert m[s]["clips"] >= m[s]["videos"] and m[s]["words"] > 10 * m[s]["clips"]
        assert 0 < m[s]["speech_s"] < m[s]["clip_s"] <= 9.5 * m[s]["clips"]
    assert m["total_hours"] == pytest.approx(sum(m[s]["clip_s"] for s in SPLITS) / 3600, abs=1e-5)
    assert m["window_pass_fraction"] >= 0.9
    png = (tiny_run / "report" / "clip.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_same_seed_gives_byte_identical_lmdbs_and_replaces_old_output(tiny_run, tmp_path):
    out = tmp_path / "data"
    (out / "train").mkdir(parents=True)
    (out / "train" / "stale.txt").write_text("from an earlier run")
    make_demo_data.main(["--params", str(TINY), "--out", str(out), "--report-dir", str(tmp_path / "report")])
    assert not (out / "train" / "stale.txt").exists()
    for split in SPLITS:
        assert (out / split / "data.mdb").read_bytes() == (tiny_run / "data" / split / "data.mdb").read_bytes()
    for name in ("metrics.json", "report.json"):
        assert (tmp_path / "report" / name).read_text() == (tiny_run / "report" / name).read_text()


def test_a_failed_run_keeps_the_previous_outputs(tiny_run, tmp_path, monkeypatch):
    import shutil

    from gesturegen.data import demo
    out, report = tmp_path / "data", tmp_path / "report"
    shutil.copytree(tiny_run / "data", out)
    shutil.copytree(tiny_run / "report", report)
    before = {f: f.read_bytes() for f in sorted([*out.rglob("*"), *report.rglob("*")]) if f.is_file()}

    def broken(*args, **kwargs):
        raise RuntimeError("espeak went away")
    monkeypatch.setattr(demo, "make_video", broken)
    with pytest.raises(RuntimeError, match="espeak went away"):
        make_demo_data.main(["--params", str(TINY), "--out", str(out), "--report-dir", str(report)])
    after = {f: f.read_bytes() for f in sorted([*out.rglob("*"), *report.rglob("*")]) if f.is_file()}
    assert after == before
    assert not [p for p in tmp_path.rglob(".*staging*")]     # no staging folder left behind


def test_build_windows_takes_the_demo_data(tiny_run, tmp_path):
    from stages import build_windows
    out = tmp_path / "windows"
    build_windows.main(["--params", str(TINY), "--dataset", "demo", "--raw", str(tiny_run / "data"),
                        "--out-dir", str(out)])
    m = read_json(out / "metrics.json")["windows"]
    assert m["train"] > 20 and m["val"] > 0 and m["test"] > 0
    assert m == {s: read_json(out / "report.json")[s]["windows"] for s in SPLITS}
