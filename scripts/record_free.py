"""Record optax trajectories of Schedule-Free, Prodigy and D-Adaptation for gdlab's tests.

``tests/test_schedule_free.py`` and ``tests/test_parameter_free.py`` replay
every case recorded here through the matching gdlab optimizer and compare it
with optax step by step, without importing optax or jax. This script is the
only place they are used.

Regenerate (from the repository root)::

    pip install optax==0.2.8          # with jax; CPU is enough
    python scripts/record_free.py

It writes ``tests/data/free_trajectories.npz`` (compressed, about 1 MB).
Everything is float64 (``jax_enable_x64``) and seeded; optax runs eagerly
(no ``jit``), one operation at a time.

Learning rates: optax evaluates a warm-up schedule at an int32 count and
returns a float32 rate even under x64 (``shared/CONVENTIONS.md``), where
gdlab computes the rate in float64. The warm-up cases use a learning rate and
a number of warm-up steps for which every rate of the warm-up is exact in
float32 (``lr·k/warmup_steps`` with ``lr`` and ``warmup_steps`` powers of
two), so that the two agree; the script checks it.

File layout (all arrays float64 unless said):

* ``meta``: a 0-d unicode array holding a JSON document: ``optax_version``,
  ``jax_version``, ``numpy_version``, ``steps``, ``param_names``, ``shapes``
  and ``cases``, a list of ``{"name", "gradients", "gdlab_class",
  "gdlab_kwargs", "optax_function", "optax_kwargs", "seed"}``.
* ``<case>/<param>/init``: the parameter before the first step.
* ``<case>/<param>/grads``: shape ``(steps, *param_shape)``, the gradient fed at
  each step: for Schedule-Free random numbers independent of the parameters
  (``"gradients": "noise"``); for Prodigy and D-Adaptation a noisy quadratic's
  gradient at optax's parameters (``"quadratic"``, see
  :class:`QuadraticGradients`); both times a scale that drifts over the run,
  with some exact zeros.
* ``<case>/<param>/traj``: shape ``(steps, *param_shape)``, optax's parameter
  after each step (for Schedule-Free: y, the point the gradient is taken at).
* ``<case>/<param>/eval`` (Schedule-Free only): ``schedule_free_eval_params``
  after each step (x, the point to evaluate at).
* ``<case>/d`` (Prodigy, D-Adaptation): shape ``(steps,)``, optax's
  ``estim_lr`` after each step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from optax import contrib  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "free_trajectories.npz"
STEPS = 250
# 24 numbers a case, a 0-d parameter among them.
SHAPES = {"vec": (5,), "mat": (3, 4), "cube": (2, 1, 3), "scalar": ()}
ZERO_FRACTION = 0.08


def case(name, gdlab_class, gdlab_kwargs, optax_function, optax_kwargs):
    quadratic = optax_function in ("prodigy", "dadapt_adamw")
    return {
        "name": name,
        "gradients": "quadratic" if quadratic else "noise",
        "gdlab_class": gdlab_class,
        "gdlab_kwargs": gdlab_kwargs,
        "optax_function": optax_function,
        "optax_kwargs": optax_kwargs,
    }


def schedule_free(name, gdlab_class, optax_function, **kwargs):
    """gdlab's beta1/beta2 are optax's b1/b2; warmup_steps 0 is optax's None."""
    renamed = {"lr": "learning_rate", "beta1": "b1", "beta2": "b2"}
    ox = {renamed.get(k, k): v for k, v in kwargs.items()}
    if ox.get("warmup_steps") == 0:
        ox["warmup_steps"] = None
    return case(name, gdlab_class, dict(kwargs), optax_function, ox)


def distance(name, gdlab_class, optax_function, **kwargs):
    """gdlab's beta1/beta2 are optax's betas, d0 and d_coef its estim_lr0, estim_lr_coef."""
    renamed = {"lr": "learning_rate", "d0": "estim_lr0", "d_coef": "estim_lr_coef"}
    ox = {renamed.get(k, k): v for k, v in kwargs.items() if k not in ("beta1", "beta2")}
    if "beta1" in kwargs or "beta2" in kwargs:
        ox["betas"] = [kwargs.get("beta1", 0.9), kwargs.get("beta2", 0.999)]
    return case(name, gdlab_class, dict(kwargs), optax_function, ox)


CASES = [
    schedule_free("sf_sgd_plain", "ScheduleFreeSGD", "schedule_free_sgd", lr=0.1),
    schedule_free(
        "sf_sgd_all",
        "ScheduleFreeSGD",
        "schedule_free_sgd",
        lr=0.5,
        beta1=0.8,
        warmup_steps=16,
        weight_decay=0.05,
        weight_lr_power=1.0,
    ),
    schedule_free("sf_adamw_plain", "ScheduleFreeAdamW", "schedule_free_adamw", lr=0.01),
    schedule_free(
        "sf_adamw_all",
        "ScheduleFreeAdamW",
        "schedule_free_adamw",
        lr=0.0625,
        beta1=0.95,
        beta2=0.99,
        eps=1e-6,
        warmup_steps=8,
        weight_decay=0.1,
        weight_lr_power=3.0,
    ),
    distance("prodigy_plain", "Prodigy", "prodigy"),
    distance(
        "prodigy_all",
        "Prodigy",
        "prodigy",
        lr=0.5,
        beta1=0.8,
        beta2=0.99,
        beta3=0.95,
        eps=1e-6,
        d0=1e-3,
        d_coef=2.0,
        weight_decay=0.05,
    ),
    distance("prodigy_safeguard", "Prodigy", "prodigy", lr=0.7, safeguard_warmup=True),
    distance("dadapt_plain", "DAdaptAdamW", "dadapt_adamw"),
    distance(
        "dadapt_all",
        "DAdaptAdamW",
        "dadapt_adamw",
        lr=0.7,
        beta1=0.85,
        beta2=0.995,
        eps=1e-6,
        d0=1e-4,
        weight_decay=0.02,
    ),
]


def drift(rng: np.random.Generator) -> np.ndarray:
    """A gradient scale per step that drifts slowly between about 0.03 and 30."""
    t = np.arange(STEPS, dtype=np.float64)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    return 10.0 ** (1.5 * np.sin(2.0 * math.pi * t / 180.0 + phase))


def zeroed(rng: np.random.Generator, grads: np.ndarray) -> np.ndarray:
    """``grads`` (steps first) with about ``ZERO_FRACTION`` exact zeros and a few zero steps."""
    grads[rng.random(grads.shape) < ZERO_FRACTION] = 0.0
    grads[rng.random(grads.shape[0]) < 0.02] = 0.0
    return grads


class NoiseGradients:
    """Gradients independent of the parameters (as the torch recordings use).

    Standard normal numbers times the drifting scale, with exact zeros.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.grads = {}
        for name, shape in SHAPES.items():
            scale = drift(rng).reshape((STEPS,) + (1,) * len(shape))
            self.grads[name] = zeroed(rng, rng.standard_normal((STEPS, *shape)) * scale)

    def __call__(self, step: int, params: dict) -> dict[str, np.ndarray]:
        return {name: self.grads[name][step, ...].copy() for name in SHAPES}


class QuadraticGradients:
    """Noisy gradients of a separable quadratic, taken at optax's parameters.

    ``g = scale_t·(h·(p − c) + σ·ξ)``, with exact zeros. Gradients that do not
    depend on the parameters give Prodigy and D-Adaptation a solution
    infinitely far away, and their distance estimate grows without bound;
    these let it grow from ``d0`` to the distance to ``c`` and settle. The
    replay feeds the recorded numbers: gdlab sees the same gradients whatever
    its parameters, so an error cannot feed back through them.
    """

    SIGMA = 0.5

    def __init__(self, rng: np.random.Generator) -> None:
        self.h = {n: rng.uniform(0.5, 2.0, s) for n, s in SHAPES.items()}
        self.c = {n: 3.0 * rng.standard_normal(s) for n, s in SHAPES.items()}
        self.scale = drift(rng)
        self.noise = {n: rng.standard_normal((STEPS, *s)) for n, s in SHAPES.items()}
        self.mask = {n: zeroed(rng, np.ones((STEPS, *s))) for n, s in SHAPES.items()}

    def __call__(self, step: int, params: dict) -> dict[str, np.ndarray]:
        out = {}
        for n in SHAPES:
            p = np.asarray(params[n])
            g = self.scale[step] * (self.h[n] * (p - self.c[n]) + self.SIGMA * self.noise[n][step])
            out[n] = np.asarray(g * self.mask[n][step], dtype=np.float64)
        return out


def check_warmup_is_exact(spec: dict) -> None:
    """Every warm-up rate optax computes in float32 equals gdlab's float64 one."""
    steps = spec["gdlab_kwargs"].get("warmup_steps", 0)
    if not steps:
        return
    lr = spec["gdlab_kwargs"]["lr"]
    schedule = optax.warmup_constant_schedule(init_value=0, peak_value=lr, warmup_steps=steps)
    for count in range(steps + 3):
        got = float(schedule(jnp.asarray(count, jnp.int32)))
        assert got == lr * min(count / steps, 1.0), (spec["name"], count, got)


def record(spec: dict, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inits = {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}
    gradients = (NoiseGradients if spec["gradients"] == "noise" else QuadraticGradients)(rng)
    grads = {name: np.empty((STEPS, *shape)) for name, shape in SHAPES.items()}
    kwargs = dict(spec["optax_kwargs"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    opt = getattr(contrib, spec["optax_function"])(**kwargs)
    params = {name: jnp.asarray(init) for name, init in inits.items()}
    state = opt.init(params)
    is_sf = spec["optax_function"].startswith("schedule_free")
    traj = {name: np.empty((STEPS, *shape)) for name, shape in SHAPES.items()}
    evals = {name: np.empty((STEPS, *shape)) for name, shape in SHAPES.items()}
    ds = np.empty(STEPS)
    for step in range(STEPS):
        fed = gradients(step, params)
        for name in SHAPES:
            grads[name][step] = fed[name]
        g = {name: jnp.asarray(fed[name]) for name in SHAPES}
        updates, state = opt.update(g, state, params)
        params = optax.apply_updates(params, updates)
        for name in SHAPES:
            traj[name][step] = np.asarray(params[name])
            assert params[name].dtype == jnp.float64
        if is_sf:
            x = contrib.schedule_free_eval_params(state, params)
            for name in SHAPES:
                evals[name][step] = np.asarray(x[name])
        else:
            ds[step] = float(state.estim_lr)
            assert state.estim_lr.dtype == jnp.float64
    assert all(np.all(np.isfinite(a)) for a in traj.values()), spec["name"]
    out = {}
    for name in SHAPES:
        prefix = f"{spec['name']}/{name}"
        out[f"{prefix}/init"] = inits[name]
        out[f"{prefix}/grads"] = grads[name]
        out[f"{prefix}/traj"] = traj[name]
        if is_sf:
            out[f"{prefix}/eval"] = evals[name]
    if not is_sf:
        out[f"{spec['name']}/d"] = ds
        print(f"  {spec['name']}: d from {ds[0]:.3g} to {ds[-1]:.3g}")
    return out


def main() -> None:
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    arrays: dict[str, np.ndarray] = {}
    cases = []
    for index, spec in enumerate(CASES):
        check_warmup_is_exact(spec)
        seed = 20_241_300 + index
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
    size = OUT.stat().st_size
    print(f"wrote {OUT} ({len(cases)} cases, {STEPS} steps, {size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
