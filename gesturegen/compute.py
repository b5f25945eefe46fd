"""Pin where and how wide a stage computes, so its results do not depend on who launched it.

Snakemake exports OMP/MKL/OpenBLAS thread counts equal to a rule's `threads:` (1 by default) while `dvc repro`
leaves torch and BLAS on every core; reductions split differently across threads and change the low bits. A stage
calls `use_compute(device, threads)` once, before any torch or BLAS work, and records what it returns.
"""
from __future__ import annotations

import os
from typing import Any

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


class ComputeError(RuntimeError):
    """The requested device is not available here; the message says what to change."""


def use_compute(device: str, threads: int) -> dict[str, Any]:
    """Set torch's intra-op threads and every BLAS pool to `threads`; check that `device` exists.

    Returns what to record in metrics.json: device, threads, torch version and the BLAS libraries in use.
    """
    for var in _THREAD_VARS:  # for child processes and libraries initialised later
        os.environ[var] = str(threads)
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=threads)  # the BLAS/OpenMP pools already loaded (numpy, scipy, torch)
    if device.startswith("cuda"):          # cuBLAS's deterministic mode (Lightning's deterministic training)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.set_num_threads(threads)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ComputeError(f"compute.device is {device!r} but torch sees no CUDA device here; set "
                           f"`compute: device: cpu` in params.yaml, or run on a machine with a GPU")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ComputeError("compute.device is 'mps' but this torch has no MPS backend; set `compute: device: cpu`")
    blas = sorted({f"{p['internal_api']} {p.get('version') or ''}".strip() for p in threadpool_info()
                   if p.get("user_api") == "blas"})
    return {"device": device, "threads": threads, "torch": torch.__version__.split("+")[0], "blas": blas}


def cpu_workers(device: str, threads: int, jobs: int | None = None) -> int:
    """How many one-thread worker processes a stage whose work is independent runs (evaluate, evaluate_baselines):
    on the CPU, `threads` of them (at most `jobs`), where one `threads`-wide process would leave cores idle in its
    single-threaded numpy; 1 (this process, at `threads`) on a GPU or with one thread."""
    if device != "cpu" or threads <= 1:
        return 1
    return threads if jobs is None else max(1, min(threads, jobs))


def spawn_pool(workers: int, **kwargs: Any):
    """A ProcessPoolExecutor of `workers` spawned processes (not forked: a child starts clean of this process's torch
    and OpenMP threads); each should call use_compute(device, 1) before its work."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), **kwargs)
