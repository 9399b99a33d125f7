"""Round 12, experiments: a 2-D problem kind of one's own draws its report (the figures
take its function from the kind registry, not from the built-in function names)."""

from __future__ import annotations

import json

import pytest

from gdlab._checks import Field
from gdlab.experiments import Experiment
from gdlab.functions2d import Function2D
from gdlab.problems import PROBLEM_KINDS, FunctionProblem, ProblemKind

matplotlib = pytest.importorskip("matplotlib")


def _ellipse(options: dict) -> Function2D:
    r = options["ratio"]
    return Function2D(
        name="ellipse", f=lambda x, y: x**2 / r + y**2, grad=lambda x, y: (2 * x / r, 2 * y),
        minima=((0.0, 0.0),), start=(-4.0, 2.0), xlim=(-5.0, 5.0), ylim=(-3.0, 3.0),
        description=f"x²/{r:g} + y²",
    )  # fmt: skip


@pytest.fixture
def ellipse(monkeypatch):
    """The kind ``ellipse``, registered as docs/experiments.md says (for this test only)."""
    kind = ProblemKind(
        name="ellipse", summary="an elongated bowl",
        fields={"ratio": Field("real", 10.0, "x stretch", low=0, low_open=True)},
        traits=frozenset({"function2d"}),
        build=lambda o, data: FunctionProblem(_ellipse(o)),
        describe=lambda o: f"x²/{o['ratio']:g} + y²",
    )  # fmt: skip
    monkeypatch.setitem(PROBLEM_KINDS, "ellipse", kind)
    return kind


_TOML = """
[problem]
kind = "ellipse"
ratio = 4.0
[training]
steps = 5
[optimizers]
names = ["sgd", "adam"]
lr = {sgd = 0.1, adam = 0.1}
"""


def test_a_2d_kind_of_ones_own_draws_its_report(ellipse, tmp_path):
    from gdlab.race import run_experiment
    from gdlab.report import figures, interactive

    experiment = Experiment.from_toml(_TOML, "ell.toml")
    out = tmp_path / "report"
    document = run_experiment(experiment, out, progress=False)
    page = (out / "index.html").read_text(encoding="utf-8")
    for name in ("overlay", "paths", "loss"):
        assert (out / "figures" / f"{name}.png").is_file(), name
    assert "Every path on x²/4 + y²" in page
    assert document["title"] == "SGD and Adam on ellipse"  # not "… on None"
    # the contours are the kind's own function, with its options (ratio 4)
    fn = figures._function_of(document["problem"], results=document)
    assert float(fn.f(2.0, 0.0)) == pytest.approx(1.0)
    charts = interactive.charts(document)
    assert "overlay" in {c["figure"] for c in charts}


def test_a_2d_kind_of_ones_own_builds_its_report_from_python(ellipse, tmp_path):
    from gdlab import report
    from gdlab.race import race

    experiment = Experiment.from_toml(_TOML, "ell.toml")
    page = report.build(race(experiment), tmp_path / "built", problem=experiment)
    assert (tmp_path / "built" / "figures" / "overlay.png").is_file()
    assert "Every path on x²/4 + y²" in page.read_text(encoding="utf-8")


def test_a_kind_not_registered_here_is_named_when_drawing(ellipse, tmp_path, monkeypatch):
    from gdlab.race import run_experiment
    from gdlab.report import figures

    experiment = Experiment.from_toml(_TOML, "ell.toml")
    document = run_experiment(experiment, tmp_path / "r", progress=False, figures=False)
    monkeypatch.delitem(PROBLEM_KINDS, "ellipse")  # a later process that did not import it
    with pytest.raises(ValueError, match=r"kind 'ellipse'.*register"):
        figures.draw(document, tmp_path / "again")
    del document["config"]  # a document without its experiment: nothing names the function
    with pytest.raises(ValueError, match=r"kind 'ellipse'"):
        figures.draw(document, tmp_path / "again")


# --------------------------------------------------------------------------- no-op group


def test_a_run_set_to_the_group_it_has_by_default_changes_nothing():
    from gdlab.experiments import builtin
    from gdlab.experiments.describe import text

    bowl = builtin("bowl")
    same = bowl.set("sgd.group", "SGD")  # a run's group is its label unless given
    words = text(same, base=bowl, base_name="built-in experiment bowl")
    assert words["changes"] == []
    assert words["title"] == "Seed 001: six optimizers on x²/20 + y²"
    moved = bowl.set("sgd.group", "slow")
    assert text(moved, base=bowl)["changes"] == ["SGD: group: default → slow"]


# --------------------------------------------------------------------------- rerun of a file


_OWN = """\
title = "Own title"
description = "Own words about momentum 0.5."
[problem]
kind = "function"
function = "beale"
[training]
steps = 3
[[runs]]
label = "Momentum 0.5"
optimizer = "momentum"
lr = 0.01
momentum = 0.5
[[runs]]
optimizer = "adam"
lr = 0.01
"""


def test_a_changed_file_run_again_from_its_results_keeps_its_changes(tmp_path, capsys, monkeypatch):
    from cli_run import gdlab

    monkeypatch.chdir(tmp_path)
    (tmp_path / "own.toml").write_text(_OWN, encoding="utf-8")
    quick = ["--quiet", "--workers", "1", "--force", "--no-figures"]
    code, _, err = gdlab(["race", "own.toml", "--set", "momentum-0.5.momentum=0.7",
                          "--out", "o2", *quick], capsys)  # fmt: skip
    assert code == 0, err
    first = json.loads((tmp_path / "o2" / "results.json").read_text(encoding="utf-8"))
    assert first["changes"]
    assert "Changed from the file own.toml" in first["description"]
    code, _, err = gdlab(["race", "o2/results.json", "--out", "o3", *quick], capsys)
    assert code == 0, err
    again = json.loads((tmp_path / "o3" / "results.json").read_text(encoding="utf-8"))
    for key in ("title", "description", "changes"):
        assert again[key] == first[key], key
    # a further change is listed from the file too, not from the report run again
    code, _, err = gdlab(["race", "o3/results.json", "--set", "adam.lr=0.02",
                          "--out", "o4", *quick], capsys)  # fmt: skip
    assert code == 0, err
    more = json.loads((tmp_path / "o4" / "results.json").read_text(encoding="utf-8"))
    assert more["changes"] == [*first["changes"], "Adam: lr: 0.01 → 0.02"]
    assert "Changed from the file own.toml" in more["description"]
    # and a report written again from its document in Python keeps what it was changed from
    from gdlab import report

    report.build(first, tmp_path / "rebuilt", charts=False)
    rebuilt = json.loads((tmp_path / "rebuilt" / "results.json").read_text(encoding="utf-8"))
    assert rebuilt["base"] == first["base"]
