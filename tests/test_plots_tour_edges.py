"""Edge cases of ``gdlab plot``, ``gdlab tour`` and ``gdlab.averages`` found by an audit.

EWMA arguments at their edges (a tiny β, 0-d arrays, ragged or masked input),
the ReLU histograms' shared bins, the EWMA and schedule texts against what the
page shows, and the tour page's titles and configuration.
"""

from __future__ import annotations

import html as html_module
import json
import re
import warnings

import numpy as np
import pytest

from gdlab.averages import EWMA, ewma

# -- gdlab.averages -------------------------------------------------------------


@pytest.mark.parametrize("beta", [1e-300, 1e-17, 5e-324])
def test_tiny_beta_bias_correction_is_silent_and_exact(beta):
    # 1 - beta rounds to 1, so 1 - beta**t is 1: no log1p(-1) warning on the way.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ewma([1.0, 2.0, 4.0], beta, bias_correction=True)
        avg = EWMA(beta, bias_correction=True)
        streamed = [avg.update(x) for x in (1.0, 2.0, 4.0)]
    np.testing.assert_array_equal(out, [1.0, 2.0, 4.0])
    assert streamed == [1.0, 2.0, 4.0]


def test_zero_d_arrays_are_real_numbers():
    avg = EWMA(0.5)
    assert avg.update(np.array(3.0)) == 1.5
    assert avg.update(np.array(1, dtype=np.int64)) == 1.25
    assert isinstance(avg.value, float)
    state = avg.state_dict()
    state["value"] = np.array(2.0)
    again = EWMA(0.5)
    again.load_state_dict(state)
    assert again.value == 2.0
    assert isinstance(again.value, float)
    with pytest.raises(TypeError, match=r"^x must be a real number; got array\(True\)"):
        EWMA(0.5).update(np.array(True))


def test_ragged_series_is_named():
    with pytest.raises(TypeError, match=r"^x must be a rectangular array of real numbers"):
        ewma([[1.0, 2.0], [3.0]], 0.9)
    with pytest.raises(TypeError, match=r"^x must be a rectangular array of real numbers"):
        EWMA(0.9).update([[1.0, 2.0], [3.0]])


def test_masked_values_are_refused_not_averaged():
    masked = np.ma.masked_array([1.0, 99.0, 3.0], mask=[False, True, False])
    with pytest.raises(ValueError, match=r"^x must be an array without masked values"):
        ewma(masked, 0.5)
    # A masked array with nothing masked is just its data.
    np.testing.assert_array_equal(ewma(np.ma.masked_array([1.0, 2.0]), 0.5), [0.5, 1.25])


# -- gdlab plot init --------------------------------------------------------------


def test_relu_histograms_show_nearly_all_of_every_layer():
    from gdlab.experiments.plots import init_series

    series = init_series(samples=500)
    relu = [case for case in series["cases"] if case["activation"] == "relu"]
    assert len(relu) == 4
    for case in relu:
        for k, layer in enumerate(case["layers"]):
            positive = layer["total"] * (1.0 - layer["zeros"])
            shown = sum(layer["counts"])
            above = layer["above"] * layer["total"]  # its share beyond the axis, noted
            assert shown + above == pytest.approx(positive), (case["init"], k + 1)
            if case["init"] in ("Xavier", "He"):  # the axis is fitted to these two
                assert shown >= 0.99 * positive, (case["init"], k + 1, shown / positive)


# -- texts against the figures ------------------------------------------------------


def _ewma_document():
    from gdlab.experiments.plots import ewma_series

    return {"experiment": "plot-ewma", "series": ewma_series()}


def test_ewma_texts_say_what_the_dashed_curves_do():
    from gdlab.experiments import plots
    from gdlab.report import figures

    document = _ewma_document()
    series = document["series"]
    # What the texts claim: v_t = (1 - beta**t) * corrected_t; v_1 = (1 - beta) * theta_1
    # (6.4 for beta = 0.5: far from 0); for beta near 1 still ~1/e too low after 1/(1 - beta) days.
    theta1 = series["values"][0]
    for beta in (0.5, 0.9, 0.98):
        raw, corrected = (
            np.array(c["values"])
            for flag in (False, True)
            for c in series["curves"]
            if c["beta"] == beta and c["bias_correction"] is flag
        )
        t = np.arange(1, 31)
        np.testing.assert_allclose(raw[:30], (1 - beta**t) * corrected[:30], atol=2e-4)
        assert raw[0] == pytest.approx((1 - beta) * theta1, abs=1e-4)
        window = round(1 / (1 - beta))
        short = 1 - raw[window - 1] / corrected[window - 1]
        assert short == pytest.approx(beta**window, abs=1e-4)
        if beta > 0.8:
            assert short == pytest.approx(np.exp(-1), abs=0.02)
    look = figures._ewma_look_for(series)
    assert "1 − β^t times the corrected one" in look
    assert "starts at v_0 = 0 and climbs" not in look
    _, description = plots._PLOT_TEXT["ewma"]
    assert "starts near 0" not in description
    assert "1 − β^t times the corrected one" in description


def test_schedules_caption_does_not_promise_a_top_axis_on_the_chart():
    from gdlab.experiments.plots import schedules_series
    from gdlab.report import figures

    series = schedules_series(epochs=2, steps_per_epoch=5)
    (plan,) = figures._plan({"experiment": "plot-schedules", "series": series})
    # The interactive chart has one x-axis (steps); only the image adds epochs on top.
    assert "The top axis counts epochs" not in plan.caption
    assert "An epoch is 5 steps (the image's top axis counts epochs)." in plan.caption


# -- gdlab tour ---------------------------------------------------------------------


def test_tour_page_shows_every_experiments_configuration(tmp_path):
    from gdlab.experiments.plots import run_plot
    from gdlab.report import html

    entries = []
    for kind in ("schedules", "ewma"):
        document = run_plot(kind, tmp_path / kind, figures=False)
        entries.append((document, [], f"plot-{kind}"))
    page = html.render_tour(entries, tmp_path)
    block = re.search(
        r"<summary>Configuration \(after overrides\)</summary>\s*<pre><code>(.*?)</code>",
        page,
        re.S,
    )
    assert block is not None
    config = json.loads(html_module.unescape(block.group(1)))
    assert config == {"plot-schedules": {"plot": "schedules"}, "plot-ewma": {"plot": "ewma"}}


@pytest.mark.parametrize("quick", [True, False])
def test_tour_keeps_the_seed_titles(monkeypatch, tmp_path, quick):
    from gdlab import experiments, race, report, tour
    from gdlab.experiments import plots
    from gdlab.report import html

    titles = {}

    def fake_run(experiment, out_dir, *, text, **_):
        titles[experiment.name] = text["title"]
        return {"experiment": experiment.name}

    monkeypatch.setattr(race, "run_experiment", fake_run)
    monkeypatch.setattr(report, "write", lambda document, out_dir: [])
    monkeypatch.setattr(html, "write_tour", lambda entries, out_dir, **options: None)
    monkeypatch.setattr(plots, "PLOTS", ())
    tour.run(tmp_path, quick=quick, progress=False)
    expected = {name: experiments.builtin(name).title for name in experiments.BUILTIN}
    if quick:  # e.g. "Seed 004: learning-rate decay (quick)", not "6 runs on MNIST"
        expected = {name: f"{title} (quick)" for name, title in expected.items()}
    assert titles == expected


@pytest.mark.parametrize(
    ("own", "expected"),
    [
        ({"steps": 300}, {"steps": 30}),
        ({"epochs": 40}, {"epochs": 4}),
        ({"epochs": 2}, {"epochs": 2}),
    ],
)
def test_a_quick_tour_shortens_a_runs_own_length_too(own, expected):
    # The experiment's 30 steps become 3; a run that sets its own length keeps
    # its own, shortened the same way (merge_training alone dropped it, so
    # the run trained for the experiment's shortened length instead).
    import dataclasses

    from gdlab import experiments, tour

    bowl = experiments.builtin("bowl")
    first = dataclasses.replace(bowl.runs[0], training=own)
    quick = tour.shortened(bowl.replace(runs=(first, *bowl.runs[1:])))
    assert quick.training.steps == 3
    assert quick.runs[0].training == expected
    assert [run.training for run in quick.runs[1:]] == [{}] * (len(bowl.runs) - 1)


# -- docs/training.md ----------------------------------------------------------------


def test_training_doc_gives_boston_its_keyword_only_signature():
    import inspect
    from pathlib import Path

    from gdlab.data import boston

    doc = (Path(__file__).parents[1] / "docs" / "training.md").read_text(encoding="utf-8")
    written = re.search(r"`boston\(([^)]*)\)`", doc)
    assert written is not None
    params = inspect.signature(boston).parameters.values()
    shown = ", ".join(f"{p.name}={p.default!r}" for p in params)
    if all(p.kind is p.KEYWORD_ONLY for p in params):
        shown = f"*, {shown}"
    assert written.group(1) == shown  # "*, features=None": boston(["RM"]) is a TypeError
