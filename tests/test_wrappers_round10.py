"""Round 10: wrappers around an inner step that fails after it counted (L-BFGS that
had moved), clipping a wrapper around L-BFGS, schedule tables as an inner or group lr,
another wrapper's state dict, and the loss caption's diverged runs."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from gdlab import schedules
from gdlab.optim import create
from gdlab.report import figures

START = np.array([1.0, 2.0])


def _failing_at(call: int):
    """``f = ‖x‖²`` whose ``call``-th evaluation raises (mid-step, after L-BFGS moved)."""
    calls = [0]

    def f(p):
        calls[0] += 1
        if calls[0] == call:
            raise RuntimeError("boom")
        return float(p["x"] @ p["x"]), {"x": 2 * p["x"]}

    return f


def _failed_update(opt, params, closure) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        opt.update(params, {"x": 2 * params["x"]}, closure=closure)


# --- 1. what a wrapper counts, it has done --------------------------------------------------------

LBFGS = {"optimizer": "lbfgs", "lr": 0.1}


@pytest.mark.parametrize(
    "settings",
    [{"mode": "swa"}, {"mode": "ema", "decay": 0.5}, {"mode": "ema", "decay": 0.5, "debias": True}],
)
def test_average_averages_an_lbfgs_step_counted_after_its_closure_raised(settings) -> None:
    opt = create("average", inner=LBFGS, **settings)
    params = {"x": START.copy()}
    _failed_update(opt, params, _failing_at(3))
    assert not np.array_equal(params["x"], START)  # L-BFGS had moved: the step counts
    assert opt.t == 1
    assert opt.count() == 1
    np.testing.assert_allclose(opt.averaged(params)["x"], params["x"], rtol=1e-15)
    moved = params["x"].copy()
    opt.update(params, {"x": 2 * params["x"]}, closure=_failing_at(0))
    if settings["mode"] == "swa":  # (p1 + p2)/2, no zero mixed in
        np.testing.assert_allclose(opt.averaged(params)["x"], (moved + params["x"]) / 2)


def test_lookahead_syncs_the_slow_weights_on_a_counted_step_whose_closure_raised() -> None:
    opt = create("lookahead", inner=LBFGS, k=1, alpha=0.5)
    params = {"x": START.copy()}
    _failed_update(opt, params, _failing_at(3))
    assert opt.t == 1
    moved = START - 0.1 / 6 * (2 * START)  # L-BFGS's last point: p − lr·g/‖g‖₁
    slow = opt.slow_weights(params)["x"]
    np.testing.assert_allclose(slow, params["x"], rtol=1e-15)  # θ ← φ
    np.testing.assert_allclose(slow, START + 0.5 * (moved - START), rtol=1e-12)


def test_accumulate_ends_its_window_on_a_counted_inner_step_whose_closure_raised() -> None:
    opt = create("accumulate", inner=LBFGS, every=2, use_grad_mean=False)
    params = {"x": START.copy()}
    opt.update(params, {"x": np.array([5.0, 5.0])}, closure=_failing_at(0))
    _failed_update(opt, params, _failing_at(3))
    assert opt.t == 2
    assert opt.mini_step == 0
    assert opt.inner_optimizer.t == 1
    np.testing.assert_array_equal(opt.state["x"]["acc_grads"], [0.0, 0.0])  # a new window


def _grouped_closure(y0: np.ndarray):
    """``‖w‖² + ‖x‖² + ‖y‖²``, raising at the second point where ``y`` has moved (its
    L-BFGS group mid-step, after its first move was evaluated: the step counts)."""
    moved = [0]

    def f(p):
        moved[0] += not np.array_equal(p["y"], y0)
        if moved[0] == 2:
            raise RuntimeError("boom")
        return float(sum(v @ v for v in p.values())), {k: 2 * v for k, v in p.items()}

    return f


def test_groups_counted_step_keeps_the_groups_before_and_steps_the_others() -> None:
    lbfgs = {"optimizer": "lbfgs", "lr": 0.1, "max_iter": 3}
    opt = create(
        "groups",
        inner={"optimizer": "sgd", "lr": 0.1},
        groups=[{"keys": "x", **lbfgs}, {"keys": "y", **lbfgs}],
    )
    params = {k: START.copy() for k in ("w", "x", "y")}
    grads = {k: 2 * v for k, v in params.items()}
    with pytest.raises(RuntimeError, match="boom"):
        opt.update(params, grads, closure=_grouped_closure(START))
    assert opt.t == 1
    assert [o.t for o in (opt.inner_optimizer, *opt.group_optimizers)] == [1, 1, 1]
    np.testing.assert_allclose(params["w"], START - 0.1 * 2 * START)  # the SGD keys stepped
    assert not np.array_equal(params["x"], START)  # the group before it keeps its step
    assert not np.array_equal(params["y"], START)  # the failing group: its last point


def _counting(fail_at: int = 0):
    """``f = Σ‖v‖²`` counting its calls, raising at the ``fail_at``-th (0: never)."""
    calls = [0]

    def f(p):
        calls[0] += 1
        if calls[0] == fail_at:
            raise RuntimeError("boom")
        return float(sum(v @ v for v in p.values())), {k: 2 * v for k, v in p.items()}

    return f, calls


def test_groups_step_undone_by_a_later_group_puts_back_the_groups_stepped_before() -> None:
    lbfgs = {"optimizer": "lbfgs", "lr": 0.1, "max_iter": 3}
    params = {k: START.copy() for k in ("w", "x", "y")}
    grads = {k: 2 * v for k, v in params.items()}
    # group x alone: how many evaluations its whole step takes
    alone = create("groups", inner="sgd", groups=[{"keys": "x", **lbfgs}])
    f, calls = _counting()
    alone.update({k: v.copy() for k, v in params.items()}, grads, closure=f)
    x_calls = calls[0]
    assert alone.group_optimizers[0].t == 1
    assert x_calls >= 2
    opt = create("groups", inner="sgd", groups=[{"keys": "x", **lbfgs}, {"keys": "y", **lbfgs}])
    f, calls = _counting(fail_at=x_calls + 1)  # group x steps whole, y fails at its first
    with pytest.raises(RuntimeError, match="boom"):
        opt.update(params, grads, closure=f)
    assert calls[0] == x_calls + 1  # group y did evaluate: x had stepped
    assert opt.t == 0
    assert [o.t for o in (opt.inner_optimizer, *opt.group_optimizers)] == [0, 0, 0]
    assert all(np.array_equal(v, START) for v in params.values())  # x put back, w never moved


class _Interrupted(Exception):
    """Stands for Ctrl-C (a KeyboardInterrupt would stop pytest)."""


def _half_stepping_sgd():
    """SGD whose step, once ``half`` is set, stops half done: one key updated, counted."""
    from gdlab.optim.optimizers import SGD

    class HalfSGD(SGD):
        half = False

        def _step(self, params, grads, lr):
            if not self.half:
                return super()._step(params, grads, lr)
            first = next(iter(params))
            super()._step({first: params[first]}, {first: grads[first]}, lr)
            raise _Interrupted

    return HalfSGD(lr=0.1, fused=False)


def _stopped_first_step(name, **settings):
    """``name`` around an SGD whose first step stops half done (one key updated, counted)."""
    opt = create(name, inner=_half_stepping_sgd(), **settings)
    opt.inner_optimizer.half = True
    params = {"a": START.copy(), "b": START.copy()}
    with pytest.raises(_Interrupted):
        opt.update(params, {k: 2 * v for k, v in params.items()})
    opt.inner_optimizer.half = False
    return opt, params


# A counted step stopped half done is finished by the wrapper like any counted step: its
# state agrees with its count (undoing its part would leave a slow copy never set, a
# sample counted but never averaged, a window counted closed but still summed).


def test_average_averages_a_counted_first_step_stopped_half_done() -> None:
    opt, params = _stopped_first_step("average", mode="swa")
    assert opt.t == opt.inner_optimizer.t == 1
    assert opt.count() == 1
    for key, value in opt.averaged(params).items():
        np.testing.assert_array_equal(value, params[key])


def test_lookahead_sets_its_slow_weights_on_a_counted_first_step_stopped_half_done() -> None:
    opt, params = _stopped_first_step("lookahead", k=2, alpha=0.5)
    for key in params:
        np.testing.assert_array_equal(opt.state[key]["slow"], START)  # the start point
    opt.update(params, {k: 2 * v for k, v in params.items()})  # t = 2: a sync
    for key, value in params.items():
        np.testing.assert_array_equal(value, opt.state[key]["slow"])
        assert (value > 0.5 * START).all()  # pulled toward the start point, not toward 0


def test_accumulate_ends_its_window_on_a_counted_step_stopped_half_done() -> None:
    opt = create("accumulate", inner=_half_stepping_sgd(), every=2, use_grad_mean=False)
    params = {"a": START.copy(), "b": START.copy()}
    opt.update(params, {k: np.ones(2) for k in params})  # the window's first gradient
    opt.inner_optimizer.half = True
    with pytest.raises(_Interrupted):  # the window's end: its inner step stops half done
        opt.update(params, {k: np.ones(2) for k in params})
    assert opt.inner_optimizer.t == 1
    for key in params:
        np.testing.assert_array_equal(opt.state[key]["acc_grads"], np.zeros(2))  # emptied


# --- 2. clipping around L-BFGS is refused ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "settings", "words"),
    [
        ("lookahead", {"inner": "lbfgs", "k": 1, "alpha": 1.0, "clip_norm": 0.1},
         "Lookahead clip_norm must be None when its inner LBFGS refuses clipping"),
        ("average", {"inner": "lbfgs", "clip_value": 1.0},
         "Average clip_value must be None when its inner LBFGS refuses clipping"),
        ("accumulate", {"inner": {"optimizer": "lbfgs"}, "every": 2, "clip_norm": 1.0},
         "Accumulate clip_norm must be None when its inner LBFGS refuses clipping"),
        ("groups", {"inner": "adam", "clip_norm": 1.0, "groups": [{"keys": "b", **LBFGS}]},
         "Groups clip_norm must be None when its groups[0] optimizer LBFGS refuses clipping"),
        ("groups", {"inner": "lbfgs", "clip_value": 1.0},
         "Groups clip_value must be None when its base optimizer LBFGS refuses clipping"),
        ("lookahead", {"inner": {"optimizer": "average", "inner": "lbfgs"}, "clip_norm": 1.0},
         "Lookahead clip_norm must be None when its inner Average's inner LBFGS refuses clipping"),
    ],
)  # fmt: skip
def test_a_wrapper_refuses_clipping_around_lbfgs(name, settings, words) -> None:
    with pytest.raises(ValueError, match=re.escape(words)) as caught:
        create(name, **settings)
    assert "curvature pairs need the true gradients" in str(caught.value)


def test_a_declared_clipping_refusal_is_refused_by_a_wrapper() -> None:
    from gdlab.optim.optimizers import SGD

    class NoClipSGD(SGD):
        refuses_clipping = "its gradients are its own"

    words = "Lookahead clip_value must be None when its inner NoClipSGD refuses clipping "
    with pytest.raises(ValueError, match=re.escape(words + "(its gradients are its own)")):
        create("lookahead", inner=NoClipSGD(lr=0.1), clip_value=1.0)
    with pytest.raises(ValueError, match=re.escape("Average's inner NoClipSGD refuses")):
        create("lookahead", inner={"optimizer": "average", "inner": NoClipSGD()}, clip_norm=1.0)
    assert create("lookahead", inner=NoClipSGD(lr=0.1)).clip_norm is None


def test_clipping_refusal_is_a_declared_trait() -> None:
    from gdlab.optim.lbfgs import LBFGS as LBFGSClass

    assert LBFGSClass.refuses_clipping
    assert not getattr(type(create("adam")), "refuses_clipping", None)
    assert create("lookahead", inner="adam", clip_norm=0.1).clip_norm == 0.1
    with pytest.raises(ValueError, match=r"clip_norm must be None for L-BFGS \(its curvature"):
        create("lbfgs", clip_norm=0.1)


# --- 3. a schedule table as an inner's or a group's lr --------------------------------------------

STEP = {"name": "step", "lr0": 0.1, "every": 5, "factor": 0.5, "per": "step"}


@pytest.mark.parametrize("table", [STEP, {"schedule": STEP}])
def test_an_inner_or_group_lr_takes_a_schedule_table(table) -> None:
    expected = schedules.from_config(STEP)
    groups = create(
        "groups", inner={"optimizer": "adam", "lr": 0.01}, groups=[{"keys": "b", "lr": table}]
    )
    assert groups.group_optimizers[0].lr == expected
    assert groups.lr == 0.01
    inner = {"optimizer": "adam", "lr": table}
    assert create("lookahead", inner=inner).lr == expected
    assert create("average", inner={"optimizer": "sgd", "lr": table}).lr == expected
    again = create("groups", **groups.hyperparameters())
    assert again.group_optimizers[0].lr == expected


@pytest.mark.parametrize(
    ("table", "kind"),
    [({"name": "step", "lr0": 0.1}, TypeError), ({"lr0": 0.1}, ValueError),
     ({"name": "nope"}, ValueError), ({"schedule": STEP, "every": 3}, ValueError)],
)  # fmt: skip
def test_a_malformed_lr_table_says_where_and_which_forms(table, kind) -> None:
    forms = "a positive real number, a Schedule or a schedule table"
    with pytest.raises(kind, match=re.escape(f"groups[0]: lr must be {forms}")):
        create("groups", inner="adam", groups=[{"keys": "b", "lr": table}])
    with pytest.raises(kind, match=re.escape(f"inner: lr must be {forms}")):
        create("lookahead", inner={"optimizer": "sgd", "lr": table})


# --- 4. another wrapper's state dict --------------------------------------------------------------


def test_groups_names_the_optimizer_of_another_wrappers_state_dict() -> None:
    groups = create("groups", inner="adam")
    params = {"w": np.ones(2)}
    groups.update(params, {"w": np.ones(2)})
    before = groups.state_dict()
    other = create("lookahead").state_dict()
    with pytest.raises(
        ValueError, match=r"state_dict\['optimizer'\] must be 'groups'; got 'lookahead'"
    ):
        groups.load_state_dict(other)
    after = groups.state_dict()
    assert after.keys() == before.keys()
    assert after["t"] == before["t"] == 1
    np.testing.assert_array_equal(after["inners"][0]["state"]["w"]["exp_avg"],
                                  before["inners"][0]["state"]["w"]["exp_avg"])  # fmt: skip


# --- 5. the loss caption's diverged runs ----------------------------------------------------------


def _run(name: str, loss: list[float], reason: str = "", stopped: int | None = None) -> dict:
    metrics: dict[str, Any] = {} if reason else {"final_loss": loss[-1], "best_loss": min(loss)}
    return {
        "id": name.lower(), "label": name, "group": name, "optimizer": name.lower(),
        "hyperparameters": {"lr": 1e6}, "seed": 0,
        "status": "diverged" if reason else "ok", "reason": reason, "stopped_at": stopped,
        "steps": len(loss), "loss": loss, "lr": [1e6] * len(loss), "epochs": [],
        "metrics": metrics,
    }  # fmt: skip


def test_the_loss_caption_names_a_run_that_diverged_before_any_loss_and_ranks_no_diverged() -> None:
    runs = [
        _run("SM3", [0.69], "diverged at step 2: loss 1e14 is above 1e+06", 1),
        _run("LBFGS", [], "diverged at step 1: the closure returned a NaN", 0),
        _run("Average", [0.686], "diverged at step 2: loss 5e11 is above 1e+06", 1),
        _run("Adafactor", list(np.linspace(0.68, 0.5, 30))),
    ]
    problem = {"kind": "mlp", "name": "test", "traits": ["data"], "description": ""}
    look = figures._loss_look_for({"problem": problem, "runs": runs})
    assert "SM3 and Average diverged: × marks the step where each did." in look
    assert "LBFGS diverged before any loss was recorded, so it has no curve." in look
    ranking = look.split(". ")[0]
    assert ranking.startswith("Lowest at the end: Adafactor")
    assert "highest" not in ranking
    assert "Average" not in ranking


# --- 6. one reader of a schedule table, in gdlab.schedules ----------------------------------------

WARMED = schedules.Warmup(schedules.StepDecay(0.1, every=5, per="step"), 3)


@pytest.mark.parametrize("table", [WARMED.config(), {"schedule": WARMED.config()}])
def test_a_warmup_table_is_read_whole_everywhere(table) -> None:
    from gdlab.optim import registry, sam

    assert schedules.config_of(table) == WARMED.config()
    assert sam._lr_value(table) == WARMED  # not the bare StepDecay under the warm-up
    assert create("sam", base={"optimizer": "sgd", "lr": table}).lr == WARMED
    assert create("lookahead", inner={"optimizer": "sgd", "lr": table}).lr == WARMED
    saved = create("sgd", lr=WARMED).state_dict()
    saved["hyperparameters"]["lr"] = table
    assert registry._rebuild(saved).lr == WARMED


def test_the_wrappers_read_lr_tables_without_the_experiments_layer() -> None:
    import inspect

    from gdlab.optim import sam, wrappers

    for module in (wrappers, sam):
        assert "gdlab.experiments" not in inspect.getsource(module)
