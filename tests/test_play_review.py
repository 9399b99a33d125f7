"""``gdlab play``'s network mode as a review found it: training plays on through an
accepted setup change, stops on the server when too few cards are left to train, and a
refused card names its optimizer once; a card rebuilt says a refusal again.

The websocket test needs no browser; the others drive Debian's Chromium with
Playwright (skipped without it, but under ``CI=true``).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest

from play_serving import open_state as _open

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from gdlab.play import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WS = "ws://127.0.0.1/ws/network"
NET = "window.gdlab.modes.net"
SHOTS = Path("/tmp/play-review")


# --- the websocket ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


def _until(ws, kind: str) -> dict:
    """The next message of ``kind`` (frames, data and states before it passed over)."""
    while True:
        message = ws.receive_json()
        if message["type"] == kind:
            return message
        assert message["type"] in ("frame", "state", "data"), message


def test_an_accepted_setup_change_while_playing_plays_on(client):
    # every config paused training first: a slider moved while playing stopped the play
    runs = [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}, {"optimizer": "adam"}]
    config = {"n_samples": 40, "grid": 8, "runs": runs}
    with client.websocket_connect(WS) as ws:
        ws.send_json({"type": "config", "config": config})
        assert [ws.receive_json()["type"] for _ in range(3)] == ["data", "frame", "state"]
        ws.send_json({"type": "play"})
        assert _until(ws, "state")["playing"] is True
        assert _until(ws, "frame")["step"] > 0
        # a slider moved (lr 0.1 → 0.2), accepted: a fresh session, still playing
        moved = {**config, "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 0.2}}, runs[1]]}
        ws.send_json({"type": "config", "config": moved})
        data = _until(ws, "data")
        assert data["labels"] == ["SGD", "Adam"]
        state = _until(ws, "state")
        assert state["playing"] is True
        # and its frames keep coming, step after step
        steps = [_until(ws, "frame")["step"] for _ in range(3)]
        assert steps == sorted(steps)
        assert steps[-1] > 0
        ws.send_json({"type": "pause"})
        assert _until(ws, "state")["playing"] is False


# --- in the browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page(width=1360, height=1100) as shown:
        yield shown


def _wait(page, expression: str, timeout: float = 20.0):
    from play_serving import wait_for

    return wait_for(page, expression, timeout)


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _cards(page) -> list:
    return page.evaluate(
        """() => [...document.querySelectorAll('#controls-net .card .error')]
        .map((node) => (node.hidden ? null : node.textContent))"""
    )


#: what reaches the page's socket from now on: frames counted, states listed
LISTEN = f"""() => {{
    window.heard = {{frames: 0, states: []}};
    {NET}.view.socket.addEventListener('message', (event) => {{
        const message = JSON.parse(event.data);
        if (message.type === 'frame') window.heard.frames += 1;
        if (message.type === 'state') window.heard.states.push(message.playing);
    }});
}}"""

SGD = {"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}
MOMENTUM = {"optimizer": "momentum", "hyperparameters": {"lr": 0.05}}


def test_too_few_cards_left_to_train_stops_the_server_too(page):
    # removing a card left one valid card beside a refused one: the page showed "not
    # started" and dropped the frames, while the server trained and streamed on
    adam = {"optimizer": "adam", "hyperparameters": {"lr": 0.01, "beta2": 1.5}}
    _open(page, {"m": "net", "net": {"n_samples": 40, "r": [SGD, adam, MOMENTUM]}})
    ready = f"{NET}?.view.data && document.querySelectorAll('#boundaries figure').length === 3"
    _wait(page, f"{ready} && !document.getElementById('net-play').disabled")
    page.evaluate(LISTEN)
    page.click("#net-play")
    _wait(page, f"{NET}.view.playing && window.heard.frames > 3")
    page.click("#controls-net .card:nth-child(3) .remove")
    _wait(page, "document.getElementById('net-play').disabled")
    assert page.inner_text("#net-readout") == "not started: mend what is marked in red"
    _wait(page, "window.heard.states.at(-1) === false")  # the server says it stopped
    time.sleep(1.0)  # a frame sent before the pause has come by now
    heard = page.evaluate("() => window.heard")
    assert heard["states"][-1] is False  # and says nothing else
    time.sleep(1.0)
    assert page.evaluate("() => window.heard.frames") == heard["frames"]  # and sends no frame
    assert page.evaluate(f"() => {NET}.view.playing") is False


def test_a_refused_second_card_of_a_kind_names_its_optimizer_once(page):
    # "Adam 2: Adam: β₂ must be in [0, 1); got 1.7": the server named the run as it
    # numbered the runs sent (the first Adam left out), and the page put its own name before
    adam = {"optimizer": "adam", "hyperparameters": {"lr": 0.01, "beta2": 1.5}}
    adam2 = {"optimizer": "adam", "hyperparameters": {"lr": 0.01, "beta2": 1.7}}
    _open(page, {"m": "net", "net": {"n_samples": 40, "r": [adam, adam2, SGD]}})
    errors = "[...document.querySelectorAll('#controls-net .card .error')]"
    _wait(page, f"{errors}.filter((note) => !note.hidden).length === 2")
    _wait(page, "document.getElementById('net-play').disabled")
    cards = _cards(page)
    _shot(page, "adam2-too-few")
    assert cards == [
        "Adam: β₂ must be in [0, 1); got 1.5",
        "Adam 2: β₂ must be in [0, 1); got 1.7",
        None,
    ]
    # a fourth card: SGD and Momentum train, both Adams still say why, each once
    page.click("#controls-net button:has-text('Add optimizer')")
    ready = f"{NET}?.view.data && document.querySelectorAll('#boundaries figure').length === 4"
    _wait(page, f"{ready} && !document.getElementById('net-play').disabled")
    page.click("#net-step")
    _wait(page, f"{NET}.view.step > 0 && document.querySelector('#net-loss path[data-run]')")
    cards = _cards(page)
    _shot(page, "adam2-refused")
    assert cards[:3] == [
        "Adam: β₂ must be in [0, 1); got 1.5",
        "Adam 2: β₂ must be in [0, 1); got 1.7",
        None,
    ]
    assert cards[1].count("Adam") == 1


def test_a_rebuilt_card_says_the_same_refusal_again(page):
    # the memo of what a card said outlived its boxes: after a rebuild (optimizer or
    # preset changed) the same refusal coming back left the new β₂ box unmarked
    _open(page, {"m": "net", "net": {"n_samples": 40, "r": [SGD, MOMENTUM]}})
    marked = page.evaluate(
        """async () => {
        const c = await import('/static/js/controls.js');
        const catalog = window.gdlab.catalog;
        const run = c.runFrom(catalog, {optimizer: 'adam', hyperparameters: {beta2: 1.5}});
        const card = c.optimizerCard({catalog, run, color: '#000',
            onChange: () => {}, onRemove: () => {}});
        document.body.append(card.node);
        const refusal = {index: 0, message: 'Adam: beta2 must be in [0, 1); got 1.5',
            field: 'config.runs[0].hyperparameters.beta2', label: 'Adam'};
        const box = () => card.node.querySelector('input[type=number][data-name=beta2]');
        const out = [];
        c.sayRefusals([card], [refusal]);
        out.push(box().getAttribute('aria-invalid'));
        const pick = card.node.querySelector('.pick-optimizer');
        pick.value = 'adam';
        pick.dispatchEvent(new Event('change'));  // rebuilt: new boxes
        c.sayRefusals([card], [refusal]);
        out.push(box().getAttribute('aria-invalid'));
        out.push(card.node.querySelector('.error').textContent);
        card.node.remove();
        return out;
    }"""
    )
    assert marked == ["true", "true", "Adam: β₂ must be in [0, 1); got 1.5"]


def test_the_page_plays_on_through_a_slider_change_and_its_charts_start_over(page):
    # the page side of an accepted setup while playing: still playing, and the curves
    # are the new setup's from its step 0 (a frame of the old one, come while the new
    # setup awaited its answer, is not drawn into them)
    _open(page, {"m": "net", "net": {"n_samples": 40, "r": [SGD, MOMENTUM]}})
    _wait(page, f"{NET}?.view.data && !document.getElementById('net-play').disabled")
    page.click("#net-play")
    _wait(page, f"{NET}.view.playing && {NET}.view.step > 200")
    box = "#controls-net .card:nth-child(1) input[type=number][data-name=lr]"
    page.fill(box, "0.2")
    page.press(box, "Enter")
    _wait(page, f"{NET}.view.shown?.payloads[0].hyperparameters.lr === 0.2")
    _wait(page, f"{NET}.view.history[0]?.steps.length > 3")
    first = page.evaluate(f"() => {NET}.view.history.map((h) => h.steps[0])")
    assert all(step < 100 for step in first), first
    assert page.evaluate(f"() => {NET}.view.playing") is True
    assert page.inner_text("#net-play") == "❚❚ Pause"
    page.click("#net-play")
    _wait(page, f"!{NET}.view.playing")
