"""Record LARS, LAMB, NovoGrad and Muon trajectories from their reference libraries.

``tests/test_layerwise.py`` replays every case recorded here through the
matching gdlab optimizer and compares after every step, without importing the
references. This script is the only place they are used:

* LARS, LAMB, NovoGrad: ``optax`` (0.2.8) with ``jax_enable_x64``;
* LAMB's ``form="keras"``: ``keras.optimizers.Lamb`` (Keras 3, torch backend,
  ``floatx`` float64 so that the learning rate is not rounded to float32);
* Muon: ``torch.optim.Muon`` (torch 2.13), on matrices only (torch refuses
  anything else), with the Newton–Schulz iteration run in float64: torch casts
  it to bfloat16, so this script swaps in the same iteration without that
  cast (everything else in torch's update is torch's own code).

Regenerate (from the repository root)::

    python scripts/record_layerwise.py

It writes ``tests/data/layerwise_trajectories.npz``. Everything is float64
and seeded, so running it again with the same versions gives the same numbers.

File layout (arrays float64):

* ``meta``: a 0-d unicode array holding a JSON document: versions,
  ``steps``, ``shapes`` (per shape set) and ``cases``, a list of ``{"name",
  "gdlab_class", "gdlab_kwargs", "library", "reference", "reference_kwargs",
  "shapes", "zero_init", "seed"}``.
* ``<case>/<param>/init``, ``<case>/<param>/grads`` (steps × shape) and
  ``<case>/<param>/traj`` (the reference's parameter after each step).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import jax
import numpy as np
import torch

jax.config.update("jax_enable_x64", True)
torch.set_default_dtype(torch.float64)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import optax  # noqa: E402
import torch.optim._muon as torch_muon  # noqa: E402

keras.config.set_floatx("float64")

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "layerwise_trajectories.npz"
STEPS = 220
ZERO_FRACTION = 0.08
# About 24 numbers a case: float64 random numbers do not compress.
SHAPES = {
    "mixed": {"vec": (5,), "mat": (3, 4), "cube": (2, 1, 3), "scalar": ()},
    # Muon's: matrices only, wide, tall, square and a single row.
    "matrices": {"wide": (2, 5), "tall": (4, 2), "square": (3, 3), "row": (1, 4)},
}


def case(name, gdlab_class, gdlab_kwargs, library, reference, reference_kwargs, **extra):
    return {
        "name": name,
        "gdlab_class": gdlab_class,
        "gdlab_kwargs": gdlab_kwargs,
        "library": library,
        "reference": reference,
        "reference_kwargs": reference_kwargs,
        "shapes": extra.get("shapes", "mixed"),
        # Parameters that start at zero: the trust ratio's ‖p‖ = 0 branch.
        "zero_init": extra.get("zero_init", []),
    }


def lars(name, lr, gd=None, ox=None, **extra):
    gd, ox = dict(gd or {}), dict(ox or {})
    return case(name, "LARS", {"lr": lr, **gd}, "optax", "lars", {"learning_rate": lr, **ox},
                **extra)  # fmt: skip


def optax_adamlike(name, cls, ref, lr, b1=None, b2=None, gd=None, ox=None, **extra):
    gd, ox = dict(gd or {}), dict(ox or {})
    if b1 is not None:
        gd["beta1"], ox["b1"] = b1, b1
    if b2 is not None:
        gd["beta2"], ox["b2"] = b2, b2
    return case(name, cls, {"lr": lr, **gd}, "optax", ref, {"learning_rate": lr, **ox}, **extra)


def keras_lamb(name, lr, beta1=0.9, beta2=0.999, eps=1e-7, wd=0.0, **extra):
    gd = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": wd}
    kr = {"learning_rate": lr, "beta_1": beta1, "beta_2": beta2, "epsilon": eps}
    if wd:
        kr["weight_decay"] = wd
    return case(name, "LAMB", {**gd, "form": "keras"}, "keras", "Lamb", kr, **extra)


def muon(name, lr, gd=None, th=None):
    gd, th = dict(gd or {}), dict(th or {})
    return case(name, "Muon", {"lr": lr, **gd}, "torch", "Muon", {"lr": lr, **th},
                shapes="matrices")  # fmt: skip


CASES = [
    # LARS (optax.lars)
    lars("lars_plain", 1.0, zero_init=["cube"]),
    lars("lars_no_momentum", 2.0, gd={"momentum": 0.0}, ox={"momentum": 0.0}),
    lars(
        "lars_nesterov_wd",
        0.5,
        gd={
            "momentum": 0.8,
            "nesterov": True,
            "weight_decay": 0.01,
            "trust_coefficient": 0.02,
            "eps": 1e-4,
        },
        ox={
            "momentum": 0.8,
            "nesterov": True,
            "weight_decay": 0.01,
            "trust_coefficient": 0.02,
            "eps": 1e-4,
        },
    ),
    lars(
        "lars_masks",
        1.0,
        gd={"weight_decay": 0.05, "weight_decay_mask": "mat|cube", "trust_ratio_mask": "vec|mat"},
        ox={
            "weight_decay": 0.05,
            "weight_decay_mask": {"vec": False, "mat": True, "cube": True, "scalar": False},
            "trust_ratio_mask": {"vec": True, "mat": True, "cube": False, "scalar": False},
        },
        zero_init=["vec"],
    ),
    # LAMB (optax.lamb)
    optax_adamlike("lamb_plain", "LAMB", "lamb", 0.01, zero_init=["cube"]),
    optax_adamlike(
        "lamb_wd",
        "LAMB",
        "lamb",
        0.02,
        b1=0.8,
        b2=0.99,
        gd={"eps": 1e-4, "weight_decay": 0.1},
        ox={"eps": 1e-4, "weight_decay": 0.1},
    ),
    optax_adamlike(
        "lamb_mask",
        "LAMB",
        "lamb",
        0.01,
        gd={"weight_decay": 0.2, "weight_decay_mask": "mat|cube"},
        ox={
            "weight_decay": 0.2,
            "mask": {"vec": False, "mat": True, "cube": True, "scalar": False},
        },
        zero_init=["mat"],
    ),
    # LAMB (keras.optimizers.Lamb)
    keras_lamb("lamb_keras_plain", 0.01, zero_init=["cube"]),
    keras_lamb("lamb_keras_wd", 0.02, beta1=0.8, beta2=0.99, eps=1e-5, wd=0.1),
    # NovoGrad (optax.novograd)
    optax_adamlike("novograd_plain", "NovoGrad", "novograd", 0.01),
    optax_adamlike(
        "novograd_wd",
        "NovoGrad",
        "novograd",
        0.005,
        b1=0.8,
        b2=0.6,
        gd={"eps": 1e-4, "weight_decay": 0.05},
        ox={"eps": 1e-4, "weight_decay": 0.05},
    ),
    # Muon (torch.optim.Muon)
    muon("muon_plain", 0.02),
    muon(
        "muon_plain_momentum",
        0.02,
        gd={"momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
        th={"momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
    ),
    muon(
        "muon_match_rms_adamw",
        0.01,
        gd={"adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.05, "eps": 1e-5},
        th={"adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.05, "eps": 1e-5},
    ),
    muon(
        "muon_coefficients",
        0.03,
        gd={"ns_a": 3.0, "ns_b": -3.2, "ns_c": 1.2, "ns_steps": 7, "momentum": 0.8},
        th={
            "ns_coefficients": [3.0, -3.2, 1.2],
            "ns_steps": 7,
            "momentum": 0.8,
            "adjust_lr_fn": "original",
        },
    ),
]


def gradient_stream(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``STEPS`` gradients of one parameter, independent of its values.

    Standard normal numbers times a scale that drifts slowly between about
    0.03 and 30, with about ``ZERO_FRACTION`` exact zeros and a few steps
    whose whole gradient is zero (the first one included, for one parameter:
    a zero update norm on the first step).
    """
    t = np.arange(STEPS, dtype=np.float64)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    scale = 10.0 ** (1.5 * np.sin(2.0 * math.pi * t / 180.0 + phase))
    grads = rng.standard_normal((STEPS, *shape)) * scale.reshape((STEPS,) + (1,) * len(shape))
    grads[rng.random((STEPS, *shape)) < ZERO_FRACTION] = 0.0
    grads[rng.random(STEPS) < 0.02] = 0.0
    return grads


# ---------------------------------------------------------------- the runners


def run_optax(spec, inits, grads):
    kwargs = dict(spec["reference_kwargs"])
    opt = getattr(optax, spec["reference"])(**kwargs)
    params = {k: jnp.asarray(v) for k, v in inits.items()}
    state = opt.init(params)
    update = jax.jit(opt.update)
    traj = {k: np.empty((STEPS, *v.shape)) for k, v in inits.items()}
    for step in range(STEPS):
        g = {k: jnp.asarray(grads[k][step, ...]) for k in inits}
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
        for k in inits:
            assert params[k].dtype == jnp.float64
            traj[k][step] = np.asarray(params[k])
    return traj


def run_keras(spec, inits, grads):
    opt = getattr(keras.optimizers, spec["reference"])(**spec["reference_kwargs"])
    variables = {k: keras.Variable(v.copy(), dtype="float64", name=k) for k, v in inits.items()}
    traj = {k: np.empty((STEPS, *v.shape)) for k, v in inits.items()}
    for step in range(STEPS):
        pairs = [(torch.from_numpy(grads[k][step, ...].copy()), variables[k]) for k in inits]
        opt.apply_gradients(pairs)
        for k, var in variables.items():
            assert var.value.dtype == torch.float64
            traj[k][step] = np.asarray(var.numpy())
    assert opt.learning_rate.dtype == "float64"
    return traj


def _newton_schulz_float64(grad, ns_coefficients, ns_steps, eps):
    """torch's ``_zeropower_via_newtonschulz`` without the cast to bfloat16."""
    if len(grad.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    a, b, c = ns_coefficients
    x = grad.clone()
    tall = grad.size(0) > grad.size(1)
    if tall:
        x = x.T
    x.div_(x.norm().clamp(min=eps))
    for _ in range(ns_steps):
        gram = x @ x.T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, poly, x, beta=a)
    return x.T if tall else x


def run_torch(spec, inits, grads):
    kwargs = dict(spec["reference_kwargs"])
    if "ns_coefficients" in kwargs:
        kwargs["ns_coefficients"] = tuple(kwargs["ns_coefficients"])
    tensors = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in inits.items()}
    opt = getattr(torch.optim, spec["reference"])(list(tensors.values()), **kwargs)
    traj = {k: np.empty((STEPS, *v.shape)) for k, v in inits.items()}
    original = torch_muon._zeropower_via_newtonschulz
    torch_muon._zeropower_via_newtonschulz = _newton_schulz_float64
    try:
        for step in range(STEPS):
            for k, t in tensors.items():
                t.grad = torch.from_numpy(grads[k][step, ...].copy())
            opt.step()
            with torch.no_grad():
                for k, t in tensors.items():
                    assert t.dtype == torch.float64
                    traj[k][step] = t.detach().numpy()
    finally:
        torch_muon._zeropower_via_newtonschulz = original
    return traj


RUNNERS = {"optax": run_optax, "keras": run_keras, "torch": run_torch}


def record(spec, seed):
    rng = np.random.default_rng(seed)
    shapes = SHAPES[spec["shapes"]]
    inits = {k: rng.standard_normal(s) for k, s in shapes.items()}
    for k in spec["zero_init"]:
        inits[k][...] = 0.0
    grads = {k: gradient_stream(rng, s) for k, s in shapes.items()}
    first = next(iter(shapes))
    grads[first][0] = 0.0  # a zero update on the very first step
    traj = RUNNERS[spec["library"]](spec, inits, grads)
    out = {}
    for k in shapes:
        out[f"{spec['name']}/{k}/init"] = inits[k]
        out[f"{spec['name']}/{k}/grads"] = grads[k]
        out[f"{spec['name']}/{k}/traj"] = traj[k]
    return out


def main() -> None:
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    arrays: dict[str, np.ndarray] = {}
    cases = []
    for index, spec in enumerate(CASES):
        seed = 20_250_500 + index
        arrays.update(record(spec, seed))
        cases.append({**spec, "seed": seed})
        print(f"recorded {spec['name']}")
    meta = {
        "optax_version": optax.__version__,
        "jax_version": jax.__version__,
        "keras_version": keras.__version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "dtype": "float64",
        "steps": STEPS,
        "shapes": {n: {k: list(s) for k, s in table.items()} for n, table in SHAPES.items()},
        "muon_newton_schulz": "float64 (torch's bfloat16 cast removed)",
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta, indent=1)), **arrays)
    size = OUT.stat().st_size
    print(f"wrote {OUT} ({len(cases)} cases, {STEPS} steps, {size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
