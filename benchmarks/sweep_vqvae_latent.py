"""What limits the beat F1 of a VQ-VAE reconstruction: latent steps, quantisation and training length, on the demo.

    python benchmarks/sweep_vqvae_latent.py [--part body] [--runs NAME ...] [--threads 1] [--list]

A plain training loop (no Lightning, no contrastive terms: the reconstruction alone) on the DAG's demo windows
(run the DAG first), one configuration per run; each prints the part's val L1 and the beat precision / recall / F1
of the reconstruction (the other part and the seed frames real) against the true strokes, the lexical and speaker
accuracy of the trained oracles, and the training time. The README's "Latent steps" table comes from these runs.
About 100 s per 10-epoch run on one thread; two runs can share the two cores (--runs A, then --runs B elsewhere).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from _table import print_table  # benchmarks/, on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Run:
    epochs: int = 10
    codes: int = 128
    down_t: int = 3
    continuous: bool = False      # no quantiser: the encoder's latents go straight to the decoder
    schedule: str = "step"        # step: MultiStepLR at 20/40/60/80 % (the stage's); cycle: one-cycle
    lr: float = 1e-3
    vel_weight: float = 0.0
    loss: str = "l1_smooth"       # l1_smooth (the stage's; beta 1, so on these small values it is MSE / 2) or l1
    levels: int = 1               # residual quantisation: each further codebook quantises what the ones before missed


# the demo default's geometry (8 latent steps, 256 codes) with one-cycle and the velocity term: the 2026-12-04 runs
EIGHT = Run(codes=256, down_t=2, schedule="cycle", lr=2e-3, vel_weight=1.0)

RUNS = {
    "4 steps": Run(),
    "4 steps, 40 epochs, one-cycle, velocity": Run(epochs=40, schedule="cycle", lr=2e-3, vel_weight=1.0),
    "4 steps, 40 epochs, one-cycle, velocity, 512 codes": Run(epochs=40, codes=512, schedule="cycle", lr=2e-3,
                                                               vel_weight=1.0),
    "4 steps, continuous": Run(continuous=True),
    "8 steps": Run(down_t=2),
    "8 steps, one-cycle, velocity": Run(down_t=2, schedule="cycle", lr=2e-3, vel_weight=1.0),
    "8 steps, 60 epochs, one-cycle, velocity, 256 codes": Run(epochs=60, codes=256, down_t=2, schedule="cycle",
                                                               lr=2e-3, vel_weight=1.0),
    "17 steps": Run(down_t=1),
    "8 steps, one-cycle, velocity, 256 codes": EIGHT,
    "8 steps, one-cycle, velocity, 256 codes, L1": replace(EIGHT, loss="l1"),
    "8 steps, continuous, one-cycle, velocity": replace(EIGHT, continuous=True),
    "8 steps, continuous, 30 epochs, one-cycle, velocity": replace(EIGHT, continuous=True, epochs=30),
    "8 steps, continuous, one-cycle, velocity, L1": replace(EIGHT, continuous=True, loss="l1"),
    **{f"8 steps, one-cycle, velocity, 256 codes, {k} residual levels": replace(EIGHT, levels=k) for k in (2, 4, 8)},
}


def run_one(name: str, r: Run, part: str, windows: Path, oracles: Path) -> tuple[str, ...]:
    import torch
    import torch.nn.functional as F

    from gesturegen.data.annotations import load_window_annotations
    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.data.windowstore import open_split
    from gesturegen.evaluators import open_oracle_scorer
    from gesturegen.io import read_json
    from gesturegen.metrics.motion import joints_from_vectors
    from gesturegen.metrics.oracle import beat_f1, stroke_hits
    from gesturegen.models.vqvae import VQVAE, VQVAEConfig, assemble, part_dims

    wt, wv = open_split(windows / "train"), open_split(windows / "val")
    skeleton = get_skeleton(wt.meta["skeleton"])
    fps, n_seed, n_frames = float(wt.meta["fps"]), int(wt.meta["n_seed_frames"]), int(wt.meta["n_frames"])
    mean_dir_vec = np.asarray(read_json(windows / "normalization.json")["mean_dir_vec"], np.float32)
    dims = part_dims(skeleton, part)
    xt = torch.as_tensor(np.array(wt.dir_vec, np.float32))
    xv = np.array(wv.dir_vec, np.float32)
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(skeleton.dim, len(dims), n_frames=n_frames, width=128, code_dim=64,
                              codebook_size=r.codes, down_t=r.down_t, levels=r.levels))
    idx = torch.as_tensor(dims)
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr, betas=(0.9, 0.99), weight_decay=0.0)
    batch, n = 64, xt.shape[0]
    per_epoch = n // batch
    if r.schedule == "cycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, r.lr, total_steps=r.epochs * per_epoch, pct_start=0.05)
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(
            opt, [max(1, round(f * r.epochs)) * per_epoch for f in (0.2, 0.4, 0.6, 0.8)], 0.5)

    def forward(x):
        if r.continuous:
            return model.decoder(model.encode(x)), torch.zeros(())
        out = model(x)                  # the model's own quantiser, its residual levels included
        return out.recon, out.commit

    rec_loss = F.l1_loss if r.loss == "l1" else F.smooth_l1_loss
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(r.epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(per_epoch):
            x = xt[perm[i * batch:(i + 1) * batch]]
            rec, commit = forward(x)
            target = x[..., idx]
            loss = rec_loss(rec, target) + 0.001 * commit
            if r.vel_weight:
                loss = loss + r.vel_weight * rec_loss(rec.diff(dim=1), target.diff(dim=1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        rec = torch.cat([forward(torch.as_tensor(xv[i:i + 512]))[0] for i in range(0, len(xv), 512)]).numpy()
    full = assemble(xv, rec, dims)
    full[:, :n_seed] = xv[:, :n_seed]
    hits = stroke_hits(joints_from_vectors(full, mean_dir_vec, skeleton), skeleton.wrists, fps)
    f = beat_f1(hits, load_window_annotations(windows / "val").strokes, fps, n_frames, n_seed)
    scorer = open_oracle_scorer(oracles, windows, ["val"], "demo")
    oracle = scorer("val", full, np.arange(len(xv)), np.random.default_rng(0))
    codes = "-" if r.continuous else str(r.codes) if r.levels == 1 else f"{r.levels}×{r.codes}"
    return (name, str(model.config.n_latent), codes, str(r.epochs),
            f"{np.abs(rec - xv[..., dims]).mean():.4f}", f"{f.precision:.3f}", f"{f.recall:.3f}", f"{f.f1:.3f}",
            f"{oracle['lexical_acc']:.3f}", f"{oracle['speaker_acc']:.3f}", f"{train_s:.0f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="body", choices=["body", "hand"])
    ap.add_argument("--runs", nargs="+", choices=sorted(RUNS), metavar="NAME", help="default: every run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--windows", type=Path, default=ROOT / "results/build_windows/demo/windows")
    ap.add_argument("--oracles", type=Path, default=ROOT / "results/train_oracles/demo/oracles")
    ap.add_argument("--list", action="store_true", help="print the run names and exit")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(RUNS))
        return
    import torch

    torch.set_num_threads(args.threads)
    for path in (args.windows, args.oracles):
        if not path.is_dir():
            raise SystemExit(f"{path} is missing: run the DAG first (snakemake --cores all)")
    rows = [run_one(name, RUNS[name], args.part, args.windows, args.oracles) for name in (args.runs or RUNS)]
    print_table(("run", "latent steps", "codes", "epochs", "val L1", "beat P", "beat R", "beat F1", "lexical",
                 "speaker", "train s"), rows)


if __name__ == "__main__":
    main()
