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
            n = next((r["n_windows"] for r in rows if r.get("n_windows")), "?")
            xs = x + i * width - 0.4 + width / 2
            ax.bar(xs, [np.nan if r.get("mean") is None else r["mean"] for r in rows], width,
                   yerr=[r.get("ci95") or 0.0 for r in rows], capsize=3, label=f"{split} ({n} query windows)")
            for xi, r in zip(xs, rows):
                if r and r.get("applicable") is False:
                    ax.text(xi, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.axhline(0, color="0.5", lw=0.5)
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
