"""Speech synthesis with exact word timings: espeak-ng (the library shipped by `espeakng-loader`) through ctypes.

espeak-ng runs in synchronous retrieval mode; its callback hands over 22.05 kHz samples together with word and
phoneme events. A word owns the audio from its word event (a sample index, so exact) to the next word's event, and
its [start, end] are the first and last audible samples of that span on the returned 16 kHz waveform, so every
audible sample of a word lies in its [start, end]. Voices are our own espeak-ng variant files (pitch, formants) with
pitch flutter and roughness switched off: both read counters that persist across calls, which would make the audio
depend on what was said before. The 16 kHz audio comes from our own deterministic resampler (gesturegen.numerics):
libsoxr picks a SIMD engine at run time (SOXR_USE_SIMD) and designs its filters with libm, so its bits can differ
from machine to machine. espeak-ng itself calls libm (exp and cos, at a handful of fixed arguments per voice):
glibc's FMA and non-FMA variants agree on those, and its int16 samples do not change when glibc's FMA and AVX2 code
paths are switched off (tests/unit/test_data_determinism.py); another libm could still round one of them
differently, which is the one machine dependence left in the demo data.
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import math
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gesturegen import numerics

# --- espeak-ng constants (speak_lib.h) ---
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_AUTO = 0
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4

SILENCE_THRESHOLD = 1e-3  # |sample| at or below this counts as silence (about -60 dBFS)
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


class SpeechError(RuntimeError):
    """espeak-ng could not be loaded, initialised or could not speak a text."""


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Voice:
    """One speaker's voice: an espeak-ng variant (gender, pitch range in Hz, formant scale) plus rate and pitch."""
    gender: str = "male"                 # "male" | "female"
    pitch_hz: tuple[int, int] = (82, 118)  # variant `pitch` line: base and top of the range
    formant_scale: float = 1.0           # formant frequencies relative to the language default
    rate_wpm: int = 165                  # espeakRATE, words per minute (80..450)
    pitch: int = 50                      # espeakPITCH, 0..100
    pitch_range: int = 50                # espeakRANGE, 0..100 (intonation)
    language: str = "en-us"

    def variant_text(self) -> str:
        """The espeak-ng variant file for this voice."""
        lines = ["language variant", f"gender {self.gender}",
                 f"pitch {int(self.pitch_hz[0])} {int(self.pitch_hz[1])}",
                 "flutter 0",    # flutter reads a static table index that survives between calls
                 "roughness 8"]  # >= 8 disables the cycle-count modulation (also call-history dependent)
        for k in range(6):  # the first formant moves half as much; sqrt, not ** 0.5, which is libm's pow
            scale = self.formant_scale if k else math.sqrt(self.formant_scale)
            lines.append(f"formant {k} {round(100 * scale)} 100 100")
        return "\n".join(lines) + "\n"

    @property
    def variant_name(self) -> str:
        return "gg" + hashlib.sha1(self.variant_text().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Word:
    text: str        # lower-case, punctuation stripped
    start_s: float   # seconds from the start of the utterance audio
    end_s: float
    stressed: bool   # the word carries a primary stress (espeak's phoneme marker ')


@dataclass(frozen=True)
class Utterance:
    audio: np.ndarray            # (N,) float32 mono at sample_rate_hz
    sample_rate_hz: int
    words: tuple[Word, ...]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate_hz


# --- the library (a process-wide singleton) ---

class _Engine:
    """espeak-ng is one global state machine: initialise once, and run every call under the lock."""

    def __init__(self) -> None:
        import espeakng_loader  # imported here so that `import gesturegen.data.speech` never needs the library

        self.lock = threading.Lock()
        self._data_dir = self._overlay(Path(espeakng_loader.get_data_path()))
        try:
            self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as e:
            raise SpeechError(f"cannot load libespeak-ng from espeakng-loader ({e}); reinstall espeakng-loader") from e
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate_hz = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self._data_dir).encode(),
                                                    _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT)
        if self.sample_rate_hz <= 0:
            raise SpeechError(f"espeak_Initialize failed (data path {self._data_dir})")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, str, int]] = []
        self._callback = _Callback(self._on_synth)  # keep a reference: the library holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    @staticmethod
    def _overlay(data: Path) -> Path:
        # espeak-ng finds variants only in <data>/voices/!v; link the packaged data into a private folder and write
        # our variants there, leaving site-packages untouched.
        root = Path(tempfile.mkdtemp(prefix="gg-espeak-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        out = root / "espeak-ng-data"
        if len(str(out)) > 100:  # espeak-ng keeps the path in a 160-byte buffer, with file names appended
            raise SpeechError(f"temporary folder path too long for espeak-ng: {out}; set TMPDIR to a short path")
        out.mkdir()
        for entry in data.iterdir():
            if entry.name != "voices":
                os.symlink(entry, out / entry.name)
        (out / "voices" / "!v").mkdir(parents=True)
        return out

    def _on_synth(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            name = e.id.decode("ascii", "replace") if e.type == _EVENT_PHONEME else ""
            self._events.append((e.type, e.text_position, e.length, e.sample, name, e.audio_position))
            i += 1
        return 0

    def _set_voice(self, voice: Voice) -> None:
        path = self._data_dir / "voices" / "!v" / voice.variant_name
        if not path.exists():
            path.write_text(voice.variant_text())
        if self.lib.espeak_SetVoiceByName(f"{voice.language}+{voice.variant_name}".encode()) != 0:
            raise SpeechError(f"espeak-ng has no voice {voice.language!r}")
        for param, value in ((_PARAM_RATE, voice.rate_wpm), (_PARAM_PITCH, voice.pitch),
                             (_PARAM_RANGE, voice.pitch_range), (_PARAM_VOLUME, 70)):  # 70: keep clear of clipping
            self.lib.espeak_SetParameter(param, int(value), 0)

    def speak(self, text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[int, int, int, int, str, int]]]:
        """(int16 samples at the native rate, events (type, text_position, length, sample, phoneme, audio_position)).

        `sample` is the event's position in samples of this call's audio; `audio_position` is the same in whole ms.
        """
        data = text.encode("utf-8") + b"\0"
        with self.lock:
            self._set_voice(voice)
            self._chunks, self._events = [], []
            buf = ctypes.create_string_buffer(data)
            status = self.lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_AUTO, None, None)
            if status != 0:
                raise SpeechError(f"espeak_Synth failed with status {status} for {text[:40]!r}")
            self.lib.espeak_Synchronize()
            samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            return samples, self._events


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _get_engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


# --- public API ---

def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words of a text as (lower-case word, char start, char end)."""
    return [(m.group().lower(), m.start(), m.end()) for m in _WORD_RE.finditer(text)]


def _word_events(events: list, tokens: list[tuple[str, int, int]]) -> tuple[list[int | None], list[bool]]:
    """Native start sample (None: espeak gave the token no event of its own) and stress of each token."""
    starts: list[int | None] = [None] * len(tokens)
    stressed = [False] * len(tokens)
    current = -1
    for etype, pos, _length, sample, name, _ms in events:
        if etype == _EVENT_WORD:  # text_position is 1-based; a token read as several words keeps its first event
            idx = next((i for i, (_, a, b) in enumerate(tokens) if a <= pos - 1 < b), None)
            if idx is not None and idx > current:
                starts[idx], current = sample, idx
        elif etype == _EVENT_PHONEME and current >= 0 and name.startswith("'"):
            stressed[current] = True
    return starts, stressed


def synthesize(text: str, voice: Voice, sample_rate_hz: int = 16000) -> Utterance:
    """Speak `text` with `voice`; the same inputs give the same samples and timings, whatever ran before."""
    engine = _get_engine()
    tokens = tokenize(text)
    if not tokens:
        raise SpeechError(f"nothing to say in {text!r}")
    # espeak-ng reads some word pairs as one dictionary entry ("there was", "in the") with a single word event; a "|"
    # between the two keeps them apart at almost no cost to the prosody. Splitting one pair can expose the next.
    split = [False] * len(tokens)
    for _ in range(len(tokens)):
        spoken = text
        for i in reversed(range(1, len(tokens))):
            if split[i]:
                spoken = spoken[:tokens[i][1]] + "| " + spoken[tokens[i][1]:]
        native, events = engine.speak(spoken, voice)
        starts, stressed = _word_events(events, tokenize(spoken))
        missing = [i for i, s in enumerate(starts) if s is None]
        if not missing:
            break
        if missing[0] == 0 or all(split[i] for i in missing):
            raise SpeechError(f"espeak-ng gave no word event for {[tokens[i][0] for i in missing]} in {text!r}")
        for i in missing:
            split[i] = True
    sr_in = engine.sample_rate_hz
    audio = numerics.resample(native / 32768.0, sr_in, sample_rate_hz).astype(np.float32)

    # word i owns the samples from its event to the next word's event (the first word also owns anything before
    # it); its [start, end] is the first and last audible sample in that span, measured on the returned audio
    scale = sample_rate_hz / sr_in
    cuts = [0] + [min(len(audio), round(s * scale)) for s in starts[1:]] + [len(audio)]
    loud = np.abs(audio) > SILENCE_THRESHOLD
    words = []
    for i, (word, _, _) in enumerate(tokens):
        a, b = cuts[i], max(cuts[i + 1], cuts[i])
        idx = np.flatnonzero(loud[a:b])
        if idx.size:
            a, b = a + int(idx[0]), a + int(idx[-1]) + 1
        else:  # a silent word (should not happen): a zero-length word at its event
            a = b = min(round(starts[i] * scale), len(audio))
        words.append(Word(word, a / sample_rate_hz, b / sample_rate_hz, stressed[i]))
    return Utterance(audio, sample_rate_hz, tuple(words))
