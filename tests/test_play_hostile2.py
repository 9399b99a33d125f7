"""More hostile requests to gdlab play, and what the page's own controls may send.

A slider's end that the optimizer refuses, a preset for an optimizer that has
none, a learning rate a schedule cannot start from, a network-mode step that
would take minutes, and network runs that must be judged (diverged or not,
and where they are evaluated) exactly as ``gdlab race`` judges them.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from gdlab.experiments import Experiment
from gdlab.optim import OPTIMIZERS, create
from gdlab.play import api, create_app, limits
from gdlab.play.network import NetworkSession, check_config, network_toml
from gdlab.race import race

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BOWL = {"function": "bowl", "steps": 20}
NET = {"n_samples": 60, "grid": 8, "steps_per_frame": 3}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


def _refused(response, field, *words):
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["field"] == field, payload
    for word in words:
        assert word in payload["error"], payload


# --- the catalog's sliders -----------------------------------------------------------------


def _slider_ends():
    for name in OPTIMIZERS:
        spec = api.optimizer_specs(name)
        for h in spec.get("hyperparameters", []):
            if h["kind"] in ("real", "int"):
                for end in ("min", "max"):
                    yield name, h["name"], end, h[end]


def test_every_slider_end_is_a_value_the_optimizer_takes():
    # Rprop's etaminus slider ran to 500 (etaminus must be in (0, 1)), FTRL's
    # learning_rate_power to 5 (must be <= 0), Muon's fallback_beta1 to 900: a learner
    # dragging a slider to its end got a 422 instead of a path
    refused = []
    for name, key, end, value in _slider_ends():
        try:
            create(name, **{key: value})
        except (TypeError, ValueError, ArithmeticError) as error:
            refused.append(f"{name}.{key} {end} = {value!r}: {error}")
    assert not refused, "\n".join(refused)


def test_slider_ends_draw_paths(client):
    specs = api.optimizer_specs("rprop")
    top = {h["name"]: h["max"] for h in specs["hyperparameters"] if h["name"] == "etaminus"}
    answer = client.post(
        "/api/paths", json={**BOWL, "runs": [{"optimizer": "rprop", "hyperparameters": top}]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["runs"][0]["status"] == "ok"


# --- presets and schedules -------------------------------------------------------------------


def test_a_preset_for_an_optimizer_without_presets_names_the_preset(client):
    # once: "runs[0] (SAM): preset must be one of book, course, ...", on field runs[0],
    # listing presets SAM does not have
    body = {**BOWL, "runs": [{"optimizer": "sgd"}, {"optimizer": "sam", "preset": ""}]}
    _refused(client.post("/api/paths", json=body), "runs[1].preset", "SAM has no presets")
    body["runs"][1]["preset"] = "book"
    _refused(client.post("/api/export", json=body), "runs[1].preset", "no presets")


def test_a_network_preset_for_an_optimizer_without_presets_names_the_preset():
    config = {**NET, "runs": [{"optimizer": "sgd"}, {"optimizer": "lookahead", "preset": "book"}]}
    with pytest.raises(api.PlayError) as info:
        check_config(config)
    assert info.value.field == "config.runs[1].preset"
    assert "Lookahead has no presets" in info.value.message


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "cyclic", "piecewise", "warmup"])
def test_a_rate_a_schedule_cannot_start_from_names_the_runs_lr(client, schedule):
    # once: "schedule: lr0 must be > 0; got -1.0" on field "schedule" (or on
    # schedule.arguments.values): the page's schedule panel, not the run's lr slider
    runs = [
        {"optimizer": "sgd", "hyperparameters": {"lr": 0.1}},
        {"optimizer": "adam", "hyperparameters": {"lr": -0.5}},
    ]
    body = {**BOWL, "schedule": {"name": schedule}, "runs": runs}
    _refused(client.post("/api/paths", json=body), "runs[1].hyperparameters.lr", "-0.5")


def test_a_refused_schedule_argument_still_names_the_argument(client):
    body = {
        **BOWL,
        "schedule": {"name": "cosine", "arguments": {"decay_steps": 0}},
        "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}],
    }
    _refused(client.post("/api/paths", json=body), "schedule.arguments.decay_steps")


# --- network mode -------------------------------------------------------------------------


def _race(config, steps):
    return race(Experiment.from_toml(network_toml(config, steps)["toml"]), progress=False)


def test_a_network_run_diverges_as_the_race_says():
    # SGD with lr = 1e7 on 60 moons (or L-BFGS at its defaults): the race stops it (the
    # loss above 1e6 × the first); the page went on drawing it as "ok" with a loss of 7e6
    runs = [
        {"optimizer": "sgd", "hyperparameters": {"lr": 1e7}},
        {"optimizer": "sgd", "hyperparameters": {"lr": 0.1}},
    ]
    config = {**NET, "runs": runs}
    session = NetworkSession(config)
    session.advance(20)
    records = _race(config, 20)
    for run, record in zip(session.runs, records, strict=True):
        assert (run.status, run.reason) == (record["status"], record["reason"])
        assert run.step == (record["stopped_at"] or 20)
    assert session.runs[0].status == "diverged"
    frame = session.frame()
    assert frame["runs"][0]["status"] == "diverged"
    # a stopped run is evaluated once: later frames send that entry, not a new evaluation
    session.advance(5)
    evaluated = []
    evaluate = session.problem.evaluate
    session.problem.evaluate = lambda point: evaluated.append(point) or evaluate(point)
    later = session.frame()
    assert len(evaluated) == 1  # the SGD run still training, not the diverged one
    assert later["runs"][0] == frame["runs"][0]
    assert later["runs"][1]["step"] == 25


def test_network_frames_evaluate_where_the_race_evaluates():
    # Schedule-Free SGD trains y and is evaluated at x: the race reports x's loss, the
    # page showed y's
    config = {**NET, "runs": [{"optimizer": "schedule_free_sgd"}, {"optimizer": "average"}]}
    session = NetworkSession(config)
    session.advance(20)
    frame = session.frame()
    for entry, record in zip(frame["runs"], _race(config, 20), strict=True):
        last = record["epochs"][-1]
        assert entry["loss"] == last["train_loss"]
        assert entry["accuracy"] == last["train_accuracy"]


def test_a_network_step_that_would_take_minutes_stops_at_the_time_limit(monkeypatch):
    # L-BFGS with max_iter = 1000 and no tolerance: seconds a step, minutes a frame, in a
    # server thread that the request's 503 did not stop
    # A clock of its own, a millisecond a reading, so that the step's time does not
    # depend on the machine (on a fast one the real step took less than the limit).
    import types

    from gdlab.play import network

    readings = iter(range(10**9))
    clock = types.SimpleNamespace(monotonic=lambda: 1e-3 * next(readings))
    monkeypatch.setattr(network, "time", clock)
    monkeypatch.setattr(limits, "TIME_LIMIT", 0.2)
    slow = {"max_iter": 1000, "tolerance_grad": 0.0, "tolerance_change": 0.0}
    config = {
        "n_samples": 20,
        "hidden": [2],
        "grid": 8,
        "steps_per_frame": limits.MAX_STEPS_PER_FRAME,
        "runs": [{"optimizer": "lbfgs", "hyperparameters": slow}, {"optimizer": "sgd"}],
    }
    session = NetworkSession(config)
    thread = threading.Thread(target=session.advance, daemon=True)
    thread.start()
    thread.join(15)
    assert not thread.is_alive(), "advance went on past the time limit"
    lbfgs, sgd = session.runs
    assert lbfgs.status == "stopped"
    assert "took longer than 0.2 s" in lbfgs.reason
    assert sgd.status == "ok"
    frame = session.frame()
    assert [r["status"] for r in frame["runs"]] == ["stopped", "ok"]
    assert np.isfinite(frame["runs"][1]["loss"])


def test_a_computation_the_backstop_abandoned_still_has_the_session_to_itself(monkeypatch):
    # The backstop answers 503 and abandons the worker thread, which runs on; the
    # connection's lock was released with the answer, so the next step or reset
    # touched the same NetworkSession at the same time.
    import asyncio
    import threading
    import time

    from gdlab.play import api, app, limits

    monkeypatch.setattr(limits, "TIME_LIMIT", 0.0)
    monkeypatch.setattr(api, "GRACE", 0.0)  # the backstop fires after 2 s
    connection = app._NetworkConnection(websocket=None, work=app._Work())
    running = threading.Event()
    overlapped = []

    def slow():
        running.set()
        time.sleep(3.0)
        running.clear()

    def next_step():
        overlapped.append(running.is_set())

    async def both():
        with pytest.raises(api.PlayError, match="took longer than"):
            await connection.compute(slow)
        assert running.is_set()  # abandoned, still running
        await connection.compute(next_step)

    asyncio.run(both())
    assert overlapped == [False]
