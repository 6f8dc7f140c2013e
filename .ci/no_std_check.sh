#!/usr/bin/env bash
# Proves bemm-formats and bemm-engine build without std.
#
# A `#![no_std]` staticlib that links both crates with default features off
# and defines its own `#[panic_handler]` is built for the host and for the
# bare-metal Cortex-M7 target thumbv7em-none-eabihf (installed here with
# rustup; a target that cannot be installed or built fails the check). If
# any dependency pulls in `std`, rustc fails with "duplicate lang item
# `panic_impl`" on the host, and the bare-metal target has no `std` at all.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --manifest-path .ci/nostd/Cargo.toml --release
rustup target add thumbv7em-none-eabihf
cargo build --manifest-path .ci/nostd/Cargo.toml --release --target thumbv7em-none-eabihf
echo "no_std check passed"
