"""gdlab play in a real browser: Playwright driving the system's Chromium.

A uvicorn server runs in a thread on a free loopback port; Chromium (Debian's
``/usr/bin/chromium``, never a downloaded one) loads the page. The tests check
what a learner does: the page loads with no console errors and no request
leaving 127.0.0.1; moving the lr slider redraws the path for six optimizers ×
300 steps; clicking the contour moves the start; a bad expression shows its
error where it is; the exported TOML makes ``gdlab race --config`` retrace the
drawn paths to 1e-12; network mode trains and its decision boundaries change.
The redraw latency (target p95 ≤ 100 ms) and the frame rate (target ≥ 10/s)
are measured and printed, and a miss is a warning, not a failure: speed is
judged by benchmarks on a quiet machine, never by a timed test.

Chromium missing: skipped, except under ``CI=true``, where it fails. Screenshots
go to a temporary folder, and to ``docs/play/`` when ``GDLAB_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from play_serving import serve

DOCS = Path(__file__).resolve().parents[1] / "docs" / "play"
#: the optimizers the tests use: compiled before the timed parts
USED = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


@pytest.fixture(scope="module")
def server():
    with serve(warm=USED) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("play-screenshots")
    yield folder
    if os.environ.get("GDLAB_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for png in folder.glob("*.png"):
            shutil.copy(png, DOCS / png.name)


class Page:
    """A page of the app, with its console errors and every URL it asked for."""

    def __init__(
        self, browser, base: str, state: dict | None = None, url: str | None = None
    ) -> None:
        self.base = base
        self.context = browser.new_context(
            viewport={"width": 1360, "height": 980}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("websocket", lambda ws: self.requests.append(ws.url))
        local = urlsplit(base).netloc
        self.page.route(
            "**/*",
            lambda route: (
                route.continue_() if urlsplit(route.request.url).netloc == local else route.abort()
            ),
        )
        fragment = "" if state is None else "#" + json.dumps(state)
        self.page.goto(url or f"{base}/{fragment}")
        self.wait("window.gdlab && window.gdlab.ready")

    def js(self, expression: str):
        return self.page.evaluate(f"() => ({expression})")

    def wait(self, expression: str, timeout: float = 30.0):
        # polled with evaluate: the page's CSP forbids the eval that wait_for_function uses
        end = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {expression}")
            time.sleep(0.02)

    def wait_2d(self) -> None:
        self.wait(
            "window.gdlab.modes['2d'] && window.gdlab.modes['2d'].idle "
            "&& window.gdlab.modes['2d'].view.answer !== null"
        )

    def runs(self) -> list[dict]:
        return self.js(
            "window.gdlab.modes['2d'].view.runs.map(r => ({label: r.label, "
            "status: r.status, xs: Array.from(r.xs), ys: Array.from(r.ys)}))"
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser, server):
    opened: list[Page] = []

    def open_page(state: dict | None = None, url: str | None = None) -> Page:
        p = Page(browser, server, state, url)
        opened.append(p)
        return p

    yield open_page
    for p in opened:
        p.close()


def _set_slider(p: Page, selector: str, position: int) -> None:
    p.page.eval_on_selector(
        selector,
        "(el, v) => { el.value = String(v); "
        "el.dispatchEvent(new Event('input', {bubbles: true})); }",
        position,
    )


LR = ".card:nth-child(1) input[type=range][data-name=lr]"


def _within(value: float, target: float, unit: str, *, below: bool) -> None:
    """A speed target, reported, not asserted: speed is measured by benchmarks/, never
    by a timed test on a shared machine (docs/benchmarks.md holds the numbers). A miss
    is a warning that names the measurement."""
    if (value <= target) if below else (value >= target):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    beside = (
        "; other tests ran beside it: measure with python -m pytest -n 0"
        if os.environ.get("PYTEST_XDIST_WORKER")
        else ""
    )
    warnings.warn(
        f"measured {value:.1f} {unit} against a target of {'≤' if below else '≥'} {target:g} "
        f"(load average {load:.1f} on {cores} cores{beside})",
        stacklevel=2,
    )


# --- loading --------------------------------------------------------------------------------


def test_page_loads_without_errors_and_stays_on_this_machine(page, server, shots):
    p = page()
    p.wait_2d()
    assert p.js("document.querySelectorAll('#contour path').length") > 20
    labels = [r["label"] for r in p.runs()]
    assert labels == ["SGD", "Momentum", "AdaGrad", "Adam", "RMSprop", "Nesterov"]  # seed 001
    p.page.screenshot(path=shots / "2d-bowl.png", full_page=True)
    for mode in ("schedules", "ewma", "net"):
        p.page.click(f"#tab-{mode}")
        if mode == "net":
            p.wait("window.gdlab.modes.net && window.gdlab.modes.net.view.last")
        else:
            p.wait(f"window.gdlab.modes['{mode}'] && window.gdlab.modes['{mode}'].view.answer")
    p.page.click("#tab-2d")
    assert p.errors == []
    host = urlsplit(server).netloc
    assert p.requests
    assert all(urlsplit(u).netloc == host for u in p.requests), p.requests


# --- 2-D mode ------------------------------------------------------------------------------


def test_the_lr_slider_redraws_the_path_the_link_keeps_it_a_click_moves_the_start(page, shots):
    p = page()
    p.wait_2d()
    before = p.runs()[0]
    drawn = p.js("document.querySelector('#contour g[data-run=\"0\"] path').getAttribute('d')")
    _set_slider(p, LR, 700)
    p.wait("window.gdlab.modes['2d'].state.runs[0].hp.lr !== 0.95")
    p.wait_2d()
    after = p.runs()[0]
    lr = p.js("window.gdlab.modes['2d'].state.runs[0].hp.lr")
    assert lr != 0.95
    assert after["xs"] != before["xs"] or after["ys"] != before["ys"]
    assert (
        p.js("document.querySelector('#contour g[data-run=\"0\"] path').getAttribute('d')") != drawn
    )
    # SGD at 1.1 on the bowl: y flips and grows, the path leaves the plot and is marked
    p.page.fill(".card:nth-child(1) input[type=number][data-name=lr]", "1.1")
    p.page.press(".card:nth-child(1) input[type=number][data-name=lr]", "Enter")
    p.wait("window.gdlab.modes['2d'].state.runs[0].hp.lr === 1.1")
    p.wait_2d()
    p.wait("document.querySelector('#legend-2d').textContent.includes('left the plot')")
    p.page.screenshot(path=shots / "2d-left-the-plot.png", full_page=True)
    # the link reopens the same view (written 200 ms after the last change; the page's
    # own location, since Playwright's page.url may not have caught up with it yet)
    url = p.wait("decodeURIComponent(location.hash).includes('1.1') && location.href")
    again = page(url=url)
    again.wait_2d()
    assert again.js("window.gdlab.modes['2d'].state.runs[0].hp.lr") == 1.1
    assert again.runs() == p.runs()
    # clicking the contour moves the start (lower left of the bowl's plot)
    box = p.page.locator("#contour svg").bounding_box()
    p.page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
    p.wait("window.gdlab.modes['2d'].state.start[0] !== -7")
    p.wait_2d()
    start = p.js("window.gdlab.modes['2d'].state.start")
    assert -10 < start[0] < 0
    assert -5 < start[1] < 0
    for run in p.runs():
        assert (run["xs"][0], run["ys"][0]) == tuple(start)


def test_a_bad_expression_shows_its_error_where_it_is(page, shots):
    p = page()
    p.wait_2d()
    p.page.select_option("#function-select", "__custom__")
    p.wait_2d()
    p.page.fill("#expression", "x^2/20 + y^2 + foo(x)")
    p.wait("!document.querySelector('#expression-error').hidden")
    message = p.js("document.querySelector('#expression-error').textContent")
    assert "unknown function 'foo'" in message
    assert "character 16" in message
    assert p.js("document.querySelector('#expression-error mark').textContent") == "f"
    p.page.screenshot(path=shots / "2d-expression-error.png", full_page=True)
    p.page.fill("#expression", "x^2/20 + y^2 + sin(x)*cos(y)")
    p.wait("document.querySelector('#expression-error').hidden")
    p.wait_2d()
    gradient = p.js("document.querySelector('#gradient-text').textContent")
    assert "∂f/∂x = x/10 + cos(x)*cos(y)" in gradient
    assert "∂f/∂y = 2*y - sin(x)*sin(y)" in gradient
    p.page.screenshot(path=shots / "2d-expression.png", full_page=True)
    assert [e for e in p.errors if "422" not in e] == []  # the refused request is logged as 422


def test_the_exported_toml_retraces_the_paths_in_gdlab_race(page, tmp_path):
    from gdlab.cli import main

    p = page()
    p.wait_2d()
    _set_slider(p, ".card:nth-child(4) input[type=range][data-name=lr]", 600)  # Adam's lr
    p.page.select_option(".pick-schedule", "exponential")
    p.wait_2d()
    p.wait("window.gdlab.modes['2d'].state.schedule !== null")
    p.wait_2d()
    drawn = p.runs()
    files = {}
    for kind in ("toml", "svg", "png"):
        p.page.click("#export")
        with p.page.expect_download() as info:
            p.page.click(f"[data-export={kind}]")
        files[kind] = tmp_path / info.value.suggested_filename
        info.value.save_as(files[kind])
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files["svg"].read_text().startswith("<svg")
    out = tmp_path / "race"
    assert (
        main(["race", "--config", str(files["toml"]), "--out", str(out), "--no-figures", "--quiet"])
        == 0
    )
    raced = json.loads((out / "results.json").read_text())["runs"]
    assert [r["label"] for r in raced] == [r["label"] for r in drawn]
    for run, record in zip(drawn, raced, strict=True):
        np.testing.assert_allclose(
            np.column_stack([run["xs"], run["ys"]]), np.asarray(record["path"]), rtol=0, atol=1e-12
        )


def test_a_slider_move_redraws_six_optimizers_within_100_ms(page, shots):
    setup = [{"optimizer": n, "hyperparameters": {"lr": 0.05}} for n in USED]
    p = page({"m": "2d", "2d": {"f": "bowl", "s": [-7, 2], "n": 300, "r": setup}})
    p.wait_2d()
    assert len(p.runs()) == 6
    assert len(p.runs()[0]["xs"]) == 301
    p.js("window.gdlab.modes['2d'].latencies.length = 0")
    for k in range(20):  # 20 distinct rates: every move is a new computation
        _set_slider(p, LR, 300 + 7 * k)
        p.wait_2d()
    latencies = sorted(p.js("window.gdlab.modes['2d'].latencies"))
    assert len(latencies) >= 18
    p95 = float(np.percentile(latencies, 95))
    (shots / "latency.json").write_text(
        json.dumps({"p50_ms": float(np.median(latencies)), "p95_ms": p95, "n": len(latencies)})
    )
    print(
        f"slider move to redraw, 6 optimizers x 300 steps: p50 {np.median(latencies):.1f} ms, "
        f"p95 {p95:.1f} ms"
    )
    p.page.screenshot(path=shots / "2d-300-steps.png", full_page=True)
    _within(p95, float(os.environ.get("GDLAB_PLAY_P95_MS", "100")), "ms (p95)", below=True)


# --- the other modes -----------------------------------------------------------------------


def test_network_mode_trains_and_the_boundaries_change(page, shots):
    p = page({"m": "net"})
    p.wait("window.gdlab.modes.net && window.gdlab.modes.net.view.last")
    first = p.js("window.gdlab.modes.net.signatures()")
    loss0 = p.js("window.gdlab.modes.net.view.last.runs.map(r => r.loss)")
    p.page.click("#net-play")
    p.wait("window.gdlab.modes.net.view.playing")
    time.sleep(2.5)
    fps = p.js("window.gdlab.modes.net.view.fps")
    p.page.click("#net-play")
    p.wait("!window.gdlab.modes.net.view.playing")
    last = p.js("window.gdlab.modes.net.view.last")
    assert last["step"] > 50
    # paused: the readout no longer shows a rate (it kept the last frames/s)
    step, readout = p.js(
        "[window.gdlab.modes.net.view.last.step, "
        "document.getElementById('net-readout').textContent]"
    )
    assert readout == f"step {step:,}", readout
    assert all(
        a != b for a, b in zip(first, p.js("window.gdlab.modes.net.signatures()"), strict=True)
    )
    assert all(r["loss"] < l0 for r, l0 in zip(last["runs"], loss0, strict=True))
    print(f"network mode, 2 optimizers on 300 points: {fps:.1f} frames/s")
    (shots / "fps.json").write_text(json.dumps({"fps": fps}))
    p.page.screenshot(path=shots / "network.png", full_page=True)
    _within(fps, 10.0, "frames/s", below=False)
    assert p.errors == []


def test_a_network_run_that_stops_says_why_under_the_panels(page, shots):
    # The page showed "· diverged" but never the reason the frame carries.
    runs = [
        {"optimizer": "sgd", "hyperparameters": {"lr": 1e7}},
        {"optimizer": "adam", "hyperparameters": {"lr": 0.01}},
    ]
    p = page({"m": "net", "net": {"r": runs, "steps_per_frame": 50}})
    p.wait("window.gdlab.modes.net && window.gdlab.modes.net.view.last")
    for _ in range(20):
        if p.js("window.gdlab.modes.net.view.last.runs[0].status") != "ok":
            break
        p.page.click("#net-step")
        time.sleep(0.3)
    run = p.js("window.gdlab.modes.net.view.last.runs[0]")
    assert run["status"] == "diverged", run
    caption = p.js("document.getElementById('caption-net').textContent")
    assert run["reason"].startswith("diverged at step")
    assert f"SGD: {run['reason']}." in caption
    p.page.screenshot(path=shots / "network-diverged.png", full_page=True)
    assert p.errors == []


def test_schedules_and_averages_draw(page, shots):
    p = page(
        {
            "m": "schedules",
            "schedules": {
                "schedule": {"name": "cosine", "arguments": {"decay_steps": 200, "restarts": True}},
                "lr0": 0.1,
                "steps_per_epoch": 10,
                "epochs": 60,
            },
        }
    )
    p.wait("window.gdlab.modes.schedules && window.gdlab.modes.schedules.view.answer")
    assert "CosineDecay" in p.js("document.querySelector('#schedule-formula').textContent")
    p.page.screenshot(path=shots / "schedules.png", full_page=True)
    p.page.click("#tab-ewma")
    p.wait("window.gdlab.modes.ewma && window.gdlab.modes.ewma.view.answer")
    p.page.click("[data-beta='0.98']")
    p.wait("window.gdlab.modes.ewma.view.answer.beta === 0.98")
    assert p.js("window.gdlab.modes.ewma.view.answer.window") == pytest.approx(50)
    p.page.click("#ewma-zoom")
    time.sleep(0.2)
    p.page.screenshot(path=shots / "ewma.png", full_page=True)
    assert p.errors == []
