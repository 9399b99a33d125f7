"""Round 7: ensembles of column-layout networks, validation in a search, losses that
describe the reported model, and fit's and MLP's messages."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab import selection
from gdlab.data import Dataset, Splits, moons
from gdlab.nn import MLP
from gdlab.optim import create
from gdlab.problems import LinearRegression, LogisticRegression, MLPClassification
from gdlab.race import RunSpec
from gdlab.schedules import Constant
from gdlab.selection import Choice, SearchSpace, cross_validate, ensemble_predict, kfold, search
from gdlab.train import EarlyStopping, fit

SGD = RunSpec(label="SGD", optimizer="sgd")


def rng(seed=0):
    return np.random.default_rng(seed)


def _moons(n=90):
    return moons(n, rng=rng(0))


def _moons_splits():
    data = _moons()
    return Splits(train=data.subset(np.arange(60)), validation=None,
                  test=data.subset(np.arange(60, 90)))  # fmt: skip


def _columns_net(data):
    return MLPClassification(data, (5,), layout="columns")


def _softmax_columns_net(data):
    return MLPClassification(data, (5,), layout="columns", output="softmax")


# --------------------------------------------------------------------------- 1. predict's X


@pytest.mark.parametrize("make", [_columns_net, _softmax_columns_net])
def test_columns_problem_predicts_on_rows_like_rows_layout(make):
    data = _moons()
    cols = make(data)
    rows = MLPClassification(data, (5,), output=cols.options["output"])
    params = rows.init_params(rng(3))
    # the same weights in the columns layout: W transposed, b a column
    transposed = {k: np.ascontiguousarray(v.T if k.startswith("W") else v.reshape(-1, 1))
                  for k, v in params.items()}  # fmt: skip
    got = cols.predict(transposed, data.X)
    want = rows.predict(params, data.X)
    assert got.shape == want.shape == (data.n_samples,)
    assert np.array_equal(got, want)


def test_problem_predict_one_sample_and_wrong_shape():
    data = _moons()
    problem = _columns_net(data)
    params = problem.init_params(rng(1))
    assert problem.predict(params, data.X[0]).shape == (1,)
    with pytest.raises(ValueError, match=r"X must be of shape \(n, 2\).*got 'shape \(2, 90\)'"):
        problem.predict(params, data.X.T)


def test_columns_problem_hands_the_network_a_view_of_x(monkeypatch):
    data = _moons()
    problem = _columns_net(data)
    params = problem.init_params(rng(1))
    want = problem.predict(params, data.X)
    given = []
    real = problem.net.predict
    monkeypatch.setattr(problem.net, "predict", lambda X, p: given.append(X) or real(X, p))
    X = np.ascontiguousarray(data.X, dtype=problem.net.dtype)
    assert np.array_equal(problem.predict(params, X), want)
    (seen,) = given
    assert seen.shape == (2, data.n_samples)
    assert np.shares_memory(seen, X)  # no copy: the network transposes it back to rows
    assert seen.T.flags.c_contiguous


def _line():
    X = np.arange(40.0).reshape(20, 2)
    return LinearRegression(Dataset(X, X @ [1.0, 2.0], "line", ("a", "b"), ("y",), "regression"))


@pytest.mark.parametrize("make", [_line, lambda: _columns_net(_moons())])
def test_predict_refuses_x_with_the_same_words(make):
    problem = make()
    params = problem.init_params(rng(1))
    with pytest.raises(TypeError, match=r"^X must be numbers \(a bool, integer or floating "
                                        r"array\); got '<U1 array'$"):  # fmt: skip
        problem.predict(params, np.array([["a", "b"]]))
    with pytest.raises(ValueError, match=r"^X must be of shape \(n, 2\) or \(2,\)"):
        problem.predict(params, np.zeros((3, 3)))


def test_search_ensemble_of_columns_networks():
    result = search(
        _columns_net, "adam", SearchSpace({"lr": Choice([0.01])}), _moons(),
        rng=rng(1), train_kwargs={"epochs": 3, "batch_size": 32}, folds=3, test_size=0.2,
        final="ensemble",
    )  # fmt: skip
    assert result.final["members"] == 3
    assert 0.0 <= result.final["test"]["accuracy"] <= 1.0


class _NoPredict:
    """A problem without predict: an ensemble cannot vote with it."""

    def __init__(self, data):
        self._inner = LinearRegression(data)

    def __getattr__(self, name):
        if name == "predict":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_search_ensemble_refused_before_training_when_problem_cannot_predict():
    X = np.arange(40.0).reshape(20, 2)
    data = Dataset(X, X @ [1.0, 2.0], "line", ("a", "b"), ("y",), "regression")
    calls = []

    def make(d):
        calls.append(d)
        return _NoPredict(d)

    generator = rng(1)
    state = generator.bit_generator.state
    with pytest.raises(TypeError, match="predict"):
        search(
            make, "sgd", SearchSpace({"lr": Choice([0.01])}), data, rng=generator,
            train_kwargs={"steps": 2}, folds=2, test_size=0.2, final="ensemble",
        )  # fmt: skip
    assert len(calls) == 1  # the final problem, before any fold trained
    assert generator.bit_generator.state == state


def test_ensemble_predict_columns_direct():
    data = _moons()
    problem = _columns_net(data)
    members = [problem.init_params(rng(s)) for s in range(3)]
    assert ensemble_predict(problem, members, data.X).shape == (data.n_samples,)


# --------------------------------------------------------------------------- 2. validation


def test_search_with_validation_runs_and_refit_drops_it():
    result = search(
        LogisticRegression, "sgd", SearchSpace({"lr": Choice([0.1])}), _moons(),
        rng=rng(1), train_kwargs={"steps": 20, "batch_size": 16, "validation": "validation"},
        folds=3, test_size=0.2,
    )  # fmt: skip
    assert result.final["status"] == "ok"
    assert set(result.final["test"]) >= {"loss", "accuracy"}


def test_search_refit_with_test_validation_does_not_evaluate_the_test_set():
    seen = []

    class Watch(LogisticRegression):
        def evaluate(self, params, split="train"):
            seen.append((self.parts["test"].n_samples, split))
            return super().evaluate(params, split)

    data = _moons(100)
    search(
        Watch, "sgd", SearchSpace({"lr": Choice([0.1])}), data, rng=rng(1),
        train_kwargs={"epochs": 2, "batch_size": 16, "validation": "test"},
        folds=2, test_size=0.2,
    )  # fmt: skip
    # folds: 40 samples left out; the refit's problem holds the real 20-sample test set,
    # which only the final evaluation reads (once), never a training epoch
    assert [s for s in seen if s == (20, "test")] == [(20, "test")]


@pytest.mark.parametrize("bad", ["train", "valid", 3])
def test_search_refuses_a_validation_no_fold_has_before_drawing(bad):
    generator = rng(1)
    state = generator.bit_generator.state
    calls = []

    def make(d):
        calls.append(d)
        return LogisticRegression(d)

    with pytest.raises((ValueError, TypeError), match=r"train_kwargs\['validation'\]"):
        search(
            make, "sgd", SearchSpace({"lr": Choice([0.1])}), _moons(), rng=generator,
            train_kwargs={"steps": 5, "validation": bad}, folds=2, test_size=0.2,
        )  # fmt: skip
    assert not calls
    assert generator.bit_generator.state == state


def test_cross_validate_refuses_a_bad_validation_before_training():
    data = _moons()
    folds = kfold(data, 2, rng=rng(0))
    calls = []

    def make(d):
        calls.append(d)
        return LogisticRegression(d)

    with pytest.raises(ValueError, match=r"train_kwargs\['validation'\]"):
        cross_validate(make, SGD, {"lr": 0.1}, data, folds,
                       train_kwargs={"steps": 5, "validation": "train"})  # fmt: skip
    assert not calls


# --------------------------------------------------------------------------- 3. losses


def _digits_like():
    generator = rng(0)
    X = generator.normal(size=(120, 6))
    y = (X[:, 0] + 0.3 * generator.normal(size=120) > 0).astype(np.int64)
    return Dataset(X, y, "toy", tuple(f"x{i}" for i in range(6)), ("no", "yes"), "classification")


def test_records_train_loss_is_the_reported_models():
    # a rate too large: the validation loss soon goes up, early stopping
    # (patience 0) stops and restores the best epoch's parameters
    kwargs = {
        "epochs": 6, "batch_size": 8, "validation": "validation",
        "callbacks": lambda: [EarlyStopping(0)],
    }  # fmt: skip
    made = []

    def make(d):
        made.append(MLPClassification(d, (16,), dtype=np.float64))
        return made[-1]

    result = search(
        make, "sgd", SearchSpace({"lr": Choice([2.0])}), _digits_like(), rng=rng(1),
        train_kwargs=kwargs, folds=2, test_size=0.2, final="refit",
    )  # fmt: skip
    final = result.final
    assert final["status"] == "stopped"  # the case under test happens
    (refit,) = [p for p in made if p.parts["test"].n_samples == final["test_samples"]]
    assert final["train_loss"] == pytest.approx(
        refit.evaluate(result.params, "train")["loss"], rel=1e-12
    )


def test_fold_records_train_loss_is_the_reported_models():
    data = _digits_like()
    folds = kfold(data, 2, rng=rng(0))
    kwargs = {
        "epochs": 6, "batch_size": 8, "validation": "validation",
        "callbacks": lambda: [EarlyStopping(0)],
    }  # fmt: skip
    make = lambda d: MLPClassification(d, (16,), dtype=np.float64)  # noqa: E731
    result = cross_validate(make, SGD, {"lr": 2.0}, data, folds, train_kwargs=kwargs,
                            keep_params=True)  # fmt: skip
    assert any(run["status"] == "stopped" for run in result.runs)
    for fold, run, params in zip(folds, result.runs, result.models, strict=True):
        problem = make(data.subset(fold.train))
        assert run["train_loss"] == pytest.approx(
            problem.evaluate(params, "train")["loss"], rel=1e-12
        )


class _Counting(LogisticRegression):
    """Counts its evaluations of the training set."""

    train_evaluations = 0

    def evaluate(self, params, split="train"):
        if split == "train":
            type(self).train_evaluations += 1
        return super().evaluate(params, split)


def _fold_with_history(monkeypatch, optimizer, **train_kwargs):
    """train_fold's record, fit's History and the training set's evaluations after fit."""
    histories, after_fit = [], []
    real_fit = selection.fit

    def watched_fit(*args, **kwargs):
        histories.append(real_fit(*args, **kwargs))
        after_fit.append(_Counting.train_evaluations)
        return histories[-1]

    monkeypatch.setattr(selection, "fit", watched_fit)
    monkeypatch.setattr(_Counting, "train_evaluations", 0)
    data = _moons()
    record = selection.train_fold(
        _Counting, RunSpec(label="x", optimizer=optimizer, hyperparameters={"lr": 0.5}), data,
        np.arange(60), np.arange(60, 90), rng=rng(0), train_kwargs=train_kwargs,
        keep_params=True,
    )  # fmt: skip
    (history,) = histories
    return record, history, _Counting.train_evaluations - after_fit[0]


@pytest.mark.parametrize("optimizer", ["sgd", "lookahead"])  # lookahead: the slow weights
def test_a_finished_runs_train_loss_is_fits_last_evaluation(monkeypatch, optimizer):
    record, history, again = _fold_with_history(monkeypatch, optimizer, steps=7, batch_size=16,
                                                evaluate_every=3)  # fmt: skip
    assert record["status"] == "ok"
    assert history.epochs[-1]["step"] == 7  # fit evaluated after its last step
    assert again == 0  # and the record took that loss, evaluating nothing again
    problem = LogisticRegression(_moons().subset(np.arange(60)))
    assert record["train_loss"] == problem.evaluate(record["params"], "train")["loss"]


def test_a_stopped_runs_train_loss_is_its_restored_models(monkeypatch):
    record, history, again = _fold_with_history(
        monkeypatch, "sgd", epochs=30, batch_size=4, validation="validation",
        callbacks=lambda: [EarlyStopping(0)],
    )  # fmt: skip
    assert record["status"] == "stopped"
    assert again == 1
    problem = LogisticRegression(_moons().subset(np.arange(60)))
    assert record["train_loss"] == problem.evaluate(record["params"], "train")["loss"]
    assert record["train_loss"] != history.final_loss  # the best epoch's, not the last


def test_a_run_of_no_step_is_evaluated_once(monkeypatch):
    record, history, again = _fold_with_history(monkeypatch, "sgd", steps=0)
    assert record["status"] == "ok"
    assert not history.epochs
    assert again == 1
    problem = LogisticRegression(_moons().subset(np.arange(60)))
    assert record["train_loss"] == problem.evaluate(record["params"], "train")["loss"]


def test_a_refits_problem_is_built_after_the_cross_validation():
    made = []

    def make(d):
        made.append(d)
        return LogisticRegression(d)

    search(
        make, "sgd", SearchSpace({"lr": Choice([0.1])}), _moons(), rng=rng(1),
        train_kwargs={"steps": 3}, folds=2, test_size=0.2, final="refit",
    )  # fmt: skip
    # two folds, then the final problem (the pool and the 18-sample test set), once
    assert len(made) == 3
    assert [d.test.n_samples for d in made] == [36, 36, 18]


# --------------------------------------------------------------------------- 4. validation="train"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _moons_splits,
            r"besides 'train' \(evaluated anyway\): 'test'",
        ),
        (
            _moons,
            r"besides 'train' \(evaluated anyway\), and it has none: pass None",
        ),
    ],
)
def test_fit_refuses_validation_train_and_changes_nothing(data, message):
    problem = LogisticRegression(data())
    optimizer = create("sgd", lr=0.1)
    generator = rng(0)
    state = generator.bit_generator.state
    pattern = r"^validation must be one of the problem's splits " + message + "; got 'train'$"
    with pytest.raises(ValueError, match=pattern):
        fit(problem, optimizer, steps=2, validation="train", rng=generator, progress=False)
    assert generator.bit_generator.state == state
    assert optimizer.t == 0


def test_fit_still_accepts_test_validation():
    problem = LogisticRegression(_moons_splits())
    history = fit(problem, create("sgd", lr=0.1), steps=2, validation="test", rng=rng(0),
                  progress=False)  # fmt: skip
    assert "test_loss" in history.epochs[-1]


# --------------------------------------------------------------------------- 5. schedule


@pytest.mark.parametrize("bad", ["cosine", -1.0, [0.1]])
def test_fit_schedule_message_names_schedule(bad):
    problem = LogisticRegression(_moons())
    optimizer = create("sgd", lr=0.1)
    generator = rng(0)
    state = generator.bit_generator.state
    with pytest.raises((TypeError, ValueError), match=r"^schedule must be"):
        fit(problem, optimizer, steps=2, schedule=bad, rng=generator, progress=False)
    assert generator.bit_generator.state == state
    assert optimizer.lr == 0.1
    assert optimizer.t == 0


def test_fit_schedule_still_takes_a_number_and_a_schedule():
    problem = LogisticRegression(_moons())
    history = fit(problem, create("sgd", lr=0.1), steps=2, schedule=0.05, rng=rng(0),
                  progress=False)  # fmt: skip
    assert history.lr == [0.05, 0.05]
    history = fit(problem, create("sgd", lr=0.1), steps=2, schedule=Constant(0.02), rng=rng(0),
                  progress=False)  # fmt: skip
    assert history.lr == [0.02, 0.02]


# --------------------------------------------------------------------------- 6. MLP y message


def test_columns_mlp_y_message_reports_the_callers_shape():
    net = MLP([2, 4, 1], output="sigmoid", layout="columns", rng=rng(1))
    with pytest.raises(ValueError, match=r"got 'shape \(6, 1\)'") as info:
        net.loss_and_grads(np.zeros((2, 6)), np.zeros((6, 1)))
    assert "(1, 6)" in str(info.value)  # the shape expected, in the caller's layout


def test_rows_mlp_y_message_unchanged():
    net = MLP([2, 4, 1], output="sigmoid", rng=rng(1))
    with pytest.raises(ValueError, match=r"got 'shape \(5, 1\)'"):
        net.loss_and_grads(np.zeros((6, 2)), np.zeros((5, 1)))
