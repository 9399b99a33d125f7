"""Gradient checks: central differences against backpropagation.

``numerical_gradient(f, params)`` perturbs each element of each parameter by
``±eps`` in place (and puts it back) and returns ``(f(p+eps) − f(p−eps)) / 2eps``.
:func:`gradcheck` compares that with the analytic gradients by the relative
error ``‖a − n‖ / max(‖a‖ + ‖n‖, tiny)`` per key: in float64 with
``eps=1e-6`` a correct backward pass gives about 1e-9 or less, a wrong one
errors of order 1.

>>> import numpy as np
>>> p = {"x": np.array([1.0, -2.0])}
>>> errors = gradcheck(lambda: float(np.sum(p["x"] ** 3)), p, {"x": 3 * p["x"] ** 2})
>>> errors["x"] < 1e-9
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gdlab.nn.layers import Layer

__all__ = ["check_layer", "gradcheck", "numerical_gradient", "relative_error"]


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``‖a − n‖ / (‖a‖ + ‖n‖)``, and 0 when both are zero."""
    a = np.asarray(analytic, np.float64)
    n = np.asarray(numeric, np.float64)
    scale = np.linalg.norm(a) + np.linalg.norm(n)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(a - n) / scale)


def numerical_gradient(
    f: Callable[[], float], params: dict[str, np.ndarray], *, eps: float = 1e-6
) -> dict[str, np.ndarray]:
    """Central-difference gradients of ``f()`` with respect to each array of ``params``.

    ``f`` reads the arrays of ``params``, which are changed in place one element
    at a time and restored exactly.
    """
    result = {}
    for key, p in params.items():
        grad = np.zeros(p.shape, np.float64)
        flat = p.reshape(-1)
        if not np.shares_memory(flat, p):
            raise ValueError(f"params[{key!r}] must be contiguous to be perturbed in place")
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            f_plus = f()
            flat[i] = saved - eps
            f_minus = f()
            flat[i] = saved
            grad.reshape(-1)[i] = (f_plus - f_minus) / (2 * eps)
        result[key] = grad
    return result


def gradcheck(
    f: Callable[[], float],
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    *,
    eps: float = 1e-6,
) -> dict[str, float]:
    """Relative error between ``grads`` and the central differences of ``f``, per key."""
    analytic = {key: np.array(g, np.float64) for key, g in grads.items()}
    numeric = numerical_gradient(f, params, eps=eps)
    return {key: relative_error(analytic[key], numeric[key]) for key in params}


def check_layer(
    layer: Layer, x: np.ndarray, rng: np.random.Generator, *, eps: float = 1e-6
) -> dict[str, float]:
    """Check a layer's backward pass on ``x`` through the scalar ``Σ forward(x) ⊙ R``.

    ``R`` is a fixed random array, so ``∂/∂out = R`` and the layer's
    ``backward(R)`` must match the central differences, for the input
    (key ``"x"``) and for an :class:`~gdlab.nn.layers.Affine`'s ``W`` and ``b``.
    """
    x = np.array(x, np.float64)
    out = layer.forward(x)
    R = rng.standard_normal(out.shape)
    dx = layer.backward(R)
    analytic = {"x": dx}
    params = {"x": x}
    if hasattr(layer, "dW"):
        analytic |= {"W": layer.dW.copy(), "b": layer.db.copy()}
        params |= {"W": layer.W, "b": layer.b}
    if dx is None:
        del analytic["x"], params["x"]

    def f() -> float:
        return float(np.sum(layer.forward(x) * R))

    return gradcheck(f, params, analytic, eps=eps)
