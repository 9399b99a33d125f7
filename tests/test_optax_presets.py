"""Conformance with optax: the first eleven optimizers under ``preset="optax"``.

``tests/data/optax_presets.npz`` holds optax 0.2.8's trajectories (x64) for
every optimizer optax has, recorded by ``scripts/record_optax_presets.py``;
these tests replay the recorded gradients through
``create(name, preset="optax", ...)`` without importing optax or jax.
The conventions the preset sets (AMSGrad's maximum over v̂, RAdam's ε on √v̂,
NAdam without the momentum schedule, AdaGrad's and RMSprop's ε inside the root,
AdamW's weight decay 1e-4) are exactly what makes these pass: the test below
checks that the torch defaults do not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gdlab.optim import OPTIMIZERS, PRESETS, create

DATA = Path(__file__).parent / "data" / "optax_presets.npz"
RTOL = 1e-10
FLOOR = 1e-12

with np.load(DATA, allow_pickle=False) as _data:
    META = json.loads(str(_data["meta"]))
    RECORDED = {key: _data[key] for key in _data.files if key != "meta"}
CASES = {case["name"]: case for case in META["cases"]}
STEPS = META["steps"]
NAMES = META["param_names"]


def _replay(case: dict, *, fused: bool = True, preset: str | None = "optax", **override) -> float:
    """The worst elementwise relative error against optax over every step."""
    name = case["name"]
    opt = create(
        case["optimizer"], preset=preset, fused=fused, **{**case["gdlab_kwargs"], **override}
    )
    params = {p: RECORDED[f"{name}/{p}/init"].copy() for p in NAMES}
    worst = 0.0
    for step in range(STEPS):
        opt.update(params, {p: RECORDED[f"{name}/{p}/grads"][step].copy() for p in NAMES})
        for p in NAMES:
            expected = RECORDED[f"{name}/{p}/traj"][step]
            error = np.max(np.abs(params[p] - expected) / np.maximum(np.abs(expected), FLOOR))
            worst = max(worst, float(error))
    return worst


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("name", list(CASES))
def test_trajectory_matches_optax(name, fused):
    worst = _replay(CASES[name], fused=fused)
    assert worst <= RTOL, f"{name}: relative error {worst:.3e} > {RTOL:g}"


@pytest.mark.parametrize(
    "name", ["adagrad", "rmsprop", "adam_amsgrad", "adamw_default_decay", "nadam", "radam"]
)
def test_the_preset_is_what_makes_it_match(name):
    """Without the preset (torch's conventions) these cases leave optax's path."""
    assert _replay(CASES[name], preset="torch") > 1e-6


def test_the_file_covers_every_optimizer_of_the_preset():
    first_eleven = {
        name for name, cls in OPTIMIZERS.items() if cls.__module__ == "gdlab.optim.optimizers"
    }
    assert {case["optimizer"] for case in CASES.values()} == set(PRESETS["optax"]) & first_eleven
    assert STEPS >= 200
    assert META["dtype"] == "float64"
    assert [] in META["shapes"].values()  # a 0-d parameter
