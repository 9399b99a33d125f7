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

``--docs DIR`` reuses (or keeps) the documents in ``DIR``, so both runs draw
the same data.

``--plots`` adds the documents of ``gdlab plot schedules``, ``ewma`` and
``init`` (``--only`` picks documents by name: ``--only init``).

**Old against new in one run.** ``--against SRC`` (a ``src`` directory of
another checkout, e.g. ``git archive HEAD src | tar -x -C /tmp/fig-base``)
times both codes in the same run, alternating: each round starts one worker
process per side (old first in odd rounds, new first in even ones), each
worker draws every document once untimed and then ``--inner`` times timed,
and each round also runs ``gdlab plot init`` end to end once per side
(the child's CPU seconds: imports, the series, the figures and the page).
It prints, per document and side, the median wall and CPU seconds of all
timed draws, and the median over rounds of the new/old ratio of the round's
medians (the pairs ran seconds apart, so a load that comes and goes moves
both)::

    python benchmarks/bench_figures.py --plots --only init --against /tmp/fig-base/src
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import io
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if importlib.util.find_spec("gdlab") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT / "src"))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _trees import tree_env  # noqa: E402

LINES, POINTS = 6, 2000


PLOTS = ("schedules", "ewma", "init")


def make_documents(
    directory: Path, steps: int, names: Sequence[str] = ("mnist", "bowl")
) -> dict[str, Path]:
    """The results documents, made with ``gdlab race --no-figures`` (or ``gdlab plot``,
    whose figures are drawn then too) unless present."""
    races = {"mnist": ["race", "mnist", "--steps", str(steps), "--no-figures"]}
    races |= {"bowl": ["race", "bowl", "--no-figures"]}
    races |= {kind: ["plot", kind] for kind in PLOTS}
    found = {}
    for name in names:
        out = directory / name
        if not (out / "results.json").exists():
            command = [sys.executable, "-m", "gdlab", *races[name], "--quiet"]
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


def draw_jobs(documents: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """One job per document: ``figures.draw`` of it into its own scratch directory."""
    from gdlab.report import figures

    jobs = {}
    for name, doc in documents.items():
        target = scratch / f"draw-{name}"
        jobs[name] = lambda doc=doc, target=target: figures.draw(doc, target)
    return jobs


def worker(docs: dict[str, Path], inner: int) -> dict[str, list[tuple[float, float]]]:
    """This process's code: each document drawn once untimed, then ``inner`` times timed."""
    with tempfile.TemporaryDirectory() as scratch:
        documents = {name: json.loads(path.read_text()) for name, path in docs.items()}
        jobs = draw_jobs(documents, Path(scratch))
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
        for round_ in range(inner + 1):
            for name, job in jobs.items():
                result = timed(job)
                if round_:
                    times[name].append(result)
    return times


def command_cpu(src: Path | None, scratch: Path) -> tuple[float, float]:
    """``gdlab plot init`` end to end with the code in ``src`` (``None``: this checkout's):
    the child's wall and CPU seconds."""
    env = tree_env(src)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    command = [sys.executable, "-m", "gdlab", "plot", "init", "--quiet", "--force"]
    out = ["--out", str(scratch / "cli")]
    subprocess.run([*command, *out], check=True, env=env, cwd=scratch, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_worker(src: Path | None, docs_dir: Path, names: Sequence[str], inner: int) -> dict:
    """A worker process with the code in ``src`` (``None``: this checkout's)."""
    env = tree_env(src)
    command = [sys.executable, __file__, "--worker", "--docs", str(docs_dir), "--inner", str(inner)]
    done = subprocess.run(
        [*command, "--only", *names], check=True, env=env, capture_output=True, text=True
    )
    answer = json.loads(done.stdout.splitlines()[-1])
    if Path(answer["src"]) != (src or ROOT / "src").resolve():  # an install that shadows src
        raise SystemExit(f"the worker ran the code in {answer['src']}, not {src or ROOT / 'src'}")
    return answer["times"]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def against(args: argparse.Namespace, docs_dir: Path, names: Sequence[str]) -> int:
    """Old (``args.against``) and new (this checkout) code, alternating, in one run."""
    sides = {"old": args.against.resolve(), "new": None}
    keys = [*names, "plot init (CLI)"]
    samples: dict[str, dict[str, list]] = {side: {k: [] for k in keys} for side in sides}
    per_round: dict[str, dict[str, list]] = {side: {k: [] for k in keys} for side in sides}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.repeats):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                times = run_worker(sides[side], docs_dir, names, args.inner)
                times["plot init (CLI)"] = [command_cpu(sides[side], Path(scratch))]
                for key in keys:
                    samples[side][key] += times[key]
                    per_round[side][key].append(_median([c for _, c in times[key]]))
            print(f"round {round_ + 1}/{args.repeats} done", file=sys.stderr)
    print(f"old: {sides['old']}\nnew: {ROOT / 'src'}")
    print(
        f"{datetime.date.today()}  {machine()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}, {args.repeats} rounds x {args.inner} timed draws per side"
    )
    header = f"{'':16} {'old wall':>9} {'old cpu':>8} {'new wall':>9} {'new cpu':>8}"
    print(f"{header} {'new/old cpu':>12} {'(range)':>13}")
    for key in keys:
        old, new = samples["old"][key], samples["new"][key]
        ratios = [n / o for n, o in zip(per_round["new"][key], per_round["old"][key], strict=True)]
        print(
            f"{key:16} {_median([w for w, _ in old]):9.3f} {_median([c for _, c in old]):8.3f} "
            f"{_median([w for w, _ in new]):9.3f} {_median([c for _, c in new]):8.3f} "
            f"{_median(ratios):12.2f} {min(ratios):6.2f}-{max(ratios):.2f}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5, help="counted rounds (default 5)")
    parser.add_argument("--steps", type=int, default=2000, help="MNIST race steps (default 2000)")
    parser.add_argument("--docs", type=Path, help="keep the documents here (reused if present)")
    parser.add_argument("--plots", action="store_true", help="also gdlab plot's documents")
    known = ["mnist", "bowl", *PLOTS]
    parser.add_argument("--only", nargs="+", choices=known, metavar="NAME", help="only these")
    parser.add_argument("--against", type=Path, metavar="SRC", help="old code: its src directory")
    parser.add_argument("--inner", type=int, default=3, help="timed draws per worker (default 3)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.only or ["mnist", "bowl", *(PLOTS if args.plots else ())]

    if args.worker:
        from gdlab.report import figures

        docs = {name: args.docs / name / "results.json" for name in names}
        code = str(Path(figures.__file__).resolve().parents[2])
        print(json.dumps({"src": code, "times": worker(docs, args.inner)}))
        return 0

    from gdlab.report import figures

    with tempfile.TemporaryDirectory() as scratch:
        docs_dir = args.docs or Path(scratch)
        docs_dir.mkdir(parents=True, exist_ok=True)
        paths = make_documents(docs_dir, args.steps, names)
        if args.against is not None:
            return against(args, docs_dir, names)
        documents = {name: json.loads(path.read_text()) for name, path in paths.items()}
        work = {"anchor": anchor, **draw_jobs(documents, Path(scratch))}
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
    print(f"{'':9} {'wall s':>8} {'cpu s':>8} {'÷ anchor (wall)':>16} {'÷ anchor (cpu)':>15}")
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:9} {wall:8.3f} {cpu:8.3f} {wall / base:16.2f} {cpu / base_cpu:15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
