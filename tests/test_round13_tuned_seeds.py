"""``gdlab race --tuned`` on a 2-D function runs one seed.

A tuned race runs 5 seeds, so that a data problem's spread shows. A 2-D function starts
where it says and its gradient is exact: the 5 seeds ran the same path 5 times, and the
report's "mean of 5 seeds" and its ± 0 said nothing. One seed stands unless the command
or the experiment asks for more.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdlab import cli


@pytest.fixture
def tuned(cwd):
    assert cli.main(["tune", "bowl", "--optimizers", "sgd,adam", "--budget", "2", "--quiet",
                     "--out", "T"]) == 0  # fmt: skip
    return "T"


def _seeds(out: str) -> tuple[int, list[int]]:
    document = json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))
    return document["config"]["seeds"], sorted({r["seed"] for r in document["runs"]})


def test_a_tuned_2d_function_race_runs_one_seed(tuned):
    argv = ["race", "bowl", "--optimizers", "sgd,adam", "--tuned", tuned, "--quiet"]
    assert cli.main([*argv, "--out", "R"]) == 0
    assert _seeds("R") == (1, [0])


def test_seeds_asked_for_still_stand(tuned):
    argv = ["race", "bowl", "--optimizers", "sgd,adam", "--tuned", tuned, "--quiet"]
    assert cli.main([*argv, "--seeds", "2", "--out", "R"]) == 0
    assert _seeds("R") == (2, [0, 1])
