"""Beat F1 of motion beats against the true stroke times (gesturegen.metrics.oracle)."""
import numpy as np
import pytest

from gesturegen.metrics.oracle import beat_f1, match_beats


def test_one_to_one_matching_within_tolerance():
    assert match_beats(np.array([1.0, 2.0]), np.array([1.05, 2.5]), 0.1) == 1
    # two beats near one stroke: one match; one beat between two strokes: one match
    assert match_beats(np.array([1.0, 1.02]), np.array([1.01]), 0.1) == 1
    assert match_beats(np.array([1.5]), np.array([1.45, 1.55]), 0.1) == 1
    # greedy in time order is maximal: beat 1.09 must go to stroke 1.0 so that 1.12 can take 1.2
    assert match_beats(np.array([1.09, 1.12]), np.array([1.0, 1.2]), 0.1) == 2
    assert match_beats(np.zeros(0), np.array([1.0]), 0.1) == 0


def test_f1_counts_and_the_scored_range():
    fps, t, seed = 15, 34, 4
    f = lambda k: k / fps                                                      
    beats = [np.array([f(10), f(20), f(25)]), np.array([f(2)])]       # frame 2: a seed frame, ignored
    strokes = [np.array([f(11.5), f(20), f(30)]), np.array([f(3), f(33.5)])]  # frames 3 and 33.5: outside
    r = beat_f1(beats, strokes, fps, t, seed, tolerance_frames=2)
    assert (r.tp, r.fp, r.fn) == (2, 1, 1)
    assert r.precision == pytest.approx(2 / 3) and r.recall == pytest.approx(2 / 3) and r.f1 == pytest.approx(2 / 3)
    # the tolerance is inclusive: exactly 2 frames away matches, 2.1 does not
    assert beat_f1([np.array([f(10)])], [np.array([f(12)])], fps, t, seed, 2).tp == 1
    assert beat_f1([np.array([f(10)])], [np.array([f(12.1)])], fps, t, seed, 2).tp == 0
    empty = beat_f1([np.zeros(0)], [np.zeros(0)], fps, t, seed)
    assert np.isnan(empty.f1) and np.isnan(empty.precision)
    with pytest.raises(ValueError, match="stroke lists"):
        beat_f1([np.zeros(0)], [], fps, t, seed)
