"""The API's worker processes as `medfollow variants serve --workers N` runs them: each
on its own SO_REUSEPORT socket, a dead one replaced, all stopped by one signal, and an
address that cannot be served refused in one line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from genomics_variants.contributions.store import Store

START = (
    "import sys; from pathlib import Path; from genomics_variants.api.server import serve; "
    "serve(Path(sys.argv[1]), port=int(sys.argv[2]), workers=2)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _workers(parent: int) -> set[int]:
    """The worker processes of a server: its children but multiprocessing's resource
    tracker."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            if b"resource_tracker" in (entry / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip() or 0) == parent:
            found.add(int(entry.name))
    return found


def _wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _answers(port: int, variant: str) -> bool:
    try:
        url = f"http://127.0.0.1:{port}/variants/{variant}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(json.loads(response.read())["variant_id"])
    except OSError:
        return False


def _listeners(port: int) -> int:
    """How many sockets listen on the port (one per worker)."""
    hex_port = f"{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for row in rows if row.split()[1].endswith(f":{hex_port}") and row.split()[3] == "0A"
    )


@pytest.fixture
def server(api: dict[str, object]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    store: Store = api["store"]  # type: ignore[assignment]
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", START, str(store.root), str(port)])
    try:
        _wait_for(lambda: _listeners(port) == 2 and _answers(port, str(api["common"])))
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_each_worker_accepts_on_its_own_socket_and_a_dead_one_is_replaced(
    api: dict[str, object], server: tuple[subprocess.Popen[bytes], int]
) -> None:
    process, port = server
    first = _workers(process.pid)
    assert len(first) == 2 and _listeners(port) == 2
    os.kill(min(first), signal.SIGKILL)
    _wait_for(lambda: len(_workers(process.pid) - {min(first)}) == 2 and _listeners(port) == 2)
    assert _answers(port, str(api["common"]))
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert not _workers(process.pid) and _listeners(port) == 0


def test_an_address_in_use_is_refused_in_one_line(api: dict[str, object]) -> None:
    store: Store = api["store"]  # type: ignore[assignment]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", START, str(store.root), str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.strip() == f"cannot serve on 127.0.0.1:{port}: Address already in use"
