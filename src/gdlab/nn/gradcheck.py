"""Gradient checks: central differences against backpropagation.

``numerical_gradient(f, params)`` perturbs each element of each parameter by
``±eps`` in place (and puts it back) and returns ``(f(p⁺) − f(p⁻)) / (p⁺ − p⁻)``,
where ``p⁺`` and ``p⁻`` are ``p ± eps`` as the array stores them (in float32
they round, and the step actually taken is not ``2 * eps``).
:func:`gradcheck` compares that with the analytic gradients by the relative
error ``‖a − n‖ / max(‖a‖ + ‖n‖, tiny)`` per key: in float64 with
``eps=1e-6`` a correct backward pass gives about 1e-9 or less, a wrong one
errors of order 1. In float32 (an :class:`~gdlab.nn.MLP`'s default) ``f``'s
own rounding, about 1e-7 of the loss, is divided by the step: pass
``eps=1e-3``, where a correct backward pass gives about 1e-5 to 3e-4, still
far from a wrong one's order 1 (with ``1e-6`` even a correct one gives errors
of 1e-2); check in float64 for a sharp answer.

>>> import numpy as np
>>> p = {"x": np.array([1.0, -2.0])}
>>> errors = gradcheck(lambda: float(np.sum(p["x"] ** 3)), p, {"x": 3 * p["x"] ** 2})
>>> errors["x"] < 1e-9
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gdlab._checks import check_real, check_rng, fail
from gdlab.nn.layers import Layer

__all__ = ["check_layer", "gradcheck", "numerical_gradient", "relative_error"]


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``‖a − n‖ / (‖a‖ + ‖n‖)``, and 0 when both are zero. The shapes must match."""
    a = np.asarray(analytic, np.float64)
    n = np.asarray(numeric, np.float64)
    if a.shape != n.shape:
        fail("analytic and numeric", "arrays of one shape", f"shapes {a.shape} and {n.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(n)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(a - n) / scale)


def _check_params(params: Any) -> None:
    """Floating, writable arrays whose elements can be perturbed in place."""
    if not isinstance(params, dict):
        fail("params", "a dict of NumPy arrays", params, kind=TypeError)
    for key, p in params.items():
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            shown = f"{p.dtype} array" if isinstance(p, np.ndarray) else p
            fail(
                f"params[{key!r}]",
                "a floating-point NumPy array",
                shown,
                kind=TypeError,
                described=isinstance(p, np.ndarray),
            )
        if not p.flags.writeable:
            fail(f"params[{key!r}]", "writable to be perturbed in place", "a read-only array")
        if p.size and not np.shares_memory(p.reshape(-1), p):
            raise ValueError(f"params[{key!r}] must be contiguous to be perturbed in place")


def _value(f: Callable[[], float]) -> float:
    """``f()`` as a float, or a ``TypeError`` when it is not one real number."""
    value = f()
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "biuf":
        fail("f()", "one real number (the loss)", value, kind=TypeError)
    return float(value)


def _set(flat: np.ndarray, i: int, value: float, key: str, eps: float) -> None:
    """``flat[i] = value``, refusing a step that rounds away in the array's dtype."""
    saved = flat[i]
    flat[i] = value
    if flat[i] == saved:
        fail(
            "eps",
            f"large enough to change params[{key!r}] (element {i}, {saved}) in {flat.dtype}",
            eps,
        )


def _central_differences(
    f: Callable[[], float], flat: np.ndarray, key: str, eps: float
) -> np.ndarray:
    """The central differences of ``f`` along each element of ``flat``, restored after each."""
    grad = np.zeros(flat.size, np.float64)
    for i in range(flat.size):
        saved = flat[i]
        try:
            _set(flat, i, saved + eps, key, eps)
            up = flat[i]  # as stored: saved + eps rounds in the array's dtype
            f_plus = _value(f)
            _set(flat, i, saved - eps, key, eps)
            down = flat[i]
            f_minus = _value(f)
        finally:
            flat[i] = saved  # put back exactly, also when f fails
        # the step actually taken, in the array's dtype (exact for float32 and float64),
        # not 2 * eps: in float32 the two roundings can make it several percent off
        grad[i] = (f_plus - f_minus) / float(up - down)
    return grad


def numerical_gradient(
    f: Callable[[], float], params: dict[str, np.ndarray], *, eps: float = 1e-6
) -> dict[str, np.ndarray]:
    """Central-difference gradients of ``f()`` with respect to each array of ``params``.

    ``f`` reads the arrays of ``params``, which are changed in place one element
    at a time and restored exactly (also when ``f`` raises). The arrays must be
    floating point, writable and contiguous, and ``eps`` large enough to change
    every element in its dtype (``1e-6`` is lost on ``1000.0`` in float32).
    """
    eps = check_real("eps", eps, low=0, low_open=True)
    _check_params(params)
    result = {}
    for key, p in params.items():
        flat = p.reshape(-1)
        result[key] = _central_differences(f, flat, key, eps).reshape(p.shape)
    return result


def gradcheck(
    f: Callable[[], float],
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    *,
    eps: float = 1e-6,
) -> dict[str, float]:
    """Relative error between ``grads`` and the central differences of ``f``, per key.

    ``grads`` must hold a real array of the shape of each array of ``params``.
    """
    _check_params(params)
    if not isinstance(grads, dict):
        fail("grads", "a dict of NumPy arrays", grads, kind=TypeError)
    analytic = {}
    for key, p in params.items():
        if key not in grads:
            fail("grads", f"a dict with the keys of params ({', '.join(map(str, params))})", grads)
        g = np.asarray(grads[key])
        if g.dtype.kind not in "biuf" or g.shape != p.shape:
            shown = f"{g.dtype} array of shape {g.shape}"
            fail(f"grads[{key!r}]", f"a real array of shape {p.shape}, as params", shown)
        analytic[key] = np.array(g, np.float64)
    numeric = numerical_gradient(f, params, eps=eps)
    return {key: relative_error(analytic[key], numeric[key]) for key in params}


def check_layer(
    layer: Layer, x: np.ndarray, rng: np.random.Generator, *, eps: float = 1e-6
) -> dict[str, float]:
    """Check a layer's backward pass on ``x`` through the scalar ``Σ forward(x) ⊙ R``.

    ``R`` is a fixed random array, so ``∂/∂out = R`` and the layer's
    ``backward(R)`` must match the central differences, for the input
    (key ``"x"``) and for an :class:`~gdlab.nn.layers.Affine`'s ``W`` and ``b``.
    A layer that draws from its own generator ``layer.rng`` (dropout) draws the
    same mask for every forward pass of the check. ``x`` is taken in the dtype of
    the layer's arrays (an Affine's ``W``: for a float32 layer pass ``eps=1e-3``, see
    the module's notes on float32), and in float64 for a layer without (an
    activation, dropout), which takes any float type.
    """
    if not callable(getattr(layer, "forward", None)) or not callable(
        getattr(layer, "backward", None)
    ):
        fail("layer", "a layer with forward and backward methods", layer, kind=TypeError)
    check_rng(rng)
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        fail(
            "x",
            "numbers (a bool, integer or floating array)",
            f"{x.dtype} array",
            kind=TypeError,
            described=True,
        )
    # computed in the layer's dtype (an Affine refuses another), else in float64: sharpest
    dtype = getattr(getattr(layer, "W", None), "dtype", None)
    if dtype is None or dtype.kind != "f":
        dtype = np.dtype(np.float64)
    x = np.array(x, dtype)
    own = getattr(layer, "rng", None)
    start = own.bit_generator.state if isinstance(own, np.random.Generator) else None
    out = layer.forward(x)
    R = rng.standard_normal(out.shape).astype(out.dtype, copy=False)
    dx = layer.backward(R)
    # Where the generator is now (``rng`` itself may be the layer's) is where it is left.
    after = own.bit_generator.state if start is not None else None
    analytic = {"x": dx}
    params = {"x": x}
    if hasattr(layer, "dW"):
        analytic |= {"W": layer.dW.copy(), "b": layer.db.copy()}
        params |= {"W": layer.W, "b": layer.b}
    if dx is None:
        del analytic["x"], params["x"]

    def f() -> float:
        if start is not None:
            own.bit_generator.state = start  # the mask of the analytic pass again
        return float(np.sum(layer.forward(x) * R))

    try:
        return gradcheck(f, params, analytic, eps=eps)
    finally:
        if after is not None:
            own.bit_generator.state = after
