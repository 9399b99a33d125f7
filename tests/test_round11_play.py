"""``gdlab play``, round 11: what the page draws is what its controls describe.

* L-BFGS's work cap (steps × max_iter × (history_size + 10)) is said under the steps box
  and on the L-BFGS cards, which are left out (the others drawn at the steps asked): the
  legend said "Adam" under an L-BFGS card, the banner alone said why.
* Network mode: a diverged run's curves end with × (it was drawn flat to the current
  step), the loss scale follows the runs still training, the panel's head names it.
* The 2-D loss chart marks with ▲ where a loss rises above it; an exact 0 lies on the
  bottom edge of a log scale instead of making it linear; a schedule's legend names the
  card's lr (it said "lr –" under onecycle); the captions say what is drawn.
* A typed product whose numbers fold beyond 1e300 (``x*1e200*1e200``) is refused where
  it starts, naming the folded value (the message cut it mid-number, with no position).

The browser tests use Debian's Chromium (skipped without it, but under ``CI=true``).
"""

from __future__ import annotations

import pytest

from gdlab import expressions
from gdlab.play import api

TWO = "window.gdlab.modes['2d']"
NET = "window.gdlab.modes.net"


# --------------------------------------------------------------------------- server


def test_the_work_cap_names_each_iterating_runs_boxes():
    body = {
        "function": "rosenbrock",
        "steps": 100,
        "runs": [{"optimizer": "sgd"}, {"optimizer": "lbfgs"}, {"optimizer": "lbfgs"}],
    }
    with pytest.raises(api.PlayError) as caught:
        api.experiment_2d(body)
    payload = caught.value.payload()
    assert payload["field"] == "steps"
    assert payload["fields"] == [
        "steps",
        "runs[1].hyperparameters.max_iter",
        "runs[1].hyperparameters.history_size",
        "runs[2].hyperparameters.max_iter",
        "runs[2].hyperparameters.history_size",
    ]
    assert "Ask for at most 45 steps" in payload["error"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x*1e200*1e200", "1.0e+400"),
        ("1e200*x*1e200", "1.0e+400"),
        ("(x*1e200 + y)*1e200", "1.0e+400"),  # SymPy distributes it over the sum
        ("-x*1e300*10", "-1.0e+301"),
    ],
)
def test_a_product_folded_beyond_the_cap_is_said_where_it_starts(text, value):
    with pytest.raises(expressions.ExpressionError) as caught:
        expressions.parse(text)
    assert caught.value.position == 1
    assert str(caught.value).startswith(
        f"a constant part too large ({value}, beyond 1e+300 in size)"
    )
    with pytest.raises(api.PlayError) as refused:  # the page's box: marked at character 1
        api.surface({"expression": text})
    assert refused.value.payload()["position"] == 1
    assert "..." not in refused.value.message


def test_a_product_within_the_cap_still_runs():
    assert str(expressions.parse("x*1e150*1e150")) == "1.0e+300*x"


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page(width=1360, height=1100) as shown:
        yield shown


def _open(page, state: dict, ready: str) -> None:
    from play_serving import open_state

    open_state(page, state, ready)


def _wait(page, expression: str):
    from play_serving import wait_for

    return wait_for(page, expression, 20.0)


def _drawn(page) -> None:
    _wait(page, f"{TWO}.idle && {TWO}.view.answer")


def test_the_work_cap_is_said_under_steps_and_the_lbfgs_card_is_left_out(page):
    from play_serving import shot

    runs = [{"optimizer": "lbfgs"}, {"optimizer": "sgd", "hyperparameters": {"lr": 0.001}}]
    _open(page, {"m": "2d", "2d": {"f": "rosenbrock", "n": 100, "r": runs}}, f"{TWO}.idle")
    _wait(page, f"{TWO}.idle && {TWO}.view.notRun.length === 1")
    shot(page, "round11-work-cap")
    view = page.evaluate(f"() => {TWO}.view.runs.map((r) => [r.label, r.loss.length])")
    assert view == [["SGD", 101]]  # drawn at the 100 steps asked, L-BFGS left out
    legend = page.inner_text("#legend-2d").replace("\n", " ")
    assert "LBFGS not run: see under steps" in legend
    notes = page.evaluate(
        "() => [...document.querySelectorAll('#controls-2d .slider-error')]"
        ".filter((n) => !n.hidden).map((n) => n.textContent)"
    )
    assert len(notes) == 1  # under steps (the card says it under its max iter box)
    assert notes[0].startswith("LBFGS iterates up to max iter = 20")
    assert "Ask for at most 90 steps" in notes[0]
    card = page.inner_text(".card:nth-child(1) .error")
    assert card.startswith("LBFGS: not run: too much work for 100 steps (said under steps)")
    marked = page.evaluate(
        "() => [...document.querySelectorAll('#controls-2d [aria-invalid=true]')]"
        ".map((n) => n.getAttribute('aria-label'))"
    )
    assert marked == ["steps value", "max iter value"]
    assert page.evaluate("() => document.getElementById('banner').hidden")
    # 90 steps fit: both drawn, nothing said
    box = "#controls-2d input[aria-label='steps value']"
    page.fill(box, "90")
    page.press(box, "Enter")
    _wait(page, f"{TWO}.idle && {TWO}.view.runs.length === 2")
    assert page.evaluate(f"() => {TWO}.view.runs.map((r) => r.label)") == ["LBFGS", "SGD"]
    assert page.evaluate("() => document.querySelectorAll('[aria-invalid=true]').length") == 0


def test_the_2d_loss_chart_marks_a_run_above_it_and_draws_zero_on_its_floor(page):
    from play_serving import shot

    runs = [
        {"optimizer": "adam", "hyperparameters": {"lr": 0.3}},
        {"optimizer": "sgd", "hyperparameters": {"lr": 1.05}},
    ]
    _open(page, {"m": "2d", "2d": {"f": "bowl", "n": 30, "r": runs}}, f"{TWO}.idle")
    _drawn(page)
    shot(page, "round11-loss-above")
    # SGD's rising loss is drawn while its path is in the plot, then ▲ where it leaves the top
    high = page.evaluate(f"() => {TWO}.view.lossPlot.y.domain[1]")
    assert high > 22.5  # its loss at step 9, the last inside the plot
    marks = page.evaluate(
        "() => [...document.querySelectorAll('#loss2d g.above')].map((g) => g.textContent)"
    )
    assert marks == ["SGD: f rises above the chart at step 11 (f = 32.77)"]
    assert "▲ marks where a run's f rises above the loss chart." in page.inner_text("#caption-2d")
    assert "(dense where f is lowest in this view)" in page.inner_text("#caption-2d")

    # SGD lr 0.5 lands on the minimum of x² + y² exactly: the others still span decades
    runs = [
        {"optimizer": "sgd", "hyperparameters": {"lr": 0.5}},
        {"optimizer": "adam", "hyperparameters": {"lr": 0.1}},
        {"optimizer": "sgd", "hyperparameters": {"lr": 0.05}},
    ]
    state = {"e": "x^2 + y^2", "s": [-4, 3], "n": 40, "r": runs}
    _open(page, {"m": "2d", "2d": state}, f"{TWO}.idle")
    _drawn(page)
    shot(page, "round11-loss-zero")
    assert page.evaluate(f"() => {TWO}.view.lossPlot.y.log")
    floor = page.evaluate(
        "() => { const p = window.gdlab.modes['2d'].view.lossPlot;"
        " return [p.margin.top + p.inner.h,"
        " document.querySelector('#loss2d text.zero')?.textContent]; }"
    )
    path = page.get_attribute("#loss2d path[data-run='0']", "d")
    assert path.split("L")[2].split(" ")[1] == f"{floor[0]:.2f}"  # step 2: on the bottom edge
    assert floor[1] == "0"
    assert "drawn on the loss chart's bottom edge" in page.inner_text("#caption-2d")

    # under a schedule, the legend names each card's lr (onecycle's was "lr –")
    for name in ("onecycle", "piecewise", "warmup"):
        state = {"f": "bowl", "n": 20, "sc": {"name": name, "arguments": {}}, "r": runs[1:]}
        _open(page, {"m": "2d", "2d": state}, f"{TWO}.idle")
        _drawn(page)
        legend = page.inner_text("#legend-2d").replace("\n", " ")
        assert legend == f"Adam lr 0.1, {name} SGD lr 0.05, {name}"


def test_the_ewma_caption_says_the_90_days_shown(page):
    _open(page, {"m": "ewma", "ewma": {"beta": 0.98, "zoom": True}}, "true")
    caption = _wait(page, "document.getElementById('caption-ewma').textContent")
    assert "over days 0 to 90 (2012-01-01 to 2012-03-31)" in caption
    assert "(the red dashed line)." in caption
    assert "2015-12-31" not in caption


def test_a_diverged_network_run_ends_with_a_cross_and_leaves_the_scale(page):
    from play_serving import shot

    runs = [
        {"optimizer": "schedule_free_adamw", "hyperparameters": {"lr": 0.01}},
        {"optimizer": "dadapt_adamw"},
        {"optimizer": "lbfgs"},
        {"optimizer": "adam", "hyperparameters": {"lr": 0.03}},
    ]
    net = {"data": "spirals", "n_samples": 200, "layers": 2, "width": 16}
    net.update(steps_per_frame=10, r=runs)
    ready = f"{NET}.view.panels.length === 4 && !document.getElementById('net-play').disabled"
    _open(page, {"m": "net", "net": net}, ready)
    for step in (10, 20):
        page.click("#net-step")
        _wait(page, f"{NET}.view.step === {step} && {NET}.view.history.length === 4")
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "round11-network-diverged", full_page=False)
    history = page.evaluate(
        f"() => {NET}.view.history.map((h) => [h.status, h.steps[h.steps.length - 1]])"
    )
    assert history[2][0] == "diverged"
    assert history[2][1] < 10  # its curve ends where it stopped, not at step 20
    assert [h[1] for i, h in enumerate(history) if i != 2] == [20, 20, 20]
    # × on both charts; the loss scale is the other runs' (L-BFGS's 2e7 is off it)
    stops = page.evaluate(
        "() => [...document.querySelectorAll('#net-loss g.stop, #net-accuracy g.stop')]"
        ".map((g) => g.getAttribute('data-run'))"
    )
    assert stops == ["2", "2"]
    assert page.evaluate(f"() => {NET}.view.lossPlot.y.domain[1]") < 10
    # each head shows its name whole and "diverged" unclipped
    heads = page.evaluate(
        """() => [...document.querySelectorAll('#boundaries figcaption')].map((f) => {
            const name = f.querySelector('.name');
            const status = f.querySelector('.run-status');
            const box = f.getBoundingClientRect();
            return [name.textContent, name.clientWidth >= name.scrollWidth && name.clientWidth > 0,
                    status.hidden ? null : status.textContent,
                    status.hidden || status.getBoundingClientRect().right <= box.right + 0.5];
        })"""
    )
    assert heads == [
        ["ScheduleFreeAdamW", True, None, True],
        ["DAdaptAdamW", True, None, True],
        ["LBFGS", True, "diverged", True],
        ["Adam", True, None, True],
    ]
    assert "× marks where a stopped run's curves end." in page.inner_text("#caption-net")
