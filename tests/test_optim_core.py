"""Optimizers: fused == reference, errors, save/load, convergence, registry, presets."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest

from gdlab import schedules
from gdlab.functions2d import FUNCTIONS
from gdlab.optim import (
    OPTIMIZERS,
    PRESETS,
    SGD,
    Adam,
    AdamW,
    Momentum,
    Optimizer,
    RMSprop,
    create,
    load,
)

# Every form and option combination that takes its own path through a kernel.
CONFIGS: dict[str, tuple[str, dict]] = {
    "sgd": ("sgd", {"lr": 0.05}),
    "sgd-wd": ("sgd", {"lr": 0.05, "weight_decay": 0.1}),
    "momentum-torch": ("momentum", {"lr": 0.05, "dampening": 0.2, "weight_decay": 0.01}),
    "momentum-book": ("momentum", {"lr": 0.05, "form": "book"}),
    "momentum-ema": ("momentum", {"lr": 0.05, "form": "ema", "weight_decay": 0.01}),
    "nesterov-torch": ("nesterov", {"lr": 0.05, "weight_decay": 0.01}),
    "nesterov-book": ("nesterov", {"lr": 0.05, "form": "book"}),
    "nesterov-keras": ("nesterov", {"lr": 0.05, "form": "keras"}),
    "adagrad": ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    "adagrad-inside": ("adagrad", {"lr": 0.1, "eps": 1e-7, "eps_inside": True}),
    "rmsprop": ("rmsprop", {"lr": 0.01}),
    "rmsprop-inside": ("rmsprop", {"lr": 0.01, "eps_inside": True, "weight_decay": 0.1}),
    "rmsprop-centered-mom": ("rmsprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
    "adadelta": ("adadelta", {"lr": 1.0, "weight_decay": 0.01}),
    "adam": ("adam", {"lr": 0.01}),
    "adam-lr_t": ("adam", {"lr": 0.01, "form": "lr_t", "eps": 1e-7}),
    "adam-nobc-inside": ("adam", {"lr": 0.01, "bias_correction": False, "eps_inside": True}),
    "adam-amsgrad-wd": ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    "adamw": ("adamw", {"lr": 0.01}),
    "adamax": ("adamax", {"lr": 0.01}),
    "adamax-keras": ("adamax", {"lr": 0.01, "eps_inside": False}),
    "nadam": ("nadam", {"lr": 0.01, "weight_decay": 0.01}),
    "nadam-decoupled": (
        "nadam",
        {"lr": 0.01, "weight_decay": 0.01, "decoupled_weight_decay": True},
    ),
    "radam": ("radam", {"lr": 0.01, "beta2": 0.9}),
    "radam-decoupled": ("radam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    # the wrappers (gdlab.optim.wrappers)
    "lookahead": ("lookahead", {"inner": {"optimizer": "adam", "lr": 0.01}, "k": 3, "alpha": 0.6}),
    "lookahead-clip": ("lookahead", {"inner": "momentum", "lr": 0.05, "clip_norm": 1.0}),
    "average-ema-debias": ("average", {"inner": "adam", "lr": 0.01, "decay": 0.9, "debias": True}),
    "average-swa": ("average", {"inner": "momentum", "lr": 0.05, "mode": "swa", "start": 5}),
    "accumulate": ("accumulate", {"inner": {"optimizer": "adam", "lr": 0.01}, "every": 3}),
    "accumulate-sum": ("accumulate", {"inner": "sgd", "every": 2, "use_grad_mean": False}),
    "groups": (
        "groups",
        {
            "inner": "adamw",
            "lr": 0.01,
            "groups": [{"keys": "b*", "weight_decay": 0.0}, {"keys": "s", "optimizer": "momentum"}],
        },
    ),
    "signum": ("signum", {"lr": 0.01, "weight_decay": 0.01}),
    "signsgd": ("signum", {"lr": 0.01, "momentum": 0.0}),
    "lion": ("lion", {"lr": 0.01}),
    "adabelief-nesterov": ("adabelief", {"lr": 0.01, "nesterov": True}),
    "yogi": ("yogi", {"lr": 0.01, "eps_root": 1e-8}),
    "adopt": ("adopt", {"lr": 0.01}),
    "adopt-noclip-nesterov": ("adopt", {"lr": 0.01, "use_clipping": False, "nesterov": True}),
    "ademamix-warmup": ("ademamix", {"lr": 0.01, "alpha_warmup": 20, "beta3_warmup": 30}),
    "adan": ("adan", {"lr": 0.01, "weight_decay": 0.1}),
    "adan-optax": ("adan", {"lr": 0.01, "weight_decay": 0.1, "form": "optax"}),
    "lars": ("lars", {"lr": 0.5, "nesterov": True, "weight_decay": 0.01, "trust_ratio_mask": "W"}),
    "lamb": ("lamb", {"lr": 0.01, "weight_decay": 0.1}),
    "lamb-keras": ("lamb", {"lr": 0.01, "weight_decay": 0.1, "form": "keras"}),
    "novograd": ("novograd", {"lr": 0.01, "weight_decay": 0.01}),
    "muon": ("muon", {"lr": 0.02, "adjust_lr_fn": "match_rms_adamw"}),
    "rprop": ("rprop", {"lr": 0.05, "etaminus": 0.3, "step_size_max": 0.2}),
    "asgd": ("asgd", {"lr": 0.05, "t0": 10.0, "weight_decay": 0.01}),
    "ftrl": (
        "ftrl",
        {"lr": 0.1, "learning_rate_power": -0.3, "l1_regularization_strength": 0.01},
    ),
    "adafactor": ("adafactor", {"weight_decay": 0.01}),
    "adafactor-keras": ("adafactor", {"form": "keras", "eps1": 1e-30}),
    "sm3": ("sm3", {"lr": 0.1}),
    "sm3-no-momentum": ("sm3", {"lr": 0.1, "momentum": 0.0}),
    "lbfgs": ("lbfgs", {"max_iter": 4, "history_size": 3}),
    "lbfgs-wolfe": ("lbfgs", {"max_iter": 4, "history_size": 3, "line_search_fn": "strong_wolfe"}),
    "sam": ("sam", {"lr": 0.05, "rho": 0.1}),
    "sam-adam-asam": (
        "sam",
        {"lr": 0.01, "base": {"optimizer": "adam", "beta1": 0.8}, "adaptive": True},
    ),
    "schedule_free_sgd": ("schedule_free_sgd", {"lr": 0.1, "weight_decay": 0.01}),
    "schedule_free_sgd-warmup": (
        "schedule_free_sgd",
        {"lr": 0.1, "beta1": 0.8, "warmup_steps": 5},
    ),
    "schedule_free_adamw": (
        "schedule_free_adamw",
        {"lr": 0.01, "warmup_steps": 3, "weight_decay": 0.1},
    ),
    "prodigy": ("prodigy", {"weight_decay": 0.01}),
    "prodigy-safeguard": ("prodigy", {"safeguard_warmup": True, "growth_rate": 2.0, "beta3": 0.9}),
    "dadapt_adamw": (
        "dadapt_adamw",
        {"weight_decay": 0.01, "d_coef": 0.5, "bias_correction": False},
    ),
}

SHAPES = {"W1": (7, 5), "b1": (5,), "s": ()}


def test_configs_cover_every_optimizer():
    assert {name for name, _ in CONFIGS.values()} == set(OPTIMIZERS)


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def _grad_stream(dtype, steps, seed=1):
    rng = np.random.default_rng(seed)
    for t in range(steps):
        scale = 1 + 0.5 * math.sin(t / 7)
        yield {k: (scale * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}


def _model(params, grads):
    """For the rules that evaluate again (``needs_closure``: L-BFGS, SAM), the closure of
    f(q) = Σ g·(q − p) + ½‖q − p‖² around these ``params``: its gradient there is ``grads``."""
    p = {k: np.array(v) for k, v in params.items()}
    g = {k: np.array(v) for k, v in grads.items()}

    def closure(q):
        d = {k: q[k] - p[k] for k in p}
        loss = sum(float(np.vdot(g[k], d[k]) + 0.5 * np.vdot(d[k], d[k])) for k in p)
        return loss, {k: g[k] + d[k] for k in p}

    return closure


def _update(opt: Optimizer, params, grads):
    if opt.needs_closure:
        opt.update(params, grads, closure=_model(params, grads))
    else:
        opt.update(params, grads)


def _unreachable(params):
    raise AssertionError("the closure must not be called before the checks pass")


def _run(opt: Optimizer, params, steps, seed=1):
    for grads in _grad_stream(next(iter(params.values())).dtype, steps, seed):
        _update(opt, params, grads)
    return params


# ----------------------------------------------------------- fused == reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS)
def test_fused_kernels_bit_identical_to_reference(config, dtype):
    name, hp = CONFIGS[config]
    fast = _run(create(name, **hp), _params(dtype), 60)
    slow = _run(create(name, fused=False, **hp), _params(dtype), 60)
    for key in SHAPES:
        assert fast[key].dtype == dtype
        np.testing.assert_array_equal(fast[key], slow[key], err_msg=f"{config} {key}")


def test_float32_stays_float32_and_changes_params_in_place():
    params = _params(np.float32)
    ids = {k: id(v) for k, v in params.items()}
    before = copy.deepcopy(params)
    opt = Adam(lr=0.1)
    assert opt.update(params, next(_grad_stream(np.float32, 1))) is None
    assert {k: id(v) for k, v in params.items()} == ids
    for k in SHAPES:
        assert params[k].dtype == np.float32
        assert not np.array_equal(params[k], before[k])
        assert opt.state[k]["exp_avg"].dtype == np.float32


# ----------------------------------------------------------------- save / load


@pytest.mark.parametrize("config", CONFIGS)
def test_resume_is_bit_identical(config, tmp_path):
    name, hp = CONFIGS[config]
    n, m = 17, 23
    straight = _run(create(name, **hp), _params(np.float64), n + m)

    first = create(name, **hp)
    params = _run(first, _params(np.float64), n)
    path = first.save(tmp_path / "opt.npz")
    grads = list(_grad_stream(np.float64, n + m))[n:]

    fresh = create(name, **hp)
    fresh.load(path)
    for g in grads:
        _update(fresh, params, g)
    for key in SHAPES:
        np.testing.assert_array_equal(params[key], straight[key])

    # gdlab.optim.load rebuilds the optimizer from the file alone.
    rebuilt = load(path)
    assert type(rebuilt) is type(first)
    assert rebuilt.t == n


def test_state_dict_round_trip_with_schedule_and_plateau():
    sched = schedules.ReduceOnPlateau(0.1, patience=0)
    opt = Adam(lr=sched)
    params = _run(opt, _params(np.float64), 5)
    sched.report(1.0)
    sched.report(2.0)  # worse: lr drops to 0.01
    sd = opt.state_dict()

    other = Adam(lr=schedules.ReduceOnPlateau(0.1, patience=0))
    other.load_state_dict(sd)
    assert other._schedule(0) == pytest.approx(0.01)
    assert other.t == 5
    for key in SHAPES:
        np.testing.assert_array_equal(other.state[key]["exp_avg"], opt.state[key]["exp_avg"])
    # The state dict is a copy: changing the optimizer later does not change it.
    _run(opt, params, 1)
    assert not np.array_equal(sd["state"]["W1"]["exp_avg"], opt.state["W1"]["exp_avg"])


def test_load_refuses_other_hyperparameters_and_optimizers(tmp_path):
    opt = Adam(lr=0.1)
    _run(opt, _params(np.float64), 2)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match=r"differ in lr \(saved 0.1, here 0.2\)"):
        Adam(lr=0.2).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"state_dict\['optimizer'\] must be 'adamw'; got 'adam'"):
        AdamW(lr=0.1).load_state_dict(sd)
    Adam(lr=0.1, fused=False).load_state_dict(sd)  # an execution option, not maths


def test_load_bad_files_name_the_file(tmp_path):
    missing = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        load(missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"junk\.npz is not a gdlab optimizer file: "):
        Adam().load(junk)


def test_save_is_atomic_and_leaves_no_temporary(tmp_path):
    opt = SGD(lr=0.1)
    _run(opt, _params(np.float64), 1)
    opt.save(tmp_path / "a.npz")
    opt.save(tmp_path / "a.npz")  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


# ----------------------------------------------------------------- convergence


def _minimise(opt, fn_name, start, steps):
    fn = FUNCTIONS[fn_name]
    p = {"x": np.array(float(start[0])), "y": np.array(float(start[1]))}

    def closure(q):  # the function itself, for L-BFGS and SAM
        gx, gy = fn.grad(q["x"], q["y"])
        grads = {"x": np.asarray(gx, dtype=float), "y": np.asarray(gy, dtype=float)}
        return float(fn.f(q["x"], q["y"])), grads

    for _ in range(steps):
        gx, gy = fn.grad(p["x"], p["y"])
        opt.update(p, {"x": np.asarray(gx, dtype=float), "y": np.asarray(gy, dtype=float)},
                   closure=closure)  # fmt: skip
    return float(p["x"]), float(p["y"]), float(fn.f(p["x"], p["y"]))


# (optimizer, hyperparameters, steps) that reach the bowl's minimum from (−7, 2).
BOWL = [
    ("sgd", {"lr": 0.9}, 400),
    ("momentum", {"lr": 0.1}, 400),
    ("momentum", {"lr": 0.1, "form": "book"}, 400),
    ("momentum", {"lr": 0.5, "form": "ema"}, 600),
    ("nesterov", {"lr": 0.1}, 400),
    ("nesterov", {"lr": 0.1, "form": "book"}, 400),
    ("nesterov", {"lr": 0.1, "form": "keras"}, 400),
    ("adagrad", {"lr": 1.5}, 2000),
    ("rmsprop", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.99, per="step")}, 2000),
    ("rmsprop", {"lr": 0.01, "centered": True, "momentum": 0.9}, 2000),
    ("adadelta", {"lr": 1.0, "rho": 0.95}, 3000),
    ("adam", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("adamw", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("adamax", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("nadam", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("radam", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.998, per="step")}, 3000),
    ("lookahead", {"inner": "sgd", "lr": 0.9}, 600),
    ("average", {"inner": "sgd", "lr": 0.9, "mode": "swa"}, 400),
    ("accumulate", {"inner": "sgd", "lr": 0.9, "every": 2}, 800),
    ("groups", {"inner": "sgd", "lr": 0.9, "groups": [{"keys": "y", "lr": 0.3}]}, 400),
    ("signum", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("lion", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("adabelief", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("yogi", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("adopt", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    (
        "ademamix",
        {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step"), "beta3": 0.999},
        3000,
    ),
    ("adan", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("lars", {"lr": 10.0, "trust_coefficient": 0.01}, 1000),
    ("lamb", {"lr": 0.05}, 2000),
    ("novograd", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.99, per="step")}, 2000),
    ("muon", {"lr": lambda: schedules.ExponentialDecay(0.3, 0.995, per="step")}, 3000),
    ("rprop", {"lr": 0.1}, 400),
    ("asgd", {"lr": 0.5}, 400),
    ("ftrl", {"lr": 1.0}, 400),
    ("adafactor", {"lr": 0.5}, 2000),
    ("adafactor", {"lr": 0.5, "form": "keras"}, 2000),
    ("sm3", {"lr": 1.0}, 400),
    ("lbfgs", {}, 5),
    ("lbfgs", {"line_search_fn": "strong_wolfe"}, 5),
    ("sam", {"lr": lambda: schedules.ExponentialDecay(0.9, 0.99, per="step")}, 1000),
    ("sam", {"lr": 0.1, "base": "momentum", "rho": 1e-3}, 400),
    ("schedule_free_sgd", {"lr": 0.9, "beta1": 0.5}, 1000),  # y, the point params hold
    ("schedule_free_adamw", {"lr": 0.1}, 3000),
    ("prodigy", {}, 3000),
    ("dadapt_adamw", {}, 3000),
]


def _build(name, hp):
    return create(name, **{k: v() if callable(v) else v for k, v in hp.items()})


@pytest.mark.parametrize(
    ("name", "hp", "steps"), BOWL, ids=[f"{n}-{i}" for i, (n, *_) in enumerate(BOWL)]
)
def test_reaches_minimum_of_quadratic(name, hp, steps):
    x, y, loss = _minimise(_build(name, hp), "bowl", (-7.0, 2.0), steps)
    assert loss < 1e-6, (x, y, loss)
    assert abs(x) < 1e-2
    assert abs(y) < 1e-2


def test_convergence_table_covers_every_optimizer():
    assert {name for name, *_ in BOWL} == set(OPTIMIZERS)


ROSENBROCK = {
    "sgd": {"lr": 1e-3},
    "momentum": {"lr": 1e-4},
    "nesterov": {"lr": 1e-4},
    "adagrad": {"lr": 0.1},
    "rmsprop": {"lr": 1e-3},
    "adadelta": {"lr": 1.0},
    "adam": {"lr": 1e-2},
    "adamw": {"lr": 1e-2, "weight_decay": 0.0},
    "adamax": {"lr": 1e-2},
    "nadam": {"lr": 1e-2},
    "radam": {"lr": 1e-2},
    "lookahead": {"inner": {"optimizer": "adam", "lr": 1e-2}},
    "average": {"inner": {"optimizer": "adam", "lr": 1e-2}},
    "accumulate": {"inner": {"optimizer": "adam", "lr": 1e-2}, "every": 2},
    "groups": {"inner": "adam", "lr": 1e-2, "groups": [{"keys": "y", "lr": 5e-3}]},
    "signum": {"lr": 1e-3},
    "lion": {"lr": 1e-3},
    "adabelief": {"lr": 1e-2},
    "yogi": {"lr": 1e-2},
    "adopt": {"lr": 1e-2},
    "ademamix": {"lr": 1e-2},
    "adan": {"lr": 1e-2},
    "lars": {"lr": 10.0},
    "lamb": {"lr": 1e-2},
    "novograd": {"lr": 1e-3},
    "muon": {"lr": 1e-2},
    "rprop": {"lr": 1e-2},
    "asgd": {"lr": 1e-3},
    "ftrl": {"lr": 0.1},
    "adafactor": {"lr": 0.1},
    "sm3": {"lr": 0.1},
    "lbfgs": {},
    "sam": {"lr": 1e-3},
    "schedule_free_sgd": {"lr": 1e-3},
    "schedule_free_adamw": {"lr": 1e-2},
    "prodigy": {},
    "dadapt_adamw": {},
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_makes_progress_on_rosenbrock(name):
    fn = FUNCTIONS["rosenbrock"]
    start = fn.start
    f0 = float(fn.f(*start))
    _, _, loss = _minimise(create(name, **ROSENBROCK[name]), "rosenbrock", start, 2000)
    assert math.isfinite(loss)
    assert loss < 0.5 * f0, (loss, f0)


# ------------------------------------------------------------------ error table

LR_BAD = [
    (-1.0, ValueError, r"lr must be > 0; got -1.0"),
    (0.0, ValueError, r"lr must be > 0; got 0.0"),
    (float("nan"), ValueError, r"lr must be finite and > 0; got nan"),
    (float("inf"), ValueError, r"lr must be finite and > 0; got inf"),
    ("0.1", TypeError, r"lr must be a positive real number or a Schedule; got '0.1' \(str\)"),
    (True, TypeError, r"lr must be a positive real number or a Schedule; got True \(bool\)"),
    (None, TypeError, r"lr must be a positive real number or a Schedule; got None"),
]


_COUNT = [
    (0, ValueError, "must be an integer >= 1; got 0"),
    (2.5, TypeError, "must be an integer; got 2.5"),
]
_INNER = [
    ("nope", ValueError, r"^inner must be one of sgd, .*; got 'nope'"),
    (3, TypeError, r"^inner must be an optimizer name, a dict .*; got 3 \(int\)"),
]
# The wrappers' own arguments: (bad value, exception, message regex).
WRAPPER_ARGUMENTS = {
    **{(w, "inner"): _INNER for w in ("lookahead", "average", "accumulate", "groups")},
    ("lookahead", "k"): [(v, e, "^k " + m) for v, e, m in _COUNT],
    ("average", "start"): [(v, e, "^start " + m) for v, e, m in _COUNT],
    ("average", "every"): [(v, e, "^every " + m) for v, e, m in _COUNT],
    ("accumulate", "every"): [(v, e, "^every " + m) for v, e, m in _COUNT],
    ("average", "mode"): [("nope", ValueError, r"^mode must be one of 'ema', 'swa'; got 'nope'")],
    ("average", "decay"): [
        (1.0, ValueError, r"^decay must be in \[0, 1\); got 1.0"),
        (-0.1, ValueError, r"^decay must be in \[0, 1\); got -0.1"),
        ("0.1", TypeError, r"^decay must be a real number; got '0.1' \(str\)"),
    ],
    ("groups", "groups"): [
        ({"keys": "b*"}, TypeError, r"^groups must be a list of dicts"),
        ([{"keys": ""}], ValueError, r"^groups\[0\]\['keys'\] must be an fnmatch pattern"),
        ([{"lr": 0.1}], ValueError, r"^groups\[0\] must be a dict with the key 'keys'"),
    ],
}


def _rules():
    """(optimizer, argument, bad value, exception, message regex) for every optimizer."""
    beta = ("in \\[0, 1\\)", [-0.1, 1.0, 1.5, float("nan")])
    nonneg = (">= 0", [-0.1, -1e-12])
    specific = {
        "beta1": beta,
        "beta2": beta,
        "alpha": beta,
        "rho": beta,
        "eps": (">= 0", [-1e-8, -1.0]),  # 0 allowed, as PyTorch does
        "weight_decay": nonneg,
        "lr_decay": nonneg,
        "initial_accumulator_value": nonneg,
        "momentum_decay": nonneg,
        "dampening": ("in \\[0, 1\\]", [-0.1, 1.5]),
        "clip_norm": ("> 0", [0.0, -1.0]),
        "clip_value": ("> 0", [0.0, -1.0]),
        "beta3": beta,
        "eps_root": nonneg,
        "trust_coefficient": ("> 0", [0.0, -1.0]),
        "fallback_lr": ("> 0", [0.0, -1.0]),
        "fallback_beta1": beta,
        "fallback_beta2": beta,
        "fallback_eps": ("> 0", [0.0, -1e-8]),
        "fallback_weight_decay": nonneg,
        "ns_a": ("finite", [float("nan"), float("inf")]),
        "ns_b": ("finite", [float("nan"), float("inf")]),
        "ns_c": ("finite", [float("nan"), float("inf")]),
        # Rprop, ASGD, FTRL, Adafactor (gdlab.optim.classic)
        "etaminus": ("in \\(0, 1\\)", [0.0, 1.0, -0.5]),
        "etaplus": ("> 1", [1.0, 0.5]),
        "step_size_min": nonneg,
        "step_size_max": nonneg,
        "lambd": nonneg,
        "t0": nonneg,
        "learning_rate_power": ("<= 0", [0.5, 1e-9]),
        "l1_regularization_strength": nonneg,
        "l2_regularization_strength": nonneg,
        "l2_shrinkage_regularization_strength": nonneg,
        "beta": nonneg,
        "beta2_decay": ("<= 0", [0.5, 1e-9]),
        "eps1": nonneg,
        "eps2": nonneg,
        "d": (">= 1", [0.5, 0.0]),
        "tolerance_grad": nonneg,  # L-BFGS
        "tolerance_change": nonneg,
        "d0": ("> 0", [0.0, -1e-6]),  # Prodigy, D-Adaptation
        "d_coef": ("> 0", [0.0, -1.0]),
        "growth_rate": (">= 1", [0.5, 0.0, float("inf")]),
        "weight_lr_power": nonneg,  # Schedule-Free
    }
    # Where one optimizer allows what the others refuse (optax's LARS: eps = 0).
    per_optimizer = {
        ("lars", "eps"): (">= 0", [-1e-8, -1.0]),
        # gdlab.optim.free checks its own ε, still > 0.
        ("prodigy", "eps"): ("> 0", [0.0, -1e-8]),
        ("dadapt_adamw", "eps"): ("> 0", [0.0, -1e-8]),
        ("schedule_free_adamw", "eps"): ("> 0", [0.0, -1e-8]),
        ("ademamix", "alpha"): (">= 0", [-0.1, -1e-12]),  # a mixing weight, default 5
        ("asgd", "alpha"): (">= 0", [-0.1, -1e-12]),  # the power of η's decay, default 0.75
        ("lookahead", "alpha"): ("in \\(0, 1\\]", [0.0, 1.5, -0.5]),  # α = 1: the inner alone
        ("sam", "rho"): (">= 0", [-0.1, -1e-12]),  # SAM's radius, default 0.05
        # Schedule-Free recovers x = (y − (1 − β1)·z)/β1: β1 = 0 is refused, 1 too.
        ("schedule_free_sgd", "beta1"): ("in \\(0, 1\\)", [0.0, 1.0, -0.1, float("nan")]),
        ("schedule_free_adamw", "beta1"): ("in \\(0, 1\\)", [0.0, 1.0, 1.5]),
    }
    rows = []
    for name, cls in OPTIMIZERS.items():
        hp = cls().hyperparameters()
        for value, exc, msg in LR_BAD:
            rows.append((name, "lr", value, exc, msg))
        for arg in hp:
            if arg in specific:
                allowed, values = per_optimizer.get((name, arg), specific[arg])
                for v in values:
                    shown = re.escape(repr(v))
                    message = f"^{arg} must be (finite and )?{allowed}; got {shown}"
                    rows.append((name, arg, v, ValueError, message))
                rows.append(
                    (
                        name,
                        arg,
                        "0.1",
                        TypeError,
                        f"^{arg} must be a real number; got '0.1' \\(str\\)",
                    )
                )
            elif arg == "momentum":
                allowed = "in \\(0, 1\\)" if name == "nesterov" else "in \\[0, 1\\)"
                for v in [0.0, 1.0] if name == "nesterov" else [-0.5, 1.0]:
                    rows.append((name, arg, v, ValueError, f"^momentum must be {allowed}; got {v}"))
            elif isinstance(hp[arg], bool):  # every switch: eps_inside, amsgrad, maximize, ...
                rows.append(
                    (name, arg, 1, TypeError, f"^{arg} must be True or False; got 1 \\(int\\)")
                )
            elif arg in ("form", "nonfinite", "adjust_lr_fn", "fallback"):
                rows.append(
                    (name, arg, "nope", ValueError, f"^{arg} must be one of .*; got 'nope'")
                )
            elif arg in ("alpha_warmup", "beta3_warmup", "warmup_steps"):  # warm-up lengths
                rows.append((name, arg, -1, ValueError, f"^{arg} must be an integer >= 0; got -1"))
                rows.append((name, arg, 2.5, TypeError, f"^{arg} must be an integer; got 2.5"))
            elif arg == "ns_steps":
                message = r"^ns_steps must be an integer in \[0, 99\]; got -1"
                rows.append((name, arg, -1, ValueError, message))
                rows.append((name, arg, 5.0, TypeError, r"^ns_steps must be an integer; got 5\.0"))
            elif arg.endswith("_mask"):  # LARS's and LAMB's key masks: regular expressions
                rows.append((name, arg, "W(", ValueError, f"^{arg} must be a valid regular"))
                rows.append((name, arg, 3, TypeError, f"^{arg} must be None or a regular"))
            elif arg in ("max_iter", "max_eval", "history_size"):  # L-BFGS's counts
                rows.append((name, arg, 0, ValueError, f"^{arg} must be an integer >= 1; got 0"))
                rows.append((name, arg, 2.5, TypeError, f"^{arg} must be an integer; got 2.5"))
            elif arg == "line_search_fn":
                message = r"^line_search_fn must be None or 'strong_wolfe'; got 'nope'"
                rows.append((name, arg, "nope", ValueError, message))
            elif (name, arg) in WRAPPER_ARGUMENTS:  # gdlab.optim.wrappers' own
                rows += [(name, arg, *row) for row in WRAPPER_ARGUMENTS[name, arg]]
            elif arg == "base":  # SAM's base optimizer
                message = r"^base: optimizer name must be one of .*; got 'nope'"
                rows.append((name, arg, "nope", ValueError, message))
                rows.append((name, arg, 3, TypeError, r"^base must be an optimizer, its name or"))
        rows.append(
            (
                name,
                "betaa",
                0.9,
                TypeError,
                "unknown keyword argument 'betaa' \\(= 0.9\\); expected one of: lr, ",
            )
        )
    return rows


RULES = _rules()


@pytest.mark.parametrize(
    ("name", "arg", "value", "exc", "msg"), RULES, ids=[f"{r[0]}-{r[1]}-{r[2]!r}" for r in RULES]
)
def test_bad_hyperparameters_raise_clear_errors(name, arg, value, exc, msg):
    with pytest.raises(exc, match=msg):
        OPTIMIZERS[name](**{arg: value})


def test_error_table_covers_every_optimizer_argument():
    covered = {(r[0], r[1]) for r in RULES}
    for name, cls in OPTIMIZERS.items():
        for arg in cls().hyperparameters():
            if arg == "fused":
                continue
            assert (name, arg) in covered, (name, arg)


def test_dampening_only_for_torch_form():
    with pytest.raises(ValueError, match=r"^dampening must be 0 unless form='torch'; got 0.5"):
        Momentum(form="ema", dampening=0.5)


def _ok():
    return {"w": np.ones(3), "b": np.zeros(())}


BAD_UPDATES = [
    (
        "different keys",
        _ok(),
        {"w": np.ones(3)},
        ValueError,
        r"grads must have the same keys as params; missing \['b'\], unexpected \[\]",
    ),
    ("extra key", _ok(), {**_ok(), "z": np.ones(1)}, ValueError, r"unexpected \['z'\]"),
    (
        "shape",
        _ok(),
        {"w": np.ones(4), "b": np.zeros(())},
        ValueError,
        r"grads\['w'\] must have the shape of params\['w'\] \(3,\); got \(4,\)",
    ),
    (
        "dtype",
        _ok(),
        {"w": np.ones(3, np.float32), "b": np.zeros(())},
        TypeError,
        r"grads\['w'\] must have the dtype of params\['w'\] \(float64\); got float32",
    ),
    (
        "int params",
        {"w": np.ones(3, int)},
        {"w": np.ones(3, int)},
        TypeError,
        r"params\['w'\] must have dtype float32 or float64; got int64",
    ),
    ("empty", {}, {}, ValueError, r"params must be a non-empty dict of numpy arrays; got \{\}"),
    (
        "list param",
        {"w": [1.0, 2.0]},
        {"w": np.ones(2)},
        TypeError,
        r"params\['w'\] must be a numpy array; got \[1.0, 2.0\] \(list\)",
    ),
    (
        "float grad",
        {"w": np.ones(2)},
        {"w": 1.0},
        TypeError,
        r"grads\['w'\] must be a numpy array; got 1.0 \(float\)",
    ),
    (
        "not a dict",
        [np.ones(2)],
        {"w": np.ones(2)},
        TypeError,
        r"params must be a dict of numpy arrays; got \[array",
    ),
    (
        "non-contiguous",
        {"w": np.ones((3, 4)).T},
        {"w": np.ones((4, 3))},
        ValueError,
        r"params\['w'\] must be a writable C-contiguous array",
    ),
    (
        "nan grad",
        _ok(),
        {"w": np.array([1.0, np.nan, 0.0]), "b": np.zeros(())},
        ValueError,
        r"grads\['w'\] contains NaN or inf at step 1; nothing was updated",
    ),
    (
        "inf grad",
        _ok(),
        {"w": np.ones(3), "b": np.array(-np.inf)},
        ValueError,
        r"grads\['b'\] contains NaN or inf",
    ),
]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize(
    ("case", "params", "grads", "exc", "msg"), BAD_UPDATES, ids=[c[0] for c in BAD_UPDATES]
)
def test_bad_update_calls_raise_clear_errors(name, case, params, grads, exc, msg):
    opt = create(name)
    before = copy.deepcopy(params)
    closure = {"closure": _unreachable} if opt.needs_closure else {}
    with pytest.raises(exc, match=msg):
        opt.update(params, grads, **closure)
    assert opt.t == 0
    if isinstance(params, dict):
        for k, v in before.items():
            np.testing.assert_array_equal(params[k], v)


def test_params_must_keep_the_keys_and_shapes_of_the_state():
    opt = Adam()
    opt.update(_ok(), _ok())
    with pytest.raises(
        ValueError, match=r"keys the optimizer's state was made for \['b', 'w'\]; got \['w'\]"
    ):
        opt.update({"w": np.ones(3)}, {"w": np.ones(3)})
    bigger = {"w": np.ones(4), "b": np.zeros(())}
    with pytest.raises(ValueError, match=r"params\['w'\] must have shape \(3,\) and dtype float64"):
        opt.update(bigger, bigger)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_nonfinite_skip_and_ignore(name):
    good = next(_grad_stream(np.float64, 1))
    bad = {k: v.copy() for k, v in good.items()}
    bad["b1"][2] = np.nan

    opt = create(name, nonfinite="skip")
    params = _params(np.float64)
    _update(opt, params, bad)
    assert opt.t == 0
    assert opt.skipped_steps == 1
    np.testing.assert_array_equal(params["W1"], _params(np.float64)["W1"])
    _update(opt, params, good)
    reference = _params(np.float64)
    _update(create(name), reference, good)
    np.testing.assert_array_equal(params["W1"], reference["W1"])

    ignoring = create(name, nonfinite="ignore")
    params = _params(np.float64)
    _update(ignoring, params, bad)
    assert ignoring.t == 1
    assert math.isnan(params["b1"][2])


# ------------------------------------------------------------ registry/presets


#: Every optimizer gdlab ships: the first eleven, then the second version's
#: (issue 13), then the wrappers.
SHIPPED = [
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "radam",
    "signum",
    "lion",
    "adabelief",
    "yogi",
    "adopt",
    "ademamix",
    "adan",
    "rprop",
    "asgd",
    "ftrl",
    "adafactor",
    "sm3",
    "lars",
    "lamb",
    "novograd",
    "muon",
    "lbfgs",
    "sam",
    "prodigy",
    "dadapt_adamw",
    "schedule_free_sgd",
    "schedule_free_adamw",
    "lookahead",
    "average",
    "accumulate",
    "groups",
]


def test_registry_names_and_case_insensitive_create():
    assert sorted(OPTIMIZERS) == sorted(SHIPPED)
    assert list(OPTIMIZERS)[:11] == SHIPPED[:11]  # the first eleven register first
    for name, cls in OPTIMIZERS.items():
        assert cls.name == name
        assert type(create(name.upper())) is cls


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"optimizer name must be one of sgd, momentum, .*radam.*; got 'adamm'"
    ):
        create("adamm")
    with pytest.raises(
        ValueError, match=r"preset must be one of book, course, torch, keras, optax.*; got 'nope'"
    ):
        create("adam", preset="nope")
    with pytest.raises(
        ValueError,
        match=r"preset 'book' does not define 'adamw'.*presets with 'adamw': torch, keras",
    ):
        create("adamw", preset="book")
    with pytest.raises(TypeError, match=r"unknown keyword argument 'betas'"):
        create("adam", betas=(0.9, 0.99))


def test_user_hyperparameters_override_the_preset():
    opt = create("adam", preset="book", lr=0.3)
    assert (opt.lr, opt.form, opt.eps) == (0.3, "lr_t", 1e-7)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_entry_builds(preset):
    for name, settings in PRESETS[preset].items():
        opt = create(name, preset=preset)
        for key, value in settings.items():
            assert getattr(opt, key) == value


def test_book_preset_is_the_seed_001_classes():
    book = {name: create(name, preset="book") for name in PRESETS["book"]}
    assert book["sgd"].lr == 0.01
    assert (book["momentum"].form, book["momentum"].momentum, book["momentum"].lr) == (
        "book",
        0.9,
        0.01,
    )
    assert (book["nesterov"].form, book["nesterov"].momentum) == ("book", 0.9)
    assert (book["adagrad"].eps, book["adagrad"].eps_inside) == (1e-7, False)
    assert (book["rmsprop"].alpha, book["rmsprop"].eps) == (0.99, 1e-7)
    assert (book["adam"].lr, book["adam"].form, book["adam"].eps) == (0.001, "lr_t", 1e-7)


def test_torch_preset_is_the_class_defaults():
    for name in PRESETS["torch"]:
        assert (
            create(name, preset="torch").hyperparameters() == OPTIMIZERS[name]().hyperparameters()
        )


def test_repr_and_hyperparameters_are_plain_data():
    opt = RMSprop(lr=schedules.ExponentialDecay(0.1, 0.5), centered=True)
    hp = opt.hyperparameters()
    assert hp["lr"] == {"schedule": opt.lr.config()}
    assert "RMSprop(lr=" in repr(opt)


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 16, 17, 1023, 1024])
def test_adams_two_halves_loop_matches_the_reference_at_every_size(name, n):
    # The common-case kernels walk the two halves side by side and finish an odd
    # size's last element alone: every element is updated once, as in one pass.
    rng = np.random.default_rng(n)
    start = rng.standard_normal(n).astype(np.float32)
    fast, slow = ({"w": start.copy()} for _ in range(2))
    opts = [create(name, lr=0.01), create(name, lr=0.01, fused=False)]
    for _ in range(5):
        g = rng.standard_normal(n).astype(np.float32)
        for opt, params in zip(opts, (fast, slow), strict=True):
            opt.update(params, {"w": g.copy()})
    np.testing.assert_array_equal(fast["w"], slow["w"])
    for state in opts[0].state_names:
        np.testing.assert_array_equal(opts[0].state["w"][state], opts[1].state["w"][state])
    assert not np.array_equal(fast["w"], start)
