"""Round 9: the static figures agree with the interactive charts over seeds.

The accuracy figure draws, for a group with several seeds, the band the chart draws
(± std for a tuned race, else min–max, over the same seeds at each evaluation), and
its caption and halo words say so; one seed per group draws no band. The loss axis,
chosen from the means, widens to hold the bands over seeds where that costs at most
:data:`~gdlab.report.figures.BAND_WIDEN` times the height, else the band is cut and
the caption says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from gdlab.report import figures, interactive

# --- documents ----------------------------------------------------------------------

PROBLEM = {"kind": "classification", "name": "toy", "traits": []}


def _run(group: str, seed: int, loss: Any, epochs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"{group}-seed{seed}", "label": group, "group": group, "seed": seed,
            "status": "ok", "loss": [float(v) for v in loss], "epochs": epochs}  # fmt: skip


def _epochs(accuracy: list[float], steps: list[int]) -> list[dict[str, Any]]:
    return [
        {"epoch": i + 1, "step": s, "train_accuracy": a, "val_accuracy": a - 0.07 * (i % 2)}
        for i, (s, a) in enumerate(zip(steps, accuracy, strict=True))
    ]


def _race(seeds: int = 3, tuned: bool = False, evaluations: int = 4) -> dict[str, Any]:
    """Two groups of ``seeds`` seeds whose accuracies differ irregularly between seeds."""
    rng = np.random.default_rng(9)
    t = np.arange(1, 201)
    steps = [200 * (k + 1) // evaluations for k in range(evaluations)]
    runs = []
    for group, rate in (("SGD", 60.0), ("Adam", 25.0)):
        for seed in range(seeds):
            loss = 0.3 + 2 * np.exp(-t / rate) * (1 + 0.1 * seed)
            accuracy = list(np.clip(rng.uniform(0.4, 0.9, evaluations), 0, 1))
            runs.append(_run(group, seed, loss, _epochs(accuracy, steps)))
    doc: dict[str, Any] = {"problem": PROBLEM, "runs": runs}
    if tuned:
        doc["series"] = {"kind": "tuning", "metric": "validation loss", "configurations": {}}
    return doc


def _chart(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in interactive.charts(doc) if c["figure"] == name)


def _band_of(coll: PolyCollection, steps: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The low and high edge of a fill_between at ``steps``."""
    vertices = coll.get_paths()[0].vertices
    low = [vertices[np.isclose(vertices[:, 0], s), 1].min() for s in steps]
    high = [vertices[np.isclose(vertices[:, 0], s), 1].max() for s in steps]
    return np.asarray(low), np.asarray(high)


# --- 1: the accuracy figure's band is the chart's -------------------------------------


@pytest.mark.parametrize("tuned", [False, True])
def test_accuracy_figure_band_is_the_charts(tuned: bool) -> None:
    doc = _race(tuned=tuned)
    ax = figures.accuracy_figure(doc).axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 4  # two groups, train and validation
    styles = figures.group_styles(doc["runs"])
    chart = {t["meta"]: t for t in _chart(doc, "accuracy")["traces"]}
    coloured = {name: [c for c in bands if np.allclose(c.get_facecolor()[0][:3],
                                                      _rgb(styles[name].color))]
                for name in ("SGD", "Adam")}  # fmt: skip
    for name, drawn in coloured.items():
        assert len(drawn) == 2
        assert all(math.isclose(c.get_alpha(), figures.BAND_ALPHA) for c in drawn)
        for split in ("train", "validation"):
            trace = chart[f"{name} · {split}: mean of 3 seeds"]
            assert trace["band"]["kind"] == ("std" if tuned else "minmax")
            low, high = np.asarray(trace["band"]["low"]), np.asarray(trace["band"]["high"])
            matches = [
                c for c in drawn
                if all(np.allclose(e, w, atol=1e-6) for e, w in
                       zip(_band_of(c, trace["x"]), (low, high), strict=True))
            ]  # fmt: skip
            assert len(matches) == 1, (name, split)
    ylim = ax.get_ylim()
    every = [
        v for t in chart.values() if t.get("band") for v in t["band"]["low"] + t["band"]["high"]
    ]
    assert ylim[0] < min(every)
    assert max(every) < ylim[1]


def _rgb(color: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(color)


def test_accuracy_figure_of_one_seed_per_group_draws_no_band() -> None:
    doc = _race(seeds=1)
    ax = figures.accuracy_figure(doc).axes[0]
    assert not ax.collections
    assert not [line for line in ax.get_lines() if line.get_linewidth() == 6]
    keys = ["train_accuracy", "val_accuracy"]
    values = [v for r in doc["runs"] for e in r["epochs"] for v in (e[k] for k in keys)]
    pad = 0.05 * (max(values) - min(values))
    assert np.allclose(ax.get_ylim(), (min(values) - pad, max(values) + pad))  # as before


def test_accuracy_figure_at_one_evaluation_draws_a_short_bar() -> None:
    doc = _race(evaluations=1)
    ax = figures.accuracy_figure(doc).axes[0]
    bars = [line for line in ax.get_lines() if line.get_linewidth() == 6]
    assert len(bars) == 4
    chart = {t["meta"]: t for t in _chart(doc, "accuracy")["traces"]}
    band = chart["SGD · train: mean of 3 seeds"]["band"]
    drawn = {tuple(np.round(bar.get_ydata(), 6)) for bar in bars}
    assert (round(band["low"][0], 6), round(band["high"][0], 6)) in drawn
    assert all(bar.get_alpha() == figures.BAND_ALPHA for bar in bars)


def test_accuracy_caption_and_halo_words_name_the_band() -> None:
    doc = _race()
    for run in doc["runs"]:  # Adam's seeds as SGD's: their means overlap
        if run["group"] == "Adam":
            twin = next(r for r in doc["runs"] if r["group"] == "SGD" and r["seed"] == run["seed"])
            run["epochs"] = twin["epochs"]
    (plan,) = [p for p in figures._run_plans(doc, PROBLEM, doc["runs"]) if p.name == "accuracy"]
    assert "a shaded band from the lowest to the highest seed (min–max)" in plan.caption
    (note,) = [t.get_text() for t in figures.accuracy_figure(doc).axes[0].texts]
    assert note.startswith("Wide pale lines: halos under\ncurves hidden within the line width")
    words = figures._accuracy_overlap_words(doc)
    assert "this figure draws no band" not in words
    assert "(the shaded band over seeds is the one, the lowest to the highest seed (min–max))" in (
        words
    )
    tuned = _race(tuned=True)
    (plan,) = [p for p in figures._run_plans(tuned, PROBLEM, tuned["runs"]) if p.name == "accuracy"]
    assert "one standard deviation either side of the mean" in plan.caption


# --- 2: the loss axis holds a band that costs little, and says when it cannot ------------


def _spread_race(spread: float) -> dict[str, Any]:
    """Two groups whose means lie close (0.70 and 0.74, flat), their three seeds
    ``spread`` apart around them (multiplied by 1 − spread, 1, 1 + spread)."""
    t = np.arange(1, 101)
    runs = []
    for group, level in (("SGD", 0.74), ("Adam", 0.70)):
        for seed, k in enumerate((-1, 0, 1)):
            loss = (level - 0.02 * t / 100) * (1 + k * spread)
            runs.append(_run(group, seed, loss, []))
    return {"problem": PROBLEM, "runs": runs}


def _reach(curves: list[Any]) -> tuple[float, float]:
    return min(float(c.low.min()) for c in curves), max(float(c.high.max()) for c in curves)


def test_loss_axis_widens_to_hold_a_band_that_costs_little() -> None:
    doc = _spread_race(0.1)  # seeds ±10%: the band about 3 times the means' range
    curves = figures._loss_curves(doc)
    means = figures.choose_scale([c.mean for c in curves])
    view = figures._loss_view(curves, None)
    low, high = _reach(curves)
    assert not (means.low <= low and high <= means.high)  # the means' axis cuts the band
    assert view.scale.low <= low
    assert high <= view.scale.high
    assert not view.cut
    assert view.scale.kind == means.kind
    ax = figures.loss_figure(doc).axes[0]
    assert np.allclose(ax.get_ylim(), (view.scale.low, view.scale.high))
    caption = next(p.caption for p in figures._run_plans(doc, PROBLEM, doc["runs"]))
    assert "grows to hold the bands" in caption
    assert not ax.texts
    assert "leaves the axis" not in caption


def test_loss_axis_cuts_a_band_that_would_flatten_the_means() -> None:
    doc = _spread_race(0.6)  # seeds ±60%: the band far wider than the means' range
    curves = figures._loss_curves(doc)
    view = figures._loss_view(curves, None)
    means = figures.choose_scale([c.mean for c in curves])
    assert view.cut
    assert (view.scale.low, view.scale.high) == (means.low, means.high)
    caption = next(p.caption for p in figures._run_plans(doc, PROBLEM, doc["runs"]))
    assert "a band leaves the axis and is cut at its edge" in caption
    ax = figures.loss_figure(doc).axes[0]
    assert np.allclose(ax.get_ylim(), (means.low, means.high))
    assert [t.get_text() for t in ax.texts] == [
        "The seeds' bands run past\nthe axis: cut at its edges"
    ]


@pytest.mark.parametrize(("was", "reach", "held"), [
    ((0.5, 1.0), (0.3, 1.2), True),  # 0.3 decades to about 0.7: within 5 times
    ((0.5, 1.0), (0.01, 1.0), False),  # to 2 decades: more than 5 times
    ((1e-4, 1.0), (1e-6, 1.0), False),  # 4 decades to 6: more than one decade more
    ((1e-4, 1.0), (2e-5, 1.0), True),  # to about 4.8 decades
    ((0.5, 1.0), (-0.1, 1.0), False),  # mean − std below 0: a log axis cannot hold it
])  # fmt: skip
def test_log_loss_axis_widens_by_at_most_five_times_and_one_decade(
    was: tuple[float, float], reach: tuple[float, float], held: bool
) -> None:
    scale = figures.Scale("log", *was, "log axis")
    widened, cut = figures._widened(scale, reach)
    assert cut is not held
    if held:
        assert widened.low <= reach[0]
        assert reach[1] <= widened.high
    else:
        assert widened == scale


def test_linear_loss_axis_from_zero_stays_at_zero() -> None:
    scale = figures.Scale("linear", 0.0, 1.0, "linear axis")
    widened, cut = figures._widened(scale, (-0.2, 1.5))
    assert widened.low == 0
    assert widened.high > 1.5
    assert not cut
    assert figures._widened(scale, (0.0, 6.0)) == (scale, True)


def test_loss_axis_of_one_seed_per_group_is_the_means() -> None:
    doc = _spread_race(0.6)
    doc["runs"] = [r for r in doc["runs"] if r["seed"] == 0]
    curves = figures._loss_curves(doc)
    view = figures._loss_view(curves, None)
    assert view.scale == figures.choose_scale([c.mean for c in curves])
    assert not view.cut
    caption = next(p.caption for p in figures._run_plans(doc, PROBLEM, doc["runs"]))
    assert "grows to hold" not in caption


def test_noisy_dots_are_judged_on_the_widened_axis() -> None:
    curves = figures._loss_curves(_spread_race(0.1))
    view = figures._loss_view(curves, None)
    assert figures._noisy(curves) == figures._noisy(curves, view.scale)


# --- the charts take the figures' axes ----------------------------------------------------


@pytest.mark.parametrize(("spread", "cut"), [(0.1, False), (0.6, True)])
def test_the_loss_chart_takes_the_figures_widened_axis_and_its_note(
    spread: float, cut: bool
) -> None:
    doc = _spread_race(spread)
    view = figures._loss_view(figures._loss_curves(doc), None)
    chart = _chart(doc, "loss")
    low, high = chart["scale"]["ranges"][chart["scale"]["kind"]]
    assert chart["scale"]["kind"] == view.scale.kind
    assert np.allclose([low, high], [view.scale.low, view.scale.high], rtol=1e-5)
    assert (chart.get("note") == interactive.BANDS_CUT) is cut


def test_the_accuracy_chart_holds_its_bands_as_the_figure() -> None:
    doc = _race(seeds=3)
    chart = _chart(doc, "accuracy")
    low, high = chart["scale"]["ranges"]["linear"]
    ax = figures.accuracy_figure(doc).axes[0]
    assert np.allclose([low, high], ax.get_ylim(), rtol=1e-5)
    bands = [t["band"] for t in chart["traces"] if t.get("band")]
    assert bands
    assert low <= min(min(b["low"]) for b in bands)
    assert max(max(b["high"]) for b in bands) <= high
