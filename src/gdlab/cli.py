"""The ``gdlab`` command: races, tuning, plots and the tour of the seed experiments.

::

    gdlab                                  # = gdlab race mnist: seed 001's MNIST race
    gdlab race bowl                        # the six optimizers on x²/20 + y²
    gdlab race bowl --function rosenbrock --steps 200
    gdlab race bowl --set adam.beta1=0.8 --set training.steps=60
    gdlab race boston | moons | schedules
    gdlab race mnist --optimizers sgd,adam --lr adam=0.003 --seeds 3 --steps 500
    gdlab race --config my-experiment.toml (or a report's results.json)
    gdlab tune mnist --budget 8 --folds 3 --workers 2; gdlab race mnist --tuned
    gdlab plot schedules | ewma | init
    gdlab tour                             # the built-in races and plots in one report
    gdlab play [--port N] [--no-browser]   # the live web page (docs/play.md)

Every flag that changes the experiment is a change of one model
(:class:`gdlab.experiments.Experiment`, ``docs/experiments.md``). A race
writes ``results.json``, ``results.csv``, figures (PNG and SVG) and a
self-contained ``index.html`` into a new directory
``./gdlab-report/<experiment>/<time>-<id>/`` (``latest`` points to it), or
exactly into ``--out DIR`` (empty, or replaced with ``--force`` once the new
report is complete), and prints a table that ranks the runs. Ctrl-C leaves a
valid report of the finished runs (exit code 130); a second Ctrl-C while that
report is written is ignored. SIGTERM and SIGHUP (``timeout``, a closed
terminal) stop the command as Ctrl-C does (exit code 143 or 129).

A mistake (a bad flag, a flag given twice but for the repeatable ``--lr`` and
``--set``, an unknown command, experiment, key, value, file or output directory,
another process writing the same output) prints one line, ``gdlab: error: …``,
on stderr and exits with 2. A race the machine could not finish (a full disk,
its directory gone) prints one line and exits with 1.
"""

from __future__ import annotations

import _thread
import argparse
import atexit
import contextlib
import difflib
import functools
import json
import math
import numbers
import os
import shlex
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

import gdlab
from gdlab._checks import check_int, cut, describe
from gdlab._text import number, pad, width

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_RUN_FAILED",
    "EXIT_USAGE",
    "build_parser",
    "console",
    "main",
    "summary",
]

PROG = "gdlab"
EXIT_RUN_FAILED = 1  # a race finished and wrote its report, but a run raised
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command killed by it
COMMANDS = ("race", "tune", "plot", "tour", "play")
#: Seeds of a ``--tuned`` race unless ``--seeds`` says otherwise.
TUNED_SEEDS = 5


class UsageError(Exception):
    """A mistake in the command line: one line on stderr, exit code 2."""


class _Once(argparse.Action):
    """Store a flag's value, and refuse the flag given twice (``--steps 5 --steps 7``
    would silently keep 7): the repeatable flags are the ``append`` ones."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[override]
        given = vars(namespace).setdefault("_given", {})
        if self.option_strings and self.dest in given:  # (a positional comes once)
            flag = max(self.option_strings, key=len)
            raise UsageError(
                f"{flag} is given twice ({_shown(given[self.dest])} and {_shown(values)}): "
                "give it once"
            )
        given[self.dest] = values
        setattr(namespace, self.dest, values)


def _shown(value: Any) -> str:
    """A flag's value as the command line gave it (after its parsing)."""
    if value is True:  # a flag whose value is optional, given without one (--tuned)
        return "no value"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, str) and not value.strip() else _said(value)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises instead of printing usage and exiting, and refuses
    a flag that stores one value given twice (:class:`_Once`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _Once)  # groups share these registries
        self.register("action", "store", _Once)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _version() -> str:
    known = getattr(gdlab, "__version__", None)
    if known is not None:
        return str(known)
    try:  # pragma: no cover - the package always has __version__
        return version("gdlab")
    except PackageNotFoundError:
        return "unknown"


def _lr_pair(text: str) -> tuple[str, Any, str]:
    """Parse ``NAME=VALUE`` for ``--lr``: a number, or a schedule as a TOML inline table
    (``sgd={name = "cosine", lr0 = 0.1, decay_steps = 100}``, checked when applied).

    NAME is an optimizer or a run label, kept as typed; a label may hold ``=``
    (``Adam, β1 = 0.5=0.1``), so the split is at the first ``=`` after which a rate
    or a table follows (a table's own ``=`` come after it)."""
    ends = [i for i, c in enumerate(text) if c == "="]
    if not ends or not text[: ends[0]].strip() or not text[ends[-1] + 1 :].strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. adam=0.1); got {text!r}")
    for end in ends[1:]:  # a label holding "=": the first split that leaves a value
        if _lr_value(text[end + 1 :]) is not None:
            return _lr_checked(text[:end].strip(), text[end + 1 :])
    return _lr_checked(text[: ends[0]].strip(), text[ends[0] + 1 :])


def _lr_value(value: str) -> float | dict | None:
    """``value`` as a rate (a number) or a schedule table; ``None`` if it is neither."""
    try:
        return float(value)
    except ValueError:
        table = _typed(value)
        return table if isinstance(table, dict) else None


def _lr_checked(name: str, value: str) -> tuple[str, Any, str]:
    """``(NAME, rate or table, VALUE as typed)``; a rate must be positive."""
    lr = _lr_value(value)
    if lr is None:
        raise argparse.ArgumentTypeError(
            f"the learning rate of {name} must be a number or a schedule table "
            f'({{name = "cosine", lr0 = 0.1, decay_steps = 100}}); got {value.strip()!r}'
        )
    if isinstance(lr, float) and not (0 < lr < math.inf):  # nan and inf too
        raise argparse.ArgumentTypeError(  # the value as typed ("-1", not Python's -1.0)
            f"the learning rate of {name} must be > 0 and finite; got {value.strip()}"
        )
    return name, lr, value.strip()


def _name_list(text: str) -> list[str]:
    """Parse ``a,b,c`` for ``--optimizers``."""
    names = [part.strip().lower() for part in text.split(",")]
    if not any(names):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names; got {text!r}")
    if "" in names:
        raise argparse.ArgumentTypeError(f"empty name in {text!r}")
    return names


def _hyperparameter_list(text: str) -> tuple[str, ...]:
    """Parse ``lr,beta1`` for ``--tune``: names, none empty, none twice."""
    names = [part.strip() for part in text.split(",")]
    if "" in names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of hyperparameters (e.g. lr,beta1); got {text!r}"
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"{twice[0]!r} is named twice in {text!r}")
    return tuple(names)


def _directory(what: str):
    """Parse a folder's name: an empty one is refused (it is not the default folder)."""

    def parse(text: str) -> str:
        if not text.strip():
            raise UsageError(f"{what} must name a directory; got {text!r}")
        return text

    return parse


def _positive(what: str, high: int = 10_000_000, low: int = 1):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer; got {text!r}") from None
        try:
            return check_int(what, value, low=low, high=high)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gdlab`` (its ``error`` raises :class:`UsageError`)."""
    from gdlab.experiments import BUILTIN, PLOTS
    from gdlab.functions2d import FUNCTIONS
    from gdlab.optim import OPTIMIZERS

    parser = _Parser(
        prog=PROG,
        description="Race gradient-descent optimizers and draw what happened.",
        epilog="Without a command, gdlab runs `gdlab race mnist`; an experiment, a TOML file "
        "or a results.json as the first word is raced too (`gdlab bowl` = `gdlab race bowl`).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    race = commands.add_parser(
        "race",
        help="run an experiment: several optimizers, the same batches and seeds",
        description="Run an experiment and write results.json, results.csv, figures and "
        "index.html.",
        epilog=f"experiments: {', '.join(BUILTIN)}. optimizers: {', '.join(OPTIMIZERS)}. "
        f"functions (bowl): {', '.join(FUNCTIONS)}.",
    )
    race.add_argument(
        "experiment",
        nargs="?",
        metavar="EXPERIMENT",
        help="a built-in experiment (default: mnist), a TOML experiment file, or a report's "
        "results.json (its experiment run again)",
    )
    _experiment_options(race, "race")
    race.add_argument(
        "--seeds",
        type=_positive("--seeds", 1000),
        metavar="N",
        help="runs per optimizer, seeds 0..N-1: mean and band in the figures",
    )
    race.add_argument(
        "--workers",
        type=_positive("--workers", 1024),
        metavar="N",
        help="local processes for the runs (default: one per core, at most one per run; 1 for "
        "a race too small to repay starting processes)",
    )
    _output_options(race)
    _no_js_option(race)
    race.add_argument(
        "--tuned",
        nargs="?",
        const=True,  # no DIR: the default folder
        type=_directory("--tuned"),
        metavar="DIR",
        help="use the learning rates `gdlab tune` chose (from DIR, default "
        f"./gdlab-report/<experiment>-tune) and {TUNED_SEEDS} seeds (unless --seeds, "
        "--set seeds= or the experiment says more than one; one on a 2-D function)",
    )
    shown = race.add_mutually_exclusive_group()
    shown.add_argument(
        "--json", action="store_true", help="print the ranking as JSON instead of a table"
    )
    shown.add_argument(
        "--print-every",
        type=_positive("--print-every"),
        metavar="N",
        help="after the ranking, print each run's loss at steps 1, N+1, 2N+1, … (the loss it "
        "recorded per step, numbered as in results.json and the figures: a column per run; a "
        "2-D function's f at steps 0, N, 2N, …: updates applied, as its figures count)",
    )

    tune = commands.add_parser(
        "tune",
        help="tune each optimizer's learning rate (and more): the same budget on the same folds",
        description="Tune each configuration's learning rate (and, with --tune, other "
        "hyperparameters) by K-fold cross-validation, widening the range while the best value "
        "is at its edge (within limits); write tune.json for `gdlab race EXPERIMENT "
        "--tuned`.",
    )
    tune.add_argument(
        "experiment",
        nargs="?",
        metavar="EXPERIMENT",
        help="a built-in experiment (default: mnist), a TOML file or a results.json",
    )
    _experiment_options(tune, "tune")
    tune.add_argument(
        "--budget",
        type=_positive("--budget", 1000, low=2),
        default=8,
        metavar="N",
        help="points per configuration, the same for every optimizer whatever the names it "
        "tunes: a grid of at most N points (lr alone: N rates), or N random/TPE draws; its "
        "untuned default and widening add points (default 8)",
    )
    tune.add_argument(
        "--tune",
        type=_hyperparameter_list,
        default=("lr",),
        metavar="A,B",
        help="hyperparameters to tune (default lr), e.g. lr,beta1,momentum: each run tunes "
        "those its optimizer has (Adam lr and beta1, Momentum lr and momentum)",
    )
    tune.add_argument(
        "--method",
        choices=("grid", "random", "tpe"),
        default="grid",
        help="grid (default), random draws, or Optuna's TPE",
    )
    tune.add_argument(
        "--folds",
        type=_positive("--folds", 100),
        default=3,
        metavar="K",
        help="K-fold cross-validation; 1: a 20%% hold-out (default 3)",
    )
    where = tune.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=_positive("--workers", 1024),
        default=1,
        metavar="N",
        help="local worker processes (default 1)",
    )
    where.add_argument("--scheduler", metavar="ADDRESS", help="a Dask cluster: tcp://HOST:PORT")
    where.add_argument(
        "--dask-local",
        type=_positive("--dask-local", 1024),
        metavar="N",
        help="start a local Dask cluster of N workers",
    )
    tune.add_argument(
        "--metric",
        choices=("loss", "accuracy"),
        help="choose by validation accuracy (the default for classifiers; loss breaks ties) or "
        "by validation loss (the default otherwise)",
    )
    tune.add_argument(
        "--out",
        type=_directory("--out"),
        metavar="DIR",
        help="default: ./gdlab-report/<experiment>-tune",
    )
    tune.add_argument(
        "--force",
        action="store_true",
        help="replace a tune.json in the directory that records another tuning (its task "
        "files stay; without --force such a directory is refused)",
    )
    tune.add_argument("--quiet", action="store_true", help="no progress bar")

    plot = commands.add_parser("plot", help="schedule curves, EWMAs, activation histograms")
    plot.add_argument(
        "what",
        choices=PLOTS,
        metavar="{" + ",".join(PLOTS) + "}",
        help="schedules: seed 004's learning-rate decays, lr per step; ewma: Seattle's daily "
        "temperatures and their EWMAs; init: activation histograms per layer for each "
        "initialisation and activation",
    )
    _output_options(plot, figures=False)
    _no_js_option(plot)

    tour = commands.add_parser(
        "tour",
        help="the built-in races and plots into one report (not seed 002's tuning: gdlab tune)",
    )
    tour.add_argument(
        "--quick",
        action="store_true",
        help="shorter runs: a tenth of the steps (at least 1) or of the epochs (at least 3, "
        "or all of them when there are fewer)",
    )
    _output_options(tour, figures=False)

    play = commands.add_parser("play", help="a live web page: paths, networks, schedules, EWMAs")
    play.add_argument(
        "--port",
        type=_positive("--port", high=65535),
        metavar="N",
        help="the port (default: 8765, or the next free one)",
    )
    play.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only)",
    )
    play.add_argument("--no-browser", action="store_true", help="do not open the page")
    return parser


def _batch_size(text: str) -> Any:
    """``--batch-size``: what ``--set training.batch_size=`` takes (an integer, or
    ``full``), checked by the same field; ``full`` is kept as typed (None is no flag)."""
    from gdlab.experiments.model import TRAINING_FIELDS

    try:
        value = TRAINING_FIELDS["batch_size"].check("--batch-size", _typed(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return "full" if value is None else value


def _set_pair(text: str) -> tuple[str, str, str]:
    """Split ``KEY=VALUE`` for ``--set`` at its first ``=``: ``(KEY, VALUE, the argument)``
    (the VALUE text, read as TOML when applied; a run label holding ``=`` is split
    again then, :func:`_set_typed`)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            "expected KEY=VALUE (e.g. adam.beta1=0.8, training.batch_size=64); "
            f"got {describe(text)}"
        )
    if not value.strip():
        raise argparse.ArgumentTypeError(
            f"{key} has no value: expected KEY=VALUE (e.g. title='My race'); got {describe(text)}"
        )
    return key, value, text


def _said(value: Any) -> str:
    """``value`` as an error repeats what the user typed: cut to about 60 characters
    (an integer of many digits by its length: :func:`gdlab._checks.describe`)."""
    return describe(value) if type(value) is int else cut(str(value))


def _experiment_options(parser: argparse.ArgumentParser, verb: str) -> None:
    """What race and tune share: the experiment file and the changes to the experiment."""
    from gdlab.experiments.model import MAX_EPOCHS, MAX_STEPS
    from gdlab.optim.presets import PRESETS

    parser.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML experiment file, or a report's results.json (its experiment), instead",
    )
    parser.add_argument(
        "--optimizers",
        type=_name_list,
        metavar="A,B,C",
        help=f"the optimizers to {verb} (default: the experiment's)",
    )
    parser.add_argument(
        "--lr",
        type=_lr_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one optimizer's learning rate, e.g. --lr adam=0.1 (= --set adam.lr=0.1; repeatable)",
    )
    parser.add_argument(
        "--set",
        type=_set_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change anything in the experiment: adam.beta1=0.8, momentum.momentum=0.5, "
        "training.batch_size=64, problem.function=beale, seeds=3 (repeatable)",
    )
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help=f"every run starts from this hyperparameter preset: {', '.join(PRESETS)}",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=_positive("--steps", MAX_STEPS), metavar="N", help="steps per run"
    )
    length.add_argument(
        "--epochs", type=_positive("--epochs", MAX_EPOCHS), metavar="N", help="epochs per run"
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        metavar="N",
        help="samples per step, or 'full' (the whole training set): = --set training.batch_size=N",
    )
    parser.add_argument("--function", metavar="NAME", help="= --set problem.function=NAME")
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="= --set problem.directory=DIR (MNIST's four IDX files; stored as an absolute "
        "path, so that the report's results.json runs again from anywhere)",
    )


def _output_options(parser: argparse.ArgumentParser, *, figures: bool = True) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write the report into DIR (default: a new directory under ./gdlab-report/)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace what --out DIR holds (once the new one is done)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    if figures:
        parser.add_argument(
            "--no-figures", action="store_true", help="write results.json and results.csv only"
        )


def _no_js_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-js",
        action="store_true",
        help="write index.html without its interactive charts (the figures as images, no "
        "script but the page's own)",
    )


# --------------------------------------------------------------------------- summary


def _rank_key(run: Mapping[str, Any]) -> tuple:
    metrics = run.get("metrics", {})
    accuracy = metrics.get("test_accuracy", metrics.get("train_accuracy"))
    loss = metrics.get("final_loss")
    return (
        run["status"] == "failed",
        run["status"] == "diverged",
        -(accuracy if accuracy is not None else -math.inf),
        loss if loss is not None else math.inf,
    )


def summary(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs ranked: best test (or train) accuracy, then lowest final training loss;
    diverged runs after those, failed ones last. ``accuracy_on`` says which set the
    accuracy is of (``"test"``, ``"train"``, or ``None`` without one)."""
    from gdlab.report.stops import divergence_words

    rows = []
    for rank, run in enumerate(sorted(document["runs"], key=_rank_key), 1):
        metrics = run.get("metrics", {})
        on = next((s for s in ("test", "train") if metrics.get(f"{s}_accuracy") is not None), None)
        rows.append(
            {
                "rank": rank,
                "label": run["label"],
                "seed": run["seed"],
                "status": divergence_words(run) or run["status"],
                "final_loss": metrics.get("final_loss"),
                "best_loss": metrics.get("best_loss"),
                "accuracy": metrics.get("test_accuracy", metrics.get("train_accuracy")),
                "accuracy_on": on,
                "steps": run["steps"],
                "seconds": run["seconds"],
            }
        )
    return rows


def _table(rows: Sequence[Mapping[str, Any]], *, loss: str = "train loss") -> str:
    """The ranking; its headers say what the numbers are: ``loss`` (the training loss, or
    ``f`` for a 2-D function) and the set the accuracy is of (no accuracy column where
    no run has one: a regression, a 2-D function)."""
    sets = sorted({r.get("accuracy_on") for r in rows} - {None}, reverse=True)
    accuracy = [f"{'/'.join(sets)} accuracy"] if sets else []  # "test/train": test where any
    headers = ["#", "run", "seed", "status", f"final {loss}", f"best {loss}", *accuracy,
               "steps", "s"]  # fmt: skip
    body = [
        [
            str(r["rank"]),
            r["label"],
            str(r["seed"]),
            r["status"],
            number(r["final_loss"]),
            number(r["best_loss"]),
            *(["-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%"] if sets else []),
            str(r["steps"]),
            f"{r['seconds']:.1f}",
        ]
        for r in rows
    ]
    return _aligned(headers, body, left={1, 3})


def _run_losses(run: Mapping[str, Any], base: Path) -> tuple[list[float | None], bool]:
    """``(loss per step, whole)``: ``run``'s recorded loss at each step (``None`` where
    it was not finite or is not known), from its series file when it keeps one
    (:func:`gdlab.results.read_series`); where that file cannot be read, the inline
    values (every ``stride``-th step) and ``whole`` false."""
    from gdlab import results

    inline = [] if run.get("loss") is None else list(run["loss"])
    stride = results.series_stride(run)
    if stride > 1:
        try:
            loss = results.read_series(run, base)["loss"]
        except (OSError, ValueError, KeyError):
            spread: list[float | None] = [None] * int(run.get("steps") or len(inline) * stride)
            for i, value in enumerate(inline):
                if i * stride < len(spread) and _finite(value):
                    spread[i * stride] = float(value)
            return spread, False
        inline = loss.tolist()
    return [float(v) if _finite(v) else None for v in inline], True


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def loss_table(document: Mapping[str, Any], base: Path, every: int) -> str:
    """Each run's recorded loss per step at steps ``1, every + 1, 2·every + 1, …`` (a 2-D
    function's f at ``0, every, 2·every, …``: updates applied, as its figures count, f
    after the last update included; up to its longest run's last step), a column per run
    (``-``: not finite, or past the run's end), under a line that says what the numbers
    are; ``base`` holds the report's files (the series of long runs)."""
    runs = document["runs"]
    labels = [r["label"] for r in runs]
    heads = [f"{r['label']} (seed {r['seed']})" if labels.count(r["label"]) > 1 else r["label"]
             for r in runs]  # fmt: skip
    columns, whole = zip(*(_run_losses(r, base) for r in runs), strict=True) if runs else ((), ())
    # loss[k] is step k + 1's, as in results.json and the figures; a 2-D function's
    # figures count updates applied instead: loss[k] is f after k updates (the start at 0)
    first = 0 if _is_function2d(document) else 1
    if not first:
        columns = tuple(_with_end(r, c) for r, c in zip(runs, columns, strict=True))
    longest = max((len(c) for c in columns), default=0)
    body = [
        [str(k + first), *(number(c[k]) if k < len(c) else "-" for c in columns)]
        for k in range(0, longest, every)
    ]
    kinds = {r.get("step_loss", "batch") for r in runs if r.get("status") != "failed"}
    if not first:
        kinds = {"f"}  # a 2-D function's loss is f: no batch, no training set
    what = {
        frozenset({"train"}): "the whole training set's loss",
        frozenset({"batch"}): "the batch's loss",
        frozenset({"f"}): "f",
    }.get(frozenset(kinds), "each run's batch or whole-set loss")
    when = "before the step's update" if first else "after that many updates: step 0 is the start"
    said = f"Loss per step ({what}, {when}), every {every} step{'s' if every > 1 else ''}"
    if not all(whole):
        said += "; a run whose series file could not be read shows the steps kept inline"
    return f"{said}:\n" + _aligned(["step", *heads], body, left=set())


def _with_end(run: Mapping[str, Any], column: list[float | None]) -> list[float | None]:
    """A 2-D run's f before each update, then f after its last one (its last evaluation,
    where the path ends), as its figures end the curve (``figures.function_curve``)."""
    epochs = run.get("epochs") or [{}]
    value = epochs[-1].get("iterate_train_loss", epochs[-1].get("train_loss"))
    if epochs[-1].get("step") == len(column) and _finite(value):
        return [*column, float(value)]
    return column


def _is_function2d(document: Mapping[str, Any]) -> bool:
    return "function2d" in ((document.get("problem") or {}).get("traits") or ())


def _aligned(headers: Sequence[str], body: Sequence[Sequence[str]], left: set[int]) -> str:
    """A plain-text table: columns padded to their widest cell, a rule under the header."""
    widths = [max(width(h), *(width(row[i]) for row in body)) for i, h in enumerate(headers)]
    lines = []
    for row in [headers, *body]:
        cells = [
            pad(c, w, left=i in left) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


def _command_line(argv: Sequence[str]) -> str:
    return " ".join([PROG, *(shlex.quote(a) for a in argv)])


def _experiment(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """The experiment the command line asks for: ``(experiment, base, base_name)``.

    ``base`` is what it was made from (the built-in experiment or the file as
    read); every flag is a change of the one model, applied in order: the
    experiment, ``--optimizers``, ``--preset``, ``--steps``/``--epochs``,
    ``--batch-size``, ``--function``, ``--data``, ``--seeds``, ``--set``, ``--lr``.
    """
    from gdlab import experiments

    if args.config is not None and args.experiment is not None:
        raise UsageError("give an EXPERIMENT or --config FILE, not both")
    if args.config is not None:
        source = args.config
    else:
        source = "mnist" if args.experiment is None else args.experiment
    experiment = base = experiments.load(source, file=args.config is not None)
    args.read = experiment  # as read, before the flags' changes (the report's own text)
    if args.config is None and source in experiments.BUILTIN:
        base_name = f"built-in experiment {source}"
    elif base.based_on in experiments.BUILTIN:
        # a file (or results.json) made from a built-in experiment: list what differs
        base, base_name = experiments.builtin(base.based_on), f"built-in experiment {base.based_on}"
    else:  # a results.json of a changed file lists its changes from that file again
        base, base_name = experiments.changed_from(source, file=True) or (base, f"file {source}")
    if args.optimizers is not None:
        experiment = experiment.select_optimizers(args.optimizers)
    if args.preset is not None:
        from gdlab.optim.presets import PRESETS
        from gdlab.optim.registry import missing_preset

        if args.preset not in PRESETS:
            raise UsageError(f"--preset must be one of {', '.join(PRESETS)}; got {args.preset!r}")
        lacking = [r.optimizer for r in experiment.runs if r.optimizer not in PRESETS[args.preset]]
        if lacking:
            raise UsageError(
                f"--preset: {missing_preset(args.preset, lacking[0], 'drop --preset')}"
            )
        experiment = experiment.with_preset(args.preset)
    changes = [  # (key, value, text to retry as text, as the command line wrote it)
        (key, _model_value(key, value), None, f"{_FLAGS[key]} {_said(value)}")
        for key, value in ((k, getattr(args, dest, None)) for k, dest in _FLAG_DESTS.items())
        if value is not None
    ]
    changes += [
        (k, _model_value(k, _typed(t)), t.strip(), f"--set {_as_written(text)}")
        for k, t, text in args.set
    ]
    experiment = _changed(experiment, changes, args.lr)
    builtin = args.config is None and source in experiments.BUILTIN
    args.origin = _origin(source, builtin, _chosen(args), changes, args.lr)
    return experiment, base, base_name


def _as_written(text: str) -> str:
    """A ``--set`` argument as typed, its value cut to about 60 characters (the first
    ``=`` may be a run label's: ``Adam, β1 = 0.5.beta1=0.7``)."""
    key, _, value = text.strip().partition("=")
    return f"{key}={cut(value)}"


def _model_value(key: str, value: Any) -> Any:
    """A command-line value for the model: a folder of data (``--data DIR``, ``--set
    problem.directory=DIR``) as an absolute path (``~`` expanded), so that the report's
    results.json runs again from another folder."""
    if key == "problem.directory" and isinstance(value, str) and value.strip():
        return str(Path(value).expanduser().absolute())
    return value


def _chosen(args: argparse.Namespace) -> list[str]:
    """The flags that change the experiment but not through a key, as written:
    ``--optimizers``, ``--preset`` and (race, applied later) ``--tuned``."""
    chosen = [] if args.optimizers is None else [f"--optimizers {cut(','.join(args.optimizers))}"]
    chosen += [] if args.preset is None else [f"--preset {args.preset}"]
    tuned = getattr(args, "tuned", None)
    chosen += [] if tuned is None else ["--tuned" + (f" {cut(tuned)}" if tuned is not True else "")]
    return chosen


def _origin(source: str, builtin: bool, chosen: list[str], changes: list, lrs: list) -> str:
    """The experiment and every change the command made (``chosen``: ``--optimizers``,
    ``--preset``), as the later checks with the data name them: ``built-in experiment
    moons with --optimizers sgd,adam --epochs 2 --set problem.n_samples=10``."""
    said = [*chosen, *(written for *_, written in changes), *map(_lr_said, lrs)]
    origin = f"built-in experiment {source}" if builtin else source
    return origin + (f" with {' '.join(said)}" if said else "")


def _prepared(args: argparse.Namespace, experiment: Any) -> Any:
    """``race.prepare(experiment)`` (the data loaded and checked against the experiment);
    its error names the experiment and the command's changes (:func:`_experiment`)."""
    from gdlab import race
    from gdlab._checks import ConfigError

    try:
        return race.prepare(experiment)
    except ConfigError as error:
        raise ConfigError(f"{args.origin}: {str(error).removeprefix('experiment: ')}") from None


#: The flags that change one key of the experiment: the key, the argument's dest, the flag.
_FLAG_DESTS = {
    "training.steps": "steps",
    "training.epochs": "epochs",
    "training.batch_size": "batch_size",
    "problem.function": "function",
    "problem.directory": "data",
    "seeds": "seeds",
}
_FLAGS = {key: "--" + dest.replace("_", "-") for key, dest in _FLAG_DESTS.items()}


def _typed(text: str) -> Any:
    from gdlab.experiments import parse_value

    return parse_value(text)


def _changed(experiment: Any, changes: list[tuple[str, Any, str | None, str]], lrs: list) -> Any:
    """``experiment`` with the command line's changes ``(key, value, text typed or None, as
    written)`` and its ``--lr``s, as one change (:meth:`Experiment.together`: what ties
    settings together is checked at the end, whatever their order).

    The ``problem.*`` keys change first, and together (a new ``kind`` needs its
    other keys at once; the training is checked against the problem, not the other
    way round, so a ``--batch-size`` for the new problem's data is checked as such);
    then the other changes in order, then the ``--lr``s. A value that TOML read as a
    number or a boolean but the key takes as text (``--set title=2024``) is tried as
    the text typed. An error of one change names it; the final check names the
    changes it compares, those of the problem and of the training's batches, step loss
    and validation part (or, without any, all of them).
    """
    steps = []
    problem = [change for change in changes if change[0].startswith("problem.")]
    if problem:
        where = " ".join(change[3] for change in problem)
        steps.append(functools.partial(_with_problem, where=where, changes=problem))
    steps += [
        functools.partial(_set_typed, change=c) for c in changes if not c[0].startswith("problem.")
    ]
    steps += [functools.partial(_set_lr, lr=lr) for lr in lrs]
    if not steps:
        return experiment
    said = [written for *_, written in changes] + [_lr_said(lr) for lr in lrs]
    # what the final check compares: the problem (a 2-D function, the parts of the data)
    # and the batches, the step loss, the validation part
    tied = ("batch_size", "batching", "step_loss", "validation")
    compared = [
        w for k, *_, w in changes if k.startswith("problem.") or k.rpartition(".")[2] in tied
    ]
    return experiment.together(steps, where=" ".join(compared or said))


def _with_problem(
    experiment: Any, where: str, changes: list[tuple[str, Any, str | None, str]]
) -> Any:
    """``experiment`` with the ``problem.*`` changes, at once; if that fails, a value TOML
    read as a number or a boolean (``--set problem.expression=1``) is tried as the text
    typed where the problem kind takes text for that key."""
    from gdlab.problems import PROBLEM_KINDS

    options = {k.removeprefix("problem."): v for k, v, *_ in changes}
    try:
        return experiment.with_problem(where, **options)
    except ValueError:
        kind = PROBLEM_KINDS.get(str(options.get("kind", experiment.problem.kind)))
        if kind is None:
            raise
        data = options.get("data", experiment.problem.options.get("data"))
        fields = kind.all_fields(data if isinstance(data, str) else None)
        texts = {
            key: text
            for k, value, text, _ in changes
            if text is not None
            and isinstance(value, int | float)  # bool too
            and (key := k.removeprefix("problem.")) in fields
            and fields[key].kind == "str"
        }
        if not texts:
            raise
    return experiment.with_problem(where, **{**options, **texts})


def _lr_said(lr: tuple[str, Any, str]) -> str:
    name, _, typed = lr
    return f"--lr {name}={cut(typed)}"


def _set_lr(experiment: Any, lr: tuple[str, Any, str]) -> Any:
    return experiment.with_lr(lr[0], lr[1], where=_lr_said(lr))


def _set_typed(experiment: Any, change: tuple[str, Any, str | None, str]) -> Any:
    """``experiment.set(key, value)``; if that fails and ``value`` came from text that TOML
    read as a number or a boolean, the text itself, if the key takes it. A ``--set``
    whose text holds another ``=`` may name a run label holding one
    (:meth:`Experiment.split_set`)."""
    key, value, text, where = change
    if text is not None and "=" in text:
        label_key, label_text = experiment.split_set(f"{key}={text}")
        if label_key != key:
            key, text = label_key, label_text.strip()
            if not text:
                raise UsageError(
                    f"{where}: {key.rpartition('.')[2]} has no value: expected "
                    "RUN.KEY=VALUE (e.g. adam.beta1=0.8)"
                )
            value = _model_value(key, _typed(text))
    try:
        return experiment.set(key, value, where=where)
    except ValueError:
        if text is None or not isinstance(value, int | float):
            raise
        try:
            return experiment.set(key, text, where=where)
        except ValueError:
            pass
        raise


#: What a directory that ``--force`` may replace holds: a report's own files.
def _checked_out(args: argparse.Namespace) -> None:
    """Check ``--out``/``--force`` before anything runs (:func:`gdlab.results.checked_out`);
    a link given as ``--out`` becomes the directory it points to."""
    if args.out is not None:
        from gdlab import results

        args.out = str(results.checked_out(args.out, args.force))


def _race(args: argparse.Namespace, command: str) -> int:
    from gdlab import race, results
    from gdlab.experiments.describe import text

    _tuned_not_an_experiment(args)
    experiment, base, base_name = _experiment(args)
    _checked_out(args)
    series = None
    if args.tuned is not None:
        experiment, series = _with_tuned(args, experiment)
    _prepared(args, experiment)  # data loaded, batch sizes checked: before any output exists
    # a tuned experiment (--tuned, or the results.json of a --tuned report) says so, in
    # its words while they are true (describe.text), and in its folder's name
    words = text(experiment, base=base, base_name=base_name, read=args.read)
    still_tuned = experiment.tuned and "tuned" not in words["dropped"]
    if still_tuned and series is None:  # a --tuned report's results.json run again
        series, why = _rebuilt_series(experiment)
        if why is not None:  # its words stand, and the page says what it lacks
            words = text(experiment, base=base, base_name=base_name, read=args.read,
                         notes=[why])  # fmt: skip
    name = experiment.name + ("-tuned" if still_tuned else "")
    workers = args.workers or race.default_workers(experiment)
    placed = results.Placed()
    place = results.output(
        Path("gdlab-report") / name, out=args.out, force=args.force, placed=placed
    )
    replacing = args.out is not None and results.holds_report(args.out)
    written: list[Path] = []
    try:
        with place as staged:
            written.append(staged)
            document = _raced(
                experiment,
                staged,
                command=command,
                text=words,
                progress=not args.quiet,  # a bar per run, or per finished run with workers
                figures=not args.no_figures,
                workers=workers,
                series=series,
                charts=not args.no_js,
            )
    except OSError as error:  # a full disk, a vanished directory: the machine failed, exit 1
        if placed.directory is not None:  # the finished runs were kept: say where
            told = (
                f"the report in {placed.directory} is unfinished (it keeps the runs that "
                "finished; nothing earlier changed)"
            )
        else:
            told = f"{args.out or f'gdlab-report/{name}'} was not written (nothing earlier changed)"
        print(f"{PROG}: error: {error.strerror or error}: {told}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; {_race_left(args, placed.directory, replacing)}",
              file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    # --no-figures writes no page: name the file that is there
    written_file = placed.shown / ("results.json" if args.no_figures else "index.html")
    return _report_race(
        document, written_file, as_json=args.json, every=getattr(args, "print_every", None)
    )


def _with_tuned(args: argparse.Namespace, experiment: Any) -> tuple[Any, Any]:
    """``experiment`` with the settings ``gdlab tune`` chose (``--tuned``), and the
    ``series`` block of that tuning for the report."""
    from gdlab import tuning

    where = (
        Path(args.tuned)
        if isinstance(args.tuned, str)
        else Path("gdlab-report") / f"{experiment.name}-tune"
    )
    tuned = tuning.load_tuned(where)
    experiment, notes = tuning.apply_tuned(experiment, tuned, source=where)
    experiment = experiment.replace(
        tuned=" ".join(notes),
        tuned_from=str(where.expanduser().absolute()),
        tuned_digest=tuning.tuned_digest(tuned),  # this very tuning, not a later one there
    )
    said_seeds = args.seeds is not None or any(k == "seeds" for k, *_ in args.set)
    # a file's own seeds > 1 stand; a 2-D function starts where it says and its
    # gradient is exact: every seed would run the same path
    deterministic = experiment.problem.has("function2d")
    if not said_seeds and experiment.seeds == 1 and not deterministic:
        experiment = experiment.replace(seeds=TUNED_SEEDS)
    return experiment, tuning.series(tuned, [run.label for run in experiment.runs])


def _rebuilt_series(experiment: Any) -> tuple[Any, str | None]:
    """A tuned race run again from its report: its tuning's comparison and sensitivity
    (:func:`gdlab.tuning.rebuilt_series`), or ``None`` and the sentence its page says."""
    from gdlab import tuning

    if not tuning.names_a_tuning(experiment):  # words alone ("by hand"): nothing to rebuild
        return None, None
    series, why = tuning.rebuilt_series(experiment)
    if why is None:
        return series, None
    return None, (
        "This report runs a tuned race again from its results.json; its Tuned comparison "
        f"and learning-rate sensitivity figure could not be rebuilt ({why.rstrip('.')}), "
        "so it has neither: race with --tuned DIR to have them."
    )


def _tuned_not_an_experiment(args: argparse.Namespace) -> None:
    """Refuse ``gdlab race --tuned bowl``: ``--tuned`` took the experiment for its DIR
    (a directory of that name is a DIR all the same)."""
    from gdlab.experiments import BUILTIN

    given = args.tuned
    if not isinstance(given, str) or args.experiment is not None or args.config is not None:
        return
    where = Path(given).expanduser()
    if (given in BUILTIN and not where.is_dir()) or where.is_file():
        raise UsageError(
            f"--tuned takes a directory of tuning results; got {given!r}, an experiment: "
            f"put the experiment first, gdlab race {shlex.quote(given)} --tuned"
        )


def _race_left(args: argparse.Namespace, directory: Path | None, replacing: bool) -> str:
    """What an interrupted race left, in words (after "interrupted; ")."""
    if replacing and directory is None:  # (a Ctrl-C after the swap: the new one is there)
        return f"{args.out} keeps its earlier report (the unfinished one was not kept)"
    if directory is None:
        return "no run had finished (nothing was written)"
    runs, status = _results_state(directory)
    kept = directory / "results.json"
    if runs is None:
        return f"{directory} was left unfinished ({kept} cannot be read)"
    if args.no_figures or (directory / "index.html").exists():
        return f"the finished runs are in {directory}"
    if status == "complete":
        return (f"every run had finished ({kept} keeps them), but the figures were being "
                f"drawn: {directory} has no page")  # fmt: skip
    finished = f"{runs} finished run{'s' if runs > 1 else ''}"
    return (f"{kept} keeps the {finished}, but the page was not drawn: {directory} has "
            f"no index.html (gdlab race --config {kept})")  # fmt: skip


def _raced(experiment: Any, staged: Path, **kwargs: Any) -> dict[str, Any]:
    """:func:`gdlab.race.run_experiment` into ``staged``. Interrupted before any run
    finished (its results.json lists none), it empties ``staged``, so that
    :func:`gdlab.results.output` leaves nothing: no directory it made, an empty ``--out``
    empty, as ``gdlab tune`` and ``gdlab tour`` stopped that early do (and the same
    command runs again without ``--force``)."""
    from gdlab import race

    try:
        return race.run_experiment(experiment, staged, **kwargs)
    except KeyboardInterrupt:
        if _results_state(staged)[0] == 0:
            for entry in staged.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        raise


def _results_state(report: Path) -> tuple[int | None, str | None]:
    """The number of runs and the status the report in ``report`` records
    (``(None, None)`` when its results.json cannot be read)."""
    try:
        document = json.loads((report / "results.json").read_text(encoding="utf-8"))
        return len(document["runs"]), document.get("status")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _report_race(
    document: Mapping[str, Any], page: Path, *, as_json: bool, every: int | None = None
) -> int:
    """Print a finished race's ranking (after its title and ``page``, the file to open)
    and, with ``every``, its :func:`loss_table`; name each failed run on stderr; the
    exit code."""
    rows = summary(document)
    table = None if every is None else loss_table(document, page.parent, every)
    with _printing(f"the report is in {page.parent}"):
        if as_json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"{document['title']}  ({page})")
            print(_table(rows, loss="f" if _is_function2d(document) else "train loss"))
        if table is not None:
            print()
            print(table)
    failed = [r for r in document["runs"] if r["status"] == "failed"]
    for run in failed:
        print(
            f"{PROG}: {run['label']} (seed {run['seed']}) failed: {run['reason']}", file=sys.stderr
        )
    return EXIT_RUN_FAILED if failed else 0


def _tune(args: argparse.Namespace, command: str) -> int:
    from gdlab import tuning
    from gdlab.sweep import SchedulerLost

    experiment, _, _ = _experiment(args)
    _prepared(args, experiment)  # data loaded and checked: before any output exists
    out = Path(args.out) if args.out else Path("gdlab-report") / f"{experiment.name}-tune"
    try:
        document = tuning.tune(
            experiment,
            out,
            budget=args.budget,
            folds=args.folds,
            tune=args.tune,
            method=args.method,
            workers=args.workers,
            scheduler=args.scheduler,
            dask_local=args.dask_local,
            progress=not args.quiet,
            command=command,
            metric=args.metric,
            force=args.force,
        )
    except KeyboardInterrupt:
        kept = out.is_dir() and any(out.iterdir())  # an empty --out given stays, empty
        told = (
            f"run the same command again to resume ({out})"
            if kept
            else "no task had finished (nothing was written)"
        )
        print(f"{PROG}: interrupted; {told}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SchedulerLost as error:  # told as this command resumes, not as a sweep does
        print(f"{PROG}: error: {error.told('run the same command again')}", file=sys.stderr)
        return EXIT_USAGE
    with _printing(f"the tuning is in {out}"):
        print(f"{out / 'tune.json'}  ({document['validation']}, chosen by "
              f"{document['selected_by']})")  # fmt: skip
        print(_tune_table(document))
    failed = document.get("failed") or []
    if failed:  # the tasks that failed: their candidates were not scored
        print(f"{PROG}: {len(failed)} task(s) failed and were not scored "
              f"(tune.json's \"failed\" lists them): {_first_error(out, failed[0])}",
              file=sys.stderr)  # fmt: skip
        return EXIT_RUN_FAILED
    return 0


def _first_error(out: Path, task_id: str) -> str:
    """The error a failed task's record holds (``TYPE: message``), cut to one line."""
    for journal in sorted(out.glob("*.jsonl")):
        try:
            for line in journal.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                if record.get("id") == task_id and isinstance(record.get("error"), dict):
                    error = record["error"]
                    return cut(f"{error.get('type')}: {error.get('message')}", 200)
        except (OSError, ValueError):
            continue
    return f"see the record of task {task_id!r} in {out}"


def _tune_row(label: str, c: Mapping[str, Any]) -> list[str]:
    from gdlab.tuning import MAX_WIDEN, edges, tuned_arguments, tuned_name, untuned_note

    best, default = c["best"] or {}, c["default"]
    chosen = best.get("hyperparameters") or {}
    arguments = tuned_arguments(c)
    shown = {a: tuned_name(n, a) for n, a in arguments.items()}  # decay (alpha): as asked
    at_bound, at_edge = edges(c)
    untuned = untuned_note(c)  # nothing chosen: every candidate diverged, or failed
    flags = [untuned] if untuned else []
    if at_bound:
        flags.append(f"at hard bound: {', '.join(at_bound)}")
    if at_edge:  # widening gave up: the best may lie beyond (a smaller --budget steps further)
        flags.append(f"still at edge after {MAX_WIDEN} widenings: {', '.join(at_edge)}")
    if c.get("widened"):
        flags.append(f"widened {c['widened']}×")
    failed = sum(1 for p in c["points"] if p.get("failed"))
    if failed:  # a task that raised: no divergence (tune.json's records say why)
        flags.append(f"{failed} failed")
    row = [
        label,
        ", ".join(f"{shown.get(k, k)} {number(v, 3)}" for k, v in chosen.items()) or "-",
        "-" if untuned else "yes" if best.get("default") else "no",
        number(best.get("mean")),
        number(best.get("std"), 2),
        _percent(best.get("accuracy")),
        number(default.get("mean_loss")),
        _percent(default.get("mean_accuracy")),
        "-" if untuned else _percent(c.get("within_10_percent"), 0),
        f"{sum(1 for p in c['points'] if p['diverged'])}/{len(c['points'])}",
        "; ".join(flags),
    ]
    return row


def _percent(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _tune_table(document: Mapping[str, Any]) -> str:
    """Per run: the chosen values (named as ``--tune`` asked), whether they are its default,
    both metrics, the default's (both, for a classifier: the one that chose shows the
    choice is never worse), the share of candidates within 10% of the best on the score
    that chose (either side), divergences, and flags."""
    configurations = document["configurations"]
    accuracy = any(
        p.get("mean_accuracy") is not None for c in configurations.values() for p in c["points"]
    )
    by = {c.get("within_10_percent_by", "loss") for c in configurations.values()}
    within = "within 10%" + (" (acc.)" if by == {"accuracy"} else "")
    # a 2-D function has no data: one run scores a candidate by its final loss (no spread)
    data = (document.get("settings") or {"data": True}).get("data") is not None
    headers = ["run", "chosen", "default?", "val. loss" if data else "final loss", "±",
               "val. accuracy", "default's loss", "default's acc.", within, "diverged",
               "notes"]  # fmt: skip
    dropped = set() if accuracy else {"val. accuracy", "default's acc."}  # no classifier
    if not data:
        dropped |= {"±", "val. accuracy"}
    kept = [i for i, name in enumerate(headers) if name not in dropped]
    body = [_tune_row(label, c) for label, c in configurations.items()]
    return _aligned(
        [headers[i] for i in kept],
        [[row[i] for i in kept] for row in body],
        left={0, 1, 2, len(kept) - 1},
    )


def _plot(args: argparse.Namespace, command: str) -> int:
    from gdlab import results
    from gdlab.experiments.plots import run_plot

    root = Path("gdlab-report") / f"plot-{args.what}"
    _checked_out(args)
    placed = results.Placed()
    try:
        with results.output(root, out=args.out, force=args.force, placed=placed) as staged:
            from gdlab.report import write

            document = run_plot(args.what, staged, command=command, figures=False)
            write(document, staged, charts=not args.no_js)
    except KeyboardInterrupt:
        drawn = placed.directory is not None and any(
            Path(placed.directory, "figures").glob("*.png")
        )
        told = (
            "nothing was written"
            if placed.directory is None
            else f"{placed.directory} holds the figures drawn so far, and no page"
            if drawn
            else f"{placed.directory} holds no figure yet, and no page"
        )
        print(f"{PROG}: interrupted; {told}", file=sys.stderr)
        return EXIT_INTERRUPTED
    with _printing(f"the report is in {placed.shown}"):
        print(placed.shown / "index.html")
    return 0


def _tour(args: argparse.Namespace, command: str) -> int:
    from gdlab import results, tour

    root = Path("gdlab-report") / "tour"
    _checked_out(args)
    placed = results.Placed()
    replacing = args.out is not None and results.holds_report(args.out)
    try:
        with results.output(root, out=args.out, force=args.force, placed=placed) as staged:
            tour.run(staged, quick=args.quick, progress=not args.quiet, command=command)
    except KeyboardInterrupt:
        if placed.directory is not None:
            kept = tour.stopped_words(placed.directory)
            told = f"the tour stopped early; {placed.directory}: {kept}"
        elif replacing:
            told = f"{args.out} keeps its earlier report (the unfinished one was not kept)"
        else:
            told = "no experiment had finished (nothing was written)"
        print(f"{PROG}: interrupted; {told}", file=sys.stderr)
        return EXIT_INTERRUPTED
    with _printing(f"the tour is in {placed.shown}"):
        print(placed.shown / "index.html")
    return 0


def _play(args: argparse.Namespace, command: str) -> int:
    from gdlab.play import serve

    return serve(args.host, args.port, open_browser=not args.no_browser)


#: What a command-line mistake raises: one line on stderr, exit code 2.
_USAGE_ERRORS = (UsageError, ValueError, TypeError, LookupError, OSError, RuntimeError)


def _dispatch(args: argparse.Namespace, command: str) -> int:
    handlers = {"plot": _plot, "tour": _tour, "tune": _tune, "race": _race, "play": _play}
    return handlers[args.command or "race"](args, command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gdlab`` with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    A mistake (a bad flag, an unknown command, experiment, key, value, file or
    output directory, another process writing the same output) prints one line,
    ``gdlab: error: …``, and returns 2; a race the machine could not finish (a
    full disk) returns 1; Ctrl-C returns 130 (a second one, while the command
    keeps what finished, is ignored); a closed pipe (``gdlab race bowl | head -1``)
    ends quietly.
    """
    return _run(argv, None)


def _run(argv: Sequence[str] | None, stop: Any) -> int:
    """:func:`main`; with ``stop`` (a :class:`gdlab.results.Stop`: the command itself),
    SIGTERM and SIGHUP are met as Ctrl-C is, and ``stop`` tells which came."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_line(argv)
    # after the first Ctrl-C, later ones wait until the command has kept what finished
    # and said so (play serves until Ctrl-C: nothing to keep)
    if argv[:1] == ["play"]:
        later: Any = contextlib.nullcontext(stop)
    else:
        from gdlab.results import later_interrupts_ignored

        later = later_interrupts_ignored(terminations=stop is not None, stop=stop)
    with later as kept, _plugin_warnings_in_one_line():
        return _main(argv, command, kept)


@contextlib.contextmanager
def _plugin_warnings_in_one_line() -> Iterator[None]:
    """An optimizer plug-in that fails to load when :mod:`gdlab.optim` is first imported
    (its :class:`gdlab._registry.PluginWarning`) is told in one line, ``gdlab: warning:
    optimizer plug-in 'x' (pkg.x) failed to load: …``, not as Python's warning, which
    names a line of gdlab's own source. Other warnings are shown as Python shows them."""
    from gdlab._registry import PluginWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, PluginWarning):
            print(f"{PROG}: warning: {str(message).removeprefix('gdlab ')}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        if warnings.showwarning is show:
            warnings.showwarning = shown


def console() -> NoReturn:
    """The ``gdlab`` command itself (its script and ``python -m gdlab``): :func:`main`
    with this process's arguments, then the process ends with its exit code.

    SIGTERM and SIGHUP (``timeout``, a closed terminal) stop it as a first Ctrl-C
    does: what finished is kept and said, and the exit code is 128 + the signal's
    number (one its starter set to be ignored, as ``nohup`` does, stays ignored).
    Once :func:`main` returns, the process ends as Python's exit would
    (:func:`_end`), without the interpreter's teardown. A bug's exception goes
    through Python's own exit (its traceback, exit code 1).
    """
    from gdlab.results import Stop

    stop = Stop()
    try:
        code = _run(None, stop)
    except KeyboardInterrupt:  # before main's own handling is in place (its imports)
        with contextlib.suppress(OSError):
            print(f"{PROG}: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except OSError:  # its message could not be told: a terminal hung up (SIGHUP)
        if stop.signum is None:
            raise
        code = EXIT_INTERRUPTED
    if stop.signum is not None and stop.signum != signal.SIGINT and code == EXIT_INTERRUPTED:
        code = 128 + stop.signum
    _end(code)


def _end(code: int) -> NoReturn:
    """End the process as Python's exit does, less the interpreter's teardown.

    As ``Py_FinalizeEx`` would: the non-daemon threads are waited for
    (``threading._shutdown``), then every exit handler runs, those registered
    before the command too (coverage's, a ``sitecustomize``'s), and the standard
    streams are flushed. Then ``os._exit``: freeing every module (NumPy's,
    matplotlib's, …) takes 0.2–0.3 s and keeps nothing, since every file the
    command writes is complete and closed by then. Output that cannot be written
    (a full disk) is told on stderr, with exit code 1; a reader that went away
    (``| head``) is not. Under a profiler or a tracer (``python -m cProfile -o``,
    coverage), which saves after the code returns, Python's own exit is taken.
    """
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or tracer (cProfile -o, trace) saves after the code returns
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        pass
    except (OSError, ValueError) as error:
        told = getattr(error, "strerror", None) or error
        with contextlib.suppress(Exception):
            print(f"{PROG}: error: the output could not be written ({told})", file=sys.stderr)
        code = code or EXIT_RUN_FAILED
    with contextlib.suppress(Exception):
        if sys.stderr is not None:
            sys.stderr.flush()
    os._exit(code)


class OutputLost(Exception):
    """What the command prints could not be written (a full disk), after its files were."""


@contextlib.contextmanager
def _printing(where: str) -> Iterator[None]:
    """Print a finished command's summary; an error writing it (not a reader gone,
    ``| head``: main handles that) becomes :class:`OutputLost`, which names ``where``
    the results are (exit code 1, not a usage error's 2)."""
    try:
        yield
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise OutputLost(
            f"the summary could not be printed ({error.strerror or error}); {where}"
        ) from error


def _main(argv: list[str], command: str, stop: Any = None) -> int:
    try:
        args = build_parser().parse_args(_with_command(argv))
        with _ctrl_c_never_lost(stop):
            return _dispatch(args, command)
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head): say nothing more, and let Python's exit not fail.
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except OutputLost as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        _stdout_to_devnull()  # what is left in its buffer: told once, not again at the exit
        return EXIT_RUN_FAILED
    except _USAGE_ERRORS as error:
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


def _stdout_to_devnull() -> None:
    """Standard output, whose reader is gone or whose disk is full, goes nowhere from now
    on: what its buffer still holds is dropped quietly when it is flushed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _with_command(argv: list[str]) -> list[str]:
    """``argv`` with its command: ``race`` before an experiment, a file or an option
    (``gdlab``, ``gdlab bowl``, ``gdlab my.toml``, ``gdlab --steps 10``); a first word
    that is none of those is refused, by name (``gdlab tunee bowl``)."""
    from gdlab.experiments import BUILTIN

    first = argv[0] if argv else "-"
    if first in COMMANDS or first in ("-h", "--help", "--version"):
        return argv
    path = Path(first)
    if (
        first.startswith("-")
        or first in BUILTIN
        or path.suffix.lower() in (".toml", ".json")
        or "/" in first
        or os.sep in first
        or path.exists()
    ):
        return ["race", *argv]
    close = difflib.get_close_matches(first.lower(), [*COMMANDS, *BUILTIN], n=1, cutoff=0.6)
    raise UsageError(
        f"unknown command {first!r}: expected one of {', '.join(COMMANDS)}, or an experiment "
        f"to race ({', '.join(BUILTIN)})" + (f"; did you mean {close[0]!r}?" if close else "")
    )


@contextlib.contextmanager
def _ctrl_c_never_lost(stop: Any = None):
    """Ctrl-C that lands in a C callback still stops the command.

    numba compiles through llvmlite's ctypes callbacks, and ctypes swallows an
    exception raised in a callback ("Exception ignored on calling ctypes
    callback function"): a KeyboardInterrupt raised there would be printed and
    lost, and the race would run to its end. ``sys.unraisablehook`` sees it go;
    the interrupt is sent again from a short-lived thread once the main thread
    is out of the callback, or raised here if the command ends first. ``stop``
    (:func:`gdlab.results.later_interrupts_ignored`'s) is told, so that the
    interrupt sent again raises as the first did (a SIGTERM's as Terminated); it is
    sent as the signal that came, whose handler raised it: SIGINT may be ignored (a
    background job's), and :func:`_thread.interrupt_main` does nothing then.
    """
    previous = sys.unraisablehook
    lock = _thread.allocate_lock()
    pending = [False]

    def again() -> None:
        time.sleep(0.01)  # the hook has returned and ctypes is unwinding by then
        with lock:
            if not pending[0]:
                return
            pending[0] = False
        _thread.interrupt_main(signal.SIGINT if stop is None else stop.signum or signal.SIGINT)

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)
            return
        if stop is not None:
            stop.again()
        with lock:
            pending[0] = True
        _thread.start_new_thread(again, ())  # threading's start() would wait here

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
        with lock:
            lost, pending[0] = pending[0], False
        if lost:  # the command ended before the interrupt was sent again
            raise KeyboardInterrupt if stop is None else stop.exception()


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{error.filename}: {text}"
    return " ".join(text.split())
