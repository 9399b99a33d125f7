"""Presets: one word that chooses each optimizer's form and defaults.

============  =============================================================
``"book"``    seed 001's classes (*Deep Learning from Scratch*): SGD, Momentum
              and Nesterov lr 0.01, μ 0.9 in the book forms; AdaGrad lr 0.01;
              RMSprop lr 0.01, α 0.99; Adam lr 0.001 in the ``lr_t`` form;
              ε = 1e-7 added after the root.
``"course"``  seeds 000/004 (the deep-learning course): Momentum as an EMA
              (β 0.9), RMSprop β 0.999, Adam in the explicit form with
              ε = 1e-8 outside the root (seed 000's code), lr 0.01
              (seed 000's default). Seed 004 writes ε inside the root:
              pass ``eps_inside=True``.
``"torch"``   ``torch.optim``'s defaults and forms (the classes' defaults).
``"keras"``   Keras 3's defaults: ε = 1e-7, inside the root for AdaGrad and
              RMSprop, Adam/AdamW in the ``lr_t`` form, Momentum in the book
              form, Nesterov in Keras's form, Adamax with ε added to u.
============  =============================================================

An optimizer a preset does not define (the book has no AdamW) is an error,
never a silent fallback. ``docs/optimizers.md`` has the full table.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

__all__ = ["PRESETS"]

_BOOK_EPS = 1e-7  # the book's bare `1e-7`, added after the square root
_KERAS_EPS = 1e-7

_book = {
    "sgd": {"lr": 0.01},
    "momentum": {"lr": 0.01, "momentum": 0.9, "form": "book"},
    "nesterov": {"lr": 0.01, "momentum": 0.9, "form": "book"},
    "adagrad": {"lr": 0.01, "eps": _BOOK_EPS},
    "rmsprop": {"lr": 0.01, "alpha": 0.99, "eps": _BOOK_EPS},
    "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "form": "lr_t", "eps": _BOOK_EPS},
}

_course = {
    "sgd": {"lr": 0.01},
    "momentum": {"lr": 0.01, "momentum": 0.9, "form": "ema"},
    "rmsprop": {"lr": 0.01, "alpha": 0.999, "eps": 1e-8},
    "adam": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "form": "explicit", "eps": 1e-8},
}

_torch: dict[str, dict[str, Any]] = {
    name: {}
    for name in (
        "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
        "adamax", "nadam", "radam",
    )
}  # fmt: skip

_keras = {
    "sgd": {"lr": 0.01},
    "momentum": {"lr": 0.01, "momentum": 0.9, "form": "book"},
    "nesterov": {"lr": 0.01, "momentum": 0.9, "form": "keras"},
    "adagrad": {
        "lr": 0.001,
        "initial_accumulator_value": 0.1,
        "eps": _KERAS_EPS,
        "eps_inside": True,
    },
    "rmsprop": {"lr": 0.001, "alpha": 0.9, "eps": _KERAS_EPS, "eps_inside": True},
    "adadelta": {"lr": 0.001, "rho": 0.95, "eps": _KERAS_EPS},
    "adam": {"lr": 0.001, "form": "lr_t", "eps": _KERAS_EPS},
    "adamw": {"lr": 0.001, "form": "lr_t", "eps": _KERAS_EPS, "weight_decay": 0.004},
    "adamax": {"lr": 0.001, "eps": _KERAS_EPS, "eps_inside": False},
    # Keras's μ_t = β1(1 − ½·0.96^t): PyTorch's 0.96^(t·ψ) with ψ = 1.
    "nadam": {"lr": 0.001, "eps": _KERAS_EPS, "momentum_decay": 1.0},
}

PRESETS: MappingProxyType[str, MappingProxyType[str, dict[str, Any]]] = MappingProxyType(
    {
        "book": MappingProxyType(_book),
        "course": MappingProxyType(_course),
        "torch": MappingProxyType(_torch),
        "keras": MappingProxyType(_keras),
    }
)
