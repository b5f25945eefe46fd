import numpy as np
import pytest

from gesturegen.data.skeleton import AQGT, TED_EXPRESSIVE
from gesturegen.metrics.beat import (
    TED_EXPRESSIVE_CHANGE_ANGLE,
    angle_change_constants,
    angle_diff,
    angle_pairs,
    angle_series,
    audio_onsets,
    audio_onsets_many,
    bc_terms_padded,
    beat_consistency,
    motion_beats,
    onset_scores,
    pad_times,
)
from tests.conftest import ROOT

SR = 16000
N_AUDIO = 36267
T = 34


def _motion(n, skeleton, seed=0, amp=0.15):
    """Mean-subtracted vectors: smooth per-dimension oscillations plus a little noise, (n, T, D)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 15
    freq = rng.uniform(0.5, 3.0, (n, 1, skeleton.dim))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, skeleton.dim))
    return amp * np.sin(2 * np.pi * freq * t[None, :, None] + phase) + 0.1 * amp * rng.standard_normal(
        (n, T, skeleton.dim))


def _mean(skeleton):
    return skeleton.published_means()[1].reshape(-1)


# --- angle pairs and constants ---
def test_ted_pairs_match_the_published_list():
    pairs = angle_pairs(TED_EXPRESSIVE)
    assert len(pairs) == 41 and pairs[:3] == ((0, 1), (0, 2), (1, 3))
    assert pairs[-2:] == ((4, 42), (21, 43))
    assert len(TED_EXPRESSIVE_CHANGE_ANGLE) == 41
    assert TED_EXPRESSIVE_CHANGE_ANGLE[0] == 0.0027804733254015446
    assert TED_EXPRESSIVE_CHANGE_ANGLE[-1] == 0.04472292214632034


def test_aqgt_pairs_follow_the_parent_array():
    pairs = angle_pairs(AQGT)
    assert len(pairs) == 36 and pairs[-2:] == ((7, 53), (10, 54))
    parent = {c: p for p, c in AQGT.bones}
    for p, c in pairs[:-2]:
        assert parent[c] == p and c >= 5          # consecutive bones of an arm or finger chain
    assert (5, 6) in pairs and (6, 7) in pairs and (12, 13) in pairs and (28, 29) in pairs
    assert not any(p in (2, 7, 10, 11, 32) for p, _ in pairs[:-2])   # no sibling bones from branch points


@pytest.mark.parametrize("skeleton,n_pairs", [(TED_EXPRESSIVE, 41), (AQGT, 36)], ids=["ted", "aqgt"])
def test_angle_change_constants_shape_and_sign(skeleton, n_pairs):
    train = _motion(12, skeleton, seed=1) + _mean(skeleton)
    c = angle_change_constants(train, skeleton, "per_vector")
    assert c.shape == (n_pairs,) and np.all(c > 0) and np.all(np.isfinite(c))
    np.testing.assert_allclose(angle_change_constants(train, skeleton, "per_vector", chunk_size=5), c, rtol=1e-12)


def test_angle_series_shapes_and_normalisations():
    vec = _motion(3, TED_EXPRESSIVE) + _mean(TED_EXPRESSIVE)
    flat = angle_series(vec, TED_EXPRESSIVE, "flat")
    per = angle_series(vec.reshape(3, T, 42, 3), TED_EXPRESSIVE, "per_vector")
    assert flat.shape == per.shape == (3, T, 41)
    assert np.all((per >= 0) & (per <= 1))
    # flat normalisation shrinks every dot product by about the number of vectors: angles sit near 0.5
    assert np.all(np.abs(flat - 0.5) < 0.05) and np.abs(per - 0.5).max() > 0.2
    with pytest.raises(ValueError, match="normalize"):
        angle_series(vec, TED_EXPRESSIVE, "l2")


def test_angle_diff_starts_at_zero():
    a = np.zeros((5, 2))
    a[3] = [0.1, 0.2]
    d = angle_diff(a, [0.1, 0.2])
    np.testing.assert_allclose(d, [0, 0, 0, 1.0, 1.0])


# --- the Gaussian ---
@pytest.mark.parametrize("offset,score", [(0.0, 1.0), (0.05, 0.8825), (1 / 15, 0.8007), (0.1, 0.6065),
                                          (2 / 15, 0.4111), (0.2, 0.1353), (0.3, 0.0111)])
def test_bc_gaussian_table(offset, score):
    assert onset_scores(np.array([1.0 + offset]), np.array([1.0, 3.0]), sigma=0.1)[0] == pytest.approx(score, abs=5e-5)


def test_emage_sigma():
    assert onset_scores(np.array([0.1, 0.2]), np.array([0.0]), sigma=0.3) == pytest.approx([0.9460, 0.8007], abs=5e-5)


# --- motion beats ---
def _trace(*dips):
    d = np.ones(T)
    d[list(dips)] = 0.0
    return d


def test_single_dip_at_frame_15_is_one_beat_at_one_second():
    np.testing.assert_array_equal(motion_beats(_trace(15), thres=0.001), [1.0])


@pytest.mark.parametrize("frame", [0, 1, 33])
def test_dips_outside_2_to_32_are_ignored(frame):
    assert motion_beats(_trace(frame), thres=0.001).size == 0


def test_candidate_range_edges_and_threshold():
    np.testing.assert_allclose(motion_beats(_trace(2, 32), thres=0.001), [2 / 15, 32 / 15])
    shallow = np.ones(T)
    shallow[10] = 0.75                                        # exact in binary: the dip is exactly 0.25
    assert motion_beats(shallow, thres=0.26).size == 0
    assert motion_beats(shallow, thres=0.25).size == 1        # >= thres
    plateau = _trace(10, 11)                                   # not a strict minimum
    assert motion_beats(plateau, thres=0.001).size == 0
    assert motion_beats(np.ones(3), thres=0.001).size == 0


# --- audio onsets ---
def test_silent_and_empty_audio_have_no_onsets():
    assert audio_onsets(np.zeros(N_AUDIO, np.float16)).size == 0
    assert audio_onsets(np.zeros(0)).size == 0
    with pytest.raises(ValueError, match="mono"):
        audio_onsets(np.zeros((2, 10)))


def test_click_train_onsets_are_found():
    y = np.zeros(N_AUDIO, np.float16)
    burst = np.sin(np.arange(800) * 0.3) * np.exp(-np.arange(800) / 200)
    for s in (0.5, 1.5):
        y[int(s * SR):int(s * SR) + 800] = burst
    onsets = audio_onsets(y)
    for s in (0.5, 1.5):
        assert np.min(np.abs(onsets - s)) < 0.05


def test_many_clips_give_librosas_onsets_exactly():
    """audio_onsets_many (batched STFTs, the mel basis once) equals librosa.onset.onset_detect(y=clip) clip by
    clip, on windows of real speech (CMU ARCTIC) at every offset and level, with silent and shorter clips between."""
    import soundfile

    wav = ROOT.parent / "shared" / "data" / "speech" / "arctic_a0007.wav"
    if not wav.is_file():
        pytest.skip(f"{wav} not present")
    y, sr = soundfile.read(wav, dtype="float32")
    assert sr == SR
    n = 36_267                                              # a 34-frame window at 15 fps
    clips = [y[i:i + n] * g for i, g in zip(range(0, y.size - n, 1601), (1.0, 0.3, 0.05, 2.0) * 100)]
    clips += [np.zeros(n, np.float32), y[:20_000], np.zeros(0, np.float32), y[5_000:5_000 + n].astype(np.float16)]
    many = audio_onsets_many(clips, sr=SR, batch=7)
    assert len(many) == len(clips) > 20 and sum(o.size for o in many) > 50
    for clip, got in zip(clips, many):
        assert np.array_equal(got, audio_onsets(clip, sr=SR))
    with pytest.raises(ValueError, match="mono"):
        audio_onsets_many([np.zeros((2, 10))])


# --- beat consistency ---
def test_silent_or_empty_audio_is_skipped_not_a_crash():
    vec = _motion(4, TED_EXPRESSIVE)
    for audios in (np.zeros((4, N_AUDIO), np.float16), [np.zeros(0)] * 4):
        r = beat_consistency(vec, _mean(TED_EXPRESSIVE), audios, TED_EXPRESSIVE)
        assert r.n_clips == 4 and r.n_scored == 0 and r.n_onsets == 0 and np.isnan(r.score)
        assert r.n_skipped_no_onset + r.n_skipped_no_motion_beat == 4 and r.n_skipped_no_onset > 0


def test_still_clip_has_no_motion_beat():
    vec = np.zeros((2, T, TED_EXPRESSIVE.dim))
    r = beat_consistency(vec, _mean(TED_EXPRESSIVE), None, TED_EXPRESSIVE, onsets=[np.array([0.5])] * 2)
    assert r.n_skipped_no_motion_beat == 2 and r.n_scored == 0


def test_score_is_weighted_by_onsets():
    sk = TED_EXPRESSIVE
    vec = _motion(3, sk, seed=2)
    onsets = [np.array([0.3, 1.1, 1.9]), np.array([1.0]), np.array([])]
    r = beat_consistency(vec, _mean(sk), None, sk, onsets=onsets)
    diff = angle_diff(angle_series(vec + _mean(sk), sk, "flat"), TED_EXPRESSIVE_CHANGE_ANGLE)
    terms = []
    for d, o in zip(diff, onsets):
        beats = motion_beats(d, 0.001)
        if beats.size and o.size:
            terms.extend(onset_scores(o, beats))
    assert r.n_onsets == len(terms) and r.score == pytest.approx(np.mean(terms))
    assert r.n_scored + r.n_skipped_no_onset + r.n_skipped_no_motion_beat == 3


def test_padded_terms_equal_the_ragged_ones_and_reject_a_nan_before_an_onset():
    rng = np.random.default_rng(3)
    beats = [np.sort(rng.uniform(0, 2.3, rng.integers(0, 6))) for _ in range(40)]
    onsets = [np.sort(rng.uniform(0, 2.3, rng.integers(0, 200))) for _ in range(40)]
    padded = bc_terms_padded(pad_times(beats), pad_times(onsets))
    for i, (b, o) in enumerate(zip(beats, onsets)):
        if b.size and o.size:
            assert padded.status[i] == 0 and padded.counts[i] == o.size
            assert padded.sums[i] == onset_scores(o, b).sum()        # the same sum, bit for bit
        else:
            assert padded.status[i] == (1 if not b.size else 2) and padded.sums[i] == 0
    # dropping early onsets by NaN-ing them in place would sum the wrong terms: an error, not a quiet undercount
    gapped = pad_times([np.array([0.1, 0.5, 1.5])])
    gapped[0, 0] = np.nan
    with pytest.raises(ValueError, match="row 0 .*NaN before an onset time.*pad_times"):
        bc_terms_padded(pad_times([np.array([0.5, 1.5])]), gapped)


def test_faithful_and_corrected_differ():
    sk = TED_EXPRESSIVE
    vec = _motion(8, sk, seed=3)
    rng = np.random.default_rng(0)
    onsets = [np.sort(rng.uniform(0, 2.2, 4)) for _ in range(8)]
    faithful = beat_consistency(vec, _mean(sk), None, sk, mode="faithful", onsets=onsets)
    corrected = beat_consistency(vec, _mean(sk), None, sk, mode="corrected", change_angle=TED_EXPRESSIVE_CHANGE_ANGLE,
                                 onsets=onsets)
    assert faithful.thres == 0.001 and corrected.thres == 0.03
    assert faithful.n_scored > 0 and corrected.n_scored > 0
    assert faithful.score != pytest.approx(corrected.score)


def test_flat_and_vector_inputs_agree_and_audio_path_runs():
    sk = AQGT
    vec = _motion(3, sk, seed=4, amp=0.003)
    c = angle_change_constants(vec + _mean(sk), sk)
    y = np.zeros((3, N_AUDIO), np.float32)
    y[:, 8000:8800] = np.sin(np.arange(800) * 0.3)
    a = beat_consistency(vec, _mean(sk), y, sk, mode="corrected", change_angle=c)
    b = beat_consistency(vec.reshape(3, T, 53, 3), _mean(sk).reshape(53, 3), list(y), sk, mode="corrected",
                         change_angle=c)
    assert a == b and a.n_onsets > 0


def test_argument_errors():
    sk = TED_EXPRESSIVE
    vec, mean, onsets = _motion(2, sk), _mean(sk), [np.array([1.0])] * 2
    with pytest.raises(ValueError, match="pass change_angle"):
        beat_consistency(vec, mean, None, sk, mode="corrected", onsets=onsets)
    with pytest.raises(ValueError, match="pass change_angle"):
        beat_consistency(_motion(2, AQGT), _mean(AQGT), None, AQGT, onsets=onsets)
    with pytest.raises(ValueError, match="41 constants"):
        beat_consistency(vec, mean, None, sk, change_angle=[0.1] * 40, onsets=onsets)
    with pytest.raises(ValueError, match="> 0"):
        beat_consistency(vec, mean, None, sk, change_angle=[0.0] * 41, onsets=onsets)
    with pytest.raises(ValueError, match="mode"):
        beat_consistency(vec, mean, None, sk, mode="exact", onsets=onsets)
    with pytest.raises(ValueError, match="audio clips"):
        beat_consistency(vec, mean, np.zeros((3, 10)), sk)
    with pytest.raises(ValueError, match="needs `audios`"):
        beat_consistency(vec, mean, None, sk)
