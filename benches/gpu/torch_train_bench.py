"""PyTorch side of benches/gpu/run.sh: training throughput of ResNet50 with a
12-band stem and 19 outputs on 120x120 patches, one step = forward, BCE with
logits, backward, Adam (lr 1e-3) -- the same step as `train_bench` on burn.

The batch is made once and kept on the GPU, as on the burn side. Prints one
JSON line per configuration:
  fp32      TF32 off everywhere (strict f32 arithmetic)
  tf32      PyTorch's default (TF32 tensor cores for convolutions)
  amp-bf16  torch.autocast(bfloat16), f32 master weights (mixed precision)
  amp-bf16-cl  the same with channels_last tensors (PyTorch's fastest path)

usage: torch_train_bench.py [--arch resnet50] [--batch 256] [--warmup 5]
                            [--steps 20] [--max-seconds 60] [--modes fp32,tf32,amp-bf16]
"""
import argparse, json, time, sys

import torch
import torch.nn as nn
import torchvision


def make(arch: str) -> nn.Module:
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
    dev = torch.device("cuda")
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
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

    t = time.perf_counter()
    step()
    torch.cuda.synchronize()
    first = time.perf_counter() - t
    for _ in range(max(args.warmup - 1, 0)):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    done = 0
    while done < args.steps:
        loss = step()
        done += 1
        if done % 5 == 0:
            torch.cuda.synchronize()
            if time.perf_counter() - t > args.max_seconds:
                break
    torch.cuda.synchronize()
    secs = time.perf_counter() - t
    return {
        "system": "pytorch", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
        "arch": args.arch, "batch": args.batch, "precision": mode, "steps": done, "seconds": secs,
        "step_ms": secs / done * 1e3, "patches_per_s": done * args.batch / secs,
        "first_step_s": first, "final_loss": float(loss), "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--max-seconds", type=float, default=60)
    p.add_argument("--modes", default="fp32,tf32,amp-bf16,amp-bf16-cl")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no usable CUDA GPU found: torch.cuda.is_available() is False")
    for mode in args.modes.split(","):
        print(json.dumps(run(args, mode)), flush=True)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


if __name__ == "__main__":
    main()
