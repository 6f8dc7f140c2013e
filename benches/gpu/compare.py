"""Print the burn vs PyTorch training-throughput table from the JSON lines
written by train_bench (burn) and torch_train_bench.py (PyTorch).

usage: compare.py RESULTS.jsonl
Rows pair burn f32 with PyTorch fp32 (strict) and tf32 (its default), and
burn bf16 with PyTorch's autocast bf16 (NCHW and channels_last)."""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
burn = {r["precision"]: r for r in rows if r["system"] == "burn"}
torch = {r["precision"]: r for r in rows if r["system"] == "pytorch"}
gpu = next((r["gpu"] for r in torch.values()), "?")
arch = next((r["arch"] for r in rows), "?")
batch = next((r["batch"] for r in rows), "?")
print(f"training throughput, {arch}, batch {batch}, 12x120x120 -> 19, on {gpu}")
print(f"{'burn':>10} {'patches/s':>10} {'first s':>8} | {'pytorch':>12} {'patches/s':>10} {'first s':>8} | {'burn/pytorch':>12}")
for b, t in [("f32", "fp32"), ("f32", "tf32"), ("bf16", "amp-bf16"), ("bf16", "amp-bf16-cl"), ("f16", "amp-bf16")]:
    if b in burn and t in torch:
        rb, rt = burn[b], torch[t]
        print(f"{b:>10} {rb['patches_per_s']:10.1f} {rb['first_step_s']:8.1f} | {t:>12} {rt['patches_per_s']:10.1f} {rt['first_step_s']:8.1f} | {rb['patches_per_s'] / rt['patches_per_s']:11.2f}x")
missing = [k for k in ("f32", "bf16") if k not in burn]
if missing:
    print(f"burn configurations with no result: {', '.join(missing)} (see the log)")
