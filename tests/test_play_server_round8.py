"""gdlab play, round 8: network mode's batches and frames, slider ranges, echoed values
and the catalog after the registry changes."""

from __future__ import annotations

import json
import types
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from gdlab.optim import register, unregister
from gdlab.play import api, app, create_app, limits, network
from gdlab.play.network import NetworkSession, check_config, network_toml

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NET = {"n_samples": 40, "grid": 8, "hidden": [4], "steps_per_frame": 5}
TWO = [{"optimizer": "sgd"}, {"optimizer": "adam"}]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


def _refusal(config) -> dict:
    with pytest.raises(api.PlayError) as info:
        NetworkSession(config)
    return info.value.payload()


def _weights(session: NetworkSession) -> list[dict[str, np.ndarray]]:
    return [{k: v.copy() for k, v in run.params.items()} for run in session.runs]


def _same(a: list[dict[str, np.ndarray]], b: list[dict[str, np.ndarray]]) -> bool:
    return all(np.array_equal(x[k], y[k]) for x, y in zip(a, b, strict=True) for k in x)


# --- 1. a batch at least as large as the data is the full batch -------------------------


def test_a_batch_larger_than_the_data_is_the_full_batch():
    # 20 points and the menu's batch of 32: refused ("must be an integer in [1, 20]; got
    # 32"), so nothing trained, although a batch >= the data was taken as full batch
    config = {**NET, "runs": TWO, "n_samples": 20}
    big = NetworkSession({**config, "batch_size": 32})
    full = NetworkSession({**config, "batch_size": None})
    assert big.config["batch_size"] == 32
    assert all(run.stream is None for run in big.runs)
    big.advance(3)
    full.advance(3)
    assert _same(_weights(big), _weights(full))
    assert "batch_size" not in network_toml({**config, "batch_size": 32}, 3)["toml"]
    refused = _refusal({**config, "batch_size": 0})
    assert refused["field"] == "config.batch_size"
    assert refused["error"].endswith("got 0")


# --- 2. a frame ends early at its deadline, no run is stopped for it ----------------------


class _Clock:
    """A stand-in for network's ``time``: still, but where a test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def _clocked(monkeypatch, session: NetworkSession, moved) -> _Clock:
    """A clock that ``moved(run index, each run's steps begun so far)`` (seconds, or
    None) moves on as a run's step begins (evaluates the loss at the run's weights;
    its closure evaluates at a copy)."""
    clock = _Clock()
    monkeypatch.setattr(network, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    counts = [0] * len(session.runs)
    evaluate = session.problem.loss_and_grads

    def timed(params, batch=None):
        for i, run in enumerate(session.runs):
            if run.params is params:
                counts[i] += 1
                clock.now += moved(i, counts) or 0.0
        return evaluate(params, batch)

    monkeypatch.setattr(session.problem, "loss_and_grads", timed)
    return clock


def test_a_frame_past_its_deadline_ends_early_with_every_run_going(monkeypatch):
    # Two L-BFGS runs, the frame's 10 s spent during the second one's step of the second
    # round (9 s each step): that run was stopped for good, "step 2 took longer than
    # 10 s", although no step took 10 s, and the others ran on without it
    config = {
        **NET,
        "runs": [{"optimizer": "adam"}, {"optimizer": "lbfgs"}, {"optimizer": "lbfgs"}],
    }
    reference = NetworkSession(config)
    reference.advance(6)
    session = NetworkSession(config)
    nine = limits.TIME_LIMIT * 0.9
    clock = _clocked(monkeypatch, session, lambda i, counts: nine if counts[0] == 2 else None)
    assert session.advance() == 2  # the round under way ends the frame
    assert session.step == 2
    assert [(run.step, run.status, run.reason) for run in session.runs] == [(2, "ok", "")] * 3
    clock.now = 0.0
    monkeypatch.setattr(session.problem, "loss_and_grads", reference.problem.loss_and_grads)
    assert session.advance(4) == 4
    assert [run.step for run in session.runs] == [6] * 3
    assert _same(_weights(session), _weights(reference))  # the same numbers, frames aside
    assert session.frame()["runs"] == reference.frame()["runs"]


def test_a_round_that_would_not_fit_is_left_to_the_next_frame(monkeypatch):
    session = NetworkSession({**NET, "runs": TWO})
    # each round takes 4 s: a third would end past the 10 s
    _clocked(monkeypatch, session, lambda i, counts: 4.0 if i == 0 else None)
    assert session.advance() == 2
    assert [(run.step, run.status) for run in session.runs] == [(2, "ok")] * 2


def test_only_a_step_that_alone_outlasts_the_limit_stops_its_run(monkeypatch):
    config = {**NET, "runs": [{"optimizer": "lbfgs"}, {"optimizer": "sgd"}]}
    session = NetworkSession(config)
    eleven = limits.TIME_LIMIT * 1.1  # during L-BFGS's second step
    _clocked(monkeypatch, session, lambda i, counts: eleven if (i, counts[0]) == (0, 2) else None)
    assert session.advance() == 2  # the round under way ends the frame
    lbfgs, sgd = session.runs
    assert (lbfgs.status, lbfgs.step) == ("stopped", 1)
    assert lbfgs.reason.startswith(f"step 2 alone took longer than {limits.TIME_LIMIT:g} s")
    assert (sgd.status, sgd.step) == ("ok", 2)


# --- 3. sliders follow the optimizer's own checks ---------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "name", "scale", "low", "high"),
    [
        ("ftrl", "beta", "log0", 1e-6, 10.0),  # β >= 0, the paper's 1
        ("asgd", "alpha", "linear", 0.0, 2.0),  # α >= 0, default 0.75
        ("adam", "beta1", "linear", 0.0, 0.999),  # in [0, 1): a factor still
        ("momentum", "dampening", "linear", 0.0, 0.999),
    ],
)
def test_a_factor_name_gets_a_factor_slider_only_if_its_check_says_so(
    optimizer, name, scale, low, high
):
    (spec,) = [h for h in api.catalog()["optimizers"][optimizer]["hyperparameters"]
               if h["name"] == name]  # fmt: skip
    assert (spec["scale"], spec["min"], spec["max"]) == (scale, low, high)
    config = {**NET, "runs": [{"optimizer": optimizer, "hyperparameters": {name: high}}] * 2}
    NetworkSession(config)  # the slider's end is taken


# --- 4. messages echo what was sent -----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "got"),
    [
        ({"runs": [{"optimizer": "sgd"}]}, "config.runs", 'got 1: [{"optimizer": "sgd"}]'),
        ({"runs": "adam"}, "config.runs", 'got "adam"'),
        ({"runs": TWO, "hidden": "8,8"}, "config.hidden", 'got "8,8"'),
        ({"runs": TWO, "hidden": [8] * 5}, "config.hidden", "got [8, 8, 8, 8, 8]"),
    ],
)
def test_network_refusals_echo_the_value(change, field, got):
    refused = _refusal({**NET, **change})
    assert refused["field"] == field
    assert refused["error"].endswith(got)


def test_a_number_that_underflows_is_echoed_as_sent(client):
    # 1e-400 is 0.0 once parsed: "lr must be > 0; got 0.0" echoed what no one sent
    text = '{"type": "config", "config": {"runs": [{"optimizer": "sgd", "hyperparameters": '
    message = app._json(text + '{"lr": 1e-400}}, {"optimizer": "adam"}], "grid": 8}}')
    refused = _refusal(message["config"])
    assert refused["error"] == "SGD: lr must be > 0; got 1e-400 (underflows to 0)"
    assert refused["field"] == "config.runs[0].hyperparameters.lr"
    grid = app._json('{"runs": [{"optimizer": "sgd"}, {"optimizer": "adam"}], "grid": 8e-400}')
    assert _refusal(grid)["error"].endswith("got 8e-400 (underflows to 0)")
    body = (
        '{"function": "bowl", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": 1E-999}}]}'
    )
    answer = client.post("/api/paths", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["error"].endswith("lr must be > 0; got 1E-999 (underflows to 0)")
    # a value taken is the float it is, 0, in the answer and in an export
    taken = app._json('{"weight_decay": 1e-400, "lr": 2.5e-3}')
    assert json.dumps(taken) == '{"weight_decay": 0.0, "lr": 0.0025}'
    config = {**NET, "runs": [{"optimizer": "sgd", "hyperparameters": taken}, *TWO][:2]}
    assert check_config(config)["runs"][0]["hyperparameters"]["weight_decay"] == 0.0
    assert NetworkSession(config).runs[0].optimizer.weight_decay == 0.0
    assert "weight_decay = 0.0" in network_toml(config, 1)["toml"]


# --- 5. the catalog follows the registry ------------------------------------------------


def _names(optimizer: str) -> list[str]:
    return [h["name"] for h in api.catalog()["optimizers"][optimizer]["hyperparameters"]]


def test_the_catalog_shows_an_optimizer_registered_again():
    @register("play_swapped", lr_range=(1e-3, 1.0))
    def first(p, g, state, t, *, lr=0.1, gamma=2.0):
        p -= lr * gamma * g

    try:
        assert _names("play_swapped") == ["lr", "gamma"]

        @register("play_swapped", lr_range=(1e-3, 1.0), replace=True)
        def second(p, g, state, t, *, lr=0.1, delta=3.0):
            p -= lr * delta * g

        assert _names("play_swapped") == ["lr", "delta"]
        unregister("play_swapped")

        @register("play_swapped", lr_range=(1e-3, 1.0))
        def third(p, g, state, t, *, lr=0.1, kappa=4.0):
            p -= lr * kappa * g

        assert _names("play_swapped") == ["lr", "kappa"]
    finally:
        unregister("play_swapped")
    assert "play_swapped" not in api.catalog()["optimizers"]
