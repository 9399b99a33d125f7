"""fit() evaluates where the optimizer says (eval_params) and reports the trained iterate apart."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.data.datasets import Dataset
from gdlab.optim import create
from gdlab.problems import LogisticRegression
from gdlab.train import fit


def _problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 2))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    data = Dataset(x, y, "line", ("x1", "x2"), ("below", "above"), "classification")
    return LogisticRegression(data)


@pytest.mark.parametrize("name", ["schedule_free_sgd", "schedule_free_adamw", "asgd"])
def test_metrics_are_taken_at_the_eval_point(name):
    problem = _problem()
    opt = create(name, lr=0.05)
    history = fit(
        problem, opt, steps=40, batch_size=16, rng=np.random.default_rng(1), progress=False
    )
    last = history.epochs[-1]
    at = opt.eval_params(history.params)
    assert history.eval_params is not None
    for key in at:
        np.testing.assert_array_equal(history.eval_params[key], at[key])
    assert last["train_loss"] == problem.evaluate(at, "train")["loss"]
    assert last["iterate_train_loss"] == problem.evaluate(history.params, "train")["loss"]


def test_an_optimizer_without_eval_params_reports_as_before():
    problem = _problem()
    opt = create("adam", lr=0.05)
    history = fit(
        problem, opt, steps=20, batch_size=16, rng=np.random.default_rng(1), progress=False
    )
    assert history.eval_params is None
    assert not any(k.startswith("iterate_") for k in history.epochs[-1])


@pytest.mark.parametrize("name", ["schedule_free_sgd", "asgd"])
def test_early_stopping_keeps_the_eval_point_whose_loss_was_best(name):
    from gdlab.train import EarlyStopping

    class Watch(EarlyStopping):
        """Records each epoch's eval point and monitored loss."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seen = []

        def on_epoch_end(self, run, metrics):
            self.seen.append((metrics["train_loss"], eval_point_copy(run)))
            super().on_epoch_end(run, metrics)

    def eval_point_copy(run):
        return {k: v.copy() for k, v in run.optimizer.eval_params(run.params).items()}

    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 2))
    y = (x[:, 0] + rng.standard_normal(120) > 0).astype(int)  # noisy labels: the loss wanders
    data = Dataset(x, y, "noisy line", ("x1", "x2"), ("below", "above"), "classification")
    problem = LogisticRegression(data)
    stopper = Watch(patience=0, monitor="train_loss")
    history = fit(
        problem, create(name, lr=3.0), steps=400, batch_size=16, rng=np.random.default_rng(1),
        progress=False, callbacks=[stopper],
    )  # fmt: skip
    assert history.status == "stopped"
    best_loss, best_point = min(stopper.seen, key=lambda seen: seen[0])
    assert best_loss == stopper.best
    assert best_point is not stopper.seen[-1][1]
    assert any(not np.array_equal(best_point[k], stopper.seen[-1][1][k]) for k in best_point)
    for key in best_point:  # the reported model is the best one, not the last average
        np.testing.assert_array_equal(history.eval_params[key], best_point[key])
    assert problem.evaluate(history.eval_params, "train")["loss"] == best_loss


def test_a_race_record_keeps_the_point_its_metrics_describe():
    """``final_params`` (and a classifier's decision boundary) are the eval point."""
    from gdlab.experiments import Experiment
    from gdlab.race import prepare, race

    exp = Experiment.from_dict(
        {
            "name": "sf",
            "problem": {"kind": "mlp", "data": "moons", "hidden": [4]},
            "training": {"epochs": 3, "batch_size": 32},
            "runs": [{"optimizer": "schedule_free_sgd", "lr": 0.5}],
        }
    )
    (record,) = race(exp, progress=False)
    problem = prepare(exp)
    params = {k: np.asarray(v, dtype=problem.dtype) for k, v in record["final_params"].items()}
    assert problem.evaluate(params, "train")["loss"] == record["metrics"]["train_loss"]
    assert record["epochs"][-1]["iterate_train_loss"] != record["metrics"]["train_loss"]
