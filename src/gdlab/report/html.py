"""The report: one self-contained ``index.html`` per results document.

The page needs nothing but itself: figures are inline (PNG as ``data:`` URIs by
default, or SVG markup), styles and scripts are inline, and a
Content-Security-Policy forbids loading anything else. It shows the title,
description and exact command, the status (with a notice for an interrupted
race), a table of runs that sorts by any column, the figures with their
captions, and the environment (versions, machine, configuration).

A small script records script errors and broken images and, once the page has
loaded, writes ``{"errors": [...], "brokenImages": [...], "images": n,
"svgs": n, "figures": n, "rows": n}`` into ``document.body.dataset.reportCheck``
(the ``data-report-check`` attribute) for the browser test to read.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import struct
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from gdlab import _io
from gdlab._text import number
from gdlab.report.schema import dumps

__all__ = ["render_report", "write_report"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MISSING = "–"  # shown for a value that does not apply
_number = functools.partial(number, missing=_MISSING)

_CSS = """
:root {
  color-scheme: light dark;
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa;
  --zebra: #f6f8fa; --line: #d1d9e0; --accent: #0969da;
  --warn-bg: #fff8c5; --warn-line: #d4a72c; --bad: #cf222e; --bad-bg: #ffebe9;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23;
    --zebra: #151b23; --line: #3d444d; --accent: #4493f8;
    --warn-bg: #2e2a12; --warn-line: #9e6a03; --bad: #ff7b72; --bad-bg: #3a1618;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
    "Noto Sans", "Liberation Sans", Arial, sans-serif;
}
main { max-width: 80rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.9rem; line-height: 1.25; margin: 0 0 .5rem; }
h2 { font-size: 1.35rem; margin: 2.5rem 0 .75rem; padding-bottom: .3rem;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 0 0 .5rem; }
p { margin: .5rem 0; }
.meta { color: var(--muted); margin: 0; padding: 0; list-style: none; }
.meta li { display: inline-block; margin-right: 1.25rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas,
  "Liberation Mono", monospace; font-size: .9em; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: .75rem 1rem; overflow-x: auto; white-space: pre; }
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
  min-width: 11rem; }
figure { margin: 2rem 0; }
figure img, figure svg { display: block; max-width: 100%; height: auto;
  background: #ffffff; border-radius: 4px; }
figcaption { color: var(--muted); margin-top: .5rem; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.env dt { font-weight: 600; }
dl.env dd { margin: 0; overflow-wrap: anywhere; }
details { margin: 1rem 0; }
summary { cursor: pointer; font-weight: 600; }
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
      rows: rows
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
        if key == "schedule" or (key == "lr" and isinstance(value, Mapping)):
            inner = value.get("schedule", value) if isinstance(value, Mapping) else value
            parts.append(f"lr={_compact(inner)}")
        elif _shown(key, value):
            parts.append(f"{key}={_compact(value)}")
    return ", ".join(parts)


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
    status = run.get("status", "ok")
    step = run.get("stopped_at")
    if status in ("diverged", "stopped") and step is not None:
        return f"{status} at step {step}"
    return str(status)


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
        reason = run.get("reason") or ""
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
        css = "run" + (" diverged" if status == "diverged" else "")
        cells = "".join(_cell(run, key) for key, _, _ in columns)
        rows.append(f'<tr class="{_e(css)}" data-index="{index}">{cells}</tr>')
    body = "\n".join(rows)
    return (
        f'<div class="table-wrap"><table id="{_e(table_id)}" class="sortable">\n'
        "<caption>One row per run. Select a column header to sort by it.</caption>\n"
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>"
    )


def _pm(mean: Any, std: Any) -> tuple[str, str]:
    """``"mean ± std"`` and the sort value."""
    if mean is None:
        return _MISSING, ""
    text = _number(mean) + ("" if std is None else f" ± {_number(std, 2)}")
    return text, repr(float(mean))


def _comparison(series: Mapping[str, Any]) -> str:
    """The tuned race's table: performance, speed and sensitivity per configuration."""
    rows = series.get("comparison") if series.get("kind") == "tuning" else None
    if not rows:
        return ""
    target = series.get("target_loss")
    head_cells = [
        ("Configuration", "text"),
        ("Tuned lr", "number"),
        ("Seeds", "number"),
        ("Final loss", "number"),
        ("Test acc.", "number"),
        ("Steps to target", "number"),
        ("lr grid within 10% of best", "number"),
        ("Diverged", "number"),
    ]
    head = "".join(
        f'<th scope="col" class="{kind}" aria-sort="none"><button type="button" '
        f'data-type="{kind}">{_e(h)}</button></th>'
        for h, kind in head_cells
    )
    body = []
    for index, row in enumerate(rows):
        loss, loss_key = _pm(row.get("final_loss_mean"), row.get("final_loss_std"))
        acc_mean, acc_std = row.get("test_accuracy_mean"), row.get("test_accuracy_std")
        acc = (
            (_MISSING, "")
            if acc_mean is None
            else (
                f"{100 * acc_mean:.1f}%" + ("" if acc_std is None else f" ± {100 * acc_std:.1f}"),
                repr(float(acc_mean)),
            )
        )
        steps = row.get("steps_to_target")
        within = row.get("within_10_percent")
        cells = [
            (row["group"], ""),
            (_number(row.get("lr")), repr(row["lr"]) if row.get("lr") is not None else ""),
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
        tds = "".join(
            f'<td data-value="{_e(key)}">{_e(text)}</td>' if key else f"<td>{_e(text)}</td>"
            for text, key in cells
        )
        body.append(f'<tr data-index="{index}">{tds}</tr>')
    note = (
        f"Target loss {_number(target)}: the highest of the configurations' best smoothed "
        "training losses, so every configuration that did not diverge reaches it; steps to "
        "target is the median over seeds of the first step whose smoothed loss is at or below it."
        if target is not None
        else ""
    )
    return (
        '<section id="comparison">\n<h2>Tuned comparison</h2>\n'
        f"<p>Each configuration at the learning rate its tuning chose ({_e(series.get('folds'))}"
        f"-fold cross-validation, {_e(series.get('budget', '?'))} rates on a log grid), "
        "over several seeds: final training loss and test accuracy as mean ± standard "
        "deviation over the seeds, speed, and how much of the learning-rate grid came within "
        f"10% of the best validation loss (more is less sensitive). {_e(note)}</p>\n"
        '<div class="table-wrap"><table id="comparison-table" class="sortable">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n"
        "</table></div>\n</section>"
    )


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


def _figure(out_dir: Path, figure: Mapping[str, Any], index: int, inline: str) -> str:
    name = str(figure.get("name") or f"figure-{index}")
    title = str(figure.get("title") or name)
    caption = figure.get("caption") or ""
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
    else:
        prefix = re.sub(r"[^A-Za-z0-9_-]", "-", f"f{index}-{name}") + "-"
        media = _svg_markup(path.read_text(encoding="utf-8"), prefix, alt)
    anchor = re.sub(r"[^A-Za-z0-9_-]", "-", f"figure-{name}")
    return (
        f'<figure id="{_e(anchor)}">\n<h3>{_e(title)}</h3>\n{media}\n'
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


def _problem_line(problem: Mapping[str, Any]) -> str:
    parts = [f"{problem.get('name', '')} ({problem.get('kind', '')})"]
    function = problem.get("function")
    if isinstance(function, Mapping) and function.get("description"):
        parts.append(f"f = {function['description']}")
    data = problem.get("data")
    if isinstance(data, Mapping):
        sizes = [
            f"{data[k]} {label}"
            for k, label in (("n_train", "train"), ("n_test", "test"))
            if data.get(k) is not None
        ]
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


def render_report(
    results: Mapping[str, Any],
    figures: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    inline: str = "png",
) -> str:
    """The report page as text; see :func:`write_report`."""
    if inline not in ("png", "svg"):
        raise ValueError(f"inline must be 'png' or 'svg'; got {inline!r}")
    # Strict JSON first: a NaN anywhere is an error, not a broken page.
    dumps(results, indent=None)
    out_dir = Path(out_dir)
    title = str(results.get("title") or results.get("experiment") or "gdlab report")
    runs = list(results.get("runs") or [])
    status = results.get("status", "complete")
    if status == "interrupted":
        notice = (
            '<div class="notice" role="status"><strong>Interrupted.</strong> '
            f"This race stopped early: the report shows the {len(runs)} "
            f"run{'s' if len(runs) != 1 else ''} that finished.</div>"
        )
    else:
        notice = f'<p class="status-complete">Status: {_e(status)}.</p>'
    figure_html = "\n".join(
        _figure(out_dir, figure, index, inline) for index, figure in enumerate(figures)
    )
    problem = results.get("problem")
    meta = [f"Experiment <code>{_e(results.get('experiment', ''))}</code>"]
    if problem:  # a plot's page has no problem and no runs: it says neither
        meta.append(f"Problem: {_e(_problem_line(problem))}")
    meta.append(f"Created {_e(results.get('created', ''))}")
    diverged = sum(1 for run in runs if run.get("status") == "diverged")
    counts = f"{len(runs)} run{'s' if len(runs) != 1 else ''}" + (
        f", {diverged} diverged" if diverged else ""
    )
    runs_section = (
        f'<section id="results">\n<h2>Runs</h2>\n<p>{_e(counts)}.</p>\n{_table(runs)}\n</section>'
        if runs or problem
        else ""
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
{_paragraphs(str(results.get("description") or ""))}
<h2 id="command">Command</h2>
<pre><code>{_e(results.get("command", ""))}</code></pre>
{runs_section}
{_comparison(results.get("series") or {})}
<section id="figures">
<h2>Figures</h2>
{figure_html or "<p>No figures.</p>"}
</section>
{_environment(results)}
</main>
<script type="application/json" id="gdlab-runs">{_script_json(_summary(runs))}</script>
<script>{_SORT_JS}</script>
</body>
</html>
"""
    )


def write_report(
    results: Mapping[str, Any],
    figures: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    inline: str = "png",
) -> Path:
    """Write ``out_dir/index.html`` (atomically): one self-contained page.

    Args:
        results: a ``gdlab.results/1`` document (``docs/results.md``).
        figures: ``{"name", "title", "caption", "png", "svg"}`` per figure, in
            page order; ``png`` and ``svg`` are paths relative to ``out_dir``.
        out_dir: the report's directory.
        inline: ``"png"`` (default) embeds each figure as a base64 PNG;
            ``"svg"`` embeds the SVG markup (ids made unique), falling back to
            the PNG for a figure without an SVG.

    Returns:
        The path of ``index.html``.

    Raises:
        ValueError: if ``results`` holds a NaN or infinity (the path is named),
            or a figure file is not a PNG.
        FileNotFoundError: if a figure's file is missing.
    """
    page = render_report(results, figures, out_dir, inline=inline)
    return _io.atomic_write(Path(out_dir) / "index.html", lambda fh: fh.write(page.encode()))


def render_tour(
    entries: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]], str]],
    out_dir: str | Path,
    *,
    title: str = "gdlab tour: every seed experiment",
    command: str = "",
) -> str:
    """One page for several experiments: each one's table and figures, inline.

    ``entries`` holds ``(results, figures, subdir)`` per experiment, where the
    figures' paths are relative to ``out_dir/subdir`` (its own report, linked).
    """
    out_dir = Path(out_dir)
    sections, toc = [], []
    offset = 0
    for k, (results, figures, subdir) in enumerate(entries):
        dumps(results, indent=None)
        anchor = re.sub(r"[^A-Za-z0-9_-]", "-", str(results.get("experiment", k)))
        name = str(results.get("title") or results.get("experiment"))
        toc.append(f'<li><a href="#{_e(anchor)}">{_e(name)}</a></li>')
        runs = list(results.get("runs") or [])
        figure_html = "\n".join(
            _figure(out_dir / subdir, figure, offset + i, "png") for i, figure in enumerate(figures)
        )
        offset += len(figures)
        status = results.get("status", "complete")
        notice = (
            '<div class="notice" role="status"><strong>Interrupted.</strong></div>'
            if status == "interrupted"
            else ""
        )
        sections.append(
            f'<section id="{_e(anchor)}">\n<h2>{_e(name)}</h2>\n{notice}'
            f"{_paragraphs(str(results.get('description') or ''))}\n"
            f'<p><a href="{_e(subdir)}/index.html">The full report</a> · '
            f"<code>{_e(results.get('command', ''))}</code></p>\n"
            f"{_table(runs, f'runs-{anchor}') if runs else ''}\n{figure_html}\n</section>"
        )
    first = entries[0][0] if entries else {}
    return (
        _head(title)
        + f"""
<main>
<header>
<h1>{_e(title)}</h1>
</header>
<h2 id="command">Command</h2>
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
