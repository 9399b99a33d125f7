"""The shortcuts that make the report's figures faster change no byte of them.

:func:`gdlab.report.figures.draw` keeps one style per figure, measures the
words in DejaVu Sans alone when it draws every character, marks titles as
placed when nothing can move them, lends the first panel's contour lines
to the other panels of the paths figure, draws each file once (no layout
engine is left for ``savefig`` to run a drawing for) and leaves a saved
figure to the garbage collector instead of clearing its axes one by one.
Each file must be what the plain route (every shortcut off) writes, for the
race figures and for those of ``gdlab plot init``, ``schedules`` and ``ewma``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdlab import functions2d, optim
from gdlab.experiments import plots
from gdlab.report import figures
from gdlab.results import SCHEMA_ID
from test_figures import bowl_problem, series_document


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
    drawing, contour lines traced on every panel, the frozen layout left as a
    placeholder engine (``savefig`` then draws the figure once more before each file,
    as it did), and each saved figure cleared."""
    from matplotlib.figure import Figure

    contours = figures._contours

    def traced(ax: Any, surface: Any, *, labels: bool = False, like: Any = None) -> Any:
        return contours(ax, surface, labels=labels)

    engine = Figure.set_layout_engine

    def placeholder(fig: Figure, layout: Any = None, **kwargs: Any) -> None:
        engine(fig, "none" if layout is None else layout, **kwargs)

    save = figures._save

    def cleared(fig: Figure, directory: Path, name: str) -> None:
        try:
            save(fig, directory, name)
        finally:
            fig.clear()

    monkeypatch.setattr(figures, "_first_font_only", lambda fig: None)
    monkeypatch.setattr(figures, "_keep_titles", lambda fig: None)
    monkeypatch.setattr(figures, "_contours", traced)
    monkeypatch.setattr(Figure, "set_layout_engine", placeholder)
    monkeypatch.setattr(figures, "_save", cleared)
    monkeypatch.setattr(figures, "_init_file_figure", figures.init_figure)  # linked axes


def figure_draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets one entry per ``Figure.draw``: the renderer's class name."""
    from matplotlib.figure import Figure

    draws: list[str] = []
    real = Figure.draw

    def counted(fig: Figure, renderer: Any) -> None:
        draws.append(type(renderer).__name__)
        real(fig, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    return draws


PLOT_DOCUMENTS = {
    "init": lambda: series_document(plots.init_series(samples=200, units=20, layers=2)),
    "schedules": lambda: series_document(plots.schedules_series(epochs=6, steps_per_epoch=10)),
    "ewma": lambda: series_document(plots.ewma_series()),
}
PLOT_FIGURES = {
    "init": ["init-sigmoid", "init-tanh", "init-relu"],
    "schedules": ["schedules"],
    "ewma": ["ewma"],
}


@pytest.mark.parametrize("kind", list(PLOT_DOCUMENTS))
def test_the_plot_figures_keep_their_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    doc = PLOT_DOCUMENTS[kind]()
    fast = figures.draw(doc, tmp_path / "fast")
    with monkeypatch.context() as patched:
        plain_route(patched)
        draws = figure_draws(patched)
        plain = figures.draw(doc, tmp_path / "plain")
    names = PLOT_FIGURES[kind]
    assert [f["name"] for f in fast] == [f["name"] for f in plain] == names
    assert len(draws) == 4 * len(names)  # the plain route is the old one: two drawings a file
    for entry in fast:
        for kind_ in ("png", "svg"):
            a = (tmp_path / "fast" / entry[kind_]).read_bytes()
            b = (tmp_path / "plain" / entry[kind_]).read_bytes()
            assert a == b, entry[kind_]


def test_the_saved_init_histograms_have_axes_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """draw() saves the init figures with unlinked histograms (matplotlib checks every
    linked axes each time it reads one's limits), set alike; init_figure links them."""
    saved: list[Any] = []
    save = figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, *args: saved.append(fig) or save(fig, *args))
    doc = PLOT_DOCUMENTS["init"]()
    figures.draw(doc, tmp_path)
    assert len(saved) == 3
    for fig in saved:
        hists = [ax for ax in fig.axes if ax.get_title() != "std per layer"]
        assert len(hists) == 4 * 2
        for ax in hists:
            assert ax.get_shared_x_axes().get_siblings(ax) == [ax]
            assert ax.get_shared_y_axes().get_siblings(ax) == [ax]
            assert ax.get_xlim() == hists[0].get_xlim()
            assert ax.get_ylim() == hists[0].get_ylim()
            assert ax.get_xscale() == hists[0].get_xscale()
            assert list(ax.get_xticks()) == list(hists[0].get_xticks())
            assert list(ax.get_yticks()) == list(hists[0].get_yticks())
    linked = figures.init_figure(doc, activation="relu")
    hists = [ax for ax in linked.axes if ax.get_title() != "std per layer"]
    assert set(hists[0].get_shared_x_axes().get_siblings(hists[0])) == set(hists)


def test_each_file_is_one_drawing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """savefig drew every figure twice per file: once without rendering, for a layout
    engine that had nothing left to do (the layout was computed and frozen), then
    for real."""
    draws = figure_draws(monkeypatch)
    made = figures.draw(PLOT_DOCUMENTS["init"](), tmp_path)
    assert [f["name"] for f in made] == PLOT_FIGURES["init"]
    assert draws == ["RendererAgg", "MixedModeRenderer"] * len(made)  # PNG, SVG


def test_a_saved_figure_is_left_to_the_garbage_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No axes is cleared after saving (clearing the 21 axes of an init figure one by one
    cost a tenth of its time), and every figure is still freed."""
    import gc
    import weakref

    from matplotlib.axes import Axes

    made: list[weakref.ref] = []
    new_figure = figures._new_figure

    def tracked(width: float, height: float) -> Any:
        fig = new_figure(width, height)
        made.append(weakref.ref(fig))
        return fig

    calls = {"made": 0, "cleared": 0}
    init, clear = Axes.__init__, Axes.clear

    def counted_init(ax: Axes, *args: Any, **kwargs: Any) -> None:
        calls["made"] += 1
        init(ax, *args, **kwargs)

    def counted_clear(ax: Axes) -> None:
        calls["cleared"] += 1
        clear(ax)

    monkeypatch.setattr(figures, "_new_figure", tracked)
    monkeypatch.setattr(Axes, "__init__", counted_init)
    monkeypatch.setattr(Axes, "clear", counted_clear)
    figures.draw(PLOT_DOCUMENTS["init"](), tmp_path)
    assert len(made) == 3
    assert calls == {"made": 3 * (4 * 2 + 1), "cleared": 3 * (4 * 2 + 1)}  # once, when made
    gc.collect()
    assert [ref() for ref in made] == [None, None, None]


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
