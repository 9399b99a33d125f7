"""docs/your-optimizer.md stays true: its Python blocks run, in order, as one script."""

from __future__ import annotations

import re
from pathlib import Path

from gdlab.optim import OPTIMIZERS, unregister

DOC = Path(__file__).resolve().parent.parent / "docs" / "your-optimizer.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_guide_runs(capsys):
    blocks = _blocks()
    assert len(blocks) >= 4
    namespace: dict = {"__name__": "your_optimizer_doc"}
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
        report = namespace["report"]
        assert set(report.failures) == {"allocation"}  # what the guide says it prints
        records = namespace["records"]
        assert {r["label"] for r in records} == {"AdaBound", "Adam"}
        assert all(r["status"] == "ok" for r in records)
        text = DOC.read_text(encoding="utf-8")
        shown = text[text.index("print(space)") :].split("```text\n")[1].split("\n```")[0]
        assert repr(namespace["space"]) == shown  # what the guide says it prints
    finally:
        for name in ("adabound_rule", "adabound", "heavy_ball_rule"):
            if name in OPTIMIZERS:
                unregister(name)
    out = capsys.readouterr().out
    assert "allocation" in out


def test_the_rule_and_the_class_take_the_same_steps():
    """The guide's function rule and its fused class are one rule: bit-identical in float64."""
    import numpy as np

    namespace: dict = {"__name__": "your_optimizer_doc"}
    blocks = _blocks()
    try:
        exec(compile(blocks[0], str(DOC), "exec"), namespace)
        exec(compile(blocks[2].replace('check_optimizer("adabound")', ""), str(DOC), "exec"),
             namespace)  # fmt: skip
        rng = np.random.default_rng(7)
        x0 = rng.standard_normal((4, 5))
        a, b = {"W": x0.copy()}, {"W": x0.copy()}
        rule = namespace["create"]("adabound_rule", lr=0.01, gamma=0.1)
        fused = namespace["create"]("adabound", lr=0.01, gamma=0.1)
        for _ in range(50):
            g = rng.standard_normal((4, 5))
            rule.update(a, {"W": g})
            fused.update(b, {"W": g})
        np.testing.assert_array_equal(a["W"], b["W"])
        assert not np.array_equal(a["W"], x0)
    finally:
        for name in ("adabound_rule", "adabound"):
            if name in OPTIMIZERS:
                unregister(name)
