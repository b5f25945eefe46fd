"""What limits beat F1: timing and speed of the wrists of the ground truth, the VQ-VAE's reconstructions and the
diffusion model's body, on the val windows of the demo (the hand real in every row, the seed frames real).

    python benchmarks/probe_beat_timing.py [--diffusion DIR] [--params PARAMS] [--seed N]
    (default: the DAG's demo body models and params.yaml)

Per row: the correlation of the wrists' vertical velocity with the ground truth's at lags -4..4 frames (positive:
the row later), the ratio of its mean |v_y| to the ground truth's, and beat F1 (gesturegen.metrics.oracle: stroke
hits against the annotated strokes, tolerance 2 frames) with the row's hits shifted by -3..3 frames. A systematic
time shift shows as a peak away from lag 0; damped strokes as a ratio below 1 (fewer hits reach the detector's
speed). Rows: gt, rec_cont (decoded from the continuous latents), rec_quant (nearest codes), gen (the default
sampler, noise from --seed, joined to the real seed frames by diffusion.join or --join, as `evaluate` does; the
other rows' seed frames pasted, as `train_vqvae` scores them). Also the stroke hits per window at each frame after the
seed frames, where a seam shows.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from _table import print_table  # benchmarks/, on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
LAGS = range(-4, 5)
SHIFTS = range(-3, 4)


def lag_correlations(ref: np.ndarray, x: np.ndarray) -> list[float]:
    """corr(ref[t], x[t + lag]) over windows and wrists, per lag (arrays (N, T, W))."""
    out = []
    for lag in LAGS:
        a = ref[:, max(0, -lag): ref.shape[1] - max(0, lag)]
        b = x[:, max(0, lag): x.shape[1] - max(0, -lag)]
        out.append(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--diffusion", type=Path, help="a body diffusion model/ folder (default: the DAG's)")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="for the sampler and the seed")
    ap.add_argument("--seed", type=int, default=0, help="noise seed of the generated row")
    ap.add_argument("--join", help="how the generated row continues the real seed frames: paste, crossfade or "
                                   "inertialize (default: diffusion.join)")
    args = ap.parse_args(argv)

    import torch

    from gesturegen.compute import use_compute
    from gesturegen.config import load_params
    from gesturegen.data.annotations import load_window_annotations
    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.features import open_windows_and_features
    from gesturegen.generation import generate_part, join_seed
    from gesturegen.io import read_json
    from gesturegen.metrics.motion import joints_from_vectors
    from gesturegen.metrics.oracle import beat_f1, stroke_hits
    from gesturegen.models.latent_diffusion import decode, load_diffusion
    from gesturegen.models.vqvae import load_vqvae, part_dims
    from stages.diffusion import join_config, open_part_codes, sampler_config, split_references, window_inputs

    p = load_params(args.params)
    use_compute(p.compute.device, p.compute.threads)
    r = args.results
    windows, features = r / "build_windows/demo/windows", r / "extract_features/demo/features"
    vq_dir, codes_dir = r / "train_vqvae/demo-body/model", r / "extract_codes/demo-body/codes"
    w, f = open_windows_and_features(windows, features, "demo", "val", SystemExit)
    ann = load_window_annotations(windows / "val")
    if ann is None:
        raise SystemExit(f"{windows / 'val'} has no annotations (only the demo has stroke times)")
    skeleton, fps, n_seed = get_skeleton(w.meta["skeleton"]), float(w.meta["fps"]), int(w.meta["n_seed_frames"])
    n_frames = int(w.meta["n_frames"])
    mean_dir_vec = np.asarray(read_json(windows / "normalization.json")["mean_dir_vec"], np.float32)
    vq = load_vqvae(vq_dir, dataset="demo", part="body")
    dm = load_diffusion(args.diffusion or r / "diffusion/demo-body/model", dataset="demo", part="body",
                        vqvae_info=vq.info)
    latents = np.array(open_part_codes(codes_dir, w, "demo", "val", vq_dir, SystemExit).latents, np.float32)
    inputs = window_inputs(w, f, split_references(w, 1, p.seed, "val")[:, 0], n_seed)
    dims = part_dims(skeleton, "body")
    sampler = sampler_config(p.diffusion)
    real = np.array(w.dir_vec, np.float32)
    bodies = {"rec_cont": decode(vq, torch.as_tensor(latents), quantize=False).numpy(),
              "rec_quant": decode(vq, torch.as_tensor(latents), quantize=True).numpy(),
              "gen": generate_part(dm, vq, inputs, latents, sampler, args.seed,
                                   use_ema=p.diffusion.use_ema, quantize=p.diffusion.quantize)}
    rows_motion = {"gt": real}
    join = join_config(p.diffusion)
    if args.join:
        join = replace(join, method=args.join)
    for name, body in bodies.items():
        m = real.copy()
        m[..., dims] = body
        if name == "gen":
            m = join_seed(real[:, :n_seed], m, join)
        else:
            m[:, :n_seed] = real[:, :n_seed]
        rows_motion[name] = m

    def vy(joints: np.ndarray) -> np.ndarray:
        return (np.gradient(joints[:, :, list(skeleton.wrists), 1], axis=1) * fps)[:, n_seed:]

    gt_joints = joints_from_vectors(real, mean_dir_vec, skeleton)
    ref = vy(gt_joints)
    rows, per_frame = [], []
    for name, motion in rows_motion.items():
        joints = gt_joints if name == "gt" else joints_from_vectors(motion, mean_dir_vec, skeleton)
        v = vy(joints)
        hits = stroke_hits(joints, skeleton.wrists, fps)
        f1 = [beat_f1([h + s / fps for h in hits], list(ann.strokes), fps, n_frames, n_seed) for s in SHIFTS]
        at0 = f1[list(SHIFTS).index(0)]
        frames = np.rint(np.concatenate(hits) * fps).astype(int) if hits else np.zeros(0, int)
        per_frame.append((name, *(f"{np.sum(frames == k) / len(hits):.3f}" for k in range(n_seed, n_seed + 6))))
        rows.append((name, " ".join(f"{c:.2f}" for c in lag_correlations(ref, v)),
                     f"{np.abs(v).mean() / np.abs(ref).mean():.2f}", " ".join(f"{x.f1:.3f}" for x in f1),
                     f"{at0.precision:.3f}", f"{at0.recall:.3f}"))
    print_table(("row", "corr v_y, lag -4..4", "|v_y| ratio", "beat F1, shift -3..3", "P (0)", "R (0)"), rows)
    print()
    print_table(("row", *(f"hits/window at {k}" for k in range(n_seed, n_seed + 6))), per_frame)
    print(f"\nval, {len(real)} windows; body from each row, hand and seed frames real; generated with noise seed "
          f"{args.seed}, {sampler.name} {sampler.steps} steps, joined by {join.method}")


if __name__ == "__main__":
    main()
