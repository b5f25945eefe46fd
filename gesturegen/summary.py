"""Summaries of scored runs: mean ± 95 % CI over run seeds per (split, row, metric), the headline numbers that
`dvc metrics show` prints, and their rounding. Runs come from gesturegen.evaluation (score_motion and friends)."""
from __future__ import annotations

import numpy as np

from gesturegen.evaluation import CONTROL_CODES, ORACLE, PAIRED, RUN_KEYS


def round_sig(x: float, digits: int = 5) -> float:
    """`x` to `digits` significant figures, for headline metrics: a fixed number of decimals hides every change of
    a small value (an FGD of 0.0026 on a tiny model), so `dvc metrics diff` would show nothing."""
    return float(f"{float(x):.{digits}g}")


def summarize(values: np.ndarray) -> dict:
    """Mean and 95% CI half-width (Student's t) over runs of the finite values; `n` counts them (BC is NaN when
    no clip of a run could be scored, e.g. no motion beat anywhere)."""
    from gesturegen.metrics.motion import mean_ci95

    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean, half = mean_ci95(finite) if finite.size > 1 else (float(finite[0]), float("nan"))
    return {"mean": round(float(mean), 6), "ci95": round(float(half), 6) if np.isfinite(half) else None,
            "n": int(finite.size)}


def seed_means(runs: list[dict], metric: str) -> np.ndarray:
    """One value per run seed: the mean of that seed's finite values of `metric` over its partitions.

    The runs of one seed are not independent (they share the seed's generated motion, and the query halves of its
    partitions overlap), so the confidence interval is taken over seeds, each an independent replicate (new motion,
    new partitions), and not over all runs: a CI over all runs would be too narrow."""
    by_seed: dict = {}
    for r in runs:
        by_seed.setdefault(r["seed"], []).append(float(r[metric]))
    out = []
    for vals in by_seed.values():
        v = np.asarray(vals, dtype=float)
        out.append(float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan"))
    return np.asarray(out, dtype=float)


def _not_applicable(control: str, metric: str) -> str | None:
    if control == "ground_truth" and metric in PAIRED:
        return "not applicable: the ground truth would be paired with itself"
    if control == "ground_truth" and metric in ("fgd_faithful", "fgd_faithful_fallback"):
        return "not applicable: the faithful protocol compares with the same windows' ground truth (0 by construction)"
    return None


def summary_rows(runs: list[dict], oracle_skipped: dict[str, str] | None = None) -> list[dict]:
    """The tidy summary: one row per (split, control, metric) with mean, ci95 and n over run seeds (each seed's
    value: the mean over its partitions, see seed_means; n counts seeds with a finite value), n_runs,
    n_windows / n_reference (per run: query and reference windows; the whole split's for faithful metrics),
    `applicable` and a `note` (not applicable, skipped, FGD sample size), and `small_n` on FGD rows (n < 10 d).

    `oracle_skipped` maps a split to why its oracle metrics are absent (e.g. no annotations for this dataset)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    metrics_of: dict[str, dict[str, None]] = {}
    for r in runs:
        groups.setdefault((r["split"], r["control"]), []).append(r)
        metrics_of.setdefault(r["split"], {}).update({k: None for k in r if k not in RUN_KEYS})
    out = []
    for (split, control), rs in groups.items():
        names = list(metrics_of[split])
        if split in (oracle_skipped or {}):
            names += [m for m in ORACLE if m not in names]
        for k in names:
            have = [r for r in rs if k in r]
            row = {"split": split, "control": control, "metric": k}
            if not have:
                note = _not_applicable(control, k) or (f"skipped: {oracle_skipped[split]}" if k in ORACLE and
                                                       split in (oracle_skipped or {}) else "not computed")
                out.append({**row, "mean": None, "ci95": None, "n": 0, "n_runs": 0, "n_windows": None,
                            "n_reference": None,
                            "applicable": False, "small_n": None, "note": note})
                continue
            nq = round(float(np.mean([r["n_windows"] for r in have])))
            nr = round(float(np.mean([r["n_reference"] for r in have])))
            dim = have[0]["feature_dim"]
            small, note = None, ""
            if k.startswith("fgd_") and not k.endswith("fallback"):
                small = min(nq, nr) < 10 * dim
                note = f"n = {nq} vs {nr} windows, d = {dim}" + ("; n < 10 d: FGD biased upward, read KID"
                                                                  if small else "")
            out.append({**row, **summarize(seed_means(have, k)), "n_runs": len(have), "n_windows": nq,
                        "n_reference": nr, "applicable": True, "small_n": small, "note": note})
    return out


HEADLINE = (("fgd_corrected", "ground_truth"), ("fgd_corrected", "random_window"), ("bc_corrected", "ground_truth"))


def read_summary_rows(path, splits=None, controls=None) -> list[dict]:
    """The rows of a summary.csv (evaluate_baselines', evaluate's) as summary_rows gives them: empty cells None, not
    NaN (NaN is truthy, and plots and tables test cells for presence); only `splits` / `controls` when given."""
    import pandas as pd

    ref = pd.read_csv(path)
    if splits is not None:
        ref = ref[ref["split"].isin(list(splits))]
    if controls is not None:
        ref = ref[ref["control"].isin(list(controls))]
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in ref.to_dict(orient="records")]


def headline(summary: list[dict]) -> dict:
    """The few numbers `dvc metrics show` prints, per split: corrected FGD of the ground truth and of a random
    training window (query half against the reference half), corrected BC of the ground truth; keyed
    `<split>.fgd.gt`, `<split>.fgd.rand`, `<split>.bc.gt` (codes: CONTROL_CODES). Every other cell (KID, BC gap,
    beat F1, …) is in summary.csv: `dvc metrics show` lines must stay short."""
    out: dict = {}
    for row in summary:
        code = CONTROL_CODES.get(row["control"], row["control"])
        if (row["metric"], row["control"]) in HEADLINE:
            out.setdefault(row["split"], {}).setdefault(row["metric"].split("_")[0], {})[code] = row["mean"]
    return out
