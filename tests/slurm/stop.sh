#!/usr/bin/env bash
# Stop the SLURM that start.sh started in $1 (by PID: other SLURMs on the machine are left alone).
S=$(realpath -m "${1:?usage: stop.sh SLURM_DIR}")
for d in slurmd slurmctld munged; do
  f=$S/run/$d.pid
  if [ -f "$f" ]; then
    p=$(cat "$f"); kill "$p" 2>/dev/null
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  fi
done
