"""Words of the report that must hold for what ran (round 7 fixes)."""

from __future__ import annotations

import pytest

from gdlab import cli, experiments


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_schedules_labels_state_no_rate_so_another_lr_keeps_them_true():
    # `--lr sgd=0.05` ran every schedule at 0.05, but the labels said "constant 0.1"
    labels = [run.label for run in experiments.builtin("schedules").runs]
    assert labels == [
        "constant", "1/(1 + epoch)", "0.95^epoch", "1/√epoch", "1/√t", "halve every 3 epochs",
    ]  # fmt: skip


def test_a_tuned_race_may_change_step_loss_which_tuning_ignores(capsys):
    # tuning drops step_loss from its folds: a race that records another per-step loss
    # races at the same tuned rates
    boston = ["boston", "--optimizers", "sgd", "--quiet", "--steps", "5"]
    assert cli.main(["tune", *boston, "--budget", "2", "--folds", "2", "--out", "T"]) == 0
    capsys.readouterr()
    argv = ["race", *boston, "--tuned", "T", "--set", "sgd.step_loss=batch", "--no-figures"]
    code = cli.main([*argv, "--set", "training.step_loss=batch", "--out", "R"])
    assert code == 0, capsys.readouterr().err


def _grid_series(points_by_label, widened=0):
    return {
        "kind": "tuning", "metric": "validation loss", "folds": 2, "budget": 4,
        "method": "grid",
        "configurations": {
            label: {"tuned": ["lr"], "widened": widened, "points": [{}] * n}
            for label, n in points_by_label.items()
        },
    }  # fmt: skip


def test_a_grid_that_holds_the_default_says_including_it():
    from gdlab.report import tuning_text

    # boston: 0.001, 0.01, 0.1, 1 with 0.01 its default: 4 points, not 4 besides it
    assert tuning_text.search(_grid_series({"SGD": 4})).endswith(", including its default")
    assert tuning_text.search(_grid_series({"SGD": 5})).endswith(", besides its default")
    mixed = tuning_text.search(_grid_series({"SGD": 5, "Momentum": 4}))
    assert mixed.endswith(", besides its default where it is not one of them (it is for Momentum)")


def _bowl_results(capsys, *extra):
    import json

    code = cli.main(["race", "bowl", "--quiet", "--no-figures", "--force", "--out", "B", *extra])
    assert code == 0, capsys.readouterr().err
    return json.loads(open("B/results.json", encoding="utf-8").read())


def _function(results):
    from gdlab.report import figures

    return figures._function_of(figures._problem(results) or {}, None)


def test_paths_that_leave_the_range_without_diverging_are_named(capsys):
    from gdlab.report import figures

    # rosenbrock: RMSprop ends lowest at (1.94, 3.77), above the plot's y 3; AdaGrad
    # leaves through the top at its first step and comes back
    results = _bowl_results(capsys, "--function", "rosenbrock")
    fn = _function(results)
    text = figures._paths_look_for(results, fn, grid=False)
    assert "RMSprop (at x = 1.94, y = 3.77) ends outside the plotted range, with no end" in text
    assert "AdaGrad leaves the plotted range and comes back inside" in text
    caption = figures._overlay_axes_words(results, fn)
    assert "which the paths span" not in caption
    assert "a path that goes past it is cut at the edge" in caption
    # paths that stay inside keep the old words
    inside = _bowl_results(capsys, "--set", "problem.start=[0,0]")
    assert "ends outside" not in figures._paths_look_for(inside, _function(inside), grid=False)


def test_paths_that_all_end_at_one_f_are_a_tie_not_a_lowest_and_highest(capsys):
    from gdlab.report import figures

    results = _bowl_results(capsys, "--set", "problem.start=[0,0]")
    text = figures._paths_look_for(results, _function(results), grid=False)
    assert text.startswith("All end at the same f: f = 0. "), text
    assert "Lowest f" not in text


def test_the_comparison_says_its_target_is_the_per_step_loss_not_the_summary_best():
    from gdlab.race import comparison
    from gdlab.report import html

    run = {"id": "SGD-0", "label": "SGD", "group": "SGD", "seed": 0, "status": "ok",
           "loss": [6.0, 4.0, 3.0], "metrics": {"final_loss": 3.0}}  # fmt: skip
    target, rows = comparison([run], {}, beta=0.0)
    text = html._comparison({"kind": "tuning", "comparison": rows, "target_loss": target})
    assert "Target loss 3: the highest of the lowest per-step training losses" in text
    assert "not the Summary&#x27;s best loss, the lowest at its evaluations" in text
