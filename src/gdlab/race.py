"""Races: several optimizers on one problem, with the same batches and seeds.

:func:`race` turns an :class:`~gdlab.experiments.Experiment` into one task per
(run, seed) and returns plain run records (the ``runs`` of ``results.json``,
see ``docs/results.md``). Fairness comes from the seeds: every run with seed
``s`` gets ``numpy.random.default_rng(s)``, which draws the initial
parameters and then the batches, so all optimizers start from the same point
and see the same samples in the same order.

The tasks are independent: with ``workers > 1`` they run on that many local
processes (spawned, one BLAS thread each, like every run here), and the
records are bit-identical to a sequential race. Records come back in task
order (every run with seed 0, then with seed 1, …) and each is handed to
``on_run`` as soon as it and every task before it are done, so an
interrupted race has written every run that finished in order.
:func:`run_experiment` runs a race and writes ``results.json``,
``results.csv``, the figures and ``index.html``.

>>> from gdlab.experiments import Experiment
>>> exp = Experiment.from_dict({"name": "demo", "problem": {"kind": "function"},
...     "training": {"steps": 30}, "optimizers": {"preset": "book",
...     "names": ["sgd", "adam"], "lr": {"sgd": 0.95, "adam": 0.3}}})
>>> runs = race(exp, progress=False)
>>> [(r["label"], r["status"], len(r["path"])) for r in runs]
[('SGD', 'ok', 31), ('Adam', 'ok', 31)]
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gdlab.experiments.model import Experiment, RunSpec, digest, slug
from gdlab.optim import Optimizer
from gdlab.train import History, fit

__all__ = [
    "RunSpec",
    "boundary",
    "comparison",
    "describe_problem",
    "make_optimizer",
    "prepare",
    "race",
    "run_experiment",
    "run_record",
    "run_task",
]


def make_optimizer(spec: RunSpec) -> Optimizer:
    """The optimizer of ``spec``: ``create(optimizer, preset, **hyperparameters)``."""
    return spec.make_optimizer()


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
        "compile_seconds": history.compile_seconds,
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


# --------------------------------------------------------------------------- tasks

#: Problems built in this process, by the digest of their spec: a worker that
#: runs several tasks of one experiment loads its data once.
_PROBLEMS: dict[str, Any] = {}


def prepare(experiment: Experiment) -> Any:
    """The experiment's problem, built (data loaded) and kept for this process's runs.

    Checks what needs the data: a batch larger than the training set is an
    error here, before any run starts.
    """
    key = digest(experiment.problem.to_table())
    problem = _PROBLEMS.get(key)
    if problem is None:
        problem = experiment.problem.build()
        if len(_PROBLEMS) >= 4:
            _PROBLEMS.pop(next(iter(_PROBLEMS)))
        _PROBLEMS[key] = problem
    if problem.n_samples is not None:
        experiment.check_data(problem.n_samples)
    return problem


def run_task(
    config: Mapping[str, Any], run: int, seed: int, progress: bool = False
) -> dict[str, Any]:
    """Train run ``run`` of the experiment ``config`` (plain data) with ``seed``; its record.

    Module-level and plain data in, so that it runs in another process.
    BLAS runs one thread, as in every process of a parallel race.
    """
    from threadpoolctl import threadpool_limits  # comes with scikit-learn

    experiment = Experiment.from_dict(config)
    with threadpool_limits(limits=1, user_api="blas"):
        return _train(experiment, run, seed, progress)


def _train(experiment: Experiment, run: int, seed: int, progress: bool) -> dict[str, Any]:
    problem = prepare(experiment)
    spec = experiment.runs[run]
    optimizer = spec.make_optimizer()
    callbacks = []
    if progress:
        from gdlab.train import ProgressBar

        desc = spec.label if experiment.seeds == 1 else f"{spec.label} (seed {seed})"
        callbacks.append(ProgressBar(desc=desc))
    history = fit(
        problem,
        optimizer,
        rng=np.random.default_rng(seed),
        progress=progress,
        callbacks=callbacks,
        **experiment.run_training(spec).fit_kwargs(),
    )
    return run_record(
        spec, optimizer, seed, history, problem, run_id=f"{slug(spec.label)}-seed{seed}"
    )


def _tasks(experiment: Experiment) -> list[tuple[int, int]]:
    return [(i, seed) for seed in range(experiment.seeds) for i in range(len(experiment.runs))]


def race(
    experiment: Experiment,
    *,
    workers: int = 1,
    progress: bool = True,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every run of ``experiment`` with every seed; return the records in task order.

    Args:
        experiment: what to run (checked when it was made).
        workers: local processes; 1 runs in this process. The records are
            the same bit for bit (the times aside) whatever the number.
        progress: a progress bar per run (on a terminal; sequential races only).
        on_run: called with each record, in task order, as soon as it is ready.
    """
    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment must be a gdlab Experiment; got {type(experiment).__name__}")
    tasks = _tasks(experiment)
    workers = max(1, min(int(workers), len(tasks)))
    records: list[dict[str, Any]] = []

    def done(record: dict[str, Any]) -> None:
        records.append(record)
        if on_run is not None:
            on_run(record)

    if workers == 1:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            for run, seed in tasks:
                done(_train(experiment, run, seed, progress))
        return records
    _in_processes(experiment, tasks, workers, done)
    return records


def _in_processes(
    experiment: Experiment,
    tasks: Sequence[tuple[int, int]],
    workers: int,
    done: Callable[[dict[str, Any]], None],
) -> None:
    """Run the tasks on ``workers`` spawned processes; hand records over in task order."""
    config = experiment.to_dict()
    context = multiprocessing.get_context("spawn")
    ready: dict[int, dict[str, Any]] = {}
    next_index = 0
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {
            pool.submit(run_task, config, run, seed): index
            for index, (run, seed) in enumerate(tasks)
        }
        try:
            for future in concurrent.futures.as_completed(futures):
                ready[futures[future]] = future.result()
                while next_index in ready:
                    done(ready.pop(next_index))
                    next_index += 1
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def default_workers(experiment: Experiment) -> int:
    """Processes for a race: the usable cores, at most one per run; one for a 2-D function
    (its runs take milliseconds, less than starting a process)."""
    if not experiment.problem.has("data"):
        return 1
    n_tasks = len(experiment.runs) * experiment.seeds
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, n_tasks))


# --------------------------------------------------------------------------- results


def describe_problem(experiment: Experiment, problem: Any) -> dict[str, Any]:
    """The ``problem`` block of results.json: what the figures need to know."""
    spec = experiment.problem
    info: dict[str, Any] = {
        "kind": spec.kind,
        "name": problem.name,
        "traits": sorted(spec.registered.traits),
        "description": spec.describe(),
    }
    if spec.has("function2d"):
        fn = problem.function
        info["function"] = {
            "name": fn.name,
            "description": fn.description,
            "xlim": list(fn.xlim),
            "ylim": list(fn.ylim),
            "minima": [list(m) for m in fn.minima],
            "start": list(problem.start),
        }
        return info
    train = problem.parts["train"]
    test = problem.parts.get("test")
    info["data"] = {
        "name": train.name,
        "n_train": train.n_samples,
        "n_test": 0 if test is None else test.n_samples,
        "n_features": train.n_features,
    }
    if train.n_features == 2 and spec.has("classifier"):
        info["data"]["points"] = {"X": train.X.tolist(), "y": train.y.tolist()}
    if hasattr(problem, "sizes"):
        info["sizes"] = list(problem.sizes)
    return info


def run_experiment(
    experiment: Experiment,
    out_dir: str | os.PathLike,
    *,
    command: str = "",
    text: Mapping[str, Any] | None = None,
    progress: bool = True,
    figures: bool = True,
    workers: int = 1,
    series: Mapping[str, Any] | None = None,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``experiment``; write its results, figures and report into ``out_dir``.

    ``text`` is the report's ``title``, ``description`` and ``changes``
    (:func:`gdlab.experiments.describe.text`; by default generated from the
    experiment alone). An exception (Ctrl-C included) leaves ``results.json``
    and ``results.csv`` with every finished run and ``"status":
    "interrupted"``, and a report of them; then it propagates.
    """
    from gdlab.experiments.describe import text as describe_text
    from gdlab.report import write
    from gdlab.results import ResultsWriter

    problem = prepare(experiment)
    words = dict(text) if text is not None else describe_text(experiment)
    header = {
        "experiment": experiment.name,
        "title": words["title"],
        "description": words["description"],
        "changes": list(words.get("changes", [])),
        "command": command,
        "config": experiment.to_dict(),
        "problem": describe_problem(experiment, problem),
    }
    if series is not None:
        header["series"] = dict(series)
    writer = ResultsWriter(out_dir, header)

    def record(run_record: dict[str, Any]) -> None:
        writer.add(run_record)
        if on_run is not None:
            on_run(writer.runs[-1])

    try:
        race(experiment, workers=workers, progress=progress, on_run=record)
    except BaseException:
        writer.finish("interrupted")
        if figures and writer.runs:
            write(writer.document, out_dir)
        raise
    if series is not None and series.get("kind") == "tuning":
        target, rows = comparison(writer.runs, series.get("configurations", {}))
        writer.document["series"]["target_loss"] = target
        writer.document["series"]["comparison"] = rows
    writer.finish("complete")
    if figures:
        write(writer.document, out_dir)
    return writer.document


def _first_at_or_below(curve: np.ndarray, target: float) -> int | None:
    hits = np.flatnonzero(curve <= target)
    return int(hits[0]) + 1 if hits.size else None


def comparison(
    runs: Sequence[Mapping[str, Any]], tuning: Mapping[str, Any], beta: float = 0.9
) -> tuple[float | None, list[dict[str, Any]]]:
    """A tuned race's table: per group, performance over seeds, speed and sensitivity.

    The target loss is the highest of the groups' best smoothed training losses
    (the median over a group's seeds), so every group that did not diverge
    reaches it; a run's speed is the first step whose smoothed loss (a
    bias-corrected EWMA with ``beta``) is at or below the target.
    """
    from gdlab.averages import ewma

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run["group"], []).append(run)
    smoothed = {
        run["id"]: ewma(np.asarray(run["loss"], float), beta) if run["loss"] else np.empty(0)
        for run in runs
    }
    bests = []
    for members in groups.values():
        ok = [r for r in members if r["status"] != "diverged" and smoothed[r["id"]].size]
        if ok:
            bests.append(float(np.median([smoothed[r["id"]].min() for r in ok])))
    target = max(bests) if bests else None
    rows = []
    for name, members in groups.items():
        ok = [r for r in members if r["status"] != "diverged"]
        losses = [
            r["metrics"]["final_loss"] for r in ok if r["metrics"].get("final_loss") is not None
        ]
        accs = [
            r["metrics"]["test_accuracy"]
            for r in ok
            if r["metrics"].get("test_accuracy") is not None
        ]
        speeds = [_first_at_or_below(smoothed[r["id"]], target) for r in ok] if target else []
        reached = [v for v in speeds if v is not None]
        tuned = tuning.get(name) or {}
        best = tuned.get("best") or {}
        rows.append(
            {
                "group": name,
                "lr": best.get("lr"),
                "seeds": len(members),
                "diverged": len(members) - len(ok),
                "final_loss_mean": float(np.mean(losses)) if losses else None,
                "final_loss_std": float(np.std(losses)) if len(losses) > 1 else None,
                "test_accuracy_mean": float(np.mean(accs)) if accs else None,
                "test_accuracy_std": float(np.std(accs)) if len(accs) > 1 else None,
                "steps_to_target": int(np.median(reached)) if reached else None,
                "within_10_percent": tuned.get("within_10_percent"),
            }
        )
    return target, rows


