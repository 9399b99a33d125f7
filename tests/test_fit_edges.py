"""Edges of the training loop and its surroundings: a failed fit changes nothing, eval points
reach checkpoints and selection, bad data is refused; each test pins a fixed bug."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdlab.data import Dataset, Splits, boston, moons
from gdlab.optim import SGD, Adam, create
from gdlab.problems import LinearRegression, LogisticRegression, MLPClassification
from gdlab.race import RunSpec, make_optimizer
from gdlab.schedules import ExponentialDecay
from gdlab.selection import _fold_data, kfold, train_fold
from gdlab.train import Checkpoint, EarlyStopping, fit


@pytest.fixture(scope="module")
def data():
    return moons(60, rng=np.random.default_rng(0))


@pytest.fixture(scope="module")
def parts(data):
    from gdlab.data import split

    return split(data, test_size=0.2, validation_size=0.2, rng=np.random.default_rng(1))


def _fit(problem, optimizer, **kwargs):
    kwargs.setdefault("rng", np.random.default_rng(3))
    return fit(problem, optimizer, progress=False, **kwargs)


# -- History.to_dict is plain JSON data, also for an optimizer with eval_params


def test_history_to_dict_is_json_with_eval_params(parts):
    history = _fit(MLPClassification(parts, (4,)), create("schedule_free_sgd", lr=0.1), epochs=2)
    assert history.eval_params is not None
    data = history.to_dict()
    assert "eval_params" not in data
    json.dumps(data)


# -- a failed fit changes nothing


def test_failed_fit_keeps_the_optimizer_lr(data):
    optimizer = SGD(0.1)
    with pytest.raises(ValueError, match="batch_size"):
        _fit(LogisticRegression(data), optimizer, epochs=1, batch_size=0, schedule=0.5)
    assert optimizer.lr == 0.1


def test_failed_fit_keeps_the_generator(data):
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    with pytest.raises(ValueError, match=r"^batch_size must be at most n_samples = 60; got 61$"):
        fit(MLPClassification(data, (4,)), SGD(0.1), epochs=1, batch_size=61, rng=rng,
            progress=False)  # fmt: skip
    assert rng.bit_generator.state == before


def test_failed_resume_keeps_the_optimizer_lr_and_generator(parts, tmp_path):
    path = tmp_path / "run.npz"
    _fit(MLPClassification(parts, (4,)), Adam(0.01), steps=4, batch_size=8,
         callbacks=[Checkpoint(path, every=2)])  # fmt: skip
    optimizer = Adam(0.01)
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    with pytest.raises(ValueError, match="a checkpoint of a 6-step run"):
        fit(MLPClassification(parts, (4,)), optimizer, steps=6, batch_size=8, rng=rng,
            schedule=ExponentialDecay(0.5, rate=0.9), resume=path, progress=False)  # fmt: skip
    assert optimizer.lr == 0.01
    assert rng.bit_generator.state == before


# -- an empty evaluation split is refused before training, not at the first evaluation


@pytest.mark.parametrize("kind", ["linreg", "mlp"])
def test_empty_validation_split_is_refused_up_front(data, kind):
    if kind == "linreg":
        whole = boston(features=("RM", "LSTAT"))
        problem = LinearRegression(Splits(whole, whole.subset(np.arange(0)), whole))
    else:
        problem = MLPClassification(Splits(data, data.subset(np.arange(0)), data), (4,))
    params = problem.init_params(np.random.default_rng(0))
    start = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match=r"^validation must be a split with samples"):
        _fit(problem, SGD(0.1), epochs=1, validation="validation", params=params)
    for key, value in params.items():
        np.testing.assert_array_equal(value, start[key])


def test_linear_regression_refuses_to_evaluate_an_empty_split():
    whole = boston(features=("RM", "LSTAT"))
    problem = LinearRegression(Splits(whole, None, whole.subset(np.arange(0))))
    params = problem.init_params(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"the 'test' part is empty"):
        problem.evaluate(params, "test")


# -- the last checkpoint holds the parameters early stopping restored


@pytest.mark.parametrize("name", ["adam", "schedule_free_sgd"])
def test_resuming_a_finished_run_gives_its_params_whatever_the_callback_order(
    parts, tmp_path, name
):
    path = tmp_path / "run.npz"

    def run(resume=None):
        callbacks = [Checkpoint(path, every=3), EarlyStopping(patience=0, min_delta=0.02)]
        return _fit(MLPClassification(parts, (6,)), create(name, lr=0.05), epochs=30,
                    batch_size=7, validation="validation", callbacks=callbacks,
                    resume=resume)  # fmt: skip

    straight = run()
    assert straight.status == "stopped"
    again = run(resume=path)
    assert again.status == "stopped"
    for key in straight.params:
        np.testing.assert_array_equal(again.params[key], straight.params[key])
    assert (again.eval_params is None) == (straight.eval_params is None)
    for key in straight.eval_params or {}:
        np.testing.assert_array_equal(again.eval_params[key], straight.eval_params[key])


def test_resuming_a_finished_run_keeps_its_eval_params(parts, tmp_path):
    path = tmp_path / "run.npz"

    def run(resume=None):
        return _fit(MLPClassification(parts, (4,)), create("schedule_free_sgd", lr=0.1),
                    epochs=2, batch_size=8, callbacks=[Checkpoint(path, every=100)],
                    resume=resume)  # fmt: skip

    straight = run()
    again = run(resume=path)
    assert again.eval_params is not None
    for key in straight.eval_params:
        np.testing.assert_array_equal(again.eval_params[key], straight.eval_params[key])


# -- selection judges the model where fit evaluates it


def test_train_fold_validates_at_the_evaluation_point(data):
    folds = kfold(data, 3, rng=np.random.default_rng(0))
    fold = folds[0]
    spec = RunSpec(label="sf", optimizer="schedule_free_sgd", hyperparameters={"lr": 0.2})

    def make(d):
        return MLPClassification(d, (6,))

    record = train_fold(make, spec, data, fold.train, fold.validation,
                        rng=np.random.default_rng(0), train_kwargs={"epochs": 5, "batch_size": 8},
                        keep_params=True)  # fmt: skip
    history = fit(make(_fold_data(data, fold.train, fold.validation)), make_optimizer(spec),
                  epochs=5, batch_size=8, rng=np.random.default_rng(0), progress=False,
                  validation="validation")  # fmt: skip
    last = history.epochs[-1]
    assert last["val_loss"] != last["iterate_val_loss"]
    assert record["val_loss"] == last["val_loss"]
    for key in history.eval_params:
        np.testing.assert_array_equal(record["params"][key], history.eval_params[key])


# -- data sets refuse NaN and infinities


@pytest.mark.parametrize(
    ("field", "index", "value"), [("X", (3, 1), np.nan), ("X", (0, 0), np.inf), ("y", (5,), np.nan)]
)
def test_dataset_refuses_non_finite_values(data, field, index, value):
    X = data.X.copy()
    y = np.linspace(0.0, 1.0, len(X))
    (X if field == "X" else y)[index] = value
    with pytest.raises(ValueError, match=f"^{field} of the data set 'toy' must be finite") as info:
        Dataset(X, y, "toy", data.feature_names, ("t",), "regression")
    message = str(info.value)
    assert repr(value) in message
    assert str(index) in message


# -- an EarlyStopping object reused for a second run starts afresh


def test_early_stopping_reused_for_a_new_run_starts_afresh(parts):
    def run(es, hidden, lr):
        return _fit(MLPClassification(parts, (hidden,)), create("adam", lr=lr), epochs=30,
                    batch_size=8, validation="validation", callbacks=[es])  # fmt: skip

    shared = EarlyStopping(patience=0, min_delta=0.02)
    first = run(shared, 6, 0.05)
    assert first.status == "stopped"
    second = run(shared, 3, 0.01)  # other shapes: the first run's best must not come back
    alone = run(EarlyStopping(patience=0, min_delta=0.02), 3, 0.01)
    assert (second.status, second.steps, second.loss) == (alone.status, alone.steps, alone.loss)
    for key in alone.params:
        np.testing.assert_array_equal(second.params[key], alone.params[key])


# -- a scalar target is refused with the usual message (it was an IndexError)


def test_mlp_refuses_a_scalar_target():
    from gdlab.nn import MLP

    net = MLP([2, 3, 2], rng=np.random.default_rng(0))
    with pytest.raises(
        ValueError, match=r"^y must be 4 targets, one per sample of X; got 'shape \(\)'$"
    ):
        net.loss_and_grads(np.ones((4, 2)), np.array(1))
