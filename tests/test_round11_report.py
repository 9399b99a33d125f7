"""Round 11, reports and figures: what the pages and figures say of diverged seeds, zigzags,
a function without a minimum, accuracy gaps, the best loss and ``--print-every``."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from gdlab import functions2d
from gdlab.report import figures, html, interactive

matplotlib = pytest.importorskip("matplotlib")


def _run(
    group: str,
    loss: list[float],
    *,
    seed: int = 0,
    diverged: str = "",
    path: list[list[float]] | None = None,
    epochs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    final = None if diverged else loss[-1]
    run = {
        "id": f"{group}-{seed}", "label": group, "group": group, "optimizer": "sgd",
        "hyperparameters": {"lr": 0.1}, "seed": seed,
        "status": "diverged" if diverged else "ok", "reason": diverged,
        "stopped_at": len(loss) - 1 if diverged else None, "steps": len(loss),
        "loss": loss, "lr": [0.1] * len(loss), "epochs": epochs or [],
        "metrics": {"final_loss": final, "best_loss": min(loss)},
    }  # fmt: skip
    if path is not None:
        run["path"] = path
    return run


_DATA = {"kind": "mlp", "name": "test", "traits": ["data"], "description": ""}


# --- 1. a group with a diverged seed ranks after the groups whose seeds all finished ----


def _mixed_seeds() -> list[dict[str, Any]]:
    steady = [_run("GD", [3.0, 2.0, 1.333], seed=s) for s in range(3)]
    shaky = [
        _run("Mini-batch", [3.0, 2.0, 1.687], seed=0),
        _run("Mini-batch", [3.0, 2.0, 2.407], seed=1, diverged="diverged at step 3: loss inf"),
        _run("Mini-batch", [3.0, 0.5, 0.227], seed=2),
    ]
    return [r for pair in zip(steady, shaky, strict=True) for r in pair]


def test_a_group_with_a_diverged_seed_ranks_after_the_groups_whose_seeds_all_finished() -> None:
    rows = html._ranking_rows(_mixed_seeds())
    assert [r["run"] for r in rows] == ["GD", "Mini-batch"]  # 0.957 < 1.333, but one blew up
    assert "ranks after the runs whose seeds all finished" in html._ranking_note(False, False, True)


def test_the_loss_look_for_says_a_partly_diverged_groups_seeds() -> None:
    look = figures._loss_look_for({"problem": _DATA, "runs": _mixed_seeds()})
    assert look.startswith("Lowest at the end: GD (")
    assert "Mini-batch ends at 0.957, over 2 of its 3 seeds: 1 diverged; the Summary ranks it " \
        "after the runs whose seeds all finished." in look  # fmt: skip


# --- 2, 4. the weights' paths of a regression: diverged, zigzagging, sampled ----------------


def _regression(sgd_diverged: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    straight = [[float(t), float(t)] for t in np.linspace(-4, 0, 20)]
    zigzag = [[float(t), (-1.0) ** k * 0.5] for k, t in enumerate(np.linspace(-4, 0, 20))]
    noisy = [[float(t), float(t + rng.normal(0, 0.6))] for t in np.linspace(-4, 0, 20)]
    surface = {"kind": "quadratic", "axes": ["w1", "w2"], "A": [[1.0, 0.0], [0.0, 1.0]],
               "b": [0.0, 0.0], "c": 0.0, "minimum": [0.0, 0.0]}  # fmt: skip
    problem = {"kind": "linreg", "name": "linreg", "traits": ["data", "regression"],
               "description": "", "data": {"n_train": 100}, "surface": surface}  # fmt: skip
    loss = list(np.linspace(10, 1, 20))
    reason = "diverged at step 20: loss 1e30" if sgd_diverged else ""
    runs = [
        _run("GD (all)", loss, path=straight),
        _run("SGD (1 sample)", loss, path=noisy, diverged=reason),
        _run("Mini-batch (10)", loss, path=zigzag),
    ]
    for run in runs:
        run["step_loss"] = "train"
    config = {"training": {}, "runs": [
        {"label": "GD (all)"}, {"label": "SGD (1 sample)", "batch_size": 1},
        {"label": "Mini-batch (10)", "batch_size": 10},
    ]}  # fmt: skip
    return {"problem": problem, "runs": runs, "config": config}


def test_the_weights_look_for_leaves_out_a_diverged_run_and_names_a_zigzag() -> None:
    look = figures._weights_look_for(_regression(sgd_diverged=True))
    assert "SGD (1 sample) diverged: × marks where its path stopped" in look
    assert "smoothest" not in look  # one run left that neither zigzags nor diverged
    assert "Mini-batch (10) (" in look
    assert "zigzags: most of its steps turn back" in look
    assert "fewer samples" not in look


def test_the_weights_look_for_says_fewer_samples_only_of_a_smaller_batch() -> None:
    look = figures._weights_look_for(_regression(sgd_diverged=False))
    assert "GD (all) follows the smoothest path" in look
    assert "SGD (1 sample) jitters most" in look
    assert "fewer samples (1 against 100)" in look


def test_the_weights_figure_marks_a_diverged_paths_end_with_an_x() -> None:
    import matplotlib.pyplot as plt

    fig = figures.weights_figure(_regression(sgd_diverged=True))
    try:
        left = fig.axes[0]
        ends = [line for line in left.lines if len(line.get_xdata()) == 1]
        crosses = [line for line in ends if line.get_marker() == "x"]
        assert len(crosses) == 1
        assert list(crosses[0].get_xdata()) == [0.0]  # where SGD's path stopped
    finally:
        plt.close(fig)


# --- 3, 5. a function without a minimum: the symmetric log chart, the words -------------------


def _saddle() -> dict[str, Any]:
    fn = functions2d.get("saddle")
    sgd = [[-1.5 * (-0.9) ** k, 0.001 * 3**k] for k in range(12)]  # back and forth, then out
    adam = [[-1.5 + 0.3 * k, 0.3 * k] for k in range(6)]
    runs = []
    for name, path in (("SGD", sgd), ("Adam", adam)):
        f = [float(fn.f(x, y)) for x, y in path]
        run = _run(name, f[:-1], path=path)
        run["metrics"]["final_loss"] = f[-1]
        runs.append(run)
    function = {"name": "saddle", "description": fn.description, "xlim": [-2.0, 2.0],
                "ylim": [-2.0, 2.0], "minima": [], "start": [-1.5, 0.001]}  # fmt: skip
    problem = {"kind": "function", "name": "saddle", "traits": ["function2d"],
               "description": fn.description, "function": function}  # fmt: skip
    return {"problem": problem, "runs": runs}


def test_saddle_paths_are_judged_on_what_the_figure_draws() -> None:
    fn = functions2d.get("saddle")
    look = figures._paths_look_for(_saddle(), fn, grid=False)
    assert "Zigzagging" in look
    assert "SGD over steps 1–" in look
    assert "SGD (1.00×)" not in look


def test_saddle_words_promise_no_minimum_and_no_convergence() -> None:
    fn = functions2d.get("saddle")
    results = _saddle()
    text = figures._function_loss_look_for(results, fn)
    assert "steady (linear) convergence" not in text
    assert "no minimum" in text
    captions = " ".join(p.caption for p in figures._plan(results, fn))
    assert "minimum" not in captions


def test_the_saddles_interactive_chart_is_symmetric_log_and_holds_every_value() -> None:
    curves = [np.array([2.25, -4.0, 1e3, -5.5e21]), np.array([2.25, 1.0, -93.0])]
    scale = interactive._function_scale(curves)
    assert scale["kind"] == "symlog"
    assert scale["switch"]
    assert scale["linthresh"] == 2.25  # as the static figure's (the starts' median |f|)
    for low, high in scale["ranges"].values():
        assert low < -5.5e21
        assert high > 1e3
    box = html._chart_box({"id": "chart-loss", "scale": scale})
    assert 'data-scale="symlog"' in box
    assert 'data-scale="log"' not in box
    assert interactive._function_scale([np.array([3.0, 1.0])])["kind"] != "symlog"
    huge = interactive._function_scale([np.array([2.0, -1e308, -1.7e308])])  # no inf in JSON
    assert all(np.isfinite(v).all() for v in huge["ranges"].values())


# --- 6. a diverged run's jumps are not small-batch noise -------------------------------------


def test_the_loss_look_for_calls_no_diverged_blow_up_noise() -> None:
    runs = [
        _run("SGD", [2.32, 8.34, 13022.0], diverged="diverged at step 4: loss nan"),
        _run("Adam", list(np.linspace(2.3, 0.3, 200))),
    ]
    results = {"problem": _DATA, "runs": runs}
    curves = [c for c in figures._loss_curves(results) if c.mean.size]
    assert "SGD" in figures._loss_view(curves, None).noisy  # what the sentence was said of
    look = figures._loss_look_for(results)
    assert "noisy estimate" not in look
    assert "as its legend entry says" not in look
    assert "SGD diverged: × marks the step where it did." in look


def test_a_group_with_one_diverged_seed_says_how_many_diverged() -> None:
    look = figures._loss_look_for({"problem": _DATA, "runs": _mixed_seeds()})
    assert "1 of the 3 runs of Mini-batch diverged: × marks the step where it did." in look
    assert look.count("Mini-batch diverged") == 1  # not also as if all of it had


# --- 7. the accuracy sentence says what the figure shows -------------------------------------


def _evaluations(train: list[float], test: list[float] | None) -> list[dict[str, Any]]:
    out = []
    for k, a in enumerate(train):
        entry = {"epoch": k + 1, "step": 10 * (k + 1), "train_loss": 1.0, "train_accuracy": a}
        if test is not None:
            entry["test_accuracy"] = test[k]
        out.append(entry)
    return out


def test_the_accuracy_look_for_without_held_out_lines_names_none() -> None:
    runs = [_run("SGD", [1.0, 0.5], epochs=_evaluations([0.8, 0.9], None))]
    look = figures._accuracy_look_for({"problem": _DATA, "runs": runs})
    assert "dashed" not in look
    assert "dotted" not in look
    assert "by heart" not in look


def test_the_accuracy_look_for_names_only_a_gap_that_widens() -> None:
    steady = _evaluations([0.80, 0.85, 0.90], [0.77, 0.82, 0.87])  # 3 points all along
    widening = _evaluations([0.80, 0.90, 0.99], [0.78, 0.83, 0.85])
    level = figures._accuracy_look_for(
        {"problem": _DATA, "runs": [_run("SGD", [1.0], epochs=steady)]}
    )
    assert "No solid (train) line pulls away from its dashed (test) line" in level
    runs = [_run("SGD", [1.0], epochs=steady), _run("Adam", [1.0], epochs=widening)]
    look = figures._accuracy_look_for({"problem": _DATA, "runs": runs})
    assert "Adam's solid (train) line pulls away most from its dashed (test) line: the gap " \
        "grows from 2.0 to 14.0 percentage points" in look  # fmt: skip


# --- 8. the best loss counts the start the figures plot ----------------------------------------


def test_best_f_is_never_above_the_start(tmp_path, capsys) -> None:
    from gdlab import cli

    out = tmp_path / "r"
    argv = ["race", "bowl", "--function", "rosenbrock", "--optimizers", "sgd", "--steps", "3"]
    assert cli.main([*argv, "--out", str(out), "--no-figures", "--quiet"]) == 0
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    assert run["status"] == "diverged"  # by step 1: its one loss is f at the start
    assert run["metrics"]["best_loss"] == run["loss"][0] == pytest.approx(12.5)


# --- 9. --print-every numbers a 2-D function's f as its figures do -----------------------------


def test_print_every_numbers_f_by_updates_applied_to_the_end(tmp_path) -> None:
    from gdlab import cli

    run = _run("SGD", [6.45, 3.0, 1.0, 0.5])
    run["epochs"] = [{"epoch": 4, "step": 4, "train_loss": 0.25}]  # f after the 4th update
    document = {"problem": {"traits": ["function2d"]}, "runs": [run]}
    lines = cli.loss_table(document, tmp_path, 2).splitlines()
    assert (
        lines[0]
        == "Loss per step (f, after that many updates: step 0 is the start), every 2 steps:"
    )
    assert [line.split() for line in lines[3:]] == [["0", "6.45"], ["2", "1"], ["4", "0.25"]]


def _failed_seed() -> list[dict[str, Any]]:
    """As :func:`_mixed_seeds`, Mini-batch's seed 1 failed (raised) instead of diverging."""
    runs = _mixed_seeds()
    lost = next(r for r in runs if r["group"] == "Mini-batch" and r["seed"] == 1)
    lost.update(status="failed", reason="", error="RuntimeError: boom", stopped_at=None,
                loss=[3.0, 2.0], metrics={"final_loss": None, "best_loss": None})  # fmt: skip
    return runs


def test_a_group_with_a_failed_seed_ranks_after_the_groups_whose_seeds_all_finished() -> None:
    rows = html._ranking_rows(_failed_seed())
    assert [r["run"] for r in rows] == ["GD", "Mini-batch"]  # its mean leaves one seed out
    assert "if any of its seeds diverged or failed" in html._ranking_note(False, False, True)
    look = figures._loss_look_for({"problem": _DATA, "runs": _failed_seed()})
    assert look.startswith("Lowest at the end: GD (")
    assert "over 2 of its 3 seeds: 1 failed; the Summary ranks it after" in look
