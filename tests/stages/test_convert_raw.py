"""convert_raw: lossless ours→ours and official(pyarrow)→ours conversion, and its errors on bad input."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import lmdb
import numpy as np
import pytest
import yaml

from gesturegen.data import legacy, legacy_env, rawformat
from gesturegen.data.rawformat import RawFormatError, RawStore
from gesturegen.io import read_json
from stages import convert_raw
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

REPO = Path(__file__).resolve().parents[2]
SPLITS = ("train", "val", "test")
GARBAGE = b"\x93\xff\x00not a video" * 3


# --- synthetic videos -------------------------------------------------------------------------------------------

def _ted_video(rng: np.random.Generator, vid: str, n_clips: int) -> dict:
    clips = []
    t0 = 0.0
    for i in range(n_clips):
        n_frames = 20 + 5 * i
        dur = n_frames / 25
        clips.append({
            "skeletons_3d": rng.standard_normal((n_frames, 43, 3)).astype(np.float32),
            "skeletons": rng.standard_normal((n_frames, 23, 2)).astype(np.float32),  # unused, must survive
            "audio_raw": rng.uniform(-1, 1, int(dur * 16000)).astype(np.float16),
            "audio_feat": rng.standard_normal((128, 7)).astype(np.float16),
            "words": [["hello", t0 + 0.1, t0 + 0.3], ["world", t0 + 0.35, t0 + 0.6]],
            "start_frame_no": int(t0 * 25), "end_frame_no": int(t0 * 25) + n_frames,
            "start_time": t0, "end_time": t0 + dur,
        })
        t0 += dur + 1.0
    return {"vid": vid, "framerate": 25.0, "clips": clips}


def _aqgt_video(rng: np.random.Generator, vid: str) -> dict:
    def clip(start_frame: int, n_frames: int, exact_f32: bool) -> dict:
        frames = [rng.standard_normal((53, 3)).astype(np.float32) for _ in range(n_frames - 1)]
        frames.append(np.zeros((53, 3), np.float32))  # a missing frame
        n_audio = n_frames * 16000 // 25
        audio = (rng.uniform(-1, 1, n_audio).astype(np.float32).astype(np.float64) if exact_f32
                 else rng.uniform(-1, 1, n_audio))
        return {"skeletons_3d": frames, "audio_raw": audio.tolist(), "audio_feat": np.zeros((1,)),
                "words": [["so", start_frame + 2, start_frame + 6], ["yes", start_frame + 8, start_frame + 14]],
                "start_frame_no": start_frame, "end_frame_no": start_frame + n_frames,
                "start_time": start_frame / 25, "end_time": (start_frame + n_frames) / 25,
                "saga_annotation": {"phase": ["prep", "stroke"]}, "clip_info": ["x", 3], "frames": [1, 2, 3]}
    return {"vid": vid, "clips": [clip(0, 20, True), clip(40, 16, False)]}


def _expected_aqgt(video: dict) -> dict:
    """What convert_raw must make of _aqgt_video: stacked skeletons, audio as float32 where exact, else float64."""
    clips = []
    for i, c in enumerate(video["clips"]):
        clips.append({**c, "skeletons_3d": np.stack(c["skeletons_3d"]),
                      "audio_raw": np.asarray(c["audio_raw"], np.float32 if i == 0 else np.float64)})
    return {**video, "clips": clips}


def _assert_same(a, b, where: str = "video") -> None:
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray), f"{where}: {type(a).__name__} instead of an array"
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(b, dict):
        assert isinstance(a, dict) and sorted(a) == sorted(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in b:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(b, (list, tuple)):
        assert isinstance(a, list) and len(a) == len(b), f"{where}: {a!r:.80} != {b!r:.80}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b and type(a) is type(b), f"{where}: {a!r} != {b!r}"


def _ted_splits(seed: int = 0) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    return {"train": [_ted_video(rng, f"tr{i}", 2 + i) for i in range(3)],
            "val": [_ted_video(rng, "va0", 1)], "test": [_ted_video(rng, "te0", 2)]}


# --- helpers ----------------------------------------------------------------------------------------------------

def _params(tmp_path: Path, on_corrupt: str = "error") -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["convert_raw"]["on_corrupt"] = on_corrupt
    path = tmp_path / f"params-{on_corrupt}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def _convert(tmp_path: Path, dataset: str, src: Path, out: Path, on_corrupt: str = "error") -> dict:
    convert_raw.main(["--params", str(_params(tmp_path, on_corrupt)), "--dataset", dataset,
                      "--src", str(src), "--out-dir", str(out)])
    report = read_json(out / "report.json")
    assert read_json(out / "metrics.json") == {"videos": report["total"]["videos"],
                                               "skipped": report["total"]["skipped_corrupt"]}   # the headline
    return report


def _skipped(out: Path) -> list[dict]:
    with open(out / "raw" / "skipped.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert (out / "raw" / "skipped.csv").read_text().splitlines()[0] == ",".join(convert_raw.SKIPPED_COLUMNS)
    return rows


def _read_all(path: Path) -> tuple[list[str], list[dict], dict]:
    with RawStore(path) as store:
        keys = store.keys()
        return keys, [store.read(k) for k in keys], store.meta


def _put_garbage(path: Path, key: bytes) -> None:
    env = lmdb.open(str(path), map_size=rawformat.MAP_SIZE, subdir=True)
    with env.begin(write=True) as txn:
        txn.put(key, GARBAGE)
    env.close()


def _expected_counts(videos: list[dict], skipped: int = 0) -> dict:
    clips = [c for v in videos for c in v["clips"]]
    return {"videos": len(videos), "clips": len(clips), "words": sum(len(c["words"]) for c in clips),
            "hours": sum(c["end_time"] - c["start_time"] for c in clips) / 3600, "skipped_corrupt": skipped}


def _check_counts(got: dict, want: dict) -> None:
    assert got["hours"] == pytest.approx(want["hours"], abs=1e-6)
    assert {k: v for k, v in got.items() if k != "hours"} == {k: v for k, v in want.items() if k != "hours"}


# --- ours → ours ------------------------------------------------------------------------------------------------

@pytest.fixture()
def ours_src(tmp_path: Path) -> tuple[Path, dict[str, list[dict]]]:
    splits = _ted_splits()
    for split, videos in splits.items():
        rawformat.write_store(tmp_path / "src" / split, videos, {"generator": "test"})
    return tmp_path / "src", splits


def test_ours_copy_is_lossless(tmp_path, ours_src):
    src, splits = ours_src
    out = tmp_path / "out"
    metrics = _convert(tmp_path, "ted_expressive", src, out)
    for split, videos in splits.items():
        keys, got, meta = _read_all(out / "raw" / split)
        assert keys == [f"{i:010d}" for i in range(len(videos))]
        for i, (g, w) in enumerate(zip(got, videos)):
            _assert_same(g, w, f"{split}[{i}]")
        assert meta["dataset"] == "ted_expressive" and meta["skeleton"] == "ted_expressive"
        assert meta["source_format"] == "gesturegen-raw" and meta["source_meta"] == {"generator": "test"}
        assert meta["source"] == str(src / split) and meta["keys"] == "source"
        _check_counts(metrics[split], _expected_counts(videos))
    _check_counts(metrics["total"], _expected_counts([v for vs in splits.values() for v in vs]))
    assert _skipped(out) == []  # the report exists, header only

    # a rerun replaces <out-dir>/raw
    rawformat.write_store(src / "val2", splits["test"], {})
    shutil.rmtree(src / "val")
    (src / "val2").rename(src / "val")
    _convert(tmp_path, "ted_expressive", src, out)
    assert _read_all(out / "raw" / "val")[1][0]["vid"] == "te0"
    assert leftovers(out) == ["metrics.json", "raw", "report.json"]  # no staging folder left


def test_ours_keeps_the_evaluation_only_annotations(tmp_path):
    """Our demo records carry one extra field (gesturegen.data.annotations.RECORD_FIELD); it passes unchanged."""
    splits = _ted_splits()
    for split, videos in splits.items():
        for k, v in enumerate(videos):
            v["annotations"] = {"speaker": f"spk{k}", "clips": [
                {"strokes_s": [c["start_time"] + 0.25], "events": [["big", c["start_time"], c["start_time"] + 0.5]]}
                for c in v["clips"]]}
        rawformat.write_store(tmp_path / "src" / split, videos, {"generator": "test"})
    _convert(tmp_path, "demo", tmp_path / "src", tmp_path / "out")
    for split, videos in splits.items():
        _, got, _ = _read_all(tmp_path / "out" / "raw" / split)
        assert [g["annotations"] for g in got] == [v["annotations"] for v in videos]


def test_canonicalize_clip():
    exact = legacy.canonicalize_clip({"audio_raw": [0.5, -0.25], "skeletons_3d": [np.zeros((53, 3), np.int64)]})
    assert exact["audio_raw"].dtype == np.float32 and exact["skeletons_3d"].dtype == np.float64
    assert exact["skeletons_3d"].shape == (1, 53, 3)
    assert legacy.canonicalize_clip({"audio_raw": [0.1]})["audio_raw"].dtype == np.float64
    f16 = np.ones(4, np.float16)
    assert legacy.canonicalize_clip({"audio_raw": f16})["audio_raw"] is f16  # arrays kept as they are
    with pytest.raises(ValueError, match="different shapes"):
        legacy.canonicalize_clip({"skeletons_3d": [np.zeros((53, 3)), np.zeros((52, 3))]})


def test_ours_corrupt_value(tmp_path, ours_src):
    src, splits = ours_src
    _put_garbage(src / "train", b"0000000001")
    with pytest.raises(RawFormatError, match=r"train: data.mdb does not match digest.json.*key 0000000001: checksum "
                                             r"mismatch.*on_corrupt: skip"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    assert leftovers(tmp_path / "out") == []

    metrics = _convert(tmp_path, "ted_expressive", src, tmp_path / "out", on_corrupt="skip")
    kept = [splits["train"][0], splits["train"][2]]
    _check_counts(metrics["train"], _expected_counts(kept, skipped=1))
    assert metrics["total"]["skipped_corrupt"] == 1
    keys, got, _ = _read_all(tmp_path / "out" / "raw" / "train")
    assert keys == ["0000000000", "0000000002"]  # the source's keys, not renumbered
    for g, w in zip(got, kept):
        _assert_same(g, w)
    assert _skipped(tmp_path / "out") == [{"split": "train", "source_file": str(src / "train"),
                                           "source_key": "0000000001", "vid": "", "reason": "checksum",
                                           "detail": "checksum mismatch: the value (or its key) was changed after "
                                                     "writing"}]


def test_missing_and_empty_split(tmp_path, ours_src):
    src, _ = ours_src
    shutil.rmtree(src / "test")
    with pytest.raises(RawFormatError, match=r"src/test: no such LMDB directory.*data/README.md"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    (src / "test").mkdir()
    with pytest.raises(RawFormatError, match=r"src/test: not an LMDB directory"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    shutil.rmtree(src / "test")
    rawformat.write_store(src / "test", [], {})
    with pytest.raises(RawFormatError, match=r"src/test: the LMDB holds no videos"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    with pytest.raises(SystemExit):
        _convert(tmp_path, "no_such_dataset", src, tmp_path / "out")


# --- damaged inputs: each names the file and the record, leaves no output, kills nothing --------------------------

def _previous_run(tmp_path: Path, src: Path) -> tuple[Path, dict]:
    """A successful conversion, whose outputs a failed re-run must leave byte for byte."""
    out = tmp_path / "out"
    _convert(tmp_path, "ted_expressive", src, out)
    return out, {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _unchanged(out: Path, before: dict) -> bool:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize("damage, expected", [
    (lambda f: truncate(f), r"train/data.mdb: truncated: \d+ bytes, but its header .*up to key 000000000\d"),
    (lambda f: overwrite_random(f, middle_page(f)),
     r"train: data.mdb does not match digest.json.*key 000000000\d: checksum mismatch"),
    (lambda f: flip_bit(f, middle_page(f) + 1000, bit=3),
     r"train: data.mdb does not match digest.json.*key 000000000\d: checksum mismatch"),
])
def test_damaged_source_names_file_and_key_and_leaves_outputs(tmp_path, ours_src, damage, expected):
    src, _ = ours_src
    out, before = _previous_run(tmp_path, src)
    damage(src / "train" / "data.mdb")
    with pytest.raises(RawFormatError, match=expected):
        _convert(tmp_path, "ted_expressive", src, out)
    assert _unchanged(out, before) and leftovers(out) == ["metrics.json", "raw", "report.json"]


def test_flipped_bit_that_crashes_lmdb_is_an_error_not_a_bus_error(tmp_path, ours_src):
    """One bit in the B-tree makes plain LMDB read past the end of the file (SIGBUS, the issue's exit -7)."""
    src, _ = ours_src
    flip_bit(src / "train" / "data.mdb", leaf_node_offset(src / "train", b"0000000001") + 2, bit=7)
    out = tmp_path / "out"
    res = run_module("stages.convert_raw", "--params", _params(tmp_path), "--dataset", "ted_expressive",
                     "--src", src, "--out-dir", out)
    assert_failed_cleanly(res, f"{src / 'train'}: data.mdb does not match digest.json",
                          "the scan crashed (SIGBUS) after key 0000000000")
    assert leftovers(out) == []


def test_nan_audio_is_caught_where_it_enters(tmp_path, ours_src):
    src, splits = ours_src
    bad = {**splits["val"][0], "vid": "nan-audio"}
    bad["clips"] = [dict(c) for c in bad["clips"]]
    bad["clips"][0]["audio_raw"] = bad["clips"][0]["audio_raw"].copy()
    bad["clips"][0]["audio_raw"][321] = np.nan
    shutil.rmtree(src / "val")
    rawformat.write_store(src / "val", [("0000000007", bad), ("0000000009", splits["val"][0])])
    with pytest.raises(RawFormatError, match=r"val: key 0000000007 \(vid 'nan-audio'\): corrupt value \(clip 0: "
                                             r"audio_raw has 1 NaN/inf sample\(s\), first at sample 321"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    assert leftovers(tmp_path / "out") == []
    metrics = _convert(tmp_path, "ted_expressive", src, tmp_path / "out", on_corrupt="skip")
    assert metrics["val"]["skipped_corrupt"] == 1 and metrics["val"]["videos"] == 1
    assert [(r["split"], r["source_key"], r["vid"], r["reason"]) for r in _skipped(tmp_path / "out")] == [
        ("val", "0000000007", "nan-audio", "nan_audio")]
    assert _read_all(tmp_path / "out" / "raw" / "val")[0] == ["0000000009"]


def test_official_lmdb_without_the_legacy_env_names_the_setup_step(tmp_path, ours_src, monkeypatch):
    src, _ = ours_src
    shutil.rmtree(src / "test")
    env = lmdb.open(str(src / "test"), map_size=1 << 20)  # no `__format__` record, no digest: an official LMDB
    with env.begin(write=True) as txn:
        txn.put(b"0000000000", b"pyarrow bytes")
    env.close()
    empty = tmp_path / "no-env"
    empty.mkdir()
    monkeypatch.setenv(legacy_env.ENV_VAR, str(empty))
    def no_install(*_a, **_k):
        raise AssertionError("a stage ran the environment setup")
    monkeypatch.setattr(legacy_env, "_run_logged", no_install)   # where venv/pip would run
    monkeypatch.setattr(legacy_env, "setup_legacy_env", no_install)
    with pytest.raises(legacy_env.LegacyEnvError, match=r"(?s)not set up.*python -m gesturegen.data.legacy setup.*"
                                                    r"\$GESTUREGEN_LEGACY_ENV") as e:
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    assert "Stages never install anything" in str(e.value)
    assert list(empty.iterdir()) == [] and leftovers(tmp_path / "out") == []


# --- official (pyarrow) → ours, through the isolated legacy env -------------------------------------------------

@pytest.fixture(scope="module")
def legacy_python() -> Path:
    """The explicit setup step (creates the env on first use: needs PyPI), as a user runs it."""
    return legacy_env.setup_legacy_env()


@pytest.fixture(scope="module")
def legacy_src(tmp_path_factory, legacy_python) -> tuple[Path, dict[str, dict[str, list[dict]]]]:
    root = tmp_path_factory.mktemp("legacy")
    rng = np.random.default_rng(7)
    datasets = {"ted_expressive": _ted_splits(seed=3),
                "aqgt": {split: [_aqgt_video(rng, f"aq-{split}")] for split in SPLITS}}
    for name, splits in datasets.items():
        for split, videos in splits.items():
            assert legacy.write_legacy_store(root / name / split, videos) == len(videos)
    return root, datasets


@pytest.mark.legacy
def test_legacy_conversion_is_lossless(tmp_path, legacy_src):
    root, datasets = legacy_src
    assert legacy.open_source(root / "aqgt" / "train").format == "legacy-pyarrow"
    for name, splits in datasets.items():
        out = tmp_path / name
        metrics = _convert(tmp_path, name, root / name, out)
        for split, videos in splits.items():
            want = [_expected_aqgt(v) for v in videos] if name == "aqgt" else videos
            keys, got, meta = _read_all(out / "raw" / split)
            assert keys == [f"{i:010d}" for i in range(len(want))]
            for i, (g, w) in enumerate(zip(got, want)):
                _assert_same(g, w, f"{name}/{split}[{i}]")
            assert meta["source_format"] == "legacy-pyarrow" and meta["dataset"] == name
            assert meta["source"] == str(root / name / split)
            assert meta["skeleton"] == name and "source_meta" not in meta
            _check_counts(metrics[split], _expected_counts(videos))
    aqgt_clip = _read_all(tmp_path / "aqgt" / "raw" / "train")[1][0]["clips"][0]
    assert aqgt_clip["skeletons_3d"].shape == (20, 53, 3) and aqgt_clip["words"][0] == ["so", 2, 6]


@pytest.mark.legacy
def test_legacy_corrupt_value(tmp_path, legacy_src):
    root, datasets = legacy_src
    src = tmp_path / "src"
    shutil.copytree(root / "ted_expressive", src)
    _put_garbage(src / "train", b"0000000001")
    with pytest.raises(RawFormatError, match=r"src/train: key 0000000001: corrupt value \(Arrow"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")

    metrics = _convert(tmp_path, "ted_expressive", src, tmp_path / "out", on_corrupt="skip")
    kept = [datasets["ted_expressive"]["train"][i] for i in (0, 2)]
    _check_counts(metrics["train"], _expected_counts(kept, skipped=1))
    keys, got, _ = _read_all(tmp_path / "out" / "raw" / "train")
    assert keys == ["0000000000", "0000000002"]
    for g, w in zip(got, kept):
        _assert_same(g, w)
    [row] = _skipped(tmp_path / "out")
    assert (row["split"], row["source_file"], row["source_key"], row["reason"]) == (
        "train", str(src / "train"), "0000000001", "undecodable")


def _official_copy(root: Path, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(root / "ted_expressive", src)
    return src


@pytest.mark.legacy
def test_legacy_truncated_lmdb_is_refused_before_the_worker_starts(tmp_path, legacy_src):
    src = _official_copy(legacy_src[0], tmp_path)
    truncate(src / "train" / "data.mdb")
    with pytest.raises(RawFormatError, match=r"src/train/data.mdb: truncated: \d+ bytes, but its header \(page size "
                                             r"4096, .*records\) needs \d+ bytes.*up to key 000000000\d"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    assert leftovers(tmp_path / "out") == []


@pytest.mark.legacy
@pytest.mark.parametrize("where", ["middle", "btree"])
def test_legacy_garbage_names_file_and_key(tmp_path, legacy_src, where):
    """Random bytes inside an official LMDB: a record that fails, or a worker that dies, is named by key."""
    src = _official_copy(legacy_src[0], tmp_path)
    f = src / "train" / "data.mdb"
    if where == "middle":
        overwrite_random(f, middle_page(f))
        expected = [f"{src / 'train'}: key 0000000001", "corrupt value"]
    else:  # the node of key 2 says its value is 8 MiB longer: pyarrow/LMDB read past the end of the file
        flip_bit(f, leaf_node_offset(src / "train", b"0000000002") + 2, bit=7)
        expected = [(f"{f.parent}: reading the official LMDB in the legacy worker was killed by SIGBUS after key "
                     f"0000000001 (the last record read)")]
    res = run_module("stages.convert_raw", "--params", _params(tmp_path), "--dataset", "ted_expressive",
                     "--src", src, "--out-dir", tmp_path / "out")
    assert_failed_cleanly(res, *expected)
    assert leftovers(tmp_path / "out") == []


@pytest.mark.legacy
def test_legacy_pickled_payload_is_refused(tmp_path, legacy_python):
    """A record carrying a pickle (pyarrow serializes `type` objects and registered classes with pickle) is never
    unpickled: the default context would run the payload's __reduce__ (here: create a file)."""
    src = tmp_path / "src"
    for split in SPLITS:
        legacy.write_legacy_store(src / split, _ted_splits()[split], python=legacy_python)
    marker = tmp_path / "unpickled"
    script = f"""
import warnings; warnings.simplefilter("ignore")
import lmdb, pyarrow as pa
class Evil:
    def __reduce__(self):
        return (open, ({str(marker)!r}, "w"))
ctx = pa.default_serialization_context()
ctx.register_type(Evil, "Evil", pickle=True)
env = lmdb.open({str(src / "train")!r}, map_size=1 << 30)
with env.begin(write=True) as txn:
    txn.put(b"0000000001", pa.serialize({{"vid": "evil", "clips": [], "x": Evil()}}, context=ctx).to_buffer().to_pybytes())
env.close()
assert pa.deserialize(pa.serialize({{"t": Evil()}}, context=ctx).to_buffer(), context=ctx)
import os; assert os.path.exists({str(marker)!r}); os.remove({str(marker)!r})  # the default context does unpickle
"""
    subprocess.run([str(legacy_python), "-c", script], check=True, env=legacy_env.worker_environ())
    with pytest.raises(RawFormatError, match=r"src/train: key 0000000001: corrupt value \(a pickled payload of type "
                                             r"'Evil' \(refused: values are never unpickled\)\)"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    metrics = _convert(tmp_path, "ted_expressive", src, tmp_path / "out", on_corrupt="skip")
    assert metrics["train"]["skipped_corrupt"] == 1 and not marker.exists()
    [row] = _skipped(tmp_path / "out")
    assert (row["source_key"], row["reason"]) == ("0000000001", "pickle_refused")


@pytest.mark.legacy
def test_legacy_values_are_validated_where_they_enter(tmp_path, legacy_python):
    """Official records that deserialize but hold NaN/inf or non-numeric arrays: an error, or named skips."""
    splits = _ted_splits()
    nan_skel, inf_audio, text_audio = (_ted_video(np.random.default_rng(i), f"bad{i}", 1) for i in range(3))
    nan_skel["clips"][0]["skeletons_3d"][3, 4, 0] = np.nan
    inf_audio["clips"][0]["audio_raw"][10] = np.inf
    text_audio["clips"][0]["audio_raw"] = ["not", "a", "number"]
    src = tmp_path / "src"
    for split in SPLITS:
        extra = [nan_skel, inf_audio, text_audio] if split == "train" else []
        legacy.write_legacy_store(src / split, splits[split] + extra, python=legacy_python)
    with pytest.raises(RawFormatError, match=r"src/train: key 0000000003 \(vid 'bad0'\): corrupt value \(clip 0: "
                                             r"skeletons_3d has NaN/inf values, first at frame 3\)"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    metrics = _convert(tmp_path, "ted_expressive", src, tmp_path / "out", on_corrupt="skip")
    assert metrics["train"]["skipped_corrupt"] == 3 and metrics["train"]["videos"] == 3
    assert [(r["source_key"], r["vid"], r["reason"]) for r in _skipped(tmp_path / "out")] == [
        ("0000000003", "bad0", "nan_skeleton"), ("0000000004", "bad1", "nan_audio"),
        ("0000000005", "bad2", "bad_record")]


@pytest.mark.legacy
def test_setup_step_reports_where_the_env_is(legacy_python):
    res = run_module("gesturegen.data.legacy", "setup")
    assert res.returncode == 0, res.stderr
    assert f"legacy environment ready: {legacy_python.parent.parent}" in res.stdout
    assert run_module("gesturegen.data.legacy", "check").returncode == 0


def test_check_step_names_the_setup_command_when_the_env_is_missing(tmp_path):
    env = {**os.environ, legacy_env.ENV_VAR: str(tmp_path / "none")}
    res = subprocess.run([sys.executable, "-m", "gesturegen.data.legacy", "check"], capture_output=True, text=True,
                         env=env, cwd=REPO, check=False)
    assert res.returncode == 1 and "python -m gesturegen.data.legacy setup" in res.stderr
    assert not (tmp_path / "none").exists()
