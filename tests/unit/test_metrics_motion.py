import numpy as np
import pytest

from gesturegen.data.skeleton import AQGT, TED_EXPRESSIVE
from gesturegen.metrics.motion import accel_diff, joint_mae, joints_from_vectors, mean_ci95


def _unit_mean():
    _, mean = TED_EXPRESSIVE.published_means()
    mean = mean / np.linalg.norm(mean, axis=-1, keepdims=True)
    return mean.reshape(-1)


def test_joints_use_table_lengths_and_root_at_origin():
    mean = _unit_mean()
    joints = joints_from_vectors(np.zeros((2, 5, TED_EXPRESSIVE.dim)), mean, TED_EXPRESSIVE)
    assert joints.shape == (2, 5, 43, 3)
    np.testing.assert_allclose(joints[..., 0, :], 0.0)
    np.testing.assert_allclose(TED_EXPRESSIVE.bone_lengths(joints)[0, 0], TED_EXPRESSIVE.lengths, rtol=1e-6)


def test_joint_mae_ignores_seed_frames():
    rng = np.random.default_rng(0)
    mean = _unit_mean()
    target = 0.1 * rng.standard_normal((3, 34, 126))
    out = target.copy()
    out[:, :4] += 1.0
    assert joint_mae(out, target, mean, TED_EXPRESSIVE) == pytest.approx(0.0, abs=1e-12)
    out[:, 4:] += 0.05 * rng.standard_normal((3, 30, 126))
    full = joint_mae(out, target, mean, TED_EXPRESSIVE)
    expected = np.mean(np.abs(joints_from_vectors(out, mean, TED_EXPRESSIVE)[:, 4:]
                              - joints_from_vectors(target, mean, TED_EXPRESSIVE)[:, 4:]))
    assert full == pytest.approx(expected) and full > 0
    assert joint_mae(out[:, 4:], target, mean, TED_EXPRESSIVE) == pytest.approx(full)   # seed frames not generated
    with pytest.raises(ValueError, match="frames"):
        joint_mae(out[:, 2:], target, mean, TED_EXPRESSIVE)


def test_joint_mae_on_offset_skeleton():
    _, mean = AQGT.published_means()
    target = np.zeros((1, 6, AQGT.dim))
    out = target.copy()
    out[:, :, 0:3] = 0.1                      # move the absolute root: every joint moves by 0.1 on each axis
    assert joint_mae(out, target, mean, AQGT, n_seed=0) == pytest.approx(0.1)


def test_accel_diff_on_joint_positions():
    t = np.arange(10, dtype=float)
    target = np.zeros((2, 10, 4, 3))
    target[..., 0] = t[None, :, None] ** 2      # constant acceleration 2 on x
    out = np.zeros_like(target)
    out[..., 1] = 3 * t[None, :, None]          # linear: zero acceleration
    assert accel_diff(out, target) == pytest.approx(2 / 3)
    assert accel_diff(target, target) == 0.0


def test_accel_diff_from_vectors_goes_through_joints():
    rng = np.random.default_rng(1)
    mean = _unit_mean()
    out, target = 0.1 * rng.standard_normal((2, 2, 34, 126))
    got = accel_diff(out, target, mean, TED_EXPRESSIVE)
    ref = accel_diff(joints_from_vectors(out, mean, TED_EXPRESSIVE), joints_from_vectors(target, mean, TED_EXPRESSIVE))
    assert got == pytest.approx(ref)
    with pytest.raises(ValueError, match="both"):
        accel_diff(out, target, mean_dir_vec=mean)
    with pytest.raises(ValueError, match="T>=3"):
        accel_diff(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))


def test_mean_ci95_student_t():
    mean, half = mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302652729911275 / np.sqrt(3))
    m1, h1 = mean_ci95([0.5])
    assert m1 == 0.5 and np.isnan(h1)
    with pytest.raises(ValueError, match="no values"):
        mean_ci95([])
