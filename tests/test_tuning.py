"""``gdlab tune`` and ``gdlab race --tuned``: the same budget, the same folds, then seeds."""

from __future__ import annotations

import json

import pytest

from gdlab import cli, tuning
from gdlab.report.schema import validate


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Nothing is written into the repository, whatever a test forgets to pass."""
    monkeypatch.chdir(tmp_path)


def tasks_file(out):
    """The one sweep file of a tuning directory (named by the digest of its settings)."""
    (path,) = out.glob("tasks-*.jsonl")
    return path


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def boston_tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune")
    argv = ["tune", "boston", "--steps", "60", "--budget", "4", "--folds", "3", "--quiet",
            "--out", str(out / "tune")]  # fmt: skip
    assert cli.main(argv) == 0
    return out


def test_tune_writes_a_summary_per_configuration(boston_tuned):
    document = tuning.load_tuned(boston_tuned / "tune")
    assert document["folds"] == 3
    assert document["budget"] == 4
    assert set(document["configurations"]) == {
        "GD (all 506 samples)", "SGD (1 sample)", "Mini-batch (30 samples)"
    }  # fmt: skip
    n_points = 0
    for c in document["configurations"].values():
        # the run's default, the 4 grid points (and any added by widening), each scored
        assert len(c["points"]) >= 4
        assert c["points"][0]["default"] is True
        assert len(c["grid"]) == len(c["mean"]) == len(c["std"]) == len(c["points"])
        assert c["grid"] == sorted(c["grid"])
        best = c["best"]
        finite = [m for m in c["mean"] if m is not None]
        assert best["mean"] == min(finite)
        assert best["lr"] == c["grid"][c["mean"].index(best["mean"])]
        n_points += len(c["points"])
    # Every (configuration, rate, fold) ran once: 3 folds per point.
    lines = tasks_file(boston_tuned / "tune").read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) == 3 * n_points


def test_tune_resumes_without_rerunning(boston_tuned, capsys):
    before = tasks_file(boston_tuned / "tune").read_text()
    summary = tuning.load_tuned(boston_tuned / "tune")
    argv = ["tune", "boston", "--steps", "60", "--budget", "4", "--folds", "3", "--quiet",
            "--out", str(boston_tuned / "tune")]  # fmt: skip
    code, _, _ = run(argv, capsys)
    assert code == 0
    assert tasks_file(boston_tuned / "tune").read_text() == before
    again = tuning.load_tuned(boston_tuned / "tune")
    assert again["configurations"] == summary["configurations"]


def test_tune_on_two_processes_gives_the_same_summary(boston_tuned, tmp_path, capsys):
    argv = ["tune", "boston", "--steps", "60", "--budget", "4", "--folds", "3", "--quiet",
            "--workers", "2", "--out", str(tmp_path / "t2")]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    one = tuning.load_tuned(boston_tuned / "tune")["configurations"]
    two = tuning.load_tuned(tmp_path / "t2")["configurations"]
    assert one == two


def test_tuned_race_uses_the_best_rates_and_reports_them(boston_tuned, capsys):
    out = boston_tuned / "race"
    argv = ["race", "boston", "--steps", "60", "--tuned", str(boston_tuned / "tune"),
            "--seeds", "2", "--quiet", "--out", str(out)]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    document = json.loads((out / "results.json").read_text())
    validate(document)
    tuned = tuning.load_tuned(boston_tuned / "tune")["configurations"]
    assert "Tuned settings from" in document["description"]
    assert str(boston_tuned / "tune") in document["description"]
    for r in document["runs"]:
        assert r["hyperparameters"]["lr"] == tuned[r["label"]]["best"]["lr"]
    assert {r["seed"] for r in document["runs"]} == {0, 1}
    series = document["series"]
    assert series["kind"] == "tuning"
    assert len(series["comparison"]) == 3
    assert all(row["seeds"] == 2 for row in series["comparison"])
    assert (out / "figures" / "sensitivity.png").is_file()
    page = (out / "index.html").read_text()
    assert "Tuned comparison" in page
    assert "Steps to target" in page


def test_tuned_race_defaults_to_five_seeds(tmp_path, capsys):
    """On data (a 2-D function keeps one seed: tests/test_round13_tuned_seeds.py)."""
    short = ["--optimizers", "adam", "--set", "training.epochs=2", "--quiet"]
    code, _, err = run(["tune", "boston", "--budget", "2", "--folds", "2", *short, "--out",
                        str(tmp_path / "t")], capsys)  # fmt: skip
    assert code == 0, err
    argv = ["race", "boston", "--tuned", str(tmp_path / "t"), "--no-figures", *short,
            "--out", str(tmp_path / "r")]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    document = json.loads((tmp_path / "r" / "results.json").read_text())
    assert len(document["runs"]) == cli.TUNED_SEEDS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["race", "boston", "--tuned", "/nonexistent"], "run `gdlab tune` first"),
        (["tune", "boston", "--budget", "1"], "--budget must be an integer in [2"),
        (["tune", "boston", "--workers", "2", "--dask-local", "2"], "not allowed with argument"),
        (["tune", "cifar"], "experiment must be one of"),
        (["tune", "boston", "--metric", "accuracy"], "--metric accuracy needs a classifier"),
    ],
)
def test_errors(argv, message, capsys, tmp_path):
    code, _, err = run([*argv, "--out", str(tmp_path / "o")], capsys)
    assert code == cli.EXIT_USAGE
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_tuned_results_for_another_experiment_are_refused(boston_tuned, capsys, tmp_path):
    code, _, err = run(["race", "bowl", "--tuned", str(boston_tuned / "tune"), "--out",
                        str(tmp_path / "o")], capsys)  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert f"the tuning results in {boston_tuned / 'tune'} are for 'boston', not 'bowl'" in err


def test_tune_by_accuracy(tmp_path, capsys):
    argv = ["tune", "moons", "--epochs", "20", "--budget", "3", "--folds", "2",
            "--optimizers", "adam", "--metric", "accuracy", "--quiet",
            "--out", str(tmp_path)]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    document = tuning.load_tuned(tmp_path)
    assert document["selected_by"] == "mean validation accuracy (loss breaks ties)"
    adam = document["configurations"]["Adam"]
    accuracies = [a for a in adam["accuracy"] if a is not None]
    assert adam["best"]["accuracy"] == max(accuracies)


def test_a_retitled_experiment_reuses_the_tasks(boston_tuned, capsys):
    """The title and description decide no result: tuning again reruns nothing."""
    before = tasks_file(boston_tuned / "tune").read_text()
    argv = ["tune", "boston", "--steps", "60", "--budget", "4", "--folds", "3", "--quiet",
            "--set", "title=Boston, renamed", "--out", str(boston_tuned / "tune")]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert tasks_file(boston_tuned / "tune").read_text() == before
