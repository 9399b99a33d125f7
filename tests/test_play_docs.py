"""docs/play.md, claim by claim: what the page of ``gdlab play`` says it does, it does.

The other play tests check the server's machinery; these check the doc's own
statements that no other test holds to, each where it is cheapest: the
catalog and the JSON API through Starlette's TestClient, Ctrl-C on a worker
process, and, for the one claim only the page can show (the EWMA's band
follows the mouse in the first 90 days too), Debian's Chromium.
"""

from __future__ import annotations

import os
import re
import signal
import time
import warnings
from pathlib import Path

import pytest

from play_serving import open_state

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from gdlab import expressions
from gdlab.play import api, create_app, limits

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOC = (Path(__file__).resolve().parents[1] / "docs" / "play.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def catalog(client):
    return client.get("/api/catalog").json()


def _refused(response, status: int, field: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload.get("field") == field, payload
    for word in words:
        assert word in payload["error"], payload
    return payload


# --- the server's table and its caps ---------------------------------------------------------


def test_another_host_is_refused_with_a_json_error_naming_it(client):
    # "answers only requests addressed to its own host name": a JSON error, as every
    # other refusal (it was Starlette's plain-text "Invalid host header")
    payload = _refused(
        client.get("/api/health", headers={"host": "evil.example"}), 400, "Host", "evil.example"
    )
    assert "127.0.0.1" in payload["error"]
    _refused(client.get("/", headers={"host": "127.0.0.1.evil.example:80"}), 400, "Host")
    assert client.get("/api/health", headers={"host": "localhost:8765"}).status_code == 200
    assert TestClient(create_app(allowed_hosts=["*"])).get("/api/health").status_code == 200


def test_health_says_ok_version_and_warm(client):
    health = client.get("/api/health").json()
    assert health["ok"] is True
    assert isinstance(health["version"], str)
    assert isinstance(health["warm"], bool)
    assert "`/api/health` | GET" in DOC


def _cap(row: str) -> str:
    match = re.search(rf"^\| {re.escape(row)} \| (.+) \|$", DOC, re.MULTILINE)
    assert match, row
    return match.group(1)


def test_the_caps_table_is_the_servers(catalog):
    caps = catalog["limits"]
    assert _cap("optimizers in 2-D mode") == str(caps["max_runs"]) == "8"
    assert _cap("steps of a path") == f"{caps['max_steps']:,}"
    assert f"at most {caps['max_inner_work']:,}" in _cap("L-BFGS's inner iterations")
    grid = caps["max_resolution"]
    assert _cap("contour grid") == f"{grid} × {grid} points, {caps['max_levels']} levels"
    assert f"{caps['max_schedule_steps']:,} steps" in _cap("schedule curve")
    assert f"every step sent up to {caps['max_curve_points']:,}" in _cap("schedule curve")
    groups = caps["max_curve_points"] // 2
    assert f"a longer curve as at most {groups:,} groups" in _cap("schedule curve")
    network = (
        f"{caps['min_net_runs']} to {caps['max_net_runs']} optimizers, {caps['min_points']} to "
        f"{caps['max_points']:,} points, {caps['max_layers']} hidden layers of at most "
        f"{caps['max_width']} units, {caps['max_steps_per_frame']} steps per frame, a "
        f"{caps['max_grid']} × {caps['max_grid']} boundary grid, {caps['max_sessions']} open "
        "sessions"
    )
    assert _cap("network mode") == network
    assert _cap("request body") == f"{caps['max_body_bytes'] // 1024} KiB"
    assert _cap("computation").startswith(f"{caps['time_limit']:g} s ")
    integer = _cap("an integer hyperparameter (`history_size`, `k`, a warm-up)")
    assert integer.startswith(f"within ±{caps['max_int_hyperparameter']:,} ")


@pytest.mark.parametrize(
    ("hyperparameters", "steps", "fits"),
    [({}, 91, 90), ({"max_iter": 1}, 1819, 1818)],
)
def test_the_lbfgs_cap_refuses_at_once_with_the_steps_that_fit(
    client, hyperparameters, steps, fits
):
    # "90 steps at its defaults (20 and 100), 1,818 with max_iter = 1 (field steps;
    # the message says how many steps fit)": one step more is refused before any run
    body = {
        "function": "rosenbrock",
        "steps": steps,
        "runs": [{"optimizer": "lbfgs", "hyperparameters": hyperparameters}],
    }
    started = time.monotonic()
    _refused(client.post("/api/paths", json=body), 422, "steps", f"at most {fits:,} steps")
    assert time.monotonic() - started < 5
    assert f"{fits:,}" in _cap("L-BFGS's inner iterations")


@pytest.mark.parametrize(("per_epoch", "epochs"), [(100, 40), (1000, 100), (7, 3)])
def test_a_schedule_curve_sends_at_most_2000_points_first_and_last_included(
    client, per_epoch, epochs
):
    # 100 × 40 steps came back as 2,001 points (every 2nd step, then the last)
    body = {"schedule": {"name": "cosine"}, "steps_per_epoch": per_epoch, "epochs": epochs}
    curve = client.post("/api/schedule", json=body).json()
    total = per_epoch * epochs
    assert len(curve["steps"]) == len(curve["lr"]) <= limits.MAX_CURVE_POINTS
    if total <= limits.MAX_CURVE_POINTS:
        assert curve["steps"] == list(range(total))
    assert curve["steps"][0] == 0
    assert curve["steps"][-1] == total - 1
    gaps = {b - a for a, b in zip(curve["steps"], curve["steps"][1:], strict=False)}
    assert max(gaps) - min(gaps) <= max(gaps)  # evenly, but for the last gap


def test_a_run_diverges_above_a_million_times_its_start(client):
    # "f above 10⁶ × max(|f at the start|, 1)": the bowl from (-7, 2) starts at f = 6.45
    body = {"function": "bowl", "start": [-7, 2], "steps": 50}
    sgd = {"optimizer": "sgd", "preset": "book", "hyperparameters": {"lr": 5.0}}
    run = client.post("/api/paths", json={**body, "runs": [sgd]}).json()["runs"][0]
    assert run["status"] == "diverged"
    assert "above 6.45e+06" in run["reason"]


# --- sliders, presets and one click ----------------------------------------------------------


def test_one_click_is_seed_001s_bowl_and_book_is_the_books_rates(catalog):
    (bowl,) = [s for s in catalog["setups"] if s["name"] == "bowl"]
    assert (bowl["function"], bowl["start"], bowl["steps"]) == ("bowl", [-7.0, 2.0], 30)
    rates = {r["optimizer"]: r["hyperparameters"]["lr"] for r in bowl["runs"]}
    assert rates == {"sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "adam": 0.3,
                     "rmsprop": 0.3, "nesterov": 0.3}  # fmt: skip
    assert {r["preset"] for r in bowl["runs"]} == {"book"}
    book = {name: catalog["optimizers"][name]["presets"]["book"]["lr"] for name in rates}
    assert book == {"sgd": 0.01, "momentum": 0.01, "adagrad": 0.01, "adam": 0.001,
                    "rmsprop": 0.01, "nesterov": 0.01}  # fmt: skip


def _slider(catalog, optimizer: str, name: str) -> dict:
    (spec,) = [h for h in catalog["optimizers"][optimizer]["hyperparameters"] if h["name"] == name]
    return spec


@pytest.mark.parametrize(
    ("optimizer", "name", "scale", "high"),
    [
        ("adam", "beta1", "linear", 0.999),
        ("adam", "beta2", "one_minus_log", 0.9999),  # default 0.999 ≥ 0.95
        ("adadelta", "rho", "one_minus_log", 0.9999),  # default 0.9, a preset's 0.95
        ("momentum", "dampening", "linear", 0.999),
        ("average", "decay", "one_minus_log", 0.9999),
        ("muon", "fallback_beta1", "linear", 0.999),
        ("rmsprop", "alpha", "one_minus_log", 0.9999),
    ],
)
def test_factor_sliders_are_on_the_scales_the_doc_names(catalog, optimizer, name, scale, high):
    spec = _slider(catalog, optimizer, name)
    assert (spec["scale"], spec["min"], spec["max"]) == (scale, 0.0, high)


def test_the_lr_slider_and_eps_scales(catalog):
    for optimizer in ("sgd", "adam", "lion"):
        low, high = catalog["optimizers"][optimizer]["lr_range"]
        spec = _slider(catalog, optimizer, "lr")
        assert spec["scale"] == "log"
        assert (spec["min"], spec["max"]) == pytest.approx((low / 100, high * 10))
    assert _slider(catalog, "adam", "eps")["scale"] == "log"
    # a default of 0 stays reachable: 0 at the left end, then logarithmic
    assert _slider(catalog, "ademamix", "eps_root")["scale"] == "log0"
    assert _slider(catalog, "ademamix", "eps_root")["default"] == 0.0
    shown = {h["name"] for h in catalog["optimizers"]["adam"]["hyperparameters"]}
    assert not shown & set(api.SHARED_OPTIONS)  # clipping, nonfinite, maximize, fused


def test_rates_are_multiples_of_the_initial_rate_and_python_only_schedules(catalog):
    schedules = catalog["schedules"]
    kinds = {(name, a["name"]): a["kind"] for name, s in schedules.items() for a in s["arguments"]}
    for key in [("polynomial", "end_lr"), ("cosine", "min_lr"), ("warmup", "start_lr"),
                ("swa", "swa_lr"), ("cyclic", "max_lr")]:  # fmt: skip
        assert kinds[key] == "fraction", key
    assert kinds[("piecewise", "values")] == "fractions"
    unavailable = sorted(name for name, s in schedules.items() if not s["available"])
    assert unavailable == ["chained", "join", "lambda", "multiplicative"]


# --- your own function -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "position"), [("2x", 1), ("x +", 4), ("x + 1/0", 5),
                                                ("sqrt(-1)", 1), ("", None)])  # fmt: skip
def test_which_mistakes_mark_a_character(client, text, position):
    payload = _refused(client.post("/api/surface", json={"expression": text}), 422, "expression")
    assert payload.get("position") == position


def test_a_sum_of_25_terms_is_one_level_but_nested_parentheses_are_too_deep():
    assert expressions.function("+".join(["x"] * 25)).f(1.0, 0.0) == 25.0
    with pytest.raises(expressions.ExpressionError, match="more than 24 levels"):
        expressions.parse("x+(" * 25 + "x" + ")" * 25)


# --- Ctrl-C ----------------------------------------------------------------------------------


def test_a_worker_process_ignores_ctrl_c_and_ends_with_the_server():
    # Ctrl-C in a terminal reaches every process of the command: each worker printed a
    # KeyboardInterrupt traceback under the server's one line, and died
    api.start_processes(1, warm=False)
    try:
        pool = api._PROCESSES
        end = time.monotonic() + 60
        while not pool.idle_pids():
            assert time.monotonic() < end, "the worker did not start"
            time.sleep(0.05)
        (worker,) = pool.workers
        os.kill(worker.process.pid, signal.SIGINT)
        time.sleep(0.5)
        assert worker.process.is_alive()
    finally:
        api.stop_processes(wait=True)
    assert not worker.process.is_alive()


# --- the page (only a browser shows these) --------------------------------------------------


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page() as page:
        yield page


def _open(page, state: dict, ready: str) -> None:
    open_state(page, state, ready, timeout=30.0)


def _wait(page, expression: str, timeout: float = 30.0):
    from play_serving import wait_for

    return wait_for(page, expression, timeout)


def test_a_refused_range_goes_once_it_is_mended_and_never_reaches_the_banner(page):
    # "shows next to the control it is about": the banner stayed up, still saying the
    # view was wrong, after the view was put right and redrawn; the refusal of a
    # built-in function's range is now said under the boxes, as for your own f
    _open(page, {"m": "2d", "2d": {"f": "bowl", "xl": [20, 10]}}, "true")
    said = "document.getElementById('range-error')"
    message = _wait(page, f"{said} && !{said}.hidden && {said}.textContent")
    assert message == "x from must be below x to; got from 20 to 10"
    assert page.evaluate("() => document.getElementById('banner').hidden")
    page.fill("input[aria-label='x from']", "-10")
    page.press("input[aria-label='x from']", "Enter")
    _wait(page, "window.gdlab.modes['2d'].view.surface?.function.xlim[0] === -10")
    _wait(page, "window.gdlab.modes['2d'].idle && window.gdlab.modes['2d'].view.answer")
    assert page.evaluate(f"() => {said}.hidden")
    assert page.evaluate("() => document.getElementById('banner').hidden")


def test_the_ewma_band_ends_at_the_day_under_the_mouse_in_the_first_90_days_too(page):
    # With "the first 90 days" on, the band stayed at day 60 wherever the mouse was.
    _open(
        page,
        {"m": "ewma", "ewma": {"beta": 0.9, "zoom": True}},
        "window.gdlab.modes.ewma?.view.plot",
    )
    band = """(day) => {
        const plot = window.gdlab.modes.ewma.view.plot;
        const box = plot.node.getBoundingClientRect();
        const scale = box.width / plot.node.viewBox.baseVal.width;
        const rect = plot.back.querySelector('rect[fill="#56B4E9"]');
        const right = Number(rect.getAttribute('x')) + Number(rect.getAttribute('width'));
        return {x: box.left + plot.sx(day) * scale, y: box.top + box.height / 2,
                right, at: plot.sx(day)};
    }"""
    before = page.evaluate(band, 60)  # no mouse yet: day 60
    assert before["right"] == pytest.approx(before["at"], abs=0.5)
    for day in (80, 25):
        where = page.evaluate(band, day)
        page.mouse.move(where["x"], where["y"])
        _wait(page, f"window.gdlab.modes.ewma.state.day === {day}", timeout=10)
        drawn = page.evaluate(band, day)
        assert drawn["right"] == pytest.approx(drawn["at"], abs=0.5), day


# --- what a learner noticed on the page -------------------------------------------------------

_TWO = "window.gdlab.modes['2d']"


def test_a_network_export_at_step_0_says_nothing_has_run_yet(client):
    # "the steps run so far": at step 0 the page wrote steps = 1, a step it never showed
    config = {"n_samples": 40, "hidden": [4], "runs": [{"optimizer": "sgd"}, {"optimizer": "adam"}]}
    refusal = _refused(
        client.post("/api/network/export", json={"config": config, "steps": 0}), 422, "steps"
    )
    said = re.search(r'says\s+"([^"]+)"\s+instead', DOC)
    assert said, "the doc quotes the refusal"
    assert refusal["error"].startswith(said.group(1)), refusal
    assert "got 0" in refusal["error"]
    written = client.post("/api/network/export", json={"config": config, "steps": 7}).json()
    assert re.search(r"^steps = 7$", written["toml"], re.MULTILINE)


def test_the_page_exports_the_steps_run_so_far_and_nothing_at_step_0(page):
    _open(page, {"m": "net"}, "window.gdlab.modes.net?.view.data")
    export = """() => window.gdlab.modes.net.exportToml()
        .then((answer) => answer.toml, (error) => `refused: ${error.message}`)"""
    assert page.evaluate(export).startswith("refused: nothing has run yet"), "at step 0"
    page.click("#net-step")
    step = _wait(page, "window.gdlab.modes.net.view.step")
    assert re.search(rf"^steps = {step}$", page.evaluate(export), re.MULTILINE)


def test_a_path_that_left_the_plot_and_then_diverged_says_both(page):
    # the legend said "left the plot at step 1" only; SGD at lr 5 also diverged by step 4
    runs = [
        {"optimizer": "sgd", "preset": "book", "hyperparameters": {"lr": 5.0}},
        {"optimizer": "adam", "hyperparameters": {"lr": 0.3}},
    ]
    state = {"m": "2d", "2d": {"f": "bowl", "s": [-7, 2], "n": 50, "r": runs}}
    _open(page, state, "true")
    _wait(page, f"{_TWO}.idle && {_TWO}.view.answer", timeout=90)  # kernels may compile first
    both = "left the plot at step 1, then diverged by step 4"
    assert page.inner_text("#legend-2d [data-run='0'] .status") == both
    assert page.query_selector("#legend-2d [data-run='1'] .status") is None  # Adam: fine
    assert both in page.evaluate(f"() => {_TWO}.figure()[0].textContent")  # the exported legend


def _range_marks(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.view-input')].map((box) =>
            box.getAttribute('aria-label') + (box.classList.contains('invalid')
                && box.getAttribute('aria-invalid') === 'true' ? ': marked' : ''))"""
    )


def test_a_refused_range_of_your_own_f_marks_its_boxes_and_says_why_under_them(page):
    # x from 5 to 1 was said under the expression box, which was marked instead
    _open(page, {"m": "2d", "2d": {"e": "x^2 + y^2", "xl": [5, 1]}}, "true")
    said = "document.getElementById('range-error')"
    message = _wait(page, f"{said} && !{said}.hidden && {said}.textContent", timeout=10)
    assert message == "x from must be below x to; got from 5 to 1"
    assert _range_marks(page) == ["x from: marked", "x to: marked", "y from", "y to"]
    assert page.evaluate("() => document.getElementById('expression-error').hidden")
    assert not page.evaluate("() => document.getElementById('expression').matches('.invalid')")
    below = page.evaluate(
        f"""() => {{
            const box = document.querySelector("[aria-label='y to']").getBoundingClientRect();
            return {said}.getBoundingClientRect().top - box.bottom;
        }}"""
    )
    assert 0 <= below < 20  # right under the range boxes
    page.fill("input[aria-label='y to']", "")
    page.press("input[aria-label='y to']", "Enter")
    _wait(page, f"{said}.textContent.includes('y to must be a number')", timeout=10)
    assert _range_marks(page) == ["x from: marked", "x to: marked", "y from", "y to: marked"]
    for label, value in (("x from", "-5"), ("y to", "5")):
        page.fill(f"input[aria-label='{label}']", value)
        page.press(f"input[aria-label='{label}']", "Enter")
    mended = f"{_TWO}.view.surface?.function.xlim[0] === -5 && {_TWO}.idle && {said}.hidden"
    _wait(page, mended, timeout=90)
    assert _range_marks(page) == ["x from", "x to", "y from", "y to"]


def test_the_one_click_label_keeps_its_formula_whole_when_it_wraps(page):
    # A desktop Chromium's scrollbar takes 15 px of the panel: the label wrapped as
    # "… on x²/20 +" / "y²". Headless Chromium hides scrollbars: padding stands in.
    _open(page, {"m": "2d"}, "document.querySelector('[data-setup=bowl]')")
    lines = page.evaluate(
        """() => {
            document.getElementById('controls-2d').style.paddingRight = '27px';
            const button = document.querySelector('[data-setup=bowl]');
            const text = button.firstChild;
            const range = document.createRange();
            const at = text.data.indexOf('x²/20');
            range.setStart(text, at);
            range.setEnd(text, text.data.length);
            const panel = button.closest('fieldset').getBoundingClientRect();
            const inside = button.getBoundingClientRect().right <= panel.right;
            return {formula: new Set([...range.getClientRects()].map((r) => r.top)).size,
                    label: text.data.replace(/\\u00a0/g, ' '), inside};
        }"""
    )
    label = "Seed 001: six optimizers on x²/20 + y²"
    assert lines == {"formula": 1, "label": label, "inside": True}
