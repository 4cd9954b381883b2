"""Several API worker processes on one port, each accepting on sockets of its own.

uvicorn's own supervisor hands every worker the same listening socket, and whichever worker
is idle first takes the next connection: under 50 keep-alive clients two workers split them
30/20, 36/14 and 47/3, so one queued for both. Here each worker binds its own sockets to the
address with SO_REUSEPORT and the kernel spreads connections over them by hash.

The supervisor (`run`) refuses an address anyone already listens on (a second server on
the same port would otherwise share it silently), restarts a worker that dies, and stops
everything on SIGINT, SIGTERM or SIGHUP, or when a worker cannot start: it says why in one
line rather than restarting it forever. A worker whose supervisor is gone (killed with
SIGKILL, say) finishes what it is answering and exits. (What SO_REUSEPORT costs: connections
still waiting in a worker's accept queue when that worker dies are reset, not taken over by
the others; clients retry them.)
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
import traceback
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from medfollow_core.errors import MedfollowError

QUICK_DEATH_SECONDS = 10.0  # a worker dying sooner than this after its start died young
QUICK_DEATHS = 3  # this many young deaths in a row stop the server
Address = tuple[int, int, int, Any]  # family, type, protocol, socket address


def addresses(host: str, port: int) -> list[Address]:
    """Every address `host` names (a name may have an IPv4 and an IPv6 one), each once."""
    if not 1 <= port <= 65535:
        raise MedfollowError(f"the port must be from 1 to 65535 with several workers, not {port}")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise MedfollowError(f"cannot serve on {host}:{port}: {_reason(exc)}") from None
    unique: dict[Any, Address] = {}
    for family, kind, proto, _, address in found:
        unique.setdefault(address, (family, kind, proto, address))
    return list(unique.values())


def refuse_taken(host: str, port: int) -> None:
    """Refuse an address that is already served: a socket without SO_REUSEPORT cannot bind
    where anyone listens, with SO_REUSEPORT or without."""
    for family, kind, proto, address in addresses(host, port):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise MedfollowError(f"cannot serve on {host}:{port}: {_reason(exc)}") from None


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """One worker's sockets: every address of `host`, bound with SO_REUSEPORT."""
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, address in addresses(host, port):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(2048)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise MedfollowError(f"cannot serve on {host}:{port}: {_reason(exc)}") from None
    return sockets


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def run(app: str, count: int, options: dict[str, Any]) -> None:
    """Serve `app` (an import string of an app factory) with `count` worker processes until
    a stop signal; `options` are uvicorn's (host and port included)."""
    refuse_taken(options["host"], options["port"])
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as uvicorn's
    stopping = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, lambda *_: stopping.set())
    running = [_start(context, app, options) for _ in range(count)]
    young = 0
    try:
        while not stopping.wait(0.5):
            for i, (process, started) in enumerate(running):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    raise MedfollowError("an API worker could not start (above); stopping")
                young = young + 1 if time.monotonic() - started < QUICK_DEATH_SECONDS else 0
                if young >= QUICK_DEATHS:
                    raise MedfollowError(
                        f"API workers died within {QUICK_DEATH_SECONDS:.0f} s of starting "
                        f"{QUICK_DEATHS} times in a row; stopping"
                    )
                running[i] = _start(context, app, options)
    finally:
        _stop([process for process, _ in running])
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _start(context: SpawnContext, app: str, options: dict[str, Any]) -> tuple[SpawnProcess, float]:
    process = context.Process(target=_worker, args=(app, options), daemon=True)
    process.start()
    return process, time.monotonic()


def _stop(processes: list[SpawnProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes what it is answering
    for process in processes:
        process.join(timeout=15)
        if process.is_alive():
            process.kill()
            process.join()


def _worker(app: str, options: dict[str, Any]) -> None:
    """One worker process: its own sockets, one uvicorn server on them. A failure before it
    serves is said in one line (a traceback only for the unexpected) and exits with
    uvicorn's STARTUP_FAILURE, which stops the supervisor instead of a restart loop."""
    server: uvicorn.Server | None = None
    try:
        sockets = listening_sockets(options["host"], options["port"])
        server = uvicorn.Server(uvicorn.Config(app, factory=True, **options))
        _exit_with_parent(server)
        server.run(sockets=sockets)
    except Exception as exc:
        if server is not None and server.started:
            raise
        if isinstance(exc, MedfollowError):
            print(f"error: {exc}", file=sys.stderr, flush=True)
        else:
            traceback.print_exc()
        os._exit(STARTUP_FAILURE)
    if not server.started:
        os._exit(STARTUP_FAILURE)


def _exit_with_parent(server: uvicorn.Server) -> None:
    """Stop the server (gracefully) once the supervisor process is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        server.should_exit = True

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
