"""Update rules rendered from docstrings: every optimizer's, well-formed, and the notation right."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gdlab.optim import OPTIMIZERS
from gdlab.report.maths import choose, line_mathml, rule_mathml, rules, summary


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_has_a_rule_that_renders(name):
    cls = OPTIMIZERS[name]
    found = rules(cls)
    assert found, f"{name}'s docstring has no literal block (Update::) to render"
    names = list(cls().hyperparameters())
    for rule in found:
        for columns in rule_mathml(rule, names):
            assert columns
            for element in columns:
                root = ET.fromstring(element)  # well-formed XML
                assert root.tag == "math"
                assert "^" not in "".join(root.itertext()).replace("(", "")  # powers became msup
    assert summary(cls)
    assert "\n" not in summary(cls)


def _tags(element: str) -> list[str]:
    return [e.tag for e in ET.fromstring(element).iter()]


def test_the_notation():
    assert "msqrt" in _tags(line_mathml("p ← p − lr·m̂ / (√v̂ + ε)"))
    beta = ET.fromstring(line_mathml("m ← β1·m"))
    sub = beta.find("msub")
    assert [e.text for e in sub] == ["β", "1"]
    power = ET.fromstring(line_mathml("b ← 1 − β2^t"))
    assert power.find("msup") is not None
    assert ET.fromstring(line_mathml("v ← v + d²")).find("msup")[1].text == "2"
    nested = ET.fromstring(line_mathml("μ_t = β1·(1 − ½·0.96^(t·ψ))"))
    assert nested.find("msub")[1].text == "t"
    prose = ET.fromstring(line_mathml("θ ← φ                (every k-th step)"))
    assert "every k-th step" in "".join(prose.itertext())
    named = ET.fromstring(line_mathml("w_t = t^beta2_decay", names=["beta2_decay"]))
    assert "beta2_decay" in [e.text for e in named.iter("mi")]


def test_text_is_escaped():
    element = line_mathml("p ← p <script>alert(1)</script> & q")
    assert "<script>" not in element
    ET.fromstring(element)


def test_the_form_of_the_run_chooses_the_block():
    momentum = OPTIMIZERS["momentum"]
    assert len(rules(momentum)) == 3
    (book,) = choose(momentum, {"form": "book"})
    assert book.lines == ("v ← μ·v − lr·d", "p ← p + v")
    assert len(choose(momentum, {})) == 3
    assert choose(OPTIMIZERS["sgd"], {"form": "nonexistent"}) == rules(OPTIMIZERS["sgd"])
