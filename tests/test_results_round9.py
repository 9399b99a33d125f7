"""Round 9: what an interrupted or killed tour leaves, reports written from Python never
over another, ``placed`` filled in as soon as the report is in place, the files of runs a
recovered report does not list, and the validation part's size."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gdlab import _io, cli, experiments, race, results, tour
from gdlab.experiments import plots


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def _record(run_id: str, **extra) -> dict:
    return {"id": run_id, "label": run_id, "status": "ok", "steps": 2, "loss": [1.0, 0.5], **extra}


def _fake_write(document: dict, out_dir: Path, **kwargs) -> list:
    """:func:`gdlab.report.write` without its figures (matplotlib takes seconds)."""
    Path(out_dir, "index.html").write_text(f"{document['experiment']}'s page")
    return []


# --------------------------------------------------------------------------- 1: Ctrl-C early


def _stop_at_first_report(monkeypatch) -> None:
    """Ctrl-C as the first experiment's directory is made, before its results.json."""

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "environment", interrupted)


def test_a_tour_stopped_before_any_run_leaves_nothing_and_can_run_again(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    _stop_at_first_report(monkeypatch)
    for argv in (["--out", "E1"], ["--out", "E1", "--force"], []):
        assert cli.main(["tour", "--quick", "--quiet", *argv]) == cli.EXIT_INTERRUPTED
        err = capsys.readouterr().err
        assert "no experiment had finished (nothing was written)" in err, err
        assert not Path("E1").exists()
    assert not Path("gdlab-report").exists()  # without --out: nor the folders it made


def test_a_tour_stopped_with_an_empty_results_json_leaves_nothing(tmp_path, monkeypatch):
    def no_run(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(race, "race", no_run)  # results.json of 0 runs, then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        tour.run(tmp_path / "T", quick=True, progress=False)
    assert not (tmp_path / "T").exists()
    (tmp_path / "U").mkdir()
    with pytest.raises(KeyboardInterrupt):
        tour.run(tmp_path / "U", quick=True, progress=False)
    assert list((tmp_path / "U").iterdir()) == []  # given empty, left empty


def test_a_tour_stopped_as_its_second_experiment_starts_is_a_report(tmp_path, monkeypatch):
    """bowl finished; boston's directory was made, nothing in it: the tour keeps bowl, drops
    boston's directory, and is a report that --force may replace."""
    real = race.run_experiment

    def run_experiment(experiment, out_dir, **kwargs):
        if Path(out_dir).name == "bowl":
            return real(experiment.merge_training(steps=3), out_dir, **kwargs)
        Path(out_dir).mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(race, "run_experiment", run_experiment)
    monkeypatch.setattr("gdlab.report.write", _fake_write)
    with pytest.raises(KeyboardInterrupt):
        tour.run(tmp_path / "T", quick=True, progress=False)
    out = tmp_path / "T"
    assert sorted(p.name for p in out.iterdir()) == ["bowl", "index.html"]
    assert results.looks_like_report(out)
    assert results.checked_out(out, force=True) == out
    assert tour.stopped_words(out).startswith("it shows bowl; not run: boston, ")


# --------------------------------------------------------------------------- 2: killed tour


def _killed_tour(tmp_path: Path) -> Path:
    """What a tour killed in mnist leaves: bowl with its page, mnist with one finished run
    and no page, moons' directory made but empty (a staging directory whose writer is gone)."""
    staged = _io.staging_dir(tmp_path / "K")
    experiment = tour.shortened(experiments.builtin("bowl")).merge_training(steps=3)
    race.run_experiment(experiment, staged / "bowl", command="gdlab tour --quick", figures=False)
    (staged / "bowl" / "index.html").write_text("bowl's page")
    writer = results.ResultsWriter(
        staged / "mnist", {"experiment": "mnist", "command": "gdlab tour --quick"}
    )
    writer.add(_record("sgd-seed0"))
    (staged / "moons").mkdir()
    return staged


def _pages_drawn(monkeypatch) -> list[str]:
    """The names of the directories whose pages the recovery draws (through a stand-in
    for :func:`gdlab.report.write`), in order."""
    drawn: list[str] = []

    def write(document, out_dir, **kwargs):
        drawn.append(Path(out_dir).name)
        return _fake_write(document, out_dir)

    monkeypatch.setattr("gdlab.report.write", write)
    return drawn


def test_a_killed_tour_is_recovered_with_its_pages(tmp_path, monkeypatch, capsys):
    _killed_tour(tmp_path)
    drawn = _pages_drawn(monkeypatch)
    with results.output(tmp_path / "K", out=tmp_path / "K"):
        pass
    (line,) = capsys.readouterr().err.splitlines()
    recovered = Path(line.rsplit(" as ", 1)[1])
    assert recovered.name.startswith("K.recovered-")
    assert drawn == ["bowl", "mnist"]
    assert (recovered / "mnist" / "index.html").read_text() == "mnist's page"
    assert sorted(p.name for p in recovered.iterdir()) == ["bowl", "index.html", "mnist"]
    page = (recovered / "index.html").read_text()
    assert "stopped early" in page
    assert tour.KILLED in page
    assert "the 1 run of mnist that finished (stopped early)" in page
    assert "gdlab tour --quick" in page
    assert results.looks_like_report(recovered)


# --------------------------------------------------------------------------- 3: not over a report


def test_run_plot_refuses_an_out_that_holds_a_report_and_changes_nothing(tmp_path):
    out = tmp_path / "A"
    out.mkdir()
    (out / "results.json").write_text('{"runs": []}')
    (out / "figures").mkdir()
    before = _tree(out)
    refused = r"out_dir must be a new or empty directory; got '.*A', which holds figures, results"
    with pytest.raises(_io.OutputError, match=refused):
        plots.run_plot("schedules", out, figures=False)
    assert _tree(out) == before
    with pytest.raises(TypeError, match="out_dir must be a path"):
        plots.run_plot("schedules", 3)


def test_tour_run_refuses_an_out_that_holds_anything_and_changes_nothing(tmp_path):
    out = tmp_path / "T"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(_io.OutputError, match=r"must be a new or empty .*which holds notes.txt"):
        tour.run(out, quick=True, progress=False)
    assert _tree(out) == {"notes.txt": b"mine"}


def test_run_plot_writes_into_a_new_or_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new"):
        document = plots.run_plot("schedules", out, figures=False)
        assert document["status"] == "complete"
        assert json.loads((out / "results.json").read_text())["series"]["kind"] == "schedules"


# --------------------------------------------------------------------------- 5: placed at once


def _complete(staged: Path) -> None:
    writer = results.ResultsWriter(staged, {"experiment": "new"})
    writer.finish()
    (staged / "index.html").write_text("the new page")


def test_placed_names_the_report_when_ctrl_c_lands_while_pointing_latest(tmp_path, monkeypatch):
    def interrupted(root, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "_relink_latest", interrupted)
    placed = results.Placed()
    root = tmp_path / "gdlab-report" / "bowl"
    with pytest.raises(KeyboardInterrupt), results.output(root, placed=placed) as staged:
        _complete(staged)
    assert placed.directory is not None
    assert placed.directory.parent == root
    assert placed.shown == placed.directory
    assert (placed.directory / "index.html").read_text() == "the new page"


def _forced_over_an_earlier_report(tmp_path, monkeypatch, replace_dir):
    """An earlier report in ``R``, then a ``--force`` one over it whose swap is
    ``replace_dir`` (it raises KeyboardInterrupt): ``(R, what was placed)``."""
    out = tmp_path / "R"
    with results.output(tmp_path, out=out) as staged:
        (staged / "results.json").write_text('{"runs": []}')
    monkeypatch.setattr(_io, "replace_dir", replace_dir)
    placed = results.Placed()
    with (
        pytest.raises(KeyboardInterrupt),
        results.output(tmp_path, out=out, force=True, placed=placed) as staged,
    ):
        _complete(staged)
    return out, placed


def test_placed_names_the_report_when_ctrl_c_lands_just_after_the_swap(tmp_path, monkeypatch):
    replace = _io.replace_dir

    def replaced_then_interrupted(staged, target):
        replace(staged, target)
        raise KeyboardInterrupt

    out, placed = _forced_over_an_earlier_report(tmp_path, monkeypatch, replaced_then_interrupted)
    assert placed.directory == out
    assert placed.shown == out
    assert (out / "index.html").read_text() == "the new page"


def test_placed_stays_empty_when_the_swap_did_not_happen(tmp_path, monkeypatch):
    def interrupted(staged, target):
        raise KeyboardInterrupt

    out, placed = _forced_over_an_earlier_report(tmp_path, monkeypatch, interrupted)
    assert placed.directory is None
    assert json.loads((out / "results.json").read_text()) == {"runs": []}


def test_a_race_interrupted_while_pointing_latest_says_its_report_is_there(
    tmp_path, monkeypatch, capsys
):
    def interrupted(root, target):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(results, "_relink_latest", interrupted)
    argv = ["race", "bowl", "--steps", "5", "--quiet", "--no-figures", "--workers", "1"]
    assert cli.main(argv) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "nothing was written" not in err
    (report,) = Path("gdlab-report", "bowl").iterdir()
    assert f"the finished runs are in {report}" in err


def test_a_forced_race_interrupted_just_after_its_swap_says_the_new_report_is_there(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    argv = ["race", "bowl", "--quiet", "--no-figures", "--workers", "1", "--out", "R"]
    assert cli.main([*argv, "--steps", "5"]) == 0
    replace = _io.replace_dir

    def replaced_then_interrupted(staged, target):
        replace(staged, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(_io, "replace_dir", replaced_then_interrupted)
    capsys.readouterr()
    assert cli.main([*argv, "--steps", "6", "--force"]) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "keeps its earlier report" not in err
    assert "the finished runs are in R" in err
    assert json.loads(Path("R", "results.json").read_text())["runs"][0]["steps"] == 6


# --------------------------------------------------------------------------- 6: untaken files


def test_recovery_removes_the_files_of_runs_it_does_not_list(tmp_path, capsys):
    staged = _io.staging_dir(tmp_path / "R")
    writer = results.ResultsWriter(
        staged, {"experiment": "killed", "command": "gdlab race killed --no-figures"}
    )
    big = {"W": np.zeros((40, 40))}  # past INLINE_PARAMS: a params file
    writer.add(_record("run0", final_params=big))
    # a worker's files of a run the race had not recorded when it was killed
    results.store_params(_record("run1", final_params=big), staged)
    results.store_series(_record("run2", steps=results.SERIES_INLINE + 1, loss=[1.0] * 3), staged)
    assert (staged / "series" / "run2.npz").is_file()
    with results.output(tmp_path / "R", out=tmp_path / "R"):
        pass
    (line,) = capsys.readouterr().err.splitlines()
    recovered = Path(line.rsplit(" as ", 1)[1])
    assert sorted(p.name for p in (recovered / "params").iterdir()) == ["run0.npz"]
    assert not (recovered / "series").exists()
    document = json.loads((recovered / "results.json").read_text())
    assert [r["id"] for r in document["runs"]] == ["run0"]


# --------------------------------------------------------------------------- 7: n_validation


def test_data_block_counts_the_validation_part(tmp_path):
    def part(n):
        return SimpleNamespace(name="d", n_samples=n, n_features=3)

    block = results.data_block(part(180), part(50), classifier=True, validation=part(20))
    assert (block["n_train"], block["n_validation"], block["n_test"]) == (180, 20, 50)
    assert "n_validation" not in results.data_block(part(180), part(50), classifier=True)


def test_a_problem_with_a_validation_part_records_its_size(tmp_path):
    from gdlab.data import write_idx
    from gdlab.report.schema import validate

    idx = tmp_path / "idx"
    idx.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 10)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(idx / f"{prefix}-images-idx3-ubyte", images)
        write_idx(idx / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    experiment = experiments.builtin("mnist")
    config = experiment.replace(runs=experiment.runs[:1]).to_dict()
    config["problem"].update(directory=str(idx), validation_size=0.25)
    del config["problem"]["test_size"]
    config["training"].update(steps=1, batch_size=8, validation="validation")
    experiment = experiments.Experiment.from_dict(config)
    problem = race.describe_problem(experiment, race.prepare(experiment))
    data = problem["data"]
    assert (data["n_train"], data["n_validation"], data["n_test"]) == (30, 10, 10)
    header = {"experiment": "mnist", "problem": problem, "config": experiment.to_dict()}
    validate(results.ResultsWriter(tmp_path / "R", header).document)


def test_the_schema_knows_n_validation():
    from gdlab.report.schema import SCHEMA

    data = SCHEMA["$defs"]["problem"]["properties"]["data"]["properties"]
    assert data["n_validation"] == {"type": "integer", "minimum": 0}


#: A PNG of one white pixel.
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
)


def test_a_killed_tour_lists_the_figures_of_pages_already_drawn(tmp_path, monkeypatch, capsys):
    from gdlab.report import figures

    staged = _killed_tour(tmp_path)
    bowl = staged / "bowl"
    (bowl / "figures").mkdir()
    names = figures.figure_names(json.loads((bowl / "results.json").read_text()))
    for name in names:
        (bowl / "figures" / f"{name}.png").write_bytes(_PNG)
        (bowl / "figures" / f"{name}.svg").write_text("<svg/>")
    drawn = _pages_drawn(monkeypatch)
    with results.output(tmp_path / "K", out=tmp_path / "K"):
        pass
    recovered = Path(capsys.readouterr().err.rsplit(" as ", 1)[1].strip())
    assert drawn == ["mnist"]  # bowl's page and figures were there: listed, not drawn
    page = (recovered / "index.html").read_text()
    assert all(f"bowl/figures/{name}.png" in page for name in names)
    assert (recovered / "bowl" / "index.html").read_text() == "bowl's page"


def test_report_build_records_the_validation_parts_size_too(tmp_path):
    """gdlab.report.build describes a built problem as a race does: n_validation too."""
    from gdlab.report import assemble

    experiment = experiments.builtin("mnist")
    config = experiment.to_dict()
    config["problem"].update(validation_size=0.1)
    problem = experiments.Experiment.from_dict(config).problem.build()
    data = assemble._describe_built(problem)["data"]
    assert data["n_validation"] == len(problem.parts["validation"].y) > 0
