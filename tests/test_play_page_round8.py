"""``gdlab play``, round 8: the page on a phone, and what it said nowhere.

At 390 px the header ran off the screen ("Copy link" and "Export" at x 482 to 615),
and the charts, drawn 760 wide into 350 px, had 6 px text. Schedules mode said a
count past its cap only in a banner, never under its box, nor the box's own cap;
the network mode had no words for a refused batch size; "every optimizer → Apply"
kept some optimizers' presets without a word; a constant f's caption spoke of
"1 log-spaced levels". The checks use Debian's Chromium, driven by Playwright
(skipped without it, but under ``CI=true``).
"""

from __future__ import annotations

import json

import pytest

from play_serving import open_state, shot, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TWO = "window.gdlab.modes['2d']"
SCHEDULES = "window.gdlab.modes.schedules"
NETWORK = "window.gdlab.modes.net"
#: each mode, and when its charts are drawn
MODES = {
    "2d": f"{TWO}?.idle && {TWO}.view.lossPlot",
    "net": f"{NETWORK}?.view.lossPlot",
    "schedules": f"{SCHEDULES}?.view.plot",
    "ewma": "window.gdlab.modes.ewma?.view.weightsPlot",
}


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page(width=390, height=844) as shown:
        yield shown


@pytest.fixture
def phone(page):
    page.set_viewport_size({"width": 390, "height": 844})
    return page


@pytest.fixture
def desktop(page):
    page.set_viewport_size({"width": 1280, "height": 1000})
    yield page
    page.set_viewport_size({"width": 390, "height": 844})


def _wait(page, expression: str, timeout: float = 20.0):
    return wait_for(page, expression, timeout)


#: how wide the page is, what sticks out past the screen's right edge, and the height
#: of the smallest text of every chart shown
LAYOUT = """() => {
    const width = document.documentElement.clientWidth;
    const out = [...document.querySelectorAll('header *, .mode:not([hidden]) *')]
        .filter((node) => node.getClientRects().length
            && node.getBoundingClientRect().right > width + 0.5)
        .map((node) => `${node.tagName}#${node.id}.${node.getAttribute('class')}: `
            + node.textContent.slice(0, 40));
    const heights = [...document.querySelectorAll('.mode:not([hidden]) .chart svg text')]
        .filter((node) => node.textContent.trim())
        .map((node) => {  // a y label is turned a quarter: its height lies across
            const box = node.getBoundingClientRect();
            return node.getAttribute('transform') ? box.width : box.height;
        });
    return {scroll: document.documentElement.scrollWidth, width, out,
            smallest: Math.min(...heights), texts: heights.length};
}"""


@pytest.mark.parametrize("mode", list(MODES))
def test_nothing_is_wider_than_a_phone_and_chart_text_is_readable(phone, mode):
    # scrollWidth was 615 px at 390: Copy link and Export off screen; chart text 6 px tall
    open_state(phone, {"m": mode}, MODES[mode], 30.0)
    layout = phone.evaluate(LAYOUT)
    shot(phone, f"round8-390-{mode}")
    assert layout["scroll"] <= layout["width"] == 390, layout
    assert layout["out"] == [], layout
    for button in ("#copy-link", "#export", f"#tab-{mode}"):
        box = phone.locator(button).bounding_box()
        assert box["x"] >= 0, (button, box)
        assert box["x"] + box["width"] <= 390, (button, box)
    assert layout["texts"] > 0
    assert layout["smallest"] >= 9, layout


def test_a_tick_label_is_as_tall_at_1280_as_before(desktop):
    # the desktop keeps its charts: 760 wide, 12 px text
    open_state(desktop, {"m": "2d"}, MODES["2d"])
    drawn = desktop.evaluate(
        f"""() => ({{width: {TWO}.view.plot.width, height: {TWO}.view.plot.height,
            tick: {TWO}.view.plot.axes.querySelector('text').getBoundingClientRect().height}})"""
    )
    shot(desktop, "round8-1280-2d")
    assert (drawn["width"], drawn["height"]) == (760, 470)
    assert drawn["tick"] >= 12


def test_a_resized_window_draws_the_charts_again_at_its_width(desktop):
    open_state(desktop, {"m": "schedules"}, MODES["schedules"])
    assert desktop.evaluate(f"() => {SCHEDULES}.view.plot.width") == 760
    desktop.set_viewport_size({"width": 390, "height": 844})
    width = _wait(desktop, f"{SCHEDULES}.view.plot.width < 760 && {SCHEDULES}.view.plot.width")
    shown = desktop.evaluate("() => document.getElementById('schedule-chart').clientWidth")
    assert width == shown
    tick = desktop.evaluate(
        f"() => {SCHEDULES}.view.plot.axes.querySelector('text').getBoundingClientRect().height"
    )
    assert tick >= 9


#: the boxes marked in the schedules' controls, and what is said under each
SAID = """() => {
    const root = document.getElementById('controls-schedules');
    const banner = document.getElementById('banner');
    const said = {};
    for (const row of root.querySelectorAll('.slider')) {
        const note = row.querySelector('.slider-error');
        if (note && !note.hidden) said[row.querySelector('label').textContent] = note.textContent;
    }
    return {said, marked: [...root.querySelectorAll('[aria-invalid=true]')]
                .map((node) => node.getAttribute('aria-label')),
            banner: banner.hidden ? '' : banner.textContent};
}"""


def _typed(page, label: str, value: int) -> None:
    box = f"#controls-schedules input[aria-label='{label} value']"
    page.fill(box, str(value))
    page.press(box, "Enter")


def test_a_count_past_its_cap_is_said_under_its_box(phone):
    # steps/epoch 20,000 said only "steps/epoch × epochs is 600,000: at most 100,000" above
    open_state(phone, {"m": "schedules"}, MODES["schedules"])
    _typed(phone, "steps/epoch", 20000)
    said = _wait(phone, f"({SAID})().marked.length && ({SAID})()")
    assert said["banner"] == ""
    assert said["marked"] == ["steps/epoch value"]
    assert list(said["said"]) == ["steps/epoch"]
    assert "10000" in said["said"]["steps/epoch"].replace(",", "")
    assert "got 20000" in said["said"]["steps/epoch"].replace(",", "")
    shot(phone, "round8-390-steps-per-epoch-cap")
    # within its own cap, past the product's: said under the box changed last
    _typed(phone, "steps/epoch", 10000)
    said = _wait(phone, f"/×/.test(JSON.stringify(({SAID})().said)) && ({SAID})()")
    assert said["banner"] == ""
    assert said["marked"] == ["steps/epoch value"]
    assert "steps/epoch × epochs" in said["said"]["steps/epoch"]
    assert "100,000" in said["said"]["steps/epoch"]
    _typed(phone, "epochs", 20)
    said = _wait(phone, f"({SAID})().said.epochs && ({SAID})()")
    assert said["marked"] == ["epochs value"]
    assert list(said["said"]) == ["epochs"]
    assert "200,000" in said["said"]["epochs"]
    # mended: nothing said, the chart drawn
    _typed(phone, "epochs", 5)
    _wait(phone, f"{SCHEDULES}.view.answer.epochs === 5")
    said = phone.evaluate(SAID)
    assert said == {"said": {}, "marked": [], "banner": ""}


def test_a_refused_batch_size_is_said_under_its_menu(page):
    # config.batch_size had no words: the server's raw message went to the banner. The
    # server may no longer refuse any batch the menu offers, so its refusal is played here.
    browser = page.context.browser
    other = browser.new_page(viewport={"width": 1280, "height": 1000})
    other.base = page.base
    refusal = {
        "type": "error",
        "field": "config.batch_size",
        "error": "config.batch_size must be an integer in [1, 20]; got 64",
    }

    def route(ws):
        server = ws.connect_to_server()

        def from_page(message):
            sent = json.loads(message)
            if sent.get("type") == "config" and sent["config"].get("batch_size") == 64:
                ws.send(json.dumps(refusal))
            else:
                server.send(message)

        ws.on_message(from_page)

    other.route_web_socket("**/ws/network", route)
    try:
        open_state(other, {"m": "net"}, f"{NETWORK}?.view.panels.length", 30.0)
        other.select_option("#controls-net select[aria-label='batch size']", "64")
        note = "document.getElementById('batch-error')"
        said = _wait(other, f"!{note}.hidden && {note}.textContent")
        assert said == "batch must be an integer in [1, 20]; got 64"
        assert other.evaluate("() => document.getElementById('banner').hidden")
        marked = other.evaluate(
            "() => document.querySelector('#controls-net select[aria-label=\"batch size\"]')"
            ".getAttribute('aria-invalid')"
        )
        assert marked == "true"
        shot(other, "round8-1280-batch-refused")
        other.select_option("#controls-net select[aria-label='batch size']", "32")
        _wait(other, "document.getElementById('batch-error').hidden")
    finally:
        other.close()


def test_apply_says_which_optimizers_have_no_such_preset(desktop):
    # course: AdaGrad and Nesterov have none, and kept book without a word
    runs = [
        {"optimizer": name, "preset": "book", "hyperparameters": {}}
        for name in ("sgd", "adagrad", "nesterov", "adam")
    ]
    open_state(desktop, {"m": "2d", "2d": {"f": "bowl", "n": 20, "r": runs}}, MODES["2d"])
    specs = desktop.evaluate("() => window.gdlab.catalog.optimizers")
    names = ("sgd", "adagrad", "nesterov", "adam")
    lacking = [name for name in names if "course" not in specs[name]["presets"]]
    assert lacking == ["adagrad", "nesterov"]
    desktop.select_option("select[aria-label='preset for every optimizer']", "course")
    desktop.click("#controls-2d button:text-is('Apply')")
    said = "document.getElementById('preset-note')"
    note = _wait(desktop, f"!{said}.hidden && {said}.textContent")
    assert note == "AdaGrad and Nesterov have no course preset: kept book"
    shot(desktop, "round8-1280-apply-course")
    # it stays until the next change
    _wait(desktop, f"{TWO}.idle && {TWO}.view.answer")
    assert not desktop.evaluate("() => document.getElementById('preset-note').hidden")
    desktop.click("#add-optimizer")
    _wait(desktop, "document.getElementById('preset-note').hidden")


def test_a_constant_f_is_said_to_have_no_contours(desktop):
    # "at 1 log-spaced levels (dense near the minimum)", no line drawn
    open_state(desktop, {"m": "2d", "2d": {"e": "3", "n": 5}}, f"{TWO}?.idle && {TWO}.view.answer")
    caption = desktop.evaluate("() => document.getElementById('caption-2d').textContent")
    assert "log-spaced" not in caption
    assert "is constant over this view (f = 3): no contour lines are drawn; " in caption
