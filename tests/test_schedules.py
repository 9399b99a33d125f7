"""Tests for gdlab.schedules: closed forms, plateau scripts, round trips, errors."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest

from gdlab import schedules
from gdlab.schedules import (
    SCHEDULES,
    Constant,
    CosineDecay,
    ExponentialDecay,
    InverseSqrtEpochDecay,
    InverseSqrtStepDecay,
    InverseTimeDecay,
    Manual,
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


def test_warmup_over_an_epoch_schedule_and_a_float() -> None:
    s = Warmup(ExponentialDecay(0.1, 0.5), 4)
    assert s(2, epoch=1) == pytest.approx(0.05 * 2 / 4)  # ramps toward s(0, epoch=1)
    assert s(10, epoch=2) == pytest.approx(0.025)
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
}


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
    config = json.loads(json.dumps(s.config(), allow_nan=False))
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
        (Warmup(ExponentialDecay(0.1, 0.95), 100), ["step/100", "0.95"]),
        (ReduceOnPlateau(0.1, factor=0.3, patience=4), ["0.3", "4 reports", "0.0001"]),
        (Manual(0.07), ["0.07"]),
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
