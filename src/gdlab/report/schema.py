"""The ``results.json`` contract: its JSON Schema, a validator and a strict writer.

``SCHEMA`` is ``results.schema.json`` (shipped beside this module), the
machine-readable form of ``docs/results.md``. :func:`validate` checks a
document against it with the ``jsonschema`` package when that is installed
(it is a test extra) and adds what a schema cannot say: no NaN or infinity
anywhere, run ids unique. Without ``jsonschema`` it falls back to the required
keys and the enumerations of the top level and of each run.

>>> validate({"schema": "gdlab.results/2"})
Traceback (most recent call last):
...
ValueError: not a valid gdlab.results/2 document (...):
  $: 'experiment' is a required property
...
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from importlib import resources
from typing import Any

__all__ = ["SCHEMA", "SCHEMA_ID", "dumps", "errors", "validate"]

from gdlab.results import SCHEMA_ID

SCHEMA: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("results.schema.json").read_text(encoding="utf-8")
)

_SHOWN = 5  # errors listed in a ValueError's message


def _path(parts: Any) -> str:
    """A JSON path (``$.runs[0].loss[3]``) from a sequence of keys and indices."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _non_finite(value: Any, parts: tuple = ()) -> Iterator[str]:
    """The path of every NaN or infinity in ``value`` (JSON has neither)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield f"{_path(parts)}: {value!r} is not a finite number (JSON has no NaN or Infinity)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, (*parts, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*parts, index))


def _duplicate_ids(document: Any) -> Iterator[str]:
    runs = document.get("runs") if isinstance(document, dict) else None
    if not isinstance(runs, list):
        return
    seen: set[str] = set()
    for index, run in enumerate(runs):
        run_id = run.get("id") if isinstance(run, dict) else None
        if isinstance(run_id, str):
            if run_id in seen:
                yield f"{_path(('runs', index, 'id'))}: {run_id!r} is not unique"
            seen.add(run_id)


def _fallback(document: Any) -> Iterator[str]:
    """The required keys and the enumerations, for when ``jsonschema`` is missing."""

    def check(value: Any, schema: dict[str, Any], parts: tuple) -> Iterator[str]:
        if not isinstance(value, dict):
            yield f"{_path(parts)}: {value!r} is not of type 'object'"
            return
        for key in schema.get("required", ()):
            if key not in value:
                yield f"{_path(parts)}: {key!r} is a required property"
        for key, rule in schema.get("properties", {}).items():
            if key not in value:
                continue
            if "const" in rule and value[key] != rule["const"]:
                yield f"{_path((*parts, key))}: {rule['const']!r} was expected"
            if "enum" in rule and value[key] not in rule["enum"]:
                yield f"{_path((*parts, key))}: {value[key]!r} is not one of {rule['enum']!r}"

    yield from check(document, SCHEMA, ())
    runs = document.get("runs") if isinstance(document, dict) else None
    if isinstance(runs, list):
        for index, run in enumerate(runs):
            yield from check(run, SCHEMA["$defs"]["run"], ("runs", index))


def _order(error: Any) -> list[tuple[int, int, str]]:
    """A sort key for errors by path (paths mix indices and names)."""
    return [(1, 0, p) if isinstance(p, str) else (0, p, "") for p in error.absolute_path]


def _leaves(error: Any) -> list[Any]:
    """The errors that explain ``error``: for a failed ``oneOf``/``anyOf``, those of
    the alternative that came closest (its ``kind`` matched, its type matched — an
    object that breaks the object branch is not explained by "not null" —, fewest
    errors), else ``error`` itself."""
    if not error.context:
        return [error]
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def distance(errs: list[Any]) -> tuple[bool, bool, int]:
        wrong_type = all(e.validator == "type" and not e.relative_path for e in errs)
        return any(e.validator == "const" for e in errs), wrong_type, len(errs)

    closest = min(branches.values(), key=distance)
    return [leaf for sub in closest for leaf in _leaves(sub)]


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def errors(document: Any) -> list[str]:
    """Every way ``document`` breaks the contract, as ``"<JSON path>: <message>"`` lines."""
    found = list(_non_finite(document))
    try:
        import jsonschema
    except ImportError:
        found += _fallback(document)
    else:
        validator = jsonschema.Draft202012Validator(SCHEMA)
        leaves = [leaf for e in validator.iter_errors(document) for leaf in _leaves(e)]
        for error in sorted(leaves, key=_order):
            # A NaN also fails "minimum" and the like; it is reported once, above.
            if isinstance(error.instance, float) and not math.isfinite(error.instance):
                continue
            found.append(f"{_path(error.absolute_path)}: {_shorten(error.message)}")
    found += _duplicate_ids(document)
    return found


def validate(document: Any) -> None:
    """Check ``document`` against the results schema (:data:`SCHEMA_ID`).

    Raises:
        ValueError: listing the first few problems, each with its JSON path
            (``$.runs[1].status: 'done' is not one of ['ok', 'diverged', 'stopped', 'failed']``).
    """
    found = errors(document)
    if found:
        more = len(found) - _SHOWN
        lines = [f"  {line}" for line in found[:_SHOWN]]
        if more > 0:
            lines.append(f"  … and {more} more")
        count = f"{len(found)} error{'s' if len(found) > 1 else ''}"
        raise ValueError(f"not a valid {SCHEMA_ID} document ({count}):\n" + "\n".join(lines))


def dumps(document: Any, *, indent: int | None = 1) -> str:
    """``document`` as strict JSON text (``allow_nan=False``).

    Raises:
        ValueError: naming the path of the first NaN or infinity, if any.
    """
    bad = next(_non_finite(document), None)
    if bad is not None:
        raise ValueError(f"cannot write results as JSON: {bad}")
    return json.dumps(document, indent=indent, allow_nan=False, ensure_ascii=False)
