"""The web app: a Starlette application serving the page, its JSON API and a websocket.

==========================  =========  ================================================
path                        method     what
==========================  =========  ================================================
``/``                       GET        the page (scripts and styles from ``/static``)
``/api/health``             GET        ``{"ok": true, "version": …, "warm": …}``
``/api/catalog``            GET        functions, optimizers (sliders, presets), schedules,
                                       setups, data sets, caps — read from the registries
``/api/surface``            POST       contour lines of a function or an expression
``/api/paths``              POST       each optimizer's path, loss, gradient, lr per step
``/api/export``             POST       the 2-D setup as a ``gdlab race --config`` TOML file
``/api/network/export``     POST       a network-mode setup (moons) as a TOML file
``/api/schedule``           POST       a schedule's curve over steps and epochs, its formula
``/api/temperatures``       GET        seed 004's daily temperatures
``/api/ewma``               POST       their EWMA for a β, with or without bias correction
``/ws/network``             websocket  network mode: setup, play, pause, step, reset; frames
==========================  =========  ================================================

Every body is checked whole; a mistake is answered with a 4xx status and
``{"error": message, "field": …, "position": …}``. Computations run in
worker threads (at most :data:`~gdlab.play.limits.MAX_CONCURRENT` at once),
never on the event loop (2-D runs in worker processes when the server
started some: ``gdlab play`` does, see :func:`gdlab.play.api.start_processes`),
and stop at :data:`~gdlab.play.limits.TIME_LIMIT` seconds (503). A paths
request that needs no work (checked before, every run held or cached) is
answered at once. An unexpected exception is answered with 500 and logged; the
server keeps serving. Requests whose ``Host`` or ``Origin`` is not the
server's own (400, 403), and POSTs that are not ``application/json`` (415),
are refused on every route, the websocket's too, so another web site cannot
drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from gdlab.play import api, limits

__all__ = ["LOCAL_HOSTS", "create_app"]

log = logging.getLogger("gdlab.play")

#: Host names a local server answers to.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Frames per second network mode sends at most.
MAX_FPS = 30

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=_HEADERS)


class _Work:
    """Runs computations off the event loop, a few at a time, within the time limit."""

    def __init__(self) -> None:
        self.limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., Any], *args: Any, limit: float | None = None) -> Any:
        """``fn(*args)`` in a worker thread, given ``limit`` seconds (default
        :data:`~limits.TIME_LIMIT`)."""
        limit = limits.TIME_LIMIT if limit is None else limit
        if self.limiter is None:
            self.limiter = anyio.CapacityLimiter(limits.MAX_CONCURRENT)
        try:
            # a backstop: runs stop themselves at the time limit (a run in a worker
            # process that does not is killed there, see api._Pool)
            with anyio.fail_after(limit + api.GRACE + 2):
                return await anyio.to_thread.run_sync(
                    fn, *args, limiter=self.limiter, abandon_on_cancel=True
                )
        except TimeoutError:
            raise api.PlayError(
                f"the computation took longer than {limit:g} s; ask for less", status=503
            ) from None


async def _body(request: Request) -> Any:
    """The request's JSON body, within the size cap (413), well formed (400)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.MAX_BODY_BYTES:
        raise api.PlayError(
            f"the request is {int(declared):,} bytes; at most {limits.MAX_BODY_BYTES:,}", status=413
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.MAX_BODY_BYTES:
            raise api.PlayError(f"the request is over {limits.MAX_BODY_BYTES:,} bytes", status=413)
        chunks.append(chunk)
    return _json(b"".join(chunks) or b"null")


def _json(text: str | bytes) -> Any:
    """Parsed JSON; malformed or absurdly nested is a PlayError (400). ``NaN`` and
    ``Infinity`` pass: each field's check refuses them with its name (422); a number
    that underflows to 0 (``1e-400``) keeps its text for the messages (api.Underflowed)."""
    try:
        return json.loads(text, parse_float=api.parse_float)
    except ValueError as error:  # UnicodeDecodeError (bytes not UTF-8, -16 or -32) too
        if "integer string conversion" in str(error):
            # Python's own limit, and its advice (sys.set_int_max_str_digits) is not the caller's
            raise api.PlayError(
                f"the request holds a number of more than {sys.get_int_max_str_digits():,} "
                "digits; no field takes one past a float's size (about 1.8e308)",
                status=400,
            ) from None
        raise api.PlayError(f"malformed JSON: {error}", status=400) from None
    except RecursionError:  # thousands of nested brackets
        raise api.PlayError("malformed JSON: nested too deeply", status=400) from None


def _endpoint(
    compute: Callable[[Any], Any],
    work: _Work,
    *,
    body: bool = True,
    known: Callable[[Any], Any] | None = None,
    timed: bool = False,
):
    """An endpoint that answers ``compute(body)`` from a worker thread.

    ``known(body)``, if given, is tried first on the event loop: an answer
    that needs no work (a cache hit, see :func:`api.known_paths`) is sent at
    once; ``None`` sends the request to the worker as usual. ``timed``:
    ``compute(body, deadline)``, the deadline :data:`~limits.TIME_LIMIT`
    seconds after the request came (its wait for a worker included), so that
    the computation stops itself before the backstop answers 503.
    """

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        deadline = time.monotonic() + limits.TIME_LIMIT
        try:
            data = await _body(request) if body else None
            args = (data,) if body else ()
            if timed:
                args = (data, deadline)
            answer = None if known is None else known(data)
            if answer is not None:
                payload = _dumps(answer)
            else:
                payload = await work.run(lambda *a: _dumps(compute(*a)), *args)
        except api.PlayError as error:
            return JSONResponse(error.payload(), status_code=error.status, headers=_HEADERS)
        except Exception as error:  # never let one request take the server down
            log.exception("gdlab play: %s failed", request.url.path)
            return _error(500, f"internal error: {type(error).__name__}: {error}")
        headers = dict(_HEADERS)
        headers["Server-Timing"] = f"total;dur={1000 * (time.perf_counter() - started):.1f}"
        return Response(payload, media_type="application/json", headers=headers)

    return endpoint


def _index(request: Request) -> Response:
    page = resources.files("gdlab.play").joinpath("static", "index.html").read_text("utf-8")
    return HTMLResponse(page, headers=_HEADERS)


def _health(request: Request) -> Response:
    import gdlab

    # warm: every optimizer's kernels are compiled (the first use of one is then fast)
    return JSONResponse({"ok": True, "version": gdlab.__version__, "warm": api.WARM.is_set()},
                        headers=_HEADERS)  # fmt: skip


async def _http_error(request: Request, error: Exception) -> Response:
    status = getattr(error, "status_code", 500)
    detail = getattr(error, "detail", "error")
    if status == 404:
        detail = f"no such page: {request.url.path}"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return _error(status, str(detail))


class _OwnHostOnly:
    """Refuse what another web site could send: a request addressed to another host
    name (400, field ``Host``), one sent by a page of another origin (403, field
    ``Origin``: a browser names the page's origin on every cross-site request, also a
    "simple" one that needs no preflight) and a POST whose body is not
    ``application/json`` (415, field ``Content-Type``: a cross-site form or a
    ``text/plain`` fetch cannot send that type without a preflight, which this server
    never allows). Each as a JSON error naming what it got, as every other refusal;
    a websocket is closed (1008) before it opens."""

    def __init__(self, app: Any, hosts: Sequence[str]) -> None:
        self.app = app
        self.hosts = {h.strip("[]").lower() for h in hosts}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope, Headers(scope=scope))
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await refusal(scope, receive, send)

    def _refusal(self, scope: Any, headers: Headers) -> Response | None:
        """The answer to a request another site may have sent; ``None``: it is the page's."""
        given = headers.get("host", "")
        if "*" not in self.hosts and _hostname(given) not in self.hosts:
            allowed = ", ".join(sorted(self.hosts))
            message = (
                f"this server answers requests to {allowed} only; got Host {api._describe(given)}"
            )
            return _error(400, message, field="Host")
        origin = headers.get("origin")
        secure = scope.get("scheme") in ("https", "wss")
        if origin is not None and not _same_origin(origin, given, secure):
            own = f"{'https' if secure else 'http'}://{given}"
            message = (
                f"this server answers its own page only (origin {own}); "
                f"got Origin {api._describe(origin)}"
            )
            return _error(403, message, field="Origin")
        kind = headers.get("content-type")
        if scope["type"] == "http" and scope["method"] == "POST" and not _is_json(kind):
            got = "none" if kind is None else api._describe(kind)
            message = f"a POST must send JSON with Content-Type: application/json; got {got}"
            return _error(415, message, field="Content-Type")
        return None


def _hostname(host: str) -> str:
    """The name in a ``Host`` header (``127.0.0.1:8765`` → ``127.0.0.1``), lower case."""
    try:
        return (urlsplit(f"//{host}").hostname or "").lower()
    except ValueError:  # "[::1" and the like
        return ""


def _same_origin(origin: str, host: str, secure: bool) -> bool:
    """Whether ``origin`` (a browser's ``Origin`` header) is the server's own, the scheme,
    host name and port the request was addressed to (its ``Host``)."""
    default = 443 if secure else 80
    try:
        seen, own = urlsplit(origin), urlsplit(f"//{host}")
        port = seen.port or {"http": 80, "https": 443}.get(seen.scheme)
        own_port = own.port or default
    except ValueError:  # a port that is not a number, "[::1"
        return False
    wanted = "https" if secure else "http"
    return bool(seen.hostname) and (seen.scheme, seen.hostname, port) == (
        wanted,
        own.hostname,
        own_port,
    )


def _is_json(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` says JSON (``application/json; charset=utf-8`` does)."""
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


# --------------------------------------------------------------------------- network mode


class _Sessions:
    def __init__(self) -> None:
        self.open = 0


class _NetworkConnection:
    """One page's network-mode websocket: its session, the play loop and the messages."""

    def __init__(self, websocket: WebSocket, work: _Work) -> None:
        self.websocket = websocket
        self.work = work
        self.session: Any = None
        self.playing = False
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        # Held by the worker thread itself: a computation the time limit's backstop
        # abandoned still runs, and the next one must not touch the session with it.
        self.thread_lock = threading.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        await self.websocket.send_text(_dumps(message).decode())

    async def error(self, err: Exception) -> None:
        if isinstance(err, api.PlayError):
            await self.send({"type": "error", **err.payload()})
        else:
            log.exception("gdlab play: network session failed")
            await self.send(
                {"type": "error", "error": f"internal error: {type(err).__name__}: {err}"}
            )

    async def compute(self, fn: Callable[[], Any]) -> Any:
        def alone() -> Any:
            with self.thread_lock:
                return fn()

        async with self.lock:
            # a frame ends at the end of the round under way at the time limit, and
            # each run's step in a round has the time limit (NetworkSession.advance)
            limit = (limits.MAX_NET_RUNS + 1) * limits.TIME_LIMIT
            return await self.work.run(alone, limit=limit)

    async def _send_data_and_frame(self) -> None:
        await self.send(self.session.data_message())
        await self.send(await self.compute(self.session.frame))

    async def handle(self, message: Any) -> None:
        from gdlab.play.network import NetworkSession

        kind = _message_kind(message)
        session = self.session
        if kind == "config":
            # an accepted setup (a slider moved while playing) plays on; a refused one
            # leaves nothing to play or step: not the setup before it, which the page
            # no longer shows
            try:
                self.session = await self.compute(lambda: NetworkSession(message.get("config")))
            except Exception:
                self.session, self.playing = None, False
                raise
            await self._send_data_and_frame()
        elif kind == "pause":  # (also before a config: nothing plays, and it says so)
            self.playing = False
            self.wake.set()
        elif session is None:  # play, step or reset: there is nothing to train
            raise api.PlayError("send a config first", status=409, field="type")
        elif kind == "play":
            self.playing = True
            self.wake.set()
        elif kind == "step":
            await self.send(await self.compute(lambda: (session.advance(), session.frame())[1]))
        else:  # reset
            await self.compute(session.reset)
            await self._send_data_and_frame()
        await self.send({"type": "state", "playing": self.playing})

    async def reader(self) -> None:
        while True:
            text = await self.websocket.receive_text()
            try:
                await self.handle(_parsed_message(text))
            except (WebSocketDisconnect, anyio.get_cancelled_exc_class()):
                raise
            except Exception as err:
                await self.error(err)

    async def player(self) -> None:
        while True:
            session = self.session
            if not self.playing or session is None:
                self.wake.clear()
                await self.wake.wait()
                continue
            started = time.monotonic()
            try:
                frame = await self.compute(lambda s=session: (s.advance(), s.frame())[1])
            except Exception as err:
                self.playing = False
                await self.error(err)
                continue
            if self.session is session and self.playing:
                await self.send(frame)
                if all(run["status"] != "ok" for run in frame["runs"]):
                    self.playing = False
                    await self.send({"type": "state", "playing": False})
            await asyncio.sleep(max(0.0, 1 / MAX_FPS - (time.monotonic() - started)))

    async def serve(self) -> None:
        """Read messages and play frames until the page goes away."""
        async with anyio.create_task_group() as group:

            async def watch(task: Callable[[], Any]) -> None:
                with contextlib.suppress(WebSocketDisconnect):
                    await task()
                group.cancel_scope.cancel()

            group.start_soon(watch, self.reader)
            group.start_soon(watch, self.player)


#: The keys of each kind of message network mode takes (its ``type``).
MESSAGE_KEYS = {
    "config": ("type", "config"),
    "play": ("type",),
    "pause": ("type",),
    "step": ("type",),
    "reset": ("type",),
}


def _message_kind(message: Any) -> str:
    """The ``type`` of a websocket message, checked whole as a request is: an object, a
    known type (400), no key its type does not take (422: ``{"type": "step", "steps":
    3}`` is refused, not stepped once), a config message's ``config``."""
    if not isinstance(message, dict):
        raise api.PlayError(
            f"a message must be a JSON object; got {api._describe(message)}", status=400
        )
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_KEYS:
        raise api.PlayError(
            f"type must be one of {', '.join(MESSAGE_KEYS)}; got {api._describe(kind)}",
            status=400,
            field="type",
        )
    allowed = MESSAGE_KEYS[kind]
    unknown = [key for key in message if key not in allowed]
    if unknown:
        raise api.PlayError(
            f"a {kind} message has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}",
            field=unknown[0],
        )
    if kind == "config" and "config" not in message:
        raise api.PlayError("a config message needs its config", field="config")
    return kind


def _parsed_message(text: str) -> Any:
    """A websocket message's JSON; too long or malformed is a PlayError."""
    if len(text) > limits.MAX_BODY_BYTES:
        raise api.PlayError(f"the message is over {limits.MAX_BODY_BYTES:,} bytes", status=413)
    return _json(text)


def _network_socket(work: _Work, sessions: _Sessions):
    async def socket(websocket: WebSocket) -> None:
        # (its Host and Origin are checked before it opens: _OwnHostOnly)
        await websocket.accept()
        if sessions.open >= limits.MAX_SESSIONS:
            message = f"{limits.MAX_SESSIONS} network sessions are open; close one and try again"
            await websocket.send_text(json.dumps({"type": "error", "error": message}))
            await websocket.close(code=1013)
            return
        sessions.open += 1
        try:
            await _NetworkConnection(websocket, work).serve()
        except Exception:  # a send after the page went away
            log.debug("gdlab play: network socket closed", exc_info=True)
        finally:
            sessions.open -= 1

    return socket


# --------------------------------------------------------------------------- the app


def create_app(*, allowed_hosts: Sequence[str] | None = None) -> Starlette:
    """The ``gdlab play`` application.

    Args:
        allowed_hosts: host names requests may be addressed to (default
            :data:`LOCAL_HOSTS`; ``["*"]`` accepts any, for a server bound to
            every interface).
    """
    from gdlab.play.network import network_toml

    hosts = list(allowed_hosts or LOCAL_HOSTS)
    work = _Work()
    sessions = _Sessions()

    def export_network(body: Any) -> Any:
        body = api._table(body, "request", ["config", "steps"], ["config", "steps"])
        return network_toml(body["config"], body["steps"])

    routes = [
        Route("/", _index),
        Route("/api/health", _health),
        Route("/api/catalog", _endpoint(lambda: api.catalog(), work, body=False)),
        Route("/api/temperatures", _endpoint(lambda: api.temperatures(), work, body=False)),
        Route("/api/surface", _endpoint(api.surface, work), methods=["POST"]),
        Route(
            "/api/paths",
            _endpoint(api.paths, work, known=api.known_paths, timed=True),
            methods=["POST"],
        ),
        Route("/api/export", _endpoint(api.export_toml, work), methods=["POST"]),
        Route("/api/network/export", _endpoint(export_network, work), methods=["POST"]),
        Route("/api/schedule", _endpoint(api.schedule_curve, work), methods=["POST"]),
        Route("/api/ewma", _endpoint(api.ewma_series, work), methods=["POST"]),
        WebSocketRoute("/ws/network", _network_socket(work, sessions)),
        Mount("/static", StaticFiles(packages=[("gdlab.play", "static")]), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_OwnHostOnly, hosts=hosts)],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.sessions = sessions
    return app
