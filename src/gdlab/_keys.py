"""The keys of an experiment file that are its own, as plain tuples.

A leaf module: it imports nothing of gdlab, so the registry (which refuses an
optimizer named as one of them) reads them while :mod:`gdlab.experiments.model`
is still loading (a plug-in registered as ``gdlab.optim`` loads, under it).
"""

from __future__ import annotations

__all__ = ["RUN_KEYS", "RUN_TRAINING_KEYS", "TOP_KEYS"]

#: What a run may override of the training settings.
RUN_TRAINING_KEYS = ("batch_size", "batching", "steps", "epochs", "step_loss")
#: The keys of a ``[[runs]]`` table besides the optimizer's hyperparameters.
RUN_KEYS = ("label", "optimizer", "preset", "group", "hyperparameters", *RUN_TRAINING_KEYS)
#: The keys of an experiment file's top level (``[problem]``, ``[[runs]]`` … included).
TOP_KEYS = (
    "name", "title", "description", "based_on", "tuned", "tuned_from", "tuned_digest", "seeds",
    "problem", "training", "optimizers", "runs",
)  # fmt: skip
