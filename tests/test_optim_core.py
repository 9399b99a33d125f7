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


def _run(opt: Optimizer, params, steps, seed=1):
    for grads in _grad_stream(next(iter(params.values())).dtype, steps, seed):
        opt.update(params, grads)
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
        fresh.update(params, g)
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
    for _ in range(steps):
        gx, gy = fn.grad(p["x"], p["y"])
        opt.update(p, {"x": np.asarray(gx, dtype=float), "y": np.asarray(gy, dtype=float)})
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


def _rules():
    """(optimizer, argument, bad value, exception, message regex) for every optimizer."""
    beta = ("in \\[0, 1\\)", [-0.1, 1.0, 1.5, float("nan")])
    nonneg = (">= 0", [-0.1, -1e-12])
    specific = {
        "beta1": beta,
        "beta2": beta,
        "alpha": beta,
        "rho": beta,
        "eps": ("> 0", [0.0, -1e-8]),
        "weight_decay": nonneg,
        "lr_decay": nonneg,
        "initial_accumulator_value": nonneg,
        "momentum_decay": nonneg,
        "dampening": ("in \\[0, 1\\]", [-0.1, 1.5]),
        "clip_norm": ("> 0", [0.0, -1.0]),
        "clip_value": ("> 0", [0.0, -1.0]),
    }
    rows = []
    for name, cls in OPTIMIZERS.items():
        hp = cls().hyperparameters()
        for value, exc, msg in LR_BAD:
            rows.append((name, "lr", value, exc, msg))
        for arg in hp:
            if arg in specific:
                allowed, values = specific[arg]
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
            elif arg in ("form", "nonfinite"):
                rows.append(
                    (name, arg, "nope", ValueError, f"^{arg} must be one of .*; got 'nope'")
                )
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
    with pytest.raises(exc, match=msg):
        opt.update(params, grads)
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
    opt.update(params, bad)
    assert opt.t == 0
    assert opt.skipped_steps == 1
    np.testing.assert_array_equal(params["W1"], _params(np.float64)["W1"])
    opt.update(params, good)
    reference = _params(np.float64)
    create(name).update(reference, good)
    np.testing.assert_array_equal(params["W1"], reference["W1"])

    ignoring = create(name, nonfinite="ignore")
    params = _params(np.float64)
    ignoring.update(params, bad)
    assert ignoring.t == 1
    assert math.isnan(params["b1"][2])


# ------------------------------------------------------------ registry/presets


def test_registry_names_and_case_insensitive_create():
    assert list(OPTIMIZERS) == [
        "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
        "adamax", "nadam", "radam",
    ]  # fmt: skip
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
