"""``gdlab play``, round 7: a long schedule curve keeps what the rate does between
the steps it sends.

A triangle cycling every 6 steps and SGDR restarting every 6 steps, over 10,000
steps, came back as every 6th step: a flat line (each sample landed on the same
phase) with one jump at the end, captioned "the rate at each of 10,000 steps".
Past 2,000 steps the curve is now sent as groups of steps with each group's
lowest and highest rate, taken from every step, and drawn as a band; the rate at
each group's first step is still exact. The browser check uses Debian's
Chromium, driven by Playwright (skipped without it, but under ``CI=true``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from play_serving import open_state as _open

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from gdlab import schedules
from gdlab.play import create_app, limits

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CYCLIC = {"name": "cyclic", "arguments": {"max_lr": 10, "step_size_up": 3}}  # max_lr: × lr0
SGDR = {"name": "cosine", "arguments": {"decay_steps": 6, "restarts": True}}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1:8765") as c:
        yield c


def _curve(client, schedule: dict, lr0: float, per_epoch: int, epochs: int) -> dict:
    body = {"schedule": schedule, "lr0": lr0, "steps_per_epoch": per_epoch, "epochs": epochs}
    answer = client.post("/api/schedule", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _every_rate(curve: dict) -> np.ndarray:
    schedule = schedules.from_config(curve["config"])
    per_epoch = curve["steps_per_epoch"]
    total = per_epoch * curve["epochs"]
    return np.array([schedule(step, step // per_epoch) for step in range(total)])


def _groups(curve: dict, rates: np.ndarray) -> list[np.ndarray]:
    group = curve["group"]
    return [rates[start : start + group] for start in range(0, len(rates), group)]


# --- the answer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "lr0", "low", "high"),
    [(CYCLIC, 0.01, 0.01, 0.1), (SGDR, 0.1, 0.1 * (1 + np.cos(np.pi * 5 / 6)) / 2, 0.1)],
)
def test_a_rate_cycling_between_the_sent_steps_is_in_every_groups_range(
    client, schedule, lr0, low, high
):
    # 10,000 steps came back as 1,668 points, all 0.01 (or 0.1) but the last
    curve = _curve(client, schedule, lr0, 100, 100)
    assert curve["group"] == 10
    assert len(curve["lr_low"]) == len(curve["lr_high"]) == 1_000
    assert curve["lr_low"] == pytest.approx([low] * 1_000, rel=1e-12)
    assert curve["lr_high"] == pytest.approx([high] * 1_000, rel=1e-12)
    rates = _every_rate(curve)  # each group's range is its steps', exactly
    assert curve["lr_low"] == [g.min() for g in _groups(curve, rates)]
    assert curve["lr_high"] == [g.max() for g in _groups(curve, rates)]


@pytest.mark.parametrize(
    "schedule",
    [
        {"name": "exponential", "arguments": {"rate": 0.5, "decay_steps": 3_000}},
        {"name": "polynomial"},
        {"name": "step", "arguments": {"every": 7, "per": "epoch"}},  # asked once an epoch
        {"name": "inverse_sqrt_step"},
    ],
)
def test_a_long_curve_sends_the_exact_rate_at_each_groups_first_step_and_the_last(client, schedule):
    curve = _curve(client, schedule, 0.1, 1_001, 99)  # 99,099 steps: the last group shorter
    total = 99_099
    rates = _every_rate(curve)
    group = curve["group"]
    assert group == 100
    assert curve["steps"] == [*range(0, total, group), total - 1]
    assert len(curve["steps"]) <= limits.MAX_CURVE_POINTS
    assert curve["lr"] == rates[curve["steps"]].tolist()
    assert curve["lr_low"] == [g.min() for g in _groups(curve, rates)]
    assert curve["lr_high"] == [g.max() for g in _groups(curve, rates)]
    assert len(curve["lr_low"]) == len(_groups(curve, rates)) == 991
    assert len(_groups(curve, rates)[-1]) == 99


def test_a_curve_of_at_most_2000_steps_sends_every_step_and_no_band(client):
    curve = _curve(client, CYCLIC, 0.01, 100, 20)
    assert curve["group"] == 1
    assert curve["steps"] == list(range(2_000))
    assert curve["lr"] == _every_rate(curve).tolist()
    assert "lr_low" not in curve
    assert "lr_high" not in curve


def test_the_longest_curves_answer_stays_about_as_large_as_before(client):
    # 2,000 sampled rates took up to 59,180 bytes (inverse_sqrt_step, the longest
    # numbers of any schedule at its defaults); now at most 1,000 groups of four numbers
    for name in ("inverse_sqrt_step", "exponential", "piecewise"):
        curve = _curve(client, {"name": name}, 0.1, 1_000, 100)
        assert len(curve["steps"]) == 1_001
        assert len(json.dumps(curve)) < 2 * 59_180, name


# --- the page ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page(width=1360, height=1100) as shown:
        yield shown


def _drawn(page, epochs: int) -> dict:
    from play_serving import wait_for

    wait_for(page, f"window.gdlab.modes.schedules.view.answer?.epochs === {epochs}", 20.0)
    return page.evaluate(
        """() => {
        const plot = window.gdlab.modes.schedules.view.plot;
        const band = document.querySelector('#schedule-chart path.rate-band');
        const box = band && band.getBBox();
        return {caption: document.getElementById('caption-schedules').textContent,
                band: box && [box.y, box.y + box.height, box.x, box.x + box.width],
                top: plot.sy(0.1), bottom: plot.sy(0.01),
                left: plot.sx(0), right: plot.sx(plot.x.domain[1])};
    }"""
    )


def test_the_chart_draws_a_long_cycling_rate_as_a_band_and_says_so(page):
    # a flat line at 0.01 with one jump at the end, "the rate at each of 10,000 steps"
    state = {"schedule": CYCLIC, "lr0": 0.01, "steps_per_epoch": 100, "epochs": 100}
    _open(page, {"m": "schedules", "schedules": state})
    drawn = _drawn(page, 100)
    assert drawn["caption"].startswith(
        "The lowest and highest rate in each group of 10 steps, drawn as a band from one to "
        "the other, so that a rate changing within a group fills its height, over 10,000 "
        "steps (100 epochs of 100 steps; more than 60 epochs, so no lines mark them) of cyclic"
    )
    top, bottom, left, right = drawn["band"]
    assert top == pytest.approx(drawn["top"], abs=1)  # 0.01 to 0.1 over every step
    assert bottom == pytest.approx(drawn["bottom"], abs=1)
    assert (left, right) == pytest.approx((drawn["left"], drawn["right"]), abs=1)
    folder = Path("/tmp/play-shots")
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "round7-cyclic-band.png"), full_page=True)
    # a short run is still every step, as a line
    state = {"schedule": CYCLIC, "lr0": 0.01, "steps_per_epoch": 10, "epochs": 30}
    _open(page, {"m": "schedules", "schedules": state})
    drawn = _drawn(page, 30)
    assert drawn["band"] is None
    assert drawn["caption"].startswith("The rate at each of 300 steps (30 epochs of 10 steps;")
