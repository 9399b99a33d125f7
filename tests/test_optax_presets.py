"""Conformance with optax: the first eleven optimizers under ``preset="optax"``.

``tests/data/optax_presets.npz`` holds optax 0.2.8's trajectories (x64) for
every optimizer optax has, recorded by ``scripts/record_optax_presets.py``;
these tests replay the recorded gradients through
``create(name, preset="optax", ...)`` without importing optax or jax.
The conventions the preset sets (AMSGrad's maximum over v̂, RAdam's ε on √v̂,
NAdam without the momentum schedule, AdaGrad's and RMSprop's ε inside the root,
AdamW's weight decay 1e-4) are exactly what makes these pass: the test below
checks that the torch defaults do not. Where the preset sets nothing (Adamax's
ε inside the max among them) the torch defaults match too.
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
    "name",
    [
        "adagrad",
        "rmsprop",
        "rmsprop_centered",
        "rmsprop_momentum",
        "adam_amsgrad",
        "adamw_default_decay",
        "nadam",
        "radam",
    ],
)
def test_the_preset_is_what_makes_it_match(name):
    """Without the preset (torch's conventions) these cases leave optax's path."""
    assert _replay(CASES[name], preset="torch") > 1e-6


@pytest.mark.parametrize(
    "name", [n for n, case in CASES.items() if PRESETS["optax"][case["optimizer"]] == {}]
)
def test_where_the_preset_sets_nothing_the_class_defaults_match(name):
    """An empty optax preset claims that gdlab's defaults are optax's conventions."""
    worst = _replay(CASES[name], preset="torch")
    assert worst <= RTOL, f"{name}: relative error {worst:.3e} > {RTOL:g}"


# Adamax where ε matters: the recorded case's gradients dwarf ε = 1e-8, so ε's
# place (inside the max or added to u) hardly shows there. Here |g| runs from
# 1e-7 to 1e-4 with ε = 1e-6.
def _small_grads(t: int) -> np.ndarray:
    j = np.arange(4)
    return np.sin(1.3 * t + j) * 10.0 ** (-7.0 + (t * 7 + j * 3) % 4)


_ADAMAX_INIT = (0.5, -0.25, 1.0, -1.0)
_ADAMAX_STEPS = 200
# optax 0.2.8 (jax 0.10.2, x64): optax.adamax(0.01, eps=1e-6) from _ADAMAX_INIT
# on _small_grads(0), ..., _small_grads(199): the parameters after the last step.
_ADAMAX_OPTAX_FINAL = (
    0.48323533153424086,
    -0.2684909209561467,
    1.0033835693625324,
    -0.9767154641503556,
)


def _optax_adamax(lr, eps, b1=0.9, b2=0.999):
    """optax.adamax as its source writes it, one array per step.

    ``chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(lr))``:
    ``mu ← (1 − b1)·g + b1·mu``; ``nu ← max(|g| + eps, b2·nu)``
    (``tree_update_infinity_moment``: ε inside the max); ``count ← count + 1``;
    update ``−lr · mu/(1 − b1^count) / nu``.
    """
    w = np.array(_ADAMAX_INIT)
    mu, nu = np.zeros_like(w), np.zeros_like(w)
    for count in range(1, _ADAMAX_STEPS + 1):
        g = _small_grads(count - 1)
        mu = (1 - b1) * g + b1 * mu
        nu = np.maximum(np.abs(g) + eps, b2 * nu)
        w = w + -lr * (mu / (1 - b1**count) / nu)
        yield w


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_adamax_preset_matches_optax_where_eps_matters(fused):
    opt = create("adamax", preset="optax", lr=0.01, eps=1e-6, fused=fused)
    params = {"w": np.array(_ADAMAX_INIT)}
    worst = 0.0
    for t, expected in enumerate(_optax_adamax(0.01, 1e-6)):
        opt.update(params, {"w": _small_grads(t)})
        worst = max(worst, float(np.max(np.abs(params["w"] - expected) / np.abs(expected))))
    assert worst <= RTOL, f"relative error {worst:.3e} > {RTOL:g}"
    np.testing.assert_allclose(params["w"], _ADAMAX_OPTAX_FINAL, rtol=RTOL, atol=0)


def test_the_written_out_adamax_is_optax_and_eps_added_to_u_is_not():
    *_, final = _optax_adamax(0.01, 1e-6)
    np.testing.assert_allclose(final, _ADAMAX_OPTAX_FINAL, rtol=RTOL, atol=0)
    # Keras's place for ε (eps_inside=False) leaves optax's path: 1e-5 relative
    opt = create("adamax", preset="optax", lr=0.01, eps=1e-6, eps_inside=False)
    params = {"w": np.array(_ADAMAX_INIT)}
    for t in range(_ADAMAX_STEPS):
        opt.update(params, {"w": _small_grads(t)})
    assert np.max(np.abs(params["w"] / _ADAMAX_OPTAX_FINAL - 1)) > 1e-6


def test_the_file_covers_every_optimizer_of_the_preset():
    first_eleven = {
        name for name, cls in OPTIMIZERS.items() if cls.__module__ == "gdlab.optim.optimizers"
    }
    assert {case["optimizer"] for case in CASES.values()} == set(PRESETS["optax"]) & first_eleven
    assert STEPS >= 200
    assert META["dtype"] == "float64"
    assert [] in META["shapes"].values()  # a 0-d parameter
