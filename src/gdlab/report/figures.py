"""Figures drawn from a ``results.json`` document (schema ``gdlab.results/1``).

:func:`draw` looks at a results document (``docs/results.md``), picks every
figure that fits it, and saves each one twice, ``figures/<name>.png`` and
``figures/<name>.svg``, under the output directory. Which figures:

==============================  ==============================================
document                        figures
==============================  ==============================================
``problem.kind == "function"``  ``paths`` (contours of f and each group's path,
                                seed 001's 2×3 grid), ``loss`` (f per step, log
                                y), ``lr`` (only if a run's lr changes)
``linreg``, ``logreg``, ``mlp``  ``loss`` (raw and smoothed, mean and band over
                                seeds), ``accuracy`` (when evaluations hold
                                accuracies), ``lr`` (when a run's lr changes or
                                groups differ in lr), ``boundary`` (when runs
                                hold a decision-boundary grid)
``series.kind == "schedules"``  ``schedules`` (lr against step, formulas)
``series.kind == "ewma"``       ``ewma`` (daily values and their averages)
``series.kind == "init"``       ``init`` (activation histograms), or
                                ``init-<activation>`` per activation when
                                there are more than six cases
==============================  ==============================================

Each figure also has its own function returning a matplotlib ``Figure``
(:func:`paths_figure`, :func:`loss_figure`, ...), so it can be drawn, shown
or tested alone. Runs with the same ``group`` make one curve; each group keeps
one colour (tab10, in run order) in every figure of a report
(:func:`group_colors`).

matplotlib is imported inside the drawing functions only (``import
gdlab.report.figures`` stays light), and never through ``pyplot``: figures are
``matplotlib.figure.Figure`` objects on an Agg canvas, so no global figure
state is touched. They are drawn with matplotlib's default style (a user's
``matplotlibrc`` does not leak in) and saved without dates (SVG
``metadata={"Date": None}`` and a fixed ``svg.hashsalt``), so the same results
give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdlab import functions2d
from gdlab._checks import check_choice, check_int, check_real, fail
from gdlab._io import atomic_write
from gdlab._text import slug
from gdlab.averages import effective_window, ewma
from gdlab.results import SCHEMA_ID, series_stride

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "SERIES_KINDS",
    "TAB10",
    "accuracy_figure",
    "boundary_figure",
    "draw",
    "ewma_figure",
    "figure_names",
    "group_colors",
    "init_figure",
    "loss_figure",
    "lr_figure",
    "paths_figure",
    "schedules_figure",
    "smooth",
]

SERIES_KINDS = ("schedules", "ewma", "init", "tuning")

# matplotlib's "tab10" colours, written out so that choosing them needs no matplotlib.
TAB10 = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip

PNG_DPI = 120
SVG_HASHSALT = "gdlab.report"  # fixed salt: SVG element ids are the same on every save
RAW_ALPHA = 0.25  # the raw per-step loss, drawn faint under its smoothed curve
BAND_ALPHA = 0.2
PATH_COLOR = "red"  # seed 001 draws every path in red
SMOOTH_BETA = 0.9
LOSS_TOP_QUANTILE = 0.99  # the loss figure's y-axis ends just above this quantile
INIT_SPLIT_CASES = 6  # more init cases than this: one figure per activation
ACCURACY_STYLES = {"train_accuracy": "-", "val_accuracy": ":", "test_accuracy": "--"}
ACCURACY_NAMES = {"train_accuracy": "train", "val_accuracy": "validation", "test_accuracy": "test"}

_RC = {
    "svg.hashsalt": SVG_HASHSALT,
    "svg.fonttype": "path",  # glyphs as paths: the SVG looks the same without the fonts
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 10,
}


# --- smoothing -----------------------------------------------------------------------


def smooth(values: Sequence[float] | np.ndarray, beta: float = SMOOTH_BETA) -> np.ndarray:
    """A loss curve smoothed by a bias-corrected exponentially weighted average.

    ::

        v_0 = 0
        v_t = beta * v_{t-1} + (1 - beta) * loss_t
        smoothed_t = v_t / (1 - beta**t)

    This is :func:`gdlab.averages.ewma` with ``bias_correction=True`` (seed
    004): it averages over roughly ``1 / (1 - beta)`` recent steps (10 for the
    default 0.9), starts at the first value instead of near 0, and is causal:
    step ``t`` uses steps ``1..t`` only, so a curve cut short by divergence
    stays honest up to its end.

    It is *not* the book's ``smooth_curve`` (seed 001's MNIST race, from
    *Deep Learning from Scratch*'s ``common/util.py``), which convolves the
    curve with a centred 11-point Kaiser window after reflecting its ends:
    that window looks 5 steps ahead and smooths less (about 11 steps, evenly
    around the point).

    Args:
        values: the per-step values (finite real numbers); may be empty.
        beta: decay factor in ``[0, 1)``; default 0.9. ``beta = 0`` returns
            the values unchanged.

    Returns:
        A float64 array of the same length.

    >>> smooth([1.0, 1.0, 1.0]).tolist()
    [1.0, 1.0, 1.0]
    >>> smooth([4.0, 2.0], beta=0.5).round(4).tolist()
    [4.0, 2.6667]
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        fail("values", "a 1-D sequence of numbers", arr.shape)
    if arr.size == 0:
        return np.empty(0)
    return ewma(arr, beta, bias_correction=True)


# --- reading a results document --------------------------------------------------


def _problem(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``results["problem"]`` with a checked ``kind``; ``None`` if there is none."""
    problem = results.get("problem")
    if problem is None:
        return None
    if not isinstance(problem, Mapping):
        fail("results['problem']", "a dict", problem, kind=TypeError)
    if not isinstance(problem.get("kind"), str):
        fail("problem.kind", "a problem kind's name", problem.get("kind"), kind=TypeError)
    return problem


def is_function2d(problem: Mapping[str, Any] | None) -> bool:
    """Whether the problem is a 2-D function (its paths go on contours): its traits say."""
    return problem is not None and "function2d" in (problem.get("traits") or ())


def _series(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``results["series"]`` with a checked ``kind``; ``None`` if there is none."""
    series = results.get("series")
    if series is None:
        return None
    if not isinstance(series, Mapping):
        fail("results['series']", "a dict", series, kind=TypeError)
    check_choice("series.kind", series.get("kind"), SERIES_KINDS)
    return series


def _runs(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    runs = results.get("runs") or []
    if not isinstance(runs, list | tuple) or not all(isinstance(r, Mapping) for r in runs):
        fail("results['runs']", "a list of run dicts", runs, kind=TypeError)
    return list(runs)


def _group_name(run: Mapping[str, Any]) -> str:
    return str(run.get("group") or run.get("label") or run.get("id") or "run")


def _groups(runs: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Runs by group, groups in the order of their first run."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(_group_name(run), []).append(run)
    return groups


def group_colors(runs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """One colour per group, tab10 in the order groups first appear (cycling after 10).

    Every figure of a report takes its colours from here, so a group has the
    same colour everywhere.

    >>> group_colors([{"group": "SGD"}, {"group": "Adam"}, {"group": "SGD"}])
    {'SGD': '#1f77b4', 'Adam': '#ff7f0e'}
    """
    return {name: TAB10[i % len(TAB10)] for i, name in enumerate(_groups(runs))}


def _floats(values: Any) -> np.ndarray:
    """A list of numbers as a float64 array (``None`` or missing: empty)."""
    if values is None:
        return np.empty(0)
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _diverged(run: Mapping[str, Any]) -> bool:
    return run.get("status") == "diverged"


def _steps(run: Mapping[str, Any], count: int) -> np.ndarray:
    """The steps of ``count`` per-step values of ``run``: ``0, stride, 2 * stride, …``
    (a long run keeps every ``stride``-th value inline; stride 1 otherwise)."""
    return np.arange(count) * series_stride(run)


def _diverged_at(run: Mapping[str, Any]) -> int:
    """The step a diverged run stopped at: ``stopped_at``, else where its losses end."""
    step = run.get("stopped_at")
    if isinstance(step, int) and not isinstance(step, bool):
        return step
    return len(run.get("loss") or []) * series_stride(run)


def _divergence_note(runs: Sequence[Mapping[str, Any]]) -> str:
    """``" (diverged at step 12)"``, ``" (1 of 3 diverged at step 12)"`` or ``""``."""
    steps = sorted({_diverged_at(r) for r in runs if _diverged(r)})
    if not steps:
        return ""
    count = sum(_diverged(r) for r in runs)
    where = f"step {steps[0]}" if len(steps) == 1 else f"steps {', '.join(map(str, steps))}"
    if count == len(runs):
        return f" (diverged at {where})"
    return f" ({count} of {len(runs)} diverged at {where})"


def _lr_text(run: Mapping[str, Any]) -> str:
    """``"lr=0.95"`` from the hyperparameters, ``"lr0=0.1"`` for a schedule, else ``""``."""
    lr = (run.get("hyperparameters") or {}).get("lr")
    if isinstance(lr, int | float) and not isinstance(lr, bool):
        return f"lr={lr:g}"
    lrs = run.get("lr") or []
    if lrs:
        return f"lr0={lrs[0]:g}"
    return ""


def _run_title(run: Mapping[str, Any]) -> str:
    """The run's label with its lr (unless the label already shows one)."""
    label = str(run.get("label") or _group_name(run))
    lr = _lr_text(run)
    if lr and "lr" not in label.lower():
        label = f"{label} ({lr})"
    return label


def _has_paths(runs: Sequence[Mapping[str, Any]]) -> bool:
    return any(run.get("path") for run in runs)


def _accuracy_keys(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The accuracy keys any evaluation holds, as train, validation, test."""
    found = {
        key
        for run in runs
        for entry in run.get("epochs") or []
        for key in ACCURACY_STYLES
        if entry.get(key) is not None
    }
    return [key for key in ACCURACY_STYLES if key in found]


def _lr_varies(run: Mapping[str, Any]) -> bool:
    lr = _floats(run.get("lr"))
    return lr.size > 1 and bool(np.ptp(lr) > 1e-12 * np.max(np.abs(lr)))


def _wants_lr_figure(runs: Sequence[Mapping[str, Any]], *, across_groups: bool) -> bool:
    """A run's lr changes, or (``across_groups``) the groups' constant lrs differ."""
    if any(_lr_varies(run) for run in runs):
        return True
    if not across_groups:
        return False
    firsts = {float(run["lr"][0]) for run in runs if run.get("lr")}
    return len(firsts) > 1


def _boundary_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The first run holding a ``boundary`` in each group that has one."""
    found: dict[str, Mapping[str, Any]] = {}
    for run in runs:
        if run.get("boundary") and _group_name(run) not in found:
            found[_group_name(run)] = run
    return found


def _init_splits(series: Mapping[str, Any]) -> list[str | None]:
    """``[None]`` for one ``init`` figure, else the activations, one figure each."""
    cases = series.get("cases") or []
    activations = list(dict.fromkeys(str(case.get("activation")) for case in cases))
    if len(cases) > INIT_SPLIT_CASES and len(activations) > 1:
        return activations
    return [None]


# --- the plan: which figures, with titles and captions ---------------------------


@dataclass(frozen=True)
class _Plan:
    name: str
    title: str
    caption: str
    make: Callable[[], Figure]


def _plan(results: Mapping[str, Any]) -> list[_Plan]:
    if not isinstance(results, Mapping):
        fail("results", "a dict (a results.json document)", results, kind=TypeError)
    schema = results.get("schema")
    if schema is not None and schema != SCHEMA_ID:
        fail("results['schema']", repr(SCHEMA_ID), schema)
    problem = _problem(results)
    series = _series(results)
    runs = _runs(results)
    if runs and problem is None:
        fail("results['problem']", "a dict with 'kind' when there are runs", None)

    plans: list[_Plan] = []
    if runs and problem is not None:
        plans += _run_plans(results, problem, runs)
    if series is not None:
        plans += _series_plans(results, series)
    return plans


def _run_plans(
    results: Mapping[str, Any], problem: Mapping[str, Any], runs: list[Mapping[str, Any]]
) -> list[_Plan]:
    plans: list[_Plan] = []
    diverged = any(_diverged(r) for r in runs)
    marked = " A diverged run stops at its last finite value, marked ×." if diverged else ""
    seeds = any(len(g) > 1 for g in _groups(runs).values())
    if is_function2d(problem):
        fn = _function_of(problem)
        if _has_paths(runs):
            plans.append(
                _Plan(
                    "paths",
                    f"Paths on {fn.description}",
                    "Contour lines of f with the path of each group's first run (red, a "
                    "marker at each step) from the start point; + marks the minimum. Axes "
                    "keep the function's range, so a path that leaves it is cut at the edge.",
                    lambda: paths_figure(results),
                )
            )
        plans.append(
            _Plan(
                "loss",
                "f(x, y) per step",
                "The value of f at each step (before that step's update), log scale "
                "(symmetric log where f goes negative)." + marked,
                lambda: loss_figure(results),
            )
        )
        if _wants_lr_figure(runs, across_groups=False):
            plans.append(
                _Plan(
                    "lr",
                    "Learning rate per step",
                    "The learning rate each step used, log scale.",
                    lambda: lr_figure(results),
                )
            )
        return plans

    window = effective_window(SMOOTH_BETA)
    caption = (
        "Training loss per step (the batch loss before each update). Faint: the raw loss; "
        f"solid: smoothed with a bias-corrected exponentially weighted average "
        f"(β = {SMOOTH_BETA:g}, about {window:.0f} steps)."
    )
    if seeds:
        spread = (
            "one standard deviation either side of the mean"
            if _band(results) == "std"
            else "the lowest to the highest smoothed curve (min–max)"
        )
        caption += (
            " A group with several seeds shows the mean over its seeds (at each step, those "
            f"that reached it) and a shaded band from {spread}; a seed that diverged is left "
            "out of both and drawn alone, thin."
        )
    caption += (
        " The y-axis starts at 0 and ends just above the 99th percentile of the smoothed "
        "curves, so early spikes may be cut off." + marked
    )
    plans.append(_Plan("loss", "Training loss", caption, lambda: loss_figure(results)))

    keys = _accuracy_keys(runs)
    if keys:
        styles = ", ".join(f"{ACCURACY_NAMES[k]} {_STYLE_WORDS[ACCURACY_STYLES[k]]}" for k in keys)
        plans.append(
            _Plan(
                "accuracy",
                "Accuracy",
                f"Accuracy at each evaluation against the step ({styles}); with several "
                "seeds, the mean over the seeds that did not diverge (a diverged seed is "
                "drawn alone, thin).",
                lambda: accuracy_figure(results),
            )
        )
    if _wants_lr_figure(runs, across_groups=True):
        plans.append(
            _Plan(
                "lr",
                "Learning rate per step",
                "The learning rate each step used (each group's first run), log scale.",
                lambda: lr_figure(results),
            )
        )
    if _boundary_runs(runs):
        plans.append(
            _Plan(
                "boundary",
                "Decision boundaries",
                "P(class 1) over the input plane for each group's first run (colour), the "
                "0.5 contour (the decision boundary, black) and the training points "
                "coloured by class.",
                lambda: boundary_figure(results),
            )
        )
    return plans


_STYLE_WORDS = {"-": "solid", "--": "dashed", ":": "dotted"}


def _series_plans(results: Mapping[str, Any], series: Mapping[str, Any]) -> list[_Plan]:
    kind = series["kind"]
    if kind == "tuning":
        return [
            _Plan(
                "sensitivity",
                "Learning-rate sensitivity",
                "The tuning behind this race: each configuration's mean "
                f"{series.get('metric', 'validation loss')} "
                f"over {series.get('folds', '?')} folds against the learning rate (log scale), "
                "with a band of ± one standard deviation across the folds; a star marks the rate "
                "chosen, an x a rate at which some fold diverged. A flat, wide valley means the "
                "optimizer is not sensitive to its learning rate.",
                lambda: sensitivity_figure(results),
            )
        ]
    if kind == "schedules":
        spe = series.get("steps_per_epoch")
        note = f" The top axis counts epochs ({spe} steps each)." if spe else ""
        return [
            _Plan(
                "schedules",
                "Learning-rate schedules",
                "The learning rate of each schedule against the step; the legend gives "
                "its formula." + note,
                lambda: schedules_figure(results),
            )
        ]
    if kind == "ewma":
        unit = series.get("unit") or ""
        return [
            _Plan(
                "ewma",
                "Exponentially weighted averages",
                f"Daily values{f' ({unit})' if unit else ''} as faint dots and their "
                "exponentially weighted averages: solid with bias correction v_t/(1 − β^t), "
                "dashed without (pulled toward v_0 = 0 at the start). β averages over about "
                "1/(1 − β) days.",
                lambda: ewma_figure(results),
            )
        ]
    plans = []
    what = (
        f"Activations of a {series.get('layers', '?')}-layer network with "
        f"{series.get('units', '?')} units per layer on {series.get('samples', '?')} random "
        "inputs: a histogram of each layer's outputs (columns) for each initialisation (rows); "
        "the rows share their y-axis."
    )
    used: set[str] = set()
    for activation in _init_splits(series):
        if activation is None:
            plans.append(_Plan("init", "Activation histograms", what, lambda: init_figure(results)))
        else:
            name = f"init-{slug(activation)}"
            while name in used:  # two activations with one slug ("ReLU", "relu")
                name += "-2"
            used.add(name)
            plans.append(
                _Plan(
                    name,
                    f"Activation histograms, {activation}",
                    what,
                    lambda a=activation: init_figure(results, activation=a),
                )
            )
    return plans


def figure_names(results: Mapping[str, Any]) -> list[str]:
    """The names of the figures :func:`draw` would draw, without drawing them.

    Raises:
        ValueError: an unknown ``problem.kind`` or ``series.kind`` (named), or
            runs without a problem.
        TypeError: ``results`` (or a part of it) is not the right kind of value.

    >>> figure_names({"runs": [], "series": {"kind": "ewma", "values": [], "curves": []}})
    ['ewma']
    """
    return [plan.name for plan in _plan(results)]


# --- drawing helpers ------------------------------------------------------------


@contextmanager
def _style() -> Iterator[None]:
    """matplotlib's default style plus gdlab's fonts and a fixed SVG hash salt."""
    import matplotlib
    import matplotlib.style

    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        yield


def _new_figure(width: float, height: float) -> Figure:
    """A ``Figure`` on its own Agg canvas (no pyplot), with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(fig: Figure, n: int) -> list[Axes]:
    """``n`` axes in ⌈n/3⌉ rows of up to 3; unused cells are removed."""
    cols = min(n, 3)
    rows = math.ceil(n / 3)
    axes = list(np.asarray(fig.subplots(rows, cols, squeeze=False)).ravel())
    for ax in axes[n:]:
        ax.remove()
    return axes[:n]


def _grid_size(n: int, cell: tuple[float, float]) -> tuple[float, float]:
    return cell[0] * min(n, 3), cell[1] * math.ceil(n / 3) + 0.3


def _save(fig: Figure, directory: Path, name: str) -> None:
    """``<name>.png`` and ``<name>.svg`` in ``directory``, each written atomically.

    The constrained layout is computed once and then frozen, so the two files
    share it and the second save does not pay for it again.
    """
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    with _style():
        engine = fig.get_layout_engine()
        if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
            engine.execute(fig)
            fig.set_layout_engine("none")
        atomic_write(
            directory / f"{name}.png",
            lambda fh: fig.savefig(fh, format="png", dpi=PNG_DPI),  # no date in PNG metadata
        )
        atomic_write(
            directory / f"{name}.svg",
            lambda fh: fig.savefig(fh, format="svg", metadata={"Date": None}),
        )


def _function_of(problem: Mapping[str, Any]) -> functions2d.Function2D:
    block = problem.get("function") or {}
    return functions2d.get(block.get("name") or problem.get("name"))


def _range(block: Mapping[str, Any], key: str, default: Sequence[float]) -> tuple[float, float]:
    lo, hi = block.get(key) or default
    return float(lo), float(hi)


def _contour_levels(z: np.ndarray, count: int) -> np.ndarray | None:
    """``count`` levels at quantiles of ``z``, denser near the minimum.

    Quantiles adapt to any function (a bowl, Rosenbrock's banana, Beale's
    cliffs) where evenly spaced levels crowd into the steep walls; squaring
    the probabilities puts more of them near the lowest values.
    """
    finite = z[np.isfinite(z)]
    if finite.size == 0 or finite.min() == finite.max():
        return None
    p = (np.arange(1, count + 1) / (count + 1)) ** 2
    levels = np.unique(np.quantile(finite, p))
    return levels if levels.size >= 2 else None


def _mark_end(
    ax: Axes, x: float, y: float, color: str, top: float | None = None, size: float = 7
) -> None:
    """An ``x`` where a diverged run stops (held at ``top`` if above it, so it stays seen)."""
    clip = True
    if top is not None and y > top:
        y, clip = top, False
    ax.plot([x], [y], "x", color=color, markersize=size, markeredgewidth=1.8, clip_on=clip)


def _stack(
    curves: Sequence[np.ndarray], band: str = "minmax"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and a band over curves of different lengths (each step: the curves that reach it).

    ``band="minmax"``: the lowest and highest curve; ``"std"``: mean ± one
    standard deviation (population, over the curves at that step).
    """
    length = max(len(c) for c in curves)
    table = np.full((len(curves), length), np.nan)
    for i, curve in enumerate(curves):
        table[i, : len(curve)] = curve
    mean = np.nanmean(table, axis=0)
    if band == "std":
        std = np.nanstd(table, axis=0)
        return mean, mean - std, mean + std
    return mean, np.nanmin(table, axis=0), np.nanmax(table, axis=0)


def _band(results: Mapping[str, Any]) -> str:
    """A tuned race (it carries its tuning) shows mean ± std; others min–max."""
    series = results.get("series") or {}
    return "std" if series.get("kind") == "tuning" else "minmax"


def _split_diverged(
    runs: Sequence[Mapping[str, Any]], has_data: Sequence[bool]
) -> tuple[list[int], list[int]]:
    """Indices of the runs to average and of the diverged runs to draw alone.

    A group's mean and band cover its runs that did not diverge, so one
    blown-up seed does not drag the curve; its diverged runs are drawn one by
    one. If every run diverged, they are all averaged. Runs without data are left out.
    """
    kept = [i for i, run in enumerate(runs) if has_data[i] and not _diverged(run)]
    alone = [i for i, run in enumerate(runs) if has_data[i] and _diverged(run)]
    return (kept, alone) if kept else (alone, [])


def _legend(ax: Axes, **kwargs: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, **kwargs)


# --- the figures ---------------------------------------------------------------------


def paths_figure(results: Mapping[str, Any], *, resolution: int = 200, levels: int = 20) -> Figure:
    """Seed 001's contour figure: one subplot per group with its first run's path.

    Contour lines of ``f`` (``problem.function.name`` from
    :mod:`gdlab.functions2d`) over ``problem.function.xlim``/``ylim`` on a
    ``resolution``² grid at ``levels`` quantile levels; the path as red
    ``o-``; ``+`` at the minima; ``x`` at the end of a diverged path. Groups
    are laid out ⌈n/3⌉ × min(n, 3) (2 × 3 for six). The axes keep the
    function's range, so a path that leaves it is clipped.
    """
    resolution = check_int("resolution", resolution, low=2)
    levels = check_int("levels", levels, low=2)
    problem = _problem(results)
    if not is_function2d(problem):
        fail(
            "problem",
            "a 2-D function (traits with 'function2d') for the paths figure",
            (problem or {}).get("kind"),
        )
    runs = _runs(results)
    fn = _function_of(problem)
    block = problem.get("function") or {}
    xlim = _range(block, "xlim", fn.xlim)
    ylim = _range(block, "ylim", fn.ylim)
    minima = block.get("minima", fn.minima) or []
    firsts = [group[0] for group in _groups(runs).values()]
    if not firsts:
        fail("results['runs']", "non-empty for the paths figure", runs)

    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        z = np.asarray(fn.f(grid_x, grid_y), dtype=np.float64)
    contour_levels = _contour_levels(z, levels)

    with _style():
        fig = _new_figure(*_grid_size(len(firsts), (3.6, 2.9)))
        for ax, run in zip(_grid(fig, len(firsts)), firsts, strict=True):
            if contour_levels is not None:
                ax.contour(grid_x, grid_y, z, levels=contour_levels, linewidths=0.7)
            path = np.asarray(run.get("path") or np.empty((0, 2)), dtype=np.float64)
            every = max(1, len(path) // 60)  # long paths: about 60 markers
            if len(path):
                ax.plot(
                    path[:, 0], path[:, 1], "o-", color=PATH_COLOR, lw=1,
                    markersize=4 if every == 1 else 2.5, markevery=every,
                )  # fmt: skip
                if _diverged(run):
                    _mark_end(ax, path[-1, 0], path[-1, 1], "black")
            for point in minima:
                ax.plot([point[0]], [point[1]], "+", color="black", markersize=10, mew=1.5)
            title = _run_title(run)
            if _diverged(run):
                title += f"\ndiverged at step {_diverged_at(run)}"
            ax.set_title(title)
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
    return fig


def loss_figure(
    results: Mapping[str, Any], *, beta: float = SMOOTH_BETA, log: bool | None = None
) -> Figure:
    """Loss per step, one colour per group.

    For a 2-D function: ``f`` at each step of every run, log y-axis
    (symmetric log, linear within the runs' typical ``|f(start)|``, when
    ``f`` goes negative, as on a saddle). For a data problem: each group's
    raw per-step loss faint (alpha 0.25) and its :func:`smooth` curve solid in
    the same colour; a group with several seeds shows the mean of the raw
    curves, the mean of the smoothed curves and a min–max band of the
    smoothed curves (each step over the seeds that reach it), leaving out
    seeds that diverged (drawn alone, thin) unless all did.
    The y-axis runs from 0 to 5% above the 99th percentile of all the smoothed
    values (an early spike does not flatten the rest), linear unless
    ``log=True``.

    A diverged run is drawn up to its last value, marked ``x``, and its group's
    legend label says where it diverged; a group with no loss at all (it
    diverged at step 0) still gets its legend entry.

    A long run (with a ``series`` block) holds every ``stride``-th step's loss
    inline: it is drawn at those steps, and smoothed over those values.
    """
    check_real("beta", beta, low=0, high=1, high_open=True)
    problem = _problem(results)
    runs = _runs(results)
    colors = group_colors(runs)
    groups = _groups(runs)
    function = is_function2d(problem)

    with _style():
        fig = _new_figure(6.4, 4.0)
        ax = fig.subplots()
        if function:
            _function_losses(ax, groups, colors, log=True if log is None else log)
        else:
            _data_losses(ax, groups, colors, beta=beta, log=bool(log), band=_band(results))
        ax.set_xlabel("step")
        ax.set_title("f(x, y) per step" if function else "Training loss")
        _legend(ax, loc="best")
    return fig


def _function_losses(
    ax: Axes, groups: Mapping[str, list[Mapping[str, Any]]], colors: Mapping[str, str], log: bool
) -> None:
    values = []
    for name, runs in groups.items():
        label = name + _divergence_note(runs)
        for i, run in enumerate(runs):
            loss = _floats(run.get("loss"))
            values.append(loss)
            steps = _steps(run, len(loss))
            marker = "o" if len(loss) <= 60 else None
            ax.plot(
                steps, loss, color=colors[name], marker=marker, markersize=2.5, lw=1.2,
                label=label if i == 0 else None,
            )  # fmt: skip
            if _diverged(run) and len(loss):
                _mark_end(ax, steps[-1], loss[-1], colors[name])
    every = np.concatenate(values) if values else np.empty(0)
    if log and every.size and every.max() > 0 and every.min() >= 0:
        ax.set_yscale("log", nonpositive="mask")
    elif log and every.size and every.min() < 0:  # unbounded below (a saddle): symmetric log
        starts = [abs(v[0]) for v in values if v.size and v[0] != 0]
        ax.set_yscale("symlog", linthresh=float(np.median(starts)) if starts else 1.0)
    ax.set_ylabel("f(x, y)")


def _group_losses(
    ax: Axes,
    name: str,
    runs: Sequence[Mapping[str, Any]],
    color: str,
    raws: list[np.ndarray],
    smooths: list[np.ndarray],
    band: str,
) -> None:
    """One group's loss: a run's raw and smoothed curves, or the seeds' mean and band."""
    label = name + _divergence_note(runs)
    kept, alone = _split_diverged(runs, [raw.size > 0 for raw in raws])
    if not kept:
        ax.plot([], [], color=color, lw=1.6, label=label)
        return
    if len(kept) == 1:
        raw, curve = raws[kept[0]], smooths[kept[0]]
        steps = _steps(runs[kept[0]], len(raw))
        ax.plot(steps, raw, color=color, alpha=RAW_ALPHA, lw=0.8)
        ax.plot(steps, curve, color=color, lw=1.6, label=label)
    else:
        members = [runs[i] for i in kept]
        stride, kept_raws = _on_grid(members, [raws[i] for i in kept])
        _, kept_smooths = _on_grid(members, [smooths[i] for i in kept])
        raw_mean, _, _ = _stack(kept_raws)
        mean, low, high = _stack(kept_smooths, band)
        steps = np.arange(len(mean)) * stride
        ax.plot(steps, raw_mean, color=color, alpha=RAW_ALPHA, lw=0.8)
        ax.fill_between(steps, low, high, color=color, alpha=BAND_ALPHA, lw=0)
        ax.plot(steps, mean, color=color, lw=1.6, label=label)
    for i in alone:
        ax.plot(_steps(runs[i], len(smooths[i])), smooths[i], color=color, lw=0.9, alpha=0.8)


def _on_grid(
    runs: Sequence[Mapping[str, Any]], curves: Sequence[np.ndarray]
) -> tuple[int, list[np.ndarray]]:
    """``(stride, curves)``: the runs' curves at every ``stride``-th step, ``stride`` the
    largest of the runs' strides (curves with another stride are interpolated), so that
    :func:`_stack` lines them up by step."""
    strides = [series_stride(run) for run in runs]
    stride = max(strides, default=1)
    if all(k == stride for k in strides):
        return stride, list(curves)
    out = []
    for k, curve in zip(strides, curves, strict=True):
        steps = np.arange(len(curve)) * k
        grid = np.arange(0, steps[-1] + 1, stride) if len(curve) else np.empty(0)
        out.append(np.interp(grid, steps, curve) if len(curve) else curve)
    return stride, out


def _loss_scale(ax: Axes, smoothed: list[np.ndarray], raw: list[np.ndarray], log: bool) -> Any:
    """A log axis when asked (and positive), else a linear one clipped at a high quantile;
    the top of the linear axis, or ``None``."""
    every = np.concatenate(smoothed) if smoothed else np.empty(0)
    if log:
        if every.size and every.min() > 0:
            ax.set_yscale("log")
        return None
    if not every.size:
        return None
    bottom = min(0.0, float(np.concatenate(raw).min()))
    top = 1.05 * float(np.quantile(every, LOSS_TOP_QUANTILE))
    if top <= bottom:
        return None
    ax.set_ylim(bottom, top)
    return top


def _data_losses(
    ax: Axes,
    groups: Mapping[str, list[Mapping[str, Any]]],
    colors: Mapping[str, str],
    *,
    beta: float,
    log: bool,
    band: str = "minmax",
) -> None:
    smoothed_all: list[np.ndarray] = []
    raw_all: list[np.ndarray] = []
    ends: list[tuple[float, float, str]] = []
    for name, runs in groups.items():
        raws = [_floats(run.get("loss")) for run in runs]
        # A long run's inline loss holds every stride-th step (docs/results.md, "Long
        # runs"): its EWMA runs over those values, so it averages over about
        # stride / (1 - beta) steps. Its whole series is in its series file.
        smooths = [smooth(raw, beta) for raw in raws]
        raw_all += raws
        smoothed_all += smooths
        _group_losses(ax, name, runs, colors[name], raws, smooths, band)
        for run, curve in zip(runs, smooths, strict=True):
            if _diverged(run) and curve.size:
                ends.append(((len(curve) - 1) * series_stride(run), float(curve[-1]), colors[name]))
    top = _loss_scale(ax, smoothed_all, raw_all, log)
    for x, y, color in ends:
        _mark_end(ax, x, y, color, top=top)
    ax.set_ylabel("loss")


def _mean_by_step(
    runs: Sequence[Mapping[str, Any]], key: str, by: str
) -> tuple[list[float], list[float]]:
    """The steps where any of ``runs`` evaluated ``key``, and the mean value there."""
    table: dict[float, list[float]] = {}
    for run in runs:
        for entry in run.get("epochs") or []:
            if entry.get(key) is not None and entry.get(by) is not None:
                table.setdefault(float(entry[by]), []).append(float(entry[key]))
    steps = sorted(table)
    return steps, [float(np.mean(table[step])) for step in steps]


def accuracy_figure(results: Mapping[str, Any]) -> Figure:
    """Accuracy against the step at each evaluation, one colour per group.

    Train solid, validation dotted, test dashed; a group with several seeds
    shows the mean over the seeds evaluated at each step, leaving out seeds
    that diverged (drawn alone, thin) unless all did. Steps come from the
    evaluations' ``step`` (their ``epoch`` if any lacks one).
    """
    from matplotlib.lines import Line2D

    runs = _runs(results)
    keys = _accuracy_keys(runs)
    colors = group_colors(runs)
    entries = [e for run in runs for e in run.get("epochs") or []]
    by = "step" if all(e.get("step") is not None for e in entries) else "epoch"

    with _style():
        fig = _new_figure(6.4, 4.0)
        ax = fig.subplots()
        for name, group in _groups(runs).items():
            has = [
                any(e.get(k) is not None for e in r.get("epochs") or [] for k in keys)
                for r in group
            ]
            kept, alone = _split_diverged(group, has)
            for key in keys:
                curves = [([group[i] for i in kept], 1.4, 1.0)]
                curves += [([group[i]], 0.8, 0.8) for i in alone]
                for members, width, alpha in curves:
                    steps, means = _mean_by_step(members, key, by)
                    if steps:
                        ax.plot(
                            steps, means, ACCURACY_STYLES[key], color=colors[name], lw=width,
                            alpha=alpha, marker="." if len(steps) <= 40 else None,
                        )  # fmt: skip
        handles = [
            Line2D([], [], color=colors[name], lw=1.6, label=name + _divergence_note(group))
            for name, group in _groups(runs).items()
        ]
        handles += [
            Line2D([], [], color="0.3", ls=ACCURACY_STYLES[key], lw=1.4, label=ACCURACY_NAMES[key])
            for key in keys
        ]
        if handles:
            ax.legend(handles=handles, loc="best")
        ax.set_xlabel(by)
        ax.set_ylabel("accuracy")
        ax.set_title("Accuracy")
    return fig


def lr_figure(results: Mapping[str, Any]) -> Figure:
    """The learning rate per step of each group's first run, log y-axis."""
    runs = _runs(results)
    colors = group_colors(runs)
    with _style():
        fig = _new_figure(6.4, 3.6)
        ax = fig.subplots()
        positive = True
        for name, group in _groups(runs).items():
            run = next((r for r in group if r.get("lr")), group[0])
            lr = _floats(run.get("lr"))
            positive = positive and bool(lr.size == 0 or lr.max() > 0)
            ax.plot(
                _steps(run, len(lr)), lr, color=colors[name], lw=1.4, drawstyle="steps-post",
                label=name + _divergence_note(group),
            )  # fmt: skip
        if positive and any(len(r.get("lr") or []) for r in runs):
            ax.set_yscale("log", nonpositive="mask")
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title("Learning rate per step")
        _legend(ax, loc="best")
    return fig


def _accuracy_text(run: Mapping[str, Any]) -> str:
    metrics = run.get("metrics") or {}
    for key, word in (
        ("test_accuracy", "test"),
        ("val_accuracy", "val"),
        ("train_accuracy", "train"),
    ):
        value = metrics.get(key)
        if value is not None:
            return f"{word} accuracy {float(value):.3f}"
    return ""


def boundary_figure(results: Mapping[str, Any]) -> Figure:
    """Decision boundaries: one subplot per group (its first run with a ``boundary``).

    ``contourf`` of ``boundary.probability`` (P(class 1), rows along y) at
    levels 0, 0.1, ..., 1 over ``boundary.xlim``/``ylim``, the 0.5 contour
    in black, and ``problem.data.points`` coloured by class. The title gives
    the label and the accuracy (test, else validation, else train).
    """
    problem = _problem(results) or {}
    chosen = _boundary_runs(_runs(results))
    if not chosen:
        fail("results['runs']", "runs with a 'boundary' for the boundary figure", None)
    points = (problem.get("data") or {}).get("points") or {}
    px = np.asarray(points.get("X") or np.empty((0, 2)), dtype=np.float64).reshape(-1, 2)
    py = np.asarray(points.get("y") or [], dtype=np.int64).reshape(-1)
    classes = sorted(set(py.tolist()))
    class_colors = {0: "#2166ac", 1: "#b2182b"} if set(classes) <= {0, 1} else {}

    with _style():
        fig = _new_figure(*_grid_size(len(chosen), (3.4, 2.9)))
        filled = None
        for ax, run in zip(_grid(fig, len(chosen)), chosen.values(), strict=True):
            box = run["boundary"]
            prob = np.asarray(box["probability"], dtype=np.float64)
            xlim, ylim = _range(box, "xlim", (0, 1)), _range(box, "ylim", (0, 1))
            gx, gy = np.meshgrid(
                np.linspace(*xlim, prob.shape[1]), np.linspace(*ylim, prob.shape[0])
            )
            filled = ax.contourf(
                gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.7, vmin=0, vmax=1
            )
            ax.contour(gx, gy, prob, levels=[0.5], colors="black", linewidths=1.2)
            for k, cls in enumerate(classes):
                mask = py == cls
                ax.scatter(
                    px[mask, 0], px[mask, 1], s=9, color=class_colors.get(cls, TAB10[k % 10]),
                    edgecolors="white", linewidths=0.3, label=f"class {cls}",
                )  # fmt: skip
            title = _run_title(run)
            extra = _accuracy_text(run)
            if _diverged(run):
                extra = f"diverged at step {_diverged_at(run)}"
            ax.set_title(f"{title}\n{extra}" if extra else title)
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_xlabel("x1")
            ax.set_ylabel("x2")
        if filled is not None:
            fig.colorbar(filled, ax=fig.axes, shrink=0.8, label="P(class 1)")
    return fig


def _series_of(results: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    series = _series(results)
    if series is None or series["kind"] != kind:
        fail("series.kind", f"'{kind}' for this figure", (series or {}).get("kind"))
    return series


def schedules_figure(results: Mapping[str, Any], *, log: bool | None = None) -> Figure:
    """Learning rate against step for each schedule; the legend shows the formulas.

    With ``series.steps_per_epoch`` a top x-axis counts epochs. The y-axis is
    logarithmic when ``log=True``, or (``None``, the default) when every lr
    is positive and they span a factor of 100 or more.
    """
    series = _series_of(results, "schedules")
    curves = series.get("curves") or []
    spe = series.get("steps_per_epoch")
    with _style():
        fig = _new_figure(6.4, 4.0)
        ax = fig.subplots()
        values = []
        for i, curve in enumerate(curves):
            lr = _floats(curve.get("lr"))
            values.append(lr)
            label = str(curve.get("label") or f"schedule {i + 1}")
            if curve.get("formula"):
                label += f": {curve['formula']}"
            ax.plot(
                np.arange(len(lr)), lr, color=TAB10[i % 10], lw=1.5, label=label,
                drawstyle="steps-post",
            )  # fmt: skip
        every = np.concatenate(values) if values else np.empty(0)
        if log is None:
            log = bool(every.size and every.min() > 0 and every.max() >= 100 * every.min())
        if log:
            ax.set_yscale("log", nonpositive="mask")
        if isinstance(spe, int | float) and not isinstance(spe, bool) and spe > 0:
            per = float(spe)
            top = ax.secondary_xaxis("top", functions=(lambda s: s / per, lambda e: e * per))
            top.set_xlabel("epoch")
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        _legend(ax, loc="upper right")
    return fig


def ewma_figure(results: Mapping[str, Any]) -> Figure:
    """Seed 004's picture: daily values as faint dots, each average as a line.

    One colour per β (in order of appearance); bias-corrected averages solid,
    uncorrected ones dashed. Dates (ISO strings) go on the x-axis as
    ``numpy.datetime64``; without dates the x-axis counts days.
    """
    import matplotlib.dates as mdates

    series = _series_of(results, "ewma")
    values = _floats(series.get("values"))
    dates = series.get("dates")
    if dates:
        x: np.ndarray = np.array(dates, dtype="datetime64")
    else:
        x = np.arange(len(values))
    unit = series.get("unit") or ""
    with _style():
        fig = _new_figure(7.2, 4.0)
        ax = fig.subplots()
        n = min(len(x), len(values))
        ax.plot(x[:n], values[:n], ".", color="0.45", markersize=3, alpha=0.5, label="daily")
        beta_colors: dict[float, str] = {}
        for curve in series.get("curves") or []:
            beta = float(curve.get("beta"))
            color = beta_colors.setdefault(beta, TAB10[len(beta_colors) % 10])
            corrected = bool(curve.get("bias_correction"))
            avg = _floats(curve.get("values"))[: len(x)]
            days = 1.0 / (1.0 - beta) if beta < 1 else math.inf
            how = "bias-corrected" if corrected else "uncorrected"
            ax.plot(
                x[: len(avg)], avg, "-" if corrected else "--", color=color, lw=1.5,
                label=f"β = {beta:g} (≈{days:.3g} days), {how}",
            )  # fmt: skip
        if dates:
            locator = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        else:
            ax.set_xlabel("day")
        ax.set_ylabel(f"value ({unit})" if unit else "value")
        ax.set_title("Exponentially weighted averages")
        _legend(ax, loc="best")
    return fig


def init_figure(results: Mapping[str, Any], *, activation: str | None = None) -> Figure:
    """Seed 001's activation histograms: one row per case, one column per layer.

    Each row is ``"<init>, <activation>"`` (its y label) and shares its
    y-axis; the top row's subplots are titled ``layer k``; each subplot's x
    label gives the standard deviation (and the saturated share, when given). With
    ``activation`` only the cases of that activation are drawn (draw() does
    this, one figure per activation, when there are more than six cases).
    """
    series = _series_of(results, "init")
    cases = [
        case
        for case in series.get("cases") or []
        if activation is None or str(case.get("activation")) == activation
    ]
    if not cases:
        fail("activation", "an activation of series.cases", activation)
    cols = max(len(case.get("layers") or []) for case in cases) or 1
    inits = list(dict.fromkeys(str(case.get("init")) for case in cases))
    with _style():
        fig = _new_figure(1.55 * cols + 0.7, 1.2 * len(cases) + 0.5)
        axes = np.asarray(fig.subplots(len(cases), cols, squeeze=False, sharey="row"))
        for row, case in enumerate(cases):
            color = TAB10[inits.index(str(case.get("init"))) % 10]
            layers = case.get("layers") or []
            for col in range(cols):
                ax = axes[row, col]
                ax.tick_params(labelsize=5.5, length=2, pad=1)
                if row == 0:
                    ax.set_title(f"layer {col + 1}", fontsize=7)
                if col == 0:
                    ax.set_ylabel(f"{case.get('init')}, {case.get('activation')}", fontsize=7)
                if col >= len(layers):
                    ax.set_axis_off()
                    continue
                layer = layers[col]
                ax.stairs(
                    _floats(layer.get("counts")), _floats(layer.get("edges")), fill=True,
                    color=color, alpha=0.85,
                )  # fmt: skip
                notes = []
                if layer.get("std") is not None:
                    notes.append(f"std {float(layer['std']):.2g}")
                if layer.get("saturated") is not None:
                    notes.append(f"sat {float(layer['saturated']):.0%}")
                if notes:
                    ax.set_xlabel(", ".join(notes), fontsize=5.5, labelpad=1, color="0.25")
        title = "Activation histograms" + (f", {activation}" if activation else "")
        fig.suptitle(title, fontsize=9)
    return fig


# --- everything at once ------------------------------------------------------------


def _numbers(values: Sequence[Any] | None) -> np.ndarray:
    """Floats, ``None`` as NaN."""
    return np.array([np.nan if v is None else v for v in values or []], float)


def _sensitivity_curve(
    ax: Any, label: str, c: Mapping[str, Any], color: str, earlier: Sequence[float]
) -> list[float]:
    """One configuration's validation loss against the rate; its finite values."""
    grid = np.asarray(c.get("grid") or [], float)
    if grid.size == 0:
        return []
    mean, std = _numbers(c.get("mean")), _numbers(c.get("std"))
    ax.plot(grid, mean, "o-", color=color, lw=1.4, ms=3.5, label=label)
    ax.fill_between(grid, mean - std, mean + std, color=color, alpha=BAND_ALPHA, lw=0)
    finite = [float(m) for m in mean if np.isfinite(m)]
    best = c.get("best")
    if best is not None and best.get("lr") is not None and best.get("mean") is not None:
        ax.plot([best["lr"]], [best["mean"]], "*", color=color, ms=11, mec="black", mew=0.6)
    bad = [g for g, d in zip(grid, c.get("diverged") or [], strict=False) if d]
    shown = [*earlier, *finite]
    if bad and shown:
        ax.plot(bad, [max(shown)] * len(bad), "x", color=color, ms=6, mew=1.5, clip_on=False)
    return finite


def sensitivity_figure(results: Mapping[str, Any]) -> Figure:
    """Validation loss against the learning rate per configuration (``series.kind == "tuning"``)."""
    series = _series_of(results, "tuning")
    configurations = series.get("configurations") or {}
    colors = {label: TAB10[i % len(TAB10)] for i, label in enumerate(configurations)}
    with _style():
        fig = _new_figure(6.4, 4.0)
        ax = fig.subplots()
        finite_all: list[float] = []
        for label, c in configurations.items():
            finite_all += _sensitivity_curve(ax, label, c, colors[label], finite_all)
        ax.set_xscale("log")
        if finite_all and min(finite_all) > 0 and max(finite_all) / min(finite_all) > 20:
            ax.set_yscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(str(series.get("metric", "validation loss")))
        ax.set_title("Learning-rate sensitivity")
        _legend(ax, loc="best")
    return fig


def draw(results: Mapping[str, Any], out_dir: str | Path) -> list[dict[str, str]]:
    """Draw every figure that fits ``results`` into ``out_dir/figures/``.

    ``results`` is a ``results.json`` document as a dict (``docs/results.md``);
    the figures chosen are listed in this module's docstring. Each figure is
    saved twice, ``<name>.png`` (120 dpi) and ``<name>.svg``, each atomically
    (a temporary file in the same directory, then ``os.replace``), and freed.
    The same document gives the same bytes.

    Returns:
        One dict per figure, in drawing order: ``{"name", "title", "caption",
        "png": "figures/<name>.png", "svg": "figures/<name>.svg"}`` (paths
        relative to ``out_dir``).

    Raises:
        ValueError: an unknown ``problem.kind`` or ``series.kind`` (the message
            names it and lists the valid ones), an unknown 2-D function, runs
            without a problem. Nothing is drawn then.
        TypeError: ``results`` or a part of it is the wrong kind of value.
    """
    plans = _plan(results)
    directory = Path(out_dir) / "figures"
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for plan in plans:
        fig = plan.make()
        try:
            _save(fig, directory, plan.name)
        finally:
            fig.clear()
        made.append(
            {
                "name": plan.name,
                "title": plan.title,
                "caption": plan.caption,
                "png": f"figures/{plan.name}.png",
                "svg": f"figures/{plan.name}.svg",
            }
        )
    return made
