"""Why Adam's run is the slowest of seed 001's race: float32 subnormals in its state.

The race's network is float32. Late in training, many moment estimates decay
below float32's smallest normal number (about 1.2e-38): a weight whose gradient
is exactly zero for many steps (a first-layer weight of a pixel that is blank
in every recent batch, a unit that no longer fires) has ``m ← β₁·m`` shrink by
0.9 a step, and reaches the subnormal range after about 800 steps. Arithmetic
on subnormal numbers takes a slow path in the CPU (a microcode assist on
Intel), so the same update takes longer.

This script trains the race's network (the built-in ``mnist`` experiment, its
optimizers and hyperparameters) for ``--steps`` steps with each optimizer that
keeps state, then times that optimizer's update from the state it reached
against the same update from a copy of that state with every subnormal number
replaced by zero (what a CPU's flush-to-zero mode would hold). Interleaved
rounds, medians, one thread::

    python benchmarks/bench_subnormal.py                 # 2000 steps, 200 rounds
    python benchmarks/bench_subnormal.py --steps 500

gdlab keeps IEEE arithmetic (as PyTorch does on CPU by default): it does not
flush subnormals, because a flushed state is no longer the state the
references compute. The ratio here is what that exactness costs on this run.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from gdlab import experiments, race

TINY = np.finfo(np.float32).tiny


def _subnormal(a: np.ndarray) -> np.ndarray:
    return (a != 0) & (np.abs(a) < TINY)


def _state_arrays(state: dict) -> list[np.ndarray]:
    """Every float32 array in an optimizer's ``state_dict()['state']``."""
    found = []
    for value in state.values():
        if isinstance(value, dict):
            found += _state_arrays(value)
        elif isinstance(value, np.ndarray) and value.dtype == np.float32:
            found.append(value)
    return found


def _flushed(state_dict: dict) -> dict:
    flushed = copy.deepcopy(state_dict)
    for a in _state_arrays(flushed["state"]):
        a[_subnormal(a)] = 0
    return flushed


def _train(problem, spec, steps: int):
    """The run's optimizer and parameters after ``steps`` updates, and one batch's gradients."""
    optimizer = spec.make_optimizer()
    rng = np.random.default_rng(0)
    params = problem.init_params(rng)
    for _ in range(steps):
        batch = rng.choice(problem.n_samples, 128, replace=False)
        _, grads = problem.loss_and_grads(params, batch)
        optimizer.update(params, grads)
    batch = rng.choice(problem.n_samples, 128, replace=False)
    _, grads = problem.loss_and_grads(params, batch)
    return optimizer, params, {k: g.copy() for k, g in grads.items()}


def _time_update(optimizer, state: dict, params: dict, grads: dict, rounds: int) -> float:
    """Median seconds of one update from ``state`` (reloaded before each)."""
    times = []
    start_params = {k: p.copy() for k, p in params.items()}
    for _ in range(rounds):
        optimizer.load_state_dict(state)
        for k, p in params.items():
            p[...] = start_params[k]
        start = time.perf_counter()
        optimizer.update(params, grads)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    experiment = experiments.load("mnist")
    problem = race.prepare(experiment)
    print(f"{args.steps} training steps, then {args.rounds} interleaved rounds, medians")
    print()
    print("| optimizer | subnormal state values | update ms (as reached) | "
          "update ms (subnormals → 0) | ratio |")  # fmt: skip
    print("|---|---|---|---|---|")
    with threadpool_limits(limits=1, user_api="blas"):
        for spec in experiment.runs:
            optimizer, params, grads = _train(problem, spec, args.steps)
            reached = optimizer.state_dict()
            arrays = _state_arrays(reached["state"])
            if not arrays:
                continue
            count = sum(int(_subnormal(a).sum()) for a in arrays)
            total = sum(a.size for a in arrays)
            flushed = _flushed(reached)
            slow_times, fast_times = [], []
            for _ in range(5):  # alternate blocks, so that both see the same machine
                slow_times.append(_time_update(optimizer, reached, params, grads, args.rounds // 5))
                fast_times.append(_time_update(optimizer, flushed, params, grads, args.rounds // 5))
            slow, fast = statistics.median(slow_times), statistics.median(fast_times)
            print(f"| {spec.label} | {count:,} of {total:,} ({count / total:.1%}) | "
                  f"{slow * 1e3:.3f} | {fast * 1e3:.3f} | {slow / fast:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
