"""Gesture videos with sound: skeletons side by side (e.g. ground truth | generated) drawn from a fixed 3-D camera,
the current words as subtitles, the speech as the sound track; H.264 + AAC `.mp4` through ffmpeg-python with the
ffmpeg binary that imageio-ffmpeg ships (no system ffmpeg needed). And a poster: a strip of frames as one PNG.

Speed: the figure is built once; each frame only moves the line segments and the subtitle (a 3-D axes redrawn per
frame would be several times slower), and raw RGB frames are piped to one ffmpeg process.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gesturegen.data.skeleton import Skeleton

# camera: turned 25° about the vertical and tilted 10° down, orthographic; the data are y-down (ldmc-spec §2.2)
_YAW, _PITCH = np.deg2rad(25.0), np.deg2rad(10.0)
_BODY_COLOR, _HAND_COLOR = "#1f4e79", "#c0504d"


class RenderError(RuntimeError):
    """ffmpeg failed or motion that cannot be drawn; the message has ffmpeg's last lines or the shapes."""


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def project(joints: np.ndarray) -> np.ndarray:
    """(..., J, 3) joints in the data's y-down axes -> (..., J, 2) screen coordinates (x right, y up)."""
    x, y, z = joints[..., 0], -joints[..., 1], joints[..., 2]          # y up
    cy, sy, cp, sp = np.cos(_YAW), np.sin(_YAW), np.cos(_PITCH), np.sin(_PITCH)
    x1, z1 = cy * x + sy * z, -sy * x + cy * z
    y1 = cp * y - sp * z1
    return np.stack([x1, y1], axis=-1)


@dataclass(frozen=True)
class Panel:
    title: str
    joints: np.ndarray          # (T, J, 3)


def _segments(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """(parent, child) joint index pairs of the drawn bones, and whether each is a hand bone."""
    pairs, hand = [], []
    hand_vectors = set(skeleton.hand_vectors)
    for i, (p, c) in enumerate(skeleton.bones):
        if p < 0:
            continue
        pairs.append((p, c))
        hand.append(i in hand_vectors)
    return np.asarray(pairs, np.int64), np.asarray(hand, bool)


def current_words(words: Sequence[tuple[str, float, float]], t: float, context_s: float = 0.5) -> str:
    """The words being said at time t (those overlapping [t - context_s, t + context_s]) as one subtitle line."""
    return " ".join(w for w, s, e in words if s <= t + context_s and e >= t - context_s)


class _Canvas:
    """One Agg figure with a panel per motion; `frame(k)` returns frame k as (H, W, 3) uint8."""

    def __init__(self, panels: Sequence[Panel], skeleton: Skeleton, fps: float, words, title: str, size_px: int):
        import matplotlib
        from matplotlib.collections import LineCollection

        from gesturegen.plots import _pyplot

        plt = _pyplot()

        self.panels, self.fps, self.words = panels, fps, words
        self.pairs, hand = _segments(skeleton)
        self.xy = [project(p.joints) for p in panels]
        allxy = np.concatenate([xy.reshape(-1, 2) for xy in self.xy])
        lo, hi = np.percentile(allxy, 0.5, axis=0), np.percentile(allxy, 99.5, axis=0)
        pad = 0.08 * float((hi - lo).max())
        n = len(panels)
        dpi = 100
        self.fig, axes = plt.subplots(1, n, figsize=(size_px * n / dpi, (size_px + 60) / dpi), dpi=dpi, squeeze=False)
        self.lines, self.dots = [], []
        colors = np.where(hand[:, None], matplotlib.colors.to_rgba(_HAND_COLOR), matplotlib.colors.to_rgba(_BODY_COLOR))
        widths = np.where(hand, 1.2, 3.0)
        for ax, panel in zip(axes[0], panels):
            ax.set_xlim(lo[0] - pad, hi[0] + pad)
            ax.set_ylim(lo[1] - pad, hi[1] + pad)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(panel.title, fontsize=11)
            lc = LineCollection([], colors=colors, linewidths=widths, capstyle="round")
            ax.add_collection(lc)
            self.lines.append(lc)
        self.fig.suptitle(title, fontsize=9, y=0.985)
        self.sub = self.fig.text(0.5, 0.03, "", ha="center", va="bottom", fontsize=12,
                                 bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"})
        self.fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.1, wspace=0.02)
        # the static parts drawn once; each frame restores them and draws only the animated artists (blitting)
        for artist in (*self.lines, self.sub):
            artist.set_animated(True)
        self.fig.canvas.draw()
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        w, h = self.fig.canvas.get_width_height()
        self.size = (w, h)

    def frame(self, k: int) -> np.ndarray:
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for lc, xy in zip(self.lines, self.xy):
            kk = min(k, xy.shape[0] - 1)
            lc.set_segments(np.stack([xy[kk, self.pairs[:, 0]], xy[kk, self.pairs[:, 1]]], axis=1))
            lc.axes.draw_artist(lc)
        text = current_words(self.words, k / self.fps)
        if text:
            self.sub.set_text(text)
            self.fig.draw_artist(self.sub)
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        from gesturegen.plots import _pyplot

        _pyplot().close(self.fig)


def _even(size: tuple[int, int]) -> tuple[int, int]:
    return size[0] - size[0] % 2, size[1] - size[1] % 2


def render_video(path: str | Path, panels: Sequence[Panel], skeleton: Skeleton, fps: float,
                 audio: np.ndarray | None = None, sample_rate: int = 16000,
                 words: Sequence[tuple[str, float, float]] = (), title: str = "", size_px: int = 360,
                 progress=None) -> Path:
    """Write an H.264 (+ AAC when `audio` is given) mp4 of the panels side by side; the video lasts as long as the
    longest panel. Written to a temporary name, moved into place when ffmpeg succeeded."""
    import ffmpeg
    import soundfile as sf

    if not panels:
        raise RenderError("render_video: no panels")
    for p in panels:
        if p.joints.ndim != 3 or p.joints.shape[1:] != (skeleton.n_joints, 3):
            raise RenderError(f"render_video: panel {p.title!r} has joints of shape {p.joints.shape}, expected "
                              f"(T, {skeleton.n_joints}, 3) for {skeleton.name}")
        if not np.isfinite(p.joints).all():
            raise RenderError(f"render_video: panel {p.title!r} has NaN or infinite joints")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_frames = max(p.joints.shape[0] for p in panels)
    canvas = _Canvas(panels, skeleton, fps, list(words), title, size_px)
    w, h = _even(canvas.size)
    tmp = path.with_name(path.stem + ".partial.mp4")
    with tempfile.TemporaryDirectory() as td:
        video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", r=fps)
        streams = [video]
        if audio is not None:
            wav = Path(td) / "audio.wav"
            sf.write(wav, np.asarray(audio, np.float32), sample_rate)
            streams.append(ffmpeg.input(str(wav)).audio)
        out = ffmpeg.output(*streams, str(tmp), vcodec="libx264", pix_fmt="yuv420p", preset="veryfast", crf=23,
                            r=fps, t=n_frames / fps, **({"acodec": "aac", "audio_bitrate": "128k"} if audio is not None
                                                         else {}), movflags="+faststart")
        proc = ffmpeg.run_async(out.overwrite_output(), cmd=ffmpeg_exe(), pipe_stdin=True, pipe_stderr=True,
                                quiet=False)
        try:
            for k in progress(range(n_frames)) if progress else range(n_frames):
                proc.stdin.write(np.ascontiguousarray(canvas.frame(k)[:h, :w]).tobytes())
        except BrokenPipeError:
            pass
        finally:
            canvas.close()
            proc.stdin.close()
            err = proc.stderr.read().decode(errors="replace")
            rc = proc.wait()
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise RenderError(f"ffmpeg failed ({rc}) writing {path}:\n" + "\n".join(err.splitlines()[-8:]))
    tmp.replace(path)
    return path


def render_poster(path: str | Path, panels: Sequence[Panel], skeleton: Skeleton, fps: float, n_frames: int = 6,
                  words: Sequence[tuple[str, float, float]] = (), title: str = "") -> Path:
    """`n_frames` evenly spaced frames as one PNG: a row per panel (its title on the left), a column per time (the
    time and the words being said above it), every panel drawn to the same scale."""
    from gesturegen.plots import _pyplot, save

    plt = _pyplot()
    total = max(p.joints.shape[0] for p in panels)
    picks = np.linspace(0, total - 1, n_frames).round().astype(int)
    # one canvas with every panel keeps a common scale; each panel's axes is cut out of its frames
    canvas = _Canvas([Panel("", p.joints) for p in panels], skeleton, fps, [], "", 240)
    try:
        w, h = canvas.size
        boxes = [ax.get_window_extent() for ax in (lc.axes for lc in canvas.lines)]
        frames = [canvas.frame(int(k)) for k in picks]
    finally:
        canvas.close()
    rows = len(panels)
    fig, axes = plt.subplots(rows, n_frames, figsize=(1.9 * n_frames + 0.6, 2.1 * rows + 0.5), dpi=100,
                             squeeze=False)
    for c, (img, k) in enumerate(zip(frames, picks)):
        for r, (panel, box) in enumerate(zip(panels, boxes)):
            x0, x1 = int(box.x0), int(np.ceil(box.x1))
            y0, y1 = h - int(np.ceil(box.y1)), h - int(box.y0)          # display y grows upwards, image rows down
            ax = axes[r, c]
            ax.imshow(img[max(y0, 0):y1, max(x0, 0):x1])
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c == 0:
                ax.set_ylabel(panel.title, fontsize=10)
            if r == 0:
                said = current_words(words, k / fps)
                ax.set_title(f"{k / fps:.1f} s" + (f"\n\u201c{said}\u201d" if said else ""), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(fig, path)
    return path


@dataclass(frozen=True)
class MediaInfo:
    video_codec: str | None
    audio_codec: str | None
    n_video: int
    n_audio: int
    duration_s: float | None
    fps: float | None


def probe(path: str | Path) -> MediaInfo:
    """The streams of a media file as the shipped ffmpeg reports them (`ffmpeg -i`; imageio-ffmpeg has no ffprobe)."""
    r = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False)
    text = r.stderr
    vids = re.findall(r"Stream #\d+:\d+.*?: Video: (\w+)", text)
    auds = re.findall(r"Stream #\d+:\d+.*?: Audio: (\w+)", text)
    m = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    dur = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    f = re.search(r"([\d.]+) fps", text)
    return MediaInfo(vids[0] if vids else None, auds[0] if auds else None, len(vids), len(auds), dur,
                     float(f.group(1)) if f else None)
