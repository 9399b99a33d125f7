"""Schedule-Free, Prodigy and D-Adaptation as plain NumPy: the readable reference.

The kernels of :mod:`gdlab.optim.schedule_free` and
:mod:`gdlab.optim.parameter_free`. As in :mod:`gdlab.optim.kernels`, each
function updates flat arrays of one dtype in place; scalars come already cast
to that dtype and already combined by the optimizer class, and every operation
is written in the order :mod:`gdlab.optim.free_fused` performs it, so that the
two are bit-identical. These functions allocate temporaries.

Prodigy and D-Adaptation need two sums over *all* parameters each step. Their
kernels update the moments of one piece (a key) and return that piece's
partial sums in float64, added in :data:`LANES` interleaved lanes
(:func:`_lane_sum`: the order the fused loops add in, so that they vectorise
and still give the same bits every run); the optimizer adds the pieces' partial
sums in key order. :func:`prodigy_accumulate` leaves the parameters alone:
:func:`prodigy_apply` steps them once the new distance estimate is known.
D-Adaptation's step does not use the new estimate (only the next step does),
so :func:`dadapt_step` does everything in one pass.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LANES",
    "dadapt_step",
    "jax_power",
    "prodigy_accumulate",
    "prodigy_apply",
    "schedule_free_adamw_step",
    "schedule_free_eval",
    "schedule_free_sgd_step",
]


def jax_power(base: float, n: int) -> float:
    """``base**n`` for an integer ``n >= 0`` as JAX computes it: by repeated squaring.

    optax's bias corrections raise a float to an int32 step count, which JAX
    evaluates by binary powering (multiplying in the squares of ``base`` for
    the bits of ``n``, lowest first), not with C's ``pow``; the two differ in
    the last bits. Used for the corrections of the rules matched to optax.
    """
    result, square = 1.0, base
    while n:
        if n & 1:
            result *= square
        square *= square
        n >>= 1
    return result


#: The number of interleaved partial sums in :func:`_lane_sum` (and in the
#: fused loops, which must use the same number: the tests check both).
LANES = 32


def _lane_sum(terms: np.ndarray) -> float:
    """Σ terms in float64, in :data:`LANES` interleaved lanes, in a fixed order.

    Lane ``j`` adds the terms ``j, j + LANES, j + 2·LANES, …``, each converted
    to float64, one after the other from 0; then the lanes' totals are added
    from 0 in lane order. With fewer than ``LANES`` terms this is the plain
    left-to-right sum. The fused loops add in exactly this order (a vector of
    lanes per step, so that they vectorise without a fast-math flag), and the
    order depends only on the number of terms: the same bits on every run and
    every machine.
    """
    x = np.asarray(terms, dtype=np.float64).reshape(-1)
    head = x.size - x.size % LANES
    # Down the columns of a (rows, LANES) array NumPy adds row after row (its
    # pairwise summation applies only along the contiguous axis).
    lanes = np.add.reduce(x[:head].reshape(-1, LANES), axis=0, initial=0.0)
    lanes[: x.size - head] += x[head:]
    total = 0.0
    for lane in lanes.tolist():
        total += lane
    return total


def _average_and_interpolate(y, z_old, z, beta1, c_beta1, inv_beta1, ck, c_ck) -> None:
    """The Schedule-Free sequences after ``z`` has moved from ``z_old``.

    ``x_prev = (y − (1−β1)·z_old)·(1/β1)`` (the average, recovered from y and z);
    ``x = (1−c)·x_prev + c·z``; ``y_new = β1·x + (1−β1)·z``; and ``y`` is
    stepped by ``y_new − y``, as optax applies an update.
    """
    x_prev = (y - c_beta1 * z_old) * inv_beta1
    x = c_ck * x_prev + ck * z
    y_new = beta1 * x + c_beta1 * z
    y += y_new - y


def schedule_free_sgd_step(y, g, z, lr, wd, beta1, c_beta1, inv_beta1, ck, c_ck) -> None:
    """Schedule-Free SGD: ``z ← z − lr·d`` with ``d = g + wd·y``, then the averages."""
    d = g + wd * y if wd != 0 else g
    z_old = z.copy()
    z += d * -lr
    _average_and_interpolate(y, z_old, z, beta1, c_beta1, inv_beta1, ck, c_ck)


def schedule_free_adamw_step(
    y, g, z, v, lr, beta2, c2, eps, bc2, one, wd, beta1, c_beta1, inv_beta1, ck, c_ck
) -> None:
    """Schedule-Free AdamW (no first moment).

    ``v ← (1−β2)·g² + β2·v``; ``u = (1/(√(v/bc2) + ε))·g + wd·y``;
    ``z ← z − lr·u``; then the averages as Schedule-Free SGD. ``one`` is 1
    in the arrays' dtype (the reciprocal is taken first, as optax does).
    """
    v *= beta2
    v += c2 * (g * g)
    u = (one / (np.sqrt(v / bc2) + eps)) * g
    if wd != 0:
        u = u + wd * y
    z_old = z.copy()
    z += u * -lr
    _average_and_interpolate(y, z_old, z, beta1, c_beta1, inv_beta1, ck, c_ck)


def schedule_free_eval(y, z, x, c_beta1, inv_beta1) -> None:
    """The evaluation point into ``x``: ``x = (y − (1−β1)·z)·(1/β1)``."""
    np.multiply(y - c_beta1 * z, inv_beta1, out=x)


def prodigy_accumulate(p, g, p0, m, v, s, d, beta1, c1, beta2, c2, beta3, s_coef, inv_d0):
    """Prodigy's moments for one piece; return ``(Σ g·(p0 − p), Σ |s|)``.

    ``dg = d·g``; ``m ← β1·m + (1−β1)·dg``; ``v ← β2·v + (1−β2)·dg·dg``;
    ``s ← β3·s + s_coef·dg·(1/d0)`` (``s_coef`` is ``d·lr·bc``, or ``d`` with
    the safeguard warm-up). The first sum reads ``p`` before the step.
    """
    dot = _lane_sum(g * (p0 - p))
    dg = d * g
    m *= beta1
    m += c1 * dg
    v *= beta2
    v += (c2 * dg) * dg
    s *= beta3
    s += (s_coef * dg) * inv_d0
    return dot, _lane_sum(np.abs(s))


def prodigy_apply(p, m, v, c_wd, dlr, d_eps) -> None:
    """Prodigy's step: ``p ← p + (c_wd·p − dlr·m/(√v + d·ε))``, ``c_wd = −wd·dlr``."""
    p += c_wd * p - (dlr * m) / (np.sqrt(v) + d_eps)


def dadapt_step(p, g, m, v, s, eps, beta1, c1_dlr, beta2, c2, sb2, c_sb2_dlr, c_wd):
    """D-Adapt AdamW's step for one piece; return ``(Σ g·s/(√v + ε), Σ |s|)``.

    The first sum reads ``s`` and ``v`` before the step; then
    ``m ← β1·m + (1−β1)·dlr·g``; ``v ← β2·v + (1−β2)·g·g``;
    ``s ← √β2·s + (1−√β2)·dlr·g``, and the second sum reads the new ``s``;
    ``p ← p + (c_wd·p − m/(√v + ε))`` with the new ``m`` and ``v``,
    ``c_wd = −wd·dlr`` (the step uses this step's ``dlr``, not the new ``d``).
    """
    dot = _lane_sum(g * (s / (np.sqrt(v) + eps)))
    m *= beta1
    m += c1_dlr * g
    v *= beta2
    v += (c2 * g) * g
    s *= sb2
    s += c_sb2_dlr * g
    p += c_wd * p - m / (np.sqrt(v) + eps)
    return dot, _lane_sum(np.abs(s))
