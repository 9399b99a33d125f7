"""Round 7: the tuned comparison counts an exact loss as it is, the overlay's caption says
what its axes show, the lr figure shows rates of 0 and the last step's rate, and the
report's tables fit a narrow screen."""

from __future__ import annotations

import pytest

from gdlab import race as racing
from gdlab.averages import ewma
from gdlab.experiments import Experiment
from gdlab.race import comparison
from gdlab.report import figures, html

# --------------------------------------------------------------------------- 1. the target


def exact_run(group, loss):
    return {"id": f"{group}-0", "label": group, "group": group, "seed": 0, "status": "ok",
            "loss": loss, "metrics": {"final_loss": loss[-1]}}  # fmt: skip


FALLING = [6.45, 5.2, 4.3, 3.5, 2.8]
SPIKE = [6.45, 1e4, 6.2, 1e-2, 1e-4]  # RMSprop's lr 10 on the bowl


def test_an_exact_loss_is_counted_as_it_is_so_a_spike_hides_no_winner():
    """The bowl's tuned race: RMSprop's loss spiked at its first update and was 0.015 by
    its third; the EWMA held the spike up for dozens of steps and the table said "—"."""
    runs = [exact_run("SGD", FALLING), exact_run("RMSprop", SPIKE)]
    target, rows = comparison(runs, {}, exact={"SGD", "RMSprop"})
    assert target == 2.8  # SGD's best raw loss, the highest best of the two
    steps = {row["group"]: row["steps_to_target"] for row in rows}
    assert steps == {"SGD": 5, "RMSprop": 4}
    assert {row["target_curve"] for row in rows} == {"raw"}


def test_a_mini_batch_loss_is_still_smoothed():
    runs = [exact_run("SGD", FALLING), exact_run("RMSprop", SPIKE)]
    target, rows = comparison(runs, {})  # no run named exact: all noisy
    assert target == ewma(FALLING, 0.9, bias_correction=True)[-1]
    assert {row["target_curve"] for row in rows} == {"smoothed"}


def test_the_comparison_records_its_beta():
    runs = [exact_run("SGD", FALLING), exact_run("RMSprop", SPIKE)]
    target, rows = comparison(runs, {}, beta=0.5)
    assert target == ewma(FALLING, 0.5, bias_correction=True)[-1]
    assert [row["beta"] for row in rows] == [0.5, 0.5]
    text = html._comparison({"kind": "tuning", "comparison": rows, "target_loss": target})
    assert "(β 0.5)" in text
    assert "β 0.9" not in text


def _exact(problem, training):
    experiment = Experiment.from_dict(
        {"name": "m", "problem": problem, "training": training,
         "optimizers": {"names": ["sgd"], "lr": {"sgd": 0.1}}}
    )  # fmt: skip
    built = racing.prepare(experiment)
    return [racing.exact_loss(experiment, run, built) for run in experiment.runs]


XOR = {"kind": "mlp", "data": "xor", "n_samples": 100, "hidden": [3], "output": "sigmoid"}


@pytest.mark.parametrize(
    ("problem", "training", "exact"),
    [(XOR, {"epochs": 3}, True), (XOR, {"epochs": 3, "evaluate_every": 2}, True),
     (XOR, {"epochs": 3, "batch_size": 100}, True),
     # with replacement: a batch of the set's size is still a sample
     (XOR, {"epochs": 3, "batch_size": 100, "batching": "random"}, False),
     (XOR, {"epochs": 3, "batch_size": 32}, False), (XOR, {"steps": 5, "batch_size": 32}, False),
     # full batch, but a fresh dropout mask each step: 0.8132, 0.8487, 0.8389, 0.8017, …
     ({**XOR, "hidden": [16], "dropout": 0.5}, {"epochs": 20}, False),
     ({"kind": "function", "function": "bowl"}, {"steps": 5}, True),
     # the whole training set's loss at each step: exact whatever the batches
     (XOR, {"steps": 5, "batch_size": 32, "step_loss": "train"}, True),
     ({**XOR, "hidden": [16], "dropout": 0.5}, {"epochs": 2, "step_loss": "train"}, True)],
)  # fmt: skip
def test_which_runs_loss_is_exact(problem, training, exact):
    assert _exact(problem, training) == [exact]


def test_a_tuned_race_with_dropout_smooths_its_loss(tmp_path):
    experiment = Experiment.from_dict(
        {"name": "d", "problem": {**XOR, "hidden": [16], "dropout": 0.5},
         "training": {"epochs": 20}, "optimizers": {"names": ["sgd"], "lr": {"sgd": 0.5}}}
    )  # fmt: skip
    document = racing.run_experiment(
        experiment, tmp_path, progress=False, figures=False, series={"kind": "tuning"}
    )
    (row,) = document["series"]["comparison"]
    assert row["target_curve"] == "smoothed"


def test_a_function_race_counts_its_loss_as_it_is(tmp_path):
    experiment = Experiment.from_dict(
        {"name": "b", "problem": {"kind": "function", "function": "bowl"},
         "training": {"steps": 6}, "optimizers": {"names": ["sgd", "rmsprop"],
                                                   "lr": {"sgd": 0.95, "rmsprop": 10.0}}}
    )  # fmt: skip
    document = racing.run_experiment(
        experiment, tmp_path, progress=False, figures=False, series={"kind": "tuning"}
    )
    rows = document["series"]["comparison"]
    assert [row["target_curve"] for row in rows] == ["raw", "raw"]
    assert {row["group"]: row["steps_to_target"] for row in rows}["RMSprop"] is not None


@pytest.mark.parametrize(
    ("kinds", "words"),
    [(["raw"], "the loss as it is, since it is exact"),
     (["smoothed"], "smoothed by a bias-corrected exponentially weighted average (β 0.9)"),
     (["raw", "smoothed"], "for the configurations whose loss is noisy")],
)  # fmt: skip
def test_the_comparison_note_says_which_loss_it_counted(kinds, words):
    rows = [{"group": f"g{k}", "target_curve": kind, "steps_to_target": 3, "seeds": 1,
             "diverged": 0, "failed": 0} for k, kind in enumerate(kinds)]  # fmt: skip
    text = html._comparison({"kind": "tuning", "comparison": rows, "target_loss": 0.5})
    assert "Counted: " in text
    assert words in text


# --------------------------------------------------------------------------- 2. the overlay


def _bowl(paths):
    return {
        "problem": {"kind": "function", "traits": ["function2d"],
                    "function": {"name": "bowl", "xlim": [-10, 10], "ylim": [-5, 5],
                                 "minima": [[0, 0]]}},
        "runs": [{"id": f"r{k}", "label": f"r{k}", "group": f"r{k}", "seed": 0,
                  "status": "ok", "loss": [1.0] * len(p), "lr": [0.1] * len(p), "path": p,
                  "metrics": {}} for k, p in enumerate(paths)],
    }  # fmt: skip


def _caption(results, name):
    return next(p.caption for p in figures._plan(results) if p.name == name)


def test_a_zoomed_overlay_says_so_and_to_what():
    results = _bowl([[[-7, 2], [-3, 1], [-1, -2], [0.5, 0.0]]])
    caption = _caption(results, "overlay")
    assert "Axes keep the function's range" not in caption
    assert "zoomed to the paths and the minimum" in caption
    assert "of the function's range x -10 to 10, y -5 to 5" in caption
    fig = figures.overlay_figure(results)
    (low, high), _ = fig.axes[0].get_xlim(), fig.axes[0].get_ylim()
    span = caption.split("minimum (x ")[1].split(",")[0]
    assert span == f"{low:.3g} to {high:.3g}"


def test_an_overlay_of_paths_across_the_range_keeps_it():
    caption = _caption(_bowl([[[-10, 5], [10, -5], [0.0, 0.0]]]), "overlay")
    assert "Axes keep the function's range (x -10 to 10, y -5 to 5)" in caption


# --------------------------------------------------------------------------- 3. the rates


@pytest.mark.parametrize(
    ("rates", "expected"),
    [([[0.1, 0.001]], ("log", None)), ([[0.0, 0.1, 0.4, 0.0], [0.3]], ("symlog", 0.1)),
     ([[0.0, 0.0]], ("linear", None)), ([], ("linear", None)),
     ([[0.0, 1.0, 1e-30]], ("symlog", 1e-12))],
)  # fmt: skip
def test_lr_scale(rates, expected):
    assert figures.lr_scale(rates) == expected


WARMUP = [0.0, 0.133, 0.267, 0.4, 0.341, 0.2, 0.059, 0.0]


def _lr_results(*rates):
    results = _bowl([[[1.0, 1.0]] * len(r) for r in rates])
    for run, r in zip(results["runs"], rates, strict=True):
        run["lr"] = list(r)
    return results


def test_lr_figure_shows_zeros_and_the_last_level():
    fig = figures.lr_figure(_lr_results(WARMUP, [0.3] * 8))
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog"
    x, y = ax.lines[0].get_data()
    assert list(x) == list(range(9))
    assert list(y) == [*WARMUP, 0.0]
    assert ax.get_ylim()[0] < 0.0  # 0 inside the frame
    caption = _caption(_lr_results(WARMUP), "lr")
    assert "symmetric log scale: linear from 0 (the bottom) to 0.059" in caption


def test_lr_figure_of_positive_rates_stays_log_and_draws_the_last_step():
    onecycle = [0.016, 0.35, 0.4, 0.2, 0.01, 2e-6]
    ax = figures.lr_figure(_lr_results(onecycle)).axes[0]
    assert ax.get_yscale() == "log"
    x, y = ax.lines[0].get_data()
    assert x[-1] == 6
    assert y[-1] == y[-2] == 2e-6
    assert "log scale;" in _caption(_lr_results(onecycle), "lr")


# --------------------------------------------------------------------------- 4. narrow


def test_the_runs_table_says_what_it_is_above_it_not_in_a_caption():
    text = html._table(_bowl([[[1.0, 1.0]]])["runs"])
    assert "<caption>" not in text
    note = text.index('<p class="table-note" id="runs-note">One row per run.')
    assert note < text.index('<div class="table-wrap">')
    assert 'aria-describedby="runs-note"' in text


def test_the_summary_wraps_on_a_narrow_screen():
    narrow = html._CSS.split("@media (max-width: 40rem)")[1].split("\n}\n")[0]
    assert "table.ranking td { white-space: normal; }" in narrow


# --------------------------------------------------------------------------- 5. one rule each


def test_the_sensitivity_chart_takes_the_figures_log_ratio():
    from gdlab.report import interactive

    assert interactive.SENSITIVITY_LOG_RATIO is figures.SENSITIVITY_LOG_RATIO


@pytest.mark.parametrize(
    ("rates", "threshold"),
    [([[0.0, 1e-300, 1.0]], 1e-12), ([[0.0, 0.2, 0.05]], 0.05), ([[-1e-200, 0.0, 10.0]], 1e-11)],
)
def test_lr_scale_and_the_loss_scale_share_one_symlog_threshold(rates, threshold):
    assert figures.lr_scale(rates) == ("symlog", pytest.approx(threshold))
    sizes = [abs(v) for v in rates[0] if v]
    assert figures._symlog_threshold(min(sizes), max(sizes)) == pytest.approx(threshold)


def test_the_overlay_sets_its_function_up_once(monkeypatch):
    calls = []
    setup = figures._function_setup

    def counted(*args, **kwargs):
        calls.append(args[2])
        return setup(*args, **kwargs)

    monkeypatch.setattr(figures, "_function_setup", counted)
    figures.overlay_figure(_bowl([[[-7, 2], [-3, 1], [0.5, 0.0]]]), resolution=8, levels=3)
    assert calls == ["overlay"]


def test_a_warm_up_runs_label_gives_the_rate_it_warms_up_to():
    """A warm-up from 0 labelled its run "lr0=0" (the first rate drawn): the label gives
    the schedule's initial rate as configured, the rate it warms up to."""
    from gdlab.report.figures import _run_title

    cosine = {"name": "cosine", "lr0": 0.4, "decay_steps": 4}
    warmup = {"name": "warmup", "warmup_steps": 3, "schedule": cosine, "start_lr": 0.0}
    record = {"label": "SGD", "hyperparameters": {"lr": {"schedule": warmup}}, "lr": [0.0, 0.13]}
    assert _run_title(record) == "SGD (lr0=0.4)"
    assert _run_title({**record, "hyperparameters": {"lr": warmup}}) == "SGD (lr0=0.4)"
    # a schedule without an initial rate (a join) keeps the first rate drawn
    join = {"name": "join", "boundaries": [2], "schedules": [cosine, cosine]}
    assert _run_title({**record, "hyperparameters": {"lr": join}}) == "SGD (lr0=0)"
    assert _run_title({"label": "SGD", "hyperparameters": {"lr": 0.5}}) == "SGD (lr=0.5)"
