"""Run the data stages (make_demo_data -> convert_raw -> build_windows) in a fresh process and hash what they store.

Shared by the determinism tests and usable by hand to look for machine-dependent bytes:

    python -m tests.datastages                       # tiny preset, every emulated CPU configuration
    python -m tests.datastages --size default avx2   # the default demo, native vs one configuration

A configuration is a set of environment variables that make this machine compute like another x86-64 one: numpy's
dispatched SIMD loops (NPY_DISABLE_CPU_FEATURES), OpenBLAS's kernel (OPENBLAS_CORETYPE) and thread count, glibc's
libm variants (GLIBC_TUNABLES) and libsoxr's SIMD engine (SOXR_USE_SIMD). Paths are relative to the work folder, as
in dvc.yaml, because convert_raw records its source path.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = ROOT / "tests" / "tiny" / "params.yaml"

# numpy 2.4 groups its dispatch targets: X86_V4 = AVX-512 (Skylake-X), X86_V3 = AVX2 + FMA3 (Haswell); X86_V2
# (SSE4.2) is the wheel's baseline and cannot be switched off
_NO_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR"
_NO_AVX2 = "X86_V3 " + _NO_AVX512
CONFIGS: dict[str, dict[str, str]] = {
    "native": {},
    # an AVX2 + FMA machine (Haswell .. Zen 3), BLAS on one thread
    "avx2": {"NPY_DISABLE_CPU_FEATURES": _NO_AVX512, "OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1",
             "OMP_NUM_THREADS": "1", "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"},
    # an SSE4.2-only machine without FMA (Nehalem .. Sandy Bridge), libsoxr without its SIMD engine, two threads
    "sse42": {"NPY_DISABLE_CPU_FEATURES": _NO_AVX2, "OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "2",
              "OMP_NUM_THREADS": "2", "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX2,-FMA,-AVX",
              "SOXR_USE_SIMD": "0", "PYTHONHASHSEED": "12345"},
}
# single variations, to tell the sources of a difference apart (python -m tests.datastages --all)
SINGLE: dict[str, dict[str, str]] = {
    "npy-avx2": {"NPY_DISABLE_CPU_FEATURES": _NO_AVX512},
    "npy-sse42": {"NPY_DISABLE_CPU_FEATURES": _NO_AVX2},
    "blas-haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "blas-skylakex": {"OPENBLAS_CORETYPE": "SkylakeX"},
    "blas-sandybridge": {"OPENBLAS_CORETYPE": "Sandybridge"},
    "blas-prescott": {"OPENBLAS_CORETYPE": "Prescott"},
    "blas-1thread": {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    "libm-nofma": {"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA"},
    "soxr-nosimd": {"SOXR_USE_SIMD": "0"},
}
_CLEARED = ("NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "OPENBLAS_VERBOSE",
            "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GLIBC_TUNABLES", "SOXR_USE_SIMD",
            "SOXR_USE_SIMD32", "SOXR_USE_SIMD64", "PYTHONHASHSEED")

# what the three stages store (clip.png is a plot: matplotlib's bytes are not data)
OUTPUTS = ("data/demo", "results/make_demo_data/metrics.json", "results/make_demo_data/report.json",
           "results/convert_raw/demo",
           "results/build_windows/demo")

_SCRIPT = """
import sys
from stages import build_windows, convert_raw, make_demo_data
p = ["--params", sys.argv[1]]
make_demo_data.main(p + ["--out", "data/demo", "--report-dir", "results/make_demo_data"])
convert_raw.main(p + ["--dataset", "demo", "--src", "data/demo", "--out-dir", "results/convert_raw/demo"])
build_windows.main(p + ["--dataset", "demo", "--raw", "results/convert_raw/demo/raw",
                        "--out-dir", "results/build_windows/demo"])
"""


def stage_env(config: dict[str, str]) -> dict[str, str]:
    """This process's environment without the knobs above, then `config`; the worktree's code comes first."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(config)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("TQDM_DISABLE", "1")
    return env


def run_stages(work: Path, config: dict[str, str], params: Path = TINY_PARAMS, timeout_s: float = 900) -> None:
    """make_demo_data, convert_raw and build_windows in one fresh process, in `work`, under `config`."""
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(params)], check=False, cwd=work, env=stage_env(config),
                          capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"data stages failed under {config}:\n{done.stderr[-4000:]}")


def output_hashes(work: Path) -> dict[str, str]:
    """sha256 of every file the data stages stored under `work`, by path relative to it."""
    out = {}
    for name in OUTPUTS:
        path = work / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if f.name == "clip.png":
                continue
            out[f.relative_to(work).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def tiny_params_with(size: str, dest: Path) -> Path:
    """tests/tiny/params.yaml with another demo size."""
    data = yaml.safe_load(TINY_PARAMS.read_text())
    data["make_demo_data"]["size"] = size
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", help=f"configurations to compare with native "
                                               f"(default: {', '.join(c for c in CONFIGS if c != 'native')})")
    ap.add_argument("--all", action="store_true", help="also every single variation, one knob at a time")
    ap.add_argument("--size", default="tiny", choices=["tiny", "default"])
    ap.add_argument("--keep", type=Path, default=None, help="keep the outputs here, one folder per configuration")
    args = ap.parse_args(argv)
    known = {**CONFIGS, **SINGLE}
    names = args.configs or [c for c in CONFIGS if c != "native"] + (list(SINGLE) if args.all else [])
    base = args.keep or Path(tempfile.mkdtemp(prefix="gg-datastages-"))
    base.mkdir(parents=True, exist_ok=True)
    params = tiny_params_with(args.size, base / "params.yaml") if args.size != "tiny" else TINY_PARAMS
    hashes = {}
    for name in ["native", *names]:
        run_stages(base / name, known[name], params)
        hashes[name] = output_hashes(base / name)
        diff = sorted(k for k in hashes["native"] if hashes[name].get(k) != hashes["native"][k])
        print(f"{name:18s} {len(hashes[name])} files, {len(diff)} differ from native"
              + "".join(f"\n    {k}" for k in diff), flush=True)


if __name__ == "__main__":
    main()
