"""Record reference learning-rate schedules for gdlab's conformance tests.

``tests/test_schedules.py`` builds the matching gdlab schedule for every case
recorded here and compares it step by step with the recorded rates, without
importing torch, optax or Keras. This script is the only place they are used.

Regenerate (from the repository root)::

    pip install torch==2.13.0 optax==0.2.8 keras     # CPU wheels are enough
    python scripts/record_schedules.py

It writes ``tests/data/schedule_references.npz``:

* ``meta``: a 0-d unicode array holding a JSON document: the library
  versions, ``steps`` and ``cases``, a list of ``{"name", "library",
  "reference"}`` (``reference`` is the call that produced the rates, with
  the Python functions it was given written out).
* ``<case>``: float64, shape ``(steps,)``: the rate used by update ``n`` for
  ``n = 0, 1, …, steps − 1``.

How each library is read:

* torch: an ``SGD`` optimizer in float64 whose ``param_groups[0]["lr"]`` is
  read before each ``optimizer.step()``, then ``scheduler.step()`` is called
  (the documented order), so entry ``n`` is the rate after ``n`` scheduler
  steps. Momentum cycling is turned off (``cycle_momentum=False``).
* optax: the schedule function called at the integer count ``n`` with
  ``jax_enable_x64`` on (the schedule's own float64 arithmetic; inside an
  optax optimizer the count is int32).
* Keras: the schedule called at ``n`` with the torch backend and
  ``keras.config.set_floatx("float64")`` (otherwise the values are float32).

The functions handed to LambdaLR, MultiplicativeLR and CyclicLR are defined
below in :data:`FUNCTIONS`; the tests define the same ones under the same
names.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import jax

jax.config.update("jax_enable_x64", True)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402
from torch.optim import lr_scheduler as L  # noqa: E402
from torch.optim.swa_utils import SWALR  # noqa: E402

torch.set_default_dtype(torch.float64)
keras.config.set_floatx("float64")

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "schedule_references.npz"
STEPS = 300

#: The Python functions given to the references (the tests define the same).
FUNCTIONS = {
    "inverse": lambda n: 1.0 / (1.0 + 0.05 * n),
    "warmup_cosine": lambda n: min(1.0, (n + 1) / 10) * 0.5 * (1 + math.cos(math.pi * n / 300)),
    "constant_099": lambda n: 0.99,
    "varying": lambda n: 1.0 - 0.1 / (n + 10),
    "inverse_01": lambda n: 1.0 / (1.0 + 0.1 * n),
    "constant_098": lambda n: 0.98,
    "constant_0995": lambda n: 0.995,
    "sqrt_cycle": lambda c: 1.0 / c**0.5,
    "cosine_300": lambda n: 0.5 * (1 + math.cos(math.pi * n / 300)),
}
SOURCES = {
    "inverse": "1 / (1 + 0.05·n)",
    "warmup_cosine": "min(1, (n + 1)/10) · (1 + cos(π·n/300))/2",
    "constant_099": "0.99",
    "varying": "1 − 0.1/(n + 10)",
    "inverse_01": "1 / (1 + 0.1·n)",
    "constant_098": "0.98",
    "constant_0995": "0.995",
    "sqrt_cycle": "1/√cycle",
    "cosine_300": "(1 + cos(π·n/300))/2",
}


# --------------------------------------------------------------------------- readers


def torch_rates(make, lr: float = 0.1) -> list[float]:
    """The rate of each update under the scheduler ``make(optimizer)`` builds."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make(optimizer)
        rates = []
        for _ in range(STEPS):
            rates.append(float(optimizer.param_groups[0]["lr"]))
            optimizer.step()
            scheduler.step()
    return rates


def optax_rates(schedule) -> list[float]:
    return [float(schedule(n)) for n in range(STEPS)]


def keras_rates(schedule) -> list[float]:
    return [float(schedule(n)) for n in range(STEPS)]


F = FUNCTIONS
CASES: list[tuple[str, str, str, object]] = []  # (name, library, reference, thunk)


def case(name: str, library: str, reference: str, thunk) -> None:
    for key, text in SOURCES.items():
        reference = reference.replace(f"F[{key}]", f"lambda n: {text}")
    CASES.append((name, library, reference, thunk))


# --------------------------------------------------------------------------- one cycle

case(
    "onecycle_torch_cos",
    "torch",
    "OneCycleLR(max_lr=0.1, total_steps=300)",
    lambda: torch_rates(lambda o: L.OneCycleLR(o, 0.1, total_steps=300, cycle_momentum=False)),
)
case(
    "onecycle_torch_linear",
    "torch",
    "OneCycleLR(max_lr=0.1, total_steps=300, pct_start=0.25, anneal_strategy='linear', "
    "div_factor=10.0, final_div_factor=100.0)",
    lambda: torch_rates(
        lambda o: L.OneCycleLR(
            o,
            0.1,
            total_steps=300,
            pct_start=0.25,
            anneal_strategy="linear",
            div_factor=10.0,
            final_div_factor=100.0,
            cycle_momentum=False,
        )
    ),
)
case(
    "onecycle_torch_cos_three_phase",
    "torch",
    "OneCycleLR(max_lr=0.2, total_steps=300, pct_start=0.2, div_factor=20.0, "
    "final_div_factor=1000.0, three_phase=True)",
    lambda: torch_rates(
        lambda o: L.OneCycleLR(
            o,
            0.2,
            total_steps=300,
            pct_start=0.2,
            div_factor=20.0,
            final_div_factor=1000.0,
            three_phase=True,
            cycle_momentum=False,
        )
    ),
)
case(
    "onecycle_torch_linear_three_phase",
    "torch",
    "OneCycleLR(max_lr=0.05, total_steps=300, pct_start=0.35, anneal_strategy='linear', "
    "three_phase=True)",
    lambda: torch_rates(
        lambda o: L.OneCycleLR(
            o,
            0.05,
            total_steps=300,
            pct_start=0.35,
            anneal_strategy="linear",
            three_phase=True,
            cycle_momentum=False,
        )
    ),
)
case(
    "onecycle_torch_fractional",
    "torch",
    "OneCycleLR(max_lr=0.1, total_steps=300, pct_start=0.123)  # peak at step 35.9",
    lambda: torch_rates(
        lambda o: L.OneCycleLR(o, 0.1, total_steps=300, pct_start=0.123, cycle_momentum=False)
    ),
)
case(
    "onecycle_optax_cos",
    "optax",
    "cosine_onecycle_schedule(300, 0.1)",
    lambda: optax_rates(optax.cosine_onecycle_schedule(300, 0.1)),
)
case(
    "onecycle_optax_cos_short",
    "optax",
    "cosine_onecycle_schedule(250, 0.05, pct_start=0.4, div_factor=10.0, "
    "final_div_factor=100.0)  # holds its final value after step 250",
    lambda: optax_rates(
        optax.cosine_onecycle_schedule(
            250, 0.05, pct_start=0.4, div_factor=10.0, final_div_factor=100.0
        )
    ),
)
case(
    "onecycle_optax_linear",
    "optax",
    "linear_onecycle_schedule(300, 0.1)",
    lambda: optax_rates(optax.linear_onecycle_schedule(300, 0.1)),
)
case(
    "onecycle_optax_linear_custom",
    "optax",
    "linear_onecycle_schedule(200, 0.2, pct_start=0.2, pct_final=0.7, div_factor=5.0, "
    "final_div_factor=50.0)",
    lambda: optax_rates(
        optax.linear_onecycle_schedule(
            200, 0.2, pct_start=0.2, pct_final=0.7, div_factor=5.0, final_div_factor=50.0
        )
    ),
)

# --------------------------------------------------------------------------- cyclic


def cyclic(**kwargs):
    return lambda: torch_rates(lambda o: L.CyclicLR(o, cycle_momentum=False, **kwargs))


case(
    "cyclic_triangular",
    "torch",
    "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=20)",
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=20),
)
case(
    "cyclic_triangular_asymmetric",
    "torch",
    "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=15, step_size_down=35)",
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=15, step_size_down=35),
)
case(
    "cyclic_sawtooth",
    "torch",
    "CyclicLR(base_lr=0.001, max_lr=0.1, step_size_up=30, step_size_down=0)",
    cyclic(base_lr=0.001, max_lr=0.1, step_size_up=30, step_size_down=0),
)
case(
    "cyclic_triangular2",
    "torch",
    "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=10, step_size_down=20, mode='triangular2')",
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=10, step_size_down=20, mode="triangular2"),
)
case(
    "cyclic_exp_range",
    "torch",
    "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=25, mode='exp_range', gamma=0.99)",
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=25, mode="exp_range", gamma=0.99),
)
case(
    "cyclic_scale_fn_cycle",
    "torch",
    "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=12, scale_fn=F[sqrt_cycle], "
    "scale_mode='cycle')",
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=12, scale_fn=F["sqrt_cycle"], scale_mode="cycle"),
)
case(
    "cyclic_scale_fn_iterations",
    "torch",
    "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=12, step_size_down=8, "
    "scale_fn=F[cosine_300], scale_mode='iterations')",
    cyclic(
        base_lr=0.01,
        max_lr=0.1,
        step_size_up=12,
        step_size_down=8,
        scale_fn=F["cosine_300"],
        scale_mode="iterations",
    ),
)

# --------------------------------------------------------------------------- lambda, multiplicative

case(
    "lambda_inverse",
    "torch",
    "LambdaLR(F[inverse]), lr 0.1",
    lambda: torch_rates(lambda o: L.LambdaLR(o, F["inverse"])),
)
case(
    "lambda_warmup_cosine",
    "torch",
    "LambdaLR(F[warmup_cosine]), lr 0.3",
    lambda: torch_rates(lambda o: L.LambdaLR(o, F["warmup_cosine"]), lr=0.3),
)
case(
    "multiplicative_constant",
    "torch",
    "MultiplicativeLR(F[constant_099]), lr 0.1",
    lambda: torch_rates(lambda o: L.MultiplicativeLR(o, F["constant_099"])),
)
case(
    "multiplicative_varying",
    "torch",
    "MultiplicativeLR(F[varying]), lr 0.2",
    lambda: torch_rates(lambda o: L.MultiplicativeLR(o, F["varying"]), lr=0.2),
)

# --------------------------------------------------------------------------- join, chained

case(
    "sequential_warmup_cosine",
    "torch",
    "SequentialLR([LinearLR(start_factor=0.1, total_iters=20), "
    "CosineAnnealingLR(T_max=100, eta_min=1e-4)], milestones=[30]), lr 0.1",
    lambda: torch_rates(
        lambda o: L.SequentialLR(
            o,
            [
                L.LinearLR(o, start_factor=0.1, total_iters=20),
                L.CosineAnnealingLR(o, T_max=100, eta_min=1e-4),
            ],
            milestones=[30],
        )
    ),
)
case(
    "sequential_three",
    "torch",
    "SequentialLR([ExponentialLR(gamma=0.97), LambdaLR(F[inverse_01]), "
    "StepLR(step_size=7, gamma=0.5)], milestones=[50, 120]), lr 0.1",
    lambda: torch_rates(
        lambda o: L.SequentialLR(
            o,
            [
                L.ExponentialLR(o, 0.97),
                L.LambdaLR(o, F["inverse_01"]),
                L.StepLR(o, step_size=7, gamma=0.5),
            ],
            milestones=[50, 120],
        )
    ),
)
case(
    "sequential_multiplicative",
    "torch",
    "SequentialLR([LambdaLR(F[inverse_01]), MultiplicativeLR(F[constant_098])], "
    "milestones=[40]), lr 0.1",
    lambda: torch_rates(
        lambda o: L.SequentialLR(
            o,
            [L.LambdaLR(o, F["inverse_01"]), L.MultiplicativeLR(o, F["constant_098"])],
            milestones=[40],
        )
    ),
)
case(
    "sequential_swalr",
    "torch",
    "SequentialLR([CosineAnnealingLR(T_max=200), SWALR(swa_lr=0.005, anneal_epochs=20)], "
    "milestones=[150]), lr 0.1",
    lambda: torch_rates(
        lambda o: L.SequentialLR(
            o,
            [L.CosineAnnealingLR(o, T_max=200), SWALR(o, swa_lr=0.005, anneal_epochs=20)],
            milestones=[150],
        )
    ),
)
case(
    "sequential_onecycle_cyclic",
    "torch",
    "SequentialLR([ExponentialLR(gamma=0.97), OneCycleLR(max_lr=0.2, total_steps=60), "
    "CyclicLR(base_lr=0.01, max_lr=0.05, step_size_up=7)], milestones=[30, 90]), lr 0.1  "
    "# OneCycleLR sets the shared initial_lr to 0.2/25 = 0.008: ExponentialLR starts there",
    lambda: torch_rates(
        lambda o: L.SequentialLR(
            o,
            [
                L.ExponentialLR(o, 0.97),
                L.OneCycleLR(o, 0.2, total_steps=60, cycle_momentum=False),
                L.CyclicLR(o, 0.01, 0.05, 7, cycle_momentum=False),
            ],
            milestones=[30, 90],
        )
    ),
)
case(
    "join_optax_restart",
    "optax",
    "join_schedules([lambda c: 0.1/(1 + 0.1·c), exponential_decay(0.1, 1, 0.98)], [40])",
    lambda: optax_rates(
        optax.join_schedules(
            [lambda c: 0.1 / (1.0 + 0.1 * c), optax.exponential_decay(0.1, 1, 0.98)], [40]
        )
    ),
)
case(
    "join_optax_three",
    "optax",
    "join_schedules([linear_schedule(0.001, 0.1, 20), cosine_decay_schedule(0.1, 150, "
    "alpha=0.01), exponential_decay(0.001, 10, 0.9)], [20, 170])",
    lambda: optax_rates(
        optax.join_schedules(
            [
                optax.linear_schedule(0.001, 0.1, 20),
                optax.cosine_decay_schedule(0.1, 150, alpha=0.01),
                optax.exponential_decay(0.001, 10, 0.9),
            ],
            [20, 170],
        )
    ),
)
case(
    "chained_factors",
    "torch",
    "ChainedScheduler([MultiplicativeLR(F[constant_0995]), StepLR(step_size=25, gamma=0.7), "
    "ConstantLR(factor=0.5, total_iters=30), ExponentialLR(gamma=0.999)]), lr 0.1",
    lambda: torch_rates(
        lambda o: L.ChainedScheduler(
            [
                L.MultiplicativeLR(o, F["constant_0995"]),
                L.StepLR(o, step_size=25, gamma=0.7),
                L.ConstantLR(o, factor=0.5, total_iters=30),
                L.ExponentialLR(o, 0.999),
            ]
        )
    ),
)
case(
    "chained_cosine",
    "torch",
    "ChainedScheduler([CosineAnnealingLR(T_max=300), ExponentialLR(gamma=0.99)]), lr 0.1",
    lambda: torch_rates(
        lambda o: L.ChainedScheduler([L.CosineAnnealingLR(o, T_max=300), L.ExponentialLR(o, 0.99)])
    ),
)

# --------------------------------------------------------------------------- SWALR

case(
    "swalr_cos",
    "torch",
    "SWALR(swa_lr=0.01, anneal_epochs=40), lr 0.1",
    lambda: torch_rates(lambda o: SWALR(o, swa_lr=0.01, anneal_epochs=40)),
)
case(
    "swalr_linear_up",
    "torch",
    "SWALR(swa_lr=0.05, anneal_epochs=25, anneal_strategy='linear'), lr 0.02",
    lambda: torch_rates(
        lambda o: SWALR(o, swa_lr=0.05, anneal_epochs=25, anneal_strategy="linear"), lr=0.02
    ),
)
case(
    "swalr_one_epoch",
    "torch",
    "SWALR(swa_lr=0.02, anneal_epochs=1, anneal_strategy='linear'), lr 0.1",
    lambda: torch_rates(lambda o: SWALR(o, swa_lr=0.02, anneal_epochs=1, anneal_strategy="linear")),
)
case(
    "swalr_no_anneal",
    "torch",
    "SWALR(swa_lr=0.03, anneal_epochs=0), lr 0.1",
    lambda: torch_rates(lambda o: SWALR(o, swa_lr=0.03, anneal_epochs=0)),
)

# --------------------------------------------------------------------------- piecewise, cosine

case(
    "piecewise_keras",
    "keras",
    "PiecewiseConstantDecay([30, 100, 180], [0.1, 0.05, 0.01, 0.001])",
    lambda: keras_rates(
        keras.optimizers.schedules.PiecewiseConstantDecay([30, 100, 180], [0.1, 0.05, 0.01, 0.001])
    ),
)
case(
    "piecewise_torch",
    "torch",
    "MultiStepLR(milestones=[30, 100, 180], gamma=0.5), lr 0.1",
    lambda: torch_rates(lambda o: L.MultiStepLR(o, milestones=[30, 100, 180], gamma=0.5)),
)
case(
    "piecewise_optax",
    "optax",
    "piecewise_constant_schedule(0.1, {30: 0.5, 100: 0.2, 180: 0.1})",
    lambda: optax_rates(optax.piecewise_constant_schedule(0.1, {30: 0.5, 100: 0.2, 180: 0.1})),
)
case(
    "cosine_torch_periodic",
    "torch",
    "CosineAnnealingLR(T_max=70, eta_min=0.001), lr 0.1",
    lambda: torch_rates(lambda o: L.CosineAnnealingLR(o, T_max=70, eta_min=0.001)),
)
case(
    "cosine_torch_periodic_short",
    "torch",
    "CosineAnnealingLR(T_max=7), lr 0.1",
    lambda: torch_rates(lambda o: L.CosineAnnealingLR(o, T_max=7)),
)
case(
    "cosine_optax_clamped",
    "optax",
    "cosine_decay_schedule(0.1, 70, alpha=0.01)",
    lambda: optax_rates(optax.cosine_decay_schedule(0.1, 70, alpha=0.01)),
)


# --------------------------------------------------------------------------- main


def main() -> None:
    arrays, cases = {}, []
    for name, library, reference, thunk in CASES:
        rates = np.asarray(thunk(), dtype=np.float64)
        if rates.shape != (STEPS,) or not np.all(np.isfinite(rates)):
            raise SystemExit(f"{name}: expected {STEPS} finite rates")
        arrays[name] = rates
        cases.append({"name": name, "library": library, "reference": reference})
    meta = {
        "torch_version": torch.__version__,
        "optax_version": optax.__version__,
        "jax_version": jax.__version__,
        "keras_version": keras.__version__,
        "numpy_version": np.__version__,
        "steps": STEPS,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta, indent=1)), **arrays)
    print(f"wrote {len(cases)} cases of {STEPS} steps to {OUT}")


if __name__ == "__main__":
    main()
