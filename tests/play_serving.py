"""What the browser tests of ``gdlab play`` share: a server on a free loopback port in a
thread, and Debian's Chromium driven by Playwright (never a downloaded browser).

A missing Chromium or Playwright skips those tests, except under ``CI=true``, where
it fails them: CI installs both, so a skip there would hide a broken page.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> None:
    """Skip for want of ``what`` (fail under CI)."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI (CI=true)")
    pytest.skip(f"{what} is not installed")


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        binary = shutil.which(name)
        if binary:
            return binary
    missing("Chromium (chromium, chromium-browser or google-chrome)")
    raise AssertionError  # unreachable


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A launched Chromium (Playwright's ``Browser``)."""
    binary = chromium_binary()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def serve(warm: Sequence[str] | None = None) -> Iterator[str]:
    """``gdlab play``'s app on uvicorn in a thread; yields its base URL. ``warm``: the
    optimizers whose kernels are compiled while it starts."""
    uvicorn = pytest.importorskip("uvicorn")
    from gdlab.play import api, create_app
    from gdlab.play.server import bind

    sock, port, _ = bind("127.0.0.1", 0)
    config = uvicorn.Config(
        create_app(), log_level="warning", ws="websockets-sansio", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if warm is not None:
        api.warm_up(names=warm)
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.025)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def served_page(width: int = 1360, height: int = 980) -> Iterator[object]:
    """A Chromium page of that size beside a served app, whose address is ``page.base``."""
    with serve() as base, chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.base = base
        yield page


def wait_for(page: object, expression: str, timeout: float = 30.0) -> object:
    """The first truthy value of the JavaScript ``expression`` on ``page``, polled
    (the page's CSP forbids the eval that Playwright's ``wait_for_function`` uses)."""
    end = time.monotonic() + timeout
    while not (value := page.evaluate(f"() => ({expression})")):
        assert time.monotonic() < end, f"timed out waiting for {expression}"
        time.sleep(0.05)
    return value


def open_state(page: object, state: dict, ready: str = "true", timeout: float = 20.0) -> object:
    """Load the page afresh at ``state`` (the link's ``#`` part, as JSON) and wait until
    it is ready and the JavaScript ``ready`` holds."""
    import json
    from urllib.parse import quote

    page.goto(f"{page.base}/?{time.monotonic_ns()}#{quote(json.dumps(state))}")
    return wait_for(page, f"window.gdlab && window.gdlab.ready && ({ready})", timeout)


def shot(page: object, name: str, full_page: bool = True) -> object:
    """What the learner sees, for a look: ``/tmp/play-shots/NAME.png``; its path."""
    from pathlib import Path

    folder = Path("/tmp/play-shots")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
