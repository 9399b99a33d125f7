"""A report from runs made in Python: :func:`build`.

``gdlab race`` writes a run directory (``results.json``, ``results.csv``,
``params/``, ``figures/``, ``index.html``); :func:`build` writes the same one
from what a Python session holds: the records :func:`gdlab.race.race`
returns, the histories :func:`gdlab.train.fit` returns (with their
optimizers), or a results document (a dict, e.g. a ``results.json`` read
back). It goes through the same writer (:class:`gdlab.results.ResultsWriter`)
and the same figures and page (:func:`gdlab.report.write`), so nothing tells
the two apart but the ``command`` line.

The problem the runs trained on is given as ``problem=``: the
:class:`~gdlab.experiments.Experiment` that ran (which names it, describes it
and is stored as the configuration), a built problem
(:class:`~gdlab.problems.FunctionProblem`, a data problem), a
:class:`~gdlab.functions2d.Function2D` (registered or one's own: its
contours are drawn from the function itself) or the ``problem`` block of a
results document.
"""

from __future__ import annotations

import os
import shutil
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["build"]

#: The problem kind of each built problem class (the registry's name for it).
_KINDS = {
    "FunctionProblem": "function",
    "LinearRegression": "linreg",
    "LogisticRegression": "logreg",
    "MLPClassification": "mlp",
}


def _is_history(value: Any) -> bool:
    from gdlab.train import History

    return isinstance(value, History)


def _is_document(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("runs"), list)


def _is_records(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes)
        and all(isinstance(r, Mapping) and "loss" in r and "id" in r for r in value)
    )


# --- the problem block ---------------------------------------------------------------------


def _function_block(fn: Any, start: Sequence[float] | None = None) -> dict[str, Any]:
    block = {
        "name": str(fn.name),
        "description": str(fn.description),
        "xlim": [float(v) for v in fn.xlim],
        "ylim": [float(v) for v in fn.ylim],
        "minima": [[float(a), float(b)] for a, b in fn.minima],
        "start": [float(v) for v in (fn.start if start is None else start)],
    }
    if getattr(fn, "expression", None):
        block["expression"] = fn.expression
    return block


def _registered(fn: Any) -> bool:
    from gdlab import functions2d

    return functions2d.FUNCTIONS.get(fn.name) is fn


def _describe_built(problem: Any) -> dict[str, Any]:
    """The ``problem`` block of results.json for a built problem (no Experiment at hand)."""
    from gdlab import functions2d
    from gdlab.problems import get_kind
    from gdlab.results import data_block

    if isinstance(problem, functions2d.Function2D):
        fn, start = problem, None
    elif hasattr(problem, "function") and isinstance(problem.function, functions2d.Function2D):
        fn, start = problem.function, getattr(problem, "start", None)
    else:
        fn = start = None
    if fn is not None:
        kind = "expression" if getattr(fn, "expression", None) else "function"
        return {
            "kind": kind,
            "name": str(fn.name),
            "traits": ["function2d"],
            "description": f"{fn.name}: {fn.description}",
            "function": _function_block(fn, start),
        }
    kind = _KINDS.get(type(problem).__name__)
    parts = getattr(problem, "parts", None)
    if kind is None or not isinstance(parts, Mapping) or "train" not in parts:
        raise TypeError(
            "problem must be an Experiment, a built gdlab problem (FunctionProblem, "
            "LinearRegression, LogisticRegression, MLPClassification), a Function2D or a "
            f"results 'problem' block; got {type(problem).__name__}"
        )
    traits = sorted(get_kind(kind).traits)
    train, test = parts["train"], parts.get("test")
    info: dict[str, Any] = {
        "kind": kind,
        "name": str(getattr(problem, "name", kind)),
        "traits": traits,
        "description": repr(problem),
        "data": data_block(train, test, "classifier" in traits, parts.get("validation")),
    }
    if hasattr(problem, "sizes"):
        info["sizes"] = list(problem.sizes)
    if callable(getattr(problem, "surface", None)):
        info["surface"] = problem.surface()
    return info


def _problem_table(built: Any, own: Any) -> dict[str, Any] | None:
    """The ``[problem]`` table that makes ``built`` again, for the report's ``config``: a
    registered 2-D function or an expression, with the start the runs had. ``None`` for
    what no experiment can name (a function of one's own, a built data problem: its data
    and options are not known), so that ``gdlab race --config`` refuses the report rather
    than race another problem."""
    from gdlab import functions2d
    from gdlab.experiments import ExperimentError, ProblemSpec

    fn = getattr(built, "function", None)
    if not isinstance(fn, functions2d.Function2D):
        return None
    start = [float(v) for v in getattr(built, "start", None) or fn.start]
    if getattr(fn, "expression", None):
        table = {
            "kind": "expression",
            "expression": str(fn.expression),
            "start": start,
            "xlim": [float(v) for v in fn.xlim],
            "ylim": [float(v) for v in fn.ylim],
        }
    elif own is None:
        table = {"kind": "function", "function": str(fn.name), "start": start}
    else:
        return None
    try:
        return ProblemSpec.from_table(table).to_table()
    except ExperimentError:  # a start or range no experiment takes
        return None


def _problem(problem: Any) -> tuple[dict[str, Any] | None, Any, Any, Any]:
    """``(problem block, experiment, built problem, unregistered function)``."""
    from gdlab import functions2d
    from gdlab.experiments import Experiment

    if problem is None:
        return None, None, None, None
    if isinstance(problem, Experiment):
        from gdlab.race import describe_problem, prepare

        built = prepare(problem)
        return describe_problem(problem, built), problem, built, None
    if isinstance(problem, Mapping):
        return dict(problem), None, None, None
    block = _describe_built(problem)
    fn = (
        problem
        if isinstance(problem, functions2d.Function2D)
        else getattr(problem, "function", None)
    )
    own = fn if isinstance(fn, functions2d.Function2D) and not _registered(fn) else None
    if isinstance(problem, functions2d.Function2D):
        from gdlab.problems import FunctionProblem

        problem = FunctionProblem(problem)
    return block, None, problem, own


# --- records from histories ------------------------------------------------------------------


class _NoOptimizer:
    """What a bare History ran with: unknown, so no hyperparameters."""

    def hyperparameters(self) -> dict[str, Any]:
        return {}


def _registry_name(optimizer: Any) -> str:
    from gdlab.optim import OPTIMIZERS

    for name, cls in OPTIMIZERS.items():
        if type(optimizer) is cls:
            return name
    return (
        type(optimizer).__name__.lower() if not isinstance(optimizer, _NoOptimizer) else "unknown"
    )


def _history_records(histories: Any, built: Any) -> list[dict[str, Any]]:
    from gdlab._text import slug
    from gdlab.race import run_record
    from gdlab.results import plain

    if _is_history(histories):
        histories = {"run": histories}
    if not isinstance(histories, Mapping):
        raise TypeError(
            "runs must be race() records, a results document, a History, or a dict of "
            f"label → History or (optimizer, History); got {type(histories).__name__}"
        )
    records, used = [], set()
    for label, value in histories.items():
        optimizer, history = (
            (value[0], value[1]) if isinstance(value, tuple | list) else (_NoOptimizer(), value)
        )
        if not _is_history(history):
            raise TypeError(
                f"run {label!r}: expected a History or (optimizer, History); "
                f"got {type(history).__name__}"
            )
        run_id = f"{slug(str(label))}-seed0"
        while run_id in used:
            run_id = f"{slug(str(label))}-{len(used)}-seed0"
        used.add(run_id)
        spec = types.SimpleNamespace(
            label=str(label), group=None, optimizer=_registry_name(optimizer), preset=None
        )
        record = run_record(spec, optimizer, 0, history, built, run_id=run_id)  # type: ignore[arg-type]
        records.append(plain(record))
    return records


def _as_arrays(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record whose inline final parameters are arrays again, for the writer to store
    (inline when small, ``params/<id>.npz`` when large), as ``gdlab race`` does."""
    params = record.get("final_params")
    if not isinstance(params, Mapping) or "file" in params:
        return dict(record)
    return {
        **record,
        "final_params": {k: np.asarray(v, dtype=np.float64) for k, v in params.items()},
    }


# --- the report --------------------------------------------------------------------------------


def _config(records: Sequence[Mapping[str, Any]], table: Mapping[str, Any] | None) -> dict:
    """What is known of runs made without an Experiment, in the Experiment's shape (it
    names them). ``table`` is the problem's ``[problem]`` table (:func:`_problem_table`);
    without one the config has no ``problem``: ``gdlab race --config`` refuses it (it
    holds no experiment) rather than race another problem."""
    steps = max((int(r.get("steps") or 0) for r in records), default=0)
    return {
        "name": "python",
        "seeds": 1 + max((int(r.get("seed") or 0) for r in records), default=0),
        **({"problem": dict(table)} if table is not None else {}),
        "training": {"steps": max(steps, 1)},
        "runs": [
            {
                "label": str(r.get("label") or r.get("id")),
                "optimizer": str(r.get("optimizer") or "unknown"),
                "hyperparameters": dict(r.get("hyperparameters") or {}),
            }
            for r in records
        ],
    }


def _title(labels: Sequence[str], problem: Mapping[str, Any] | None) -> str:
    labels = list(dict.fromkeys(labels))
    subject = ""
    if problem:
        function = problem.get("function")
        data = problem.get("data")
        if isinstance(function, Mapping):
            subject = str(function.get("description") or function.get("name") or "")
        elif isinstance(data, Mapping):
            subject = str(data.get("name") or "")
        subject = subject or str(problem.get("name") or "")
    if not labels:  # a document of series only (gdlab plot's): its problem or "gdlab report"
        return subject or "gdlab report"
    if len(labels) <= 3:
        who = ", ".join(labels[:-1]) + (" and " if len(labels) > 1 else "") + labels[-1]
    else:
        who = f"{len(labels)} runs"
    return f"{who} on {subject}" if subject else who


def _document_and_records(
    runs: Any, block: dict[str, Any] | None, built: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """``(document, records, problem block)`` from a results document (whose own problem
    block serves unless one is given), race() records or fit() histories."""
    if _is_document(runs):
        document = dict(runs)
        if block is None:
            block = document.get("problem")
        return document, list(document.get("runs") or []), block
    if _is_records(runs) and runs:
        if block is None:
            raise ValueError(
                "build needs problem= for race() records: the Experiment that ran (or the "
                "problem, a Function2D, or a results 'problem' block)"
            )
        return {}, list(runs), block
    if block is None or built is None:
        raise ValueError(
            "build needs problem= for fit() histories: the built problem they trained "
            "on (or the Experiment, or a Function2D)"
        )
    return {}, _history_records(runs, built), block


def _words(experiment: Any) -> dict[str, Any]:
    """The experiment's title, description and changes (none without an experiment)."""
    if experiment is None:
        return {}
    from gdlab.experiments.describe import text

    return text(experiment)


def _header(
    document: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    block: Mapping[str, Any] | None,
    experiment: Any,
    title: str | None,
    description: str | None,
    table: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results header: the arguments first, then the document's, the experiment's, or
    what the records and the problem say (``table``: the problem's ``[problem]`` table,
    if an experiment can name it)."""
    words = _words(experiment)
    labels = [str(r.get("label") or r.get("id")) for r in records]
    header = {
        "experiment": document.get("experiment")
        or (experiment.name if experiment is not None else "python"),
        "title": title or document.get("title") or words.get("title") or _title(labels, block),
        "description": description
        if description is not None
        else document.get("description", words.get("description", "")),
        "changes": list(document.get("changes") or words.get("changes") or []),
        "command": document.get("command") or "gdlab.report.build(...) in Python",
        "config": document.get("config")
        or (experiment.to_dict() if experiment is not None else _config(records, table)),
        "problem": block,
    }
    for key in ("series", "base"):  # a document written again keeps them
        if document.get(key) is not None:
            header[key] = document[key]
    return header


def _write(
    out: str | os.PathLike,
    header: dict[str, Any],
    document: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    *,
    charts: bool,
    force: bool,
    function: Any,
) -> None:
    """Write the results, figures and page into ``out`` as ``gdlab race`` does."""
    from gdlab import results as results_module
    from gdlab.report import write

    target = results_module.checked_out(out, force)
    fresh = not target.exists()
    try:
        with results_module.output(Path(out), out=out, force=force) as staged:
            try:
                writer = results_module.ResultsWriter(staged, header)
                for key in ("created", "versions", "machine"):  # a document keeps its own
                    if document.get(key):
                        writer.document[key] = document[key]
                for record in records:
                    writer.add(_as_arrays(record))
                writer.finish(str(document.get("status") or "complete"))
                write(writer.document, staged, charts=charts, function=function)
            except BaseException:
                # unlike a race (whose finished runs are kept), a failed build leaves nothing
                _empty(staged)
                raise
    except BaseException:
        if fresh and target.is_dir() and not results_module.holds_report(target):
            shutil.rmtree(target, ignore_errors=True)
        raise


def _empty(directory: Path) -> None:
    """Remove what ``directory`` holds (it stays, empty)."""
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def build(
    runs: Any,
    out: str | os.PathLike,
    *,
    title: str | None = None,
    problem: Any = None,
    description: str | None = None,
    charts: bool = True,
    force: bool = False,
) -> Path:
    """Write the report of runs made in Python into the directory ``out``.

    ``out`` gets what ``gdlab race --out DIR`` writes: ``results.json``,
    ``results.csv``, ``params/`` for large final parameters, ``figures/`` and
    ``index.html`` (the same writer, figures and page).

    Args:
        runs: the records :func:`gdlab.race.race` returned (a list of dicts);
            a results document (a dict with ``runs``, e.g. a ``results.json``
            read back: written again as it is); a :class:`~gdlab.train.History`;
            or a dict ``label → History`` or ``label → (optimizer, History)``
            (with the optimizer the page shows its update rule and
            hyperparameters).
        out: the report's directory: new or empty (else ``force=True``
            replaces it once the new report is complete).
        title: the page's title (default: the document's, the experiment's,
            or the runs and the problem: ``"SGD and Adam on x²/20 + y²"``).
        problem: what the runs trained on (needed for records and histories
            unless ``runs`` is a document): the
            :class:`~gdlab.experiments.Experiment` that ran, a built problem,
            a :class:`~gdlab.functions2d.Function2D` (one's own too), or a
            results ``problem`` block.
        description: a paragraph for the page (default: the experiment's words).
        charts: the page's interactive charts (``False``: images only).
        force: replace the report that ``out`` holds (only a report: see
            :func:`gdlab.results.checked_out`).

    Returns:
        The path of ``out/index.html``.

    Raises:
        TypeError: ``runs`` or ``problem`` is not one of the kinds above.
        ValueError: records or histories without a ``problem``.
        gdlab._io.OutputError: ``out`` holds a report and ``force`` is false, or holds
            what is not a report.
    """
    block, experiment, built, own = _problem(problem)
    document, records, block = _document_and_records(runs, block, built)
    if not records and not document.get("series"):
        raise ValueError("nothing to report: no runs (and no series)")
    table = _problem_table(built, own) if experiment is None else None
    header = _header(document, records, block, experiment, title, description, table)
    _write(out, header, document, records, charts=charts, force=force, function=own)
    return Path(out) / "index.html"
