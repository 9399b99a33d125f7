"""Interactive twins of the report's curve figures, drawn in the page by its own script.

The numbers are computed here and the page only draws (STYLE 18):
:func:`charts` turns a results document (``docs/results.md``) into plain
data, one chart per curve figure, named after the figure it twins (``loss``,
``accuracy``, ``lr``, ``overlay`` (the 2-D paths on one contour), ``paths``
(a regression's weights on its loss contour), ``schedules``, ``ewma``,
``sensitivity``). Each run keeps the style the figures give it
(:func:`gdlab.report.figures.group_styles`, from :mod:`gdlab.report.palette`),
each chart starts on the axis the figure chose
(:func:`gdlab.report.figures.choose_scale`; the learning rates' by
:func:`~gdlab.report.figures.lr_scale`; the sensitivity chart's holds every
point and ★, log when they span more than a factor of 20, as its figure), a
diverged 2-D path ends in an × where it leaves the plot and says where it
diverged in the legend, and contour lines are computed here (contourpy,
matplotlib's), so the PNG and the chart agree.

In the page (``charts.js`` beside this module, :func:`page_script`, about
30 kB; it draws SVG and needs nothing else), every chart shows run, step and
value on hover, zooms on a drag (a double-click goes back), pans with the
Pan button or a Shift-drag, hides a run when its legend entry is clicked and
shows it alone on a double-click, and switches its y-axis between linear and
log. A noisy loss chart carries each run's raw loss and a smoothing slider:
the page computes the bias-corrected exponentially weighted average of
:func:`gdlab.report.figures.smooth` (seed 004's ``v_t = β·v_{t−1} + (1 −
β)·x_t``, shown as ``v_t / (1 − β^t)``) from it, so the slider goes from the
raw curve (β = 0) to heavy smoothing. It starts as the figure: each run smoothed
over the steps the figure chose for it (more for a noisy loss, its legend entry
saying so), the raw loss faint beneath (dots where it jumps across the axis).
A group with several seeds is drawn as its figure draws it: the mean over the seeds
that did not diverge (each step over those that reach it) with a shaded band (± one
std for a tuned race, else min–max: :func:`gdlab.report.figures._band`), each diverged
seed alone and thin, its seed in its tooltip; the page averages the seeds' smoothed
losses itself, so the mean and band follow the slider. Its accuracy likewise: the mean
per evaluation and its band. The sensitivity chart's tooltip gives each point's
validation accuracy (mean ± std over the folds) where it has one, and a note under its
legend says what chose the rate (``note``).
The 2-D paths show the step, the point and f on hover. ``docs/results.md`` says
why this is not plotly.js.

A trace is a dict: ``mode`` (``"lines"``, ``"markers"``, ``"lines+markers"``
or ``"contour"``), ``x`` and ``y`` (or ``x0`` and ``dx`` for evenly spaced
steps), ``name``, ``legendgroup`` (a legend entry hides all its traces),
``showlegend``, ``line`` (``color``, ``dash``, ``width``), ``marker``
(``symbol``, ``size``, ``color``, ``edge``), ``meta`` (the run, bold in the
tooltip), ``hover`` (``{"x": "step", "y": "loss", "format": "g" | "%",
"extra": "f"}``, the extra values in ``customdata``; ``None``: no tooltip),
``error`` (± bars), ``edge`` (markers on the plot's edge, drawn unclipped: an ×
where a diverged path left the plot), ``band`` (a mean over seeds: ``{"kind": "std" |
"minmax", "seeds": n}``, with ``low`` and ``high`` where the band is computed here; a
loss's from ``smooth["seeds"]`` by the page), ``alone`` (a diverged seed drawn apart:
no faint raw loss under it), ``end`` (the step where a loss's run diverged: the page
draws an × there at the end of its curve as smoothed, on the top edge when above it;
for a mean over seeds that all diverged, ``smooth["seeds"]``' ``ends``, one a seed),
``line["opacity"]`` and, for a contour, ``paths`` (``[[x…], [y…]]`` per line) and
``shades`` (a grey per line). ``customdata`` holds numbers, or words shown as they are
(``"91.2% ± 0.4%"``).

>>> doc = {"problem": None, "runs": [], "series": {"kind": "schedules", "steps": 3,
...     "curves": [{"label": "constant", "formula": "lr = 0.1", "lr": [0.1, 0.1, 0.1]}]}}
>>> [(c["figure"], c["scale"]["kind"], len(c["traces"])) for c in charts(doc)]
[('schedules', 'linear', 1)]
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from collections.abc import Collection, Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np

from gdlab import functions2d
from gdlab.report import palette, stops
from gdlab.report.figures import (
    EWMA_FIRST_DAYS,
    SENSITIVITY_LOG_RATIO,
    SMOOTH_BETA,
    _accuracy_band,
    _accuracy_limits,
    _accuracy_members,
    _band,
    _curve_label,
    _distinct,
    _exit,
    _function_mean,
    _group_name,
    _groups,
    _loss_curves,
    _loss_scale,
    _mean_by_step,
    _noisy,
    _on_grid,
    _split_diverged,
    _stack,
    _wiggle,
    choose_scale,
    function_curve,
    function_symlog,
    group_styles,
    has_sensitivity,
    is_function2d,
    label_styles,
    lr_scale,
    smooth,
)
from gdlab.report.tuning_text import selected_by
from gdlab.results import series_stride

__all__ = ["SMOOTH_BETAS", "TWINS", "charts", "page_script"]

#: The figures that get an interactive twin, by name.
TWINS = ("overlay", "paths", "loss", "accuracy", "lr", "schedules", "ewma", "sensitivity")
#: The smoothing slider's stops (β of the bias-corrected EWMA; 0 is the raw curve).
SMOOTH_BETAS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
#: Significant digits of the numbers sent to the page (a 2,000-step curve stays small).
DIGITS = 7
#: Grid points per side of a contour, and its levels.
CONTOUR_RESOLUTION = 120
CONTOUR_LEVELS = 20
#: Per-step markers on a path of at most this many points (more: a line only).
PATH_MARKERS = 120
ACCURACY_NAMES = {"train_accuracy": "train", "val_accuracy": "validation", "test_accuracy": "test"}
ACCURACY_DASHES = {"train_accuracy": "solid", "val_accuracy": "dot", "test_accuracy": "dash"}


@functools.cache
def page_script() -> str:
    """The page's chart script (``charts.js``): draws every chart from its data, as SVG."""
    return resources.files(__package__).joinpath("charts.js").read_text(encoding="utf-8")


# --- numbers for the page -------------------------------------------------------------


def _rounded(values: Any, digits: int = DIGITS) -> list[float | None]:
    """``values`` with ``digits`` significant digits; NaN and ±inf become ``None`` (a gap)."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in array.tolist()]


def _floats(values: Any) -> np.ndarray:
    if values is None:
        return np.empty(0)
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _finite(curves: Sequence[Any]) -> np.ndarray:
    """Every finite value of ``curves``, in one array."""
    every = [np.asarray(c, dtype=np.float64).reshape(-1) for c in curves if len(c)]
    values = np.concatenate(every) if every else np.empty(0)
    return values[np.isfinite(values)]


def _scale_block(
    kind: str, reason: str, positive: bool, ranges: Mapping[str, Sequence[float]]
) -> dict[str, Any]:
    """A chart's y-axis: its kind (linear where a value is not positive: ``switch`` is
    then false, since a log axis would lose it), why, and the ranges of both kinds."""
    return {
        "kind": kind if positive else "linear",
        "reason": reason,
        "switch": positive,
        "ranges": {k: [float(f"{x:.6g}") for x in v] for k, v in ranges.items()},
    }


def _scale(curves: Sequence[Any], log: bool | None = None) -> dict[str, Any]:
    """The y-axis the figure would choose (:func:`~gdlab.report.figures.choose_scale`),
    with the ranges of both kinds for the page's switch."""
    chosen = choose_scale(curves, log=log)
    linear = choose_scale(curves, log=False)
    values = _finite(curves)
    positive = bool(values.size and values.min() > 0)
    ranges = {"linear": [linear.low, linear.high]}
    if positive:
        logged = choose_scale(curves, log=True)
        ranges["log"] = [logged.low, logged.high]
    return _scale_block(chosen.kind, chosen.reason, positive, ranges)


#: The chart's note when the figure cuts a band over seeds at its axis's edges.
BANDS_CUT = "The seeds' bands run past the axis: cut at its edges"


def _loss_figure_scale(curves: Sequence[Any]) -> tuple[dict[str, Any], bool]:
    """The loss figure's y-axis (:func:`~gdlab.report.figures._loss_scale`: chosen over
    the means, widened to hold the bands over seeds where that costs little), with the
    ranges of both kinds for the page's switch; and whether a band leaves it."""
    chosen, cut = _loss_scale(curves)
    ranges = {"linear": _limits(_loss_scale(curves, log=False)[0])}
    values = _finite([c.mean for c in curves])
    positive = bool(values.size and values.min() > 0)
    if positive:
        ranges["log"] = _limits(_loss_scale(curves, log=True)[0])
    return _scale_block(chosen.kind, chosen.reason, positive, ranges), cut


#: The loss figure of a 2-D function autoscales its axis: a margin of a twentieth of the
#: span either side (matplotlib's default; in decades on its log axis).
FUNCTION_MARGIN = 0.05


def _function_scale(curves: Sequence[Any]) -> dict[str, Any]:
    """f's y-axis, as the loss figure's (:func:`~gdlab.report.figures.loss_figure`), holding
    every value (a margin of a twentieth either side, in its units), with a switch to a
    linear axis that holds them all too: a log axis where f stays above 0 (not
    :func:`_scale`'s 1st to 99th percentiles: a path's f that dips for a few steps, to its
    best, would run off the bottom), else a symmetric log axis
    (:func:`~gdlab.report.figures.function_symlog`: a saddle's f runs off to −∞), with its
    ``linthresh``."""
    values = _finite(curves)
    linthresh = function_symlog([np.asarray(c, dtype=np.float64) for c in curves if len(c)])
    if values.size and values.min() > 0:
        return _whole_scale(values, True, margin=FUNCTION_MARGIN)
    if linthresh is None or not values.size:
        return _scale(curves)

    def units(v: float) -> float:
        return (
            v / linthresh
            if abs(v) <= linthresh
            else math.copysign(1 + math.log10(abs(v) / linthresh), v)
        )

    def back(u: float) -> float:
        size = linthresh * 10.0 ** min(abs(u) - 1, 308.0) if abs(u) > 1 else abs(u) * linthresh
        return math.copysign(size, u)

    low, high = units(float(values.min())), units(float(values.max()))
    margin = FUNCTION_MARGIN * ((high - low) or 1.0)
    ranges = {
        "linear": _whole_range(values, False, FUNCTION_MARGIN),
        "symlog": [back(low - margin), back(high + margin)],
    }
    if not np.isfinite(list(ranges.values())).all():  # f near the float range's end
        return _scale(curves)
    block = _scale_block("linear", "symmetric log axis", False, ranges)
    return block | {"kind": "symlog", "switch": True, "linthresh": float(f"{linthresh:.6g}")}


def _limits(scale: Any) -> list[float]:
    return [scale.low, scale.high]


def _whole_range(values: np.ndarray, log: bool, margin: float = 0.1) -> list[float]:
    """``values``'s span with a ``margin`` share of it either side (a tenth: as the
    figure's ``margins(y=0.1)``; on a log axis that share of the span in decades)."""
    lo, hi = float(values.min()), float(values.max())
    if log:
        factor = (hi / lo) ** margin if hi > lo else 2.0
        return [lo / factor, hi * factor]
    span = (hi - lo) or (abs(lo) or 1.0)
    return [lo - margin * span, hi + margin * span]


def _whole_scale(
    values: np.ndarray, log: bool, band: np.ndarray | None = None, margin: float = 0.1
) -> dict[str, Any]:
    """A y-axis holding every one of ``values`` (finite) and of ``band`` (finite: a
    shaded band's edges, which a log axis holds where they are positive, as matplotlib
    autoscales a log axis), log if ``log`` (and every value positive), with a ``margin``
    share of the span either side (:func:`_whole_range`); for a few points, where
    :func:`_scale`'s percentiles would cut the extremes off."""
    if not values.size:
        return _scale([])
    band = np.empty(0) if band is None else band
    positive = bool(values.min() > 0)
    ranges = {"linear": _whole_range(np.concatenate([values, band]), False, margin)}
    if positive:
        ranges["log"] = _whole_range(np.concatenate([values, band[band > 0]]), True, margin)
    kind = "log" if log else "linear"
    return _scale_block(kind, "log axis" if log and positive else "linear axis", positive, ranges)


def _axes(x_title: str, y_title: str, *, x_type: str = "linear", y_format: str = "g") -> dict:
    return {
        "xaxis": {"title": x_title, "type": x_type},
        "yaxis": {"title": y_title, "format": y_format},
    }


def _hover(x: str | None, y: str | None, *, fmt: str = "g", extra: str | None = None) -> dict:
    return {"x": x, "y": y, "format": fmt, "extra": extra}


def _line(style: palette.Style, width: float = 1.8, dash: str | None = None) -> dict[str, Any]:
    return {"color": style.color, "dash": dash or style.dash, "width": width}


def _chart(
    name: str,
    title: str,
    traces: list[dict[str, Any]],
    axes: dict[str, Any],
    scale: dict[str, Any] | None,
    **extra: Any,
) -> dict[str, Any]:
    chart = {
        "id": f"chart-{name}",
        "figure": name,
        "title": title,
        "traces": traces,
        **axes,
        "scale": scale,
        "smooth": None,
        "views": [],
    }
    chart.update(extra)
    return chart


# --- reading the document -----------------------------------------------------------------


def _runs(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in results.get("runs") or [] if isinstance(r, Mapping)]


def _label(run: Mapping[str, Any], seed: bool = False) -> str:
    """The run's label and its divergence words; with ``seed``, its seed too
    (``"SGD, seed 2 (diverged at step 12)"``), for one of a group's seeds."""
    label = str(run.get("label") or _group_name(run))
    if seed and run.get("seed") is not None:
        label += f", seed {run['seed']}"
    words = stops.divergence_words(run)
    return f"{label} ({words})" if words else label


# --- run charts --------------------------------------------------------------------------


def _roughness(values: np.ndarray) -> float:
    """The median jump between steps relative to the curve's spread (0 for a smooth curve)."""
    finite = values[np.isfinite(values)]
    if finite.size < 3:
        return 0.0
    spread = float(np.quantile(finite, 0.99) - np.quantile(finite, 0.01)) or 1.0
    return float(np.median(np.abs(np.diff(finite)))) / spread


@dataclasses.dataclass
class _LossTraces:
    """The loss chart's traces as they are made, with what each needs: its raw loss and
    the figure's β (``raw``, ``start``: a noisy loss, which the page smooths), the seeds
    the page averages (``seeds``), and per group the curves' last value and roughness
    (the drawing order) and the curves (the axis)."""

    traces: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    raw: dict[int, list[float | None]] = dataclasses.field(default_factory=dict)
    start: dict[int, float] = dataclasses.field(default_factory=dict)
    seeds: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    curves: list[np.ndarray] = dataclasses.field(default_factory=list)
    finals: dict[str, float] = dataclasses.field(default_factory=dict)
    rough: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, name: str, loss: np.ndarray, curve: np.ndarray) -> None:
        """Count a curve of ``name``'s group (``loss`` raw, ``curve`` as drawn)."""
        self.curves.append(curve)
        self.finals[name] = max(self.finals.get(name, -math.inf), float(curve[-1]))
        self.rough[name] = max(self.rough.get(name, 0.0), _roughness(loss))

    def noisy(
        self,
        trace: dict[str, Any],
        loss: np.ndarray,
        beta: float,
        seeds: dict[str, Any] | None = None,
    ) -> None:
        """A trace the page smooths from ``loss`` (or averages from ``seeds``, its
        :func:`_seed_traces` block, whose raw mean the page takes from them: ``None``
        here, so that the page does not carry it twice), starting at ``beta``."""
        self.raw[len(self.traces)] = None if seeds else _rounded(loss)
        self.start[len(self.traces)] = beta
        if seeds:
            self.seeds[len(self.traces)] = seeds
        self.traces.append(trace)

    def order(self) -> list[int]:
        """The traces' drawing order: the roughest curves at the bottom (half-decade
        buckets), then the slowest on top."""

        def key(i: int) -> tuple[int, float]:
            group = self.traces[i]["legendgroup"]
            bucket = math.floor(2 * math.log10(max(self.rough.get(group, 0.0), 1e-9)))
            return (-bucket, self.finals.get(group, 0.0))

        return sorted(range(len(self.traces)), key=key)


def _loss_chart(results: Mapping[str, Any], function2d: bool) -> dict[str, Any] | None:
    runs = _runs(results)
    styles = group_styles(runs)
    noisy = not function2d  # batch losses jitter; f along a path does not
    # the figure's curves: each group's smoothing and legend words, and the scale
    figure = {c.name: c for c in _loss_curves(results) if c.mean.size} if noisy else {}
    made = _LossTraces()
    for name, members in _groups(runs).items():
        _group_loss_traces(made, name, members, styles[name], figure.get(name), _band(results),
                           function2d)  # fmt: skip
    if not made.traces:
        return None
    order = made.order()
    # the figure's axis, from its curves: the same reason (``4× farther apart``), and
    # widened as the figure's to hold the bands over seeds
    scale, cut = _loss_figure_scale(list(figure.values())) if figure else (None, False)
    chart = _chart(
        "loss",
        "f(x, y) per step" if function2d else "Training loss",
        [made.traces[i] for i in order],
        _axes("step", "f(x, y)" if function2d else "training loss"),
        scale if scale is not None else _function_scale(made.curves),
        legend=list(_groups(runs)),
    )
    if cut:
        chart["note"] = BANDS_CUT
    if noisy:
        chart["smooth"] = _smoothing(results, list(figure.values()), order, made)
    return chart


def _group_loss_traces(
    made: _LossTraces,
    name: str,
    members: Sequence[Mapping[str, Any]],
    style: palette.Style,
    curve: Any,
    band: str,
    function2d: bool,
) -> None:
    """A group's traces on the loss chart, into ``made``, as the figure draws the group
    (``curve``: its :func:`~gdlab.report.figures._loss_curves` curve, a noisy loss's)."""
    beta = curve.beta if curve is not None else SMOOTH_BETA
    legend = curve.label if curve is not None else name
    if not function2d and len(members) > 1:  # the figure's mean and band, diverged seeds apart
        for trace, loss, block in _seed_traces(name, members, legend, style, band):
            made.add(name, loss, curve.mean if block else smooth(loss, beta))
            made.noisy(trace, loss, beta, block)
    elif function2d and len(_distinct(members)) > 1:  # the figure's mean, band, lone runs
        _function_group_traces(made, name, _distinct(members), style, band)
    else:
        _run_traces(made, name, members, legend, style, None if function2d else beta)


def _run_traces(
    made: _LossTraces,
    name: str,
    members: Sequence[Mapping[str, Any]],
    legend: str,
    style: palette.Style,
    beta: float | None,
) -> None:
    """Each run's loss in ``name``'s group, into ``made``: smoothed by the page from ``beta``
    (a noisy loss), or, ``beta`` ``None``, f along a 2-D run's path as the figure draws it."""
    shown = False
    for run in members:
        loss = _floats(run.get("loss"))
        if not loss.size:
            continue
        steps = np.empty(0)
        if beta is None:  # f from the start (step 0) to after the last update, as the figure
            steps, loss = function_curve(run)
        made.add(name, loss, loss if beta is None else smooth(loss, beta))
        what = "f" if beta is None else "loss"
        trace = _loss_trace(run, name, legend, style, len(members) > 1, what)
        trace["showlegend"], shown = not shown, True
        if beta is None:
            made.traces += _function_traces(trace, run, steps, loss, style)
        else:
            made.noisy(_ended(trace, run), loss, beta)


def _seed_traces(
    name: str,
    members: Sequence[Mapping[str, Any]],
    legend: str,
    style: palette.Style,
    band: str,
) -> list[tuple[dict[str, Any], np.ndarray, dict[str, Any] | None]]:
    """A group of several seeds' loss traces, as :func:`~gdlab.report.figures._loss_curves`
    draws them: each diverged seed alone, thin, under the mean (its seed in its label); then
    the mean over the seeds kept (each step over those that reach it), its legend entry
    and shaded band. Each comes as ``(trace, raw loss, seeds)``: for the mean, its raw loss
    is the mean of theirs (drawn faint) and ``seeds`` holds each kept seed's raw loss and
    stride and the band's kind (``"std"`` or ``"minmax"``), from which the page smooths
    them with the slider's β and averages them as the figure does; ``None`` otherwise."""
    raws = [_floats(run.get("loss")) for run in members]
    kept, alone = _split_diverged(members, [raw.size > 0 for raw in raws])
    made: list[tuple[dict[str, Any], np.ndarray, dict[str, Any] | None]] = []
    for i in alone:
        trace = _loss_trace(members[i], name, legend, style, True, "loss")
        trace.update(showlegend=False, meta=_label(members[i], seed=True), alone=True)
        trace["line"].update(width=0.9, opacity=0.8)
        made.append((_ended(trace, members[i]), raws[i], None))
    if len(kept) == 1:
        trace = _loss_trace(members[kept[0]], name, legend, style, False, "loss")
        trace["meta"] = _label(members[kept[0]], seed=True)
        made.append((_ended(trace, members[kept[0]]), raws[kept[0]], None))
    elif kept:
        runs = [members[i] for i in kept]
        stride, on_grid = _on_grid(runs, [raws[i] for i in kept])
        trace = _loss_trace(runs[0], name, legend, style, False, "loss")
        trace.update(dx=stride, meta=f"{name}: mean of {len(kept)} seeds")
        trace["band"] = {"kind": band, "seeds": len(kept)}
        block = {
            "raw": [_rounded(raws[i]) for i in kept],
            "strides": [series_stride(run) for run in runs],
            "band": band,
        }
        ends = [stops.stop_step(run) for run in runs]
        if any(end is not None for end in ends):  # every seed diverged: an × on each
            block["ends"] = ends
        made.append((trace, _stack(on_grid)[0], block))
    for trace, _, _ in made:
        trace["showlegend"] = trace is made[-1][0]
    return made


def _ended(trace: dict[str, Any], run: Mapping[str, Any]) -> dict[str, Any]:
    """``trace`` with ``end``, the step where ``run`` diverged, when it did: the page
    puts an × there, at the end of the curve as the slider smooths it, as the figure's
    (:func:`~gdlab.report.figures._loss_curves`' ``ends``)."""
    stop = stops.stop_step(run)
    if stop is not None:
        trace["end"] = stop
    return trace


def _loss_trace(
    run: Mapping[str, Any], name: str, legend: str, style: palette.Style, several: bool, what: str
) -> dict[str, Any]:
    """A run's loss line (its values filled in by the page or the caller), named
    ``legend`` in the legend."""
    return {
        "mode": "lines",
        "name": legend,
        "legendgroup": name,
        "showlegend": True,
        "x0": 1,  # loss[i] is step i + 1's batch loss (docs/results.md)
        "dx": series_stride(run),
        "meta": _label(run) if several or run.get("status") == "diverged" else name,
        "line": _line(style, 1.2 if several else 1.8),
        "hover": _hover("step", what),
    }


def _smoothing(
    results: Mapping[str, Any],
    shown: Sequence[Any],
    order: Sequence[int],
    made: _LossTraces,
) -> dict[str, Any]:
    """The loss chart's ``smooth``: the slider's stops and start, each trace's raw loss
    and the figure's smoothing of it (``start``; ``shown``, the figure's curves), the
    seeds a mean averages (``seeds``: their raw losses, strides and band), the legend's
    words once one β smooths them all (``names``), and the groups whose raw loss the
    figure draws as dots (``dots``), all by the traces' ``order``."""
    return {
        "beta": SMOOTH_BETA,
        "betas": list(SMOOTH_BETAS),
        "raw": {str(k): made.raw[i] for k, i in enumerate(order) if i in made.raw},
        "start": {str(k): made.start[i] for k, i in enumerate(order) if i in made.start},
        "seeds": {str(k): made.seeds[i] for k, i in enumerate(order) if i in made.seeds},
        "names": {
            name: _curve_label(name, group, SMOOTH_BETA)
            for name, group in _groups(_runs(results)).items()
        },
        "dots": sorted(_noisy(shown)),
    }


def _function_group_traces(
    made: _LossTraces,
    name: str,
    runs: Sequence[Mapping[str, Any]],
    style: palette.Style,
    band: str,
) -> None:
    """A 2-D group of several runs' curve of f, as the figure's
    (:func:`~gdlab.report.figures._function_group`): each diverged run alone, thin, with
    its ×; then the mean of the others (all, when every run diverged), with its band."""
    curves = [function_curve(run) for run in runs]
    kept, alone = _split_diverged(runs, [len(loss) > 0 for _, loss in curves])
    traces: list[dict[str, Any]] = []
    for i in alone:
        trace = _loss_trace(runs[i], name, name, style, True, "f")
        trace.update(meta=_label(runs[i]))
        trace["line"].update(width=0.9, opacity=0.8)
        made.add(name, curves[i][1], curves[i][1])
        traces += _function_traces(trace, runs[i], *curves[i], style)
    if kept:
        steps, mean, low, high = _function_mean([curves[i] for i in kept], band)
        trace = _loss_trace(runs[kept[0]], name, name, style, False, "f")
        trace["meta"] = f"{name}: mean of {len(kept)} runs"
        trace["band"] = {"kind": band, "low": _rounded(low), "high": _rounded(high)}
        made.add(name, mean, mean)
        traces += _function_traces(trace, {}, steps, mean, style)
        for i in kept:  # every run diverged (they are the mean): an × where each stopped
            traces += _stop_cross(name, runs[i], *curves[i], style)
    for trace in traces:
        trace["showlegend"] = trace is traces[-1]
    made.traces += traces


def _function_traces(
    trace: dict[str, Any],
    run: Mapping[str, Any],
    steps: np.ndarray,
    values: np.ndarray,
    style: palette.Style,
) -> list[dict[str, Any]]:
    """A 2-D run's curve of f (``trace`` with its points: ``steps`` and ``values`` from
    :func:`~gdlab.report.figures.function_curve`), and, if it diverged, its × where it
    stopped: at f there, or, where f there was not finite (the figure holds it on its
    top edge), at the highest f the run reached."""
    del trace["x0"], trace["dx"]
    trace["x"], trace["y"] = _rounded(steps), _rounded(values)
    return [trace, *_stop_cross(trace["legendgroup"], run, steps, values, style)]


def _stop_cross(
    group: str, run: Mapping[str, Any], steps: np.ndarray, values: np.ndarray, style: palette.Style
) -> list[dict[str, Any]]:
    """The × where a diverged 2-D run stopped (none for a run that did not)."""
    stop = stops.stop_step(run, after_updates=True)
    if stop is None:
        return []
    there = values[steps == stop]  # f where it stopped; none there: the highest it reached
    finite = values[np.isfinite(values)]
    end = float(there[-1]) if there.size else float(finite.max() if finite.size else 0.0)
    return [_end_cross(group, style, stop, end)]


def _end_cross(group: str, style: palette.Style, x: float, y: float) -> dict[str, Any]:
    """An ``x`` where a diverged run stops (hidden with its run from the legend)."""
    return {
        "mode": "markers",
        "name": group,
        "legendgroup": group,
        "showlegend": False,
        "x": [x],
        "y": _rounded([y]),
        "meta": f"{group}: diverged here",
        "marker": {"symbol": "x-thin", "size": 11, "color": style.color, "edge": "#000000"},
        "hover": _hover("step", "value"),
    }


def _accuracy_chart(results: Mapping[str, Any]) -> dict[str, Any] | None:
    runs = _runs(results)
    styles = group_styles(runs)
    keys = [
        k
        for k in ACCURACY_NAMES
        if any(k in e for run in runs for e in run.get("epochs") or [] if isinstance(e, Mapping))
    ]
    band = _band(results)
    traces = []
    for name, members in _groups(runs).items():
        traces += (  # several seeds: the figure's mean per evaluation, diverged seeds apart
            _accuracy_means(name, members, keys, styles[name], band)
            if len(members) > 1
            else _run_accuracy(name, members[0], keys, styles[name])
        )
    if not traces:
        return None
    # the figure's axis: every curve and band over seeds held whole
    limits = _accuracy_limits(runs, keys, "step", band)
    scale = _scale_block("linear", "linear axis", False, {"linear": _limits(limits)})
    return _chart(
        "accuracy", "Accuracy", traces, _axes("step", "accuracy", y_format="%"), scale,
        legend=list(_groups(runs)),
    )  # fmt: skip


def _run_accuracy(
    name: str, run: Mapping[str, Any], keys: Sequence[str], style: palette.Style
) -> list[dict[str, Any]]:
    """A run's accuracy per split, at each evaluation (the first in the legend)."""
    epochs = [e for e in run.get("epochs") or [] if isinstance(e, Mapping)]
    traces = []
    for key in keys:
        points = [(e.get("step"), e.get(key)) for e in epochs if e.get(key) is not None]
        if points:
            trace = _accuracy_trace(
                name, key, style, [p[0] for p in points], [p[1] for p in points]
            )
            trace.update(showlegend=True, meta=f"{_label(run)} · {ACCURACY_NAMES[key]}")
            traces.append(trace)
    return traces


def _accuracy_trace(
    name: str, key: str, style: palette.Style, x: Sequence[Any], y: Any, width: float = 1.6
) -> dict[str, Any]:
    """One accuracy curve of ``name``'s group, in its colour and the split's dash."""
    return {
        "mode": "lines+markers" if len(x) <= 40 else "lines",
        "name": name,  # one legend entry per group; the dash tells the split
        "legendgroup": name,
        "showlegend": False,
        "x": list(x),
        "y": _rounded(y),
        "meta": name,
        "line": _line(style, width, ACCURACY_DASHES[key]),
        "marker": {"symbol": style.symbol, "size": 5, "color": style.color},
        "hover": _hover("step", "accuracy", fmt="%"),
    }


def _accuracy_spread(
    runs: Sequence[Mapping[str, Any]], key: str, band: str
) -> tuple[list[float], list[float]]:
    """The band of ``runs``' ``key`` at each step where any evaluated it: the figure's
    (:func:`~gdlab.report.figures._accuracy_band`), as lists."""
    _, low, high = _accuracy_band(runs, key, "step", band)
    return [float(v) for v in low], [float(v) for v in high]


def _accuracy_means(
    name: str,
    group: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    style: palette.Style,
    band: str,
) -> list[dict[str, Any]]:
    """A group of several seeds' accuracy traces, as the figure draws them
    (:func:`~gdlab.report.figures._accuracy_members`): each diverged seed alone, thin
    (its seed in its label), then per split the mean over the seeds kept at each
    evaluation, with a shaded band (``band``: ``"std"`` or ``"minmax"``)."""
    traces: list[dict[str, Any]] = []
    sets = _accuracy_members(group, keys)
    first = 0  # the legend's entry: the mean's first split
    for runs, _, alpha in sets[1:] + sets[:1]:  # the mean on top
        several, first = len(runs) > 1, len(traces)
        for key in keys:
            steps, values = _mean_by_step(runs, key, "step")
            if not steps:
                continue
            trace = _accuracy_trace(name, key, style, steps, values, 1.6 if alpha == 1 else 0.9)
            split = ACCURACY_NAMES[key]
            if several:
                low, high = _accuracy_spread(runs, key, band)
                trace["meta"] = f"{name} · {split}: mean of {len(runs)} seeds"
                trace["band"] = {"kind": band, "seeds": len(runs),
                                 "low": _rounded(low), "high": _rounded(high)}  # fmt: skip
            else:
                trace["meta"] = f"{_label(runs[0], seed=True)} · {split}"
            if alpha < 1:
                trace["line"]["opacity"] = alpha
            traces.append(trace)
    for index, trace in enumerate(traces):
        trace["showlegend"] = index == first
    return traces


def _lr_log(rates: Sequence[np.ndarray]) -> bool:
    """Whether the learning-rate figure draws ``rates`` on a log axis
    (:func:`~gdlab.report.figures.lr_scale`: when every rate is positive), so the chart
    starts on it too; where some rates are 0 the figure's symmetric log axis (0 at its
    bottom) has no twin here: the chart starts linear, where a 0 shows too."""
    return lr_scale(rates)[0] == "log"


def _lr_chart(results: Mapping[str, Any]) -> dict[str, Any] | None:
    runs = _runs(results)
    styles = group_styles(runs)
    merged: dict[tuple, dict[str, Any]] = {}
    for name, members in _groups(runs).items():
        run = members[0]
        lr = _floats(run.get("lr"))
        if not lr.size:
            continue
        stride = series_stride(run)
        key = (stride, tuple(_rounded(lr)))
        if key in merged:  # the same rates: one line, named for every group that used them
            merged[key]["name"] += f", {name}"
            merged[key]["meta"] += f", {name}"
            continue
        merged[key] = {
            "mode": "lines",
            "name": name,
            "legendgroup": name,
            "showlegend": True,
            "x0": 0,
            "dx": stride,
            "y": list(key[1]),
            "meta": name,
            "line": _line(styles[name], 1.8),
            "hover": _hover("step", "lr"),
        }
    if not merged:
        return None
    traces = list(merged.values())
    rates = [_floats_or_nan(t["y"]) for t in traces]
    scale = _scale(rates, log=_lr_log(rates))
    return _chart(
        "lr", "Learning rate per step", traces, _axes("step", "learning rate"), scale,
        legend=[t["legendgroup"] for t in traces],
    )  # fmt: skip


# --- paths on a surface ------------------------------------------------------------------


def _function_of(
    results: Mapping[str, Any], function: functions2d.Function2D | None
) -> functions2d.Function2D | None:
    """The 2-D function to draw contours of (the figures', from the problem's registered
    kind: :func:`gdlab.report.figures._function_of`), or ``None`` if it cannot be had."""
    from gdlab.report.figures import _function_of as function_of

    problem = results.get("problem") or {}
    block = problem.get("function")
    if function is None and not isinstance(block, Mapping | functions2d.Function2D):
        return None
    try:
        return function_of(problem, function, results=results)
    except (KeyError, ValueError, TypeError):
        return None


def _contour(x: np.ndarray, y: np.ndarray, z: np.ndarray, levels: np.ndarray | None) -> dict:
    """Contour lines of ``z`` (rows along ``y``) at ``levels``, computed here with contourpy
    (matplotlib's own), darker toward the lowest level."""
    import contourpy

    paths, shades = [], []
    if levels is not None and len(levels):
        generator = contourpy.contour_generator(x, y, np.ma.masked_invalid(z))
        greys = np.linspace(0.25, 0.78, len(levels))
        for level, grey in zip(levels, greys, strict=True):
            for line in generator.lines(float(level)):
                line = np.asarray(line, dtype=np.float64)
                if len(line) < 2:
                    continue
                paths.append([_rounded(line[:, 0], 5), _rounded(line[:, 1], 5)])
                value = round(255 * float(grey))
                shades.append(f"#{value:02x}{value:02x}{value:02x}")
    return {
        "mode": "contour",
        "name": "contours",
        "showlegend": False,
        "paths": paths,
        "shades": shades,
        "hover": None,
    }


def _quantile_levels(z: np.ndarray, count: int = CONTOUR_LEVELS) -> np.ndarray | None:
    """Levels at quantiles of ``z``, denser near the minimum (as the figures draw them)."""
    finite = z[np.isfinite(z)]
    if finite.size == 0 or finite.min() == finite.max():
        return None
    p = (np.arange(1, count + 1) / (count + 1)) ** 2
    levels = np.unique(np.quantile(finite, p))
    return levels if levels.size >= 2 else None


def _path_traces(
    paths: Mapping[str, np.ndarray],
    values: Mapping[str, np.ndarray | None],
    strides: Mapping[str, int],
    styles: Mapping[str, palette.Style],
    labels: Mapping[str, str],
    axes: tuple[str, str],
    value_name: str,
    box: tuple[Sequence[float], Sequence[float]],
    diverged: Mapping[str, str],
    groups: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Each path (the roughest at the bottom) and its end: a large marker, or, for a run
    in ``diverged`` (its words, ``"diverged by step 2"``, in its legend entry, as the
    figure's), an × where its line last leaves ``box`` (``(xlim, ylim)``, the chart's
    range; at its last point when that is inside), as the figure marks it. A path whose
    name ``groups`` maps to its group (a run of a group of several) is drawn in the
    group's style, under the group's one legend entry (``plain (2 runs)``); its hover
    names the run (``labels``)."""
    traces = []
    wiggles = {name: _wiggle(path) for name, path in paths.items()}
    group = dict(groups or {})  # a run of a group of several: the group's legend entry
    counts = collections.Counter(group.get(n, n) for n in paths)
    entered: set[str] = set()
    for name in sorted(paths, key=lambda n: -wiggles[n]):  # the roughest at the bottom
        legend = group.get(name, name)
        path, style = paths[name], styles[legend]
        many = len(path) > PATH_MARKERS
        trace = {
            "mode": "lines" if many else "lines+markers",
            "name": legend if counts[legend] == 1 else f"{legend} ({counts[legend]} runs)",
            "legendgroup": legend,
            "showlegend": legend not in entered,
            "x": _rounded(path[:, 0]),
            "y": _rounded(path[:, 1]),
            "stride": strides[name],
            "meta": labels[name],
            "line": _line(style, 1.0 if many and wiggles[name] > 1.5 else 1.8),
            "marker": {"symbol": style.symbol, "size": 5, "color": style.color},
            "hover": _hover(axes[0], axes[1], extra=value_name) | {"point": "step", "pair": True},
        }
        value = values.get(name)
        if value is not None and len(value) == len(path):
            trace["customdata"] = _rounded(value, 5)
        else:
            trace["hover"]["extra"] = None
        entered.add(legend)
        traces.append(trace)
        if name in diverged:
            if counts[legend] == 1:
                trace["name"] = f"{legend} ({diverged[name]})"
            traces += _exit_cross(legend, path, style, box, axes)
            continue
        traces.append(
            {
                "mode": "markers",
                "name": legend,
                "legendgroup": legend,
                "showlegend": False,
                "x": _rounded(path[-1:, 0]),
                "y": _rounded(path[-1:, 1]),
                "meta": f"{labels[name]}: the end",
                "marker": {
                    "symbol": style.symbol,
                    "size": 13,
                    "color": style.color,
                    "edge": "#000000",
                },
                "hover": _hover(axes[0], axes[1]) | {"pair": True},
            }
        )
    return traces


def _exit_cross(
    name: str,
    path: np.ndarray,
    style: palette.Style,
    box: tuple[Sequence[float], Sequence[float]],
    axes: tuple[str, str],
) -> list[dict[str, Any]]:
    """The × of a diverged path: where its line last crosses the edge of ``box`` on its
    way out (:func:`gdlab.report.figures._exit`, the figure's), else at its last finite
    point; none for a path with no finite point."""
    (x, y), left = _exit(path, tuple(box[0]), tuple(box[1]))
    if not (math.isfinite(x) and math.isfinite(y)):
        return []
    where = "left the plot here" if left else "diverged here"
    cross = _end_cross(name, style, x, y)
    cross.update(x=_rounded([x]), meta=f"{name}: {where}", edge=left)  # edge: not clipped
    cross["hover"] = _hover(axes[0], axes[1]) | {"pair": True}
    return [cross]


def _marks(
    points: Sequence[Sequence[float]], name: str, symbol: str, what: str, size: int = 13
) -> dict:
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return {
        "mode": "markers",
        "name": name,
        "legendgroup": name,
        "showlegend": True,
        "x": _rounded(array[:, 0]),
        "y": _rounded(array[:, 1]),
        "meta": what,
        "marker": {"symbol": symbol, "size": size, "color": "#000000"},
        "hover": _hover("x", "y") | {"pair": True},
    }


def _diverged_words(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``{group: "diverged by step 2"}`` for the runs that diverged (:mod:`stops`' words)."""
    words = {name: stops.divergence_words(run) for name, run in runs.items()}
    return {
        name: words[name] or "diverged"
        for name, run in runs.items()
        if run.get("status") == "diverged"
    }


def _first_paths(runs: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The paths drawn, each a run's (its first seed: a 2-D function's seeds follow one
    path), by name: a group of one run by the group's name, each run of a larger group by
    its label (the figures' :func:`~gdlab.report.figures._group_paths`)."""
    drawn: dict[str, Mapping[str, Any]] = {}
    for name, members in _groups(runs).items():
        distinct = _distinct([run for run in members if run.get("path")])
        if len(distinct) == 1:
            drawn[name] = distinct[0]
            continue
        for i, run in enumerate(distinct):
            label = str(run.get("label") or run.get("id") or i)
            drawn[label if label not in drawn else f"{name}: {label}"] = run
    return drawn


def _overlay_chart(
    results: Mapping[str, Any], function: functions2d.Function2D | None
) -> dict[str, Any] | None:
    problem = results.get("problem") or {}
    runs = _runs(results)
    firsts = _first_paths(runs)
    fn = _function_of(results, function)
    if not firsts or fn is None:
        return None
    groups = {name: _group_name(run) for name, run in firsts.items()}
    block = problem.get("function") if isinstance(problem.get("function"), Mapping) else {}
    xlim = [float(v) for v in (block.get("xlim") or fn.xlim)]
    ylim = [float(v) for v in (block.get("ylim") or fn.ylim)]
    xs = np.linspace(*xlim, CONTOUR_RESOLUTION)
    ys = np.linspace(*ylim, CONTOUR_RESOLUTION)
    gx, gy = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        z = np.asarray(fn.f(gx, gy), dtype=np.float64) * np.ones_like(gx)
    paths = {n: np.asarray(r["path"], dtype=np.float64).reshape(-1, 2) for n, r in firsts.items()}
    values = {}
    for name, path in paths.items():
        with np.errstate(all="ignore"):
            values[name] = np.asarray(fn.f(path[:, 0], path[:, 1]), dtype=np.float64)
            values[name] = values[name] * np.ones(len(path))
    traces = [_contour(xs, ys, z, _quantile_levels(z))]
    traces += _path_traces(
        paths,
        values,
        {n: series_stride(r) for n, r in firsts.items()},
        group_styles(runs),
        {n: _label(r) for n, r in firsts.items()},
        ("x", "y"),
        "f",
        (xlim, ylim),
        _diverged_words(firsts),
        groups,
    )
    starts = list(dict.fromkeys(tuple(p[0]) for p in paths.values() if len(p)))
    traces.append(_marks(starts, "start", "circle-open", "start"))
    minima = block.get("minima") if block.get("minima") is not None else fn.minima
    if minima:
        # a target, as the figure's: no run's marker (Nesterov's is a cross), and an end
        # marker on the minimum shows through its open middle
        traces.append(_marks(minima, "minimum", "target", "minimum", size=20))
    axes = _axes("x", "y")
    axes["xaxis"]["range"], axes["yaxis"]["range"] = xlim, ylim
    return _chart("overlay", f"Every path on {fn.description}", traces, axes, None,
                  legend=list(dict.fromkeys(groups.values())))  # fmt: skip


def _weights_chart(results: Mapping[str, Any]) -> dict[str, Any] | None:
    problem = results.get("problem") or {}
    surface = problem.get("surface")
    runs = _runs(results)
    firsts = _first_paths(runs)
    if not isinstance(surface, Mapping) or surface.get("kind") != "quadratic" or not firsts:
        return None
    groups = {name: _group_name(run) for name, run in firsts.items()}
    A = np.asarray(surface["A"], dtype=np.float64).reshape(2, 2)
    b = np.asarray(surface["b"], dtype=np.float64).reshape(2)
    c = float(surface["c"])
    paths = {n: np.asarray(r["path"], dtype=np.float64).reshape(-1, 2) for n, r in firsts.items()}
    best = np.asarray(surface.get("minimum") or np.empty(0), dtype=np.float64).reshape(-1, 2)
    points = np.vstack([*paths.values(), best])
    points = points[np.isfinite(points).all(axis=1)]
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.12 * np.maximum(hi - lo, 1e-9)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], CONTOUR_RESOLUTION)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], CONTOUR_RESOLUTION)
    gx, gy = np.meshgrid(xs, ys)

    def quadratic(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        cross = (A[0, 1] + A[1, 0]) * u * v
        return A[0, 0] * u**2 + cross + A[1, 1] * v**2 + b[0] * u + b[1] * v + c

    z = quadratic(gx, gy)
    finite = z[np.isfinite(z)]
    levels = None
    if finite.size and finite.max() > finite.min():  # even in sqrt(loss − min), as the figure
        low = float(finite.min())
        levels = low + (np.linspace(0, 1, 14)[1:] ** 2) * (float(finite.max()) - low)
    axes_names = [str(a) for a in (surface.get("axes") or ["w1", "w2"])][:2]
    short = [a.split(" ")[0] for a in axes_names] + ["y"]
    values = {n: quadratic(p[:, 0], p[:, 1]) for n, p in paths.items()}
    traces = [_contour(xs, ys, z, levels)]
    traces += _path_traces(
        paths,
        values,
        {n: series_stride(r) for n, r in firsts.items()},
        group_styles(runs),
        {n: _label(r) for n, r in firsts.items()},
        (short[0], short[1]),
        "loss, the rest at their best",
        ((float(xs[0]), float(xs[-1])), (float(ys[0]), float(ys[-1]))),
        _diverged_words(firsts),
        groups,
    )
    starts = list(dict.fromkeys(tuple(p[0]) for p in paths.values() if len(p)))
    traces.append(_marks(starts, "start", "circle-open", "start"))
    if best.size:
        traces.append(_marks(best, "minimum", "target", "least-squares minimum", size=16))
    axes = _axes(axes_names[0], axes_names[1] if len(axes_names) > 1 else "")
    return _chart("paths", "The weights' paths on the loss contour", traces, axes, None,
                  legend=list(dict.fromkeys(groups.values())), partial=True)  # fmt: skip


# --- series charts --------------------------------------------------------------------------


def _schedules_chart(series: Mapping[str, Any]) -> dict[str, Any] | None:
    curves = [c for c in series.get("curves") or [] if isinstance(c, Mapping)]
    if not curves:
        return None
    labels = [str(c.get("label") or f"schedule {i + 1}") for i, c in enumerate(curves)]
    styles = palette.assign(labels)
    traces, values = [], []
    for label, curve in zip(labels, curves, strict=True):
        lr = _floats(curve.get("lr"))
        values.append(lr)
        formula = str(curve.get("formula") or "")
        traces.append(
            {
                "mode": "lines",
                "name": f"{label}: {formula}" if formula else label,
                "legendgroup": label,
                "showlegend": True,
                "x0": 0,
                "dx": 1,
                "y": _rounded(lr),
                "meta": f"{label}: {formula}" if formula else label,
                "line": _line(styles[label], 2.0),
                "hover": _hover("step", "lr"),
            }
        )
    return _chart(
        "schedules", "Learning-rate schedules", traces, _axes("step", "learning rate"),
        _scale(values), legend=labels,
    )  # fmt: skip


def _with_unit(title: str, unit: str) -> str:
    """``title (unit)``, or ``title`` alone without a unit."""
    return f"{title} ({unit})" if unit else title


def _daily_trace(values: np.ndarray, unit: str) -> dict[str, Any]:
    """The daily values, as faint grey dots."""
    return {
        "mode": "markers",
        "name": "daily values",
        "legendgroup": "daily values",
        "showlegend": True,
        "x0": 0,
        "dx": 1,
        "y": _rounded(values),
        "meta": "daily value",
        "marker": {"symbol": "circle", "size": 3, "color": palette.NEUTRAL, "opacity": 0.55},
        "hover": _hover("day", _with_unit("value", unit)),
    }


def _average_trace(
    curve: Mapping[str, Any], y: np.ndarray, styles: Mapping[str, palette.Style], unit: str
) -> dict[str, Any]:
    """One average's line in its β's colour: solid when bias-corrected, thin dashes when not."""
    beta = float(curve.get("beta", 0.0))
    corrected = bool(curve.get("bias_correction"))
    name = f"β = {beta:g}, " + ("corrected" if corrected else "not corrected")
    return {
        "mode": "lines",
        "name": name,
        "legendgroup": name,
        "showlegend": True,
        "x0": 0,
        "dx": 1,
        "y": _rounded(y),
        "meta": f"{name} (about {1 / (1 - beta):.0f} days)" if beta < 1 else name,
        "line": {
            "color": styles[f"β = {beta:g}"].color,
            "dash": "solid" if corrected else "dash",
            "width": 1.8 if corrected else 1.4,
        },
        "hover": _hover("day", _with_unit("average", unit)),
    }


def _first_days_views(curves: Sequence[np.ndarray], days: int) -> list[dict[str, Any]]:
    """Views of the first ``days`` days (up to the figure's :data:`EWMA_FIRST_DAYS`) and of
    every day; none under 2 days."""
    first = min(EWMA_FIRST_DAYS, days)
    if first < 2:
        return []
    window = np.concatenate([v[:first] for v in curves if len(v)])
    window = window[np.isfinite(window)]
    pad = 0.05 * float(window.max() - window.min() or 1.0)
    return [
        {
            "label": f"First {first} days",
            "x": [0, first - 1],
            "y": [float(window.min() - pad), float(window.max() + pad)],
        },
        {"label": "Every day", "x": None, "y": None},
    ]


def _ewma_chart(series: Mapping[str, Any]) -> dict[str, Any] | None:
    dates = [str(d) for d in series.get("dates") or []]
    values = _floats(series.get("values"))
    curves = [c for c in series.get("curves") or [] if isinstance(c, Mapping)]
    if not len(values) and not curves:
        return None
    unit = str(series.get("unit") or "")
    traces = [_daily_trace(values, unit)]
    betas = list(dict.fromkeys(float(c.get("beta", 0.0)) for c in curves))
    styles = palette.assign([f"β = {b:g}" for b in betas])
    every = [values]
    legend = ["daily values"]
    for curve in curves:
        y = _floats(curve.get("values"))
        traces.append(_average_trace(curve, y, styles, unit))
        every.append(y)
        legend.append(traces[-1]["name"])
    axes = _axes("day", _with_unit("value", unit), x_type="date")
    return _chart(
        "ewma", "Exponentially weighted averages", traces, axes,
        _whole_scale(_finite(every), log=False),  # every day, as the PNG: no percentile cut
        views=_first_days_views(every, len(values)),
        dates=dates if len(dates) == len(values) else None, legend=legend, partial=True,
    )  # fmt: skip


def _floats_or_nan(values: Sequence[Any] | None) -> np.ndarray:
    """Floats, ``None`` as NaN."""
    return _floats([math.nan if v is None else v for v in values or []])


def _sensitivity_line(
    label: str,
    grid: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    style: palette.Style,
    metric: str,
    accuracy: Sequence[str | None] = (),
) -> dict[str, Any]:
    """A configuration's mean against the rate (``grid`` and ``mean`` of one length), ± std;
    its hover adds the validation accuracy at each point that has one (``accuracy``, words
    from :func:`_accuracy_words`)."""
    n = len(grid)
    trace = {
        "mode": "lines+markers",
        "name": label,
        "legendgroup": label,
        "showlegend": True,
        "x": _rounded(grid),
        "y": _rounded(mean),
        "meta": label,
        "line": _line(style, 1.8),
        "marker": {"symbol": style.symbol, "size": 6, "color": style.color},
        "hover": _hover("lr", metric),
    }
    if len(std) >= n and n:
        trace["error"] = _rounded(np.nan_to_num(std[:n]))
    if any(accuracy):
        trace["hover"]["extra"] = "validation accuracy"
        trace["customdata"] = list(accuracy)
    return trace


def _accuracy_text(mean: Any, std: Any) -> str | None:
    """``"91.2% ± 0.4%"`` (mean ± std over the folds), ``"91.2%"`` without a std, ``None``
    without a mean."""
    if not isinstance(mean, int | float) or not math.isfinite(mean):
        return None
    text = f"{100 * mean:.1f}%"
    if isinstance(std, int | float) and math.isfinite(std):
        text += f" ± {100 * std:.1f}%"
    return text


def _point_accuracy(c: Mapping[str, Any], lr: Any, mean: Any) -> str | None:
    """The validation accuracy of the point tried at rate ``lr`` whose mean accuracy is
    ``mean`` (tune.json's ``points`` hold its std), as :func:`_accuracy_text` words it."""
    for point in c.get("points") or []:
        if not isinstance(point, Mapping) or point.get("mean_accuracy") != mean:
            continue
        if (point.get("hyperparameters") or {}).get("lr") == lr:
            return _accuracy_text(mean, point.get("std_accuracy"))
    return _accuracy_text(mean, None)


def _accuracy_words(c: Mapping[str, Any], n: int) -> list[str | None]:
    """The validation accuracy (mean ± std over the folds) at each of a configuration's
    first ``n`` rates; ``None`` where it has none (a regression, a diverged rate)."""
    grid = list(c.get("grid") or [])
    means = list(c.get("accuracy") or [])
    return [
        _point_accuracy(c, grid[i], means[i]) if i < len(means) and i < len(grid) else None
        for i in range(n)
    ]


#: How the sensitivity chart marks a rate some folds did not score: (symbol, words).
_UNSCORED = {
    "diverged": ("x", "diverged"),
    "failed": ("square-open", "failed (raised)"),
}


def _unscored_marks(
    label: str,
    c: Mapping[str, Any],
    grid: np.ndarray,
    mean: np.ndarray,
    style: palette.Style,
    folded: bool = True,
) -> list[dict[str, Any]]:
    """Crosses (diverged) and open squares (failed) at the top of the curve, at the rates
    where some folds (``folded``; else the one hold-out or 2-D run) were not scored; as the
    figure's strip marks them."""
    finite = mean[np.isfinite(mean)]
    marks = []
    for field, (symbol, words) in _UNSCORED.items():
        counts = [int(d or 0) for d in c.get(field) or []]
        bad = [i for i, d in enumerate(counts[: len(grid)]) if d > 0]
        if not (bad and finite.size):
            continue
        where = " in some folds" if folded else ""
        trace = _group_markers(
            label, grid[bad], [float(finite.max())] * len(bad),
            f"{label}: {words}{where} at this rate",
            {"symbol": symbol, "size": 10, "color": style.color},
            {"x": "lr", "y": None, "format": "g", "extra": f"folds {field}" if folded else field},
        )  # fmt: skip
        trace["customdata"] = [counts[i] for i in bad]
        marks.append(trace)
    return marks


def _best_mark(
    label: str, c: Mapping[str, Any], style: palette.Style, metric: str, chosen: str
) -> dict[str, Any] | None:
    """A star at the rate chosen (``chosen``: what chose it, ``"by mean validation
    accuracy"``), its validation accuracy on hover where it has one; ``None`` without one."""
    best = c.get("best") or {}
    if best.get("lr") is None or best.get("mean") is None:
        return None
    marker = {"symbol": "star", "size": 15, "color": style.color, "edge": "#000000"}
    star = _group_markers(
        label, [best["lr"]], [best["mean"]], f"{label}: the rate chosen{chosen}", marker,
        _hover("lr", metric),
    )  # fmt: skip
    accuracy = _point_accuracy(c, best["lr"], best.get("accuracy"))
    if accuracy is not None:
        star["hover"]["extra"] = "validation accuracy"
        star["customdata"] = [accuracy]
    return star


def _chosen_by(series: Mapping[str, Any]) -> str:
    """What chose each configuration's rate, in words: `` by mean validation accuracy
    (loss breaks ties)`` (tune.json's ``selected_by``), or nothing where the results do
    not record it (an older tune.json)."""
    chosen = selected_by(series)
    return f" by {chosen}" if chosen else ""


def _group_markers(
    label: str, x: Any, y: Any, meta: str, marker: dict, hover: dict
) -> dict[str, Any]:
    """Markers of ``label``'s group, outside the legend (``x``, ``y`` rounded)."""
    return {
        "mode": "markers",
        "name": label,
        "legendgroup": label,
        "showlegend": False,
        "x": _rounded(x),
        "y": _rounded(y),
        "meta": meta,
        "marker": marker,
        "hover": hover,
    }


def _sensitivity_chart(
    series: Mapping[str, Any], runs: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any] | None:
    """The tuned rates' curves, each configuration in its raced run's style (the
    figures' :func:`~gdlab.report.figures.label_styles`)."""
    configurations = series.get("configurations") or {}
    if not isinstance(configurations, Mapping) or not has_sensitivity(series):
        return None  # no configuration tuned the rate (figures.has_sensitivity)
    metric = str(series.get("metric") or "validation loss")
    labels = [str(k) for k in configurations]
    styles = label_styles(runs, labels)
    folded = series.get("folds") != 1  # one hold-out, or a 2-D function's one run
    chosen = _chosen_by(series)
    traces, values, band = [], [], []
    for label, c in zip(labels, configurations.values(), strict=True):
        grid = _floats(c.get("grid"))
        mean = _floats_or_nan(c.get("mean"))
        std = _floats_or_nan(c.get("std"))
        n = min(len(grid), len(mean))
        values.append(mean[:n])
        if len(std) >= n:  # the figure's fill_between(mean ± std)
            band += [mean[:n] - std[:n], mean[:n] + std[:n]]
        style = styles[label]
        line = _sensitivity_line(label, grid[:n], mean[:n], std, style, metric,
                                 _accuracy_words(c, n))  # fmt: skip
        traces.append(line)
        traces += _unscored_marks(label, c, grid, mean, style, folded)
        best = _best_mark(label, c, style, metric, chosen)
        if best is not None:
            traces.append(best)
            values.append(_floats_or_nan(best["y"]))
    # every point, star and band in view, on the figure's scale (log when the losses span
    # more than SENSITIVITY_LOG_RATIO): a grid of a few rates has no outliers to leave out
    every = _finite(values)
    log = bool(every.size and every.min() > 0 and every.max() / every.min() > SENSITIVITY_LOG_RATIO)
    axes = _axes("learning rate", metric, x_type="log")
    note = f"★ the rate chosen{',' if chosen else ''}{chosen}"
    if any(t.get("hover", {}).get("extra") == "validation accuracy" for t in traces):
        note += "; hover a point for its validation accuracy"
    return _chart("sensitivity", "Learning-rate sensitivity", traces, axes,
                  _whole_scale(every, log, _finite(band)), legend=labels, note=note)  # fmt: skip


# --- all of them ----------------------------------------------------------------------------


def charts(
    results: Mapping[str, Any],
    *,
    names: Collection[str] | None = None,
    function: functions2d.Function2D | None = None,
) -> list[dict[str, Any]]:
    """The interactive charts of a results document, as plain data for the page.

    Args:
        results: a ``results.json`` document (``docs/results.md``).
        names: the figures drawn for it (``figures.draw``'s names): only
            their twins are made; default every chart that fits.
        function: the 2-D function of a document whose function is not
            registered (a user's own :class:`~gdlab.functions2d.Function2D`).

    Returns:
        One dict per chart, in figure order: ``id`` (``chart-<figure>``),
        ``figure`` (the figure it twins), ``title``, ``traces`` (see the
        module's docstring), ``xaxis`` and ``yaxis`` (``title``, ``type``,
        ``format``, ``range``), ``legend`` (the entries in order), ``scale``
        (``{"kind": "log" | "linear" | "symlog", "switch": bool, "ranges": {...}}``,
        a symlog's with its ``linthresh``: f of a 2-D function that reaches 0 or below), or
        ``None`` for a chart without a y-scale switch), ``smooth`` (for noisy
        losses: ``{"beta", "betas", "raw": {trace index: raw values}, "seeds":
        {trace index: {"raw": [each seed's raw values], "strides", "band"}}}``; the
        page fills those traces' ``y`` with the smoothed values, a mean's with the
        mean of its seeds' and its band), ``note`` (words under the legend), ``views``
        (preset ranges, such as the first 60 days of an EWMA), ``partial``
        (true when the figure holds more than the chart, such as a second panel:
        the page shows the image first) and, for dates along x, ``dates``.
    """
    problem = results.get("problem")
    runs = _runs(results)
    made: list[dict[str, Any] | None] = []
    if runs and isinstance(problem, Mapping):
        if is_function2d(problem):
            made += [_overlay_chart(results, function), _loss_chart(results, True)]
        else:
            made += [
                _weights_chart(results),
                _loss_chart(results, False),
                _accuracy_chart(results),
            ]
        made.append(_lr_chart(results))
    series = results.get("series")
    if isinstance(series, Mapping):
        kind = series.get("kind")
        if kind == "schedules":
            made.append(_schedules_chart(series))
        elif kind == "ewma":
            made.append(_ewma_chart(series))
        elif kind == "tuning":
            made.append(_sensitivity_chart(series, _runs(results)))
    found = [c for c in made if c is not None]
    if names is not None:
        wanted = set(names)
        found = [c for c in found if c["figure"] in wanted]
    return found
