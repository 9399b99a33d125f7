"""Round 8 of the fit loop: early stopping's evaluation point when the average
starts late, dropout drawn from the run's generator when ``params`` are given,
an evaluation point that later runs cannot change, checkpoints that keep their
``validation`` and ``evaluate_every``, a warm-up that never fails a run, and
Rprop refusing a schedule whose later rates it would not use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab.data import moons, split
from gdlab.optim import create, register
from gdlab.optim.registry import unregister
from gdlab.problems import FunctionProblem, LogisticRegression, MLPClassification
from gdlab.schedules import Constant, ExponentialDecay
from gdlab.train import Callback, Checkpoint, EarlyStopping, fit
from param_checks import assert_same, copied

# --------------------------------------------------------------------------- helpers


def _splits():
    data = moons(130, rng=np.random.default_rng(1))
    return split(data, test_size=0.2, validation_size=0.2, rng=np.random.default_rng(2))


# --------------------------------------------------------------------------- 1. early stopping


def _stopped_early(optimizer, patience):
    """Moons with dropout, 30 epochs watched by EarlyStopping(patience): problem, history."""
    problem = MLPClassification(_splits(), (6,), dropout=0.3)
    h = fit(problem, optimizer, epochs=30, batch_size=16, validation="validation",
            rng=np.random.default_rng(7), callbacks=[EarlyStopping(patience=patience)],
            progress=False)  # fmt: skip
    return problem, h


def test_early_stopping_with_a_late_average_hands_back_the_best_point():
    """SWA starting at step 18: the best val_loss was measured at the parameters
    themselves (no average yet), so they are the evaluation point handed back."""
    problem, h = _stopped_early(
        create("average", inner="adam", lr=0.3, mode="swa", start=18), patience=2
    )
    assert h.status == "stopped"
    best = min(e["val_loss"] for e in h.epochs)
    assert problem.evaluate(h.params, "validation")["loss"] == best
    assert h.eval_params is not None
    assert problem.evaluate(h.eval_params, "validation")["loss"] == best
    assert_same(h.eval_params, h.params)
    assert all(h.eval_params[k] is not h.params[k] for k in h.params)  # a copy


def test_early_stopping_keeps_a_best_average_measured_at_the_average():
    """The average measured from the start: its best point stays eval_params."""
    problem, h = _stopped_early(
        create("average", inner="adam", lr=0.3, mode="ema", decay=0.5), patience=1
    )
    assert h.status == "stopped"
    best = min(e["val_loss"] for e in h.epochs)
    assert problem.evaluate(h.eval_params, "validation")["loss"] == best


# --------------------------------------------------------------------------- 2. dropout seeds


def _dropout_run(problem, params, seed=7):
    return fit(problem, create("adam", lr=0.05), epochs=2, batch_size=16,
               rng=np.random.default_rng(seed), params=copied(params), progress=False)  # fmt: skip


def test_given_params_draw_dropout_from_the_runs_generator():
    problem = MLPClassification(_splits(), (6,), dropout=0.3)
    start = problem.init_params(np.random.default_rng(0))
    a = _dropout_run(problem, start)
    b = _dropout_run(problem, start)
    assert a.loss == b.loss
    assert_same(a.params, b.params)
    c = _dropout_run(problem, start, seed=8)
    assert c.loss != a.loss


def test_runs_without_params_keep_their_bits():
    """A run that draws its parameters draws its dropout masks as before (recorded).

    The float32 losses carry the BLAS build's rounding (they moved by 4e-9 between two
    OpenBLAS releases), so they are compared to 1e-6; a different draw moves them
    by more than 1e-2."""
    problem = MLPClassification(_splits(), (6,), dropout=0.3)
    h = fit(problem, create("adam", lr=0.05), epochs=2, batch_size=16,
            rng=np.random.default_rng(7), progress=False)  # fmt: skip
    recorded = [0.6382211923573654, 0.5732102549901713, 0.5370385022645459]
    assert h.loss[:3] == pytest.approx(recorded, rel=1e-6)
    assert h.loss[-1] == pytest.approx(0.3499386725850616, rel=1e-6)
    assert h.epochs[-1]["train_loss"] == pytest.approx(0.41595707916807784, rel=1e-6)
    other = fit(problem, create("adam", lr=0.05), epochs=2, batch_size=16,
                rng=np.random.default_rng(8), progress=False)  # fmt: skip
    assert abs(other.loss[-1] - h.loss[-1]) > 1e-2


# --------------------------------------------------------------------------- 3. eval_params copy


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "average", "inner": "adam", "lr": 0.05, "mode": "ema", "decay": 0.9},
        {"name": "average", "inner": "adam", "lr": 0.05, "mode": "swa"},
        {"name": "lookahead", "inner": "adam", "lr": 0.05, "k": 2},
    ],
    ids=["ema", "swa", "lookahead"],
)
def test_a_later_run_does_not_change_an_earlier_historys_eval_params(spec):
    problem = LogisticRegression(_splits())
    spec = dict(spec)
    optimizer = create(spec.pop("name"), **spec)
    params = problem.init_params(np.random.default_rng(0))
    first = fit(problem, optimizer, epochs=2, batch_size=16, rng=np.random.default_rng(1),
                params=params, progress=False)  # fmt: skip
    kept = copied(first.eval_params)
    fit(problem, optimizer, epochs=2, batch_size=16, rng=np.random.default_rng(2),
        params=params, progress=False)  # fmt: skip
    assert_same(first.eval_params, kept)
    assert all(a.flags.writeable for a in first.eval_params.values())


# --------------------------------------------------------------------------- 4. resume


class _Interrupt(Callback):
    """Interrupts the run at ``step`` (after the Checkpoint before it saved there)."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, run, loss):
        if run.step == self.step:
            raise KeyboardInterrupt


def _checkpointed(tmp_path, **kwargs):
    """A checkpoint of a 6-epoch run (5 steps an epoch) interrupted at step 10."""
    problem = LogisticRegression(_splits())
    path = tmp_path / "ck.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(problem, create("adam", lr=0.05), epochs=6, batch_size=16,
            rng=np.random.default_rng(1), callbacks=[Checkpoint(path, every=5), _Interrupt(10)],
            progress=False, **kwargs)  # fmt: skip
    return problem, path


@pytest.mark.parametrize(
    ("saved", "given", "message"),
    [
        ({"validation": "validation"}, {"validation": "test"},
         "checkpoint validation must be 'test', this call's (resume with the same arguments); "
         "got 'validation'"),
        ({}, {"validation": "validation"},
         "checkpoint validation must be 'validation', this call's (resume with the same "
         "arguments); got None"),
        ({"evaluate_every": 2}, {},
         "checkpoint evaluate_every must be 1, this call's (resume with the same arguments); "
         "got 2"),
    ],
    ids=["other-split", "none-saved", "evaluate-every"],
)  # fmt: skip
def test_resume_refuses_another_validation_or_evaluate_every(tmp_path, saved, given, message):
    problem, path = _checkpointed(tmp_path, **saved)
    optimizer = create("adam", lr=0.05)
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    params = problem.init_params(np.random.default_rng(5))
    before = copied(params)
    with pytest.raises(ValueError, match=r"^checkpoint ") as error:
        fit(problem, optimizer, epochs=6, batch_size=16, rng=rng, resume=path, params=params,
            callbacks=[Checkpoint(path, every=1000)], progress=False, **given)  # fmt: skip
    assert str(error.value) == message
    assert rng.bit_generator.state == state
    assert optimizer.t == 0
    assert_same(params, before)


def test_resume_with_the_same_validation_goes_on(tmp_path):
    problem, path = _checkpointed(tmp_path, validation="validation", evaluate_every=2)
    h = fit(problem, create("adam", lr=0.05), epochs=6, batch_size=16,
            rng=np.random.default_rng(1), resume=path, validation="validation",
            evaluate_every=2, progress=False)  # fmt: skip
    assert h.status == "ok"
    assert all("val_loss" in e for e in h.epochs)


def test_an_old_checkpoint_without_the_fields_is_accepted(tmp_path):
    from gdlab import _io

    problem, path = _checkpointed(tmp_path)
    state = _io.load_tree(path)
    del state["validation"], state["evaluate_every"]
    _io.save_tree(path, state)
    h = fit(problem, create("adam", lr=0.05), epochs=6, batch_size=16,
            rng=np.random.default_rng(1), resume=path, progress=False)  # fmt: skip
    assert h.status == "ok"


# --------------------------------------------------------------------------- 5. warm-up


@pytest.fixture
def normalized_gd():
    name = "normalized_gd_round8"

    @register(name, lr_range=(1e-3, 1.0))
    def normalized(p, g, state, t, *, lr=0.1):
        """p ← p − lr·g/‖g‖ (per array)."""
        p -= (lr / math.sqrt(float(np.dot(g.ravel(), g.ravel())))) * g

    yield name
    unregister(name)


def test_a_rule_that_divides_by_the_gradients_norm_runs(normalized_gd):
    h = fit(FunctionProblem("bowl"), create(normalized_gd, lr=0.1), steps=5,
            rng=np.random.default_rng(0), progress=False)  # fmt: skip
    assert h.status == "ok"
    assert h.steps == 5


def test_a_warm_up_that_raises_anything_does_not_fail_the_run(monkeypatch):
    from gdlab.optim import Adam

    calls = []

    def broken(self, params, grads, closure=None):
        calls.append(self)
        if len(calls) == 1:  # the first update is the warm-up's, on a throwaway twin
            raise ArithmeticError("the twin's step")
        return original(self, params, grads, closure)

    original = Adam.update
    monkeypatch.setattr(Adam, "update", broken)
    optimizer = create("adam", lr=0.1, amsgrad=True, eps=1.2345e-7)  # not warmed up yet
    h = fit(FunctionProblem("bowl"), optimizer, steps=3, rng=np.random.default_rng(0),
            progress=False)  # fmt: skip
    assert h.status == "ok"
    assert calls[0] is not optimizer
    assert calls[1:] == [optimizer] * 3


# --------------------------------------------------------------------------- 6. rprop


def test_rprop_refuses_a_schedule_it_would_not_use():
    problem = FunctionProblem("bowl")
    optimizer = create("rprop", lr=0.1)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match=r"^rprop's lr must be a constant rate .*; got "):
        fit(problem, optimizer, steps=3, schedule=ExponentialDecay(0.1, 0.5, per="step"),
            rng=rng, progress=False)  # fmt: skip
    assert rng.bit_generator.state == state
    assert optimizer.lr == 0.1
    with pytest.raises(ValueError, match=r"^rprop's lr must be a constant rate"):
        fit(problem, create("rprop", lr=ExponentialDecay(0.1, 0.5, per="step")), steps=3,
            rng=rng, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"^rprop's lr must be a constant rate"):
        fit(problem, create("lookahead", inner="rprop", lr=0.1), steps=3,
            schedule=ExponentialDecay(0.1, 0.5, per="step"), rng=rng, progress=False)  # fmt: skip


def test_rprop_takes_a_constant_rate():
    for schedule in (None, 0.05, Constant(0.05)):
        h = fit(FunctionProblem("bowl"), create("rprop", lr=0.05), steps=3, schedule=schedule,
                rng=np.random.default_rng(0), progress=False)  # fmt: skip
        assert h.lr == [0.05] * 3
