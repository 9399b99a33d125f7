"""A preset name at ``register``: a new one is a family of one's own, a slip is refused.

``presets={"pytorch": ...}`` used to add a preset 'pytorch' beside 'torch' (and a
``--preset pytorch`` choice that only this optimizer defines); it is now told
"did you mean 'torch'?".
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from gdlab.optim import OPTIMIZERS, PRESETS, create, register


def _sign_rule(p, g, state, t, *, lr=0.01):
    p -= lr * (g > 0) - lr * (g < 0)


@pytest.mark.parametrize(
    ("given", "meant"),
    [("pytorch", "torch"), ("Torch", "torch"), ("TORCH", "torch"), ("optx", "optax"),
     ("books", "book"), ("kerass", "keras"), ("Course", "course")],
)  # fmt: skip
def test_a_slip_of_an_existing_preset_is_refused_naming_both(registered, given, meant):
    with pytest.raises(ValueError, match="too close to the existing preset") as caught:
        register("slip_presets", lr_range=(1e-3, 1.0), presets={given: {"lr": 0.2}})(_sign_rule)
    message = str(caught.value)
    assert message.startswith(
        f"preset name {given!r} of 'slip_presets' is too close to the existing preset {meant!r}"
    )
    assert f"did you mean {meant!r}?" in message
    assert "slip_presets" not in OPTIMIZERS
    assert given not in PRESETS


def test_a_slip_of_a_preset_of_ones_own_is_refused_a_close_new_name_is_not(registered):
    register("own_family_a", lr_range=(1e-3, 1.0), presets={"mylab": {"lr": 0.2}})(_sign_rule)
    registered.append("own_family_a")
    with pytest.raises(ValueError, match="did you mean 'mylab'\\?"):
        register("own_family_b", lr_range=(1e-3, 1.0), presets={"my_lab": {}})(_sign_rule)
    # a second family of one's own, close in spelling, is its own choice
    register("own_family_b", lr_range=(1e-3, 1.0), presets={"mylab": {}, "mylab2": {}})(_sign_rule)
    registered.append("own_family_b")
    assert list(PRESETS["mylab"]) == ["own_family_a", "own_family_b"]
    assert list(PRESETS["mylab2"]) == ["own_family_b"]


def test_a_new_preset_name_and_the_existing_ones_still_register(registered):
    register("new_family", lr_range=(1e-3, 1.0),
             presets={"torch": {"lr": 0.3}, "paper2018": {"lr": 0.2}})(_sign_rule)  # fmt: skip
    registered.append("new_family")
    assert create("new_family", preset="paper2018").lr == 0.2
    assert create("new_family", preset="torch").lr == 0.3
    # replacing it may rename its own preset: only the others' presets count
    register("new_family", lr_range=(1e-3, 1.0), presets={"paper_2018": {"lr": 0.1}},
             replace=True)(_sign_rule)  # fmt: skip
    assert create("new_family", preset="paper_2018").lr == 0.1


def test_the_built_in_optimizers_register_in_a_fresh_process():
    code = "import gdlab.optim as o; print(sorted(o.PRESETS)); print(sorted(o.OPTIMIZERS))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    presets, names = done.stdout.split("\n")[:2]
    assert presets == "['book', 'course', 'keras', 'optax', 'torch']"
    assert "'adam'" in names
    assert "'sgd'" in names
