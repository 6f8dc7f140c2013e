"""Train a torchvision ResNet50 (12-band stem, 19 outputs) with PyTorch on a
synthetic twin written by `bemm synth`, and save its state dict as
safetensors for `bemm import`: the "imported ResNet50" whose int8 accuracy
`benches/int8_import/run.sh` reports. Bands in bemm's order (VV VH B02 B03
B04 B08 B05 B06 B07 B8A B11 B12), BigEarthNet mean/std, 20 m and 60 m
bands upsampled bicubically as `bemm ingest` does (the loader is
`benches/synth_learnability.py`'s).

Usage: train_resnet50.py TWIN_DIR OUT.safetensors [EPOCHS]
"""
import os
import sys
import time

import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from synth_learnability import f2, load, train  # noqa: E402


def main():
    twin, out = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    torch.manual_seed(0)
    t = time.time()
    xtr, ytr = load(twin, "train.csv")
    xte, yte = load(twin, "test.csv")
    print(f"loaded {len(xtr)} train / {len(xte)} test pairs in {time.time() - t:.0f} s", flush=True)
    model = torchvision.models.resnet50(num_classes=19)
    model.conv1 = nn.Conv2d(12, 64, 7, 2, 3, bias=False)
    t = time.time()
    model.train()
    train(model, xtr, ytr, epochs, lr=1e-3, bs=16)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([(torch.sigmoid(model(xte[i:i + 64])) > 0.5).float() for i in range(0, len(xte), 64)])
    print(f"PyTorch ResNet50: test sample-F2 {f2(pred, yte):.3f} after {epochs} epochs ({time.time() - t:.0f} s)")
    sd = {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(sd, out)
    print(f"wrote {out}: {len(sd)} tensors")


if __name__ == "__main__":
    main()
