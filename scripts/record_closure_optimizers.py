"""Record reference trajectories of the optimizers that call the loss again within a step.

``tests/test_lbfgs.py`` and ``tests/test_sam.py`` replay every case recorded
here through gdlab's ``LBFGS`` and ``SAM`` and compare the parameters after
every step, without importing torch or optax. This script is the only place
they are used.

Regenerate (from the repository root)::

    pip install torch==2.13.0 optax==0.2.8   # CPU wheels are enough
    python scripts/record_closure_optimizers.py

It writes ``tests/data/closure_trajectories.npz`` (compressed, small).

The problems are deterministic functions of one flat float64 vector,
computed here in torch with the formulas the tests compute in NumPy (the
closure is the true function, not recorded gradients):

* ``quadratic``: ``½xᵀAx − bᵀx`` with A a random SPD matrix of condition
  number about 10 (L-BFGS amplifies rounding differences on ill-conditioned
  problems, see shared/CONVENTIONS.md);
* ``rosenbrock``: ``Σ 100(x_{i+1} − x_i²)² + (1 − x_i)²`` in 2, 6 and 24
  dimensions;
* ``logistic``: the mean logistic loss of a linear model on 40 random
  samples plus ``½λ‖x‖²``.

References:

* L-BFGS: ``torch.optim.LBFGS`` itself, both ``line_search_fn`` settings;
  the state counters ``func_evals`` and ``n_iter`` are recorded after every
  step too.
* SAM: the two-step update of Foret et al. (2021) written here in torch as
  davda54/sam does it (``first_step``: ``e = ρ·(p² if adaptive)·g/(‖(|p| if
  adaptive)·g‖ + 1e-12)``, ``p += e``; ``second_step``: restore ``p`` and
  ``base.step()`` with the gradient at ``p + e``), with ``torch.optim.SGD``
  and ``Adam`` as the base; and ``optax.contrib.sam`` (``opaque_mode=True``,
  ``sync_period=2``, adversarial optimizer ``chain(normalize(), sgd(ρ))``)
  with ``optax.sgd`` and ``optax.adam`` for the non-adaptive form.

File layout: ``meta`` (0-d JSON string: versions, the cases), then per case
``<case>/init`` (24 or fewer numbers), ``<case>/traj`` (steps × n) and, for
L-BFGS, ``<case>/func_evals`` and ``<case>/n_iter`` (per step); per problem
its data, ``problem/<name>/<array>``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "closure_trajectories.npz"
N = 24  # the 24-number problems are split as SHAPES in the tests
LOGISTIC_SAMPLES = 40
LOGISTIC_L2 = 1e-2


# ------------------------------------------------------------------ problems


def problem_data(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((N, N))
    q, _ = np.linalg.qr(m)
    eigenvalues = np.linspace(1.0, 10.0, N)
    a = (q * eigenvalues) @ q.T
    a = 0.5 * (a + a.T)
    return {
        "quadratic/A": a,
        "quadratic/b": rng.standard_normal(N),
        "logistic/X": rng.standard_normal((LOGISTIC_SAMPLES, N)),
        "logistic/y": np.where(rng.random(LOGISTIC_SAMPLES) < 0.5, -1.0, 1.0),
    }


def torch_problem(name: str, data: dict[str, np.ndarray]):
    """``f(x) -> (loss, grad)`` in torch, the formulas of tests/test_lbfgs.py."""
    if name == "quadratic":
        a = torch.tensor(data["quadratic/A"])
        b = torch.tensor(data["quadratic/b"])

        def f(x):
            ax = a @ x
            return 0.5 * torch.dot(x, ax) - torch.dot(b, x), ax - b

        return f
    if name == "rosenbrock":

        def f(x):
            head, tail = x[:-1], x[1:]
            r = tail - head * head
            loss = torch.sum(100.0 * r * r + (1.0 - head) ** 2)
            grad = torch.zeros_like(x)
            grad[:-1] = -400.0 * head * r - 2.0 * (1.0 - head)
            grad[1:] += 200.0 * r
            return loss, grad

        return f
    if name == "logistic":
        xs = torch.tensor(data["logistic/X"])
        ys = torch.tensor(data["logistic/y"])

        def f(x):
            margin = ys * (xs @ x)
            losses = torch.logaddexp(torch.zeros_like(margin), -margin)
            weight = torch.exp(-torch.logaddexp(torch.zeros_like(margin), margin))  # σ(−m)
            grad = xs.T @ (-ys * weight) / LOGISTIC_SAMPLES + LOGISTIC_L2 * x
            return torch.mean(losses) + 0.5 * LOGISTIC_L2 * torch.dot(x, x), grad

        return f
    raise ValueError(name)


def start(case: dict) -> np.ndarray:
    """The first point: ``center + scale·N(0, 1)`` (Rosenbrock's valley or the origin)."""
    rng = np.random.default_rng(1000 + case["seed"])
    center, scale = case.get("start", (-1.0, 0.3) if case["problem"] == "rosenbrock" else (0, 1))
    return center + scale * rng.standard_normal(case["n"])


# --------------------------------------------------------------------- L-BFGS


def lbfgs_case(name, problem, n, steps, gdlab_kwargs, seed, **extra):
    return {"name": name, "optimizer": "lbfgs", "problem": problem, "n": n, "steps": steps,
            "gdlab_kwargs": gdlab_kwargs, "seed": seed, **extra}  # fmt: skip


LBFGS_CASES = [
    lbfgs_case("lbfgs-quadratic-defaults", "quadratic", N, 3, {}, 0),
    lbfgs_case("lbfgs-quadratic", "quadratic", N, 40,
               {"max_iter": 2, "history_size": 3}, 1),
    lbfgs_case("lbfgs-quadratic-wolfe", "quadratic", N, 40,
               {"max_iter": 2, "history_size": 3, "line_search_fn": "strong_wolfe"}, 2),
    lbfgs_case("lbfgs-rosenbrock2-wolfe", "rosenbrock", 2, 20,
               {"line_search_fn": "strong_wolfe"}, 3),
    lbfgs_case("lbfgs-rosenbrock6-wolfe", "rosenbrock", 6, 60,
               {"max_iter": 4, "history_size": 5, "line_search_fn": "strong_wolfe",
                "max_eval": 7}, 4),
    # near the minimum: from Rosenbrock's valley in 24 dimensions the path is chaotic
    # (rounding differences of 1e-16 grow to 1e-2 within ten steps, in torch as here)
    lbfgs_case("lbfgs-rosenbrock24-wolfe", "rosenbrock", N, 30,
               {"max_iter": 10, "history_size": 8, "line_search_fn": "strong_wolfe"}, 21,
               start=(1.0, 0.1)),
    lbfgs_case("lbfgs-rosenbrock6", "rosenbrock", 6, 25,
               {"lr": 0.05, "max_iter": 5, "history_size": 4}, 6),
    lbfgs_case("lbfgs-logistic", "logistic", N, 20,
               {"lr": 0.8, "max_iter": 3, "tolerance_grad": 1e-9}, 7),
    # a first step far too long: the zoom phase bisects, moves off the bracket's ends
    # after insufficient progress and turns the bracket round
    lbfgs_case("lbfgs-rosenbrock6-wolfe-long", "rosenbrock", 6, 15,
               {"lr": 10.0, "max_iter": 5, "history_size": 4, "line_search_fn": "strong_wolfe"},
               30),
    lbfgs_case("lbfgs-logistic-wolfe-long", "logistic", N, 8,
               {"lr": 1000.0, "max_iter": 5, "history_size": 4, "line_search_fn": "strong_wolfe"},
               33),
    lbfgs_case("lbfgs-logistic-wolfe", "logistic", N, 10,
               {"line_search_fn": "strong_wolfe", "tolerance_change": 1e-12,
                "history_size": 2}, 8),
]  # fmt: skip


def record_lbfgs(case, data):
    f = torch_problem(case["problem"], data)
    x0 = start(case)
    param = torch.tensor(x0.copy(), requires_grad=True)
    kw = dict(case["gdlab_kwargs"])
    opt = torch.optim.LBFGS([param], **kw)

    def closure():
        with torch.no_grad():
            loss, grad = f(param.detach())
        param.grad = grad.clone()
        return loss

    traj, evals, iters = [], [], []
    for _ in range(case["steps"]):
        opt.step(closure)
        traj.append(param.detach().numpy().copy())
        state = opt.state[param]
        evals.append(state["func_evals"])
        iters.append(state["n_iter"])
    return x0, np.array(traj), np.array(evals), np.array(iters)


# ------------------------------------------------------------------------ SAM


def sam_case(name, problem, n, steps, base, rho, adaptive, reference, seed):
    return {"name": name, "optimizer": "sam", "problem": problem, "n": n, "steps": steps,
            "gdlab_kwargs": {"base": base, "rho": rho, "adaptive": adaptive},
            "reference": reference, "seed": seed}  # fmt: skip


SAM_CASES = [
    # SAM's normalised gradient makes its path chaotic once it bounces around the
    # minimum (within about ρ of it): the rates keep these 200 steps away from it
    sam_case("sam-sgd-quadratic", "quadratic", N, 200,
             {"optimizer": "sgd", "lr": 0.005}, 0.05, False, "torch", 10),
    sam_case("sam-momentum-quadratic-adaptive", "quadratic", N, 200,
             {"optimizer": "momentum", "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-3},
             0.5, True, "torch", 11),
    sam_case("sam-adam-logistic", "logistic", N, 200,
             {"optimizer": "adam", "lr": 0.01, "beta1": 0.8}, 0.1, False, "torch", 12),
    sam_case("sam-adam-logistic-adaptive", "logistic", N, 200,
             {"optimizer": "adam", "lr": 0.01}, 1.0, True, "torch", 13),
    sam_case("sam-sgd-rosenbrock2", "rosenbrock", 2, 200,
             {"optimizer": "sgd", "lr": 1e-3}, 0.02, False, "torch", 14),
    sam_case("sam-sgd-quadratic-optax", "quadratic", N, 200,
             {"optimizer": "sgd", "lr": 0.005}, 0.05, False, "optax", 15),
    sam_case("sam-adam-logistic-optax", "logistic", N, 200,
             {"optimizer": "adam", "lr": 0.01}, 0.1, False, "optax", 16),
]  # fmt: skip


def torch_base(base, param):
    kw = {k: v for k, v in base.items() if k != "optimizer"}
    if base["optimizer"] == "sgd":
        return torch.optim.SGD([param], foreach=False, **kw)
    if base["optimizer"] == "momentum":
        return torch.optim.SGD([param], foreach=False, **kw)
    if base["optimizer"] == "adam":
        beta1 = kw.pop("beta1", 0.9)
        beta2 = kw.pop("beta2", 0.999)
        return torch.optim.Adam([param], betas=(beta1, beta2), foreach=False, **kw)
    raise ValueError(base)


def record_sam_torch(case, data):
    """davda54/sam's first_step / second_step, written out in torch."""
    f = torch_problem(case["problem"], data)
    x0 = start(case)
    param = torch.tensor(x0.copy(), requires_grad=True)
    kw = case["gdlab_kwargs"]
    base = torch_base(kw["base"], param)
    rho, adaptive = kw["rho"], kw["adaptive"]
    traj = []
    for _ in range(case["steps"]):
        with torch.no_grad():
            p = param.detach()
            _, g = f(p)
            # first step: climb to p + e
            scaled = (torch.abs(p) if adaptive else 1.0) * g
            grad_norm = torch.norm(torch.stack([scaled.norm(p=2)]), p=2)
            scale = rho / (grad_norm + 1e-12)
            e_w = (torch.pow(p, 2) if adaptive else 1.0) * g * scale.to(p)
            old_p = p.clone()
            param.add_(e_w)
            # the gradient at p + e
            _, g_sam = f(param.detach())
            # second step: back to p, base step
            param.copy_(old_p)
        param.grad = g_sam.clone()
        base.step()
        traj.append(param.detach().numpy().copy())
    return x0, np.array(traj)


def record_sam_optax(case, data):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax
    from optax import contrib

    kw = case["gdlab_kwargs"]
    base = dict(kw["base"])
    name = base.pop("optimizer")
    lr = base.pop("lr")
    outer = {"sgd": optax.sgd, "adam": optax.adam}[name](lr, **base)
    adversarial = optax.chain(contrib.normalize(), optax.sgd(kw["rho"]))
    opt = contrib.sam(outer, adversarial, sync_period=2, opaque_mode=True)

    tf = torch_problem(case["problem"], data)

    def grad(x):
        _, g = tf(torch.tensor(np.asarray(x)))
        return jnp.asarray(g.numpy())

    x0 = start(case)
    x = jnp.asarray(x0)
    state = opt.init(x)
    traj = []
    for _ in range(case["steps"]):
        updates, state = opt.update(grad(x), state, x, grad_fn=lambda p, _i: grad(p))
        x = optax.apply_updates(x, updates)
        traj.append(np.asarray(x).copy())
    return x0, np.array(traj)


# ---------------------------------------------------------------------- main


def main() -> None:
    data = problem_data()
    arrays: dict[str, np.ndarray] = {f"problem/{k}": v for k, v in data.items()}
    cases = []
    for case in LBFGS_CASES:
        x0, traj, evals, iters = record_lbfgs(case, data)
        assert np.all(np.isfinite(traj)), case["name"]
        arrays[f"{case['name']}/init"] = x0
        arrays[f"{case['name']}/traj"] = traj
        arrays[f"{case['name']}/func_evals"] = evals
        arrays[f"{case['name']}/n_iter"] = iters
        cases.append(case)
    for case in SAM_CASES:
        record = record_sam_torch if case["reference"] == "torch" else record_sam_optax
        x0, traj = record(case, data)
        assert np.all(np.isfinite(traj)), case["name"]
        arrays[f"{case['name']}/init"] = x0
        arrays[f"{case['name']}/traj"] = traj
        cases.append(case)
    import optax

    meta = {
        "torch_version": torch.__version__,
        "optax_version": optax.__version__,
        "numpy_version": np.__version__,
        "logistic_l2": LOGISTIC_L2,
        "cases": cases,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    size = OUT.stat().st_size
    print(f"wrote {OUT} ({size / 1024:.0f} KiB, {len(cases)} cases)")
    for case in cases:
        traj = arrays[f"{case['name']}/traj"]
        moved = float(np.max(np.abs(traj[-1] - arrays[f"{case['name']}/init"])))
        print(f"  {case['name']}: {len(traj)} steps, moved {moved:.3g}", end="")
        if case["optimizer"] == "lbfgs":
            print(f", {int(arrays[case['name'] + '/func_evals'][-1])} evaluations", end="")
        print()
    assert math.isfinite(size)


if __name__ == "__main__":
    main()
