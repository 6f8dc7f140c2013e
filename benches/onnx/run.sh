#!/usr/bin/env bash
# bemm engine vs ONNX Runtime on ResNet50 (12 bands, 19 classes, 120x120),
# identical weights on both sides. Prints one table. See benches/README.md.
# Env: BENCH_SECONDS (time per measurement, default 3), BENCH_OUT (work dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-target/bench-onnx}
SECS=${BENCH_SECONDS:-3}
VENV=benches/.venv
mkdir -p "$OUT"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q onnxruntime onnx numpy
cargo build --release -p bemm-benches --bin engine_bench
B=target/release/engine_bench
"$B" make-model --arch resnet50 --out "$OUT/resnet50.bemm"
"$VENV/bin/python" benches/onnx/bemm_to_onnx.py "$OUT/resnet50.bemm" "$OUT/resnet50.onnx"
"$B" probe --model "$OUT/resnet50.bemm" --out "$OUT/probe.bin"
"$VENV/bin/python" benches/onnx/ort_bench.py "$OUT/resnet50.onnx" "$OUT/ort.json" "$SECS" "$OUT/probe.bin"
"$B" run --model "$OUT/resnet50.bemm" --ort "$OUT/ort.json" --seconds "$SECS"
