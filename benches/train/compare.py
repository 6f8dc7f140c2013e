"""Print the burn vs PyTorch training-throughput table from the JSON lines
written by train_bench (burn) and torch_train_bench.py (PyTorch).

usage: compare.py RESULTS.jsonl
One block per (architecture, batch). Rows pair burn f32 with PyTorch fp32
(strict) and tf32 (its GPU default), and burn bf16 with PyTorch's autocast
bf16 (NCHW and channels_last); pairs with no result on either side are left
out and named at the end."""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
groups = []
for r in rows:
    key = (r["arch"], r["batch"])
    if key not in groups:
        groups.append(key)
missing = []
for arch, batch in groups:
    here = [r for r in rows if (r["arch"], r["batch"]) == (arch, batch)]
    # One burn row per (precision, kernels): a run may hold both CUDA builds.
    burn = {}
    for r in here:
        if r["system"] == "burn":
            burn.setdefault(r["precision"], []).append(r)
    torch = {r["precision"]: r for r in here if r["system"] == "pytorch"}
    where = next((r["gpu"] for r in torch.values()), "?")
    print(f"training throughput, {arch}, batch {batch}, 12x120x120 -> 19, on {where}")
    print(f"{'burn':>36} {'patches/s':>10} {'first s':>8} | {'pytorch':>12} {'patches/s':>10} {'first s':>8} | {'burn/pytorch':>12}")
    for b, t in [("f32", "fp32"), ("f32", "tf32"), ("bf16", "amp-bf16"), ("bf16", "amp-bf16-cl"), ("f16", "amp-bf16")]:
        if b in burn and t in torch:
            rt = torch[t]
            for rb in burn[b]:
                label = f"{b} ({rb.get('kernels', '?')})"
                print(f"{label:>36} {rb['patches_per_s']:10.1f} {rb['first_step_s']:8.1f} | {t:>12} {rt['patches_per_s']:10.1f} {rt['first_step_s']:8.1f} | {rb['patches_per_s'] / rt['patches_per_s']:11.3f}x")
    print()
    # On the CPU only f32 is measured.
    on_gpu = any(r.get("device", "cuda") != "cpu" for r in torch.values())
    missing += [f"burn {k} ({arch}, batch {batch})" for k in (("f32", "bf16") if on_gpu else ("f32",)) if k not in burn]
if missing:
    print(f"configurations with no burn result: {', '.join(missing)} (see the log)")
