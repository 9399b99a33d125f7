"""``gdlab play`` under load: 50 simulated pages dragging sliders at once, on loopback.

A ``gdlab play`` server starts as its own process, as the command starts it,
on a free port of 127.0.0.1. Then ``--sessions`` simulated pages
(asyncio + httpx, in this process, each with a connection of its own as a
browser tab has) each hold the 2-D setup a learner starts from, six
optimizers (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam) on
``--function`` for ``--steps`` steps, at learning rates of their own, and do
what a person does with it:

* **drag**: pick one optimizer's lr slider and drag it for 0.5–1 s. The
  slider moves by a few of its 1,000 positions per 1/60 s (log scale over the
  optimizer's range, values snapped to 2 significant digits, as the page
  does); like the page, a session sends the newest position as soon as the
  answer to the previous one is back (one request in flight, the latest
  wins), with ``have`` naming the runs it already holds;
* **look**: pause 1–3 s.

Every request's latency (sent to answer parsed) is recorded for ``--seconds``
after a warm-up (each session's first request, which computes all six runs,
is not counted). It reports requests, throughput, p50/p95/p99 latency and
errors, against the target of issue 12: p95 ≤ 200 ms::

    python benchmarks/bench_play.py                       # 50 sessions, 20 s
    python benchmarks/bench_play.py --quick               # 10 sessions, 5 s
    python benchmarks/bench_play.py --json play.json      # also the raw numbers (and the
                                                          # server's own time per request)

Everything stays on 127.0.0.1 and ends within ``--seconds`` plus start-up
(the server is stopped at the end, whatever happens).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.util
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if importlib.util.find_spec("gdlab") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT / "src"))

TARGET_P95_MS = 200.0
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
POSITIONS = 1000  # slider positions, as on the page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "gdlab", "play", "--port", str(port), "--no-browser"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


class Slider:
    """One optimizer's lr slider: log scale over [low/100, high·10], 2 significant digits."""

    def __init__(self, lr_range: tuple[float, float]) -> None:
        self.low, self.high = lr_range[0] / 100, lr_range[1] * 10

    def value(self, position: int) -> float:
        v = self.low * (self.high / self.low) ** (position / POSITIONS)
        return float(f"{v:.2g}")


async def session(index, client, catalog, args, stop, latencies, errors, started, server_ms):
    import httpx  # noqa: F401  (the client is an httpx.AsyncClient)

    rng = np.random.default_rng(1000 + index)
    sliders = [Slider(catalog["optimizers"][n]["lr_range"]) for n in OPTIMIZERS]
    positions = [int(rng.integers(300, 700)) for _ in OPTIMIZERS]
    held: list[str] = []

    def body() -> dict:
        runs = [
            {"optimizer": n, "hyperparameters": {"lr": s.value(p)}}
            for n, s, p in zip(OPTIMIZERS, sliders, positions, strict=True)
        ]
        return {"function": args.function, "steps": args.steps, "runs": runs, "have": held[-60:]}

    async def send(record: bool) -> None:
        sent = time.perf_counter()
        try:
            response = await client.post("/api/paths", json=body())
            answer = response.json()
        except Exception as error:  # a refused or broken connection counts as an error
            errors.append(f"{type(error).__name__}: {error}")
            return
        elapsed = 1000 * (time.perf_counter() - sent)
        if response.status_code != 200:
            errors.append(f"{response.status_code}: {answer.get('error')}")
            return
        for run in answer["runs"]:
            if run["key"] not in held:
                held.append(run["key"])
        if record:
            latencies.append(elapsed)
            timing = response.headers.get("server-timing", "")
            if "dur=" in timing:
                server_ms.append(float(timing.split("dur=")[1]))

    await send(record=False)  # the first view: all six runs
    started.append(time.perf_counter())
    while not stop.is_set():
        run = int(rng.integers(len(OPTIMIZERS)))
        drag_end = time.perf_counter() + rng.uniform(0.5, 1.0)
        last = time.perf_counter()
        while time.perf_counter() < drag_end and not stop.is_set():
            ticks = max(
                1, round((time.perf_counter() - last) * 60)
            )  # input events since the last send
            last = time.perf_counter()
            step = int(sum(rng.integers(-3, 4) for _ in range(ticks))) or 1
            positions[run] = int(min(POSITIONS, max(0, positions[run] + step)))
            await send(record=True)
            await asyncio.sleep(max(0.0, 1 / 60 - (time.perf_counter() - last)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.uniform(1.0, 3.0))


async def drive(base: str, args) -> dict:
    import httpx

    # Each page has a connection of its own, as a browser tab does (one pool
    # shared by every session would spend the client's time choosing among
    # them, and that time would be counted as the server's latency).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    def page() -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits)

    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(page()) for _ in range(args.sessions)]
        catalog = (await clients[0].get("/api/catalog")).json()
        latencies: list[float] = []
        errors: list[str] = []
        started: list[float] = []
        server_ms: list[float] = []
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                session(i, client, catalog, args, stop, latencies, errors, started, server_ms)
            )
            for i, client in enumerate(clients)
        ]
        # the clock starts once every session has its first view
        deadline = time.perf_counter() + 120
        while len(started) < args.sessions and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        latencies.clear()
        errors.clear()
        server_ms.clear()
        t0 = time.perf_counter()
        await asyncio.sleep(args.seconds)
        stop.set()
        duration = time.perf_counter() - t0
        await asyncio.wait(tasks, timeout=30)
    return {"latencies": latencies, "errors": errors, "seconds": duration, "server_ms": server_ms}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--function", default="bowl")
    parser.add_argument("--quick", action="store_true", help="10 sessions for 5 s")
    parser.add_argument("--json", metavar="FILE", help="write the numbers to FILE")
    args = parser.parse_args(argv)
    if args.quick:
        args.sessions, args.seconds = 10, 5.0

    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(
        f"gdlab play on {base} (python -m gdlab play): {os.cpu_count()} cores, "
        f"load average {load:.2f}"
    )
    server = start_server(port)
    try:
        for _ in range(1800):  # up to 180 s to start and compile every optimizer's kernels
            try:
                if httpx.get(f"{base}/api/health", timeout=1).json().get("warm"):
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                print(server.stderr.read(), file=sys.stderr)
                return 1
            time.sleep(0.1)
        # the six optimizers' kernels compiled before the clock starts
        warm = {
            "function": args.function,
            "steps": 2,
            "runs": [{"optimizer": n} for n in OPTIMIZERS],
        }
        httpx.post(f"{base}/api/paths", json=warm, timeout=120)
        result = asyncio.run(drive(base, args))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()

    lat = result["latencies"]
    summary = {
        "date": datetime.date.today().isoformat(),
        "sessions": args.sessions,
        "seconds": round(result["seconds"], 2),
        "steps": args.steps,
        "function": args.function,
        "cores": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        "requests": len(lat),
        "requests_per_second": round(len(lat) / result["seconds"], 1),
        "p50_ms": round(percentile(lat, 50), 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "max_ms": round(max(lat), 1) if lat else math.nan,
        "mean_ms": round(statistics.fmean(lat), 1) if lat else math.nan,
        "server_p50_ms": round(percentile(result["server_ms"], 50), 1),
        "server_p95_ms": round(percentile(result["server_ms"], 95), 1),
        "errors": len(result["errors"]),
        "target_p95_ms": TARGET_P95_MS,
    }
    verdict = "meets" if summary["p95_ms"] <= TARGET_P95_MS else "misses"
    print(
        f"{summary['sessions']} sessions, {summary['seconds']} s: {summary['requests']} requests "
        f"({summary['requests_per_second']}/s), latency p50 {summary['p50_ms']} ms, "
        f"p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms, max {summary['max_ms']} ms, "
        f"{summary['errors']} errors: {verdict} the target (p95 <= {TARGET_P95_MS:g} ms)"
    )
    print(
        f"inside the server (request read to answer written): p50 {summary['server_p50_ms']} ms, "
        f"p95 {summary['server_p95_ms']} ms"
    )
    if result["errors"]:
        print("first errors:", *result["errors"][:5], sep="\n  ")
    if args.json:
        raw = {"latencies_ms": lat, "server_ms": result["server_ms"]}
        Path(args.json).write_text(json.dumps({**summary, **raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
