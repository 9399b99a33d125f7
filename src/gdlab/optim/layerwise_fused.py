"""The element-wise pieces of the layer-wise rules, as fused numba loops.

Same signatures and the same operations, in the same order, as the NumPy
reference in :mod:`gdlab.optim.layerwise_kernels`, written as one pass over
memory with no temporaries; the tests hold the two bit-identical. The norms
and the matrix products between these pieces are shared by both paths (see
:mod:`gdlab.optim.layerwise`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .fused import adam_step

__all__ = [
    "adam_step",
    "lamb_apply",
    "lamb_direction",
    "lars_apply",
    "lars_direction",
    "muon_apply",
    "muon_momentum",
    "novograd_step",
]

_jit = njit(cache=True, error_model="numpy", nogil=True)


@_jit
def lars_direction(p, g, u, wd):
    for i in range(p.size):
        u[i] = g[i] + wd * p[i] if wd != 0 else g[i]


@_jit
def lars_apply(p, u, b, step, mu, nesterov):
    for i in range(p.size):
        s = step * u[i]
        bi = b[i] * mu + s
        b[i] = bi
        if nesterov:
            p[i] = p[i] + (s + mu * bi)
        else:
            p[i] = p[i] + bi


@_jit
def lamb_direction(p, g, m, v, u, beta1, c1, beta2, c2, bc1, bc2, eps, wd, decay):
    for i in range(p.size):
        pi = p[i]
        if decay != 1:
            pi = pi * decay
            p[i] = pi
        gi = g[i]
        mi = m[i] * beta1 + c1 * gi
        vi = v[i] * beta2 + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        ui = (mi / bc1) / (np.sqrt(vi / bc2) + eps)
        u[i] = ui + wd * pi if wd != 0 else ui


@_jit
def lamb_apply(p, u, step):
    for i in range(p.size):
        p[i] = p[i] - step * u[i]


@_jit
def novograd_step(p, g, m, lr, denom, wd, beta1, first):
    for i in range(p.size):
        d = g[i] / denom
        if wd != 0:
            d = d + wd * p[i]
        mi = d if first else m[i] * beta1 + d
        m[i] = mi
        p[i] = p[i] - lr * mi


@_jit
def muon_momentum(g, b, u, c, nesterov):
    for i in range(g.size):
        gi = g[i]
        bi = b[i] + c * (gi - b[i])
        b[i] = bi
        u[i] = bi + c * (gi - bi) if nesterov else bi


@_jit
def muon_apply(p, o, decay, step):
    for i in range(p.size):
        p[i] = p[i] * decay - step * o[i]
