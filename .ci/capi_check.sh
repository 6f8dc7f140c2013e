#!/usr/bin/env bash
# The C interface driven from C: engine/tests/c/misuse.c (every misuse case
# of engine/include/bemm.h's contract) compiled with -fsanitize=address,undefined
# against the engine's staticlib, built twice: debug (Rust's debug assertions
# and undefined-behaviour precondition checks on, so a slice made from a bad
# length aborts instead of passing silently) and release (what firmware
# links). The model it loads comes from the c_tiny_model example. A missing
# C compiler or sanitizer runtime is installed with apt-get when possible,
# otherwise the check fails; it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
sanitizers_work() {
  printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
  cc "${san[@]}" "$tmp/probe.c" -o "$tmp/probe" 2>"$tmp/probe.err" && "$tmp/probe"
}
if ! command -v cc >/dev/null || ! sanitizers_work; then
  echo "capi_check: no C compiler with ASan/UBSan runtimes; installing gcc"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
  fi
  if ! command -v cc >/dev/null || ! sanitizers_work; then
    echo "capi_check: FAILED: cc with -fsanitize=address,undefined does not work:" >&2
    cat "$tmp/probe.err" >&2 2>/dev/null || true
    exit 1
  fi
fi

cargo run -q -p bemm-engine --example c_tiny_model -- "$tmp/tiny.bemm"

# Its own target directory: `--crate-type staticlib` with the capi feature
# must not invalidate the workspace's cached engine builds.
libdir="$target/capi-check"
for profile in debug release; do
  flag=()
  [ "$profile" = release ] && flag=(--release)
  cargo rustc -q -p bemm-engine --lib "${flag[@]}" --features capi --crate-type staticlib --target-dir "$libdir"
  lib="$libdir/$profile/libbemm_engine.a"
  cc -std=c11 -g -O1 -Wall -Wextra -Werror "${san[@]}" -I engine/include engine/tests/c/misuse.c "$lib" \
    -lpthread -ldl -lm -o "$tmp/misuse-$profile"
  echo "capi_check: misuse.c against the $profile staticlib"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$tmp/misuse-$profile" "$tmp/tiny.bemm" | tee "$tmp/out-$profile.txt"
  grep -q "^misuse: [0-9]* checks passed$" "$tmp/out-$profile.txt"
done
echo "capi check passed"
