"""MTM throughput and peak memory: encoders x input sizes x faithful / improved execution settings.

    python -m benchmarks.mtm_speed                                   # CPU-sized defaults (minutes)
    python -m benchmarks.mtm_speed --sizes 512 1024 --encoders r18 r34 r50 --batch 8 --steps 10   # a GPU

Each configuration runs in its own process (fresh memory peak, no compile cache shared) and reports
inference and training images/s and peak memory (GPU: ``torch.cuda.max_memory_allocated``; CPU: the
process's peak resident set, which includes the ~0.4 GB of Python + torch; inference is measured
before training, so the training peak includes it). Variants:

    faithful       model=mtm_faithful's network, fp32, NCHW
    improved       model=mtm's network (attention on features, mask guidance, residual head, mask residual), fp32
    channels_last  improved + NHWC memory format
    bf16           improved + channels_last + bfloat16 autocast
    compile        improved + channels_last + bf16 + torch.compile
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone

import torch

from iosm.models.encoder import build_resnet_encoder
from iosm.models.mtm import MTMNet

ENCODERS = {
    "r18": {"depths": [2, 2, 2, 2], "hidden_sizes": [64, 128, 256, 512], "layer_type": "basic"},
    "r34": {"depths": [3, 4, 6, 3], "hidden_sizes": [64, 128, 256, 512], "layer_type": "basic"},
    "r50": {"depths": [3, 4, 6, 3], "hidden_sizes": [256, 512, 1024, 2048], "layer_type": "bottleneck"},
}
IMPROVED = {"attention": "mask_features", "mask_guidance": True, "head_residual": True, "mask_residual": True}
VARIANTS = {  # network switches, channels_last, bf16, compile
    "faithful": ({}, False, False, False),
    "improved": (IMPROVED, False, False, False),
    "channels_last": (IMPROVED, True, False, False),
    "bf16": (IMPROVED, True, True, False),
    "compile": (IMPROVED, True, True, True),
}


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def measure(encoder: str, variant: str, size: int, batch: int, steps: int, device: torch.device) -> dict:
    """Inference and training images/s and peak memory of one configuration."""
    switches, channels_last, bf16, compile_net = VARIANTS[variant]
    torch.manual_seed(0)
    net = MTMNet(encoder=build_resnet_encoder(**ENCODERS[encoder]), **switches).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    if compile_net:
        net.compile()
    image = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=memory_format)
    mask = (torch.rand(batch, 1, size, size, device=device) > 0.5).float().contiguous(memory_format=memory_format)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed(step, count: int) -> float:
        step()  # warm-up (and compilation)
        sync()
        started = time.perf_counter()
        for _ in range(count):
            step()
        sync()
        return count * batch / (time.perf_counter() - started)

    def infer() -> None:
        with torch.inference_mode(), autocast:
            net(image, mask)

    def train() -> None:
        with autocast:
            loss = (net(image, mask).float() - mask).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    net.eval()
    infer_rate = timed(infer, steps)
    infer_peak = peak_memory_mb(device)
    net.train()
    train_rate = timed(train, steps)
    return {"encoder": encoder, "variant": variant, "size": size, "batch": batch,
            "infer_img_s": infer_rate, "infer_peak_mb": infer_peak,
            "train_img_s": train_rate, "train_peak_mb": peak_memory_mb(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=list(ENCODERS))
    parser.add_argument("--variants", nargs="+", default=["faithful", "improved", "channels_last", "bf16"],
                        choices=list(VARIANTS))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)  # internal: one configuration
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.single:
        encoder, variant, size = args.single.split(",")
        print(json.dumps(measure(encoder, variant, int(size), args.batch, args.steps, device)))
        return

    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads), torch {torch.__version__}, batch {args.batch}, "
          f"{args.steps} timed steps, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| encoder | size | variant | infer img/s | infer peak MB | train img/s | train peak MB |")
    print("|---|---|---|---|---|---|---|")
    for encoder in args.encoders:
        for size in args.sizes:
            for variant in args.variants:
                command = [sys.executable, __file__, "--single", f"{encoder},{variant},{size}", "--batch",
                           str(args.batch), "--steps", str(args.steps), "--device", args.device]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
                    print(f"| {encoder} | {size} | {variant} | failed: {reason[:120]} | | | |", flush=True)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"| {encoder} | {size} | {variant} | {row['infer_img_s']:.3g} | {row['infer_peak_mb']:.0f} | "
                      f"{row['train_img_s']:.3g} | {row['train_peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
