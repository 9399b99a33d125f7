"""Optimizers: importable by class and by name.

>>> from gdlab.optim import Adam, create
>>> opt = create("adam", preset="book", lr=0.3)

See :mod:`gdlab.optim.optimizers` for the update rules, :mod:`gdlab.optim.presets`
for the presets, and :class:`gdlab.optim.base.Optimizer` for what every
optimizer shares (checks, clipping, non-finite policy, state, saving).
"""

from . import (  # importing a module registers its optimizers
    adaptive,
    classic,
    layerwise,
    lbfgs,
    optimizers,
    parameter_free,
    sam,
    schedule_free,
    wrappers,
)
from .adaptive import *  # noqa: F403
from .base import NONFINITE_POLICIES, NonFiniteGradientError, Optimizer
from .classic import *  # noqa: F403
from .layerwise import *  # noqa: F403
from .lbfgs import *  # noqa: F403
from .optimizers import *  # noqa: F403
from .parameter_free import *  # noqa: F403
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
from .sam import *  # noqa: F403
from .schedule_free import *  # noqa: F403
from .wrappers import *  # noqa: F403

__all__ = [
    "ENTRY_POINT_GROUP",
    "NONFINITE_POLICIES",
    "OPTIMIZERS",
    "PRESETS",
    "NonFiniteGradientError",
    "Optimizer",
    "create",
    "load",
    "load_entry_points",
    "register",
    "unregister",
    *optimizers.__all__,
    *adaptive.__all__,
    *classic.__all__,
    *layerwise.__all__,
    *lbfgs.__all__,
    *parameter_free.__all__,
    *sam.__all__,
    *schedule_free.__all__,
    *wrappers.__all__,
]

load_entry_points()
