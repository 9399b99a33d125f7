"""gdlab play's server without a browser: every endpoint's answers and its validation.

Each endpoint gets good requests (checked against gdlab itself: a path is the
race's path, bit for bit) and bad ones (malformed JSON, unknown names and keys,
out-of-range values, too many steps, runs or points, oversized bodies, long or
hostile expressions), which must come back as 4xx with a message and a field,
never as a crash. The websocket of network mode is validated the same way, and
the server's port handling (busy ports, the one-line CLI error) is checked.
"""

from __future__ import annotations

import base64
import json
import socket
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from gdlab.experiments import Experiment
from gdlab.functions2d import FUNCTIONS
from gdlab.optim import OPTIMIZERS, create
from gdlab.play import api, create_app, limits
from gdlab.play.network import NetworkSession, network_toml
from gdlab.race import race
from gdlab.schedules import SCHEDULES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BOWL = {"function": "bowl", "start": [-7, 2], "steps": 30}
WS = "ws://127.0.0.1/ws/network"


@pytest.fixture(scope="module")
def client():
    # compiled kernels and loaded data first: the time limit is for computations
    api.warm_up(names=("sgd", "momentum", "adam"))
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        yield c


def _paths(client, **body):
    return client.post("/api/paths", json={**BOWL, **body})


def _error(response, status, *words, field=None):
    assert response.status_code == status, response.text
    payload = response.json()
    for word in words:
        assert word in payload["error"], payload
    if field is not None:
        assert payload.get("field") == field, payload
    return payload


# --- the page and the catalog ------------------------------------------------------------


def test_page_and_assets_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'src="/static/js/main.js"' in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text
    for asset in ("js/main.js", "js/mode2d.js", "style.css", "icon.svg"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/api/health").json()["ok"] is True


def test_catalog_reads_the_registries(client):
    catalog = client.get("/api/catalog").json()
    assert set(catalog["optimizers"]) == set(OPTIMIZERS)  # whatever is registered now
    assert [f["name"] for f in catalog["functions"]] == list(FUNCTIONS)
    assert set(catalog["schedules"]) == set(SCHEDULES)
    adam = catalog["optimizers"]["adam"]
    lr = next(h for h in adam["hyperparameters"] if h["name"] == "lr")
    low, high = OPTIMIZERS["adam"].lr_range
    assert lr["scale"] == "log"
    assert lr["min"] <= low
    assert lr["max"] >= high
    assert {h["name"] for h in adam["hyperparameters"]} >= {"beta1", "beta2", "eps"}
    assert adam["presets"]["book"]["form"] == create("adam", preset="book").form
    bowl = next(s for s in catalog["setups"] if s["name"] == "bowl")
    assert {r["optimizer"]: r["hyperparameters"]["lr"] for r in bowl["runs"]}["sgd"] == 0.95
    assert catalog["limits"]["max_steps"] == limits.MAX_STEPS


# --- contours --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_surface_of_every_function(client, name):
    answer = client.post("/api/surface", json={"function": name, "resolution": 60}).json()
    levels = answer["levels"]
    assert len(levels) == 24
    assert levels == sorted(levels)
    assert answer["lines"]
    assert all(len(line) >= 5 for line in answer["lines"])
    assert answer["function"]["xlim"] == list(FUNCTIONS[name].xlim)


def test_surface_of_an_expression_gives_its_gradient(client):
    answer = client.post("/api/surface", json={"expression": "x^2 + 3*y^2", "xlim": [-2, 2]}).json()
    assert answer["function"]["gradient"] == ["2*x", "6*y"]
    assert answer["function"]["xlim"] == [-2, 2]


SURFACE_ERRORS = [
    ({"function": "nope"}, 422, ["function must be one of", "bowl"], "function"),
    ({"function": "bowl", "expression": "x"}, 422, ["exactly one"], "function"),
    ({}, 422, ["exactly one"], "function"),
    ({"function": "bowl", "resolution": 10_000}, 422, ["resolution", "[10, 300]"], "resolution"),
    ({"function": "bowl", "levels": 1}, 422, ["levels"], "levels"),
    ({"function": "bowl", "xlim": [3, 1]}, 422, ["xlim"], "xlim"),
    ({"function": "bowl", "xlim": [0, "a"]}, 422, ["a number"], "xlim[1]"),
    ({"function": "bowl", "zoom": 2}, 422, ["unknown key 'zoom'"], "request.zoom"),
    ({"expression": "x + __import__('os')"}, 422, ["unknown function"], "expression"),
    ({"expression": "x" * 500}, 422, ["too long"], "expression"),
    ({"expression": "x.__class__"}, 422, ["attribute access"], "expression"),
    ({"expression": 7}, 422, ["text"], "expression"),
    ({"expression": "log(-1 - x^2 - y^2)"}, 422, ["not defined"], None),
]


@pytest.mark.parametrize(("body", "status", "words", "field"), SURFACE_ERRORS)
def test_surface_validation(client, body, status, words, field):
    _error(client.post("/api/surface", json=body), status, *words, field=field)


def test_expression_errors_carry_the_position(client):
    payload = _error(client.post("/api/surface", json={"expression": "x^2 + y^2 + foo(x)"}), 422)
    assert payload["position"] == 13


# --- paths -----------------------------------------------------------------------------------


def _unpack(text, columns=1):
    return api.unpack(text, columns)


def test_paths_are_the_race_paths_bit_for_bit(client):
    body = {
        **BOWL,
        "runs": [
            {"optimizer": "sgd", "preset": "book", "hyperparameters": {"lr": 0.95}},
            {"optimizer": "adam", "preset": "book", "hyperparameters": {"lr": 0.3, "beta1": 0.8}},
            {"optimizer": "momentum", "hyperparameters": {"lr": 0.05}},
        ],
        "schedule": {"name": "exponential", "arguments": {"rate": 0.9, "per": "step"}},
    }
    answer = client.post("/api/paths", json=body).json()
    toml = client.post("/api/export", json=body).json()["toml"]
    records = race(Experiment.from_toml(toml), progress=False)
    for run, record in zip(answer["runs"], records, strict=True):
        assert run["label"] == record["label"]
        np.testing.assert_array_equal(_unpack(run["path"], 2), np.asarray(record["path"]))
        np.testing.assert_array_equal(_unpack(run["lr"]), np.asarray(record["lr"]))
    first = answer["runs"][0]
    assert first["points"] == 31
    path = _unpack(first["path"], 2)
    np.testing.assert_allclose(_unpack(first["loss"]), path[:, 0] ** 2 / 20 + path[:, 1] ** 2)
    grad = _unpack(first["grad"], 2)
    np.testing.assert_allclose(grad, np.column_stack([path[:, 0] / 10, 2 * path[:, 1]]))


def test_paths_of_a_typed_expression_match_its_toml_race(client):
    body = {
        "expression": "(1 - x)^2 + 5*(y - x^2)^2",
        "xlim": [-2, 2],
        "ylim": [-1, 3],
        "start": [-1.5, 2.0],
        "steps": 60,
        "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 0.05}}],
    }
    answer = client.post("/api/paths", json=body).json()
    toml = client.post("/api/export", json=body).json()["toml"]
    assert 'kind = "expression"' in toml
    (record,) = race(Experiment.from_toml(toml), progress=False)
    np.testing.assert_array_equal(_unpack(answer["runs"][0]["path"], 2), np.asarray(record["path"]))


def test_runs_the_page_holds_are_not_sent_again(client):
    runs = [
        {"optimizer": "sgd", "hyperparameters": {"lr": 0.1}},
        {"optimizer": "adam", "hyperparameters": {"lr": 0.1}},
    ]
    first = _paths(client, runs=runs).json()["runs"]
    runs[1]["hyperparameters"]["lr"] = 0.2
    second = _paths(client, runs=runs, have=[first[0]["key"], first[1]["key"]]).json()["runs"]
    assert second[0] == {
        "key": first[0]["key"],
        "label": "SGD",
        "optimizer": "sgd",
        "preset": None,
        "same": True,
    }
    assert "path" in second[1]
    assert second[1]["key"] != first[1]["key"]


def test_a_diverging_path_says_where_it_left_the_plot(client):
    answer = _paths(client, steps=200, runs=[{"optimizer": "sgd", "hyperparameters": {"lr": 1.5}}])
    (run,) = answer.json()["runs"]
    assert run["status"] == "diverged"
    assert 0 < run["left_at"] < run["points"] <= 201
    path = _unpack(run["path"], 2)
    assert np.isfinite(path).all()
    assert abs(path[run["left_at"], 1]) > 5 >= abs(path[run["left_at"] - 1, 1])


def test_an_optimizer_that_raises_is_shown_as_failed(client):
    from gdlab.optim import register, unregister

    @register("play_broken", lr_range=(1e-3, 1.0))
    def play_broken(p, g, state, t, *, lr=0.1):
        raise ValueError("broken on purpose")

    try:
        runs = [{"optimizer": "play_broken"}, {"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}]
        broken, fine = _paths(client, runs=runs).json()["runs"]
        assert broken["status"] == "failed"
        assert "broken on purpose" in broken["reason"]
        assert fine["status"] == "ok"
        assert fine["points"] == 31
    finally:
        unregister("play_broken")


def _run(**hp):
    return {"optimizer": "adam", "hyperparameters": hp}


PATH_ERRORS = [
    # body changes, status, words in the message, field
    ({"runs": []}, ["runs must be a list of 1 to 8"], "runs"),
    ({"runs": [_run(lr=0.1)] * 9}, ["1 to 8"], "runs"),
    ({"runs": "adam"}, ["runs must be a list"], "runs"),
    (
        {"runs": [{"optimizer": "adamm"}]},
        ["runs[0].optimizer must be one of", "adam"],
        "runs[0].optimizer",
    ),
    ({"runs": [{"optimizer": "adam", "preset": "nope"}]}, ["preset"], "runs[0].preset"),
    ({"runs": [{"optimizer": "adam", "lr": 0.1}]}, ["unknown key 'lr'"], "runs[0].lr"),
    (
        {"runs": [_run(momentum=0.9)]},
        ["unknown key 'momentum'", "beta1"],
        "runs[0].hyperparameters.momentum",
    ),
    ({"runs": [_run(lr="fast")]}, ["must be a number"], "runs[0].hyperparameters.lr"),
    ({"runs": [_run(beta1=1.5)]}, ["beta1 must be in [0, 1)"], "runs[0].hyperparameters.beta1"),
    ({"runs": [_run(lr=-1)]}, ["lr"], "runs[0].hyperparameters.lr"),
    ({"runs": [_run(amsgrad="yes")]}, ["true or false"], "runs[0].hyperparameters.amsgrad"),
    ({"runs": [_run(form="fast")]}, ["form must be one of"], "runs[0].hyperparameters.form"),
    ({"steps": 0, "runs": [_run()]}, ["steps must be an integer in [1, 5000]"], "steps"),
    ({"steps": limits.MAX_STEPS + 1, "runs": [_run()]}, ["[1, 5000]"], "steps"),
    ({"steps": 2.5, "runs": [_run()]}, ["integer"], "steps"),
    ({"start": [1], "runs": [_run()]}, ["pair"], "start"),
    ({"start": [1e9, 0], "runs": [_run()]}, ["start[0]"], "start[0]"),
    ({"start": [None, 0], "runs": [_run()]}, ["a number"], "start[0]"),
    ({"function": "nope", "runs": [_run()]}, ["function must be one of"], "function"),
    ({"have": "all", "runs": [_run()]}, ["have"], "have"),
    ({"speed": 1, "runs": [_run()]}, ["unknown key 'speed'"], "request.speed"),
    (
        {"schedule": {"name": "nope"}, "runs": [_run()]},
        ["schedule.name must be one of"],
        "schedule.name",
    ),
    (
        {"schedule": {"name": "exponential", "arguments": {"rate": 2.0}}, "runs": [_run()]},
        ["rate"],
        "schedule.arguments.rate",
    ),
    (
        {"schedule": {"name": "exponential", "arguments": {"gamma": 2.0}}, "runs": [_run()]},
        ["unknown key 'gamma'"],
        "schedule.arguments.gamma",
    ),
]


@pytest.mark.parametrize(("change", "words", "field"), PATH_ERRORS)
def test_paths_validation(client, change, words, field):
    _error(client.post("/api/paths", json={**BOWL, **change}), 422, *words, field=field)


def _raw(client, body):
    """``body`` posted as it is, as the page posts: JSON's content type (else a 415)."""
    return client.post("/api/paths", content=body, headers={"content-type": "application/json"})


def test_paths_refuse_what_is_not_a_json_object(client):
    _error(_raw(client, b"{not json"), 400, "malformed JSON")
    _error(_raw(client, b"\xff\xfe"), 400, "malformed JSON")
    _error(client.post("/api/paths", json=[1, 2]), 422, "request must be an object")
    _error(_raw(client, b""), 422, "request must be an object")


def test_infinite_numbers_are_refused(client):
    text = '{"function": "bowl", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 1e999}}]}'
    _error(_raw(client, text), 422, "finite", field="runs[0].hyperparameters.lr")
    _error(_raw(client, text.replace("1e999", "NaN")), 422, "finite")


def test_oversized_bodies_are_refused_unread(client):
    big = json.dumps({**BOWL, "runs": [_run()], "pad": "x" * (limits.MAX_BODY_BYTES + 10)})
    _error(_raw(client, big), 413, "bytes")


def test_export_validates_like_paths(client):
    _error(client.post("/api/export", json={**BOWL, "runs": [_run(beta1=2.0)]}), 422, "beta1")
    toml = client.post("/api/export", json={**BOWL, "runs": [_run(lr=0.3)]}).json()["toml"]
    assert toml.startswith("# Made by gdlab play")
    assert "gdlab race --config" in toml


# --- schedules and averages --------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_schedule_draws_with_its_defaults_or_says_why_not(client, name):
    spec = api.schedule_specs()[name]
    answer = client.post(
        "/api/schedule",
        json={"schedule": {"name": name}, "lr0": 0.1, "steps_per_epoch": 5, "epochs": 20},
    )
    if not spec["available"]:  # it needs a Python function or other schedules
        _error(answer, 422, "cannot be set up here", spec["reason"])
        return
    assert answer.status_code == 200, answer.text
    a = answer.json()
    assert len(a["steps"]) == len(a["lr"]) == 100
    assert a["config"]["name"] == name
    assert a["repr"]


def test_most_schedules_are_on_the_page():
    specs = api.schedule_specs()
    assert sum(s["available"] for s in specs.values()) >= len(specs) - 5
    for name in ("constant", "exponential", "inverse_time", "step", "cosine", "warmup", "plateau"):
        assert specs[name]["available"], name


def test_schedule_curves_are_the_schedules_values(client):
    a = client.post(
        "/api/schedule",
        json={
            "schedule": {"name": "inverse_time", "arguments": {"decay_rate": 1.0, "first": 1}},
            "lr0": 0.2,
            "steps_per_epoch": 1,
            "epochs": 4,
        },
    ).json()
    assert a["lr"] == pytest.approx([0.1, 0.2 / 3, 0.05, 0.04])  # seed 004's example
    assert "lr0 / (1 + decay_rate" in a["formula"]


SCHEDULE_ERRORS = [
    (
        {"schedule": {"name": "cosine"}, "steps_per_epoch": 1000, "epochs": 1000},
        ["at most 100,000"],
    ),
    ({"schedule": {"name": "cosine"}, "lr0": 0}, ["lr0"]),
    ({"schedule": {"name": "step", "arguments": {"every": 0}}}, ["every"]),
    ({"schedule": {"name": "piecewise", "arguments": {"values": []}}}, ["list of 1 to 50"]),
    ({"schedule": "cosine"}, ["must be an object"]),
    ({}, ["schedule is required"]),
]


@pytest.mark.parametrize(("body", "words"), SCHEDULE_ERRORS)
def test_schedule_validation(client, body, words):
    _error(client.post("/api/schedule", json=body), 422, *words)


def test_ewma_of_the_temperatures(client):
    temps = client.get("/api/temperatures").json()
    assert len(temps["values"]) == len(temps["dates"]) == 1461
    a = client.post("/api/ewma", json={"beta": 0.98, "bias_correction": False}).json()
    assert a["window"] == pytest.approx(50)
    assert a["values"][0] == pytest.approx(0.02 * temps["values"][0], abs=1e-6)
    b = client.post("/api/ewma", json={"beta": 0.98, "bias_correction": True}).json()
    assert b["values"][0] == pytest.approx(temps["values"][0], abs=1e-6)
    _error(client.post("/api/ewma", json={"beta": 1.0}), 422, "beta must be in")
    _error(
        client.post("/api/ewma", json={"beta": 0.9, "bias_correction": "no"}), 422, "true or false"
    )


# --- the server stays up ----------------------------------------------------------------


def test_unknown_paths_methods_and_hosts(client):
    _error(client.get("/api/nothing"), 404, "no such page")
    _error(client.get("/api/paths"), 405, "GET is not allowed")
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "[::1]"])
def test_local_hosts_with_ports_and_ipv6_are_served(client, host):
    # A page opened at http://[::1]:PORT/ sends "Host: [::1]:PORT".
    assert client.get("/", headers={"host": host}).status_code == 200


def test_a_computation_past_the_time_limit_is_stopped(monkeypatch):
    monkeypatch.setattr(limits, "TIME_LIMIT", 0.05)
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        runs = [
            {"optimizer": "adam", "hyperparameters": {"lr": 0.001 + i * 1e-6}} for i in range(8)
        ]
        slow = c.post("/api/paths", json={**BOWL, "steps": 5000, "runs": runs})
        _error(slow, 503, "longer than")
        assert c.post("/api/surface", json={"function": "bowl"}).status_code == 200


def test_an_unexpected_error_is_a_500_not_a_crash(monkeypatch):
    def broken(body):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(api, "surface", broken)
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        _error(c.post("/api/surface", json={"function": "bowl"}), 500, "internal error", "kaboom")
        assert c.get("/api/health").status_code == 200


# --- network mode ------------------------------------------------------------------------

NET = {
    "data": "moons",
    "n_samples": 60,
    "hidden": [4],
    "batch_size": 10,
    "steps_per_frame": 3,
    "grid": 16,
    "runs": [
        {"optimizer": "sgd", "hyperparameters": {"lr": 0.2}},
        {"optimizer": "adam", "hyperparameters": {"lr": 0.02}},
    ],
}


def _receive(ws, kind):
    while True:
        message = ws.receive_json()
        if message["type"] == kind:
            return message
        assert message["type"] in ("frame", "state", "data"), message


def test_network_socket_trains_and_validates(client):
    with client.websocket_connect(WS) as ws:
        ws.send_text("{bad json")
        assert "malformed JSON" in _receive(ws, "error")["error"]
        ws.send_json({"type": "step"})
        assert "config first" in _receive(ws, "error")["error"]
        ws.send_json({"type": "dance"})
        assert "type must be one of" in _receive(ws, "error")["error"]
        ws.send_json({"type": "config", "config": {**NET, "runs": NET["runs"][:1]}})
        assert _receive(ws, "error")["field"] == "config.runs"
        ws.send_json({"type": "config", "config": {**NET, "n_samples": limits.MAX_POINTS + 1}})
        assert _receive(ws, "error")["field"] == "config.n_samples"
        ws.send_json({"type": "config", "config": {**NET, "hidden": [4] * 9}})
        assert _receive(ws, "error")["field"] == "config.hidden"
        ws.send_json({"type": "config", "config": NET})
        data = _receive(ws, "data")
        assert len(data["X"]) == 60
        assert data["labels"] == ["SGD", "Adam"]
        first = _receive(ws, "frame")
        assert first["step"] == 0
        ws.send_json({"type": "step"})
        frame = _receive(ws, "frame")
        assert frame["step"] == 3
        grid = base64.b64decode(frame["runs"][0]["boundary"])
        assert len(grid) == 16 * 16
        assert frame["runs"][0]["boundary"] != first["runs"][0]["boundary"]
        ws.send_json({"type": "play"})
        steps = [_receive(ws, "frame")["step"] for _ in range(3)]
        assert steps == sorted(steps)
        assert steps[-1] > 3
        ws.send_json({"type": "pause"})
        ws.send_json({"type": "reset"})
        assert _receive(ws, "data")["labels"] == ["SGD", "Adam"]


def test_network_socket_refuses_other_origins(client):
    with pytest.raises(WebSocketDisconnect) as info:  # noqa: PT012
        connection = client.websocket_connect(WS, headers={"origin": "http://evil.example"})
        connection.__enter__()
    assert info.value.code == 1008


@pytest.mark.parametrize("data", ["moons", "circles", "spirals", "xor"])
def test_network_mode_trains_as_the_race_does(data):
    config = {**NET, "data": data, "noise": 0.15, "seed": 3}
    session = NetworkSession(config)
    session.advance(20)
    toml = network_toml(config, 20)["toml"]
    assert f'data = "{data}"' in toml
    records = race(Experiment.from_toml(toml), progress=False)
    for run, record in zip(session.runs, records, strict=True):
        for key, value in run.params.items():
            np.testing.assert_array_equal(value, np.asarray(record["final_params"][key]))


def test_same_optimizers_see_the_same_batches():
    same = {**NET, "runs": [NET["runs"][0], NET["runs"][0]]}
    session = NetworkSession(same)
    session.advance(7)
    frame = session.frame()
    assert frame["runs"][0]["boundary"] == frame["runs"][1]["boundary"]


def test_network_export_names_the_page_data_set(client):
    config = {**NET, "data": "xor", "noise": 0.1, "seed": 9}
    ok = client.post("/api/network/export", json={"config": config, "steps": 5}).json()
    assert 'data = "xor"' in ok["toml"]
    assert "split_seed = 9" in ok["toml"]
    _error(
        client.post("/api/network/export", json={"config": {**NET, "data": "iris"}, "steps": 5}),
        422,
        "iris",
    )


# --- ports and the command line ---------------------------------------------------------


@pytest.fixture
def busy_port():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    yield holder.getsockname()[1]
    holder.close()


def test_a_busy_port_is_named(busy_port):
    from gdlab.play.server import PortBusyError, bind

    with pytest.raises(PortBusyError, match=f"port {busy_port} on 127.0.0.1 is busy"):
        bind("127.0.0.1", busy_port)


def test_without_a_port_the_next_free_one_is_taken(busy_port, monkeypatch):
    from gdlab.play import server

    monkeypatch.setattr(server, "DEFAULT_PORT", busy_port)
    sock, port, note = server.bind("127.0.0.1", None)
    sock.close()
    assert port != busy_port
    assert note == f"port {busy_port} is busy; using port {port}"


def test_cli_play_on_a_busy_port_is_one_line_and_exit_2(busy_port, capsys):
    from gdlab.cli import main

    assert main(["play", "--port", str(busy_port), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"port {busy_port}" in err
