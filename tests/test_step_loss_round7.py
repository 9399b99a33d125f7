"""Each step's loss over the whole training set (``step_loss = "train"``), seed 003.

Seed 003 prints, after every step, the MSE over the whole training set ("여기서
loss는 전체 학습 데이터 기반으로 구해야 함"); the default records the step's
batch loss, which for SGD is one sample's squared error.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from gdlab import data as gdata
from gdlab.experiments import Experiment, builtin, parse_value
from gdlab.experiments.describe import text
from gdlab.experiments.model import ConfigError
from gdlab.optim import SGD
from gdlab.problems import FunctionProblem, LinearRegression
from gdlab.race import race
from gdlab.report import figures
from gdlab.train import Callback, History, fit


@pytest.fixture(scope="module")
def boston_problem():
    return LinearRegression(gdata.minmax_scale(gdata.boston(features=("RM", "LSTAT"))))


class _Snapshots(Callback):
    """The parameters after every step (the next step's before its update)."""

    def __init__(self) -> None:
        self.params: list[dict[str, np.ndarray]] = []

    def on_step_end(self, run, loss) -> None:
        self.params.append({k: v.copy() for k, v in run.params.items()})


def _fit(problem, step_loss, callbacks=(), steps=200, batch_size=1):
    return fit(problem, SGD(0.01), steps=steps, batch_size=batch_size, batching="random",
               rng=np.random.default_rng(3), progress=False, callbacks=callbacks,
               step_loss=step_loss)  # fmt: skip


def test_fit_records_the_whole_sets_loss_at_each_steps_pre_update_parameters(boston_problem):
    snaps = _Snapshots()
    history = _fit(boston_problem, "train", [snaps])
    start = boston_problem.init_params(np.random.default_rng(3))  # w = 0, b = 1
    before = [start, *snaps.params[:-1]]
    expected = [boston_problem.evaluate(p, "train")["loss"] for p in before]
    assert history.loss == expected  # exactly: the problem's own full-set loss
    assert history.step_loss == "train"
    assert history.loss[0] == pytest.approx(548.0813043478258, rel=1e-12)


def test_the_step_loss_changes_what_is_recorded_never_the_run(boston_problem):
    whole = _fit(boston_problem, "train")
    batch = _fit(boston_problem, "batch")
    for key in ("w", "b"):
        np.testing.assert_array_equal(whole.params[key], batch.params[key])
    assert whole.lr == batch.lr
    assert [e["train_loss"] for e in whole.epochs] == [e["train_loss"] for e in batch.epochs]
    assert batch.step_loss == "batch"
    assert whole.loss != batch.loss
    # one sample's squared error falls far below the best MSE over the set; the set's never
    assert min(batch.loss) < 1 < 30.5 < min(whole.loss)


class _BlowsUp(LinearRegression):
    """The whole set's loss is not finite from its third evaluation on."""

    calls = 0

    def evaluate(self, params, split="train"):
        self.calls += 1
        return {"loss": math.inf} if self.calls >= 3 else super().evaluate(params, split)


def test_a_whole_set_loss_that_is_not_finite_ends_the_run_as_diverged(boston_problem):
    problem = _BlowsUp(boston_problem.train)
    history = _fit(problem, "train", steps=10)
    assert history.status == "diverged"
    assert history.stopped_at == 2
    assert history.reason == "diverged at step 3: the training set's loss inf is not finite"
    assert len(history.loss) == 2


def test_the_step_loss_goes_through_to_dict_and_back(boston_problem):
    history = _fit(boston_problem, "train", steps=5)
    assert history.to_dict()["step_loss"] == "train"
    assert History.from_dict(history.to_dict()).step_loss == "train"
    old = {k: v for k, v in history.to_dict().items() if k != "step_loss"}
    assert History.from_dict(old).step_loss == "batch"  # written before the field


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("whole", ValueError, "step_loss must be one of 'batch', 'train'; got 'whole'"),
        (1, TypeError, "step_loss must be one of 'batch', 'train'; got 1 (int)"),
    ],
)
def test_fit_refuses_a_bad_step_loss_and_changes_nothing(boston_problem, value, kind, message):
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    optimizer = SGD(0.01)
    with pytest.raises(kind, match=f"^{re.escape(message)}$"):
        fit(boston_problem, optimizer, steps=3, rng=rng, progress=False, step_loss=value)
    assert rng.bit_generator.state == state
    assert optimizer.t == 0


def test_fit_refuses_the_whole_sets_loss_for_a_2d_function():
    message = (
        "step_loss must be 'batch' for a problem without data (every step's loss is the "
        "whole function's); got 'train'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(FunctionProblem("bowl"), SGD(0.1), steps=3, rng=np.random.default_rng(0),
            progress=False, step_loss="train")  # fmt: skip


def test_a_checkpoint_resumes_only_with_its_step_loss(boston_problem, tmp_path):
    from gdlab.train import Checkpoint

    path = tmp_path / "run.npz"
    _fit(boston_problem, "train", [Checkpoint(path, every=2)], steps=4)
    message = (
        "checkpoint step_loss must be 'batch', this call's (resume with the same arguments); "
        "got 'train'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(boston_problem, SGD(0.01), steps=4, batch_size=1, batching="random",
            rng=np.random.default_rng(3), progress=False, resume=path)  # fmt: skip


# --------------------------------------------------------------------------- experiments


def test_step_loss_round_trips_through_toml_and_set():
    boston = builtin("boston")
    assert boston.training.step_loss == "train"
    assert "step_loss" in boston.description or "whole training set" in boston.description
    again = Experiment.from_toml(boston.to_toml())
    assert again.training.step_loss == "train"
    batch = boston.set("training.step_loss", parse_value("batch"))
    assert [batch.run_training(r).step_loss for r in batch.runs] == ["batch"] * 3
    one = boston.set("SGD (1 sample).step_loss", parse_value("batch"))
    assert [one.run_training(r).step_loss for r in one.runs] == ["train", "batch", "train"]
    assert Experiment.from_toml(one.to_toml()).runs[1].training["step_loss"] == "batch"
    assert batch.training.fit_kwargs()["step_loss"] == "batch"


def test_a_bad_step_loss_is_refused_with_the_usual_message():
    message = "training.step_loss must be one of 'batch', 'train'; got 'whole'"
    with pytest.raises(ConfigError, match=re.escape(message)):
        builtin("boston").set("training.step_loss", parse_value("whole"))
    with pytest.raises(ConfigError, match="must be left out for a 2-D function"):
        builtin("bowl").set("training.step_loss", "train")


def test_the_boston_race_records_the_whole_sets_mse_at_every_step():
    records = {r["label"]: r for r in race(builtin("boston"), progress=False)}
    gd, sgd, mini = (records[k] for k in ("GD (all 506 samples)", "SGD (1 sample)",
                                          "Mini-batch (30 samples)"))  # fmt: skip
    for record in (gd, sgd, mini):
        assert record["step_loss"] == "train"
        assert record["loss"][0] == pytest.approx(548.0813043478258, rel=1e-12)
    # the seed's GD: w = (25.4186, -23.6005), b = 16.3857, MSE 30.53, falling at every step
    np.testing.assert_allclose(gd["final_params"]["w"], [25.4186, -23.6005], atol=5e-5)
    np.testing.assert_allclose(gd["final_params"]["b"], [16.3857], atol=5e-5)
    assert round(gd["metrics"]["final_loss"], 2) == 30.53
    assert np.all(np.diff(gd["loss"]) < 0)
    # SGD's whole-set MSE: never below the least-squares best (30.51), sometimes rising,
    # above GD's at the end (the seed: 31.9 against 30.53)
    sgd_loss = np.asarray(sgd["loss"])
    assert sgd_loss.min() > 30.51
    assert np.any(np.diff(sgd_loss) > 0)
    assert sgd["metrics"]["final_loss"] > gd["metrics"]["final_loss"] + 0.3
    # above GD's over most of the last 1,000 steps (the batch loss lay below it 60 % of
    # the last 2,500)
    assert np.mean(sgd_loss[-1000:] > np.asarray(gd["loss"])[-1000:]) > 0.8


def test_the_loss_figure_says_which_loss_it_draws():
    runs = [
        {"label": "GD", "loss": [2.0, 1.0], "step_loss": "train"},
        {"label": "SGD", "loss": [2.0, 1.5], "step_loss": "batch"},
    ]
    assert figures._step_loss_words(runs[:1]).startswith("the loss over the whole training set")
    assert figures._step_loss_words(runs[1:]) == "the batch loss before each update"
    assert figures._step_loss_words([{"label": "old", "loss": [1.0]}]) == (
        "the batch loss before each update"  # a record written before the field
    )
    both = figures._step_loss_words(runs)
    assert "for GD" in both
    assert "batch loss before each update, for SGD" in both


def test_the_description_says_the_same_batches_only_when_the_runs_batch_alike():
    boston = text(builtin("boston"))["description"]
    assert "the same batches" not in boston
    assert "their batches do too" in boston
    assert "each step's loss taken on the whole training set" in boston
    alike = builtin("boston").set("gd-all-506-samples.batch_size", 30)
    alike = alike.set("gd-all-506-samples.batching", "random").set("sgd-1-sample.batch_size", 30)
    assert "the same batches for every run of a seed" in text(alike)["description"]
    assert "the same batches for every run of a seed" in text(builtin("mnist"))["description"]


def test_a_tunings_folds_record_the_batch_loss_even_for_a_run_that_asks_for_the_whole_sets(
    monkeypatch,
):
    """A fold is scored on its held-out part: a run's own step_loss = "train" would only
    add a pass over the training set per step, so its folds train with the batch's."""
    import numpy as np

    from gdlab import selection
    from gdlab.experiments import builtin
    from gdlab.tuning import tune_task

    seen = []
    real = selection.fit

    def recording(*args, **kwargs):
        seen.append(kwargs.get("step_loss"))
        return real(*args, **kwargs)

    monkeypatch.setattr(selection, "fit", recording)
    experiment = builtin("boston").merge_training(steps=20)
    sgd = next(i for i, r in enumerate(experiment.runs) if r.label.startswith("SGD"))
    experiment = experiment.set(f"{experiment.runs[sgd].label}.step_loss", "train")
    assert experiment.runs[sgd].training.get("step_loss") == "train"
    result = tune_task(
        config=experiment.to_dict(), run=sgd, hyperparameters={"lr": 0.01}, fold=0, folds=2,
        split_seed=0, seed=0, rng=np.random.default_rng(0),
    )  # fmt: skip
    assert result["status"] == "ok"
    assert seen == ["batch"]
