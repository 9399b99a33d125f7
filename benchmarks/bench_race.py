"""Seed 001's MNIST race: ``gdlab``'s race against the same loop written the seed's way.

The seed (the book's ``optimizer_compare_mnist.py``) trains six copies of the
784-100-100-100-100-10 ReLU network, one per optimizer (SGD, Momentum,
Nesterov, AdaGrad, RMSprop, Adam at the book's defaults), for 2000 steps on
batches of 128 drawn with ``np.random.choice`` from the global random state;
every step it computes each network's gradient, updates it, and computes the
loss on the batch again to record it; every 100 steps it prints each loss.
``benchmarks/_textbook.py`` writes that code out (float64, new arrays
everywhere, the book's optimizer classes).

gdlab's side is what ``gdlab race mnist --no-figures`` runs: the same six
optimizers (book preset), the same network in float32, 2000 steps of random
batches of 128 (the same batches for every optimizer), plus an evaluation on
the 4,000 training and 1,000 test digits every 4 epochs and ``results.json``
rewritten after each run. Figures are not drawn (they are timed separately,
below the table).

Each round times both contenders (in alternating order), the ratio is taken
in the same run, and the table reports medians over the rounds::

    python benchmarks/bench_race.py                 # 3 rounds of 2000 steps (~5 minutes)
    python benchmarks/bench_race.py --quick         # 1 round of 200 steps
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if importlib.util.find_spec("gdlab") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT / "src"))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _textbook  # noqa: E402
from gdlab import experiments  # noqa: E402

TARGET = 3.0


def seed_loop(X: np.ndarray, t: np.ndarray, steps: int, batch_size: int = 128) -> dict:
    """The seed's race loop, as the book writes it (global random state)."""
    np.random.seed(0)  # noqa: NPY002 - the seed's global random state, on purpose
    optimizers = {
        "SGD": _textbook.SGD(),
        "Momentum": _textbook.Momentum(),
        "AdaGrad": _textbook.AdaGrad(),
        "Adam": _textbook.Adam(),
        "RMSprop": _textbook.RMSprop(),
        "Nesterov": _textbook.Nesterov(),
    }
    networks = {key: _textbook.MultiLayerNet(784, [100, 100, 100, 100], 10) for key in optimizers}
    train_loss: dict[str, list[float]] = {key: [] for key in optimizers}
    train_size = X.shape[0]
    for i in range(steps):
        batch_mask = np.random.choice(train_size, batch_size)  # noqa: NPY002
        x_batch = X[batch_mask]
        t_batch = t[batch_mask]
        for key in optimizers:
            grads = networks[key].gradient(x_batch, t_batch)
            optimizers[key].update(networks[key].params, grads)
            loss = networks[key].loss(x_batch, t_batch)
            train_loss[key].append(loss)
        if i % 100 == 0:  # the seed prints every 100 steps
            for key in optimizers:
                networks[key].loss(x_batch, t_batch)
    return train_loss


def gdlab_race(steps: int, out: Path) -> dict:
    config = experiments.override(experiments.load("mnist"), steps=steps)
    prepared = experiments.prepare(config)
    return experiments.run(config, out, progress=False, figures=False, prepared=prepared)


def cpu() -> str:
    """The CPU model, as results.json records it."""
    from gdlab.results import environment

    return environment()[1]["processor"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round of 200 steps")
    parser.add_argument("--no-cli", action="store_true", help="skip timing the full command")
    args = parser.parse_args()
    steps, rounds = (200, 1) if args.quick else (args.steps, args.rounds)

    splits = experiments.build_problem(experiments.load("mnist")).parts
    X, t = splits["train"].X, splits["train"].y  # the same 4,000 digits, float32 in [0, 1]

    # Warm up both (numba compiles on first use; BLAS spins up).
    with tempfile.TemporaryDirectory() as tmp:
        gdlab_race(10, Path(tmp))
    seed_loop(X, t, 5)

    times: dict[str, list[float]] = {"gdlab": [], "seed": []}
    checks = {}
    for r in range(rounds):
        order = ("gdlab", "seed") if r % 2 == 0 else ("seed", "gdlab")
        for who in order:
            start = time.perf_counter()
            if who == "gdlab":
                with tempfile.TemporaryDirectory() as tmp:
                    doc = gdlab_race(steps, Path(tmp))
                checks["gdlab"] = {run["label"]: run["loss"][-50:] for run in doc["runs"]}
            else:
                losses = seed_loop(X, t, steps)
                checks["seed"] = {k: v[-50:] for k, v in losses.items()}
            times[who].append(time.perf_counter() - start)
            print(f"round {r + 1}: {who} {times[who][-1]:.1f} s", file=sys.stderr, flush=True)

    # Both trained: the smoothed final losses are of the same size.
    for label in checks["seed"]:
        a, b = np.mean(checks["gdlab"][label]), np.mean(checks["seed"][label])
        assert a < 2.5, (label, a)
        assert b < 2.5, (label, b)

    g, s = statistics.median(times["gdlab"]), statistics.median(times["seed"])
    ratio = s / g
    cli_seconds = None
    if not args.no_cli and not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "gdlab", "race", "mnist", "--quiet", "--out", tmp],
                check=True,
                capture_output=True,
            )
            cli_seconds = time.perf_counter() - start

    import numba
    import threadpoolctl

    blas = threadpoolctl.threadpool_info()
    threads = blas[0]["num_threads"] if blas else "?"
    print()
    print("## Seed 001's race (bench_race.py)")
    print()
    print(f"* Date: {datetime.date.today().isoformat()}")
    print(f"* Machine: {cpu()}, {__import__('os').cpu_count()} logical cores; NumPy "
          f"{np.__version__}, numba {numba.__version__}; BLAS threads {threads}")  # fmt: skip
    print(f"* Command: `python benchmarks/bench_race.py` ({rounds} rounds, {steps} steps, medians)")
    print()
    print("| contender | seconds (median) | rounds |")
    print("|---|---|---|")
    print(f"| gdlab race (6 optimizers, float32, evaluation, results.json) | {g:.2f} | "
          + ", ".join(f"{x:.2f}" for x in times["gdlab"]) + " |")  # fmt: skip
    print(f"| seed's loop (book classes, float64, global random state) | {s:.2f} | "
          + ", ".join(f"{x:.2f}" for x in times["seed"]) + " |")  # fmt: skip
    print()
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"* gdlab ÷ seed: **{ratio:.2f}×** faster (target ≥ {TARGET:.0f}×: {verdict})")
    if cli_seconds is not None:
        print(f"* `gdlab race mnist` end to end (a new process: imports, data, 6 runs, "
              f"figures, index.html): {cli_seconds:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
