"""``gdlab play``, round 6: refusals on the control that can mend them, in the words
and numbers the learner typed, and a server no other web site can drive.

A refused cyclic ``max_lr`` was blamed on every optimizer's lr (which can never
mend it: max_lr is a multiple of lr); ``min_lr = 3`` came back as ``got
0.6000000000000001``; ``lr = -1`` as ``got -1.0``; a cross-site ``text/plain``
POST computed paths; websocket messages with unknown keys stepped anyway. In the
page, a typed ``1e`` sat beside the stale refusal of the value before it, the
schedules caption spoke of epoch lines it did not draw, a network link with a
set the menu does not list promised red marks it did not make, and a start
outside f's domain "diverged at step 1" over an invented loss axis. The browser
checks use Debian's Chromium, driven by Playwright (skipped without it, but under
``CI=true``).
"""

from __future__ import annotations

import json
import warnings

import pytest

from play_serving import open_state as _open
from play_serving import shot

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from gdlab.play import api, create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BASE = "http://127.0.0.1:8765"
WS = "ws://127.0.0.1:8765/ws/network"
SGD = {"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}
NET = {"n_samples": 40, "grid": 8, "runs": [SGD, {"optimizer": "adam"}]}


@pytest.fixture(scope="module")
def client():
    api.warm_up(names=("sgd", "adam"))
    with TestClient(create_app(), base_url=BASE) as c:
        yield c


def _refusal(response, status: int = 422) -> dict:
    assert response.status_code == status, response.text
    return response.json()


# --- 1 and 2: a schedule's argument set as a multiple of lr -----------------------------


def test_a_refused_cyclic_max_lr_is_on_the_schedule_not_on_every_lr(client):
    body = {
        "function": "bowl",
        "schedule": {"name": "cyclic", "arguments": {"max_lr": 0.5}},
        "runs": [SGD, {"optimizer": "adam", "hyperparameters": {"lr": 0.3}}],
    }
    refused = _refusal(client.post("/api/paths", json=body))
    assert refused == {
        "error": "schedule: max_lr (×lr) must be >= 1; got 0.5",
        "field": "schedule.arguments.max_lr",
    }
    curve = {"schedule": body["schedule"], "lr0": 0.2}
    assert _refusal(client.post("/api/schedule", json=curve)) == refused
    # its starting rate, base_lr, is still the run's lr: a negative lr is blamed there
    body["runs"] = [{"optimizer": "sgd", "hyperparameters": {"lr": -1}}]
    body["schedule"]["arguments"] = {}
    refused = _refusal(client.post("/api/paths", json=body))
    assert refused["field"] == "runs[0].hyperparameters.lr"
    assert refused["error"] == (
        "runs[0].hyperparameters.lr = -1 cannot start the schedule cyclic: "
        "base_lr must be >= 0; got -1"
    )


RELATIVE = [
    ("cosine", {"min_lr": 3}, "min_lr (×lr) must be <= 1; got 3", "min_lr"),
    ("plateau", {"min_lr": 1.5}, "min_lr (×lr) must be <= 1; got 1.5", "min_lr"),
    ("cyclic", {"max_lr": 0.25}, "max_lr (×lr) must be >= 1; got 0.25", "max_lr"),
    ("swa", {"swa_lr": 0}, "swa_lr (×lr) must be > 0; got 0", "swa_lr"),
    ("piecewise", {"values": [1, 0, 0.5]}, "values[1] (×lr) must be > 0; got 0", "values"),
    (
        "piecewise",
        {"values": [1, 0.5]},
        "values (×lr) must be a list of 3 learning rates (one more than boundaries); got [1, 0.5]",
        "values",
    ),
]


@pytest.mark.parametrize(("name", "arguments", "message", "field"), RELATIVE)
def test_a_multiple_of_lr_is_refused_as_the_request_wrote_it(
    client, name, arguments, message, field
):
    # "min_lr must be <= lr0 = 0.2; got 0.6000000000000001" under a box holding 3
    curve = {"schedule": {"name": name, "arguments": arguments}, "lr0": 0.2}
    refused = _refusal(client.post("/api/schedule", json=curve))
    assert refused == {"error": f"schedule: {message}", "field": f"schedule.arguments.{field}"}
    paths = {"function": "bowl", "schedule": curve["schedule"], "runs": [SGD]}
    assert _refusal(client.post("/api/paths", json=paths)) == refused


# --- 6: numbers echoed as JSON wrote them ------------------------------------------------

ECHOED = [
    ({"runs": [{"optimizer": "sgd", "hyperparameters": {"lr": -1}}]}, "got -1"),
    ({"runs": [{"optimizer": "adam", "hyperparameters": {"beta1": 2}}]}, "got 2"),
    ({"runs": [{"optimizer": "adam", "hyperparameters": {"beta1": 1.5}}]}, "got 1.5"),
    (
        {"schedule": {"name": "step", "arguments": {"every": 5, "factor": 2}}, "runs": [SGD]},
        "factor must be in (0, 1); got 2",
    ),
    (
        {
            "schedule": {"name": "cosine", "arguments": {}},
            "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": -2}}],
        },
        "lr0 must be > 0; got -2",
    ),
]


@pytest.mark.parametrize(("change", "words"), ECHOED)
def test_numbers_in_messages_are_as_the_request_wrote_them(client, change, words):
    refused = _refusal(client.post("/api/paths", json={"function": "bowl", **change}))
    assert refused["error"].endswith(words), refused


def test_integers_run_as_their_floats_do(client):
    # an integer kept as written runs exactly as the same float
    body = {"function": "bowl", "steps": 20, "runs": [{"optimizer": "sgd", "hyperparameters": {}}]}
    as_int = {**body, "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 1}}]}
    as_float = {**body, "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 1.0}}]}
    paths = [client.post("/api/paths", json=b).json()["runs"][0] for b in (as_int, as_float)]
    assert paths[0]["path"] == paths[1]["path"]
    assert paths[0]["loss"] == paths[1]["loss"]


# --- 3: another web site -----------------------------------------------------------------

ROUTES = [
    ("GET", "/"),
    ("GET", "/api/health"),
    ("GET", "/api/catalog"),
    ("GET", "/static/js/main.js"),
    ("POST", "/api/paths"),
    ("POST", "/api/surface"),
    ("POST", "/api/schedule"),
    ("POST", "/api/export"),
    ("POST", "/api/network/export"),
    ("POST", "/api/ewma"),
]
PATHS = json.dumps({"function": "bowl", "runs": [SGD]})


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:9999", "null"])
def test_a_page_of_another_origin_is_refused_on_every_route(client, method, path, origin):
    headers = {"origin": origin, "content-type": "application/json"}
    response = client.request(method, path, content=PATHS, headers=headers)
    refused = _refusal(response, 403)
    assert refused == {
        "error": f"this server answers its own page only (origin {BASE}); "
        f"got Origin {json.dumps(origin)}",
        "field": "Origin",
    }


@pytest.mark.parametrize(
    ("kind", "got"),
    [
        ("text/plain", '"text/plain"'),
        ("application/x-www-form-urlencoded", '"application/x-www-form-urlencoded"'),
        ("multipart/form-data; boundary=x", '"multipart/form-data; boundary=x"'),
        (None, "none"),
    ],
)
def test_a_post_that_is_not_json_is_refused_before_it_runs(client, kind, got):
    # a cross-site "simple" request (no preflight) can send these types, never JSON's
    headers = {"origin": BASE} | ({"content-type": kind} if kind else {})
    refused = _refusal(client.post("/api/paths", content=PATHS, headers=headers), 415)
    assert refused == {
        "error": f"a POST must send JSON with Content-Type: application/json; got {got}",
        "field": "Content-Type",
    }


def test_the_pages_own_requests_are_answered(client):
    # a browser names the page's own origin on its POSTs (same-origin fetches too)
    own = {"origin": BASE, "content-type": "application/json; charset=utf-8"}
    assert client.post("/api/paths", content=PATHS, headers=own).status_code == 200
    assert client.get("/api/catalog", headers={"origin": BASE}).status_code == 200
    with client.websocket_connect(WS, headers={"origin": BASE}) as ws:
        ws.send_json({"type": "pause"})
        assert ws.receive_json() == {"type": "state", "playing": False}


def test_a_websocket_from_another_origin_never_opens(client):
    with pytest.raises(WebSocketDisconnect) as closed:  # noqa: PT012
        connection = client.websocket_connect(WS, headers={"origin": "http://evil.example:8765"})
        connection.__enter__()
    assert closed.value.code == 1008


def test_another_origin_is_refused_by_the_server_itself():
    # the real server, as curl reached it: a text/plain POST from evil.example computed
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    from play_serving import serve

    with serve() as base:
        request = Request(
            f"{base}/api/paths",
            PATHS.encode(),
            {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        )
        with pytest.raises(HTTPError) as refused:
            urlopen(request, timeout=10)
        assert refused.value.code == 403
        assert json.loads(refused.value.read())["field"] == "Origin"


# --- 7: websocket messages checked whole --------------------------------------------------


def test_websocket_messages_are_checked_whole(client):
    with client.websocket_connect(WS) as ws:
        # before a config: play, step and reset all say so; pause answers its state
        for kind in ("play", "step", "reset"):
            ws.send_json({"type": kind})
            assert ws.receive_json() == {
                "type": "error",
                "error": "send a config first",
                "field": "type",
            }
        ws.send_json({"type": "pause"})
        assert ws.receive_json() == {"type": "state", "playing": False}
        # unknown keys are refused before anything is done, config or not
        ws.send_json({"type": "play", "extra": True})
        assert ws.receive_json() == {
            "type": "error",
            "error": "a play message has unknown key 'extra'; allowed: type",
            "field": "extra",
        }
        ws.send_json({"type": "config", "config": NET})
        assert [ws.receive_json()["type"] for _ in range(3)] == ["data", "frame", "state"]
        ws.send_json({"type": "step", "steps": -3, "bogus": 1})
        assert ws.receive_json() == {
            "type": "error",
            "error": "a step message has unknown key 'steps'; allowed: type",
            "field": "steps",
        }
        ws.send_json({"type": "config", "config": NET, "speed": 2})
        assert ws.receive_json()["field"] == "speed"
        ws.send_json({"type": "config"})
        assert ws.receive_json() == {
            "type": "error",
            "error": "a config message needs its config",
            "field": "config",
        }
        ws.send_json([1, 2])
        assert ws.receive_json() == {
            "type": "error",
            "error": "a message must be a JSON object; got [1, 2]",
        }
        # nothing was stepped by the refused messages: the next step is the first
        ws.send_json({"type": "step"})
        frame = ws.receive_json()
        assert frame["type"] == "frame"
        assert frame["step"] == 5  # steps_per_frame 5, from step 0


# --- in the browser ----------------------------------------------------------------------

TWO = "window.gdlab.modes['2d']"
NETWORK = "window.gdlab.modes.net"


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page(width=1360, height=1100) as shown:
        yield shown


def _wait(page, expression: str):
    from play_serving import wait_for

    return wait_for(page, expression, 20.0)


def _shot(page, name: str) -> None:
    shot(page, f"round6-{name}")


def _typed(page, selector: str, text: str) -> None:
    # key by key, as a learner types (fill refuses text that is no number)
    page.fill(selector, "")
    page.type(selector, text)
    page.press(selector, "Enter")


#: every message shown in a mode's controls, and the labels of the boxes marked
SAID = """(root) => {
    const box = document.getElementById(root);
    const shown = [...box.querySelectorAll('.error, .slider-error, .list-error, .start-note')]
        .filter((node) => !node.hidden && node.offsetParent !== null && node.textContent);
    return {said: shown.map((node) => node.textContent),
            marked: [...box.querySelectorAll('[aria-invalid=true]')]
                .map((node) => node.getAttribute('aria-label'))};
}"""


def _said(page, root: str = "controls-2d") -> dict:
    return page.evaluate(SAID, root)


def test_a_typed_1e_is_said_alone_under_its_box(page):
    # "lr must be a number; what is typed is not one" sat above "Adam: lr must be > 0; got 0.0"
    adam = {"optimizer": "adam", "hyperparameters": {"lr": 0.3}}
    _open(page, {"m": "2d", "2d": {"e": "x^2+y^2", "n": 20, "r": [adam, SGD]}})
    _wait(page, f"{TWO}.idle && {TWO}.view.answer")
    lr = ".card:nth-child(1) input[type=number][data-name=lr]"
    _typed(page, lr, "0")
    _wait(page, f"{TWO}.idle && {TWO}.view.notRun.length === 1")
    refused = _said(page)
    assert refused["said"] == ["Adam: lr must be > 0; got 0"]  # (it said "got 0.0")
    assert refused["marked"] == ["lr value"]
    _typed(page, lr, "1e")
    assert _said(page) == {
        "said": ["lr must be a number; what is typed is not one"],
        "marked": ["lr value"],
    }
    _shot(page, "typed-1e")
    # an answer (another card moved) while the box holds "1e": still said alone
    _typed(page, ".card:nth-child(2) input[type=number][data-name=lr]", "0.2")
    _wait(page, f"{TWO}.idle && {TWO}.view.runs[0]?.hyperparameters.lr === 0.2")
    assert _said(page)["said"] == ["lr must be a number; what is typed is not one"]
    # mended to the refused value: the refusal of it is said again; to a good one: nothing
    _typed(page, lr, "0")
    _wait(page, f"{TWO}.idle")
    assert _said(page) == refused
    _typed(page, lr, "0.05")
    _wait(page, f"{TWO}.idle && {TWO}.view.notRun.length === 0")
    assert _said(page) == {"said": [], "marked": []}


def test_a_refused_cyclic_max_lr_is_marked_under_the_schedule(page):
    schedule = {"name": "cyclic", "arguments": {"max_lr": 0.5}}
    adam = {"optimizer": "adam", "hyperparameters": {"lr": 0.3}}
    _open(page, {"m": "2d", "2d": {"f": "bowl", "n": 20, "sc": schedule, "r": [adam, SGD]}})
    _wait(page, f"{TWO}.idle && {TWO}.view.error")
    assert _said(page) == {
        "said": ["cyclic: max lr (×lr) must be >= 1; got 0.5"],
        "marked": ["max lr ×lr value"],
    }
    _shot(page, "cyclic-max-lr")
    # a typed "1e" in that box is said alone there, as on a card
    _typed(page, "input[type=number][data-name=max_lr]", "1e")
    _wait(page, f"{TWO}.idle")  # the "1" typed on the way may have asked the server
    assert _said(page) == {
        "said": ["max lr ×lr must be a number; what is typed is not one"],
        "marked": ["max lr ×lr value"],
    }
    _typed(page, "input[type=number][data-name=max_lr]", "4")
    _wait(page, f"{TWO}.idle && {TWO}.view.answer && {TWO}.view.runs.length === 2")
    assert _said(page) == {"said": [], "marked": []}


def test_a_start_outside_fs_domain_is_said_under_the_start(page):
    # "diverged at step 1: loss nan is not finite", over a loss axis from 0 to 1
    state = {"e": "sqrt(x) + y^2", "s": [-4, 3], "n": 30, "r": [SGD]}
    _open(page, {"m": "2d", "2d": state})
    _wait(page, f"{TWO}.idle && {TWO}.view.answer && {TWO}.view.runs.length === 1")
    assert _said(page)["said"] == [
        "f is not finite here (outside its domain, or too large for floating point), so no "
        "path is drawn; click the plot where f is defined, or change f"
    ]
    legend = page.inner_text("#legend-2d")
    assert "not run: f is not finite at the start" in legend
    assert "diverged" not in legend
    assert page.evaluate("() => document.querySelectorAll('#loss2d svg').length") == 0
    assert page.inner_text("#loss2d") == (
        "No loss to draw: f is not finite at the start (see under start in the controls)."
    )
    assert "no path from (−4, 3): f is not finite there (f = NaN)" in page.inner_text("#caption-2d")
    _shot(page, "start-outside-domain")
    # a start where f is defined draws its path and loss as usual
    page.evaluate(f"() => {{ {TWO}.state.start = [4, 3]; }}")
    _typed(page, "input[type=number][data-name=steps]", "20")
    _wait(page, f"{TWO}.idle && {TWO}.view.answer && {TWO}.view.runs[0]?.loss.length === 21")
    assert _said(page)["said"] == []
    assert page.evaluate("() => document.querySelectorAll('#loss2d path[data-run]').length") == 1


LINES = """() => [...document.querySelectorAll('#schedule-chart line')]
    .filter((line) => line.getAttribute('stroke') === '#e2e7ee').length"""


@pytest.mark.parametrize(("epochs", "lines", "words"), [
    (30, 29, "30 epochs of 10 steps; grey lines mark where each epoch begins"),
    (100, 0, "100 epochs of 10 steps; more than 60 epochs, so no lines mark them"),
    (1, 0, "(1 epoch of 10 steps)"),
])  # fmt: skip
def test_the_schedules_caption_says_what_the_chart_draws(page, epochs, lines, words):
    schedule = {"name": "step", "arguments": {"every": 5}}
    state = {"schedule": schedule, "lr0": 0.1, "steps_per_epoch": 10, "epochs": epochs}
    _open(page, {"m": "schedules", "schedules": state})
    _wait(page, f"window.gdlab.modes.schedules.view.answer?.epochs === {epochs}")
    assert page.evaluate(LINES) == lines
    assert words in page.inner_text("#caption-schedules")
    assert ("grey lines mark" in page.inner_text("#caption-schedules")) == (lines > 0)


def test_a_network_link_with_values_it_cannot_show(page):
    # "mend what is marked in red" with nothing marked, and a blank set menu
    link = {"data": "nope", "n_samples": -5, "layers": 99, "r": [{"optimizer": "sgd"}]}
    _open(page, {"m": "net", "net": link})
    _wait(page, "document.getElementById('net-play').disabled")
    assert page.input_value("#net-data") == "moons"
    assert page.inner_text("#net-readout") == "not started: mend what is marked in red"
    assert _said(page, "controls-net") == {
        "said": ["layers must be a whole number from 0 to 4; got 99"],
        "marked": ["layers value"],
    }
    _shot(page, "net-link")
    page.evaluate("() => window.gdlab.exportAs('toml')")
    toast = "document.getElementById('toast')"
    assert _wait(page, f"!{toast}.hidden && {toast}.textContent") == (
        "layers must be a whole number from 0 to 4; got 99: mend it to export"
    )
    # mended: the server's next refusal is marked under its own box
    _typed(page, "#controls-net input[type=number][data-name=layers]", "2")
    _wait(page, "document.querySelector('[aria-label=\"points value\"]').ariaInvalid")
    assert _said(page, "controls-net") == {
        "said": ["points must be an integer in [20, 2000]; got -5"],
        "marked": ["points value"],
    }
    assert page.inner_text("#net-readout") == "not started: mend what is marked in red"
    _typed(page, "#controls-net input[type=number][data-name=n_samples]", "60")
    _wait(page, f"!document.getElementById('net-play').disabled && {NETWORK}.view.data")
    assert _said(page, "controls-net") == {"said": [], "marked": []}
    assert page.evaluate(f"() => {NETWORK}.view.data.X.length") == 60
    # a refusal no control shows is said in the banner, and the readout points there
    page.evaluate(f"() => {{ {NETWORK}.state.data = 'nope'; }}")
    _typed(page, "#controls-net input[type=number][data-name=noise]", "0.3")
    _wait(page, "document.getElementById('net-play').disabled")
    assert page.inner_text("#net-readout") == "not started: mend what the message above says"
    assert page.inner_text("#banner") == (
        'config.data must be one of moons, circles, spirals, xor; got "nope"'
    )
    assert _said(page, "controls-net") == {"said": [], "marked": []}
