"""Run the API with uvicorn, in one or several worker processes.

Workers are separate processes (each with its own copy of the release index); budgets and
the audit log live in files shared by all of them, so limits hold across workers.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from genomics_variants.api.app import create_app

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


def serve(store: Path, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve until interrupted."""
    os.environ[STORE_ENV] = str(Path(store).resolve())
    uvicorn.run(
        "genomics_variants.api.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
