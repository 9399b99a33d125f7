"""Round 12, figures and charts: the 2-D loss chart holds the lowest f the figure shows, the
overlay's minimum stays apart from the end markers on it, and short log axes label values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from gdlab import functions2d
from gdlab.report import figures, interactive

matplotlib = pytest.importorskip("matplotlib")


def _run(group: str, loss: list[float]) -> dict[str, Any]:
    return {
        "id": f"{group}-0", "label": group, "group": group, "optimizer": "sgd",
        "hyperparameters": {"lr": 0.1}, "seed": 0, "status": "ok", "reason": "",
        "stopped_at": None, "steps": len(loss), "loss": loss, "lr": [0.1] * len(loss),
        "epochs": [], "metrics": {"final_loss": loss[-1], "best_loss": min(loss)},
    }  # fmt: skip


def _function_results(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    fn = functions2d.get(name)
    function = {"name": name, "description": fn.description, "xlim": list(fn.xlim),
                "ylim": list(fn.ylim), "minima": [list(m) for m in fn.minima],
                "start": list(fn.start)}  # fmt: skip
    problem = {"kind": "function", "name": name, "traits": ["function2d"],
               "description": fn.description, "function": function}  # fmt: skip
    return {"problem": problem, "runs": runs}


# --- 1. the 2-D loss chart's log axis holds the lowest f, as the figure's ---------------------


def _brief_dip() -> dict[str, Any]:
    """Adam dips to 3e-27 for three steps of 2,000 (a 1st percentile leaves it out), SGD
    creeps down to 1e-11."""
    adam = [30.0, *np.geomspace(10, 1e-4, 1500), 3.28e-27, 3.28e-27, 3.28e-27, *[1e-4] * 500]
    sgd = [30.0, *np.geomspace(10, 1e-11, 2003)]
    return _function_results("rosenbrock", [_run("Adam", adam), _run("SGD", sgd)])


def test_the_2d_loss_charts_log_axis_holds_the_lowest_f_as_the_figure() -> None:
    results = _brief_dip()
    chart = next(c for c in interactive.charts(results) if c["id"] == "chart-loss")
    scale = chart["scale"]
    assert scale["kind"] == "log"
    low, high = scale["ranges"]["log"]
    assert low < 3.28e-27
    assert high > 30.0
    assert "9." not in scale["reason"]  # no decade count from percentiles that cut the dip
    fig = figures.loss_figure(results)
    shown = fig.axes[0].get_ylim()
    assert math.log10(low) == pytest.approx(math.log10(shown[0]), abs=0.05)
    assert math.log10(high) == pytest.approx(math.log10(shown[1]), abs=0.05)
    linear = scale["ranges"]["linear"]
    assert linear[0] <= 0
    assert linear[1] >= 30.0


# --- 2. the overlay's minimum: a target no run's marker looks like, named in the legend ------


def _six_paths_to_the_minimum() -> dict[str, Any]:
    """Six groups (the sixth drawn with the palette's filled plus, ``P``) whose paths end
    within 0.1 of the bowl's minimum at (0, 0)."""
    fn = functions2d.get("bowl")
    runs = []
    for k, name in enumerate(["SGD", "Momentum", "AdaGrad", "Adam", "RMSprop", "Nesterov"]):
        end = (0.02 * (k - 3), 0.01 * k) if k >= 2 else (1.0 - k, 0.5)
        path = [[-7.0, 2.0], [-3.0, 1.0], list(end)]
        run = _run(name, [float(fn.f(x, y)) for x, y in path[:-1]])
        run["path"] = path
        runs.append(run)
    return _function_results("bowl", runs)


def _marker_shape(line: Any) -> Any:
    return line._marker.get_path().transformed(line._marker.get_transform()).vertices


def test_the_overlays_minimum_is_a_target_apart_from_every_runs_marker() -> None:
    from matplotlib.markers import MarkerStyle

    results = _six_paths_to_the_minimum()
    assert figures.group_styles(results["runs"])["Nesterov"].marker == "P"
    ax = figures.overlay_figure(results).axes[0]
    ends = [line for line in ax.lines if line.get_markersize() == 9]  # the end markers
    assert len(ends) == 6
    minimum = [line for line in ax.lines if tuple(line.get_xdata()) == (0.0,)
               and line.get_markersize() > 9]  # fmt: skip
    assert len(minimum) == 1
    (mark,) = minimum
    shape = _marker_shape(mark)
    for code in (*figures.palette.MARKERS, "+", "x", "o"):
        other = MarkerStyle(code)
        vertices = other.get_path().transformed(other.get_transform()).vertices
        assert shape.shape != vertices.shape or not np.allclose(shape, vertices)
    assert mark.get_markerfacecolor() == "none"  # the end markers on it show through
    assert mark.get_zorder() > max(line.get_zorder() for line in ends)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[-1] == "minimum"


def test_the_overlay_chart_marks_the_minimum_with_a_target_no_run_has() -> None:
    results = _six_paths_to_the_minimum()
    chart = next(c for c in interactive.charts(results) if c["id"] == "chart-overlay")
    (minimum,) = [t for t in chart["traces"] if t.get("name") == "minimum"]
    symbol = minimum["marker"]["symbol"]
    assert symbol == "target"
    assert symbol not in figures.palette.SYMBOLS
    script = interactive.page_script()
    assert 'case "target"' in script  # the page draws it (a ring, open in the middle)


# --- 3. a log axis labels the values its curves sit at -----------------------------------------


def _labels(ax: Any) -> dict[float, str]:
    """The y tick labels shown within the axis's limits, by value."""
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    shown = {}
    for ticks in (ax.yaxis.get_major_ticks(), ax.yaxis.get_minor_ticks()):
        for tick in ticks:
            value, text = tick.get_loc(), tick.label1.get_text()
            if text and low <= value <= high and tick.label1.get_visible():
                shown[float(value)] = text
    return shown


def _axes() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.7, 3.6))
    FigureCanvasAgg(figure)
    return figure.subplots()


def test_a_log_axis_under_a_decade_labels_the_values_between_its_ends() -> None:
    ax = _axes()  # Boston's loss panel: every curve ends near 30.5, on 27 to 125
    figures._apply(ax, figures.Scale("log", 27.0, 125.0, "log axis"))
    shown = _labels(ax)
    assert shown.get(30.0) == "30", shown  # not only 50 and 100
    assert shown.get(100.0) == "100"
    assert all("10^" not in text and "times" not in text for text in shown.values())


def test_a_2d_log_axis_over_decades_labels_a_decade_next_to_its_start() -> None:
    ax = _axes()  # every run diverged: f from 6.45 to 6.3e9
    values = [np.array([6.45, 1.6e5, 6.27e9]), np.array([6.45, 3.9e4, 3.77e8])]
    for v in values:
        ax.plot(np.arange(v.size), v)
    figures._function_loss_scale(ax, values)
    shown = _labels(ax)
    lowest = min(shown)
    assert lowest <= 10.0, shown  # 10¹ labelled, next to the start at 6.45 (not only 10²)
    assert len(shown) >= 8  # every decade from 10¹ to 10⁹
