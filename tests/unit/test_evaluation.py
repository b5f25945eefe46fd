import numpy as np
import pytest

from gesturegen.evaluation import CONTROLS, faithful_batches, make_control


@pytest.fixture
def target():
    return np.random.default_rng(0).standard_normal((10, 34, 126)).astype(np.float32)


@pytest.mark.parametrize("name", CONTROLS)
def test_controls_keep_the_seed_frames(name, target):
    train = np.random.default_rng(1).standard_normal((50, 34, 126)).astype(np.float32)
    out = make_control(name, target, train, np.random.default_rng(2))
    assert out.shape == target.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :4], target[:, :4])


def test_control_definitions(target):
    train = np.random.default_rng(1).standard_normal((50, 34, 126)).astype(np.float32)
    rng = np.random.default_rng(2)
    np.testing.assert_array_equal(make_control("mean_pose", target, train, rng)[:, 4:], 0)
    still = make_control("seed_still", target, train, rng)
    np.testing.assert_array_equal(still[:, 4:], np.repeat(target[:, 3:4], 30, axis=1))
    rnd = make_control("random_window", target, train, rng)
    rows = {r.tobytes() for r in train[:, 4:]}
    assert all(w[4:].tobytes() in rows for w in rnd)
    a = make_control("random_window", target, train, np.random.default_rng(5))
    b = make_control("random_window", target, train, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown control"):
        make_control("nope", target, train, rng)


def test_faithful_batches_drop_last():
    assert faithful_batches(300, 128) == 256 and faithful_batches(98, 128) == 98 and faithful_batches(128, 128) == 128
