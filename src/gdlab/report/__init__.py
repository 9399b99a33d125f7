"""The report: figures (and, later, the HTML page) drawn from a ``results.json`` document.

:mod:`gdlab.report.figures` draws every figure that fits a results document
(``docs/results.md`` is the schema). It is the only module of gdlab that uses
matplotlib, and it imports it lazily, inside the drawing functions: importing
this package or :mod:`gdlab.report.figures` does not import matplotlib.
"""
