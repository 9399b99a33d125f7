"""Training steps per second on seed 001's race network: gdlab, PyTorch CPU eager, textbook NumPy.

Run from the repository root::

    python benchmarks/bench_train.py                    # 11 rounds, 1 and 2 threads, ~2-4 min
    python benchmarks/bench_train.py --quick            # smoke run: 1 round, short blocks
    python benchmarks/bench_train.py --json train.json  # also write the raw numbers

The network is the one seed 001 races six optimizers on: 784-100-100-100-100-10,
ReLU hidden layers, He initial weights, softmax cross-entropy, batches of 128
MNIST images (the 5,000 bundled with gdlab, ``gdlab.data.mnist_subset()``),
trained with SGD (lr 0.01) and Adam (lr 0.001). The batches are 128 random
indices (with replacement, as the seed's ``np.random.choice``) drawn up front
from a seeded ``numpy.random.Generator``; every contender trains on the same
sequence of batches.

One step of each contender, as timed:

* **gdlab** (float32): gather the batch into preallocated arrays with
  ``np.take(X, idx, axis=0, out=xb)`` and ``np.take(y, idx, out=yb)``, then
  ``loss, grads = net.loss_and_grads(xb, yb)`` and ``opt.update(net.params, grads)``;
  with the default ``nonfinite="raise"`` (every gradient is checked for
  NaN/inf before anything changes) and with ``nonfinite="ignore"`` (no check,
  what PyTorch does). ``np.take`` is called with ``mode="clip"`` (``--take-mode``):
  with the default ``mode="raise"`` NumPy buffers ``out`` and allocates a new
  batch-sized array every call, which defeats the preallocation (the
  benchmark prints what that costs). The indices are in range, so "clip"
  changes nothing else.
* **PyTorch CPU eager** (float32, the same initial weights as gdlab):
  ``xb, yb = X_t[idx_t], y_t[idx_t]``, ``opt.zero_grad()``, forward through a
  ``torch.nn.Sequential`` of ``Linear`` and ``ReLU``, ``CrossEntropyLoss``,
  ``loss.backward()``, ``opt.step()`` and ``loss.item()`` (the seed records the
  loss of every step; gdlab returns it as a float). Three optimizer settings:
  torch's default (on CPU that is the for-loop implementation: torch picks
  ``foreach`` only for CUDA-like devices), ``foreach=True`` and ``fused=True``.
* **textbook NumPy** (float64, ``benchmarks/_textbook.py``): the seed's own code,
  the book's ``MultiLayerNet`` with the book's ``SGD`` and ``Adam``; a step is
  ``x_batch = X[idx]``, ``grads = net.gradient(x_batch, t_batch)``,
  ``opt.update(net.params, grads)``, ``loss = net.loss(x_batch, t_batch)``. The
  last call is a second forward pass: the seed's race loop computes the loss
  after every update, so it is part of the seed's step.

Threads: every contender runs with 1 and with 2 threads. NumPy's BLAS (used by
gdlab's and the textbook's matrix products) is limited with
``threadpoolctl.threadpool_limits(n, user_api="blas")``, PyTorch with
``torch.set_num_threads(n)``; gdlab's numba kernels are single-threaded.

Timing: after a correctness guard (20 steps of each contender must lower its
loss on a fixed probe batch, so that a broken contender cannot win) and
warm-up steps, each round times one block of ``--steps`` training steps of
every contender under each thread setting, the contenders in a fresh shuffled
order every time (a fixed seed), each block after a few untimed steps. The
table shows the median steps per second over the rounds and ratios of medians
from the same run: *gdlab ratio* = gdlab's steps/s ÷ the row's steps/s, for the
same optimizer and thread count; > 1 means gdlab is faster.

Allocations: after the timing, ``tracemalloc`` records the peak of the bytes
allocated during 50 warm steps of gdlab (default ``nonfinite``) and of the
textbook code. gdlab's parameters are 109,810 float32 (429 KiB; the largest
array, W1, is 306 KiB); a step that made parameter-sized arrays would show a
peak of that order. PyTorch's own allocator is not visible to tracemalloc.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import itertools
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if importlib.util.find_spec("gdlab") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT / "src"))
if str(HERE) not in sys.path:  # _textbook and bench_optim live beside this file
    sys.path.insert(0, str(HERE))

import _textbook  # noqa: E402
import gdlab.data  # noqa: E402
import gdlab.nn  # noqa: E402
import gdlab.optim  # noqa: E402
from bench_optim import machine  # noqa: E402  (the same machine line as bench_optim)

SECTION = "## Training steps (bench_train.py)"
SIZES = [784, 100, 100, 100, 100, 10]
BATCH = 128
LR = {"SGD": 0.01, "Adam": 0.001}
THREADS = (1, 2)
N_BATCHES = 1000  # distinct batches drawn up front; contenders cycle through them
PROBE = 512  # samples in the guard's fixed probe batch
GUARD_STEPS = 20
ALLOC_STEPS = 50
TARGET_TORCH = 1.5
TARGET_TEXTBOOK = 3.0

GDLAB = ("gdlab raise", "gdlab ignore")
TORCH = ("torch default", "torch foreach", "torch fused")
TEXTBOOK = "textbook f64"


# --------------------------------------------------------------------------- data


@dataclass
class Data:
    X: np.ndarray  # (5000, 784) float32 in [0, 1]
    y: np.ndarray  # (5000,) int64
    batches: np.ndarray  # (N_BATCHES, BATCH) int64 indices
    probe: np.ndarray  # (PROBE,) int64 indices


def load_data(seed: int) -> Data:
    d = gdlab.data.mnist_subset()
    rng = np.random.default_rng(seed)
    batches = rng.integers(0, d.X.shape[0], size=(N_BATCHES, BATCH))
    probe = rng.choice(d.X.shape[0], PROBE, replace=False)
    return Data(np.ascontiguousarray(d.X), np.ascontiguousarray(d.y), batches, probe)


# --------------------------------------------------------------------------- contenders


@dataclass
class Contender:
    """One way of training: ``run(n)`` takes ``n`` steps, returns the last loss."""

    optimizer: str  # "SGD" or "Adam"
    name: str  # "gdlab raise", "torch fused", …
    run: Callable[[int], float]
    probe: Callable[[], float]  # loss on the fixed probe batch, no training
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = f"{self.optimizer} / {self.name}"


def gdlab_contender(optimizer: str, nonfinite: str, data: Data, take_mode: str) -> Contender:
    X, y = data.X, data.y
    net = gdlab.nn.MLP(SIZES, rng=np.random.default_rng(0))
    opt = gdlab.optim.create(optimizer.lower(), lr=LR[optimizer], nonfinite=nonfinite)
    params = net.params
    xb = np.empty((BATCH, X.shape[1]), X.dtype)
    yb = np.empty(BATCH, y.dtype)
    batches = itertools.cycle(list(data.batches))
    Xp, yp = X[data.probe], y[data.probe]

    def run(n: int) -> float:
        loss = float("nan")
        for _ in range(n):
            idx = next(batches)
            np.take(X, idx, axis=0, out=xb, mode=take_mode)
            np.take(y, idx, out=yb, mode=take_mode)
            loss, grads = net.loss_and_grads(xb, yb)
            opt.update(params, grads)
        return loss

    return Contender(optimizer, f"gdlab {nonfinite}", run, lambda: net.loss(Xp, yp))


def torch_model() -> torch.nn.Sequential:
    """The race network in torch, with gdlab's initial weights (He, seed 0)."""
    init = gdlab.nn.MLP(SIZES, rng=np.random.default_rng(0)).params
    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES), 1):
        lin = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(init[f"W{i}"].T.copy()))
            lin.bias.copy_(torch.from_numpy(init[f"b{i}"]))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def torch_contender(optimizer: str, mode: str, data: Data) -> Contender | None:
    """``mode``: "default" (no flag), "foreach" or "fused"; None if torch refuses it."""
    X_t = torch.from_numpy(data.X)
    y_t = torch.from_numpy(data.y)
    model = torch_model()
    loss_fn = torch.nn.CrossEntropyLoss()
    cls = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam}[optimizer]
    flags = {} if mode == "default" else {mode: True}
    try:  # a throwaway step first: fused=True may only fail at the first step
        probe_param = torch.nn.Parameter(torch.zeros(2))
        probe_param.grad = torch.ones(2)
        cls([probe_param], lr=LR[optimizer], **flags).step()
        opt = cls(model.parameters(), lr=LR[optimizer], **flags)
    except (RuntimeError, TypeError, ValueError):
        return None
    batches = itertools.cycle(list(torch.from_numpy(data.batches)))
    probe_t = torch.from_numpy(data.probe)
    Xp, yp = X_t[probe_t], y_t[probe_t]

    def run(n: int) -> float:
        loss = float("nan")
        for _ in range(n):
            idx = next(batches)
            xb, yb = X_t[idx], y_t[idx]
            opt.zero_grad()
            out = loss_fn(model(xb), yb)
            out.backward()
            opt.step()
            loss = out.item()
        return loss

    def probe() -> float:
        with torch.no_grad():
            return loss_fn(model(Xp), yp).item()

    return Contender(optimizer, f"torch {mode}", run, probe)


def textbook_contender(optimizer: str, data: Data) -> Contender:
    """The seed's loop: gradient, update, then the loss again (a second forward pass)."""
    X, y = data.X, data.y
    np.random.seed(0)  # noqa: NPY002 (the book seeds the global state)
    net = _textbook.MultiLayerNet(784, [100, 100, 100, 100], 10, weight_init_std="relu")
    opt = {"SGD": _textbook.SGD, "Adam": _textbook.Adam}[optimizer](lr=LR[optimizer])
    batches = itertools.cycle(list(data.batches))
    Xp, yp = X[data.probe], y[data.probe]

    def run(n: int) -> float:
        loss = float("nan")
        for _ in range(n):
            batch_mask = next(batches)
            x_batch = X[batch_mask]
            t_batch = y[batch_mask]
            grads = net.gradient(x_batch, t_batch)
            opt.update(net.params, grads)
            loss = net.loss(x_batch, t_batch)
        return loss

    return Contender(optimizer, TEXTBOOK, run, lambda: float(net.loss(Xp, yp)))


def make_contenders(data: Data, take_mode: str) -> tuple[list[Contender], list[str]]:
    contenders, missing = [], []
    for optimizer in ("SGD", "Adam"):
        for nonfinite in ("raise", "ignore"):
            contenders.append(gdlab_contender(optimizer, nonfinite, data, take_mode))
        for mode in ("default", "foreach", "fused"):
            c = torch_contender(optimizer, mode, data)
            if c is None:
                missing.append(f"{optimizer} / torch {mode}")
            else:
                contenders.append(c)
        contenders.append(textbook_contender(optimizer, data))
    return contenders, missing


# --------------------------------------------------------------------------- guard, timing


class Threads:
    """``with Threads(n):`` limits NumPy's BLAS and PyTorch to ``n`` threads."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> Threads:
        self._limits = threadpool_limits(limits=self.n, user_api="blas")
        self._torch = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self._torch)
        self._limits.restore_original_limits()


def guard(contenders: list[Contender]) -> dict[str, tuple[float, float]]:
    """Train each contender ``GUARD_STEPS`` steps; its probe loss must go down."""
    result = {}
    with Threads(1):
        for c in contenders:
            before = c.probe()
            last = c.run(GUARD_STEPS)
            after = c.probe()
            result[c.key] = (before, after)
            ok = np.isfinite(before) and np.isfinite(after) and np.isfinite(last)
            if not (ok and after < before):
                raise AssertionError(
                    f"{c.key}: the probe loss went from {before:.4f} to {after:.4f} in "
                    f"{GUARD_STEPS} steps (last batch loss {last:.4f}): a broken contender"
                )
    return result


def time_rounds(
    contenders: list[Contender], rounds: int, steps: int, warm: int
) -> dict[int, dict[str, list[float]]]:
    """Steps per second of each block: ``{threads: {key: [one value per round]}}``."""
    order = random.Random(0)
    rate: dict[int, dict[str, list[float]]] = {n: {c.key: [] for c in contenders} for n in THREADS}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            t_round = time.perf_counter()
            for n in THREADS:
                with Threads(n):
                    for c in order.sample(contenders, len(contenders)):
                        c.run(warm)
                        t0 = time.perf_counter()
                        c.run(steps)
                        rate[n][c.key].append(steps / (time.perf_counter() - t0))
            print(f"  round {r + 1}/{rounds}: {time.perf_counter() - t_round:.1f} s", flush=True)
    finally:
        if gc_was_enabled:
            gc.enable()
    return rate


# --------------------------------------------------------------------------- allocations


def peak_allocation(run: Callable[[int], float], steps: int) -> int:
    """Peak bytes (above the start) that tracemalloc sees during ``run(steps)``."""
    run(5)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run(steps)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@dataclass
class Gather:
    """The batch gather alone, with ``np.take(..., out=)`` in each mode."""

    us: dict[str, float]  # mode → median µs per gather of X and y
    kib: dict[str, float]  # mode → peak KiB allocated during one gather


def measure_gather(data: Data, repeats: int) -> Gather:
    X, y = data.X, data.y
    xb = np.empty((BATCH, X.shape[1]), X.dtype)
    yb = np.empty(BATCH, y.dtype)
    us, kib = {}, {}
    with Threads(1):
        for mode in ("raise", "clip"):

            def gather(k: int, mode: str = mode) -> float:
                for i in range(k):
                    idx = data.batches[i % N_BATCHES]
                    np.take(X, idx, axis=0, out=xb, mode=mode)
                    np.take(y, idx, out=yb, mode=mode)
                return 0.0

            kib[mode] = peak_allocation(gather, 1) / 1024
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                gather(100)
                times.append((time.perf_counter() - t0) / 100 * 1e6)
            us[mode] = statistics.median(times)
    return Gather(us, kib)


# --------------------------------------------------------------------------- report


@dataclass
class Case:
    optimizer: str
    threads: int
    median: dict[str, float]  # contender name → median steps/s
    spread: dict[str, float]  # contender name → IQR / median

    def ratio(self, gdlab_name: str, other: str) -> float:
        return self.median[gdlab_name] / self.median[other]

    def torch_best(self) -> str:
        names = [k for k in self.median if k.startswith("torch")]
        return max(names, key=self.median.get)


def summarise(rate: dict[int, dict[str, list[float]]], contenders: list[Contender]) -> list[Case]:
    cases = []
    for optimizer in ("SGD", "Adam"):
        for n in THREADS:
            med, spread = {}, {}
            for c in contenders:
                if c.optimizer != optimizer:
                    continue
                q1, m, q3 = np.percentile(rate[n][c.key], [25, 50, 75])
                med[c.name], spread[c.name] = float(m), float((q3 - q1) / m)
            cases.append(Case(optimizer, n, med, spread))
    return cases


def table(cases: list[Case]) -> str:
    head = "| Optimizer | Threads | Contender | steps/s | gdlab ratio (raise; ignore) |"
    lines = [head, "|---|---|---|---|---|"]
    labels = {
        "gdlab raise": 'gdlab, `nonfinite="raise"` (default)',
        "gdlab ignore": 'gdlab, `nonfinite="ignore"`',
        "torch default": "PyTorch eager, default (for-loop)",
        "torch foreach": "PyTorch eager, `foreach=True`",
        "torch fused": "PyTorch eager, `fused=True`",
        TEXTBOOK: "textbook NumPy float64 (seed 001)",
    }
    for case in cases:
        for name, sps in case.median.items():
            if name in GDLAB:
                cell = "—"
            else:
                cell = (
                    f"**{case.ratio('gdlab raise', name):.2f}**; "
                    f"{case.ratio('gdlab ignore', name):.2f}"
                )
            lines.append(
                f"| {case.optimizer} | {case.threads} | {labels.get(name, name)} "
                f"| {sps:,.0f} | {cell} |"
            )
    return "\n".join(lines)


def verdicts(cases: list[Case]) -> list[str]:
    """One line per target: met or missed, with the ratio of every case."""

    def ratios(other: Callable[[Case], str], gdlab_name: str = "gdlab raise") -> list[float]:
        return [c.ratio(gdlab_name, other(c)) for c in cases]

    def listing(values: list[float]) -> str:
        return ", ".join(
            f"{c.optimizer} {c.threads}t {v:.2f}" for c, v in zip(cases, values, strict=True)
        )

    out = []
    default = ratios(lambda c: "torch default")
    best = min(ratios(Case.torch_best))
    best_ignore = min(ratios(Case.torch_best, "gdlab ignore"))
    met = "**met**" if min(default) >= TARGET_TORCH else "**missed**"
    also = "also ≥" if best >= TARGET_TORCH else "below"
    out.append(
        f"* gdlab ≥ {TARGET_TORCH}× PyTorch CPU eager (SGD and Adam, 1 and 2 threads): {met}. "
        f"gdlab default (raise) ÷ torch default: {listing(default)} (min {min(default):.2f}). "
        "Against the fastest PyTorch setting of each case (default/foreach/fused): "
        f"min {best:.2f} with raise ({also} {TARGET_TORCH}), {best_ignore:.2f} with ignore."
    )
    textbook = ratios(lambda c: TEXTBOOK)
    met = "**met**" if min(textbook) >= TARGET_TEXTBOOK else "**missed**"
    out.append(
        f"* gdlab ≥ {TARGET_TEXTBOOK:g}× textbook float64 NumPy: {met}. gdlab default (raise) "
        f"÷ textbook: {listing(textbook)} (min {min(textbook):.2f})."
    )
    return out


def spread_line(cases: list[Case]) -> str:
    """The noisiest row: a neighbour on the machine shows up here first."""
    worst = max(
        ((c.spread[k], f"{c.optimizer} {c.threads}t {k}") for c in cases for k in c.spread),
    )
    return (
        f"* Noise: interquartile range ÷ median of the rounds, largest {worst[0] * 100:.0f} % "
        f"({worst[1]}); median over all rows "
        f"{statistics.median(v for c in cases for v in c.spread.values()) * 100:.0f} %."
    )


def blas_line() -> str:
    parts = []
    for info in threadpool_info():  # NumPy's own BLAS (scipy, if loaded, brings another)
        if info.get("user_api") == "blas" and "numpy" in Path(info["filepath"]).parent.name:
            parts.append(
                f"NumPy's BLAS {info.get('internal_api')} {info.get('version')} "
                f"({info.get('architecture', '?')}, {info.get('threading_layer', '?')})"
            )
    cfg = torch.__config__.show()
    torch_blas = "MKL" if "BLAS_INFO=mkl" in cfg else "its bundled BLAS"
    parts.append(f"torch matmuls via {torch_blas} with OpenMP")
    return "; ".join(parts)


def command(args) -> str:
    cmd = "python benchmarks/bench_train.py"
    if args.quick:
        cmd += " --quick"
    for opt in ("rounds", "steps", "warmup"):
        if getattr(args, opt + "_given"):
            cmd += f" --{opt} {getattr(args, opt)}"
    if args.take_mode != "clip":
        cmd += f" --take-mode {args.take_mode}"
    if args.json is not None:
        cmd += f" --json {args.json}"
    return cmd


def section(args, cases, guarded, alloc, gather, missing, wall: float, load) -> str:
    n_params = sum(a * b + b for a, b in itertools.pairwise(SIZES))
    lines = [
        SECTION,
        "",
        f"* Date: {args.date}",
        f"* Machine: {machine()}; {blas_line()}",
        "* Threads: 1 and 2: `threadpool_limits(n, user_api='blas')` for NumPy's BLAS, "
        "`torch.set_num_threads(n)` for PyTorch; gdlab's numba kernels single-threaded.",
        f"* Command: `{command(args)}` ({args.rounds} interleaved rounds, each a block of "
        f"{args.steps} steps per contender and thread count after {args.warmup} untimed ones, "
        f"shuffled order; medians; whole run {wall:.0f} s; load average at the start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} over 1 / 5 / 15 min)",
        f"* Network: {'-'.join(map(str, SIZES))} ReLU, He init, softmax cross-entropy, "
        f"{n_params:,} parameters; batch {BATCH} of the 5,000-digit `mnist_subset()`, "
        f"indices drawn up front (seeded), the same batches for every contender; SGD lr "
        f"{LR['SGD']}, Adam lr {LR['Adam']}.",
        "",
        table(cases),
        "",
        "Steps/s: median over the rounds of one full training step (batch gather, forward, "
        "loss, backward, update, the loss as a Python float). *gdlab ratio*: gdlab's steps/s "
        "÷ the row's, same optimizer and threads, bold with the default "
        '`nonfinite="raise"`, then with `"ignore"`; > 1 means gdlab is faster. '
        "gdlab and PyTorch are float32; the textbook row is the seed's own code "
        "(`benchmarks/_textbook.py`: float64, new arrays everywhere, and the loss computed "
        "again after each update as the seed's race loop does). PyTorch's *default* on CPU "
        "is the for-loop optimizer (torch uses `foreach` by default only on CUDA-like devices).",
        "",
        *verdicts(cases),
        "",
        spread_line(cases),
        f"* Allocations (tracemalloc, peak above the start during {ALLOC_STEPS} warm steps, "
        f"1 thread): "
        + ", ".join(f"{k} {v / 1024:,.1f} KiB" for k, v in alloc.items())
        + f". For scale: the parameters are {n_params:,} float32 = {n_params * 4 / 1024:,.0f} KiB "
        f"(W1 alone {784 * 100 * 4 / 1024:,.0f} KiB).",
        f"* Batch gather alone (X and y, 1 thread): `np.take(..., out=)` with the default "
        f"`mode='raise'` {gather.us['raise']:.0f} µs and {gather.kib['raise']:,.0f} KiB "
        f"allocated per call (NumPy buffers `out` in that mode); with `mode='clip'` "
        f"{gather.us['clip']:.0f} µs and {gather.kib['clip']:,.1f} KiB. The timed gdlab step "
        f"uses mode='{args.take_mode}'.",
        "* Guard (probe loss on 512 fixed samples before → after 20 steps): "
        + ", ".join(f"{k} {a:.3f} → {b:.3f}" for k, (a, b) in guarded.items())
        + ".",
    ]
    if missing:
        lines.append("* Not available in this torch: " + ", ".join(missing) + ".")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round of short blocks")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (11)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per block (200)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps before a block (5)")
    ap.add_argument(
        "--take-mode",
        choices=("clip", "raise"),
        default="clip",
        help="np.take mode of gdlab's batch gather (default clip: no buffering)",
    )
    ap.add_argument("--seed", type=int, default=2026, help="seed of the batch indices")
    ap.add_argument("--json", type=Path, default=None, help="write the raw numbers here")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    args = ap.parse_args(argv)
    for opt, normal, quick in (("rounds", 11, 1), ("steps", 200, 20), ("warmup", 5, 2)):
        setattr(args, opt + "_given", getattr(args, opt) is not None)
        if getattr(args, opt) is None:
            setattr(args, opt, quick if args.quick else normal)

    t_start = time.perf_counter()
    load = os.getloadavg()  # a busy neighbour ruins the 2-thread rows
    data = load_data(args.seed)
    contenders, missing = make_contenders(data, args.take_mode)
    print(f"{len(contenders)} contenders; not available: {', '.join(missing) or 'none'}")

    guarded = guard(contenders)
    for key, (a, b) in guarded.items():
        print(f"  guard {key:28s} probe loss {a:.4f} → {b:.4f}")
    for n in THREADS:  # warm-up under each thread setting (thread pools, caches)
        with Threads(n):
            for c in contenders:
                c.run(max(args.warmup, 2) * 4)

    rate = time_rounds(contenders, args.rounds, args.steps, args.warmup)
    cases = summarise(rate, contenders)
    for case in cases:
        parts = ", ".join(
            f"{k} {v:,.0f}/s (±{case.spread[k] * 50:.0f}%)" for k, v in case.median.items()
        )
        print(f"{case.optimizer:4s} {case.threads}t: {parts}", flush=True)

    alloc = {}
    with Threads(1):
        for c in contenders:
            if c.name in ("gdlab raise", TEXTBOOK):
                alloc[c.key] = peak_allocation(c.run, ALLOC_STEPS)
    gather = measure_gather(data, 11 if args.quick else 51)
    wall = time.perf_counter() - t_start

    text = section(args, cases, guarded, alloc, gather, missing, wall, load)
    print()
    print(text)

    if args.json is not None:
        raw = {
            "date": args.date,
            "machine": machine(),
            "blas": blas_line(),
            "command": command(args),
            "rounds": args.rounds,
            "steps_per_block": args.steps,
            "warmup_per_block": args.warmup,
            "take_mode": args.take_mode,
            "wall_s": wall,
            "loadavg_at_start": load,
            "steps_per_s": {str(n): rate[n] for n in THREADS},
            "median_steps_per_s": [
                {"optimizer": c.optimizer, "threads": c.threads, **c.median} for c in cases
            ],
            "ratios": [
                {
                    "optimizer": c.optimizer,
                    "threads": c.threads,
                    **{
                        f"{g} / {o}": c.ratio(g, o)
                        for g in GDLAB
                        for o in c.median
                        if o not in GDLAB
                    },
                }
                for c in cases
            ],
            "peak_alloc_bytes": alloc,
            "gather_us": gather.us,
            "gather_peak_kib": gather.kib,
            "guard_probe_loss": guarded,
            "missing": missing,
        }
        args.json.write_text(json.dumps(raw, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
