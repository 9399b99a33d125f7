"""Typed expressions read by a hostile user: texts that hung, crashed or were refused wrongly.

Each test failed before its fix: a power tower compiled in exponential time,
constants too large or complex slipped past the size check (and SymPy then
hung on them), SymPy's own ``ZeroDivisionError`` and ``TypeError`` escaped,
``x**0.0`` was "too large", ``(-1)**x`` named a constant the user never
typed, positions counted bytes instead of characters, and syntax errors
named the bad character without saying what to write.
"""

from __future__ import annotations

import threading

import pytest

from gdlab.expressions import ExpressionError, function, gradient_text, parse


def _finishes(call, seconds: float) -> object:
    """``call()``'s result (or exception), failing the test if it runs past ``seconds``."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except Exception as error:  # handed back to the test
            outcome["value"] = error

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert "value" in outcome, f"still running after {seconds} s"
    return outcome["value"]


def test_power_towers_compile_in_moments():
    # each derivative repeats its parts; compiling every copy anew took 2**depth time
    text = "**".join(["x"] * 20)
    fn = _finishes(lambda: function(text), 20.0)
    assert not isinstance(fn, Exception), fn
    gx, gy = fn.grad(0.7, 0.3)
    assert float(gx) == pytest.approx(0.6522460103867, rel=1e-10)
    assert float(gy) == 0.0


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("sin(exp(100)**100)", 5),  # e^10000: its float estimate was NaN, and passed
        ("exp(100)**100 * x", 1),
        ("(x - x + exp(100))**100 + y", 1),  # constant once x - x cancels
        ("exp(10^2)^100", 1),
    ],
)
def test_constants_beyond_the_limit_are_refused_where_they_are(text, position):
    with pytest.raises(ExpressionError, match="too large") as info:
        parse(text)
    assert info.value.position == position


def test_complex_constant_parts_are_refused_at_once():
    # SymPy's checks on tan(...) of a complex constant ran for minutes
    text = "2/(tanh(sqrt(log(acos(3)))) - tan(10^atan(pi)))"
    error = _finishes(lambda: parse(text), 20.0)
    assert isinstance(error, ExpressionError)
    assert "complex" in str(error)


@pytest.mark.parametrize(
    "text",
    [
        "0.0/0.0",
        "x + 1e-300/0.0",
        "sin(10/acos(0.5)) + acos(abs(log(1))*(-1e300/(0.0/0.0)))",
        "99/ln(tanh(ln(tanh(1)^(1e-300 - 99)) + pi))",  # 99/ln(1.0) in floating point
        "-(100/abs(7/99) - (0.0 - tanh(0.5)))**(ln(cosh(y/0.0)) + y)",  # was TypeError
    ],
)
def test_undefined_parts_are_expression_errors_not_tracebacks(text):
    with pytest.raises(ExpressionError, match="undefined"):
        function(text)


@pytest.mark.parametrize(
    ("text", "value", "gradient"),
    [
        ("x**0.0", 1.0, ("0", "0")),
        ("x^-0.0 * y", 3.0, ("0", "1")),
        ("0.0**2 + x", 2.0, ("1", "0")),
    ],
)
def test_float_zero_is_not_too_large(text, value, gradient):
    fn = function(text)
    assert float(fn.f(2.0, 3.0)) == value
    assert gradient_text(text) == gradient


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("𝑥 + foo(x)", 5),  # mathematical italic x: four bytes, one character
        ("ｘ^2 + q", 7),
        ("ℯ^x + z", 7),
        ("  𝑥^2 + 𝑦^2 + x.y", 15),
    ],
)
def test_positions_count_characters_not_bytes(text, position):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert info.value.position == position


# Each refusal says what is wrong (or what to write instead) and where: constant bases
# to variable powers read as functions, syntax errors as parsed text.
@pytest.mark.parametrize(
    ("read", "text", "words", "position"),
    [
        (function, "(-1)**x", "a negative number to a power in x or y, (-1)**…, is complex", 1),
        (function, "x + (1 - 3)^y", "a negative number to a power in x or y, (-2)**…", 5),
        (function, "0**x", "0 to a power in x or y, (0)**…, is undefined for negative powers", 1),
        (function, "0**-1 + x", "undefined (a division by zero", 1),
        (parse, "x²+y²", "invalid character '²' (U+00B2); write ^2 for ²", 2),
        (parse, "3×x", "write * for ×", 2),
        (parse, "−x + y", "write - for −", 1),
        (parse, "x÷2", "write / for ÷", 2),
        (parse, "x y", "an operator is missing (write 2*x, x*y, sin(x))", 3),
        (parse, "sin x", "an operator is missing", 5),
        (parse, "x^2 y", "an operator is missing", 5),
        (parse, "(x)(y)", "x is not a function: write x*(…) for a product", 1),
    ],
)
def test_refusals_say_what_is_wrong_and_where(read, text, words, position):
    with pytest.raises(ExpressionError) as info:
        read(text)
    assert words in str(info.value)
    assert info.value.position == position
