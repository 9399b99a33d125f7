"""A run that raises is recorded as failed and the race goes on (DESIGN: ok / diverged / failed)."""

from __future__ import annotations

import json

import pytest

from gdlab import cli
from gdlab.experiments import Experiment
from gdlab.optim import SGD, register, unregister
from gdlab.race import race
from gdlab.report.schema import validate


@pytest.fixture
def buggy():
    """An optimizer of one's own with a bug: its third update raises."""

    @register("buggy_sgd", lr_range=(1e-3, 1.0))
    class Buggy(SGD):
        name = "buggy_sgd"

        def _step(self, *args, **kwargs):
            if self.t >= 3:
                raise ZeroDivisionError("a bug at step 3")
            return super()._step(*args, **kwargs)

    yield "buggy_sgd"
    unregister("buggy_sgd")


def _experiment(seeds: int = 1) -> Experiment:
    return Experiment.from_dict(
        {
            "name": "demo",
            "problem": {"kind": "function"},
            "training": {"steps": 10},
            "seeds": seeds,
            "runs": [
                {"optimizer": "sgd", "lr": 0.9},
                {"optimizer": "buggy_sgd", "lr": 0.1},
                {"optimizer": "adam", "lr": 0.3},
            ],
        }
    )


def test_the_race_goes_on_and_records_the_failure(buggy):
    records = race(_experiment(seeds=2), progress=False)
    assert [(r["label"], r["seed"]) for r in records] == [
        (label, seed) for seed in (0, 1) for label in ("SGD", "Buggy", "Adam")
    ]
    failed = [r for r in records if r["status"] == "failed"]
    assert [r["seed"] for r in failed] == [0, 1]
    for r in failed:
        assert r["reason"] == "ZeroDivisionError: a bug at step 3"
        assert (r["steps"], r["loss"], r["final_params"]) == (0, [], {})
        assert r["hyperparameters"]["lr"] == 0.1
        json.dumps(r, allow_nan=False)  # plain data, as every record
    assert all(r["status"] == "ok" and r["steps"] == 10 for r in records if r not in failed)


def test_the_command_writes_the_report_names_the_failure_and_exits_1(buggy, tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["race", "bowl", "--optimizers", "sgd,buggy_sgd,adam", "--steps", "10",
            "--out", str(out)]  # fmt: skip
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == cli.EXIT_RUN_FAILED == 1
    assert "gdlab: Buggy (seed 0) failed: ZeroDivisionError: a bug at step 3" in captured.err
    table = captured.out.splitlines()
    assert table[-1].split()[1:4] == ["Buggy", "0", "failed"]  # ranked last
    document = json.loads((out / "results.json").read_text())
    validate(document)
    assert document["status"] == "complete"
    assert [r["status"] for r in document["runs"]] == ["ok", "failed", "ok"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "3 runs, 1 failed" in page
    assert "ZeroDivisionError: a bug at step 3" in page
    for name in ("paths", "overlay", "loss"):  # drawn from the runs that ran
        assert (out / "figures" / f"{name}.png").is_file()
