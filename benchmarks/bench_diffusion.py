"""Latent diffusion speed on this machine (2 torch threads by default): generating 60 s of speech, batched and one
window at a time, and training samples/s, for our default denoiser and sampler against the faithful configuration
(the original's UNet and its 99-step sampler with lerp "guidance", 198 network evaluations per window).

    python benchmarks/bench_diffusion.py [--threads 2] [--seconds 60] [--quick] [--device cuda]

Each configuration runs in a fresh subprocess (its peak resident memory, from getrusage, is its own). Generation is
body + hand, features given (the features of 60 s of speech are extracted once, in extract_features' time): 30
windows of 34 frames whose 30 new frames are 2.0 s each; the time covers sampling and the VQ-VAE decoder (a VQ-VAE of
the dataset's committed size, random weights). Real-time factor = generation seconds / seconds of speech. The
models are randomly initialised at the sizes of params.yaml (ours) and of ldmc-spec §6.3 (faithful): the numbers
measure the code, not a trained model. The original code's figures on this kind of machine (perf-floors.md) are
printed beside ours; a shared machine drifts by about ±20 %, so compare the ratios measured in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from _table import print_table  # benchmarks/, on sys.path when run as a script

ORIGINAL_RTF = {"batched": 3.4, "per window": 6.2}       # perf-floors.md: LDMC body + hand on 2 cores
ORIGINAL_TRAIN = 11.4                                     # perf-floors.md: LDMC diffusion training, batch 32


def _setup(dataset: str, faithful: bool):
    from pathlib import Path

    import yaml

    from gesturegen.models.denoisers import DenoiserConfig
    from gesturegen.models.diffusion import SamplerConfig
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig
    from gesturegen.models.stroke_plan import StrokePlanConfig
    from gesturegen.models.vqvae import VQVAE, VQVAEConfig
    from gesturegen.systems.diffusion_system import guidance_weights

    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((root / "params.yaml").read_text())
    vqp, dp = params["train_vqvae"]["models"][dataset], params["diffusion"]
    m = dp["models"][dataset]
    in_dim, parts = (126, (36, 90)) if dataset != "aqgt" else (159, (33, 126))
    code_dim, down_t = (512, 3) if faithful else (vqp["code_dim"], vqp["down_t"])
    sp = dp.get("stroke_plan", {"mode": "none"})
    planned = not faithful and sp["mode"] != "none"          # the stroke plan: predicted per window at sampling
    models = []
    for out_dim in parts:
        vq = VQVAE(VQVAEConfig(in_dim=in_dim, out_dim=out_dim, width=vqp["width"], code_dim=code_dim,
                               codebook_size=vqp["codebook_size"], down_t=down_t)).eval()
        dc = DenoiserConfig(n_latent=vq.config.n_latent, code_dim=code_dim, n_frames=34, audio_frame_dim=68,
                            text_frame_dim=384, audio_pooled_dim=136, text_pooled_dim=384, seed_dim=4 * in_dim,
                            style_dim=2 * code_dim, steps=100 if faithful else dp["steps"],
                            kind="unet" if faithful else dp["denoiser"], width=m["width"], layers=m["layers"],
                            heads=m["heads"], plan_channels=int(planned))
        plan = StrokePlanConfig(audio_dim=68, hidden=sp["hidden"], kernel=sp["kernel"], dropout=sp["dropout"],
                                radius=sp["radius"], width=sp["width"]) if planned else None
        ld = LatentDiffusion(LatentDiffusionConfig(denoiser=dc, steps=dc.steps, stroke_plan=plan,
                                                   objective="eps" if faithful else dp["objective"])).eval()
        models.append((ld, vq))
    s = dp["sampler"]
    sampler = (SamplerConfig("ddpm_lerp", steps=99) if faithful else
               SamplerConfig(s["name"], steps=s["steps"], guidance=dict(s["guidance"]),
                             guidance_all=s["guidance_all"]))
    # training-time guidance (DiffusionSystem): one forward pass more per guided modality
    guided = {} if faithful else guidance_weights(dp.get("train_guidance"))
    return models, sampler, guided


def run_one(dataset: str, faithful: bool, seconds: float, train_steps: int, threads: int,
            device: str = "cpu") -> dict:
    import torch

    from gesturegen.models.denoisers import Conditions
    from gesturegen.models.latent_diffusion import decode, null_keep
    from gesturegen.systems.diffusion_system import guided_target

    torch.set_num_threads(threads)
    models, sampler, guided = _setup(dataset, faithful)
    models = [(ld.to(device), vq.to(device)) for ld, vq in models]
    cuda = device.startswith("cuda")

    def sync():
        if cuda:
            torch.cuda.synchronize()
    n = int(round(seconds / 2.0))
    g = torch.Generator().manual_seed(0)

    def cond(b, ld):
        c = ld.config.denoiser
        return Conditions(torch.randn(b, 34, 68, generator=g), torch.randn(b, 34, 384, generator=g),
                          torch.randn(b, 136, generator=g), torch.randn(b, 384, generator=g),
                          torch.randn(b, c.seed_dim, generator=g),
                          torch.randn(b, c.style_dim, generator=g)).to(device)

    conds = [cond(n, ld) for ld, _ in models]
    out = {"nfe": models[0][0].nfe(sampler), "windows": n,
           "parameters_m": round(sum(ld.parameter_count() for ld, _ in models) / 1e6, 2)}
    with torch.no_grad():
        for (ld, vq), c in zip(models, conds):       # warm-up
            decode(vq, ld.generate(c.slice(0, 1), null_keep(1, device=device), sampler, generator=g))
        sync()
        t0 = time.perf_counter()
        for (ld, vq), c in zip(models, conds):
            decode(vq, ld.generate(c, null_keep(n, device=device), sampler, generator=g))
        sync()
        out["rtf_batched"] = (time.perf_counter() - t0) / seconds
        t0 = time.perf_counter()
        for i in range(n):
            for (ld, vq), c in zip(models, conds):
                decode(vq, ld.generate(c.slice(i, i + 1), null_keep(1, device=device), sampler, generator=g))
        sync()
        out["rtf_window"] = (time.perf_counter() - t0) / seconds
    ld = models[0][0].train()
    opt = torch.optim.AdamW([p for p in ld.net.parameters() if p.requires_grad], lr=1e-4)
    b = 32
    c = ld.scale_conditions(cond(b, ld))                    # with a stroke plan: the plan channel appended
    keep = null_keep(b, device=device)
    dc = ld.config.denoiser

    for i in range(train_steps + 2):
        if i == 2:
            sync()
            t0 = time.perf_counter()
        x0 = torch.randn(b, dc.n_latent, dc.code_dim, generator=g).to(device)
        t = torch.randint(0, ld.config.steps, (b,), generator=g).to(device)
        noise = torch.randn(x0.shape, generator=g).to(device)
        x_t = ld.schedule.q_sample(x0, t, noise)
        pred = ld.net(x_t, t, c, keep)
        target = ld.schedule.target(x0, noise, t)
        target = guided_target(ld.net, x_t, t, c, keep, pred, target, guided)
        loss = torch.nn.functional.mse_loss(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync()
    out["train_samples_s"] = b * train_steps / (time.perf_counter() - t0)
    # peak resident memory on a CPU; on a GPU the peak of torch's GPU allocations
    out["peak_mb"] = (torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="demo only, 10 s of speech, 3 training steps")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the threads still set torch's CPU pool)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        dataset, faithful = args.one.split(":")
        print(json.dumps(run_one(dataset, faithful == "faithful", args.seconds, args.train_steps, args.threads,
                                 args.device)))
        return
    seconds, steps = (10.0, 3) if args.quick else (args.seconds, args.train_steps)
    jobs = [("demo", "ours"), ("demo", "faithful")] + ([] if args.quick else [("ted_expressive", "ours")])
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for dataset, kind in jobs:
        res = subprocess.run([sys.executable, __file__, "--one", f"{dataset}:{kind}", "--seconds", str(seconds),
                              "--train-steps", str(steps), "--threads", str(args.threads), "--device", args.device],
                             env=env, capture_output=True, text=True, check=False)
        if res.returncode:          # the child's own error, not only its exit status
            raise SystemExit(f"bench_diffusion: {dataset}:{kind} failed (exit {res.returncode}):\n{res.stderr[-4000:]}")
        r = json.loads(res.stdout.strip().splitlines()[-1])
        label = f"{'faithful (UNet, ddpm_lerp)' if kind == 'faithful' else 'ours (default sampler)'}: {dataset}"
        rows.append((label, str(r["nfe"]), f"{r['parameters_m']:.2f}", f"{r['rtf_batched']:.4f}",
                     f"{r['rtf_window']:.4f}", f"{r['train_samples_s']:.1f}", f"{r['peak_mb']:.0f}"))
    rows.append(("the original LDMC (perf-floors.md)", "198", "11.36 / part", f"{ORIGINAL_RTF['batched']}",
                 f"{ORIGINAL_RTF['per window']}", f"{ORIGINAL_TRAIN}", "-"))
    where = f"{args.threads} threads" if args.device == "cpu" else f"{args.device}, {args.threads} CPU threads"
    print(f"Generation of {seconds:.0f} s of speech (body + hand, features given) and training, {where}")
    print_table(("configuration", "NFE/window", "params (M)", "RTF batched", "RTF per window", "train samples/s",
                 "peak MB" if args.device == "cpu" else "peak GPU MB"), rows)


if __name__ == "__main__":
    main()
