"""BVH export, checked by an independent reader (bvhio recomputes every joint from the written file)."""
from __future__ import annotations

import numpy as np
import pytest

from gesturegen.data.skeleton import get_skeleton
from gesturegen.export.bvh import (
    JOINT_NAMES,
    Y_UP,
    BVHExportError,
    bvh_joint_positions,
    bvh_layout,
    write_bvh,
)
from gesturegen.metrics.motion import joints_from_vectors


def read_with_bvhio(path, n_joints: int):
    """(frames (T, N, 3) of world positions, joint names in file order, frame time) as bvhio reads them."""
    import bvhio

    container = bvhio.readAsBvh(str(path))
    root = bvhio.readAsHierarchy(str(path))
    names = [j.Name for j, _, _ in root.layout()]
    out = np.zeros((container.FrameCount, len(names), 3))
    for f in range(container.FrameCount):
        root.loadPose(f)
        for joint, i, _ in root.layout():
            out[f, i] = np.array(joint.PositionWorld)
    assert len(names) == n_joints
    return out, names, container.FrameTime


def check_against_bvhio(path, vectors, skeleton, rest, atol=1e-4) -> float:
    layout = bvh_layout(skeleton, rest)
    got, names, _ = read_with_bvhio(path, len(layout.names))
    assert names == list(layout.names)
    ours = bvh_joint_positions(vectors, skeleton, rest)
    at = [i for i, j in enumerate(layout.joints) if j >= 0]
    assert sorted(layout.joints[i] for i in at) == list(range(skeleton.n_joints))   # every joint, once
    err = np.abs(got[:, at] - ours[:, [layout.joints[i] for i in at]])
    assert err.max() < atol, f"{skeleton.name}: max |bvhio - ours| = {err.max():.2e}"
    return float(err.max())


def test_bvhio_recomputes_every_joint_of_generated_motion(tmp_path):
    """Long-form generation (small models built from a config) on the TED skeleton, written as BVH: bvhio's joints
    equal ours within 1e-4 for every joint and frame."""
    from gesturegen.generation import generate_long
    from gesturegen.models.diffusion import SamplerConfig
    from tests.unit.test_diffusion import tiny_ted_parts

    skeleton = get_skeleton("ted_expressive")
    mean = np.asarray(skeleton.published_means()[1], np.float64)
    parts = tiny_ted_parts()
    rng = np.random.default_rng(0)
    n = 3
    feats = (rng.normal(size=(n, 34, 5)), rng.normal(size=(n, 34, 6)), rng.normal(size=(n, 7)), rng.normal(size=(n, 8)))
    out = generate_long(parts, *feats, SamplerConfig("ddim", steps=2), seed=0,
                        first_seed=np.zeros((4, 126), np.float32), styles=[None, None], audio=rng.normal(size=96000))
    motion = out.motion.reshape(-1, 42, 3) + mean                           # the models give mean-subtracted vectors
    assert motion.shape == (94, 42, 3)
    assert np.abs(np.linalg.norm(motion, axis=-1) - 1).max() > 0.01      # generated: not unit length
    path = write_bvh(tmp_path / "gen.bvh", motion, skeleton, mean, fps=15)
    check_against_bvhio(path, motion, skeleton, mean)
    _, _, frame_time = read_with_bvhio(path, len(bvh_layout(skeleton, mean).names))
    assert frame_time == pytest.approx(1 / 15, abs=1e-7)


def test_aqgt_moves_its_root_and_keeps_its_bone_lengths(tmp_path):
    skeleton = get_skeleton("aqgt")
    mean = np.asarray(skeleton.published_means()[1], np.float64)
    rng = np.random.default_rng(1)
    t = 12
    motion = mean + 0.2 * rng.standard_normal((t, 53, 3)) * (np.linalg.norm(mean, axis=-1, keepdims=True) + 1e-3)
    motion[:, 0] = mean[0] + np.linspace(0, 0.3, t)[:, None] * [1.0, 0.0, 0.5]    # the root walks
    path = write_bvh(tmp_path / "a.bvh", motion, skeleton, mean, fps=15)
    check_against_bvhio(path, motion, skeleton, mean)
    ours = bvh_joint_positions(motion, skeleton, mean)
    np.testing.assert_allclose(ours[:, 0], motion[:, 0] @ Y_UP.T)         # absolute root, y-up
    lengths = skeleton.bone_lengths(ours)[:, 1:]
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(mean[1:], axis=-1), lengths.shape),
                               atol=1e-12)


def test_unit_vectors_give_the_projects_joints_and_degenerate_bones_are_written(tmp_path):
    """For unit direction vectors (real TED motion) the BVH joints are joints_from_vectors' (turned y-up); a bone
    pointing against its rest direction, or of zero length, still round-trips."""
    skeleton = get_skeleton("ted_expressive")
    mean = np.asarray(skeleton.published_means()[1], np.float64)
    rng = np.random.default_rng(2)
    vec = mean + 0.3 * rng.standard_normal((6, 42, 3))
    vec /= np.linalg.norm(vec, axis=-1, keepdims=True)
    ours = bvh_joint_positions(vec, skeleton, mean)
    theirs = joints_from_vectors(vec - mean, mean, skeleton) @ Y_UP.T
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    vec[2, 5] = -mean[5] / np.linalg.norm(mean[5])            # half a turn away from the rest direction
    vec[3, 6] = 0.0                                            # no direction: the rest direction is kept
    path = write_bvh(tmp_path / "d.bvh", vec, skeleton, mean, fps=25)
    check_against_bvhio(path, vec, skeleton, mean)


def test_names_and_hierarchy():
    for name in JOINT_NAMES:
        skeleton = get_skeleton(name)
        layout = bvh_layout(skeleton, skeleton.published_means()[1])
        assert len(JOINT_NAMES[name]) == skeleton.n_joints
        assert layout.parents[0] == -1 and all(p < i for i, p in enumerate(layout.parents))
    ted = bvh_layout(get_skeleton("ted_expressive"), get_skeleton("ted_expressive").published_means()[1])
    # the neck has three bones below it (shoulders, nose): three branch joints, each carrying one
    assert [ted.names[k] for k in ted.children(ted.names.index("neck"))] == [
        "neck__l_shoulder", "neck__r_shoulder", "neck__nose"]


@pytest.mark.parametrize("change, match", [
    (lambda v: v[:, :40], r"motion: expected \(\.\.\., 42, 3\)"),
    (lambda v: np.where(np.arange(42)[None, :, None] == 3, np.nan, v), "motion: 6 values are NaN or infinite"),
])
def test_bad_motion_is_refused_by_name(tmp_path, change, match):
    skeleton = get_skeleton("ted_expressive")
    mean = np.asarray(skeleton.published_means()[1], np.float64)
    with pytest.raises(BVHExportError, match=match):
        write_bvh(tmp_path / "x.bvh", change(np.repeat(mean[None], 2, axis=0)), skeleton, mean, fps=15)
    assert not (tmp_path / "x.bvh").exists() and not list(tmp_path.iterdir())
    with pytest.raises(BVHExportError, match="fps must be positive"):
        write_bvh(tmp_path / "y.bvh", np.repeat(mean[None], 2, axis=0), skeleton, mean, fps=0)
