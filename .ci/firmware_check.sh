#!/usr/bin/env bash
# Builds the firmware example (engine/examples/firmware): a `#![no_std]`
# staticlib that embeds a model with include_bytes!, keeps its scratch in a
# static buffer and has no allocator, with its own panic handler. As in
# no_std_check.sh, any `std` in the graph fails the build with a duplicate
# `panic_impl` lang item; where thumbv7em-none-eabihf is installed it is
# built for that target too.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --manifest-path engine/examples/firmware/Cargo.toml --release --lib
if rustup target list --installed 2>/dev/null | grep -q thumbv7em-none-eabihf; then
  cargo build --manifest-path engine/examples/firmware/Cargo.toml --release --lib --target thumbv7em-none-eabihf
fi
# The staticlib must export the firmware entry point.
lib=engine/examples/firmware/target/release/libbemm_firmware_example.a
if command -v nm >/dev/null; then
  syms=$(nm -g "$lib" 2>/dev/null || true)
  grep -q " T bemm_firmware_classify$" <<<"$syms" || { echo "bemm_firmware_classify missing from $lib"; exit 1; }
fi
echo "firmware example check passed"
