"""Learning-rate schedules: callables from the step (or epoch) counter to ``lr``.

An optimizer calls its schedule once per update, ``lr = schedule(step, epoch)``:

* ``step`` is the number of optimizer updates already applied (``0`` for the
  first update);
* ``epoch`` is the number of epochs already completed (``0`` during the first
  epoch); the training loop sets it.

Both count from 0. A schedule's ``unit`` (``"step"`` or ``"epoch"``, chosen
with ``per=``) says which of the two its formula uses, and ``first`` (0 or 1)
shifts the counter: the formula sees ``n = step + first`` (or
``n = epoch + first``). ``first=0`` gives ``lr0`` on the first update, as in
Keras and optax; ``first=1`` counts from 1 as seed 004 (Andrew Ng's course)
does, and is the only choice for the inverse-square-root schedules, where
``1/√0`` is undefined.

====================  ======================  ======================================  =====
name                  class                   lr at counter ``n``                     first
====================  ======================  ======================================  =====
constant              Constant                lr                                      --
inverse_time          InverseTimeDecay        lr0 / (1 + decay_rate·n/decay_steps)    0
exponential           ExponentialDecay        lr0·rate^(n/decay_steps)                0
inverse_sqrt_epoch    InverseSqrtEpochDecay   k/√n·lr0, n counts epochs               1
inverse_sqrt_step     InverseSqrtStepDecay    k/√n·lr0, n counts mini-batch steps     1
step                  StepDecay               lr0·factor^⌊n/every⌋                    0
piecewise             PiecewiseConstant       values[i] while n < boundaries[i]       0
polynomial            PolynomialDecay         (lr0−end)(1−min(n,T)/T)^power + end     0
cosine                CosineDecay             min_lr + (lr0−min_lr)(1+cos(πn/T))/2    0
onecycle              OneCycle                up to max_lr and down (torch/optax)     --
cyclic                Cyclic                  triangles between base_lr and max_lr    --
swa                   SWALR                   anneal from lr0 to swa_lr               0
lambda                Lambda                  lr0·λ(n), λ any Python callable         0
multiplicative        Multiplicative          lr0·λ(1)·…·λ(n)                         0
warmup                Warmup                  linear ramp, then the shifted schedule  --
join                  Join                    schedules one after another             --
chained               Chained                 the product of schedules                --
plateau               ReduceOnPlateau         lr·factor after patience bad reports    --
manual                Manual                  whatever the user set()                 --
====================  ======================  ======================================  =====

Every count a schedule takes (``decay_steps``, ``every``, ``boundaries``,
``total_steps``, ``step_size_up``/``down``, ``anneal_epochs``, ``warmup_steps``,
``patience``, ``cooldown``) is an integer of at most 2**53 (:data:`MAX_COUNT`):
up to there every count is exact as a float, which the formulas divide by. The
counters ``step`` and ``epoch`` themselves have no bound. A rate that the
arguments put past the float range from the start (``OneCycle``'s corners,
``k·lr0`` of the inverse-square-root decays) is refused when the schedule is made.

Where torch, optax and Keras disagree, a schedule names the convention
(``form=``, ``inclusive=``, ``periodic=``); ``docs/schedules.md`` lists which
reference each one matches.

``create(name, **kwargs)`` builds one from the registry :data:`SCHEDULES`,
``schedule.config()`` / :func:`from_config` round-trip it (``to_config()`` is
the same checked to be plain data for TOML or JSON: a schedule holding a
Python callable cannot be written), and :func:`as_schedule` turns a plain
``float`` into a :class:`Constant`.

>>> s = InverseTimeDecay(0.2, 1.0, first=1)          # seed 004's example
>>> [round(s(0, epoch=e), 4) for e in range(4)]
[0.1, 0.0667, 0.05, 0.04]
"""

from __future__ import annotations

import bisect
import copy
import decimal
import inspect
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ._checks import ConfigError, check_bool, check_choice, check_int, check_real, describe, fail

__all__ = [
    "SCHEDULES",
    "SWALR",
    "Chained",
    "Constant",
    "CosineDecay",
    "Cyclic",
    "ExponentialDecay",
    "InverseSqrtEpochDecay",
    "InverseSqrtStepDecay",
    "InverseTimeDecay",
    "Join",
    "Lambda",
    "Manual",
    "Multiplicative",
    "OneCycle",
    "PiecewiseConstant",
    "PolynomialDecay",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "Warmup",
    "as_schedule",
    "config_of",
    "create",
    "from_config",
    "initial_rate",
    "with_lr0",
]

UNITS = ("epoch", "step")


# --------------------------------------------------------------------------- helpers


#: How far (in units in the last place) 12 significant digits may read back from a
#: float for a repr to show them instead of every digit: far enough for the noise of
#: one or two roundings (``2.5999999999999996`` is ``2.6``), too close for a value
#: whose later digits were typed (``0.123456789012345`` keeps them all).
_NOISE_ULPS = 8


def _num(x: float | int) -> str:
    """A number as a person reads it in a repr: ``0.95``, ``1.0``, ``100``, ``2.6``.

    An integer as it is; a float by ``repr`` unless 12 significant digits are
    shorter and read back within :data:`_NOISE_ULPS` units in the last place,
    the noise of a float computation (``0.1·0.1`` is ``0.010000000000000002``,
    shown ``0.01``). Human text only: configs keep every digit, and a bound in an
    error message is shown by ``repr`` (a rounded bound could read as the value
    refused).

    >>> _num(3), _num(1.0), _num(2.5999999999999996), _num(1.2000000000000002e-06)
    ('3', '1.0', '2.6', '1.2e-06')
    >>> _num(0.123456789012345), _num(2.0000000000000004), _num(math.inf)
    ('0.123456789012345', '2.0', 'inf')
    """
    if isinstance(x, bool) or not isinstance(x, float):
        return repr(x)
    x = float(x)  # a NumPy float's repr names its type
    text = repr(x)
    if not math.isfinite(x):
        return text
    short = format(x, ".12g")
    if len(short) >= len(text) or abs(float(short) - x) > _NOISE_ULPS * math.ulp(x):
        return text
    return short if any(c in short for c in ".e") else short + ".0"


def _counter(unit: str, first: int) -> str:
    """How ``n`` is counted, e.g. ``n = epoch + 1 = 1, 2, 3, …``."""
    if first == 0:
        return f"n = {unit} = 0, 1, 2, …"
    return f"n = {unit} + 1 = 1, 2, 3, …"


def _real(n: int | float) -> float:
    """``float(n)``, or ``inf`` for an integer too large for a float.

    Every formula here tends to its limit as the counter grows (an exponential
    to 0, a cosine to its floor), and ``inf`` carries it there: ``0.95**inf``
    is 0.0, ``1/inf`` is 0.0, ``1.0**inf`` is 1.0. Below 2**1024 this is
    ``float(n)``, the conversion the formulas made anyway.
    """
    try:
        return float(n)
    except OverflowError:
        return math.inf


def _quotient(n: int, d: int) -> float:
    """``n / d`` (correctly rounded), or ``inf`` when it is too large for a float."""
    try:
        return n / d
    except OverflowError:
        return math.inf


def _check_lr(name: str, value: Any) -> float:
    return check_real(name, value, low=0, low_open=True)


def _check_nonneg(name: str, value: Any) -> float:
    """A real number >= 0, ``-0.0`` read as ``0.0`` (so no ``−0.0`` in a repr or config)."""
    return check_real(name, value, low=0) + 0.0


#: The largest count a schedule takes (``decay_steps``, ``every``, ``boundaries``,
#: ``total_steps``, ``patience``, …): 2**53, past which a count is no longer exact
#: as a float (the formulas divide by it; a JSON reader in JavaScript reads it
#: as a float). A run that long never ends; a larger count is a typo.
MAX_COUNT = 2**53


def _check_count(name: str, value: Any, low: int) -> int:
    """An integer in ``[low, MAX_COUNT]``: a number of steps, epochs or reports."""
    n = check_int(name, value, low=low)
    if n > MAX_COUNT:
        fail(name, f"an integer in [{low}, 2**53] (a count of steps or epochs)", value)
    return n


def _check_first(value: Any) -> int:
    return check_int("first", value, low=0, high=1)


def _check_first_one(value: Any) -> int:
    first = check_int("first", value)
    if first != 1:
        fail("first", "1 (the counter starts at 1 since 1/√0 is undefined)", value)
    return first


def _check_per(value: Any) -> str:
    return check_choice("per", value, UNITS)


def _check_callable(name: str, value: Any, what: str) -> Callable[..., Any]:
    if not callable(value):
        fail(name, what, value, kind=TypeError)
    return value


def _callable_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _plain_config(value: Any, where: str) -> Any:
    """``value`` unchanged if it is plain data all through; else ``TypeError`` naming the path."""
    if isinstance(value, Mapping):
        return {k: _plain_config(v, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_config(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if callable(value):
        fail(
            where,
            "plain data to be written to a TOML or JSON config, not a Python callable "
            "(build this schedule in Python)",
            value,
            kind=TypeError,
        )
    return value


def _as_schedule(name: str, value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        allowed = "a positive real number or a Schedule"
        if isinstance(value, str) and value in SCHEDULES:  # a name is not a schedule
            allowed += f" (a name with its arguments: gdlab.schedules.create({value!r}, ...))"
        fail(name, allowed, value, kind=TypeError)
    return Constant(_check_lr(name, value))


# --------------------------------------------------------------------------- base class


class Schedule(ABC):
    """A learning rate as a function of the step and epoch counters.

    Subclasses set ``name`` (the registry key) and ``unit`` and implement
    ``_value(step, epoch)`` (arguments already checked) and ``_kwargs()``
    (the constructor arguments, JSON-safe).
    """

    name: ClassVar[str]
    unit: str
    #: Whether torch's ``SequentialLR`` starts this schedule from the rate the
    #: previous piece reached rather than from its own start (see :class:`Join`).
    resumes: ClassVar[bool] = False
    #: The config keys of rates other than the initial one (``min_lr``, ``end_lr``, …):
    #: :func:`with_lr0` scales them with ``lr0`` so that the curve keeps its shape.
    shape_rates: ClassVar[tuple[str, ...]] = ()
    #: The arguments that take a Python callable (``lr_lambda``): a config read from a
    #: file or a command line cannot give one (:func:`from_config` says so).
    callables: ClassVar[tuple[str, ...]] = ()

    def __call__(self, step: int, epoch: int = 0) -> float:
        """The learning rate for update ``step`` (from 0) during ``epoch`` (from 0).

        A rate that is not finite (a callable's factor, or a product of
        factors, past the float range) raises ``ValueError`` naming the
        schedule and the counters, instead of reaching an optimizer as ``inf``.
        """
        if not (type(step) is int and type(epoch) is int and step >= 0 and epoch >= 0):
            step = check_int("step", step, low=0)  # the slow path names what is wrong
            epoch = check_int("epoch", epoch, low=0)
        lr = float(self._value(step, epoch))
        if not math.isfinite(lr):  # a callable's factor or a product overflowed
            fail(
                f"the rate of {type(self).__name__} at step {step}, epoch {epoch}",
                "finite (a factor or a product of factors overflowed)",
                lr,
            )
        return lr

    @abstractmethod
    def _value(self, step: int, epoch: int) -> float: ...

    @abstractmethod
    def _kwargs(self) -> dict[str, Any]: ...

    def config(self) -> dict[str, Any]:
        """``{"name": <registry name>, **constructor arguments}``.

        Plain data (JSON- and TOML-safe) unless the schedule holds a Python
        callable (``Lambda``, ``Multiplicative``, ``Cyclic`` with ``scale_fn``,
        or a ``Join``/``Chained``/``Warmup`` around one): the callable is then
        kept as it is, so that :func:`from_config` still rebuilds the schedule
        in memory. :meth:`to_config` is the checked form for writing to a file.
        """
        return {"name": self.name, **self._kwargs()}

    def to_config(self) -> dict[str, Any]:
        """:meth:`config`, checked to be plain data that TOML and JSON can hold.

        Raises ``TypeError`` naming the argument when the schedule holds a
        Python callable, which no configuration file can carry.

        >>> Lambda(0.1, lambda n: 0.9**n).to_config()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: lr_lambda must be plain data to be written to a TOML or JSON config, ...
        """
        return _plain_config(self.config(), "")

    def _reads(self) -> frozenset[str]:
        """The counters (``"step"``, ``"epoch"``) the value depends on."""
        return frozenset({self.unit})

    def _reported(self) -> list[Schedule]:
        """The schedules inside this one (itself included) that take ``report`` calls."""
        return [self] if callable(getattr(self, "report", None)) else []

    def _resumed(self, previous: float, step: int, epoch: int) -> float:
        """The value at these (piece-local) counters when started from ``previous``.

        Only called when :attr:`resumes` is true; a schedule that resumes
        overrides it.
        """
        raise TypeError(f"{type(self).__name__} does not resume from a previous rate")

    def _resumed_repr(self, previous: str) -> str:
        """The repr of :meth:`_resumed`: the formula with ``previous`` (text such as
        ``lr(9)``) where the schedule's own start was. Only for a schedule that resumes."""
        raise TypeError(f"{type(self).__name__} does not resume from a previous rate")

    def state_dict(self) -> dict[str, Any]:
        """The mutable state (``{}`` for a pure function of the counters)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if not isinstance(state, Mapping):
            fail("state", "a dict", state, kind=TypeError)
        if state:
            fail("state", f"{{}} ({type(self).__name__} has no mutable state)", state)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.config() == other.config()
            and self.state_dict() == other.state_dict()
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


class _Counted(Schedule):
    """A schedule whose formula reads ``n = step + first`` or ``n = epoch + first``."""

    first: int

    def _n(self, step: int, epoch: int) -> int:
        return (epoch if self.unit == "epoch" else step) + self.first


# --------------------------------------------------------------------------- schedules


class Constant(Schedule):
    """The same learning rate at every step: ``lr``.

    Args:
        lr: the learning rate, > 0.

    >>> Constant(0.1)(7)
    0.1
    """

    name = "constant"

    def __init__(self, lr: float) -> None:
        self.lr = _check_lr("lr", lr)
        self.unit = "step"

    def _value(self, step: int, epoch: int) -> float:
        return self.lr

    def _reads(self) -> frozenset[str]:
        return frozenset()

    def _kwargs(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def __repr__(self) -> str:
        return f"Constant(lr = {_num(self.lr)})"


class InverseTimeDecay(_Counted):
    """Inverse-time decay (seed 004's ``α = α0 / (1 + decay_rate·epoch_num)``).

    ::

        lr = lr0 / (1 + decay_rate · n / decay_steps)      (⌊n / decay_steps⌋ if staircase)
        n  = epoch + first   (per="epoch")   or   step + first   (per="step")

    Args:
        lr0: initial learning rate, > 0.
        decay_rate: >= 0 (0 keeps ``lr0``).
        per: ``"epoch"`` (default) or ``"step"``: the counter the formula uses.
        decay_steps: counter units per ``decay_rate`` of decay, integer >= 1 (default 1).
        staircase: decay in whole ``decay_steps`` jumps (default False).
        first: 0 (default, ``lr0`` on the first epoch) or 1 (seed 004's count).

    >>> s = InverseTimeDecay(0.2, 1.0, first=1)
    >>> [round(s(0, epoch=e), 4) for e in range(4)]
    [0.1, 0.0667, 0.05, 0.04]
    """

    name = "inverse_time"

    def __init__(
        self,
        lr0: float,
        decay_rate: float,
        *,
        per: str = "epoch",
        decay_steps: int = 1,
        staircase: bool = False,
        first: int = 0,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.decay_rate = _check_nonneg("decay_rate", decay_rate)
        self.unit = _check_per(per)
        self.decay_steps = _check_count("decay_steps", decay_steps, 1)
        self.staircase = check_bool("staircase", staircase)
        self.first = _check_first(first)

    def _value(self, step: int, epoch: int) -> float:
        if self.decay_rate == 0.0:
            return self.lr0  # no decay, at any step (0·inf would be NaN)
        n = self._n(step, epoch)
        x = _real(n // self.decay_steps) if self.staircase else _quotient(n, self.decay_steps)
        return self.lr0 / (1.0 + self.decay_rate * x)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "lr0": self.lr0,
            "decay_rate": self.decay_rate,
            "per": self.unit,
            "decay_steps": self.decay_steps,
            "staircase": self.staircase,
            "first": self.first,
        }

    def __repr__(self) -> str:
        x = _ratio("n", self.decay_steps, self.staircase)
        return (
            f"InverseTimeDecay(lr = {_num(self.lr0)} / (1 + {_num(self.decay_rate)}·{x}), "
            f"{_counter(self.unit, self.first)})"
        )


def _ratio(n: str, d: int, staircase: bool) -> str:
    if d == 1:
        return n
    return f"⌊{n}/{d}⌋" if staircase else f"{n}/{d}"


class ExponentialDecay(_Counted):
    """Exponential decay (seed 004's ``α = 0.95^epoch_num · α0``).

    ::

        lr = lr0 · rate^(n / decay_steps)                  (⌊n / decay_steps⌋ if staircase)
        n  = epoch + first   (per="epoch")   or   step + first   (per="step")

    Args:
        lr0: initial learning rate, > 0.
        rate: decay factor per ``decay_steps``, in (0, 1] (seed 004: 0.95).
        per: ``"epoch"`` (default) or ``"step"``.
        decay_steps: integer >= 1 (default 1).
        staircase: decay in whole ``decay_steps`` jumps (default False).
        first: 0 (default) or 1.

    >>> s = ExponentialDecay(0.1, 0.95)
    >>> [round(s(0, epoch=e), 6) for e in range(3)]
    [0.1, 0.095, 0.09025]
    """

    name = "exponential"

    def __init__(
        self,
        lr0: float,
        rate: float,
        *,
        per: str = "epoch",
        decay_steps: int = 1,
        staircase: bool = False,
        first: int = 0,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.rate = check_real("rate", rate, low=0, high=1, low_open=True)
        self.unit = _check_per(per)
        self.decay_steps = _check_count("decay_steps", decay_steps, 1)
        self.staircase = check_bool("staircase", staircase)
        self.first = _check_first(first)

    def _value(self, step: int, epoch: int) -> float:
        n = self._n(step, epoch)
        x = _real(n // self.decay_steps) if self.staircase else _quotient(n, self.decay_steps)
        return self.lr0 * self.rate**x

    def _kwargs(self) -> dict[str, Any]:
        return {
            "lr0": self.lr0,
            "rate": self.rate,
            "per": self.unit,
            "decay_steps": self.decay_steps,
            "staircase": self.staircase,
            "first": self.first,
        }

    def __repr__(self) -> str:
        x = _ratio("n", self.decay_steps, self.staircase)
        if self.decay_steps != 1 and not self.staircase:
            x = f"({x})"
        return (
            f"ExponentialDecay(lr = {_num(self.lr0)}·{_num(self.rate)}^{x}, "
            f"{_counter(self.unit, self.first)})"
        )


class _InverseSqrt(_Counted):
    """``lr = k / √n · lr0`` with ``n = counter + 1``; the unit is fixed by the subclass."""

    def __init__(self, lr0: float, k: float = 1.0, first: int = 1) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.k = check_real("k", k, low=0, low_open=True)
        if not math.isfinite(self.k * self.lr0):  # the rate at n = 1, its largest
            fail("k", f"such that the first rate k·lr0 is finite (lr0 = {self.lr0!r})", k)
        self.first = _check_first_one(first)

    def _value(self, step: int, epoch: int) -> float:
        return self.k / math.sqrt(_real(self._n(step, epoch))) * self.lr0

    def _kwargs(self) -> dict[str, Any]:
        return {"lr0": self.lr0, "k": self.k, "first": self.first}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(lr = {_num(self.k)}/√n·{_num(self.lr0)}, "
            f"{_counter(self.unit, self.first)})"
        )


class InverseSqrtEpochDecay(_InverseSqrt):
    """Inverse-square-root decay in epochs (seed 004's ``α = k/√epoch_num · α0``).

    ::

        lr = k / √n · lr0,     n = epoch + 1 = 1, 2, 3, …

    Args:
        lr0: initial learning rate, > 0.
        k: constant, > 0 (default 1.0).
        first: must be 1 (the default): ``1/√0`` is undefined.

    >>> s = InverseSqrtEpochDecay(0.2)
    >>> [round(s(0, epoch=e), 4) for e in range(4)]
    [0.2, 0.1414, 0.1155, 0.1]
    """

    name = "inverse_sqrt_epoch"

    def __init__(self, lr0: float, k: float = 1.0, first: int = 1) -> None:
        super().__init__(lr0, k, first)
        self.unit = "epoch"


class InverseSqrtStepDecay(_InverseSqrt):
    """Inverse-square-root decay in mini-batch steps (seed 004's ``α = k/√t · α0``).

    ::

        lr = k / √t · lr0,     t = step + 1 = 1, 2, 3, …

    Args:
        lr0: initial learning rate, > 0.
        k: constant, > 0 (default 1.0).
        first: must be 1 (the default): ``1/√0`` is undefined.

    >>> s = InverseSqrtStepDecay(0.2, k=2.0)
    >>> [round(s(t), 4) for t in range(3)]
    [0.4, 0.2828, 0.2309]
    """

    name = "inverse_sqrt_step"

    def __init__(self, lr0: float, k: float = 1.0, first: int = 1) -> None:
        super().__init__(lr0, k, first)
        self.unit = "step"


class StepDecay(_Counted):
    """Discrete staircase: multiply by ``factor`` every ``every`` epochs (or steps).

    Seed 004: "halve the learning rate every so often".

    ::

        lr = lr0 · factor^⌊n / every⌋,     n = epoch + first  (or step + first)

    Args:
        lr0: initial learning rate, > 0.
        every: counter units between drops, integer >= 1 (required, keyword).
        factor: multiplier at each drop, in (0, 1) (default 0.5: halve).
        per: ``"epoch"`` (default) or ``"step"``.
        first: 0 (default) or 1.

    >>> s = StepDecay(0.1, every=2)
    >>> [s(0, epoch=e) for e in range(5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    name = "step"

    def __init__(
        self,
        lr0: float,
        *,
        every: int,
        factor: float = 0.5,
        per: str = "epoch",
        first: int = 0,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.every = _check_count("every", every, 1)
        self.factor = check_real("factor", factor, low=0, high=1, low_open=True, high_open=True)
        self.unit = _check_per(per)
        self.first = _check_first(first)

    def _value(self, step: int, epoch: int) -> float:
        return self.lr0 * self.factor ** _real(self._n(step, epoch) // self.every)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "lr0": self.lr0,
            "every": self.every,
            "factor": self.factor,
            "per": self.unit,
            "first": self.first,
        }

    def __repr__(self) -> str:
        return (
            f"StepDecay(lr = {_num(self.lr0)}·{_num(self.factor)}^⌊n/{self.every}⌋, "
            f"{_counter(self.unit, self.first)})"
        )


class PiecewiseConstant(_Counted):
    """Constant pieces: ``values[i]`` while ``n < boundaries[i]``, then ``values[-1]``.

    ::

        lr = values[0]   for            n < boundaries[0]
             values[i]   for boundaries[i-1] <= n < boundaries[i]
             values[-1]  for boundaries[-1] <= n

    The new value starts *at* the boundary, as in torch's ``MultiStepLR`` and
    optax's ``piecewise_constant_schedule``. With ``inclusive=True`` the old
    value holds *through* the boundary, as in Keras's ``PiecewiseConstantDecay``
    (``values[i]`` while ``n <= boundaries[i]``): every switch comes one step
    later.

    Args:
        boundaries: strictly increasing integers >= 1 (>= 0 with ``inclusive``).
        values: positive learning rates, one more than ``boundaries``.
        per: ``"step"`` (default) or ``"epoch"``.
        first: 0 (default) or 1.
        inclusive: Keras's convention (default False: torch's and optax's).

    >>> s = PiecewiseConstant([2, 4], [0.1, 0.01, 0.001])
    >>> [s(t) for t in range(5)]
    [0.1, 0.1, 0.01, 0.01, 0.001]
    >>> s = PiecewiseConstant([2, 4], [0.1, 0.01, 0.001], inclusive=True)
    >>> [s(t) for t in range(6)]
    [0.1, 0.1, 0.1, 0.01, 0.01, 0.001]
    """

    name = "piecewise"

    def __init__(
        self,
        boundaries: Sequence[int],
        values: Sequence[float],
        *,
        per: str = "step",
        first: int = 0,
        inclusive: bool = False,
    ) -> None:
        self.inclusive = check_bool("inclusive", inclusive)
        low = 0 if self.inclusive else 1
        self.boundaries = [
            _check_count(f"boundaries[{i}]", b, low)
            for i, b in enumerate(_check_list("boundaries", boundaries))
        ]
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:], strict=False)):
            fail("boundaries", "strictly increasing", boundaries)
        rates = _check_list("values", values)
        if len(rates) != len(self.boundaries) + 1:
            fail(
                "values",
                f"a list of {len(self.boundaries) + 1} learning rates (one more than boundaries)",
                values,
            )
        self.values = [_check_lr(f"values[{i}]", v) for i, v in enumerate(rates)]
        self.unit = _check_per(per)
        self.first = _check_first(first)

    def _value(self, step: int, epoch: int) -> float:
        n = self._n(step, epoch) - (1 if self.inclusive else 0)  # n <= b  is  n − 1 < b
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if n < boundary:
                return value
        return self.values[-1]

    def _kwargs(self) -> dict[str, Any]:
        return {
            "boundaries": list(self.boundaries),
            "values": list(self.values),
            "per": self.unit,
            "first": self.first,
            "inclusive": self.inclusive,
        }

    def __repr__(self) -> str:
        below = "<=" if self.inclusive else "<"
        pieces = [
            f"{_num(v)} if n {below} {b}"
            for b, v in zip(self.boundaries, self.values, strict=False)
        ]
        pieces.append(f"{'else ' if self.boundaries else ''}{_num(self.values[-1])}")
        return f"PiecewiseConstant(lr = {', '.join(pieces)}; {_counter(self.unit, self.first)})"


def _check_list(name: str, value: Any) -> list[Any]:
    if getattr(value, "ndim", None) == 1 and callable(getattr(value, "tolist", None)):
        value = value.tolist()  # a 1-D NumPy array, its items as Python numbers
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        fail(name, "a list", value, kind=TypeError)
    return list(value)


class PolynomialDecay(_Counted):
    """Polynomial decay from ``lr0`` to ``end_lr`` over ``decay_steps`` (Keras semantics).

    ::

        lr = (lr0 − end_lr) · (1 − m / T)^power + end_lr
        m, T = min(n, decay_steps), decay_steps                      (cycle=False)
        m, T = n, decay_steps · max(1, ⌈n / decay_steps⌉)            (cycle=True)

    Without ``cycle`` the rate stays at ``end_lr`` after ``decay_steps``; with it,
    each time ``n`` passes a multiple of ``decay_steps`` the horizon is pushed
    to the next multiple, so the rate jumps up and decays again (more slowly).

    Args:
        lr0: initial learning rate, > 0.
        end_lr: final learning rate, >= 0.
        decay_steps: integer >= 1.
        power: exponent, > 0 (default 1.0: linear).
        per: ``"step"`` (default) or ``"epoch"``.
        cycle: restart as described above (default False).
        first: 0 (default) or 1.

    >>> s = PolynomialDecay(0.1, 0.0, 4)
    >>> [round(s(t), 6) for t in range(6)]
    [0.1, 0.075, 0.05, 0.025, 0.0, 0.0]
    """

    name = "polynomial"
    shape_rates = ("end_lr",)

    def __init__(
        self,
        lr0: float,
        end_lr: float,
        decay_steps: int,
        *,
        power: float = 1.0,
        per: str = "step",
        cycle: bool = False,
        first: int = 0,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.end_lr = _check_nonneg("end_lr", end_lr)
        self.decay_steps = _check_count("decay_steps", decay_steps, 1)
        self.power = check_real("power", power, low=0, low_open=True)
        self.unit = _check_per(per)
        self.cycle = check_bool("cycle", cycle)
        self.first = _check_first(first)

    def _value(self, step: int, epoch: int) -> float:
        n = self._n(step, epoch)
        horizon = self.decay_steps
        if self.cycle:
            horizon *= max(1, -(-n // self.decay_steps))  # integer ceil
        else:
            n = min(n, horizon)
        return (self.lr0 - self.end_lr) * (1.0 - n / horizon) ** self.power + self.end_lr

    def _kwargs(self) -> dict[str, Any]:
        return {
            "lr0": self.lr0,
            "end_lr": self.end_lr,
            "decay_steps": self.decay_steps,
            "power": self.power,
            "per": self.unit,
            "cycle": self.cycle,
            "first": self.first,
        }

    def __repr__(self) -> str:
        d = self.decay_steps
        if self.cycle:
            frac, extra = "n/T", f", T = {d}·max(1, ⌈n/{d}⌉)"
        else:
            frac, extra = f"min(n, {d})/{d}", ""
        return (
            f"PolynomialDecay(lr = ({_num(self.lr0)} − {_num(self.end_lr)})·(1 − {frac})"
            f"^{_num(self.power)} + {_num(self.end_lr)}{extra}, {_counter(self.unit, self.first)})"
        )


class CosineDecay(_Counted):
    """Cosine decay, optionally with warm restarts (SGDR).

    Without restarts (``T = decay_steps``)::

        lr = min_lr + (lr0 − min_lr) · (1 + cos(π · min(n, T) / T)) / 2

    and ``min_lr`` after ``T``. With ``restarts=True`` (Loshchilov & Hutter's
    SGDR) the periods are ``T_i = T · t_mult^i`` (i = 0, 1, …); period ``i``
    starts at ``S_i = T_0 + … + T_(i-1)`` and, with ``t = n − S_i``::

        lr = min_lr + (lr0 − min_lr) · m_mul^i · (1 + cos(π · t / T_i)) / 2

    so each restart's peak above ``min_lr`` is ``m_mul`` times the previous one
    (with ``min_lr=0`` the peaks are ``lr0·m_mul^i``). The period is found in
    constant time from the geometric series ``S_i = T·(t_mult^i − 1)/(t_mult − 1)``
    (see :meth:`period`), so a late step costs what an early one does.

    With ``periodic=True`` the cosine is not held at ``min_lr`` after ``T``
    but keeps going, back up to ``lr0`` at ``2T`` (period ``2T``)::

        lr = min_lr + (lr0 − min_lr) · (1 + cos(π · n / T)) / 2

    which is what torch's ``CosineAnnealingLR`` produces past ``T_max``: its
    recursive update follows this closed form (measured within 1e-13 over
    300 steps); optax and Keras hold the minimum, as the default does.

    Args:
        lr0: peak learning rate, > 0.
        decay_steps: first period ``T``, integer >= 1.
        min_lr: floor, in [0, lr0] (default 0.0).
        per: ``"step"`` (default) or ``"epoch"``.
        restarts: SGDR warm restarts (default False).
        t_mult: period growth, >= 1 (default 1.0; only with restarts).
        m_mul: peak decay per restart, in (0, 1] (default 1.0; only with restarts).
        first: 0 (default) or 1.
        periodic: keep following the cosine after ``T`` (torch's
            ``CosineAnnealingLR``; default False: hold ``min_lr``). Not with restarts.

    References:
        I. Loshchilov, F. Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017.

    >>> s = CosineDecay(1.0, 4, restarts=True, t_mult=2.0)
    >>> [round(s(t), 4) for t in range(7)]
    [1.0, 0.8536, 0.5, 0.1464, 1.0, 0.9619, 0.8536]
    """

    name = "cosine"
    shape_rates = ("min_lr",)

    def __init__(
        self,
        lr0: float,
        decay_steps: int,
        *,
        min_lr: float = 0.0,
        per: str = "step",
        restarts: bool = False,
        t_mult: float = 1.0,
        m_mul: float = 1.0,
        first: int = 0,
        periodic: bool = False,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.decay_steps = _check_count("decay_steps", decay_steps, 1)
        self.min_lr = _check_nonneg("min_lr", min_lr)
        if self.min_lr > self.lr0:
            fail("min_lr", f"<= lr0 = {self.lr0!r}", min_lr)
        self.unit = _check_per(per)
        self.restarts = check_bool("restarts", restarts)
        self.t_mult = check_real("t_mult", t_mult, low=1)
        self.m_mul = check_real("m_mul", m_mul, low=0, high=1, low_open=True)
        if not self.restarts:
            if self.t_mult != 1.0:
                fail("t_mult", f"1.0 when restarts={describe(False)}", t_mult)
            if self.m_mul != 1.0:
                fail("m_mul", f"1.0 when restarts={describe(False)}", m_mul)
        self.first = _check_first(first)
        self.periodic = check_bool("periodic", periodic)
        if self.periodic and self.restarts:
            fail("periodic", f"{describe(False)} when restarts={describe(True)}", periodic)

    def period(self, n: int) -> tuple[int, int | float, int | float]:
        """``(i, t, T_i)``: the period ``n`` falls in, the position in it, its length.

        With ``t_mult > 1`` the index comes from the closed form
        ``i = ⌊log(1 + n·(t_mult − 1)/T) / log(t_mult)⌋`` and is then moved by
        one while rounding leaves ``n`` outside ``[S_i, S_i + T_i)``. A period
        too long for a float (``T_i`` past about 1e300) is given in units of
        itself: ``t`` in ``[0, 1)`` and ``T_i = 1.0``.
        """
        return self._period(check_int("n", n, low=0))

    def _period(self, n: int) -> tuple[int, int | float, int | float]:
        length: int | float = self.decay_steps
        if not self.restarts:
            return 0, min(n, length), length
        if self.t_mult == 1.0:
            return n // self.decay_steps, n % self.decay_steps, length
        return _geometric_period(n, self.decay_steps, self.t_mult)

    def _value(self, step: int, epoch: int) -> float:
        if self.periodic:  # cos(π·n/T) has period 2T: reduce n exactly first
            n = self._n(step, epoch) % (2 * self.decay_steps)
            cosine = (1.0 + math.cos(math.pi * n / self.decay_steps)) / 2.0
            return self.min_lr + (self.lr0 - self.min_lr) * cosine
        i, t, length = self._period(self._n(step, epoch))
        cosine = (1.0 + math.cos(math.pi * t / length)) / 2.0
        return self.min_lr + (self.lr0 - self.min_lr) * self.m_mul ** _real(i) * cosine

    def _kwargs(self) -> dict[str, Any]:
        return {
            "lr0": self.lr0,
            "decay_steps": self.decay_steps,
            "min_lr": self.min_lr,
            "per": self.unit,
            "restarts": self.restarts,
            "t_mult": self.t_mult,
            "m_mul": self.m_mul,
            "first": self.first,
            "periodic": self.periodic,
        }

    def __repr__(self) -> str:
        lo, hi, d = _num(self.min_lr), _num(self.lr0), self.decay_steps
        count = _counter(self.unit, self.first)
        if self.periodic:
            return (
                f"CosineDecay(lr = {lo} + ({hi} − {lo})·(1 + cos(π·n/{d}))/2, "
                f"periodic: back up to {hi} at n = {2 * d}, {count})"
            )
        if not self.restarts:
            return f"CosineDecay(lr = {lo} + ({hi} − {lo})·(1 + cos(π·min(n, {d})/{d}))/2, {count})"
        return (
            f"CosineDecay(lr = {lo} + ({hi} − {lo})·{_num(self.m_mul)}^i·(1 + cos(π·t/T_i))/2, "
            f"T_i = {d}·{_num(self.t_mult)}^i, t = n − (T_0 + … + T_(i−1)), {count})"
        )


#: Periods whose start or length would pass e**700 (about 1e304) are placed
#: with logarithms instead of floats.
_LOG_FLOAT_LIMIT = 700.0
#: Below this ``t_mult − 1``, ``t_mult**i − 1`` loses digits; expm1 keeps them.
_SMALL_GROWTH = 1e-6


def _geometric_period(n: int, t0: int, r: float) -> tuple[int, float, float]:
    """``(i, t, T_i)`` for periods ``T_i = t0·r^i`` (``r > 1``) in constant time."""
    if n == 0:
        return 0, 0, t0
    c = r - 1.0
    log_r = math.log1p(c)
    # log(1 + n·c/t0), from logarithms so that no product overflows
    log_x = math.log(n) + math.log(c) - math.log(t0)
    i = int(_log1p_exp(log_x) // log_r)
    overhead = math.log(t0) + max(0.0, -math.log(c))  # log(S_(i+1)) <= i·log r + this
    if (i + 1) * log_r + overhead < _LOG_FLOAT_LIMIT:
        return _settle(n, i, lambda k: (t0 * _geometric_sum(r, c, k), t0 * r**k))
    # Beyond floats: t/T_i = n/T_i − (1 − r^−i)/c, each term from logarithms.
    for _ in range(3):
        fraction = math.exp(math.log(n) - math.log(t0) - i * log_r) + math.expm1(-i * log_r) / c
        if fraction < 0.0:
            i -= 1
        elif fraction >= 1.0:
            i += 1
        else:
            break
    return i, min(max(fraction, 0.0), math.nextafter(1.0, 0.0)), 1.0


def _settle(
    n: int, i: int, bounds: Callable[[int], tuple[float, float]]
) -> tuple[int, float, float]:
    """Move the estimate ``i`` until ``start <= n < start + length``; return ``(i, t, length)``.

    Rounding puts the estimate at most one off. It also makes the computed
    start of period ``i + 1`` differ from the computed end of period ``i`` in
    the last bits; an ``n`` in between sits on the boundary and is taken as
    the restart (``t = 0``), as summing the periods one by one took it.
    """
    start, length = bounds(i)
    for _ in range(4):
        if n >= start or i == 0:
            break
        i -= 1
        start, length = bounds(i)
    for _ in range(4):
        if n < start + length:
            break
        i += 1
        start, length = bounds(i)
    return i, max(n - start, 0.0), length


def _log1p_exp(y: float) -> float:
    """``log(1 + e^y)`` without overflow."""
    return y if y > 40.0 else math.log1p(math.exp(y))


def _geometric_sum(r: float, c: float, i: int) -> float:
    """``1 + r + … + r^(i−1) = (r^i − 1)/(r − 1)``, with ``c = r − 1``."""
    if c >= _SMALL_GROWTH:
        return (r**i - 1.0) / c
    return math.expm1(i * math.log1p(c)) / c


ANNEALS = ("cos", "linear")


def _anneal(kind: str, start: float, end: float, pct: float) -> float:
    """From ``start`` (``pct = 0``) to ``end`` (``pct = 1``), by a half cosine or a line."""
    if kind == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
    return (end - start) * pct + start


class OneCycle(Schedule):
    """The one-cycle policy (Smith): up from ``max_lr/div_factor`` to ``max_lr``, then down.

    With ``initial = max_lr / div_factor``, ``final = initial / final_div_factor``
    and ``T = total_steps``, the rate moves between these corners, each leg by
    ``anneal``: ``"cos"`` (a half cosine, ``end + (start − end)·(1 + cos(π·p))/2``)
    or ``"linear"`` (``start + (end − start)·p``), ``p`` the fraction of the leg
    done::

        form="torch" (torch's OneCycleLR), legs end at these steps n:
            two phases:    initial → max_lr at pct_start·T − 1,  → final at T − 1
            three phases:  initial → max_lr at pct_start·T − 1,  → initial at 2·pct_start·T − 2,
                           → final at T − 1
        form="optax" (optax's onecycle schedules), legs end at:
            two phases:    initial → max_lr at ⌊pct_start·T⌋,  → final at T
            three phases:  initial → max_lr at ⌊pct_start·T⌋,  → initial at ⌊pct_final·T⌋,
                           → final at T

    and the rate holds ``final`` after the last leg. torch's leg ends are
    fractional (``pct_start·T − 1``), reached one step earlier than optax's.
    optax's ``cosine_onecycle_schedule`` is ``form="optax"`` with
    ``anneal="cos"``; its ``linear_onecycle_schedule`` is ``form="optax",
    anneal="linear", three_phase=True`` (with its ``pct_final``). torch raises
    past ``total_steps``; here the rate stays at ``final``. Only the learning
    rate is scheduled: torch's momentum cycling (``cycle_momentum``) is not.

    Args:
        max_lr: the peak rate, > 0.
        total_steps: steps in the cycle ``T``, integer >= 1.
        pct_start: fraction of ``T`` spent rising, in [0, 1] (default 0.3;
            below 1 with ``form="optax"``; with ``form="torch"`` and
            ``three_phase``, legs in order: ``1/T <= pct_start <= (T + 1)/(2T)``).
        anneal: ``"cos"`` (default) or ``"linear"``.
        div_factor: ``initial = max_lr / div_factor``, > 0 (default 25.0).
        final_div_factor: ``final = initial / final_div_factor``, > 0 (default 1e4).
        three_phase: come back down to ``initial`` before the final leg (default False).
        pct_final: end of the second leg as a fraction of ``T``, in (pct_start, 1)
            (default 0.85; only with ``form="optax"`` and ``three_phase``).
        form: ``"torch"`` (default) or ``"optax"``: where the legs end.

    References:
        L. N. Smith, N. Topin, "Super-Convergence: Very Fast Training of Neural
        Networks Using Large Learning Rates", 2017.

    >>> s = OneCycle(1.0, 10, pct_start=0.5, anneal="linear", div_factor=5.0,
    ...              final_div_factor=2.0)
    >>> [round(s(t), 4) for t in range(11)]
    [0.2, 0.4, 0.6, 0.8, 1.0, 0.82, 0.64, 0.46, 0.28, 0.1, 0.1]
    """

    name = "onecycle"

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        *,
        pct_start: float = 0.3,
        anneal: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        pct_final: float = 0.85,
        form: str = "torch",
    ) -> None:
        self.max_lr = _check_lr("max_lr", max_lr)
        self.total_steps = _check_count("total_steps", total_steps, 1)
        self.pct_start = check_real("pct_start", pct_start, low=0, high=1) + 0.0
        self.anneal = check_choice("anneal", anneal, ANNEALS)
        self.div_factor = check_real("div_factor", div_factor, low=0, low_open=True)
        self.final_div_factor = check_real(
            "final_div_factor", final_div_factor, low=0, low_open=True
        )
        self.three_phase = check_bool("three_phase", three_phase)
        self.pct_final = check_real("pct_final", pct_final, low=0, high=1) + 0.0
        self.form = check_choice("form", form, ("torch", "optax"))
        self.unit = "step"
        big_t = self.total_steps
        if self.form == "optax" and self.three_phase:
            if not int(self.pct_start * big_t) < int(self.pct_final * big_t) < big_t:
                fail(
                    "pct_final",
                    f"such that ⌊pct_start·T⌋ < ⌊pct_final·T⌋ < T = {big_t} "
                    f"(pct_start = {self.pct_start!r})",
                    pct_final,
                )
        elif self.pct_final != 0.85:
            fail(
                "pct_final",
                f"0.85 (unused) unless form='optax' and three_phase={describe(True)}",
                pct_final,
            )
        if self.form == "optax" and not int(self.pct_start * big_t) < big_t:
            fail("pct_start", "in [0, 1) with form='optax'", pct_start)
        # the bounds as the message states them; _build_legs keeps an ulp of rounding in order
        low, high = 1 / big_t, (big_t + 1) / (2 * big_t)
        if self.form == "torch" and self.three_phase and not low <= self.pct_start <= high:
            # torch runs such legs out of order, and the rate never reaches final
            fail(
                "pct_start",
                "such that the legs end in order with form='torch' and three_phase=True, "
                f"pct_start·T − 1 <= 2·pct_start·T − 2 <= T − 1, i.e. 1/T <= pct_start <= "
                f"(T + 1)/(2T) = {high!r} for T = {big_t}",
                pct_start,
            )
        self._legs = self._checked_legs(div_factor, final_div_factor)

    def _checked_legs(self, div_factor: Any, final_div_factor: Any) -> list:
        """:meth:`_build_legs`, or ``ValueError`` naming the factor that makes a corner
        rate leave the float range (``max_lr = 1, div_factor = 1e-320``: inf)."""
        if not math.isfinite(self.max_lr / self.div_factor):
            fail(
                "div_factor",
                f"such that the first rate max_lr/div_factor is finite (max_lr = {self.max_lr!r})",
                div_factor,
            )
        legs = self._build_legs()
        if not all(math.isfinite(rate) for _, a, b in legs for rate in (a, b)):
            fail(
                "final_div_factor",
                "such that the final rate max_lr/(div_factor·final_div_factor) is finite "
                f"(max_lr = {self.max_lr!r}, div_factor = {self.div_factor!r})",
                final_div_factor,
            )
        return legs

    def _build_legs(self) -> list[tuple[float, float, float]]:
        """``(end, start_lr, end_lr)`` per leg; each leg starts where the previous ended."""
        initial = self.max_lr / self.div_factor
        big_t, pct = self.total_steps, self.pct_start
        if self.form == "torch":
            final = initial / self.final_div_factor
            if self.three_phase:
                # pct_start in [1/T, (T + 1)/(2T)] puts the ends in order up to an ulp of
                # rounding (T = 49, pct_start = 1/49: pct_start·T = 1 − 2⁻⁵³): clamp that ulp
                peak = float(pct * big_t) - 1
                back = min(max(float(2 * pct * big_t) - 2, peak), float(big_t - 1))
                return [
                    (peak, initial, self.max_lr),
                    (back, self.max_lr, initial),
                    (float(big_t - 1), initial, final),
                ]
            return [
                (float(pct * big_t) - 1, initial, self.max_lr),
                (float(big_t - 1), self.max_lr, final),
            ]
        # optax: corner values as a running product of scales, legs of >= 1 step
        if self.three_phase:
            ends = [int(pct * big_t), int(self.pct_final * big_t), big_t]
            scales = [self.div_factor, 1.0 / self.div_factor, 1.0 / self.final_div_factor]
        else:
            ends = [int(pct * big_t), big_t]
            both = self.div_factor * self.final_div_factor  # 0.0 if it underflows
            scales = [self.div_factor, 1.0 / both if both else math.inf]
        corners = [initial]
        for scale in scales:
            corners.append(corners[-1] * scale)
        return [(float(e), a, b) for e, a, b in zip(ends, corners[:-1], corners[1:], strict=True)]

    def _value(self, step: int, epoch: int) -> float:
        legs, start = self._legs, 0.0
        if self.form == "torch":  # the leg with n <= its end (the last one from T − 1 on)
            n = min(step, self.total_steps - 1)
            i = next(i for i, leg in enumerate(legs) if n <= leg[0] or i == len(legs) - 1)
            start = legs[i - 1][0] if i else 0.0
            end, a, b = legs[i]
            # a leg of no length (pct_start·T = 1) has arrived: torch divides by 0 there
            pct = (n - start) / (end - start) if end != start else 1.0
            return _anneal(self.anneal, a, b, pct)
        for end, a, b in legs:  # optax: the leg with start <= n < end, of >= 1 step
            if step < end:
                return _anneal(self.anneal, a, b, (step - start) / max(end - start, 1.0))
            start = end
        return legs[-1][2]

    def _kwargs(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal": self.anneal,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
            "pct_final": self.pct_final,
            "form": self.form,
        }

    def __repr__(self) -> str:
        legs = ", ".join(f"→ {_num(b)} at n = {_num(end)}" for end, _, b in self._legs)
        return (
            f"OneCycle(lr = {_num(self._legs[0][1])} {legs}, then {_num(self._legs[-1][2])}; "
            f"{self.anneal} legs, {self.form} phases, n = step = 0, 1, 2, …)"
        )


CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


class Cyclic(Schedule):
    """Cyclical learning rates (Smith), with the semantics of torch's ``CyclicLR``.

    A triangle between ``base_lr`` and ``max_lr``: ``step_size_up`` steps up,
    ``step_size_down`` down, its height scaled by ``scale(x)``::

        cycle = ⌊n / (up + down)⌋ + 1,   r = n mod (up + down)
        h     = r / up                 if r <= up   (rising)
                (up + down − r) / down otherwise     (falling)
        lr    = base_lr + (max_lr − base_lr) · h · scale(x)

    with ``n = step`` and, by ``mode``::

        triangular:   scale = 1
        triangular2:  scale = 1 / 2^(cycle − 1)      (x = cycle)
        exp_range:    scale = gamma^n                (x = n, "iterations")

    A ``scale_fn`` replaces the mode's: ``scale_fn(cycle)`` with
    ``scale_mode="cycle"`` (default), ``scale_fn(n)`` with ``"iterations"``.
    A callable cannot be written to a TOML or JSON config (:meth:`to_config`
    says so). Only the learning rate is scheduled: torch's momentum cycling
    (``cycle_momentum``, ``base_momentum``, ``max_momentum``) is not.

    Args:
        base_lr: the low end, >= 0.
        max_lr: the high end, > 0 and >= ``base_lr``.
        step_size_up: steps rising, integer >= 1 (default 2000).
        step_size_down: steps falling, integer >= 0 (default: ``step_size_up``).
        mode: ``"triangular"`` (default), ``"triangular2"`` or ``"exp_range"``.
        gamma: ``exp_range``'s factor per step, in (0, 1] (default 1.0; only
            with ``exp_range``).
        scale_fn: a callable ``x -> scale >= 0`` replacing the mode's (default None).
        scale_mode: ``"cycle"`` or ``"iterations"``: what ``scale_fn`` receives
            (default ``"cycle"``; the mode fixes it when there is no ``scale_fn``).

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.

    >>> s = Cyclic(0.1, 0.5, 2, mode="triangular2")
    >>> [round(s(t), 4) for t in range(9)]
    [0.1, 0.3, 0.5, 0.3, 0.1, 0.2, 0.3, 0.2, 0.1]
    """

    name = "cyclic"
    callables = ("scale_fn",)

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        *,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[int], float] | None = None,
        scale_mode: str | None = None,
    ) -> None:
        self.base_lr = _check_nonneg("base_lr", base_lr)
        self.max_lr = _check_lr("max_lr", max_lr)
        if self.max_lr < self.base_lr:
            fail("max_lr", f">= base_lr = {self.base_lr!r}", max_lr)
        self.step_size_up = _check_count("step_size_up", step_size_up, 1)
        self.step_size_down = (
            self.step_size_up
            if step_size_down is None
            else _check_count("step_size_down", step_size_down, 0)
        )
        self.mode = check_choice("mode", mode, CYCLIC_MODES)
        self.gamma = check_real("gamma", gamma, low=0, high=1, low_open=True)
        if self.mode != "exp_range" and self.gamma != 1.0:
            fail("gamma", "1.0 unless mode='exp_range'", gamma)
        self.scale_fn = None
        if scale_fn is not None:
            self.scale_fn = _check_callable(
                "scale_fn", scale_fn, "None or a callable x -> scale (a real number >= 0)"
            )
            if self.mode != "triangular":
                fail("mode", "'triangular' (the default) when scale_fn replaces it", mode)
            self.scale_mode = check_choice(
                "scale_mode", "cycle" if scale_mode is None else scale_mode, ("cycle", "iterations")
            )
        else:
            fixed = "iterations" if self.mode == "exp_range" else "cycle"
            if scale_mode is not None and scale_mode != fixed:
                fail("scale_mode", f"{fixed!r} with mode={self.mode!r} and no scale_fn", scale_mode)
            self.scale_mode = fixed
        self.unit = "step"

    def _scale(self, cycle: int, n: int) -> float:
        if self.scale_fn is not None:
            x = cycle if self.scale_mode == "cycle" else n
            return check_real(f"scale_fn({x})", self.scale_fn(x), low=0)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":  # 2^−(cycle − 1), 0 once that underflows
            return 0.5 ** (cycle - 1) if cycle <= 1100 else 0.0
        return self.gamma ** _real(n)

    def _value(self, step: int, epoch: int) -> float:
        up, down = self.step_size_up, self.step_size_down
        cycle, r = divmod(step, up + down)
        height = r / up if r <= up else (up + down - r) / down
        return self.base_lr + (self.max_lr - self.base_lr) * height * self._scale(cycle + 1, step)

    def _kwargs(self) -> dict[str, Any]:
        kwargs = {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
            "scale_mode": self.scale_mode,
        }
        if self.scale_fn is not None:
            kwargs["scale_fn"] = self.scale_fn
        return kwargs

    def __repr__(self) -> str:
        up, down = self.step_size_up, self.step_size_down
        if self.scale_fn is not None:
            x = "cycle" if self.scale_mode == "cycle" else "n"
            scale = f"{_callable_name(self.scale_fn)}({x})"
        else:
            scale = {
                "triangular": "1",
                "triangular2": "1/2^(cycle − 1)",
                "exp_range": f"{_num(self.gamma)}^n",
            }[self.mode]
        return (
            f"Cyclic(lr = {_num(self.base_lr)} + ({_num(self.max_lr)} − {_num(self.base_lr)})"
            f"·h·{scale}, h rising over {up} steps and falling over {down}, "
            f"cycle = ⌊n/{up + down}⌋ + 1, n = step = 0, 1, 2, …)"
        )


class SWALR(_Counted):
    """Anneal to a constant ``swa_lr`` (torch's ``SWALR``, for stochastic weight averaging).

    ::

        t  = min(n / anneal_epochs, 1)          (1 when anneal_epochs = 0)
        α  = (1 − cos(π·t)) / 2                 (anneal="cos")   or   t   (anneal="linear")
        lr = swa_lr·α + lr0·(1 − α)

    so ``lr0`` at ``n = 0`` and ``swa_lr`` from ``n = anneal_epochs`` on.
    torch's ``SWALR`` starts from whatever rate the optimizer has when it is
    first stepped; here that rate is ``lr0``. Inside a ``Join(form="torch")``
    it is taken, as in torch's ``SequentialLR``, from the rate the previous
    piece reached (the usual ``swa_start`` switch).

    Args:
        lr0: the rate annealed from, > 0.
        swa_lr: the rate annealed to, > 0.
        anneal_epochs: counter units of annealing, integer >= 0 (default 10).
        anneal: ``"cos"`` (default) or ``"linear"``.
        per: ``"epoch"`` (default) or ``"step"``.
        first: 0 (default) or 1.

    References:
        P. Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
        Generalization", UAI 2018.

    >>> s = SWALR(0.1, 0.02, 4, anneal="linear")
    >>> [round(s(0, epoch=e), 4) for e in range(6)]
    [0.1, 0.08, 0.06, 0.04, 0.02, 0.02]
    """

    name = "swa"
    shape_rates = ("swa_lr",)
    resumes = True

    def __init__(
        self,
        lr0: float,
        swa_lr: float,
        anneal_epochs: int = 10,
        *,
        anneal: str = "cos",
        per: str = "epoch",
        first: int = 0,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.swa_lr = _check_lr("swa_lr", swa_lr)
        self.anneal_epochs = _check_count("anneal_epochs", anneal_epochs, 0)
        self.anneal = check_choice("anneal", anneal, ANNEALS)
        self.unit = _check_per(per)
        self.first = _check_first(first)

    def _from(self, start: float, n: int) -> float:
        t = 1.0 if self.anneal_epochs == 0 else min(1.0, _quotient(n, self.anneal_epochs))
        alpha = (1.0 - math.cos(math.pi * t)) / 2.0 if self.anneal == "cos" else t
        return self.swa_lr * alpha + start * (1.0 - alpha)

    def _value(self, step: int, epoch: int) -> float:
        return self._from(self.lr0, self._n(step, epoch))

    def _resumed(self, previous: float, step: int, epoch: int) -> float:
        return self._from(previous, self._n(step, epoch))

    def _kwargs(self) -> dict[str, Any]:
        return {
            "lr0": self.lr0,
            "swa_lr": self.swa_lr,
            "anneal_epochs": self.anneal_epochs,
            "anneal": self.anneal,
            "per": self.unit,
            "first": self.first,
        }

    def _resumed_repr(self, previous: str) -> str:
        t = f"min(n/{self.anneal_epochs}, 1)" if self.anneal_epochs else "1"
        alpha = f"(1 − cos(π·{t}))/2" if self.anneal == "cos" else t
        return (
            f"SWALR(lr = {_num(self.swa_lr)}·α + {previous}·(1 − α), α = {alpha}, "
            f"{_counter(self.unit, self.first)})"
        )

    def __repr__(self) -> str:
        return self._resumed_repr(_num(self.lr0))


_LAMBDA_EXPECTED = "a callable n -> factor (a real number >= 0)"


class Lambda(_Counted):
    """``lr0`` times any function of the counter (torch's ``LambdaLR``).

    ::

        lr = lr0 · lr_lambda(n),     n = epoch + first  (or step + first)

    ``lr_lambda`` is any Python callable returning a real number >= 0 (checked
    at each call). It lives in memory only: :meth:`config` keeps the callable
    itself, :meth:`to_config` (for TOML or JSON) raises ``TypeError``, and an
    experiment file cannot name it.

    Args:
        lr0: base learning rate, > 0.
        lr_lambda: the factor as a function of ``n``.
        per: ``"epoch"`` (default, torch's ``last_epoch``) or ``"step"``.
        first: 0 (default, as torch) or 1.

    >>> s = Lambda(0.5, lambda n: 1 / (n + 1), per="step")
    >>> [s(t) for t in range(4)]
    [0.5, 0.25, 0.16666666666666666, 0.125]
    """

    name = "lambda"
    callables = ("lr_lambda",)

    def __init__(
        self,
        lr0: float,
        lr_lambda: Callable[[int], float],
        *,
        per: str = "epoch",
        first: int = 0,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.lr_lambda = _check_callable("lr_lambda", lr_lambda, _LAMBDA_EXPECTED)
        self.unit = _check_per(per)
        self.first = _check_first(first)

    def _value(self, step: int, epoch: int) -> float:
        n = self._n(step, epoch)
        return self.lr0 * _check_nonneg(f"lr_lambda({n})", self.lr_lambda(n))

    def _kwargs(self) -> dict[str, Any]:
        return {"lr0": self.lr0, "lr_lambda": self.lr_lambda, "per": self.unit, "first": self.first}

    def __repr__(self) -> str:
        return (
            f"Lambda(lr = {_num(self.lr0)}·λ(n), λ = {_callable_name(self.lr_lambda)}, "
            f"{_counter(self.unit, self.first)})"
        )


#: How many factors a Multiplicative schedule multiplies in one call; a jump
#: further (step 10**18) is refused instead of looping for ever.
MULTIPLICATIVE_MAX_CALLS = 10**6


class Multiplicative(_Counted):
    """Multiply the rate by ``lr_lambda(k)`` at each count (torch's ``MultiplicativeLR``).

    ::

        lr = lr0 · lr_lambda(1) · lr_lambda(2) · … · lr_lambda(n),   n = epoch + first

    (``lr0`` at ``n = 0``). The running product is kept for the last ``n``
    asked, so counting up costs one call of ``lr_lambda`` per step; asking for
    an earlier ``n`` starts the product again. ``lr_lambda`` must be a pure
    function returning a real number >= 0. Like :class:`Lambda`, it cannot be
    written to a TOML or JSON config.

    In a ``Chained`` product this is a factor, as in torch's
    ``ChainedScheduler``. In a ``Join(form="torch")`` it starts, as in
    torch's ``SequentialLR``, from the rate the previous piece reached and
    multiplies it by ``lr_lambda(0)`` at the boundary already.

    Args:
        lr0: initial learning rate, > 0.
        lr_lambda: the factor applied at count ``k``.
        per: ``"epoch"`` (default) or ``"step"``.
        first: 0 (default, as torch) or 1.

    >>> s = Multiplicative(1.0, lambda k: 0.5, per="step")
    >>> [s(t) for t in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    name = "multiplicative"
    callables = ("lr_lambda",)
    resumes = True

    def __init__(
        self,
        lr0: float,
        lr_lambda: Callable[[int], float],
        *,
        per: str = "epoch",
        first: int = 0,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.lr_lambda = _check_callable("lr_lambda", lr_lambda, _LAMBDA_EXPECTED)
        self.unit = _check_per(per)
        self.first = _check_first(first)
        self._products: dict[int, tuple[int, float]] = {}  # start -> (last k, product)

    def _product(self, start: int, stop: int) -> float:
        """``lr_lambda(start)·…·lr_lambda(stop)`` (1.0 if ``stop < start``)."""
        k, product = self._products.get(start, (start - 1, 1.0))
        if stop < k:
            k, product = start - 1, 1.0
        calls = 0
        while k < stop and product != 0.0:  # a zero factor makes every later rate 0
            if calls == MULTIPLICATIVE_MAX_CALLS:
                raise ValueError(
                    f"multiplicative schedule: the rate at n = {stop} is the product of "
                    f"{stop - k:,} more calls of lr_lambda (at most "
                    f"{MULTIPLICATIVE_MAX_CALLS:,} at once); step through the run in order, "
                    "or use a closed-form schedule"
                )
            calls += 1
            k += 1
            product *= _check_nonneg(f"lr_lambda({k})", self.lr_lambda(k))
        self._products[start] = (stop if product == 0.0 else k, product)
        return product

    def _value(self, step: int, epoch: int) -> float:
        return self.lr0 * self._product(1, self._n(step, epoch))

    def _resumed(self, previous: float, step: int, epoch: int) -> float:
        return previous * self._product(self.first, self._n(step, epoch))

    def _kwargs(self) -> dict[str, Any]:
        return {"lr0": self.lr0, "lr_lambda": self.lr_lambda, "per": self.unit, "first": self.first}

    def _resumed_repr(self, previous: str) -> str:
        return (
            f"Multiplicative(lr = {previous}·λ({self.first})·…·λ(n), "
            f"λ = {_callable_name(self.lr_lambda)}, {_counter(self.unit, self.first)})"
        )

    def __repr__(self) -> str:
        return (
            f"Multiplicative(lr = {_num(self.lr0)}·λ(1)·…·λ(n), "
            f"λ = {_callable_name(self.lr_lambda)}, {_counter(self.unit, self.first)})"
        )


class Warmup(Schedule):
    """Linear warmup, then another schedule shifted by ``warmup_steps``.

    ::

        lr = start_lr + (s(0, epoch) − start_lr) · step / W     for step < W
        lr = s(step − W, epoch)                                  for step >= W

    where ``s`` is the wrapped schedule and ``W = warmup_steps``. The wrapped
    schedule's step counter is *shifted*: it sees step 0 at the end of the
    warmup, so its decay starts there. Its epoch counter is passed unchanged
    (a :class:`ReduceOnPlateau` inside still takes the run's reports).

    Args:
        schedule: a :class:`Schedule` counting steps (``per="step"``; one
            counting epochs is refused: it would ramp toward its rate at each
            epoch, and its decay would not start where the ramp ends), or a
            float (a :class:`Constant`).
        warmup_steps: integer >= 1.
        start_lr: rate at step 0, >= 0 (default 0.0).

    >>> s = Warmup(ExponentialDecay(0.1, 0.5, per="step"), 4)
    >>> [round(s(t), 4) for t in range(7)]
    [0.0, 0.025, 0.05, 0.075, 0.1, 0.05, 0.025]
    """

    name = "warmup"
    shape_rates = ("start_lr",)

    def __init__(self, schedule: Schedule | float, warmup_steps: int, *, start_lr: float = 0.0):
        self.schedule = _as_schedule("schedule", schedule)
        if "epoch" in self.schedule._reads():  # its decay would not start where the ramp ends
            fail(
                "schedule",
                "a schedule counting steps, as the warmup does (pass per='step'; one "
                "counting epochs would ramp toward its rate at each epoch)",
                self.schedule,
            )
        self.warmup_steps = _check_count("warmup_steps", warmup_steps, 1)
        self.start_lr = _check_nonneg("start_lr", start_lr)
        self.unit = "step"

    def _value(self, step: int, epoch: int) -> float:
        if step >= self.warmup_steps:
            return self.schedule(step - self.warmup_steps, epoch)
        target = self.schedule(0, epoch)
        ramp = (target - self.start_lr) * step / self.warmup_steps
        if not math.isfinite(ramp):  # the product passed the float range on the way
            ramp = (target - self.start_lr) * (step / self.warmup_steps)
        return self.start_lr + ramp

    def _reads(self) -> frozenset[str]:
        return frozenset({"step"}) | self.schedule._reads()

    def _reported(self) -> list[Schedule]:
        return self.schedule._reported()

    @property
    def report(self) -> Callable[[float], None]:
        """``report(metric)`` for the wrapped schedule when it takes reports
        (a :class:`ReduceOnPlateau`); the training loop calls it once per epoch."""
        return _forward_reports(self, [self.schedule])

    def _kwargs(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.config(),
            "warmup_steps": self.warmup_steps,
            "start_lr": self.start_lr,
        }

    def state_dict(self) -> dict[str, Any]:
        inner = self.schedule.state_dict()
        return {"schedule": inner} if inner else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, Mapping):
            fail("state", "a dict", state, kind=TypeError)
        extra = set(state) - {"schedule"}
        if extra:
            fail("state", "a dict with at most the key 'schedule'", state)
        self.schedule.load_state_dict(state.get("schedule", {}))

    def __repr__(self) -> str:
        w, lo = self.warmup_steps, _num(self.start_lr)
        return (
            f"Warmup(lr = {lo} + (s(0) − {lo})·step/{w} for step < {w}, "
            f"else s(step − {w}); s = {self.schedule!r})"
        )


def _forward_reports(outer: Schedule, inner: list[Schedule]) -> Callable[[float], None]:
    """A ``report(metric)`` passing the metric to every reduce-on-plateau inside ``outer``.

    Each schedule is told once, even one that appears in several places;
    ``AttributeError`` when there is none, so that ``getattr(s, "report",
    None)`` (what the training loop asks) is ``None`` then.
    """
    plateaus = list({id(p): p for s in inner for p in s._reported()}.values())
    if not plateaus:
        raise AttributeError(
            f"{type(outer).__name__} has no 'report': no schedule inside it takes reports"
        )

    def report(metric: float) -> None:
        value = check_real("metric", metric)  # checked once, before any schedule changes
        for plateau in plateaus:
            plateau.report(value)

    return report


def _check_pieces(value: Any) -> list[Schedule]:
    pieces = _check_list("schedules", value)
    if not pieces:
        fail("schedules", "a list of at least one schedule", value)
    return [_as_schedule(f"schedules[{i}]", s) for i, s in enumerate(pieces)]


class _Composite(Schedule):
    """A schedule made of ``self.schedules``; its state is theirs."""

    schedules: list[Schedule]

    def _reported(self) -> list[Schedule]:
        return [p for s in self.schedules for p in s._reported()]

    @property
    def report(self) -> Callable[[float], None]:
        """``report(metric)`` for every piece that takes reports (a
        :class:`ReduceOnPlateau`, the same metric to each, whether its piece is
        in use yet or not); only present when there is one."""
        return _forward_reports(self, self.schedules)

    def state_dict(self) -> dict[str, Any]:
        states = [s.state_dict() for s in self.schedules]
        return {"schedules": states} if any(states) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, Mapping):
            fail("state", "a dict", state, kind=TypeError)
        if set(state) - {"schedules"}:
            fail("state", "a dict with at most the key 'schedules'", state)
        states = state.get("schedules", [{}] * len(self.schedules))
        if not isinstance(states, list | tuple) or len(states) != len(self.schedules):
            fail("state['schedules']", f"a list of {len(self.schedules)} states", states)
        for piece, piece_state in zip(self.schedules, states, strict=True):
            copy.deepcopy(piece).load_state_dict(piece_state)  # all checked before any change
        for piece, piece_state in zip(self.schedules, states, strict=True):
            piece.load_state_dict(piece_state)


class Join(_Composite):
    """Schedules one after another, switching at ``boundaries`` (a sequence of schedules).

    ::

        lr = schedules[0](n)                    for n < b_1
             schedules[i](n − b_i)              for b_i <= n < b_(i+1)
             schedules[-1](n − b_last)          for n >= b_last

    with ``n = step`` (``per="step"``) or ``epoch``; each piece sees that
    counter restarted at 0 at its boundary and the other counter unchanged.
    Every piece that reads a counter must read this one (``per``).

    Two forms, differing only in pieces that start from the current rate:

    * ``form="optax"`` (default, optax's ``join_schedules``): every piece is
      evaluated as it stands, from its own start.
    * ``form="torch"`` (torch's ``SequentialLR``): the same for every piece
      with a closed form (``LambdaLR``, ``LinearLR``, ``CosineAnnealingLR``,
      ``OneCycleLR``, …, restarted at the boundary as in optax), but a
      :class:`Multiplicative` or :class:`SWALR` piece starts from the rate the
      previous piece reached at ``b_i − 1`` instead of its own ``lr0``
      (a ``Multiplicative`` one multiplies it by ``lr_lambda(0)`` already at
      ``b_i``), as torch's ``MultiplicativeLR`` and ``SWALR`` do there.

    :class:`Warmup` is a join of a linear ramp and one schedule.

    Args:
        schedules: one or more schedules (a float is a :class:`Constant`).
        boundaries: strictly increasing integers >= 1, one fewer than schedules.
        per: ``"step"`` (default) or ``"epoch"``: the counter the boundaries count.
        form: ``"optax"`` (default) or ``"torch"``.

    >>> s = Join([0.1, ExponentialDecay(0.05, 0.5, per="step")], [3])
    >>> [s(t) for t in range(6)]
    [0.1, 0.1, 0.1, 0.05, 0.025, 0.0125]
    """

    name = "join"

    def __init__(
        self,
        schedules: Sequence[Schedule | float],
        boundaries: Sequence[int],
        *,
        per: str = "step",
        form: str = "optax",
    ) -> None:
        self.schedules = _check_pieces(schedules)
        self.boundaries = [
            _check_count(f"boundaries[{i}]", b, 1)
            for i, b in enumerate(_check_list("boundaries", boundaries))
        ]
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:], strict=False)):
            fail("boundaries", "strictly increasing", boundaries)
        if len(self.boundaries) != len(self.schedules) - 1:
            fail(
                "boundaries",
                f"a list of {len(self.schedules) - 1} counts (one fewer than schedules)",
                boundaries,
            )
        self.unit = _check_per(per)
        self.form = check_choice("form", form, ("optax", "torch"))
        for i, piece in enumerate(self.schedules):
            if piece._reads() - {self.unit}:
                fail(
                    f"schedules[{i}]",
                    f"a schedule counting {self.unit}s, as the join does (per={self.unit!r})",
                    piece,
                )

    def _local(self, i: int, step: int, epoch: int) -> tuple[int, int]:
        start = self.boundaries[i - 1] if i else 0
        return (step - start, epoch) if self.unit == "step" else (step, epoch - start)

    def _value(self, step: int, epoch: int) -> float:
        i = bisect.bisect_right(self.boundaries, step if self.unit == "step" else epoch)
        piece = self.schedules[i]
        local = self._local(i, step, epoch)
        if i and self.form == "torch" and piece.resumes:
            b = self.boundaries[i - 1] - 1
            previous = self._value(b, epoch) if self.unit == "step" else self._value(step, b)
            return piece._resumed(previous, *local)
        return piece(*local)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "schedules": [s.config() for s in self.schedules],
            "boundaries": list(self.boundaries),
            "per": self.unit,
            "form": self.form,
        }

    def __repr__(self) -> str:
        bounds = [0, *self.boundaries]
        parts = [f"s{i}(n − {b})" if b else f"s{i}(n)" for i, b in enumerate(bounds)]
        pieces = [
            f"{p} for n >= {b}" if i == len(bounds) - 1 else f"{p} for n < {bounds[i + 1]}"
            for i, (p, b) in enumerate(zip(parts, bounds, strict=True))
        ]
        named = "; ".join(f"s{i} = {self._piece_repr(i, b)}" for i, b in enumerate(bounds))
        return f"Join(lr = {', '.join(pieces)}; n = {self.unit}, {self.form} form; {named})"

    def _piece_repr(self, i: int, start: int) -> str:
        """Piece ``i``'s formula as this join computes it: in the torch form a piece that
        resumes starts from the join's rate at ``start − 1``, not from its own ``lr0``."""
        piece = self.schedules[i]
        if not (i and self.form == "torch" and piece.resumes):
            return repr(piece)
        previous = f"lr({start - 1})"
        return (
            f"{piece._resumed_repr(previous)} from {previous}, this join's rate at "
            f"n = {start - 1} (its lr0 = {_num(piece.lr0)} unused)"
        )


class Chained(_Composite):
    """The product of schedules (torch's ``ChainedScheduler``).

    ::

        lr = schedules[0](step, epoch) · schedules[1](step, epoch) · …

    torch's ``ChainedScheduler`` steps schedulers that each multiply the
    optimizer's rate by their own factor; their product is this, with the
    base rate in the first schedule and the others giving factors (``lr0 =
    1``): ``MultiplicativeLR`` is :class:`Multiplicative`, ``ExponentialLR``
    is ``ExponentialDecay(1.0, gamma, per="step")``, ``StepLR`` is
    ``StepDecay(1.0, …)``, ``ConstantLR(factor, total_iters)`` is
    ``PiecewiseConstant([total_iters], [factor, 1.0])``. (torch's
    ``LambdaLR`` sets rather than multiplies and is not chainable there.)
    torch's ``CosineAnnealingLR`` is the factor ``CosineDecay(lr0, T_max)`` only
    with ``eta_min=0`` and up to step ``T_max``: its recursive step is affine
    with ``eta_min > 0`` and adds a term at ``T_max + 1`` (``docs/schedules.md``).

    Args:
        schedules: one or more schedules (a float is a :class:`Constant`).

    >>> s = Chained([0.1, StepDecay(1.0, every=2, per="step")])
    >>> [s(t) for t in range(5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    name = "chained"

    def __init__(self, schedules: Sequence[Schedule | float]) -> None:
        self.schedules = _check_pieces(schedules)
        units = sorted(set().union(*(s._reads() for s in self.schedules)))
        self.unit = units[0] if len(units) == 1 else "step"

    def _reads(self) -> frozenset[str]:
        return frozenset().union(*(s._reads() for s in self.schedules))

    def _value(self, step: int, epoch: int) -> float:
        lr = self.schedules[0](step, epoch)
        for piece in self.schedules[1:]:
            lr *= piece(step, epoch)
        return lr

    def _kwargs(self) -> dict[str, Any]:
        return {"schedules": [s.config() for s in self.schedules]}

    def __repr__(self) -> str:
        factors = "·".join(f"s{i}" for i in range(len(self.schedules)))
        named = "; ".join(f"s{i} = {s!r}" for i, s in enumerate(self.schedules))
        return f"Chained(lr = {factors}; {named})"


class ReduceOnPlateau(Schedule):
    """Cut the rate by ``factor`` when a reported metric stops improving.

    Stateful, with the semantics of PyTorch's ``ReduceLROnPlateau``. The
    training loop calls :meth:`report` once per epoch (say) with the
    validation metric; ``schedule(step, epoch)`` returns the current rate
    whatever the counters. On each report::

        better = metric < best·(1 − threshold)   (mode "min", threshold_mode "rel")
                 metric < best − threshold       (mode "min", threshold_mode "abs")
                 metric > best·(1 + threshold)   (mode "max", threshold_mode "rel")
                 metric > best + threshold       (mode "max", threshold_mode "abs")
        if better: best, num_bad_epochs = metric, 0   else: num_bad_epochs += 1
        if cooldown_counter > 0: cooldown_counter −= 1; num_bad_epochs = 0
        if num_bad_epochs > patience:
            lr = max(lr·factor, min_lr); cooldown_counter = cooldown; num_bad_epochs = 0

    The first report is always "better" (``best`` starts unset, ±∞ in
    PyTorch). As in PyTorch, "rel" mode scales ``best`` itself, so for a
    negative ``best`` in "min" mode the bar is above ``best``; use "abs" for
    metrics that can be negative. PyTorch's ``eps`` (ignore cuts smaller than
    1e-8) is not reproduced: every cut above ``min_lr`` is applied.

    Inside a :class:`Warmup`, :class:`Join` or :class:`Chained`, report to
    the outer schedule (the training loop does): its ``report`` passes the
    metric on to every plateau schedule inside it, once each.

    Args:
        lr0: initial learning rate, > 0.
        factor: multiplier at each cut, in (0, 1) (default 0.1).
        patience: bad reports tolerated before a cut, integer >= 0 (default 10).
        threshold: least significant improvement, >= 0 (default 1e-4).
        threshold_mode: ``"rel"`` (default) or ``"abs"``.
        mode: ``"min"`` (default, e.g. a loss) or ``"max"`` (e.g. an accuracy).
        cooldown: reports to wait after a cut before counting bad ones, >= 0 (default 0).
        min_lr: floor, in [0, lr0] (default 0.0).

    >>> s = ReduceOnPlateau(0.1, factor=0.5, patience=1)
    >>> [s.report(m) for m in [1.0, 1.0, 1.0, 0.5, 0.6, 0.6]]
    [0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    """

    name = "plateau"
    shape_rates = ("min_lr",)

    def __init__(
        self,
        lr0: float,
        *,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        mode: str = "min",
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.factor = check_real("factor", factor, low=0, high=1, low_open=True, high_open=True)
        self.patience = _check_count("patience", patience, 0)
        self.threshold = _check_nonneg("threshold", threshold)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.cooldown = _check_count("cooldown", cooldown, 0)
        self.min_lr = _check_nonneg("min_lr", min_lr)
        if self.min_lr > self.lr0:
            fail("min_lr", f"<= lr0 = {self.lr0!r}", min_lr)
        self.unit = "epoch"
        self.lr = self.lr0
        self.best: float | None = None
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, metric: float) -> bool:
        best = self.best
        if best is None:
            return True
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < best * (1.0 - self.threshold)
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (1.0 + self.threshold)
        return metric > best + self.threshold

    def report(self, metric: float) -> float:
        """Record one value of the monitored metric; return the (new) learning rate."""
        value = check_real("metric", metric)
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self.lr = max(self.lr * self.factor, self.min_lr)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.lr

    def _value(self, step: int, epoch: int) -> float:
        return self.lr

    def _reads(self) -> frozenset[str]:
        return frozenset()

    def _kwargs(self) -> dict[str, Any]:
        return {
            "lr0": self.lr0,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "mode": self.mode,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys = ["lr", "best", "num_bad_epochs", "cooldown_counter"]
        if not isinstance(state, Mapping):
            fail("state", "a dict", state, kind=TypeError)
        if set(state) != set(keys):  # (keys of any type: sorted() would raise on mixed ones)
            fail("state", f"a dict with the keys {', '.join(map(repr, keys))}", state)
        # every rate the reports can reach: lr0 cut towards min_lr, never below it
        lr = _check_nonneg("lr", state["lr"])
        if not self.min_lr <= lr <= self.lr0:
            lr = check_real("lr", lr, low=self.min_lr, high=self.lr0)  # names the range
        best = None if state["best"] is None else check_real("best", state["best"])
        bad = _check_count("num_bad_epochs", state["num_bad_epochs"], 0)
        counter = _check_count("cooldown_counter", state["cooldown_counter"], 0)
        self.lr, self.best, self.num_bad_epochs, self.cooldown_counter = lr, best, bad, counter

    def __repr__(self) -> str:
        return (
            f"ReduceOnPlateau(lr = {_num(self.lr)} now (lr0 = {_num(self.lr0)}); "
            f"lr ← max(lr·{_num(self.factor)}, {_num(self.min_lr)}) when more than "
            f"{self.patience} reports in a row miss the best by {_num(self.threshold)} "
            f"({self.threshold_mode}, mode {self.mode}), then "
            f"a cooldown of {self.cooldown} reports)"
        )


class Manual(Schedule):
    """A rate the user sets by hand between epochs (seed 004's manual decay).

    ``lr = the last value given to set()`` (``lr0`` until then).

    Args:
        lr0: initial learning rate, > 0.

    >>> s = Manual(0.1)
    >>> s.set(0.03)
    >>> s(100)
    0.03
    """

    name = "manual"

    def __init__(self, lr0: float) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.lr = self.lr0
        self.unit = "epoch"

    def set(self, lr: float) -> None:
        """Use ``lr`` (> 0) from now on."""
        self.lr = _check_lr("lr", lr)

    def _value(self, step: int, epoch: int) -> float:
        return self.lr

    def _reads(self) -> frozenset[str]:
        return frozenset()

    def _kwargs(self) -> dict[str, Any]:
        return {"lr0": self.lr0}

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, Mapping):
            fail("state", "a dict", state, kind=TypeError)
        if set(state) != {"lr"}:
            fail("state", "a dict with the key 'lr'", state)
        self.set(state["lr"])

    def __repr__(self) -> str:
        return f"Manual(lr = {_num(self.lr)}, set by the user; lr0 = {_num(self.lr0)})"


# --------------------------------------------------------------------------- registry

SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls
    for cls in (
        Constant,
        InverseTimeDecay,
        ExponentialDecay,
        InverseSqrtEpochDecay,
        InverseSqrtStepDecay,
        StepDecay,
        PiecewiseConstant,
        PolynomialDecay,
        CosineDecay,
        OneCycle,
        Cyclic,
        SWALR,
        Lambda,
        Multiplicative,
        Warmup,
        Join,
        Chained,
        ReduceOnPlateau,
        Manual,
    )
}


def _parameters(cls: type[Schedule]) -> list[str]:
    return list(inspect.signature(cls).parameters)


def _required(cls: type[Schedule]) -> list[str]:
    """The arguments of ``cls`` that have no default."""
    return [
        p.name
        for p in inspect.signature(cls).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def _quoted(names: Sequence[str]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def create(name: str, **kwargs: Any) -> Schedule:
    """Build the schedule registered as ``name`` with ``kwargs``.

    An unknown name, an unknown argument or a missing one (an argument without
    a default) is refused, naming it, before anything is built.

    >>> create("exponential", lr0=0.1, rate=0.95)
    ExponentialDecay(lr = 0.1·0.95^n, n = epoch = 0, 1, 2, …)
    """
    check_choice("schedule name", name, SCHEDULES)
    cls = SCHEDULES[name]
    allowed = _parameters(cls)
    for key in kwargs:
        if key not in allowed:
            fail(
                f"an argument of {name!r}",
                f"one of {', '.join(map(repr, allowed))}",
                key,
                kind=TypeError,
            )
    missing = [key for key in _required(cls) if key not in kwargs]
    if missing:
        fail(
            f"schedule {name!r}",
            f"given {_quoted(missing)} ({'they have' if len(missing) > 1 else 'it has'} "
            f"no default; {name!r} takes {', '.join(map(repr, allowed))})",
            kwargs,
            kind=TypeError,
            described=True,  # the arguments given, not one value of the wrong type
        )
    return cls(**kwargs)


def with_lr0(config: Mapping[str, Any], lr0: float) -> dict[str, Any] | None:
    """``config`` with its initial rate set to ``lr0`` and its shape kept; ``None`` for a
    schedule without an initial rate (``onecycle``, ``cyclic``, ``join``, ``chained``).

    The initial rate is ``lr0`` (``lr`` for ``constant``, the first of ``values`` for
    ``piecewise``, the wrapped schedule's for ``warmup``). Every other rate in the
    schedule (its class's :attr:`Schedule.shape_rates`: ``cosine``'s and
    ``plateau``'s ``min_lr``, ``polynomial``'s ``end_lr``, ``swa``'s ``swa_lr``,
    ``warmup``'s ``start_lr``; ``piecewise``'s later ``values``) is scaled by the
    same ratio, new initial rate over old, so the whole curve is the old one times
    that ratio. A floor ``<= lr0`` stays ``<=`` the new ``lr0``, so every rate > 0
    gives a valid schedule. Only the config changes: a value that is not a number
    is left for the schedule's own check to name. An experiment's ``--lr NAME=VALUE``
    (``Experiment.with_lr``) and the tuning of ``lr`` set a schedule's rate this way.

    >>> with_lr0({"name": "cosine", "lr0": 0.5, "decay_steps": 20, "min_lr": 0.05}, 0.001)
    {'name': 'cosine', 'lr0': 0.001, 'decay_steps': 20, 'min_lr': 0.0001}
    """
    changed = _set_lr0(config, lr0)
    return None if changed is None else changed[0]


def _set_lr0(config: Mapping[str, Any], lr0: float) -> tuple[dict[str, Any], Any] | None:
    """:func:`with_lr0`'s config and the initial rate it replaced, or ``None``."""
    found = _initial(config)
    if found is None:
        return None
    key, old = found
    new = dict(config)
    if key == "values":
        new["values"] = [lr0, *(_rescaled(v, old, lr0) for v in config["values"][1:])]
    elif key == "schedule" and isinstance(config["schedule"], Mapping):
        inner = _set_lr0(config["schedule"], lr0)
        assert inner is not None  # _initial found the wrapped schedule's rate
        new["schedule"] = inner[0]
    else:
        new[key] = lr0
    cls = SCHEDULES.get(config["name"]) if isinstance(config.get("name"), str) else None
    for rate in cls.shape_rates if cls else ():
        if rate in new:
            new[rate] = _rescaled(new[rate], old, lr0)
    return new, old


def _initial(config: Mapping[str, Any]) -> tuple[str, Any] | None:
    """Where a schedule config keeps its initial rate, the key (``"lr"``, ``"lr0"``,
    ``"values"`` or ``"schedule"``) and the value there, as it is; ``None`` without one.

    ``lr`` for ``constant``, ``lr0`` for the others, the first of ``piecewise``'s
    ``values``, ``warmup``'s ``schedule`` (a rate, or the wrapped schedule's).
    """
    name = config.get("name")
    key = "lr" if name == "constant" else "lr0"
    if key in config:
        return key, config[key]
    if name == "piecewise" and isinstance(config.get("values"), list | tuple):
        return ("values", config["values"][0]) if config["values"] else None
    inner = config.get("schedule") if name == "warmup" else None
    if _is_real(inner):
        return "schedule", inner  # a warm-up to a constant rate
    if isinstance(inner, Mapping):
        found = _initial(inner)
        return None if found is None else ("schedule", found[1])
    return None


def initial_rate(config: Mapping[str, Any]) -> float | None:
    """The initial rate of a schedule config, where :func:`with_lr0` sets it: ``lr`` for
    ``constant``, ``lr0`` for the others, the first of ``piecewise``'s ``values``,
    ``warmup``'s ``schedule`` (a rate, or the wrapped schedule's initial rate).

    ``None`` for a schedule without one (``onecycle``, ``cyclic``, ``join``,
    ``chained``) or when the value there is not a real number.

    >>> initial_rate({"name": "warmup", "warmup_steps": 5,
    ...               "schedule": {"name": "cosine", "lr0": 0.1, "decay_steps": 20}})
    0.1
    """
    found = _initial(config)
    return float(found[1]) if found is not None and _is_real(found[1]) else None


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _rescaled(rate: Any, old: Any, new: float) -> Any:
    """``rate·new/old``: a rate of a schedule whose initial rate goes from ``old`` to
    ``new``; ``new`` itself when ``rate == old``, at most ``new`` when ``rate < old``.
    ``rate`` as it is when it or ``old`` is not a finite number (``old > 0``).

    Reckoned on the numbers as written (their shortest decimals), then rounded once:
    a floor of 0.02 under a rate going from 0.2 to 0.7 becomes 0.07, not the
    0.06999999999999999 of ``0.02 * (0.7 / 0.2)`` in floats.

    >>> _rescaled(0.01, 0.1, 0.3), _rescaled(0.02, 0.2, 0.7)
    (0.03, 0.07)
    """
    if not (_is_real(rate) and _is_real(old) and math.isfinite(rate) and math.isfinite(old)):
        return rate
    if old <= 0:
        return rate
    if rate == old:
        return new
    with decimal.localcontext(prec=40):
        exact = _decimal(rate) * _decimal(new) / _decimal(old)
    scaled = float(exact)
    return min(scaled, new) if rate < old else scaled


def _decimal(value: Any) -> decimal.Decimal:
    """A finite number as the decimal its ``repr`` writes (``0.1``, not 0.1000000000000000055…)."""
    return decimal.Decimal(repr(float(value)))


def from_config(config: Mapping[str, Any]) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.config` (nested configs included).

    A table inside the config (``Warmup``'s ``schedule``) or inside a list in
    it (``Join``'s and ``Chained``'s ``schedules``) is a nested schedule.
    Mutable state is not part of the config; restore it with
    ``load_state_dict(old.state_dict())``.
    """
    if not isinstance(config, Mapping):
        fail("config", "a dict with a 'name' key", config, kind=TypeError)
    if "name" not in config:
        fail("config", "a dict with a 'name' key", config)
    _check_callables(config)
    kwargs = {key: _nested(value) for key, value in config.items() if key != "name"}
    return create(config["name"], **kwargs)


def _check_callables(config: Mapping[str, Any]) -> None:
    """``TypeError`` if ``config`` names a schedule that needs a Python callable and has
    none where one goes (``{name = "lambda", lr0 = 0.1}`` from a file or a ``--set``):
    what to do about it, rather than asking for an ``lr_lambda`` no text can give."""
    cls = SCHEDULES.get(config["name"]) if isinstance(config["name"], str) else None
    if cls is None:
        return  # create() names an unknown schedule
    required = _required(cls)
    for key in cls.callables:
        if callable(config.get(key)) or (config.get(key) is None and key not in required):
            continue  # a callable, or none where none is needed (Cyclic's scale_fn)
        cannot = "which a config file or the command line cannot give"
        if key in required:
            said = f"schedule {cls.name!r} needs a Python callable ({key}), {cannot}; build"
        else:
            said = f"{key} of schedule {cls.name!r} takes a Python callable, {cannot}; "
            said += "leave it out, or build"
        got = f"; got {key} = {describe(config[key])}" if key in config else ""
        raise TypeError(f"{said} gdlab.schedules.{cls.__name__} in Python{got}")


def config_of(lr: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schedule's config from an ``lr`` table (a run's, an inner optimizer's or a
    group's): the table itself (``{name = ...}``), or the ``schedule`` it wraps
    (``{schedule = {...}}``, how an optimizer's ``hyperparameters()`` hold one).

    A table with a ``name`` is a schedule's own, so a warm-up's ``schedule`` key
    is its wrapped schedule, not a wrapper: ``config_of(Warmup(s, 3).config())`` is
    the warm-up's config. Anything beside a wrapper's ``schedule`` is refused.
    """
    if "name" not in lr and isinstance(lr.get("schedule"), Mapping):
        stray = [k for k in lr if k != "schedule"]
        if stray:
            raise ConfigError(
                f"lr has unknown key {stray[0]!r} beside schedule; write the schedule's table "
                "itself ({name = ...}) or {schedule = {...}} alone"
            )
        return lr["schedule"]
    return lr


def _nested(value: Any) -> Any:
    if isinstance(value, Mapping):
        return from_config(value)
    if isinstance(value, list | tuple):
        return [from_config(v) if isinstance(v, Mapping) else v for v in value]
    return value


def as_schedule(lr: float | Schedule, *, name: str = "lr") -> Schedule:
    """``lr`` itself if it is a :class:`Schedule`, else ``Constant(lr)`` (``lr`` > 0).

    Anything else is refused naming the argument ``name`` (default ``"lr"``);
    a schedule's name is told to go through :func:`create` with its arguments.

    >>> as_schedule(0.01)
    Constant(lr = 0.01)
    """
    return _as_schedule(name, lr)
