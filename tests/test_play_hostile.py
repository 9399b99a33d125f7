"""Hostile requests to gdlab play: each must be a 4xx naming the field, fast.

Non-standard or absurd JSON (``NaN``, ``1e400``, a 400-digit integer, thousands
of nested brackets), an integer hyperparameter that sizes memory, an
expression whose constant part SymPy would evaluate for hours, and the
network socket's "sessions full" message in the protocol the page reads.
"""

from __future__ import annotations

import json
import signal
import time
import warnings

import pytest

from play_serving import chromium as launch_chromium
from play_serving import serve

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from gdlab import expressions
from gdlab.play import create_app, limits

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WS = "ws://127.0.0.1/ws/network"
RUN = '"runs": [{"optimizer": "sgd"}]'


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


def _raw(client, path, text):
    return client.post(path, content=text, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("text", "status", "words", "field"),
    [
        ('{"function": "bowl", "steps": NaN, ' + RUN + "}", 422, ["an integer"], "steps"),
        ('{"function": "bowl", "steps": Infinity, ' + RUN + "}", 422, ["an integer"], "steps"),
        ('{"function": "bowl", "steps": 1e400, ' + RUN + "}", 422, ["an integer"], "steps"),
        (
            '{"function": "bowl", "start": [1' + "0" * 400 + ", 0], " + RUN + "}",
            422,
            ["start[0] must be in"],
            "start[0]",
        ),
        ("[" * 5000 + "]" * 5000, 400, ["nested too deeply"], None),
        ('{"a": ' * 3000 + "1" + "}" * 3000, 400, ["nested too deeply"], None),
    ],
)
def test_absurd_json_is_a_4xx_not_a_500(client, text, status, words, field):
    response = _raw(client, "/api/paths", text)
    assert response.status_code == status, response.text
    payload = response.json()
    for word in words:
        assert word in payload["error"], payload
    assert payload.get("field") == field


def test_a_huge_integer_in_a_schedule_is_refused(client):
    body = '{"schedule": {"name": "constant"}, "epochs": 1e999}'
    response = _raw(client, "/api/schedule", body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "epochs"


def test_an_integer_hyperparameter_cannot_size_memory(client):
    # history_size = 1e9 once made L-BFGS allocate a billion slots (a 503 after 12 s,
    # the thread still allocating); now it is refused before anything runs
    started = time.monotonic()
    body = {
        "function": "bowl",
        "steps": 5,
        "runs": [{"optimizer": "lbfgs", "hyperparameters": {"history_size": 10**9}}],
    }
    response = client.post("/api/paths", json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["field"] == "runs[0].hyperparameters.history_size"
    assert f"{limits.MAX_INT_HYPERPARAMETER}]" in payload["error"]
    assert time.monotonic() - started < 2
    ok = {**body, "runs": [{"optimizer": "lbfgs", "hyperparameters": {"history_size": 50}}]}
    assert client.post("/api/paths", json=ok).status_code == 200


def test_the_network_socket_refuses_infinity_and_deep_nesting(client):
    with client.websocket_connect(WS) as ws:
        ws.send_text("[" * 3000 + "]" * 3000)
        assert "nested too deeply" in ws.receive_json()["error"]
        ws.send_text('{"type": "config", "config": {"n_samples": 1e400}}')
        message = ws.receive_json()
        assert message["type"] == "error"
        assert message["field"] == "config.runs" or message["field"] == "config.n_samples"


def test_sessions_full_speaks_the_error_protocol(client, monkeypatch):
    # the page shows message.error; a "message" key showed "undefined"
    monkeypatch.setattr(limits, "MAX_SESSIONS", 0)
    with client.websocket_connect(WS) as ws:
        message = ws.receive_json()
    assert message["type"] == "error"
    assert "network sessions are open" in message["error"]


@pytest.mark.parametrize(
    "text",
    [
        "x + sin(exp(10**6))",  # SymPy: a million digits of e (hours)
        "x + abs(sin(exp(10**6)))",  # the same, inside parse (Abs asks for the sign)
        "x**sin(exp(10**6))",
        "exp(exp(exp(exp(10))))",  # was an OverflowError (a 500)
        "x*exp(-exp(exp(exp(10))))",
        "x + sinh(exp(exp(exp(10))))",
        "x*exp(700)",  # 1e304: beyond the documented 1e300
    ],
)
def test_huge_constant_parts_are_refused_at_once(text):
    # without the refusal SymPy computes for hours: the alarm turns that into a failure
    def too_slow(*_):
        raise TimeoutError(f"{text!r} took over 10 s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.setitimer(signal.ITIMER_REAL, 10.0)
    try:
        with pytest.raises(expressions.ExpressionError, match="too large"):
            expressions.function(text)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_huge_constant_parts_through_the_api(client):
    response = client.post("/api/surface", json={"expression": "x + log(sin(exp(10**6)))"})
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["field"] == "expression"
    assert payload["position"] == 13  # at exp(10**6), the part that overflows


@pytest.mark.parametrize(
    ("text", "value"),
    [("x*exp(690)", 1.0), ("x + sin(1e300)", 1.0), ("x*cos(pi/3)*2", 1.0)],
)
def test_large_but_allowed_constants_still_work(text, value):
    fn = expressions.function(text)
    gx, _ = fn.grad(1.0, 2.0)
    assert float(gx) > 0
    assert float(fn.grad(0.0, 0.0)[0]) == pytest.approx(float(gx))


# --- the page: axis labels stay clear of the tick labels, and inside the figure ---------------

#: In the page: each chart's rotated y label against its tick labels, and every text
#: against its figure's edges (a list of what is wrong, empty when all is well).
_LAYOUT = """() => {
  const out = [];
  const hit = (a, b) => !(a.right <= b.left || b.right <= a.left
                          || a.bottom <= b.top || b.bottom <= a.top);
  for (const svg of document.querySelectorAll(".chart svg")) {
    const r = svg.getBoundingClientRect();
    if (!r.width) continue;
    const texts = [...svg.querySelectorAll("text")];
    const label = texts.filter((t) => (t.getAttribute("transform") || "").includes("rotate"));
    const ticks = texts.filter((t) => t.getAttribute("text-anchor") === "end");
    for (const l of label) for (const t of ticks) {
      if (hit(l.getBoundingClientRect(), t.getBoundingClientRect())) {
        out.push(`${svg.parentElement.id}: "${l.textContent}" overlaps "${t.textContent}"`);
      }
    }
    for (const t of texts) {
      const b = t.getBoundingClientRect();
      if (b.width && (b.left < r.left - 1 || b.right > r.right + 1)) {
        out.push(`${svg.parentElement.id}: "${t.textContent}" is cut off`);
      }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def served():
    with serve() as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with launch_chromium() as browser:
        yield browser


def _poll(page, expression: str, timeout: float = 60.0):
    # evaluate, not wait_for_function: the page's CSP forbids the eval that one uses
    from playwright.sync_api import Error

    end = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(f"() => ({expression})"):
                return
        except Error as error:  # the page is reloading: ask the new one
            if "context was destroyed" not in str(error):
                raise
        if time.monotonic() > end:
            shown = page.evaluate("() => document.body.innerText.slice(0, 1500)")
            raise AssertionError(f"timed out waiting for {expression}; the page shows: {shown}")
        time.sleep(0.05)


_2D_READY = (
    "window.gdlab && window.gdlab.ready && window.gdlab.modes['2d'] && "
    "window.gdlab.modes['2d'].idle && window.gdlab.modes['2d'].view.answer !== null"
)


def test_chart_labels_do_not_overlap_or_get_cut_off(served, chromium):
    # the y label sat on the tick labels ("f(x, y) (log scale)" on "0.001", "accuracy" on
    # "100%"), and a 5,000-step loss chart cut its last tick label "5000" in half
    context = chromium.new_context(viewport={"width": 1360, "height": 980})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(served + "/")
        _poll(page, _2D_READY)
        problems = {"2d": page.evaluate(_LAYOUT)}
        page.click("#tab-net")
        _poll(page, "document.querySelector('#net-accuracy svg') !== null")
        problems["net"] = page.evaluate(_LAYOUT)
        for mode, chart in (("schedules", "#schedule-chart"), ("ewma", "#ewma-weights")):
            page.click(f"#tab-{mode}")
            _poll(page, f"document.querySelector('{chart} svg') !== null")
            problems[mode] = page.evaluate(_LAYOUT)
        state = {"m": "2d", "2d": {"f": "bowl", "n": 5000, "r": [{"optimizer": "sgd"}]}}
        page.goto("about:blank")  # a fresh load of the link (not a change of hash)
        page.goto(served + "/#" + json.dumps(state))
        _poll(page, _2D_READY + " && window.gdlab.modes['2d'].state.steps === 5000")
        problems["2d, 5000 steps"] = page.evaluate(_LAYOUT)
    finally:
        context.close()
    assert not errors
    assert all(not found for found in problems.values()), problems


def _paste_link(served, chromium, paste: str) -> None:
    """Open the page, run ``paste`` (JavaScript given the link's hash text), and check
    that the page reloaded into the pasted state: its mode, then its 2-D steps."""
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        page.goto(served + "/")
        _poll(page, _2D_READY)
        state = {"m": "schedules", "2d": {"f": "bowl", "n": 40, "r": [{"optimizer": "adam"}]}}
        page.evaluate(paste, json.dumps(state))
        _poll(
            page,
            "document.querySelector('#tab-schedules')?.getAttribute('aria-selected') === 'true'",
        )
        page.click("#tab-2d")
        _poll(page, _2D_READY + " && window.gdlab.modes['2d'].state.steps === 40")
    finally:
        context.close()


def test_a_link_pasted_into_an_open_page_is_opened(served, chromium):
    # only the hash changes: the page used to keep its own state (and could write it
    # over the pasted link a moment later)
    _paste_link(served, chromium, "(text) => { location.hash = text; }")


def test_a_pasted_link_wins_over_the_pages_own_write(served, chromium):
    # the page writes its state to the URL (replaceState) 200 ms after a change; when that
    # write ran between the paste and the paste's hashchange, the reload opened the page's
    # own state and the link was lost (seen once in CI). Here the write lands just there.
    _paste_link(
        served,
        chromium,
        """(text) => {
            const own = location.href;
            location.hash = text;  // the paste: its hashchange is queued
            history.replaceState(null, "", own);  // the page's own write, before it
        }""",
    )


# --- an optimizer's or a schedule's own refusal names its field -----------------------------


def _refused(build, candidates=(-1, -1e6, 1e6, 0, 2)):
    """The first of ``candidates`` that ``build(value)`` (the library's own check) refuses."""
    for value in candidates:
        try:
            build(value)
        except (TypeError, ValueError):
            return value
    return None


def _numeric_hyperparameters():
    from gdlab.optim import create
    from gdlab.play import api

    out = []
    for name, spec in api._all_specs().items():
        if not spec["available"]:
            continue
        for s in spec["hyperparameters"]:
            if s["kind"] in ("real", "int"):
                key = s["name"]
                value = _refused(lambda v, name=name, key=key: create(name, **{key: v}))
                if value is not None:  # muon's ns_a, ns_b, ns_c take any number
                    out.append((name, key, value))
    return out


def test_every_optimizer_refusal_names_the_hyperparameter(client):
    # lr = -1 came back with field "runs": the page could not mark the slider
    cases = _numeric_hyperparameters()
    assert len(cases) > 150  # every optimizer's numeric hyperparameters
    wrong = []
    for name, key, value in cases:
        body = {
            "function": "bowl",
            "steps": 3,
            "runs": [{"optimizer": "sgd"}, {"optimizer": name, "hyperparameters": {key: value}}],
        }
        response = client.post("/api/paths", json=body)
        field = response.json().get("field")
        if response.status_code != 422 or field != f"runs[1].hyperparameters.{key}":
            wrong.append((name, key, value, response.status_code, field))
        elif key not in response.json()["error"]:
            wrong.append((name, key, value, "message", response.json()["error"]))
    assert not wrong, wrong


def test_a_network_refusal_names_the_hyperparameter(client):
    config = {
        "runs": [{"optimizer": "sgd"}, {"optimizer": "adam", "hyperparameters": {"beta2": 2}}]
    }
    with client.websocket_connect(WS) as ws:
        ws.send_text(json.dumps({"type": "config", "config": config}))
        message = ws.receive_json()
    assert message["type"] == "error"
    assert message["field"] == "config.runs[1].hyperparameters.beta2"
    assert "beta2 must be in [0, 1)" in message["error"]


def _schedule_cases():
    from gdlab.play import api

    out = []
    for name, spec in api.schedule_specs().items():
        for a in spec["arguments"] if spec["available"] else []:
            if a["kind"] not in ("real", "int", "fraction"):
                continue

            def build(v, name=name, key=a["name"]):
                try:
                    api._schedule_config("schedule", {"name": name, "arguments": {key: v}}, 0.1)
                except api.PlayError as error:
                    if error.field == "schedule" or error.field.endswith(f".{key}"):
                        raise ValueError(error.message) from None

            value = _refused(build)
            if value is not None:
                out.append((name, a["name"], value))
    return out


def test_every_schedule_refusal_names_the_argument(client):
    cases = _schedule_cases()
    assert len(cases) > 30
    wrong = []
    for name, key, value in cases:
        schedule = {"name": name, "arguments": {key: value}}
        for path, body in (
            ("/api/schedule", {"schedule": schedule}),
            (
                "/api/paths",
                {"function": "bowl", "schedule": schedule, "runs": [{"optimizer": "sgd"}]},
            ),
        ):
            response = client.post(path, json=body)
            field = response.json().get("field")
            if response.status_code != 422 or field != f"schedule.arguments.{key}":
                wrong.append((path, name, key, value, response.status_code, field))
    assert not wrong, wrong
