"""The optimizer registry: every name the CLI, races and tests loop over.

:func:`create` makes an optimizer by name, :func:`load` from a saved file.
The registry imports :mod:`.base`, never the other way round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .. import schedules as _schedules
from .._checks import fail
from . import io as _files
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

__all__ = ["OPTIMIZERS", "create", "load"]

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


def load(path: str | os.PathLike) -> Optimizer:
    """Recreate an optimizer, hyperparameters and state, from a file :meth:`Optimizer.save` wrote.

    Raises:
        FileNotFoundError: if there is no file at ``path``.
        ValueError: ``"PATH is not a gdlab optimizer file: WHY"`` for anything
            else that keeps the file from making an optimizer (a damaged or
            foreign file, an unknown optimizer, hyperparameters or a state
            that the optimizer refuses).
    """
    state_dict = _files.read_state(path)
    try:
        optimizer = _rebuild(state_dict)
        optimizer.load_state_dict(state_dict)
    except (TypeError, ValueError, KeyError) as error:
        raise _files.not_an_optimizer_file(path, error) from error
    return optimizer


def _rebuild(state_dict: Mapping[str, Any]) -> Optimizer:
    """A fresh optimizer made from a state dict's name and hyperparameters."""
    name = state_dict.get("optimizer")
    hyperparameters = state_dict.get("hyperparameters")
    if not isinstance(hyperparameters, Mapping):
        fail("state_dict['hyperparameters']", "a dict", hyperparameters, kind=TypeError)
    settings = dict(hyperparameters)
    lr = settings.get("lr")
    if isinstance(lr, Mapping) and "schedule" in lr:
        settings["lr"] = _schedules.from_config(lr["schedule"])
    return create(name, **settings)
