"""The two skeletons of the field (ldmc-spec §2.2): TED Expressive (43 joints, 42 unit direction vectors)
and AQGT (53 joints, 53 bone-offset vectors with an absolute root), with body/hand splits.

Arrays keep any leading shape: poses are (..., J, 3), vectors (..., V, 3), flat vectors (..., V*3).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

# (parent, child, length) per direction vector, in the order of the original code; parents come first.
_TED_HAND = [(0, 1, 0.137), (1, 2, 0.044), (2, 3, 0.031),     # index
             (0, 4, 0.144), (4, 5, 0.042), (5, 6, 0.033),     # middle
             (0, 7, 0.127), (7, 8, 0.027), (8, 9, 0.026),     # pinky
             (0, 10, 0.134), (10, 11, 0.039), (11, 12, 0.033),  # ring
             (0, 13, 0.068), (13, 14, 0.042), (14, 15, 0.036)]  # thumb


def _hand(wrist: int, first: int) -> list[tuple[int, int, float]]:
    # finger joint k of the table above sits at first + k - 1; 0 means the wrist
    def j(k: int) -> int:
        return wrist if k == 0 else first + k - 1
    return [(j(p), j(c), length) for p, c, length in _TED_HAND]


TED_BONES: tuple[tuple[int, int, float], ...] = tuple(
    [(0, 1, 0.26), (1, 2, 0.22), (1, 3, 0.22), (2, 4, 0.36), (4, 6, 0.33)]
    + _hand(6, 8)
    + [(3, 5, 0.36), (5, 7, 0.33)]
    + _hand(7, 23)
    + [(1, 38, 0.18), (38, 39, 0.14), (38, 40, 0.14), (39, 41, 0.15), (40, 42, 0.15)]
)
TED_BODY_VECTORS = (0, 1, 2, 3, 4, 20, 21, 37, 38, 39, 40, 41)

_AQGT_HAND_L = [7, 7, 12, 13, 14, 7, 16, 17, 18, 7, 20, 21, 22, 11, 24, 25, 26, 11, 28, 29, 30]
_AQGT_HAND_R = [10, 10, 33, 34, 35, 10, 37, 38, 39, 10, 41, 42, 43, 32, 45, 46, 47, 32, 49, 50, 51]
AQGT_PARENTS: tuple[int, ...] = tuple([-1, 0, 1, 2, 3, 2, 5, 6, 2, 8, 9] + _AQGT_HAND_L + _AQGT_HAND_R)
AQGT_BODY_VECTORS = tuple(range(11))


class SkeletonError(ValueError):
    """An array does not fit the skeleton it is used with."""


@dataclass(frozen=True)
class Skeleton:
    """A joint hierarchy and the vector representation the models see.

    kind "direction": vector i = normalize(pose[child_i] - pose[parent_i]) (unit length; TED Expressive).
    kind "offset":    vector i = pose[i] - pose[parent[i]], the root keeps its absolute position (AQGT).
    """

    name: str
    n_joints: int
    kind: str
    bones: tuple[tuple[int, int], ...]            # (parent, child) per vector; parent -1 = absolute root
    lengths: tuple[float, ...]                    # table bone lengths ("direction" only)
    body_vectors: tuple[int, ...]
    hand_vectors: tuple[int, ...] = field(init=False)
    spine: tuple[int, int] = (0, 1)               # (lower, upper) joint of the spine-angle filter
    wrists: tuple[int, int] = (6, 7)

    def __post_init__(self) -> None:
        hands = tuple(i for i in range(len(self.bones)) if i not in set(self.body_vectors))
        object.__setattr__(self, "hand_vectors", hands)

    # --- sizes ---
    @property
    def n_vectors(self) -> int:
        return len(self.bones)

    @property
    def dim(self) -> int:
        return 3 * self.n_vectors

    @property
    def body_dim(self) -> int:
        return 3 * len(self.body_vectors)

    @property
    def hand_dim(self) -> int:
        return 3 * len(self.hand_vectors)

    # --- checks ---
    def check_poses(self, poses: np.ndarray, where: str = "poses") -> np.ndarray:
        poses = np.asarray(poses)
        if poses.ndim < 2 or poses.shape[-2:] != (self.n_joints, 3):
            raise SkeletonError(
                f"{where}: expected joints of shape (..., {self.n_joints}, 3) for the {self.name} skeleton, "
                f"got {poses.shape}; check that the dataset's `skeleton` in params.yaml matches the data")
        return poses

    def check_vectors(self, vectors: np.ndarray, where: str = "vectors") -> np.ndarray:
        vectors = np.asarray(vectors)
        if vectors.ndim < 2 or vectors.shape[-2:] != (self.n_vectors, 3):
            raise SkeletonError(f"{where}: expected (..., {self.n_vectors}, 3) vectors for the {self.name} "
                                f"skeleton, got {vectors.shape}")
        return vectors

    # --- transforms ---
    def to_vectors(self, poses: np.ndarray) -> np.ndarray:
        """Joint positions (..., J, 3) -> vectors (..., V, 3)."""
        vec = self._offsets(poses)
        if self.kind == "direction":
            norm = np.linalg.norm(vec, axis=-1, keepdims=True)
            vec = vec / np.where(norm > 0, norm, 1.0)
        return vec

    def to_joints(self, vectors: np.ndarray, lengths: np.ndarray | None = None,
                  root: np.ndarray | None = None) -> np.ndarray:
        """Vectors (..., V, 3) -> joint positions (..., J, 3).

        For direction vectors, `lengths` (..., V) default to the table lengths and `root` (..., 3) to the origin,
        as in the original code; pass both to recover a pose exactly.
        """
        vectors = self.check_vectors(vectors)
        joints = np.zeros(vectors.shape[:-2] + (self.n_joints, 3), dtype=np.result_type(vectors, np.float32))
        if self.kind == "direction":
            lens = np.asarray(self.lengths if lengths is None else lengths, dtype=joints.dtype)
            if root is not None:
                joints[..., self.bones[0][0], :] = root
            for i, (p, c) in enumerate(self.bones):
                joints[..., c, :] = joints[..., p, :] + lens[..., i, None] * vectors[..., i, :]
        else:
            for i, (p, c) in enumerate(self.bones):
                joints[..., c, :] = vectors[..., i, :] + (joints[..., p, :] if p >= 0 else 0.0)
        return joints

    def bone_lengths(self, poses: np.ndarray) -> np.ndarray:
        """Per-vector bone lengths (..., V) of the given poses (the root 'bone' of an offset skeleton is its norm)."""
        return np.linalg.norm(self._offsets(poses), axis=-1)

    def _offsets(self, poses: np.ndarray) -> np.ndarray:
        """child - parent per vector (..., V, 3); a root 'bone' (parent -1) is the child's absolute position."""
        poses = self.check_poses(poses)
        parents = np.array([p for p, _ in self.bones])
        children = np.array([c for _, c in self.bones])
        return poses[..., children, :] - np.where(parents[:, None] >= 0, poses[..., np.maximum(parents, 0), :], 0.0)

    # --- body / hand ---
    def split(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat vectors (..., V*3) -> (body (..., Vb*3), hand (..., Vh*3)), each in ascending vector order."""
        flat = np.asarray(flat)
        if flat.shape[-1] != self.dim:
            raise SkeletonError(f"expected flat vectors of size {self.dim} ({self.name}), got {flat.shape}")
        vec = flat.reshape(flat.shape[:-1] + (self.n_vectors, 3))
        body = vec[..., list(self.body_vectors), :].reshape(flat.shape[:-1] + (self.body_dim,))
        hand = vec[..., list(self.hand_vectors), :].reshape(flat.shape[:-1] + (self.hand_dim,))
        return body, hand

    def merge(self, body: np.ndarray, hand: np.ndarray) -> np.ndarray:
        """Inverse of split: scatter the body and hand vectors back into their slots."""
        body, hand = np.asarray(body), np.asarray(hand)
        if body.shape[-1] != self.body_dim or hand.shape[-1] != self.hand_dim or body.shape[:-1] != hand.shape[:-1]:
            raise SkeletonError(f"cannot merge body {body.shape} and hand {hand.shape} for {self.name}: "
                                f"expected (..., {self.body_dim}) and (..., {self.hand_dim})")
        lead = body.shape[:-1]
        out = np.zeros(lead + (self.n_vectors, 3), dtype=np.result_type(body, hand))
        out[..., list(self.body_vectors), :] = body.reshape(lead + (-1, 3))
        out[..., list(self.hand_vectors), :] = hand.reshape(lead + (-1, 3))
        return out.reshape(lead + (self.dim,))

    # --- published statistics ---
    def published_means(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean_pose (J, 3), mean vectors (V, 3)) as published with the dataset (float32)."""
        return _published_means(self.name)


@cache
def _published_means(name: str) -> tuple[np.ndarray, np.ndarray]:
    text = resources.files("gesturegen.assets").joinpath(f"{name}_means.json").read_text()
    d = json.loads(text)
    pose = np.asarray(d["mean_pose"], dtype=np.float32).reshape(-1, 3)
    vec = np.asarray(d["mean_dir_vec"], dtype=np.float32).reshape(-1, 3)
    pose.flags.writeable = False
    vec.flags.writeable = False
    return pose, vec


TED_EXPRESSIVE = Skeleton(
    name="ted_expressive", n_joints=43, kind="direction",
    bones=tuple((p, c) for p, c, _ in TED_BONES), lengths=tuple(length for _, _, length in TED_BONES),
    body_vectors=TED_BODY_VECTORS, spine=(0, 1), wrists=(6, 7))

AQGT = Skeleton(
    name="aqgt", n_joints=53, kind="offset",
    bones=tuple((p, i) for i, p in enumerate(AQGT_PARENTS)), lengths=(),
    body_vectors=AQGT_BODY_VECTORS, spine=(0, 2), wrists=(7, 10))

SKELETONS = {s.name: s for s in (TED_EXPRESSIVE, AQGT)}


def get_skeleton(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise SkeletonError(f"unknown skeleton {name!r}; choose one of {sorted(SKELETONS)}") from None
