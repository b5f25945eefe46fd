#!/bin/bash
# One prepared run for a lent GPU machine (the workplace's device tool): the faithful row's training and sampling
# (benchmarks/faithful_row.py train) and the diffusion benchmark on cuda. Here, first:
#   python benchmarks/faithful_row.py export --out .faithful/bundle          # after the DAG; 48 MB
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 importlib_metadata==10.2.0
#   (with /.faithful/ and /.whl/ in .git/info/exclude), then run `bash benchmarks/faithful_row_device.sh` there,
#   carrying .faithful and .whl; afterwards, here:
#   python benchmarks/faithful_row.py score --samples <the returned faithful/ folder> --out docs/faithful_row
# It stops early if the 64-window smoke run fails, so a broken environment costs seconds, not the lease.
# EPOCHS (100) and BUDGET (seconds of training, 200) size the run to the lease.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 CUBLAS_WORKSPACE_CONFIG=:4096:8 TQDM_MININTERVAL=10
OUT=${OUT:-/tmp/faithful_out}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || exit 3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, pytorch_lightning, diffusers, numpy; print(torch.__version__, pytorch_lightning.__version__,
diffusers.__version__, numpy.__version__, torch.cuda.get_device_name())" || exit 4
T0=$(date +%s)
timeout 90 python3 benchmarks/faithful_row.py train --bundle .faithful/bundle --out /tmp/smoke --device cuda \
    --epochs 1 --limit 64 --threads 4 > "$OUT/smoke.log" 2>&1
rc=$?; echo "smoke rc $rc after $(( $(date +%s) - T0 )) s"
if [ $rc != 0 ]; then grep -v "it/s" "$OUT/smoke.log" | tail -40; exit 5; fi
mkdir -p "$OUT/faithful"
timeout 330 python3 benchmarks/faithful_row.py train --bundle .faithful/bundle --out "$OUT/faithful" --device cuda \
    --epochs "${EPOCHS:-100}" --budget-s "${BUDGET:-200}" --threads 4 > "$OUT/train.log" 2>&1
echo "train rc $? after $(( $(date +%s) - T0 )) s"; grep -v "it/s" "$OUT/train.log" | grep -v "^Epoch" | tail -12
for p in body hand; do python3 -c "import json; r = json.load(open('$OUT/faithful/report_$p.json')); print('$p',
r['epochs'], r['train_seconds'], r['train_samples_per_s'], r['generate_seconds'], r['device_check'])"; done
timeout 150 python3 benchmarks/bench_diffusion.py --device cuda --threads 4 > "$OUT/bench.log" 2>&1
echo "bench rc $? after $(( $(date +%s) - T0 )) s"; tail -8 "$OUT/bench.log"
rm -f "$OUT/smoke.log"        # 8 files at most come back: faithful/ (6), train.log, bench.log
