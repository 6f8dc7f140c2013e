#!/usr/bin/env bash
# Proves the cargo-fuzz targets of bemm-formats (the parsers, and the engine's
# inference on hostile models) build and run, on the stable
# toolchain, without installing cargo-fuzz.
#
# formats/fuzz is its own workspace (excluded from the main one). libfuzzer-sys
# compiles libFuzzer with the system C++ compiler and links it into each
# target, which works on stable. This build is not coverage-instrumented
# (cargo fuzz adds -Cpasses=sancov-module ... flags); it proves that every
# target compiles and links, then runs each briefly on random inputs as a
# smoke test. Real fuzzing: see formats/ARCHITECTURE.md ("Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/formats/fuzz/target}"
cargo build --manifest-path formats/fuzz/Cargo.toml --bins
targets="model_file patch_shard feature_archive manifest inference"
for t in $targets; do
  "$CARGO_TARGET_DIR/debug/$t" -runs=2000 -max_len=4096 -seed=1 2>&1 | tail -n 1
done
# Random bytes rarely make a model that opens, so `inference` also runs from
# its seed corpus (valid models with inputs) to reach planning and the layers.
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cargo run -q --manifest-path formats/fuzz/Cargo.toml --example seed_corpus -- "$seeds"
"$CARGO_TARGET_DIR/debug/inference" "$seeds/inference" -runs=1000 -max_len=65536 -seed=1 2>&1 | tail -n 1
echo "fuzz targets build and run: $targets"
