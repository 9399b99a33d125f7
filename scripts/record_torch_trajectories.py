"""Record PyTorch optimizer trajectories for gdlab's conformance tests.

``tests/test_torch_conformance.py`` replays every case recorded here through
the matching gdlab optimizer and checks it against torch step by step, without
importing torch. This script is the only place torch is used.

Regenerate (from the repository root)::

    pip install torch==2.13.0        # CPU wheel is enough
    python scripts/record_torch_trajectories.py

It writes ``tests/data/torch_trajectories.npz`` (one compressed file, a few MB).
Everything is float64 and seeded, so running it again with the same torch
version reproduces the same numbers.

File layout (all arrays float64 unless said):

* ``meta``: a 0-d unicode array holding a JSON document: ``torch_version``,
  ``numpy_version``, ``steps``, ``param_names``, ``shapes`` and ``cases``, a
  list of ``{"name", "gdlab_class", "gdlab_kwargs", "torch_class",
  "torch_kwargs", "seed"}``.
* ``<case>/<param>/init``: the parameter before the first step.
* ``<case>/<param>/grads``: shape ``(steps, *param_shape)``, the gradient fed
  at each step (random, independent of the parameters, with a scale that
  drifts over time and some exact zeros).
* ``<case>/<param>/traj``: shape ``(steps, *param_shape)``, torch's parameter
  after each step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

torch.set_default_dtype(torch.float64)  # before anything: torch's scalar state is float64 too

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "torch_trajectories.npz"
STEPS = 250
# Several shapes per case, a 0-d one included. 24 numbers a case keeps the file small:
# float64 random numbers do not compress.
SHAPES = {"vec": (5,), "mat": (3, 4), "cube": (2, 1, 3), "scalar": ()}
ZERO_FRACTION = 0.08


def case(name, gdlab_class, gdlab_kwargs, torch_class, torch_kwargs):
    return {
        "name": name,
        "gdlab_class": gdlab_class,
        "gdlab_kwargs": gdlab_kwargs,
        "torch_class": torch_class,
        "torch_kwargs": torch_kwargs,
    }


def momentum(name, lr, mu, dampening=0.0, wd=0.0):
    return case(
        name,
        "Momentum",
        {"lr": lr, "momentum": mu, "form": "torch", "dampening": dampening, "weight_decay": wd},
        "SGD",
        {"lr": lr, "momentum": mu, "dampening": dampening, "weight_decay": wd},
    )


def nesterov(name, lr, mu, wd=0.0):
    return case(
        name,
        "Nesterov",
        {"lr": lr, "momentum": mu, "form": "torch", "weight_decay": wd},
        "SGD",
        {"lr": lr, "momentum": mu, "nesterov": True, "weight_decay": wd},
    )


def adam_like(name, gdlab_class, torch_class, lr, betas=(0.9, 0.999), **extra):
    """Adam, AdamW, NAdam, RAdam, Adamax: torch's ``betas`` is gdlab's beta1, beta2."""
    gd = {"lr": lr, "beta1": betas[0], "beta2": betas[1], **extra}
    th = {"lr": lr, "betas": list(betas), **extra}
    return case(name, gdlab_class, gd, torch_class, th)


def same(name, gdlab_class, torch_class, **kwargs):
    """Optimizers whose gdlab and torch keyword names agree."""
    return case(name, gdlab_class, dict(kwargs), torch_class, dict(kwargs))


CASES = [
    # SGD
    same("sgd_plain", "SGD", "SGD", lr=0.05),
    same("sgd_wd", "SGD", "SGD", lr=0.05, weight_decay=0.1),
    # SGD with momentum (heavy ball)
    momentum("momentum_plain", lr=0.02, mu=0.9),
    momentum("momentum_dampening", lr=0.02, mu=0.9, dampening=0.3),
    momentum("momentum_wd", lr=0.02, mu=0.8, wd=0.05),
    momentum("momentum_dampening_wd", lr=0.03, mu=0.7, dampening=0.3, wd=0.02),
    # SGD with Nesterov momentum
    nesterov("nesterov_plain", lr=0.02, mu=0.9),
    nesterov("nesterov_wd", lr=0.02, mu=0.85, wd=0.05),
    # Adagrad
    same("adagrad_plain", "AdaGrad", "Adagrad", lr=0.1),
    same("adagrad_lr_decay", "AdaGrad", "Adagrad", lr=0.1, lr_decay=0.01),
    same(
        "adagrad_initial_acc_eps",
        "AdaGrad",
        "Adagrad",
        lr=0.1,
        initial_accumulator_value=0.1,
        eps=1e-6,
    ),
    same("adagrad_wd", "AdaGrad", "Adagrad", lr=0.1, weight_decay=0.1),
    same(
        "adagrad_all",
        "AdaGrad",
        "Adagrad",
        lr=0.2,
        lr_decay=0.005,
        initial_accumulator_value=0.5,
        eps=1e-4,
        weight_decay=0.02,
    ),
    # RMSprop
    same("rmsprop_plain", "RMSprop", "RMSprop", lr=0.01),
    same("rmsprop_centered", "RMSprop", "RMSprop", lr=0.01, centered=True),
    same("rmsprop_momentum", "RMSprop", "RMSprop", lr=0.005, momentum=0.9),
    same("rmsprop_centered_momentum", "RMSprop", "RMSprop", lr=0.005, centered=True, momentum=0.8),
    same("rmsprop_wd", "RMSprop", "RMSprop", lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1),
    same(
        "rmsprop_centered_momentum_wd",
        "RMSprop",
        "RMSprop",
        lr=0.005,
        alpha=0.95,
        eps=1e-5,
        centered=True,
        momentum=0.5,
        weight_decay=0.05,
    ),
    # Adam
    adam_like("adam_plain", "Adam", "Adam", lr=0.01),
    adam_like("adam_amsgrad", "Adam", "Adam", lr=0.01, amsgrad=True),
    adam_like("adam_wd", "Adam", "Adam", lr=0.01, weight_decay=0.1),
    adam_like("adam_amsgrad_wd", "Adam", "Adam", lr=0.01, amsgrad=True, weight_decay=0.05),
    adam_like("adam_betas_eps", "Adam", "Adam", lr=0.02, betas=(0.8, 0.95), eps=1e-6),
    # AdamW
    adam_like("adamw_plain", "AdamW", "AdamW", lr=0.01, weight_decay=0.1),
    adam_like("adamw_amsgrad", "AdamW", "AdamW", lr=0.01, amsgrad=True, weight_decay=0.05),
    adam_like(
        "adamw_betas", "AdamW", "AdamW", lr=0.02, betas=(0.85, 0.99), eps=1e-7, weight_decay=0.2
    ),
    # NAdam
    adam_like("nadam_plain", "NAdam", "NAdam", lr=0.01),
    adam_like("nadam_wd", "NAdam", "NAdam", lr=0.01, weight_decay=0.1),
    adam_like(
        "nadam_decoupled", "NAdam", "NAdam", lr=0.01, weight_decay=0.1, decoupled_weight_decay=True
    ),
    adam_like(
        "nadam_momentum_decay", "NAdam", "NAdam", lr=0.01, betas=(0.85, 0.99), momentum_decay=0.01
    ),
    # RAdam: rho_t <= 5 for the first few steps with any of these beta2, > 5 afterwards
    adam_like("radam_plain", "RAdam", "RAdam", lr=0.01),
    adam_like("radam_wd", "RAdam", "RAdam", lr=0.01, betas=(0.9, 0.99), weight_decay=0.1),
    adam_like(
        "radam_decoupled",
        "RAdam",
        "RAdam",
        lr=0.01,
        betas=(0.9, 0.95),
        weight_decay=0.1,
        decoupled_weight_decay=True,
    ),
    adam_like("radam_beta2_0.9", "RAdam", "RAdam", lr=0.01, betas=(0.8, 0.9), eps=1e-6),
    # Adamax (gdlab's default eps_inside=True is torch's form)
    adam_like("adamax_plain", "Adamax", "Adamax", lr=0.02),
    adam_like("adamax_wd", "Adamax", "Adamax", lr=0.02, weight_decay=0.1),
    adam_like("adamax_betas_eps", "Adamax", "Adamax", lr=0.02, betas=(0.8, 0.95), eps=1e-5),
    # Adadelta
    same("adadelta_plain", "Adadelta", "Adadelta", lr=1.0),
    same("adadelta_wd", "Adadelta", "Adadelta", lr=1.0, weight_decay=0.1),
    same("adadelta_rho_eps", "Adadelta", "Adadelta", lr=0.5, rho=0.95, eps=1e-7),
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


def radam_rectified_steps(beta2: float) -> list[bool]:
    """Whether RAdam's ``rho_t > 5`` at each step (torch's formula)."""
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    out = []
    for step in range(1, STEPS + 1):
        rho_t = rho_inf - 2.0 * step * beta2**step / (1.0 - beta2**step)
        out.append(rho_t > 5.0)
    return out


def record(spec: dict, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inits = {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}
    grads = {name: gradient_stream(rng, shape) for name, shape in SHAPES.items()}
    tensors = {name: torch.from_numpy(init.copy()) for name, init in inits.items()}
    for t in tensors.values():
        t.requires_grad_(True)
        assert t.dtype == torch.float64
    kwargs = dict(spec["torch_kwargs"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    opt = getattr(torch.optim, spec["torch_class"])(list(tensors.values()), foreach=False, **kwargs)
    traj = {name: np.empty((STEPS, *shape)) for name, shape in SHAPES.items()}
    for step in range(STEPS):
        for name, tensor in tensors.items():
            tensor.grad = torch.from_numpy(grads[name][step, ...].copy())
        opt.step()
        with torch.no_grad():
            for name, tensor in tensors.items():
                traj[name][step] = tensor.detach().numpy()
    # The scalar state must really be float64 (NAdam's mu_product, the step counts).
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                assert value.dtype == torch.float64, (spec["name"], value.dtype)
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
        seed = 20_240_000 + index
        arrays.update(record(spec, seed))
        cases.append({**spec, "seed": seed})
        if spec["gdlab_class"] == "RAdam":
            rectified = radam_rectified_steps(spec["gdlab_kwargs"]["beta2"])
            assert any(rectified), spec["name"]
            assert not all(rectified), spec["name"]
    meta = {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "dtype": "float64",
        "steps": STEPS,
        "param_names": list(SHAPES),
        "shapes": {name: list(shape) for name, shape in SHAPES.items()},
        "foreach": False,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta, indent=1)), **arrays)
    size = OUT.stat().st_size
    print(f"wrote {OUT} ({len(cases)} cases, {STEPS} steps, {size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
