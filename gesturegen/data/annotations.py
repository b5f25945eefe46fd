"""Evaluation-only annotations: the true stroke times, the lexical gesture events and the speaker of each window.

Only the demo dataset has them (its generator knows what it did); they feed the demo's oracle metrics (beat F1,
lexical gesture accuracy, speaker accuracy) and never a model's inputs. Real datasets have none: every reader
returns None and the oracle metrics are skipped, saying so.

Window level (written by build_windows beside a split's arrays, read here):

    <split>/annotations/strokes.csv   window, time_s            one row per beat stroke inside the window
    <split>/annotations/events.csv    window, label, start_s, end_s   lexical gesture events overlapping the window
    <split>/annotations/speakers.csv  window, speaker           the window's speaker (a string id, e.g. "spk2")
    <split>/annotations/meta.json     format, version, n_windows, labels, speakers, what the times mean

Record level (the raw datasets we generate; real datasets lack it): one optional field of a video record,
RECORD_FIELD = {"speaker": "spk2", "clips": [{"strokes_s": [t, ...], "events": [[label, start_s, end_s], ...]},
...]}, one entry per clip, times in video seconds like the words (checked by gesturegen.data.records.
check_annotations; window_view cuts a clip's entry to one window).

Times are seconds relative to the window's first frame (frame k is at k / fps), so a stroke at time_s lies at
frame time_s * fps of the window. Events keep their true extent (start_s may be < 0 and end_s past the window's
end). Every window has exactly one speakers.csv row; strokes and events may be absent for a window.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gesturegen.io import check_format, read_json, write_json

RECORD_FIELD = "annotations"
ANNOTATIONS_FORMAT = "gesturegen-window-annotations"
ANNOTATIONS_VERSION = 1
FOLDER = "annotations"


class AnnotationError(ValueError):
    """Annotation files are inconsistent with their windows: the message names the file and the fix."""


@dataclass(frozen=True)
class WindowAnnotations:
    """One split's annotations, aligned with its windows (row i ↔ window i)."""
    n_windows: int
    strokes: tuple[np.ndarray, ...]   # per window: stroke times (s, float64, sorted) relative to the window start
    events: pd.DataFrame              # window (int), label (str), start_s, end_s (float, window-relative)
    speaker: np.ndarray               # (n_windows,) int: index into `speakers`
    speakers: tuple[str, ...]         # sorted speaker ids
    labels: tuple[str, ...]           # sorted lexical labels (every label that the dataset's generator can emit)



def write_window_annotations(split_dir: Path, n_windows: int, strokes: list[tuple[int, float]],
                             events: list[tuple[int, str, float, float]], speaker: list[str],
                             labels: list[str]) -> Path:
    """Write <split_dir>/annotations/ (strokes: (window, time_s); events: (window, label, start_s, end_s); speaker:
    one id per window; labels: every label the source can emit, for a fixed class order)."""
    if len(speaker) != n_windows:
        raise AnnotationError(f"{split_dir}: {len(speaker)} speaker ids for {n_windows} windows")
    folder = Path(split_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(strokes, columns=["window", "time_s"]).to_csv(folder / "strokes.csv", index=False)
    pd.DataFrame(events, columns=["window", "label", "start_s", "end_s"]).to_csv(folder / "events.csv", index=False)
    pd.DataFrame({"window": range(n_windows), "speaker": speaker}).to_csv(folder / "speakers.csv", index=False)
    write_json(folder / "meta.json", {
        "format": ANNOTATIONS_FORMAT, "version": ANNOTATIONS_VERSION, "n_windows": n_windows,
        "labels": sorted(set(labels)), "speakers": sorted(set(speaker)),
        "times": "seconds relative to the window's first frame (frame k at k / fps)",
        "use": "evaluation only (oracle metrics); never a model input"})
    return folder


def load_window_annotations(split_dir: str | Path) -> WindowAnnotations | None:
    """A split's annotations, or None when the dataset has none (no annotations/ folder)."""
    folder = Path(split_dir) / FOLDER
    if not folder.is_dir():
        return None
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        raise AnnotationError(f"{folder}: no meta.json; the folder is incomplete, re-run build_windows")
    meta = check_format(read_json(meta_file), meta_file, ANNOTATIONS_FORMAT, ANNOTATIONS_VERSION, "build_windows",
                        AnnotationError)
    n = int(meta["n_windows"])
    try:
        st = pd.read_csv(folder / "strokes.csv")
        ev = pd.read_csv(folder / "events.csv", keep_default_na=False, dtype={"label": str})
        sp = pd.read_csv(folder / "speakers.csv", keep_default_na=False, dtype={"speaker": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise AnnotationError(f"{folder}: unreadable annotation table ({type(e).__name__}: {e}); re-run "
                              f"build_windows") from None
    for name, df in (("strokes.csv", st), ("events.csv", ev), ("speakers.csv", sp)):
        bad = df[(df["window"] < 0) | (df["window"] >= n)] if len(df) else df
        if len(bad):
            raise AnnotationError(f"{folder / name}: window {int(bad['window'].iloc[0])} is outside 0-{n - 1} "
                                  f"(meta.json says {n} windows); re-run build_windows")
    if len(sp) != n or not np.array_equal(sp["window"].to_numpy(), np.arange(n)):
        raise AnnotationError(f"{folder / 'speakers.csv'}: {len(sp)} rows, expected one per window 0-{n - 1}; "
                              f"re-run build_windows")
    speakers = tuple(meta["speakers"])
    index = {s: i for i, s in enumerate(speakers)}
    unknown = sorted(set(sp["speaker"]) - set(index))
    if unknown:
        raise AnnotationError(f"{folder / 'speakers.csv'}: speaker(s) {unknown} not in meta.json; re-run "
                              f"build_windows")
    strokes: list[list[float]] = [[] for _ in range(n)]
    for w, t in zip(st["window"].to_numpy(), st["time_s"].to_numpy(np.float64)):
        strokes[int(w)].append(float(t))
    return WindowAnnotations(n, tuple(np.sort(np.asarray(s, np.float64)) for s in strokes),
                             ev.astype({"window": np.int64, "start_s": np.float64, "end_s": np.float64}),
                             np.array([index[s] for s in sp["speaker"]], dtype=np.int64), speakers,
                             tuple(meta["labels"]))


def window_view(clip_annotations: dict, window_start_s: float, duration_s: float
                ) -> tuple[list[float], list[tuple[str, float, float]]]:
    """One window's strokes and events from its clip's record-level annotations (video seconds): times relative to
    the window's start; strokes inside [0, duration_s); events overlapping it, with their true extent."""
    strokes = [round(float(t) - window_start_s, 6) for t in clip_annotations["strokes_s"]]
    events = [(str(label), round(float(a) - window_start_s, 6), round(float(b) - window_start_s, 6))
              for label, a, b in clip_annotations["events"]]
    return ([t for t in strokes if 0.0 <= t < duration_s],
            [e for e in events if e[2] > 0.0 and e[1] < duration_s])
