"""Selection and tuning read by a hostile user: refused arguments change nothing (the
caller's generator included) and name what was wrong; folds, seeds and ties are counted
as the statistics mean; failed tasks are not divergences; tuning refuses what it cannot
start before it writes anything."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab import tuning
from gdlab.data import Dataset, Splits
from gdlab.experiments.model import Experiment
from gdlab.problems import LinearRegression
from gdlab.race import RunSpec
from gdlab.selection import (
    Choice,
    CVResult,
    Fold,
    SearchSpace,
    Uniform,
    cross_validate,
    default_space,
    holdout_fold,
    search,
    select,
    train_fold,
)

SGD = RunSpec("SGD", "sgd")
FEW = {"steps": 3}


def regression(n=24, seed=0):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, 2))
    y = X @ np.array([1.0, -1.0]) + 0.1
    return Dataset(X, y, "toy", ("a", "b"), ("y",), "regression")


def classes(counts):
    y = np.repeat(np.arange(len(counts)), counts)
    X = np.random.default_rng(3).normal(size=(len(y), 2))
    names = tuple(f"c{c}" for c in range(len(counts)))
    return Dataset(X, y, "labels", ("a", "b"), names, "classification")


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"metric": "los", "folds": 3}, ValueError, r"^metric must be one of"),
        ({"metric": "accuracy", "folds": 3}, ValueError, r"^metric must be 'loss' for the regr"),
        (
            {"folds": 3, "validation_size": 0.2},
            ValueError,
            r"^folds and validation_size must be given one at a time",
        ),
        ({"validation_size": 0.2, "repeats": 2}, ValueError, r"^repeats must be 1 unless folds"),
        ({}, ValueError, r"^folds or validation_size must be given"),
        ({"folds": 100}, ValueError, r"^folds must be <= the 18 samples selection may use; got"),
        ({"folds": True}, TypeError, r"^folds must be an integer; got True \(bool\)"),
        ({"validation_size": 1.5}, ValueError, r"^validation_size must be in \(0, 1\); got 1.5"),
    ],
)
def test_a_refused_search_leaves_the_generator_as_it_was(kwargs, kind, message):
    # The test part is cut first: every check used to come after that draw.
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    with pytest.raises(kind, match=message):
        search(LinearRegression, "sgd", {"lr": [0.01]}, regression(), rng=rng,
               train_kwargs=FEW, test_size=0.25, **kwargs)  # fmt: skip
    assert rng.bit_generator.state == before


def test_a_search_that_fails_after_drawing_puts_the_generator_back():
    # every configuration diverges: nothing to select, after the folds were drawn
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    with pytest.raises(ValueError, match=r"no configuration to select"):
        search(LinearRegression, "sgd", {"lr": [1e7]}, regression(), rng=rng,
               train_kwargs={"steps": 20}, folds=2, test_size=0.25)  # fmt: skip
    assert rng.bit_generator.state == before
    # and a successful search still spends it, as before
    search(LinearRegression, "sgd", {"lr": [0.01]}, regression(), rng=rng, train_kwargs=FEW,
           folds=2)  # fmt: skip
    assert rng.bit_generator.state != before


def test_search_names_its_folds_argument_for_a_class_too_small():
    data = classes([10, 3])
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    with pytest.raises(ValueError, match=r"^folds must be <= the size of every class .* 'c1'"):
        search(LinearRegression, "sgd", {"lr": [0.01]}, data, rng=rng, train_kwargs=FEW,
               folds=4)  # fmt: skip
    assert rng.bit_generator.state == before


def test_search_checks_make_problem_and_stratify_before_drawing():
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    with pytest.raises(TypeError, match=r"^make_problem must be a function .*; got 3 \(int\)"):
        search(3, "sgd", {"lr": [0.01]}, regression(), rng=rng, train_kwargs=FEW, folds=2,
               test_size=0.25)  # fmt: skip
    parts = Splits(train=regression(20), validation=regression(6, seed=1), test=regression(4))
    with pytest.raises(TypeError, match=r"^stratify must be True or False; got 'yes'"):
        search(LinearRegression, "sgd", {"lr": [0.01]}, parts, rng=rng, train_kwargs=FEW,
               stratify="yes")  # fmt: skip
    assert rng.bit_generator.state == before


# --------------------------------------------------------------------------- cross-validation


def test_two_folds_with_one_number_are_refused_not_averaged_as_one():
    data = regression()
    first = holdout_fold(data, validation_size=0.25, rng=np.random.default_rng(1))
    second = holdout_fold(data, validation_size=0.25, rng=np.random.default_rng(2))
    assert (first.repeat, first.index) == (second.repeat, second.index) == (0, 0)
    # they were grouped by (repeat, index): one "fold", std 0 over two different folds
    with pytest.raises(ValueError, match=r"^folds must be numbered apart .*repeat 0, index 0"):
        cross_validate(LinearRegression, SGD, {"lr": 0.01}, data, [first, second],
                       train_kwargs=FEW)  # fmt: skip


def test_repeated_seeds_are_refused():
    data = regression()
    fold = holdout_fold(data, validation_size=0.25, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match=r"^seeds must be distinct; got \[0, 0\]"):
        cross_validate(LinearRegression, SGD, {"lr": 0.01}, data, [fold], train_kwargs=FEW,
                       seeds=(0, 0))  # fmt: skip


def test_a_fold_whose_parts_overlap_is_refused():
    with pytest.raises(ValueError, match=r"^Fold validation must be disjoint from train .*2"):
        Fold(0, 0, [0, 1, 2], [2, 3])
    with pytest.raises(ValueError, match=r"^validation_index must be disjoint from train_index"):
        train_fold(LinearRegression, SGD, regression(), np.arange(20), np.arange(18, 24),
                   rng=np.random.default_rng(0), train_kwargs=FEW)  # fmt: skip


def test_holdout_fold_can_leave_classes_unstratified():
    # a class of one sample cannot be stratified; the error said "pass stratify=False",
    # which holdout_fold did not take
    data = classes([9, 1])
    with pytest.raises(ValueError, match=r"^stratify must be False, or every class"):
        holdout_fold(data, validation_size=0.3, rng=np.random.default_rng(0))
    fold = holdout_fold(data, validation_size=0.3, rng=np.random.default_rng(0), stratify=False)
    assert (len(fold.train), len(fold.validation)) == (7, 3)


def test_train_fold_checks_keep_params_and_make_problem():
    data = regression()
    with pytest.raises(TypeError, match=r"^keep_params must be True or False; got 'no'"):
        train_fold(LinearRegression, SGD, data, np.arange(18), np.arange(18, 24),
                   rng=np.random.default_rng(0), train_kwargs=FEW, keep_params="no")  # fmt: skip
    with pytest.raises(TypeError, match=r"^make_problem must be a function"):
        train_fold(None, SGD, data, np.arange(18), np.arange(18, 24),
                   rng=np.random.default_rng(0), train_kwargs=FEW)  # fmt: skip


# --------------------------------------------------------------------------- spaces


@pytest.mark.parametrize(
    ("tune", "kind", "message"),
    [
        (("lr", "lr"), ValueError, r"^tune must be distinct names .*; got \['lr', 'lr'\]"),
        ((["lr"],), TypeError, r"^every name in tune for 'adam' must be one of lr, .*\(list\)"),
        ((), ValueError, r"^tune must be at least one hyperparameter's name; got \(\)"),
    ],
)
def test_default_space_refuses_repeated_unhashable_and_no_names(tune, kind, message):
    with pytest.raises(kind, match=message):
        default_space("adam", tune=tune)


def test_a_uniform_range_wider_than_floats_is_refused():
    # draws overflowed (OverflowError) and grid(3) was [nan, inf, 1e308]
    with pytest.raises(ValueError, match=r"^Uniform high - low must be finite"):
        Uniform(-1e308, 1e308)
    assert Uniform(-1e307, 1e307).grid(3) == [-1e307, 0.0, 1e307]


def test_choices_of_values_of_other_types_differ():
    assert Choice((1,)) != Choice((True,))
    assert Choice((1,)) != Choice((1.0,))
    assert SearchSpace({"nesterov": [True]}) != SearchSpace({"nesterov": [1]})
    assert Choice((1, 2)) == Choice([1, 2])
    assert len({Choice((1,)), Choice((1,))}) == 1


# --------------------------------------------------------------------------- ties


def result(losses, accuracies):
    runs = [
        {"repeat": 0, "fold": i, "seed": 0, "status": "ok", "steps": 1, "val_loss": loss,
         "val_accuracy": accuracy}
        for i, (loss, accuracy) in enumerate(zip(losses, accuracies, strict=True))
    ]  # fmt: skip
    return CVResult({}, "sgd", "SGD", "accuracy", runs)


def test_equal_accuracies_go_to_the_lower_loss():
    worse = result([2.0, 2.0], [0.5, 0.75])
    better = result([1.0, 1.0], [0.75, 0.5])
    assert select([worse, better], metric="accuracy") is better
    # 0.1 and 0.2 average to 0.15000000000000002: float noise is no higher accuracy
    noisy = result([2.0, 2.0], [0.1, 0.2])
    exact = result([1.0, 1.0], [0.15, 0.15])
    assert noisy.mean_accuracy > exact.mean_accuracy
    assert select([noisy, exact], metric="accuracy") is exact
    assert select([exact, result([1.0, 1.0], [0.15, 0.15])], metric="accuracy") is exact


def test_tuning_ranks_float_noise_in_accuracy_as_a_tie():
    noisy = {"mean_loss": 2.0, "mean_accuracy": 0.15000000000000002}
    exact = {"mean_loss": 1.0, "mean_accuracy": 0.15}
    assert tuning._rank(exact, "accuracy") < tuning._rank(noisy, "accuracy")


# --------------------------------------------------------------------------- tuning


def experiment(runs=None, problem=None, steps=5):
    return Experiment.from_dict(
        {
            "name": "hostile",
            "problem": problem or {"kind": "function", "function": "bowl"},
            "training": {"steps": steps},
            "runs": runs or [{"optimizer": "sgd", "lr": 0.01}],
        }
    )


def test_tuning_more_folds_than_samples_is_refused_before_writing(tmp_path):
    # every task failed, tune.json said each point "diverged" 50 times, best None
    moons = {"kind": "logreg", "data": "moons", "n_samples": 10}
    with pytest.raises(tuning.ConfigError, match=r"^--folds 50: the 10 training samples"):
        tuning.tune(experiment(problem=moons), tmp_path / "t", budget=2, folds=50,
                    progress=False)  # fmt: skip
    assert not (tmp_path / "t").exists()


def test_a_failed_task_is_counted_as_failed_not_diverged(tmp_path, monkeypatch):
    real = tuning.tune_task

    def breaks_at_lr_1(**kwargs):
        if kwargs["hyperparameters"]["lr"] == 1.0:
            raise RuntimeError("out of memory")
        return real(**kwargs)

    monkeypatch.setattr(tuning, "tune_task", breaks_at_lr_1)
    document = tuning.tune(experiment(), tmp_path / "t", budget=4, progress=False)
    c = document["configurations"]["SGD"]
    (broken,) = [p for p in c["points"] if p["hyperparameters"]["lr"] == 1.0]
    assert (broken["failed"], broken["diverged"], broken["mean_loss"]) == (1, 0, None)
    assert c["failed"][c["grid"].index(1.0)] == 1
    assert len(document["failed"]) == 1
    from gdlab import cli

    (row,) = cli._tune_table(document).splitlines()[2:]
    assert row.endswith("1 failed")  # the terminal's table says so too, apart from diverged
    assert " 0/4 " in row


def test_within_10_percent_of_a_negative_best(tmp_path):
    # a saddle's final loss goes below 0: 1.1 × best was below the best itself
    document = tuning.tune(
        experiment(problem={"kind": "function", "function": "saddle"}, steps=10),
        tmp_path / "t", budget=3, progress=False,
    )  # fmt: skip
    c = document["configurations"]["SGD"]
    best = c["best"]["mean"]
    assert best < 0
    losses = [p["mean_loss"] for p in c["points"]]
    near = [m for m in losses if m is not None and m - best <= 0.1 * abs(best)]
    assert c["within_10_percent"] == len(near) / len(losses) > 0


def test_tuning_a_schedule_with_no_initial_rate_is_refused_clearly(tmp_path):
    onecycle = [{"optimizer": "sgd", "lr": {"name": "onecycle", "max_lr": 0.1, "total_steps": 5}}]
    with pytest.raises(tuning.ConfigError, match=r"^--tune lr for run 'SGD': its lr .* no initi"):
        tuning.tune(experiment(runs=onecycle), tmp_path / "t", budget=2, progress=False)
    assert not (tmp_path / "t").exists()


def test_a_grid_past_the_limit_is_refused_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "MAX_GRID", 5, raising=False)
    adam = [{"optimizer": "adam", "lr": 0.01}]
    with pytest.raises(tuning.ConfigError, match=r"makes a grid of 6 candidates for run 'Adam'"):
        tuning.tune(experiment(runs=adam), tmp_path / "t", budget=6, tune=("lr", "eps"),
                    progress=False)  # fmt: skip
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"command": 5}, TypeError, r"^command must be a str .*; got 5 \(int\)"),
        ({"tune": ("lr", "lr")}, tuning.ConfigError, r"tune must be distinct names"),
    ],
)
def test_tune_refuses_before_writing(tmp_path, kwargs, kind, message):
    with pytest.raises(kind, match=message):
        tuning.tune(experiment(), tmp_path / "t", budget=2, progress=False, **kwargs)
    assert not (tmp_path / "t").exists()


def test_candidates_check_their_method_and_budget():
    run = experiment().runs[0]
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^method must be one of 'grid', 'random'; got 'grdi'"):
        tuning.candidates(run, ("lr",), 4, "grdi", rng)
    with pytest.raises(TypeError, match=r"^budget must be an integer; got True"):
        tuning.candidates(run, ("lr",), True, "grid", rng)
    points = tuning.candidates(run, ("lr",), 4, "grid", rng)
    assert points[0] == {"lr": 0.01}
    assert math.isclose(points[-1]["lr"], 1.0)


def test_tpe_tuning_takes_a_base_seed_past_32_bits(tmp_path):
    # TPESampler(seed=base_seed + run) raised numpy's "Seed must be between 0 and 2**32 - 1"
    pytest.importorskip("optuna")
    document = tuning.tune(experiment(), tmp_path / "t", budget=2, method="tpe",
                           base_seed=2**32, progress=False)  # fmt: skip
    assert document["configurations"]["SGD"]["best"] is not None
