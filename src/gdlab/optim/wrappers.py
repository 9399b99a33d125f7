"""Optimizer wrappers: lookahead, weight averaging, gradient accumulation, parameter groups.

Each wrapper is a registered optimizer that holds one (or, for groups, a few)
*inner* optimizers and adds what it is about around their steps:

* :class:`Lookahead` (``"lookahead"``): the inner optimizer takes k fast steps,
  then the slow weights move part of the way towards them (Zhang et al. 2019);
* :class:`Average` (``"average"``): the inner optimizer trains, the wrapper
  keeps an exponential (EMA) or equal (SWA) average of the parameters to
  evaluate with (torch's ``AveragedModel``, optax's ``ema``);
* :class:`Accumulate` (``"accumulate"``): the mean of every k gradients makes
  one inner step (optax's ``MultiSteps``);
* :class:`Groups` (``"groups"``): other hyperparameters for the keys that
  match a pattern, one inner optimizer per group (torch's param_groups).

The inner optimizer is given as a registry name (``inner="adam"``), as plain
data (``inner={"optimizer": "adam", "lr": 1e-3}``, optionally with
``"preset"``), or as an optimizer object (``inner=create("adam", lr=1e-3)``),
which serves as a template: the wrapper makes its own optimizer of that class
and hyperparameters and shares nothing with it (the object's state is not
taken). An ``lr`` in a spec dict (or a group) may be a schedule table, as a
run's ``lr``: ``{"name": "step", ...}`` or ``{"schedule": {...}}``.
``wrapper.inner_optimizer`` is the optimizer the wrapper steps;
``wrapper.inner`` is its spec as plain data (what ``hyperparameters()``
shows, and what remakes it). Wrappers nest
(``lookahead`` of ``groups`` of ``adamw``).

What a wrapper shares with its inner optimizer:

* ``lr``: the wrapper's learning rate *is* the inner optimizer's. A wrapper
  given ``lr`` sets the inner's (it wins over one in the inner's spec);
  ``wrapper.lr``, ``set_lr``, ``schedule`` and ``fit(schedule=...)`` read and
  change the inner's, so tuning or scheduling a wrapper's lr tunes the inner
  rate. (Groups: the rate of the keys no group matches and of every group
  that does not name its own ``lr``.)
* ``clip_norm``, ``clip_value``, ``maximize`` of the wrapper act on the
  gradient as it comes in; the inner optimizer's own act on what it is
  handed (for :class:`Accumulate`, the mean gradient: optax's
  ``MultiSteps(chain(clip, opt))``). A wrapper refuses clipping when an inner
  optimizer at any depth does (its class's ``refuses_clipping``: L-BFGS).
* A failed step that an inner optimizer counts (L-BFGS that had moved ends at
  the last point it evaluated) the wrapper counts too, and does its own part
  before the error propagates: it averages, synchronises or ends its window, so
  that its state always agrees with its step count. ``Groups`` steps the other
  groups after a group that calls the closure counted; after any other group
  that failed (a rule stopped mid-step may be half done) it puts back the groups
  stepped before it (:func:`_counted_whole`).
* ``nonfinite``: the wrapper checks the incoming gradient. An inner optimizer
  given by name or as a dict without ``"nonfinite"`` gets the wrapper's
  policy; with ``nonfinite="ignore"`` on the wrapper an inner optimizer must
  ignore too (else a NaN let through would stop it mid-step).
* ``fused``: an inner optimizer given by name or dict runs the wrapper's kernels.
* ``needs_closure``: the inner optimizer's; ``update(..., closure=f)`` is
  passed on (to :class:`Groups`' inner optimizers with the other keys filled in),
  its loss and gradients getting the wrapper's ``maximize`` and clipping.

Hyperparameters are plain data: ``inner`` as ``{"optimizer": name, **its
hyperparameters}`` (without ``fused``, an execution option that follows the
wrapper's), so that ``create(name, **hyperparameters())`` and
:func:`gdlab.optim.load` remake the wrapper. ``state_dict()`` nests the inner
optimizer's state dict under ``"inner"`` (:class:`Groups`: a list under
``"inners"``, the unmatched keys' first).

``eval_params(params)``: what to evaluate a model at, besides ``params``: the
slow weights (lookahead), the average (averaging), the inner optimizer's
(accumulation, groups). It returns read-only arrays keyed as ``params``, or
``params`` itself (the same dict) while there is nothing else to evaluate.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gdlab._lazy import lazy

from .. import schedules as _schedules
from .._checks import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_same_keys,
    describe,
    fail,
    unset,
)
from . import wrappers_kernels
from .base import _FLAT, _FLOAT_DTYPES, Optimizer, _argument_names, _plain, _rate
from .optimizers import _Stateful
from .registry import OPTIMIZERS, create, register

# numba's kernels, imported at their first call (gdlab._lazy)
_fused = lazy(__name__, "_fused", "gdlab.optim.fused")
wrappers_fused = lazy(__name__, "wrappers_fused", "gdlab.optim.wrappers_fused")

__all__ = ["Accumulate", "Average", "Groups", "Lookahead"]

#: Options that say how an inner optimizer runs, not what it computes; its
#: spec leaves them out (they follow the wrapper's).
_EXECUTION = ("fused",)


class _FromInner:
    """The default of a wrapper's ``lr`` (and :class:`Groups`' ``weight_decay``)."""

    _instance: _FromInner | None = None

    def __new__(cls) -> _FromInner:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FROM_INNER"

    def __deepcopy__(self, memo: dict) -> _FromInner:
        return self


#: "Keep the inner optimizer's": the default of a wrapper's ``lr``.
FROM_INNER = _FromInner()


# --------------------------------------------------------------------------- specs


def inner_spec(optimizer: Optimizer) -> dict[str, Any]:
    """``{"optimizer": name, **hyperparameters}``: plain data that remakes ``optimizer``."""
    hp = {k: v for k, v in optimizer.hyperparameters().items() if k not in _EXECUTION}
    return {"optimizer": optimizer.name, **hp}


def _plain_data(value: Any, where: str, in_schedule: bool = False) -> Any:
    """``value`` with NumPy scalars as Python ones; a schedule as ``{"schedule": config}``.

    A schedule's config keeps its Python functions (a ``Lambda``'s ``lr_lambda``),
    as :meth:`~gdlab.schedules.Schedule.config` does: the state dict holds them in
    memory, and a file refuses them, naming them (:mod:`gdlab.optim.io`).
    """
    if isinstance(value, _schedules.Schedule):
        return {"schedule": value.config()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        name = value.get("name")
        in_schedule = in_schedule or (isinstance(name, str) and name in _schedules.SCHEDULES)
        return {str(k): _plain_data(v, f"{where}[{k!r}]", in_schedule) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_data(v, f"{where}[{i}]", in_schedule) for i, v in enumerate(value)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if in_schedule and callable(value):
        return value
    fail(where, "plain data (numbers, strings, lists, dicts) or a Schedule", value, kind=TypeError)
    raise AssertionError  # unreachable


#: The forms of an inner optimizer's or a group's ``lr``, for the error on a bad one.
_LR_FORMS = (
    "a positive real number, a Schedule or a schedule table as for a run's lr "
    "({'name': 'step', 'lr0': 0.1, 'every': 5}, or {'schedule': {...}} as "
    "hyperparameters() writes one)"
)


def _settings(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A spec's hyperparameters as constructor arguments: an ``lr`` table built into
    its schedule, read as a run's ``lr`` is (the table itself, ``{"name": ...}``, or
    ``{"schedule": {...}}``, :func:`gdlab.schedules.config_of`)."""
    settings = dict(spec)
    lr = settings.get("lr")
    if isinstance(lr, Mapping):
        try:
            settings["lr"] = _schedules.from_config(_schedules.config_of(lr))
        except (TypeError, ValueError) as error:
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"{where}: lr must be {_LR_FORMS}; got {dict(lr)!r} ({error})") from None
    return settings


def _reraise(where: str, error: Exception) -> None:
    kind = TypeError if isinstance(error, TypeError) else ValueError
    raise kind(f"{where}: {error}") from None


def _template(optimizer: Optimizer, where: str, overrides: Mapping[str, Any]) -> Optimizer:
    """A new optimizer of ``optimizer``'s class and hyperparameters (and ``overrides``)."""
    kwargs = {n: copy.deepcopy(getattr(optimizer, n)) for n in optimizer.hyperparameters()}
    kwargs.update(overrides)
    try:
        return type(optimizer)(**kwargs)
    except (TypeError, ValueError) as error:
        _reraise(f"{where} ({type(optimizer).__name__}, remade from its hyperparameters)", error)
    raise AssertionError  # unreachable


def build_inner(
    spec: Any, where: str = "inner", *, defaults: Mapping[str, Any] = {}, **overrides: Any
) -> Optimizer:
    """A fresh optimizer from a name, a spec dict or an optimizer used as a template.

    ``defaults`` fill what a name or dict does not give (an optimizer object
    keeps its own); ``overrides`` replace what any of them gives. Errors name
    ``where``.
    """
    if isinstance(spec, Optimizer):
        return _template(spec, where, overrides)
    if isinstance(spec, str):
        name, preset, settings = spec, None, {}
        name_where = where
    elif isinstance(spec, Mapping):
        settings = _settings(spec, where)
        if "optimizer" not in settings:
            fail(
                where,
                "a dict with the key 'optimizer' (e.g. {'optimizer': 'adam', 'lr': 0.001})",
                dict(spec),
            )
        name = settings.pop("optimizer")
        preset = settings.pop("preset", None)
        name_where = f"{where}['optimizer']"
    else:
        fail(
            where,
            "an optimizer name, a dict {'optimizer': name, ...} or an Optimizer",
            spec,
            kind=TypeError,
        )
    if not isinstance(name, str):
        fail(name_where, f"one of {', '.join(OPTIMIZERS)}", name, kind=TypeError)
    if name.lower() not in OPTIMIZERS:
        fail(name_where, f"one of {', '.join(OPTIMIZERS)}", name)
    for key, value in defaults.items():
        settings.setdefault(key, value)
    settings.update(overrides)
    try:
        return create(name, preset=preset, **settings)
    except (TypeError, ValueError) as error:
        _reraise(where, error)
    raise AssertionError  # unreachable


def _fresh(tree: Any) -> Any:
    """``tree`` made of new objects, as a file gives it back (arrays kept).

    A wrapper's state dict repeats values of its inner optimizers (their
    hyperparameters, the learning rate) and their keys; rebuilt in one JSON
    pass (which makes one object per distinct key and a new one per value),
    a state dict and the one of the optimizer loaded from its file pickle to
    the same bytes. The arrays are copies already; they and a schedule's
    Python functions (which no file keeps) pass by reference.
    """
    arrays: list[Any] = []

    def split(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {k: split(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [split(v) for v in node]
        if isinstance(node, np.ndarray) or callable(node):
            arrays.append(node)
            return {_ARRAY: len(arrays) - 1}
        return node.item() if isinstance(node, np.generic) else node

    def join(node: Any) -> Any:
        if isinstance(node, dict):
            if _ARRAY in node:
                return arrays[node[_ARRAY]]
            return {k: join(v) for k, v in node.items()}
        if isinstance(node, list):
            return [join(v) for v in node]
        return node

    return join(json.loads(json.dumps(split(tree), allow_nan=True)))


#: The key that stands for an array (or a function) in :func:`_fresh`'s JSON pass.
_ARRAY = "\x00array"


def _readonly(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


class _Skipped(Exception):
    """An inner optimizer skipped its step under the wrapper's ``nonfinite="skip"``."""


def _check_next(optimizer: Optimizer, epoch: int) -> None:
    """Raise what ``optimizer``'s next step would refuse before it changes anything.

    The rate its schedule gives (FTRL refuses 0); a wrapper asks the inner
    optimizers that its next call steps.
    """
    if isinstance(optimizer, _Wrapper):
        optimizer._check_next(epoch)
    else:
        optimizer._check_rate(_rate(optimizer._schedule, optimizer.t, epoch))


def _refuses_mid_step(optimizer: Optimizer) -> bool:
    """Whether ``optimizer`` may refuse a step after :func:`_check_next` passed.

    The rules that call the closure (it may raise or give NaN) and optimizers
    from outside gdlab (which may check what they like); gdlab's other rules
    refuse nothing once the rate is checked.
    """
    if isinstance(optimizer, _Wrapper):
        return any(_refuses_mid_step(inner) for inner in optimizer._inners())
    return optimizer.needs_closure or not type(optimizer).__module__.startswith("gdlab.optim.")


def _counted_whole(inner: Optimizer, t: int) -> bool:
    """Whether ``inner``, whose update raised, counted its step (``t`` before the call)
    and finished it: only a rule that calls the closure says so (L-BFGS that had moved
    ends at the last point it evaluated; a wrapper around one, which finished its own
    part). Any other, stopped mid-step (Ctrl-C), may be half done though it counted."""
    return inner.t != t and inner.needs_closure


def _possessive(name: str) -> str:
    """``"Lookahead's"``, ``"Groups'"``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _clipping_refuser(optimizer: Optimizer, role: str) -> tuple[str, str] | None:
    """``(who, why)`` of the first optimizer in ``optimizer`` (at any depth) that refuses
    clipping (its class's ``refuses_clipping``): ``("inner LBFGS", "its curvature …")``,
    ``("inner Average's inner LBFGS", …)``."""
    if isinstance(optimizer, _Wrapper):
        possessive = _possessive(type(optimizer).__name__)
        for inner in optimizer._inners():
            found = _clipping_refuser(inner, f"{role} {possessive} {optimizer._inner_role(inner)}")
            if found is not None:
                return found
        return None
    why = getattr(type(optimizer), "refuses_clipping", None)
    return (f"{role} {type(optimizer).__name__}", why) if why else None


def _holders(optimizer: Optimizer) -> list[Optimizer]:
    """``optimizer`` and every optimizer nested in it that holds state of its own."""
    if isinstance(optimizer, _Wrapper):
        return [optimizer, *(o for inner in optimizer._inners() for o in _holders(inner))]
    return [optimizer]


class _Saved:
    """One group's parameters and its optimizers' state and counters, to put back.

    The buffers are made once, for these parameter arrays and state dicts
    (:meth:`fits`); :meth:`save` copies into them, :meth:`restore` back.
    ``params`` are read-only views of the saved parameters.
    """

    def __init__(self, params: list[np.ndarray], keys: list[str], inner: Optimizer) -> None:
        self.arrays = params
        self.holders = _holders(inner)
        self.states = [o.state for o in self.holders]
        arrays = list(params)
        for state in self.states:
            for bufs in (state or {}).values():
                arrays.extend(bufs.values())
        self.pairs = [(a, np.empty_like(a)) for a in arrays]
        self.params = {k: _readonly(b) for k, (_, b) in zip(keys, self.pairs, strict=False)}
        self.counters: list[tuple] = []

    def fits(self, params: list[np.ndarray], inner: Optimizer) -> bool:
        holders = _holders(inner)
        return (
            len(params) == len(self.arrays)
            and all(a is b for a, b in zip(params, self.arrays, strict=True))
            and len(holders) == len(self.holders)
            and all(o.state is s for o, s in zip(holders, self.states, strict=True))
        )

    def save(self) -> None:
        for array, buf in self.pairs:
            np.copyto(buf, array)
        self.counters = [
            (o.t, o.epoch, o.skipped_steps, o.current_lr, dict(getattr(o, "_scalars", {})))
            for o in self.holders
        ]

    def restore(self) -> None:
        for o, state, (t, epoch, skipped, lr, scalars) in zip(
            self.holders, self.states, self.counters, strict=True
        ):
            o.state = state
            o.t, o.epoch, o.skipped_steps, o.current_lr = t, epoch, skipped, lr
            if hasattr(o, "_scalars"):
                o._scalars = scalars
        for array, buf in self.pairs:
            np.copyto(array, buf)


# --------------------------------------------------------------------------- the base


class _NeedsClosure:
    """``needs_closure`` of a wrapper: its inner optimizers'; False on the class itself."""

    def __get__(self, wrapper: Any, owner: type | None = None) -> bool:
        if wrapper is None or "_lead" not in wrapper.__dict__:
            return False
        return any(inner.needs_closure for inner in wrapper._inners())


class _Wrapper(_Stateful):
    """What every wrapper shares: inner optimizers, lr, closures, nested state dicts."""

    kernel_modules = (wrappers_kernels, wrappers_fused)

    def __init__(self, **options) -> None:
        # The learning rate lives in the inner optimizer: a placeholder until it exists.
        Optimizer.__init__(self, 1.0, **options)
        self._call: tuple[Mapping, Mapping] | None = None
        self._views: tuple | None = None

    # --------------------------------------------------------- the inner optimizers

    def _inner(self, spec: Any, where: str = "inner", **overrides: Any) -> Optimizer:
        """The inner optimizer of ``spec``, with this wrapper's execution options."""
        inner = build_inner(
            spec, where, defaults={"fused": self.fused, "nonfinite": self.nonfinite}, **overrides
        )
        self._check_nonfinite(inner, where)
        return inner

    def _check_clipping(self) -> None:
        """Refuse ``clip_norm`` and ``clip_value`` when an inner optimizer, at any depth,
        refuses clipping (L-BFGS): the wrapper would clip the gradients it is handed and
        those its closure returns."""
        options = [o for o in ("clip_norm", "clip_value") if getattr(self, o) is not None]
        if not options:
            return
        for inner in self._inners():  # the first refuser, whichever options are set
            found = _clipping_refuser(inner, self._inner_role(inner))
            if found is not None:
                who, why = found
                fail(
                    f"{type(self).__name__} {options[0]}",
                    f"{unset()} when its {who} refuses clipping ({why})",
                    getattr(self, options[0]),
                )

    def _check_nonfinite(self, inner: Optimizer, where: str) -> None:
        if self.nonfinite == "ignore" and inner.nonfinite != "ignore":
            fail(
                f"{where} nonfinite",
                "'ignore' when the wrapper's is (a NaN let through would stop it mid-step)",
                inner.nonfinite,
            )

    @staticmethod
    def _lr(lr: Any) -> dict[str, Any]:
        """``{"lr": lr}`` for the inner optimizer, checked here so that errors name ``lr``."""
        if lr is FROM_INNER:
            return {}
        _schedules.as_schedule(_plain(lr))
        return {"lr": lr}

    def _inners(self) -> list[Optimizer]:
        """Every inner optimizer, the lead (whose lr is the wrapper's) first."""
        return [self._lead]

    @property
    def inner(self) -> dict[str, Any]:
        """The inner optimizer as plain data: ``{"optimizer": name, **hyperparameters}``."""
        return inner_spec(self._lead)

    @property
    def inner_optimizer(self) -> Optimizer:
        """The inner optimizer the wrapper steps (Groups: the one of the unmatched keys)."""
        return self._lead

    needs_closure = _NeedsClosure()  # type: ignore[assignment]

    # ----------------------------------------------------------- the learning rate

    @property
    def lr(self) -> Any:  # type: ignore[override]
        """The learning rate of the inner optimizer (a float or a Schedule)."""
        return self._lead.lr

    @lr.setter
    def lr(self, value: Any) -> None:
        if "_lead" in self.__dict__:  # Optimizer.__init__ sets a placeholder before
            self.set_lr(value)

    @property
    def _schedule(self) -> _schedules.Schedule:  # type: ignore[override]
        lead = self.__dict__.get("_lead")
        return lead._schedule if lead is not None else self.__dict__["_placeholder"]

    @_schedule.setter
    def _schedule(self, value: _schedules.Schedule) -> None:
        if "_lead" in self.__dict__:
            self.set_lr(value)
        else:
            self.__dict__["_placeholder"] = value

    def set_lr(self, lr: float | _schedules.Schedule) -> None:
        """Give the inner optimizer ``lr`` from its next step on (its step count kept)."""
        self._lead.set_lr(lr)

    # ------------------------------------------------------------------- updates

    def update(self, params, grads, closure=None) -> None:
        if callable(closure) and (self.maximize or self.clip_norm or self.clip_value):
            closure = _transformed_closure(closure, self)
        self._call = (params, grads)
        self._inner_steps = [inner.t for inner in self._inners()]
        try:
            # a failed step's count is put back by Optimizer.update when the inner
            # optimizers undid it (_step_undone); one an inner counted (L-BFGS that had
            # moved) stays counted here too, so the two agree
            super().update(params, grads, closure)
        except _Skipped:
            # An inner optimizer skipped the step (a closure gave NaN) under this
            # wrapper's nonfinite="skip": the whole call is skipped, undone.
            self.skipped_steps += 1
        finally:
            self._call = None

    def _step_undone(self) -> bool:
        """Whether the inner optimizers undid the step that failed: none of them counts
        a step more than before the call (one that had moved, L-BFGS, counts it; Groups
        put back the groups stepped before the one that refused). A refused or skipped
        first update's states, the wrapper's and those it made for its inner optimizers,
        go."""
        return all(inner.t == t for inner, t in zip(self._inners(), self._inner_steps, strict=True))

    def _closure_caller(self) -> str:
        """The inner optimizer that needs the closure, through this wrapper:
        ``"Lookahead's inner LBFGS"``."""
        for inner in self._inners():
            if inner.needs_closure:
                return (
                    f"{_possessive(type(self).__name__)} {self._inner_role(inner)} "
                    f"{inner._closure_caller()}"
                )
        return type(self).__name__

    def _inner_role(self, inner: Optimizer) -> str:
        """What ``inner`` is to this wrapper, in words: ``"inner"``."""
        return "inner"

    def _create_state(self, params) -> None:
        """The wrapper's state, after its inner optimizers' (which may refuse the keys).

        An inner optimizer that refuses its parameters (Muon with
        ``fallback="error"`` a vector, L-BFGS mixed dtypes) does so here, at the
        first update, before any inner optimizer has stepped; a refusal undoes
        the inner states made before it.
        """
        made = []
        try:
            for inner, keys in self._split(params):
                if keys and inner.state is None:
                    inner._create_state({k: params[k] for k in keys})
                    made.append(inner)
        except BaseException:
            for inner in made:
                inner.state = None
            raise
        super()._create_state(params)
        self._made_inners = made

    def _forget_state(self) -> None:
        """Back to no state after a refused first update: the inner states it made go too
        (an inner optimizer that had state before the wrapper's first update keeps it)."""
        for inner in self.__dict__.pop("_made_inners", ()):
            inner._forget_state()
        super()._forget_state()

    def _split(self, params) -> list[tuple[Optimizer, list[str]]]:
        """Each inner optimizer with the keys it steps."""
        return [(self._lead, list(params))]

    def _handed(self, effective: dict[str, np.ndarray]) -> tuple[Mapping, Mapping]:
        """The caller's params and the gradient as the wrapper passes it on, keyed as params.

        The caller's own gradient when the wrapper did not clip or flip it;
        otherwise views of the clipped copy, made once per layout, so that the
        inner optimizer gets the same arrays every step.
        """
        assert self._call is not None
        assert self._plan is not None
        params, grads = self._call
        plan = self._plan
        if effective is plan.flat_grads:
            return params, grads
        cached = self._views
        if (
            cached is None
            or cached[0] is not plan
            or any(a is not b for a, b in zip(cached[1], effective.values(), strict=True))
        ):
            views = {}
            if _FLAT in effective:
                flat, start = effective[_FLAT], 0
                for key in plan.keys:
                    p = params[key]
                    views[key] = flat[start : start + p.size].reshape(p.shape)
                    start += p.size
            else:
                views = {key: effective[key].reshape(params[key].shape) for key in plan.keys}
            cached = self._views = (plan, tuple(effective.values()), views)
        return params, cached[2]

    def _step_inner(
        self,
        inner: Optimizer,
        params: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        closure: Callable | None = None,
        *,
        then: Callable[[], None] | None = None,
        undone: Callable[[], None] | None = None,
    ) -> None:
        """``inner``'s step, then ``then()`` (what the wrapper does after it: average,
        sync, end its window), also when the step raised but counted, before the error
        goes on: the wrapper counts that step too, and its state must agree with its
        count; ``undone()`` when it raised uncounted (refused or skipped), to put the
        wrapper's part back."""
        inner.epoch = self.epoch
        t, skipped = inner.t, inner.skipped_steps
        try:
            inner.update(params, grads, closure=closure if closure is not None else self._closure)
            if self.nonfinite == "skip" and inner.t == t and inner.skipped_steps > skipped:
                # The inner optimizer skipped whole (a closure's NaN): under the
                # wrapper's "skip" the call is skipped whole, as optax's
                # should_skip_update_fn skips a mini-step: as if it never happened.
                inner.skipped_steps = skipped
                raise _Skipped
        except BaseException:
            finish = then if inner.t != t else undone
            if finish is not None:
                finish()
            raise
        if then is not None:
            then()

    def _check_next(self, epoch: int) -> None:
        """Refuse now what the inner optimizer's next step would refuse (its rate)."""
        _check_next(self._lead, epoch)

    # ------------------------------------------------------------ hyperparameters

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's arguments as plain data; ``inner`` as ``{"optimizer": name, ...}``."""
        hp: dict[str, Any] = {}
        for name in _argument_names(type(self).__init__):
            try:
                value = getattr(self, name)
            except AttributeError:  # Groups' weight_decay, when its optimizer has none
                continue
            hp[name] = _plain_data(value, name)
        return hp

    def eval_params(self, params: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """What to evaluate besides ``params``: here, the inner optimizer's (or ``params``)."""
        self._check_eval(params)
        own = getattr(self._lead, "eval_params", None)
        return params if own is None else own(params)

    def _check_eval(self, params: Any) -> None:
        """Refuse, naming it, what is not a dict of this optimizer's parameters.

        Its keys, and once there is a state, the state's keys, shapes and dtypes.
        """
        if not isinstance(params, Mapping):
            fail("params", "a dict of numpy arrays", params, kind=TypeError)
        for key, p in params.items():
            if not isinstance(key, str):
                fail("params keys", "str (names such as 'W1')", key, kind=TypeError)
            if not isinstance(p, np.ndarray):
                fail(f"params[{key!r}]", "a numpy array", p, kind=TypeError)
        if self.state is not None:
            self._check_state(dict(params))

    # ----------------------------------------------------------------- state dict

    def _inner_state_dicts(self) -> dict[str, Any]:
        return {"inner": self._lead.state_dict()}

    def state_dict(self) -> dict[str, Any]:
        """The wrapper's state dict, with the inner optimizer's nested under ``"inner"``."""
        return _fresh({**super().state_dict(), **self._inner_state_dicts()})

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`: the wrapper's part and every inner optimizer's.

        Everything is checked first (the inner optimizers' parts on copies of
        them, and that their keys are the wrapper's); a dict that fails
        changes nothing.
        """
        if not isinstance(state_dict, Mapping):
            fail("state_dict", "a dict from Optimizer.state_dict()", state_dict, kind=TypeError)
        if "optimizer" in state_dict and state_dict["optimizer"] != self.name:
            # another optimizer's state (a lookahead's given to groups) says so first
            fail("state_dict['optimizer']", repr(self.name), state_dict["optimizer"])
        names = list(self._inner_state_dicts())
        for name in names:
            if name not in state_dict:
                fail(
                    "state_dict",
                    f"a dict with the key {name!r} (the inner optimizer's state)",
                    sorted(state_dict, key=str),
                )
        own = {k: v for k, v in state_dict.items() if k not in names}
        saved = [state_dict[name] for name in names]
        pairs = self._inner_pairs(saved)
        for where, inner, inner_sd in pairs:  # dry runs
            try:
                _template(inner, where, {}).load_state_dict(inner_sd)
            except (TypeError, ValueError, KeyError) as error:
                _reraise(f"state_dict[{where}]", error)
        self._check_inner_keys(own.get("state"), pairs)
        super().load_state_dict(own)
        for _, inner, inner_sd in pairs:
            inner.load_state_dict(inner_sd)
        self._views = None

    def _inner_pairs(self, saved: list[Any]) -> list[tuple[str, Optimizer, Any]]:
        return [("'inner'", self._lead, saved[0])]

    def _check_inner_keys(self, state: Any, pairs: list[tuple[str, Optimizer, Any]]) -> None:
        """An inner optimizer's saved state must be for the wrapper's keys (or not yet made)."""
        keys = sorted(state) if isinstance(state, Mapping) else []
        for where, _, inner_sd in pairs:
            inner_state = inner_sd.get("state")
            if inner_state is not None and sorted(inner_state) != keys:
                fail(
                    f"state_dict[{where}]['state'] keys",
                    f"the wrapper's keys {keys}",
                    sorted(inner_state),
                )


def _transformed_closure(closure: Callable, wrapper: Optimizer) -> Callable:
    """``closure`` whose values get what the wrapper does to the incoming gradient.

    The wrapper's ``clip_norm`` (over all keys, as ``Optimizer._prepare_grads``),
    ``clip_value`` and ``maximize`` (which negates the loss too): an inner
    optimizer that calls the closure (L-BFGS, SAM) then sees one function, the
    one whose gradient it was handed. A result that is not ``(loss, dict of
    float arrays)`` is passed on as it is, for the inner optimizer to name.
    """

    def transformed(params):
        result = closure(params)
        if not (isinstance(result, tuple) and len(result) == 2):
            return result
        loss, grads = result
        if isinstance(loss, str | bytes | bool | np.bool_):
            return result
        try:  # as the inner optimizer reads it: a 0-d array or a Decimal is a number too
            loss = float(loss)
        except (TypeError, ValueError, OverflowError):
            return result
        if (
            not isinstance(grads, Mapping)
            or not all(isinstance(g, np.ndarray | np.floating) for g in grads.values())
            or not all(g.dtype in _FLOAT_DTYPES for g in grads.values())
        ):
            return result
        arrays = {k: np.asarray(g) for k, g in grads.items()}
        scale = 1.0
        if wrapper.clip_norm is not None:
            sq = sum(
                _fused.sum_of_squares(np.ascontiguousarray(g).reshape(-1)) for g in arrays.values()
            )
            norm = math.sqrt(sq)
            if norm > wrapper.clip_norm:
                scale = wrapper.clip_norm / (norm + 1e-6)
        if wrapper.maximize:
            scale = -scale
            loss = -loss
        out = {}
        for k, g in arrays.items():
            g = np.multiply(g, g.dtype.type(scale))
            if wrapper.clip_value is not None:
                c = g.dtype.type(wrapper.clip_value)
                np.clip(g, -c, c, out=g)
            out[k] = g
        return loss, out

    return transformed


# --------------------------------------------------------------------------- lookahead


@register(lr_range=(1e-4, 1.0))
class Lookahead(_Wrapper):
    """Lookahead: k fast steps of the inner optimizer, then one slow step back towards them.

    Update (θ: the fast weights, which ``params`` holds; φ: the slow weights)::

        φ ← θ                               (before the first step)
        θ ← inner step of θ with g
        φ ← φ + α·(θ − φ)                   (every k-th step)
        θ ← φ                               (every k-th step)

    ``params`` holds the fast weights θ: the gradients are taken there, and
    after every k-th step they equal the slow weights. The slow weights φ are
    the state ``"slow"``; ``eval_params(params)`` returns them (evaluate
    with them, as the paper and optax advise). optax keeps both in a
    ``LookaheadParams(fast, slow)`` pair and folds the synchronisation into
    the update (``fast + u − (1 − α)·(fast + u − slow)``); gdlab sets θ to φ
    itself, the paper's rule: both follow optax's within rounding (measured:
    slow 1.3e-13, fast 5.2e-13 relative, 250 steps).

    Args:
        lr: the inner optimizer's learning rate (float or Schedule); default:
            the inner optimizer's own.
        inner: the inner ("fast") optimizer: a name, ``{"optimizer": name,
            **hyperparameters}`` or an optimizer to copy; default ``"sgd"``.
        k: synchronisation period, steps between slow updates, >= 1, default 5
            (optax ``sync_period``).
        alpha: slow step size α in (0, 1], default 0.5 (optax ``slow_step_size``;
            α = 1 is the inner optimizer alone).

    References:
        Zhang, Lucas, Hinton & Ba (2019), "Lookahead Optimizer: k steps
        forward, 1 step back", arXiv:1907.08610; optax ``lookahead`` (matched).

    >>> import numpy as np
    >>> opt = Lookahead(inner={"optimizer": "sgd", "lr": 0.1}, k=2, alpha=0.5)
    >>> params = {"x": np.array(1.0)}
    >>> for _ in range(2):
    ...     opt.update(params, {"x": 2 * params["x"]})  # f(x) = x², fast: 0.8, 0.64
    >>> float(params["x"]), float(opt.eval_params(params)["x"])  # 1 + ½(0.64 − 1)
    (0.8200000000000001, 0.8200000000000001)
    """

    name = "lookahead"
    _elementwise = True
    state_names = ("slow",)

    def __init__(self, lr=FROM_INNER, inner="sgd", *, k=5, alpha=0.5, **options) -> None:
        super().__init__(**options)
        self.k = check_int("k", k, low=1)
        self.alpha = check_real("alpha", alpha, low=0, high=1, low_open=True)
        self._lead = self._inner(inner, **self._lr(lr))
        self._check_clipping()

    def _step(self, params, grads, lr) -> None:
        full, handed = self._handed(grads)
        made = None
        if self.t == 1:
            made = {key: self._buffers(key)[0].copy() for key in params}  # once, at the start
            for key, p in params.items():
                np.copyto(self._buffers(key)[0], p)

        def undone() -> None:  # a first step undone (or skipped) leaves φ as it was
            for key, slow in (made or {}).items():
                np.copyto(self._buffers(key)[0], slow)

        self._step_inner(self._lead, full, handed, then=lambda: self._sync(params), undone=undone)

    def _sync(self, params) -> None:
        """What follows the inner step: every k-th step φ ← φ + α(θ − φ), θ ← φ."""
        if self.t % self.k == 0:
            for key, p in params.items():
                (slow,) = self._buffers(key)
                self._kernels.lookahead_sync(p, slow, *self._cast(p.dtype, self.alpha))
        self.current_lr = self._lead.current_lr

    def slow_weights(self, params: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """The slow weights φ, read-only; ``params`` itself before the first step."""
        self._check_eval(params)
        if self.state is None or self.t == 0:
            return params
        return {key: _readonly(bufs["slow"]) for key, bufs in self.state.items()}

    def eval_params(self, params: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """The slow weights φ (read-only), what lookahead evaluates; ``params`` before any step."""
        return self.slow_weights(params)


# --------------------------------------------------------------------------- averaging


@register(lr_range=(1e-4, 1.0))
class Average(_Wrapper):
    """Weight averaging: the inner optimizer trains, an average of its parameters is kept.

    ``params`` follows the inner optimizer; after step t the parameters join
    the average when ``t ≥ start`` and ``(t − start)`` is a multiple of
    ``every`` (n counts the parameters averaged so far).

    ``mode="ema"`` (default; torch ``AveragedModel`` with
    ``get_ema_multi_avg_fn(decay)``)::

        a ← p                               (n = 1)
        a ← a + (1 − decay)·(p − a)         (n > 1)

    ``mode="ema", debias=True`` (optax ``ema(decay, debias=True)`` over the
    parameters)::

        a ← a + (1 − decay)·(p − a)         (a = 0 before n = 1)
        average = a / (1 − decay^n)

    ``mode="swa"`` (torch ``AveragedModel``'s default, stochastic weight averaging)::

        a ← a + (p − a)/n

    ``averaged(params)`` (and ``eval_params(params)``, what to evaluate) gives
    the average, read-only; ``params`` itself before anything is averaged.

    Args:
        lr: the inner optimizer's learning rate; default: its own.
        inner: the optimizer that trains; default ``"sgd"``.
        mode: ``"ema"`` or ``"swa"``.
        decay: the EMA's decay in [0, 1), default 0.999 (torch); ``None`` for "swa".
        debias: divide the EMA by 1 − decay^n, starting it at 0 (optax), default False.
        start: the first step whose parameters are averaged, >= 1, default 1.
        every: average every this many steps from ``start``, >= 1, default 1.

    References:
        Izmailov et al. (2018), "Averaging Weights Leads to Wider Optima and
        Better Generalization", arXiv:1803.05407; Polyak & Juditsky (1992);
        torch ``optim.swa_utils.AveragedModel`` and optax ``ema`` (matched).

    >>> import numpy as np
    >>> opt = Average(inner={"optimizer": "sgd", "lr": 0.25}, mode="swa")
    >>> params = {"x": np.array(1.0)}
    >>> for _ in range(3):
    ...     opt.update(params, {"x": 2 * params["x"]})  # 0.5, 0.25, 0.125
    >>> float(opt.averaged(params)["x"])
    0.2916666666666667
    """

    name = "average"
    _elementwise = True
    state_names = ("average",)
    MODES = ("ema", "swa")

    def __init__(
        self,
        lr=FROM_INNER,
        inner="sgd",
        *,
        mode="ema",
        decay=None,
        debias=False,
        start=1,
        every=1,
        **options,
    ) -> None:
        super().__init__(**options)
        self.mode = check_choice("mode", mode, self.MODES)
        if self.mode == "ema":
            self.decay = (
                0.999
                if decay is None
                else check_real("decay", decay, low=0, high=1, high_open=True)
            )
        elif decay is not None:
            fail("decay", f"{unset()} unless mode='ema'", decay)
        else:
            self.decay = None
        self.debias = check_bool("debias", debias)
        if self.debias and self.mode != "ema":
            fail("debias", f"{describe(False)} unless mode='ema'", debias)
        self.start = check_int("start", start, low=1)
        self.every = check_int("every", every, low=1)
        self._lead = self._inner(inner, **self._lr(lr))
        self._check_clipping()

    def count(self, t: int | None = None) -> int:
        """How many parameter sets the average holds after step ``t`` (default: now)."""
        t = self.t if t is None else t
        return 0 if t < self.start else (t - self.start) // self.every + 1

    def _step(self, params, grads, lr) -> None:
        full, handed = self._handed(grads)
        self._step_inner(self._lead, full, handed, then=lambda: self._average(params))

    def _average(self, params) -> None:
        """What follows the inner step: ``params`` join the average when step t is one."""
        self.current_lr = self._lead.current_lr
        t = self.t
        if t < self.start or (t - self.start) % self.every:
            return
        n = self.count(t)
        k = self._kernels
        for key, p in params.items():
            (avg,) = self._buffers(key)
            if n == 1 and not self.debias:
                np.copyto(avg, p)
            elif self.mode == "swa":
                k.swa_step(avg, p, *self._cast(p.dtype, n))
            else:
                k.ema_step(avg, p, *self._cast(p.dtype, 1 - self.decay))

    def averaged(self, params: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """The averaged parameters (read-only), keyed as ``params``; ``params`` before any."""
        self._check_eval(params)
        n = self.count()
        if self.state is None or n == 0:
            return params
        if self.debias:
            correction = 1 - self.decay**n
            out = {}
            for key, bufs in self.state.items():
                a = bufs["average"]
                out[key] = _readonly(np.divide(a, a.dtype.type(correction), out=np.empty_like(a)))
            return out
        return {key: _readonly(bufs["average"]) for key, bufs in self.state.items()}

    def eval_params(self, params: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """The average, what to evaluate (see :meth:`averaged`)."""
        return self.averaged(params)


# --------------------------------------------------------------------------- accumulation


@register(lr_range=(1e-4, 1.0))
class Accumulate(_Wrapper):
    """Gradient accumulation: one inner step with the mean of every ``every`` gradients.

    Update (n = 1, 2, …, every: the call within the current window)::

        A ← A + (g − A)/n                   (A = 0 when a window opens)
        p ← inner step of p with A          (when n = every; A ← 0)

    On the other calls ``params`` is unchanged. The inner optimizer counts its
    own steps (its schedule and bias corrections see t = 1, 2, … per window),
    as optax's ``MultiSteps``, whose mini-step semantics this is; a gradient
    that ``nonfinite="skip"`` skips is not counted, as optax's
    ``should_skip_update_fn=skip_not_finite`` (a mini-step rejected "as if it
    never happened"): so too a closure's NaN that makes the inner step skip
    (the window keeps its gradients and count). An inner optimizer that skips
    by its own ``nonfinite="skip"`` under a wrapper that raises is optax's
    ``MultiSteps(apply_if_finite(opt))``: the window ends, emptied and counted.
    ``use_grad_mean=False`` sums instead (``A ← A + g``). gdlab accumulates in
    the parameters' dtype (optax in float32 unless told ``accumulator_dtype``).
    ``current_lr`` on the calls between inner steps is the rate the next inner
    step will use.

    Args:
        lr: the inner optimizer's learning rate; default: its own.
        inner: the optimizer that steps; default ``"sgd"``.
        every: gradients per inner step, >= 1, default 1 (Keras's default,
            no accumulation; optax ``every_k_schedule``).
        use_grad_mean: average the gradients (default) or sum them (optax's name).

    References:
        optax ``MultiSteps`` (matched); Keras ``gradient_accumulation_steps``.

    >>> import numpy as np
    >>> opt = Accumulate(inner={"optimizer": "sgd", "lr": 0.5}, every=2)
    >>> params = {"x": np.array(1.0)}
    >>> opt.update(params, {"x": np.array(1.0)})
    >>> float(params["x"])
    1.0
    >>> opt.update(params, {"x": np.array(3.0)})  # mean gradient 2
    >>> float(params["x"])
    0.0
    """

    name = "accumulate"
    _elementwise = True
    state_names = ("acc_grads",)

    def __init__(
        self, lr=FROM_INNER, inner="sgd", *, every=1, use_grad_mean=True, **options
    ) -> None:
        super().__init__(**options)
        self.every = check_int("every", every, low=1)
        self.use_grad_mean = check_bool("use_grad_mean", use_grad_mean)
        self._lead = self._inner(inner, **self._lr(lr))
        self._check_clipping()
        self._accumulated: tuple | None = None

    @property
    def mini_step(self) -> int:
        """Gradients in the accumulator now (optax's ``mini_step``)."""
        return self.t % self.every

    def _step(self, params, grads, lr) -> None:
        n = (self.t - 1) % self.every + 1
        k = self._kernels
        backup = self._backup(grads) if n == self.every > 1 else None
        for key, g in grads.items():
            (acc,) = self._buffers(key)
            if backup is not None:
                np.copyto(backup[key], acc)
            if self.use_grad_mean:
                k.accumulate_mean(acc, g, *self._cast(g.dtype, n))
            else:
                k.accumulate_sum(acc, g)
        inner = self._lead
        if n < self.every:
            self.current_lr = inner.schedule(inner.t, self.epoch)
            return
        full, _ = self._handed(grads)

        def undone() -> None:  # the inner optimizer did not count the step: nor does the window
            for key in grads:
                (acc,) = self._buffers(key)
                if backup is None:
                    acc.fill(0)  # a window of one opened empty
                else:
                    np.copyto(acc, backup[key])

        self._step_inner(
            inner, full, self._accumulators(), then=lambda: self._close_window(grads), undone=undone
        )

    def _close_window(self, grads) -> None:
        """After the inner step: the accumulator emptied for the next window."""
        for key in grads:
            self._buffers(key)[0].fill(0)
        self.current_lr = self._lead.current_lr

    def _check_next(self, epoch: int) -> None:
        if self.t % self.every == self.every - 1:  # the next call steps the inner optimizer
            _check_next(self._lead, epoch)

    def _backup(self, grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Buffers for the accumulator before the call that steps (made once per layout),
        to put it back if the inner optimizer refuses the step."""
        layout = tuple((key, g.size, g.dtype.str) for key, g in grads.items())
        cached = self.__dict__.get("_backup_buffers")
        if cached is None or cached[0] != layout:
            buffers = {key: np.empty(g.size, g.dtype) for key, g in grads.items()}
            cached = self._backup_buffers = (layout, buffers)
        return cached[1]

    def _accumulators(self) -> dict[str, np.ndarray]:
        """The accumulated gradient per key, shaped as the parameters (made once)."""
        state = self.state
        assert state is not None
        cached = self._accumulated
        if cached is None or cached[0] is not state:
            cached = self._accumulated = (state, {k: b["acc_grads"] for k, b in state.items()})
        return cached[1]


# --------------------------------------------------------------------------- groups


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    """A group's ``keys``: one fnmatch pattern or a non-empty list of them."""
    allowed = "an fnmatch pattern such as 'b*' or a non-empty list of them"
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        fail(
            where,
            allowed,
            value,
            kind=TypeError if not isinstance(items, list | tuple) else ValueError,
        )
    for pattern in items:
        if not isinstance(pattern, str):
            fail(where, allowed, value, kind=TypeError)
        if not pattern:
            fail(where, f"{allowed} (an empty pattern matches no key)", value)
        opened = pattern.count("[")
        if opened and pattern.rfind("]") < pattern.rfind("["):
            fail(where, f"{allowed}, with every '[' closed by ']'", value)
    return tuple(items)


@register(lr_range=(1e-4, 1.0))
class Groups(_Wrapper):
    """Parameter groups: other hyperparameters for the keys that match a pattern.

    Each group is a dict: ``"keys"`` (an fnmatch pattern such as ``"b*"``, or
    a list of them) and the hyperparameters its keys get instead of the base
    settings. A key belongs to the first group that matches it; the keys no
    group matches get the base settings (``inner``, with ``lr`` and
    ``weight_decay`` if given). Each group is its own inner optimizer, sharing
    nothing with the others (its state, its step count), which is what
    torch's ``param_groups`` amount to. A group may name another
    ``"optimizer"``; its settings then start from that optimizer's defaults,
    except the rate: a group without its own ``lr`` takes the base rate (as
    a torch param group without ``lr`` takes the optimizer's), so one whose
    rule wants another scale (L-BFGS: 1) should set its ``lr``.

    Update (for each key, with its group's hyperparameters h)::

        p ← step of the group's optimizer on p with g and h

    ``set_lr`` (and ``fit(schedule=...)``) sets the rate of the unmatched keys
    and of every group that does not set its own ``lr`` (they share one
    schedule object); a group's own rate is kept. The optimizers that call
    the closure (L-BFGS, SAM) step first, each closure seeing every other key
    where the gradient was taken (a group stepped before it: its value before
    that step). An update is all or nothing: every group's rate is checked
    before any steps, and a group that refuses mid-step (its closure raised
    or gave NaN) puts back the groups stepped before it, from buffers made
    once (the refusing group follows its own rule: L-BFGS that had moved ends
    at the last point evaluated, its step counted; the update then counts too:
    the groups stepped before it keep their step, the others take theirs).
    A group that gets no key
    (its patterns match none, or only keys an earlier group took) is an
    error at the first update, which names it. Excluding biases from weight
    decay::

        create("groups", inner="adamw", lr=1e-3, weight_decay=0.01,
               groups=[{"keys": "b*", "weight_decay": 0.0}])

    Args:
        lr: the base learning rate; default: the inner optimizer's.
        inner: the base optimizer; default ``"sgd"``.
        weight_decay: the base weight decay; default: the inner optimizer's.
        groups: a list of ``{"keys": pattern(s), **hyperparameters}``, default none.

    References:
        PyTorch ``torch.optim.Optimizer`` ``param_groups`` (matched: AdamW
        with two groups); Loshchilov & Hutter (2019) on decoupled weight decay.
    """

    name = "groups"
    _elementwise = True
    state_names = ()

    def __init__(
        self, lr=FROM_INNER, inner="sgd", *, weight_decay=FROM_INNER, groups=(), **options
    ) -> None:
        super().__init__(**options)
        overrides = self._lr(lr)
        if weight_decay is not FROM_INNER:
            check_real("weight_decay", weight_decay, low=0)
            overrides["weight_decay"] = weight_decay
        base = self._inner(inner, **overrides)
        if isinstance(groups, str | Mapping) or not isinstance(groups, Sequence):
            fail(
                "groups",
                "a list of dicts such as [{'keys': 'b*', 'weight_decay': 0.0}]",
                groups,
                kind=TypeError,
            )
        plain, patterns, members, inherits = [], [], [], []
        for i, group in enumerate(groups):
            where = f"groups[{i}]"
            if not isinstance(group, Mapping):
                fail(where, "a dict {'keys': pattern, **hyperparameters}", group, kind=TypeError)
            if "keys" not in group:
                fail(
                    where,
                    "a dict with the key 'keys' (an fnmatch pattern or a list of them)",
                    dict(group),
                )
            patterns.append(_patterns(_plain(group["keys"]), f"{where}['keys']"))
            spec = _plain_data(dict(group), where)
            settings = _settings({k: v for k, v in group.items() if k != "keys"}, where)
            settings = {k: _plain(v) for k, v in settings.items()}
            other = settings.pop("optimizer", None)
            inherits.append("lr" not in settings)
            if other is not None and (not isinstance(other, str) or other.lower() != base.name):
                shared = {"lr": base.lr} if inherits[-1] else {}  # as torch's param_groups
                members.append(self._inner({"optimizer": other, **settings}, where, **shared))
            else:
                if "preset" in settings:
                    fail(
                        f"{where}['preset']",
                        "given with another 'optimizer' only",
                        settings["preset"],
                    )
                kwargs = {n: getattr(base, n) for n in base.hyperparameters()}  # lr shared
                kwargs.update(settings)
                try:
                    members.append(type(base)(**kwargs))
                except (TypeError, ValueError) as error:
                    _reraise(where, error)
                self._check_nonfinite(members[-1], where)
            plain.append(spec)
        self._lead = base
        self.groups = plain
        self.group_optimizers = members
        self._patterns = patterns
        self._inherits = inherits
        self._members: list[list[str]] | None = None
        self._check_clipping()

    def _inners(self) -> list[Optimizer]:
        return [self._lead, *self.group_optimizers]

    def _inner_role(self, inner: Optimizer) -> str:
        for i, member in enumerate(self.group_optimizers):
            if member is inner:
                return f"groups[{i}] optimizer"
        return "base optimizer"

    @property
    def weight_decay(self) -> Any:
        """The base optimizer's weight decay."""
        return self._lead.weight_decay

    def set_lr(self, lr: float | _schedules.Schedule) -> None:
        """Set the rate of the unmatched keys and of the groups without their own ``lr``."""
        _schedules.as_schedule(_plain(lr))  # checked before anything changes
        self._lead.set_lr(lr)  # a Schedule object is shared, a number is copied
        for inner, inherits in zip(self.group_optimizers, self._inherits, strict=True):
            if inherits:
                inner.set_lr(lr)

    # -------------------------------------------------------------- key assignment

    def assign(self, keys: Sequence[str]) -> list[list[str]]:
        """The keys of the base optimizer, then of each group (first match wins).

        Raises ``ValueError`` naming a group that gets no key.
        """
        members: list[list[str]] = [[] for _ in range(1 + len(self._patterns))]
        for key in keys:
            for i, patterns in enumerate(self._patterns):
                if any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns):
                    members[i + 1].append(key)
                    break
            else:
                members[0].append(key)
        for i, patterns in enumerate(self._patterns):
            if members[i + 1]:
                continue
            shown = self.groups[i]["keys"]
            matched = [k for k in keys if any(fnmatch.fnmatchcase(k, p) for p in patterns)]
            if matched:
                raise ValueError(
                    f"groups[{i}] (keys {shown!r}) must get a parameter; got none: "
                    f"{', '.join(matched)} went to earlier groups (the first matching group wins)"
                )
            raise ValueError(
                f"groups[{i}] (keys {shown!r}) must match a parameter key; got none of "
                f"{', '.join(keys)}"
            )
        return members

    def _create_state(self, params) -> None:
        members = self.assign(list(params))  # raises before anything is made
        super()._create_state(params)
        self._members = members

    def _forget_state(self) -> None:
        """Back to no state, and no keys assigned to the groups (the next update's are)."""
        super()._forget_state()
        self._members = None

    def _split(self, params) -> list[tuple[Optimizer, list[str]]]:
        return list(zip(self._inners(), self.assign(list(params)), strict=True))

    def _check_next(self, epoch: int) -> None:
        for inner, _ in self._order():
            _check_next(inner, epoch)

    def _order(self) -> list[tuple[Optimizer, list[str]]]:
        """The groups with keys in the order they step: those that call the closure first."""
        members = self._members
        if members is None:
            members = self._members = self.assign(list(self.state or {}))
        pairs = [(inner, keys) for inner, keys in zip(self._inners(), members, strict=True) if keys]
        pairs.sort(key=lambda pair: not pair[0].needs_closure)
        return pairs

    def _saves(self, order, params) -> list[_Saved | None]:
        """For each group in ``order``, buffers to put it back if a later one refuses.

        None for a group that no later group can undo (one refusing only
        before any group steps, which :meth:`_check_next` catches). Made
        once for these parameter arrays and states.
        """
        refusing = [_refuses_mid_step(inner) for inner, _ in order]
        saves: list[_Saved | None] = []
        cache = self.__dict__.get("_saved_groups") or {}
        kept = {}
        for i, (inner, keys) in enumerate(order):
            if not any(refusing[i + 1 :]):
                saves.append(None)
                continue
            arrays = [params[k] for k in keys]
            saved = cache.get(id(inner))
            if saved is None or not saved.fits(arrays, inner):
                saved = _Saved(arrays, keys, inner)
            kept[id(inner)] = saved
            saves.append(saved)
        self._saved_groups = kept
        return saves

    def _step(self, params, grads, lr) -> None:
        full, handed = self._handed(grads)
        order = self._order()
        # Everything that can be checked, for every group, before any steps.
        for inner, _ in order:
            _check_next(inner, self.epoch)
        saves = self._saves(order, full)
        # The optimizers that call the closure step first; each sees the other
        # keys where the gradient was taken (a group stepped before it: its saved
        # values). A group that refuses mid-step (its closure raised or gave NaN)
        # changed nothing of its own; those stepped before it are put back. One that
        # counts its step all the same (L-BFGS that had moved) counts the update: the
        # groups stepped before it keep their step and the others take theirs.
        at: dict[str, np.ndarray] = {}
        stepped: list[_Saved] = []
        pairs = list(zip(order, saves, strict=True))
        for i, ((inner, keys), saved) in enumerate(pairs):
            t = inner.t
            try:
                self._step_group(inner, keys, saved, full, handed, at)
            except BaseException:
                if not _counted_whole(inner, t):
                    # undone, or stopped half done by a rule that does not call the
                    # closure: the groups stepped before it are put back
                    for done in reversed(stepped):
                        done.restore()
                    raise
                # Counted by a rule that calls the closure (L-BFGS that had moved ends
                # at the last point it evaluated): the update is counted, so every
                # group takes it; a later group that refuses follows its own rule.
                if saved is not None:
                    at.update(saved.params)
                for (other, other_keys), other_saved in pairs[i + 1 :]:
                    with contextlib.suppress(Exception):
                        self._step_group(other, other_keys, other_saved, full, handed, at)
                raise
            if saved is not None:
                stepped.append(saved)

    def _step_group(self, inner, keys, saved, full, handed, at) -> None:
        """One group's step; the closure sees the keys of groups stepped before at ``at``."""
        sub = None
        if self._closure is not None and inner.needs_closure:
            sub = _sub_closure(self._closure, {**full, **at}, keys)
        if saved is not None:
            saved.save()
        self._step_inner(
            inner, {k: full[k] for k in keys}, {k: handed[k] for k in keys}, closure=sub
        )
        if saved is not None:
            at.update(saved.params)

    def eval_params(self, params: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """Each group's optimizer's own evaluation parameters, if any; else ``params``."""
        self._check_eval(params)
        members = self._members if self._members is not None else self.assign(list(params))
        out: dict[str, np.ndarray] = {}
        separate = False
        for inner, keys in zip(self._inners(), members, strict=True):
            own = getattr(inner, "eval_params", None)
            sub = {k: params[k] for k in keys}
            got = sub if own is None or not keys else own(sub)
            separate = separate or got is not sub
            out.update(got)
        return {k: out[k] for k in params} if separate else params

    # ------------------------------------------------------------------ state dict

    def _inner_state_dicts(self) -> dict[str, Any]:
        return {"inners": [inner.state_dict() for inner in self._inners()]}

    def _inner_pairs(self, saved: list[Any]) -> list[tuple[str, Optimizer, Any]]:
        inners = self._inners()
        (listed,) = saved
        if not isinstance(listed, list | tuple) or len(listed) != len(inners):
            fail(
                "state_dict['inners']",
                f"a list of {len(inners)} state dicts (the base optimizer's, then each group's)",
                listed,
            )
        return [
            (f"'inners'][{i}", inner, sd)
            for i, (inner, sd) in enumerate(zip(inners, listed, strict=True))
        ]

    def _check_inner_keys(self, state: Any, pairs: list[tuple[str, Optimizer, Any]]) -> None:
        keys = list(state) if isinstance(state, Mapping) else []
        members = self.assign(keys) if keys else [[] for _ in pairs]
        for (where, _, inner_sd), mine in zip(pairs, members, strict=True):
            inner_state = inner_sd.get("state") if isinstance(inner_sd, Mapping) else None
            if inner_state is not None and sorted(inner_state) != sorted(mine):
                fail(
                    f"state_dict[{where}]['state'] keys",
                    f"its group's keys {sorted(mine)}",
                    sorted(inner_state),
                )

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._members = None if self.state is None else self.assign(list(self.state))


def _sub_closure(closure: Callable, full: Mapping[str, np.ndarray], keys: list[str]) -> Callable:
    """``closure`` for one group: its keys given, the others taken from ``full``."""

    def group_closure(params):
        result = closure({**full, **params})
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Mapping)):
            return result  # not (loss, dict): the group's optimizer names what it got
        loss, grads = result
        check_same_keys("the closure's grads must have the keys of params", grads, full)
        return loss, {k: grads[k] for k in keys}

    return group_closure
