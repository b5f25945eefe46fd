"""Metric computation time per 1000 windows (TED Expressive shapes: 34 x 126, 16 kHz audio). Prints a table.

    python benchmarks/bench_metrics.py [--windows 1000]

Inputs are synthetic (random unit direction vectors around the published mean, noise-burst audio), so the numbers
measure the metric code, not a model. FGD and diversity run on 128-d features as the FGD extractor gives them.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from _table import print_table  # benchmarks/, on sys.path when run as a script

from gesturegen.data.skeleton import TED_EXPRESSIVE
from gesturegen.metrics.beat import (
    TED_EXPRESSIVE_CHANGE_ANGLE,
    audio_onsets,
    bc_score,
    bc_terms,
    beat_consistency,
    motion_beat_lists,
)
from gesturegen.metrics.diversity import diversity, diversity_faithful
from gesturegen.metrics.fgd import frechet_distance, frechet_distance_symmetric
from gesturegen.metrics.kid import kernel_distance
from gesturegen.metrics.motion import accel_diff, joint_mae


def _timed(fn, *args, **kwargs) -> float:
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=1000)
    n = ap.parse_args(argv).windows
    rng = np.random.default_rng(0)
    _, mean_vec = TED_EXPRESSIVE.published_means()
    mean = mean_vec.reshape(-1)
    vec = rng.standard_normal((n, 34, 42, 3)) * 0.2 + mean_vec
    vec = (vec / np.linalg.norm(vec, axis=-1, keepdims=True)).reshape(n, 34, 126) - mean
    other = np.roll(vec, 1, axis=0)
    feats_a, feats_b = rng.standard_normal((n, 128)), rng.standard_normal((n, 128)) + 0.1
    t = np.arange(36267) / 16000
    audio = (rng.standard_normal((n, 36267)) * (np.sin(2 * np.pi * 1.7 * t) > 0.6)).astype(np.float32) * 0.1
    change = np.asarray(TED_EXPRESSIVE_CHANGE_ANGLE)

    onsets: list = []
    beats: list = []
    audio_onsets(audio[0])                    # warm-up: librosa's first call pays for imports and JIT compilation
    rows = [("FGD (128-d features)", _timed(frechet_distance, feats_a, feats_b)),
            ("FGD, symmetric form (corrected)", _timed(frechet_distance_symmetric, feats_a, feats_b)),
            ("KID with jackknife SE (128-d)", _timed(kernel_distance, feats_a, feats_b)),
            ("diversity, faithful (1 permutation of batches)",
             _timed(diversity_faithful, [feats_a[i:i + 100] for i in range(0, n - n % 100, 100)], rng)),
            ("diversity, corrected (100 permutations)", _timed(diversity, feats_a, 100, 0)),
            ("audio onsets (librosa)", _timed(lambda: onsets.extend(audio_onsets(a) for a in audio))),
            ("BC faithful (onsets given)", _timed(beat_consistency, vec, mean, audio, TED_EXPRESSIVE,
                                                  mode="faithful", onsets=onsets)),
            ("BC corrected (onsets given)", _timed(beat_consistency, vec, mean, audio, TED_EXPRESSIVE,
                                                   mode="corrected", change_angle=change, onsets=onsets)),
            ("motion beats, corrected (once per motion set)",
             _timed(lambda: beats.extend(motion_beat_lists(vec, mean, TED_EXPRESSIVE, "corrected", change)))),
            ("BC gap, one derangement (beats, onsets given)",
             _timed(lambda: bc_score(bc_terms(beats, onsets[1:] + onsets[:1])))),
            ("joint MAE", _timed(joint_mae, vec, other, mean, TED_EXPRESSIVE)),
            ("acceleration difference", _timed(accel_diff, vec, other, mean, TED_EXPRESSIVE))]
    print_table(("metric", f"seconds per 1000 windows ({n} windows measured, 2-core CPU)"),
                [(name, f"{sec * 1000 / n:10.3f}") for name, sec in rows])


if __name__ == "__main__":
    main()
