"""Figures of the pipeline's results, as matplotlib Figures (the stages save them; nothing here touches files).

Every figure names its dataset in the title and labels its axes with units; the Agg backend is used, so no
display is needed.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# metric -> (panel title, y-axis label with unit); a panel is drawn when the summary has the metric
CONTROL_METRICS = {
    "fgd_corrected": ("FGD (corrected: query vs reference half)", "Fréchet distance (feature units²)"),
    "kid_corrected": ("KID (unbiased MMD², same features)", "MMD² (polynomial kernel units)"),
    "diversity_corrected": ("diversity (corrected)", "mean L1 between features (feature units)"),
    "bc_corrected": ("beat consistency (corrected)", "BC score (0–1, higher: more aligned)"),
    "bcgap": ("BC gap: own audio − another video's", "Δ BC (0: motion ignores its audio)"),
    "beat_f1": ("beat F1 vs true strokes (oracle)", "F1 (0–1)"),
    "bc_faithful": ("beat consistency (faithful)", "BC score (0–1, higher: more aligned)"),
    "joint_mae": ("joint MAE after the seed frames", "mean |Δ joint| (skeleton units ≈ m)"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def controls_figure(summary: Sequence[dict], dataset: str, controls: Sequence[str], n_runs: int):
    """Bar chart per metric: mean over runs (partitions × seeds) of each control, one bar per split, whiskers the
    95 % CI; a metric that does not apply to a control (the ground truth's paired errors) is marked n/a."""
    plt = _pyplot()
    splits = list(dict.fromkeys(r["split"] for r in summary))
    index = {(r["split"], r["control"], r["metric"]): r for r in summary}
    present = [m for m in CONTROL_METRICS if any(r["metric"] == m and r.get("mean") is not None for r in summary)]
    cols = min(4, max(len(present), 1))
    n_rows = -(-max(len(present), 1) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.6 * cols, 3.9 * n_rows), squeeze=False)
    width = 0.8 / max(len(splits), 1)
    x = np.arange(len(controls))
    for ax, metric in zip(axes.flat, present):
        title, ylabel = CONTROL_METRICS[metric]
        for i, split in enumerate(splits):
            rows = [index.get((split, c, metric), {}) for c in controls]
            n = next((f"{r['n_windows']:.0f}" for r in rows if r.get("n_windows")), "?")   # a mean over runs
            xs = x + i * width - 0.4 + width / 2
            ax.bar(xs, [np.nan if r.get("mean") is None else r["mean"] for r in rows], width,
                   yerr=[r.get("ci95") or 0.0 for r in rows], capsize=3, label=f"{split} ({n} query windows)")
            for xi, r in zip(xs, rows):
                if r and r.get("applicable") is False:
                    ax.annotate("n/a", (xi, 0), xytext=(0, 4), textcoords="offset points", ha="center",
                                va="bottom", fontsize=7, rotation=90, color="0.3")
        ax.axhline(0, color="0.5", lw=0.5)
        if len(controls) > 6:       # many rows (the ablations): slanted one-line labels, so they cannot overlap
            ax.set_xticks(x, [c.replace("_", " ") for c in controls], fontsize=7, rotation=40, ha="right",
                          rotation_mode="anchor")
        else:
            ax.set_xticks(x, [c.replace("_", "\n") for c in controls], fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xlabel("control", fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(present):]:
        fig.delaxes(ax)
    fig.suptitle(f"{dataset}: controls, protocol v2; bars = mean over {n_runs} runs (partitions × seeds), "
                 f"whiskers = 95 % CI", fontsize=10)
    fig.tight_layout()
    return fig


NFE_METRICS = ("fgd_corrected", "kid_corrected", "beat_f1", "bcgap", "rprec_top3", "lexical_acc", "speaker_acc")


def nfe_figure(summary: Sequence[dict], nfe_of: dict[int, int], rtf: dict[str, float], splits: Sequence[str],
               dataset: str):
    """Metrics (mean ± 95 % CI over run seeds) of the `nfe_<n>` rows against the network evaluations per window
    (log axis), the ground truth as a dashed line; the last panel the batched real-time factor (`rtf`:
    "<split>/nfe_<n>" -> generation seconds per second of motion)."""
    plt = _pyplot()
    index = {(r["split"], r["control"], r["metric"]): r for r in summary}
    labels = {**CONTROL_METRICS, "rprec_top3": ("R-precision top-3 (sync evaluator)", "fraction (0–1)"),
              "lexical_acc": ("lexical gesture accuracy (oracle)", "accuracy (0–1)"),
              "speaker_acc": ("speaker accuracy (oracle)", "accuracy (0–1)")}
    present = [m for m in NFE_METRICS if any(r["metric"] == m and r.get("mean") is not None and
                                             str(r["control"]).startswith("nfe_") for r in summary)]
    panels = present + ["rtf"]
    cols = min(4, len(panels))
    n_rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.6 * cols, 3.4 * n_rows), squeeze=False)
    steps = sorted(nfe_of)
    xs = [nfe_of[s] for s in steps]
    for ax, metric in zip(axes.flat, panels):
        for split in splits:
            if metric == "rtf":
                ax.plot(xs, [rtf.get(f"{split}/nfe_{s}", np.nan) for s in steps], "o-", label=split)
                continue
            rows = [index.get((split, f"nfe_{s}", metric), {}) for s in steps]
            ax.errorbar(xs, [np.nan if r.get("mean") is None else r["mean"] for r in rows],
                        yerr=[r.get("ci95") or 0.0 for r in rows], fmt="o-", capsize=3, label=split)
            gt = index.get((split, "ground_truth", metric), {})
            if gt.get("mean") is not None:
                ax.axhline(gt["mean"], ls="--", color="0.4", lw=1, label=f"ground truth ({split})")
        ax.set_xscale("log")
        ax.set_xticks(xs, [str(x) for x in xs], fontsize=8)
        ax.set_xlabel("network evaluations per window", fontsize=8)
        title, ylabel = (("real-time factor, batched", "generation s per s of motion") if metric == "rtf"
                         else labels[metric])
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        fig.delaxes(ax)
    fig.suptitle(f"{dataset}: quality and speed against network evaluations (default sampler; mean ± 95 % CI over "
                 f"run seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def clip_figure(clip: dict, sample_rate_hz: int, dataset: str):
    """One raw clip: waveform with word spans and labels above, left and right wrist speed below."""
    plt = _pyplot()

    t0 = float(clip["start_time"])
    audio = np.asarray(clip["audio_raw"], dtype=np.float32)
    joints = np.asarray(clip["skeletons_3d"], dtype=np.float64)
    fps = joints.shape[0] / (float(clip["end_time"]) - t0)
    fig, (ax_a, ax_m) = plt.subplots(2, 1, figsize=(14, 6), sharex=True, height_ratios=[1.2, 1])
    ax_a.plot(np.arange(len(audio)) / sample_rate_hz, audio, lw=0.4, color="0.35")
    top = float(np.abs(audio).max()) or 1.0
    for i, (word, s, e) in enumerate(clip["words"]):
        ax_a.axvspan(s - t0, e - t0, color="tab:blue" if i % 2 else "tab:orange", alpha=0.15, lw=0)
        ax_a.axvline(s - t0, color="tab:blue", lw=0.6)
        ax_a.text((s + e) / 2 - t0, top * (1.08 if i % 2 else 1.25), word, ha="center", va="bottom", fontsize=8,
                  rotation=0)
    ax_a.set_ylim(-top * 1.1, top * 1.6)
    ax_a.set_ylabel("audio (full scale = 1)")
    ax_a.set_title(f"{dataset}, one clip: {len(clip['words'])} words (spans shaded), "
                   f"{len(audio) / sample_rate_hz:.1f} s (video time {t0:.2f} s)")
    t = np.arange(joints.shape[0] - 1) / fps
    for joint, name, color in ((6, "left wrist", "tab:green"), (7, "right wrist", "tab:red")):
        speed = np.linalg.norm(np.diff(joints[:, joint], axis=0), axis=-1) * fps
        ax_m.plot(t, speed, color=color, lw=1.2, label=name)
    for _, s, _ in clip["words"]:
        ax_m.axvline(s - t0, color="tab:blue", lw=0.4, alpha=0.4)
    ax_m.set_ylabel("wrist speed (skeleton units/s ≈ m/s)")
    ax_m.set_xlabel("time from clip start (s); vertical lines: word onsets")
    ax_m.legend(loc="upper right")
    fig.tight_layout()
    return fig


def save(fig, path, dpi: int = 100) -> None:
    """Save and close (Agg figures otherwise pile up in long runs)."""
    fig.savefig(path, dpi=dpi, format="png")
    _pyplot().close(fig)


# --- codebook usage (extract_codes) -----------------------------------------------------------------------------

def usage_figure(counts: np.ndarray, dataset: str, part: str, split: str):
    """Code usage of one split, overall and per latent step: counts sorted by frequency (rank on x), log y; codes
    never used are counted in each panel's title (a log axis cannot show zeros)."""
    plt = _pyplot()
    counts = np.asarray(counts)
    panels = [("all steps", counts.sum(0))] + [(f"latent step {s}", c) for s, c in enumerate(counts)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.4), squeeze=False, sharey=True)
    for ax, (name, c) in zip(axes.flat, panels):
        used = np.sort(c[c > 0])[::-1]
        ax.bar(np.arange(used.size), used, width=1.0, color="tab:blue" if name == "all steps" else "tab:orange")
        ax.set_yscale("log")
        ax.set_title(f"{name}: {used.size} of {c.size} codes used", fontsize=9)
        ax.set_xlabel("code rank (most used first)", fontsize=8)
    axes.flat[0].set_ylabel("windows using the code (count, log)", fontsize=8)
    fig.suptitle(f"{dataset} {part}: code usage on {split} ({int(counts[0].sum())} windows)", fontsize=10)
    fig.tight_layout()
    return fig


def perplexity_figure(perplexities: dict[str, dict], codebook_size: int, dataset: str, part: str):
    """Perplexity (effective number of codes) per latent step and overall, one bar per split.
    perplexities: {split: {"steps": [p per step], "overall": p}}."""
    plt = _pyplot()
    splits = list(perplexities)
    n_steps = len(next(iter(perplexities.values()))["steps"]) if splits else 0
    names = [f"step {s}" for s in range(n_steps)] + ["all steps"]
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.8))
    width = 0.8 / max(len(splits), 1)
    x = np.arange(len(names))
    for i, split in enumerate(splits):
        vals = [np.nan if v is None else v for v in [*perplexities[split]["steps"], perplexities[split]["overall"]]]
        ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=split)
    ax.set_xticks(x, names)
    ax.set_xlabel("latent step")
    ax.set_ylabel("perplexity (effective codes in use)")
    ax.legend(fontsize=8)
    ax.set_title(f"{dataset} {part}: code perplexity per split (codebook size {codebook_size})", fontsize=10)
    fig.tight_layout()
    return fig


def _category_colors(labels: np.ndarray, grey: str | None) -> tuple[list[str], np.ndarray]:
    names = sorted(set(labels.tolist()), key=lambda s: (s == grey, s))
    cmap = _pyplot().get_cmap("tab10" if len(names) <= 10 else "tab20")
    table = {n: ("0.7" if n == grey else cmap(i % cmap.N)) for i, n in enumerate(names)}
    return names, np.array([table[s] for s in labels.tolist()], dtype=object)


def embedding_figure(points: Sequence[np.ndarray], rows: Sequence[tuple[str, np.ndarray]], method: str,
                     dataset: str, part: str, split: str, grey: str = "none"):
    """One panel per latent slot (columns) and colouring (rows): points[s] (n, 2) the slot's 2-D embedding; rows
    (name, per-point category labels); the category `grey` drawn grey; a legend when there are at most 20."""
    plt = _pyplot()
    n_slots = len(points)
    fig, axes = plt.subplots(len(rows), n_slots, figsize=(3.3 * n_slots + 1.6, 3.2 * len(rows)), squeeze=False)
    for r, (name, labels) in enumerate(rows):
        labels = np.asarray(labels).astype(str)
        names, colors = _category_colors(labels, grey)
        for s, (ax, xy) in enumerate(zip(axes[r], points)):
            ax.scatter(xy[:, 0], xy[:, 1], c=list(colors), s=6, lw=0)
            ax.set_title(f"latent slot {s}; colour: {name}", fontsize=8)
            ax.set_xlabel(f"{method} 1 (a.u.)", fontsize=7)
            ax.set_ylabel(f"{method} 2 (a.u.)", fontsize=7)
            ax.tick_params(labelsize=6)
        if len(names) <= 20:
            handles = [plt.Line2D([], [], ls="", marker="o", color=colors[labels == n][0], label=n) for n in names]
            axes[r, -1].legend(handles=handles, fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    n = len(points[0]) if n_slots else 0
    fig.suptitle(f"{dataset} {part}: {method} of the pre-quantisation latents, {split} ({n} windows)", fontsize=10)
    fig.tight_layout()
    return fig


def skeleton_frames_figure(joints: np.ndarray, bones: Sequence[tuple[int, int]], titles: Sequence[str],
                           frames: Sequence[int], dataset: str, part: str, spine: tuple[int, int] = (0, 1)):
    """A grid of skeleton drawings (2-D front projection, x right, up = the spine's direction): one row per motion
    joints[i] (n_frames_shown, J, 3), one column per shown frame (`frames`: their indices, for the labels)."""
    plt = _pyplot()
    joints = np.asarray(joints)
    n, f = joints.shape[:2]
    up = 1.0 if np.mean(joints[..., spine[1], 1] - joints[..., spine[0], 1]) >= 0 else -1.0
    xy = np.stack([joints[..., 0], up * joints[..., 1]], -1)
    lo, hi = xy.reshape(-1, 2).min(0), xy.reshape(-1, 2).max(0)
    pad = 0.05 * float((hi - lo).max() or 1.0)
    fig, axes = plt.subplots(n, f, figsize=(1.6 * f + 0.4, 1.9 * n + 0.6), squeeze=False)
    for i in range(n):
        for j in range(f):
            ax = axes[i, j]
            for p, c in bones:
                if p >= 0:
                    ax.plot(xy[i, j, [p, c], 0], xy[i, j, [p, c], 1], color="tab:blue", lw=1)
            ax.set_xlim(lo[0] - pad, hi[0] + pad)
            ax.set_ylim(lo[1] - pad, hi[1] + pad)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == n - 1:
                ax.set_xlabel(f"frame {frames[j]}", fontsize=7)
        axes[i, 0].set_ylabel(titles[i], fontsize=6)
    fig.suptitle(f"{dataset} {part}: the most frequent code tuples decoded (other part at the mean pose; "
                 f"front view)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    return fig
