import shutil
from pathlib import Path

import numpy as np
import pytest

from gesturegen.config import load_params
from gesturegen.data.windowstore import ArrayIntegrityError, open_split, window_checksums
from gesturegen.features import FeatureError, ModelFolderError, open_features
from gesturegen.io import read_json, write_json
from stages import build_windows, extract_features
from tests.conftest import write_params, write_synthetic_dataset
from tests.unit.test_features import make_tiny_data2vec_audio, make_tiny_data2vec_text

SPLITS = ("train", "val", "test")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def windows(tmp_path_factory) -> Path:
    """A few windows per split (one video each, stride 30 → 4 windows per split)."""
    root = tmp_path_factory.mktemp("fx")
    raw = write_synthetic_dataset(root / "raw", videos={"train": 1, "val": 1, "test": 1})
    params = write_params(root / "p.yaml", {"build_windows.stride": 30})
    build_windows.main(["--params", str(params), "--dataset", "demo", "--raw", str(raw), "--out-dir",
                        str(root / "bw")])
    return root / "bw" / "windows"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    make_tiny_data2vec_audio(root / "data/models/a")
    make_tiny_data2vec_text(root / "data/models/t")
    return root


def _run(params: Path, windows: Path, out: Path) -> dict:
    """Run the stage; check the headline against the report; return the report."""
    extract_features.main(["--params", str(params), "--dataset", "demo", "--windows", str(windows),
                           "--out-dir", str(out)])
    report, headline = read_json(out / "report.json"), read_json(out / "metrics.json")
    assert headline == {"device": "cpu"}                            # the dims stay in the report
    assert set(report["dims"]) == {"audio_frames", "audio_pooled", "text_frames", "text_pooled"}
    assert report["compute"]["device"] == "cpu"
    assert report["compute"]["threads"] == load_params(params).compute.threads_for("extract_features")
    timings = read_json(out / "timings.json")                       # timings stay out of the tracked metrics
    assert {"load_seconds", *(s for s in SPLITS if s in report)} <= set(timings)
    return report


def test_default_encoders_outputs_meta_metrics_and_determinism(windows, tmp_path):
    params = write_params(tmp_path / "p.yaml", {"extract_features.n_mels": 16, "extract_features.batch_size": 3})
    out = tmp_path / "out"
    (out / "features" / "stale").mkdir(parents=True)                    # replaced, not merged
    m = _run(params, windows, out)
    assert not (out / "features" / "stale").exists()
    assert m["dims"] == {"audio_frames": 20, "audio_pooled": 40, "text_frames": 384, "text_pooled": 384}
    assert m["encoders"] == {"audio": "default", "text": "minilm"}
    for split in SPLITS:
        w = open_split(windows / split)
        f = open_features(out / "features" / split, w)
        n = len(w)
        assert n > 0 and m[split]["windows"] == n
        assert m[split]["audio_seconds"] == pytest.approx(n * w.audio.shape[1] / 16000, abs=1e-3)
        assert set(read_json(out / "timings.json")[split]["seconds_per_audio_minute"]) == {"audio", "text", "total"}
        assert f.audio_frames.shape == (n, 34, 20) and f.audio_pooled.shape == (n, 40)
        assert f.text_frames.shape == (n, 34, 384) and f.text_pooled.shape == (n, 384)
        for arr in (f.audio_frames, f.audio_pooled, f.text_frames, f.text_pooled):
            assert arr.dtype == np.float32 and np.isfinite(arr).all()
        meta = f.meta
        assert meta["n_windows"] == n and meta["fps"] == 15 and meta["encoders"]["text"]["name"] == "minilm"
        assert "zero vector" in meta["silence"]["text_frames"]
        assert len(meta["encoders"]["text"]["files_sha256"]["combined"]) == 64
    # the text frames follow the words.csv timings of each window
    w = open_split(windows / "val")
    f = open_features(out / "features" / "val", w)
    words, starts = w.words(), w.windows()["start_time_s"].to_numpy()
    for i in range(len(w)):
        t = starts[i] + np.arange(34) / 15
        ww = words[words.window == i]
        covered = ((t[:, None] >= ww.start_s.to_numpy() - 1e-6) & (t[:, None] <= ww.end_s.to_numpy() + 1e-6)).any(1)
        np.testing.assert_array_equal(np.abs(f.text_frames[i]).sum(1) > 0, covered)
    # the audio features were computed once per clip (its clip_audio) and sliced for each window
    from gesturegen.features.audio import DefaultAudioEncoder, slice_windows
    assert f.meta["audio_features"] == "per clip" and m["val"]["clip_audio_seconds"] > 0
    enc, wins, clips = DefaultAudioEncoder(n_mels=16), w.windows(), w.clips()
    for row, c in clips.iterrows():
        idx = np.flatnonzero(wins.clip_row.to_numpy() == c.clip_row)
        starts = wins.start_frame.to_numpy()[idx]
        y = np.asarray(w.audio_of_clip(int(c.sample_offset), int(c.n_samples)), np.float32)
        af, ap = slice_windows(enc.clip_frames(y, int(starts.max()) + 34), starts, 34, 34)
        np.testing.assert_allclose(f.audio_frames[idx], af, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(f.audio_pooled[idx], ap, rtol=1e-6, atol=1e-5)
    # determinism: a second run gives the same bytes
    _run(params, windows, tmp_path / "again")
    for name in ("audio_frames", "audio_pooled", "text_frames", "text_pooled"):
        assert (out / f"features/val/{name}.npy").read_bytes() == \
            (tmp_path / f"again/features/val/{name}.npy").read_bytes()


def test_data2vec_tiny_models_with_shared_projection(windows, tiny_models, tmp_path, monkeypatch):
    from gesturegen.features.data2vec import load_projection, make_projection
    params = write_params(tmp_path / "p.yaml", {
        "seed": 5, "extract_features.audio_encoder": "data2vec", "extract_features.text_encoder": "data2vec",
        "extract_features.data2vec_audio_dir": "data/models/a", "extract_features.data2vec_text_dir": "data/models/t",
        "extract_features.data2vec_audio_pooling": "projection"})
    monkeypatch.chdir(tiny_models)                                      # model folders relative to the repo root
    m = _run(params, windows, tmp_path / "out")
    assert m["dims"] == {"audio_frames": 16, "audio_pooled": 512, "text_frames": 16, "text_pooled": 16}
    proj = tmp_path / "out/features/audio_projection.safetensors"
    np.testing.assert_array_equal(load_projection(proj).numpy(), make_projection(32, 5).numpy())
    for split in SPLITS:
        f = open_features(tmp_path / "out/features" / split, open_split(windows / split))
        enc = f.meta["encoders"]
        assert enc["audio"]["model_dir"] == "data/models/a" and enc["audio"]["pooling"] == "projection"
        assert enc["text"]["pad_token_id"] == 1 and "model.safetensors" in enc["text"]["files_sha256"]
        assert f.meta["audio_projection"] == "audio_projection.safetensors"
        assert np.isfinite(f.audio_pooled).all() and np.abs(f.audio_pooled).sum() > 0


def test_missing_data2vec_folder_is_a_clear_error(windows, tmp_path, monkeypatch):
    params = write_params(tmp_path / "p.yaml", {"extract_features.audio_encoder": "data2vec"})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelFolderError, match=r"data/models/data2vec-audio-base-960h does not exist.*"
                                               r"huggingface-cli download facebook/data2vec-audio-base-960h "
                                               r"--local-dir data/models/data2vec-audio-base-960h"):
        _run(params, windows, tmp_path / "out")


def test_nan_in_window_audio_names_split_and_window(windows, tiny_models, tmp_path):
    bad = shutil.copytree(windows, tmp_path / "windows")
    audio = np.load(bad / "train" / "audio.npy", mmap_mode="r+")
    audio[2, 100] = np.nan
    audio.flush()
    del audio
    params = write_params(tmp_path / "p.yaml", {
        "extract_features.audio_encoder": "data2vec", "extract_features.text_encoder": "data2vec",
        "extract_features.data2vec_audio_dir": str(tiny_models / "data/models/a"),
        "extract_features.data2vec_text_dir": str(tiny_models / "data/models/t")})
    with pytest.raises(ArrayIntegrityError, match=r"train/audio.npy .*rows \(windows\) 0-3"):  # changed after writing
        _run(params, bad, tmp_path / "out")
    meta = read_json(bad / "train" / "meta.json")  # as if build_windows had written the NaN (it no longer can)
    meta["checksums"] = window_checksums(bad / "train")
    write_json(bad / "train" / "meta.json", meta)
    with pytest.raises(FeatureError, match=r"split 'train': the input audio .* NaN/inf for window 2"):
        _run(params, bad, tmp_path / "out")


def test_nan_in_clip_audio_names_split_clip_and_window(windows, tmp_path):
    bad = shutil.copytree(windows, tmp_path / "windows")
    clips = open_split(bad / "val").clips()
    audio = np.load(bad / "val" / "clip_audio.npy", mmap_mode="r+")
    audio[int(clips.sample_offset.iloc[-1]) + 50] = np.nan
    audio.flush()
    del audio
    meta = read_json(bad / "val" / "meta.json")  # as if build_windows had written it
    meta["checksums"] = window_checksums(bad / "val")
    write_json(bad / "val" / "meta.json", meta)
    c = clips.iloc[-1]
    first = int(np.flatnonzero(open_split(bad / "val").windows().clip_row == c.clip_row)[0])
    params = write_params(tmp_path / "p.yaml", {"extract_features.n_mels": 16})
    with pytest.raises(FeatureError, match=rf"split 'val': .*val/clip_audio.npy has NaN/inf at sample "
                                           rf"{c.sample_offset + 50} \(clip_row {c.clip_row}: video '{c.vid}' clip "
                                           rf"{c['clip']}, sample 50 of the clip; windows {first}-"):
        _run(params, bad, tmp_path / "out")
