"""How fast this machine is for our kind of work, against the machine that perf-floors.md measured. Prints a table.

    python benchmarks/bench_machine.py [--repeats 5]

Timings in this README (the DAG's 15 minutes, samples/s, real-time factors) are measured on one 2-core machine;
another CPU scales them. perf-floors.md describes its machine by one number, about 240 GFLOP/s on a large float32
matmul with 2 threads. This prints that number for this machine, the same at 1 thread, and a matmul of the shape
our small models spend their time in (1024 windows x 8 latent tokens of width 96 through a 4x feed-forward layer),
with the SIMD level torch dispatches to (AVX-512 machines also give other low bits than AVX2 ones: README
"Reproducibility across machines"). The last column is the share of the reference: divide our measured times by it
for a first estimate on this machine.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from _table import print_table  # benchmarks/, on sys.path when run as a script

from gesturegen.compute import use_compute

REFERENCE_GFLOPS = 240.0            # perf-floors.md: a large float32 matmul, 2 threads


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def matmul_gflops(m: int, k: int, n: int, threads: int, repeats: int) -> float:
    """Best of `repeats` timings of (m, k) @ (k, n) in float32 with torch and BLAS pinned to `threads`, after two
    warm-up products."""
    use_compute("cpu", threads)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    # small products are repeated inside one timing: about 2e10 FLOP per timing (0.2 s at 100 GFLOP/s)
    inner = max(1, int(2e10 // (2 * m * k * n)))
    for _ in range(2):
        torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            torch.matmul(a, b)
        best = min(best, (time.perf_counter() - t) / inner)
    return 2 * m * k * n / best / 1e9


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    blas = ", ".join(use_compute("cpu", 1)["blas"]) or "none found"
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, SIMD dispatch {torch.backends.cpu.get_cpu_capability()}; "
          f"BLAS: {blas}")
    rows = []
    for label, shape in (("large matmul 4096 x 4096 x 4096", (4096, 4096, 4096)),
                         ("our feed-forward: 8192 x 96 -> 384", (8192, 96, 384))):
        for threads in (1, 2):
            gf = matmul_gflops(*shape, threads, args.repeats)
            ref = f"{gf / REFERENCE_GFLOPS:.2f}" if shape[0] == 4096 and threads == 2 else "-"
            rows.append((label, str(threads), f"{gf:.1f}", ref))
    print_table(("work", "threads", "GFLOP/s", "share of perf-floors' 240"), rows)


if __name__ == "__main__":
    main()
