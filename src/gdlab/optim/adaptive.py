"""Modern adaptive and sign-based optimizers: Lion, Signum, AdaBelief, Yogi, ADOPT, AdEMAMix, Adan.

In order of increasing complexity. Each class owns its hyperparameters and
state and computes the per-step scalars (bias corrections ``bc = 1 − β^t``,
warm-ups, clip values); the element-wise maths lives in one kernel per rule,
readable in :mod:`gdlab.optim.adaptive_kernels` and fused in
:mod:`gdlab.optim.adaptive_fused`. ``t`` counts updates from 1; ``g`` is the
gradient (after clipping, negated with ``maximize=True``).

The reference for every rule is optax 0.2.8 (and Keras 3 for Lion; the
authors' code for Adan's default form): ``scripts/record_adaptive.py``
records their trajectories and ``tests/test_adaptive.py`` replays them.
Class defaults are optax's; optax has no default learning rate, so each
class takes the one its paper or authors' code recommends.
"""

from __future__ import annotations

import math

from gdlab._lazy import lazy

from .._checks import check_bool, check_choice, check_int, fail
from . import adaptive_kernels
from .optimizers import _EMPTY, _beta, _eps, _nonneg, _Stateful
from .registry import register

# numba's kernels, imported at their first call (gdlab._lazy)
adaptive_fused = lazy(__name__, "adaptive_fused", "gdlab.optim.adaptive_fused")

__all__ = ["ADOPT", "AdEMAMix", "AdaBelief", "Adan", "Lion", "Signum", "Yogi"]

_KERNELS = (adaptive_kernels, adaptive_fused)


class _Adaptive(_Stateful):
    """The kernel pair of this module."""

    kernel_modules = _KERNELS


@register(lr_range=(1e-5, 1e-2), presets={"optax": {}})
class Signum(_Adaptive):
    """Signum: the sign of a momentum of the gradient; ``momentum=0`` is signSGD.

    Update::

        d = g + weight_decay·p
        m ← μ·m + (1 − μ)·d
        p ← p − lr·sign(m)

    With ``momentum=0`` there is no buffer and the step is
    ``p ← p − lr·sign(d)`` (signSGD, optax's ``sign_sgd``). Every coordinate
    moves by exactly lr (or not at all where the sign is 0), so lr is the
    step length: take it about 10 times smaller than Adam's.

    Args:
        lr: default 1e-4 (optax has no default).
        momentum: μ in [0, 1), default 0.9 (optax's ``beta``).
        weight_decay: L2 penalty added to the gradient before the average
            (optax: ``chain(add_decayed_weights(wd), signum(...))``), default 0.

    References:
        Bernstein et al. (2018), "signSGD: Compressed Optimisation for
        Non-Convex Problems", arXiv:1802.04434 (Signum, Algorithm 3).
        Matched: ``optax.signum`` (no debiasing: the sign needs none) and
        ``optax.sign_sgd``.

    >>> import numpy as np
    >>> opt = Signum(lr=0.1, momentum=0.0)
    >>> params = {"x": np.array([1.0, -2.0, 0.5])}
    >>> opt.update(params, {"x": np.array([3.0, -0.01, 0.0])})
    >>> params["x"]
    array([ 0.9, -1.9,  0.5])
    """

    name = "signum"
    _elementwise = True

    def __init__(self, lr=1e-4, momentum=0.9, *, weight_decay=0.0, **options) -> None:
        super().__init__(lr, **options)
        self.momentum = _beta("momentum", momentum)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.state_names = ("momentum_buffer",) if self.momentum != 0 else ()

    def _step(self, params, grads, lr) -> None:
        mu, use_momentum = self.momentum, self.momentum != 0
        for key, p in params.items():
            bufs = self._buffers(key)
            m = bufs[0] if use_momentum else _EMPTY[p.dtype]
            args = self._cast(p.dtype, lr, mu, 1 - mu, self.weight_decay)
            self._kernels.signum_step(p, grads[key], m, *args, use_momentum)


@register(lr_range=(1e-5, 1e-2), presets={"optax": {}, "keras": {"lr": 1e-3, "weight_decay": 0.0}})
class Lion(_Adaptive):
    """Lion (EvoLved Sign Momentum): a sign step on a blend of momentum and gradient.

    Update::

        c = β1·m + (1 − β1)·g
        p ← p − lr·(sign(c) + weight_decay·p)
        m ← β2·m + (1 − β2)·g

    The weight decay is decoupled and scaled by lr (optax's and Keras's
    ``p ← p − lr·weight_decay·p``, Keras applying it first: the same step).
    Steps are lr long in every coordinate: lr is typically 3–10 times smaller
    than AdamW's, and weight_decay as many times larger.

    Args:
        lr: default 1e-4 (optax has none; Keras 1e-3).
        beta1: β1 in [0, 1), the blend for the step, default 0.9.
        beta2: β2 in [0, 1), the momentum's decay, default 0.99.
        weight_decay: decoupled decay, default 1e-3 (optax's; Keras: none).

    Presets: ``"optax"`` (the defaults) and ``"keras"`` (lr 1e-3, no decay).

    References:
        Chen et al. (2023), "Symbolic Discovery of Optimization Algorithms",
        arXiv:2302.06675. Matched: ``optax.lion`` and ``keras.optimizers.Lion``.
    """

    name = "lion"
    _elementwise = True
    state_names = ("exp_avg",)

    def __init__(self, lr=1e-4, beta1=0.9, beta2=0.99, *, weight_decay=1e-3, **options) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def _step(self, params, grads, lr) -> None:
        b1, b2 = self.beta1, self.beta2
        for key, p in params.items():
            (m,) = self._buffers(key)
            args = self._cast(p.dtype, lr, b1, 1 - b1, b2, 1 - b2, self.weight_decay)
            self._kernels.lion_step(p, grads[key], m, *args)


@register(lr_range=(1e-4, 1e-1), presets={"optax": {}})
class AdaBelief(_Adaptive):
    """AdaBelief: Adam whose second moment tracks the gradient's deviation from m.

    Update::

        m ← β1·m + (1 − β1)·g
        s ← β2·s + (1 − β2)·(g − m)² + ε_root
        m̂ = m / (1 − β1^t)
        ŝ = s / (1 − β2^t)
        p ← p − lr·m̂ / (√ŝ + ε)

    ``ε_root`` is added to s at every step (so it accumulates in s, as in the
    paper's algorithm and optax). ``nesterov=True`` uses
    ``m̂ = β1·m/(1 − β1^(t+1)) + (1 − β1)·g/(1 − β1^t)`` (optax).

    Args:
        lr: default 1e-3 (the authors' code; optax has none).
        beta1, beta2: in [0, 1), default 0.9 and 0.999.
        eps: ε outside the root, default 1e-16 (optax; the paper 1e-8).
        eps_root: ε_root added to s, default 1e-16 (optax; the paper's ε).
        nesterov: default False.

    References:
        Zhuang et al. (2020), "AdaBelief Optimizer: Adapting Stepsizes by the
        Belief in Observed Gradients", arXiv:2010.07468. Matched: ``optax.adabelief``.
    """

    name = "adabelief"
    _elementwise = True
    state_names = ("exp_avg", "exp_avg_var")
    nonnegative_states = frozenset({"exp_avg_var"})

    def __init__(
        self,
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-16,
        eps_root=1e-16,
        nesterov=False,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.eps_root = _nonneg("eps_root", eps_root)
        self.nesterov = check_bool("nesterov", nesterov)

    def _step(self, params, grads, lr) -> None:
        b1, b2, t = self.beta1, self.beta2, self.t
        scalars = (lr, b1, 1 - b1, b2, 1 - b2, self.eps, self.eps_root)
        corrections = (1 - b1**t, 1 - b2**t)
        for key, p in params.items():
            m, s = self._buffers(key)
            args = self._cast(p.dtype, *scalars, *corrections)
            (bc1_next,) = self._cast(p.dtype, 1 - b1 ** (t + 1))
            self._kernels.adabelief_step(p, grads[key], m, s, *args, self.nesterov, bc1_next)


@register(lr_range=(1e-4, 1e-1), presets={"optax": {}})
class Yogi(_Adaptive):
    """Yogi: Adam whose second moment moves additively, by at most (1 − β2)·g².

    Update::

        m ← β1·m + (1 − β1)·g
        v ← v − (1 − β2)·sign(v − g²)·g²
        m̂ = m / (1 − β1^t)
        v̂ = v / (1 − β2^t)
        p ← p − lr·m̂ / (√(v̂ + ε_root) + ε)

    Both m and v start at ``initial_accumulator_value`` (optax's
    ``scale_by_yogi``), not at 0, and both are bias-corrected.

    Args:
        lr: default 1e-2 (the paper's; optax has none).
        beta1, beta2: in [0, 1), default 0.9 and 0.999.
        eps: default 1e-3 (the paper's and optax's).
        eps_root: added under the root, default 0.
        initial_accumulator_value: m and v at the start, default 1e-6.

    References:
        Zaheer et al. (2018), "Adaptive Methods for Nonconvex Optimization",
        NeurIPS. Matched: ``optax.yogi`` (``optax.scale_by_yogi`` for
        eps_root and initial_accumulator_value).
    """

    name = "yogi"
    _elementwise = True
    state_names = ("exp_avg", "exp_avg_sq")
    nonnegative_states = frozenset({"exp_avg_sq"})

    def __init__(
        self,
        lr=1e-2,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-3,
        eps_root=0.0,
        initial_accumulator_value=1e-6,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.eps_root = _nonneg("eps_root", eps_root)
        self.initial_accumulator_value = _nonneg(
            "initial_accumulator_value", initial_accumulator_value
        )

    def _initial_value(self, name: str) -> float:
        return self.initial_accumulator_value

    def _step(self, params, grads, lr) -> None:
        b1, b2, t = self.beta1, self.beta2, self.t
        scalars = (lr, b1, 1 - b1, 1 - b2, self.eps, self.eps_root, 1 - b1**t, 1 - b2**t)
        for key, p in params.items():
            m, v = self._buffers(key)
            self._kernels.yogi_step(p, grads[key], m, v, *self._cast(p.dtype, *scalars))


@register(lr_range=(1e-4, 1e-1), presets={"optax": {}})
class ADOPT(_Adaptive):
    """ADOPT: Adam that normalises by the *previous* second moment, before the momentum.

    Update (t ≥ 2)::

        x = g / max(√v, ε)
        x ← clip(x, −(t − 1)^¼, (t − 1)^¼)
        v ← β2·v + (1 − β2)·g²
        m ← β1·m + (1 − β1)·x
        p ← p − lr·m

    The first update only sets ``v ← g²`` and leaves p unchanged (the paper's
    step 0, and optax's first call, which uses β1 = 1, β2 = 0 and a clip of
    0 then). ``use_clipping=False`` drops the clip (the paper's plain
    algorithm); ``nesterov=True`` steps ``p ← p − lr·(β1·m + (1 − β1)·x)``.
    There is no bias correction.

    Args:
        lr: default 1e-3 (the authors' code; optax has none).
        beta1, beta2: in [0, 1), default 0.9 and 0.9999.
        eps: floor of √v, default 1e-6.
        nesterov: default False.
        use_clipping: clip x to ±(t − 1)^¼, default True (optax's
            ``clip_value_fn = lambda count: count**0.25`` at count = t − 1).

    References:
        Taniguchi et al. (2024), "ADOPT: Modified Adam Can Converge with Any β2
        with the Optimal Rate", NeurIPS, arXiv:2411.02853. Matched:
        ``optax.contrib.adopt``.
    """

    name = "adopt"
    _elementwise = True
    state_names = ("exp_avg", "exp_avg_sq")
    nonnegative_states = frozenset({"exp_avg_sq"})

    def __init__(
        self,
        lr=1e-3,
        beta1=0.9,
        beta2=0.9999,
        *,
        eps=1e-6,
        nesterov=False,
        use_clipping=True,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.nesterov = check_bool("nesterov", nesterov)
        self.use_clipping = check_bool("use_clipping", use_clipping)

    def _step(self, params, grads, lr) -> None:
        b1, b2, t = self.beta1, self.beta2, self.t
        if t == 1:  # v ← g², and nothing else moves
            scalars = (lr, 1.0, 0.0, 0.0, 1.0, self.eps, 0.0)
        else:
            scalars = (lr, b1, 1 - b1, b2, 1 - b2, self.eps, (t - 1) ** 0.25)
        for key, p in params.items():
            m, v = self._buffers(key)
            args = self._cast(p.dtype, *scalars)
            self._kernels.adopt_step(p, grads[key], m, v, *args, self.use_clipping, self.nesterov)


@register(lr_range=(1e-4, 1e-1), presets={"optax": {}})
class AdEMAMix(_Adaptive):
    """AdEMAMix: Adam whose numerator mixes in a slow momentum, α times.

    Update::

        m1 ← β1·m1 + (1 − β1)·g
        m2 ← β3_t·m2 + (1 − β3_t)·g
        v ← β2·v + (1 − β2)·g²
        m̂1 = m1 / (1 − β1^t)
        v̂ = v / (1 − β2^t)
        p ← p − lr·((m̂1 + α_t·m2) / (√(v̂ + ε_root) + ε) + weight_decay·p)

    The slow momentum m2 is not bias-corrected. Without warm-up
    ``α_t = α`` and ``β3_t = β3``; the paper's warm-ups, over
    ``alpha_warmup`` and ``beta3_warmup`` steps, are evaluated at optax's
    count ``s = t − 1``::

        α_t = α·min(s / T_α, 1)
        a = min(s / T_β3, 1)
        β3_t = min(exp(ln β1·ln β3 / ((1 − a)·ln β3 + a·ln β1)), β3)

    (β3_t grows from β1 to β3 linearly in the half-life 1/ln β.)

    Args:
        lr: default 1e-3 (the authors' code; optax has none).
        beta1, beta2, beta3: in [0, 1), default 0.9, 0.999, 0.9999.
        alpha: α ≥ 0, default 5.0 (``optax.contrib.ademamix``).
        eps: default 1e-8. eps_root: under the root, default 0.
        weight_decay: decoupled, scaled by lr, default 0.
        alpha_warmup: T_α in steps, 0 (default) for none.
        beta3_warmup: T_β3 in steps, 0 (default) for none; needs β1, β3 > 0.

    References:
        Pagliardini, Ablin & Grangier (2024), "The AdEMAMix Optimizer: Better,
        Faster, Older", arXiv:2409.03137. Matched: ``optax.contrib.ademamix``
        (with the paper's schedulers passed as ``alpha`` and ``b3``).
    """

    name = "ademamix"
    _elementwise = True
    state_names = ("exp_avg", "exp_avg_slow", "exp_avg_sq")
    nonnegative_states = frozenset({"exp_avg_sq"})

    def __init__(
        self,
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        beta3=0.9999,
        *,
        alpha=5.0,
        eps=1e-8,
        eps_root=0.0,
        weight_decay=0.0,
        alpha_warmup=0,
        beta3_warmup=0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.beta3 = _beta("beta3", beta3)
        self.alpha = _nonneg("alpha", alpha)
        self.eps = _eps(eps)
        self.eps_root = _nonneg("eps_root", eps_root)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.alpha_warmup = check_int("alpha_warmup", alpha_warmup, low=0)
        self.beta3_warmup = check_int("beta3_warmup", beta3_warmup, low=0)
        if self.beta3_warmup:
            for name in ("beta1", "beta3"):
                if getattr(self, name) == 0:
                    fail(name, "in (0, 1) when beta3_warmup > 0", getattr(self, name))

    def alpha_at(self, t: int) -> float:
        """α at update ``t`` (from 1), after the warm-up."""
        if not self.alpha_warmup:
            return self.alpha
        return self.alpha * min((t - 1) / self.alpha_warmup, 1.0)

    def beta3_at(self, t: int) -> float:
        """β3 at update ``t`` (from 1), after the warm-up."""
        if not self.beta3_warmup:
            return self.beta3
        a = min((t - 1) / self.beta3_warmup, 1.0)
        log1, log3 = math.log(self.beta1), math.log(self.beta3)
        return min(math.exp(log1 * log3 / ((1 - a) * log3 + a * log1)), self.beta3)

    def _step(self, params, grads, lr) -> None:
        b1, b2, t = self.beta1, self.beta2, self.t
        b3, alpha = self.beta3_at(t), self.alpha_at(t)
        scalars = (
            lr, b1, 1 - b1, b2, 1 - b2, b3, 1 - b3, alpha, self.eps, self.eps_root,
            1 - b1**t, 1 - b2**t, self.weight_decay,
        )  # fmt: skip
        for key, p in params.items():
            m1, m2, v = self._buffers(key)
            self._kernels.ademamix_step(p, grads[key], m1, m2, v, *self._cast(p.dtype, *scalars))


@register(lr_range=(1e-4, 1e-1), presets={"optax": {"form": "optax", "eps_root": 1e-8}})
class Adan(_Adaptive):
    """Adan: adaptive Nesterov momentum from averages of the gradient and its change.

    Update (κ = β2 in the paper's form, κ = 1 − β2 in optax's)::

        δ = g − g_prev                      (δ = 0 on the first step)
        m ← β1·m + (1 − β1)·g
        v ← β2·v + (1 − β2)·δ
        n ← β3·n + (1 − β3)·(g + κ·δ)²
        u = (m/(1 − β1^t) + κ·v/(1 − β2^t)) / (√(n/(1 − β3^t) + ε_root) + ε)
        p ← (p − lr·u) / (1 + lr·weight_decay)

    The β's are decay rates (the authors' code; the paper writes 1 − β).
    ``form="paper"`` (default) is the paper's Algorithm 1 as the authors'
    code runs it, with the proximal weight decay above. ``form="optax"``
    weights the gradient difference by 1 − β2 in both places (optax 0.2.8)
    and decays decoupled: ``p ← p − lr·(u + weight_decay·p)``.

    The first step: there is no previous gradient, so δ = 0, and with the
    bias corrections the step is the paper's initialisation (m = g, n = g²,
    v = 0); v's correction 1 − β2^t still counts that step (optax and the
    authors' code agree on this).

    Args:
        lr: default 1e-3 (the authors' code; optax has none).
        beta1, beta2, beta3: in [0, 1), default 0.98, 0.92, 0.99.
        eps: default 1e-8. eps_root: under the root, default 0 (optax 1e-8).
        weight_decay: default 0.
        form: "paper" or "optax".

    Presets: ``"optax"`` (form "optax", eps_root 1e-8).

    References:
        Xie et al. (2022), "Adan: Adaptive Nesterov Momentum Algorithm for
        Faster Optimizing Deep Models", arXiv:2208.06677. Matched: the
        authors' ``Adan`` (github.com/sail-sg/Adan, ``no_prox=False``) and
        ``optax.adan``.
    """

    name = "adan"
    _elementwise = True
    FORMS = ("paper", "optax")
    state_names = ("exp_avg", "exp_avg_diff", "exp_avg_sq", "prev_grad")
    nonnegative_states = frozenset({"exp_avg_sq"})

    def __init__(
        self,
        lr=1e-3,
        beta1=0.98,
        beta2=0.92,
        beta3=0.99,
        *,
        eps=1e-8,
        eps_root=0.0,
        weight_decay=0.0,
        form="paper",
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.beta3 = _beta("beta3", beta3)
        self.eps = _eps(eps)
        self.eps_root = _nonneg("eps_root", eps_root)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.form = check_choice("form", form, self.FORMS)

    def _step(self, params, grads, lr) -> None:
        b1, b2, b3, t = self.beta1, self.beta2, self.beta3, self.t
        proximal = self.form == "paper"
        kappa = b2 if proximal else 1 - b2
        wd = self.weight_decay
        scalars = (
            lr, b1, 1 - b1, b2, 1 - b2, b3, 1 - b3, kappa, self.eps, self.eps_root,
            1 - b1**t, 1 - b2**t, 1 - b3**t, wd, 1 + lr * wd,
        )  # fmt: skip
        for key, p in params.items():
            m, v, n, g_prev = self._buffers(key)
            args = self._cast(p.dtype, *scalars)
            self._kernels.adan_step(p, grads[key], m, v, n, g_prev, *args, t == 1, proximal)
