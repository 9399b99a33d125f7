"""Argument checks with one message shape.

Every check raises with the same shape, naming the argument, what is allowed
and the bad value::

    beta1 must be in [0, 1); got 1.0
    lr must be a real number or a Schedule; got 'fast' (str)

``TypeError`` is raised for a value of the wrong kind, ``ValueError`` for a
value of the right kind outside its range (NaN and infinities included).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_real",
    "describe",
    "fail",
]


def describe(value: Any) -> str:
    """``repr`` of a value, with its type name when the type is the problem."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


def _typed(value: Any) -> str:
    return f"{describe(value)} ({type(value).__name__})"


def fail(name: str, allowed: str, value: Any, *, kind: type[Exception] = ValueError) -> None:
    """Raise ``kind`` with the message ``'{name} must be {allowed}; got {value}'``."""
    shown = _typed(value) if kind is TypeError else describe(value)
    raise kind(f"{name} must be {allowed}; got {shown}")


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        return f"in {left}{_num(low)}, {_num(high)}{right}"
    if low is not None:
        return f"{'>' if low_open else '>='} {_num(low)}"
    if high is not None:
        return f"{'<' if high_open else '<='} {_num(high)}"
    return "finite"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` inside the given interval.

    ``low_open`` / ``high_open`` exclude the end points: ``check_real("beta1",
    b, low=0, high=1, high_open=True)`` accepts ``[0, 1)``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, "a real number", value, kind=TypeError)
    x = float(value)
    allowed = _interval(low, high, low_open, high_open)
    if not math.isfinite(x):
        fail(name, f"finite and {allowed}" if allowed != "finite" else "finite", value)
    if low is not None and (x < low or (low_open and x == low)):
        fail(name, allowed, value)
    if high is not None and (x > high or (high_open and x == high)):
        fail(name, allowed, value)
    return x


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an ``int`` in ``[low, high]`` (``bool`` is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, "an integer", value, kind=TypeError)
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        if low is not None and high is not None:
            allowed = f"an integer in [{low}, {high}]"
        elif low is not None:
            allowed = f"an integer >= {low}"
        else:
            allowed = f"an integer <= {high}"
        fail(name, allowed, value)
    return n


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a ``bool`` (NumPy's included)."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":  # numpy.bool_
        return bool(value)
    fail(name, "True or False", value, kind=TypeError)
    raise AssertionError  # unreachable


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (strings)."""
    options = list(choices)
    listed = ", ".join(repr(c) for c in options)
    if not isinstance(value, str):
        fail(name, f"one of {listed}", value, kind=TypeError)
    if value not in options:
        fail(name, f"one of {listed}", value)
    return value
