"""The shortcuts that make the report's figures faster change no byte of them.

:func:`gdlab.report.figures.draw` keeps one style per figure, measures the
words in DejaVu Sans alone when it draws every character, marks titles as
placed when nothing can move them, and lends the first panel's contour lines
to the other panels of the paths figure. Each file must be what the plain
route (every shortcut off) writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdlab import functions2d, optim
from gdlab.report import figures
from gdlab.results import SCHEMA_ID
from test_figures import bowl_problem


def bowl_document(labels: tuple[str, ...]) -> dict[str, Any]:
    fn = functions2d.get("bowl")
    runs = []
    for i, label in enumerate(labels):
        lr = 0.2 * (i + 1)
        path = functions2d.run_path(fn, optim.create("momentum", lr=lr), steps=25)
        runs.append(
            {
                "id": f"run-{i}", "label": label, "group": label, "optimizer": "momentum",
                "seed": 0, "hyperparameters": {"lr": lr}, "status": "ok",
                "loss": fn.f(path[:-1, 0], path[:-1, 1]).tolist(), "path": path.tolist(),
            }
        )  # fmt: skip
    return {"schema": SCHEMA_ID, "problem": bowl_problem(), "runs": runs}


def plain_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shortcut off: the fonts as the style lists them, titles placed on every
    drawing, contour lines traced on every panel."""
    contours = figures._contours

    def traced(ax: Any, surface: Any, *, labels: bool = False, like: Any = None) -> Any:
        return contours(ax, surface, labels=labels)

    monkeypatch.setattr(figures, "_first_font_only", lambda fig: None)
    monkeypatch.setattr(figures, "_keep_titles", lambda fig: None)
    monkeypatch.setattr(figures, "_contours", traced)


@pytest.mark.parametrize("labels", [("SGD", "Momentum", "Adam", "RMSprop"), ("모멘텀", "SGD")])
def test_the_shortcuts_write_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, labels: tuple[str, ...]
) -> None:
    doc = bowl_document(labels)
    fast = figures.draw(doc, tmp_path / "fast")
    with monkeypatch.context() as patched:
        plain_route(patched)
        plain = figures.draw(doc, tmp_path / "plain")
    assert [f["name"] for f in fast] == [f["name"] for f in plain] == ["overlay", "paths", "loss"]
    for entry in fast:
        for kind in ("png", "svg"):
            a = (tmp_path / "fast" / entry[kind]).read_bytes()
            b = (tmp_path / "plain" / entry[kind]).read_bytes()
            assert a == b, entry[kind]


def test_a_word_dejavu_sans_lacks_keeps_the_other_fonts() -> None:
    if len(figures._font_family()) < 2:
        pytest.skip("no font for Hangul on this machine")
    hangul = figures.overlay_figure(bowl_document(("모멘텀", "SGD")))
    latin = figures.overlay_figure(bowl_document(("Momentum", "SGD")))
    from matplotlib.text import Text

    families = {tuple(t.get_fontproperties().get_family()) for t in hangul.findobj(Text)}
    assert families == {figures._font_family()}
    families = {tuple(t.get_fontproperties().get_family()) for t in latin.findobj(Text)}
    assert families == {figures._font_family()[:1]}


def test_paths_panels_share_the_first_panels_lines() -> None:
    fig = figures.paths_figure(bowl_document(("SGD", "Momentum", "Adam")))
    from matplotlib.contour import ContourSet

    sets = [[c for c in ax.collections if isinstance(c, ContourSet)] for ax in fig.axes]
    assert [len(s) for s in sets] == [1, 1, 1]
    first = sets[0][0]
    for k, (lines,) in enumerate(sets[1:], start=2):
        assert lines.get_gid() == f"QuadContourSet_{k}"
        assert list(lines.levels) == list(first.levels)
        for a, b in zip(lines.get_paths(), first.get_paths(), strict=True):
            assert np.array_equal(a.vertices, b.vertices)


def test_an_offset_text_leaves_titles_to_matplotlib() -> None:
    with figures._style():
        fig = figures._new_figure(4, 3)
        ax = fig.subplots()
        ax.plot([0, 1, 2], [1e6, 1e6 + 1, 1e6 + 2])
        ax.set_title("offset")
        fig.get_layout_engine().execute(fig)
        figures._keep_titles(fig)
    assert ax.yaxis.offsetText.get_text()
    assert ax._autotitlepos is not False
