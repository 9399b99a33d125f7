"""Record reference trajectories for gdlab's modern adaptive optimizers.

``tests/test_adaptive.py`` replays every case recorded here through the
matching gdlab optimizer (:mod:`gdlab.optim.adaptive`) and compares after
every step, without importing any reference library. This script is the only
place the references are used:

* optax 0.2.8 (with ``jax_enable_x64``, run eagerly): ``signum``, ``sign_sgd``,
  ``lion``, ``adabelief``, ``yogi`` / ``scale_by_yogi``, ``contrib.adopt``,
  ``contrib.ademamix`` (with the paper's warm-up schedulers passed as ``b3``
  and ``alpha``) and ``adan``;
* Keras 3 (``KERAS_BACKEND=torch``, ``floatx`` float64 so that the learning
  rate and the optimizer's variables are float64 too): ``optimizers.Lion``;
* the Adan authors' PyTorch ``Adan`` (github.com/sail-sg/Adan, ``adan.py``;
  single-tensor path, float64) for gdlab's default ``form="paper"``.

Regenerate (from the repository root)::

    pip install optax==0.2.8 jax keras torch==2.13.0
    git clone https://github.com/sail-sg/Adan /tmp/Adan     # the authors' code
    ADAN_REFERENCE=/tmp/Adan/adan.py python scripts/record_adaptive.py

It writes ``tests/data/adaptive_trajectories.npz`` (compressed, about 1 MB).
Everything is float64 and seeded: the same versions give the same numbers.

File layout (arrays float64):

* ``meta``: a 0-d unicode array holding JSON: the versions, ``steps``,
  ``param_names``, ``shapes`` and ``cases``, a list of ``{"name",
  "gdlab_class", "gdlab_kwargs", "reference", "reference_kwargs", "stream"}``.
* ``stream<k>/<param>/init`` and ``stream<k>/<param>/grads`` (shape
  ``(steps, *param_shape)``): the starting parameters and the gradients fed
  at each step (random, independent of the parameters, with a scale that
  drifts between about 0.03 and 30, and some exact zeros). Cases share
  streams to keep the file small.
* ``<case>/<param>/traj`` (shape ``(steps, *param_shape)``): the reference's
  parameter after each step.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "adaptive_trajectories.npz"
STEPS = 240
SHAPES = {"vec": (5,), "mat": (3, 4), "cube": (2, 1, 3), "scalar": ()}
ZERO_FRACTION = 0.08
STREAM_SEEDS = (20_251_300, 20_251_301, 20_251_302)


def case(name, gdlab_class, gdlab_kwargs, reference, reference_kwargs, stream):
    return {
        "name": name,
        "gdlab_class": gdlab_class,
        "gdlab_kwargs": gdlab_kwargs,
        "reference": reference,
        "reference_kwargs": reference_kwargs,
        "stream": stream,
    }


CASES = [
    # Signum / signSGD (optax.signum's beta is gdlab's momentum)
    case("signum_plain", "Signum", {"lr": 0.01}, "optax.signum", {"learning_rate": 0.01}, 0),
    case(
        "signum_momentum",
        "Signum",
        {"lr": 0.02, "momentum": 0.5},
        "optax.signum",
        {"learning_rate": 0.02, "beta": 0.5},
        1,
    ),
    case(
        "signsgd",
        "Signum",
        {"lr": 0.01, "momentum": 0.0},
        "optax.sign_sgd",
        {"learning_rate": 0.01},
        2,
    ),
    case(
        "signum_wd",
        "Signum",
        {"lr": 0.01, "momentum": 0.95, "weight_decay": 0.1},
        "optax.chain(add_decayed_weights, signum)",
        {"weight_decay": 0.1, "learning_rate": 0.01, "beta": 0.95},
        0,
    ),
    # Lion: optax (its default weight decay 1e-3) and Keras
    case("lion_optax", "Lion", {"lr": 0.01}, "optax.lion", {"learning_rate": 0.01}, 1),
    case(
        "lion_optax_betas_wd",
        "Lion",
        {"lr": 0.005, "beta1": 0.8, "beta2": 0.95, "weight_decay": 0.1},
        "optax.lion",
        {"learning_rate": 0.005, "b1": 0.8, "b2": 0.95, "weight_decay": 0.1},
        2,
    ),
    case(
        "lion_keras_default",
        "Lion",
        {"lr": 0.001, "weight_decay": 0.0},
        "keras.optimizers.Lion",
        {},
        0,
    ),
    case(
        "lion_keras_wd",
        "Lion",
        {"lr": 0.003, "beta1": 0.85, "beta2": 0.98, "weight_decay": 0.05},
        "keras.optimizers.Lion",
        {"learning_rate": 0.003, "beta_1": 0.85, "beta_2": 0.98, "weight_decay": 0.05},
        1,
    ),
    # AdaBelief
    case(
        "adabelief_plain", "AdaBelief", {"lr": 0.01}, "optax.adabelief", {"learning_rate": 0.01}, 2
    ),
    case(
        "adabelief_nesterov",
        "AdaBelief",
        {"lr": 0.01, "nesterov": True},
        "optax.adabelief",
        {"learning_rate": 0.01, "nesterov": True},
        0,
    ),
    case(
        "adabelief_paper_eps",
        "AdaBelief",
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-8, "eps_root": 0.0},
        "optax.adabelief",
        {"learning_rate": 0.02, "b1": 0.8, "b2": 0.99, "eps": 1e-8, "eps_root": 0.0},
        1,
    ),
    # Yogi
    case("yogi_plain", "Yogi", {"lr": 0.01}, "optax.yogi", {"learning_rate": 0.01}, 2),
    case(
        "yogi_betas_eps",
        "Yogi",
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-4},
        "optax.yogi",
        {"learning_rate": 0.02, "b1": 0.8, "b2": 0.99, "eps": 1e-4},
        0,
    ),
    case(
        "yogi_initial_root",
        "Yogi",
        {"lr": 0.01, "eps_root": 1e-6, "initial_accumulator_value": 0.1},
        "optax.chain(scale_by_yogi, scale_by_learning_rate)",
        {"learning_rate": 0.01, "eps_root": 1e-6, "initial_accumulator_value": 0.1},
        1,
    ),
    # ADOPT
    case("adopt_plain", "ADOPT", {"lr": 0.01}, "optax.contrib.adopt", {"learning_rate": 0.01}, 2),
    case(
        "adopt_no_clipping",
        "ADOPT",
        {"lr": 0.01, "use_clipping": False},
        "optax.contrib.adopt",
        {"learning_rate": 0.01, "use_clipping": False},
        0,
    ),
    case(
        "adopt_nesterov_betas",
        "ADOPT",
        {"lr": 0.005, "beta1": 0.8, "beta2": 0.99, "eps": 1e-4, "nesterov": True},
        "optax.contrib.adopt",
        {"learning_rate": 0.005, "b1": 0.8, "b2": 0.99, "eps": 1e-4, "nesterov": True},
        1,
    ),
    # AdEMAMix
    case(
        "ademamix_plain",
        "AdEMAMix",
        {"lr": 0.01},
        "optax.contrib.ademamix",
        {"learning_rate": 0.01},
        2,
    ),
    case(
        "ademamix_all",
        "AdEMAMix",
        {
            "lr": 0.01,
            "beta1": 0.8,
            "beta2": 0.99,
            "beta3": 0.999,
            "alpha": 8.0,
            "eps": 1e-6,
            "eps_root": 1e-8,
            "weight_decay": 0.1,
        },
        "optax.contrib.ademamix",
        {
            "learning_rate": 0.01,
            "b1": 0.8,
            "b2": 0.99,
            "b3": 0.999,
            "alpha": 8.0,
            "eps": 1e-6,
            "eps_root": 1e-8,
            "weight_decay": 0.1,
        },
        0,
    ),
    case(
        "ademamix_warmup",
        "AdEMAMix",
        {"lr": 0.01, "beta3": 0.999, "alpha_warmup": 100, "beta3_warmup": 150},
        "optax.contrib.ademamix",
        {"learning_rate": 0.01, "b3": 0.999, "alpha_warmup": 100, "beta3_warmup": 150},
        1,
    ),
    # Adan: optax's form, and the paper's as the authors' code runs it
    case(
        "adan_optax",
        "Adan",
        {"lr": 0.01, "form": "optax", "eps_root": 1e-8},
        "optax.adan",
        {"learning_rate": 0.01},
        2,
    ),
    case(
        "adan_optax_wd",
        "Adan",
        {
            "lr": 0.01,
            "beta1": 0.9,
            "beta2": 0.8,
            "beta3": 0.95,
            "eps": 1e-6,
            "eps_root": 0.0,
            "weight_decay": 0.1,
            "form": "optax",
        },
        "optax.adan",
        {
            "learning_rate": 0.01,
            "b1": 0.9,
            "b2": 0.8,
            "b3": 0.95,
            "eps": 1e-6,
            "eps_root": 0.0,
            "weight_decay": 0.1,
        },
        0,
    ),
    case("adan_paper", "Adan", {"lr": 0.01}, "sail-sg/Adan", {"lr": 0.01}, 1),
    case(
        "adan_paper_wd",
        "Adan",
        {"lr": 0.01, "beta1": 0.9, "beta2": 0.8, "beta3": 0.95, "eps": 1e-6, "weight_decay": 0.1},
        "sail-sg/Adan",
        {"lr": 0.01, "betas": [0.9, 0.8, 0.95], "eps": 1e-6, "weight_decay": 0.1},
        2,
    ),
]


# ------------------------------------------------------------------ gradients


def gradient_stream(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``STEPS`` gradients of one parameter, independent of its values.

    Standard normal numbers times a scale that drifts slowly between about
    0.03 and 30, with about ``ZERO_FRACTION`` exact zeros and a few steps
    whose whole gradient is zero (as ``record_torch_trajectories.py``).
    """
    t = np.arange(STEPS, dtype=np.float64)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    scale = 10.0 ** (1.5 * np.sin(2.0 * math.pi * t / 180.0 + phase))
    grads = rng.standard_normal((STEPS, *shape)) * scale.reshape((STEPS,) + (1,) * len(shape))
    grads[rng.random((STEPS, *shape)) < ZERO_FRACTION] = 0.0
    grads[rng.random(STEPS) < 0.02] = 0.0
    return grads


def make_stream(seed: int) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    inits = {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}
    grads = {name: gradient_stream(rng, shape) for name, shape in SHAPES.items()}
    return inits, grads


# ------------------------------------------------------------------ optax


def ademamix_alpha_warmup(alpha: float, steps: int):
    """The paper's α scheduler, min(s·α/T, α), at optax's count s (t − 1)."""

    def schedule(count):
        s = jnp.asarray(count, jnp.float64)
        return alpha * jnp.minimum(s / steps, 1.0)

    return schedule


def ademamix_beta3_warmup(beta_start: float, beta3: float, steps: int):
    """The paper's β3 scheduler (linear in the half-life) from β1 to β3, at count s."""
    log_start, log_end = math.log(beta_start), math.log(beta3)

    def schedule(count):
        a = jnp.minimum(jnp.asarray(count, jnp.float64) / steps, 1.0)
        value = jnp.exp(log_start * log_end / ((1.0 - a) * log_end + a * log_start))
        return jnp.minimum(value, beta3)

    return schedule


def optax_transform(reference: str, kw: dict):
    kw = dict(kw)
    if reference == "optax.signum":
        return optax.signum(**kw)
    if reference == "optax.sign_sgd":
        return optax.sign_sgd(**kw)
    if reference == "optax.chain(add_decayed_weights, signum)":
        wd = kw.pop("weight_decay")
        return optax.chain(optax.add_decayed_weights(wd), optax.signum(**kw))
    if reference == "optax.lion":
        return optax.lion(**kw)
    if reference == "optax.adabelief":
        return optax.adabelief(**kw)
    if reference == "optax.yogi":
        return optax.yogi(**kw)
    if reference == "optax.chain(scale_by_yogi, scale_by_learning_rate)":
        lr = kw.pop("learning_rate")
        return optax.chain(optax.scale_by_yogi(**kw), optax.scale_by_learning_rate(lr))
    if reference == "optax.contrib.adopt":
        return optax.contrib.adopt(**kw)
    if reference == "optax.contrib.ademamix":
        alpha_steps = kw.pop("alpha_warmup", 0)
        beta3_steps = kw.pop("beta3_warmup", 0)
        if alpha_steps:
            kw["alpha"] = ademamix_alpha_warmup(kw.get("alpha", 5.0), alpha_steps)
        if beta3_steps:
            kw["b3"] = ademamix_beta3_warmup(kw.get("b1", 0.9), kw.get("b3", 0.9999), beta3_steps)
        return optax.contrib.ademamix(**kw)
    if reference == "optax.adan":
        return optax.adan(**kw)
    raise ValueError(f"no optax reference {reference!r}")


def run_optax(spec: dict, inits: dict, grads: dict) -> dict[str, np.ndarray]:
    tx = optax_transform(spec["reference"], spec["reference_kwargs"])
    params = {name: jnp.asarray(init) for name, init in inits.items()}
    state = tx.init(params)
    traj = {name: np.empty((STEPS, *shape)) for name, shape in SHAPES.items()}
    for step in range(STEPS):
        g = {name: jnp.asarray(grads[name][step]) for name in SHAPES}
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        for name in SHAPES:
            assert params[name].dtype == jnp.float64
            traj[name][step] = np.asarray(params[name])
    return traj


# ------------------------------------------------------------------ Keras


def run_keras(spec: dict, inits: dict, grads: dict) -> dict[str, np.ndarray]:
    assert keras.backend.backend() == "torch"
    keras.config.set_floatx("float64")  # the lr variable and the momenta in float64
    variables = {name: keras.Variable(init.copy(), dtype="float64") for name, init in inits.items()}
    opt = getattr(keras.optimizers, spec["reference"].rsplit(".", 1)[1])(**spec["reference_kwargs"])
    traj = {name: np.empty((STEPS, *shape)) for name, shape in SHAPES.items()}
    for step in range(STEPS):
        pairs = [(torch.from_numpy(np.array(grads[n][step])), variables[n]) for n in SHAPES]
        opt.apply_gradients(pairs)
        for name in SHAPES:
            value = keras.ops.convert_to_numpy(variables[name].value)
            assert value.dtype == np.float64
            traj[name][step] = value
    assert keras.ops.convert_to_numpy(opt.learning_rate).dtype == np.float64
    return traj


# ------------------------------------------------------------------ Adan authors' code


def load_authors_adan():
    path = os.environ.get("ADAN_REFERENCE")
    if not path:
        raise SystemExit(
            "set ADAN_REFERENCE to the Adan authors' adan.py "
            "(git clone https://github.com/sail-sg/Adan; ADAN_REFERENCE=.../Adan/adan.py)"
        )
    spec = importlib.util.spec_from_file_location("authors_adan", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return module.Adan, digest


def run_authors_adan(adan_class, spec: dict, inits: dict, grads: dict) -> dict[str, np.ndarray]:
    torch.set_default_dtype(torch.float64)
    tensors = {
        name: torch.from_numpy(init.copy()).requires_grad_(True) for name, init in inits.items()
    }
    kw = dict(spec["reference_kwargs"])
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    opt = adan_class(list(tensors.values()), foreach=False, **kw)
    traj = {name: np.empty((STEPS, *shape)) for name, shape in SHAPES.items()}
    for step in range(STEPS):
        for name, tensor in tensors.items():
            tensor.grad = torch.from_numpy(np.array(grads[name][step]))
        opt.step()
        with torch.no_grad():
            for name, tensor in tensors.items():
                assert tensor.dtype == torch.float64
                traj[name][step] = tensor.detach().numpy()
    return traj


# ------------------------------------------------------------------ main


def main() -> None:
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    adan_class, adan_digest = load_authors_adan()
    streams = [make_stream(seed) for seed in STREAM_SEEDS]
    arrays: dict[str, np.ndarray] = {}
    for k, (inits, grads) in enumerate(streams):
        for name in SHAPES:
            arrays[f"stream{k}/{name}/init"] = inits[name]
            arrays[f"stream{k}/{name}/grads"] = grads[name]
    for spec in CASES:
        inits, grads = streams[spec["stream"]]
        if spec["reference"].startswith("optax"):
            traj = run_optax(spec, inits, grads)
        elif spec["reference"].startswith("keras"):
            traj = run_keras(spec, inits, grads)
        else:
            traj = run_authors_adan(adan_class, spec, inits, grads)
        for name in SHAPES:
            assert np.all(np.isfinite(traj[name])), (spec["name"], name)
            arrays[f"{spec['name']}/{name}/traj"] = traj[name]
        print(f"recorded {spec['name']}")
    meta = {
        "optax_version": optax.__version__,
        "jax_version": jax.__version__,
        "keras_version": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "adan_reference_sha256": adan_digest,
        "dtype": "float64",
        "steps": STEPS,
        "param_names": list(SHAPES),
        "shapes": {name: list(shape) for name, shape in SHAPES.items()},
        "stream_seeds": list(STREAM_SEEDS),
        "cases": CASES,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta, indent=1)), **arrays)
    size = OUT.stat().st_size
    print(f"wrote {OUT} ({len(CASES)} cases, {STEPS} steps, {size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
