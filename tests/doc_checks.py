"""What the docs suites share: a signature written in a doc, checked against the code."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable


def assert_written_signature(written: str, function: Callable) -> ast.arguments:
    """``written`` (the text between a call's parentheses in a doc) names ``function``'s
    parameters in order, its keyword-only ones as keyword-only, with its defaults
    (a bare keyword-only name: one without a default). Returns the parsed arguments."""
    args = ast.parse(f"def written({written}): pass").body[0].args
    parameters = inspect.signature(function).parameters
    assert [a.arg for a in args.args + args.kwonlyargs] == list(parameters)
    assert [a.arg for a in args.kwonlyargs] == [
        n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        expected = parameters[arg.arg].default
        if default is None:
            assert expected is inspect.Parameter.empty, arg.arg
        else:
            assert ast.literal_eval(default) == expected, arg.arg
    return args
