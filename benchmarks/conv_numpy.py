"""How fast is course_lib.conv? The NumPy conv layer against torch's CPU conv2d and against a bare
np.matmul of the same size, on the LeNet-5 and AlexNet layer shapes (batch 8, float32); then how
the lecture's three 1-D and 2-D methods scale with the input size.

    python benchmarks/conv_numpy.py            # full run (about a minute on 2 cores)
    python benchmarks/conv_numpy.py --quick    # smoke run

Targets (issue 2), for AlexNet conv2 and conv3: the layer reaches at least 70% of np.matmul's
GFLOP/s and takes at most 1.5x torch's time. Both libraries get the same number of threads
(--threads, default 2); every figure is the best of several runs after a warm-up, and the three
contenders take turns, in blocks, so that a busy machine slows them alike.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# OpenBLAS reads its thread count once, when NumPy loads, so set it before the imports below.
_threads = next((a.split("=")[1] for a in sys.argv if a.startswith("--threads=")), "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads)
os.environ.setdefault("OMP_NUM_THREADS", _threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_lib import conv  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"

# name: (C_in, C_out, kernel, stride, padding, input size, groups)
LAYERS = {
    "LeNet C1": (1, 6, 5, 1, 0, 32, 1),
    "LeNet C3": (6, 16, 5, 1, 0, 14, 1),
    "AlexNet conv1": (3, 96, 11, 4, 0, 227, 1),
    "AlexNet conv2": (96, 256, 5, 1, 2, 27, 1),
    "AlexNet conv2 g=2": (96, 256, 5, 1, 2, 27, 2),
    "AlexNet conv3": (256, 384, 3, 1, 1, 13, 1),
}
TARGETS = ("AlexNet conv2", "AlexNet conv3")


def best_times(contenders: dict, repeats: int, rounds: int = 2) -> dict[str, float]:
    """Best wall time of each callable over ``rounds`` blocks of ``repeats`` calls (after a warm-up).

    Each contender runs in its own block, after a pause: OpenBLAS's and torch's idle threads keep
    spinning for a while after a call, and on 2 cores they would slow whoever runs next.
    """
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, run in contenders.items():
            time.sleep(0.2)
            run()
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def layer_table(batch: int, repeats: int, rounds: int) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for name, (c_in, c_out, k, s, p, n, g) in LAYERS.items():
        x = rng.standard_normal((batch, c_in, n, n), dtype=np.float32)
        w = rng.standard_normal((c_out, c_in // g, k, k), dtype=np.float32)
        b = rng.standard_normal(c_out, dtype=np.float32)
        m = conv.conv_output_size(n, k, s, p)
        flops = 2 * batch * c_out * (c_in // g) * k * k * m * m
        # The bare product the layer performs: (C_out/g, C_in/g*k*k) @ (C_in/g*k*k, N*m*m), per group.
        lhs = rng.standard_normal((g, c_out // g, c_in // g * k * k), dtype=np.float32)
        rhs = rng.standard_normal((g, c_in // g * k * k, batch * m * m), dtype=np.float32)
        xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        with torch.no_grad():
            times = best_times({
                "numpy": lambda: conv.conv2d_layer(x, w, b, stride=s, padding=p, groups=g),
                "torch": lambda: F.conv2d(xt, wt, bt, stride=s, padding=p, groups=g),
                "matmul": lambda: np.matmul(lhs, rhs),
            }, repeats, rounds)
        rows.append(dict(name=name, flops=flops, **times))
    return rows


def print_layer_table(rows: list[dict]) -> None:
    head = (f"{'layer':<18} {'GFLOP':>6} {'numpy ms':>9} {'GFLOP/s':>8} {'torch ms':>9} "
            f"{'np/torch':>8} {'matmul GFLOP/s':>15} {'of matmul':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        gf = r["flops"] / 1e9
        print(f"{r['name']:<18} {gf:6.2f} {r['numpy'] * 1e3:9.2f} {gf / r['numpy']:8.1f} "
              f"{r['torch'] * 1e3:9.2f} {r['numpy'] / r['torch']:8.2f} {gf / r['matmul']:15.1f} "
              f"{r['matmul'] / r['numpy']:9.0%}")
    print()
    for r in rows:
        if r["name"] in TARGETS:
            share, ratio = r["matmul"] / r["numpy"], r["numpy"] / r["torch"]
            verdict = "met" if share >= 0.7 and ratio <= 1.5 else "MISSED"
            print(f"target {r['name']}: {share:.0%} of matmul (>= 70%), {ratio:.2f}x torch "
                  f"(<= 1.5x): {verdict}")


# --- the lecture's methods: how their cost grows with the input -----------------------------------

METHODS_1D = {"translate-and-scale": conv.conv1d_translate_scale,
              "flip-and-filter": conv.conv1d_flip_filter,
              "matrix": conv.conv1d_matrix,
              "np.convolve (reference)": np.convolve}
METHODS_2D = {"translate-and-scale": conv.conv2d_translate_scale,
              "flip-and-filter": conv.conv2d_flip_filter,
              "matrix": conv.conv2d_matrix}


def method_scaling(sizes_1d, sizes_2d, repeats: int) -> tuple[dict, dict]:
    from scipy.signal import convolve2d  # only the reference needs SciPy

    methods_2d = {**METHODS_2D, "scipy convolve2d (reference)": convolve2d}
    rng = np.random.default_rng(1)
    one_d = {name: [] for name in METHODS_1D}
    for n in sizes_1d:
        a, b = rng.standard_normal(n), rng.standard_normal(5)
        times = best_times({name: (lambda f=f: f(a, b)) for name, f in METHODS_1D.items()},
                           repeats, rounds=1)
        for name, t in times.items():
            one_d[name].append(t)
    two_d = {name: [] for name in methods_2d}
    for n in sizes_2d:
        A, B = rng.standard_normal((n, n)), rng.standard_normal((3, 3))
        times = best_times({name: (lambda f=f: f(A, B)) for name, f in methods_2d.items()},
                           repeats, rounds=1)
        for name, t in times.items():
            two_d[name].append(t)
    return one_d, two_d


def print_scaling(title: str, sizes, results: dict) -> None:
    print(f"\n{title}: time in ms")
    print(f"{'method':<30}" + "".join(f"{s:>10}" for s in sizes))
    for name, times in results.items():
        print(f"{name:<30}" + "".join(f"{t * 1e3:10.3f}" for t in times))


def plot_scaling(sizes_1d, one_d, sizes_2d, two_d, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    panels = ((axes[0], sizes_1d, one_d, "1-D: signal length n, kernel 5"),
              (axes[1], [s * s for s in sizes_2d], two_d, "2-D: n x n image (pixels), kernel 3x3"))
    for ax, xs, results, title in panels:
        for name, times in results.items():
            ax.loglog(xs, np.array(times) * 1e3, "o-", label=name)
        ax.set(title=title, xlabel="input size", ylabel="time (ms)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot saved to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes (smoke run)")
    parser.add_argument("--threads", type=int, default=int(_threads),
                        help="threads for torch and OpenBLAS (give it as --threads=N)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"NumPy {np.__version__} (OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}), "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    print("conv2d_layer (im2col + matmul) vs torch CPU F.conv2d; batch 8, float32")
    # Several short rounds rather than one long one: on a shared machine each contender then
    # gets its chance at a quiet moment.
    print_layer_table(layer_table(batch=8, repeats=2 if args.quick else 3,
                                  rounds=2 if args.quick else 6))

    sizes_1d = [64, 256, 1024] if args.quick else [64, 256, 1024, 2048, 4096]
    sizes_2d = [8, 16, 32] if args.quick else [8, 16, 24, 32, 48]
    one_d, two_d = method_scaling(sizes_1d, sizes_2d, repeats=2 if args.quick else 5)
    print_scaling("1-D methods, kernel length 5, signal length", sizes_1d, one_d)
    print_scaling("2-D methods, 3x3 kernel, n x n image, n =", sizes_2d, two_d)
    plot_scaling(sizes_1d, one_d, sizes_2d, two_d, OUT / "conv_methods.png")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (figures from a busy machine are low)")


if __name__ == "__main__":
    main()
