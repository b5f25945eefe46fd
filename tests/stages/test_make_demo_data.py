"""The make_demo_data stage on the tiny preset: outputs, determinism, and that build_windows accepts them."""
import numpy as np
import pytest

from gesturegen.config import load_params
from gesturegen.data import demo
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
                assert len(video["annotations"]["clips"]) == len(video["clips"])
                for clip in video["clips"]:
                    assert check_clip(clip, 43, "seconds") is None
                    assert clip["skeletons_3d"].dtype == np.float32 and clip["audio_raw"].dtype == np.float16
    m = read_json(tiny_run / "report" / "report.json")
    assert read_json(tiny_run / "report" / "metrics.json") == {"speech_minutes": m["speech_minutes"]}
    assert [m[s]["videos"] for s in SPLITS] == [4, 4, 4]   # tiny: one video per speaker and split
    assert m["speakers"] == 4 and all(m[s]["speakers"] == 4 for s in SPLITS)
    assert m["held_out_templates"] == list(demo.HELD_OUT)
    assert set(m["lexical_words_missing_in_train"]) < set(demo.LEXICAL)   # tiny cannot say them all
    for s in SPLITS:
        assert m[s]["clips"] >= m[s]["videos"] and m[s]["words"] > 10 * m[s]["clips"]
        assert m[s]["sentences"] >= m[s]["distinct_sentences"] > 2 * m[s]["clips"]
        assert m[s]["strokes"] > m[s]["clips"] and m[s]["lexical_events"] > m[s]["clips"]
        assert 0 < m[s]["speech_s"] < m[s]["clip_s"] <= 9.5 * m[s]["clips"]
    assert m["total_hours"] == pytest.approx(sum(m[s]["clip_s"] for s in SPLITS) / 3600, abs=1e-5)
    assert m["window_pass_fraction"] >= 0.9
    png = (tiny_run / "report" / "clip.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_same_seed_gives_byte_identical_lmdbs_and_replaces_old_output(tiny_run, tmp_path):
    """Also across worker counts: the fixture ran with default_workers() processes, this run with another count."""
    out = tmp_path / "data"
    (out / "train").mkdir(parents=True)
    (out / "train" / "stale.txt").write_text("from an earlier run")
    params = load_params(TINY)
    make_demo_data.run(params.make_demo_data, params.seed, out, tmp_path / "report",
                       workers=1 if make_demo_data.default_workers() > 1 else 2)
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
    params = load_params(TINY)
    with pytest.raises(RuntimeError, match="espeak went away"):     # in this process: the patch reaches it
        make_demo_data.run(params.make_demo_data, params.seed, out, report, workers=1)
    after = {f: f.read_bytes() for f in sorted([*out.rglob("*"), *report.rglob("*")]) if f.is_file()}
    assert after == before
    assert not [p for p in tmp_path.rglob(".*staging*")]     # no staging folder left behind


def test_val_and_test_sentences_are_not_train_sentences(tiny_run):
    def sentences(split):
        # words between pauses of > 0.1 s (sentences are 0.12-0.35 s apart, words within one much closer)
        out = set()
        with RawStore(tiny_run / "data" / split) as store:
            for _, video in store:
                for clip in video["clips"]:
                    current = []
                    for w, a, b in clip["words"]:
                        if current and a - current[-1][2] > 0.1:
                            out.add(tuple(x[0] for x in current))
                            current = []
                        current.append((w, a, b))
                    out.add(tuple(x[0] for x in current))
        return out
    train = sentences("train")
    for split in ("val", "test"):
        assert len(sentences(split)) >= 8 and not sentences(split) & train


def test_build_windows_takes_the_demo_data_and_its_annotations(tiny_run, tmp_path):
    from gesturegen.data.annotations import load_window_annotations
    from gesturegen.data.rawformat import write_store
    from gesturegen.data.windowstore import open_split
    from stages import build_windows
    out = tmp_path / "windows"
    build_windows.main(["--params", str(TINY), "--dataset", "demo", "--raw", str(tiny_run / "data"),
                        "--out-dir", str(out)])
    report = read_json(out / "report.json")
    m = read_json(out / "metrics.json")["windows"]
    assert m["train"] > 20 and m["val"] >= 12 and m["test"] >= 12
    assert m == {s: report[s]["windows"] for s in SPLITS}
    for split in SPLITS:
        d = out / "windows" / split
        assert report[split]["annotations"] is True and read_json(d / "meta.json")["annotations"] is True
        notes = load_window_annotations(d)
        assert notes.n_windows == m[split] and notes.speakers == ("spk0", "spk1", "spk2", "spk3")
        assert set(notes.labels) <= set(demo.LEXICAL.values()) and len(notes.labels) >= 6
        wins = open_split(d).windows()
        # one speaker per video, the one its record names
        with RawStore(tiny_run / "data" / split) as store:
            speaker_of = {v["vid"]: v["annotations"]["speaker"] for _, v in store}
        assert [notes.speakers[i] for i in notes.speaker] == [speaker_of[v] for v in wins.vid]
        assert all(((s >= 0) & (s < 34 / 15)).all() for s in notes.strokes)
        assert sum(len(s) for s in notes.strokes) > m[split] // 2
        ev = notes.events
        assert len(ev) and ((ev.end_s > 0) & (ev.start_s < 34 / 15) & (ev.end_s > ev.start_s)).all()

    # the same records without annotations: no annotations folder, and every model input byte for byte the same
    bare = tmp_path / "bare"
    for split in SPLITS:
        with RawStore(tiny_run / "data" / split) as store:
            videos = [{k: v for k, v in video.items() if k != "annotations"} for _, video in store]
            write_store(bare / split, videos, store.meta)
    build_windows.main(["--params", str(TINY), "--dataset", "demo", "--raw", str(bare), "--out-dir",
                        str(tmp_path / "bare_windows")])
    for split in SPLITS:
        a, b = out / "windows" / split, tmp_path / "bare_windows" / "windows" / split
        assert not (b / "annotations").exists() and read_json(b / "meta.json")["annotations"] is False
        assert read_json(tmp_path / "bare_windows" / "report.json")[split]["annotations"] is False
        for name in ("dir_vec.npy", "poses.npy", "audio.npy", "video_ids.npy", "windows.csv", "words.csv"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
