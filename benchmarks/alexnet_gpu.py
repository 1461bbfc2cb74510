"""AlexNet training on a GPU: throughput, achieved TFLOP/s, and time to accuracy.

Claim (issue 6): at least 20,000 training images/s on an H100 at batch 256.

1. Throughput. The network is ``AlexNet("2012")`` — Krizhevsky et al.'s two-tower net with
   groups=2, LRN and dropout — at its own input size, 227×227 (the paper's "224" gives
   fractional conv1 positions; torchvision pads 224 by 2 instead, the same amount of work
   within ~3 %). Batch 256, synthetic random images and labels already on the GPU, SGD with
   momentum; one step = forward + backward + update. Compared: fp32 eager (torch defaults:
   cuDNN may use TF32 for convolutions), bf16 autocast + channels_last, and the same plus
   ``torch.compile``.

2. Achieved TFLOP/s = images/s × 3 × M × 2 / 1e12, where M is the forward multiply-adds per
   image from ``course_lib.size.from_torch`` (about 0.72 G); training costs about 3 forward
   passes (forward, gradient w.r.t. activations, gradient w.r.t. weights) and a
   multiply-add is 2 FLOPs.

3. Time to accuracy: ``course_lib.train.fit`` (which uses bf16 + channels_last on CUDA) trains
   ``AlexNet("small")`` on 32×32 images from ``course_lib.data.synthetic_shapes`` — 20,000
   images, 61 MB as uint8, generated on the machine, so nothing has to be carried to it —
   with a one-cycle schedule (peak lr 0.01) over ``--epochs`` epochs (batch 256); reported: the wall time
   (training + per-epoch validation) until the validation accuracy first reaches the target.

Without a GPU the script still runs, in a tiny configuration (small batch, a few steps, a
small training set) and says so: those numbers test the code path, not the claim.

Run: ``.venv/bin/python benchmarks/alexnet_gpu.py [--no-compile] [--target 0.9]``
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from course_lib.data import synthetic_shapes
from course_lib.models import AlexNet
from course_lib.size import from_torch
from course_lib.train import fit, pick_device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(device: torch.device, batch: int, steps: int, warmup: int, *, bf16: bool,
               channels_last: bool, compile: bool) -> float:
    """Training images per second of AlexNet("2012") on random data (already on the device)."""
    torch.manual_seed(0)
    model = AlexNet("2012").to(device)
    x = torch.randn(batch, *model.input_shape, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def step() -> None:
        with autocast:
            loss = F.cross_entropy(step_model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):   # cuDNN autotuning, compilation, allocator warm-up
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return batch * steps / (time.perf_counter() - start)


def time_to_accuracy(device: torch.device, n_train: int, epochs: int, batch: int, lr: float,
                     target: float, progress: bool) -> None:
    images, labels = synthetic_shapes(n_train + 2000, image_size=32, seed=0)
    x = torch.from_numpy(images).float().div_(255)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    x = (x - mean) / std
    y = torch.from_numpy(labels).long()
    train, val = (x[2000:], y[2000:]), (x[:2000], y[:2000])
    print(f"time to accuracy: AlexNet('small', 32) on synthetic_shapes, {n_train} train / 2000 val "
          f"images ({images.nbytes / 2**20:.0f} MiB as uint8), target val accuracy {target}")
    torch.manual_seed(0)
    model = AlexNet("small", input_size=32)
    # No torch.compile here: for a 1.8 M-parameter net its compile time would dominate.
    history = fit(model, train, val, epochs=epochs, batch_size=batch, lr=lr, momentum=0.9,
                  weight_decay=5e-4, schedule="onecycle", device=device, progress=progress)
    elapsed = 0.0
    for epoch, acc, seconds in zip(history.epoch, history.val_acc, history.seconds):
        elapsed += seconds
        print(f"  epoch {epoch}: val accuracy {acc:.4f}, {elapsed:.1f} s so far")
        if acc >= target:
            print(f"alexnet_small time_to_accuracy={target} seconds={elapsed:.1f} epochs={epoch}")
            return
    print(f"alexnet_small did NOT reach {target} in {epochs} epochs "
          f"(best {max(history.val_acc):.4f}, {elapsed:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile runs")
    parser.add_argument("--target", type=float, default=0.9, help="validation accuracy to reach")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the time-to-accuracy run")
    args = parser.parse_args()

    device = pick_device()
    gpu = device.type == "cuda"
    if gpu:
        name = torch.cuda.get_device_name()
        batch, steps, warmup, n_train = 256, 30, 10, 18000
        torch.backends.cudnn.benchmark = True
        print(f"device: {name}; torch {torch.__version__}; batch {batch}, 227×227, {steps} timed steps")
    else:
        batch, steps, warmup, n_train = 4, 2, 1, 2000
        torch.set_num_threads(max(1, torch.get_num_threads()))
        print(f"NO GPU ({device.type}): running a TINY configuration (batch {batch}, {steps} timed steps, "
              f"{n_train} training images, fp32 only). These numbers check the code path; they are "
              "not the GPU claim.")

    macs = from_torch(AlexNet("2012")).total("multiply_adds")
    print(f"AlexNet('2012'): {macs / 1e6:.0f} M multiply-adds per image forward; "
          f"training FLOPs per image = 3 × 2 × {macs / 1e6:.0f} M = {6 * macs / 1e9:.2f} GFLOP")

    modes = [("fp32 eager", dict(bf16=False, channels_last=False, compile=False))]
    if gpu:
        modes.append(("bf16 autocast + channels_last", dict(bf16=True, channels_last=True, compile=False)))
        if not args.no_compile:
            modes.append(("bf16 + channels_last + compile", dict(bf16=True, channels_last=True, compile=True)))
    best = 0.0
    for label, kwargs in modes:
        try:
            rate = throughput(device, batch, steps, warmup, **kwargs)
        except Exception as err:  # noqa: BLE001 - report and go on (e.g. compile missing a compiler)
            print(f"  {label:32s} failed: {type(err).__name__}: {err}")
            continue
        best = max(best, rate)
        print(f"  {label:32s} {rate:10.0f} images/s   {rate * 6 * macs / 1e12:7.2f} TFLOP/s")
    if gpu:
        print(f"target: >= 20,000 images/s on an H100: {'met' if best >= 20000 else 'NOT met'} "
              f"(best {best:.0f}, on {name})")

    # AlexNet without batch norm is touchy: on a CPU, at batch 32, peak lr 0.005 reached 67 %
    # in two epochs on 4,000 images and 0.02 only 37 %; 0.01 at batch 256 scales the former.
    time_to_accuracy(device, n_train, args.epochs if gpu else 3, 256 if gpu else 32,
                     0.01 if gpu else 0.005, args.target, progress=False)
    print(f"alexnet2012 train_images_per_second={best:.0f} batch={batch} device={device.type}"
          + ("" if gpu else " (tiny CPU configuration)"))


if __name__ == "__main__":
    main()
