"""Starting ``gdlab play``: bind a port, serve the app with uvicorn, open the browser."""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
import webbrowser
from typing import TextIO

from gdlab.play.app import LOCAL_HOSTS, create_app

__all__ = ["DEFAULT_PORT", "PORTS_TRIED", "PortBusyError", "bind", "serve"]

#: The port tried first when none is given.
DEFAULT_PORT = 8765
#: How many ports from the default are tried when none is given.
PORTS_TRIED = 20


class PortBusyError(OSError):
    """The port asked for is in use (the message names it)."""


def _socket_for(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise OSError(f"cannot listen on host {host!r}: {error.strerror or error}") from None
    sock = socket.socket(family, kind, proto)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind(host: str, port: int | None) -> tuple[socket.socket, int, str | None]:
    """A listening socket on ``host``: on ``port``, or the first free one from
    :data:`DEFAULT_PORT` when ``port`` is ``None``.

    Returns ``(socket, port, note)``; ``note`` says when the default port was busy.

    Raises:
        PortBusyError: ``port`` (given) is in use, or all :data:`PORTS_TRIED` are.
        OSError: any other reason the host cannot be listened on.
    """
    if port is not None:
        try:
            sock = _socket_for(host, port)
            return sock, sock.getsockname()[1], None  # port 0: the one the system chose
        except OSError as error:
            if error.errno is None:  # the host itself (already a full message)
                raise
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                why = "is busy" if error.errno == errno.EADDRINUSE else "is not allowed"
                raise PortBusyError(
                    f"port {port} on {host} {why}; choose another with --port N "
                    "(or leave --port out to pick a free one)"
                ) from None
            raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + PORTS_TRIED):
        try:
            sock = _socket_for(host, candidate)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                continue
            if error.errno is None:
                raise
            raise OSError(f"cannot listen on {host}:{candidate}: {error.strerror}") from None
        note = None
        if candidate != DEFAULT_PORT:
            note = f"port {DEFAULT_PORT} is busy; using port {candidate}"
        return sock, candidate, note
    last = DEFAULT_PORT + PORTS_TRIED - 1
    raise PortBusyError(
        f"ports {DEFAULT_PORT} to {last} on {host} are all busy; choose one with --port N"
    )


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def serve(
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    open_browser: bool = True,
    out: TextIO | None = None,
    processes: int | None = None,
) -> int:
    """Serve ``gdlab play`` until Ctrl-C; return 0.

    Binds to ``host`` (loopback by default: nothing outside this machine can
    reach it) on ``port`` or the first free port from :data:`DEFAULT_PORT`,
    prints the address (and why the port differs, if it does), and opens the
    page in the default browser unless ``open_browser`` is false. 2-D runs
    are computed in ``processes`` worker processes (default
    :func:`default_processes`; 0 computes them in threads of this process).
    """
    import anyio.to_thread
    import uvicorn

    out = sys.stdout if out is None else out
    sock, port, note = bind(host, port)
    local = host in LOCAL_HOSTS
    app = create_app(allowed_hosts=None if local else ["*"])
    url = _url(host, port)
    if note:
        print(f"gdlab play: {note}", file=out)
    if not local:
        print(
            f"gdlab play: listening on {host}: other machines on your network can use it", file=out
        )
    print(f"gdlab play: {url}  (Ctrl-C to stop)", file=out, flush=True)
    config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio", lifespan="off")
    server = uvicorn.Server(config)
    from gdlab.play import api

    shutdown = server.shutdown

    async def shutdown_and_stop(sockets: list[socket.socket] | None = None) -> None:
        # The worker processes end with the server, before uvicorn raises a
        # signal it caught again (SIGTERM would end this process at once).
        await shutdown(sockets=sockets)
        await anyio.to_thread.run_sync(api.stop_processes, True)

    server.shutdown = shutdown_and_stop  # type: ignore[method-assign]
    if open_browser:

        def opener() -> None:
            for _ in range(200):
                if server.started:
                    webbrowser.open(url)
                    return
                if server.should_exit:
                    return
                threading.Event().wait(0.05)

        threading.Thread(target=opener, daemon=True).start()
    # 2-D runs in worker processes (their kernels compiled by the warm-up, which
    # goes through them), every optimizer's kernels compiled and the data loaded
    # while the page opens
    api.start_processes(default_processes() if processes is None else processes)
    threading.Thread(target=api.warm_up, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        api.stop_processes()
    return 0


def default_processes() -> int:
    """Worker processes for 2-D runs: a core left to the server, but at least two (a
    request that needs a run then rarely waits for another's), at most four."""
    return max(2, min(4, (os.cpu_count() or 2) - 1))
