"""The HTML report and the ``results.json`` schema.

Without a browser: the schema accepts synthetic documents and rejects broken
ones (NaN included), and the page parses, is self-contained, escapes what users
wrote, ranks the runs before listing them and shows each optimizer's rule.

In headless Chromium (Playwright, driving the system's Chromium: no browser is
downloaded), every built-in report and ``gdlab plot`` page and a tuned race,
made once per module with few steps: no console error, no request leaving the
page (each is refused and recorded), every chart drawn (its traces' points in the
DOM), a tooltip on hover, a legend entry that hides its run, a log switch that
changes the axis, a drag that zooms and a double-click that zooms back out, the
charts drawn within 2 s of navigation, the page under 10 MB
and no sideways scrolling at 1280 px or 390 px. Screenshots at both widths go to
a temporary directory, or to ``GDLAB_SCREENSHOTS`` when set, to be looked at.
Chromium or Playwright is skipped where it is missing, except under
``CI=true``, where a missing browser (or matplotlib, or jsonschema) fails the test.
"""

from __future__ import annotations

import html
import importlib
import json
import math
import os
import re
import shutil
import struct
import sys
import time
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdlab.report.html import render_report, write_report
from gdlab.report.schema import SCHEMA, dumps, errors, validate

IN_CI = os.environ.get("CI", "").lower() == "true"
HOSTILE = "</script><script>alert('gotcha')</script>"


def _missing(what: str) -> None:
    """Skip for want of ``what``, or fail in CI, which must run everything."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI (CI=true)")
    pytest.skip(f"{what} is not installed")


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        _missing(f"the {module} package")


# --- synthetic documents -------------------------------------------------------


def _header(**overrides: Any) -> dict[str, Any]:
    document = {
        "schema": "gdlab.results/2",
        "experiment": "bowl",
        "title": "Seed 001 on the bowl",
        "description": "Three optimizers on x²/20 + y².\n\nOne of them diverges.",
        "changes": ["training.steps: 30 → 31"],
        "status": "complete",
        "command": "gdlab race bowl --steps 30 --lr sgd=0.95",
        "created": "2026-11-21T09:00:00+00:00",
        "config": {
            "name": "bowl",
            "description": "a < b && c > d",
            "seeds": 1,
            "problem": {"kind": "function", "function": "bowl"},
            "training": {"steps": 30},
            "runs": [{"label": "SGD", "optimizer": "sgd", "hyperparameters": {"lr": 0.95}}],
        },
        "versions": {"gdlab": "0.1.0", "python": "3.11.2", "numpy": "2.0.0"},
        "machine": {"platform": "Linux-test", "processor": "Test CPU", "cpus": 2},
        "problem": {
            "kind": "function",
            "name": "bowl",
            "traits": ["function2d"],
            "description": "bowl: x²/20 + y², from (-7, 2)",
            "function": {
                "name": "bowl",
                "description": "x²/20 + y²",
                "xlim": [-10, 10],
                "ylim": [-5, 5],
                "minima": [[0, 0]],
                "start": [-7, 2],
            },
        },
        "runs": [],
    }
    document.update(overrides)
    return document


def _run(run_id: str, label: str, optimizer: str, **overrides: Any) -> dict[str, Any]:
    steps = overrides.pop("steps", 30)
    loss = [50.0 * 0.8**k for k in range(steps)]
    run = {
        "id": run_id,
        "label": label,
        "group": label,
        "optimizer": optimizer,
        "preset": None,
        "hyperparameters": {"lr": 0.95},
        "seed": 0,
        "status": "ok",
        "reason": "",
        "stopped_at": None,
        "steps": steps,
        "seconds": 0.012,
        "compile_seconds": 0.0,
        "loss": loss,
        "lr": [0.95] * steps,
        "epochs": [{"epoch": 1, "step": steps, "seconds": 0.01, "train_loss": loss[-1]}],
        "metrics": {"final_loss": loss[-1], "best_loss": min(loss)},
    }
    run.update(overrides)
    return run


def bowl_document() -> dict[str, Any]:
    """A 2-D race, interrupted, with a diverged run and hostile strings."""
    path = [[-7.0 * 0.9**k, 2.0 * 0.5**k] for k in range(31)]
    runs = [
        _run("sgd-seed0", "SGD", "sgd", path=path, final_params={"x": path[-1][0], "y": 0.0}),
        _run(
            "adam-seed0",
            f"Adam {HOSTILE}",
            "adam",
            preset="book",
            hyperparameters={"lr": 0.3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
            path=path[:20],
            steps=20,
            final_params={"x": 0.01, "y": -0.002},
        ),
        _run(
            "sgd-lr1.1-seed0",
            "SGD lr=1.1",
            "sgd",
            hyperparameters={"lr": 1.1},
            status="diverged",
            reason="diverged at step 10: loss 3.1e+308 is not finite",
            stopped_at=9,
            steps=9,
            metrics={"final_loss": None, "best_loss": None},
            epochs=[],
        ),
    ]
    return _header(
        title=f"Bowl race {HOSTILE}",
        description="Three optimizers; <b>not bold</b> & one diverges.",
        status="interrupted",
        runs=runs,
    )


def data_document() -> dict[str, Any]:
    """A race on moons: accuracies, a schedule, a boundary, parameters in a file."""

    def epochs(scale: float) -> list[dict[str, Any]]:
        return [
            {
                "epoch": e,
                "step": 10 * e,
                "seconds": 0.01 * e,
                "train_loss": scale / e,
                "train_accuracy": 1 - scale / (2 * e),
                "test_loss": 1.1 * scale / e,
                "test_accuracy": 1 - scale / (1.8 * e),
            }
            for e in (1, 2, 3)
        ]

    def metrics(scale: float) -> dict[str, Any]:
        last = {k: v for k, v in epochs(scale)[-1].items() if k not in ("epoch", "step")}
        last.pop("seconds")
        return {**last, "final_loss": scale / 3, "best_loss": scale / 3}

    schedule = {"schedule": {"name": "exponential", "lr": 0.1, "rate": 0.95}}
    runs = [
        _run(
            f"adam-seed{seed}",
            "Adam",  # as gdlab writes a run's seeds: one label, the seed apart
            "adam",
            seed=seed,
            group="Adam",
            hyperparameters={"lr": 0.01, "beta1": 0.9, "beta2": 0.999},
            epochs=epochs(0.3 + 0.1 * seed),
            metrics=metrics(0.3 + 0.1 * seed),
            final_params={"file": f"params/adam-seed{seed}.npz"},
        )
        for seed in (1, 0)
    ]
    runs.append(
        _run(
            "sgd-seed0",
            "SGD",
            "sgd",
            hyperparameters=schedule,
            epochs=epochs(0.6),
            metrics=metrics(0.6),
            final_params={"W1": [[0.1, -0.2], [0.3, 0.4]], "b1": [0.0, 0.1]},
            boundary={
                "xlim": [-1.5, 2.5],
                "ylim": [-1.0, 1.5],
                "resolution": 2,
                "probability": [[0.1, 0.9], [0.4, 0.6]],
            },
        )
    )
    runs.append(
        _run(
            "sgd-lr5-seed0",
            "SGD lr=5",
            "sgd",
            hyperparameters={
                "lr": 5.0,
                "weight_decay": 0.0,
                "clip_norm": None,
                "nesterov": False,
                "fused": True,
            },
            status="diverged",
            reason="diverged at step 5: loss inf is not finite",
            stopped_at=4,
            steps=4,
            epochs=[],
            metrics={"final_loss": None, "best_loss": None},
        )
    )
    return _header(
        experiment="moons",
        title="Moons: Adam against SGD",
        command="gdlab race moons",
        problem={
            "kind": "mlp",
            "name": "mlp-moons",
            "traits": ["classifier", "data"],
            "data": {
                "name": "moons",
                "n_train": 4,
                "n_test": 2,
                "n_features": 2,
                "points": {
                    "X": [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [2.0, 1.0]],
                    "y": [0, 1, 0, 1],
                },
            },
            "sizes": [2, 10, 2],
        },
        runs=runs,
    )


def plot_document(series: dict[str, Any]) -> dict[str, Any]:
    """A ``gdlab plot`` document: no runs, a series."""
    return _header(experiment="plot", command="gdlab plot", series=series)


SERIES = {
    "schedules": {
        "kind": "schedules",
        "steps": 3,
        "steps_per_epoch": 1,
        "curves": [
            {
                "label": "inverse time",
                "formula": "lr = 0.1/(1 + 0.5·epoch)",
                "lr": [0.1, 0.0667, 0.05],
            }
        ],
    },
    "ewma": {
        "kind": "ewma",
        "dates": ["2012-01-01", "2012-01-02"],
        "values": [12.8, 10.6],
        "unit": "°C",
        "curves": [{"beta": 0.9, "bias_correction": True, "values": [12.8, 11.6]}],
    },
    "init": {
        "kind": "init",
        "layers": 1,
        "units": 100,
        "samples": 1000,
        "cases": [
            {
                "init": "std 1",
                "activation": "sigmoid",
                "layers": [
                    {
                        "counts": [3, 4],
                        "edges": [0.0, 0.5, 1.0],
                        "mean": 0.5,
                        "std": 0.4,
                        "saturated": 0.8,
                    }
                ],
            }
        ],
    },
}


# --- figures, drawn here (not with gdlab.report.figures) --------------------------


def _draw_figures(document: dict[str, Any], out_dir: Path) -> list[dict[str, Any]]:
    _require("matplotlib")
    from matplotlib.figure import Figure

    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    figures = []

    loss = Figure(figsize=(6, 3.5), layout="constrained")
    ax = loss.add_subplot()
    for run in document["runs"]:
        ax.semilogy(run["loss"], label=run["id"])
    ax.set(xlabel="step", ylabel="loss", title="Loss per step")
    ax.legend()
    figures.append(("loss", "Loss per step", "Batch loss before each update; log scale.", loss))

    bars = Figure(figsize=(5, 3), layout="constrained")
    ax = bars.add_subplot()
    ax.bar(
        range(len(document["runs"])),
        [run["steps"] for run in document["runs"]],
        color=["#1f77b4", "#ff7f0e", "#d62728", "#2ca02c"][: len(document["runs"])],
    )
    ax.set(xlabel="run", ylabel="steps", title="Steps per run")
    figures.append(("steps", "Steps per run", f"Updates applied. {HOSTILE}", bars))

    items = []
    for name, title, caption, figure in figures:
        figure.savefig(out_dir / "figures" / f"{name}.png", dpi=80)
        figure.savefig(out_dir / "figures" / f"{name}.svg")
        item = {
            "name": name,
            "title": title,
            "caption": caption,
            "png": f"figures/{name}.png",
            "svg": f"figures/{name}.svg",
        }
        if name == "loss":  # a figure without "look_for" shows none
            item["look_for"] = f"Which run ends lowest, and why. {HOSTILE}"
        items.append(item)
    return items


class Report:
    def __init__(self, out_dir: Path, document: dict[str, Any], inline: str) -> None:
        self.out_dir = out_dir
        self.document = document
        self.figures = _draw_figures(document, out_dir)
        self.path = write_report(document, self.figures, out_dir, inline=inline)
        self.text = self.path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bowl(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return Report(tmp_path_factory.mktemp("bowl"), bowl_document(), "png")


@pytest.fixture(scope="module")
def moons_svg(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return Report(tmp_path_factory.mktemp("moons"), data_document(), "svg")


# --- the schema ------------------------------------------------------------------


def test_schema_ships_with_the_package_and_is_a_valid_2020_12_schema():
    assert resources.files("gdlab.report").joinpath("results.schema.json").is_file()
    jsonschema = _require("jsonschema")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema"] == {"const": "gdlab.results/2"}


@pytest.mark.parametrize(
    "document",
    [bowl_document(), data_document(), *(plot_document(s) for s in SERIES.values())],
    ids=["bowl", "moons", *SERIES],
)
def test_validate_accepts_the_synthetic_documents(document):
    _require("jsonschema")
    validate(document)
    validate(json.loads(dumps(document)))  # and after a round trip through strict JSON


def _set(path: str, value: Any):
    def change(document: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        target = document
        for part in parents:
            target = target[part]
        target[last] = value

    return change


def _delete(path: str):
    def change(document: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        target = document
        for part in parents:
            target = target[part]
        del target[last]

    return change


BROKEN = {
    "missing runs": (_delete("runs"), r"\$: 'runs' is a required property"),
    "missing run seed": (_delete("runs/1/seed"), r"\$\.runs\[1\]: 'seed' is a required"),
    "bad status": (_set("status", "done"), r"\$\.status: 'done' is not one of"),
    "bad run status": (_set("runs/2/status", "exploded"), r"\$\.runs\[2\]\.status: 'exploded'"),
    "bad schema id": (_set("schema", "gdlab.results/1"), r"\$\.schema: 'gdlab\.results/2' was"),
    "empty kind": (_set("problem/kind", ""), r"\$\.problem\.kind: ''"),
    "problem without traits": (_delete("problem/traits"), r"\$\.problem: 'traits' is a required"),
    "changes not strings": (_set("changes", [3]), r"\$\.changes\[0\]: 3 is not of type"),
    "NaN in loss": (_set("runs/0/loss/2", math.nan), r"\$\.runs\[0\]\.loss\[2\]: nan is not a"),
    "inf in metrics": (
        _set("runs/0/metrics/best_loss", math.inf),
        r"\$\.runs\[0\]\.metrics\.best_loss: inf is not a finite number",
    ),
    "string in loss": (_set("runs/0/loss/1", "0.5"), r"\$\.runs\[0\]\.loss\[1\]: '0\.5' is not"),
    "unsafe id": (_set("runs/0/id", "a b/c"), r"\$\.runs\[0\]\.id: 'a b/c' does not match"),
    "negative seed": (_set("runs/0/seed", -1), r"\$\.runs\[0\]\.seed: -1 is less than"),
    "float seed": (_set("runs/0/seed", 1.5), r"\$\.runs\[0\]\.seed: 1\.5 is not of type"),
    "duplicate id": (
        _set("runs/1/id", "sgd-seed0"),
        r"\$\.runs\[1\]\.id: 'sgd-seed0' is not unique",
    ),
    "epoch without loss": (_delete("runs/0/epochs/0/train_loss"), r"\$\.runs\[0\]\.epochs\[0\]"),
    "3-D point": (_set("runs/0/path/1", [0.0, 1.0, 2.0]), r"\$\.runs\[0\]\.path\[1\]"),
    "params file not a string": (_set("runs/0/final_params", {"file": 3}), r"final_params"),
    "function problem without function": (_delete("problem/function"), r"'function' is a required"),
    "series missing curves": (
        _set("series", {"kind": "schedules", "steps": 3}),
        r"\$\.series: 'curves' is a required property",
    ),
    "versions not strings": (_set("versions/numpy", 2), r"\$\.versions\.numpy: 2 is not of type"),
}


@pytest.mark.parametrize(("change", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_validate_rejects_broken_documents_naming_the_path(change, message):
    _require("jsonschema")
    document = bowl_document()
    change(document)
    with pytest.raises(ValueError, match=message):
        validate(document)


def test_validate_lists_only_the_first_errors():
    _require("jsonschema")
    document = bowl_document()
    for run in document["runs"]:
        run["status"] = "bad"
        run["seed"] = -1
    with pytest.raises(ValueError, match=r"\(6 errors\):\n(  .*\n){5}  … and 1 more$"):
        validate(document)


def test_nan_is_rejected_by_the_validator_and_the_strict_writer():
    # Python's json module reads NaN by default; the validator must catch it.
    text = json.dumps(bowl_document(), allow_nan=False).replace("50.0", "NaN", 1)
    document = json.loads(text)
    assert math.isnan(document["runs"][0]["loss"][0])
    assert any("$.runs[0].loss[0]" in line for line in errors(document))
    with pytest.raises(ValueError, match=r"cannot write results as JSON: \$\.runs\[0\]\.loss\[0\]"):
        dumps(document)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        json.dumps(document, allow_nan=False)


def test_validate_without_jsonschema_still_checks_keys_and_enumerations(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import fails
    validate(bowl_document())
    document = bowl_document()
    del document["runs"][0]["steps"]
    document["runs"][1]["status"] = "exploded"
    document["runs"][2]["loss"][0] = math.nan
    found = errors(document)
    assert "$.runs[0]: 'steps' is a required property" in found
    assert any(line.startswith("$.runs[1].status: 'exploded'") for line in found)
    assert any(line.startswith("$.runs[2].loss[0]: nan") for line in found)


# --- the page, without a browser -----------------------------------------------------

VOID = {"meta", "link", "img", "br", "hr", "input", "source", "wbr", "col", "area", "base"}
#: The one address-like string the page may hold: the SVG namespace's name (never loaded).
NAMESPACE = "http://www.w3.org/2000/svg"


class Page(HTMLParser):
    """Collects what the tests look at, and checks that tags nest."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, str | None]] = []  # (tag, id) of the open elements
        self.problems: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.ids: list[str] = []
        self.references: list[str] = []
        self.rows: list[dict[str, str | None]] = []
        self.headers: list[dict[str, str | None]] = []
        self.buttons: list[dict[str, str | None]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.sources: list[str] = []  # src and href attributes
        self.svgs = 0
        self.feed(text)
        self.close()
        if self.open:
            self.problems.append(f"unclosed: {self.open}")

    def _inside(self, tag: str, element_id: str | None = None) -> bool:
        return any(t == tag and (element_id is None or i == element_id) for t, i in self.open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_startendtag(tag, attrs)
        if tag not in VOID:
            self.open.append((tag, dict(attrs).get("id")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if "id" in named:
            self.ids.append(named["id"] or "")
        for name in ("href", "xlink:href", "clip-path", "fill", "mask"):
            self.references += re.findall(r"#([^)\s\"]+)", named.get(name) or "")
        for name in ("src", "href"):
            if named.get(name):
                self.sources.append(named[name] or "")
        if tag == "img":
            self.images.append(named)
        elif tag == "svg":
            self.svgs += 1
        elif tag == "tr" and self._inside("tbody") and self._inside("table", "runs"):
            self.rows.append(named)
        elif tag == "th" and self._inside("table", "runs"):
            self.headers.append(named)
        elif tag == "button" and self._inside("table", "runs"):
            self.buttons.append(named)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.open or self.open[-1][0] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1] if self.open else None}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1][0] == "script":
            attrs = {"id": self.open[-1][1]}
            self.scripts.append((attrs, data))


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def _addresses(text: str) -> set[str]:
    return set(re.findall(r"https?://[^\s\"'<>)]*", text))


def test_page_parses_and_is_self_contained(bowl):
    page = Page(bowl.text)
    assert page.problems == []
    assert _addresses(bowl.text) <= {NAMESPACE}
    assert len(page.images) == len(bowl.figures) == 2
    for image, figure in zip(page.images, bowl.figures, strict=True):
        assert image["src"].startswith("data:image/png;base64,")
        assert image["alt"] == figure["title"]
        width, height = _png_size((bowl.out_dir / figure["png"]).read_bytes())
        assert (image["width"], image["height"]) == (str(width), str(height))
    # Nothing is loaded from anywhere: images are data: URIs; links name the report's files.
    for source in page.sources:
        assert source.startswith(("data:", "#", "figures/")), source
    assert "<link" not in bowl.text
    assert not re.search(r"<script[^>]*\bsrc=", bowl.text)
    assert "Content-Security-Policy" in bowl.text
    assert not list(bowl.out_dir.glob(".index.html.*"))  # the atomic write left no temporary


def test_page_escapes_user_strings(bowl):
    page = Page(bowl.text)
    assert "alert('gotcha')</script>" not in bowl.text
    assert "&lt;/script&gt;&lt;script&gt;alert(&#x27;gotcha&#x27;)" in bowl.text
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; one diverges" in bowl.text
    assert "a &lt; b &amp;&amp; c &gt; d" in bowl.text  # the config, in <details>
    # Five scripts of ours (self-check, run data, sorting, chart data, charts), no more.
    assert len(re.findall(r"<script\b", bowl.text)) == 5
    data = [json.loads(text) for attrs, text in page.scripts if attrs.get("id") == "gdlab-runs"]
    assert [run["label"] for run in data[0]] == [run["label"] for run in bowl.document["runs"]]
    charts = [json.loads(text) for attrs, text in page.scripts if attrs.get("id") == "gdlab-charts"]
    labels = {t.get("meta") for c in charts[0] for t in c["traces"]}
    assert any(HOSTILE in str(label) for label in labels)  # as data, escaped by the JSON


def test_page_content(bowl):
    document = bowl.document
    assert f"<title>{html.escape(document['title'])}</title>" in bowl.text
    assert f"<pre><code>{html.escape(document['command'])}</code></pre>" in bowl.text
    assert "Interrupted." in bowl.text
    for figure in bowl.figures:
        assert f"<h3>{html.escape(figure['title'])}</h3>" in bowl.text
        assert f"<figcaption>{html.escape(figure['caption'])}</figcaption>" in bowl.text
    look_for = html.escape(bowl.figures[0]["look_for"])
    assert f'<p class="look-for"><strong>What to look for.</strong> {look_for}</p>' in bowl.text
    assert bowl.text.count('class="look-for"') == 1  # the second figure has none
    for name, version in document["versions"].items():
        assert f"<dt>{name}</dt><dd>{version}</dd>" in bowl.text
    assert "<dt>processor</dt><dd>Test CPU</dd>" in bowl.text
    assert "<details><summary>" in bowl.text
    assert "lr=0.3, beta1=0.9, beta2=0.999, eps=1e-08" in bowl.text
    assert "adam (book)" in bowl.text


def test_summary_comes_before_the_runs_and_ranks_groups(bowl, moons_svg):
    for report in (bowl, moons_svg):
        text = report.text
        order = [text.index(f'id="{name}"') for name in ("summary", "figures", "results")]
        assert order == sorted(order)
    ranking = moons_svg.text[moons_svg.text.index('id="ranking"') :]
    ranking = ranking[: ranking.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", ranking, re.S)[1:]
    names = [re.findall(r"<td>([^<]*)</td>", row)[0] for row in rows]
    assert names == ["Adam", "SGD", "SGD lr=5"]  # Adam's mean over seeds 0 and 1 is best
    assert "2 of 2" not in ranking
    assert "diverged at step 5" in ranking  # stopped_at 4: step 5's loss


def test_each_optimizer_has_a_card_with_its_rule(bowl):
    from gdlab.optim import OPTIMIZERS
    from gdlab.report.maths import rule_mathml, rules, summary

    text = bowl.text
    section = text[text.index('id="optimizers"') : text.index('id="figures"')]
    cards = re.findall(r'<article class="card" id="([^"]+)"', section)
    assert cards == ["optimizer-sgd--", "optimizer-adam-book-"]
    for name in ("sgd", "adam"):
        cls = OPTIMIZERS[name]
        assert html.escape(summary(cls)) in section
        first = rules(cls)[0]
        names = list(cls().hyperparameters())
        for columns in rule_mathml(first, names):
            for element in columns:
                assert element in section  # the docstring's own lines, as MathML
    assert "per-coordinate scaling" in section  # Adam's v is explained
    assert "the learning rate" in section
    assert "the step count, from 1" in section


def test_cards_follow_the_form_that_ran():
    from gdlab.optim import OPTIMIZERS
    from gdlab.report.html import _rule_blocks

    adam = OPTIMIZERS["adam"]
    blocks = _rule_blocks(adam, {"form": "lr_t"})
    lines = [line for block in blocks for line in block.lines]
    # The lr_t block uses m and v: their updates come from the explicit block.
    assert lines[0].startswith("m ← β1·m")
    assert lines[1].startswith("v ← β2·v")
    assert any(line.startswith("lr_t =") for line in lines)
    assert blocks[0].caption == "m and v, as in the other form:"
    (book,) = _rule_blocks(OPTIMIZERS["momentum"], {"form": "book"})
    assert book.lines == ("v ← μ·v − lr·d", "p ← p + v")


def test_table_has_one_row_per_run_and_marks_divergence(bowl, moons_svg):
    for report in (bowl, moons_svg):
        page = Page(report.text)
        assert len(page.rows) == len(report.document["runs"])
        assert [row["data-index"] for row in page.rows] == [str(i) for i in range(len(page.rows))]
        diverged = [
            i for i, run in enumerate(report.document["runs"]) if run["status"] == "diverged"
        ]
        assert [
            i for i, row in enumerate(page.rows) if "diverged" in row["class"].split()
        ] == diverged
        for header in page.headers:
            assert header["scope"] == "col"
            assert header["aria-sort"] == "none"
        assert len(page.buttons) == len(page.headers)
        assert all(
            b["type"] == "button" and b["data-type"] in ("number", "text") for b in page.buttons
        )
    assert "diverged at step 10<" in bowl.text  # the step once, then the reason's rest
    assert "loss 3.1e+308 is not finite" in bowl.text
    assert "diverged at step 10: loss" not in bowl.text
    assert "diverged at step 5" in moons_svg.text
    assert "Test acc." in moons_svg.text
    assert "Test acc." not in bowl.text
    assert "lr=exponential(lr=0.1, rate=0.95)" in moons_svg.text
    # Unset, off, zero and implementation settings stay out of the cell, not the tooltip.
    hp = "{&quot;lr&quot;: 5.0, &quot;weight_decay&quot;: 0.0, &quot;clip_norm&quot;: null"
    assert f'<td class="hp" title="{hp}' in moons_svg.text
    assert '&quot;fused&quot;: true}">lr=5</td>' in moons_svg.text


def test_a_long_runs_table_is_collapsed(tmp_path):
    document = data_document()
    runs = document["runs"]
    document["runs"] = [dict(runs[2], id=f"sgd-seed{k}", seed=k) for k in range(13)]
    text = render_report(document, [], tmp_path, charts=False)
    assert '<details class="runs"><summary>Show all 13 runs' in text
    few = render_report(data_document(), [], tmp_path, charts=False)
    assert '<details class="runs">' not in few


def test_svg_inline_has_unique_ids_and_no_urls(moons_svg):
    page = Page(moons_svg.text)
    assert page.problems == []
    assert page.images == []
    assert page.svgs == len(moons_svg.figures) == 2
    assert len(page.ids) == len(set(page.ids))
    assert page.references
    assert set(page.references) <= set(page.ids)
    assert _addresses(moons_svg.text) <= {NAMESPACE}
    assert "<?xml" not in moons_svg.text
    assert "<!DOCTYPE svg" not in moons_svg.text


def test_no_js_page_has_the_images_and_no_chart(tmp_path, bowl):
    text = render_report(bowl.document, bowl.figures, bowl.out_dir, charts=False)
    assert 'class="chart-box"' not in text
    assert "gdlab-charts" not in text
    assert len(re.findall(r"<script\b", text)) == 3
    assert '<details class="static">' not in text  # the image is the figure
    assert len(Page(text).images) == 2


def test_a_plot_experiment_without_runs(tmp_path):
    text = render_report(plot_document(SERIES["schedules"]), [], tmp_path)
    assert Page(text).problems == []
    assert 'id="runs"' not in text
    assert 'id="summary"' not in text
    assert 'id="optimizers"' not in text


def test_write_report_refuses_nan_and_bad_arguments(tmp_path, bowl):
    document = bowl_document()
    document["runs"][1]["metrics"]["final_loss"] = math.nan
    with pytest.raises(ValueError, match=r"\$\.runs\[1\]\.metrics\.final_loss: nan"):
        write_report(document, [], tmp_path)
    assert not (tmp_path / "index.html").exists()
    with pytest.raises(ValueError, match="inline must be 'png' or 'svg'; got 'jpeg'"):
        write_report(bowl_document(), [], tmp_path, inline="jpeg")
    missing = [{"name": "x", "title": "X", "caption": "", "png": "figures/x.png"}]
    with pytest.raises(FileNotFoundError, match="figure 'x': no such file"):
        write_report(bowl_document(), missing, tmp_path)
    (tmp_path / "fake.png").write_bytes(b"GIF89a" + bytes(40))
    fake = [{"name": "f", "title": "F", "caption": "", "png": "fake.png"}]
    with pytest.raises(ValueError, match="is not a PNG file"):
        write_report(bowl_document(), fake, tmp_path)


def test_charts_twin_the_figures_with_the_figures_styles():
    from gdlab.report import figures, interactive

    document = data_document()
    charts = interactive.charts(document)
    assert [c["figure"] for c in charts] == ["loss", "accuracy", "lr"]
    styles = figures.group_styles(document["runs"])
    loss = charts[0]
    for trace in loss["traces"]:
        style = styles[trace["legendgroup"]]
        assert (trace["line"]["color"], trace["line"]["dash"]) == (style.color, style.dash)
    # The noisy loss goes to the page raw; the page smooths it (the slider starts at β 0.9).
    assert loss["smooth"]["beta"] == figures.SMOOTH_BETA
    assert all("y" not in loss["traces"][int(k)] for k in loss["smooth"]["raw"])
    assert interactive.charts(document, names=["accuracy"])[0]["figure"] == "accuracy"


# --- the built-in reports in headless Chromium (Playwright) ------------------------------

#: Short versions of the built-in reports, made once per session (``--workers 1``: the runs
#: take milliseconds, a process takes seconds to start).
BUILT = {
    "bowl": ["race", "bowl"],
    "boston": ["race", "boston", "--steps", "150"],
    "moons": ["race", "moons", "--epochs", "20"],
    "mnist": ["race", "mnist", "--steps", "40", "--optimizers", "sgd,momentum,adam"],
    "schedules": ["race", "schedules", "--epochs", "1", "--optimizers", "sgd"],
    "plot-schedules": ["plot", "schedules"],
    "plot-ewma": ["plot", "ewma"],
    "plot-init": ["plot", "init"],
    "tuned": None,  # gdlab tune boston, then gdlab race boston --tuned
}
#: A page's budget: its size, and the time until every chart is drawn (from navigation).
MAX_BYTES = 10 * 2**20
MAX_RENDER_MS = 2000
WIDTHS = (1280, 390)


def _chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        binary = shutil.which(name)
        if binary:
            return binary
    _missing("Chromium (chromium, chromium-browser or google-chrome)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def browser():
    sync_api = _require("playwright.sync_api")
    binary = _chromium_binary()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield launched
        launched.close()


class Reports:
    """The built-in reports, each made on first use (once per module)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self.made:
            from gdlab import cli

            out = self.root / name
            if name == "tuned":
                tune = self.root / "boston-tune"
                argv = ["tune", "boston", "--budget", "3", "--folds", "2", "--steps", "60"]
                assert cli.main([*argv, "--out", str(tune), "--quiet"]) == 0
                argv = ["race", "boston", "--tuned", str(tune), "--steps", "60", "--seeds", "2"]
            else:
                argv = list(BUILT[name])
            if argv[0] == "race":
                argv += ["--workers", "1"]
            assert cli.main([*argv, "--out", str(out), "--quiet"]) == 0, name
            self.made[name] = out
        return self.made[name]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    return Reports(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go (``GDLAB_SCREENSHOTS`` names a directory to keep them)."""
    chosen = os.environ.get("GDLAB_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Opened:
    """A page opened in Chromium, with what it said and asked for."""

    def __init__(self, browser: Any, path: Path, width: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.requests: list[str] = []
        self.page.on(
            "console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in (
                "error", "warning") else None,
        )  # fmt: skip
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

        def route(request_route: Any) -> None:
            url = request_route.request.url
            if url.startswith(("file:", "data:", "about:")):
                request_route.continue_()
            else:  # nothing may leave the page: refused, and recorded
                self.requests.append(url)
                request_route.abort()

        self.page.route("**/*", route)
        self.page.on(
            "request",
            lambda r: None if r.url.startswith(("file:", "data:", "about:")) else (
                self.requests.append(r.url)),
        )  # fmt: skip
        self.page.goto(path.as_uri())
        self.page.wait_for_function("document.body && document.body.dataset.reportCheck")
        self.check = json.loads(self.page.get_attribute("body", "data-report-check"))
        self.ready = None
        if self.check["charts"]:
            self.page.wait_for_function("document.body.dataset.chartsReady")
            self.ready = json.loads(self.page.get_attribute("body", "data-charts-ready"))

    def close(self) -> None:
        self.context.close()


def _chart_ids(opened: Opened) -> list[str]:
    return opened.page.eval_on_selector_all(
        ".chart-box[data-chart]", "boxes => boxes.map(b => b.getAttribute('data-chart'))"
    )


@pytest.mark.parametrize("name", list(BUILT))
def test_each_built_in_report_in_chromium(name, reports, browser, screenshots):
    started = time.perf_counter()
    out = reports[name]
    made = time.perf_counter() - started
    index = out / "index.html"
    document = json.loads((out / "results.json").read_text())
    validate(document)
    size = index.stat().st_size
    assert size < MAX_BYTES, f"{name}: {size} bytes"
    for width in WIDTHS:
        opened = Opened(browser, index, width)
        try:
            page = opened.page
            assert opened.console == [], opened.console
            assert opened.requests == []
            assert opened.check["errors"] == []
            assert opened.check["brokenImages"] == []
            assert page.locator("#runs tbody tr").count() == len(document["runs"])
            specs = json.loads(page.inner_text("#gdlab-charts")) if opened.ready else []
            assert opened.check["charts"] == len(specs)
            if opened.ready:
                assert opened.ready["failed"] == []
                assert opened.ready["ms"] < MAX_RENDER_MS, opened.ready
                if width == WIDTHS[0]:  # the interactions once; both widths draw every chart
                    _check_charts(opened, specs)
            page.screenshot(path=str(screenshots / f"{name}-{width}.png"), full_page=True)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"{name} at {width} px scrolls sideways by {overflow} px"
        finally:
            opened.close()
    drawn = opened.ready["ms"] if opened.ready else "-"
    seconds = time.perf_counter() - started - made
    print(f"{name}: {size / 2**20:.2f} MB, charts drawn in {drawn} ms; made in {made:.1f} s, "
          f"checked in {seconds:.1f} s")  # fmt: skip


def _check_charts(opened: Opened, specs: list[dict[str, Any]]) -> None:
    """Every chart drew every visible trace's points; hover, legend and log switch work."""
    page = opened.page
    assert _chart_ids(opened) == [s["id"] for s in specs]
    for spec in specs:
        box = page.locator(f'.chart-box[data-chart="{spec["id"]}"]')
        drawn = box.locator("g.trace").evaluate_all(
            "gs => gs.map(g => [Number(g.dataset.trace), Number(g.dataset.points)])"
        )
        expected = [i for i, t in enumerate(spec["traces"]) if t["mode"] != "contour"]
        assert [i for i, _ in drawn] == expected, spec["id"]
        assert all(points > 0 for _, points in drawn), (spec["id"], drawn)
        contours = [t for t in spec["traces"] if t["mode"] == "contour"]
        if contours:
            assert box.locator("g.contour path").count() == len(contours[0]["paths"]) > 0
    first = specs[0]
    _drag_zooms_and_double_click_resets(page, first)
    _hover_shows_a_tooltip(page, first)
    _legend_hides_and_solos(page, first)
    switch = next((s for s in specs if (s.get("scale") or {}).get("switch")), None)
    if switch is not None:
        _log_switch_changes_the_axis(page, switch)


def _hover_shows_a_tooltip(page: Any, spec: dict[str, Any]) -> None:
    index = next(
        i for i, t in enumerate(spec["traces"]) if t.get("hover") and t["mode"] != "contour"
    )
    box = page.locator(f'.chart-box[data-chart="{spec["id"]}"]')
    box.scroll_into_view_if_needed()
    point = page.evaluate(
        """([id, index]) => {
            const chart = window.gdlabCharts.charts[id];
            const pixels = chart.pixels[index];
            let k = Math.floor(pixels.x.length / 2);
            while (k > 0 && !(isFinite(pixels.x[k]) && isFinite(pixels.y[k]))) { k--; }
            const rect = chart.svg.getBoundingClientRect();
            return [rect.left + pixels.x[k], rect.top + pixels.y[k]];
        }""",
        [spec["id"], index],
    )
    page.mouse.move(point[0], point[1])
    tip = box.locator(".tooltip")
    tip.wait_for(state="visible", timeout=2000)
    text = tip.inner_text()
    assert any(str(t.get("meta") or t["name"]) in text for t in spec["traces"] if "name" in t)
    page.mouse.move(0, 0)


def _drag_zooms_and_double_click_resets(page: Any, spec: dict[str, Any]) -> None:
    box = page.locator(f'.chart-box[data-chart="{spec["id"]}"]')
    box.scroll_into_view_if_needed()
    view = "id => window.gdlabCharts.charts[id].view.x.slice()"
    before = page.evaluate(view, spec["id"])
    frame = page.evaluate(
        """id => { const c = window.gdlabCharts.charts[id]; const r = c.svg.getBoundingClientRect();
                   return [r.left + c.frame.l, r.top + c.frame.t, c.frame.w, c.frame.h]; }""",
        spec["id"],
    )
    left, top, width, height = frame
    page.mouse.move(left + 0.25 * width, top + 0.5 * height)
    page.mouse.down()
    page.mouse.move(left + 0.5 * width, top + 0.5 * height, steps=4)
    page.mouse.up()
    after = page.evaluate(view, spec["id"])
    assert after[1] - after[0] < 0.5 * (before[1] - before[0])  # a quarter of the width
    page.mouse.dblclick(left + 0.5 * width, top + 0.5 * height)
    assert page.evaluate(view, spec["id"]) == before
    page.mouse.move(0, 0)


def _legend_hides_and_solos(page: Any, spec: dict[str, Any]) -> None:
    box = page.locator(f'.chart-box[data-chart="{spec["id"]}"]')
    buttons = box.locator("ul.legend button")
    assert buttons.count() >= 1
    group = buttons.first.get_attribute("data-group")
    shown = box.locator(f'g.trace[data-group="{group}"]')
    before = shown.count()
    assert before >= 1
    buttons.first.click()
    assert buttons.first.get_attribute("aria-pressed") == "false"
    assert shown.count() == 0  # that run is hidden
    buttons.first.click()
    assert shown.count() == before
    if buttons.count() > 1:
        buttons.first.dblclick()  # alone
        others = box.locator("g.trace").evaluate_all("gs => gs.map(g => g.dataset.group)")
        assert set(others) <= {group}
        buttons.first.dblclick()  # everyone back
        assert box.locator('ul.legend button[aria-pressed="false"]').count() == 0


def _log_switch_changes_the_axis(page: Any, spec: dict[str, Any]) -> None:
    box = page.locator(f'.chart-box[data-chart="{spec["id"]}"]')
    box.scroll_into_view_if_needed()
    kind = spec["scale"]["kind"]
    other = "linear" if kind == "log" else "log"
    assert box.get_attribute("data-y-scale") == kind
    ticks = box.locator("g.ticks").text_content()
    box.locator(f'button[data-scale="{other}"]').click()
    assert box.get_attribute("data-y-scale") == other
    assert box.locator("text.title").last.text_content().endswith("(log)") == (other == "log")
    assert box.locator("g.ticks").text_content() != ticks
    box.locator(f'button[data-scale="{kind}"]').click()
    assert box.get_attribute("data-y-scale") == kind


def test_the_page_smooths_as_python_does(reports, browser):
    """The slider's EWMA in the page is gdlab's bias-corrected EWMA, to rounding."""
    from gdlab.averages import ewma
    from gdlab.report.figures import smooth

    opened = Opened(browser, reports["boston"] / "index.html", 1280)
    try:
        rng = np.random.default_rng(0)
        series = [rng.normal(1.0, 0.3, 5000).tolist(), [4.0, 2.0], [3.0]]
        for values in series:
            for beta in (0.0, 0.5, 0.9, 0.99, 0.999):
                page = opened.page.evaluate(
                    "([v, b]) => window.gdlabCharts.ewma(v, b)", [values, beta]
                )
                np.testing.assert_allclose(
                    page, ewma(values, beta, bias_correction=True), rtol=1e-12
                )
                np.testing.assert_allclose(page, smooth(values, beta), rtol=1e-12)
        # The slider: at its first stop (β = 0) the loss curves are the raw losses.
        spec = next(c for c in json.loads(opened.page.inner_text("#gdlab-charts")) if c["smooth"])
        box = opened.page.locator(f'.chart-box[data-chart="{spec["id"]}"]')
        box.locator("input.smooth").fill("0")
        assert box.locator("output.smooth-value").inner_text().startswith("off")
        key, raw = next(iter(spec["smooth"]["raw"].items()))
        shown = opened.page.evaluate(
            "([id, k]) => window.gdlabCharts.charts[id].traces[k].y", [spec["id"], int(key)]
        )
        assert shown == raw
    finally:
        opened.close()
