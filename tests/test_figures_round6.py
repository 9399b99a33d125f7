"""Round 6 of the figures' review: the 2-D loss figure draws the final value and marks a
diverged run where it stopped; a data loss sits at the step it belongs to; the "two
decades: log" rule fires; a diverged path's × stays on the plot; accuracy overlaps are
judged on the axis drawn and grouped only where every two overlap; the boundary caption
says whose accuracy it quotes; the 2-D loss axis's ticks read plainly and apart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdlab import experiments
from gdlab.race import run_experiment
from gdlab.report import figures, interactive, stops


def _race(tmp: Path, experiment: Any) -> dict[str, Any]:
    """``experiment`` raced into ``tmp`` without figures: its results document."""
    return run_experiment(experiment, tmp, progress=False, figures=False, workers=1)


def _bowl(steps: int, function: str = "bowl", **lrs: float) -> Any:
    experiment = experiments.builtin("bowl").set("training.steps", steps)
    if function != "bowl":
        experiment = experiment.set("problem.function", function)
    for name, lr in lrs.items():
        experiment = experiment.with_lr(name, lr)
    return experiment


@pytest.fixture(scope="module")
def bowl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Seed 001's bowl race, 30 steps: the finals rank otherwise than the last losses."""
    return _race(tmp_path_factory.mktemp("bowl"), _bowl(30))


@pytest.fixture(scope="module")
def one_step(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _race(tmp_path_factory.mktemp("one"), _bowl(1))


@pytest.fixture(scope="module")
def rosenbrock(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Momentum diverges by step 2 (f = 1.25e22 there), far outside the plotted box."""
    experiment = _bowl(30, "rosenbrock", sgd=0.001).select_optimizers(["sgd", "momentum", "adam"])
    return _race(tmp_path_factory.mktemp("rosenbrock"), experiment)


@pytest.fixture(scope="module")
def himmelblau(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """SGD, Momentum and Nesterov leave the plot; Momentum's last segment crosses it."""
    return _race(tmp_path_factory.mktemp("himmelblau"), _bowl(30, "himmelblau"))


def _lines(ax: Any) -> dict[str, Any]:
    """The axes' labelled lines by the label's first word (the group)."""
    handles, labels = ax.get_legend_handles_labels()
    pairs = zip(handles, labels, strict=True)
    return {label.split(" (")[0].split("\n")[0]: h for h, label in pairs}


def _crosses(ax: Any) -> list[tuple[float, float]]:
    return [
        (float(line.get_xdata()[0]), float(line.get_ydata()[0]))
        for line in ax.lines
        if line.get_marker() == "x"
    ]


# --- 1. the 2-D loss figure draws the final value; × where the run stopped -------------------


def test_the_function_loss_ends_at_the_final_value_after_the_last_step(bowl) -> None:
    fig = figures.loss_figure(bowl)
    lines = _lines(fig.axes[0])
    for run in bowl["runs"]:
        x, y = lines[run["group"]].get_xdata(), lines[run["group"]].get_ydata()
        assert len(x) == run["steps"] + 1  # the start, then after each of the 30 updates
        assert x[0] == 0
        assert x[-1] == run["steps"] == 30
        assert y[-1] == pytest.approx(run["metrics"]["final_loss"], rel=1e-12)


def test_the_function_loss_caption_ranks_what_is_drawn(bowl, tmp_path: Path) -> None:
    drawn = {d["name"]: d for d in figures.draw(bowl, tmp_path)}
    look = drawn["loss"]["look_for"]
    lowest, highest = re.search(r"(\w+) ends lowest, (\w+) highest", look).groups()
    ends = {
        name: line.get_ydata()[-1]
        for name, line in _lines(figures.loss_figure(bowl).axes[0]).items()
    }
    assert min(ends, key=ends.get) == lowest
    assert max(ends, key=ends.get) == highest
    assert "step 0" in drawn["loss"]["caption"]
    assert "after each update" in drawn["loss"]["caption"]


def test_a_one_step_race_draws_where_each_run_went(one_step) -> None:
    ax = figures.loss_figure(one_step).axes[0]
    ends = []
    for line in _lines(ax).values():
        assert list(line.get_xdata()) == [0, 1]
        ends.append(round(float(line.get_ydata()[-1]), 9))
    assert len(set(ends)) == len(ends) == 6  # six runs, six places after their one step
    assert all(float(t).is_integer() for t in ax.get_xticks())  # no step 0.2


def test_a_diverged_function_run_is_marked_at_the_step_it_stopped(rosenbrock) -> None:
    (momentum,) = [r for r in rosenbrock["runs"] if r["optimizer"] == "momentum"]
    assert stops.divergence(momentum) == ("by", 2)
    ax = figures.loss_figure(rosenbrock).axes[0]
    line = _lines(ax)["Momentum"]
    assert line.get_xdata()[-1] == 2
    assert line.get_ydata()[-1] == pytest.approx(momentum["metrics"]["final_loss"])
    ((x, y),) = _crosses(ax)
    assert x == 2  # by step 2: the evaluation after its second update
    _low, top = ax.get_ylim()
    assert y == pytest.approx(top)  # 1.25e22 lies above the axis: the × sits on its top edge
    kept = np.concatenate([_lines(ax)[n].get_ydata() for n in ("SGD", "Adam")])
    assert top <= kept.max() * 10.0**figures.DIVERGED_HEADROOM * (1 + 1e-9)


def test_the_step_axis_of_updates_applied_reads_at_and_by() -> None:
    at = {"status": "diverged", "stopped_at": 19, "reason": "diverged at step 20: loss 2e8"}
    by = {"status": "diverged", "stopped_at": 19, "reason": "diverged by step 19: …"}
    assert stops.stop_step(at) == 20
    assert stops.stop_step(at, after_updates=True) == 19
    assert stops.stop_step(by) == 19
    assert stops.stop_step(by, after_updates=True) == 19
    assert stops.stop_step({"status": "ok"}) is None


def _data_document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    problem = {"kind": "mlp", "name": "test", "traits": ["data"], "description": ""}
    return {"problem": problem, "runs": runs}


def _data_run(name: str, loss: list[float], reason: str = "", stopped: int | None = None) -> dict:
    return {
        "id": name.lower(), "label": name, "group": name, "optimizer": "sgd",
        "hyperparameters": {"lr": 0.1}, "seed": 0,
        "status": "diverged" if reason else "ok", "reason": reason, "stopped_at": stopped,
        "steps": len(loss), "loss": loss, "lr": [0.1] * len(loss), "epochs": [],
        "metrics": {"final_loss": loss[-1], "best_loss": min(loss)},
    }  # fmt: skip


def test_a_batch_loss_sits_at_its_step_and_the_x_where_the_reason_says() -> None:
    loss = [4.0, 3.0, 5.0, 9.0, 20.0]  # steps 1..5; step 6's loss was past the guard
    document = _data_document(
        [
            _data_run("At", loss, "diverged at step 6: loss 1e9 is above 4e2", stopped=5),
            _data_run("By", loss, "diverged by step 5: the evaluated training loss …", 5),
        ]
    )
    ax = figures.loss_figure(document).axes[0]
    lines = _lines(ax)
    assert list(lines["At"].get_xdata()) == [1, 2, 3, 4, 5]  # loss[i] is step i + 1's
    assert sorted(x for x, _ in _crosses(ax)) == [5, 6]
    chart = next(c for c in interactive.charts(document) if c["figure"] == "loss")
    assert {t["x0"] for t in chart["traces"] if "x0" in t} == {1}


def test_the_interactive_function_loss_carries_the_final_value(bowl, rosenbrock) -> None:
    chart = next(c for c in interactive.charts(bowl) if c["figure"] == "loss")
    finals = {r["group"]: r["metrics"]["final_loss"] for r in bowl["runs"]}
    for trace in chart["traces"]:
        assert trace["x"][0] == 0
        assert trace["x"][-1] == 30
        assert trace["y"][-1] == pytest.approx(finals[trace["name"]], rel=1e-6)
    chart = next(c for c in interactive.charts(rosenbrock) if c["figure"] == "loss")
    (cross,) = [t for t in chart["traces"] if t["mode"] == "markers"]
    assert cross["x"] == [2]
    assert cross["y"][0] == pytest.approx(1.2536690518538167e22)


# --- 2. the two-decades rule fires -------------------------------------------------------------


def test_curves_that_span_six_decades_get_a_log_axis() -> None:
    scale = figures.choose_scale([[100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]])
    assert scale.kind == "log"
    assert "decades" in scale.reason


def test_a_loss_spanning_decades_is_drawn_and_worded_on_a_log_axis() -> None:
    steps = np.arange(200)
    runs = [
        _data_run("SGD", list(50.0 + 10 * np.sin(steps))),
        _data_run("Momentum", list(np.linspace(0.7, 0.1, 200))),
        _data_run("Adam", list(np.linspace(0.7, 0.6, 200))),
    ]
    document = _data_document(runs)
    assert figures.loss_figure(document).axes[0].get_yscale() == "log"
    look = figures._loss_look_for(document)
    assert "logarithmic" in look
    assert "overlap" not in look  # 0.1 and 0.6 apart by 6×: not one line


# --- 3. a diverged path's × stays on the plot --------------------------------------------------


@pytest.mark.parametrize("make", [figures.overlay_figure, figures.paths_figure])
def test_the_x_of_a_path_that_leaves_sits_where_it_crosses_the_edge(rosenbrock, make) -> None:
    fig = make(rosenbrock)
    found = [(ax, c) for ax in fig.axes for c in _crosses(ax)]
    assert len(found) == 1
    ax, (x, y) = found[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 - 1e-9 <= x <= x1 + 1e-9
    assert y0 - 1e-9 <= y <= y1 + 1e-9
    assert min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) < 1e-9  # on the frame


def test_the_x_goes_where_the_line_last_leaves(himmelblau) -> None:
    ax = figures.overlay_figure(himmelblau).axes[0]
    (momentum,) = [r for r in himmelblau["runs"] if r["optimizer"] == "momentum"]
    end = np.asarray(momentum["path"][-1])
    assert end[0] < -50
    assert end[1] < -50
    colour = _lines(ax)["Momentum"].get_color()
    (x, y) = next(
        (float(line.get_xdata()[0]), float(line.get_ydata()[0]))
        for line in ax.lines
        if line.get_marker() == "x" and line.get_color() == colour
    )
    assert x == pytest.approx(ax.get_xlim()[0]) or y == pytest.approx(ax.get_ylim()[0])
    assert len(_crosses(ax)) == 3


def test_the_paths_words_say_the_x_is_where_it_left(himmelblau, tmp_path: Path) -> None:
    drawn = {d["name"]: d for d in figures.draw(himmelblau, tmp_path)}
    assert "diverged off the plot (× where each crossed the edge)" in drawn["overlay"]["look_for"]
    assert "crossed the edge on its way out" in drawn["overlay"]["caption"]


# --- 4. accuracy overlaps: on the axis drawn, every two of a set ------------------------------


def _accuracy_run(name: str, values: list[float], seed: int = 0, **metrics: float) -> dict:
    epochs = [
        {"epoch": i + 1, "step": 10 * (i + 1), "train_accuracy": v} for i, v in enumerate(values)
    ]
    run = _data_run(name, [1.0, 0.5], "")
    run.update(id=f"{name.lower()}-{seed}", seed=seed, epochs=epochs)
    run["metrics"].update(train_accuracy=values[-1], **metrics)
    return run


def test_accuracy_overlap_is_judged_on_the_axis_drawn() -> None:
    # 0.005 apart: 0.5% of a 0-to-1 axis, but a quarter of the axis the figure draws
    base = np.linspace(0.90, 0.91, 12)
    document = _data_document(
        [_accuracy_run("Cosine", list(base)), _accuracy_run("Step", list(base + 0.005))]
    )
    ax = figures.accuracy_figure(document).axes[0]
    low, high = ax.get_ylim()
    assert low > 0.85
    assert high < 0.95
    assert not [line for line in ax.lines if line.get_linewidth() == figures.HALO_WIDTH]
    assert "overlap" not in figures._accuracy_look_for(document)


def test_overlapping_sets_hold_only_curves_that_all_overlap() -> None:
    assert figures._clusters([("a", "b"), ("b", "c")]) == [["a", "b"], ["b", "c"]]
    assert figures._clusters([("a", "b"), ("b", "c"), ("a", "c")]) == [["a", "b", "c"]]


def test_the_halo_note_breaks_lines_between_names_only() -> None:
    names = ["step decay every 3 epochs", "cosine with warm restarts", "one-cycle policy lr"]
    curve = list(np.linspace(0.5, 0.9, 12))
    document = _data_document([_accuracy_run(n, curve) for n in names])
    ax = figures.accuracy_figure(document).axes[0]
    (note,) = [t.get_text() for t in ax.texts if "Pale bands" in t.get_text()]
    lines = note.split("\n")
    for name in names:
        assert any(name in line for line in lines), (name, lines)


# --- 5. the boundary caption says whose accuracy -----------------------------------------------


def test_the_boundary_words_quote_the_run_each_panel_shows(tmp_path: Path) -> None:
    experiment = (
        experiments.builtin("moons")
        .select_optimizers(["adam"])
        .set("training.epochs", 5)
        .set("seeds", 3)
    )
    document = _race(tmp_path / "race", experiment)
    drawn = {d["name"]: d for d in figures.draw(document, tmp_path / "figs")}
    look = drawn["boundary"]["look_for"]
    seed0 = next(r for r in document["runs"] if r["seed"] == 0)
    quoted = f"seed 0's train accuracy {seed0['metrics']['train_accuracy']:.3f}"
    assert quoted in look
    assert "mean over its 3 seeds" in look


# --- 6, 7. the 2-D loss axis's ticks -----------------------------------------------------------


def _tick_labels(fig: Any) -> list[Any]:
    fig.canvas.draw()
    return [t for t in fig.axes[0].get_yticklabels() if t.get_text() and t.get_visible()]


def test_a_short_function_loss_axis_labels_plain_numbers(one_step) -> None:
    fig = figures.loss_figure(one_step)
    texts = [t.get_text() for t in _tick_labels(fig)]
    assert len(texts) >= 2
    assert not any("times" in text or "^" in text for text in texts), texts


def test_the_saddle_symlog_tick_labels_do_not_collide(tmp_path: Path) -> None:
    document = _race(tmp_path, _bowl(40, "saddle"))
    fig = figures.loss_figure(document)
    assert fig.axes[0].get_yscale() == "symlog"
    boxes = [t.get_window_extent() for t in _tick_labels(fig)]
    assert len(boxes) >= 4
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
