#!/usr/bin/env bash
# Create .venv with the pinned stack (envs/requirements.txt) and install gesturegen into it (editable).
# Needs only Python 3.11 and PyPI. Re-running it is cheap: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip setuptools wheel
# torch is pinned in requirements.txt (==2.13.0): a loose pin would pull a multi-GB CUDA build on CPU machines.
.venv/bin/python -m pip install -q --disable-pip-version-check -r envs/requirements.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
.venv/bin/python -m pip check
echo "gesturegen: environment ready in .venv (activate with: source .venv/bin/activate)"
