#!/usr/bin/env bash
# bemm engine vs ONNX Runtime on ResNet50 (12 bands, 19 classes, 120x120),
# identical weights on both sides. Prints one table. See benches/README.md.
# Env: BENCH_SECONDS (time per measurement, default 3), BENCH_OUT (work dir),
# BENCH_PROFILE (cargo profile, default release), BENCH_TUNE_MS (kernel-choice budget).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-target/bench-onnx}
SECS=${BENCH_SECONDS:-3}
VENV=benches/.venv
mkdir -p "$OUT"
# The machine first: figures are only comparable on the same CPU.
cpu_field() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
echo "CPU: $(cpu_field 'model name') (family $(cpu_field 'cpu family') model $(cpu_field model))"
echo "ISA flags: $(cpu_field flags | tr ' ' '\n' | grep -xE 'avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|avx512_fp16|avx_vnni|amx_tile|amx_bf16' | tr '\n' ' ')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q onnxruntime onnx numpy
# BENCH_PROFILE=dev reuses a dev build (the engine at opt-level 3, no LTO) where a
# release build of the benches' dependencies would take too long; say so with the figures.
PROFILE=${BENCH_PROFILE:-release}
cargo build --profile "$PROFILE" -p bemm-benches --bin engine_bench
DIR=$PROFILE; [ "$PROFILE" = dev ] && DIR=debug
B=${CARGO_TARGET_DIR:-target}/$DIR/engine_bench
"$B" make-model --arch resnet50 --out "$OUT/resnet50.bemm"
"$VENV/bin/python" benches/onnx/bemm_to_onnx.py "$OUT/resnet50.bemm" "$OUT/resnet50.onnx"
"$B" probe --model "$OUT/resnet50.bemm" --out "$OUT/probe.bin"
# 16 calibration patches for ONNX Runtime's own int8 model (quantize_static, QDQ).
"$B" patches --model "$OUT/resnet50.bemm" --count 16 --out "$OUT/calib.bin"
"$VENV/bin/python" benches/onnx/ort_bench.py "$OUT/resnet50.onnx" "$OUT/ort.json" "$SECS" "$OUT/probe.bin" "$OUT/calib.bin"
"$B" run --model "$OUT/resnet50.bemm" --ort "$OUT/ort.json" --seconds "$SECS" ${BENCH_TUNE_MS:+--tune-budget-ms "$BENCH_TUNE_MS"}
# The int8 rows: bemm's int8 kernels beside ONNX Runtime f32 and int8, same weights.
"$B" int8 --ort "$OUT/ort.json" --seconds "$SECS"
