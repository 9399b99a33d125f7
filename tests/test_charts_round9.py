"""Round 9: the interactive charts draw what their captions say.

A group with several seeds shows, as its figure and caption, the mean over its seeds
that did not diverge (each step over those that reach it) with a shaded band (± std
for a tuned race, else min–max), a diverged seed alone and thin with its seed in its
label; the page recomputes the mean and band from the seeds' raw losses when the
smoothing slider moves, and at the figure's β its mean is the figure's. The
sensitivity chart's hover gives each point's validation accuracy, and the chart says
what chose the rate. The browser checks draw the charts alone (``charts.js`` and the
chart boxes of :mod:`gdlab.report.html`) in Chromium.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from gdlab.report import figures, html, interactive

# --- documents ----------------------------------------------------------------------


def _run(group: str, seed: int, loss: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {"id": f"{group}-seed{seed}", "label": group, "group": group, "seed": seed,
            "status": "ok", "loss": [float(v) for v in loss], **extra}  # fmt: skip


def _evaluations(accuracy: list[float], steps: list[int]) -> list[dict[str, Any]]:
    return [
        {"epoch": i + 1, "step": s, "train_accuracy": a, "val_accuracy": a - 0.05}
        for i, (s, a) in enumerate(zip(steps, accuracy, strict=True))
    ]


def _seeds(tuned: bool = False, diverged: bool = True) -> dict[str, Any]:
    """Two groups of three seeds of a noisy falling loss; one SGD seed diverged early
    (its loss cut short) when ``diverged``; a tuned race carries its tuning (± std)."""
    rng = np.random.default_rng(9)
    steps = np.arange(1, 301)
    runs = []
    for group, rate in (("SGD", 80.0), ("Adam", 30.0)):
        for seed in range(3):
            loss = (0.2 + 2 * np.exp(-steps / rate)) * rng.lognormal(0, 0.3, steps.size)
            acc = [0.5 + 0.1 * k + 0.02 * seed for k in range(4)]
            run = _run(group, seed, loss, epochs=_evaluations(acc, [75, 150, 225, 300]))
            if diverged and group == "SGD" and seed == 1:
                run.update(status="diverged", loss=run["loss"][:40], stopped_at=41,
                           reason="diverged at step 41", epochs=run["epochs"][:1])  # fmt: skip
            runs.append(run)
    doc = {"problem": {"kind": "classification", "name": "toy", "traits": []}, "runs": runs}
    if tuned:
        doc["series"] = {"kind": "tuning", "metric": "validation loss", "configurations": {}}
    return doc


def _chart(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in interactive.charts(doc) if c["figure"] == name)


# --- 1: a mean and a band per group, not a line per seed -----------------------------------


def test_loss_chart_draws_a_mean_per_group_and_each_diverged_seed_alone():
    doc = _seeds()
    chart = _chart(doc, "loss")
    traces = chart["traces"]
    shown = [t for t in traces if t["showlegend"]]
    assert sorted(t["legendgroup"] for t in shown) == ["Adam", "SGD"]  # one entry a group
    assert len(traces) == 3  # two means and the diverged seed; was one line per seed (6)
    means = {t["legendgroup"]: t for t in traces if t.get("band")}
    assert means["SGD"]["meta"] == "SGD: mean of 2 seeds"
    assert means["Adam"]["band"] == {"kind": "minmax", "seeds": 3}
    alone = next(t for t in traces if t.get("alone"))
    assert alone["meta"] == "SGD, seed 1 (diverged at step 41)"
    assert alone["showlegend"] is False
    assert alone["line"]["width"] < means["SGD"]["line"]["width"]
    seeds = chart["smooth"]["seeds"]
    assert {traces[int(k)]["legendgroup"]: len(v["raw"]) for k, v in seeds.items()} == {
        "SGD": 2,
        "Adam": 3,
    }


def test_one_seed_per_group_is_unchanged():
    doc = {"problem": {"kind": "classification", "name": "toy", "traits": []},
           "runs": [r for r in _seeds(diverged=False)["runs"] if r["seed"] == 0]}  # fmt: skip
    chart = _chart(doc, "loss")
    assert [t["meta"] for t in chart["traces"]] == ["Adam", "SGD"]
    assert not any(t.get("band") for t in chart["traces"])
    assert chart["smooth"]["seeds"] == {}
    accuracy = _chart(doc, "accuracy")
    assert {t["meta"] for t in accuracy["traces"]} == {
        "SGD · train", "SGD · validation", "Adam · train", "Adam · validation",
    }  # fmt: skip


def test_a_tuned_race_shades_one_std():
    chart = _chart(_seeds(tuned=True), "loss")
    means = [t for t in chart["traces"] if t.get("band")]
    assert {t["band"]["kind"] for t in means} == {"std"}


def test_accuracy_chart_draws_the_figures_mean_with_its_band():
    doc = _seeds()
    chart = _chart(doc, "accuracy")
    by_meta = {t["meta"]: t for t in chart["traces"]}
    keys = ["train_accuracy", "val_accuracy"]
    for name, group in figures._groups(doc["runs"]).items():
        kept = figures._accuracy_members(group, keys)[0][0]
        for key, split in (("train_accuracy", "train"), ("val_accuracy", "validation")):
            trace = by_meta[f"{name} · {split}: mean of {len(kept)} seeds"]
            steps, values = figures._mean_by_step(kept, key, "step")
            assert trace["x"] == steps
            assert np.allclose(trace["y"], values, rtol=1e-6)
            table = np.array([[e[key] for e in r["epochs"]] for r in kept])
            assert np.allclose(trace["band"]["low"], table.min(axis=0), rtol=1e-6)
            assert np.allclose(trace["band"]["high"], table.max(axis=0), rtol=1e-6)
    alone = by_meta["SGD, seed 1 (diverged at step 41) · train"]
    assert alone["x"] == [75]
    assert alone["line"]["opacity"] < 1
    assert not alone["showlegend"]
    assert len(chart["traces"]) == 6  # a mean per group and split, the diverged seed's two


# --- 2: the sensitivity chart's hover gives the validation accuracy -----------------------


def _tuning_doc() -> dict[str, Any]:
    grid = [0.001, 0.01, 0.1, 1.0]
    points = [
        {"hyperparameters": {"lr": lr}, "mean_loss": m, "std_loss": 0.01,
         "mean_accuracy": a, "std_accuracy": s, "diverged": 0, "failed": 0}
        for lr, m, a, s in zip(grid, [2.2, 0.98, 0.43, None], [0.171, 0.76325, 0.8795, None],
                               [0.027, 0.017, 0.005, None], strict=True)
    ]  # fmt: skip
    sgd = {
        "grid": grid, "mean": [2.2, 0.98, 0.43, None], "std": [0.01, 0.01, 0.01, None],
        "accuracy": [0.171, 0.76325, 0.8795, None], "diverged": [0, 0, 0, 2],
        "failed": [0, 0, 0, 0], "points": points,
        "best": {"lr": 0.1, "mean": 0.43, "std": 0.01, "accuracy": 0.8795,
                 "hyperparameters": {"lr": 0.1}},
    }  # fmt: skip
    series = {"kind": "tuning", "metric": "validation loss", "folds": 2,
              "selected_by": "mean validation accuracy (loss breaks ties)",
              "configurations": {"SGD": sgd}}  # fmt: skip
    return {"problem": None, "runs": [], "series": series}


def test_sensitivity_hover_gives_the_validation_accuracy_and_what_chose_the_rate():
    chart = _chart(_tuning_doc(), "sensitivity")
    line = chart["traces"][0]
    assert line["hover"]["extra"] == "validation accuracy"
    assert line["customdata"] == ["17.1% ± 2.7%", "76.3% ± 1.7%", "87.9% ± 0.5%", None]
    star = next(t for t in chart["traces"] if t["marker"]["symbol"] == "star")
    assert star["customdata"] == ["87.9% ± 0.5%"]
    assert star["meta"] == "SGD: the rate chosen by mean validation accuracy (loss breaks ties)"
    assert chart["note"].startswith(
        "★ the rate chosen, by mean validation accuracy (loss breaks ties)"
    )


def test_sensitivity_of_a_regression_has_no_accuracy():
    doc = _tuning_doc()
    sgd = doc["series"]["configurations"]["SGD"]
    sgd["accuracy"] = [None] * 4
    sgd["best"]["accuracy"] = None
    for point in sgd["points"]:
        point["mean_accuracy"] = point["std_accuracy"] = None
    del doc["series"]["selected_by"]
    chart = _chart(doc, "sensitivity")
    assert chart["traces"][0]["hover"]["extra"] is None
    assert "customdata" not in chart["traces"][0]
    assert chart["note"] == "★ the rate chosen"  # what chose it is not recorded here


# --- in the browser ---------------------------------------------------------------------------


def _open(browser: Any, charts: list[dict[str, Any]], width: int = 1100) -> Any:
    """A page with ``charts`` alone, drawn by ``charts.js``."""
    boxes = "\n".join(html._chart_box(c) for c in charts)
    scripts = html._chart_scripts({c["figure"]: c for c in charts})
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_content(f"<!doctype html><html><head><style>{html._CSS}</style></head><body>"
                     f"{boxes}{scripts}</body></html>")  # fmt: skip
    page.wait_for_selector("body[data-charts-ready]")
    assert json.loads(page.get_attribute("body", "data-charts-ready"))["failed"] == []
    return page


def _drawn(page: Any) -> list[dict[str, Any]]:
    """The loss chart's traces as the page holds them: group, y, low, high."""
    return page.evaluate(
        """() => window.gdlabCharts.charts["chart-loss"].traces.map(t => ({
            group: t.legendgroup, band: !!t.band, y: t.y, low: t.low || null,
            high: t.high || null}))"""
    )


def _same(page_values: list[Any], figure_values: np.ndarray) -> bool:
    values = np.array([np.nan if v is None else v for v in page_values], dtype=np.float64)
    return values.shape == figure_values.shape and np.allclose(values, figure_values, rtol=1e-5)


@pytest.mark.parametrize("tuned", [False, True])
def test_page_mean_and_band_are_the_figures_at_its_beta_and_follow_the_slider(browser, tuned):
    doc = _seeds(tuned=tuned)
    chart = _chart(doc, "loss")
    page = _open(browser, [chart])
    try:
        curves = {c.name: c for c in figures._loss_curves(doc)}
        for t in _drawn(page):
            if t["band"]:
                c = curves[t["group"]]
                assert _same(t["y"], c.mean)
                assert _same(t["low"], c.low)
                assert _same(t["high"], c.high)
        slider = page.locator('[data-chart="chart-loss"] input.smooth')
        slider.fill("5")  # β 0.98, for every curve
        slider.dispatch_event("input")
        curves = {c.name: c for c in figures._loss_curves(doc, beta=0.98)}
        for t in _drawn(page):
            if t["band"]:
                c = curves[t["group"]]
                assert _same(t["y"], c.mean)
                assert _same(t["high"], c.high)
            else:  # the diverged seed, alone
                assert _same(t["y"], curves[t["group"]].alone[0][1])
        box = page.locator('[data-chart="chart-loss"]')
        assert box.locator("path.band").count() == 2  # a band a group
        assert box.locator("path.raw").count() == 2  # the raw mean's; none for the seed alone
    finally:
        page.close()


def test_page_averages_seeds_of_different_strides_as_the_figure(browser):
    doc = _seeds(diverged=False)
    long = doc["runs"][0]  # SGD seed 0 kept every 2nd step: its curve is interpolated
    long["loss"] = long["loss"][::2]
    long["series"] = {"stride": 2}
    for run in doc["runs"][1:3]:
        run["loss"] = run["loss"][:-1]
    page = _open(browser, [_chart(doc, "loss")])
    try:
        curves = {c.name: c for c in figures._loss_curves(doc)}
        sgd = next(t for t in _drawn(page) if t["group"] == "SGD")
        assert _same(sgd["y"], curves["SGD"].mean)
    finally:
        page.close()


def _hover_first(page: Any, chart_id: str, trace: int, point: int) -> str:
    x, y = page.evaluate(
        """([id, k, i]) => { const c = window.gdlabCharts.charts[id];
            const r = c.svg.getBoundingClientRect(), s = r.width / c.svg.viewBox.baseVal.width;
            return [r.left + c.pixels[k].x[i] * s, r.top + c.pixels[k].y[i] * s]; }""",
        [chart_id, trace, point],
    )
    page.mouse.move(x, y)
    return page.locator(f'[data-chart="{chart_id}"] .tooltip').inner_text()


@pytest.mark.parametrize("width", [1280, 390])
def test_page_hover_names_the_mean_and_its_band(browser, width):
    chart = _chart(_seeds(), "loss")
    page = _open(browser, [chart], width)
    try:
        k = next(i for i, t in enumerate(chart["traces"]) if t["legendgroup"] == "Adam")
        tip = _hover_first(page, "chart-loss", k, 150)
        assert "Adam: mean of 3 seeds" in tip
        assert "min–max over 3 seeds" in tip
    finally:
        page.close()


def test_page_sensitivity_hover_shows_the_validation_accuracy(browser):
    chart = _chart(_tuning_doc(), "sensitivity")
    page = _open(browser, [chart])
    try:
        tip = _hover_first(page, "chart-sensitivity", 0, 1)
        assert "validation loss 0.98" in tip
        assert "validation accuracy 76.3% ± 1.7%" in tip
        legend = page.locator('[data-chart="chart-sensitivity"] ul.legend').inner_text()
        assert "★ the rate chosen, by mean validation accuracy (loss breaks ties)" in legend
    finally:
        page.close()


# --- an × where a loss's run diverged, as the figure's ----------------------------------------


def _all_diverged() -> dict[str, Any]:
    """Two SGD seeds that both diverged (steps 41 and 61) and one Adam run diverged at 31."""
    doc = _seeds(diverged=False)
    runs = [r for r in doc["runs"] if r["seed"] < 2 and r["group"] == "SGD"]
    runs.append(next(r for r in doc["runs"] if r["group"] == "Adam"))
    for run, stop in zip(runs, (41, 61, 31), strict=True):
        run.update(status="diverged", loss=run["loss"][: stop - 1], stopped_at=stop,
                   reason=f"diverged at step {stop}")  # fmt: skip
    doc["runs"] = runs
    return doc


def _crosses(page: Any) -> list[dict[str, Any]]:
    """Each × the loss chart draws: its group, its step and loss (in data units), and
    whether it is held on the top edge. An × is two strokes from (x - s, y ∓ s)."""
    return page.evaluate(
        """() => {
            const chart = window.gdlabCharts.charts["chart-loss"], f = chart.frame, v = chart.view;
            const log = chart.yType === "log", s = 9 / 2 * 0.9, out = [];
            chart.svg.querySelectorAll("path.end").forEach(p => {
              const starts = p.getAttribute("d").split("M").slice(1);
              for (let k = 0; k < starts.length; k += 2) {
                const [a, b] = starts[k].split("l")[0].split(",").map(Number);
                const x = a + s, y = b + s;
                const u = v.y[0] + (f.t + f.h - y) / f.h * (v.y[1] - v.y[0]);
                out.push({group: p.dataset.group, top: Math.abs(y - f.t) < 0.2,
                          step: v.x[0] + (x - f.l) / f.w * (v.x[1] - v.x[0]),
                          loss: log ? Math.pow(10, u) : u});
              }
            });
            return out;
        }"""
    )


def test_chart_sends_the_step_where_each_loss_diverged():
    chart = _chart(_seeds(), "loss")
    alone = next(t for t in chart["traces"] if t.get("alone"))
    assert alone["end"] == 41
    assert not any("end" in t for t in chart["traces"] if not t.get("alone"))
    chart = _chart(_all_diverged(), "loss")
    (block,) = chart["smooth"]["seeds"].values()  # SGD's two seeds, both diverged
    assert block["ends"] == [41, 61]
    adam = next(t for t in chart["traces"] if t["legendgroup"] == "Adam")
    assert adam["end"] == 31


@pytest.mark.parametrize("doc", [_seeds, _all_diverged])
def test_page_marks_where_each_run_diverged_as_the_figure_and_follows_the_slider(browser, doc):
    doc = doc()
    page = _open(browser, [_chart(doc, "loss")])
    try:
        for beta in (None, 0.98):
            if beta is not None:
                slider = page.locator('[data-chart="chart-loss"] input.smooth')
                slider.fill("5")  # β 0.98, for every curve
                slider.dispatch_event("input")
            curves = figures._loss_curves(doc, beta)
            wanted = sorted((c.name, x, y) for c in curves for x, y in c.ends)
            drawn = sorted(_crosses(page), key=lambda m: (m["group"], m["step"]))
            assert [(g, x) for g, x, _ in wanted] == [(m["group"], round(m["step"])) for m in drawn]
            for (_, _, loss), mark in zip(wanted, drawn, strict=True):
                assert mark["top"] or abs(mark["loss"] / loss - 1) < 0.03  # to a pixel
        page.locator('[data-chart="chart-loss"] ul.legend button', has_text="SGD").click()
        assert {m["group"] for m in _crosses(page)} <= {"Adam"}  # hidden with its run
    finally:
        page.close()


def test_page_draws_a_curve_of_one_loss_as_a_short_dash(browser):
    doc = _all_diverged()
    adam = next(r for r in doc["runs"] if r["group"] == "Adam")
    adam.update(loss=adam["loss"][:1], stopped_at=2, reason="diverged at step 2")
    chart = _chart(doc, "loss")
    page = _open(browser, [chart])
    try:
        k = next(i for i, t in enumerate(chart["traces"]) if t["legendgroup"] == "Adam")
        line = page.locator(f'[data-chart="chart-loss"] g.trace[data-trace="{k}"] path.line')
        d = line.get_attribute("d")
        assert d.startswith("M")
        assert d.endswith("m-2,0h4")  # was "M x,y": nothing drawn
        assert line.bounding_box()["width"] >= 3
    finally:
        page.close()
