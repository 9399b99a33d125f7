"""The interactive charts draw the palette's markers as the figures do.

The palette pairs each run with a matplotlib marker and the chart's symbol of the same
shape (``P`` "cross", ``X`` "x", ``h`` "hexagon"). ``charts.js`` drew "cross" and "x" as
two thin strokes and had no hexagon at all (it fell back to a circle), so the sixth,
seventh and ninth runs of a race looked unlike their figures and the ninth like the
first. They are now filled outlines: a thick plus, a thick ×, a hexagon. The thin ×
that marks where a run diverged stays thin.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gdlab import cli
from gdlab.report import palette

NINE = "sgd,momentum,nesterov,adagrad,rmsprop,adam,adamw,nadam,radam"


@pytest.fixture(scope="module")
def nine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bowl race of nine optimizers, so every marker of the palette is used."""
    out = tmp_path_factory.mktemp("nine") / "report"
    argv = ["race", "bowl", "--optimizers", NINE, "--steps", "20", "--workers", "1"]
    assert cli.main([*argv, "--out", str(out), "--quiet"]) == 0
    return out


def _vertices(d: str) -> int:
    return len(re.findall(r"[ML]", d))


def test_every_marker_of_the_legend_is_its_figure_shape(browser, nine, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto((nine / "index.html").as_uri())
    page.wait_for_selector("body[data-charts-ready]")
    assert json.loads(page.get_attribute("body", "data-charts-ready"))["failed"] == []
    chart = '[data-chart="chart-overlay"]'
    swatches = page.eval_on_selector_all(
        f"{chart} .legend button",
        """bs => bs.map(b => { const p = b.querySelectorAll('svg path');
            const m = p[p.length - 1];
            return [b.dataset.group, m.getAttribute('d'), m.getAttribute('fill')]; })""",
    )
    runs = [s for s in swatches if s[0] not in ("start", "minimum")]
    assert len(runs) == 9
    shapes = dict(zip(palette.SYMBOLS, runs, strict=True))
    for name in ("cross", "x", "hexagon"):
        group, d, fill = shapes[name]
        assert fill not in (None, "none"), (name, group)  # filled, as matplotlib's P, X, h
        assert "a" not in d, (name, d)  # an outline, not a circle's arcs
    assert _vertices(shapes["cross"][1]) == 12
    assert _vertices(shapes["x"][1]) == 12
    assert _vertices(shapes["hexagon"][1]) == 6
    assert "a" in shapes["circle"][1]  # the first run's circle is still a circle
    page.locator(chart).screenshot(path=str(tmp_path / "nine-markers.png"))
    page.close()


def test_a_diverged_run_keeps_its_thin_cross(browser, tmp_path):
    out = tmp_path / "report"
    argv = ["race", "moons", "--optimizers", "sgd,adam", "--lr", "sgd=1e6"]
    argv += ["--set", "training.epochs=2"]
    assert cli.main([*argv, "--workers", "1", "--out", str(out), "--quiet"]) == 0
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto((out / "index.html").as_uri())
    page.wait_for_selector("body[data-charts-ready]")
    ends = page.eval_on_selector_all(
        "path.end", "ps => ps.map(p => [p.getAttribute('d'), p.getAttribute('fill')])"
    )
    marks = [(d, fill) for d, fill in ends if d]
    assert marks, "the diverged run has no ×"
    for d, fill in marks:
        assert fill == "none"
        assert re.fullmatch(r"(M[-0-9.]+,[-0-9.]+l[-0-9.]+,[-0-9.]+){2}", d), d
    page.close()
