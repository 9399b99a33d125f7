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
