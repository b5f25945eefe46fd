"""Gesture videos: H.264 + AAC through the ffmpeg that imageio-ffmpeg ships, frames that follow the motion, posters."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from gesturegen.data.skeleton import get_skeleton
from gesturegen.render import Panel, RenderError, current_words, ffmpeg_exe, probe, render_poster, render_video

SK = get_skeleton("ted_expressive")


def _motion(t: int, seed: int = 0) -> np.ndarray:
    """(t, 43, 3) joints: the mean pose with the right wrist's chain swinging."""
    mean = np.asarray(SK.published_means()[1], np.float64)
    vec = np.repeat(mean[None], t, axis=0)
    phase = np.linspace(0, 4 * np.pi, t) + seed
    vec[:, 20] = np.stack([np.cos(phase), np.sin(phase), np.zeros(t)], 1)          # vector 20: shoulder -> elbow
    return SK.to_joints(vec)


def _frame(path, second: float) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-ss", f"{second}", "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8)


def test_a_video_with_sound_and_moving_frames(tmp_path):
    t, fps = 45, 15
    audio = (0.1 * np.sin(2 * np.pi * 220 * np.arange(3 * 16000) / 16000)).astype(np.float32)
    path = render_video(tmp_path / "v.mp4", [Panel("ground truth", _motion(t)), Panel("generated", _motion(t, 1))],
                        SK, fps, audio=audio, words=[("hello", 0.2, 0.6), ("world", 1.0, 1.5)], title="test")
    m = probe(path)
    assert (m.video_codec, m.audio_codec, m.n_video, m.n_audio, m.fps) == ("h264", "aac", 1, 1, 15)
    assert abs(m.duration_s - t / fps) < 0.1
    assert not (tmp_path / "v.partial.mp4").exists()
    a, b = _frame(path, 0.1), _frame(path, 1.4)
    assert a.size == b.size > 0 and np.abs(a.astype(int) - b).mean() > 0.1       # the arm moved between them
    silent = probe(render_video(tmp_path / "s.mp4", [Panel("generated", _motion(t))], SK, fps))
    assert (silent.n_video, silent.n_audio) == (1, 0)


def test_subtitles_show_the_words_around_the_instant():
    words = [("hello", 0.2, 0.6), ("big", 1.0, 1.2), ("world", 3.0, 3.5)]
    assert current_words(words, 0.4) == "hello" and current_words(words, 0.9) == "hello big"
    assert current_words(words, 2.2) == ""


def test_a_poster_and_refusals(tmp_path):
    p = render_poster(tmp_path / "p.png", [Panel("a", _motion(30)), Panel("b", _motion(30, 2))], SK, 15, n_frames=4)
    import matplotlib.image as mpimg
    img = mpimg.imread(p)
    assert img.shape[1] > 1.4 * img.shape[0]                   # 4 columns of times, 2 rows of panels
    top, bottom = img[: img.shape[0] // 2], img[img.shape[0] // 2:]
    assert (top != 1).any() and (bottom != 1).any() and not np.array_equal(top, bottom)   # two different motions
    with pytest.raises(RenderError, match=r"shape \(30, 42, 3\), expected \(T, 43, 3\)"):
        render_video(tmp_path / "x.mp4", [Panel("bad", _motion(30)[:, :42])], SK, 15)
    bad = _motion(30)
    bad[3, 5] = np.nan
    with pytest.raises(RenderError, match="NaN"):
        render_video(tmp_path / "x.mp4", [Panel("bad", bad)], SK, 15)
    assert not list(tmp_path.glob("x*"))
