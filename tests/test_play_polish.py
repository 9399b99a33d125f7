"""``gdlab play`` polished as a demanding learner finds it, and its JSON API's words.

What a refusal says and where: an optimizer card's refusal in the card's words
(``Adam: β₁ must be …``, never ``runs[1] (Adam): beta1 …``) with its box marked,
a schedule's under its picker, f undefined over the whole view marking every
box it is about, a refused network setup stopping the transport; the JSON API
echoing the request's values as JSON (``null``, ``true``, ``"abc"``), while
the Python library keeps Python's words. What is drawn: a diverged run's ×
inside the loss chart's frame, the EWMA window's label inside its plot, a long
slider name whole. Debian's Chromium, driven by Playwright (skipped without
it, but under ``CI=true``); the API tests need no browser.
"""

from __future__ import annotations

import warnings

import pytest

from play_serving import open_state as _open
from play_serving import shot

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from gdlab import schedules
from gdlab.play import api, create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TWO = "window.gdlab.modes['2d']"
SGD = {"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}
WS = "ws://127.0.0.1/ws/network"


# --- the JSON API speaks JSON ----------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


def _paths(**hyperparameters):
    runs = [{"optimizer": "adam", "hyperparameters": hyperparameters}]
    return {"function": "bowl", "steps": 3, "runs": runs}


#: a request's value, and how the refusal echoes it: as JSON wrote it, not as Python would
ECHOED = [
    ("/api/paths", _paths(lr=None), "runs[0].hyperparameters.lr must be a number; got null"),
    ("/api/paths", _paths(lr=True), "runs[0].hyperparameters.lr must be a number; got true"),
    ("/api/paths", _paths(lr="abc"), 'runs[0].hyperparameters.lr must be a number; got "abc"'),
    ("/api/ewma", {"beta": [None, False]}, "beta must be a number; got [null, false]"),
    ("/api/surface", {"expression": {"a": None}}, 'expression must be text; got {"a": null}'),
    (
        "/api/schedule",
        {"schedule": {"name": "exponential", "arguments": {"per": "batch"}}},
        'schedule.arguments.per must be one of epoch, step; got "batch"',
    ),
    # gdlab's own check (Momentum's) names a setting as Python writes it: form='torch'
    (
        "/api/paths",
        {
            "function": "bowl",
            "runs": [
                {"optimizer": "momentum", "preset": "book", "hyperparameters": {"dampening": 0.5}}
            ],
        },
        'runs[0] (Momentum): dampening must be 0 unless form="torch"; got 0.5',
    ),
]


@pytest.mark.parametrize(("path", "body", "message"), ECHOED)
def test_the_json_api_echoes_values_as_json(client, path, body, message):
    # "got None", "got True", "got 'abc'" (and form='torch') answered a JSON request
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == message


def test_json_words_for_gdlabs_own_messages_and_the_library_keeps_pythons():
    refused = "lr must be a real number; got 'fast' (str)"
    with pytest.raises(TypeError) as error:
        schedules.from_config({"name": "constant", "lr": "fast"})
    assert str(error.value) == refused  # the library (and the CLI) keep Python's words
    assert api._in_json(refused) == 'lr must be a real number; got "fast" (string)'
    # what is no Python literal, or reads the same in JSON, is left as it is
    for same in (
        "x must be below y; got from 5 to 1",
        "at most 100,000; got 120,000",
        "got [5, 3]",
    ):
        assert api._in_json(same) == same
    # NaN and Infinity (which the page's JSON parser lets through) as the request wrote them
    assert api._describe(float("nan")) == "NaN"
    assert api._describe(float("-inf")) == "-Infinity"


def test_a_huge_number_and_a_websocket_type_in_the_apis_words(client):
    # "use sys.set_int_max_str_digits() to increase the limit" was the caller's advice
    response = client.post(
        "/api/ewma",
        content='{"beta": ' + "9" * 5000 + "}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith(
        "the request holds a number of more than 4,300 digits"
    )
    with client.websocket_connect(WS) as ws:
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["error"] == (
            'type must be one of config, play, pause, step, reset; got "dance"'
        )


def test_f_undefined_over_the_view_is_about_both_ranges_and_f(client):
    answer = client.post("/api/surface", json={"expression": "log(-1 - x^2 - y^2)"}).json()
    assert answer["field"] == "xlim"  # as before, for whoever reads field alone
    assert answer["fields"] == ["xlim", "ylim", "expression"]


def test_a_refused_network_setup_leaves_nothing_to_play(client):
    # a refused config kept the setup before it: Play trained what the page no longer showed
    good = {"n_samples": 40, "grid": 8, "runs": [SGD, {"optimizer": "adam"}]}
    bad = {**good, "runs": [SGD, {"optimizer": "adam", "hyperparameters": {"beta2": 1.5}}]}
    with client.websocket_connect(WS) as ws:
        ws.send_json({"type": "config", "config": good})
        kinds = [ws.receive_json()["type"] for _ in range(3)]
        assert kinds == ["data", "frame", "state"]
        ws.send_json({"type": "config", "config": bad})
        refusal = ws.receive_json()
        assert refusal["field"] == "config.runs[1].hyperparameters.beta2"
        ws.send_json({"type": "step"})
        assert ws.receive_json()["error"] == "send a config first"


# --- in the browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page() as shown:
        yield shown


def _wait(page, expression: str):
    from play_serving import wait_for

    return wait_for(page, expression, 20.0)


SAID = """() => {
    const said = (node) => (!node || node.hidden ? null : node.textContent);
    return {banner: said(document.getElementById('banner')),
            range: said(document.getElementById('range-error')),
            cards: [...document.querySelectorAll('.card .error')].map(said),
            schedule: said(document.querySelector('.schedule-picker .schedule-error')),
            marked: [...document.querySelectorAll('[aria-invalid=true]')]
                .filter((node) => node.classList.contains('invalid'))
                .map((node) => node.getAttribute('aria-label'))};
}"""


def _shot(page, name: str) -> None:
    shot(page, name, full_page=False)


def _said(page) -> dict:
    return page.evaluate(SAID)


def _type(page, selector: str, text: str) -> None:
    page.fill(selector, text)
    page.press(selector, "Enter")


def test_an_optimizer_cards_refusal_is_said_in_the_cards_words(page):
    # "runs[1] (Adam): beta1 must be in [0, 1); got 1.5", below all of the card's boxes,
    # none marked, β₁ hidden behind "9 more"; the export's toast said the same
    adam = {"optimizer": "adam", "hyperparameters": {"lr": 0.1, "beta1": 1.5}}
    _open(page, {"m": "2d", "2d": {"f": "bowl", "n": 10, "r": [SGD, adam]}})
    _wait(page, f"{TWO}.idle && {TWO}.view.error")
    said = _said(page)
    assert said["cards"] == [None, "Adam: β₁ must be in [0, 1); got 1.5"]
    assert said["marked"] == ["β₁ value"]
    assert said["banner"] is None
    _shot(page, "polish-card-refusal")
    beta1 = ".card:nth-child(2) input[type=number][data-name=beta1]"
    assert page.is_visible(beta1)  # "more" opened to show it
    # said right under its box
    under = "(node) => node.closest('.slider').nextElementSibling.className"
    assert page.eval_on_selector(beta1, under) == "error"
    page.evaluate("() => window.gdlab.exportAs('toml')")
    toast = "document.getElementById('toast')"
    assert _wait(page, f"!{toast}.hidden && {toast}.textContent") == (
        "Adam: β₁ must be in [0, 1); got 1.5"
    )
    _type(page, beta1, "0.8")
    _wait(page, f"{TWO}.idle && {TWO}.view.answer")
    said = _said(page)
    assert (said["cards"], said["marked"]) == ([None, None], [])


NOTES = """() => [...document.querySelectorAll('.slider-error')]
    .filter((note) => !note.hidden).map((note) => note.textContent)"""


def _typed(page, selector: str, text: str) -> None:
    # key by key, as a learner types (fill refuses text that is no number)
    page.fill(selector, "")
    page.type(selector, text)
    page.press(selector, "Enter")


def test_a_typed_value_that_cannot_be_is_said_under_its_box(page):
    # "1e" in a card's lr box and 10000 steps only reddened the box (the steps box showed
    # 10000 while 5000 ran); β = 1.5 and 5000 points went to the banner as "beta …" and
    # "config.n_samples must be …"
    _open(page, {"m": "2d", "2d": {"f": "bowl", "n": 10, "r": [SGD]}})
    _wait(page, f"{TWO}.idle && {TWO}.view.answer")
    _typed(page, "#controls-2d input[type=number][data-name=steps]", "10000")
    _typed(page, ".card input[type=number][data-name=lr]", "1e")
    assert page.evaluate(NOTES) == [
        "steps must be from 1 to 5,000; got 10000",
        "lr must be a number; what is typed is not one",
    ]
    assert _said(page)["marked"] == ["steps value", "lr value"]
    assert page.evaluate(f"() => {TWO}.state.steps") == 10
    _typed(page, "#controls-2d input[type=number][data-name=steps]", "12")
    _wait(page, f"{TWO}.idle && {TWO}.view.answer.steps === 12")
    assert page.evaluate(NOTES) == ["lr must be a number; what is typed is not one"]
    _open(page, {"m": "ewma"})
    _wait(page, "window.gdlab.modes.ewma.view.plot")
    _typed(page, "#controls-ewma input[type=number][data-name=beta]", "1.5")
    _wait(page, "document.querySelector('#controls-ewma .slider-error:not([hidden])')")
    assert page.evaluate(NOTES) == ["β must be in [0, 0.9999]; got 1.5"]
    assert (_said(page)["banner"], _said(page)["marked"]) == (None, ["β value"])


def test_f_undefined_in_the_view_marks_both_ranges_and_f_until_mended(page):
    # only "x from" and "x to" were marked, for a message about the whole view
    _open(page, {"m": "2d", "2d": {"e": "log(-1 - x^2 - y^2)", "n": 10, "r": [SGD]}})
    _wait(page, "!document.getElementById('range-error').hidden")
    said = _said(page)
    assert said["range"] == (
        "f is not defined (or not finite) anywhere in this view: change f, or the x and y ranges"
    )
    assert said["marked"] == ["f(x, y)", "x from", "x to", "y from", "y to"]
    assert said["banner"] is None
    _shot(page, "polish-f-undefined")
    page.fill("#expression", "log(1 + x^2 + y^2)")
    _wait(page, f"{TWO}.idle && {TWO}.view.answer && document.getElementById('range-error').hidden")
    assert _said(page)["marked"] == []


def test_a_diverged_runs_cross_sits_inside_the_loss_charts_frame(page):
    # the × of a loss gone off the scale was drawn above the frame, half outside the plot
    diverging = {"optimizer": "sgd", "hyperparameters": {"lr": 30}}
    adam = {"optimizer": "adam", "hyperparameters": {"lr": 0.3}}
    _open(page, {"m": "2d", "2d": {"f": "bowl", "n": 30, "r": [SGD, diverging, adam]}})
    _wait(page, f"{TWO}.idle && {TWO}.view.answer")
    box = page.evaluate(f"""() => {{
        const plot = {TWO}.view.lossPlot;
        const boxes = [...plot.over.querySelectorAll('path')].map((mark) => mark.getBBox());
        return {{x0: Math.min(...boxes.map((b) => b.x)), y0: Math.min(...boxes.map((b) => b.y)),
                 x1: Math.max(...boxes.map((b) => b.x + b.width)),
                 y1: Math.max(...boxes.map((b) => b.y + b.height)), count: boxes.length,
                 left: plot.margin.left, top: plot.margin.top,
                 right: plot.margin.left + plot.inner.w, bottom: plot.margin.top + plot.inner.h}};
    }}""")
    _shot(page, "polish-diverged-cross")
    assert box["count"] >= 1
    assert box["left"] <= box["x0"], box
    assert box["x1"] <= box["right"], box
    assert box["top"] < box["y0"], box
    assert box["y1"] <= box["bottom"], box
    assert box["y0"] - box["top"] < 5  # at the top edge: its loss is above the scale
    mark = page.evaluate(
        f"() => {{ const g = {TWO}.view.lossPlot.over.querySelector('.stop');"
        " return [g.dataset.run, g.querySelector('title').textContent]; }"
    )
    assert mark[0] == "1"  # the second run's, with its reason on hover
    assert mark[1].startswith("SGD 2: left the plot at step 1, then diverged by step 2")
    # its log axis, from about 0.04 to 6.5, was labelled 2.5, 5 and 7.5 at its top alone
    ticks = page.evaluate(
        f"() => [...{TWO}.view.lossPlot.axes.querySelectorAll('text[text-anchor=end]')]"
        ".map((t) => t.textContent)"
    )
    assert ticks == ["0.05", "0.1", "0.2", "0.5", "1", "2", "5"]
    # hovering the chart lists every run's f at a step, each after its colour's dot
    box = page.locator("#loss2d svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    _wait(page, "!document.getElementById('tooltip').hidden")
    dots = page.evaluate(
        "() => [...document.querySelectorAll('#tooltip .dot')]"
        ".map((d) => getComputedStyle(d).backgroundColor)"
    )
    assert dots == ["rgb(0, 114, 178)", "rgb(213, 94, 0)", "rgb(0, 158, 115)"]


def test_a_schedules_refusal_is_said_under_its_picker(page):
    # "schedule: boundaries must be …" went to the banner, the boundaries box unmarked
    piecewise = {"name": "piecewise", "arguments": {"boundaries": [5, 3], "values": [1, 0.5, 0.1]}}
    _open(page, {"m": "2d", "2d": {"f": "bowl", "n": 10, "r": [SGD], "sc": piecewise}})
    _wait(page, f"{TWO}.idle && {TWO}.view.error")
    said = _said(page)
    assert said["schedule"] == "piecewise: boundaries must be strictly increasing; got [5, 3]"
    assert (said["marked"], said["banner"]) == (["boundaries"], None)
    # a list that is no list of numbers is said under its box, not sent
    _type(page, "#controls-2d input[data-name=boundaries]", "3,,5")
    said = page.evaluate(
        "() => [...document.querySelectorAll('#controls-2d .list-error')]"
        ".map((n) => (n.hidden ? null : n.textContent))"
    )
    assert said == ["boundaries must be whole numbers separated by commas; got 3,,5", None]
    _type(page, "#controls-2d input[data-name=boundaries]", "3, 5")
    _wait(page, f"{TWO}.idle && {TWO}.view.answer")
    said = _said(page)
    assert (said["schedule"], said["marked"]) == (None, [])
    assert page.is_hidden("#controls-2d .list-error >> nth=0")
    # the schedules mode says it in the same place
    _open(page, {"m": "schedules", "schedules": {"schedule": piecewise}})
    _wait(page, "!document.querySelector('#controls-schedules .schedule-error').hidden")
    said = _said(page)
    assert said["schedule"] == "piecewise: boundaries must be strictly increasing; got [5, 3]"
    assert (said["marked"], said["banner"]) == (["boundaries"], None)
    # a constant rate's axis ran from −0.9 to 1.1: negative learning rates on the axis
    _open(page, {"m": "schedules", "schedules": {"schedule": {"name": "manual", "arguments": {}}}})
    domain = _wait(page, "window.gdlab.modes.schedules.view.plot?.y.domain")
    assert domain[0] == 0
    assert 0.1 < domain[1] <= 0.2


def test_a_refused_network_setup_is_said_on_its_card_and_stops_the_transport(page):
    # "Adam: beta2 …" with no box marked, "ready" beside Play, and Step said "send a config first"
    adam = {"optimizer": "adam", "hyperparameters": {"lr": 0.01, "beta2": 1.5}}
    momentum = {"optimizer": "momentum", "hyperparameters": {"lr": 0.05}}
    _open(page, {"m": "net", "net": {"n_samples": 40, "r": [momentum, adam]}})
    _wait(page, "document.getElementById('net-play').disabled")
    said = _said(page)
    assert said["cards"] == [None, "Adam: β₂ must be in [0, 1); got 1.5"]
    assert (said["marked"], said["banner"]) == (["β₂ value"], None)
    assert page.inner_text("#net-readout") == "not started: mend what is marked in red"
    assert page.is_disabled("#net-step")
    _type(page, ".card:nth-child(2) input[type=number][data-name=beta2]", "0.99")
    _wait(page, "!document.getElementById('net-play').disabled")
    said = _said(page)
    assert (said["cards"], said["marked"], said["banner"]) == ([None, None], [], None)
    # a long caption ("Momentum loss 0.69 · acc 50.0%") squeezed its colour's square to a line
    _wait(page, "document.querySelector('#boundaries figcaption .stats')?.textContent")
    widths = page.evaluate(
        "() => [...document.querySelectorAll('#boundaries figcaption .swatch')]"
        ".map((s) => s.getBoundingClientRect().width)"
    )
    assert widths == [12, 12]
    # a setting the server refuses, under its slider in the page's words
    _typed(page, "#controls-net input[type=number][data-name=n_samples]", "5000")
    _wait(page, "document.getElementById('net-play').disabled")
    assert page.evaluate(NOTES) == ["points must be an integer in [20, 2000]; got 5000"]
    assert (_said(page)["banner"], _said(page)["marked"]) == (None, ["points value"])


def test_drawn_words_are_whole_the_ewma_label_and_a_long_slider_name(page):
    # the window's label ran off the plot's left edge for a day near the start, and
    # "weight decay" was cut to "weight de…" on Adam's card
    _open(page, {"m": "ewma", "ewma": {"beta": 0.9, "zoom": True}})
    _wait(page, "window.gdlab.modes.ewma.view.plot")
    box = page.locator("#ewma-chart svg").bounding_box()
    page.mouse.move(box["x"] + 90, box["y"] + 200)  # near day 3
    _wait(page, "window.gdlab.modes.ewma.state.day < 10")
    left, x = page.evaluate(
        "() => [window.gdlab.modes.ewma.view.plot.margin.left,"
        " window.gdlab.modes.ewma.view.plot.over.querySelector('text').getBBox().x]"
    )
    assert x >= left
    # the window's bars: 10 for β = 0.9 (1/(1 − 0.9) is 10.000000000000002: 11 were dark)
    dark = page.evaluate(
        "() => [...window.gdlab.modes.ewma.view.weightsPlot.data.querySelectorAll('rect')]"
        ".filter((r) => r.getAttribute('fill') === '#0072B2').length"
    )
    assert dark == 10
    _open(page, {"m": "2d", "2d": {"f": "bowl", "n": 10, "r": [{"optimizer": "adam"}]}})
    page.click(".card .more")
    label = page.locator(".card .slider:has(input[data-name=weight_decay]) label")
    assert label.inner_text() == "weight decay"
    assert label.evaluate("(node) => node.scrollWidth <= node.clientWidth")
