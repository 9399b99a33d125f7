"""Optimizers: importable by class and by name.

>>> from gdlab.optim import Adam, create
>>> opt = create("adam", preset="book", lr=0.3)

See :mod:`gdlab.optim.optimizers` for the update rules, :mod:`gdlab.optim.presets`
for the presets, and :class:`gdlab.optim.base.Optimizer` for what every
optimizer shares (checks, clipping, non-finite policy, state, saving).
"""

from .base import NONFINITE_POLICIES, NonFiniteGradientError, Optimizer
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
from .registry import (
    ENTRY_POINT_GROUP,
    OPTIMIZERS,
    PRESETS,
    create,
    load,
    load_entry_points,
    register,
    unregister,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "NONFINITE_POLICIES",
    "OPTIMIZERS",
    "PRESETS",
    "SGD",
    "AdaGrad",
    "Adadelta",
    "Adam",
    "AdamW",
    "Adamax",
    "Momentum",
    "NAdam",
    "Nesterov",
    "NonFiniteGradientError",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "create",
    "load",
    "load_entry_points",
    "register",
    "unregister",
]

load_entry_points()
