"""The optimizer registry: every name the CLI, races and tests loop over."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from .._checks import fail
from .base import Optimizer
from .optimizers import (
    SGD,
    Adadelta,
    AdaGrad,
    Adam,
    Adamax,
    AdamW,
    Momentum,
    NAdam,
    Nesterov,
    RAdam,
    RMSprop,
)
from .presets import PRESETS

__all__ = ["OPTIMIZERS", "create"]

OPTIMIZERS: MappingProxyType[str, type[Optimizer]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adadelta, Adam, AdamW, Adamax, NAdam, RAdam
        )
    }
)  # fmt: skip


def create(name: str, preset: str | None = None, **hyperparameters: Any) -> Optimizer:
    """Make an optimizer by name, with a preset's defaults under your hyperparameters.

    >>> create("adam", preset="book", lr=0.3)
    Adam(lr=0.3, beta1=0.9, beta2=0.999, eps=1e-07, form='lr_t', ...)

    Names are case-insensitive ("AdaGrad" and "adagrad" are one); an unknown
    name, an unknown preset, or an optimizer the preset does not define raises
    ``ValueError`` listing what is valid.
    """
    if not isinstance(name, str):
        fail("optimizer name", f"one of {', '.join(OPTIMIZERS)}", name, kind=TypeError)
    key = name.lower()
    if key not in OPTIMIZERS:
        fail("optimizer name", f"one of {', '.join(OPTIMIZERS)}", name)
    settings: dict[str, Any] = {}
    if preset is not None:
        if not isinstance(preset, str):
            fail("preset", f"one of {', '.join(PRESETS)}", preset, kind=TypeError)
        if preset not in PRESETS:
            fail("preset", f"one of {', '.join(PRESETS)}", preset)
        if key not in PRESETS[preset]:
            having = [p for p, table in PRESETS.items() if key in table]
            raise ValueError(
                f"preset {preset!r} does not define {key!r} (it has "
                f"{', '.join(PRESETS[preset])}); presets with {key!r}: {', '.join(having)}"
            )
        settings.update(PRESETS[preset][key])
    settings.update(hyperparameters)
    return OPTIMIZERS[key](**settings)
