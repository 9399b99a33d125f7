"""Reports from Python: ``gdlab.report.build``, and race() records that are plain JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from gdlab import experiments, optim, race, report, train
from gdlab.functions2d import Function2D
from gdlab.problems import FunctionProblem
from gdlab.report.schema import validate

DOC = Path(__file__).resolve().parent.parent / "docs" / "results.md"


def _files(directory: Path) -> set[str]:
    """The report's files, the figures by kind (their names depend on the data)."""
    found = set()
    for path in directory.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            relative = path.relative_to(directory).as_posix()
            found.add(re.sub(r"^(figures|params)/.*\.(png|svg|npz)$", r"\1/*.\2", relative))
    return found


@pytest.fixture(scope="module")
def bowl():
    experiment = experiments.builtin("bowl").set("training.steps", 12)
    return experiment, race.race(experiment, progress=False)


@pytest.fixture(scope="module")
def network():
    experiment = experiments.builtin("moons").set("training.epochs", 2)
    return experiment, race.race(experiment, progress=False)


def test_race_records_are_plain_json(bowl, network):
    for _, records in (bowl, network):
        for record in records:
            again = json.loads(json.dumps(record, allow_nan=False))
            assert again == record
            assert all(isinstance(v, list | float) for v in record["final_params"].values())
    _, paths = bowl
    assert len(paths[0]["path"]) == 13
    _, nets = network
    assert np.asarray(nets[0]["final_params"]["W1"]).shape == (5, 2)  # the course's columns


def test_build_from_records_writes_what_gdlab_race_writes(bowl, tmp_path, capsys):
    from gdlab import cli

    experiment, records = bowl
    page = report.build(records, tmp_path / "built", problem=experiment)
    assert page == tmp_path / "built" / "index.html"
    document = json.loads((tmp_path / "built" / "results.json").read_text())
    validate(document)
    assert document["experiment"] == "bowl"
    assert [r["id"] for r in document["runs"]] == [r["id"] for r in records]
    assert document["runs"][0]["path"] == records[0]["path"]
    assert document["problem"]["function"]["name"] == "bowl"
    assert "seed 001" in document["description"]  # the source, named
    out = tmp_path / "cli"
    assert cli.main(["race", "bowl", "--steps", "12", "--workers", "1", "--out", str(out),
                     "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert _files(tmp_path / "built") == _files(out)
    text = page.read_text()
    assert 'class="chart-box" data-chart="chart-overlay"' in text
    with pytest.raises(Exception, match="already holds a report"):
        report.build(records, tmp_path / "built", problem=experiment)
    report.build(records, tmp_path / "built", problem=experiment, force=True, charts=False)
    assert 'class="chart-box"' not in page.read_text()


def test_build_stores_large_parameters_as_gdlab_race_does(tmp_path):
    experiment = experiments.builtin("mnist").set("training.steps", 2).select_optimizers(["sgd"])
    records = race.race(experiment, progress=False)
    json.dumps(records)
    report.build(records, tmp_path / "mnist", problem=experiment, charts=False)
    document = json.loads((tmp_path / "mnist" / "results.json").read_text())
    (run,) = document["runs"]
    assert run["final_params"] == {"file": f"params/{run['id']}.npz"}
    with np.load(tmp_path / "mnist" / run["final_params"]["file"]) as params:
        np.testing.assert_array_equal(params["W1"], np.asarray(records[0]["final_params"]["W1"]))


def _valley() -> Function2D:
    return Function2D(
        name="valley",
        f=lambda x, y: (x - 1) ** 2 + 10 * (y - x**2) ** 2,
        grad=lambda x, y: (2 * (x - 1) - 40 * x * (y - x**2), 20 * (y - x**2)),
        minima=((1.0, 1.0),),
        start=(-1.5, 2.0),
        xlim=(-2.0, 2.0),
        ylim=(-1.0, 3.0),
        description="(x - 1)² + 10·(y - x²)²",
    )


def test_build_from_histories_on_a_function_of_ones_own(tmp_path):
    valley = _valley()
    problem = FunctionProblem(valley)
    runs = {}
    for name, lr in (("sgd", 0.01), ("adam", 0.1)):
        optimizer = optim.create(name, lr=lr)
        history = train.fit(
            problem, optimizer, steps=30, rng=np.random.default_rng(0), progress=False
        )
        runs[name.upper()] = (optimizer, history)
    page = report.build(runs, tmp_path / "valley", problem=valley)
    document = json.loads((tmp_path / "valley" / "results.json").read_text())
    validate(document)
    assert document["title"] == "SGD and ADAM on (x - 1)² + 10·(y - x²)²"
    assert [r["optimizer"] for r in document["runs"]] == ["sgd", "adam"]
    assert document["runs"][1]["hyperparameters"]["lr"] == 0.1
    assert len(document["runs"][0]["path"]) == 31
    text = page.read_text()
    assert 'data-chart="chart-overlay"' in text  # contours from the function itself
    specs = json.loads(re.search(r'id="gdlab-charts">(.*?)</script>', text, re.S).group(1))
    overlay = next(s for s in specs if s["figure"] == "overlay")
    assert overlay["traces"][0]["mode"] == "contour"
    assert overlay["traces"][0]["paths"]
    assert "Adam: momentum on the gradient" in text  # the optimizer's card
    # A bare History: no optimizer to name.
    history = runs["SGD"][1]
    report.build(history, tmp_path / "bare", problem=problem, charts=False)
    bare = json.loads((tmp_path / "bare" / "results.json").read_text())
    assert bare["runs"][0]["optimizer"] == "unknown"


def test_build_from_a_results_document(bowl, tmp_path):
    experiment, records = bowl
    report.build(records, tmp_path / "first", problem=experiment, charts=False)
    document = json.loads((tmp_path / "first" / "results.json").read_text())
    report.build(document, tmp_path / "again")
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again["runs"] == document["runs"]
    assert again["created"] == document["created"]
    assert again["title"] == document["title"]


def test_build_refuses_what_it_cannot_report(bowl, tmp_path):
    _, records = bowl
    with pytest.raises(ValueError, match="needs problem= for race"):
        report.build(records, tmp_path / "a")
    with pytest.raises(TypeError, match="problem must be"):
        report.build(records, tmp_path / "b", problem=object())
    with pytest.raises(ValueError, match="needs problem= for fit"):
        report.build({"x": 1}, tmp_path / "c")


def test_the_docs_example_runs(capsys):
    text = DOC.read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "report.build" in b]
    assert len(blocks) == 1
    namespace: dict = {"__name__": "results_doc"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    page = namespace["page"]
    assert page.is_file()
    assert page.parent.name == "valley"
    assert (page.parent.parent / "bowl" / "index.html").is_file()
    assert str(page) in capsys.readouterr().out
