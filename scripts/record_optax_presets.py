"""Record optax trajectories for the first eleven optimizers under ``preset="optax"``.

``tests/test_optax_presets.py`` replays every case through
``gdlab.optim.create(name, preset="optax", **kwargs)`` and checks it against optax
step by step, without importing optax or jax. This script is the only place
they are used.

Regenerate (from the repository root)::

    pip install optax          # with jax; x64 is switched on below
    python scripts/record_optax_presets.py

It writes ``tests/data/optax_presets.npz``: ``meta`` (a JSON document: versions,
steps, shapes and the cases, each ``{"name", "optimizer", "gdlab_kwargs",
"optax", "optax_kwargs", "seed"}``) and, per case and parameter, ``init``,
``grads`` (the gradient fed at each step) and ``traj`` (optax's parameter after
each step), all float64. Learning rates are plain floats: optax evaluates a
schedule at an int32 count in float32 even under x64, so a schedule cannot be
compared at 1e-10 (docs/optimizers.md says so).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "optax_presets.npz"
STEPS = 250
SHAPES = {"vec": (5,), "mat": (3, 4), "scalar": ()}
ZERO_FRACTION = 0.08


def case(name, optimizer, gdlab_kwargs, optax_name, optax_kwargs):
    return {
        "name": name,
        "optimizer": optimizer,
        "gdlab_kwargs": gdlab_kwargs,
        "optax": optax_name,
        "optax_kwargs": optax_kwargs,
    }


CASES = [
    case("sgd", "sgd", {"lr": 0.05}, "sgd", {"learning_rate": 0.05}),
    case(
        "momentum",
        "momentum",
        {"lr": 0.05, "momentum": 0.8},
        "sgd",
        {"learning_rate": 0.05, "momentum": 0.8},
    ),
    case(
        "nesterov",
        "nesterov",
        {"lr": 0.05, "momentum": 0.8},
        "sgd",
        {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True},
    ),
    case("adagrad", "adagrad", {"lr": 0.1}, "adagrad", {"learning_rate": 0.1}),
    case(
        "rmsprop",
        "rmsprop",
        {"lr": 0.01, "alpha": 0.95},
        "rmsprop",
        {"learning_rate": 0.01, "decay": 0.95},
    ),
    case(
        "rmsprop_centered",
        "rmsprop",
        {"lr": 0.01, "centered": True},
        "rmsprop",
        {"learning_rate": 0.01, "centered": True},
    ),
    case(
        "rmsprop_momentum",
        "rmsprop",
        {"lr": 0.01, "momentum": 0.5},
        "rmsprop",
        {"learning_rate": 0.01, "momentum": 0.5},
    ),
    case(
        "adadelta",
        "adadelta",
        {"lr": 1.0, "rho": 0.8},
        "adadelta",
        {"learning_rate": 1.0, "rho": 0.8},
    ),
    case(
        "adam",
        "adam",
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.99},
        "adam",
        {"learning_rate": 0.01, "b1": 0.8, "b2": 0.99},
    ),
    case(
        "adam_amsgrad",
        "adam",
        {"lr": 0.01, "beta2": 0.99, "amsgrad": True},
        "amsgrad",
        {"learning_rate": 0.01, "b2": 0.99},
    ),
    case(
        "adamw",
        "adamw",
        {"lr": 0.01, "weight_decay": 0.05},
        "adamw",
        {"learning_rate": 0.01, "weight_decay": 0.05},
    ),
    case("adamw_default_decay", "adamw", {"lr": 0.01}, "adamw", {"learning_rate": 0.01}),
    case(
        "adamax", "adamax", {"lr": 0.01, "beta1": 0.8}, "adamax", {"learning_rate": 0.01, "b1": 0.8}
    ),
    case(
        "nadam", "nadam", {"lr": 0.01, "beta2": 0.99}, "nadam", {"learning_rate": 0.01, "b2": 0.99}
    ),
    case(
        "radam",
        "radam",
        {"lr": 0.01, "beta2": 0.95},
        "radam",
        {"learning_rate": 0.01, "b2": 0.95},
    ),
]


def gradient_stream(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``STEPS`` gradients independent of the parameters: a drifting scale, some zeros."""
    t = np.arange(STEPS, dtype=np.float64)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    scale = 10.0 ** (1.5 * np.sin(2.0 * math.pi * t / 180.0 + phase))
    grads = rng.standard_normal((STEPS, *shape)) * scale.reshape((STEPS,) + (1,) * len(shape))
    grads[rng.random((STEPS, *shape)) < ZERO_FRACTION] = 0.0
    grads[rng.random(STEPS) < 0.02] = 0.0
    return grads


def record(spec: dict, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inits = {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}
    grads = {name: gradient_stream(rng, shape) for name, shape in SHAPES.items()}
    tx = getattr(optax, spec["optax"])(**spec["optax_kwargs"])
    params = {name: jnp.asarray(init) for name, init in inits.items()}
    state = tx.init(params)
    traj = {name: np.empty((STEPS, *shape)) for name, shape in SHAPES.items()}
    for step in range(STEPS):
        g = {name: jnp.asarray(grads[name][step]) for name in SHAPES}
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        for name in SHAPES:
            assert params[name].dtype == jnp.float64, (spec["name"], params[name].dtype)
            traj[name][step] = np.asarray(params[name])
    out = {}
    for name in SHAPES:
        out[f"{spec['name']}/{name}/init"] = inits[name]
        out[f"{spec['name']}/{name}/grads"] = grads[name]
        out[f"{spec['name']}/{name}/traj"] = traj[name]
    return out


def main() -> None:
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    arrays: dict[str, np.ndarray] = {}
    cases = []
    for index, spec in enumerate(CASES):
        seed = 20_261_130 + index
        arrays.update(record(spec, seed))
        cases.append({**spec, "seed": seed})
    meta = {
        "optax_version": optax.__version__,
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
        "dtype": "float64",
        "steps": STEPS,
        "param_names": list(SHAPES),
        "shapes": {name: list(shape) for name, shape in SHAPES.items()},
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta, indent=1)), **arrays)
    print(f"wrote {OUT} ({len(cases)} cases, {STEPS} steps, {OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
