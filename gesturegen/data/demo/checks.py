"""A sanity check of the generated clips: what the default build_windows filters say about their windows."""
from __future__ import annotations

import numpy as np

from gesturegen.config import FilterParams
from gesturegen.data.demo.body import SKELETON
from gesturegen.data.filters import reject_reason


def window_verdicts(clip: dict, fps: int = 15, n_frames: int = 34, stride: int = 10,
                    filters: FilterParams | None = None) -> list[str | None]:
    """reject_reason for every window of a clip resampled to `fps` (linear interpolation, exact 34-frame span)."""
    joints = np.asarray(clip["skeletons_3d"], dtype=np.float64)
    start, end = float(clip["start_time"]), float(clip["end_time"])
    src_t = start + np.arange(joints.shape[0]) / (joints.shape[0] / (end - start))
    dst_t = start + np.arange(int((end - start) * fps)) / fps
    flat = joints.reshape(joints.shape[0], -1)
    res = np.stack([np.interp(dst_t, src_t, flat[:, k]) for k in range(flat.shape[1])], -1).reshape(
        len(dst_t), *joints.shape[1:])
    mean_pose = SKELETON.published_means()[0]
    out = []
    for f in range(0, len(dst_t) - n_frames + 1, stride):
        lo, hi = start + f / fps, start + (f + n_frames) / fps
        words = [w for w in clip["words"] if w[1] < hi and w[2] > lo]
        out.append(reject_reason(res[f:f + n_frames], words, SKELETON, mean_pose, filters or FilterParams()))
    return out
