"""The offline default speech features, computed at exactly the motion frame rate.

Frame k of a window is the instant t_k = k / fps after the window start (the time of motion frame k), i.e. the audio
sample c_k = round(k * sr / fps). With sr = 16 kHz and fps = 15 the hop is 1066.67 samples, which no integer hop
reproduces, so the frames are cut by hand around the centres c_k (rounding error at most half a sample, 31 µs);
34 centres give exactly 34 frames, whatever the audio length (outside the audio the signal is taken as zeros).

Per frame (Da = n_mels + 4, float32, raw values: nothing is standardised here; standardise with train statistics
downstream):
  mel_00 … mel_{n-1}   log-mel power in dB (10·log10, floor 1e-10 → silence is -100 dB): a periodic Hann window of
                       n_fft = 2·round(sr/fps) samples (2134 = 133 ms at 16 kHz) centred on c_k, so consecutive windows
                       overlap by half and every sample is weighted equally; Slaney mel filters from 0 to sr/2.
  onset                librosa onset strength (spectral flux of a 128-band log-mel at a 10 ms hop, 32 ms FFT): the
                       maximum over the 10 ms frames within ±hop/2 of c_k, so an onset between two motion frames is
                       not lost.
  rms                  linear RMS amplitude of the samples within ±hop/2 of c_k (the frames tile the audio).
  f0_hz                pyin fundamental frequency (60–500 Hz, 64 ms frames, 20 ms hop, 0.25-semitone grid) sampled at
                       c_k: linear interpolation between the two neighbouring pyin frames when both are voiced,
                       otherwise the nearest frame's value; 0 when unvoiced (silence is unvoiced).
  voiced               1.0 if the pyin frame nearest to c_k is voiced, else 0.0.

Pooled (2·Da): the mean then the standard deviation of the per-frame features over every frame of the window's audio
span (round(S·fps/sr) frames, at least n_frames; in the faithful 42-frame span this covers more than the 34 motion
frames). The voiced mean is the voiced fraction; the f0 mean includes the unvoiced zeros.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn, hence of librosa

_F0_MIN_HZ, _F0_MAX_HZ = 60.0, 500.0
_PYIN_RESOLUTION = 0.25


def frame_centres(n_frames: int, sample_rate_hz: float, fps: float) -> np.ndarray:
    """Sample index of each motion frame's instant: round(k * sr / fps), k = 0 … n_frames - 1."""
    return np.round(np.arange(n_frames) * (sample_rate_hz / fps)).astype(np.int64)


def pooled_frame_count(n_samples: int, n_frames: int, sample_rate_hz: float, fps: float) -> int:
    """Frames covering a window's whole audio span (at least the n_frames motion frames)."""
    return max(n_frames, round(n_samples * fps / sample_rate_hz))


class DefaultAudioEncoder:
    """Log-mel + onset + RMS + pitch at the motion fps (see the module docstring for every choice)."""

    name = "default"

    def __init__(self, sample_rate_hz: int = 16000, fps: float = 15, n_mels: int = 64):
        import librosa
        self.sr, self.fps, self.n_mels = int(sample_rate_hz), float(fps), int(n_mels)
        self.hop = self.sr / self.fps                                   # 1066.67 samples at 16 kHz / 15 fps
        self.half_hop = round(self.hop / 2)
        self.n_fft = 2 * round(self.hop)                           # 2134: Hann windows overlapping by half
        self.window = librosa.filters.get_window("hann", self.n_fft, fftbins=True).astype(np.float64)
        self.mel_fb = librosa.filters.mel(sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels).astype(np.float64)
        self.onset_hop = round(self.sr / 100)                      # 10 ms
        self.onset_n_fft = 2 ** math.ceil(math.log2(0.032 * self.sr))   # 512 at 16 kHz
        self.pitch_hop = round(self.sr / 50)                       # 20 ms
        self.pitch_frame = 2 ** math.ceil(math.log2(0.064 * self.sr))   # 1024 at 16 kHz
        self.feature_names = [f"mel_{i:02d}" for i in range(self.n_mels)] + ["onset", "rms", "f0_hz", "voiced"]
        self.frame_dim = len(self.feature_names)
        self.pooled_dim = 2 * self.frame_dim

    # one window -------------------------------------------------------------------------------------------------
    def frame_features(self, y: np.ndarray, n_frames: int) -> np.ndarray:
        """(n_frames, frame_dim) float32 features of one window's audio (any length, including 0)."""
        import librosa
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        c = frame_centres(n_frames, self.sr, self.fps)
        half = self.n_fft // 2
        length = max(y.shape[0], int(c[-1]) + half + 1, self.pitch_frame + 1)
        y = np.pad(y, (0, length - y.shape[0]))                         # zeros past the end (and for empty audio)
        padded = np.pad(y.astype(np.float64), (half, half))             # padded[i + half] == y[i]

        # log-mel from hand-cut frames centred on c_k
        frames = padded[c[:, None] + np.arange(self.n_fft)[None, :]]    # starts at c_k - half in y
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2
        log_mel = 10.0 * np.log10(np.maximum(power @ self.mel_fb.T, 1e-10))

        # RMS of the samples within ±hop/2 of c_k
        seg = padded[(c + half - self.half_hop)[:, None] + np.arange(2 * self.half_hop)[None, :]]
        rms = np.sqrt(np.mean(seg ** 2, axis=1))

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            env = librosa.onset.onset_strength(y=y, sr=self.sr, hop_length=self.onset_hop, n_fft=self.onset_n_fft)
            f0, vflag, _ = librosa.pyin(y, fmin=_F0_MIN_HZ, fmax=_F0_MAX_HZ, sr=self.sr,
                                        frame_length=self.pitch_frame, hop_length=self.pitch_hop,
                                        resolution=_PYIN_RESOLUTION)
        env = np.nan_to_num(env)
        onset = np.empty(n_frames)
        for k, ck in enumerate(c):                                      # 10 ms frame j sits at sample j * onset_hop
            j0 = max(0, math.ceil((ck - self.hop / 2) / self.onset_hop))
            j1 = min(env.shape[0] - 1, math.floor((ck + self.hop / 2) / self.onset_hop))
            onset[k] = env[j0:j1 + 1].max() if j1 >= j0 else 0.0

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
        f0_k = np.where(voiced, f0_k, 0.0)

        out = np.concatenate([log_mel, onset[:, None], rms[:, None], f0_k[:, None],
                              voiced.astype(np.float64)[:, None]], axis=1)
        return out.astype(np.float32)

    # a batch of windows -----------------------------------------------------------------------------------------
    def encode(self, audio: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        audio = np.asarray(audio)
        if audio.ndim == 1:
            audio = audio[None]
        frames = np.empty((audio.shape[0], n_frames, self.frame_dim), np.float32)
        pooled = np.empty((audio.shape[0], self.pooled_dim), np.float32)
        n_pool = pooled_frame_count(audio.shape[1], n_frames, self.sr, self.fps)
        # The matrices are tiny: a multi-threaded BLAS only spins (60 ms instead of 0.5 ms per window on a busy
        # 2-core machine), so keep it single-threaded here.
        with threadpool_limits(limits=1, user_api="blas"):
            for b in range(audio.shape[0]):
                f = self.frame_features(audio[b], n_pool)
                frames[b] = f[:n_frames]
                pooled[b] = np.concatenate([f.mean(0), f.std(0)])
        return frames, pooled

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "frame_dim": self.frame_dim, "pooled_dim": self.pooled_dim,
            "feature_names": self.feature_names, "sample_rate_hz": self.sr, "fps": self.fps,
            "frame_centres": "sample round(k * sample_rate_hz / fps) of the window audio, k = 0..n_frames-1",
            "mel": {"n_mels": self.n_mels, "n_fft": self.n_fft, "window": "hann (periodic), centred on the frame",
                    "units": "dB of mel power, floor -100 dB", "fmin_hz": 0.0, "fmax_hz": self.sr / 2},
            "onset": {"hop": self.onset_hop, "n_fft": self.onset_n_fft, "aggregate": "max within +-hop/2"},
            "rms": {"samples": 2 * self.half_hop, "units": "linear amplitude"},
            "pitch": {"method": "librosa.pyin", "fmin_hz": _F0_MIN_HZ, "fmax_hz": _F0_MAX_HZ,
                      "frame_length": self.pitch_frame, "hop": self.pitch_hop, "resolution": _PYIN_RESOLUTION,
                      "unvoiced": "f0_hz = 0, voiced = 0"},
            "standardised": False,
            "pooled": "concat(mean, std) over the frames of the window's whole audio span",
        }
