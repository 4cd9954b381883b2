"""Keep a few long-running child processes alive, and stop them cleanly.

Each service runs in a process group of its own (it may fork workers: the scheduler's local
executor, the API server's uvicorn) with its output appended to ``<logs>/<name>.log`` and its
pid in ``<logs>/<name>.pid``. A service that exits is started again after a delay that
doubles from ``first_delay`` up to ``max_delay`` while it keeps dying, and starts over once
it has stayed up for ``stable_after`` seconds. SIGINT or SIGTERM stops every group with
SIGTERM, and SIGKILL for what is still there after ``grace`` seconds. Processes that left
their service's group (Airflow starts each task in a session of its own) are found by
walking ``/proc`` from the service down and are signalled one by one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

Say = Callable[[str], None]


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]


@dataclass
class _Running:
    service: Service
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = 0.0
    restart_at: float | None = None


class Supervisor:
    def __init__(
        self,
        services: list[Service],
        *,
        logs: Path,
        env: dict[str, str],
        say: Say,
        first_delay: float = 1.0,
        max_delay: float = 60.0,
        stable_after: float = 60.0,
        grace: float = 30.0,
    ) -> None:
        self.logs = logs
        self.env = env
        self.say = say
        self.first_delay, self.max_delay = first_delay, max_delay
        self.stable_after, self.grace = stable_after, grace
        self._running = [_Running(s, delay=first_delay) for s in services]
        self._stop_signal: int | None = None

    def run(self, *, ready: Callable[[], bool] | None = None, on_ready: Say | None = None) -> int:
        """Start every service and keep them up until SIGINT/SIGTERM; then stop them and
        return 0. ``ready`` is polled until true, then ``on_ready`` is told once."""
        self.logs.mkdir(parents=True, exist_ok=True)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for entry in self._running:
                self._start(entry)
            announced = ready is None
            while self._stop_signal is None:
                for entry in self._running:
                    self._check(entry)
                if not announced and ready is not None and ready():
                    announced = True
                    if on_ready is not None:
                        on_ready("ready")
                time.sleep(0.5)
            self.say(f"received {signal.Signals(self._stop_signal).name}: stopping services")
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    # -- internals -------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop_signal = signum

    def _start(self, entry: _Running) -> None:
        name = entry.service.name
        with (self.logs / f"{name}.log").open("ab") as log:
            entry.process = subprocess.Popen(
                entry.service.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # its own group: Ctrl-C reaches us, we stop it
            )
        entry.started = time.monotonic()
        entry.restart_at = None
        (self.logs / f"{name}.pid").write_text(f"{entry.process.pid}\n")
        self.say(f"{name}: started (pid {entry.process.pid}, log {self.logs / f'{name}.log'})")

    def _check(self, entry: _Running) -> None:
        now = time.monotonic()
        if entry.restart_at is not None:
            if now >= entry.restart_at:
                self._start(entry)
            return
        assert entry.process is not None
        code = entry.process.poll()
        if code is None:
            return
        _kill_group(entry.process.pid, signal.SIGKILL)  # leftovers of the dead service
        if now - entry.started >= self.stable_after:
            entry.delay = self.first_delay
        self.say(
            f"{entry.service.name}: exited with {code}; restarting in {entry.delay:g} s "
            f"(see {self.logs / f'{entry.service.name}.log'})"
        )
        entry.restart_at = now + entry.delay
        entry.delay = min(self.max_delay, entry.delay * 2)

    def _stop_all(self) -> None:
        alive = [e.process for e in self._running if e.process and e.process.poll() is None]
        tree = {pid for process in alive for pid in _descendants(process.pid)}
        for process in alive:
            _kill_group(process.pid, signal.SIGTERM)
        for pid in tree:
            _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in alive:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"pid {process.pid} did not stop within {self.grace:.0f} s: killed")
        while tree and time.monotonic() < deadline and any(_exists(p) for p in tree):
            time.sleep(0.2)
        for process in alive:
            _kill_group(process.pid, signal.SIGKILL)  # stragglers of the group, if any
            process.wait()
        for pid in tree:
            _kill(pid, signal.SIGKILL)
        for entry in self._running:
            (self.logs / f"{entry.service.name}.pid").unlink(missing_ok=True)
        self.say("all services stopped")


def _descendants(root: int) -> set[int]:
    """``root``'s children, their children and so on (from ``/proc``: Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _exists(pid: int) -> bool:
    """Whether ``pid`` is still a live process (a zombie is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
