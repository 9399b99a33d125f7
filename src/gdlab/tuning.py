"""Fair tuning: every run of an experiment gets the same budget on the same folds.

``gdlab tune EXPERIMENT`` is :mod:`gdlab.selection`'s cross-validation run as
:mod:`gdlab.sweep` tasks. For every run of the experiment:

1. **Candidates.** The learning rate (and any other hyperparameter asked for,
   ``tune=("lr", "beta1")``) from :func:`gdlab.selection.default_space`: a
   grid of ``budget`` rates on a log scale (of at most ``budget`` points
   whatever the number of names: :func:`_grid_counts`), or ``budget`` random
   draws. The
   run's own setting (its untuned default) is always one of the candidates,
   so the tuned choice is never worse than the default on validation.
2. **Scores.** Each candidate trains on every fold's training part
   (:func:`gdlab.selection.train_fold`) and is scored on the part left out: by
   validation accuracy for a classifier (the loss breaks ties), by validation
   loss otherwise (``metric`` overrides). A 2-D function has no data and is
   scored by its final loss. Every candidate of a fold trains from the same
   generator: the same initial weights and batches.
3. **No stopping on an edge.** When the best value of a log-scaled
   hyperparameter (lr, eps, weight_decay) is the smallest or the largest
   tried (in any candidate, or along its own line: :func:`_edges`), the range
   is widened along its line by the grid's own ratio (at most a decade) and the new points are
   run, until the best is inside, at a hard bound (:data:`HARD_BOUNDS`) or after
   :data:`MAX_WIDEN` rounds, which ``tune.json`` flags apart (``at_bound``,
   ``at_edge``). Widening never goes past a bound.

Each (run, candidate, fold) task is named by a digest of everything that
decides its result (problem, the digest of its training data's arrays, data
split and the digest of its fold's indices, training, optimizer and
hyperparameters, fold, seed; not the race's seed count), so a resume reuses only
identical work, and changing ``--steps`` runs new tasks. A resume reuses
finished tasks (diverged ones too) and runs the failed ones again, once per
call (in its first sweep, not in every widening round). A new task file starts
with the finished records of tasks of the same id in the directory's other task
files (:meth:`_Tuner.adopt`): a change to one run reruns its tasks alone.
``tune.json`` records the experiment and the settings that produced it, and is
never replaced by another tuning's unless asked (``force``); ``gdlab race
EXPERIMENT --tuned`` re-runs the best settings with several seeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gdlab import _io
from gdlab._checks import ConfigError, check_choice, check_int, check_rng, cut, describe, fail
from gdlab._text import exact_value, validation_words
from gdlab.experiments.model import (
    Experiment,
    RunSpec,
    batch_of,
    digest,
    fresh_labels,
    label_change,
    same_value,
    schedule_lr0,
    slug,
    varying,
)
from gdlab.problems import check_start
from gdlab.results import TUNING_FILES

__all__ = [
    "HARD_BOUNDS",
    "SCHEMA_ID",
    "UNTUNED_TRAINING",
    "apply_tuned",
    "candidates",
    "edges",
    "load_tuned",
    "rebuilt_series",
    "series",
    "tune",
    "tune_task",
    "tuned_alike",
    "tuned_arguments",
    "tuned_digest",
    "tuned_name",
    "untuned_note",
]

SCHEMA_ID = "gdlab.tune/2"
#: How far widening may go, per log-scaled hyperparameter.
HARD_BOUNDS: dict[str, tuple[float, float]] = {
    "lr": (1e-6, 10.0),
    "eps": (1e-12, 1e-2),
    "weight_decay": (1e-8, 1.0),
}
#: Widening rounds at most (each adds points on the side of the edge).
MAX_WIDEN = 6
#: Points added per widening round.
WIDEN_POINTS = 2
#: The most candidates a grid may start with per run (``--budget`` points per name multiply).
MAX_GRID = 10_000
#: Evaluate only at the end of a tuning run (the validation metrics are all it needs).
_NEVER = 10**9
#: The training settings no tuning task uses (:func:`tune_task` sets its own): a race
#: may differ from its tuning in them.
UNTUNED_TRAINING = ("validation", "evaluate_every", "step_loss")
_METHODS = ("grid", "random", "tpe")


# --------------------------------------------------------------------------- one task

_DATA: dict[str, Any] = {}
#: The digest of the pool ``_DATA`` keeps (:func:`_data_digest`), by the same key.
_DATA_DIGESTS: dict[str, str] = {}


#: What the pool a digest is taken of holds: 2 since the data are kept as read (MNIST's
#: pixels as bytes, Boston unscaled) and prepared per fold. A digest of another format
#: (an earlier gdlab's, without the ``2-`` prefix) is not comparable with this one.
DATA_DIGEST_FORMAT = 2


def _data_digest(data: Any) -> str:
    """A digest of a data set's arrays (their dtypes, shapes and bytes): the data that
    decides a task's result, whatever its files are called, marked with
    :data:`DATA_DIGEST_FORMAT`. One pass over the bytes (the 5,000-digit MNIST subset:
    a few milliseconds)."""
    h = hashlib.sha256()
    for array in (data.X, data.y):
        array = np.ascontiguousarray(array)
        h.update(f"{array.dtype.str}{array.shape};".encode())
        h.update(memoryview(array).cast("B"))
    return f"{DATA_DIGEST_FORMAT}-{h.hexdigest()[:16]}"


def _comparable_digest(recorded: Any) -> bool:
    """Whether a recorded data digest is of this gdlab's format (:data:`DATA_DIGEST_FORMAT`)."""
    return isinstance(recorded, str) and recorded.startswith(f"{DATA_DIGEST_FORMAT}-")


def _pool(experiment: Experiment, expected: str | None = None) -> Any:
    """The experiment's training data (the test set never enters tuning), kept per process.

    ``expected`` is the digest the tuning named its tasks by: a pool kept from an
    earlier tuning of other data (a Dask worker lives on) is loaded again, and data
    that changed since the tuning began fails the task, naming both digests.
    """
    from gdlab.data import Splits

    key = digest(experiment.problem.to_table())
    if expected is not None and _DATA_DIGESTS.get(key, expected) != expected:
        _DATA.clear()  # kept from an earlier tuning: read the files again
    if key not in _DATA:
        data = experiment.problem.load_data()
        if isinstance(data, Splits):
            pool = data.train
            if data.validation is not None:
                from gdlab.selection import concat

                pool = concat(data.train, data.validation)
            data = pool
        _DATA.clear()
        _DATA_DIGESTS.clear()
        _FOLDS.clear()  # they index the pool they were made for
        _DATA[key] = data
        _DATA_DIGESTS[key] = _data_digest(data)
    if expected is not None and _DATA_DIGESTS[key] != expected:
        raise ConfigError(
            f"the data of {experiment.name!r} changed while it was tuned: its training "
            f"arrays' digest is {_DATA_DIGESTS[key]}, the tuning's tasks were named for "
            f"{expected}; run the tuning again"
        )
    return _DATA[key]


_FOLDS: dict[tuple[int, int, int], list[Any]] = {}


def _folds(pool: Any, folds: int, split_seed: int) -> list[Any]:
    """The folds of ``pool``, made once per process (every candidate of a run uses them)."""
    from gdlab import selection

    key = (id(pool), folds, split_seed)  # the pool is the one _DATA keeps
    if key not in _FOLDS:
        rng = np.random.default_rng(split_seed)
        if folds == 1:
            made = [selection.holdout_fold(pool, validation_size=0.2, rng=rng)]
        else:
            made = selection.kfold(pool, folds, rng=rng)
        _FOLDS.clear()
        _FOLDS[key] = made
    return _FOLDS[key]


def tune_task(
    *,
    config: Mapping[str, Any],
    run: int,
    hyperparameters: Mapping[str, Any],
    fold: int,
    folds: int,
    split_seed: int,
    seed: int,
    rng: np.random.Generator,
    data: str | None = None,
    modules: Sequence[str] = (),
) -> dict[str, Any]:
    """Train run ``run`` of experiment ``config`` with ``hyperparameters`` on one fold.

    Module-level, plain data in and out, so that it runs in another process or
    on a Dask worker. The generator of training is ``default_rng(seed)``, the
    same for every candidate and run of a fold (the sweep's ``rng`` is not used).
    ``data`` is the digest of the training data the task was named for
    (:func:`_data_digest`): other data fails the task rather than score it.
    ``modules`` are imported first: those that register the experiment's own
    optimizers (:func:`gdlab.sweep.registering_modules`; bound to the sweep's
    function, not a task's kwargs, so that where the tasks run keys no task).
    """
    from gdlab import selection
    from gdlab.sweep import one_run
    from gdlab.train import fit

    experiment = one_run(config, run, modules)
    spec = _candidate_spec(experiment.runs[0], hyperparameters)
    if "step_loss" in spec.training:  # a run's own setting would override the one below
        spec = dataclasses.replace(
            spec, training={k: v for k, v in spec.training.items() if k != "step_loss"}
        )
    settings = experiment.run_training(spec).fit_kwargs()
    # a fold is scored on its held-out part: the per-step loss is never read, so it is
    # the batch's (step_loss="train" would add a pass over the training set per step and
    # changes nothing else the fold computes)
    settings.update(validation=None, evaluate_every=_NEVER, step_loss="batch")
    train_rng = np.random.default_rng(seed)
    if not experiment.problem.has("data"):
        history = fit(
            experiment.problem.build(), spec.make_optimizer(), rng=train_rng, progress=False,
            **settings,
        )  # fmt: skip
        diverged = history.status == "diverged" or not math.isfinite(history.final_loss)
        return {
            "status": "diverged" if diverged else history.status,
            "val_loss": None if diverged else float(history.final_loss),
            "val_accuracy": None,
            "steps": history.steps,
        }
    pool = _pool(experiment, data)
    part = _folds(pool, folds, split_seed)[fold]
    record = selection.train_fold(
        experiment.problem.build,
        spec,
        pool,
        part.train,
        part.validation,
        rng=train_rng,
        train_kwargs=settings,
    )
    diverged = record["status"] == "diverged"
    return {
        "status": record["status"],
        "val_loss": None if diverged else float(record["val_loss"]),
        "val_accuracy": None if diverged else record.get("val_accuracy"),
        "steps": record["steps"],
    }


def _candidate_spec(run: RunSpec, hyperparameters: Mapping[str, Any]) -> RunSpec:
    """``run`` with a candidate's values: an lr keeps the run's schedule (its lr0 changes)."""
    values = dict(hyperparameters)
    if "lr" in values:
        run = run.with_lr(values.pop("lr"))
    return run.with_hyperparameters(**values) if values else run


# --------------------------------------------------------------------------- candidates


def _default_point(run: RunSpec, names: Sequence[str]) -> dict[str, Any]:
    """The run's own value of each tuned hyperparameter (its untuned default): a
    number as a float, but an int or bool the optimizer holds as one stays so (its
    argument checks refuse ``3.0`` for ``k=3``, ``0.0`` for ``flag=False``)."""
    current = run.make_optimizer().hyperparameters()
    point = {}
    for name in names:
        value = run.hyperparameters.get(name, current.get(name))
        if name == "lr":
            value = schedule_lr0(value)  # a float (None: a schedule without one)
        point[name] = _like(value, current.get(name))
    return point


def _like(value: Any, default: Any) -> Any:
    """A drawn value as plain data: a float, but a choice's int or bool stays one where the
    default is one (a float hyperparameter's ``1`` is ``1.0``, a ``k``'s ``2`` stays ``2``)."""
    if isinstance(value, bool | int | np.integer | np.bool_) and isinstance(default, int):
        return bool(value) if isinstance(value, bool | np.bool_) else int(value)
    return float(value) if isinstance(value, int | float | np.integer | np.floating) else value


def _space(run: RunSpec, tune: Sequence[str]) -> Any:
    from gdlab.selection import default_space

    try:
        return default_space(run.optimizer, tune=tuple(tune))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--tune for run {run.label!r}: {error}") from None


def candidates(
    run: RunSpec, tune: Sequence[str], budget: int, method: str, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """The first candidates of ``run``: its default, then a grid or random draws.

    A grid has at most ``budget`` points, whatever the number of tuned names
    (:func:`_grid_counts`: ``budget`` rates with lr alone; 4 rates × 2 momenta at
    8 with two names); ``method="random"`` draws ``budget`` points from ``rng``.
    """
    budget = check_int("budget", budget, low=2)
    method = check_choice("method", method, ("grid", "random"))
    rng = check_rng(rng)
    space = _space(run, tune)
    default = _default_point(run, space.names)
    points = _grid(space, budget, default) if method == "grid" else space.sample(budget, rng)
    unique, seen = [default], set()
    for point in points:
        point = {k: _like(v, default[k]) for k, v in point.items()}
        key = tuple(point.items())
        # a grid point at the default up to rounding is one point; others differ exactly
        if key not in seen and not same_value(point, default):
            seen.add(key)
            unique.append(point)
    return unique


def default_in_grid(run: RunSpec, tune: Sequence[str], budget: int) -> bool:
    """Whether ``run``'s default is one of the points of its first grid (:func:`candidates`
    then tries ``budget`` points, the default among them, rather than the default besides)."""
    space = _space(run, tune)
    default = _default_point(run, space.names)
    return any(
        same_value({k: _like(v, default[k]) for k, v in point.items()}, default)
        for point in _grid(space, budget, default)
    )


def _as_written(value: Any) -> str:
    """A run's setting as a user writes it: a schedule's table in TOML's inline form
    (``{name = "onecycle", max_lr = 0.5}``, as ``--lr`` and experiment files take it),
    cut to about 100 characters; anything else as :func:`describe` shows it."""
    if not isinstance(value, Mapping):
        return describe(value)
    return cut(_toml_inline(value), 100)


def _toml_inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, Mapping):
        items = (
            f"{k if re.fullmatch(r'[A-Za-z0-9_-]+', str(k)) else json.dumps(str(k))} = "
            f"{_toml_inline(v)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_inline(v) for v in value) + "]"
    return repr(value)


def _grid_counts(space: Any, budget: int) -> dict[str, int]:
    """The values each name of ``space`` takes in a grid of at most ``budget`` points.

    Every name starts at one value; then, lr first and the others in order, the
    name with the fewest values (the first such) that may grow without the product
    passing ``budget`` gets one more, until none may (a Choice has at most its own
    values). So lr alone has ``budget``; two names at 8 have 4 × 2, at 16 4 × 4;
    three at 8 have 2 × 2 × 2, and every optimizer gets the same budget whatever
    the number of names it tunes.
    """
    from gdlab.selection import Choice

    names = sorted(space.names, key=lambda n: n != "lr")  # lr first, the others in order
    caps = {n: len(d.values) if isinstance(d, Choice) else budget for n, d in space.params.items()}
    counts = dict.fromkeys(names, 1)

    def may_grow(name: str) -> bool:
        size = math.prod(counts.values()) // counts[name] * (counts[name] + 1)
        return counts[name] < caps[name] and size <= budget

    while growing := [n for n in sorted(names, key=counts.get) if may_grow(n)]:
        counts[growing[0]] += 1  # the sort is stable: lr first among the fewest
    return {n: counts[n] for n in space.names}


def _grid(space: Any, budget: int, default: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A grid of at most ``budget`` points (:func:`_grid_counts`), the first name varying
    slowest: a continuous name's ``n`` values span its range (log-spaced for a
    LogUniform), a Choice's ``n`` are spread over its values, ends first (momentum's
    0.5, 0.9, 0.95, 0.99 at 2: 0.5 and 0.99); a name with one value keeps the run's
    own (``default``'s)."""
    from gdlab.selection import Choice

    axes = []
    for name, count in _grid_counts(space, budget).items():
        dist = space.params[name]
        if count == 1:
            axes.append([default[name]])
        elif isinstance(dist, Choice):
            picked = np.linspace(0, len(dist.values) - 1, count).round().astype(int)
            axes.append([dist.values[int(i)] for i in picked])
        else:
            axes.append(dist.grid(count))
    return [dict(zip(space.names, values, strict=True)) for values in itertools.product(*axes)]


def _check_run(run: RunSpec, tune: Sequence[str], budget: int, method: str) -> None:
    """Refuse a run tuning cannot start: a default it cannot read, a grid too big."""
    space = _space(run, tune)
    default = _default_point(run, space.names)
    for name, value in default.items():
        if value is None:  # a schedule with no initial rate: onecycle, cyclic, join, ...
            raise ConfigError(
                f"--tune {name} for run {run.label!r}: its {name} "
                f"{_as_written(run.hyperparameters.get(name))} has no initial value to tune; "
                "give the run a number, or a schedule with lr0, or tune other names"
            )
    try:
        _candidate_spec(run, default).make_optimizer()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--tune for run {run.label!r}: {error}") from None
    if method == "grid":
        size = math.prod(_grid_counts(space, budget).values())
        if size > MAX_GRID:
            raise ConfigError(
                f"--budget {budget} with --tune {', '.join(tune)} makes a grid of {size} "
                f"candidates for run {run.label!r} (at most {MAX_GRID}): lower --budget, "
                "tune fewer names or use --method random"
            )


def _tunable(run: RunSpec) -> dict[str, str]:
    from gdlab.optim import OPTIMIZERS

    return dict(OPTIMIZERS[run.optimizer.lower()].tunable)


def _own_tune(run: RunSpec, tune: Sequence[str]) -> tuple[str, ...]:
    """The names of ``tune`` that ``run``'s optimizer may tune (its ``tunable``): with
    ``--tune lr,beta1,momentum``, Adam tunes lr and beta1, Momentum lr and momentum."""
    tunable = _tunable(run)
    return tuple(name for name in tune if name in tunable)


def _check_tune_names(experiment: Experiment, tune: Sequence[str]) -> None:
    """Refuse a name no run may tune, and a run that may tune none of the names."""
    for name in tune:
        if not isinstance(name, str):
            fail("every name in tune", "a str such as 'lr' or 'beta1'", name, kind=TypeError)
    may = "; ".join(
        f"{r.label} ({r.optimizer}) may tune {', '.join(_tunable(r)) or 'nothing'}"
        for r in experiment.runs
    )
    for name in tune:
        if not any(name in _tunable(r) for r in experiment.runs):
            raise ConfigError(
                f"--tune {','.join(tune)}: no run of {experiment.name!r} may tune {name!r} ({may})"
            )
    for run in experiment.runs:
        if not _own_tune(run, tune):
            raise ConfigError(
                f"--tune {','.join(tune)}: run {run.label!r} ({run.optimizer}) may tune none "
                f"of these; it may tune {', '.join(_tunable(run)) or 'nothing'}"
            )


def _log_names(run: RunSpec, tune: Sequence[str]) -> list[str]:
    from gdlab.selection import LogUniform

    space = _space(run, tune)
    return [n for n in space.names if isinstance(space.params[n], LogUniform)]


def _edges(
    points: Sequence[Mapping[str, Any]],
    best: Mapping[str, Any],
    name: str,
    extent: Sequence[float] | None = None,
) -> tuple[list[int], list[float]]:
    """The sides (−1 below, +1 above) on which ``best``'s ``name`` is an edge; and its line.

    Its line is the values ``name`` took among the points that share ``best``'s
    other values. ``best`` is on an edge when its value is the smallest or the
    largest the name took in any point (``extent``: those values, sorted), or
    in its line when the line holds two or more. So a grid's best at the end of
    its row is widened, and so is a candidate alone on its line (a default off
    the grid: ``weight_decay`` 0 at the untuned lr) whose value is beyond every
    other tried; a random draw is widened when no other draw went further.
    """
    tried = sorted({p[name] for p in points}) if extent is None else extent
    line = sorted({p[name] for p in points if _same_others(p, best, name)})
    value = best[name]
    sides = []
    for side, ends in ((-1, (tried[0], line[0])), (1, (tried[-1], line[-1]))):
        if len(tried) >= 2 and (value == ends[0] or (len(line) >= 2 and value == ends[1])):
            sides.append(side)
    return sides, line


def _widen(
    points: Sequence[Mapping[str, Any]],
    best: Mapping[str, Any],
    names: Sequence[str],
    ratios: Mapping[str, float],
    extents: Mapping[str, Sequence[float]] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """New points beyond an edge the best sits on (:func:`_edges`), along its line; and
    the names stuck at a hard bound. ``extents`` holds each name's sorted values over
    every point when ``points`` are only those on the best's lines.

    A step is the grid's own ratio (``ratios``, in decades: :func:`_ratios`), taken
    so that a decimal grid's steps stay decimal (:func:`_stepped`: 1e-3 / 10 is 1e-4,
    not 1.0000000000000002e-4; 0.3 · 10 is 3, not 2.9999999999999996), and counted
    from the first value of the line that the best is a whole number of steps from
    (:func:`_anchor`), not from the best: a round after round of 0.2 decades below
    1e-3 reaches 1e-4 and 1e-5 exactly, not 9.99999999999998e-05. Widening never
    goes past a hard bound: a point within rounding of it, or beyond it, is the
    bound itself, and the last one on that side; a best at the bound (or a weight
    decay of 0, the bottom of its range) is stuck; a best beyond it (an untuned
    default outside the bounds) gets nothing on that side, and is not stuck. No new
    point is, up to rounding, one already on the line.
    """
    new, stuck = [], []
    for name in names:
        tried = sorted({p[name] for p in points}) if extents is None else extents[name]
        sides, line = _edges(points, best, name, tried)
        value = best[name]
        anchor, steps = _anchor(
            value, [p[name] for p in points if _same_others(p, best, name)], ratios[name]
        )
        added: list[float] = []
        for side in sides:
            bound = _bound(name, side)
            if (side < 0 and value <= 0) or same_value(value, bound):
                stuck.append(name)
                continue
            if _beyond(value, bound, side):
                continue
            for k in range(1, WIDEN_POINTS + 1):
                x = _stepped(anchor, (steps + side * k) * ratios[name])
                last = _beyond(x, bound, side) or same_value(x, bound)
                x = float(bound) if last else x
                if not any(same_value(x, v) for v in (*line, *added)):
                    added.append(x)
                if last:
                    break
        new += [{**best, name: x} for x in added]
    return new, stuck


#: Significant digits a widened value keeps: a decimal grid's values stay decimal
#: (0.3 · 10 is 3, not 2.9999999999999996).
_DIGITS = 15


def _stepped(value: float, decades: float) -> float:
    """``value`` moved by ``decades`` (log10 of the ratio), in its decimal form: a whole
    number of decades multiplies or divides by the exact power of ten (0.95 → 9.5, 1e-3
    → 1e-4); any other step moves by its fraction of a decade, rounded to :data:`_DIGITS`
    significant digits, then by its whole decades, so that one mantissa is written one
    way in every decade (3.98107170553497e-05, 3.98107170553497e-06)."""
    n = round(decades)
    if not math.isclose(decades, n, rel_tol=0.0, abs_tol=1e-9):
        n = math.floor(decades)
        value = float(f"{10.0 ** (math.log10(value) + decades - n):.{_DIGITS}g}")
    x = value * 10**n if n >= 0 else value / 10**-n
    return float(f"{x:.{_DIGITS}g}")


def _anchor(value: float, line: Sequence[float], decades: float) -> tuple[float, int]:
    """Where a widening of ``value`` by steps of ``decades`` counts its steps from: the
    first of ``line`` (the values of its line, in the order tried) that ``value`` is a
    whole number of steps from, and that number. A widened point is then as far from a
    grid's value as a fresh grid would put it, however many rounds led to it, rather than
    a step from the last round's rounded value (whose rounding would add up). A value
    on no other's steps (an untuned default, a random draw) counts from itself."""
    if value > 0 and decades > 0:
        for start in line:
            if start > 0:
                steps = (math.log10(value) - math.log10(start)) / decades
                if abs(steps - round(steps)) < 1e-6:
                    return start, round(steps)
    return value, 0


def _bound(name: str, side: int) -> float:
    """The hard bound of ``name`` on ``side`` (−1 the lower, +1 the upper)."""
    low, high = HARD_BOUNDS.get(name, (0.0, math.inf))
    return low if side < 0 else high


def _beyond(value: float, bound: float, side: int) -> bool:
    """Whether ``value`` lies past ``bound`` on ``side`` (more than rounding)."""
    return (value - bound) * side > 0 and not same_value(value, bound)


#: The widest widening step, in decades: a step never jumps over a decade untried.
MAX_STEP_DECADES = 1.0


def _ratios(run: RunSpec, tune: Sequence[str], budget: int) -> dict[str, float]:
    """Each log-scaled name's widening step, in decades (log10 of the ratio): the
    grid's own spacing, that of the name's values in a grid of ``budget``
    (:func:`_grid_counts`) over its range, or a decade (:data:`MAX_STEP_DECADES`),
    whichever is smaller: Adam's lr grid of 2 (1e-4, 0.1) widens 0.1 to 1 and 10,
    not straight to 10 (nor does a name with one grid value step by its whole
    range). Random draws and TPE, which have no grid, widen by the step a grid of
    their budget would have."""
    from gdlab.selection import LogUniform

    space = _space(run, tune)
    counts = _grid_counts(space, budget)
    return {
        name: min(
            (math.log10(d.high) - math.log10(d.low)) / max(counts[name] - 1, 1),
            MAX_STEP_DECADES,
        )
        for name, d in space.params.items()
        if isinstance(d, LogUniform)
    }


def _same_others(point: Mapping[str, Any], best: Mapping[str, Any], name: str) -> bool:
    return all(point[k] == v for k, v in best.items() if k != name)


# --------------------------------------------------------------------------- scoring


def _summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A candidate's scores over its folds (a diverged or failed fold makes it unusable).

    ``diverged`` counts the folds whose training diverged, ``failed`` the tasks
    that raised (their records say why; they are no divergence). A score of one
    fold (a hold-out, a 2-D function's final loss) has no spread: its std is None.
    """
    finished = [r for r in rows if r["status"] == "ok"]
    ok = [r for r in finished if r["result"]["status"] != "diverged"]
    diverged = len(finished) - len(ok)
    failed = len(rows) - len(finished)
    losses = [r["result"]["val_loss"] for r in ok if r["result"]["val_loss"] is not None]
    accs = [r["result"]["val_accuracy"] for r in ok if r["result"]["val_accuracy"] is not None]
    usable = bool(losses) and len(ok) == len(rows)
    spread = usable and len(losses) > 1  # a hold-out or a 2-D function's one run has none
    return {
        "mean_loss": float(np.mean(losses)) if usable else None,
        "std_loss": float(np.std(losses)) if spread else None,
        "mean_accuracy": float(np.mean(accs)) if usable and accs else None,
        "std_accuracy": float(np.std(accs)) if spread and len(accs) > 1 else None,
        "diverged": diverged,
        "failed": failed,
    }


def _rank(point: Mapping[str, Any], metric: str) -> tuple:
    """Smaller is better: accuracy first (loss breaks ties), or loss alone."""
    if point["mean_loss"] is None:
        return (1, math.inf, math.inf)
    if metric == "accuracy":  # equal to ACCURACY_DIGITS decimals: a tie (float noise)
        from gdlab.selection import ACCURACY_DIGITS

        accuracy = round(point["mean_accuracy"] or 0.0, ACCURACY_DIGITS)
        return (0, -accuracy, point["mean_loss"])
    return (0, point["mean_loss"], 0.0)


# --------------------------------------------------------------------------- the tuning


def _task_id(label: str, key: Mapping[str, Any]) -> str:
    return f"{slug(label)}/{digest(key)}"


def _fold_digests(experiment: Experiment, folds: int, split_seed: int) -> list[str] | None:
    """A digest of each fold's train and validation indices (None without data).

    The folds come from scikit-learn's splitters: a version that splits
    otherwise gives other digests, hence other task keys, and nothing is reused.
    """
    if not experiment.problem.has("data"):
        return None
    digests = []
    for part in _folds(_pool(experiment), folds, split_seed):
        h = hashlib.sha256()
        for indices in (part.train, part.validation):
            array = np.ascontiguousarray(indices, dtype="<i8")
            h.update(len(array).to_bytes(8, "little"))
            h.update(array.tobytes())
        digests.append(h.hexdigest()[:16])
    return digests


#: The schema of ``tasks-*.points.json``: the candidates handed to a tuning's sweep file.
_ISSUED_SCHEMA = "gdlab.tune-points/1"


def _issued_document(issued: Mapping[int, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"schema": _ISSUED_SCHEMA, "points": {str(i): issued[i] for i in sorted(issued)}}


def _read_issued(path: Path, n_runs: int | None) -> dict[int, list[dict[str, Any]]]:
    """The candidates an earlier call handed to the sweep file, by run (none: ``{}``);
    ``n_runs``: how many runs it may name (``None``: another tuning's, any number)."""
    import json

    if not path.exists():
        return {}
    indices = "" if n_runs is None else f" with run indices 0 to {n_runs - 1}"
    expected = (
        f"a gdlab tuning's candidates ({{'schema': {_ISSUED_SCHEMA!r}, 'points': {{run index: "
        f"[point, ...]}}}}{indices})"
    )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} must be {expected}; got {error}") from None
    points = document.get("points") if isinstance(document, dict) else None
    if (
        not isinstance(document, dict)
        or document.get("schema") != _ISSUED_SCHEMA
        or not isinstance(points, dict)
        or not all(k.isdigit() and (n_runs is None or int(k) < n_runs) for k in points)
        or not all(
            isinstance(v, list) and all(isinstance(p, dict) for p in v) for v in points.values()
        )
    ):
        raise ConfigError(f"{path} must be {expected}; got {describe(document)}")
    return {int(k): v for k, v in points.items()}


def _records(path: Path) -> dict[str, dict[str, Any]]:
    """The records in a sweep file, by task id (what is not a record is left to the sweep
    to report)."""
    import json

    records = {}
    if path.is_file():
        for line in path.read_bytes().split(b"\n"):
            try:
                record = json.loads(line)
            except ValueError:  # a blank line, a cut last one
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                records[record["id"]] = record
    return records


def _scorable(record: Mapping[str, Any]) -> bool:
    """Whether :func:`_summary` can read ``record``: failed, or finished with its result."""
    return record.get("status") == "failed" or (
        record.get("status") == "ok" and isinstance(record.get("result"), dict)
    )


def _finished(record: Mapping[str, Any]) -> bool:
    """Whether ``record`` is of a task that finished, with its result: one another task file
    may lend (a failed one has no result to reuse)."""
    return record.get("status") == "ok" and isinstance(record.get("result"), dict)


def _point_key(point: Mapping[str, Any]) -> tuple:
    """A candidate as a dict key (its values are scalars)."""
    return tuple(sorted(point.items()))


def _line_key(point: Mapping[str, Any], name: str) -> tuple:
    """The line of ``point`` along ``name``: its other values."""
    return (name, *((k, v) for k, v in sorted(point.items()) if k != name))


class _Unrecorded(Exception):
    """A replayed sweep reached a task the file does not record: the earlier call stopped."""


class _Tuner:
    """One tuning: tasks per (run, candidate, fold), run as sweeps until no best is on an edge."""

    def __init__(self, experiment: Experiment, out_dir: Path, **settings: Any) -> None:
        self.experiment = experiment
        # what decides the results, without the name, text, race seeds and how a run
        # evaluates: the sweep's record keys hash the tasks' kwargs, and a retitled
        # experiment reuses its tasks
        self.deciding = _deciding_experiment(experiment)
        self.config = self.deciding.key()
        self.out_dir = out_dir
        self.s = settings
        # what names the tasks: the problem, but not where its data's files are (the
        # data's digest names them), so that the same files by another path reuse them
        self.problem = (
            _unlocated(self.config["problem"])
            if settings.get("data") is not None
            else self.config["problem"]
        )
        self.n_folds = settings["folds"] if experiment.problem.has("data") else 1
        self.points: dict[int, list[dict[str, Any]]] = {}
        self.records: dict[str, dict[str, Any]] = {}
        # the folds' contents (scikit-learn makes them): other folds, other tasks and file
        self.splits = _fold_digests(experiment, self.n_folds, settings["split_seed"])
        self._tasks: dict[tuple, Any] = {}
        #: each log-scaled name's widening ratio, by run (:func:`_ratios`)
        self.ratios = {
            i: _ratios(spec, self.tune_of(i), settings["budget"])
            for i, spec in enumerate(experiment.runs)
        }
        name = self.file_name(self.config)
        self.sweep_file = out_dir / f"{name}.jsonl"
        # every candidate ever handed to the sweep file, by run: a resume hands them all
        # to the sweep again (a widening round's tasks are in the file; the sweep refuses
        # a file holding tasks it was not given)
        self.issued_file = out_dir / f"{name}.points.json"
        self.adopt()
        self.found = _records(self.sweep_file)  # an earlier call's tasks that ran
        self.recorded = set(self.found)
        self.issued, self.rebuilt = self.read_issued()
        self.retried = False  # failed records are run again once per call, in its first sweep

    _KEYS = ("folds", "split_seed", "base_seed", "budget", "tune", "method")

    def file_name(self, config: Mapping[str, Any], *, by_path: bool = False) -> str:
        """The name of the task file of this tuning of experiment ``config`` (a key).

        Where the data's files are (:func:`_unlocated`) is kept apart from the
        experiment: the file of a tuning whose tasks are named without it is not an
        earlier gdlab's of the same path (``by_path``: that name), whose task ids
        held it. A problem without such keys has the same name both ways."""
        where: dict[str, Any] = {}
        if not by_path and self.s.get("data") is not None:
            problem = _unlocated(config["problem"])
            where = {k: v for k, v in config["problem"].items() if k not in problem}
            config = {**config, "problem": problem}
        key = {"experiment": config, **{k: self.s[k] for k in self._KEYS}}
        if self.splits is not None:
            key["splits"] = self.splits
        if self.s.get("data") is not None:  # the data's own digest: files that change
            key["data"] = self.s["data"]  # under the same --data path run new tasks
        if where:
            key["where"] = where
        return f"tasks-{digest(key, 12)}"

    def adopt(self) -> None:
        """Start this tuning's task file, where it is missing, with the records of its tasks
        that the directory's other task files hold (:meth:`sources`): an earlier gdlab's
        file of this very tuning, which named its tasks by the whole experiment, and the
        record of a task of the same id in any other tuning's file (ids name everything
        that decides a result, :meth:`_key`: a change to one run reruns its tasks
        alone). Only finished records (:func:`_finished`) of candidates that a file's
        ``.points.json`` lists are copied, each with its ``key`` rewritten for this
        tuning's task, and the candidates are listed beside them. A file without its
        candidates is left apart, never mixed in; every file stays as it was."""
        from gdlab.sweep import task_key

        if self.sweep_file.exists():
            return
        copied: dict[str, dict[str, Any]] = {}
        issued: dict[int, list[dict[str, Any]]] = {}
        for tasks, candidates, their_id in self.sources():
            records = {i: r for i, r in _records(tasks).items() if _finished(r)}
            for run, point in candidates:
                try:
                    pairs = [
                        (records.get(their_id(run, point, fold)), self.task(run, point, fold))
                        for fold in range(self.n_folds)
                    ]
                except (TypeError, ValueError):  # a hand-edited candidate: none of ours
                    continue
                for record, task in pairs:
                    if record is None or task.id in copied:
                        continue
                    key = task_key(task, self.s["base_seed"])
                    copied[task.id] = {**record, "id": task.id, "key": key}
                    listed = issued.setdefault(run, [])
                    listed += [] if point in listed else [point]
        if copied:
            lines = "".join(json.dumps(record) + "\n" for record in copied.values())
            _io.write_json(self.issued_file, _issued_document(issued))
            _io.atomic_write(self.sweep_file, lambda f: f.write(lines.encode()))

    def sources(self) -> Iterator[tuple[Path, list[tuple[int, dict[str, Any]]], Callable]]:
        """The directory's other task files, each with the candidates of this tuning's runs
        to look for in it (``(run, point)``, from its ``.points.json``) and how it names
        the task of a run's candidate on a fold: an earlier gdlab's file of this tuning
        by the whole experiment (:meth:`wholes`) or by what decides it, its ids holding
        where the data's files were (``by_path``), with the candidates of each run as
        listed; any other file as this tuning names it, with every candidate it lists
        under each run that tunes the same names."""
        earlier: dict[Path, Experiment] = {}
        for whole in self.wholes():
            for named in (whole, _deciding_experiment(whole)):
                name = self.file_name(named.key(), by_path=True)
                earlier.setdefault(self.out_dir / f"{name}.jsonl", named)
        runs = enumerate(self.experiment.runs)
        names = {i: set(_space(spec, self.tune_of(i)).names) for i, spec in runs}
        for tasks in sorted(self.out_dir.glob("tasks-*.jsonl")):
            if tasks == self.sweep_file:
                continue
            whole = earlier.get(tasks)
            points = tasks.with_name(tasks.name.removesuffix(".jsonl") + ".points.json")
            try:
                listed = _read_issued(points, None if whole is None else len(whole.runs))
            except (TypeError, ValueError):  # damaged: its records cannot be told apart
                continue
            if whole is not None:
                candidates = [(run, p) for run, found in listed.items() for p in found]
                problem = whole.key()["problem"]
                yield tasks, candidates, functools.partial(self.whole_id, whole, problem)
                continue
            unique: list[dict[str, Any]] = []
            for found in listed.values():
                unique += [p for p in found if p not in unique]
            candidates = [(run, p) for p in unique for run, own in names.items() if set(p) == own]
            yield tasks, candidates, lambda run, p, fold: self.task(run, p, fold).id

    def wholes(self) -> list[Experiment]:
        """The whole experiments an earlier gdlab may have named this tuning's task file and
        tasks by: this command's, and the one the directory's ``tune.json`` records where
        it decides the same results (a tuning resumed with another seed count, or its
        data's files by another path: a task id holds the data's digest)."""
        wholes = [self.experiment]
        with contextlib.suppress(OSError, TypeError, ValueError):  # none, or hand-edited
            recorded = Experiment.from_dict(dict(load_tuned(self.out_dir)["experiment"]))
            if _deciding(_relocated(recorded, self.experiment)) == _deciding(self.experiment):
                wholes.append(recorded)
        return wholes

    def whole_id(
        self,
        whole: Experiment,
        problem: Mapping[str, Any],
        run: int,
        point: Mapping[str, Any],
        fold: int,
    ) -> str:
        """The id an earlier gdlab gave the task of ``run``'s candidate ``point`` on
        ``fold``, keyed by the experiment ``whole`` and its ``problem`` table, where its
        data's files were included."""
        return _task_id(whole.runs[run].label, self._key(whole, run, point, fold, problem))

    def task(self, run: int, point: Mapping[str, Any], fold: int) -> Any:
        """The sweep task of ``run``'s candidate ``point`` on ``fold`` (made once: a resume
        asks for the ids of every candidate, some many times)."""
        memo = (run, fold, tuple((k, type(v).__name__, v) for k, v in sorted(point.items())))
        if memo not in self._tasks:
            self._tasks[memo] = self._make_task(run, point, fold)
        return self._tasks[memo]

    def _make_task(self, run: int, point: Mapping[str, Any], fold: int) -> Any:
        from gdlab.sweep import Task

        spec = self.experiment.runs[run]
        kwargs = {
            "config": self.config,
            "run": run,
            "hyperparameters": dict(point),
            "fold": fold,
            "folds": self.n_folds,
            "split_seed": self.s["split_seed"],
            "seed": self.s["base_seed"] + fold,
        }
        if self.s.get("data") is not None:
            kwargs["data"] = self.s["data"]
        return Task(_task_id(spec.label, self._key(self.deciding, run, point, fold)), kwargs)

    def _key(
        self,
        experiment: Experiment,
        run: int,
        point: Mapping[str, Any],
        fold: int,
        problem: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """What names the task of ``run``'s candidate ``point`` on ``fold`` in ``experiment``
        (this tuning's deciding one; an earlier gdlab's named it by the whole experiment,
        and by its ``problem`` table with where the data's files were)."""
        spec = experiment.runs[run]
        key = {
            "problem": self.problem if problem is None else problem,
            "training": experiment.run_training(spec).to_table(),
            "run": _candidate_spec(spec, point).to_table(),
            "fold": fold,
            "folds": self.n_folds,
            "split_seed": self.s["split_seed"],
            "seed": self.s["base_seed"] + fold,
        }
        if self.splits is not None:
            key["split"] = self.splits[fold]
        if self.s.get("data") is not None:
            key["data"] = self.s["data"]
        return key

    def sweep(self) -> None:
        """Run the tasks of every candidate not yet recorded (and, the first time in a
        call, those recorded as failed: a failure has no result to reuse)."""
        from gdlab.sweep import run_sweep

        grown = False
        for run, points in self.points.items():
            issued = self.issued.setdefault(run, [])
            for point in map(_as_json, points):  # as the file holds it
                if point not in issued:
                    issued.append(point)
                    grown = True
        # before any of their tasks is recorded, so a crash leaves both consistent
        if grown or self.rebuilt:
            _io.write_json(self.issued_file, _issued_document(self.issued))
            self.rebuilt = False
        tasks = {
            task.id: task
            for run, points in self.points.items()
            for point in points
            for task in (self.task(run, point, f) for f in range(self.n_folds))
        }
        for run, points in sorted(self.issued.items()):  # an earlier call's, if recorded
            for point in points:
                for fold in range(self.n_folds):
                    task = self.task(run, point, fold)
                    if task.id in self.recorded:
                        tasks.setdefault(task.id, task)
        modules = self.s["modules"]
        done = run_sweep(
            functools.partial(tune_task, modules=modules) if modules else tune_task,
            list(tasks.values()),
            self.sweep_file,
            base_seed=self.s["base_seed"],
            workers=self.s["workers"],
            scheduler=self.s["scheduler"],
            dask_local=self.s["dask_local"],
            progress=self.s["progress"],
            # later sweeps of this call (widening, TPE rounds) reuse what failed in it
            retry_failed=not self.retried,
        )
        self.retried = True
        self.records = {r["id"]: r for r in done}

    def tune_of(self, run: int) -> tuple[str, ...]:
        """The names run ``run`` tunes: those of ``--tune`` its optimizer has."""
        return _own_tune(self.experiment.runs[run], self.s["tune"])

    def ids(self, run: int, point: Mapping[str, Any]) -> list[str]:
        return [self.task(run, point, f).id for f in range(self.n_folds)]

    def read_issued(self) -> tuple[dict[int, list[dict[str, Any]]], bool]:
        """The candidates handed to the sweep file so far; and whether they were rebuilt.

        They are read from ``.points.json``. Where that is missing, damaged or short
        of a task the file records (a tuning from before it was kept), they are
        rebuilt from the records, which name their tasks by id only
        (:meth:`rebuild`), to be written back before the next sweep.
        """
        try:
            issued = _read_issued(self.issued_file, len(self.experiment.runs))
            known = {i for run, points in issued.items() for p in points for i in self.ids(run, p)}
        except (TypeError, ValueError):  # damaged (a ConfigError is a ValueError)
            issued, known = {}, set()
        if self.recorded <= known:
            return issued, False
        for run, points in self.rebuild().items():
            listed = issued.setdefault(run, [])
            listed += [p for p in points if p not in listed]
            known.update(i for p in points for i in self.ids(run, p))
        foreign = [i for i in self.found if i not in known]
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise ConfigError(
                f"every record in {self.sweep_file} must be of one of this tuning's tasks (is "
                f"it another sweep's file?); got task {foreign[0]!r}{more}, which none of its "
                "candidates makes: give this tuning a new --out, or move "
                f"{self.sweep_file.name} out of {self.out_dir}"
            )
        return issued, True

    def rebuild(self) -> dict[int, list[dict[str, Any]]]:
        """The candidates earlier calls handed to the sweep file, found again from its
        records' ids: the first candidates (TPE's rounds replayed on the recorded
        scores), then those of every chain of widening rounds that the file records."""
        replay = _Replay(self)
        if self.s["method"] == "tpe":
            with contextlib.suppress(_Unrecorded):
                replay.tpe()
        return {run: self.widenings(run, points) for run, points in replay.points.items()}

    def widenings(self, run: int, first: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``first``, then every candidate a chain of widening rounds from it may have added
        whose task the file records. Any candidate may have been a round's best: an
        earlier call's scores could differ from the file's (a failure that passed since)."""
        names = _log_names(self.experiment.runs[run], self.tune_of(run))
        recorded: dict[tuple, bool] = {}

        def is_recorded(point: dict[str, Any]) -> bool:
            key = _point_key(point)
            if key not in recorded:
                recorded[key] = any(i in self.recorded for i in self.ids(run, point))
            return recorded[key]

        found = [_as_json(p) for p in first]
        chains, seen = [(list(found), 0)], set()
        while chains:
            points, rounds = chains.pop()
            state = frozenset(map(_point_key, points))
            if rounds >= MAX_WIDEN or state in seen:
                continue
            seen.add(state)
            lines: dict[tuple, list[dict[str, Any]]] = {}
            for point in points:
                for name in names:
                    lines.setdefault(_line_key(point, name), []).append(point)
            extents = {name: sorted({p[name] for p in points}) for name in names}
            for best in points:  # its lines and the extents are all _widen reads
                near = [p for name in names for p in lines[_line_key(best, name)]]
                new = _widen(near, best, names, self.ratios[run], extents)[0]
                new = [_as_json(p) for p in new]
                if any(map(is_recorded, new)):
                    found += [p for p in new if is_recorded(p) and p not in found]
                    chains.append((points + new, rounds + 1))
        return found

    def failed(self) -> list[str]:
        """The ids of the failed tasks of the candidates scored (not of those an earlier
        call tried that this one no longer reaches)."""
        return [
            task.id
            for run, points in self.points.items()
            for point in points
            for task in (self.task(run, point, f) for f in range(self.n_folds))
            if self.records[task.id]["status"] == "failed"
        ]

    def scored(self, run: int) -> list[dict[str, Any]]:
        rows = []
        for i, point in enumerate(self.points[run]):
            folds = [self.records[self.task(run, point, f).id] for f in range(self.n_folds)]
            rows.append({"hyperparameters": point, "default": i == 0, **_summary(folds)})
        return rows

    def best(self, run: int) -> dict[str, Any] | None:
        rows = [r for r in self.scored(run) if r["mean_loss"] is not None]
        return min(rows, key=lambda r: _rank(r, self.s["metric"])) if rows else None

    def smallest_diverged(self, run: int) -> dict[str, Any] | None:
        """The candidate of smallest lr when every candidate diverged (none failed), else
        ``None``: the rates tried are all too large."""
        rows = self.scored(run)
        if not rows or any(r["diverged"] == 0 or r["failed"] for r in rows):
            return None
        with_lr = [r["hyperparameters"] for r in rows if r["hyperparameters"].get("lr")]
        return min(with_lr, key=lambda p: p["lr"]) if with_lr else None

    def run(self) -> dict[str, dict[str, Any]]:
        self.points = self.first_points()
        if self.s["method"] == "tpe":
            self.tpe()
        return self.widen()

    def first_points(self) -> dict[int, list[dict[str, Any]]]:
        """Every run's first candidates: its default, then the grid or the random draws
        (TPE: its default alone; the rounds add the rest)."""
        rng = np.random.default_rng(self.s["base_seed"])
        points = {}
        for i, spec in enumerate(self.experiment.runs):
            if self.s["method"] == "tpe":
                points[i] = [_default_point(spec, _space(spec, self.tune_of(i)).names)]
            else:
                points[i] = candidates(
                    spec, self.tune_of(i), self.s["budget"], self.s["method"], rng
                )
        return points

    def tpe(self) -> None:
        """``budget`` rounds of Optuna's TPE per run, each round's trials run as one sweep."""
        from gdlab.selection import import_optuna, suggest

        optuna = import_optuna()
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            studies = {
                i: optuna.create_study(
                    direction="minimize",
                    sampler=optuna.samplers.TPESampler(seed=_tpe_seed(self.s["base_seed"], i)),
                )
                for i in self.points
            }
            for _ in range(self.s["budget"]):
                trials = {}
                for i, spec in enumerate(self.experiment.runs):
                    trial = studies[i].ask()
                    space = _space(spec, self.tune_of(i))
                    point = {n: suggest(trial, n, d) for n, d in space.params.items()}
                    trials[i] = (trial, point)
                    if point not in self.points[i]:
                        self.points[i].append(point)
                self.sweep()
                for i, (trial, point) in trials.items():
                    row = next(r for r in self.scored(i) if r["hyperparameters"] == point)
                    if row["mean_loss"] is None:
                        studies[i].tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        studies[i].tell(trial, _rank(row, self.s["metric"])[1])
        finally:
            optuna.logging.set_verbosity(verbosity)

    def widen(self) -> dict[str, dict[str, Any]]:
        """Widen every run's log-scaled ranges until its best is inside; the summaries."""
        rounds = dict.fromkeys(self.points, 0)
        for _ in range(MAX_WIDEN + 1):
            self.sweep()
            grew = False
            for i, spec in enumerate(self.experiment.runs):
                names = _log_names(spec, self.tune_of(i))
                best = self.best(i)
                if best is not None:
                    start = best["hyperparameters"]
                else:  # every rate diverged: too large, so widen below the smallest tried
                    start, names = self.smallest_diverged(i), [n for n in names if n == "lr"]
                if start is None or rounds[i] >= MAX_WIDEN:
                    continue
                new = _widen(self.points[i], start, names, self.ratios[i])[0]
                if new:
                    self.points[i] += new
                    rounds[i] += 1
                    grew = True
            if not grew:
                break
        return {
            spec.label: self.configuration(i, spec, rounds[i])
            for i, spec in enumerate(self.experiment.runs)
        }

    def configuration(self, run: int, spec: RunSpec, rounds: int) -> dict[str, Any]:
        """Run ``run``'s summary in tune.json: its points, default and best; the names whose
        best is still on an edge, at a hard bound (``at_bound``) or where widening stopped
        after :data:`MAX_WIDEN` rounds (``at_edge``: tuning may try beyond); how many of
        its points score within 10% of the best on the score that chose it."""
        rows = self.scored(run)
        best = self.best(run)
        curve = self.curve(rows, best)
        by = "accuracy" if self.s["metric"] == "accuracy" else "loss"
        at_bound, at_edge = [], []
        if best is not None:  # still on an edge: at a hard bound, or out of rounds (a
            points = [r["hyperparameters"] for r in rows]  # best beyond a bound is not)
            chosen = best["hyperparameters"]
            for name in _log_names(spec, self.tune_of(run)):
                for side in _edges(points, chosen, name)[0]:
                    bound = _bound(name, side)
                    if (side < 0 and chosen[name] <= 0) or same_value(chosen[name], bound):
                        at_bound.append(name)
                    elif not _beyond(chosen[name], bound, side):
                        at_edge.append(name)  # widening stopped after its MAX_WIDEN rounds
        tunable = _tunable(spec)
        return {
            "optimizer": spec.optimizer,
            "tuned": list(self.tune_of(run)),
            "arguments": {name: tunable[name] for name in self.tune_of(run)},
            "points": rows,
            "default": rows[0],
            # a grid's first round held the default (a random draw or TPE's never does)
            "default_in_grid": self.s["method"] == "grid"
            and default_in_grid(spec, self.tune_of(run), self.s["budget"]),
            "best": None if best is None else _best_block(best),
            "widened": rounds,
            "at_bound": sorted(set(at_bound)),
            "at_edge": sorted(set(at_edge) - set(at_bound)),
            "within_10_percent": _within(rows, best, by),
            "within_10_percent_by": by,
            **curve,
        }

    @staticmethod
    def curve(rows: Sequence[Mapping[str, Any]], best: Mapping[str, Any] | None) -> dict[str, Any]:
        """The lr curve for the sensitivity figure: the other values at the best's."""
        anchor = best or (rows[0] if rows else None)
        chosen = [
            r for r in rows
            if anchor is not None and _same_others(r["hyperparameters"], anchor["hyperparameters"],
                                                   "lr")
        ]  # fmt: skip
        chosen = sorted(
            (r for r in chosen if r["hyperparameters"].get("lr") is not None),
            key=lambda r: r["hyperparameters"]["lr"],
        )
        return {
            "grid": [r["hyperparameters"]["lr"] for r in chosen],
            "mean": [r["mean_loss"] for r in chosen],
            "std": [r["std_loss"] for r in chosen],
            "accuracy": [r["mean_accuracy"] for r in chosen],
            "diverged": [r["diverged"] for r in chosen],
            "failed": [r["failed"] for r in chosen],
        }


def _deciding_experiment(experiment: Experiment) -> Experiment:
    """``experiment`` as what decides a tuning's results (its task file's name, its tasks'
    ids and experiment): without the race's seed count, which no task reads (fold k
    trains with ``base_seed + k``), nor the training settings no task uses
    (:data:`UNTUNED_TRAINING`, in the experiment's training and each run's own): those
    are written at their defaults (one seed, every step evaluated, the batch's loss), so
    that an earlier gdlab's task file of a built-in experiment that has them keeps its
    name, and a tuning that differs only in them is the same tuning."""
    from gdlab.experiments.model import Training

    defaults = {
        f.name: f.default for f in dataclasses.fields(Training) if f.name in UNTUNED_TRAINING
    }
    runs = tuple(
        dataclasses.replace(
            r, training={k: v for k, v in r.training.items() if k not in UNTUNED_TRAINING}
        )
        for r in experiment.runs
    )
    return experiment.replace(
        seeds=1, training=dataclasses.replace(experiment.training, **defaults), runs=runs
    )


def _deciding(experiment: Experiment) -> Any:
    """What decides a tuning's results (:func:`_deciding_experiment`), as JSON holds it."""
    return _as_json(_deciding_experiment(experiment).key())


def _located(problem: Any) -> tuple[str, ...]:
    """The keys of a ``problem`` table that say only where its data's files are
    (:attr:`gdlab.data.registry.DataSource.located_by`: MNIST's ``directory``)."""
    from gdlab.data.registry import DATA_SOURCES

    data = problem.get("data") if isinstance(problem, Mapping) else None
    source = DATA_SOURCES.get(data) if isinstance(data, str) else None
    return source.located_by if source is not None else ()


def _unlocated(problem: Mapping[str, Any]) -> dict[str, Any]:
    """A ``problem`` table without where its data's files are (:func:`_located`): what
    names a tuning's tasks, whose key holds a digest of the data itself (docs/tuning.md:
    the same files by another path, a link, a folder moved or copied, are the same data)."""
    located = _located(problem)
    return {k: v for k, v in problem.items() if k not in located}


def _relocated(then: Experiment, now: Experiment) -> Experiment:
    """A tuning's experiment ``then`` with its data's files where ``now``'s are
    (:func:`_located`), to tell what else differs: for data whose digest is the same
    (the caller compares it), another path to its files is no other problem."""
    located = _located(now.problem.to_table())
    if not located or then.problem.options.get("data") != now.problem.options.get("data"):
        return then
    moved = {k: now.problem.options.get(k) for k in located}
    try:
        return then.replace(problem=then.problem.with_options(**moved))
    except (TypeError, ValueError):  # the recorded problem refuses them: told as it is
        return then


def _within(
    rows: Sequence[Mapping[str, Any]], best: Mapping[str, Any] | None, by: str
) -> float | None:
    """The share of ``rows`` whose mean validation ``by`` (``"loss"`` or ``"accuracy"``, the
    score that chose) lies within 10% of ``best``'s, on either side: a point 32% below
    the chosen loss is not near it. The loss may be negative (a saddle's). ``None``
    where nothing was chosen (every candidate diverged): there is no score to be near."""
    if best is None or not rows:
        return None
    key = f"mean_{by}"
    chosen = best[key] if best.get(key) is not None else best["mean_loss"]
    key = key if best.get(key) is not None else "mean_loss"
    near = [r for r in rows if r[key] is not None and abs(r[key] - chosen) <= 0.1 * abs(chosen)]
    return len(near) / len(rows)


class _Replay(_Tuner):
    """A tuner that runs nothing: its sweeps read the file's records (TPE's rounds replayed)."""

    def __init__(self, tuner: _Tuner) -> None:
        self.__dict__.update(tuner.__dict__)
        self.points = tuner.first_points()
        self.records = {}

    def sweep(self) -> None:
        ids = [i for run, points in self.points.items() for p in points for i in self.ids(run, p)]
        if not all(i in self.found and _scorable(self.found[i]) for i in ids):
            raise _Unrecorded
        self.records = {i: self.found[i] for i in ids}


def _tpe_seed(base_seed: int, run: int) -> int:
    """Run ``run``'s TPE seed: ``base_seed + run``, wrapped into the 32 bits Optuna takes."""
    return (base_seed + run) % 2**32


def _best_block(best: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "hyperparameters": dict(best["hyperparameters"]),
        "lr": best["hyperparameters"].get("lr"),
        "mean": best["mean_loss"],
        "std": best["std_loss"],
        "accuracy": best["mean_accuracy"],
        "default": best["default"],
    }


def tune(
    experiment: Experiment,
    out_dir: str | os.PathLike,
    *,
    budget: int = 8,
    folds: int = 3,
    tune: Sequence[str] = ("lr",),
    method: str = "grid",
    metric: str | None = None,
    base_seed: int = 0,
    split_seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    dask_local: int | None = None,
    progress: bool = True,
    command: str = "",
    force: bool = False,
) -> dict[str, Any]:
    """Tune every run of ``experiment``; write ``out_dir/tune.json`` and return its dict.

    ``out_dir`` may hold only a tuning's own files. Where its ``tune.json`` records
    the same tuning (the experiment's results-deciding settings, its data, the
    settings below but where the tasks run), the tuning resumes; where it records
    another, the call is refused before any task runs, naming what differs,
    unless ``force`` (then that ``tune.json`` is replaced; task files are never
    overwritten: they are named by what decides their results).

    Args:
        experiment: what to tune (its runs, problem and training).
        out_dir: the tuning's directory: its task files (resumable) and ``tune.json``.
        budget: grid points (or random draws, or TPE rounds) per run, besides its
            default and the points widening adds; with several tuned names a grid
            still has at most ``budget`` points (:func:`_grid_counts`: 4 rates × 2
            momenta at 8).
        folds: K of K-fold cross-validation; 1 is a 20% hold-out. A 2-D function
            has no data: it is scored by one run, and its ``settings.folds`` is 1.
        tune: the hyperparameters to tune: each run tunes those of them its optimizer
            has (its ``tunable``); a name no run has, or a run with none, is refused.
        method: ``"grid"``, ``"random"`` or ``"tpe"`` (``budget`` rounds of Optuna's TPE).
        metric: ``"accuracy"`` (the default for classifiers; loss breaks ties)
            or ``"loss"`` (the default otherwise).
        base_seed: the training seed of fold 0 (fold k trains with ``base_seed + k``).
        split_seed: the seed of the folds.
        workers, scheduler, dask_local: where the tasks run (:func:`gdlab.sweep.run_sweep`).
        force: replace a ``tune.json`` in ``out_dir`` that records another tuning.
    """
    from gdlab.sweep import check_where, registering_modules

    if not isinstance(experiment, Experiment):
        fail("experiment", "a gdlab Experiment", experiment, kind=TypeError)
    if not isinstance(command, str):
        fail("command", "a str (the command line tune.json records)", command, kind=TypeError)
    if not isinstance(force, bool):
        fail("force", "True or False", force, kind=TypeError)
    budget = check_int("budget", budget, low=2, high=1000)
    folds = check_int("folds", folds, low=1, high=100)
    method = check_choice("method", method, _METHODS)
    base_seed = check_int("base_seed", base_seed, low=0)
    split_seed = check_int("split_seed", split_seed, low=0)
    if isinstance(tune, str) or not isinstance(tune, Sequence):
        fail("tune", 'a sequence of names such as ("lr", "beta1")', tune, kind=TypeError)
    if not tune:
        fail("tune", "at least one hyperparameter's name", tune)
    tune = tuple(tune)
    classifier = experiment.problem.has("classifier")
    if metric is None:
        metric = "accuracy" if classifier else "loss"
    check_choice("metric", metric, ("loss", "accuracy"))
    if metric == "accuracy" and not classifier:
        raise ConfigError(
            f"--metric accuracy needs a classifier; experiment {experiment.name!r} "
            f"({experiment.problem.kind}) has none"
        )
    _check_tune_names(experiment, tune)
    for spec in experiment.runs:  # every name and default checked before any task
        _check_run(spec, _own_tune(spec, tune), budget, method)
    workers, scheduler, dask_local, _ = check_where(workers, scheduler, dask_local, None)
    inline = workers == 1 and scheduler is None and dask_local is None
    # what workers import to see the experiment's own optimizers; one that only this
    # process knows is refused here, before out_dir is made
    names = [spec.optimizer for spec in experiment.runs]
    modules = [] if inline else registering_modules(names, "tune")
    data = None
    if experiment.problem.has("data"):
        _DATA.clear()  # read the files again: they may have changed since an earlier tuning
        _check_folds(experiment, folds, split_seed)
        data = _DATA_DIGESTS[digest(experiment.problem.to_table())]
    else:  # a 2-D function has no data to fold: its one run is what tune.json records
        folds = 1
        check_start(experiment.problem.build(), "experiment: problem")  # f finite at the start
    out_dir = _io.check_output_dir(out_dir)
    settings = {
        "budget": budget, "folds": folds, "tune": tune, "method": method, "metric": metric,
        "base_seed": base_seed, "split_seed": split_seed, "workers": workers,
        "scheduler": scheduler, "dask_local": dask_local, "progress": progress, "data": data,
        "modules": modules,
    }  # fmt: skip
    made = _io.missing_dirs(out_dir)
    try:
        with _io.exclusive(out_dir, what="--out", directory=True):
            # listed and cleaned up under the lock: a tuning that holds it (this one
            # refused) or takes it next makes files that are not this one's to remove
            before = set(out_dir.iterdir())
            _check_out_dir(out_dir, experiment, settings, force)
            try:
                tuner = _Tuner(experiment, out_dir, **settings)
                configurations = tuner.run()
                document = _document(experiment, tuner, configurations, command)
                _io.write_json(out_dir / "tune.json", document)
            except BaseException:
                _clean_up(out_dir, before)
                raise
    except BaseException:
        for directory in made:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only an empty one goes
        raise
    return document


#: The settings tune.json records: with the experiment, what makes it one tuning.
_RECORDED = ("budget", "folds", "tune", "method", "metric", "base_seed", "split_seed", "data")
#: How a refusal names a recorded setting that is not an option's name.
_SETTING_NAMES = {"data": "the training data's digest"}
#: The files a tuning makes in its directory: its summary, its task files and their
#: candidates, the locks, and a write's temporary file (left by a crash).
_OWN_FILE = re.compile(
    rf"{TUNING_FILES}|tasks-[0-9a-f]+\.jsonl\.lock|\.gdlab\.lock|\.({TUNING_FILES})\..*\.tmp"
)


def _check_out_dir(
    out_dir: Path, experiment: Experiment, settings: Mapping[str, Any], force: bool
) -> None:
    """Refuse a directory that holds what is not a tuning's own, or a tune.json of another
    tuning (unless ``force``): its results are never overwritten or mixed with these."""
    if not out_dir.is_dir():
        return
    foreign = sorted(
        p.name for p in out_dir.iterdir() if not (p.is_file() and _OWN_FILE.fullmatch(p.name))
    )
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise ConfigError(
            f"--out {out_dir} must be empty or a gdlab tuning's directory; it holds "
            f"{', '.join(map(repr, foreign[:3]))}{more}, which no tuning makes: give the "
            "tuning a new --out"
        )
    path = out_dir / "tune.json"
    if not path.exists():
        return
    try:
        recorded = load_tuned(path)
    except ConfigError as error:
        raise ConfigError(
            f"--out {out_dir} holds a tune.json that is not a gdlab tuning's ({error}): "
            "give the tuning a new --out"
        ) from None
    differences = _tuning_differences(recorded, experiment, settings)
    if differences and not force:
        raise ConfigError(
            f"--out {out_dir} holds another tuning (its tune.json → this one: "
            f"{'; '.join(differences)}): give this tuning a new --out, or force it "
            "(--force) to replace that tune.json"
        )


def _tuning_differences(
    recorded: Mapping[str, Any], experiment: Experiment, settings: Mapping[str, Any]
) -> list[str]:
    """What differs between a tune.json's tuning and this one's (``old → new`` lines): the
    recorded settings, then the experiment's (its name, text, race seeds and how its runs
    evaluate decide nothing: :func:`_deciding_experiment`)."""
    then_settings = recorded.get("settings")
    then_settings = then_settings if isinstance(then_settings, Mapping) else {}
    differences = [
        f"{_SETTING_NAMES.get(key, key)}: {_setting_text(then_settings.get(key))} → "
        f"{_setting_text(settings[key])}"
        + (
            " (recorded by an earlier gdlab: not comparable)"
            if key == "data"
            and then_settings.get(key)
            and not _comparable_digest(then_settings[key])
            else ""
        )
        for key in _RECORDED
        if _as_json(then_settings.get(key)) != _as_json(settings[key])
    ]
    try:
        then = Experiment.from_dict(dict(recorded["experiment"]))
    except (TypeError, ValueError) as error:  # a hand-edited experiment
        return [*differences, f"experiment: cannot be read ({error})"]
    if _comparable_digest(settings["data"]) and then_settings.get("data") == settings["data"]:
        then = _relocated(then, experiment)  # the same data by another path: the same tuning
    then, now = _deciding_experiment(then), _deciding_experiment(experiment)
    if _as_json(then.key()) != _as_json(now.key()):
        differences += [f"experiment {line}" for line in now.changes_from(then)] or [
            "experiment: another"
        ]
    return differences


def _setting_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _check_folds(experiment: Experiment, folds: int, split_seed: int) -> None:
    """Make the folds before any task: data too small for them fails here, named, not
    in every task (each then recorded as failed)."""
    from gdlab.data.datasets import ClassSizeError

    pool = _pool(experiment)
    what = "a 20% hold-out" if folds == 1 else f"{folds} folds"
    try:
        made = _folds(pool, folds, split_seed)
    except ClassSizeError as error:  # its message names Python's k and stratify=False
        stratified = "a stratified 20% hold-out" if folds == 1 else f"{folds} stratified folds"
        said = f"class {error.label} {pool.target_names[error.label]!r} has {error.count} sample"
        said += "s" if error.count != 1 else ""
        if error.count >= 2:  # only folds need more than 2 of a class
            said += f"; use --folds {error.count} or fewer"
        else:
            said += "; every class needs at least 2 (one to train on, one to validate)"
        raise ConfigError(
            f"--folds {folds}: the {pool.n_samples} training samples of {experiment.name!r} "
            f"cannot make {stratified}: {said}"
        ) from None
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"--folds {folds}: the {pool.n_samples} training samples of {experiment.name!r} "
            f"cannot make {what}: {error}"
        ) from None
    # each task trains on a fold's training part: a batch larger than it fails every task
    experiment.check_data(min(fold.train.size for fold in made), where=f"--folds {folds} ({what})")


def _clean_up(out_dir: Path, before: set[Path]) -> None:
    """After a failed tuning: remove the empty task files it made (no task finished)
    and the candidates of those; finished tasks are kept to resume (the directories
    it made go after, if they are empty)."""
    with contextlib.suppress(OSError):
        made_files = set(out_dir.iterdir()) - before
        for path in made_files:
            if path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
                path.unlink()
        for path in made_files:  # the candidates of a task file that is gone
            tasks = path.with_name(path.name.removesuffix(".points.json") + ".jsonl")
            if path.name.endswith(".points.json") and not tasks.exists():
                path.unlink()


def _document(
    experiment: Experiment, tuner: _Tuner, configurations: dict[str, Any], command: str
) -> dict[str, Any]:
    s = tuner.s
    has_data = experiment.problem.has("data")
    validation = validation_words(has_data, tuner.n_folds)
    return {
        "schema": SCHEMA_ID,
        "experiment": experiment.to_dict(),
        "command": command,
        "settings": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items() if k in _RECORDED
        },
        "folds": tuner.n_folds,
        "budget": s["budget"],
        "validation": validation,
        "metric": "validation loss" if has_data else "final loss",
        "selected_by": (
            "mean validation accuracy (loss breaks ties)"
            if s["metric"] == "accuracy"
            else ("mean validation loss" if has_data else "final loss")
        ),
        "configurations": configurations,
        "failed": tuner.failed(),
    }


# --------------------------------------------------------------------------- using the results


def load_tuned(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``tune.json`` (a file, or the directory holding it); errors name the file."""
    import json

    path = Path(path)
    if path.is_dir():
        path = path / "tune.json"
    if not path.is_file():
        raise ConfigError(f"no tuning results at {path}: run `gdlab tune` first")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is not a gdlab tune.json: {error}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_ID:
        schema = document.get("schema") if isinstance(document, dict) else None
        raise ConfigError(f"{path} is not a gdlab tune.json (schema {schema!r}, not {SCHEMA_ID})")
    missing = [k for k in _TUNED_KEYS if k not in document]
    if missing:
        raise ConfigError(f"{path} is not a complete gdlab tune.json: {missing[0]!r} is missing")
    for key, kind in (("experiment", dict), ("configurations", dict)):
        if not isinstance(document[key], kind):
            raise ConfigError(
                f"{path}: {key} must be an object; got {type(document[key]).__name__}"
            )
    for label, c in document["configurations"].items():
        if not isinstance(c, dict) or "best" not in c:
            raise ConfigError(f"{path}: configuration {label!r} has no 'best'")
        best = c["best"]
        if best is not None and not (
            isinstance(best, dict) and isinstance(best.get("hyperparameters"), dict)
        ):
            raise ConfigError(
                f"{path}: configuration {label!r}: best must be null or an object with "
                f"'hyperparameters' (an object); got {best!r}"
            )
    return document


#: What ``gdlab race --tuned`` reads of a tune.json.
_TUNED_KEYS = ("experiment", "configurations", "folds", "metric", "budget")


def apply_tuned(
    experiment: Experiment, tuned: Mapping[str, Any], source: str | os.PathLike = "tune.json"
) -> tuple[Experiment, list[str]]:
    """``experiment`` with every run at its tuned best; and a note of where each value came from.

    A learning rate keeps the run's schedule (its lr0 is set). A run whose label
    states the rate it had is relabelled (:func:`_tuned_labels`).
    """
    name = tuned["experiment"].get("name") if isinstance(tuned["experiment"], Mapping) else None
    if name != experiment.name:
        raise ConfigError(
            f"the tuning results in {source} are for {name!r}, not {experiment.name!r}"
        )
    problem, ours = tuned["experiment"].get("problem"), _as_json(experiment.to_dict()["problem"])
    settings = tuned.get("settings")
    data = settings.get("data") if isinstance(settings, Mapping) else None
    if (
        problem is not None and problem != ours and not _moved_only(problem, ours, data, experiment)
    ):  # tuned on other data or another function
        raise ConfigError(
            f"the tuning results in {source} are for another problem of {name!r} (tuning → "
            f"race: {'; '.join(_problem_differences(problem, experiment, tuned))}): run "
            "`gdlab tune` again"
        )
    configurations = tuned["configurations"]
    _check_chosen(experiment, tuned, source)
    for run in experiment.runs:  # a run renamed onto another's label: not its tuning
        tuned_optimizer = configurations[run.label].get("optimizer", run.optimizer)
        if tuned_optimizer != run.optimizer:
            raise ConfigError(
                f"the tuning results in {source} for run {run.label!r} are of optimizer "
                f"{tuned_optimizer!r}, not {run.optimizer!r}: run `gdlab tune` again"
            )
    _check_tuned_as_raced(experiment, tuned["experiment"], source, data)
    labels = _tuned_labels(tuned)
    runs, chosen = [], []
    try:
        for run in experiment.runs:
            best = configurations[run.label]["best"]
            # the run's own setting won: leave the run as it is (no lr written where a preset
            # gave it)
            spec = run if best.get("default") else _candidate_spec(run, best["hyperparameters"])
            label = labels.get(run.label, run.label)
            runs.append(dataclasses.replace(spec, label=label) if label != run.label else spec)
            chosen.append(_chosen_text(run, best, configurations[run.label], label))
        tuned_experiment = experiment.replace(runs=tuple(runs))
    except ConfigError as error:  # a hand-edited value: name the file it came from
        raise ConfigError(f"{source}: {error}") from None
    note = (
        f"Tuned settings from {source} ({tuned.get('validation', tuned['folds'])}, chosen by "
        f"{tuned.get('selected_by', tuned['metric'])}): " + "; ".join(chosen) + "."
    )
    return tuned_experiment, [note]


def _check_chosen(
    experiment: Experiment, tuned: Mapping[str, Any], source: str | os.PathLike
) -> None:
    """Refuse a tuning that has not chosen for every run ``experiment`` races: one whose
    tasks failed (unfinished: its choice was not compared with every candidate), or one
    with no tuned setting for a run (:func:`_why_untuned`)."""
    configurations = tuned["configurations"]
    unfinished = [
        told
        for told in (_why_unfinished(r.label, configurations.get(r.label)) for r in experiment.runs)
        if told
    ]
    if unfinished:  # its choice was not compared with every candidate: not a choice yet
        raise ConfigError(
            f"{source} is an unfinished tuning: {'; '.join(unfinished)} (their tasks failed: "
            "tune.json's 'failed' list names them), so the choice was not compared with them; "
            "run the same `gdlab tune` command again to resume it (the failed tasks run "
            "again), then race"
        )
    missing = [r.label for r in experiment.runs if (configurations.get(r.label) or {}).get("best")
               is None]  # fmt: skip
    if missing:
        raise ConfigError(
            f"{source} has no tuned setting for "
            + "; ".join(
                _why_untuned(label, configurations.get(label), tuned.get("folds"))
                for label in missing
            )
        )


def _moved_only(problem: Any, ours: Mapping[str, Any], data: Any, experiment: Experiment) -> bool:
    """Whether a tuning's recorded ``problem`` table differs from the race's, ``ours``, only
    in where the data's files are (:func:`_located`), and the data is the same: the digest
    the tuning recorded (``data``) is that of the race's training data now."""
    if not isinstance(problem, Mapping) or _unlocated(problem) != _unlocated(ours):
        return False
    if not _comparable_digest(data) or not experiment.problem.has("data"):
        return False
    try:
        return _training_digest(experiment) == data
    except (OSError, ValueError):  # data that cannot be read: said as another problem
        return False


def _problem_differences(
    problem: Any, experiment: Experiment, tuned: Mapping[str, Any]
) -> list[str]:
    """What differs between a tuning's recorded ``problem`` table and ``experiment``'s, as
    ``problem.noise: 0.2 → 0.3`` lines (a table that cannot be read: its keys that
    differ, each with both values), with the training data's digest where both can be
    read (new data under the same directory, or data the change made another)."""
    try:
        then = experiment.replace(problem=type(experiment.problem).from_table(problem))
        lines = experiment.changes_from(then)
    except (TypeError, ValueError, AttributeError):  # a hand-edited table
        ours = _as_json(experiment.to_dict()["problem"])
        theirs = problem if isinstance(problem, Mapping) else {}
        lines = [
            f"problem.{k}: {describe(theirs.get(k))} → {describe(ours.get(k))}"
            for k in sorted({*theirs, *ours}, key=str)
            if theirs.get(k) != ours.get(k)
        ]
    lines = lines or [f"problem: {cut(describe(problem), 100)} → another"]
    settings = tuned.get("settings")
    data = settings.get("data") if isinstance(settings, Mapping) else None
    if _comparable_digest(data) and experiment.problem.has("data"):
        with contextlib.suppress(ValueError, OSError):  # data that cannot be read: said later
            now = _training_digest(experiment)
            if now != data:
                lines.append(f"{_SETTING_NAMES['data']}: {data} → {now}")
    return lines


#: How :func:`apply_tuned`'s words name the tuning's directory: ``Tuned settings from DIR (``.
_TUNED_FROM = re.compile(r"Tuned settings from (.+?) \(")


def tuned_digest(tuned: Mapping[str, Any]) -> str:
    """Which tuning a ``tune.json`` (read, ``tuned``) records: 16 hex digits of its
    ``settings``, what decides its experiment's results (:func:`_deciding_experiment`: a
    resume with a new title or seed count is the same tuning, and so is one of the same
    data by another path: :func:`_unlocated`) and each configuration's ``best``. A
    directory tuned again since (``--force``; another budget, folds, method, metric or
    ``--tune``) has another, even where it chooses the same values."""
    return _tuned_digest(tuned, by_path=False)


def _tuned_digest(tuned: Mapping[str, Any], *, by_path: bool) -> str:
    """:func:`tuned_digest`, or (``by_path``) as an earlier gdlab took it, with where the
    data's files are."""
    recorded, settings = tuned.get("experiment"), tuned.get("settings")
    with contextlib.suppress(TypeError, ValueError):  # a hand-edited one: as it is written
        recorded = _deciding(Experiment.from_dict(dict(recorded)))
        if not by_path and isinstance(settings, Mapping) and settings.get("data") is not None:
            recorded = {**recorded, "problem": _unlocated(recorded["problem"])}
    configurations = tuned.get("configurations")
    best = {
        str(label): c.get("best") if isinstance(c, Mapping) else c
        for label, c in (configurations.items() if isinstance(configurations, Mapping) else ())
    }
    return digest({"settings": tuned.get("settings"), "experiment": recorded, "best": best})


def tuned_alike(experiment: Experiment, other: Experiment) -> bool:
    """Whether a tuning's choice for ``other`` is its choice for ``experiment``: the same
    problem, training and runs, but for what decides no tuning's result (the name and
    words, the race's seed count, :data:`UNTUNED_TRAINING`)."""
    return _deciding(experiment) == _deciding(other)


def names_a_tuning(experiment: Experiment) -> bool:
    """Whether ``experiment`` says which tuning set it: a ``tuned_from`` directory, or
    (a report made before that field) the directory its ``tuned`` words name. Words
    alone (``tuned = "by hand"`` in a file) name none: there is nothing to rebuild."""
    return bool(experiment.tuned_from) or _TUNED_FROM.match(experiment.tuned or "") is not None


def rebuilt_series(experiment: Experiment) -> tuple[dict[str, Any] | None, str | None]:
    """The ``series`` block of a tuned race run again from its report's ``results.json``
    (its ``tuned`` words stand): ``(series, None)`` from the tuning in its ``tuned_from``
    (or, in a report made before that field, the directory its words name),
    where it is still that very tuning (its ``tuned_digest``, :func:`tuned_digest`; a
    report made before that field: any tuning there) and gives exactly the runs
    ``experiment`` races (the same problem, training, data and tuned values; seeds and
    what no tuning task uses, :data:`UNTUNED_TRAINING`, may differ), else ``(None, why)``:
    what it chooses otherwise where it does (a resumed tuning whose choice changed), else
    that the directory was tuned again since, else why it could not be read."""
    if not names_a_tuning(experiment):
        return None, "it does not name the tuning's directory"
    # a report made before tuned_from: the directory its words name
    source = experiment.tuned_from or _TUNED_FROM.match(experiment.tuned).group(1)
    try:
        tuned = load_tuned(source)
        digests = {tuned_digest(tuned), _tuned_digest(tuned, by_path=True)}  # an earlier gdlab's
    except (OSError, TypeError, ValueError) as error:  # a ConfigError is a ValueError
        return None, str(error)
    again, why = _raced_again(experiment, tuned, source)
    if again is not None and not tuned_alike(again, experiment):  # it chooses otherwise now
        differences = "; ".join(experiment.changes_from(again)) or "another experiment"
        return None, (
            f"this race is not what the tuning in {source} chose (tuning → race: {differences})"
        )
    if experiment.tuned_digest and experiment.tuned_digest not in digests:
        return None, (  # the same choice, or none to compare, by another tuning
            f"the directory {source} was tuned again since this race: its tune.json "
            "records another tuning"
        )
    if why is not None:
        return None, why
    return series(tuned, [run.label for run in experiment.runs]), None


def _raced_again(
    experiment: Experiment, tuned: Mapping[str, Any], source: str
) -> tuple[Experiment | None, str | None]:
    """The runs of ``experiment`` as the tuning ``tuned`` (read from ``source``) sets them
    now (:func:`apply_tuned` of its recorded experiment), or ``None`` and why not."""
    try:
        then = Experiment.from_dict(dict(tuned["experiment"]))
        back = {label: old for old, label in _tuned_labels(tuned).items()}
        runs = {r.label: r for r in then.runs}
        kept = [runs.get(back.get(r.label, r.label)) for r in experiment.runs]
        if None in kept:
            missing = experiment.runs[kept.index(None)].label
            return None, f"the tuning in {source} has no run {missing!r}"
        then = _relocated(then, experiment)  # apply_tuned checks the data is the same
        untuned = then.replace(name=experiment.name, seeds=experiment.seeds, runs=tuple(kept))
        return apply_tuned(untuned, tuned, source=source)[0], None
    except (OSError, TypeError, ValueError) as error:  # a ConfigError is a ValueError
        return None, str(error)


def _why_unfinished(label: str, configuration: Any) -> str | None:
    """``label`` and how many of its candidates have a failed task (``SGD has 2 of its 5
    candidates unscored``), or ``None`` where none has: a tuning whose tasks failed chose
    among the candidates that were scored, not yet among all of them."""
    points = configuration.get("points") if isinstance(configuration, Mapping) else None
    points = [p for p in points or [] if isinstance(p, Mapping)]
    failed = sum(1 for p in points if p.get("failed"))
    return f"{label} has {failed} of its {len(points)} candidates unscored" if failed else None


def _why_untuned(label: str, configuration: Any, folds: Any = None) -> str:
    """``label``, and why its tuning chose nothing and what to do (every candidate
    diverged, down to the hard bound, on every fold or on some of its ``folds``; it was
    not tuned). A run whose tasks failed is refused before (:func:`_why_unfinished`)."""
    if not isinstance(configuration, Mapping):
        return f"{label} (no run of the tuning has that label: tune it, or race without --tuned)"
    points = [p for p in configuration.get("points") or [] if isinstance(p, Mapping)]
    rates = [
        p["hyperparameters"]["lr"]
        for p in points
        if isinstance(p.get("hyperparameters"), Mapping)
        and _is_rate(p["hyperparameters"].get("lr"))
    ]
    if points and all(p.get("diverged") for p in points) and rates:
        low = min(rates)
        where = (
            f"down to the lowest rate tuning may try, {exact_value(low)}"
            if same_value(low, HARD_BOUNDS["lr"][0])
            else f"down to lr {exact_value(low)}"
        )
        every = isinstance(folds, int) and all(p.get("diverged") == folds for p in points)
        on = "" if every else " on at least one fold"
        return (
            f"{label} (every candidate diverged{on}, {where}: no rate tried trains it "
            "on every fold; check the problem (a steep function, a far start) and its "
            "training, or race it without --tuned)"
            if on
            else f"{label} (every candidate diverged, {where}: no rate tried trains it; "
            "check the problem (a steep function, a far start) and its training, or race "
            "it without --tuned)"
        )
    return f"{label} (no candidate has a score: run `gdlab tune` again)"


def _check_tuned_as_raced(
    experiment: Experiment,
    recorded: Mapping[str, Any],
    source: str | os.PathLike,
    data: str | None = None,
) -> None:
    """Refuse a tuning made with other training, other runs or other data than the
    race's: its rates were chosen for what it trained (``gdlab tune moons --steps 200``
    then ``gdlab race moons --tuned`` raced 2,000 epochs at them), and a run changed on
    the race's command line (``--lr adam=0.5 --tuned``) was reported at the tuned value
    it did not run with. ``data`` is the digest of the training data the tuning
    recorded (``settings.data``): new files under the same ``--data`` directory are
    other data, as they are to ``gdlab tune``. The race may keep a subset of the tuned
    runs and its own seeds."""
    if not all(key in recorded for key in ("problem", "training", "runs")):
        return  # a tune.json without them: its name and problem were checked
    try:
        then = Experiment.from_dict(dict(recorded))
    except (TypeError, ValueError) as error:  # a hand-edited experiment
        raise ConfigError(f"{source}: its experiment cannot be read: {error}") from None
    runs = {r.label: r for r in then.runs}
    kept = tuple(runs[r.label] for r in experiment.runs if r.label in runs)
    if not kept:
        return  # every run is refused by name (no tuned setting)
    if _comparable_digest(data):  # where its files are: the digest below tells the data
        then = _relocated(then, experiment)
    then = then.replace(name=experiment.name, seeds=experiment.seeds, runs=kept)
    raced = [r for r in experiment.runs if r.label in runs]
    differences = experiment.changes_from(_with_untuned_of(then, experiment.training, raced))
    if differences:
        raise ConfigError(
            f"the tuning results in {source} were tuned with other settings than this "
            f"race's (tuning → race: {'; '.join(differences)}): race with the tuning's "
            "settings, or run `gdlab tune` again with these"
        )
    if isinstance(data, str) and experiment.problem.has("data"):
        if not _comparable_digest(data):
            raise ConfigError(
                f"the tuning results in {source} were made by an earlier gdlab, whose "
                "record of the training data cannot be compared with this race's: run "
                "`gdlab tune` again"
            )
        now = _training_digest(experiment)
        if now != data:
            raise ConfigError(
                f"the tuning results in {source} were tuned on other data than this race's "
                f"(tuning → race: {_SETTING_NAMES['data']}: {data} → {now}): race on the "
                "data that was tuned, or run `gdlab tune` again on this data"
            )


def _with_untuned_of(then: Experiment, training: Any, raced: Sequence[RunSpec]) -> Experiment:
    """The tuning's experiment ``then`` with the race's ``training`` and runs' ``raced``
    settings that no tuning task uses (:data:`UNTUNED_TRAINING`: how a run evaluates and
    what loss it records per step change nothing a tuning computes, since no task
    evaluates and each is scored on its fold's held-out part)."""
    race = {k: getattr(training, k) for k in UNTUNED_TRAINING}
    return then.replace(
        training=dataclasses.replace(then.training, **race),
        runs=tuple(
            dataclasses.replace(
                t,
                training={k: v for k, v in t.training.items() if k not in UNTUNED_TRAINING}
                | {k: v for k, v in r.training.items() if k in UNTUNED_TRAINING},
            )
            for t, r in zip(then.runs, raced, strict=True)
        ),
    )


def _training_digest(experiment: Experiment) -> str:
    """The digest of ``experiment``'s training data as its files are now
    (:func:`_data_digest`, of the pool a tuning splits into folds)."""
    _DATA.clear()  # read the files again: they may have changed since the tuning
    _pool(experiment)
    try:
        return _DATA_DIGESTS[digest(experiment.problem.to_table())]
    finally:
        _DATA.clear()  # the race loads its data itself: the pool is not kept meanwhile


def _tuned_labels(tuned: Mapping[str, Any]) -> dict[str, str]:
    """The label each tuned run races under, by its label in the tuning, where it changes.

    The rule of every change of a run (:func:`gdlab.experiments.model.label_change`):
    a label that states the rate the run had (a number in it equal to the run's lr,
    or its schedule's lr0: ``1/√t · 0.1``) is false at another rate: the tuned
    run's label has the tuned value in that number's place (``1/√t · 1``). Where
    several numbers equal the old rate (``1/(1 + 1·epoch)`` at lr0 1), or the new
    label would be another run's, it is ``LABEL → lr VALUE``. A hand-written label
    whose run's other tuned hyperparameters changed gets one made from the tuned
    run. A run whose own setting won keeps its label. Made from the tuning's
    recorded experiment (the race's runs are those, :func:`_check_tuned_as_raced`),
    so that the race's runs and :func:`series`'s configurations agree.
    """
    try:
        recorded = Experiment.from_dict(dict(tuned["experiment"]))
    except (TypeError, ValueError):  # a hand-edited experiment: apply_tuned refuses it
        return {}
    configurations = tuned["configurations"]
    changes, told = {}, varying(recorded)
    for i, run in enumerate(recorded.runs):
        best = (configurations.get(run.label) or {}).get("best")  # load_tuned checked it
        if not best or best.get("default"):
            continue
        try:
            spec = _candidate_spec(run, best["hyperparameters"])
            change = label_change(run, spec, *[batch_of(recorded, run)] * 2, told)
        except (TypeError, ValueError):  # a hand-edited value: apply_tuned names it
            continue
        if change is not None:
            changes[i] = change
    labels = fresh_labels([r.label for r in recorded.runs], changes)
    return {recorded.runs[i].label: label for i, label in labels.items()}


def _is_rate(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _chosen_text(
    run: RunSpec, best: Mapping[str, Any], configuration: Any = None, label: str | None = None
) -> str:
    """``Adam lr 0.0251188643150958, beta1 0.8``: every digit (the race runs these
    values), a schedule's lr named as its lr0, a name ``--tune`` gave for another
    argument named as asked with the argument (``decay (alpha) 0.9``), a default said,
    a value still on an edge flagged (:func:`edges`: at a hard bound, past which tuning
    may not go, or where widening stopped after its rounds, past which the best may
    lie), and a value outside the hard bounds (an untuned default: nothing beyond it
    was tried) said.
    ``label``: the run's label in the race, where it is not the tuning's."""
    configuration = configuration if isinstance(configuration, Mapping) else {}
    shown = {a: tuned_name(n, a) for n, a in tuned_arguments(configuration).items()}
    parts, outside = [], []
    for name, value in best["hyperparameters"].items():
        text = exact_value(value)
        if name == "lr" and isinstance(run.lr, Mapping):
            text += f" (lr0 of its {run.lr.get('name', 'schedule')} schedule)"
        parts.append(f"{shown.get(name, name)} {text}")
        low, high = HARD_BOUNDS.get(name, (0.0, math.inf))
        if _is_rate(value) and (_beyond(value, low, -1) or _beyond(value, high, 1)):
            outside.append(f"{name} in [{exact_value(low)}, {exact_value(high)}]")
    name = run.label if label in (None, run.label) else f"{label} (tuned as {run.label!r})"
    text = f"{name} {', '.join(parts)}" + (" (its default)" if best.get("default") else "")
    at_bound, at_edge = edges(configuration)
    if at_bound:
        bounds = ", ".join(
            f"{n} {exact_value(best['hyperparameters'][n])}" for n in at_bound
            if n in best["hyperparameters"]
        ) or ", ".join(at_bound)  # fmt: skip
        text += f" (at the hard bound of what tuning may try: {bounds}; tuning may not go further)"
    if at_edge:
        text += (
            f" (still at the edge of the values tried after {MAX_WIDEN} widening rounds: "
            f"{', '.join(at_edge)}; the best may lie beyond: tune again with a smaller "
            "--budget, whose larger steps widen further)"
        )
    if outside:
        text += f" (outside what tuning may try, {', '.join(outside)}: nothing beyond it was tried)"
    return text


def tuned_arguments(configuration: Mapping[str, Any]) -> dict[str, str]:
    """Each name a configuration of ``tune.json`` tuned (as ``--tune`` named it) and the
    constructor argument its value is held under in ``hyperparameters``: ``{"lr": "lr",
    "decay": "alpha"}`` for RMSprop (Adadelta's decay is ``rho``). Recorded as
    ``arguments``; a tune.json from before it was has them found from the optimizer's
    ``tunable`` (an optimizer this process does not know: each name as itself)."""
    tuned = configuration.get("tuned")
    best = configuration.get("best")
    held = best.get("hyperparameters") if isinstance(best, Mapping) else None
    if isinstance(tuned, list):
        names = [str(n) for n in tuned]
    else:
        names = [str(n) for n in held] if isinstance(held, Mapping) else []
    recorded = configuration.get("arguments")
    if not isinstance(recorded, Mapping):
        from gdlab.optim import OPTIMIZERS

        optimizer = configuration.get("optimizer")
        entry = OPTIMIZERS.get(optimizer.lower()) if isinstance(optimizer, str) else None
        recorded = dict(getattr(entry, "tunable", None) or {})
    return {n: a if isinstance(a := recorded.get(n), str) else n for n in names}


def tuned_name(name: str, argument: str) -> str:
    """A tuned name as the user asked for it, with the argument it sets where that is
    another (``decay (alpha)``)."""
    return name if argument == name else f"{name} ({argument})"


def edges(configuration: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The names of a configuration of ``tune.json`` whose best is still on an edge of
    what was tried: ``(at_bound, at_edge)``, those at a hard bound (:data:`HARD_BOUNDS`;
    a weight decay of 0) and those where widening stopped after its :data:`MAX_WIDEN`
    rounds, inside the bounds (tuning may try beyond). A tune.json from before
    ``at_edge`` listed both under ``at_bound``: they are told apart by the value."""

    def names(key: str) -> list[str]:
        value = configuration.get(key)
        return [str(n) for n in value] if isinstance(value, list) else []

    if isinstance(configuration.get("at_edge"), list):
        return names("at_bound"), names("at_edge")
    best = configuration.get("best")
    held = best.get("hyperparameters") if isinstance(best, Mapping) else None
    held = held if isinstance(held, Mapping) else {}
    at_bound, at_edge = [], []
    for name in names("at_bound"):
        value = held.get(name)
        if _is_rate(value):
            bounded = any(same_value(value, bound) for bound in HARD_BOUNDS.get(name, ()))
        else:
            bounded = value == 0  # a weight decay of 0: the bottom of its range
        (at_bound if bounded else at_edge).append(name)
    return at_bound, at_edge


def untuned_note(configuration: Mapping[str, Any]) -> str | None:
    """What ``gdlab tune``'s table says of a configuration of ``tune.json`` that chose
    nothing (``every candidate diverged, down to lr 1e-06: no tuned setting``), or
    ``None`` where it chose a setting. Where its tasks failed, the table's "N failed"
    says why."""
    if configuration.get("best") is not None:
        return None
    points = [p for p in configuration.get("points") or [] if isinstance(p, Mapping)]
    if not points or not all(p.get("diverged") for p in points):
        return "no tuned setting"
    rates = [
        p["hyperparameters"]["lr"]
        for p in points
        if isinstance(p.get("hyperparameters"), Mapping)
        and _is_rate(p["hyperparameters"].get("lr"))
    ]
    where = f", down to lr {exact_value(min(rates))}" if rates else ""
    return f"every candidate diverged{where}: no tuned setting"


def _as_json(value: Any) -> Any:
    """``value`` as tune.json holds it (tuples are lists)."""
    import json

    return json.loads(json.dumps(value))


def series(tuned: Mapping[str, Any], raced: Iterable[str] | None = None) -> dict[str, Any]:
    """The ``series`` block a tuned race's results.json carries (its sensitivity figure,
    and the words of its report: how the tuning validated, searched and chose).

    ``raced``: the labels the tuned race runs under (a race may keep a subset of the
    tuned runs): only their configurations are kept, so that the figure, the words and
    the comparison speak of the runs raced. ``None`` keeps every configuration."""
    labels = _tuned_labels(tuned)  # the labels the tuned race runs under
    configurations = {labels.get(k, k): c for k, c in tuned["configurations"].items()}
    if raced is not None:
        kept = {str(label) for label in raced}
        configurations = {k: c for k, c in configurations.items() if k in kept}
    block = {
        "kind": "tuning",
        "metric": tuned["metric"],
        "folds": tuned["folds"],
        "budget": tuned["budget"],
        "configurations": configurations,
    }
    for key in ("validation", "selected_by"):
        if isinstance(tuned.get(key), str):
            block[key] = tuned[key]
    settings = tuned.get("settings")
    method = settings.get("method") if isinstance(settings, Mapping) else None
    if method in _METHODS:
        block["method"] = method
    return block
