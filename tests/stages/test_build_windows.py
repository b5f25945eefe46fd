import shutil

import lmdb
import numpy as np
import pandas as pd
import pytest

from gesturegen.data.rawformat import RawFormatError, write_store
from gesturegen.data.skeleton import TED_EXPRESSIVE
from gesturegen.data.windowstore import ArrayIntegrityError, open_split
from gesturegen.io import read_json
from stages import build_windows
from stages.build_windows import BuildWindowsError
from tests.conftest import synthetic_clip, write_synthetic_dataset
from tests.corruption import (
    assert_failed_cleanly,
    flip_bit,
    leaf_node_offset,
    leftovers,
    middle_page,
    overwrite_random,
    run_module,
    truncate,
)


def _run(raw, out, params):
    """Run the stage; check the headline against the report; return the report."""
    build_windows.main(["--params", str(params), "--dataset", "demo", "--raw", str(raw), "--out-dir", str(out)])
    report = read_json(out / "report.json")
    assert read_json(out / "metrics.json") == {"windows": {s: report[s]["windows"] for s in ("train", "val", "test")}}
    return report


def test_outputs_shapes_ids_and_normalisation(synthetic_raw, tmp_path, params_file):
    m = _run(synthetic_raw, tmp_path / "out", params_file())
    assert m["train"]["windows"] == 36 and m["val"]["windows"] == 12 and m["total"]["windows"] == 60
    assert m["train"]["clip_hours"] == pytest.approx(6 * 6 / 3600)
    w = tmp_path / "out" / "windows"
    train = open_split(w / "train")
    assert train.dir_vec.shape == (36, 34, 126) and train.poses.shape == (36, 34, 43, 3)
    assert train.audio.shape == (36, 36267) and train.audio.dtype == np.float16
    assert isinstance(train.dir_vec, np.memmap)
    norm = read_json(w / "normalization.json")
    assert norm["source"] == "train"
    # train vectors are mean-subtracted with the train mean: their mean is ~0
    np.testing.assert_allclose(np.asarray(train.dir_vec).reshape(-1, 126).mean(0), 0, atol=1e-5)
    # adding the mean back gives unit direction vectors again
    raw_vec = (np.asarray(train.dir_vec) + np.asarray(norm["mean_dir_vec"], np.float32)).reshape(36, 34, 42, 3)
    np.testing.assert_allclose(np.linalg.norm(raw_vec, axis=-1), 1, atol=1e-5)
    np.testing.assert_allclose(raw_vec, TED_EXPRESSIVE.to_vectors(train.poses), atol=1e-5)
    videos = pd.read_csv(w / "videos.csv")
    assert list(videos.vid) == sorted(videos.vid) and len(videos) == 5
    wins = train.windows()
    assert (videos.set_index("vid").loc[wins.vid, "video_id"].to_numpy() == train.video_ids).all()
    words = train.words()
    assert words.window.between(0, 35).all() and (words.end_s >= words.start_s).all()
    meta = train.meta
    assert meta["n_frames"] == 34 and meta["n_seed_frames"] == 4 and meta["fps"] == 15 and meta["dim"] == 126
    assert sorted(meta["checksums"]) == ["audio", "clip_audio", "dir_vec", "poses", "video_ids"]
    # the whole audio of each clip with a kept window, once; a window's audio is its clip's audio from its start frame
    clips = train.clips()
    assert list(clips.columns) == ["clip_row", "video_id", "vid", "clip", "sample_offset", "n_samples", "start_time_s"]
    assert clips.clip_row.tolist() == list(range(len(clips))) and set(wins.clip_row) == set(clips.clip_row)
    assert train.clip_audio.dtype == np.float16 and train.clip_audio.shape == (clips.n_samples.sum(),)
    assert (clips.sample_offset == np.concatenate([[0], np.cumsum(clips.n_samples)[:-1]])).all()
    assert meta["clip_audio_samples"] == clips.n_samples.sum()
    assert m["train"]["clip_audio_hours"] == pytest.approx(clips.n_samples.sum() / 16000 / 3600)
    for i in (0, 7, 35):
        c = clips.iloc[wins.clip_row[i]]
        assert (c.vid, c["clip"], c.video_id) == (wins.vid[i], wins["clip"][i], train.video_ids[i])
        a0 = round(wins.start_frame[i] / 15 * 16000)
        clip_audio = train.audio_of_clip(int(c.sample_offset), int(c.n_samples))
        np.testing.assert_array_equal(train.audio[i], clip_audio[a0:a0 + 36267])
        assert wins.start_time_s[i] == pytest.approx(c.start_time_s + wins.start_frame[i] / 15)
    with pytest.raises(ValueError, match=r"clip_audio.npy: samples .* outside the array.*re-run build_windows"):
        train.audio_of_clip(int(clips.sample_offset.iloc[-1]), int(clips.n_samples.iloc[-1]) + 1)
    assert list(pd.read_csv(w / "bad_records.csv").columns) == build_windows.BAD_RECORD_COLUMNS  # header only
    assert pd.read_csv(w / "bad_records.csv").empty


def test_published_normalisation_and_determinism(synthetic_raw, tmp_path, params_file):
    p = params_file({"build_windows.normalization": "published"})
    _run(synthetic_raw, tmp_path / "a", p)
    _run(synthetic_raw, tmp_path / "b", p)
    for name in ("dir_vec.npy", "poses.npy", "audio.npy", "video_ids.npy", "clip_audio.npy", "windows.csv",
                 "clips.csv", "words.csv"):
        assert (tmp_path / "a/windows/val" / name).read_bytes() == (tmp_path / "b/windows/val" / name).read_bytes()
    _, pub = TED_EXPRESSIVE.published_means()
    np.testing.assert_allclose(read_json(tmp_path / "a/windows/normalization.json")["mean_dir_vec"],
                               pub.reshape(-1), rtol=1e-6)


def test_video_ids_persist_when_filters_change(synthetic_raw, tmp_path, params_file):
    _run(synthetic_raw, tmp_path / "a", params_file())
    _run(synthetic_raw, tmp_path / "b", params_file({"build_windows.filters.max_words": 5}, "p2.yaml"))
    assert (tmp_path / "a/windows/videos.csv").read_text() == (tmp_path / "b/windows/videos.csv").read_text()
    m = read_json(tmp_path / "b/report.json")
    assert m["train"]["rejected"]["text"] > 0
    rej = pd.read_csv(tmp_path / "b/windows/rejections.csv")
    assert rej.query("reason == 'text'")["count"].sum() == sum(m[s]["rejected"]["text"] for s in ("train", "val", "test"))


def _write_split_with(raw, split, mutate):
    """Replace one split with two videos, the second one's first clip mutated."""
    rng = np.random.default_rng(7)
    good = {"vid": "good", "clips": [synthetic_clip(rng, 0.0, 5.0)]}
    bad = {"vid": "bad", "clips": [synthetic_clip(rng, 0.0, 5.0), synthetic_clip(rng, 10.0, 5.0)]}
    mutate(bad["clips"][0])
    shutil.rmtree(raw / split)
    write_store(raw / split, [good, bad])


@pytest.mark.parametrize("mutate, reason, text", [
    (lambda c: c["skeletons_3d"].__setitem__((3, 5, 0), np.nan), "nan_skeleton", "NaN"),
    (lambda c: c.__setitem__("skeletons_3d", c["skeletons_3d"][:, :42]), "joint_count", "expected (T, 43, 3)"),
    (lambda c: c["words"].__setitem__(0, ["oops", 3.0, 2.0]), "word_order", "ends before it starts"),
    (lambda c: c.__setitem__("audio_raw", c["audio_raw"][:16000]), "short_audio", "audio_raw has 16000 samples"),
])
def test_bad_records_error_or_counted_skip(synthetic_raw, tmp_path, params_file, mutate, reason, text):
    _write_split_with(synthetic_raw, "val", mutate)
    with pytest.raises(BuildWindowsError) as e:
        _run(synthetic_raw, tmp_path / "out", params_file())
    msg = str(e.value)
    assert f"{synthetic_raw / 'val'}: key 0000000001 (vid 'bad') clip 0" in msg and text in msg
    assert "on_bad_record: skip" in msg
    m = _run(synthetic_raw, tmp_path / "out", params_file({"build_windows.on_bad_record": "skip"}, "skip.yaml"))
    assert m["val"]["bad_records"] == {reason: 1}
    assert m["val"]["clips"] == 2                     # the good video's clip and the bad video's second clip
    rej = pd.read_csv(tmp_path / "out/windows/rejections.csv")
    assert ((rej.vid == "bad") & (rej.reason == reason)).any()
    bad = pd.read_csv(tmp_path / "out/windows/bad_records.csv", dtype={"key": str, "source_key": str})
    assert bad.to_dict("records") == [{
        "split": "val", "raw_file": str(synthetic_raw / "val"), "key": "0000000001",
        "source_file": str(synthetic_raw / "val"), "source_key": "0000000001", "vid": "bad", "clip": 0,
        "reason": reason, "detail": bad.detail[0]}] and text in bad.detail[0]


def test_corrupt_value_error_or_skip(synthetic_raw, tmp_path, params_file):
    env = lmdb.open(str(synthetic_raw / "test"), map_size=1 << 30)
    with env.begin(write=True) as txn:
        txn.put(b"0000000005", b"\xc1 not msgpack")
    env.close()
    with pytest.raises(RawFormatError, match=r"test: data.mdb does not match digest.json.*key 0000000005: checksum "
                                             r"mismatch.*on_bad_record: skip"):
        _run(synthetic_raw, tmp_path / "out", params_file())
    m = _run(synthetic_raw, tmp_path / "out", params_file({"build_windows.on_bad_record": "skip"}, "s.yaml"))
    assert m["test"]["bad_records"] == {"corrupt_value": 1} and m["test"]["windows"] == 12
    bad = pd.read_csv(tmp_path / "out/windows/bad_records.csv", dtype=str, keep_default_na=False)
    assert bad[["split", "key", "source_key", "vid", "clip", "reason"]].values.tolist() == [
        ["test", "0000000005", "0000000005", "", "", "checksum"]]


def test_empty_and_missing_splits(tmp_path, params_file):
    raw = write_synthetic_dataset(tmp_path / "raw", videos={"train": 2, "val": 1, "test": 0})
    with pytest.raises(BuildWindowsError, match=r"test: the split is empty \(0 videos\)"):
        _run(raw, tmp_path / "out", params_file())
    raw2 = write_synthetic_dataset(tmp_path / "raw2", videos={"train": 2, "val": 1})
    with pytest.raises(RawFormatError, match=r"raw2/test: no such LMDB directory"):
        _run(raw2, tmp_path / "out", params_file())


def test_everything_filtered_is_an_error(synthetic_raw, tmp_path, params_file):
    with pytest.raises(BuildWindowsError, match="no window survived.*few_words"):
        _run(synthetic_raw, tmp_path / "out", params_file({"build_windows.filters.min_words": 99}))


def test_unknown_dataset_is_a_usage_error(synthetic_raw, tmp_path, params_file):
    with pytest.raises(SystemExit):
        build_windows.main(["--params", str(params_file()), "--dataset", "nope", "--raw", str(synthetic_raw),
                            "--out-dir", str(tmp_path)])


# --- damaged raw files: each names the file and the record, leaves no output, kills nothing -----------------------

def _files(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damage, expected", [
    (lambda f: truncate(f), r"train/data.mdb: truncated: \d+ bytes, but its header .*up to key 000000000\d"),
    (lambda f: overwrite_random(f, middle_page(f)),
     r"train: data.mdb does not match digest.json.*key 000000000\d: checksum mismatch"),
    (lambda f: flip_bit(f, middle_page(f) + 1000, bit=5),
     r"train: data.mdb does not match digest.json.*key 000000000\d: checksum mismatch"),
])
def test_damaged_raw_file_names_file_and_key_and_leaves_outputs(synthetic_raw, tmp_path, params_file, damage,
                                                                 expected):
    out = tmp_path / "out"
    _run(synthetic_raw, out, params_file())
    before = _files(out)
    damage(synthetic_raw / "train" / "data.mdb")
    for on_bad_record in ("error", "skip"):  # a file that is damaged as a whole is never skipped silently
        p = params_file({"build_windows.on_bad_record": on_bad_record}, f"{on_bad_record}.yaml")
        if on_bad_record == "skip" and "checksum" in expected:
            m = _run(synthetic_raw, out, p)  # damage confined to one record: counted, named, skipped
            bad = pd.read_csv(out / "windows/bad_records.csv", dtype=str)
            assert m["train"]["bad_records"] == {"corrupt_value": 1} and bad.reason.tolist() == ["checksum"]
            continue
        with pytest.raises(RawFormatError, match=expected):
            _run(synthetic_raw, out, p)
        assert _files(out) == before and leftovers(out) == ["metrics.json", "report.json", "windows"]


def test_flipped_bit_that_crashes_lmdb_is_an_error_not_a_bus_error(synthetic_raw, tmp_path, params_file):
    flip_bit(synthetic_raw / "val" / "data.mdb", leaf_node_offset(synthetic_raw / "val", b"0000000000") + 2, bit=7)
    out = tmp_path / "out"
    res = run_module("stages.build_windows", "--params", params_file(), "--dataset", "demo", "--raw", synthetic_raw,
                     "--out-dir", out)
    assert_failed_cleanly(res, f"{synthetic_raw / 'val'}: data.mdb does not match digest.json",
                          "the scan crashed (SIGBUS) before the first key")
    assert leftovers(out) == []


def test_nan_audio_names_file_key_and_clip(synthetic_raw, tmp_path, params_file):
    _write_split_with(synthetic_raw, "val", lambda c: c["audio_raw"].__setitem__(4000, np.nan))
    with pytest.raises(BuildWindowsError, match=r"val: key 0000000001 \(vid 'bad'\) clip 0: audio_raw has 1 NaN/inf "
                                                r"sample\(s\), first at sample 4000 \(0.250 s into the clip\)"):
        _run(synthetic_raw, tmp_path / "out", params_file())
    assert leftovers(tmp_path / "out") == []
    m = _run(synthetic_raw, tmp_path / "out", params_file({"build_windows.on_bad_record": "skip"}, "skip.yaml"))
    assert m["val"]["bad_records"] == {"nan_audio": 1}
    assert np.isfinite(np.asarray(open_split(tmp_path / "out/windows/val").audio, np.float32)).all()


def test_bad_records_name_the_source_that_convert_raw_read(synthetic_raw, tmp_path, params_file):
    from stages import convert_raw
    _write_split_with(synthetic_raw, "val", lambda c: c["words"].__setitem__(0, ["oops", 3.0, 2.0]))
    convert_raw.main(["--params", str(params_file()), "--dataset", "demo", "--src", str(synthetic_raw),
                      "--out-dir", str(tmp_path / "conv")])
    raw = tmp_path / "conv" / "raw"
    with pytest.raises(BuildWindowsError, match=rf"{raw / 'val'}: key 0000000001 \(vid 'bad'\) clip 0 \(from "
                                                rf"{synthetic_raw / 'val'}, key 0000000001\): word 0"):
        _run(raw, tmp_path / "out", params_file())
    _run(raw, tmp_path / "out", params_file({"build_windows.on_bad_record": "skip"}, "skip.yaml"))
    bad = pd.read_csv(tmp_path / "out/windows/bad_records.csv", dtype=str)
    assert bad[["raw_file", "key", "source_file", "source_key", "reason"]].values.tolist() == [
        [str(raw / "val"), "0000000001", str(synthetic_raw / "val"), "0000000001", "word_order"]]


# --- the windows' own checksums ------------------------------------------------------------------------------------

def test_window_arrays_are_verified_when_opened(synthetic_raw, tmp_path, params_file):
    _run(synthetic_raw, tmp_path / "out", params_file())
    split = tmp_path / "out" / "windows" / "train"
    audio = split / "audio.npy"
    row_bytes = 36267 * 2
    flip_bit(audio, 128 + 20 * row_bytes + 5, bit=0)  # inside window 20 (after the 128-byte header)
    with pytest.raises(ArrayIntegrityError, match=rf"{audio} \(checked against {split / 'meta.json'}\): the content "
                                                  r"does not match its blake2b: rows \(windows\) 0-35 \(checked in "
                                                  r"blocks of 64 rows\) changed after writing.*re-run build_windows"):
        open_split(split)
    assert len(open_split(split, verify=False)) == 36  # the escape for hot loops


def test_truncated_window_array_is_a_clear_error(synthetic_raw, tmp_path, params_file):
    _run(synthetic_raw, tmp_path / "out", params_file())
    split = tmp_path / "out" / "windows" / "train"
    poses = split / "poses.npy"
    row_bytes = 34 * 43 * 3 * 4
    with open(poses, "r+b") as fh:
        fh.truncate(128 + 20 * row_bytes + 100)
    for verify in (True, False):  # numpy's own message would be "mmap length is greater than file size"
        with pytest.raises(ArrayIntegrityError, match=rf"{poses}: truncated: \d+ bytes, but its header says \(36, 34, "
                                                      r"43, 3\) float32 \(631712 bytes\); only rows 0-19 are complete"):
            open_split(split, verify=verify)


def test_a_video_in_two_splits_is_an_error_naming_it(synthetic_raw, tmp_path, params_file):
    """Leakage: the same video id in train and test stops the stage, naming the video and the splits; the param
    allows it explicitly, and videos.csv then lists every split of that video."""
    rng = np.random.default_rng(3)
    shutil.rmtree(synthetic_raw / "test")
    write_store(synthetic_raw / "test", [{"vid": "train_video1", "clips": [synthetic_clip(rng, 30.0, 6.0)]},
                                         {"vid": "test_video0", "clips": [synthetic_clip(rng, 0.0, 6.0)]}])
    with pytest.raises(build_windows.BuildWindowsError,
                       match=r"1 video\(s\) appear in more than one split.*'train_video1' in train and test.*"
                             r"allow_shared_videos"):
        _run(synthetic_raw, tmp_path / "out", params_file())
    assert leftovers(tmp_path / "out") == []
    _run(synthetic_raw, tmp_path / "out", params_file({"build_windows.allow_shared_videos": True}, "allow.yaml"))
    videos = pd.read_csv(tmp_path / "out/windows/videos.csv").set_index("vid")
    assert videos.loc["train_video1", "split"] == "train;test" and videos.loc["test_video0", "split"] == "test"


# --- evaluation-only annotations ------------------------------------------------------------------------------------

def _annotate(video, speaker="spk0"):
    """Record-level annotations for a synthetic video: a stroke every second, one event per clip (video seconds)."""
    clips = []
    for clip in video["clips"]:
        t0, t1 = clip["start_time"], clip["end_time"]
        clips.append({"strokes_s": [float(t) for t in np.arange(t0 + 0.5, t1, 1.0)],
                      "events": [["big", t0 + 1.0, t0 + 2.5]]})
    return {**video, "annotations": {"speaker": speaker, "clips": clips}}


def _rewrite(raw, split, change):
    """Rewrite one split's videos through change(index, video) -> video."""
    from gesturegen.data.rawformat import RawStore
    with RawStore(raw / split) as store:
        videos = [change(i, v) for i, (_, v) in enumerate(store)]
    shutil.rmtree(raw / split)
    write_store(raw / split, videos)


def test_annotations_are_carried_into_the_windows(synthetic_raw, tmp_path, params_file):
    from gesturegen.data.annotations import load_window_annotations
    for split in ("train", "val", "test"):
        _rewrite(synthetic_raw, split, lambda i, v: _annotate(v, f"spk{i % 2}"))
    m = _run(synthetic_raw, tmp_path / "out", params_file())
    for split in ("train", "val", "test"):
        d = tmp_path / "out" / "windows" / split
        assert m[split]["annotations"] and read_json(d / "meta.json")["annotations"]
        notes = load_window_annotations(d)
        wins = open_split(d).windows()
        assert notes.n_windows == len(wins) == m[split]["windows"] and notes.labels == ("big",)
        for w, row in wins.iterrows():
            clip_start = 1.0 + 10 * row["clip"]                    # write_synthetic_dataset's clip times
            rel = row.start_time_s - clip_start
            # strokes at 0.5, 1.5, ... s into the clip, seen from the window, inside [0, 34/15)
            want = [round(t - rel, 6) for t in np.arange(0.5, 6.0, 1.0) if 0 <= t - rel < 34 / 15]
            np.testing.assert_allclose(notes.strokes[w], want, atol=1e-6)
            ev = notes.events[notes.events.window == w]
            overlaps = 2.5 - rel > 0 and 1.0 - rel < 34 / 15
            assert len(ev) == overlaps
            if overlaps:                                            # the true extent, not cut to the window
                assert ev.start_s.iloc[0] == pytest.approx(1.0 - rel, abs=1e-6)
                assert ev.end_s.iloc[0] == pytest.approx(2.5 - rel, abs=1e-6)
            assert notes.speakers[notes.speaker[w]] == f"spk{int(row.vid[-1]) % 2}"
    # the synthetic data without annotations writes none (the other tests' runs) and says so
    m = _run(write_synthetic_dataset(tmp_path / "plain"), tmp_path / "plain_out", params_file())
    for split in ("train", "val", "test"):
        d = tmp_path / "plain_out" / "windows" / split
        assert m[split]["annotations"] is False and read_json(d / "meta.json")["annotations"] is False
        assert not (d / "annotations").exists() and load_window_annotations(d) is None


def test_some_videos_annotated_and_others_not_is_an_error(synthetic_raw, tmp_path, params_file):
    for split in ("val", "test"):
        _rewrite(synthetic_raw, split, lambda i, v: _annotate(v))
    _rewrite(synthetic_raw, "train", lambda i, v: v if i == 1 else _annotate(v))
    with pytest.raises(BuildWindowsError, match=rf"{synthetic_raw / 'train'}: key 0000000000 has 'annotations' .* "
                                                r"but key 0000000001 has none"):
        _run(synthetic_raw, tmp_path / "out", params_file())
    assert leftovers(tmp_path / "out") == []
    # a whole split without them
    _rewrite(synthetic_raw, "train", lambda i, v: _annotate(v))
    _rewrite(synthetic_raw, "test", lambda i, v: {k: x for k, x in v.items() if k != "annotations"})
    with pytest.raises(BuildWindowsError, match=rf"{synthetic_raw / 'train'}: the records carry 'annotations'.* "
                                                rf"{synthetic_raw / 'test'} \(e.g. key 0000000000\) do not"):
        _run(synthetic_raw, tmp_path / "out", params_file())


@pytest.mark.parametrize("spoil, text", [
    (lambda a: a["clips"][1]["strokes_s"].append(float("nan")),
     r"annotations clip 1: strokes_s must be finite times, found nan"),
    (lambda a: a["clips"][0]["events"].append(["big", 3.0, 2.0]),
     r"annotations clip 0: event 1 'big' ends before it starts \(3.0 > 2.0\)"),
    (lambda a: a["clips"][0]["events"].append(["big", 1.0]),
     r"annotations clip 0: event 1 is \['big', 1.0\], expected \[label, start_s, end_s\]"),
    (lambda a: a["clips"].pop(), r"annotations 'clips' must be a list with one entry per clip \(2\), got 1 entries"),
    (lambda a: a.pop("speaker"), r"annotations must be a dict with 'speaker' and 'clips', got \['clips'\]"),
    (lambda a: a["clips"][0].update(strokes_s="1.0"), r"annotations clip 0: strokes_s must be finite times"),
])
def test_bad_annotations_name_file_key_and_clip(synthetic_raw, tmp_path, params_file, spoil, text):
    for split in ("train", "val", "test"):
        _rewrite(synthetic_raw, split, lambda i, v: _annotate(v))

    def bad(i, v):
        if i == 2:
            spoil(v["annotations"])
        return v
    _rewrite(synthetic_raw, "train", bad)
    with pytest.raises(BuildWindowsError, match=rf"{synthetic_raw / 'train'}: key 0000000002 \(vid 'train_video2'\): "
                                                rf"bad 'annotations' field: {text}"):
        _run(synthetic_raw, tmp_path / "out", params_file())
    assert leftovers(tmp_path / "out") == []
