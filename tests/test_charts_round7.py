"""Round 7: the interactive charts agree with their figures.

Log axes labelled along their whole height, the sensitivity chart holding every
chosen rate (★), diverged paths crossed out where they leave the plot, the
learning-rate chart on the figure's scale, and the training-loss chart smoothing
each run as the figure does (its legend, its faint raw loss, its axis reason).
The browser checks draw the charts alone (``charts.js`` and the chart boxes of
:mod:`gdlab.report.html`) in Chromium.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest

from gdlab.report import figures, html, interactive

# --- documents ----------------------------------------------------------------------


def _bowl(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "problem": {
            "kind": "function",
            "name": "bowl",
            "traits": ["function2d"],
            "function": {"name": "bowl", "xlim": [-10, 10], "ylim": [-5, 5], "minima": [[0, 0]]},
        },
        "runs": runs,
    }


def _path_run(label: str, path: list[list[float]], **extra: Any) -> dict[str, Any]:
    loss = [p[0] ** 2 / 20 + p[1] ** 2 for p in path]
    return {"id": label, "label": label, "group": label, "status": "ok", "path": path,
            "loss": loss[:-1], "final_loss": loss[-1], **extra}  # fmt: skip


def _data(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"problem": {"kind": "regression", "name": "boston", "traits": []}, "runs": runs}


def _loss_run(label: str, loss: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {"id": label, "label": label, "group": label, "status": "ok",
            "loss": [float(v) for v in loss], **extra}  # fmt: skip


def _noisy_and_smooth() -> dict[str, Any]:
    """A batch-1 loss (every step's loss jumps) beside a full-batch one: as Boston's."""
    rng = np.random.default_rng(3)
    steps = np.arange(1, 2001)
    noisy = (30 + 500 * np.exp(-steps / 150)) * rng.lognormal(0, 1.0, steps.size)
    smooth = 600 * np.exp(-np.arange(1, 6) / 40)
    return _data([_loss_run("SGD (1 sample)", noisy), _loss_run("GD", smooth)])


def _chart(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in interactive.charts(doc) if c["figure"] == name)


# --- 2: the sensitivity chart holds every chosen rate ----------------------------------


def _tuning(mean_b: list[float]) -> dict[str, Any]:
    grid = [1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
    return {
        "problem": None,
        "runs": [],
        "series": {
            "kind": "tuning",
            "metric": "final loss",
            "folds": 1,
            "configurations": {
                "SGD": {"grid": grid, "mean": [50, 40, 1, 0.5, 0.1, 0.2, 0.3], "std": [0] * 7,
                        "best": {"lr": 1.0, "mean": 0.1}},
                "RMSprop": {"grid": grid, "mean": mean_b, "std": [0] * 7,
                            "best": {"lr": 10.0, "mean": mean_b[-1]}},
            },
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    "mean_b",
    [
        [50, 45, 30, 1e-5, 1e-15, 1e-30, 1.4e-47],  # the star far below the rest
        [50, 45, 30, 20, 10, 5, 1.0],  # a linear axis
        [50, 45, 30, 20, 10, 5, 900.0],  # the star above
    ],
)
def test_sensitivity_chart_holds_every_point_and_star(mean_b):
    chart = _chart(_tuning(mean_b), "sensitivity")
    scale = chart["scale"]
    low, high = scale["ranges"][scale["kind"]]
    stars = [t for t in chart["traces"] if t["marker"]["symbol"] == "star"]
    assert len(stars) == 2
    points = [y for t in chart["traces"] if t["mode"] != "markers" for y in t["y"]]
    for y in points + [s["y"][0] for s in stars]:
        assert low < y < high
    # the figure's rule: log when the losses span more than a factor of 20
    values = points + [s["y"][0] for s in stars]
    assert scale["kind"] == ("log" if max(values) / min(values) > 20 else "linear")


# --- 3: a diverged path, crossed out where it leaves the plot ----------------------------


def _diverged_bowl() -> dict[str, Any]:
    far = [[-7.0, 2.0], [-5.9, -4.0], [6.0, 300.0]]
    return _bowl([
        _path_run("Adam", [[-7.0, 2.0], [-3.0, 1.0], [0.0, 0.0]]),
        _path_run("SGD", far, status="diverged", stopped_at=2,
                  reason="diverged by step 2: loss 9e+04 is too large"),
    ])  # fmt: skip


def test_diverged_path_is_crossed_out_at_the_edge_and_says_so():
    chart = _chart(_diverged_bowl(), "overlay")
    sgd = [t for t in chart["traces"] if t.get("legendgroup") == "SGD"]
    line = next(t for t in sgd if t["showlegend"])
    assert line["name"] == "SGD (diverged by step 2)"  # the legend, as the figure's
    ends = [t for t in sgd if not t["showlegend"]]
    assert len(ends) == 1
    cross = ends[0]
    assert cross["marker"]["symbol"] == "x-thin"  # as the figure's (a run's "x" is filled)
    assert cross["edge"] is True
    # where the last segment (-5.9, -4) -> (6, 300) leaves y = 5, inside the x range
    assert cross["y"] == [5.0]
    assert cross["x"][0] == pytest.approx(-5.9 + 11.9 * 9 / 304, abs=1e-6)
    # a run that did not diverge keeps its large end marker
    adam = [t for t in chart["traces"] if t.get("legendgroup") == "Adam" and not t["showlegend"]]
    assert adam[0]["marker"]["symbol"] != "x"
    assert "edge" not in adam[0]


def test_diverged_path_inside_the_plot_is_crossed_at_its_last_point():
    doc = _diverged_bowl()
    doc["runs"][1]["path"] = [[-7.0, 2.0], [-6.0, -3.0]]
    chart = _chart(doc, "overlay")
    cross = next(
        t for t in chart["traces"] if t.get("legendgroup") == "SGD" and t["mode"] == "markers"
    )
    assert (cross["x"], cross["y"], cross["edge"]) == ([-6.0], [-3.0], False)


# --- 4: the learning-rate chart starts on the figure's scale -------------------------------


def _lr_doc(*rates: list[float]) -> dict[str, Any]:
    runs = [
        {**_loss_run(f"run {i}", np.linspace(1, 0.5, len(lr))), "lr": lr}
        for i, lr in enumerate(rates)
    ]
    return _data(runs)


@pytest.mark.parametrize(
    ("rates", "kind", "figure_kind"),
    [
        ([[0.1] * 50 + [0.05] * 50, [0.1] * 100], "log", "log"),  # choose_scale: linear
        ([[0.1, 0.01, 0.001], [0.1] * 3], "log", "log"),
        # a warm-up from 0: the figure's symmetric log has no twin; linear shows the 0 too
        ([[0.0, 0.05, 0.1, 0.1], [0.1] * 4], "linear", "symlog"),
        ([[0.0] * 4], "linear", "linear"),
    ],
)
def test_lr_chart_starts_on_the_lr_figures_scale(rates, kind, figure_kind):
    doc = _lr_doc(*rates)
    chart = _chart(doc, "lr")
    assert chart["scale"]["kind"] == kind
    assert figures.lr_figure(doc).axes[0].get_yscale() == figure_kind
    if kind == "log":
        low, high = chart["scale"]["ranges"]["log"]
        every = [v for r in rates for v in r]
        assert low < min(every)
        assert max(every) < high


# --- 5: the training-loss chart smooths as the figure does -----------------------------------


def test_loss_chart_smooths_each_run_as_the_figure_and_says_so():
    doc = _noisy_and_smooth()
    chart = _chart(doc, "loss")
    curves = {c.name: c for c in figures._loss_curves(doc)}
    assert curves["SGD (1 sample)"].beta > figures.SMOOTH_BETA  # the figure smooths it more
    start = chart["smooth"]["start"]
    names = {}
    for index, trace in enumerate(chart["traces"]):
        group = trace["legendgroup"]
        assert start[str(index)] == curves[group].beta
        names[group] = trace["name"]
        smoothed = figures.smooth(np.asarray(chart["smooth"]["raw"][str(index)]), start[str(index)])
        assert np.allclose(smoothed[-1], curves[group].mean[-1], rtol=1e-5)
    assert names == {g: c.label for g, c in curves.items()}  # "…, smoothed over ≈50 steps"
    assert "smoothed over" in names["SGD (1 sample)"]
    assert chart["smooth"]["names"]["SGD (1 sample)"] == "SGD (1 sample)"
    assert chart["smooth"]["dots"] == ["SGD (1 sample)"]


def test_loss_chart_axis_is_the_figures_with_the_same_reason():
    doc = _noisy_and_smooth()
    chart = _chart(doc, "loss")
    view = figures._loss_view([c for c in figures._loss_curves(doc) if c.mean.size], None)
    assert chart["scale"]["kind"] == view.scale.kind
    assert chart["scale"]["reason"] == view.scale.reason
    low, high = chart["scale"]["ranges"][view.scale.kind]
    assert (low, high) == pytest.approx((view.scale.low, view.scale.high), rel=1e-5)
    if view.scale.kind == "log":
        assert view.scale.reason in figures._loss_look_for(doc)


# --- in the browser ---------------------------------------------------------------------------


def _open(browser: Any, charts: list[dict[str, Any]]) -> Any:
    """A page with ``charts`` alone, drawn by ``charts.js``."""
    boxes = "\n".join(html._chart_box(c) for c in charts)
    scripts = html._chart_scripts({c["figure"]: c for c in charts})
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_content(f"<!doctype html><html><head><style>{html._CSS}</style></head><body>"
                     f"{boxes}{scripts}</body></html>")  # fmt: skip
    page.wait_for_selector("body[data-charts-ready]")
    assert json.loads(page.get_attribute("body", "data-charts-ready"))["failed"] == []
    return page


def _y_ticks(page: Any, chart_id: str) -> list[tuple[float, float]]:
    """``(value, pixel y)`` of the y-axis labels (right-aligned, left of the frame)."""
    found = page.eval_on_selector_all(
        f'[data-chart="{chart_id}"] g.ticks text[text-anchor="end"]',
        "els => els.map(e => [e.textContent, Number(e.getAttribute('y'))])",
    )
    return [(float(text), y) for text, y in found]


def _frame(page: Any, chart_id: str) -> tuple[float, float]:
    top, height = page.eval_on_selector(
        f'[data-chart="{chart_id}"] rect.frame',
        "r => [Number(r.getAttribute('y')), Number(r.getAttribute('height'))]",
    )
    return top, top + height


def _lines_chart(low: float, high: float) -> dict[str, Any]:
    """A chart of one falling curve from ``high`` to ``low``, on a log axis."""
    values = np.geomspace(high, low, 100)
    return interactive._chart(
        "lr", "Learning rate per step",
        [{"mode": "lines", "name": "a", "legendgroup": "a", "showlegend": True, "x0": 0,
          "dx": 1, "y": interactive._rounded(values), "meta": "a",
          "line": {"color": "#0072b2", "dash": "solid", "width": 1.8},
          "hover": interactive._hover("step", "lr")}],
        interactive._axes("step", "learning rate"),
        interactive._scale([values], log=True),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("low", "high"), [(9.76, 781.0), (0.0064, 0.111), (0.31, 0.9), (2e-9, 5.0)]
)
def test_log_axis_is_labelled_along_its_whole_height(browser, low, high):
    page = _open(browser, [_lines_chart(low, high)])
    try:
        ticks = _y_ticks(page, "chart-lr")
        top, bottom = _frame(page, "chart-lr")
        values = [v for v, _ in ticks]
        assert len(ticks) >= 3, values
        # never plain (linear) steps over a span of a decade or more: equal ratios apart
        places = sorted([top, bottom] + [y for _, y in ticks])
        biggest = max(b - a for a, b in itertools.pairwise(places))
        assert biggest <= 0.45 * (bottom - top), values
        for v in values:
            mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
            assert round(mantissa, 6) in {1, 2, 3, 4, 5, 6, 7, 8, 9}, values
    finally:
        page.close()


def test_page_smooths_each_run_as_the_figure_and_draws_the_raw_loss(browser):
    chart = _chart(_noisy_and_smooth(), "loss")
    page = _open(browser, [chart])
    try:
        box = page.locator('[data-chart="chart-loss"]')
        legend = box.locator("ul.legend").inner_text()
        assert "SGD (1 sample), smoothed over ≈" in legend
        said = box.locator("output.smooth-value").inner_text()
        assert "SGD (1 sample): β = 0.98" in said
        assert "as the figure" in said
        assert box.locator("path.raw").count() == 2  # the faint raw loss, under each curve
        # one β for every curve: the legend no longer says "smoothed over"
        box.locator("input.smooth").fill("5")
        box.locator("input.smooth").dispatch_event("input")
        assert "smoothed over" not in box.locator("ul.legend").inner_text()
        assert box.locator("output.smooth-value").inner_text() == "β = 0.98 (about 50 steps)"
        box.locator("input.smooth").fill("0")  # off: the raw loss is the curve
        box.locator("input.smooth").dispatch_event("input")
        assert box.locator("path.raw").count() == 0
    finally:
        page.close()


def test_page_draws_the_cross_where_a_path_left_the_plot(browser):
    page = _open(browser, [_chart(_diverged_bowl(), "overlay")])
    try:
        cross = page.locator('[data-chart="chart-overlay"] svg > g.trace[data-group="SGD"]')
        assert cross.count() == 1  # outside the clipped group: not cut in half
        assert cross.get_attribute("data-points") == "1"
        assert "SGD (diverged by step 2)" in page.locator("ul.legend").inner_text()
    finally:
        page.close()


# --- round 7 review: one builder, the figure's autoscale, no needless work ----------------------


def test_sensitivity_chart_holds_the_std_band_as_the_figure_does():
    doc = _tuning([50, 45, 30, 20, 10, 5, 1.0])
    doc["series"]["configurations"]["SGD"]["std"] = [200, 5, 5, 5, 5, 5, 30]
    chart = _chart(doc, "sensitivity")
    scale = chart["scale"]
    assert scale["kind"] == "log"  # the means span 50 / 0.1: the figure's rule
    low, high = scale["ranges"]["log"]
    assert high > 50 + 200  # the band's top, far above every mean
    # the band's edges at or below 0 are left out on a log axis, as matplotlib does
    assert low > 0
    fig = figures.sensitivity_figure(doc)
    assert fig.axes[-1].get_ylim()[1] == pytest.approx(high, rel=0.5)


def test_the_loss_chart_builds_the_figures_curves_once(monkeypatch):
    calls = []
    curves = interactive._loss_curves

    def counted(*args, **kwargs):
        calls.append(args)
        return curves(*args, **kwargs)

    monkeypatch.setattr(interactive, "_loss_curves", counted)
    chart = _chart(_noisy_and_smooth(), "loss")
    assert len(calls) == 1
    assert chart["smooth"]["names"] == {"SGD (1 sample)": "SGD (1 sample)", "GD": "GD"}
    assert chart["smooth"]["dots"] == ["SGD (1 sample)"]


def test_the_lr_chart_reads_its_rates_once(monkeypatch):
    calls = []
    floats = interactive._floats_or_nan

    def counted(values):
        calls.append(values)
        return floats(values)

    monkeypatch.setattr(interactive, "_floats_or_nan", counted)
    interactive._lr_chart(_lr_doc([0.1, 0.01, 0.001], [0.1] * 3))
    assert len(calls) == 2  # one per trace


def test_a_scale_is_built_in_one_place():
    whole = interactive._whole_scale(np.array([1.0, 100.0]), True)
    assert set(whole) == set(interactive._scale([[1.0, 100.0]]))
    assert whole["kind"] == "log"
    assert interactive._whole_scale(np.array([-1.0, 100.0]), True)["kind"] == "linear"


def _dots(page: Any) -> list[tuple[float, float]]:
    d = page.get_attribute('[data-chart="chart-loss"] path.raw[data-group="noisy"]', "d")
    return [tuple(map(float, s.split("h")[0].split(","))) for s in d.split("M")[1:]]


def test_page_draws_a_dot_per_pixel_in_view(browser):
    """20,000 batch losses, two levels: one dot per pixel, none out of view (zoomed)."""
    loss = np.where(np.arange(20000) % 2, 1.0, 100.0) * np.exp(-np.arange(20000) / 1e4)
    doc = _data([_loss_run("noisy", loss), _loss_run("GD", np.geomspace(90, 1, 20000))])
    chart = _chart(doc, "loss")
    assert chart["smooth"]["dots"] == ["noisy"]
    page = _open(browser, [chart])
    try:
        dots = _dots(page)
        cells = {(math.floor(x + 0.5), math.floor(y + 0.5)) for x, y in dots}
        assert len(dots) < 20000 / 10  # was one a value
        assert len(dots) < 1.5 * len(cells)  # about one a pixel (its centre written to 0.1)
        left, top, width, height = page.eval_on_selector(
            '[data-chart="chart-loss"] rect.frame',
            "r => ['x', 'y', 'width', 'height'].map(k => Number(r.getAttribute(k)))",
        )
        svg = page.locator('[data-chart="chart-loss"] svg.plot').bounding_box()
        scale = svg["width"] / float(
            page.get_attribute('[data-chart="chart-loss"] svg.plot', "width")
        )
        # zoom to the middle fifth of the steps and the upper half (the upper level)
        x0, x1 = left + 0.4 * width, left + 0.6 * width
        y0, y1 = top + 0.02 * height, top + 0.5 * height
        page.mouse.move(svg["x"] + x0 * scale, svg["y"] + y0 * scale)
        page.mouse.down()
        page.mouse.move(svg["x"] + x1 * scale, svg["y"] + y1 * scale, steps=4)
        page.mouse.up()
        zoomed = _dots(page)
        assert zoomed
        for x, y in zoomed:
            assert left - 1.5 <= x <= left + width + 1.5
            assert top - 1.5 <= y <= top + height + 1.5
    finally:
        page.close()


def test_page_restores_the_figures_smoothing_at_the_first_stop(browser):
    chart = _chart(_noisy_and_smooth(), "loss")
    page = _open(browser, [chart])
    try:
        box = page.locator('[data-chart="chart-loss"]')
        slider = box.locator("input.smooth")
        first = slider.input_value()
        legend = box.locator("ul.legend").inner_text()
        said = box.locator("output.smooth-value").inner_text()
        d = box.locator("g.trace path").first.get_attribute("d")
        assert "smoothed over" in legend
        assert first == "3"  # β 0.9
        slider.fill("5")
        slider.dispatch_event("input")
        assert "smoothed over" not in box.locator("ul.legend").inner_text()
        slider.fill(first)  # back at the start: the figure's β per run and its legend
        slider.dispatch_event("input")
        assert box.locator("ul.legend").inner_text() == legend
        assert box.locator("output.smooth-value").inner_text() == said
        assert box.locator("g.trace path").first.get_attribute("d") == d
    finally:
        page.close()
