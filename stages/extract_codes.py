"""Encode every window of one dataset x part with its trained VQ-VAE: code indices, latents, usage statistics, plots.

Reads   <windows>/{train,val,test}/, <windows>/normalization.json   (build_windows; <split>/annotations/ if any)
        <model>/{model.safetensors,config.json}   (train_vqvae, for --dataset and --part)
Writes  <out-dir>/codes/<split>/{indices.npy,latents.npy,meta.json}   (gesturegen.codes.open_codes)
        <out-dir>/plots/{usage,perplexity,pca,tsne,top_tuples}.png
        <out-dir>/metrics.json    headline: perplexity and dead (never used) codes of the train indices, device
        <out-dir>/report.json     per split and latent step usage, perplexities, top tuples, dead codes, plots
        <out-dir>/timings.json    seconds (not tracked)
Params  params.yaml → seed, compute, extract_codes   (gesturegen.config.ExtractCodesParams)
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gesturegen import codes, plots
from gesturegen.compute import use_compute
from gesturegen.config import ComputeParams, ExtractCodesParams, load_params
from gesturegen.io import file_digest, read_json, replace_on_success, write_json

SPLITS = ("train", "val", "test")


class ExtractCodesError(RuntimeError):
    pass


def run(p: ExtractCodesParams, compute: ComputeParams, seed: int, dataset: str, part: str, windows: Path, model_dir: Path,
        out_dir: Path) -> tuple[dict, dict]:
    """Encode, analyse and plot into out_dir (outputs replaced only on success); returns (headline, timings)."""
    from gesturegen.data.annotations import load_window_annotations
    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.data.windowstore import open_split
    from gesturegen.models.vqvae import load_vqvae

    start = time.perf_counter()
    machine = use_compute(compute.device, compute.threads_for("extract_codes"))
    model = load_vqvae(model_dir, dataset=dataset, part=part).to(compute.device)
    c = model.config
    splits = {s: open_split(windows / s) for s in SPLITS}
    for s in splits.values():
        if s.dir_vec.shape[1:] != (c.n_frames, c.in_dim):
            raise ExtractCodesError(
                f"{s.path}: windows of shape {tuple(s.dir_vec.shape[1:])} (frames, dim), but the VQ-VAE in "
                f"{model_dir} expects ({c.n_frames}, {c.in_dim}); pass the windows it was trained on "
                f"(--windows results/build_windows/{dataset}/windows) or retrain train_vqvae on these")
    skeleton = get_skeleton(splits["train"].meta["skeleton"])
    if model.info.get("skeleton") not in (None, skeleton.name):
        raise ExtractCodesError(f"{model_dir}: a VQ-VAE of the {model.info['skeleton']} skeleton, but {windows} "
                                f"holds {skeleton.name} windows; pass the matching --windows or --model")
    norm_path = windows / "normalization.json"
    if not norm_path.is_file():
        raise ExtractCodesError(f"{norm_path}: missing; the windows folder is incomplete, re-run build_windows")
    mean_dir_vec = np.asarray(read_json(norm_path)["mean_dir_vec"], np.float32)

    info = {"dataset": dataset, "part": part, "codebook_size": c.codebook_size,
            "model": {"path": str(model_dir), "config_blake2b": file_digest(model_dir / "config.json")[1]}}
    encoded = {name: codes.encode_windows(model, s.dir_vec, p.batch_size,
                                          lambda b, n=name: tqdm(b, desc=f"extract_codes {n}", unit="batch"))
               for name, s in splits.items()}
    encode_s = time.perf_counter() - start

    # the analysis and plots read the first level's codes (with residual levels, the coarse code of each step);
    # each level's usage is reported too
    first = {name: codes.first_level(idx) for name, (idx, _) in encoded.items()}
    usage = {name: codes.split_usage(idx, c.codebook_size) for name, idx in first.items()}
    perp = {name: {"steps": [u["perplexity"] for u in usage[name]["steps"]],
                   "overall": usage[name]["overall"]["perplexity"]} for name in SPLITS}
    train_idx = first["train"]
    levels = codes.level_usage(encoded["train"][0], c.codebook_size)
    dead = codes.dead_codes(codes.code_counts(train_idx, c.codebook_size))
    tuples = codes.top_tuples(train_idx, p.n_top_tuples)

    # val latents per slot, coloured by speaker (or video) and by lexical label where annotated
    val, val_lat = splits["val"], encoded["val"][1]
    ann = load_window_annotations(val.path)
    speaker = (np.asarray(ann.speakers)[ann.speaker] if ann is not None
               else val.windows()["vid"].astype(str).to_numpy())
    rows = [("speaker" if ann is not None else "video", speaker)]
    if ann is not None:
        rows.append(("lexical gesture", codes.window_labels(ann, c.n_frames, val.meta["fps"])))
    keep = codes.subsample(len(val), p.tsne_max_points, seed)

    frames = np.linspace(0, c.n_frames - 1, p.frames_per_tuple).round().astype(int)
    joints = codes.tuple_joints(model, [t for t, _ in tuples], skeleton, part, mean_dir_vec)[:, frames]

    names = ("usage", "perplexity", "pca", "tsne", "top_tuples")
    with replace_on_success(out_dir / "codes", out_dir / "plots", out_dir / "report.json",
                            out_dir / "metrics.json") as (codes_dir, plots_dir, report_json, metrics_json):
        for name, (idx, lat) in encoded.items():
            codes.write_codes(codes_dir / name, idx, lat, {**info, "split": name,
                                                           "windows": codes.windows_identity(splits[name])})
        plots_dir.mkdir()
        plots.save(plots.usage_figure(codes.code_counts(train_idx, c.codebook_size), dataset, part, "train"),
                   plots_dir / "usage.png")
        plots.save(plots.perplexity_figure(perp, c.codebook_size, dataset, part), plots_dir / "perplexity.png")
        for method, sel in (("pca", np.arange(len(val))), ("tsne", keep)):
            pts = [codes.embed_2d(val_lat[sel, s], method, seed, p.tsne_pca_dims, p.tsne_perplexity, p.tsne_max_iter)
                   for s in range(c.n_latent)]
            plots.save(plots.embedding_figure(pts, [(n, lab[sel]) for n, lab in rows], method, dataset, part,
                                              "val"), plots_dir / f"{method}.png")
        plots.save(plots.skeleton_frames_figure(joints, skeleton.bones, [f"{list(t)}: {n}" for t, n in tuples],
                                                frames.tolist(), dataset, part, skeleton.spine),
                   plots_dir / "top_tuples.png")
        # the columns perplexity, dead and device are shared with train_vqvae in `dvc metrics show`
        headline = {"perplexity": round(perp["train"]["overall"], 3), "dead": int(dead.size),
                    "device": compute.device}
        write_json(report_json, {
            "dataset": dataset, "part": part, "model": {**info["model"], "config": model.info["config"]},
            "n_windows": {n: len(s) for n, s in splits.items()}, "usage": usage, "perplexity": perp,
            "residual_levels_train": levels,
            "dead_codes_train": dead.tolist(), "top_tuples_train": [
                {"codes": list(t), "count": n, "share": n / len(train_idx)} for t, n in tuples],
            "embeddings": {"split": "val", "pca_windows": len(val), "tsne_windows": int(keep.size),
                           "tsne_pca_dims": p.tsne_pca_dims, "tsne_perplexity": p.tsne_perplexity,
                           "tsne_max_iter": p.tsne_max_iter, "seed": seed,
                           "colours": [n for n, _ in rows]},
            "plots": {n: f"plots/{n}.png" for n in names}, "compute": machine})
        write_json(metrics_json, headline)
    return headline, {"encode_seconds": round(encode_s, 3), "total_seconds": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--part", required=True, choices=("body", "hand"))
    ap.add_argument("--windows", type=Path, required=True, help="build_windows' windows/ folder")
    ap.add_argument("--model", type=Path, required=True, help="train_vqvae's model/ folder for this dataset x part")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    metrics, timings = run(params.extract_codes, params.compute, params.seed, args.dataset, args.part, args.windows, args.model,
                           args.out_dir)
    write_json(args.out_dir / "timings.json", timings)
    print(f"extract_codes {args.dataset}-{args.part}: {timings['total_seconds']:.1f} s; train perplexity "
          f"{metrics['perplexity']}, {metrics['dead']} dead codes")


if __name__ == "__main__":
    main()
