"""Record reference trajectories for gdlab's optimizer wrappers (lookahead, averaging, ...).

``tests/test_wrappers.py`` replays every case recorded here through
``gdlab.optim.create(optimizer, **kwargs)`` and checks it step by step, without
importing the references. This script is the only place they are used:

* lookahead and gradient accumulation against optax 0.2.8 (``lookahead``,
  ``MultiSteps`` with a float64 accumulator), with ``jax_enable_x64``;
* EMA and SWA against torch 2.13's ``optim.swa_utils.AveragedModel`` (updated
  after the steps ``t ≥ start`` with ``(t − start) % every == 0``, as an
  SWA training loop calls ``update_parameters``), and the debiased EMA against
  optax's ``ema(decay, debias=True)`` fed the parameters after each step;
* parameter groups against torch's ``param_groups`` (AdamW with a bias group
  without weight decay and a group with its own lr; SGD with a Nesterov group).

Regenerate (from the repository root)::

    pip install torch==2.13.0 optax==0.2.8
    python scripts/record_wrappers.py

It writes ``tests/data/wrapper_trajectories.npz``: ``meta`` (a JSON document:
versions, steps, shapes and the cases, each ``{"name", "optimizer",
"kwargs", "reference", "records", "seed"}``) and, per case and parameter,
``init``, ``grads`` (the gradient fed at each step: random, independent of
the parameters, with a drifting scale and exact zeros), ``traj`` (the
reference's parameters after each step) and, where the case has them,
``slow`` (lookahead's slow weights) or ``avg`` (the average; NaN before the
first averaged step). Everything is float64 and seeded.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402
from torch.optim import swa_utils  # noqa: E402

torch.set_default_dtype(torch.float64)  # SWA's weight 1/(n + 1) is made in the default dtype

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "wrapper_trajectories.npz"
STEPS = 250
# Weights and biases (the names the groups' patterns match), a 0-d one included.
SHAPES = {"W1": (3, 4), "b1": (4,), "W2": (2, 1, 3), "b2": ()}
ZERO_FRACTION = 0.08


def gradients(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``STEPS`` gradients of one parameter: normal numbers, a scale drifting over
    three decades, about ``ZERO_FRACTION`` exact zeros and a few all-zero steps."""
    t = np.arange(STEPS, dtype=np.float64)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    scale = 10.0 ** (1.5 * np.sin(2.0 * math.pi * t / 170.0 + phase))
    g = rng.standard_normal((STEPS, *shape)) * scale.reshape((STEPS,) + (1,) * len(shape))
    g[rng.random((STEPS, *shape)) < ZERO_FRACTION] = 0.0
    g[rng.random(STEPS) < 0.02] = 0.0
    return g


# --------------------------------------------------------------------------- optax


def _to_jax(tree: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in tree.items()}


def _to_numpy(tree) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in tree.items()}


def optax_lookahead(fast, sync_period, slow_step_size):
    def run(init, grads):
        opt = optax.lookahead(fast, sync_period=sync_period, slow_step_size=slow_step_size)
        params = optax.LookaheadParams.init_synced(_to_jax(init))
        state = opt.init(params)
        update = jax.jit(opt.update)
        out = {"traj": [], "slow": []}
        for step in range(STEPS):
            g = _to_jax({k: v[step] for k, v in grads.items()})
            updates, state = update(g, state, params)
            params = optax.apply_updates(params, updates)
            out["traj"].append(_to_numpy(params.fast))
            out["slow"].append(_to_numpy(params.slow))
        return out

    return run


def optax_multisteps(inner, every, use_grad_mean=True):
    def run(init, grads):
        opt = optax.MultiSteps(
            inner, every_k_schedule=every, use_grad_mean=use_grad_mean,
            accumulator_dtype=jnp.float64,
        )  # fmt: skip
        params = _to_jax(init)
        state = opt.init(params)
        update = jax.jit(opt.update)
        out = {"traj": []}
        for step in range(STEPS):
            g = _to_jax({k: v[step] for k, v in grads.items()})
            updates, state = update(g, state, params)
            params = optax.apply_updates(params, updates)
            out["traj"].append(_to_numpy(params))
        return out

    return run


def optax_ema_of(inner, decay):
    """``inner``'s trajectory, and ``optax.ema(decay, debias=True)`` fed its parameters."""

    def run(init, grads):
        params = _to_jax(init)
        state = inner.init(params)
        ema = optax.ema(decay, debias=True)
        ema_state = ema.init(params)
        inner_update, ema_update = jax.jit(inner.update), jax.jit(ema.update)
        out = {"traj": [], "avg": []}
        for step in range(STEPS):
            g = _to_jax({k: v[step] for k, v in grads.items()})
            updates, state = inner_update(g, state, params)
            params = optax.apply_updates(params, updates)
            average, ema_state = ema_update(params, ema_state)
            out["traj"].append(_to_numpy(params))
            out["avg"].append(_to_numpy(average))
        return out

    return run


# --------------------------------------------------------------------------- torch


class _Model(torch.nn.Module):
    def __init__(self, init: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.weights = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in init.items()}
        )


def _torch_loop(model, opt, grads, after_step=None):
    out: dict[str, list] = {"traj": []}
    for step in range(STEPS):
        for k, p in model.weights.items():
            p.grad = torch.from_numpy(np.array(grads[k][step]))
        opt.step()
        out["traj"].append({k: p.detach().numpy().copy() for k, p in model.weights.items()})
        if after_step is not None:
            after_step(step + 1, out)
    return out


def torch_averaged(optimizer, optimizer_kwargs, *, mode, decay=None, start=1, every=1):
    """A torch optimizer, and an ``AveragedModel`` updated after the counted steps."""

    def run(init, grads):
        model = _Model(init)
        opt = getattr(torch.optim, optimizer)(model.parameters(), foreach=False,
                                              **optimizer_kwargs)  # fmt: skip
        if mode == "ema":
            averaged = swa_utils.AveragedModel(
                model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(decay)
            )
        else:
            averaged = swa_utils.AveragedModel(model)
        nan = {k: np.full(v.shape, np.nan) for k, v in init.items()}
        avg_trajectory: list = []

        def after_step(t, out):
            if t >= start and (t - start) % every == 0:
                averaged.update_parameters(model)
            if averaged.n_averaged.item() == 0:
                avg_trajectory.append(copy.deepcopy(nan))
            else:
                avg_trajectory.append(
                    {k: p.detach().numpy().copy() for k, p in averaged.module.weights.items()}
                )

        out = _torch_loop(model, opt, grads, after_step)
        out["avg"] = avg_trajectory
        return out

    return run


def torch_groups(optimizer, groups, defaults):
    """A torch optimizer over ``groups``: ``[({"keys": [...]}, {settings}), ...]``."""

    def run(init, grads):
        model = _Model(init)
        param_groups = [
            {"params": [model.weights[k] for k in keys], **settings} for keys, settings in groups
        ]
        opt = getattr(torch.optim, optimizer)(param_groups, foreach=False, **defaults)
        return _torch_loop(model, opt, grads)

    return run


# --------------------------------------------------------------------------- the cases


def case(name, optimizer, kwargs, reference, run, records):
    return {
        "name": name,
        "optimizer": optimizer,
        "kwargs": kwargs,
        "reference": reference,
        "records": records,
        "run": run,
    }


CASES = [
    case(
        "lookahead_adam",
        "lookahead",
        {"inner": {"optimizer": "adam", "lr": 1e-3}, "k": 5, "alpha": 0.5},
        "optax.lookahead(optax.adam(1e-3), sync_period=5, slow_step_size=0.5)",
        optax_lookahead(optax.adam(1e-3), 5, 0.5),
        ["traj", "slow"],
    ),
    case(
        "lookahead_momentum",
        "lookahead",
        {"inner": {"optimizer": "momentum", "lr": 0.05, "momentum": 0.9}, "k": 3, "alpha": 0.8},
        "optax.lookahead(optax.sgd(0.05, momentum=0.9), sync_period=3, slow_step_size=0.8)",
        optax_lookahead(optax.sgd(0.05, momentum=0.9), 3, 0.8),
        ["traj", "slow"],
    ),
    case(
        "accumulate_adam",
        "accumulate",
        {"inner": {"optimizer": "adam", "lr": 0.01, "beta2": 0.99}, "every": 4},
        "optax.MultiSteps(optax.adam(0.01, b2=0.99), every_k_schedule=4, "
        "accumulator_dtype=float64)",
        optax_multisteps(optax.adam(0.01, b2=0.99), 4),
        ["traj"],
    ),
    case(
        "accumulate_sum_momentum",
        "accumulate",
        {
            "inner": {"optimizer": "momentum", "lr": 0.002, "momentum": 0.8},
            "every": 3,
            "use_grad_mean": False,
        },
        "optax.MultiSteps(optax.sgd(0.002, momentum=0.8), every_k_schedule=3, "
        "use_grad_mean=False, accumulator_dtype=float64)",
        optax_multisteps(optax.sgd(0.002, momentum=0.8), 3, use_grad_mean=False),
        ["traj"],
    ),
    case(
        "ema_momentum",
        "average",
        {"inner": {"optimizer": "momentum", "lr": 0.02, "momentum": 0.9}, "decay": 0.95},
        "torch SGD(lr=0.02, momentum=0.9) + AveragedModel(multi_avg_fn="
        "get_ema_multi_avg_fn(0.95)) every step",
        torch_averaged("SGD", {"lr": 0.02, "momentum": 0.9}, mode="ema", decay=0.95),
        ["traj", "avg"],
    ),
    case(
        "ema_adam_start_every",
        "average",
        {"inner": {"optimizer": "adam", "lr": 0.01}, "decay": 0.8, "start": 20, "every": 3},
        "torch Adam(lr=0.01) + AveragedModel(multi_avg_fn=get_ema_multi_avg_fn(0.8)) "
        "after steps 20, 23, 26, ...",
        torch_averaged("Adam", {"lr": 0.01}, mode="ema", decay=0.8, start=20, every=3),
        ["traj", "avg"],
    ),
    case(
        "swa_momentum",
        "average",
        {
            "inner": {"optimizer": "momentum", "lr": 0.02, "momentum": 0.9},
            "mode": "swa",
            "start": 100,
            "every": 5,
        },
        "torch SGD(lr=0.02, momentum=0.9) + AveragedModel() (SWA) after steps 100, 105, ...",
        torch_averaged("SGD", {"lr": 0.02, "momentum": 0.9}, mode="swa", start=100, every=5),
        ["traj", "avg"],
    ),
    case(
        "swa_adam_every_step",
        "average",
        {"inner": {"optimizer": "adam", "lr": 0.01}, "mode": "swa"},
        "torch Adam(lr=0.01) + AveragedModel() (SWA) after every step",
        torch_averaged("Adam", {"lr": 0.01}, mode="swa"),
        ["traj", "avg"],
    ),
    case(
        "ema_debias_adam",
        "average",
        {"inner": {"optimizer": "adam", "lr": 0.01}, "decay": 0.9, "debias": True},
        "optax.adam(0.01), and optax.ema(0.9, debias=True) fed the parameters after each step",
        optax_ema_of(optax.adam(0.01), 0.9),
        ["traj", "avg"],
    ),
    case(
        "groups_adamw",
        "groups",
        {
            "inner": {"optimizer": "adamw", "beta2": 0.99},
            "lr": 0.01,
            "weight_decay": 0.05,
            "groups": [{"keys": "b*", "weight_decay": 0.0}, {"keys": "W1", "lr": 0.03}],
        },
        "torch AdamW([{params: b1, b2, weight_decay: 0}, {params: W1, lr: 0.03}, "
        "{params: W2}], lr=0.01, betas=(0.9, 0.99), weight_decay=0.05)",
        torch_groups(
            "AdamW",
            [(["b1", "b2"], {"weight_decay": 0.0}), (["W1"], {"lr": 0.03}), (["W2"], {})],
            {"lr": 0.01, "betas": (0.9, 0.99), "weight_decay": 0.05},
        ),
        ["traj"],
    ),
    case(
        "groups_sgd_nesterov",
        "groups",
        {
            "inner": {"optimizer": "momentum", "momentum": 0.9},
            "lr": 0.02,
            "groups": [
                {"keys": ["b1", "b2"], "optimizer": "nesterov", "lr": 0.005, "momentum": 0.5}
            ],
        },
        "torch SGD([{params: W1, W2}, {params: b1, b2, lr: 0.005, momentum: 0.5, "
        "nesterov: True}], lr=0.02, momentum=0.9)",
        torch_groups(
            "SGD",
            [(["W1", "W2"], {}), (["b1", "b2"], {"lr": 0.005, "momentum": 0.5, "nesterov": True})],
            {"lr": 0.02, "momentum": 0.9},
        ),
        ["traj"],
    ),
]


def record(spec: dict, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    init = {k: rng.standard_normal(shape) for k, shape in SHAPES.items()}
    grads = {k: gradients(rng, shape) for k, shape in SHAPES.items()}
    result = spec["run"]({k: v.copy() for k, v in init.items()}, grads)
    assert sorted(result) == sorted(spec["records"]), (spec["name"], sorted(result))
    out = {}
    for k in SHAPES:
        out[f"{spec['name']}/{k}/init"] = init[k]
        out[f"{spec['name']}/{k}/grads"] = grads[k]
        for what in spec["records"]:
            series = np.stack([np.asarray(step[k], dtype=np.float64) for step in result[what]])
            assert series.shape == (STEPS, *SHAPES[k]), (spec["name"], what, series.shape)
            out[f"{spec['name']}/{k}/{what}"] = series
    return out


def main() -> None:
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    arrays: dict[str, np.ndarray] = {}
    cases = []
    for index, spec in enumerate(CASES):
        seed = 20_251_300 + index
        arrays.update(record(spec, seed))
        cases.append({k: v for k, v in spec.items() if k != "run"} | {"seed": seed})
        print(f"recorded {spec['name']}", flush=True)
    meta = {
        "torch_version": torch.__version__,
        "optax_version": optax.__version__,
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
        "dtype": "float64",
        "steps": STEPS,
        "param_names": list(SHAPES),
        "shapes": {k: list(s) for k, s in SHAPES.items()},
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta, indent=1)), **arrays)
    print(f"wrote {OUT} ({len(cases)} cases, {STEPS} steps, {OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
