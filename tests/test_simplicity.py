"""The code stays simple to change: radon's cyclomatic complexity of every function
in ``src/gdlab`` is at most 20, and the experiment layer's modules use each other's
public names only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gdlab"
LIMIT = 20
#: The experiment layer: none of these reaches into another's private names.
LAYER = ("selection", "tuning", "experiments", "race", "train", "sweep", "results")


def _blocks(blocks):
    """Every function, method and closure radon found, nested ones included."""
    for block in blocks:
        yield from _blocks(getattr(block, "methods", ()))
        yield from _blocks(getattr(block, "closures", ()))
        if not hasattr(block, "methods"):
            yield block


def _sources():
    return sorted(SRC.rglob("*.py"))


def test_no_function_is_above_the_complexity_limit():
    complexity = pytest.importorskip("radon.complexity")
    over = [
        f"{path.relative_to(SRC)}:{block.lineno} {block.fullname} ({block.complexity})"
        for path in _sources()
        for block in _blocks(complexity.cc_visit(path.read_text(encoding="utf-8")))
        if block.complexity > LIMIT
    ]
    assert not over, f"cyclomatic complexity above {LIMIT}: " + "; ".join(over)


def test_the_walk_sees_closures_inside_methods():
    # radon's command line reports neither closures nor their complexity in the function
    # that holds them; the walk above must see a branchy closure inside a method
    complexity = pytest.importorskip("radon.complexity")
    branches = "".join(f"            if x == {i}: return {i}\n" for i in range(LIMIT + 1))
    text = f"class A:\n    def f(self, x):\n        def g():\n{branches}        return g\n"
    found = {b.fullname: b.complexity for b in _blocks(complexity.cc_visit(text))}
    assert found == {"A.f": 1, "g": LIMIT + 2}


def _module_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0] if parts else ""


def test_the_experiment_layer_imports_no_private_names_of_its_own():
    reached = []
    for path in _sources():
        home = _module_of(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}  # local name -> layer module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "gdlab" and not node.level:
                for name in node.names:  # from gdlab import selection [as s]
                    if name.name in LAYER:
                        aliases[name.asname or name.name] = name.name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                target = node.module.removeprefix("gdlab.").split(".")[0]
                for name in node.names:  # from gdlab.selection import _x
                    if target in LAYER and target != home and name.name.startswith("_"):
                        reached.append(f"{path.relative_to(SRC)}: {node.module}.{name.name}")
            elif isinstance(node, ast.Import):
                for name in node.names:  # import gdlab.selection as s
                    module = name.name.removeprefix("gdlab.").split(".")[0]
                    if name.name.startswith("gdlab.") and module in LAYER and name.asname:
                        aliases[name.asname] = module
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != home
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                reached.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value.id}.{node.attr}")
    assert not reached, "private names used across modules: " + "; ".join(reached)
