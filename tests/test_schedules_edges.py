"""Schedules at their edges: resumed state, counters, references at boundaries."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from gdlab import schedules as S
from gdlab.optim import create


def _plateau_state(lr, best=None):
    return {"lr": lr, "best": best, "num_bad_epochs": 0, "cooldown_counter": 0}


@pytest.mark.parametrize("lr", [5.0, 0.001, 0.0])
def test_plateau_refuses_a_saved_rate_its_reports_cannot_reach(lr):
    """Fixed: a rate above lr0 or below min_lr was loaded (and used) as it was."""
    s = S.ReduceOnPlateau(0.1, min_lr=0.01)
    before = s.state_dict()
    with pytest.raises(ValueError, match=r"^lr must be in \[0.01, 0.1\]"):
        s.load_state_dict(_plateau_state(lr))
    assert s.state_dict() == before


def test_plateau_resumed_mid_run_continues_bit_identically():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6]
    run = S.ReduceOnPlateau(0.1, factor=0.3, patience=1, cooldown=1, min_lr=1e-3)
    rates = [run.report(m) for m in metrics]
    half = S.ReduceOnPlateau(0.1, factor=0.3, patience=1, cooldown=1, min_lr=1e-3)
    for m in metrics[:5]:
        half.report(m)
    resumed = S.from_config(half.config())
    resumed.load_state_dict(json.loads(json.dumps(half.state_dict())))
    assert [resumed.report(m) for m in metrics[5:]] == rates[5:]


@pytest.mark.parametrize("step", [1.0, 2.5, True, np.float64(3.0)])
def test_a_step_that_is_not_an_integer_is_named(step):
    with pytest.raises(TypeError, match=r"^step must be an integer"):
        S.ExponentialDecay(0.1, 0.5, per="step")(step)


def test_numpy_integer_counters_give_the_python_ones_rates():
    s = S.Join([0.1, S.SWALR(0.1, 0.02, 3, per="step")], [4], form="torch")
    assert [s(np.int64(t)) for t in range(10)] == [s(t) for t in range(10)]


def test_a_schedule_through_set_lr_continues_from_the_step_count():
    s = S.Warmup(S.CosineDecay(0.1, 10, per="step"), 3)
    opt = create("sgd", lr=0.5)
    params = {"x": np.ones(2)}
    for _ in range(4):
        opt.update(params, {"x": params["x"].copy()})
    opt.set_lr(copy.deepcopy(s))
    seen = []
    for _ in range(5):
        opt.update(params, {"x": params["x"].copy()})
        seen.append(opt.current_lr)
    assert seen == [s(t) for t in range(4, 9)]
