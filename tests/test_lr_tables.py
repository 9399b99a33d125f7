"""Schedules in an experiment's lr table and in an optimizer's saved state."""

from __future__ import annotations

import numpy as np

from gdlab.experiments import Experiment
from gdlab.experiments.describe import schedule_text
from gdlab.optim import Adam
from gdlab.schedules import Lambda, Warmup


def _experiment(lr: dict) -> Experiment:
    return Experiment.from_dict(
        {
            "problem": {"kind": "function", "function": "bowl"},
            "training": {"steps": 5},
            "runs": [{"optimizer": "adam", "lr": lr}],
        }
    )


def test_a_warmup_keeps_its_warmup():
    """A warm-up's own ``schedule`` key is its inner schedule, not a wrapper to unwrap."""
    lr = {
        "name": "warmup",
        "warmup_steps": 3,
        "schedule": {"name": "exponential", "lr0": 0.1, "rate": 0.9, "per": "step"},
    }
    run = _experiment(lr).runs[0]
    schedule = run.make_optimizer().schedule
    assert isinstance(schedule, Warmup)
    assert schedule(0, 0) == 0.0
    assert schedule_text(lr).startswith("Warmup(")
    faster = _experiment(lr).with_lr("adam", 0.2).runs[0]
    assert faster.make_optimizer().schedule.schedule(0, 0) == 0.2


def test_an_optimizer_with_a_callable_schedule_reloads():
    def decay(step):
        return 0.9**step

    opt = Adam(lr=Lambda(0.1, decay))
    params = {"x": np.ones(3)}
    opt.update(params, {"x": np.ones(3)})
    twin = Adam(lr=opt.lr)
    twin.load_state_dict(opt.state_dict())
    assert twin.t == 1
