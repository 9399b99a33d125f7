"""Round 10 review mends: a nested together() keeps the outer deferral; resume names
what a file lacks before the run's length, and the file; a warm-up's own table shown
whole in the report; a declared log range's slider leaves negative values to a linear
one."""

from __future__ import annotations

import pytest

from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.optim import OPTIMIZERS, register
from gdlab.schedules import StepDecay, Warmup

# --------------------------------------------------------------------------- 1: together


def test_a_nested_together_keeps_the_outer_check_for_its_end():
    boston = builtin("boston")
    changed = boston.together([
        lambda e: e.together([lambda x: x.set("seeds", 2)]),
        lambda e: e.set("training.batching", "random"),
        lambda e: e.set("training.batch_size", 8),
    ])  # fmt: skip
    assert (changed.seeds, changed.training.batching, changed.training.batch_size) == (
        2, "random", 8)  # fmt: skip
    assert not changed._pending  # the outer call ends it: later changes checked again
    with pytest.raises(ConfigError, match=r"^outer: .*needs a batch_size"):
        boston.together(
            [lambda e: e.together([lambda x: x.set("training.batching", "random")], "inner")],
            where="outer",
        )
    with pytest.raises(ConfigError, match=r"needs a batch_size"):
        changed.set("training.batch_size", "full")


# --------------------------------------------------------------------------- 3: report


def test_the_report_shows_a_warm_up_table_whole():
    from gdlab.report.html import _hyperparameters

    warm = Warmup(StepDecay(0.1, every=10, per="step"), 3).config()
    for hp in ({"lr": warm}, {"lr": {"schedule": warm}}, {"schedule": warm}):
        text = _hyperparameters(hp)
        assert text.startswith("lr=warmup(schedule=step(lr0=0.1, every=10"), (hp, text)
        assert "warmup_steps=3" in text
    plain = StepDecay(0.1, every=10, per="step").config()
    assert _hyperparameters({"lr": {"schedule": plain}}).startswith("lr=step(lr0=0.1")


# --------------------------------------------------------------------------- 5: sliders


def test_a_declared_log_range_leaves_a_negative_value_to_a_linear_slider(registered):
    from gdlab.play.api import optimizer_specs

    def hb(p, g, state, t, *, lr=0.1, rho=-0.01):
        p -= lr * g

    register("hb_neg_r10", lr_range=(1e-3, 1.0), tunable={"rho": {"range": (1e-4, 1e-1)}})(hb)
    registered.append("hb_neg_r10")
    specs = {s["name"]: s for s in optimizer_specs("hb_neg_r10")["hyperparameters"]}
    rho = specs["rho"]
    assert rho["scale"] == "linear", rho
    assert rho["min"] <= -0.01 <= rho["max"]


def test_a_positive_value_with_a_negative_preset_gets_a_linear_slider():
    from gdlab.play.api import _real_range

    spec = _real_range(OPTIMIZERS["sgd"], "shift", 0.5, [0.5, -0.2])
    assert spec["scale"] == "linear", spec
    assert spec["min"] <= -0.2
    assert spec["max"] >= 0.5
    assert _real_range(OPTIMIZERS["sgd"], "shift", 0.5, [0.5])["scale"] == "log"
