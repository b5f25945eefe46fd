"""The offline default speech features, computed at exactly the motion frame rate, once per clip.

Frame k of an audio signal (a clip's whole audio, or one window's) is the instant t_k = k / fps after its first
sample (the time of motion frame k), i.e. the audio sample c_k = round(k * sr / fps). With sr = 16 kHz and fps = 15
the hop is 1066.67 samples, which no integer hop reproduces, so the frames are cut by hand around the centres c_k
(rounding error at most half a sample, 31 µs); K centres give exactly K frames, whatever the audio length (outside
the audio the signal is taken as zeros).

Per frame (Da = n_mels + 4, float32, raw values: nothing is standardised here; standardise with train statistics
downstream):
  mel_00 … mel_{n-1}   log-mel power in dB (10·log10, floor 1e-10 → silence is -100 dB): a periodic Hann window of
                       n_fft = 2·round(sr/fps) samples (2134 = 133 ms at 16 kHz) centred on c_k, so consecutive windows
                       overlap by half and every sample is weighted equally; Slaney mel filters from 0 to sr/2.
  onset                librosa onset strength (spectral flux of a 128-band log-mel at a 10 ms hop, 32 ms FFT, librosa's
                       80 dB floor below the signal's loudest bin): the maximum over the 10 ms frames within ±hop/2 of
                       c_k, so an onset between two motion frames is not lost.
  rms                  linear RMS amplitude of the samples within ±hop/2 of c_k (the frames tile the audio).
  f0_hz                fundamental frequency, 0 when unvoiced (silence is unvoiced); `pitch` chooses the estimator:
                       yin (default)  YIN (de Cheveigné & Kawahara 2002) on a 64 ms frame centred on c_k itself: the
                                      difference function over lags of 60–500 Hz, its cumulative-mean-normalised form
                                      (CMNDF), the first dip below 0.1 (else the global minimum), parabolic
                                      interpolation. Voiced when that CMNDF minimum (the aperiodicity) is below
                                      `voicing_threshold` and the frame's RMS is above -60 dBFS. Purely local: a frame
                                      depends only on the 64 ms around it.
                       pyin           librosa.pyin (60–500 Hz, 64 ms frames, 20 ms hop, 0.25-semitone grid, its HMM
                                      over the whole signal) sampled at c_k: linear interpolation between the two
                                      neighbouring pyin frames when both are voiced, otherwise the nearest frame's
                                      value. About 10× slower than all the other features together.
  voiced               1.0 if voiced (yin: at c_k; pyin: the pyin frame nearest to c_k), else 0.0.

Per clip (`clip_frames`, what extract_features uses): the features of frames 0 … K-1 of the clip's whole audio,
computed once; a window starting at clip frame s takes frames s … s+T-1, and its pooled vector (2·Da: mean, then
standard deviation) is taken over its audio span's frames s … s+span-1 (`slice_windows`). Overlapping windows share
the work, and a long recording at inference gets the same features as training.

Per window (`encode`, the same features of one window's own audio; kept for audio given window by window): the same
frames, except that (a) the window's frame k sits at sample round(s·sr/fps) + round(k·sr/fps) of the clip instead of
round((s+k)·sr/fps): the same sample when s is a multiple of 15 (the first frame on a whole second), otherwise at
most one sample apart; (b) what lies beyond the window edges is zeros instead of the neighbouring audio, which changes
the log-mel and RMS of the first and last frame (their analysis windows reach half a frame past the edge), the onset
strength of the first and last one or two frames, and the yin pitch within 32 ms of an edge; pyin's HMM decodes the
whole signal, so its voicing can change anywhere; (c) onset's 80 dB floor is relative to the loudest bin of the
clip instead of the window (it matters only in near-silence). In the `faithful` 42-frame span, the window audio was
cut at sample floor(s / T15 · len(audio)); per clip the frame instants are the clip's own (sample round((s+k)·sr/fps)).
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController  # a dependency of scikit-learn, hence of librosa

_F0_MIN_HZ, _F0_MAX_HZ = 60.0, 500.0
_PYIN_RESOLUTION = 0.25
_YIN_TROUGH = 0.1                      # YIN's absolute threshold: the first CMNDF dip below it is the period
_VOICING_MIN_RMS = 10 ** (-60 / 20)    # -60 dBFS: quieter frames are unvoiced whatever their periodicity
_CHUNK_FRAMES = 512                    # frame-local features are computed in blocks of this many frames
PITCH_METHODS = ("yin", "pyin")


def frame_centres(n_frames: int, sample_rate_hz: float, fps: float, first: int = 0) -> np.ndarray:
    """Sample index of each motion frame's instant: round(k * sr / fps), k = first … first + n_frames - 1."""
    return np.round(np.arange(first, first + n_frames) * (sample_rate_hz / fps)).astype(np.int64)


def pooled_frame_count(n_samples: int, n_frames: int, sample_rate_hz: float, fps: float) -> int:
    """Frames covering a window's whole audio span (at least the n_frames motion frames)."""
    return max(n_frames, round(n_samples * fps / sample_rate_hz))


def slice_windows(clip_frames: np.ndarray, start_frames: np.ndarray, n_frames: int,
                  span_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows from a clip's per-frame features (K, D): frames [s, s+n_frames) each, and the pooled mean and std over
    the span's frames [s, s+span_frames); every window must lie inside the K frames."""
    starts = np.asarray(start_frames, np.int64)
    span = max(span_frames, n_frames)
    if starts.size and (starts.min() < 0 or starts.max() + span > clip_frames.shape[0]):
        raise ValueError(f"windows starting at frames {starts.min()}-{starts.max()} need {starts.max() + span} clip "
                         f"frames, got {clip_frames.shape[0]}")
    idx = starts[:, None] + np.arange(span)[None, :]
    spans = clip_frames[idx].astype(np.float64)                          # (B, span, D)
    pooled = np.concatenate([spans.mean(1), spans.std(1)], axis=1)
    return spans[:, :n_frames].astype(np.float32), pooled.astype(np.float32)


def yin(frames: np.ndarray, sr: int, fmin: float = _F0_MIN_HZ, fmax: float = _F0_MAX_HZ,
        trough: float = _YIN_TROUGH) -> tuple[np.ndarray, np.ndarray]:
    """YIN on each row of `frames` (B, L): (f0 in Hz, the CMNDF value at the chosen lag = aperiodicity, 0 … ~1).

    Difference function over an integration window of L/2 samples for lags up to sr/fmin (computed through an FFT
    autocorrelation); the period is the first local minimum of the CMNDF below `trough` within [sr/fmax, sr/fmin],
    else its global minimum there, refined by parabolic interpolation.
    """
    frames = np.asarray(frames, np.float64)
    n_rows, length = frames.shape
    tmin, tmax = math.floor(sr / fmax), math.ceil(sr / fmin)
    win = length // 2
    if win + tmax > length:
        raise ValueError(f"yin: frames of {length} samples are too short for lags up to {tmax}")
    n_fft = 2 ** math.ceil(math.log2(length + win))
    acf = np.fft.irfft(np.fft.rfft(frames, n_fft) * np.fft.rfft(frames[:, win - 1::-1], n_fft), n_fft)
    acf = acf[:, win - 1:win + tmax]                                     # r(τ) = Σ_{j<win} x_j x_{j+τ}, τ = 0 … tmax
    energy = np.cumsum(np.pad(frames ** 2, ((0, 0), (1, 0))), axis=1)
    e = energy[:, win:win + tmax + 1] - energy[:, :tmax + 1]             # Σ_{j<win} x_{j+τ}²
    diff = np.maximum(e[:, :1] + e - 2 * acf, 0.0)
    diff[:, 0] = 0.0
    cum = np.cumsum(diff[:, 1:], axis=1)
    lags = np.arange(1, tmax + 1)
    cmndf = np.where(cum > 0, diff[:, 1:] * lags / np.where(cum > 0, cum, 1.0), 1.0)[:, tmin - 1:]  # lags tmin…tmax
    dips = np.zeros(cmndf.shape, bool)
    dips[:, 1:-1] = (cmndf[:, 1:-1] <= cmndf[:, :-2]) & (cmndf[:, 1:-1] < cmndf[:, 2:])
    below = dips & (cmndf < trough)
    idx = np.where(below.any(1), np.argmax(below, 1), np.argmin(cmndf, 1))
    rows = np.arange(n_rows)
    inner = (idx > 0) & (idx < cmndf.shape[1] - 1)
    i = np.clip(idx, 1, cmndf.shape[1] - 2)
    a, b, c = cmndf[rows, i - 1], cmndf[rows, i], cmndf[rows, i + 1]
    curv = a - 2 * b + c
    shift = np.where(inner & (curv > 0), 0.5 * (a - c) / np.where(curv > 0, curv, 1.0), 0.0)
    return sr / (tmin + idx + np.clip(shift, -1.0, 1.0)), cmndf[rows, idx]


class DefaultAudioEncoder:
    """Log-mel + onset + RMS + pitch at the motion fps (see the module docstring for every choice)."""

    name = "default"
    per_clip = True

    def __init__(self, sample_rate_hz: int = 16000, fps: float = 15, n_mels: int = 64, pitch: str = "yin",
                 voicing_threshold: float = 0.4):
        import librosa
        if pitch not in PITCH_METHODS:
            raise ValueError(f"pitch must be one of {PITCH_METHODS}, got {pitch!r}")
        self.sr, self.fps, self.n_mels = int(sample_rate_hz), float(fps), int(n_mels)
        self.pitch, self.voicing_threshold = pitch, float(voicing_threshold)
        self.hop = self.sr / self.fps                                   # 1066.67 samples at 16 kHz / 15 fps
        self.half_hop = round(self.hop / 2)
        self.n_fft = 2 * round(self.hop)                           # 2134: Hann windows overlapping by half
        self.window = librosa.filters.get_window("hann", self.n_fft, fftbins=True).astype(np.float64)
        self.mel_fb = librosa.filters.mel(sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels).astype(np.float64)
        self.onset_hop = round(self.sr / 100)                      # 10 ms
        self.onset_n_fft = 2 ** math.ceil(math.log2(0.032 * self.sr))   # 512 at 16 kHz
        self.pitch_hop = round(self.sr / 50)                       # 20 ms (pyin)
        self.pitch_frame = 2 ** math.ceil(math.log2(0.064 * self.sr))   # 1024 at 16 kHz
        self.feature_names = [f"mel_{i:02d}" for i in range(self.n_mels)] + ["onset", "rms", "f0_hz", "voiced"]
        self.frame_dim = len(self.feature_names)
        self.pooled_dim = 2 * self.frame_dim
        self._threads = ThreadpoolController()      # scanning the loaded libraries once: 3 ms, too slow per clip

    # one signal (a clip, or a window) -------------------------------------------------------------------------
    def frame_features(self, y: np.ndarray, n_frames: int) -> np.ndarray:
        """(n_frames, frame_dim) float32 features at the instants k/fps, k = 0 … n_frames-1, of the audio y (any
        length, including 0; zeros outside it)."""
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        c = frame_centres(n_frames, self.sr, self.fps)
        half = self.n_fft // 2
        length = max(y.shape[0], int(c[-1]) + half + 1 if n_frames else 0, self.pitch_frame + 1)
        y = np.pad(y, (0, length - y.shape[0]))                         # zeros past the end (and for empty audio)
        padded = np.pad(y.astype(np.float64), (half, half))             # padded[i + half] == y[i]
        out = np.empty((n_frames, self.frame_dim), np.float64)
        with self._threads.limit(limits=1, user_api="blas"):  # tiny matrices: a multi-threaded BLAS only spins
            for k0 in range(0, n_frames, _CHUNK_FRAMES):                 # bounded memory for long clips
                ck = c[k0:k0 + _CHUNK_FRAMES]
                frames = padded[ck[:, None] + np.arange(self.n_fft)[None, :]]   # starts at c_k - half in y
                power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2
                out[k0:k0 + ck.size, :self.n_mels] = 10.0 * np.log10(np.maximum(power @ self.mel_fb.T, 1e-10))
                mid = frames[:, half - self.half_hop:half + self.half_hop]        # the samples within ±hop/2
                out[k0:k0 + ck.size, self.n_mels + 1] = np.sqrt(np.mean(mid ** 2, axis=1))
                if self.pitch == "yin":
                    p = self.pitch_frame // 2
                    f0, aperiodicity = yin(frames[:, half - p:half + p], self.sr)
                    voiced = (aperiodicity < self.voicing_threshold) & \
                        (out[k0:k0 + ck.size, self.n_mels + 1] > _VOICING_MIN_RMS)
                    out[k0:k0 + ck.size, self.n_mels + 2] = np.where(voiced, f0, 0.0)
                    out[k0:k0 + ck.size, self.n_mels + 3] = voiced
            out[:, self.n_mels] = self._onset(y, c)
            if self.pitch == "pyin":
                out[:, self.n_mels + 2:] = self._pyin(y, c)
        return out.astype(np.float32)

    def _onset(self, y: np.ndarray, c: np.ndarray) -> np.ndarray:
        import librosa
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            env = librosa.onset.onset_strength(y=y, sr=self.sr, hop_length=self.onset_hop, n_fft=self.onset_n_fft)
        env = np.nan_to_num(env)
        # the 10 ms frames j (at sample j * onset_hop) within ±hop/2 of each c_k: a sliding maximum
        j0 = np.maximum(0, np.ceil((c - self.hop / 2) / self.onset_hop).astype(np.int64))
        j1 = np.minimum(env.shape[0] - 1, np.floor((c + self.hop / 2) / self.onset_hop).astype(np.int64))
        width = int((j1 - j0).max(initial=0)) + 1
        idx = np.minimum(j0[:, None] + np.arange(width)[None, :], env.shape[0] - 1)
        vals = np.where(j0[:, None] + np.arange(width)[None, :] <= j1[:, None], env[idx], -np.inf)
        return np.where(j1 >= j0, vals.max(1), 0.0)

    def _pyin(self, y: np.ndarray, c: np.ndarray) -> np.ndarray:
        import librosa
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            f0, vflag, _ = librosa.pyin(y, fmin=_F0_MIN_HZ, fmax=_F0_MAX_HZ, sr=self.sr,
                                        frame_length=self.pitch_frame, hop_length=self.pitch_hop,
                                        resolution=_PYIN_RESOLUTION)
        pos = c / self.pitch_hop                                        # pyin frame j sits at sample j * pitch_hop
        last = f0.shape[0] - 1
        j0 = np.clip(np.floor(pos).astype(np.int64), 0, last)
        j1 = np.minimum(j0 + 1, last)
        jn = np.clip(np.round(pos).astype(np.int64), 0, last)
        w = np.clip(pos - j0, 0.0, 1.0)
        f0 = np.where(vflag, f0, np.nan)
        voiced = vflag[jn]
        both = vflag[j0] & vflag[j1]
        f0_k = np.where(both, (1 - w) * np.nan_to_num(f0[j0]) + w * np.nan_to_num(f0[j1]), np.nan_to_num(f0[jn]))
        return np.stack([np.where(voiced, f0_k, 0.0), voiced.astype(np.float64)], axis=1)

    # per clip ----------------------------------------------------------------------------------------------------
    def clip_frames(self, y: np.ndarray, n_frames: int) -> np.ndarray:
        """(n_frames, frame_dim): the features of clip frames 0 … n_frames-1 of a clip's whole audio (slice them with
        `slice_windows`)."""
        return self.frame_features(y, n_frames)

    # a batch of windows, each from its own audio --------------------------------------------------------------
    def encode(self, audio: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        audio = np.asarray(audio)
        if audio.ndim == 1:
            audio = audio[None]
        frames = np.empty((audio.shape[0], n_frames, self.frame_dim), np.float32)
        pooled = np.empty((audio.shape[0], self.pooled_dim), np.float32)
        n_pool = pooled_frame_count(audio.shape[1], n_frames, self.sr, self.fps)
        for b in range(audio.shape[0]):
            f, p = slice_windows(self.frame_features(audio[b], n_pool), np.zeros(1, np.int64), n_frames, n_pool)
            frames[b], pooled[b] = f[0], p[0]
        return frames, pooled

    def describe(self) -> dict[str, Any]:
        pitch = ({"method": "yin (gesturegen.features.audio.yin) at each frame instant", "fmin_hz": _F0_MIN_HZ,
                  "fmax_hz": _F0_MAX_HZ, "frame_length": self.pitch_frame, "trough_threshold": _YIN_TROUGH,
                  "voiced": f"CMNDF minimum < {self.voicing_threshold} and frame RMS > -60 dBFS"}
                 if self.pitch == "yin" else
                 {"method": "librosa.pyin", "fmin_hz": _F0_MIN_HZ, "fmax_hz": _F0_MAX_HZ,
                  "frame_length": self.pitch_frame, "hop": self.pitch_hop, "resolution": _PYIN_RESOLUTION})
        pitch["unvoiced"] = "f0_hz = 0, voiced = 0"
        return {
            "name": self.name, "frame_dim": self.frame_dim, "pooled_dim": self.pooled_dim,
            "feature_names": self.feature_names, "sample_rate_hz": self.sr, "fps": self.fps,
            "frame_centres": "sample round(f * sample_rate_hz / fps) of the clip audio for clip frame f; a window "
                             "starting at clip frame s has frames s..s+n_frames-1",
            "computed": "once per clip, sliced per window",
            "mel": {"n_mels": self.n_mels, "n_fft": self.n_fft, "window": "hann (periodic), centred on the frame",
                    "units": "dB of mel power, floor -100 dB", "fmin_hz": 0.0, "fmax_hz": self.sr / 2},
            "onset": {"hop": self.onset_hop, "n_fft": self.onset_n_fft, "aggregate": "max within +-hop/2"},
            "rms": {"samples": 2 * self.half_hop, "units": "linear amplitude"},
            "pitch": pitch,
            "standardised": False,
            "pooled": "concat(mean, std) over the frames of the window's whole audio span",
        }
