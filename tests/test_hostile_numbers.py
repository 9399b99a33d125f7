"""Hostile numbers for the 2-D functions and the learning-rate schedules.

Integer input to a 2-D function (a built-in one or one's own) is evaluated as
float64, never in integer arithmetic that wraps around; a Python float past the
float range gives ``inf`` as NumPy's floats do, not ``OverflowError``. A
schedule's counts (``decay_steps``, ``every``, ``boundaries``, …) are at most
2**53, and an integer too long to print is named by its first digits and its
length. NumPy scalars, ``-0.0`` and rates at the edge of the float range are
taken as the numbers they are.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle

import numpy as np
import pytest

from gdlab import cli, schedules
from gdlab import schedules as S
from gdlab._checks import check_int, check_real
from gdlab.functions2d import FUNCTIONS, Function2D, grads_at, scalar_form

HUGE = 10**400
BIG_ENOUGH = 2**53  # the largest count a schedule takes


def _same(a, b) -> None:
    """Equal values, bit for bit where they are arrays (NaN equal to NaN)."""
    np.testing.assert_array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


# --------------------------------------------------------------- 2-D functions


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32])
def test_a_builtin_on_an_integer_grid_is_the_builtin_on_floats(name, dtype):
    """x**2 on int32 wraps past 46340; (y − x²)² on int64 past about 55,000."""
    fn = FUNCTIONS[name]
    ints = np.array([0, 3, 46_341, 70_000, np.iinfo(dtype).max // 3], dtype=dtype)
    grid_x, grid_y = np.meshgrid(ints, ints[::-1])
    floats_x, floats_y = grid_x.astype(np.float64), grid_y.astype(np.float64)
    with np.errstate(all="ignore"):
        _same(fn.f(grid_x, grid_y), fn.f(floats_x, floats_y))
        for got, expected in zip(fn.grad(grid_x, grid_y), fn.grad(floats_x, floats_y), strict=True):
            _same(got, expected)
        # NumPy integer scalars and Python ints too
        _same(fn.f(dtype(70_000), np.int64(3)), fn.f(np.float64(70_000), np.float64(3)))
        _same(fn.grad(70_000, 3), fn.grad(70_000.0, 3.0))


def _own() -> Function2D:
    return Function2D(
        name="tenth",
        f=lambda x, y: x**10 + y,
        grad=lambda x, y: (10 * x**9, np.ones_like(y)),
        minima=(),
        start=(1, 1),
        xlim=(-20, 20),
        ylim=(-20, 20),
        description="x^10 + y",
    )


def test_an_own_function_never_sees_integers():
    fn = _own()
    seen = []
    spy = Function2D("spy", lambda x, y: seen.append((x, y)) or 0.0, fn.grad, (), (1, 1),
                     (-1, 1), (-1, 1), "")  # fmt: skip
    spy.f(np.arange(3, dtype=np.int16), 7)
    assert np.asarray(seen[0][0]).dtype == np.float64
    assert type(seen[0][1]) is float
    ints = np.array([10, 20], dtype=np.int32)
    _same(fn.f(ints, ints), [1e10 + 10.0, 20.0**10 + 20.0])  # int32 gave 1410065418, …
    _same(fn.grad(ints, ints)[0], [1e10, 10 * 20.0**9])
    _same(fn.f(np.int64(100), 0), 1e20)  # int64: 7766279631452241920
    # grads_at hands the float64 parameters it promises, computed in floats
    grads = grads_at(fn, {"x": np.array(100, dtype=np.int64), "y": np.array(1, dtype=np.int8)})
    assert grads["x"].dtype == np.float64
    assert float(grads["x"]) == 1e19
    # the wrapper is invisible: equality, repr, the scalar forms, pickling, replace
    assert fn == dataclasses.replace(fn)
    assert fn.f == fn.f.func
    assert repr(fn.f) == repr(fn.f.func)
    bowl = FUNCTIONS["bowl"]
    assert scalar_form(bowl) is not None
    assert pickle.loads(pickle.dumps(bowl)) == bowl
    mine = dataclasses.replace(bowl, name="mine")
    assert mine.f.func is bowl.f.func  # not wrapped twice
    assert scalar_form(mine) is scalar_form(bowl)


@pytest.mark.parametrize(
    "point",
    [(True, 1.0), (1.0, np.False_), (np.array([True, False]), np.zeros(2))],
    ids=["bool", "numpy bool", "bool array"],
)
def test_a_bool_is_no_coordinate(point):
    for fn in (FUNCTIONS["bowl"], _own()):
        with pytest.raises(TypeError, match=r"must be a real number or an array of real numbers"):
            fn.f(*point)
        with pytest.raises(TypeError, match=r"^[xy] must be a real number or an array of"):
            fn.grad(*point)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_python_floats_past_the_range_give_inf_not_overflow_error(name):
    """1e200**2 raises OverflowError on Python floats, and gives inf on NumPy's."""
    fn = FUNCTIONS[name]
    for point in [(1e200, 0.5), (0.5, -1e200), (HUGE, 2)]:
        with np.errstate(all="ignore"):
            value = fn.f(*point)
            dfdx, dfdy = fn.grad(*point)
            expected = fn.f(*(np.float64(math.inf if v == HUGE else v) for v in point))
        assert not isinstance(value, np.ndarray)
        _same(value, expected)
        assert math.isinf(value) or math.isnan(value)
        assert all(np.ndim(g) == 0 for g in (dfdx, dfdy))
    assert type(FUNCTIONS["bowl"].f(1e200, 0.0)) is float


# --------------------------------------------------------------- schedule counts

COUNTS = {
    "inverse_time.decay_steps": lambda n: S.InverseTimeDecay(0.1, 1.0, decay_steps=n),
    "exponential.decay_steps": lambda n: S.ExponentialDecay(0.1, 0.9, decay_steps=n),
    "polynomial.decay_steps": lambda n: S.PolynomialDecay(0.1, 0.0, n),
    "cosine.decay_steps": lambda n: S.CosineDecay(0.1, n),
    "step.every": lambda n: S.StepDecay(0.1, every=n),
    "piecewise.boundaries": lambda n: S.PiecewiseConstant([1, n], [0.1, 0.05, 0.01]),
    "join.boundaries": lambda n: S.Join([0.1, 0.05, 0.01], [1, n]),
    "onecycle.total_steps": lambda n: S.OneCycle(1.0, n),
    "cyclic.step_size_up": lambda n: S.Cyclic(0.1, 1.0, n),
    "cyclic.step_size_down": lambda n: S.Cyclic(0.1, 1.0, 2, step_size_down=n),
    "swa.anneal_epochs": lambda n: S.SWALR(0.1, 0.01, n),
    "warmup.warmup_steps": lambda n: S.Warmup(0.1, n),
    "plateau.patience": lambda n: S.ReduceOnPlateau(0.1, patience=n),
    "plateau.cooldown": lambda n: S.ReduceOnPlateau(0.1, cooldown=n),
}
COUNTS_ID = {make: key for key, make in COUNTS.items()}


@pytest.mark.parametrize("make", list(COUNTS.values()), ids=list(COUNTS))
def test_a_count_past_2_53_is_refused_in_a_short_message(make):
    name = "boundaries[1]" if "boundaries" in COUNTS_ID[make] else COUNTS_ID[make].split(".")[1]
    for value in (HUGE, np.uint64(2**64 - 1), BIG_ENOUGH + 1):
        with pytest.raises(ValueError, match=r"must be an integer in \[[01], 2\*\*53\]") as caught:
            make(value)
        message = str(caught.value)
        assert message.startswith(f"{name} must be an integer in ["), message
        assert len(message) < 160, message
    with pytest.raises(ValueError, match=r"got 100000000000\.\.\. \(an integer of 401 digits\)$"):
        make(HUGE)
    # 2**53 itself is taken: rates at any step, and a plain-data round trip
    schedule = make(BIG_ENOUGH)
    for step in (0, 1, BIG_ENOUGH - 1, BIG_ENOUGH, 2 * BIG_ENOUGH + 1, HUGE):
        lr = schedule(step, epoch=step)
        assert type(lr) is float, (step, lr)
        assert math.isfinite(lr), (step, lr)
        assert lr >= 0, (step, lr)
    again = schedules.from_config(json.loads(json.dumps(schedule.to_config())))
    assert again == schedule
    assert repr(again) == repr(schedule)


def test_a_plateau_state_with_a_huge_count_is_refused_and_changes_nothing():
    s = S.ReduceOnPlateau(0.1, patience=2)
    s.report(1.0)
    before = s.state_dict()
    for key in ("num_bad_epochs", "cooldown_counter"):
        with pytest.raises(ValueError, match=rf"{key} must be an integer in \[0, 2\*\*53\]"):
            s.load_state_dict({**before, key: HUGE})
        assert s.state_dict() == before


def test_the_cli_refuses_a_huge_decay_steps_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    value = f'{{name = "exponential", lr0 = 0.1, rate = 0.9, per = "step", decay_steps = {HUGE}}}'
    code = cli.main(["race", "bowl", "--optimizers", "sgd", "--set", f"sgd.lr={value}",
                     "--steps", "3", "--no-figures", "--quiet", "--out", "out"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    assert "decay_steps must be an integer in [1, 2**53]" in captured.err
    assert captured.err.rstrip().endswith("(an integer of 401 digits)")
    assert not (tmp_path / "out").exists()


def test_an_integer_too_long_to_print_is_named_by_its_length():
    """str() of an int past 4300 digits raises ValueError in Python itself."""
    with pytest.raises(ValueError, match=r"got 100000000000\.\.\. \(an integer of 5001 digits\)"):
        check_int("n", 10**5000, high=10)
    with pytest.raises(ValueError, match=r"got -300000000000\.\.\. \(an integer of 401 digits\)"):
        check_real("lr", -3 * HUGE, low=0)


# --------------------------------------------------------------- schedule numbers


def test_numpy_scalars_are_taken_as_the_plain_numbers_they_hold():
    s = S.ExponentialDecay(np.float32(0.5), np.float64(0.9), decay_steps=np.int64(3),
                           staircase=np.True_, first=np.int8(1))  # fmt: skip
    config = s.config()
    assert config["staircase"] is True
    assert type(config["decay_steps"]) is int
    assert type(config["lr0"]) is float
    assert config["lr0"] == 0.5
    assert S.CosineDecay(1.0, 4, periodic=np.False_).periodic is False
    assert S.from_config(json.loads(json.dumps(config))) == s


def test_a_negative_zero_is_zero():
    made = [
        S.CosineDecay(1.0, 4, min_lr=-0.0),
        S.PolynomialDecay(1.0, -0.0, 4),
        S.Warmup(1.0, 4, start_lr=-0.0),
        S.Cyclic(-0.0, 1.0, 2),
        S.InverseTimeDecay(1.0, -0.0),
        S.ReduceOnPlateau(1.0, min_lr=-0.0, threshold=-0.0),
        S.OneCycle(1.0, 10, pct_start=-0.0, form="optax"),
    ]
    for s in made:
        assert "-0.0" not in repr(s), s
        assert "-0.0" not in json.dumps(s.to_config()), s
    for s in (S.Lambda(1.0, lambda n: -0.0), S.Multiplicative(1.0, lambda k: -0.0)):
        for step in range(3):
            assert math.copysign(1.0, s(step, epoch=step)) == 1.0
    plateau = S.ReduceOnPlateau(1.0)
    plateau.load_state_dict({**plateau.state_dict(), "lr": -0.0})
    assert math.copysign(1.0, plateau(0)) == 1.0


def test_a_warmup_to_a_rate_near_the_float_limit_stays_finite():
    """(target − start)·step overflowed before the division by the warmup length."""
    up = S.Warmup(1.7e308, 4)
    assert [up(t) for t in range(6)] == [1.7e308 * (t / 4) for t in range(4)] + [1.7e308] * 2
    down = S.Warmup(1.0, 4, start_lr=1.6e308)
    rates = [down(t) for t in range(5)]
    assert rates[0] == 1.6e308
    assert rates[-1] == 1.0
    assert all(math.isfinite(r) for r in rates)
    assert rates == sorted(rates, reverse=True)
    # and below the edge the formula is the one it was, bit for bit
    plain = S.Warmup(0.3, 7, start_lr=0.01)
    assert [plain(t) for t in range(7)] == [0.01 + (0.3 - 0.01) * t / 7 for t in range(7)]


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: S.OneCycle(1.0, 10, div_factor=5e-324), "div_factor"),
        (lambda: S.OneCycle(1.0, 10, final_div_factor=5e-324), "final_div_factor"),
        (lambda: S.OneCycle(1e300, 10, div_factor=1e-10, final_div_factor=1e-10), "div_factor"),
        (
            lambda: S.OneCycle(1.0, 10, div_factor=1e-200, final_div_factor=1e-200, form="optax"),
            "final_div_factor",
        ),
        (lambda: S.InverseSqrtStepDecay(1e10, k=1e308), "k"),
        (lambda: S.InverseSqrtEpochDecay(1e308, k=10.0), "k"),
    ],
    ids=["div", "final div", "both", "optax product underflows", "k step", "k epoch"],
)
def test_a_first_or_last_rate_past_the_float_range_is_refused_when_made(make, name):
    """It was taken, and every call raised (or ZeroDivisionError escaped while making it)."""
    with pytest.raises(ValueError, match=rf"^{name} must be such that .* is finite"):
        make()
