"""What a tuned race's report says of its tuning, in one place for the page and the figure.

A tuned race's ``series`` block (``series.kind == "tuning"``, made by
:func:`gdlab.tuning.series` from a ``tune.json``) holds the tuning's metric,
folds, budget and configurations; it may also hold tune.json's own words for the
validation (``validation``), the selection (``selected_by``) and the search
(``method``). These functions say exactly what was done: where a word is not
recorded it is derived from what is (a 2-D function is scored by its final
loss, one fold is a 20% hold-out, K folds are K-fold cross-validation), and a
search method that is not recorded is said to be so, never guessed.

>>> series = {"kind": "tuning", "metric": "validation loss", "folds": 3, "budget": 4,
...           "method": "grid",
...           "configurations": {"SGD": {"tuned": ["lr"], "default_in_grid": False}}}
>>> validation(series)
'3-fold cross-validation of the training set'
>>> search(series)
'a grid of 4 learning rates on a log scale per configuration, besides its default'
>>> del series["configurations"]["SGD"]["default_in_grid"]  # not recorded, no points
>>> search(series).endswith("tried too (among the points or besides them: not recorded)")
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gdlab._text import exact_value, validation_words
from gdlab.report.figures import is_function2d

__all__ = [
    "argument",
    "column_name",
    "edges",
    "is_function",
    "search",
    "selected_by",
    "tuned_names",
    "validation",
    "value_text",
    "within_words",
]


def is_function(series: Mapping[str, Any], results: Mapping[str, Any] | None = None) -> bool:
    """Whether the tuning scored a 2-D function (its final loss: no data, no folds): the
    problem's traits say (a built-in function or one typed in); without a problem, the
    metric does."""
    problem = (results or {}).get("problem")
    if isinstance(problem, Mapping) and problem.get("traits") is not None:
        return is_function2d(problem)
    return series.get("metric") == "final loss"


def validation(series: Mapping[str, Any], results: Mapping[str, Any] | None = None) -> str:
    """How each candidate was scored, as tune.json words it."""
    recorded = series.get("validation")
    if isinstance(recorded, str) and recorded:
        return recorded
    return validation_words(not is_function(series, results), series.get("folds"))


def selected_by(series: Mapping[str, Any]) -> str | None:
    """What the best candidate was chosen by, where the results record it."""
    recorded = series.get("selected_by")
    return recorded if isinstance(recorded, str) and recorded else None


def tuned_names(series: Mapping[str, Any]) -> list[str]:
    """Every hyperparameter some configuration tuned, lr first, then in the order met."""
    names: list[str] = []
    for c in (series.get("configurations") or {}).values():
        if not isinstance(c, Mapping):
            continue
        own = c.get("tuned")
        if not isinstance(own, Sequence) or isinstance(own, str):
            best = c.get("best") or {}
            own = list((best.get("hyperparameters") or {"lr": None}).keys())
        names += [str(n) for n in own if str(n) not in names]
    return sorted(names, key=lambda n: n != "lr") or ["lr"]


def argument(configuration: Mapping[str, Any], name: str) -> str:
    """The constructor argument under which ``configuration`` holds its tuned ``name``
    (``decay`` is RMSprop's ``alpha``, Adadelta's ``rho``; most names are their own):
    :func:`gdlab.tuning.tuned_arguments`."""
    from gdlab.tuning import tuned_arguments

    return tuned_arguments(configuration).get(name, name)


def column_name(series: Mapping[str, Any], name: str) -> str:
    """A tuned name as ``--tune`` gave it, with the arguments it set where those are
    others: ``decay (alpha / rho)`` for RMSprop's and Adadelta's decay."""
    arguments: list[str] = []
    for c in (series.get("configurations") or {}).values():
        if isinstance(c, Mapping) and name in (c.get("tuned") or [name]):
            found = argument(c, name)
            arguments += [found] if found not in arguments else []
    others = [a for a in arguments if a != name]
    return f"{name} ({' / '.join(arguments)})" if others else name


def edges(configuration: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The tuned names whose best is at a hard bound, and those still at the edge of the
    values tried when widening stopped after its rounds: :func:`gdlab.tuning.edges`."""
    from gdlab.tuning import edges as tuned_edges

    return tuned_edges(configuration)


def within_words(series: Mapping[str, Any], metric: str = "validation loss") -> str:
    """What "within 10%" measured: the score that chose, on either side of the chosen
    setting's (``within_10_percent_by``); a tuning from before it was recorded counted
    the validation loss up to 10% above the chosen one's."""
    by = {
        c.get("within_10_percent_by")
        for c in (series.get("configurations") or {}).values()
        if isinstance(c, Mapping)
    }
    if by == {"accuracy"}:
        return "validation accuracy came within 10% of the chosen setting's, above or below"
    if by == {"loss"}:
        return f"{metric} came within 10% of the chosen setting's, above or below"
    return f"{metric} came within 10% of the chosen setting's"


def _method(series: Mapping[str, Any]) -> str | None:
    method = series.get("method")
    return method if isinstance(method, str) else None


def search(series: Mapping[str, Any]) -> str:
    """The search and its budget: ``a grid of 4 learning rates on a log scale …``."""
    budget = series.get("budget", "?")
    names = tuned_names(series)
    several = len(names) > 1
    method = _method(series)
    if method == "grid" and names == ["lr"]:
        text = f"a grid of {budget} learning rates on a log scale per configuration"
    elif method == "grid" and not several:
        text = (
            f"a grid of {names[0]} per configuration: {budget} log-spaced values if it is "
            f"continuous (eps, weight decay), at most {budget} of its listed values otherwise"
        )
    elif method == "grid":
        text = (
            f"a grid of at most {budget} points per configuration, whatever the number of "
            "hyperparameters it tunes: each gets a share (lr first; 4 rates × 2 values at 8, "
            "2 × 2 × 2 for three), log-spaced for a continuous one (lr, eps, weight decay), "
            "spread over the listed values, ends first, for the others"
        )
    elif method == "random":
        text = f"random search: {budget} random draws per configuration (rates log-uniform)"
    elif method == "tpe":
        text = f"Optuna's TPE: {budget} draws per configuration, each guided by those before"
    else:
        text = f"a search of budget {budget} per configuration (its method is not recorded here)"
    text += _default_words(series)
    widened = [
        str(label)
        for label, c in (series.get("configurations") or {}).items()
        if isinstance(c, Mapping) and isinstance(c.get("widened"), int) and c["widened"] > 0
    ]
    if widened:
        text += (
            f" (widened past the first range while the best lay at its edge: {', '.join(widened)})"
        )
    return text


def _default_words(series: Mapping[str, Any]) -> str:
    """Whether each configuration's default is one of its grid's points (boston's 0.01 is
    one of 0.001 … 1: the grid tried ``budget`` points) or tried besides them (``budget``
    + 1): ``, including its default`` or ``, besides its default``. Where a tuning does
    not say (one from before ``default_in_grid`` was recorded, whose points cannot tell:
    a widened grid, several names), the words say only that the default was tried."""
    configurations = series.get("configurations") or {}
    flags = {str(k): _default_in_grid(series, c) for k, c in configurations.items()}
    among = [k for k, f in flags.items() if f]
    if any(f is None for f in flags.values()):
        if among:  # the others' not recorded
            return f", its default tried too (one of the grid's points for {', '.join(among)})"
        return ", its default tried too (among the points or besides them: not recorded)"
    if among and len(among) == len(flags):
        return ", including its default"
    if among:
        return f", besides its default where it is not one of them (it is for {', '.join(among)})"
    return ", besides its default"


def _default_in_grid(series: Mapping[str, Any], configuration: Any) -> bool | None:
    """Whether the configuration's default was one of its grid's points: its recorded
    ``default_in_grid``, else told from the count of its points where they can tell
    (one name, lr, and no widening: ``budget`` points, or ``budget`` + 1 with the
    default besides them); ``None`` where nothing tells."""
    if not isinstance(configuration, Mapping):
        return None
    if isinstance(configuration.get("default_in_grid"), bool):
        return configuration["default_in_grid"]
    method = _method(series)
    if method in ("random", "tpe"):
        return False  # draws, the default besides them
    budget, points = series.get("budget"), configuration.get("points")
    if (
        method != "grid"
        or tuned_names(series) != ["lr"]
        or not isinstance(budget, int)
        or configuration.get("widened")  # its widened points are not told apart
        or not isinstance(points, Sequence)
    ):
        return None
    return {budget: True, budget + 1: False}.get(len(points))


#: A tuned value with every digit, as the race ran it (``0.1543439757117908``).
value_text = exact_value
