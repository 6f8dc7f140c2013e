#!/usr/bin/env python3
"""Read a bemm patch shard and feature archive with numpy alone, from the
offsets in formats/SPEC.md (no bemm code). Prints JSON for the Rust test
`numpy_memmap` to compare against what it wrote.

usage: memmap_archive.py SHARD FEATURES
"""
import json
import sys

import numpy as np

# One 144-byte per-patch record (SPEC.md, "Patch record").
RECORD = np.dtype([
    ("s2_name", "S64"), ("s1_name", "S64"),       # UTF-8, NUL-padded
    ("labels43", "<u8"), ("labels19", "<u4"),     # bit i = class i
    ("split", "u1"), ("flags", "u1"), ("reserved", "u1", 2),
])


def open_shard(path):
    h = np.fromfile(path, dtype=np.uint8, count=512)
    assert h[:8].tobytes() == b"BEMPATCH", "not a bemm patch shard"
    u32 = lambda o: int(h[o:o + 4].view("<u4")[0])
    u64 = lambda o: int(h[o:o + 8].view("<u8")[0])
    count, c, hh, w = u64(16), u32(24), u32(28), u32(32)
    tensors_offset, stride, records_offset = u64(40), u64(48), u64(56)
    bands = [h[64 + 8 * i:72 + 8 * i].tobytes().rstrip(b"\0").decode() for i in range(c)]
    mean = h[192:192 + 8 * c].view("<f8")
    std = h[320:320 + 8 * c].view("<f8")
    # Each patch is C*H*W f16 values (CHW), padded to `stride` bytes.
    rows = np.memmap(path, dtype="<f2", mode="r", offset=tensors_offset, shape=(count, stride // 2))
    patches = rows[:, :c * hh * w].reshape(count, c, hh, w)
    records = np.memmap(path, dtype=RECORD, mode="r", offset=records_offset, shape=(count,))
    return patches, records, bands, mean, std


def open_features(path):
    h = np.fromfile(path, dtype=np.uint8, count=128)
    assert h[:8].tobytes() == b"BEMFEATS", "not a bemm feature archive"
    u32 = lambda o: int(h[o:o + 4].view("<u4")[0])
    u64 = lambda o: int(h[o:o + 8].view("<u8")[0])
    count, dim, stride = u64(16), u32(24), u64(32)
    vectors_offset, records_offset = u64(40), u64(48)
    rows = np.memmap(path, dtype="<f2", mode="r", offset=vectors_offset, shape=(count, stride // 2))
    records = np.memmap(path, dtype=RECORD, mode="r", offset=records_offset, shape=(count,))
    return rows[:, :dim], records


def records_json(records):
    return [{
        "s2": r["s2_name"].decode(), "s1": r["s1_name"].decode(),
        "labels43": int(r["labels43"]), "labels19": int(r["labels19"]),
        "split": int(r["split"]), "flags": int(r["flags"]),
    } for r in records]


def main():
    patches, precs, bands, mean, std = open_shard(sys.argv[1])
    vectors, frecs = open_features(sys.argv[2])
    n, c, hh, w = patches.shape
    probes = [(0, 0, 0), (c - 1, hh - 1, w - 1), (c // 2, hh // 3, w // 5)]
    out = {
        "shape": [n, c, hh, w],
        "bands": bands,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "patch_sums": [float(p.astype(np.float64).sum()) for p in patches],
        "probes": [[float(p[ci, y, x]) for (ci, y, x) in probes] for p in patches],
        "probe_positions": probes,
        "records": records_json(precs),
        "features": vectors.astype(np.float64).tolist(),
        "feature_records": records_json(frecs),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
