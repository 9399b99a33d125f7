"""Round 13: the Tuned comparison's "including its default" or "besides its default" comes
from what the grid held, recorded per configuration (``default_in_grid``), not guessed
from the count of points, which a widened grid or one of several names could not tell:
a default on the grid was said to be tried "besides" it."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab import tuning
from gdlab.experiments import RunSpec
from gdlab.report import tuning_text


def _sgd(lr: float) -> RunSpec:
    return RunSpec("SGD", "sgd", hyperparameters={"lr": lr})


@pytest.mark.parametrize(
    ("lr", "budget", "among"), [(0.01, 4, True), (0.1, 7, True), (0.02, 4, False), (0.01, 5, False)]
)
def test_the_grid_says_whether_it_held_the_default(lr, budget, among):
    run = _sgd(lr)
    assert tuning.default_in_grid(run, ["lr"], budget) is among
    points = tuning.candidates(run, ["lr"], budget, "grid", np.random.default_rng(0))
    assert len(points) == (budget if among else budget + 1)


def _series(flags: dict[str, bool], widened: int = 2) -> dict:
    configurations = {
        label: {"points": [{}] * 9, "widened": widened, "default_in_grid": flag}
        for label, flag in flags.items()
    }
    return {"kind": "tuning", "method": "grid", "budget": 4, "configurations": configurations}


def test_a_widened_grid_that_held_its_default_says_so():
    assert tuning_text._default_words(_series({"SGD": True})) == ", including its default"
    assert tuning_text._default_words(_series({"SGD": False})) == ", besides its default"
    mixed = tuning_text._default_words(_series({"SGD": True, "Adam": False}))
    assert mixed == ", besides its default where it is not one of them (it is for SGD)"


def test_a_tuning_records_it(tmp_path):
    from gdlab.experiments import load

    experiment = load("bowl").replace(runs=(_sgd(0.01), RunSpec("Adam", "adam")))
    document = tuning.tune(experiment, tmp_path / "T", budget=4, progress=False)
    flags = {k: c["default_in_grid"] for k, c in document["configurations"].items()}
    assert flags == {"SGD": True, "Adam": tuning.default_in_grid(RunSpec("Adam", "adam"),
                                                                  ["lr"], 4)}  # fmt: skip
