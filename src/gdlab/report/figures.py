"""Figures drawn from a ``results.json`` document (schema ``gdlab.results/1``).

:func:`draw` looks at a results document (``docs/results.md``), picks every
figure that fits it, and saves each one twice, ``figures/<name>.png`` and
``figures/<name>.svg``, under the output directory. Which figures:

==============================  ==============================================
document                        figures
==============================  ==============================================
``problem.kind == "function"``  ``overlay`` (every group's path on one contour,
                                end points marked), ``paths`` (seed 001's
                                grid, one panel per group, the others faint),
                                ``loss`` (f per step, log y), ``lr`` (only if
                                a run's lr changes)
``linreg``, ``logreg``, ``mlp``  ``paths`` (when runs hold a 2-D path and the
                                problem a ``surface``: the weights' paths on
                                the loss contour beside the loss curves),
                                ``loss`` (raw and smoothed, mean and band over
                                seeds), ``accuracy`` (when evaluations hold
                                accuracies), ``lr`` (when a run's lr changes),
                                ``boundary`` (when runs hold a decision-boundary
                                grid)
``series.kind == "schedules"``  ``schedules`` (lr against step, formulas)
``series.kind == "ewma"``       ``ewma`` (the whole series, and its first 60
                                days where bias correction shows)
``series.kind == "init"``       ``init`` (activation histograms and the std
                                per layer), or ``init-<activation>`` per
                                activation when there are more than six cases
``series.kind == "tuning"``     ``sensitivity`` (loss against the lr)
==============================  ==============================================

Each figure also has its own function returning a matplotlib ``Figure``
(:func:`paths_figure`, :func:`loss_figure`, ...), so it can be drawn, shown
or tested alone, and :func:`draw` returns, with each file, a ``look_for``
paragraph (what to look for in it, written from the data).

How the figures show their lesson (Wilke's *Fundamentals of Data
Visualization*, STYLE.md §17):

* **Styles.** Runs with the same ``group`` make one curve; each group keeps
  one style (colour, line style, marker from :mod:`gdlab.report.palette`,
  Okabe–Ito, distinct in grey and for colour-blind readers) in every figure
  of a report (:func:`group_styles`).
* **Scale from the data** (:func:`choose_scale`): a log y-axis when the
  curves span more than two decades, or when it spreads the runs' ends at
  least twice as far apart as a linear one (the MNIST race: a tenfold gap
  at the bottom of a linear axis is invisible); the range from each curve's
  1st to 99th percentile, so an early spike or a collapsing tail (cosine's
  end) does not set it. The loss axis, chosen from the means over seeds,
  grows to hold their bands where that costs at most :data:`BAND_WIDEN`
  times its height, and says so where a band is cut (:func:`_loss_scale`).
* **Legends outside the data**, below or beside the axes.
* **The hidden run on top**: smooth curves are drawn over noisy ones, and
  among similar ones the slowest on top; two curves that overlap within the
  line width get a halo under the upper one, and the figure says so.

matplotlib is imported inside the drawing functions only (``import
gdlab.report.figures`` stays light), and never through ``pyplot``: figures are
``matplotlib.figure.Figure`` objects on an Agg canvas, so no global figure
state is touched. They are drawn with matplotlib's default style (a user's
``matplotlibrc`` does not leak in) and saved without dates (SVG
``metadata={"Date": None}`` and a fixed ``svg.hashsalt``), so the same results
give the same bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import textwrap
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdlab import functions2d
from gdlab._checks import check_choice, check_int, check_real, fail
from gdlab._io import atomic_write
from gdlab._text import joined, slug
from gdlab.averages import effective_window, ewma
from gdlab.report import palette, stops
from gdlab.results import SCHEMA_ID, series_stride

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "SERIES_KINDS",
    "Scale",
    "accuracy_figure",
    "boundary_figure",
    "choose_scale",
    "draw",
    "ewma_figure",
    "figure_names",
    "function_curve",
    "function_symlog",
    "group_colors",
    "group_styles",
    "has_sensitivity",
    "init_figure",
    "loss_figure",
    "lr_figure",
    "lr_scale",
    "overlaps",
    "overlay_figure",
    "paths_figure",
    "schedules_figure",
    "sensitivity_figure",
    "smooth",
    "weights_figure",
]

SERIES_KINDS = ("schedules", "ewma", "init", "tuning")

PNG_DPI = 120
SVG_HASHSALT = "gdlab.report"  # fixed salt: SVG element ids are the same on every save
RAW_ALPHA = 0.25  # the raw per-step loss, drawn faint under its smoothed curve
NOISY_RAW_ALPHA = 0.3  # ... as faint dots when it jumps across most of the axis (batch 1)
BAND_ALPHA = 0.2
LINE_WIDTH = 1.8
HALO_WIDTH = 5.0  # under a curve that another one hides
SMOOTH_BETA = 0.9
#: The EWMA figure's second panel: where bias correction shows, long enough for the
#: uncorrected β = 0.9 average to meet the corrected one and β = 0.98's (a 50-day window)
#: to come two thirds of the way back (1 − 0.98⁶⁰ ≈ 0.70).
EWMA_FIRST_DAYS = 60
INIT_SPLIT_CASES = 6  # more init cases than this: one figure per activation
ACCURACY_STYLES = {"train_accuracy": "-", "val_accuracy": ":", "test_accuracy": "--"}
ACCURACY_NAMES = {"train_accuracy": "train", "val_accuracy": "validation", "test_accuracy": "test"}
MARKERS_PER_CURVE = 8  # markers on a long curve: enough to tell styles apart in grey

# choose_scale's thresholds
LOG_DECADES = 2.0  # the curves span more than this many decades: log
LOG_SPREAD_GAIN = 2.0  # log spreads the runs' ends at least this much more: log
QUANTILES = (0.01, 0.99)  # each curve's range: its 1st to 99th percentile
OVERLAP_WIDTH = 0.01  # two curves closer than this (share of the axis height) ...
OVERLAP_SHARE = 0.9  # ... at this share of their steps overlap within the line width
# A noisy loss (a batch of one) is smoothed more: the first of these betas whose curve
# moves less than ROUGH_MAX of its own range per step (median), if the run is long enough.
BETAS = (SMOOTH_BETA, 0.98, 0.995, 0.999)
ROUGH_MAX = 0.01
# A band over seeds widens the loss axis chosen from the means (choose_scale) to hold it
# when the axis grows at most BAND_WIDEN times as high (on a log axis, in decades, and by
# at most BAND_WIDEN_DECADES more): the means keep a fifth of the height and their
# differences show. A band that needs more is cut at the axis' edges, and the caption
# says so (:func:`_loss_scale`).
BAND_WIDEN = 5.0
BAND_WIDEN_DECADES = 1.0
#: The sensitivity figure's y-axis is log when its losses span more than this factor.
SENSITIVITY_LOG_RATIO = 20

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
    "axes.spines.top": False,
    "axes.spines.right": False,
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


# --- the scale, from the data ------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """A y-axis chosen from the data: ``kind`` (``"log"`` or ``"linear"``),
    its range ``low``–``high``, and ``reason``, a short phrase for captions."""

    kind: str
    low: float
    high: float
    reason: str

    def fraction(self, values: np.ndarray) -> np.ndarray:
        """Where ``values`` sit on this axis, 0 at the bottom and 1 at the top."""
        v = np.asarray(values, dtype=np.float64)
        if self.kind == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.log10(v) - math.log10(self.low)) / (
                    math.log10(self.high) - math.log10(self.low)
                )
        return (v - self.low) / (self.high - self.low)


def _clean(curves: Sequence[Any]) -> list[np.ndarray]:
    out = []
    for curve in curves:
        c = np.asarray(curve, dtype=np.float64).reshape(-1)
        c = c[np.isfinite(c)]
        if c.size:
            out.append(c)
    return out


def _spread(late: Sequence[np.ndarray], scale: Scale) -> float:
    """How far apart the curves' late values lie on ``scale`` (share of the axis)."""
    where = np.concatenate([scale.fraction(c) for c in late])
    where = where[np.isfinite(where)]
    if where.size == 0:
        return 0.0
    lo, hi = np.quantile(np.clip(where, 0, 1), (0.05, 0.95))
    return float(hi - lo)


def choose_scale(curves: Sequence[Any], *, log: bool | None = None) -> Scale:
    """A y-axis for ``curves`` (sequences of numbers; NaN and ±inf are left out).

    The range runs from the lowest of the curves' 1st percentiles to the
    highest of their 99th (a little margin on either side; a linear axis of
    non-negative values starts at 0), so it holds every curve's 1st–99th
    percentile, and neither an early spike nor a tail that collapses toward
    0 (a cosine schedule's end) stretches it.

    With ``log=None`` the axis is logarithmic when every value is positive
    and either

    * the curves span more than two decades (the 5th to the 95th percentile
      of all their values), or
    * a log axis spreads the curves' later halves at least twice as far
      apart as a linear one: runs that end a factor of ten apart near the
      bottom of a linear axis look like one line there.

    >>> choose_scale([[2.3, 0.5, 0.3], [2.3, 0.05, 0.003]]).kind
    'log'
    >>> s = choose_scale([[0.1, 0.1, 0.1], [0.1, 0.05, 1e-9]])
    >>> s.kind, s.low
    ('linear', 0.0)
    """
    cleaned = _clean(curves)
    if not cleaned:
        return Scale("log" if log else "linear", *((1.0, 10.0) if log else (0.0, 1.0)), "no data")
    lows = [float(np.quantile(c, QUANTILES[0])) for c in cleaned]
    highs = [float(np.quantile(c, QUANTILES[1])) for c in cleaned]
    lo, hi = min(lows), max(highs)
    every = np.concatenate(cleaned)
    positive = bool(every.min() > 0)
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0) * 0.1
        lo = lo - (abs(lo) or 1.0) * 0.1
    pad = 0.05 * (hi - lo)
    # from 0, the margin is a share of the whole axis: values close together far from 0
    # (accuracies of 0.577 and 0.583) must not end on the frame, half their markers cut off
    linear = (
        Scale("linear", 0.0, hi * 1.05, "linear axis")
        if lo >= 0
        else Scale("linear", lo - pad, hi + pad, "linear axis")
    )
    if not positive or log is False:
        return linear
    factor = (hi / lo) ** 0.04
    log_scale = Scale("log", lo / factor, hi * factor, "log axis")
    if log:
        return log_scale
    q05, q95 = np.quantile(every, (0.05, 0.95))
    decades = math.log10(q95 / q05) if q05 > 0 else math.inf
    if decades > LOG_DECADES:
        return Scale("log", log_scale.low, log_scale.high, f"the curves span {decades:.1f} decades")
    late = [c[len(c) // 2 :] for c in cleaned]
    on_log, on_linear = _spread(late, log_scale), _spread(late, linear)
    if len(cleaned) > 1 and on_log >= LOG_SPREAD_GAIN * max(on_linear, 1e-9):
        return Scale(
            "log", log_scale.low, log_scale.high,
            f"it spreads the curves' ends {on_log / max(on_linear, 1e-9):.0f}× farther apart",
        )  # fmt: skip
    return linear


def _apply(ax: Axes, scale: Scale) -> None:
    """``scale`` on the y-axis; a log axis labels its ticks as :func:`_log_ticks` does:
    under 3 decades as plain numbers (``200``, ``0.05``) instead of ``2×10²``."""
    if scale.kind == "log":
        ax.set_yscale("log", nonpositive="mask")
    ax.set_ylim(scale.low, scale.high)
    if scale.kind == "log":
        _log_ticks(ax.yaxis, (scale.low, scale.high))


#: A log axis of under this many decades labels its ticks as plain numbers
#: (:func:`_plain_log_ticks`); one of more labels the powers of ten (:func:`_decade_ticks`).
PLAIN_LOG_DECADES = 3
#: A log axis of under this many decades labels every digit (30, 40, …, 90, 100): its
#: 1-2-5 labels (50 and 100 on 27 to 125) can leave out where every curve sits.
DIGIT_LOG_DECADES = 1
#: A log axis labels every power of ten on up to this many decades (matplotlib's own
#: locator labels every other one on a figure's axis: 10² the lowest over a start at 6.45).
DECADE_LABELS = 12


def _log_ticks(axis: Any, view: tuple[float, float]) -> None:
    """A log axis's ticks for its ``view`` limits: plain numbers under
    :data:`PLAIN_LOG_DECADES` decades, else every power of ten (:func:`_decade_ticks`)."""
    if math.log10(view[1] / view[0]) < PLAIN_LOG_DECADES:
        _plain_log_ticks(axis, view)
    else:
        _decade_ticks(axis)


def _decade_ticks(axis: Any) -> None:
    """Every power of ten labelled on a log axis of up to :data:`DECADE_LABELS` decades
    (one in two or more on a longer one)."""
    from matplotlib.ticker import LogLocator

    axis.set_major_locator(LogLocator(numticks=DECADE_LABELS + 1))


def _plain_log_ticks(axis: Any, view: tuple[float, float] | None = None) -> None:
    """Ticks at 1, 2 and 5 times the powers of ten, labelled as plain numbers; with the
    ``view`` limits given, at every digit when they span under :data:`DIGIT_LOG_DECADES`
    or fewer than two of those fall in it."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    subs: tuple[float, ...] = (1.0, 2.0, 5.0)
    if view is not None:
        low, high = view
        decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        few = sum(low <= m * 10.0**k <= high for k in decades for m in subs) < 2
        if few or math.log10(high / low) < DIGIT_LOG_DECADES:
            subs = tuple(float(m) for m in range(1, 10))
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _roughness(curve: np.ndarray, scale: Scale) -> float:
    """The median step-to-step jump of ``curve`` as a share of the axis height."""
    where = scale.fraction(curve)
    jumps = np.abs(np.diff(where[np.isfinite(where)]))
    return float(np.median(jumps)) if jumps.size else 0.0


def overlaps(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], scale: Scale
) -> list[tuple[str, str]]:
    """Pairs of curves that lie within the line width of each other almost everywhere.

    ``curves`` maps a name to ``(steps, values)``. Two curves overlap when,
    on the steps they share, they are closer than 1% of the axis height
    (about a line's width) at 90% of those steps: drawn plainly, the one
    below is invisible.
    """
    names = list(curves)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (sa, va), (sb, vb) = curves[a], curves[b]
            if len(sa) < 2 or len(sb) < 2:
                continue
            end = min(sa[-1], sb[-1])
            keep = sa <= end
            if keep.sum() < 2:
                continue
            fa = scale.fraction(va[keep])
            fb = scale.fraction(np.interp(sa[keep], sb, vb))
            close = np.abs(fa - fb) < OVERLAP_WIDTH
            if float(np.mean(close)) >= OVERLAP_SHARE:
                pairs.append((a, b))
    return pairs


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


def group_styles(runs: Sequence[Mapping[str, Any]]) -> dict[str, palette.Style]:
    """One :class:`~gdlab.report.palette.Style` per group, in the order groups first appear.

    Every figure of a report (and the page's interactive charts) takes its
    styles from here, so a group looks the same everywhere.

    >>> {k: s.color for k, s in group_styles([{"group": "SGD"}, {"group": "Adam"}]).items()}
    {'SGD': '#0072B2', 'Adam': '#E69F00'}
    """
    return palette.assign(_groups(runs))


def group_colors(runs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each group's colour (:func:`group_styles`).

    >>> group_colors([{"group": "SGD"}, {"group": "Adam"}, {"group": "SGD"}])
    {'SGD': '#0072B2', 'Adam': '#E69F00'}
    """
    return {name: style.color for name, style in group_styles(runs).items()}


def label_styles(
    runs: Sequence[Mapping[str, Any]], labels: Iterable[str]
) -> dict[str, palette.Style]:
    """A style per run label (a tuned race's configurations) that matches the report's
    figures (:func:`group_styles`): a raced run's label takes its group's colour and
    marker (a second label of one group its next line style, to tell the two apart); a
    label no run raced takes a style after the groups'.

    >>> runs = [{"label": "SGD"}, {"label": "Adam"}]
    >>> {k: s.color for k, s in label_styles(runs, ["Adam", "SGD"]).items()}
    {'Adam': '#E69F00', 'SGD': '#0072B2'}
    """
    groups = group_styles(runs)
    group_of = {str(r.get("label")): _group_name(r) for r in runs if r.get("label") is not None}
    out: dict[str, palette.Style] = {}
    taken: Counter = Counter()
    extra = len(groups)
    for label in dict.fromkeys(str(k) for k in labels):
        group = group_of.get(label)
        if group is None:
            out[label], extra = palette.style(extra), extra + 1
            continue
        style, k = groups[group], taken[group]
        taken[group] += 1
        if k:  # another configuration of the group: the group's colour, another line
            d = (palette.LINESTYLES.index(style.linestyle) + k) % len(palette.LINESTYLES)
            style = dataclasses.replace(
                style, linestyle=palette.LINESTYLES[d], dash=palette.DASHES[d]
            )
        out[label] = style
    return out


def _floats(values: Any) -> np.ndarray:
    """A list of numbers as a float64 array (``None`` or missing: empty)."""
    if values is None:
        return np.empty(0)
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _diverged(run: Mapping[str, Any]) -> bool:
    return run.get("status") == "diverged"


def _steps(run: Mapping[str, Any], count: int) -> np.ndarray:
    """The steps of ``count`` batch losses of ``run`` (``loss[i]`` is step ``i + 1``'s):
    ``1, 1 + stride, 1 + 2 * stride, …`` (a long run keeps every ``stride``-th value
    inline; stride 1 otherwise)."""
    return np.arange(count) * series_stride(run) + 1


def _divergence_note(runs: Sequence[Mapping[str, Any]]) -> str:
    """``" (diverged at step 12)"``, ``" (1 of 3 diverged at step 12)"`` or ``""``
    (the step as :func:`gdlab.report.stops.divergence` reads it)."""
    points = [p for p in map(stops.divergence, runs) if p is not None]
    if not points:
        return ""
    where = stops.where_words(points)
    if len(points) == len(runs):
        return f" (diverged {where})"
    return f" ({len(points)} of {len(runs)} diverged {where})"


def _lr_text(run: Mapping[str, Any]) -> str:
    """``"lr=0.95"`` from the hyperparameters, ``"lr0=0.1"`` for a schedule (its initial
    rate as configured: a warm-up's is the rate it warms up to), else ``""``."""
    from gdlab.schedules import initial_rate

    lr = (run.get("hyperparameters") or {}).get("lr")
    if isinstance(lr, int | float) and not isinstance(lr, bool):
        return f"lr={lr:g}"
    if isinstance(lr, Mapping) and "name" not in lr:  # {schedule = {...}}: the record's form
        lr = lr.get("schedule")
    rate = initial_rate(lr) if isinstance(lr, Mapping) else None
    if rate is not None:
        return f"lr0={rate:g}"
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


def _wants_lr_figure(runs: Sequence[Mapping[str, Any]]) -> bool:
    """A run's lr changes (constant rates are in the run table: flat lines teach nothing)."""
    return any(_lr_varies(run) for run in runs)


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


# --- loss curves as data (shared by the loss figure, the paths figure and the texts) ---


@dataclass
class _Curve:
    """One group's loss: the smoothed mean over its seeds, the band, the raw mean."""

    name: str
    label: str
    style: palette.Style
    steps: np.ndarray
    raw: np.ndarray
    mean: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    alone: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    ends: list[tuple[float, float]] = field(default_factory=list)  # (step, value) of an x
    beta: float = SMOOTH_BETA

    @property
    def final(self) -> float:
        return float(self.mean[-1]) if self.mean.size else math.nan


def _relative_roughness(curve: np.ndarray) -> float:
    """The median step of ``curve`` over its 1st–99th percentile range (in log10 when
    positive): 0.01 means it moves 1% of its own height per step."""
    values = curve[np.isfinite(curve)]
    if values.size < 3:
        return 0.0
    if values.min() > 0:
        values = np.log10(values)
    height = float(np.subtract(*np.quantile(values, (0.99, 0.01))))
    return float(np.median(np.abs(np.diff(values)))) / height if height > 0 else 0.0


def _smoothing(raws: Sequence[np.ndarray]) -> float:
    """The least beta of :data:`BETAS` that calms the noisiest of ``raws`` (see ROUGH_MAX).

    Seed 003's SGD with a batch of one sample moves 3% of its range per step
    even after 10-step smoothing: it gets 50 steps or more. A noise-free
    loss (full-batch GD) keeps the default, so its fast start is not blurred.
    """
    longest = max((raw.size for raw in raws), default=0)
    for beta in BETAS:
        if longest < 5 / (1 - beta):
            break
        if all(_relative_roughness(smooth(raw, beta)) <= ROUGH_MAX for raw in raws if raw.size):
            return beta
    chosen = [b for b in BETAS if longest >= 5 / (1 - b)]
    return chosen[-1] if chosen else SMOOTH_BETA


def _curve_label(name: str, group: Sequence[Mapping[str, Any]], beta: float) -> str:
    """A loss curve's legend words: the group's name, its divergences, and its smoothing
    where that is not the default's."""
    label = name + _divergence_note(group)
    if beta != SMOOTH_BETA:
        label += f", smoothed over ≈{effective_window(beta):.0f} steps"
    return label


def _loss_curves(results: Mapping[str, Any], beta: float | None = None) -> list[_Curve]:
    """Each group's loss curves, in group order (:func:`smooth` over each run's loss).

    ``beta`` smooths every group alike; ``None`` chooses it per group
    (:func:`_smoothing`), and the label says when it is not the default.
    A group with several seeds: the mean of the raw curves, the mean of the
    smoothed curves and a band (:func:`_band`) over the seeds that did not
    diverge (each step over those that reach it); a diverged seed is kept
    apart (``alone``), unless all diverged.
    """
    runs = _runs(results)
    styles = group_styles(runs)
    band = _band(results)
    curves = []
    for name, group in _groups(runs).items():
        raws = [_floats(run.get("loss")) for run in group]
        # A long run's inline loss holds every stride-th step (docs/results.md, "Long
        # runs"): its EWMA runs over those values, so it averages over about
        # stride / (1 - beta) steps. Its whole series is in its series file.
        chosen = _smoothing(raws) if beta is None else beta
        smooths = [smooth(raw, chosen) for raw in raws]
        kept, alone = _split_diverged(group, [raw.size > 0 for raw in raws])
        empty = np.empty(0)
        label = _curve_label(name, group, chosen)
        curve = _Curve(name, label, styles[name], empty, empty, empty, beta=chosen)
        if len(kept) == 1:
            k = kept[0]
            curve.steps, curve.raw, curve.mean = _steps(group[k], len(raws[k])), raws[k], smooths[k]
        elif kept:
            members = [group[i] for i in kept]
            stride, kept_raws = _on_grid(members, [raws[i] for i in kept])
            _, kept_smooths = _on_grid(members, [smooths[i] for i in kept])
            curve.raw = _stack(kept_raws)[0]
            curve.mean, curve.low, curve.high = _stack(kept_smooths, band)
            curve.steps = np.arange(len(curve.mean)) * stride + 1
        curve.alone = [(_steps(group[i], len(smooths[i])), smooths[i]) for i in alone]
        for run, values in zip(group, smooths, strict=True):
            stop = stops.stop_step(run)
            if stop is not None and values.size:
                curve.ends.append((stop, float(values[-1])))
        curves.append(curve)
    return curves


@dataclass
class _View:
    """How the loss curves are drawn: the scale, the order (bottom first), the overlaps."""

    scale: Scale
    order: list[str]
    pairs: list[tuple[str, str]]
    noisy: set[str]
    under: set[str]
    groups: list[str] = field(default_factory=list)  # the group order
    cut: bool = False  # a band over seeds leaves the axis (:func:`_loss_scale`)

    @property
    def clusters(self) -> list[list[str]]:
        """The curves that overlap, in sets joined through any pair, in group order."""
        where = {name: i for i, name in enumerate(self.groups)}
        return sorted(
            (sorted(names, key=lambda n: where.get(n, 0)) for names in _clusters(self.pairs)),
            key=lambda names: where.get(names[0], 0),
        )


def _clusters(pairs: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Sets of names that all overlap one another (every two of a set are a pair), each
    in first-seen order, together naming every pair: [(a, b), (b, c)] -> [[a, b], [b, c]]
    (a and c lie apart), [(a, b), (b, c), (a, c)] -> [[a, b, c]]."""
    seen = list(dict.fromkeys(name for pair in pairs for name in pair))
    linked = {frozenset(pair) for pair in pairs}
    sets: list[list[str]] = []
    for a, b in pairs:
        found = [a, b]
        for name in seen:  # grown by every name that overlaps all of it
            if name not in found and all(frozenset((name, m)) in linked for m in found):
                found.append(name)
        found.sort(key=seen.index)
        if found not in sets:
            sets.append(found)
    return [s for s in sets if not any(set(s) < set(other) for other in sets)]


def _fill_names(text: str, names: Iterable[str], width: int, **kwargs: Any) -> str:
    """``textwrap.fill(text, width)`` that breaks lines between ``names``, never inside
    one (a name longer than ``width`` keeps a line of its own)."""
    glue = "\N{NO-BREAK SPACE}"
    for name in sorted(set(names), key=len, reverse=True):
        text = text.replace(name, name.replace(" ", glue).replace("-", "\N{NON-BREAKING HYPHEN}"))
    filled = textwrap.fill(text, width, break_long_words=False, **kwargs)
    return filled.replace(glue, " ").replace("\N{NON-BREAKING HYPHEN}", "-")


def _band_reach(curves: Sequence[_Curve]) -> tuple[float, float] | None:
    """The lowest of the bands' 1st percentiles and the highest of their 99th (the lows'
    and the highs', as :func:`choose_scale` ranges a curve), or ``None`` with no band."""
    lows = _clean([c.low for c in curves if c.mean.size and c.low is not None])
    highs = _clean([c.high for c in curves if c.mean.size and c.high is not None])
    if not lows or not highs:
        return None
    return (
        min(float(np.quantile(c, QUANTILES[0])) for c in lows),
        max(float(np.quantile(c, QUANTILES[1])) for c in highs),
    )


def _widened(scale: Scale, reach: tuple[float, float]) -> tuple[Scale, bool]:
    """``(scale, cut)``: ``scale`` grown to hold ``reach`` (a band's low and high) with a
    margin, if that keeps it within :data:`BAND_WIDEN` (and :data:`BAND_WIDEN_DECADES`);
    else ``scale`` itself, ``cut`` true when the band leaves it. A linear axis from 0
    stays at 0 (a loss's mean − std below 0 is cut there, silently)."""
    lo, hi = reach
    if scale.kind == "log":
        if lo <= 0:  # a log axis cannot hold it: the band runs off the bottom
            return scale, True
        if lo >= scale.low and hi <= scale.high:
            return scale, False
        low, high = min(scale.low, lo), max(scale.high, hi)
        factor = (high / low) ** 0.04
        low, high = (
            (low / factor if lo < scale.low else low),
            (high * factor if hi > scale.high else high),
        )
        was, now = math.log10(scale.high / scale.low), math.log10(high / low)
        if now > min(BAND_WIDEN * was, was + BAND_WIDEN_DECADES):
            return scale, True
        return Scale("log", low, high, scale.reason), False
    if scale.low == 0:
        lo = max(lo, 0.0)
    if lo >= scale.low and hi <= scale.high:
        return scale, False
    low, high = min(scale.low, lo), max(scale.high, hi)
    pad = 0.05 * (high - low)
    low, high = (low - pad if lo < scale.low else low), (high + pad if hi > scale.high else high)
    if high - low > BAND_WIDEN * (scale.high - scale.low):
        return scale, True
    return Scale("linear", low, high, scale.reason), False


def _loss_scale(curves: Sequence[_Curve], log: bool | None = None) -> tuple[Scale, bool]:
    """``(scale, cut)``: the loss figure's y-axis for ``curves`` (:func:`_loss_curves`):
    :func:`choose_scale` over their means (``log`` forces the kind), widened to hold
    their bands over seeds where that costs little (:func:`_widened`); ``cut`` is true
    when a band leaves the axis instead."""
    shown = [c for c in curves if c.mean.size]
    scale = choose_scale([c.mean for c in shown], log=log)
    reach = _band_reach(shown)
    return _widened(scale, reach) if reach is not None else (scale, False)


def _loss_view(curves: Sequence[_Curve], log: bool | None) -> _View:
    shown = [c for c in curves if c.mean.size]
    scale, cut = _loss_scale(shown, log)
    rough = {c.name: _roughness(c.mean, scale) for c in shown}
    finals = {c.name: scale.fraction(np.array([c.final]))[0] for c in shown}

    def key(c: _Curve) -> tuple[float, float]:
        # rougher curves at the bottom (half-decade buckets), then the slowest on top
        bucket = math.floor(2 * math.log10(max(rough[c.name], 1e-9)))
        return (-bucket, float(np.nan_to_num(finals[c.name], nan=1.0)))

    order = [c.name for c in sorted(shown, key=key)]
    pairs = overlaps({c.name: (c.steps, c.mean) for c in shown}, scale)
    rank = {name: i for i, name in enumerate(order)}
    under = {a if rank[a] < rank[b] else b for a, b in pairs}
    return _View(scale, order, pairs, _noisy(shown, scale), under, [c.name for c in curves], cut)


def _noisy(shown: Sequence[_Curve], scale: Scale | None = None) -> set[str]:
    """The curves whose raw loss jumps across much of the axis (``scale``; by default
    the one :func:`_loss_view` chooses, :func:`_loss_scale`): drawn as faint dots."""
    if scale is None:
        scale = _loss_scale(shown)[0]
    return {c.name for c in shown if c.mean.size and _roughness(c.raw, scale) > 0.1}


# --- what to look for: short paragraphs written from the data ----------------------


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _first_runs(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {name: group[0] for name, group in _groups(_runs(results)).items()}


def _distinct(group: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One record per run of ``group`` (its first seed), in order: a 2-D function's
    seeds start at one point and follow its exact gradient, so they draw one path."""
    found: dict[str, Mapping[str, Any]] = {}
    for i, run in enumerate(group):
        found.setdefault(str(run.get("label") or run.get("id") or i), run)
    return list(found.values())


def _group_paths(results: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """Each group's runs as the 2-D figures draw them: every run of the group
    (:func:`_distinct`), in its style, so that a group of several runs shows them all."""
    return {name: _distinct(group) for name, group in _groups(_runs(results)).items()}


def _path_names(
    results: Mapping[str, Any], names: Sequence[str], *, diverged: bool | None = None
) -> list[tuple[str, Mapping[str, Any]]]:
    """``(words, run)`` for each drawn path of the groups ``names`` (:func:`_group_paths`):
    a group of one run by the group's name, each run of a larger group by its label; with
    ``diverged``, only the runs that diverged (``True``) or did not (``False``)."""
    groups = _group_paths(results)
    out = []
    for name in names:
        runs = groups.get(name, [])
        for run in runs:
            if diverged is None or _diverged(run) == diverged:
                out.append((name if len(runs) == 1 else _run_label(run), run))
    return out


def _run_label(run: Mapping[str, Any]) -> str:
    return str(run.get("label") or _group_name(run))


def _group_title(name: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """A 2-D group's legend or panel words: a group of one run as the run
    (:func:`_run_title`), a larger one by its name and how many runs it holds."""
    return _run_title(runs[0]) if len(runs) == 1 else f"{name} ({len(runs)} runs)"


def _overlap_words(results: Mapping[str, Any], clusters: Sequence[Sequence[str]]) -> str:
    """A sentence per set of overlapping curves, with seed 000's reason where it applies."""
    firsts = _first_runs(results)
    words = []
    for names in clusters:
        chosen = [firsts[name] for name in names]
        kinds = {r.get("optimizer") for r in chosen}
        forms = {(r.get("hyperparameters") or {}).get("form") for r in chosen}
        lrs = {repr((r.get("hyperparameters") or {}).get("lr")) for r in chosen}
        text = (
            f"{joined(names)} overlap within the line width (a halo marks the curves "
            "underneath): they lower the loss at the same pace."
        )
        if kinds == {"sgd", "momentum"} and "ema" in forms and len(lrs) == 1:
            text += (
                " That is the point of Momentum in its EMA form, v = βv + (1 − β)g, "
                "p −= lr·v: v is an average of recent gradients, so on average it steps "
                "lr·g, as plain gradient descent does; it smooths the direction but does not "
                "lengthen the step. Adam differs because it divides each coordinate's step by "
                "that coordinate's own gradient scale."
            )
        words.append(text)
    return " ".join(words)


def _final_losses(results: Mapping[str, Any]) -> dict[str, float]:
    """Each group's mean ``metrics.final_loss`` (the last evaluation on the whole
    training set) over its runs that did not diverge, where every such run has one."""
    out = {}
    for name, group in _groups(_runs(results)).items():
        kept = [r for r in group if not _diverged(r)] or list(group)
        values = [(r.get("metrics") or {}).get("final_loss") for r in kept]
        if values and all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            out[name] = float(np.mean(values))
    return out


def _whole_set_groups(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The groups whose runs record the whole training set's loss at each step
    (``step_loss`` ``"train"`` in their records; ``"batch"``, or absent: the batch loss)."""
    found = []
    for name, group in _groups(runs).items():
        ran = [r for r in group if r.get("status") != "failed"]  # a failed run records none
        if ran and all(r.get("step_loss") == "train" for r in ran):
            found.append(name)
    return found


def _step_loss_words(runs: Sequence[Mapping[str, Any]]) -> str:
    """What each step's loss in the loss figure is: ``"the batch loss before each
    update"``, the whole training set's, or which groups have which."""
    whole = _whole_set_groups(runs)
    if not whole:
        return "the batch loss before each update"
    rest = [name for name in _groups(runs) if name not in whole]
    words = "the loss over the whole training set at each step, before its update"
    if not rest:
        return words
    return f"{words}, for {joined(whole)}; the batch loss before each update, for {joined(rest)}"


def _loss_look_for(results: Mapping[str, Any]) -> str:
    curves = [c for c in _loss_curves(results) if c.mean.size]
    if not curves:
        return "No run has a loss to show."
    view = _loss_view(curves, None)
    groups = _groups(_runs(results))
    # a group whose every run diverged ends at its last loss before it blew up: not ranked
    gone = {name for name, group in groups.items() if all(map(_diverged, group))}
    text, what = _ranking_words(results, [c for c in curves if c.name not in gone])
    if view.scale.kind == "log":
        text += (
            f" The y-axis is logarithmic because {view.scale.reason}: equal ratios look "
            "equal, so a tenfold gap is the same height at the top and at the bottom."
        )
    # a group that only diverged jumps because it blows up: _diverged_words says so
    noisy = view.noisy - gone
    if noisy:
        whole = set(_whole_set_groups(_runs(results)))
        why = (
            "each update follows a small batch, so the whole set's loss rises at some steps "
            "and falls at others"
            if noisy <= whole
            else "each step sees a small batch, so its loss is a noisy estimate"
        )
        text += (
            f" The faint raw loss of {joined(sorted(noisy))} jumps across much of the "
            f"axis (faint dots): {why}; {_smoothing_words([c for c in curves if c.name in noisy])}."
        )
    text += _diverged_words(curves, groups)
    if what != "smoothed loss":
        text = f"{text} {_elsewhere_words(results, function2d=False)}".strip()
    return f"{text} {_overlap_words(results, view.clusters)}".strip()


def _smoothing_words(noisy: Sequence[_Curve]) -> str:
    """What the solid curve of each of the ``noisy`` curves is: a running average, over
    more steps than the default only where its legend entry says so (:func:`_curve_label`)."""
    longer = [c.beta != SMOOTH_BETA for c in noisy]
    if len(noisy) == 1 and longer[0]:
        return "its solid curve averages over more steps, as its legend entry says"
    if all(longer):
        return "the solid curves average over more steps, as their legend entries say"
    window = f"over ≈{effective_window(SMOOTH_BETA):.0f} steps"
    if len(noisy) == 1:
        return f"its solid curve is a running average {window}"
    more = ", or more where the legend says so" if any(longer) else ""
    return f"the solid curves are running averages {window}{more}"


def _lost_seeds(group: Sequence[Mapping[str, Any]]) -> Counter:
    """The seeds of ``group`` its mean leaves out, by status: diverged, or failed (raised)."""
    return Counter(r.get("status") for r in group if r.get("status") in ("diverged", "failed"))


def _seeds_words(n: int, gone: Counter) -> str:
    """``", over 2 of its 3 seeds: 1 diverged"`` for a group that lost seeds, else ``""``."""
    said = ", ".join(f"{gone[s]} {s}" for s in ("diverged", "failed") if gone[s])
    return f", over {n - gone.total()} of its {n} seeds: {said}" if gone else ""


def _ranking_words(results: Mapping[str, Any], curves: Sequence[_Curve]) -> tuple[str, str]:
    """``("Lowest at the end: … ; highest: … .", what is ranked)`` over ``curves`` (the
    groups that did not all diverge); ``("", what)`` when none is left."""
    finals = _final_losses(results)
    what = "training loss on the whole training set"
    if not all(c.name in finals for c in curves):
        finals, what = {c.name: c.final for c in curves}, "smoothed loss"
    if not curves:
        return "", what
    groups = _groups(_runs(results))
    lost = {c.name: _lost_seeds(groups.get(c.name, ())) for c in curves}

    def seeds(name: str) -> str:
        return _seeds_words(len(groups[name]), lost[name])

    # as the Summary ranks: a group with a diverged seed after those whose seeds all finished
    whole = [c for c in curves if not lost[c.name]]
    ranked = sorted(whole or curves, key=lambda c: finals[c.name])
    best, worst = ranked[0].name, ranked[-1].name
    text = f"Lowest at the end: {best} ({what} {_fmt(finals[best])}{seeds(best)})"
    if len(ranked) > 1:
        ratio = finals[worst] / finals[best] if finals[best] > 0 else math.inf
        gap = f", {ratio:.0f}× higher" if math.isfinite(ratio) and ratio >= 2 else ""
        text += f"; highest: {worst} ({_fmt(finals[worst])}{gap}{seeds(worst)})"
    text += "."
    partial = [c.name for c in curves if lost[c.name]] if whole else []
    if partial:
        ends = "; ".join(f"{name} ends at {_fmt(finals[name])}{seeds(name)}" for name in partial)
        text += f" {ends}; the Summary ranks {_ranked_after(partial, groups)} after the runs "
        text += "whose seeds all finished."
    return text, what


def _ranked_after(partial: Sequence[str], groups: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Whom the Summary ranks after the runs whose seeds all finished, of the curves
    ``partial`` (those that lost seeds): ``"it"`` or ``"them"`` where each is one run's
    curve, else the runs that lost seeds by label (the Summary ranks a group's runs
    each on its own, so a group's run whose seeds all finished ranks as it is)."""
    seeds = [r for name in partial for r in groups[name]]
    runs = list(dict.fromkeys(str(r.get("label") or _group_name(r)) for r in seeds))
    if runs == list(partial):  # each curve is one run's
        return "it" if len(partial) == 1 else "them"
    lost = (str(r.get("label") or _group_name(r)) for r in seeds if _lost_seeds((r,)))
    return joined(list(dict.fromkeys(lost)))


def _diverged_words(
    curves: Sequence[_Curve], groups: Mapping[str, Sequence[Mapping[str, Any]]]
) -> str:
    """The groups that diverged: those with a × on their curve, and those that diverged
    before any loss was recorded (in the legend, without a curve)."""
    marked = [c for c in curves if c.ends]
    drawn = {c.name for c in curves}
    unseen = [
        name for name, group in groups.items() if name not in drawn and any(map(_diverged, group))
    ]
    text = ""
    if marked:
        # a group some of whose seeds diverged says how many: its curve is the others'
        who = [
            c.name if len(c.ends) == len(groups.get(c.name, ())) or c.name not in groups
            else f"{len(c.ends)} of the {len(groups[c.name])} runs of {c.name}"
            for c in marked
        ]  # fmt: skip
        each = "each" if len(marked) > 1 or len(marked[0].ends) > 1 else "it"
        text += f" {joined(who)} diverged: × marks the step where {each} did."
    if unseen:
        text += (
            f" {joined(unseen)} diverged before any loss was recorded, so "
            f"{'they have' if len(unseen) > 1 else 'it has'} no curve."
        )
    return text


def _function_finals(
    results: Mapping[str, Any], fn: functions2d.Function2D
) -> list[tuple[str, float, bool]]:
    """``(group, f at the end, diverged)``, lowest first, f as the Summary ranks it:
    the group's mean ``metrics.final_loss`` over its runs that did not diverge
    (:func:`_final_losses`: the point each run evaluates, which for EMA/SWA, Lookahead,
    Schedule-Free or ASGD is not the end of its path), else the mean of f at the ends
    of those runs' paths; ``diverged`` where every run of the group diverged."""
    finals = _final_losses(results)
    out = []
    for name, runs in _group_paths(results).items():
        drawn = [run for run in runs if len(_path_of(run))]
        if not drawn:
            continue
        gone = all(map(_diverged, drawn))
        value = finals.get(name)
        if value is None:
            ends = [_path_of(run)[-1] for run in drawn if gone or not _diverged(run)]
            with np.errstate(all="ignore"):
                value = float(np.mean([float(fn.f(x, y)) for x, y in ends]))
        out.append((name, value, gone))
    return sorted(out, key=lambda t: (t[2], t[1] if math.isfinite(t[1]) else math.inf))


# What an optimizer that evaluates elsewhere than it trains calls the two points:
# (the point it trains, which its path and its loss curve follow; the point it evaluates).
_TWO_POINTS = {
    "average": ("iterate", "averaged point"),
    "asgd": ("iterate", "averaged point ā"),
    "lookahead": ("fast weights", "slow weights"),
    "schedule_free_sgd": ("iterate y", "averaged point x"),
    "schedule_free_adamw": ("iterate y", "averaged point x"),
}


def _two_points(run: Mapping[str, Any]) -> tuple[str, str]:
    """``(the point run trains, the point it evaluates)`` in words (:data:`_TWO_POINTS`)."""
    return _TWO_POINTS.get(str(run.get("optimizer")), ("iterate", "evaluated point"))


def _evaluated_elsewhere(run: Mapping[str, Any]) -> tuple[float, float] | None:
    """``(training loss at the iterate, at the evaluated point)`` at the end of a run
    that evaluates elsewhere than it trains (its ``metrics`` hold ``iterate_train_loss``)
    where the two differ; ``None`` otherwise."""
    metrics = run.get("metrics") or {}
    iterate, evaluated = metrics.get("iterate_train_loss"), metrics.get("final_loss")
    if _diverged(run) or not all(
        isinstance(v, int | float) and math.isfinite(v) for v in (iterate, evaluated)
    ):
        return None
    if math.isclose(iterate, evaluated, rel_tol=1e-9):
        return None
    return float(iterate), float(evaluated)


def _two_values(first: float, second: float) -> tuple[str, str]:
    """Two values with 3 significant digits, more (up to 8) until they read apart."""
    for digits in range(3, 9):
        a, b = f"{first:.{digits}g}", f"{second:.{digits}g}"
        if a != b:
            break
    return a, b


def _elsewhere_words(results: Mapping[str, Any], function2d: bool) -> str:
    """A sentence per group (its first run; on a 2-D function, per path drawn:
    :func:`_path_names`) whose path or loss curve ends elsewhere than the point it
    evaluates, which the Summary and these words rank."""
    words = []
    named = (
        _path_names(results, list(_groups(_runs(results))))
        if function2d
        else list(_first_runs(results).items())
    )
    for name, run in named:
        found = _evaluated_elsewhere(run)
        if found is None:
            continue
        trains, evaluates = _two_points(run)
        there, evaluated = _two_values(*found)
        if function2d:
            words.append(
                f"{name}'s path is its {trains}, the point it trains (f = {there} at the "
                f"path's end); at its {evaluates}, where it is evaluated and ranked, f ends "
                f"at {evaluated}."
            )
        else:
            words.append(
                f"{name}'s loss curve is at its {trains}, the point it trains (training "
                f"loss {there} there at the end); at its {evaluates}, where it is evaluated "
                f"and ranked, the training loss ends at {evaluated}."
            )
    return " ".join(words)


def _elsewhere_note(run: Mapping[str, Any]) -> str:
    """A legend's note for a curve of f along a path that ends elsewhere than the point
    the run evaluates (``""`` for the others)."""
    found = _evaluated_elsewhere(run)
    if found is None:
        return ""
    trains, evaluates = _two_points(run)
    there, evaluated = _two_values(*found)
    return f"\n(f along its {trains}, which ends at {there};\nat its {evaluates}: {evaluated})"


def _ends_words(finals: Sequence[tuple[str, float, bool]], where: str, several: set[str]) -> str:
    """Which groups end lowest and highest of ``finals`` (:func:`_function_finals`), ties
    named together; ``"mean f"`` for a group of ``several`` runs."""

    def f(names: Sequence[str]) -> str:
        return "mean f" if several & set(names) else "f"

    ok = [t for t in finals if not t[2]]
    if not ok:
        return ""
    # ends that read the same are a tie: every one of them is named, never the first
    low = [t[0] for t in ok if _fmt(t[1]) == _fmt(ok[0][1])]
    high = [t[0] for t in ok if _fmt(t[1]) == _fmt(ok[-1][1])]
    if len(ok) > 1 and len(low) == len(ok):
        who = "All" if len(ok) == len(finals) else f"All {len(ok)} that do not diverge"
        return f"{who} end at the same f{where}: {f(low)} = {_fmt(ok[0][1])}. "
    text = f"Lowest f at the end{where}: {joined(low)} ({f(low)} = {_fmt(ok[0][1])})"
    if len(ok) > 1:
        text += f"; highest: {joined(high)} ({f(high)} = {_fmt(ok[-1][1])})"
    return text + ". "


def _paths_look_for(results: Mapping[str, Any], fn: functions2d.Function2D, grid: bool) -> str:
    finals = _function_finals(results, fn)
    ok = [t for t in finals if not t[2]]
    elsewhere = _elsewhere_words(results, function2d=True)
    several = {name for name, runs in _group_paths(results).items() if len(runs) > 1}
    where = " (where each is evaluated, as the Summary ranks)" if elsewhere else ""
    text = _ends_words(finals, where, several)
    if elsewhere:
        text += elsewhere + " "
    if several:
        text += (
            "A group of several runs shows each run's path in its style and ranks by the "
            "mean f of those that did not diverge, as its legend entry gives. "
        )
    text += _gone_words(results, fn, [t[0] for t in finals])
    minima = _marked_minima(results, fn)
    if grid:
        text += (
            "One panel per optimizer, its path in its colour with a dot per step and the "
            f"others in light grey: {_panels_hint(results, fn, minima)} "
        )
    else:
        text += "Follow each path from the start (○) to its end (the large marker). "
    words = _path_shape_words(results, [t[0] for t in ok], _plotted_range(results, fn))
    if words:
        words += " " + _shapes_why(_has_minimum(results, fn), minima)
    text += words
    return text.strip()


def _plotted_range(
    results: Mapping[str, Any], fn: functions2d.Function2D
) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(xlim, ylim)``: the range the paths figures draw ``fn`` over (the document's)."""
    block = _function_block(_problem(results) or {})
    return _range(block, "xlim", fn.xlim), _range(block, "ylim", fn.ylim)


def _marked_minima(
    results: Mapping[str, Any], fn: functions2d.Function2D
) -> list[tuple[float, float]]:
    """The minima the paths figures mark: the document's, else ``fn``'s."""
    minima = _function_block(_problem(results) or {}).get("minima", fn.minima) or []
    return [(float(x), float(y)) for x, y in minima]


def _has_minimum(results: Mapping[str, Any], fn: functions2d.Function2D) -> bool | None:
    """Whether f has a minimum, as far as gdlab knows: ``True`` where minima are named
    (:func:`_marked_minima`), ``False`` where a function names none (a registered one
    without minima is unbounded below: the saddle), ``None`` for a typed expression,
    whose minima gdlab does not work out."""
    from gdlab import expressions

    if _marked_minima(results, fn):
        return True
    if (
        isinstance(fn, expressions.ExpressionFunction)
        or (_problem(results) or {}).get("kind") == "expression"
    ):
        return None
    return False


# Curvatures at a minimum this many times apart make a narrow valley there: contours
# about √10 ≈ 3 times longer than wide, or more (the bowl's 20, Beale's 160 and
# Rosenbrock's 2500 do; Himmelblau's, at most 3.7, and Rastrigin's 1 do not)
_VALLEY = 10.0


def _narrow_valley(fn: functions2d.Function2D, minima: Sequence[tuple[float, float]]) -> bool:
    """Whether ``fn`` has a narrow valley at one of ``minima``: its two curvatures there
    (the Hessian's eigenvalues, from ``fn.grad`` by central differences) positive and
    at least :data:`_VALLEY` times apart."""
    for x, y in minima:
        h = 1e-5 * max(1.0, abs(x), abs(y))
        with np.errstate(all="ignore"):
            across = np.subtract(fn.grad(x + h, y), fn.grad(x - h, y), dtype=np.float64)
            along = np.subtract(fn.grad(x, y + h), fn.grad(x, y - h), dtype=np.float64)
        hessian = np.array([across, along]) / (2 * h)
        if not np.isfinite(hessian).all():
            continue
        low, high = np.linalg.eigvalsh((hessian + hessian.T) / 2)
        if low > 0 and high >= _VALLEY * low:
            return True
    return False


def _panels_hint(
    results: Mapping[str, Any], fn: functions2d.Function2D, minima: Sequence[tuple[float, float]]
) -> str:
    """What to count in the paths grid, true of ``fn``: zigzags across its valley where
    it has a narrow one (:func:`_narrow_valley`), else the back and forth against the
    way to a minimum, or downhill where it has none (or gdlab does not know)."""
    minimum = _has_minimum(results, fn)
    if minimum and _narrow_valley(fn, minima):
        return (
            "count the steps it wastes zigzagging across the valley against those that "
            "move along it."
        )
    hint = "count the steps it wastes going back and forth against those that"
    if minimum:
        return f"{hint} head for a minimum."
    hint += " carry it downhill"
    if minimum is None:
        return hint + "."
    return (
        f"{hint}: f has no minimum, so a path that keeps going down without end must leave "
        "the plotted range."
    )


def _shapes_why(minimum: bool | None, minima: Sequence[tuple[float, float]]) -> str:
    """Why paths zigzag, curve or run straight, in general; where an even step can aim a
    path: at the minimum (one of them), or downhill where f has none (or gdlab does not
    know)."""
    if minimum:
        aim = "straight at the minimum" if len(minima) == 1 else "straight at a minimum"
    elif minimum is None:
        aim = "straight downhill"
    else:
        aim = "straight downhill, with no minimum to stop at"
    return (
        "Why, in general: a step too long for the steep direction overshoots it and "
        "zigzags; momentum carries a path on in a curve; dividing each coordinate's "
        "step by the size of its recent gradients (AdaGrad, RMSprop, Adam) evens the "
        f"two directions out, which can point a path {aim}."
    )


# A turn of the path (between two steps' directions), in degrees, that counts as a
# zigzag when its neighbour turns the other way by as much; a path no longer than
# _STRAIGHT times the straight line from its start to its end, with no zigzag, is straight.
_ZIGZAG_DEG = 30.0
_STRAIGHT = 1.1


def _path_turns(path: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(turns, starts, ratio)``: the signed turn in degrees between each two consecutive
    moves of the path (a move shorter than 1e-9 of the longest is left out), the index
    of the point each move starts from (one more than there are turns), and the path's
    length over the straight line from its start to its end (inf where they meet, NaN
    for a path that never moves)."""
    points = np.nonzero(np.isfinite(path).all(axis=1))[0]
    steps = np.diff(path[points], axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    if not len(lengths) or lengths.max() == 0:
        return np.empty(0), np.empty(0, dtype=int), math.nan
    moves = lengths > 1e-9 * lengths.max()
    steps, starts = steps[moves], points[:-1][moves]
    angles = np.arctan2(steps[:, 1], steps[:, 0])
    turns = np.degrees((np.diff(angles) + np.pi) % (2 * np.pi) - np.pi)
    chord = float(np.linalg.norm(path[points[-1]] - path[points[0]]))
    return turns, starts, float(lengths.sum() / chord) if chord > 0 else math.inf


def _zigzags(turns: np.ndarray) -> np.ndarray:
    """The indices of the turns of at least :data:`_ZIGZAG_DEG` next to one that turns
    the other way by as much: back and forth, as across a narrow valley."""
    big = np.abs(turns) >= _ZIGZAG_DEG
    flips = big[:-1] & big[1:] & (np.sign(turns[:-1]) != np.sign(turns[1:]))
    marked = np.zeros(len(turns), dtype=bool)
    marked[:-1] |= flips
    marked[1:] |= flips
    return np.nonzero(marked)[0]


def _drawn_part(
    path: np.ndarray, box: tuple[tuple[float, float], ...] | None
) -> tuple[np.ndarray, bool]:
    """``(part, cut)``: ``path`` as far as the figures draw it in ``box`` (``((x0, x1),
    (y0, y1))``, their range): all of it where it ends inside (or without ``box``, or
    where it never meets the box), else up to where it last leaves, ending on the edge
    it crosses there (``cut`` true). A path that escapes (a saddle's, to y = 1e10) is
    judged on what is seen, not on a length the escape dominates; one that leaves and
    comes back is judged whole, its way out and back in included."""
    points = np.nonzero(np.isfinite(path).all(axis=1))[0]
    if box is None or not len(points):
        return path, False
    low, high = _corners(box)
    if not _outside(path[points[-1:]], low, high).any():
        return path, False
    for a, b in zip(points[-2::-1], points[:0:-1], strict=True):  # the last move first
        with np.errstate(over="ignore"):  # a move far out (to y = 1e24) misses the box
            share = _leaves_at(path[a], path[b], low, high)
        if share is not None:
            return np.vstack([path[: a + 1], path[a] + share * (path[b] - path[a])]), True
    return path, False


def _corners(box: tuple[tuple[float, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and the highest corner of ``box``, ``((x0, x1), (y0, y1))``."""
    return np.array([box[0][0], box[1][0]]), np.array([box[0][1], box[1][1]])


def _outside(points: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Which of the finite ``points`` lie outside the box ``low``–``high``."""
    finite = np.isfinite(points).all(axis=1)
    with np.errstate(invalid="ignore"):
        return finite & ~((points >= low) & (points <= high)).all(axis=1)


def _path_shape(
    run: Mapping[str, Any], name: str, box: tuple[tuple[float, float], ...] | None
) -> tuple[str, str]:
    """``(shape, words)`` of one group's ``run``'s path as drawn in ``box``
    (:func:`_drawn_part`): ``"zigzag"``, ``"straight"``, ``"curved"``, ``"still"``, ``"off"``
    (out of the range for good in its first move: a line too short to judge) or ``""``
    (no shape to tell). A path that leaves the range and comes back is never straight:
    it turned out there."""
    from gdlab.results import series_stride

    path = _path_of(run)
    drawn, cut = _drawn_part(path, box)
    turns, starts, ratio = _path_turns(drawn)
    zig = _zigzags(turns)
    stride = series_stride(run)
    if len(zig) == len(turns) and len(zig) > 2 and not cut:
        return "zigzag", f"{name} at every step"
    if len(zig):  # turns zig[0] … zig[-1]: the moves from zig[0] to zig[-1] + 1
        first, last = int(starts[zig[0]]) * stride + 1, (int(starts[zig[-1] + 1]) + 1) * stride
        return "zigzag", f"{name} over steps {first}–{last}"
    if math.isnan(ratio):
        return "still", name
    if cut and len(starts) == 1:
        first, last = int(starts[0]) * stride + 1, (int(starts[0]) + 1) * stride
        steps = f"step {first}" if first == last else f"steps {first}–{last}"
        return "off", f"{name} ({steps})"
    if not math.isfinite(ratio):
        return "", ""
    seen = drawn[:-1] if cut else drawn  # the edge point ends a cut path
    back = box is not None and bool(_outside(seen, *_corners(box)).any())
    notes = [f"{ratio:.2f}×"]
    notes += ["out of the range and back"] if back else []
    notes += ["up to the range's edge"] if cut else []
    shape = "straight" if ratio <= _STRAIGHT and not back else "curved"
    return shape, f"{name} ({', '.join(notes)})"


def _path_shapes(
    results: Mapping[str, Any],
    names: Sequence[str],
    box: tuple[tuple[float, float], ...] | None = None,
) -> dict[str, list[str]]:
    """``{"zigzag": [...], "straight": [...], "curved": [...], "still": [...], "off":
    [...]}``: each path of the named groups that did not diverge (:func:`_path_names`) as
    :func:`_path_shape` measures it, with its words: the path as drawn inside ``box``
    (:func:`_drawn_part`). Steps are the run's (a long run's inline path is every
    ``stride``-th point: a move from point ``j`` covers steps ``j·stride + 1`` to
    ``(j + 1)·stride``)."""
    shapes: dict[str, list[str]] = {
        "zigzag": [], "straight": [], "curved": [], "still": [], "off": []
    }  # fmt: skip
    for name, run in _path_names(results, names, diverged=False):
        shape, words = _path_shape(run, name, box)
        if shape:
            shapes[shape].append(words)
    return shapes


def _path_shape_words(
    results: Mapping[str, Any],
    names: Sequence[str],
    box: tuple[tuple[float, float], ...] | None = None,
) -> str:
    """What the paths of ``names`` (groups that did not diverge) do, measured on them:
    which zigzag (turn back and forth by 30° or more), which run nearly straight, which
    curve; measured on the paths drawn (inside ``box``, the plotted range), so the words
    hold for any function and setup."""
    shapes = _path_shapes(results, names, box)
    words = []
    if shapes["zigzag"]:
        words.append(
            f"Zigzagging (turning back and forth by {_ZIGZAG_DEG:.0f}° or more: overshooting "
            f"and coming back): {joined(shapes['zigzag'])}."
        )
    if shapes["straight"]:
        words.append(
            "Nearly straight (path length over the straight line from start to end): "
            f"{joined(shapes['straight'])}."
        )
    if shapes["curved"]:
        words.append(
            f"Curving without zigzagging (length over the straight line): "
            f"{joined(shapes['curved'])}."
        )
    if shapes["off"]:
        words.append(
            "Off the plotted range in one straight move, too soon to show a shape: "
            f"{joined(shapes['off'])}."
        )
    if shapes["still"]:
        words.append(f"Never moved from the start: {joined(shapes['still'])}.")
    return " ".join(words)


def _gone_words(results: Mapping[str, Any], fn: functions2d.Function2D, gone: Sequence[str]) -> str:
    """Where the paths figures put the × of each diverged path of the groups ``gone``
    (:func:`_path_names`): where it left the function's range (the plotted area), or
    where it stopped; then the paths that did not diverge and leave the range."""
    block = _function_block(_problem(results) or {})
    xlim, ylim = _range(block, "xlim", fn.xlim), _range(block, "ylim", fn.ylim)
    paths = _path_names(results, gone, diverged=True)
    left = [name for name, run in paths if _exit(_path_of(run), xlim, ylim)[1]]
    stayed = [name for name, _ in paths if name not in left]
    parts = []
    if left:
        each = "each" if len(left) > 1 else "it"
        parts.append(f"{joined(left)} diverged off the plot (× where {each} crossed the edge)")
    if stayed:
        each = "each" if len(stayed) > 1 else "it"
        parts.append(f"{joined(stayed)} diverged (× where {each} stopped)")
    text = "; ".join(parts) + ". " if parts else ""
    kept = _path_names(results, list(_group_paths(results)), diverged=False)
    return text + _outside_words(kept, xlim, ylim)


def _outside_words(
    paths: Sequence[tuple[str, Mapping[str, Any]]],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> str:
    """The ``paths`` (``(words, run)``, runs that did not diverge) that leave the plotted
    range: cut at its edge, with no end marker where it ends outside."""
    low, high = np.array([xlim[0], ylim[0]]), np.array([xlim[1], ylim[1]])
    ends_out, back = [], []
    for name, run in paths:
        path = _path_of(run)
        finite = path[np.isfinite(path).all(axis=1)]
        outside = ~((finite >= low) & (finite <= high)).all(axis=1)
        if not outside.any():
            continue
        if outside[-1]:
            x, y = finite[-1]
            ends_out.append(f"{name} (at x = {_fmt(float(x))}, y = {_fmt(float(y))})")
        else:
            back.append(name)
    parts = []
    if ends_out:
        verb = "end" if len(ends_out) > 1 else "ends"
        parts.append(
            f"{joined(ends_out)} {verb} outside the plotted range, with no end marker "
            "(the path is cut at the edge)"
        )
    if back:
        verb = (
            "leave the plotted range and come"
            if len(back) > 1
            else "leaves the plotted range and comes"
        )
        parts.append(f"{joined(back)} {verb} back inside (its path is cut where it is out)")
    return "; ".join(parts) + ". " if parts else ""


def _function_loss_look_for(results: Mapping[str, Any], fn: functions2d.Function2D) -> str:
    finals = _function_finals(results, fn)
    minimum = _has_minimum(results, fn)
    if minimum:
        text = (
            "f at each step on a log axis: a straight falling line is steady (linear) "
            "convergence, a line that bends down speeds up, and bumps are overshoots."
        )
    elif minimum is None:  # a typed expression: whether f has a minimum is not known
        text = (
            "f at each step on a log axis (symmetric log where f reaches 0 or below): a "
            "falling line is progress, a line that levels off has stopped going down (at a "
            "minimum, or on a flat stretch), and bumps are overshoots."
        )
    else:  # nothing to converge to: f falls without end along a path that escapes
        text = (
            f"f has no minimum ({fn.description}), so nothing converges: a line that keeps "
            "falling on the symmetric log axis is a path escaping downhill, f heading for "
            "−∞, and the steeper the line, the faster the escape."
        )
    ok = [t for t in finals if not t[2]]
    elsewhere = _elsewhere_words(results, function2d=True)
    if len(ok) > 1:
        where = " where each is evaluated (as the Summary ranks)" if elsewhere else ""
        text += f" {ok[0][0]} ends lowest{where}, {ok[-1][0]} highest."
    if elsewhere:
        text += f" Each curve is f along the path; {elsewhere}"
    return text


def _batch_sizes(results: Mapping[str, Any]) -> dict[str, int]:
    """Each configured run's batch size by label (the training set's size for a full
    batch), from ``config``; a label not configured there is left out."""
    config = results.get("config") or {}
    training = config.get("training") or {}
    n = ((_problem(results) or {}).get("data") or {}).get("n_train")
    sizes = {}
    for run in config.get("runs") or ():
        size = run.get("batch_size", training.get("batch_size")) or n
        if isinstance(size, int) and "label" in run:
            sizes[run["label"]] = min(size, n) if isinstance(n, int) else size
    return sizes


def _turns_back(path: np.ndarray) -> float:
    """The share of ``path``'s turns (between one step and the next) of more than 90°:
    near 1 for a path that goes back and forth, overshooting across a valley."""
    steps = np.diff(path, axis=0)
    steps = steps[np.linalg.norm(steps, axis=1) > 0]
    if len(steps) < 2:
        return 0.0
    return float(np.mean(np.einsum("ij,ij->i", steps[:-1], steps[1:]) < 0))


def _weights_shapes(
    results: Mapping[str, Any],
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """``(winding, zigzag, gone)`` over each group's first path: the length over the
    straight line of the paths that neither diverged nor zigzag (most turns back by more
    than 90°: :func:`_turns_back`), the same of those that zigzag, and the groups whose
    first run diverged (marked ×, not ranked)."""
    firsts = _first_runs(results)
    gone = [name for name, run in firsts.items() if _diverged(run)]
    winding: dict[str, float] = {}
    zigzag: dict[str, float] = {}
    for name, run in firsts.items():
        path = _path_of(run)
        if len(path) > 2 and name not in gone:
            steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
            ratio = float(steps.sum() / max(np.linalg.norm(path[-1] - path[0]), 1e-12))
            (zigzag if _turns_back(path) > 0.8 else winding)[name] = ratio
    return winding, zigzag, gone


def _smoothest_words(results: Mapping[str, Any], winding: Mapping[str, float]) -> str:
    """The smoothest and the roughest of ``winding``'s paths; the reason, fewer samples,
    only where the roughest did use a smaller batch than the smoothest."""
    if len(winding) < 2:
        return ""
    (smooth, smooth_ratio), *_, (rough, rough_ratio) = sorted(winding.items(), key=lambda kv: kv[1])
    text = (
        f" {smooth} follows the smoothest path (it travels {smooth_ratio:.2g}× the "
        f"straight-line distance); {rough} jitters most ({rough_ratio:.2g}×)"
    )
    batches = _batch_sizes(results)
    if batches.get(rough, 0) < batches.get(smooth, 0):
        text += (
            f": each of its steps follows the gradient of fewer samples ({batches[rough]} "
            f"against {batches[smooth]}), which points only roughly downhill"
        )
    return text + "."


def _weights_look_for(results: Mapping[str, Any]) -> str:
    best = ((_problem(results) or {}).get("surface") or {}).get("minimum")
    winding, zigzag, gone = _weights_shapes(results) if best is not None else ({}, {}, [])
    text = (
        "Left: each run's weights from the start (○) across the loss contour "
        "(darker lines are lower loss) to its end (large marker)"
    )
    if best is not None:
        text += (
            f"; {TARGET_WORDS} marks the least-squares minimum ({_fmt(best[0])}, {_fmt(best[1])})"
        )
    text += "." + _smoothest_words(results, winding)
    if zigzag:
        one = len(zigzag) == 1
        text += (
            f" {joined(f'{name} ({ratio:.2g}×)' for name, ratio in zigzag.items())} "
            f"{'zigzags' if one else 'zigzag'}: most of {'its' if one else 'their'} steps turn "
            "back by more than 90°, overshooting across the valley, as a learning rate too "
            "large for its steepest direction does."
        )
    if gone:
        each = "its" if len(gone) == 1 else "each"
        text += f" {joined(gone)} diverged: × marks where {each} path stopped (seed 0's)."
    text += " Right: the loss per step on the same colours"
    if gone or zigzag:
        return text + "."
    return (
        text
        + "; the smallest batch gives the noisiest curve, and a mini-batch sits between the two."
    )


# --- the plan: which figures, with titles, captions and what to look for ---------


@dataclass(frozen=True)
class _Plan:
    name: str
    title: str
    caption: str
    make: Callable[[], Figure]
    look_for: Callable[[], str]


def _plan(
    results: Mapping[str, Any], function: functions2d.Function2D | None = None
) -> list[_Plan]:
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
        plans += _run_plans(results, problem, runs, function)
    if series is not None:
        plans += _series_plans(results, series)
    return plans


def _function_plans(
    results: Mapping[str, Any],
    problem: Mapping[str, Any],
    runs: list[Mapping[str, Any]],
    function: functions2d.Function2D | None,
    marked: str,
) -> list[_Plan]:
    fn = _function_of(problem, function, results=results)
    plans: list[_Plan] = []
    if _has_paths(runs):
        plans.append(
            _Plan(
                "overlay",
                f"Every path on {fn.description}",
                "Contour lines of f (darker is lower) with each group's path (each of its "
                "runs' in the group's style where it has several), "
                "a small marker every step or so, the start ○, each end point as a large "
                "marker with a black edge (× for a diverged path: where it stopped, or where "
                "it crossed the edge on its way out)"
                f"{_plus_words(fn, f' and {TARGET_WORDS} at the minimum')}. "
                + _overlay_axes_words(results, fn),
                lambda: overlay_figure(results, function=fn),
                lambda: _paths_look_for(results, fn, grid=False),
            )
        )
        plans.append(
            _Plan(
                "paths",
                f"Paths on {fn.description}, one optimizer per panel",
                "Seed 001's grid: each panel holds one group's path, or each of its runs' "
                "(its colour, a marker at each step), and the other groups' paths in light "
                "grey;"
                f"{_plus_words(fn, f' {TARGET_WORDS} marks the minimum,')} "
                "× where a diverged path stops, "
                "or where it crosses the panel's edge on its way out.",
                lambda: paths_figure(results, function=fn),
                lambda: _paths_look_for(results, fn, grid=True),
            )
        )
    plans.append(
        _Plan(
            "loss",
            "f(x, y) per step",
            "The value of f at the start (step 0) and after each update (step k: after k "
            "updates; the last point is f where the path ends), log scale (symmetric log "
            "where f goes negative)." + _function_mean_words(results) + marked,
            lambda: loss_figure(results),
            lambda: _function_loss_look_for(results, fn),
        )
    )
    if _wants_lr_figure(runs):
        plans.append(_lr_plan(results))
    return plans


def _function_mean_words(results: Mapping[str, Any]) -> str:
    """The 2-D loss caption's words on a group of several runs (:func:`_function_losses`),
    ``""`` where every group is one run."""
    if all(len(runs) < 2 for runs in _group_paths(results).values()):
        return ""
    band = (
        "a band of one standard deviation either side"
        if _band(results) == "std"
        else "a band from its lowest to its highest run"
    )
    return (
        " A group of several runs is one curve, the mean of its runs that did not diverge, "
        f"with {band}; a run that diverged is drawn alone, thin."
    )


#: The captions' words for the minimum's marker (:func:`_target`).
TARGET_WORDS = "a target (a ring with four ticks)"


def _plus_words(fn: functions2d.Function2D, words: str) -> str:
    """``words`` (what the minimum's target means) where ``fn`` has a minimum to mark,
    else ``""``."""
    return words if fn.minima else ""


def _lr_plan(results: Mapping[str, Any]) -> _Plan:
    return _Plan(
        "lr",
        "Learning rate per step",
        "The learning rate each step used (each group's first run), a level over each "
        f"step, the last one's too; {_lr_scale_words(results)}; groups with the same rates "
        "share one line.",
        lambda: lr_figure(results),
        lambda: _lr_look_for(results),
    )


def _rate_series(results: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Each group's rate per step (its first run's ``lr``, as recorded inline)."""
    out = {}
    for name, run in _first_runs(results).items():
        lr = np.asarray(run.get("lr") or [], dtype=np.float64).reshape(-1)
        if lr.size and np.isfinite(lr).all():
            out[name] = lr
    return out


def _steps_words(steps: Sequence[int]) -> str:
    if len(steps) <= 4:
        return joined([str(s) for s in steps])
    gaps = set(np.diff(steps).tolist())
    every = f" (every {gaps.pop()} steps)" if len(gaps) == 1 else ""
    return f"{steps[0]}, {steps[1]}, …, {steps[-1]}{every}"


def _drop_words(results: Mapping[str, Any], rates: Mapping[str, np.ndarray]) -> str:
    """Where the rates that change at a few steps (at most 10: staircases, per-epoch
    decays) change, groups with the same steps together; ``""`` for none."""
    firsts = _first_runs(results)
    where: dict[tuple[int, ...], list[str]] = {}
    for name, lr in rates.items():
        changes = tuple(int(i) for i in np.nonzero(np.diff(lr))[0] + 1)
        if 0 < len(changes) <= 10 and series_stride(firsts[name]) == 1:
            where.setdefault(changes, []).append(name)
    words = [
        f"{'the rates of' if len(names) > 1 else 'the rate of'} {joined(names)} "
        f"{'change' if len(names) > 1 else 'changes'} at steps {_steps_words(steps)}"
        for steps, names in where.items()
    ]
    text = "; ".join(words) + ". " if words else ""
    return text[:1].upper() + text[1:]


def _settings_of(run: Mapping[str, Any], sizes: Mapping[str, int]) -> str:
    """What a run shares with another whose rate differs only in its schedule: its
    optimizer, preset, hyperparameters other than the rate and batch size (``sizes``:
    :func:`_batch_sizes`), as one comparable text."""
    import json

    hyperparameters = {k: v for k, v in (run.get("hyperparameters") or {}).items() if k != "lr"}
    size = sizes.get(str(run.get("label")))
    kept = [run.get("optimizer"), run.get("preset"), hyperparameters, size]
    return json.dumps(kept, sort_keys=True, default=repr)


def _rate_traits(
    group: Sequence[Mapping[str, Any]], sizes: Mapping[str, int]
) -> tuple[str | None, bool, bool]:
    """``(settings, constant, decays)`` of a group: the settings its runs share
    (:func:`_settings_of`; ``None`` where they differ), whether every run's rate stays
    the same from step to step, whether every run's rate ends below where it started."""
    settings = {_settings_of(run, sizes) for run in group}
    rates = [_floats(run.get("lr")) for run in group]
    finite = [lr for lr in rates if lr.size and np.isfinite(lr).all()]
    whole = len(finite) == len(rates) and bool(rates)
    constant = whole and all(lr.size > 1 and np.ptp(lr) == 0 for lr in finite)
    decays = whole and all(lr[-1] < lr[0] for lr in finite)
    return (settings.pop() if len(settings) == 1 else None), constant, decays


def _known_sizes(results: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The batch sizes of ``runs`` by label (:func:`_batch_sizes`) where the config names
    each of them; none (not compared) where it does not."""
    sizes = _batch_sizes(results)
    return sizes if all(str(r.get("label")) in sizes for r in runs) else {}


def _decay_words(results: Mapping[str, Any], ranked: Sequence[str]) -> str:
    """How the decays did against a constant rate, of the groups ``ranked`` (lowest final
    loss first) that differ from the lowest only in their rate's schedule: the same
    optimizer and other hyperparameters, every run of a group alike (:func:`_rate_traits`),
    so that the difference is the schedule's; ``""`` where there is none to compare."""
    groups = _groups(_runs(results))
    sizes = _known_sizes(results, [r for name in ranked for r in groups[name]])
    traits = {name: _rate_traits(groups[name], sizes) for name in ranked}
    first = ranked[0]
    settings = traits[first][0]
    if settings is None:
        return ""
    alike = [name for name in ranked if traits[name][0] == settings]
    constant = [name for name in alike if traits[name][1]]
    decaying = [name for name in alike if traits[name][2]]
    if not constant or not decaying:
        return ""
    same = "" if len(alike) == len(ranked) else " with the same optimizer and settings"
    if first in constant:
        # a run named for its constant rate is not named twice
        named = len(constant) == 1 and "constant" in first.lower().split()
        who = "The constant rate" if named else f"A constant rate ({first})"
        return (
            f"{who} ends lowest: every schedule{same} that lowers the rate ends higher, so "
            "here the decay cost more descent than it saved in noise; a decay pays where a "
            "large rate's noise is what holds the loss up. "
        )
    if first in decaying:
        named = len(constant) == 1 and "constant" in constant[0].lower().split()
        which = "" if named else f" ({joined(constant)})"
        return f"{first}, whose rate decays, ends below the constant rate{which}{same}. "
    return ""


def _lr_look_for(results: Mapping[str, Any]) -> str:
    """Where the rates change, and how the race ended, from its results: which group
    ended lowest and, where a constant rate and decays of the same optimizer and settings
    are among them, how the decays did against it (:func:`_decay_words`). Whether the
    loss calms after a drop is left to the loss curve: it need not."""
    rates = _rate_series(results)
    text = _drop_words(results, rates)
    finals = _final_losses(results)
    ranked = sorted((v, name) for name, v in finals.items() if name in rates)
    if len(ranked) > 1:
        (best, first), (worst, last) = ranked[0], ranked[-1]
        text += f"Lowest final loss: {first} ({_fmt(best)}); highest: {last} ({_fmt(worst)}). "
        text += _decay_words(results, [name for _, name in ranked])
    return text + (
        "Compare the loss curve above where a rate drops or decays: a smaller step moves "
        "less and, on small batches, averages out more of their noise."
    )


def _has_weight_paths(problem: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> bool:
    surface = problem.get("surface")
    return isinstance(surface, Mapping) and surface.get("kind") == "quadratic" and _has_paths(runs)


def _run_plans(
    results: Mapping[str, Any],
    problem: Mapping[str, Any],
    runs: list[Mapping[str, Any]],
    function: functions2d.Function2D | None = None,
) -> list[_Plan]:
    diverged = any(_diverged(r) for r in runs)
    if is_function2d(problem):
        marked = (
            " A diverged run's × marks where it stopped, after its last applied update (for "
            '"diverged at step N", step N\'s update was refused: × at N − 1), at its last '
            "finite f, or on the top edge when that lies above the axis."
            if diverged
            else ""
        )
        return _function_plans(results, problem, runs, function, marked)
    marked = (
        " A diverged run's curve ends at its last recorded loss and its × stands at the step "
        "where it diverged (its legend says which), on the top edge when the curve ends "
        "above the axis."
        if diverged
        else ""
    )

    plans: list[_Plan] = []
    seeds = any(len(g) > 1 for g in _groups(runs).values())
    window = effective_window(SMOOTH_BETA)
    if _has_weight_paths(problem, runs):
        axes = (problem["surface"].get("axes") or ["w1", "w2"])[:2]
        plans.append(
            _Plan(
                "paths",
                f"The weights' paths: {axes[0]} against {axes[1]}",
                f"Left: each group's path in ({axes[0]}, {axes[1]}) over contour lines of the "
                "training loss (the other parameters, such as the bias, at their best for "
                "each point), from the start ○ to the end (large marker; × where a diverged "
                f"run stopped); {TARGET_WORDS} marks the "
                "least-squares minimum. Right: the training loss per step "
                f"({_step_loss_words(runs)}), raw (faint) and smoothed.",
                lambda: weights_figure(results),
                lambda: _weights_look_for(results),
            )
        )
    caption = (
        f"Training loss per step ({_step_loss_words(runs)}). Faint: the raw loss; "
        f"solid: smoothed with a bias-corrected exponentially weighted average "
        f"(β = {SMOOTH_BETA:g}, about {window:.0f} steps; a noisier loss over more steps, as "
        "its legend entry says)."
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
        " The y-axis is chosen from the data (log when the curves span decades) and ends "
        "at the curves' 99th percentile, so early spikes may be cut off."
        + (_band_axis_words(results) if seeds else "")
        + marked
    )
    plans.append(
        _Plan(
            "loss", "Training loss", caption, lambda: loss_figure(results),
            lambda: _loss_look_for(results),
        )
    )  # fmt: skip

    keys = _accuracy_keys(runs)
    if keys:
        styles = ", ".join(f"{ACCURACY_NAMES[k]} {_STYLE_WORDS[ACCURACY_STYLES[k]]}" for k in keys)
        plans.append(
            _Plan(
                "accuracy",
                "Accuracy",
                f"Accuracy at each evaluation against the step ({styles}); with several "
                "seeds, the mean over the seeds that did not diverge and a shaded band from "
                f"{_accuracy_band_words(_band(results))} over them at each evaluation (a short "
                "bar where there is one evaluation; a diverged seed is left out of both and "
                "drawn alone, thin).",
                lambda: accuracy_figure(results),
                lambda: _accuracy_look_for(results),
            )
        )
    if _wants_lr_figure(runs):
        plans.append(_lr_plan(results))
    if _boundary_runs(runs):
        plans.append(
            _Plan(
                "boundary",
                "Decision boundaries",
                "P(class 1) over the input plane for each group's first run (colour), the "
                "0.5 contour (the decision boundary, black) and "
                f"{_points_words(results)} coloured by class.",
                lambda: boundary_figure(results),
                lambda: _boundary_look_for(results),
            )
        )
    return plans


_STYLE_WORDS = {"-": "solid", "--": "dashed", ":": "dotted"}


def _band_axis_words(results: Mapping[str, Any]) -> str:
    """The loss caption's words on how the y-axis meets the bands over seeds
    (:func:`_loss_scale`)."""
    cut = _loss_view(_loss_curves(results), None).cut
    words = (
        " With several seeds it is chosen from the means and then grows to hold the "
        f"bands, unless that would make it more than {BAND_WIDEN:g} times as high (on a "
        f"log axis: in decades, and at most {BAND_WIDEN_DECADES:g} decade more) and "
        "flatten the means' differences."
    )
    if cut:
        words += (
            " Here the seeds spread farther than that: a band leaves the axis and is cut at "
            "its edge, so the seeds differ even more than the shading shows."
        )
    return words


def _accuracy_look_for(results: Mapping[str, Any]) -> str:
    best = []
    for name, group in _groups(_runs(results)).items():
        for key in ("test_accuracy", "val_accuracy", "train_accuracy"):
            values = [
                float((r.get("metrics") or {})[key])
                for r in group
                if (r.get("metrics") or {}).get(key) is not None
            ]
            if values:
                best.append((float(np.mean(values)), name, ACCURACY_NAMES[key]))
                break
    text = ""
    if best:
        top = max(best)
        text = f"Highest at the end: {top[1]} ({top[2]} accuracy {top[0]:.3f}). "
    text += _memorising_words(_runs(results))
    return f"{text.strip()} {_accuracy_overlap_words(results)}".strip()


MEMORISING_GAP = 0.02  # a train–held-out gap that widens by this much: learning by heart


def _gap_change(group: Sequence[Mapping[str, Any]], held: str) -> tuple[float, float] | None:
    """``(first, last)``: the train − ``held`` accuracy gap at a group's first and last
    evaluation, its seeds' mean (seeds that diverged left out); ``None`` without two."""
    gaps = []
    for run in [r for r in group if not _diverged(r)]:
        pairs = [e for e in run.get("epochs") or () if _finite_number(e.get(held))
                 and _finite_number(e.get("train_accuracy"))]  # fmt: skip
        if len(pairs) > 1:
            gaps.append([e["train_accuracy"] - e[held] for e in (pairs[0], pairs[-1])])
    if not gaps:
        return None
    first, last = np.mean(gaps, axis=0)
    return float(first), float(last)


def _memorising_words(runs: Sequence[Mapping[str, Any]]) -> str:
    """Whether a train line pulls away from its held-out (test, else validation) line:
    the group whose gap (:func:`_gap_change`) widens most from its first evaluation to
    its last, if by :data:`MEMORISING_GAP` or more; ``""`` where the figure has no
    held-out line."""
    keys = _accuracy_keys(runs)
    held = next((k for k in ("test_accuracy", "val_accuracy") if k in keys), None)
    if "train_accuracy" not in keys or held is None:
        return ""
    changes = {name: _gap_change(group, held) for name, group in _groups(runs).items()}
    found = {name: gap for name, gap in changes.items() if gap is not None}
    line = f"{'dashed' if held == 'test_accuracy' else 'dotted'} ({ACCURACY_NAMES[held]}) line"
    name = max(found, key=lambda n: found[n][1] - found[n][0], default=None)
    if name is None or found[name][1] - found[name][0] < MEMORISING_GAP:
        return (
            f"No solid (train) line pulls away from its {line} by {100 * MEMORISING_GAP:g} "
            "percentage points or more between the first evaluation and the last: no run "
            "is learning the training set by heart yet."
        )
    first, last = found[name]
    return (
        f"{name}'s solid (train) line pulls away most from its {line}: the gap grows "
        f"from {100 * first:.1f} to {100 * last:.1f} percentage points between the first "
        "evaluation and the last: it starts to learn the training set by heart."
    )


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _points_words(results: Mapping[str, Any]) -> str:
    """Which training points the boundary figure draws: all, or how many of how many."""
    points = ((_problem(results) or {}).get("data") or {}).get("points") or {}
    total = points.get("of")
    if isinstance(total, int) and not isinstance(total, bool):
        shown = len(points.get("y") or [])
        return f"{shown:,} of the {total:,} training points (evenly spaced through the set)"
    return "the training points"


def _boundary_look_for(results: Mapping[str, Any]) -> str:
    """What the boundaries show, and the highest accuracy among the panels: the run each
    panel draws (its group's first), as its title gives it, not a mean over seeds."""
    text = (
        "The black line is where the network is undecided (P = 0.5). A boundary that "
        "follows the gap between the two moons has learned their shape; a nearly straight "
        "one has not got past the first, linear part of training."
    )
    runs = _runs(results)
    groups = _groups(runs)
    shown = [
        (found[0], name, run, found[1])
        for name, run in _boundary_runs(runs).items()
        if not _diverged(run) and (found := _panel_accuracy(run)) is not None
    ]
    if shown:
        _, name, run, words = max(shown, key=lambda t: t[0])
        seeds = len(groups[name])
        if seeds > 1:
            words = (
                f"seed {run.get('seed')}'s {words}, the run its panel shows; the accuracy "
                f"figure and the Summary give the mean over its {seeds} seeds"
            )
        text += f" Highest in the panels: {name} ({words})."
    return text


def _series_plans(results: Mapping[str, Any], series: Mapping[str, Any]) -> list[_Plan]:
    kind = series["kind"]
    if kind == "tuning" and not has_sensitivity(series):
        return []  # no configuration tuned the rate: nothing to draw against it
    if kind == "tuning":
        return [
            _Plan(
                "sensitivity",
                "Learning-rate sensitivity",
                _sensitivity_caption(results, series),
                lambda: sensitivity_figure(results),
                lambda: _sensitivity_look_for(series),
            )
        ]
    if kind == "schedules":
        spe = series.get("steps_per_epoch")
        note = f" An epoch is {spe} steps (the image's top axis counts epochs)." if spe else ""
        return [
            _Plan(
                "schedules",
                "Learning-rate schedules",
                "The learning rate of each schedule against the step; the legend gives "
                "its formula. The y-axis is chosen from the data (linear unless the rates "
                "span decades) and holds every curve's 1st–99th percentile." + note,
                lambda: schedules_figure(results),
                lambda: _schedules_look_for(series),
            )
        ]
    if kind == "ewma":
        unit = series.get("unit") or ""
        return [
            _Plan(
                "ewma",
                "Exponentially weighted averages",
                f"Left: daily values{f' ({unit})' if unit else ''} as faint dots and their "
                "bias-corrected exponentially weighted averages, one colour per β (β averages "
                f"over about 1/(1 − β) days). Right: the first {EWMA_FIRST_DAYS} days, with "
                "bias correction v_t/(1 − β^t) (solid) and without (dashed, pulled toward "
                "v_0 = 0 at the start).",
                lambda: ewma_figure(results),
                lambda: _ewma_look_for(series),
            )
        ]
    plans = []
    what = (
        f"Activations of a {series.get('layers', '?')}-layer network with "
        f"{series.get('units', '?')} units per layer on {series.get('samples', '?')} random "
        "inputs: each layer's outputs (columns) for each initialisation (rows), as the share "
        "of activations per bin on one shared scale, and the standard deviation per layer "
        "(right, one line per initialisation)."
    )
    zeros = (
        " For ReLU the bars hold only the positive outputs, on a linear axis fitted to the "
        "Xavier and He layers: “0: n%” in a panel's corner is the share that is exactly 0, "
        "“off axis: n%” the share beyond the axis (std 1 explodes), both left out of the bars."
    )

    def said(activation: str | None) -> str:
        cases = [c for c in series.get("cases") or []
                 if activation is None or str(c.get("activation")) == activation]  # fmt: skip
        return what + (zeros if any(_positive_only(c) for c in cases) else "")

    used: set[str] = set()
    for activation in _init_splits(series):
        if activation is None:
            plans.append(
                _Plan(
                    "init", "Activation histograms", said(None),
                    lambda: _init_file_figure(results),
                    lambda: _init_look_for(series, None),
                )
            )  # fmt: skip
        else:
            name = f"init-{slug(activation)}"
            while name in used:  # two activations with one slug ("ReLU", "relu")
                name += "-2"
            used.add(name)
            plans.append(
                _Plan(
                    name,
                    f"Activation histograms, {activation}",
                    said(activation),
                    lambda a=activation: _init_file_figure(results, activation=a),
                    lambda a=activation: _init_look_for(series, a),
                )
            )
    return plans


def has_sensitivity(series: Mapping[str, Any]) -> bool:
    """Whether a tuning's ``series`` has a rate to draw its sensitivity against: some
    configuration tuned the learning rate (``--tune momentum`` alone tuned none, and its
    report has no sensitivity figure: the Tuned comparison gives the values chosen)."""
    return any(
        isinstance(c, Mapping) and bool(c.get("grid"))
        for c in (series.get("configurations") or {}).values()
    )


def _sensitivity_caption(results: Mapping[str, Any], series: Mapping[str, Any]) -> str:
    """The sensitivity figure's caption: what each point is (as the tuning scored it), which
    rates were tried and what the other tuned hyperparameters were held at."""
    from gdlab.report import tuning_text

    metric = str(series.get("metric") or "validation loss")
    folds = series.get("folds")
    function = tuning_text.is_function(series, results)
    chosen_by = tuning_text.selected_by(series)
    if function:
        score = f"{metric} (a 2-D function has no data, so no folds and no band)"
    elif folds == 1:
        score = f"{metric} on a 20% hold-out of the training set (one score: no band)"
    else:
        score = (
            f"mean {metric} over its {folds} cross-validation folds, with a band of ± one "
            "standard deviation across the folds"
        )
    others = [n for n in tuning_text.tuned_names(series) if n != "lr"]
    held = (
        f"; a configuration that tuned {' or '.join(others)} too shows only the points at "
        "its chosen value"
        if others
        else ""
    )
    return (
        "The tuning behind this race: each configuration's "
        f"{score}, against the learning rate (log scale), at the rates tried by "
        f"{tuning_text.search(series)}{held}. A star marks the rate chosen"
        + (f" (by {chosen_by})" if chosen_by else "")
        + "; in the strip above, an × marks a rate at which training diverged "
        + ("" if folds == 1 or function else "in some fold ")
        + "and a hollow square one whose task failed (an error): neither has a score."
    )


def _sensitivity_look_for(series: Mapping[str, Any]) -> str:
    parts = []
    for label, c in (series.get("configurations") or {}).items():
        best = c.get("best") or {}
        if best.get("lr") is not None:
            parts.append(f"{label} at lr {_fmt(float(best['lr']))}")
    text = f"Chosen rates (★): {', '.join(parts)}. " if parts else ""
    return text + (
        "A wide, flat valley means the optimizer forgives a badly chosen rate; a narrow "
        "one, or × marks close to the star, means the rate must be tuned with care."
    )


def _schedules_look_for(series: Mapping[str, Any]) -> str:
    ends = []
    for i, curve in enumerate(series.get("curves") or []):
        lr = _floats(curve.get("lr"))
        if lr.size:
            ends.append((float(lr[-1]), str(curve.get("label") or f"schedule {i + 1}")))
    text = ""
    if len(ends) > 1:
        low, high = min(ends), max(ends)
        text = (
            f"At the last step {high[1]} is highest (lr {_fmt(high[0])}) and {low[1]} "
            f"lowest ({_fmt(low[0])}). "
        )
    return text + (
        "Early on, a fast decay takes smaller steps and loses speed; late, a small rate "
        "lets noisy mini-batch updates settle near the minimum. The staircase drops at "
        "fixed epochs; cosine stays high, then falls to 0 at the end."
    )


def _ewma_look_for(series: Mapping[str, Any]) -> str:
    values = _floats(series.get("values"))
    gaps = []
    for curve in series.get("curves") or []:
        if curve.get("bias_correction"):
            continue
        avg = _floats(curve.get("values"))
        day = min(10, len(avg), len(values)) - 1
        if day >= 0:
            corrected = ewma(values[: day + 1], float(curve["beta"]), bias_correction=True)
            gaps.append((float(curve["beta"]), float(corrected[-1] - avg[day])))
    text = (
        "Right panel: without bias correction (dashed) each average starts from v_0 = 0 "
        "and is 1 − β^t times the corrected one (v_1 = (1 − β)·θ_1): for β near 1 still "
        "about 1/e ≈ 37% too low after 1/(1 − β) days"
    )
    if gaps:
        beta, gap = max(gaps)
        unit = series.get("unit") or ""
        text += f"; at β = {beta:g} it is still {gap:.3g}{unit} too low on day 10"
    return text + (
        ". The solid, corrected curves divide by 1 − β^t and start at the first value. "
        "Left panel: a larger β averages more days, so its curve is smoother and lags "
        "behind the changes of season."
    )


def _init_stds_of(case: Mapping[str, Any]) -> list[float]:
    return [float(layer.get("std", math.nan)) for layer in case.get("layers") or []]


def _std_trend(stds: Sequence[float]) -> str:
    """How a case's std moves from the first layer to the last, in words with the numbers."""
    first, last = stds[0], stds[-1]
    if len(stds) == 1:
        return f"is {_fmt(first)} in its one layer"
    ratio = last / first if first > 0 else math.inf
    if ratio > 10:
        word = "explodes"
    elif ratio < 0.1:
        word = "collapses"
    elif ratio < 0.75:
        steady = len(stds) > 2 and 0.75 <= stds[-1] / stds[1] <= 1.33 if stds[1] > 0 else False
        word = "drops after layer 1, then holds," if steady else "shrinks"
    elif ratio > 1.33:
        word = "grows"
    else:
        word = "holds"
    return f"{word} from {_fmt(first)} to {_fmt(last)}"


def _init_lesson(activation: str, trends: Mapping[str, str], last: Mapping[str, Any]) -> str:
    """Chapter 6's lesson for ``activation``, with the trends (per initialisation) and the
    last layer's statistics (``last[init]``) of the cases drawn."""

    def sat(init: str) -> str:
        return f"{100 * float(last[init].get('saturated', 0.0)):.0f}%"

    said = []
    ends = {"sigmoid": ("0 and 1", "0.5"), "tanh": ("±1", "0")}.get(activation)
    if ends and "std 1" in trends:
        said.append(
            f"Std 1 piles the outputs at {ends[0]} ({sat('std 1')} saturated in the last "
            "layer), where the activation is flat: the gradients vanish."
        )
    if ends and "std 0.01" in trends:
        said.append(
            f"Std 0.01 squeezes every layer onto {ends[1]} (its std {trends['std 0.01']}): every "
            "unit outputs about the same, so the network can express little."
        )
    if ends and "Xavier" in trends:
        shape = "a symmetric bell around 0" if activation == "tanh" else "a bell around 0.5"
        said.append(
            f"Xavier, the book's choice for {activation}, keeps {shape}, spread out and neither "
            f"saturated nor collapsed ({sat('Xavier')} saturated in the last layer), though its "
            f"std {trends['Xavier']}: the lesson is the shape, not a constant std."
        )
    if ends and "He" in trends:
        said.append(f"He's bell is wider ({sat('He')} saturated in the last layer).")
    if activation == "relu":
        if "std 1" in trends:
            off = float(last["std 1"].get("above") or 0.0)
            where = f": {100 * off:.0f}% of the last layer is off the axis" if off else ""
            said.append(f"With std 1 the std {trends['std 1']}{where}.")
        if "std 0.01" in trends:
            said.append(f"With std 0.01 it {trends['std 0.01']}: one bar at 0.")
        if "Xavier" in trends:
            said.append(f"With Xavier the spread {trends['Xavier']}: it drifts toward 0.")
        if "He" in trends:
            said.append(
                f"With He (twice Xavier's variance, for the half ReLU zeroes) it "
                f"{trends['He']}: the book's choice for ReLU."
            )
    return " ".join(said)


def _init_look_for(series: Mapping[str, Any], activation: str | None) -> str:
    """What to look for in the init figure: per activation, what the histograms and the std per
    layer show (its numbers, from ``series.cases``), and chapter 6's lesson."""
    cases = [
        c for c in series.get("cases") or [] if activation is None or c["activation"] == activation
    ]
    texts = []
    for act in dict.fromkeys(str(c.get("activation")) for c in cases):
        trends, last = {}, {}
        for case in (c for c in cases if str(c.get("activation")) == act):
            stds = _init_stds_of(case)
            if stds and math.isfinite(stds[0]) and math.isfinite(stds[-1]):
                trends[str(case.get("init"))] = _std_trend(stds)
                last[str(case.get("init"))] = case["layers"][-1]
        lesson = _init_lesson(act, trends, last)
        if lesson:
            name = {"relu": "ReLU"}.get(act, act.capitalize())
            texts.append((f"{name}: " if activation is None else "") + lesson)
    return " ".join(texts)


def figure_names(
    results: Mapping[str, Any], *, function: functions2d.Function2D | None = None
) -> list[str]:
    """The names of the figures :func:`draw` would draw, without drawing them.

    Raises:
        ValueError: an unknown ``problem.kind`` or ``series.kind`` (named), or
            runs without a problem.
        TypeError: ``results`` (or a part of it) is not the right kind of value.

    >>> figure_names({"runs": [], "series": {"kind": "ewma", "values": [], "curves": []}})
    ['ewma']
    """
    return [plan.name for plan in _plan(results, function)]


# --- drawing helpers ------------------------------------------------------------


#: Fonts that draw Hangul (the seeds' language) and other CJK scripts, in order
#: of preference across Linux, macOS and Windows. DejaVu Sans, matplotlib's own
#: font, has none of them: a label such as "모멘텀" drew as empty boxes.
CJK_FONTS = (
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Source Han Sans KR",
    "NanumGothic",
    "NanumBarunGothic",
    "Malgun Gothic",
    "Apple SD Gothic Neo",
    "AppleGothic",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Source Han Sans",
    "Hiragino Sans",
    "Yu Gothic",
    "Microsoft YaHei",
    "PingFang SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)


@functools.cache
def _font_family() -> tuple[str, ...]:
    """The figures' fonts: DejaVu Sans, then up to two of :data:`CJK_FONTS` that
    this machine has, which matplotlib uses for the glyphs DejaVu Sans lacks."""
    from matplotlib import font_manager

    present = {entry.name for entry in font_manager.fontManager.ttflist}
    return ("DejaVu Sans", *[name for name in CJK_FONTS if name in present][:2])


#: How deep this thread is inside :func:`_style` (a figure function called inside
#: another's style, or :func:`draw` around a figure and its saving, enters it once).
_STYLED = threading.local()


@contextmanager
def _style() -> Iterator[None]:
    """matplotlib's default style plus gdlab's fonts and a fixed SVG hash salt.

    Entered once: inside it already (this thread), it changes nothing, so a
    figure's making, fitting and saving under :func:`draw` pay for one style.
    """
    depth = getattr(_STYLED, "depth", 0)
    if depth:
        _STYLED.depth = depth + 1
        try:
            yield
        finally:
            _STYLED.depth = depth
        return
    import matplotlib
    import matplotlib.style

    rc = {**_RC, "font.family": list(_font_family())}
    with matplotlib.style.context("default"), matplotlib.rc_context(rc):
        _STYLED.depth = 1
        try:
            yield
        finally:
            _STYLED.depth = 0


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


def _tick_texts(fig: Figure) -> set[int]:
    """The ids of the figure's tick labels and offset texts (matplotlib writes them in
    mathtext: ``10⁻³``)."""
    ids: set[int] = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ids.add(id(axis.offsetText))
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                ids.update((id(tick.label1), id(tick.label2)))
    return ids


def _fit_text(text: Any, width: float, renderer: Any) -> None:
    """``text`` with each line longer than ``width`` pixels cut in the middle (``…``)."""
    if width <= 0 or text.get_window_extent(renderer).width <= width:
        return
    lines = []
    for line in text.get_text().split("\n"):
        shown, keep = line, len(line)
        text.set_text(shown)
        while keep > 8 and text.get_window_extent(renderer).width > width:
            keep = int(keep * 0.9)
            shown = line[: keep // 2] + "…" + line[len(line) - (keep - keep // 2) :]
            text.set_text(shown)
        lines.append(shown)
    text.set_text("\n".join(lines))


def _cell_width(ax: Axes, figure_width: float) -> float:
    """The width in pixels of the grid cells ``ax`` spans (0 for axes off a grid)."""
    spec = ax.get_subplotspec()
    if spec is None:
        return 0.0
    columns = spec.colspan
    return figure_width * (columns.stop - columns.start) / spec.get_gridspec().ncols


def _literal_texts(fig: Figure) -> None:
    """The figure's words drawn as they read, and kept inside the figure.

    A ``$`` in a run's label is a dollar sign, not the start of matplotlib's
    mathtext (``"cost $5 and $6"`` drew maths, ``"x^$"`` raised a parse
    error); the tick labels keep it. A title wider than its grid cell, or a
    legend entry wider than its column, is cut in the middle (``very long …
    label 3``) so that neighbours do not run over each other.
    """
    from matplotlib.text import Text

    ticks = _tick_texts(fig)
    for text in fig.findobj(Text):
        if id(text) not in ticks:
            text.set_parse_math(False)
    renderer = fig.canvas.get_renderer()
    width = fig.get_figwidth() * fig.dpi
    for ax in fig.axes:
        for title in (ax.title, ax._left_title, ax._right_title):
            _fit_text(title, _cell_width(ax, width), renderer)
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    for legend in legends:
        if legend is None:
            continue
        columns = max(1, int(getattr(legend, "_ncols", 1)))
        for text in legend.get_texts():
            _fit_text(text, 0.9 * width / columns, renderer)


@functools.cache
def _charmap(found: str, index: int) -> frozenset[int]:
    """The characters the font ``found`` by the font manager (face ``index``) draws."""
    from matplotlib import font_manager

    return frozenset(font_manager.get_font(found).get_charmap())


def _first_font_draws(text: str, prop: Any) -> bool:
    """Whether the first of the figure fonts (:func:`_font_family`), in ``prop``'s style
    and weight, holds every character of ``text``."""
    from matplotlib import font_manager

    first = prop.copy()
    first.set_family(_font_family()[0])
    try:
        found = font_manager.fontManager.findfont(first, fallback_to_default=False)
    except ValueError:
        return False
    chars = _charmap(found, int(getattr(found, "face_index", 0)))
    return all(ord(c) in chars for c in text if c != "\n")


def _axis_labels(fig: Figure) -> Iterator[tuple[str, Any]]:
    """The tick labels a fixed formatter (labels set by hand) will write, with the
    properties of the axis's first tick label."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import FixedFormatter

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks = axis.majorTicks + axis.minorTicks
            prop = ticks[0].label1.get_fontproperties() if ticks else FontProperties()
            for formatter in (axis.get_major_formatter(), axis.get_minor_formatter()):
                if isinstance(formatter, FixedFormatter):
                    yield from ((str(label), prop) for label in formatter.seq)


def _first_font_only(fig: Figure) -> None:
    """The figure's words in the first figure font alone when it holds every character
    of them: the same drawing, found faster.

    :func:`_font_family` lists fonts for the characters DejaVu Sans lacks
    (Hangul), and matplotlib looks each of them up every time it measures or
    draws a text (three times the work). When DejaVu Sans draws every word of
    the figure, the others are never used, and its texts keep only the first;
    tick labels made later copy the first tick's. The files are byte for byte
    the same.
    """
    from matplotlib.text import Text

    if len(_font_family()) < 2:
        return
    texts = fig.findobj(Text)
    words = [(t.get_text(), t.get_fontproperties()) for t in texts]
    if not all(_first_font_draws(w, p) for w, p in [*words, *_axis_labels(fig)] if w):
        return
    for text in texts:
        text.set_fontfamily(_font_family()[0])


def _finished(make: Callable[..., Figure]) -> Callable[..., Figure]:
    """A public figure function whose figure's words are literal and fit
    (:func:`_literal_texts`), however the caller then saves it."""

    @functools.wraps(make)
    def finished(*args: Any, **kwargs: Any) -> Figure:
        with _style():
            fig = make(*args, **kwargs)
            _literal_texts(fig)
            _first_font_only(fig)
        return fig

    return finished


def _title_stays(ax: Axes) -> bool:
    """Whether matplotlib leaves the titles of ``ax`` where they are at every size: at
    the top of the axes (nothing moved them), ticks and axis label below it, no twin,
    aligned or inset axes beside it, and positioned automatically."""
    titles = (ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None))
    return (
        getattr(ax, "_autotitlepos", False) in (None, True)
        and all(t is not None and t.get_position()[1] == 1.0 for t in titles)
        and not ax.child_axes
        and list(ax._twinned_axes.get_siblings(ax)) == [ax]
        and ax.xaxis.get_ticks_position() == "bottom"
        and ax.xaxis.get_label_position() == "bottom"
    )


def _keep_titles(fig: Figure) -> None:
    """Spare the PNG and SVG drawings matplotlib's search for each title's height.

    Before drawing an axes, matplotlib measures every y tick label of it (and
    of its twins) to see whether something sticks up into the title: only the
    y-axis offset text (``1e-3`` above the axis) or ticks along the top can.
    The layout has just placed the titles; where neither can move them, at
    any resolution (no offset text in the figure, ticks below, titles where
    the layout left them, at the top), they are marked as placed, and each
    file is drawn the same without that search.
    """
    if any(ax.yaxis.offsetText.get_visible() and ax.yaxis.offsetText.get_text() for ax in fig.axes):
        return
    groups = getattr(fig, "_align_label_groups", {}).get("title")
    for ax in fig.axes:
        aligned = groups is not None and list(groups.get_siblings(ax)) != [ax]
        if not aligned and _title_stays(ax):
            ax._autotitlepos = False


def _save(fig: Figure, directory: Path, name: str) -> None:
    """``<name>.png`` and ``<name>.svg`` in ``directory``, each written atomically.

    The constrained layout is computed once and then frozen, so the two files
    share it and the second save does not pay for it again. Frozen means no
    layout engine at all (``None``; under :func:`_style` no rc setting brings
    one back), not matplotlib's placeholder for ``"none"``: with any engine,
    ``savefig`` draws the whole figure once without rendering before drawing
    the file, which for a frozen layout changes nothing and cost nearly half
    of the saving. ``fig`` comes from a public figure function, whose words are
    literal and fit already (:func:`_finished`).
    """
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    with _style():
        engine = fig.get_layout_engine()
        if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
            engine.execute(fig)
            fig.set_layout_engine(None)  # one drawing per file (see above)
        _keep_titles(fig)
        atomic_write(
            directory / f"{name}.png",
            lambda fh: fig.savefig(fh, format="png", dpi=PNG_DPI),  # no date in PNG metadata
        )
        atomic_write(
            directory / f"{name}.svg",
            lambda fh: fig.savefig(fh, format="svg", metadata={"Date": None}),
        )


def _function_of(
    problem: Mapping[str, Any],
    function: functions2d.Function2D | None = None,
    *,
    results: Mapping[str, Any] | None = None,
) -> functions2d.Function2D:
    """The 2-D function of ``problem``: ``function`` when given (a user's own
    :class:`~gdlab.functions2d.Function2D`), a ``Function2D`` held in
    ``problem["function"]`` (a document built in Python), else what the problem's
    registered kind builds from the ``[problem]`` table of the ``results``' ``config``
    (any ``function2d`` kind, one's own too:
    :meth:`gdlab.experiments.ProblemSpec.function`). A document without that table
    (written by hand) names a typed expression or a registered function."""
    if function is not None:
        if not isinstance(function, functions2d.Function2D):
            fail("function", "a gdlab.functions2d.Function2D", function, kind=TypeError)
        return function
    block = problem.get("function") or {}
    if isinstance(block, functions2d.Function2D):
        return block
    table = ((results or {}).get("config") or {}).get("problem")
    if isinstance(table, Mapping) and table.get("kind") == problem.get("kind"):
        return _kind_function(table)
    if block.get("expression"):  # a function typed as text (problem kind "expression")
        from gdlab import expressions

        return expressions.function(
            block["expression"], xlim=_range(block, "xlim", (-5, 5)),
            ylim=_range(block, "ylim", (-5, 5)),
        )  # fmt: skip
    name = block.get("name") or problem.get("name")
    if name not in functions2d.FUNCTIONS:  # nothing else names it
        fail(
            f"results['problem']: the function of problem kind {problem.get('kind')!r}",
            f"one of {', '.join(map(repr, functions2d.FUNCTIONS))}, or come with the "
            "document's config (its [problem] table, the kind registered) or function=",
            name,
        )
    return functions2d.get(name)


def _kind_function(table: Mapping[str, Any]) -> functions2d.Function2D:
    """The function that the ``[problem]`` table of a report's ``config`` builds with its
    registered kind; a kind not registered in this process is named."""
    from gdlab.experiments import ExperimentError, ProblemSpec

    try:
        return ProblemSpec.from_table(table, "config.problem").function()
    except ExperimentError as error:
        kind = table.get("kind")
        raise ValueError(  # the error says how to register a kind this process lacks
            f"results['config']['problem']: cannot draw the function of problem kind "
            f"{kind!r}: {error}"
        ) from None


def _function_block(problem: Mapping[str, Any]) -> Mapping[str, Any]:
    block = problem.get("function") or {}
    return {} if isinstance(block, functions2d.Function2D) else block


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
    ax: Axes,
    x: float,
    y: float,
    color: str,
    top: float | None = None,
    size: float = 7,
    clip: bool = True,
) -> None:
    """An ``x`` where a diverged run stops (held at ``top`` if above it, so it stays seen;
    ``clip=False``: a mark on the frame drawn whole)."""
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


#: The labels matplotlib gives artists that are not in a legend (``_child3``, ``_nolegend_``).
_HIDDEN_LABEL = re.compile(r"^_(child\d+|nolegend_)$")
#: A word joiner: drawn as nothing, it keeps a label that starts with ``_`` in the legend.
_JOINER = "\N{WORD JOINER}"


def _keep_underscored(artists: Iterable[Any]) -> None:
    """Labels that start with ``_`` (a run labelled ``"_baseline"``) kept in the legend:
    matplotlib leaves such labels out, so they get an invisible word joiner in front."""
    for artist in artists:
        label = artist.get_label()
        if isinstance(label, str) and label.startswith("_") and not _HIDDEN_LABEL.match(label):
            artist.set_label(_JOINER + label)


def _legend_handles(ax: Axes) -> list[Any]:
    """The axes' legend handles, those whose label starts with ``_`` included."""
    _keep_underscored([*ax.lines, *ax.collections, *ax.patches])
    return ax.get_legend_handles_labels()[0]


def _legend(ax: Axes, where: str = "auto", **kwargs: Any) -> None:
    """The axes' legend outside the data: to the right of the axes, or below them
    (``"auto"``: below when a label is longer than 32 characters, else right)."""
    if "handles" in kwargs:
        handles = kwargs.pop("handles")
        _keep_underscored(handles)
    else:
        handles = _legend_handles(ax)
    if not handles:
        return
    if where == "auto":
        longest = max(len(str(h.get_label())) for h in handles)
        where = "below" if longest > 32 else "right"
        if where == "below":
            kwargs.setdefault("ncol", 1 if longest > 60 else 2)
    if where == "below":
        ax.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
            ncol=kwargs.pop("ncol", min(3, len(handles))), **kwargs,
        )  # fmt: skip
    else:
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
            frameon=False, **kwargs,
        )  # fmt: skip


def _markevery(n: int, index: int) -> tuple[int, int] | None:
    """About :data:`MARKERS_PER_CURVE` markers on a curve of ``n`` points, staggered by
    ``index`` so that two curves' markers do not sit on one another."""
    if n <= 1:
        return None
    every = max(1, n // MARKERS_PER_CURVE)
    return ((index * every // 3) % every, every)


# --- the figures ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Surface:
    """A contour to draw paths on: a grid, its values and the levels."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    levels: np.ndarray | None


def _function_surface(
    fn: functions2d.Function2D,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    resolution: int,
    levels: int,
) -> _Surface:
    grid_x, grid_y = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    with np.errstate(all="ignore"):
        z = np.asarray(fn.f(grid_x, grid_y), dtype=np.float64) * np.ones_like(grid_x)
    return _Surface(grid_x, grid_y, z, _contour_levels(z, levels))


def _contours(ax: Axes, surface: _Surface, *, labels: bool = False, like: Any = None) -> Any:
    """Contour lines in greys, darker toward the minimum; the contour set (``None``
    without levels).

    ``like``, the contour set of the same surface on another panel, lends its
    lines: tracing them again on every panel of a grid is most of its making.
    """
    if surface.levels is None:
        return None
    shades = [str(g) for g in np.linspace(0.25, 0.78, len(surface.levels))]
    paths = like.get_paths() if like is not None else []
    if any(len(p.vertices) for p in paths):
        from matplotlib.contour import ContourSet

        return ContourSet(
            ax, like.levels, [[p.vertices] for p in paths], [[p.codes] for p in paths],
            colors=shades, linewidths=0.7, zorder=0,
        )  # fmt: skip
    lines = ax.contour(
        surface.x, surface.y, surface.z, levels=surface.levels, colors=shades, linewidths=0.7,
        zorder=0,
    )  # fmt: skip
    if labels:
        ax.clabel(lines, lines.levels[::2], fontsize=6, fmt=lambda v: f"{v:.3g}", inline=True)
    return lines


def _function_setup(
    results: Mapping[str, Any], function: functions2d.Function2D | None, what: str
) -> tuple[functions2d.Function2D, tuple[float, float], tuple[float, float], list, dict]:
    """``(fn, xlim, ylim, minima, groups)``: the function, its range, the minima to mark
    and each group's runs to draw (:func:`_group_paths`)."""
    problem = _problem(results)
    if function is None and not is_function2d(problem):
        fail(
            "problem",
            f"a 2-D function (traits with 'function2d') for the {what} figure",
            (problem or {}).get("kind"),
        )
    fn = _function_of(problem or {}, function, results=results)
    block = _function_block(problem or {})
    xlim = _range(block, "xlim", fn.xlim)
    ylim = _range(block, "ylim", fn.ylim)
    minima = block.get("minima", fn.minima) or []
    groups = _group_paths(results)
    if not groups:
        fail("results['runs']", f"non-empty for the {what} figure", _runs(results))
    return fn, xlim, ylim, list(minima), groups


def _path_of(run: Mapping[str, Any]) -> np.ndarray:
    return np.asarray(run.get("path") or np.empty((0, 2)), dtype=np.float64).reshape(-1, 2)


def _wiggle(path: np.ndarray) -> float:
    """How rough a 2-D path is: its length over the straight distance from its first
    point to its last, both measured on its finite part (the points before the first
    non-finite one; a diverged path ends in inf or nan). The path is scaled to its
    largest coordinate first, so that a path out at 1e200 does not overflow: the ratio
    does not depend on the scale. A path with fewer than two finite points gives 1."""
    finite = np.isfinite(path).all(axis=1)
    path = path[: int(np.argmin(finite)) if not finite.all() else len(path)]
    size = float(np.abs(path).max()) if len(path) else 0.0
    if len(path) < 2 or size == 0:
        return 1.0
    path = path / size
    length = np.hypot(*np.diff(path, axis=0).T).sum()
    return float(length / max(np.hypot(*(path[-1] - path[0])), 1e-12))


def _exit(
    path: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float]
) -> tuple[tuple[float, float], bool]:
    """``((x, y), left)``: where a path's line ends within the box ``xlim`` × ``ylim``:
    its last (finite) point if that is inside, else where its line last crosses the
    box's edge on the way out (``left`` true); a line that never meets the box: its
    last point, as it is.

    >>> _exit(np.array([[0.0, 0.0], [4.0, 2.0]]), (-1.0, 1.0), (-1.0, 1.0))
    ((1.0, 0.5), True)
    """
    finite = path[np.isfinite(path).all(axis=1)]
    if not len(finite):
        return (math.nan, math.nan), False
    low, high = np.array([xlim[0], ylim[0]]), np.array([xlim[1], ylim[1]])
    last = (float(finite[-1, 0]), float(finite[-1, 1]))
    if ((finite[-1] >= low) & (finite[-1] <= high)).all():
        return last, False
    for a, b in zip(finite[-2::-1], finite[:0:-1], strict=True):  # the last segment first
        t = _leaves_at(a, b, low, high)
        if t is not None:
            point = a + t * (b - a)
            return (float(point[0]), float(point[1])), True
    return last, False


def _leaves_at(a: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray) -> float | None:
    """The share t of the segment a→b at which it leaves the box ``low``–``high`` (the
    Liang–Barsky clip), ``None`` if it misses the box."""
    enter, leave = 0.0, 1.0
    for k in range(2):
        d = float(b[k] - a[k])
        if d == 0.0:
            if not low[k] <= a[k] <= high[k]:
                return None
            continue
        t1, t2 = (low[k] - a[k]) / d, (high[k] - a[k]) / d
        enter, leave = max(enter, min(t1, t2)), min(leave, max(t1, t2))
    return leave if enter <= leave else None


def _end_marker(ax: Axes, point: np.ndarray, style: palette.Style, size: float = 9) -> None:
    ax.plot(
        [point[0]], [point[1]], ls="none", marker=style.marker, ms=size, color=style.color,
        mec="black", mew=1.0, zorder=8,
    )  # fmt: skip


def _start_marker(ax: Axes, point: Sequence[float]) -> None:
    ax.plot(
        [point[0]], [point[1]], "o", ms=8, mfc="white", mec="black", mew=1.2, zorder=9,
        label="start",
    )  # fmt: skip


@functools.cache
def _target() -> Any:
    """The minimum's marker: a ring with four ticks pointing out, open in the middle (a
    target, the interactive chart's ``"target"``). No run's marker has that shape
    (:data:`~gdlab.report.palette.MARKERS`: not the + of Nesterov's filled ``P``), and
    an end marker on the minimum shows through the ring."""
    from matplotlib.path import Path as Shape

    ticks = [Shape([(c * 0.5, s * 0.5), (c, s)]) for c, s in ((1, 0), (0, 1), (-1, 0), (0, -1))]
    return Shape.make_compound_path(Shape.circle(radius=0.5), *ticks)


def _minimum_markers(ax: Axes, minima: Sequence[Sequence[float]], size: float = 20) -> None:
    """Each minimum as a target (:func:`_target`) over the paths and their end markers."""
    for point in minima:
        ax.plot(
            [point[0]], [point[1]], ls="none", marker=_target(), ms=size, mfc="none",
            mec="black", mew=1.4, zorder=9,
        )  # fmt: skip


def _minimum_entry() -> Any:
    """The legend's entry for :func:`_minimum_markers`' targets: smaller, so that it
    keeps to its row."""
    from matplotlib.lines import Line2D

    return Line2D(
        [], [], ls="none", marker=_target(), ms=13, mfc="none", mec="black", mew=1.2,
        label="minimum",
    )  # fmt: skip


def _zoom(
    paths: Sequence[np.ndarray],
    minima: Sequence[Sequence[float]],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The box around the paths and the minima inside the function's range (margins 8%),
    kept within that range: the overlay shows where the paths are, not the whole plane."""
    points = [p[np.isfinite(p).all(axis=1)] for p in paths if len(p)]
    inside = [m for m in minima if xlim[0] <= m[0] <= xlim[1] and ylim[0] <= m[1] <= ylim[1]]
    if inside:
        points.append(np.asarray(inside, dtype=np.float64).reshape(-1, 2))
    if not points:
        return xlim, ylim
    every = np.vstack(points)
    out = []
    for k, (low, high) in enumerate((xlim, ylim)):
        lo, hi = float(every[:, k].min()), float(every[:, k].max())
        pad = 0.08 * max(hi - lo, 0.05 * (high - low))
        out.append((max(low, lo - pad), min(high, hi + pad)))
    return out[0], out[1]


#: ``(xlim, ylim)``: a box in the plane of a 2-D function.
_Box = tuple[tuple[float, float], tuple[float, float]]


def _overlay_box(setup: tuple) -> tuple[_Box, _Box]:
    """``((xlim, ylim) drawn, (xlim, ylim) of the function's range)`` of the overlay
    (``setup``: :func:`_function_setup`'s): its axes are the box around the paths and
    minima (:func:`_zoom`), within the range."""
    _, xlim, ylim, minima, groups = setup
    box = _zoom([_path_of(run) for runs in groups.values() for run in runs], minima, xlim, ylim)
    return box, (xlim, ylim)


def _overlay_axes_words(results: Mapping[str, Any], fn: functions2d.Function2D) -> str:
    """The overlay caption's words on its axes: zoomed to the paths (from what to what,
    out of the function's range), or the whole range where the paths span it."""
    (xlim, ylim), (full_x, full_y) = _overlay_box(_function_setup(results, fn, "overlay"))

    def span(lim: tuple[float, float]) -> str:
        return f"{_fmt(lim[0])} to {_fmt(lim[1])}"

    if (xlim, ylim) == (full_x, full_y):
        low, high = np.array([full_x[0], full_y[0]]), np.array([full_x[1], full_y[1]])
        paths = [_path_of(run) for runs in _group_paths(results).values() for run in runs]
        points = [p[np.isfinite(p).all(axis=1)] for p in paths]
        past = any((~((p >= low) & (p <= high)).all(axis=1)).any() for p in points)
        if past:  # a path that leaves the range does not span it: it goes past it
            return (
                f"Axes keep the function's range (x {span(full_x)}, y {span(full_y)}); "
                "a path that goes past it is cut at the edge."
            )
        return (
            f"Axes keep the function's range (x {span(full_x)}, y {span(full_y)}), which "
            "the paths span, so a path that leaves it is cut at the edge."
        )
    return (
        f"The image's axes are zoomed to the paths{_plus_words(fn, ' and the minimum')} "
        f"(x {span(xlim)}, y {span(ylim)}, of the function's range x {span(full_x)}, "
        f"y {span(full_y)}), so "
        "short steps show; the panels of one optimizer each keep the whole range (so does "
        "the interactive chart, where the page has one). A path that leaves the range is "
        "cut at its edge."
    )


def _overlay_end_words(run: Mapping[str, Any], path: np.ndarray, fn: Any) -> str:
    """The overlay's legend words after a run's title: where it diverged, else f at its
    end, and for a run evaluated elsewhere than its path ends, f at both points."""
    if _diverged(run):
        return f", {stops.divergence_words(run)}"
    found = _evaluated_elsewhere(run)
    if found is not None:
        there, evaluated = _two_values(*found)
        return f": f = {evaluated} at its {_two_points(run)[1]}, {there} at the path's end"
    with np.errstate(all="ignore"):
        return f": f = {_fmt(float(fn.f(path[-1, 0], path[-1, 1])))}"


def _group_end_words(
    name: str, runs: Sequence[Mapping[str, Any]], fn: Any, finals: Mapping[str, float]
) -> str:
    """The overlay's legend words after a group's title (:func:`_group_title`): one run's
    as :func:`_overlay_end_words` gives them; a larger group's mean f at the end, as
    :func:`_function_finals` ranks it, and how many of its runs diverged."""
    if len(runs) == 1:
        return _overlay_end_words(runs[0], _path_of(runs[0]), fn)
    if all(map(_diverged, runs)):
        return _divergence_note(runs)
    return f": mean f = {_fmt(finals[name])}{_divergence_note(runs)}"


def _draw_group_paths(
    ax: Axes,
    runs: Sequence[Mapping[str, Any]],
    style: palette.Style,
    label: str,
    box: tuple[tuple[float, float], tuple[float, float]],
) -> list[tuple[float, ...]]:
    """Each of a group's ``runs``' paths in its ``style`` on the overlay, the legend's
    ``label`` on the first, each end marked; the starts of the paths drawn."""
    starts = []
    for run in runs:
        path = _path_of(run)
        if not len(path):
            continue
        starts.append(tuple(path[0]))
        every = max(1, len(path) // 60)
        ax.plot(
            path[:, 0], path[:, 1], color=style.color, ls=style.linestyle, lw=1.5,
            marker=style.marker, ms=3.5 if every == 1 else 2.5, markevery=every,
            label=label if len(starts) == 1 else None, zorder=3,
        )  # fmt: skip
        if _diverged(run):
            (x, y), left = _exit(path, *box)
            _mark_end(ax, x, y, style.color, size=9, clip=not left)
        else:
            _end_marker(ax, path[-1], style)
    return starts


@_finished
def overlay_figure(
    results: Mapping[str, Any],
    *,
    function: functions2d.Function2D | None = None,
    resolution: int = 200,
    levels: int = 20,
) -> Figure:
    """Every group's paths on one contour of f, end points marked.

    Contour lines of ``f`` in greys (darker is lower) over the box around
    the paths and the minima (within ``problem.function.xlim``/``ylim``),
    each path in its group's style (every run of a group of several runs:
    :func:`_group_paths`; one legend entry for the group, with its mean f)
    with a small marker per step (about 60 on a long path), the start as ○,
    each end as a large
    marker with a black edge, ``x`` where a diverged path stops and a target
    (:func:`_target`) at the minima; the legend (outside, right) gives f at
    each end and names the start and the minimum.
    ``function`` is any :class:`~gdlab.functions2d.Function2D` (a user's
    own); by default the document's.
    """
    resolution = check_int("resolution", resolution, low=2)
    levels = check_int("levels", levels, low=2)
    setup = _function_setup(results, function, "overlay")
    fn, _, _, minima, groups = setup
    (xlim, ylim), _ = _overlay_box(setup)
    surface = _function_surface(fn, xlim, ylim, resolution, levels)
    styles = group_styles(_runs(results))
    finals = {name: value for name, value, _ in _function_finals(results, fn)}
    with _style():
        fig = _new_figure(7.6, 4.6)
        ax = fig.subplots()
        _contours(ax, surface)
        starts = []
        for name, runs in groups.items():
            drawn = [run for run in runs if len(_path_of(run))]
            if not drawn:
                continue
            label = _group_title(name, drawn) + _group_end_words(name, drawn, fn, finals)
            starts += _draw_group_paths(ax, drawn, styles[name], label, (xlim, ylim))
        for start in dict.fromkeys(starts):
            _start_marker(ax, start)
        _minimum_markers(ax, minima)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(f"Every path on {fn.description}")
        _legend(ax, handles=_legend_handles(ax) + ([_minimum_entry()] if minima else []))
    return fig


@_finished
def paths_figure(
    results: Mapping[str, Any],
    *,
    function: functions2d.Function2D | None = None,
    resolution: int = 200,
    levels: int = 20,
) -> Figure:
    """Seed 001's contour figure: one subplot per group with its runs' paths.

    Contour lines of ``f`` (the document's function, or ``function``: any
    :class:`~gdlab.functions2d.Function2D`, a user's own too) over
    ``problem.function.xlim``/``ylim`` on a ``resolution``² grid at
    ``levels`` quantile levels; the group's paths (every run of it:
    :func:`_group_paths`) in its colour with its marker at each step, the
    other groups' paths in light grey; a target
    (:func:`_target`) at the minima; ``x`` at the end of a diverged path.
    Groups are laid out ⌈n/3⌉ ×
    min(n, 3) (2 × 3 for six). The axes keep the function's range, so a path
    that leaves it is clipped.
    """
    resolution = check_int("resolution", resolution, low=2)
    levels = check_int("levels", levels, low=2)
    fn, xlim, ylim, minima, groups = _function_setup(results, function, "paths")
    surface = _function_surface(fn, xlim, ylim, resolution, levels)
    styles = group_styles(_runs(results))
    paths = {name: [_path_of(run) for run in runs] for name, runs in groups.items()}

    with _style():
        fig = _new_figure(*_grid_size(len(groups), (3.6, 2.9)))
        first = None
        panels = zip(_grid(fig, len(groups)), groups.items(), strict=True)
        for k, (ax, (name, runs)) in enumerate(panels):
            if first is None:
                first = _contours(ax, surface)
            else:  # the first panel's lines, under the name the SVG gave them when traced anew
                _contours(ax, surface, like=first).set_gid(f"QuadContourSet_{k + 1}")
            for other, drawn in paths.items():
                for path in drawn if other != name else ():
                    if len(path):
                        ax.plot(path[:, 0], path[:, 1], color="0.75", lw=0.8, zorder=1)
            style = styles[name]
            for run, path in zip(runs, paths[name], strict=True):
                _panel_path(ax, run, path, style, (xlim, ylim))
            _minimum_markers(ax, minima, size=16)
            ax.set_title(
                _panel_title(name, runs),
                color=style.color if style.color != "#000000" else "black",
            )
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
    return fig


def _panel_path(
    ax: Axes,
    run: Mapping[str, Any],
    path: np.ndarray,
    style: palette.Style,
    box: tuple[tuple[float, float], tuple[float, float]],
) -> None:
    """One run's path in its panel of the paths grid, × where a diverged one stops."""
    if not len(path):
        return
    every = max(1, len(path) // 60)  # long paths: about 60 markers
    ax.plot(
        path[:, 0], path[:, 1], color=style.color, lw=1.2, marker=style.marker,
        markersize=4 if every == 1 else 2.5, markevery=every, zorder=3,
    )  # fmt: skip
    if _diverged(run):
        (x, y), left = _exit(path, *box)
        _mark_end(ax, x, y, "black", clip=not left)


def _panel_title(name: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """A group's panel title in the paths grid (:func:`_group_title`), with where its run
    diverged, or how many of its runs did."""
    title = _group_title(name, runs)
    if len(runs) == 1 and _diverged(runs[0]):
        return f"{title}\n{stops.divergence_words(runs[0])}"
    note = _divergence_note(runs)
    return f"{title}\n{note.strip()[1:-1]}" if note else title


def _quadratic_surface(surface: Mapping[str, Any], points: np.ndarray, resolution: int) -> _Surface:
    """The quadratic ``uᵀAu + b·u + c`` on a box around ``points`` (margins 12%)."""
    A = np.asarray(surface["A"], dtype=np.float64).reshape(2, 2)
    b = np.asarray(surface["b"], dtype=np.float64).reshape(2)
    c = float(surface["c"])
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.12 * np.maximum(hi - lo, 1e-9)
    gx, gy = np.meshgrid(
        np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
        np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution),
    )
    z = (
        A[0, 0] * gx**2
        + (A[0, 1] + A[1, 0]) * gx * gy
        + A[1, 1] * gy**2
        + b[0] * gx
        + b[1] * gy
        + c
    )
    finite = z[np.isfinite(z)]
    levels = None
    if finite.size and finite.max() > finite.min():
        # levels spaced evenly in sqrt(loss - min): ellipses at even distances from the minimum
        low = float(finite.min())
        levels = low + (np.linspace(0, 1, 14)[1:] ** 2) * (float(finite.max()) - low)
    return _Surface(gx, gy, z, levels)


@_finished
def weights_figure(results: Mapping[str, Any], *, beta: float | None = None) -> Figure:
    """The weights' paths on the loss contour (left) beside the loss curves (right).

    For a data problem whose runs record a 2-parameter path (linear
    regression: ``(w1, w2)``, seed 003) and whose ``problem.surface`` gives
    the loss over that plane as a quadratic ``{"A", "b", "c", "minimum",
    "axes"}`` (the other parameters at their best for each point). Left:
    contour lines of that loss (labelled, darker is lower), each group's
    first run's path in its colour (the smoothest drawn last, on top), ○ at
    the start, a large marker at each end (× where a diverged run stopped) and
    ``+`` at the minimum. Right:
    :func:`loss_figure`'s curves. One legend below both.
    """
    if beta is not None:
        check_real("beta", beta, low=0, high=1, high_open=True)
    problem = _problem(results) or {}
    runs = _runs(results)
    if not _has_weight_paths(problem, runs):
        fail(
            "results",
            "runs with a 'path' and problem.surface (a quadratic) for the weights figure",
            problem.get("kind"),
        )
    surface = problem["surface"]
    styles = group_styles(runs)
    firsts = _first_runs(results)
    paths = {name: _path_of(run) for name, run in firsts.items()}
    paths = {name: path for name, path in paths.items() if len(path)}
    best = np.asarray(surface.get("minimum") or np.empty(0), dtype=np.float64).reshape(-1, 2)
    contour = _quadratic_surface(surface, np.vstack([*paths.values(), best]), 160)

    wiggles = {name: _wiggle(path) for name, path in paths.items()}
    order = sorted(paths, key=wiggles.__getitem__, reverse=True)  # roughest first
    curves = _loss_curves(results, beta)
    view = _loss_view(curves, None)
    axes_names = list(surface.get("axes") or ["w1", "w2"])[:2]
    with _style():
        fig = _new_figure(10.4, 4.6)
        left, right = fig.subplots(1, 2, width_ratios=[1.0, 1.1])
        _contours(left, contour, labels=True)
        for z, name in enumerate(order):
            path, style = paths[name], styles[name]
            rough = wiggles[name] > 1.5
            left.plot(
                path[:, 0], path[:, 1], color=style.color, lw=0.7 if rough else 1.8,
                alpha=0.75 if rough else 1.0, marker=style.marker, ms=4,
                markevery=_markevery(len(path), z), zorder=3 + z,
            )  # fmt: skip
            if _diverged(firsts[name]):  # where it stopped, as the charts and the 2-D paths mark
                _mark_end(left, *path[-1], style.color, size=10)
            else:
                _end_marker(left, path[-1], style)
        starts = [tuple(p[0]) for p in paths.values()]
        for start in dict.fromkeys(starts):
            _start_marker(left, start)
        _minimum_markers(left, best, size=16)  # a target, as a 2-D function's minimum
        left.set_xlabel(axes_names[0])
        left.set_ylabel(axes_names[1] if len(axes_names) > 1 else "")
        left.set_title("The weights' paths on the loss contour")
        _draw_losses(right, curves, view)
        right.set_xlabel("step")
        _step_ticks(right)
        right.set_ylabel("loss")
        right.set_title(
            "Training loss per step" + (" (log axis)" if view.scale.kind == "log" else "")
        )
        handles = _legend_handles(right)
        fig.legend(
            handles=handles, loc="outside lower center", ncol=min(4, len(handles)), frameon=False
        )
    return fig


@_finished
def loss_figure(
    results: Mapping[str, Any], *, beta: float | None = None, log: bool | None = None
) -> Figure:
    """Loss per step, one style per group (:func:`group_styles`).

    For a 2-D function: ``f`` along every run's path against the updates
    applied, from the start (step 0) to the final evaluation after its last
    update (:func:`function_curve`), log y-axis (symmetric log, linear within
    the runs' typical ``|f(start)|``, when ``f`` goes negative, as on a
    saddle, with tick labels kept apart); a run that diverged pushes the top
    no higher than :data:`DIVERGED_HEADROOM` decades above the others. For a
    data problem (``loss[i]`` at step ``i + 1``, the step it belongs to): each group's
    raw per-step loss faint (alpha 0.25; as a cloud of faint dots when it
    jumps across most of the axis) and its :func:`smooth` curve in the
    group's style (``beta=None``: 0.9, or more for a noisy loss, see
    :func:`_smoothing`; the legend says so); a group
    with several seeds shows the mean of the raw curves, the mean of the
    smoothed curves and a band of the smoothed curves (each step over the
    seeds that reach it), leaving out seeds that diverged (drawn alone,
    thin) unless all did. The y-axis comes from :func:`choose_scale` over
    the smoothed curves (``log=True``/``False`` forces it): log when they
    span decades, the range from their 1st to 99th percentiles, so an early
    spike does not flatten the rest; it grows to hold the bands over seeds
    where that makes it at most :data:`BAND_WIDEN` times as high, else a note
    beside the legend says the bands are cut (:func:`_loss_scale`). Smooth
    curves are drawn over noisy ones and the slowest on top; a curve that
    another hides within the line width gets a halo, and a note under the
    legend names the pair (:func:`overlaps`).

    A diverged run is drawn up to its last value, with an ``x`` at the step its
    reason names (:func:`gdlab.report.stops.stop_step`; on its top edge when above the
    axis), and its group's legend label says where it diverged; a group with
    no loss at all (it diverged at step 1, before any update) still gets its
    legend entry.

    A long run (with a ``series`` block) holds every ``stride``-th step's loss
    inline: it is drawn at those steps, and smoothed over those values.
    """
    if beta is not None:
        check_real("beta", beta, low=0, high=1, high_open=True)
    problem = _problem(results)
    runs = _runs(results)
    function = is_function2d(problem)

    view = None
    with _style():
        fig = _new_figure(7.4, 4.0)
        ax = fig.subplots()
        if function:
            _function_losses(
                ax, _groups(runs), group_styles(runs), log=True if log is None else log,
                band=_band(results),
            )  # fmt: skip
        else:
            curves = _loss_curves(results, beta)
            view = _loss_view(curves, log)
            _draw_losses(ax, curves, view)
        ax.set_xlabel("step")
        _step_ticks(ax)
        ax.set_title("f(x, y) per step" if function else "Training loss")
        _legend(ax)
        notes = [] if view is None else [
            _fill_names(f"{joined(names)} overlap within the line width", names, 30)
            for names in view.clusters
        ]  # fmt: skip
        if view is not None and view.cut:
            notes.append("The seeds' bands run past\nthe axis: cut at its edges")
        if notes:
            note = "\n".join(notes)
            ax.text(
                1.02, 0.0, note, transform=ax.transAxes, fontsize=6.5, va="bottom", ha="left",
                color="0.2",
            )  # fmt: skip
    return fig


def _step_ticks(ax: Axes) -> None:
    """Whole steps on the x-axis (matplotlib's own choice otherwise): a run of one step
    has no step 0.2."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))


def function_curve(run: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(updates applied, f)`` along a 2-D run's path, the start at 0.

    ``loss[i]`` is f before update ``i + 1``, at the point reached after ``i``
    updates, so it sits at ``i`` (``i · stride`` for a long run); then the run's
    last evaluation, f after its last update (the ``final_loss`` the Summary and
    the overlay quote; for a run evaluated elsewhere than it trains, its
    ``iterate_train_loss``, f where the path ends), at the step it was taken.
    A run without that evaluation, or whose evaluation is not finite, ends at its
    last loss.
    """
    loss = _floats(run.get("loss"))
    steps = np.arange(loss.size, dtype=np.float64) * series_stride(run)
    epochs = run.get("epochs") or []
    last = epochs[-1] if epochs and isinstance(epochs[-1], Mapping) else {}
    step = last.get("step")
    value = last.get("iterate_train_loss", last.get("train_loss"))
    if (
        isinstance(step, int | float) and not isinstance(step, bool)
        and isinstance(value, int | float) and not isinstance(value, bool)
        and math.isfinite(value) and (not steps.size or step > steps[-1])
    ):  # fmt: skip
        steps, loss = np.append(steps, float(step)), np.append(loss, float(value))
    return steps, loss


def _function_mean(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], band: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, mean, low, high)`` of a group's curves of f (:func:`function_curve`):
    each on every step any of them has (interpolated between its own), up to its last;
    each step's mean and band (:func:`_stack`) over the curves that reach it."""
    grid = np.unique(np.concatenate([steps for steps, _ in curves]))
    rows = []
    for steps, loss in curves:
        with np.errstate(all="ignore"):
            rows.append(np.interp(grid[grid <= steps[-1]], steps, loss))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step where every value is NaN
        mean, low, high = _stack(rows, band)
    return grid[: len(mean)], mean, low, high


def _function_group(
    ax: Axes, name: str, runs: Sequence[Mapping[str, Any]], style: palette.Style, index: int,
    band: str,
) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[float, float]]]:  # fmt: skip
    """A group's curve of f on the loss figure: one run's as it is; the mean of several
    (those that did not diverge, unless all did) with its band, and each diverged run
    alone, thin. Returns the values drawn, those of the runs that did not diverge, and
    ``(step, f)`` where each diverged run stopped."""
    distinct = _distinct(runs)
    note = _elsewhere_note(distinct[0]) if len(distinct) == 1 else ""
    curves = [function_curve(run) for run in runs]
    has = [len(loss) > 0 for _, loss in curves]
    kept, alone = _split_diverged(runs, has)
    if len(kept) == 1:
        steps, mean = curves[kept[0]]
        low = high = None
    elif kept:
        steps, mean, low, high = _function_mean([curves[i] for i in kept], band)
    else:
        steps = mean = np.empty(0)
        low = high = None
    line = {"color": style.color, "ls": style.linestyle, "marker": style.marker}
    every = _markevery(len(mean), index) if len(mean) > 60 else 1
    ax.plot(
        steps, mean, markersize=3, markevery=every, lw=LINE_WIDTH * 0.8,
        label=name + _divergence_note(runs) + note, **line,
    )  # fmt: skip
    if low is not None and high is not None:
        ax.fill_between(steps, low, high, color=style.color, alpha=BAND_ALPHA, lw=0, zorder=1.5)
    for i in alone:
        ax.plot(*curves[i], color=style.color, lw=0.9, alpha=0.8, zorder=2)
    ends = []
    for run, (steps, loss) in zip(runs, curves, strict=True):
        stop = stops.stop_step(run, after_updates=True)
        if stop is not None and len(loss):
            # f where it stopped; none there (not finite): held at the top edge
            there = loss[steps == stop]
            ends.append((stop, float(there[-1]) if there.size else math.inf))
    values = [loss for _, loss in curves]
    return values, [values[i] for i, run in enumerate(runs) if not _diverged(run)], ends


def _function_losses(
    ax: Axes,
    groups: Mapping[str, list[Mapping[str, Any]]],
    styles: Mapping[str, palette.Style],
    log: bool,
    band: str = "minmax",
) -> None:
    """Each group's curve of f (:func:`_function_group`) on the axis :func:`_function_loss_scale`
    chooses, an ``x`` where each diverged run stopped."""
    values, kept = [], []
    ends = []
    for index, (name, runs) in enumerate(groups.items()):
        drawn, finished, stopped = _function_group(ax, name, runs, styles[name], index, band)
        values += drawn
        kept += finished
        ends += [(x, y, styles[name].color) for x, y in stopped]
    if log:
        _function_loss_scale(ax, values, _ceiling(kept))
    top = ax.get_ylim()[1]
    for x, y, color in ends:
        _mark_end(ax, x, y, color, top=top)
    ax.set_ylabel("f(x, y)")


#: How many decades below its largest value a 2-D race's symmetric log axis shows.
SYMLOG_DECADES = 12
#: Tick labels on a symmetric log axis at least this many label heights apart.
TICK_GAP = 1.5
#: A 2-D race's log axis ends this many decades above the highest f of the runs that
#: did not diverge: a run that blew up to 1e22 leaves the top (its × held at the
#: edge) instead of squeezing the others' 30 steps into a sliver.
DIVERGED_HEADROOM = 3


def _ceiling(kept: Sequence[np.ndarray]) -> float | None:
    """The highest a 2-D race's axis goes (:data:`DIVERGED_HEADROOM`) over the curves of
    the runs that did not diverge; ``None`` when there are none, or none above 0."""
    finite = [v[np.isfinite(v)] for v in kept]
    top = max((float(v.max()) for v in finite if v.size), default=math.nan)
    return top * 10.0**DIVERGED_HEADROOM if top > 0 else None


def _function_loss_scale(
    ax: Axes, values: Sequence[np.ndarray], ceiling: float | None = None
) -> None:
    """A log axis for f's values where one shows them all: log, or symmetric log; its
    top at most ``ceiling`` (diverged runs leave it).

    A log axis labels its ticks as :func:`_apply`'s (:func:`_log_ticks`: under 3 decades
    as plain numbers, ``2``, ``5``); a symmetric log axis keeps only ticks whose labels do not
    collide (:func:`_apart_ticks`)."""
    every = np.concatenate(values) if values else np.empty(0)
    every = every[np.isfinite(every)]
    if not every.size:
        return
    if every.min() > 0:
        ax.set_yscale("log", nonpositive="mask")
        if _cap(ax, ceiling):  # the bottom margin as for an axis from the data to there
            ax.set_ylim(bottom=float(every.min()) / (ax.get_ylim()[1] / float(every.min())) ** 0.05)
        _log_ticks(ax.yaxis, ax.get_ylim())
        return
    linthresh = function_symlog(values, ceiling)
    if linthresh is None:
        return
    ax.set_yscale("symlog", linthresh=linthresh)
    _cap(ax, ceiling)
    _apart_ticks(ax.yaxis)


def function_symlog(values: Sequence[np.ndarray], ceiling: float | None = None) -> float | None:
    """The linear threshold of the symmetric log axis the loss figure of a 2-D function
    draws f's ``values`` on (the interactive chart's too) where some are 0 or below;
    ``None`` where all are positive (a log axis) or none is (no log axis at all)."""
    every = np.concatenate(values) if len(values) else np.empty(0)
    every = every[np.isfinite(every)]
    if not every.size or every.min() > 0:
        return None
    if every.min() == 0 and every.max() > 0:
        # a run that reached the minimum exactly (or started there): a log axis would
        # mask its zeros and end its curve, or hide it; symmetric log draws 0 at the
        # bottom and every positive value on a log scale
        # (at most SYMLOG_DECADES below the largest: a smallest value near 1e-300
        # would stretch the axis over 300 decades and overflow matplotlib's transform)
        top = min(float(every.max()), ceiling if ceiling is not None else math.inf)
        return _symlog_threshold(float(every[every > 0].min()), top)
    if every.min() < 0:  # unbounded below (a saddle): symmetric log
        starts = [abs(v[0]) for v in values if v.size and v[0] != 0]
        return float(np.median(starts)) if starts else 1.0
    return None


def _symlog_threshold(smallest: float, top: float) -> float:
    """A symmetric-log axis's linear threshold: the smallest nonzero size, but at most
    :data:`SYMLOG_DECADES` below ``top`` (a smallest value near 1e-300 would stretch the
    axis over 300 decades and overflow matplotlib's transform)."""
    return max(smallest, top * 10.0**-SYMLOG_DECADES)


def _cap(ax: Axes, ceiling: float | None) -> bool:
    """The y-axis's top brought down to ``ceiling`` where it lies above; whether it was."""
    if ceiling is None or ax.get_ylim()[1] <= ceiling:
        return False
    ax.set_ylim(top=ceiling)
    return True


def _apart_ticks(axis: Any) -> None:
    """The axis's major ticks thinned at drawing time so that no two labels are closer
    than :data:`TICK_GAP` label heights: 0 first, then the largest magnitudes, then
    the rest (on a symmetric log axis, ±1 inside the linear range sat on 0)."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import Locator

    inner = axis.get_major_locator()
    size = FontProperties(size=rcParams[f"{axis.axis_name}tick.labelsize"]).get_size_in_points()

    class Apart(Locator):
        def __call__(self) -> Sequence[float]:
            ticks = [float(t) for t in inner()]
            transform = self.axis.get_transform()
            low, high = sorted(self.axis.get_view_interval())
            ends = transform.transform([low, high])
            span = float(ends[1] - ends[0]) or 1.0
            axes = self.axis.axes
            height = axes.bbox.height * 72 / axes.figure.dpi  # points
            gap = TICK_GAP * size / max(height, 1.0) * span
            ticks.sort(key=lambda t: (t != 0, -abs(t)))
            places = [float(p) for p in transform.transform(ticks)] if ticks else []
            kept: list[tuple[float, float]] = []  # (tick, where it is drawn)
            for tick, where in zip(ticks, places, strict=True):
                if all(abs(where - other) >= gap for _, other in kept):
                    kept.append((tick, where))
            return sorted(tick for tick, _ in kept)

    apart = Apart()
    axis.set_major_locator(apart)
    inner.set_axis(axis)


def _draw_losses(ax: Axes, curves: Sequence[_Curve], view: _View) -> None:
    """The curves of :func:`_loss_curves` as :func:`_loss_view` says, legend in group order."""
    _apply(ax, view.scale)
    rank = {name: i for i, name in enumerate(view.order)}
    for index, c in enumerate(curves):
        style = c.style
        line = {"color": style.color, "ls": style.linestyle, "marker": style.marker}
        if not c.mean.size:
            ax.plot([], [], lw=LINE_WIDTH, label=c.label, **line)
            continue
        if c.name in view.noisy:  # a cloud of dots: the spread without a wall of zigzags
            ax.plot(
                c.steps[: len(c.raw)], c.raw, ls="none", marker=".", ms=1.5, mew=0,
                color=style.color, alpha=NOISY_RAW_ALPHA, zorder=1,
            )  # fmt: skip
        else:
            ax.plot(
                c.steps[: len(c.raw)], c.raw, color=style.color, alpha=RAW_ALPHA, lw=0.7, zorder=1
            )
        if c.low is not None and c.high is not None:
            ax.fill_between(
                c.steps, c.low, c.high, color=style.color, alpha=BAND_ALPHA, lw=0, zorder=1.5
            )
        for steps, values in c.alone:
            ax.plot(steps, values, color=style.color, lw=0.9, alpha=0.8, zorder=2)
        z = 3 + rank.get(c.name, 0)
        if c.name in view.under:
            ax.plot(
                c.steps, c.mean, color=style.color, lw=HALO_WIDTH, alpha=0.35,
                solid_capstyle="round", zorder=z - 0.5,
            )  # fmt: skip
        ax.plot(
            c.steps, c.mean, lw=LINE_WIDTH, ms=4.5, markevery=_markevery(len(c.mean), index),
            label=c.label, zorder=z, **line,
        )  # fmt: skip
        for x, y in c.ends:
            _mark_end(ax, x, y, style.color, top=view.scale.high)
    ax.set_ylabel("loss")


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


def _evaluations(runs: Sequence[Mapping[str, Any]], key: str, by: str) -> dict[float, list[float]]:
    """Per step (``by``: ``"step"`` or ``"epoch"``) where any of ``runs`` evaluated
    ``key``, in order, the values there."""
    table: dict[float, list[float]] = {}
    for run in runs:
        for entry in run.get("epochs") or []:
            if entry.get(key) is not None and entry.get(by) is not None:
                table.setdefault(float(entry[by]), []).append(float(entry[key]))
    return dict(sorted(table.items()))


def _mean_by_step(
    runs: Sequence[Mapping[str, Any]], key: str, by: str
) -> tuple[list[float], list[float]]:
    """The steps where any of ``runs`` evaluated ``key``, and the mean value there."""
    table = _evaluations(runs, key, by)
    return list(table), [float(np.mean(values)) for values in table.values()]


def _accuracy_band(
    runs: Sequence[Mapping[str, Any]], key: str, by: str, band: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, low, high)``: the band of ``runs``' ``key`` at the steps of
    :func:`_mean_by_step`, over the seeds evaluated there: mean ± the population
    standard deviation (``band="std"``) or the lowest to the highest (``"minmax"``); the
    chart draws the same (:func:`gdlab.report.interactive._accuracy_spread`)."""
    table = _evaluations(runs, key, by)
    values = [np.asarray(v) for v in table.values()]
    if band == "std":
        low = [v.mean() - v.std() for v in values]
        high = [v.mean() + v.std() for v in values]
    else:
        low, high = [v.min() for v in values], [v.max() for v in values]
    return np.asarray(list(table)), np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def _accuracy_bands(
    runs: Sequence[Mapping[str, Any]], keys: Sequence[str], by: str, band: str
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Per group with several seeds kept (:func:`_accuracy_members`), per accuracy key it
    has, its band (:func:`_accuracy_band`), in group order."""
    bands: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for name, group in _groups(runs).items():
        members = _accuracy_members(group, keys)[0][0]
        if len(members) < 2:
            continue
        for key in keys:
            steps, low, high = _accuracy_band(members, key, by, band)
            if steps.size:
                bands.setdefault(name, {})[key] = (steps, low, high)
    return bands


def _evaluation_axis(runs: Sequence[Mapping[str, Any]]) -> str:
    """``"step"`` when every evaluation of ``runs`` has one, else ``"epoch"``."""
    entries = [e for run in runs for e in run.get("epochs") or []]
    return "step" if all(e.get("step") is not None for e in entries) else "epoch"


def _accuracy_members(
    group: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> list[tuple[list[Mapping[str, Any]], float, float]]:
    """A group's curves as ``(runs averaged, line width, alpha)``: the seeds kept, then each
    diverged seed alone, thin."""
    has = [any(e.get(k) is not None for e in r.get("epochs") or [] for k in keys) for r in group]
    kept, alone = _split_diverged(group, has)
    curves = [([group[i] for i in kept], 1.5, 1.0)]
    curves += [([group[i]], 0.8, 0.8) for i in alone]
    return curves


def _accuracy_curves(
    ax: Axes,
    group: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    by: str,
    style: palette.Style,
    index: int,
    bands: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Draw one group's accuracies (the ``index``-th group) over its ``bands`` (per key,
    :func:`_accuracy_bands`); its mean curve per key."""
    means: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    curves = _accuracy_members(group, keys)
    for steps, low, high in bands.values():
        if steps.size == 1:  # one evaluation: a short shaded bar, as the chart's
            ax.plot(
                [steps[0]] * 2, [low[0], high[0]], color=style.color, alpha=BAND_ALPHA,
                lw=6, solid_capstyle="butt", zorder=1.5,
            )  # fmt: skip
        else:
            ax.fill_between(steps, low, high, color=style.color, alpha=BAND_ALPHA, lw=0, zorder=1.5)
    for key in keys:
        for k, (members, width, alpha) in enumerate(curves):
            steps, values = _mean_by_step(members, key, by)
            if not steps:
                continue
            if k == 0:
                means[key] = (np.asarray(steps), np.asarray(values))
            ax.plot(
                steps, values, ACCURACY_STYLES[key], color=style.color, lw=width,
                alpha=alpha, marker=style.marker, ms=3.5, zorder=3 + index,
                markevery=_markevery(len(steps), index) if len(steps) > 40 else 1,
            )  # fmt: skip
    return means


def _accuracy_means(
    runs: Sequence[Mapping[str, Any]], keys: Sequence[str], by: str
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per accuracy key, each group's mean curve (its seeds kept, :func:`_accuracy_members`)
    as :func:`_accuracy_curves` draws it, in group order."""
    means: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {key: {} for key in keys}
    for name, group in _groups(runs).items():
        members = _accuracy_members(group, keys)[0][0]
        for key in keys:
            steps, values = _mean_by_step(members, key, by)
            if steps:
                means[key][name] = (np.asarray(steps), np.asarray(values))
    return means


def _accuracy_limits(
    runs: Sequence[Mapping[str, Any]], keys: Sequence[str], by: str, band: str = "minmax"
) -> Scale:
    """The accuracy figure's y-axis: every curve it draws (the means and the diverged
    seeds alone) and every band over seeds (``band``, :func:`_accuracy_bands`), with a
    margin of 5% of their range either side, as matplotlib would choose it; the figure
    sets it, and judges overlaps on it. An accuracy lies in [0, 1], so a band never
    stretches the axis far: it is held whole."""
    values = [
        value
        for group in _groups(runs).values()
        for members, _, _ in _accuracy_members(group, keys)
        for key in keys
        for value in _mean_by_step(members, key, by)[1]
        if math.isfinite(value)
    ]
    values += [
        float(value)
        for by_key in _accuracy_bands(runs, keys, by, band).values()
        for _, low, high in by_key.values()
        for value in np.concatenate([low, high])
        if math.isfinite(value)
    ]
    if not values:
        return Scale("linear", 0.0, 1.0, "no data")
    low, high = min(values), max(values)
    pad = 0.05 * (high - low) if high > low else 0.05 * (abs(low) or 1.0)
    return Scale("linear", low - pad, high + pad, "the curves' range")


def _accuracy_overlaps(
    means: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], scale: Scale
) -> list[tuple[str, str, str]]:
    """``(key, under, over)`` for each curve that a later group's hides within the line
    width (:func:`overlaps`, on the figure's axis, ``scale``: :func:`_accuracy_limits`)."""
    return [
        (key, under, over)
        for key, by_name in means.items()
        for under, over in overlaps(by_name, scale)
    ]


def _accuracy_clusters(
    means: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], scale: Scale
) -> list[tuple[str, list[str]]]:
    """``(key, names)`` per set of curves of one accuracy that all overlap one another
    within the line width (:func:`_clusters`)."""
    found = _accuracy_overlaps(means, scale)
    return [
        (key, names)
        for key in means
        for names in _clusters([(a, b) for k, a, b in found if k == key])
    ]


def _accuracy_overlap_sets(
    means: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], scale: Scale
) -> dict[str, list[list[str]]]:
    """Per accuracy name (``train``, ``test``) whose curves overlap within the line width,
    the sets of them: ``{"train": [["Momentum", "Nesterov"], ["AdaGrad", "Adam"]]}``."""
    found: dict[str, list[list[str]]] = {}
    for key, names in _accuracy_clusters(means, scale):
        found.setdefault(ACCURACY_NAMES[key], []).append(names)
    return found


def _accuracy_overlap_words(results: Mapping[str, Any]) -> str:
    """What the pale halos are, and which curves they mark."""
    runs = _runs(results)
    keys = _accuracy_keys(runs)
    by = _evaluation_axis(runs)
    band = _band(results)
    found = _accuracy_overlap_sets(
        _accuracy_means(runs, keys, by), _accuracy_limits(runs, keys, by, band)
    )
    if not found:
        return ""
    spread = (
        f"the shaded band over seeds is the one, {_accuracy_band_words(band)}"
        if _accuracy_bands(runs, keys, by, band)
        else "this figure draws no band over seeds"
    )
    return "A wide pale band is a halo under a curve that another hides within the line " + (
        f"width, not a spread ({spread}). "
        + " ".join(
            f"In {name} accuracy, {', and '.join(map(joined, sets))} overlap."
            for name, sets in found.items()
        )
    )


def _accuracy_band_words(band: str) -> str:
    """What an accuracy band over seeds spans (``band``: :func:`_band`)."""
    if band == "std":
        return "one standard deviation either side of the mean"
    return "the lowest to the highest seed (min–max)"


def _accuracy_halos(
    ax: Axes,
    means: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    styles: Mapping[str, palette.Style],
    scale: Scale,
    banded: bool = False,
) -> None:
    """A halo under each curve that a later group's hides within the line width (on the
    axis ``scale``), and a note beside the legend that says so (calling them lines where
    the figure has shaded bands over seeds, ``banded``)."""
    for key, under, _ in _accuracy_overlaps(means, scale):
        steps, values = means[key][under]
        ax.plot(
            steps, values, color=styles[under].color, lw=HALO_WIDTH, alpha=0.35,
            solid_capstyle="round", zorder=2,
        )  # fmt: skip
    found = _accuracy_overlap_sets(means, scale)
    if found:
        first = "Wide pale lines: halos under" if banded else "Pale bands: halos under curves"
        lines = [
            first,
            "curves hidden within the line width" if banded else "hidden within the line width",
        ]
        lines += [
            _fill_names(
                f"{name}: {'; '.join(map(joined, sets))}", [n for names in sets for n in names],
                30, subsequent_indent="  ",
            )
            for name, sets in found.items()
        ]  # fmt: skip
        ax.text(
            1.02, 0.0, "\n".join(lines), transform=ax.transAxes, fontsize=6.5, va="bottom",
            ha="left", color="0.2",
        )  # fmt: skip


def _accuracy_handles(
    runs: Sequence[Mapping[str, Any]], styles: Mapping[str, palette.Style], keys: Sequence[str]
) -> list[Any]:
    """The legend: each group in its colour and marker, then each accuracy in its line style."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [], [], color=styles[name].color, marker=styles[name].marker, lw=1.6,
            label=name + _divergence_note(group),
        )
        for name, group in _groups(runs).items()
    ]  # fmt: skip
    handles += [
        Line2D([], [], color="0.3", ls=ACCURACY_STYLES[key], lw=1.4, label=ACCURACY_NAMES[key])
        for key in keys
    ]
    return handles


@_finished
def accuracy_figure(results: Mapping[str, Any]) -> Figure:
    """Accuracy against the step at each evaluation, one colour and marker per group.

    Train solid, validation dotted, test dashed; a group with several seeds
    shows the mean over the seeds evaluated at each step and a shaded band
    over them (:func:`_accuracy_band`: mean ± std for a tuned race, else
    min–max, as the loss figure's; at a single evaluation a short bar),
    leaving out seeds that diverged (drawn alone, thin) unless all did.
    Steps come from the evaluations' ``step`` (their ``epoch`` if any lacks
    one).
    """
    runs = _runs(results)
    keys = _accuracy_keys(runs)
    styles = group_styles(runs)
    by = _evaluation_axis(runs)
    band = _band(results)
    bands = _accuracy_bands(runs, keys, by, band)

    with _style():
        fig = _new_figure(7.4, 4.0)
        ax = fig.subplots()
        means: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {key: {} for key in keys}
        for index, (name, group) in enumerate(_groups(runs).items()):
            drawn = _accuracy_curves(ax, group, keys, by, styles[name], index, bands.get(name, {}))
            for key, curve in drawn.items():
                means[key][name] = curve
        scale = _accuracy_limits(runs, keys, by, band)
        ax.set_ylim(scale.low, scale.high)
        _accuracy_halos(ax, means, styles, scale, banded=bool(bands))
        _legend(ax, handles=_accuracy_handles(runs, styles, keys))
        ax.set_xlabel(by)
        ax.set_ylabel("accuracy")
        ax.set_title("Accuracy")
    return fig


def lr_scale(rates: Sequence[Any]) -> tuple[str, float | None]:
    """``(kind, linthresh)``: the y-axis of a chart of learning rates per step.

    ``("log", None)`` when every rate is positive (rates a factor of 1000
    apart both show); ``("symlog", linthresh)`` when some are 0 (a warm-up
    from 0, a cosine decay to 0) and others not: a log axis would hide the
    zeros, so the axis is linear from 0 up to ``linthresh`` (the smallest
    rate that is not 0, at most :data:`SYMLOG_DECADES` decades below the
    largest) and logarithmic above, 0 at its bottom; ``("linear", None)``
    when there is no rate but 0. Non-finite values are left out.

    >>> lr_scale([[0.1, 0.01], [0.001]])
    ('log', None)
    >>> lr_scale([[0.0, 0.2, 0.4, 0.05, 0.0], [0.001]])
    ('symlog', 0.001)
    >>> lr_scale([[0.0, 0.0]])
    ('linear', None)
    """
    values = np.concatenate([_floats(r) for r in rates] or [np.empty(0)])
    values = values[np.isfinite(values)]
    if not np.any(values != 0):
        return "linear", None
    if values.min() > 0:
        return "log", None
    sizes = np.abs(values[values != 0])
    return "symlog", _symlog_threshold(float(sizes.min()), float(sizes.max()))


#: An lr figure's line: the first group's name, every group's name, the run, its rates.
_LrLine = tuple[str, list[str], Mapping[str, Any], np.ndarray]


def _lr_lines(results: Mapping[str, Any]) -> dict[tuple, _LrLine]:
    """The lr figure's lines: per distinct series of rates, the first group's name, every
    group's name, the run drawn and its rates."""
    lines: dict[tuple, _LrLine] = {}
    for name, group in _groups(_runs(results)).items():
        run = next((r for r in group if r.get("lr")), group[0])
        lr = _floats(run.get("lr"))
        key = (series_stride(run), *np.round(lr, 12).tolist())
        entry = lines.setdefault(key, (name, [], run, lr))
        entry[1].append(name + _divergence_note(group))
    return lines


def _lr_steps(run: Mapping[str, Any], lr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of a run's rates as steps: ``lr[i]`` holds over update ``i + 1``, from
    ``i`` updates applied to ``i + 1``, the last one too (its value repeated at its end)."""
    stride = series_stride(run)
    x = np.arange(len(lr) + 1, dtype=np.float64) * stride
    steps = run.get("steps")
    if len(lr) and isinstance(steps, int) and x[-2] < steps < x[-1]:
        x[-1] = steps  # a long run's last inline rate holds until its last step
    return x, np.append(lr, lr[-1:]) if len(lr) else lr


def _lr_scale_words(results: Mapping[str, Any]) -> str:
    """The lr caption's words on its y-axis (:func:`lr_scale`)."""
    kind, linthresh = lr_scale([lr for *_, lr in _lr_lines(results).values()])
    if kind == "log":
        return "log scale"
    if kind == "linear":
        return "linear scale"
    return (
        f"symmetric log scale: linear from 0 (the bottom) to {_fmt(linthresh)}, log above, "
        "so a rate of 0 shows"
    )


@_finished
def lr_figure(results: Mapping[str, Any]) -> Figure:
    """The learning rate per step of each group's first run, its y-axis by
    :func:`lr_scale` (log; symmetric log where some rates are 0).

    Each rate is a level over the update that used it, the last one's too.
    Groups whose rates are the same at every step share one line, labelled
    with all their names (six optimizers at two rates: two lines, two entries).
    """
    lines = _lr_lines(results)
    styles = group_styles(_runs(results))
    with _style():
        fig = _new_figure(7.4, 3.6)
        ax = fig.subplots()
        for first, names, run, lr in lines.values():
            style = styles[first]
            x, y = _lr_steps(run, lr)
            ax.plot(
                x, y, color=style.color, ls=style.linestyle, lw=1.6, drawstyle="steps-post",
                label=", ".join(names),
            )  # fmt: skip
        kind, linthresh = lr_scale([lr for *_, lr in lines.values()])
        if kind == "log":
            ax.set_yscale("log")
        elif kind == "symlog":
            ax.set_yscale("symlog", linthresh=linthresh)
            ax.set_ylim(bottom=-0.05 * linthresh)  # 0 just above the frame, not on it
            _apart_ticks(ax.yaxis)
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title("Learning rate per step")
        _legend(ax)
    return fig


def _panel_accuracy(run: Mapping[str, Any]) -> tuple[float, str] | None:
    """``(value, "train accuracy 0.863")``: the run's test accuracy, else validation,
    else train, as a boundary panel's title gives it; ``None`` without one."""
    metrics = run.get("metrics") or {}
    for key, word in (
        ("test_accuracy", "test"),
        ("val_accuracy", "val"),
        ("train_accuracy", "train"),
    ):
        value = metrics.get(key)
        if value is not None:
            return float(value), f"{word} accuracy {float(value):.3f}"
    return None


def _accuracy_text(run: Mapping[str, Any]) -> str:
    found = _panel_accuracy(run)
    return "" if found is None else found[1]


@_finished
def boundary_figure(results: Mapping[str, Any]) -> Figure:
    """Decision boundaries: one subplot per group (its first run with a ``boundary``).

    ``contourf`` of ``boundary.probability`` (P(class 1), rows along y) at
    levels 0, 0.1, ..., 1 over ``boundary.xlim``/``ylim``, the 0.5 contour
    in black, and ``problem.data.points`` by class (blue circles, vermillion
    squares). The title gives the label and the accuracy (test, else
    validation, else train).
    """
    problem = _problem(results) or {}
    chosen = _boundary_runs(_runs(results))
    if not chosen:
        fail("results['runs']", "runs with a 'boundary' for the boundary figure", None)
    points = (problem.get("data") or {}).get("points") or {}
    px = np.asarray(points.get("X") or np.empty((0, 2)), dtype=np.float64).reshape(-1, 2)
    py = np.asarray(points.get("y") or [], dtype=np.int64).reshape(-1)
    classes = sorted(set(py.tolist()))
    if set(classes) <= {0, 1}:
        class_styles = {
            0: ("#0072B2", "o"),
            1: ("#D55E00", "s"),
        }  # blue circles, vermillion squares
    else:
        class_styles = {
            k: (palette.style(i).color, palette.style(i).marker) for i, k in enumerate(classes)
        }

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
                gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6, vmin=0, vmax=1
            )
            ax.contour(gx, gy, prob, levels=[0.5], colors="black", linewidths=1.4)
            for cls in classes:
                mask = py == cls
                color, marker = class_styles[cls]
                ax.scatter(
                    px[mask, 0], px[mask, 1], s=10, color=color, marker=marker,
                    edgecolors="white", linewidths=0.3, label=f"class {cls}",
                )  # fmt: skip
            title = _run_title(run)
            extra = _accuracy_text(run)
            if _diverged(run):
                extra = stops.divergence_words(run)
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


@_finished
def schedules_figure(results: Mapping[str, Any], *, log: bool | None = None) -> Figure:
    """Learning rate against step for each schedule; the legend (below) shows the formulas.

    With ``series.steps_per_epoch`` a top x-axis counts epochs. The y-axis
    comes from :func:`choose_scale` (``log=True``/``False`` forces it): it
    holds every curve's 1st–99th percentile, so a schedule that collapses
    toward 0 at its end (cosine) neither stretches a log axis nor squeezes
    the others; each schedule has its own colour, line style and marker.
    """
    series = _series_of(results, "schedules")
    curves = series.get("curves") or []
    spe = series.get("steps_per_epoch")
    values = [_floats(curve.get("lr")) for curve in curves]
    scale = choose_scale(values, log=log)
    labels = []
    for i, curve in enumerate(curves):
        label = str(curve.get("label") or f"schedule {i + 1}")
        labels.append(f"{label}: {curve['formula']}" if curve.get("formula") else label)
    longest = max((len(label) for label in labels), default=0)
    rows = len(labels) if longest > 60 else math.ceil(len(labels) / 2)
    with _style():
        fig = _new_figure(7.4, 3.6 + 0.16 * rows)
        ax = fig.subplots()
        for i, lr in enumerate(values):
            style = palette.style(i)
            ax.plot(
                np.arange(len(lr)), lr, color=style.color, ls=style.linestyle, lw=1.7,
                marker=style.marker, ms=4, markevery=_markevery(len(lr), i), label=labels[i],
                drawstyle="steps-post",
            )  # fmt: skip
        _apply(ax, scale)
        if isinstance(spe, int | float) and not isinstance(spe, bool) and spe > 0:
            per = float(spe)
            top = ax.secondary_xaxis("top", functions=(lambda s: s / per, lambda e: e * per))
            top.set_xlabel("epoch")
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate" + (" (log axis)" if scale.kind == "log" else ""))
        _legend(ax, where="below", ncol=1 if longest > 60 else 2)
    return fig


@_finished
def ewma_figure(results: Mapping[str, Any]) -> Figure:
    """Seed 004's picture: the whole series (left) and its first days (right).

    Left: daily values as faint dots, each β's bias-corrected average as a
    line (one colour and marker per β, in order of appearance). Right: the
    first :data:`EWMA_FIRST_DAYS` days against the day ``t``, corrected
    averages solid, uncorrected ones dashed: the bias correction's lesson.
    Dates (ISO strings) go on the left x-axis as ``numpy.datetime64``;
    without dates it counts days. One legend below both panels.
    """
    import matplotlib.dates as mdates
    from matplotlib.lines import Line2D

    series = _series_of(results, "ewma")
    values = _floats(series.get("values"))
    dates = series.get("dates")
    x: np.ndarray = np.array(dates, dtype="datetime64") if dates else np.arange(len(values))
    unit = series.get("unit") or ""
    curves = series.get("curves") or []
    betas = list(dict.fromkeys(float(c.get("beta")) for c in curves))
    corrected_betas = {float(c["beta"]) for c in curves if c.get("bias_correction")}
    first = min(EWMA_FIRST_DAYS, len(values))
    every = max(3, first // 10)  # markers: about ten a curve
    with _style():
        fig = _new_figure(9.6, 4.4)
        whole, start = fig.subplots(1, 2, width_ratios=[2.0, 1.0])
        n = min(len(x), len(values))
        whole.plot(x[:n], values[:n], ".", color=palette.NEUTRAL, ms=2.5, alpha=0.45)
        days = np.arange(1, first + 1)
        start.plot(days, values[:first], "o", color=palette.NEUTRAL, ms=3.5, alpha=0.8)
        for curve in curves:
            beta = float(curve.get("beta"))
            k = betas.index(beta)
            style = palette.style(k)
            corrected = bool(curve.get("bias_correction"))
            avg = _floats(curve.get("values"))[: len(x)]
            if corrected or beta not in corrected_betas:  # a longer window: a bolder line
                window = effective_window(beta)
                width = 0.8 + 0.45 * math.log10(max(window, 1.0))
                whole.plot(
                    x[: len(avg)], avg, color=style.color, lw=width, alpha=0.6 if window < 5 else 1
                )
            short = effective_window(beta) < 5  # a jumpy line: thinner, not to hide the others
            start.plot(
                days[: len(avg)], avg[:first], "-" if corrected else "--", color=style.color,
                lw=1.0 if short else 1.6, alpha=0.7 if short else 1.0, marker=style.marker,
                ms=4, markevery=(k, every),
            )  # fmt: skip
        if dates:
            locator = mdates.AutoDateLocator()
            whole.xaxis.set_major_locator(locator)
            whole.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        else:
            whole.set_xlabel("day")
        label = f"value ({unit})" if unit else "value"
        whole.set_ylabel(label)
        whole.set_title("The whole series: a larger β is smoother and lags more")
        start.set_xlabel("day t")
        start.set_ylabel(label)
        start.set_title(f"The first {first} days: bias correction")
        start.set_xlim(0.5, first + 0.5)
        handles = [Line2D([], [], ls="none", marker="o", color=palette.NEUTRAL, label="daily")]
        for k, beta in enumerate(betas):
            style = palette.style(k)
            window = 1.0 / (1.0 - beta) if beta < 1 else math.inf
            handles.append(
                Line2D([], [], color=style.color, marker=style.marker, lw=1.6,
                       label=f"β = {beta:g} (≈{window:.3g} days)")
            )  # fmt: skip
        handles += [
            Line2D([], [], color="0.2", ls="-", lw=1.6, label="bias-corrected"),
            Line2D([], [], color="0.2", ls="--", lw=1.6, label="uncorrected (v₁ = (1 − β)·θ₁)"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    return fig


def _init_shares(layer: Mapping[str, Any]) -> np.ndarray:
    counts = _floats(layer.get("counts"))
    total = layer.get("total")
    denominator = float(total) if total else float(counts.sum()) or 1.0
    return counts / denominator


def _init_cases(results: Mapping[str, Any], activation: str | None) -> list[Mapping[str, Any]]:
    """The cases of the init series to draw: every one, or those of ``activation``."""
    series = _series_of(results, "init")
    cases = [
        case
        for case in series.get("cases") or []
        if activation is None or str(case.get("activation")) == activation
    ]
    if not cases:
        fail("activation", "an activation of series.cases", activation)
    return cases


def _init_name(case: Mapping[str, Any], several: bool, sep: str) -> str:
    """A case's initialisation, with its activation after ``sep`` when several are drawn."""
    return str(case.get("init")) + (f"{sep}{case.get('activation')}" if several else "")


def _init_style(case: Mapping[str, Any], inits: Sequence[str]) -> palette.Style:
    """The style of a case's initialisation (one per initialisation, in order of appearance)."""
    return palette.style(inits.index(str(case.get("init"))))


def _init_edges(cases: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The bin edges of every layer of every case, in one array."""
    return np.concatenate([_floats(layer.get("edges")) for c in cases for layer in c["layers"]])


def _init_panel_labels(
    ax: Axes, row: int, col: int, rows: int, name: str, color: str, xlabel: str
) -> None:
    """A histogram panel's ticks and labels: the layer on the top row, the case in the first
    column, tick labels and ``xlabel`` on the outer panels only."""
    ax.tick_params(
        labelsize=6, length=2, pad=1, labelbottom=row == rows - 1, labelleft=col == 0,
    )  # fmt: skip
    if row == 0:
        ax.set_title(f"layer {col + 1}", fontsize=7)
    if col == 0:
        ax.set_ylabel(name, fontsize=7.5, color=color)
    if row == rows - 1:
        ax.set_xlabel(xlabel, fontsize=6.5, labelpad=1)


def _positive_only(case: Mapping[str, Any]) -> bool:
    """Whether a case's bars count only its positive outputs (ReLU's: ``positive``, or
    ``xscale: "log"`` in a results.json from before the linear axis)."""
    return bool(case.get("positive")) or case.get("xscale") == "log"


def _init_zeros(ax: Axes, layer: Mapping[str, Any], shares: np.ndarray, color: str) -> None:
    """For positive values only, the share of the layer's outputs that are exactly 0 (ReLU's,
    about half), which no bar can show, and the share beyond the axis (``above``: ReLU with
    std 1 explodes), when there is one: written in the panel's corner."""
    zeros = layer.get("zeros")
    if isinstance(zeros, bool) or not isinstance(zeros, int | float) or not math.isfinite(zeros):
        zeros = max(0.0, 1.0 - float(shares.sum()))  # what the bars leave out
    note = f"0: {100 * zeros:.0f}%"
    above = layer.get("above")
    if isinstance(above, int | float) and not isinstance(above, bool) and above >= 0.005:
        note += f"\n→ off axis: {100 * above:.0f}%"
    ax.text(
        0.97, 0.96, note, transform=ax.transAxes, ha="right", va="top",
        fontsize=6.5, color=color, fontweight="bold",
    )  # fmt: skip


def _init_histograms(
    fig: Figure,
    grid: Any,
    cases: Sequence[Mapping[str, Any]],
    shares: Sequence[Sequence[np.ndarray]],
    inits: Sequence[str],
    several: bool,
    cols: int,
    *,
    linked: bool,
) -> list[Axes]:
    """One row of histograms per case, ``cols`` layers; every panel, row by row.

    ``linked``: each panel shares x and y with the first one. Otherwise each has
    its own, which the caller sets alike (:func:`_init_figure`).
    """
    panels: list[Axes] = []
    positive = any(_positive_only(case) for case in cases)
    xlabel = "activation value (> 0)" if positive else "activation value"
    for row, case in enumerate(cases):
        style = _init_style(case, inits)
        name = _init_name(case, several, "\n")
        layers = case.get("layers") or []
        for col in range(cols):
            first = panels[0] if linked and panels else None
            ax = fig.add_subplot(grid[row, col], sharex=first, sharey=first)
            panels.append(ax)
            _init_panel_labels(ax, row, col, len(cases), name, style.color, xlabel)
            if col >= len(layers):
                ax.set_axis_off()
                continue
            edges = _floats(layers[col].get("edges"))
            ax.stairs(shares[row][col], edges, fill=True, color=style.color, alpha=0.85)
            if _positive_only(case):
                _init_zeros(ax, layers[col], shares[row][col], style.color)
    return panels


def _init_log_x(ax: Axes, edges: np.ndarray) -> None:
    """A log x-axis over every bin, ticks at whole decades inside it (at most about four)."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    low, high = math.log10(edges.min()), math.log10(edges.max())
    step = max(1, math.ceil((high - low) / 4))
    ax.set_xlim(10**low, 10**high)
    ax.set_xticks([10.0**k for k in range(math.ceil(low) + 1, math.floor(high), step)])
    ax.xaxis.set_minor_locator(NullLocator())


def _init_linear_x(ax: Axes, edges: np.ndarray) -> None:
    """The ends and the middle of the shared range as ticks: 0, 0.5, 1 or -1, 0, 1."""
    from matplotlib.ticker import FuncFormatter

    if not edges.size:
        return
    low, high = float(edges.min()), float(edges.max())
    ax.set_xlim(low, high)
    ax.set_xticks(np.linspace(low, high, 3))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))


def _init_share_axis(ax: Axes, top: float) -> None:
    """The histograms' shared y-axis: from 0 to above the highest bar, in percent."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    ax.set_ylim(0, top * 1.08)
    ax.yaxis.set_major_locator(MaxNLocator(3))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def _init_stds(
    ax: Axes, cases: Sequence[Mapping[str, Any]], inits: Sequence[str], several: bool, cols: int
) -> None:
    """Each case's std per layer, one line each (log y when they span more than 20×)."""
    stds = []
    for case in cases:
        style = _init_style(case, inits)
        values = [float(layer.get("std", math.nan)) for layer in case.get("layers") or []]
        stds += [v for v in values if math.isfinite(v) and v > 0]
        ax.plot(
            np.arange(1, len(values) + 1), values, color=style.color, ls=style.linestyle,
            marker=style.marker, ms=4, lw=1.5, label=_init_name(case, several, ", "),
        )  # fmt: skip
    if stds and max(stds) / min(stds) > 20:
        ax.set_yscale("log")
        if max(stds) / min(stds) < 1000:
            _plain_log_ticks(ax.yaxis)
    ax.set_xticks(np.arange(1, cols + 1))
    ax.set_xlabel("layer")
    ax.set_title("std per layer")
    ax.tick_params(labelsize=6.5)
    _legend(ax, where="right")  # beside the panel: a band below would squash the histograms


@_finished
def init_figure(results: Mapping[str, Any], *, activation: str | None = None) -> Figure:
    """Seed 001's activation histograms, and the standard deviation per layer.

    One row per case (its y label: the initialisation, with the activation
    when several are drawn), one column per layer (titled ``layer k``): the
    share of the activations in each bin, on one x and one y scale for the
    whole figure (a ``positive`` case, ReLU's, counts only its positive outputs
    and notes its share of zeros and beyond the axis in a corner; an older one
    with ``xscale: "log"`` gets a log x-axis), tick labels on the outer panels only. The right
    column plots each case's ``std`` per layer, one line per case in its
    initialisation's style (log y when the stds span more than a factor of
    20). With ``activation`` only the cases of that activation are drawn
    (draw() does this, one figure per activation, when there are more than
    six cases). The histograms share their axes: zooming one on screen
    zooms them all.
    """
    return _init_figure(results, activation, linked=True)


@_finished
def _init_file_figure(results: Mapping[str, Any], *, activation: str | None = None) -> Figure:
    """:func:`init_figure` as :func:`draw` saves it: the same drawing, byte for byte, but
    each histogram has its own axes, set alike, instead of sharing them.

    Linked axes only matter on screen, and cost in a file: matplotlib asks every
    one of the 20 linked axes whether its limits are stale each time it reads one
    panel's (thousands of times a figure), about a tenth of the figure's time.
    """
    return _init_figure(results, activation, linked=False)


def _init_figure(results: Mapping[str, Any], activation: str | None, *, linked: bool) -> Figure:
    """The init figure (:func:`init_figure`), its histograms ``linked`` or set alike."""
    cases = _init_cases(results, activation)
    cols = max(len(case.get("layers") or []) for case in cases) or 1
    inits = list(dict.fromkeys(str(case.get("init")) for case in cases))
    several = len({str(case.get("activation")) for case in cases}) > 1
    log_x = any(case.get("xscale") == "log" for case in cases)
    shares = [[_init_shares(layer) for layer in case.get("layers") or []] for case in cases]
    top = max((float(s.max()) for row in shares for s in row if s.size), default=1.0)
    edges = _init_edges(cases)
    with _style():
        fig = _new_figure(1.45 * cols + 3.2, 1.0 * len(cases) + 1.1)
        grid = fig.add_gridspec(len(cases), cols + 1, width_ratios=[1.0] * cols + [2.2])
        panels = _init_histograms(fig, grid, cases, shares, inits, several, cols, linked=linked)
        for ax in panels[:1] if linked else panels:  # linked: the others follow the first
            if log_x:
                _init_log_x(ax, edges)
            else:
                _init_linear_x(ax, edges)
            _init_share_axis(ax, top)
        _init_stds(fig.add_subplot(grid[:, cols]), cases, inits, several, cols)
        kind = (
            "share of activations per bin; the positive values, “0: n%” the share that is exactly 0"
            if any(_positive_only(case) for case in cases)
            else "share of activations per bin"
        )
        title = "Activation histograms" + (f", {activation}" if activation else "")
        fig.suptitle(f"{title} ({kind})", fontsize=9)
    return fig


# --- the tuning figure ------------------------------------------------------------------


def _numbers(values: Sequence[Any] | None) -> np.ndarray:
    """Floats, ``None`` as NaN."""
    return np.array([np.nan if v is None else v for v in values or []], float)


def _sensitivity_curve(
    ax: Any, label: str, c: Mapping[str, Any], style: palette.Style
) -> list[float]:
    """One configuration's validation loss against the rate; its finite values."""
    grid = np.asarray(c.get("grid") or [], float)
    if grid.size == 0:
        return []
    mean, std = _numbers(c.get("mean")), _numbers(c.get("std"))
    ax.plot(
        grid, mean, color=style.color, ls=style.linestyle, marker=style.marker, lw=1.5, ms=4,
        label=label,
    )  # fmt: skip
    ax.fill_between(grid, mean - std, mean + std, color=style.color, alpha=BAND_ALPHA + 0.1, lw=0)
    best = c.get("best")
    if best is not None and best.get("lr") is not None and best.get("mean") is not None:
        ax.plot([best["lr"]], [best["mean"]], "*", color=style.color, ms=13, mec="black", mew=0.7)
    return [float(m) for m in mean if np.isfinite(m)]


#: How the sensitivity figure marks a rate with no score, in a strip above the curves:
#: (key in a configuration's curve, marker, legend label, marker size, edge width).
_UNSCORED = (
    ("diverged", "x", "diverged", 7, 1.8),
    ("failed", "s", "failed", 7, 1.3),
)


def _unscored(c: Mapping[str, Any]) -> bool:
    return any(any(c.get(key) or []) for key, *_ in _UNSCORED)


def _sensitivity_unscored(
    ax: Any, c: Mapping[str, Any], style: palette.Style, row: int
) -> set[str]:
    """Mark, on row ``row`` of the strip ``ax`` and in the configuration's colour, the rates
    at which some fold diverged or whose task failed (no loss to plot); the kinds marked."""
    grid = [float(g) for g in c.get("grid") or []]
    marked = set()
    for key, marker, _, size, width in _UNSCORED:
        xs = [g for g, n in zip(grid, c.get(key) or [], strict=False) if n]
        if xs:
            marked.add(key)
            hollow = {"mfc": "none"} if marker == "s" else {}
            ax.plot(
                xs, [row] * len(xs), ls="none", marker=marker, color=style.color, ms=size,
                mew=width, **hollow,
            )  # fmt: skip
    return marked


def _unscored_strip(
    strip: Any, configurations: Mapping[str, Any], styles: Mapping[str, palette.Style]
) -> set[str]:
    """The strip above the curves: one row per configuration with a rate that has no
    score (named on the left, the first on top); the kinds marked."""
    labels = [label for label, c in configurations.items() if _unscored(c)]
    marked: set[str] = set()
    for row, label in enumerate(labels):
        marked |= _sensitivity_unscored(strip, configurations[label], styles[label], row)
    strip.set_ylim(len(labels) - 0.5, -0.5)
    # a tick label is mathtext to matplotlib: a run's "$" is escaped to be a dollar sign
    strip.set_yticks(range(len(labels)), [t.replace("$", r"\$") for t in labels], fontsize=7)
    strip.tick_params(axis="y", length=0)
    strip.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    for side in ("top", "right", "bottom"):
        strip.spines[side].set_visible(False)
    strip.set_title("no score: diverged or failed", fontsize=7, loc="left")
    return marked


def _unscored_handles(marked: set[str]) -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], ls="none", marker=marker, color="0.25", ms=size, mew=width, label=label,
               **({"mfc": "none"} if marker == "s" else {}))
        for key, marker, label, size, width in _UNSCORED
        if key in marked
    ]  # fmt: skip


@_finished
def sensitivity_figure(results: Mapping[str, Any]) -> Figure:
    """Validation loss against the learning rate per configuration (``series.kind == "tuning"``).

    A rate with no score is not left out: in a strip above the curves, one row per
    configuration that has any, an × marks a rate at which some fold diverged and a
    hollow square one whose task failed (an error), named in the legend.
    """
    series = _series_of(results, "tuning")
    configurations = series.get("configurations") or {}
    styles = label_styles(_runs(results), configurations)  # as the report's other figures
    rows = sum(_unscored(c) for c in configurations.values())
    with _style():
        fig = _new_figure(7.4, 4.0 + (0.3 + 0.2 * rows if rows else 0.0))
        marked: set[str] = set()
        if rows:
            strip, ax = fig.subplots(
                2, 1, sharex=True, gridspec_kw={"height_ratios": [0.3 + 0.25 * rows, 4.0]}
            )
            marked = _unscored_strip(strip, configurations, styles)
        else:
            ax = fig.subplots()
        finite_all: list[float] = []
        for label, c in configurations.items():
            finite_all += _sensitivity_curve(ax, label, c, styles[label])
        ax.set_xscale("log")
        lo, hi = (min(finite_all), max(finite_all)) if finite_all else (0.0, 0.0)
        if lo > 0 and hi / lo > SENSITIVITY_LOG_RATIO:
            ax.set_yscale("log")
        ax.margins(y=0.1)
        ax.set_xlabel("learning rate")
        ax.set_ylabel(str(series.get("metric", "validation loss")))
        if rows:  # above the strip
            fig.suptitle("Learning-rate sensitivity")
        else:
            ax.set_title("Learning-rate sensitivity")
        _legend(ax, handles=_legend_handles(ax) + _unscored_handles(marked))
    return fig


# --- everything at once ------------------------------------------------------------


def draw(
    results: Mapping[str, Any],
    out_dir: str | Path,
    *,
    function: functions2d.Function2D | None = None,
) -> list[dict[str, str]]:
    """Draw every figure that fits ``results`` into ``out_dir/figures/``.

    ``results`` is a ``results.json`` document as a dict (``docs/results.md``);
    the figures chosen are listed in this module's docstring. ``function``
    is the 2-D function of a document whose function is not registered (a
    user's own :class:`~gdlab.functions2d.Function2D`). Each figure is saved
    twice, ``<name>.png`` (120 dpi) and ``<name>.svg``, each atomically (a
    temporary file in the same directory, then ``os.replace``), and then
    dropped for the garbage collector to free (clearing its axes one by one,
    as matplotlib's ``Figure.clear`` does, cost a tenth of an init figure's
    time). The same document gives the same bytes.

    Returns:
        One dict per figure, in drawing order: ``{"name", "title", "caption",
        "look_for", "png": "figures/<name>.png", "svg": "figures/<name>.svg"}``
        (paths relative to ``out_dir``); ``look_for`` is a short paragraph on
        what to look for in the figure, written from the data.

    Raises:
        ValueError: an unknown ``problem.kind`` or ``series.kind`` (the message
            names it and lists the valid ones), an unknown 2-D function, runs
            without a problem. Nothing is drawn then.
        TypeError: ``results`` or a part of it is the wrong kind of value.
    """
    plans = _plan(results, function)
    directory = Path(out_dir) / "figures"
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for plan in plans:
        with _style():  # one style for the figure's making, fitting and saving
            _save(plan.make(), directory, plan.name)
        made.append(_entry(plan))
    return made


def listed(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What :func:`draw` returns for ``results``, without drawing (the figures of a
    report whose files are there already)."""
    return [_entry(plan) for plan in _plan(results)]


def _entry(plan: _Plan) -> dict[str, Any]:
    """A drawn figure's entry: its name, words and files (relative to the report)."""
    return {
        "name": plan.name,
        "title": plan.title,
        "caption": plan.caption,
        "look_for": plan.look_for(),
        "png": f"figures/{plan.name}.png",
        "svg": f"figures/{plan.name}.svg",
    }
