"""Schedule-Free SGD and AdamW (Defazio et al. 2024): no decay schedule needed.

Schedule-Free keeps three sequences: ``z``, the base optimizer's iterate;
``x``, a weighted average of the ``z``'s, the point to **evaluate** at; and
``y = β1·x + (1 − β1)·z``, between the two, the point the gradient is taken
at. Here, as in optax:

* the ``params`` dict that :meth:`~ScheduleFreeSGD.update` changes holds
  **y** (train at it: compute the gradient there);
* the state holds **z** (``state[key]["z"]``);
* **x** is computed from the two, ``x = (y − (1 − β1)·z)/β1``, by
  :meth:`~ScheduleFreeSGD.eval_params`: evaluate (validation loss,
  accuracy, the final model) at ``opt.eval_params(params)``, optax's
  ``schedule_free_eval_params(state, params)``.

The kernels compute ``x`` as ``(y − (1 − β1)·z)·(1/β1)``, multiplying by
the reciprocal as optax's compiled code does for arrays: gdlab follows
optax's trajectories to the last bit, except in 0-d parameters (which XLA
divides: the last place).

>>> import numpy as np
>>> opt = ScheduleFreeSGD(lr=0.5)
>>> params = {"w": np.array([2.0])}
>>> for _ in range(50):
...     opt.update(params, {"w": 2 * params["w"]})  # f(w) = w²
>>> x = opt.eval_params(params)                     # a new dict; params is y
>>> bool(abs(x["w"][0]) < 0.1)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdlab._lazy import lazy

from .._checks import check_int, check_real, fail
from . import free_kernels
from .optimizers import _Stateful
from .registry import register

# numba's kernels, imported at their first call (gdlab._lazy)
free_fused = lazy(__name__, "free_fused", "gdlab.optim.free_fused")

__all__ = ["ScheduleFreeAdamW", "ScheduleFreeSGD"]


def _beta1(value: Any) -> float:
    # x is recovered from y and z by dividing by β1: 0 is excluded.
    return check_real("beta1", value, low=0, high=1, low_open=True, high_open=True)


def _is_inf(value: Any) -> bool:
    return isinstance(value, float) and value == math.inf


class _ScheduleFree(_Stateful):
    """The averaging and interpolation both Schedule-Free rules share."""

    kernel_modules = (free_kernels, free_fused)
    nonnegative_states = frozenset({"exp_avg_sq"})

    def _init_schedule_free(self, beta1, warmup_steps, weight_lr_power, weight_decay) -> None:
        self.beta1 = _beta1(beta1)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, low=0)
        self.weight_lr_power = check_real("weight_lr_power", weight_lr_power, low=0)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0)

    def _init_scalars(self) -> dict[str, float]:
        return {"weight_sum": 0.0, "max_lr": 0.0}

    def _checked_scalars(self, scalars: Any, *, has_state: bool) -> dict[str, float]:
        # The sum of the weights max_lr**r may be +inf (beyond float's range, as in optax).
        infinite = isinstance(scalars, Mapping) and _is_inf(scalars.get("weight_sum"))
        if infinite:
            scalars = {**scalars, "weight_sum": 0.0}
        checked = super()._checked_scalars(scalars, has_state=has_state)
        for name, value in checked.items():
            if value < 0:
                fail(f"state_dict['scalars'][{name!r}]", ">= 0", value)
        if infinite:
            checked["weight_sum"] = math.inf
        return checked

    def _warm(self, count: int) -> float:
        """The warm-up factor at optax's ``count``: ``min(count/warmup_steps, 1)``."""
        w = self.warmup_steps
        return 1.0 if w == 0 or count >= w else count / w

    def _averaging(self, lr: float) -> tuple[float, float]:
        """This step's rate for z and the weight ``c`` of the new z in the average x.

        optax evaluates the rate of the base step at the count before the
        step (``t − 1``) and the rate that weights the average at ``t``: with
        a warm-up the first step does not move z. The scalars are updated.
        """
        t = self.t
        lr_z = lr * self._warm(t - 1)
        lr_w = self._schedule(t, self.epoch) * self._warm(t)
        scalars = self._scalars
        max_lr = max(scalars["max_lr"], lr_w)
        try:
            weight = max_lr**self.weight_lr_power
        except OverflowError:  # Python raises where optax's float gives inf (lr 10, power 400)
            weight = math.inf
        total = scalars["weight_sum"] + weight
        if math.isnan(weight) or math.isnan(total):
            ck = math.nan
        elif total == 0 or (math.isinf(weight) and math.isinf(total)):
            ck = 0.0  # optax's nan_to_num(0/0) and nan_to_num(inf/inf)
        else:
            ck = weight / total
        scalars["max_lr"] = max_lr
        scalars["weight_sum"] = total
        return lr_z, ck

    def _start(self, p: np.ndarray, z: np.ndarray) -> None:
        if self.t == 1:  # z starts at the parameters of the first update
            np.copyto(z, p)

    def eval_params(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The point to evaluate at, ``x = (y − (1 − β1)·z)/β1``, as new arrays.

        ``params`` is the dict this optimizer updates (y); it is read, not
        changed. Before the first update x is y (a copy), as after a first
        update that ``nonfinite="skip"`` skipped. This is optax's
        ``schedule_free_eval_params(state, params)``.

        Raises:
            ValueError: if ``params`` does not have the keys, shapes and
                dtypes of the optimizer's state.
        """
        if not isinstance(params, Mapping):
            fail("params", "a dict of numpy arrays", params, kind=TypeError)
        for key, y in params.items():
            if not isinstance(y, np.ndarray):
                fail(f"params[{key!r}]", "a numpy array", y, kind=TypeError)
        if self.state is not None:
            self._check_state(dict(params))
        if self.state is None or self.t == 0:  # z starts at the first update (not a skipped one)
            return {key: y.copy() for key, y in params.items()}
        out = {}
        for key, y in params.items():
            z = self.state[key]["z"]
            x = np.empty_like(z)
            c_b1, inv_b1 = self._cast(y.dtype, 1 - self.beta1, 1 / self.beta1)
            self._kernels.schedule_free_eval(
                np.ascontiguousarray(y).reshape(-1), z.reshape(-1), x.reshape(-1), c_b1, inv_b1
            )
            out[key] = x
        return out


@register(lr_range=(1e-3, 1.0), presets={"optax": {}})
class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-Free SGD: gradient steps on z, evaluated at a running average x.

    ``params`` holds y; evaluate at ``x = opt.eval_params(params)``.

    Update::

        lr_t = lr·min((t − 1)/warmup_steps, 1)
        c_t = max_lr_t^r / Σ_{i≤t} max_lr_i^r
        d = g + weight_decay·y
        z ← z − lr_t·d
        x ← (1 − c_t)·x + c_t·z
        y ← β1·x + (1 − β1)·z

    where ``max_lr_t`` is the largest of ``lr·min(i/warmup_steps, 1)`` for
    ``i ≤ t`` and ``r = weight_lr_power``; ``x`` is not stored but recovered
    as ``x = (y − (1 − β1)·z)/β1``, and ``z`` starts at the parameters. With
    ``warmup_steps = 0`` both factors are 1 and ``c_t = 1/t``.

    Args:
        lr: learning rate (float or Schedule), default 1.0 (optax). A schedule
            gives the z step at ``t − 1`` and the averaging weight at ``t``, as
            optax evaluates it.
        beta1: the interpolation β1 in (0, 1), default 0.9.
        warmup_steps: length of the linear warm-up, default 0 (none; optax's
            ``None``). As optax does, the first update then leaves z where it is.
        weight_decay: L2 penalty added to the gradient at y, default 0.
        weight_lr_power: r, the power of the largest rate so far that weights
            each z in the average, default 2.

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky (2024), "The Road
        Less Scheduled", arXiv:2405.15682. Matched: optax 0.2.8,
        ``optax.contrib.schedule_free_sgd`` and ``schedule_free_eval_params``.
    """

    name = "schedule_free_sgd"
    _elementwise = True
    state_names = ("z",)

    def __init__(
        self,
        lr=1.0,
        beta1=0.9,
        *,
        warmup_steps=0,
        weight_decay=0.0,
        weight_lr_power=2.0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self._init_schedule_free(beta1, warmup_steps, weight_lr_power, weight_decay)

    def _step(self, params, grads, lr) -> None:
        lr_z, ck = self._averaging(lr)
        b1 = self.beta1
        for key, p in params.items():
            (z,) = self._buffers(key)
            self._start(p, z)
            args = self._cast(p.dtype, lr_z, self.weight_decay, b1, 1 - b1, 1 / b1, ck, 1 - ck)
            self._kernels.schedule_free_sgd_step(p, grads[key], z, *args)


@register(lr_range=(1e-4, 1e-1), presets={"optax": {}})
class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-Free AdamW: RMS-scaled steps on z, evaluated at a running average x.

    ``params`` holds y; evaluate at ``x = opt.eval_params(params)``. There is
    no first moment: β1 is the interpolation of Schedule-Free, which takes
    the place of momentum. Its usual learning rate is higher than Adam's
    (2.5e-3 by default).

    Update::

        lr_t = lr·min((t − 1)/warmup_steps, 1)
        c_t = max_lr_t^r / Σ_{i≤t} max_lr_i^r
        v ← β2·v + (1 − β2)·g²
        v̂ = v / (1 − β2^t)
        z ← z − lr_t·(g / (√v̂ + ε) + weight_decay·y)
        x ← (1 − c_t)·x + c_t·z
        y ← β1·x + (1 − β1)·z

    with ``max_lr_t`` and ``r`` as in :class:`ScheduleFreeSGD`; the weight
    decay is taken at y and scaled by the learning rate (optax).

    Args:
        lr: learning rate (float or Schedule), default 2.5e-3 (optax).
        beta1: the interpolation β1 in (0, 1), default 0.9.
        beta2: in [0, 1), default 0.999.
        eps: default 1e-8.
        warmup_steps: length of the linear warm-up, default 0 (none).
        weight_decay: default 0.
        weight_lr_power: r, default 2.

    References:
        Defazio et al. (2024), "The Road Less Scheduled", arXiv:2405.15682.
        Matched: optax 0.2.8, ``optax.contrib.schedule_free_adamw``.
    """

    name = "schedule_free_adamw"
    _elementwise = True
    state_names = ("z", "exp_avg_sq")

    def __init__(
        self,
        lr=2.5e-3,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-8,
        warmup_steps=0,
        weight_decay=0.0,
        weight_lr_power=2.0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self._init_schedule_free(beta1, warmup_steps, weight_lr_power, weight_decay)
        self.beta2 = check_real("beta2", beta2, low=0, high=1, high_open=True)
        self.eps = check_real("eps", eps, low=0, low_open=True)

    def _step(self, params, grads, lr) -> None:
        lr_z, ck = self._averaging(lr)
        b1, b2 = self.beta1, self.beta2
        bc2 = 1 - b2**self.t
        for key, p in params.items():
            z, v = self._buffers(key)
            self._start(p, z)
            args = self._cast(
                p.dtype, lr_z, b2, 1 - b2, self.eps, bc2, 1.0, self.weight_decay, b1, 1 - b1,
                1 / b1, ck, 1 - ck,
            )  # fmt: skip
            self._kernels.schedule_free_adamw_step(p, grads[key], z, v, *args)
