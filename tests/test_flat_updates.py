"""The flat multi-tensor path of ``Optimizer.update`` is the per-key path, bit for bit.

When the parameters, the gradients and every state array are consecutive
C-contiguous pieces of one 1-D buffer each, in key order (an ``MLP``'s are),
``update`` runs each kernel once over the whole span instead of once per key.
Every rule is element-wise, so the results must be identical, not merely
close: these tests compare with ``np.array_equal``.

Each test also checks which path ran (``opt._plan.flat_params`` has the single
key ``_FLAT`` on the flat path), so that it fails if the flat path silently
stops being used, or is used where it must not be.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab import schedules
from gdlab.nn import MLP
from gdlab.optim import OPTIMIZERS, NonFiniteGradientError, create, load
from gdlab.optim.base import _FLAT
from gdlab.testing import one_buffer

SHAPES = {"W1": (6, 5), "b1": (5,), "W2": (5, 3), "b2": (3,), "s": ()}
STEPS = 20
DTYPES = [np.float32, np.float64]

# Configurations that take their own path through a kernel.
VARIANTS: dict[str, tuple[str, dict]] = {
    "sgd-wd": ("sgd", {"lr": 0.05, "weight_decay": 0.1}),
    "momentum-torch-damp": ("momentum", {"lr": 0.05, "dampening": 0.2, "weight_decay": 0.01}),
    "momentum-book": ("momentum", {"lr": 0.05, "form": "book"}),
    "momentum-ema": ("momentum", {"lr": 0.05, "form": "ema", "weight_decay": 0.01}),
    "nesterov-book": ("nesterov", {"lr": 0.05, "form": "book"}),
    "nesterov-keras": ("nesterov", {"lr": 0.05, "form": "keras", "weight_decay": 0.01}),
    "adagrad-decay": ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    "adagrad-inside": ("adagrad", {"lr": 0.1, "eps_inside": True}),
    "rmsprop-centered-momentum": ("rmsprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
    "rmsprop-inside-wd": ("rmsprop", {"lr": 0.01, "eps_inside": True, "weight_decay": 0.1}),
    "adadelta-wd": ("adadelta", {"weight_decay": 0.01}),
    "adam-amsgrad-wd": ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    "adam-lr_t": ("adam", {"lr": 0.01, "form": "lr_t"}),
    "adam-nobc-inside": ("adam", {"lr": 0.01, "bias_correction": False, "eps_inside": True}),
    "adamw-amsgrad": ("adamw", {"lr": 0.01, "amsgrad": True}),
    "adamax-keras": ("adamax", {"lr": 0.01, "eps_inside": False}),
    "nadam-decoupled": ("nadam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    "radam-decoupled": ("radam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    "adam-reference-kernels": ("adam", {"lr": 0.01, "fused": False}),
    "rmsprop-reference-kernels": ("rmsprop", {"centered": True, "momentum": 0.5, "fused": False}),
    "sgd-schedule": ("sgd", {"lr": schedules.ExponentialDecay(0.1, 0.9, per="step")}),
}

# The options every optimizer shares. The gradients have a global norm of
# about 7, so clip_norm=0.5 always rescales them; clip_value=0.3 clips a good
# part of the elements.
BASE_OPTIONS = {
    "default": {},
    "clip_norm": {"clip_norm": 0.5},
    "clip_value": {"clip_value": 0.3},
    "clip_both": {"clip_norm": 2.0, "clip_value": 0.3},
    "skip": {"nonfinite": "skip"},
}

# Optimizers that refuse clip_norm and clip_value (L-BFGS: its curvature pairs need the
# true gradients).
NO_CLIPPING = {"lbfgs"}
OPTIONS_OF = {
    name: [o for o in BASE_OPTIONS if not (name in NO_CLIPPING and "clip" in o)]
    for name in OPTIMIZERS
}
CASES = [(name, {}, opt) for name in OPTIMIZERS for opt in OPTIONS_OF[name]] + [
    (name, kwargs, "default") for name, kwargs in VARIANTS.values()
]
CASE_IDS = [f"{name}-{opt}" for name in OPTIMIZERS for opt in OPTIONS_OF[name]] + list(VARIANTS)


def _flat(dtype, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays holding ``values``, as consecutive pieces of one 1-D buffer, in key order."""
    return one_buffer(values, dtype)


def _separate(dtype, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays holding ``values``, each with its own memory."""
    return {key: np.array(v, dtype=dtype, copy=True) for key, v in values.items()}


def _random(rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    return {key: scale * rng.standard_normal(shape) for key, shape in SHAPES.items()}


def _write(grads: dict[str, np.ndarray], values: dict[str, np.ndarray]) -> None:
    """Overwrite the gradient arrays in place, as a training loop does."""
    for key, v in values.items():
        grads[key][...] = v


def _assert_same(a_params, b_params, a_opt, b_opt) -> None:
    for key in a_params:
        assert np.array_equal(a_params[key], b_params[key]), f"params[{key!r}] differ"
    assert a_opt.t == b_opt.t
    assert a_opt.skipped_steps == b_opt.skipped_steps
    assert (a_opt.state is None) == (b_opt.state is None)
    if a_opt.state is not None:
        assert list(a_opt.state) == list(b_opt.state)
        for key, bufs in a_opt.state.items():
            assert list(bufs) == list(b_opt.state[key])
            for name, arr in bufs.items():
                other = b_opt.state[key][name]
                assert arr.dtype == other.dtype
                assert arr.shape == other.shape
                assert np.array_equal(arr, other), f"state[{key!r}][{name!r}] differs"
    assert getattr(a_opt, "_scalars", {}) == getattr(b_opt, "_scalars", {})


def _is_flat(opt) -> bool:
    return opt._plan is not None and list(opt._plan.flat_params) == [_FLAT]


def _update(opt, params, grads) -> None:
    """``opt.update``; for the rules that evaluate again (L-BFGS, SAM) with the closure of
    f(q) = Σ g·(q − p) + ½‖q − p‖² around these ``params``: its gradient there is ``grads``."""
    if not opt.needs_closure:
        opt.update(params, grads)
        return
    p = {k: np.array(v) for k, v in params.items()}
    g = {k: np.array(v) for k, v in grads.items()}

    def closure(q):
        d = {k: q[k] - p[k] for k in p}
        loss = sum(float(np.vdot(g[k], d[k]) + 0.5 * np.vdot(d[k], d[k])) for k in p)
        return loss, {k: g[k] + d[k] for k in p}

    opt.update(params, grads, closure=closure)


def _run_pair(name, kwargs, dtype, *, steps=STEPS, nan_at=None, seed=0):
    """The same optimizer on flat and on separate arrays, fed the same gradients."""
    rng = np.random.default_rng(seed)
    start = _random(rng)
    flat_p, sep_p = _flat(dtype, start), _separate(dtype, start)
    zeros = {k: np.zeros(s) for k, s in SHAPES.items()}
    flat_g, sep_g = _flat(dtype, zeros), _separate(dtype, zeros)
    flat_opt, sep_opt = create(name, **kwargs), create(name, **kwargs)
    for step in range(steps):
        values = _random(rng)
        if step == nan_at:
            values["W2"][1, 2] = np.nan
        _write(flat_g, values)
        _write(sep_g, values)
        _update(flat_opt, flat_p, flat_g)
        _update(sep_opt, sep_p, sep_g)
        # Rules with per-array norms (LARS, LAMB, Muon, ...) never run the keys as one.
        assert _is_flat(flat_opt) is type(flat_opt)._elementwise
        assert not _is_flat(sep_opt)
    return flat_p, sep_p, flat_opt, sep_opt


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "kwargs", "option"), CASES, ids=CASE_IDS)
def test_flat_path_is_bit_identical_to_per_key(name, kwargs, option, dtype):
    options = {**kwargs, **BASE_OPTIONS[option]}
    # With nonfinite="skip", one step in the middle has a NaN: both skip it.
    nan_at = 7 if option == "skip" else None
    flat_p, sep_p, flat_opt, sep_opt = _run_pair(name, options, dtype, nan_at=nan_at)
    _assert_same(flat_p, sep_p, flat_opt, sep_opt)
    assert flat_opt.t == (STEPS - 1 if nan_at is not None else STEPS)
    # The state is one buffer per name, with a view per key.
    for state_name in flat_opt.state_names:
        if any(state_name not in flat_opt.state[k] for k in SHAPES):
            continue  # kept for some parameters only (Adafactor's row and column factors)
        pieces = [flat_opt.state[k][state_name] for k in SHAPES]
        assert all(p.base is pieces[0].base and p.base is not None for p in pieces)


def test_the_comparison_sees_a_one_ulp_difference():
    """Sanity check of the method: array_equal is not fooled by close values."""
    flat_p, sep_p, flat_opt, sep_opt = _run_pair("adam", {"lr": 0.01}, np.float64)
    sep_p["b1"][0] = np.nextafter(sep_p["b1"][0], np.inf)
    with pytest.raises(AssertionError, match="params\\['b1'\\] differ"):
        _assert_same(flat_p, sep_p, flat_opt, sep_opt)


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_mlp_parameters_take_the_flat_path(name, layout):
    net = MLP([4, 6, 3], rng=np.random.default_rng(0), layout=layout, dtype=np.float64)
    twin = {k: v.copy() for k, v in net.params.items()}
    twin_grads = {k: np.empty_like(v) for k, v in net.grads.items()}
    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, 8)
    if layout == "columns":
        X = X.T
    opt, twin_opt = create(name, lr=0.01, clip_norm=0.1), create(name, lr=0.01, clip_norm=0.1)
    for _ in range(5):
        _, grads = net.loss_and_grads(X, y, params=twin)
        for k, g in grads.items():
            twin_grads[k][...] = g
        _, grads = net.loss_and_grads(X, y, params=net.params)
        opt.update(net.params, grads)
        twin_opt.update(twin, twin_grads)
        assert _is_flat(opt)
        assert not _is_flat(twin_opt)
    _assert_same(net.params, twin, opt, twin_opt)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_nan_in_one_key_names_that_key_and_changes_nothing(dtype):
    flat_p, _, opt, _ = _run_pair("adam", {"lr": 0.01}, dtype, steps=5)
    grads = _flat(dtype, _random(np.random.default_rng(5)))
    grads["b2"][1] = np.inf
    grads["W2"][0, 0] = np.nan  # W2 comes before b2: it is the one named
    before = {k: v.copy() for k, v in flat_p.items()}
    state_before = {k: {n: a.copy() for n, a in bufs.items()} for k, bufs in opt.state.items()}
    with pytest.raises(
        NonFiniteGradientError, match=r"grads\['W2'\] contains NaN or inf at step 6"
    ):
        opt.update(flat_p, grads)
    grads["W2"][0, 0] = 0.0
    with pytest.raises(ValueError, match=r"grads\['b2'\] contains NaN or inf at step 6"):
        opt.update(flat_p, grads)
    assert _is_flat(opt)
    assert opt.t == 5
    for key, v in before.items():
        assert np.array_equal(flat_p[key], v)
        for name, a in state_before[key].items():
            assert np.array_equal(opt.state[key][name], a)


def test_nan_with_clip_norm_on_the_flat_path_is_found_and_named():
    flat_p, _, opt, _ = _run_pair("momentum", {"lr": 0.01, "clip_norm": 1.0}, np.float32, steps=3)
    grads = _flat(np.float32, _random(np.random.default_rng(5)))
    grads["s"][...] = -np.inf
    with pytest.raises(NonFiniteGradientError, match=r"grads\['s'\]"):
        opt.update(flat_p, grads)
    assert opt.t == 3


@pytest.mark.parametrize("layout", ["flat", "separate"])
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("adam", {"lr": 0.01, "amsgrad": True}),
        ("nadam", {"lr": 0.01}),
        ("rmsprop", {"centered": True, "momentum": 0.9}),
        ("sgd", {"lr": schedules.ExponentialDecay(0.1, 0.9, per="step")}),
        ("adagrad", {"initial_accumulator_value": 0.1, "clip_norm": 1.0}),
    ],
    ids=["adam-amsgrad", "nadam", "rmsprop", "sgd-schedule", "adagrad-clip"],
)
def test_state_dict_round_trip_continues_bit_identically(name, kwargs, layout):
    make = _flat if layout == "flat" else _separate
    rng = np.random.default_rng(3)
    start = _random(rng)
    steps = [_random(rng) for _ in range(2 * 10)]
    p_straight, p_resumed = make(np.float64, start), make(np.float64, start)
    g_straight, g_resumed = make(np.float64, steps[0]), make(np.float64, steps[0])

    straight = create(name, **kwargs)
    for values in steps:
        _write(g_straight, values)
        straight.update(p_straight, g_straight)

    first = create(name, **kwargs)
    for values in steps[:10]:
        _write(g_resumed, values)
        first.update(p_resumed, g_resumed)
    resumed = create(name, **kwargs)
    resumed.load_state_dict(first.state_dict())
    for values in steps[10:]:
        _write(g_resumed, values)
        resumed.update(p_resumed, g_resumed)
        # A loaded state is laid out flat again, so the flat path resumes.
        assert _is_flat(resumed) == (layout == "flat")
    _assert_same(p_straight, p_resumed, straight, resumed)


def test_saved_file_round_trip_keeps_the_flat_path(tmp_path):
    flat_p, sep_p, flat_opt, sep_opt = _run_pair("adam", {"lr": 0.01}, np.float32, steps=10)
    flat_opt.save(tmp_path / "adam.npz")
    resumed = load(tmp_path / "adam.npz")
    rng = np.random.default_rng(9)
    grads = _flat(np.float32, _random(rng))
    sep_grads = _separate(np.float32, {k: v for k, v in grads.items()})
    resumed.update(flat_p, grads)
    sep_opt.update(sep_p, sep_grads)
    assert _is_flat(resumed)
    _assert_same(flat_p, sep_p, resumed, sep_opt)


@pytest.mark.parametrize("what", ["params", "grads"])
def test_a_replaced_array_falls_back_to_per_key_and_stays_right(what):
    rng = np.random.default_rng(4)
    start = _random(rng)
    flat_p, sep_p = _flat(np.float64, start), _separate(np.float64, start)
    flat_g, sep_g = _flat(np.float64, start), _separate(np.float64, start)
    opt, sep_opt = create("adam", lr=0.01), create("adam", lr=0.01)
    old_w1 = flat_p["W1"]
    for step in range(STEPS):
        if step == 5:  # a new object, outside the shared buffer
            if what == "params":
                flat_p["W1"] = flat_p["W1"].copy()
            else:
                flat_g["W1"] = flat_g["W1"].copy()
            frozen = old_w1.copy()
        values = _random(rng)
        _write(flat_g, values)
        _write(sep_g, values)
        opt.update(flat_p, flat_g)
        sep_opt.update(sep_p, sep_g)
        assert _is_flat(opt) == (step < 5)
    _assert_same(flat_p, sep_p, opt, sep_opt)
    if what == "params":  # the buffer's old W1 piece is no longer updated
        assert np.array_equal(old_w1, frozen)


def test_putting_the_array_back_returns_to_the_flat_path():
    flat_p, sep_p, opt, sep_opt = _run_pair("rmsprop", {"lr": 0.01}, np.float64, steps=3)
    rng = np.random.default_rng(8)
    grads = _flat(np.float64, _random(rng))
    sep_grads = _separate(np.float64, grads)
    in_buffer = flat_p["b1"]
    flat_p["b1"] = in_buffer.copy()
    opt.update(flat_p, grads)
    sep_opt.update(sep_p, sep_grads)
    assert not _is_flat(opt)
    in_buffer[...] = flat_p["b1"]
    flat_p["b1"] = in_buffer
    opt.update(flat_p, grads)
    sep_opt.update(sep_p, sep_grads)
    assert _is_flat(opt)
    _assert_same(flat_p, sep_p, opt, sep_opt)


def test_keys_in_another_order_fall_back_and_stay_right():
    """The state buffers follow the first call's key order; a reordered dict
    is no longer consecutive in key order and must run per key."""
    flat_p, sep_p, opt, sep_opt = _run_pair("adam", {"lr": 0.01}, np.float64, steps=3)
    values = _random(np.random.default_rng(6))
    order = list(reversed(SHAPES))
    grads = _flat(np.float64, {k: values[k] for k in order})  # a buffer in the new order
    params_reordered = {k: flat_p[k] for k in order}
    opt.update(params_reordered, grads)
    sep_opt.update(sep_p, _separate(np.float64, values))
    assert not _is_flat(opt)
    _assert_same(flat_p, sep_p, opt, sep_opt)


def test_mixed_dtypes_fall_back_to_per_key():
    rng = np.random.default_rng(2)
    start = _random(rng)
    f32 = {k: v for k, v in start.items() if k != "s"}
    params = {**_flat(np.float32, f32), "s": np.array(start["s"])}  # "s" is float64
    sep = {**_separate(np.float32, f32), "s": np.array(start["s"])}
    grads = {**_flat(np.float32, {k: np.zeros(SHAPES[k]) for k in f32}), "s": np.array(0.0)}
    sep_grads = {**_separate(np.float32, {k: np.zeros(SHAPES[k]) for k in f32}), "s": np.array(0.0)}
    opt, sep_opt = create("adam", lr=0.01), create("adam", lr=0.01)
    for _ in range(10):
        values = _random(rng)
        _write(grads, values)
        _write(sep_grads, values)
        opt.update(params, grads)
        sep_opt.update(sep, sep_grads)
        assert not _is_flat(opt)
    _assert_same(params, sep, opt, sep_opt)
    assert opt.state["W1"]["exp_avg"].dtype == np.float32
    assert opt.state["s"]["exp_avg"].dtype == np.float64


def test_a_single_key_runs_per_key():
    params = {"w": np.zeros(5)}
    opt = create("sgd", lr=0.1)
    opt.update(params, {"w": np.ones(5)})
    assert list(opt._plan.flat_params) == ["w"]
    assert np.array_equal(params["w"], np.full(5, -0.1))


def test_non_contiguous_grads_are_read_afresh_every_step():
    """A transposed gradient is copied by the checks; that copy must not be
    reused on the next step when the same array object comes back with new
    values (the plan cache once did that)."""
    G = np.ones((3, 4))
    params = {"w": np.zeros((4, 3)), "b": np.zeros(3)}
    grads = {"w": G.T, "b": np.ones(3)}
    opt = create("sgd", lr=1.0)
    opt.update(params, grads)
    G[...] = 10.0
    grads["b"][...] = 10.0
    opt.update(params, grads)
    assert np.array_equal(params["w"], np.full((4, 3), -11.0))
    assert np.array_equal(params["b"], np.full(3, -11.0))


def test_flat_clip_norm_uses_the_global_norm():
    """Clipping on the flat path still uses the norm over all keys."""
    params = _flat(np.float64, {"a": np.zeros(3), "b": np.zeros(4)})
    grads = _flat(np.float64, {"a": np.full(3, 3.0), "b": np.full(4, 4.0)})
    opt = create("sgd", lr=1.0, clip_norm=1.0)
    opt.update(params, grads)
    assert _is_flat(opt)
    norm = math.sqrt(3 * 9 + 4 * 16)
    scale = 1.0 / (norm + 1e-6)
    assert np.array_equal(params["a"], np.full(3, -(3.0 * scale)))
    assert np.array_equal(params["b"], np.full(4, -(4.0 * scale)))
