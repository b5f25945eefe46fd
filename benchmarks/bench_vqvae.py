"""VQ-VAE training speed on this machine (2 torch threads by default): the original's TED body configuration against ours.

    python benchmarks/bench_vqvae.py [--steps 8] [--warmup 2] [--threads 2] [--quick]

Each configuration runs in a fresh subprocess (so that its peak resident memory, from getrusage, is its own) and
times full training steps after the warm-up: forward with the quantizer's EMA update, SmoothL1 reconstruction of the
body part + 0.001 commit + the infonce contrastive terms on realistic feature sizes (34 frames; audio 68 per frame /
136 pooled, text 384 / 384), backward, AdamW step. Inputs are random: the numbers measure the code, not a dataset.
The original code's figures on this kind of machine (perf-floors.md) are printed beside ours; a shared machine
drifts by about ±20 %, so compare the ratios measured in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import NamedTuple

from _table import print_table  # benchmarks/, on sys.path when run as a script

class Config(NamedTuple):
    skeleton: str
    width: int
    codebook: int
    code_dim: int
    batch: int
    latent_norm: str
    down_t: int
    original_samples_s: float | None     # the original code's figure from perf-floors.md
    levels: int = 1                      # residual codebooks per latent vector


# our defaults are read from params.yaml (train_vqvae.models.<dataset>)
ORIGINAL = {
    "original TED body (W = codebook)": Config("ted_expressive", 1024, 1024, 512, 32, "faithful", 3, 6.8),
    "original architecture, W 512": Config("ted_expressive", 512, 1024, 512, 32, "faithful", 3, 24.0),
}
SKELETON_OF = {"demo": "ted_expressive", "ted_expressive": "ted_expressive", "aqgt": "aqgt"}


def _configs() -> dict:
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    models = yaml.safe_load((root / "params.yaml").read_text())["train_vqvae"]["models"]
    ours = {f"ours: {ds} default": Config(SKELETON_OF[ds], m["codebook_size"] if m["faithful_width"] else m["width"],
                                          m["codebook_size"], m["code_dim"], m["batch_size"], "vector", m["down_t"], None,
                                          m["levels"])
            for ds, m in models.items()}
    return {**ORIGINAL, **ours}


CONFIGS = _configs()


def run_one(name: str, steps: int, warmup: int, threads: int = 2) -> dict:
    """Time one configuration in this process; the result as a dict."""
    import torch
    import torch.nn.functional as F

    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.models.contrastive import Contrastive, ContrastiveConfig
    from gesturegen.models.vqvae import VQVAE, VQVAEConfig, part_dims

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    skel_name, width, codebook, code_dim, batch, norm, down_t, _, levels = CONFIGS[name]   # a Config
    skel = get_skeleton(skel_name)
    body = torch.as_tensor(part_dims(skel, "body"))
    model = VQVAE(VQVAEConfig(skel.dim, len(body), width=width, codebook_size=codebook, code_dim=code_dim,
                              latent_norm=norm, down_t=down_t, levels=levels)).train()
    ccfg = ContrastiveConfig(mode="infonce", code_dim=code_dim, audio_dim=136, text_dim=384, audio_frame_dim=68,
                             text_frame_dim=384)
    contrastive = Contrastive(ccfg).train()
    params = [*model.parameters(), *contrastive.parameters()]
    opt = torch.optim.AdamW(params, lr=2e-4, betas=(0.9, 0.99), weight_decay=0.0)

    def data(i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        return {"x": torch.randn(batch, 34, skel.dim, generator=g),
                "audio_pooled": torch.randn(batch, 136, generator=g),
                "text_pooled": torch.randn(batch, 384, generator=g),
                "audio_frames": torch.randn(batch, 34, 68, generator=g),
                "text_frames": torch.randn(batch, 34, 384, generator=g),
                "video_ids": torch.randint(0, max(2, batch // 4), (batch,), generator=g)}

    def step(d: dict) -> float:
        out = model(d["x"])
        terms = contrastive(out.latents, d["audio_pooled"], d["text_pooled"], d["audio_frames"],
                            d["text_frames"], d["video_ids"])
        loss = F.smooth_l1_loss(out.recon, d["x"][..., body]) + 0.001 * out.commit + terms.total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    batches = [data(i) for i in range(warmup + steps)]
    for d in batches[:warmup]:
        step(d)
    t = time.perf_counter()
    for d in batches[warmup:]:
        step(d)
    sec = (time.perf_counter() - t) / steps
    return {"name": name, "width": width, "params_m": sum(p.numel() for p in params) / 1e6, "batch": batch,
            "samples_s": batch / sec, "ms_step": 1000 * sec,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--quick", action="store_true", help="2 timed steps after 1 warm-up step")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (2: the machine the floors were measured on)")
    ap.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)   # the per-configuration child
    args = ap.parse_args(argv)
    steps, warmup = (2, 1) if args.quick else (args.steps, args.warmup)
    if args.one:
        print(json.dumps(run_one(args.one, steps, warmup, args.threads)))
        return

    load0 = os.getloadavg()[0]
    results = []
    for name in CONFIGS:
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(steps), "--warmup", str(warmup),
               "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  {name}: {results[-1]['samples_s']:.1f} samples/s", file=sys.stderr)
    base = results[0]["samples_s"]
    rows = []
    for r in results:
        ref = CONFIGS[r["name"]].original_samples_s
        rows.append((r["name"], str(r["width"]), f"{r['params_m']:.1f}", str(r["batch"]), f"{r['samples_s']:.1f}",
                     f"{r['ms_step']:.0f}", f"{r['peak_mb']:.0f}", f"{r['samples_s'] / base:.1f}x",
                     "-" if ref is None else f"{ref:g}"))
    print_table(("configuration", "width", "params (M)", "batch", "samples/s", "ms/step", "peak MB",
                 "speed-up vs original config", "original code samples/s (perf-floors)"), rows)
    print(f"\n{steps} timed steps after {warmup} warm-up, {args.threads} torch threads, a fresh process per row; load "
          f"average {load0:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs; a shared machine "
          f"drifts, compare ratios of one run)")


if __name__ == "__main__":
    main()
