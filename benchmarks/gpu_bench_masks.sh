#!/usr/bin/env bash
# The prepared GPU run of benchmarks/bench_masks.py: SAM vit_h with random weights,
# everything issue 13 asks to measure, in about 8 minutes on one H100.
#
# Steps, most important first, each under its own time limit (a slow step cannot eat
# the next ones' time, and what finished is already written):
#   1. speed      official generator vs exact mode (64, 256 points/batch) vs fast mode
#                 (bfloat16) vs fast mode's code path in float32; 8 images  (~1.5 min)
#   2. agreement  the same variants with box NMS off: hundreds of masks per image,
#                 matched both ways at IoU 0.9 and 0.99                      (~1 min)
#   3. dataset    64 VOC-sized images through samcam masks's path (resume on), fast
#                 and exact; GPU utilisation, peak memory; the command's wall time (~2 min)
#   4. compile    fast mode with torch.compile (bfloat16, then float32); compiling
#                 takes minutes: it gets what is left of the budget
#   5. multigpu   torchrun over all GPUs, only when 2 or more are visible
# Results: $OUT/bench_masks.txt (the tables), $OUT/bench_masks.json (every number),
# $OUT/log.txt (progress: each variant's img/s as soon as it is measured).
#
# Usage, in the repository root of the GPU machine:
#   OUT=/path/to/results bash benchmarks/gpu_bench_masks.sh
# Environment: MODEL (vit_h), BUDGET (seconds for all steps, default 450), IMAGES (8),
# AGREE_IMAGES (3), DATASET_IMAGES (64), PY (python3), WORK (/tmp/bench_masks).
# segment-anything is installed from a carried .whl/ folder when missing (that machine
# has no network): pip download segment-anything==1.0 --no-deps -d .whl
# MODEL=small BUDGET=900 runs the same steps on a CPU (a small SAM).
set -u
OUT=${OUT:-out/bench_masks}
MODEL=${MODEL:-vit_h}
BUDGET=${BUDGET:-450}
IMAGES=${IMAGES:-8}
AGREE_IMAGES=${AGREE_IMAGES:-3}
DATASET_IMAGES=${DATASET_IMAGES:-64}
PY=${PY:-python3}
WORK=${WORK:-/tmp/bench_masks}
export PYTHONUNBUFFERED=1
START=$(date +%s)
mkdir -p "$OUT" "$WORK"
LOG="$OUT/log.txt"
: > "$LOG"

{
    nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
    $PY -c "import torch, torchvision, numpy, PIL, scipy, tqdm; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.device_count(), 'GPU(s)')"
} 2>&1 | tee -a "$LOG"
$PY -c "import torch, torchvision, numpy, PIL, scipy, tqdm" || exit 1
if ! $PY -c "import segment_anything" 2>/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/segment_anything-*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi

# step NAME MAX_SECONDS: run one step of bench_masks.py within MAX_SECONDS and the budget left
step() {
    local name=$1 max=$2
    local left=$(( BUDGET - ($(date +%s) - START) ))
    local limit=$(( left < max ? left : max ))
    if [ "$limit" -lt 30 ]; then
        echo "== $name: not run, ${left} s of the budget left" | tee -a "$LOG" "$OUT/bench_masks.txt"
        return
    fi
    echo "== $name (limit ${limit} s, $(( $(date +%s) - START )) s elapsed)" | tee -a "$LOG"
    # timeout signals the whole process group: the measuring child process stops too
    timeout --kill-after=10 "$limit" $PY benchmarks/bench_masks.py --model "$MODEL" --steps "$name" \
        --work "$WORK" --out "$OUT" --timeout $(( limit - 5 )) --images "$IMAGES" \
        --agree-images "$AGREE_IMAGES" --dataset-images "$DATASET_IMAGES" 2>&1 | tee -a "$LOG"
    local code=${PIPESTATUS[0]}
    [ "$code" -eq 124 ] && echo "== $name: stopped at its time limit (${limit} s)" | tee -a "$LOG" "$OUT/bench_masks.txt"
}

step speed 150
step agreement 100
step dataset 150
step compile 600
step multigpu 120
echo "== done in $(( $(date +%s) - START )) s" | tee -a "$LOG"
cat "$OUT/bench_masks.txt"
