"""Real races, plots and the tour, drawn and opened in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdlab import cli
from gdlab.report.schema import validate

from .test_report_browser import _data, _dump, chromium  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Nothing is written into the repository, whatever a test forgets to pass."""
    monkeypatch.chdir(tmp_path)


def _check_report(binary: str, out: Path) -> dict:
    dom, console = _dump(binary, out / "index.html")
    check = _data(dom, "report-check")
    assert check["errors"] == []
    assert check["brokenImages"] == []
    assert check["images"] >= 1
    assert console == []
    return check


@pytest.mark.parametrize(
    ("argv", "figures"),
    [
        (["race", "bowl", "--steps", "20"], {"paths", "loss"}),
        (["race", "moons", "--epochs", "20"], {"loss", "accuracy", "boundary"}),
        (["race", "boston", "--steps", "100"], {"loss"}),
        (["race", "mnist", "--steps", "30", "--optimizers", "sgd,adam", "--seeds", "2"],
         {"loss", "accuracy"}),
        (["race", "schedules", "--epochs", "2", "--optimizers", "sgd"], {"loss", "lr", "accuracy"}),
        (["plot", "schedules"], {"schedules"}),
        (["plot", "ewma"], {"ewma"}),
        (["plot", "init"], {"init-sigmoid", "init-tanh", "init-relu"}),
    ],
)  # fmt: skip
def test_report_of_each_experiment(tmp_path, capsys, chromium, argv, figures):  # noqa: F811
    out = tmp_path / "out"
    assert cli.main([*argv, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    document = json.loads((out / "results.json").read_text())
    validate(document)
    drawn = {p.stem for p in (out / "figures").glob("*.png")}
    assert figures <= drawn
    assert {p.stem for p in (out / "figures").glob("*.svg")} == drawn
    check = _check_report(chromium, out)
    assert check["rows"] == len(document["runs"])
    assert check["images"] == len(drawn)


def test_tour_is_one_report(tmp_path, capsys, chromium, monkeypatch):  # noqa: F811
    from gdlab import experiments, tour

    # A very short tour: a hundredth of each experiment.
    def tiny(experiment):
        training = experiment.training
        key = "steps" if training.steps is not None else "epochs"
        return experiment.merge_training(**{key: max(1, getattr(training, key) // 100)})

    monkeypatch.setattr(tour, "shortened", tiny)
    out = tmp_path / "tour"
    assert cli.main(["tour", "--quick", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    for name in (*experiments.BUILTIN, *(f"plot-{k}" for k in experiments.PLOTS)):
        validate(json.loads((out / name / "results.json").read_text()))
        assert (out / name / "index.html").is_file()
    check = _check_report(chromium, out)
    total_runs = sum(
        len(json.loads((out / name / "results.json").read_text())["runs"])
        for name in experiments.BUILTIN
    )
    assert check["rows"] == total_runs
    assert check["images"] >= 10


def test_interrupted_race_still_has_a_report(tmp_path, capsys, chromium, monkeypatch):  # noqa: F811
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
    check = _check_report(chromium, out)
    assert check["rows"] == 2
    assert "Interrupted" in (out / "index.html").read_text()
