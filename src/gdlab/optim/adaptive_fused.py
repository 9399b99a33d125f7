"""Update rules of :mod:`gdlab.optim.adaptive` as fused, in-place numba loops.

Each kernel has the signature and the arithmetic of its reference in
:mod:`gdlab.optim.adaptive_kernels`, written as one pass over memory with no
temporaries; the operations and their order match the reference, so that
results are bit-identical (the tests hold them to that). As in
:mod:`gdlab.optim.fused`: ``error_model="numpy"``, no fast-math flag.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "adabelief_step",
    "adan_step",
    "ademamix_step",
    "adopt_step",
    "lion_step",
    "signum_step",
    "yogi_step",
]

_jit = njit(cache=True, error_model="numpy", nogil=True)


@_jit
def _sign(x):
    # NumPy's sign in x's own type (a literal 1.0 would make float32 float64):
    # numba's np.sign gives −0 for −0, NumPy's gives +0; |±0| = +0.
    s = np.sign(x)
    return s if s != 0 else abs(s)


@_jit
def lion_step(p, g, m, lr, beta1, c1, beta2, c2, wd):
    for i in range(p.size):
        gi = g[i]
        mi = m[i]
        s = _sign(mi * beta1 + c1 * gi)
        if wd != 0:
            p[i] = p[i] - lr * (s + wd * p[i])
        else:
            p[i] = p[i] - lr * s
        m[i] = mi * beta2 + c2 * gi


@_jit
def signum_step(p, g, m, lr, beta, c_beta, wd, use_momentum):
    for i in range(p.size):
        d = g[i] + wd * p[i] if wd != 0 else g[i]
        if use_momentum:
            mi = m[i] * beta + c_beta * d
            m[i] = mi
            p[i] = p[i] - lr * _sign(mi)
        else:
            p[i] = p[i] - lr * _sign(d)


@_jit
def adabelief_step(
    p, g, m, s, lr, beta1, c1, beta2, c2, eps, eps_root, bc1, bc2, nesterov, bc1_next
):
    for i in range(p.size):
        gi = g[i]
        mi = m[i] * beta1 + c1 * gi
        e = gi - mi
        si = (s[i] * beta2 + c2 * (e * e)) + eps_root
        m[i] = mi
        s[i] = si
        mhat = beta1 * (mi / bc1_next) + c1 * (gi / bc1) if nesterov else mi / bc1
        p[i] = p[i] - lr * (mhat / (np.sqrt(si / bc2) + eps))


@_jit
def yogi_step(p, g, m, v, lr, beta1, c1, c2, eps, eps_root, bc1, bc2):
    for i in range(p.size):
        gi = g[i]
        mi = m[i] * beta1 + c1 * gi
        g2 = gi * gi
        vi = v[i]
        vi = vi - c2 * _sign(vi - g2) * g2
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - lr * ((mi / bc1) / (np.sqrt(vi / bc2 + eps_root) + eps))


@_jit
def adopt_step(p, g, m, v, lr, beta1, c1, beta2, c2, eps, clip, use_clipping, nesterov):
    for i in range(p.size):
        gi = g[i]
        vi = v[i]
        root = np.sqrt(vi)
        x = gi / (eps if root < eps else root)  # np.maximum: a NaN root stays NaN
        if use_clipping:
            if x > clip:
                x = clip
            elif x < -clip:
                x = -clip
        v[i] = vi * beta2 + c2 * (gi * gi)
        mi = m[i] * beta1 + c1 * x
        m[i] = mi
        if nesterov:
            p[i] = p[i] - lr * (mi * beta1 + c1 * x)
        else:
            p[i] = p[i] - lr * mi


@_jit
def ademamix_step(
    p, g, m1, m2, nu, lr, beta1, c1, beta2, c2, beta3, c3, alpha, eps, eps_root, bc1, bc2, wd
):
    for i in range(p.size):
        gi = g[i]
        a = m1[i] * beta1 + c1 * gi
        b = m2[i] * beta3 + c3 * gi
        n = nu[i] * beta2 + c2 * (gi * gi)
        m1[i] = a
        m2[i] = b
        nu[i] = n
        u = (a / bc1 + alpha * b) / (np.sqrt(n / bc2 + eps_root) + eps)
        if wd != 0:
            p[i] = p[i] - lr * (u + wd * p[i])
        else:
            p[i] = p[i] - lr * u


@_jit
def adan_step(
    p, g, m, v, n, g_prev, lr, beta1, c1, beta2, c2, beta3, c3, kappa, eps, eps_root,
    bc1, bc2, bc3, wd, prox, first, proximal,
):  # fmt: skip
    zero = c1 - c1  # a 0 of the arrays' type (a literal 0 would make float32 float64)
    for i in range(p.size):
        gi = g[i]
        delta = zero if first else gi - g_prev[i]
        mi = m[i] * beta1 + c1 * gi
        vi = v[i] * beta2 + c2 * delta
        w = gi + kappa * delta
        ni = n[i] * beta3 + c3 * (w * w)
        m[i] = mi
        v[i] = vi
        n[i] = ni
        u = (mi / bc1 + kappa * (vi / bc2)) / (np.sqrt(ni / bc3 + eps_root) + eps)
        if proximal:
            pi = p[i] - lr * u
            p[i] = pi / prox if wd != 0 else pi
        elif wd != 0:
            p[i] = p[i] - lr * (u + wd * p[i])
        else:
            p[i] = p[i] - lr * u
        g_prev[i] = gi
