"""The element-wise pieces of the layer-wise rules, as plain NumPy: the reference.

LARS, LAMB, NovoGrad and Muon scale each parameter array by something
computed from the whole array (a norm, a matrix orthogonalisation). That
part lives in :mod:`gdlab.optim.layerwise`, once, for both paths; what is
element-wise lives here, with the same signatures and the same arithmetic,
operation for operation, as the numba loops of
:mod:`gdlab.optim.layerwise_fused` (the tests hold the two bit-identical).

Each function updates flat arrays of one dtype in place; scalars come cast to
that dtype and already combined by the optimizer class. These functions
allocate temporaries; the optimizers use the fused kernels unless
constructed with ``fused=False``.
"""

from __future__ import annotations

import numpy as np

from .kernels import adam_step

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


def lars_direction(p, g, u, wd) -> None:
    """LARS before the trust ratio: ``u = g + wd·p`` (``u = g`` if wd is 0)."""
    if wd != 0:
        u[...] = g + wd * p
    else:
        u[...] = g


def lars_apply(p, u, b, step, mu, nesterov) -> None:
    """LARS after the trust ratio (optax's ``trace``), ``step = −lr·ratio``.

    ``b = step·u + μ·b``; ``p += b``, or with Nesterov ``p += step·u + μ·b``.
    """
    s = step * u
    b *= mu
    b += s
    if nesterov:
        p += s + mu * b
    else:
        p += b


def lamb_direction(p, g, m, v, u, beta1, c1, beta2, c2, bc1, bc2, eps, wd, decay) -> None:
    """LAMB's Adam direction: ``u = m̂ / (√v̂ + ε) + wd·p``.

    ``decay ≠ 1`` first shrinks ``p ← decay·p`` (Keras's decoupled decay,
    applied before the step and so seen by the trust ratio's ‖p‖);
    ``m = β1·m + (1−β1)·g``, ``v = β2·v + (1−β2)·g²``, ``m̂ = m/bc1``,
    ``v̂ = v/bc2``.
    """
    if decay != 1:
        p *= decay
    m *= beta1
    m += c1 * g
    v *= beta2
    v += c2 * (g * g)
    u[...] = (m / bc1) / (np.sqrt(v / bc2) + eps)
    if wd != 0:
        u += wd * p


def lamb_apply(p, u, step) -> None:
    """``p −= step·u`` with ``step = lr·ratio``."""
    p -= step * u


def novograd_step(p, g, m, lr, denom, wd, beta1, first) -> None:
    """NovoGrad, optax's form: ``d = g/denom + wd·p``; ``m = d`` on the first
    step, else ``m = β1·m + d``; ``p −= lr·m``. ``denom = √ν + ε`` is the
    array's (scalar) second moment, computed by the class."""
    d = g / denom
    if wd != 0:
        d += wd * p
    if first:
        m[...] = d
    else:
        m *= beta1
        m += d
    p -= lr * m


def muon_momentum(g, b, u, c, nesterov) -> None:
    """Muon's momentum, torch's ``lerp`` form, ``c = 1 − μ``.

    ``b = b + c·(g − b)`` (that is ``μ·b + (1−μ)·g``); the matrix to
    orthogonalise is ``u = b + c·(g − b)`` with Nesterov, else ``u = b``.
    """
    b += c * (g - b)
    if nesterov:
        u[...] = b + c * (g - b)
    else:
        u[...] = b


def muon_apply(p, o, decay, step) -> None:
    """``p = decay·p − step·o``: decoupled weight decay, then the orthogonal step."""
    p *= decay
    p -= step * o
