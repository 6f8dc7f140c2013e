#!/usr/bin/env bash
# Proves bemm-formats and bemm-engine build without std.
#
# No bare-metal target can be installed here (rustup cannot reach its dist
# server), so we build a `#![no_std]` staticlib for the host that links both
# crates with default features off and defines its own `#[panic_handler]`.
# If any dependency pulls in `std`, rustc fails with "duplicate lang item
# `panic_impl`" (std defines one too), so the check cannot pass silently.
# Where a real no_std target is installed (thumbv7em-none-eabihf), it builds
# for that as well.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --manifest-path .ci/nostd/Cargo.toml --release
if rustup target list --installed 2>/dev/null | grep -q thumbv7em-none-eabihf; then
  cargo build --manifest-path .ci/nostd/Cargo.toml --release --target thumbv7em-none-eabihf
fi
echo "no_std check passed"
