"""The voice signature and index behind `gesturegen generate --style REF.wav`: on the demo's espeak-ng speakers
(two male, two female voices), a recording of new sentences finds a training video of its own speaker, at any gain;
too little voiced speech is refused; an encoder without pitch columns uses its frames' statistics."""
from __future__ import annotations

import numpy as np
import pytest

from gesturegen.data.demo.sentences import make_sentence
from gesturegen.data.demo.speakers import make_speakers
from gesturegen.data.speech import synthesize
from gesturegen.features.audio import DefaultAudioEncoder
from gesturegen.style import MIN_VOICED_FRAMES, VoiceError, VoiceIndex, voice_signature

ENC = DefaultAudioEncoder(sample_rate_hz=16000, fps=15)


def _frames(audio: np.ndarray) -> np.ndarray:
    return ENC.clip_frames(np.asarray(audio, np.float32), int(np.ceil(audio.size / 16000 * 15)))


def _speech(voice, rng, n: int) -> np.ndarray:
    return np.concatenate([synthesize(make_sentence(rng), voice).audio for _ in range(n)])


@pytest.fixture(scope="module")
def voices():
    """4 demo speakers; per speaker two 'training videos' and one held-out recording, each of new sentences."""
    rng = np.random.default_rng(7)
    speakers = make_speakers(4, seed=1234)
    train = {f"spk{k}-v{v}": _frames(_speech(s.voice, rng, 3)) for k, s in enumerate(speakers) for v in range(2)}
    held_out = [_speech(s.voice, rng, 2) for s in speakers]
    return VoiceIndex.build(train, ENC.feature_names), held_out


def test_a_new_recording_finds_its_own_speaker_at_any_gain(voices):
    index, held_out = voices
    for k, audio in enumerate(held_out):
        for gain in (1.0, 0.2):
            ranking = index.ranking(voice_signature(_frames(gain * audio), ENC.feature_names), k=2)
            assert [v.split("-")[0] for v, _ in ranking] == [f"spk{k}"] * 2, (k, gain, ranking)
            assert ranking[0][1] <= ranking[1][1]


def test_the_gain_does_not_move_the_signature():
    audio = _speech(make_speakers(2, seed=3)[1].voice, np.random.default_rng(0), 1)
    a, b = (voice_signature(_frames(g * audio), ENC.feature_names) for g in (1.0, 0.1))
    # the loudness drops out: the mel shape (dB minus the frame's mean) and the pitch are those of the same voice
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()


def test_too_little_voiced_speech_is_refused_and_such_videos_are_left_out(voices):
    _, held_out = voices
    silence = _frames(np.zeros(16000 * 3, np.float32))
    with pytest.raises(VoiceError, match=rf"ref.wav: 0 voiced frames; a voice reference needs at least "
                                         rf"{MIN_VOICED_FRAMES}"):
        voice_signature(silence, ENC.feature_names, "ref.wav")
    speech = _frames(held_out[0])
    built = VoiceIndex.build({"quiet": silence, "talk": speech}, ENC.feature_names)
    assert built.videos == ("talk",)
    with pytest.raises(VoiceError, match="none of the 1 training videos"):
        VoiceIndex.build({"quiet": silence}, ENC.feature_names)


def test_an_encoder_without_pitch_columns_compares_frame_statistics():
    rng = np.random.default_rng(0)
    names = [f"d{i}" for i in range(8)]
    videos = {f"v{k}": rng.normal(k, 1.0, (200, 8)) for k in range(3)}
    index = VoiceIndex.build(videos, names)
    assert index.signatures.shape == (3, 16) and len(index.blocks) == 1
    assert index.ranking(voice_signature(rng.normal(2, 1.0, (100, 8)), names), k=1)[0][0] == "v2"
    with pytest.raises(VoiceError, match="3 frames"):
        voice_signature(rng.normal(size=(3, 8)), names)
