"""The ``gdlab`` command.

For now it runs seed 001's benchmark: several optimizers walk a 2-D test
function from the same start, and the command prints where each one ends.
The default (plain ``gdlab``, or ``gdlab bowl``) is the seed's experiment:
``f(x, y) = x²/20 + y²`` from (−7, 2), 30 steps, the book forms of SGD (lr
0.95), Momentum (0.1), AdaGrad (1.5), Adam (0.3), RMSprop (0.3) and
Nesterov (0.3)::

    gdlab                                   # the seed's table
    gdlab --function rosenbrock --steps 200
    gdlab --optimizers sgd,adam --lr adam=0.1 --json
    gdlab --preset torch

Every optimizer not given ``--lr`` keeps the seed's learning rate (the
preset's default for an optimizer the seed did not race). A run whose loss
stops being finite is reported as ``diverged at step k``: the loss is finite
after updates 0 … k−1 and not after update k.

A usage error (a bad flag or value, an unknown function, optimizer or
preset) prints one line, ``gdlab: error: …``, on stderr and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import numbers
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

import gdlab
from gdlab import functions2d
from gdlab._checks import check_int, check_real, fail
from gdlab.optim import OPTIMIZERS, create

__all__ = ["SEED_LR", "SEED_OPTIMIZERS", "benchmark", "build_parser", "main"]

PROG = "gdlab"
EXIT_USAGE = 2
MAX_STEPS = 1_000_000
#: Seed 001's race, in its order.
SEED_OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam", "rmsprop", "nesterov")
#: Seed 001's learning rates on the bowl.
SEED_LR = {
    "sgd": 0.95,
    "momentum": 0.1,
    "adagrad": 1.5,
    "adam": 0.3,
    "rmsprop": 0.3,
    "nesterov": 0.3,
}


class UsageError(Exception):
    """A mistake in the command line: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _version() -> str:
    known = getattr(gdlab, "__version__", None)
    if known is not None:
        return str(known)
    try:
        return version("gdlab")
    except PackageNotFoundError:
        return "unknown"


def _lr_pair(text: str) -> tuple[str, float]:
    """Parse ``NAME=VALUE`` for ``--lr``."""
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if not sep or not name or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. adam=0.1); got {text!r}")
    try:
        lr = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"the learning rate of {name} must be a number; got {value.strip()!r}"
        ) from None
    try:
        lr = check_real(f"the learning rate of {name}", lr, low=0, low_open=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name, lr


def _name_list(text: str) -> list[str]:
    """Parse ``a,b,c`` for ``--optimizers``."""
    names = [part.strip().lower() for part in text.split(",")]
    if not any(names):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names; got {text!r}")
    if "" in names:
        raise argparse.ArgumentTypeError(f"empty name in {text!r}")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gdlab`` (its ``error`` raises :class:`UsageError`)."""
    functions = ", ".join(functions2d.FUNCTIONS)
    parser = _Parser(
        prog=PROG,
        description=(
            "Race gradient-descent optimizers on a 2-D test function and print where "
            "each one ends. Default: seed 001's benchmark, six optimizers (book forms) "
            "on f(x, y) = x^2/20 + y^2 from (-7, 2), 30 steps."
        ),
        epilog=f"functions: {functions}. optimizers: {', '.join(OPTIMIZERS)}.",
    )
    parser.add_argument(
        "problem",
        nargs="?",
        metavar="FUNCTION",
        help="the function to walk on, same as --function (default: bowl)",
    )
    parser.add_argument(
        "--function",
        metavar="NAME",
        help=f"the 2-D test function: {functions} (default: bowl)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=30,
        metavar="N",
        help=f"updates per optimizer, 1 to {MAX_STEPS} (default: 30)",
    )
    parser.add_argument(
        "--preset",
        default="book",
        metavar="NAME",
        help="hyperparameter preset: book, course, torch or keras (default: book)",
    )
    parser.add_argument(
        "--lr",
        type=_lr_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set one optimizer's learning rate, e.g. --lr adam=0.1 (repeatable)",
    )
    parser.add_argument(
        "--optimizers",
        type=_name_list,
        default=list(SEED_OPTIMIZERS),
        metavar="A,B,C",
        help=f"optimizers to race, in order (default: {','.join(SEED_OPTIMIZERS)})",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results, paths included, as JSON"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def _jsonable(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values]


def benchmark(
    function: str = "bowl",
    optimizers: Sequence[str] = SEED_OPTIMIZERS,
    *,
    preset: str | None = "book",
    steps: int = 30,
    lr: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Race ``optimizers`` on ``function`` and return the results as plain data.

    Each optimizer is made by ``gdlab.optim.create(name, preset, lr=...)`` with
    the learning rate from ``lr``, else seed 001's (:data:`SEED_LR`), else the
    preset's default, and walks ``steps`` updates from the function's start
    (:func:`gdlab.functions2d.run_path`).

    Returns:
        ``{"function", "description", "start", "steps", "preset", "runs"}``;
        each run is ``{"optimizer", "name", "lr", "status" ("ok" or
        "diverged"), "diverged_at" (k or None), "final" ([x, y] or None),
        "loss" (or None), "path" ([[x, y], ...], the finite rows),
        "losses"}``. ``diverged_at`` is the first k whose loss after k
        updates is not finite.

    Raises:
        ValueError, TypeError: for an unknown function, optimizer or preset,
            a repeated optimizer, an ``lr`` for an optimizer not raced, or a
            bad hyperparameter; nothing runs then.
    """
    return _race(*_setup(function, optimizers, preset, steps, lr))


def _setup(
    function: str,
    optimizers: Sequence[str],
    preset: str | None,
    steps: int,
    lr: Mapping[str, float] | None,
) -> tuple[functions2d.Function2D, list[tuple[str, Any]], int, str | None]:
    """Check everything and make the optimizers; raise before anything runs."""
    fn = functions2d.get(function)
    steps = check_int("steps", steps, low=1, high=MAX_STEPS)
    names = [name.lower() if isinstance(name, str) else name for name in optimizers]
    if not names:
        fail("optimizers", "a non-empty list of names", list(optimizers))
    for i, name in enumerate(names):
        if name in names[:i]:
            fail("optimizers", "a list without repeats", ",".join(map(str, names)))
    overrides = {str(k).lower(): v for k, v in (lr or {}).items()}
    for name in overrides:
        if name not in names:
            fail(
                "--lr optimizer",
                f"one of the optimizers raced ({', '.join(map(str, names))})",
                name,
            )
    made = []
    for name in names:
        hyper = {}
        if name in overrides:
            hyper["lr"] = overrides[name]
        elif name in SEED_LR:
            hyper["lr"] = SEED_LR[name]
        made.append((name, create(name, preset=preset, **hyper)))
    return fn, made, steps, preset


def _race(
    fn: functions2d.Function2D,
    made: list[tuple[str, Any]],
    steps: int,
    preset: str | None,
) -> dict[str, Any]:
    runs = []
    for name, optimizer in made:
        path = functions2d.run_path(fn, optimizer, steps=steps)
        with np.errstate(over="ignore", invalid="ignore"):
            losses = np.asarray(fn.f(path[:, 0], path[:, 1]), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(losses))
        end = int(bad[0]) if bad.size else steps + 1
        ok = end == steps + 1
        lr = getattr(optimizer, "lr", None)
        runs.append(
            {
                "optimizer": name,
                "name": type(optimizer).__name__,
                "lr": float(lr) if isinstance(lr, numbers.Real) else None,
                "status": "ok" if ok else "diverged",
                "diverged_at": None if ok else end,
                "final": _jsonable(path[-1]) if ok else None,
                "loss": float(losses[-1]) if ok else None,
                "path": [_jsonable(row) for row in path[:end]],
                "losses": _jsonable(losses[:end]),
            }
        )
    return {
        "function": fn.name,
        "description": fn.description,
        "start": _jsonable(fn.start),
        "steps": steps,
        "preset": preset,
        "runs": runs,
    }


def _table(results: dict[str, Any]) -> str:
    start = ", ".join(f"{v:g}" for v in results["start"])
    lines = [
        f"{results['function']}: {results['description']}, start ({start}), "
        f"{results['steps']} steps, preset {results['preset']}",
        "",
        f"{'optimizer':<10} {'lr':>8}  {'x':>14} {'y':>14} {'f(x, y)':>14}",
    ]
    for run in results["runs"]:
        lr = "default" if run["lr"] is None else f"{run['lr']:g}"
        head = f"{run['name']:<10} {lr:>8}  "
        if run["status"] == "ok":
            x, y = run["final"]
            lines.append(head + f"{x:>14.6g} {y:>14.6g} {run['loss']:>14.6g}")
        else:
            lines.append(head + f"diverged at step {run['diverged_at']}")
    return "\n".join(lines)


def _setup_from(argv: Sequence[str] | None) -> tuple[Any, argparse.Namespace] | int:
    """Parse and check the command line; an ``int`` is an exit code (--help)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else 0
    if args.problem is not None and args.function is not None and args.problem != args.function:
        raise UsageError(
            f"two functions given: {args.problem!r} and --function {args.function!r}; pick one"
        )
    function = args.function or args.problem or "bowl"
    steps = check_int("--steps", args.steps, low=1, high=MAX_STEPS)
    return _setup(function, args.optimizers, args.preset, steps, dict(args.lr)), args


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gdlab`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    try:
        ready = _setup_from(argv)
    except (UsageError, ValueError, TypeError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(ready, int):
        return ready
    setup, args = ready
    results = _race(*setup)
    if args.json:
        print(json.dumps(results, indent=2, allow_nan=False))
    else:
        print(_table(results))
    return 0
