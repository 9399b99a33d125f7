"""What the page asks and what it gets: plain data in, plain data out.

Every function here takes the request's parsed JSON body, checks it whole
(unknown keys, types, ranges, the caps of :mod:`gdlab.play.limits`) and
raises :class:`PlayError` (a 4xx status, a message, the field and, for an
expression, the character) for anything wrong. The maths is gdlab's own:
a 2-D path is an :class:`~gdlab.experiments.Experiment` run by
:func:`gdlab.train.fit` exactly as ``gdlab race`` runs it, so the TOML the
page exports reproduces the drawn path bit for bit.
"""

from __future__ import annotations

import ast
import base64
import inspect
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np

from gdlab import functions2d, schedules
from gdlab._checks import ConfigError, cut, describe
from gdlab.experiments import BUILTIN, Experiment, load
from gdlab.experiments.model import digest
from gdlab.optim import OPTIMIZERS, PRESETS, Optimizer, create
from gdlab.optim.registry import declared_range
from gdlab.play import limits
from gdlab.sweep import interrupts_ignored
from gdlab.train import Callback, fit

log = logging.getLogger("gdlab.play")

__all__ = [
    "PlayError",
    "Underflowed",
    "catalog",
    "ewma_series",
    "experiment_2d",
    "export_toml",
    "known_paths",
    "optimizer_specs",
    "pack",
    "parse_float",
    "paths",
    "schedule_curve",
    "start_processes",
    "stop_processes",
    "surface",
    "temperatures",
    "unpack",
    "warm_up",
]


class PlayError(Exception):
    """A request the server refuses: HTTP ``status``, a ``message`` for the page,
    the ``field`` it is about and, for an expression, the 1-based ``position``.

    ``also``: other fields the refusal is about as much (f undefined over the whole
    view is about ``xlim``, ``ylim`` and ``expression``); the payload then lists
    them all in ``fields``, ``field`` first.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 422,
        field: str | None = None,
        position: int | None = None,
        also: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.position = position
        self.also = tuple(also)

    def __reduce__(self) -> tuple:
        # Raised in a worker process (see start_processes), it arrives whole.
        return (_play_error, (self.message, self.status, self.field, self.position, self.also))

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            out["field"] = self.field
            if self.also:
                out["fields"] = [self.field, *self.also]
        if self.position is not None:
            out["position"] = self.position
        return out


def _play_error(
    message: str, status: int, field: str | None, position: int | None, also: Sequence[str] = ()
) -> PlayError:
    return PlayError(message, status=status, field=field, position=position, also=also)


# --------------------------------------------------------------------------- checks


class Underflowed(float):
    """A number a request wrote that a float holds only as 0 (``1e-400``): 0.0 (or
    -0.0) with the request's ``text``, which a message echoes (see :func:`_describe`)."""

    text: str

    def __new__(cls, text: str) -> Underflowed:
        value = super().__new__(cls, text)
        value.text = text
        return value

    def __reduce__(self) -> tuple:
        return (Underflowed, (self.text,))


def parse_float(text: str) -> float:
    """A JSON number with a fraction or an exponent, as ``json.loads`` reads it, but one
    that underflows to 0 (``1e-400``) is an :class:`Underflowed` that remembers its text."""
    value = float(text)
    mantissa = text.lower().partition("e")[0]
    if value == 0 and any(digit in mantissa for digit in "123456789"):
        return Underflowed(text)
    return value


def _describe(value: Any) -> str:
    """A request's value as JSON writes it (``null``, ``true``, ``"abc"``, ``NaN``, as
    the request had it: never Python's ``None``, ``True``, ``'abc'``), cut to 60
    characters; an integer too long for that by its first digits and its length; a
    number too small for a float as written (``1e-400 (underflows to 0)``)."""
    if isinstance(value, Underflowed):
        return f"{cut(value.text)} (underflows to 0)"
    if type(value) is int and not -(10**59) < value < 10**59:
        return describe(value)
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # not JSON: from a Python caller
        return describe(value)
    return cut(text)


#: JSON's names of the types Python's messages name: ``got 'x' (str)``.
_JSON_TYPES = {
    "str": "string",
    "bool": "boolean",
    "NoneType": "null",
    "int": "number",
    "float": "number",
    "list": "array",
    "tuple": "array",
    "dict": "object",
}
_GOT = re.compile(r"; got (?P<value>.+?)(?: \((?P<type>\w+)\))?$", re.DOTALL)


def _python_only(value: Any, text: str) -> bool:
    """Whether ``value`` (read from ``text``) reads differently in JSON: it holds a
    string, ``None``, a bool, a mapping, or is a tuple written as one."""
    if isinstance(value, str | bool | dict) or value is None:
        return True
    if isinstance(value, tuple) and not text.startswith("("):
        return False  # "got 120,000": a number with thousands' commas, not a tuple
    if isinstance(value, list | tuple):
        return isinstance(value, tuple) or any(_python_only(v, "") for v in value)
    return False


#: A setting a check names in Python's words: ``unless form='torch'``, ``three_phase=True``.
_SETTING = re.compile(r"\b(\w+)=(True|False|None|'[^'\\]*')")
_JSON_WORDS = {"True": "true", "False": "false", "None": "null"}


def _in_json(message: str) -> str:
    """A message of gdlab's own checks (an optimizer's, a schedule's, an experiment's),
    its values shown as JSON shows them: ``lr must be …; got 'fast' (str)`` becomes
    ``…; got "fast" (string)``, ``unless form='torch'`` becomes ``unless form="torch"``.
    The Python library and the CLI keep their words; the JSON API speaks JSON."""
    message = _SETTING.sub(
        lambda m: f"{m[1]}={_JSON_WORDS.get(m[2]) or json.dumps(m[2][1:-1], ensure_ascii=False)}",
        message,
    )
    match = _GOT.search(message)
    if match is None:
        return message
    try:
        value = ast.literal_eval(match["value"])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return message  # not a Python literal ("got from 5 to 1", a cut text)
    if not _python_only(value, match["value"]):
        return message
    kind = match["type"]
    shown = _describe(value) + (f" ({_JSON_TYPES.get(kind, kind)})" if kind else "")
    return message[: match.start("value")] + shown


def _table(value: Any, where: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict:
    if not isinstance(value, Mapping):
        raise PlayError(f"{where} must be an object; got {_describe(value)}", field=where)
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise PlayError(
            f"{where} has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}",
            field=f"{where}.{unknown[0]}",
        )
    for key in required:
        if key not in value:
            raise PlayError(f"{where}.{key} is required", field=f"{where}.{key}")
    return dict(value)


def _real(where: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlayError(f"{where} must be a number; got {_describe(value)}", field=where)
    if isinstance(value, float) and not math.isfinite(value):
        raise PlayError(f"{where} must be finite; got {_describe(value)}", field=where)
    try:
        x = float(value)
    except OverflowError:  # an integer of hundreds of digits
        x = math.inf if value > 0 else -math.inf
    if (low is not None and x < low) or (high is not None and x > high):
        raise PlayError(
            f"{where} must be in [{low:g}, {high:g}]; got {_describe(value)}", field=where
        )
    if not math.isfinite(x):
        raise PlayError(f"{where} must be a float's size; got {_describe(value)}", field=where)
    return x


def _number(where: str, value: Any, low: float, high: float) -> float | int:
    """A number checked as :func:`_real` checks it, kept as the request wrote it: an
    integer stays one, so that a check further on (an optimizer's, a schedule's) echoes
    ``got -1``, not ``got -1.0`` (gdlab's checks take integers for real numbers)."""
    x = _real(where, value, low, high)
    # kept: an Underflowed for the message of a check further on (see _created)
    return value if type(value) is int or isinstance(value, Underflowed) else x


def _int(where: str, value: Any, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not (math.isfinite(value) and value.is_integer()))
    ):
        raise PlayError(f"{where} must be an integer; got {_describe(value)}", field=where)
    n = int(value)
    if not low <= n <= high:
        shown = _describe(value if isinstance(value, Underflowed) else n)
        raise PlayError(f"{where} must be an integer in [{low}, {high}]; got {shown}", field=where)
    return n


def _choice(where: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
        listed = ", ".join(str(c) for c in choices)
        raise PlayError(f"{where} must be one of {listed}; got {_describe(value)}", field=where)
    return value


def _pair(where: str, value: Any, *, ordered: bool = False) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise PlayError(f"{where} must be a pair [a, b]; got {_describe(value)}", field=where)
    a = _real(f"{where}[0]", value[0], -limits.MAX_COORDINATE, limits.MAX_COORDINATE)
    b = _real(f"{where}[1]", value[1], -limits.MAX_COORDINATE, limits.MAX_COORDINATE)
    if ordered and not b - a >= limits.MIN_SPAN:
        raise PlayError(
            f"{where} must be [low, high] with high - low >= {limits.MIN_SPAN:g}; "
            f"got [{a:g}, {b:g}]",
            field=where,
        )
    return a, b


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise PlayError(f"{where} must be true or false; got {_describe(value)}", field=where)
    return value


# --------------------------------------------------------------------------- optimizers

#: Options every optimizer shares that the page does not put on sliders.
SHARED_OPTIONS = ("clip_norm", "clip_value", "nonfinite", "maximize", "fused")
#: Names of floats that may be decay factors in [0, 1) (linear up to 0.95, else on
#: 1 − 10^−u), when the optimizer's own check says so (see :func:`_is_factor`).
_FACTORS = ("momentum", "dampening", "alpha", "rho", "decay")


def _extend(low: float, high: float, values: Sequence[float], log: bool) -> tuple[float, float]:
    for v in values:
        if log and v > 0:
            low, high = min(low, v / 2), max(high, v * 2)
        elif not log:
            low, high = min(low, v), max(high, v)
    return low, high


def _log_range(low: float, high: float, floats: Sequence[float]) -> dict[str, Any]:
    """A log-scale slider from ``low`` to ``high``, widened to take in ``floats``."""
    low, high = _extend(low, high, floats, log=True)
    return {"scale": "log", "min": low, "max": high}


def _factor_named(key: str) -> bool:
    """Whether a hyperparameter's name is a factor's (``beta1``, ``momentum``, Muon's
    ``fallback_beta1``): it may be one, and its optimizer's check says (_is_factor)."""
    return key.rsplit("_", 1)[-1].startswith("beta") or key in _FACTORS


def _is_factor(cls: type, key: str, floats: Sequence[float]) -> bool:
    """Whether a float hyperparameter is a decay factor in [0, 1): named as one, its
    values in [0, 1), and bounded at 1 by the optimizer's own check (``beta1 must be in
    [0, 1)``; it refuses 1.5). FTRL's ``beta`` and ASGD's ``alpha``, both ``>= 0``, are not."""
    named = _factor_named(key) and all(0 <= v < 1 for v in floats)
    return named and not _builds(cls.name, key, 1.5)


def _declared_slider(cls: type, key: str, floats: Sequence[float]) -> dict[str, Any] | None:
    """The slider of a range ``register(tunable={key: {"range": ...}})`` declared, with its
    scale, widened to take in ``floats``; ``None`` if none was. A log range's slider starts
    at 0 (``log0``) where a value is 0 (an argument off by default, ``rho=0.0``); a
    negative value no log slider shows leaves it to the generic sliders (``None``)."""
    declared = declared_range(cls, key)
    if declared is None or declared["type"] not in ("loguniform", "uniform"):
        return None
    log = declared["type"] == "loguniform"
    if log and min(floats) < 0:
        return None
    low, high = _extend(declared["low"], declared["high"], floats, log=log)
    scale = ("log0" if min(floats) == 0 else "log") if log else "linear"
    return {"scale": scale, "min": low, "max": high}


def _real_range(cls: type, key: str, value: float, floats: Sequence[float]) -> dict[str, Any]:
    """The scale and range of a float hyperparameter's slider (``floats``: it and its presets')."""
    if key == "lr":
        low, high = cls.lr_range
        return _log_range(low / 100, high * 10, floats)
    declared = _declared_slider(cls, key, floats)
    if declared is not None:
        return declared
    if "eps" in key:
        spec = _log_range(1e-12, 1.0, floats)
        if min(floats) == 0:  # AdEMAMix's eps_root: 0 is a setting the slider must reach
            spec["scale"] = "log0"
        return spec
    if _is_factor(cls, key, floats):
        if max(floats) >= 0.95:
            return {"scale": "one_minus_log", "min": 0.0, "max": 0.9999}
        return {"scale": "linear", "min": 0.0, "max": 0.999}
    if _factor_named(key) and all(0 <= v < 1 for v in floats):
        # named as a factor, but its check takes more than 1 (FTRL's β and ASGD's α are
        # >= 0): up to 10 from off (FTRL's default 0; the paper's β is 1), else linear
        # to 2 (ASGD's power 0.75); a bound of the check's own ends it (_fit_ends)
        if value == 0:
            return {"scale": "log0", "min": 1e-6, "max": 10.0}
        return {"scale": "linear", "min": 0.0, "max": 2.0}
    if all(v >= 0 for v in floats) and (value == 0 or "decay" in key):
        return {"scale": "log0", "min": 1e-6, "max": max(1.0, 10 * max(floats))}
    if value > 0 and min(floats) >= 0:  # a negative preset: only a linear slider shows it
        return _log_range(value / 1000, value * 1000, floats)
    bound = max(10 * abs(v) for v in floats) or 1.0
    return {"scale": "linear", "min": -bound, "max": bound}


def _choice_spec(cls: type, key: str, value: str, seen: Sequence[Any]) -> dict[str, Any] | None:
    """A string hyperparameter as a choice (``None``: nothing to choose between)."""
    choices = getattr(cls, f"{key.upper()}S", None)
    if not isinstance(choices, tuple | list):
        choices = sorted({value, *(v for v in seen if isinstance(v, str))})
    if len(choices) < 2:
        return None
    return {"name": key, "kind": "choice", "choices": list(choices), "default": value}


def _int_spec(key: str, value: int, seen: Sequence[Any]) -> dict[str, Any]:
    """An integer hyperparameter's slider, wide enough for its presets' values."""
    ints = [v for v in (value, *seen) if isinstance(v, int) and not isinstance(v, bool)]
    return {
        "name": key,
        "kind": "int",
        "scale": "linear",
        "default": value,
        "min": min(0 if value == 0 else 1, *ints),
        "max": max(10, 4 * value, *ints),
    }


def _finite_floats(value: float, seen: Sequence[Any]) -> list[float]:
    """``value`` and the finite numbers among ``seen``, as floats."""
    floats = [float(v) for v in (value, *seen) if isinstance(v, int | float)]
    return [v for v in floats if math.isfinite(v)]


def _spec(cls: type, key: str, value: Any, seen: Sequence[Any]) -> dict[str, Any] | None:
    """How the page shows one hyperparameter (``None``: not on the page)."""
    if isinstance(value, bool):
        return {"name": key, "kind": "bool", "default": value}
    if isinstance(value, str):
        return _choice_spec(cls, key, value, seen)
    if isinstance(value, int) and not isinstance(value, float):
        return _int_spec(key, value, seen)
    if not isinstance(value, float) or not math.isfinite(value):
        return None  # an object, None, a schedule: kept as it is, not shown
    floats = _finite_floats(value, seen)
    spec: dict[str, Any] = {"name": key, "kind": "real", "default": value}
    spec.update(_real_range(cls, key, value, floats))
    return spec


def _builds(name: str, key: str, value: Any) -> bool:
    """Whether optimizer ``name`` takes ``key = value`` (its own checks decide)."""
    try:
        create(name, **{key: value})
    except (TypeError, ValueError, ArithmeticError):
        return False
    return True


def _furthest(name: str, spec: Mapping[str, Any], end: float) -> float:
    """The value nearest ``end`` (refused) that optimizer ``name`` takes, found by
    bisection from the default (taken): geometric between positive reals."""
    key, good, bad = spec["name"], spec["default"], end
    if spec["kind"] == "int":
        while abs(bad - good) > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if _builds(name, key, mid) else (good, mid)
        return good
    if min(good, bad) <= 0 <= max(good, bad) and _builds(name, key, 0.0):
        good = 0.0  # ``learning_rate_power must be <= 0``: the slider ends at 0
    geometric = good > 0 and bad > 0
    for _ in range(48):
        mid = math.sqrt(good * bad) if geometric else (good + bad) / 2
        if mid in (good, bad):
            break
        good, bad = (mid, bad) if _builds(name, key, mid) else (good, mid)
    return good


def _fit_ends(name: str, spec: dict[str, Any]) -> None:
    """Move the ends of a slider in to values the optimizer takes: a range guessed from
    the default (``etaminus``: 0.5/1000 to 0.5·1000) may run past its checks
    (``etaminus must be in (0, 1)``), and a slider must not offer a refused value."""
    for end in ("min", "max"):
        if not _builds(name, spec["name"], spec[end]):
            spec[end] = _furthest(name, spec, spec[end])


def optimizer_specs(name: str) -> dict[str, Any]:
    """One optimizer as the page shows it: its hyperparameters' sliders and its presets.

    Read from the registry each time it is asked (the registry may grow):
    the defaults from ``create(name)``, each preset's values from
    ``create(name, preset=p)``, the choices of a string argument from the
    class (``FORMS``) or the presets, the lr slider's range from ``lr_range``.
    """
    cls = OPTIMIZERS[name]
    try:
        defaults = create(name).hyperparameters()
    except Exception as error:  # an optimizer that needs arguments cannot be shown
        return {"name": name, "label": cls.__name__, "available": False, "reason": str(error)}
    presets: dict[str, dict[str, Any]] = {}
    for preset in cls.presets:
        try:
            presets[preset] = create(name, preset=preset).hyperparameters()
        except Exception:  # a preset that does not build is left out
            continue
    specs = []
    for key, value in defaults.items():
        if key in SHARED_OPTIONS:
            continue
        spec = _spec(cls, key, value, [p.get(key) for p in presets.values()])
        if spec is not None:
            if spec["kind"] in ("real", "int"):
                _fit_ends(name, spec)
            specs.append(spec)
    shown = {s["name"] for s in specs}
    doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
    return {
        "name": name,
        "label": cls.__name__,
        "available": True,
        "summary": doc,
        "lr_range": list(cls.lr_range),
        "needs_closure": bool(getattr(cls, "needs_closure", False)),
        "hyperparameters": specs,
        "defaults": {k: v for k, v in defaults.items() if k in shown},
        "presets": {p: {k: v for k, v in hp.items() if k in shown} for p, hp in presets.items()},
    }


@lru_cache(maxsize=1)
def _specs_cache(registered: tuple[tuple[Any, ...], ...]) -> dict[str, dict[str, Any]]:
    return {entry[0]: optimizer_specs(entry[0]) for entry in registered}


def _all_specs() -> dict[str, dict[str, Any]]:
    """Every optimizer as :func:`optimizer_specs` shows it, computed again when the
    registry changes: an optimizer registered again (``replace=True``, or after
    ``unregister``) is another class, or the same with other presets or ``lr_range``."""
    registered = tuple(
        (name, cls, cls.lr_range, repr(cls.presets)) for name, cls in OPTIMIZERS.items()
    )
    return _specs_cache(registered)


# --------------------------------------------------------------------------- schedules

#: Slider ranges and starting values of schedule arguments, by argument name (a
#: schedule's own checks decide what is valid; these only place the sliders).
#: A "fraction" is a multiple of the initial rate (``end_lr = 0.01`` means 0.01·lr0).
SCHEDULE_ARGUMENTS: dict[str, dict[str, Any]] = {
    "decay_rate": {"kind": "real", "scale": "log0", "min": 1e-4, "max": 10.0, "default": 0.1},
    "rate": {"kind": "real", "scale": "linear", "min": 0.5, "max": 1.0, "default": 0.95},
    "factor": {"kind": "real", "scale": "linear", "min": 0.05, "max": 1.0, "default": 0.5},
    "gamma": {"kind": "real", "scale": "linear", "min": 0.9, "max": 1.0, "default": 0.99},
    "k": {"kind": "real", "scale": "log", "min": 0.01, "max": 100.0, "default": 1.0},
    "power": {"kind": "real", "scale": "log", "min": 0.1, "max": 10.0, "default": 1.0},
    "t_mult": {"kind": "real", "scale": "linear", "min": 1.0, "max": 4.0, "default": 1.0},
    "m_mul": {"kind": "real", "scale": "linear", "min": 0.1, "max": 1.0, "default": 1.0},
    "pct_start": {"kind": "real", "scale": "linear", "min": 0.0, "max": 1.0, "default": 0.3},
    "pct_final": {"kind": "real", "scale": "linear", "min": 0.0, "max": 1.0, "default": 0.85},
    "div_factor": {"kind": "real", "scale": "log", "min": 1.0, "max": 1e4, "default": 25.0},
    "final_div_factor": {"kind": "real", "scale": "log", "min": 1.0, "max": 1e6, "default": 1e4},
    "threshold": {"kind": "real", "scale": "log0", "min": 1e-6, "max": 1.0, "default": 1e-4},
    "decay_steps": {"kind": "int", "scale": "log", "min": 1, "max": 10_000, "default": 100},
    "total_steps": {"kind": "int", "scale": "log", "min": 1, "max": 100_000, "default": 300},
    "step_size_up": {"kind": "int", "scale": "log", "min": 1, "max": 10_000, "default": 20},
    "every": {"kind": "int", "scale": "log", "min": 1, "max": 10_000, "default": 10},
    "warmup_steps": {"kind": "int", "scale": "log", "min": 1, "max": 10_000, "default": 20},
    "anneal_epochs": {"kind": "int", "scale": "log", "min": 1, "max": 1_000, "default": 10},
    "patience": {"kind": "int", "scale": "linear", "min": 0, "max": 100, "default": 10},
    "cooldown": {"kind": "int", "scale": "linear", "min": 0, "max": 100, "default": 0},
    "first": {"kind": "int", "scale": "linear", "min": 0, "max": 1, "default": 0},
    "end_lr": {"kind": "fraction", "scale": "linear", "min": 0.0, "max": 1.0, "default": 0.01},
    "min_lr": {"kind": "fraction", "scale": "linear", "min": 0.0, "max": 1.0, "default": 0.0},
    "start_lr": {"kind": "fraction", "scale": "linear", "min": 0.0, "max": 1.0, "default": 0.0},
    "swa_lr": {"kind": "fraction", "scale": "linear", "min": 0.0, "max": 1.0, "default": 0.1},
    "max_lr": {"kind": "fraction", "scale": "log", "min": 1.0, "max": 100.0, "default": 10.0},
    "boundaries": {"kind": "ints", "default": [100, 200]},
    "values": {"kind": "fractions", "default": [1.0, 0.5, 0.1]},
}
#: The names a schedule's initial (or peak) rate goes by, in order of preference.
_BASE_RATE = ("lr0", "lr", "base_lr", "max_lr")


class _Unavailable(Exception):
    """A schedule the page cannot set up (it needs a Python function, or other schedules)."""


def _probe_choices(cls: type, name: str, settings: dict[str, Any]) -> list[str] | None:
    """The values a string argument accepts, read from the schedule's own error message
    (gdlab's checks say ``NAME must be one of 'a', 'b'; got …``)."""
    try:
        cls(**{**settings, name: "\x00"})
    except (TypeError, ValueError) as error:
        match = re.search(rf"{re.escape(name)} must be one of ((?:'[^']*'(?:, )?)+)", str(error))
        if match:
            return re.findall(r"'([^']*)'", match.group(1))
    return None


def _base_name(parameters: Mapping[str, inspect.Parameter]) -> str | None:
    """The argument that takes the initial rate: a rate by name, else the first schedule."""
    base = next((n for n in _BASE_RATE if n in parameters), None)
    if base is not None:
        return base
    return next(
        (
            n
            for n, p in parameters.items()
            if "Schedule" in str(p.annotation) and "Sequence" not in str(p.annotation)
        ),
        None,
    )


def _set_from_python(annotation: str) -> bool:
    """Whether an argument so annotated takes a function or a list of schedules."""
    return "Callable" in annotation or ("Sequence" in annotation and "Schedule" in annotation)


def _unlisted_argument(annotation: str) -> dict[str, Any]:
    """The slider of an argument :data:`SCHEDULE_ARGUMENTS` lacks, guessed from its annotation."""
    if "bool" in annotation:
        return {"kind": "bool", "default": False}
    if "str" in annotation:
        return {"kind": "choice", "choices": []}  # filled in by _probe_strings
    if "Sequence" in annotation:
        return {"kind": "fractions" if "float" in annotation else "ints", "default": [1]}
    if "int" in annotation:
        return {"kind": "int", "scale": "log", "min": 1, "max": 10_000, "default": 10}
    return {"kind": "real", "scale": "log", "min": 1e-4, "max": 1e4, "default": 1.0}


def _argument_spec(name: str, parameter: inspect.Parameter) -> dict[str, Any] | None:
    """One non-base argument as the page shows it (``None``: left at its default)."""
    annotation = str(parameter.annotation)
    required = parameter.default is inspect.Parameter.empty
    if _set_from_python(annotation):
        if required:
            raise _Unavailable(f"its argument {name} is {annotation}: set it from Python")
        return None  # optional: left at its default
    if not required and parameter.default is None:
        return None  # optional, off by default: left at its default
    spec = dict(SCHEDULE_ARGUMENTS.get(name, {})) or _unlisted_argument(annotation)
    if not required:
        spec["default"] = parameter.default
    spec["name"] = name
    return spec


def _probe_strings(cls: type, arguments: list[dict[str, Any]]) -> None:
    """Fill in the choices (and missing default) of the unlisted string arguments."""
    settings = _defaults(arguments, 0.1)
    for spec in arguments:
        if spec["kind"] == "choice" and not SCHEDULE_ARGUMENTS.get(spec["name"]):
            choices = _probe_choices(cls, spec["name"], settings)
            spec["choices"] = choices or [spec.get("default", "")]
            spec.setdefault("default", spec["choices"][0])


def _schedule_arguments(cls: type) -> list[dict[str, Any]]:
    """The arguments of a schedule as the page shows them (raises :class:`_Unavailable`)."""
    parameters = inspect.signature(cls).parameters
    base = _base_name(parameters)
    out: list[dict[str, Any]] = []
    for name, parameter in parameters.items():
        spec = {"name": name, "kind": "base"} if name == base else _argument_spec(name, parameter)
        if spec is not None:
            out.append(spec)
    _probe_strings(cls, out)
    try:
        cls(**_defaults(out, 0.1))
    except (TypeError, ValueError) as error:
        raise _Unavailable(f"it does not build from the page's defaults: {error}") from None
    return out


def _defaults(arguments: list[dict[str, Any]], lr: float) -> dict[str, Any]:
    """Constructor arguments from the specs' defaults, with initial rate ``lr``."""
    out: dict[str, Any] = {}
    for a in arguments:
        kind, name = a["kind"], a["name"]
        if kind == "base":
            out[name] = lr if name != "schedule" else schedules.Constant(lr)
        elif kind == "fraction":
            out[name] = lr * a["default"]
        elif kind == "fractions":
            out[name] = [lr * v for v in a["default"]]
        elif "default" in a:
            out[name] = a["default"]
    return out


def _formula(cls: type) -> str:
    """The formula block of a schedule's docstring (the lines after ``::``)."""
    doc = inspect.getdoc(cls) or ""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            block = []
            for text in lines[i + 1 :]:
                if text and not text.startswith(" "):
                    break
                block.append(text)
            return "\n".join(block).strip("\n")
    return ""


@lru_cache(maxsize=4)
def _schedule_specs(registered: tuple[tuple[str, type], ...]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, cls in registered:
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        entry: dict[str, Any] = {
            "name": name,
            "label": cls.__name__,
            "summary": doc,
            "formula": _formula(cls),
        }
        try:
            entry.update(available=True, arguments=_schedule_arguments(cls))
        except _Unavailable as why:
            entry.update(available=False, reason=str(why), arguments=[])
        out[name] = entry
    return out


def schedule_specs() -> dict[str, dict[str, Any]]:
    """Every registered schedule with its arguments, summary and formula block (read from
    the registry; a schedule that needs Python functions is listed as unavailable)."""
    return _schedule_specs(tuple(schedules.SCHEDULES.items()))  # a class replaced: again


def _schedule_config(
    where: str, value: Any, lr: float, rate_field: str | None = None
) -> dict[str, Any]:
    """A schedule config with initial rate ``lr``: ``{"name": …, …}`` checked by building it.

    The page sends the arguments but not the initial rate, and gives "fraction"
    arguments (``end_lr``, ``values``) as multiples of the rate; an argument left
    out takes the page's default. ``rate_field``: the field ``lr`` came from, named
    when the schedule refuses it as its initial rate (``lr0 must be > 0``).
    """
    specs = schedule_specs()
    table = _table(value, where, ["name", "arguments"], ["name"])
    name = _choice(f"{where}.name", table["name"], list(specs))
    spec = specs[name]
    if not spec["available"]:
        raise PlayError(
            f"{where}: {name} cannot be set up here: {spec['reason']}", field=f"{where}.name"
        )
    arguments = _table(
        table.get("arguments", {}),
        f"{where}.arguments",
        [a["name"] for a in spec["arguments"] if a["kind"] != "base"],
    )
    config: dict[str, Any] = {"name": name}
    for argument in spec["arguments"]:
        key, kind = argument["name"], argument["kind"]
        field = f"{where}.arguments.{key}"
        if kind == "base":
            config[key] = {"name": "constant", "lr": lr} if key == "schedule" else lr
            continue
        v = arguments.get(key, argument.get("default"))
        if kind == "bool":
            config[key] = _bool(field, v)
        elif kind == "choice":
            config[key] = _choice(field, v, argument["choices"])
        elif kind == "int":
            config[key] = _int(field, v, 0, 10_000_000)
        elif kind == "ints":
            config[key] = _list(field, v, lambda f, x: _int(f, x, 0, 10_000_000))
        elif kind == "fractions":
            config[key] = _list(field, v, lambda f, x: lr * _real(f, x, 0, 1e6))
        elif kind == "fraction":
            config[key] = lr * _real(field, v, 0, 1e6)
        else:
            config[key] = _number(field, v, -1e12, 1e12)
    try:
        schedules.from_config(config)
    except (TypeError, ValueError) as error:
        raise _schedule_refusal(error, where, spec, lr, rate_field, arguments) from None
    return config


#: A check's message in gdlab's one shape: ``min_lr must be <= lr0 = 0.2; got 0.6``.
_MUST = re.compile(r"^(?P<name>\w+)(?P<index>\[\d+\])? must be (?P<allowed>.+); got .+$", re.DOTALL)


def _schedule_refusal(
    error: Exception,
    where: str,
    spec: Mapping[str, Any],
    lr: float,
    rate_field: str | None,
    arguments: Mapping[str, Any],
) -> PlayError:
    """A schedule's own refusal, on the field that can mend it, in the request's terms.

    A refusal of its initial rate (``lr0 must be > 0``; cyclic's ``base_lr``, never its
    ``max_lr``, which the page sets as a multiple of lr) is on ``rate_field`` (the run's
    lr) when there is one, as is any refusal when ``lr`` is not positive (piecewise's
    ``values = [lr · 1, …]``). A refusal of an argument set as a multiple of lr
    (``min_lr must be <= lr0 = 0.2; got 0.6000000000000001``) is said in those terms,
    with the value the request gave: ``min_lr (×lr) must be <= 1; got 3``.
    """
    text = _in_json(str(error))
    base = next((a["name"] for a in spec["arguments"] if a["kind"] == "base"), None)
    # warmup's base is a schedule: its refusal names the constant rate inside it, lr
    rates = [base, "lr"] if base == "schedule" else [base] if base else []
    if rate_field is not None and (_refused_field(error, "", rates, (), "") or not lr > 0):
        message = f"{rate_field} = {_describe(lr)} cannot start the schedule {spec['name']}: {text}"
        return PlayError(message, field=rate_field)
    named = [a["name"] for a in spec["arguments"] if a["kind"] != "base"]
    field = _refused_field(error, f"{where}.arguments", named, list(arguments), where)
    return PlayError(f"{where}: {_relative(error, spec, base, arguments) or text}", field=field)


def _relative(
    error: Exception, spec: Mapping[str, Any], base: str | None, arguments: Mapping[str, Any]
) -> str | None:
    """A schedule's refusal of an argument the page sets as a multiple of lr, in those
    terms and with the value the request gave (``min_lr (×lr) must be <= 1; got 3``);
    ``None`` if it is not one."""
    match = _MUST.match(str(error))
    if match is None:
        return None
    relative = [a for a in spec["arguments"] if a["kind"] in ("fraction", "fractions")]
    argument = next((a for a in relative if a["name"] == match["name"]), None)
    if argument is None:
        return None
    given = arguments.get(argument["name"], argument.get("default"))
    if match["index"] and isinstance(given, list):
        given = given[int(match["index"][1:-1])]
    # the rate it is compared with is lr itself: 1 as a multiple of lr
    allowed = match["allowed"]
    if base is not None:
        allowed = re.sub(rf"\b{re.escape(base)} = \S+", "1", allowed)
    return f"{match['name']}{match['index'] or ''} (×lr) must be {allowed}; got {_describe(given)}"


def _refused_field(
    error: Exception, prefix: str, names: Sequence[str], given: Sequence[str], fallback: str
) -> str:
    """The field an optimizer's or a schedule's own check refused, ``prefix.NAME``.

    gdlab's checks start their message with the argument's name (``beta1 must
    be in [0, 1); got 1.5``); a message that names none of ``names`` first is
    put on the first of ``given`` (the arguments the request set) it names,
    else on ``fallback`` (the run, the schedule).
    """
    text = str(error)
    first = re.match(r"\W*(\w+)", text)
    if first is not None and first.group(1) in names:
        return f"{prefix}.{first.group(1)}"
    for name in given:
        if re.search(rf"\b{re.escape(name)}\b", text):
            return f"{prefix}.{name}"
    return fallback


def _list(where: str, value: Any, item: Callable[[str, Any], Any]) -> list[Any]:
    if not isinstance(value, list) or not 1 <= len(value) <= 50:
        raise PlayError(f"{where} must be a list of 1 to 50 numbers", field=where)
    return [item(f"{where}[{i}]", v) for i, v in enumerate(value)]


# --------------------------------------------------------------------------- catalog


def _function_info(fn: functions2d.Function2D) -> dict[str, Any]:
    return {
        "name": fn.name,
        "description": fn.description,
        "xlim": list(fn.xlim),
        "ylim": list(fn.ylim),
        "start": list(fn.start),
        "minima": [list(m) for m in fn.minima],
    }


def _setups() -> list[dict[str, Any]]:
    """One-click setups: every built-in experiment on a registered 2-D function."""
    out = []
    for name in BUILTIN:
        experiment = load(name)
        if not experiment.problem.has("function2d") or experiment.problem.kind != "function":
            continue
        options = experiment.problem.options
        fn = functions2d.get(options["function"])
        runs = []
        for run in experiment.runs:
            hp = dict(run.hyperparameters)
            if isinstance(hp.get("lr"), Mapping):
                continue  # a schedule per run: not one click
            runs.append({"optimizer": run.optimizer, "preset": run.preset, "hyperparameters": hp})
        out.append(
            {
                "name": name,
                "title": experiment.title or name,
                "description": experiment.description,
                "function": fn.name,
                "start": list(options["start"] or fn.start),
                "steps": experiment.training.steps or 30,
                "runs": runs[: limits.MAX_RUNS],
            }
        )
    return out


def catalog() -> dict[str, Any]:
    """Everything the page offers, read from the registries when asked."""
    from gdlab import expressions
    from gdlab.nn import ACTIVATIONS
    from gdlab.play.network import DATASETS

    return {
        "functions": [_function_info(fn) for fn in functions2d.FUNCTIONS.values()],
        "optimizers": _all_specs(),
        "presets": list(PRESETS),
        "schedules": schedule_specs(),
        "setups": _setups(),
        "datasets": list(DATASETS),
        "activations": list(ACTIVATIONS),
        "expression": {
            "functions": list(expressions.FUNCTION_NAMES),
            "max_length": expressions.MAX_LENGTH,
            "max_depth": expressions.MAX_DEPTH,
        },
        "limits": limits.as_dict(),
    }


# --------------------------------------------------------------------------- 2-D functions

_FUNCTION_KEYS = ("function", "expression", "xlim", "ylim")


def _function_of(body: Mapping[str, Any], start: Any = None) -> tuple[Any, dict[str, Any]]:
    """The Function2D a request names (a registered one or an expression) and the
    ``[problem]`` table that makes it in an experiment."""
    from gdlab import expressions

    name, text = body.get("function"), body.get("expression")
    if (name is None) == (text is None):
        raise PlayError("give exactly one of function and expression", field="function")
    if name is not None:
        name = _choice("function", name, list(functions2d.FUNCTIONS))
        fn = functions2d.get(name)
        xlim = _pair("xlim", body["xlim"], ordered=True) if "xlim" in body else fn.xlim
        ylim = _pair("ylim", body["ylim"], ordered=True) if "ylim" in body else fn.ylim
        table: dict[str, Any] = {"kind": "function", "function": name}
        if start is not None:
            table["start"] = list(start)
        return (fn, xlim, ylim), table
    if not isinstance(text, str):
        raise PlayError(f"expression must be text; got {_describe(text)}", field="expression")
    xlim = _pair("xlim", body.get("xlim", (-5.0, 5.0)), ordered=True)
    ylim = _pair("ylim", body.get("ylim", (-5.0, 5.0)), ordered=True)
    try:
        fn = expressions.function(text, xlim=xlim, ylim=ylim, start=start or (1.0, 1.0))
    except expressions.ExpressionError as error:
        raise PlayError(
            f"{error.reason}" + (f" (at character {error.position})" if error.position else ""),
            field="expression",
            position=error.position,
        ) from None
    table = {"kind": "expression", "expression": text, "xlim": list(xlim), "ylim": list(ylim)}
    if start is not None:
        table["start"] = list(start)
    return (fn, xlim, ylim), table


def _levels(z: np.ndarray, count: int) -> np.ndarray:
    """``count`` log-spaced levels above the grid's minimum (dense near the bottom)."""
    finite = z[np.isfinite(z)]
    low, high = float(finite.min()), float(finite.max())
    span = high - low
    if not span > 0:
        return np.array([low])
    smallest = max(span * 1e-4, float(np.quantile(finite - low, 0.002)))
    return low + np.geomspace(smallest, span, count)


def _round_for(span: float) -> int:
    """Decimals that keep about 1/10,000 of ``span``."""
    return max(0, 4 - math.floor(math.log10(span)))


def surface(body: Any) -> dict[str, Any]:
    """Contour lines of a function over a view: ``{"levels": […], "lines": [[i, x0, y0, …]]}``.

    Levels are log-spaced above the minimum on the grid, so the valley floor
    gets as many lines as the walls; coordinates are rounded to about 1/10,000
    of the view. Computed with contourpy (marching squares) on a
    ``resolution``² grid.
    """
    import contourpy

    body = _table(body, "request", [*_FUNCTION_KEYS, "resolution", "levels"])
    (fn, xlim, ylim), _ = _function_of(body)
    n = _int("resolution", body.get("resolution", 160), 10, limits.MAX_RESOLUTION)
    count = _int("levels", body.get("levels", 24), 2, limits.MAX_LEVELS)
    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    gx, gy = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        z = np.asarray(fn.f(gx, gy), dtype=np.float64)
    z = np.where(np.isfinite(z) & (np.abs(z) < 1e300), z, np.nan)
    if not np.isfinite(z).any():
        # about the view as a whole, and about f: field xlim (as before), fields all three
        also = ("ylim", "expression") if "expression" in body else ("ylim",)
        raise PlayError(
            "f is not defined (or not finite) anywhere in this view", field="xlim", also=also
        )
    levels = _levels(z, count)
    generator = contourpy.contour_generator(xs, ys, np.ma.masked_invalid(z), line_type="Separate")
    digits_x = _round_for(xlim[1] - xlim[0])
    digits_y = _round_for(ylim[1] - ylim[0])
    lines = []
    for i, level in enumerate(levels):
        for line in generator.lines(level):
            if len(line) < 2:
                continue
            line = np.column_stack([np.round(line[:, 0], digits_x), np.round(line[:, 1], digits_y)])
            lines.append([i, *line.ravel().tolist()])
    info = _function_info(fn)
    info.update(xlim=list(xlim), ylim=list(ylim))
    if getattr(fn, "expression", None):
        info["gradient"] = list(fn.gradient)
    return {
        "function": info,
        "levels": levels.tolist(),
        "lines": lines,
        "zrange": [float(np.nanmin(z)), float(np.nanmax(z))],
    }


# --------------------------------------------------------------------------- 2-D paths

_PATH_KEYS = (*_FUNCTION_KEYS, "start", "steps", "schedule", "runs", "have")
_RUN_KEYS = ("optimizer", "preset", "hyperparameters")


def _labels(names: Sequence[str]) -> list[str]:
    labels, seen = [], {}
    for name in names:
        base = OPTIMIZERS[name].__name__
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base} {seen[base]}")
    return labels


def _preset(where: str, name: str, value: Any, choices: Sequence[str]) -> str | None:
    """A run's preset (``None``: none), one of ``choices``, the optimizer's presets."""
    if value is None:
        return None
    if not choices:
        raise PlayError(
            f"{where}.preset: {OPTIMIZERS[name].__name__} has no presets; leave preset out "
            f"or null; got {_describe(value)}",
            field=f"{where}.preset",
        )
    return _choice(f"{where}.preset", value, choices)


def _hyperparameters(where: str, name: str, value: Any) -> dict[str, Any]:
    spec = _all_specs()[name]
    if not spec["available"]:
        raise PlayError(f"{where}: {name} cannot run here: {spec['reason']}", field=where)
    kinds = {s["name"]: s for s in spec["hyperparameters"]}
    table = _table(value, f"{where}.hyperparameters", list(kinds))
    out: dict[str, Any] = {}
    for key, v in table.items():
        field = f"{where}.hyperparameters.{key}"
        s = kinds[key]
        if s["kind"] == "bool":
            out[key] = _bool(field, v)
        elif s["kind"] == "choice":
            out[key] = _choice(field, v, s["choices"])
        elif s["kind"] == "int":
            # a count (L-BFGS's history_size) sizes memory: bounded well past the slider
            high = max(s["max"], limits.MAX_INT_HYPERPARAMETER)
            out[key] = _int(field, v, -high, high)
        else:
            out[key] = _number(field, v, -1e300, 1e300)
    return out


def experiment_2d(body: Any) -> Experiment:
    """The :class:`~gdlab.experiments.Experiment` a 2-D request describes (checked whole).

    ``{"function": "bowl"} or {"expression": "x^2 + y^2", "xlim": …, "ylim": …},
    "start": [x, y], "steps": n, "schedule": {"name": …, "arguments": {…}} or null,
    "runs": [{"optimizer": …, "preset": …, "hyperparameters": {…}}, …]``
    """
    body = _table(body, "request", _PATH_KEYS, ["runs"])
    start = _pair("start", body["start"]) if "start" in body else None
    _, problem = _function_of(body, start)
    steps = _int("steps", body.get("steps", 30), 1, limits.MAX_STEPS)
    runs = body["runs"]
    if not isinstance(runs, list) or not 1 <= len(runs) <= limits.MAX_RUNS:
        raise PlayError(
            f"runs must be a list of 1 to {limits.MAX_RUNS} optimizers; got "
            f"{len(runs) if isinstance(runs, list) else _describe(runs)}",
            field="runs",
        )
    schedule = body.get("schedule")
    tables = []
    for i, run in enumerate(runs):
        where = f"runs[{i}]"
        run = _table(run, where, _RUN_KEYS, ["optimizer"])
        name = _choice(f"{where}.optimizer", run["optimizer"], list(OPTIMIZERS))
        presets = list(_all_specs()[name].get("presets", {}))
        preset = _preset(where, name, run.get("preset"), presets)
        hp = _hyperparameters(where, name, run.get("hyperparameters", {}))
        if schedule is not None:
            lr = hp.get("lr")
            field = f"{where}.hyperparameters.lr" if lr is not None else None
            if lr is None:
                lr = create(name, preset=preset).hyperparameters()["lr"]
            hp["lr"] = _schedule_config("schedule", schedule, lr, field)
        tables.append({"optimizer": name, "preset": preset, "hyperparameters": hp})
    built = []
    for i, (table, label) in enumerate(
        zip(tables, _labels([t["optimizer"] for t in tables]), strict=True)
    ):
        table["label"] = label
        built.append(_built(f"runs[{i}]", table))
        if table["preset"] is None:
            del table["preset"]
    _check_work(steps, built)
    data = {
        "name": "play",
        "seeds": 1,
        "problem": problem,
        "training": {"steps": steps},
        "runs": tables,
    }
    try:
        return Experiment.from_dict(data, "request")
    except ConfigError as error:
        raise PlayError(_in_json(str(error)), field="runs") from None


def _built(where: str, table: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A run's optimizer built once, as the race builds it: its label and hyperparameters.

    Its own checks' refusal (``lr must be > 0; got -1.0``) is a 422 on the
    field it names, ``runs[i].hyperparameters.lr``.
    """
    name, hp = table["optimizer"], dict(table["hyperparameters"])
    if isinstance(hp.get("lr"), Mapping):  # a schedule (checked by _schedule_config)
        hp["lr"] = schedules.from_config(hp["lr"])
    optimizer = _created(where, f"{where} ({table['label']})", name, table["preset"], hp)
    return table["label"], optimizer.hyperparameters()


def _created(
    where: str, said: str, name: str, preset: str | None, hyperparameters: Mapping[str, Any]
) -> Optimizer:
    """The optimizer of the run at ``where``: ``create(name, preset=preset, **hyperparameters)``.

    Its own checks' refusal (``beta2 must be in [0, 1)``) is a :class:`PlayError`
    ``"{said}: {message}"`` on the field it names, ``{where}.hyperparameters.beta2``
    (else on ``where``).
    """
    try:
        return create(name, preset=preset, **hyperparameters)
    except (TypeError, ValueError) as error:
        names = [s["name"] for s in _all_specs()[name]["hyperparameters"]]
        given = list(hyperparameters)
        field = _refused_field(error, f"{where}.hyperparameters", names, given, where)
        sent = hyperparameters.get(field.rpartition(".")[2]) if field != where else None
        raise PlayError(f"{said}: {_echoed(_in_json(str(error)), sent)}", field=field) from None


def _echoed(message: str, sent: Any) -> str:
    """A check's ``message`` about the request's value ``sent``, that value as the request
    wrote it: gdlab's checks see 1e-400 as the float it is, ``got 0.0``."""
    match = _GOT.search(message)
    if not isinstance(sent, Underflowed) or match is None:
        return message
    return message[: match.start("value")] + _describe(sent)


def _inner_work(hyperparameters: Mapping[str, Any]) -> int:
    """Work units of one step of an optimizer that iterates within a step (0 for others).

    L-BFGS takes up to ``max_iter`` inner iterations a step, each a loop over
    up to ``history_size`` curvature pairs: ``max_iter × (history_size + 10)``
    (10: an iteration's own cost, evaluating f included, in pairs; on a slow
    core a unit takes up to about 25 µs).
    """
    max_iter = hyperparameters.get("max_iter")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int):
        return 0
    history = hyperparameters.get("history_size", 0)
    history = history if isinstance(history, int) and not isinstance(history, bool) else 0
    return max(1, max_iter) * (max(0, history) + 10)


def _check_work(steps: int, built: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Refuse up front a request whose inner iterations could not finish in time
    (:data:`~gdlab.play.limits.MAX_INNER_WORK`): about ``steps``, and as much about the
    ``max_iter`` and ``history_size`` of each run that iterates (its ``fields``)."""
    per_step = [(label, _inner_work(hp), hp) for label, hp in built]
    total = steps * sum(work for _, work, _ in per_step)
    if total <= limits.MAX_INNER_WORK:
        return
    label, _, hp = max(per_step, key=lambda item: item[1])
    most = max(1, limits.MAX_INNER_WORK // max(1, total // steps))
    raise PlayError(
        f"{label} iterates up to max_iter = {hp['max_iter']} times a step over up to "
        f"history_size = {hp.get('history_size', 0)} pairs: steps × max_iter × "
        f"(history_size + 10), summed over such optimizers, must be at most "
        f"{limits.MAX_INNER_WORK:,}; got {total:,}. Ask for at most {most:,} steps, "
        "or lower max_iter or history_size",
        field="steps",
        also=[
            f"runs[{i}].hyperparameters.{name}"
            for i, (_, work, _) in enumerate(per_step)
            if work
            for name in ("max_iter", "history_size")
        ],
    )


class _Deadline(Callback):
    """Stops a run at the time limit (the request then answers 503)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def on_step_end(self, run: Any, loss: float) -> None:
        if run.step % 16 == 0 and time.monotonic() > self.deadline:
            run.request_stop("time limit", "stopped")


class _Cache:
    """Computed runs by the digest of what decides them (a small LRU, shared by sessions)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.items: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self.lock:
            item = self.items.get(key)
            if item is not None:
                self.items.move_to_end(key)
            return item

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


RUNS = _Cache()
#: Checked 2-D requests (see :func:`_prepared`) by their exact text.
PREPARED = _Cache(256)


def _stop_at(problem: Any, deadline: float) -> None:
    """Make every evaluation of ``problem``'s f past ``deadline`` raise the 503.

    :class:`_Deadline` ends a run between steps; this ends it within a step
    too (L-BFGS evaluates f up to ``max_iter`` times a step), so that a run
    stops, and frees its thread or worker, within one evaluation of the time
    limit. The values it computes are not touched.
    """
    evaluate = problem.loss_and_grads

    def loss_and_grads(*args: Any, **kwargs: Any) -> Any:
        if time.monotonic() > deadline:
            raise _too_long()
        return evaluate(*args, **kwargs)

    problem.loss_and_grads = loss_and_grads


def _finite_list(values: np.ndarray) -> list[Any]:
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _run_once(experiment: Experiment, index: int, deadline: float) -> dict[str, Any]:
    """Run ``index`` of ``experiment`` as the race does (same fit, same seed, same record)."""
    from gdlab.race import run_record

    if time.monotonic() > deadline:  # waited its turn past the deadline
        raise _too_long()
    problem = experiment.problem.build()  # a fresh problem: its buffers are not shared
    _stop_at(problem, deadline)
    spec = experiment.runs[index]
    optimizer = spec.make_optimizer()
    history = fit(
        problem,
        optimizer,
        rng=np.random.default_rng(0),
        progress=False,
        callbacks=[_Deadline(deadline)],
        **experiment.run_training(spec).fit_kwargs(),
    )
    if history.status == "stopped" and history.reason == "time limit":
        raise _too_long()
    record = run_record(spec, optimizer, 0, history, problem, run_id=spec.label)
    path = np.asarray(record["path"], dtype=np.float64).reshape(-1, 2)
    fn = problem.function
    with np.errstate(all="ignore"):
        f = np.asarray(fn.f(path[:, 0], path[:, 1]), dtype=np.float64).reshape(-1)
        gx, gy = fn.grad(path[:, 0], path[:, 1])
    grad = np.column_stack(
        [np.asarray(gx, dtype=np.float64).reshape(-1), np.asarray(gy, dtype=np.float64).reshape(-1)]
    )
    return {
        "status": record["status"],
        "reason": record["reason"],
        "stopped_at": record["stopped_at"],
        "points": len(path),
        "path": pack(path),
        "loss": pack(f),
        "grad": pack(grad),
        "lr": pack(np.asarray(record["lr"], dtype=np.float64)),
        "hyperparameters": _plain(record["hyperparameters"]),
        "left_at": None,
    }


def _failed(reason: str) -> dict[str, Any]:
    """A run that could not run (the optimizer raised): shown as such, the others drawn."""
    empty = pack(np.empty(0))
    return {
        "status": "failed",
        "reason": reason,
        "stopped_at": 0,
        "points": 0,
        "path": empty,
        "loss": empty,
        "grad": empty,
        "lr": empty,
        "hyperparameters": {},
        "left_at": None,
    }


def pack(values: np.ndarray) -> str:
    """Numbers as the page receives them: little-endian float64, base64 (exact, compact).

    An ``(n, 2)`` array is packed row by row (``x0, y0, x1, y1, …``); NaN and
    infinities pass through. :func:`unpack` reverses it.
    """
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f8").tobytes()).decode("ascii")


def unpack(text: str, columns: int = 1) -> np.ndarray:
    """The array :func:`pack` packed (``columns=2`` for a path)."""
    values = np.frombuffer(base64.b64decode(text), dtype="<f8")
    return values.reshape(-1, columns) if columns > 1 else values


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _left_at(path: np.ndarray, xlim: Sequence[float], ylim: Sequence[float]) -> int | None:
    """The first step whose point lies outside the view (``None``: it stays inside)."""
    x, y = path[:, 0], path[:, 1]
    outside = ~((xlim[0] <= x) & (x <= xlim[1]) & (ylim[0] <= y) & (y <= ylim[1]))
    return int(np.argmax(outside)) if outside.any() else None


def paths(body: Any, deadline: float | None = None) -> dict[str, Any]:
    """Every run's path, loss, gradient and learning rate per step (packed by :func:`pack`).

    ``path`` holds ``steps + 1`` points (fewer if the run diverged: the
    finite ones, as ``results.json`` keeps them), ``loss`` and ``grad`` are f
    and ∇f at each point, ``lr`` the rate of each step, ``left_at`` the first
    point outside the view.

    A run the page already holds (its ``key`` in ``have``) comes back as
    ``{"key": …, "same": true}`` without its numbers; a run computed before
    (by any page) comes from a cache; the others are computed here.
    """
    deadline = time.monotonic() + limits.TIME_LIMIT if deadline is None else deadline
    return _answer(_prepared(body), body, deadline)


def known_paths(body: Any) -> dict[str, Any] | None:
    """:func:`paths`'s answer if it needs no work, else ``None``.

    That is: the request was checked before (but for ``have``: see
    :func:`_prepared`) and every run it asks for is held or cached. The
    server answers such a request at once instead of queueing it for a
    worker; anything else (a new or wrong request, a run to compute) gets
    ``None`` and goes to :func:`paths`.
    """
    text = _request_text(body)
    prepared = None if text is None else PREPARED.get(text)
    if prepared is None or not _have_ok(body.get("have", [])):
        return None
    return _answer(prepared, body, None)


def _have_ok(have: Any) -> bool:
    return isinstance(have, list) and len(have) <= 64 and all(isinstance(h, str) for h in have)


def _answer(prepared: tuple, body: Any, deadline: float | None) -> dict[str, Any] | None:
    """The runs of a checked request; ``None`` if one must be computed and ``deadline`` is."""
    experiment, keys, xlim, ylim = prepared
    have = body.get("have", [])
    if not _have_ok(have):
        raise PlayError("have must be a list of at most 64 run keys", field="have")
    steps = experiment.training.steps
    results = {i: RUNS.get(key) for i, key in enumerate(keys) if key not in have}
    missing = [i for i, result in results.items() if result is None]
    if missing and deadline is None:
        return None
    for i, result in zip(missing, _compute(experiment, missing, deadline), strict=True):
        RUNS.put(keys[i], result)
        results[i] = result
    out = []
    for i, (spec, key) in enumerate(zip(experiment.runs, keys, strict=True)):
        entry: dict[str, Any] = {
            "key": key,
            "label": spec.label,
            "optimizer": spec.optimizer,
            "preset": spec.preset,
        }
        result = results.get(i)
        if result is None:
            entry["same"] = True
        else:
            entry.update(result)
            entry["left_at"] = _left_at(unpack(result["path"], 2), xlim, ylim)
        out.append(entry)
    return {"runs": out, "steps": steps}


def _prepared(body: Any) -> tuple[Experiment, list[str], tuple, tuple]:
    """A paths request checked: its experiment, each run's key, and the view's limits.

    A request made of plain JSON values (what the page sends) is checked
    once: while a slider is dragged, most requests repeat the one before but
    for ``have``, and get the same answer from :data:`PREPARED`.
    """
    text = _request_text(body)
    if text is not None:
        hit = PREPARED.get(text)
        if hit is not None:
            return hit
    experiment = experiment_2d(body)
    problem = experiment.problem.to_table()
    steps = experiment.training.steps
    (_, xlim, ylim), _ = _function_of(body)
    keys = []
    for spec in experiment.runs:
        table = spec.to_table()
        table.pop("label")
        keys.append(digest({"problem": problem, "steps": steps, "run": table}))
    prepared = (experiment, keys, xlim, ylim)
    if text is not None:
        PREPARED.put(text, prepared)
    return prepared


def _request_text(body: Any) -> str | None:
    """``repr`` of the request but ``have``, if it holds nothing but plain JSON values
    (``None`` otherwise): two requests with one text are checked alike."""
    if type(body) is not dict:
        return None
    rest = {k: v for k, v in body.items() if k != "have"}
    return repr(rest) if _plain_json(rest) else None


_JSON_SCALARS = (str, int, float, bool, type(None))


def _plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made of dicts (str keys), lists, str, int, float, bool, None."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return True
    if depth > 32:
        return False
    if kind is list:
        return all(_plain_json(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def _guarded(experiment: Experiment, index: int, deadline: float) -> dict[str, Any]:
    """A run's result; an optimizer that raises gives a "failed" run, not an error."""
    try:
        return _run_once(experiment, index, deadline)
    except PlayError:
        raise
    except (TypeError, ValueError, ArithmeticError, NotImplementedError) as error:
        return _failed(f"{type(error).__name__}: {error}")


_TOO_LONG = "the computation took longer than {:g} s; ask for fewer steps or optimizers"


def _too_long() -> PlayError:
    return PlayError(_TOO_LONG.format(limits.TIME_LIMIT), status=503)


def _compute(experiment: Experiment, indices: list[int], deadline: float) -> list[dict[str, Any]]:
    """The runs ``indices`` of ``experiment`` (each stops at ``deadline``): side by side in
    the worker processes if :func:`start_processes` started some, else here, one after
    another."""
    pool = _PROCESSES
    if pool is None or not indices:
        return [_guarded(experiment, i, deadline) for i in indices]
    rest = [_dispatcher().submit(_in_pool, pool, experiment, i, deadline) for i in indices[1:]]
    first = _in_pool(pool, experiment, indices[0], deadline)
    return [first, *(future.result() for future in rest)]


def _in_pool(pool: _Pool, experiment: Experiment, index: int, deadline: float) -> dict[str, Any]:
    """One run computed by a worker process; again by another if its worker died."""
    for _ in range(2):
        try:
            return pool.call(_guarded, (experiment, index, deadline), deadline)
        except _WorkerDied:
            log.warning("gdlab play: a worker process died; its run is computed again")
        except _NoWorkers:
            return _guarded(experiment, index, deadline)
    raise PlayError("a worker process died twice computing this run (out of memory?)", status=503)


_DISPATCH: ThreadPoolExecutor | None = None


def _dispatcher() -> ThreadPoolExecutor:
    """Threads that wait for the worker processes, one per run of a request but its first."""
    global _DISPATCH
    with _PROCESSES_LOCK:
        if _DISPATCH is None:
            _DISPATCH = ThreadPoolExecutor(
                limits.MAX_CONCURRENT * limits.MAX_RUNS, thread_name_prefix="gdlab-play-wait"
            )
        return _DISPATCH


# --------------------------------------------------------------------------- worker processes

#: Seconds a worker may run past a run's deadline before it is killed and replaced.
#: A run stops itself at its deadline (checked at every evaluation of f); one that
#: does not (a step that never ends) loses its process, which frees its core and memory.
GRACE = 1.0


class _WorkerDied(Exception):
    """The worker process ended while computing (killed from outside, out of memory)."""


class _NoWorkers(Exception):
    """The pool has no worker left (stopped, or none could start): compute here."""


class _Worker:
    """One spawned worker process and the pipe to it."""

    def __init__(self, context: Any, warm: bool) -> None:
        here, there = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(there, warm), name="gdlab-play-worker", daemon=True
        )
        with interrupts_ignored():  # from its first line: see _worker_main
            self.process.start()
        there.close()
        self.conn = here

    def kill(self) -> None:
        self.process.kill()
        self.process.join(10)
        self.conn.close()


def _worker_main(conn: Any, warm: bool) -> None:
    """A worker process: follow the server, compile the kernels, then compute what it is sent.

    Ctrl-C in a terminal interrupts every process of the foreground group: a worker
    ignores it (no traceback of its own) and ends when the server closes its pipe.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # started with it held (gdlab.sweep)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _follow_parent()
    if warm:
        warm_up(network=False)
    try:
        conn.send("ready")
        while True:
            fn, args = conn.recv()
            try:
                reply = ("ok", fn(*args))
            except Exception as error:
                reply = ("error", error)
            try:
                conn.send(reply)
            except Exception as error:  # an answer that does not pickle
                conn.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))
    except (EOFError, OSError):  # the server closed the pipe: the pool was stopped
        return


class _Pool:
    """Worker processes that compute one run at a time each, within its deadline.

    A run that is still computing :data:`GRACE` seconds after its deadline
    (it did not stop itself) has its worker killed, and a fresh one takes its
    place; the other workers and their runs are not touched. A worker that
    dies on its own is replaced too, and its run is computed again. While every
    worker is still starting (importing, warming up), a run is computed in the
    calling thread, as without workers, rather than wait for one.
    """

    def __init__(self, count: int, warm: bool) -> None:
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.warm = warm
        self.changed = threading.Condition()
        self.workers: list[_Worker] = []
        self.idle: list[_Worker] = []
        self.starting: set[_Worker] = set()  #: spawned, not ready yet (importing, warming up)
        self.closed = False
        self.killed = 0  #: workers killed past a deadline (for the tests and the logs)
        for _ in range(count):
            self._spawn()

    def pids(self) -> list[int]:
        with self.changed:
            return [w.process.pid for w in self.workers]

    def idle_pids(self) -> list[int]:
        with self.changed:
            return [w.process.pid for w in self.idle]

    def _spawn(self) -> None:
        worker = _Worker(self.context, self.warm)
        with self.changed:
            self.workers.append(worker)
            self.starting.add(worker)
        threading.Thread(
            target=self._await_ready, args=(worker,), name="gdlab-play-spawn", daemon=True
        ).start()

    def _await_ready(self, worker: _Worker) -> None:
        """Wait for a new worker's "ready" (after its warm-up), then give it work."""
        try:
            worker.conn.recv()
        except (EOFError, OSError):  # it could not start (or the pool stopped): not replaced
            if not self.closed:
                log.warning("gdlab play: a worker process ended while starting")
            self._forget(worker)
            worker.kill()
            return
        finally:
            with self.changed:
                self.starting.discard(worker)
        self._release(worker)

    def _forget(self, worker: _Worker) -> None:
        with self.changed:
            if worker in self.workers:
                self.workers.remove(worker)
            self.changed.notify_all()

    def _release(self, worker: _Worker) -> None:
        with self.changed:
            if not self.closed:
                self.idle.append(worker)
                self.changed.notify()
                return
        self._forget(worker)
        worker.conn.close()  # it reads EOF and exits

    def _take(self, deadline: float) -> _Worker:
        with self.changed:
            while True:
                if self.closed or not self.workers:
                    raise _NoWorkers
                if self.idle:
                    return self.idle.pop()
                if len(self.starting) == len(self.workers):
                    # every worker is still starting (seconds on a busy machine): the run
                    # is computed here, as without workers, rather than wait for one
                    raise _NoWorkers
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _too_long()
                self.changed.wait(left)

    def _replace(self, worker: _Worker) -> None:
        self._forget(worker)
        worker.kill()
        if not self.closed:
            self._spawn()

    def call(self, fn: Callable[..., Any], args: tuple, deadline: float) -> Any:
        """``fn(*args)`` in a worker; killed (and 503) if not done :data:`GRACE` s past
        ``deadline``. Raises :class:`_WorkerDied` or :class:`_NoWorkers` as they say."""
        worker = self._take(deadline)
        try:
            worker.conn.send((fn, args))
            if worker.conn.poll(max(0.0, deadline - time.monotonic()) + GRACE):
                status, value = worker.conn.recv()
            else:
                status, value = "stuck", None
        except (EOFError, OSError):
            status, value = "died", None
        if status == "ok":
            self._release(worker)
            return value
        if status == "error":
            self._release(worker)
            raise value
        self._replace(worker)
        if status == "died":
            raise _WorkerDied
        self.killed += 1
        log.warning("gdlab play: a run went on past its deadline; its worker was replaced")
        raise _too_long()

    def shutdown(self, wait: bool) -> None:
        """No more work; idle workers exit now, busy ones after their run (``wait``: joined)."""
        with self.changed:
            self.closed = True
            idle, self.idle = self.idle, []
            workers = list(self.workers)
            starting = list(self.starting)
            self.changed.notify_all()
        for worker in idle:
            self._forget(worker)
            worker.conn.close()
        for worker in starting:  # still importing or warming up: nothing to finish
            worker.process.kill()
        if wait:
            for worker in workers:
                worker.process.join(limits.TIME_LIMIT + GRACE + 5)
                if worker.process.is_alive():
                    worker.kill()


#: The worker processes 2-D runs are computed in (``None``: in the calling thread).
_PROCESSES: _Pool | None = None
_PROCESSES_LOCK = threading.Lock()


def start_processes(count: int, *, warm: bool = True) -> None:
    """Compute 2-D runs in ``count`` worker processes from now on (0: in threads again).

    ``gdlab play`` starts them: a run then holds neither the server's
    interpreter lock nor its core, so that requests are read and answered
    while runs are computed, and a run that does not stop at its deadline
    can be stopped (its process killed and replaced). They are spawned (never
    forked from a process with threads) and compute exactly what a thread
    would. With ``warm`` each compiles every optimizer's kernels
    (:func:`warm_up`) before its first run, so that no request waits for a
    compile in one of them.
    """
    count = int(count)
    _replace_pool(_Pool(count, bool(warm)) if count > 0 else None)


def _follow_parent() -> None:
    """In a worker process: exit as soon as the server's process is gone.

    A server killed (SIGKILL, a crash) never gets to stop its pool, and a
    worker waiting for work would wait forever.
    """
    import multiprocessing
    import multiprocessing.connection
    import os

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def wait() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=wait, name="gdlab-play-parent", daemon=True).start()


def stop_processes(wait: bool = False) -> None:
    """Stop the worker processes (:func:`start_processes`); runs are computed in threads.

    ``wait``: until they have ended (a run in progress ends at its deadline).
    """
    _replace_pool(None, wait=wait)


def _replace_pool(pool: _Pool | None, *, wait: bool = False) -> None:
    """``pool`` computes runs from now on; the one it replaces is shut down."""
    global _PROCESSES
    with _PROCESSES_LOCK:
        old, _PROCESSES = _PROCESSES, pool
    if old is not None:
        old.shutdown(wait)


def export_toml(body: Any) -> dict[str, str]:
    """The 2-D setup as an experiment file that ``gdlab race --config`` runs identically."""
    experiment = experiment_2d(body)
    header = (
        "# Made by gdlab play. Run it again with:  gdlab race --config THIS_FILE\n"
        "# The race runs the same optimizers the same way: its paths are the page's.\n"
    )
    return {"toml": header + experiment.to_toml(), "filename": "gdlab-play.toml"}


# --------------------------------------------------------------------------- schedules


#: Groups of steps a long schedule curve is sent as (a lowest, a highest and a first
#: rate each): the chart is about 700 px wide, and the answer stays about the size
#: of the 2,000 sampled rates it replaced (which hid a rate cycling between samples).
CURVE_GROUPS = limits.MAX_CURVE_POINTS // 2


def schedule_curve(body: Any) -> dict[str, Any]:
    """One schedule's learning rate over steps (and epochs), its repr and formula.

    Up to :data:`~limits.MAX_CURVE_POINTS` steps: ``steps`` is every step and
    ``lr`` its rate (``group`` 1). Longer: the steps are cut into at most
    :data:`CURVE_GROUPS` groups of ``group`` steps (the last may be shorter);
    ``steps`` is each group's first step and the last step, ``lr`` the rate
    there, and ``lr_low`` and ``lr_high`` the lowest and highest rate over each
    group's steps, so that a rate changing between two sent steps (a cycle,
    a restart) is not lost.
    """
    body = _table(body, "request", ["schedule", "lr0", "steps_per_epoch", "epochs"], ["schedule"])
    lr0 = _real("lr0", body.get("lr0", 0.1), 1e-8, 1e3)
    per_epoch = _int("steps_per_epoch", body.get("steps_per_epoch", 10), 1, 10_000)
    epochs = _int("epochs", body.get("epochs", 30), 1, 10_000)
    total = per_epoch * epochs
    if total > limits.MAX_SCHEDULE_STEPS:
        raise PlayError(
            f"steps_per_epoch × epochs must be at most {limits.MAX_SCHEDULE_STEPS:,}; "
            f"got {total:,}",
            field="epochs",
        )
    config = _schedule_config("schedule", body["schedule"], lr0)
    schedule = schedules.from_config(config)
    return {
        **_curve(_every_rate(schedule, per_epoch, epochs)),
        "steps_per_epoch": per_epoch,
        "epochs": epochs,
        "repr": repr(schedule),
        "formula": schedule_specs()[config["name"]]["formula"],
        "config": config,
        "unit": schedule.unit,
    }


def _every_rate(schedule: schedules.Schedule, per_epoch: int, epochs: int) -> np.ndarray:
    """The rate at every step; a schedule per epoch is asked once an epoch."""
    if schedule.unit == "epoch":  # its rate is the same through each epoch
        return np.repeat([schedule(e * per_epoch, e) for e in range(epochs)], per_epoch)
    return np.array(
        [schedule(step, step // per_epoch) for step in range(per_epoch * epochs)],
        dtype=np.float64,
    )


def _curve(rates: np.ndarray) -> dict[str, Any]:
    """Every rate, or each group's first, lowest and highest rate and the last rate."""
    total = len(rates)
    if total <= limits.MAX_CURVE_POINTS:
        return {"steps": list(range(total)), "lr": _finite_list(rates), "group": 1}
    group = math.ceil(total / CURVE_GROUPS)
    starts = np.arange(0, total, group)
    steps = [*starts.tolist(), total - 1] if starts[-1] != total - 1 else starts.tolist()
    return {
        "steps": steps,
        "lr": _finite_list(rates[steps]),
        "group": group,
        "lr_low": _finite_list(np.minimum.reduceat(rates, starts)),
        "lr_high": _finite_list(np.maximum.reduceat(rates, starts)),
    }


# --------------------------------------------------------------------------- EWMA


@lru_cache(maxsize=1)
def _temperatures() -> tuple[list[str], np.ndarray]:
    from gdlab.data.datasets import seattle_temperatures

    dates, temps = seattle_temperatures()
    return [str(d) for d in dates], temps


def temperatures() -> dict[str, Any]:
    """Seed 004's series: Seattle's daily maximum temperature, 2012–2015 (°C)."""
    dates, temps = _temperatures()
    return {"dates": dates, "values": temps.tolist(), "source": "vega_datasets seattle-weather"}


def ewma_series(body: Any) -> dict[str, Any]:
    """The temperatures' EWMA with ``beta`` (bias-corrected or not), its window and weights."""
    from gdlab.averages import effective_window, ewma

    body = _table(body, "request", ["beta", "bias_correction"], ["beta"])
    beta = _real("beta", body["beta"], 0.0, 0.9999)
    corrected = _bool("bias_correction", body.get("bias_correction", True))
    _, temps = _temperatures()
    window = effective_window(beta)
    k = np.arange(int(min(len(temps), max(10, math.ceil(4 * window)))))
    weights = (1.0 - beta) * beta**k
    return {
        "beta": beta,
        "bias_correction": corrected,
        "values": np.round(ewma(temps, beta, bias_correction=corrected), 6).tolist(),
        "other": np.round(ewma(temps, beta, bias_correction=not corrected), 6).tolist(),
        "window": window,
        "weights": weights.tolist(),
        "weight_at_window": float(beta**window) if beta > 0 else 0.0,
    }


#: Set once :func:`warm_up` has compiled every optimizer (``/api/health`` reports it).
WARM = threading.Event()


def warm_up(names: Sequence[str] | None = None, *, network: bool = True) -> None:
    """Compile every optimizer's kernels (numba) and load the data, before the first click.

    Each registered optimizer (or each of ``names``) takes two steps on the
    bowl, and a network session one frame; whatever fails here fails again, with its message, on
    the request that needs it.
    """
    from gdlab.play.network import NetworkSession

    for name, spec in _all_specs().items():
        if not spec["available"] or (names is not None and name not in names):
            continue
        try:
            paths({"function": "bowl", "steps": 2, "runs": [{"optimizer": name}]})
        except Exception:
            continue
    if network:
        try:
            session = NetworkSession(
                {"runs": [{"optimizer": "sgd"}, {"optimizer": "adam"}], "n_samples": 40}
            )
            session.advance(1)
            session.frame()
            _temperatures()
            from gdlab import expressions

            expressions.parse("x^2 + y^2")  # SymPy imported
        except Exception:
            pass
    if names is None:
        WARM.set()
