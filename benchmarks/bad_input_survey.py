"""How does the public API answer bad input? Counts of good, obscure and silent outcomes.

Runs the generators of ``tests/test_bad_input.py`` (wrong types, ranks, empty axes, NaN/inf,
every dtype, non-contiguous and huge views, bools for numbers, strings for bools, ...) over the
public functions of conv, pool, gpu, size, gradcheck and train, without asserting, and sorts each
call into one of three outcomes:

* good: a clear TypeError/ValueError naming the function and an argument, or a correct result
  (equal to np.convolve / scipy.signal / torch.nn.functional / a direct formula);
* obscure: an error from deep inside NumPy or torch, or one that names no argument;
* silent: a wrong result, or a result where the input had to be refused.

    python benchmarks/bad_input_survey.py                  # the three counts, and per function
    python benchmarks/bad_input_survey.py --show silent    # ... and every silent case
    python benchmarks/bad_input_survey.py --examples 10    # fewer inputs per function (quicker)

The inputs are derandomized: the same every run, so before/after counts are comparable. A call
that tries to allocate tens of GB runs under an address-space cap and fails with MemoryError
(obscure) instead of taking the machine down.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402

import test_bad_input as suite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=suite.EXAMPLES, help="inputs per function")
    parser.add_argument("--show", choices=(suite.OBSCURE, suite.SILENT), action="append", default=[],
                        help="list every case with this outcome")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and polite on a shared machine

    start = time.perf_counter()
    found = suite.survey(args.examples)
    seconds = time.perf_counter() - start

    totals = {v: 0 for v in (suite.GOOD, suite.OBSCURE, suite.SILENT)}
    print(f"{'function':32s} {'good':>6s} {'obscure':>8s} {'silent':>7s}")
    for name, verdicts in found.items():
        counts = {v: len(cases) for v, cases in verdicts.items()}
        for v, n in counts.items():
            totals[v] += n
        print(f"{name:32s} {counts[suite.GOOD]:6d} {counts[suite.OBSCURE]:8d} {counts[suite.SILENT]:7d}")
    print("-" * 56)
    print(f"{'total':32s} {totals[suite.GOOD]:6d} {totals[suite.OBSCURE]:8d} {totals[suite.SILENT]:7d}"
          f"   ({sum(totals.values())} calls, {seconds:.0f} s)")
    for verdict in args.show:
        print(f"\n--- {verdict}")
        for name, verdicts in found.items():
            for line in verdicts[verdict]:
                print(f"{name}: {line}")
    print(f"\ngood {totals[suite.GOOD]}, obscure {totals[suite.OBSCURE]}, silent {totals[suite.SILENT]}")


if __name__ == "__main__":
    main()
