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

import contextlib
import itertools
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gdlab._checks import ConfigError, check_bool, fail
from gdlab.experiments.model import Experiment, RunSpec, digest, slug
from gdlab.optim import Optimizer
from gdlab.problems import check_start
from gdlab.train import History, fit

__all__ = [
    "RunSpec",
    "boundary",
    "comparison",
    "describe_problem",
    "failed_record",
    "make_optimizer",
    "prepare",
    "race",
    "race_task",
    "run_experiment",
    "run_record",
]


def make_optimizer(spec: RunSpec) -> Optimizer:
    """The optimizer of ``spec``: ``create(optimizer, preset, **hyperparameters)``."""
    return spec.make_optimizer()


def boundary(problem: Any, params: dict[str, np.ndarray], resolution: int = 100) -> dict:
    """P(class 1) on a grid over a two-feature training set (a decision boundary).

    Where the parameters blew up (a diverged run) the probabilities are NaN,
    without a warning.
    """
    X = problem.parts["train"].X
    (x0, y0), (x1, y1) = X.min(axis=0), X.max(axis=0)
    pad_x, pad_y = 0.1 * (x1 - x0) + 0.2, 0.1 * (y1 - y0) + 0.2
    xs = np.linspace(x0 - pad_x, x1 + pad_x, resolution)
    ys = np.linspace(y0 - pad_y, y1 + pad_y, resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(problem.dtype)
    if problem.options["layout"] == "columns":
        grid = np.ascontiguousarray(grid.T)
    # parameters that blew up give NaN probabilities, quietly (the caller decides)
    with np.errstate(all="ignore"):
        scores = problem.net.scores(grid, params)
        rows = scores.T if problem.options["layout"] == "columns" else scores
        rows = rows.astype(np.float64)
        if rows.shape[1] == 1:
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


def _finite(values: Iterable[float]) -> list[float]:
    """The finite ``values`` as Python floats."""
    array = np.fromiter(values, dtype=np.float64)
    return array[np.isfinite(array)].tolist()


def _finite_array(values: Sequence[float]) -> np.ndarray:
    """The finite ``values`` as float64 (8 bytes a value, not a Python float's 32)."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return array[np.isfinite(array)]


def _finite_path(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """The points with both coordinates finite, as an ``(n, 2)`` float64 array."""
    # The pairs' numbers one after another (several times faster than
    # numpy.asarray on a list of tuples); anything but pairs takes that way.
    array = np.fromiter(itertools.chain.from_iterable(points), dtype=np.float64)
    if array.size != 2 * len(points):
        array = np.asarray(points, dtype=np.float64)
    array = array.reshape(-1, 2)
    return array[np.isfinite(array).all(axis=1)]


def _evaluated(history: History) -> dict[str, np.ndarray] | None:
    return history.params if history.eval_params is None else history.eval_params


def _start_loss(history: History, problem: Any) -> list[float]:
    """The whole training set's loss at the start, before any update, where the run
    records it (its first loss, the figures' first point): a 2-D function's f at the
    start (every step a full batch), a run with ``step_loss`` ``"train"``; ``[]`` where
    the first loss is a batch's or not finite."""
    exact = history.step_loss == "train" or getattr(problem, "n_samples", 0) is None
    return _finite(history.loss[:1]) if exact else []


def run_record(
    spec: RunSpec,
    optimizer: Optimizer,
    seed: int,
    history: History,
    problem: Any,
    *,
    run_id: str,
) -> dict[str, Any]:
    """The record of a finished run: plain data but for arrays.

    ``final_params`` (the parameters the final metrics describe: the point
    ``fit`` evaluates, ``History.eval_params``, for an optimizer that evaluates
    elsewhere than it trains) and the per-step series (``loss``, ``lr``,
    ``path``, their non-finite values left out) are float64 arrays, so that a long run's
    record stays small in memory. :func:`gdlab.results.store_params` then
    inlines small parameter sets and stores large ones in a file, and keeps
    a long run's series in a file with every ``stride``-th value inline.
    """
    epochs = [dict(e) for e in history.epochs]
    last = {k: v for k, v in (epochs[-1] if epochs else {}).items()}
    for key in ("epoch", "step", "seconds"):
        last.pop(key, None)
    train_losses = _finite([e["train_loss"] for e in epochs])
    metrics = {
        **{k: float(v) for k, v in last.items() if math.isfinite(v)},
        "final_loss": train_losses[-1] if train_losses else None,
        "best_loss": min(train_losses + _start_loss(history, problem), default=None),
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
        "loss": _finite_array(history.loss),
        # what loss holds: "batch" (each step's batch loss) or "train" (the whole
        # training set's loss at each step, before its update)
        "step_loss": history.step_loss,
        "lr": _finite_array(history.lr),
        "epochs": epochs,
        "metrics": metrics,
        # the model the metrics describe: where fit evaluates it (Schedule-Free's x,
        # Lookahead's slow weights, an average), else the trained parameters
        "final_params": {k: v.copy() for k, v in (_evaluated(history) or {}).items()},
    }
    if history.path:
        record["path"] = _finite_path(history.path)
    train = getattr(problem, "parts", {}).get("train")
    two_features = train is not None and train.n_features == 2
    if two_features and train.task == "classification" and hasattr(problem, "net"):
        grid = boundary(problem, record["final_params"])
        # a diverged run's parameters give no boundary (NaN is no probability)
        if np.isfinite(np.asarray(grid["probability"], dtype=np.float64)).all():
            record["boundary"] = grid
    return record


def failed_record(
    spec: RunSpec, seed: int, entry: Mapping[str, Any], *, run_id: str
) -> dict[str, Any]:
    """The record of a run whose task raised (or timed out): ``status`` ``"failed"``,
    ``reason`` the error's type and message, nothing trained (plain JSON data)."""
    from gdlab.results import plain

    error = entry.get("error") or {}
    kind = str(error.get("type") or "Error").rsplit(".", 1)[-1]
    try:
        hyperparameters = spec.make_optimizer().hyperparameters()
    except Exception:  # the optimizer itself could not be made: what the run asked for
        hyperparameters = dict(spec.hyperparameters)
    return plain(
        {
            "id": run_id,
            "label": spec.label,
            "group": spec.group or spec.label,
            "optimizer": spec.optimizer,
            "preset": spec.preset,
            "hyperparameters": hyperparameters,
            "seed": seed,
            "status": "failed",
            "reason": f"{kind}: {error.get('message', '')}",
            "stopped_at": None,
            "steps": 0,
            "seconds": float(entry.get("seconds") or 0.0),
            "compile_seconds": 0.0,
            "loss": [],
            "lr": [],
            "epochs": [],
            "metrics": {"final_loss": None, "best_loss": None},
            "final_params": {},
        }
    )


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
        try:
            problem = experiment.problem.build()
        except (FileNotFoundError, NotADirectoryError, TypeError, ValueError) as error:
            # what only the data shows (10 classes for a sigmoid output, a missing folder)
            text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            text = text.removeprefix("problem: ").removeprefix("experiment: ")
            raise ConfigError(f"experiment: problem: {text}") from None
        check_start(problem, "experiment: problem")  # a 2-D start where f is not finite
        if len(_PROBLEMS) >= 4:
            _PROBLEMS.pop(next(iter(_PROBLEMS)))
        _PROBLEMS[key] = problem
    if problem.n_samples is not None:
        experiment.check_data(problem.n_samples)
    check_size(experiment, problem.n_samples)
    return problem


#: Memory a run's history holds per step (measured: a 2-D run keeps its path too).
BYTES_PER_STEP = {"function2d": 470, "data": 120}
#: Share of the available memory a race may plan to use.
MEMORY_SHARE = 0.8


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def run_steps(experiment: Experiment, run: RunSpec, n_train: int | None) -> int:
    """The updates ``run`` makes: its steps, or its epochs times the batches per epoch."""
    training = experiment.run_training(run)
    if training.steps is not None:
        return training.steps
    if n_train is None or training.batch_size is None:
        return training.epochs
    return training.epochs * -(-n_train // training.batch_size)


def estimate(experiment: Experiment, n_train: int | None) -> dict[str, int]:
    """What a race will hold in memory and write: ``{"steps", "memory", "output"}`` (bytes)."""
    from gdlab.results import SERIES_INLINE, SERIES_POINTS

    per_step = BYTES_PER_STEP["data" if experiment.problem.has("data") else "function2d"]
    lengths = [run_steps(experiment, r, n_train) for r in experiment.runs] * experiment.seeds
    steps = sum(lengths)
    # results.json: about 16 characters a number, 2 numbers a step (4 with a path), at most
    # SERIES_INLINE steps inline; a longer run keeps SERIES_POINTS inline and its series in
    # an .npz (8 bytes a number)
    numbers = 2 if experiment.problem.has("data") else 4
    inline = sum(n if n <= SERIES_INLINE else SERIES_POINTS for n in lengths) * numbers * 16
    binary = sum(n for n in lengths if n > SERIES_INLINE) * numbers * 8
    return {"steps": steps, "memory": steps * per_step, "output": inline + binary}


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_size(experiment: Experiment, n_train: int | None) -> None:
    """Refuse a race whose histories cannot fit in this machine's memory (before it starts)."""
    sizes = estimate(experiment, n_train)
    available = _available_memory()
    if available is not None and sizes["memory"] > MEMORY_SHARE * available:
        raise ConfigError(
            f"experiment {experiment.name!r} is too large for this machine: "
            f"{sizes['steps']:,} steps in all would hold about {_gib(sizes['memory'])} in memory "
            f"and write about {_gib(sizes['output'])} of results; {_gib(available)} is "
            "available. Use fewer steps, epochs, runs or seeds"
        )


def race_task(
    *,
    config: Mapping[str, Any],
    run: int,
    seed: int,
    out: str,
    progress: bool = False,
    rng: np.random.Generator | None = None,
    modules: Sequence[str] = (),
) -> dict[str, Any]:
    """One task of a race: run ``run`` of experiment ``config`` (plain data) with ``seed``.

    A :func:`gdlab.sweep.run_sweep` task, so it runs in this process, in a
    worker process or on Dask. Its generator is ``default_rng(seed)``, the
    same for every run of that seed (the sweep's per-task ``rng`` is not
    used: a race's fairness is the shared seed). Large final parameters are
    stored in ``out/params/<id>.npz``; the record is plain JSON data.
    ``modules`` are imported first: those that register the race's own optimizers.
    """
    from gdlab.results import plain, store_params
    from gdlab.sweep import one_run

    experiment = one_run(config, run, modules)
    return plain(store_params(_train(experiment, 0, seed, progress), out))


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


def race(
    experiment: Experiment,
    *,
    out_dir: str | os.PathLike | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    dask_local: int | None = None,
    timeout: float | None = None,
    progress: bool = True,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every run of ``experiment`` with every seed; return the records in task order.

    The (run, seed) tasks go to :func:`gdlab.sweep.run_sweep`: in this
    process (``workers=1``), on local processes, or on Dask. The records are
    the same bit for bit (the times aside) whatever runs them.

    Args:
        experiment: what to run (checked when it was made).
        out_dir: where large final parameters and the series of long runs are
            stored (``params/<id>.npz``, ``series/<id>.npz``, named in the
            records); by default the parameters come back inline as nested
            lists and the series whole, as lists: every record is plain JSON
            data (``json.dumps(record)`` works, 2-D and network runs alike).
        workers, scheduler, dask_local, timeout: as :func:`gdlab.sweep.run_sweep`.
        progress: a progress bar per run (on a terminal), or the sweep's bar
            when the runs are elsewhere.
        on_run: called with each record, in task order, as soon as it and
            every task before it are done (a pool starts the longest runs first:
            :func:`longest_first`); when the race is interrupted, with the
            records finished after a task still running too, in task order.
    """
    from gdlab.sweep import check_where, registering_modules

    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment must be a gdlab Experiment; got {type(experiment).__name__}")
    # checked before out_dir is made: a bad call leaves nothing behind
    workers, scheduler, dask_local, timeout = check_where(workers, scheduler, dask_local, timeout)
    progress = check_bool("progress", progress)
    if out_dir is not None and not isinstance(out_dir, str | os.PathLike):
        fail("out_dir", "a path (str or os.PathLike) or None", out_dir, kind=TypeError)
    inline = workers == 1 and scheduler is None and dask_local is None and timeout is None
    # an optimizer workers cannot see is refused here, before out_dir is made
    modules = [] if inline else registering_modules([r.optimizer for r in experiment.runs], "race")
    with contextlib.ExitStack() as stack:
        keep = out_dir is not None
        out = Path(out_dir) if keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        out.mkdir(parents=True, exist_ok=True)
        records: list[dict[str, Any]] = []

        def done(record: dict[str, Any]) -> None:
            records.append(record)
            if on_run is not None:
                on_run(record)

        _sweep_race(
            experiment,
            out,
            inline=inline,
            modules=modules,
            progress=progress,
            on_run=done,
            workers=workers,
            scheduler=scheduler,
            dask_local=dask_local,
            timeout=timeout,
        )
        if not keep:  # the files go with the temporary directory: bring them inline
            from gdlab.results import inline_series

            records = [inline_series(_load_params(r, out), out) for r in records]
        return records


def _sweep_race(
    experiment: Experiment,
    out: Path,
    *,
    inline: bool,
    modules: Sequence[str],
    progress: bool,
    on_run: Callable[[dict[str, Any]], Any],
    **where: Any,
) -> None:
    """Run the race's tasks as a sweep; hand the records to ``on_run`` in task order
    (``modules``: what a worker imports first, :func:`gdlab.sweep.registering_modules`)."""
    from gdlab.sweep import Task, run_sweep

    config = experiment.to_dict()
    tasks = [
        Task(
            f"{slug(run.label)}-seed{seed}",
            {
                "config": config,
                "run": i,
                "seed": seed,
                "out": str(out),
                "progress": progress and inline,
                **({"modules": list(modules)} if modules else {}),
            },
        )
        for seed in range(experiment.seeds)
        for i, run in enumerate(experiment.runs)
    ]
    order = {task.id: n for n, task in enumerate(tasks)}
    started = tasks
    if not inline:  # a pool takes them in turn: the longest first (records are per task)
        try:
            rank = {run: k for k, run in enumerate(longest_first(experiment))}
        except Exception:  # a run that cannot start fails in its task, and is recorded so
            rank = None  # the tasks in their own order
        if rank is not None:
            started = sorted(tasks, key=lambda t: (t.kwargs["seed"], rank[t.kwargs["run"]]))
    ready: dict[int, dict[str, Any]] = {}
    handed = 0

    def arrived(entry: dict[str, Any]) -> None:
        nonlocal handed
        n = order[entry["id"]]
        if entry["status"] == "ok":
            ready[n] = entry["result"]
        else:  # the run raised (or timed out): recorded as failed, the race goes on
            kwargs = tasks[n].kwargs
            spec = experiment.runs[kwargs["run"]]
            ready[n] = failed_record(spec, kwargs["seed"], entry, run_id=entry["id"])
        while handed in ready:
            on_run(ready.pop(handed))
            handed += 1

    journal = out / ".race.jsonl"
    journal.unlink(missing_ok=True)
    try:
        run_sweep(
            race_task,
            started,
            journal,
            progress=progress and not inline,
            on_record=arrived,
            **where,
        )
    except BaseException:  # Ctrl-C: the runs done after one still running are kept too
        for n in sorted(ready):
            on_run(ready.pop(n))
        raise
    finally:
        journal.unlink(missing_ok=True)


def _load_params(record: dict[str, Any], out: Path) -> dict[str, Any]:
    """A record with its final parameters inline, as nested lists (read from its file
    when it was stored in one), so that the record stays plain JSON data."""
    from gdlab.results import plain

    params = record.get("final_params") or {}
    if "file" in params:
        with np.load(out / params["file"]) as data:
            params = {k: data[k].tolist() for k in data.files}
    return {**record, "final_params": plain(params)}


#: A step's fixed cost (seconds): the Python around the arithmetic, whatever the model's
#: size (measured on a 2-core VM: 140–300 µs a step for the seed's 2-D and Boston runs).
STEP_SECONDS = 2e-4
#: Floating-point operations a second a run reaches on one core, counting 6 per parameter
#: and sample (forward and backward): the MNIST race's 784-100×4-10 network, batch 128,
#: runs 2000 steps in about 5 s, evaluations included.
FLOPS_PER_SECOND = 3.5e10
#: Below this estimated compute (seconds, all runs), a race runs in this process: starting
#: worker processes (imports, numba's kernels, the data) costs more than they save.
MIN_PARALLEL_SECONDS = 4.0


def run_seconds(experiment: Experiment, problem: Any) -> list[float]:
    """A rough forecast of each run's compute on one core (one seed): its updates times a
    fixed cost plus 6 floating-point operations per parameter and sample of its batch."""
    n_params = sum(a.size for a in problem.init_params(np.random.default_rng(0)).values())
    n_train = problem.n_samples
    seconds = []
    for run in experiment.runs:
        batch = experiment.run_training(run).batch_size or n_train or 1
        per_step = STEP_SECONDS + 6 * n_params * batch / FLOPS_PER_SECOND
        seconds.append(run_steps(experiment, run, n_train) * per_step)
    return seconds


def estimated_seconds(experiment: Experiment, problem: Any) -> float:
    """A rough forecast of a race's compute on one core: :func:`run_seconds` of every
    run and seed."""
    return sum(run_seconds(experiment, problem)) * experiment.seeds


def longest_first(experiment: Experiment) -> list[int]:
    """The runs' indices in the order a pool should start them: the longest forecast
    first (:func:`run_seconds`), so that the workers finish together; among equals, the
    optimizer with more state arrays first (its update reads and writes more memory:
    Adam's two moments before Momentum's velocity before SGD's none). Stable otherwise."""
    seconds = run_seconds(experiment, prepare(experiment))
    states = [len(getattr(run.make_optimizer(), "state_names", ())) for run in experiment.runs]
    return sorted(range(len(experiment.runs)), key=lambda i: (-seconds[i], -states[i]))


def default_workers(experiment: Experiment) -> int:
    """Processes for a race: the usable cores, at most one per run; one when the race is
    too small to repay starting processes (:data:`MIN_PARALLEL_SECONDS`; a 2-D function's
    runs take milliseconds). The records are the same either way."""
    if not experiment.problem.has("data"):
        return 1
    n_tasks = len(experiment.runs) * experiment.seeds
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    workers = max(1, min(cores, n_tasks))
    if workers > 1 and estimated_seconds(experiment, prepare(experiment)) < MIN_PARALLEL_SECONDS:
        return 1
    return workers


# --------------------------------------------------------------------------- results


def describe_problem(experiment: Experiment, problem: Any) -> dict[str, Any]:
    """The ``problem`` block of results.json: what the figures need to know."""
    from gdlab.results import data_block

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
        if getattr(fn, "expression", None):  # a function typed as text (kind "expression")
            info["function"]["expression"] = fn.expression
        return info
    parts = problem.parts
    info["data"] = data_block(
        parts["train"], parts.get("test"), spec.has("classifier"), parts.get("validation")
    )
    if hasattr(problem, "sizes"):
        info["sizes"] = list(problem.sizes)
    if callable(getattr(problem, "surface", None)):  # the loss over the runs' 2-D path
        info["surface"] = problem.surface()
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
    charts: bool = True,
) -> dict[str, Any]:
    """Run ``experiment``; write its results, figures and report into ``out_dir``.

    ``text`` is the report's ``title``, ``description`` and ``changes``
    (:func:`gdlab.experiments.describe.text`; by default generated from the
    experiment alone). ``charts=False`` writes the page without its
    interactive charts (``--no-js``). An exception (Ctrl-C included) leaves ``results.json``
    and ``results.csv`` with every finished run and ``"status":
    "interrupted"``, and a report of them; then it propagates.
    """
    from gdlab.experiments.describe import recorded
    from gdlab.experiments.describe import text as describe_text
    from gdlab.report import write
    from gdlab.results import ResultsWriter

    # checked before anything is written: a bad call leaves no half-made report
    from gdlab.sweep import check_where

    workers = check_where(workers, None, None, None)[0]  # a daemonic process: 1 only
    progress = check_bool("progress", progress)
    problem = prepare(experiment)
    if workers > 1:
        from gdlab.sweep import registering_modules

        # an optimizer workers cannot see: refused here
        registering_modules([r.optimizer for r in experiment.runs], "race")
    words = dict(text) if text is not None else describe_text(experiment)
    header = {
        "experiment": experiment.name,
        "title": words["title"],
        "description": words["description"],
        "changes": list(words.get("changes", [])),
        "command": command,
        "config": recorded(experiment, words).to_dict(),
        "problem": describe_problem(experiment, problem),
    }
    if series is not None:
        header["series"] = dict(series)
    if words.get("base") is not None:  # changed from a file: kept for a run again
        header["base"] = dict(words["base"])
    writer = ResultsWriter(out_dir, header)
    if figures and workers > 1:  # this process waits on the pool meanwhile
        _import_soon(*FIGURE_MODULES)

    def record(run_record: dict[str, Any]) -> None:
        writer.add(run_record)
        if on_run is not None:
            on_run(writer.runs[-1])

    try:
        race(experiment, out_dir=out_dir, workers=workers, progress=progress, on_run=record)
    except BaseException:
        writer.finish("interrupted")
        if figures and writer.runs:
            write(writer.document, out_dir, charts=charts)
        raise
    if series is not None and series.get("kind") == "tuning":
        exact = _exact_labels(experiment, problem)
        target, rows = comparison(writer.runs, series.get("configurations", {}), exact=exact)
        writer.document["series"]["target_loss"] = target
        writer.document["series"]["comparison"] = rows
    writer.finish("complete")
    if figures:
        write(writer.document, out_dir, charts=charts)
    return writer.document


#: What drawing a report's figures imports (matplotlib: about 1.5 s).
FIGURE_MODULES = (
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "matplotlib.style",
    "matplotlib.font_manager",
    "gdlab.report.figures",
    "gdlab.report.html",
)


def _import_soon(*modules: str) -> None:
    """Import ``modules`` on a daemon thread, while this process only waits for a pool's
    runs: the figures drawn after the race then start at once. An import that fails
    here is left to fail again, with its message, where the module is used."""
    import importlib
    import threading

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    threading.Thread(target=load, name="gdlab-imports", daemon=True).start()


def _first_at_or_below(curve: np.ndarray, target: float, stride: int = 1) -> int | None:
    """The first step (1-based) whose value in ``curve`` (every ``stride``-th step) is at
    or below ``target``."""
    hits = np.flatnonzero(curve <= target)
    return int(hits[0]) * stride + 1 if hits.size else None


def _steps_to_target(speeds: Sequence[int | None]) -> int | None:
    """The lower median over seeds of the first step at the target; a seed that never got
    there counts as infinitely slow (``None`` when the median seed never did).

    The lower median (the middle seed's step, or the faster of the two middle
    ones) is a step some seed took, and is reached by every run whose median
    best loss is at or below the target: at least half its seeds reach it.
    """
    ordered = sorted(math.inf if v is None else v for v in speeds)
    middle = ordered[(len(ordered) - 1) // 2] if ordered else math.inf
    return int(middle) if math.isfinite(middle) else None


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and (with two or more values) population deviation; ``None`` when empty.

    Scaled by a power of two (exact) and centred on the first value, so that
    nothing overflows (the squares of 1e200) and equal values give exactly
    their value and a deviation of 0.
    """
    if not values:
        return None, None
    array = np.asarray(values, dtype=np.float64)
    exponent = int(np.frexp(np.max(np.abs(array)))[1])
    scaled = np.ldexp(array, -exponent)
    centred = scaled - scaled[0]
    mean = float(np.ldexp(scaled[0] + np.mean(centred), exponent))
    std = float(np.ldexp(np.std(centred), exponent)) if len(values) > 1 else None
    return mean, std


def _metric_values(runs: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [r["metrics"][key] for r in runs if r["metrics"].get(key) is not None]


def _comparison_row(
    label: str,
    members: Sequence[Mapping[str, Any]],
    curves: Mapping[str, np.ndarray],
    target: float | None,
    tuned: Mapping[str, Any],
    exact: frozenset[str],
) -> dict[str, Any]:
    from gdlab.results import series_stride

    # a failed run trained nothing: it is counted apart, not as a slow or a diverged seed
    ok = [r for r in members if r["status"] not in ("diverged", "failed")]
    failed = sum(r["status"] == "failed" for r in members)
    loss_mean, loss_std = _mean_std(_metric_values(ok, "final_loss"))
    acc_mean, acc_std = _mean_std(_metric_values(ok, "test_accuracy"))
    steps = None
    if target is not None:  # a long run's loss is every stride-th step's (docs/results.md)
        steps = _steps_to_target(
            [_first_at_or_below(curves[r["id"]], target, series_stride(r)) for r in ok]
        )
    best = tuned.get("best") or {}
    return {
        "label": label,
        "group": members[0]["group"],  # its curve in the figures: its label, or a group's name
        "lr": best.get("lr"),
        "seeds": len(members),
        "diverged": len(members) - len(ok) - failed,
        "failed": failed,
        "final_loss_mean": loss_mean,
        "final_loss_std": loss_std,
        "test_accuracy_mean": acc_mean,
        "test_accuracy_std": acc_std,
        "steps_to_target": steps,
        "target_curve": _target_curve(ok, exact),
        "within_10_percent": tuned.get("within_10_percent"),
    }


def _comparison_target(
    configurations: Iterable[Sequence[Mapping[str, Any]]], curves: Mapping[str, np.ndarray]
) -> float | None:
    """The highest best loss (median over seeds, of the curves :func:`comparison` counts)
    of the configurations (each run's seeds) whose best is below their start (the median
    first value); ``None`` where none is."""
    bests = []
    for members in configurations:
        kept = [
            curves[r["id"]]
            for r in members
            if r["status"] not in ("diverged", "failed") and curves[r["id"]].size
        ]
        if kept:
            best = float(np.median([curve.min() for curve in kept]))
            if best < float(np.median([curve[0] for curve in kept])):
                bests.append(best)
    return max(bests) if bests else None


def exact_loss(experiment: Experiment, run: RunSpec, problem: Any) -> bool:
    """Whether ``run``'s per-step loss is exact, not an estimate: every step is one
    deterministic pass over the whole training set (a 2-D function, or a full batch:
    ``batch_size`` ``None``, or the set's size with ``batching="epoch"``, a permutation
    that covers the set) through a network without dropout. ``batching="random"`` draws
    with replacement, so even a batch of the set's size is a noisy estimate. A run that
    records the whole training set's loss at each step (``step_loss = "train"``, an
    evaluation: no dropout) is exact whatever its batches."""
    training = experiment.run_training(run)
    if training.step_loss == "train":
        return True
    layers = getattr(getattr(problem, "net", None), "layers", ())
    if any(hasattr(layer, "rng") for layer in layers):  # dropout: a fresh mask per step
        return False
    n = problem.n_samples
    if n is None or training.batch_size is None:
        return True
    return training.batching == "epoch" and training.batch_size >= n


def _exact_labels(experiment: Experiment, problem: Any) -> frozenset[str]:
    """The labels of the runs whose loss is exact (:func:`exact_loss`)."""
    return frozenset(r.label for r in experiment.runs if exact_loss(experiment, r, problem))


def _target_curve(runs: Sequence[Mapping[str, Any]], exact: frozenset[str]) -> str | None:
    """``"raw"`` or ``"smoothed"``: the loss :func:`comparison` counts for ``runs``
    (``"mixed"`` where they differ, ``None`` where there are none)."""
    kinds = {"raw" if r.get("label") in exact else "smoothed" for r in runs}
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else None)


def _counted_loss(run: Mapping[str, Any], beta: float, exact: frozenset[str]) -> np.ndarray:
    """The loss :func:`comparison` counts for ``run``: its raw loss where that is exact
    (its label in ``exact``), else its bias-corrected EWMA with ``beta``."""
    from gdlab.averages import ewma

    if not len(run["loss"]):  # a list or an array (run_record's)
        return np.empty(0)
    loss = np.asarray(run["loss"], float)
    return loss if run.get("label") in exact else ewma(loss, beta, bias_correction=True)


def comparison(
    runs: Sequence[Mapping[str, Any]],
    tuning: Mapping[str, Any],
    beta: float = 0.9,
    exact: Iterable[str] = (),
) -> tuple[float | None, list[dict[str, Any]]]:
    """A tuned race's table: per run (its label, as the tuning's ``configurations`` are
    keyed and the Summary ranks; each run of a ``group`` apart, since the tuning chose
    each its own setting), performance over seeds, speed and sensitivity.

    Speed counts each run's training loss as it is where that loss is exact
    (the run's label is in ``exact``, as :func:`exact_loss` says of a 2-D
    function or full-batch training without dropout), and smoothed where it is
    a noisy estimate (a bias-corrected EWMA with ``beta``, which each row
    records as ``beta``; a run not named in ``exact`` is taken as noisy).
    Smoothing an exact loss only delays it: one early spike (RMSprop's lr 10
    on the bowl: 6.45, 10036 after one update, 0.015 after three) held the
    smoothed curve above a target the loss had long passed for dozens of steps.

    The target loss is the highest of the runs' best counted losses (the
    median over a run's seeds) among the runs that got below their start
    (their best is under the median of their seeds' first counted losses), so
    every such run reaches it and none at its first step: a run whose loss
    only rose from the start sets no target, since its best, the starting loss,
    is one every run has at step 1. Where no run got below its start there
    is no target (``None``) and no speed. A seed's speed is the first step whose
    counted loss is at or below the target. A long run (with a ``series``
    block) is counted over its inline values, every ``stride``-th step, and its
    speed is counted in steps. A row's ``steps_to_target`` is the lower
    median over its seeds (a seed that never gets there counts as infinitely
    slow), ``target_curve`` says which loss was counted (``"raw"``,
    ``"smoothed"`` or ``"mixed"``); ``diverged`` and ``failed`` count the seeds
    left out of its statistics.
    """
    seeds: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        seeds.setdefault(run.get("label") or run["group"], []).append(run)
    exact = frozenset(exact)
    curves = {run["id"]: _counted_loss(run, beta, exact) for run in runs}
    target = _comparison_target(seeds.values(), curves)
    rows = [
        _comparison_row(label, members, curves, target, tuning.get(label) or {}, exact)
        | {"beta": beta}
        for label, members in seeds.items()
    ]
    return target, rows
