"""An unknown problem kind: a slip gets "did you mean", a kind of one's own not registered in
this process gets how to register it (once, also when a report of it is drawn)."""

from __future__ import annotations

import pytest

from gdlab.problems import get_kind
from gdlab.report import figures


@pytest.mark.parametrize(("name", "meant"), [("functon", "function"), ("MLP", "mlp"),
                                             ("linreg ", "linreg")])  # fmt: skip
def test_a_slip_is_told_the_kind_meant(name, meant):
    with pytest.raises(ValueError, match=f"did you mean '{meant}'") as caught:
        get_kind(name)
    assert "register" not in str(caught.value)


def test_a_report_of_a_kind_not_registered_says_how_to_register_it_once():
    table = {"kind": "saddle_of_mine", "a": 1.0}
    with pytest.raises(ValueError, match="cannot draw") as caught:
        figures._kind_function(table)
    message = str(caught.value)
    assert "cannot draw the function of problem kind 'saddle_of_mine'" in message
    assert message.count("import the module") == 1, message
