"""Update rules of :mod:`gdlab.optim.adaptive` as plain NumPy: the readable reference.

As in :mod:`gdlab.optim.kernels`: each function updates the flat parameter
array ``p`` and its flat state arrays in place from the gradient ``g``;
scalars come cast to the arrays' dtype and combined by the optimizer class
(``c1 = 1 − β1``, the bias corrections ``bc = 1 − β^t``, this step's clip
value), so that the arithmetic here is, operation for operation, that of the
fused numba kernels in :mod:`gdlab.optim.adaptive_fused` (the tests hold them
bit-identical). The order of operations follows optax's where optax is the
reference, so that the recorded trajectories agree to the last bits.

``sign`` is NumPy's: −1, 0 or 1 (0 for ±0), NaN for NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "adabelief_step",
    "adan_step",
    "ademamix_step",
    "adopt_step",
    "lion_step",
    "signum_step",
    "yogi_step",
]


def lion_step(p, g, m, lr, beta1, c1, beta2, c2, wd) -> None:
    """Lion: ``c = β1·m + (1−β1)·g``; ``p −= lr·(sign(c) + wd·p)``; ``m = β2·m + (1−β2)·g``."""
    s = np.sign(m * beta1 + c1 * g)
    if wd != 0:
        p -= lr * (s + wd * p)
    else:
        p -= lr * s
    m *= beta2
    m += c2 * g


def signum_step(p, g, m, lr, beta, c_beta, wd, use_momentum) -> None:
    """Signum: ``m = β·m + (1−β)·d``; ``p −= lr·sign(m)`` (``sign(d)`` without momentum).

    ``d = g + wd·p``; ``m`` is ignored when ``use_momentum`` is False (signSGD).
    """
    d = g + wd * p if wd != 0 else g
    if use_momentum:
        m *= beta
        m += c_beta * d
        p -= lr * np.sign(m)
    else:
        p -= lr * np.sign(d)


def adabelief_step(
    p, g, m, s, lr, beta1, c1, beta2, c2, eps, eps_root, bc1, bc2, nesterov, bc1_next
) -> None:
    """AdaBelief in optax's form.

    ``m = β1·m + (1−β1)·g``; ``s = β2·s + (1−β2)·(g − m)² + eps_root``;
    ``m̂ = m/bc1`` (with nesterov ``β1·m/bc1_next + (1−β1)·g/bc1``);
    ``p −= lr·(m̂ / (√(s/bc2) + ε))``.
    """
    m *= beta1
    m += c1 * g
    e = g - m
    s *= beta2
    s += c2 * (e * e)
    s += eps_root
    mhat = beta1 * (m / bc1_next) + c1 * (g / bc1) if nesterov else m / bc1
    p -= lr * (mhat / (np.sqrt(s / bc2) + eps))


def yogi_step(p, g, m, v, lr, beta1, c1, c2, eps, eps_root, bc1, bc2) -> None:
    """Yogi in optax's form.

    ``m = β1·m + (1−β1)·g``; ``v = v − (1−β2)·sign(v − g²)·g²``;
    ``p −= lr·((m/bc1) / (√(v/bc2 + eps_root) + ε))``.
    """
    m *= beta1
    m += c1 * g
    g2 = g * g
    v -= c2 * np.sign(v - g2) * g2
    p -= lr * ((m / bc1) / (np.sqrt(v / bc2 + eps_root) + eps))


def adopt_step(p, g, m, v, lr, beta1, c1, beta2, c2, eps, clip, use_clipping, nesterov) -> None:
    """ADOPT in optax's form: normalise by the *previous* ``v``, then update it.

    ``x = g / max(√v, ε)`` (clipped to ``[−clip, clip]`` with use_clipping);
    ``v = β2·v + (1−β2)·g²``; ``m = β1·m + (1−β1)·x``;
    ``p −= lr·m`` (with nesterov ``lr·(β1·m + (1−β1)·x)``).

    The first step passes ``β1 = 1, c1 = 0, β2 = 0, c2 = 1, clip = 0``: it
    sets ``v = g²`` and leaves ``m`` and ``p`` as they are.
    """
    x = g / np.maximum(np.sqrt(v), eps)
    if use_clipping:
        np.clip(x, -clip, clip, out=x)
    v *= beta2
    v += c2 * (g * g)
    m *= beta1
    m += c1 * x
    if nesterov:
        p -= lr * (m * beta1 + c1 * x)
    else:
        p -= lr * m


def ademamix_step(
    p, g, m1, m2, nu, lr, beta1, c1, beta2, c2, beta3, c3, alpha, eps, eps_root, bc1, bc2, wd
) -> None:
    """AdEMAMix in optax's form (β3 and α are this step's, after any warm-up).

    ``m1 = β1·m1 + (1−β1)·g``; ``m2 = β3·m2 + (1−β3)·g``; ``ν = β2·ν + (1−β2)·g²``;
    ``u = (m1/bc1 + α·m2) / (√(ν/bc2 + eps_root) + ε)``; ``p −= lr·(u + wd·p)``.
    """
    m1 *= beta1
    m1 += c1 * g
    m2 *= beta3
    m2 += c3 * g
    nu *= beta2
    nu += c2 * (g * g)
    u = (m1 / bc1 + alpha * m2) / (np.sqrt(nu / bc2 + eps_root) + eps)
    if wd != 0:
        p -= lr * (u + wd * p)
    else:
        p -= lr * u


def adan_step(
    p, g, m, v, n, g_prev, lr, beta1, c1, beta2, c2, beta3, c3, kappa, eps, eps_root,
    bc1, bc2, bc3, wd, prox, first, proximal,
) -> None:  # fmt: skip
    """Adan; ``kappa`` weighs the gradient difference (β2 in the paper's form, 1 − β2 in optax's).

    ``δ = g − g_prev`` (0 on the first step); ``m = β1·m + (1−β1)·g``;
    ``v = β2·v + (1−β2)·δ``; ``n = β3·n + (1−β3)·(g + κ·δ)²``;
    ``u = (m/bc1 + κ·(v/bc2)) / (√(n/bc3 + eps_root) + ε)``; then
    ``p = (p − lr·u) / prox`` with ``prox = 1 + lr·wd`` (proximal, the paper's)
    or ``p −= lr·(u + wd·p)`` (optax's); ``g_prev = g``.
    """
    delta = np.zeros_like(g) if first else g - g_prev
    m *= beta1
    m += c1 * g
    v *= beta2
    v += c2 * delta
    w = g + kappa * delta
    n *= beta3
    n += c3 * (w * w)
    u = (m / bc1 + kappa * (v / bc2)) / (np.sqrt(n / bc3 + eps_root) + eps)
    if proximal:
        p -= lr * u
        if wd != 0:
            p /= prox
    elif wd != 0:
        p -= lr * (u + wd * p)
    else:
        p -= lr * u
    g_prev[...] = g
