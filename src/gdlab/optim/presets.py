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

Each optimizer declares its presets where it is registered
(``@register(..., presets={...})``): :data:`PRESETS` is read from the
registry, so an optimizer of your own can join a preset too. An optimizer a
preset does not define (the book has no AdamW) is an error, never a silent
fallback. ``docs/optimizers.md`` has the full table.
"""

from __future__ import annotations

from .registry import PRESETS

__all__ = ["BOOK_EPS", "KERAS_EPS", "PRESETS"]

#: The book's bare ``1e-7``, added after the square root.
BOOK_EPS = 1e-7
#: Keras 3's ``epsilon`` default.
KERAS_EPS = 1e-7
