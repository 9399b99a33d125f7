"""Round 12: a wrapper's state dict in memory with a schedule that holds a Python
function (every wrapper, nested ones, groups, SAM); a file still refuses it, and a
run with a Checkpoint names the schedule and its argument."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.optim import create
from gdlab.problems import FunctionProblem
from gdlab.schedules import Constant, Cyclic, Join, Lambda, Multiplicative
from gdlab.train import Checkpoint, fit


def _joined():
    """A constant rate for 3 steps, then one shrunk by a Python function each step."""
    return Join([Constant(0.05), Multiplicative(0.05, lambda n: 0.8, per="step")], [3],
                per="step")  # fmt: skip


WRAPPED = {
    "lookahead": lambda: create("lookahead", inner={"optimizer": "adam"}, lr=_joined(), k=2),
    "lookahead-inner-lr": lambda: create("lookahead", inner={"optimizer": "adam", "lr": _joined()}),
    "average": lambda: create("average", inner={"optimizer": "adam"}, lr=_joined()),
    "accumulate": lambda: create("accumulate", inner="momentum", lr=_joined(), every=2),
    "groups": lambda: create(
        "groups", inner="adamw", lr=_joined(), groups=[{"keys": "b", "weight_decay": 0.0}]
    ),
    "groups-own-lr": lambda: create(
        "groups", inner="adam", groups=[{"keys": "b", "lr": Lambda(0.1, lambda n: 0.5**n)}]
    ),
    "groups-other-optimizer": lambda: create(
        "groups", inner="sgd", lr=_joined(), groups=[{"keys": "b", "optimizer": "adam"}]
    ),
    "nested": lambda: create(
        "lookahead", inner={"optimizer": "average", "inner": "adam"}, lr=_joined()
    ),
    "sam": lambda: create("sam", base="adam", lr=_joined()),
}


def _closure(params):
    return (
        float(np.sum(params["w"] ** 2) + np.sum((params["b"] - 1) ** 2)),
        {"w": 2 * params["w"], "b": 2 * (params["b"] - 1)},
    )


def _steps(opt, params, n):
    for _ in range(n):
        opt.update(params, _closure(params)[1], closure=_closure)


@pytest.mark.parametrize("make", WRAPPED.values(), ids=WRAPPED)
def test_a_wrapper_with_a_function_in_its_schedule_continues_from_its_state_dict(make, tmp_path):
    params = {"w": np.array([1.0, -2.0, 0.5]), "b": np.array([0.3])}
    first = make()
    _steps(first, params, 2)
    saved = first.state_dict()  # refused: "lr_lambda must be plain data"
    kept = {k: p.copy() for k, p in params.items()}
    _steps(first, params, 5)  # over the join's boundary: the function's rates
    second = make()
    second.load_state_dict(saved)
    _steps(second, kept, 5)
    for key, p in params.items():
        assert kept[key].tobytes() == p.tobytes(), key
    assert (second.t, second.current_lr) == (first.t, first.current_lr)
    target = tmp_path / "wrapper.npz"
    with pytest.raises(TypeError) as refused:
        first.save(target)
    assert "schedule's lr_lambda" in str(refused.value)
    assert str(refused.value).endswith("keep the optimizer's state_dict() in memory instead")
    assert not target.exists()


def test_a_wrapper_state_dict_keeps_the_function_itself():
    opt = WRAPPED["lookahead"]()
    function = opt.lr.schedules[1].lr_lambda
    saved = opt.state_dict()["hyperparameters"]["inner"]["lr"]["schedule"]
    assert saved["schedules"][1]["lr_lambda"] is function


def test_a_group_refuses_what_is_neither_plain_data_nor_a_schedule():
    with pytest.raises(TypeError, match=r"groups\[0\]\['extra'\] must be plain data"):
        create("groups", inner="sgd", groups=[{"keys": "b", "extra": lambda n: n}])


# --------------------------------------------------------------- the run's refusal


@pytest.mark.parametrize(
    ("optimizer", "named"),
    [
        (lambda: create("sgd", lr=_joined()), "the Multiplicative schedule's lr_lambda: "),
        (lambda: create("lookahead", inner="adam", lr=Cyclic(0.01, 0.1, 3, scale_fn=abs)),
         "the Cyclic schedule's scale_fn: "),
        (lambda: create("sgd", lr=Lambda(0.1, lambda n: 0.9**n, per="step")),
         "the Lambda schedule's lr_lambda: "),
    ],
)  # fmt: skip
def test_a_run_with_a_checkpoint_names_the_schedule_and_its_function(tmp_path, optimizer, named):
    with pytest.raises(TypeError) as refused:
        fit(FunctionProblem("bowl"), optimizer(), steps=4, rng=np.random.default_rng(0),
            progress=False, callbacks=[Checkpoint(tmp_path / "ck.npz", every=2)])  # fmt: skip
    said = str(refused.value)
    assert f"a Python function ({named}fit without the Checkpoint" in said
    assert "Lambda, Multiplicative or Cyclic" not in said
