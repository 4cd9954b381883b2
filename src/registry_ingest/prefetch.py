"""Run a generator one or two steps ahead in a worker thread.

Loading is a two-stage pipeline: the client types and validates a batch while the server
parses the COPY of the previous one. With two cores both stages can run at once; Arrow,
pandas and socket I/O release the GIL, so a thread is enough.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


class _Done:
    """The type of the end-of-source marker."""


_DONE = _Done()


def prefetch(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield ``source``'s items, produced up to ``depth`` ahead; its exceptions re-raise here."""
    items: queue.Queue[T | _Done | BaseException] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: T | _Done | BaseException) -> bool:
        """Hand ``item`` over unless the consumer has stopped; a blocking put would leave
        this thread waiting for ever on a consumer that failed and went away."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:
            put(exc)

    worker = threading.Thread(target=produce, name="medfollow-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
