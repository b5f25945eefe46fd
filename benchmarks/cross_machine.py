"""What another machine gives: the later stages rerun under emulated CPUs, compared with the committed results.

numpy, OpenBLAS, torch and oneDNN pick their SIMD kernels at run time, which is what makes another machine's low
bits differ. This script reruns extract_features, train_fgd_encoder and evaluate_baselines on the existing windows of
a dataset with those choices forced (NPY_DISABLE_CPU_FEATURES, OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY,
ONEDNN_MAX_CPU_ISA), and prints a table: which outputs stay bit-identical, and where each headline number lands
against the committed mean ± 95 % CI (results/evaluate_baselines/<dataset>/summary.csv as git holds it).

    python benchmarks/cross_machine.py [--dataset demo] [--configs native avx2 sse4]

Needs the windows of that dataset (run the pipeline first). Takes a few minutes per configuration.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _table import print_table

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "native": {},
    "avx2": {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Haswell",
             "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "sse4": {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Nehalem",
             "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}
HEADLINE = [("val", "ground_truth", "fgd_corrected"), ("val", "random_window", "fgd_corrected"),
            ("val", "mean_pose", "fgd_corrected"), ("val", "ground_truth", "bc_corrected"),
            ("test", "ground_truth", "fgd_corrected"), ("test", "random_window", "fgd_corrected"),
            ("test", "ground_truth", "bc_corrected")]


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _stage(name: str, args: list[str], env: dict) -> None:
    subprocess.run([sys.executable, "-m", f"stages.{name}", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _committed_summary(dataset: str) -> dict:
    path = f"results/evaluate_baselines/{dataset}/summary.csv"
    out = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True, check=False)
    text = out.stdout if out.returncode == 0 else (ROOT / path).read_text()
    return {(r["split"], r["control"], r["metric"]): r for r in csv.DictReader(io.StringIO(text))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = ap.parse_args()
    windows = ROOT / "results" / "build_windows" / args.dataset / "windows"
    if not (windows / "train" / "meta.json").is_file():
        sys.exit(f"{windows}: no windows; run the pipeline first (snakemake --cores all)")
    committed = _committed_summary(args.dataset)
    rows, digests = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            out = Path(tmp) / name
            env = {**os.environ, **CONFIGS[name], "HF_HUB_OFFLINE": "1"}
            common = ["--dataset", args.dataset, "--windows", str(windows)]
            _stage("extract_features", [*common, "--out-dir", str(out / "features")], env)
            _stage("train_fgd_encoder", [*common, "--out-dir", str(out / "encoder")], env)
            _stage("evaluate_baselines", [*common, "--encoder", str(out / "encoder" / "encoder"),
                                          "--out-dir", str(out / "eval")], env)
            digests[name] = {"features": _digest(out / "features" / "features"),
                             "encoder": _digest(out / "encoder" / "encoder" / "model.safetensors"),
                             "summary": _digest(out / "eval" / "summary.csv")}
            with open(out / "eval" / "summary.csv", newline="") as fh:
                got = {(r["split"], r["control"], r["metric"]): r for r in csv.DictReader(fh)}
            for key in HEADLINE:
                ref, new = committed[key], got[key]
                mean, ci = float(ref["mean"]), float(ref["ci95"] or 0)
                diff = float(new["mean"]) - mean
                rows.append([name, ".".join(key), f"{float(new['mean']):.4f}", f"{mean:.4f} ± {ci:.4f}",
                             f"{100 * diff / mean:+.2f} %" if mean else "-", "yes" if abs(diff) <= ci else "NO"])
    print_table(["configuration", "metric (split.control.metric)", "this run", "committed mean ± 95% CI",
                 "difference", "inside CI"], rows)
    print()
    print_table(["configuration", "features sha256[:12]", "encoder sha256[:12]", "summary.csv sha256[:12]"],
                [[n, d["features"], d["encoder"], d["summary"]] for n, d in digests.items()])


if __name__ == "__main__":
    main()
