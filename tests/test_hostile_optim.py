# ruff: noqa: E501  (the tables keep one case per line)
"""Hostile and careless use of the optimizer core: every bad input named, nothing lost.

Tables of bad inputs, each with the exception type and a message that names
the culprit (the key, the path, the value), and with what must not change:

* a state dict that fails to load leaves the optimizer byte for byte as it was;
* parameter and gradient keys are strings;
* NumPy-scalar hyperparameters become plain numbers and round-trip;
* damaged or foreign optimizer files raise one ``ValueError`` naming the path;
* updates refuse read-only, doubly-keyed or aliased arrays, changing nothing;
* every schedule survives astronomically late steps;
* SGDR's period comes from a closed form that agrees with summing the periods.
"""

from __future__ import annotations

import ast
import json
import math
import os
import pickle
import random
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import gdlab.optim
from gdlab import schedules
from gdlab._io import save_tree
from gdlab.optim import OPTIMIZERS, Adam, NAdam, create, load
from gdlab.optim.registry import load as registry_load

# ------------------------------------------------------------------ helpers


def _params() -> dict[str, np.ndarray]:
    return {"w": np.linspace(-1.0, 1.0, 3), "b": np.full((2, 2), 0.5)}


def _grads(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal(3), "b": rng.standard_normal((2, 2))}


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


def _trained(opt, steps: int = 3):
    params = _params()
    for k in range(steps):
        _update(opt, params, _grads(k))
    return opt, params


def _fingerprint(opt) -> bytes:
    """Everything an optimizer would save, as bytes (NaN included)."""
    return pickle.dumps((opt.state_dict(), repr(opt)))


def _plateau_adam():
    """An Adam with a stateful schedule, three steps in, its schedule cut once."""
    sched = schedules.ReduceOnPlateau(0.1, patience=0)
    opt, _ = _trained(Adam(lr=sched, amsgrad=True))
    sched.report(1.0)
    sched.report(2.0)
    return opt


def _set(path, value):
    """A tamper function: ``sd[path[0]][path[1]]... = value``."""

    def tamper(sd):
        node = sd
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return tamper


def _delete(key):
    def tamper(sd):
        del sd[key]

    return tamper


def _rekey(old, new):
    def tamper(sd):
        sd["state"][new] = sd["state"].pop(old)

    return tamper


def _poke(name, index, value, key="w"):
    def tamper(sd):
        sd["state"][key][name][index] = value

    return tamper


def _cast(name, dtype, key="w"):
    def tamper(sd):
        sd["state"][key][name] = sd["state"][key][name].astype(dtype)

    return tamper


# ------------------------------------------------- 1. validate, then commit

# (id, tamper, exception, message regex)
BAD_STATE_DICTS = [
    ("t negative", _set(["t"], -3), ValueError, r"state_dict\['t'\] must be an integer >= 0; got -3"),
    ("t str", _set(["t"], "3"), TypeError, r"state_dict\['t'\] must be an integer; got '3' \(str\)"),
    ("t bool", _set(["t"], True), TypeError, r"state_dict\['t'\] must be an integer; got True"),
    ("t float", _set(["t"], 3.0), TypeError, r"state_dict\['t'\] must be an integer; got 3\.0"),
    ("epoch negative", _set(["epoch"], -1), ValueError, r"state_dict\['epoch'\] must be an integer >= 0; got -1"),
    ("skipped negative", _set(["skipped_steps"], -2), ValueError, r"state_dict\['skipped_steps'\] must be an integer >= 0; got -2"),
    ("current_lr inf", _set(["current_lr"], math.inf), ValueError, r"state_dict\['current_lr'\] must be finite or NaN .*; got inf"),
    ("current_lr str", _set(["current_lr"], "0.1"), TypeError, r"state_dict\['current_lr'\] must be a real number or NaN; got '0\.1' \(str\)"),
    ("unknown key", _set(["colour"], "red"), ValueError, r"state_dict keys must be among .*; got 'colour'"),
    ("missing t", _delete("t"), ValueError, r"state_dict must be a dict with the key 't'"),
    ("missing state", _delete("state"), ValueError, r"state_dict must be a dict with the key 'state'"),
    ("format", _set(["format"], "gdlab.optim/0"), ValueError, r"state_dict\['format'\] must be 'gdlab.optim/1'; got 'gdlab.optim/0'"),
    ("optimizer", _set(["optimizer"], "sgd"), ValueError, r"state_dict\['optimizer'\] must be 'adam'; got 'sgd'"),
    ("hyperparameter", _set(["hyperparameters", "beta1"], 0.5), ValueError, r"differ in beta1 \(saved 0\.5, here 0\.9\)"),
    ("hyperparameters list", _set(["hyperparameters"], [1, 2]), TypeError, r"state_dict\['hyperparameters'\] must be a dict; got \[1, 2\]"),
    ("hyperparameters object", _set(["hyperparameters", "eps"], object()), ValueError, r"state_dict\['hyperparameters'\] must be plain data"),
    ("state list", _set(["state"], [1]), TypeError, r"state_dict\['state'\] must be None or a dict of dicts of arrays; got \[1\]"),
    ("state empty", _set(["state"], {}), ValueError, r"state_dict\['state'\] must be None or a non-empty dict; got \{\}"),
    ("state int key", _rekey("w", 1), TypeError, r"state_dict\['state'\] keys must be str .*; got 1 \(int\)"),
    ("array missing", _set(["state", "w"], {"exp_avg": np.zeros(3)}), ValueError,
     r"state_dict\['state'\]\['w'\] must be a dict of arrays named \['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'\]"),
    ("array extra", _set(["state", "w", "velocity"], np.zeros(3)), ValueError, r"state_dict\['state'\]\['w'\] must be a dict of arrays named"),
    ("arrays not a dict", _set(["state", "w"], [np.zeros(3)]), TypeError, r"state_dict\['state'\]\['w'\] must be a dict of arrays"),
    ("array list", _set(["state", "w", "exp_avg"], [0.0, 0.0, 0.0]), TypeError, r"state_dict\['state'\]\['w'\]\['exp_avg'\] must be a float32 or float64 numpy array; got \[0\.0"),
    ("array int", _cast("exp_avg", np.int64), TypeError, r"state_dict\['state'\]\['w'\]\['exp_avg'\] must be a float32 or float64 array; got dtype int64"),
    ("array str", _cast("exp_avg_sq", str), TypeError, r"state_dict\['state'\]\['w'\]\['exp_avg_sq'\] must be a float32 or float64 array; got dtype <U"),
    ("array object", _cast("exp_avg", object), TypeError, r"\['exp_avg'\] must be a float32 or float64 array; got dtype object"),
    ("array complex", _cast("exp_avg", np.complex128), TypeError, r"got dtype complex128"),
    ("array shape", _set(["state", "w", "exp_avg"], np.zeros(4)), ValueError, r"state_dict\['state'\]\['w'\]\['exp_avg_sq'\] must be a float64 array of shape \(4,\) \(as 'exp_avg'\); got 'float64 \(3,\)'"),
    ("array dtype mixed", _cast("exp_avg", np.float32), ValueError, r"state_dict\['state'\]\['w'\]\['exp_avg_sq'\] must be a float32 array of shape \(3,\) \(as 'exp_avg'\); got 'float64 \(3,\)'"),
    ("negative exp_avg_sq", _poke("exp_avg_sq", 1, -1e-3), ValueError, r"state_dict\['state'\]\['w'\]\['exp_avg_sq'\] must be >= 0 everywhere .*; got a minimum of -0\.001"),
    ("negative max_exp_avg_sq", _poke("max_exp_avg_sq", (0, 1), -5.0, key="b"), ValueError, r"\['b'\]\['max_exp_avg_sq'\] must be >= 0 everywhere"),
    ("NaN exp_avg", _poke("exp_avg", 0, np.nan), ValueError, r"state_dict\['state'\]\['w'\]\['exp_avg'\] must be finite .*; got 1 non-finite values"),
    ("inf exp_avg_sq", _poke("exp_avg_sq", 2, np.inf), ValueError, r"\['exp_avg_sq'\] must be finite"),
    ("-inf exp_avg_sq", _poke("exp_avg_sq", 2, -np.inf), ValueError, r"\['exp_avg_sq'\] must be finite"),
    ("scalars stray", _set(["scalars"], {"mu_product": 0.5}), ValueError, r"state_dict\['scalars'\] must be a dict with the keys \[\]; got \{'mu_product': 0\.5\}"),
    ("scalars not dict", _set(["scalars"], 3), TypeError, r"state_dict\['scalars'\] must be a dict; got 3 \(int\)"),
    ("schedule state", _set(["schedule_state", "lr"], -1.0), ValueError, r"lr must be >= 0; got -1\.0"),
    ("schedule state keys", _set(["schedule_state"], {"lr": 0.1}), ValueError, r"state must be a dict with the keys"),
    ("no state, t > 0", _set(["state"], None), ValueError, r"state_dict\['t'\] must be 0 when state_dict\['state'\] is None; got 3"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tamper", "error", "message"),
    [case[1:] for case in BAD_STATE_DICTS],
    ids=[case[0] for case in BAD_STATE_DICTS],
)
def test_a_bad_state_dict_changes_nothing(tamper, error, message):
    opt = _plateau_adam()
    good = opt.state_dict()
    before, state_object, schedule_state = _fingerprint(opt), opt.state, opt.schedule.state_dict()
    bad = opt.state_dict()
    tamper(bad)
    with pytest.raises(error, match=message):
        opt.load_state_dict(bad)
    assert _fingerprint(opt) == before
    assert opt.state is state_object
    assert opt.schedule.state_dict() == schedule_state
    opt.load_state_dict(good)  # and it still loads a good one
    assert _fingerprint(opt) == before


def test_a_bad_state_dict_through_a_file_names_the_file(tmp_path):
    opt = _plateau_adam()
    before = _fingerprint(opt)
    sd = opt.state_dict()
    sd["state"]["w"]["exp_avg_sq"][0] = -1.0
    path = save_tree(tmp_path / "tampered.npz", sd)
    message = rf"{path} is not a gdlab optimizer file: .*\['exp_avg_sq'\] must be >= 0"
    with pytest.raises(ValueError, match=message):
        opt.load(path)
    assert _fingerprint(opt) == before
    with pytest.raises(ValueError, match=message):
        load(path)


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_set(["scalars"], {}), r"state_dict\['scalars'\] must be a dict with the keys \['mu_product'\]; got \{\}"),
        (_set(["scalars", "mu_product"], math.nan), r"state_dict\['scalars'\]\['mu_product'\] must be finite; got nan"),
        (_set(["scalars", "mu_product"], "1"), r"state_dict\['scalars'\]\['mu_product'\] must be a real number; got '1'"),
    ],
    ids=["missing", "nan", "str"],
)  # fmt: skip
def test_nadam_scalars_are_checked_before_anything_changes(tamper, message):
    opt, _ = _trained(NAdam(lr=0.01))
    before = _fingerprint(opt)
    bad = opt.state_dict()
    tamper(bad)
    with pytest.raises((TypeError, ValueError), match=message):
        opt.load_state_dict(bad)
    assert _fingerprint(opt) == before


def test_nonfinite_ignore_keeps_nan_in_the_state_through_save_and_load(tmp_path):
    opt = Adam(lr=0.01, nonfinite="ignore")
    params = _params()
    grads = _grads()
    grads["w"][1] = np.nan
    opt.update(params, grads)
    path = opt.save(tmp_path / "nan.npz")
    again = load(path)
    np.testing.assert_array_equal(again.state["w"]["exp_avg"], opt.state["w"]["exp_avg"])
    assert np.isnan(again.state["w"]["exp_avg"][1])


# ----------------------------------------------------------- 2. string keys

BAD_KEYS = [
    ("int key", {1: np.ones(2), "1": np.ones(2)}, None, r"params keys must be str .*; got 1 \(int\)"),
    ("tuple key", {("a", 0): np.ones(2)}, None, r"params keys must be str .*; got \('a', 0\) \(tuple\)"),
    ("None key", {None: np.ones(2)}, None, r"params keys must be str .*; got None \(NoneType\)"),
    ("bytes key", {b"w": np.ones(2)}, None, r"params keys must be str .*; got b'w' \(bytes\)"),
    ("grads int key", {"w": np.ones(2)}, {"w": np.ones(2), 0: np.ones(2)}, r"grads keys must be str .*; got 0 \(int\)"),
    ("grads float key", {"w": np.ones(2)}, {2.5: np.ones(2)}, r"grads keys must be str .*; got 2\.5 \(float\)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "grads", "message"),
    [case[1:] for case in BAD_KEYS],
    ids=[case[0] for case in BAD_KEYS],
)
def test_keys_must_be_strings(params, grads, message):
    grads = grads if grads is not None else {k: np.ones_like(v) for k, v in params.items()}
    before = {k: v.copy() for k, v in params.items()}
    opt = Adam(lr=0.1)
    with pytest.raises(TypeError, match=message):
        opt.update(params, grads)
    assert opt.t == 0
    assert opt.state is None
    for k, v in before.items():
        np.testing.assert_array_equal(params[k], v)


# ----------------------------------------- 3. NumPy-scalar hyperparameters

NUMPY_HYPERPARAMETERS = {
    "sgd": {"lr": np.float32(0.01), "weight_decay": np.float64(1e-4)},
    "momentum": {"lr": np.float64(0.01), "momentum": np.float32(0.5), "form": np.str_("book")},
    "nesterov": {"lr": np.float16(0.01), "momentum": np.float64(0.9)},
    "adagrad": {"lr": np.float32(0.1), "eps_inside": np.bool_(True)},
    "rmsprop": {"lr": np.float32(0.01), "alpha": np.float32(0.9), "centered": np.bool_(True)},
    "adadelta": {"lr": np.int64(1), "rho": np.float64(0.95)},
    "adam": {"lr": np.float32(0.01), "beta1": np.float32(0.8), "amsgrad": np.bool_(True)},
    "adamw": {"lr": np.float32(0.01), "weight_decay": np.float32(0.1), "form": np.str_("lr_t")},
    "adamax": {"lr": np.float32(0.002), "eps": np.float32(1e-7)},
    "nadam": {"lr": np.float32(0.002), "momentum_decay": np.float64(4e-3)},
    "radam": {"lr": np.float32(0.001), "beta2": np.float64(0.99)},
    "signum": {"lr": np.float32(1e-3), "momentum": np.float64(0.5)},
    "lion": {"lr": np.float32(1e-4), "beta2": np.float32(0.95), "weight_decay": np.float64(0.1)},
    "adabelief": {"lr": np.float32(0.01), "nesterov": np.bool_(True), "eps_root": np.float64(0)},
    "yogi": {"lr": np.float32(0.01), "initial_accumulator_value": np.float32(0.1)},
    "adopt": {"lr": np.float32(0.01), "use_clipping": np.bool_(False)},
    "ademamix": {"lr": np.float32(0.01), "alpha": np.float32(4.0), "alpha_warmup": np.int64(9)},
    "adan": {"lr": np.float32(0.01), "form": np.str_("optax"), "beta3": np.float32(0.9)},
    "lars": {
        "lr": np.float32(0.5),
        "nesterov": np.bool_(True),
        "weight_decay_mask": np.str_("w|s"),
    },
    "lamb": {"lr": np.float32(0.01), "form": np.str_("keras"), "weight_decay": np.float64(0.1)},
    "novograd": {"lr": np.float32(0.01), "beta2": np.float32(0.5)},
    "muon": {"lr": np.float32(0.02), "ns_steps": np.int64(3), "fallback_lr": np.float32(1e-3)},
    "rprop": {"lr": np.float32(0.01), "etaplus": np.float64(1.3), "step_size_max": np.int64(10)},
    "asgd": {"lr": np.float32(0.01), "t0": np.int64(100), "alpha": np.float32(0.5)},
    "ftrl": {"lr": np.float32(0.1), "learning_rate_power": np.float64(-0.3), "beta": np.int64(1)},
    "adafactor": {"lr": np.float32(0.01), "eps1": np.float64(1e-30), "form": np.str_("keras")},
    "sm3": {"lr": np.float32(0.1), "momentum": np.float32(0.5)},
    "lbfgs": {
        "lr": np.float32(0.5),
        "max_iter": np.int64(5),
        "tolerance_grad": np.float32(1e-6),
        "line_search_fn": np.str_("strong_wolfe"),
    },
    "sam": {
        "lr": np.float32(0.01),
        "rho": np.float64(0.1),
        "adaptive": np.bool_(True),
        "base": {"optimizer": np.str_("adam"), "beta1": np.float32(0.8)},
    },
    "schedule_free_sgd": {
        "lr": np.float32(0.5),
        "beta1": np.float64(0.8),
        "warmup_steps": np.int64(3),
    },
    "schedule_free_adamw": {"lr": np.float32(0.01), "weight_lr_power": np.float32(1.0)},
    "prodigy": {"lr": np.float32(1.0), "d0": np.float64(1e-5), "safeguard_warmup": np.bool_(True)},
    "dadapt_adamw": {
        "lr": np.float64(0.5),
        "growth_rate": np.float32(2.0),
        "beta2": np.float32(0.99),
    },
    "lookahead": {
        "k": np.int64(3),
        "alpha": np.float32(0.5),
        "inner": {"optimizer": np.str_("adam"), "beta1": np.float32(0.8)},
    },
    "average": {"lr": np.float32(0.01), "mode": np.str_("swa"), "start": np.int32(2)},
    "accumulate": {"lr": np.float64(0.01), "every": np.int64(2), "use_grad_mean": np.bool_(False)},
    "groups": {
        "inner": np.str_("adamw"),
        "weight_decay": np.float32(0.1),
        "groups": [{"keys": np.str_("b"), "weight_decay": np.float64(0.0)}],
    },
}


def _plain_data(value) -> bool:
    """Python scalars, or a dict of them by name (SAM's base optimizer), or a list of them."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_data(v) for k, v in value.items())
    if isinstance(value, list):  # the groups of gdlab.optim.Groups
        return all(_plain_data(v) for v in value)
    return type(value) in (float, int, bool, str, type(None))


def test_the_numpy_table_covers_every_optimizer():
    assert set(NUMPY_HYPERPARAMETERS) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", list(NUMPY_HYPERPARAMETERS))
def test_numpy_scalar_hyperparameters_become_plain_and_round_trip(name, tmp_path):
    opt = create(name, **NUMPY_HYPERPARAMETERS[name])
    for key, value in opt.hyperparameters().items():
        assert _plain_data(value), (key, value)
    _trained(opt, 2)
    path = opt.save(tmp_path / f"{name}.npz")
    again = load(path)
    assert again.hyperparameters() == opt.hyperparameters()
    assert _fingerprint(again) == _fingerprint(opt)
    assert "np." not in repr(opt)


def test_set_lr_takes_a_numpy_scalar(tmp_path):
    opt = Adam(lr=0.1)
    opt.set_lr(np.float32(0.5))
    assert type(opt.lr) is float
    assert opt.lr == float(np.float32(0.5))
    assert load(opt.save(tmp_path / "a.npz")).lr == opt.lr


# --------------------------------------------------------------- 4. files


def _good_file(tmp_path) -> Path:
    opt, _ = _trained(Adam(lr=0.1))
    return opt.save(tmp_path / "good.npz")


def _truncate(fraction):
    def damage(path):
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return damage


def _write(data: bytes):
    return lambda path: path.write_bytes(data)


def _npz(**arrays):
    return lambda path: np.savez(path.open("wb"), **arrays)


def _tree(tree):
    return lambda path: save_tree(path, tree)


def _swap_tree(edit):
    """Rewrite the file's JSON document with ``edit(document)``."""

    def damage(path):
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        document = json.loads(str(arrays.pop("__tree__")))
        edit(document)
        with path.open("wb") as fh:
            np.savez(fh, __tree__=np.array(json.dumps(document)), **arrays)

    return damage


def _edit(key, value):
    def edit(document):
        document[key] = value

    return edit


# (id, damage, the reason the message gives)
BAD_FILES = [
    ("empty", _write(b""), r"it is empty"),
    ("text", _write(b"hello, optimizer\n"), r"it is not an \.npz archive"),
    ("npy", lambda p: np.save(p.open("wb"), np.zeros(3)), r"it is not an \.npz archive"),
    ("pickle", _write(pickle.dumps({"t": 1})), r"it is not an \.npz archive"),
    ("zip header only", _write(b"PK\x03\x04"), r"\w"),
    ("truncated 10%", _truncate(0.1), r"\w"),
    ("truncated 50%", _truncate(0.5), r"\w"),
    ("truncated 99%", _truncate(0.99), r"\w"),
    ("npz without tree", _npz(weights=np.zeros(3)), r"__tree__"),
    ("plain zip", lambda p: zipfile.ZipFile(p, "w").close() or None, r"\w"),
    ("tree is a list", _tree([1, 2, 3]), r"it holds a list, not a state dict"),
    ("tree not json", _npz(__tree__=np.array("{not json")), r"JSONDecodeError"),
    ("tree int array", _npz(__tree__=np.arange(3)), r"\w"),
    ("t is a string", _swap_tree(_edit("t", "three")), r"state_dict\['t'\] must be an integer; got 'three'"),
    ("hyperparameters a list", _swap_tree(_edit("hyperparameters", [])), r"state_dict\['hyperparameters'\] must be a dict"),
    ("unknown hyperparameter", _swap_tree(lambda d: d["hyperparameters"].update(beta3=0.5)), r"(unknown keyword argument 'beta3'|differ in beta3 \(saved 0\.5, here None\))"),
    ("array reference missing", _swap_tree(lambda d: d["state"]["w"].update(exp_avg={"__ndarray__": "a99"})), r"a99"),
    ("no state key", _swap_tree(lambda d: d.pop("state")), r"state_dict must be a dict with the key 'state'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "reason"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
)
def test_a_bad_file_raises_one_error_naming_the_file(damage, reason, tmp_path):
    path = _good_file(tmp_path)
    damage(path)
    message = rf"^{path} is not a gdlab optimizer file: .*{reason}"
    with pytest.raises(ValueError, match=message):
        load(path)
    opt, _ = _trained(Adam(lr=0.1), 1)
    before = _fingerprint(opt)
    with pytest.raises(ValueError, match=message):
        opt.load(path)
    assert _fingerprint(opt) == before


def test_a_file_of_an_optimizer_not_registered_here_says_to_import_it(tmp_path):
    path = _good_file(tmp_path)
    _swap_tree(_edit("optimizer", "adamx"))(path)
    with pytest.raises(
        ValueError, match=rf"^{path} holds optimizer 'adamx', which is not registered"
    ):
        load(path)
    opt, _ = _trained(Adam(lr=0.1), 1)
    before = _fingerprint(opt)
    with pytest.raises(
        ValueError,
        match=rf"^{path} is not a gdlab optimizer file: .*state_dict\['optimizer'\] must be 'adam'; got 'adamx'",
    ):
        opt.load(path)
    assert _fingerprint(opt) == before


def test_every_flipped_byte_is_refused_or_harmless(tmp_path):
    path = _good_file(tmp_path)
    good = path.read_bytes()
    reference = _fingerprint(load(path))
    refusals = []
    for position in range(0, len(good), max(1, len(good) // 64)):
        damaged = bytearray(good)
        damaged[position] ^= 0x10
        path.write_bytes(bytes(damaged))
        try:
            opt = load(path)
        except ValueError as error:
            refusals.append(str(error))
            continue
        # a byte no reader looks at (a time stamp): the state is intact
        assert _fingerprint(opt) == reference, f"byte {position} changed the state silently"
    prefix = f"{path} is not a gdlab optimizer file: "
    assert [m for m in refusals if not m.startswith(prefix)] == []
    refused = len(refusals)
    assert refused > 32


def test_a_directory_is_not_an_optimizer_file(tmp_path):
    with pytest.raises(
        ValueError, match=rf"^{tmp_path} is not a gdlab optimizer file: it is a directory"
    ):
        load(tmp_path)


def test_a_missing_file_is_file_not_found_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "opt.npz"
    for reader in (load, Adam().load):
        with pytest.raises(
            FileNotFoundError, match=r"no such optimizer file: .*nowhere/opt\.npz"
        ) as info:
            reader(missing)
        assert info.value.filename == str(missing)


def test_save_makes_a_missing_directory_and_names_the_target_on_error(tmp_path):
    opt, _ = _trained(Adam(lr=0.1), 1)
    target = tmp_path / "new" / "dir" / "opt.npz"
    assert opt.save(target) == target
    assert load(target).t == 1
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    bad_target = blocker / "opt.npz"
    with pytest.raises(OSError, match=rf"cannot write the optimizer file .*'{bad_target}'") as info:
        opt.save(bad_target)
    assert info.value.filename == str(bad_target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "new"]


def test_save_gives_the_umask_mode(tmp_path):
    mask = os.umask(0)
    os.umask(mask)
    path = Adam().save(tmp_path / "opt.npz")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_files_of_the_first_layout_still_load(tmp_path):
    opt, _ = _trained(Adam(lr=0.1))
    sd = opt.state_dict()
    arrays, index = {}, {}
    for i, (key, bufs) in enumerate(sd.pop("state").items()):
        index[key] = {}
        for name, array in bufs.items():
            arrays[f"a{i}_{name}"] = array
            index[key][name] = f"a{i}_{name}"
    sd["state_index"] = index
    path = tmp_path / "old.npz"
    with path.open("wb") as fh:
        np.savez(fh, __meta__=np.array(json.dumps(sd)), **arrays)
    assert _fingerprint(load(path)) == _fingerprint(opt)


# ------------------------------------------------- 5. aliasing and read-only


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_parameter_made_read_only_later_is_refused(name):
    opt = create(name, lr=0.01)
    opt, params = _trained(opt, 2)
    params["b"].flags.writeable = False
    before_params = {k: v.copy() for k, v in params.items()}
    before = _fingerprint(opt)
    with pytest.raises(
        ValueError, match=r"params\['b'\] must be a writable C-contiguous array .*read-only"
    ):
        _update(opt, params, _grads(9))
    assert _fingerprint(opt) == before
    for k, v in before_params.items():
        np.testing.assert_array_equal(params[k], v)


def test_a_read_only_view_of_a_flat_buffer_is_refused():
    buffer = np.zeros(7)
    params = {"w": buffer[:3], "b": buffer[3:].reshape(2, 2)}
    grads = _grads()
    opt = Adam(lr=0.1)
    opt.update(params, grads)
    params["w"].flags.writeable = False
    before = buffer.copy()
    with pytest.raises(ValueError, match=r"params\['w'\] must be a writable"):
        opt.update(params, grads)
    np.testing.assert_array_equal(buffer, before)


def _flat(n=10):
    return np.arange(n, dtype=float)


# (id, params factory, grads factory or None for fresh ones, message regex)
ALIASED = [
    ("same array twice", lambda: (lambda a: {"a": a, "b": a})(np.ones(4)), None,
     r"params\['a'\] and params\['b'\] must not share memory"),
    ("overlapping views", lambda: (lambda f: {"a": f[0:5], "b": f[3:8]})(_flat()), None,
     r"params\['a'\] and params\['b'\] must not share memory"),
    ("view inside another", lambda: (lambda f: {"outer": f, "inner": f[2:4]})(_flat()), None,
     r"params\['outer'\] and params\['inner'\] must not share memory"),
    ("reshaped alias", lambda: (lambda f: {"a": f, "m": f.reshape(2, 5)})(_flat()), None,
     r"params\['(a|m)'\] and params\['(a|m)'\] must not share memory"),
    ("grad is another param", lambda: {"a": np.ones(3), "b": np.ones(3)},
     lambda p: {"a": p["b"], "b": np.ones(3)}, r"grads\['a'\] must not share memory with params\['b'\]"),
    ("grad is its own param", lambda: {"a": np.ones(3)},
     lambda p: {"a": p["a"]}, r"grads\['a'\] must not share memory with params\['a'\]"),
    ("grad overlaps a param", lambda: (lambda f: {"a": f[0:4], "b": f[4:8]})(_flat()),
     lambda p: {"a": p["b"].base[2:6], "b": np.ones(4)}, r"grads\['a'\] must not share memory with params\['(a|b)'\]"),
    ("strided grad inside a param", lambda: {"a": np.ones(3), "b": np.zeros(6)},
     lambda p: {"a": p["b"][::2], "b": np.ones(6)}, r"grads\['a'\] must not share memory with params\['b'\]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make_params", "make_grads", "message"),
    [case[1:] for case in ALIASED],
    ids=[case[0] for case in ALIASED],
)
def test_aliased_arrays_are_refused_and_nothing_changes(make_params, make_grads, message):
    params = make_params()
    grads = (
        make_grads(params)
        if make_grads
        else {k: np.full(v.shape, 0.5, v.dtype) for k, v in params.items()}
    )
    before = {k: v.copy() for k, v in params.items()}
    opt = Adam(lr=0.1)
    with pytest.raises(ValueError, match=message):
        opt.update(params, grads)
    assert opt.t == 0
    assert opt.state is None
    for k, v in before.items():
        np.testing.assert_array_equal(params[k], v)


ACCEPTED = [
    ("adjacent views (an MLP's buffer)", lambda f: {"a": f[0:4], "b": f[4:10].reshape(2, 3)}),
    ("views out of order", lambda f: {"b": f[5:10], "a": f[0:5]}),
    ("views with a gap", lambda f: {"a": f[0:3], "b": f[6:9]}),
    ("an empty view", lambda f: {"a": f[0:5], "e": f[5:5], "b": f[5:10]}),
]


@pytest.mark.parametrize("make", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_separate_views_of_one_buffer_are_accepted(make):
    flat = _flat()
    params = make(flat)
    grads = {k: np.full(v.shape, 0.5) for k, v in params.items()}
    alone = {k: v.copy() for k, v in params.items()}
    Adam(lr=0.1).update(params, grads)
    Adam(lr=0.1).update(alone, {k: v.copy() for k, v in grads.items()})
    for k in params:
        np.testing.assert_array_equal(params[k], alone[k])


def test_a_strided_grad_that_only_interleaves_a_param_is_accepted():
    # The gradient's extent covers the parameter's, but they share no element.
    memory = np.zeros(4)
    params = {"w": memory[1:3]}
    grads = {"w": memory[0:4:3]}  # elements 0 and 3
    assert not np.shares_memory(params["w"], grads["w"])
    grads["w"][:] = 1.0
    Adam(lr=0.1).update(params, grads)
    np.testing.assert_allclose(memory, [1.0, -0.1, -0.1, 1.0])


def test_the_plan_is_still_reused_between_steps():
    opt = Adam(lr=0.1)
    params, grads = _params(), _grads()
    opt.update(params, grads)
    plan = opt._plan
    opt.update(params, grads)
    assert opt._plan is plan


# ----------------------------------------------------- 6. schedules, late

SCHEDULE_EXAMPLES = {
    "constant": [schedules.Constant(0.1)],
    "inverse_time": [
        schedules.InverseTimeDecay(0.1, 0.5, per="step"),
        schedules.InverseTimeDecay(0.1, 0.5, per="epoch", staircase=True, decay_steps=3),
        schedules.InverseTimeDecay(0.1, 0.0, per="step"),
    ],
    "exponential": [
        schedules.ExponentialDecay(0.1, 0.9, per="step"),
        schedules.ExponentialDecay(0.1, 0.9, per="epoch", staircase=True, decay_steps=7),
        schedules.ExponentialDecay(0.1, 1.0, per="step"),
    ],
    "inverse_sqrt_epoch": [schedules.InverseSqrtEpochDecay(0.1)],
    "inverse_sqrt_step": [schedules.InverseSqrtStepDecay(0.1, k=2.0)],
    "step": [schedules.StepDecay(0.1, every=3, per="step")],
    "piecewise": [schedules.PiecewiseConstant([2, 4], [0.1, 0.01, 0.001])],
    "polynomial": [
        schedules.PolynomialDecay(0.1, 0.01, 10),
        schedules.PolynomialDecay(0.1, 0.01, 10, cycle=True, power=2.0),
    ],
    "cosine": [
        schedules.CosineDecay(0.1, 10, min_lr=0.01),
        schedules.CosineDecay(0.1, 10, min_lr=0.01, restarts=True),
        schedules.CosineDecay(0.1, 10, min_lr=0.01, restarts=True, m_mul=0.5),
        schedules.CosineDecay(0.1, 10, min_lr=0.01, restarts=True, t_mult=2.0, m_mul=0.5),
        schedules.CosineDecay(0.1, 10, restarts=True, t_mult=1.0001),
        schedules.CosineDecay(0.1, 3, restarts=True, t_mult=1e200),
    ],
    "warmup": [schedules.Warmup(schedules.ExponentialDecay(0.1, 0.5, per="step"), 4)],
    "onecycle": [
        schedules.OneCycle(0.1, 100),
        schedules.OneCycle(0.1, 100, anneal="linear", three_phase=True),
        schedules.OneCycle(0.1, 100, form="optax"),
    ],
    "cyclic": [
        schedules.Cyclic(0.01, 0.1, 5),
        schedules.Cyclic(0.01, 0.1, 5, mode="triangular2"),
        schedules.Cyclic(0.01, 0.1, 5, mode="exp_range", gamma=0.99),
    ],
    "swa": [schedules.SWALR(0.1, 0.01, 5), schedules.SWALR(0.1, 0.01, 5, anneal="linear")],
    "lambda": [schedules.Lambda(0.1, lambda n: 1 / (1 + n))],
    # a product of n factors: a rate that reaches 0 stays 0 at any step (the
    # refusal of a jump of 10**18 calls is tested in test_schedules.py)
    "multiplicative": [schedules.Multiplicative(0.1, lambda n: 0.0 if n > 3 else 0.9)],
    "join": [
        schedules.Join([schedules.Constant(0.1), schedules.CosineDecay(0.1, 10)], [5]),
        schedules.Join(
            [
                schedules.Constant(0.1),
                schedules.Multiplicative(0.1, lambda n: 0.0 if n > 3 else 0.9, per="step"),
            ],
            [5],
            form="torch",
        ),
    ],
    "chained": [
        schedules.Chained(
            [schedules.ExponentialDecay(0.1, 0.9, per="step"), schedules.CosineDecay(1.0, 10)]
        )
    ],
    "plateau": [schedules.ReduceOnPlateau(0.1)],
    "manual": [schedules.Manual(0.1)],
}
LATE = [0, 1, 10**6, 10**18, 10**400]


def test_the_late_step_table_covers_every_schedule():
    assert set(SCHEDULE_EXAMPLES) == set(schedules.SCHEDULES)


@pytest.mark.parametrize("step", LATE, ids=["0", "1", "1e6", "1e18", "1e400"])
@pytest.mark.parametrize("name", list(SCHEDULE_EXAMPLES))
def test_every_schedule_gives_a_rate_at_any_step(name, step):
    for schedule in SCHEDULE_EXAMPLES[name]:
        for lr in (schedule(step), schedule(0, epoch=step), schedule(step, epoch=step)):
            assert type(lr) is float, (schedule, step, lr)
            assert math.isfinite(lr), (schedule, step, lr)
            assert lr >= 0, (schedule, step, lr)


HUGE = 10**400
LIMITS = [
    (schedules.InverseTimeDecay(0.1, 0.5, per="step"), 0.0),
    (schedules.InverseTimeDecay(0.1, 0.5, per="step", staircase=True, decay_steps=2), 0.0),
    (schedules.InverseTimeDecay(0.1, 0.0, per="step"), 0.1),
    (schedules.ExponentialDecay(0.1, 0.9, per="step"), 0.0),
    (schedules.ExponentialDecay(0.1, 0.9, per="step", staircase=True), 0.0),
    (schedules.ExponentialDecay(0.1, 1.0, per="step"), 0.1),
    (schedules.InverseSqrtStepDecay(0.1), 0.0),
    (schedules.StepDecay(0.1, every=3, per="step"), 0.0),
    (schedules.PolynomialDecay(0.1, 0.01, 10), 0.01),
    (schedules.CosineDecay(0.1, 10, min_lr=0.01), 0.01),
    (schedules.CosineDecay(0.1, 10, min_lr=0.01, restarts=True, m_mul=0.5), 0.01),
    (schedules.CosineDecay(0.1, 10, min_lr=0.01, restarts=True, t_mult=2.0, m_mul=0.5), 0.01),
    (schedules.Warmup(schedules.ExponentialDecay(0.1, 0.5, per="step"), 4), 0.0),
]


@pytest.mark.parametrize(("schedule", "limit"), LIMITS, ids=[repr(s)[:40] for s, _ in LIMITS])
def test_a_huge_step_gives_the_limit(schedule, limit):
    assert schedule(HUGE) == limit


@pytest.mark.parametrize(
    ("step", "error", "message"),
    [
        (1e400, TypeError, r"step must be an integer; got inf \(float\)"),
        (10.0**300, TypeError, r"step must be an integer; got 1e\+300 \(float\)"),
        (-(10**400), ValueError, r"step must be an integer >= 0; got -1000000000"),
        ("1" * 500, TypeError, r"step must be an integer; got '1111"),
    ],
    ids=["inf", "float", "negative huge", "str"],
)
def test_a_step_that_is_no_integer_is_refused(step, error, message):
    with pytest.raises(error, match=message):
        schedules.ExponentialDecay(0.1, 0.9, per="step")(step)


# ------------------------------------------------ 7. SGDR in constant time


def _summed_period(n, t0, t_mult):
    """The reference: sum the periods one by one (the old loop)."""
    i, start, length = 0, 0, t0
    while n >= start + length:
        start += length
        length *= t_mult
        i += 1
    return i, n - start, length


@pytest.mark.parametrize(
    "t_mult", [1.00001, 1.0001, 1.001, 1.01, 1.1, 1.25, 1.5, 1.9, 2.0, 3.0, 7.3]
)
@pytest.mark.parametrize("t0", [1, 3, 4, 10, 100])
def test_the_closed_form_period_matches_summing(t0, t_mult):
    s = schedules.CosineDecay(1.0, t0, restarts=True, t_mult=t_mult, m_mul=0.9)
    rng = random.Random(t0)
    top = 10**4 if t_mult < 1.01 else 10**7
    for n in [*range(600), *(rng.randrange(top) for _ in range(100))]:
        i, t, length = s.period(n)
        ref_i, ref_t, ref_length = _summed_period(n, t0, t_mult)
        assert i == ref_i, n
        assert t == pytest.approx(ref_t, rel=1e-9, abs=1e-6), n
        assert length == pytest.approx(ref_length, rel=1e-12), n


def test_restarts_land_exactly_on_summed_boundaries():
    # periods 10, 19, 36.1: the closed form rounds S_2 = 29 to 29.000000000000004
    s = schedules.CosineDecay(1.0, 10, restarts=True, t_mult=1.9)
    assert s.period(29) == (2, 0, pytest.approx(36.1))
    assert s(29) == pytest.approx(1.0)


def test_a_late_step_is_fast():
    s = schedules.CosineDecay(1.0, 10, restarts=True, t_mult=1.0000001)
    begin = time.perf_counter()
    for n in (3_000_000, 10**9, 10**18, 10**400):
        s(n)
    assert time.perf_counter() - begin < 1.0  # closed forms: a loop over the steps never ends


# ---------------------------------------------- 8. no import circle in optim


def _imports(module_path: Path) -> set[str]:
    tree = ast.parse(module_path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
            found.update("." * node.level + alias.name for alias in node.names if not node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_base_never_imports_the_registry():
    base = Path(gdlab.optim.__file__).with_name("base.py")
    imports = _imports(base)
    assert not any("registry" in name for name in imports), imports
    assert gdlab.optim.load is registry_load


@pytest.mark.parametrize("value", [10**400, -(10**400)])
def test_an_integer_past_float_range_is_named_not_an_overflow_error(value):
    """float(10**400) raises OverflowError, which escaped as 'int too large to convert to float'."""
    from gdlab._checks import check_real
    from gdlab.schedules import Constant

    with pytest.raises(ValueError, match=r"lr must be finite and >= 0; got -?1000"):
        check_real("lr", value, low=0)
    with pytest.raises(ValueError, match=r"lr must be finite"):
        create("sgd", lr=value)
    with pytest.raises(ValueError, match=r"must be finite"):
        Constant(value)
