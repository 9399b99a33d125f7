"""One shape for every registry: entries by name, registered once, looked up with a clear error.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Colour:
...     name: str
>>> COLOURS = Registry("colour", Colour)
>>> COLOURS.register(Colour("red")).name
'red'
>>> COLOURS.lookup("blue", "paint.colour")
Traceback (most recent call last):
...
gdlab._checks.ConfigError: paint.colour must be one of red; got 'blue'
"""

from __future__ import annotations

import difflib
from typing import Any, Generic, TypeVar

from gdlab._checks import ConfigError, fail

__all__ = ["PluginWarning", "Registry"]


class PluginWarning(RuntimeWarning):
    """A plug-in (a ``gdlab.optimizers`` entry point) that failed to load; here, where
    nothing imports a plug-in, so that a worker process can ignore it before its first
    import (its sweep's process has told it) and the ``gdlab`` command can say it in its
    own words."""


T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """A ``dict`` of entries keyed by their ``name``: :meth:`register` adds one (a name
    once), :meth:`lookup` finds one or raises :class:`~gdlab._checks.ConfigError`
    listing the names."""

    def __init__(self, what: str, kind: type) -> None:
        super().__init__()
        self.what = what
        self.kind = kind

    def register(self, entry: T) -> T:
        """Add ``entry`` under ``entry.name``; return it."""
        if not isinstance(entry, self.kind):
            fail(self.what, f"a {self.kind.__name__}", entry, kind=TypeError)
        name = entry.name  # type: ignore[attr-defined]
        if name in self:
            fail(f"{self.what} name", "not yet registered", name)
        self[name] = entry
        return entry

    def lookup(self, name: Any, where: str, missing: str | None = None) -> T:
        """The entry registered as ``name``; ``where`` names the setting in the error.
        With ``missing`` (what to say of a name that is not registered), an unknown name
        one slip from a registered one gets "did you mean", any other ``missing``.

        >>> COLOURS = Registry("colour", dict)
        >>> COLOURS["purple"] = {}
        >>> COLOURS.lookup("Purpel", "paint", missing="which is not registered")
        Traceback (most recent call last):
        ...
        gdlab._checks.ConfigError: paint must be one of purple; got 'Purpel', did you mean 'purple'?
        """
        if isinstance(name, str) and name in self:
            return self[name]
        text = f"{where} must be one of {', '.join(self)}; got {name!r}"
        if missing is not None and isinstance(name, str):
            close = difflib.get_close_matches(name.lower(), list(self), n=1, cutoff=0.75)
            text += f", did you mean {close[0]!r}?" if close else f", {missing}"
        raise ConfigError(text)
