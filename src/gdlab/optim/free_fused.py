"""Schedule-Free, Prodigy and D-Adaptation as fused, in-place numba loops.

Each kernel has the signature and the arithmetic of its reference in
:mod:`gdlab.optim.free_kernels`, as one pass over memory with no temporaries
(see :mod:`gdlab.optim.fused`); results are bit-identical to the reference.

The Prodigy and D-Adaptation kernels return two partial sums in float64,
added in :data:`LANES` interleaved lanes as the reference's ``_lane_sum``
defines: term ``b + j`` of each block of ``LANES`` goes to lane ``j``, and the
lanes are added in order at the end. No fast-math flag is set, so LLVM keeps
that order. A single running sum would make every element wait for the
previous addition (about 4 cycles) and keep the loop from vectorising; the
lanes are independent. Each block is two loops that LLVM vectorises: the
element-wise update, in the arrays' dtype, which also writes the block's terms
to two small buffers, then the addition of the buffers to the float64 lanes
(one loop with both would run the float32 arithmetic at the float64 vector
width, half as wide).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "LANES",
    "dadapt_step",
    "prodigy_accumulate",
    "prodigy_apply",
    "schedule_free_adamw_step",
    "schedule_free_eval",
    "schedule_free_sgd_step",
]

_jit = njit(cache=True, error_model="numpy", nogil=True)

#: Interleaved partial sums per kernel call: ``free_kernels.LANES`` (a constant
#: here, so that numba's cache of this file changes with it; the tests check).
#: With 32 both loops of a block vectorise; with 16 LLVM unrolls the second
#: one instead, and adds element by element.
LANES = 32


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
def _sum_lanes(lanes):
    total = 0.0
    for j in range(lanes.size):
        total += lanes[j]
    return total


@_jit
def _prodigy_element(i, p, g, p0, m, v, s, d, beta1, c1, beta2, c2, beta3, s_coef, inv_d0):
    """Update element ``i``; return its two terms, in the arrays' dtype."""
    gi = g[i]
    dot = gi * (p0[i] - p[i])
    dg = d * gi
    m[i] = m[i] * beta1 + c1 * dg
    v[i] = v[i] * beta2 + (c2 * dg) * dg
    si = s[i] * beta3 + (s_coef * dg) * inv_d0
    s[i] = si
    return dot, abs(si)


@_jit
def prodigy_accumulate(p, g, p0, m, v, s, d, beta1, c1, beta2, c2, beta3, s_coef, inv_d0):
    n = p.size
    head = n - n % LANES
    dots = np.zeros(LANES)
    l1s = np.zeros(LANES)
    dot_terms = np.empty(LANES, p.dtype)
    l1_terms = np.empty(LANES, p.dtype)
    for b in range(0, head, LANES):
        for j in range(LANES):
            dot_terms[j], l1_terms[j] = _prodigy_element(
                b + j, p, g, p0, m, v, s, d, beta1, c1, beta2, c2, beta3, s_coef, inv_d0
            )
        for j in range(LANES):
            dots[j] += np.float64(dot_terms[j])
            l1s[j] += np.float64(l1_terms[j])
    for i in range(head, n):
        dot, l1 = _prodigy_element(
            i, p, g, p0, m, v, s, d, beta1, c1, beta2, c2, beta3, s_coef, inv_d0
        )
        dots[i - head] += np.float64(dot)
        l1s[i - head] += np.float64(l1)
    return _sum_lanes(dots), _sum_lanes(l1s)


@_jit
def prodigy_apply(p, m, v, c_wd, dlr, d_eps):
    for i in range(p.size):
        pi = p[i]
        p[i] = pi + (c_wd * pi - (dlr * m[i]) / (np.sqrt(v[i]) + d_eps))


@_jit
def _dadapt_element(i, p, g, m, v, s, eps, beta1, c1_dlr, beta2, c2, sb2, c_sb2_dlr, c_wd):
    """Update element ``i``; return its two terms, in the arrays' dtype."""
    gi = g[i]
    vi = v[i]
    si = s[i]
    dot = gi * (si / (np.sqrt(vi) + eps))
    mi = m[i] * beta1 + c1_dlr * gi
    m[i] = mi
    vi = vi * beta2 + (c2 * gi) * gi
    v[i] = vi
    si = si * sb2 + c_sb2_dlr * gi
    s[i] = si
    pi = p[i]
    p[i] = pi + (c_wd * pi - mi / (np.sqrt(vi) + eps))
    return dot, abs(si)


@_jit
def dadapt_step(p, g, m, v, s, eps, beta1, c1_dlr, beta2, c2, sb2, c_sb2_dlr, c_wd):
    n = p.size
    head = n - n % LANES
    dots = np.zeros(LANES)
    l1s = np.zeros(LANES)
    dot_terms = np.empty(LANES, p.dtype)
    l1_terms = np.empty(LANES, p.dtype)
    for b in range(0, head, LANES):
        for j in range(LANES):
            dot_terms[j], l1_terms[j] = _dadapt_element(
                b + j, p, g, m, v, s, eps, beta1, c1_dlr, beta2, c2, sb2, c_sb2_dlr, c_wd
            )
        for j in range(LANES):
            dots[j] += np.float64(dot_terms[j])
            l1s[j] += np.float64(l1_terms[j])
    for i in range(head, n):
        dot, l1 = _dadapt_element(
            i, p, g, m, v, s, eps, beta1, c1_dlr, beta2, c2, sb2, c_sb2_dlr, c_wd
        )
        dots[i - head] += np.float64(dot)
        l1s[i - head] += np.float64(l1)
    return _sum_lanes(dots), _sum_lanes(l1s)
