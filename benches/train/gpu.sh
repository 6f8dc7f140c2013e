#!/usr/bin/env bash
# burn-cuda (the bemm trainer's models) vs PyTorch: training throughput of
# ResNet50 (12 bands, 19 classes, 120x120) at batch 256 on one GPU, f32 and
# mixed precision, then `bemm demo --device cuda` as an end-to-end check of
# the real training and export path. Prints one table; see benches/README.md.
#
# Env: ARCH (resnet50), BATCH (256), STEPS (20 timed steps), BENCH_OUT
#      (target/bench-gpu), PYTHON (a python3 with torch + torchvision),
#      TRAIN_BENCH / BEMM (prebuilt binaries with a CUDA feature; built with
#      cargo when unset; TRAIN_BENCH may name several, e.g. a `cuda` and a
#      `cuda-base` build), BURN_PRECISIONS (f32 bf16), WARMUP (3),
#      BURN_MAX_SECONDS (60: timed steps stop after this), CUDA_CONVS
#      (`burn implicit-gemm`: each cuda-base build once with burn's own
#      convolution and once with BEMM_CUDA_CONV=implicit-gemm, see
#      trainer/src/model/conv/cuda.rs; a fused build refuses the second at
#      once), CUDA_FEATURE (cuda-base: no fusion or autotuning, first step
#      18 s for ResNet50 on an H200; cuda: burn's fusion and autotuning, whose
#      first ResNet50 step did not finish in 535 s there), SKIP_DEMO=1 to
#      leave out the end-to-end run.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-target/bench-gpu}
ARCH=${ARCH:-resnet50}; BATCH=${BATCH:-256}; STEPS=${STEPS:-20}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if [ -z "${TRAIN_BENCH:-}" ]; then
    cargo build --release -p bemm-benches --features "${CUDA_FEATURE:-cuda-base}" --bin train_bench || exit 1
    TRAIN_BENCH=target/release/train_bench
fi
if [ -z "${SKIP_DEMO:-}" ] && [ -z "${BEMM:-}" ]; then
    cargo build --release -p bemm-tools --features "${CUDA_FEATURE:-cuda-base}" --bin bemm || exit 1
    BEMM=target/release/bemm
fi
# cudarc loads the driver and NVRTC at run time: make a toolkit's or a pip
# wheel's libnvrtc findable if the loader does not already see one.
if ! ldconfig -p 2>/dev/null | grep -q libnvrtc; then
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $("$PY" -c 'import nvidia, os; [print(os.path.join(p, q, "lib")) for p in nvidia.__path__ for q in os.listdir(p)]' 2>/dev/null); do
        ls "$d"/libnvrtc.so* >/dev/null 2>&1 && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
    done
fi
R="$OUT/results.jsonl"; : > "$R"
LOCK="$OUT/gpu.lock"; rm -f "$OUT"/burn-*.json "$OUT"/burn-*.log
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"
# burn-cuda's first step compiles (and, with `cuda`, autotunes) its kernels:
# minutes on one host core while the GPU idles. So every burn configuration
# starts at once and compiles side by side; each then holds LOCK for its
# warm-up and timed steps, and PyTorch holds it for its whole run, so no two
# timed sections share the GPU.
pids=(); i=0
for tb in $TRAIN_BENCH; do
    i=$((i + 1))
    for conv in ${CUDA_CONVS:-burn implicit-gemm}; do
        for p in ${BURN_PRECISIONS:-f32 bf16}; do
            tag="burn-$i-$conv-$p"
            ( BEMM_CUDA_CONV=$conv timeout "${BURN_TIMEOUT:-600}" "$tb" --device cuda --arch "$ARCH" --batch "$BATCH" --precision "$p" \
                  --warmup "${WARMUP:-3}" --steps "$STEPS" --max-seconds "${BURN_MAX_SECONDS:-60}" --exclusive "$LOCK" --json \
                  > "$OUT/$tag.json" 2> "$OUT/$tag.log"
              echo "BEMM_CUDA_CONV=$conv $tb --precision $p: exit status $?" >> "$OUT/$tag.log" ) &
            pids+=($!)
        done
    done
done
echo "== PyTorch"
PYTHONUNBUFFERED=1 flock "$LOCK" timeout "${TORCH_TIMEOUT:-240}" "$PY" benches/train/torch_train_bench.py --arch "$ARCH" --batch "$BATCH" --steps "$STEPS" | tee -a "$R"
echo "== burn-cuda: waiting for ${#pids[@]} runs (BURN_TIMEOUT ${BURN_TIMEOUT:-600} s each)"
wait "${pids[@]}"
for f in "$OUT"/burn-*.log; do
    echo "-- $f"; cat "$f"
    cat "${f%.log}.json" >> "$R"
done
echo
"$PY" benches/train/compare.py "$R" | tee "$OUT/table.txt"
if [ -z "${SKIP_DEMO:-}" ]; then
    echo "== bemm demo --device cuda (synth -> ingest -> train -> export with engine check -> eval)"
    rm -rf "$OUT/demo"
    timeout "${DEMO_TIMEOUT:-300}" "$BEMM" demo --out "$OUT/demo" --device cuda --arch "${DEMO_ARCH:-resnet18}" \
        --pairs "${DEMO_PAIRS:-2000}" --epochs "${DEMO_EPOCHS:-3}" --batch-size "${DEMO_BATCH:-64}"
    echo "bemm demo exit status $?"
fi
