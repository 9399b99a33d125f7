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

Parameters follow the seeds' convention: a ``dict`` with keys ``"x"`` and
``"y"`` holding 0-d float arrays (:func:`params_from`), gradients the same
(:func:`grads_at`), so any ``optimizer.update(params, grads)`` walks on them;
:func:`run_path` is seed 001's loop.

>>> fn = get("bowl")
>>> fn.f(-7.0, 2.0), fn.grad(-7.0, 2.0)
(6.45, (-0.7, 4.0))
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from gdlab._checks import check_choice, check_int, check_real, fail

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
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __call__(self, x: Any, y: Any) -> Any:
        x, y = _float_input("x", x), _float_input("y", y)
        try:
            return self.func(x, y)
        except OverflowError:  # Python floats raise where NumPy's give inf: ``1e200**2``
            if type(x) is not float and type(y) is not float:
                raise
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.func(_numpy_float(x), _numpy_float(y))
        return tuple(map(_python_float, out)) if type(out) is tuple else _python_float(out)

    def __eq__(self, other: object) -> bool:
        return self.func == (other.func if isinstance(other, _FloatArgs) else other)

    def __hash__(self) -> int:
        return hash(self.func)

    def __repr__(self) -> str:
        return repr(self.func)


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
        for name in ("f", "grad"):
            func = getattr(self, name)
            if callable(func) and not isinstance(func, _FloatArgs):
                object.__setattr__(self, name, _FloatArgs(func))


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


def params_from(point: Any) -> dict[str, np.ndarray]:
    """Parameters ``{"x": array(x0), "y": array(y0)}`` as 0-d float64 arrays.

    ``point`` is any pair of finite real numbers, e.g. ``fn.start``.
    """
    try:
        x0, y0 = point
    except (TypeError, ValueError):
        fail("point", "a pair (x, y)", point, kind=TypeError)
    return {
        "x": np.array(check_real("point x", x0), dtype=np.float64),
        "y": np.array(check_real("point y", y0), dtype=np.float64),
    }


def grads_at(fn: Function2D, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The gradient of ``fn`` at ``params``, as 0-d arrays under the same keys.

    The arrays take the parameters' floating dtype (float64 otherwise).
    """
    x = np.asarray(params["x"])
    y = np.asarray(params["y"])
    dfdx, dfdy = fn.grad(x, y)
    return {
        "x": np.array(dfdx, dtype=x.dtype if x.dtype.kind == "f" else np.float64),
        "y": np.array(dfdy, dtype=y.dtype if y.dtype.kind == "f" else np.float64),
    }


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
    if isinstance(fn, str):
        fn = get(fn)
    steps = check_int("steps", steps, low=0)
    params = params_from(fn.start if start is None else start)
    path = np.full((steps + 1, 2), np.nan)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(steps + 1):
            x, y = np.float64(params["x"]), np.float64(params["y"])
            if not (np.isfinite(x) and np.isfinite(y)):
                break
            path[k] = x, y
            if k == steps or not np.isfinite(fn.f(x, y)):  # NumPy floats: overflow gives inf
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
        return float(fn.f(x, y)), grads_at(fn, params)

    return closure
