#!/bin/bash
# The prepared runs for a lent GPU machine (the workplace's device tool): the faithful row's training and sampling
# (benchmarks/faithful_row.py train) and the diffusion benchmark on cuda. Here, first:
#   python benchmarks/faithful_row.py export --out .faithful/bundle          # after the DAG; 48 MB
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 importlib_metadata==10.2.0
#   (with /.faithful/ and /.whl/ in .git/info/exclude). Then two calls, carrying .faithful and .whl, the second while
#   the machine is still warm (it keeps /tmp, where the first leaves the weights):
#   PHASE=1 bash benchmarks/faithful_row_device.sh     # smoke, train both parts, sample run seed 0   (~8 min)
#   PHASE=2 bash benchmarks/faithful_row_device.sh     # sample run seeds 1 and 2, then the benchmark  (~6 min)
#   and afterwards, here, with the last call's faithful/ folder (it holds every run seed sampled, as both calls
#   sample into /tmp/faithful_z on the warm machine):
#   python benchmarks/faithful_row.py score --samples <that folder> --out docs/faithful_row/<run>
# Measured on an H200 (2026-12-04, both parts side by side): 10.5 s per epoch per part (430 samples/s each), 64 s
# to sample one split (1749 windows, 198 network evaluations each) per part and run seed, ~20 s of start-up.
# EPOCHS (22: the demo default's epochs, as the CPU row of 2026-12-05) and BUDGET (seconds of training, 320) size
# the run to the lease.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 CUBLAS_WORKSPACE_CONFIG=:4096:8 TQDM_MININTERVAL=30
OUT=${OUT:-/tmp/faithful_out}; CKPT=/tmp/faithful_ckpt; ZDIR=/tmp/faithful_z
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || exit 3
T0=$(date +%s)
mkdir -p "$OUT/faithful"
if [ "${PHASE:-1}" = 1 ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch, pytorch_lightning, diffusers, numpy; print(torch.__version__,
pytorch_lightning.__version__, diffusers.__version__, numpy.__version__, torch.cuda.get_device_name())" || exit 4
    timeout 90 python3 benchmarks/faithful_row.py train --bundle .faithful/bundle --out /tmp/smoke --device cuda \
        --epochs 1 --limit 64 --threads 4 > "$OUT/smoke.log" 2>&1
    rc=$?; echo "smoke rc $rc after $(( $(date +%s) - T0 )) s"
    if [ $rc != 0 ]; then grep -v "it/s" "$OUT/smoke.log" | tail -40; exit 5; fi
    rm -f "$OUT/smoke.log"
    timeout 500 python3 benchmarks/faithful_row.py train --bundle .faithful/bundle --out $ZDIR \
        --checkpoints $CKPT --device cuda --epochs "${EPOCHS:-22}" --budget-s "${BUDGET:-320}" --threads 6 \
        --run-seeds 0 > "$OUT/train.log" 2>&1
else
    timeout 330 python3 benchmarks/faithful_row.py train --bundle .faithful/bundle --out $ZDIR \
        --checkpoints $CKPT --sample-only --device cuda --threads 6 --run-seeds 1 2 > "$OUT/train.log" 2>&1
fi
echo "train rc $? after $(( $(date +%s) - T0 )) s"; grep -E "faithful_row|Error" "$OUT/train.log" | tail -12
cp $ZDIR/* "$OUT/faithful/"     # every run seed sampled so far (a sample-only call adds to the folder's files)
if [ "${PHASE:-1}" != 1 ]; then
    timeout 120 python3 benchmarks/bench_diffusion.py --device cuda --threads 4 > "$OUT/bench.log" 2>&1
    echo "bench rc $? after $(( $(date +%s) - T0 )) s"; tail -12 "$OUT/bench.log"
fi
