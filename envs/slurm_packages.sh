#!/usr/bin/env bash
# Debian's SLURM and munge, for the single-node SLURM of the tests (tests/slurm/start.sh) or for trying
# `snakemake --profile slurm` on one machine. Needs root and Debian's package lists; a cluster has its own SLURM.
set -euo pipefail
if command -v slurmd >/dev/null && command -v munged >/dev/null; then
  echo "slurm: $(slurmd -V) already installed"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "slurm: installing needs root (apt-get); the SLURM tests will be skipped" >&2; exit 3; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "slurm: apt-get update failed; trying the package lists present" >&2
apt-get install -y -qq --no-install-recommends slurm-wlm slurmctld slurmd slurm-client munge >/dev/null
echo "slurm: $(slurmd -V) installed"
