#!/usr/bin/env bash
# Engine speed on an Arm (or any) Linux machine: a Raspberry Pi 4/5, a
# Jetson, an edge computer. Run it on the machine itself from a checkout:
#
#   benches/arm/run.sh                 # ResNet50 12x120x120, 5 s per figure
#   benches/arm/run.sh --threads 4 --seconds 10
#   BEMM_KERNEL=neon benches/arm/run.sh --only fast   # f32 kernel on the fast path
#
# Builds `engine/examples/edge_bench.rs` (release, for the CPU it runs on:
# `-C target-cpu=native`, so the compiler's own loops use what the core has;
# the engine's kernels are chosen at run time either way) and prints batch-1
# latency on 1 and N threads, patches/s, the kernel each path uses, and the
# published ncnn ResNet50 figures for Cortex-A72/A76/A78AE beside them.
# Needs only Rust (rustup) and a C linker; nothing is downloaded besides
# crates. Close other work first: figures are as good as the machine is idle.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RUSTFLAGS="${RUSTFLAGS:-} -C target-cpu=native"
cargo build --release -q -p bemm-engine --example edge_bench
echo "engine $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)'), $(uname -srm)"
exec target/release/examples/edge_bench "$@"
