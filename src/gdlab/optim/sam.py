"""SAM: sharpness-aware minimisation around any optimizer that steps from one gradient.

Each update takes the gradient where the loss is worst within a ball of
radius ρ (to first order): it climbs to ``p + ε``, calls the closure there,
comes back to ``p`` and lets the base optimizer step with that gradient.
The base optimizer's state is SAM's state (its arrays, its scalars, under
their own names), so ``state_dict`` / ``load_state_dict`` carry both.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdlab._lazy import lazy

from .. import schedules as _schedules
from .._checks import check_bool, check_real, fail
from .base import _BASE_OPTIONS, _FLAT, Optimizer
from .lbfgs import _ClosureNonFinite, _ClosureRule, _nonfinite_message
from .registry import OPTIMIZERS, create, register

# numba's kernels, imported at their first call (gdlab._lazy)
_fused = lazy(__name__, "_fused", "gdlab.optim.fused")

__all__ = ["SAM"]

#: Added to the gradient's norm (davda54/sam; optax's ``normalize`` adds none).
NORM_EPS = 1e-12


class _BaseLr:
    """The default of SAM's ``lr``: keep the base optimizer's own."""

    def __repr__(self) -> str:
        return "<the base's lr>"


BASE_LR: Any = _BaseLr()

# The base options a base optimizer must leave at their defaults: SAM's own apply.
_BASE_DEFAULTS = {"clip_norm": None, "clip_value": None, "nonfinite": "raise", "maximize": False}


def _lr_value(value: Any) -> Any:
    """A learning rate from plain data: a number, or a schedule table (``{"name": …}`` or
    ``{"schedule": …}``, :func:`gdlab.schedules.config_of`)."""
    if isinstance(value, Mapping):
        return _schedules.from_config(_schedules.config_of(value))
    return value


def _make_base(base: Any, fused: Any) -> Optimizer:
    """The base optimizer from an instance, a registry name or ``{"optimizer": name, …}``."""
    if isinstance(base, Optimizer):
        inner = base
    elif isinstance(base, str | Mapping):
        if isinstance(base, str):
            name, settings = base, {}
        else:
            settings = dict(base)
            name = settings.pop("optimizer", None)
            if not isinstance(name, str):
                fail("base['optimizer']", f"one of {', '.join(OPTIMIZERS)}", name,
                     kind=TypeError if name is not None else ValueError)  # fmt: skip
        if "lr" in settings:
            settings["lr"] = _lr_value(settings["lr"])
        settings.setdefault("fused", fused if isinstance(fused, bool) else True)
        try:
            inner = create(name, **settings)
        except (TypeError, ValueError) as error:
            raise type(error)(f"base: {error}") from None
    else:
        fail(
            "base",
            "an optimizer, its name or a dict {'optimizer': name, ...}",
            base,
            kind=TypeError,
        )
    if inner.needs_closure:
        fail("base", "an optimizer that steps from one gradient (not L-BFGS or SAM)",
             inner.name)  # fmt: skip
    if any(getattr(type(inner), hook) is not getattr(Optimizer, hook)
           for hook in ("update", "state_dict", "load_state_dict")):  # fmt: skip
        fail("base", "an optimizer that steps from one gradient, not a wrapper (wrap SAM "
             "instead: create('lookahead', inner='sam'))", inner.name)  # fmt: skip
    for option, default in _BASE_DEFAULTS.items():
        if getattr(inner, option) != default:
            fail(f"base's {option}", f"{default!r} (set it on SAM, which applies it to both "
                 "gradients)", getattr(inner, option))  # fmt: skip
    if inner.state is not None or inner.t:
        fail("base", "a fresh optimizer (no step taken)", f"one at step {inner.t}")
    return inner


@register(lr_range=(1e-3, 1.0))
class SAM(_ClosureRule):
    """SAM: step with the gradient at the worst point of a ρ-ball, through a base optimizer.

    ``update(params, grads, closure=f)``: ``grads`` is ∇f at ``params`` and
    ``f(params) -> (loss, grads)`` is called once more, at the perturbed point.

    Update::

        ε ← ρ·g/(‖g‖ + 1e-12)             (adaptive: ε ← ρ·p²·g/(‖|p|·g‖ + 1e-12))
        g_sam ← ∇f(p + ε)
        p ← the base's step from p with g_sam

    ‖·‖ is the L2 norm over all parameters together, p² and |p|·g are
    element-wise (ASAM, Kwon et al. 2021). The base optimizer's rule, state
    and step count are SAM's; ``lr`` is the base's learning rate.

    Args:
        lr: the base optimizer's learning rate (float or Schedule); default:
            the base's own. SAM's ``lr`` is what tuning and ``--lr`` set.
        base: the base optimizer: an instance (fresh, owned by SAM from now
            on), a registry name, or plain data ``{"optimizer": "sgd",
            "lr": 0.1, ...}`` (what ``hyperparameters()`` gives, without
            ``lr``, which is SAM's). Default "sgd". Its own ``clip_norm``,
            ``clip_value``, ``nonfinite`` and ``maximize`` must stay at their
            defaults: SAM's apply to both gradients. Built from a name or
            data, it takes SAM's ``fused``.
        rho: ρ ≥ 0, the radius of the ball, default 0.05 (ρ = 0: the base alone).
        adaptive: ASAM's element-wise scaling by |p|, default False.

    References:
        Foret, Kleiner, Mobahi & Neyshabur (2021), "Sharpness-Aware
        Minimization for Efficiently Improving Generalization",
        arXiv:2010.01412; Kwon, Kim, Park & Choi (2021), "ASAM",
        arXiv:2102.11600. Matches davda54/sam (PyTorch, ``SAM.first_step``,
        ``second_step``) and, without ``adaptive``, ``optax.contrib.sam``
        (``opaque_mode=True``, ``sync_period=2``, normalised SGD with rate ρ
        as the adversarial optimizer), which adds no 1e-12.

    >>> import numpy as np
    >>> opt = SAM(base="sgd", lr=0.1, rho=0.5)
    >>> params = {"x": np.array([3.0, 4.0])}
    >>> f = lambda q: (float(q["x"] @ q["x"]), {"x": 2 * q["x"]})  # f = ‖x‖²
    >>> opt.update(params, f(params)[1], closure=f)  # ε = 0.5·(0.6, 0.8)
    >>> params["x"]  # 3 − 0.1·2·3.3, 4 − 0.1·2·4.4
    array([2.34, 3.12])
    """

    name = "sam"
    _elementwise = True  # each SAM takes its base optimizer's (see __init__)

    def __init__(self, lr=BASE_LR, *, base="sgd", rho=0.05, adaptive=False, **options) -> None:
        self.rho = check_real("rho", rho, low=0)
        self.adaptive = check_bool("adaptive", adaptive)
        inner = _make_base(base, options.get("fused", True))
        if any(
            getattr(type(inner), hook) is not getattr(Optimizer, hook)
            for hook in ("_make_plan", "_check_state")
        ):
            fail(
                "base",
                "an optimizer with one state array of each parameter's shape (Adafactor "
                "and SM3 keep factored state, which SAM cannot share)",
                inner.name,
            )
        if lr is BASE_LR:
            lr = inner.schedule if isinstance(inner.lr, _schedules.Schedule) else inner.lr
        super().__init__(lr, **options)  # checks lr and the options
        inner.set_lr(self.lr)
        self.lr, self._schedule = inner.lr, inner.schedule  # one schedule, shared
        self.base_optimizer = inner
        self.base = {
            "optimizer": inner.name,
            **{
                k: v
                for k, v in inner.hyperparameters().items()
                if k != "lr" and k not in _BASE_OPTIONS
            },
        }
        self.state_names = inner.state_names
        self.nonnegative_states = inner.nonnegative_states
        self._elementwise = inner._elementwise
        self._work: tuple | None = None

    def hyperparameters(self) -> dict[str, Any]:
        hp = super().hyperparameters()
        hp["base"] = copy.deepcopy(self.base)
        return hp

    hyperparameters.__doc__ = Optimizer.hyperparameters.__doc__

    def set_lr(self, lr: float | _schedules.Schedule) -> None:
        self.base_optimizer.set_lr(lr)
        self.lr, self._schedule = self.base_optimizer.lr, self.base_optimizer.schedule

    set_lr.__doc__ = Optimizer.set_lr.__doc__

    def _check_rate(self, lr: float) -> None:
        # the base's own refusal (FTRL: lr 0), before SAM climbs or calls the closure
        self.base_optimizer.t = self.t
        self.base_optimizer._check_rate(lr)

    def _init_scalars(self) -> dict[str, float]:
        return self.base_optimizer._init_scalars()

    def _create_state(self, params) -> None:
        # The base makes the state, which is SAM's from then on: its refusals
        # (Muon's non-matrices with fallback="error") before anything is made,
        # and its scalars (NovoGrad's ν per key) for these keys.
        inner = self.base_optimizer
        inner._create_state(params)
        self.state, self._scalars = inner.state, inner._scalars
        inner.state = None

    def _as_base(self, check: Any) -> Any:
        """``check(base)`` under SAM's ``nonfinite`` (what a loaded state may hold)."""
        inner = self.base_optimizer
        policy = inner.nonfinite
        inner.nonfinite = self.nonfinite
        try:
            return check(inner)
        finally:
            inner.nonfinite = policy

    def _checked_state(self, state: Any) -> dict[str, dict[str, np.ndarray]] | None:
        # the base's checks: its arrays and shapes (Muon's matrices), in its layout
        return self._as_base(lambda inner: inner._checked_state(state))

    def _checked_scalars(self, scalars: Any, *, has_state: bool) -> dict[str, float]:
        # the base's checks: its keys (NovoGrad's follow the state's) and values (d > 0)
        return self._as_base(lambda inner: inner._checked_scalars(scalars, has_state=has_state))

    def eval_params(self, params: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """The base optimizer's evaluation point (Schedule-Free's x); else ``params`` itself."""
        inner = self.base_optimizer
        own = getattr(inner, "eval_params", None)
        if own is None:
            return params
        inner.state, inner._scalars = self.state, getattr(self, "_scalars", {})
        inner.t, inner.epoch = self.t, self.epoch
        try:
            return own(params)
        finally:
            inner.state = None

    def _initial_value(self, name: str) -> float:
        return self.base_optimizer._initial_value(name)

    def _resolve_kernels(self) -> None:
        # The base optimizer steps through its _step only, never its update: its
        # kernels are resolved here (a stand-in costs a lookup on every call).
        super()._resolve_kernels()
        self.base_optimizer._resolve_kernels()

    def _buffers(self, params) -> tuple:
        """Per plan key: the saved parameters, a scratch array and the second gradient.

        Made again only when the layout (keys, sizes, dtypes) changes.
        """
        plan = self._plan
        assert plan is not None
        layout = (plan.keys, tuple((k, p.size, p.dtype.str) for k, p in params.items()))
        work = self._work
        if work is None or work[0] != layout:
            saved = {k: np.empty_like(p) for k, p in params.items()}
            scratch = {k: np.empty_like(p) for k, p in params.items()}
            second = {k: np.empty_like(p) for k, p in params.items()}
            # the closure's gradients, key by key, land in views of `second`
            out, pieces, start = {}, [], 0
            for key, array in zip(plan.keys, plan.params, strict=True):
                if _FLAT in second:  # one flat run over every key
                    where = slice(start, start + array.size)
                    out[key] = second[_FLAT][where]
                    pieces.append((_FLAT, where))
                    start += array.size
                else:
                    out[key] = second[key]
                    pieces.append((key, slice(None)))
            work = self._work = (layout, saved, scratch, second, out, pieces)
        return work[1:]

    def _step(self, params, grads, lr) -> None:
        saved, scratch, second, out, pieces = self._buffers(params)
        user = self._user_params()
        # ‖g‖, or ‖|p|·g‖ for ASAM, over every parameter: summed key by key, so that
        # one flat run over all keys rounds as the separate arrays do
        sq = 0.0
        for key, where in pieces:
            g = grads[key][where]
            if self.adaptive:
                s = scratch[key][where]
                np.abs(params[key][where], out=s)
                np.multiply(s, g, out=s)
                sq += _fused.sum_of_squares(s)
            else:
                sq += _fused.sum_of_squares(g)
        scale = self.rho / (math.sqrt(sq) + NORM_EPS)
        # climb to p + ε (ε = scale·g, or scale·p²·g), evaluate, come back
        for key, p in params.items():
            e = scratch[key]
            np.copyto(saved[key], p)
            if self.adaptive:
                np.multiply(p, p, out=e)
                np.multiply(e, grads[key], out=e)
                np.multiply(e, p.dtype.type(scale), out=e)
            else:
                np.multiply(grads[key], p.dtype.type(scale), out=e)
            np.add(p, e, out=p)
        try:
            _, finite = self._call_closure(user, out)
        finally:
            for key, p in params.items():
                np.copyto(p, saved[key])
        if not finite:
            raise _ClosureNonFinite(
                _nonfinite_message(self.t, "at the perturbed point", False), changed=False
            )
        inner = self.base_optimizer
        inner.state, inner._scalars = self.state, self._scalars
        inner._flat_state_views = self._flat_state_views
        inner._plan = self._plan  # the keys' pieces of a flat run (Prodigy's sums)
        inner.t, inner.epoch, inner.current_lr = self.t, self.epoch, lr
        inner._cast_memo.clear()
        self._moved = True  # from here the base moves the parameters: no longer undone whole
        try:
            inner._step(params, second, lr)
        finally:
            inner.state = None  # the state is SAM's: saved, loaded and checked there
            inner._flat_state_views = None
            inner._plan = None
