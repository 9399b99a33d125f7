"""Numbers and names as text, one way everywhere: tables, messages, file names.

>>> number(0.000123456), number(None), number(3), exact(2.0), exact(0.1), slug("SGD, batch 1")
('0.0001235', '-', '3', '2', '0.1', 'sgd-batch-1')
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MISSING", "exact", "number", "slug"]

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


def slug(text: str) -> str:
    """``text`` as a file-name part: runs of other characters become ``-``, lower case."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.").lower() or "run"
