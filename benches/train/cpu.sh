#!/usr/bin/env bash
# burn-flex (the bemm trainer's CPU backend) vs PyTorch on the CPU: training
# throughput (forward, BCE, backward, Adam) of the tiny test network,
# ResNet-18 and ResNet50 (12 bands, 19 classes, 120x120), f32, every core
# for both. Prints one table per network; see benches/README.md.
#
# Env: ARCHS ("tiny resnet18 resnet50"), BATCH (16), STEPS (10 timed steps),
#      MAX_SECONDS (60 per configuration), THREADS (all cores), BENCH_OUT
#      (target/bench-train-cpu). PyTorch (CPU use of the standard wheel,
#      about 5 GB with its CUDA libraries) goes into benches/.venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-target/bench-train-cpu}
ARCHS=${ARCHS:-tiny resnet18 resnet50}; BATCH=${BATCH:-16}; STEPS=${STEPS:-10}
MAXS=${MAX_SECONDS:-60}; THREADS=${THREADS:-$(nproc)}
VENV=benches/.venv
mkdir -p "$OUT"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import torch, torchvision' 2>/dev/null || "$VENV/bin/pip" install -q torch torchvision
cargo build --release -p bemm-benches --bin train_bench
R="$OUT/results.jsonl"; : > "$R"
for a in $ARCHS; do
    echo "== $a, batch $BATCH: PyTorch, then burn-flex"
    "$VENV/bin/python" benches/train/torch_train_bench.py --device cpu --threads "$THREADS" --arch "$a" \
        --batch "$BATCH" --warmup 2 --steps "$STEPS" --max-seconds "$MAXS" | tee -a "$R"
    # burn-flex runs on rayon's global pool: one worker per core unless told.
    RAYON_NUM_THREADS=$THREADS target/release/train_bench --device cpu --arch "$a" --batch "$BATCH" \
        --warmup 2 --steps "$STEPS" --max-seconds "$MAXS" --json | tee -a "$R"
done
echo
"$VENV/bin/python" benches/train/compare.py "$R" | tee "$OUT/table.txt"
