#!/usr/bin/env python3
"""Peer for ingest_bench: what a PyTorch user's BigEarthNet v1 pipeline does
per pair: read 12 band GeoTIFFs (tifffile), bicubic-resample the six 20 m
bands with torch.nn.functional.interpolate(mode="bicubic", align_corners=False),
normalise with the same statistics and convert to float16. JSON labels are
read too. No output is written (so it does strictly less than bemm ingest).

Usage: ingest_peer.py TWIN_DIR THREADS  ->  prints "pairs N" and "seconds S".
"""
import json
import os
import sys
import time

import numpy as np
import tifffile
import torch
import torch.nn.functional as F

BANDS = ["VV", "VH", "B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12"]
MEAN = [-12.619993741972035, -19.29044597721542, 429.9430203, 614.21682446, 590.23569706, 2218.94553375,
        950.68368468, 1792.46290469, 2075.46795189, 2266.46036911, 1594.42694882, 1009.32729131]
STD = [5.115911777546365, 5.464428464912864, 572.41639287, 582.87945694, 675.88746967, 1365.45589904,
       729.89827633, 1096.01480586, 1273.45393088, 1356.13789355, 1079.19066363, 818.86747235]


def main():
    twin, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    s1_root = os.path.join(twin, "BigEarthNet-S1-v1.0")
    s2_root = os.path.join(twin, "BigEarthNet-v1.0")
    names = sorted(os.listdir(s1_root))
    mean = torch.tensor(MEAN).view(12, 1, 1)
    std = torch.tensor(STD).view(12, 1, 1)
    t = time.perf_counter()
    for s1 in names:
        d1 = os.path.join(s1_root, s1)
        with open(os.path.join(d1, s1 + "_labels_metadata.json")) as f:
            s2 = json.load(f)["corresponding_s2_patch"]
        d2 = os.path.join(s2_root, s2)
        with open(os.path.join(d2, s2 + "_labels_metadata.json")) as f:
            json.load(f)["labels"]
        planes = []
        for b in BANDS:
            d, n = (d1, s1) if b in ("VV", "VH") else (d2, s2)
            x = torch.from_numpy(tifffile.imread(os.path.join(d, f"{n}_{b}.tif")).astype(np.float32))
            if x.shape[0] == 60:
                x = F.interpolate(x[None, None], size=(120, 120), mode="bicubic", align_corners=False)[0, 0]
            planes.append(x)
        _ = ((torch.stack(planes) - mean) / std).half()
    print("pairs", len(names))
    print("seconds", time.perf_counter() - t)


if __name__ == "__main__":
    main()
