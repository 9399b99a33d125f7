"""Rprop, ASGD, FTRL, Adafactor and SM3 as fused numba loops: the fast path.

Each function has the signature and the arithmetic of its reference in
:mod:`gdlab.optim.classic_kernels`, in the same order, so that results are
bit-identical (the tests hold them to that). The element-wise rules are one
pass over memory. Adafactor's and SM3's reductions over rows and columns run
in NumPy with ``out=`` into scratch the class made once (the same NumPy
reductions the reference runs, hence the same sums), their element-wise parts
in numba loops; nothing per step is allocated in proportion to the parameter.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

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

_jit = njit(cache=True, error_model="numpy", nogil=True)


@_jit
def rprop_step(p, g, prev, step, lr, etaminus, etaplus, step_min, step_max, first):
    zero = p.dtype.type(0)
    for i in range(p.size):
        gi = g[i]
        prod = gi * prev[i]
        s = lr if first else step[i]
        if prod > 0:
            s = s * etaplus
        elif prod < 0:
            s = s * etaminus
            gi = zero
        elif prod != prod:
            s = s * prod  # NaN, as PyTorch's NaN factor
        if s < step_min:
            s = step_min
        elif s > step_max:
            s = step_max
        step[i] = s
        if gi > 0:
            p[i] = p[i] - s
        elif gi < 0:
            p[i] = p[i] - (-s)
        else:
            p[i] = p[i] - gi * s  # sign(0)·s, or NaN
        prev[i] = gi


@_jit
def asgd_step(p, g, ax, eta, decay, mu, wd):
    for i in range(p.size):
        d = g[i] + wd * p[i] if wd != 0 else g[i]
        pi = p[i] * decay
        pi = pi - eta * d
        p[i] = pi
        if mu != 1:
            ax[i] = ax[i] + (pi - ax[i]) * mu
        else:
            ax[i] = pi


@_jit
def _pow(x, e):
    """``x ** e`` as the reference's ``_power``: √ for ½, else libm's pow in float64."""
    if e == 0.5:
        return np.sqrt(x)
    xf = np.float64(x)
    if xf < 0:
        return math.nan
    return math.pow(xf, np.float64(e))


@_jit
def ftrl_step(p, g, n, z, lr, power, c_shrink, l1, two_l2):
    for i in range(p.size):
        gi = g[i]
        pi = p[i]
        ni = n[i]
        n_new = ni + gi * gi
        grad = gi + c_shrink * pi
        new_pow = p.dtype.type(_pow(n_new, power))
        sigma = (new_pow - p.dtype.type(_pow(ni, power))) / lr
        zi = z[i] + (grad - sigma * pi)
        z[i] = zi
        c = zi
        if c < -l1:
            c = -l1
        elif c > l1:
            c = l1
        p[i] = (c - zi) / (new_pow / lr + two_l2)
        n[i] = n_new


@_jit
def axpy(p, u, coef):
    for i in range(p.size):
        p[i] = p[i] + coef * u[i]


@_jit
def _at_least(x, low):
    """``max(x, low)`` with NaN kept, as ``np.maximum`` and ``torch.clamp``."""
    return low if x < low else x


@_jit
def adafactor_torch_vector(g, v, u, w, eps1_sq):
    one = g.dtype.type(1)
    for i in range(g.size):
        gi = g[i]
        vi = v[i] + w * (gi * gi - v[i])
        v[i] = vi
        u[i] = (one / np.sqrt(_at_least(vi, eps1_sq))) * gi


def adafactor_torch_factored(g, row, col, u, row_sum, col_sum, row_mean, w, eps1, eps1_sq):
    n, m = g.dtype.type(g.shape[1]), g.dtype.type(g.shape[2])
    np.multiply(g, g, out=u)
    np.sum(u, axis=2, out=row_sum)
    np.sum(u, axis=1, out=col_sum)
    _torch_factors(row, col, row_sum, col_sum, w, n, m)
    np.sum(row, axis=1, out=row_mean)
    _torch_factored_update(g, row, col, u, row_mean, n, eps1, eps1_sq)


@_jit
def _torch_factors(row, col, row_sum, col_sum, w, n, m):
    for k in range(row.shape[0]):
        for i in range(row.shape[1]):
            row[k, i] = row[k, i] + w * (row_sum[k, i] / m - row[k, i])
        for j in range(col.shape[1]):
            col[k, j] = col[k, j] + w * (col_sum[k, j] / n - col[k, j])


@_jit
def _torch_factored_update(g, row, col, u, row_mean, n, eps1, eps1_sq):
    one = g.dtype.type(1)
    for k in range(g.shape[0]):
        scale = _at_least(row_mean[k] / n, eps1)
        for i in range(g.shape[1]):
            r = row[k, i]
            for j in range(g.shape[2]):
                v = r * col[k, j] / scale
                u[k, i, j] = (one / np.sqrt(_at_least(v, eps1_sq))) * g[k, i, j]


@_jit
def adafactor_keras_vector(g, v, u, beta, c_beta, eps1):
    for i in range(g.size):
        gi = g[i]
        vi = beta * v[i] + c_beta * (gi * gi + eps1)
        v[i] = vi
        u[i] = gi / np.sqrt(vi)


def adafactor_keras_factored(g, row, col, u, row_sum, col_sum, row_mean, beta, c_beta, eps1):
    n, m = g.dtype.type(g.shape[1]), g.dtype.type(g.shape[2])
    np.multiply(g, g, out=u)
    np.add(u, eps1, out=u)
    np.sum(u, axis=2, out=row_sum)
    np.sum(u, axis=1, out=col_sum)
    _keras_factors(row, col, row_sum, col_sum, beta, c_beta, n, m)
    np.sum(row, axis=1, out=row_mean)
    _keras_factored_update(g, row, col, u, row_mean, n)


@_jit
def _keras_factors(row, col, row_sum, col_sum, beta, c_beta, n, m):
    for k in range(row.shape[0]):
        for i in range(row.shape[1]):
            row[k, i] = beta * row[k, i] + c_beta * (row_sum[k, i] / m)
        for j in range(col.shape[1]):
            col[k, j] = beta * col[k, j] + c_beta * (col_sum[k, j] / n)


@_jit
def _keras_factored_update(g, row, col, u, row_mean, n):
    for k in range(g.shape[0]):
        scale = row_mean[k] / n
        for i in range(g.shape[1]):
            r = row[k, i] / scale
            for j in range(g.shape[2]):
                u[k, i, j] = g[k, i, j] / np.sqrt(r * col[k, j])


@_jit
def _sm3_loop(p, g, nu, m, lr, beta, c_beta, eps, momentum):
    # nu holds the least accumulator of each element (the vector form: the
    # accumulator itself) and leaves with the new sums g² + nu.
    one = p.dtype.type(1)
    zero = p.dtype.type(0)
    for i in range(p.size):
        gi = g[i]
        a = gi * gi + nu[i]
        nu[i] = a
        inv = one / np.sqrt(a + eps) if a > 0 else zero
        up = gi * inv
        if momentum:
            mi = c_beta * up + beta * m[i]
            m[i] = mi
            p[i] = p[i] - lr * mi
        else:
            p[i] = p[i] - lr * up


def sm3_vector_step(p, g, acc, m, lr, beta, c_beta, eps, momentum):
    _sm3_loop(p, g, acc, m, lr, beta, c_beta, eps, momentum)


def sm3_factored_step(p, g, accs, m, work, lr, beta, c_beta, eps, momentum):
    ndim = g.ndim
    np.copyto(work, accs[0].reshape([-1] + [1] * (ndim - 1)))
    for k in range(1, ndim):
        np.minimum(work, accs[k].reshape([-1 if k == i else 1 for i in range(ndim)]), out=work)
    flat_m = m.reshape(-1) if momentum else m
    _sm3_loop(
        p.reshape(-1), g.reshape(-1), work.reshape(-1), flat_m, lr, beta, c_beta, eps, momentum
    )
    for k, a in enumerate(accs):
        np.max(work, axis=tuple(i for i in range(ndim) if i != k), out=a)
