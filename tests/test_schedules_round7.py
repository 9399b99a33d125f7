"""Round 7 of the schedules' user test: a Join's torch-form formula says where a resuming
piece starts, a missing schedule argument is named, formulas show numbers without float
noise, and setting a schedule's rate (``--lr``, tuning) keeps its whole shape."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab import cli, schedules, tuning
from gdlab.data import moons
from gdlab.experiments import Experiment, model
from gdlab.experiments.describe import schedule_text
from gdlab.optim import create as optimizer
from gdlab.problems import LogisticRegression
from gdlab.schedules import (
    SWALR,
    Constant,
    CosineDecay,
    Join,
    Multiplicative,
    OneCycle,
    PiecewiseConstant,
    create,
    from_config,
)
from gdlab.train import fit


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Nothing is written into the repository, whatever a test forgets to pass."""
    monkeypatch.chdir(tmp_path)


# --------------------------------------------------------------------------- B. Join's formula


def test_a_torch_join_shows_a_swa_piece_starting_from_the_rate_at_the_boundary():
    join = Join([CosineDecay(0.1, 10), SWALR(0.1, 0.02, 5, per="step")], [10], form="torch")
    text = repr(join)
    assert "s1 = SWALR(lr = 0.02·α + lr(9)·(1 − α)" in text
    assert "from lr(9), this join's rate at n = 9 (its lr0 = 0.1 unused)" in text
    assert "0.1·(1 − α)" not in text  # what the run does not use
    # and the formula is what runs: s1 starts at lr(9), not at its lr0 = 0.1
    assert join(10) == join(9) == pytest.approx(0.1 * (1 + math.cos(math.pi * 9 / 10)) / 2)
    assert join(15) == pytest.approx(0.02)


def test_a_torch_join_shows_a_multiplicative_piece_continuing():
    def half(k):
        return 0.5

    join = Join([CosineDecay(0.1, 10), Multiplicative(0.1, half, per="step")], [10], form="torch")
    assert "s1 = Multiplicative(lr = lr(9)·λ(0)·…·λ(n), λ = " in repr(join)
    assert join(10) == join(9) * 0.5  # λ(0) already at the boundary
    counted_from_one = Multiplicative(0.1, half, per="step", first=1)
    join = Join([CosineDecay(0.1, 10), counted_from_one], [10], form="torch")
    assert "lr(9)·λ(1)·…·λ(n)" in repr(join)
    assert join(10) == join(9) * 0.5


def test_an_optax_join_and_a_first_piece_keep_their_own_formula():
    optax = Join([CosineDecay(0.1, 10), SWALR(0.1, 0.02, 5, per="step")], [10])
    assert "s1 = SWALR(lr = 0.02·α + 0.1·(1 − α)" in repr(optax)
    assert "lr(9)" not in repr(optax)
    first = Join([SWALR(0.1, 0.02, 5, per="step"), 0.01], [10], form="torch")
    assert "s0 = SWALR(lr = 0.02·α + 0.1·(1 − α)" in repr(first)


def test_the_report_formula_of_a_torch_join():
    lr = {
        "name": "join",
        "boundaries": [10],
        "form": "torch",
        "schedules": [
            {"name": "cosine", "lr0": 0.1, "decay_steps": 10},
            {"name": "swa", "lr0": 0.1, "swa_lr": 0.02, "anneal_epochs": 5, "per": "step"},
        ],
    }
    text = schedule_text(lr)  # the report's "lr" of the run
    assert "0.02·α + lr(9)·(1 − α)" in text
    assert "0.02·α + 0.1·(1 − α)" not in text


# --------------------------------------------------------------------------- C. missing arguments


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        (
            "cosine",
            {"lr0": 0.1},
            r"^schedule 'cosine' must be given 'decay_steps' \(it has no default; 'cosine' "
            r"takes 'lr0', 'decay_steps', .*'periodic'\); got \{'lr0': 0\.1\}$",
        ),
        (
            "cosine",
            {},
            r"^schedule 'cosine' must be given 'lr0' and 'decay_steps' \(they have no default;"
            r".*; got \{\}$",
        ),
        ("join", {"schedules": [0.1]}, r"^schedule 'join' must be given 'boundaries' \("),
        ("swa", {"swa_lr": 0.1}, r"^schedule 'swa' must be given 'lr0' \(it has"),
        ("cosine", {"lr0": 0.1, "steps": 3}, r"^an argument of 'cosine' must be one of 'lr0'"),
    ],
)
def test_a_missing_or_unknown_schedule_argument_is_named(name, kwargs, message):
    with pytest.raises(TypeError, match=message):
        create(name, **kwargs)


def test_a_missing_argument_in_a_config_is_named():
    piece = {"name": "cosine", "lr0": 0.1}
    with pytest.raises(TypeError, match=r"^schedule 'cosine' must be given 'decay_steps'"):
        from_config({"name": "join", "boundaries": [3], "schedules": [0.1, piece]})


def test_the_cli_names_a_missing_schedule_argument(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["race", "bowl", "--optimizers", "sgd", "--steps", "10", "--out", str(out)]
    code = cli.main([*argv, "--lr", 'sgd={name="cosine",lr0=0.1}'])
    err = capsys.readouterr().err
    assert code == 2
    assert "schedule 'cosine' must be given 'decay_steps' (it has no default" in err
    assert "__init__" not in err
    assert not out.exists()


# --------------------------------------------------------------------------- D. numbers in formulas


def test_formulas_show_numbers_without_float_noise():
    three = repr(OneCycle(0.5, 12, three_phase=True))
    assert "→ 0.5 at n = 2.6, → 0.02 at n = 5.2," in three
    assert "2.5999999999999996" not in three
    optax = repr(OneCycle(0.5, 12, form="optax"))
    assert "→ 2e-06 at n = 12.0, then 2e-06;" in optax
    assert repr(OneCycle(0.03, 12, form="optax")).count("1.2e-07") == 2
    assert "else 0.01;" in repr(PiecewiseConstant([5], [0.1, 0.1 * 0.1]))
    assert repr(SWALR(0.1, 0.1 * 0.1)).startswith("SWALR(lr = 0.01·α + 0.1·(1 − α)")
    assert repr(Constant(2.0000000000000004)) == "Constant(lr = 2.0)"


def test_precise_numbers_keep_their_digits_and_configs_every_digit():
    assert repr(Constant(0.123456789012345)) == "Constant(lr = 0.123456789012345)"
    assert repr(Constant(1234567890123.0)) == "Constant(lr = 1234567890123.0)"
    assert repr(Constant(1e-08)) == "Constant(lr = 1e-08)"
    noisy = PiecewiseConstant([5], [0.1, 0.1 * 0.1])
    assert noisy.config()["values"] == [0.1, 0.010000000000000002]
    assert from_config(noisy.config()) == noisy


def test_a_bound_in_an_error_keeps_every_digit():
    # lr0 0.29999999999999993 must not read as 0.3 beside the refused 0.3
    with pytest.raises(
        ValueError, match=r"^min_lr must be <= lr0 = 0\.29999999999999993; got 0\.3$"
    ):
        CosineDecay(0.29999999999999993, 10, min_lr=0.3)


# --------------------------------------------------------------------------- E. setting the rate


COSINE = {"name": "cosine", "lr0": 0.5, "decay_steps": 20, "min_lr": 0.05}
E4 = """
name = "e4"
seeds = 1
[problem]
kind = "function"
function = "bowl"
[training]
steps = 20
[[runs]]
label = "cos"
optimizer = "sgd"
lr = { name = "cosine", lr0 = 0.5, decay_steps = 20, min_lr = 0.05 }
"""


@pytest.mark.parametrize(
    ("config", "lr0", "expected"),
    [
        (COSINE, 0.001, {**COSINE, "lr0": 0.001, "min_lr": 0.0001}),
        (COSINE, 5.0, {**COSINE, "lr0": 5.0, "min_lr": 0.5}),
        ({**COSINE, "min_lr": 0.5}, 0.001, {**COSINE, "lr0": 0.001, "min_lr": 0.001}),
        (
            {"name": "polynomial", "lr0": 0.1, "end_lr": 0.01, "decay_steps": 5},
            1.0,
            {"name": "polynomial", "lr0": 1.0, "end_lr": 0.1, "decay_steps": 5},
        ),
        (
            {"name": "swa", "lr0": 0.1, "swa_lr": 0.02},
            0.05,
            {"name": "swa", "lr0": 0.05, "swa_lr": 0.01},
        ),
        (
            {"name": "plateau", "lr0": 0.1, "min_lr": 0.001},
            0.01,
            {"name": "plateau", "lr0": 0.01, "min_lr": 0.0001},
        ),
        (
            {"name": "warmup", "schedule": COSINE, "warmup_steps": 3, "start_lr": 0.05},
            0.005,
            {
                "name": "warmup",
                "schedule": {**COSINE, "lr0": 0.005, "min_lr": 0.0005},
                "warmup_steps": 3,
                "start_lr": 0.0005,
            },
        ),
        (
            {"name": "warmup", "schedule": 0.1, "warmup_steps": 3, "start_lr": 0.01},
            1.0,
            {"name": "warmup", "schedule": 1.0, "warmup_steps": 3, "start_lr": 0.1},
        ),
        (
            {"name": "piecewise", "boundaries": [3], "values": [0.1, 0.01]},
            1.0,
            {"name": "piecewise", "boundaries": [3], "values": [1.0, 0.1]},
        ),
        ({"name": "exponential", "lr0": 0.1, "rate": 0.5}, 1.0, None),
    ],
)
def test_setting_the_initial_rate_scales_every_rate(config, lr0, expected):
    if expected is None:
        expected = {**config, "lr0": lr0}
    changed = schedules.with_lr0(config, lr0)
    assert close(changed, expected)
    old, new = from_config(config), from_config(changed)  # a valid schedule
    for n in (0, 1, 2, 5, 10, 30):
        assert new(n) == pytest.approx(old(n) * lr0 / first_rate(config), rel=1e-12)


def close(a, b) -> bool:
    """``a == b`` with the numbers in them equal to 1e-12 (tables and lists within)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(close, a, b))
    if isinstance(a, float):
        return a == pytest.approx(b, rel=1e-12)
    return a == b


def first_rate(config):
    """The initial rate of a config in the table above."""
    if "lr0" in config:
        return config["lr0"]
    if config["name"] == "piecewise":
        return config["values"][0]
    inner = config["schedule"]
    return inner if isinstance(inner, float) else inner["lr0"]


def test_a_floor_never_passes_the_new_rate():
    for lr0 in (0.3, 1e-300, 0.7, 0.1 + 0.2, 1 / 3):
        changed = schedules.with_lr0({**COSINE, "lr0": 0.1, "min_lr": 0.1 - 1e-17}, lr0)
        assert changed["min_lr"] <= changed["lr0"] == lr0
        CosineDecay(changed["lr0"], 20, min_lr=changed["min_lr"])


def test_a_schedule_without_an_initial_rate_or_a_bad_value():
    assert schedules.with_lr0({"name": "onecycle", "max_lr": 0.1, "total_steps": 9}, 0.2) is None
    assert (
        schedules.with_lr0({"name": "warmup", "schedule": {"name": "cyclic"}, "warmup_steps": 2}, 1)
        is None
    )
    bad = schedules.with_lr0({**COSINE, "min_lr": "low"}, 0.1)  # left for the schedule to name
    assert bad["min_lr"] == "low"
    with pytest.raises(TypeError, match=r"^min_lr must be a real number"):
        from_config(bad)
    assert schedules.SCHEDULES["cosine"].shape_rates == ("min_lr",)


def test_lr_on_a_cosine_with_a_floor_scales_the_floor():
    experiment = Experiment.from_toml(E4)
    changed = experiment.with_lr("sgd", 0.001)
    assert changed.runs[0].lr == {**COSINE, "lr0": 0.001, "min_lr": 0.0001}
    assert experiment.runs[0].lr == COSINE  # unchanged
    assert experiment.set("sgd.lr", 0.01).runs[0].lr["min_lr"] == pytest.approx(0.001)


def test_tuning_a_cosine_with_a_floor_fails_no_point(tmp_path):
    document = tuning.tune(
        Experiment.from_toml(E4), tmp_path / "t", budget=4, folds=1, progress=False
    )
    points = document["configurations"]["cos"]["points"]
    assert min(p["hyperparameters"]["lr"] for p in points) < 0.05  # below the old floor
    assert [p["failed"] for p in points] == [0] * len(points)
    assert not any(document["configurations"]["cos"]["failed"])


# --------------------------------------------------------------------------- initial_rate


@pytest.mark.parametrize(
    ("config", "rate"),
    [
        ({"name": "constant", "lr": 0.2}, 0.2),
        (COSINE, 0.5),
        ({"name": "piecewise", "boundaries": [3], "values": [0.3, 0.01]}, 0.3),
        ({"name": "warmup", "schedule": 0.4, "warmup_steps": 3}, 0.4),
        ({"name": "warmup", "schedule": {**COSINE, "lr0": 0.05}, "warmup_steps": 3}, 0.05),
        ({"name": "onecycle", "max_lr": 0.1, "total_steps": 9}, None),
        ({"name": "warmup", "schedule": {"name": "cyclic"}, "warmup_steps": 2}, None),
        ({"name": "piecewise", "boundaries": [], "values": []}, None),
        ({**COSINE, "lr0": "x"}, None),  # not a number: no rate
        ({**COSINE, "lr0": True}, None),
        ({"name": "cosine", "lr": 0.1, "decay_steps": 20}, None),  # not cosine's argument
    ],
)
def test_initial_rate_is_where_with_lr0_sets_it(config, rate):
    assert schedules.initial_rate(config) == rate
    changed = schedules.with_lr0(config, 0.5)
    if rate is not None:  # with_lr0 puts the new rate exactly where initial_rate reads
        assert schedules.initial_rate(changed) == 0.5


def test_an_experiments_initial_rate_reads_the_same_rules():
    schedule_lr0 = model.schedule_lr0
    assert schedule_lr0(0.3) == 0.3
    assert schedule_lr0({"schedule": {**COSINE, "lr0": 0.05}}) == 0.05  # a wrapped table
    assert schedule_lr0({"name": "cosine", "lr": 0.1, "decay_steps": 20}) is None
    assert schedule_lr0({"name": "piecewise", "boundaries": [3], "values": ["x", 0.1]}) is None


def test_setting_a_schedules_rate_reads_its_table_once(monkeypatch):
    calls = []
    real = model.schedule_config
    monkeypatch.setattr(model, "schedule_config", lambda lr: calls.append(lr) or real(lr))
    with pytest.raises(model.ConfigError, match=r"initial rate of schedule 'onecycle'"):
        model._with_lr0({"name": "onecycle", "max_lr": 0.1, "total_steps": 9}, 0.2, "lr")
    assert len(calls) == 1


# --------------------------------------------------------------------------- a name as a rate


def test_a_schedules_name_given_as_a_rate_is_told_to_use_create():
    with pytest.raises(TypeError) as error:
        schedules.as_schedule("cosine", name="schedule")
    assert str(error.value) == (
        "schedule must be a positive real number or a Schedule (a name with its arguments: "
        "gdlab.schedules.create('cosine', ...)); got 'cosine' (str)"
    )
    with pytest.raises(TypeError, match=r"^lr must be .*create\('step', \.\.\.\)\); got 'step'"):
        schedules.as_schedule("step")
    with pytest.raises(ValueError, match=r"^schedule must be > 0; got -1.0"):
        schedules.as_schedule(-1.0, name="schedule")
    # another text is no schedule's name: the message stays short
    with pytest.raises(TypeError, match=r"^lr must be a positive real number or a Schedule; got"):
        schedules.as_schedule("fast")


def test_fit_refuses_a_schedules_name_with_the_same_words():
    problem = LogisticRegression(moons(20, rng=np.random.default_rng(0)))
    with pytest.raises(TypeError, match=r"^schedule must be .*create\('cosine', \.\.\.\)\)"):
        fit(problem, optimizer("sgd", lr=0.1), steps=1, schedule="cosine",
            rng=np.random.default_rng(0), progress=False)  # fmt: skip
