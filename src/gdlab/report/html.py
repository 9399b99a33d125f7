"""The report: one self-contained ``index.html`` per results document.

The page needs nothing but itself: figures are inline (PNG as ``data:`` URIs by
default, or SVG markup), styles and scripts are inline (the charts' own
``charts.js`` among them, about 30 kB), and a Content-Security-Policy forbids
loading anything else. In page order it shows:

* the title, where the experiment comes from and what ran (the description),
  the exact command and the status (with a notice for an interrupted race);
* a summary: the runs ranked (each group once, mean over its seeds), or a
  tuned race's comparison table;
* the optimizers: for each one that ran, its update rule in the form that ran,
  rendered as MathML from its docstring (:mod:`gdlab.report.maths`, so the page
  and ``help()`` cannot drift), what its symbols mean, the sentence that says
  what it does, and the hyperparameters of the runs that used it;
* the figures, each with "what to look for", its caption and, for a curve
  figure, its interactive twin (:mod:`gdlab.report.interactive`; hover, zoom,
  legend, log switch, smoothing), the PNG kept beneath it (``charts=False``:
  the PNG alone, and no chart script); an image links to its full-size PNG and never
  shrinks below :data:`READABLE_SHARE` of its width (a phone scrolls it sideways in its
  box, not the page);
* every run in a table that sorts by any column (collapsed when long);
* the environment (versions, machine, configuration).

A small script records script errors and broken images and, once the page has
loaded, writes ``{"errors": [...], "brokenImages": [...], "images": n,
"svgs": n, "figures": n, "rows": n, "charts": n}`` into
``document.body.dataset.reportCheck`` (the ``data-report-check`` attribute) for
the browser test to read; the charts' script writes ``data-charts-ready``
when every chart is drawn.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import struct
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gdlab import _io
from gdlab._text import joined, number
from gdlab.report import stops, tuning_text
from gdlab.report.schema import dumps

__all__ = ["render_report", "write_report"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MISSING = "–"  # shown for a value that does not apply
#: A runs table with more rows than this is collapsed (a click opens it).
LONG_TABLE = 12
_number = functools.partial(number, missing=_MISSING)

_CSS = """
:root {
  color-scheme: light dark;
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa;
  --zebra: #f6f8fa; --line: #d1d9e0; --accent: #0969da; --note-bg: #ddf4ff;
  --warn-bg: #fff8c5; --warn-line: #d4a72c; --bad: #cf222e; --bad-bg: #ffebe9;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23;
    --zebra: #151b23; --line: #3d444d; --accent: #4493f8; --note-bg: #0c2d4a;
    --warn-bg: #2e2a12; --warn-line: #9e6a03; --bad: #ff7b72; --bad-bg: #3a1618;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
    "Noto Sans", "Liberation Sans", Arial, sans-serif;
}
main { max-width: 80rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.9rem; line-height: 1.25; margin: 0 0 .5rem; overflow-wrap: anywhere; }
h2 { font-size: 1.35rem; margin: 2.5rem 0 .75rem; padding-bottom: .3rem;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 0 0 .5rem; }
p { margin: .5rem 0; }
.lead p { max-width: 52rem; }
.meta { color: var(--muted); margin: 0; padding: 0; list-style: none; }
.meta li { display: inline-block; margin-right: 1.25rem; }
nav.toc { margin: 1rem 0; color: var(--muted); }
nav.toc a { color: var(--accent); margin-right: .9rem; white-space: nowrap; }
code, pre { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas,
  "Liberation Mono", monospace; font-size: .9em; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: .75rem 1rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.notice { border: 1px solid var(--warn-line); background: var(--warn-bg);
  border-radius: 6px; padding: .75rem 1rem; margin: 1rem 0; }
.status-complete { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
caption { text-align: left; color: var(--muted); padding: .25rem 0 .5rem; }
th, td { padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td:first-child, td.status { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--zebra); }
thead th { text-align: left; padding: 0; white-space: nowrap; }
thead th.number { text-align: right; }
thead th button {
  font: inherit; font-weight: 600; color: inherit; background: none; border: 0;
  padding: .4rem 1.3rem .4rem .5rem; width: 100%; text-align: inherit; cursor: pointer;
  position: relative;
}
thead th button:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
thead th button::after { position: absolute; right: .4rem; color: var(--muted); content: ""; }
thead th[aria-sort="ascending"] button::after { content: "\\25B2"; }
thead th[aria-sort="descending"] button::after { content: "\\25BC"; }
tr.diverged td { color: var(--bad); }
tr.diverged td.status { font-weight: 600; }
tr.diverged { background: var(--bad-bg) !important; }
.reason { display: block; font-size: .85em; color: var(--muted); font-weight: 400;
  white-space: normal; max-width: 16rem; }
td.hp { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85em;
  min-width: 12rem; white-space: normal; overflow-wrap: anywhere; }
table.ranking { width: auto; min-width: min(100%, 36rem); }
table.ranking td.rank { color: var(--muted); }
table.ranking thead th { padding: .4rem .5rem; }
.table-note { color: var(--muted); font-size: .9rem; }
#comparison-table thead th { white-space: normal; vertical-align: bottom; }
dl.symbols.common { max-width: 52rem; margin-bottom: 1rem; }
figure { margin: 2rem 0 3rem; }
figure img, figure svg { display: block; max-width: 100%; height: auto;
  background: #ffffff; border-radius: 4px; }
.figure-scroll { overflow-x: auto; }
.hidden-text { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip-path: inset(50%); white-space: nowrap; }
.figure-scroll > a.full-size { display: inline-block; vertical-align: top; cursor: zoom-in;
  border-radius: 4px; }
.figure-scroll > a.full-size:focus-visible { outline: 3px solid var(--accent);
  outline-offset: -3px; }
.figure-scroll > img, .figure-scroll > svg, .figure-scroll > a > img,
.figure-scroll > a > svg { min-width: var(--readable, 0); }
.scroll-hint { display: none; }
figcaption { color: var(--muted); margin-top: .5rem; font-size: .92rem; }
.look-for { background: var(--note-bg); border-radius: 6px; padding: .6rem .9rem;
  margin: .75rem 0; max-width: 60rem; }
.chart-box { border: 1px solid var(--line); border-radius: 6px; padding: .5rem;
  background: #ffffff; color: #1f2328; }
.chart-area { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: .25rem .75rem;
  align-items: start; }
.chart { position: relative; min-width: 0; min-height: 320px; }
.chart svg.plot { display: block; width: 100%; height: auto; cursor: crosshair;
  touch-action: pan-y; user-select: none; font: 11px system-ui, -apple-system, "Segoe UI",
  Roboto, Arial, sans-serif; }
.chart svg.plot .frame { fill: #ffffff; stroke: #bfc5cc; }
.chart svg.plot .grid { stroke: #e6e9ec; fill: none; }
.chart svg.plot .ticks text { fill: #57606a; }
.chart svg.plot .title { fill: #1f2328; font-size: 12px; }
.chart svg.plot .contour path { fill: none; stroke-width: .8; }
.chart svg.plot .hover-ring { fill: none; stroke-width: 2; pointer-events: none; }
.chart .tooltip { position: absolute; pointer-events: none; background: #ffffff;
  border: 1px solid #8c959f; border-radius: 4px; padding: .3rem .5rem; font-size: .82rem;
  line-height: 1.35; box-shadow: 0 2px 6px rgba(0, 0, 0, .15); white-space: nowrap; z-index: 2; }
.chart .zoom-band { position: absolute; background: rgba(9, 105, 218, .12);
  border: 1px solid rgba(9, 105, 218, .6); pointer-events: none; }
ul.legend { list-style: none; margin: .75rem 0 0; padding: 0; font-size: .85rem;
  max-width: 15rem; }
ul.legend li { margin: 0; }
ul.legend button { display: flex; align-items: center; gap: .35rem; width: 100%;
  font: inherit; color: #1f2328; background: none; border: 0; padding: .15rem .25rem;
  text-align: left; cursor: pointer; border-radius: 3px; }
ul.legend button:hover, ul.legend button:focus-visible { background: #eef1f4; }
ul.legend button[aria-pressed="false"] { opacity: .4; }
ul.legend button[aria-pressed="false"] span { text-decoration: line-through; }
ul.legend svg { flex: none; }
.controls { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center;
  font-size: .9rem; padding: .25rem .25rem .5rem; }
.controls .group { display: inline-flex; align-items: center; gap: .35rem; }
.controls button { font: inherit; padding: .2rem .6rem; border: 1px solid #d1d9e0;
  background: #f6f8fa; color: #1f2328; border-radius: 4px; cursor: pointer; }
.controls button[aria-pressed="true"] { background: #0969da; border-color: #0969da;
  color: #ffffff; }
.controls input[type="range"] { width: 10rem; max-width: 40vw; }
.controls output { font-variant-numeric: tabular-nums; min-width: 11rem; }
.chart-help { color: #59636e; font-size: .82rem; margin: .25rem .25rem 0; }
details.static { margin: .5rem 0; }
.chart-lead { color: var(--muted); font-size: .92rem; margin-top: 1rem; }
details.static > summary { font-weight: 400; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 30rem), 1fr));
  gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .9rem 1rem;
  background: var(--bg); min-width: 0; }
.card h3 { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem .6rem; }
.card .tags { font-size: .8rem; font-weight: 400; color: var(--muted); }
.card .used { color: var(--muted); font-size: .9rem; margin-top: 0; }
.rule { background: var(--panel); border-radius: 6px; padding: .4rem .75rem; margin: .5rem 0;
  overflow-x: auto; }
.rule .caption { font-size: .8rem; color: var(--muted); margin: .25rem 0; }
.rule .line { display: flex; flex-wrap: wrap; gap: .25rem 2.5rem; align-items: center; }
.rule math { font-size: 1.15em; margin: .3rem 0; }
dl.symbols { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .75rem;
  font-size: .9rem; margin: .5rem 0; }
dl.symbols dt { font-weight: 600; text-align: right; }
dl.symbols dd { margin: 0; }
dl.hp { margin: .5rem 0 0; font-size: .9rem; }
dl.hp dt { font-weight: 600; }
dl.hp dd { margin: 0 0 .4rem; font-family: ui-monospace, Menlo, Consolas, monospace;
  font-size: .85em; overflow-wrap: anywhere; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.env dt { font-weight: 600; }
dl.env dd { margin: 0; overflow-wrap: anywhere; }
details { margin: 1rem 0; }
summary { cursor: pointer; font-weight: 600; }
@media (max-width: 40rem) {
  .chart-area { grid-template-columns: minmax(0, 1fr); }
  ul.legend { max-width: none; display: flex; flex-wrap: wrap; gap: 0 .5rem; margin-top: .25rem; }
  ul.legend button { width: auto; }
  main { padding: 1rem .75rem 2rem; }
  h1 { font-size: 1.5rem; }
  .meta li { display: block; }
  dl.env { grid-template-columns: 1fr; }
  .controls output { min-width: 0; }
  table.ranking .best { display: none; }
  table.ranking td { white-space: normal; }  /* it fits the screen; the others scroll */
  .scroll-hint { display: block; color: var(--muted); font-size: .85rem; margin: .25rem 0 0; }
}
"""

# Records errors and broken images; on load, writes the outcome into
# document.body.dataset.reportCheck. Silent when all is well.
_CHECK_JS = """
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target !== window && target.tagName) {
      errors.push("failed to load <" + target.tagName.toLowerCase() + ">");
    } else {
      errors.push(String(event.message || "error"));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (event) {
    errors.push("unhandled rejection: " + String(event.reason));
  });
  window.addEventListener("load", function () {
    var broken = [];
    Array.prototype.forEach.call(document.images, function (img) {
      if (!img.complete || img.naturalWidth === 0) {
        broken.push(img.getAttribute("alt") || img.src.slice(0, 64));
      }
    });
    var rows = 0;
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (t) {
      rows += t.tBodies[0].rows.length;
    });
    document.body.dataset.reportCheck = JSON.stringify({
      errors: errors,
      brokenImages: broken,
      images: document.images.length,
      svgs: document.querySelectorAll("figure svg").length,
      figures: document.querySelectorAll("figure").length,
      rows: rows,
      charts: document.querySelectorAll(".chart-box[data-chart]").length
    });
  });
})();
"""

# Sorts the runs table by the clicked column: numbers by value, text in
# natural order; missing values last in either direction; ties keep the order
# the runs ran in.
_SORT_JS = """
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
  function sortable(table) {
  var heads = table.tHead.rows[0].cells;
  var body = table.tBodies[0];
  function value(row, column) {
    var cell = row.cells[column];
    var raw = cell.getAttribute("data-value");
    return raw === null ? cell.textContent.trim() : raw;
  }
  function sortBy(column, numeric, ascending) {
    var rows = Array.prototype.slice.call(body.rows);
    var sign = ascending ? 1 : -1;
    rows.sort(function (a, b) {
      var x = value(a, column), y = value(b, column);
      var order;
      if (x === "" || y === "") {
        order = (x === "") - (y === "");
      } else if (numeric) {
        order = sign * (parseFloat(x) - parseFloat(y));
      } else {
        order = sign * x.localeCompare(y, undefined, {numeric: true, sensitivity: "base"});
      }
      return order || (a.getAttribute("data-index") - b.getAttribute("data-index"));
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(heads, function (th, column) {
    var button = th.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      sortBy(column, button.getAttribute("data-type") === "number", ascending);
      Array.prototype.forEach.call(heads, function (other) {
        other.setAttribute("aria-sort", "none");
      });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    });
  });
  }
})();
"""

_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)


def _e(value: Any) -> str:
    """``value`` as escaped HTML text (attributes included)."""
    return escape("" if value is None else str(value), quote=True)


def _script_json(value: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` can end it."""
    text = dumps(value, indent=None)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# Settings of the implementation rather than of the update rule: not in the table
# (the cell's tooltip and results.json keep every hyperparameter).
_NOT_SHOWN = frozenset({"fused", "nonfinite"})


def _shown(key: str, value: Any) -> bool:
    """Whether a hyperparameter is worth a place in the compact form: not unset,
    off or zero (``lr`` always is)."""
    if key == "lr":
        return True
    if key in _NOT_SHOWN or value is None or value is False:
        return False
    return not (isinstance(value, int | float) and value == 0)


def _compact(value: Any) -> str:
    """A hyperparameter value in a few characters: ``0.001``, ``[0.9, 0.999]``,
    ``exponential(lr0=0.1, rate=0.95)``."""
    if isinstance(value, Mapping):
        name = value.get("name", value.get("kind"))
        inner = ", ".join(
            f"{k}={_compact(v)}"
            for k, v in value.items()
            if k not in ("name", "kind") and _shown(k, v)
        )
        return f"{name}({inner})" if isinstance(name, str) else f"{{{inner}}}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if value is None:
        return "none"
    return _number(value)


def _hyperparameters(hp: Mapping[str, Any]) -> str:
    """The hyperparameters that matter, compactly: ``lr=0.01, beta1=0.9, beta2=0.999``.

    A schedule (``{"lr": {"schedule": {...}}}``, or ``{"schedule": {...}}``)
    shows as ``lr=exponential(lr0=0.001, rate=0.95, per=epoch)``.
    """
    parts = []
    for key, value in hp.items():
        if key == "schedule":  # the schedule's own table
            parts.append(f"lr={_compact(value)}")
        elif key == "lr" and isinstance(value, Mapping):
            parts.append(f"lr={_compact(_schedule_table(value))}")
        elif _shown(key, value):
            parts.append(f"{key}={_compact(value)}")
    return ", ".join(parts)


def _schedule_table(lr: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schedule's table in an ``lr`` table (:func:`gdlab.schedules.config_of`: a
    warm-up's own ``schedule`` is the schedule it wraps, kept); ``lr`` itself when it is
    not one that reads (a report shows what was recorded)."""
    from gdlab._checks import ConfigError
    from gdlab.schedules import config_of

    try:
        return config_of(lr)
    except ConfigError:
        return lr


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text or "") if b.strip()]
    return "\n".join(f"<p>{_e(b)}</p>" for b in blocks)


# --- the runs table ---------------------------------------------------------

_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (key, header, type)
    ("label", "Run", "text"),
    ("optimizer", "Optimizer", "text"),
    ("seed", "Seed", "number"),
    ("status", "Status", "text"),
    ("final_loss", "Final loss", "number"),
    ("best_loss", "Best loss", "number"),
    ("train_accuracy", "Train acc.", "number"),
    ("test_accuracy", "Test acc.", "number"),
    ("steps", "Steps", "number"),
    ("seconds", "Seconds", "number"),
    ("hyperparameters", "Hyperparameters", "text"),
)


def _status_text(run: Mapping[str, Any]) -> str:
    """``ok``, ``diverged at step 2`` (:func:`gdlab.report.stops.divergence_words`),
    ``stopped at step 5``, ``failed``."""
    status = run.get("status", "ok")
    words = stops.divergence_words(run)
    if words:
        return words
    step = run.get("stopped_at")
    if status == "stopped" and step is not None:
        return f"stopped at step {step}"
    return str(status)


def _reason_text(run: Mapping[str, Any]) -> str:
    """The run's ``reason`` less the words :func:`_status_text` already shows
    (``diverged at step 2: loss …`` becomes ``loss …``)."""
    reason = str(run.get("reason") or "")
    words = stops.divergence_words(run)
    if words and reason.startswith(words):
        reason = reason[len(words) :].lstrip(": ")
    return reason


def _cell(run: Mapping[str, Any], key: str) -> str:
    metrics = run.get("metrics") or {}
    if key == "label":
        title = f' title="{_e(run["id"])}"' if run.get("id") else ""
        return f"<td{title}>{_e(run.get('label', run.get('id', '')))}</td>"
    if key == "optimizer":
        preset = run.get("preset")
        text = run.get("optimizer", "") + (f" ({preset})" if preset else "")
        return f"<td>{_e(text)}</td>"
    if key == "status":
        reason = _reason_text(run)
        extra = f'<span class="reason">{_e(reason)}</span>' if reason else ""
        return f'<td class="status" data-value="{_e(run.get("status", ""))}">' + (
            f"{_e(_status_text(run))}{extra}</td>"
        )
    if key == "hyperparameters":
        hp = run.get("hyperparameters") or {}
        every = json.dumps(hp, separators=(", ", ": "), allow_nan=False, ensure_ascii=False)
        return f'<td class="hp" title="{_e(every)}">{_e(_hyperparameters(hp))}</td>'
    value = run.get(key) if key in ("seed", "steps", "seconds") else metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f'<td class="num" data-value="">{_MISSING}</td>'
    if "accuracy" in key:
        shown = f"{100 * value:.1f}%"
    elif key == "seconds":
        shown = f"{value:.3g}"
    else:
        shown = _number(value)
    return f'<td class="num" data-value="{value!r}">{_e(shown)}</td>'


def _table(runs: Sequence[Mapping[str, Any]], table_id: str = "runs") -> str:
    if not runs:
        return "<p>This experiment has no runs; its figures show the data it computed.</p>"
    present = {
        key
        for run in runs
        for key, value in (run.get("metrics") or {}).items()
        if value is not None
    }
    columns = [c for c in _COLUMNS if "accuracy" not in c[0] or c[0] in present]
    head = "".join(
        f'<th scope="col" class="{kind}" aria-sort="none">'
        f'<button type="button" data-type="{kind}">'
        f"{_e(header)}</button></th>"
        for _, header, kind in columns
    )
    rows = []
    for index, run in enumerate(runs):
        status = run.get("status", "ok")
        css = "run" + (" diverged" if status in ("diverged", "failed") else "")
        cells = "".join(_cell(run, key) for key, _, _ in columns)
        rows.append(f'<tr class="{_e(css)}" data-index="{index}">{cells}</tr>')
    body = "\n".join(rows)
    # the sentence above the table, not its caption: a caption is as wide as the table
    # and, on a narrow screen, is cut off with it at the scrolling box's edge
    table = (
        f'<p class="table-note" id="{_e(table_id)}-note">One row per run. Select a column '
        "header to sort by it.</p>\n"
        f'<div class="table-wrap"><table id="{_e(table_id)}" class="sortable" '
        f'aria-describedby="{_e(table_id)}-note">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>"
    )
    if len(runs) <= LONG_TABLE:
        return table
    return (
        f'<details class="runs"><summary>Show all {len(runs)} runs, one row each</summary>\n'
        f"{table}\n</details>"
    )


def _pm(mean: Any, std: Any) -> tuple[str, str]:
    """``"mean ± std"`` and the sort value."""
    if mean is None:
        return _MISSING, ""
    text = _number(mean) + ("" if std is None else f" ± {_number(std, 2)}")
    return text, repr(float(mean))


def _pm_percent(mean: Any, std: Any) -> tuple[str, str]:
    """An accuracy's ``"88.0% ± 0.5%"`` (the spread in percentage points, written as the
    charts' hover writes it) and sort value."""
    if mean is None:
        return _MISSING, ""
    text = f"{100 * mean:.1f}%" + ("" if std is None else f" ± {100 * std:.1f}%")
    return text, repr(float(mean))


def _chosen_point(c: Mapping[str, Any]) -> Mapping[str, Any]:
    """The tuning's scores of the setting it chose: its point in tune.json's ``points``
    (both metrics, each with its spread over the folds), or, where there are no points,
    what ``best`` keeps (the loss's mean and spread, the accuracy's mean)."""
    best = c.get("best") or {}
    for point in c.get("points") or ():
        if isinstance(point, Mapping) and point.get("hyperparameters") == best.get(
            "hyperparameters"
        ):
            return point
    return {"mean_loss": best.get("mean"), "std_loss": best.get("std"),
            "mean_accuracy": best.get("accuracy")}  # fmt: skip


def _validation_kinds(series: Mapping[str, Any], results: Mapping[str, Any]) -> list[str]:
    """The tuning's scores the comparison shows: ``loss`` (validation loss) and, for a
    classifier, ``accuracy``; none for a 2-D function (no validation) or a series
    without its configurations' scores."""
    if tuning_text.is_function(series, results):
        return []
    points = [
        _chosen_point(c)
        for c in (series.get("configurations") or {}).values()
        if isinstance(c, Mapping)
    ]
    return [
        kind
        for kind in ("loss", "accuracy")
        if any(point.get(f"mean_{kind}") is not None for point in points)
    ]


def _chose(series: Mapping[str, Any]) -> str | None:
    """The score that chose each configuration's setting (``loss``, ``accuracy``), where
    the results record it."""
    words = tuning_text.selected_by(series) or ""
    return next((kind for kind in ("accuracy", "loss") if kind in words), None)


def _validation_cells(
    c: Mapping[str, Any], kinds: Sequence[str], spread: bool, chose: str | None = None
) -> list[tuple[str, str]]:
    """The chosen setting's validation loss and accuracy, as mean ± std over the folds
    (``spread``; a hold-out has one score); then the default's score that ``chose`` (the
    choice is never worse than it on that score)."""
    point = _chosen_point(c)
    cells = []
    if chose in kinds:
        default = c.get("default")
        default = default if isinstance(default, Mapping) else {}
        mean = default.get(f"mean_{chose}")
        std = default.get(f"std_{chose}") if spread else None
        cells_default = [_pm(mean, std) if chose == "loss" else _pm_percent(mean, std)]
    else:
        cells_default = []
    for kind in kinds:
        mean = point.get(f"mean_{kind}")
        std = point.get(f"std_{kind}") if spread else None
        cells.append(_pm(mean, std) if kind == "loss" else _pm_percent(mean, std))
    return cells + cells_default


def _tuned_cell(c: Mapping[str, Any], name: str) -> tuple[str, str]:
    """One configuration's tuned value of ``name`` with every digit (the race ran it), its
    default said and a value at the edge of what tuning may try flagged; a dash where the
    configuration did not tune ``name``."""
    own = c.get("tuned")
    hp = (c.get("best") or {}).get("hyperparameters") or {}
    argument = tuning_text.argument(c, name)  # decay: RMSprop's alpha, Adadelta's rho
    if argument not in hp or (isinstance(own, list) and name not in own):
        return _MISSING, ""
    value = hp[argument]
    text = tuning_text.value_text(value)
    if (c.get("best") or {}).get("default"):
        text += " (its default)"
    at_bound, at_edge = tuning_text.edges(c)
    if argument in at_bound:
        text += " (at bound)"
    elif argument in at_edge:
        text += " (at edge)"
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return text, repr(float(value)) if numeric else ""


def _comparison_label(row: Mapping[str, Any]) -> str:
    """The run a comparison row is of: its label (a report made before rows had one:
    its ``group``, then the label of a run that was its own group)."""
    return str(row.get("label") or row["group"])


def _comparison_cells(
    row: Mapping[str, Any], c: Mapping[str, Any], names: Sequence[str], accuracy: bool
) -> list[tuple[str, str]]:
    label, group = _comparison_label(row), row.get("group")
    name = label if group in (None, label) else f"{label} (in group {group})"  # as the Summary
    loss, loss_key = _pm(row.get("final_loss_mean"), row.get("final_loss_std"))
    acc = _pm_percent(row.get("test_accuracy_mean"), row.get("test_accuracy_std"))
    steps = row.get("steps_to_target")
    within = row.get("within_10_percent")
    cells = [
        (name, ""),
        *(_tuned_cell(c, tuned) for tuned in names),
        (str(row["seeds"]), str(row["seeds"])),
        (loss, loss_key),
        acc,
        (_MISSING if steps is None else str(steps), "" if steps is None else str(steps)),
        (
            _MISSING if within is None else f"{100 * within:.0f}%",
            "" if within is None else repr(within),
        ),
        (str(row.get("diverged", 0)), str(row.get("diverged", 0))),
    ]
    if not accuracy:
        del cells[3 + len(names)]
    return cells


#: The comparison's headers of the tuning's scores of the chosen setting.
_VALIDATION_HEADS = {"loss": "Validation loss", "accuracy": "Validation acc."}


def _validation_text(series: Mapping[str, Any], kinds: Sequence[str]) -> str:
    """What the validation columns show, and which of them chose."""
    if not kinds:
        return ""
    folds = series.get("folds")
    spread = (
        f"mean ± standard deviation over its {folds} folds"
        if isinstance(folds, int) and folds > 1
        else "one score, on its hold-out"
        if folds == 1
        else "mean ± standard deviation"
    )
    scores = "scores" if len(kinds) > 1 else "score"
    text = f". Validation {' and '.join(kinds)}: the chosen setting's {scores} in the tuning"
    text += f" ({spread})"
    chose = _chose(series)
    if chose in kinds:
        text += (
            f"; “(chose it)” marks the validation {chose}, the score that chose it, and the "
            f"default's validation {chose} beside it shows that the choice is never worse"
        )
    return text


def _comparison_text(
    series: Mapping[str, Any],
    results: Mapping[str, Any],
    names: Sequence[str],
    accuracy: bool,
    kinds: Sequence[str] = (),
) -> str:
    """What the tuning did, exactly: its search and budget, its validation, what chose the
    best, the hyperparameters it tuned; then what the table shows."""
    validation = tuning_text.validation(series, results)
    if series.get("folds") != 1 and not tuning_text.is_function(series, results):  # K folds
        validation += ", as seed 002's lecture advises when data is scarce"
    chosen = tuning_text.selected_by(series)
    metric = str(series.get("metric") or "validation loss")
    flags = {
        flag
        for c in (series.get("configurations") or {}).values()
        if isinstance(c, Mapping)
        for n in names
        for flag in ("(at bound)", "(at edge)")
        if flag in _tuned_cell(c, n)[0]
    }
    text = (
        "Each configuration raced at the settings its tuning chose. The tuning tried "
        f"{tuning_text.search(series)}; it scored each candidate by {validation}"
    )
    text += f"; it chose the best by {chosen}" if chosen else ""
    shown = [tuning_text.column_name(series, n) for n in names]
    text += f". Tuned: {', '.join(shown)}, each shown with every digit the race ran"
    if len(names) > 1:
        text += " (a dash where a configuration has no such hyperparameter or did not tune it)"
    if "(at bound)" in flags:
        text += (
            "; “(at bound)” marks a value at a hard bound of what tuning may try: tuning "
            "may not go further"
        )
    if "(at edge)" in flags:
        text += (
            "; “(at edge)” marks a value still at the edge of the values tried when widening "
            "stopped after its six rounds: the best may lie beyond it, and a new tuning "
            "with a smaller budget (larger steps) would try further"
        )
    text += _validation_text(series, kinds)
    loss = "final loss" if tuning_text.is_function(series, results) else "final training loss"
    return text + (
        f". The race, over several seeds: {loss}{' (and test accuracy)' if accuracy else ''} "
        "as mean ± standard deviation over the seeds, speed, and the share of the points "
        f"tried whose {tuning_text.within_words(series, metric)} (more is less sensitive)."
    )


def _counted_words(rows: Sequence[Mapping[str, Any]]) -> str:
    """Which loss the target and speed count (``target_curve`` of the rows)."""
    kinds = {row.get("target_curve", "smoothed") for row in rows} - {None}  # older: smoothed
    # older rows: comparison's default
    betas = {b for row in rows if isinstance(b := row.get("beta", 0.9), int | float)}
    raw = (
        "the loss as it is, since it is exact (a 2-D function, full-batch training "
        "without dropout, or the whole training set's loss recorded at each step)"
    )
    smoothed = (
        "the loss smoothed by a bias-corrected exponentially weighted average "
        f"(β {'/'.join(f'{b:g}' for b in sorted(betas))}), since a mini-batch's loss "
        "(or one with dropout) is noisy"
    )
    if kinds == {"raw"}:
        return f"Counted: {raw}."
    if kinds == {"smoothed"}:
        return f"Counted: {smoothed}."
    if kinds:
        return f"Counted: {raw}; {smoothed}, for the configurations whose loss is noisy."
    return ""


def _comparison_heads(
    series: Mapping[str, Any], names: Sequence[str], kinds: Sequence[str], accuracy: bool
) -> list[tuple[str, str]]:
    """The comparison's column heads and kinds: the tuned names (as ``--tune`` gave them,
    with the arguments they set), the chosen setting's validation scores and the
    default's on the score that chose, then the race's."""
    chose = _chose(series)
    head_cells = [
        ("Configuration", "text"),
        *((f"Tuned {tuning_text.column_name(series, name)}", "number") for name in names),
        *(
            (_VALIDATION_HEADS[kind] + (" (chose\u00a0it)" if kind == chose else ""), "number")
            for kind in kinds
        ),
        *([(f"Default's {_VALIDATION_HEADS[chose].lower()}", "number")] if chose in kinds else []),
        ("Seeds", "number"),
        ("Final loss", "number"),
        ("Test acc.", "number"),
        ("Steps to target", "number"),
        ("Tried within 10% of chosen", "number"),
        ("Diverged", "number"),
    ]
    if not accuracy:  # a regression: no accuracy to show
        head_cells = [cell for cell in head_cells if cell[0] != "Test acc."]
    return head_cells


def _comparison(series: Mapping[str, Any], results: Mapping[str, Any] | None = None) -> str:
    """The tuned race's table: the tuned values, performance, speed and sensitivity per
    configuration, after a paragraph that says what the tuning did."""
    rows = series.get("comparison") if series.get("kind") == "tuning" else None
    if not rows:
        return ""
    results = results or {}
    target = series.get("target_loss")
    configurations = series.get("configurations") or {}
    names = tuning_text.tuned_names(series)
    kinds = _validation_kinds(series, results)
    chose = _chose(series)
    accuracy = any(row.get("test_accuracy_mean") is not None for row in rows)
    head_cells = _comparison_heads(series, names, kinds, accuracy)
    head = "".join(
        f'<th scope="col" class="{kind}" aria-sort="none"><button type="button" '
        f'data-type="{kind}">{_e(h)}</button></th>'
        for h, kind in head_cells
    )
    body = []
    for index, row in enumerate(rows):
        c = configurations.get(_comparison_label(row)) or {}
        c = c if isinstance(c, Mapping) else {}
        cells = _comparison_cells(row, c, names, accuracy)
        cells[1 + len(names) : 1 + len(names)] = _validation_cells(
            c, kinds, series.get("folds") != 1, chose
        )
        tds = "".join(
            f'<td class="num" data-value="{_e(key)}">{_e(text)}</td>'
            if key or column
            else f"<td>{_e(text)}</td>"
            for column, (text, key) in enumerate(cells)
        )
        body.append(f'<tr data-index="{index}">{tds}</tr>')
    note = (
        f"Target loss {_number(target)}: the highest of the lowest per-step training "
        "losses (the loss recorded at each step, counted as said below, not the Summary's "
        "best loss, the lowest at its evaluations) of the configurations whose loss fell "
        "below where it started; steps to target "
        "is the lower median over seeds of the first step whose loss is at or below "
        "it (a seed that never gets there counts as slowest)."
        if target is not None
        else "No target: no configuration's training loss fell below where it "
        "started, so steps to target are not given."
    )
    note = f"{note} {_counted_words(rows)}".rstrip()
    return (
        '<section id="comparison">\n<h2>Tuned comparison</h2>\n'
        f"<p>{_e(_comparison_text(series, results, names, accuracy, kinds))} {_e(note)}</p>\n"
        '<div class="table-wrap"><table id="comparison-table" class="sortable">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n"
        "</table></div>\n</section>"
    )


# --- the summary: the runs ranked -------------------------------------------------


def _metric(run: Mapping[str, Any], key: str) -> float | None:
    value = (run.get("metrics") or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _mean(values: Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return sum(found) / len(found) if found else None


def _run_name(run: Mapping[str, Any]) -> str:
    """What names a run's seeds together: its label (the same for each of its seeds)."""
    return str(run.get("label") or run.get("group") or run.get("id") or "run")


def _ranking_rows(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per run (a configuration, its seeds once): the mean over its seeds that
    did not diverge, ranked as the command line ranks runs (best test, else train,
    accuracy; then lowest final loss; a run with a diverged or failed seed after the
    runs whose seeds all finished, as a diverged run after the runs that finished; runs
    that only diverged last). A ``group`` holding several runs is one curve in the
    figures, but not one row here: a mean of different optimizers is no run's result.
    ``group`` names a row's figure curve where that holds more than this run (or is
    named otherwise), else ``None``."""
    seeds: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        seeds.setdefault(_run_name(run), []).append(run)
    curves: dict[str, list[str]] = {}  # each figure curve's runs
    for name, members in seeds.items():
        curves.setdefault(str(members[0].get("group") or name), []).append(name)
    rows = []
    for name, members in seeds.items():
        ran = [r for r in members if r.get("status") != "failed"]
        ok = [r for r in ran if r.get("status") != "diverged"] or ran
        test = _mean([_metric(r, "test_accuracy") for r in ok])
        train = _mean([_metric(r, "train_accuracy") for r in ok])
        diverged = [r for r in members if r.get("status") == "diverged"]
        group = str(members[0].get("group") or name)
        rows.append(
            {
                "run": name,
                "group": None if curves[group] == [name] else group,
                "seeds": len(members),
                "diverged": len(diverged),
                "failed": len(members) - len(ran),
                "where": [stops.divergence(r) for r in diverged],
                "final_loss": _mean([_metric(r, "final_loss") for r in ok]),
                "best_loss": _mean([_metric(r, "best_loss") for r in ok]),
                "accuracy": test if test is not None else train,
                "test": test is not None,
            }
        )

    def key(row: Mapping[str, Any]) -> tuple:
        accuracy, loss = row["accuracy"], row["final_loss"]
        return (
            row["failed"] == row["seeds"],
            row["diverged"] + row["failed"] == row["seeds"],
            row["diverged"] + row["failed"] > 0,  # its mean leaves out the seeds lost
            -(accuracy if accuracy is not None else -math.inf),
            loss if loss is not None else math.inf,
        )

    return sorted(rows, key=key)


def _ranking_status(row: Mapping[str, Any]) -> str:
    """A ranked group's status: ok, where it diverged, or how many of its seeds diverged
    or failed (raised: the runs table gives the error)."""
    failed = row.get("failed", 0)
    if row["diverged"] == 0 and failed == 0:
        return "ok"
    if failed == row["seeds"]:
        return "failed"
    if row["diverged"] == row["seeds"]:
        return f"diverged {stops.where_words(row['where'])}"
    parts = [f"{n} {what}" for n, what in ((row["diverged"], "diverged"), (failed, "failed")) if n]
    return f"of {row['seeds']} seeds: " + ", ".join(parts)


def _ranking_row(rank: int, row: Mapping[str, Any], accuracy: bool, seeds: bool) -> str:
    """One ranked run as a table row (red when every seed diverged); a run of a group
    of several says which group (its curve in the figures)."""
    name = row["run"] if row.get("group") is None else f"{row['run']} (in group {row['group']})"
    cells = [
        f'<td class="rank">{rank}</td>',
        f"<td>{_e(name)}</td>",
        f'<td class="num">{_e(_number(row["final_loss"]))}</td>',
        f'<td class="num best">{_e(_number(row["best_loss"]))}</td>',
    ]
    if accuracy:
        value = row["accuracy"]
        cells.append(f'<td class="num">{_MISSING if value is None else f"{100 * value:.1f}%"}</td>')
    if seeds:
        cells.append(f'<td class="num">{row["seeds"]}</td>')
    cells.append(f'<td class="status">{_e(_ranking_status(row))}</td>')
    lost = row["diverged"] + row.get("failed", 0)
    css = ' class="diverged"' if lost == row["seeds"] else ""
    return f"<tr{css}>{''.join(cells)}</tr>"


def _ranking_head(accuracy: bool, test: bool, seeds: bool) -> str:
    """The ranking's header cells: the accuracy and seeds columns only where they apply."""
    heads = ["#", "Run", "Final loss", "Best loss"]
    if accuracy:
        heads.append("Test acc." if test else "Train acc.")
    if seeds:
        heads.append("Seeds")
    heads.append("Status")
    return "".join(
        f'<th scope="col" class="{"number" if h not in ("Run", "Status") else "text"}'
        f'{" best" if h == "Best loss" else ""}">{_e(h)}</th>'
        for h in heads
    )


def _ranking_note(accuracy: bool, test: bool, seeds: bool) -> str:
    """The sentence above the ranking: what it is ranked by, and the mean over seeds."""
    by = "test" if test else "training"
    order = (
        f"Ranked by {by} accuracy, then by the final training loss (the last evaluation; "
        "lowest first)"
        if accuracy
        else "Ranked by the final training loss (the last evaluation; lowest first)"
    )
    mean = (
        "; a run with several seeds shows the mean over the seeds that did not diverge "
        "or fail, and ranks after the runs whose seeds all finished if any of its seeds "
        "diverged or failed"
    )
    return order + (mean if seeds else "") + "."


def _groups_note(rows: Sequence[Mapping[str, Any]]) -> str:
    """Which runs each named group holds: a group is one curve in the figures (the mean
    over its runs' seeds), each of its runs a row here. ``""`` where every run is its
    own group."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        if row.get("group") is not None:
            groups.setdefault(row["group"], []).append(row["run"])
    if not groups:
        return ""
    held = "; ".join(f"{name}: {joined(names)}" for name, names in groups.items())
    return (
        f" The figures draw each group as one curve, the mean over its runs and their "
        f"seeds ({held}); this table ranks each run on its own."
    )


def _ranking(runs: Sequence[Mapping[str, Any]]) -> str:
    rows = _ranking_rows(runs)
    if not rows:
        return ""
    seeds = any(r["seeds"] > 1 for r in rows)
    accuracy = any(r["accuracy"] is not None for r in rows)
    test = any(r["test"] for r in rows)
    head = _ranking_head(accuracy, test, seeds)
    body = [_ranking_row(rank, row, accuracy, seeds) for rank, row in enumerate(rows, 1)]
    return (
        f'<p class="table-note">{_e(_ranking_note(accuracy, test, seeds) + _groups_note(rows))}'
        "</p>\n"
        '<div class="table-wrap"><table id="ranking" class="ranking">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n"
        "</table></div>"
    )


# --- the optimizers: update rules from their docstrings ------------------------------------

#: What the usual symbols of the update rules mean (a symbol not here is left unexplained).
_SYMBOL_WORDS: dict[str, str] = {
    "p": "a parameter: every coordinate of every weight array takes this step on its own",
    "g": "the gradient of this step's batch loss with respect to p (after clipping, if any)",
    "d": "the gradient with weight decay added: d = g + weight_decay·p (just g without it)",
    "lr": "the learning rate",
    "lr_t": "this step's learning rate, the bias correction folded into it",
    "t": "the step count, from 1",
    "m": "an exponentially weighted average of past gradients: a direction that remembers "
    "where the steps have been going (momentum)",
    "m̂": "m divided by 1 − β1ᵗ: without it m starts near 0 and the first steps are too short",
    "v̂": "v divided by 1 − β2ᵗ (bias correction, as for m̂)",
    "h": "the sum of every past squared gradient, per coordinate: a coordinate that has had "
    "large gradients takes ever shorter steps",
    "s": "a running average of squared gradients, per coordinate: dividing by √s gives each "
    "coordinate a step of about lr, however steep it is (per-coordinate scaling)",
    "μ": "the momentum factor: the share of the velocity kept from one step to the next",
    "β": "the averaging factor: the average spans about 1/(1 − β) recent gradients",
    "β1": "the averaging factor of m: about 1/(1 − β1) recent gradients (10 for 0.9)",
    "β2": "the averaging factor of v: about 1/(1 − β2) recent squared gradients (1000 for 0.999)",
    "α": "the averaging factor of the squared gradients",
    "ε": "a small number that keeps the division finite where the average is near 0",
}
#: Where an optimizer's symbol means something else than :data:`_SYMBOL_WORDS` (and the
#: common list above the cards) says, its own words; ``None``: the rule's lines say it.
#: A common symbol (p, g, d, lr, t) listed here is explained on that card.
_OWN_WORDS: dict[str, dict[str, str | None]] = {
    "adagrad": {
        "lr_t": "this step's learning rate, lr decayed by lr_decay (PyTorch's): "
        "lr / (1 + (t − 1)·lr_decay), lr itself when lr_decay = 0; AdaGrad has no bias "
        "correction",
        "ε": "a small number that keeps the division finite where h, the sum of squared "
        "gradients, is still near 0",
    },
    "adadelta": {
        "s": "a running average of squared gradients, per coordinate (ρ is its averaging "
        "factor): Δ divides by √s and multiplies by √a, the running average of past squared "
        "steps, so a step has the parameters' own units",
        "ε": "a small number inside both roots: it keeps the division finite where s is "
        "near 0 and lets the first steps move while a is still 0",
    },
    "adamax": {
        "β2": "the decay of u, the running maximum of |d| (each step u shrinks by β2 unless "
        "|d| is larger)",
        "ε": "a small number added to |d| so that u, which divides, is never 0",
    },
    "adabelief": {
        "s": "a running average of (g − m)², per coordinate: how far each gradient strays from "
        "its average m (the “belief”); the step is long where the gradient is predictable "
        "and short where it is not",
        "β2": "the averaging factor of s: about 1/(1 − β2) recent values (1000 for 0.999)",
    },
    "adan": {
        "v": "a running average of the gradient's changes δ, per coordinate: where the "
        "gradient is heading",
        "β2": "the averaging factor of v, the average of the gradient's changes",
    },
    "lion": {
        "β1": "the share of m in this step's direction c (the rest is this step's g)",
        "β2": "the averaging factor of m: about 1/(1 − β2) recent gradients (100 for 0.99)",
    },
    "novograd": {
        "d": "here the gradient divided by √ν, the average of its squared norm (one number "
        "per parameter array), plus weight_decay·p, as the rule defines it",
        "m": "a β1-weighted running sum of the normalised gradients d (momentum)",
        "β1": "the share of m kept from one step to the next",
        "β2": "the averaging factor of ν, the running average of the gradient's squared norm",
    },
    "sm3": {
        "ε": "a small number that keeps the division finite where ν, the accumulated squared "
        "gradients, is near 0",
        "m": "a running average of the scaled gradients u (momentum)",
    },
    "lars": {"ε": "a small number that keeps the trust ratio r finite where ‖u‖ is near 0"},
    "muon": {
        "s": 'a scale for the matrix\'s shape: √max(1, rows/cols) (adjust_lr_fn="original") '
        'or 0.2·√max(rows, cols) ("match_rms_adamw")',
        "ε": "the least norm U is divided by, so that the division stays finite",
    },
    "rprop": {
        "s": "each coordinate's own step size: it grows by η+ while the gradient keeps its "
        "sign and shrinks by η− when the sign flips",
    },
    "adopt": {
        "m": "a running average of the clipped, normalised gradients x (momentum)",
        "β1": "the averaging factor of m: about 1/(1 − β1) recent values of x (10 for 0.9)",
    },
    "ademamix": {
        "β1": "the averaging factor of m1, the fast momentum: about 1/(1 − β1) recent "
        "gradients (10 for 0.9)",
        "v̂": "v divided by 1 − β2ᵗ (bias correction: without it v starts near 0)",
        "s": "optax's step count, t − 1, at which the warm-ups are evaluated",
        "α": "the weight of the slow momentum m2 in the step",
    },
    "asgd": {"α": "the power of the step size's decay η_t"},
    "lookahead": {"α": "the slow weights' step towards the fast ones, every k-th step"},
    "ftrl": {"β": "smooths the per-coordinate rate at the start (β/lr in the denominator)"},
    "adafactor": {
        "d": "here the clipping threshold on RMS(u): a step is scaled down where RMS(u) "
        "is above it",
    },
    "lbfgs": {
        "d": "here the search direction, −H·g from the stored pairs (H: the estimate of the "
        "inverse curvature)",
        "t": "here the step length along d (t = lr), not the step count",
        "s": "a pair's change of position, s = t·d (y is its change of gradient)",
    },
    "prodigy": {
        "v": "an average of squared gradients times d², per coordinate: dividing by √v makes "
        "each coordinate's step about dlr whatever its slope (per-coordinate scaling)",
        "d": "here the estimate of the distance to the solution, the step size Prodigy "
        "learns (from d0, never shrinking)",
        "s": "a running sum of past gradients weighted by the step sizes, for the estimate d",
        "m": "an exponentially weighted average of past gradients, scaled by d (momentum)",
    },
    "dadapt_adamw": {
        "v": "an average of squared gradients, per coordinate: dividing by √v makes each "
        "coordinate's step about dlr whatever its slope (per-coordinate scaling)",
        "d": "here the estimate of the distance to the solution, the step size D-Adaptation "
        "learns (never shrinking)",
        "s": "a running average of past gradients scaled by the step sizes, for the estimate d",
        "m": "an exponentially weighted average of past gradients, scaled by dlr (momentum)",
    },
    "sam": {
        "ε": "the perturbation: a step of length ρ up the gradient, to the worst nearby "
        "point, where the gradient g_sam is taken",
    },
    "schedule_free_sgd": {
        "lr_t": "this step's learning rate: lr after its warm-up, "
        "lr·min((t − 1)/warmup_steps, 1); no bias correction",
        "β1": "where y, the point the gradient is taken at, lies between x and z",
    },
    "schedule_free_adamw": {
        "lr_t": "this step's learning rate: lr after its warm-up, "
        "lr·min((t − 1)/warmup_steps, 1) (the bias correction is v̂'s)",
        "v̂": "v divided by 1 − β2ᵗ (bias correction: without it v starts near 0)",
        "β1": "where y, the point the gradient is taken at, lies between x and z",
    },
    "groups": {"h": "the hyperparameters of the key's group"},
}
_VELOCITY = (
    "the velocity: a running sum (or average) of past steps or gradients; it keeps moving "
    "the way it has been going, speeds up along a long slope and evens out a zigzag"
)
_SCALING = (
    "an average of squared gradients, per coordinate: dividing by √v makes each "
    "coordinate's step about lr whatever its slope (per-coordinate scaling)"
)
#: The hyperparameter each symbol stands for, to show its value beside the words.
_SYMBOL_HP = {
    "lr": ("lr",),
    "μ": ("momentum",),
    "β": ("momentum", "beta"),
    "β1": ("beta1",),
    "β2": ("beta2",),
    "α": ("alpha",),
    "ε": ("eps",),
}
_WORD = re.compile(r"[A-Za-zΑ-Ωα-ωϵ][A-Za-z0-9_Α-Ωα-ωϵ\u0300-\u036f']*")
_COLUMN_GAP = re.compile(r"\s{3,}")


def _lhs(column: str) -> str | None:
    """The symbol a column of a rule defines (``m`` in ``m ← β1·m + …``), if any."""
    for arrow in ("←", "="):
        head, sep, _ = column.partition(arrow)
        if sep and _WORD.fullmatch(head.strip()):
            return head.strip()
    return None


def _rule_blocks(cls: type, hyperparameters: Mapping[str, Any]) -> list[Any]:
    """The docstring blocks that describe a run (:func:`gdlab.report.maths.choose`), with
    the lines of its other blocks that define a symbol the chosen ones use but do not
    define (Adam's ``form="lr_t"`` block uses the ``m`` and ``v`` of the explicit one)."""
    from gdlab.report.maths import Rule, choose, rules

    everything = rules(cls)
    chosen = choose(cls, hyperparameters)
    if len(chosen) == len(everything):
        return chosen
    text = " ".join(line for rule in chosen for line in rule.lines)
    used = set(_WORD.findall(text))
    defined = {_lhs(c) for rule in chosen for line in rule.lines for c in _COLUMN_GAP.split(line)}
    extra: list[str] = []
    for rule in everything:
        if rule in chosen:
            continue
        for line in rule.lines:
            for column in _COLUMN_GAP.split(line.strip()):
                name = _lhs(column)
                if name and name in used and name not in defined:
                    extra.append(column.strip())
                    defined.add(name)
    if not extra:
        return chosen
    names = [n for n in (_lhs(c) for c in extra) if n]
    words = " and ".join(dict.fromkeys(names))
    return [Rule(f"{words}, as in the other form:", tuple(extra)), *chosen]


def _inline_math(symbol: str, names: Sequence[str]) -> str:
    from gdlab.report.maths import line_mathml

    return line_mathml(symbol, names).replace(' display="block"', "", 1)


#: Symbols every rule shares: explained once, above the cards.
_COMMON = ("p", "g", "d", "lr", "t")


def _symbol_words(symbol: str, text: str, hp: Mapping[str, Any], optimizer: str) -> str | None:
    """What ``symbol`` means on ``optimizer``'s card (:data:`_OWN_WORDS` first), or
    ``None`` to leave it out (a common symbol, explained above the cards)."""
    own = _OWN_WORDS.get(optimizer, {})
    if symbol in own:
        return own[symbol]
    if symbol in _COMMON and not (symbol == "lr" and isinstance(hp.get("lr"), Mapping)):
        return None
    if symbol == "v":
        return _SCALING if re.search(r"√\(?v\b", text) else _VELOCITY
    if symbol in ("v̂",) and not re.search(r"√\(?v̂", text):
        return None
    return _SYMBOL_WORDS.get(symbol)


def _symbol_list(
    lines: Sequence[str], hp: Mapping[str, Any], names: Sequence[str], optimizer: str = ""
) -> str:
    text = " ".join(lines)
    used = list(dict.fromkeys(_WORD.findall(text)))
    rows = []
    for symbol in used:
        words = _symbol_words(symbol, text, hp, optimizer)
        if words is None:
            continue
        for key in _SYMBOL_HP.get(symbol, ()):
            value = hp.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                words += f" ({key} = {_number(value)})"
                break
            if isinstance(value, Mapping):
                words += f" ({key}: a schedule, see the runs)"
                break
        rows.append(f"<dt>{_inline_math(symbol, names)}</dt><dd>{_e(words)}</dd>")
    return f'<dl class="symbols">{"".join(rows)}</dl>' if rows else ""


def _rule_html(blocks: Sequence[Any], names: Sequence[str]) -> str:
    from gdlab.report.maths import rule_mathml

    parts = []
    for block in blocks:
        lines = "".join(
            f'<div class="line">{"".join(columns)}</div>' for columns in rule_mathml(block, names)
        )
        caption = f'<p class="caption">{_e(block.caption)}</p>' if block.caption else ""
        parts.append(f"{caption}{lines}")
    return f'<div class="rule">{"".join(parts)}</div>'


def _card_key(run: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    hp = run.get("hyperparameters") or {}
    form = hp.get("form") if isinstance(hp.get("form"), str) else None
    preset = run.get("preset") if isinstance(run.get("preset"), str) else None
    return str(run.get("optimizer") or "?"), preset, form


def _cards(
    runs: Sequence[Mapping[str, Any]],
) -> dict[tuple[str, str | None, str | None], dict[str, Any]]:
    """The runs by card key: the first run's hyperparameters, and who used each setting:
    a group by its name, once, where all its runs used that one setting; else each of its
    runs by label, ``SGD (in group mix)``, as the Summary names them."""
    cards: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    rows = [  # (run, card key, setting, group)
        (run, _card_key(run), _hyperparameters(run.get("hyperparameters") or {}),
         str(run.get("group") or run.get("label") or run.get("id")))
        for run in runs
    ]  # fmt: skip
    places: dict[str, set[tuple[Any, str]]] = {}  # group: the (card, setting) its runs used
    for _, key, setting, group in rows:
        places.setdefault(group, set()).add((key, setting))
    for run, key, setting, group in rows:
        card = cards.setdefault(key, {"hp": run.get("hyperparameters") or {}, "settings": {}})
        label = str(run.get("label") or run.get("id"))
        user = group if len(places[group]) == 1 or label == group else f"{label} (in group {group})"
        users = card["settings"].setdefault(setting, [])
        if user not in users:
            users.append(user)
    return cards


def _card_rule(cls: type | None, hp: Mapping[str, Any], optimizer: str = "") -> list[str]:
    """A card's words on the update rule: its summary, rule and symbols, if it is known."""
    if cls is None:
        return [
            "<p>Not a registered gdlab optimizer here, so its update rule is not "
            "known to this page.</p>"
        ]
    from gdlab.report.maths import summary

    names = [k for k in hp if isinstance(k, str)]
    blocks = _rule_blocks(cls, hp)
    parts = [f"<p>{_e(summary(cls))}</p>"]
    if blocks:
        parts.append(_rule_html(blocks, names))
        lines = [line for block in blocks for line in block.lines]
        parts.append(_symbol_list(lines, hp, names, optimizer))
    return parts


def _card(key: tuple[str, str | None, str | None], card: Mapping[str, Any]) -> str:
    """One optimizer's card: its name and tags, who used it, its rule and its settings."""
    from gdlab.optim import OPTIMIZERS

    name, preset, form = key
    cls = OPTIMIZERS.get(name)
    tags = [f'optimizer "{name}"']
    if preset:
        tags.append(f"preset {preset}")
    if form:
        tags.append(f"form {form}")
    groups = [g for users in card["settings"].values() for g in users]
    title = cls.__name__ if cls is not None else name
    anchor = re.sub(r"[^A-Za-z0-9_-]", "-", f"optimizer-{name}-{preset or ''}-{form or ''}")
    settings = "".join(
        f"<dt>{_e(', '.join(users))}</dt><dd>{_e(text or 'defaults')}</dd>"
        for text, users in card["settings"].items()
    )
    return "\n".join(
        [
            f'<article class="card" id="{_e(anchor)}">',
            f'<h3>{_e(title)} <span class="tags">{_e(" · ".join(tags))}</span></h3>',
            f'<p class="used">Used by {_e(", ".join(dict.fromkeys(groups)))}.</p>',
            *_card_rule(cls, card["hp"], name),
            f'<dl class="hp">{settings}</dl>',
            "</article>",
        ]
    )


def _optimizers(runs: Sequence[Mapping[str, Any]]) -> str:
    """A card per optimizer (name, preset, form) that ran: its rule, symbols, settings."""
    if not runs:
        return ""
    html_cards = [_card(key, card) for key, card in _cards(runs).items()]
    return (
        '<section id="optimizers">\n<h2>The optimizers: how each one steps</h2>\n'
        "<p>Each optimizer that ran, with its update rule in the form and preset that ran "
        "(the lines of its docstring: <code>help(gdlab.optim.Adam)</code> prints the "
        "same), what its symbols mean, and the hyperparameters of the runs that used it "
        "(every one is in the runs table's tooltip and in results.json). A rule is written "
        "for one coordinate: every coordinate of every weight array takes its own step; "
        "← means “becomes”, and in every rule:</p>\n"
        f"{_common_symbols()}\n"
        f'<div class="cards">\n{"".join(html_cards)}\n</div>\n</section>'
    )


def _common_symbols() -> str:
    rows = "".join(
        f"<dt>{_inline_math(symbol, ())}</dt><dd>{_e(_SYMBOL_WORDS[symbol])}</dd>"
        for symbol in _COMMON
    )
    return f'<dl class="symbols common">{rows}</dl>'


# --- figures ------------------------------------------------------------------


def _png_size(data: bytes, path: Path) -> tuple[int, int]:
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


_SVG_ID = re.compile(r'\bid="([^"]+)"')


def _svg_markup(text: str, prefix: str, label: str) -> str:
    """SVG file text as markup for inline use: no XML prolog, comments, metadata or
    namespace declarations (HTML needs none), every id prefixed with ``prefix``,
    and the SVG's own style rules scoped to it."""
    start = text.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document")
    text = text[start:]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<metadata\b.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", text)
    ids = set(_SVG_ID.findall(text))

    def rename(match: re.Match[str]) -> str:
        name = match.group(2)
        return match.group(1) + (prefix + name if name in ids else name) + match.group(3)

    text = re.sub(r'(\bid=")([^"]+)(")', rename, text)
    text = re.sub(r"(url\(#)([^)\s]+)(\))", rename, text)
    text = re.sub(r'(href="#)([^"]+)(")', rename, text)

    svg_id = f"{prefix}svg"

    def scope(match: re.Match[str]) -> str:
        rules = re.sub(
            r"(^|})\s*([^{}]+?)\s*{",
            lambda m: (
                m.group(1) + ",".join(f"#{svg_id} {s.strip()}" for s in m.group(2).split(",")) + "{"
            ),
            match.group(2),
        )
        return match.group(1) + rules + match.group(3)

    text = re.sub(r"(<style\b[^>]*>)(.*?)(</style>)", scope, text, flags=re.S)
    root_end = text.index(">")
    root = re.sub(r'\s+(?:id|role|aria-label)="[^"]*"', "", text[len("<svg") : root_end])
    attributes = f' id="{svg_id}" role="img" aria-label="{_e(label)}"'
    return "<svg" + attributes + root + text[root_end:]


#: A figure is never drawn narrower than this share of its PNG's own width (its pixels
#: at 120 dpi, :data:`gdlab.report.figures.PNG_DPI`): there its smallest words (6.5 pt
#: notes, 7 pt ticks) are 9 to 10 CSS pixels high. A narrower screen scrolls it sideways.
READABLE_SHARE = 0.8
#: The width a figure has on a 390 px phone (less the page's margins): a figure that
#: cannot shrink to it says that it scrolls.
_PHONE_WIDTH = 366
_SVG_WIDTH = re.compile(r'<svg\b[^>]*?\swidth="([0-9.]+)(pt|px)?"')


def _natural_width(out_dir: Path, figure: Mapping[str, Any], svg: str) -> float | None:
    """An inline SVG's width in CSS pixels as its PNG has it (or, without one, its own)."""
    png = out_dir / str(figure.get("png") or "")
    if figure.get("png") and png.is_file():
        with png.open("rb") as fh:
            return _png_size(fh.read(24), png)[0]
    match = _SVG_WIDTH.search(svg)
    if match is None:
        return None
    return float(match.group(1)) * (4 / 3 if match.group(2) == "pt" else 1)


def _media(
    out_dir: Path, figure: Mapping[str, Any], index: int, inline: str, base: str = ""
) -> str:
    """The figure's image (or SVG markup) as a link to its full-size PNG, in a box that
    scrolls sideways where the screen is narrower than the image can shrink to and still
    be read (:data:`READABLE_SHARE`); ``base`` leads the PNG's address (a tour's
    subdirectory)."""
    name = str(figure.get("name") or f"figure-{index}")
    title = str(figure.get("title") or name)
    alt = str(figure.get("alt") or title)
    kinds = ("svg", "png") if inline == "svg" else ("png", "svg")
    kind = next((k for k in kinds if figure.get(k)), None)
    if kind is None:
        raise ValueError(f"figure {name!r} has neither a png nor an svg file")
    path = out_dir / figure[kind]
    if not path.is_file():
        raise FileNotFoundError(f"figure {name!r}: no such file: {path}")
    if kind == "png":
        data = path.read_bytes()
        width, height = _png_size(data, path)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        media = f'<img src="{uri}" alt="{_e(alt)}" width="{width}" height="{height}">'
        natural: float | None = width
    else:
        text = path.read_text(encoding="utf-8")
        prefix = re.sub(r"[^A-Za-z0-9_-]", "-", f"f{index}-{name}") + "-"
        media = _svg_markup(text, prefix, alt)
        natural = _natural_width(out_dir, figure, text)
    readable = round(READABLE_SHARE * natural) if natural else 0
    focus = ""
    if figure.get("png"):
        href = quote(f"{base}{figure['png']}")
        media = (
            f'<a class="full-size" href="{_e(href)}" title="Open the full-size image (PNG)">'
            f'{media}<span class="hidden-text"> (open the full-size image, PNG)</span></a>'
        )
    else:  # nothing focusable inside: the box itself takes the keyboard, to scroll it
        focus = f' tabindex="0" role="region" aria-label="{_e(alt)}"'
    style = f' style="--readable: {readable}px"' if readable else ""
    hint = ""
    if readable > _PHONE_WIDTH:
        more = ", or select it for the full-size image" if figure.get("png") else ""
        hint = (
            f'<p class="scroll-hint">On a narrow screen this figure may be wider than the '
            f"screen: scroll it sideways{more}.</p>"
        )
    return f'<div class="figure-scroll"{focus}{style}>{media}</div>{hint}'


def _chart_box(chart: Mapping[str, Any]) -> str:
    """The interactive chart's place in the page and its controls (the script wires them)."""
    chart_id = str(chart["id"])
    controls = []
    scale = chart.get("scale") or {}
    if scale.get("switch"):
        buttons = "".join(
            f'<button type="button" data-scale="{kind}" '
            f'aria-pressed="{"true" if scale.get("kind") == kind else "false"}">{kind}</button>'
            for kind in ("linear", "symlog" if "symlog" in scale.get("ranges", {}) else "log")
        )
        controls.append(f'<span class="group" role="group" aria-label="y-axis scale">'
                        f"y-axis {buttons}</span>")  # fmt: skip
    smooth = chart.get("smooth")
    if smooth:
        betas = list(smooth["betas"])
        beta = smooth["beta"]
        at = betas.index(beta) if beta in betas else 0
        shown = f"β = {beta:g} (about {round(1 / (1 - beta))} steps)" if beta else "off"
        controls.append(
            '<label class="group">Smoothing '
            f'<input type="range" class="smooth" min="0" max="{len(betas) - 1}" step="1" '
            f'value="{at}" aria-label="smoothing of the loss curves">'
            f'<output class="smooth-value">{_e(shown)}</output></label>'
        )
    views = chart.get("views") or []
    if views:
        buttons = "".join(
            f'<button type="button" data-view="{i}" aria-pressed="false">{_e(v["label"])}</button>'
            for i, v in enumerate(views)
        )
        controls.append(f'<span class="group" role="group" aria-label="view">{buttons}</span>')
    helps = [
        "Hover a line for its run, step and value; drag across the plot to zoom in "
        "(sideways: the steps only), double-click to zoom back out; Pan (or Shift-drag) "
        "moves the view. Click a legend entry to hide that run; double-click it to show it "
        "alone."
    ]
    if smooth:
        helps.append(
            "The smoothing is the bias-corrected exponentially weighted average of the "
            "figure, computed here from the raw loss: slide it to “off” for the raw curves."
        )
    controls.append('<button type="button" data-pan aria-pressed="false">Pan</button>')
    return (
        f'<div class="chart-box" data-chart="{_e(chart_id)}">\n'
        f'<div class="controls">{"".join(controls)}</div>\n'
        f'<div class="chart-area"><div class="chart" id="{_e(chart_id)}"></div></div>\n'
        f'<p class="chart-help">{_e(" ".join(helps))}</p>\n</div>'
    )


def _figure_anchor(name: str, section: str = "") -> str:
    """A figure's id: ``figure-loss``; in a tour's section ``bowl``, ``bowl-figure-loss``."""
    return (f"{section}-" if section else "") + re.sub(r"[^A-Za-z0-9_-]", "-", f"figure-{name}")


def _figure(
    out_dir: Path,
    figure: Mapping[str, Any],
    index: int,
    inline: str,
    chart: Mapping[str, Any] | None = None,
    *,
    section: str = "",
    base: str = "",
) -> str:
    """One figure: its title, image (and interactive twin), what to look for, caption.

    On a page of several experiments (a tour), ``section`` is the id of this one's
    section: it leads the figure's id (``bowl-figure-loss``, since every experiment has
    its own ``loss``); ``base`` leads the address of its files (``bowl/``).
    """
    name = str(figure.get("name") or f"figure-{index}")
    title = str(figure.get("title") or name)
    caption = figure.get("caption") or ""
    look_for = figure.get("look_for") or ""
    media = _media(out_dir, figure, index, inline, base)
    if chart is not None and chart.get("partial"):  # the image has more: it stays in view
        media = (
            f"{media}\n"
            '<p class="chart-lead">The same data to explore, interactive:</p>\n'
            f"{_chart_box(chart)}"
        )
    elif chart is not None:
        files = " and ".join(
            f'<a href="{_e(quote(base + figure[k]))}">{k.upper()}</a>'
            for k in ("png", "svg")
            if figure.get(k)
        )
        media = (
            f"{_chart_box(chart)}\n"
            '<details class="static"><summary>The same figure as an image</summary>\n'
            f"{media}\n<p>For papers: the {files} files.</p>\n</details>"
        )
    words = (
        f'<p class="look-for"><strong>What to look for.</strong> {_e(look_for)}</p>\n'
        if look_for
        else ""
    )
    anchor = _figure_anchor(name, section)
    return (
        f'<figure id="{_e(anchor)}">\n<h3>{_e(title)}</h3>\n{media}\n{words}'
        f"<figcaption>{_e(caption)}</figcaption>\n</figure>"
    )


# --- environment ----------------------------------------------------------------


def _definitions(items: Mapping[str, Any]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items())
    return f'<dl class="env">{rows}</dl>'


def _environment(results: Mapping[str, Any]) -> str:
    versions = dict(results.get("versions") or {})
    machine = dict(results.get("machine") or {})
    config = json.dumps(results.get("config") or {}, indent=2, ensure_ascii=False, allow_nan=False)
    return (
        '<section id="environment">\n<h2>Environment</h2>\n'
        f"<p>Created {_e(results.get('created', ''))}.</p>\n"
        f"<h3>Versions</h3>\n{_definitions(versions)}\n"
        f"<h3>Machine</h3>\n{_definitions(machine)}\n"
        "<details><summary>Configuration (after overrides)</summary>\n"
        f"<pre><code>{_e(config)}</code></pre>\n</details>\n</section>"
    )


#: The sizes of a data set's parts, in the order the problem's line names them.
_DATA_SIZES = (("n_train", "train"), ("n_validation", "validation"), ("n_test", "test"))


def _problem_line(problem: Mapping[str, Any]) -> str:
    parts = [f"{problem.get('name', '')} ({problem.get('kind', '')})"]
    function = problem.get("function")
    if isinstance(function, Mapping) and function.get("description"):
        parts.append(f"f = {function['description']}")
    data = problem.get("data")
    if isinstance(data, Mapping):
        sizes = [f"{data[k]} {label}" for k, label in _DATA_SIZES if data.get(k) is not None]
        parts.append(f"data {data.get('name', '')}" + (f": {', '.join(sizes)}" if sizes else ""))
    if problem.get("sizes"):
        parts.append("layers " + "–".join(str(s) for s in problem["sizes"]))
    return "; ".join(parts)


def _summary(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the page says about each run, as data for tools reading the page."""
    keys = ("id", "label", "group", "optimizer", "preset", "seed", "status", "stopped_at")
    return [{**{k: run.get(k) for k in keys}, "metrics": run.get("metrics") or {}} for run in runs]


# --- the page ---------------------------------------------------------------------


def _head(title: str) -> str:
    """The page's head and opening body tag: one CSP, the self-check, the style."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">
<meta name="generator" content="gdlab">
<title>{_e(title)}</title>
<script>{_CHECK_JS}</script>
<style>{_CSS}</style>
</head>
<body>"""


def _charts(
    results: Mapping[str, Any],
    figures: Sequence[Mapping[str, Any]],
    function: Any,
) -> dict[str, dict[str, Any]]:
    """The interactive twins of ``figures``, by figure name."""
    from gdlab.report import interactive

    names = [str(f.get("name")) for f in figures]
    return {c["figure"]: c for c in interactive.charts(results, names=names, function=function)}


def _chart_scripts(charts: Mapping[str, Mapping[str, Any]]) -> str:
    if not charts:
        return ""
    from gdlab.report import interactive

    script = interactive.page_script()
    if "</script" in script.lower():  # it could not sit inline
        raise ValueError("charts.js holds '</script' and cannot be inlined")
    return (
        f'<script type="application/json" id="gdlab-charts">'
        f"{_script_json(list(charts.values()))}</script>\n"
        f"<script>{script}</script>\n"
    )


def _runs_count(runs: Sequence[Mapping[str, Any]]) -> str:
    """``"1 run"``, ``"3 runs"``."""
    return f"{len(runs)} run{'s' if len(runs) != 1 else ''}"


def _notice(status: Any, runs: Sequence[Mapping[str, Any]]) -> str:
    """The status line, or the notice of an interrupted race."""
    if status != "interrupted":
        return f'<p class="status-complete">Status: {_e(status)}.</p>'
    return (
        '<div class="notice" role="status"><strong>Interrupted.</strong> '
        f"This race stopped early: the report shows the {_runs_count(runs)} that finished.</div>"
    )


def _meta(results: Mapping[str, Any]) -> list[str]:
    """The items under the title: the experiment, the problem (if any), when it was made."""
    problem = results.get("problem")
    meta = [f"Experiment <code>{_e(results.get('experiment', ''))}</code>"]
    if problem:  # a plot's page has no problem and no runs: it says neither
        meta.append(f"Problem: {_e(_problem_line(problem))}")
    meta.append(f"Created {_e(results.get('created', ''))}")
    return meta


def _summary_section(runs: Sequence[Mapping[str, Any]]) -> str:
    """The summary: how many runs (and diverged), then the ranking; nothing without runs."""
    if not runs:
        return ""
    counts = _runs_count(runs)
    for status in ("diverged", "failed"):
        n = sum(1 for run in runs if run.get("status") == status)
        counts += f", {n} {status}" if n else ""
    return (
        '<section id="summary">\n<h2>Summary</h2>\n'
        f"<p>{_e(counts)}.</p>\n{_ranking(runs)}\n</section>"
    )


def _nav(sections: Mapping[str, str]) -> str:
    """The table of contents, in page order: a link per section the page has (``sections``
    holds the optional ones' markup by id, empty where left out; the others are always there)."""
    toc = [
        ("summary", "Summary"),
        ("comparison", "Tuned comparison"),
        ("optimizers", "Optimizers"),
        ("figures", "Figures"),
        ("results", "Runs"),
        ("command", "Command"),
        ("environment", "Environment"),
    ]
    return " ".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in toc if sections.get(a, True))


def render_report(
    results: Mapping[str, Any],
    figures: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    inline: str = "png",
    charts: bool = True,
    function: Any = None,
) -> str:
    """The report page as text; see :func:`write_report`."""
    if inline not in ("png", "svg"):
        raise ValueError(f"inline must be 'png' or 'svg'; got {inline!r}")
    # Strict JSON first: a NaN anywhere is an error, not a broken page.
    dumps(results, indent=None)
    out_dir = Path(out_dir)
    title = str(results.get("title") or results.get("experiment") or "gdlab report")
    runs = list(results.get("runs") or [])
    notice = _notice(results.get("status", "complete"), runs)
    twins = _charts(results, figures, function) if charts else {}
    figure_html = "\n".join(
        _figure(out_dir, figure, index, inline, twins.get(str(figure.get("name"))))
        for index, figure in enumerate(figures)
    )
    meta = _meta(results)
    summary = _summary_section(runs)
    comparison = _comparison(results.get("series") or {}, results)
    optimizers = _optimizers(runs)
    runs_section = (
        f'<section id="results">\n<h2>Runs</h2>\n{_table(runs)}\n</section>'
        if runs or results.get("problem")
        else ""
    )
    nav = _nav(
        {
            "summary": summary,
            "comparison": comparison,
            "optimizers": optimizers,
            "results": runs_section,
        }
    )
    return (
        _head(title)
        + f"""
<main>
<header>
<h1>{_e(title)}</h1>
<ul class="meta">{"".join(f"<li>{m}</li>" for m in meta)}</ul>
</header>
{notice}
<div class="lead">
{_paragraphs(str(results.get("description") or ""))}
</div>
<nav class="toc" aria-label="On this page">On this page: {nav}</nav>
{summary}
{comparison}
{optimizers}
<section id="figures">
<h2>Figures</h2>
{figure_html or "<p>No figures.</p>"}
</section>
{runs_section}
<section id="command">
<h2>Command</h2>
<pre><code>{_e(results.get("command", ""))}</code></pre>
</section>
{_environment(results)}
</main>
<script type="application/json" id="gdlab-runs">{_script_json(_summary(runs))}</script>
<script>{_SORT_JS}</script>
{_chart_scripts(twins)}</body>
</html>
"""
    )


def write_report(
    results: Mapping[str, Any],
    figures: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    inline: str = "png",
    charts: bool = True,
    function: Any = None,
) -> Path:
    """Write ``out_dir/index.html`` (atomically): one self-contained page.

    Args:
        results: a ``gdlab.results/2`` document (``docs/results.md``).
        figures: ``{"name", "title", "caption", "look_for", "png", "svg"}`` per
            figure, in page order (:func:`gdlab.report.figures.draw`); ``png``
            and ``svg`` are paths relative to ``out_dir``; ``look_for`` (a
            paragraph on what the figure shows) is optional.
        out_dir: the report's directory.
        inline: ``"png"`` (default) embeds each figure as a base64 PNG;
            ``"svg"`` embeds the SVG markup (ids made unique), falling back to
            the PNG for a figure without an SVG.
        charts: give each curve figure its interactive twin
            (:mod:`gdlab.report.interactive`, drawn by the page's own
            ``charts.js``). ``False``: the images only, and no script but the
            page's checks and table sorting (``--no-js``).
        function: the 2-D function of a document whose function is not
            registered (a user's own :class:`~gdlab.functions2d.Function2D`),
            for the paths chart's contours.

    Returns:
        The path of ``index.html``.

    Raises:
        ValueError: if ``results`` holds a NaN or infinity (the path is named),
            or a figure file is not a PNG.
        FileNotFoundError: if a figure's file is missing.
    """
    page = render_report(results, figures, out_dir, inline=inline, charts=charts,
                         function=function)  # fmt: skip
    return _io.atomic_write(Path(out_dir) / "index.html", lambda fh: fh.write(page.encode()))


def render_tour(
    entries: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]], str]],
    out_dir: str | Path,
    *,
    title: str | None = None,
    command: str = "",
    stopped: str | None = None,
    stopped_by: str = "interrupted",
) -> str:
    """One page for several experiments: each one's table and figures, inline.

    ``title`` defaults to :data:`gdlab.tour.TITLE`. ``entries`` holds ``(results,
    figures, subdir)`` per experiment, where the
    figures' paths are relative to ``out_dir/subdir`` (its own report, linked).
    ``stopped`` is, for a tour that stopped early (``stopped_by``: ``interrupted``,
    or the error), what its page holds and what did not run, in words
    (:func:`gdlab.tour.stopped_words`): the title says it stopped, a notice says
    the rest, and an experiment that stopped early is marked in the contents too.
    """
    if title is None:
        from gdlab.tour import TITLE as title
    out_dir = Path(out_dir)
    notice_top = ""
    if stopped is not None:
        title = f"{title} (stopped early)"
        notice_top = (
            '<div class="notice" role="status"><strong>Stopped early.</strong> '
            f"This tour stopped early ({_e(stopped_by)}): {_e(stopped)}.</div>\n"
        )
    sections, toc = [], []
    offset = 0
    taken = {"command", "environment"}  # ids are unique on the page
    for k, (results, figures, subdir) in enumerate(entries):
        dumps(results, indent=None)
        anchor = re.sub(r"[^\w-]", "-", str(results.get("experiment", k)))
        anchor = f"{anchor}-{k + 1}" if anchor in taken else anchor
        taken.add(anchor)
        name = str(results.get("title") or results.get("experiment"))
        runs = list(results.get("runs") or [])
        status = results.get("status", "complete")
        early = f" (stopped early: {_runs_count(runs)})" if status == "interrupted" else ""
        toc.append(f'<li><a href="#{_e(anchor)}">{_e(name)}</a>{_e(early)}</li>')
        figure_html = "\n".join(
            _figure(out_dir / subdir, figure, offset + i, "png", section=anchor, base=f"{subdir}/")
            for i, figure in enumerate(figures)
        )
        offset += len(figures)
        notice = _notice(status, runs) if status == "interrupted" else ""
        sections.append(
            f'<section id="{_e(anchor)}">\n<h2>{_e(name)}</h2>\n{notice}'
            f"{_paragraphs(str(results.get('description') or ''))}\n"
            f'<p><a href="{_e(subdir)}/index.html">The full report</a> · '
            f"<code>{_e(results.get('command', ''))}</code></p>\n"
            f"{_table(runs, f'runs-{anchor}') if runs else ''}\n{figure_html}\n</section>"
        )
    first = dict(entries[0][0]) if entries else {}
    if first:  # every experiment's configuration, by its directory, not only the first one's
        first["config"] = {subdir: results.get("config") for results, _, subdir in entries}
    return (
        _head(title)
        + f"""
<main>
<header>
<h1>{_e(title)}</h1>
</header>
{notice_top}<h2 id="command">Command</h2>
<pre><code>{_e(command)}</code></pre>
<nav><ol>{"".join(toc)}</ol></nav>
{"".join(sections)}
{_environment(first) if first else ""}
</main>
<script>{_SORT_JS}</script>
</body>
</html>
"""
    )


def write_tour(
    entries: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]], str]],
    out_dir: str | Path,
    **options: Any,
) -> Path:
    """Write ``out_dir/index.html`` for a tour (see :func:`render_tour`), atomically."""
    page = render_tour(entries, out_dir, **options)
    return _io.atomic_write(Path(out_dir) / "index.html", lambda fh: fh.write(page.encode()))
