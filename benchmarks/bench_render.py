"""Video rendering speed (gesturegen.render): 60 s of TED Expressive motion at 15 fps with a sound track, one panel
(what `gesturegen generate` writes) and two (ground truth | generated, as render_videos will), H.264 + AAC through
the ffmpeg of imageio-ffmpeg, on this machine.

    python benchmarks/bench_render.py [--seconds 60] [--threads 2]

Speed = seconds of video per second of rendering (the issue's target: >= 2x real time on 2 cores at 15 fps).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from _table import print_table, seconds_and_threads  # benchmarks/, on sys.path when run as a script


def main(argv: list[str] | None = None) -> None:
    args = seconds_and_threads(__doc__, argv)
    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.render import Panel, probe, render_video

    sk = get_skeleton("ted_expressive")
    fps, t = 15, int(args.seconds * 15)
    rng = np.random.default_rng(0)
    mean = np.asarray(sk.published_means()[1], np.float64)
    vec = mean + 0.05 * np.cumsum(rng.standard_normal((t, 42, 3)), axis=0) / np.sqrt(np.arange(1, t + 1))[:, None, None]
    joints = sk.to_joints(vec / np.linalg.norm(vec, axis=-1, keepdims=True))
    audio = (0.1 * rng.standard_normal(int(args.seconds * 16000))).astype(np.float32)
    words = [(f"w{k}", k * 0.4, k * 0.4 + 0.3) for k in range(int(args.seconds / 0.4))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2):
            panels = [Panel(f"panel {i}", joints) for i in range(n)]
            start = time.perf_counter()
            path = render_video(Path(tmp) / f"v{n}.mp4", panels, sk, fps, audio=audio, words=words, title="bench")
            s = time.perf_counter() - start
            m = probe(path)
            rows.append((str(n), f"{args.seconds:.0f}", f"{m.video_codec}+{m.audio_codec}", f"{s:.2f}",
                         f"{args.seconds / s:.1f}x", f"{path.stat().st_size / 1e6:.2f}"))
    print_table(("panels", "video s", "streams", "render s", "speed (x real time)", "MB"), rows)


if __name__ == "__main__":
    main()
