"""Train one part's latent diffusion model (body or hand) of one dataset over its VQ-VAE's latents.

Reads   <windows>/{train,val}/        build_windows (motion: the seed poses; videos and times: the style references)
        <features>/{train,val}/       extract_features (per-frame and pooled speech and text features)
        <codes>/{train,val}/          extract_codes (the continuous latents diffused; checked against the windows)
        <vqvae>                       train_vqvae's model/ (decodes samples; must be the one the codes came from)
        <encoder>                     train_fgd_encoder (checkpoint selection: the v2 protocol's val FGD)
Writes  <out-dir>/model/{model.safetensors,config.json}   (gesturegen.models.latent_diffusion.load_diffusion)
        <out-dir>/metrics.json    headline: val corrected FGD of the kept weights' samples (the part generated, the
                                  other part real: `val.fgd.part`), parameters (M), device
        <out-dir>/report.json     everything: history, selection, sampler, style references, parameters
        <out-dir>/dvclive/        per-epoch curves (DVCLive; `dvc plots show`)
        <out-dir>/resume/last.ckpt  the last epoch's training state while a run is unfinished (deleted on success)
        <out-dir>/timings.json    seconds and training samples/s (not tracked: they are the machine's)
Params  params.yaml → seed, compute, diffusion, evaluate_baselines (the v2 protocol's partitions for selection)

A killed run restarts from resume/last.ckpt when it was written for the same params, seed and inputs, and ends with
the same weights and metrics as an uninterrupted run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from gesturegen.compute import use_compute
from gesturegen.config import ComputeParams, DiffusionParams, EvaluateBaselinesParams, load_params, to_dict
from gesturegen.summary import round_sig
from gesturegen.io import file_digest, read_json, replace_on_success, write_json
from gesturegen.training import epoch_loader, find_resume, fit, run_fingerprint, write_dvclive

RESUME = "resume"


class DiffusionStageError(RuntimeError):
    pass


def sampler_config(p: DiffusionParams, steps: int | None = None, name: str | None = None):
    from gesturegen.models.diffusion import SamplerConfig

    s = p.sampler
    return SamplerConfig(name=name or s.name, steps=steps or s.steps, guidance=dict(s.guidance),
                         guidance_all=s.guidance_all)


def join_config(p: DiffusionParams):
    """diffusion.join as gesturegen.generation.Join (the same fields)."""
    from gesturegen.generation import Join

    return Join(**to_dict(p.join))


def open_part_codes(codes_dir: Path, w, dataset: str, split: str, vqvae_dir: Path | None,
                    error: type[Exception] = DiffusionStageError):
    """The codes of one split (extract_codes), checked to be of these windows, of the dataset and (vqvae_dir
    given) of that VQ-VAE; errors name the folders and the fix."""
    from gesturegen.codes import CodesError, open_codes

    try:
        c = open_codes(codes_dir / split, w)
    except CodesError as e:
        raise error(str(e)) from None
    if c.meta.get("dataset") not in (None, dataset):
        raise error(f"{c.path}: codes of dataset {c.meta.get('dataset')!r}, not {dataset!r}")
    if vqvae_dir is not None:
        digest = file_digest(vqvae_dir / "config.json")[1]
        if c.meta.get("model", {}).get("config_blake2b") != digest:
            raise error(f"{c.path}: these codes were not extracted with the VQ-VAE in {vqvae_dir} "
                        f"({c.meta.get('model', {}).get('path')!r}); re-run extract_codes on it")
    return c


def window_inputs(w, f, refs: np.ndarray, n_seed: int):
    from gesturegen.generation import WindowInputs

    return WindowInputs(f.audio_frames, f.text_frames, f.audio_pooled, f.text_pooled,
                        np.asarray(w.dir_vec[:, :n_seed], np.float32), refs)


def split_references(w, k: int, seed: int, split: str) -> np.ndarray:
    """k non-overlapping reference windows of the same video per window (gesturegen.generation.reference_windows),
    seeded per split."""
    import zlib

    from gesturegen.generation import reference_windows

    t = w.windows()
    return reference_windows(t["vid"].astype(str).to_numpy(), t["start_time_s"].to_numpy(),
                             t["end_time_s"].to_numpy(), k, np.random.default_rng([seed, zlib.crc32(split.encode())]))


def _fit_stroke_plan(model, sp, wt, ft, wv, fv, mean_dir_vec: np.ndarray, skeleton, n_seed: int,
                     tolerance_frames: float, seed: int, name: str):
    """Train the model's stroke predictor on the train windows' ground-truth stroke hits, choose its threshold on
    val; returns the ground truth's plans of train and val (the denoiser's training plans) and a report."""
    import torch
    from tqdm import tqdm

    from gesturegen.metrics.motion import joints_from_vectors
    from gesturegen.metrics.oracle import stroke_hits
    from gesturegen.models.stroke_plan import bumps, choose_threshold, fit_predictor, hit_mask, probabilities

    fps, n_frames = float(wt.meta["fps"]), int(wt.meta["n_frames"])
    start = time.perf_counter()

    def hits_of(w) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for i in range(0, len(w), 2048):             # joints in chunks: no full-split float64 copy
            joints = joints_from_vectors(np.array(w.dir_vec[i:i + 2048], np.float32), mean_dir_vec, skeleton)
            out += stroke_hits(joints, skeleton.wrists, fps, min_speed=sp.min_speed)
        return out

    hits_t, hits_v = hits_of(wt), hits_of(wv)
    mask_t = torch.as_tensor(hit_mask(hits_t, fps, n_frames))
    mask_v = torch.as_tensor(hit_mask(hits_v, fps, n_frames))
    x_t = model.standardise("audio_frames", torch.as_tensor(np.array(ft.audio_frames, np.float32)))
    x_v = model.standardise("audio_frames", torch.as_tensor(np.array(fv.audio_frames, np.float32)))
    model.plan.requires_grad_(True)
    losses = fit_predictor(model.plan, x_t, mask_t, sp.epochs, sp.lr, min(sp.batch_size, len(x_t)), seed,
                           sp.weight_decay,
                           progress=lambda r: tqdm(r, desc=f"stroke plan {name}", unit="epoch", leave=False))
    model.plan.requires_grad_(False)
    threshold, table = choose_threshold(probabilities(model.plan, x_v), hits_v, sp.thresholds, sp.radius, fps,
                                        n_frames, n_seed, tolerance_frames)
    model.plan_threshold.fill_(threshold)
    best = next(r for r in table if r["threshold"] == threshold)
    sig = lambda v: round_sig(v) if np.isfinite(v) else None                      # noqa: E731
    report = {"threshold": threshold, "val": {k: sig(v) for k, v in best.items() if k != "threshold"},
              "thresholds": [{k: sig(v) for k, v in r.items()} for r in table],
              "train_loss": [round_sig(v) for v in losses], "min_speed": sp.min_speed,
              "hits_per_window": {"train": round_sig(float(mask_t.sum()) / max(len(mask_t), 1)),
                                  "val": round_sig(float(mask_v.sum()) / max(len(mask_v), 1))},
              "seconds": round(time.perf_counter() - start, 3),
              "what": "stroke hits of the ground truth (the wrists' downward strokes ending) predicted from the "
                      "audio frames; val precision / recall / F1 of the planned strokes against the val motion's "
                      "hits at the chosen threshold"}
    return bumps(mask_t, sp.width), bumps(mask_v, sp.width), report


def run(p: DiffusionParams, protocol: EvaluateBaselinesParams, compute: ComputeParams, seed: int, dataset: str,
        part: str, windows: Path, features: Path, codes_dir: Path, vqvae_dir: Path, encoder_dir: Path, out_dir: Path,
        callbacks: tuple = ()) -> tuple[dict | None, dict | None]:
    """Train into out_dir (outputs replaced only on success); returns (headline metrics, timings), or
    (None, None) in a DDP rank other than 0."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from gesturegen import evaluation
    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.evaluators import open_extractor
    from gesturegen.features import open_windows_and_features
    from gesturegen.generation import generate_part, join_seed
    from gesturegen.metrics.fgd import frechet_distance_symmetric
    from gesturegen.models.denoisers import DenoiserConfig
    from gesturegen.models.diffusion import SamplerError, check_sampler
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig, save_diffusion
    from gesturegen.models.stroke_plan import StrokePlanConfig
    from gesturegen.models.sync_evaluator import EvaluatorMismatchError
    from gesturegen.models.vqvae import PARTS, VQVAEMismatchError, assemble, load_vqvae, part_dims
    from gesturegen.systems.diffusion_system import DiffusionSystem

    if part not in PARTS:
        raise DiffusionStageError(f"--part: 'body' or 'hand', got {part!r}")
    m = p.model_for(dataset)
    machine = use_compute(compute.device, compute.threads_for("diffusion"))
    start = time.perf_counter()
    try:
        vqvae = load_vqvae(vqvae_dir, dataset=dataset, part=part)
    except VQVAEMismatchError as e:
        raise DiffusionStageError(str(e)) from None
    (wt, ft), (wv, fv) = (open_windows_and_features(windows, features, dataset, s, DiffusionStageError)
                          for s in ("train", "val"))
    ct, cv = (open_part_codes(codes_dir, w, dataset, s, vqvae_dir) for w, s in ((wt, "train"), (wv, "val")))
    if ft.meta["dims"] != fv.meta["dims"]:
        raise DiffusionStageError(f"{features}: train and val feature dims differ; re-run extract_features")
    skeleton = get_skeleton(wt.meta["skeleton"])
    dims = part_dims(skeleton, part)
    vc = vqvae.config
    n_seed, n_frames = int(wt.meta["n_seed_frames"]), int(wt.meta["n_frames"])
    if (vc.n_frames, vc.in_dim) != (n_frames, skeleton.dim):
        raise DiffusionStageError(f"{vqvae_dir}: a VQ-VAE of ({vc.n_frames}, {vc.in_dim}) windows, {windows} holds "
                                  f"({n_frames}, {skeleton.dim}); pass the matching folders")
    fd = ft.meta["dims"]
    sp = p.stroke_plan
    style_steps = tuple(s for s in (2, 3) if s < vc.n_latent)
    try:
        dcfg = DenoiserConfig(n_latent=vc.n_latent, code_dim=vc.code_dim, n_frames=n_frames,
                              audio_frame_dim=fd["audio_frames"], text_frame_dim=fd["text_frames"],
                              audio_pooled_dim=fd["audio_pooled"], text_pooled_dim=fd["text_pooled"],
                              seed_dim=n_seed * skeleton.dim, style_dim=max(1, len(style_steps)) * vc.code_dim,
                              steps=p.steps, kind=p.denoiser, width=m.width, layers=m.layers, heads=m.heads,
                              dropout=p.dropout, unet_time_dim=p.unet_time_dim,
                              train_seed_encoder=p.train_seed_encoder, projection_seed=seed,
                              plan_channels=int(sp.mode != "none"))
        plan_cfg = None if sp.mode == "none" else StrokePlanConfig(
            audio_dim=fd["audio_frames"], hidden=sp.hidden, kernel=sp.kernel, dropout=sp.dropout, radius=sp.radius,
            width=sp.width)
        config = LatentDiffusionConfig(denoiser=dcfg, steps=p.steps, schedule=p.schedule, objective=p.objective,
                                       latent_norm=vc.latent_norm, latent_scale=p.latent_scale,
                                       condition_scale=p.condition_scale, style_steps=style_steps,
                                       stroke_plan=plan_cfg)
    except ValueError as e:
        raise DiffusionStageError(f"params.yaml: diffusion: {e}") from None
    sampler, join = sampler_config(p), join_config(p)
    from gesturegen.models.denoisers import MODALITIES
    try:
        check_sampler(sampler, p.steps, MODALITIES)
    except SamplerError as e:
        raise DiffusionStageError(f"params.yaml: diffusion.sampler: {e}") from None

    # style references (train: k per window, one per epoch in turn; val: the first)
    refs_t = split_references(wt, p.style_refs, seed, "train")
    refs_v = split_references(wv, 1, seed, "val")[:, 0]
    lat_t = np.array(ct.latents, np.float32)
    lat_v = np.array(cv.latents, np.float32)

    # the extractor and the v2 protocol's val partitions (selection)
    norm = read_json(windows / "normalization.json")
    mean_dir_vec = np.asarray(norm["mean_dir_vec"], dtype=np.float32)
    try:
        extract, info = open_extractor(encoder_dir, norm, skeleton, dataset, compute.device)
    except EvaluatorMismatchError as e:
        raise DiffusionStageError(str(e)) from None
    settings = evaluation.EvalSettings.from_protocol(protocol, dataset, wt.meta)
    val_split = evaluation.EvalSplit("val", wv.dir_vec, wv.audio, wv.windows()["vid"].astype(str).to_numpy())
    ctx = evaluation.prepare_split(val_split, extract, skeleton, mean_dir_vec, settings, seed, protocol.seeds[:1])
    val_inputs = window_inputs(wv, fv, refs_v, n_seed)

    def val_score(model: LatentDiffusion) -> float:
        """Mean corrected FGD over the first run seed's val partitions: the part sampled with the default sampler
        (fixed noise) and joined to the real seed frames (diffusion.join), the other part real, on Q against the real
        motion of R."""
        gen_part = generate_part(model, vqvae, val_inputs, lat_v, sampler, seed, use_ema=p.use_ema,
                                 quantize=p.quantize)
        gen = join_seed(ctx.real[:, :n_seed], assemble(ctx.real, gen_part, dims), join)
        feats = extract(gen)
        rs = protocol.seeds[0]
        vals = []
        for k, (ref, query) in enumerate(ctx.partitions[rs]):
            cov, root = ctx.ref_moments(rs, k)
            vals.append(float(frechet_distance_symmetric(ctx.real_feats[ref], feats[query], root, cov)))
        return float(np.mean(vals))

    fingerprint = run_fingerprint(to_dict(p), to_dict(protocol), to_dict(compute), seed, dataset, part,
                               wt.meta.get("checksums"), wv.meta.get("checksums"), ft.meta.get("checksums"),
                               fv.meta.get("checksums"), ct.meta.get("model"), info)
    resume_dir = out_dir / RESUME
    ckpt_path, done_epochs = find_resume(resume_dir, fingerprint, f"diffusion {dataset}-{part}")

    pl.seed_everything(seed, workers=True, verbose=False)
    model = LatentDiffusion(config)
    model.set_latent_stats(lat_t)
    model.set_condition_stats(audio_frames=ft.audio_frames, text_frames=ft.text_frames,
                              audio_pooled=ft.audio_pooled, text_pooled=ft.text_pooled)
    model.ema.load_state_dict(model.net.state_dict())
    plans = val_plans = None
    plan_report = None
    if plan_cfg is not None:
        plans, val_plans, plan_report = _fit_stroke_plan(model, sp, wt, ft, wv, fv, mean_dir_vec, skeleton,
                                                         n_seed, protocol.beat_tolerance_frames, seed,
                                                         f"{dataset}-{part}")
    with torch.no_grad():
        style_table = model.style_of(torch.as_tensor(lat_t))
        style_val = model.style_of(torch.as_tensor(lat_v))
    milestones = sorted({max(1, round(f * m.epochs)) for f in p.milestones})
    system = DiffusionSystem(model, style_table, torch.as_tensor(refs_t), drop=to_dict(p.drop), drop_all=p.drop.all,
                             dropout_mode=p.condition_dropout, loss=p.loss, t_min=0 if p.train_t0 else 1, lr=m.lr,
                             betas=(p.beta1, p.beta2), weight_decay=p.weight_decay, milestones=tuple(milestones),
                             gamma=p.gamma, ema_decay=p.ema_decay, ema_start=p.ema_start,
                             ema_warmup=p.ema_warmup, val_every=p.val_every,
                             max_epochs=m.epochs, val_score=val_score, seed=seed,
                             val_style_table=style_val, val_refs=torch.as_tensor(refs_v)[:, None],
                             plans=plans, val_plans=val_plans, train_guidance=dict(p.train_guidance))
    system.fingerprint = fingerprint

    def tensors(w, f, lat):
        as_t = lambda a: torch.as_tensor(np.array(a, np.float32))
        seed_m = np.array(w.dir_vec[:, :n_seed], np.float32).reshape(len(lat), -1)
        return (torch.arange(len(lat)), as_t(lat), as_t(f.audio_frames), as_t(f.text_frames), as_t(f.audio_pooled),
                as_t(f.text_pooled), as_t(seed_m))

    train_ds = TensorDataset(*tensors(wt, ft, lat_t))
    bs = min(m.batch_size, len(train_ds))
    if bs < 2:
        raise DiffusionStageError(f"{wt.path}: {len(train_ds)} train window(s); training needs at least 2")
    try:
        train_loader = epoch_loader(train_ds, bs, seed, compute.world_size)
    except ValueError as e:
        raise DiffusionStageError(f"params.yaml: diffusion.models.{dataset}.batch_size: {e}") from None
    val_ds = TensorDataset(*tensors(wv, fv, lat_v))
    val_loader = DataLoader(val_ds, batch_size=512, num_workers=0)
    train_s, rank_zero = fit(system, train_loader, val_loader, m.epochs, resume_dir, compute, ckpt_path,
                             callbacks)
    if not rank_zero:                      # DDP: the other ranks only train; rank 0 evaluates and writes
        return None, None
    trained = len(train_loader) * bs * (m.epochs - done_epochs)

    model.load_state_dict(system.best_state)
    model = model.cpu().eval()
    n_params = model.parameter_count()
    # headline (dvc metrics show): at the selected epoch, val FGD of the part generated (`val.fgd.part`) and the val
    # denoising loss (`val.loss`: it moves with every change of the model, also where a tiny model's samples snap to
    # the same codes), and the size (train_vqvae's column); the history and the sampler's NFE are in report.json
    best = next(h for h in system.history if h["epoch"] == system.best_epoch)
    headline = {"val": {"fgd": {"part": round_sig(system.best_score)}, "loss": round_sig(best["val_loss"])},
                "mparams": round(n_params / 1e6, 3), "device": compute.label()}
    vq_info = read_json(vqvae_dir / "config.json")
    info_out = {"dataset": dataset, "part": part, "skeleton": skeleton.name, "part_dims": dims.tolist(),
                "n_frames": n_frames, "n_seed_frames": n_seed, "fps": wt.meta["fps"], "seed": seed,
                "features": {k: int(v) for k, v in fd.items()}, "best_epoch": system.best_epoch,
                "sampler": to_dict(p.sampler), "join": to_dict(p.join), "use_ema": p.use_ema, "quantize": p.quantize,
                "vqvae": {"path": str(vqvae_dir), "dataset": vq_info.get("dataset"), "part": vq_info.get("part"),
                          "config": vq_info.get("config")}}
    with replace_on_success(out_dir / "model", out_dir / "dvclive", out_dir / "report.json",
                            out_dir / "metrics.json") as (model_dir, live_dir, report_json, metrics_json):
        save_diffusion(model, model_dir, info_out)
        write_dvclive(live_dir, system.history)
        write_json(report_json, {
            "dataset": dataset, "part": part, "model": {"config": to_dict(config), "parameters": n_params},
            "epochs": m.epochs, "batch_size": bs, "milestones": milestones, "best_epoch": system.best_epoch,
            "selection": "lowest val corrected FGD of the part sampled with the default sampler, assembled with the "
                         "other part's ground truth and joined to the real seed frames by diffusion.join (first run "
                         "seed's partitions)",
            "sampler": {**to_dict(p.sampler), "nfe": model.nfe(sampler)}, "history": system.history,
            "style_references": {"train_without": int((refs_t[:, 0] < 0).sum()),
                                 "val_without": int((refs_v < 0).sum()), "per_window": p.style_refs},
            "stroke_plan": plan_report, "train_guidance": dict(p.train_guidance),
            "resumed": ckpt_path is not None, "compute": {**machine, **compute.scale_out()}})
        write_json(metrics_json, headline)
    shutil.rmtree(resume_dir, ignore_errors=True)
    return headline, {"train_seconds": round(train_s, 3),
                      "samples_per_s": round(trained / train_s, 1) if train_s > 0 and trained else None,
                      "total_seconds": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--part", required=True, choices=["body", "hand"])
    ap.add_argument("--windows", type=Path, required=True, help="build_windows' windows/ folder")
    ap.add_argument("--features", type=Path, required=True, help="extract_features' features/ folder")
    ap.add_argument("--codes", type=Path, required=True, help="extract_codes' codes/ folder of this part")
    ap.add_argument("--vqvae", type=Path, required=True, help="train_vqvae's model/ folder of this part")
    ap.add_argument("--encoder", type=Path, required=True, help="train_fgd_encoder's encoder/ folder")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    metrics, timings = run(params.diffusion, params.evaluate_baselines, params.compute, params.seed, args.dataset,
                           args.part, args.windows, args.features, args.codes, args.vqvae, args.encoder, args.out_dir)
    if metrics is None:                    # a DDP rank other than 0
        return
    write_json(args.out_dir / "timings.json", timings)
    print(f"diffusion {args.dataset}-{args.part}: {timings['total_seconds']:.1f} s; {json.dumps(metrics)}")


if __name__ == "__main__":
    main()
