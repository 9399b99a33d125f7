"""Reports fed odd but valid runs: labels with ``$``, ``_`` or hundreds of characters, runs
that share an id or hold NaN, a build that fails half-way, a document of series only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gdlab import report
from gdlab.report import figures
from gdlab.report.schema import validate

PROBLEM = {
    "kind": "function",
    "name": "bowl",
    "traits": ["function2d"],
    "description": "bowl: f(x, y) = x^2/20 + y^2, from (-7, 2)",
    "function": {
        "name": "bowl",
        "description": "f(x, y) = x^2/20 + y^2",
        "xlim": [-10.0, 10.0],
        "ylim": [-5.0, 5.0],
        "minima": [[0.0, 0.0]],
        "start": [-7.0, 2.0],
    },
}


def _record(label: str, lr: float, *, run_id: str | None = None, steps: int = 8) -> dict:
    """A run of gradient descent on the bowl, as race() records it."""
    point, path, loss = np.array([-7.0, 2.0]), [[-7.0, 2.0]], []
    for _ in range(steps):
        loss.append(float(point[0] ** 2 / 20 + point[1] ** 2))
        point = point - lr * np.array([point[0] / 10, 2 * point[1]])
        path.append(point.tolist())
    final = float(point[0] ** 2 / 20 + point[1] ** 2)
    return {
        "id": run_id or f"run{lr:g}-seed0".replace(".", "_"),
        "label": label,
        "group": label,
        "optimizer": "sgd",
        "preset": None,
        "hyperparameters": {"lr": lr},
        "seed": 0,
        "status": "ok",
        "reason": "",
        "stopped_at": None,
        "steps": steps,
        "seconds": 0.001,
        "loss": loss,
        "lr": [lr] * steps,
        "epochs": [],
        "metrics": {"train_loss": final, "final_loss": final, "best_loss": min([*loss, final])},
        "final_params": {"x": float(point[0]), "y": float(point[1])},
        "path": path,
    }


def _document(*records: dict) -> dict:
    return {"schema": "gdlab.results/2", "problem": PROBLEM, "runs": list(records)}


def _legend_texts(fig) -> list[str]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [t.get_text().lstrip("\N{WORD JOINER}") for lg in legends for t in lg.get_texts()]


# --- labels in the figures ---------------------------------------------------------------


def test_a_dollar_in_a_label_is_a_dollar_not_mathtext(tmp_path: Path) -> None:
    # matplotlib read "$x^$" as mathtext and raised a parse error (the whole report failed);
    # "$5 and $6" was drawn as maths in italics, the "$" signs gone
    labels = ["cost $x^$ here", "a $5 and $6"]
    doc = _document(_record(labels[0], 0.1), _record(labels[1], 0.3))
    fig = figures.loss_figure(doc)
    figures._save(fig, tmp_path, "loss")
    assert _legend_texts(fig) == labels
    legend = fig.axes[0].get_legend()
    assert not any(t.get_parse_math() for t in legend.get_texts())
    fig = figures.paths_figure(doc, resolution=20)
    figures._save(fig, tmp_path, "paths")
    assert [ax.get_title().split(" (lr")[0] for ax in fig.axes] == labels
    assert (tmp_path / "paths.png").stat().st_size > 0


def test_a_label_that_starts_with_an_underscore_keeps_its_legend_entry(tmp_path: Path) -> None:
    # matplotlib leaves labels starting with "_" out of a legend: "_baseline" had no entry
    doc = _document(_record("_baseline", 0.1), _record("tuned", 0.3))
    fig = figures.loss_figure(doc)
    figures._save(fig, tmp_path, "loss")
    assert _legend_texts(fig) == ["_baseline", "tuned"]


def test_long_labels_are_cut_to_fit_their_cell_and_column(tmp_path: Path) -> None:
    # a label of 160 characters ran over its neighbours' titles in the paths figure, and
    # its legend entry ran off both sides of the loss figure
    labels = ["very long label " * 10 + str(i) for i in range(3)]
    rates = (0.1, 0.3, 0.5)
    doc = _document(*(_record(label, lr) for label, lr in zip(labels, rates, strict=True)))
    fig = figures.paths_figure(doc, resolution=20)
    figures._save(fig, tmp_path, "paths")
    renderer = fig.canvas.get_renderer()
    cell = fig.get_figwidth() * fig.dpi / 3
    titles = [ax.title for ax in fig.axes]
    assert all(t.get_window_extent(renderer).width <= cell for t in titles)
    for i, (title, lr) in enumerate(zip(titles, rates, strict=True)):
        text = title.get_text()
        assert "…" in text
        assert text.startswith("very long label")
        assert text.endswith(f"label {i} (lr={lr:g})")  # the tail, that tells them apart, kept
    fig = figures.loss_figure(doc)
    figures._save(fig, tmp_path, "loss")
    width = fig.get_figwidth() * fig.dpi
    texts = fig.axes[0].get_legend().get_texts()
    assert all(t.get_window_extent(renderer).width <= 0.9 * width for t in texts)
    assert [t.get_text()[-1] for t in texts] == ["0", "1", "2"]  # still told apart


def test_short_labels_and_titles_are_left_as_they_are(tmp_path: Path) -> None:
    doc = _document(_record("SGD", 0.1), _record("Momentum", 0.3))
    fig = figures.paths_figure(doc, resolution=20)
    figures._save(fig, tmp_path, "paths")
    assert [ax.get_title() for ax in fig.axes] == ["SGD (lr=0.1)", "Momentum (lr=0.3)"]


# --- what the writer takes ---------------------------------------------------------------


def test_two_runs_with_one_id_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    # the report was written, with two runs "a-seed0" (results.json broke its own schema:
    # ids are unique; the page and load_series could not tell them apart)
    runs = [_record("A", 0.1, run_id="a-seed0"), _record("B", 0.3, run_id="a-seed0")]
    with pytest.raises(ValueError, match="run id 'a-seed0' is already taken"):
        report.build(runs, tmp_path / "out", problem=PROBLEM, charts=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("key", "index", "value", "message"),
    [
        ("loss", 3, float("nan"), r"loss\[3\] is nan"),
        ("loss", 0, float("inf"), r"loss\[0\] is inf"),
        ("lr", 2, None, r"lr\[2\] is nan"),
        ("path", 5, [1.0, float("-inf")], r"path\[5\] is \[1.0, -inf\]"),
    ],
)
def test_a_series_that_is_not_finite_is_refused(
    tmp_path: Path, key: str, index: int, value: object, message: str
) -> None:
    # NaN went into results.json as null, where its schema wants numbers
    record = _record("A", 0.1)
    record[key][index] = value
    with pytest.raises(ValueError, match=f"run 'run0_1-seed0': {message}; results hold finite"):
        report.build([record], tmp_path / "out", problem=PROBLEM, charts=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("key", "value", "got"),
    [
        ("path", [[0.0, 1.0, 2.0]] * 9, r"shape \(9, 3\)"),
        ("loss", [[1.0], [2.0]], r"shape \(2, 1\)"),
        ("lr", ["fast"] * 8, "'fast'"),
    ],
)
def test_a_series_of_the_wrong_shape_is_refused(
    tmp_path: Path, key: str, value: object, got: str
) -> None:
    record = _record("A", 0.1)
    record[key] = value
    with pytest.raises(ValueError, match=f"{key} must be a .*; got .*{got}"):
        report.build([record], tmp_path / "out", problem=PROBLEM, charts=False)
    assert not (tmp_path / "out").exists()


def _no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages without figures: these tests are about the results and the page."""
    monkeypatch.setattr(figures, "draw", lambda *args, **kwargs: [])


def test_odd_runs_still_make_a_valid_report(tmp_path: Path, monkeypatch) -> None:
    # one run that stopped after one step, one with no loss at all, HTML in a label
    _no_figures(monkeypatch)
    short = _record("</script><b>&'\"", 0.1, steps=1)
    empty = _record("empty", 0.2, steps=0)
    page = report.build([short, empty], tmp_path / "out", problem=PROBLEM)
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    validate(document)
    assert "</script><b>" not in page.read_text()
    report.build(document, tmp_path / "again")
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again == document
    assert (tmp_path / "again" / "results.csv").read_bytes() == (
        tmp_path / "out" / "results.csv"
    ).read_bytes()


# --- a build that fails ------------------------------------------------------------------


def _broken_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    def draw(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the figures broke")

    monkeypatch.setattr(figures, "draw", draw)


def test_a_failed_build_leaves_no_half_report(tmp_path: Path, monkeypatch) -> None:
    # results.json (status "complete") and results.csv stayed in a new --out, without a page
    _broken_figures(monkeypatch)
    with pytest.raises(RuntimeError, match="the figures broke"):
        report.build([_record("A", 0.1)], tmp_path / "new", problem=PROBLEM, charts=False)
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="the figures broke"):
        report.build([_record("A", 0.1)], tmp_path / "empty", problem=PROBLEM, charts=False)
    assert [p.name for p in (tmp_path / "empty").iterdir() if p.name != ".gdlab.lock"] == []
    _no_figures(monkeypatch)
    report.build([_record("A", 0.1)], tmp_path / "empty", problem=PROBLEM, charts=False)
    assert (tmp_path / "empty" / "index.html").is_file()


def test_a_failed_forced_build_keeps_the_old_report(tmp_path: Path, monkeypatch) -> None:
    _no_figures(monkeypatch)
    report.build([_record("A", 0.1)], tmp_path / "out", problem=PROBLEM, charts=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    _broken_figures(monkeypatch)
    with pytest.raises(RuntimeError):
        report.build(
            [_record("B", 0.3)], tmp_path / "out", problem=PROBLEM, charts=False, force=True
        )
    after = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    assert after == before


# --- a document of series only -----------------------------------------------------------


def test_a_series_document_without_a_title_gets_one(tmp_path: Path, monkeypatch) -> None:
    # _title(no labels) raised IndexError: list index out of range
    _no_figures(monkeypatch)
    series = {"kind": "schedules", "steps": 3, "curves": [{"label": "step", "lr": [1, 2, 3]}]}
    report.build({"runs": [], "series": series}, tmp_path / "out", charts=False)
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["title"] == "gdlab report"
    assert "<h1>gdlab report</h1>" in (tmp_path / "out" / "index.html").read_text()


def test_a_figure_made_by_the_public_functions_keeps_a_dollar_however_it_is_saved(tmp_path):
    """Only figures saved through the report were fixed: loss_figure(...).savefig(...)
    still drew 'cost $5 and $6' as 'cost 5and6' in maths italics, and raised on 'x^$'."""
    import matplotlib

    matplotlib.use("Agg")
    from gdlab.experiments import Experiment
    from gdlab.race import describe_problem, prepare, race
    from gdlab.report import figures

    exp = Experiment.from_dict({
        "name": "labels", "problem": {"kind": "function", "function": "bowl"},
        "training": {"steps": 5}, "optimizers": {"names": ["sgd", "adam"]},
    })  # fmt: skip
    runs = race(exp, progress=False)
    for run, label in zip(runs, ["cost $5 and $6", "x^$"], strict=True):
        run["label"] = run["group"] = label
    fig = figures.loss_figure({"problem": describe_problem(exp, prepare(exp)), "runs": runs})
    texts = fig.axes[0].get_legend().get_texts()
    assert [t.get_text() for t in texts] == ["cost $5 and $6", "x^$"]
    assert not any(t.get_parse_math() for t in texts)
    fig.savefig(tmp_path / "loss.png")
