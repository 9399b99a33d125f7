"""Which tree of gdlab a benchmark's child process runs: one environment for it.

A command timed against another tree (``--against SRC``) and the tree of this
checkout each get ``PYTHONPATH`` set to their own ``src``, so that neither side
runs whatever the caller's ``PYTHONPATH`` or an install happens to hold.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tree_env(src: str | os.PathLike | None) -> dict[str, str]:
    """This process's environment, with ``PYTHONPATH`` the tree ``src`` (``None``: this
    checkout's ``src``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src if src is not None else ROOT / "src")
    return env
