"""Run the API with uvicorn, in one or several worker processes.

Workers are separate processes (each with its own copy of the release index); budgets and
the audit log live in files shared by all of them, so limits hold across workers. Each
worker accepts on a socket of its own, bound to the same port with SO_REUSEPORT, so the
kernel spreads connections evenly over the workers. (uvicorn's own supervisor hands all
workers one socket, and whichever worker is idle first takes the next connection: under
50 keep-alive clients the split was 30/20 to 47/3, one worker queueing for both.) A worker
that dies is started again; one that cannot start stops the server.

A client's address - which anonymous budgets and the audit log are keyed by - is the
socket's peer. uvicorn would otherwise believe `X-Forwarded-For` from any local peer, so
every local client could name its own address and start a fresh budget; the header is read
only from the reverse proxies listed as trusted.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from multiprocessing.context import BaseContext, SpawnProcess
from pathlib import Path
from typing import Any, cast

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from genomics_variants.api.app import create_app
from genomics_variants.api.coalesce import CoalescingHttpToolsProtocol

STORE_ENV = "MEDFOLLOW_VARIANTS_STORE"


def app_from_environment() -> FastAPI:
    """The app over the store named in MEDFOLLOW_VARIANTS_STORE (uvicorn factory).

    Everything alive once the app is built (modules, routes, the release index) lives as
    long as the worker: `gc.freeze()` moves it out of the collector's way, so the frequent
    collections that short-lived request objects trigger no longer walk it.
    """
    app = create_app(Path(os.environ[STORE_ENV]))
    gc.collect()
    gc.freeze()
    return app


def uvicorn_options(trusted_proxies: Sequence[str] = ()) -> dict[str, Any]:
    """How uvicorn runs the app: client addresses from the socket, or from
    `X-Forwarded-For` only when the peer is one of `trusted_proxies` (addresses or
    networks, as uvicorn's --forwarded-allow-ips takes them)."""
    return {
        "loop": "uvloop",
        "http": CoalescingHttpToolsProtocol,  # httptools, one write per response
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": list(trusted_proxies),
    }


def serve(
    store: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    trusted_proxies: Sequence[str] = (),
) -> None:
    """Serve until interrupted."""
    os.environ[STORE_ENV] = str(Path(store).resolve())
    options = {"host": host, "port": port, **uvicorn_options(trusted_proxies)}
    if workers <= 1:
        uvicorn.run(APP, factory=True, **options)
        return
    _check_address(host, port)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as uvicorn's
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    running = [_start(context, options) for _ in range(workers)]
    try:
        while not stopping.wait(0.5):
            for i, process in enumerate(running):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    raise SystemExit("an API worker could not start; stopping")
                running[i] = _start(context, options)
    finally:
        for process in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes what it is answering
        for process in running:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join()


APP = "genomics_variants.api.server:app_from_environment"


def _check_address(host: str, port: int) -> None:
    """Refuse, in one line, an address the workers could not bind (taken, not local)."""
    with contextlib.closing(_listening_socket(host, port, listen=False)):
        pass


def _listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT (one per worker, same port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if listen:
            sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot serve on {host}:{port}: {exc.strerror}") from None
    return sock


def _start(context: BaseContext, options: dict[str, Any]) -> SpawnProcess:
    process = context.Process(target=_worker, args=(options,), daemon=True)  # type: ignore[attr-defined]
    process.start()
    return cast(SpawnProcess, process)


def _worker(options: dict[str, Any]) -> None:
    """One worker process: its own socket on the shared port, one uvicorn server on it."""
    sock = _listening_socket(options["host"], options["port"])
    server = uvicorn.Server(uvicorn.Config(APP, factory=True, **options))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)
