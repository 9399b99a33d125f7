"""Tests for gdlab.schedules: closed forms, plateau scripts, round trips, errors,
and the rates recorded from torch, optax and Keras (``tests/data/schedule_references.npz``,
written by ``scripts/record_schedules.py``; read here without importing them)."""

from __future__ import annotations

import doctest
import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gdlab import schedules
from gdlab.schedules import (
    SCHEDULES,
    SWALR,
    Chained,
    Constant,
    CosineDecay,
    Cyclic,
    ExponentialDecay,
    InverseSqrtEpochDecay,
    InverseSqrtStepDecay,
    InverseTimeDecay,
    Join,
    Lambda,
    Manual,
    Multiplicative,
    OneCycle,
    PiecewiseConstant,
    PolynomialDecay,
    ReduceOnPlateau,
    Schedule,
    StepDecay,
    Warmup,
    as_schedule,
    create,
    from_config,
)

STEPS = range(60)


def values(s: Schedule, *, per: str = "step", n: range = STEPS) -> list[float]:
    """The schedule along one counter, the other held at 0."""
    if per == "step":
        return [s(k) for k in n]
    return [s(0, epoch=k) for k in n]


def close(expected: list[float]):
    return pytest.approx(expected, rel=1e-12, abs=1e-15)


# --------------------------------------------------------------------------- closed forms


def test_doctests() -> None:
    result = doctest.testmod(schedules)
    assert result.attempted > 10
    assert result.failed == 0


def test_constant() -> None:
    assert values(Constant(0.3)) == [0.3] * len(STEPS)
    assert Constant(0.3).unit == "step"


def test_ng_example_inverse_time_counts_epochs_from_one() -> None:
    # Seed 004: lr0 = 0.2, decay_rate = 1, epoch_num = 1, 2, 3, 4.
    s = InverseTimeDecay(0.2, 1.0, first=1)
    got = [s(123, epoch=e) for e in range(4)]
    assert [round(v, 4) for v in got] == [0.1, 0.0667, 0.05, 0.04]
    assert got == close([0.2 / (1 + e) for e in range(1, 5)])


@pytest.mark.parametrize("first", [0, 1])
@pytest.mark.parametrize("decay_steps", [1, 7])
@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time(first: int, decay_steps: int, staircase: bool) -> None:
    s = InverseTimeDecay(
        0.2, 0.5, per="step", decay_steps=decay_steps, staircase=staircase, first=first
    )
    ratio = (lambda n: math.floor(n / decay_steps)) if staircase else (lambda n: n / decay_steps)
    assert values(s) == close([0.2 / (1 + 0.5 * ratio(k + first)) for k in STEPS])
    assert s.unit == "step"


def test_inverse_time_first_zero_gives_lr0_first() -> None:
    s = InverseTimeDecay(0.2, 1.0)
    assert values(s, per="epoch", n=range(4)) == close([0.2, 0.1, 0.2 / 3, 0.05])


def test_inverse_time_zero_rate_is_constant() -> None:
    assert values(InverseTimeDecay(0.2, 0.0), per="epoch") == [0.2] * len(STEPS)


@pytest.mark.parametrize("first", [0, 1])
@pytest.mark.parametrize(("decay_steps", "staircase"), [(1, False), (5, False), (5, True)])
def test_exponential(first: int, decay_steps: int, staircase: bool) -> None:
    s = ExponentialDecay(0.1, 0.95, decay_steps=decay_steps, staircase=staircase, first=first)
    assert s.unit == "epoch"
    expo = (lambda n: n // decay_steps) if staircase else (lambda n: n / decay_steps)
    assert values(s, per="epoch") == close([0.1 * 0.95 ** expo(e + first) for e in STEPS])


def test_exponential_rate_one_is_constant() -> None:
    assert values(ExponentialDecay(0.1, 1.0), per="epoch") == [0.1] * len(STEPS)


def test_per_chooses_the_counter() -> None:
    by_epoch = ExponentialDecay(0.1, 0.5)
    by_step = ExponentialDecay(0.1, 0.5, per="step")
    assert by_epoch(step=50, epoch=2) == pytest.approx(0.025)
    assert by_step(step=2, epoch=50) == pytest.approx(0.025)
    assert (by_epoch.unit, by_step.unit) == ("epoch", "step")


def test_inverse_sqrt_epoch() -> None:
    s = InverseSqrtEpochDecay(0.2, k=1.5)
    assert s.unit == "epoch"
    assert values(s, per="epoch") == close([1.5 / math.sqrt(e + 1) * 0.2 for e in STEPS])
    assert s(999, epoch=3) == pytest.approx(0.15)  # 1.5/√4·0.2, the step is ignored


def test_inverse_sqrt_step() -> None:
    s = InverseSqrtStepDecay(0.2)
    assert s.unit == "step"
    assert values(s) == close([0.2 / math.sqrt(t) for t in range(1, len(STEPS) + 1)])
    assert s(3, epoch=9) == pytest.approx(0.1)


@pytest.mark.parametrize("first", [0, 1])
def test_step_decay_halves_every_n(first: int) -> None:
    s = StepDecay(0.1, every=4, first=first)
    assert values(s, per="epoch") == close([0.1 * 0.5 ** ((e + first) // 4) for e in STEPS])
    assert values(s, per="epoch", n=range(9)) == close(
        [0.1] * (4 - first) + [0.05] * 4 + [0.025] * (1 + first)
    )


def test_step_decay_per_step_with_factor() -> None:
    s = StepDecay(1.0, every=3, factor=0.1, per="step")
    assert values(s) == close([0.1 ** (t // 3) for t in STEPS])


def test_piecewise_boundaries() -> None:
    s = PiecewiseConstant([3, 5, 10], [0.4, 0.3, 0.2, 0.1])
    expected = [0.4] * 3 + [0.3] * 2 + [0.2] * 5 + [0.1] * 50
    assert values(s) == expected
    assert (s(2), s(3), s(4), s(5), s(9), s(10)) == (0.4, 0.3, 0.3, 0.2, 0.2, 0.1)


def test_piecewise_per_epoch_first_one_and_no_boundaries() -> None:
    s = PiecewiseConstant([2], [1.0, 0.5], per="epoch", first=1)
    assert values(s, per="epoch", n=range(4)) == [1.0, 0.5, 0.5, 0.5]
    assert values(PiecewiseConstant([], [0.7])) == [0.7] * len(STEPS)


@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_polynomial_clipped(power: float) -> None:
    s = PolynomialDecay(0.1, 0.01, 20, power=power)
    expected = [(0.1 - 0.01) * (1 - min(t, 20) / 20) ** power + 0.01 for t in STEPS]
    assert values(s) == close(expected)
    assert s(20) == s(59) == pytest.approx(0.01)


def test_polynomial_cycle_as_keras() -> None:
    s = PolynomialDecay(0.1, 0.0, 4, power=2.0, cycle=True)

    def keras(t: int) -> float:
        horizon = 4 * (math.ceil(t / 4) if t > 0 else 1)
        return 0.1 * (1 - t / horizon) ** 2

    assert values(s) == close([keras(t) for t in STEPS])
    # at each multiple of decay_steps the rate is end_lr; one step later it jumps up
    assert s(4) == pytest.approx(0.0)
    assert s(5) == pytest.approx(0.1 * (1 - 5 / 8) ** 2)
    assert s(8) == pytest.approx(0.0)
    assert s(9) == pytest.approx(0.1 * (1 - 9 / 12) ** 2)


@pytest.mark.parametrize("first", [0, 1])
def test_cosine_without_restarts(first: int) -> None:
    s = CosineDecay(0.1, 25, min_lr=0.001, first=first)
    expected = [
        0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * min(t + first, 25) / 25)) / 2 for t in STEPS
    ]
    assert values(s) == close(expected)
    assert s(25 - first) == pytest.approx(0.001)
    assert s(59) == pytest.approx(0.001)


def test_cosine_restarts_t_mult_one() -> None:
    s = CosineDecay(1.0, 5, restarts=True, m_mul=0.5)
    expected = [0.5 ** (t // 5) * (1 + math.cos(math.pi * (t % 5) / 5)) / 2 for t in STEPS]
    assert values(s) == close(expected)


def test_cosine_restarts_t_mult_two_exact_at_period_boundaries() -> None:
    lr0, lo, big_t, m_mul = 0.1, 0.001, 4, 0.8
    s = CosineDecay(lr0, big_t, min_lr=lo, restarts=True, t_mult=2.0, m_mul=m_mul)

    def sgdr(n: int) -> float:
        # periods 4, 8, 16, ... start at S_i = 4·(2^i − 1); S_i <= n iff 2^i <= n//4 + 1
        i = (n // big_t + 1).bit_length() - 1
        t, length = n - big_t * (2**i - 1), big_t * 2**i
        return lo + (lr0 - lo) * m_mul**i * (1 + math.cos(math.pi * t / length)) / 2

    n = range(200)
    assert values(s, n=n) == close([sgdr(k) for k in n])
    for i, start in enumerate([0, 4, 12, 28, 60, 124]):
        assert s(start) == lo + (lr0 - lo) * m_mul**i  # exact peak at each restart
        assert s.period(start) == (i, 0, big_t * 2**i)
        if start:
            assert s.period(start - 1) == (i - 1, big_t * 2 ** (i - 1) - 1, big_t * 2 ** (i - 1))
            assert s(start - 1) < s(start)  # the restart jumps back up


def test_cosine_restarts_fractional_t_mult() -> None:
    # periods 4, 6, 9, 13.5, 20.25: restarts at 0, 4, 10, 19, 32.5, 52.75
    s = CosineDecay(1.0, 4, restarts=True, t_mult=1.5)
    assert s.period(19) == (3, 0, 13.5)
    assert s.period(32) == (3, 13, 13.5)
    assert s.period(33) == (4, 0.5, 20.25)
    assert s(32) == pytest.approx((1 + math.cos(math.pi * 13 / 13.5)) / 2)
    assert s(33) == pytest.approx((1 + math.cos(math.pi * 0.5 / 20.25)) / 2)


def test_warmup_joined_to_exponential() -> None:
    s = Warmup(ExponentialDecay(0.1, 0.9, per="step"), 5, start_lr=0.01)
    expected = [0.01 + (0.1 - 0.01) * t / 5 if t < 5 else 0.1 * 0.9 ** (t - 5) for t in STEPS]
    assert values(s) == close(expected)
    assert s(5) == 0.1  # the wrapped schedule's step 0


def test_warmup_refuses_an_epoch_schedule_and_takes_a_float() -> None:
    # An epoch-counting schedule would move the ramp's target as epochs pass.
    with pytest.raises(ValueError, match="per='step'"):
        Warmup(ExponentialDecay(0.1, 0.5), 4)
    assert values(Warmup(0.2, 4), n=range(6)) == close([0.0, 0.05, 0.1, 0.15, 0.2, 0.2])


# --------------------------------------------------------------------------- plateau


def report_all(s: ReduceOnPlateau, metrics: list[float]) -> list[float]:
    return [s.report(m) for m in metrics]


def test_plateau_patience() -> None:
    # patience 2: the 3rd bad report in a row cuts (num_bad_epochs > patience)
    s = ReduceOnPlateau(1.0, factor=0.5, patience=2, threshold=0.0, threshold_mode="abs")
    got = report_all(s, [5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3])
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert (s.best, s.num_bad_epochs, s.cooldown_counter) == (3, 2, 0)
    assert s(12345, epoch=7) == 0.25


def test_plateau_cooldown() -> None:
    # after a cut, `cooldown` reports are ignored (num_bad_epochs reset to 0)
    s = ReduceOnPlateau(1.0, factor=0.5, patience=1, cooldown=2)
    got = report_all(s, [1.0] * 11)
    assert got == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125]


def test_plateau_threshold_modes_min() -> None:
    metrics = [10.0, 9.5, 8.9, 8.5, 8.45]
    # rel 0.1: better means below best·0.9: 9.5 is not (< 9), 8.9 is, 8.5 is not (< 8.01)
    rel = ReduceOnPlateau(1.0, factor=0.5, patience=0, threshold=0.1)
    assert report_all(rel, metrics) == [1.0, 0.5, 0.5, 0.25, 0.125]
    # abs 0.1: better means below best − 0.1: all but 8.45 (not < 8.4)
    absolute = ReduceOnPlateau(1.0, factor=0.5, patience=0, threshold=0.1, threshold_mode="abs")
    assert report_all(absolute, metrics) == [1.0, 1.0, 1.0, 1.0, 0.5]


def test_plateau_threshold_modes_max() -> None:
    metrics = [1.0, 1.15, 1.2, 1.35]
    rel = ReduceOnPlateau(1.0, factor=0.5, patience=0, threshold=0.1, mode="max")
    # rel: above best·1.1: 1.15 yes (> 1.1), 1.2 no (> 1.265), 1.35 yes
    assert report_all(rel, metrics) == [1.0, 1.0, 0.5, 0.5]
    absolute = ReduceOnPlateau(
        1.0, factor=0.5, patience=0, threshold=0.2, threshold_mode="abs", mode="max"
    )
    # abs 0.2: above best + 0.2 = 1.2: 1.15 no, 1.2 no (not strictly above), 1.35 yes
    assert report_all(absolute, metrics) == [1.0, 0.5, 0.25, 0.25]
    assert absolute.best == 1.35


def test_plateau_rel_with_negative_best_follows_torch() -> None:
    # torch's documented rel bar is best·(1 − threshold), above a negative best
    s = ReduceOnPlateau(1.0, factor=0.5, patience=0, threshold=0.1)
    assert report_all(s, [-10.0, -9.5, -8.0]) == [1.0, 1.0, 0.5]
    assert s.best == -9.5


def test_plateau_min_lr() -> None:
    s = ReduceOnPlateau(1.0, factor=0.1, patience=0, min_lr=0.005)
    assert report_all(s, [1.0] * 5) == close([1.0, 0.1, 0.01, 0.005, 0.005])


def test_plateau_bad_metric() -> None:
    s = ReduceOnPlateau(0.1)
    with pytest.raises(ValueError, match=r"metric must be finite; got nan"):
        s.report(float("nan"))
    with pytest.raises(ValueError, match=r"metric must be finite; got inf"):
        s.report(math.inf)
    with pytest.raises(TypeError, match=r"metric must be a real number; got 'x' \(str\)"):
        s.report("x")
    assert s.report(np.float32(0.5)) == 0.1


# --------------------------------------------------------------------------- manual


def test_manual() -> None:
    s = Manual(0.1)
    assert s(0) == s(99, epoch=3) == 0.1
    s.set(0.02)
    assert s(100) == 0.02
    assert s.state_dict() == {"lr": 0.02}
    with pytest.raises(ValueError, match=r"lr must be > 0; got -0.5"):
        s.set(-0.5)
    with pytest.raises(ValueError, match=r"lr must be finite and > 0; got nan"):
        s.set(float("nan"))
    with pytest.raises(TypeError, match=r"lr must be a real number; got '0.1' \(str\)"):
        s.set("0.1")
    assert s(0) == 0.02  # a refused set changes nothing


# --------------------------------------------------------------------------- round trips


def halving(n: int) -> float:
    return 0.5 ** (n // 5)


def shrink(k: int) -> float:
    return 1.0 - 0.01 * (k % 3)


SAMPLES: dict[str, dict] = {
    "constant": {"lr": 0.1},
    "inverse_time": {
        "lr0": 0.2,
        "decay_rate": 0.5,
        "per": "step",
        "decay_steps": 3,
        "staircase": True,
        "first": 1,
    },
    "exponential": {"lr0": 0.1, "rate": 0.95, "decay_steps": 2},
    "inverse_sqrt_epoch": {"lr0": 0.2, "k": 2.0},
    "inverse_sqrt_step": {"lr0": 0.2, "k": 0.5},
    "step": {"lr0": 0.1, "every": 3, "factor": 0.25, "per": "step"},
    "piecewise": {"boundaries": [3, 7], "values": [0.1, 0.05, 0.01]},
    "polynomial": {"lr0": 0.1, "end_lr": 0.01, "decay_steps": 5, "power": 2.0, "cycle": True},
    "cosine": {
        "lr0": 0.1,
        "decay_steps": 3,
        "min_lr": 0.001,
        "restarts": True,
        "t_mult": 2.0,
        "m_mul": 0.5,
    },
    "warmup": {
        "schedule": ExponentialDecay(0.1, 0.9, per="step"),
        "warmup_steps": 3,
        "start_lr": 0.01,
    },
    "plateau": {"lr0": 0.1, "factor": 0.5, "patience": 1, "cooldown": 1, "min_lr": 0.001},
    "manual": {"lr0": 0.1},
    "onecycle": {
        "max_lr": 0.1,
        "total_steps": 30,
        "pct_start": 0.25,
        "anneal": "linear",
        "three_phase": True,
    },
    "cyclic": {
        "base_lr": 0.01,
        "max_lr": 0.1,
        "step_size_up": 4,
        "step_size_down": 6,
        "mode": "exp_range",
        "gamma": 0.95,
    },
    "swa": {"lr0": 0.1, "swa_lr": 0.02, "anneal_epochs": 3, "anneal": "linear"},
    "lambda": {"lr0": 0.1, "lr_lambda": halving, "per": "step"},
    "multiplicative": {"lr0": 0.1, "lr_lambda": shrink, "first": 1},
    "join": {
        "schedules": [
            Warmup(0.1, 3),
            CosineDecay(0.1, 10, periodic=True),
            SWALR(0.1, 0.01, 4, per="step"),
        ],
        "boundaries": [5, 12],
        "form": "torch",
    },
    "chained": {
        "schedules": [
            ExponentialDecay(0.1, 0.9),
            PiecewiseConstant([4], [0.5, 1.0], inclusive=True),
        ]
    },
}
#: Schedules whose config holds a Python callable (no TOML or JSON).
WITH_CALLABLES = {"lambda", "multiplicative"}


def grid(s: Schedule) -> list[float]:
    return [s(step, epoch) for step in range(0, 40, 3) for epoch in range(5)]


def mutate(s: Schedule) -> None:
    if isinstance(s, ReduceOnPlateau):
        for m in [3.0, 2.0, 2.5, 2.5, 2.4, 2.6]:
            s.report(m)
    elif isinstance(s, Manual):
        s.set(0.004)


def test_samples_cover_the_registry() -> None:
    assert set(SAMPLES) == set(SCHEDULES)
    for name, cls in SCHEDULES.items():
        assert cls.name == name


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_config_round_trip(name: str) -> None:
    s = create(name, **SAMPLES[name])
    assert isinstance(s, SCHEDULES[name])
    if name in WITH_CALLABLES:  # rebuilt in memory; to_config refuses (tested below)
        config = s.config()
    else:
        config = json.loads(json.dumps(s.to_config(), allow_nan=False))
        assert config == s.config()
    assert config["name"] == name
    t = from_config(config)
    assert t == s
    assert t is not s
    assert grid(t) == grid(s)
    assert t.config() == s.config()


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_state_round_trip(name: str) -> None:
    s = create(name, **SAMPLES[name])
    assert json.loads(json.dumps(s.state_dict(), allow_nan=False)) == s.state_dict()
    mutate(s)
    state = json.loads(json.dumps(s.state_dict(), allow_nan=False))
    t = from_config(s.config())
    t.load_state_dict(state)
    assert t == s
    assert grid(t) == grid(s)
    if name in ("plateau", "manual"):
        assert state != {}
        assert t(0) != t.lr0
    else:
        assert state == {}


def test_plateau_state_round_trip_continues_identically() -> None:
    s = ReduceOnPlateau(1.0, factor=0.5, patience=1, cooldown=2, min_lr=0.1)
    report_all(s, [1.0, 1.0, 1.0, 1.0])
    fresh = ReduceOnPlateau(1.0, factor=0.5, patience=1, cooldown=2, min_lr=0.1)
    assert fresh.state_dict() == {
        "lr": 1.0,
        "best": None,
        "num_bad_epochs": 0,
        "cooldown_counter": 0,
    }
    fresh.load_state_dict(json.loads(json.dumps(s.state_dict())))
    later = [1.0, 1.0, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert report_all(fresh, later) == report_all(s, later)


def test_warmup_carries_inner_state() -> None:
    s = Warmup(ReduceOnPlateau(0.1, patience=0), 2)
    assert s.state_dict() == {"schedule": s.schedule.state_dict()}
    assert Warmup(0.1, 2).state_dict() == {}
    s.schedule.report(1.0)
    s.schedule.report(1.0)
    t = from_config(s.config())
    assert isinstance(t.schedule, ReduceOnPlateau)
    t.load_state_dict(s.state_dict())
    assert t == s
    assert t(5) == pytest.approx(0.01)


def test_equality() -> None:
    assert ExponentialDecay(0.1, 0.9) == ExponentialDecay(0.1, 0.9)
    assert ExponentialDecay(0.1, 0.9) != ExponentialDecay(0.1, 0.8)
    assert Manual(0.1) != Constant(0.1)
    m = Manual(0.1)
    m.set(0.2)
    assert m != Manual(0.1)


# --------------------------------------------------------------------------- repr


@pytest.mark.parametrize(
    ("s", "parts"),
    [
        (Constant(0.3), ["0.3"]),
        (InverseTimeDecay(0.2, 1.0, first=1), ["0.2 / (1 + 1.0·n)", "epoch + 1 = 1, 2"]),
        (ExponentialDecay(0.1, 0.95), ["0.1·0.95^n", "n = epoch = 0, 1"]),
        (ExponentialDecay(0.1, 0.95, decay_steps=10, staircase=True), ["0.95^⌊n/10⌋"]),
        (InverseSqrtEpochDecay(0.2, k=3.0), ["3.0/√n·0.2", "epoch + 1"]),
        (InverseSqrtStepDecay(0.2), ["1.0/√n·0.2", "step + 1"]),
        (StepDecay(0.1, every=10), ["0.1·0.5^⌊n/10⌋"]),
        (PiecewiseConstant([100], [0.1, 0.01]), ["0.1 if n < 100", "else 0.01"]),
        (PolynomialDecay(0.1, 0.001, 1000, power=2.0), ["0.001", "1000", "^2.0"]),
        (CosineDecay(0.1, 50), ["0.1", "cos(π·min(n, 50)/50)"]),
        (CosineDecay(0.1, 50, restarts=True, t_mult=2.0, m_mul=0.9), ["0.9^i", "50·2.0^i"]),
        (Warmup(ExponentialDecay(0.1, 0.95, per="step"), 100), ["step/100", "0.95"]),
        (ReduceOnPlateau(0.1, factor=0.3, patience=4), ["0.3", "4 reports", "0.0001"]),
        (Manual(0.07), ["0.07"]),
        (PiecewiseConstant([3], [0.1, 0.01], inclusive=True), ["0.1 if n <= 3"]),
        (CosineDecay(0.1, 50, periodic=True), ["cos(π·n/50)", "back up to 0.1 at n = 100"]),
        (OneCycle(0.1, 100), ["0.004 → 0.1 at n = 29.0", "→ 4e-07 at n = 99.0", "torch"]),
        (OneCycle(0.1, 100, form="optax"), ["→ 0.1 at n = 30.0", "at n = 100.0", "optax"]),
        (Cyclic(0.01, 0.1, 5, mode="triangular2"), ["0.01 + (0.1 − 0.01)·h·1/2^(cycle − 1)"]),
        (Cyclic(0.01, 0.1, 5, scale_fn=halving), ["halving(cycle)", "⌊n/10⌋ + 1"]),
        (SWALR(0.1, 0.01, 5), ["0.01·α + 0.1·(1 − α)", "(1 − cos(π·min(n/5, 1)))/2"]),
        (Lambda(0.1, halving), ["0.1·λ(n)", "λ = halving", "n = epoch"]),
        (Multiplicative(0.1, shrink), ["0.1·λ(1)·…·λ(n)", "λ = shrink"]),
        (Join([0.1, 0.01], [5]), ["s0(n) for n < 5", "s1(n − 5) for n >= 5", "optax form"]),
        (Chained([0.1, 0.5]), ["s0·s1", "s1 = Constant(lr = 0.5)"]),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, Schedule) else "",
)
def test_repr_shows_the_formula(s: Schedule, parts: list[str]) -> None:
    text = repr(s)
    assert text.startswith(type(s).__name__ + "(")
    for part in parts:
        assert part in text


# --------------------------------------------------------------------------- as_schedule


def test_as_schedule() -> None:
    s = ExponentialDecay(0.1, 0.9)
    assert as_schedule(s) is s
    assert as_schedule(0.01) == Constant(0.01)
    assert as_schedule(1) == Constant(1.0)
    assert as_schedule(np.float64(0.5))(3) == 0.5


@pytest.mark.parametrize(
    ("value", "exc", "regex"),
    [
        (
            "fast",
            TypeError,
            r"^lr must be a positive real number or a Schedule; got 'fast' \(str\)$",
        ),
        (None, TypeError, r"^lr must be a positive real number or a Schedule; got None"),
        (True, TypeError, r"^lr must be a positive real number or a Schedule; got True"),
        (0.0, ValueError, r"^lr must be > 0; got 0.0$"),
        (-1, ValueError, r"^lr must be > 0; got -1$"),
        (math.nan, ValueError, r"^lr must be finite and > 0; got nan$"),
        (math.inf, ValueError, r"^lr must be finite and > 0; got inf$"),
    ],
)
def test_as_schedule_errors(value: object, exc: type[Exception], regex: str) -> None:
    with pytest.raises(exc, match=regex):
        as_schedule(value)


# --------------------------------------------------------------------------- errors

nan, inf = math.nan, math.inf
ERRORS = [
    # Constant
    ("constant-zero", lambda: Constant(0), ValueError, r"^lr must be > 0; got 0$"),
    ("constant-neg", lambda: Constant(-0.1), ValueError, r"^lr must be > 0; got -0.1$"),
    ("constant-nan", lambda: Constant(nan), ValueError, r"^lr must be finite and > 0; got nan$"),
    ("constant-inf", lambda: Constant(inf), ValueError, r"^lr must be finite and > 0; got inf$"),
    ("constant-bool", lambda: Constant(True), TypeError, r"^lr must be a real number; got True"),
    ("constant-str", lambda: Constant("0.1"), TypeError, r"^lr must be a real number; got '0.1'"),
    # InverseTimeDecay
    ("it-lr0-zero", lambda: InverseTimeDecay(0, 1), ValueError, r"^lr0 must be > 0; got 0$"),
    ("it-lr0-neg", lambda: InverseTimeDecay(-1, 1), ValueError, r"^lr0 must be > 0; got -1$"),
    ("it-lr0-nan", lambda: InverseTimeDecay(nan, 1), ValueError, r"^lr0 must be finite.*nan$"),
    ("it-lr0-inf", lambda: InverseTimeDecay(inf, 1), ValueError, r"^lr0 must be finite.*inf$"),
    ("it-lr0-bool", lambda: InverseTimeDecay(True, 1), TypeError, r"^lr0 must be a real number"),
    ("it-lr0-str", lambda: InverseTimeDecay("a", 1), TypeError, r"^lr0 .*got 'a' \(str\)$"),
    (
        "it-rate-neg",
        lambda: InverseTimeDecay(1, -1),
        ValueError,
        r"^decay_rate must be >= 0; got -1",
    ),
    ("it-rate-nan", lambda: InverseTimeDecay(1, nan), ValueError, r"^decay_rate must be finite"),
    ("it-rate-str", lambda: InverseTimeDecay(1, "1"), TypeError, r"^decay_rate must be a real"),
    (
        "it-per",
        lambda: InverseTimeDecay(1, 1, per="batch"),
        ValueError,
        r"^per must be one of 'epoch', 'step'; got 'batch'$",
    ),
    ("it-per-type", lambda: InverseTimeDecay(1, 1, per=1), TypeError, r"^per must be one of"),
    (
        "it-decay-steps-zero",
        lambda: InverseTimeDecay(1, 1, decay_steps=0),
        ValueError,
        r"^decay_steps must be an integer >= 1; got 0$",
    ),
    (
        "it-decay-steps-float",
        lambda: InverseTimeDecay(1, 1, decay_steps=2.0),
        TypeError,
        r"^decay_steps must be an integer; got 2.0 \(float\)$",
    ),
    (
        "it-staircase",
        lambda: InverseTimeDecay(1, 1, staircase="yes"),
        TypeError,
        r"^staircase must be True or False; got 'yes'",
    ),
    (
        "it-first-2",
        lambda: InverseTimeDecay(1, 1, first=2),
        ValueError,
        r"^first must be an integer in \[0, 1\]; got 2$",
    ),
    ("it-first-neg", lambda: InverseTimeDecay(1, 1, first=-1), ValueError, r"^first must be.*-1$"),
    (
        "it-first-bool",
        lambda: InverseTimeDecay(1, 1, first=True),
        TypeError,
        r"^first must be an integer; got True",
    ),
    # ExponentialDecay
    ("exp-lr0", lambda: ExponentialDecay(0, 0.9), ValueError, r"^lr0 must be > 0; got 0$"),
    ("exp-lr0-inf", lambda: ExponentialDecay(-inf, 0.9), ValueError, r"^lr0 must be finite"),
    (
        "exp-rate-zero",
        lambda: ExponentialDecay(1, 0),
        ValueError,
        r"^rate must be in \(0, 1\]; got 0$",
    ),
    ("exp-rate-big", lambda: ExponentialDecay(1, 1.5), ValueError, r"^rate must be in \(0, 1\]"),
    ("exp-rate-neg", lambda: ExponentialDecay(1, -0.5), ValueError, r"rate .*; got -0.5$"),
    (
        "exp-rate-nan",
        lambda: ExponentialDecay(1, nan),
        ValueError,
        r"^rate must be finite and in \(0, 1\]; got nan$",
    ),
    ("exp-rate-str", lambda: ExponentialDecay(1, "0.9"), TypeError, r"^rate must be a real"),
    ("exp-per", lambda: ExponentialDecay(1, 0.9, per="Epoch"), ValueError, r"^per must be"),
    ("exp-steps", lambda: ExponentialDecay(1, 0.9, decay_steps=-3), ValueError, r"decay_steps"),
    ("exp-first", lambda: ExponentialDecay(1, 0.9, first=5), ValueError, r"^first must be"),
    # inverse square roots
    (
        "isqe-first-0",
        lambda: InverseSqrtEpochDecay(1, first=0),
        ValueError,
        r"^first must be 1 \(.*√0 is undefined\); got 0$",
    ),
    ("isqs-first-0", lambda: InverseSqrtStepDecay(1, first=0), ValueError, r"^first must be 1"),
    ("isqs-first-2", lambda: InverseSqrtStepDecay(1, first=2), ValueError, r"^first must be 1"),
    ("isqe-first-f", lambda: InverseSqrtEpochDecay(1, first=1.0), TypeError, r"^first must be"),
    ("isqe-k-zero", lambda: InverseSqrtEpochDecay(1, k=0), ValueError, r"^k must be > 0; got 0$"),
    ("isqs-k-neg", lambda: InverseSqrtStepDecay(1, k=-2), ValueError, r"^k must be > 0; got -2$"),
    ("isqs-k-nan", lambda: InverseSqrtStepDecay(1, k=nan), ValueError, r"^k must be finite"),
    ("isqe-lr0", lambda: InverseSqrtEpochDecay(-1), ValueError, r"^lr0 must be > 0; got -1$"),
    ("isqs-lr0", lambda: InverseSqrtStepDecay(None), TypeError, r"^lr0 must be a real number"),
    # StepDecay
    ("step-lr0", lambda: StepDecay(0, every=2), ValueError, r"^lr0 must be > 0"),
    (
        "step-every-0",
        lambda: StepDecay(1, every=0),
        ValueError,
        r"^every must be an integer >= 1; got 0$",
    ),
    ("step-every-f", lambda: StepDecay(1, every=2.5), TypeError, r"^every must be an integer"),
    ("step-every-missing", lambda: StepDecay(1), TypeError, r"every"),
    (
        "step-factor-1",
        lambda: StepDecay(1, every=2, factor=1),
        ValueError,
        r"^factor must be in \(0, 1\); got 1$",
    ),
    ("step-factor-0", lambda: StepDecay(1, every=2, factor=0), ValueError, r"^factor must be in"),
    ("step-factor-nan", lambda: StepDecay(1, every=2, factor=nan), ValueError, r"^factor .*nan$"),
    ("step-per", lambda: StepDecay(1, every=2, per="day"), ValueError, r"^per must be one of"),
    ("step-first", lambda: StepDecay(1, every=2, first=3), ValueError, r"^first must be"),
    # PiecewiseConstant
    (
        "pw-boundary-0",
        lambda: PiecewiseConstant([0, 5], [1, 2, 3]),
        ValueError,
        r"^boundaries\[0\] must be an integer >= 1; got 0$",
    ),
    (
        "pw-boundary-float",
        lambda: PiecewiseConstant([1.5], [1, 2]),
        TypeError,
        r"^boundaries\[0\] must be an integer; got 1.5",
    ),
    (
        "pw-not-increasing",
        lambda: PiecewiseConstant([5, 5], [1, 2, 3]),
        ValueError,
        r"^boundaries must be strictly increasing; got \[5, 5\]$",
    ),
    ("pw-decreasing", lambda: PiecewiseConstant([5, 3], [1, 2, 3]), ValueError, r"increasing"),
    (
        "pw-boundaries-str",
        lambda: PiecewiseConstant("5", [1, 2]),
        TypeError,
        r"^boundaries must be a list; got '5' \(str\)$",
    ),
    (
        "pw-length",
        lambda: PiecewiseConstant([5], [1.0]),
        ValueError,
        r"^values must be a list of 2 learning rates .*; got \[1.0\]$",
    ),
    (
        "pw-value-neg",
        lambda: PiecewiseConstant([5], [1.0, -0.1]),
        ValueError,
        r"^values\[1\] must be > 0; got -0.1$",
    ),
    ("pw-value-nan", lambda: PiecewiseConstant([5], [nan, 1]), ValueError, r"^values\[0\] .*nan"),
    ("pw-values-type", lambda: PiecewiseConstant([5], 1.0), TypeError, r"^values must be a list"),
    ("pw-per", lambda: PiecewiseConstant([5], [1, 2], per="x"), ValueError, r"^per must be"),
    # PolynomialDecay
    ("poly-lr0", lambda: PolynomialDecay(0, 0, 10), ValueError, r"^lr0 must be > 0"),
    (
        "poly-end-neg",
        lambda: PolynomialDecay(1, -0.1, 10),
        ValueError,
        r"^end_lr must be >= 0; got -0.1$",
    ),
    ("poly-end-inf", lambda: PolynomialDecay(1, inf, 10), ValueError, r"^end_lr must be finite"),
    ("poly-steps", lambda: PolynomialDecay(1, 0, 0), ValueError, r"^decay_steps must be .*>= 1"),
    ("poly-steps-f", lambda: PolynomialDecay(1, 0, 10.0), TypeError, r"^decay_steps must be an"),
    (
        "poly-power",
        lambda: PolynomialDecay(1, 0, 10, power=0),
        ValueError,
        r"^power must be > 0; got 0$",
    ),
    ("poly-cycle", lambda: PolynomialDecay(1, 0, 10, cycle=1), TypeError, r"^cycle must be True"),
    ("poly-per", lambda: PolynomialDecay(1, 0, 10, per=None), TypeError, r"^per must be one of"),
    ("poly-first", lambda: PolynomialDecay(1, 0, 10, first=2), ValueError, r"^first must be"),
    # CosineDecay
    ("cos-lr0", lambda: CosineDecay(nan, 10), ValueError, r"^lr0 must be finite and > 0; got nan"),
    ("cos-steps", lambda: CosineDecay(1, 0), ValueError, r"^decay_steps must be an integer >= 1"),
    ("cos-min-neg", lambda: CosineDecay(1, 10, min_lr=-1), ValueError, r"^min_lr must be >= 0"),
    (
        "cos-min-big",
        lambda: CosineDecay(0.1, 10, min_lr=1),
        ValueError,
        r"^min_lr must be <= lr0 = 0.1; got 1$",
    ),
    (
        "cos-t-mult",
        lambda: CosineDecay(1, 10, restarts=True, t_mult=0.5),
        ValueError,
        r"^t_mult must be >= 1; got 0.5$",
    ),
    (
        "cos-m-mul-0",
        lambda: CosineDecay(1, 10, restarts=True, m_mul=0),
        ValueError,
        r"^m_mul must be in \(0, 1\]; got 0$",
    ),
    ("cos-m-mul-big", lambda: CosineDecay(1, 10, restarts=True, m_mul=2), ValueError, r"^m_mul"),
    (
        "cos-t-mult-no-restarts",
        lambda: CosineDecay(1, 10, t_mult=2.0),
        ValueError,
        r"^t_mult must be 1.0 when restarts=False; got 2.0$",
    ),
    (
        "cos-m-mul-no-restarts",
        lambda: CosineDecay(1, 10, m_mul=0.5),
        ValueError,
        r"^m_mul must be 1.0 when restarts=False; got 0.5$",
    ),
    ("cos-restarts", lambda: CosineDecay(1, 10, restarts="no"), TypeError, r"^restarts must be"),
    ("cos-per", lambda: CosineDecay(1, 10, per="steps"), ValueError, r"^per must be one of"),
    ("cos-first", lambda: CosineDecay(1, 10, first=-1), ValueError, r"^first must be"),
    # Warmup
    (
        "warmup-schedule-str",
        lambda: Warmup("x", 10),
        TypeError,
        r"^schedule must be a positive real number or a Schedule; got 'x' \(str\)$",
    ),
    ("warmup-schedule-neg", lambda: Warmup(-1.0, 10), ValueError, r"^schedule must be > 0"),
    (
        "warmup-steps-0",
        lambda: Warmup(0.1, 0),
        ValueError,
        r"^warmup_steps must be an integer >= 1; got 0$",
    ),
    ("warmup-steps-f", lambda: Warmup(0.1, 2.5), TypeError, r"^warmup_steps must be an integer"),
    (
        "warmup-start-neg",
        lambda: Warmup(0.1, 5, start_lr=-0.1),
        ValueError,
        r"^start_lr must be >= 0; got -0.1$",
    ),
    ("warmup-start-nan", lambda: Warmup(0.1, 5, start_lr=nan), ValueError, r"^start_lr .*nan$"),
    # ReduceOnPlateau
    ("plateau-lr0", lambda: ReduceOnPlateau(0), ValueError, r"^lr0 must be > 0; got 0$"),
    (
        "plateau-factor",
        lambda: ReduceOnPlateau(1, factor=1.0),
        ValueError,
        r"^factor must be in \(0, 1\); got 1.0$",
    ),
    (
        "plateau-patience",
        lambda: ReduceOnPlateau(1, patience=-1),
        ValueError,
        r"^patience must be an integer >= 0; got -1$",
    ),
    ("plateau-patience-f", lambda: ReduceOnPlateau(1, patience=1.5), TypeError, r"^patience"),
    (
        "plateau-threshold",
        lambda: ReduceOnPlateau(1, threshold=-1e-4),
        ValueError,
        r"^threshold must be >= 0; got -0.0001$",
    ),
    (
        "plateau-threshold-mode",
        lambda: ReduceOnPlateau(1, threshold_mode="relative"),
        ValueError,
        r"^threshold_mode must be one of 'rel', 'abs'; got 'relative'$",
    ),
    (
        "plateau-mode",
        lambda: ReduceOnPlateau(1, mode="low"),
        ValueError,
        r"^mode must be one of 'min', 'max'; got 'low'$",
    ),
    ("plateau-cooldown", lambda: ReduceOnPlateau(1, cooldown=-2), ValueError, r"^cooldown must"),
    (
        "plateau-min-lr",
        lambda: ReduceOnPlateau(0.1, min_lr=0.2),
        ValueError,
        r"^min_lr must be <= lr0 = 0.1; got 0.2$",
    ),
    # Manual
    ("manual-zero", lambda: Manual(0), ValueError, r"^lr0 must be > 0; got 0$"),
    ("manual-str", lambda: Manual("a"), TypeError, r"^lr0 must be a real number; got 'a' \(str\)$"),
    # PiecewiseConstant and CosineDecay options
    ("pw-inclusive", lambda: PiecewiseConstant([5], [1, 2], inclusive=1), TypeError, r"^inclusi"),
    (
        "pw-inclusive-boundary",
        lambda: PiecewiseConstant([-1], [1, 2], inclusive=True),
        ValueError,
        r"^boundaries\[0\] must be an integer >= 0; got -1$",
    ),
    (
        "cos-periodic-restarts",
        lambda: CosineDecay(1, 10, restarts=True, periodic=True),
        ValueError,
        r"^periodic must be False when restarts=True; got True$",
    ),
    ("cos-periodic", lambda: CosineDecay(1, 10, periodic="yes"), TypeError, r"^periodic must be"),
    # OneCycle
    ("onecycle-max-lr", lambda: OneCycle(0, 10), ValueError, r"^max_lr must be > 0; got 0$"),
    (
        "onecycle-steps",
        lambda: OneCycle(0.1, 0),
        ValueError,
        r"^total_steps must be an integer >= 1; got 0$",
    ),
    ("onecycle-steps-f", lambda: OneCycle(0.1, 10.0), TypeError, r"^total_steps must be an int"),
    (
        "onecycle-pct",
        lambda: OneCycle(0.1, 10, pct_start=1.5),
        ValueError,
        r"^pct_start must be in \[0, 1\]; got 1.5$",
    ),
    (
        "onecycle-anneal",
        lambda: OneCycle(0.1, 10, anneal="cosine"),
        ValueError,
        r"^anneal must be one of 'cos', 'linear'; got 'cosine'$",
    ),
    (
        "onecycle-div",
        lambda: OneCycle(0.1, 10, div_factor=0),
        ValueError,
        r"^div_factor must be > 0; got 0$",
    ),
    (
        "onecycle-final-div",
        lambda: OneCycle(0.1, 10, final_div_factor=-1),
        ValueError,
        r"^final_div_factor must be > 0; got -1$",
    ),
    ("onecycle-three", lambda: OneCycle(0.1, 10, three_phase=1), TypeError, r"^three_phase must"),
    (
        "onecycle-form",
        lambda: OneCycle(0.1, 10, form="keras"),
        ValueError,
        r"^form must be one of 'torch', 'optax'; got 'keras'$",
    ),
    (
        "onecycle-pct-final-unused",
        lambda: OneCycle(0.1, 10, pct_final=0.7),
        ValueError,
        r"^pct_final must be 0.85 \(unused\) unless form='optax' and three_phase=True; got 0.7$",
    ),
    (
        "onecycle-optax-pct-start",
        lambda: OneCycle(0.1, 10, pct_start=1.0, form="optax"),
        ValueError,
        r"^pct_start must be in \[0, 1\) with form='optax'; got 1.0$",
    ),
    (
        "onecycle-optax-pct-final",
        lambda: OneCycle(0.1, 100, pct_start=0.5, pct_final=0.4, three_phase=True, form="optax"),
        ValueError,
        r"^pct_final must be such that ⌊pct_start·T⌋ < ⌊pct_final·T⌋ < T = 100 "
        r"\(pct_start = 0.5\); got 0.4$",
    ),
    # Cyclic
    ("cyclic-base", lambda: Cyclic(-0.1, 0.1), ValueError, r"^base_lr must be >= 0; got -0.1$"),
    (
        "cyclic-max-below-base",
        lambda: Cyclic(0.1, 0.05),
        ValueError,
        r"^max_lr must be >= base_lr = 0.1; got 0.05$",
    ),
    ("cyclic-max-zero", lambda: Cyclic(0, 0), ValueError, r"^max_lr must be > 0; got 0$"),
    (
        "cyclic-up",
        lambda: Cyclic(0.01, 0.1, 0),
        ValueError,
        r"^step_size_up must be an integer >= 1; got 0$",
    ),
    (
        "cyclic-down",
        lambda: Cyclic(0.01, 0.1, 5, step_size_down=-1),
        ValueError,
        r"^step_size_down must be an integer >= 0; got -1$",
    ),
    (
        "cyclic-mode",
        lambda: Cyclic(0.01, 0.1, mode="sine"),
        ValueError,
        r"^mode must be one of 'triangular', 'triangular2', 'exp_range'; got 'sine'$",
    ),
    (
        "cyclic-gamma-unused",
        lambda: Cyclic(0.01, 0.1, gamma=0.9),
        ValueError,
        r"^gamma must be 1.0 unless mode='exp_range'; got 0.9$",
    ),
    (
        "cyclic-gamma",
        lambda: Cyclic(0.01, 0.1, mode="exp_range", gamma=0),
        ValueError,
        r"^gamma must be in \(0, 1\]; got 0$",
    ),
    (
        "cyclic-scale-fn",
        lambda: Cyclic(0.01, 0.1, scale_fn="x"),
        TypeError,
        r"^scale_fn must be None or a callable x -> scale \(a real number >= 0\); got 'x' \(str\)$",
    ),
    (
        "cyclic-scale-fn-mode",
        lambda: Cyclic(0.01, 0.1, mode="exp_range", scale_fn=halving),
        ValueError,
        r"^mode must be 'triangular' \(the default\) when scale_fn replaces it; got 'exp_range'$",
    ),
    (
        "cyclic-scale-mode-fixed",
        lambda: Cyclic(0.01, 0.1, mode="exp_range", scale_mode="cycle"),
        ValueError,
        r"^scale_mode must be 'iterations' with mode='exp_range' and no scale_fn; got 'cycle'$",
    ),
    (
        "cyclic-scale-mode",
        lambda: Cyclic(0.01, 0.1, scale_fn=halving, scale_mode="steps"),
        ValueError,
        r"^scale_mode must be one of 'cycle', 'iterations'; got 'steps'$",
    ),
    # SWALR
    ("swa-lr0", lambda: SWALR(0, 0.01), ValueError, r"^lr0 must be > 0; got 0$"),
    ("swa-swa-lr", lambda: SWALR(0.1, -1), ValueError, r"^swa_lr must be > 0; got -1$"),
    (
        "swa-epochs",
        lambda: SWALR(0.1, 0.01, -1),
        ValueError,
        r"^anneal_epochs must be an integer >= 0; got -1$",
    ),
    ("swa-epochs-f", lambda: SWALR(0.1, 0.01, 2.5), TypeError, r"^anneal_epochs must be an int"),
    ("swa-anneal", lambda: SWALR(0.1, 0.01, anneal="exp"), ValueError, r"^anneal must be one of"),
    ("swa-per", lambda: SWALR(0.1, 0.01, per="batch"), ValueError, r"^per must be one of"),
    ("swa-first", lambda: SWALR(0.1, 0.01, first=2), ValueError, r"^first must be"),
    # Lambda, Multiplicative
    ("lambda-lr0", lambda: Lambda(0, halving), ValueError, r"^lr0 must be > 0; got 0$"),
    (
        "lambda-fn",
        lambda: Lambda(0.1, 0.5),
        TypeError,
        r"^lr_lambda must be a callable n -> factor \(a real number >= 0\); got 0.5 \(float\)$",
    ),
    ("lambda-per", lambda: Lambda(0.1, halving, per="x"), ValueError, r"^per must be one of"),
    ("mult-lr0", lambda: Multiplicative(-1, shrink), ValueError, r"^lr0 must be > 0; got -1$"),
    ("mult-fn", lambda: Multiplicative(0.1, "shrink"), TypeError, r"^lr_lambda must be a call"),
    ("mult-first", lambda: Multiplicative(0.1, shrink, first=2), ValueError, r"^first must be"),
    # Join, Chained
    (
        "join-empty",
        lambda: Join([], []),
        ValueError,
        r"^schedules must be a list of at least one schedule; got \[\]$",
    ),
    ("join-str", lambda: Join("x", []), TypeError, r"^schedules must be a list; got 'x' \(str\)$"),
    (
        "join-piece",
        lambda: Join([0.1, "x"], [3]),
        TypeError,
        r"^schedules\[1\] must be a positive real number or a Schedule; got 'x' \(str\)$",
    ),
    ("join-piece-zero", lambda: Join([0.1, 0.0], [3]), ValueError, r"^schedules\[1\] must be > 0"),
    (
        "join-length",
        lambda: Join([0.1, 0.01], [3, 5]),
        ValueError,
        r"^boundaries must be a list of 1 counts \(one fewer than schedules\); got \[3, 5\]$",
    ),
    (
        "join-increasing",
        lambda: Join([0.1, 0.01, 0.001], [5, 5]),
        ValueError,
        r"^boundaries must be strictly increasing; got \[5, 5\]$",
    ),
    (
        "join-boundary",
        lambda: Join([0.1, 0.01], [0]),
        ValueError,
        r"^boundaries\[0\] must be an integer >= 1; got 0$",
    ),
    (
        "join-form",
        lambda: Join([0.1], [], form="keras"),
        ValueError,
        r"^form must be one of 'optax', 'torch'; got 'keras'$",
    ),
    (
        "join-unit",
        lambda: Join([ExponentialDecay(0.1, 0.9), 0.01], [3]),
        ValueError,
        r"^schedules\[0\] must be a schedule counting steps, as the join does \(per='step'\); "
        r"got ExponentialDecay",
    ),
    ("join-per", lambda: Join([0.1], [], per="batch"), ValueError, r"^per must be one of"),
    ("chained-empty", lambda: Chained([]), ValueError, r"^schedules must be a list of at least"),
    ("chained-piece", lambda: Chained([None]), TypeError, r"^schedules\[0\] must be a positive"),
    # create / from_config
    (
        "create-unknown-name",
        lambda: create("linear", lr0=0.1),
        ValueError,
        r"^schedule name must be one of 'constant', 'inverse_time', .*'manual'; got 'linear'$",
    ),
    ("create-name-type", lambda: create(3), TypeError, r"^schedule name must be one of"),
    (
        "create-unknown-kwarg",
        lambda: create("exponential", lr0=0.1, rate=0.9, decay=2),
        TypeError,
        r"^an argument of 'exponential' must be one of 'lr0', 'rate', 'per', 'decay_steps', "
        r"'staircase', 'first'; got 'decay' \(str\)$",
    ),
    ("create-bad-value", lambda: create("step", lr0=0.1, every=0), ValueError, r"^every must be"),
    (
        "from-config-type",
        lambda: from_config("cosine"),
        TypeError,
        r"^config must be a dict with a 'name' key",
    ),
    (
        "from-config-no-name",
        lambda: from_config({"lr": 0.1}),
        ValueError,
        r"^config must be a dict with a 'name' key; got \{'lr': 0.1\}$",
    ),
    (
        "from-config-nested-unknown",
        lambda: from_config({"name": "warmup", "schedule": {"name": "nope"}, "warmup_steps": 2}),
        ValueError,
        r"^schedule name must be one of .*; got 'nope'$",
    ),
]


@pytest.mark.parametrize(
    ("factory", "exc", "regex"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors(factory, exc: type[Exception], regex: str) -> None:
    with pytest.raises(exc, match=regex):
        factory()


def test_error_table_covers_every_schedule() -> None:
    prefixes = {
        "constant": "constant",
        "inverse_time": "it-",
        "exponential": "exp-",
        "inverse_sqrt_epoch": "isqe-",
        "inverse_sqrt_step": "isqs-",
        "step": "step-",
        "piecewise": "pw-",
        "polynomial": "poly-",
        "cosine": "cos-",
        "warmup": "warmup-",
        "plateau": "plateau-",
        "manual": "manual-",
        "onecycle": "onecycle-",
        "cyclic": "cyclic-",
        "swa": "swa-",
        "lambda": "lambda-",
        "multiplicative": "mult-",
        "join": "join-",
        "chained": "chained-",
    }
    assert set(prefixes) == set(SCHEDULES)
    for prefix in prefixes.values():
        assert any(e[0].startswith(prefix) for e in ERRORS)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize(
    ("args", "exc", "regex"),
    [
        ((-1,), ValueError, r"^step must be an integer >= 0; got -1$"),
        ((1.5,), TypeError, r"^step must be an integer; got 1.5 \(float\)$"),
        ((True,), TypeError, r"^step must be an integer; got True \(bool\)$"),
        ((0, -1), ValueError, r"^epoch must be an integer >= 0; got -1$"),
        ((0, "1"), TypeError, r"^epoch must be an integer; got '1' \(str\)$"),
    ],
)
def test_call_checks_counters(name: str, args: tuple, exc: type[Exception], regex: str) -> None:
    s = create(name, **SAMPLES[name])
    with pytest.raises(exc, match=regex):
        s(*args)


def test_call_accepts_numpy_integers_and_returns_float() -> None:
    s = ExponentialDecay(np.float32(0.5), 0.5, per="step")
    got = s(np.int64(2), np.int32(1))
    assert type(got) is float
    assert got == pytest.approx(0.125)


@pytest.mark.parametrize(
    ("s", "state", "exc", "regex"),
    [
        (Constant(0.1), {"lr": 0.2}, ValueError, r"^state must be \{\} \(Constant has no"),
        (Manual(0.1), {"lr": -1}, ValueError, r"^lr must be > 0; got -1$"),
        (Manual(0.1), {"rate": 0.1}, ValueError, r"^state must be a dict with the key 'lr'"),
        (ReduceOnPlateau(0.1), {"lr": 0.1}, ValueError, r"^state must be a dict with the keys"),
        (
            ReduceOnPlateau(0.1),
            {"lr": 0.1, "best": "x", "num_bad_epochs": 0, "cooldown_counter": 0},
            TypeError,
            r"^best must be a real number",
        ),
        (Warmup(0.1, 2), {"inner": {}}, ValueError, r"^state must be a dict with at most"),
        (Manual(0.1), [0.1], TypeError, r"^state must be a dict; got \[0.1\] \(list\)$"),
    ],
)
def test_load_state_dict_errors(
    s: Schedule, state: object, exc: type[Exception], regex: str
) -> None:
    with pytest.raises(exc, match=regex):
        s.load_state_dict(state)


# --------------------------------------------------------------------------- references

REFERENCES = Path(__file__).parent / "data" / "schedule_references.npz"
TOLERANCE = 1e-12  # relative, at every one of the recorded steps

#: The functions handed to the references (scripts/record_schedules.py defines the same).
F = {
    "inverse": lambda n: 1.0 / (1.0 + 0.05 * n),
    "warmup_cosine": lambda n: min(1.0, (n + 1) / 10) * 0.5 * (1 + math.cos(math.pi * n / 300)),
    "constant_099": lambda n: 0.99,
    "varying": lambda n: 1.0 - 0.1 / (n + 10),
    "inverse_01": lambda n: 1.0 / (1.0 + 0.1 * n),
    "constant_098": lambda n: 0.98,
    "constant_0995": lambda n: 0.995,
    "sqrt_cycle": lambda c: 1.0 / c**0.5,
    "cosine_300": lambda n: 0.5 * (1 + math.cos(math.pi * n / 300)),
}


def lambda_then_multiplicative(form: str) -> Join:
    pieces = [
        Lambda(0.1, F["inverse_01"], per="step"),
        Multiplicative(0.1, F["constant_098"], per="step"),
    ]
    return Join(pieces, [40], form=form)


def cosine_then_swa(form: str) -> Join:
    return Join([CosineDecay(0.1, 200), SWALR(0.1, 0.005, 20, per="step")], [150], form=form)


def warmup_then_periodic_cosine(form: str) -> Join:
    pieces = [PolynomialDecay(0.01, 0.1, 20), CosineDecay(0.1, 100, min_lr=1e-4, periodic=True)]
    return Join(pieces, [30], form=form)


def three_pieces(form: str) -> Join:
    pieces = [
        ExponentialDecay(0.1, 0.97, per="step"),
        Lambda(0.1, F["inverse_01"], per="step"),
        StepDecay(0.1, every=7, factor=0.5, per="step"),
    ]
    return Join(pieces, [50, 120], form=form)


#: The gdlab schedule for each recorded case (its reference is in the file's meta).
GDLAB = {
    # OneCycle: torch's OneCycleLR, optax's cosine/linear_onecycle_schedule
    "onecycle_torch_cos": lambda: OneCycle(0.1, 300),
    "onecycle_torch_linear": lambda: OneCycle(
        0.1, 300, pct_start=0.25, anneal="linear", div_factor=10.0, final_div_factor=100.0
    ),
    "onecycle_torch_cos_three_phase": lambda: OneCycle(
        0.2, 300, pct_start=0.2, div_factor=20.0, final_div_factor=1000.0, three_phase=True
    ),
    "onecycle_torch_linear_three_phase": lambda: OneCycle(
        0.05, 300, pct_start=0.35, anneal="linear", three_phase=True
    ),
    "onecycle_torch_fractional": lambda: OneCycle(0.1, 300, pct_start=0.123),
    "onecycle_optax_cos": lambda: OneCycle(0.1, 300, form="optax"),
    "onecycle_optax_cos_short": lambda: OneCycle(
        0.05, 250, pct_start=0.4, div_factor=10.0, final_div_factor=100.0, form="optax"
    ),
    "onecycle_optax_linear": lambda: OneCycle(
        0.1, 300, anneal="linear", three_phase=True, form="optax"
    ),
    "onecycle_optax_linear_custom": lambda: OneCycle(
        0.2,
        200,
        pct_start=0.2,
        pct_final=0.7,
        div_factor=5.0,
        final_div_factor=50.0,
        anneal="linear",
        three_phase=True,
        form="optax",
    ),
    # Cyclic: torch's CyclicLR
    "cyclic_triangular": lambda: Cyclic(0.01, 0.1, 20),
    "cyclic_triangular_asymmetric": lambda: Cyclic(0.01, 0.1, 15, step_size_down=35),
    "cyclic_sawtooth": lambda: Cyclic(0.001, 0.1, 30, step_size_down=0),
    "cyclic_triangular2": lambda: Cyclic(0.01, 0.1, 10, step_size_down=20, mode="triangular2"),
    "cyclic_exp_range": lambda: Cyclic(0.01, 0.1, 25, mode="exp_range", gamma=0.99),
    "cyclic_scale_fn_cycle": lambda: Cyclic(0.01, 0.1, 12, scale_fn=F["sqrt_cycle"]),
    "cyclic_scale_fn_iterations": lambda: Cyclic(
        0.01, 0.1, 12, step_size_down=8, scale_fn=F["cosine_300"], scale_mode="iterations"
    ),
    # Lambda, Multiplicative: torch's LambdaLR, MultiplicativeLR
    "lambda_inverse": lambda: Lambda(0.1, F["inverse"], per="step"),
    "lambda_warmup_cosine": lambda: Lambda(0.3, F["warmup_cosine"], per="step"),
    "multiplicative_constant": lambda: Multiplicative(0.1, F["constant_099"], per="step"),
    "multiplicative_varying": lambda: Multiplicative(0.2, F["varying"], per="step"),
    # Join: torch's SequentialLR (form="torch"), optax's join_schedules (form="optax")
    "sequential_warmup_cosine": lambda: warmup_then_periodic_cosine("torch"),
    "sequential_three": lambda: three_pieces("torch"),
    "sequential_multiplicative": lambda: lambda_then_multiplicative("torch"),
    "sequential_swalr": lambda: cosine_then_swa("torch"),
    # torch's OneCycleLR overwrites the initial_lr all pieces share (0.2/25): hence 0.008
    "sequential_onecycle_cyclic": lambda: Join(
        [ExponentialDecay(0.008, 0.97, per="step"), OneCycle(0.2, 60), Cyclic(0.01, 0.05, 7)],
        [30, 90],
        form="torch",
    ),
    "join_optax_restart": lambda: lambda_then_multiplicative("optax"),
    "join_optax_three": lambda: Join(
        [
            PolynomialDecay(0.001, 0.1, 20),
            CosineDecay(0.1, 150, min_lr=0.001),
            ExponentialDecay(0.001, 0.9, per="step", decay_steps=10),
        ],
        [20, 170],
    ),
    # Chained: torch's ChainedScheduler
    "chained_factors": lambda: Chained(
        [
            Multiplicative(0.1, F["constant_0995"], per="step"),
            StepDecay(1.0, every=25, factor=0.7, per="step"),
            PiecewiseConstant([30], [0.5, 1.0]),
            ExponentialDecay(1.0, 0.999, per="step"),
        ]
    ),
    "chained_cosine": lambda: Chained(
        [CosineDecay(0.1, 300), ExponentialDecay(1.0, 0.99, per="step")]
    ),
    # SWALR: torch's SWALR
    "swalr_cos": lambda: SWALR(0.1, 0.01, 40, per="step"),
    "swalr_linear_up": lambda: SWALR(0.02, 0.05, 25, anneal="linear", per="step"),
    "swalr_no_anneal": lambda: SWALR(0.1, 0.03, 0, per="step"),
    "swalr_one_epoch": lambda: SWALR(0.1, 0.02, 1, anneal="linear", per="step"),
    # PiecewiseConstant: Keras (inclusive=True), torch's MultiStepLR and optax (default)
    "piecewise_keras": lambda: PiecewiseConstant(
        [30, 100, 180], [0.1, 0.05, 0.01, 0.001], inclusive=True
    ),
    "piecewise_torch": lambda: PiecewiseConstant([30, 100, 180], [0.1, 0.05, 0.025, 0.0125]),
    "piecewise_optax": lambda: PiecewiseConstant([30, 100, 180], [0.1, 0.05, 0.01, 0.001]),
    # CosineDecay: torch's CosineAnnealingLR past T_max (periodic=True), optax's (default)
    "cosine_torch_periodic": lambda: CosineDecay(0.1, 70, min_lr=0.001, periodic=True),
    "cosine_torch_periodic_short": lambda: CosineDecay(0.1, 7, periodic=True),
    "cosine_optax_clamped": lambda: CosineDecay(0.1, 70, min_lr=0.001),
}


@functools.cache
def references() -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(REFERENCES) as data:
        meta = json.loads(str(data["meta"]))
        rates = {case["name"]: data[case["name"]] for case in meta["cases"]}
    return meta, rates


def trajectory(s: Schedule, steps: int) -> np.ndarray:
    return np.array([s(n) for n in range(steps)])


def relative_error(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got − ref| / |ref| over the steps (an exact zero must be matched exactly)."""
    diff = np.abs(got - ref)
    if np.any(diff[ref == 0] != 0):
        return math.inf
    nonzero = ref != 0
    return float(np.max(diff[nonzero] / np.abs(ref[nonzero]), initial=0.0))


def reference_errors() -> dict[str, float]:
    """Each case's largest relative error (``python -c`` this to see them all)."""
    meta, rates = references()
    return {
        name: relative_error(trajectory(GDLAB[name](), meta["steps"]), rates[name])
        for name in rates
    }


def test_references_cover_the_cases() -> None:
    meta, rates = references()
    assert meta["steps"] == 300
    assert set(rates) == set(GDLAB)
    assert {c["library"] for c in meta["cases"]} == {"torch", "optax", "keras"}
    for ref in rates.values():
        assert ref.shape == (300,)
        assert ref.dtype == np.float64


@pytest.mark.parametrize("name", sorted(GDLAB))
def test_matches_reference(name: str) -> None:
    meta, rates = references()
    got = trajectory(GDLAB[name](), meta["steps"])
    assert relative_error(got, rates[name]) <= TOLERANCE


@pytest.mark.parametrize(
    ("name", "other"),
    [
        # SequentialLR starts a MultiplicativeLR or SWALR piece from the current rate,
        # join_schedules restarts it: the same pieces, two different trajectories
        ("sequential_multiplicative", lambda: lambda_then_multiplicative("optax")),
        ("sequential_swalr", lambda: cosine_then_swa("optax")),
        ("join_optax_restart", lambda: lambda_then_multiplicative("torch")),
        # torch's and optax's one-cycle legs end one step apart
        ("onecycle_torch_cos", lambda: OneCycle(0.1, 300, form="optax")),
        ("onecycle_optax_cos", lambda: OneCycle(0.1, 300)),
        # Keras holds through the boundary; torch and optax switch at it
        ("piecewise_keras", lambda: PiecewiseConstant([30, 100, 180], [0.1, 0.05, 0.01, 0.001])),
        ("piecewise_optax", lambda: GDLAB["piecewise_keras"]()),
        # torch's cosine rises after T_max, optax's holds the minimum
        ("cosine_torch_periodic", lambda: CosineDecay(0.1, 70, min_lr=0.001)),
    ],
)
def test_the_other_convention_differs(name: str, other) -> None:
    meta, rates = references()
    assert relative_error(trajectory(other(), meta["steps"]), rates[name]) > 1e-3


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("sequential_warmup_cosine", warmup_then_periodic_cosine),
        ("sequential_three", three_pieces),
    ],
)
def test_join_forms_agree_on_closed_form_pieces(name: str, build) -> None:
    # SequentialLR restarts LinearLR, CosineAnnealingLR, ExponentialLR, LambdaLR, StepLR
    # at their milestone exactly as join_schedules does
    meta, rates = references()
    for form in ("optax", "torch"):
        assert relative_error(trajectory(build(form), meta["steps"]), rates[name]) <= TOLERANCE


# --------------------------------------------------------------------------- new schedules


def test_piecewise_inclusive_switches_one_step_later() -> None:
    exclusive = PiecewiseConstant([3, 5], [0.4, 0.3, 0.2])
    inclusive = PiecewiseConstant([3, 5], [0.4, 0.3, 0.2], inclusive=True)
    assert values(exclusive, n=range(8)) == [0.4, 0.4, 0.4, 0.3, 0.3, 0.2, 0.2, 0.2]
    assert values(inclusive, n=range(8)) == [0.4, 0.4, 0.4, 0.4, 0.3, 0.3, 0.2, 0.2]
    assert values(PiecewiseConstant([0], [1.0, 0.5], inclusive=True), n=range(3)) == [
        1.0,
        0.5,
        0.5,
    ]
    assert PiecewiseConstant([3], [1.0, 0.5]).config()["inclusive"] is False


def test_cosine_periodic_rises_after_t() -> None:
    s = CosineDecay(0.1, 10, min_lr=0.01, periodic=True)
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * n / 10)) / 2 for n in range(45)]
    assert values(s, n=range(45)) == close(expected)
    assert s(10) == pytest.approx(0.01)
    assert s(15) > s(10)
    assert s(20) == pytest.approx(0.1)
    assert s(10**400) == s(0)  # reduced modulo 2T exactly: no overflow
    assert CosineDecay(0.1, 10)(15) == 0.0  # the default holds the minimum


def test_onecycle_legs_and_the_end() -> None:
    s = OneCycle(1.0, 10, pct_start=0.5, anneal="linear", div_factor=5.0, final_div_factor=2.0)
    assert s(4) == 1.0  # peak at pct_start·T − 1 (torch)
    assert s(9) == s(10) == s(10**6) == pytest.approx(0.1)  # final from T − 1 on
    o = OneCycle(1.0, 10, pct_start=0.5, anneal="linear", div_factor=5.0, final_div_factor=2.0,
                 form="optax")  # fmt: skip
    assert o(5) == 1.0  # peak at ⌊pct_start·T⌋ (optax)
    assert o(10) == o(11) == pytest.approx(0.1)


def test_onecycle_zero_length_leg_has_arrived() -> None:
    # pct_start·T = 1: torch's first leg ends at step 0 and divides by zero there
    s = OneCycle(1.0, 10, pct_start=0.1)
    assert s(0) == 1.0
    assert s(1) < 1.0


def test_cyclic_triangular_by_hand() -> None:
    s = Cyclic(1.0, 3.0, 2, step_size_down=4)
    # up over 2 steps, down over 4: heights 0, .5, 1, .75, .5, .25, then again
    assert values(s, n=range(8)) == close([1.0, 2.0, 3.0, 2.5, 2.0, 1.5, 1.0, 2.0])
    saw = Cyclic(0.0, 1.0, 4, step_size_down=0)
    assert values(saw, n=range(6)) == close([0.0, 0.25, 0.5, 0.75, 0.0, 0.25])


def test_cyclic_custom_scale_is_called_with_cycle_or_step() -> None:
    seen = []

    def scale(x: int) -> float:
        seen.append(x)
        return 1.0

    Cyclic(0.0, 1.0, 2, scale_fn=scale)(5)
    Cyclic(0.0, 1.0, 2, scale_fn=scale, scale_mode="iterations")(5)
    assert seen == [2, 5]  # cycle = ⌊5/4⌋ + 1, then the step
    bad = Cyclic(0.0, 1.0, 2, scale_fn=lambda x: -1.0)
    with pytest.raises(ValueError, match=r"^scale_fn\(1\) must be >= 0; got -1.0$"):
        bad(0)


def test_swalr_anneals_by_epoch() -> None:
    s = SWALR(0.1, 0.02, 4)
    alphas = [(1 - math.cos(math.pi * min(e / 4, 1))) / 2 for e in range(7)]
    expected = [0.02 * a + 0.1 * (1 - a) for a in alphas]
    assert values(s, per="epoch", n=range(7)) == close(expected)
    assert s(999, epoch=0) == 0.1  # the step is not its counter
    assert values(SWALR(0.1, 0.02, 0), per="epoch", n=range(3)) == [0.02] * 3


def test_lambda_checks_what_the_callable_returns() -> None:
    s = Lambda(0.1, lambda n: 1.0 - n, per="step")
    assert s(1) == 0.0
    with pytest.raises(ValueError, match=r"^lr_lambda\(2\) must be >= 0; got -1.0$"):
        s(2)
    with pytest.raises(TypeError, match=r"^lr_lambda\(0\) must be a real number; got 'x'"):
        Lambda(0.1, lambda n: "x")(0)
    assert Lambda(0.1, halving, first=1)(0, epoch=4) == 0.05  # λ(5)


def test_multiplicative_product_counts_up_once() -> None:
    calls = []

    def factor(k: int) -> float:
        calls.append(k)
        return 0.5 if k % 2 else 1.0

    s = Multiplicative(8.0, factor, per="step")
    assert values(s, n=range(6)) == [8.0, 4.0, 4.0, 2.0, 2.0, 1.0]
    assert calls == [1, 2, 3, 4, 5]  # one call per step while counting up
    assert s(2) == 4.0
    assert s(5) == 1.0
    assert Multiplicative(8.0, factor, per="step") == Multiplicative(8.0, factor, per="step")
    with pytest.raises(ValueError, match=r"^lr_lambda\(2\) must be finite and >= 0; got nan$"):
        Multiplicative(1.0, lambda k: math.nan if k == 2 else 1.0, per="step")(3)


def test_join_per_epoch_shifts_the_epoch_only() -> None:
    s = Join([ExponentialDecay(0.1, 0.5), StepDecay(0.2, every=2)], [3], per="epoch")
    got = [s(7, epoch=e) for e in range(7)]
    assert got == close([0.1, 0.05, 0.025, 0.2, 0.2, 0.1, 0.1])
    assert s.unit == "epoch"


def test_join_torch_form_resumes_from_the_previous_rate() -> None:
    pieces = [PiecewiseConstant([2], [1.0, 0.4]), Multiplicative(7.0, lambda k: 0.5, per="step")]
    torch_form, optax_form = Join(pieces, [4], form="torch"), Join(pieces, [4])
    assert values(torch_form, n=range(7)) == [1.0, 1.0, 0.4, 0.4, 0.2, 0.1, 0.05]
    assert values(optax_form, n=range(7)) == [1.0, 1.0, 0.4, 0.4, 7.0, 3.5, 1.75]
    swa = Join([0.3, SWALR(9.0, 0.1, 2, anneal="linear", per="step")], [3], form="torch")
    assert values(swa, n=range(7)) == close([0.3, 0.3, 0.3, 0.3, 0.2, 0.1, 0.1])


def test_chained_multiplies() -> None:
    s = Chained([InverseTimeDecay(0.2, 1.0, per="step"), StepDecay(1.0, every=3, per="step")])
    assert values(s, n=range(7)) == close([0.2 / (1 + n) * 0.5 ** (n // 3) for n in range(7)])
    mixed = Chained([ExponentialDecay(0.1, 0.5), StepDecay(1.0, every=2, per="step")])
    assert mixed(2, epoch=1) == pytest.approx(0.1 * 0.5 * 0.5)


def test_composites_carry_their_pieces_state() -> None:
    assert Join([0.1, CosineDecay(0.1, 5)], [3]).state_dict() == {}
    s = Join([Manual(0.1), ReduceOnPlateau(0.1, patience=0)], [5])
    s.schedules[0].set(0.05)
    s.schedules[1].report(1.0)
    s.schedules[1].report(1.0)
    state = json.loads(json.dumps(s.state_dict()))
    assert state["schedules"][0] == {"lr": 0.05}
    t = from_config(s.config())
    t.load_state_dict(state)
    assert t == s
    assert (t(0), t(9)) == (0.05, pytest.approx(0.01))
    with pytest.raises(ValueError, match=r"^state\['schedules'\] must be a list of 2 states"):
        t.load_state_dict({"schedules": [{}]})
    with pytest.raises(ValueError, match=r"^lr must be > 0; got -1$"):
        t.load_state_dict({"schedules": [{"lr": -1}, state["schedules"][1]]})
    assert t == s  # a refused state changes nothing
    with pytest.raises(ValueError, match=r"^state must be a dict with at most the key"):
        Chained([0.1]).load_state_dict({"pieces": []})


@pytest.mark.parametrize(
    ("s", "where"),
    [
        (Lambda(0.1, halving), "lr_lambda"),
        (Multiplicative(0.1, shrink), "lr_lambda"),
        (Cyclic(0.01, 0.1, scale_fn=halving), "scale_fn"),
        (Join([0.1, Lambda(0.1, halving, per="step")], [3]), r"schedules\[1\]\.lr_lambda"),
        (Warmup(Multiplicative(0.1, shrink, per="step"), 3), r"schedule\.lr_lambda"),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, Schedule) else "",
)
def test_callables_cannot_be_written_to_a_config(s: Schedule, where: str) -> None:
    with pytest.raises(
        TypeError,
        match=rf"^{where} must be plain data to be written to a TOML or JSON config, not a "
        r"Python callable \(build this schedule in Python\); got <function ",
    ):
        s.to_config()
    t = from_config(s.config())  # in memory, the config still rebuilds it
    assert t == s
    assert values(t, n=range(5)) == values(s, n=range(5))


@pytest.mark.parametrize("name", ["onecycle", "cyclic", "swa", "lambda", "join", "chained"])
def test_usable_as_optimizer_lr(name: str) -> None:
    from gdlab.optim import SGD

    s = create(name, **SAMPLES[name])
    opt = SGD(lr=s, fused=False)  # the plain kernel: no compilation in this test
    params = {"x": np.zeros(1)}
    for t in range(8):
        before = params["x"].copy()
        opt.update(params, {"x": np.ones(1)})
        assert before - params["x"] == pytest.approx([s(t)])
    assert opt.hyperparameters()["lr"] == {"schedule": s.config()}


EXPERIMENT = """
name = "new-schedules"
seeds = 1
[problem]
kind = "function"
function = "bowl"
[training]
steps = 5
[[runs]]
label = "onecycle"
optimizer = "sgd"
lr = { name = "onecycle", max_lr = 0.1, total_steps = 100, three_phase = true }
[[runs]]
label = "cyclic"
optimizer = "sgd"
lr = { name = "cyclic", base_lr = 0.01, max_lr = 0.1, step_size_up = 10, mode = "triangular2" }
[[runs]]
label = "swa"
optimizer = "sgd"
lr = { name = "join", boundaries = [20], form = "torch", schedules = [
    { name = "cosine", lr0 = 0.1, decay_steps = 50, periodic = true },
    { name = "swa", lr0 = 0.1, swa_lr = 0.01, anneal_epochs = 5, per = "step" } ] }
[[runs]]
label = "chained"
optimizer = "sgd"
lr = { name = "chained", schedules = [ { name = "constant", lr = 0.1 },
    { name = "piecewise", boundaries = [3], values = [0.5, 1.0], inclusive = true } ] }
"""


def test_experiment_files_name_the_new_schedules() -> None:
    from gdlab.experiments.model import Experiment

    experiment = Experiment.from_toml(EXPERIMENT)
    built = [run.make_optimizer().schedule for run in experiment.runs]
    assert built == [
        OneCycle(0.1, 100, three_phase=True),
        Cyclic(0.01, 0.1, 10, mode="triangular2"),
        Join(
            [CosineDecay(0.1, 50, periodic=True), SWALR(0.1, 0.01, 5, per="step")],
            [20],
            form="torch",
        ),
        Chained([Constant(0.1), PiecewiseConstant([3], [0.5, 1.0], inclusive=True)]),
    ]
    assert Experiment.from_toml(experiment.to_toml()) == experiment


def test_a_multiplicative_jump_too_far_is_refused_not_a_hang(monkeypatch):
    from gdlab import schedules as module

    monkeypatch.setattr(module, "MULTIPLICATIVE_MAX_CALLS", 1000)
    schedule = module.Multiplicative(0.1, lambda n: 0.999, per="step")
    assert schedule(900) == pytest.approx(0.1 * 0.999**900, rel=1e-12)
    assert schedule(1800) == pytest.approx(0.1 * 0.999**1800, rel=1e-12)  # continues
    with pytest.raises(ValueError, match=r"the product of .* more calls of lr_lambda"):
        schedule(10**18)
    assert module.Multiplicative(0.1, lambda n: 0.0, per="step")(10**18) == 0.0
