#!/usr/bin/env bash
# Int8 accuracy of an imported ResNet50: PyTorch trains a torchvision
# ResNet50 (12-band stem, 19 classes) on a synthetic twin, `bemm import`
# turns its safetensors into an int8 model calibrated on the ingested twin's
# train split and prints the label agreement with the fp16 model and the
# sample-F2 change on its test split (the same check `bemm export` prints).
# Env: PAIRS (default 1500), EPOCHS (default 4), OUT (work dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-target/int8-import}
PAIRS=${PAIRS:-1500}
EPOCHS=${EPOCHS:-4}
VENV=benches/.venv-torch
mkdir -p "$OUT"
echo "CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import torch, torchvision, safetensors, tifffile' 2>/dev/null ||
  "$VENV/bin/pip" install -q torch torchvision safetensors tifffile numpy
cargo build --release -p bemm-tools --bin bemm
BEMM=${CARGO_TARGET_DIR:-target}/release/bemm
rm -rf "$OUT/twin" "$OUT/archive"
"$BEMM" synth --pairs "$PAIRS" --out "$OUT/twin"
"$BEMM" ingest --s2 "$OUT/twin/BigEarthNet-v1.0" --s1 "$OUT/twin/BigEarthNet-S1-v1.0" --splits "$OUT/twin" --out "$OUT/archive"
"$VENV/bin/python" benches/int8_import/train_resnet50.py "$OUT/twin" "$OUT/r50.safetensors" "$EPOCHS"
"$BEMM" import "$OUT/r50.safetensors" --arch resnet50 --out "$OUT/r50.bemm"
"$BEMM" import "$OUT/r50.safetensors" --arch resnet50 --out "$OUT/r50-int8.bemm" \
  --quantize int8 --calibrate "$OUT/archive"
ls -l "$OUT/r50.bemm" "$OUT/r50-int8.bemm"
