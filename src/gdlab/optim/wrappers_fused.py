"""The wrappers' own element-wise rules as fused numba loops: the fast path.

Same signatures and the same arithmetic, in the same order, as
:mod:`gdlab.optim.wrappers_kernels` (bit-identical); one pass over memory, no
temporaries.
"""

from __future__ import annotations

from numba import njit

__all__ = ["accumulate_mean", "accumulate_sum", "ema_step", "lookahead_sync", "swa_step"]

_jit = njit(cache=True, error_model="numpy", nogil=True)


@_jit
def lookahead_sync(p, slow, alpha):
    for i in range(p.size):
        s = slow[i] + alpha * (p[i] - slow[i])
        slow[i] = s
        p[i] = s


@_jit
def ema_step(avg, p, c):
    for i in range(avg.size):
        avg[i] = avg[i] + c * (p[i] - avg[i])


@_jit
def swa_step(avg, p, n):
    for i in range(avg.size):
        avg[i] = avg[i] + (p[i] - avg[i]) / n


@_jit
def accumulate_mean(acc, g, n):
    for i in range(acc.size):
        acc[i] = acc[i] + (g[i] - acc[i]) / n


@_jit
def accumulate_sum(acc, g):
    for i in range(acc.size):
        acc[i] = acc[i] + g[i]
