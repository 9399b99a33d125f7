"""Typed expressions, round 6: f is the function typed, sums are not "nesting",
and a middle dot is named with what to write.

Each test failed before its fix. SymPy simplified the text as it built it
(``sqrt(x)^2`` to x, ``exp(log(x))`` to x, ``x/x`` to 1, ``0*log(x)`` to 0), so
f was defined where the typed f is not, and a race on ``sqrt(x)^2 + y^2``
reported a negative final loss as "ok". A sum of 25 terms was refused as
nested 25 levels deep. ``x·y`` (U+00B7) was an unknown name with no hint.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from gdlab import expressions
from gdlab.expressions import ExpressionError, function, gradient_text, parse
from gdlab.functions2d import get, run_path
from gdlab.optim import create

# --- 1. f is the function typed ----------------------------------------------------------

UNDEFINED = [
    # text, a point where the typed f is undefined, a point where it is, f there
    ("sqrt(x)^2 + y^2", (-1.0, 0.5), (2.25, 1.0), 2.25 + 1.0),
    ("exp(log(x))", (-1.0, 0.0), (1.5, 0.0), math.exp(math.log(1.5))),
    ("x/x", (0.0, 3.0), (-2.0, 3.0), 1.0),
    ("0*log(x)", (-1.0, 0.0), (2.0, 0.0), 0.0),
    ("(x - 1)/(x - 1) + y", (1.0, 2.0), (3.0, 2.0), 3.0),
    ("sqrt(x)*sqrt(x)*y", (-4.0, 1.0), (4.0, 1.0), 4.0),
]


@pytest.mark.parametrize("text", ["xⁿ", "xⁱ + y", "xʸ"])
def test_a_superscript_letter_inside_a_name_says_to_write_a_power(text):
    letter = {"ⁿ": "n", "ⁱ": "i", "ʸ": "y"}[text[1]]
    with pytest.raises(ExpressionError, match=f"write \\^{letter} for {text[1]}"):
        function(text)


def test_f_that_overflows_is_what_the_floats_give():
    """exp(x)*exp(-x) is 1 to SymPy, but inf*0 in floats at x = 800: f is NaN there (a run
    that gets there diverges); exp is defined everywhere, so its gradient is not masked
    (nothing is undefined, only overflowed)."""
    fn = function("exp(x)*exp(-x) + y")
    with np.errstate(all="ignore"):
        assert math.isnan(float(fn.f(800.0, 0.0)))
    assert float(fn.f(1.0, 0.5)) == pytest.approx(math.e * math.exp(-1.0) + 0.5, rel=1e-15)


@pytest.mark.parametrize(("text", "outside", "inside", "value"), UNDEFINED)
def test_f_is_undefined_where_the_typed_text_is(text, outside, inside, value):
    fn = function(text)
    with np.errstate(all="ignore"):
        assert math.isnan(float(fn.f(*outside)))
        gx, gy = fn.grad(*outside)
        assert not np.isfinite(gx)
        assert not np.isfinite(gy)
        # on arrays too: only the undefined points are NaN
        xs = np.array([outside[0], inside[0]])
        ys = np.array([outside[1], inside[1]])
        values = fn.f(xs, ys)
        gxs, gys = fn.grad(xs, ys)
    assert math.isnan(values[0])
    assert values[1] == pytest.approx(value, rel=1e-15)
    assert float(fn.f(*inside)) == pytest.approx(value, rel=1e-15)
    assert not np.isfinite(gxs[0])
    assert not np.isfinite(gys[0])
    assert np.isfinite(gxs[1])
    assert np.isfinite(gys[1])


def test_the_gradient_is_exact_where_f_is_defined():
    # d/dx sqrt(x)^2 = 1 and d/dy y^2 = 2y wherever sqrt(x) is defined (x > 0)
    fn = function("sqrt(x)^2 + y^2")
    x = np.array([0.25, 1.0, 7.5])
    y = np.array([-1.0, 0.5, 3.0])
    gx, gy = fn.grad(x, y)
    np.testing.assert_array_equal(gx, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(gy, 2 * y)
    # what the page shows is true there
    assert gradient_text("sqrt(x)^2 + y^2") == ("1", "2*y")
    assert fn.description == "f(x, y) = sqrt(x)^2 + y^2"


def test_a_gradient_is_nan_where_f_is_undefined_even_if_its_formula_is_not():
    # sqrt(x) + y^2: ∂f/∂y = 2y is a number at x = -1, but f is not defined there
    fn = function("sqrt(x) + y^2")
    with np.errstate(invalid="ignore"):
        gx, gy = fn.grad(-1.0, 3.0)
    assert math.isnan(gx)
    assert math.isnan(gy)
    assert [float(g) for g in fn.grad(4.0, 3.0)] == [0.25, 6.0]


def test_a_race_on_sqrt_x_squared_never_reports_a_negative_loss():
    """The user's race: Adam ran to f = -8.943 and SGD to -0.9999, both "ok"."""
    from gdlab.experiments import Experiment
    from gdlab.race import race

    exp = Experiment.from_dict(
        {
            "name": "s1",
            "problem": {"kind": "expression", "expression": "sqrt(x)^2 + y^2", "start": [1, 1]},
            "training": {"steps": 20},
            "runs": [{"optimizer": "sgd", "lr": 0.1}, {"optimizer": "adam", "lr": 0.5}],
        }
    )
    for record in race(exp, progress=False):
        losses = [v for v in record["loss"] if v is not None and math.isfinite(v)]
        assert losses, record["label"]
        assert min(losses) >= 0.0, record["label"]
        assert record["metrics"]["final_loss"] >= 0.0, record["label"]
        # it stops where the path leaves x >= 0, where f is not defined: not "ok"
        assert record["status"] == "diverged", record["label"]
        assert "nan is not finite" in record["reason"]
        assert record["final_params"]["x"] < 0


def test_constant_parts_are_exact_values_rounded_once():
    # in floating point sqrt(2)*sqrt(2) is 2.0000000000000004; the constant part is 2
    assert float(function("sqrt(2)*sqrt(2)*x").f(1.0, 0.0)) == 2.0
    assert float(function("x + pi/2").f(0.0, 0.0)) == math.pi / 2
    # e^x is exp(x), not a power of a rounded e
    assert float(function("e^x").f(3.7, 0.0)) == float(np.exp(3.7))
    # x - x is written with x: 0 where x is a number, and not a constant part
    np.testing.assert_array_equal(function("x - x + y").f(np.array([1.0, -2.0]), 3.0), [3.0, 3.0])


def test_the_typed_bowl_is_the_registered_bowl_bit_for_bit():
    typed = function("x^2/20 + y^2")
    bowl = get("bowl")
    for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"):
        a = run_path(typed, create(name, preset="book", lr=0.1), start=(-7, 2), steps=300)
        b = run_path(bowl, create(name, preset="book", lr=0.1), start=(-7, 2), steps=300)
        np.testing.assert_array_equal(a, b)
    grid = np.meshgrid(np.linspace(-10, 10, 41), np.linspace(-4, 4, 33))
    np.testing.assert_array_equal(typed.f(*grid), bowl.f(*grid))
    for mine, theirs in zip(typed.grad(*grid), bowl.grad(*grid), strict=True):
        np.testing.assert_array_equal(mine, theirs)


# --- 2. a chain of one operator is one level ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "at", "value"),
    [
        ("+".join(["x"] * 25), (1.0, 0.0), 25.0),
        ("1+" + "+".join(f"x^{k}" for k in range(1, 25)) + "+y", (1.0, 2.0), 27.0),
        ("*".join(["x"] * 30), (2.0, 0.0), 2.0**30),
        ("x" + "".join(f"{op}x" for op in "-+" * 20), (1.5, 0.0), 1.5),
        ("x" + "".join(f"{op}{k}" for k, op in enumerate("*/" * 15, start=1)), (3.0, 0.0), None),
        ("+".join(["x"] * 60), (0.5, 0.0), 30.0),  # 119 parts: under MAX_NODES
    ],
)
def test_long_chains_of_one_operator_are_not_nesting(text, at, value):
    assert len(text) <= expressions.MAX_LENGTH
    fn = function(text)
    if value is None:  # x*1/2*3/4… as typed, left to right
        value = at[0]
        for k, op in enumerate("*/" * 15, start=1):
            value = value * k if op == "*" else value / k
    assert float(fn.f(*at)) == value


@pytest.mark.parametrize(
    "text",
    [
        functools.reduce(lambda t, _: f"({t}+1)*2", range(13), "x"),  # + in *, * in +, …
        "sin(" * 25 + "x" + ")" * 25,
        "-" * 25 + "x",
        "x**" * 25 + "x",  # a power tower nests to the right
        "x+(" * 24 + "x" + ")" * 24,
    ],
)
def test_real_nesting_is_still_refused(text):
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse(text)


def test_a_long_chain_is_still_counted_part_by_part():
    with pytest.raises(ExpressionError, match=f"more than {expressions.MAX_NODES} parts"):
        parse("+".join(["x"] * 61))  # 121 parts, 121 characters


# --- 3. a middle dot is named with what to write ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "words", "position"),
    [
        ("x·y", "unknown name 'x·y': write * for ·", 2),
        ("x\u0387y", "write * for \u0387", 2),  # Greek ano teleia: the same dot
        ("sin(x) + 2*x·y", "write * for ·", 13),
        ("𝑥·y", "write * for ·", 2),  # position in characters, not bytes
        ("2·x", "write * for ·", 2),  # where a name cannot start: Python's own error
        ("x ·y", "write * for ·", 3),
        ("xʸ", "write ^y for ʸ", 2),  # a superscript letter: Python reads the name xy
        ("℮^x", "write e for ℮", 1),
    ],
)
def test_look_alikes_inside_names_say_what_to_write(text, words, position):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert words in str(info.value)
    assert info.value.position == position


def test_a_plain_unknown_name_still_lists_what_may_be_written():
    with pytest.raises(ExpressionError, match="unknown name 'xy': use x, y, pi, e") as info:
        parse("xy + 1")
    assert info.value.position == 1
