"""Argument checks with one message shape.

Every check raises with the same shape, naming the argument, what is allowed
and the bad value::

    beta1 must be in [0, 1); got 1.0
    lr must be a real number or a Schedule; got 'fast' (str)

``TypeError`` is raised for a value of the wrong kind, ``ValueError`` for a
value of the right kind outside its range (NaN and infinities included).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gdlab._text import exact as _exact

__all__ = [
    "ConfigError",
    "Field",
    "check_bool",
    "check_choice",
    "check_int",
    "check_keys",
    "check_real",
    "check_table",
    "describe",
    "describe_toml",
    "fail",
    "toml_spelling",
    "unset",
]

#: Whether values in messages are spelled as a TOML file or a ``--set`` writes them
#: (``true``, ``(boolean)``) rather than as Python does (``True``, ``(bool)``).
_TOML = contextvars.ContextVar("gdlab_toml_spelling", default=False)

#: TOML's names of the kinds of value, for ``got 1 (integer)``.
_TOML_KINDS = {
    bool: "boolean", int: "integer", float: "float", str: "string",
    list: "array", tuple: "array", dict: "table",
}  # fmt: skip


@contextlib.contextmanager
def toml_spelling() -> Iterator[None]:
    """Within it, checks write values as a TOML file does: ``amsgrad must be true or
    false; got 1 (integer)``, ``beta1 must be a real number; got true (boolean)``, for a
    value the user wrote in a configuration or a ``--set``, not in Python."""
    token = _TOML.set(True)
    try:
        yield
    finally:
        _TOML.reset(token)


def unset() -> str:
    """How a check says that a value must not be given: ``None`` in Python, ``left out``
    for a value from a file or a ``--set`` (TOML has no null): ``decay must be left out
    unless mode='ema'; got 0.9``."""
    return "left out" if _TOML.get() else "None"


def describe_toml(value: Any) -> str:
    """:func:`describe` with booleans as TOML writes them: ``true``, ``[1, false]``."""
    with toml_spelling():
        return describe(value)


def describe(value: Any) -> str:
    """``repr`` of a value, cut to about 60 characters.

    An integer too long for that is shown by its first digits and its length,
    ``1000000000000... (an integer of 401 digits)``, never in full. A date or a
    time (TOML's ``2024-06-01``, ``12:30:00``) is shown as written, never as
    Python's ``datetime.date(2024, 6, 1)``: ``the date 2024-06-01``, and inside an
    array or a table as its text, ``[2024-06-01, 1]``.

    >>> describe(datetime.date(2024, 6, 1)), describe([datetime.time(12, 30), 1])
    ('the date 2024-06-01', '[12:30:00, 1]')
    """
    if type(value) is int and not -(10**59) < value < 10**59:
        return _long_int(value)
    if isinstance(value, _DATES):
        return cut(f"the {_date_words(value)} {value.isoformat()}")
    return cut(repr(_as_written(value, toml=_TOML.get())))


#: The kinds of date and time a TOML file may hold (a datetime is a date).
_DATES = (datetime.date, datetime.time)
_HOLDERS = (list, tuple, dict)


def _date_words(value: datetime.date | datetime.time) -> str:
    if isinstance(value, datetime.datetime):
        return "date and time"
    return "date" if isinstance(value, datetime.date) else "time"


class _Written(str):
    """A date's ISO text (or TOML's ``true``), shown without quotes inside a ``repr``."""

    def __repr__(self) -> str:
        return str(self)


def _as_written(value: Any, within: frozenset[int] = frozenset(), *, toml: bool = False) -> Any:
    """``value`` with each date or time in its arrays and tables as its ISO text (for its
    ``repr``), and with ``toml`` each boolean as ``true`` or ``false``; ``value`` itself
    when it holds none (or holds itself: ``repr``'s ``[...]``)."""
    if isinstance(value, _DATES):
        return _Written(value.isoformat())
    if toml and isinstance(value, bool):
        return _Written(str(value).lower())
    if id(value) in within or type(value) not in _HOLDERS:
        return value
    within |= {id(value)}
    if type(value) is dict:
        items = {k: _as_written(v, within, toml=toml) for k, v in value.items()}
        same = all(items[k] is v for k, v in value.items())
        return value if same else items
    written = [_as_written(v, within, toml=toml) for v in value]
    same = all(w is v for w, v in zip(written, value, strict=True))
    return value if same else type(value)(written)


def cut(text: str, limit: int = 60) -> str:
    """``text``, or its first ``limit - 3`` characters and ``...`` when it is longer
    than ``limit`` (default 60)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _long_int(value: int) -> str:
    """``100000000000... (an integer of 401 digits)``: no ``str()`` of the whole
    number, which Python refuses past 4300 digits."""
    n = abs(value)
    digits = int((n.bit_length() - 1) * 0.30102999566398120) + 1  # at most one short
    if n >= 10**digits:
        digits += 1
    lead = n // 10 ** (digits - 12)
    return f"{'-' if value < 0 else ''}{lead}... (an integer of {digits} digits)"


def _typed(value: Any, described: bool = False) -> str:
    """``describe(value)`` and its type, ``'fast' (str)``; a ``described`` value is text
    about the bad value (``'int64 array'``), not the value: its type says nothing."""
    if described or isinstance(value, _DATES):  # a date's words name its type
        return describe(value)
    kind = _TOML_KINDS.get(type(value)) if _TOML.get() else None
    return f"{describe(value)} ({kind or type(value).__name__})"


def fail(
    name: str,
    allowed: str,
    value: Any,
    *,
    kind: type[Exception] = ValueError,
    described: bool = False,
) -> None:
    """Raise ``kind`` with the message ``'{name} must be {allowed}; got {value}'``.

    A ``TypeError`` shows the value's type after it (``got 'fast' (str)``).
    ``described=True`` says that ``value`` is a description of the bad value
    written by the caller (``f"{x.dtype} array"``), shown without a type:
    ``got 'int64 array'``, never ``got 'int64 array' (str)``.
    """
    shown = _typed(value, described) if kind is TypeError else describe(value)
    raise kind(f"{name} must be {allowed}; got {shown}")


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        return f"in {left}{_exact(low)}, {_exact(high)}{right}"
    if low is not None:
        return f"{'>' if low_open else '>='} {_exact(low)}"
    if high is not None:
        return f"{'<' if high_open else '<='} {_exact(high)}"
    return "finite"


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` inside the given interval.

    ``low_open`` / ``high_open`` exclude the end points: ``check_real("beta1",
    b, low=0, high=1, high_open=True)`` accepts ``[0, 1)``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, "a real number", value, kind=TypeError)
    try:
        x = float(value)
    except OverflowError:  # an integer past float's range: as far out as inf
        x = math.inf if value > 0 else -math.inf
    allowed = _interval(low, high, low_open, high_open)
    if not math.isfinite(x):
        fail(name, f"finite and {allowed}" if allowed != "finite" else "finite", value)
    if low is not None and (x < low or (low_open and x == low)):
        fail(name, allowed, value)
    if high is not None and (x > high or (high_open and x == high)):
        fail(name, allowed, value)
    return x


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an ``int`` in ``[low, high]`` (``bool`` is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, "an integer", value, kind=TypeError)
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        if low is not None and high is not None:
            allowed = f"an integer in [{low}, {high}]"
        elif low is not None:
            allowed = f"an integer >= {low}"
        else:
            allowed = f"an integer <= {high}"
        fail(name, allowed, value)
    return n


def check_same_keys(name: str, got: Mapping[Any, Any], expected: Mapping[Any, Any]) -> None:
    """Raise ``ValueError`` naming the missing and unexpected keys unless ``got`` has
    exactly the keys of ``expected`` (``name`` says what ``got`` is and should match)."""
    if got.keys() != expected.keys():
        missing = sorted(set(expected) - set(got), key=str)
        extra = sorted(set(got) - set(expected), key=str)
        raise ValueError(f"{name}; missing {missing}, unexpected {extra}")


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a ``bool`` (NumPy's included)."""
    if isinstance(value, bool):
        return value
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"):  # numpy.bool_
        return bool(value)
    fail(name, "true or false" if _TOML.get() else "True or False", value, kind=TypeError)
    raise AssertionError  # unreachable


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (strings)."""
    options = list(choices)
    listed = ", ".join(repr(c) for c in options)
    if not isinstance(value, str):
        fail(name, f"one of {listed}", value, kind=TypeError)
    if value not in options:
        fail(name, f"one of {listed}", value)
    return value


def check_rng(rng: Any) -> Any:
    """Return ``rng`` if it is a ``numpy.random.Generator`` (randomness is passed, never global)."""
    import numpy as np

    if not isinstance(rng, np.random.Generator):
        fail(
            "rng",
            "a numpy.random.Generator; pass numpy.random.default_rng(seed)",
            rng,
            kind=TypeError,
        )
    return rng


def check_float_dtype(dtype: Any, allowed: Iterable[str] | None = None) -> Any:
    """``dtype`` as a NumPy floating dtype (``None`` refused: NumPy would read it as
    float64); ``allowed`` limits it to those names, e.g. ``("float32", "float64")``."""
    import numpy as np

    names = tuple(allowed) if allowed is not None else None
    text = (
        " or ".join(f"numpy.{n}" for n in names)
        if names
        else "a NumPy floating type such as numpy.float32 or numpy.float64"
    )
    if dtype is None:
        fail("dtype", text, dtype, kind=TypeError)
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        fail("dtype", text, dtype, kind=TypeError)
        raise AssertionError from None  # unreachable
    if resolved.kind != "f" or (names is not None and resolved.name not in names):
        fail("dtype", text, dtype if names else resolved.name)
    return resolved


# --------------------------------------------------------------------------- fields


class ConfigError(ValueError):
    """A mistake in a configuration: a TOML file, a ``--set``, a model built in code.

    The message names where the value sits (``bowl.toml: training.steps``),
    what is allowed and what was found, in the shape of :func:`fail`.
    """


_REQUIRED = object()

#: The kinds of value a :class:`Field` holds, and how each is written in errors.
FIELD_KINDS = {
    "int": "an integer",
    "real": "a real number",
    "str": "a non-empty string",
    "bool": "true or false",
    "choice": "one of",
    "ints": "an array of integers",
    "reals": "an array of real numbers",
    "strs": "an array of non-empty strings",
}


@dataclass(frozen=True)
class Field:
    """One key of a configuration table: its kind, range, default and meaning.

    ``Field("int", 1, low=1)`` is an integer >= 1 defaulting to 1;
    ``Field("choice", "he", choices=("he", "xavier"))`` one of two names;
    ``nullable=True`` admits ``None`` (written as an absent key in TOML).
    :meth:`check` returns the value normalised (ints as ``int``, reals as
    ``float``, arrays as tuples) or raises :class:`ConfigError`.
    """

    kind: str
    default: Any = _REQUIRED
    doc: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    length: int | None = None
    aliases: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise ValueError(
                f"Field kind must be one of {', '.join(FIELD_KINDS)}; got {self.kind!r}"
            )

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def allowed(self) -> str:
        """What the field accepts, in words (for errors and docs)."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
            if self.low is not None or self.high is not None:
                text += " or a real number " + _interval(
                    self.low, self.high, self.low_open, self.high_open
                )
        elif self.kind in ("int", "real"):
            text = FIELD_KINDS[self.kind]
            bounds = _interval(self.low, self.high, self.low_open, self.high_open)
            if bounds != "finite":
                text += " " + bounds
        else:
            text = FIELD_KINDS[self.kind]
            if self.length is not None:
                text += f" of length {self.length}"
            bounds = _interval(self.low, self.high, self.low_open, self.high_open)
            if self.kind in ("ints", "reals") and bounds != "finite":
                text += f", each {bounds}"
        if self.aliases:
            text += " (or " + ", ".join(repr(a) for a in self.aliases) + ")"
        return text

    def check(self, where: str, value: Any) -> Any:
        """``value`` normalised, or :class:`ConfigError` naming ``where``."""
        if value is None and self.nullable:
            return None
        if isinstance(value, str) and value in self.aliases:
            return self.aliases[value]
        try:
            return self._convert(value)
        except (TypeError, ValueError):
            shown = describe_toml(value)  # a file's or a --set's value: true, not True
            raise ConfigError(f"{where} must be {self.allowed()}; got {shown}") from None

    def _convert(self, value: Any) -> Any:
        if self.kind == "choice":
            if isinstance(value, str | bool | None) or (self.low is None and self.high is None):
                if isinstance(value, bool) or value not in self.choices:
                    raise ValueError
                return value
            return self._scalar("real", value)  # a choice that also takes a number
        if self.kind in ("ints", "reals", "strs"):
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                raise TypeError
            items = tuple(value)
            if self.length is not None and len(items) != self.length:
                raise ValueError
            scalar = {"ints": "int", "reals": "real", "strs": "str"}[self.kind]
            return tuple(self._scalar(scalar, v) for v in items)
        return self._scalar(self.kind, value)

    def _scalar(self, kind: str, value: Any) -> Any:
        if kind == "bool":
            return check_bool("value", value)
        if kind == "str":
            if not isinstance(value, str):
                raise TypeError
            if not value:  # "" is no name, folder or formula: directory = "" read the cwd
                raise ValueError
            return value
        if kind == "int":
            n = check_int("value", value)
            check_real(
                "value",
                n,
                low=self.low,
                high=self.high,
                low_open=self.low_open,
                high_open=self.high_open,
            )
            return n
        return check_real(
            "value",
            value,
            low=self.low,
            high=self.high,
            low_open=self.low_open,
            high_open=self.high_open,
        )


def check_keys(table: Any, allowed: Iterable[str], where: str, *, extra: str = "") -> Mapping:
    """``table`` if it is a mapping whose every key is ``allowed``; else :class:`ConfigError`
    naming the first unknown key and listing the allowed ones (then ``extra``)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table; got {describe_toml(table)}")
    names = list(allowed)
    unknown = [k for k in table if k not in names]
    if unknown:
        raise ConfigError(
            f"{where} has unknown key {unknown[0]!r}; allowed: {', '.join(names)}{extra}"
        )
    return table


def check_table(
    table: Any, fields: Mapping[str, Field], where: str, *, extra: str = ""
) -> dict[str, Any]:
    """Check a configuration table against ``fields``: every key known, every value valid.

    Returns the table normalised with the defaults of absent keys filled in.
    An unknown key raises :class:`ConfigError` naming it and the allowed ones
    (``extra`` is appended to that message, e.g. a hint at the right spelling).
    """
    check_keys(table, fields, where, extra=extra)
    out = {}
    for name, spec in fields.items():
        if name in table:
            out[name] = spec.check(f"{where}.{name}", table[name])
        elif spec.required:
            raise ConfigError(f"{where}.{name} is required: {spec.allowed()}")
        else:
            out[name] = spec.default
    return out
