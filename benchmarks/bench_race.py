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
in the same run, and the table reports medians over the rounds. The race is
:func:`gdlab.race.run_experiment` on the built-in experiment with its steps
changed (``Experiment.merge_training``), in this process, on ``--workers``
processes (default 1, like the seed's single loop).

Then the whole job as a user runs it: ``python -m gdlab race mnist --steps N``
as a new process, from the interpreter's start to the written report
(results, figures and ``index.html``, on the command's default workers),
``--cli-runs`` times; its median is set against the seed loop's::

    python benchmarks/bench_race.py                 # 3 rounds of 2000 steps (~10 minutes)
    python benchmarks/bench_race.py --quick         # 1 round of 200 steps, 1 command run
    python benchmarks/bench_race.py --steps 20 --rounds 1 --cli-runs 1   # does it start?

``--against SRC`` times another tree's command too (``PYTHONPATH=SRC``: e.g. the
``src`` of ``git archive HEAD src``), alternating with this one's, and gives
the ratio per round: a change's end-to-end effect measured in one run.
``--installed`` times this checkout installed too, as the README's ``pip install
.`` installs it (into a temporary virtual environment that takes the
dependencies from this interpreter's): its modules' bytecode is compiled once at
install time, where ``python -m gdlab`` from a checkout compiles them at every
start when bytecode is not written (``PYTHONDONTWRITEBYTECODE``). The load
average before each command is printed, to tell a busy machine from an idle one.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
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
from _trees import tree_env  # noqa: E402
from gdlab import experiments, race  # noqa: E402

TARGET = 8.0  # issue 9: the whole race at least 8x the seed's own loop


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


def gdlab_race(steps: int, out: Path, workers: int = 1) -> dict:
    """Seed 001's race in gdlab: the built-in experiment at ``steps`` steps, results.json."""
    experiment = experiments.load("mnist").merge_training(steps=steps)
    return race.run_experiment(experiment, out, progress=False, figures=False, workers=workers)


def _command_seconds(steps: int, out: Path, prefix: list[str], env: dict[str, str]) -> float:
    """One ``gdlab race mnist --steps N`` to ``out`` (``prefix``: how ``gdlab`` is run, with
    ``env``), from its start until its output is read to the end: the seconds it took."""
    command = [*prefix, "race", "mnist", "--steps", str(steps), "--quiet", "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    if not (out / "index.html").is_file():
        raise SystemExit(f"{' '.join(command)} wrote no index.html")
    return seconds


def installed_copy(folder: Path) -> Path:
    """This checkout installed as the README's ``pip install .`` installs it (bytecode
    compiled; the dependencies taken from this interpreter's site-packages), into a new
    virtual environment in ``folder``; its ``gdlab`` command. One small race fills its
    numba cache, as a user's first run would."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(folder)],
                   check=True)  # fmt: skip
    python = folder / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                   check=True)  # fmt: skip
    env = installed_env()
    command = folder / "bin" / "gdlab"
    _command_seconds(10, folder / "warm-up", [str(command)], env)
    return command


def installed_env() -> dict[str, str]:
    """This process's environment without ``PYTHONPATH`` (the installed copy runs its own)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def gdlab_command(
    steps: int, runs: int, against: str | None = None, installed: bool = False
) -> tuple[dict[str, list[float]], list[float]]:
    """Seconds of ``gdlab race mnist --steps N`` from a new process to its report:
    ``{"this": [...]}`` for this checkout's ``python -m gdlab``; with ``against`` (another
    tree's ``src``) ``"against"``; with ``installed``, ``"installed"``: this checkout
    installed (:func:`installed_copy`, POSIX: its ``bin/``). The contenders alternate
    (which goes first alternates too). Second, the load average before each command."""
    seconds: dict[str, list[float]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        how: dict[str, tuple[list[str], dict[str, str]]] = {
            "this": ([sys.executable, "-m", "gdlab"], tree_env(None))
        }
        if against is not None:
            how["against"] = ([sys.executable, "-m", "gdlab"], tree_env(against))
        if installed:
            how["installed"] = ([str(installed_copy(Path(tmp) / "venv"))], installed_env())
        for who in how:
            seconds[who] = []
        for k in range(runs):
            for who in how if k % 2 == 0 else reversed(how):
                if hasattr(os, "getloadavg"):
                    loads.append(os.getloadavg()[0])
                took = _command_seconds(steps, Path(tmp) / f"{who}-{k}", *how[who])
                seconds[who].append(took)
                print(f"command {k + 1} ({who}): {took:.1f} s", file=sys.stderr, flush=True)
    return seconds, loads


def cpu() -> str:
    """The CPU model, as results.json records it."""
    from gdlab.results import environment

    return environment()[1]["processor"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="processes of the race (1)")
    parser.add_argument("--cli-runs", type=int, default=3, help="runs of the full command (3)")
    parser.add_argument("--quick", action="store_true", help="1 round of 200 steps, 1 command")
    parser.add_argument("--no-cli", action="store_true", help="skip timing the full command")
    parser.add_argument(
        "--against",
        metavar="SRC",
        help="also time another tree's command (its src folder, e.g. from `git archive`), "
        "alternating with this one's",
    )
    parser.add_argument(
        "--installed",
        action="store_true",
        help="also time this checkout installed as the README installs it (pip install ., "
        "in a temporary virtual environment), alternating with `python -m gdlab`",
    )
    args = parser.parse_args()
    steps, rounds = (200, 1) if args.quick else (args.steps, args.rounds)
    cli_runs = 1 if args.quick else args.cli_runs
    if min(steps, rounds, args.workers, cli_runs) < 1:
        parser.error("--steps, --rounds, --workers and --cli-runs must be at least 1")

    parts = race.prepare(experiments.load("mnist")).parts
    X, t = parts["train"].X, parts["train"].y  # the same 4,000 digits, float32 in [0, 1]

    # Warm up both (numba compiles on first use; BLAS spins up).
    with tempfile.TemporaryDirectory() as tmp:
        gdlab_race(10, Path(tmp), args.workers)
    seed_loop(X, t, 5)

    times: dict[str, list[float]] = {"gdlab": [], "seed": []}
    checks = {}
    for r in range(rounds):
        order = ("gdlab", "seed") if r % 2 == 0 else ("seed", "gdlab")
        for who in order:
            start = time.perf_counter()
            if who == "gdlab":
                with tempfile.TemporaryDirectory() as tmp:
                    doc = gdlab_race(steps, Path(tmp), args.workers)
                checks["gdlab"] = {run["label"]: run["loss"][-50:] for run in doc["runs"]}
            else:
                losses = seed_loop(X, t, steps)
                checks["seed"] = {k: v[-50:] for k, v in losses.items()}
            times[who].append(time.perf_counter() - start)
            print(f"round {r + 1}: {who} {times[who][-1]:.1f} s", file=sys.stderr, flush=True)

    # Both trained: the smoothed final losses are of the same size (after a real race).
    for label in checks["seed"] if steps >= 200 else ():
        a, b = np.mean(checks["gdlab"][label]), np.mean(checks["seed"][label])
        assert a < 2.5, (label, a)
        assert b < 2.5, (label, b)

    g, s = statistics.median(times["gdlab"]), statistics.median(times["seed"])
    ratio = s / g
    commands, loads = (
        ({}, []) if args.no_cli else gdlab_command(steps, cli_runs, args.against, args.installed)
    )
    cli_times = commands.get("this", [])

    import numba
    import threadpoolctl

    blas = threadpoolctl.threadpool_info()
    threads = blas[0]["num_threads"] if blas else "?"
    print()
    print("## Seed 001's race (bench_race.py)")
    print()
    print(f"* Date: {datetime.date.today().isoformat()}")
    print(f"* Machine: {cpu()}, {os.cpu_count()} logical cores; NumPy "
          f"{np.__version__}, numba {numba.__version__}; BLAS threads {threads}")  # fmt: skip
    print(
        f"* Command: `python benchmarks/{' '.join([Path(__file__).name, *sys.argv[1:]])}` "
        f"({rounds} rounds, {steps} steps, race on {args.workers} process(es), medians)"
    )
    print()
    print("| contender | seconds (median) | rounds |")
    print("|---|---|---|")
    print(f"| gdlab race (6 optimizers, float32, evaluation, results.json) | {g:.2f} | "
          + ", ".join(f"{x:.2f}" for x in times["gdlab"]) + " |")  # fmt: skip
    for who, values in commands.items():
        c = statistics.median(values)
        tree = {
            "this": ", `python -m gdlab` from this checkout",
            "against": f", the tree in {args.against}",
            "installed": ", this checkout installed by `pip install .`",
        }[who]
        print(f"| `gdlab race mnist --steps {steps}` (new process to written report{tree}) | "
              f"{c:.2f} | " + ", ".join(f"{x:.2f}" for x in values) + " |")  # fmt: skip
    print(f"| seed's loop (book classes, float64, global random state) | {s:.2f} | "
          + ", ".join(f"{x:.2f}" for x in times["seed"]) + " |")  # fmt: skip
    print()
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"* gdlab ÷ seed: **{ratio:.2f}×** faster (target ≥ {TARGET:.0f}×: {verdict})")
    if cli_times:
        c = statistics.median(cli_times)
        print(f"* seed ÷ `gdlab race mnist` end to end (a new process: imports, data, 6 runs, "
              f"figures, index.html; median of {len(cli_times)}): **{s / c:.2f}×**")  # fmt: skip
    if loads:
        print("* load average (1 min) before each command, in order: "
              + ", ".join(f"{x:.2f}" for x in loads))  # fmt: skip
    if "against" in commands:
        pairs = [a / b for a, b in zip(commands["this"], commands["against"], strict=True)]
        print(f"* this tree ÷ the one in {args.against}, end to end, per round: "
              + ", ".join(f"{x:.3f}" for x in pairs)
              + f"; median **{statistics.median(pairs):.3f}**")  # fmt: skip


if __name__ == "__main__":
    main()
