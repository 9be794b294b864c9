#!/usr/bin/env bash
# One prepared GPU run of bench_masks.py (vit_h, random weights), as sent to a lent
# GPU machine: checks the Python packages there, installs segment-anything from a
# carried wheel folder (.whl/) when it is missing, then
#   1. speed at SAM's default settings (official loop vs samcam masks), and
#   2. mask agreement over many masks (points 16, box NMS off, see bench_masks.py).
# Usage: OUT=results/ MODEL=vit_h IMAGES=4 bash benchmarks/gpu_bench_masks.sh
# (MODEL=small IMAGES=1 runs the same steps on a CPU in a few minutes.)
set -u
OUT=${OUT:-out/bench_masks}
MODEL=${MODEL:-vit_h}
IMAGES=${IMAGES:-4}
AGREE_IMAGES=${AGREE_IMAGES:-2}
PY=${PY:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
$PY -c "import torch, torchvision, numpy, PIL, skimage, tqdm; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())" || exit 1
if ! $PY -c "import segment_anything" 2>/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/segment_anything-*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
$PY benchmarks/bench_masks.py --model "$MODEL" --images "$IMAGES" --json "$OUT/speed.json" --work /tmp/bench_speed \
    2>&1 | tee "$OUT/speed.txt"
$PY benchmarks/bench_masks.py --model "$MODEL" --images "$AGREE_IMAGES" --points-per-side 16 --box-nms-thresh 1.0 \
    --variants official:64:float32,samcam:256:float32,samcam:256:tf32,samcam:256:bfloat16 \
    --json "$OUT/agreement.json" --work /tmp/bench_agree 2>&1 | tee "$OUT/agreement.txt"
