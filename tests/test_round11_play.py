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
* Review: one folded below the float range (``x/1e200/1e200``) runs (it was "too large");
  one just beyond the cap shows the digits that say so; an edited box refused still stays
  marked; ▼ where a loss falls below a linear chart; a caption with every card refused;
  0 on the log floor below a break; a loss chart of one value near 1e300 has a scale.

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


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("x/1e200/1e200", "1.0e-400*x"),
        ("(x*1e-200)*(y*1e-200)", "1.0e-400*x*y"),
        ("1e-200*x*1e-200", "1.0e-400*x"),
        ("1e-200*1e-200*x", "1.0e-400*x"),  # the constant check, folded before x
        ("x^2*1e-170*1e-170 + y^2", "1.0e-340*x**2 + y**2"),
    ],
)
def test_a_number_folded_below_the_float_range_runs(text, folded):
    # the cap is on size: 1e-400 was read as "too large" (float() of it is 0.0)
    assert str(expressions.parse(text)) == folded
    function = expressions.function(text)
    assert function.f(0.5, 0.25) == (0.0625 if "y**2" in folded else 0.0)


def test_a_folded_number_just_beyond_the_cap_shows_digits_enough():
    with pytest.raises(expressions.ExpressionError) as caught:
        expressions.parse("1e299*x*10.0001")
    assert "(1.00001e+300, beyond 1e+300 in size)" in str(caught.value)
    with pytest.raises(expressions.ExpressionError) as caught:  # like terms combined
        expressions.parse("1e300*x + 1e300*x")
    assert "(2.0e+300, beyond 1e+300 in size)" in str(caught.value)


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
    assert "(the orange dashed line)." in caption
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


# --------------------------------------------------------------------------- round 11, review


def _marked(page) -> list:
    return page.evaluate(
        "() => [...document.querySelectorAll('#controls-2d [aria-invalid=true]')]"
        ".map((n) => n.getAttribute('aria-label'))"
    )


def test_a_refused_box_stays_marked_when_edited_until_the_refusal_is_lifted(page):
    runs = [{"optimizer": "lbfgs"}, {"optimizer": "sgd", "hyperparameters": {"lr": 0.001}}]
    _open(page, {"m": "2d", "2d": {"f": "rosenbrock", "n": 100, "r": runs}}, f"{TWO}.idle")
    _wait(page, f"{TWO}.idle && {TWO}.view.notRun.length === 1")
    assert _marked(page) == ["steps value", "max iter value"]
    box = "#controls-2d .card:nth-child(1) input[aria-label='max iter value']"
    for value, left_out in (("80", 1), ("40", 1), ("5", 0)):  # 5: 100 × 5 × 110 fits
        page.fill(box, value)
        page.press(box, "Enter")
        _wait(page, f"{TWO}.idle && {TWO}.view.notRun.length === {left_out}")
        # still refused: still marked (sayRefusals left the card saying the same words)
        expected = ["steps value", "max iter value"] if left_out else []
        assert _marked(page) == expected, value


def test_a_loss_falling_below_a_linear_chart_is_marked(page):
    from play_serving import shot

    runs = [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}]
    _open(page, {"m": "2d", "2d": {"f": "saddle", "n": 100, "r": runs}}, f"{TWO}.idle")
    _drawn(page)
    shot(page, "round11-loss-below")
    assert not page.evaluate(f"() => {TWO}.view.lossPlot.y.log")
    low = page.evaluate(f"() => {TWO}.view.lossPlot.y.domain[0]")
    marks = page.evaluate(
        "() => [...document.querySelectorAll('#loss2d g.below')].map((g) => g.textContent)"
    )
    assert len(marks) == 1
    assert marks[0].startswith("SGD: f falls below the chart at step ")
    loss = page.evaluate(f"() => Array.from({TWO}.view.runs[0].loss)")
    step = int(marks[0].split("step ")[1].split(" ")[0])
    assert loss[step] < low <= loss[step - 1]
    caption = page.inner_text("#caption-2d")
    assert "▼ marks where a run's f falls below the loss chart." in caption
    assert "▲" not in caption


def test_every_card_refused_says_so_in_a_sentence(page):
    runs = [{"optimizer": "lbfgs"}, {"optimizer": "lbfgs"}]
    _open(page, {"m": "2d", "2d": {"f": "rosenbrock", "n": 100, "r": runs}}, f"{TWO}.idle")
    _wait(page, f"{TWO}.idle && {TWO}.view.notRun.length === 2")
    caption = page.inner_text("#caption-2d")
    assert "0 optimizers" not in caption
    assert (
        "no path from (−1.5, 2): LBFGS and LBFGS 2 were not run (their cards say why). "
        "Click the plot to start elsewhere." in caption
    )
    assert "Hover a point" not in caption


def test_zero_on_the_log_floor_lies_below_a_gap_with_a_break(page):
    runs = [
        {"optimizer": "sgd", "hyperparameters": {"lr": 0.5}},
        {"optimizer": "adam", "hyperparameters": {"lr": 0.1}},
        {"optimizer": "sgd", "hyperparameters": {"lr": 0.05}},
    ]
    _open(page, {"m": "2d", "2d": {"e": "x^2 + y^2", "s": [-4, 3], "n": 40, "r": runs}}, "true")
    _drawn(page)
    edge, lowest, breaks = page.evaluate(
        f"""() => {{ const v = {TWO}.view; const p = v.lossPlot;
        const low = Math.min(...v.runs.flatMap((r) => Array.from(r.loss)).filter((f) => f > 0));
        return [p.margin.top + p.inner.h, p.sy(low),
                document.querySelectorAll('#loss2d g.floor-break').length]; }}"""
    )
    assert edge - lowest > 12  # the lowest f above 0 stands clear of the 0 drawn on the floor
    assert breaks == 1
    assert "bottom edge, below a break in its axis" in page.inner_text("#caption-2d")


def test_a_loss_chart_of_one_value_near_1e300_has_a_scale(page):
    errors = []
    listen = lambda message: errors.append(message.text) if message.type == "error" else None  # noqa: E731
    page.on("console", listen)
    try:
        runs = [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}]
        state = {"e": "1e150*x*1e150 + y^2", "n": 20, "r": runs}
        _open(page, {"m": "2d", "2d": state}, "true")
        _drawn(page)
        low, high = page.evaluate(f"() => {TWO}.view.lossPlot.y.domain")
        assert low < high  # ±1 was lost at 1e300: an empty domain, NaN attributes
        drawn = page.inner_html("#loss2d")
        assert "NaN" not in drawn
    finally:
        page.remove_listener("console", listen)
    assert errors == []
