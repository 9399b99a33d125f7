"""The x and y range boxes of ``gdlab play``'s 2-D mode, tried as a learner tries them.

A range that cannot be drawn (the wrong way round, too narrow, beyond the
coordinates' cap, text in a box) is said under the range boxes in the page's
words ("x from", "x range", never the request's ``xlim``), for a built-in
function as for one's own, and the banner stays free; the JSON API keeps the
request's field names. Also: a slider moved while a range is wrong, the
export, a switch of function after a refusal, and a start left outside the
plot. Debian's Chromium, driven by Playwright (skipped without it, but under
``CI=true``).
"""

from __future__ import annotations

import itertools
import json
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from play_serving import open_state, shot

TWO = "window.gdlab.modes['2d']"
SHOWN = """() => {
    const said = (id) => {
        const box = document.getElementById(id);
        return !box || box.hidden ? null : box.textContent;
    };
    return {banner: said('banner'), range: said('range-error'), start: said('start-note'),
            toast: said('toast'), expression: said('expression-error'),
            marked: [...document.querySelectorAll('.view-input')]
                .filter((box) => box.classList.contains('invalid')
                    && box.getAttribute('aria-invalid') === 'true')
                .map((box) => box.getAttribute('aria-label'))};
}"""
#: one quick optimizer: nothing to compile for long
RUNS = [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}]


@pytest.fixture(scope="module")
def browser_page():
    from play_serving import served_page

    with served_page() as page:
        yield page


@pytest.fixture
def page(browser_page):
    yield browser_page
    browser_page.unroute_all()  # a test's stand-in answers end with it


def _open(page, state: dict) -> None:
    open_state(page, {"m": "2d", "2d": {"r": RUNS, "n": 20, **state}})


def _wait(page, expression: str, timeout: float = 20.0):
    from play_serving import wait_for

    return wait_for(page, expression, timeout)


def _said(page) -> dict:
    return page.evaluate(SHOWN)


def _type(page, label: str, text: str) -> None:
    # typed key by key, as a learner types (fill refuses text that is no number)
    box = f"input[aria-label='{label}']"
    page.fill(box, "")
    page.type(box, text)
    page.press(box, "Enter")


def _post(url: str, body: dict) -> dict:
    """The server's JSON refusal of ``body`` (a 422)."""
    request = Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with pytest.raises(HTTPError) as refused:
        urlopen(request, timeout=10)
    assert refused.value.code == 422
    return json.loads(refused.value.read())


def _drawn(page) -> None:
    _wait(page, f"{TWO}?.idle && {TWO}.view.answer")


def _shot(page, name: str) -> None:
    shot(page, name, full_page=False)


def test_a_built_in_functions_range_is_said_under_its_boxes_in_the_pages_words(page):
    # bowl with x from 20 to 10: "xlim must be [low, high] …" was put in the banner
    _open(page, {"f": "bowl", "xl": [20, 10]})
    _wait(page, "!document.getElementById('range-error').hidden")
    said = _said(page)
    _shot(page, "ranges-built-in-wrong-way")
    assert said["range"] == "x from must be below x to; got from 20 to 10"
    assert said["marked"] == ["x from", "x to"]
    assert said["banner"] is None
    # the JSON API keeps the request's field, for whoever calls it
    answer = _post(page.base + "/api/surface", {"function": "bowl", "xlim": [20, 10]})
    assert answer["field"] == "xlim"
    assert answer["error"] == "xlim must be [low, high] with high - low >= 1e-06; got [20, 10]"
    # switching function after the refusal: the mark and the message go, the banner stays free
    page.select_option("#function-select", "rosenbrock")
    _wait(page, f"{TWO}.view.surface?.function.name === 'rosenbrock'")
    _drawn(page)
    said = _said(page)
    assert (said["range"], said["marked"], said["banner"]) == (None, [], None)
    # your own f: the same words in the same place, and its expression box not blamed
    page.select_option("#function-select", "__custom__")
    _type(page, "x from", "9")
    _wait(page, "!document.getElementById('range-error').hidden")
    said = _said(page)
    assert said["range"] == "x from must be below x to; got from 9 to 5"
    assert (said["marked"], said["banner"], said["expression"]) == (["x from", "x to"], None, None)


#: what a learner types in a box, and what the page says under the boxes (and marks)
TYPED = [
    (
        "x from",
        "1e",
        "x from must be a number between −1e6 and 1e6; what is typed is not one",
        ["x from"],
    ),
    (
        "y to",
        "1e400",
        "y to must be a number between −1e6 and 1e6; what is typed is not one",
        ["y to"],
    ),
    ("x to", "1e7", "x to must be between −1e6 and 1e6; got 1e7", ["x to"]),
    ("y from", "5", "y from must be below y to; got from 5 to 5", ["y from", "y to"]),
    (
        "y to",
        "-4.9999999",
        "y range must be at least 1e−6 wide; got from -5 to -4.9999999",
        ["y from", "y to"],
    ),
]


def test_a_box_a_learner_gets_wrong_is_said_under_the_boxes(page):
    # "1e" was said to be an empty box; 1e7 went to the banner as "xlim[1] must be in …"
    _open(page, {"f": "himmelblau"})
    for label, text, message, marked in TYPED:
        _type(page, label, text)
        _wait(page, "!document.getElementById('range-error').hidden")
        said = _said(page)
        if text == "1e7":
            _shot(page, "ranges-huge")
        assert said["range"] == message, text
        assert said["marked"] == marked, text
        assert said["banner"] is None, text
        box = f"input[aria-label='{label}']"
        page.fill(box, {"x from": "-5", "x to": "5", "y from": "-5", "y to": "5"}[label])
        page.press(box, "Enter")
        _wait(page, "document.getElementById('range-error').hidden")
        assert _said(page)["marked"] == [], text


MOVE_LR = """(el) => { el.value = String(Number(el.value) - 40);
    el.dispatchEvent(new Event('input', {bubbles: true})); }"""


def test_while_a_range_is_wrong_the_sliders_redraw_and_every_refusal_stays_at_the_boxes(page):
    # with x from 50 to 10 a slider asked for paths over that view: the banner said
    # "xlim must be …", and so did the export
    _open(page, {"f": "bowl"})
    _drawn(page)
    _type(page, "x from", "50")
    _wait(page, "!document.getElementById('range-error').hidden")
    before = page.evaluate(f"() => {TWO}.view.runs[0].hyperparameters.lr")
    page.eval_on_selector("input[type=range][data-name=lr]", MOVE_LR)
    _wait(page, f"{TWO}.idle && {TWO}.view.runs[0].hyperparameters.lr !== {before}")
    said = _said(page)
    _shot(page, "ranges-slider-while-wrong")
    assert said["banner"] is None
    assert said["range"] == "x from must be below x to; got from 50 to 10"
    assert said["marked"] == ["x from", "x to"]
    page.evaluate("() => window.gdlab.exportAs('toml')")
    toast = "document.getElementById('toast')"
    assert _wait(page, f"!{toast}.hidden && {toast}.textContent") == (
        "x from must be below x to; got from 50 to 10: mend the range to export"
    )
    # a refusal the page did not foresee, of the view or of the paths: beside the boxes,
    # the request's names (xlim[1], ylim) in the page's words, the banner free
    refusals = {
        "surface": {"error": "xlim[1] must be in [-1e+06, 1e+06]; got 1e+300", "field": "xlim[1]"},
        "paths": {"error": "ylim must be a pair [a, b]; got 7", "field": "ylim"},
    }

    def refuse(route):
        kind = route.request.url.rsplit("/", 1)[-1]
        route.fulfill(status=422, content_type="application/json", body=json.dumps(refusals[kind]))

    page.route("**/api/surface", refuse)
    _type(page, "x from", "-10")
    _wait(page, "document.getElementById('range-error').textContent.startsWith('x to must be in')")
    said = _said(page)
    assert said["range"] == "x to must be in [-1e+06, 1e+06]; got 1e+300"
    assert (said["marked"], said["banner"]) == (["x to"], None)
    page.route("**/api/paths", refuse)
    page.eval_on_selector("input[type=range][data-name=lr]", MOVE_LR)
    _wait(page, "document.getElementById('range-error').textContent.includes('y range')")
    said = _said(page)
    assert said["range"] == "y range must be a pair [a, b]; got 7"
    assert (said["marked"], said["banner"]) == (["y from", "y to"], None)


def test_a_start_outside_the_plot_is_said_beside_the_start(page):
    # narrowed past the start, every run said "left the plot at step 0" and nothing else
    _open(page, {"f": "bowl", "xl": [0, 10], "s": [-7, 2]})
    _drawn(page)
    _wait(page, "document.querySelector('#legend-2d .status')")
    _shot(page, "ranges-start-outside")
    assert page.inner_text("#legend-2d [data-run='0'] .status") == "started outside the plot"
    said = _said(page)
    assert said["start"].startswith("outside the plot: no path is drawn")
    assert (said["range"], said["banner"]) == (None, None)
    page.click("#controls-2d button:text-is('reset')")
    _wait(page, "!document.querySelector('#legend-2d .status')")
    assert page.inner_text("#legend-2d").strip() == "SGD lr 0.1"
    assert _said(page)["start"] is None


def test_your_own_f_from_a_link_starts_in_its_view_and_a_slider_leaves_the_banner_free(page):
    # a link to "your own f" without a start kept the bowl's (−7, 2), outside x from −5 to 5;
    # a slider moved while f could not be read put its error in the banner as well
    _open(page, {"e": "x^2 + y^2"})
    _drawn(page)
    assert page.inner_text("#start-text") == "(−4, 3)"
    assert _said(page)["start"] is None
    page.fill("#expression", "x + (")
    _wait(page, "!document.getElementById('expression-error').hidden")
    before = page.evaluate(f"() => {TWO}.view.runs[0].hyperparameters.lr")
    page.eval_on_selector("input[type=range][data-name=lr]", MOVE_LR)
    _wait(page, f"{TWO}.idle && {TWO}.view.runs[0].hyperparameters.lr !== {before}")
    said = _said(page)
    assert said["expression"].startswith("invalid syntax: '(' was never closed")
    assert (said["banner"], said["range"], said["marked"]) == (None, None, [])


AXIS_LABELS = """() => {
    const plot = document.querySelector('#contour svg');
    const frame = plot.querySelector('.axes rect').getBBox();
    const labels = [...plot.querySelectorAll('.axes text')]
        .filter((t) => /[0-9]/.test(t.textContent));  // not the axis names
    const below = (t) => t.getAttribute('text-anchor') === 'middle';  // the y labels: 'end'
    const box = (t) => { const b = t.getBBox(); return [b.x, b.x + b.width]; };
    const at = (u, v) => {  // where, in the window, the frame's point (u, v) of the way is
        const p = plot.createSVGPoint();
        p.x = frame.x + u * frame.width;
        p.y = frame.y + v * frame.height;
        const q = p.matrixTransform(plot.getScreenCTM());
        return [q.x, q.y];
    };
    return {x: labels.filter(below).map((t) => t.textContent),
            y: labels.filter((t) => !below(t)).map((t) => t.textContent),
            xBoxes: labels.filter(below).map(box),
            click: at(0.4, 0.6)};
}"""


@pytest.mark.parametrize(
    ("xl", "yl", "xs", "ys"),
    [
        # 1 to 1.00001: every tick was labelled "1" (3 significant digits)
        ([1, 1.00001], [2, 2.00001],
         ["1", "1.000002", "1.000004", "1.000006", "1.000008", "1.00001"],
         ["2", "2.000002", "2.000004", "2.000006", "2.000008", "2.00001"]),
        # the narrowest view at the coordinates' cap (1e-6 wide at ±1e6): the ticks
        # themselves were rounded to 12 digits, 13 are needed, so all were 1e6
        ([999999.999999, 1e6], [-1e6, -999999.999999],
         ["9.99999999999e5", "9.999999999995e5", "1e6"],
         ["−1e6", "−9.999999999998e5", "−9.999999999996e5", "−9.999999999994e5",
          "−9.999999999992e5", "−9.99999999999e5"]),
    ],
)  # fmt: skip
def test_a_narrow_view_labels_each_tick_apart_and_a_click_starts_inside_it(page, xl, yl, xs, ys):
    _open(page, {"f": "bowl", "xl": xl, "yl": yl, "s": [xl[0], yl[0]]})
    _drawn(page)
    _shot(page, f"ranges-narrow-{xl[1]:g}")
    shown = page.evaluate(AXIS_LABELS)
    assert (shown["x"], shown["y"]) == (xs, ys)
    boxes = shown["xBoxes"]  # the x labels (long there) do not run into each other
    assert all(a[1] < b[0] for a, b in itertools.pairwise(boxes))
    # a click 40 % across starts there (it was snapped to 12 digits: to an end of the view)
    page.mouse.click(*shown["click"])
    _wait(page, f"{TWO}.state.start[0] !== {xl[0]!r}")
    start = page.evaluate(f"() => {TWO}.state.start")
    assert xl[0] < start[0] < xl[1]
    assert yl[0] < start[1] < yl[1]
    assert start[0] == pytest.approx(xl[0] + 0.4 * (xl[1] - xl[0]), abs=0.02 * (xl[1] - xl[0]))
