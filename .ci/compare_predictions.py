#!/usr/bin/env python3
"""Compare two outputs of engine/examples/c/predict.c.

compare_predictions.py WANT GOT --tol T [--kernel NAME]

Both must list the same classes, the same `labels` mask, probabilities
within T of each other (absolute) and `feature0` within T relative; with
--kernel, GOT must report `kernel NAME`. Exits 1 with the differences.
"""
import argparse
import sys


def parse(path):
    probs, other = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                probs[int(parts[0])] = float(parts[1])
            elif len(parts) == 2 and parts[0] in ("labels", "feature0", "kernel"):
                other[parts[0]] = parts[1]
    if not probs or "labels" not in other:
        sys.exit(f"{path}: no probabilities or no labels line")
    return probs, other


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("want")
    ap.add_argument("got")
    ap.add_argument("--tol", type=float, required=True)
    ap.add_argument("--kernel")
    a = ap.parse_args()
    (wp, wo), (gp, go) = parse(a.want), parse(a.got)
    errors = []
    if sorted(wp) != sorted(gp):
        errors.append(f"classes differ: {sorted(wp)} vs {sorted(gp)}")
    worst = max((abs(wp[j] - gp[j]) for j in wp if j in gp), default=0.0)
    if worst > a.tol:
        errors.append(f"probabilities differ by up to {worst:.3g} > {a.tol:g}")
    if wo["labels"] != go["labels"]:
        errors.append(f"labels {wo['labels']} vs {go['labels']}")
    if "feature0" in wo and "feature0" in go:
        fw, fg = float(wo["feature0"]), float(go["feature0"])
        if abs(fw - fg) > a.tol * max(1.0, abs(fw)):
            errors.append(f"feature0 {fw} vs {fg}")
    if a.kernel is not None and go.get("kernel") != a.kernel:
        errors.append(f"kernel {go.get('kernel')!r}, expected {a.kernel!r}")
    label = f"{a.got} vs {a.want}"
    if errors:
        print(f"{label}: " + "; ".join(errors))
        sys.exit(1)
    print(f"{label}: same labels {go['labels']}, probabilities within {worst:.3g}, kernel {go.get('kernel')}")


main()
