"""Rprop, ASGD, FTRL, Adafactor and SM3 as plain NumPy: the readable reference.

The kernels of :mod:`gdlab.optim.classic`, as :mod:`gdlab.optim.kernels` is
for the first optimizers: each function updates its arrays in place, scalars
come already cast to the arrays' dtype and combined by the optimizer class,
and :mod:`gdlab.optim.classic_fused` holds the fast version of each, with
the same signature and the same arithmetic, bit for bit.

Rprop, ASGD and FTRL are element-wise: their kernels take flat arrays.
Adafactor and SM3 are not: they keep per-row and per-column statistics of
matrices, so their kernels take the parameter in its own shape (Adafactor's
as ``(batch, rows, columns)``) plus scratch arrays the class made once. The
norms they need (RMS of the parameter and of the update) are computed by the
class, the same way for both kernel modules.

These functions allocate temporaries; the optimizers use the fused kernels
unless constructed with ``fused=False``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "adafactor_keras_factored",
    "adafactor_keras_vector",
    "adafactor_torch_factored",
    "adafactor_torch_vector",
    "asgd_step",
    "axpy",
    "ftrl_step",
    "rprop_step",
    "sm3_factored_step",
    "sm3_vector_step",
]


def _decayed(p: np.ndarray, g: np.ndarray, wd) -> np.ndarray:
    """The gradient with L2 weight decay: ``g + wd·p`` (``g`` itself if wd is 0)."""
    return g + wd * p if wd != 0 else g


def _power(x: np.ndarray, e: float) -> np.ndarray:
    """``x ** e`` element-wise, as libm's ``pow`` in float64 rounds it.

    NumPy's own ``np.power`` runs SIMD code whose last bit differs from
    ``pow``; the fused kernels call ``pow``, so the reference does too (``√``
    for e = ½, which is exact in both). Negative bases give NaN, as ``pow``.
    """
    if e == 0.5:
        return np.sqrt(x)
    ee = float(e)

    def scalar_pow(a: float) -> float:
        return math.pow(a, ee) if a >= 0 or math.isnan(a) else math.nan

    out = np.frompyfunc(scalar_pow, 1, 1)(x.astype(np.float64))
    return out.astype(x.dtype)


def rprop_step(p, g, prev, step, lr, etaminus, etaplus, step_min, step_max, first) -> None:
    """Rprop (PyTorch's form): adapt each step size by the sign of ``g·prev``.

    ``g·prev > 0``: ``step ← min(step·η+, step_max)``; ``g·prev < 0``:
    ``step ← max(step·η−, step_min)`` and this step's gradient counts as 0;
    ``g·prev = 0``: the step size stays. Then ``p ← p − sign(g)·step`` and
    ``prev ← g`` (with its zeros). The step sizes start at ``lr`` (``first``).
    A NaN product makes the step size NaN, as in PyTorch.
    """
    if first:
        step[...] = lr
    prod = g * prev
    factor = np.ones_like(p)
    factor[prod > 0] = etaplus
    factor[prod < 0] = etaminus
    factor[np.isnan(prod)] = np.nan
    np.clip(step * factor, step_min, step_max, out=step)
    d = np.where(prod < 0, 0, g)
    p -= np.sign(d) * step
    prev[...] = d


def asgd_step(p, g, ax, eta, decay, mu, wd) -> None:
    """ASGD (PyTorch's single-tensor form).

    ``p ← p·decay − eta·d`` with ``decay = 1 − λ·eta``; then the average
    ``ax ← ax + mu·(p − ax)``, or ``ax ← p`` while ``mu = 1``.
    """
    d = _decayed(p, g, wd)
    p *= decay
    p -= eta * d
    if mu != 1:
        ax += (p - ax) * mu
    else:
        ax[...] = p


def ftrl_step(p, g, n, z, lr, power, c_shrink, l1, two_l2) -> None:
    """FTRL-proximal (Keras's form), per coordinate.

    ``power = −learning_rate_power``; ``c_shrink = 2·l2_shrinkage``;
    ``two_l2 = 2·(l2 + β/(2·lr))``::

        n' = n + g²
        z ← z + (g + c_shrink·p) − (n'^power − n^power)/lr · p
        p ← (clip(z, −l1, l1) − z) / (n'^power/lr + two_l2)
        n ← n'
    """
    n_new = n + g * g
    grad = g + c_shrink * p
    new_pow = _power(n_new, power)
    sigma = (new_pow - _power(n, power)) / lr
    z += grad - sigma * p
    p[...] = (np.clip(z, -l1, l1) - z) / (new_pow / lr + two_l2)
    n[...] = n_new


def axpy(p, u, coef) -> None:
    """``p ← p + coef·u`` (Adafactor's last line, ``coef = −α/denominator``)."""
    p += coef * u


def adafactor_torch_vector(g, v, u, w, eps1_sq) -> None:
    """Adafactor for a vector or scalar, PyTorch's form.

    ``v ← v + w·(g² − v)`` (``w = t^decay``, ``1 − β̂2``); the unclipped update
    ``u = g / √max(v, ε1²)``, written into ``u``.
    """
    v += w * (g * g - v)
    u[...] = (1 / np.sqrt(np.maximum(v, eps1_sq))) * g


def adafactor_torch_factored(g, row, col, u, row_sum, col_sum, row_mean, w, eps1, eps1_sq):
    """Adafactor for a stack of matrices ``g`` of shape (B, n, m), PyTorch's form.

    ``R ← R + w·(mean_j g² − R)`` (shape (B, n)), ``C ← C + w·(mean_i g² − C)``
    (shape (B, m)); ``V̂ = R·Cᵀ / max(mean_i R, ε1)``; ``u = g / √max(V̂, ε1²)``
    into ``u``. ``row_sum``, ``col_sum`` and ``row_mean`` are scratch.
    """
    n, m = g.shape[1], g.shape[2]
    sq = g * g
    row += w * (sq.sum(axis=2) / m - row)
    col += w * (sq.sum(axis=1) / n - col)
    scale = np.maximum(row.sum(axis=1) / n, eps1)
    v = row[:, :, None] * col[:, None, :] / scale[:, None, None]
    u[...] = (1 / np.sqrt(np.maximum(v, eps1_sq))) * g


def adafactor_keras_vector(g, v, u, beta, c_beta, eps1) -> None:
    """Adafactor for a vector or scalar, Keras's form.

    ``v ← β̂·v + (1 − β̂)·(g² + ε1)``; ``u = g / √v`` into ``u``.
    """
    v[...] = beta * v + c_beta * (g * g + eps1)
    u[...] = g / np.sqrt(v)


def adafactor_keras_factored(g, row, col, u, row_sum, col_sum, row_mean, beta, c_beta, eps1):
    """Adafactor for a stack of matrices ``g`` of shape (B, n, m), Keras's form.

    ``r ← β̂·r + (1 − β̂)·mean_j(g² + ε1)``, ``c ← β̂·c + (1 − β̂)·mean_i(g² + ε1)``;
    ``v = (r / mean_i r)·cᵀ``; ``u = g / √v`` into ``u``.
    """
    n, m = g.shape[1], g.shape[2]
    sq = g * g + eps1
    row[...] = beta * row + c_beta * (sq.sum(axis=2) / m)
    col[...] = beta * col + c_beta * (sq.sum(axis=1) / n)
    scale = row.sum(axis=1) / n
    v = (row / scale[:, None])[:, :, None] * col[:, None, :]
    u[...] = g / np.sqrt(v)


def sm3_vector_step(p, g, acc, m, lr, beta, c_beta, eps, momentum) -> None:
    """SM3 for a vector or scalar (optax's form; AdaGrad with optax's ε and momentum).

    ``acc ← g² + acc``; ``u = g·(1/√(acc + ε))`` (0 where acc = 0); with
    momentum ``m ← (1 − β)·u + β·m`` and ``p ← p − lr·m``, else ``p ← p − lr·u``.
    """
    acc[...] = g * g + acc
    inv = np.where(acc > 0, 1 / np.sqrt(acc + eps), 0)
    up = g * inv
    if momentum:
        m[...] = c_beta * up + beta * m
        p -= lr * m
    else:
        p -= lr * up


def sm3_factored_step(p, g, accs, m, work, lr, beta, c_beta, eps, momentum) -> None:
    """SM3 for an array of two or more dimensions (optax's cover: one set per index).

    ``accs[k]`` holds one accumulator per index along axis k. Each element
    takes the least of its accumulators, ``ν = g² + min_k accs[k][i_k]``; then
    ``u``, ``m`` and ``p`` as :func:`sm3_vector_step`, and each accumulator
    becomes the largest ν in its slice, ``accs[k][j] = max_{i_k = j} ν``.
    ``work`` is scratch of ``p``'s shape.
    """
    ndim = g.ndim
    expanded = [a.reshape([-1 if k == i else 1 for i in range(ndim)]) for k, a in enumerate(accs)]
    nu = g * g + functools.reduce(np.minimum, expanded)
    inv = np.where(nu > 0, 1 / np.sqrt(nu + eps), 0)
    up = g * inv
    if momentum:
        m[...] = c_beta * up + beta * m
        p -= lr * m
    else:
        p -= lr * up
    for k, a in enumerate(accs):
        a[...] = nu.max(axis=tuple(i for i in range(ndim) if i != k))
