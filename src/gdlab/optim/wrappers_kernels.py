"""The wrappers' own element-wise rules as plain NumPy: the readable reference.

Each function updates flat arrays of one dtype in place; scalars come already
cast to that dtype. :mod:`gdlab.optim.wrappers_fused` has the same functions
as numba loops with the same arithmetic in the same order, bit-identical
(the tests hold them to it). These allocate temporaries; the wrappers use the
fused ones unless constructed with ``fused=False``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accumulate_mean", "accumulate_sum", "ema_step", "lookahead_sync", "swa_step"]


def lookahead_sync(p: np.ndarray, slow: np.ndarray, alpha) -> None:
    """Lookahead's synchronisation: ``φ ← φ + α·(θ − φ)``, then ``θ ← φ``."""
    slow += alpha * (p - slow)
    p[...] = slow


def ema_step(avg: np.ndarray, p: np.ndarray, c) -> None:
    """An exponential moving average: ``a ← a + (1 − decay)·(p − a)`` (``c = 1 − decay``)."""
    avg += c * (p - avg)


def swa_step(avg: np.ndarray, p: np.ndarray, n) -> None:
    """An equal average of ``n`` parameters: ``a ← a + (p − a)/n``."""
    avg += (p - avg) / n


def accumulate_mean(acc: np.ndarray, g: np.ndarray, n) -> None:
    """The running mean of ``n`` gradients (Welford, as optax): ``A ← A + (g − A)/n``."""
    acc += (g - acc) / n


def accumulate_sum(acc: np.ndarray, g: np.ndarray) -> None:
    """The running sum of the gradients: ``A ← A + g``."""
    acc += g
