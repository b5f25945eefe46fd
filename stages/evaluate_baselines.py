"""Reference rows every model is compared to: all metrics, both modes, for simple controls, over several seeds.

Controls (each keeps the 4 ground-truth seed frames): ground_truth (distances: half of the windows against the other
half; diversity and BC: all windows),
mean_pose, random_window (a random training window per evaluated window), seed_still (the last seed pose held).

Reads   <windows>/{train,val,test}   (build_windows), <encoder>  (train_fgd_encoder)
Writes  <out-dir>/beat_constants.json   per-pair angle-change constants of the train split (BC's change_angle)
        <out-dir>/controls.png, <out-dir>/runs.csv (every seed), <out-dir>/metrics.json (mean and 95% CI over seeds)
Params  params.yaml → evaluate_baselines, seed   (gesturegen.config.EvaluateBaselinesParams)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from gesturegen.config import EvaluateBaselinesParams, load_params  # noqa: E402
from gesturegen.data.skeleton import get_skeleton  # noqa: E402
from gesturegen.data.windowstore import open_split  # noqa: E402
from gesturegen.evaluation import CONTROLS, EvalSettings, evaluate_motion, make_control  # noqa: E402
from gesturegen.io import read_json, write_json  # noqa: E402
from gesturegen.metrics.beat import TED_EXPRESSIVE_CHANGE_ANGLE, angle_change_constants, audio_onsets  # noqa: E402
from gesturegen.metrics.motion import mean_ci95  # noqa: E402
from gesturegen.models.fgd_encoder import load_encoder  # noqa: E402

PLOTTED = ("fgd_corrected", "diversity_corrected", "bc_corrected", "bc_faithful", "joint_mae")


def beat_constants(train_dir_vec: np.ndarray, mean_dir_vec: np.ndarray, skeleton_name: str) -> dict:
    skeleton = get_skeleton(skeleton_name)
    raw = np.asarray(train_dir_vec, dtype=np.float64) + mean_dir_vec
    corrected = angle_change_constants(raw, skeleton, normalize="per_vector")
    if skeleton.name == "ted_expressive":   # the published constants reproduce DiffGesture's numbers
        faithful, source = np.asarray(TED_EXPRESSIVE_CHANGE_ANGLE), "published (DiffGesture test_expressive.py)"
    else:
        faithful, source = angle_change_constants(raw, skeleton, normalize="flat"), "this dataset's train split"
    return {"corrected": corrected.tolist(), "faithful": faithful.tolist(), "faithful_source": source,
            "corrected_source": "this dataset's train split", "n_train_windows": int(train_dir_vec.shape[0])}


def summarize(values: np.ndarray) -> dict:
    """Mean and 95% CI half-width over seeds of the finite values; `n` counts them (BC is NaN when no clip of a
    run could be scored, e.g. no motion beat anywhere)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean, half = mean_ci95(finite) if finite.size > 1 else (float(finite[0]), float("nan"))
    return {"mean": round(float(mean), 6), "ci95": round(float(half), 6) if np.isfinite(half) else None,
            "n": int(finite.size)}


def run(p: EvaluateBaselinesParams, seed: int, dataset: str, windows: Path, encoder_dir: Path, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    train = open_split(windows / "train")
    skeleton = get_skeleton(train.meta["skeleton"])
    mean_dir_vec = np.asarray(read_json(windows / "normalization.json")["mean_dir_vec"], dtype=np.float32)
    consts = beat_constants(train.dir_vec, mean_dir_vec, skeleton.name)
    write_json(out_dir / "beat_constants.json", consts)
    encoder = load_encoder(encoder_dir)
    settings = EvalSettings(batch_size=p.faithful_batch_size.get(dataset, 128), diversity_permutations=p.diversity_permutations,
                            bc_sigma=p.bc_sigma, bc_thres_faithful=p.bc_thres_faithful,
                            bc_thres_corrected=p.bc_thres_corrected, n_seed=train.meta["n_seed_frames"],
                            fps=train.meta["fps"], sample_rate_hz=train.meta["sample_rate_hz"])
    change_c, change_f = np.asarray(consts["corrected"]), np.asarray(consts["faithful"])

    rows = []
    jobs = [(split, s, c) for split in p.splits for s in p.seeds for c in CONTROLS]
    cache: dict[str, tuple] = {}
    for split, run_seed, control in tqdm(jobs, desc="evaluate_baselines", unit="run"):
        if split not in cache:
            ws = open_split(windows / split)
            real = np.asarray(ws.dir_vec, dtype=np.float32)
            audio = np.asarray(ws.audio, dtype=np.float32)
            onsets = [audio_onsets(a, sr=settings.sample_rate_hz) for a in audio]   # once per split
            cache = {split: (real, audio, onsets, encoder.features(real))}
        real, audio, onsets, real_feats = cache[split]
        rng = np.random.default_rng([seed, run_seed, CONTROLS.index(control)])
        if control == "ground_truth":
            # distances: one half against the other; diversity and BC: every window, as the field reports GT rows
            order = rng.permutation(real.shape[0])
            a, b = np.sort(order[: real.shape[0] // 2]), np.sort(order[real.shape[0] // 2:][: real.shape[0] // 2])
            m = evaluate_motion(real[a], real[b], audio[a], encoder.features, skeleton, mean_dir_vec, change_c,
                                change_f, settings, rng, real_feats=real_feats[b], onsets=[onsets[i] for i in a])
            whole = evaluate_motion(real, real, audio, encoder.features, skeleton, mean_dir_vec, change_c, change_f,
                                    settings, rng, real_feats=real_feats, onsets=onsets)
            m.update({k: v for k, v in whole.items() if k.startswith(("diversity", "bc_"))})
        else:
            gen = make_control(control, real, train.dir_vec, rng, n_seed=settings.n_seed)
            m = evaluate_motion(gen, real, audio, encoder.features, skeleton, mean_dir_vec, change_c, change_f,
                                settings, rng, real_feats=real_feats, onsets=onsets)
        rows.append({"split": split, "seed": run_seed, "control": control, "n_windows": real.shape[0], **m})
    runs = pd.DataFrame(rows)
    runs.to_csv(out_dir / "runs.csv", index=False)

    metrics: dict = {"seeds": list(p.seeds), "controls": list(CONTROLS), "faithful_batch_size": settings.batch_size}
    value_cols = [c for c in runs.columns if c not in ("split", "seed", "control", "n_windows")]
    for (split, control), g in runs.groupby(["split", "control"], sort=False):
        entry = metrics.setdefault(split, {"n_windows": int(g.n_windows.iloc[0])}).setdefault(control, {})
        for col in value_cols:
            entry[col] = summarize(g[col].to_numpy(dtype=float))
    _plot(runs, out_dir / "controls.png", skeleton.name)
    return metrics


def _plot(runs: pd.DataFrame, path: Path, skeleton: str) -> None:
    splits = list(dict.fromkeys(runs.split))
    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(3.2 * len(PLOTTED), 3.6))
    width = 0.8 / len(splits)
    x = np.arange(len(CONTROLS))
    for ax, metric in zip(axes, PLOTTED):
        for i, split in enumerate(splits):
            g = runs[runs.split == split].groupby("control", sort=False)[metric]
            stats = [summarize(g.get_group(c).to_numpy(dtype=float)) for c in CONTROLS]
            ax.bar(x + i * width - 0.4 + width / 2, [np.nan if s["mean"] is None else s["mean"] for s in stats],
                   width, yerr=[s["ci95"] or 0.0 for s in stats], label=split, capsize=3)
        ax.set_xticks(x, [c.replace("_", "\n") for c in CONTROLS], fontsize=8)
        ax.set_title(metric, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"controls against the ground truth ({skeleton}); bars: mean over seeds, whiskers: 95% CI",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--dataset", required=True, help="the dataset's name (selects its faithful batch size)")
    ap.add_argument("--windows", type=Path, required=True, help="build_windows' windows/ folder")
    ap.add_argument("--encoder", type=Path, required=True, help="train_fgd_encoder's encoder/ folder")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    metrics = run(params.evaluate_baselines, params.seed, args.dataset, args.windows, args.encoder, args.out_dir)
    write_json(args.out_dir / "metrics.json", metrics)


if __name__ == "__main__":
    main()
