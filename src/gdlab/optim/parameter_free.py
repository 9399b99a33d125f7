"""Learning-rate-free Adam: D-Adaptation (Defazio & Mishchenko 2023) and Prodigy.

Both estimate ``d``, the distance from the start to the solution, and step
with ``dlr = d·lr·bc``: ``lr`` is a multiplier of about 1 (a schedule of
multipliers works too), not a step size. The estimate only grows, from
``d0``. Class defaults and formulas are optax's (0.2.8).

The estimate needs two sums over *every* element of *every* parameter each
step (an inner product and an L1 norm). Prodigy's step uses the new ``d``, so
its step is two passes: the first updates the moments and returns each key's
partial sums, the second steps the parameters. D-Adaptation's step uses this
step's ``d`` (the new one serves the next step), so its step is one pass.
Within a key the sums are accumulated in float64 in 32 interleaved lanes, in
a fixed order (:func:`~gdlab.optim.free_kernels._lane_sum`: the order in which
the fused loops vectorise), and the keys' partial sums are added in key
order; when the base class runs one flat span over an MLP's keys, the span is
cut back into the keys' pieces for the sums, so a flat buffer and separate
arrays give the same bits. (optax sums each leaf with XLA's reduction and the
leaves in sorted key order: the same sums, rounded in another order, about
1e-16 apart.) The scalars (``d``, the weighted numerator) are float64 even
for float32 parameters.

Rounding follows optax's where it costs nothing: the bias corrections raise
β to the step count by repeated squaring (:func:`~gdlab.optim.free_kernels.jax_power`,
as JAX evaluates a float to an integer power), and ``s`` is scaled by
``1/d0`` (XLA's compiled division of an array by a constant). Measured
against optax over 250 steps: ``d`` within 1.1e-15, the parameters within
1.2e-11 elementwise (about 1e-15 of their scale).

One deliberate difference from optax: while every accumulated gradient is
still zero (``‖s‖₁ = 0``, a first step with a zero gradient), optax's estimate
is 0/0 and its ``d`` becomes NaN; here ``d`` stays as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdlab._lazy import lazy

from .._checks import check_bool, check_real, fail
from . import free_kernels
from .base import _FLAT
from .free_kernels import jax_power
from .optimizers import _Stateful
from .registry import register

# numba's kernels, imported at their first call (gdlab._lazy)
free_fused = lazy(__name__, "free_fused", "gdlab.optim.free_fused")

__all__ = ["DAdaptAdamW", "Prodigy"]


def _optional(name: str, value: Any, check) -> Any:
    return None if value is None else check(name, value)


def _growth_rate(name: str, value: Any) -> float:
    return check_real(name, value, low=1)


def _beta(name: str, value: Any) -> float:
    return check_real(name, value, low=0, high=1, high_open=True)


def _positive(name: str, value: Any) -> float:
    return check_real(name, value, low=0, low_open=True)


class _DistanceAdapted(_Stateful):
    """What D-Adaptation and Prodigy share: ``d``, its checks, the keys' pieces."""

    kernel_modules = (free_kernels, free_fused)
    nonnegative_states = frozenset({"exp_avg_sq"})
    #: The base may run one flat span over an MLP's keys: the moments are
    #: element-wise, and the sums are cut back into the keys' pieces
    #: (:meth:`_pieces`), so that both layouts round them alike.
    _elementwise = True

    def _init_common(
        self, beta1, beta2, eps, d0, d_coef, growth_rate, weight_decay, bias_correction
    ) -> None:
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _positive("eps", eps)
        self.d0 = _positive("d0", d0)
        self.d_coef = _positive("d_coef", d_coef)
        self.growth_rate = _optional("growth_rate", growth_rate, _growth_rate)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0)
        self.bias_correction = check_bool("bias_correction", bias_correction)

    def _init_scalars(self) -> dict[str, float]:
        return {"d": self.d0, "numerator_weighted": 0.0}

    def _checked_scalars(self, scalars: Any, *, has_state: bool) -> dict[str, float]:
        # NaN and inf reach the sums (and d, inf) from the gradients, with nonfinite="ignore" only
        loose = {}
        if self.nonfinite == "ignore" and isinstance(scalars, Mapping):
            loose = {
                k: v for k, v in scalars.items() if isinstance(v, float) and not math.isfinite(v)
            }
            scalars = {k: (1.0 if k in loose else v) for k, v in scalars.items()}
        checked = super()._checked_scalars(scalars, has_state=has_state)
        checked.update(loose)
        if "d" in checked and not checked["d"] > 0:
            fail("state_dict['scalars']['d']", "> 0", checked["d"])
        return checked

    @property
    def d(self) -> float:
        """The current distance estimate (``d0`` before the first update)."""
        scalars = getattr(self, "_scalars", None)
        return self.d0 if self.state is None or not scalars else scalars["d"]

    def _bias_correction(self) -> float:
        if not self.bias_correction:
            return 1.0
        t = self.t
        return ((1 - jax_power(self.beta2, t)) ** 0.5) / (1 - jax_power(self.beta1, t))

    def _new_d(self, d: float, numerator: float, l1: float) -> float:
        """``max(d, min(d_coef·numerator/l1, growth_rate·d))``; ``d`` while ``l1`` is 0."""
        if not l1 > 0:
            return d
        d_hat = self.d_coef * numerator / l1
        if self.growth_rate is not None:
            d_hat = min(d_hat, self.growth_rate * d)
        return max(d, d_hat)

    def _pieces(self, key: str, size: int) -> tuple[tuple[int, int], ...]:
        """The keys' ``(start, stop)`` within a flat span; the whole array for one key."""
        if key != _FLAT:
            return ((0, size),)
        plan = self._plan
        cache = self.__dict__.get("_pieces_cache")
        if cache is None or cache[0] is not plan:
            bounds, start = [], 0
            for g in plan.per_key_grads.values():
                bounds.append((start, start + g.size))
                start += g.size
            cache = self._pieces_cache = (plan, tuple(bounds))
        return cache[1]


@register(lr_range=(0.1, 10.0), presets={"optax": {}})
class Prodigy(_DistanceAdapted):
    """Prodigy: AdamW whose step size d is estimated on the fly, weighting recent steps.

    Update::

        bc = √(1 − β2^t) / (1 − β1^t)
        dlr = d·lr·bc
        m ← β1·m + (1 − β1)·d·g
        v ← β2·v + (1 − β2)·d²·g²
        s ← β3·s + (dlr/d0)·d·g
        r ← β3·r + (d/d0)·dlr·Σ g·(p0 − p)
        d ← max(d, min(d_coef·r / Σ |s|, growth_rate·d))
        p ← p − dlr·weight_decay·p − dlr·m / (√v + d·ε)

    The sums run over every element of every parameter; ``p0`` is the
    parameters at the first update; ``d`` starts at ``d0`` and ``r``, ``m``,
    ``v``, ``s`` at 0. ``bias_correction=False`` sets ``bc = 1``;
    ``safeguard_warmup=True`` puts ``d`` in place of ``dlr`` in the update of
    ``s`` (no learning rate there, for warm-up schedules).

    Args:
        lr: the multiplier of the estimated step (float or Schedule), default 1.
        beta1, beta2: in [0, 1), default 0.9, 0.999.
        beta3: the decay of ``r`` and ``s`` in [0, 1), default None: √β2.
        eps: default 1e-8 (scaled by d).
        d0: the initial estimate, default 1e-6 (optax's ``estim_lr0``).
        d_coef: multiplies each new estimate, default 1 (optax's ``estim_lr_coef``).
        growth_rate: the most d may grow in a step, a factor >= 1, default
            None: no limit (optax has none).
        weight_decay: decoupled, scaled by dlr, default 0.
        safeguard_warmup: default False.
        bias_correction: default True (optax, always); False is the authors'
            ``prodigyopt`` default.

    References:
        Mishchenko & Defazio (2023), "Prodigy: An Expeditiously Adaptive
        Parameter-Free Learner", arXiv:2306.06101. Matched: optax 0.2.8,
        ``optax.contrib.prodigy``.
    """

    name = "prodigy"
    _elementwise = True
    state_names = ("exp_avg", "exp_avg_sq", "grad_sum", "params0")

    def __init__(
        self,
        lr=1.0,
        beta1=0.9,
        beta2=0.999,
        *,
        beta3=None,
        eps=1e-8,
        d0=1e-6,
        d_coef=1.0,
        growth_rate=None,
        weight_decay=0.0,
        safeguard_warmup=False,
        bias_correction=True,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self._init_common(beta1, beta2, eps, d0, d_coef, growth_rate, weight_decay, bias_correction)
        self.beta3 = _optional("beta3", beta3, _beta)
        self.safeguard_warmup = check_bool("safeguard_warmup", safeguard_warmup)

    def _step(self, params, grads, lr) -> None:
        k = self._kernels
        b1, b2, d0 = self.beta1, self.beta2, self.d0
        b3 = self.beta3 if self.beta3 is not None else b2**0.5
        scalars = self._scalars
        d = scalars["d"]
        dlr = d * lr * self._bias_correction()
        s_coef = d if self.safeguard_warmup else dlr
        dot = l1 = 0.0
        for key, p in params.items():
            m, v, s, p0 = self._buffers(key)
            if self.t == 1:  # p0: the parameters at the first update
                np.copyto(p0, p)
            g = grads[key]
            args = self._cast(p.dtype, d, b1, 1 - b1, b2, 1 - b2, b3, s_coef, 1 / d0)
            for i, j in self._pieces(key, p.size):
                part_dot, part_l1 = k.prodigy_accumulate(
                    p[i:j], g[i:j], p0[i:j], m[i:j], v[i:j], s[i:j], *args
                )
                dot += part_dot
                l1 += part_l1
        numerator = b3 * scalars["numerator_weighted"] + (d / d0) * dlr * dot
        d_new = self._new_d(d, numerator, l1)
        scalars["numerator_weighted"] = numerator
        scalars["d"] = d_new
        for key, p in params.items():
            m, v, _, _ = self._buffers(key)
            k.prodigy_apply(
                p, m, v, *self._cast(p.dtype, -self.weight_decay * dlr, dlr, d_new * self.eps)
            )


@register(lr_range=(0.1, 10.0), presets={"optax": {}})
class DAdaptAdamW(_DistanceAdapted):
    """D-Adaptation AdamW: AdamW whose step size d is estimated on the fly.

    Update::

        bc = √(1 − β2^t) / (1 − β1^t)
        dlr = d·lr·bc
        r ← √β2·r + (1 − √β2)·dlr·Σ g·s/(√v + ε)
        m ← β1·m + (1 − β1)·dlr·g
        v ← β2·v + (1 − β2)·g²
        s ← √β2·s + (1 − √β2)·dlr·g
        d ← max(d, min(d_coef·r / ((1 − √β2)·Σ |s|), growth_rate·d))
        p ← p − dlr·weight_decay·p − m / (√v + ε)

    The sums run over every element of every parameter, the first with ``s``
    and ``v`` before this step's update; ``d`` starts at ``d0`` and ``r``,
    ``m``, ``v``, ``s`` at 0. ``m`` carries the step size (``dlr``), so ``v``
    is not bias-corrected in the last line: ``bc`` is in ``dlr``.
    ``bias_correction=False`` sets ``bc = 1``.

    Args:
        lr: the multiplier of the estimated step (float or Schedule), default 1.
        beta1, beta2: in [0, 1), default 0.9, 0.999.
        eps: default 1e-8.
        d0: the initial estimate, default 1e-6 (optax's ``estim_lr0``).
        d_coef: multiplies each new estimate, default 1 (the authors' ``d_coef``;
            optax has none).
        growth_rate: the most d may grow in a step, a factor >= 1, default
            None: no limit (optax has none).
        weight_decay: decoupled, scaled by dlr, default 0.
        bias_correction: default True (optax, always); False is the authors'
            ``dadaptation`` default.

    References:
        Defazio & Mishchenko (2023), "Learning-Rate-Free Learning by
        D-Adaptation", ICML, arXiv:2301.07733. Matched: optax 0.2.8,
        ``optax.contrib.dadapt_adamw``.
    """

    name = "dadapt_adamw"
    _elementwise = True
    state_names = ("exp_avg", "exp_avg_sq", "grad_sum")

    def __init__(
        self,
        lr=1.0,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-8,
        d0=1e-6,
        d_coef=1.0,
        growth_rate=None,
        weight_decay=0.0,
        bias_correction=True,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self._init_common(beta1, beta2, eps, d0, d_coef, growth_rate, weight_decay, bias_correction)

    def _step(self, params, grads, lr) -> None:
        k = self._kernels
        b1, b2 = self.beta1, self.beta2
        sb2 = b2**0.5
        scalars = self._scalars
        d = scalars["d"]
        dlr = d * lr * self._bias_correction()
        c_wd = -self.weight_decay * dlr
        dot = l1 = 0.0
        for key, p in params.items():  # one pass: the step does not use the new d
            m, v, s = self._buffers(key)
            g = grads[key]
            args = self._cast(
                p.dtype, self.eps, b1, (1 - b1) * dlr, b2, 1 - b2, sb2, (1 - sb2) * dlr, c_wd
            )
            for i, j in self._pieces(key, p.size):
                part_dot, part_l1 = k.dadapt_step(p[i:j], g[i:j], m[i:j], v[i:j], s[i:j], *args)
                dot += part_dot
                l1 += part_l1
        numerator = sb2 * scalars["numerator_weighted"] + (1 - sb2) * dlr * dot
        scalars["numerator_weighted"] = numerator
        scalars["d"] = self._new_d(d, numerator, (1 - sb2) * l1)
