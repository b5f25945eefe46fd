#!/usr/bin/env bash
# Create .venv with the pinned stack (envs/requirements.txt), install gesturegen into it (editable), then:
#   - write the offline template of `dvc plots show` (.dvc/plots_offline.html: vega inline, no CDN);
#   - compile librosa's numba kernels into .venv's cache (`gesturegen warm-up`: ~15 s, once);
#   - make `snakemake --profile slurm` find this repository's SLURM profile (a link in the user's Snakemake
#     config folder, ${XDG_CONFIG_HOME:-~/.config}/snakemake/slurm, made only if that name is free).
# With --legacy it also creates the isolated pyarrow 11 environment that convert_raw needs for the official
# TED Expressive / AQGT LMDBs (needs PyPI; never done at stage run time).
# Needs only Python 3.11 and PyPI. Re-running it is cheap: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
legacy=0
for arg in "$@"; do
  case "$arg" in
    --legacy) legacy=1 ;;
    *) echo "usage: bash envs/setup.sh [--legacy]" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip setuptools wheel
# torch is pinned in requirements.txt (==2.13.0): a loose pin would pull a multi-GB CUDA build on CPU machines.
.venv/bin/python -m pip install -q --disable-pip-version-check -r envs/requirements.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
.venv/bin/python -m pip check

.venv/bin/gesturegen plots-template .dvc/plots_offline.html >/dev/null
# numba compiles librosa's kernels at their first use and caches them in .venv: do it here, once, not in a stage
.venv/bin/gesturegen warm-up

bash envs/slurm_profile.sh

if [ "$legacy" = 1 ]; then
  .venv/bin/python -m gesturegen.data.legacy setup
fi
echo "gesturegen: environment ready in .venv (activate with: source .venv/bin/activate)"
