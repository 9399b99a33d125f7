"""Round 7: the init figure's words and bins, the tour's words, the EWMA chart's scale and
``--force`` on a tree of reports."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from gdlab import cli, tour
from gdlab.experiments import plots
from gdlab.report import figures, interactive


@functools.cache
def _init() -> dict:
    return plots.init_series()


def _case(activation: str, init: str) -> dict:
    return next(c for c in _init()["cases"] if (c["activation"], c["init"]) == (activation, init))


def test_init_look_for_is_per_activation_and_true_to_its_numbers() -> None:
    series = _init()
    tanh = figures._init_look_for(series, "tanh")
    relu = figures._init_look_for(series, "relu")
    sigmoid = figures._init_look_for(series, "sigmoid")
    assert "keeps the histograms alike" not in tanh + relu + sigmoid
    assert tanh != relu != sigmoid
    # tanh with Xavier halves its std over five layers: said so, not "alike"
    stds = [layer["std"] for layer in _case("tanh", "Xavier")["layers"]]
    assert stds[-1] / stds[0] < 0.6
    assert f"shrinks from {figures._fmt(stds[0])} to {figures._fmt(stds[-1])}" in tanh
    assert "symmetric bell" in tanh
    assert "±1" in tanh
    # ReLU: std 1 explodes, Xavier drifts toward 0, He holds
    assert "explodes from 5.83 to 1.77e+04" in relu
    assert "drifts toward 0" in relu
    assert "the book's choice for ReLU" in relu
    assert "0 and 1" in sigmoid
    assert "0.5" in sigmoid
    every = figures._init_look_for(series, None)
    assert every.startswith("Sigmoid: ")
    assert "Tanh: " in every
    assert "ReLU: " in every


def test_init_description_does_not_say_xavier_keeps_tanh_spread() -> None:
    description = plots._PLOT_TEXT["init"][1]
    assert "Xavier keeps tanh's spread" not in description
    assert "explodes ReLU" in description
    assert "drifts toward 0" in description


def test_relu_bins_are_linear_and_show_xavier_drift_and_he_hold() -> None:
    xavier, he, big = (_case("relu", init) for init in ("Xavier", "He", "std 1"))
    edges = np.asarray(xavier["layers"][0]["edges"])
    assert edges[0] == 0.0
    np.testing.assert_allclose(np.diff(edges), np.diff(edges)[0])  # linear, not log
    assert "xscale" not in xavier
    assert xavier["positive"] is True

    def middle(layer: dict) -> float:  # the bars' mean bin, as a share of the axis
        counts = np.asarray(layer["counts"], float)
        return float((counts * np.arange(counts.size)).sum() / counts.sum() / counts.size)

    drift = [middle(layer) for layer in xavier["layers"]]
    held = [middle(layer) for layer in he["layers"]]
    assert drift[-1] < 0.5 * drift[0]  # Xavier's bars move toward 0, visibly
    assert held[-1] > 0.8 * held[0]  # He's stay
    assert drift[-1] < 0.5 * held[-1]
    # the exploding std 1 goes off the axis, and says how much
    assert big["layers"][-1]["above"] > 0.4
    assert he["layers"][0]["above"] <= 0.005


@pytest.mark.parametrize(("activation", "centre"), [("tanh", 0.0), ("sigmoid", 0.5)])
def test_a_collapsed_layer_is_one_bar(activation: str, centre: float) -> None:
    edges = np.asarray(_case(activation, "std 0.01")["layers"][0]["edges"])
    assert not np.any(np.isclose(edges, centre))  # the centre is inside a bin
    if activation == "tanh":
        last = _case(activation, "std 0.01")["layers"][-1]
        assert max(last["counts"]) == last["total"]


def test_relu_figure_is_linear_and_notes_what_is_off_its_axis() -> None:
    document = {"schema": "gdlab.results/2", "status": "complete", "series": _init()}
    fig = figures.init_figure(document, activation="relu")
    assert fig.axes[0].get_xscale() == "linear"
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("off axis: " in t for t in texts)
    assert any(t.startswith("0: ") for t in texts)


def test_old_log_relu_cases_still_get_their_zero_notes() -> None:
    series = plots.init_series(samples=50, units=10, layers=2)
    for case in series["cases"]:
        if case.pop("positive", False):
            case["xscale"] = "log"
            for layer in case["layers"]:
                layer["edges"] = np.logspace(-3, 1, len(layer["edges"])).tolist()
    document = {"schema": "gdlab.results/2", "status": "complete", "series": series}
    fig = figures.init_figure(document, activation="relu")
    assert fig.axes[0].get_xscale() == "log"
    assert any(t.get_text().startswith("0: ") for ax in fig.axes for t in ax.texts)


def _plot_without_page(out: Path, figures_drawn: bool) -> None:
    plot = out / "plot-init"
    plot.mkdir(parents=True)
    document = {"schema": "gdlab.results/2", "status": "complete", "runs": [], "series": {}}
    (plot / "results.json").write_text(json.dumps(document), encoding="utf-8")
    if figures_drawn:
        (plot / "figures").mkdir()
        (plot / "figures" / "init-relu.png").write_bytes(b"")


def test_a_plot_without_its_page_is_not_said_to_have_had_no_run(tmp_path: Path) -> None:
    _plot_without_page(tmp_path / "a", figures_drawn=True)
    words = tour.stopped_words(tmp_path / "a")
    assert "no run had finished" not in words
    assert (
        "plot-init (its data was computed but its page was not drawn; plot-init/figures/ "
        "holds the 1 figure drawn so far)"
    ) in words
    _plot_without_page(tmp_path / "b", figures_drawn=False)
    assert "its page was not drawn; no figure drawn yet)" in tour.stopped_words(tmp_path / "b")


def test_a_race_without_its_page_is_not_said_to_have_failed(tmp_path: Path) -> None:
    (tmp_path / "bowl").mkdir()
    document = {"schema": "gdlab.results/2", "status": "interrupted", "runs": [{}]}
    (tmp_path / "bowl" / "results.json").write_text(json.dumps(document), encoding="utf-8")
    words = tour.stopped_words(tmp_path)
    assert "bowl (its page was not drawn; its results.json holds its runs)" in words


@pytest.mark.parametrize("drawn", [False, True])
def test_an_interrupted_plot_says_whether_it_drew_a_figure(
    tmp_path: Path, capsys, monkeypatch, drawn: bool
) -> None:
    import gdlab.report

    def interrupted(document, out_dir, **_):
        if drawn:
            (Path(out_dir) / "figures").mkdir()
            (Path(out_dir) / "figures" / "lr.png").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(gdlab.report, "write", interrupted)
    code = cli.main(["plot", "schedules", "--out", str(tmp_path / "P"), "--quiet"])
    stderr = capsys.readouterr().err
    assert code == cli.EXIT_INTERRUPTED
    if "nothing was written" in stderr:
        pytest.skip("this writer places nothing on Ctrl-C")
    assert ("holds the figures drawn so far" in stderr) is drawn
    assert ("holds no figure yet, and no page" in stderr) is not drawn


def test_the_ewma_chart_holds_every_day() -> None:
    series = plots.ewma_series()
    low, high = interactive._ewma_chart(series)["scale"]["ranges"]["linear"]
    values = [*series["values"], *(v for c in series["curves"] for v in c["values"])]
    assert low <= min(values)
    assert high >= max(values)


def test_force_on_a_tree_of_reports_says_it_holds_reports(tmp_path: Path, monkeypatch) -> None:
    from gdlab import _io, results

    monkeypatch.chdir(tmp_path)
    assert cli.main(["plot", "schedules", "--quiet"]) == 0
    tree = Path("gdlab-report/plot-schedules")
    (name,) = [p.name for p in tree.iterdir() if p.name != "latest"]
    for keep_latest in (True, False):
        if not keep_latest:
            (tree / "latest").unlink()
        with pytest.raises(_io.OutputError) as raised:
            results.checked_out(tree, force=True)
        message = str(raised.value)
        assert "not a gdlab report" not in message
        assert f"holds gdlab reports ({name}), not one report" in message
        assert f"pass one of them (--out {tree / name})" in message


def test_the_tour_says_what_it_holds_and_its_quick_floor(capsys) -> None:
    assert "every seed experiment" not in tour.TITLE
    assert "every seed experiment" not in (tour.__doc__ or "").split("\n")[0]
    cli.main(["tour", "--help"])
    text = re.sub(r"\s+", " ", capsys.readouterr().out)
    assert f"at least {tour.QUICK_MIN_EPOCHS}," in text
    readme = Path(__file__).parents[1] / "README.md"
    assert "every seed experiment into one report" not in readme.read_text(encoding="utf-8")
