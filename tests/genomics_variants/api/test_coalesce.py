"""Writes of one event-loop turn leave as one (api/coalesce.py), in order, and none is
lost or sent after the connection is closed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

from genomics_variants.api.coalesce import CoalescedWrites, CoalescingHttpToolsProtocol


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def _turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_a_head_and_body_written_in_one_turn_leave_as_one_write() -> None:
    async def scenario() -> _Transport:
        transport = _Transport()
        coalesced = CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        coalesced.write(b"HTTP/1.1 200 OK\r\n\r\n")
        coalesced.write(b"")
        coalesced.write(b'{"a": 1}')
        assert transport.writes == []  # nothing yet: the turn is not over
        await _turn()
        coalesced.write(b"next")
        await _turn()
        assert coalesced.get_extra_info("peername") == "info:peername"  # passed through
        return transport

    transport = asyncio.run(scenario())
    assert transport.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"a": 1}', b"next"]


def test_close_sends_what_waits_first_and_abort_drops_it() -> None:
    async def scenario() -> tuple[_Transport, _Transport]:
        loop = asyncio.get_running_loop()
        closed, aborted = _Transport(), _Transport()
        first = CoalescedWrites(closed, loop)  # type: ignore[arg-type]
        first.write(b"last words")
        first.close()
        second = CoalescedWrites(aborted, loop)  # type: ignore[arg-type]
        second.write(b"never sent")
        second.abort()
        await _turn()  # the scheduled flushes find nothing to send
        return closed, aborted

    closed, aborted = asyncio.run(scenario())
    assert closed.writes == [b"last words"] and closed.closed
    assert aborted.writes == [] and aborted.aborted


async def _slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An answer worked out on the event loop, long enough for the client's FIN to arrive."""
    if scope["type"] != "http":
        return
    time.sleep(0.1)
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer() -> None:
    """A client may shut down its sending side right after the request (`nc -N`, some
    health checks); uvloop then closes the transport itself, so what waits to be joined
    must go out first (it was lost: found in review)."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    config = uvicorn.Config(
        _slow_app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,
        log_level="error",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.02)
                client.shutdown(socket.SHUT_WR)
                received = b""
                while chunk := client.recv(65536):
                    received += chunk
            assert received.startswith(b"HTTP/1.1 200 OK") and received.endswith(b'{"ok":true}')
    finally:
        server.should_exit = True
        thread.join(10)
