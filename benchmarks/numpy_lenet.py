"""The NumPy LeNet-5 (course_lib.numpy_lenet) trained on full MNIST on the CPU.

Claim (issues 6 and 14): at least 0.990 test accuracy, with hand-written backprop, in no more
than twice the time torch takes for the same recipe, same start and same batches (beside it).
The layers are ``course_lib.numpy_lenet``'s: im2col convolution whose columns are kept for the
backward pass, and 2×2 pooling as four strided views (checked against ``course_lib.conv`` and
``course_lib.pool`` in ``tests/test_numpy_lenet.py``).

Recipe: float32, batch 64, SGD with momentum 0.9 and weight decay 5e-4; the learning rate
warms up linearly to 0.05 over the first 10 % of the steps, then anneals to 0 along a cosine
(the lectures' "start large, end much smaller"). 3 epochs, fixed in advance: test accuracy is
printed after every epoch for information only, not used to choose anything.

Threads: NumPy's BLAS and torch use ``--threads`` (default 1). On a quiet 2-core machine
``--threads 2`` is somewhat faster; on a shared one two threads per process fight over the
cores and run several times slower, so 1 is the robust default.

Beside it: the torch LeNet5("modern") starting from the same weights, in channels_last (its
faster CPU layout for this net), trained with the same recipe and the same batches, so the
price of NumPy over a framework is visible.

Run: ``COURSE_DATA_DIR=/path/with/mnist .venv/bin/python benchmarks/numpy_lenet.py [--epochs E]``
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="NumPy LeNet-5 on full MNIST, on the CPU")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-reference", action="store_true", help="skip the torch reference")
    return parser.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
# BLAS reads its thread count once, when NumPy is first imported: set it before that.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from course_lib.data import mnist_tensors  # noqa: E402
from course_lib.numpy_lenet import NumpyLeNet5  # noqa: E402

BATCH, LR, MOMENTUM, WEIGHT_DECAY, SEED = 64, 0.05, 0.9, 5e-4, 0


def learning_rate(step: int, total: int, warmup: float = 0.1) -> float:
    """Linear warm-up to LR over the first ``warmup`` of the steps, then a cosine down to 0."""
    warm = max(1, int(warmup * total))
    if step < warm:
        return LR * (step + 1) / warm
    return 0.5 * LR * (1 + math.cos(math.pi * (step - warm) / (total - warm)))


def torch_reference(net: NumpyLeNet5, x, y, x_test, y_test, epochs: int) -> tuple[float, float]:
    start = time.perf_counter()
    model = net.to_torch().to(memory_format=torch.channels_last)  # its fastest CPU layout here
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    rng = np.random.default_rng(SEED)
    steps, total = 0, epochs * math.ceil(len(x) / BATCH)
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            for group in opt.param_groups:
                group["lr"] = learning_rate(steps, total)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    with torch.no_grad():
        acc = float((model(x_test).argmax(1) == y_test).float().mean())
    return acc, time.perf_counter() - start


def main() -> None:
    args = ARGS
    torch.set_num_threads(args.threads)

    print(f"{args.threads} thread(s) for NumPy's BLAS and torch; numpy {np.__version__}, torch {torch.__version__}")
    x_t, y_t = mnist_tensors("train")
    xt_t, yt_t = mnist_tensors("test")
    x, y, x_test, y_test = x_t.numpy(), y_t.numpy(), xt_t.numpy(), yt_t.numpy()

    net = NumpyLeNet5(dtype=np.float32, seed=SEED)
    initial = NumpyLeNet5(dtype=np.float32, seed=SEED)   # same weights, for the torch reference
    rng = np.random.default_rng(SEED)
    steps, total = 0, args.epochs * math.ceil(len(x) / BATCH)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x))
        losses = []
        bar = tqdm(range(0, len(x), BATCH), desc=f"epoch {epoch}/{args.epochs}", leave=False)
        for i in bar:
            idx = order[i:i + BATCH]
            losses.append(net.train_step(x[idx], y[idx], lr=learning_rate(steps, total),
                                         momentum=MOMENTUM, weight_decay=WEIGHT_DECAY))
            steps += 1
            if steps % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        before = time.perf_counter()
        acc = net.accuracy(x_test, y_test)
        if epoch < args.epochs:  # information only: not charged, as torch evaluates once, at the end
            start += time.perf_counter() - before
        print(f"epoch {epoch}: train loss {np.mean(losses):.4f}, test accuracy {acc:.4f}, "
              f"elapsed {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start

    if not args.no_reference:
        ref_acc, ref_seconds = torch_reference(initial, x_t, y_t, xt_t, yt_t, args.epochs)
        print(f"reference: torch LeNet5, same start and recipe  test_accuracy={ref_acc:.4f} "
              f"seconds={ref_seconds:.1f} epochs={args.epochs}")
    ratio = seconds / ref_seconds if not args.no_reference else float("nan")
    print(f"time ratio NumPy / torch = {ratio:.2f}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"target: test_accuracy >= 0.990 in <= 2x torch's time: "
          f"{'met' if acc >= 0.990 and ratio <= 2 else 'NOT met'}")
    print(f"numpy_lenet5 test_accuracy={acc:.4f} seconds={seconds:.1f} epochs={args.epochs} ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
