"""The optimizer registry: every name the CLI, races, tuning and tests loop over.

:func:`create` makes an optimizer by name, :func:`load` from a saved file.
The registry imports :mod:`.base`, never the other way round.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .. import schedules as _schedules
from .._checks import check_bool, check_int, check_real, describe, fail
from .._keys import RUN_KEYS, TOP_KEYS
from .._registry import PluginWarning
from . import io as _files
from .base import _FORMAT, Optimizer, _plain

__all__ = ["ENTRY_POINT_GROUP", "OPTIMIZERS", "PRESETS", "create", "load", "register"]

#: The entry point group third-party packages register optimizers through.
ENTRY_POINT_GROUP = "gdlab.optimizers"

_REGISTRY: dict[str, type[Optimizer]] = {}

#: Every registered optimizer by name, in registration order (a live view).
OPTIMIZERS: MappingProxyType[str, type[Optimizer]] = MappingProxyType(_REGISTRY)

#: The presets the built-ins use, in this order; an optimizer may add its own.
_PRESET_ORDER = ("book", "course", "torch", "keras", "optax")

#: Hyperparameters tuning knows how to search when an optimizer has them.
_STANDARD_TUNABLES = ("lr", "momentum", "beta1", "beta2", "eps", "weight_decay")

#: The search ranges tuning knows of its own, as distribution configs (the
#: ``to_config()`` of :mod:`gdlab.selection`'s distributions). The β's and
#: decays are choices: what matters is ``1 − β`` (the averaging window, about
#: ``1/(1 − β)`` steps), and a few windows cover it. ``lr`` is the optimizer's
#: ``lr_range``; ``momentum`` depends on its default (see :func:`_momentum_range`).
_STANDARD_RANGES: dict[str, dict[str, Any]] = {
    "beta1": {"type": "choice", "values": [0.5, 0.8, 0.9, 0.95]},  # seed 002 recommends 0.9
    "beta2": {"type": "choice", "values": [0.99, 0.999, 0.9999]},  # seed 002 recommends 0.999
    "eps": {"type": "loguniform", "low": 1e-10, "high": 1e-4},
    "decay": {"type": "choice", "values": [0.9, 0.95, 0.99, 0.999]},
    "weight_decay": {"type": "loguniform", "low": 1e-6, "high": 1e-1},
}
#: What a tunable's declared range may say (see :func:`register`).
_RANGE_KEYS = ("argument", "range", "scale", "values")
_SCALES = {"log": "loguniform", "linear": "uniform"}

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


class _Presets(Mapping):
    """Preset name → {optimizer name → settings}, read from the registry each time."""

    def _table(self) -> dict[str, dict[str, dict[str, Any]]]:
        table: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in _PRESET_ORDER}
        for name, cls in _REGISTRY.items():
            for preset, settings in cls.presets.items():
                table.setdefault(preset, {})[name] = dict(settings)
        return {p: t for p, t in table.items() if t}

    def __getitem__(self, preset: str) -> Mapping[str, dict[str, Any]]:
        return MappingProxyType(self._table()[preset])

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return f"PRESETS({ {p: list(t) for p, t in self._table().items()} })"


#: Presets: one word that chooses each optimizer's form and defaults (see
#: :mod:`gdlab.optim.presets`). A live view of what the registered optimizers declare.
PRESETS: Mapping[str, Mapping[str, dict[str, Any]]] = _Presets()


def register(
    name: str | None = None,
    *,
    lr_range: tuple[float, float],
    tunable: Mapping[str, str] | None = None,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    state: tuple[str, ...] = (),
    replace: bool = False,
) -> Callable[[Any], type[Optimizer]]:
    """Add an optimizer to :data:`OPTIMIZERS`: ``create``, the CLI, races, tuning and reports.

    Decorate an :class:`Optimizer` subclass, or a plain function
    ``rule(p, g, state, t, *, lr, **hyperparameters)`` that updates the flat
    array ``p`` in place from ``g`` (``state`` is a dict of flat arrays named
    by ``state``, zero at first; ``t`` counts updates from 1); its keyword
    defaults are the optimizer's defaults.

    >>> import numpy as np
    >>> @register("sign_descent", lr_range=(1e-4, 1e-1))
    ... def sign_descent(p, g, state, t, *, lr=0.01):
    ...     p -= lr * np.sign(g)
    >>> opt = create("sign_descent", lr=0.5)
    >>> x = {"x": np.array([2.0, -3.0])}
    >>> opt.update(x, {"x": 2 * x["x"]})
    >>> x["x"]
    array([ 1.5, -2.5])
    >>> _ = unregister("sign_descent")

    Args:
        name: the registry name (lower case, ``[a-z][a-z0-9_]*``); default
            the ``name`` attribute the class itself sets (not one it
            inherits), else the class's or the function's name in lower case.
        lr_range: the learning rates tuning searches, log-uniform, ``0 < low < high``.
        tunable: extra tunables beyond the standard ones the constructor has
            (``lr``, ``momentum``, ``beta1``, ``beta2``, ``eps``,
            ``weight_decay``), each the constructor argument it sets: a name
            whose search range tuning knows (those and ``decay``) as the
            argument alone (``{"decay": "alpha"}``), any name with its range,
            ``{"gamma": {"range": (1e-3, 1.0)}}`` (log-uniform, as
            ``lr_range``; ``"scale": "linear"`` for uniform) or
            ``{"gamma": {"values": (0.1, 0.5)}}`` (a choice), plus
            ``"argument"`` when the argument has another name. A name with
            no range is an error here.
        presets: ``{preset: constructor arguments}``, for example
            ``{"torch": {}, "keras": {"eps": 1e-7}}``.
        state: a function rule's state arrays (classes declare ``state_names``).
        replace: allow replacing an optimizer registered under the same name.
    """

    if name is not None:
        _checked_name(name)
    _checked_range(name or "the optimizer", lr_range)

    def decorate(obj: Any) -> type[Optimizer]:
        # the module whose import applies it (not the one that called register: a
        # module's `later = register(...)` may decorate a script's rule, in __main__)
        importing = _importing_module(sys._getframe(1))
        cls = _optimizer_class(obj, name, state)
        # a subclass does not take its parent's registry name: MyAdam(Adam) is 'myadam'
        own = cls.__dict__.get("name") or obj.__name__.lower()
        key = _checked_name(name if name is not None else own)
        if isinstance(cls.name, str) and cls.name != key and _REGISTRY.get(cls.name) is cls:
            # Renaming it would rename the optimizer registered already: its
            # state dicts and files would then name the new key, and those saved
            # under the old one would no longer load.
            raise ValueError(
                f"{cls.__qualname__} is already registered as {cls.name!r}, so it cannot be "
                f"registered as {key!r} too: register a subclass under the new name"
            )
        if key in _REGISTRY and _REGISTRY[key] is not cls and not replace:
            raise ValueError(
                f"optimizer name {key!r} is already registered (by "
                f"{_REGISTRY[key].__module__}.{_REGISTRY[key].__qualname__}); pass "
                "replace=True to replace it"
            )
        low, high = _checked_range(key, lr_range)
        _check_defaults(cls, key)
        arguments = _constructor_arguments(cls)
        _check_experiment_keys(key, arguments)
        tunables, ranges = _checked_tunables(key, cls, arguments, tunable)
        checked_presets = _checked_presets(key, arguments, presets)
        _check_presets_accepted(cls, key, checked_presets)
        cls.name = key
        cls.lr_range = (low, high)
        cls.tunable = tunables
        cls.tunable_ranges = {"lr": {"type": "loguniform", "low": low, "high": high}, **ranges}
        cls._declared_ranges = {  # what declared_range reads: the ranges the caller gave
            tunables[what]: ranges[what]
            for what, entry in (tunable or {}).items()
            if isinstance(entry, Mapping)
        }
        cls.presets = checked_presets
        _REGISTRY[key] = cls
        # what a fresh process imports to see it: an object of __main__ it cannot import
        own_module = getattr(obj, "__module__", None)
        _REGISTERED_BY[key] = own_module if own_module in _MAIN_MODULES else importing
        return cls

    return decorate


#: The modules a script, a notebook or ``python -c`` runs as, which no other process imports.
_MAIN_MODULES = ("__main__", "__mp_main__")

#: Each optimizer's registering module (:func:`registering_module`), by name.
_REGISTERED_BY: dict[str, str] = {}


def _importing_module(frame: Any) -> str:
    """The module whose top-level code, run from ``frame`` up, called :func:`register`: the
    innermost module body on the stack (``regs`` for ``import defs; register(...)(defs.rule)``
    in ``regs``; ``__main__`` for a call from a script's or a notebook's function)."""
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    return "__main__" if frame is None else str(frame.f_globals.get("__name__", "__main__"))


def registering_module(name: str) -> str:
    """The module that registers optimizer ``name`` when it is imported (so what a fresh
    worker process imports to see it): the module whose top-level code called
    :func:`register` (not the one that defines the rule or class), ``"__main__"`` for one
    registered by a script, a notebook or ``python -c`` (no other process sees it)."""
    if name not in _REGISTRY:
        fail("optimizer name", f"one of {', '.join(_REGISTRY)}", name)
    return _REGISTERED_BY.get(name, _REGISTRY[name].__module__)


def _check_experiment_keys(key: str, arguments: list[str]) -> None:
    """Refuse an optimizer name that is an experiment's own key (``training``: ``--set
    training.lr=0.5`` could not reach it), and a hyperparameter that is a run's own key
    (``steps``: ``--set RUN.steps=5`` would set the run's training and not it)."""
    if key in TOP_KEYS:
        fail("optimizer name", f"none of an experiment's top-level keys ({', '.join(TOP_KEYS)}): "
             "--set KEY.X and an experiment file read those as their own", key)  # fmt: skip
    for argument in arguments:
        if argument in RUN_KEYS:
            fail(f"argument {argument!r} of optimizer {key!r}",
                 f"none of a run's own keys ({', '.join(RUN_KEYS)}): a [[runs]] table and "
                 "--set RUN.KEY read those as the run's settings, not the optimizer's",
                 argument)  # fmt: skip


def _optimizer_class(obj: Any, name: str | None, state: tuple[str, ...]) -> type[Optimizer]:
    """What :func:`register` decorates, as an :class:`Optimizer` subclass."""
    if isinstance(obj, type) and issubclass(obj, Optimizer):
        if state:
            fail("state", "empty for a class (declare state_names)", state)
        return obj
    if inspect.isfunction(obj):
        return _rule_class(obj, name or obj.__name__.lower(), _checked_state_names(state))
    fail("register's argument", "an Optimizer subclass or a function", obj, kind=TypeError)


def _checked_state_names(state: Any) -> tuple[str, ...]:
    """A function rule's state names: distinct identifiers, in a tuple or list."""
    if not isinstance(state, tuple | list):
        fail("state", "a tuple of state array names such as ('m', 'v')", state, kind=TypeError)
    for n in state:
        if not isinstance(n, str) or not n.isidentifier():
            fail("state names", "identifiers such as 'm'", n, kind=TypeError)
    if len(set(state)) != len(state):
        fail("state", "distinct names", tuple(state))
    return tuple(state)


def _checked_tunables(
    key: str, cls: type[Optimizer], arguments: list[str], tunable: Mapping[str, Any] | None
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``({tunable: argument}, {tunable: search range})``: the standard tunables the
    constructor has, then ``tunable``'s; ``lr``'s range is ``lr_range`` (not here)."""
    if tunable is not None and not isinstance(tunable, Mapping):
        fail(f"tunable of {key!r}", "a dict {name on --tune: argument or range}", tunable,
             kind=TypeError)  # fmt: skip
    entries: dict[str, Any] = {t: t for t in _STANDARD_TUNABLES if t in arguments}
    entries.update(tunable or {})
    tunables: dict[str, str] = {}
    ranges: dict[str, dict[str, Any]] = {}
    declared: list[tuple[str, str, dict[str, Any]]] = []  # (where, argument, range)
    for what, entry in entries.items():
        where = f"tunable {what!r} of {key!r}"
        if not isinstance(what, str) or not what.isidentifier():
            fail(f"tunable names of {key!r}", "identifiers such as 'gamma'", what, kind=TypeError)
        argument = entry.get("argument", what) if isinstance(entry, Mapping) else entry
        if argument not in arguments:
            fail(where, f"one of {', '.join(arguments)}", argument)
        tunables[what] = argument
        if what == "lr":
            if isinstance(entry, Mapping):
                fail(where, "the argument alone (lr's range is lr_range)", dict(entry))
            continue
        ranges[what] = _tunable_range(where, cls, argument, what, entry)
        if isinstance(entry, Mapping):
            declared.append((where, argument, ranges[what]))
    _check_accepted(cls, declared)
    return tunables, ranges


def declared_range(cls: type[Optimizer], argument: str) -> dict[str, Any] | None:
    """The search range :func:`register`'s ``tunable`` declared for constructor argument
    ``argument`` of ``cls`` (a distribution config, as in ``cls.tunable_ranges``); ``None``
    for an argument with none, or only a standard one gdlab knows (``beta1``'s choices)."""
    return cls.__dict__.get("_declared_ranges", {}).get(argument)


def _made_by_defaults(cls: type[Optimizer]) -> bool:
    """Whether ``cls()`` makes an optimizer: the checks of declared ranges and presets
    leave one that needs more than its defaults unchecked."""
    try:
        cls()
    except Exception:  # any error of a user's constructor: nothing to check against
        return False
    return True


def _check_accepted(cls: type[Optimizer], declared: list[tuple[str, str, Mapping]]) -> None:
    """Refuse a declared range the optimizer's own argument checks refuse: each choice
    value, or each end of a range (drawn as floats), must make an optimizer (``3.0``
    for an int ``k`` would not), or tuning would fail every such candidate.
    ``declared``: ``(where, argument, range)`` of each tunable declared with its range."""
    if not declared or not _made_by_defaults(cls):
        return
    for where, argument, dist in declared:
        if dist["type"] == "choice":
            tried = [("value", v) for v in dist["values"]]
        else:
            tried = [("range end", float(dist["low"])), ("range end", float(dist["high"]))]
        for what, value in tried:
            try:
                cls(**{argument: value})
            except (TypeError, ValueError) as error:
                hint = (
                    f"a range whose ends {argument}= accepts (a range draws floats: an int "
                    "or bool argument takes 'values', a choice)"
                    if what == "range end"
                    else f"values that {argument}= accepts"
                )
                raise ValueError(
                    f"{where}: {what} {describe(value)} is refused by the optimizer "
                    f"({error}); declare {hint}"
                ) from None


def _tunable_range(
    where: str, cls: type[Optimizer], argument: str, what: str, entry: Any
) -> dict[str, Any]:
    """The search range of one tunable, as a distribution config: declared, or standard."""
    if isinstance(entry, Mapping):
        return _declared_range(where, entry)
    if what == "momentum":
        return _momentum_range(cls, argument)
    if what not in _STANDARD_RANGES:
        known = ", ".join(["momentum", *_STANDARD_RANGES])
        fail(
            where,
            f"given with its search range, e.g. {{{what!r}: {{'argument': {entry!r}, "
            "'range': (low, high)}} (log-uniform; 'scale': 'linear' for uniform) or "
            f"{{'values': (...)}} (tuning knows the ranges of {known} only)",
            entry,
        )
    return _STANDARD_RANGES[what]


def _momentum_range(cls: type[Optimizer], argument: str) -> dict[str, Any]:
    """A momentum that is off by default (RMSprop's) offers "off" among the values."""
    default = inspect.signature(cls.__init__).parameters[argument].default
    values = [0.0, 0.5, 0.9] if default == 0 else [0.5, 0.9, 0.95, 0.99]
    return {"type": "choice", "values": values}


def _declared_range(where: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``{"range": (low, high), "scale": "log" | "linear"}`` or ``{"values": (...)}``, as a
    distribution config, checked as :mod:`gdlab.selection` would check it."""
    unknown = [k for k in entry if k not in _RANGE_KEYS]
    if unknown:
        fail(f"the keys of {where}", f"among {', '.join(_RANGE_KEYS)}", unknown[0])
    if ("range" in entry) == ("values" in entry):
        fail(where, "given a 'range': (low, high) or 'values': (...), one of them",
             dict(entry))  # fmt: skip
    if "values" in entry:
        if "scale" in entry:
            fail(f"scale of {where}", "left out with 'values' (a choice has none)", entry["scale"])
        return {"type": "choice", "values": _checked_values(where, entry["values"])}
    scale = entry.get("scale", "log")
    if scale not in _SCALES:
        fail(f"scale of {where}", "'log' or 'linear'", scale)
    low, high = _checked_pair(where, entry["range"], positive=scale == "log")
    return {"type": _SCALES[scale], "low": low, "high": high}


def _checked_pair(where: str, pair: Any, *, positive: bool) -> tuple[float, float]:
    """``(low, high)``, finite, ``low < high`` (and ``0 < low`` for a log scale)."""
    shape = "0 < low < high" if positive else "low < high"
    if isinstance(pair, str) or not isinstance(pair, tuple | list) or len(pair) != 2:
        fail(f"range of {where}", f"a pair (low, high) with {shape}", pair)
    low = check_real(f"range[0] of {where}", pair[0], low=0 if positive else None,
                     low_open=positive)  # fmt: skip
    high = check_real(f"range[1] of {where}", pair[1], low=low, low_open=True)
    if not math.isfinite(high - low):
        fail(f"high - low of {where}", "finite (a range within the float limits)", high - low)
    return low, high


def _checked_values(where: str, values: Any) -> list[Any]:
    """A choice's values: plain scalars (None, bool, int, finite float, str), distinct."""
    if isinstance(values, str | bytes) or not isinstance(values, tuple | list) or not values:
        fail(f"values of {where}", "a non-empty list of values", values)
    plain = [_plain(v) for v in values]
    for v in plain:
        if v is not None and not isinstance(v, bool | int | float | str):
            fail(f"values of {where}", "None, bools, numbers or strs", v, kind=TypeError)
        if isinstance(v, float) and not math.isfinite(v):
            fail(f"values of {where}", "finite", v)
    if len({(type(v), v) for v in plain}) != len(plain):  # 1 == 1.0 == True: types count
        fail(f"values of {where}", "distinct", plain)
    return plain


def _checked_presets(
    key: str, arguments: list[str], presets: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """``presets`` checked: lower-case names, settings among the constructor's arguments."""
    checked = {}
    for preset, settings in dict(presets or {}).items():
        meant = _misspelt_preset(preset, key) if isinstance(preset, str) else None
        if meant is not None:
            raise ValueError(
                f"preset name {preset!r} of {key!r} is too close to the existing preset "
                f"{meant!r}: did you mean {meant!r}? (a preset of your own needs a name "
                "that no existing one is a slip away from)"
            )
        if not isinstance(preset, str) or not _NAME.match(preset):
            fail("preset name", "a lower-case word such as 'torch'", preset)
        unknown = [k for k in settings if k not in arguments]
        if unknown:
            fail(f"preset {preset!r} of {key!r}", f"arguments among {', '.join(arguments)}",
                 unknown[0])  # fmt: skip
        checked[preset] = dict(settings)
    return checked


def _misspelt_preset(preset: str, key: str) -> str | None:
    """The existing preset ``preset`` is a slip of the keyboard for, or ``None``: one that
    differs from it only in case or ``_`` (``"Torch"``, ``"my_lab"`` for ``"mylab"``), or,
    for the built-in ones people type from memory, one difflib finds very close
    (``"pytorch"``, ``"optx"``). A name equal to an existing preset is no slip, and so is
    one merely close to a preset of one's own (``"paper2019"`` beside ``"paper2018"``).
    Optimizer ``key``'s own presets do not count (``replace=True`` may rename them)."""
    others = (cls for name, cls in _REGISTRY.items() if name != key)
    existing = [*_PRESET_ORDER, *(p for cls in others for p in cls.presets)]
    if preset in existing:
        return None
    folded = preset.lower().replace("_", "")
    same = [p for p in existing if p.replace("_", "") == folded]
    close = difflib.get_close_matches(folded, _PRESET_ORDER, n=1, cutoff=0.8)
    return (same or close or [None])[0]


def _check_presets_accepted(cls: type[Optimizer], key: str, presets: Mapping[str, Mapping]) -> None:
    """Refuse a preset whose settings the optimizer's own argument checks refuse, here,
    rather than when a race or ``create`` first uses it (``lr = -1``)."""
    if not presets or not _made_by_defaults(cls):
        return
    for preset, settings in presets.items():
        try:
            cls(**settings)
        except (TypeError, ValueError) as error:
            given = ", ".join(f"{k}={describe(v)}" for k, v in settings.items())
            raise ValueError(
                f"preset {preset!r} of {key!r} ({given}) is refused by the optimizer: {error}"
            ) from None


def unregister(name: str) -> type[Optimizer]:
    """Remove ``name`` from the registry and return its class (for tests and notebooks)."""
    if name not in _REGISTRY:
        fail("optimizer name", f"one of {', '.join(_REGISTRY)}", name)
    _REGISTERED_BY.pop(name, None)
    return _REGISTRY.pop(name)


def _checked_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        fail("optimizer name", "a lower-case identifier such as 'my_adam'", name)
    return name


def _checked_range(name: str, lr_range: Any) -> tuple[float, float]:
    if not isinstance(lr_range, tuple | list) or len(lr_range) != 2:
        fail(f"lr_range of {name!r}", "a pair (low, high) with 0 < low < high", lr_range)
    low = check_real(f"lr_range[0] of {name!r}", lr_range[0], low=0, low_open=True)
    high = check_real(f"lr_range[1] of {name!r}", lr_range[1], low=low, low_open=True)
    return low, high


def _check_defaults(cls: type[Optimizer], key: str) -> None:
    """Refuse a class whose constructor needs an argument: races, tuning, experiment
    files and the command line make an optimizer from its defaults (and the
    hyperparameters given), as ``create(name)`` does."""
    for n, prm in inspect.signature(cls.__init__).parameters.items():
        needed = prm.kind not in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL) and n != "self"
        if needed and prm.default is prm.empty:
            example = " (lr=0.01, say)" if n == "lr" else ""
            raise TypeError(
                f"argument {n!r} of {cls.__qualname__}.__init__ (registering {key!r}) "
                f"must have a default{example}: create({key!r}), races, tuning and "
                "experiment files make the optimizer from its defaults"
            )


def _constructor_arguments(cls: type[Optimizer]) -> list[str]:
    return [
        n
        for n, prm in inspect.signature(cls.__init__).parameters.items()
        if n != "self" and prm.kind not in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL)
    ]


def _rule_class(rule: Callable[..., Any], name: str, state: tuple[str, ...]) -> type[Optimizer]:
    """An Optimizer class around a function rule ``rule(p, g, state, t, *, lr, **hp)``."""
    signature = inspect.signature(rule)
    params = list(signature.parameters.values())
    if len(params) < 4 or any(
        p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params[:4]
    ):
        fail(f"rule {name!r}", "a function rule(p, g, state, t, *, lr, ...)", rule, kind=TypeError)
    defaults = {}
    for p in params[4:]:
        if p.default is p.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            fail(f"argument {p.name!r} of rule {name!r}", "a keyword argument with a default",
                 str(p), kind=TypeError, described=True)  # fmt: skip
        if p.name != "lr" and p.name in _reserved_names():
            public = sorted(n for n in _reserved_names() if n[0] != "_" and n != "lr")
            fail(f"argument {p.name!r} of rule {name!r}",
                 f"a name the optimizer itself does not use (reserved: {', '.join(public)}, "
                 "and the private names '_...' it keeps)", p.name)  # fmt: skip
        defaults[p.name] = _plain(p.default)  # np.float32(0.9) checks and saves as 0.9
    if "lr" not in defaults:
        fail(f"rule {name!r}", "a function that takes lr as a keyword argument with a default, "
             "rule(p, g, state, t, *, lr=0.01, ...)", rule, kind=TypeError)  # fmt: skip
    extra = [k for k in defaults if k != "lr"]
    state_names = tuple(state)

    def __init__(self, lr=defaults["lr"], **kwargs):
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in _BASE_KEYS}
        Optimizer.__init__(self, lr, **options)
        self._rule_checked = False  # set by the first update that succeeds
        self._undone = False
        for key, default in defaults.items():
            if key != "lr":
                setattr(self, key, _checked_like(key, kwargs.pop(key, default), default))
        if kwargs:
            unknown = next(iter(kwargs))
            raise TypeError(f"{type(self).__name__} got an unknown keyword argument {unknown!r}")

    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter("lr", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults["lr"])]
        + [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=defaults[k]) for k in extra]
        + [inspect.Parameter("options", inspect.Parameter.VAR_KEYWORD)]
    )

    def _step(self, params, grads, lr):
        hp = {k: getattr(self, k) for k in extra}
        # Until an update has succeeded, what the rule changes is copied first,
        # so that a rule refused below (or one that raises) leaves it all as it was.
        backup = None if self._rule_checked else _backup(self, params)
        self._undone = False
        try:
            for key, p in params.items():
                arrays = self.state_arrays(key)
                given = tuple(arrays.values())
                out = rule(p, grads[key], arrays, self.t, lr=lr, **hp)
                # the same arrays under the same names, and nothing returned: one
                # comparison per state array (the words only when it is not)
                same = len(arrays) == len(given) and all(
                    arrays.get(n) is a for n, a in zip(state_names, given, strict=True)
                )
                if same and out is None:
                    continue
                wrong = _not_in_place(out, dict(zip(state_names, given, strict=True)), arrays)
                if wrong:
                    raise TypeError(
                        f"rule {name!r} must update p and its state arrays in place, and "
                        f"return None; {wrong}: write, e.g., m = state['m']; m *= beta; "
                        "m += (1 - beta) * g; p -= lr * m, not state['m'] = ... or "
                        "return p - ..."
                        + ("; nothing was updated" if backup is not None else
                           f" (step {self.t}: some arrays may have been updated)")
                    )  # fmt: skip
        except BaseException:
            if backup is not None:
                _restore(self, params, backup)
                self._undone = True
            raise
        self._rule_checked = True

    def _step_undone(self):
        return self._undone

    namespace = {
        "__init__": __init__,
        "_step": _step,
        "_step_undone": _step_undone,
        "__doc__": rule.__doc__ or f"The optimizer of the rule {rule.__qualname__}.",
        "__module__": rule.__module__,
        "name": name,
        "state_names": state_names,
        "rule": staticmethod(rule),
    }
    return type(_class_name(name), (Optimizer,), namespace)


#: Names a rule's optimizer class uses beyond an Optimizer's: its constructor's own
#: (``self``, ``**options``) and what it keeps between updates.
_RULE_NAMES = ("self", "options", "_rule_checked", "_undone")


@functools.lru_cache(maxsize=1)
def _reserved_names() -> frozenset[str]:
    """What an optimizer holds itself (``epoch``, ``state``, ``clip_norm``, ...), so that a
    rule's hyperparameter of that name would overwrite it, and the names a rule's class
    uses itself."""
    probe = type("_Probe", (Optimizer,), {"_step": lambda self, params, grads, lr: None})
    return frozenset(dir(probe)) | frozenset(vars(probe(1.0))) | frozenset(_RULE_NAMES)


def _not_in_place(out: Any, given: Mapping[str, Any], arrays: Mapping[str, Any]) -> str:
    """What a rule did that is lost (a rebound state array, a returned value); "" if nothing."""
    for n, a in given.items():
        if n not in arrays:
            return f"it removed state[{n!r}], which the optimizer keeps"
        if arrays[n] is not a:
            return f"it bound state[{n!r}] to a new array, which the optimizer never sees"
    added = [n for n in arrays if n not in given]
    if added:
        return (
            f"it added state[{added[0]!r}], which the optimizer never sees (declare the "
            "state arrays in register(state=...))"
        )
    if out is not None:
        return f"it returned a value ({type(out).__name__}), which the optimizer ignores"
    return ""


def _backup(opt: Optimizer, params: Mapping[str, Any]) -> dict[str, tuple]:
    """Copies of each key's parameter and state arrays, before a rule runs."""
    return {
        key: (p.copy(), {n: a.copy() for n, a in opt.state_arrays(key).items()})
        for key, p in params.items()
    }


def _restore(opt: Optimizer, params: Mapping[str, Any], backup: Mapping[str, tuple]) -> None:
    """Put back what :func:`_backup` copied."""
    for key, (p, saved) in backup.items():
        params[key][...] = p
        arrays = opt.state_arrays(key)
        for n, a in saved.items():
            arrays[n][...] = a


def _unregistered(tree: Any) -> str | None:
    """The first optimizer name in a state dict (its own, a wrapper's inner ones, at any
    depth) that is a well-formed name no module has registered in this process."""
    if isinstance(tree, Mapping):
        name = tree.get("optimizer")
        if isinstance(name, str) and _NAME.match(name) and name not in OPTIMIZERS:
            return name
        tree = list(tree.values())
    if isinstance(tree, list | tuple):
        for item in tree:
            found = _unregistered(item)
            if found is not None:
                return found
    return None


def _checked_like(name: str, value: Any, default: Any) -> Any:
    """A function rule's hyperparameter, checked against the type of its default."""
    if isinstance(default, bool):
        return check_bool(name, value)
    if isinstance(default, int):
        return check_int(name, value)
    if isinstance(default, float):
        return check_real(name, value)
    return value


_BASE_KEYS = ("clip_norm", "clip_value", "nonfinite", "maximize", "fused")


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) or "Rule"


#: The plug-ins that failed to load in this process, by entry point name (lower case):
#: ``"optimizer plug-in 'x' (pkg.x) failed to load: RuntimeError: why"``.
_FAILED_PLUGINS: dict[str, str] = {}


def load_entry_points() -> list[str]:
    """Import the optimizers third-party packages declare in the ``gdlab.optimizers`` group.

    An entry point names a module (importing it registers its optimizers) or
    an Optimizer class already decorated with :func:`register`. One that fails
    to load is skipped with a warning naming it (a :class:`gdlab._registry.PluginWarning`,
    a ``RuntimeWarning``), and :func:`failed_plugins` keeps what it said; the names
    it added are returned.
    """
    from importlib.metadata import entry_points

    before = set(_REGISTRY)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as error:  # a broken plug-in must not break gdlab
            said = (
                f"optimizer plug-in {entry.name!r} ({entry.value}) failed to load: "
                f"{type(error).__name__}: {error}"
            )
            _FAILED_PLUGINS[entry.name.lower()] = said
            warnings.warn(f"gdlab {said}", PluginWarning, stacklevel=2)
    return [n for n in _REGISTRY if n not in before]


def failed_plugins() -> dict[str, str]:
    """What each plug-in that failed to load in this process said (see
    :func:`load_entry_points`), by its name in lower case: ``"optimizer plug-in 'x'
    (pkg.x) failed to load: …"``."""
    return dict(_FAILED_PLUGINS)


def not_registered(name: str) -> str:
    """``name`` and why it is no optimizer here, for an error: ``"'x', which is not
    registered in this process: import the module that registers it, or install its
    plug-in (registered: sgd, …)"``; or, when a plug-in of that name failed to load,
    what it said (and what other plug-ins that failed said: any of them may be the
    one that registers it)."""
    key = name.lower()
    if key in _FAILED_PLUGINS:
        return f"{name!r}, which is not registered in this process: its {_FAILED_PLUGINS[key]}"
    failed = "".join(f"; {said}" for said in _FAILED_PLUGINS.values())
    return (
        f"{name!r}, which is not registered in this process: import the module that "
        f"registers it, or install its plug-in (registered: {', '.join(OPTIMIZERS)}){failed}"
    )


def create(name: str, preset: str | None = None, **hyperparameters: Any) -> Optimizer:
    """Make an optimizer by name, with a preset's defaults under your hyperparameters.

    >>> create("adam", preset="book", lr=0.3)
    Adam(lr=0.3, beta1=0.9, beta2=0.999, eps=1e-07, form='lr_t', ...)

    Names are case-insensitive ("AdaGrad" and "adagrad" are one); an unknown
    name, an unknown preset, or an optimizer the preset does not define raises
    ``ValueError`` listing what is valid.
    """
    if not isinstance(name, str):
        fail("optimizer name", f"one of {', '.join(OPTIMIZERS)}", name, kind=TypeError)
    key = name.lower()
    if key not in OPTIMIZERS:
        fail("optimizer name", f"one of {', '.join(OPTIMIZERS)}", name)
    settings: dict[str, Any] = {}
    if preset is not None:
        if not isinstance(preset, str):
            fail("preset", f"one of {', '.join(PRESETS)}", preset, kind=TypeError)
        own = OPTIMIZERS[key].presets.get(preset)  # the class's own table: no registry scan
        if own is None:
            if preset not in PRESETS:
                fail("preset", f"one of {', '.join(PRESETS)}", preset)
            raise ValueError(missing_preset(preset, key))
        settings.update(own)
    settings.update(hyperparameters)
    try:
        return OPTIMIZERS[key](**settings)
    except (TypeError, ValueError) as error:
        from_preset = [k for k in settings if k not in hyperparameters]
        blamed = next((k for k in from_preset if str(error).startswith(f"{k} ")), None)
        if blamed is None:
            raise
        raise type(error)(  # the value the user did not give: say where it came from
            f"{error}; preset {preset!r} sets {blamed} = {describe(settings[blamed])}: "
            f"give {blamed} yourself to override it"
        ) from None


def missing_preset(preset: str, name: str, without: str = "create it without preset=") -> str:
    """Why preset ``preset`` (one of :data:`PRESETS`) cannot make optimizer ``name``:
    ``"preset 'book' does not define 'x' (it has sgd, …); presets with 'x': torch"``, or,
    for an optimizer with none, ``"…; 'x' has no presets (WITHOUT)"`` (``without``: the
    advice, in the words of the caller: ``"drop --preset"`` on the command line)."""
    table = {p: dict(t) for p, t in PRESETS.items()}
    having = [p for p, names in table.items() if name in names]
    with_name = (
        f"presets with {name!r}: {', '.join(having)}"
        if having
        else f"{name!r} has no presets ({without})"
    )
    defined = ", ".join(table[preset])
    return f"preset {preset!r} does not define {name!r} (it has {defined}); {with_name}"


def load(path: str | os.PathLike) -> Optimizer:
    """Recreate an optimizer, hyperparameters and state, from a file :meth:`Optimizer.save` wrote.

    Raises:
        FileNotFoundError: if there is no file at ``path``.
        ValueError: ``"PATH is not a gdlab optimizer file: WHY"`` for anything
            else that keeps the file from making an optimizer (a damaged or
            foreign file, hyperparameters or a state that the optimizer
            refuses); ``"PATH holds optimizer NAME, which is not registered in
            this process: ..."`` for a file of an optimizer no module imported
            so far has registered (import the module that registers it first).
    """
    state_dict = _files.read_state(path)
    name = _unregistered(state_dict) if state_dict.get("format") == _FORMAT else None
    if name is not None:
        raise ValueError(f"{path} holds optimizer {not_registered(name)}")
    try:
        optimizer = _rebuild(state_dict)
        optimizer.load_state_dict(state_dict)
    except (TypeError, ValueError, KeyError) as error:
        raise _files.not_an_optimizer_file(path, error) from error
    return optimizer


def _rebuild(state_dict: Mapping[str, Any]) -> Optimizer:
    """A fresh optimizer made from a state dict's name and hyperparameters."""
    name = state_dict.get("optimizer")
    hyperparameters = state_dict.get("hyperparameters")
    if not isinstance(hyperparameters, Mapping):
        fail("state_dict['hyperparameters']", "a dict", hyperparameters, kind=TypeError)
    settings = dict(hyperparameters)
    lr = settings.get("lr")
    if isinstance(lr, Mapping):
        settings["lr"] = _schedules.from_config(_schedules.config_of(lr))
    return create(name, **settings)
