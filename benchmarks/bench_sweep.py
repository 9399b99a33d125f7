"""A 40-task sweep on 1 process, 2 processes and a 2-worker Dask LocalCluster.

Each task trains a small MLP (2-64-64-1, ReLU, sigmoid output, float32) on
1,000 points of two moons for 100 epochs of batches of 32 and evaluates it on
500 test points: 4 optimizers × 2 learning rates × 5 seeds = 40 tasks of
roughly 0.3–0.5 s of NumPy and numba work, with
``gdlab.problems.MLPClassification`` and ``gdlab.train.fit``. The moons are
drawn with NumPy from the task's generator (the formula of scikit-learn's
``make_moons``): importing scikit-learn costs about 2 s in every new worker
process, which would time the imports rather than the executors.

Each round runs the three executors, in a rotating order, each a complete
``gdlab.sweep.run_sweep`` into a new results file: starting the pool or the
cluster and stopping it are part of the time. The table reports medians over
the rounds, throughput (tasks/s) and two ratios: 2 processes ÷ 1 (target
≥ 1.7×) and the Dask cluster's time over the process pool's (target ≤ 10%
slower). The three executors must give the same results, bit for bit::

    python benchmarks/bench_sweep.py            # 3 rounds (~2 minutes on 2 cores)
    python benchmarks/bench_sweep.py --quick    # smoke run: 1 round, 12 short tasks

Needs ``dask[distributed]`` (``pip install "gdlab[dask]"``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if importlib.util.find_spec("gdlab") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT / "src"))

from gdlab import optim, problems, train  # noqa: E402
from gdlab.data import Dataset, Splits  # noqa: E402
from gdlab.sweep import Task, run_sweep  # noqa: E402

SPEEDUP_TARGET = 1.7  # 2 processes ÷ 1
DASK_TARGET = 0.10  # Dask at most 10% slower than the process pool

LEARNING_RATES = {"sgd": (0.05, 0.1), "momentum": (0.01, 0.05), "adam": (0.001, 0.005),
                  "rmsprop": (0.001, 0.005)}  # fmt: skip
EXECUTORS = {"1 process": {}, "2 processes": {"workers": 2}, "Dask, 2 workers": {"dask_local": 2}}


def moons(n: int, noise: float, rng: np.random.Generator) -> Dataset:
    """Two interleaving half circles with Gaussian noise (``make_moons``'s formula)."""
    n0 = n // 2
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n - n0)
    X = np.concatenate(
        [
            np.column_stack([np.cos(t0), np.sin(t0)]),
            np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)]),
        ]
    )
    X += noise * rng.standard_normal(X.shape)
    y = np.repeat([0, 1], [n0, n - n0])
    order = rng.permutation(n)
    return Dataset(X[order], y[order], "moons", ("x1", "x2"), ("0", "1"), "classification")


def train_moons(
    *, optimizer: str, lr: float, epochs: int, rng: np.random.Generator
) -> dict[str, Any]:
    """One task: an MLP on two moons; returns the final losses and test accuracy."""
    data = Splits(moons(1000, 0.2, rng), None, moons(500, 0.2, rng))
    problem = problems.MLPClassification(data, hidden=(64, 64))
    history = train.fit(
        problem,
        optim.create(optimizer, lr=lr),
        epochs=epochs,
        batch_size=32,
        validation="test",
        rng=rng,
        progress=False,
    )
    last = history.epochs[-1]
    return {
        "status": history.status,
        "train_loss": last["train_loss"],
        "test_loss": last["test_loss"],
        "test_accuracy": last["test_accuracy"],
        "loss": history.loss[-5:],
    }


def make_tasks(n_tasks: int, epochs: int) -> list[Task]:
    tasks = [
        Task(f"{name}/lr={lr}/seed={seed}", {"optimizer": name, "lr": lr, "epochs": epochs})
        for seed in range(5)
        for name, rates in LEARNING_RATES.items()
        for lr in rates
    ]
    return tasks[:n_tasks]


def cpu() -> str:
    """The CPU model, as results.json records it."""
    from gdlab.results import environment

    return environment()[1]["processor"]


def load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="1 round of 12 tasks of 20 epochs")
    args = parser.parse_args()
    rounds, n_tasks, epochs = (1, 12, 20) if args.quick else (args.rounds, args.tasks, args.epochs)
    import dask
    import distributed
    import numba

    tasks = make_tasks(n_tasks, epochs)
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        # Warm up this process (numba loads its cached kernels on first use).
        run_sweep(train_moons, tasks[:1], Path(tmp) / "warm.jsonl", progress=False)
        times: dict[str, list[float]] = {name: [] for name in EXECUTORS}
        busy: dict[str, list[float]] = {name: [] for name in EXECUTORS}
        results: dict[str, list] = {}
        names = list(EXECUTORS)
        for r in range(rounds):
            for name in names[r % 3 :] + names[: r % 3]:
                out = Path(tmp) / f"round{r}-{len(times[name])}-{name.split()[0]}.jsonl"
                start = time.perf_counter()
                records = run_sweep(train_moons, tasks, out, progress=False, **EXECUTORS[name])
                times[name].append(time.perf_counter() - start)
                busy[name].append(sum(rec["seconds"] for rec in records))
                assert all(rec["status"] == "ok" for rec in records), name
                results[name] = [(rec["id"], rec["result"]) for rec in records]
                print(f"round {r + 1}: {name}: {times[name][-1]:.2f} s", file=sys.stderr)
    load_after = load()
    first = results[names[0]]
    identical = all(results[name] == first for name in names)
    assert identical, "the executors gave different results"

    median = {name: statistics.median(times[name]) for name in names}
    one, two, dask_ = (median[name] for name in names)
    speedup = one / two
    dask_cost = dask_ / two - 1
    accuracy = statistics.median(result["test_accuracy"] for _, result in first)
    print()
    print("## Sweeps (bench_sweep.py)")
    print()
    print(f"* Date: {datetime.date.today().isoformat()}")
    versions = (
        f"Python {platform.python_version()}, NumPy {np.__version__}, numba {numba.__version__}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}"
    )
    print(f"* Machine: {cpu()}, {os.cpu_count()} logical cores; {versions}")
    print(f"* Load average (1, 5, 15 min): {load_before} before, {load_after} after")
    print(f"* Command: `python benchmarks/bench_sweep.py` ({rounds} rounds, {n_tasks} tasks of "
          f"{epochs} epochs, medians; start-up and shut-down included)")  # fmt: skip
    print(f"* Tasks: MLP 2-64-64-1 on 1,000 moons, batch 32; median test accuracy {accuracy:.3f}; "
          f"results identical on all three executors: {identical}")  # fmt: skip
    print()
    print("| executor | seconds (median) | tasks/s | time in tasks (s) | rounds (s) |")
    print("|---|---|---|---|---|")
    for name in names:
        print(f"| {name} | {median[name]:.2f} | {n_tasks / median[name]:.2f} | "
              f"{statistics.median(busy[name]):.2f} | "
              + ", ".join(f"{x:.2f}" for x in times[name]) + " |")  # fmt: skip
    print()
    # The same ratios round by round (each round ran all three): how noisy the machine was.
    speedups = [a / b for a, b in zip(times[names[0]], times[names[1]], strict=True)]
    costs = [a / b for a, b in zip(times[names[2]], times[names[1]], strict=True)]
    verdict = "met" if speedup >= SPEEDUP_TARGET else "NOT met"
    print(f"* 2 processes ÷ 1: **{speedup:.2f}×** (target ≥ {SPEEDUP_TARGET}×: {verdict}); "
          "round by round " + ", ".join(f"{x:.2f}×" for x in speedups))  # fmt: skip
    verdict = "met" if dask_cost <= DASK_TARGET else "NOT met"
    print(f"* Dask ÷ process pool: **{dask_ / two:.2f}×** the time, {dask_cost:+.0%} "
          f"(target ≤ +{DASK_TARGET:.0%}: {verdict}); round by round "
          + ", ".join(f"{x:.2f}×" for x in costs))  # fmt: skip


if __name__ == "__main__":
    main()
