"""The demo body: TED Expressive geometry around the published mean pose, two-bone arm IK, hands, pose assembly.

Gesture parameters (per-hand tracks, head angles, breathing, lean) become direction vectors in the torso frame,
and those become joints with the mean pose's bone lengths and root, so bone lengths match the real data. The
rotations and products go through gesturegen.numerics (no BLAS, no dispatched trigonometry).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gesturegen import numerics as nx
from gesturegen.data.skeleton import TED_EXPRESSIVE

SKELETON = TED_EXPRESSIVE

_MEAN_POSE = SKELETON.published_means()[0].astype(np.float64)          # (43, 3)
_LENGTHS = SKELETON.bone_lengths(_MEAN_POSE)                           # (42,)
_MEAN_VEC = SKELETON.to_vectors(_MEAN_POSE)                            # (42, 3) unit
_ROOT = _MEAN_POSE[0]
# per hand (left = subject's left, +x; right, -x): vector indices and joints
_ARM = {"left": {"shoulder": 2, "elbow": 4, "wrist": 6, "upper": 3, "fore": 4, "fingers": 5, "out": 1.0},
        "right": {"shoulder": 3, "elbow": 5, "wrist": 7, "upper": 20, "fore": 21, "fingers": 22, "out": -1.0}}
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")                # skeleton order within a hand
_HEAD = (37, 38, 39, 40, 41)
# curl angles (degrees) of the three segments of a finger / the thumb at curl 1, measured from the relaxed metacarpal
_CURL_DEG = {"finger": (25.0, 95.0, 175.0), "thumb": (12.0, 45.0, 85.0)}
_CURL_REF = 0.4                                                        # the mean pose's curl (the metacarpal's zero)
_X, _Y, _Z = np.eye(3)
NOISE = 0.004                                                          # per-frame noise on every bone direction


def _rodrigues(axis: np.ndarray, c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) about unit axes (..., 3) by the angles whose cosines and sines are c, s (...)."""
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    C = 1 - c
    return np.stack([np.stack([c + x * x * C, x * y * C - z * s, x * z * C + y * s], -1),
                     np.stack([y * x * C + z * s, c + y * y * C, y * z * C - x * s], -1),
                     np.stack([z * x * C - y * s, z * y * C + x * s, c + z * z * C], -1)], -2)


def _rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: (..., 3) unit axes and (...) angles -> (..., 3, 3)."""
    s, c = nx.sincos(angle)
    return _rodrigues(np.broadcast_to(axis, np.shape(angle) + (3,)), c, s)


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations taking unit a (3,) to unit b (T, 3): (T, 3, 3)."""
    axis = np.cross(a, b)
    s = nx.norm3(axis)
    c = nx.dot3(b, a)
    r = np.sqrt(s * s + c * c)   # cos and sin of atan2(s, c) without the trigonometry
    axis = np.where(s[:, None] > 1e-9, axis / np.maximum(s, 1e-12)[:, None], _X)
    return _rodrigues(axis, c / r, s / r)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / nx.norm3(v)[..., None]


def _two_bone_ik(shoulder: np.ndarray, target: np.ndarray, a: float, b: float, pole: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Upper-arm and forearm unit directions (T, 3) reaching for target (T, 3), elbow bent towards pole (3,)."""
    d_vec = target - shoulder
    d = np.clip(nx.norm3(d_vec), abs(a - b) + 1e-3, 0.985 * (a + b))
    u = _unit(d_vec)
    v = _unit(pole - nx.dot3(u, pole)[:, None] * u)
    cos_a = np.clip((a * a + d * d - b * b) / (2 * a * d), -1.0, 1.0)
    upper = cos_a[:, None] * u + np.sqrt(1 - cos_a * cos_a)[:, None] * v
    elbow = shoulder + a * upper
    fore = _unit(shoulder + d[:, None] * u - elbow)
    return upper, fore


@dataclass(frozen=True)
class _HandModel:
    """A hand in the mean pose's frame: metacarpals, curl axes and the forearm they hang from."""
    fore0: np.ndarray       # (3,)
    meta0: np.ndarray       # (5, 3) wrist -> first finger joint
    axes: np.ndarray        # (5, 3) curl axis per finger
    flex_axis: np.ndarray   # (3,)
    pole: np.ndarray        # (3,) elbow bend direction at rest


def _hand_model(side: str) -> _HandModel:
    arm = _ARM[side]
    base = arm["fingers"]
    meta = np.stack([_MEAN_VEC[base + 3 * f] for f in range(5)])
    tips = np.stack([_MEAN_VEC[base + 3 * f + 2] for f in range(5)])
    axes = _unit(np.cross(meta, tips))
    s, e, w = (_MEAN_POSE[arm[k]] for k in ("shoulder", "elbow", "wrist"))
    u = _unit(w - s)
    pole = (e - s) - nx.dot3(e - s, u) * u
    pole = _unit(_unit(pole) + 0.3 * np.array([arm["out"], 0.0, 0.0]))
    flex = _unit((axes[0] + axes[1] + axes[2] + axes[3]) / 4)       # the four fingers' mean curl axis
    return _HandModel(_MEAN_VEC[arm["fore"]], meta, axes, flex, pole)


_HANDS = {side: _hand_model(side) for side in _ARM}


@dataclass
class HandTrack:
    """Per-frame gesture parameters of one hand, in the torso frame."""
    offset: np.ndarray      # (T, 3) wrist offset from the mean pose, m (x outward-signed later)
    curl: np.ndarray        # (T, 5) finger curls
    twist: np.ndarray       # (T,) forearm rotation, rad
    flex: np.ndarray        # (T,) wrist flexion, rad


def pose_joints(tracks: dict[str, HandTrack], head: np.ndarray, breath: np.ndarray, lean: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Gesture parameters -> direction vectors in the torso frame -> rotate the torso -> joints (T, 43, 3) float32.

    `head` (T, 3) is yaw, pitch (nod) and roll; `breath` (T,) lifts the shoulders; `lean` (T, 2) tilts the torso
    about z and x; `rng` draws the small estimation-like noise on every bone direction.
    """
    T = head.shape[0]
    vec = np.repeat(_MEAN_VEC[None], T, 0)                                          # (T, 42, 3)
    # breathing lifts the shoulders
    for i in (1, 2):
        vec[:, i] = _unit(vec[:, i] + np.stack([np.zeros(T), -breath, np.zeros(T)], -1))
    # head: yaw about y, nod about x, roll about z, around the neck
    r_head = nx.matmul3(nx.matmul3(_rotation(_Y, head[:, 0]), _rotation(_X, -head[:, 1])), _rotation(_Z, head[:, 2]))
    vec[:, list(_HEAD)] = nx.matvec3(r_head[:, None], vec[:, list(_HEAD)])
    neck = _ROOT + _LENGTHS[0] * vec[:, 0]
    for side, arm in _ARM.items():
        tr, hm = tracks[side], _HANDS[side]
        sign = np.array([arm["out"], 1.0, 1.0])
        shoulder = neck + _LENGTHS[arm["shoulder"] - 1] * vec[:, arm["shoulder"] - 1]  # vectors 1, 2 lead there
        target = _MEAN_POSE[arm["wrist"]] + tr.offset * sign
        upper, fore = _two_bone_ik(shoulder, target, _LENGTHS[arm["upper"]], _LENGTHS[arm["fore"]], hm.pole)
        vec[:, arm["upper"]], vec[:, arm["fore"]] = upper, fore
        # the hand: twist about the mean forearm, flex about the hand's curl axis, then follow the forearm
        r_hand = nx.matmul3(nx.matmul3(_align(hm.fore0, fore), _rotation(hm.fore0, arm["out"] * tr.twist)),
                            _rotation(hm.flex_axis, tr.flex))                        # (T, 3, 3)
        for f in range(5):
            kind = "thumb" if _FINGERS[f] == "thumb" else "finger"
            c = tr.curl[:, f]
            for seg, deg in enumerate(_CURL_DEG[kind]):
                angle = deg * nx.DEG * (c - _CURL_REF if seg == 0 else c)
                if seg > 0:
                    angle = angle + _CURL_DEG[kind][0] * nx.DEG * (c - _CURL_REF)
                local = nx.matvec3(_rotation(hm.axes[f], angle), hm.meta0[f])
                vec[:, arm["fingers"] + 3 * f + seg] = nx.matvec3(r_hand, local)
    # small estimation-like noise on every bone direction
    vec = _unit(vec + NOISE * nx.standard_normal(rng, vec.shape))
    # sway/lean of the whole upper body about the root
    r_torso = nx.matmul3(_rotation(_Z, lean[:, 0]), _rotation(_X, lean[:, 1]))
    vec = nx.matvec3(r_torso[:, None], vec)
    return SKELETON.to_joints(vec, lengths=_LENGTHS, root=_ROOT).astype(np.float32)
