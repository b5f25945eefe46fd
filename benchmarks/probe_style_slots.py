"""How much of the speaker each latent slot of a trained VQ-VAE carries: leave-one-video-out nearest-centroid speaker
classification from the slot's val latents (cosine), per slot, steps 2-3 together and all slots.

    python benchmarks/probe_style_slots.py [MODEL_DIR ...]   (default: the DAG's demo body and hand models)

The demo annotations give each window's speaker; for every val video, the speaker centroids are computed from the
other videos' windows and that video's windows are assigned to the nearest one. Chance is about 1 / #speakers.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _table import print_table  # benchmarks/, on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def probe(latents: np.ndarray, speaker: np.ndarray, video: np.ndarray, slots: list[int]) -> float:
    f = latents[:, slots].reshape(len(latents), -1)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    correct = 0
    for v in np.unique(video):
        test = video == v
        cents = np.stack([f[~test & (speaker == s)].mean(0) for s in np.unique(speaker)])
        correct += int((np.unique(speaker)[np.argmax(f[test] @ cents.T, axis=1)] == speaker[test]).sum())
    return correct / len(latents)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path,
                    default=[ROOT / "results/train_vqvae/demo-body/model", ROOT / "results/train_vqvae/demo-hand/model"])
    ap.add_argument("--windows", type=Path, default=ROOT / "results/build_windows/demo/windows")
    args = ap.parse_args(argv)

    from gesturegen.data.annotations import load_window_annotations
    from gesturegen.data.windowstore import open_split
    from gesturegen.models.vqvae import load_vqvae

    w = open_split(args.windows / "val")
    ann = load_window_annotations(args.windows / "val")
    if ann is None:
        raise SystemExit(f"{args.windows / 'val'} has no annotations (only the demo has speakers to probe)")
    x = np.array(w.dir_vec, np.float32)
    rows = []
    for d in args.models:
        z = load_vqvae(d).run_numpy(x)["latents"]
        sets = [[s] for s in range(z.shape[1])] + [[2, 3], list(range(z.shape[1]))]
        rows.append((str(d), *(f"{probe(z, ann.speaker, np.asarray(w.video_ids), s):.3f}" for s in sets)))
    n = max(len(r) for r in rows) - 3
    print_table(("model", *(f"slot {i}" for i in range(n)), "slots 2-3", "all"), rows)
    print(f"\nval, {len(x)} windows, {len(ann.speakers)} speakers (chance {1 / len(ann.speakers):.2f})")


if __name__ == "__main__":
    main()
