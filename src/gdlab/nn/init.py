"""Initial weights: He, Xavier, Glorot or a fixed standard deviation.

Weights are drawn from a normal distribution with mean 0 and the standard
deviation below, where ``n_in`` is the number of inputs to the layer (the
fan-in) and ``n_out`` its number of units:

==========  =====================  ==========================================
name        std                    use
==========  =====================  ==========================================
``he``      √(2 / n_in)            ReLU (He et al. 2015); the book's ``relu``
``xavier``  √(1 / n_in)            sigmoid, tanh: the seeds' and the book's
                                   "Xavier" (LeCun's normal, a fan-in form)
``glorot``  √(2 / (n_in + n_out))  Glorot & Bengio (2010), the fan-average form
a number    that number            the seeds' ``std 1`` and ``std 0.01``
==========  =====================  ==========================================

The draws are made in float64 and then cast, so a float32 and a float64
network built from the same seed hold the same weights to float32 rounding.
Biases start at zero.

>>> import numpy as np
>>> std("he", 100, 10), std("xavier", 100, 10), std(0.01, 100, 10)
(0.1414..., 0.1, 0.01)
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from gdlab._checks import check_float_dtype, check_int, check_real, fail

__all__ = ["INITIALISERS", "check_scale", "std", "weights"]

#: How many standard deviations a weight may be from 0 and still fit its dtype (see check_scale).
MAX_SIGMAS = 64

INITIALISERS = {
    "he": lambda n_in, n_out: math.sqrt(2.0 / n_in),
    "xavier": lambda n_in, n_out: math.sqrt(1.0 / n_in),
    "glorot": lambda n_in, n_out: math.sqrt(2.0 / (n_in + n_out)),
}


def std(init: Any, n_in: int, n_out: int) -> float:
    """The standard deviation that ``init`` gives a layer with this fan-in and fan-out."""
    check_int("n_in", n_in, low=1)
    check_int("n_out", n_out, low=1)
    if isinstance(init, str):
        key = init.lower()
        if key not in INITIALISERS:
            names = ", ".join(repr(k) for k in INITIALISERS)
            fail("init", f"one of {names} or a positive number", init)
        return INITIALISERS[key](n_in, n_out)
    if isinstance(init, numbers.Real) and not isinstance(init, bool):
        return check_real("init", init, low=0, low_open=True)
    names = ", ".join(repr(k) for k in INITIALISERS)
    fail("init", f"one of {names} or a positive number", init, kind=TypeError)
    raise AssertionError  # unreachable


def weights(
    shape: tuple[int, int],
    init: Any,
    rng: np.random.Generator,
    *,
    fan_in: int,
    fan_out: int,
    dtype: Any = np.float32,
) -> np.ndarray:
    """A ``shape`` array of normal draws with the standard deviation of ``init``.

    A standard deviation so large that the weights would overflow ``dtype``
    (see :func:`check_scale`) is refused, before anything is drawn.
    """
    scale = std(init, fan_in, fan_out)
    check_scale(init, scale, dtype)
    return (rng.standard_normal(shape) * scale).astype(dtype, copy=False)


def check_scale(init: Any, scale: float, dtype: Any) -> None:
    """Refuse a standard deviation whose draws would overflow ``dtype`` to infinity.

    Normal draws stay far inside ``±64`` standard deviations, so a ``scale``
    up to ``finfo(dtype).max / 64`` is safe; beyond it (``1e37`` in float32)
    the weights would be infinite.
    """
    dtype = check_float_dtype(dtype)
    if scale > float(np.finfo(dtype).max) / MAX_SIGMAS:
        fail("init", f"a standard deviation whose weights fit in {dtype.name}", init)
