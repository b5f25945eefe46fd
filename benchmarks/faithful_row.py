"""The faithful configuration's row of `evaluate` (issue 9): LDMC's own diffusion (ldmc-spec §6: its UNet over the
latent steps as channels, the ε objective with t = 0 never trained, one condition-dropout draw per batch, the seed-pose
encoder never optimised, no style, AdamW 2e-4 at batch 32 with the LR halved at 20/40/60/80 % of the epochs, its
99-step DDPM sampler with lerp(0.5) "guidance", the raw weights (not the EMA) and the nearest codes), trained on the
same latents as our model and scored with the v2 protocol beside it.

    python benchmarks/faithful_row.py export --out faithful_bundle          # from the DAG's outputs
    python benchmarks/faithful_row.py train --bundle faithful_bundle --out faithful_out --device cuda
    python benchmarks/faithful_row.py score --samples faithful_out --out docs/faithful_row

Three steps, so that the expensive one runs where a GPU is: `export` writes what the faithful model trains and
samples from (per split the pooled speech and text, the seed poses, and for train the body and hand latents of
extract_codes; about 55 MB); `train` needs nothing else (no DAG outputs, no VQ-VAE: the UNet takes the pooled
features only) and writes the sampled latents of val and test for every run seed of `evaluate.seeds`, with the
training history and the times; `score` decodes them through the DAG's VQ-VAEs (nearest codes) and scores the whole
body with the v2 protocol exactly as `evaluate` scores its rows (its run seeds, partitions and scorers), then prints
the faithful row beside `evaluate`'s model, ground-truth and mean-pose rows.

On 2 CPU cores the sampler alone (RTF ~3) needs hours per seed; on one GPU the whole `train` step takes minutes.
The checkpoint kept is the last epoch (no val FGD during training: the original kept the best val FGD of every
epoch, which costs a full 198-evaluation sampling pass per epoch).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("body", "hand")
SPLITS = ("val", "test")
ROWS = ("ground_truth", "model", "faithful", "random_window", "mean_pose")     # what score shows
# ldmc-spec §6: the original's diffusion recipe (epochs are a flag: 500 on TED Expressive)
FAITHFUL = {"denoiser": "unet", "objective": "eps", "schedule": "linear", "steps": 100, "loss": "l1_smooth",
            "t_min": 1, "train_seed_encoder": False, "condition_dropout": "faithful", "lr": 2e-4,
            "betas": (0.9, 0.99), "weight_decay": 0.0, "batch_size": 32, "milestones": (0.2, 0.4, 0.6, 0.8),
            "gamma": 0.5, "ema_decay": 0.995, "ema_start": 2000, "ema_warmup": False, "use_ema": False,
            "quantize": True, "latent_scale": "none", "sampler": "ddpm_lerp", "sampler_steps": 99,
            "unet_time_dim": 1536,
            # the pooled features standardised with the train split's statistics, as our model's: a property of
            # the feature set (the default audio features are raw dB and Hz), not of the original's recipe
            "condition_scale": "standardize"}


def _paths(dataset: str) -> dict:
    r = ROOT / "results"
    return {"windows": r / f"build_windows/{dataset}/windows", "features": r / f"extract_features/{dataset}/features",
            "codes": {p: r / f"extract_codes/{dataset}-{p}/codes" for p in PARTS},
            "vqvae": {p: r / f"train_vqvae/{dataset}-{p}/model" for p in PARTS},
            "encoder": r / f"train_fgd_encoder/{dataset}/encoder", "sync": r / f"train_sync_evaluator/{dataset}/evaluator",
            "oracles": r / f"train_oracles/{dataset}/oracles", "evaluate": r / f"evaluate/{dataset}/summary.csv"}


def noise_seed(seed: int, run_seed: int, split: str, part: str) -> int:
    """The noise of one part, split and run seed: `evaluate`'s."""
    return zlib.crc32(f"{seed}/{run_seed}/{split}".encode()) + PARTS.index(part)


# --- export (here, from the DAG's outputs) ----------------------------------------------------------------------------

def export(out: Path, params_path: Path, dataset: str) -> None:
    from gesturegen.config import load_params
    from gesturegen.features import open_windows_and_features
    from gesturegen.io import read_json, write_json
    from gesturegen.models.vqvae import load_vqvae
    from stages.diffusion import open_part_codes

    params = load_params(params_path)
    paths = _paths(dataset)
    out.mkdir(parents=True, exist_ok=True)
    meta: dict = {"dataset": dataset, "seed": params.seed, "run_seeds": list(params.evaluate.seeds), "parts": {}}
    for split in ("train", *SPLITS):
        w, f = open_windows_and_features(paths["windows"], paths["features"], dataset, split, RuntimeError)
        n_seed = int(w.meta["n_seed_frames"])
        arrays = {"audio_pooled": np.asarray(f.audio_pooled, np.float32),
                  "text_pooled": np.asarray(f.text_pooled, np.float32),
                  "seed": np.asarray(w.dir_vec[:, :n_seed], np.float32)}
        if split == "train":
            for part in PARTS:
                arrays[f"latents_{part}"] = np.asarray(
                    open_part_codes(paths["codes"][part], w, dataset, split, paths["vqvae"][part],
                                    RuntimeError).latents, np.float32)
        np.savez_compressed(out / f"{split}.npz", **arrays)
        meta[split] = {"windows": len(arrays["seed"]),
                       "dir_vec_blake2b": (w.meta.get("checksums") or {}).get("dir_vec", {}).get("blake2b")}
        meta.update(n_frames=int(w.meta["n_frames"]), n_seed_frames=n_seed, fps=float(w.meta["fps"]),
                    features={k: int(v) for k, v in f.meta["dims"].items()})
    for part in PARTS:
        vq = load_vqvae(paths["vqvae"][part], dataset=dataset, part=part)
        c = vq.config
        meta["parts"][part] = {"n_latent": c.n_latent, "code_dim": c.code_dim, "latent_norm": c.latent_norm,
                               "in_dim": c.in_dim, "vqvae_config": read_json(paths["vqvae"][part] / "config.json")}
    write_json(out / "meta.json", meta)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"faithful_row export: {out} ({size:.1f} MB)")


# --- train (anywhere torch runs; a GPU for speed) ---------------------------------------------------------------------

def _model(meta: dict, part: str, seed: int):
    from gesturegen.models.denoisers import DenoiserConfig
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig

    pm, fd = meta["parts"][part], meta["features"]
    style_steps = tuple(s for s in (2, 3) if s < pm["n_latent"])
    dc = DenoiserConfig(n_latent=pm["n_latent"], code_dim=pm["code_dim"], n_frames=meta["n_frames"],
                        audio_frame_dim=fd["audio_frames"], text_frame_dim=fd["text_frames"],
                        audio_pooled_dim=fd["audio_pooled"], text_pooled_dim=fd["text_pooled"],
                        seed_dim=meta["n_seed_frames"] * pm["in_dim"], style_dim=len(style_steps) * pm["code_dim"],
                        steps=FAITHFUL["steps"], kind="unet", unet_time_dim=FAITHFUL["unet_time_dim"],
                        train_seed_encoder=FAITHFUL["train_seed_encoder"], projection_seed=seed)
    return LatentDiffusion(LatentDiffusionConfig(denoiser=dc, steps=FAITHFUL["steps"], schedule=FAITHFUL["schedule"],
                                                 objective=FAITHFUL["objective"], latent_norm=pm["latent_norm"],
                                                 latent_scale=FAITHFUL["latent_scale"],
                                                 condition_scale=FAITHFUL["condition_scale"], style_steps=style_steps))


def _conditions(arrays, dc):
    """The UNet reads the pooled features and the seed poses; the per-frame features and the style are zeros of
    their shapes (the conditions are checked by shape)."""
    import torch

    from gesturegen.models.denoisers import Conditions

    ap = torch.as_tensor(arrays["audio_pooled"])
    n = ap.shape[0]
    return Conditions(torch.zeros(1, dc.n_frames, dc.audio_frame_dim).expand(n, -1, -1),
                      torch.zeros(1, dc.n_frames, dc.text_frame_dim).expand(n, -1, -1), ap,
                      torch.as_tensor(arrays["text_pooled"]),
                      torch.as_tensor(arrays["seed"]).reshape(n, -1), torch.zeros(n, dc.style_dim))


def train(bundle: Path, out: Path, part: str, device: str, epochs: int, threads: int, limit: int = 0,
          budget_s: float = 0.0, run_seeds: tuple[int, ...] = (), checkpoints: Path | None = None,
          sample_only: bool = False) -> None:
    import dataclasses

    import pytorch_lightning as pl
    import torch
    from torch.utils.data import TensorDataset

    from gesturegen.compute import use_compute
    from gesturegen.config import ComputeParams
    from gesturegen.io import read_json, write_json
    from gesturegen.models.diffusion import SamplerConfig
    from gesturegen.models.latent_diffusion import null_keep
    from gesturegen.systems.diffusion_system import DiffusionSystem
    from gesturegen.training import epoch_loader, fit

    missing = [f for f in ("meta.json", "train.npz", *(f"{s}.npz" for s in SPLITS)) if not (bundle / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{bundle}: no {', '.join(missing)}; write the bundle with `python "
                                f"benchmarks/faithful_row.py export --out {bundle}` where the DAG's results are")
    meta = read_json(bundle / "meta.json")
    seed = int(meta["seed"])
    compute = dataclasses.replace(ComputeParams(), device=device, threads=threads)
    machine = use_compute(device, threads)
    t_start = time.perf_counter()
    cut = slice(None, limit or None)             # --limit: a smoke test on the first windows of every split
    train_a = {k: v[cut] for k, v in np.load(bundle / "train.npz").items()}
    lat = train_a[f"latents_{part}"]
    pl.seed_everything(seed, workers=True, verbose=False)
    model = _model(meta, part, seed)
    model.set_latent_stats(lat)
    dc = model.config.denoiser
    model.set_condition_stats(audio_frames=np.zeros((1, 1, dc.audio_frame_dim), np.float32),   # the UNet reads none
                              text_frames=np.zeros((1, 1, dc.text_frame_dim), np.float32),
                              audio_pooled=train_a["audio_pooled"], text_pooled=train_a["text_pooled"])
    model.ema.load_state_dict(model.net.state_dict())
    dc = model.config.denoiser
    n = len(lat)
    milestones = tuple(sorted({max(1, round(f * epochs)) for f in FAITHFUL["milestones"]}))
    ckpt_dir = checkpoints or out
    ckpt, trained = ckpt_dir / f"model_{part}.safetensors", ckpt_dir / f"trained_{part}.json"
    out.mkdir(parents=True, exist_ok=True)
    if sample_only:         # a second device call: the weights the first one trained (a warm machine keeps /tmp)
        from safetensors.torch import load_file

        if not (ckpt.is_file() and trained.is_file()):
            raise FileNotFoundError(f"{ckpt_dir}: no model_{part}.safetensors / trained_{part}.json; run "
                                    f"`faithful_row.py train` without --sample-only first (same --checkpoints)")
        model.load_state_dict(load_file(ckpt))
        training = read_json(trained)
    else:
        system = DiffusionSystem(model, torch.zeros(1, dc.style_dim), torch.full((n, 1), -1, dtype=torch.long),
                                 drop={}, drop_all=0.0, dropout_mode=FAITHFUL["condition_dropout"],
                                 loss=FAITHFUL["loss"], t_min=FAITHFUL["t_min"], lr=FAITHFUL["lr"],
                                 betas=FAITHFUL["betas"], weight_decay=FAITHFUL["weight_decay"],
                                 milestones=milestones, gamma=FAITHFUL["gamma"], ema_decay=FAITHFUL["ema_decay"],
                                 ema_start=FAITHFUL["ema_start"], ema_warmup=FAITHFUL["ema_warmup"],
                                 val_every=epochs + 1, max_epochs=epochs, val_score=None, seed=seed)
        c = _conditions(train_a, dc)
        ds = TensorDataset(torch.arange(n), torch.as_tensor(lat), c.audio_frames, c.text_frames, c.audio_pooled,
                           c.text_pooled, c.seed)
        loader = epoch_loader(ds, FAITHFUL["batch_size"], seed, 1)
        callbacks = ()
        if budget_s > 0:    # a device lease: stop at the end of the first epoch past the budget (recorded)
            callbacks = (pl.callbacks.Timer(duration={"seconds": budget_s}, interval="epoch"),)
        resume = Path(tempfile.mkdtemp(prefix=f"faithful-{part}-"))     # epoch checkpoints: not results
        try:
            train_s, _ = fit(system, loader, None, epochs, resume, compute, callbacks=callbacks)
        finally:
            shutil.rmtree(resume, ignore_errors=True)
        trained_epochs = len(system.history)
        model.load_state_dict(system.best_state)
        training = {"epochs": trained_epochs, "epochs_planned": epochs, "milestones": list(milestones),
                    "optimizer_steps": len(loader) * trained_epochs, "history": system.history,
                    "train_seconds": round(train_s, 1),
                    "train_samples_per_s": round(len(loader) * FAITHFUL["batch_size"] * trained_epochs / train_s, 1)}
        from safetensors.torch import save_file

        ckpt_dir.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, ckpt)
        write_json(trained, training)
    model = model.to(device).eval()
    sampler = SamplerConfig(FAITHFUL["sampler"], steps=FAITHFUL["sampler_steps"])
    # what an earlier call sampled into this --out stays (a later call adds run seeds; score reads one file per part
    # and split), unless this call trained new weights
    z_out, gen_s = {}, {}
    if sample_only:
        for split in SPLITS:
            if (out / f"z_{part}_{split}.npz").is_file():
                z_out.update(np.load(out / f"z_{part}_{split}.npz"))
        if (out / f"report_{part}.json").is_file():
            gen_s.update(read_json(out / f"report_{part}.json").get("generate_seconds", {}))
    report = {
        "part": part, **training, "device_check": None,
        "faithful": {k: list(v) if isinstance(v, tuple) else v for k, v in FAITHFUL.items()},
        "generate_seconds": gen_s, "nfe": model.nfe(sampler), "parameters": model.parameter_count(),
        "compute": machine, "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None}
    write_json(out / f"report_{part}.json", report)       # rewritten as samples come: a cut lease keeps what is done
    conds = {}
    for split in SPLITS:
        arrays = {k: v[cut] for k, v in np.load(bundle / f"{split}.npz").items()}
        conds[split] = _conditions(arrays, dc).to(device)
    for rs in run_seeds or meta["run_seeds"]:      # seed-major: every split of a run seed before the next seed
        for split in SPLITS:
            cond = conds[split]
            keep = null_keep(len(cond), ("style",), device=device)
            g = torch.Generator().manual_seed(noise_seed(seed, rs, split, part))
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            z = model.generate(cond, keep, sampler, generator=g, use_ema=FAITHFUL["use_ema"])
            z_out[f"{split}_{rs}"] = z.float().cpu().numpy()
            gen_s[f"{split}_{rs}"] = round(time.perf_counter() - t0, 3)
            print(f"faithful_row train {part}: sampled {split} run seed {rs} ({len(cond)} windows) in "
                  f"{gen_s[f'{split}_{rs}']} s", flush=True)
            # one file per part and split (a device lease returns files of <= 16 MiB)
            np.savez_compressed(out / f"z_{part}_{split}.npz",
                                **{k: v for k, v in z_out.items() if k.startswith(f"{split}_")})
            write_json(out / f"report_{part}.json", report)
    try:        # the samples are saved: a failing check is recorded in the report, not lost with it
        check = _device_check(model, meta, part, arrays, sampler, seed)
    except RuntimeError as e:
        check = {"error": f"{type(e).__name__}: {e}"}
    report.update(device_check=check, total_seconds=round(time.perf_counter() - t_start, 1))
    write_json(out / f"report_{part}.json", report)
    print(f"faithful_row train {part}: {training['train_seconds']} s training, generation {gen_s}")


def _device_check(model, meta: dict, part: str, arrays: dict, sampler, seed: int, n: int = 8) -> dict:
    """gesturegen.generation.generate_part with the network on the GPU and on the CPU (a random VQ-VAE of the
    part's geometry on the CPU decodes both): the same noise, so the same motion up to rounding."""
    import copy

    import torch

    from gesturegen.generation import WindowInputs, generate_part
    from gesturegen.models.vqvae import VQVAE, VQVAEConfig

    pm = meta["parts"][part]
    torch.manual_seed(seed)
    vq = VQVAE(VQVAEConfig(**pm["vqvae_config"]["config"])).eval()
    fd = meta["features"]
    inputs = WindowInputs(np.zeros((n, meta["n_frames"], fd["audio_frames"]), np.float32),
                          np.zeros((n, meta["n_frames"], fd["text_frames"]), np.float32),
                          arrays["audio_pooled"][:n], arrays["text_pooled"][:n], arrays["seed"][:n],
                          np.full(n, -1, np.int64))
    ref = np.zeros((1, pm["n_latent"], pm["code_dim"]), np.float32)
    kw = {"drop": ("style",), "use_ema": False, "quantize": True}
    on_gpu = generate_part(model, vq, inputs, ref, sampler, seed, **kw)
    on_cpu = generate_part(copy.deepcopy(model).cpu(), vq, inputs, ref, sampler, seed, **kw)
    return {"windows": n, "max_abs_diff": float(np.abs(on_gpu - on_cpu).max()),
            "max_abs": float(np.abs(on_cpu).max())}


# --- score (here, with the DAG's VQ-VAEs and evaluators) ---------------------------------------------------------------

def score(samples: Path, out: Path, params_path: Path, dataset: str) -> None:
    import pandas as pd
    import torch
    from tqdm import tqdm

    from gesturegen import evaluation
    from gesturegen.config import load_params
    from gesturegen.data.annotations import load_window_annotations
    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.data.windowstore import open_split
    from gesturegen.evaluators import open_extractor, open_scorers
    from gesturegen.generation import join_seed
    from gesturegen.io import read_json, write_json
    from gesturegen.models.latent_diffusion import decode
    from gesturegen.models.vqvae import load_vqvae, part_dims
    from gesturegen.summary import read_summary_rows, summary_rows
    from stages.diffusion import join_config

    params = load_params(params_path)
    protocol, seed = params.evaluate_baselines, params.seed
    paths = _paths(dataset)
    reports = {p: read_json(samples / f"report_{p}.json") for p in PARTS}
    z = {p: {k: v for split in SPLITS for k, v in np.load(samples / f"z_{p}_{split}.npz").items()} for p in PARTS}
    vq = {p: load_vqvae(paths["vqvae"][p], dataset=dataset, part=p) for p in PARTS}
    train = open_split(paths["windows"] / "train")
    skeleton = get_skeleton(train.meta["skeleton"])
    norm = read_json(paths["windows"] / "normalization.json")
    mean_dir_vec = np.asarray(norm["mean_dir_vec"], np.float32)
    extract, _ = open_extractor(paths["encoder"], norm, skeleton, dataset, "cpu")
    settings = evaluation.EvalSettings.from_protocol(protocol, dataset, train.meta)
    scorers = open_scorers(paths["windows"], paths["features"], protocol.splits, dataset, paths["sync"],
                           paths["oracles"], pool=protocol.rprec_pool, trials=protocol.rprec_trials)
    consts = evaluation.beat_constants(np.asarray(train.dir_vec), mean_dir_vec, skeleton, dataset)
    dims = {p: part_dims(skeleton, p) for p in PARTS}
    join, n_seed = join_config(params.diffusion), settings.n_seed
    # the run seeds sampled for both parts and splits (a cut lease may have sampled fewer than evaluate's)
    run_seeds = [rs for rs in params.evaluate.seeds if all(f"{sp}_{rs}" in z[p] for p in PARTS for sp in SPLITS)]
    if not run_seeds:
        raise RuntimeError(f"{samples}: no run seed of {list(params.evaluate.seeds)} was sampled for both parts and "
                           f"splits; run `faithful_row.py train` to the end")
    if len(run_seeds) < len(params.evaluate.seeds):
        print(f"faithful_row score: run seeds {run_seeds} of {list(params.evaluate.seeds)} (the others were not "
              f"sampled); the CIs are over these")
    seeds_left = {split: iter(run_seeds) for split in SPLITS}

    def generate(sp) -> np.ndarray:
        """The whole body of one run seed's samples; run_generator asks for a split's run seeds in order."""
        rs = next(seeds_left[sp.name])
        gen = np.zeros((len(sp.videos), *sp.dir_vec.shape[1:]), np.float32)
        for p in PARTS:
            zz = torch.as_tensor(z[p][f"{sp.name}_{rs}"])
            if zz.shape[0] != len(gen):
                raise RuntimeError(f"{samples}/z_{p}_{sp.name}.npz: {zz.shape[0]} {sp.name} windows, the DAG's "
                                   f"windows have {len(gen)}; export and train again from these results")
            gen[..., dims[p]] = decode(vq[p], zz, quantize=FAITHFUL["quantize"]).numpy()
        return join_seed(np.asarray(sp.dir_vec[:, :n_seed], np.float32), gen, join)   # as evaluate joins its rows

    splits = []
    for split in SPLITS:
        w = open_split(paths["windows"] / split)
        splits.append(evaluation.EvalSplit(split, w.dir_vec, w.audio, w.windows()["vid"].astype(str).to_numpy(),
                                           load_window_annotations(paths["windows"] / split)))
    # as evaluate scores its rows: joined to the real seed frames, one split in memory at a time, every run seed
    runs = evaluation.run_generator(splits, generate, "faithful", train.windows()["vid"].astype(str).to_numpy(),
                                    extract, skeleton, mean_dir_vec, consts, settings, seed, run_seeds, scorers,
                                    progress=lambda jobs: tqdm(jobs, desc="faithful_row score", unit="run"),
                                    deterministic=False)
    summary = summary_rows(runs)
    rows = summary + read_summary_rows(paths["evaluate"], controls=[r for r in ROWS if r != "faithful"])
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "summary.csv", index=False)
    shown = (("fgd_corrected", "FGD"), ("kid_corrected", "KID"), ("diversity_corrected", "diversity"),
             ("beat_f1", "beat F1"), ("bcgap", "BC gap"), ("rprec_top3", "R-prec top-3"),
             ("lexical_acc", "lexical"), ("speaker_acc", "speaker"))
    table = {}
    for split in SPLITS:
        for control in ROWS:
            cells = {}
            for m, label in shown:
                r = next((r for r in rows if r["split"] == split and r["control"] == control and r["metric"] == m),
                         None)
                mean = None if r is None or pd.isna(r.get("mean")) else float(r["mean"])
                ci = None if r is None or pd.isna(r.get("ci95")) else float(r["ci95"])
                cells[label] = None if mean is None else {"mean": mean, "ci95": ci}
            table[f"{split}/{control}"] = cells
    write_json(out / "report.json", {
        "dataset": dataset, "faithful": reports["body"]["faithful"], "run_seeds": run_seeds,
        "training": {p: {k: reports[p][k] for k in ("epochs", "optimizer_steps", "train_seconds",
                                                     "train_samples_per_s", "generate_seconds", "nfe", "parameters",
                                                     "gpu")} for p in PARTS},
        "final_train_loss": {p: reports[p]["history"][-1]["train_loss"] for p in PARTS}, "table": table})
    # the comparison of the rows, as evaluate's rows.png (the faithful row's CIs are over its own run seeds)
    from gesturegen import plots

    fig = plots.controls_figure([r for r in rows if r["control"] in ROWS], dataset, list(ROWS),
                                len(run_seeds) * protocol.n_partitions)
    n_seeds = (f"{len(run_seeds)}" if len(run_seeds) == len(params.evaluate.seeds)
               else f"faithful {len(run_seeds)}, the others {len(params.evaluate.seeds)}")
    fig.suptitle(f"{dataset}: the faithful configuration (UNet, 99-step lerp sampler) beside our model, protocol v2; "
                 f"bars = mean, whiskers = 95 % CI over run seeds ({n_seeds})", fontsize=10)
    plots.save(fig, out / "rows.png")
    for split in SPLITS:
        print(f"\n{split}:")
        print(f"{'row':<14}" + "".join(f"{label:>20}" for _, label in shown))
        for control in ROWS:
            cells = table[f"{split}/{control}"]
            fmt = lambda c: "-" if c is None else (f"{c['mean']:.4g} ± {c['ci95']:.2g}" if c["ci95"] is not None
                                                   else f"{c['mean']:.4g}")
            print(f"{control:<14}" + "".join(f"{fmt(cells[label]):>20}" for _, label in shown))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("--bundle", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--device", default="cpu")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--part", choices=PARTS, help="one part in this process (default: both, side by side)")
    t.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    t.add_argument("--budget-s", type=float, default=0.0,
                   help="stop training at the end of the first epoch past this many seconds (a device lease)")
    t.add_argument("--run-seeds", type=int, nargs="*", default=[],
                   help="sample these of evaluate's run seeds (default: all of them)")
    t.add_argument("--checkpoints", type=Path, help="where the trained weights go (default: --out)")
    t.add_argument("--sample-only", action="store_true",
                   help="load the weights a previous train call left in --checkpoints and only sample")
    s = sub.add_parser("score")
    s.add_argument("--samples", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    for p in (e, s):
        p.add_argument("--params", type=Path, default=ROOT / "params.yaml")
        p.add_argument("--dataset", default="demo")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.cmd == "export":
        export(args.out, args.params, args.dataset)
    elif args.cmd == "score":
        score(args.samples, args.out, args.params, args.dataset)
    elif args.part:
        train(args.bundle, args.out, args.part, args.device, args.epochs, args.threads, args.limit, args.budget_s,
              tuple(args.run_seeds), args.checkpoints, args.sample_only)
    else:                                # both parts side by side, one process each
        procs = [subprocess.Popen([sys.executable, __file__, "train", "--bundle", str(args.bundle), "--out",
                                   str(args.out), "--device", args.device, "--epochs", str(args.epochs), "--threads",
                                   str(args.threads), "--limit", str(args.limit), "--budget-s", str(args.budget_s),
                                   "--part", p, "--run-seeds", *map(str, args.run_seeds),
                                   *(["--checkpoints", str(args.checkpoints)] if args.checkpoints else []),
                                   *(["--sample-only"] if args.sample_only else [])]) for p in PARTS]
        codes = [p.wait() for p in procs]
        if any(codes):
            raise SystemExit(f"faithful_row train: exit codes {dict(zip(PARTS, codes))}")


if __name__ == "__main__":
    main()
