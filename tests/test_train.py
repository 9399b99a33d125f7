"""The fit loop: histories, callbacks, divergence, checkpoints, and the seed experiments."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gdlab import functions2d
from gdlab.data import Dataset, Splits, boston, minmax_scale, moons
from gdlab.optim import SGD, Adam, create
from gdlab.problems import (
    FunctionProblem,
    LinearRegression,
    LogisticRegression,
    MLPClassification,
    Problem,
)
from gdlab.schedules import ReduceOnPlateau
from gdlab.train import (
    Callback,
    Checkpoint,
    DivergenceGuard,
    EarlyStopping,
    History,
    fit,
)


@pytest.fixture(scope="module")
def boston_rm_lstat():
    return minmax_scale(boston(features=("RM", "LSTAT")))


@pytest.fixture(scope="module")
def course_moons():
    return moons(300, noise=0.2, rng=np.random.default_rng(3))


def rng(seed=0):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- seed 003


def test_seed003_full_batch_gd_matches_the_printed_run(boston_rm_lstat):
    """RM and LSTAT min-max scaled, w = 0, b = 1, lr 0.01, 5000 full-batch steps."""
    problem = LinearRegression(boston_rm_lstat)
    history = fit(problem, SGD(0.01), steps=5000, rng=rng(), progress=False)
    w, b = history.params["w"], history.params["b"]
    # The seed prints w1 [25.41862187] w2 [-23.60046384] bias [16.38568321].
    np.testing.assert_allclose(w, [25.41862187, -23.60046384], atol=5e-8)
    np.testing.assert_allclose(b, [16.38568321], atol=5e-8)
    assert history.final_loss == pytest.approx(30.53, abs=0.005)
    # Full-batch GD at this rate decreases the loss at every step (the seed's remark).
    assert np.all(np.diff(history.loss) < 0)
    assert history.status == "ok"
    assert history.steps == 5000


def test_seed003_sgd_and_mini_batch(boston_rm_lstat):
    problem = LinearRegression(boston_rm_lstat)
    gd = fit(problem, SGD(0.01), steps=5000, rng=rng(), progress=False).final_loss
    runs = {}
    for batch_size in (1, 30):
        runs[batch_size] = fit(
            problem,
            SGD(0.01),
            steps=5000,
            batch_size=batch_size,
            batching="random",
            rng=rng(2023),
            progress=False,
        )
        again = fit(
            problem,
            SGD(0.01),
            steps=5000,
            batch_size=batch_size,
            batching="random",
            rng=rng(2023),
            progress=False,
        )
        assert again.loss == runs[batch_size].loss  # seeded: the same run twice
    sgd, mini = runs[1], runs[30]
    # Both end near GD's minimum; SGD's batch loss jumps around (it is not
    # monotone), mini-batch's batch loss is far steadier than SGD's.
    assert gd < sgd.final_loss < gd + 3.0
    assert gd < mini.final_loss < gd + 0.5
    assert np.any(np.diff(sgd.loss) > 0)
    assert np.std(mini.loss[-1000:]) < np.std(sgd.loss[-1000:])


# --------------------------------------------------------------------------- seed 000


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_seed000_adam_beats_gd_and_momentum_on_moons(course_moons, layout):
    """The course's [2, 5, 2, 1] ReLU/sigmoid network, mini-batch 64, one learning rate."""
    final = {}
    for name in ("sgd", "momentum", "adam"):
        problem = MLPClassification(course_moons, (5, 2), output="sigmoid", layout=layout)
        optimizer = create(name, preset="course", lr=0.0007)
        history = fit(
            problem,
            optimizer,
            epochs=600,
            batch_size=64,
            rng=rng(1),
            progress=False,
            evaluate_every=600,
        )
        final[name] = history.epochs[-1]
    for slow in ("sgd", "momentum"):
        assert final["adam"]["train_loss"] < 0.5 * final[slow]["train_loss"]
        assert final["adam"]["train_accuracy"] > final[slow]["train_accuracy"] + 0.15
    assert final["adam"]["train_accuracy"] > 0.9


def test_layouts_train_identically(course_moons):
    """The course layout (samples on columns) gives the rows layout's numbers."""
    losses = {}
    for layout in ("rows", "columns"):
        problem = MLPClassification(
            course_moons, (5, 2), output="sigmoid", layout=layout, dtype=np.float64
        )
        history = fit(problem, Adam(0.01), epochs=20, batch_size=64, rng=rng(), progress=False)
        losses[layout] = np.array(history.loss)
    np.testing.assert_allclose(losses["rows"], losses["columns"], rtol=1e-10)


# --------------------------------------------------------------------------- MNIST


def test_mnist_subset_adam_reaches_95_percent():
    """Adam on the bundled 5,000 digits (4,500 to train, 500 to test), float32.

    95% is close to what an MLP can reach from 4,500 digits: this setting
    (784-512-256-10, dropout 0.2, batch 32, cosine decay over 10 epochs) gave
    95.4, 96.0, 95.0 and 95.0% test accuracy for seeds 0-3 (and 94.6-95.3%
    with 4,000 digits to train).
    """
    from gdlab.data import load_mnist
    from gdlab.schedules import CosineDecay

    splits = load_mnist(rng=rng(0), test_size=0.1)
    problem = MLPClassification(splits, (512, 256), dropout=0.2)
    epochs, batch_size = 10, 32
    steps = epochs * math.ceil(splits.train.n_samples / batch_size)
    history = fit(
        problem,
        create("adam", lr=CosineDecay(1e-3, decay_steps=steps)),
        epochs=epochs,
        batch_size=batch_size,
        rng=rng(0),
        validation="test",
        progress=False,
    )
    assert problem.net.dtype == np.float32
    accuracy = history.metric("test_accuracy")
    assert accuracy[-1] >= 0.95
    assert accuracy[0] > 0.9  # most of it comes in the first epoch


# --------------------------------------------------------------------------- the loop


class Scripted:
    """A problem whose loss, gradient and validation loss follow a script."""

    n_samples = None
    splits = ("train", "validation")
    name = "scripted"

    def __init__(self, losses, val_losses=None, nan_grad_at=None):
        self.losses = list(losses)
        self.val_losses = list(val_losses or [])
        self.nan_grad_at = nan_grad_at
        self.calls = 0

    def init_params(self, rng):
        return {"w": np.zeros(3)}

    def loss_and_grads(self, params, batch):
        i = self.calls
        self.calls += 1
        grad = np.full(3, 0.1)
        if self.nan_grad_at is not None and i == self.nan_grad_at:
            grad[1] = np.nan
        return self.losses[min(i, len(self.losses) - 1)], {"w": grad}

    def evaluate(self, params, split="train"):
        if split == "validation":
            k = min(self.calls - 1, len(self.val_losses) - 1)
            return {"loss": self.val_losses[k]}
        return {"loss": self.losses[min(self.calls - 1, len(self.losses) - 1)]}


def test_problems_satisfy_the_protocol(boston_rm_lstat, course_moons):
    for problem in (
        FunctionProblem("rosenbrock"),
        LinearRegression(boston_rm_lstat),
        LogisticRegression(course_moons),
        MLPClassification(course_moons, (4,)),
    ):
        assert isinstance(problem, Problem)


def test_history_records_steps_epochs_and_lr():
    problem = LinearRegression(
        Dataset(np.eye(4), np.arange(4.0), "toy", tuple("abcd"), ("t",), "regression")
    )
    history = fit(problem, SGD(0.1), epochs=3, batch_size=2, rng=rng(), progress=False)
    assert history.steps == 6
    assert len(history.lr) == 6
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3]
    assert [e["step"] for e in history.epochs] == [2, 4, 6]
    assert history.lr == [0.1] * 6
    assert history.status == "ok"
    assert history.stopped_at is None
    json.dumps(history.to_dict())  # plain data
    assert History.from_dict(history.to_dict()) == history


def test_function_problem_records_the_path_like_run_path():
    problem = FunctionProblem("bowl")
    optimizer = create("adam", preset="book", lr=0.3)
    history = fit(problem, optimizer, steps=30, rng=rng(), progress=False)
    expected = functions2d.run_path("bowl", create("adam", preset="book", lr=0.3), steps=30)
    np.testing.assert_array_equal(np.array(history.path), expected)


def test_same_seed_same_batches_for_every_optimizer(course_moons):
    seen = {}
    for name in ("sgd", "adam"):
        problem = MLPClassification(course_moons, (4,))
        batches = []
        original = problem.loss_and_grads

        def spy(params, batch, original=original, batches=batches):
            batches.append(batch.copy())
            return original(params, batch)

        problem.loss_and_grads = spy
        fit(problem, create(name, lr=0.01), steps=25, batch_size=32, rng=rng(7), progress=False)
        seen[name] = batches
    assert all(np.array_equal(a, b) for a, b in zip(seen["sgd"], seen["adam"], strict=True))


def test_same_seed_is_bit_identical(course_moons):
    def run():
        problem = MLPClassification(course_moons, (8, 8), dropout=0.2)
        h = fit(problem, Adam(0.01), epochs=5, batch_size=32, rng=rng(5), progress=False)
        return h

    a, b = run(), run()
    assert a.loss == b.loss
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])


# --------------------------------------------------------------------------- divergence


def test_divergence_is_reported_not_raised():
    problem = FunctionProblem("bowl")
    history = fit(problem, SGD(1.5), steps=1000, rng=rng(), progress=False)
    assert history.status == "diverged"
    assert 0 < history.stopped_at < 1000
    assert history.reason.startswith("diverged")
    assert history.steps == history.stopped_at
    assert len(history.path) == history.steps + 1
    assert all(math.isfinite(x) and math.isfinite(y) for x, y in history.path)


def test_non_finite_loss_and_gradient_end_the_run():
    nan_loss = fit(Scripted([3.0, 2.0, math.nan]), SGD(0.1), steps=10, rng=rng(), progress=False)
    assert nan_loss.status == "diverged"
    assert nan_loss.stopped_at == 2
    assert "not finite" in nan_loss.reason
    nan_grad = fit(
        Scripted([3.0, 2.0, 1.0], nan_grad_at=1), SGD(0.1), steps=10, rng=rng(), progress=False
    )
    assert nan_grad.status == "diverged"
    assert nan_grad.stopped_at == 1
    assert "grads['w'] contains NaN" in nan_grad.reason
    assert nan_grad.params["w"][1] == pytest.approx(-0.01)  # one step done, none after


def test_exploding_loss_limit():
    history = fit(
        Scripted([1.0, 10.0, 1e3, 1e5]),
        SGD(0.1),
        steps=10,
        rng=rng(),
        progress=False,
        callbacks=[DivergenceGuard(100)],
    )
    assert history.status == "diverged"
    assert history.stopped_at == 2
    assert "above 100" in history.reason


# --------------------------------------------------------------------------- callbacks


def test_early_stopping_restores_the_best_parameters():
    problem = Scripted([1.0] * 20, val_losses=[5, 4, 3, 3.5, 3.6, 3.7, 3.8, 3.9])
    stopper = EarlyStopping(patience=2)
    history = fit(
        problem,
        SGD(0.1),
        steps=20,
        validation="validation",
        rng=rng(),
        progress=False,
        callbacks=[stopper],
    )
    assert history.status == "stopped"
    assert history.stopped_at == 6  # best at 3, then 3 epochs without improvement
    assert "early stopping" in history.reason
    # Parameters at the best epoch (3 steps of -0.1 * 0.1).
    np.testing.assert_allclose(history.params["w"], np.full(3, -0.03))


def test_reduce_on_plateau_is_told_the_validation_loss():
    schedule = ReduceOnPlateau(1.0, factor=0.5, patience=1)
    history = fit(
        Scripted([1.0] * 10, val_losses=[3, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
        SGD(1.0),
        steps=8,
        schedule=schedule,
        validation="validation",
        rng=rng(),
        progress=False,
    )
    # Each step is an epoch; its report reaches the schedule before the next
    # step. Reports 3 and 2 improve; with patience 1 the second stalled report
    # cuts the rate (after steps 4 and 6), and the count starts again.
    assert history.lr == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_callbacks_see_every_step_and_epoch(course_moons):
    class Recorder(Callback):
        def __init__(self):
            self.events = []

        def on_train_begin(self, run):
            self.events.append("begin")

        def on_step_end(self, run, loss):
            self.events.append(("step", run.step))

        def on_epoch_end(self, run, metrics):
            self.events.append(("epoch", run.epoch, metrics["step"]))

        def on_train_end(self, run):
            self.events.append("end")

    recorder = Recorder()
    problem = MLPClassification(course_moons, (4,))
    fit(problem, SGD(0.1), epochs=2, batch_size=200, rng=rng(), progress=False,
        callbacks=[recorder])  # fmt: skip
    assert recorder.events == [
        "begin",
        ("step", 1),
        ("epoch", 1, 2),
        ("step", 2),
        ("step", 3),
        ("epoch", 2, 4),
        ("step", 4),
        "end",
    ]


def test_progress_bar_is_quiet_off_a_terminal(capsys):
    fit(FunctionProblem("bowl"), SGD(0.1), steps=50, rng=rng(), progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


# --------------------------------------------------------------------------- checkpoints


class Interrupt(Callback):
    def __init__(self, at):
        self.at = at

    def on_step_end(self, run, loss):
        if run.step == self.at:
            raise KeyboardInterrupt


def _moons_run(course_moons, tmp_path, callbacks=(), resume=None, optimizer="adam"):
    problem = MLPClassification(
        Splits(course_moons.subset(np.arange(200)), course_moons.subset(np.arange(200, 300)),
               course_moons.subset(np.arange(200, 300))),
        (8, 8),
        dropout=0.1,
    )  # fmt: skip
    return fit(
        problem,
        create(optimizer, lr=0.01),
        steps=100,
        batch_size=32,
        validation="validation",
        rng=rng(11),
        progress=False,
        callbacks=[EarlyStopping(patience=50), *callbacks],
        resume=resume,
    )


@pytest.mark.parametrize("optimizer", ["adam", "schedule_free_adamw"])
def test_resume_from_a_checkpoint_is_bit_identical(course_moons, tmp_path, optimizer):
    # schedule_free_adamw: early stopping also keeps the best eval point in its state
    straight = _moons_run(course_moons, tmp_path, optimizer=optimizer)
    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        _moons_run(course_moons, tmp_path, callbacks=[Interrupt(70), Checkpoint(path, every=30)],
                   optimizer=optimizer)  # fmt: skip
    resumed = _moons_run(course_moons, tmp_path, callbacks=[Checkpoint(path, every=30)],
                         resume=path, optimizer=optimizer)  # fmt: skip
    assert resumed.loss == straight.loss
    for key in straight.eval_params or {}:
        np.testing.assert_array_equal(resumed.eval_params[key], straight.eval_params[key])
    assert resumed.lr == straight.lr
    for key in straight.params:
        np.testing.assert_array_equal(resumed.params[key], straight.params[key])
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in straight.epochs]
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in resumed.epochs] == strip
    # A finished run's checkpoint resumes to the same result at once.
    again = _moons_run(course_moons, tmp_path, resume=path, optimizer=optimizer)
    assert again.loss == straight.loss


def test_resume_checks_the_run(tmp_path, boston_rm_lstat):
    path = tmp_path / "ck.npz"
    problem = LinearRegression(boston_rm_lstat)
    fit(problem, SGD(0.01), steps=10, rng=rng(), progress=False, callbacks=[Checkpoint(path, 5)])
    with pytest.raises(ValueError, match="a checkpoint of a 20-step run"):
        fit(problem, SGD(0.01), steps=20, rng=rng(), progress=False, resume=path)
    with pytest.raises(ValueError, match="differ in lr"):
        fit(problem, SGD(0.02), steps=10, rng=rng(), progress=False, resume=path)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bad\.npz is not a gdlab checkpoint"):
        fit(problem, SGD(0.01), steps=10, rng=rng(), progress=False, resume=tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        fit(problem, SGD(0.01), steps=10, rng=rng(), progress=False,
            resume=tmp_path / "missing.npz")  # fmt: skip


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps": 5, "epochs": 5}, ValueError, "exactly one of them"),
        ({}, ValueError, "exactly one of them"),
        ({"steps": 5, "batching": "shuffle"}, ValueError, "batching must be one of"),
        ({"steps": 5, "validation": "holdout"}, ValueError, "validation must be one of"),
        ({"steps": 5, "rng": 0}, TypeError, "rng must be a numpy.random.Generator"),
        ({"steps": -1}, ValueError, "steps must be an integer >= 0"),
        ({"steps": 5, "batch_size": 0}, ValueError, "batch_size"),
        ({"steps": 5, "callbacks": [print]}, TypeError, "callbacks must be a list"),
        ({"steps": 5, "evaluate_every": 0}, ValueError, "evaluate_every must be"),
    ],
)
def test_fit_errors(kwargs, error, message, boston_rm_lstat):
    problem = LinearRegression(boston_rm_lstat)
    kwargs = {"rng": rng(), "progress": False, **kwargs}
    with pytest.raises(error, match=message):
        fit(problem, SGD(0.01), **kwargs)


def test_fit_refuses_what_is_not_a_problem_or_optimizer(boston_rm_lstat):
    with pytest.raises(TypeError, match="problem must be a gdlab Problem"):
        fit(object(), SGD(0.1), steps=1, rng=rng())
    with pytest.raises(TypeError, match=r"optimizer must be a gdlab\.optim optimizer"):
        fit(LinearRegression(boston_rm_lstat), "sgd", steps=1, rng=rng())


# --------------------------------------------------------------------------- problems


def test_logistic_regression_learns_the_moons(course_moons):
    problem = LogisticRegression(course_moons)
    params = problem.init_params(rng())
    assert all(not a.any() for a in params.values())  # starts at zero
    history = fit(problem, Adam(0.05), epochs=200, rng=rng(), progress=False)
    # A straight line separates about 85% of the course's moons.
    assert 0.8 < history.epochs[-1]["train_accuracy"] < 0.9
    assert history.final_loss < 0.4


def test_problem_evaluation_on_each_split(course_moons):
    parts = Splits(
        course_moons.subset(np.arange(200)),
        course_moons.subset(np.arange(200, 250)),
        course_moons.subset(np.arange(250, 300)),
    )
    problem = MLPClassification(parts, (6,))
    assert problem.splits == ("train", "validation", "test")
    assert problem.n_samples == 200
    params = problem.init_params(rng())
    for split in problem.splits:
        metrics = problem.evaluate(params, split)
        assert set(metrics) == {"loss", "accuracy"}
        assert 0 <= metrics["accuracy"] <= 1
    with pytest.raises(ValueError, match="split must be one of 'train', 'validation', 'test'"):
        problem.evaluate(params, "holdout")
    with pytest.raises(ValueError, match="batch must be indices into the 200 training samples"):
        problem.loss_and_grads(params, np.array([0, 200]))


def test_problems_refuse_the_wrong_kind_of_data(boston_rm_lstat, course_moons):
    with pytest.raises(ValueError, match="data must be a regression data set"):
        LinearRegression(course_moons)
    with pytest.raises(ValueError, match="data must be a classification data set"):
        MLPClassification(boston_rm_lstat)
    with pytest.raises(TypeError, match=r"data must be a gdlab\.data Dataset or Splits"):
        LinearRegression(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="function must be one of"):
        FunctionProblem("sphere")


def test_linear_regression_gradient_matches_central_differences(boston_rm_lstat):
    from gdlab.nn import gradcheck

    problem = LinearRegression(boston_rm_lstat, init="normal")
    params = problem.init_params(rng(4))
    batch = np.arange(0, 506, 7)
    _, grads = problem.loss_and_grads(params, batch)
    grads = {k: v.copy() for k, v in grads.items()}
    errors = gradcheck(lambda: problem.loss_and_grads(params, batch)[0], params, grads)
    assert max(errors.values()) < 1e-7


def test_a_blow_up_on_the_last_step_is_caught_by_the_evaluation():
    """Full-batch GD on the bowl at lr 1.5: y is multiplied by −2 each step."""
    history = fit(FunctionProblem("bowl"), SGD(1.5), steps=1, rng=rng(), progress=False,
                  callbacks=[DivergenceGuard(1.5)])  # fmt: skip
    assert history.status == "diverged"
    assert history.stopped_at == 1
    assert "evaluated training loss" in history.reason
