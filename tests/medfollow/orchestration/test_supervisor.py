"""The supervisor behind ``medfollow airflow``: restarts with backoff, stops everything.

Each case runs a real supervisor in a child Python (signal handlers belong to a main
thread) over small real services, and signals it as an operator would."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from medfollow.orchestration.supervisor import Service, Supervisor

    logs, grace, *commands = sys.argv[1:]
    services = [Service(f"s{i}", [sys.executable, "-c", c]) for i, c in enumerate(commands)]
    supervisor = Supervisor(
        services, logs=Path(logs), env=dict(__import__("os").environ),
        say=lambda line: print(line, flush=True),
        first_delay=0.2, max_delay=0.8, stable_after=100, grace=float(grace),
    )
    sys.exit(supervisor.run())
    """
)


def _supervise(tmp_path: Path, *commands: str, grace: float = 5) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path / "logs"), str(grace), *commands],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, ... (None once gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def test_a_dying_service_is_restarted_with_growing_delays(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    dying = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    supervisor = _supervise(tmp_path, dying)
    # four starts (three restarts); on a loaded machine each Python start takes a while
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not starts.exists() or len(starts.read_text()) < 4):
        time.sleep(0.1)
    supervisor.send_signal(signal.SIGTERM)
    output, _ = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 0, output
    delays = [float(d) for d in re.findall(r"exited with 3; restarting in ([\d.]+) s", output)]
    assert delays[:3] == [0.2, 0.4, 0.8], output  # doubling ...
    assert set(delays[3:]) <= {0.8}, output  # ... up to the cap
    assert len(starts.read_text()) >= 4, output  # and it really was started again
    assert "all services stopped" in output


def test_sigterm_stops_every_service_and_everything_it_started(tmp_path: Path) -> None:
    forking = (
        "import subprocess, time; subprocess.Popen(['sleep', '300']);"
        " subprocess.Popen(['sleep', '301'], start_new_session=True); time.sleep(300)"
    )
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    supervisor = _supervise(tmp_path, forking, stubborn, grace=1)
    logs = tmp_path / "logs"
    deadline = time.monotonic() + 20
    while len(list(logs.glob("*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # let the forking service start its child
    pids = [int(p.read_text()) for p in logs.glob("*.pid")]
    group = [
        int(p.name)
        for p in Path("/proc").glob("[0-9]*")
        if (fields := _stat(p.name)) is not None and int(fields[1]) in pids
    ] + pids
    # two services, a child in the group of one and a child in a session of its own (as
    # Airflow starts its task processes)
    assert len(group) >= 4
    started = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    output, _ = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 0, output
    assert time.monotonic() - started < 10
    assert "did not stop within 1 s: killed" in output  # the one ignoring SIGTERM
    assert not [pid for pid in group if _alive(pid)], output
    assert not list(logs.glob("*.pid")), "pid files are removed on a clean stop"
