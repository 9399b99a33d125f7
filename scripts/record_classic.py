"""Record reference trajectories of Rprop, ASGD, FTRL, Adafactor and SM3.

``tests/test_classic.py`` replays every case recorded here through the
matching gdlab optimizer and checks it step by step, without importing any
reference library. This script is the only place they are used:

* ``torch.optim.Rprop``, ``ASGD`` and ``Adafactor`` (torch 2.13, the
  single-tensor path, ``foreach=False``), with ``torch.set_default_dtype(
  torch.float64)`` so that ASGD's η and μ are float64 too;
* ``keras.optimizers.Ftrl`` and ``Adafactor`` (Keras 3 on the torch backend,
  ``keras.config.set_floatx("float64")``: variables, learning rate and
  optimizer state all float64, and Keras's demotion of float64 results to
  float32 in ``ops.minimum`` and the like switched off);
* ``optax.sm3`` (optax 0.2.8, ``jax_enable_x64``), and for another ε the
  chain it is made of, ``chain(scale_by_sm3(b1, eps=ε), scale(−lr))``. optax's
  SM3 refuses 0-d parameters (its cover has no set for them), so its cases
  have none.

Regenerate (from the repository root)::

    pip install torch==2.13.0 keras optax   # CPU builds are enough
    python scripts/record_classic.py

It writes ``tests/data/classic_trajectories.npz`` (about 1 MB). Everything is
float64 and seeded, so running it again with the same versions gives the same
numbers. The cases share ``STREAMS`` streams of starting points and gradients
(case i takes stream i mod ``STREAMS``), stored once each.

File layout (arrays float64):

* ``meta``: a 0-d unicode array holding a JSON document: the versions,
  ``steps``, ``shapes``, ``streams`` and ``cases``, a list of ``{"name",
  "gdlab_class", "gdlab_kwargs", "reference", "reference_kwargs", "params",
  "stream"}`` (``params``: the parameter names the case uses).
* ``stream<k>/<param>/init``: the parameter before the first step.
* ``stream<k>/<param>/grads``: shape ``(steps, *shape)``, the gradient fed at
  each step (random, independent of the parameters, with a scale that
  drifts over time and some exact zeros).
* ``<case>/<param>/traj``: shape ``(steps, *shape)``, the reference's
  parameter after each step.
* ``<case>/<param>/ax`` (ASGD only): torch's averaged parameter ``ax``
  after each step.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"

import jax
import keras
import numpy as np
import optax
import torch
from keras.src.backend.common import dtypes as keras_dtypes

torch.set_default_dtype(torch.float64)
keras.config.set_floatx("float64")
# Keras promotes float64 to float32 in its binary ops on every backend but
# TensorFlow (to match JAX's default), so that Adafactor's min(lr, 1/√t) would
# be a float32 number: lift that, so that Keras computes in float64 throughout.
keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402  (after x64 is on)

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "classic_trajectories.npz"
STEPS = 250
# 24 numbers a case (float64 random numbers do not compress): a vector, a
# matrix, a stack of matrices (Adafactor and SM3 factor them) and a scalar.
SHAPES = {"vec": (5,), "mat": (3, 4), "cube": (2, 2, 3), "scalar": ()}
NO_SCALAR = [name for name, shape in SHAPES.items() if shape != ()]
ZERO_FRACTION = 0.08
STREAMS = 3


def case(name, gdlab_class, gdlab_kwargs, reference, reference_kwargs, params=None):
    return {
        "name": name,
        "gdlab_class": gdlab_class,
        "gdlab_kwargs": gdlab_kwargs,
        "reference": reference,
        "reference_kwargs": reference_kwargs,
        "params": list(params or SHAPES),
    }


def rprop(name, lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), maximize=False):
    gd = {
        "lr": lr,
        "etaminus": etas[0],
        "etaplus": etas[1],
        "step_size_min": step_sizes[0],
        "step_size_max": step_sizes[1],
        "maximize": maximize,
    }
    th = {"lr": lr, "etas": list(etas), "step_sizes": list(step_sizes), "maximize": maximize}
    return case(name, "Rprop", gd, "torch.optim.Rprop", th)


def asgd(name, **kwargs):
    return case(name, "ASGD", dict(kwargs), "torch.optim.ASGD", dict(kwargs))


def torch_adafactor(name, lr=0.01, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, wd=0.0, **extra):
    gd = {
        "lr": lr,
        "beta2_decay": beta2_decay,
        "eps1": eps[0],
        "eps2": eps[1],
        "d": d,
        "weight_decay": wd,
        **extra,
    }
    th = {
        "lr": lr,
        "beta2_decay": beta2_decay,
        "eps": list(eps),
        "d": d,
        "weight_decay": wd,
        **extra,
    }
    return case(name, "Adafactor", gd, "torch.optim.Adafactor", th)


def keras_adafactor(name, lr=0.001, decay=-0.8, eps1=1e-30, eps2=1e-3, clip=1.0, wd=None):
    gd = {
        "lr": lr,
        "beta2_decay": decay,
        "eps1": eps1,
        "eps2": eps2,
        "d": clip,
        "weight_decay": wd or 0.0,
        "form": "keras",
    }
    ks = {
        "learning_rate": lr,
        "beta_2_decay": decay,
        "epsilon_1": eps1,
        "epsilon_2": eps2,
        "clip_threshold": clip,
        "weight_decay": wd,
    }
    return case(name, "Adafactor", gd, "keras.optimizers.Adafactor", ks)


def ftrl(name, lr=0.001, **kwargs):
    return case(
        name, "FTRL", {"lr": lr, **kwargs}, "keras.optimizers.Ftrl", {"learning_rate": lr, **kwargs}
    )


def sm3(name, lr, momentum=0.9, eps=None):
    if eps is None:
        return case(
            name,
            "SM3",
            {"lr": lr, "momentum": momentum},
            "optax.sm3",
            {"learning_rate": lr, "momentum": momentum},
            params=NO_SCALAR,
        )
    # optax.sm3 fixes ε at scale_by_sm3's 1e-8: chain the same two transforms with another.
    return case(
        name,
        "SM3",
        {"lr": lr, "momentum": momentum, "eps": eps},
        "optax.scale_by_sm3",
        {"learning_rate": lr, "b1": momentum, "eps": eps},
        params=NO_SCALAR,
    )


CASES = [
    rprop("rprop_default"),
    rprop("rprop_bounds", lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2)),
    rprop("rprop_maximize", lr=0.02, etas=(0.6, 1.1), maximize=True),
    asgd("asgd_default"),
    # averaging from step 101 on, and from a t0 that is no integer
    asgd("asgd_averaging", lr=0.05, lambd=1e-3, alpha=0.6, t0=100.0, weight_decay=0.05),
    asgd("asgd_t0_fraction", lr=0.02, lambd=0.01, alpha=1.0, t0=30.5, maximize=True),
    ftrl("ftrl_default"),
    ftrl(
        "ftrl_l1_l2",
        lr=0.1,
        l1_regularization_strength=0.05,
        l2_regularization_strength=0.02,
        beta=0.5,
    ),
    ftrl(
        "ftrl_power_shrinkage",
        lr=0.05,
        learning_rate_power=-0.3,
        initial_accumulator_value=0.02,
        l1_regularization_strength=0.01,
        l2_shrinkage_regularization_strength=0.03,
    ),
    ftrl(
        "ftrl_fixed_rate",
        lr=0.02,
        learning_rate_power=0.0,
        initial_accumulator_value=0.0,
        l2_regularization_strength=0.1,
    ),
    torch_adafactor("adafactor_torch_default"),
    torch_adafactor(
        "adafactor_torch_all", lr=0.05, beta2_decay=-0.6, eps=(1e-20, 1e-2), d=1.5, wd=0.02
    ),
    torch_adafactor(
        "adafactor_torch_maximize", lr=0.2, beta2_decay=-0.9, eps=(None, 0.1), maximize=True
    ),
    keras_adafactor("adafactor_keras_default"),
    keras_adafactor(
        "adafactor_keras_all", lr=0.02, decay=-0.7, eps1=1e-20, eps2=1e-2, clip=1.2, wd=0.01
    ),
    sm3("sm3_default", lr=0.01),
    sm3("sm3_momentum", lr=0.1, momentum=0.5),
    sm3("sm3_no_momentum", lr=0.05, momentum=0.0),
    sm3("sm3_eps", lr=0.2, momentum=0.7, eps=1e-3),
]


def gradient_stream(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``STEPS`` gradients of one parameter, independent of its values.

    Standard normal numbers times a scale that drifts slowly between about
    0.03 and 30, with about ``ZERO_FRACTION`` exact zeros and a few steps
    whose whole gradient is zero.
    """
    t = np.arange(STEPS, dtype=np.float64)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    scale = 10.0 ** (1.5 * np.sin(2.0 * math.pi * t / 180.0 + phase))
    grads = rng.standard_normal((STEPS, *shape)) * scale.reshape((STEPS,) + (1,) * len(shape))
    grads[rng.random((STEPS, *shape)) < ZERO_FRACTION] = 0.0
    grads[rng.random(STEPS) < 0.02] = 0.0
    return grads


def run_torch(spec, inits, grads):
    tensors = {
        name: torch.from_numpy(init.copy()).requires_grad_(True) for name, init in inits.items()
    }
    kwargs = dict(spec["reference_kwargs"])
    for key in ("etas", "step_sizes", "eps"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    cls = getattr(torch.optim, spec["reference"].rsplit(".", 1)[1])
    opt = cls(list(tensors.values()), foreach=False, **kwargs)
    traj = {name: np.empty((STEPS, *init.shape)) for name, init in inits.items()}
    ax = {name: np.empty((STEPS, *init.shape)) for name, init in inits.items()}
    for step in range(STEPS):
        for name, tensor in tensors.items():
            tensor.grad = torch.from_numpy(grads[name][step, ...].copy())
        opt.step()
        with torch.no_grad():
            for name, tensor in tensors.items():
                traj[name][step] = tensor.detach().numpy()
                if spec["gdlab_class"] == "ASGD":
                    ax[name][step] = opt.state[tensor]["ax"].numpy()
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                assert value.dtype == torch.float64, (spec["name"], value.dtype)
    return traj, (ax if spec["gdlab_class"] == "ASGD" else None)


def run_keras(spec, inits, grads):
    variables = {
        name: keras.Variable(init.copy(), dtype="float64", name=name)
        for name, init in inits.items()
    }
    cls = getattr(keras.optimizers, spec["reference"].rsplit(".", 1)[1])
    opt = cls(**spec["reference_kwargs"])
    opt.build(list(variables.values()))
    traj = {name: np.empty((STEPS, *init.shape)) for name, init in inits.items()}
    for step in range(STEPS):
        opt.apply_gradients([(grads[name][step, ...].copy(), v) for name, v in variables.items()])
        for name, v in variables.items():
            value = v.value.detach()
            assert value.dtype == torch.float64, (spec["name"], value.dtype)
            traj[name][step] = value.numpy()
    for v in opt.variables:
        assert v.dtype in ("float64", "int64", "int32"), (spec["name"], v.path, v.dtype)
    return traj, None


def run_optax(spec, inits, grads):
    kwargs = spec["reference_kwargs"]
    if spec["reference"] == "optax.sm3":
        opt = optax.sm3(kwargs["learning_rate"], momentum=kwargs["momentum"])
    else:  # optax.sm3 is this chain with ε = 1e-8
        opt = optax.chain(
            optax.scale_by_sm3(b1=kwargs["b1"], eps=kwargs["eps"]),
            optax.scale(-kwargs["learning_rate"]),
        )
    params = {name: jnp.asarray(init) for name, init in inits.items()}
    state = opt.init(params)
    update = jax.jit(opt.update)
    traj = {name: np.empty((STEPS, *init.shape)) for name, init in inits.items()}
    for step in range(STEPS):
        g = {name: jnp.asarray(grads[name][step, ...]) for name in params}
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
        for name, value in params.items():
            assert value.dtype == jnp.float64, (spec["name"], value.dtype)
            traj[name][step] = np.asarray(value)
    return traj, None


def make_stream(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Starting points and gradients of every parameter in ``SHAPES``."""
    rng = np.random.default_rng(seed)
    inits = {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}
    grads = {name: gradient_stream(rng, shape) for name, shape in SHAPES.items()}
    return inits, grads


def record(spec: dict, stream: tuple) -> dict[str, np.ndarray]:
    inits = {name: stream[0][name] for name in spec["params"]}
    grads = {name: stream[1][name] for name in spec["params"]}
    library = spec["reference"].split(".", 1)[0]
    run = {"torch": run_torch, "keras": run_keras, "optax": run_optax}[library]
    traj, ax = run(spec, inits, grads)
    out = {}
    for name in spec["params"]:
        prefix = f"{spec['name']}/{name}"
        out[f"{prefix}/traj"] = traj[name]
        assert np.all(np.isfinite(traj[name])), prefix
        if ax is not None:
            out[f"{prefix}/ax"] = ax[name]
    return out


def main() -> None:
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    arrays: dict[str, np.ndarray] = {}
    streams = [make_stream(20_251_300 + k) for k in range(STREAMS)]
    for k, (inits, grads) in enumerate(streams):
        for name in SHAPES:
            arrays[f"stream{k}/{name}/init"] = inits[name]
            arrays[f"stream{k}/{name}/grads"] = grads[name]
    cases = []
    for index, spec in enumerate(CASES):
        arrays.update(record(spec, streams[index % STREAMS]))
        cases.append({**spec, "stream": index % STREAMS})
    meta = {
        "torch_version": torch.__version__,
        "keras_version": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "optax_version": optax.__version__,
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
        "dtype": "float64",
        "steps": STEPS,
        "shapes": {name: list(shape) for name, shape in SHAPES.items()},
        "streams": STREAMS,
        "foreach": False,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta, indent=1)), **arrays)
    size = OUT.stat().st_size
    print(f"wrote {OUT} ({len(cases)} cases, {STEPS} steps, {size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
