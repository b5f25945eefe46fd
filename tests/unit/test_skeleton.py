import numpy as np
import pytest

from gesturegen.data.skeleton import AQGT, TED_EXPRESSIVE, SkeletonError, get_skeleton


def test_ted_expressive_layout():
    sk = TED_EXPRESSIVE
    assert sk.n_joints == 43 and sk.n_vectors == 42 and sk.dim == 126
    assert sk.body_dim == 36 and sk.hand_dim == 90
    assert sk.hand_vectors == tuple(range(5, 20)) + tuple(range(22, 37))
    # parents come before children, and every joint but the root is reached exactly once
    seen = {0}
    for p, c in sk.bones:
        assert p in seen and c not in seen
        seen.add(c)
    assert seen == set(range(43))
    assert sk.bones[20] == (3, 5) and sk.bones[21] == (5, 7) and sk.bones[37] == (1, 38)
    assert sk.lengths[0] == 0.26 and sk.lengths[22] == 0.137


def test_aqgt_layout():
    sk = AQGT
    assert sk.n_joints == 53 and sk.dim == 159 and sk.body_dim == 33 and sk.hand_dim == 126
    assert [p for p, _ in sk.bones][:11] == [-1, 0, 1, 2, 3, 2, 5, 6, 2, 8, 9]
    assert sk.bones[11] == (7, 11) and sk.bones[32] == (10, 32)


def test_published_means_shapes():
    pose, vec = TED_EXPRESSIVE.published_means()
    assert pose.shape == (43, 3) and vec.shape == (42, 3)
    assert pose[1, 1] < pose[0, 1]  # y-down: the neck is above the spine
    pose, vec = AQGT.published_means()
    assert pose.shape == (53, 3) and vec.shape == (53, 3)
    np.testing.assert_allclose(vec[0], [-0.0005, 0.1905, 0.0437], atol=1e-3)


@pytest.mark.parametrize("sk", [TED_EXPRESSIVE, AQGT], ids=lambda s: s.name)
def test_inverse_of_forward_recovers_joints(sk):
    rng = np.random.default_rng(0)
    pose, _ = sk.published_means()
    poses = pose + 0.05 * rng.standard_normal((7, 5) + pose.shape)            # (7, 5, J, 3)
    vec = sk.to_vectors(poses)
    if sk.kind == "direction":
        np.testing.assert_allclose(np.linalg.norm(vec, axis=-1), 1.0, rtol=1e-6)
        back = sk.to_joints(vec, lengths=sk.bone_lengths(poses), root=poses[..., 0, :])
    else:
        back = sk.to_joints(vec)
    np.testing.assert_allclose(back, poses, atol=1e-9)


def test_ted_inverse_with_table_lengths_is_the_original_behaviour():
    sk = TED_EXPRESSIVE
    rng = np.random.default_rng(1)
    vec = rng.standard_normal((4, 42, 3))
    vec /= np.linalg.norm(vec, axis=-1, keepdims=True)
    joints = sk.to_joints(vec)                                   # root at the origin, table lengths
    np.testing.assert_allclose(joints[:, 0], 0.0)
    np.testing.assert_allclose(sk.bone_lengths(joints), np.broadcast_to(sk.lengths, (4, 42)), rtol=1e-9)
    np.testing.assert_allclose(sk.to_vectors(joints), vec, atol=1e-9)


@pytest.mark.parametrize("sk", [TED_EXPRESSIVE, AQGT], ids=lambda s: s.name)
def test_split_then_merge_is_identity(sk):
    flat = np.random.default_rng(2).standard_normal((3, 34, sk.dim)).astype(np.float32)
    body, hand = sk.split(flat)
    assert body.shape == (3, 34, sk.body_dim) and hand.shape == (3, 34, sk.hand_dim)
    np.testing.assert_array_equal(sk.merge(body, hand), flat)
    if sk is AQGT:  # a plain split at 33 for AQGT
        np.testing.assert_array_equal(body, flat[..., :33])


def test_ted_body_split_picks_the_listed_vectors():
    flat = np.arange(126, dtype=np.float32)
    body, _ = TED_EXPRESSIVE.split(flat)
    expected = np.concatenate([np.arange(3 * i, 3 * i + 3) for i in (0, 1, 2, 3, 4, 20, 21, 37, 38, 39, 40, 41)])
    np.testing.assert_array_equal(body, expected)


def test_wrong_shapes_are_clear_errors():
    with pytest.raises(SkeletonError, match=r"expected joints of shape \(\.\.\., 43, 3\).*got \(10, 53, 3\)"):
        TED_EXPRESSIVE.to_vectors(np.zeros((10, 53, 3)))
    with pytest.raises(SkeletonError, match="cannot merge"):
        TED_EXPRESSIVE.merge(np.zeros((2, 36)), np.zeros((2, 91)))
    with pytest.raises(SkeletonError, match="unknown skeleton 'smpl'"):
        get_skeleton("smpl")
