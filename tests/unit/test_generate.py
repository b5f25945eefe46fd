"""`gesturegen generate` on the real ARCTIC recording with small models built from a config (saved as the stages
save theirs), and its refusals of bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gesturegen.cli import main
from gesturegen.generate import GenerateError, window_starts
from tests.conftest import ROOT
from tests.tiny_models import save_tiny_models

SPEECH = ROOT.parent / "shared" / "data" / "speech"
WAV, TXT = SPEECH / "arctic_a0007.wav", SPEECH / "arctic_a0007.txt"
needs_arctic = pytest.mark.skipif(not WAV.is_file(), reason="../shared/data/speech/arctic_a0007.wav not present")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("models"))


def _args(models, out, *extra):
    return ["generate", str(WAV), "--out", str(out), "--checkpoint", str(models / "d-{part}"),
            "--normalization", str(models / "norm.json"), "--params", str(ROOT / "params.yaml"), *extra]


@needs_arctic
def test_generate_writes_motion_bvh_and_a_summary(models, tmp_path, capsys):
    import bvhio

    out = tmp_path / "out"
    assert main(_args(models, out, "--transcript", str(TXT))) == 0
    m = np.load(out / "motion.npz")
    assert m["joints"].shape == (60, 43, 3) and m["vectors"].shape == (60, 126)      # 4.0 s at 15 fps
    assert float(m["fps"]) == 15 and str(m["skeleton"]) == "ted_expressive" and np.isfinite(m["joints"]).all()
    summary = json.loads((out / "generate.json").read_text())
    assert summary["words"] == 11 and summary["windows"] == 2 and "pocketsphinx" in summary["word_source"]
    assert summary["rtf"] > 0 and summary["seconds"]["loading"] > 0
    assert json.loads(str(m["info"]))["words"] == 11
    # the aligned word times are in the npz, in order, inside the 4 s of speech
    assert m["words"].tolist()[:3] == ["and", "you", "always"] and m["word_times"].shape == (11, 2)
    assert (np.diff(m["word_times"][:, 0]) > 0).all() and 0 <= m["word_times"].min() < m["word_times"].max() <= 4.0
    assert bvhio.readAsBvh(str(out / "motion.bvh")).FrameCount == 60
    # the BVH round-trips: bvhio recomputes every joint of every frame within 1e-4 of ours
    from gesturegen.data.skeleton import get_skeleton
    from tests.unit.test_bvh import check_against_bvhio
    mean = np.asarray(json.loads((models / "norm.json").read_text())["mean_dir_vec"], np.float32)
    check_against_bvhio(out / "motion.bvh", m["vectors"], get_skeleton("ted_expressive"), mean)
    from gesturegen.render import probe
    media = probe(out / "video.mp4")                                  # one H.264 stream, one AAC, the speech's length
    assert (media.video_codec, media.audio_codec, media.n_video, media.n_audio) == ("h264", "aac", 1, 1)
    assert abs(media.duration_s - 4.0) < 0.1 and media.fps == 15
    # an existing output folder is refused, then overwritten with --force
    assert main(_args(models, out, "--transcript", str(TXT))) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    # the same words given as a file give the same motion (same seed)
    words = tmp_path / "w.tsv"
    from gesturegen.recording import align_transcript, load_recording
    aligned = align_transcript(load_recording(WAV), TXT.read_text())
    words.write_text("".join(f"{w.text}\t{w.start}\t{w.end}\n" for w in aligned.words))
    assert main(_args(models, out, "--words", str(words), "--force", "--no-video")) == 0
    np.testing.assert_array_equal(np.load(out / "motion.npz")["joints"], m["joints"])


@needs_arctic
def test_a_style_reference_changes_the_motion_and_a_wrong_one_is_refused(models, tmp_path, capsys):
    plain, styled = tmp_path / "plain", tmp_path / "styled"
    assert main(_args(models, plain, "--transcript", str(TXT), "--no-video")) == 0
    ref = plain / "motion.npz"                                       # 60 frames: one 34-frame window in the middle
    assert main(_args(models, styled, "--transcript", str(TXT), "--no-video", "--style", str(ref))) == 0
    a, b = np.load(plain / "motion.npz")["joints"], np.load(styled / "motion.npz")["joints"]
    assert a.shape == b.shape and np.abs(a - b).max() > 1e-3
    assert json.loads((styled / "generate.json").read_text())["style"] == {"kind": "motion", "reference": str(ref)}
    m = dict(np.load(ref))
    np.savez(tmp_path / "aqgt.npz", **{**m, "skeleton": np.str_("aqgt")})
    np.savez(tmp_path / "short.npz", **{**m, "vectors": m["vectors"][:20]})
    for bad, message in (("aqgt.npz", "motion of the aqgt skeleton; these models are for ted_expressive"),
                         ("short.npz", "20 frames; a reference needs at least 34")):
        assert main(_args(models, tmp_path / "o", "--transcript", str(TXT), "--style", str(tmp_path / bad))) == 2
        assert message in capsys.readouterr().err


@needs_arctic
def test_a_transcript_that_does_not_align_fails_unless_allowed(models, tmp_path, capsys):
    bad = tmp_path / "t.txt"
    bad.write_text("The quick brown fox jumps over the lazy dog.")
    assert main(_args(models, tmp_path / "a", "--transcript", str(bad))) == 2
    err = capsys.readouterr().err
    assert "does not match the speech" in err and "--allow-unaligned" in err
    assert main(_args(models, tmp_path / "b", "--transcript", str(bad), "--allow-unaligned", "--no-video")) == 0
    summary = json.loads((tmp_path / "b" / "generate.json").read_text())
    assert summary["words"] == 0 and any("no word timings (" in n for n in summary["notes"])


@needs_arctic
@pytest.mark.parametrize("extra, message", [
    ([], "word timings are needed: give --transcript"),
    (["--transcript", str(TXT), "--words", str(TXT)], "give one source of word timings, not --transcript and --words"),
    (["--transcript", str(TXT), "--dataset", "nope"], "--dataset 'nope': not in params.yaml's data_sources"),
    (["--transcript", str(TXT), "--steps", "500"], "--steps: sampler dpmsolver++: 500 steps asked"),
])
def test_bad_arguments_are_refused(models, tmp_path, capsys, extra, message):
    assert main(_args(models, tmp_path / "o", *extra)) == 2
    assert message in capsys.readouterr().err


@needs_arctic
def test_missing_models_are_named(tmp_path, capsys):
    args = ["generate", str(WAV), "--out", str(tmp_path / "o"), "--transcript", str(TXT), "--checkpoint",
            str(tmp_path / "none-{part}"), "--params", str(ROOT / "params.yaml")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no trained body model of dataset 'demo'" in err and "none-body" in err


def test_a_recording_shorter_than_the_seed_frames_is_refused():
    starts, total = window_starts(16000 * 3, 15, 34, 4)              # 3 s: 45 frames, windows at 0 and 30
    assert starts.tolist() == [0, 30] and total == 45
    assert window_starts(16000, 15, 34, 4)[0].tolist() == [0]       # 1 s: one window, trimmed to 15 frames later
    with pytest.raises(GenerateError, match=r"shorter than the 4 seed frames"):
        window_starts(4000, 15, 34, 4)                               # 0.25 s


def test_the_first_seed_starts_the_motion(models):
    """generate_recording hands `first_seed` to the long-form generator: the first frame is 0.8 of it (the cross-fade
    into the first window), far from the mean pose that no seed gives."""
    from gesturegen.config import load_params
    from gesturegen.features import make_encoders
    from gesturegen.generate import generate_recording, load_part_models
    from gesturegen.models.diffusion import SamplerConfig
    from gesturegen.recording import Recording, Word

    parts, _, skeleton, mean = load_part_models(str(models / "d-{part}"), "demo", models / "norm.json")
    audio_enc, text_enc = make_encoders(load_params(ROOT / "params.yaml").extract_features, sample_rate_hz=16000,
                                        fps=15, seed=0)
    rec = Recording(WAV, np.random.default_rng(0).normal(0, 0.1, 16000 * 3).astype(np.float32), 16000, 1)
    words = [Word("hello", 0.2, 0.6), Word("there", 0.8, 1.3)]
    kw = {"fps": 15, "n_frames": 34, "n_seed": 4, "seed": 0, "styles": None}
    seed = np.full((4, 126), 3.0, np.float32)
    with_seed = generate_recording(rec, words, parts, audio_enc, text_enc, mean, skeleton,
                                   SamplerConfig("dpmsolver++", steps=2), first_seed=seed, **kw)
    plain = generate_recording(rec, words, parts, audio_enc, text_enc, mean, skeleton,
                               SamplerConfig("dpmsolver++", steps=2), **kw)
    first = with_seed.vectors[0] - mean
    assert np.abs(plain.vectors[0] - mean).mean() < 1.0 and np.abs(first).mean() > 2.0
    assert not np.allclose(with_seed.vectors[20:], plain.vectors[20:])          # the seed carries into the motion


@needs_arctic
def test_generate_with_speech_recognition(models, tmp_path):
    """No transcript: the words come from a local faster-whisper model folder (a tiny scripted one)."""
    from tests.tiny_whisper import build_scripted_whisper

    asr = build_scripted_whisper(tmp_path / "asr", ["author", "of", "the", "danger", "trail"], end_s=3.5)
    out = tmp_path / "out"
    assert main(_args(models, out, "--asr-model", str(asr), "--no-video")) == 0
    summary = json.loads((out / "generate.json").read_text())
    assert summary["words"] == 5 and "speech recognition" in summary["word_source"]
    assert np.load(out / "motion.npz")["joints"].shape == (60, 43, 3)


def test_motion_npz_bytes_depend_only_on_the_arrays(tmp_path):
    import time

    from gesturegen.generate import save_npz

    a = save_npz(tmp_path / "a.npz", x=np.arange(5, dtype=np.float32), s=np.str_("ted"))
    time.sleep(2.1)                                                   # zip timestamps have a 2-second resolution
    b = save_npz(tmp_path / "b.npz", x=np.arange(5, dtype=np.float32), s=np.str_("ted"))
    assert a.read_bytes() == b.read_bytes()
    with np.load(a) as z:
        assert z["x"].tolist() == [0, 1, 2, 3, 4] and str(z["s"]) == "ted"


@pytest.fixture(scope="module")
def voiced_run(tmp_path_factory):
    """build_windows and extract_features of a small dataset whose videos speak with the demo's espeak-ng voices:
    train videos 0-1 speaker 0 (male), 2-3 speaker 1 (female); and a held-out recording of speaker 1."""
    from gesturegen.data.demo.sentences import make_sentence
    from gesturegen.data.demo.speakers import make_speakers
    from gesturegen.data.rawformat import write_store
    from gesturegen.data.speech import synthesize
    from stages import build_windows, extract_features
    from tests.conftest import synthetic_clip, write_params

    root = tmp_path_factory.mktemp("voiced")
    rng, voices = np.random.default_rng(3), [s.voice for s in make_speakers(2, seed=1234)]

    def speech(voice, seconds: float) -> np.ndarray:
        audio = np.zeros(0, np.float32)
        while audio.size < seconds * 16000:
            audio = np.concatenate([audio, synthesize(make_sentence(rng), voice).audio])
        return audio[:round(seconds * 16000)]

    for split, speakers in (("train", [0, 0, 1, 1]), ("val", [0]), ("test", [1])):
        vids = []
        for v, k in enumerate(speakers):
            clips = [synthetic_clip(rng, 1.0 + 10 * c, 6.0) for c in range(2)]
            for clip in clips:
                clip["audio_raw"] = (0.5 * speech(voices[k], 6.0)).astype(np.float16)
            vids.append({"vid": f"{split}_spk{k}_v{v}", "framerate": 25.0, "clips": clips})
        write_store(root / "raw" / split, vids, {"dataset": "synthetic"})
    params = write_params(root / "p.yaml")
    build_windows.main(["--params", str(params), "--dataset", "demo", "--raw", str(root / "raw"), "--out-dir",
                        str(root / "bw")])
    extract_features.main(["--params", str(params), "--dataset", "demo", "--windows", str(root / "bw" / "windows"),
                           "--out-dir", str(root / "ef")])
    ref = speech(voices[1], 8.0)
    import soundfile
    soundfile.write(root / "ref.wav", np.stack([0.2 * ref, 0.2 * ref], 1)[::2], 8000)      # stereo, 8 kHz, quiet
    return root


@needs_arctic
def test_a_voice_reference_takes_the_style_of_the_closest_training_speaker(models, voiced_run, tmp_path, capsys):
    """--style REF.wav: the training video with the closest voice (one of speaker 1's, the reference's speaker)
    lends the middle window of its motion; the motion is the one that window gives as a motion reference."""
    import pandas as pd

    run = voiced_run
    where = ["--style-windows", str(run / "bw" / "windows"), "--style-features", str(run / "ef" / "features")]
    out = tmp_path / "voice"
    assert main(_args(models, out, "--transcript", str(TXT), "--no-video", "--style", str(run / "ref.wav"),
                      *where)) == 0
    assert "is closest to training video train_spk1_v" in capsys.readouterr().out
    style = json.loads((out / "generate.json").read_text())["style"]
    assert style["kind"] == "voice" and style["matched_video"].startswith("train_spk1_")
    assert [v.split("_")[1] for v, _ in style["closest"][:2]] == ["spk1", "spk1"]
    assert style["videos_compared"] == 4 and style["videos_without_voice"] == 0
    table = pd.read_csv(run / "bw" / "windows" / "train" / "windows.csv")
    rows = table[table["vid"] == style["matched_video"]]["window"].tolist()
    assert style["window"] == rows[len(rows) // 2]
    # the same window given as a motion reference (34 frames: its middle window is itself) gives the same motion
    from gesturegen.data.windowstore import open_split
    mean = np.asarray(json.loads((models / "norm.json").read_text())["mean_dir_vec"], np.float32)
    window = np.asarray(open_split(run / "bw" / "windows" / "train").dir_vec[style["window"]]) + mean
    np.savez(tmp_path / "window.npz", vectors=window, skeleton=np.str_("ted_expressive"))
    assert main(_args(models, tmp_path / "motion", "--transcript", str(TXT), "--no-video", "--style",
                      str(tmp_path / "window.npz"))) == 0
    np.testing.assert_allclose(np.load(out / "motion.npz")["joints"],      # the mean added and removed: float32
                               np.load(tmp_path / "motion" / "motion.npz")["joints"], atol=1e-5)
    plain = tmp_path / "plain"
    assert main(_args(models, plain, "--transcript", str(TXT), "--no-video")) == 0
    assert np.abs(np.load(plain / "motion.npz")["joints"] - np.load(out / "motion.npz")["joints"]).max() > 1e-3


@needs_arctic
def test_a_voice_reference_without_voice_or_without_the_training_run_is_refused(models, voiced_run, tmp_path,
                                                                                capsys):
    import soundfile

    run = voiced_run
    where = ["--style-windows", str(run / "bw" / "windows"), "--style-features", str(run / "ef" / "features")]
    soundfile.write(tmp_path / "hum.wav", 0.01 * np.random.default_rng(0).standard_normal(16000 * 4), 16000)
    assert main(_args(models, tmp_path / "a", "--transcript", str(TXT), "--style", str(tmp_path / "hum.wav"),
                      *where)) == 2
    assert "hum.wav: 0 voiced frames; a voice reference needs at least 15" in capsys.readouterr().err
    assert main(_args(models, tmp_path / "b", "--transcript", str(TXT), "--style", str(run / "ref.wav"),
                      "--style-windows", str(run / "bw" / "windows"), "--style-features",
                      str(tmp_path / "nowhere"))) == 2
    err = capsys.readouterr().err
    assert "compares the voice with the training videos'" in err and "nowhere" in err and "--style-features" in err
    # a damaged feature file is named with its rows
    import shutil
    shutil.copytree(run / "ef", tmp_path / "ef")
    f = tmp_path / "ef" / "features" / "train" / "audio_frames.npy"
    data = bytearray(f.read_bytes())
    data[-100] ^= 0xFF
    f.write_bytes(bytes(data))
    assert main(_args(models, tmp_path / "c", "--transcript", str(TXT), "--style", str(run / "ref.wav"),
                      "--style-windows", str(run / "bw" / "windows"), "--style-features",
                      str(tmp_path / "ef" / "features"))) == 2
    err = capsys.readouterr().err
    assert "audio_frames.npy" in err and "changed after writing" in err
