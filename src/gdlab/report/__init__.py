"""The report: figures, interactive charts and the HTML page, drawn from a ``results.json``.

:mod:`gdlab.report.figures` draws every figure that fits a results document
(``docs/results.md`` is the schema) with matplotlib, imported lazily inside the
drawing functions: importing this package or :mod:`gdlab.report.figures` does
not import matplotlib. :mod:`gdlab.report.interactive` gives each curve figure
an interactive twin (SVG drawn by the page's own script), :mod:`gdlab.report.html` writes the
page, :mod:`gdlab.report.maths` renders the optimizers' update rules.

:func:`write` draws a results document's report into its directory;
:func:`build` makes one from runs done in Python (:func:`gdlab.race.race`
records, :func:`gdlab.train.fit` histories, a user's own 2-D function).
"""

from __future__ import annotations

import os
from typing import Any

from gdlab.report.assemble import build

__all__ = ["build", "write"]


def write(
    document: dict[str, Any],
    out_dir: str | os.PathLike,
    *,
    charts: bool = True,
    function: Any = None,
) -> list[dict[str, Any]]:
    """Draw the figures of a results document and write its ``index.html``; return the figures.

    ``charts=False`` leaves out the interactive charts (``--no-js``: the page
    holds the images and no script but its own); ``function`` is the 2-D
    function of a document whose function is not registered (a user's own
    :class:`~gdlab.functions2d.Function2D`).
    """
    from gdlab.report import figures, html

    drawn = figures.draw(document, out_dir, function=function)
    html.write_report(document, drawn, out_dir, charts=charts, function=function)
    return drawn
