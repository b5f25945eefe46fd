"""A user's recording: any WAV to 16 kHz mono, words files, forced alignment of a transcript (pocketsphinx) on the
real CMU ARCTIC recording in ../shared/data/speech, and speech recognition through faster-whisper with a tiny
scripted model (tests.tiny_whisper)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from gesturegen.recording import (
    AlignmentError,
    RecordingError,
    align_transcript,
    load_recording,
    read_words,
    recognize_words,
    speech_frames,
    transcript_words,
)
from tests.conftest import ROOT

SPEECH = ROOT.parent / "shared" / "data" / "speech"
WAV, TXT = SPEECH / "arctic_a0007.wav", SPEECH / "arctic_a0007.txt"
needs_arctic = pytest.mark.skipif(not WAV.is_file(), reason="../shared/data/speech/arctic_a0007.wav not present")


@pytest.fixture(scope="module")
def arctic():
    return load_recording(WAV)


@needs_arctic
def test_the_transcript_is_aligned_word_by_word_inside_the_speech(arctic):
    a = align_transcript(arctic, TXT.read_text(), TXT)
    assert [w.text for w in a.words] == transcript_words(TXT.read_text()) == [
        "and", "you", "always", "want", "to", "see", "it", "in", "the", "superlative", "degree"]
    starts = np.array([w.start for w in a.words])
    ends = np.array([w.end for w in a.words])
    assert np.all(np.diff(starts) > 0) and np.all(ends > starts) and np.all(starts[1:] >= ends[:-1] - 1e-9)
    assert all(w.score is not None and w.score > 0.5 for w in a.words) and a.notes == []
    # independent of the aligner: the speech energy of the recording starts and ends where the words do
    loud = np.flatnonzero(speech_frames(arctic.audio)) / 100
    assert abs(starts[0] - loud[0]) < 0.1 and abs(ends[-1] - (loud[-1] + 0.01)) < 0.15
    # the longest word is the longest span
    assert max(a.words, key=lambda w: w.end - w.start).text == "superlative"


@needs_arctic
def test_any_rate_and_channel_count_is_read_as_16k_mono(arctic, tmp_path):
    import soxr

    stereo = np.stack([arctic.audio, 0.5 * arctic.audio], axis=1)
    hi = soxr.resample(stereo, 16000, 44100)
    sf.write(tmp_path / "s.wav", hi, 44100, subtype="PCM_24")
    rec = load_recording(tmp_path / "s.wav")
    assert (rec.source_rate, rec.channels) == (44100, 2) and rec.audio.dtype == np.float32
    assert abs(rec.duration_s - arctic.duration_s) < 1e-3
    a, b = align_transcript(arctic, TXT.read_text()), align_transcript(rec, TXT.read_text())
    assert max(abs(x.start - y.start) + abs(x.end - y.end) for x, y in zip(a.words, b.words)) <= 0.04


@needs_arctic
@pytest.mark.parametrize("text, match", [
    ("The quick brown fox jumps over the lazy dog.", "does not match the speech"),
    ("And you always want to see it", r"covers only part of the speech.*of the frames with speech"),
    ("And you always want to see it in the xyzzy degree", r"not in the aligner's English dictionary: \['xyzzy'\]"),
    ("...", "no words to align"),
])
def test_a_transcript_that_does_not_fit_is_refused(arctic, text, match):
    with pytest.raises(AlignmentError, match=match):
        align_transcript(arctic, text)


def test_unreadable_and_empty_recordings_are_refused(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x00\x00junk" * 10)
    with pytest.raises(RecordingError, match=r"junk\.wav: not a readable audio file"):
        load_recording(tmp_path / "junk.wav")
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(RecordingError, match=r"empty\.wav: the recording is empty"):
        load_recording(tmp_path / "empty.wav")
    with pytest.raises(RecordingError, match="no such file"):
        load_recording(tmp_path / "missing.wav")


def _words(tmp_path, text: str):
    p = tmp_path / "w.tsv"
    p.write_text(text)
    return p


def test_words_files_are_read_and_checked_by_line(tmp_path):
    words = read_words(_words(tmp_path, "word\tstart\tend\nhello\t0.1\t0.4\n\nworld\t0.5\t0.9\n"), 2.0)
    assert [(w.text, w.start, w.end) for w in words] == [("hello", 0.1, 0.4), ("world", 0.5, 0.9)]
    for text, match in [
        ("hello\t0.5\t0.9\nworld\t0.1\t0.4\n", r"w\.tsv:2: 'world' starts at 0\.1 s, before the previous word"),
        ("hello\t0.1\t0.4\nworld\t1.5\t2.5\n", r"w\.tsv:2: 'world' ends at 2\.5 s, after the end of the recording"),
        ("hello\t0.1\n", r"w\.tsv:1: expected 3 tab-separated columns"),
        ("hello\tx\t0.4\n", r"w\.tsv:1: start and end must be numbers"),
        ("hello\t0.4\t0.1\n", r"w\.tsv:1: 'hello' from 0\.4 to 0\.1 s"),
        ("word\tstart\tend\n", r"no words in the file"),
    ]:
        with pytest.raises(RecordingError, match=match):
            read_words(_words(tmp_path, text), 2.0)


SCRIPT = ["Author", "of", "the", "danger", "trail,"]


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    from tests.tiny_whisper import build_scripted_whisper

    root = tmp_path_factory.mktemp("whisper")
    return {"words": build_scripted_whisper(root / "words", SCRIPT, end_s=3.5),
            "punctuation": build_scripted_whisper(root / "punctuation", ["...", "!"], end_s=3.5)}


@needs_arctic
def test_speech_recognition_gives_words_in_order_inside_the_recording(arctic, whisper):
    got = recognize_words(arctic, whisper["words"])
    # punctuation stripped, case kept; every word at least 20 ms long, in order, inside the 4 s recording
    assert [w.text for w in got.words] == ["Author", "of", "the", "danger", "trail"]
    starts = [w.start for w in got.words]
    assert starts == sorted(starts) and all(0 <= w.start < w.end <= arctic.duration_s for w in got.words)
    assert all(w.end - w.start >= 0.02 - 1e-9 for w in got.words)
    assert all(0 <= w.score <= 1 for w in got.words)
    assert "speech recognition" in got.notes[0]


@needs_arctic
def test_speech_recognition_refuses_a_folder_without_a_model_and_says_when_no_word_is_heard(arctic, whisper,
                                                                                            tmp_path):
    with pytest.raises(RecordingError, match=r"not a local faster-whisper model folder \(missing model.bin, "
                                             r"config.json, tokenizer.json\)"):
        recognize_words(arctic, tmp_path)
    # a model that hears only punctuation: nothing is left, and the error says what to give instead
    with pytest.raises(AlignmentError, match=r"found no words in .*give --transcript or --words instead"):
        recognize_words(arctic, whisper["punctuation"])
