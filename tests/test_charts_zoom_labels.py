"""The interactive charts' tick labels on a deep zoom, and the room the y labels take.

Every tick label was ``short(v)`` (4 significant digits) or ``percent(v)`` (one decimal),
so a view about 1e-7 wide labelled each tick alike (every x "-0.075", every y "0.00195").
``charts.js`` now labels an axis's ticks together, in the least precision (from those on)
that tells neighbours apart; the labels that were told apart read as before. Its left
margin was a fixed 64 px, so a long y label ("-0.07500012") ran under the rotated y
title; the margin now holds the widest y label clear of it (64 px the least).
The pages are ``gdlab race bowl --steps 30``'s report and, for a percent axis, an
accuracy chart alone (``charts.js`` and the chart boxes of :mod:`gdlab.report.html`).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from gdlab import cli
from gdlab.report import html, interactive
from test_charts_saddle import _open
from test_report_browser import data_document


@pytest.fixture(scope="module")
def bowl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of ``gdlab race bowl --steps 30``."""
    out = tmp_path_factory.mktemp("bowl") / "report"
    argv = ["race", "bowl", "--steps", "30", "--workers", "1"]
    assert cli.main([*argv, "--out", str(out), "--quiet"]) == 0
    return out


def _ready(page: Any) -> Any:
    """The page once its charts are drawn."""
    page.wait_for_selector("body[data-charts-ready]")
    assert json.loads(page.get_attribute("body", "data-charts-ready"))["failed"] == []
    return page


def _open_accuracy(browser: Any) -> Any:
    """A page with a race's accuracy chart (a percent axis) alone."""
    charts = [c for c in interactive.charts(data_document()) if c["figure"] == "accuracy"]
    boxes = "\n".join(html._chart_box(c) for c in charts)
    scripts = html._chart_scripts({c["figure"]: c for c in charts})
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_content(f"<!doctype html><html><head><style>{html._CSS}</style></head><body>"
                     f"{boxes}{scripts}</body></html>")  # fmt: skip
    return _ready(page)


def _labels(page: Any, chart_id: str) -> dict[str, list[str]]:
    """The x labels left to right and the y labels top to bottom, as shown."""
    found = page.eval_on_selector_all(
        f'[data-chart="{chart_id}"] g.ticks text',
        """els => els.map(e => [e.getAttribute("text-anchor"), e.textContent,
            Number(e.getAttribute("x")), Number(e.getAttribute("y"))])""",
    )
    xs = sorted((x, text) for anchor, text, x, _ in found if anchor == "middle")
    ys = sorted((y, text) for anchor, text, _, y in found if anchor == "end")
    return {"x": [text for _, text in xs], "y": [text for _, text in ys]}


def _zoom(page: Any, chart_id: str, x: float, y: float, width: float = 1e-7) -> None:
    """A view about ``width`` wide on each axis around the values ``x`` and ``y`` (on a
    log axis, as many decades as that is near ``y``)."""
    page.evaluate(
        """([id, x, y, w]) => { const c = window.gdlabCharts.charts[id];
            const [u, v] = [c.tx(x), c.ty(y)];
            const h = c.yType === "log" ? w / Math.LN10 / y : w;
            c.view = {x: [u - w / 2, u + w / 2], y: [v - h / 2, v + h / 2]}; c.render(); }""",
        [chart_id, x, y, width],
    )


def _value(text: str) -> float:
    return float(text.replace("−", "-").rstrip("%"))


def _told_apart(labels: dict[str, list[str]]) -> None:
    """At least 3 labels an axis, every one its own, in order: x rising to the right,
    y rising upwards."""
    for axis, texts in labels.items():
        values = [_value(t) for t in texts]
        assert len(texts) >= 3, (axis, texts)
        assert len(set(texts)) == len(texts), (axis, texts)  # was "-0.075" on every tick
        ordered = values if axis == "x" else values[::-1]
        assert all(a < b for a, b in itertools.pairwise(ordered)), (axis, texts)


def _clear_of_the_title(page: Any, chart_id: str) -> float:
    """That the rotated y title overlaps no y label; the frame's left edge."""
    boxes = page.evaluate(
        """id => { const box = document.querySelector(`[data-chart="${id}"]`);
            const r = e => { const b = e.getBoundingClientRect();
                return [b.left, b.top, b.right, b.bottom]; };
            return {title: r(box.querySelector("text.title[transform]")),
                    labels: [...box.querySelectorAll('g.ticks text[text-anchor="end"]')].map(r),
                    left: Number(box.querySelector("rect.frame").getAttribute("x"))}; }""",
        chart_id,
    )
    t = boxes["title"]
    for b in boxes["labels"]:
        assert b[0] >= t[2], (t, b)  # each label's left edge right of the title's right edge
    return boxes["left"]


#: The home views' labels, as they were before (already told apart: unchanged).
HOME = {
    ("chart-overlay", None): {
        "x": ["-10", "-8", "-6", "-4", "-2", "0", "2", "4", "6", "8", "10"],
        "y": ["4", "2", "0", "-2", "-4"],
    },
    ("chart-loss", "linear"): {
        "x": [str(s) for s in range(0, 31, 2)],
        "y": ["6", "5", "4", "3", "2", "1", "0"],
    },
    ("chart-loss", "log"): {
        "x": [str(s) for s in range(0, 31, 2)],
        "y": ["1", "1e-4", "1e-8", "1e-12"],
    },
}


@pytest.mark.parametrize(
    ("chart_id", "scale", "x", "y"),
    [
        ("chart-overlay", None, -0.075, 0.00195),
        ("chart-loss", "linear", 15.3, 0.0123),
        ("chart-loss", "log", 15.3, 0.0123),
    ],
)
def test_a_deep_zoom_tells_every_tick_apart(browser, bowl, tmp_path, chart_id, scale, x, y):
    page, said = _open(browser, bowl)
    try:
        box = page.locator(f'[data-chart="{chart_id}"]')
        if scale:
            box.locator(f'button[data-scale="{scale}"]').click()
        assert _labels(page, chart_id) == HOME[chart_id, scale]
        assert _clear_of_the_title(page, chart_id) == 64  # where it was: no chart moves
        _zoom(page, chart_id, x, y)
        box.screenshot(path=str(tmp_path / f"{chart_id}-{scale}.png"))
        labels = _labels(page, chart_id)
        _told_apart(labels)
        for axis, mid in (("x", x), ("y", y)):
            values = [_value(t) for t in labels[axis]]
            assert all(abs(v - mid) <= 1e-7 for v in values), (axis, labels[axis])
        assert _clear_of_the_title(page, chart_id) > 64  # "-0.07500004" is wider
        assert said == []
    finally:
        page.close()


def test_a_deep_zoom_on_a_percent_axis_tells_every_tick_apart(browser, tmp_path):
    page = _open_accuracy(browser)
    try:
        home = _labels(page, "chart-accuracy")["y"]
        assert home == ["95.0%", "90.0%", "85.0%", "80.0%", "75.0%", "70.0%"]
        _zoom(page, "chart-accuracy", 20.0, 0.8)
        box = page.locator('[data-chart="chart-accuracy"]')
        box.screenshot(path=str(tmp_path / "accuracy.png"))
        labels = _labels(page, "chart-accuracy")
        _told_apart(labels)  # was "80.0%" on every tick
        assert all(t.endswith("%") for t in labels["y"]), labels["y"]
        _clear_of_the_title(page, "chart-accuracy")
    finally:
        page.close()


@pytest.mark.parametrize(
    ("scale", "width"),
    [("linear", 1e-11), ("linear", 1e-14), ("log", 1e-11), ("log", 1e-14)],
)
def test_a_zoom_past_where_ticks_are_told_apart_stops_there(browser, bowl, tmp_path, scale, width):
    # 1e-11 wide at step 15.3: the ticks were rounded to 12 digits, so every x tick was
    # "15.3"; 1e-14 wide is 5 doubles there (1.8e-15 apart): too few for 5 ticks.
    # A zoom now goes no deeper than 1e-12 of the view's values (charts.js's DEEPEST).
    page, said = _open(browser, bowl)
    try:
        box = page.locator('[data-chart="chart-loss"]')
        box.locator(f'button[data-scale="{scale}"]').click()
        _zoom(page, "chart-loss", 15.3, 0.0123, width)
        box.screenshot(path=str(tmp_path / f"deepest-{scale}-{width:g}.png"))
        labels = _labels(page, "chart-loss")
        _told_apart(labels)
        for axis, mid in (("x", 15.3), ("y", 0.0123)):
            values = [_value(t) for t in labels[axis]]
            assert all(abs(v - mid) <= max(width, 1e-11 * mid) for v in values), (axis, labels)
        view = page.evaluate('() => window.gdlabCharts.charts["chart-loss"].view')
        assert view["x"][1] - view["x"][0] >= 1e-12 * 15.3 * (1 - 1e-9)
        assert said == []
    finally:
        page.close()
