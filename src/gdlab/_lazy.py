"""Modules of numba kernels, imported where they are first used.

Importing numba costs a process about a quarter of a second before any kernel
runs (and a kernel's first call then loads numba's compiler). A process that
only reads an experiment, checks it and hands its runs to a pool of workers
(the parent of ``gdlab race``'s workers), draws figures, or prints ``gdlab
--help`` never calls a kernel: with the modules of kernels loaded at their
first use it never imports numba, and a race's workers start that much sooner.

``adaptive_fused = lazy(__name__, "adaptive_fused", "gdlab.optim.adaptive_fused")``
binds a stand-in to the global ``adaptive_fused`` of the calling module. Its
first attribute lookup imports the real module (through :func:`importlib.import_module`,
so under the import lock: two threads import it once) and puts the module in
that global's place, so later lookups reach the module itself at no cost. A
stand-in kept elsewhere (a tuple of kernel modules made at import) goes on
working: it hands every lookup to the module.

``tests/test_lazy_kernels.py`` checks that a race's parent process, the
parser and the figures never import numba, and that the stand-in hands over.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__all__ = ["lazy", "resolved"]


class _Lazy:
    """A stand-in for a module, imported at its first attribute lookup."""

    __slots__ = ("_alias", "_home", "_module", "_name")

    def __init__(self, home: str, alias: str, name: str) -> None:
        object.__setattr__(self, "_home", home)
        object.__setattr__(self, "_alias", alias)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_module", None)

    def _load(self) -> ModuleType:
        module = self._module
        if module is None:
            module = importlib.import_module(self._name)
            object.__setattr__(self, "_module", module)
            home = sys.modules.get(self._home)
            if home is not None and vars(home).get(self._alias) is self:
                setattr(home, self._alias, module)  # later lookups skip the stand-in
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._load(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    # A module is one object: a copy of its stand-in is the stand-in itself, and a
    # pickled one is made again from its names (never through the module).
    def __copy__(self) -> _Lazy:
        return self

    def __deepcopy__(self, memo: dict) -> _Lazy:
        return self

    def __reduce__(self) -> tuple:
        return (_Lazy, (self._home, self._alias, self._name))

    def __repr__(self) -> str:
        module = sys.modules.get(self._name)
        if module is not None:
            return repr(module)
        return f"<module {self._name!r}, imported at its first use>"


def lazy(home: str, alias: str, name: str) -> Any:
    """The module ``name``, imported at its first use, bound to the global ``alias`` of
    the module ``home`` (pass ``__name__``); returns the stand-in to bind.

    The module itself when it is imported already.
    """
    module = sys.modules.get(name)
    return module if module is not None else _Lazy(home, alias, name)


def resolved(module: Any) -> Any:
    """``module`` itself: a stand-in's module (imported now if it is not yet), anything
    else as it is. For what keeps a module to call it often (an optimizer's kernels,
    from its first update on) and for identity tests (``is``)."""
    return module._load() if type(module) is _Lazy else module
