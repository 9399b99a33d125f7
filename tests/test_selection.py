"""Model selection (seed 002): K-fold, search spaces, cross-validation, refit and ensemble."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from gdlab.data import Dataset, Splits, moons
from gdlab.optim import OPTIMIZERS, create
from gdlab.problems import LinearRegression, LogisticRegression
from gdlab.race import RunSpec
from gdlab.selection import (
    Choice,
    CVResult,
    Fold,
    LogUniform,
    SearchSpace,
    Uniform,
    cross_validate,
    default_space,
    ensemble_predict,
    holdout,
    kfold,
    majority_vote,
    search,
    select,
    train_fold,
)


def rng(seed=0):
    return np.random.default_rng(seed)


def labelled(counts):
    """A classification data set with ``counts[c]`` samples of class ``c``, in class order."""
    y = np.repeat(np.arange(len(counts)), counts)
    X = rng(5).normal(size=(len(y), 2))
    names = tuple(f"class{c}" for c in range(len(counts)))
    return Dataset(X, y, "toy", ("x1", "x2"), names, "classification")


def noiseless_regression(n=120, seed=0):
    """``y = X·w + b`` exactly, features with deviation 1.5 (so the MSE Hessian's
    largest eigenvalue is about 5.9 and the stability bound 2/λ_max about 0.34)."""
    r = rng(seed)
    X = r.normal(size=(n, 3)) * 1.5
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    return Dataset(X, y, "noiseless", ("a", "b", "c"), ("y",), "regression")


def offset_classes(n=80, seed=0):
    """Two separable classes on one feature far from the origin (x in [2, 3.5] vs [4.5, 6]).

    From zero weights, logistic regression must drive the bias to about −4·w
    before it separates them; until then it calls everything class 1.
    """
    r = rng(seed)
    y = np.repeat([0, 1], n // 2)
    x = np.where(y == 0, r.uniform(2.0, 3.5, n), r.uniform(4.5, 6.0, n))
    return Dataset(x[:, None], y, "offset", ("x",), ("low", "high"), "classification")


def stability_bound(X):
    """2/λ_max of the MSE Hessian ``(2/n)·[X 1]ᵀ[X 1]``: full-batch GD is stable below it."""
    A = np.column_stack([X, np.ones(len(X))])
    return 2 / np.linalg.eigvalsh(2 / len(A) * A.T @ A).max()


SGD = RunSpec("SGD", "sgd")


# --------------------------------------------------------------------------- K-fold and holdout


def assert_partition(folds, n, k, repeats):
    assert len(folds) == k * repeats
    assert [(f.repeat, f.index) for f in folds] == [
        (r, i) for r in range(repeats) for i in range(k)
    ]
    for r in range(repeats):
        per_repeat = [f for f in folds if f.repeat == r]
        validated = np.concatenate([f.validation for f in per_repeat])
        # every sample validates exactly once per repeat
        np.testing.assert_array_equal(np.sort(validated), np.arange(n))
        sizes = [len(f.validation) for f in per_repeat]
        assert max(sizes) - min(sizes) <= 1
        for f in per_repeat:
            assert len(np.intersect1d(f.train, f.validation)) == 0
            np.testing.assert_array_equal(np.union1d(f.train, f.validation), np.arange(n))


@pytest.mark.parametrize("repeats", [1, 3])
def test_kfold_covers_every_sample_once_per_repeat(repeats):
    assert_partition(kfold(23, 5, rng=rng(), repeats=repeats), 23, 5, repeats)


@pytest.mark.parametrize("repeats", [1, 3])
def test_stratified_kfold_covers_every_sample_and_keeps_proportions(repeats):
    data = labelled([60, 30, 10])
    folds = kfold(data, 5, rng=rng(), repeats=repeats)  # stratified: classification data
    assert_partition(folds, data.n_samples, 5, repeats)
    for f in folds:
        assert np.bincount(data.y[f.validation], minlength=3).tolist() == [12, 6, 2]
        assert np.bincount(data.y[f.train], minlength=3).tolist() == [48, 24, 8]


def test_kfold_unstratified_on_request_and_for_regression():
    data = labelled([60, 30, 10])
    folds = kfold(data, 5, rng=rng(), stratify=False)
    assert_partition(folds, 100, 5, 1)
    # Unstratified folds of these sizes almost never keep 12/6/2 in all five folds.
    counts = [np.bincount(data.y[f.validation], minlength=3).tolist() for f in folds]
    assert counts != [[12, 6, 2]] * 5
    assert_partition(kfold(noiseless_regression(30), 4, rng=rng()), 30, 4, 1)


def test_kfold_is_reproducible_from_the_generator():
    a = kfold(50, 5, rng=rng(7), repeats=2)
    b = kfold(50, 5, rng=rng(7), repeats=2)
    c = kfold(50, 5, rng=rng(8), repeats=2)
    assert all(np.array_equal(x.validation, y.validation) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.validation, y.validation) for x, y in zip(a, c, strict=True))
    # repeats shuffle anew
    assert not np.array_equal(a[0].validation, a[5].validation)
    assert json.loads(json.dumps(a[0].to_dict()))["validation"] == a[0].validation.tolist()
    assert repr(a[0]) == "Fold(repeat=0, index=0, train=40 samples, validation=10 samples)"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: kfold(10, 1, rng=rng()), ValueError, r"k must be an integer >= 2; got 1"),
        (lambda: kfold(10, 11, rng=rng()), ValueError, r"k must be <= the number of samples"),
        (
            lambda: kfold(labelled([10, 3]), 4, rng=rng()),
            ValueError,
            r"k must be <= the size of every class .* \(class 1 'class1' has 3 samples\)",
        ),
        (
            lambda: kfold(10, 2, rng=rng(), stratify=True),
            ValueError,
            r"stratify must be False or None for a sample count",
        ),
        (
            lambda: kfold(noiseless_regression(20), 2, rng=rng(), stratify=True),
            ValueError,
            r"stratify must be False or None for the regression data set",
        ),
        (lambda: kfold(10, 2, rng=rng(), repeats=0), ValueError, r"repeats must be an integer"),
        (lambda: kfold(10, 2, rng=0), TypeError, r"rng must be a numpy.random.Generator"),
        (lambda: kfold("10", 2, rng=rng()), TypeError, r"n_or_dataset must be a number"),
    ],
)
def test_kfold_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_kfold_with_exactly_k_per_class_is_fine():
    folds = kfold(labelled([10, 4]), 4, rng=rng())
    assert all(np.bincount(labelled([10, 4]).y[f.validation])[1] == 1 for f in folds)


def test_holdout_sizes_and_stratification():
    data = moons(100, rng=rng())
    parts = holdout(data, validation_size=0.25, test_size=0.15, rng=rng(1))
    sizes = (parts.train.n_samples, parts.validation.n_samples, parts.test.n_samples)
    assert sizes == (60, 25, 15)
    assert np.bincount(parts.train.y).tolist() == [30, 30]
    empty = holdout(data, validation_size=0.2, test_size=0, rng=rng(1))
    assert (empty.train.n_samples, empty.validation.n_samples, empty.test.n_samples) == (80, 20, 0)
    assert empty.test.n_features == 2
    with pytest.raises(ValueError, match=r"validation_size must be in \(0, 1\); got 0"):
        holdout(data, validation_size=0, test_size=0.2, rng=rng())
    with pytest.raises(ValueError, match=r"test_size \+ validation_size must be < 1"):
        holdout(data, validation_size=0.5, test_size=0.5, rng=rng())


# --------------------------------------------------------------------------- search spaces


def test_grid_is_the_cartesian_product_with_exact_end_points():
    space = SearchSpace({"lr": LogUniform(1e-4, 1e-1), "beta2": [0.99, 0.999], "eps": 1e-8})
    grid = space.grid(4)
    assert len(grid) == space.grid_size(4) == 8
    assert [c["beta2"] for c in grid[:2]] == [0.99, 0.999]  # the last name varies fastest
    lrs = sorted({c["lr"] for c in grid})
    assert lrs[0] == 1e-4
    assert lrs[-1] == 1e-1
    np.testing.assert_allclose(lrs, [1e-4, 1e-3, 1e-2, 1e-1], rtol=1e-12)
    assert all(c["eps"] == 1e-8 for c in grid)
    assert all(type(c["lr"]) is float for c in grid)
    assert Uniform(0.5, 0.9).grid(5) == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert Choice(["a", "b"]).grid(7) == ["a", "b"]
    assert SearchSpace({}).grid(3) == [{}]


def test_space_size_and_repr():
    assert SearchSpace({"a": [1, 2, 3], "b": Choice((True, False))}).size == 6
    assert SearchSpace({"lr": Uniform(0, 1)}).size == math.inf
    space = SearchSpace({"lr": LogUniform(1e-3, 1), "m": Uniform(0, 0.5), "f": "torch"})
    assert repr(space) == (
        "SearchSpace({'lr': LogUniform(0.001, 1), 'm': Uniform(0, 0.5), 'f': Choice(['torch'])})"
    )


def test_sampling_stays_in_bounds_and_log_uniform_is_even_in_log():
    r = rng(3)
    lr = LogUniform(1e-6, 1.0)
    draws = np.array([lr.sample(r) for _ in range(4000)])
    assert draws.min() >= 1e-6
    assert draws.max() <= 1.0
    # Even in log: the median of log10 is the log midpoint, -3 (a plain uniform would give -0.3).
    assert np.median(np.log10(draws)) == pytest.approx(-3.0, abs=0.15)
    assert np.mean(draws < 1e-3) == pytest.approx(0.5, abs=0.04)
    u = np.array([Uniform(-1, 3).sample(r) for _ in range(4000)])
    assert u.min() >= -1
    assert u.max() <= 3
    assert np.median(u) == pytest.approx(1.0, abs=0.15)
    picks = [Choice((1, "x", None)).sample(r) for _ in range(3000)]
    assert {p: picks.count(p) / 3000 for p in (1, "x", None)} == pytest.approx(
        {1: 1 / 3, "x": 1 / 3, None: 1 / 3}, abs=0.04
    )


def test_space_sample_is_reproducible():
    space = default_space("adam", tune=("lr", "beta1", "eps"))
    a, b = space.sample(20, rng(1)), space.sample(20, rng(1))
    assert a == b
    assert all(set(c) == {"lr", "beta1", "eps"} for c in a)
    assert all(1e-4 <= c["lr"] <= 1e-1 and 1e-10 <= c["eps"] <= 1e-4 for c in a)


def test_space_config_round_trip_through_json():
    space = SearchSpace(
        {"lr": LogUniform(1e-4, 1e-1), "m": Uniform(0.1, 0.9), "beta2": [0.99, 0.999], "f": "book"}
    )
    config = json.loads(json.dumps(space.to_config()))
    assert config["lr"] == {"type": "loguniform", "low": 1e-4, "high": 1e-1}
    assert SearchSpace.from_config(config) == space
    assert SearchSpace.from_config(config).grid(3) == space.grid(3)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: LogUniform(0, 1), ValueError, r"LogUniform low must be > 0; got 0"),
        (lambda: LogUniform(1, 1), ValueError, r"LogUniform high must be > low = 1.0; got 1"),
        (lambda: Uniform(2, 1), ValueError, r"Uniform high must be > low"),
        (lambda: Choice([]), ValueError, r"Choice values must be at least one value"),
        (lambda: Choice([1, 1]), ValueError, r"Choice values must be distinct"),
        (lambda: Choice("ab"), TypeError, r"Choice values must be a sequence"),
        (lambda: Choice([[1]]), TypeError, r"every Choice value must be None, a bool"),
        (lambda: LogUniform(1e-3, 1).grid(1), ValueError, r"points must be an integer >= 2"),
        (lambda: SearchSpace([("lr", 1)]), TypeError, r"params must be a mapping"),
        (
            lambda: SearchSpace.from_config({"lr": {"type": "normal"}}),
            ValueError,
            r"config\['lr'\]\['type'\] must be one of 'loguniform', 'uniform', 'choice'",
        ),
    ],
)
def test_space_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_default_space_for_every_optimizer(name):
    space = default_space(name)
    assert space.names == ("lr",)
    low, high = OPTIMIZERS[name].lr_range
    assert space.params["lr"] == LogUniform(low, high)
    assert low <= OPTIMIZERS[name]().lr <= high  # the class default lies in the range
    everything = default_space(name.upper(), tune=tuple(OPTIMIZERS[name].tunable))
    for config in everything.sample(5, rng()) + everything.grid(2)[:8]:
        create(name, **config)  # every value is a valid hyperparameter


def test_default_space_choices_and_errors():
    assert default_space("rmsprop", tune=("lr", "decay")).names == ("lr", "alpha")
    assert default_space("adadelta", tune=("decay",)).params["rho"] == Choice(
        (0.9, 0.95, 0.99, 0.999)
    )
    assert default_space("nesterov", tune=("momentum",)).params["momentum"].grid(0) == [
        0.5,
        0.9,
        0.95,
        0.99,
    ]
    with pytest.raises(ValueError, match=r"optimizer must be one of sgd, momentum, .*radam"):
        default_space("newton")  # no such optimizer (L-BFGS, "lbfgs", is one now)
    with pytest.raises(ValueError, match=r"tune for 'sgd' must be among lr, weight_decay"):
        default_space("sgd", tune=("lr", "beta1"))
    with pytest.raises(TypeError, match=r"tune must be a sequence"):
        default_space("sgd", tune="lr")


# --------------------------------------------------------------------------- cross-validation


LRS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]


def test_selection_finds_the_largest_stable_learning_rate():
    """Noiseless least squares, 50 full-batch SGD steps: below 2/λ_max GD converges at the
    rate max|1 − lr·λ|, so the largest stable candidate fits best; above it, it diverges."""
    data = noiseless_regression()
    folds = kfold(data, 4, rng=rng(1))
    bounds = [stability_bound(data.X[f.train]) for f in folds]
    expected = max(lr for lr in LRS if lr < min(bounds))
    assert all(bound < 1.0 for bound in bounds)  # 1.0 and 10.0 are unstable on every fold
    assert expected == 0.1
    results = [
        cross_validate(LinearRegression, SGD, {"lr": lr}, data, folds, train_kwargs={"steps": 50})
        for lr in LRS
    ]
    best = select(results)
    assert best.config == {"lr": expected}
    assert best.mean_loss < 1e-8
    assert best.status == "ok"
    by_lr = {r.config["lr"]: r for r in results}
    for lr in (1.0, 10.0):
        r = by_lr[lr]
        assert r.status == "diverged"
        assert r.n_diverged == 4
        assert r.mean_loss == math.inf
        assert r.fold_loss == [math.inf] * 4
        assert all(run["steps"] < 50 for run in r.runs)
    # below the bound, the loss falls as lr grows
    stable = [by_lr[lr].mean_loss for lr in LRS if lr < min(bounds)]
    assert stable == sorted(stable, reverse=True)
    # plain data, strict JSON: the diverged folds' inf become null
    document = json.loads(json.dumps(by_lr[10.0].to_dict(), allow_nan=False))
    assert document["mean_loss"] is None
    assert document["status"] == "diverged"
    assert document["runs"][0]["val_loss"] is None


def test_selection_by_accuracy_on_a_classification_problem():
    """Off-centre separable classes, logistic regression from zero, 100 full-batch steps:
    small steps leave the bias near zero (everything called class 1: the accuracy is the
    share of class 1 in each validation fold), lr = 1e6 diverges (accuracy 0 by rule),
    lr = 10 separates the classes on every fold and wins."""
    data = offset_classes()
    folds = kfold(data, 4, rng=rng(10))
    candidates = [1e-3, 1e-2, 10.0, 1e6]
    results = [
        cross_validate(
            LogisticRegression,
            SGD,
            {"lr": lr},
            data,
            folds,
            train_kwargs={"steps": 100},
            metric="accuracy",
        )
        for lr in candidates
    ]
    shares = [float(np.mean(data.y[f.validation] == 1)) for f in folds]
    assert results[0].fold_accuracy == shares
    assert results[1].fold_accuracy == shares
    assert results[2].fold_accuracy == [1.0] * 4
    assert results[3].status == "diverged"
    assert results[3].fold_accuracy == [0.0] * 4
    assert results[3].mean_accuracy == 0.0
    best = select(results, metric="accuracy")
    assert best.config == {"lr": 10.0}
    assert best.score() == 1.0
    # ties go to the first given
    assert select([results[2], results[2]], metric="accuracy") is results[2]


def cv_result(losses, accuracies=None, config=None):
    """A hand-made CVResult: one run per fold (``inf`` loss: diverged)."""
    runs = []
    for i, loss in enumerate(losses):
        run = {
            "repeat": 0,
            "fold": i,
            "seed": 0,
            "status": "diverged" if loss == math.inf else "ok",
            "steps": 1,
            "val_loss": loss,
        }
        if accuracies is not None:
            run["val_accuracy"] = accuracies[i]
        runs.append(run)
    return CVResult(config or {}, "sgd", "SGD", "loss", runs)


def test_select_rules():
    a = cv_result([1.0, 3.0], [0.5, 0.7], {"lr": 1})
    b = cv_result([2.0, 2.0], [0.9, 0.3], {"lr": 2})  # same mean loss and accuracy as a
    c = cv_result([0.5, math.inf], [1.0, 0.0], {"lr": 3})  # one fold diverged
    assert (a.mean_loss, a.std_loss, a.mean_accuracy) == (2.0, 1.0, pytest.approx(0.6))
    assert select([a, b]) is a
    assert select([b, a]) is b
    assert select([a, b], metric="accuracy") is a
    assert select([b, a], metric="accuracy") is b
    assert c.status == "partial"
    assert c.mean_loss == math.inf
    assert c.mean_accuracy == 0.5
    assert select([c, a]) is a  # a diverged fold never wins on loss
    assert select([c, cv_result([1.0, 1.0], [0.4, 0.4])], metric="accuracy") is c
    dead = cv_result([math.inf, math.inf], [0.0, 0.0], {"lr": 9})
    assert dead.status == "diverged"
    with pytest.raises(ValueError, match=r"all 2 diverged on at least one fold"):
        select([dead, c])
    with pytest.raises(ValueError, match=r"all 1 diverged on every fold"):
        select([dead], metric="accuracy")
    with pytest.raises(ValueError, match=r"metric must be 'loss' for a regression problem"):
        select([cv_result([1.0])], metric="accuracy")
    with pytest.raises(TypeError, match=r"results must be a non-empty list of CVResult"):
        select([])


def test_cross_validate_runs_every_fold_and_seed_and_keeps_params():
    data = noiseless_regression(40)
    folds = kfold(data, 3, rng=rng())
    result = cross_validate(
        LinearRegression,
        lambda config: RunSpec("Momentum", "momentum", hyperparameters=config),
        {"lr": 0.01},
        data,
        folds,
        train_kwargs={"epochs": 5, "batch_size": 8},
        seeds=(0, 1),
        keep_params=True,
    )
    assert [(r["fold"], r["seed"]) for r in result.runs] == [
        (f, s) for f in range(3) for s in (0, 1)
    ]
    assert result.steps == [20, 20, 20, 20, 20, 20]  # 27 training samples, batches of 8
    assert len(result.fold_loss) == 3
    assert result.fold_accuracy is None
    assert result.optimizer == "momentum"
    assert result.label == "Momentum"
    assert len(result.models) == 6
    assert set(result.models[0]) == {"w", "b"}
    assert not any("params" in run for run in result.runs)
    # the seeds give different batches, hence (slightly) different models
    assert not np.array_equal(result.models[0]["w"], result.models[1]["w"])


def test_train_fold_is_plain_data_in_and_out():
    data = noiseless_regression(30)
    record = train_fold(
        LinearRegression,
        RunSpec("SGD", "sgd", hyperparameters={"lr": 0.1}),
        data,
        np.arange(20),
        np.arange(20, 30),
        rng=rng(),
        train_kwargs={"steps": 30},
        keep_params=True,
    )
    assert record["status"] == "ok"
    assert record["steps"] == 30
    assert record["val_loss"] < 1e-3
    assert "val_accuracy" not in record
    params = record.pop("params")
    json.dumps(record, allow_nan=False)
    assert set(params) == {"w", "b"}


def test_cross_validate_argument_errors():
    data = noiseless_regression(20)
    folds = kfold(data, 2, rng=rng())
    with pytest.raises(ValueError, match=r"train_kwargs must be free of 'rng'"):
        cross_validate(LinearRegression, SGD, {}, data, folds, train_kwargs={"rng": rng()})
    with pytest.raises(TypeError, match=r"callbacks'\] must be a function returning fresh"):
        cross_validate(
            LinearRegression, SGD, {}, data, folds, train_kwargs={"steps": 1, "callbacks": []}
        )
    with pytest.raises(ValueError, match=r"lr must be"):
        cross_validate(LinearRegression, SGD, {"lr": -1.0}, data, folds, train_kwargs={"steps": 1})
    with pytest.raises(ValueError, match=r"metric must be 'loss' for the regression data set"):
        cross_validate(
            LinearRegression, SGD, {}, data, folds, train_kwargs={"steps": 1}, metric="accuracy"
        )
    with pytest.raises(TypeError, match=r"folds must be a non-empty list of Fold"):
        cross_validate(LinearRegression, SGD, {}, data, [], train_kwargs={"steps": 1})


def test_callbacks_are_made_fresh_for_every_run():
    from gdlab.train import EarlyStopping

    made = []

    def callbacks():
        made.append(EarlyStopping(patience=0, monitor="val_loss"))
        return [made[-1]]

    data = noiseless_regression(30)
    folds = kfold(data, 3, rng=rng())
    cross_validate(
        LinearRegression,
        SGD,
        {"lr": 0.01},
        data,
        folds,
        train_kwargs={"steps": 5, "callbacks": callbacks, "validation": "validation"},
    )
    assert len(made) == 3
    assert len({id(cb) for cb in made}) == 3


# --------------------------------------------------------------------------- ensembles


def test_majority_vote_by_hand():
    predictions = np.array(
        [
            [0, 1, 2, 2, 1, 0],
            [1, 1, 2, 0, 2, 2],
            [1, 0, 0, 1, 2, 1],
        ]
    )
    # columns: 1 wins 2:1; 1 wins 2:1; 2 wins 2:1; three-way tie -> 0; 2 wins; tie -> 0
    assert majority_vote(predictions).tolist() == [1, 1, 2, 0, 2, 0]
    # two-way ties go to the lower class, whatever the order of the models
    assert majority_vote([[3, 1], [1, 3]]).tolist() == [1, 1]
    assert majority_vote([[2, 2]], n_classes=5).tolist() == [2, 2]
    with pytest.raises(ValueError, match=r"predictions must be non-negative integer class"):
        majority_vote([[0.5, 1.0]])
    with pytest.raises(ValueError, match=r"n_classes must be an integer >= 4"):
        majority_vote([[3]], n_classes=2)


def test_ensemble_predict_mean_for_regression_and_vote_for_classifiers():
    data = noiseless_regression(10)
    problem = LinearRegression(data)
    models = [
        {"w": np.array([1.0, 0.0, 0.0]), "b": np.array([0.0])},
        {"w": np.array([3.0, 0.0, 0.0]), "b": np.array([2.0])},
        {"w": np.array([2.0, 3.0, 0.0]), "b": np.array([1.0])},
    ]
    X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(ensemble_predict(problem, models, X), [3.0, 2.0])

    classes = offset_classes(20)
    logistic = LogisticRegression(classes)
    votes = [  # sign of w·x + b at x = 3 and x = 5: two say (0, 1), one says (1, 1)
        {"W1": np.array([[1.0]]), "b1": np.array([-4.0])},
        {"W1": np.array([[2.0]]), "b1": np.array([-8.0])},
        {"W1": np.array([[1.0]]), "b1": np.array([0.0])},
    ]
    np.testing.assert_array_equal(
        ensemble_predict(logistic, votes, np.array([[3.0], [5.0]])), [0, 1]
    )
    np.testing.assert_array_equal(
        ensemble_predict(logistic, votes[1:], np.array([[3.0], [5.0]])),
        [0, 1],  # tie: class 0
    )


# --------------------------------------------------------------------------- search


def regression_splits(n=160):
    """The first three quarters for training, the rest for testing."""
    data = noiseless_regression(n)
    cut = 3 * n // 4
    return Splits(
        train=data.subset(np.arange(cut)), validation=None, test=data.subset(np.arange(cut, n))
    )


@pytest.mark.parametrize("final", ["refit", "ensemble"])
def test_search_regression_refit_and_ensemble(final):
    result = search(
        LinearRegression,
        "sgd",
        {"lr": LRS},
        regression_splits(),
        folds=4,
        rng=rng(1),
        train_kwargs={"steps": 50},
        final=final,
    )
    assert result.best_config == {"lr": 0.1}
    assert [r.config["lr"] for r in result.results] == LRS
    assert result.validation == {"kind": "kfold", "k": 4, "repeats": 1, "stratified": False}
    assert result.final["kind"] == final
    assert result.final["test_samples"] == 40
    assert result.final["test"]["loss"] < 1e-8
    if final == "refit":
        assert result.final["status"] == "ok"
        assert result.final["steps"] == 50
        assert set(result.params) == {"w", "b"}
    else:
        assert result.final["members"] == 4
        assert len(result.params) == 4
        assert len(result.final["member_test"]) == 4
        # only the best configuration's fold models were kept
        assert [r.models is not None for r in result.results] == [
            r is result.best for r in result.results
        ]
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert document["best_config"] == {"lr": 0.1}
    assert document["space"] == {"lr": {"type": "choice", "values": LRS}}
    assert len(document["results"]) == 6


def test_search_classification_ensemble_by_majority_vote():
    data = offset_classes(120, seed=1)
    result = search(
        LogisticRegression,
        "sgd",
        {"lr": [1e-3, 10.0, 1e6]},
        data,
        test_size=0.25,
        folds=3,
        rng=rng(2),
        train_kwargs={"steps": 100},
        metric="accuracy",
        final="ensemble",
    )
    assert result.best_config == {"lr": 10.0}
    assert result.validation["stratified"] is True
    assert result.final["members"] == 3
    assert result.final["test_samples"] == 30
    assert result.final["test"] == {"accuracy": 1.0}
    assert all(m["accuracy"] == 1.0 for m in result.final["member_test"])
    # the vote is what the hand-rolled majority gives
    problem = LogisticRegression(data)
    X = data.X[:10]
    single = np.stack([problem.predict(p, X).ravel() for p in result.params])
    np.testing.assert_array_equal(
        ensemble_predict(problem, result.params, X), majority_vote(single)
    )


def test_search_holdout_random_and_given_validation():
    data = noiseless_regression(100)
    splits = Splits(
        train=data.subset(np.arange(60)),
        validation=data.subset(np.arange(60, 80)),
        test=data.subset(np.arange(80, 100)),
    )
    space = {"lr": LogUniform(1e-3, 0.3)}
    given = search(
        LinearRegression,
        "sgd",
        space,
        splits,
        method="random",
        budget=4,
        rng=rng(),
        train_kwargs={"steps": 20},
    )
    assert given.validation == {"kind": "holdout", "train": 60, "validation": 20}
    assert given.final["train_samples"] == 80  # the refit sees training and validation data
    assert len(given.results) == 4
    assert all(1e-3 <= r.config["lr"] <= 0.3 for r in given.results)
    assert given.best.config["lr"] == max(r.config["lr"] for r in given.results)
    carved = search(
        LinearRegression,
        "sgd",
        space,
        splits,
        validation_size=0.25,
        method="random",
        budget=2,
        rng=rng(),
        train_kwargs={"steps": 20},
    )
    assert carved.validation == {"kind": "holdout", "train": 60, "validation": 20}
    no_test = search(
        LinearRegression, "sgd", {"lr": [0.1]}, data, folds=2, rng=rng(), train_kwargs={"steps": 5}
    )
    assert no_test.final["test"] is None
    assert no_test.final["train_samples"] == 100


def test_search_argument_errors():
    splits = regression_splits(60)
    kw = {"rng": rng(), "train_kwargs": {"steps": 1}}
    with pytest.raises(ValueError, match=r"budget must be >= the grid's 6 configurations"):
        search(LinearRegression, "sgd", {"lr": LRS}, splits, folds=2, budget=3, **kw)
    with pytest.raises(ValueError, match=r"budget must be a number of configurations"):
        search(LinearRegression, "sgd", {"lr": LRS}, splits, folds=2, method="random", **kw)
    with pytest.raises(ValueError, match=r"folds or validation_size must be given"):
        search(LinearRegression, "sgd", {"lr": LRS}, splits, **kw)
    with pytest.raises(ValueError, match=r"folds and validation_size must be given one at a"):
        search(LinearRegression, "sgd", {"lr": LRS}, splits, folds=2, validation_size=0.2, **kw)
    with pytest.raises(ValueError, match=r"final must be one of 'refit', 'ensemble'"):
        search(LinearRegression, "sgd", {"lr": LRS}, splits, folds=2, final="vote", **kw)
    kw["train_kwargs"] = {"steps": 10}  # enough steps for lr = 1000 to blow up
    with pytest.raises(ValueError, match=r"no configuration to select"):
        search(LinearRegression, "sgd", {"lr": [1e3]}, splits, folds=2, **kw)


@pytest.mark.parametrize(
    ("space", "extra", "error"),
    [
        ({"lr": [0.1], "bogus": [1.0]}, {}, r"SGD got an unknown keyword argument 'bogus'"),
        (
            {"lr": LogUniform(1e-3, 1e-1), "bogus": [1.0]},
            {"method": "random", "budget": 2},
            "bogus",
        ),
        ({"lr": [0.1, -0.1]}, {}, r"lr"),  # the grid's second configuration
        ({"lr": LRS}, {"budget": 3}, r"budget must be >= the grid's 6"),
    ],
)
def test_a_refused_search_draws_nothing_from_rng(space, extra, error):
    # The names and values are checked before the test split and the folds
    # are drawn: a search that raises leaves the caller's generator as it was.
    generator = rng(5)
    before = generator.bit_generator.state
    with pytest.raises((TypeError, ValueError), match=error):
        search(
            LinearRegression,
            "sgd",
            space,
            regression_splits(60),
            folds=2,
            test_size=None,
            rng=generator,
            train_kwargs={"steps": 1},
            **extra,
        )
    assert generator.bit_generator.state == before


def test_a_random_search_may_name_a_range_whose_end_the_optimizer_refuses():
    # momentum = 1 is refused, but Uniform(0.5, 1.0) never draws it: only the
    # middle of a range it samples is built before the search starts.
    result = search(
        LinearRegression,
        "momentum",
        {"lr": [0.05], "momentum": Uniform(0.5, 1.0)},
        regression_splits(60),
        folds=2,
        rng=rng(1),
        train_kwargs={"steps": 2},
        method="random",
        budget=2,
    )
    assert all(0.5 <= r.config["momentum"] < 1.0 for r in result.results)


def test_search_tpe_is_reproducible():
    pytest.importorskip("optuna")
    data = noiseless_regression(60)

    def run(seed):
        return search(
            LinearRegression,
            "sgd",
            default_space("sgd"),
            data,
            folds=3,
            method="tpe",
            budget=12,
            rng=rng(seed),
            train_kwargs={"steps": 20},
        )

    a, b, c = run(4), run(4), run(5)
    assert [r.config for r in a.results] == [r.config for r in b.results]
    assert [r.mean_loss for r in a.results] == [r.mean_loss for r in b.results]
    assert [r.config for r in a.results] != [r.config for r in c.results]
    assert all(1e-3 <= r.config["lr"] <= 1.0 for r in a.results)
    assert a.method == "tpe"
    assert len(a.results) == 12
    # the best is the best of what TPE tried
    assert a.best.mean_loss == min(r.mean_loss for r in a.results)


def test_search_tpe_without_optuna_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    with pytest.raises(ImportError, match=r"pip install optuna"):
        search(
            LinearRegression,
            "sgd",
            {"lr": LogUniform(1e-3, 1)},
            noiseless_regression(20),
            folds=2,
            method="tpe",
            budget=2,
            rng=rng(),
            train_kwargs={"steps": 1},
        )


def test_fold_is_a_plain_record():
    fold = Fold(0, 1, np.array([0, 2]), np.array([1]))
    assert fold.to_dict() == {"repeat": 0, "index": 1, "train": [0, 2], "validation": [1]}
