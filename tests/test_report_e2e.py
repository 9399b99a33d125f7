"""Real races through the command line: the tour, an interrupted race, ``--no-js``.

Every built-in report and plot page is opened in Chromium by
``test_report_browser.py``; here the command line's other ways to a page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gdlab import cli
from gdlab.report.schema import validate

from .test_report_browser import Opened, browser  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Nothing is written into the repository, whatever a test forgets to pass."""
    monkeypatch.chdir(tmp_path)


def _open(browser, page: Path, width: int = 1280) -> dict:  # noqa: F811
    opened = Opened(browser, page, width)
    try:
        assert opened.console == []
        assert opened.requests == []
        assert opened.check["errors"] == []
        assert opened.check["brokenImages"] == []
        if opened.ready is not None:
            assert opened.ready["failed"] == []
        return opened.check
    finally:
        opened.close()


def test_tour_is_one_report(tmp_path, capsys, browser, monkeypatch):  # noqa: F811
    from gdlab import experiments, tour

    # A very short tour: a hundredth of each experiment.
    def tiny(experiment):
        training = experiment.training
        key = "steps" if training.steps is not None else "epochs"
        return experiment.merge_training(**{key: max(1, getattr(training, key) // 100)})

    monkeypatch.setattr(tour, "shortened", tiny)
    # The init plot's three 35-panel figures took a third of this test; its own report
    # is opened in chromium by test_report_browser. Two plots show the tour's page.
    plots = ("schedules", "ewma")
    monkeypatch.setattr(experiments.plots, "PLOTS", plots)
    out = tmp_path / "tour"
    assert cli.main(["tour", "--quick", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert not (out / "plot-init").exists()
    for name in (*experiments.BUILTIN, *(f"plot-{k}" for k in plots)):
        validate(json.loads((out / name / "results.json").read_text()))
        assert (out / name / "index.html").is_file()
    check = _open(browser, out / "index.html")
    total_runs = sum(
        len(json.loads((out / name / "results.json").read_text())["runs"])
        for name in experiments.BUILTIN
    )
    assert check["rows"] == total_runs
    assert check["images"] >= 10
    assert check["charts"] == 0  # the tour's page is the images; each report has its charts
    assert _open(browser, out / "bowl" / "index.html")["charts"] >= 2


def test_interrupted_race_still_has_a_report(tmp_path, capsys, browser, monkeypatch):  # noqa: F811
    import gdlab.race

    calls = {"n": 0}
    real_fit = gdlab.race.fit

    def fit_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(gdlab.race, "fit", fit_then_interrupt)
    out = tmp_path / "bowl"
    assert cli.main(["race", "bowl", "--out", str(out), "--quiet"]) == cli.EXIT_INTERRUPTED
    capsys.readouterr()
    document = json.loads((out / "results.json").read_text())
    validate(document)
    assert document["status"] == "interrupted"
    check = _open(browser, out / "index.html")
    assert check["rows"] == 2
    assert "Interrupted" in (out / "index.html").read_text()


@pytest.mark.parametrize(
    "argv", [["race", "bowl", "--steps", "10", "--workers", "1"], ["plot", "schedules"]]
)
def test_no_js_writes_the_images_without_charts(tmp_path, capsys, argv):
    with_js, without = tmp_path / "js", tmp_path / "nojs"
    assert cli.main([*argv, "--out", str(with_js), "--quiet"]) == 0
    assert cli.main([*argv, "--no-js", "--out", str(without), "--quiet"]) == 0
    capsys.readouterr()
    page = (without / "index.html").read_text()
    assert 'class="chart-box"' not in page
    assert "gdlab-charts" not in page
    assert len(re.findall(r"<script\b", page)) == 3  # the page's own: check, run data, sort
    assert page.count("<img ") == len(list((without / "figures").glob("*.png")))
    charted = (with_js / "index.html").read_text()
    assert 'class="chart-box"' in charted
    # The same results either way.
    a, b = (json.loads((d / "results.json").read_text()) for d in (with_js, without))
    for doc in (a, b):
        for run in doc["runs"]:
            run.pop("seconds")
            run.pop("compile_seconds")
            for epoch in run["epochs"]:
                epoch.pop("seconds", None)
    assert a["runs"] == b["runs"]
