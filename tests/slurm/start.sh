#!/usr/bin/env bash
# A single-node SLURM (slurmctld + slurmd + munge) in $1, without systemd, for the tests and for trying the
# `--profile slurm` route on one machine (Debian's slurm-wlm and munge; envs/slurm_packages.sh installs them).
# Everything lives in the folder: config, state, logs, the munge key and socket. Stop it with stop.sh $1.
#   bash tests/slurm/start.sh /tmp/slurm && export SLURM_CONF=/tmp/slurm/etc/slurm.conf PATH=/tmp/slurm/shim:$PATH
# Needs root (slurmd runs jobs as their users). The node's CPUs and memory come from `slurmd -C`; the ports from
# SLURMCTLD_PORT and SLURMD_PORT (default 6817, 6818).
set -euo pipefail
S=$(realpath -m "${1:?usage: start.sh SLURM_DIR}")
here=$(dirname "$(realpath "$0")")
for tool in slurmctld slurmd munged mungekey sinfo sbatch squeue; do
  command -v $tool >/dev/null || { echo "start.sh: $tool not found; install Debian's slurm-wlm and munge" \
                                        "(bash envs/slurm_packages.sh)" >&2; exit 3; }
done
[ "$(id -u)" = 0 ] || { echo "start.sh: slurmd needs root" >&2; exit 3; }
mkdir -p $S/etc $S/state $S/spool $S/run $S/log $S/munge $S/shim
chmod 700 $S/munge
export SLURM_CONF=$S/etc/slurm.conf
node=$(slurmd -C | head -1)                        # NodeName=<host> CPUs=... RealMemory=...
cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node")
boards=$(sed -n 's/.* Boards=\([0-9]*\).*/\1/p' <<<"$node")
sockets=$(sed -n 's/.* SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$node")
cores=$(sed -n 's/.* CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$node")
threads=$(sed -n 's/.* ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$node")
mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
host=$(hostname -s)
sed -e "s#@S@#$S#g" -e "s#@HOST@#$host#g" -e "s#@CPUS@#$cpus#g" -e "s#@BOARDS@#$boards#g" \
    -e "s#@SOCKETS@#$sockets#g" -e "s#@CORES@#$cores#g" -e "s#@THREADS@#$threads#g" \
    -e "s#@MEM@#$(( mem * 9 / 10 ))#g" -e "s#@CTLD_PORT@#${SLURMCTLD_PORT:-6817}#g" \
    -e "s#@D_PORT@#${SLURMD_PORT:-6818}#g" "$here/slurm.conf.in" > $SLURM_CONF
# Snakemake's jobstep plugin drops SLURM_CONF before its nested srun (toolchain.md §3.4): a shim restores it
printf '#!/bin/sh\nexport SLURM_CONF=%s\nexec %s "$@"\n' "$SLURM_CONF" "$(command -v srun)" > $S/shim/srun
chmod +x $S/shim/srun
[ -f $S/munge/munge.key ] || { mungekey -c -k $S/munge/munge.key; chmod 600 $S/munge/munge.key; }
munged --key-file=$S/munge/munge.key --socket=$S/munge/munge.socket.2 --pid-file=$S/run/munged.pid \
       --log-file=$S/log/munged.log --seed-file=$S/munge/munged.seed --force
for i in $(seq 50); do [ -S $S/munge/munge.socket.2 ] && break; sleep 0.1; done
slurmctld -f $SLURM_CONF
slurmd -f $SLURM_CONF
for i in $(seq 150); do sinfo -h -o '%T' 2>/dev/null | grep -qE '^idle' && break; sleep 0.2; done
sinfo -h -o '%T' | grep -qE '^idle' || { echo "start.sh: the node did not come up; logs in $S/log" >&2; exit 1; }
echo "SLURM up in $S: $cpus CPUs, $(( mem * 9 / 10 )) MB; export SLURM_CONF=$SLURM_CONF PATH=$S/shim:\$PATH"
