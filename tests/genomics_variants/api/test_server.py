"""The API's worker processes as `medfollow variants serve --workers N` runs them
(api/workers.py): each on sockets of its own, a dead one replaced, all stopped by one
signal or when their supervisor is gone, and whatever stops it from serving said in one
line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from genomics_variants.contributions.store import Store


def _command(store: Store, port: int, workers: int = 2) -> list[str]:
    return [
        *(sys.executable, "-m", "medfollow.cli.main", "variants", "serve"),
        *("--store", str(store.root), "--port", str(port), "--workers", str(workers)),
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(parent: int) -> set[int]:
    """A process's children but multiprocessing's resource tracker (its workers)."""
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
        if int(fields.get("PPid", "0").strip() or 0) == parent and "Z" not in fields["State"]:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


def _wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
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
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1
        for row in rows
        if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A"  # LISTEN
    )


@pytest.fixture
def server(api: dict[str, object]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    store: Store = api["store"]  # type: ignore[assignment]
    port = _free_port()
    process = subprocess.Popen(_command(store, port))
    try:
        _wait_for(lambda: _listeners(port) == 2 and _answers(port, str(api["common"])))
        yield process, port
    finally:
        for child in _children(process.pid):
            os.kill(child, signal.SIGTERM)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_each_worker_accepts_on_its_own_socket_and_a_dead_one_is_replaced(
    api: dict[str, object], server: tuple[subprocess.Popen[bytes], int]
) -> None:
    process, port = server
    first = _children(process.pid)
    assert len(first) == 2 and _listeners(port) == 2
    os.kill(min(first), signal.SIGKILL)
    _wait_for(lambda: len(_children(process.pid) - {min(first)}) == 2 and _listeners(port) == 2)
    assert _answers(port, str(api["common"]))
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert not _children(process.pid) and _listeners(port) == 0


def test_workers_stop_when_their_supervisor_is_killed(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = server
    workers = _children(process.pid)
    process.kill()
    process.wait()
    _wait_for(lambda: not any(_alive(pid) for pid in workers), seconds=30)
    assert _listeners(port) == 0


def test_a_second_server_on_the_same_port_is_refused_in_one_line(
    api: dict[str, object], server: tuple[subprocess.Popen[bytes], int]
) -> None:
    store: Store = api["store"]  # type: ignore[assignment]
    _, port = server
    second = subprocess.run(_command(store, port), capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert (
        second.stderr.strip() == f"error: cannot serve on 127.0.0.1:{port}: Address already in use"
    )
    assert _listeners(port) == 2


def test_an_address_that_cannot_be_served_is_refused_in_one_line(api: dict[str, object]) -> None:
    store: Store = api["store"]  # type: ignore[assignment]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(_command(store, port), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: cannot serve on 127.0.0.1:{port}: Address already in use"
    far = subprocess.run(_command(store, 70000), capture_output=True, text=True, timeout=60)
    assert far.returncode == 1 and "Traceback" not in far.stderr
    assert (
        far.stderr.strip()
        == "error: the port must be from 1 to 65535 with several workers, not 70000"
    )


def test_workers_that_cannot_start_stop_the_server_in_one_line_each(
    api: dict[str, object],
) -> None:
    """A setting every worker refuses stops the server instead of restarting workers
    forever, and says why without a traceback."""
    store: Store = api["store"]  # type: ignore[assignment]
    environment = {**os.environ, "MEDFOLLOW_VARIANT_CACHE_MB": "plenty"}
    done = subprocess.run(
        _command(store, _free_port()), capture_output=True, text=True, timeout=120, env=environment
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert "error: MEDFOLLOW_VARIANT_CACHE_MB must be a number of megabytes" in lines
    assert lines[-1] == "error: an API worker could not start (above); stopping"
