"""Train one part's VQ-VAE (body or hand) of one dataset, with contrastive learning on its latent steps.

Reads   <windows>/{train,val,test}/   build_windows (dir_vec, videos, audio; annotations where the dataset has them)
        <features>/{train,val}/       extract_features (pooled and per-frame audio/text features)
        <encoder>                     train_fgd_encoder (the FGD extractor: checkpoint selection and v2 metrics)
        <sync>, <oracles>             the trained evaluators (R-precision; lexical and speaker accuracy)
        <baselines>/summary.csv       evaluate_baselines (the reference rows the reconstruction is placed between)
Writes  <out-dir>/model/{model.safetensors,config.json}   (gesturegen.models.vqvae.load_vqvae)
        <out-dir>/metrics.json    headline: val part L1, v2 metrics of the reconstruction on val (corrected FGD,
                                  KID, beat F1, lexical and speaker accuracy), R@1 motion->audio/text, perplexity,
                                  dead codes, parameters (M), device
        <out-dir>/report.json     everything: history, selection, v2 metrics of the reconstruction (val, test),
                                  retrieval from the latent slots, where it stands against the reference rows, speed
        <out-dir>/summary.csv     the v2 rows of the reconstruction (as evaluate_baselines' summary.csv)
        <out-dir>/dvclive/        per-epoch curves (DVCLive; `dvc plots show`)
        <out-dir>/resume/last.ckpt  the last epoch's training state while a run is unfinished (deleted on success)
        <out-dir>/timings.json    seconds and training samples/s (not tracked: they are the machine's)
Params  params.yaml → seed, compute, train_vqvae, evaluate_baselines (the v2 protocol)

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
import pandas as pd

from gesturegen.compute import use_compute
from gesturegen.config import ComputeParams, EvaluateBaselinesParams, TrainVQVAEParams, load_params, to_dict
from gesturegen.data.windowstore import open_split
from gesturegen.io import read_json, replace_on_success, write_json
from gesturegen.training import epoch_loader, find_resume, fit, run_fingerprint, write_dvclive

RESUME = "resume"


class TrainVQVAEError(RuntimeError):
    pass


def _inputs(windows: Path, features: Path, dataset: str, split: str):
    from gesturegen.features import open_windows_and_features

    w, f = open_windows_and_features(windows, features, dataset, split, TrainVQVAEError)
    motion = np.array(w.dir_vec, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(motion).all(axis=(1, 2)))
    if bad.size:
        raise TrainVQVAEError(f"{w.path}/dir_vec.npy: windows {bad[:5].tolist()} contain NaN/inf; re-run build_windows")
    return w, f, motion


def _tensors(w, f, motion: np.ndarray, frames: bool):
    import torch

    n = motion.shape[0]
    as_t = torch.as_tensor
    frame = (lambda a: as_t(np.array(a, np.float32))) if frames else (lambda a: torch.zeros(n, 0))
    return (as_t(motion), as_t(np.array(f.audio_pooled, np.float32)), as_t(np.array(f.text_pooled, np.float32)),
            frame(f.audio_frames), frame(f.text_frames), as_t(np.asarray(w.video_ids, np.int64)))


def _vs_baselines(summary: pd.DataFrame, baselines: Path) -> dict:
    """Where the reconstruction stands against evaluate_baselines' rows: for FGD and KID the fraction of the way
    from the ground truth (0) to the mean pose (1); for the oracle metrics the ratio to the ground truth."""
    ref = pd.read_csv(baselines)
    out: dict = {}
    for split in sorted(summary["split"].unique()):
        def val(df, control, metric, split=split):
            r = df[(df["split"] == split) & (df["control"] == control) & (df["metric"] == metric)]
            return float(r["mean"].iloc[0]) if len(r) and pd.notna(r["mean"].iloc[0]) else None
        row = {}
        for m in ("fgd_corrected", "kid_corrected"):
            rec, gt, mp = val(summary, "reconstruction", m), val(ref, "ground_truth", m), val(ref, "mean_pose", m)
            row[f"{m}_progress"] = None if None in (rec, gt, mp) or mp == gt else round((rec - gt) / (mp - gt), 4)
        for m in ("beat_f1", "lexical_acc", "speaker_acc"):
            rec, gt = val(summary, "reconstruction", m), val(ref, "ground_truth", m)
            row[f"{m}_ratio"] = None if None in (rec, gt) or not gt else round(rec / gt, 4)
        out[split] = row
    return out


def run(p: TrainVQVAEParams, protocol: EvaluateBaselinesParams, compute: ComputeParams, seed: int, dataset: str,
        part: str, windows: Path, features: Path, encoder_dir: Path, out_dir: Path, sync_dir: Path | None = None,
        oracles_dir: Path | None = None, baselines: Path | None = None, callbacks: tuple = ()) -> tuple[dict | None, dict | None]:
    """Train into out_dir (outputs replaced only on success); returns (headline metrics, timings), or
    (None, None) in a DDP rank other than 0."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from tqdm import tqdm

    from gesturegen import evaluation
    from gesturegen.summary import summary_rows
    from gesturegen.data.annotations import load_window_annotations
    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.evaluators import open_extractor
    from gesturegen.metrics.fgd import frechet_distance_symmetric
    from gesturegen.metrics.retrieval import recall_summary, retrieval_ranks
    from gesturegen.models.contrastive import ContrastiveConfig
    from gesturegen.models.sync_evaluator import EvaluatorMismatchError
    from gesturegen.models.vqvae import PARTS, VQVAEConfig, assemble, part_dims, save_vqvae
    from gesturegen.systems.sync_system import retrieval_pool
    from gesturegen.systems.vqvae_system import VQVAESystem

    if part not in PARTS:
        raise TrainVQVAEError(f"--part: 'body' or 'hand', got {part!r}")
    m = p.model_for(dataset)
    machine = use_compute(compute.device, compute.threads_for("train_vqvae"))
    start = time.perf_counter()
    wt, ft, xt = _inputs(windows, features, dataset, "train")
    wv, fv, xv = _inputs(windows, features, dataset, "val")
    skeleton = get_skeleton(wt.meta["skeleton"])
    dims = part_dims(skeleton, part)
    for w, x in ((wt, xt), (wv, xv)):
        if x.shape[1:] != (wt.meta["n_frames"], skeleton.dim):
            raise TrainVQVAEError(f"{w.path}: windows of shape {x.shape[1:]}, the {skeleton.name} skeleton needs "
                                  f"({wt.meta['n_frames']}, {skeleton.dim}); re-run build_windows")
    if ft.meta["dims"] != fv.meta["dims"]:
        raise TrainVQVAEError(f"{features}: train and val feature dims differ; re-run extract_features")
    fd = ft.meta["dims"]
    cp = p.contrastive
    width = m.codebook_size if m.faithful_width else m.width
    key = f"params.yaml: train_vqvae.models.{dataset}.down_t"
    try:
        config = VQVAEConfig(in_dim=skeleton.dim, out_dim=int(dims.size), n_frames=int(wt.meta["n_frames"]),
                             width=width, code_dim=m.code_dim, codebook_size=m.codebook_size, down_t=m.down_t, mu=p.mu,
                             reset_below=p.reset_below, latent_norm=p.latent_norm, quantizer_seed=seed,
                             levels=m.levels)
    except ValueError as e:
        raise TrainVQVAEError(f"{key} = {m.down_t}: {e}") from None
    if cp.mode != "none" and config.n_latent < 4:
        raise TrainVQVAEError(f"{key} = {m.down_t} gives {config.n_latent} latent step(s); the contrastive terms use "
                              f"steps 0-3 (text, audio, style): use down_t <= 3 or contrastive.mode none")
    ccfg = ContrastiveConfig(mode=cp.mode, code_dim=m.code_dim, audio_dim=fd["audio_pooled"],
                             text_dim=fd["text_pooled"], audio_frame_dim=fd["audio_frames"],
                             text_frame_dim=fd["text_frames"], weight=cp.weight, tau=cp.tau,
                             weight_text=cp.weight_text, weight_audio=cp.weight_audio, weight_style=cp.weight_style,
                             tau_speech=cp.tau_speech, tau_style=cp.tau_style, head_hidden=cp.head_hidden,
                             projection_seed=seed)

    # the extractor, and the v2 protocol on val (its contexts are reused by the final evaluation)
    norm = read_json(windows / "normalization.json")
    mean_dir_vec = np.asarray(norm["mean_dir_vec"], dtype=np.float32)
    try:
        extract, info = open_extractor(encoder_dir, norm, skeleton, dataset, compute.device)
    except EvaluatorMismatchError as e:
        raise TrainVQVAEError(str(e)) from None
    settings = evaluation.EvalSettings.from_protocol(protocol, dataset, wt.meta)
    splits = {}
    for name in protocol.splits:
        sp = wv if name == "val" else open_split(windows / name)
        splits[name] = evaluation.EvalSplit(name, sp.dir_vec, sp.audio, sp.windows()["vid"].astype(str).to_numpy(),
                                            load_window_annotations(windows / name))
    contexts: dict = {}
    if "val" in splits:
        contexts["val"] = evaluation.prepare_split(splits["val"], extract, skeleton, mean_dir_vec, settings, seed,
                                                   protocol.seeds)
    n_seed = settings.n_seed

    def val_score(recon: np.ndarray) -> float:
        """Mean corrected FGD over the first run seed's partitions of val: reconstruction (the other part and the
        seed frames real) on Q against the real motion of R."""
        ctx = contexts["val"]
        gen = assemble(ctx.real, recon, dims)
        gen[:, :n_seed] = ctx.real[:, :n_seed]
        feats = extract(gen)
        rs = protocol.seeds[0]
        vals = []
        for k, (ref, query) in enumerate(ctx.partitions[rs]):
            cov, root = ctx.ref_moments(rs, k)
            vals.append(float(frechet_distance_symmetric(ctx.real_feats[ref], feats[query], root, cov)))
        return float(np.mean(vals))

    vids_val = np.asarray(wv.video_ids)
    pool = retrieval_pool(vids_val, p.retrieval_pool)

    def val_retrieval(q: np.ndarray, c: np.ndarray, vid: np.ndarray) -> dict:
        if pool is None:
            return {}
        return recall_summary(retrieval_ranks(q, c, vid, np.random.default_rng(seed), pool=pool, trials=3), vid)

    fingerprint = run_fingerprint(to_dict(p), to_dict(protocol), to_dict(compute), seed, dataset, part,
                               wt.meta.get("checksums"), wv.meta.get("checksums"), ft.meta.get("checksums"),
                               fv.meta.get("checksums"), info)
    resume_dir = out_dir / RESUME
    ckpt_path, done_epochs = find_resume(resume_dir, fingerprint, f"train_vqvae {dataset}-{part}")

    pl.seed_everything(seed, workers=True, verbose=False)
    milestones = sorted({max(1, round(f * m.epochs)) for f in p.milestones})
    system = VQVAESystem(config, ccfg, dims, commit_weight=p.commit_weight, recon_loss=p.recon_loss,
                         vel_weight=p.vel_weight, select_by=p.select_by, lr=m.lr, betas=(p.beta1, p.beta2),
                         weight_decay=p.weight_decay, milestones=tuple(milestones), gamma=p.gamma,
                         val_score=val_score if "val" in contexts else None, val_retrieval=val_retrieval)
    system.fingerprint = fingerprint
    frames = cp.mode == "infonce"
    train_ds = TensorDataset(*_tensors(wt, ft, xt, frames))
    bs = min(m.batch_size, len(train_ds))
    if bs < 2:
        raise TrainVQVAEError(f"{wt.path}: {len(train_ds)} train window(s); training needs at least 2")
    try:
        train_loader = epoch_loader(train_ds, bs, seed, compute.world_size)
    except ValueError as e:
        raise TrainVQVAEError(f"params.yaml: train_vqvae.models.{dataset}.batch_size: {e}") from None
    val_loader = DataLoader(TensorDataset(*_tensors(wv, fv, xv, frames)), batch_size=256, num_workers=0)
    train_s, rank_zero = fit(system, train_loader, val_loader, m.epochs, resume_dir, compute, ckpt_path,
                             callbacks)
    if not rank_zero:                      # DDP: the other ranks only train; rank 0 evaluates and writes
        return None, None
    trained_samples = len(train_loader) * bs * (m.epochs - done_epochs)

    # the selected weights, evaluated
    system.load_weights(system.best_state)
    model = system.model.cpu().eval()
    contrastive = system.contrastive.cpu().eval()
    recon = {"val": model.run_numpy(xv)}
    for name in splits:
        if name not in recon:
            recon[name] = model.run_numpy(np.array(open_split(windows / name).dir_vec, np.float32))
    train_codes = model.run_numpy(xt)["indices"]
    counts = np.bincount(train_codes.reshape(-1), minlength=config.codebook_size)
    prob = counts / counts.sum()
    perplexity = float(np.exp(-(prob[prob > 0] * np.log(prob[prob > 0])).sum()))
    part_l1 = {name: float(np.abs(r["recon"] - (xv if name == "val" else np.array(
        open_split(windows / name).dir_vec, np.float32))[..., dims]).mean()) for name, r in recon.items()}

    from gesturegen.evaluators import open_scorers
    scorers = open_scorers(windows, features, protocol.splits, dataset, sync_dir, oracles_dir,
                           pool=protocol.rprec_pool, trials=protocol.rprec_trials)
    train_videos = wt.windows()["vid"].astype(str).to_numpy()
    consts = evaluation.beat_constants(xt, mean_dir_vec, skeleton, dataset)
    runs = evaluation.run_generator(
        list(splits.values()), lambda sp: assemble(sp.dir_vec, recon[sp.name]["recon"], dims), "reconstruction",
        train_videos, extract, skeleton, mean_dir_vec, consts, settings, seed, protocol.seeds, scorers=scorers,
        progress=lambda jobs: tqdm(jobs, desc=f"v2 metrics of the {part} reconstruction", unit="run"),
        contexts=contexts)
    summary = pd.DataFrame(summary_rows(runs))

    retrieval: dict = {"pool": pool}
    with torch.no_grad():
        fvt = _tensors(wv, fv, xv, frames)
        audio, text = contrastive.embed(*fvt[1:5])
    z = recon["val"]["latents"]
    if pool is not None:
        for name, step, emb in (("audio", 1, audio), ("text", 0, text)):
            ranks = retrieval_ranks(z[:, step], emb.numpy(), vids_val, np.random.default_rng(seed), pool=pool,
                                    trials=10)
            retrieval[name] = {**recall_summary(ranks, vids_val), "chance_r1": 1 / pool, "chance_r5": 5 / pool,
                               "chance_median_rank": (pool + 1) / 2}

    def cell(split: str, metric: str):
        r = summary[(summary["split"] == split) & (summary["metric"] == metric)]
        return None if r.empty or pd.isna(r["mean"].iloc[0]) else round(float(r["mean"].iloc[0]), 4)

    n_params = model.parameter_count()
    samples_s = round(trained_samples / train_s, 1) if train_s > 0 and trained_samples else None
    # headline (dvc metrics show): the reconstruction's val L1, corrected FGD and beat F1; shares the columns
    # perplexity, dead and device with other stages (perplexity and dead (never used) codes of the kept weights'
    # train indices, as extract_codes reports them). KID, lexical and speaker accuracy are in summary.csv, the
    # latent slots' retrieval in report.json (retrieval_val)
    headline = {"recon_l1": round(part_l1["val"], 5),
                "val": {m: {"rec": cell("val", k)} for m, k in (("fgd", "fgd_corrected"), ("beat", "beat_f1"))},
                "perplexity": round(perplexity, 2), "dead": int((counts == 0).sum()),
                "mparams": round(n_params["total"] / 1e6, 3), "device": compute.label()}
    info_out = {"dataset": dataset, "part": part, "skeleton": skeleton.name, "part_dims": dims.tolist(),
                "n_frames": config.n_frames, "n_seed_frames": n_seed, "fps": wt.meta["fps"],
                "contrastive": to_dict(cp), "features": {k: int(v) for k, v in fd.items()},
                "normalization": norm["source"], "seed": seed, "best_epoch": system.best_epoch,
                "windows": {"train": wt.meta.get("n_windows"), "val": wv.meta.get("n_windows")}}
    with replace_on_success(out_dir / "model", out_dir / "dvclive", out_dir / "summary.csv", out_dir / "report.json",
                            out_dir / "metrics.json") as (model_dir, live_dir, summary_csv, report_json, metrics_json):
        save_vqvae(model, model_dir, info_out)
        # contrastive projections (infonce heads / frozen projections) beside the model: diffusion may reuse them
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in contrastive.state_dict().items()} or
                  {"empty": torch.zeros(0)}, str(model_dir / "contrastive.safetensors"))
        write_json(model_dir / "contrastive.json", {"config": to_dict(ccfg)})
        write_dvclive(live_dir, system.history)
        summary.to_csv(summary_csv, index=False)
        report = {"dataset": dataset, "part": part, "model": {"config": to_dict(config), "parameters": n_params},
                  "contrastive": to_dict(ccfg), "epochs": m.epochs, "batch_size": bs, "milestones": milestones,
                  "best_epoch": system.best_epoch, "selection": (
                      "lowest val corrected FGD of the reconstruction assembled with the other part's ground truth "
                      "(first run seed's partitions)" if p.select_by == "fgd" else "lowest val L1 error of the part"),
                  "history": system.history, "part_l1": part_l1, "perplexity_train": perplexity,
                  "used_codes_train": int((counts > 0).sum()), "retrieval_val": retrieval,
                  "summary": summary.to_dict(orient="records"),
                  "vs_baselines": _vs_baselines(summary, baselines) if baselines else None,
                  "resumed": ckpt_path is not None, "compute": {**machine, **compute.scale_out()}}
        write_json(report_json, report)
        write_json(metrics_json, headline)
    shutil.rmtree(resume_dir, ignore_errors=True)
    # speed is the machine's, not the model's: in timings.json, so that a rerun writes the same metrics and report
    return headline, {"train_seconds": round(train_s, 3), "samples_per_s": samples_s,
                      "total_seconds": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--part", required=True, choices=["body", "hand"])
    ap.add_argument("--windows", type=Path, required=True, help="build_windows' windows/ folder")
    ap.add_argument("--features", type=Path, required=True, help="extract_features' features/ folder")
    ap.add_argument("--encoder", type=Path, required=True, help="train_fgd_encoder's encoder/ folder")
    ap.add_argument("--sync", type=Path, help="train_sync_evaluator's evaluator/ folder")
    ap.add_argument("--oracles", type=Path, help="train_oracles' oracles/ folder")
    ap.add_argument("--baselines", type=Path, help="evaluate_baselines' summary.csv")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    metrics, timings = run(params.train_vqvae, params.evaluate_baselines, params.compute, params.seed, args.dataset,
                           args.part, args.windows, args.features, args.encoder, args.out_dir, sync_dir=args.sync,
                           oracles_dir=args.oracles, baselines=args.baselines)
    if metrics is None:                    # a DDP rank other than 0
        return
    write_json(args.out_dir / "timings.json", timings)
    print(f"train_vqvae {args.dataset}-{args.part}: {timings['total_seconds']:.1f} s; {json.dumps(metrics)}")


if __name__ == "__main__":
    main()
