"""The HTML report and the ``results.json`` schema.

Without a browser: the schema accepts synthetic documents and rejects broken
ones (NaN included), and the page parses, is self-contained and escapes what
users wrote. With headless Chromium: the page loads without script errors or
broken images (its own self-check says so), the table sorts, and a screenshot
is not blank. Chromium is skipped where it is missing, except under ``CI=true``,
where a missing browser (or matplotlib, or jsonschema) fails the test.
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
import subprocess
import sys
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

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
            reason="loss 3.1e+308 is not finite",
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
            f"Adam (seed {seed})",
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
            reason="loss is not finite",
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
        items.append(
            {
                "name": name,
                "title": title,
                "caption": caption,
                "png": f"figures/{name}.png",
                "svg": f"figures/{name}.svg",
            }
        )
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
        if tag == "img":
            self.images.append(named)
        elif tag == "svg":
            self.svgs += 1
        elif tag == "tr" and self._inside("tbody") and self._inside("table", "runs"):
            self.rows.append(named)
        elif tag == "th":
            self.headers.append(named)
        elif tag == "button":
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


def test_page_parses_and_is_self_contained(bowl):
    page = Page(bowl.text)
    assert page.problems == []
    assert not re.search(r"https?://", bowl.text, re.IGNORECASE)
    assert len(page.images) == len(bowl.figures) == 2
    for image, figure in zip(page.images, bowl.figures, strict=True):
        assert image["src"].startswith("data:image/png;base64,")
        assert image["alt"] == figure["title"]
        width, height = _png_size((bowl.out_dir / figure["png"]).read_bytes())
        assert (image["width"], image["height"]) == (str(width), str(height))
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
    # Three scripts of ours (self-check, run data, sorting), no more.
    assert len(re.findall(r"<script\b", bowl.text)) == 3
    data = [json.loads(text) for attrs, text in page.scripts if attrs.get("id") == "gdlab-runs"]
    assert [run["label"] for run in data[0]] == [run["label"] for run in bowl.document["runs"]]


def test_page_content(bowl):
    document = bowl.document
    assert f"<title>{html.escape(document['title'])}</title>" in bowl.text
    assert f"<pre><code>{html.escape(document['command'])}</code></pre>" in bowl.text
    assert "Interrupted." in bowl.text
    for figure in bowl.figures:
        assert f"<h3>{html.escape(figure['title'])}</h3>" in bowl.text
        assert f"<figcaption>{html.escape(figure['caption'])}</figcaption>" in bowl.text
    for name, version in document["versions"].items():
        assert f"<dt>{name}</dt><dd>{version}</dd>" in bowl.text
    assert "<dt>processor</dt><dd>Test CPU</dd>" in bowl.text
    assert "<details><summary>" in bowl.text
    assert "lr=0.3, beta1=0.9, beta2=0.999, eps=1e-08" in bowl.text
    assert "adam (book)" in bowl.text


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
    assert "diverged at step 9" in bowl.text
    assert "diverged at step 4" in moons_svg.text
    assert "Test acc." in moons_svg.text
    assert "Test acc." not in bowl.text
    assert "lr=exponential(lr=0.1, rate=0.95)" in moons_svg.text
    # Unset, off, zero and implementation settings stay out of the cell, not the tooltip.
    hp = "{&quot;lr&quot;: 5.0, &quot;weight_decay&quot;: 0.0, &quot;clip_norm&quot;: null"
    assert f'<td class="hp" title="{hp}' in moons_svg.text
    assert '&quot;fused&quot;: true}">lr=5</td>' in moons_svg.text


def test_svg_inline_has_unique_ids_and_no_urls(moons_svg):
    page = Page(moons_svg.text)
    assert page.problems == []
    assert page.images == []
    assert page.svgs == len(moons_svg.figures) == 2
    assert len(page.ids) == len(set(page.ids))
    assert page.references
    assert set(page.references) <= set(page.ids)
    assert not re.search(r"https?://", moons_svg.text, re.IGNORECASE)
    assert "<?xml" not in moons_svg.text
    assert "<!DOCTYPE svg" not in moons_svg.text


def test_a_plot_experiment_without_runs(tmp_path):
    text = render_report(plot_document(SERIES["schedules"]), [], tmp_path)
    assert Page(text).problems == []
    assert 'id="runs"' not in text
    assert "has no runs" in text


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


# --- the page in headless Chromium ------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        binary = shutil.which(name)
        if binary:
            return binary
    _missing("Chromium (chromium, chromium-browser or google-chrome)")
    raise AssertionError("unreachable")


def _run_chromium(binary: str, work: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    profile = work / f"profile-{len(list(work.glob('profile-*')))}"
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
        "--v=0",
        *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{command} failed:\n{result.stderr[-4000:]}"
    return result


def _dump(binary: str, page: Path) -> tuple[str, str]:
    """The DOM after load, and Chromium's log lines about ``page``'s console."""
    result = _run_chromium(binary, page.parent, "--dump-dom", page.as_uri())
    console = [
        line
        for line in result.stderr.splitlines()
        if "Uncaught" in line or ("CONSOLE" in line and page.name in line)
    ]
    return result.stdout, console


def _data(dom: str, name: str) -> Any:
    match = re.search(rf'<body[^>]*\bdata-{name}="([^"]*)"', dom)
    assert match, f"no data-{name} on <body>; the page's scripts did not run:\n{dom[:2000]}"
    return json.loads(html.unescape(match.group(1)))


def test_browser_loads_the_page_without_errors(chromium, bowl):
    dom, console = _dump(chromium, bowl.path)
    check = _data(dom, "report-check")
    assert check == {
        "errors": [],
        "brokenImages": [],
        "images": 2,
        "svgs": 0,
        "figures": 2,
        "rows": len(bowl.document["runs"]),
    }
    assert console == []


def test_browser_screenshot_is_not_blank(chromium, bowl):
    image = _require("matplotlib.image")
    shot = bowl.out_dir / "shot.png"
    _run_chromium(
        chromium,
        bowl.out_dir,
        "--hide-scrollbars",
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        bowl.path.as_uri(),
    )
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (1600, 1280)
    rgb = pixels[..., :3]
    assert rgb.std() > 0.02
    colours = {tuple(p) for p in (rgb[::7, ::7] * 255).round().astype(int).reshape(-1, 3)}
    assert len(colours) > 16


SORT_PROBE = """<script>
window.addEventListener("load", function () {
  var table = document.getElementById("runs");
  var heads = table.tHead.rows[0].cells;
  function column(name) {
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].textContent.trim() === name) { return heads[i]; }
    }
  }
  function labels() {
    return Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return row.cells[0].textContent.trim();
    });
  }
  var loss = column("Final loss"), run = column("Run");
  var out = {};
  loss.querySelector("button").click();
  out.ascending = [labels(), loss.getAttribute("aria-sort")];
  loss.querySelector("button").click();
  out.descending = [labels(), loss.getAttribute("aria-sort")];
  run.querySelector("button").click();
  out.byRun = [labels(), run.getAttribute("aria-sort"), loss.getAttribute("aria-sort")];
  document.body.dataset.sortCheck = JSON.stringify(out);
});
</script>
</body>"""


def test_browser_sorts_the_table_and_shows_inline_svg(chromium, moons_svg):
    probe = moons_svg.out_dir / "sort-probe.html"
    probe.write_text(moons_svg.text.replace("</body>", SORT_PROBE), encoding="utf-8")
    dom, console = _dump(chromium, probe)
    runs = moons_svg.document["runs"]
    assert _data(dom, "report-check") == {
        "errors": [],
        "brokenImages": [],
        "images": 0,
        "svgs": 2,
        "figures": 2,
        "rows": len(runs),
    }
    assert console == []
    finite = [r for r in runs if r["metrics"]["final_loss"] is not None]
    missing = [r["label"] for r in runs if r["metrics"]["final_loss"] is None]
    by_loss = [r["label"] for r in sorted(finite, key=lambda r: r["metrics"]["final_loss"])]
    order = _data(dom, "sort-check")
    assert order["ascending"] == [by_loss + missing, "ascending"]
    assert order["descending"] == [by_loss[::-1] + missing, "descending"]
    assert order["byRun"] == [sorted(r["label"] for r in runs), "ascending", "none"]


def test_browser_self_check_reports_errors(chromium, bowl):
    """The self-check and the log filter do see a script error and a broken image."""
    broken = bowl.out_dir / "broken.html"
    bad = '<img alt="bad" src="data:image/png;base64,AAAA"><script>noSuchFunction();</script>'
    broken.write_text(bowl.text.replace("</body>", bad + "</body>"), encoding="utf-8")
    dom, console = _dump(chromium, broken)
    check = _data(dom, "report-check")
    assert any("noSuchFunction" in e for e in check["errors"])
    assert check["brokenImages"] == ["bad"]
    assert any("noSuchFunction" in line for line in console)
