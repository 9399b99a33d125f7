"""Where a run diverged, in words: one answer for the page, figures, charts and terminal.

A run record's ``stopped_at`` counts the updates applied; its ``reason`` says
which step went wrong (``docs/results.md``):

- ``"diverged at step N: …"``: step N's loss or gradient was not acceptable,
  so that step was not applied (N = ``stopped_at + 1``);
- ``"diverged by step N: …"``: the evaluation after the N-th update was not
  (N = ``stopped_at``).

A record without such a reason (one made by hand) says only what is sure:
``"diverged after step N"`` with N its ``stopped_at`` (else the steps its
losses cover); with no update applied that is step 1's loss or gradient.

>>> record = {"status": "diverged", "stopped_at": 1, "reason": "diverged at step 2: loss 1e+26"}
>>> divergence(record)
('at', 2)
>>> divergence_words(record)
'diverged at step 2'
>>> divergence_words({"status": "diverged", "stopped_at": 5})
'diverged after step 5'
>>> where_words([("at", 2), ("at", 7), ("by", 5)])
'at steps 2, 7; by step 5'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gdlab.results import series_stride

__all__ = ["divergence", "divergence_words", "stop_step", "where_words"]

_REASON = re.compile(r"diverged (at|by) step (\d+)\b")


def divergence(run: Mapping[str, Any]) -> tuple[str, int] | None:
    """``(preposition, step)`` of a diverged run (``("at", 2)``, ``("by", 5)``,
    ``("after", 5)``), or ``None`` for a run that did not diverge, or one whose record
    says nowhere where (no reason with a step, no ``stopped_at``, no losses)."""
    if run.get("status") != "diverged":
        return None
    match = _REASON.match(str(run.get("reason") or ""))
    if match:
        return match.group(1), int(match.group(2))
    step = run.get("stopped_at")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        if not run.get("loss"):
            return None  # shown as a bare "diverged"
        step = len(run["loss"]) * series_stride(run)
    return ("at", 1) if step == 0 else ("after", step)


def stop_step(run: Mapping[str, Any], *, after_updates: bool = False) -> int | None:
    """Where a diverged run's × goes on a step axis, as its reason says; ``None`` if
    it did not diverge.

    On an axis of steps (a batch loss at the step it belongs to) that is the step the
    reason names: ``"diverged at step 20"`` at 20, ``"diverged by step 19"`` at 19. On
    an axis of updates applied (``after_updates``: f along a 2-D path, the start at 0)
    it is where the run stopped: after step N for ``by``, before it (N − 1) for ``at``,
    whose step N was not applied.

    >>> record = {"status": "diverged", "stopped_at": 19, "reason": "diverged at step 20: …"}
    >>> stop_step(record), stop_step(record, after_updates=True)
    (20, 19)
    """
    where = divergence(run)
    if where is None:
        return None
    preposition, step = where
    return step - 1 if after_updates and preposition == "at" else step


def divergence_words(run: Mapping[str, Any]) -> str:
    """``"diverged at step 2"`` (or ``by``, ``after``: see the module), ``""`` if it did not."""
    where = divergence(run)
    return "" if where is None else f"diverged {where[0]} step {where[1]}"


def where_words(points: Iterable[tuple[str, int]]) -> str:
    """``"at step 2"``, ``"at steps 2, 7"``, ``"at step 2; by step 5"``: the distinct
    ``(preposition, step)`` pairs of several runs, by step."""
    steps: dict[str, list[int]] = {}
    for preposition, step in sorted(set(points), key=lambda p: (p[1], p[0])):
        steps.setdefault(preposition, []).append(step)
    return "; ".join(
        f"{preposition} step{'s' if len(found) > 1 else ''} {', '.join(map(str, found))}"
        for preposition, found in steps.items()
    )
