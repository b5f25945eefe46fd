"""Normalisation of the window vectors: train-split statistics and mean subtraction (ldmc-spec §2.5).

Works on (memory-mapped) arrays block by block, so a split never has to fit in memory. Sums run over axis 0 in
float64, one row block after another: the same bits on every machine (no BLAS, no reordering by vector width).
"""
from __future__ import annotations

import numpy as np


def train_statistics(dir_vec: np.ndarray, poses: np.ndarray, chunk: int = 4096
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std) of the (N, T, D) vectors over every frame of every window, and the mean (J, 3) pose; float32."""
    d = dir_vec.shape[-1]
    s, ss = np.zeros(d), np.zeros(d)
    ps = np.zeros(poses.shape[2:])
    count = 0
    for i in range(0, dir_vec.shape[0], chunk):
        block = np.asarray(dir_vec[i:i + chunk], dtype=np.float64).reshape(-1, d)
        s += block.sum(0)
        ss += (block * block).sum(0)
        ps += np.asarray(poses[i:i + chunk], dtype=np.float64).reshape((-1,) + poses.shape[2:]).sum(0)
        count += block.shape[0]
    if count == 0:
        raise ValueError("train_statistics: no train windows")
    mean = s / count
    std = np.sqrt(np.maximum(ss / count - mean * mean, 0.0))
    return mean.astype(np.float32), std.astype(np.float32), (ps / count).astype(np.float32)


def subtract_mean(dir_vec: np.ndarray, mean: np.ndarray, chunk: int = 4096) -> None:
    """dir_vec -= mean in place (a writable memmap or array), block by block."""
    for i in range(0, dir_vec.shape[0], chunk):
        dir_vec[i:i + chunk] -= mean
