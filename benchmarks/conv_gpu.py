"""course_lib.gpu.conv2d_layer (unfold + matmul) against F.conv2d (cuDNN on CUDA), same shapes.

    python benchmarks/conv_gpu.py            # on the best device there is (cuda, mps, cpu)
    python benchmarks/conv_gpu.py --quick    # fewer repeats

Prints, for the LeNet C1/C3 and AlexNet conv1/conv2/conv3 shapes at batch 8 (and 128 on a GPU),
the forward time of each and their ratio. Both run on the same device in the same process, in
float32 and bf16 (on CUDA). On a CPU-only machine it says so: the numbers then compare
two CPU implementations, not a GPU.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from course_lib import gpu

# name: (in_channels, out_channels, kernel, stride, padding, groups, input size)
SHAPES = {
    "LeNet C1": (1, 6, 5, 1, 0, 1, 32),
    "LeNet C3": (6, 16, 5, 1, 0, 1, 14),
    "AlexNet conv1": (3, 96, 11, 4, 0, 1, 227),
    "AlexNet conv2": (96, 256, 5, 1, 2, 2, 27),
    "AlexNet conv3": (256, 384, 3, 1, 1, 1, 13),
}


def timed(fn, device: torch.device, repeats: int) -> float:
    """Best-of-`repeats` seconds for one call; synchronises so GPU work is counted."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()
        elif device.type == "mps":
            torch.mps.synchronize()
    fn(); sync()  # warm-up (cuDNN autotuning, allocator)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(); sync()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    device = gpu.default_device()
    torch.manual_seed(0)
    repeats = 3 if args.quick else 10
    if device.type == "cpu":
        torch.set_num_threads(2)
        print("No GPU here: both columns run on the CPU (2 threads). "
              "Run this on a CUDA machine for the cuDNN comparison.")
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"
        print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else device}")
    dtypes = [torch.float32] + ([torch.bfloat16] if device.type == "cuda" else [])
    batches = [8] + ([128] if device.type != "cpu" else [])
    print(f"{'shape':<15}{'batch':>6}{'dtype':>10}{'gpu.conv2d_layer ms':>22}{'F.conv2d ms':>14}"
          f"{'ratio':>8}{'TFLOP/s (ours)':>16}")
    for name, (cin, cout, k, s, p, g, n) in SHAPES.items():
        for batch in batches:
            for dtype in dtypes:
                x = torch.randn(batch, cin, n, n, device=device, dtype=dtype)
                w = torch.randn(cout, cin // g, k, k, device=device, dtype=dtype)
                b = torch.randn(cout, device=device, dtype=dtype)
                with torch.no_grad():
                    ours = timed(lambda: gpu.conv2d_layer(x, w, b, stride=s, padding=p, groups=g),
                                 device, repeats)
                    ref = timed(lambda: F.conv2d(x, w, b, stride=s, padding=p, groups=g), device, repeats)
                out = gpu.conv_output_size(n, k, s, p)
                flops = 2 * batch * cout * out * out * (cin // g) * k * k
                print(f"{name:<15}{batch:>6}{str(dtype).split('.')[-1]:>10}{ours * 1e3:>22.3f}"
                      f"{ref * 1e3:>14.3f}{ours / ref:>8.2f}{flops / ours / 1e12:>16.3f}")


if __name__ == "__main__":
    main()
