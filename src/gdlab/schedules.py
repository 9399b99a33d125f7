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
warmup                Warmup                  linear ramp, then the shifted schedule  --
plateau               ReduceOnPlateau         lr·factor after patience bad reports    --
manual                Manual                  whatever the user set()                 --
====================  ======================  ======================================  =====

``create(name, **kwargs)`` builds one from the registry :data:`SCHEDULES`,
``schedule.config()`` / :func:`from_config` round-trip it, and
:func:`as_schedule` turns a plain ``float`` into a :class:`Constant`.

>>> s = InverseTimeDecay(0.2, 1.0, first=1)          # seed 004's example
>>> [round(s(0, epoch=e), 4) for e in range(4)]
[0.1, 0.0667, 0.05, 0.04]
"""

from __future__ import annotations

import inspect
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ._checks import check_bool, check_choice, check_int, check_real, fail

__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineDecay",
    "ExponentialDecay",
    "InverseSqrtEpochDecay",
    "InverseSqrtStepDecay",
    "InverseTimeDecay",
    "Manual",
    "PiecewiseConstant",
    "PolynomialDecay",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "Warmup",
    "as_schedule",
    "create",
    "from_config",
]

UNITS = ("epoch", "step")


# --------------------------------------------------------------------------- helpers


def _num(x: float | int) -> str:
    """A number as it appears in a repr: ``0.95``, ``1.0``, ``100``."""
    return repr(x)


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


def _check_first(value: Any) -> int:
    return check_int("first", value, low=0, high=1)


def _check_first_one(value: Any) -> int:
    first = check_int("first", value)
    if first != 1:
        fail("first", "1 (the counter starts at 1 since 1/√0 is undefined)", value)
    return first


def _check_per(value: Any) -> str:
    return check_choice("per", value, UNITS)


def _as_schedule(name: str, value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, "a positive real number or a Schedule", value, kind=TypeError)
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

    def __call__(self, step: int, epoch: int = 0) -> float:
        """The learning rate for update ``step`` (from 0) during ``epoch`` (from 0)."""
        if not (type(step) is int and type(epoch) is int and step >= 0 and epoch >= 0):
            step = check_int("step", step, low=0)  # the slow path names what is wrong
            epoch = check_int("epoch", epoch, low=0)
        return float(self._value(step, epoch))

    @abstractmethod
    def _value(self, step: int, epoch: int) -> float: ...

    @abstractmethod
    def _kwargs(self) -> dict[str, Any]: ...

    def config(self) -> dict[str, Any]:
        """``{"name": <registry name>, **constructor arguments}``, JSON-safe."""
        return {"name": self.name, **self._kwargs()}

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
        self.decay_rate = check_real("decay_rate", decay_rate, low=0)
        self.unit = _check_per(per)
        self.decay_steps = check_int("decay_steps", decay_steps, low=1)
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
        self.decay_steps = check_int("decay_steps", decay_steps, low=1)
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
        self.every = check_int("every", every, low=1)
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

    Args:
        boundaries: strictly increasing integers >= 1.
        values: positive learning rates, one more than ``boundaries``.
        per: ``"step"`` (default) or ``"epoch"``.
        first: 0 (default) or 1.

    >>> s = PiecewiseConstant([2, 4], [0.1, 0.01, 0.001])
    >>> [s(t) for t in range(5)]
    [0.1, 0.1, 0.01, 0.01, 0.001]
    """

    name = "piecewise"

    def __init__(
        self,
        boundaries: Sequence[int],
        values: Sequence[float],
        *,
        per: str = "step",
        first: int = 0,
    ) -> None:
        self.boundaries = [
            check_int(f"boundaries[{i}]", b, low=1)
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
        n = self._n(step, epoch)
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
        }

    def __repr__(self) -> str:
        pieces = [
            f"{_num(v)} if n < {b}" for b, v in zip(self.boundaries, self.values, strict=False)
        ]
        pieces.append(f"{'else ' if self.boundaries else ''}{_num(self.values[-1])}")
        return f"PiecewiseConstant(lr = {', '.join(pieces)}; {_counter(self.unit, self.first)})"


def _check_list(name: str, value: Any) -> list[Any]:
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
        self.end_lr = check_real("end_lr", end_lr, low=0)
        self.decay_steps = check_int("decay_steps", decay_steps, low=1)
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

    Args:
        lr0: peak learning rate, > 0.
        decay_steps: first period ``T``, integer >= 1.
        min_lr: floor, in [0, lr0] (default 0.0).
        per: ``"step"`` (default) or ``"epoch"``.
        restarts: SGDR warm restarts (default False).
        t_mult: period growth, >= 1 (default 1.0; only with restarts).
        m_mul: peak decay per restart, in (0, 1] (default 1.0; only with restarts).
        first: 0 (default) or 1.

    References:
        I. Loshchilov, F. Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017.

    >>> s = CosineDecay(1.0, 4, restarts=True, t_mult=2.0)
    >>> [round(s(t), 4) for t in range(7)]
    [1.0, 0.8536, 0.5, 0.1464, 1.0, 0.9619, 0.8536]
    """

    name = "cosine"

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
    ) -> None:
        self.lr0 = _check_lr("lr0", lr0)
        self.decay_steps = check_int("decay_steps", decay_steps, low=1)
        self.min_lr = check_real("min_lr", min_lr, low=0)
        if self.min_lr > self.lr0:
            fail("min_lr", f"<= lr0 = {_num(self.lr0)}", min_lr)
        self.unit = _check_per(per)
        self.restarts = check_bool("restarts", restarts)
        self.t_mult = check_real("t_mult", t_mult, low=1)
        self.m_mul = check_real("m_mul", m_mul, low=0, high=1, low_open=True)
        if not self.restarts:
            if self.t_mult != 1.0:
                fail("t_mult", "1.0 when restarts=False", t_mult)
            if self.m_mul != 1.0:
                fail("m_mul", "1.0 when restarts=False", m_mul)
        self.first = _check_first(first)

    def period(self, n: int) -> tuple[int, int | float, int | float]:
        """``(i, t, T_i)``: the period ``n`` falls in, the position in it, its length.

        With ``t_mult > 1`` the index comes from the closed form
        ``i = ⌊log(1 + n·(t_mult − 1)/T) / log(t_mult)⌋`` and is then moved by
        one while rounding leaves ``n`` outside ``[S_i, S_i + T_i)``. A period
        too long for a float (``T_i`` past about 1e300) is given in units of
        itself: ``t`` in ``[0, 1)`` and ``T_i = 1.0``.
        """
        length: int | float = self.decay_steps
        if not self.restarts:
            return 0, min(n, length), length
        if self.t_mult == 1.0:
            return n // self.decay_steps, n % self.decay_steps, length
        return _geometric_period(n, self.decay_steps, self.t_mult)

    def _value(self, step: int, epoch: int) -> float:
        i, t, length = self.period(self._n(step, epoch))
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
        }

    def __repr__(self) -> str:
        lo, hi, d = _num(self.min_lr), _num(self.lr0), self.decay_steps
        count = _counter(self.unit, self.first)
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


class Warmup(Schedule):
    """Linear warmup, then another schedule shifted by ``warmup_steps``.

    ::

        lr = start_lr + (s(0, epoch) − start_lr) · step / W     for step < W
        lr = s(step − W, epoch)                                  for step >= W

    where ``s`` is the wrapped schedule and ``W = warmup_steps``. The wrapped
    schedule's step counter is *shifted*: it sees step 0 at the end of the
    warmup, so its decay starts there. Its epoch counter is passed unchanged.

    Args:
        schedule: a :class:`Schedule`, or a float (a :class:`Constant`).
        warmup_steps: integer >= 1.
        start_lr: rate at step 0, >= 0 (default 0.0).

    >>> s = Warmup(ExponentialDecay(0.1, 0.5, per="step"), 4)
    >>> [round(s(t), 4) for t in range(7)]
    [0.0, 0.025, 0.05, 0.075, 0.1, 0.05, 0.025]
    """

    name = "warmup"

    def __init__(self, schedule: Schedule | float, warmup_steps: int, *, start_lr: float = 0.0):
        self.schedule = _as_schedule("schedule", schedule)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, low=1)
        self.start_lr = check_real("start_lr", start_lr, low=0)
        self.unit = "step"

    def _value(self, step: int, epoch: int) -> float:
        if step >= self.warmup_steps:
            return self.schedule(step - self.warmup_steps, epoch)
        target = self.schedule(0, epoch)
        return self.start_lr + (target - self.start_lr) * step / self.warmup_steps

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
        self.patience = check_int("patience", patience, low=0)
        self.threshold = check_real("threshold", threshold, low=0)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.cooldown = check_int("cooldown", cooldown, low=0)
        self.min_lr = check_real("min_lr", min_lr, low=0)
        if self.min_lr > self.lr0:
            fail("min_lr", f"<= lr0 = {_num(self.lr0)}", min_lr)
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
        if sorted(state) != sorted(keys):
            fail("state", f"a dict with the keys {', '.join(map(repr, keys))}", state)
        lr = check_real("lr", state["lr"], low=0)
        best = None if state["best"] is None else check_real("best", state["best"])
        bad = check_int("num_bad_epochs", state["num_bad_epochs"], low=0)
        counter = check_int("cooldown_counter", state["cooldown_counter"], low=0)
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
        Warmup,
        ReduceOnPlateau,
        Manual,
    )
}


def _parameters(cls: type[Schedule]) -> list[str]:
    return list(inspect.signature(cls).parameters)


def create(name: str, **kwargs: Any) -> Schedule:
    """Build the schedule registered as ``name`` with ``kwargs``.

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
    return cls(**kwargs)


def from_config(config: Mapping[str, Any]) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.config` (nested configs included).

    Mutable state is not part of the config; restore it with
    ``load_state_dict(old.state_dict())``.
    """
    if not isinstance(config, Mapping):
        fail("config", "a dict with a 'name' key", config, kind=TypeError)
    if "name" not in config:
        fail("config", "a dict with a 'name' key", config)
    kwargs = {
        key: from_config(value) if isinstance(value, Mapping) else value
        for key, value in config.items()
        if key != "name"
    }
    return create(config["name"], **kwargs)


def as_schedule(lr: float | Schedule) -> Schedule:
    """``lr`` itself if it is a :class:`Schedule`, else ``Constant(lr)`` (``lr`` > 0).

    >>> as_schedule(0.01)
    Constant(lr = 0.01)
    """
    return _as_schedule("lr", lr)
