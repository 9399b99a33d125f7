"""Your own 2-D function: ``f(x, y)`` typed as text, parsed safely, differentiated exactly.

The text is read by Python's own parser into a syntax tree (``ast.parse``)
and nothing else: the tree is walked node by node against a whitelist and
turned into a SymPy expression, which SymPy differentiates exactly. Nothing
is ever passed to ``eval`` or ``exec``, and SymPy never parses the text
(``sympify`` would ``eval`` it). Numbers come from a small evaluator (NumPy
functions composed in closures), so ``f`` and its gradient work on floats, 0-d
arrays and whole grids alike: ``f`` from the syntax tree, operation by
operation as typed, the gradient from SymPy's derivatives.

SymPy simplifies as it builds (``sqrt(x)^2`` is ``x``, ``x/x`` is ``1``,
``0*log(x)`` is ``0``), which would change where ``f`` is defined; so ``f`` is
the text's own operations, undefined (NaN) where the text is, and the gradient
is SymPy's exact derivative where ``f`` is a finite number, NaN where it is
not (a derivative SymPy writes as ``0`` is not one of ``x/x`` at 0). A text of
``+ - *``, constant divisors, powers 0, 1, 2, … and ``sin cos atan tanh abs``
(a polynomial, the bowl) is defined everywhere, and its gradient is SymPy's as is.

What may be written:

* the variables ``x`` and ``y``, the constants ``pi`` and ``e``, numbers;
* ``+ - * / **`` (``^`` is power too, as in ``x^2``), parentheses;
* the functions ``sin cos tan asin acos atan sinh cosh tanh exp log ln sqrt abs``
  of one argument.

Everything else is refused with the position (1-based character) of the
first offending part (where it begins): names (``__import__``, ``os``), attribute access,
lambdas, subscripts, keyword arguments, strings, comparisons. So are texts
longer than :data:`MAX_LENGTH` characters, nested deeper than
:data:`MAX_DEPTH` levels (a chain of one kind of operator, ``1 + x + x^2 + …``
or ``x*y/2``, is one level) or with more than :data:`MAX_NODES` parts, constant
exponents larger than :data:`MAX_EXPONENT` in size (``x**1000000``,
``9**9**9``), constants beyond :data:`MAX_CONSTANT` (each constant part is
checked as it is built, ``x - x + exp(100)`` included), and expressions with an
undefined part (``1/0``, ``0.0/0.0``, ``y/0``) or a complex one (``sqrt(-1)``,
``(-2)**x``). A character Python cannot read (``x²``, ``2×x``) is named with what
to write instead, and so is a look-alike Python reads inside a name
(``x·y``, ``xʸ``).

>>> fn = function("x^2/20 + y^2")
>>> float(fn.f(-7.0, 2.0)), [float(g) for g in fn.grad(-7.0, 2.0)]
(6.45, [-0.7, 4.0])
>>> gradient_text("x*y + sin(x)")
('y + cos(x)', 'x')
>>> parse("x.real")
Traceback (most recent call last):
...
gdlab.expressions.ExpressionError: attribute access is not allowed (at character 1)
"""

from __future__ import annotations

import ast
import cmath
import functools
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from gdlab._checks import check_real, fail
from gdlab.functions2d import Function2D, Point

__all__ = [
    "FUNCTION_NAMES",
    "MAX_CONSTANT",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NODES",
    "ExpressionError",
    "ExpressionFunction",
    "function",
    "gradient_text",
    "parse",
]

#: The longest text accepted, in characters.
MAX_LENGTH = 200
#: The deepest nesting of operations and calls accepted.
MAX_DEPTH = 24
#: The most parts (numbers, names, operations, calls) accepted.
MAX_NODES = 120
#: The largest constant exponent, in absolute value (``x**100`` is fine, ``x**101`` not).
MAX_EXPONENT = 100
#: The largest constant, in absolute value (a float's range, less a margin).
MAX_CONSTANT = 1e300

#: Function names that may be called, with one argument each.
FUNCTION_NAMES = (
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "exp",
    "log",
    "ln",
    "sqrt",
    "abs",
)

_NUMPY: dict[str, Callable[[Any], Any]] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "exp": np.exp,
    "log": np.log,
    "Abs": np.abs,
    "sign": np.sign,
}


class ExpressionError(ValueError):
    """A text that is not an accepted expression.

    Attributes:
        reason: what is wrong, without the position.
        position: the 1-based character where it is (``None``: the whole text).
    """

    def __init__(self, reason: str, position: int | None = None) -> None:
        self.reason = reason
        self.position = position
        where = f" (at character {position})" if position is not None else ""
        super().__init__(reason + where)


# --------------------------------------------------------------------------- parsing


def _sympy() -> Any:
    import sympy  # lazily: importing it takes half a second

    return sympy


def _symbols() -> tuple[Any, Any]:
    sympy = _sympy()
    return sympy.Symbol("x", real=True), sympy.Symbol("y", real=True)


def _sympy_functions() -> dict[str, Any]:
    sympy = _sympy()
    return {
        "sin": sympy.sin,
        "cos": sympy.cos,
        "tan": sympy.tan,
        "asin": sympy.asin,
        "acos": sympy.acos,
        "atan": sympy.atan,
        "sinh": sympy.sinh,
        "cosh": sympy.cosh,
        "tanh": sympy.tanh,
        "exp": sympy.exp,
        "log": sympy.log,
        "ln": sympy.log,
        "sqrt": sympy.sqrt,
        "abs": sympy.Abs,
    }


#: Each function on complex floating point, to estimate a constant part's size
#: before SymPy sees it (see :meth:`_Builder._estimate`).
_CMATH: dict[str, Callable[[complex], complex]] = {
    "sin": cmath.sin,
    "cos": cmath.cos,
    "tan": cmath.tan,
    "asin": cmath.asin,
    "acos": cmath.acos,
    "atan": cmath.atan,
    "sinh": cmath.sinh,
    "cosh": cmath.cosh,
    "tanh": cmath.tanh,
    "exp": cmath.exp,
    "log": cmath.log,
    "ln": cmath.log,
    "sqrt": cmath.sqrt,
    "abs": lambda z: complex(abs(z)),
}

_COMPLEX_OPERATORS: dict[type, Callable[[complex, complex], complex]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}

_OPERATORS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}

_REFUSED = {
    ast.Attribute: "attribute access",
    ast.Lambda: "lambda",
    ast.Subscript: "indexing",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "if/else",
    ast.Starred: "*arguments",
    ast.NamedExpr: ":=",
    ast.JoinedStr: "a string",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}


def _position(node: ast.AST) -> int | None:
    offset = getattr(node, "col_offset", None)
    return None if offset is None else offset + 1


def _magnitude_log10(value: Any) -> float:
    """log10 |value| of a SymPy number (``-inf`` for 0), without building huge numbers."""
    sympy = _sympy()
    if value.is_zero:  # 0.0 too: SymPy's Float(0.0) == 0 is False
        return -math.inf
    if isinstance(value, sympy.Integer):
        n = abs(int(value))
        return (n.bit_length() - 1) * math.log10(2) if n.bit_length() > 1000 else math.log10(n)
    if isinstance(value, sympy.Rational):
        return _magnitude_log10(sympy.Integer(value.p)) - _magnitude_log10(sympy.Integer(value.q))
    if isinstance(value, sympy.Float):
        # from mpmath's exponent, never float(): 1e-400 is 0.0 there (log10 fails), 1e400 inf
        import mpmath

        return float(mpmath.log10(abs(mpmath.mpf(value._mpf_))))
    try:
        return math.log10(abs(float(value)))
    except (OverflowError, ValueError, TypeError):
        return math.inf


def _folded_too_large(value: Any) -> Any:
    """The number SymPy folded into a sum or product holding x or y (``x*1e200*1e200``
    is ``1e400*x``; ``(x + y)*1e200*1e200`` distributes it over the terms) that is
    beyond :data:`MAX_CONSTANT` in size, or ``None``."""
    if value.is_Mul:
        numbers = [value.as_coeff_Mul()[0]]
    elif value.is_Add:
        numbers = [value.as_coeff_Add()[0], *(term.as_coeff_Mul()[0] for term in value.args)]
    else:
        return None
    cap = math.log10(MAX_CONSTANT)
    return next((n for n in numbers if n.is_Number and _magnitude_log10(n) > cap), None)


def _size_text(value: Any) -> str:
    """A SymPy number beyond :data:`MAX_CONSTANT` in size, of any size, in 3 digits
    (``1.0e+400``; a float cannot hold it), or in as many as show it is beyond the cap
    (``1.0001e+300``, never ``1.0e+300``)."""
    import mpmath

    number = mpmath.mpf(_sympy().Float(value, 15)._mpf_)
    digits = 3
    while digits < 15 and abs(mpmath.mpf(mpmath.nstr(number, digits))) <= MAX_CONSTANT:
        digits += 1
    return mpmath.nstr(number, digits)


_UNDEFINED = "undefined (a division by zero, or log(0))"
_COMPLEX = "complex: the function must be real (e.g. sqrt of a negative)"


def _undefined() -> tuple[Any, ...]:
    """SymPy's values for what is undefined: 1/0 (zoo), 0/0 (nan), ±oo."""
    sympy = _sympy()
    return sympy.zoo, sympy.nan, sympy.oo, -sympy.oo


def _sympy_estimate(value: Any) -> complex | None:
    """A constant SymPy ``value`` in complex floating point (``None``: undefined there).
    Its parts are each real and within :data:`MAX_CONSTANT`, so SymPy computes it quickly."""
    if value.has(*_undefined()):
        return None
    try:
        estimate = complex(value.evalf(15))
    except OverflowError:
        return complex(math.inf)
    except (ArithmeticError, TypeError, ValueError):  # mpmath's ZeroDivisionError: 1/0.0
        return None
    return None if cmath.isnan(estimate) else estimate


class _Builder:
    """Walks the syntax tree, checks every node, builds the SymPy expression.

    A chain of one kind of operator (``a + b - c``, ``a*b/c``) is one level of
    nesting however long it is: Python nests it to the left, and it is walked
    along that chain, not down it."""

    def __init__(self, source: str = "") -> None:
        sympy = _sympy()
        self.source = source
        self.sympy = sympy
        x, y = _symbols()
        self.names = {"x": x, "y": y, "pi": sympy.pi, "e": sympy.E}
        self.functions = _sympy_functions()
        self.nodes = 0
        #: each constant part's value in complex floating point (``None``: not constant)
        self.estimates: dict[ast.AST, complex | None] = {}
        #: the exact (SymPy) value of each part written without x and y
        #: (``x - x`` is not one: it is undefined where x is)
        self.constants: dict[ast.AST, Any] = {}

    def build(self, node: ast.AST, depth: int) -> Any:
        """The SymPy expression of ``node``; a constant part must be a real number
        within :data:`MAX_CONSTANT` in size. SymPy evaluates a constant to whatever
        precision its size asks for (``sin(exp(10**6))`` needs a million digits
        and hours), and its checks on a constant built from complex or undefined
        parts (``tan(log(acos(3)))``, ``0.0/0.0``) can take minutes, so each
        constant part is checked as soon as it is built, before a larger one
        holds it: estimated in floating point, or by SymPy where that fails."""
        return self._checked(node, self._build(node, depth))

    def _checked(self, node: ast.AST, value: Any) -> Any:
        """``value`` (of ``node``) once checked as :meth:`build` says."""
        if value.has(*_undefined()):  # 1/0, or y/0.0: SymPy's next steps may raise on it
            raise ExpressionError(_UNDEFINED, _position(node))
        if value.free_symbols:  # holds x or y
            self.estimates[node] = None
            return value
        estimate = self._estimate(node)
        if estimate is None or estimate.imag != 0:
            # ``x - x + exp(100)`` (no float estimate), or rounding: asin(sqrt(2)*sqrt(2)/2)
            estimate = _sympy_estimate(value)
        self.estimates[node] = estimate
        if estimate is None:
            raise ExpressionError(_UNDEFINED, _position(node))
        if not abs(estimate) <= MAX_CONSTANT:
            raise ExpressionError(
                f"a constant part too large (beyond {MAX_CONSTANT:g} in size)", _position(node)
            )
        if estimate.imag != 0:
            raise ExpressionError(_COMPLEX, _position(node))
        if _written_constant(node, self.constants):
            self.constants[node] = value
        return value

    def _estimate(self, node: ast.AST) -> complex | None:
        """``node``'s value in complex floating point if it is a constant part
        (``None``: it holds x or y, or is undefined there, as ``1/0``: SymPy says so)."""
        try:
            return self._estimate_unchecked(node)
        except (ZeroDivisionError, ValueError):
            return None
        except OverflowError:
            return complex(math.inf)

    def _estimate_unchecked(self, node: ast.AST) -> complex | None:
        if isinstance(node, ast.Constant):
            return complex(node.value)
        if isinstance(node, ast.Name):
            constant = {"pi": math.pi, "e": math.e}.get(node.id)
            return None if constant is None else complex(constant)
        if isinstance(node, ast.UnaryOp):
            operand = self.estimates.get(node.operand)
            if operand is None:
                return None
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left, right = self.estimates.get(node.left), self.estimates.get(node.right)
            if left is None or right is None:
                return None
            value = _COMPLEX_OPERATORS[type(node.op)](left, right)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            argument = self.estimates.get(node.args[0])
            if argument is None:
                return None
            value = _CMATH[node.func.id](argument)
        else:
            return None
        if not cmath.isfinite(value):
            # from finite parts, NaN is an overflow too: (e^100)**100 multiplies out to inf·0
            raise OverflowError
        return value

    def _build(self, node: ast.AST, depth: int) -> Any:
        self._count(node)
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"nested too deeply (more than {MAX_DEPTH} levels)", _position(node)
            )
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                if node.id in self.functions:
                    raise ExpressionError(
                        f"{node.id} is a function: write {node.id}(…)", _position(node)
                    )
                hint = _name_hint(self.source, node)
                if hint is not None:
                    write, char, position = hint
                    raise ExpressionError(
                        f"unknown name {node.id!r}: write {write} for {char}", position
                    )
                raise ExpressionError(
                    f"unknown name {node.id!r}: use x, y, pi, e and the functions "
                    f"{', '.join(FUNCTION_NAMES)}",
                    _position(node),
                )
            return self.names[node.id]
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                raise ExpressionError(
                    f"the operator {_op_text(node.op)} is not allowed", _position(node)
                )
            operand = self.build(node.operand, depth + 1)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self._chain(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        what = _REFUSED.get(type(node), type(node).__name__)
        raise ExpressionError(f"{what} is not allowed", _position(node))

    def _chain(self, node: ast.BinOp, depth: int) -> Any:
        """``node`` and the operators of its kind to its left (``a - b + c``): one level.

        Walked iteratively, so a long sum neither counts as deep nesting nor
        recurses; each operator of the chain is still a part (:data:`MAX_NODES`)."""
        if type(node.op) not in _OPERATORS:
            raise ExpressionError(
                f"the operator {_op_text(node.op)} is not allowed", _position(node)
            )
        chain = [node]
        while isinstance(chain[-1].left, ast.BinOp) and _same_kind(chain[-1].left, node):
            chain.append(chain[-1].left)
            self._count(chain[-1])
        value = self.build(chain[-1].left, depth + 1)
        for link in reversed(chain):
            right = self.build(link.right, depth + 1)
            value = self._operate(_OPERATORS[type(link.op)], value, right, link)
            if link is not node:  # ``build`` checks the last
                value = self._checked(link, value)
        return value

    def _operate(self, op: str, left: Any, right: Any, node: ast.BinOp) -> Any:
        try:
            if op == "+":
                value = left + right
            elif op == "-":
                value = left - right
            elif op == "*":
                value = left * right
            elif op == "/":
                value = left / right
            else:
                value = self._power(left, right, node)
        except ZeroDivisionError:  # SymPy's Floats: 0.0/0.0, 1e-300/0.0
            raise ExpressionError(_UNDEFINED, _position(node)) from None
        return self._checked_constant(value, node)

    def _count(self, node: ast.AST) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"too long: more than {MAX_NODES} parts", _position(node))

    def _constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "a string" if isinstance(value, str) else repr(value)
            raise ExpressionError(f"{kind} is not allowed (only numbers)", _position(node))
        if isinstance(value, float) and not math.isfinite(value):
            raise ExpressionError("a number too large", _position(node))
        if abs(value) > MAX_CONSTANT:
            raise ExpressionError(f"a number larger than {MAX_CONSTANT:g}", _position(node))
        sympy = self.sympy
        return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)

    def _power(self, base: Any, exponent: Any, node: ast.BinOp) -> Any:
        sympy = self.sympy
        if exponent.is_number:
            size = _magnitude_log10(exponent) if exponent.is_Number else None
            if size is None:
                try:
                    size = math.log10(abs(float(exponent))) if exponent != 0 else -math.inf
                except (OverflowError, ValueError, TypeError):
                    size = math.inf
            if size > math.log10(MAX_EXPONENT):
                raise ExpressionError(
                    f"the exponent {_short(exponent)} is too large (at most {MAX_EXPONENT} "
                    "in size)",
                    _position(node.right),
                )
            if base.is_Number and exponent.is_Number:
                # |base**exponent| without computing it: refuse results beyond MAX_CONSTANT
                if base.is_zero and exponent.is_extended_negative:
                    raise ExpressionError(_UNDEFINED, _position(node))
                grows = _magnitude_log10(base) * float(exponent)
                if grows > math.log10(MAX_CONSTANT):
                    raise ExpressionError(
                        f"the constant {_short(base)}**{_short(exponent)} is too large",
                        _position(node),
                    )
        elif base.is_number:
            _check_variable_power(base, node)
        return sympy.Pow(base, exponent)

    def _checked_constant(self, value: Any, node: ast.AST) -> Any:
        if (
            value.is_Number
            and value.is_finite
            and _magnitude_log10(value) > math.log10(MAX_CONSTANT)
        ):
            raise ExpressionError("a constant too large", _position(node))
        folded = _folded_too_large(value)
        if folded is not None:
            # x*1e200*1e200: SymPy folds the numbers of a product into one (1e400*x), said
            # where the product starts, as 1e300*1e300*x is, never later, cut mid-number
            raise ExpressionError(
                f"a constant part too large ({_size_text(folded)}, beyond {MAX_CONSTANT:g} "
                "in size)",
                _position(node),
            )
        return value

    def _call(self, node: ast.Call, depth: int) -> Any:
        if not isinstance(node.func, ast.Name):
            what = _REFUSED.get(type(node.func), "calling this")
            raise ExpressionError(f"{what} is not allowed", _position(node.func))
        name = node.func.id
        if name in self.names:
            raise ExpressionError(
                f"{name} is not a function: write {name}*(…) for a product", _position(node)
            )
        if name not in self.functions:
            raise ExpressionError(
                f"unknown function {name!r}: use {', '.join(FUNCTION_NAMES)}", _position(node)
            )
        if node.keywords:
            raise ExpressionError("keyword arguments are not allowed", _position(node.keywords[0]))
        if len(node.args) != 1:
            raise ExpressionError(
                f"{name}() takes one argument; got {len(node.args)}", _position(node)
            )
        argument = self.build(node.args[0], depth + 1)
        return self.functions[name](argument)


def _written_constant(node: ast.AST, constants: dict[ast.AST, Any]) -> bool:
    """Whether ``node`` is written without x and y (its parts being in ``constants``)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id not in ("x", "y")
    if isinstance(node, ast.UnaryOp):
        return node.operand in constants
    if isinstance(node, ast.BinOp):
        return node.left in constants and node.right in constants
    return isinstance(node, ast.Call) and node.args[0] in constants


#: Operators that chain (``a + b - c``, ``a*b/c``): a chain of one kind is one level.
_CHAINS = ({ast.Add, ast.Sub}, {ast.Mult, ast.Div})


def _same_kind(node: ast.BinOp, top: ast.BinOp) -> bool:
    return any(type(node.op) in kind and type(top.op) in kind for kind in _CHAINS)


def _check_variable_power(base: Any, node: ast.BinOp) -> None:
    """Refuse a constant ``base`` to a power in x or y that is not real, or has no derivative."""
    if base.is_zero:
        raise ExpressionError(
            f"0 to a power in x or y, ({_short(base)})**…, is undefined for negative powers "
            "and has no derivative; write 0",
            _position(node),
        )
    if base.is_extended_negative:
        raise ExpressionError(
            f"a negative number to a power in x or y, ({_short(base)})**…, is complex: "
            "the function must be real",
            _position(node),
        )


def _op_text(op: ast.AST) -> str:
    symbols = {
        ast.FloorDiv: "//",
        ast.Mod: "%",
        ast.MatMult: "@",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitOr: "|",
        ast.BitAnd: "&",
        ast.Invert: "~",
        ast.Not: "not",
    }
    return symbols.get(type(op), type(op).__name__)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."


def parse(text: str) -> Any:
    """The SymPy expression of ``text`` (in ``x`` and ``y``), or :class:`ExpressionError`.

    It is SymPy's form, simplified as SymPy builds it (``parse("x/x")`` is 1);
    :func:`function` computes ``f`` as typed.

    >>> parse("x^2 + 3*x*y")
    x**2 + 3*x*y
    """
    _check_text(text)  # before the cache: a list is unhashable
    return _parse(text).expr


class _Parsed(NamedTuple):
    """A text read: its syntax tree, SymPy's expression of it (which SymPy may have
    simplified: ``x/x`` is 1) and the exact values of the parts written without x and y."""

    tree: ast.AST
    expr: Any
    constants: dict[ast.AST, Any]


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> _Parsed:
    _check_text(text)
    # ``^`` is power, as people write it: spelled ``**`` before Python reads the text
    # (Python's ``^`` binds more loosely than ``+``). Positions are mapped back.
    source = text.replace("^", "**")
    stripped = source.lstrip()
    lead = len(source) - len(stripped)
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as error:
        offset = (error.offset + lead) if error.offset else len(source) + 1
        raise ExpressionError(
            _syntax_reason(error, source, offset), _original_position(text, offset)
        ) from None
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, deep nesting
        raise ExpressionError(f"cannot read it: {error}") from None
    try:
        builder = _Builder(stripped)
        expr = builder.build(tree.body, 1)
    except ExpressionError as error:
        shifted = None if error.position is None else _characters(stripped, error.position) + lead
        raise ExpressionError(error.reason, _original_position(text, shifted)) from None
    except RecursionError:
        raise ExpressionError(f"nested too deeply (more than {MAX_DEPTH} levels)") from None
    _check_expression(expr)
    return _Parsed(tree.body, expr, builder.constants)


parse.cache_clear = _parse.cache_clear  # type: ignore[attr-defined]


def _check_text(text: Any) -> None:
    """Refuse what is not one non-empty line of text of at most ``MAX_LENGTH`` characters."""
    if not isinstance(text, str):
        fail("expression", "a string", text, kind=TypeError)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"too long: {len(text)} characters (at most {MAX_LENGTH})", MAX_LENGTH + 1
        )
    if not text.strip():
        raise ExpressionError("empty: write f(x, y), e.g. x^2 + 10*y^2")
    if "\n" in text or "\r" in text:
        raise ExpressionError(
            "one line only", min(i for i in (text.find("\n"), text.find("\r")) if i >= 0) + 1
        )


def _characters(source: str, position: int) -> int:
    """The 1-based character position in ``source`` of a 1-based UTF-8 byte position
    (a node's ``col_offset`` counts bytes: ``𝑥`` is four)."""
    return len(source.encode("utf-8")[: position - 1].decode("utf-8", errors="ignore")) + 1


def _original_position(text: str, position: int | None) -> int | None:
    """The 1-based ``position`` in ``text`` with each ``^`` spelled ``**``, in ``text`` itself."""
    if position is None:
        return None
    target = position - 1  # an index into the respelled text
    index = 0
    for i, char in enumerate(text):
        width = 2 if char == "^" else 1
        if index + width > target:
            return i + 1
        index += width
    return len(text) + 1 + max(0, target - index)


#: What to write for a character Python cannot read, as in ``x²``, ``2×x``, ``x − y``.
_CHARACTER_HINTS = {
    "²": "^2",
    "³": "^3",
    "×": "*",
    "⋅": "*",
    "∙": "*",
    "·": "*",
    "\u0387": "*",  # Greek ano teleia, which looks the same
    "÷": "/",
    "−": "-",
    "–": "-",
    "—": "-",
}


#: What to write for a character Python reads as part of a name (``x·y`` is one name).
_NAME_HINTS = {"·": "*", "\u0387": "*", "℮": "e"}


#: Unicode names of the superscript letters Python reads inside a name (``xʸ``, ``xⁿ``).
_SUPERSCRIPT_LETTERS = ("MODIFIER LETTER SMALL", "SUPERSCRIPT LATIN SMALL LETTER")


def _name_hint(source: str, node: ast.Name) -> tuple[str, str, int] | None:
    """``(what to write, the character, its 1-based byte position)`` for the first
    character of the name ``node`` (in ``source``) that only looks like something
    else: a middle dot (``x·y``), a superscript letter (``xʸ``, read as the name ``xy``)."""
    data = source.encode("utf-8")
    start = node.col_offset
    end = node.end_col_offset if node.end_col_offset is not None else len(data)
    text = data[start:end].decode("utf-8", errors="ignore")
    for index, char in enumerate(text):
        write = _NAME_HINTS.get(char)
        if write is None and unicodedata.name(char, "").startswith(_SUPERSCRIPT_LETTERS):
            letter = unicodedata.normalize("NFKC", char)
            write = f"^{letter}" if letter.isascii() and letter.isalpha() else None
        if write is not None:
            return write, char, start + len(text[:index].encode("utf-8")) + 1
    return None


def _character_hint(char: str) -> str:
    hint = _CHARACTER_HINTS.get(char)
    return f"; write {hint} for {char}" if hint else ""


def _missing_operator(source: str, offset: int) -> bool:
    """Whether the syntax error at ``offset`` (1-based) is two parts side by side (``x y``)."""
    before = source[: offset - 1].rstrip()
    here = source[offset - 1 : offset]
    return (
        bool(before)
        and (before[-1].isalnum() or before[-1] in ")_")
        and (here.isalnum() or here in "(_")
    )


def _syntax_reason(error: SyntaxError, source: str, offset: int) -> str:
    """What is wrong, in words, for a ``SyntaxError`` at ``offset`` (1-based) in ``source``."""
    reason = (error.msg or "invalid syntax").replace("Perhaps you forgot a comma?", "").strip()
    if reason == "invalid syntax" and offset > len(source.rstrip()):
        reason = "incomplete: something is missing at the end"
    elif "decimal literal" in reason:
        reason += " (write 2*x, not 2x)"
    elif "invalid character" in reason:
        reason += _character_hint(source[offset - 1 : offset])
    elif reason == "invalid syntax" and _missing_operator(source, offset):
        reason = "an operator is missing (write 2*x, x*y, sin(x))"
    prefix = "" if reason.startswith("incomplete") else "invalid syntax: "
    if reason == "invalid syntax":
        prefix = ""
    return prefix + reason


def _check_expression(expr: Any) -> None:
    """Refuse an expression that is undefined, complex or in names other than x and y."""
    sympy = _sympy()
    if expr.has(*_undefined()):
        raise ExpressionError(_UNDEFINED)
    if expr.has(sympy.I):
        raise ExpressionError(_COMPLEX)
    x, y = _symbols()
    extra = expr.free_symbols - {x, y}
    if extra:  # cannot happen with the whitelist; kept as a guard
        raise ExpressionError(f"unknown names {sorted(map(str, extra))}")


@functools.lru_cache(maxsize=256)
def _derivatives(text: str) -> tuple[Any, Any]:
    expr = parse(text)
    x, y = _symbols()
    sympy = _sympy()
    dfdx, dfdy = sympy.diff(expr, x), sympy.diff(expr, y)
    if expr.has(sympy.Abs) and not (_computable(dfdx) and _computable(dfdy)):
        # SymPy differentiates |u| of a u it cannot prove real (sqrt(x), acos(x)) through
        # re, im and atan2; on the reals (where f is computed) d|u| = sign(u)·du.
        real_abs = _real_abs()
        on_reals = expr.replace(sympy.Abs, real_abs)
        dfdx, dfdy = (sympy.diff(on_reals, v).replace(real_abs, sympy.Abs) for v in (x, y))
    return dfdx, dfdy


def _computable(expr: Any) -> bool:
    """Whether every function in ``expr`` is one :func:`_compile` computes."""
    sympy = _sympy()
    return not any(
        isinstance(node, sympy.Derivative | sympy.Subs)
        or (isinstance(node, sympy.Function) and type(node).__name__ not in _NUMPY)
        for node in sympy.preorder_traversal(expr)
    )


@functools.cache
def _real_abs() -> Any:
    """``|u|`` for a real ``u``: its derivative is ``sign(u)``."""
    sympy = _sympy()

    class RealAbs(sympy.Function):
        def fdiff(self, argindex: int = 1) -> Any:
            return sympy.sign(self.args[0])

    return RealAbs


def gradient_text(text: str) -> tuple[str, str]:
    """``(∂f/∂x, ∂f/∂y)`` of ``text`` as SymPy writes them (exact, not simplified)."""
    _check_text(text)
    dfdx, dfdy = _derivatives(text)
    return str(dfdx), str(dfdy)


# --------------------------------------------------------------------------- numbers

_Fn = Callable[[Any, Any], Any]


def _compile(expr: Any, memo: dict[Any, _Fn] | None = None) -> _Fn:
    """A function ``(x, y) -> value`` computing ``expr`` with NumPy (no ``eval``).

    Each distinct subexpression is compiled once (``memo``): a derivative repeats
    its parts (``x**x**x…`` many times over), and compiling them anew at every
    occurrence took time exponential in the nesting."""
    memo = {} if memo is None else memo
    compiled = memo.get(expr)
    if compiled is None:
        compiled = memo[expr] = _compile_new(expr, memo)
    return compiled


def _compile_new(expr: Any, memo: dict[Any, _Fn]) -> _Fn:
    sympy = _sympy()
    x, y = _symbols()
    if expr == x:
        return lambda a, b: a
    if expr == y:
        return lambda a, b: b
    if expr.is_number:
        return _compile_constant(expr)
    if expr.is_Mul:
        return _product(expr, memo)
    parts = [_compile(arg, memo) for arg in expr.args]
    if expr.is_Add:
        return _fold(parts, np.add)
    if expr.is_Pow:
        base, power = parts
        exponent = expr.args[1]
        if exponent == sympy.Rational(1, 2):
            return lambda a, b: np.sqrt(base(a, b))
        if exponent == -1:
            return lambda a, b: np.divide(1.0, base(a, b))
        if exponent.is_Integer:
            k = float(exponent)
            return lambda a, b: np.power(base(a, b), k)
        return lambda a, b: np.power(base(a, b), power(a, b))
    name = type(expr).__name__
    numpy_function = _NUMPY.get(name)
    if numpy_function is not None and len(parts) == 1:
        (inner,) = parts
        return lambda a, b: numpy_function(inner(a, b))
    raise ExpressionError(f"cannot compute {name} numerically")


def _compile_constant(expr: Any) -> _Fn:
    c = _constant_float(expr)
    return lambda a, b: c


def _constant_float(expr: Any) -> float:
    """A constant SymPy ``expr`` as a float (rounded once), or :class:`ExpressionError`."""
    try:
        value = complex(expr.evalf())
    except (ArithmeticError, TypeError, ValueError):  # beyond a float (a Float of 1e400)
        value = complex(math.nan)
    if value.imag != 0 or not math.isfinite(value.real):
        raise ExpressionError(f"the constant {_short(expr)} is not a finite real number")
    return value.real


def _product(expr: Any, memo: dict[Any, _Fn]) -> _Fn:
    """A product as ``numerator / denominator``: ``x/10`` divides by 10 (as written)
    rather than multiplying by a rounded 0.1."""
    sympy = _sympy()
    above: list[_Fn] = []
    below: list[_Fn] = []
    for factor in expr.args:
        if factor.is_Rational and not factor.is_Integer:
            if factor.p != 1:
                above.append(_compile(sympy.Integer(factor.p), memo))
            below.append(_compile(sympy.Integer(factor.q), memo))
        elif factor.is_Pow and factor.args[1].is_Integer and factor.args[1] < 0:
            base, power = factor.args
            below.append(_compile(base if power == -1 else sympy.Pow(base, -power), memo))
        else:
            above.append(_compile(factor, memo))
    numerator = _fold(above, np.multiply) if above else (lambda a, b: 1.0)
    if not below:
        return numerator
    denominator = _fold(below, np.multiply)
    return lambda a, b: np.divide(numerator(a, b), denominator(a, b))


def _fold(parts: list[_Fn], op: Any) -> _Fn:
    first, *rest = parts
    if not rest:
        return first
    if len(rest) == 1:
        (second,) = rest
        return lambda a, b: op(first(a, b), second(a, b))

    def folded(a: Any, b: Any) -> Any:
        value = first(a, b)
        for part in rest:
            value = op(value, part(a, b))
        return value

    return folded


#: NumPy's form of each operation as typed (``^``/``**`` has its own, :func:`_typed_power`).
_TYPED_OPERATORS: dict[type, Any] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
}
_TYPED_FUNCTIONS: dict[str, Any] = {**_NUMPY, "ln": np.log, "sqrt": np.sqrt, "abs": np.abs}


def _compile_typed(node: ast.AST, constants: dict[ast.AST, Any]) -> _Fn:
    """f exactly as typed: each operation of the text, in its order, with NumPy.

    SymPy simplifies as it builds (``sqrt(x)^2`` is x, ``x/x`` is 1, ``0*log(x)``
    is 0), which changes where f is defined; the text's own operations keep it
    undefined (NaN) where the text is. A part written without x and y
    (``pi/2``, ``sqrt(2)``) is one float, SymPy's exact value rounded once.
    Recursion is bounded by :data:`MAX_NODES` (the text was read by :class:`_Builder`)."""
    c = _typed_constant(node, constants)
    if c is not None:
        return lambda a, b: c
    if isinstance(node, ast.Name):
        return (lambda a, b: a) if node.id == "x" else (lambda a, b: b)
    if isinstance(node, ast.UnaryOp):
        inner = _compile_typed(node.operand, constants)
        return (lambda a, b: np.negative(inner(a, b))) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return _typed_power(node, constants)
        return _typed_binary(_TYPED_OPERATORS[type(node.op)], node, constants)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function_ = _TYPED_FUNCTIONS[node.func.id]
        argument = _compile_typed(node.args[0], constants)
        return lambda a, b: function_(argument(a, b))
    raise ExpressionError(f"cannot compute {type(node).__name__} numerically", _position(node))


def _typed_constant(node: ast.AST, constants: dict[ast.AST, Any]) -> float | None:
    """The float of a part written without x and y (``None``: it holds x or y)."""
    value = constants.get(node)
    return None if value is None else _constant_float(value)


def _typed_binary(op: Any, node: ast.BinOp, constants: dict[ast.AST, Any]) -> _Fn:
    left_c, right_c = _typed_constant(node.left, constants), _typed_constant(node.right, constants)
    if right_c is not None:
        left = _compile_typed(node.left, constants)
        return lambda a, b: op(left(a, b), right_c)
    right = _compile_typed(node.right, constants)
    if left_c is not None:
        return lambda a, b: op(left_c, right(a, b))
    left = _compile_typed(node.left, constants)
    return lambda a, b: op(left(a, b), right(a, b))


def _typed_power(node: ast.BinOp, constants: dict[ast.AST, Any]) -> _Fn:
    """``base**exponent`` as typed: ``sqrt`` for ½, ``1/base`` for −1, ``exp`` for e**…"""
    k = _typed_constant(node.right, constants)
    if k is not None:
        base = _compile_typed(node.left, constants)
        if k == 0.5:
            return lambda a, b: np.sqrt(base(a, b))
        if k == -1.0:
            return lambda a, b: np.divide(1.0, base(a, b))
        return lambda a, b: np.power(base(a, b), k)
    exponent = _compile_typed(node.right, constants)
    c = _typed_constant(node.left, constants)
    if c is not None:
        if constants[node.left] == _sympy().E:
            return lambda a, b: np.exp(exponent(a, b))
        return lambda a, b: np.power(c, exponent(a, b))
    base = _compile_typed(node.left, constants)
    return lambda a, b: np.power(base(a, b), exponent(a, b))


#: Functions defined, and finite, at every finite number.
_TOTAL_FUNCTIONS = frozenset({"sin", "cos", "atan", "tanh", "abs", "exp", "sinh", "cosh"})


def _total(node: ast.AST, constants: dict[ast.AST, Any]) -> bool:
    """Whether the typed f is a finite number wherever its float operations do not
    overflow: only ``+ - *``, constant divisors, constant powers ``k = 0, 1, 2, …``, a
    positive constant to any power (``2^x``, ``e^x``) and the functions of
    :data:`_TOTAL_FUNCTIONS` (the bowl, Rosenbrock, a polynomial, ``exp(x)*sin(y)``).
    Its gradient needs no mask (:func:`_defined_only`): there is nothing it is undefined on."""
    if node in constants or isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.UnaryOp):
        return _total(node.operand, constants)
    if isinstance(node, ast.Call):
        return node.func.id in _TOTAL_FUNCTIONS and _total(node.args[0], constants)  # type: ignore[attr-defined]
    if not isinstance(node, ast.BinOp):
        return False
    if isinstance(node.op, ast.Pow):
        base = _typed_constant(node.left, constants)
        if base is not None and base > 0:  # 2^x, e^x: defined for every x
            return _total(node.right, constants)
    if isinstance(node.op, ast.Div | ast.Pow):
        k = _typed_constant(node.right, constants)
        if k is None or (isinstance(node.op, ast.Pow) and not (k >= 0 and k.is_integer())):
            return False
        return _total(node.left, constants)
    return _total(node.left, constants) and _total(node.right, constants)


def _defined_only(value: Any, dfdx: Any, dfdy: Any) -> tuple[Any, Any]:
    """The gradient, NaN where f's ``value`` is not finite (f is undefined there, or
    overflows) and the gradient SymPy simplified would still be finite: ``x/x``'s
    derivative 0 is not the derivative of anything at x = 0."""
    if np.ndim(value) == 0:
        if math.isfinite(value):
            return dfdx, dfdy
        return tuple(g if not np.isfinite(g) else math.nan for g in (dfdx, dfdy))  # type: ignore[return-value]
    finite = np.isfinite(value)
    if finite.all():
        return dfdx, dfdy
    return tuple(np.where(finite | ~np.isfinite(g), g, math.nan) for g in (dfdx, dfdy))  # type: ignore[return-value]


def _shaped(value: Any, a: Any, b: Any) -> Any:
    """``value`` broadcast to the shape of ``a`` and ``b`` (a constant part stays a float)."""
    if np.ndim(a) == 0 and np.ndim(b) == 0:
        return np.float64(value)
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()


@dataclass(frozen=True)
class ExpressionFunction(Function2D):
    """A :class:`~gdlab.functions2d.Function2D` made from a typed expression.

    Attributes:
        expression: the text it was made from.
        gradient: ``(∂f/∂x, ∂f/∂y)`` as text.
    """

    expression: str = ""
    gradient: tuple[str, str] = ("", "")


@functools.lru_cache(maxsize=64)
def _compiled(text: str) -> tuple[_Fn, _Fn, _Fn, bool]:
    """f as typed (:func:`_compile_typed`), SymPy's exact derivatives of it, and whether
    they need :func:`_defined_only` (f is not :func:`_total`)."""
    parsed = _parse(text)
    dfdx, dfdy = _derivatives(text)
    memo: dict[Any, _Fn] = {}
    f = _compile_typed(parsed.tree, parsed.constants)
    fx, fy = _compile(dfdx, memo), _compile(dfdy, memo)
    return f, fx, fy, not _total(parsed.tree, parsed.constants)


def _real_input(name: str, value: Any) -> Any:
    """``value`` if it is floating point; integers as float64 (NumPy's integer powers
    overflow, or refuse negative exponents). Bools, complex numbers and the rest are refused."""
    if type(value) is float or isinstance(value, np.floating):
        return value
    a = value if isinstance(value, np.ndarray) else np.asarray(value)
    if a.dtype.kind == "f":
        return value
    if a.dtype.kind not in "iu" or isinstance(value, bool):
        fail(name, "a real number or an array of real numbers", value, kind=TypeError)
    return a.astype(np.float64)


def _check_point(name: str, value: Any) -> Point:
    try:
        x0, y0 = value
    except (TypeError, ValueError):
        fail(name, "a pair (x, y)", value, kind=TypeError)
    return float(check_real(f"{name} x", x0)), float(check_real(f"{name} y", y0))


def _check_range(name: str, value: Any) -> Point:
    try:
        low, high = value
    except (TypeError, ValueError):
        fail(name, "a pair (low, high)", value, kind=TypeError)
    low = check_real(f"{name}[0]", low)
    high = check_real(f"{name}[1]", high, low=low, low_open=True)
    return float(low), float(high)


def function(
    text: str,
    *,
    start: Any = (1.0, 1.0),
    xlim: Any = (-5.0, 5.0),
    ylim: Any = (-5.0, 5.0),
) -> ExpressionFunction:
    """The :class:`ExpressionFunction` of ``text``: ``f`` and its exact gradient.

    It works wherever a registered function does: :func:`gdlab.functions2d.run_path`,
    :class:`gdlab.problems.FunctionProblem`, every optimizer. Its ``name`` is
    ``"expression"`` and it has no known minima.

    Args:
        text: ``f(x, y)``, e.g. ``"x^2/20 + y^2"`` (see the module's rules).
        start: the default start point (default ``(1, 1)``).
        xlim, ylim: the plot ranges (default ``(-5, 5)`` each).

    Raises:
        ExpressionError: what is wrong with the text, and where.
    """
    _check_text(text)
    f, fx, fy, partial = _compiled(text)
    dfdx, dfdy = gradient_text(text)
    point = _check_point("start", start)

    def value(a: Any, b: Any) -> Any:
        a, b = _real_input("x", a), _real_input("y", b)
        return _shaped(f(a, b), a, b)

    def grad(a: Any, b: Any) -> tuple[Any, Any]:
        a, b = _real_input("x", a), _real_input("y", b)
        dfdx, dfdy = fx(a, b), fy(a, b)
        if partial:
            dfdx, dfdy = _defined_only(f(a, b), dfdx, dfdy)
        return _shaped(dfdx, a, b), _shaped(dfdy, a, b)

    return ExpressionFunction(
        name="expression",
        f=value,
        grad=grad,
        minima=(),
        start=point,
        xlim=_check_range("xlim", xlim),
        ylim=_check_range("ylim", ylim),
        description=f"f(x, y) = {' '.join(text.split())}",
        expression=text,
        gradient=(dfdx, dfdy),
    )
