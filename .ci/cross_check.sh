#!/usr/bin/env bash
# The engine on the CPUs firmware runs on, under user-mode emulation:
#
# - aarch64 Linux under `qemu-aarch64 -cpu cortex-a72` (NEON, no FP16) and
#   `-cpu max` (NEON + FP16): the engine's unit tests and the layer, error
#   and kernel-pinning tests (every available kernel against the f64
#   reference and the scalar kernel; a kernel the CPU lacks is an error);
# - armv7 (hard-float, NEON) and riscv64 Linux: the unit tests and the
#   kernel-pinning test (portable kernels);
# - the C example, cross-built for aarch64 against the cross-built
#   staticlib, under both CPUs: same labels as the x86 build, probabilities
#   within 1e-4 on the exact path (the FP16 path on `max` within 3e-2), the
#   NEON kernel reported on its `kernel NAME` line, and
#   `BEMM_KERNEL=neon-fp16` on the Cortex-A72 a clear error (exit status 1
#   with the message), never SIGILL;
# - the kernels chosen on each emulated CPU (`edge_bench --kernels`):
#   neon-12x8 on both, neon-fp16-8x8 for the fast path on `max` only.
#
# Installs what it needs (apt: qemu-user and the cross C toolchains; rustup:
# the targets) and fails, never skips, when something cannot be built or run.
# Bare-metal thumbv7em is built by no_std_check.sh and firmware_check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
stamp() { echo "[cross +$(($(date +%s) - t0))s] $*"; }

stamp "tools: qemu-user, cross C compilers and libc, Rust targets"
pkgs=(qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf riscv64gc-unknown-linux-gnu

A64=aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf"
export CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER=riscv64-linux-gnu-gcc
export CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_RUNNER="qemu-riscv64 -L /usr/riscv64-linux-gnu"
# The C example's staticlib is built by a nested cargo; keep its flags plain.
unset RUSTFLAGS

# The unit tests, the kernel-pinning and error tests, and the layer tests
# that cover every GEMM path (im2col, pointwise, Winograd, linear, fused
# residuals) in seconds each under emulation; the slowest layer tests (large
# maps against the f64 reference) and the network tests stay with the
# native run.
a64_layers=(conv_random_shapes_strides_paddings pointwise_conv_over_activation linear_over_flattened_chw
  simd_kernels_match_scalar_closely winograd_3x3_matches_reference_and_direct
  residual_adds_fused_into_convolutions_match_reference_in_any_batch_and_split)
for cpu in cortex-a72 max; do
  stamp "aarch64 tests under qemu-aarch64 -cpu $cpu"
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -cpu $cpu -L /usr/aarch64-linux-gnu"
  cargo test -p bemm-engine --target $A64 --lib --test errors --test kernel_pin -- --test-threads=2
  cargo test -p bemm-engine --target $A64 --test layers -- --test-threads=2 "${a64_layers[@]}"
done
# The FP16 path's labels against the exact path's (on the Cortex-A72 both
# paths run neon-12x8).
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu" \
  cargo test -p bemm-engine --target $A64 --test fast_decisions
unset CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER

stamp "armv7 tests under qemu-arm"
cargo test -p bemm-engine --target armv7-unknown-linux-gnueabihf --lib --test kernel_pin -- --test-threads=2
stamp "riscv64 tests under qemu-riscv64"
cargo test -p bemm-engine --target riscv64gc-unknown-linux-gnu --lib --test kernel_pin -- --test-threads=2

stamp "C example: x86-64 and aarch64 builds against the engine's staticlib"
tgt=${CARGO_TARGET_DIR:-target}
work=$tgt/cross-check
mkdir -p "$work"
# The dev profile compiles the engine at opt-level 3 (workspace Cargo.toml).
cargo rustc -p bemm-engine --lib --features capi --crate-type staticlib
cargo rustc -p bemm-engine --lib --features capi --crate-type staticlib --target $A64
cc -std=c11 -O2 -Wall -Werror -I engine/include engine/examples/c/predict.c "$tgt/debug/libbemm_engine.a" \
  -lpthread -ldl -lm -o "$work/predict-x86_64"
aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Werror -I engine/include engine/examples/c/predict.c \
  "$tgt/$A64/debug/libbemm_engine.a" -lpthread -ldl -lm -o "$work/predict-aarch64"
cargo run -q -p bemm-engine --example c_fixture -- "$work"

stamp "kernel choice on each emulated CPU"
cargo build -q -p bemm-engine --example edge_bench --target $A64
bench_a64=$tgt/$A64/debug/examples/edge_bench
expect_kernels() {
  local cpu=$1 want=$2 got
  got=$(qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu "$bench_a64" --kernels | tr '\n' ' ')
  [ "$got" = "$want" ] || { echo "-cpu $cpu: kernels '$got', expected '$want'"; exit 1; }
  echo "-cpu $cpu: $got"
}
expect_kernels cortex-a72 "kernel exact neon-12x8 kernel fast neon-12x8 "
expect_kernels max "kernel exact neon-12x8 kernel fast neon-fp16-8x8 "

a64_predict() {
  local cpu=$1
  shift
  qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu "$work/predict-aarch64" "$@"
}
"$work/predict-x86_64" "$work/model.bemm" "$work/patch.f32" >"$work/x86_64.txt"
for cpu in cortex-a72 max; do
  a64_predict $cpu "$work/model.bemm" "$work/patch.f32" >"$work/a64-$cpu.txt"
  python3 .ci/compare_predictions.py "$work/x86_64.txt" "$work/a64-$cpu.txt" --tol 1e-4 --kernel neon-12x8
done
stamp "C example: the FP16 fast path under -cpu max"
BEMM_KERNEL=neon-fp16 a64_predict max "$work/model.bemm" "$work/patch.f32" >"$work/a64-max-fp16.txt"
python3 .ci/compare_predictions.py "$work/x86_64.txt" "$work/a64-max-fp16.txt" --tol 3e-2 --kernel neon-fp16-8x8

stamp "C example: forcing neon-fp16 on a Cortex-A72 is an error, not SIGILL"
set +e
BEMM_KERNEL=neon-fp16 a64_predict cortex-a72 "$work/model.bemm" "$work/patch.f32" >"$work/forced.txt" 2>"$work/forced.err"
rc=$?
set -e
cat "$work/forced.err"
if [ $rc -ne 1 ]; then
  echo "forcing neon-fp16 on cortex-a72: exit status $rc, expected 1 (132 would be SIGILL)"
  exit 1
fi
grep -q "neon-fp16" "$work/forced.err" && grep -q "fp16" "$work/forced.err" \
  || { echo "forcing neon-fp16 on cortex-a72: the error does not name the kernel and the missing feature"; exit 1; }

stamp "cross check passed"
