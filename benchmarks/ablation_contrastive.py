"""The contrastive ablation of the VQ-VAE: train_vqvae with the contrastive terms off, as the original (faithful) and
ours (infonce), everything else as in params.yaml, on the DAG's current inputs; prints one table.

    python benchmarks/ablation_contrastive.py [--dataset demo] [--parts body hand] [--out /tmp/ablation] [--reuse-dag]
                                              [--reuse-runs]

Needs the upstream stages' outputs (run the DAG first). With --reuse-dag the row of the mode params.yaml already
uses is read from the DAG's own results/train_vqvae/<dataset>-<part>/ instead of being trained again. Each run is the train_vqvae stage itself (its command line,
its metrics), written under --out, so the table is what the stage reports: val reconstruction, the v2 metrics of
the reconstruction (val), retrieval from the latent slots (val, 95 % CI over videos) and the codebook's perplexity.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml
from _table import print_table  # benchmarks/, on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
MODES = ("none", "faithful", "infonce")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--parts", nargs="+", default=["body", "hand"], choices=["body", "hand"])
    ap.add_argument("--out", type=Path, default=Path("/tmp/gesturegen-ablation"))
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--reuse-dag", action="store_true", help="take params.yaml's own mode from results/train_vqvae")
    ap.add_argument("--reuse-runs", action="store_true",
                    help="read a run already under --out (its report.json) instead of training it again")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from stages import train_vqvae

    ds, res = args.dataset, ROOT / "results"
    rows = []
    for part in args.parts:
        for mode in args.modes:
            out = args.out / f"{ds}-{part}-{mode}"
            params = yaml.safe_load((ROOT / "params.yaml").read_text())
            t = time.perf_counter()
            if args.reuse_dag and params["train_vqvae"]["contrastive"]["mode"] == mode:
                out = res / f"train_vqvae/{ds}-{part}"
            elif args.reuse_runs and (out / "report.json").is_file():
                pass
            else:
                params["train_vqvae"]["contrastive"]["mode"] = mode
                out.mkdir(parents=True, exist_ok=True)
                (out.parent / f"params-{mode}.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
                train_vqvae.main(["--params", str(out.parent / f"params-{mode}.yaml"), "--dataset", ds, "--part", part,
                                  "--windows", str(res / f"build_windows/{ds}/windows"),
                                  "--features", str(res / f"extract_features/{ds}/features"),
                                  "--encoder", str(res / f"train_fgd_encoder/{ds}/encoder"),
                                  "--sync", str(res / f"train_sync_evaluator/{ds}/evaluator"),
                                  "--oracles", str(res / f"train_oracles/{ds}/oracles"),
                                  "--baselines", str(res / f"evaluate_baselines/{ds}/summary.csv"),
                                  "--out-dir", str(out)])
            r = json.loads((out / "report.json").read_text())
            m = json.loads((out / "metrics.json").read_text())
            ret = r["retrieval_val"]

            def rr(kind: str, k: str, ret=ret) -> str:
                x = ret.get(kind)
                if not x:
                    return "-"
                ci = x.get(f"{k}_ci95")
                return f"{x[k]:.3f}" + (f" ± {ci:.3f}" if ci is not None else "")

            def f(v, nd=3):
                return "-" if v is None else f"{v:.{nd}f}"
            rows.append((part, mode, f(m["recon_l1"], 4), f(m["val"]["fgd"]["rec"], 2), f(m["val"]["kid"]["rec"]),
                         f(m["val"]["beat"]["rec"]), f(m["val"]["lex"]["rec"]), f(m["val"]["spk"]["rec"]),
                         rr("audio", "r1"), rr("audio", "r5"), rr("text", "r1"), rr("text", "r5"),
                         f(ret.get("audio", {}).get("median_rank"), 1), f(m["perplexity"], 1),
                         f"{json.loads((out / 'timings.json').read_text())['total_seconds']:.0f}"
                         if (out / "timings.json").is_file() else f"{time.perf_counter() - t:.0f}"))
    pool = ret.get("pool")
    print_table(("part", "contrastive", "val L1", "FGD", "KID", "beat F1", "lexical", "speaker",
                 "R@1 m→a", "R@5 m→a", "R@1 m→t", "R@5 m→t", "median rank m→a", "perplexity", "seconds"), rows)
    if pool:
        print(f"\nretrieval among {pool} (1 true + {pool - 1} windows of other val videos): chance R@1 "
              f"{1 / pool:.3f}, R@5 {5 / pool:.3f}, median rank {(pool + 1) / 2:.1f}; ± is the 95 % CI over val videos")


if __name__ == "__main__":
    main()
