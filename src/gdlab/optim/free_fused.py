"""Schedule-Free, Prodigy and D-Adaptation as fused, in-place numba loops.

Each kernel has the signature and the arithmetic of its reference in
:mod:`gdlab.optim.free_kernels`, as one pass over memory with no temporaries
(see :mod:`gdlab.optim.fused`); results are bit-identical to the reference.

The ``*_accumulate`` kernels return their partial sums accumulated in float64
one element after the other, from 0, in a loop LLVM may not reorder (no
fast-math flag): the reference's sequential sum, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "dadapt_accumulate",
    "dadapt_apply",
    "prodigy_accumulate",
    "prodigy_apply",
    "schedule_free_adamw_step",
    "schedule_free_eval",
    "schedule_free_sgd_step",
]

_jit = njit(cache=True, error_model="numpy", nogil=True)


@_jit
def schedule_free_sgd_step(y, g, z, lr, wd, beta1, c_beta1, inv_beta1, ck, c_ck):
    for i in range(y.size):
        yi = y[i]
        d = g[i] + wd * yi if wd != 0 else g[i]
        zi = z[i]
        zn = zi + d * -lr
        z[i] = zn
        x = c_ck * ((yi - c_beta1 * zi) * inv_beta1) + ck * zn
        y[i] = yi + ((beta1 * x + c_beta1 * zn) - yi)


@_jit
def schedule_free_adamw_step(
    y, g, z, v, lr, beta2, c2, eps, bc2, one, wd, beta1, c_beta1, inv_beta1, ck, c_ck
):
    for i in range(y.size):
        yi = y[i]
        gi = g[i]
        vi = v[i] * beta2 + c2 * (gi * gi)
        v[i] = vi
        u = (one / (np.sqrt(vi / bc2) + eps)) * gi
        if wd != 0:
            u = u + wd * yi
        zi = z[i]
        zn = zi + u * -lr
        z[i] = zn
        x = c_ck * ((yi - c_beta1 * zi) * inv_beta1) + ck * zn
        y[i] = yi + ((beta1 * x + c_beta1 * zn) - yi)


@_jit
def schedule_free_eval(y, z, x, c_beta1, inv_beta1):
    for i in range(y.size):
        x[i] = (y[i] - c_beta1 * z[i]) * inv_beta1


@_jit
def prodigy_accumulate(p, g, p0, m, v, s, d, beta1, c1, beta2, c2, beta3, s_coef, inv_d0):
    dot = 0.0
    l1 = 0.0
    for i in range(p.size):
        gi = g[i]
        dot += np.float64(gi * (p0[i] - p[i]))
        dg = d * gi
        m[i] = m[i] * beta1 + c1 * dg
        v[i] = v[i] * beta2 + (c2 * dg) * dg
        si = s[i] * beta3 + (s_coef * dg) * inv_d0
        s[i] = si
        l1 += abs(np.float64(si))
    return dot, l1


@_jit
def prodigy_apply(p, m, v, c_wd, dlr, d_eps):
    for i in range(p.size):
        pi = p[i]
        p[i] = pi + (c_wd * pi - (dlr * m[i]) / (np.sqrt(v[i]) + d_eps))


@_jit
def dadapt_accumulate(g, m, v, s, eps, beta1, c1_dlr, beta2, c2, sb2, c_sb2_dlr):
    dot = 0.0
    l1 = 0.0
    for i in range(g.size):
        gi = g[i]
        vi = v[i]
        si = s[i]
        dot += np.float64(gi * (si / (np.sqrt(vi) + eps)))
        m[i] = m[i] * beta1 + c1_dlr * gi
        v[i] = vi * beta2 + (c2 * gi) * gi
        si = si * sb2 + c_sb2_dlr * gi
        s[i] = si
        l1 += abs(np.float64(si))
    return dot, l1


@_jit
def dadapt_apply(p, m, v, c_wd, eps):
    for i in range(p.size):
        pi = p[i]
        p[i] = pi + (c_wd * pi - m[i] / (np.sqrt(v[i]) + eps))
