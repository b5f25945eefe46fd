"""Data-stage benchmarks: demo generation, windowing and window loading. Prints a table.

    python benchmarks/bench_data.py [--size default|tiny] [--work DIR]

Runs the real stages (make_demo_data -> convert_raw -> build_windows) in a scratch folder with params.yaml's values
(demo size overridable), then times random-batch loading from the memory-mapped window arrays.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from _table import print_table  # benchmarks/, on sys.path when run as a script

from gesturegen.data.windowstore import open_split
from gesturegen.io import read_json
from stages import build_windows, convert_raw, make_demo_data

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def load_throughput(arrays: list[np.ndarray], batch: int, seconds: float = 2.0, seed: int = 0) -> float:
    """Windows per second when reading random batches (sorted indices, as a sampler would) into memory."""
    rng = np.random.default_rng(seed)
    n, done, t0 = arrays[0].shape[0], 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        idx = np.sort(rng.choice(n, size=min(batch, n), replace=False))
        for a in arrays:
            np.ascontiguousarray(a[idx])
        done += idx.size
    return done / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=["default", "tiny"], default="default")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="gesturegen-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["make_demo_data"]["size"] = args.size
    params = work / "params.yaml"
    params.write_text(yaml.safe_dump(data))
    p = ["--params", str(params)]

    t_demo = _timed(make_demo_data.main, p + ["--out", str(work / "data/demo"), "--report-dir", str(work / "demo")])
    minutes = read_json(work / "demo" / "metrics.json")["speech_minutes"]
    t_conv = _timed(convert_raw.main, p + ["--dataset", "demo", "--src", str(work / "data/demo"),
                                           "--out-dir", str(work / "conv")])
    t_win = _timed(build_windows.main, p + ["--dataset", "demo", "--raw", str(work / "conv/raw"),
                                            "--out-dir", str(work / "win")])
    windows = read_json(work / "win" / "metrics.json")["windows"]
    n_windows = sum(windows.values())
    train = open_split(work / "win/windows/train")
    total = t_demo + t_conv + t_win

    rows = [
        ("make_demo_data", f"{t_demo / minutes:.2f} s per minute of speech", f"{minutes:.1f} min in {t_demo:.1f} s"),
        ("convert_raw (ours -> ours)", f"{minutes / t_conv:.0f} min of speech per s", f"{t_conv:.2f} s"),
        ("build_windows", f"{n_windows / t_win:.0f} windows/s", f"{n_windows} windows in {t_win:.2f} s"),
        ("the three together", f"{total:.1f} s", " / ".join(f"{s} {windows[s]}" for s in ("train", "val", "test")) + " windows"),
    ]
    for name, arrays in (("dir_vec", [train.dir_vec]), ("dir_vec+poses+audio", [train.dir_vec, train.poses,
                                                                                  train.audio])):
        for batch in (32, 256):
            rate = load_throughput(arrays, batch)
            target = " (target >= 50000)" if name == "dir_vec" else ""
            rows.append((f"load {name}, batch {batch}", f"{rate:,.0f} windows/s{target}", f"{len(train)} windows"))
    print_table(("benchmark", "result", "detail"), rows)


if __name__ == "__main__":
    main()
