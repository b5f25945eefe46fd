"""A user's recording, ready for generation: the audio as 16 kHz mono float32, and its word timings from a
transcript (forced alignment, offline: pocketsphinx ships an English acoustic model and dictionary), from a words
file (word, start, end in seconds, tab-separated), or from speech recognition with a local Whisper model folder
(faster-whisper).

Every check names the file, the line or the words, and what to do about it; nothing is dropped silently.
"""
from __future__ import annotations

import csv
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
ALIGN_FPS = 100                 # pocketsphinx frames per second
_FRAME = SAMPLE_RATE // ALIGN_FPS
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"}
UNCOVERED_SPEECH_MAX = 0.25     # loud frames the alignment leaves in silence above this share: transcript too short
LOUD_BELOW_PEAK_DB = 30.0       # a 10 ms frame is speech when within this many dB of the recording's loud frames
WEAK_WORD_SCORE = 0.5           # aligned words with a lower acoustic posterior are listed in the notes


class RecordingError(ValueError):
    """A recording or words file that cannot be used; the message names the file and the fix."""


class AlignmentError(RecordingError):
    """The transcript could not be aligned to the speech (it does not match, or has words the aligner lacks)."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float                # seconds
    end: float
    score: float | None = None  # the aligner's acoustic posterior (0-1); None for words given by the user


@dataclass(frozen=True)
class Recording:
    path: Path
    audio: np.ndarray           # float32, mono, SAMPLE_RATE
    source_rate: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.audio.size / SAMPLE_RATE


@dataclass(frozen=True)
class Alignment:
    words: list[Word]
    notes: list[str] = field(default_factory=list)


def load_recording(path: str | Path) -> Recording:
    """Any WAV (or other file libsndfile reads): any sample rate, any channel count, integer or float samples;
    averaged to mono and resampled to 16 kHz (soxr, high quality)."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise RecordingError(f"{path}: not a readable audio file ({e}); give a WAV file (any sample rate, mono or "
                             f"stereo)") from None
    if data.shape[0] == 0:
        raise RecordingError(f"{path}: the recording is empty (0 samples)")
    if not np.isfinite(data).all():
        raise RecordingError(f"{path}: {int((~np.isfinite(data)).sum())} samples are NaN or infinite")
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return Recording(path, np.ascontiguousarray(mono, dtype=np.float32), int(rate), int(data.shape[1]))


def read_words(path: str | Path, duration_s: float, tolerance_s: float = 0.05) -> list[Word]:
    """A words file: one word per line, `word<TAB>start<TAB>end` in seconds, in time order, inside the recording
    (`tolerance_s` past its end allowed); a first line `word start end` is a header. Errors name the line."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such words file")
    words: list[Word] = []
    with path.open(newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if n == 1 and [c.strip().lower() for c in row] == ["word", "start", "end"]:
                continue
            if len(row) != 3:
                raise RecordingError(f"{path}:{n}: expected 3 tab-separated columns (word, start, end in seconds), "
                                     f"got {len(row)}: {row!r}")
            text = row[0].strip()
            try:
                start, end = float(row[1]), float(row[2])
            except ValueError:
                raise RecordingError(f"{path}:{n}: start and end must be numbers of seconds, got {row[1]!r} and "
                                     f"{row[2]!r}") from None
            if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end < start:
                raise RecordingError(f"{path}:{n}: {text!r} from {start} to {end} s: times must be finite, >= 0 and "
                                     f"end >= start")
            if end > duration_s + tolerance_s:
                raise RecordingError(f"{path}:{n}: {text!r} ends at {end} s, after the end of the recording "
                                     f"({duration_s:.3f} s); is this the words file of this recording?")
            if words and start < words[-1].start:
                raise RecordingError(f"{path}:{n}: {text!r} starts at {start} s, before the previous word "
                                     f"{words[-1].text!r} ({words[-1].start} s); sort the words by time")
            if not text:
                raise RecordingError(f"{path}:{n}: empty word")
            words.append(Word(text, start, end))
    if not words:
        raise RecordingError(f"{path}: no words in the file")
    return words


def transcript_words(text: str) -> list[str]:
    """The words of a plain-text transcript as the aligner's dictionary spells them (lower case, apostrophes
    kept, punctuation dropped)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.lower())


def speech_frames(audio: np.ndarray) -> np.ndarray:
    """(n_frames,) bool: the 10 ms frames with speech energy: louder than halfway (in dB) from the noise floor (10th
    percentile) to the loud frames (95th), and within LOUD_BELOW_PEAK_DB of the loud frames."""
    n = audio.size // _FRAME
    if n == 0:
        return np.zeros(0, bool)
    rms = np.sqrt(np.mean(audio[: n * _FRAME].reshape(n, _FRAME).astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-8))
    floor, peak = np.percentile(db, 10), np.percentile(db, 95)
    # above the middle of the noise floor and the loud frames, and never far below the loud frames
    return db > max(peak - LOUD_BELOW_PEAK_DB, (floor + peak) / 2, -70.0)


def align_transcript(rec: Recording, text: str, transcript: str | Path = "the transcript") -> Alignment:
    """Word timings of `text` in the recording by forced alignment (pocketsphinx, its US English model).

    Raises AlignmentError when a word is not in the dictionary (named), when no alignment exists (the transcript
    does not match the speech), or when the alignment leaves more than UNCOVERED_SPEECH_MAX of the speech frames in
    silence (the transcript is shorter than what is said)."""
    from pocketsphinx import Decoder

    words = transcript_words(text)
    if not words:
        raise AlignmentError(f"{transcript}: no words to align")
    decoder = Decoder(samprate=SAMPLE_RATE, bestpath=False, loglevel="FATAL")
    unknown = sorted({w for w in words if decoder.lookup_word(w) is None})
    if unknown:
        raise AlignmentError(f"{transcript}: {len(unknown)} word(s) not in the aligner's English dictionary: "
                             f"{unknown[:20]}; spell them as they sound (e.g. numbers as words), or give the word "
                             f"timings with --words")
    pcm = (np.clip(rec.audio, -1.0, 1.0) * 32767).astype(np.int16)
    decoder.set_align_text(" ".join(words))
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    segments = decoder.seg()
    if segments is None:
        raise AlignmentError(f"{transcript} does not match the speech of {rec.path} ({rec.duration_s:.1f} s): the "
                             f"aligner found no path through its {len(words)} words; check that it is the "
                             f"transcript of this recording")
    out, silent = [], []
    for s in segments:
        start, end = s.start_frame / ALIGN_FPS, (s.end_frame + 1) / ALIGN_FPS
        if s.word in _FILLERS:
            silent.append((s.start_frame, s.end_frame + 1))
            continue
        out.append(Word(re.sub(r"\(\d+\)$", "", s.word), start, end, float(s.ascore)))
    loud = speech_frames(rec.audio)
    in_silence = np.zeros_like(loud)
    for a, b in silent:
        in_silence[a:b] = True
    uncovered = float((loud & in_silence).sum() / max(loud.sum(), 1))
    if uncovered > UNCOVERED_SPEECH_MAX:
        raise AlignmentError(f"{transcript} covers only part of the speech of {rec.path}: {uncovered:.0%} of the "
                             f"frames with speech fall outside its {len(words)} aligned words; give the whole "
                             f"transcript of this recording")
    notes = []
    weak = [w.text for w in out if w.score is not None and w.score < WEAK_WORD_SCORE]
    if weak:
        notes.append(f"{len(weak)} aligned word(s) fit the audio poorly (posterior < {WEAK_WORD_SCORE}): {weak[:10]}; "
                     f"check the transcript near them")
    if [w.text for w in out] != words:
        raise AlignmentError(f"{transcript}: the aligner returned {len(out)} words for {len(words)} in the "
                             f"transcript")
    return Alignment(out, notes)


MIN_WORD_S = 0.02               # Whisper's time step: a recognised word gets at least this length


def recognize_words(rec: Recording, model_dir: str | Path, language: str | None = "en",
                    threads: int = 1) -> Alignment:
    """Word timings by speech recognition (faster-whisper) with a local CTranslate2 Whisper model folder (model.bin,
    tokenizer.json; nothing is downloaded). Words are stripped of surrounding punctuation, kept in time order within
    the recording and given at least MIN_WORD_S each. Raises RecordingError for a folder that is not such a model,
    AlignmentError when nothing is recognised."""
    folder = Path(model_dir)
    missing = [f for f in ("model.bin", "config.json", "tokenizer.json") if not (folder / f).is_file()]
    if missing:
        raise RecordingError(f"--asr-model {folder}: not a local faster-whisper model folder (missing "
                             f"{', '.join(missing)}); convert one with `ct2-transformers-converter --model "
                             f"openai/whisper-small --output_dir DIR --copy_files tokenizer.json "
                             f"preprocessor_config.json` on a machine with network, or copy a converted one "
                             f"(e.g. Systran/faster-whisper-small) here")
    from faster_whisper import WhisperModel

    try:
        model = WhisperModel(str(folder), device="cpu", cpu_threads=threads, local_files_only=True)
    except (RuntimeError, ValueError, OSError) as e:
        raise RecordingError(f"--asr-model {folder}: CTranslate2 cannot load the model ({e})") from None
    lang = language if model.model.is_multilingual else None
    segments, _ = model.transcribe(rec.audio, language=lang, word_timestamps=True, beam_size=5,
                                   condition_on_previous_text=False, vad_filter=False)
    out, dropped = [], 0
    for seg in segments:
        for w in seg.words or ():
            text = w.word.strip().strip(string.punctuation.replace("'", "") + "\u201c\u201d\u2018\u2019").strip("'")
            if not text:
                dropped += 1
                continue
            start = min(max(float(w.start), 0.0), rec.duration_s)
            out.append(Word(text, start, float(w.end), float(w.probability)))
    if not out:
        raise AlignmentError(f"speech recognition with {folder} found no words in {rec.path} "
                             f"({rec.duration_s:.1f} s); give --transcript or --words instead")
    out.sort(key=lambda w: w.start)
    fixed = []
    for i, w in enumerate(out):
        nxt = out[i + 1].start if i + 1 < len(out) else rec.duration_s
        end = min(max(w.end, w.start + MIN_WORD_S), max(nxt, w.start + MIN_WORD_S), rec.duration_s)
        fixed.append(Word(w.text, w.start, max(end, w.start), w.score))
    notes = [f"word timings from speech recognition ({folder.name}): {len(fixed)} words"]
    if dropped:
        notes.append(f"{dropped} recognised token(s) without letters or digits (punctuation) were left out")
    short = sum(w.end - w.start < MIN_WORD_S - 1e-9 for w in fixed)
    if short:
        notes.append(f"{short} word(s) at the very end of the recording are shorter than {MIN_WORD_S} s")
    return Alignment(fixed, notes)
