"""Update rules on the page: an optimizer's docstring, rendered as MathML.

Every optimizer writes its rule once, in its docstring, as a literal block
after a line ending in ``::`` (``Update::``, ``form="book" (...)::``), in a
plain notation: ``←`` and ``=``, ``·`` for products, ``√`` and ``^``/``²``,
Greek letters, ``β1`` for β₁, ``μ_t`` and ``Π_{i≤t}`` for subscripts. This
module reads those blocks and turns each line into MathML Core, which every
current browser renders without scripts or fonts from elsewhere, so the page
shows exactly what ``help(Adam)`` shows, and the two cannot drift.

>>> from gdlab.optim import SGD
>>> [rule.caption for rule in rules(SGD)]
['Update']
>>> print(line_mathml("p ← p − lr·d"))
<math display="block"><mi>p</mi><mo>←</mo><mi>p</mi><mo>−</mo><mi>lr</mi><mo>·</mo><mi>d</mi></math>
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Rule", "choose", "line_mathml", "rule_mathml", "rules", "summary"]

#: Words shown upright as function names when an argument follows.
_FUNCTIONS = frozenset(
    [
        "sign",
        "max",
        "min",
        "clip",
        "mean",
        "RMS",
        "exp",
        "log",
        "sqrt",
        "norm",
        "abs",
        "argmin",
        "argmax",
        "tanh",
        "diag",
    ]
)
#: Short words that are prose, not symbols.
_SHORT_PROSE = frozenset(["if", "of", "or", "to", "by", "at", "on", "in", "as", "is", "be", "and"])

_COLUMN_GAP = re.compile(r"\S(\s{3,})\S")
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:e[-+]?\d+)?)
  | (?P<word>[A-Za-zΑ-Ωα-ωϵϑϕ∇∂ΣΠ][A-Za-z0-9_Α-Ωα-ωϵϑϕ\u0300-\u036f']*)
  | (?P<usup>[²³⁴⁻¹ᵀ]+)
  | (?P<usub>[₀₁₂₃₄₅₆₇₈₉]+)
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | (?P<other>.)
    """,
    re.VERBOSE,
)
_SUPERSCRIPTS = str.maketrans("²³⁴⁻¹ᵀ", "234-1T")
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


@dataclass(frozen=True)
class Rule:
    """One literal block of a docstring: its caption (the text before ``::``) and lines."""

    caption: str
    lines: tuple[str, ...]


def summary(cls: type) -> str:
    """The docstring's first sentence line: what the optimizer does, in words."""
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def rules(cls: type) -> list[Rule]:
    """Every literal block of ``cls``'s docstring that writes a rule, with its caption.

    A class whose docstring writes none has its nearest base class's rules.
    """
    for klass in cls.__mro__:
        found = _own_rules(klass)
        if found:
            return found
    return []


def _own_rules(cls: type) -> list[Rule]:
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""
    lines = doc.splitlines()
    found: list[Rule] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.lstrip().startswith(">>>"):
            caption = _caption(lines, i)
            body, i = _literal_block(lines, i + 1)
            if body:
                found.append(Rule(caption, tuple(body)))
            continue
        i += 1
    return found


def _caption(lines: list[str], end: int) -> str:
    """The paragraph that ends at line ``end`` (with its ``::``), as plain text."""
    start = end
    while start > 0 and lines[start - 1].strip():
        start -= 1
    text = " ".join(line.strip() for line in lines[start : end + 1])
    text = text[:-2].rstrip() if text.endswith("::") else text
    return text.replace("``", "")


def _literal_block(lines: list[str], start: int) -> tuple[list[str], int]:
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        return [], i
    indent = len(lines[i]) - len(lines[i].lstrip())
    if indent == 0:
        return [], i
    body: list[str] = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) >= indent):
        body.append(lines[i][indent:].rstrip())
        i += 1
    while body and not body[-1]:
        body.pop()
    return _joined(body), i


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _joined(body: list[str]) -> list[str]:
    """Continuation lines (deeper indented) joined to the line they continue."""
    out: list[str] = []
    for line in body:
        if out and line.startswith(" ") and line.strip():
            out[-1] += " " + line.strip()
        elif line.strip():
            out.append(line)
    return out


def choose(cls: type, hyperparameters: Mapping[str, Any] | None = None) -> list[Rule]:
    """The blocks that describe this run: the one for its ``form`` if the docstring
    has one per form, else every block."""
    found = rules(cls)
    form = (hyperparameters or {}).get("form")
    if form is not None:
        own = [r for r in found if f'form="{form}"' in r.caption]
        if own:
            return own
    return found


def rule_mathml(rule: Rule, names: Iterable[str] = ()) -> list[list[str]]:
    """Each line of ``rule`` as one or more ``<math>`` elements (one per column)."""
    return [line_mathml_columns(line, names) for line in rule.lines]


def line_mathml_columns(line: str, names: Iterable[str] = ()) -> list[str]:
    """A line split at gaps of three or more spaces, each part rendered by :func:`line_mathml`."""
    parts = _split_columns(line)
    return [line_mathml(part, names) for part in parts if part.strip()]


def _split_columns(line: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _COLUMN_GAP.finditer(line):
        parts.append(line[start : match.start(1)])
        start = match.end(1)
    parts.append(line[start:])
    return [p.strip() for p in parts]


def line_mathml(text: str, names: Iterable[str] = ()) -> str:
    """One line of the notation as a ``<math display="block">`` element.

    ``names`` are the optimizer's hyperparameter names: they stay whole
    (``beta2_decay`` is one symbol, not β2 with a subscript).
    """
    tokens = _tokens(text)
    parser = _Parser(tokens, frozenset(names))
    body = parser.sequence(stop=None)
    return f'<math display="block">{body}</math>'


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group()))
    return out


class _Parser:
    """A small recursive descent over tokens: groups, roots, powers, subscripts, words."""

    def __init__(self, tokens: list[tuple[str, str]], names: frozenset[str]) -> None:
        self.tokens = tokens
        self.i = 0
        self.names = names

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.i += 1
        return token

    def sequence(self, stop: str | None) -> str:
        out = []
        while True:
            kind, value = self.peek()
            if kind == "end" or (kind == "close" and stop is not None):
                break
            if kind == "close":  # an unmatched closing bracket: show it
                self.take()
                out.append(_mo(value))
                continue
            if kind == "space":
                self.take()
                if out and (self._prose_ahead() or out[-1].startswith("<mtext>")):
                    out.append('<mspace width="0.3em"></mspace>')
                continue
            out.append(self.postfix(self.atom()))
        return "".join(out)

    def _prose_ahead(self) -> bool:
        kind, value = self.peek()
        return kind == "word" and self._is_prose(value)

    def atom(self) -> str:
        kind, value = self.take()
        if kind == "number":
            return f"<mn>{_esc(value)}</mn>"
        if kind == "word":
            return self.word(value)
        if kind == "open":
            if self._is_comment():
                return self.comment(value)
            inner = self.sequence(stop=value)
            close = self.take()[1] if self.peek()[0] == "close" else ""
            return f"<mrow>{_mo(value)}{inner}{_mo(close) if close else ''}</mrow>"
        if kind == "other" and value == "√":
            return f"<msqrt>{self._radicand()}</msqrt>"
        if kind == "usup":  # a superscript with nothing before it
            return f"<mn>{_esc(value.translate(_SUPERSCRIPTS))}</mn>"
        if kind == "usub":
            return f"<mn>{_esc(value.translate(_SUBSCRIPTS))}</mn>"
        return _mo(value)

    def _radicand(self) -> str:
        kind, value = self.peek()
        if kind == "open":
            self.take()
            inner = self.sequence(stop=value)
            if self.peek()[0] == "close":
                self.take()
            return inner
        if kind in ("end", "space"):
            return ""
        return self.postfix(self.atom())

    def postfix(self, base: str) -> str:
        while True:
            kind, value = self.peek()
            if kind == "usup":
                self.take()
                sup = value.translate(_SUPERSCRIPTS)
                tag = "mi" if sup == "T" else "mn"
                base = f"<msup>{base}<{tag}>{_esc(sup)}</{tag}></msup>"
            elif kind == "usub":
                self.take()
                base = f"<msub>{base}<mn>{_esc(value.translate(_SUBSCRIPTS))}</mn></msub>"
            elif kind == "other" and value == "^":
                self.take()
                base = f"<msup>{base}{self._script()}</msup>"
            else:
                return base

    def _script(self) -> str:
        kind, value = self.peek()
        if kind == "open":
            self.take()
            inner = self.sequence(stop=value)
            if self.peek()[0] == "close":
                self.take()
            return f"<mrow>{inner}</mrow>"
        if kind == "other" and value in "-−":
            self.take()
            return f"<mrow>{_mo('−')}{self.postfix(self.atom())}</mrow>"
        if kind in ("end", "space"):
            return "<mrow></mrow>"
        return self.atom()

    def word(self, value: str) -> str:
        if self._is_prose(value):
            return f"<mtext>{_esc(value)}</mtext>"
        if value in self.names:
            return f"<mi>{_esc(value)}</mi>"
        head, sep, tail = value.partition("_")
        if sep and head and tail:
            return f"<msub>{self._symbol(head)}{self._subscript(tail)}</msub>"
        if sep and head and not tail and self.peek()[0] == "open":  # Π_{i≤t}, max_{i: ...}
            self.take()
            inner = self.sequence(stop="}")
            if self.peek()[0] == "close":
                self.take()
            return f"<msub>{self._symbol(head)}<mrow>{inner}</mrow></msub>"
        return self._symbol(value)

    def _subscript(self, tail: str) -> str:
        if tail.isdigit():
            return f"<mn>{_esc(tail)}</mn>"
        return self._symbol(tail)

    def _symbol(self, value: str) -> str:
        match = re.fullmatch(r"([A-Za-zΑ-Ωα-ωϵϑϕ][\u0300-\u036f']*)(\d+)", value)
        if match:  # β1, ε2, d0: a letter with a numeric index
            return f"<msub><mi>{_esc(match.group(1))}</mi><mn>{match.group(2)}</mn></msub>"
        if value in _FUNCTIONS and self.peek()[0] in ("open", "word", "space"):
            return f'<mi mathvariant="normal">{_esc(value)}</mi><mo>&#x2061;</mo>'
        return f"<mi>{_esc(value)}</mi>"

    def _is_prose(self, value: str) -> bool:
        if value in self.names or value in _FUNCTIONS:
            return False
        if not value.isascii() or not value.isalpha():
            return False
        if value.lower() in _SHORT_PROSE:
            return True
        return len(value) >= 3 and value.islower()

    def _is_comment(self) -> bool:
        """A bracket whose words are prose ("(the oldest goes past history_size)")."""
        depth, j = 1, self.i
        words = 0
        while j < len(self.tokens) and depth:
            kind, value = self.tokens[j]
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth -= 1
            elif kind == "word" and self._is_prose(value) and value.lower() not in ("if",):
                words += 1
            j += 1
        return words >= 2

    def comment(self, opening: str) -> str:
        depth, parts = 1, [opening]
        while self.peek()[0] != "end":
            kind, value = self.take()
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth -= 1
            parts.append(value)
            if depth == 0:
                break
        return f"<mtext>\u2003{_esc(''.join(parts))}</mtext>"


def _mo(value: str) -> str:
    symbol = {"-": "−", "*": "·"}.get(value, value)
    return f"<mo>{_esc(symbol)}</mo>"


def _esc(text: str) -> str:
    return html.escape(text, quote=False)
