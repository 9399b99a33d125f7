"""Every optimizer's first two steps, checked against arithmetic done by hand.

The expected values here never come from gdlab: each reference below is the
update rule of a *source* (PyTorch's algorithm boxes, the seeds' formulas in
``shared/SEEDS.md``, the book's classes, Keras 3's ``update_step``), written
out as scalar Python-float arithmetic with ``math.sqrt`` and applied to every
element. gdlab must agree to ``rtol=1e-13`` in float64, with the fused numba
kernels and with the NumPy reference kernels.

Also here: the two worked Adam examples of seed 001 (exact), gradient
clipping, the non-finite policy and learning-rate schedules.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from gdlab import schedules
from gdlab.optim import (
    OPTIMIZERS,
    PRESETS,
    SGD,
    Adadelta,
    AdaGrad,
    Adam,
    Adamax,
    AdamW,
    Momentum,
    NAdam,
    Nesterov,
    RAdam,
    RMSprop,
    create,
)

RTOL = 1e-13

# The parameters and the two gradients, element by element: (w[0], w[1], b).
P0 = (1.0, -2.0, 0.5)
G1 = (0.3, -0.4, 0.2)
G2 = (-0.1, 0.5, 0.6)


@pytest.fixture(params=[True, False], ids=["fused", "numpy"])
def fused(request):
    return request.param


def make_params(vals=P0):
    return {"w": np.array([vals[0], vals[1]]), "b": np.array(vals[2])}


def make_grads(vals):
    return {"w": np.array([vals[0], vals[1]]), "b": np.array(vals[2])}


def flat(params):
    return np.array([params["w"][0], params["w"][1], float(params["b"])])


def run(opt, grads_seq, params=None):
    """Apply ``opt`` to the gradients in turn; the parameters after each step."""
    params = make_params() if params is None else params
    out = []
    for g in grads_seq:
        opt.update(params, make_grads(g))
        out.append(flat(params))
    return np.array(out)


def expected(ref, grads_seq=(G1, G2)):
    """``ref(p0, [g1, g2, ...])`` element by element: rows are steps."""
    cols = [ref(P0[i], [g[i] for g in grads_seq]) for i in range(3)]
    return np.array(cols).T


# ------------------------------------------------------------ the references
# Each takes one scalar parameter p and its gradients gs, and returns p after
# every step. `d` is the gradient after L2 weight decay (PyTorch: g + λθ).


def torch_sgd(p, gs, *, lr, wd=0.0):
    """torch.optim.SGD, momentum 0: θ ← θ − γ(g + λθ)."""
    out = []
    for g in gs:
        d = g + wd * p
        p = p - lr * d
        out.append(p)
    return out


def torch_momentum(p, gs, *, lr, mu, dampening=0.0, wd=0.0, nesterov=False):
    """torch.optim.SGD with momentum: b ← g on step 1, else b ← μb + (1 − τ)g;
    θ ← θ − γb, or θ ← θ − γ(g + μb) with nesterov."""
    out = []
    b = 0.0
    for t, g in enumerate(gs, 1):
        d = g + wd * p
        b = d if t == 1 else mu * b + (1 - dampening) * d
        step = d + mu * b if nesterov else b
        p = p - lr * step
        out.append(p)
    return out


def book_momentum(p, gs, *, lr, mu, wd=0.0):
    """Seed 001's Momentum class: v ← μv − lr·g; p ← p + v."""
    out = []
    v = 0.0
    for g in gs:
        d = g + wd * p
        v = mu * v - lr * d
        p = p + v
        out.append(p)
    return out


def course_momentum(p, gs, *, lr, beta, wd=0.0):
    """Seeds 000/004: v ← βv + (1 − β)g; p ← p − lr·v."""
    out = []
    v = 0.0
    for g in gs:
        d = g + wd * p
        v = beta * v + (1 - beta) * d
        p = p - lr * v
        out.append(p)
    return out


def book_nesterov(p, gs, *, lr, mu, wd=0.0):
    """Seed 001's Nesterov class: v ← μv − lr·g; p ← p + μ²v − (1 + μ)·lr·g."""
    out = []
    v = 0.0
    for g in gs:
        d = g + wd * p
        v = v * mu
        v = v - lr * d
        p = p + mu * mu * v
        p = p - (1 + mu) * lr * d
        out.append(p)
    return out


def keras_nesterov(p, gs, *, lr, mu, wd=0.0):
    """Keras 3 SGD(nesterov=True): m ← mμ − g·lr; p ← p + (mμ − g·lr)."""
    out = []
    m = 0.0
    for g in gs:
        d = g + wd * p
        m = m * mu - d * lr
        p = p + (m * mu - d * lr)
        out.append(p)
    return out


def torch_adagrad(p, gs, *, lr, eps, lr_decay=0.0, init=0.0, wd=0.0):
    """torch.optim.Adagrad: γ̃ = γ/(1 + (t − 1)η); s ← s + g²; θ ← θ − γ̃g/(√s + ε)."""
    out = []
    s = init
    for t, g in enumerate(gs, 1):
        d = g + wd * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + d * d
        p = p - clr * d / (math.sqrt(s) + eps)
        out.append(p)
    return out


def keras_adagrad(p, gs, *, lr, eps, init):
    """Keras 3 Adagrad: acc ← acc + g²; p ← p − lr·g/√(acc + ε)."""
    out = []
    acc = init
    for g in gs:
        acc = acc + g * g
        p = p - lr * g / math.sqrt(acc + eps)
        out.append(p)
    return out


def torch_rmsprop(p, gs, *, lr, alpha, eps, wd=0.0, mu=0.0, centered=False):
    """torch.optim.RMSprop: v ← αv + (1 − α)g²; ṽ = v − ḡ² if centered;
    b ← μb + g/(√ṽ + ε), θ ← θ − γb if μ > 0, else θ ← θ − γg/(√ṽ + ε)."""
    out = []
    v = gbar = b = 0.0
    for g in gs:
        d = g + wd * p
        v = alpha * v + (1 - alpha) * d * d
        vt = v
        if centered:
            gbar = alpha * gbar + (1 - alpha) * d
            vt = v - gbar * gbar
        if mu > 0:
            b = mu * b + d / (math.sqrt(vt) + eps)
            p = p - lr * b
        else:
            p = p - lr * d / (math.sqrt(vt) + eps)
        out.append(p)
    return out


def keras_rmsprop(p, gs, *, lr, rho, eps, mu=0.0, centered=False):
    """Keras 3 RMSprop (ε under the root, as seed 004 writes it):
    vel ← ρ·vel + (1 − ρ)g²; den = vel (− avg² if centered) + ε;
    inc = lr·g/√den; m ← μm + inc, p ← p − m if μ > 0, else p ← p − inc."""
    out = []
    vel = avg = m = 0.0
    for g in gs:
        vel = rho * vel + (1 - rho) * g * g
        if centered:
            avg = rho * avg + (1 - rho) * g
            den = vel - avg * avg + eps
        else:
            den = vel + eps
        inc = lr * g / math.sqrt(den)
        if mu > 0:
            m = mu * m + inc
            p = p - m
        else:
            p = p - inc
        out.append(p)
    return out


def book_rmsprop(p, gs, *, lr, decay_rate):
    """Seed 001's RMSprop class: h ← ρh + (1 − ρ)g²; p ← p − lr·g/(√h + 1e-7)."""
    out = []
    h = 0.0
    for g in gs:
        h = h * decay_rate
        h = h + (1 - decay_rate) * g * g
        p = p - lr * g / (math.sqrt(h) + 1e-7)
        out.append(p)
    return out


def book_adagrad(p, gs, *, lr):
    """Seed 001's AdaGrad class: h ← h + g²; p ← p − lr·g/(√h + 1e-7)."""
    out = []
    h = 0.0
    for g in gs:
        h = h + g * g
        p = p - lr * g / (math.sqrt(h) + 1e-7)
        out.append(p)
    return out


def torch_adadelta(p, gs, *, lr, rho, eps, wd=0.0):
    """torch.optim.Adadelta: v ← ρv + (1 − ρ)g²; Δ = √(u + ε)/√(v + ε)·g;
    u ← ρu + (1 − ρ)Δ²; θ ← θ − γΔ (Keras 3 is the same rule)."""
    out = []
    v = u = 0.0
    for g in gs:
        d = g + wd * p
        v = rho * v + (1 - rho) * d * d
        delta = math.sqrt(u + eps) / math.sqrt(v + eps) * d
        u = rho * u + (1 - rho) * delta * delta
        p = p - lr * delta
        out.append(p)
    return out


def torch_adam(p, gs, *, lr, b1, b2, eps, wd=0.0, amsgrad=False, decoupled=False):
    """torch.optim.Adam / AdamW (= seed 000's explicit form, decoupled=True is AdamW):
    m ← β1m + (1 − β1)g; v ← β2v + (1 − β2)g²; m̂ = m/(1 − β1^t);
    v̂ = v/(1 − β2^t), or with amsgrad v_max ← max(v_max, v), v̂ = v_max/(1 − β2^t)
    (PyTorch's implementation, Reddi et al.'s max of the raw second moment);
    θ ← θ − γm̂/(√v̂ + ε)."""
    out = []
    m = v = vmax = 0.0
    for t, g in enumerate(gs, 1):
        if decoupled:
            p = p - lr * wd * p
            d = g
        else:
            d = g + wd * p
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        mhat = m / (1 - b1**t)
        if amsgrad:
            vmax = max(vmax, v)
            vhat = vmax / (1 - b2**t)
        else:
            vhat = v / (1 - b2**t)
        p = p - lr * mhat / (math.sqrt(vhat) + eps)
        out.append(p)
    return out


def course_adam_eps_inside(p, gs, *, lr, b1, b2, eps):
    """Seed 004: m̂, v̂ as Adam; p ← p − lr·m̂/√(v̂ + ε)."""
    out = []
    m = v = 0.0
    for t, g in enumerate(gs, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1**t)
        vhat = v / (1 - b2**t)
        p = p - lr * mhat / math.sqrt(vhat + eps)
        out.append(p)
    return out


def adam_no_correction(p, gs, *, lr, b1, b2, eps):
    """Adam without bias correction: p ← p − lr·m/(√v + ε)."""
    out = []
    m = v = 0.0
    for g in gs:
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * m / (math.sqrt(v) + eps)
        out.append(p)
    return out


def lr_t_adam(p, gs, *, lr, b1, b2, eps, amsgrad=False, keras_wd=0.0):
    """Seed 001's Adam class (and Keras 3's Adam/AdamW):
    lr_t = lr·√(1 − β2^t)/(1 − β1^t); m += (1 − β1)(g − m); v += (1 − β2)(g² − v);
    (Keras amsgrad: v̂ ← max(v̂, v)); p ← p − lr_t·m/(√v + ε).
    Keras AdamW first does p ← p − p·wd·lr."""
    out = []
    m = v = vhat = 0.0
    for t, g in enumerate(gs, 1):
        if keras_wd:
            p = p - p * keras_wd * lr
        lr_t = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m += (1 - b1) * (g - m)
        v += (1 - b2) * (g**2 - v)
        if amsgrad:
            vhat = max(vhat, v)
            p -= lr_t * m / (math.sqrt(vhat) + eps)
        else:
            p -= lr_t * m / (math.sqrt(v) + eps)
        out.append(p)
    return out


def lr_t_adam_eps_inside(p, gs, *, lr, b1, b2, eps):
    """No source writes this pairing; gdlab's docstring: the lr_t form's ε meets the
    uncorrected v, so with eps_inside p ← p − lr_t·m/√(v + ε)."""
    out = []
    m = v = 0.0
    for t, g in enumerate(gs, 1):
        lr_t = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr_t * m / math.sqrt(v + eps)
        out.append(p)
    return out


def torch_adamax(p, gs, *, lr, b1, b2, eps, wd=0.0):
    """torch.optim.Adamax: m ← β1m + (1 − β1)g; u ← max(β2u, |g| + ε);
    θ ← θ − γm/((1 − β1^t)u)."""
    out = []
    m = u = 0.0
    for t, g in enumerate(gs, 1):
        d = g + wd * p
        m = b1 * m + (1 - b1) * d
        u = max(b2 * u, abs(d) + eps)
        p = p - lr * m / ((1 - b1**t) * u)
        out.append(p)
    return out


def keras_adamax(p, gs, *, lr, b1, b2, eps):
    """Keras 3 Adamax: m += (g − m)(1 − β1); u ← max(β2u, |g|);
    p ← p − lr·m/((1 − β1^t)(u + ε))."""
    out = []
    m = u = 0.0
    for t, g in enumerate(gs, 1):
        m += (g - m) * (1 - b1)
        u = max(b2 * u, abs(g))
        p = p - lr * m / ((1 - b1**t) * (u + eps))
        out.append(p)
    return out


def optax_nadam(p, gs, *, lr, b1, b2, eps):
    """optax.nadam (scale_by_adam with nesterov=True): μ held at β1;
    m̂ = β1·m/(1 − β1^(t+1)) + (1 − β1)g/(1 − β1^t); p ← p − lr·m̂/(√v̂ + ε)."""
    out = []
    m = v = 0.0
    for t, g in enumerate(gs, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        p = p - lr * m_hat / (math.sqrt(v / (1 - b2**t)) + eps)
        out.append(p)
    return out


def torch_nadam(p, gs, *, lr, b1, b2, eps, psi=4e-3, wd=0.0, decoupled=False):
    """torch.optim.NAdam: μ_t = β1(1 − ½·0.96^(tψ));
    m̂ = μ_{t+1}m/(1 − Π_{i≤t+1}μ_i) + (1 − μ_t)g/(1 − Π_{i≤t}μ_i);
    v̂ = v/(1 − β2^t); θ ← θ − γm̂/(√v̂ + ε); decoupled: θ ← θ(1 − γλ) first."""
    out = []
    m = v = 0.0
    prod = 1.0
    for t, g in enumerate(gs, 1):
        if decoupled:
            p = p - lr * wd * p
            d = g
        else:
            d = g + wd * p
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        prod = prod * mu_t
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        mhat = mu_next * m / (1 - prod * mu_next) + (1 - mu_t) * d / (1 - prod)
        vhat = v / (1 - b2**t)
        p = p - lr * mhat / (math.sqrt(vhat) + eps)
        out.append(p)
    return out


def keras_nadam(p, gs, *, lr, b1, b2, eps):
    """Keras 3 Nadam (keras/src/optimizers/nadam.py): u_t = β1(1 − ½·0.96^t),
    u_{t+1} = β1(1 − ½·0.96^(t+1)) -- no 0.004 in the exponent;
    m += (g − m)(1 − β1); v += (g² − v)(1 − β2);
    m̂ = u_{t+1}m/(1 − Πu·u_{t+1}) + (1 − u_t)g/(1 − Πu); v̂ = v/(1 − β2^t);
    p ← p − m̂·lr/(√v̂ + ε)."""
    out = []
    m = v = 0.0
    prod = 1.0
    for t, g in enumerate(gs, 1):
        u_t = b1 * (1.0 - 0.5 * 0.96**t)
        u_next = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        prod = prod * u_t
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        mhat = u_next * m / (1 - prod * u_next) + (1 - u_t) * g / (1 - prod)
        vhat = v / (1 - b2**t)
        p = p - mhat * lr / (math.sqrt(vhat) + eps)
        out.append(p)
    return out


def radam_rho(t, b2):
    """ρ_t of RAdam (Liu et al. 2020): ρ∞ − 2tβ2^t/(1 − β2^t), ρ∞ = 2/(1 − β2) − 1."""
    rho_inf = 2 / (1 - b2) - 1
    return rho_inf - 2 * t * b2**t / (1 - b2**t)


def torch_radam(p, gs, *, lr, b1, b2, eps, wd=0.0, decoupled=False):
    """torch.optim.RAdam: m̂ = m/(1 − β1^t); if ρ_t > 5:
    l = √(1 − β2^t)/(√v + ε), r = √((ρ_t − 4)(ρ_t − 2)ρ∞/((ρ∞ − 4)(ρ∞ − 2)ρ_t)),
    θ ← θ − γm̂·r·l; else θ ← θ − γm̂."""
    out = []
    m = v = 0.0
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(gs, 1):
        if decoupled:
            p = p - lr * wd * p
            d = g
        else:
            d = g + wd * p
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        mhat = m / (1 - b1**t)
        rho_t = radam_rho(t, b2)
        if rho_t > 5:
            ell = math.sqrt(1 - b2**t) / (math.sqrt(v) + eps)
            r = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            p = p - lr * mhat * r * ell
        else:
            p = p - lr * mhat
        out.append(p)
    return out


def _ref(func, **kw):
    return lambda p, gs: func(p, gs, **kw)


# --------------------------------------------- every optimizer, form, option

LR = 0.1
H = {"b1": 0.8, "b2": 0.7, "eps": 1e-3}  # Adam-family hyperparameters, ε large enough to matter

CASES = [
    # SGD
    ("sgd", lambda f: SGD(lr=LR, fused=f), _ref(torch_sgd, lr=LR)),
    ("sgd-wd", lambda f: SGD(lr=LR, weight_decay=0.05, fused=f), _ref(torch_sgd, lr=LR, wd=0.05)),
    # Momentum
    (
        "momentum-torch",
        lambda f: Momentum(lr=LR, momentum=0.8, fused=f),
        _ref(torch_momentum, lr=LR, mu=0.8),
    ),
    (
        "momentum-torch-dampening-wd",
        lambda f: Momentum(lr=LR, momentum=0.8, dampening=0.3, weight_decay=0.05, fused=f),
        _ref(torch_momentum, lr=LR, mu=0.8, dampening=0.3, wd=0.05),
    ),
    (
        "momentum-book",
        lambda f: Momentum(lr=LR, momentum=0.8, form="book", fused=f),
        _ref(book_momentum, lr=LR, mu=0.8),
    ),
    (
        "momentum-book-wd",
        lambda f: Momentum(lr=LR, momentum=0.8, form="book", weight_decay=0.05, fused=f),
        _ref(book_momentum, lr=LR, mu=0.8, wd=0.05),
    ),
    (
        "momentum-ema",
        lambda f: Momentum(lr=LR, momentum=0.8, form="ema", fused=f),
        _ref(course_momentum, lr=LR, beta=0.8),
    ),
    (
        "momentum-ema-wd",
        lambda f: Momentum(lr=LR, momentum=0.8, form="ema", weight_decay=0.05, fused=f),
        _ref(course_momentum, lr=LR, beta=0.8, wd=0.05),
    ),
    # Nesterov
    (
        "nesterov-torch",
        lambda f: Nesterov(lr=LR, momentum=0.8, fused=f),
        _ref(torch_momentum, lr=LR, mu=0.8, nesterov=True),
    ),
    (
        "nesterov-torch-wd",
        lambda f: Nesterov(lr=LR, momentum=0.8, weight_decay=0.05, fused=f),
        _ref(torch_momentum, lr=LR, mu=0.8, nesterov=True, wd=0.05),
    ),
    (
        "nesterov-book",
        lambda f: Nesterov(lr=LR, momentum=0.8, form="book", fused=f),
        _ref(book_nesterov, lr=LR, mu=0.8),
    ),
    (
        "nesterov-keras",
        lambda f: Nesterov(lr=LR, momentum=0.8, form="keras", fused=f),
        _ref(keras_nesterov, lr=LR, mu=0.8),
    ),
    # AdaGrad
    (
        "adagrad",
        lambda f: AdaGrad(lr=LR, eps=1e-3, fused=f),
        _ref(torch_adagrad, lr=LR, eps=1e-3),
    ),
    (
        "adagrad-eps-inside-init",
        lambda f: AdaGrad(lr=LR, eps=1e-3, eps_inside=True, initial_accumulator_value=0.1, fused=f),
        _ref(keras_adagrad, lr=LR, eps=1e-3, init=0.1),
    ),
    (
        "adagrad-lr-decay-init-wd",
        lambda f: AdaGrad(
            lr=LR,
            eps=1e-3,
            lr_decay=0.5,
            initial_accumulator_value=0.2,
            weight_decay=0.05,
            fused=f,
        ),
        _ref(torch_adagrad, lr=LR, eps=1e-3, lr_decay=0.5, init=0.2, wd=0.05),
    ),
    # RMSprop
    (
        "rmsprop",
        lambda f: RMSprop(lr=LR, alpha=0.7, eps=1e-3, fused=f),
        _ref(torch_rmsprop, lr=LR, alpha=0.7, eps=1e-3),
    ),
    (
        "rmsprop-eps-inside",
        lambda f: RMSprop(lr=LR, alpha=0.7, eps=1e-3, eps_inside=True, fused=f),
        _ref(keras_rmsprop, lr=LR, rho=0.7, eps=1e-3),
    ),
    (
        "rmsprop-centered",
        lambda f: RMSprop(lr=LR, alpha=0.7, eps=1e-3, centered=True, fused=f),
        _ref(torch_rmsprop, lr=LR, alpha=0.7, eps=1e-3, centered=True),
    ),
    (
        "rmsprop-momentum-wd",
        lambda f: RMSprop(lr=LR, alpha=0.7, eps=1e-3, momentum=0.6, weight_decay=0.05, fused=f),
        _ref(torch_rmsprop, lr=LR, alpha=0.7, eps=1e-3, mu=0.6, wd=0.05),
    ),
    (
        "rmsprop-centered-momentum",
        lambda f: RMSprop(lr=LR, alpha=0.7, eps=1e-3, centered=True, momentum=0.6, fused=f),
        _ref(torch_rmsprop, lr=LR, alpha=0.7, eps=1e-3, centered=True, mu=0.6),
    ),
    (
        "rmsprop-centered-momentum-eps-inside",
        lambda f: RMSprop(
            lr=LR, alpha=0.7, eps=1e-3, centered=True, momentum=0.6, eps_inside=True, fused=f
        ),
        _ref(keras_rmsprop, lr=LR, rho=0.7, eps=1e-3, centered=True, mu=0.6),
    ),
    # Adadelta
    (
        "adadelta",
        lambda f: Adadelta(lr=0.5, rho=0.7, eps=1e-3, fused=f),
        _ref(torch_adadelta, lr=0.5, rho=0.7, eps=1e-3),
    ),
    (
        "adadelta-wd",
        lambda f: Adadelta(lr=0.5, rho=0.7, eps=1e-3, weight_decay=0.05, fused=f),
        _ref(torch_adadelta, lr=0.5, rho=0.7, eps=1e-3, wd=0.05),
    ),
    # Adam
    (
        "adam-explicit",
        lambda f: Adam(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, fused=f),
        _ref(torch_adam, lr=LR, **H),
    ),
    (
        "adam-lr_t",
        lambda f: Adam(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, form="lr_t", fused=f),
        _ref(lr_t_adam, lr=LR, **H),
    ),
    (
        "adam-no-bias-correction",
        lambda f: Adam(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, bias_correction=False, fused=f),
        _ref(adam_no_correction, lr=LR, **H),
    ),
    (
        "adam-lr_t-no-bias-correction",
        lambda f: Adam(
            lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, form="lr_t", bias_correction=False, fused=f
        ),
        _ref(adam_no_correction, lr=LR, **H),
    ),
    (
        "adam-eps-inside",
        lambda f: Adam(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, eps_inside=True, fused=f),
        _ref(course_adam_eps_inside, lr=LR, **H),
    ),
    (
        "adam-lr_t-eps-inside",
        lambda f: Adam(
            lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, form="lr_t", eps_inside=True, fused=f
        ),
        _ref(lr_t_adam_eps_inside, lr=LR, **H),
    ),
    (
        "adam-amsgrad",
        lambda f: Adam(lr=LR, beta1=0.8, beta2=0.5, eps=1e-3, amsgrad=True, fused=f),
        _ref(torch_adam, lr=LR, b1=0.8, b2=0.5, eps=1e-3, amsgrad=True),
    ),
    (
        "adam-lr_t-amsgrad",
        lambda f: Adam(lr=LR, beta1=0.8, beta2=0.5, eps=1e-3, form="lr_t", amsgrad=True, fused=f),
        _ref(lr_t_adam, lr=LR, b1=0.8, b2=0.5, eps=1e-3, amsgrad=True),
    ),
    (
        "adam-l2",
        lambda f: Adam(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, weight_decay=0.05, fused=f),
        _ref(torch_adam, lr=LR, wd=0.05, **H),
    ),
    # AdamW
    (
        "adamw",
        lambda f: AdamW(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, weight_decay=0.3, fused=f),
        _ref(torch_adam, lr=LR, wd=0.3, decoupled=True, **H),
    ),
    (
        "adamw-amsgrad",
        lambda f: AdamW(
            lr=LR, beta1=0.8, beta2=0.5, eps=1e-3, weight_decay=0.3, amsgrad=True, fused=f
        ),
        _ref(torch_adam, lr=LR, b1=0.8, b2=0.5, eps=1e-3, wd=0.3, decoupled=True, amsgrad=True),
    ),
    (
        "adamw-lr_t",
        lambda f: AdamW(
            lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, weight_decay=0.3, form="lr_t", fused=f
        ),
        _ref(lr_t_adam, lr=LR, keras_wd=0.3, **H),
    ),
    # Adamax
    (
        "adamax-eps-inside",
        lambda f: Adamax(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, fused=f),
        _ref(torch_adamax, lr=LR, **H),
    ),
    (
        "adamax-eps-outside",
        lambda f: Adamax(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, eps_inside=False, fused=f),
        _ref(keras_adamax, lr=LR, **H),
    ),
    (
        "adamax-wd",
        lambda f: Adamax(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, weight_decay=0.05, fused=f),
        _ref(torch_adamax, lr=LR, wd=0.05, **H),
    ),
    # NAdam
    (
        "nadam",
        lambda f: NAdam(lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, momentum_decay=0.5, fused=f),
        _ref(torch_nadam, lr=LR, psi=0.5, **H),
    ),
    (
        "nadam-l2",
        lambda f: NAdam(
            lr=LR, beta1=0.8, beta2=0.7, eps=1e-3, momentum_decay=0.5, weight_decay=0.05, fused=f
        ),
        _ref(torch_nadam, lr=LR, psi=0.5, wd=0.05, **H),
    ),
    (
        "nadam-decoupled",
        lambda f: NAdam(
            lr=LR,
            beta1=0.8,
            beta2=0.7,
            eps=1e-3,
            momentum_decay=0.5,
            weight_decay=0.3,
            decoupled_weight_decay=True,
            fused=f,
        ),
        _ref(torch_nadam, lr=LR, psi=0.5, wd=0.3, decoupled=True, **H),
    ),
    # RAdam (ρ_2 = (1 + 3β2)/(1 + β2) < 2 for every β2: steps 1-2 are never rectified)
    (
        "radam",
        lambda f: RAdam(lr=LR, beta1=0.8, beta2=0.999, eps=1e-3, fused=f),
        _ref(torch_radam, lr=LR, b1=0.8, b2=0.999, eps=1e-3),
    ),
    (
        "radam-l2",
        lambda f: RAdam(lr=LR, beta1=0.8, beta2=0.999, eps=1e-3, weight_decay=0.05, fused=f),
        _ref(torch_radam, lr=LR, b1=0.8, b2=0.999, eps=1e-3, wd=0.05),
    ),
    (
        "radam-decoupled",
        lambda f: RAdam(
            lr=LR,
            beta1=0.8,
            beta2=0.999,
            eps=1e-3,
            weight_decay=0.3,
            decoupled_weight_decay=True,
            fused=f,
        ),
        _ref(torch_radam, lr=LR, b1=0.8, b2=0.999, eps=1e-3, wd=0.3, decoupled=True),
    ),
]


@pytest.mark.parametrize(("factory", "ref"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_first_two_steps_match_the_source_formula(fused, factory, ref):
    opt = factory(fused)
    actual = run(opt, [G1, G2])
    np.testing.assert_allclose(actual, expected(ref), rtol=RTOL, atol=0)
    assert opt.t == 2


def test_the_cases_cover_every_optimizer():
    """Every one of the first eleven; the later ones have their own hand steps in
    tests/test_<module>.py (test_adaptive.py, test_classic.py, ...)."""
    first_eleven = {n for n, c in OPTIMIZERS.items() if c.__module__ == "gdlab.optim.optimizers"}
    covered = {type(c[1](True)).name for c in CASES}
    assert covered == first_eleven


# Step-by-step literals for the simplest rules, fully written out.


def test_sgd_literal(fused):
    opt = SGD(lr=0.1, weight_decay=0.05, fused=fused)
    actual = run(opt, [G1, G2])
    w0 = 1.0 - 0.1 * (0.3 + 0.05 * 1.0)
    w1 = -2.0 - 0.1 * (-0.4 + 0.05 * -2.0)
    b = 0.5 - 0.1 * (0.2 + 0.05 * 0.5)
    step1 = [w0, w1, b]
    step2 = [
        w0 - 0.1 * (-0.1 + 0.05 * w0),
        w1 - 0.1 * (0.5 + 0.05 * w1),
        b - 0.1 * (0.6 + 0.05 * b),
    ]
    np.testing.assert_allclose(actual, [step1, step2], rtol=RTOL, atol=0)


def test_momentum_torch_dampening_is_not_applied_on_the_first_step(fused):
    opt = Momentum(lr=0.1, momentum=0.8, dampening=0.5, fused=fused)
    actual = run(opt, [G1, G2])
    # step 1: b = g1 (no dampening), step 2: b = 0.8·g1 + 0.5·g2
    step1 = [1.0 - 0.1 * 0.3, -2.0 - 0.1 * -0.4, 0.5 - 0.1 * 0.2]
    b2 = [0.8 * 0.3 + 0.5 * -0.1, 0.8 * -0.4 + 0.5 * 0.5, 0.8 * 0.2 + 0.5 * 0.6]
    step2 = [step1[i] - 0.1 * b2[i] for i in range(3)]
    np.testing.assert_allclose(actual, [step1, step2], rtol=RTOL, atol=0)
    np.testing.assert_allclose(opt.state["w"]["velocity"], b2[:2], rtol=RTOL, atol=0)


def test_adam_explicit_literal(fused):
    opt = Adam(lr=0.1, beta1=0.8, beta2=0.7, eps=1e-3, fused=fused)
    params = {"x": np.array(1.0)}
    opt.update(params, {"x": np.array(0.3)})
    # m = 0.2·0.3 = 0.06, v = 0.3·0.09 = 0.027; m̂ = 0.06/0.2, v̂ = 0.027/0.3
    x1 = 1.0 - 0.1 * (0.06 / 0.2) / (math.sqrt(0.027 / 0.3) + 1e-3)
    np.testing.assert_allclose(params["x"], x1, rtol=RTOL, atol=0)
    opt.update(params, {"x": np.array(-0.1)})
    m2 = 0.8 * 0.06 + 0.2 * -0.1
    v2 = 0.7 * 0.027 + 0.3 * 0.01
    x2 = x1 - 0.1 * (m2 / (1 - 0.8**2)) / (math.sqrt(v2 / (1 - 0.7**2)) + 1e-3)
    np.testing.assert_allclose(params["x"], x2, rtol=RTOL, atol=0)
    np.testing.assert_allclose(opt.state["x"]["exp_avg"], m2, rtol=RTOL, atol=0)
    np.testing.assert_allclose(opt.state["x"]["exp_avg_sq"], v2, rtol=RTOL, atol=0)


def test_amsgrad_keeps_the_larger_second_moment(fused):
    """With β2 = 0.5, v falls on step 2 for w[0] (0.1² < 0.3²/2): the max must be used."""
    opt = Adam(lr=LR, beta1=0.8, beta2=0.5, eps=1e-3, amsgrad=True, fused=fused)
    run(opt, [G1, G2])
    v1 = [0.5 * g * g for g in G1]
    v2 = [0.5 * v1[i] + 0.5 * G2[i] ** 2 for i in range(3)]
    assert v2[0] < v1[0]  # the case the max is for
    assert v2[1] > v1[1]
    st = opt.state
    np.testing.assert_allclose(st["w"]["exp_avg_sq"], v2[:2], rtol=RTOL, atol=0)
    np.testing.assert_allclose(
        st["w"]["max_exp_avg_sq"], [max(v1[0], v2[0]), max(v1[1], v2[1])], rtol=RTOL, atol=0
    )
    # and plain Adam differs from AMSGrad at step 2 for w[0]
    plain = expected(_ref(torch_adam, lr=LR, b1=0.8, b2=0.5, eps=1e-3))
    ams = expected(_ref(torch_adam, lr=LR, b1=0.8, b2=0.5, eps=1e-3, amsgrad=True))
    assert abs(plain[1, 0] - ams[1, 0]) > 1e-4


# --------------------------------------------------------- RAdam, rectified


def test_radam_rho_thresholds():
    # ρ∞ = 2/(1 − β2) − 1
    assert math.isclose(2 / (1 - 0.999) - 1, 1999.0, rel_tol=1e-12)
    assert math.isclose(2 / (1 - 0.5) - 1, 3.0, rel_tol=1e-15)
    # β2 = 0.999: ρ_t ≈ t for small t; the rectified branch starts at t = 6
    assert [radam_rho(t, 0.999) > 5 for t in range(1, 9)] == [False] * 5 + [True] * 3
    # β2 = 0.5: ρ∞ = 3 ≤ 5, never rectified
    assert not any(radam_rho(t, 0.5) > 5 for t in range(1, 50))


@pytest.mark.parametrize("decoupled", [False, True])
def test_radam_switches_to_the_rectified_step_at_t6(fused, decoupled):
    grads = [G1, G2, G1, (0.05, 0.2, -0.3), G2, G1, (0.4, -0.1, 0.25), G2]
    wd = 0.3 if decoupled else 0.05
    opt = RAdam(
        lr=LR,
        beta1=0.8,
        beta2=0.999,
        eps=1e-3,
        weight_decay=wd,
        decoupled_weight_decay=decoupled,
        fused=fused,
    )
    actual = run(opt, grads)
    ref = _ref(torch_radam, lr=LR, b1=0.8, b2=0.999, eps=1e-3, wd=wd, decoupled=decoupled)
    np.testing.assert_allclose(actual, expected(ref, grads), rtol=RTOL, atol=0)


def test_radam_with_small_beta2_is_never_rectified(fused):
    grads = [G1, G2] * 5
    opt = RAdam(lr=LR, beta1=0.8, beta2=0.5, eps=1e-3, fused=fused)
    actual = run(opt, grads)
    # ρ∞ = 3: every step is θ ← θ − γ·m/(1 − β1^t)
    ref = _ref(torch_radam, lr=LR, b1=0.8, b2=0.5, eps=1e-3)
    np.testing.assert_allclose(actual, expected(ref, grads), rtol=RTOL, atol=0)

    def plain(p, gs):
        out, m = [], 0.0
        for t, g in enumerate(gs, 1):
            m = 0.8 * m + 0.2 * g
            p = p - LR * m / (1 - 0.8**t)
            out.append(p)
        return out

    np.testing.assert_allclose(actual, expected(plain, grads), rtol=RTOL, atol=0)


# ------------------------------------------------------------------ presets

PRESET_REFS = {
    # book (seed 001): SGD/Momentum/Nesterov/AdaGrad/RMSprop lr 0.01, μ 0.9, ε 1e-7 after the root
    ("book", "sgd"): _ref(torch_sgd, lr=0.01),
    ("book", "momentum"): _ref(book_momentum, lr=0.01, mu=0.9),
    ("book", "nesterov"): _ref(book_nesterov, lr=0.01, mu=0.9),
    ("book", "adagrad"): _ref(book_adagrad, lr=0.01),
    ("book", "rmsprop"): _ref(book_rmsprop, lr=0.01, decay_rate=0.99),
    ("book", "adam"): _ref(lr_t_adam, lr=0.001, b1=0.9, b2=0.999, eps=1e-7),
    # course (seeds 000/004)
    ("course", "sgd"): _ref(torch_sgd, lr=0.01),
    ("course", "momentum"): _ref(course_momentum, lr=0.01, beta=0.9),
    ("course", "rmsprop"): _ref(torch_rmsprop, lr=0.01, alpha=0.999, eps=1e-8),
    ("course", "adam"): _ref(torch_adam, lr=0.01, b1=0.9, b2=0.999, eps=1e-8),
    # torch: torch.optim's defaults (gdlab's momentum 0.9 for Momentum/Nesterov)
    ("torch", "sgd"): _ref(torch_sgd, lr=1e-3),
    ("torch", "momentum"): _ref(torch_momentum, lr=1e-3, mu=0.9),
    ("torch", "nesterov"): _ref(torch_momentum, lr=1e-3, mu=0.9, nesterov=True),
    ("torch", "adagrad"): _ref(torch_adagrad, lr=1e-2, eps=1e-10),
    ("torch", "rmsprop"): _ref(torch_rmsprop, lr=1e-2, alpha=0.99, eps=1e-8),
    ("torch", "adadelta"): _ref(torch_adadelta, lr=1.0, rho=0.9, eps=1e-6),
    ("torch", "adam"): _ref(torch_adam, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8),
    ("torch", "adamw"): _ref(
        torch_adam, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=1e-2, decoupled=True
    ),
    ("torch", "adamax"): _ref(torch_adamax, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8),
    ("torch", "nadam"): _ref(torch_nadam, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3),
    ("torch", "radam"): _ref(torch_radam, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8),
    # keras: Keras 3's update_step rules and defaults
    ("keras", "sgd"): _ref(torch_sgd, lr=0.01),
    ("keras", "momentum"): _ref(book_momentum, lr=0.01, mu=0.9),
    ("keras", "nesterov"): _ref(keras_nesterov, lr=0.01, mu=0.9),
    ("keras", "adagrad"): _ref(keras_adagrad, lr=0.001, eps=1e-7, init=0.1),
    ("keras", "rmsprop"): _ref(keras_rmsprop, lr=0.001, rho=0.9, eps=1e-7),
    ("keras", "adadelta"): _ref(torch_adadelta, lr=0.001, rho=0.95, eps=1e-7),
    ("keras", "adam"): _ref(lr_t_adam, lr=0.001, b1=0.9, b2=0.999, eps=1e-7),
    ("keras", "adamw"): _ref(lr_t_adam, lr=0.001, b1=0.9, b2=0.999, eps=1e-7, keras_wd=0.004),
    ("keras", "adamax"): _ref(keras_adamax, lr=0.001, b1=0.9, b2=0.999, eps=1e-7),
    ("keras", "nadam"): _ref(keras_nadam, lr=0.001, b1=0.9, b2=0.999, eps=1e-7),
    # optax: its conventions at gdlab's class defaults (optax has no default lr)
    ("optax", "sgd"): _ref(torch_sgd, lr=1e-3),
    ("optax", "momentum"): _ref(torch_momentum, lr=1e-3, mu=0.9),
    ("optax", "nesterov"): _ref(torch_momentum, lr=1e-3, mu=0.9, nesterov=True),
    ("optax", "adagrad"): _ref(keras_adagrad, lr=1e-2, eps=1e-7, init=0.1),
    ("optax", "rmsprop"): _ref(keras_rmsprop, lr=1e-2, rho=0.9, eps=1e-8),
    ("optax", "adadelta"): _ref(torch_adadelta, lr=1.0, rho=0.9, eps=1e-6),
    ("optax", "adam"): _ref(torch_adam, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8),
    ("optax", "adamw"): _ref(
        torch_adam, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=1e-4, decoupled=True
    ),
    ("optax", "adamax"): _ref(torch_adamax, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8),
    ("optax", "nadam"): _ref(optax_nadam, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8),
    # the first steps are unrectified (ρ_t ≤ 5), where ε's place does not matter
    ("optax", "radam"): _ref(torch_radam, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8),
}


@pytest.mark.parametrize(
    ("preset", "name"), list(PRESET_REFS), ids=[f"{p}-{n}" for p, n in PRESET_REFS]
)
def test_preset_defaults_first_two_steps(fused, preset, name):
    opt = create(name, preset=preset, fused=fused)
    actual = run(opt, [G1, G2])
    np.testing.assert_allclose(actual, expected(PRESET_REFS[preset, name]), rtol=RTOL, atol=0)


def test_every_preset_entry_has_a_hand_reference():
    first_eleven = {n for n, c in OPTIMIZERS.items() if c.__module__ == "gdlab.optim.optimizers"}
    defined = {
        (preset, name)
        for preset, table in PRESETS.items()
        for name in table
        if name in first_eleven
    }
    assert defined == set(PRESET_REFS)


def test_nadam_with_momentum_decay_1_is_keras_nadam(fused):
    """What the 'keras' preset would need: Keras's rule is gdlab's with ψ = 1."""
    opt = NAdam(lr=0.001, eps=1e-7, momentum_decay=1.0, fused=fused)
    actual = run(opt, [G1, G2])
    ref = _ref(keras_nadam, lr=0.001, b1=0.9, b2=0.999, eps=1e-7)
    np.testing.assert_allclose(actual, expected(ref), rtol=RTOL, atol=0)


def test_book_preset_epsilon_is_after_the_root(fused):
    """Book Adam: ε = 1e-7 added to √v (uncorrected), visible when g is tiny."""
    opt = create("adam", preset="book", fused=fused)
    params = {"x": np.array(1.0)}
    g = 1e-6
    opt.update(params, {"x": np.array(g)})
    m, v = 0.1 * g, 0.001 * g * g
    lr_t = 0.001 * math.sqrt(1 - 0.999) / (1 - 0.9)
    want = 1.0 - lr_t * m / (math.sqrt(v) + 1e-7)
    np.testing.assert_allclose(params["x"], want, rtol=RTOL, atol=0)
    inside = 1.0 - lr_t * m / math.sqrt(v + 1e-7)
    explicit = 1.0 - 0.001 * (m / 0.1) / (math.sqrt(v / 0.001) + 1e-7)
    assert abs(want - inside) > 1e-10
    assert abs(want - explicit) > 1e-10
    # book AdaGrad and RMSprop: 1e-7 after the root too
    for name, ref in (
        ("adagrad", _ref(book_adagrad, lr=0.01)),
        ("rmsprop", _ref(book_rmsprop, lr=0.01, decay_rate=0.99)),
    ):
        opt = create(name, preset="book", fused=fused)
        params = {"x": np.array(1.0)}
        opt.update(params, {"x": np.array(1e-6)})
        np.testing.assert_allclose(params["x"], ref(1.0, [1e-6])[0], rtol=RTOL, atol=0)


def test_preset_without_the_optimizer_is_an_error():
    with pytest.raises(ValueError, match="does not define"):
        create("adamw", preset="book")


# ------------------------------------------------- seed 001's worked examples

TINY = 1e-300


def _grad_xy(params):
    x, y = float(params["x"]), float(params["y"])
    return {"x": np.array(y), "y": np.array(x)}  # f = xy: (y, x)


def _grad_x2_xy(params):
    x, y = float(params["x"]), float(params["y"])
    return {"x": np.array(2 * x + y), "y": np.array(x)}  # f = x² + xy: (2x + y, x)


WORKED = [
    pytest.param(
        _grad_xy,
        (1.0, 2.0),
        [(0.0, 1.0), (-2 * math.sqrt(2) / 3, 1 - math.sqrt(3) / 3)],
        [((1.0, 0.5), (2.0, 0.5)), ((1.0, 0.25), (1.5, 0.25))],
        id="xy",
    ),
    pytest.param(
        _grad_x2_xy,
        (1.0, 1.0),
        [(0.0, 0.0), (-math.sqrt(3) / 3, -math.sqrt(3) / 3)],
        [((1.5, 0.5), (4.5, 0.5)), ((0.75, 0.25), (2.25, 0.25))],
        id="x2+xy",
    ),
]


@pytest.mark.parametrize("form", ["explicit", "lr_t"])
@pytest.mark.parametrize(("grad", "start", "points", "moments"), WORKED)
def test_seed_001_worked_adam_examples(fused, form, grad, start, points, moments):
    opt = Adam(lr=1.0, beta1=0.5, beta2=0.5, eps=TINY, form=form, fused=fused)
    params = {"x": np.array(start[0]), "y": np.array(start[1])}
    for (px, py), (m, v) in zip(points, moments, strict=True):
        opt.update(params, grad(params))
        np.testing.assert_allclose(
            [float(params["x"]), float(params["y"])], [px, py], rtol=1e-12, atol=1e-12
        )
        got_m = [float(opt.state[k]["exp_avg"]) for k in "xy"]
        got_v = [float(opt.state[k]["exp_avg_sq"]) for k in "xy"]
        np.testing.assert_allclose(got_m, m, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got_v, v, rtol=1e-12, atol=1e-12)


def test_worked_example_with_the_book_preset_and_lr_override(fused):
    opt = create("adam", preset="book", lr=1.0, beta1=0.5, beta2=0.5, eps=TINY, fused=fused)
    params = {"x": np.array(1.0), "y": np.array(2.0)}
    opt.update(params, _grad_xy(params))
    opt.update(params, _grad_xy(params))
    np.testing.assert_allclose(
        [float(params["x"]), float(params["y"])],
        [-2 * math.sqrt(2) / 3, 1 - math.sqrt(3) / 3],
        rtol=1e-12,
        atol=1e-12,
    )


# ------------------------------------------------------------------ clipping


def _grads(w, b):
    return {"w": np.array(w, dtype=float), "b": np.array(b, dtype=float)}


def test_clip_norm_uses_the_global_norm_over_all_keys(fused):
    # global norm √(1 + 4 + 4) = 3; per-key norms √5 and 2 would both exceed 1.5 too
    opt = SGD(lr=0.1, clip_norm=1.5, fused=fused)
    params = make_params()
    opt.update(params, _grads([1.0, 2.0], 2.0))
    s = 1.5 / (3.0 + 1e-6)
    want = [1.0 - 0.1 * (1.0 * s), -2.0 - 0.1 * (2.0 * s), 0.5 - 0.1 * (2.0 * s)]
    np.testing.assert_allclose(flat(params), want, rtol=RTOL, atol=0)


# torch's clip_grad_norm_ scales by min(1, clip/(norm + 1e-6)): a norm of 3 is left alone
# from clip_norm = 3 + 1e-6 up (test_optim_round7 holds the band just below)
@pytest.mark.parametrize("clip_norm", [3.0 + 1e-6, 3.5, 100.0])
def test_clip_norm_leaves_gradients_within_1e6_below_it_alone(fused, clip_norm):
    opt = SGD(lr=0.1, clip_norm=clip_norm, fused=fused)
    params = make_params()
    opt.update(params, _grads([1.0, 2.0], 2.0))  # norm exactly 3
    want = [1.0 - 0.1 * 1.0, -2.0 - 0.1 * 2.0, 0.5 - 0.1 * 2.0]
    np.testing.assert_array_equal(flat(params), want)


def test_clip_value_clamps_each_element(fused):
    opt = SGD(lr=0.1, clip_value=1.0, fused=fused)
    params = make_params()
    opt.update(params, _grads([0.3, -2.0], 5.0))
    want = [1.0 - 0.1 * 0.3, -2.0 - 0.1 * -1.0, 0.5 - 0.1 * 1.0]
    np.testing.assert_allclose(flat(params), want, rtol=RTOL, atol=0)


def test_clip_norm_then_clip_value(fused):
    # norm 5 → scaled by 2.5/(5 + 1e-6) to ≈ (1.5, −2, 0), then clamped to ±1.8
    opt = SGD(lr=0.1, clip_norm=2.5, clip_value=1.8, fused=fused)
    params = make_params()
    opt.update(params, _grads([3.0, -4.0], 0.0))
    s = 2.5 / (5.0 + 1e-6)
    clipped = [3.0 * s, -1.8, 0.0]
    assert 3.0 * s < 1.8
    want = [P0[i] - 0.1 * clipped[i] for i in range(3)]
    np.testing.assert_allclose(flat(params), want, rtol=RTOL, atol=0)
    # clamping first would give norm √(1.8² + 1.8²) ≈ 2.546 > 2.5 and a different step
    other = 2.5 / (math.sqrt(2 * 1.8**2) + 1e-6)
    assert abs((P0[1] - 0.1 * -1.8 * other) - want[1]) > 1e-4


def test_clipping_happens_before_the_update_and_before_weight_decay(fused):
    # SGD with L2: p ← p − lr·(clip(g) + λp)
    opt = SGD(lr=0.1, weight_decay=0.5, clip_value=0.25, fused=fused)
    params = make_params()
    opt.update(params, _grads([0.3, -0.4], 0.2))
    want = [
        1.0 - 0.1 * (0.25 + 0.5 * 1.0),
        -2.0 - 0.1 * (-0.25 + 0.5 * -2.0),
        0.5 - 0.1 * (0.2 + 0.5 * 0.5),
    ]
    np.testing.assert_allclose(flat(params), want, rtol=RTOL, atol=0)
    # state sees the clipped gradient: Momentum's first b is the clipped g
    clip = 0.5 + 1e-6  # a norm of 0.5 is then not scaled (the factor is exactly 1)
    opt = Momentum(lr=0.1, momentum=0.9, clip_norm=clip, fused=fused)
    params = make_params()
    opt.update(params, _grads([0.3, -0.4], 0.0))  # norm 0.5: not clipped
    np.testing.assert_array_equal(opt.state["w"]["velocity"], [0.3, -0.4])
    opt.update(params, _grads([3.0, -4.0], 0.0))  # norm 5: scaled by clip/(5 + 1e-6)
    s = clip / (5.0 + 1e-6)
    np.testing.assert_allclose(
        opt.state["w"]["velocity"], [0.9 * 0.3 + 3.0 * s, 0.9 * -0.4 + -4.0 * s], rtol=RTOL
    )
    # Adam: m = (1 − β1)·clipped g
    opt = Adam(lr=0.1, beta1=0.8, clip_value=0.1, fused=fused)
    opt.update(make_params(), _grads([0.3, -0.4], 0.05))
    np.testing.assert_allclose(opt.state["w"]["exp_avg"], [0.2 * 0.1, 0.2 * -0.1], rtol=RTOL)
    np.testing.assert_allclose(opt.state["b"]["exp_avg"], 0.2 * 0.05, rtol=RTOL)


@pytest.mark.parametrize(
    "options",
    [{"clip_norm": 1.0}, {"clip_value": 0.1}, {"clip_norm": 1.0, "clip_value": 0.1}],
    ids=["norm", "value", "both"],
)
def test_clipping_does_not_modify_the_callers_gradients(fused, options):
    opt = Adam(lr=0.1, fused=fused, **options)
    params = make_params()
    grads = _grads([3.0, -4.0], 2.0)
    arrays = dict(grads)
    before = copy.deepcopy(grads)
    for _ in range(3):
        opt.update(params, grads)
    assert grads.keys() == before.keys()
    for k in grads:
        assert grads[k] is arrays[k]
        np.testing.assert_array_equal(grads[k], before[k])


# ------------------------------------------------------- non-finite policy


def _snapshot(opt, params):
    state = None if opt.state is None else copy.deepcopy(opt.state)
    return (
        {k: v.copy() for k, v in params.items()},
        state,
        opt.t,
        opt.skipped_steps,
        opt.current_lr,
        copy.deepcopy(getattr(opt, "_scalars", None)),
    )


def _assert_same(a, b):
    pa, sa, *ra = a
    pb, sb, *rb = b
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])
    assert (sa is None) == (sb is None)
    if sa is not None:
        assert sa.keys() == sb.keys()
        for k in sa:
            assert sa[k].keys() == sb[k].keys()
            for n in sa[k]:
                np.testing.assert_array_equal(sa[k][n], sb[k][n])
    assert ra[:3] == rb[:3] or (
        ra[0] == rb[0] and ra[1] == rb[1] and math.isnan(ra[2]) and math.isnan(rb[2])
    )
    assert ra[3] == rb[3]


BAD = [math.nan, math.inf, -math.inf]

NONFINITE_OPTS = [
    ("adam", lambda f, **kw: Adam(lr=0.1, beta1=0.8, beta2=0.7, fused=f, **kw)),
    ("nadam", lambda f, **kw: NAdam(lr=0.1, momentum_decay=0.5, fused=f, **kw)),
    ("momentum-torch", lambda f, **kw: Momentum(lr=0.1, momentum=0.8, fused=f, **kw)),
    ("adagrad-lr-decay", lambda f, **kw: AdaGrad(lr=0.1, lr_decay=0.5, fused=f, **kw)),
    ("radam", lambda f, **kw: RAdam(lr=0.1, fused=f, **kw)),
]


@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("key", ["w", "b"])
@pytest.mark.parametrize("clip", [None, 1.0], ids=["noclip", "clipnorm"])
def test_nonfinite_raise_names_the_key_and_changes_nothing(fused, bad, key, clip):
    opt = Adam(lr=0.1, beta1=0.8, beta2=0.7, clip_norm=clip, fused=fused)
    params = make_params()
    opt.update(params, make_grads(G1))
    before = _snapshot(opt, params)
    g = make_grads(G2)
    if key == "w":
        g["w"][1] = bad
    else:
        g["b"][()] = bad
    with pytest.raises(ValueError, match=rf"grads\['{key}'\]"):
        opt.update(params, g)
    _assert_same(_snapshot(opt, params), before)
    assert opt.t == 1
    assert opt.skipped_steps == 0


def test_nonfinite_raise_on_the_first_step_then_continue_as_new(fused):
    opt = Momentum(lr=0.1, momentum=0.8, fused=fused)
    params = make_params()
    g = make_grads(G1)
    g["w"][0] = math.nan
    with pytest.raises(ValueError, match=r"grads\['w'\]"):
        opt.update(params, g)
    np.testing.assert_array_equal(flat(params), P0)
    assert opt.t == 0
    assert math.isnan(opt.current_lr)
    # the next finite steps are those of a fresh optimizer (b = g on the first)
    actual = run(opt, [G1, G2], params)
    np.testing.assert_allclose(
        actual, expected(_ref(torch_momentum, lr=0.1, mu=0.8)), rtol=RTOL, atol=0
    )


@pytest.mark.parametrize(("name", "factory"), NONFINITE_OPTS, ids=[n for n, _ in NONFINITE_OPTS])
@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("clip", [None, 1.0], ids=["noclip", "clipnorm"])
def test_nonfinite_skip_is_as_if_the_step_never_happened(fused, name, factory, bad, clip):
    opt = factory(fused, nonfinite="skip", clip_norm=clip)
    twin = factory(fused, clip_norm=clip)
    p, q = make_params(), make_params()
    opt.update(p, make_grads(G1))
    twin.update(q, make_grads(G1))
    before = _snapshot(opt, p)
    g = make_grads(G2)
    g["b"][()] = bad
    opt.update(p, g)  # skipped
    after = _snapshot(opt, p)
    assert opt.skipped_steps == 1
    assert opt.t == 1
    # unchanged, except the counter
    _assert_same(after, (*before[:3], 1, *before[4:]))
    for gs in (G2, G1):
        opt.update(p, make_grads(gs))
        twin.update(q, make_grads(gs))
    np.testing.assert_array_equal(flat(p), flat(q))
    for k in opt.state:
        for n in opt.state[k]:
            np.testing.assert_array_equal(opt.state[k][n], twin.state[k][n])
    assert opt.t == twin.t == 3
    assert opt.skipped_steps == 1
    assert opt.current_lr == twin.current_lr


def test_nonfinite_skip_of_the_very_first_step(fused):
    # the step after a skipped first one is still "the first step" (torch b = g)
    opt = Nesterov(lr=0.1, momentum=0.8, nonfinite="skip", fused=fused)
    params = make_params()
    g = make_grads(G1)
    g["w"][0] = math.inf
    opt.update(params, g)
    assert opt.skipped_steps == 1
    assert opt.t == 0
    np.testing.assert_array_equal(flat(params), P0)
    actual = run(opt, [G1, G2], params)
    ref = _ref(torch_momentum, lr=0.1, mu=0.8, nesterov=True)
    np.testing.assert_allclose(actual, expected(ref), rtol=RTOL, atol=0)
    assert opt.skipped_steps == 1


# ---------------------------------------------------------------- schedules


def test_step_schedule_uses_schedule_of_t_minus_1(fused):
    sched = schedules.ExponentialDecay(0.1, 0.5, per="step")
    opt = SGD(lr=sched, fused=fused)
    assert math.isnan(opt.current_lr)
    params = make_params()
    lrs = []
    for g in (G1, G2, G1):
        opt.update(params, make_grads(g))
        lrs.append(opt.current_lr)
    assert lrs == [0.1, 0.05, 0.025]
    p1 = [P0[i] - 0.1 * G1[i] for i in range(3)]
    p2 = [p1[i] - 0.05 * G2[i] for i in range(3)]
    p3 = [p2[i] - 0.025 * G1[i] for i in range(3)]
    np.testing.assert_allclose(flat(params), p3, rtol=RTOL, atol=0)


def test_skipped_steps_do_not_advance_a_step_schedule(fused):
    sched = schedules.ExponentialDecay(0.1, 0.5, per="step")
    opt = SGD(lr=sched, nonfinite="skip", fused=fused)
    params = make_params()
    opt.update(params, make_grads(G1))
    opt.update(params, make_grads((math.nan, 0.0, 0.0)))
    assert opt.current_lr == 0.1
    opt.update(params, make_grads(G2))
    assert opt.current_lr == 0.05


def test_epoch_schedule_reads_opt_epoch(fused):
    sched = schedules.ExponentialDecay(0.1, 0.5, per="epoch")
    opt = SGD(lr=sched, fused=fused)
    params = make_params()
    opt.update(params, make_grads(G1))
    opt.update(params, make_grads(G2))
    assert opt.current_lr == 0.1  # still epoch 0, whatever the step
    opt.epoch = 2
    opt.update(params, make_grads(G1))
    assert opt.current_lr == 0.025
    p2 = [P0[i] - 0.1 * G1[i] - 0.1 * G2[i] for i in range(3)]
    want = [p2[i] - 0.025 * G1[i] for i in range(3)]
    np.testing.assert_allclose(flat(params), want, rtol=RTOL, atol=0)


def test_inverse_time_epoch_schedule_seed_004(fused):
    sched = schedules.InverseTimeDecay(0.2, 1.0, first=1)  # α0/(1 + epoch_num), from 1
    opt = SGD(lr=sched, fused=fused)
    params = make_params()
    for epoch, want in enumerate([0.1, 0.2 / 3, 0.05]):
        opt.epoch = epoch
        opt.update(params, make_grads(G1))
        assert math.isclose(opt.current_lr, want, rel_tol=1e-15)


def test_schedule_inside_the_velocity_book_vs_torch_momentum(fused):
    """Book form keeps old lrs in v; torch form applies the current lr to b."""
    lr1, lr2 = 0.1, 0.05
    book = Momentum(
        lr=schedules.ExponentialDecay(0.1, 0.5, per="step"), momentum=0.8, form="book", fused=fused
    )
    torch = Momentum(lr=schedules.ExponentialDecay(0.1, 0.5, per="step"), momentum=0.8, fused=fused)
    got_book, got_torch = run(book, [G1, G2]), run(torch, [G1, G2])
    for i in range(3):
        v1 = -lr1 * G1[i]
        v2 = 0.8 * v1 - lr2 * G2[i]
        np.testing.assert_allclose(got_book[:, i], [P0[i] + v1, P0[i] + v1 + v2], rtol=RTOL)
        b2 = 0.8 * G1[i] + G2[i]
        t1 = P0[i] - lr1 * G1[i]
        np.testing.assert_allclose(got_torch[:, i], [t1, t1 - lr2 * b2], rtol=RTOL)


def test_schedule_nesterov_torch_book_and_keras_forms_differ(fused):
    """Equal with a constant lr, the three Nesterov forms part with a schedule."""
    lr1, lr2 = 0.1, 0.05

    def make(form):
        sched = schedules.ExponentialDecay(0.1, 0.5, per="step")
        return Nesterov(lr=sched, momentum=0.8, form=form, fused=fused)

    got = {form: run(make(form), [G1, G2]) for form in ("torch", "book", "keras")}
    for i in range(3):
        g1, g2, p = G1[i], G2[i], P0[i]
        # torch: b1 = g1, p1 = p − lr1(g1 + μb1); b2 = μb1 + g2, p2 = p1 − lr2(g2 + μb2)
        t1 = p - lr1 * (g1 + 0.8 * g1)
        t2 = t1 - lr2 * (g2 + 0.8 * (0.8 * g1 + g2))
        # book: v1 = −lr1·g1, p1 = p + μ²v1 − (1 + μ)lr1·g1; v2 = μv1 − lr2·g2, ...
        v1 = -lr1 * g1
        v2 = 0.8 * v1 - lr2 * g2
        k1 = p + 0.8 * 0.8 * v1 - (1 + 0.8) * lr1 * g1
        k2 = k1 + 0.8 * 0.8 * v2 - (1 + 0.8) * lr2 * g2
        # keras: m as book's v; p += μm − lr·g
        e1 = p + (0.8 * v1 - lr1 * g1)
        e2 = e1 + (0.8 * v2 - lr2 * g2)
        np.testing.assert_allclose(got["torch"][:, i], [t1, t2], rtol=RTOL, atol=0)
        np.testing.assert_allclose(got["book"][:, i], [k1, k2], rtol=RTOL, atol=0)
        np.testing.assert_allclose(got["keras"][:, i], [e1, e2], rtol=RTOL, atol=0)
    assert np.max(np.abs(got["torch"][1] - got["keras"][1])) > 1e-4


def test_schedule_with_adagrad_lr_decay_and_adamw_decay(fused):
    lrs = [0.1, 0.05]
    # AdaGrad: lr_t = schedule(t − 1)/(1 + (t − 1)·lr_decay)
    opt = AdaGrad(
        lr=schedules.ExponentialDecay(0.1, 0.5, per="step"), lr_decay=0.5, eps=1e-3, fused=fused
    )
    actual = run(opt, [G1, G2])

    def ada(p, gs):
        out, s = [], 0.0
        for t, g in enumerate(gs, 1):
            s += g * g
            p = p - lrs[t - 1] / (1 + (t - 1) * 0.5) * g / (math.sqrt(s) + 1e-3)
            out.append(p)
        return out

    np.testing.assert_allclose(actual, expected(ada), rtol=RTOL, atol=0)

    # AdamW: θ ← θ − γ_t·λ·θ with the scheduled γ_t (PyTorch)
    opt = AdamW(
        lr=schedules.ExponentialDecay(0.1, 0.5, per="step"),
        beta1=0.8,
        beta2=0.7,
        eps=1e-3,
        weight_decay=0.3,
        fused=fused,
    )
    actual = run(opt, [G1, G2])

    def adamw(p, gs):
        out, m, v = [], 0.0, 0.0
        for t, g in enumerate(gs, 1):
            lr = lrs[t - 1]
            p = p - lr * 0.3 * p
            m = 0.8 * m + 0.2 * g
            v = 0.7 * v + 0.3 * g * g
            p = p - lr * (m / (1 - 0.8**t)) / (math.sqrt(v / (1 - 0.7**t)) + 1e-3)
            out.append(p)
        return out

    np.testing.assert_allclose(actual, expected(adamw), rtol=RTOL, atol=0)
