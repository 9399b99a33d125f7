"""Numbers and names as text, one way everywhere: tables, messages, file names.

>>> number(0.000123456), number(None), number(3), exact(2.0), exact(0.1), slug("SGD, batch 1")
('0.0001235', '-', '3', '2', '0.1', 'sgd-batch-1')
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

__all__ = [
    "MISSING", "exact", "exact_value", "number", "pad", "slug", "validation_words", "width",
]  # fmt: skip

#: What a table shows where a value does not apply.
MISSING = "-"


def number(value: Any, digits: int = 4, missing: str = MISSING) -> str:
    """A table cell: floats to ``digits`` significant digits, ``None`` and non-finite
    floats as ``missing``, booleans in lower case, the rest as ``str``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def exact(x: float) -> str:
    """A number exactly, integers without a decimal point: ``2``, ``0.1``, ``1e-08``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def exact_value(value: Any) -> str:
    """A hyperparameter's value with every digit (the value a race runs): a finite float
    by :func:`exact` (``0.1543439757117908``), anything else by ``str``."""
    if isinstance(value, float) and math.isfinite(value):
        return exact(value)
    return str(value)


def validation_words(has_data: bool, folds: Any) -> str:
    """How tuning scores a candidate, in tune.json's words: a 2-D function by its final
    loss, one fold as a 20% hold-out, K as K-fold cross-validation."""
    if not has_data:
        return "the final loss (a 2-D function has no data)"
    if folds == 1:
        return "a 20% hold-out of the training set"
    return f"{folds}-fold cross-validation of the training set"


def joined(names: Any) -> str:
    """``a``, ``a and b``, ``a, b and c`` (``""`` for none).

    >>> joined(["SGD", "Adam", "RMSprop"])
    'SGD, Adam and RMSprop'
    """
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def slug(text: str) -> str:
    """``text`` as a file-name part, in lower case: letters and digits of any script
    kept (``"모멘텀"`` stays ``"모멘텀"``, so two Korean labels name two files), ``.``,
    ``_`` and ``-`` too, and every other run of characters one ``-``.

    The text is NFKC-normalised first, so one label typed in two Unicode forms
    (composed or decomposed Hangul, full-width Latin) gives one slug.

    >>> slug("Momentum (β=0.9)"), slug("0.95^epoch · 0.1"), slug("확률적 경사 하강법")
    ('momentum-β-0.9', '0.95-epoch-0.1', '확률적-경사-하강법')
    """
    normal = unicodedata.normalize("NFKC", str(text))
    return re.sub(r"[^\w.-]+", "-", normal).strip("-.").lower() or "run"


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (East Asian) characters two,
    combining marks none, the rest one.

    >>> width("Adam"), width("모멘텀"), width("e\u0301")
    (4, 6, 1)
    """
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def pad(text: str, columns: int, *, left: bool = True) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns (:func:`width`),
    on the right (``left=True``: the text is left-aligned) or the left."""
    fill = " " * max(0, columns - width(text))
    return text + fill if left else fill + text
