"""Exponentially weighted moving averages (EWMA), with optional bias correction.

The recursion (seed 004, the daily-temperature example) is::

    v_0 = 0
    v_t = beta * v_{t-1} + (1 - beta) * theta_t        t = 1, 2, ..., T
    v_hat_t = v_t / (1 - beta**t)                       (bias correction)

``v_t`` averages over roughly ``1 / (1 - beta)`` recent values
(:func:`effective_window`): about 10 days for ``beta = 0.9``, 50 for 0.98 and
2 for 0.5. Without correction the first values are pulled toward ``v_0 = 0``
(with ``beta = 0.98`` and ``theta_1 = 40``, ``v_1 = 0.8``); dividing by
``1 - beta**t`` removes that bias (``t = 2``: ``1 - 0.98**2 = 0.0396``).

:func:`ewma` computes a whole series at once (vectorised, no Python loop over
time); :class:`EWMA` updates one step at a time, as an optimizer does.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from gdlab._checks import check_bool, check_int, check_real, fail

__all__ = ["EWMA", "effective_window", "ewma"]


def _check_beta(beta: Any) -> float:
    return check_real("beta", beta, low=0, high=1, high_open=True)


def _as_real_array(name: str, x: Any) -> np.ndarray:
    """``x`` as a float64 array of finite real numbers; name the first bad index."""
    if np.ma.isMaskedArray(x) and np.ma.is_masked(x):
        fail(name, "an array without masked values (fill or drop them first)", x)
    try:
        arr = np.asarray(x)
    except ValueError:  # a ragged nested sequence
        fail(name, "a rectangular array of real numbers", x, kind=TypeError)
    if arr.dtype == object:  # Python ints past int64 (10**20), Fractions: real numbers too
        arr = _object_reals(name, arr)
    if arr.dtype.kind not in "iuf":
        fail(name, "an array of real numbers", x, kind=TypeError)
    _check_finite(name, arr, "finite")
    if arr.dtype != np.float64:
        with np.errstate(over="ignore"):  # a long double past 1.8e308 becomes inf: named below
            arr = arr.astype(np.float64)
        _check_finite(name, arr, "within float64's range (|x| <= 1.8e308)", x)
    return arr


def _object_reals(name: str, arr: np.ndarray) -> np.ndarray:
    """An object array of real numbers as float64 (``arr`` as it is if it holds anything else)."""
    for index, value in np.ndenumerate(arr):
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            return arr
        try:
            float(value)
        except OverflowError:  # an int past float64's range
            where = f"{name}[{', '.join(map(str, index))}]" if index else name
            fail(where, "within float64's range (|x| <= 1.8e308)", value)
    return arr.astype(np.float64) if arr.size else arr


def _check_finite(name: str, arr: np.ndarray, allowed: str, original: Any = None) -> None:
    """Fail naming the first non-finite entry of ``arr`` (shown from ``original`` if given)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{name}[{', '.join(map(str, index))}]" if index else name
        shown = arr if original is None else np.asarray(original)
        fail(where, allowed, shown[index].item() if shown.ndim else shown.item())


def _scalar(x: Any) -> Any:
    """A 0-d real NumPy array as its number (``np.array(3.0)`` is a real number too)."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "iuf":
        return x.item()
    return x


def effective_window(beta: float) -> float:
    """The number of recent values an EWMA roughly averages over: ``1 / (1 - beta)``.

    A convention, not an exact law (seed 004): ``beta**(1 / (1 - beta))``
    tends to ``1/e`` (about 0.37) as ``beta`` nears 1 and stays below it
    (0.349 for 0.9, 0.364 for 0.98, but 0.25 for 0.5), so values older than
    that weigh less than about 0.37 times the newest one.

    Args:
        beta: decay factor in ``[0, 1)``.

    >>> [round(effective_window(beta), 9) for beta in (0.9, 0.98, 0.5)]
    [10.0, 50.0, 2.0]
    >>> [round(beta ** effective_window(beta), 3) for beta in (0.9, 0.98, 0.5)]
    [0.349, 0.364, 0.25]
    """
    return 1.0 / (1.0 - _check_beta(beta))


def _linear_scan(u: np.ndarray, beta: float) -> np.ndarray:
    """Solve ``v_t = beta * v_{t-1} + u_t`` (``v_0 = 0``) along axis 0, vectorised.

    Recursive doubling: after the pass with offset ``d`` every ``v_t`` holds
    ``sum_{j < 2d} beta**j * u_{t-j}``, so ``ceil(log2(T))`` passes suffice.
    Every term is multiplied by ``beta**d <= 1`` and added, never divided, so
    nothing grows: the result agrees with the plain loop to rounding error
    (unlike ``beta**t * cumsum(u * beta**-t)``, which overflows and cancels on
    long series). Passes stop early once ``beta**d`` underflows to 0.
    """
    v = u.copy()
    n = v.shape[0]
    d = 1
    while d < n:
        scale = beta**d
        if scale == 0.0:
            break
        v[d:] += scale * v[:-d]
        d *= 2
    return v


def _one_minus_beta_power(beta: float, t: Any) -> Any:
    """``1 - beta**t`` (``t >= 1``, int or array), accurate even when ``beta`` is near 1.

    Written as ``-expm1(t * log1p(-(1 - beta)))``: the plain ``1 - beta**t``
    loses about ``-log10(1 - beta)`` digits to cancellation at small ``t``.
    """
    if 1.0 - beta == 1.0:  # beta**t rounds to 0 (and log1p(-1) would warn)
        return np.ones_like(t, dtype=np.float64)
    return -np.expm1(np.multiply(t, np.log1p(-(1.0 - beta)), dtype=np.float64))


def ewma(x: Any, beta: float, *, bias_correction: bool = False, axis: int = 0) -> np.ndarray:
    """Exponentially weighted moving average of a series, all steps at once.

    ::

        v_0 = 0
        v_t = beta * v_{t-1} + (1 - beta) * x_t          t = 1..T
        out_t = v_t                  (bias_correction=False)
        out_t = v_t / (1 - beta**t)  (bias_correction=True)

    The bias-corrected average is a weighted mean whose weights sum to 1, so
    it is computed on ``x - x_1`` and shifted back: a constant series is
    returned exactly, from step 1 on. The uncorrected average starts near
    ``v_0 = 0`` (``v_1 = (1 - beta) * x_1``).

    Vectorised with recursive doubling (no Python loop over time, no
    ``beta**-t`` factors that overflow on long series) and ``1 - beta**t``
    taken as ``-expm1(t * log1p(-(1 - beta)))``. On 10**5 points it agrees
    with the step-by-step loop to about 1e-14 of the series' scale for
    ``beta = 0.5`` and ``0.999`` (it is, if anything, the more accurate of
    the two) and runs about ten times faster or more.

    Args:
        x: real values, time along ``axis``; any shape with at least one
            dimension (e.g. a 2-D array averaged along rows or columns).
        beta: decay factor in ``[0, 1)``; ``beta = 0`` returns ``x``.
        bias_correction: divide by ``1 - beta**t``. Default ``False``.
        axis: the time axis. Default ``0``.

    Returns:
        A float64 array of the shape of ``x``; an empty one for empty ``x``.

    Raises:
        TypeError: ``x`` is not an array of real numbers (strings, booleans,
            a ragged list), ``beta`` not a real number, ``bias_correction``
            not a bool, ``axis`` not an integer.
        ValueError: ``x`` holds NaN, infinity or a number past float64's
            range (the first bad index is named), masked values, or is 0-d;
            ``beta`` is outside ``[0, 1)``; ``axis`` is out of range.

    References:
        Seed 004 (exponentially weighted averages and bias correction).

    >>> ewma([1.0, 2.0, 3.0], 0.9).round(6)
    array([0.1  , 0.29 , 0.561])
    >>> ewma([1.0, 2.0, 3.0], 0.9, bias_correction=True).round(6)
    array([1.      , 1.526316, 2.070111])
    >>> ewma([40.0, 40.0, 40.0], 0.98, bias_correction=True)
    array([40., 40., 40.])
    """
    beta = _check_beta(beta)
    bias_correction = check_bool("bias_correction", bias_correction)
    arr = _as_real_array("x", x)
    if arr.ndim == 0:
        fail("x", "an array with at least one dimension", x)
    axis = check_int("axis", axis, low=-arr.ndim, high=arr.ndim - 1)
    if arr.size == 0:
        return np.empty(arr.shape, dtype=np.float64)

    theta = np.moveaxis(arr, axis, 0)
    if beta == 0.0:  # v_t = x_t, corrected or not
        out = theta.copy()
    elif not bias_correction:
        out = _linear_scan((1.0 - beta) * theta, beta)
    else:
        shift = theta[:1]
        with np.errstate(over="ignore", invalid="ignore"):
            centred = theta - shift
        if not np.isfinite(centred).all():  # only for values near the float limit
            shift = np.zeros_like(shift)
            centred = theta
        correction = _one_minus_beta_power(beta, np.arange(1, theta.shape[0] + 1))
        correction = correction.reshape((-1,) + (1,) * (theta.ndim - 1))
        out = shift + _linear_scan((1.0 - beta) * centred, beta) / correction
    return np.moveaxis(out, 0, axis)


class EWMA:
    """Streaming exponentially weighted moving average, one value per update.

    ::

        t += 1
        v = beta * v + (1 - beta) * x        (v_0 = 0)
        value = v                            (bias_correction=False)
        value = v / (1 - beta**t)            (bias_correction=True)

    With bias correction the corrected value is updated directly as
    ``value += (1 - beta) / (1 - beta**t) * (x - value)``, the same number
    written so that a constant series is returned exactly from step 1 on.
    Updates may be scalars (``value`` is a ``float``) or arrays of one fixed
    shape (``value`` is an array), e.g. a gradient.

    Args:
        beta: decay factor in ``[0, 1)``.
        bias_correction: report ``v_t / (1 - beta**t)``. Default ``False``.

    >>> avg = EWMA(0.9)
    >>> [round(avg.update(x), 6) for x in (1.0, 2.0, 3.0)]
    [0.1, 0.29, 0.561]
    >>> avg.t
    3
    >>> corrected = EWMA(0.98, bias_correction=True)
    >>> corrected.update(40.0), corrected.update(40.0)
    (40.0, 40.0)
    """

    def __init__(self, beta: float, *, bias_correction: bool = False) -> None:
        self.beta = _check_beta(beta)
        self.bias_correction = check_bool("bias_correction", bias_correction)
        self.reset()

    def reset(self) -> None:
        """Forget every update: ``t = 0`` and ``v = 0``."""
        self.t = 0
        self._value: float | np.ndarray | None = None

    @property
    def effective_window(self) -> float:
        """``1 / (1 - beta)``, see :func:`effective_window`."""
        return effective_window(self.beta)

    @property
    def value(self) -> float | np.ndarray:
        """The current average (bias-corrected if asked).

        Before the first update it is ``v_0 = 0.0`` without correction; the
        corrected value ``0 / 0`` is undefined and raises ``RuntimeError``.
        """
        if self._value is None:
            if self.bias_correction:
                raise RuntimeError(
                    "EWMA.value with bias_correction is undefined before the first update (t = 0)"
                )
            return 0.0
        return self._value.copy() if isinstance(self._value, np.ndarray) else self._value

    def update(self, x: Any) -> float | np.ndarray:
        """Add the next value ``x`` (scalar or array) and return :attr:`value`."""
        try:
            scalar = np.ndim(x) == 0
        except ValueError:  # ragged: _as_real_array names it
            scalar = False
        if scalar:
            if np.ma.isMaskedArray(x) and np.ma.is_masked(x):  # .item() would read the hidden value
                fail("x", "a real number, not a masked value", x)
            new: float | np.ndarray = check_real("x", _scalar(x))
        else:
            new = _as_real_array("x", x)
        if self._value is not None and np.shape(new) != np.shape(self._value):
            fail("x", f"of shape {np.shape(self._value)} as in earlier updates", np.shape(new))

        self.t += 1
        if self.bias_correction:
            previous = new if self._value is None else self._value
            gain = float((1.0 - self.beta) / _one_minus_beta_power(self.beta, self.t))
            with np.errstate(over="ignore", invalid="ignore"):
                value = previous + gain * (new - previous)
            if not np.isfinite(value).all():  # new − previous overflowed (values near 1e308)
                value = (1.0 - gain) * previous + gain * new
            self._value = value
        else:
            previous = 0.0 if self._value is None else self._value
            self._value = self.beta * previous + (1.0 - self.beta) * new
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: ``beta``, ``bias_correction``, ``t``, ``value``.

        ``value`` is the reported average (``None`` before the first update).
        """
        value = self._value.copy() if isinstance(self._value, np.ndarray) else self._value
        return {
            "beta": self.beta,
            "bias_correction": self.bias_correction,
            "t": self.t,
            "value": value,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; its ``beta`` and ``bias_correction`` must match."""
        if not isinstance(state, dict):
            fail("state", "a dict from EWMA.state_dict()", state, kind=TypeError)
        missing = {"beta", "bias_correction", "t", "value"} - set(state)
        if missing:
            fail("state", f"a dict with keys {sorted(missing)} too", sorted(state))
        beta, corrected = state["beta"], state["bias_correction"]
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or beta != self.beta:
            fail("state['beta']", f"{self.beta!r} (this EWMA's beta)", beta)
        if not isinstance(corrected, bool | np.bool_) or corrected != self.bias_correction:
            fail(
                "state['bias_correction']",
                f"{self.bias_correction!r} (this EWMA's setting)",
                state["bias_correction"],
            )
        t = check_int("state['t']", state["t"], low=0)
        value = state["value"]
        if (t == 0) != (value is None):
            fail("state['value']", "None exactly when t == 0", value)
        if value is not None and np.ndim(value) == 0:
            value = check_real("state['value']", _scalar(value))
        elif value is not None:
            value = _as_real_array("state['value']", value).copy()
        self.t = t
        self._value = value

    def __repr__(self) -> str:
        return f"EWMA(beta={self.beta!r}, bias_correction={self.bias_correction!r}, t={self.t})"
