"""Round 13, figures: a 2-D race's groups of several runs drawn as groups (every path in the
group's style, labelled by the group, ranked by the group's mean; one mean curve of f with
its band), the sensitivity figure's colours as the other figures', a tuned race's series
of the configurations raced only, and the learning-rate words that credit a decay only
against a constant rate of the same optimizer and settings."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from gdlab import cli, tuning
from gdlab.report import figures

matplotlib = pytest.importorskip("matplotlib")

GROUPED = """
name = "grouped"
[problem]
kind = "function"
function = "rosenbrock"
start = [-1.5, 2.0]
[training]
steps = 60
[[runs]]
label = "SGD slow"
optimizer = "sgd"
lr = 0.0005
group = "plain"
[[runs]]
label = "SGD fast"
optimizer = "sgd"
lr = 0.002
group = "plain"
[[runs]]
label = "SGD wild"
optimizer = "sgd"
lr = 0.05
group = "plain"
[[runs]]
label = "Adam slow"
optimizer = "adam"
lr = 0.01
group = "adaptive"
[[runs]]
label = "Adam fast"
optimizer = "adam"
lr = 0.1
group = "adaptive"
[[runs]]
label = "Momentum"
optimizer = "momentum"
lr = 0.0005
"""


def _race(directory, *argv: str) -> dict[str, Any]:
    out = directory / "report"
    assert cli.main(["race", *argv, "--out", str(out), "--no-figures", "--quiet"]) == 0
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def grouped(tmp_path_factory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("grouped")
    config = directory / "grouped.toml"
    config.write_text(GROUPED, encoding="utf-8")
    return _race(directory, "--config", str(config), "--workers", "1")


def _plan(results: dict[str, Any], name: str) -> figures._Plan:
    return next(p for p in figures._plan(results) if p.name == name)


def _mean_final(results: dict[str, Any], group: str) -> float:
    kept = [r for r in results["runs"] if r["group"] == group and r["status"] != "diverged"]
    return float(np.mean([r["metrics"]["final_loss"] for r in kept]))


def _colored_lines(ax: Any, color: str) -> list[Any]:
    return [
        line for line in ax.lines
        if line.get_color() == color and len(line.get_xdata()) > 1
    ]  # fmt: skip


# --- 1. a 2-D race's groups ---------------------------------------------------------------


def test_the_grouped_race_has_a_diverged_run_in_a_group(grouped):
    status = {r["label"]: r["status"] for r in grouped["runs"]}
    assert status["SGD wild"] == "diverged"
    assert status["SGD slow"] == status["SGD fast"] == "ok"


def test_the_overlay_draws_every_run_of_a_group_labelled_by_the_group(grouped):
    fig = figures.overlay_figure(grouped)
    ax = fig.axes[0]
    colors = figures.group_colors(grouped["runs"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    plain, adaptive = _mean_final(grouped, "plain"), _mean_final(grouped, "adaptive")
    assert f"plain (3 runs): mean f = {figures._fmt(plain)} (1 of 3 diverged" in labels[0]
    assert labels[1] == f"adaptive (2 runs): mean f = {figures._fmt(adaptive)}"
    assert labels[2].startswith("Momentum (lr=0.0005): f = ")  # a group of one run, as before
    assert not any("SGD slow" in t or "Adam fast" in t for t in labels)
    # every run's path in its group's colour (and a marker at each end)
    assert len(_colored_lines(ax, colors["plain"])) == 3
    assert len(_colored_lines(ax, colors["adaptive"])) == 2


def test_the_paths_grid_panels_hold_each_groups_runs(grouped):
    fig = figures.paths_figure(grouped)
    colors = figures.group_colors(grouped["runs"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("plain (3 runs)\n1 of 3 diverged")
    assert titles[1] == "adaptive (2 runs)"
    assert titles[2] == "Momentum (lr=0.0005)"
    assert len(_colored_lines(fig.axes[0], colors["plain"])) == 3
    assert len(_colored_lines(fig.axes[1], colors["adaptive"])) == 2
    assert len(_colored_lines(fig.axes[2], colors["Momentum"])) == 1


def test_the_paths_words_rank_the_group_means_they_draw(grouped):
    plain, adaptive = _mean_final(grouped, "plain"), _mean_final(grouped, "adaptive")
    momentum = _mean_final(grouped, "Momentum")
    ends = sorted([(plain, "plain"), (adaptive, "adaptive"), (momentum, "Momentum")])
    text = _plan(grouped, "overlay").look_for()
    assert "mean f" in text.split(".")[0]
    low, high = ends[0], ends[-1]
    f_low = "mean f" if low[1] != "Momentum" else "f"
    assert f"Lowest f at the end: {low[1]} ({f_low} = {figures._fmt(low[0])})" in text
    assert f"{high[1]} (" in text.split("highest: ")[1].split(".")[0]
    # the shapes name each run of a group of several by its label, the diverged one apart
    assert "SGD slow" in text
    assert "Adam fast" in text
    assert "SGD wild diverged" in text
    assert "(its first run)" not in _plan(grouped, "overlay").caption


def test_the_2d_loss_figure_draws_each_groups_mean_and_band(grouped):
    fig = figures.loss_figure(grouped)
    ax = fig.axes[0]
    colors = figures.group_colors(grouped["runs"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("plain (1 of 3 diverged")
    assert labels[1:] == ["adaptive", "Momentum"]
    for group in ("plain", "adaptive"):
        mean = next(
            line for line in ax.lines if line.get_label().split(" (")[0] == group
        )  # the group's one labelled curve: its runs' mean
        members = [
            figures.function_curve(r)[1]
            for r in grouped["runs"]
            if r["group"] == group and r["status"] != "diverged"
        ]
        assert mean.get_ydata()[-1] == pytest.approx(np.mean([m[-1] for m in members]))
        assert mean.get_color() == colors[group]
    # a band per group of several runs; the diverged run drawn alone, thin
    bands = [c for c in ax.collections if len(c.get_paths())]
    assert len(bands) == 2
    thin = [line for line in _colored_lines(ax, colors["plain"]) if line.get_linewidth() < 1]
    assert len(thin) == 1
    caption = _plan(grouped, "loss").caption
    assert "A group of several runs is one curve, the mean of its runs" in caption
    look = _plan(grouped, "loss").look_for()
    lowest = min(["plain", "adaptive", "Momentum"], key=lambda g: _mean_final(grouped, g))
    assert f"{lowest} ends lowest" in look


def test_a_2d_race_of_one_run_per_group_keeps_its_words(tmp_path):
    results = _race(tmp_path, "bowl", "--steps", "20")
    labels = [
        t.get_text() for t in figures.overlay_figure(results).axes[0].get_legend().get_texts()
    ]
    assert labels[0].startswith("SGD (lr=")
    assert "runs)" not in " ".join(labels)
    assert "mean f" not in _plan(results, "overlay").look_for()
    assert "A group of several runs" not in _plan(results, "loss").caption


# --- 8. the sensitivity figure's colours; a tuned race's series --------------------------


@pytest.fixture(scope="module")
def tuned_subset(tmp_path_factory) -> tuple[dict[str, Any], Any]:
    directory = tmp_path_factory.mktemp("tuned")
    tune = directory / "tune"
    code = cli.main(["tune", "bowl", "--steps", "20", "--budget", "3", "--out", str(tune),
                     "--quiet", "--workers", "1"])  # fmt: skip
    assert code == 0
    # the race keeps two of the six tuned runs, in another order than the tuning's
    results = _race(directory, "bowl", "--steps", "20", "--tuned", str(tune),
                    "--optimizers", "adam,sgd", "--workers", "1")  # fmt: skip
    return results, directory


def test_a_tuned_races_series_holds_the_configurations_raced_only(tuned_subset):
    results, _ = tuned_subset
    raced = {r["label"] for r in results["runs"]}
    assert raced == {"Adam", "SGD"}
    assert set(results["series"]["configurations"]) == raced


def test_a_tuned_race_run_again_rebuilds_the_series_of_its_runs(tuned_subset):
    _, directory = tuned_subset
    again = _race(directory / "again", "--config", str(directory / "report" / "results.json"),
                  "--workers", "1")  # fmt: skip
    assert set(again["series"]["configurations"]) == {"Adam", "SGD"}


def test_series_keeps_every_configuration_without_raced_labels(tuned_subset):
    _, directory = tuned_subset
    tuned = tuning.load_tuned(directory / "tune")
    assert len(tuning.series(tuned)["configurations"]) == 6
    assert list(tuning.series(tuned, ["SGD"])["configurations"]) == ["SGD"]


def test_the_sensitivity_figure_colours_each_run_as_the_other_figures(tuned_subset):
    results, _ = tuned_subset
    colors = figures.group_colors(results["runs"])
    fig = figures.sensitivity_figure(results)
    ax = fig.axes[-1]
    drawn = {line.get_label(): line.get_color() for line in ax.lines if line.get_label() in colors}
    assert drawn == colors
    loss = figures.loss_figure(results).axes[0]
    assert {line.get_label(): line.get_color() for line in loss.lines
            if line.get_label() in colors} == colors  # fmt: skip


def test_label_styles_follow_the_groups_and_tell_a_groups_labels_apart():
    runs = [{"label": "B", "group": "g"}, {"label": "C", "group": "g"}, {"label": "A"}]
    styles = figures.label_styles(runs, ["A", "extra", "C", "B"])
    groups = figures.group_styles(runs)
    assert styles["A"] == groups["A"]
    assert styles["C"].color == styles["B"].color == groups["g"].color
    assert styles["C"].linestyle != styles["B"].linestyle
    assert styles["extra"].color not in {s.color for s in groups.values()}


# --- 11. the learning-rate words -----------------------------------------------------------


def _lr_run(label: str, optimizer: str, rates: list[float], final: float, group=None) -> dict:
    hyperparameters = {"lr": rates[0], "weight_decay": 0.0}
    if optimizer == "adam":
        hyperparameters |= {"beta1": 0.9, "beta2": 0.999}
    return {
        "id": f"{label}-0", "label": label, "group": group or label, "optimizer": optimizer,
        "hyperparameters": hyperparameters, "seed": 0, "status": "ok",
        "loss": [1.0, final], "lr": rates, "metrics": {"final_loss": final},
    }  # fmt: skip


CONSTANT, DECAY = [0.1] * 6, [0.1, 0.08, 0.06, 0.04, 0.02, 0.01]


def _lr_words(runs: list[dict]) -> str:
    return figures._lr_look_for({"runs": runs})


def test_a_constant_rate_of_another_optimizer_is_not_credited_to_the_decay():
    text = _lr_words([
        _lr_run("Adam", "adam", CONSTANT, 0.1),
        _lr_run("SGD decay", "sgd", DECAY, 0.5),
    ])  # fmt: skip
    assert "Lowest final loss: Adam (0.1); highest: SGD decay (0.5)." in text
    assert "constant rate" not in text
    text = _lr_words([
        _lr_run("SGD decay", "sgd", DECAY, 0.1),
        _lr_run("Adam", "adam", CONSTANT, 0.5),
    ])  # fmt: skip
    assert "ends below the constant rate" not in text


def test_the_decay_words_compare_runs_of_the_same_settings_only():
    text = _lr_words([
        _lr_run("SGD fixed", "sgd", CONSTANT, 0.1),
        _lr_run("SGD decay", "sgd", DECAY, 0.3),
        _lr_run("Adam decay", "adam", DECAY, 0.5),
    ])  # fmt: skip
    assert (
        "A constant rate (SGD fixed) ends lowest: every schedule with the same optimizer "
        "and settings that lowers the rate ends higher"
    ) in text
    text = _lr_words([
        _lr_run("SGD decay", "sgd", DECAY, 0.1),
        _lr_run("Adam", "adam", CONSTANT, 0.2),
        _lr_run("SGD fixed", "sgd", CONSTANT, 0.3),
    ])  # fmt: skip
    assert (
        "SGD decay, whose rate decays, ends below the constant rate (SGD fixed) with the "
        "same optimizer and settings."
    ) in text


def test_a_group_is_constant_only_when_all_its_runs_are():
    text = _lr_words([
        _lr_run("mix const", "sgd", CONSTANT, 0.1, group="mix"),
        _lr_run("mix decay", "sgd", DECAY, 0.1, group="mix"),
        _lr_run("SGD decay", "sgd", DECAY, 0.5),
    ])  # fmt: skip
    assert "Lowest final loss: mix (0.1)" in text
    assert "constant rate" not in text


def test_other_hyperparameters_keep_runs_apart():
    heavy = _lr_run("SGD decay", "sgd", DECAY, 0.5)
    heavy["hyperparameters"]["weight_decay"] = 0.1
    text = _lr_words([_lr_run("SGD fixed", "sgd", CONSTANT, 0.1), heavy])
    assert "constant rate" not in text
