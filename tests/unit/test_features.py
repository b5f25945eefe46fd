"""Feature encoders: frame alignment, the default audio features, MiniLM, tiny Data2Vec models, the reader."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gesturegen.features import FeatureError, FeatureSplit, ModelFolderError, check_finite, open_features, sha256_files
from gesturegen.features.text import words_to_frames

SR, FPS, T = 16000, 15, 34
S = round(T / FPS * SR)                              # 36267 samples: an `exact` window


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- tiny Data2Vec folders (random weights, saved like the real checkpoints, loaded through the same code) -------

def make_tiny_data2vec_audio(folder: Path, seed: int = 0) -> Path:
    """A Data2VecAudioForCTC (as facebook/data2vec-audio-base-960h) with tiny sizes, plus its feature extractor."""
    import torch
    from transformers import Data2VecAudioConfig, Data2VecAudioForCTC, Wav2Vec2FeatureExtractor
    torch.manual_seed(seed)
    cfg = Data2VecAudioConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                              conv_dim=(8,) * 7, num_conv_pos_embedding_layers=1, conv_pos_kernel_size=3,
                              vocab_size=12)
    Data2VecAudioForCTC(cfg).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)
    return folder


def make_tiny_data2vec_text(folder: Path, seed: int = 0) -> Path:
    """A Data2VecTextModel with tiny sizes and a RoBERTa byte-level BPE (vocab.json + merges.txt only, like the
    hub folder), the BPE learnt here from a few sentences: <s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import Data2VecTextConfig, Data2VecTextModel
    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["hello world, this is a tiny corpus for the gesture tokenizer; we talk and move"] * 3,
                            vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    n_vocab = len(json.loads((folder / "vocab.json").read_text()))
    torch.manual_seed(seed)
    cfg = Data2VecTextConfig(vocab_size=n_vocab, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32, max_position_embeddings=40)
    Data2VecTextModel(cfg).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_d2v(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("d2v")
    return {"audio": make_tiny_data2vec_audio(root / "audio"), "text": make_tiny_data2vec_text(root / "text")}


@pytest.fixture(scope="module")
def minilm():
    from gesturegen.features.text import MiniLMTextEncoder
    return MiniLMTextEncoder(fps=FPS)


@pytest.fixture(scope="module")
def default_audio():
    from gesturegen.features.audio import DefaultAudioEncoder
    return DefaultAudioEncoder(SR, FPS, n_mels=32)


def _speechlike(rng: np.random.Generator, n: int = S) -> np.ndarray:
    t = np.arange(n) / SR
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    y = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / SR) * (np.sin(2 * np.pi * 1.3 * t) > -0.3)
    return (y + 0.003 * rng.standard_normal(n)).astype(np.float32)


# --- word timings → frames ----------------------------------------------------------------------------------------

def test_word_spanning_frames_10_to_15_lands_exactly_there():
    vec = np.array([[1.0, 2.0], [5.0, 5.0]])
    # window starting at 12.3 s in the video: times come from video seconds minus the start (float noise)
    start = 12.3
    s, e = (start + 10 / FPS) - start, (start + 15 / FPS) - start
    out = words_to_frames(vec[:1], [s], [e], T, FPS)
    hit = np.flatnonzero(np.abs(out).sum(1))
    assert hit.tolist() == list(range(10, 16))
    np.testing.assert_array_equal(out[10:16], np.repeat(vec[:1], 6, 0).astype(np.float32))
    assert not out[:10].any() and not out[16:].any()            # silence: zero vectors
    # two words overlapping on frames 14-15: averaged there; a word without a vector (valid=False) is ignored
    out2 = words_to_frames(vec, [s, 14 / FPS], [e, 20 / FPS], T, FPS)
    np.testing.assert_allclose(out2[14], [3.0, 3.5])
    np.testing.assert_allclose(out2[17], [5.0, 5.0])
    out3 = words_to_frames(vec, [s, 14 / FPS], [e, 20 / FPS], T, FPS, valid=np.array([True, False]))
    np.testing.assert_allclose(out3, out)


def test_minilm_frames_follow_word_timings_and_pool_like_sentence_transformers(minilm):
    words = [[("we", 1 / FPS, 4 / FPS), ("gesture", 10 / FPS, 15 / FPS), ("constantly", 20 / FPS, 30 / FPS)],
             [("hello", 0.0, 0.3)], []]
    frames, pooled = minilm.encode(words, T)
    assert frames.shape == (3, T, 384) and pooled.shape == (3, 384) and frames.dtype == np.float32
    on = np.abs(frames[0]).sum(1) > 0
    assert np.flatnonzero(on).tolist() == [1, 2, 3, 4] + list(range(10, 16)) + list(range(20, 31))
    # frames of one word share that word's vector; different words differ
    np.testing.assert_allclose(frames[0, 10], frames[0, 15])
    assert not np.allclose(frames[0, 10], frames[0, 20])
    assert not frames[2].any() and not pooled[2].any()          # no words: zeros
    np.testing.assert_allclose(np.linalg.norm(pooled[:2], axis=1), 1.0, atol=1e-5)  # modules.json: Normalize
    # padding-invariant (attention mask): a window alone == in a batch with a longer one
    f1, p1 = minilm.encode(words[1:2], T)
    np.testing.assert_allclose(p1[0], pooled[1], atol=1e-5)
    np.testing.assert_allclose(f1[0], frames[1], atol=1e-5)
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(str(minilm.folder), device="cpu").encode(["we gesture constantly", "hello"])
    np.testing.assert_allclose(pooled[:2], ref, atol=1e-5)
    meta = minilm.describe()
    assert meta["pooled_l2_normalised"] and meta["pad_token_id"] == 0 and len(meta["files_sha256"]["combined"]) == 64


def test_text_batches_sorted_by_length_come_back_in_window_order(minilm):
    from stages.extract_features import text_features
    words = [[("a", 0.0, 0.1), ("much", 0.2, 0.3), ("longer", 0.4, 0.5), ("window", 0.6, 0.7), ("here", 0.8, 0.9)],
             [], [("short", 0.0, 0.5)], [("two", 0.0, 0.3), ("words", 0.4, 0.8)], [("x", 1.0, 1.2)]]
    frames, pooled = text_features(minilm, words, T, batch_size=2)
    for i, ws in enumerate(words):
        f, p = minilm.encode([ws], T)
        np.testing.assert_allclose(frames[i], f[0], atol=1e-5)
        np.testing.assert_allclose(pooled[i], p[0], atol=1e-5)


def test_subword_pieces_are_averaged_into_one_word_vector(minilm):
    # an unusual word splits into several WordPiece tokens; its frames get one vector (their mean)
    words = [[("antidisestablishmentarianism", 0.0, 1.0)]]
    assert len(minilm.tokenizer.tokenize(words[0][0][0])) > 1
    frames, _ = minilm.encode(words, T)
    assert np.abs(frames[0, :16]).sum(1).all() and not frames[0, 16:].any()
    np.testing.assert_allclose(frames[0, 0], frames[0, 15])


# --- default audio -------------------------------------------------------------------------------------------------

def test_default_audio_shapes_determinism_and_alignment(default_audio):
    rng = np.random.default_rng(0)
    audio = np.stack([_speechlike(rng), np.zeros(S, np.float32)])
    # a burst exactly on frames 10..15: the samples within +-hop/2 of those frame instants
    hop = SR / FPS
    burst = np.zeros(S, np.float32)
    a, b = round(10 * hop - hop / 2), round(15 * hop + hop / 2)
    burst[a:b] = 0.2 * np.sin(2 * np.pi * 200 * np.arange(b - a) / SR)
    audio = np.concatenate([audio, burst[None]])
    frames, pooled = default_audio.encode(audio, T)
    d = default_audio.frame_dim
    assert d == 32 + 4 and frames.shape == (3, T, d) and pooled.shape == (3, 2 * d)
    assert frames.dtype == np.float32 and np.isfinite(frames).all() and np.isfinite(pooled).all()
    frames2, pooled2 = default_audio.encode(audio, T)
    np.testing.assert_array_equal(frames, frames2)
    np.testing.assert_array_equal(pooled, pooled2)
    names = default_audio.feature_names
    rms, f0, voiced = (names.index(n) for n in ("rms", "f0_hz", "voiced"))
    # speech-like: voiced frames have f0 near the 120-160 Hz glide
    v = frames[0, :, voiced] > 0
    assert v.mean() > 0.4 and np.all((frames[0, v, f0] > 110) & (frames[0, v, f0] < 175))
    # burst: RMS is non-zero on frames 10..15 only (frames tile the audio around the frame instants)
    assert np.flatnonzero(frames[2, :, rms] > 1e-4).tolist() == list(range(10, 16))
    assert np.all(np.abs(frames[2, frames[2, :, voiced] > 0, f0] - 200) < 5)
    # silence: -100 dB log-mel, unvoiced (f0 0), no onset
    assert np.all(frames[1, :, :32] == -100) and not frames[1, :, -4:].any()
    np.testing.assert_allclose(pooled[0, :d], frames[0].mean(0), rtol=1e-5, atol=1e-4)


def test_default_audio_zero_length_short_and_long_audio(default_audio):
    f, p = default_audio.encode(np.zeros((2, 0), np.float32), T)
    assert f.shape == (2, T, default_audio.frame_dim) and np.isfinite(f).all() and np.isfinite(p).all()
    f, p = default_audio.encode(np.ones((1, 500), np.float32) * 0.01, T)         # shorter than one frame
    assert f.shape == (1, T, default_audio.frame_dim) and np.isfinite(f).all()
    # a faithful 42-frame span: 34 frames out, pooled over all 42 (the frames are the same as for a 34-frame cut)
    rng = np.random.default_rng(1)
    y = _speechlike(rng, 44800)
    f42, p42 = default_audio.encode(y[None], T)
    f34, p34 = default_audio.encode(y[None, :S], T)
    np.testing.assert_allclose(f42[0, :30, :32], f34[0, :30, :32], atol=1e-3)
    assert not np.allclose(p42, p34)


def test_yin_pitch_on_tones_silence_and_noise(default_audio):
    from gesturegen.features.audio import yin
    rng = np.random.default_rng(3)
    t = np.arange(1024) / SR
    for f in (70.0, 113.0, 220.0, 441.0):      # a tone with harmonics, as voiced speech has
        y = sum(0.3 / h * np.sin(2 * np.pi * h * f * t + h) for h in (1, 2, 3))
        f0, ap = yin(y[None], SR)
        assert abs(f0[0] / f - 1) < 0.005 and ap[0] < 0.1
    f0, ap = yin(rng.standard_normal((8, 1024)), SR)
    assert (ap > 0.4).all()                    # noise is aperiodic: unvoiced at the default threshold
    # through the encoder: silence and noise unvoiced (f0 0), a steady 150 Hz tone voiced at 150 Hz
    y = np.concatenate([np.zeros(SR), 0.05 * rng.standard_normal(SR), 0.3 * np.sin(2 * np.pi * 150 * np.arange(SR) / SR)])
    f = default_audio.clip_frames(y.astype(np.float32), 45)
    names = default_audio.feature_names
    f0, voiced = f[:, names.index("f0_hz")], f[:, names.index("voiced")]
    assert not voiced[:14].any() and not f0[:14].any()
    assert voiced[16:29].mean() < 0.2 and voiced[31:].all() and np.allclose(f0[31:], 150, rtol=2e-3)


def test_pyin_remains_available(default_audio):
    from gesturegen.features.audio import DefaultAudioEncoder
    enc = DefaultAudioEncoder(SR, FPS, n_mels=32, pitch="pyin")
    frames, _ = enc.encode(_speechlike(np.random.default_rng(0))[None], T)
    names = enc.feature_names
    v = frames[0, :, names.index("voiced")] > 0
    assert v.mean() > 0.4 and np.all((frames[0, v, names.index("f0_hz")] > 110) &
                                      (frames[0, v, names.index("f0_hz")] < 175))
    assert enc.describe()["pitch"]["method"] == "librosa.pyin" and "yin" in default_audio.describe()["pitch"]["method"]
    # everything but the pitch is the same as with yin
    same, _ = default_audio.encode(_speechlike(np.random.default_rng(0))[None], T)
    np.testing.assert_array_equal(frames[..., :-2], same[..., :-2])
    with pytest.raises(ValueError, match="pitch must be one of"):
        DefaultAudioEncoder(pitch="crepe")


def test_per_clip_features_equal_per_window_features_away_from_the_edges(default_audio):
    """A window's frames sliced from its clip's features == the features of the window's own audio, except within
    one frame of the window edges (there the clip gives the neighbouring audio, the window zeros): exactly where
    frame instants coincide (start frame a multiple of 15), within a sample's shift otherwise."""
    from gesturegen.features.audio import slice_windows
    rng = np.random.default_rng(5)
    n_clip = 180                                              # a 12 s clip
    y = _speechlike(rng, 12 * SR)
    starts = np.array([0, 10, 15, 30, 45, 97, 146])           # 146 + 34 = 180: the last window ends at the clip end
    clip = default_audio.clip_frames(y, n_clip)
    frames, pooled = slice_windows(clip, starts, T, T)
    a0 = np.round(starts * SR / FPS).astype(int)
    audio = np.stack([np.pad(y[a:a + S], (0, S - y[a:a + S].shape[0])) for a in a0])   # zeros past the clip end
    win_frames, win_pooled = default_audio.encode(audio, T)
    names = default_audio.feature_names
    mel, onset, rms, f0, voiced = slice(0, 32), names.index("onset"), names.index("rms"), names.index("f0_hz"),         names.index("voiced")
    inner = slice(1, T - 1)                                   # analysis windows inside the window's audio
    for b, s in enumerate(starts):
        got, want = frames[b], win_frames[b]
        if s % 15 == 0:                                       # the same samples at the same instants
            np.testing.assert_array_equal(got[inner, [rms, f0, voiced]], want[inner, [rms, f0, voiced]])
            np.testing.assert_allclose(got[inner, mel], want[inner, mel], atol=1e-4)
            np.testing.assert_allclose(got[3:T - 3, onset], want[3:T - 3, onset], rtol=1e-4)  # librosa: float32
        else:                                                 # frame instants up to one sample apart
            assert np.abs(np.round((s + np.arange(T)) * SR / FPS) - a0[b] - np.round(np.arange(T) * SR / FPS)).max() <= 1
            np.testing.assert_allclose(got[inner, mel], want[inner, mel], atol=0.2)
            np.testing.assert_allclose(got[inner, rms], want[inner, rms], rtol=1e-2)
            assert (got[inner, voiced] == want[inner, voiced]).mean() > 0.9
            both = (got[inner, voiced] > 0) & (want[inner, voiced] > 0)
            np.testing.assert_allclose(got[inner, f0][both], want[inner, f0][both], rtol=5e-3)
        # at the edges the window saw zeros where the clip has speech: the first frame's log-mel differs
        if s > 0:
            assert not np.allclose(got[0, mel], want[0, mel], atol=1e-3)
    np.testing.assert_allclose(pooled, win_pooled, rtol=0.2, atol=1.0)   # 2 of 34 frames differ at most
    # slicing: frames are the clip's frames, pooled = mean and std over the span frames
    np.testing.assert_array_equal(frames[5], clip[97:97 + T])
    np.testing.assert_allclose(pooled[5], np.concatenate([clip[97:131].mean(0), clip[97:131].std(0)]), rtol=1e-5,
                               atol=1e-5)
    f42, p42 = slice_windows(clip, starts[:2], T, 42)         # a faithful 42-frame span: pooled over 42 frames
    np.testing.assert_array_equal(f42, frames[:2])
    np.testing.assert_allclose(p42[1, :clip.shape[1]], clip[10:52].mean(0), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="need 181 clip frames, got 180"):
        slice_windows(clip, np.array([147]), T, T)


def test_long_clips_are_computed_in_chunks_with_the_same_result(default_audio, monkeypatch):
    from gesturegen.features import audio
    y = _speechlike(np.random.default_rng(2), 50 * SR)       # 750 frames: two chunks of 512
    chunked = default_audio.clip_frames(y, 750)
    monkeypatch.setattr(audio, "_CHUNK_FRAMES", 10_000)
    whole = default_audio.clip_frames(y, 750)
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6)
    # a frame depends only on the audio around it: the same frames of a longer recording are the same
    longer = default_audio.clip_frames(np.concatenate([y, _speechlike(np.random.default_rng(9), 10 * SR)]), 900)
    np.testing.assert_allclose(longer[:748, [-4, -3, -2, -1]], whole[:748, [-4, -3, -2, -1]], rtol=1e-5, atol=1e-5)


# --- Data2Vec with tiny random models -----------------------------------------------------------------------------

def test_data2vec_audio_tiny_frames_pooling_and_projection(tiny_d2v, tmp_path):
    import torch

    from gesturegen.features.data2vec import (
        Data2VecAudioEncoder,
        hidden_frame_geometry,
        load_projection,
        make_projection,
    )
    enc = Data2VecAudioEncoder(tiny_d2v["audio"], sample_rate_hz=SR, fps=FPS, pooling="mean")
    assert hidden_frame_geometry(enc.model.config) == (320, 400)
    rng = np.random.default_rng(0)
    audio = np.stack([_speechlike(rng), 0.1 * rng.standard_normal(S).astype(np.float32)])
    frames, pooled = enc.encode(audio, T)
    assert frames.shape == (2, T, 16) and pooled.shape == (2, 16)
    # reference: the model run directly on the normalised input, then sampled at the frame instants
    x = torch.as_tensor((audio - audio.mean(1, keepdims=True)) / np.sqrt(audio.var(1, keepdims=True) + 1e-7))
    with torch.inference_mode():
        h = enc.model(input_values=x, attention_mask=torch.ones_like(x, dtype=torch.long)).last_hidden_state.numpy()
    np.testing.assert_allclose(pooled, h.mean(1), atol=1e-4)
    k = 9                                          # instant 9/15 s = sample 9600 → hidden position (9600-199.5)/320
    pos = (k * SR / FPS - 199.5) / 320
    j = int(pos)
    np.testing.assert_allclose(frames[:, k], (1 - (pos - j)) * h[:, j] + (pos - j) * h[:, j + 1], atol=1e-4)
    np.testing.assert_allclose(frames[:, 0], h[:, 0], atol=1e-4)                 # clamped before the first centre
    # silent and zero-length audio: no crash, finite
    for a in (np.zeros((1, S), np.float32), np.zeros((1, 0), np.float32)):
        f, p = enc.encode(a, T)
        assert f.shape == (1, T, 16) and np.isfinite(f).all() and np.isfinite(p).all()
    # projection: drawn once from the seed, saved, and reused as is
    proj = Data2VecAudioEncoder(tiny_d2v["audio"], sample_rate_hz=SR, fps=FPS, pooling="projection", seed=7)
    assert proj.pooled_dim == 512
    path = proj.save_projection(tmp_path / "audio_projection.safetensors")
    w = load_projection(path)
    torch.testing.assert_close(w, make_projection(32, 7))
    again = Data2VecAudioEncoder(tiny_d2v["audio"], sample_rate_hz=SR, fps=FPS, pooling="projection", projection=w)
    _, p1 = proj.encode(audio, T)
    _, p2 = again.encode(audio, T)
    np.testing.assert_array_equal(p1, p2)
    stats = np.concatenate([h.mean(1), h.std(1)], 1)
    np.testing.assert_allclose(p1, stats @ w.numpy(), atol=1e-3)
    meta = proj.describe()
    assert meta["pooling"] == "projection" and set(meta["files_sha256"]) >= {"config.json", "model.safetensors",
                                                                               "preprocessor_config.json"}


def test_data2vec_text_tiny_pad_id_mask_and_frames(tiny_d2v):
    from gesturegen.features.data2vec import Data2VecTextEncoder
    enc = Data2VecTextEncoder(tiny_d2v["text"], fps=FPS)
    assert enc.tokenizer.pad_token_id == 1 and enc.model.config.pad_token_id == 1
    long = [("we", 0.0, 0.2), ("talk", 0.3, 0.5), ("and", 0.6, 0.7), ("move", 10 / FPS, 15 / FPS),
            ("tokenizer", 1.2, 1.5)]
    short = [("hello", 10 / FPS, 15 / FPS)]
    frames, pooled = enc.encode([long, short], T)
    assert frames.shape == (2, T, 16) and pooled.shape == (2, 16)
    assert np.flatnonzero(np.abs(frames[1]).sum(1)).tolist() == list(range(10, 16))
    # pad id 1 + attention mask: the short window padded in a batch == encoded alone
    f1, p1 = enc.encode([short], T)
    np.testing.assert_allclose(p1[0], pooled[1], atol=1e-5)
    np.testing.assert_allclose(f1[0], frames[1], atol=1e-5)
    meta = enc.describe()
    assert meta["pad_token_id"] == 1 and not meta["pooled_l2_normalised"] and meta["repo"] == "facebook/data2vec-text-base"
    assert {"vocab.json", "merges.txt", "model.safetensors", "config.json"} <= set(meta["files_sha256"])


def test_data2vec_text_loads_pytorch_bin_weights(tiny_d2v, tmp_path):
    import torch
    from safetensors.torch import load_file

    from gesturegen.features.data2vec import Data2VecTextEncoder
    folder = shutil.copytree(tiny_d2v["text"], tmp_path / "bin")
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    a = Data2VecTextEncoder(tiny_d2v["text"], fps=FPS).encode([[("hello", 0.0, 1.0)]], T)
    b = Data2VecTextEncoder(folder, fps=FPS).encode([[("hello", 0.0, 1.0)]], T)
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)


def test_missing_or_incomplete_data2vec_folder_says_what_and_how(tiny_d2v, tmp_path):
    from gesturegen.features.data2vec import Data2VecAudioEncoder, Data2VecTextEncoder
    with pytest.raises(ModelFolderError, match=r"does not exist.*huggingface-cli download "
                                               r"facebook/data2vec-audio-base-960h --local-dir"):
        Data2VecAudioEncoder(tmp_path / "nowhere")
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(tiny_d2v["audio"] / "config.json", partial)
    with pytest.raises(ModelFolderError) as e:
        Data2VecAudioEncoder(partial)
    msg = str(e.value)
    assert "model.safetensors or" in msg and "pytorch_model.bin" in msg and "preprocessor_config.json" in msg
    assert "config.json;" not in msg and f"--local-dir {partial}" in msg
    text = shutil.copytree(tiny_d2v["text"], tmp_path / "text")
    (text / "merges.txt").unlink()
    with pytest.raises(ModelFolderError, match=r"missing: tokenizer.json or vocab.json\+merges.txt.*"
                                               r"facebook/data2vec-text-base"):
        Data2VecTextEncoder(text)
    # the audio folder given as the text one: wrong model type
    with pytest.raises(ModelFolderError, match="model_type 'data2vec-audio'"):
        Data2VecTextEncoder(shutil.copytree(tiny_d2v["audio"], tmp_path / "wrong"))


def test_weights_that_do_not_cover_the_model_raise(tiny_d2v, tmp_path):
    from gesturegen.features.data2vec import Data2VecAudioEncoder
    folder = shutil.copytree(tiny_d2v["audio"], tmp_path / "more_layers")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["num_hidden_layers"] = 2                   # layer 1 has no weights in the file: it would be random
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(FeatureError, match="missing.*would be random"):
        Data2VecAudioEncoder(folder)


# --- checks and the reader ----------------------------------------------------------------------------------------

def test_check_finite_names_split_and_window():
    a = np.zeros((4, 3, 2), np.float32)
    check_finite({"audio_frames": a}, "val", offset=16)
    a[2, 1, 0] = np.nan
    with pytest.raises(FeatureError, match=r"split 'val': audio_frames has NaN/inf for window 18"):
        check_finite({"audio_frames": a}, "val", offset=16)


def _write_features(d: Path, n: int = 5, t: int = T, dims=(6, 12, 8, 8)) -> Path:
    from gesturegen.data.windowstore import array_checksums
    from gesturegen.features import ARRAY_NAMES, FEATURES_FORMAT, FEATURES_VERSION
    from gesturegen.io import write_json
    d.mkdir(parents=True)
    da, dpa, dt, dpt = dims
    np.save(d / "audio_frames.npy", np.zeros((n, t, da), np.float32))
    np.save(d / "audio_pooled.npy", np.zeros((n, dpa), np.float32))
    np.save(d / "text_frames.npy", np.zeros((n, t, dt), np.float32))
    np.save(d / "text_pooled.npy", np.zeros((n, dpt), np.float32))
    write_json(d / "meta.json", {"format": FEATURES_FORMAT, "version": FEATURES_VERSION, "n_windows": n,
                                 "n_frames": t, "dims": {"audio_frames": da, "audio_pooled": dpa,
                                                         "text_frames": dt, "text_pooled": dpt},
                                 "checksums": array_checksums(d, ARRAY_NAMES)})
    return d


def _windows(n: int, t: int = T):
    from gesturegen.data.windowstore import WindowSplit
    return WindowSplit(Path("windows/val"), {"n_frames": t, "n_windows": n}, np.zeros((n, t, 3), np.float32),
                       np.zeros((n, t, 1, 3), np.float32), np.zeros((n, 10), np.float16), np.zeros(n, np.int32))


def test_open_features_memmaps_and_validates(tmp_path):
    d = _write_features(tmp_path / "ok")
    fs = open_features(d, _windows(5))
    assert isinstance(fs, FeatureSplit) and len(fs) == 5 and isinstance(fs.text_frames, np.memmap)
    with pytest.raises(FeatureError, match=r"does not match the windows.*N=5 vs 7.*re-run extract_features"):
        open_features(d, _windows(7))
    with pytest.raises(FeatureError, match=r"frames=34 vs 30"):
        open_features(d, _windows(5, 30))
    bad = _write_features(tmp_path / "bad")
    np.save(bad / "text_frames.npy", np.zeros((5, T, 9), np.float32))     # dims disagree with meta.json
    with pytest.raises(FeatureError, match=r"text_frames.npy: shape \(5, 34, 9\).*\(5, 34, 8\)"):
        open_features(bad)
    (bad / "audio_pooled.npy").unlink()
    with pytest.raises(FeatureError, match="audio_pooled.npy: missing"):
        open_features(bad)
    with pytest.raises(FeatureError, match="no meta.json"):
        open_features(tmp_path)


def test_open_features_verifies_checksums(tmp_path):
    from gesturegen.io import read_json, write_json
    d = _write_features(tmp_path / "f", n=100)
    with open(d / "text_pooled.npy", "r+b") as fh:  # one byte of window 70's pooled text vector
        fh.seek(128 + 70 * 8 * 4 + 3)
        fh.write(b"\x7f")
    with pytest.raises(FeatureError, match=r"f/text_pooled.npy \(checked against .*meta.json\): the content does "
                                           r"not match its blake2b: rows \(windows\) 64-99 .*re-run extract_features"):
        open_features(d)
    assert len(open_features(d, verify=False)) == 100
    meta = read_json(d / "meta.json")
    del meta["checksums"]
    write_json(d / "meta.json", meta)
    with pytest.raises(FeatureError, match=r"no checksums for .*re-run extract_features"):
        open_features(d)


def test_sha256_files_is_stable(tmp_path):
    (tmp_path / "a").write_text("x")
    (tmp_path / "b").write_text("y")
    h = sha256_files(tmp_path, ["b", "a"])
    assert list(h) == ["a", "b", "combined"] and h == sha256_files(tmp_path, ["a", "b"])


def test_data2vec_loads_from_the_hugging_face_cache_by_repo_id(tmp_path, monkeypatch):
    """A repo id in params resolves to the local HF cache snapshot (nothing is downloaded)."""
    import huggingface_hub.constants

    from gesturegen.config import ExtractFeaturesParams
    from gesturegen.features import cached_snapshot, make_encoders

    cache = tmp_path / "hub"
    repo = cache / "models--facebook--data2vec-audio-base-960h"
    revision = "0123456789abcdef0123456789abcdef01234567"
    make_tiny_data2vec_audio(repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert cached_snapshot("facebook/data2vec-audio-base-960h") == repo / "snapshots" / revision
    assert cached_snapshot("facebook/not-in-the-cache") is None
    assert cached_snapshot("data/models/data2vec-audio-base-960h") is None      # a path, never looked up
    p = ExtractFeaturesParams(audio_encoder="data2vec", data2vec_audio_dir="facebook/data2vec-audio-base-960h")
    audio, _ = make_encoders(p, sample_rate_hz=16000, fps=15, seed=0, root=tmp_path)
    frames, pooled = audio.encode(np.zeros((1, 36267), np.float32), 34)
    assert frames.shape == (1, 34, 16) and np.isfinite(pooled).all()
