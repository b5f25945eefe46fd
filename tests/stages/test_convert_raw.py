"""convert_raw: lossless ours→ours and official(pyarrow)→ours conversion, and its errors on bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import lmdb
import numpy as np
import pytest
import yaml

from gesturegen.data import legacy, rawformat
from gesturegen.data.rawformat import RawFormatError, RawStore
from gesturegen.io import read_json
from stages import convert_raw

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
    return read_json(out / "metrics.json")


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
        _check_counts(metrics[split], _expected_counts(videos))
    _check_counts(metrics["total"], _expected_counts([v for vs in splits.values() for v in vs]))

    # a rerun replaces <out-dir>/raw
    rawformat.write_store(src / "val2", splits["test"], {})
    shutil.rmtree(src / "val")
    (src / "val2").rename(src / "val")
    _convert(tmp_path, "ted_expressive", src, out)
    assert _read_all(out / "raw" / "val")[1][0]["vid"] == "te0"
    assert not (out / "raw.partial").exists()


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
    with pytest.raises(RawFormatError, match=r"train: key 0000000001: corrupt value.*on_corrupt: skip"):
        _convert(tmp_path, "ted_expressive", src, tmp_path / "out")
    assert not (tmp_path / "out" / "raw").exists()

    metrics = _convert(tmp_path, "ted_expressive", src, tmp_path / "out", on_corrupt="skip")
    kept = [splits["train"][0], splits["train"][2]]
    _check_counts(metrics["train"], _expected_counts(kept, skipped=1))
    assert metrics["total"]["skipped_corrupt"] == 1
    keys, got, _ = _read_all(tmp_path / "out" / "raw" / "train")
    assert keys == ["0000000000", "0000000001"]  # renumbered contiguously
    for g, w in zip(got, kept):
        _assert_same(g, w)


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


# --- official (pyarrow) → ours, through the isolated legacy env -------------------------------------------------

@pytest.fixture(scope="module")
def legacy_src(tmp_path_factory) -> tuple[Path, dict[str, dict[str, list[dict]]]]:
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
    _, got, _ = _read_all(tmp_path / "out" / "raw" / "train")
    for g, w in zip(got, kept):
        _assert_same(g, w)
