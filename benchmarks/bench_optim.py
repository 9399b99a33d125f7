"""Speed of one optimizer update: gdlab's fused numba kernels against PyTorch on CPU.

Run from the repository root::

    python benchmarks/bench_optim.py                 # default: 10M parameters, ~3 min
    python benchmarks/bench_optim.py --quick         # smoke run: 1M parameters, ~15 s
    python benchmarks/bench_optim.py --out docs/benchmarks.md   # also write the docs section

Everything is float32. PyTorch runs with ``torch.set_num_threads(1)``; gdlab's
numba kernels are single-threaded, so both sides use one core.

What is timed: only ``opt.update(params, grads)`` (gdlab) and ``opt.step()``
(PyTorch, with ``p.grad`` set once beforehand), after warm-up steps that create
the state and compile the kernels. For each case the contenders run
interleaved, one step each per round (the order rotates between rounds), so
that a noisy neighbour slows all of them alike; the table shows the median
over the rounds and ratios of medians from the same run.

Contenders per optimizer:

* gdlab with ``nonfinite="raise"`` (the default: one extra read of the
  gradient to check for NaN/inf before anything changes) and with
  ``nonfinite="ignore"`` (no check: the same work as PyTorch);
* PyTorch with ``foreach=True`` and, where torch supports it on CPU for that
  optimizer (found by trying), ``fused=True``; "torch best" is the faster;
* for Adam, the seed's textbook NumPy update (new temporaries every step).

The memory floor of an update is its compulsory traffic (bytes read and
written per parameter: Adam reads p, g, m, v and writes p, m, v = 28 B) divided
by the machine's read-modify-write bandwidth, measured here with a numba triad
``x[i] = a·x[i] + y[i]`` (12 B per element) over arrays far larger than the
caches. A ratio "÷ floor" near 1 means the kernel runs at memory speed.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import torch
from numba import njit

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("gdlab") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT / "src"))

import gdlab  # noqa: E402
from gdlab.optim import (  # noqa: E402
    OPTIMIZERS,
    SGD,
    Adadelta,
    AdaGrad,
    Adam,
    Adamax,
    AdamW,
    Momentum,
    NAdam,
    Nesterov,
    RAdam,
    RMSprop,
)
from gdlab.optim import fused as gdlab_fused  # noqa: E402

SECTION = "## Optimizer updates (bench_optim.py)"
DTYPE = np.float32
N_ARRAYS = 20

# --------------------------------------------------------------------------- memory floor


@njit(cache=False, nogil=True)
def _triad(x, y, a):
    for i in range(x.size):
        x[i] = a * x[i] + y[i]


@njit(cache=False, nogil=True)
def _copy(dst, src):
    for i in range(src.size):
        dst[i] = src[i]


@njit(cache=False, nogil=True, fastmath=True)  # fastmath: a vectorised sum
def _read(x):
    acc = np.float32(0.0)
    for i in range(x.size):
        acc += x[i]
    return acc


@dataclass
class Bandwidth:
    triad: float  # GB/s, 12 B per element (read x, y; write x)
    copy: float  # GB/s, 8 B per element counted (read src, write dst)
    read: float  # GB/s, 4 B per element
    n: int


def measure_bandwidth(n: int, repeats: int) -> Bandwidth:
    """Median bandwidths of three numba loops over float32 arrays of n elements."""
    x = np.ones(n, DTYPE)
    y = np.full(n, 0.5, DTYPE)
    a = DTYPE(0.5)  # x stays finite: x ← x/2 + 1/2 → 1
    kernels = {
        "triad": (lambda: _triad(x, y, a), 12),
        "copy": (lambda: _copy(x, y), 8),
        "read": (lambda: _read(y), 4),
    }
    times = interleave({k: f for k, (f, _) in kernels.items()}, repeats, warmup=2)
    gbs = {k: kernels[k][1] * n / statistics.median(t) / 1e9 for k, t in times.items()}
    return Bandwidth(gbs["triad"], gbs["copy"], gbs["read"], n)


def time_check(n: int, repeats: int) -> float:
    """Median ms of gdlab's non-finite check (one read of the gradient) on n float32."""
    g = np.random.default_rng(0).standard_normal(n, dtype=DTYPE)
    times = interleave({"all_finite": lambda: gdlab_fused.all_finite(g)}, repeats)
    return statistics.median(times["all_finite"]) * 1e3


# --------------------------------------------------------------------------- timing


def interleave(
    steps: dict[str, Callable[[], object]], repeats: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Time each callable once per round, ``repeats`` rounds, in a fresh random order.

    A shuffled order (fixed seed) rather than a rotation, so that no contender
    always follows the same one (what runs before a step changes the cache's
    dirty lines and the allocator's state, by a few per cent).
    """
    order = random.Random(0)
    for f in steps.values():
        for _ in range(warmup):
            f()
    names = list(steps)
    times: dict[str, list[float]] = {k: [] for k in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for name in order.sample(names, len(names)):
                f = steps[name]
                t0 = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


# --------------------------------------------------------------------------- the cases


@dataclass
class Spec:
    """One optimizer configuration on both sides."""

    label: str
    gdlab: Callable[..., object]  # (nonfinite=...) -> gdlab optimizer
    torch_cls: type | None  # None: torch has no such optimizer
    torch_kwargs: dict
    bytes_per_param: int | None  # compulsory traffic: (arrays read + written) × 4; None: no floor
    textbook: bool = False  # add the textbook NumPy Adam as a contender


def _g(cls, **kw):
    return lambda nonfinite: cls(**kw, nonfinite=nonfinite)


# Hyperparameters: both libraries' defaults, which agree (gdlab's Momentum and
# Nesterov default to momentum 0.9; torch's SGD is given it).
ADAM = Spec("Adam", _g(Adam), torch.optim.Adam, {"lr": 1e-3}, 28, textbook=True)
OTHERS = [
    Spec("SGD", _g(SGD), torch.optim.SGD, {"lr": 1e-3}, 12),
    Spec("Momentum (torch form)", _g(Momentum), torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}, 20),
    Spec(
        "Nesterov (torch form)",
        _g(Nesterov),
        torch.optim.SGD,
        {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
        20,
    ),
    Spec("AdaGrad", _g(AdaGrad), torch.optim.Adagrad, {"lr": 1e-2}, 20),
    Spec("RMSprop", _g(RMSprop), torch.optim.RMSprop, {"lr": 1e-2}, 20),
    Spec(
        "RMSprop centered+momentum",
        _g(RMSprop, centered=True, momentum=0.9),
        torch.optim.RMSprop,
        {"lr": 1e-2, "centered": True, "momentum": 0.9},
        36,
    ),
    Spec("Adadelta", _g(Adadelta), torch.optim.Adadelta, {"lr": 1.0}, 28),
    Spec("AdamW", _g(AdamW), torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 1e-2}, 28),
    Spec("Adamax", _g(Adamax), torch.optim.Adamax, {"lr": 2e-3}, 28),
    Spec("NAdam", _g(NAdam), torch.optim.NAdam, {"lr": 2e-3}, 28),
    Spec("RAdam", _g(RAdam), torch.optim.RAdam, {"lr": 1e-3}, 28),
]


#: The torch class (and its arguments) for each later optimizer torch ships.
TORCH_ZOO = {
    "rprop": (torch.optim.Rprop, {"lr": 1e-2}),
    "asgd": (torch.optim.ASGD, {"lr": 1e-2}),
    "adafactor": (torch.optim.Adafactor, {"lr": 1e-2}),
    "muon": (torch.optim.Muon, {"lr": 1e-3}),
}
#: Optimizers a one-gradient update cannot time: they evaluate the loss again.
NEEDS_CLOSURE_SKIPPED = ("lbfgs", "sam")


def zoo_specs() -> list[Spec]:
    """Every registered optimizer beyond the first eleven, at its defaults.

    Element-wise rules read p, g and their state and write p and the state:
    ``(3 + 2·states) × 4`` bytes per parameter. Rules with per-array norms or
    matrix products (LAMB, LARS, NovoGrad, Muon, Adafactor, SM3, the
    wrappers) have no such floor; their row shows "—" there.
    """
    specs = []
    for name, cls in OPTIMIZERS.items():
        if cls.__module__ == "gdlab.optim.optimizers" or cls.needs_closure:
            continue
        if name in NEEDS_CLOSURE_SKIPPED:
            continue
        torch_cls, torch_kwargs = TORCH_ZOO.get(name, (None, {}))
        elementwise = cls._elementwise and cls.__module__ != "gdlab.optim.wrappers"
        states = len(cls().state_names)  # an instance's: some depend on the arguments
        floor = (3 + 2 * states) * 4 if elementwise else None
        specs.append(Spec(cls.__name__, _g(cls), torch_cls, torch_kwargs, floor))
    return specs


def layout_sizes(total: int, n_arrays: int) -> list[int]:
    """``n_arrays`` varied sizes (log-normal, fixed seed) summing to ``total``."""
    if n_arrays == 1:
        return [total]
    w = np.random.default_rng(2026).lognormal(0.0, 1.2, n_arrays)
    sizes = np.maximum((w / w.sum() * total).astype(np.int64), 1)
    sizes[np.argmax(sizes)] += total - sizes.sum()
    return [int(s) for s in sizes]


def make_data(sizes: list[int]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    params = {f"w{i}": rng.standard_normal(n, dtype=DTYPE) for i, n in enumerate(sizes)}
    grads = {f"w{i}": rng.standard_normal(n, dtype=DTYPE) for i, n in enumerate(sizes)}
    return params, grads


def gdlab_contender(spec: Spec, nonfinite: str, params, grads) -> Callable[[], None]:
    p = {k: v.copy() for k, v in params.items()}
    g = {k: v.copy() for k, v in grads.items()}
    opt = spec.gdlab(nonfinite)
    return lambda: opt.update(p, g)


def torch_contender(spec: Spec, mode: str, params, grads) -> Callable[[], object] | None:
    """``opt.step`` for a torch optimizer with ``foreach``/``fused``; None if unsupported."""
    if spec.torch_cls is None:
        return None
    tensors = []
    for k, v in params.items():
        t = torch.nn.Parameter(torch.from_numpy(v.copy()))
        t.grad = torch.from_numpy(grads[k].copy())
        tensors.append(t)
    try:
        opt = spec.torch_cls(tensors, **spec.torch_kwargs, **{mode: True})
        opt.step()
    except (RuntimeError, TypeError, ValueError):
        return None
    return opt.step


def textbook_adam(params, grads, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8) -> Callable[[], None]:
    """Seed 000's NumPy Adam: every line makes a new array."""
    p = {k: v.copy() for k, v in params.items()}
    g = {k: v.copy() for k, v in grads.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    t = [0]

    def step() -> None:
        t[0] += 1
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            mhat = m[k] / (1 - b1 ** t[0])
            vhat = v[k] / (1 - b2 ** t[0])
            p[k] = p[k] - lr * mhat / (np.sqrt(vhat) + eps)

    return step


@dataclass
class Result:
    label: str
    layout: str
    floor_ms: float | None
    ms: dict[str, float] = field(default_factory=dict)  # contender → median ms
    spread: dict[str, float] = field(default_factory=dict)  # contender → IQR / median

    def torch_best(self) -> tuple[str, float | None]:
        cands = {k: v for k, v in self.ms.items() if k.startswith("torch")}
        if not cands:
            return "no torch", None
        k = min(cands, key=cands.get)
        return k, cands[k]


def run_case(spec: Spec, sizes: list[int], layout: str, repeats: int, bw: Bandwidth) -> Result:
    params, grads = make_data(sizes)
    steps: dict[str, Callable[[], object]] = {
        "gdlab raise": gdlab_contender(spec, "raise", params, grads),
        "gdlab ignore": gdlab_contender(spec, "ignore", params, grads),
    }
    for mode in ("foreach", "fused"):
        f = torch_contender(spec, mode, params, grads)
        if f is not None:
            steps[f"torch {mode}"] = f
    if spec.textbook:
        steps["textbook NumPy"] = textbook_adam(params, grads)
    del params, grads
    times = interleave(steps, repeats)
    total = sum(sizes)
    floor = None if spec.bytes_per_param is None else spec.bytes_per_param * total / bw.triad / 1e6
    res = Result(spec.label, layout, floor)
    for k, ts in times.items():
        q1, med, q3 = np.percentile(ts, [25, 50, 75])
        res.ms[k] = med * 1e3
        res.spread[k] = (q3 - q1) / med
    del steps
    gc.collect()
    return res


# --------------------------------------------------------------------------- report


def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def table(results: list[Result]) -> str:
    head = (
        "| Optimizer | Layout | floor ms | gdlab raise ms | gdlab ignore ms | torch foreach ms "
        "| torch fused ms | torch best ÷ gdlab raise | torch best ÷ gdlab ignore "
        "| raise ÷ floor | ignore ÷ floor |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        _, best = r.torch_best()
        ms = r.ms

        def ratio(a: float | None, b: float | None, bold: bool = False) -> str:
            if a is None or b is None:
                return "—"
            return f"**{a / b:.2f}**" if bold else f"{a / b:.2f}"

        lines.append(
            f"| {r.label} | {r.layout} | {_fmt(r.floor_ms)} | {_fmt(ms['gdlab raise'])} "
            f"| {_fmt(ms['gdlab ignore'])} | {_fmt(ms.get('torch foreach'))} "
            f"| {_fmt(ms.get('torch fused'))} | {ratio(best, ms['gdlab raise'], True)} "
            f"| {ratio(best, ms['gdlab ignore'], True)} | {ratio(ms['gdlab raise'], r.floor_ms)} "
            f"| {ratio(ms['gdlab ignore'], r.floor_ms)} |"
        )
        if "textbook NumPy" in ms and best is not None and r.floor_ms is not None:
            tb = ms["textbook NumPy"]
            lines.append(
                f"| {r.label}: textbook NumPy (seed 000) | {r.layout} | {_fmt(r.floor_ms)} "
                f"| {_fmt(tb)} (no check) | — | — | — | {best / tb:.2f} | — "
                f"| {tb / r.floor_ms:.2f} | — |"
            )
    return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        info = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
        fam = re.search(r"^cpu family\s*:\s*(\d+)$", info, re.M)
        mod = re.search(r"^model\s*:\s*(\d+)$", info, re.M)
        flags = re.search(r"^flags\s*:\s*(.+)$", info, re.M)
        if m:
            model = m.group(1).strip()
            if fam and mod:
                model += f" (family {fam.group(1)}, model {mod.group(1)})"
        if flags:
            have = [f for f in ("avx2", "fma", "avx512f") if f in flags.group(1).split()]
            model += ", " + "/".join(x.upper() for x in have)
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} logical cores; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, numba {numba.__version__}, torch {torch.__version__}, "
        f"gdlab {gdlab.__version__}"
    )


def section(
    args, bw: Bandwidth, results: list[Result], n: int, wall: float, ms_check: float
) -> str:
    cmd = "python benchmarks/bench_optim.py" + (" --quick" if args.quick else "")
    if args.repeats_given:
        cmd += f" --repeats {args.repeats}"
    if args.params:
        cmd += f" --params {args.params}"
    if args.no_multi:
        cmd += " --no-multi"
    if args.out is not None:
        cmd += f" --out {args.out}"
    return "\n".join(
        [
            SECTION,
            "",
            f"* Date: {args.date}",
            f"* Machine: {machine()}",
            "* Threads: numba kernels single-threaded; `torch.set_num_threads(1)`.",
            f"* Command: `{cmd}` ({args.repeats} interleaved rounds per case, "
            f"{n:,} float32 parameters, medians; whole run {wall:.0f} s)",
            f"* Memory bandwidth (numba, {bw.n:,}-element float32 arrays): "
            f"triad `x[i] = a·x[i] + y[i]` **{bw.triad:.1f} GB/s** (12 B/element), "
            f"copy {bw.copy:.1f} GB/s (8 B/element counted), read-only {bw.read:.1f} GB/s. "
            f"Floor = compulsory bytes per parameter ÷ triad bandwidth; for Adam 28 B × "
            f"{n:,} ÷ {bw.triad:.1f} GB/s = {28 * n / bw.triad / 1e6:.2f} ms. The triad is "
            "not a hard bound: a kernel with more streams can beat it slightly (÷ floor < 1).",
            f"* gdlab's non-finite check alone (`all_finite`, one read of a {n:,}-element "
            f"gradient): {ms_check:.2f} ms = {4 * n / ms_check / 1e6:.1f} GB/s.",
            "",
            table(results),
            "",
            "Columns: median milliseconds per step. *torch best* is the faster of `foreach=True` "
            "and `fused=True` (fused exists on CPU for SGD, Adagrad, Adam and AdamW only). "
            "Ratios ≥ 1.00 mean gdlab is at least as fast. *raise*: gdlab's default "
            '`nonfinite="raise"` (reads the gradient once more, to check for NaN/inf before '
            'changing anything); *ignore*: `nonfinite="ignore"`, no check, the work PyTorch does. '
            "*÷ floor*: time over the memory floor (compulsory bytes: SGD 12, Momentum/Nesterov/"
            "AdaGrad/RMSprop 20, Adam family/Adadelta/Adamax 28, RMSprop centered+momentum 36 "
            "per parameter). The textbook row is seed 000's NumPy Adam (new arrays every line).",
            "",
        ]
    )


INTRO = """# Benchmarks

How fast gdlab's optimizer updates are, measured against PyTorch on CPU.

Run from the repository root (PyTorch is an optional dependency: `pip install torch==2.13.0`):

```
python benchmarks/bench_optim.py            # ~3 minutes, 10M parameters
python benchmarks/bench_optim.py --quick    # ~15 s smoke run, 1M parameters
python benchmarks/bench_optim.py --out docs/benchmarks.md   # rewrite the section below
```

"""


def write_section(path: Path, text: str) -> None:
    """Replace the section in ``path`` (up to the next ``## `` heading), or append it."""
    old = path.read_text() if path.exists() else INTRO
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        rest = "" if nxt < 0 else "\n" + old[nxt + 1 :]
        new = old[:start] + text.rstrip("\n") + "\n" + rest
    path.write_text(new.rstrip("\n") + "\n")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 1M parameters, few repeats")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds per case")
    ap.add_argument("--params", type=int, default=None, help="parameters per case (10M)")
    ap.add_argument("--out", type=Path, default=None, help="write the section into this file")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated labels to run (e.g. Adam,Lion); default every case",
    )
    ap.add_argument(
        "--no-zoo", action="store_true", help="skip the optimizers beyond the first eleven"
    )
    ap.add_argument(
        "--no-multi",
        action="store_true",
        help="skip the 20-array layout for the optimizers other than Adam",
    )
    args = ap.parse_args(argv)
    args.repeats_given = args.repeats is not None
    if args.repeats is None:
        args.repeats = 7 if args.quick else 101
    n = args.params or (1_000_000 if args.quick else 10_000_000)

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    bw_n = 16_000_000 if args.quick else 32_000_000
    bw = measure_bandwidth(bw_n, 7 if args.quick else 25)
    print(
        f"bandwidth ({bw_n:,} float32): triad {bw.triad:.1f} GB/s, copy {bw.copy:.1f} GB/s, "
        f"read {bw.read:.1f} GB/s; Adam floor {28 * n / bw.triad / 1e6:.2f} ms for {n:,} params",
        flush=True,
    )
    ms_check = time_check(n, 2 * args.repeats)
    print(
        f"gdlab non-finite check (all_finite) on {n:,} float32: {ms_check:.2f} ms "
        f"= {4 * n / ms_check / 1e6:.1f} GB/s",
        flush=True,
    )

    one = layout_sizes(n, 1)
    many = layout_sizes(n, N_ARRAYS)
    lay_one, lay_many = f"1 × {n / 1e6:g}M", f"{N_ARRAYS} arrays ({min(many):,}–{max(many):,})"
    plan = [(ADAM, one, lay_one), (ADAM, many, lay_many)]
    for spec in OTHERS:
        plan.append((spec, one, lay_one))
    if not args.no_multi:
        plan += [(spec, many, lay_many) for spec in OTHERS]
    if not args.no_zoo:
        plan += [(spec, many, lay_many) for spec in zoo_specs()]
    if args.only:
        wanted = {w.strip().lower() for w in args.only.split(",")}
        plan = [entry for entry in plan if entry[0].label.lower() in wanted]

    results = []
    for spec, sizes, layout in plan:
        t0 = time.perf_counter()
        r = run_case(spec, sizes, layout, args.repeats, bw)
        results.append(r)
        best_name, best = r.torch_best()
        parts = ", ".join(f"{k} {v:.2f} ms (±{r.spread[k] * 50:.0f}%)" for k, v in r.ms.items())
        versus = (
            ""
            if best is None
            else f"; {best_name}/raise {best / r.ms['gdlab raise']:.2f}, "
            f"/ignore {best / r.ms['gdlab ignore']:.2f}"
        )
        print(
            f"{spec.label:27s} {layout:24s} {parts}{versus} [{time.perf_counter() - t0:.1f} s]",
            flush=True,
        )
    wall = time.perf_counter() - t_start
    text = section(args, bw, results, n, wall, ms_check)
    print()
    print(text)
    if args.out is not None:
        write_section(args.out, text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
