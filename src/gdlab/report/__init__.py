"""The report: figures (and, later, the HTML page) drawn from a ``results.json`` document.

:mod:`gdlab.report.figures` draws every figure that fits a results document
(``docs/results.md`` is the schema). It is the only module of gdlab that uses
matplotlib, and it imports it lazily, inside the drawing functions: importing
this package or :mod:`gdlab.report.figures` does not import matplotlib.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["write"]


def write(document: dict[str, Any], out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Draw the figures of a results document and write its ``index.html``; return the figures."""
    from gdlab.report import figures, html

    drawn = figures.draw(document, out_dir)
    html.write_report(document, drawn, out_dir)
    return drawn
