"""Tests for gdlab.averages: the EWMA of seed 004, vectorised and streaming."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab.averages import EWMA, effective_window, ewma


def loop_ewma(x, beta, bias_correction=False):
    """The plain step-by-step recursion, the reference for everything else."""
    out = np.empty(len(x))
    v = 0.0
    for t, theta in enumerate(x, start=1):
        v = beta * v + (1 - beta) * theta
        out[t - 1] = v / (1 - beta**t) if bias_correction else v
    return out


def rel_err(actual, expected):
    return np.max(np.abs(actual - expected)) / np.max(np.abs(expected))


# -- hand-computed values -------------------------------------------------------


def test_first_three_values_beta_0_9():
    # v1 = 0.1*1; v2 = 0.9*0.1 + 0.1*2 = 0.29; v3 = 0.9*0.29 + 0.1*3 = 0.561
    np.testing.assert_allclose(ewma([1.0, 2.0, 3.0], 0.9), [0.1, 0.29, 0.561], rtol=1e-15)


def test_first_three_values_beta_0_9_bias_corrected():
    # divide by 1 - 0.9**t = 0.1, 0.19, 0.271
    expected = [1.0, 0.29 / 0.19, 0.561 / 0.271]
    np.testing.assert_allclose(
        ewma([1.0, 2.0, 3.0], 0.9, bias_correction=True), expected, rtol=1e-15
    )
    assert expected[1] == pytest.approx(29 / 19)
    assert expected[2] == pytest.approx(561 / 271)


def test_seed_004_day_two_correction():
    # Seed 004: beta = 0.98, t = 2: 1 - 0.98**2 = 0.0396 and
    # v_2 = 0.0196*theta_1 + 0.02*theta_2, so v_2 / 0.0396 is a weighted mean.
    assert pytest.approx(0.0396, rel=1e-12) == 1 - 0.98**2
    theta1, theta2 = 40.0, 49.0
    v = ewma([theta1, theta2], 0.98)
    assert v[0] == pytest.approx(0.02 * 40.0)  # 0.8: the uncorrected first day is far too low
    assert v[1] == pytest.approx(0.0196 * theta1 + 0.02 * theta2, rel=1e-14)
    corrected = ewma([theta1, theta2], 0.98, bias_correction=True)
    assert corrected[0] == theta1
    assert corrected[1] == pytest.approx((0.0196 * theta1 + 0.02 * theta2) / 0.0396, rel=1e-12)


@pytest.mark.parametrize(("beta", "window"), [(0.9, 10.0), (0.98, 50.0), (0.5, 2.0), (0.0, 1.0)])
def test_effective_window(beta, window):
    assert effective_window(beta) == pytest.approx(window, rel=1e-12)
    assert EWMA(beta).effective_window == pytest.approx(window, rel=1e-12)


# -- vectorised equals the loop -------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.98, 0.999])
@pytest.mark.parametrize("bias_correction", [False, True])
def test_vectorised_equals_loop_short(beta, bias_correction):
    x = np.random.default_rng(1).normal(60.0, 10.0, size=365)
    expected = loop_ewma(x, beta, bias_correction)
    actual = ewma(x, beta, bias_correction=bias_correction)
    assert rel_err(actual, expected) < 1e-13


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.999])
@pytest.mark.parametrize("bias_correction", [False, True])
@pytest.mark.parametrize("kind", ["temperatures", "zero-mean", "random-walk"])
def test_vectorised_equals_loop_long(beta, bias_correction, kind):
    rng = np.random.default_rng(2)
    n = 100_000
    x = {
        "temperatures": rng.normal(60.0, 10.0, size=n),
        "zero-mean": rng.standard_normal(n),
        "random-walk": np.cumsum(rng.standard_normal(n)),
    }[kind]
    expected = loop_ewma(x, beta, bias_correction)
    actual = ewma(x, beta, bias_correction=bias_correction)
    assert rel_err(actual, expected) < 1e-12


def test_no_overflow_on_long_series_near_one():
    # A closed form with beta**-t would overflow here (0.5**-2000 > 1e600).
    x = np.random.default_rng(3).standard_normal(5000)
    actual = ewma(x, 0.5, bias_correction=True)
    assert np.isfinite(actual).all()
    assert rel_err(actual, loop_ewma(x, 0.5, True)) < 1e-13


# -- bias correction of a constant series ---------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.98, 0.999, 0.9999])
@pytest.mark.parametrize("c", [40.0, -3.7, 0.1, 1e-300, 1e300])
def test_bias_corrected_constant_is_exact_from_step_one(beta, c):
    x = np.full(1000, c)
    np.testing.assert_array_equal(ewma(x, beta, bias_correction=True), x)
    avg = EWMA(beta, bias_correction=True)
    assert all(avg.update(c) == c for _ in range(1000))


def test_uncorrected_constant_starts_near_zero():
    v = ewma(np.full(3, 40.0), 0.98)
    np.testing.assert_allclose(v, [40 * (1 - 0.98**t) for t in (1, 2, 3)], rtol=1e-14)


# -- streaming equals vectorised ---------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("bias_correction", [False, True])
def test_streaming_equals_vectorised(beta, bias_correction):
    x = np.random.default_rng(5).normal(20.0, 5.0, size=2000)
    avg = EWMA(beta, bias_correction=bias_correction)
    streamed = np.array([avg.update(xi) for xi in x])
    assert avg.t == len(x)
    expected = ewma(x, beta, bias_correction=bias_correction)
    assert rel_err(streamed, expected) < 1e-12
    assert avg.value == streamed[-1]


@pytest.mark.parametrize("bias_correction", [False, True])
def test_streaming_arrays_equal_vectorised_2d(bias_correction):
    x = np.random.default_rng(6).standard_normal((50, 3))
    avg = EWMA(0.9, bias_correction=bias_correction)
    streamed = np.array([avg.update(row) for row in x])
    np.testing.assert_allclose(
        streamed, ewma(x, 0.9, bias_correction=bias_correction), rtol=1e-12, atol=1e-15
    )
    assert isinstance(avg.value, np.ndarray)
    assert avg.value.shape == (3,)


def test_streaming_scalar_returns_float_and_reset():
    avg = EWMA(0.9)
    assert avg.t == 0
    assert avg.value == 0.0
    out = avg.update(np.float32(1.0))
    assert type(out) is float
    assert out == pytest.approx(0.1)
    avg.reset()
    assert avg.t == 0
    assert avg.value == 0.0
    assert avg.update(2) == pytest.approx(0.2)


def test_streaming_corrected_value_undefined_before_first_update():
    with pytest.raises(RuntimeError, match="before the first update"):
        _ = EWMA(0.9, bias_correction=True).value


def test_value_is_a_copy():
    avg = EWMA(0.5)
    avg.update(np.ones(2))
    avg.value[0] = 100.0
    np.testing.assert_array_equal(avg.value, [0.5, 0.5])


@pytest.mark.parametrize("bias_correction", [False, True])
@pytest.mark.parametrize("shape", [(), (2, 3)])
def test_state_dict_round_trip(bias_correction, shape):
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal(shape) if shape else float(rng.standard_normal()) for _ in range(20)]
    straight = EWMA(0.9, bias_correction=bias_correction)
    for x in xs:
        straight.update(x)

    first = EWMA(0.9, bias_correction=bias_correction)
    for x in xs[:12]:
        first.update(x)
    state = first.state_dict()
    resumed = EWMA(0.9, bias_correction=bias_correction)
    resumed.load_state_dict(state)
    first.update(xs[12])  # later updates of the saved one must not leak into state
    for x in xs[12:]:
        resumed.update(x)
    assert resumed.t == straight.t == 20
    np.testing.assert_array_equal(resumed.value, straight.value)
    assert set(state) == {"beta", "bias_correction", "t", "value"}


def test_state_dict_at_t_zero():
    avg = EWMA(0.9, bias_correction=True)
    other = EWMA(0.9, bias_correction=True)
    other.update(5.0)
    other.load_state_dict(avg.state_dict())
    assert other.t == 0
    assert other.update(3.0) == 3.0


# -- 2-D along both axes ------------------------------------------------------


@pytest.mark.parametrize("bias_correction", [False, True])
def test_2d_along_both_axes(bias_correction):
    x = np.random.default_rng(8).normal(10.0, 2.0, size=(400, 3))
    along0 = ewma(x, 0.9, bias_correction=bias_correction, axis=0)
    along1 = ewma(x.T, 0.9, bias_correction=bias_correction, axis=1)
    assert along0.shape == x.shape
    assert along1.shape == x.T.shape
    np.testing.assert_array_equal(along1, along0.T)
    for j in range(3):
        column = loop_ewma(x[:, j], 0.9, bias_correction)
        assert rel_err(along0[:, j], column) < 1e-13
    np.testing.assert_array_equal(ewma(x, 0.9, bias_correction=bias_correction, axis=-2), along0)


def test_integer_input_and_empty():
    np.testing.assert_allclose(ewma([1, 2, 3], 0.9), [0.1, 0.29, 0.561], rtol=1e-15)
    empty = ewma([], 0.9)
    assert empty.shape == (0,)
    assert empty.dtype == np.float64
    assert ewma(np.empty((0, 4)), 0.5, bias_correction=True).shape == (0, 4)


def test_beta_zero_returns_input():
    x = np.array([3.0, -1.5, 7.25])
    np.testing.assert_array_equal(ewma(x, 0.0), x)
    np.testing.assert_array_equal(ewma(x, 0.0, bias_correction=True), x)


# -- errors -------------------------------------------------------------------

ERRORS = [
    # (call, exception, message regex)
    (lambda: ewma([1.0], 1.0), ValueError, r"^beta must be in \[0, 1\); got 1\.0$"),
    (lambda: ewma([1.0], -0.1), ValueError, r"^beta must be in \[0, 1\); got -0\.1$"),
    (lambda: ewma([1.0], math.nan), ValueError, r"^beta must be finite and in \[0, 1\); got nan$"),
    (lambda: ewma([1.0], "0.9"), TypeError, r"^beta must be a real number; got '0\.9' \(str\)$"),
    (lambda: ewma([1.0], True), TypeError, r"^beta must be a real number; got True \(bool\)$"),
    (lambda: ewma([1.0, np.nan, np.inf], 0.9), ValueError, r"^x\[1\] must be finite; got nan$"),
    (lambda: ewma([[1.0, 2.0], [3.0, -np.inf]], 0.9), ValueError, r"^x\[1, 1\] must be finite"),
    (lambda: ewma(["a", "b"], 0.9), TypeError, r"^x must be an array of real numbers; got"),
    (lambda: ewma([1 + 2j], 0.9), TypeError, r"^x must be an array of real numbers; got"),
    (lambda: ewma(3.0, 0.9), ValueError, r"^x must be an array with at least one dimension"),
    (lambda: ewma([1.0], 0.9, axis=1), ValueError, r"^axis must be an integer in \[-1, 0\]"),
    (lambda: ewma([1.0], 0.9, axis=0.0), TypeError, r"^axis must be an integer; got 0\.0"),
    (
        lambda: ewma([1.0], 0.9, bias_correction=1),
        TypeError,
        r"^bias_correction must be True or False; got 1 \(int\)$",
    ),
    (lambda: EWMA(1.5), ValueError, r"^beta must be in \[0, 1\); got 1\.5$"),
    (lambda: EWMA(0.9, bias_correction="yes"), TypeError, r"^bias_correction must be True"),
    (lambda: EWMA(0.9).update(math.inf), ValueError, r"^x must be finite; got inf$"),
    (lambda: EWMA(0.9).update([0.0, math.nan]), ValueError, r"^x\[1\] must be finite; got nan$"),
    (lambda: EWMA(0.9).update("1"), TypeError, r"^x must be a real number; got '1' \(str\)$"),
    (lambda: effective_window(1.0), ValueError, r"^beta must be in \[0, 1\); got 1\.0$"),
]


def _shape_change():
    avg = EWMA(0.9)
    avg.update(np.zeros(3))
    avg.update(np.zeros(4))


def _wrong_beta_state():
    EWMA(0.9).load_state_dict(EWMA(0.5).state_dict())


def _wrong_correction_state():
    EWMA(0.9).load_state_dict(EWMA(0.9, bias_correction=True).state_dict())


def _missing_key_state():
    EWMA(0.9).load_state_dict({"beta": 0.9})


ERRORS += [
    (_shape_change, ValueError, r"^x must be of shape \(3,\) as in earlier updates; got \(4,\)$"),
    (
        _wrong_beta_state,
        ValueError,
        r"^state\['beta'\] must be 0\.9 \(this EWMA's beta\); got 0\.5",
    ),
    (_wrong_correction_state, ValueError, r"^state\['bias_correction'\] must be False"),
    (_missing_key_state, ValueError, r"^state must be a dict with keys \['bias_correction', 't'"),
]


@pytest.mark.parametrize(("call", "error", "message"), ERRORS)
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
