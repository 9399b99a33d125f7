"""Two-dimensional test functions with analytic gradients.

Each function is a :class:`Function2D`: ``f(x, y)`` and ``grad(x, y)`` work on
floats and on NumPy arrays (broadcasting, so a contour grid from
``numpy.meshgrid`` goes straight in), with its known minima, a start point and
a plot range. The registry :data:`FUNCTIONS` holds them by name:

=============  =========================================  =================
name           f(x, y)                                    minima
=============  =========================================  =================
``bowl``       x²/20 + y²   (seed 001's benchmark)        (0, 0)
``rosenbrock`` (a − x)² + b(y − x²)², a=1, b=100          (1, 1)
``beale``      Σᵢ (cᵢ − x + x·yⁱ)², c = 1.5, 2.25, 2.625  (3, 0.5)
``himmelblau`` (x² + y − 11)² + (x + y² − 7)²             four, f = 0
``saddle``     x² − y²                                    none (saddle at 0)
``rastrigin``  2A + Σ (xᵢ² − A·cos 2πxᵢ), A=10            (0, 0)
=============  =========================================  =================

Integer input is made float64 before a function sees it: ``f(x, y)`` on an
integer grid (``numpy.arange``, ``numpy.int32`` arrays, Python ints) is ``f``
on the same numbers as floats, never integer arithmetic that wraps around
(``x**10`` on int32) or stays exact where the float formula rounds. This holds
for a :class:`Function2D` of your own too: its ``f`` and ``grad`` are wrapped
at construction (the wrapper compares, hashes and prints as the function
itself). Bools are refused (``TypeError``); floats of any precision, complex
numbers and anything else reach the function unchanged.

A :class:`Function2D` checks its fields when it is made (a name, two functions
of ``(x, y)``, finite points, ranges with low < high), naming the field, what
was expected and the bad value, and holds its numbers as Python floats. What
its ``f`` and ``grad`` return is checked where the library evaluates them at a
point (:func:`grads_at`, :func:`run_path`, the fit loop): one real number, and
a pair of them; anything else (a complex loss, a scalar gradient, an array) is
refused naming the function, the point and what came back. An exception raised
inside ``f`` or ``grad`` leaves with a note naming the function and the point.

Parameters follow the seeds' convention: a ``dict`` with keys ``"x"`` and
``"y"`` holding 0-d float arrays (:func:`params_from`), gradients the same
(:func:`grads_at`), so any ``optimizer.update(params, grads)`` walks on them;
:func:`run_path` is seed 001's loop.

>>> fn = get("bowl")
>>> fn.f(-7.0, 2.0), fn.grad(-7.0, 2.0)
(6.45, (-0.7, 4.0))
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn, Protocol

import numpy as np

from gdlab._checks import check_choice, check_int, check_real, describe, fail

__all__ = [
    "FUNCTIONS",
    "Function2D",
    "get",
    "grads_at",
    "params_from",
    "run_path",
]

Point = tuple[float, float]

_REAL_INPUT = "a real number or an array of real numbers"
_F64 = np.dtype(np.float64)


def _float_input(name: str, value: Any) -> Any:
    """``value`` with integers made float64: an integer array as a float64 array, a
    NumPy integer as ``numpy.float64``, a Python int as ``float`` (``±inf`` past
    its range). Bools are refused; anything else is returned as it is."""
    kind = type(value)
    if kind is float or kind is np.float64 or (kind is np.ndarray and value.dtype is _F64):
        return value
    if isinstance(value, np.ndarray):
        code = value.dtype.kind
        if code in "iu":
            return value.astype(np.float64)
        if code == "b":
            fail(name, _REAL_INPUT, value, kind=TypeError)
        return value
    if isinstance(value, bool | np.bool_):
        fail(name, _REAL_INPUT, value, kind=TypeError)
    if isinstance(value, np.integer):
        return np.float64(value)
    if isinstance(value, numbers.Integral):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


class _FloatArgs:
    """``func(x, y)`` with integer ``x``, ``y`` made float64 first (:func:`_float_input`).

    It compares, hashes and prints as ``func`` itself, and pickles when ``func`` does.
    An exception raised inside ``func`` leaves with a note naming ``label`` (e.g.
    ``valley.f``) and the point: ``while evaluating valley.f at x = 1.0, y = 2.0``.
    """

    def __init__(self, func: Callable[..., Any], label: str = "") -> None:
        self.func = func
        functools.update_wrapper(self, func)
        self.label = label

    def __call__(self, x: Any, y: Any) -> Any:
        x, y = _float_input("x", x), _float_input("y", y)
        try:
            return self.func(x, y)
        except OverflowError as error:  # Python floats raise where NumPy's give inf: ``1e200**2``
            if type(x) is not float and type(y) is not float:
                self._note(error, x, y)
                raise
        except Exception as error:
            self._note(error, x, y)
            raise
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                out = self.func(_numpy_float(x), _numpy_float(y))
        except Exception as error:
            self._note(error, x, y)
            raise
        return tuple(map(_python_float, out)) if type(out) is tuple else _python_float(out)

    def _note(self, error: BaseException, x: Any, y: Any) -> None:
        label = getattr(self, "label", "") or repr(self.func)
        error.add_note(f"while evaluating {label} at x = {_shown(x)}, y = {_shown(y)}")

    def __eq__(self, other: object) -> bool:
        return self.func == (other.func if isinstance(other, _FloatArgs) else other)

    def __hash__(self) -> int:
        return hash(self.func)

    def __repr__(self) -> str:
        return repr(self.func)


def _shown(value: Any) -> str:
    """A coordinate in a message: ``1.5`` for a number, the shape for an array."""
    if np.ndim(value) == 0:
        try:
            return repr(float(value))
        except (TypeError, ValueError):
            return describe(value)
    return f"an array of shape {np.shape(value)}"


def _numpy_float(value: Any) -> Any:
    return np.float64(value) if type(value) is float else value


def _python_float(value: Any) -> Any:
    """A NumPy float scalar as the Python ``float`` that Python floats give back."""
    return float(value) if type(value) is np.float64 else value


def _unwrapped(func: Any) -> Any:
    return func.func if isinstance(func, _FloatArgs) else func


@dataclass(frozen=True)
class Function2D:
    """A 2-D test function with its analytic gradient.

    Attributes:
        name: registry key, e.g. ``"bowl"``.
        f: ``f(x, y)``, on floats or broadcasting arrays.
        grad: ``grad(x, y) -> (df/dx, df/dy)``; for array input both parts
            have the broadcast shape of ``x`` and ``y``.
        minima: the global minima as ``(x, y)`` points (empty if unbounded).
        start: the default start point of a run.
        xlim: plot range of ``x`` as ``(low, high)``.
        ylim: plot range of ``y`` as ``(low, high)``.
        description: the formula in one line of plain text.

    ``f`` and ``grad`` are kept wrapped so that integer input reaches them as
    float64 (see the module's notes); ``Function2D(...).f(2, 3)`` is ``f(2.0, 3.0)``.

    Every field is checked when the function is made (``dataclasses.replace``
    too): ``TypeError`` for a value of the wrong kind (``start=3``, ``ylim="ab"``,
    an ``f`` of one argument), ``ValueError`` for one out of range (``start``
    with NaN, ``xlim=(1, -1)``, an empty name). ``minima`` may be a list;
    points and ranges are kept as tuples of Python floats.
    """

    name: str
    f: Callable[[Any, Any], Any]
    grad: Callable[[Any, Any], tuple[Any, Any]]
    minima: tuple[Point, ...]
    start: Point
    xlim: Point
    ylim: Point
    description: str

    def __post_init__(self) -> None:
        name = _check_name(self.name)
        values = {
            "f": _check_function("f", self.f, f"{name}.f"),
            "grad": _check_function("grad", self.grad, f"{name}.grad"),
            "minima": _check_minima(self.minima),
            "start": _check_point("start", self.start),
            "xlim": _check_range("xlim", self.xlim),
            "ylim": _check_range("ylim", self.ylim),
        }
        if not isinstance(self.description, str):
            fail("description", "a string", self.description, kind=TypeError)
        for field, value in values.items():
            object.__setattr__(self, field, value)


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        fail("name", "a non-empty string", name, kind=TypeError)
    if not name.strip():
        fail("name", "a non-empty string", name)
    return name


def _check_function(field: str, func: Any, label: str) -> _FloatArgs:
    """``func`` wrapped (:class:`_FloatArgs`) if it can be called as ``func(x, y)``."""
    inner = _unwrapped(func)
    allowed = f"a function {field}(x, y)"
    if not callable(inner):
        fail(field, allowed, func, kind=TypeError)
    try:
        signature = inspect.signature(inner)
    except (TypeError, ValueError):  # a builtin without a signature: called as it is
        signature = None
    if signature is not None and not _binds_two(signature):
        fail(field, f"{allowed} of two arguments", func, kind=TypeError)
    if isinstance(func, _FloatArgs) and func.label == label:
        return func
    return _FloatArgs(inner, label)


def _binds_two(signature: inspect.Signature) -> bool:
    try:
        signature.bind(0.0, 0.0)
    except TypeError:
        return False
    return True


def _two_reals(name: str, value: Any, shape: str, parts: tuple[str, str]) -> Point:
    """``value`` as two finite Python floats: ``shape`` is what a wrong kind is told it
    must be, ``parts`` name the two in errors (``name`` + ``" x"``, ``name`` + ``"[0]"``)."""
    if isinstance(value, str | bytes | Mapping | set | frozenset):
        fail(name, shape, value, kind=TypeError)
    try:
        first, second = value
    except (TypeError, ValueError):
        fail(name, shape, value, kind=TypeError)
    return check_real(name + parts[0], first), check_real(name + parts[1], second)


def _check_point(name: str, value: Any) -> Point:
    """``value`` as a pair of finite Python floats (``name x``, ``name y`` in errors)."""
    return _two_reals(name, value, "a pair (x, y)", (" x", " y"))


def _check_range(name: str, value: Any) -> Point:
    """``value`` as finite ``(low, high)`` Python floats with ``low < high``."""
    low, high = _two_reals(name, value, "a pair (low, high)", ("[0]", "[1]"))
    if not low < high:
        fail(name, "a pair (low, high) with low < high", value)
    return low, high


def _check_minima(value: Any) -> tuple[Point, ...]:
    """``value`` (a tuple or list of points) as a tuple of pairs of Python floats."""
    allowed = "a tuple of (x, y) points, () if there is none"
    if not isinstance(value, tuple | list):
        fail("minima", allowed, value, kind=TypeError)
    if len(value) == 2 and all(isinstance(v, numbers.Real) for v in value):
        # one point written without its tuple: minima=(1.0, 1.0)
        fail("minima", f"{allowed}, (({value[0]!r}, {value[1]!r}),) for one", value,
             kind=TypeError)  # fmt: skip
    return tuple(_check_point(f"minima[{i}]", point) for i, point in enumerate(value))


_SCALAR_TYPES = (float, np.float64)


def _pair(dfdx: Any, dfdy: Any) -> tuple[Any, Any]:
    """Both gradient parts with one shape (scalars stay scalars)."""
    if type(dfdx) in _SCALAR_TYPES and type(dfdy) in _SCALAR_TYPES:
        return dfdx, dfdy
    if np.ndim(dfdx) == 0 and np.ndim(dfdy) == 0:
        return dfdx, dfdy
    zero = np.zeros(np.broadcast_shapes(np.shape(dfdx), np.shape(dfdy)))
    return dfdx + zero, dfdy + zero


# --- bowl (seed 001) ---------------------------------------------------------


def _bowl(x: Any, y: Any) -> Any:
    """f(x, y) = x²/20 + y²."""
    return x**2 / 20.0 + y**2


def _bowl_grad(x: Any, y: Any) -> tuple[Any, Any]:
    """(df/dx, df/dy) = (x/10, 2y)."""
    return _pair(x / 10.0, 2.0 * y)


# --- Rosenbrock ----------------------------------------------------------------

ROSENBROCK_A = 1.0
ROSENBROCK_B = 100.0


def _rosenbrock(x: Any, y: Any) -> Any:
    """f(x, y) = (a − x)² + b·(y − x²)², a = 1, b = 100."""
    return (ROSENBROCK_A - x) ** 2 + ROSENBROCK_B * (y - x**2) ** 2


def _rosenbrock_grad(x: Any, y: Any) -> tuple[Any, Any]:
    """df/dx = −2(a − x) − 4b·x·(y − x²);  df/dy = 2b·(y − x²)."""
    r = y - x**2
    return _pair(-2.0 * (ROSENBROCK_A - x) - 4.0 * ROSENBROCK_B * x * r, 2.0 * ROSENBROCK_B * r)


# --- Beale ---------------------------------------------------------------------

BEALE_C = (1.5, 2.25, 2.625)


def _beale(x: Any, y: Any) -> Any:
    """f(x, y) = Σ_{i=1..3} (cᵢ − x + x·yⁱ)², c = (1.5, 2.25, 2.625)."""
    return sum((c - x + x * y**i) ** 2 for i, c in enumerate(BEALE_C, start=1))


def _beale_grad(x: Any, y: Any) -> tuple[Any, Any]:
    """With tᵢ = cᵢ − x + x·yⁱ: df/dx = Σ 2tᵢ(yⁱ − 1);  df/dy = Σ 2tᵢ·i·x·yⁱ⁻¹."""
    dfdx = 0.0
    dfdy = 0.0
    for i, c in enumerate(BEALE_C, start=1):
        t = c - x + x * y**i
        dfdx = dfdx + 2.0 * t * (y**i - 1.0)
        dfdy = dfdy + 2.0 * t * i * x * y ** (i - 1)
    return _pair(dfdx, dfdy)


# --- Himmelblau ----------------------------------------------------------------


def _himmelblau(x: Any, y: Any) -> Any:
    """f(x, y) = (x² + y − 11)² + (x + y² − 7)²."""
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def _himmelblau_grad(x: Any, y: Any) -> tuple[Any, Any]:
    """With u = x² + y − 11, w = x + y² − 7: df/dx = 4xu + 2w;  df/dy = 2u + 4yw."""
    u = x**2 + y - 11.0
    w = x + y**2 - 7.0
    return _pair(4.0 * x * u + 2.0 * w, 2.0 * u + 4.0 * y * w)


# The three irrational minima, solved to double precision (f there is < 1e-30).
HIMMELBLAU_MINIMA: tuple[Point, ...] = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.2831859912861696),
    (3.5844283403304917, -1.8481265269644036),
)


# --- saddle ----------------------------------------------------------------------


def _saddle(x: Any, y: Any) -> Any:
    """f(x, y) = x² − y² (unbounded below; a saddle point at the origin)."""
    return x**2 - y**2


def _saddle_grad(x: Any, y: Any) -> tuple[Any, Any]:
    """(df/dx, df/dy) = (2x, −2y)."""
    return _pair(2.0 * x, -2.0 * y)


# --- Rastrigin -------------------------------------------------------------------

RASTRIGIN_A = 10.0


def _rastrigin(x: Any, y: Any) -> Any:
    """f(x, y) = 2A + (x² − A·cos 2πx) + (y² − A·cos 2πy), A = 10."""
    a = RASTRIGIN_A
    two_pi = 2.0 * math.pi
    return 2.0 * a + (x**2 - a * np.cos(two_pi * x)) + (y**2 - a * np.cos(two_pi * y))


def _rastrigin_grad(x: Any, y: Any) -> tuple[Any, Any]:
    """df/dx = 2x + 2πA·sin 2πx;  df/dy = 2y + 2πA·sin 2πy."""
    a = RASTRIGIN_A
    two_pi = 2.0 * math.pi
    return _pair(
        2.0 * x + two_pi * a * np.sin(two_pi * x),
        2.0 * y + two_pi * a * np.sin(two_pi * y),
    )


# --- scalar forms ---------------------------------------------------------------
#
# The fit loop evaluates a function at one point per step, its parameters being
# 0-d float64 arrays. On them NumPy takes a different route for each operation:
# ``x**2`` on the 0-d array is ``np.square`` (exactly ``x * x``), ``t**2`` on a
# float64 scalar is C ``pow(t, 2)`` (which can differ from ``t * t`` in the last
# bit), ``y**3`` is the ``np.power`` loop (which can differ from ``pow``), and
# ``+ − × ÷`` are IEEE operations however they are spelt. Each form below
# follows its function's route operation by operation on Python floats, so
# that it returns the very bits ``float(f(x, y))`` and ``grad(x, y)`` give on
# 0-d float64 arrays (tests hold them to that), in a fraction of the time.


def _pow2(t: float) -> float:
    """``t**2`` as a float64 scalar computes it: C ``pow``, and inf (not OverflowError)."""
    try:
        return t**2
    except OverflowError:
        return math.inf


def _bowl_at(x: float, y: float) -> float:
    return x * x / 20.0 + y * y


def _bowl_all(x: float, y: float) -> tuple[float, float, float]:
    return x * x / 20.0 + y * y, x / 10.0, 2.0 * y


def _rosenbrock_at(x: float, y: float) -> float:
    return _pow2(ROSENBROCK_A - x) + ROSENBROCK_B * _pow2(y - x * x)


def _rosenbrock_all(x: float, y: float) -> tuple[float, float, float]:
    r = y - x * x
    dfdx = -2.0 * (ROSENBROCK_A - x) - 4.0 * ROSENBROCK_B * x * r
    return _rosenbrock_at(x, y), dfdx, 2.0 * ROSENBROCK_B * r


def _beale_powers(y: float) -> tuple[float, float, float, float]:
    """``y**0 … y**3`` as NumPy computes them on a 0-d array (1, y, square, np.power)."""
    return 1.0, y, y * y, float(np.power(y, 3))


def _beale_at(x: float, y: float) -> float:
    powers = _beale_powers(y)
    total = 0
    for i, c in enumerate(BEALE_C, start=1):
        total = total + _pow2(c - x + x * powers[i])
    return total


def _beale_all(x: float, y: float) -> tuple[float, float, float]:
    powers = _beale_powers(y)
    dfdx = 0.0
    dfdy = 0.0
    for i, c in enumerate(BEALE_C, start=1):
        t = c - x + x * powers[i]
        dfdx = dfdx + 2.0 * t * (powers[i] - 1.0)
        dfdy = dfdy + 2.0 * t * i * x * powers[i - 1]
    return _beale_at(x, y), dfdx, dfdy


def _himmelblau_at(x: float, y: float) -> float:
    return _pow2(x * x + y - 11.0) + _pow2(x + y * y - 7.0)


def _himmelblau_all(x: float, y: float) -> tuple[float, float, float]:
    u = x * x + y - 11.0
    w = x + y * y - 7.0
    return _pow2(u) + _pow2(w), 4.0 * x * u + 2.0 * w, 2.0 * u + 4.0 * y * w


def _saddle_at(x: float, y: float) -> float:
    return x * x - y * y


def _saddle_all(x: float, y: float) -> tuple[float, float, float]:
    return x * x - y * y, 2.0 * x, -2.0 * y


def _rastrigin_at(x: float, y: float) -> float:
    a = RASTRIGIN_A
    two_pi = 2.0 * math.pi
    return float(2.0 * a + (x * x - a * np.cos(two_pi * x)) + (y * y - a * np.cos(two_pi * y)))


def _rastrigin_all(x: float, y: float) -> tuple[float, float, float]:
    a = RASTRIGIN_A
    two_pi = 2.0 * math.pi
    dfdx = 2.0 * x + two_pi * a * np.sin(two_pi * x)
    dfdy = 2.0 * y + two_pi * a * np.sin(two_pi * y)
    return _rastrigin_at(x, y), float(dfdx), float(dfdy)


class ScalarForm(NamedTuple):
    """A function on Python floats, bit-identical to it on 0-d float64 arrays.

    Attributes:
        f: ``f(x, y) -> float``, the bits of ``float(fn.f(X, Y))``.
        f_and_grad: ``(x, y) -> (f, df/dx, df/dy)``, the bits of ``fn.f`` and
            ``fn.grad`` at ``X, Y`` (``X``, ``Y`` being ``x``, ``y`` as 0-d float64 arrays).
    """

    f: Callable[[float, float], float]
    f_and_grad: Callable[[float, float], tuple[float, float, float]]


_SCALAR_FORMS: dict[tuple[Callable, Callable], ScalarForm] = {
    (_bowl, _bowl_grad): ScalarForm(_bowl_at, _bowl_all),
    (_rosenbrock, _rosenbrock_grad): ScalarForm(_rosenbrock_at, _rosenbrock_all),
    (_beale, _beale_grad): ScalarForm(_beale_at, _beale_all),
    (_himmelblau, _himmelblau_grad): ScalarForm(_himmelblau_at, _himmelblau_all),
    (_saddle, _saddle_grad): ScalarForm(_saddle_at, _saddle_all),
    (_rastrigin, _rastrigin_grad): ScalarForm(_rastrigin_at, _rastrigin_all),
}


def scalar_form(fn: Function2D) -> ScalarForm | None:
    """The fast scalar form of a built-in function's ``f`` and ``grad`` (``None`` for others).

    Only the pairs defined here qualify (whatever the :class:`Function2D`
    around them): a function of your own, or an expression, has none, and is
    evaluated as it is written.
    """
    try:
        return _SCALAR_FORMS.get((_unwrapped(fn.f), _unwrapped(fn.grad)))
    except TypeError:  # an unhashable f or grad
        return None


FUNCTIONS: dict[str, Function2D] = {
    fn.name: fn
    for fn in (
        Function2D(
            name="bowl",
            f=_bowl,
            grad=_bowl_grad,
            minima=((0.0, 0.0),),
            start=(-7.0, 2.0),
            xlim=(-10.0, 10.0),
            ylim=(-5.0, 5.0),
            description="f(x, y) = x^2/20 + y^2",
        ),
        Function2D(
            name="rosenbrock",
            f=_rosenbrock,
            grad=_rosenbrock_grad,
            minima=((ROSENBROCK_A, ROSENBROCK_A**2),),
            start=(-1.5, 2.0),
            xlim=(-2.0, 2.0),
            ylim=(-1.0, 3.0),
            description="f(x, y) = (1 - x)^2 + 100 (y - x^2)^2",
        ),
        Function2D(
            name="beale",
            f=_beale,
            grad=_beale_grad,
            minima=((3.0, 0.5),),
            start=(1.0, 1.5),
            xlim=(-4.5, 4.5),
            ylim=(-4.5, 4.5),
            description=("f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2"),
        ),
        Function2D(
            name="himmelblau",
            f=_himmelblau,
            grad=_himmelblau_grad,
            minima=HIMMELBLAU_MINIMA,
            start=(0.0, 0.0),
            xlim=(-5.0, 5.0),
            ylim=(-5.0, 5.0),
            description="f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        ),
        Function2D(
            name="saddle",
            f=_saddle,
            grad=_saddle_grad,
            minima=(),
            start=(-1.5, 1e-3),
            xlim=(-2.0, 2.0),
            ylim=(-2.0, 2.0),
            description="f(x, y) = x^2 - y^2 (saddle point at 0, no minimum)",
        ),
        Function2D(
            name="rastrigin",
            f=_rastrigin,
            grad=_rastrigin_grad,
            minima=((0.0, 0.0),),
            start=(-2.3, 3.1),
            xlim=(-5.12, 5.12),
            ylim=(-5.12, 5.12),
            description="f(x, y) = 20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)",
        ),
    )
}


def get(name: str) -> Function2D:
    """The function registered as ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
        TypeError: if ``name`` is not a string.
    """
    return FUNCTIONS[check_choice("function", name, FUNCTIONS)]


def params_from(point: Any, *, name: str = "point") -> dict[str, np.ndarray]:
    """Parameters ``{"x": array(x0), "y": array(y0)}`` as 0-d float64 arrays.

    ``point`` is any pair of finite real numbers, e.g. ``fn.start``; ``name``
    is what errors call it (``start must be a pair (x, y); got …``).
    """
    x0, y0 = _check_point(name, point)
    return {"x": np.array(x0, dtype=np.float64), "y": np.array(y0, dtype=np.float64)}


def _function_arg(fn: Any) -> Function2D:
    """``fn`` if it is a :class:`Function2D`, the registered one if it is a name."""
    if isinstance(fn, str):
        return get(fn)
    if not isinstance(fn, Function2D):
        fail("fn", "a Function2D or a function name", fn, kind=TypeError)
    return fn


def _refuse_params(params: Any) -> NoReturn:
    """Raise naming what is wrong with ``params``: not a dict with keys x, y of real numbers."""
    if not isinstance(params, Mapping) or "x" not in params or "y" not in params:
        got = list(params) if isinstance(params, Mapping) else params
        fail("params", "a dict with keys x, y", got,
             kind=ValueError if isinstance(params, Mapping) else TypeError)  # fmt: skip
    for key in ("x", "y"):
        if np.asarray(params[key]).dtype.kind not in "fiu":
            fail(f"params[{key!r}]", "a real number (a 0-d float array)", params[key],
                 kind=TypeError)  # fmt: skip
    fail("params", "a dict with keys x, y holding real numbers", params, kind=TypeError)
    raise AssertionError  # unreachable


def grads_at(fn: Function2D, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The gradient of ``fn`` at ``params``, as 0-d arrays under the same keys.

    The arrays take the parameters' floating dtype (float64 otherwise).
    ``fn`` may be a registry name. What ``fn.grad`` returns is checked: a pair
    of real numbers (arrays of the parameters' shape when they are arrays), or
    an error naming the function, the point and what it returned.
    """
    if type(fn) is not Function2D:
        fn = _function_arg(fn)
    try:
        x, y = np.asarray(params["x"]), np.asarray(params["y"])
    except (KeyError, TypeError, IndexError):
        _refuse_params(params)
    x_kind, y_kind = x.dtype.kind, y.dtype.kind
    if x_kind not in "fiu" or y_kind not in "fiu":
        _refuse_params(params)
    out = fn.grad(x, y)
    if x.ndim or y.ndim:
        dfdx, dfdy = _checked_grad(fn, out, x, y)
    else:  # a point: a built-in's float64 scalars pass in one test each
        dfdx, dfdy = grad_pair(fn, out, x, y)
    return {
        "x": np.array(dfdx, dtype=x.dtype if x_kind == "f" else np.float64),
        "y": np.array(dfdy, dtype=y.dtype if y_kind == "f" else np.float64),
    }


# --- what a function returns ------------------------------------------------------
#
# A function of one's own may return anything. At one point (the fit loop's and
# run_path's 0-d parameters) ``f`` must give one real number and ``grad`` a pair of
# them; anything else is refused naming the function, the point and what came
# back, instead of a complex loss losing its imaginary part with a warning, or an
# unpacking error deep in the loop. Built-ins return float64 scalars: one type
# test each, and the checks below are skipped.


def loss_value(fn: Function2D, value: Any, x: Any, y: Any) -> Any:
    """``value``, what ``fn.f(x, y)`` returned at one point, if it is one real number.

    Raises:
        TypeError: for a complex number, a bool, ``None``, a string … .
        ValueError: for an array of more than one number.
    """
    if type(value) in _SCALAR_TYPES:
        return value
    return _real_part_of(lambda: f"{fn.name}.f{_at(x, y)}", value, ())


def grad_pair(fn: Function2D, out: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """``out``, what ``fn.grad(x, y)`` returned at one point ``x, y`` (numbers or 0-d
    arrays), as ``(df/dx, df/dy)`` if it is a pair of real numbers.

    Raises:
        TypeError: for anything but a pair, or a part that is no real number.
        ValueError: for a part of another shape.
    """
    if type(out) is tuple and len(out) == 2:
        dfdx, dfdy = out
        if type(dfdx) in _SCALAR_TYPES and type(dfdy) in _SCALAR_TYPES:
            return out
    return _checked_grad(fn, out, x, y)


def _checked_grad(fn: Function2D, out: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """:func:`grad_pair` at any ``x``, ``y``: the parts of arrays of their shape (a
    number standing for an array of it)."""

    def where() -> str:  # the message's words, made only for a message
        return f"{fn.name}.grad{_at(x, y)}"

    pair = out if type(out) is tuple else None
    if pair is None and not isinstance(out, str | bytes | Mapping):
        with contextlib.suppress(TypeError):  # not iterable
            pair = tuple(out)
    if pair is None or len(pair) != 2:
        fail(where(), "a pair (df/dx, df/dy)", out, kind=TypeError)
    shape = np.broadcast_shapes(np.shape(x), np.shape(y)) if _ndim(x) or _ndim(y) else ()
    parts = (
        _real_part_of(lambda: f"df/dx of {where()}", pair[0], shape),
        _real_part_of(lambda: f"df/dy of {where()}", pair[1], shape),
    )
    if shape:  # a number for an array: that number everywhere
        return tuple(p if np.shape(p) == shape else np.broadcast_to(p, shape) for p in parts)
    return parts


def _real_part_of(where: Callable[[], str], value: Any, shape: tuple[int, ...]) -> Any:
    """``value`` if it is a real number or a real array of ``shape`` (or 0-d);
    ``where()`` names it in an error."""
    if isinstance(value, _NUMBERS):  # no ABC test for the usual numbers
        return value
    is_array = isinstance(value, np.ndarray)
    if (
        isinstance(value, bool | np.bool_)
        or not (is_array or isinstance(value, numbers.Real))
        or (is_array and value.dtype.kind not in "fiu")
    ):
        fail(where(), "a real number", value, kind=TypeError)
    if is_array and value.shape not in ((), shape):
        wanted = "one real number" if shape == () else f"real numbers of shape {shape}"
        raise ValueError(f"{where()} must be {wanted}; got an array of shape {value.shape}")
    return value


#: The real numbers a function usually returns (bools are none of these).
_NUMBERS = (float, np.floating, np.integer)


def _ndim(value: Any) -> int:
    return value.ndim if type(value) is np.ndarray else np.ndim(value)


def _at(x: Any, y: Any) -> str:
    """``(1.0, 2.0)``: the point of a call, for messages."""
    return f"({_shown(x)}, {_shown(y)})"


class _Updater(Protocol):
    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None: ...


def run_path(
    fn: Function2D | str,
    optimizer: _Updater,
    start: Any = None,
    steps: int = 30,
) -> np.ndarray:
    """Walk ``steps`` optimizer updates from ``start`` and return the path.

    Seed 001's loop: record the point, compute the gradient, call
    ``optimizer.update(params, grads)``. The seed records the point *before*
    each update, so its 30 steps give 30 points and never show where the last
    update lands; this returns ``steps + 1`` rows, row ``k`` being the point
    after ``k`` updates (row 0 is ``start``, the last row the final point).

    Args:
        fn: a :class:`Function2D` or its registry name.
        optimizer: anything with ``update(params, grads)`` that changes the
            ``{"x", "y"}`` dict of 0-d arrays in place.
        start: the start point; ``None`` (default) takes ``fn.start``.
        steps: number of updates, ``>= 0`` (default 30).

    Returns:
        A float64 array of shape ``(steps + 1, 2)`` with columns ``x, y``.
        If the run diverges, the walk stops at the first point whose loss
        ``f(x, y)`` or gradient is not finite (that point is kept if its
        coordinates are finite) and every later row is NaN; the optimizer is
        never handed a non-finite gradient.
    """
    fn = _function_arg(fn)
    if not callable(getattr(optimizer, "update", None)):
        fail("optimizer", "an optimizer with update(params, grads)", optimizer, kind=TypeError)
    steps = check_int("steps", steps, low=0)
    params = params_from(fn.start if start is None else start, name="start")
    path = np.full((steps + 1, 2), np.nan)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(steps + 1):
            x, y = np.float64(params["x"]), np.float64(params["y"])
            if not (np.isfinite(x) and np.isfinite(y)):
                break
            path[k] = x, y
            if k == steps or not np.isfinite(loss_value(fn, fn.f(x, y), x, y)):  # inf: overflow
                break
            grads = grads_at(fn, params)
            if not all(np.isfinite(g).all() for g in grads.values()):
                break
            if getattr(optimizer, "needs_closure", False):
                optimizer.update(params, grads, closure=_closure(fn))
            else:
                optimizer.update(params, grads)
    return path


def _closure(fn: Function2D):
    """``params -> (f, grads)`` at any point of ``fn``: what L-BFGS and SAM call again."""

    def closure(params: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        x, y = np.float64(params["x"]), np.float64(params["y"])
        return float(loss_value(fn, fn.f(x, y), x, y)), grads_at(fn, params)

    return closure
