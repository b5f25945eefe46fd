"""The TED Expressive `audio_feat` of a demo clip: librosa's log-mel (slaney mel scale and norm), recomputed exactly.

librosa.feature.melspectrogram + power_to_db(ref=np.max) with n_fft 1024, hop 512, 128 mels, centred frames with zero
padding. librosa's own result differs from CPU to CPU (its mel projection is a BLAS product; its filter bank and dB use
numpy's dispatched exp and log10; the FFT's twiddles come from libm), so the same steps run on gesturegen.numerics:
our FFT, a filter bank built with our exp and log, the projection as sparse sums in a fixed order, and our log10.
"""
from __future__ import annotations

from functools import cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gesturegen import numerics as nx

N_FFT, HOP, N_MELS = 1024, 512, 128
TOP_DB, AMIN = 80.0, 1e-10
# the slaney mel scale: linear below 1 kHz, logarithmic above
_F_SP, _MIN_LOG_HZ = 200.0 / 3, 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = float(nx.log(6.4)) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    safe = np.maximum(hz, _MIN_LOG_HZ)
    return np.where(hz >= _MIN_LOG_HZ, _MIN_LOG_MEL + nx.log(safe / _MIN_LOG_HZ) / _LOGSTEP, hz / _F_SP)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * nx.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


@cache
def mel_filterbank(sr: int, n_fft: int = N_FFT, n_mels: int = N_MELS) -> tuple[np.ndarray, np.ndarray]:
    """librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels) (slaney), as (bins, weights), each (n_mels, width).

    Row m holds the FFT bins with a non-zero weight in mel band m, padded with bin 0 at weight 0.
    """
    fft_hz = np.arange(n_fft // 2 + 1) * (sr / n_fft)
    lo, hi = float(_hz_to_mel(0.0)), float(_hz_to_mel(sr / 2))
    mel_hz = _mel_to_hz(np.arange(n_mels + 2) * ((hi - lo) / (n_mels + 1)) + lo)     # np.linspace's arithmetic
    mel_hz[-1] = _mel_to_hz(hi)
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    dense = np.maximum(0.0, np.minimum(-ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]))
    dense = dense * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]                          # slaney: unit area
    width = int((dense > 0).sum(1).max())
    bins = np.zeros((n_mels, width), dtype=np.int64)
    weights = np.zeros((n_mels, width))
    for m in range(n_mels):
        nz = np.flatnonzero(dense[m] > 0)
        bins[m, :nz.size], weights[m, :nz.size] = nz, dense[m, nz]
    bins.flags.writeable = weights.flags.writeable = False
    return bins, weights


def log_mel(audio: np.ndarray, sr: int) -> np.ndarray:
    """(128, len(audio) // 512 + 1) float16: power mel spectrogram in dB re its maximum, floored 80 dB below it."""
    y = np.pad(np.asarray(audio, dtype=np.float64), N_FFT // 2)                        # centred frames
    frames = sliding_window_view(y, N_FFT)[::HOP] * nx.hann(N_FFT)                      # (F, 1024)
    power = nx.power_spectrum(frames)                                                   # (F, 513)
    bins, weights = mel_filterbank(sr)
    mel = np.zeros((frames.shape[0], N_MELS))
    for j in range(bins.shape[1]):      # one bin offset at a time: the same order of additions everywhere
        mel += power[:, bins[:, j]] * weights[:, j]
    db = 10.0 * nx.log10(np.maximum(AMIN, mel))
    db -= 10.0 * nx.log10(max(AMIN, float(mel.max())))
    return np.maximum(db, db.max() - TOP_DB).T.astype(np.float16)
