"""The optimizer wrappers: lookahead, averaging (EMA/SWA), accumulation, parameter groups.

``tests/data/wrapper_trajectories.npz`` holds, per case, the initial
parameters, 250 steps of gradients and the reference's parameters after every
step (and lookahead's slow weights, or the average), recorded in float64 by
``scripts/record_wrappers.py`` from optax 0.2.8 (lookahead, MultiSteps, ema)
and torch 2.13 (AveragedModel, param_groups). These tests replay them without
importing either, with the fused and the reference kernels, and hold every
element of every step to a relative error of 1e-10. Then: the first two steps
worked out by hand from the papers' formulas, fused == reference bit for bit,
the argument errors, state dicts and files, the lr and closures reaching the
inner optimizer, key groups, and experiments and ``fit`` using the wrappers.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gdlab import schedules
from gdlab.optim import (
    OPTIMIZERS,
    Accumulate,
    Average,
    Groups,
    Lookahead,
    NonFiniteGradientError,
    Optimizer,
    create,
    load,
    register,
    unregister,
)

DATA = Path(__file__).parent / "data" / "wrapper_trajectories.npz"
RTOL = 1e-10
FLOOR = 1e-12
WRAPPERS = ("lookahead", "average", "accumulate", "groups")


def _meta() -> dict:
    with np.load(DATA, allow_pickle=False) as data:
        return json.loads(str(data["meta"]))


META = _meta()
CASES = {case["name"]: case for case in META["cases"]}
KEYS = META["param_names"]
STEPS = META["steps"]


@pytest.fixture(scope="module")
def recorded() -> dict[str, np.ndarray]:
    with np.load(DATA, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _replay(name: str, recorded, *, fused: bool, **override) -> dict[str, float]:
    """The worst relative error of each recorded series, over every element of every step."""
    case = CASES[name]
    opt = create(case["optimizer"], fused=fused, **{**case["kwargs"], **override})
    params = {k: recorded[f"{name}/{k}/init"].copy() for k in KEYS}
    got = {
        s: {k: np.empty_like(recorded[f"{name}/{k}/{s}"]) for k in KEYS} for s in case["records"]
    }
    for step in range(STEPS):
        opt.update(params, {k: np.array(recorded[f"{name}/{k}/grads"][step]) for k in KEYS})
        for series, out in got.items():
            now = params if series == "traj" else opt.eval_params(params)
            if series == "avg" and now is params:  # nothing averaged yet: params itself
                now = dict.fromkeys(KEYS, np.nan)
            for k in KEYS:
                out[k][step] = now[k]
    worst = {}
    for series, out in got.items():
        errors = []
        for k in KEYS:
            expected = recorded[f"{name}/{k}/{series}"]
            # NaN where the reference had no average yet: gdlab must have none either
            np.testing.assert_array_equal(np.isnan(out[k]), np.isnan(expected))
            errors.append(np.nan_to_num(_relative_errors(out[k], expected)).max())
        worst[series] = float(max(errors))
    if "avg" in case["records"]:
        assert np.sum(~np.isnan(got["avg"][KEYS[0]].reshape(STEPS, -1)[:, 0])) >= 20
    return worst


def _relative_errors(actual, expected):
    return np.abs(actual - expected) / np.maximum(np.abs(expected), FLOOR)


# ----------------------------------------------------------------- the references


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("name", list(CASES))
def test_trajectory_matches_the_reference(name, fused, recorded):
    worst = _replay(name, recorded, fused=fused)
    for series, error in worst.items():
        assert error <= RTOL, f"{name} ({CASES[name]['reference']}): {series} off by {error:.3e}"


def test_the_tolerance_detects_a_tiny_change(recorded):
    """Not vacuous: an alpha off by one part in 10⁸ fails, in the slow weights too."""
    worst = _replay("lookahead_adam", recorded, fused=False, alpha=0.5 * (1 + 1e-8))
    assert worst["slow"] > 10 * RTOL
    worst = _replay("ema_momentum", recorded, fused=False, decay=0.95 * (1 + 1e-8))
    assert worst["avg"] > 10 * RTOL
    assert worst["traj"] <= RTOL


def test_the_file_covers_every_wrapper_and_its_forms(recorded):
    assert {case["optimizer"] for case in CASES.values()} == set(WRAPPERS)
    kinds = {(c["optimizer"], c["kwargs"].get("mode", "ema"), c["kwargs"].get("debias", False))
             for c in CASES.values() if c["optimizer"] == "average"}  # fmt: skip
    assert kinds == {("average", "ema", False), ("average", "ema", True), ("average", "swa", False)}
    assert any(c["kwargs"].get("use_grad_mean") is False for c in CASES.values())
    assert any(any("optimizer" in g for g in c["kwargs"].get("groups", [])) for c in CASES.values())
    assert STEPS >= 200
    assert META["dtype"] == "float64"
    shapes = {k: tuple(s) for k, s in META["shapes"].items()}
    assert () in shapes.values()
    for name, case in CASES.items():
        for k in KEYS:
            grads = recorded[f"{name}/{k}/grads"]
            assert grads.shape == (STEPS, *shapes[k])
            assert grads.dtype == np.float64
            for series in case["records"]:
                assert recorded[f"{name}/{k}/{series}"].shape == (STEPS, *shapes[k])
    zeros = np.mean([np.mean(recorded[f"{n}/{k}/grads"] == 0) for n in CASES for k in KEYS])
    assert 0.01 < zeros < 0.5
    w1 = recorded["lookahead_adam/W1/grads"].reshape(STEPS, -1)
    rms = np.sqrt(np.mean(w1[: STEPS // 10 * 10].reshape(STEPS // 10, -1) ** 2, axis=1))
    assert rms.max() / rms.min() > 100


# ------------------------------------------------------------ first steps by hand

P0 = {"w": (1.0, -2.0), "b": 0.5}
G = [{"w": (0.3, -0.4), "b": 0.2}, {"w": (-0.1, 0.5), "b": 0.6}, {"w": (0.7, 0.0), "b": -0.3}]


def _params():
    return {"w": np.array(P0["w"]), "b": np.array(P0["b"])}


def _grads(i):
    return {"w": np.array(G[i]["w"]), "b": np.array(G[i]["b"])}


def _flat(params):
    return [float(params["w"][0]), float(params["w"][1]), float(params["b"])]


def _elements(i):
    return [G[i]["w"][0], G[i]["w"][1], G[i]["b"]]


@pytest.fixture(params=[True, False], ids=["fused", "numpy"])
def fused(request):
    return request.param


def test_lookahead_first_steps_by_hand(fused):
    """Zhang et al. (2019), Algorithm 1, around SGD (lr 0.1), k = 2, α = 0.4."""
    opt = create("lookahead", inner={"optimizer": "sgd", "lr": 0.1}, k=2, alpha=0.4, fused=fused)
    params = _params()
    slow0 = _flat(params)
    opt.update(params, _grads(0))
    fast1 = [p - 0.1 * g for p, g in zip(slow0, _elements(0), strict=True)]
    np.testing.assert_allclose(_flat(params), fast1, rtol=1e-15)
    assert _flat(opt.eval_params(params)) == slow0  # φ has not moved
    opt.update(params, _grads(1))
    fast2 = [p - 0.1 * g for p, g in zip(fast1, _elements(1), strict=True)]
    slow2 = [s + 0.4 * (f - s) for s, f in zip(slow0, fast2, strict=True)]
    np.testing.assert_allclose(_flat(params), slow2, rtol=1e-15)  # θ ← φ after the sync
    np.testing.assert_allclose(_flat(opt.eval_params(params)), slow2, rtol=1e-15)
    assert opt.t == 2
    assert opt.inner_optimizer.t == 2


def test_lookahead_with_alpha_one_is_the_inner_optimizer(fused):
    opt = create("lookahead", inner={"optimizer": "adam", "lr": 0.1}, k=2, alpha=1.0, fused=fused)
    alone = create("adam", lr=0.1, fused=fused)
    p, q = _params(), _params()
    for i in range(3):
        opt.update(p, _grads(i))
        alone.update(q, _grads(i))
    assert _flat(p) == _flat(q)


def test_average_ema_first_steps_by_hand(fused):
    """torch AveragedModel with get_ema_multi_avg_fn(0.9): a₁ = p₁, a₂ = 0.9a₁ + 0.1p₂."""
    opt = create("average", inner={"optimizer": "sgd", "lr": 0.1}, decay=0.9, fused=fused)
    params = _params()
    assert opt.averaged(params) is params
    p1 = [p - 0.1 * g for p, g in zip(_flat(params), _elements(0), strict=True)]
    p2 = [p - 0.1 * g for p, g in zip(p1, _elements(1), strict=True)]
    opt.update(params, _grads(0))
    np.testing.assert_allclose(_flat(opt.averaged(params)), p1, rtol=1e-15)
    opt.update(params, _grads(1))
    np.testing.assert_allclose(_flat(params), p2, rtol=1e-15)
    want = [0.9 * a + 0.1 * p for a, p in zip(p1, p2, strict=True)]
    np.testing.assert_allclose(_flat(opt.averaged(params)), want, rtol=1e-14)


def test_average_ema_debias_first_steps_by_hand(fused):
    """optax ema(0.8, debias=True): e₁ = 0.2p₁, e₂ = 0.8e₁ + 0.2p₂, average eₙ/(1 − 0.8ⁿ)."""
    opt = create("average", inner={"optimizer": "sgd", "lr": 0.1}, decay=0.8, debias=True,
                 fused=fused)  # fmt: skip
    params = _params()
    p1 = [p - 0.1 * g for p, g in zip(_flat(params), _elements(0), strict=True)]
    p2 = [p - 0.1 * g for p, g in zip(p1, _elements(1), strict=True)]
    opt.update(params, _grads(0))
    np.testing.assert_allclose(_flat(opt.averaged(params)), p1, rtol=1e-15)  # debiased: p₁
    opt.update(params, _grads(1))
    e = [0.8 * (0.2 * a) + 0.2 * b for a, b in zip(p1, p2, strict=True)]
    want = [x / (1 - 0.8**2) for x in e]
    np.testing.assert_allclose(_flat(opt.averaged(params)), want, rtol=1e-14)


def test_average_swa_from_start_every_by_hand(fused):
    """SWA of the parameters after steps 2 and 4 (start 2, every 2): their plain mean."""
    opt = create("average", inner={"optimizer": "sgd", "lr": 0.1}, mode="swa", start=2, every=2,
                 fused=fused)  # fmt: skip
    params = _params()
    seen = []
    for i in range(4):
        opt.update(params, _grads(i % 3))
        seen.append(_flat(params))
        assert opt.count() == [0, 1, 1, 2][i]
        if i == 0:
            assert opt.eval_params(params) is params
    want = [(a + b) / 2 for a, b in zip(seen[1], seen[3], strict=True)]
    np.testing.assert_allclose(_flat(opt.averaged(params)), want, rtol=1e-15)


def test_accumulate_first_steps_by_hand(fused):
    """optax MultiSteps, k = 2: nothing moves on the first call; then SGD on the mean."""
    opt = create("accumulate", inner={"optimizer": "sgd", "lr": 0.1}, every=2, fused=fused)
    params = _params()
    opt.update(params, _grads(0))
    assert _flat(params) == _flat(_params())
    assert opt.inner_optimizer.t == 0
    assert opt.mini_step == 1
    opt.update(params, _grads(1))
    want = [p - 0.1 * (a + b) / 2 for p, a, b in
            zip(_flat(_params()), _elements(0), _elements(1), strict=True)]  # fmt: skip
    np.testing.assert_allclose(_flat(params), want, rtol=1e-15)
    assert (opt.t, opt.inner_optimizer.t, opt.mini_step) == (2, 1, 0)
    assert np.all(opt.state["w"]["acc_grads"] == 0)  # emptied for the next window


def test_accumulate_sum_by_hand(fused):
    opt = create("accumulate", inner={"optimizer": "sgd", "lr": 0.1}, every=3,
                 use_grad_mean=False, fused=fused)  # fmt: skip
    params = _params()
    for i in range(3):
        opt.update(params, _grads(i))
    start, (g1, g2, g3) = _flat(_params()), (_elements(i) for i in range(3))
    want = [p - 0.1 * (a + b + c) for p, a, b, c in zip(start, g1, g2, g3, strict=True)]
    np.testing.assert_allclose(_flat(params), want, rtol=1e-15)


def test_groups_first_steps_by_hand(fused):
    """torch param_groups: the bias with lr 0.2 and no weight decay, w with the base settings."""
    opt = create("groups", inner="sgd", lr=0.1, weight_decay=0.05,
                 groups=[{"keys": "b*", "lr": 0.2, "weight_decay": 0.0}], fused=fused)  # fmt: skip
    params = _params()
    w, b = list(P0["w"]), P0["b"]
    for i in range(2):
        opt.update(params, _grads(i))
        w = [x - 0.1 * (g + 0.05 * x) for x, g in zip(w, G[i]["w"], strict=True)]
        b = b - 0.2 * G[i]["b"]
        np.testing.assert_allclose(_flat(params), [*w, b], rtol=1e-15)
    assert opt.group_optimizers[0].state.keys() == {"b"}
    assert opt.inner_optimizer.state.keys() == {"w"}


# ------------------------------------------------------------ fused == reference

CONFIGS = {
    "lookahead": ("lookahead", {"inner": {"optimizer": "adam", "lr": 0.01}, "k": 3, "alpha": 0.6}),
    "lookahead-clip": ("lookahead", {"inner": "momentum", "lr": 0.05, "clip_norm": 1.0}),
    "ema": ("average", {"inner": {"optimizer": "momentum", "lr": 0.05}, "decay": 0.9}),
    "ema-debias": ("average", {"inner": "adam", "lr": 0.01, "decay": 0.9, "debias": True}),
    "swa": ("average", {"inner": "momentum", "lr": 0.05, "mode": "swa", "start": 4, "every": 3}),
    "accumulate": ("accumulate", {"inner": {"optimizer": "adam", "lr": 0.01}, "every": 3}),
    "accumulate-sum": (
        "accumulate",
        {"inner": "sgd", "lr": 0.05, "every": 2, "use_grad_mean": False, "clip_value": 0.5},
    ),
    "groups": (
        "groups",
        {
            "inner": "adamw",
            "lr": 0.01,
            "weight_decay": 0.1,
            "groups": [
                {"keys": "b*", "weight_decay": 0.0},
                {"keys": "W?", "optimizer": "momentum", "lr": 0.05},
            ],
        },
    ),
    "nested": (
        "lookahead",
        {"inner": {"optimizer": "accumulate", "inner": "adam", "every": 2}, "lr": 0.01, "k": 2},
    ),
}
SHAPES = {"W1": (4, 3), "b1": (3,), "W2": (3, 2), "b2": ()}


def _random_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def _stream(dtype, steps, seed=1):
    rng = np.random.default_rng(seed)
    for t in range(steps):
        scale = 1 + 0.5 * math.sin(t / 5)
        yield {k: (scale * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}


def _train(opt, params, steps, seed=1):
    for grads in _stream(next(iter(params.values())).dtype, steps, seed):
        opt.update(params, grads)
    return params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS)
def test_fused_is_bit_identical_to_reference(config, dtype):
    name, hp = CONFIGS[config]
    fast, slow = create(name, **hp), create(name, fused=False, **hp)
    p, q = _train(fast, _random_params(dtype), 40), _train(slow, _random_params(dtype), 40)
    assert not slow.inner_optimizer.fused
    for key in SHAPES:
        assert p[key].dtype == dtype
        np.testing.assert_array_equal(p[key], q[key])
        np.testing.assert_array_equal(fast.eval_params(p)[key], slow.eval_params(q)[key])
    for key, bufs in fast.state.items():
        for n, a in bufs.items():
            np.testing.assert_array_equal(a, slow.state[key][n])


# ------------------------------------------------------------------ bad arguments

BAD = [
    ("lookahead", {"inner": "adamm"}, ValueError, r"^inner must be one of sgd, .*; got 'adamm'"),
    ("lookahead", {"inner": {"optimizer": "adamm"}}, ValueError,
     r"^inner\['optimizer'\] must be one of sgd, .*; got 'adamm'"),
    ("lookahead", {"inner": {"lr": 0.1}}, ValueError,
     r"^inner must be a dict with the key 'optimizer' .*; got \{'lr': 0.1\}"),
    ("lookahead", {"inner": 3}, TypeError, r"^inner must be an optimizer name, .*; got 3 \(int\)"),
    ("lookahead", {"inner": {"optimizer": 3}}, TypeError, r"^inner\['optimizer'\] must be one of"),
    ("lookahead", {"inner": {"optimizer": "adam", "beta1": 1.5}}, ValueError,
     r"^inner: beta1 must be in \[0, 1\); got 1.5"),
    ("lookahead", {"inner": {"optimizer": "adam", "betaa": 1}}, TypeError,
     r"^inner: Adam got an unknown keyword argument 'betaa'"),
    ("lookahead", {"k": 0}, ValueError, r"^k must be an integer >= 1; got 0"),
    ("lookahead", {"k": 2.0}, TypeError, r"^k must be an integer; got 2.0"),
    ("lookahead", {"alpha": 0.0}, ValueError, r"^alpha must be in \(0, 1\]; got 0.0"),
    ("lookahead", {"alpha": 1.5}, ValueError, r"^alpha must be in \(0, 1\]; got 1.5"),
    ("lookahead", {"lr": -1.0}, ValueError, r"^lr must be > 0; got -1.0"),
    ("lookahead", {"nonfinite": "ignore", "inner": create("sgd")}, ValueError,
     r"^inner nonfinite must be 'ignore' when the wrapper's is .*; got 'raise'"),
    ("average", {"mode": "polyak"}, ValueError, r"^mode must be one of 'ema', 'swa'; got 'polyak'"),
    ("average", {"decay": 1.0}, ValueError, r"^decay must be in \[0, 1\); got 1.0"),
    ("average", {"mode": "swa", "decay": 0.9}, ValueError,
     r"^decay must be None unless mode='ema'; got 0.9"),
    ("average", {"mode": "swa", "debias": True}, ValueError,
     r"^debias must be False unless mode='ema'; got True"),
    ("average", {"debias": 1}, TypeError, r"^debias must be True or False; got 1 \(int\)"),
    ("average", {"start": 0}, ValueError, r"^start must be an integer >= 1; got 0"),
    ("average", {"every": 0}, ValueError, r"^every must be an integer >= 1; got 0"),
    ("accumulate", {"every": 0}, ValueError, r"^every must be an integer >= 1; got 0"),
    ("accumulate", {"every": "4"}, TypeError, r"^every must be an integer; got '4' \(str\)"),
    ("accumulate", {"use_grad_mean": "yes"}, TypeError, r"^use_grad_mean must be True or False"),
    ("groups", {"groups": {"keys": "b*"}}, TypeError, r"^groups must be a list of dicts"),
    ("groups", {"groups": ["b*"]}, TypeError, r"^groups\[0\] must be a dict"),
    ("groups", {"groups": [{"lr": 0.1}]}, ValueError,
     r"^groups\[0\] must be a dict with the key 'keys'"),
    ("groups", {"groups": [{"keys": ""}]}, ValueError,
     r"^groups\[0\]\['keys'\] must be an fnmatch pattern .*empty"),
    ("groups", {"groups": [{"keys": []}]}, ValueError,
     r"^groups\[0\]\['keys'\] must be an fnmatch pattern"),
    ("groups", {"groups": [{"keys": 3}]}, TypeError,
     r"^groups\[0\]\['keys'\] must be an fnmatch pattern"),
    ("groups", {"groups": [{"keys": ["b", 1]}]}, TypeError, r"^groups\[0\]\['keys'\] must be"),
    ("groups", {"groups": [{"keys": "W[1"}]}, ValueError,
     r"^groups\[0\]\['keys'\] must be .*'\[' closed"),
    ("groups", {"groups": [{"keys": "b", "weight_decay": -1.0}]}, ValueError,
     r"^groups\[0\]: weight_decay must be >= 0; got -1.0"),
    ("groups", {"groups": [{"keys": "b", "betaa": 0.9}]}, TypeError,
     r"^groups\[0\]: SGD got an unknown keyword argument 'betaa'"),
    ("groups", {"groups": [{"keys": "b", "optimizer": "adamm"}]}, ValueError,
     r"^groups\[0\]\['optimizer'\] must be one of"),
    ("groups", {"groups": [{"keys": "b", "preset": "torch"}]}, ValueError,
     r"^groups\[0\]\['preset'\] must be given with another 'optimizer' only"),
    ("groups", {"weight_decay": -0.5}, ValueError, r"^weight_decay must be >= 0; got -0.5"),
    ("groups", {"inner": "adadelta", "weight_decay": 0.1, "lr": "x"}, TypeError,
     r"^lr must be a positive real number or a Schedule; got 'x'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), BAD,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(BAD)])  # fmt: skip
def test_bad_arguments_are_named(name, kwargs, error, message):
    with pytest.raises(error, match=message):
        create(name, **kwargs)


def test_a_group_that_gets_no_key_is_named_at_the_first_update_and_nothing_changes():
    params = _random_params(np.float64)
    before = copy.deepcopy(params)
    opt = create("groups", groups=[{"keys": "b*"}, {"keys": ["W9", "X*"], "lr": 0.1}])
    with pytest.raises(ValueError, match=r"^groups\[1\] \(keys \['W9', 'X\*'\]\) must match a "
                                         r"parameter key; got none of W1, b1, W2, b2"):  # fmt: skip
        opt.update(params, next(_stream(np.float64, 1)))
    assert opt.state is None
    assert opt.t == 0
    for k, v in before.items():
        np.testing.assert_array_equal(params[k], v)
    shadowed = create("groups", groups=[{"keys": "*1"}, {"keys": "b1"}])
    with pytest.raises(ValueError, match=r"^groups\[1\] \(keys 'b1'\) must get a parameter; got "
                                         r"none: b1 went to earlier groups"):  # fmt: skip
        shadowed.update(params, next(_stream(np.float64, 1)))


def test_first_matching_group_wins_and_patterns_are_case_sensitive():
    opt = create("groups", groups=[{"keys": ["b*", "W2"], "lr": 0.1}, {"keys": "w*", "lr": 0.2},
                                   {"keys": "*", "lr": 0.3}])  # fmt: skip
    assert opt.assign(["W1", "b1", "W2", "b2", "w"]) == [[], ["b1", "W2", "b2"], ["w"], ["W1"]]


def test_unknown_keyword_names_itself_and_lr_comes_first():
    with pytest.raises(TypeError, match=r"unknown keyword argument 'sync_period' \(= 5\); "
                                        r"expected one of: lr, inner, k, alpha, "):  # fmt: skip
        create("lookahead", sync_period=5)


# ---------------------------------------------------------------- state and files


@pytest.mark.parametrize("config", CONFIGS)
def test_state_dict_round_trip_continues_bit_identically(config, tmp_path):
    name, hp = CONFIGS[config]
    straight = _train(create(name, **hp), _random_params(np.float64), 23)
    first = create(name, **hp)
    params = _train(first, _random_params(np.float64), 10)
    later = list(_stream(np.float64, 23))[10:]
    twin_params = copy.deepcopy(params)

    resumed = create(name, **hp)
    resumed.load_state_dict(first.state_dict())
    rebuilt = load(first.save(tmp_path / "w.npz"))  # from the file alone
    assert type(rebuilt) is type(first)
    assert rebuilt.hyperparameters() == first.hyperparameters()
    assert pickle.dumps(rebuilt.state_dict()) == pickle.dumps(first.state_dict())
    for g in later:
        resumed.update(params, g)
        rebuilt.update(twin_params, copy.deepcopy(g))
    for key in SHAPES:
        np.testing.assert_array_equal(params[key], straight[key])
        np.testing.assert_array_equal(twin_params[key], straight[key])


def test_the_state_dict_nests_the_inner_optimizers():
    name, hp = CONFIGS["groups"]
    opt = create(name, **hp)
    _train(opt, _random_params(np.float64), 3)
    sd = opt.state_dict()
    assert sd["optimizer"] == "groups"
    assert [inner["optimizer"] for inner in sd["inners"]] == ["adamw", "adamw", "momentum"]
    assert sorted(sd["inners"][1]["state"]) == ["b1", "b2"]
    name, hp = CONFIGS["nested"]
    la = create(name, **hp)
    _train(la, _random_params(np.float64), 3)
    sd = la.state_dict()
    assert sd["inner"]["optimizer"] == "accumulate"
    assert sd["inner"]["inner"]["optimizer"] == "adam"
    assert sd["inner"]["inner"]["t"] == 1
    assert sorted(sd["state"]["W1"]) == ["slow"]


def _fingerprint(opt) -> bytes:
    return pickle.dumps((opt.state_dict(), repr(opt)))


def _set(*path, value):
    def tamper(sd):
        node = sd
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return tamper


TAMPERED = [
    ("missing inner", lambda sd: sd.pop("inner"), ValueError,
     r"state_dict must be a dict with the key 'inner'"),
    ("inner t", _set("inner", "t", value=-1),
     ValueError, r"state_dict\['inner'\]: state_dict\['t'\] must be an integer >= 0"),
    ("inner optimizer", _set("inner", "optimizer", value="sgd"), ValueError,
     r"state_dict\['inner'\]: state_dict\['optimizer'\] must be 'adam'"),
    ("inner array", _set("inner", "state", "W1", "exp_avg_sq", value=-np.ones((4, 3))), ValueError,
     r"state_dict\['inner'\]: .*\['exp_avg_sq'\] must be >= 0"),
    ("inner keys", lambda sd: sd["inner"]["state"].pop("b2"), ValueError,
     r"state_dict\['inner'\]\['state'\] keys must be the wrapper's keys"),
    ("own slow", _set("state", "W1", "slow", value=np.full((4, 3), np.nan)), ValueError,
     r"state_dict\['state'\]\['W1'\]\['slow'\] must be finite"),
    ("own hyperparameter", _set("hyperparameters", "k", value=4), ValueError,
     r"differ in k \(saved 4, here 3\)"),
    ("inner hyperparameter", _set("hyperparameters", "inner", "beta1", value=0.5), ValueError,
     r"differ in inner"),
]  # fmt: skip


@pytest.mark.parametrize(("tamper", "error", "message"), [r[1:] for r in TAMPERED],
                         ids=[r[0] for r in TAMPERED])  # fmt: skip
def test_a_bad_state_dict_changes_nothing(tamper, error, message):
    opt = create("lookahead", inner={"optimizer": "adam", "lr": 0.01}, k=3)
    _train(opt, _random_params(np.float64), 4)
    before, inner_state = _fingerprint(opt), opt.inner_optimizer.state
    bad = opt.state_dict()
    tamper(bad)
    with pytest.raises(error, match=message):
        opt.load_state_dict(bad)
    assert _fingerprint(opt) == before
    assert opt.inner_optimizer.state is inner_state


def _with(inner_sd, moved):
    out = copy.deepcopy(inner_sd)
    out["state"]["b1"] = moved
    return out


def test_groups_state_with_keys_of_another_group_is_refused():
    name, hp = CONFIGS["groups"]
    opt = create(name, **hp)
    _train(opt, _random_params(np.float64), 2)
    before = _fingerprint(opt)
    bad = opt.state_dict()
    assert bad["inners"][0]["state"] is None  # every key is in a group: the base has none
    moved = bad["inners"][1]["state"].pop("b1")
    with pytest.raises(ValueError, match=r"state_dict\['inners'\]\[2\]: .*\['b1'\] must be a "
                                         r"dict of arrays named \['velocity'\]"):  # fmt: skip
        opt.load_state_dict(bad | {"inners": [*bad["inners"][:2], _with(bad["inners"][2], moved)]})
    message = r"state_dict\['inners'\]\[1\]\['state'\] keys must be its group's keys \['b1', "
    with pytest.raises(ValueError, match=message + r"'b2'\]; got \['b2'\]"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["inners"] = bad["inners"][:2]
    with pytest.raises(ValueError, match=r"state_dict\['inners'\] must be a list of 3 state dicts"):
        opt.load_state_dict(bad)
    assert _fingerprint(opt) == before


def test_hyperparameters_are_plain_data_and_remake_the_wrapper():
    opt = create("groups", inner={"optimizer": "adamw", "beta1": np.float32(0.5)},
                 lr=schedules.ExponentialDecay(0.1, 0.9, per="step"), weight_decay=np.float64(0.1),
                 groups=[{"keys": np.str_("b*"), "lr": schedules.Constant(0.05)}])  # fmt: skip
    hp = opt.hyperparameters()
    text = json.dumps(hp)  # plain data
    assert "np." not in repr(opt)
    assert hp["lr"] == {"schedule": {"name": "exponential", "lr0": 0.1, "decay_rate": 0.9,
                                     "per": "step", "staircase": False, "decay_steps": 1}} or \
        hp["lr"]["schedule"]["name"] == "exponential"  # fmt: skip
    assert hp["inner"]["optimizer"] == "adamw"
    assert "fused" not in hp["inner"]
    assert hp["groups"] == [{"keys": "b*", "lr": {"schedule": {"name": "constant", "lr": 0.05}}}]
    again = create(
        "groups", **json.loads(text) | {"lr": schedules.from_config(hp["lr"]["schedule"])}
    )
    assert again.hyperparameters() == hp


# ---------------------------------------------------------------- lr and schedules


def test_the_wrapper_lr_is_the_inner_lr():
    opt = create("lookahead", inner={"optimizer": "adam", "lr": 0.3})
    assert opt.lr == 0.3
    opt.set_lr(0.02)
    assert opt.inner_optimizer.lr == 0.02
    assert opt.hyperparameters()["lr"] == opt.hyperparameters()["inner"]["lr"] == 0.02
    assert (
        create("lookahead", inner={"optimizer": "adam", "lr": 0.3}, lr=0.1).inner_optimizer.lr
        == 0.1
    )
    sched = schedules.ExponentialDecay(0.1, 0.5, per="step")
    opt = create("accumulate", inner="sgd", lr=sched, every=2)
    assert opt.schedule is opt.inner_optimizer.schedule is sched
    params = {"x": np.array(1.0)}
    rates = []
    for _ in range(6):
        opt.update(params, {"x": np.array(1.0)})
        rates.append(opt.current_lr)
    # the inner optimizer's step count drives the schedule: 0.1, 0.05, 0.025 per window
    assert rates == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert params["x"] == pytest.approx(1.0 - 0.1 - 0.05 - 0.025)


def test_groups_set_lr_reaches_the_groups_without_their_own():
    opt = create("groups", inner="sgd", lr=0.1,
                 groups=[{"keys": "b", "weight_decay": 0.1}, {"keys": "w", "lr": 0.3}])  # fmt: skip
    opt.set_lr(0.01)
    assert [o.lr for o in (opt.inner_optimizer, *opt.group_optimizers)] == [0.01, 0.01, 0.3]
    plateau = schedules.ReduceOnPlateau(0.1, patience=0)
    opt.set_lr(plateau)
    assert opt.group_optimizers[0].schedule is plateau  # one schedule, shared
    plateau.report(1.0)
    plateau.report(2.0)
    assert opt.group_optimizers[0].schedule(0) == pytest.approx(0.01)


def test_groups_of_another_optimizer_take_the_base_rate_and_its_schedule():
    # A group that names another optimizer and sets no lr follows the base rate,
    # its set_lr and its schedule, as every torch param group follows the
    # optimizer's lr and scheduler. Reference numbers: torch 2.13, float64, g = p.
    def run(opt, steps):
        p = {"a": np.array([1.0, -2.0]), "b": np.array([0.5])}
        for _ in range(steps):
            opt.update(p, {k: v.copy() for k, v in p.items()})
        return p

    # torch SGD([{a}, {b, momentum=0.9}], lr=0.1) + StepLR(step_size=1, gamma=0.5)
    opt = create("groups", inner="sgd", lr=0.1,
                 groups=[{"keys": "b", "optimizer": "momentum", "momentum": 0.9}])  # fmt: skip
    assert opt.group_optimizers[0].lr == 0.1  # not Momentum's default
    opt.set_lr(schedules.StepDecay(0.1, every=1, per="step"))
    p = run(opt, 4)
    np.testing.assert_allclose(p["a"], [0.8232046875, -1.646409375], rtol=1e-13)
    np.testing.assert_allclose(p["b"], [0.3562734375], rtol=1e-13)
    assert opt.group_optimizers[0].current_lr == opt.inner_optimizer.current_lr == 0.0125

    # The wrapper's lr, a schedule: torch SGD([a], lr=0.1) and Adam([b], lr=0.1), each
    # with ExponentialLR(gamma=0.5)
    opt = create("groups", inner="sgd", lr=schedules.ExponentialDecay(0.1, 0.5, per="step"),
                 groups=[{"keys": "b", "optimizer": "adam"}])  # fmt: skip
    assert opt.group_optimizers[0].schedule is opt.inner_optimizer.schedule  # one, shared
    p = run(opt, 3)
    np.testing.assert_allclose(p["a"], [0.833625, -1.66725], rtol=1e-13)
    np.testing.assert_allclose(p["b"], [0.3261729152541312], rtol=1e-12)

    # A group with its own lr keeps it, whatever its optimizer.
    opt = create("groups", inner="sgd", lr=0.1,
                 groups=[{"keys": "b", "optimizer": "adam", "lr": 0.3}])  # fmt: skip
    opt.set_lr(0.01)
    assert [o.lr for o in (opt.inner_optimizer, *opt.group_optimizers)] == [0.01, 0.3]


def test_fit_schedules_and_evaluates_through_the_wrappers():
    from gdlab.problems import FunctionProblem
    from gdlab.train import fit

    for name, hp in [
        ("lookahead", {"inner": {"optimizer": "adam", "lr": 0.3}, "k": 3}),
        ("average", {"inner": {"optimizer": "momentum", "lr": 0.05}, "mode": "swa", "start": 10}),
        ("accumulate", {"inner": "sgd", "every": 2}),
    ]:
        opt = create(name, **hp)
        history = fit(FunctionProblem("bowl"), opt, steps=40, schedule=0.1,
                      rng=np.random.default_rng(0), progress=False)  # fmt: skip
        assert opt.inner_optimizer.lr == 0.1
        assert history.lr[-1] == 0.1
        assert np.isfinite(history.loss[-1])
        evaluated = opt.eval_params(history.params)
        if name == "accumulate":  # nothing of its own to evaluate (SGD has none either)
            assert evaluated is history.params
            continue
        assert set(evaluated) == set(history.params)
        assert all(not a.flags.writeable for a in evaluated.values())


# ------------------------------------------------------------------ closures


def test_closures_reach_the_inner_optimizer():
    calls = []

    @register("closure_probe", lr_range=(1e-3, 1.0))
    class Probe(Optimizer):
        """A rule that asks for the loss again: p ← p − lr·(gradient at p + g)."""

        name = "closure_probe"
        needs_closure = True

        def __init__(self, lr=0.1, **options):
            super().__init__(lr, **options)

        def _step(self, params, grads, lr):
            _, again = self._closure({k: p + 0.0 for k, p in self._plan_params().items()})
            for key, p in params.items():
                p -= lr * again[key].reshape(-1)

        def _plan_params(self):
            return dict(zip(self._plan.keys, self._plan.params, strict=True))

    try:

        def closure(params):
            calls.append(sorted(params))
            return 0.0, {k: np.ones_like(v) for k, v in params.items()}

        for name, hp in [("lookahead", {}), ("accumulate", {"every": 2}), ("average", {}),
                         ("groups", {"groups": [{"keys": "b", "lr": 0.2}]})]:  # fmt: skip
            opt = create(name, inner="closure_probe", **hp)
            assert opt.needs_closure
            params = {"w": np.zeros(2), "b": np.zeros(())}
            with pytest.raises(TypeError, match="pass update\\(params, grads, closure=f\\)"):
                opt.update(params, {"w": np.ones(2), "b": np.ones(())})
            calls.clear()
            for _ in range(2):
                opt.update(params, {"w": np.ones(2), "b": np.ones(())}, closure=closure)
            # a group's optimizer gets its own keys, the others filled in for the closure
            assert calls, name
            assert all(c == ["b", "w"] for c in calls), (name, calls)
            assert params["w"][0] < 0
        assert not create("lookahead").needs_closure
    finally:
        unregister("closure_probe")


# ------------------------------------------------------------------ nonfinite


def test_accumulate_skips_a_nonfinite_mini_step_as_optax_skip_not_finite():
    opt = create("accumulate", inner={"optimizer": "sgd", "lr": 0.1}, every=2, nonfinite="skip")
    params = _params()
    opt.update(params, _grads(0))
    bad = _grads(1)
    bad["b"][()] = np.nan
    opt.update(params, bad)  # as if it never happened
    assert (opt.t, opt.skipped_steps, opt.inner_optimizer.t) == (1, 1, 0)
    opt.update(params, _grads(1))
    want = [p - 0.1 * (a + b) / 2 for p, a, b in
            zip(_flat(_params()), _elements(0), _elements(1), strict=True)]  # fmt: skip
    np.testing.assert_allclose(_flat(params), want, rtol=1e-15)


@pytest.mark.parametrize("name", WRAPPERS)
def test_a_nonfinite_gradient_raises_before_anything_changes(name):
    opt = create(name, inner="adam")
    params = _params()
    opt.update(params, _grads(0))
    before, snapshot = _fingerprint(opt), _flat(params)
    bad = _grads(1)
    bad["w"][1] = np.inf
    with pytest.raises(NonFiniteGradientError, match=r"grads\['w'\] contains NaN or inf at step 2"):
        opt.update(params, bad)
    assert _fingerprint(opt) == before
    assert _flat(params) == snapshot


# ------------------------------------------------------- inner given as an object


def test_an_inner_optimizer_object_is_a_template_sharing_nothing():
    adam = create("adam", lr=0.01, beta1=0.8)
    adam.update(_params(), _grads(0))  # its state is not taken
    opt = create("lookahead", inner=adam, k=2)
    assert opt.inner_optimizer is not adam
    assert opt.inner_optimizer.state is None
    assert opt.inner["beta1"] == 0.8
    params = _params()
    opt.update(params, _grads(1))
    assert adam.t == 1


# ---------------------------------------------------------------- no allocation


@pytest.mark.parametrize("config", ["lookahead-clip", "ema", "swa", "accumulate", "groups"])
def test_steady_state_updates_allocate_nothing(config):
    name, hp = CONFIGS[config]
    opt = create(name, **hp)
    rng = np.random.default_rng(0)
    sizes = {"W1": 400_000, "b1": 1000, "W2": 300_000, "b2": 1}
    params = {k: rng.standard_normal(n, dtype=np.float32) for k, n in sizes.items()}
    grads = {k: rng.standard_normal(n, dtype=np.float32) for k, n in sizes.items()}
    for _ in range(3):  # warm-up: state, buffers, one whole window and a sync
        opt.update(params, grads)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(6):
            opt.update(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"{config}: a {peak:,} B peak"


# --------------------------------------------------------------- experiments


def test_an_experiment_run_can_name_a_wrapper_with_a_nested_inner_table():
    from gdlab.experiments.model import Experiment

    text = """
name = "wrapped"
[problem]
kind = "function"
function = "bowl"
[training]
steps = 30
[[runs]]
optimizer = "lookahead"
inner = {optimizer = "adam", lr = 0.001}
k = 3
[[runs]]
optimizer = "groups"
label = "groups"
inner = "adamw"
weight_decay = 0.01
groups = [{keys = "y", weight_decay = 0.0}]
"""
    exp = Experiment.from_toml(text)
    lookahead = exp.runs[0].make_optimizer()
    assert isinstance(lookahead, Lookahead)
    assert lookahead.inner_optimizer.name == "adam"
    assert lookahead.lr == 0.001
    assert exp.with_lr("lookahead", 0.01).runs[0].make_optimizer().inner_optimizer.lr == 0.01
    groups = exp.runs[1].make_optimizer()
    assert isinstance(groups, Groups)
    assert groups.group_optimizers[0].weight_decay == 0.0
    assert Experiment.from_toml(exp.to_toml()) == exp


def test_classes_are_exported_and_registered():
    for cls in (Lookahead, Average, Accumulate, Groups):
        assert OPTIMIZERS[cls.name] is cls
        default = cls()
        assert default.inner_optimizer.name == "sgd"
        assert default.lr == 1e-3


def test_fit_runs_parameter_groups_that_name_the_problems_keys():
    """fit's kernel warm-up steps a twin on the run's own keys, so a group naming
    ``y`` (no ``w`` stand-in) trains; its lr reaches only ``y``."""
    from gdlab.problems import FunctionProblem
    from gdlab.train import fit

    opt = create("groups", inner="sgd", lr=0.1, groups=[{"keys": "y", "lr": 0.0001}])
    history = fit(
        FunctionProblem("bowl"), opt, steps=5, rng=np.random.default_rng(0), progress=False
    )
    assert history.status == "ok"
    (x0, y0), (x1, y1) = history.path[0], history.path[-1]
    assert abs(x1 - x0) / abs(x0) > 10 * abs(y1 - y0) / abs(y0)  # y barely moves
