"""Adam's common-case kernel: one pass against the two halves side by side.

``gdlab.optim.fused._adam_loop`` walks the two halves of its arrays in one
loop (element ``i`` and element ``n/2 + i`` each iteration): eight read
streams and six write streams instead of four and three. This script times it
against the same arithmetic written as one pass (below), and against
``torch.optim.Adam(fused=True)`` when torch is installed, interleaved in one
process, on one thread, for a large array (memory-bound) and a small one (in
cache), and checks that the two loops give the same bits::

    python benchmarks/bench_two_halves.py              # 10M and 110K float32, 25 rounds
    python benchmarks/bench_two_halves.py --rounds 5   # a quick look
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("gdlab") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT / "src"))

from gdlab.optim.fused import _adam_loop  # noqa: E402


@njit(error_model="numpy", nogil=True)
def one_pass(p, g, m, v, step_size, beta1, c1, beta2, c2, eps, sqrt_bc2):
    """The kernel as it was: one element after the other."""
    for i in range(p.size):
        d = g[i]
        mi = m[i] * beta1 + c1 * d
        vi = v[i] * beta2 + c2 * (d * d)
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - step_size * (mi / (np.sqrt(vi) / sqrt_bc2 + eps))


def contenders(n: int) -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    p, g, m = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    v = np.abs(rng.standard_normal(n, dtype=np.float32))
    f32 = np.float32
    args = (f32(1e-3), f32(0.9), f32(0.1), f32(0.999), f32(0.001), f32(1e-8), f32(1.0))
    a = [x.copy() for x in (p, g, m, v)]
    b = [x.copy() for x in (p, g, m, v)]
    one_pass(*a, *args)
    _adam_loop(*b, *args)
    if not all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)):
        raise SystemExit("the two loops differ")
    steps: dict[str, Callable[[], object]] = {
        "one pass": lambda: one_pass(*a, *args),
        "two halves": lambda: _adam_loop(*b, *args),
    }
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)
        tp = torch.from_numpy(p.copy())
        tp.grad = torch.from_numpy(g.copy())
        opt = torch.optim.Adam([tp], lr=1e-3, fused=True)
        steps["torch fused"] = opt.step
    return steps


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=25, help="interleaved rounds (10M case)")
    args = ap.parse_args(argv)
    for n, rounds in ((10_000_000, args.rounds), (110_000, 80 * args.rounds)):
        steps = contenders(n)
        for step in steps.values():
            step()
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(rounds):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        base = med["one pass"]
        cells = ", ".join(f"{k} {ms:.3f} ms (÷ one pass {ms / base:.3f})" for k, ms in med.items())
        print(f"{n:,} float32: {cells}")


if __name__ == "__main__":
    main()
