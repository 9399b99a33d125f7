"""Update rules as plain NumPy: the readable reference.

Each function updates one parameter array ``p`` and its state arrays in place
from the gradient ``g``; all arrays are flat and share one dtype. Scalars come
already cast to that dtype and already combined by the optimizer class (for
example ``c1 = 1 - beta1`` or Adam's ``step_size = lr / (1 - beta1**t)``), so
that the arithmetic here is exactly the arithmetic of the fused kernels in
:mod:`gdlab.optim.fused`, which the tests hold bit-identical to these.

These functions allocate temporaries; the optimizers use the fused kernels
unless constructed with ``fused=False``.

Notation: ``d`` is the gradient after L2 weight decay, ``d = g + wd·p``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "adadelta_step",
    "adagrad_step",
    "adam_step",
    "adamax_step",
    "momentum_book_step",
    "momentum_ema_step",
    "momentum_torch_step",
    "nadam_step",
    "nesterov_book_step",
    "nesterov_keras_step",
    "nesterov_torch_step",
    "radam_step",
    "rmsprop_step",
    "sgd_step",
]


def _decayed(p: np.ndarray, g: np.ndarray, wd) -> np.ndarray:
    """The gradient with L2 weight decay: ``g + wd·p`` (``g`` itself if wd is 0)."""
    return g + wd * p if wd != 0 else g


def sgd_step(p, g, lr, wd) -> None:
    """``p −= lr·d``."""
    p -= lr * _decayed(p, g, wd)


def momentum_torch_step(p, g, b, lr, mu, c_damp, wd, first) -> None:
    """Heavy ball, PyTorch: ``b = μb + (1−dampening)·d``, ``p −= lr·b``.

    ``b = d`` on the first step (no dampening then).
    """
    d = _decayed(p, g, wd)
    if first:
        b[...] = d
    else:
        b *= mu
        b += c_damp * d
    p -= lr * b


def momentum_ema_step(p, g, v, lr, beta, c_beta, wd) -> None:
    """Course form (seeds 000/004): ``v = βv + (1−β)·d``; ``p −= lr·v``."""
    d = _decayed(p, g, wd)
    v *= beta
    v += c_beta * d
    p -= lr * v


def momentum_book_step(p, g, v, lr, mu, wd) -> None:
    """Book form (seed 001) and Keras: ``v = μv − lr·d``; ``p += v``."""
    d = _decayed(p, g, wd)
    v *= mu
    v -= lr * d
    p += v


def nesterov_torch_step(p, g, b, lr, mu, wd, first) -> None:
    """PyTorch Nesterov: ``b = μb + d`` (``b = d`` first); ``p −= lr·(d + μb)``."""
    d = _decayed(p, g, wd)
    if first:
        b[...] = d
    else:
        b *= mu
        b += d
    p -= lr * (d + mu * b)


def nesterov_book_step(p, g, v, lr, mu, mu2, c_mu, wd) -> None:
    """Book form (seed 001): ``v = μv − lr·d``; ``p += μ²·v − (1+μ)·lr·d``.

    ``mu2 = μ²`` and ``c_mu = (1+μ)·lr`` come precomputed.
    """
    d = _decayed(p, g, wd)
    v *= mu
    v -= lr * d
    p += mu2 * v
    p -= c_mu * d


def nesterov_keras_step(p, g, v, lr, mu, wd) -> None:
    """Keras form: ``v = μv − lr·d``; ``p += μv − lr·d``."""
    d = _decayed(p, g, wd)
    v *= mu
    v -= lr * d
    p += mu * v - lr * d


def adagrad_step(p, g, h, clr, eps, wd, eps_inside) -> None:
    """``h += d²``; ``p −= clr·d/(√h + ε)`` (or ``/√(h + ε)`` with eps_inside)."""
    d = _decayed(p, g, wd)
    h += d * d
    denom = np.sqrt(h + eps) if eps_inside else np.sqrt(h) + eps
    p -= clr * (d / denom)


def _centered_var(s: np.ndarray, gbar: np.ndarray) -> np.ndarray:
    """``s − gbar²``, and inf where ``s`` is inf and ``gbar`` finite.

    There ``gbar²`` may overflow too, and ``inf − inf`` is NaN; PyTorch's
    ``addcmul`` is a fused multiply-add, which gives inf (and then a step of
    ``d/inf = 0``). Finite values are untouched: the fix-up runs only when the
    subtraction was invalid (``inf − inf``, the one case it mends; where
    ``gbar²`` stays finite, ``inf − gbar²`` is inf already).
    """
    try:
        with np.errstate(over="ignore", invalid="raise"):
            return s - gbar * gbar
    except FloatingPointError:
        pass
    with np.errstate(over="ignore", invalid="ignore"):  # mended just below
        var = s - gbar * gbar
    np.copyto(var, s, where=(s == np.inf) & np.isfinite(gbar))
    return var


def rmsprop_step(
    p, g, s, gbar, buf, lr, alpha, c_alpha, eps, wd, eps_inside, centered, momentum
) -> None:
    """``s = αs + (1−α)d²``; ``p −= lr·d/(√s + ε)``.

    ``centered`` subtracts the squared mean gradient ``gbar = αgbar + (1−α)d``
    from ``s``; ``momentum > 0`` accumulates ``buf = μ·buf + d/denom`` and steps
    ``p −= lr·buf`` (PyTorch). ``gbar`` and ``buf`` are ignored when unused.
    """
    d = _decayed(p, g, wd)
    s *= alpha
    s += c_alpha * (d * d)
    var = s
    if centered:
        gbar *= alpha
        gbar += c_alpha * d
        var = _centered_var(s, gbar)
    denom = np.sqrt(var + eps) if eps_inside else np.sqrt(var) + eps
    if momentum != 0:
        buf *= momentum
        buf += d / denom
        p -= lr * buf
    else:
        p -= lr * (d / denom)


def adam_step(
    p, g, m, v, vmax, step_size, beta1, c1, beta2, c2, eps, sqrt_bc2, bc2, wd, decay,
    amsgrad, eps_inside,
) -> None:  # fmt: skip
    """Adam, every form in one rule.

    ``p *= decay`` (AdamW's decoupled decay, 1 otherwise); ``m = β1·m + (1−β1)·d``;
    ``v = β2·v + (1−β2)·d²``; with amsgrad 1 (PyTorch) ``vmax = max(vmax, v)``
    replaces ``v`` below; then ``p −= step_size·m / (√v/√bc2 + ε)`` or, with
    eps_inside, ``p −= step_size·m / √(v/bc2 + ε)``. With amsgrad 2 (optax)
    the maximum is over the corrected ``v/bc2``: ``vmax = max(vmax, v/bc2)``,
    ``p −= step_size·m / (√vmax + ε)``.

    The explicit form passes ``step_size = lr/bc1`` and the bias corrections
    ``bc = 1 − β^t``; the book form passes ``step_size = lr·√bc2/bc1`` and
    ``bc2 = 1`` (ε then meets the uncorrected ``v``); no bias correction passes
    ``step_size = lr`` and ``bc2 = 1``.
    """
    if decay != 1:
        p *= decay
    d = _decayed(p, g, wd)
    m *= beta1
    m += c1 * d
    v *= beta2
    v += c2 * (d * d)
    if amsgrad == 2:
        np.maximum(vmax, v / bc2, out=vmax)
        denom = np.sqrt(vmax + eps) if eps_inside else np.sqrt(vmax) + eps
        p -= step_size * (m / denom)
        return
    if amsgrad:
        np.maximum(vmax, v, out=vmax)
        v = vmax
    denom = np.sqrt(v / bc2 + eps) if eps_inside else np.sqrt(v) / sqrt_bc2 + eps
    p -= step_size * (m / denom)


def nadam_step(p, g, m, v, beta1, c1, beta2, c2, eps, bc2, c_grad, c_m, wd, decay) -> None:
    """NAdam (Dozat 2016, PyTorch's form).

    ``m``, ``v`` as Adam; ``denom = √(v/bc2) + ε``;
    ``p −= c_grad·d/denom + c_m·m/denom`` with ``c_grad = lr(1−μ_t)/(1−Πμ)``
    and ``c_m = lr·μ_{t+1}/(1−Πμ·μ_{t+1})`` precomputed.
    """
    if decay != 1:
        p *= decay
    d = _decayed(p, g, wd)
    m *= beta1
    m += c1 * d
    v *= beta2
    v += c2 * (d * d)
    denom = np.sqrt(v / bc2) + eps
    p -= c_grad * (d / denom)
    p -= c_m * (m / denom)


def radam_step(
    p, g, m, v, beta1, c1, beta2, c2, eps, lr, bc1, sqrt_bc2, rect, wd, decay, rectify,
    eps_corrected,
) -> None:  # fmt: skip
    """RAdam (Liu et al. 2020, PyTorch's form).

    ``m``, ``v`` as Adam; when the variance is tractable (``rectify``) the step
    is ``p −= (m/bc1)·lr·(√bc2/(√v + ε))·rect`` (or, ``eps_corrected``,
    optax's ``p −= (m/bc1)·lr·(rect/(√v/√bc2 + ε))``), otherwise plain
    momentum ``p −= (m/bc1)·lr``.
    """
    if decay != 1:
        p *= decay
    d = _decayed(p, g, wd)
    m *= beta1
    m += c1 * d
    v *= beta2
    v += c2 * (d * d)
    mhat = (m / bc1) * lr
    if rectify and eps_corrected:
        p -= mhat * (rect / (np.sqrt(v) / sqrt_bc2 + eps))
    elif rectify:
        p -= mhat * (sqrt_bc2 / (np.sqrt(v) + eps)) * rect
    else:
        p -= mhat


def adamax_step(p, g, m, u, step_size, beta1, c1, beta2, eps, wd, eps_inside) -> None:
    """Adamax: ``u = max(β2·u, |d| + ε)``, ``p −= step_size·m/u`` (PyTorch, eps_inside);
    or ``u = max(β2·u, |d|)``, ``p −= step_size·m/(u + ε)`` (Keras)."""
    d = _decayed(p, g, wd)
    m *= beta1
    m += c1 * d
    if eps_inside:
        np.maximum(beta2 * u, np.abs(d) + eps, out=u)
        p -= step_size * (m / u)
    else:
        np.maximum(beta2 * u, np.abs(d), out=u)
        p -= step_size * (m / (u + eps))


def adadelta_step(p, g, s, acc, lr, rho, c_rho, eps, wd) -> None:
    """Adadelta: ``s = ρs + (1−ρ)d²``; ``Δ = √(acc + ε)/√(s + ε)·d``;
    ``acc = ρ·acc + (1−ρ)Δ²``; ``p −= lr·Δ``."""
    d = _decayed(p, g, wd)
    s *= rho
    s += c_rho * (d * d)
    delta = np.sqrt(acc + eps) / np.sqrt(s + eps) * d
    acc *= rho
    acc += c_rho * (delta * delta)
    p -= lr * delta
