"""The optimizers, in order of increasing complexity.

Each class owns its hyperparameters and state and loops over the keys; the
maths lives in one kernel per rule (:mod:`gdlab.optim.kernels` for the
readable NumPy, :mod:`gdlab.optim.fused` for the fast path). ``d`` below is the
gradient after L2 weight decay, ``d = g + weight_decay·p``; ``t`` counts
updates from 1. Class defaults are PyTorch's (with momentum 0.9 for
:class:`Momentum` and :class:`Nesterov`); the presets in
:mod:`gdlab.optim.presets` give the seeds' and Keras's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import check_bool, check_choice, check_real, describe, fail
from .base import _FLAT, Optimizer
from .presets import BOOK_EPS, KERAS_EPS
from .registry import register

__all__ = [
    "SGD",
    "AdaGrad",
    "Adadelta",
    "Adam",
    "AdamW",
    "Adamax",
    "Momentum",
    "NAdam",
    "Nesterov",
    "RAdam",
    "RMSprop",
]

_EMPTY = {np.dtype(np.float32): np.empty(0, np.float32), np.dtype(np.float64): np.empty(0)}
_F64 = np.dtype(np.float64)


def _beta(name: str, value: Any) -> float:
    return check_real(name, value, low=0, high=1, high_open=True)


def _eps(value: Any) -> float:
    """ε >= 0, as PyTorch allows; 0 divides 0 by 0 (NaN) where a state is still 0."""
    return _nonneg("eps", value)


def _nonneg(name: str, value: Any) -> float:
    return check_real(name, value, low=0)


class _Stateful(Optimizer):
    """Shared helpers: the state arrays of one key, and the kernels' scalars."""

    def _kernel_args(self, dtype: np.dtype, *values: Any) -> tuple:
        """``values`` as the kernels take them: :meth:`_cast` to the arrays' dtype.

        For float64 arrays and gdlab's numba kernels, ``float(v)`` is the same
        number as ``float64(v)`` and numba types both as float64 (the same
        compiled code, so the same bits), and a Python float is passed faster:
        they go as Python floats, with no memo to fill.
        """
        if dtype is _F64 and self._python_floats:
            return tuple(map(float, values))
        return self._cast(dtype, *values)

    def _buffers(self, key: str) -> list[np.ndarray]:
        flat = self._flat_state_views
        if flat is not None and flat[0] is self.state and key == _FLAT:
            return flat[1]
        state = self.state
        assert state is not None
        cache = self.__dict__.get("_flat_state")
        if cache is None or cache[0] is not state:
            cache = self._flat_state = (state, {})
        views = cache[1].get(key)
        if views is None and key == _FLAT:
            owner, views = self._flat_state_views
            assert owner is state
        elif views is None:
            bufs = state[key]
            views = cache[1][key] = [bufs[name].reshape(-1) for name in self.state_names]
        return views


@register(
    lr_range=(1e-3, 1.0),
    presets={
        "book": {"lr": 0.01},
        "course": {"lr": 0.01},
        "torch": {},
        "keras": {"lr": 0.01},
        "optax": {},
    },
)
class SGD(_Stateful):
    """Gradient descent: batch, mini-batch or stochastic, by the batches you feed it.

    Update::

        p ← p − lr·d

    Args:
        lr: learning rate (float or Schedule), default 1e-3 (PyTorch).
        weight_decay: L2 penalty added to the gradient, default 0.

    >>> import numpy as np
    >>> opt = SGD(lr=0.1)
    >>> params = {"x": np.array([1.0])}
    >>> opt.update(params, {"x": 2 * params["x"]})  # f(x) = x², f' = 2x
    >>> params["x"]
    array([0.8])
    """

    name = "sgd"
    _elementwise = True

    def __init__(self, lr=1e-3, *, weight_decay=0.0, **options) -> None:
        super().__init__(lr, **options)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def _step(self, params, grads, lr) -> None:
        for key, p in params.items():
            self._kernels.sgd_step(
                p, grads[key], *self._kernel_args(p.dtype, lr, self.weight_decay)
            )


@register(
    lr_range=(1e-3, 1.0),
    presets={
        "book": {"lr": 0.01, "momentum": 0.9, "form": "book"},
        "course": {"lr": 0.01, "momentum": 0.9, "form": "ema"},
        "torch": {},
        "keras": {"lr": 0.01, "momentum": 0.9, "form": "book"},
        "optax": {},
    },
)
class Momentum(_Stateful):
    """Gradient descent with momentum, in the three forms the sources use.

    ``form="torch"`` (default; PyTorch's SGD with momentum, heavy ball)::

        b ← μ·b + (1 − dampening)·d     (b ← d on the first step)
        p ← p − lr·b

    ``form="book"`` (seed 001's ``Momentum`` class, and Keras)::

        v ← μ·v − lr·d
        p ← p + v

    ``form="ema"`` (seeds 000/004: an exponentially weighted average)::

        v ← β·v + (1 − β)·d
        p ← p − lr·v

    With a constant lr "torch" and "book" are the same steps; with a schedule
    "book" keeps old learning rates inside the velocity. "ema" takes steps
    (1 − β) times as long as "torch" does.

    Args:
        lr: learning rate, default 1e-3.
        momentum: μ (or β for "ema") in [0, 1), default 0.9.
        form: "torch", "book" or "ema".
        dampening: PyTorch's dampening in [0, 1], "torch" form only, default 0.
        weight_decay: L2 penalty, default 0.

    References:
        Polyak (1964); Sutskever et al. (2013); Ng, Deep Learning Specialization.
    """

    name = "momentum"
    _elementwise = True
    FORMS = ("torch", "book", "ema")
    state_names = ("velocity",)

    def __init__(
        self, lr=1e-3, momentum=0.9, *, form="torch", dampening=0.0, weight_decay=0.0, **options
    ) -> None:
        super().__init__(lr, **options)
        self.momentum = _beta("momentum", momentum)
        self.form = check_choice("form", form, self.FORMS)
        self.dampening = check_real("dampening", dampening, low=0, high=1)
        if self.dampening != 0 and form != "torch":
            fail("dampening", "0 unless form='torch'", dampening)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def _step(self, params, grads, lr) -> None:
        k = self._kernels
        for key, p in params.items():
            (v,) = self._buffers(key)
            if self.form == "torch":
                lr_, mu, wd, c_damp = self._kernel_args(
                    p.dtype, lr, self.momentum, self.weight_decay, 1 - self.dampening
                )
                k.momentum_torch_step(p, grads[key], v, lr_, mu, c_damp, wd, self.t == 1)
                continue
            lr_, mu, wd = self._kernel_args(p.dtype, lr, self.momentum, self.weight_decay)
            if self.form == "book":
                k.momentum_book_step(p, grads[key], v, lr_, mu, wd)
            else:
                (c_beta,) = self._kernel_args(p.dtype, 1 - self.momentum)
                k.momentum_ema_step(p, grads[key], v, lr_, mu, c_beta, wd)


@register(
    lr_range=(1e-3, 1.0),
    presets={
        "book": {"lr": 0.01, "momentum": 0.9, "form": "book"},
        "torch": {},
        "keras": {"lr": 0.01, "momentum": 0.9, "form": "keras"},
        "optax": {},
    },
)
class Nesterov(_Stateful):
    """Nesterov accelerated gradient, in PyTorch's, the book's and Keras's forms.

    ``form="torch"`` (default; ``SGD(nesterov=True)``)::

        b ← μ·b + d     (b ← d on the first step)
        p ← p − lr·(d + μ·b)

    ``form="book"`` (seed 001's ``Nesterov`` class)::

        v ← μ·v − lr·d
        p ← p + μ²·v − (1 + μ)·lr·d

    ``form="keras"`` (Keras ``SGD(nesterov=True)``)::

        v ← μ·v − lr·d
        p ← p + μ·v − lr·d

    ``form="book_fixed"``: the book repository's correction of 2021-01-18,
    which uses the old velocity (Bengio et al. 2012)::

        v_old = v
        v ← μ·v − lr·d
        p ← p − μ·v_old + (1 + μ)·v

    It takes the same steps as ``form="keras"`` (expand ``v``:
    ``−μ·v_old + (1 + μ)(μ·v_old − lr·d) = μ²·v_old − (1 + μ)·lr·d = μ·v − lr·d``)
    and runs on the same kernel. ``preset="book"`` keeps the velocity-first
    form of the printed book and of most copies in circulation.

    Args:
        lr: learning rate, default 1e-3.
        momentum: μ in (0, 1), default 0.9.
        form: "torch", "book", "keras" or "book_fixed".
        weight_decay: L2 penalty, default 0.

    References:
        Nesterov (1983); Sutskever et al. (2013); Bengio et al. (2012).
    """

    name = "nesterov"
    _elementwise = True
    FORMS = ("torch", "book", "keras", "book_fixed")
    state_names = ("velocity",)

    def __init__(self, lr=1e-3, momentum=0.9, *, form="torch", weight_decay=0.0, **options):
        super().__init__(lr, **options)
        self.momentum = check_real(
            "momentum", momentum, low=0, high=1, low_open=True, high_open=True
        )
        self.form = check_choice("form", form, self.FORMS)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def _step(self, params, grads, lr) -> None:
        k = self._kernels
        mu = self.momentum
        for key, p in params.items():
            (v,) = self._buffers(key)
            g = grads[key]
            if self.form == "torch":
                lr_, mu_, wd = self._kernel_args(p.dtype, lr, mu, self.weight_decay)
                k.nesterov_torch_step(p, g, v, lr_, mu_, wd, self.t == 1)
            elif self.form == "book":
                args = self._kernel_args(p.dtype, lr, mu, mu * mu, (1 + mu) * lr, self.weight_decay)
                k.nesterov_book_step(p, g, v, *args)
            else:
                k.nesterov_keras_step(
                    p, g, v, *self._kernel_args(p.dtype, lr, mu, self.weight_decay)
                )


@register(
    lr_range=(1e-3, 1.0),
    presets={
        "book": {"lr": 0.01, "eps": BOOK_EPS},
        "torch": {},
        "keras": {
            "lr": 0.001,
            "initial_accumulator_value": 0.1,
            "eps": KERAS_EPS,
            "eps_inside": True,
        },
        "optax": {"initial_accumulator_value": 0.1, "eps": 1e-7, "eps_inside": True},
    },
)
class AdaGrad(_Stateful):
    """AdaGrad: each coordinate's step shrinks with its summed squared gradients.

    Update::

        h ← h + d²
        p ← p − lr_t·d / (√h + ε)        (√(h + ε) with eps_inside=True)
        lr_t = lr / (1 + (t − 1)·lr_decay)

    Args:
        lr: default 1e-2.
        lr_decay: PyTorch's built-in decay, default 0.
        initial_accumulator_value: h at the start, default 0 (Keras: 0.1).
        eps: default 1e-10 (PyTorch; the book uses 1e-7).
        eps_inside: put ε under the root (Keras), default False.
        weight_decay: L2 penalty, default 0.

    References:
        Duchi, Hazan & Singer (2011).
    """

    name = "adagrad"
    _elementwise = True
    state_names = ("sum",)
    nonnegative_states = frozenset({"sum"})

    def __init__(
        self,
        lr=1e-2,
        *,
        lr_decay=0.0,
        initial_accumulator_value=0.0,
        eps=1e-10,
        eps_inside=False,
        weight_decay=0.0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.lr_decay = _nonneg("lr_decay", lr_decay)
        self.initial_accumulator_value = _nonneg(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.eps = _eps(eps)
        self.eps_inside = check_bool("eps_inside", eps_inside)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def _initial_value(self, name: str) -> float:
        return self.initial_accumulator_value

    def _step(self, params, grads, lr) -> None:
        clr = lr / (1 + (self.t - 1) * self.lr_decay)
        for key, p in params.items():
            (h,) = self._buffers(key)
            clr_, eps, wd = self._kernel_args(p.dtype, clr, self.eps, self.weight_decay)
            self._kernels.adagrad_step(p, grads[key], h, clr_, eps, wd, self.eps_inside)


@register(
    lr_range=(1e-4, 1e-1),
    tunable={"decay": "alpha"},
    presets={
        "book": {"lr": 0.01, "alpha": 0.99, "eps": BOOK_EPS},
        "course": {"lr": 0.01, "alpha": 0.999, "eps": 1e-8},
        "torch": {},
        "keras": {"lr": 0.001, "alpha": 0.9, "eps": KERAS_EPS, "eps_inside": True},
        "optax": {"alpha": 0.9, "eps": 1e-8, "eps_inside": True},
    },
)
class RMSprop(_Stateful):
    """RMSprop: divide by a running root mean square of the gradient.

    Update::

        s ← α·s + (1 − α)·d²
        p ← p − lr·d / (√s + ε)            (√(s + ε) with eps_inside=True)

    ``centered=True`` keeps ``ḡ ← α·ḡ + (1 − α)·d`` and uses ``s − ḡ²`` for
    ``s`` in the root; ``momentum=μ > 0`` accumulates ``b ← μ·b + d/(√s + ε)``
    and steps ``p ← p − lr·b`` (PyTorch).

    Args:
        lr: default 1e-2.
        alpha: the average's decay α in [0, 1), default 0.99 (book "decay_rate";
            course β, 0.999 in its preset).
        eps: default 1e-8 (book 1e-7).
        eps_inside: ε under the root, as seed 004 and Keras write it.
        centered: default False.
        momentum: μ in [0, 1), default 0.
        weight_decay: L2 penalty, default 0.

    References:
        Hinton, Neural Networks for Machine Learning, lecture 6e (2012).
    """

    name = "rmsprop"
    _elementwise = True
    nonnegative_states = frozenset({"square_avg"})

    def __init__(
        self,
        lr=1e-2,
        alpha=0.99,
        *,
        eps=1e-8,
        eps_inside=False,
        centered=False,
        momentum=0.0,
        weight_decay=0.0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.alpha = _beta("alpha", alpha)
        self.eps = _eps(eps)
        self.eps_inside = check_bool("eps_inside", eps_inside)
        self.centered = check_bool("centered", centered)
        self.momentum = _beta("momentum", momentum)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.state_names = (
            ("square_avg",)
            + (("grad_avg",) if self.centered else ())
            + (("momentum_buffer",) if self.momentum else ())
        )

    def _step(self, params, grads, lr) -> None:
        names = self.state_names
        for key, p in params.items():
            views = self._buffers(key)
            empty = _EMPTY[p.dtype]
            if names == ("square_avg",):  # plain RMSprop, the usual case
                bufs = {"square_avg": views[0]}
            else:
                bufs = dict(zip(names, views, strict=True))
            lr_, alpha, c_alpha, eps, wd, mu = self._kernel_args(
                p.dtype, lr, self.alpha, 1 - self.alpha, self.eps, self.weight_decay, self.momentum
            )
            self._kernels.rmsprop_step(
                p,
                grads[key],
                bufs["square_avg"],
                bufs.get("grad_avg", empty),
                bufs.get("momentum_buffer", empty),
                lr_,
                alpha,
                c_alpha,
                eps,
                wd,
                self.eps_inside,
                self.centered,
                mu,
            )


@register(
    lr_range=(1e-2, 10.0),
    tunable={"decay": "rho"},
    presets={"torch": {}, "keras": {"lr": 0.001, "rho": 0.95, "eps": KERAS_EPS}, "optax": {}},
)
class Adadelta(_Stateful):
    """Adadelta: steps scaled by the ratio of running RMS of updates and gradients.

    Update::

        s ← ρ·s + (1 − ρ)·d²
        Δ ← √(a + ε) / √(s + ε) · d
        a ← ρ·a + (1 − ρ)·Δ²
        p ← p − lr·Δ

    Args:
        lr: default 1.0 (PyTorch; Keras 1e-3).
        rho: ρ in [0, 1), default 0.9 (Keras 0.95).
        eps: default 1e-6 (Keras 1e-7).
        weight_decay: L2 penalty, default 0.

    References:
        Zeiler (2012), arXiv:1212.5701.
    """

    name = "adadelta"
    _elementwise = True
    state_names = ("square_avg", "acc_delta")
    nonnegative_states = frozenset({"square_avg", "acc_delta"})

    def __init__(self, lr=1.0, rho=0.9, *, eps=1e-6, weight_decay=0.0, **options) -> None:
        super().__init__(lr, **options)
        self.rho = _beta("rho", rho)
        self.eps = _eps(eps)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def _step(self, params, grads, lr) -> None:
        for key, p in params.items():
            s, a = self._buffers(key)
            args = self._kernel_args(
                p.dtype, lr, self.rho, 1 - self.rho, self.eps, self.weight_decay
            )
            self._kernels.adadelta_step(p, grads[key], s, a, *args)


@register(
    lr_range=(1e-4, 1e-1),
    presets={
        "book": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "form": "lr_t", "eps": BOOK_EPS},
        "course": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "form": "explicit", "eps": 1e-8},
        "torch": {},
        "keras": {"lr": 0.001, "form": "lr_t", "eps": KERAS_EPS},
        "optax": {"amsgrad_corrected": True},
    },
)
class Adam(_Stateful):
    """Adam: momentum on the gradient and RMSprop on its square, bias-corrected.

    ``form="explicit"`` (default; seeds 000/004, PyTorch)::

        m ← β1·m + (1 − β1)·d               v ← β2·v + (1 − β2)·d²
        m̂ = m / (1 − β1^t)                  v̂ = v / (1 − β2^t)
        p ← p − lr·m̂ / (√v̂ + ε)             (√(v̂ + ε) with eps_inside=True, seed 004)

    ``form="lr_t"`` (seed 001's book class, Keras): the correction moves into
    the learning rate and ε meets the uncorrected v::

        lr_t = lr·√(1 − β2^t) / (1 − β1^t)
        p ← p − lr_t·m / (√v + ε)

    ``bias_correction=False`` uses m and v as they are; ``amsgrad=True`` uses
    the running maximum of v (Reddi et al.) in the denominator, taken over the
    raw v and then corrected (PyTorch), or over the corrected v̂ with
    ``amsgrad_corrected=True`` (optax's ``amsgrad``)::

        v̂max ← max(v̂max, v / (1 − β2^t))
        p ← p − lr·m̂ / (√v̂max + ε)

    Args:
        lr: default 1e-3.
        beta1, beta2: in [0, 1), default 0.9 and 0.999.
        eps: default 1e-8 (book and Keras 1e-7).
        form: "explicit" or "lr_t".
        bias_correction: default True.
        eps_inside: default False.
        amsgrad: default False.
        amsgrad_corrected: the maximum over v̂ (optax) rather than v
            (PyTorch), default False; explicit form only (refused with
            ``amsgrad=True`` and ``form="lr_t"``; without amsgrad it has no effect).
        weight_decay: L2 penalty added to the gradient (not AdamW's), default 0.

    References:
        Kingma & Ba (2015), arXiv:1412.6980; Reddi et al. (2018), "On the
        Convergence of Adam and Beyond".

    >>> import numpy as np
    >>> opt = Adam(lr=1.0, beta1=0.5, beta2=0.5, eps=1e-12)
    >>> params = {"x": np.array(1.0), "y": np.array(2.0)}  # f(x, y) = x·y (seed 001)
    >>> opt.update(params, {"x": params["y"].copy(), "y": params["x"].copy()})
    >>> [round(float(params[k]), 9) for k in "xy"]
    [0.0, 1.0]
    """

    name = "adam"
    _elementwise = True
    FORMS = ("explicit", "lr_t")
    nonnegative_states = frozenset({"exp_avg_sq", "max_exp_avg_sq"})
    _decoupled = False

    def __init__(
        self,
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-8,
        form="explicit",
        bias_correction=True,
        eps_inside=False,
        amsgrad=False,
        amsgrad_corrected=False,
        weight_decay=0.0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.form = check_choice("form", form, self.FORMS)
        self.bias_correction = check_bool("bias_correction", bias_correction)
        self.eps_inside = check_bool("eps_inside", eps_inside)
        self.amsgrad = check_bool("amsgrad", amsgrad)
        self.amsgrad_corrected = check_bool("amsgrad_corrected", amsgrad_corrected)
        if self.amsgrad and self.amsgrad_corrected and form != "explicit":
            # without amsgrad it has no effect, so optax's preset may set it in either form
            allowed = f"{describe(False)} when amsgrad={describe(True)} and form='lr_t'"
            fail("amsgrad_corrected", f"{allowed} (the maximum over v̂ needs form='explicit')",
                 amsgrad_corrected)  # fmt: skip
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.state_names = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())

    def _step(self, params, grads, lr) -> None:
        b1, b2, t = self.beta1, self.beta2, self.t
        bc1, bc2 = (1 - b1**t, 1 - b2**t) if self.bias_correction else (1.0, 1.0)
        if self.form == "explicit":
            step_size, sqrt_bc2 = lr / bc1, math.sqrt(bc2)
        else:
            step_size, sqrt_bc2, bc2 = lr * math.sqrt(bc2) / bc1, 1.0, 1.0
        wd, decay = (0.0, 1 - lr * self.weight_decay) if self._decoupled else (self.weight_decay, 1)
        amsgrad = (2 if self.amsgrad_corrected else 1) if self.amsgrad else 0
        kernel, eps, eps_inside = self._kernels.adam_step, self.eps, self.eps_inside
        for key, p in params.items():
            views = self._buffers(key)
            vmax = views[2] if len(views) > 2 else _EMPTY[p.dtype]
            scalars = self._kernel_args(
                p.dtype, step_size, b1, 1 - b1, b2, 1 - b2, eps, sqrt_bc2, bc2, wd, decay
            )
            kernel(p, grads[key], views[0], views[1], vmax, *scalars, amsgrad, eps_inside)


@register(
    lr_range=(1e-4, 1e-1),
    presets={
        "torch": {},
        "keras": {"lr": 0.001, "form": "lr_t", "eps": KERAS_EPS, "weight_decay": 0.004},
        "optax": {"weight_decay": 1e-4, "amsgrad_corrected": True},
    },
)
class AdamW(Adam):
    """Adam with decoupled weight decay: the parameters shrink first, apart from the gradient.

    Update (``form="explicit"``; the other options as :class:`Adam`)::

        p ← p·(1 − lr·weight_decay)
        m ← β1·m + (1 − β1)·g               v ← β2·v + (1 − β2)·g²
        m̂ = m / (1 − β1^t)                  v̂ = v / (1 − β2^t)
        p ← p − lr·m̂ / (√v̂ + ε)

    The decay never passes through m and v (Adam's L2 term would, and would
    then be divided by √v̂ like the gradient).

    Args:
        weight_decay: decoupled decay rate, default 1e-2 (PyTorch; Keras 4e-3).
        The rest as :class:`Adam`.

    References:
        Loshchilov & Hutter (2019), arXiv:1711.05101.
    """

    name = "adamw"
    _elementwise = True
    _decoupled = True

    def __init__(
        self,
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-8,
        weight_decay=1e-2,
        form="explicit",
        bias_correction=True,
        eps_inside=False,
        amsgrad=False,
        amsgrad_corrected=False,
        **options,
    ) -> None:
        super().__init__(
            lr,
            beta1,
            beta2,
            eps=eps,
            form=form,
            bias_correction=bias_correction,
            eps_inside=eps_inside,
            amsgrad=amsgrad,
            amsgrad_corrected=amsgrad_corrected,
            weight_decay=weight_decay,
            **options,
        )


@register(
    lr_range=(1e-4, 1e-1),
    presets={
        "torch": {},
        "keras": {"lr": 0.001, "eps": KERAS_EPS, "eps_inside": False},
        # optax's scale_by_adamax: u ← max(|d| + ε, β2·u), ε inside the max as PyTorch
        "optax": {},
    },
)
class Adamax(_Stateful):
    """Adamax: Adam with the infinity norm in place of the root mean square.

    Update (``eps_inside=True``, PyTorch and optax, the default)::

        m ← β1·m + (1 − β1)·d
        u ← max(β2·u, |d| + ε)
        p ← p − lr/(1 − β1^t) · m/u

    ``eps_inside=False`` (Keras): ``u ← max(β2·u, |d|)``, ``p ← p − lr/(1 − β1^t) · m/(u + ε)``.

    Args:
        lr: default 2e-3. beta1, beta2: default 0.9, 0.999. eps: default 1e-8.
        eps_inside: ε inside the max (default) or added to u.
        weight_decay: L2 penalty, default 0.

    References:
        Kingma & Ba (2015), section 7.1.
    """

    name = "adamax"
    _elementwise = True
    state_names = ("exp_avg", "exp_inf")
    nonnegative_states = frozenset({"exp_inf"})

    def __init__(
        self,
        lr=2e-3,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-8,
        eps_inside=True,
        weight_decay=0.0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.eps_inside = check_bool("eps_inside", eps_inside)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def _step(self, params, grads, lr) -> None:
        step_size = lr / (1 - self.beta1**self.t)
        for key, p in params.items():
            m, u = self._buffers(key)
            args = self._kernel_args(
                p.dtype, step_size, self.beta1, 1 - self.beta1, self.beta2, self.eps,
                self.weight_decay,
            )  # fmt: skip
            self._kernels.adamax_step(p, grads[key], m, u, *args, self.eps_inside)


@register(
    lr_range=(1e-4, 1e-1),
    # Keras's μ_t = β1(1 − ½·0.96^t): PyTorch's 0.96^(t·ψ) with ψ = 1.
    presets={
        "torch": {},
        "keras": {"lr": 0.001, "eps": KERAS_EPS, "momentum_decay": 1.0},
        "optax": {"momentum_schedule": False},
    },
)
class NAdam(_Stateful):
    """NAdam: Adam with Nesterov momentum and a momentum warm-up schedule.

    Update::

        μ_t = β1·(1 − ½·0.96^(t·ψ))          (ψ = momentum_decay; β1 if no momentum_schedule)
        m ← β1·m + (1 − β1)·d                v ← β2·v + (1 − β2)·d²
        denom = √(v / (1 − β2^t)) + ε
        p ← p − lr·(1 − μ_t)/(1 − Π_{i≤t} μ_i)·d/denom
              − lr·μ_{t+1}/(1 − Π_{i≤t+1} μ_i)·m/denom

    Args:
        lr: default 2e-3. beta1, beta2: default 0.9, 0.999. eps: default 1e-8.
        momentum_decay: ψ, default 4e-3.
        momentum_schedule: default True (PyTorch, Keras); False holds
            μ_t = β1 at every step, as optax's ``nadam`` does.
        weight_decay: default 0; L2 unless decoupled_weight_decay=True (then
            ``p ← p·(1 − lr·weight_decay)`` first, as AdamW).

    References:
        Dozat (2016), "Incorporating Nesterov Momentum into Adam".
    """

    name = "nadam"
    _elementwise = True
    state_names = ("exp_avg", "exp_avg_sq")
    nonnegative_states = frozenset({"exp_avg_sq"})

    def __init__(
        self,
        lr=2e-3,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-8,
        momentum_decay=4e-3,
        momentum_schedule=True,
        weight_decay=0.0,
        decoupled_weight_decay=False,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.momentum_decay = _nonneg("momentum_decay", momentum_decay)
        self.momentum_schedule = check_bool("momentum_schedule", momentum_schedule)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.decoupled_weight_decay = check_bool("decoupled_weight_decay", decoupled_weight_decay)

    def _init_scalars(self) -> dict[str, float]:
        return {"mu_product": 1.0}

    def _checked_scalars(self, scalars: Any, *, has_state: bool) -> dict[str, float]:
        # Π μ_i of μ_i in [0, 1): a saved product outside [0, 1] was tampered
        # with (and one of 1/μ_{t+1} would divide by zero in the step).
        checked = super()._checked_scalars(scalars, has_state=has_state)
        if "mu_product" in checked:
            check_real("state_dict['scalars']['mu_product']", checked["mu_product"], low=0, high=1)
        return checked

    def _step(self, params, grads, lr) -> None:
        b1, b2, t, psi = self.beta1, self.beta2, self.t, self.momentum_decay
        if self.momentum_schedule:
            mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
            mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        else:
            mu = mu_next = b1
        mu_product = self._scalars["mu_product"] * mu
        self._scalars["mu_product"] = mu_product
        c_grad = lr * (1.0 - mu) / (1.0 - mu_product)
        c_m = lr * mu_next / (1.0 - mu_product * mu_next)
        wd, decay = self.weight_decay, 1.0
        if self.decoupled_weight_decay:
            wd, decay = 0.0, 1 - lr * self.weight_decay
        for key, p in params.items():
            m, v = self._buffers(key)
            args = self._kernel_args(
                p.dtype, b1, 1 - b1, b2, 1 - b2, self.eps, 1 - b2**t, c_grad, c_m, wd, decay
            )
            self._kernels.nadam_step(p, grads[key], m, v, *args)


@register(lr_range=(1e-4, 1e-1), presets={"torch": {}, "optax": {"eps_corrected": True}})
class RAdam(_Stateful):
    """RAdam: Adam whose adaptive step is switched on once its variance is tractable.

    Update::

        m, v as Adam;  ρ∞ = 2/(1 − β2) − 1;  ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t)
        if ρ_t > 5:  r = √((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
                     p ← p − lr·m̂ · √(1 − β2^t)/(√v + ε) · r
        else:        p ← p − lr·m̂                (m̂ = m/(1 − β1^t))

    ``eps_corrected=True`` (optax) adds ε to √v̂ instead::

        p ← p − lr·m̂ · r/(√v̂ + ε)          (v̂ = v/(1 − β2^t))

    Args:
        lr: default 1e-3. beta1, beta2: default 0.9, 0.999. eps: default 1e-8.
        eps_corrected: ε on √v̂ (optax) rather than √v (PyTorch), default False.
        weight_decay: default 0; L2 unless decoupled_weight_decay=True.

    References:
        Liu et al. (2020), "On the Variance of the Adaptive Learning Rate and
        Beyond", arXiv:1908.03265.
    """

    name = "radam"
    _elementwise = True
    state_names = ("exp_avg", "exp_avg_sq")
    nonnegative_states = frozenset({"exp_avg_sq"})

    def __init__(
        self,
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-8,
        eps_corrected=False,
        weight_decay=0.0,
        decoupled_weight_decay=False,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.eps_corrected = check_bool("eps_corrected", eps_corrected)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.decoupled_weight_decay = check_bool("decoupled_weight_decay", decoupled_weight_decay)

    def _step(self, params, grads, lr) -> None:
        b1, b2, t = self.beta1, self.beta2, self.t
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * (b2**t) / bc2
        rectify = rho_t > 5.0
        rect = (
            math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            if rectify
            else 0.0
        )
        wd, decay = self.weight_decay, 1.0
        if self.decoupled_weight_decay:
            wd, decay = 0.0, 1 - lr * self.weight_decay
        for key, p in params.items():
            m, v = self._buffers(key)
            args = self._kernel_args(
                p.dtype, b1, 1 - b1, b2, 1 - b2, self.eps, lr, bc1, math.sqrt(bc2), rect, wd,
                decay,
            )  # fmt: skip
            self._kernels.radam_step(p, grads[key], m, v, *args, rectify, self.eps_corrected)
