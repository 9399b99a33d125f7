"""Report figures: how long :func:`gdlab.report.figures.draw` takes, against an anchor.

Two results documents are made once, with ``--no-figures``: seed 001's MNIST
race (six optimizers, ``--steps`` steps, default 2000: a loss and an accuracy
figure) and the bowl race (overlay, paths and loss). Then, in ``--repeats``
rounds, each round times

* **anchor**: a plain matplotlib figure (no gdlab) with six 2000-point lines,
  a log y-axis, a title and a legend, constrained layout, saved as PNG (120
  dpi) and SVG: what the machine does with matplotlib alone at that moment;
* **mnist** and **bowl**: ``figures.draw`` of each document into a scratch
  directory (every figure, PNG and SVG, as ``gdlab race`` writes them).

It prints the median wall and CPU seconds of each, and each draw's ratio to
the anchor's median (the ratio is what to compare across runs: the VM is
shared and noisy, and the anchor is slowed down with the rest). The first
round, which imports matplotlib, is not counted. To time the code of another
checkout (before a change)::

    python benchmarks/bench_figures.py                 # 5 rounds
    PYTHONPATH=/tmp/fig-base/src python benchmarks/bench_figures.py --docs DIR
                                                       # the same documents, old code

``--docs DIR`` reuses (or keeps) the two documents in ``DIR``, so both runs
draw the same data.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import io
import json
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

LINES, POINTS = 6, 2000


def make_documents(directory: Path, steps: int) -> dict[str, Path]:
    """The two results documents, made with ``gdlab race --no-figures`` unless present."""
    races = {"mnist": ["mnist", "--steps", str(steps)], "bowl": ["bowl"]}
    found = {}
    for name, args in races.items():
        out = directory / name
        if not (out / "results.json").exists():
            command = [sys.executable, "-m", "gdlab", "race", *args, "--no-figures", "--quiet"]
            subprocess.run([*command, "--out", str(out), "--force"], check=True, cwd=directory)
        found[name] = out / "results.json"
    return found


def anchor() -> None:
    """A plain matplotlib figure of the loss figure's size and curves, PNG and SVG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rng = np.random.default_rng(0)
    steps = np.arange(POINTS)
    fig = Figure(figsize=(7.4, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for k in range(LINES):
        noise = np.exp(0.2 * rng.standard_normal(POINTS))
        ax.plot(steps, 2.3 * noise / (1 + steps) ** (0.3 + 0.1 * k), lw=1.8, label=f"run {k}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("anchor")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)
    fig.savefig(io.BytesIO(), format="png", dpi=120)
    fig.savefig(io.BytesIO(), format="svg", metadata={"Date": None})


def machine() -> str:
    """The CPU's model name, as results.json records it."""
    from gdlab.results import environment

    return environment()[1]["processor"]


def timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5, help="counted rounds (default 5)")
    parser.add_argument("--steps", type=int, default=2000, help="MNIST race steps (default 2000)")
    parser.add_argument("--docs", type=Path, help="keep the documents here (reused if present)")
    args = parser.parse_args(argv)

    from gdlab.report import figures

    with tempfile.TemporaryDirectory() as scratch:
        docs_dir = args.docs or Path(scratch)
        docs_dir.mkdir(parents=True, exist_ok=True)
        documents = {
            name: json.loads(path.read_text())
            for name, path in make_documents(docs_dir, args.steps).items()
        }
        work = {"anchor": anchor}
        for name, doc in documents.items():
            target = Path(scratch) / f"draw-{name}"
            work[name] = lambda doc=doc, target=target: figures.draw(doc, target)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in work}
        for round_ in range(args.repeats + 1):
            for name, job in work.items():
                result = timed(job)
                if round_:
                    times[name].append(result)

    print(f"gdlab.report.figures from {Path(figures.__file__).parent.parent.parent}")
    print(
        f"{datetime.date.today()}  {machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        f"median of {args.repeats} rounds"
    )
    base = statistics.median(w for w, _ in times["anchor"])
    base_cpu = statistics.median(c for _, c in times["anchor"])
    print(f"{'':8} {'wall s':>8} {'cpu s':>8} {'÷ anchor (wall)':>16} {'÷ anchor (cpu)':>15}")
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:8} {wall:8.3f} {cpu:8.3f} {wall / base:16.2f} {cpu / base_cpu:15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
