"""The saddle's report in the browser: paths that escape, and a symmetric log axis zoomed in.

On ``f = x² − y²`` SGD's and Nesterov's paths run out to |y| ~ 1e43, far past the
float32 numbers Chromium keeps in a path (about 3.4e38): it refused the whole path
("<path> attribute d: Expected number") and the interactive chart of every path lost
them. ``charts.js`` now cuts each line where it leaves a box ±1e6 px around the page,
leaves out markers far outside the plot and breaks a line at a value that is not finite.
Its symmetric log axis (the loss chart's) kept only the "0" label in a view within the
linear band or between two powers of ten; such a view now gets plain (or log) ticks.
The page is ``gdlab race bowl --function saddle --steps 100``'s, in Chromium.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from gdlab import cli

#: The box every coordinate a page writes into an SVG path stays in (charts.js's FAR).
FAR = 1e6


@pytest.fixture(scope="module")
def saddle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of ``gdlab race bowl --function saddle --steps 100``."""
    out = tmp_path_factory.mktemp("saddle") / "report"
    argv = ["race", "bowl", "--function", "saddle", "--steps", "100", "--workers", "1"]
    assert cli.main([*argv, "--out", str(out), "--quiet"]) == 0
    return out


def _open(browser: Any, report: Path) -> tuple[Any, list[str]]:
    """The report's page, drawn, and the list its console errors go to."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    said: list[str] = []
    page.on("console", lambda m: said.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: said.append(f"pageerror: {e}"))
    page.goto((report / "index.html").as_uri())
    page.wait_for_selector("body[data-charts-ready]")
    assert json.loads(page.get_attribute("body", "data-charts-ready"))["failed"] == []
    return page, said


def _numbers(page: Any, chart_id: str) -> list[float]:
    """Every number in the chart's SVG paths (``d``) and shapes' places."""
    texts = page.eval_on_selector_all(
        f'[data-chart="{chart_id}"] svg *',
        """els => els.flatMap(e => ["d", "x", "y", "cx", "cy"]
            .map(a => e.getAttribute(a)).filter(v => v !== null))""",
    )
    found = [m for t in texts for m in re.findall(r"[-+0-9.eE]*[0-9][-+0-9.eE]*|NaN|Infinity", t)]
    return [float(m) for m in found]


def _in_the_box(page: Any, chart_id: str) -> None:
    numbers = _numbers(page, chart_id)
    assert numbers
    assert all(math.isfinite(v) and abs(v) <= FAR for v in numbers), max(map(abs, numbers))


# --- 1: every path drawn, however far it escapes -------------------------------------------


def test_every_saddle_path_is_drawn_without_an_error(browser, saddle, tmp_path):
    runs = json.loads((saddle / "results.json").read_text())["runs"]
    far = [r["label"] for r in runs if max(abs(p[1]) for p in r["path"]) > 1e30]
    assert {"SGD", "Nesterov"} <= set(far)  # past float32 in pixels
    page, said = _open(browser, saddle)
    try:
        box = page.locator('[data-chart="chart-overlay"]')
        page.screenshot(path=str(tmp_path / "saddle.png"), full_page=True)
        assert said == []  # was "<path> attribute d: Expected number", twice a path
        for run in runs:  # one drawn line a run, from its start on
            line = box.locator(f'g.trace[data-group="{run["label"]}"] path.line')
            assert line.count() == 1, run["label"]
            d = line.get_attribute("d")
            assert d.startswith("M"), (run["label"], d[:80])
            assert d.count("L") >= 2, (run["label"], d[:80])
            assert line.bounding_box()["height"] > 10, run["label"]
        for chart_id in ("chart-overlay", "chart-loss"):
            _in_the_box(page, chart_id)
    finally:
        page.close()


def _points(d: str) -> list[tuple[float, float]]:
    """The corners of a path of straight lines (``M``/``L`` only)."""
    assert re.fullmatch(r"([ML][-0-9.]+,[-0-9.]+)+", d), d[:80]
    return [(float(x), float(y)) for x, y in re.findall(r"[ML]([-0-9.]+),([-0-9.]+)", d)]


def _distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """From ``p`` to the segment ``a``–``b``."""
    (x, y), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy or 1.0)))
    return math.hypot(ax + t * dx - x, ay + t * dy - y)


def test_a_deep_zoom_keeps_every_path_in_the_box(browser, saddle, tmp_path):
    """Zoomed a million times onto the middle of SGD's first step, the contours and paths
    run far past the box: each line is cut there, and still runs through the view."""
    runs = json.loads((saddle / "results.json").read_text())["runs"]
    (x0, y0), (x1, y1) = next(r for r in runs if r["label"] == "SGD")["path"][:2]
    mid = [(x0 + x1) / 2, (y0 + y1) / 2]
    page, said = _open(browser, saddle)
    try:
        centre = page.evaluate(
            """([x, y]) => { const c = window.gdlabCharts.charts["chart-overlay"];
                c.view = {x: [x - 1e-6, x + 1e-6], y: [y - 1e-6, y + 1e-6]}; c.render();
                return [c.frame.l + c.frame.w / 2, c.frame.t + c.frame.h / 2]; }""",
            mid,
        )
        page.locator('[data-chart="chart-overlay"]').screenshot(path=str(tmp_path / "zoom.png"))
        assert said == []
        _in_the_box(page, "chart-overlay")
        sgd = page.locator('[data-chart="chart-overlay"] g.trace[data-group="SGD"] path.line')
        points = _points(sgd.get_attribute("d"))
        near = min(_distance(tuple(centre), a, b) for a, b in itertools.pairwise(points))
        assert near < 1.0  # cut where it leaves the box, not moved: still through the middle
    finally:
        page.close()


def test_a_value_that_is_not_finite_breaks_the_line(browser, saddle):
    page, said = _open(browser, saddle)
    try:
        d = page.evaluate(
            """() => { const c = window.gdlabCharts.charts["chart-overlay"];
                const k = c.traces.findIndex(t => t.legendgroup === "Adam" && t.showlegend);
                c.traces[k].y[3] = NaN; c.traces[k].y[6] = Infinity; c.render();
                return c.svg.querySelector(`g.trace[data-trace="${k}"] path.line`)
                    .getAttribute("d"); }"""
        )
        assert said == []
        assert not re.search("NaN|Infinity", d), d[:200]
        assert d.count("M") == 3  # steps 0–2, 4–5, 7 on: three pieces
    finally:
        page.close()


@pytest.mark.parametrize("scale", ["symlog", "linear"])
def test_a_band_is_cut_to_the_box_and_broken_where_not_finite(browser, saddle, scale):
    """A band over seeds (here put on SGD's loss, out to -3e86) whose mean overflowed at
    two steps: two pieces, no NaN, every corner in the box, on either scale."""
    page, said = _open(browser, saddle)
    try:
        page.locator(f'[data-chart="chart-loss"] button[data-scale="{scale}"]').click()
        d = page.evaluate(
            """() => { const c = window.gdlabCharts.charts["chart-loss"];
                const k = c.traces.findIndex(t => t.legendgroup === "SGD");
                const t = c.traces[k];
                t.low = t.y.map(v => v === null ? null : v - Math.abs(v) / 2 - 1);
                t.high = t.y.map(v => v === null ? null : v + Math.abs(v) / 2 + 1);
                t.low[50] = NaN; t.high[51] = Infinity; c.render();
                return c.svg.querySelector(`path.band[data-trace="${k}"]`).getAttribute("d"); }"""
        )
        assert said == []
        assert not re.search("NaN|Infinity", d), d[:200]
        assert d.count("M") == d.count("Z") == 2, d[:200]  # steps 0–49 and 52 on
        _in_the_box(page, "chart-loss")
    finally:
        page.close()


# --- 2: a symmetric log axis zoomed in keeps its labels ------------------------------------


def _y_labels(page: Any, chart_id: str) -> list[tuple[float, float]]:
    """``(value, pixel y)`` of the y-axis labels, top to bottom."""
    found = page.eval_on_selector_all(
        f'[data-chart="{chart_id}"] g.ticks text[text-anchor="end"]',
        "els => els.map(e => [e.textContent, Number(e.getAttribute('y'))])",
    )
    return sorted(((float(text.replace("−", "-")), y) for text, y in found), key=lambda p: p[1])


def _view_y(page: Any, low: float, high: float) -> None:
    page.evaluate(
        """([low, high]) => { const c = window.gdlabCharts.charts["chart-loss"];
            c.view = {x: c.view.x, y: [c.ty(low), c.ty(high)]}; c.render(); }""",
        [low, high],
    )


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (0.2, 0.8),  # within the linear band (|f| < 2.25)
        (-0.5, 0.5),  # around 0
        (2.0, 8.0),  # across the threshold, below 10
        (20.0, 80.0),  # between two powers of ten
        (-800.0, -200.0),  # the same, below 0
        (1.5, 1.8),  # within one digit
    ],
)
def test_a_symmetric_log_axis_zoomed_in_keeps_its_labels(browser, saddle, tmp_path, low, high):
    page, said = _open(browser, saddle)
    try:
        assert page.get_attribute('[data-chart="chart-loss"]', "data-y-scale") == "symlog"
        _view_y(page, low, high)
        page.locator('[data-chart="chart-loss"]').screenshot(
            path=str(tmp_path / f"symlog-{low}-{high}.png")
        )
        labels = _y_labels(page, "chart-loss")
        values = [v for v, _ in labels]
        assert len(values) >= 3, values  # was ["0"] or nothing
        assert len(set(values)) == len(values), values
        assert all(low - 1e-9 <= v <= high + 1e-9 for v in values), values
        assert values == sorted(values, reverse=True), values  # higher up, larger
        assert said == []
    finally:
        page.close()


def test_a_symmetric_log_axis_keeps_its_powers_of_ten_otherwise(browser, saddle):
    page, _ = _open(browser, saddle)
    try:
        values = [v for v, _ in _y_labels(page, "chart-loss")]
        assert 0.0 in values
        for v in values:
            assert v == 0 or math.log10(abs(v)) == pytest.approx(round(math.log10(abs(v)))), values
        _view_y(page, -50.0, 500.0)
        values = [v for v, _ in _y_labels(page, "chart-loss")]
        assert values == [100.0, 10.0, 0.0, -10.0], values
    finally:
        page.close()


# --- 3: deep zooms label each tick apart, the y title clear of the labels ------------------


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (0.9999999, 1.0000001),  # within the linear band
        (-2.5000001e42, -2.4999999e42),  # far out on the log side, below 0
    ],
)
def test_a_symmetric_log_axis_zoomed_deeply_tells_its_labels_apart(
    browser, saddle, tmp_path, low, high
):
    """About 1e-7 of the value wide, each label was the same ("1", "-2.5e+42")."""
    page, said = _open(browser, saddle)
    try:
        assert page.get_attribute('[data-chart="chart-loss"]', "data-y-scale") == "symlog"
        _view_y(page, low, high)
        page.locator('[data-chart="chart-loss"]').screenshot(path=str(tmp_path / f"{low}.png"))
        texts = page.eval_on_selector_all(
            '[data-chart="chart-loss"] g.ticks text[text-anchor="end"]',
            "els => els.map(e => e.textContent)",
        )
        values = [v for v, _ in _y_labels(page, "chart-loss")]
        assert len(values) >= 3, texts
        assert len(set(texts)) == len(texts), texts
        assert all(a > b for a, b in itertools.pairwise(values)), texts  # higher up, larger
        assert all(low <= v <= high for v in values), texts
        assert said == []
    finally:
        page.close()


@pytest.mark.parametrize("scale", ["linear", "symlog"])
def test_the_y_title_stays_clear_of_long_labels(browser, saddle, tmp_path, scale):
    """The home view's "-2.5e+86" (linear) ran under the rotated title "f(x, y)"; the
    left margin now holds the widest label clear of it."""
    page, said = _open(browser, saddle)
    try:
        box = page.locator('[data-chart="chart-loss"]')
        box.locator(f'button[data-scale="{scale}"]').click()
        box.screenshot(path=str(tmp_path / f"{scale}.png"))
        title = box.locator("text.title[transform]").bounding_box()
        labels = box.locator('g.ticks text[text-anchor="end"]')
        assert labels.count() >= 3
        for k in range(labels.count()):
            label = labels.nth(k).bounding_box()
            assert label["x"] >= title["x"] + title["width"], (labels.nth(k).text_content(), title)
        assert said == []
    finally:
        page.close()
