"""PyTorch side of benches/train/gpu.sh and benches/train/cpu.sh
(CPU): training throughput of a ResNet (or the tiny test network) with a
12-band stem and 19 outputs on 120x120 patches, one step = forward, BCE with
logits, backward, Adam (lr 1e-3) -- the same step as `train_bench` on burn.

The batch is made once and kept on the device, as on the burn side. Prints
one JSON line per configuration (on `--device cpu` only fp32 runs):
  fp32      TF32 off everywhere (strict f32 arithmetic)
  tf32      PyTorch's default (TF32 tensor cores for convolutions)
  amp-bf16  torch.autocast(bfloat16), f32 master weights (mixed precision)
  amp-bf16-cl  the same with channels_last tensors (PyTorch's fastest path)

usage: torch_train_bench.py [--device cuda|cpu] [--threads N] [--arch resnet50|tiny|...]
                            [--batch 256] [--warmup 5] [--steps 20] [--max-seconds 60]
                            [--modes fp32,tf32,amp-bf16]
"""
import argparse, json, time, sys

import torch
import torch.nn as nn
import torchvision


class Tiny(nn.Module):
    """The trainer's tiny test network (trainer/src/model/tiny.rs): conv1 (s2,
    16) -> conv2 (s2, 32) -> residual block (two 3x3 convs, 32, ReLU after the
    add) -> conv3 (s2, 64) -> GAP -> fc; every conv without bias, with BN."""

    def __init__(self, classes=19):
        super().__init__()

        def cbn(i, o, s):
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o))

        self.conv1, self.conv2 = cbn(12, 16, 2), cbn(16, 32, 2)
        self.block1, self.block2 = cbn(32, 32, 1), cbn(32, 32, 1)
        self.conv3 = cbn(32, 64, 2)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        x = torch.relu(self.block2(torch.relu(self.block1(x))) + x)
        x = torch.relu(self.conv3(x))
        return self.fc(x.mean(dim=(2, 3)))


def make(arch: str) -> nn.Module:
    if arch == "tiny":
        return Tiny()
    net = getattr(torchvision.models, arch)(num_classes=19)
    if arch.startswith("resnet"):
        net.conv1 = nn.Conv2d(12, 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        raise SystemExit(f"--arch {arch}: only torchvision ResNets are wired here")
    return net


def run(args, mode: str) -> dict:
    strict = mode == "fp32"
    torch.backends.cudnn.allow_tf32 = not strict
    torch.backends.cuda.matmul.allow_tf32 = not strict
    torch.backends.cudnn.benchmark = True
    dev = torch.device(args.device)
    gpu = dev.type == "cuda"
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    torch.manual_seed(0)
    net = make(args.arch).to(dev)
    cl = mode.endswith("-cl")
    if cl:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.rand(args.batch, 12, 120, 120, device=dev) * 4 - 2
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = (torch.rand(args.batch, 19, device=dev) < 0.3).float()
    amp = mode.startswith("amp")

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

    t = time.perf_counter()
    step()
    sync()
    first = time.perf_counter() - t
    for _ in range(max(args.warmup - 1, 0)):
        step()
    sync()
    t = time.perf_counter()
    done = 0
    while done < args.steps:
        loss = step()
        done += 1
        if done % 5 == 0:
            sync()
            if time.perf_counter() - t > args.max_seconds:
                break
    sync()
    secs = time.perf_counter() - t
    return {
        "system": "pytorch", "torch": torch.__version__, "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if gpu else f"CPU, {torch.get_num_threads()} threads",
        "arch": args.arch, "batch": args.batch, "precision": mode, "steps": done, "seconds": secs,
        "step_ms": secs / done * 1e3, "patches_per_s": done * args.batch / secs,
        "first_step_s": first, "final_loss": float(loss.detach()), "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if gpu else None,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--max-seconds", type=float, default=60)
    p.add_argument("--modes", default=None, help="default: fp32,tf32,amp-bf16,amp-bf16-cl on cuda, fp32 on cpu")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.device == "cuda"
    if gpu and not torch.cuda.is_available():
        sys.exit("no usable CUDA GPU found: torch.cuda.is_available() is False")
    for mode in (args.modes or ("fp32,tf32,amp-bf16,amp-bf16-cl" if gpu else "fp32")).split(","):
        print(json.dumps(run(args, mode)), flush=True)
        if gpu:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()


if __name__ == "__main__":
    main()
