"""espeak-ng speech synthesis: exact word timings, determinism, voices."""
import numpy as np
import pytest

from gesturegen.data.speech import SILENCE_THRESHOLD, SpeechError, Voice, synthesize, tokenize

MALE = Voice()
FEMALE = Voice(gender="female", pitch_hz=(160, 230), formant_scale=1.12, rate_wpm=175, pitch=60)
# "there was", "in the", "was a", "not a" are single dictionary entries with one word event in espeak-ng
MERGING = "There was a dog in the house, it was not a huge success for the team of my friends."


def _loud_runs(audio: np.ndarray, merge_s: float, sr: int) -> list[tuple[float, float]]:
    """Runs of audible samples (gaps shorter than merge_s joined), in seconds."""
    idx = np.flatnonzero(np.abs(audio) > SILENCE_THRESHOLD)
    runs, start, prev = [], idx[0], idx[0]
    for i in idx[1:]:
        if i - prev > merge_s * sr:
            runs.append((start / sr, (prev + 1) / sr))
            start = i
        prev = i
    runs.append((start / sr, (prev + 1) / sr))
    return runs


@pytest.mark.parametrize("voice", [MALE, FEMALE])
def test_every_audible_sample_lies_in_its_word(voice):
    u = synthesize(MERGING, voice)
    sr = u.sample_rate_hz
    assert sr == 16000 and u.audio.dtype == np.float32 and u.audio.ndim == 1
    assert [w.text for w in u.words] == [t for t, _, _ in tokenize(MERGING)]  # merged pairs were split again
    inside = np.zeros(len(u.audio), bool)
    prev_end = 0.0
    for w in u.words:
        assert prev_end <= w.start_s < w.end_s <= u.duration_s, w
        a, b = round(w.start_s * sr), round(w.end_s * sr)
        seg = np.abs(u.audio[a:b])
        # tight: the word starts and ends with audible samples, and lasts a plausible time
        assert seg[0] > SILENCE_THRESHOLD and seg[-1] > SILENCE_THRESHOLD, w
        assert 0.03 < w.end_s - w.start_s < 1.0, w
        inside[a:b] = True
        prev_end = w.end_s
    assert not (np.abs(u.audio[~inside]) > SILENCE_THRESHOLD).any()


def test_pauses_fall_between_words_and_match_the_sound():
    u = synthesize("One. Two. Elephant.", MALE)
    sr = u.sample_rate_hz
    runs = _loud_runs(u.audio, 0.12, sr)  # stop closures are shorter than 120 ms, sentence pauses much longer
    assert len(runs) == 3
    for w, (s, e) in zip(u.words, runs):
        assert w.start_s == pytest.approx(s, abs=1e-9) and w.end_s == pytest.approx(e, abs=1e-9)
    gaps = [b.start_s - a.end_s for a, b in zip(u.words, u.words[1:])]
    assert min(gaps) > 0.2
    # a long word takes longer than a short one, and content words carry the stress
    durations = {w.text: w.end_s - w.start_s for w in u.words}
    assert durations["elephant"] > 1.5 * durations["two"]
    assert all(w.stressed for w in u.words)
    v = synthesize("It is a big idea.", MALE)
    assert {w.text: w.stressed for w in v.words} == {"it": False, "is": False, "a": False, "big": True,
                                                      "idea": True}


def test_same_inputs_same_output_whatever_ran_before():
    first = synthesize(MERGING, MALE)
    for text in ("Hello there, my friend.", "One two three four five!", "It was a huge, huge success."):
        synthesize(text, FEMALE)
        synthesize(text, MALE)
    again = synthesize(MERGING, MALE)
    np.testing.assert_array_equal(first.audio, again.audio)
    assert first.words == again.words


def test_voices_differ_in_rate_and_pitch():
    import librosa
    slow = synthesize(MERGING, Voice(rate_wpm=130))
    fast = synthesize(MERGING, Voice(rate_wpm=200))
    assert slow.duration_s > 1.3 * fast.duration_s

    def median_f0(u):
        f0 = librosa.yin(u.audio, fmin=60, fmax=400, sr=u.sample_rate_hz, frame_length=1024)
        rms = librosa.feature.rms(y=u.audio, frame_length=1024, hop_length=256)[0][:len(f0)]
        return float(np.median(f0[rms > 0.05]))

    assert median_f0(synthesize(MERGING, FEMALE)) > 1.5 * median_f0(synthesize(MERGING, MALE))


def test_other_sample_rates_and_errors():
    u8 = synthesize("Big idea.", MALE, sample_rate_hz=8000)
    u16 = synthesize("Big idea.", MALE)
    assert u8.sample_rate_hz == 8000 and abs(u8.duration_s - u16.duration_s) < 1e-3
    assert [w.text for w in u8.words] == ["big", "idea"]
    with pytest.raises(SpeechError, match="nothing to say"):
        synthesize(" ... ", MALE)


def test_event_samples_agree_with_milliseconds_and_unicode_positions():
    from gesturegen.data.speech import _get_engine
    engine = _get_engine()
    _, events = engine.speak("The café was naïve, but the idea was big.", MALE)
    words = [e for e in events if e[0] == 1]
    assert len(words) >= 8
    for _, _, _, sample, _, ms in words:
        assert abs(sample * 1000 / engine.sample_rate_hz - ms) <= 1.0
    u = synthesize("The café was naïve, but the idea was big.", MALE)
    assert [w.text for w in u.words] == ["the", "café", "was", "naïve", "but", "the", "idea", "was", "big"]
    assert tokenize("don't ‘quote’ rock'n'roll, 1990") == [("don't", 0, 5), ("quote", 7, 12),
                                                          ("rock'n'roll", 14, 25), ("1990", 27, 31)]


def test_threads_share_the_engine_safely():
    from concurrent.futures import ThreadPoolExecutor
    texts = [f"Sentence number {w} is about a big idea." for w in ("one", "two", "three", "four", "five", "six")]
    alone = [synthesize(t, FEMALE if i % 2 else MALE) for i, t in enumerate(texts)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda it: synthesize(it[1], FEMALE if it[0] % 2 else MALE), enumerate(texts)))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.audio, b.audio)
        assert a.words == b.words
