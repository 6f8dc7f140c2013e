#!/usr/bin/env python3
"""Is the synthetic twin learnable, and not trivially? Trains a tiny CNN and,
as the "trivial rule" baseline, a linear model on per-band patch means, on a
twin written by `bemm synth`, and prints test sample-F2 for both.

Usage: synth_learnability.py TWIN_DIR [EPOCHS]   (needs torch, tifffile, numpy)
"""
import json
import os
import sys
import time

import numpy as np
import tifffile
import torch
import torch.nn as nn
import torch.nn.functional as F

BANDS = ["VV", "VH", "B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12"]
MEAN = np.array([-12.62, -19.29, 429.9, 614.2, 590.2, 2218.9, 950.7, 1792.5, 2075.5, 2266.5, 1594.4, 1009.3], np.float32)
STD = np.array([5.12, 5.46, 572.4, 582.9, 675.9, 1365.5, 729.9, 1096.0, 1273.5, 1356.1, 1079.2, 818.9], np.float32)
# 43 -> 19 mapping (REFERENCE.md), by CLC index.
CLC = ["Continuous urban fabric", "Discontinuous urban fabric", "Industrial or commercial units", "Road and rail networks and associated land", "Port areas", "Airports", "Mineral extraction sites", "Dump sites", "Construction sites", "Green urban areas", "Sport and leisure facilities", "Non-irrigated arable land", "Permanently irrigated land", "Rice fields", "Vineyards", "Fruit trees and berry plantations", "Olive groves", "Pastures", "Annual crops associated with permanent crops", "Complex cultivation patterns", "Land principally occupied by agriculture, with significant areas of natural vegetation", "Agro-forestry areas", "Broad-leaved forest", "Coniferous forest", "Mixed forest", "Natural grassland", "Moors and heathland", "Sclerophyllous vegetation", "Transitional woodland/shrub", "Beaches, dunes, sands", "Bare rock", "Sparsely vegetated areas", "Burnt areas", "Inland marshes", "Peatbogs", "Salt marshes", "Salines", "Intertidal flats", "Water courses", "Water bodies", "Coastal lagoons", "Estuaries", "Sea and ocean"]
MAP = [0, 0, 1, None, None, None, None, None, None, None, None, 2, 2, 2, 3, 3, 3, 4, 3, 5, 6, 7, 8, 9, 10, 11, 12, 12, 13, 14, None, 11, None, 15, 15, 16, 16, None, 17, 17, 18, 18, 18]


def load(twin, split_file):
    xs, ys = [], []
    for line in open(os.path.join(twin, split_file)):
        s2, s1 = line.strip().split(",")
        d1, d2 = os.path.join(twin, "BigEarthNet-S1-v1.0", s1), os.path.join(twin, "BigEarthNet-v1.0", s2)
        y = np.zeros(19, np.float32)
        for l in json.load(open(os.path.join(d2, s2 + "_labels_metadata.json")))["labels"]:
            m = MAP[CLC.index(l)]
            if m is not None:
                y[m] = 1
        planes = []
        for b in BANDS:
            d, n = (d1, s1) if b in ("VV", "VH") else (d2, s2)
            x = torch.from_numpy(tifffile.imread(os.path.join(d, f"{n}_{b}.tif")).astype(np.float32))
            if x.shape[0] == 60:
                x = F.interpolate(x[None, None], size=(120, 120), mode="bicubic", align_corners=False)[0, 0]
            planes.append(x.numpy())
        xs.append((np.stack(planes) - MEAN[:, None, None]) / STD[:, None, None])
        ys.append(y)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def f2(pred, y):
    tp = (pred * y).sum(1)
    p = tp / pred.sum(1).clamp(min=1)
    r = tp / y.sum(1)
    f = torch.where(tp > 0, 5 * p * r / (4 * p + r).clamp(min=1e-9), torch.zeros_like(tp))
    return f.mean().item()


def train(model, x, y, epochs, lr=2e-3, bs=32):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            loss = F.binary_cross_entropy_with_logits(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(12, 32, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.fc = nn.Linear(128, 19)

    def forward(self, x):
        x = F.relu(self.c3(F.relu(self.c2(F.relu(self.c1(x))))))
        return self.fc(torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1))


class MeanLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 19)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def main():
    twin = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.manual_seed(0)
    t = time.time()
    xtr, ytr = load(twin, "train.csv")
    xte, yte = load(twin, "test.csv")
    print(f"loaded {len(xtr)} train / {len(xte)} test pairs in {time.time() - t:.0f} s")
    for name, model, ep in [("per-band means + linear (trivial rule)", MeanLinear(), epochs * 4), ("tiny CNN (3 conv)", Tiny(), epochs)]:
        t = time.time()
        train(model, xtr, ytr, ep)
        with torch.no_grad():
            pred = (torch.sigmoid(model(xte)) > 0.5).float()
        print(f"{name}: test sample-F2 {f2(pred, yte):.3f} after {ep} epochs ({time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
