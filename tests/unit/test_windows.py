import numpy as np
import pytest

from gesturegen.config import BuildWindowsParams, FilterParams
from gesturegen.data.filters import reject_reason, spine_angles_deg
from gesturegen.data.skeleton import AQGT, TED_EXPRESSIVE
from gesturegen.data.windows import WindowSpec, cut_clip, resample_frames, words_in_seconds
from tests.conftest import synthetic_clip

MEAN_POSE, _ = TED_EXPRESSIVE.published_means()


def test_resample_linear_signal_25_to_15_fps():
    t25 = np.arange(100) / 25.0                                    # 4 s at 25 fps
    out = resample_frames((3.0 * t25 + 1.0)[:, None], duration_s=4.0, fps=15)
    assert out.shape == (60, 1)                                    # duration x 15
    np.testing.assert_allclose(out[:, 0], 3.0 * np.arange(60) / 15.0 + 1.0, atol=1e-12)


def test_resample_extrapolates_past_the_last_frame_like_the_original():
    frames = np.arange(10, dtype=float)[:, None]                   # index k has value k
    out = resample_frames(frames, duration_s=1.0, fps=11)          # positions k * 10/11, last one 9.09 > 9
    np.testing.assert_allclose(out[:, 0], np.arange(11) * 10 / 11)


def test_window_spec_exact_and_faithful():
    exact = WindowSpec.from_params(BuildWindowsParams())
    assert (exact.n_frames, exact.span_frames, exact.audio_samples) == (34, 34, 36267)
    faithful = WindowSpec.from_params(BuildWindowsParams(span="faithful"))
    assert (faithful.span_frames, faithful.audio_samples) == (42, 44800)
    assert exact.count(34) == 1 and exact.count(33) == 0 and exact.count(54) == 3
    assert faithful.count(54) == 2


def _still(n=34):
    return np.repeat(MEAN_POSE[None], n, 0).astype(np.float64)


def test_filters_in_order():
    p = FilterParams()
    words = [("a", 0, 1), ("b", 1, 2)]
    moving = synthetic_clip(np.random.default_rng(0), 0.0, 34 / 25)["skeletons_3d"][:34].astype(float)
    assert reject_reason(moving, words, TED_EXPRESSIVE, MEAN_POSE, p) is None
    assert reject_reason(moving, words[:1], TED_EXPRESSIVE, MEAN_POSE, p) == "few_words"
    assert reject_reason(_still(), words, TED_EXPRESSIVE, MEAN_POSE, p) == "pose"
    static = _still() + 0.05                                        # away from the mean but not moving
    assert reject_reason(static, words, TED_EXPRESSIVE, MEAN_POSE, p) == "motion"
    many = [(f"w{i}", 0, 1) for i in range(16)]
    assert reject_reason(moving, many, TED_EXPRESSIVE, MEAN_POSE, p) == "text"
    assert reject_reason(moving, [("a" * 21, 0, 1), ("b", 1, 2)], TED_EXPRESSIVE, MEAN_POSE, p) == "text"


def test_spine_angle_filter():
    pose = _still() + 0.05
    upright = spine_angles_deg(pose, TED_EXPRESSIVE)
    assert upright.max() < 10
    tilted = pose.copy()
    spine = tilted[:, 1] - tilted[:, 0]
    tilted[:, 1] = tilted[:, 0] + np.linalg.norm(spine, axis=-1, keepdims=True) * np.array([np.sin(0.7), -np.cos(0.7), 0])
    assert np.allclose(spine_angles_deg(tilted, TED_EXPRESSIVE), np.degrees(0.7))
    words = [("a", 0, 1), ("b", 1, 2)]
    assert reject_reason(tilted, words, TED_EXPRESSIVE, MEAN_POSE, FilterParams()) == "spine_angle"


def test_cut_clip_words_audio_and_vectors_align():
    rng = np.random.default_rng(3)
    clip = synthetic_clip(rng, 10.0, 6.0)
    clip["words"] = [["hello", 10.0, 10.5], ["big", 11.9, 12.3], ["world", 13.0, 13.4]]
    clip["audio_raw"] = (np.arange(6 * 16000) % 1000).astype(np.float16)
    p = BuildWindowsParams(filters=FilterParams(min_words=1))
    spec = WindowSpec.from_params(p)
    cw = cut_clip(clip, TED_EXPRESSIVE, spec, p, "seconds", MEAN_POSE)
    assert len(cw.vectors) == spec.count(90) == 6
    assert cw.start_frames == [0, 10, 20, 30, 40, 50]
    np.testing.assert_allclose(cw.start_times, 10.0 + np.array(cw.start_frames) / 15)
    # window 1 spans [10.667, 12.933): "big" only; window 2 spans [11.333, 13.6): "big" and "world"
    assert [w for w, _, _ in cw.words[1]] == ["big"]
    assert [w for w, _, _ in cw.words[2]] == ["big", "world"]
    for i, f in enumerate(cw.start_frames):
        a0 = round(f / 15 * 16000)
        np.testing.assert_array_equal(cw.audio[i], clip["audio_raw"][a0:a0 + 36267])
    joints = resample_frames(clip["skeletons_3d"].astype(float), 6.0, 15)
    np.testing.assert_allclose(cw.vectors[2], TED_EXPRESSIVE.to_vectors(joints[20:54]).reshape(34, -1), rtol=1e-5)


def test_faithful_span_uses_42_frames_and_proportional_audio():
    clip = synthetic_clip(np.random.default_rng(4), 0.0, 6.0)
    p = BuildWindowsParams(span="faithful", filters=FilterParams(min_words=0))
    spec = WindowSpec.from_params(p)
    cw = cut_clip(clip, TED_EXPRESSIVE, spec, p, "seconds", MEAN_POSE)
    assert len(cw.vectors) == spec.count(90) == 5
    assert cw.vectors[0].shape == (34, 126) and cw.audio[0].shape == (44800,)
    start = int(np.floor(10 / 90 * clip["audio_raw"].shape[0]))
    np.testing.assert_array_equal(cw.audio[1], clip["audio_raw"][start:start + 44800])


def test_aqgt_word_frames_corrected_and_faithful():
    clip = {"start_time": 2.0, "end_time": 6.0, "start_frame_no": 50, "end_frame_no": 150,
            "skeletons_3d": np.zeros((100, 53, 3)), "words": [["a", 75, 100]]}
    corrected, fps = words_in_seconds(clip, "frames", aqgt_faithful=False)
    assert fps == 25.0 and corrected == [("a", 3.0, 4.0)]
    raw, _ = words_in_seconds(clip, "frames", aqgt_faithful=True)
    assert raw == [("a", 75.0, 100.0)]


def test_aqgt_offsets_window():
    pose, _ = AQGT.published_means()
    assert AQGT.to_vectors(pose[None]).shape == (1, 53, 3)


@pytest.mark.parametrize("duration", [1.0, 2.2])
def test_short_clip_counted(duration):
    clip = synthetic_clip(np.random.default_rng(5), 0.0, duration)
    p = BuildWindowsParams()
    cw = cut_clip(clip, TED_EXPRESSIVE, WindowSpec.from_params(p), p, "seconds", MEAN_POSE)
    assert cw.vectors == [] and cw.rejected["clip_too_short"] == 1
