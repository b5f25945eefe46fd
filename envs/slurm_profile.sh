#!/usr/bin/env bash
# Make `snakemake --profile slurm` find this repository's SLURM profile (workflow/profiles/slurm).
# Snakemake looks for a profile named NAME in ./NAME, then ${XDG_CONFIG_HOME:-~/.config}/snakemake/NAME, then
# /etc/xdg/snakemake/NAME; this links the second one to the repository, unless that name is already taken (a
# cluster's own profile is left alone). envs/setup.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
profiles="${XDG_CONFIG_HOME:-$HOME/.config}/snakemake"
if [ -e "$profiles/slurm" ] || [ -L "$profiles/slurm" ]; then
  if [ "$(readlink -f "$profiles/slurm")" != "$(readlink -f workflow/profiles/slurm)" ]; then
    echo "gesturegen: $profiles/slurm exists and is not this repository's profile; left as it is" \
         "(this repository's: --profile $PWD/workflow/profiles/slurm)"
  fi
elif mkdir -p "$profiles" 2>/dev/null && ln -s "$PWD/workflow/profiles/slurm" "$profiles/slurm" 2>/dev/null; then
  echo "gesturegen: \`snakemake --profile slurm\` now uses $PWD/workflow/profiles/slurm (linked from $profiles/slurm)"
else
  echo "gesturegen: could not link $profiles/slurm; use --profile $PWD/workflow/profiles/slurm"
fi
