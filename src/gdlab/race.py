"""Races: several optimizers on one problem, with the same batches and seeds.

:func:`race` trains one :class:`RunSpec` after another with :func:`gdlab.train.fit`
and returns plain run records (the ``runs`` of ``results.json``, see
``docs/results.md``). Fairness comes from the seeds: every run with seed ``s``
gets ``numpy.random.default_rng(s)``, which draws the initial parameters and
then the batches, so all optimizers start from the same point and see the same
samples in the same order.

Runs go seed by seed (every configuration once with seed 0, then with seed 1, …)
and each finished record is handed to ``on_run`` at once, so an interrupted race
has written every run that finished.

>>> from gdlab.problems import FunctionProblem
>>> runs = race(lambda: FunctionProblem("bowl"),
...             [RunSpec("SGD", "sgd", preset="book", hyperparameters={"lr": 0.95}),
...              RunSpec("Adam", "adam", preset="book", hyperparameters={"lr": 0.3})],
...             steps=30, progress=False)
>>> [(r["label"], r["status"], len(r["path"])) for r in runs]
[('SGD', 'ok', 31), ('Adam', 'ok', 31)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdlab import schedules
from gdlab._checks import check_int, fail
from gdlab.optim import Optimizer, create
from gdlab.problems import Problem
from gdlab.train import History, fit

__all__ = ["RunSpec", "boundary", "make_optimizer", "race", "run_record"]

#: Parameters with at most this many numbers go into results.json inline.
INLINE_PARAMS = 1000


@dataclass(frozen=True)
class RunSpec:
    """One configuration of a race.

    Args:
        label: what figures and tables call it (``"Adam"``, ``"SGD, batch 1"``).
        optimizer: a registry name (``gdlab.optim.OPTIMIZERS``).
        preset: ``"book"``, ``"course"``, ``"torch"``, ``"keras"`` or ``None``.
        hyperparameters: keyword arguments of the optimizer; ``lr`` may be a
            number or a schedule config (``{"name": "exponential", …}``).
        training: overrides of the race's training settings for this run
            (``batch_size``, ``batching``, ``steps``, ``epochs``).
        group: runs of one group are one curve in the figures (default: label).
    """

    label: str
    optimizer: str
    preset: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    group: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            fail("label", "a non-empty string", self.label, kind=TypeError)
        unknown = set(self.training) - _TRAINING_KEYS
        if unknown:
            fail(
                f"training settings of {self.label!r}",
                "among " + ", ".join(sorted(_TRAINING_KEYS)),
                sorted(unknown),
            )


_TRAINING_KEYS = {"batch_size", "batching", "steps", "epochs"}


def make_optimizer(spec: RunSpec) -> Optimizer:
    """The optimizer of ``spec``: ``create(optimizer, preset, **hyperparameters)``."""
    hp = dict(spec.hyperparameters)
    lr = hp.get("lr")
    if isinstance(lr, Mapping):
        hp["lr"] = schedules.from_config(lr.get("schedule", lr))
    return create(spec.optimizer, preset=spec.preset, **hp)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "run"


def boundary(problem: Any, params: dict[str, np.ndarray], resolution: int = 100) -> dict:
    """P(class 1) on a grid over a two-feature training set (a decision boundary)."""
    X = problem.parts["train"].X
    (x0, y0), (x1, y1) = X.min(axis=0), X.max(axis=0)
    pad_x, pad_y = 0.1 * (x1 - x0) + 0.2, 0.1 * (y1 - y0) + 0.2
    xs = np.linspace(x0 - pad_x, x1 + pad_x, resolution)
    ys = np.linspace(y0 - pad_y, y1 + pad_y, resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(problem.dtype)
    if problem.options["layout"] == "columns":
        grid = np.ascontiguousarray(grid.T)
    scores = problem.net.scores(grid, params)
    rows = scores.T if problem.options["layout"] == "columns" else scores
    rows = rows.astype(np.float64)
    if rows.shape[1] == 1:
        with np.errstate(over="ignore"):
            prob = 1.0 / (1.0 + np.exp(-rows[:, 0]))
    else:
        shifted = np.exp(rows - rows.max(axis=1, keepdims=True))
        prob = shifted[:, 1] / shifted.sum(axis=1)
    return {
        "xlim": [float(xs[0]), float(xs[-1])],
        "ylim": [float(ys[0]), float(ys[-1])],
        "resolution": resolution,
        "probability": np.round(prob.reshape(resolution, resolution), 4).tolist(),
    }


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if math.isfinite(v)]


def run_record(
    spec: RunSpec,
    optimizer: Optimizer,
    seed: int,
    history: History,
    problem: Any,
    *,
    run_id: str,
) -> dict[str, Any]:
    """The plain-data record of a finished run (``final_params`` as arrays).

    The writer (:mod:`gdlab.results`) inlines small parameter sets and stores
    large ones in a file.
    """
    epochs = [dict(e) for e in history.epochs]
    last = {k: v for k, v in (epochs[-1] if epochs else {}).items()}
    for key in ("epoch", "step", "seconds"):
        last.pop(key, None)
    train_losses = _finite(e["train_loss"] for e in epochs)
    metrics = {
        **{k: float(v) for k, v in last.items() if math.isfinite(v)},
        "final_loss": train_losses[-1] if train_losses else None,
        "best_loss": min(train_losses) if train_losses else None,
    }
    record: dict[str, Any] = {
        "id": run_id,
        "label": spec.label,
        "group": spec.group or spec.label,
        "optimizer": spec.optimizer,
        "preset": spec.preset,
        "hyperparameters": optimizer.hyperparameters(),
        "seed": seed,
        "status": history.status,
        "reason": history.reason,
        "stopped_at": history.stopped_at,
        "steps": history.steps,
        "seconds": history.seconds,
        "loss": _finite(history.loss),
        "lr": _finite(history.lr),
        "epochs": epochs,
        "metrics": metrics,
        "final_params": {k: v.copy() for k, v in (history.params or {}).items()},
    }
    if history.path:
        record["path"] = [[float(x), float(y)] for x, y in history.path if _ok(x, y)]
    train = getattr(problem, "parts", {}).get("train")
    two_features = train is not None and train.n_features == 2
    if two_features and train.task == "classification" and hasattr(problem, "net"):
        record["boundary"] = boundary(problem, record["final_params"])
    return record


def _ok(x: float, y: float) -> bool:
    return math.isfinite(x) and math.isfinite(y)


def race(
    make_problem: Callable[[], Problem],
    specs: Sequence[RunSpec],
    *,
    seeds: Sequence[int] = (0,),
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    batching: str = "epoch",
    validation: str | None = None,
    evaluate_every: int = 1,
    progress: bool = True,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every spec with every seed; return the run records in order.

    Args:
        make_problem: returns the problem (called once; the runs share it).
        specs: the configurations, in the order of the figures and tables.
        seeds: one run per spec and seed (the same seeds for every spec).
        steps, epochs, batch_size, batching, validation, evaluate_every: as
            :func:`gdlab.train.fit`; a spec's ``training`` overrides them.
        progress: a progress bar per run (on a terminal).
        on_run: called with each record as soon as its run ends.
    """
    if not specs:
        fail("specs", "at least one run configuration", list(specs))
    seeds = [check_int("seed", s, low=0) for s in seeds]
    if not seeds:
        fail("seeds", "at least one seed", seeds)
    ids = [_slug(spec.label) for spec in specs]
    if len(set(ids)) != len(ids):
        fail("labels", "distinct (they name the runs)", [spec.label for spec in specs])
    problem = make_problem()
    # Build every optimizer first: a bad name or hyperparameter fails before any run.
    for spec in specs:
        make_optimizer(spec)
    records = []
    for seed in seeds:
        for spec, slug in zip(specs, ids, strict=True):
            optimizer = make_optimizer(spec)
            settings = {
                "steps": steps,
                "epochs": epochs,
                "batch_size": batch_size,
                "batching": batching,
                **spec.training,
            }
            if "steps" in spec.training:
                settings["epochs"] = None
            elif "epochs" in spec.training:
                settings["steps"] = None
            history = fit(
                problem,
                optimizer,
                rng=np.random.default_rng(seed),
                validation=validation,
                evaluate_every=evaluate_every,
                progress=progress,
                callbacks=[_progress_label(spec.label, seed, len(seeds))] if progress else (),
                **settings,
            )
            record = run_record(
                spec, optimizer, seed, history, problem, run_id=f"{slug}-seed{seed}"
            )
            records.append(record)
            if on_run is not None:
                on_run(record)
    return records


def _progress_label(label: str, seed: int, n_seeds: int):
    from gdlab.train import ProgressBar

    return ProgressBar(desc=label if n_seeds == 1 else f"{label} (seed {seed})")
