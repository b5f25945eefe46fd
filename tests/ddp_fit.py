"""A small VQ-VAE or latent-diffusion training through gesturegen.training.fit, on one process or under Lightning
DDP (compute.devices > 1: gloo on CPU), for tests/unit/test_ddp.py. Lightning starts the other ranks by running
this command line again, so it runs as `python -m tests.ddp_fit`, never inside pytest.

Every rank writes OUT/rank<r>.npz: the quantizer's buffers after every training step (VQ-VAE), the final weights
and the per-epoch history (JSON).

    python -m tests.ddp_fit --system vqvae --devices 2 --out DIR
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

N, T, IN_DIM, OUT_DIM, VIDEOS, BATCH, EPOCHS = 64, 34, 12, 6, 8, 16, 2
A_FRAME, T_FRAME, A_POOL, T_POOL, CODE, K = 5, 7, 9, 11, 8, 16


def _data(seed: int = 0):
    import torch

    g = np.random.default_rng(seed)
    f32 = lambda *shape: torch.as_tensor(g.standard_normal(shape).astype(np.float32))
    vid = torch.as_tensor(np.repeat(np.arange(VIDEOS), N // VIDEOS), dtype=torch.long)
    return {"motion": f32(N, T, IN_DIM), "a_pool": f32(N, A_POOL), "t_pool": f32(N, T_POOL),
            "a_frames": f32(N, T, A_FRAME), "t_frames": f32(N, T, T_FRAME), "vid": vid, "z": f32(N, 4, CODE),
            "seed": f32(N, 4 * IN_DIM)}


def _vqvae():
    from torch.utils.data import TensorDataset

    from gesturegen.models.contrastive import ContrastiveConfig
    from gesturegen.models.vqvae import VQVAEConfig
    from gesturegen.systems.vqvae_system import VQVAESystem

    d = _data()
    config = VQVAEConfig(in_dim=IN_DIM, out_dim=OUT_DIM, n_frames=T, width=16, code_dim=CODE, codebook_size=K,
                         down_t=3, depth=2, mu=0.9, quantizer_seed=5)
    # infonce with strong weights: its negatives (and so its value and gradient) change if a rank sees only its share
    cc = ContrastiveConfig(mode="infonce", code_dim=CODE, audio_dim=A_POOL, text_dim=T_POOL, audio_frame_dim=A_FRAME,
                           text_frame_dim=T_FRAME, weight_text=0.5, weight_audio=0.5, weight_style=0.5, head_hidden=8)
    system = VQVAESystem(config, cc, np.arange(OUT_DIM), lr=3e-3, milestones=(1,))
    data = TensorDataset(d["motion"], d["a_pool"], d["t_pool"], d["a_frames"], d["t_frames"], d["vid"])
    return system, data, lambda: system.model.quantizer


def _diffusion():
    import torch
    from torch.utils.data import TensorDataset

    from gesturegen.models.denoisers import DenoiserConfig
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig
    from gesturegen.systems.diffusion_system import DiffusionSystem

    d = _data()
    dc = DenoiserConfig(n_latent=4, code_dim=CODE, n_frames=T, audio_frame_dim=A_FRAME, text_frame_dim=T_FRAME,
                        audio_pooled_dim=A_POOL, text_pooled_dim=T_POOL, seed_dim=4 * IN_DIM, style_dim=2 * CODE,
                        steps=10, width=16, layers=1, heads=2, dropout=0.0)
    model = LatentDiffusion(LatentDiffusionConfig(denoiser=dc, steps=10))
    model.set_latent_stats(d["z"].numpy())
    table = model.style_of(d["z"])
    refs = torch.as_tensor(np.stack([np.roll(np.arange(N), 1), np.roll(np.arange(N), 2)], 1))
    system = DiffusionSystem(model, table, refs, drop={"speech": 0.2, "text": 0.2, "style": 0.2, "seed": 0.2},
                             drop_all=0.1, lr=3e-3, ema_decay=0.9, max_epochs=EPOCHS, seed=3)
    data = TensorDataset(torch.arange(N), d["z"], d["a_frames"], d["t_frames"], d["a_pool"], d["t_pool"], d["seed"])
    return system, data, None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", choices=["vqvae", "diffusion"], required=True)
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    from gesturegen.compute import use_compute
    from gesturegen.config import ComputeParams
    from gesturegen.training import epoch_loader, fit

    use_compute("cpu", 1)
    pl.seed_everything(0, verbose=False)
    system, data, quantizer = (_vqvae if args.system == "vqvae" else _diffusion)()
    steps: list[dict] = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if quantizer is not None:
                steps.append({k: v.detach().cpu().numpy().copy() for k, v in quantizer().state_dict().items()})

    compute = ComputeParams(devices=args.devices, threads=1, precision=args.precision)
    _, zero = fit(system, epoch_loader(data, BATCH, 7, compute.world_size), DataLoader(data, batch_size=32),
                  EPOCHS, args.out / "resume", compute, callbacks=(Record(),))
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    arrays = {f"w/{k}": v.detach().cpu().numpy() for k, v in system.state_dict().items()}
    for i, s in enumerate(steps):
        arrays |= {f"step{i}/{k}": v for k, v in s.items()}
    np.savez(args.out / f"rank{rank}.npz", history=np.array(json.dumps(system.history)), zero=np.array(zero),
             **arrays)


if __name__ == "__main__":
    main()
