"""docs/averages.md stays true: its examples run and its signatures are the module's.

Each fenced ```python block runs on its own, read and run by tests/test_library_docs.py's
reader and runner (``>>>`` blocks through :mod:`doctest`, their printed output compared);
a block marked ``<!-- not run -->`` on the line before its fence is skipped. Every public
name of :mod:`gdlab.averages` has a heading giving its signature, and every ``gdlab``
command line of the page is one the command's parser takes.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex

import pytest

from gdlab import averages, cli
from test_library_docs import DOCS, _python_blocks
from test_library_docs import (
    test_a_python_block_runs_and_prints_what_the_doc_shows as _run_block,
)

PAGE = "averages.md"


def _runnable() -> list[tuple[int, str]]:
    return [(line, code) for line, code, runs in _python_blocks(PAGE) if runs]


def _headings() -> dict[str, str]:
    """``name -> signature`` of the page's ``### `name(...)` `` reference headings."""
    text = (DOCS / PAGE).read_text(encoding="utf-8")
    found = re.findall(r"^### `(\w+)(\(.*\))(?: -> [\w.]+)?`$", text, re.M)
    return dict(found)


@pytest.mark.parametrize(
    ("line", "code"), [pytest.param(line, code, id=f"line {line}") for line, code in _runnable()]
)
def test_a_block_runs_and_prints_what_the_page_shows(line, code):
    _run_block(PAGE, line, code)


def test_the_page_has_examples_of_every_public_name():
    code = "\n".join(code for _, code in _runnable())
    assert len(_runnable()) >= 8
    for name in averages.__all__:
        assert re.search(rf"\b{name}\(", code), f"no example calls {name}"


def test_each_heading_gives_the_signature_and_defaults():
    headings = _headings()
    assert set(headings) == set(averages.__all__)
    for name, written in headings.items():
        args = ast.parse(f"def f{written}: pass").body[0].args
        parameters = inspect.signature(getattr(averages, name)).parameters
        assert [a.arg for a in args.args] == [
            n for n, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD
        ], name
        assert [a.arg for a in args.kwonlyargs] == [
            n for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY
        ], name
        defaults = dict(zip([a.arg for a in args.args][::-1], args.defaults[::-1], strict=False))
        defaults.update(
            (a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d
        )
        for arg, parameter in parameters.items():
            if arg in defaults:
                assert ast.literal_eval(defaults[arg]) == parameter.default, f"{name}.{arg}"
            else:
                assert parameter.default is inspect.Parameter.empty, f"{name}.{arg}"


def test_the_command_lines_are_ones_gdlab_takes():
    text = (DOCS / PAGE).read_text(encoding="utf-8")
    lines = [
        line
        for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
        for line in block.splitlines()
        if line.startswith("gdlab ")
    ]
    assert lines
    for line in lines:
        args = cli.build_parser().parse_args(shlex.split(line)[1:])
        assert args.command == "plot"
