"""Run the API with uvicorn, in one or several worker processes.

Workers are separate processes (each with its own copy of the release index); budgets and
the audit log live in files shared by all of them, so limits hold across workers. Several
workers each accept on sockets of their own on the same port (workers.py).

A client's address - which anonymous budgets and the audit log are keyed by - is the
socket's peer. uvicorn would otherwise believe `X-Forwarded-For` from any local peer, so
every local client could name its own address and start a fresh budget; the header is read
only from the reverse proxies listed as trusted.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from genomics_variants.api.app import create_app
from genomics_variants.api.coalesce import CoalescingHttpToolsProtocol
from genomics_variants.api.workers import run as run_workers

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
    else:
        run_workers(APP, workers, options)


APP = "genomics_variants.api.server:app_from_environment"
