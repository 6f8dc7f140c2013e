#!/usr/bin/env bash
# Builds the firmware example (engine/examples/firmware): a `#![no_std]`
# staticlib that embeds a model with include_bytes!, keeps its scratch in a
# static buffer and has no allocator, with its own panic handler. As in
# no_std_check.sh, any `std` in the graph fails the build with a duplicate
# `panic_impl` lang item. It is built for the Cortex-M7 target
# thumbv7em-none-eabihf too (installed here with rustup; failing to install
# or build fails the check), and the flash and RAM the embedded model needs
# there are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --manifest-path engine/examples/firmware/Cargo.toml --release --lib
rustup target add thumbv7em-none-eabihf
cargo build --manifest-path engine/examples/firmware/Cargo.toml --release --lib --target thumbv7em-none-eabihf
# The newest build script output of the thumbv7em build: the embedded model
# (flash) and the scratch constant (static RAM, .bss).
tdir=${CARGO_TARGET_DIR:-engine/examples/firmware/target}
out=$(ls -td "$tdir"/thumbv7em-none-eabihf/release/build/bemm-firmware-example-*/out | head -1)
model_bytes=$(wc -c <"$out/model.bemm")
scratch_len=$(sed -n 's/^pub const SCRATCH_LEN: usize = \([0-9]*\);$/\1/p' "$out/model_consts.rs")
[ -n "$scratch_len" ] || { echo "SCRATCH_LEN missing from $out/model_consts.rs"; exit 1; }
echo "thumbv7em-none-eabihf: model $model_bytes bytes of flash, scratch $((scratch_len * 4)) bytes of RAM" \
  "(static, GEMM blocks 64x64)"
# The staticlib must export the firmware entry point.
lib=$tdir/release/libbemm_firmware_example.a
if command -v nm >/dev/null; then
  syms=$(nm -g "$lib" 2>/dev/null || true)
  grep -q " T bemm_firmware_classify$" <<<"$syms" || { echo "bemm_firmware_classify missing from $lib"; exit 1; }
fi
echo "firmware example check passed"
