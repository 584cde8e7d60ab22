#!/usr/bin/env bash
# One prepared check for a CUDA machine: the GPU-marked tests and every benchmark on CUDA.
# Usage: scripts/gpu_check.sh OUT_DIR      (a few minutes; writes OUT_DIR/summary.txt and one log per step)
set -uo pipefail
out="${1:-${OUT:-gpu-check}}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
py="${PYTHON:-python}"
export PYTHONUNBUFFERED=1

if ! "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "no CUDA GPU visible; nothing to check" | tee "$out/summary.txt"
    exit 1
fi
"$py" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}')" | tee "$out/summary.txt"

step() {  # step NAME SECONDS CMD...
    local name="$1" limit="$2"; shift 2
    echo "== $name" | tee -a "$out/summary.txt"
    if timeout "$limit" "$@" >"$out/$name.log" 2>&1; then status=ok; else status="failed ($?)"; fi
    tail -n 15 "$out/$name.log" >>"$out/summary.txt"
    echo "-- $name: $status" | tee -a "$out/summary.txt"
}

step gpu_tests 240 "$py" -m pytest -q -m gpu tests
step classifier 120 "$py" -m benchmarks.classifier_speed --device cuda --epochs 3 --full-epochs 10
[ -f benchmarks/stylize_speed.py ] && step stylize 180 "$py" -m benchmarks.stylize_speed --device cuda
[ -f benchmarks/fast_style_speed.py ] && step fast_style 150 "$py" -m benchmarks.fast_style_speed --gpu-only
[ -f benchmarks/gan_speed.py ] && step gan 120 "$py" benchmarks/gan_speed.py --device cuda
# the projected discriminator on CUDA at 128 and 256 px (step times and the samples' look; Twemoji rows need --emoji-dir)
for px in 128 256; do
    step "gan_projected_${px}px" 150 "$py" -m artgen gan train --dataset art --size "$px" --steps 300 --discriminator projected --device cuda \
        --out "$out/gan_projected_${px}px" --sample-every 100 --overwrite --quiet
done
echo "summary: $out/summary.txt"
