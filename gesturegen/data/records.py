"""Validation of decoded raw records where they enter the pipeline (convert_raw) and of each clip (build_windows).

Each check returns the first problem as a ClipProblem (a short reason code for the counts and skip reports, and a
message saying what is wrong), or None.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ClipProblem:
    reason: str   # short code used in rejection counts
    message: str  # what is wrong and how to fix it


def check_video(video: Any) -> ClipProblem | None:
    """What is wrong with a decoded record's top level ({'vid', 'clips': [...]}), or None."""
    if not isinstance(video, dict):
        return ClipProblem("not_a_video", f"expected a dict with 'vid' and 'clips', got {type(video).__name__}")
    if "vid" not in video or not isinstance(video.get("clips"), list):
        return ClipProblem("not_a_video", f"expected a dict with 'vid' and a list 'clips', got keys "
                                          f"{sorted(map(str, video))[:8]}")
    return None


def first_non_finite(arr: np.ndarray) -> int | None:
    """Index along axis 0 of the first row holding a NaN or inf, or None."""
    bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def _check_audio(audio: Any, sample_rate_hz: int) -> ClipProblem | None:
    arr = np.asarray(audio) if not isinstance(audio, np.ndarray) else audio
    if arr.dtype.kind not in "biuf" or arr.ndim != 1:
        return ClipProblem("bad_audio", f"audio_raw is not a 1-D numeric array (dtype {arr.dtype}, shape "
                                        f"{arr.shape})")
    i = first_non_finite(arr)
    if i is not None:
        n_bad = int((~np.isfinite(arr)).sum())
        return ClipProblem("nan_audio", f"audio_raw has {n_bad} NaN/inf sample(s), first at sample {i} "
                                        f"({i / sample_rate_hz:.3f} s into the clip)")
    return None


def check_record(video: Any, sample_rate_hz: int = 16000) -> ClipProblem | None:
    """The first problem that makes a decoded record unusable as it enters the pipeline (convert_raw), or None.

    Structure ({'vid', 'clips': [dict, ...]}), numeric arrays of the right rank (skeletons_3d (T, J, 3), audio_raw
    1-D), no NaN/inf in either, numeric finite start/end times. Domain checks (joint count, words, audio length)
    are check_clip's (build_windows).
    """
    problem = check_video(video)
    if problem is not None:
        return problem
    for ci, clip in enumerate(video["clips"]):
        problem = _check_clip_arrays(clip, sample_rate_hz)
        if problem is not None:
            return ClipProblem(problem.reason, f"clip {ci}: {problem.message}")
    return None


def _check_clip_arrays(clip: Any, sample_rate_hz: int) -> ClipProblem | None:
    if not isinstance(clip, dict):
        return ClipProblem("bad_clip", f"a clip must be a dict, got {type(clip).__name__}")
    for name in ("skeletons_3d", "audio_raw"):
        if name not in clip:
            return ClipProblem("missing_field", f"clip has no {name!r} field")
    skel = clip["skeletons_3d"]
    if not isinstance(skel, np.ndarray) or skel.dtype.kind not in "biuf":
        what = f"dtype {skel.dtype}" if isinstance(skel, np.ndarray) else type(skel).__name__
        return ClipProblem("bad_skeleton", f"skeletons_3d is not a numeric array ({what})")
    if skel.ndim != 3 or skel.shape[2] != 3 or skel.shape[0] == 0:
        return ClipProblem("bad_skeleton", f"skeletons_3d has shape {skel.shape}, expected (T, J, 3)")
    frame = first_non_finite(skel)
    if frame is not None:
        return ClipProblem("nan_skeleton", f"skeletons_3d has NaN/inf values, first at frame {frame}")
    problem = _check_audio(clip["audio_raw"], sample_rate_hz)
    if problem is not None:
        return problem
    for name in ("start_time", "end_time"):
        t = clip.get(name)
        if name in clip and not (isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)):
            return ClipProblem("bad_times", f"{name}={t!r} is not a finite number")
    return None


def check_clip(clip: Any, n_joints: int, words_unit: str, sample_rate_hz: int = 16000,
               audio_tolerance_s: float = 0.1) -> ClipProblem | None:
    """The first problem that makes a raw clip unusable, or None.

    Checks: required fields, joint count, NaN/inf joints, numeric finite audio, times, word order, and that the
    audio covers the clip.
    """
    if not isinstance(clip, dict):
        return ClipProblem("bad_clip", f"a clip must be a dict, got {type(clip).__name__}")
    for name in ("skeletons_3d", "audio_raw", "words", "start_time", "end_time"):
        if name not in clip:
            return ClipProblem("missing_field", f"clip has no {name!r} field")
    try:
        skel = np.asarray(clip["skeletons_3d"], dtype=np.float64)
    except (ValueError, TypeError) as e:
        return ClipProblem("bad_skeleton", f"skeletons_3d is not a numeric (T, J, 3) array ({e})")
    if skel.ndim != 3 or skel.shape[1:] != (n_joints, 3):
        return ClipProblem("joint_count", f"skeletons_3d has shape {skel.shape}, expected (T, {n_joints}, 3); "
                                          f"is the dataset's `skeleton` in params.yaml right?")
    if skel.shape[0] < 2:
        return ClipProblem("too_short", f"clip has {skel.shape[0]} skeleton frame(s)")
    if not np.isfinite(skel).all():
        bad = np.unique(np.nonzero(~np.isfinite(skel))[0])
        return ClipProblem("nan_skeleton", f"skeletons_3d has NaN/inf values in {bad.size} frame(s), first at "
                                           f"frame {int(bad[0])}")
    problem = _check_audio(clip["audio_raw"], sample_rate_hz)
    if problem is not None:
        return problem
    start, end = clip["start_time"], clip["end_time"]
    if not (isinstance(start, (int, float)) and isinstance(end, (int, float)) and end > start):
        return ClipProblem("bad_times", f"start_time={start!r}, end_time={end!r}: need end_time > start_time")
    for i, w in enumerate(clip["words"]):
        if not (isinstance(w, (list, tuple)) and len(w) == 3 and isinstance(w[0], str)):
            return ClipProblem("bad_word", f"word {i} is {w!r}, expected [word, start, end]")
        if not (math.isfinite(w[1]) and math.isfinite(w[2])) or w[2] < w[1]:
            return ClipProblem("word_order", f"word {i} {w[0]!r} ends before it starts ({w[1]} > {w[2]} "
                                             f"{words_unit})")
    n_audio = len(clip["audio_raw"])
    need = (end - start) * sample_rate_hz
    if n_audio < need - audio_tolerance_s * sample_rate_hz:
        return ClipProblem("short_audio", f"audio_raw has {n_audio} samples ({n_audio / sample_rate_hz:.2f} s) "
                                          f"but the clip lasts {end - start:.2f} s")
    return None


def _is_time(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_annotations(annotations: Any, n_clips: int) -> ClipProblem | None:
    """What is wrong with a record's evaluation-only annotations (gesturegen.data.annotations.RECORD_FIELD), or None:
    {"speaker": non-empty str, "clips": one {"strokes_s": [time, ...], "events": [[label, start, end], ...]} per
    clip}, times finite, an event's end not before its start."""
    if not isinstance(annotations, dict) or set(annotations) != {"speaker", "clips"}:
        keys = sorted(map(str, annotations)) if isinstance(annotations, dict) else type(annotations).__name__
        return ClipProblem("bad_annotations", f"annotations must be a dict with 'speaker' and 'clips', got {keys}")
    if not isinstance(annotations["speaker"], str) or not annotations["speaker"]:
        return ClipProblem("bad_annotations", f"annotations 'speaker' must be a non-empty string, got "
                                              f"{annotations['speaker']!r}")
    clips = annotations["clips"]
    if not isinstance(clips, list) or len(clips) != n_clips:
        what = f"{len(clips)} entries" if isinstance(clips, list) else type(clips).__name__
        return ClipProblem("bad_annotations", f"annotations 'clips' must be a list with one entry per clip "
                                              f"({n_clips}), got {what}")
    for ci, note in enumerate(clips):
        where = f"annotations clip {ci}"
        if not isinstance(note, dict) or set(note) != {"strokes_s", "events"}:
            keys = sorted(map(str, note)) if isinstance(note, dict) else type(note).__name__
            return ClipProblem("bad_annotations", f"{where}: expected a dict with 'strokes_s' and 'events', got {keys}")
        if not isinstance(note["strokes_s"], list) or not all(_is_time(t) for t in note["strokes_s"]):
            bad = note["strokes_s"] if not isinstance(note["strokes_s"], list) else next(
                t for t in note["strokes_s"] if not _is_time(t))
            return ClipProblem("bad_annotations", f"{where}: strokes_s must be finite times, found {bad!r}")
        if not isinstance(note["events"], list):
            return ClipProblem("bad_annotations", f"{where}: events must be a list, got "
                                                  f"{type(note['events']).__name__}")
        for ei, ev in enumerate(note["events"]):
            if not (isinstance(ev, (list, tuple)) and len(ev) == 3 and isinstance(ev[0], str) and ev[0]
                    and _is_time(ev[1]) and _is_time(ev[2])):
                return ClipProblem("bad_annotations", f"{where}: event {ei} is {ev!r}, expected [label, start_s, "
                                                      f"end_s] with finite times")
            if ev[2] < ev[1]:
                return ClipProblem("bad_annotations", f"{where}: event {ei} {ev[0]!r} ends before it starts "
                                                      f"({ev[1]} > {ev[2]})")
    return None
