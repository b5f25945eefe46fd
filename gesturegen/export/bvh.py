"""BVH export of motion on the project's skeletons (TED Expressive, AQGT), for Blender, Maya, MotionBuilder and the
other animation tools that read Biovision hierarchies.

What the file holds
- The hierarchy: one BVH joint per skeleton joint, named as ldmc-spec §2.2 (`JOINT_NAMES`), each at its rest offset
  from its parent: the bone's rest direction times its length. Lengths are the project's: the table lengths for
  TED Expressive (`Skeleton.lengths`, the ones `joints_from_vectors` uses) and, for AQGT (bone offsets, no table),
  the lengths of the given rest vectors (the dataset's mean vectors by default). Rest directions are the rest
  vectors' (the dataset's mean pose), so rotations stay small and the rest pose is a natural one.
- Axes: the datasets are y-down (ldmc-spec §2.2); BVH tools expect y-up, so every position and direction is turned
  180° about x, (x, y, z) -> (x, -y, -z), a rotation (handedness kept).
- Rotations from direction vectors. A direction fixes a bone up to its twist about itself; the convention here: each
  bone's **world** rotation is the shortest arc from its rest direction to its direction in that frame (no twist
  relative to the rest pose, in world axes), and a joint's channels hold its rotation relative to its parent's
  (local = parent_world⁻¹ · world). A joint with one bone below it carries that bone's rotation. A joint with several
  (TED's neck, wrists and nose; AQGT's thorax, wrists and hand roots) keeps its parent's rotation, and each of its
  bones hangs from a zero-length branch joint `<joint>__<child>` that carries that bone's rotation: the directions
  of sibling bones are independent in the data, and one rotation could not set them all.
- Positions: the root has 6 channels (position, then rotation); every other joint 3 rotation channels, order
  Zrotation Xrotation Yrotation (intrinsic: R = Rz·Rx·Ry). TED's root (the spine base) stays at the origin, as in
  `joints_from_vectors`; AQGT's moves with its absolute root vector.
- Frame time 1 / fps.

Generated direction vectors are not exactly unit length and generated AQGT offsets not exactly the rest lengths; a
BVH bone cannot change length, so the file holds the directions at the fixed lengths. `bvh_joint_positions` gives
those joints (what any BVH reader recomputes from the file), for checks and for display.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gesturegen.data.skeleton import Skeleton

# ldmc-spec §2.2 (TED Expressive: spine, neck, shoulders, elbows, wrists, 5 fingers × 3 per hand, nose, eyes, ears;
# left / right as the spec names them)
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
_TED_NAMES = (["spine", "neck", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist"]
              + [f"l_{f}{k}" for f in _FINGERS for k in (1, 2, 3)]
              + [f"r_{f}{k}" for f in _FINGERS for k in (1, 2, 3)]
              + ["nose", "r_eye", "l_eye", "r_ear", "l_ear"])
# AQGT: H36M upper body, then two 21-keypoint hands (wrist, thumb 1-4, index, middle, ring, pinky 1-4 each)
_HAND21 = ["root"] + [f"{f}{k}" for f in ("thumb", "index", "middle", "ring", "pinky") for k in (1, 2, 3, 4)]
_AQGT_NAMES = (["hip", "spine", "thorax", "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder",
                "r_elbow", "r_wrist"] + [f"l_hand_{n}" for n in _HAND21] + [f"r_hand_{n}" for n in _HAND21])
JOINT_NAMES = {"ted_expressive": tuple(_TED_NAMES), "aqgt": tuple(_AQGT_NAMES)}

Y_UP = np.diag([1.0, -1.0, -1.0])     # y-down data -> y-up BVH: 180° about x
_EPS = 1e-9


class BVHExportError(ValueError):
    """Motion that cannot be written as BVH (wrong shape, not finite); the message says which array and why."""


@dataclass(frozen=True)
class BVHLayout:
    """The BVH joints in file order (depth first) and what drives each."""
    names: tuple[str, ...]
    parents: tuple[int, ...]        # index of the BVH parent, -1 for the root
    offsets: np.ndarray             # (N, 3) rest offsets from the parent, y-up
    bones: tuple[int, ...]          # the skeleton vector whose direction the joint's rotation sets; -1: parent's
    joints: tuple[int, ...]         # the skeleton joint at the BVH joint, -1 for a branch joint
    lengths: np.ndarray             # (V,) bone lengths (the root vector of an offset skeleton: 0, unused)
    rest_dirs: np.ndarray           # (V, 3) unit rest directions, y-up

    def children(self, i: int) -> list[int]:
        return [k for k, p in enumerate(self.parents) if p == i]


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > _EPS, v / np.where(n > _EPS, n, 1.0), fallback)


def _check(skeleton: Skeleton, vectors: np.ndarray, where: str) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    if v.shape[-1] == skeleton.dim and v.ndim >= 1:
        v = v.reshape(v.shape[:-1] + (skeleton.n_vectors, 3))
    if v.shape[-2:] != (skeleton.n_vectors, 3):
        raise BVHExportError(f"{where}: expected (..., {skeleton.n_vectors}, 3) or (..., {skeleton.dim}) vectors "
                             f"of the {skeleton.name} skeleton, got {np.shape(vectors)}")
    if not np.isfinite(v).all():
        raise BVHExportError(f"{where}: {int((~np.isfinite(v)).sum())} values are NaN or infinite")
    return v


def bvh_layout(skeleton: Skeleton, rest_vectors: np.ndarray) -> BVHLayout:
    """The hierarchy for `skeleton` with rest pose `rest_vectors` (V, 3) or (V·3,), in the data's axes and with the
    mean added (e.g. a dataset's mean_dir_vec, or `skeleton.published_means()[1]`)."""
    if skeleton.name not in JOINT_NAMES:
        raise BVHExportError(f"no BVH joint names for skeleton {skeleton.name!r} (known: {sorted(JOINT_NAMES)})")
    rest = _check(skeleton, rest_vectors, "rest vectors") @ Y_UP.T
    names = JOINT_NAMES[skeleton.name]
    up = np.array([0.0, 1.0, 0.0])
    dirs = _unit(rest, up)
    lengths = (np.asarray(skeleton.lengths, dtype=np.float64) if skeleton.kind == "direction"
               else np.linalg.norm(rest, axis=-1))
    root_bones = [i for i, (p, _) in enumerate(skeleton.bones) if p < 0]
    if skeleton.kind == "offset":
        lengths[root_bones] = 0.0
    root = skeleton.bones[root_bones[0]][1] if root_bones else skeleton.bones[0][0]
    below: dict[int, list[int]] = {}
    for i, (p, _) in enumerate(skeleton.bones):
        if p >= 0:
            below.setdefault(p, []).append(i)

    out_names, parents, offsets, bones, joints = [], [], [], [], []

    def add(name, parent, offset, bone, joint) -> int:
        out_names.append(name)
        parents.append(parent)
        offsets.append(offset)
        bones.append(bone)
        joints.append(joint)
        return len(out_names) - 1

    def visit(j: int, parent: int, offset: np.ndarray) -> None:
        kids = below.get(j, [])
        me = add(names[j], parent, offset, kids[0] if len(kids) == 1 else -1, j)
        if len(kids) == 1:
            i = kids[0]
            visit(skeleton.bones[i][1], me, dirs[i] * lengths[i])
            return
        for i in kids:
            c = skeleton.bones[i][1]
            branch = add(f"{names[j]}__{names[c]}", me, np.zeros(3), i, -1)
            visit(c, branch, dirs[i] * lengths[i])

    visit(root, -1, np.zeros(3))
    if len(set(out_names)) != len(out_names):
        raise AssertionError("BVH joint names must be unique")     # a bug in the name tables
    return BVHLayout(tuple(out_names), tuple(parents), np.asarray(offsets), tuple(bones), tuple(joints), lengths,
                     dirs)


def _shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations taking unit vectors a to unit vectors b by the smallest angle (Rodrigues); for opposite
    vectors, a half turn about an axis perpendicular to a."""
    a, b = np.broadcast_arrays(a, b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.einsum("...i,...i->...", a, b)
    # opposite: any axis perpendicular to a (a × x, or a × y when a is along x)
    perp = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]))
    perp = perp / np.linalg.norm(perp, axis=-1, keepdims=True)
    k = np.where((s < 1e-12)[..., None], perp, axis / np.where(s > 0, s, 1.0)[..., None])
    angle = np.arctan2(s, c)
    angle = np.where((s < 1e-12) & (c > 0), 0.0, angle)
    kx = np.zeros(k.shape[:-1] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2], kx[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    kx = kx - np.swapaxes(kx, -1, -2)
    sin, cos = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + sin * kx + (1 - cos) * (kx @ kx)


def _directions(layout: BVHLayout, v: np.ndarray) -> np.ndarray:
    """(T, V, 3) unit directions in y-up axes; a zero vector keeps its rest direction."""
    return _unit(v @ Y_UP.T, layout.rest_dirs)


def bvh_joint_positions(vectors: np.ndarray, skeleton: Skeleton, rest_vectors: np.ndarray) -> np.ndarray:
    """The joint positions (T, J, 3), y-up, that the BVH of `vectors` (T, V, 3) or (T, V·3) (mean added) encodes:
    each bone's direction at its BVH length, computed by summing along the skeleton (no rotations), for checks."""
    layout = bvh_layout(skeleton, rest_vectors)
    v = _check(skeleton, vectors, "motion")
    d = _directions(layout, v)
    scaled = d * layout.lengths[:, None]
    if skeleton.kind == "offset":
        for i, (p, _) in enumerate(skeleton.bones):
            if p < 0:
                scaled[..., i, :] = v[..., i, :] @ Y_UP.T           # the absolute root
        return skeleton.to_joints(scaled)
    return skeleton.to_joints(scaled, lengths=np.ones(skeleton.n_vectors))


def motion_channels(vectors: np.ndarray, skeleton: Skeleton, layout: BVHLayout) -> np.ndarray:
    """(T, 3 + 3·N) channel values per frame: root position, then ZXY Euler angles in degrees of every joint."""
    from scipy.spatial.transform import Rotation

    v = _check(skeleton, vectors, "motion")
    if v.ndim != 3:
        raise BVHExportError(f"motion: expected frames (T, V, 3), got {np.shape(vectors)}")
    t = v.shape[0]
    d = _directions(layout, v)
    n = len(layout.names)
    world = np.empty((t, n, 3, 3))
    local = np.empty((t, n, 3, 3))
    for j in range(n):                              # parents come first (depth-first order)
        p = layout.parents[j]
        parent = world[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        b = layout.bones[j]
        world[:, j] = _shortest_arc(layout.rest_dirs[b], d[:, b]) if b >= 0 else parent
        local[:, j] = np.swapaxes(parent, -1, -2) @ world[:, j]
    euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("ZXY", degrees=True).reshape(t, n * 3)
    root = np.zeros((t, 3))
    if skeleton.kind == "offset":
        i = next(i for i, (p, _) in enumerate(skeleton.bones) if p < 0)
        root = v[:, i] @ Y_UP.T
    return np.concatenate([root, euler], axis=1)


def bvh_text(vectors: np.ndarray, skeleton: Skeleton, rest_vectors: np.ndarray, fps: float) -> str:
    """The BVH file of `vectors` (T, V, 3) or (T, V·3), mean added, data axes, at `fps` frames per second."""
    if not fps > 0:
        raise BVHExportError(f"fps must be positive, got {fps}")
    layout = bvh_layout(skeleton, rest_vectors)
    values = motion_channels(vectors, skeleton, layout)
    lines = ["HIERARCHY"]

    def write(j: int, depth: int) -> None:
        pad = "  " * depth
        kind = "ROOT" if layout.parents[j] < 0 else "JOINT"
        lines.append(f"{pad}{kind} {layout.names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET " + " ".join(f"{x:.6f}" for x in layout.offsets[j]))
        lines.append(f"{pad}  CHANNELS " + ("6 Xposition Yposition Zposition " if kind == "ROOT" else "3 ")
                     + "Zrotation Xrotation Yrotation")
        kids = layout.children(j)
        for k in kids:
            write(k, depth + 1)
        if not kids:                                # a leaf: an end site a quarter of its bone further on
            off = layout.offsets[j]
            end = off * 0.25 if np.linalg.norm(off) > _EPS else np.array([0.0, 0.01, 0.0])
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET " + " ".join(f"{x:.6f}" for x in end), f"{pad}  }}"])
        lines.append(f"{pad}}}")

    write(0, 0)
    lines += ["MOTION", f"Frames: {values.shape[0]}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{x:.6f}" for x in row) for row in values]
    return "\n".join(lines) + "\n"


def write_bvh(path: str | Path, vectors: np.ndarray, skeleton: Skeleton, rest_vectors: np.ndarray,
              fps: float) -> Path:
    """Write `vectors` (T, V, 3) or (T, V·3) (mean added, data axes) as a BVH file; returns the path."""
    path = Path(path)
    text = bvh_text(vectors, skeleton, rest_vectors, fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    tmp.replace(path)
    return path
