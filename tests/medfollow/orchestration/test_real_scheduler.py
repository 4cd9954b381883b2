"""Two monthly delivery rounds through a real deployment, with nobody triggering anything.

``medfollow airflow --executor celery`` runs the scheduler, DAG processor, triggerer and API
server on PostgreSQL metadata; a Celery worker (``medfollow airflow worker``, on the
machine's Redis) runs every task. The test only drops deliveries into the landing area
and watches the metadata database and the warehouse: ingest, linkage, dbt and the release
of each cut-off must follow on their own, each round's rows must be checked against that
round's CPR register, genomes must wait for the opt-out register, and a delivery dropped
again must not load twice. It prints the real-scheduler timings the README quotes.

Select it alone with ``pytest -m real_scheduler``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from medfollow_core.landing.contracts import all_contracts
from medfollow_core.landing.manifest import Manifest
from support.marts import GENOMIC_MARTS
from synthetic_deliveries import generate_rounds

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.real_scheduler]

REDIS = "redis://127.0.0.1:6379/11"  # a database number of its own; the queue is per run
READY_TIMEOUT = 240.0
POLL_SECONDS = 120
SLOTS = 24
"""Worker slots: every landing sensor (12) holds one while it pokes, and tasks need more."""
MEDFOLLOW = str(Path(sys.executable).parent / "medfollow")


@dataclass
class Deployment:
    """The running services and where to look at them."""

    root: Path
    shared: Path
    warehouse_url: str
    metadata_url: str
    password: str
    key_hex: str
    control: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    dropped: list[Path] = field(default_factory=list)

    @property
    def landing(self) -> Path:
        return self.shared / "landing"

    @property
    def releases(self) -> Path:
        return self.shared / "releases"

    def service_logs(self) -> list[Path]:
        return [
            *sorted(self.root.glob("*/airflow/services/*.log")),
            self.root / "control.log",
            self.root / "worker.log",
        ]

    def service_pids(self) -> list[int]:
        """The services and everything they have started (not the supervisors: they are
        the operator's own commands, started with the operator's environment)."""
        supervisors = [p.pid for p in (self.control, self.worker) if p is not None]
        return [p for p in _with_descendants(supervisors) if p not in supervisors]

    def drop(self, landing: Path, *, rename: str | None = None) -> list[Manifest]:
        """Put every delivery folder under ``landing`` into the landing area the way a
        sender should: written elsewhere on the same file system, then renamed into place,
        so a sensor never sees half a delivery."""
        manifests = []
        incoming = self.shared / ".incoming"
        for manifest_file in sorted(landing.glob("*/*/manifest.json")):
            folder = manifest_file.parent
            name = f"{folder.name}{rename or ''}"
            staged = incoming / folder.parent.name / name
            shutil.copytree(folder, staged)
            target = self.landing / folder.parent.name / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged, target)
            self.dropped.append(target)
            manifests.append(Manifest.read(target))
        return manifests

    def query(self, url: str, text: str, *args: object) -> list[tuple[object, ...]]:
        with psycopg.connect(url) as conn:
            return conn.execute(text, args).fetchall()  # type: ignore[arg-type]

    def diagnostics(self) -> str:
        """What went on, for a failure message: runs, failed tasks, deliveries, log tails."""
        runs = self.query(
            self.metadata_url,
            "select dag_id, run_type, state, count(*) from dag_run group by 1, 2, 3 order by 1",
        )
        failed = self.query(
            self.metadata_url,
            "select dag_id, task_id, map_index, state from task_instance "
            "where state in ('failed', 'upstream_failed') order by 1, 2 limit 30",
        )
        deliveries = self.query(
            self.warehouse_url,
            "select source, delivery_id, status, left(coalesce(reason, ''), 120) "
            "from audit.deliveries order by started_at",
        )
        tails = []
        for log in self.service_logs():
            if log.exists():
                lines = log.read_text(errors="replace").splitlines()[-4:]
                tails.append(f"--- {log.relative_to(self.root)}\n" + "\n".join(lines))
        return "\n".join(
            [f"runs: {runs}", f"failed tasks: {failed}", f"deliveries: {deliveries}", *tails]
        )


def _with_descendants(roots: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _free_port() -> int:
    """A port with the next two free too (the services' log servers sit beside it)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < 65000 and all(_can_bind(port + i) for i in (1, 2)):
            return port
    raise RuntimeError("no three consecutive free ports")


def _can_bind(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _clean_env(state: Path) -> dict[str, str]:
    """This test process's environment without its Airflow and medfollow settings (the test
    session configured a dag.test() Airflow in it)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "MEDFOLLOW_", "DBT_", "_AIRFLOW"))
    }
    env["MEDFOLLOW_STATE_DIR"] = str(state)
    return env


def _wait_ready(process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        if log.exists() and " ready" in log.read_text():
            return
        time.sleep(1)
    raise AssertionError(f"{what} not ready after {READY_TIMEOUT:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 90) -> int | None:
    """SIGTERM a supervisor and wait for it (it stops its services first)."""
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None


@pytest.fixture(scope="module")
def deployment(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tag = uuid.uuid4().hex[:10]
    role, password = f"medfollow_rt_{tag}", secrets.token_hex(12)
    warehouse_db, metadata_db = f"medfollow_rt_{tag}", f"medfollow_rt_{tag}_airflow"
    parts = urlsplit(server_url)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"create role {role} login superuser password '{password}'")
        conn.execute(f'create database "{warehouse_db}" owner {role}')
    host = f"{parts.hostname}:{parts.port or 5432}"
    root = tmp_path_factory.mktemp("real-scheduler")
    deployment = Deployment(
        root=root,
        shared=root / "shared",
        warehouse_url=f"postgresql://{role}:{password}@{host}/{warehouse_db}",
        # created by `medfollow airflow` itself (it creates a metadata database it names)
        metadata_url=parts._replace(path=f"/{metadata_db}").geturl(),
        password=password,
        key_hex=os.environ["MEDFOLLOW_PSEUDONYM_KEY"],
    )
    key_file = root / "pseudonym.key"
    key_file.write_text(deployment.key_hex + "\n")
    key_file.chmod(0o600)
    port, queue = _free_port(), f"medfollow-rt-{tag}"
    api_url = f"http://127.0.0.1:{port}"
    common = {
        "MEDFOLLOW_SHARED_ROOT": str(deployment.shared),
        # poll the landing area every 2 minutes: sensors poke every 10 s, each holding a slot
        # (SLOTS leaves room for the loads beside the dozen sensors)
        "MEDFOLLOW_LANDING_POLL_SECONDS": str(POLL_SECONDS),
        "MEDFOLLOW_AIRFLOW_BROKER_URL": REDIS,
        "MEDFOLLOW_AIRFLOW_DATABASE_URL": deployment.metadata_url,
        # a deployment without the genomic research marts (pharmacogenetics, FH), as one
        # without genomes runs: the DAG processor and the worker must agree on what is left
        # out (the dag.test() end-to-end test and tests/dbt build them)
        "MEDFOLLOW_DBT_EXCLUDE": " ".join(GENOMIC_MARTS),
    }
    control_env = _clean_env(root / "control") | common
    control_env |= {
        "MEDFOLLOW_DATABASE_URL": deployment.warehouse_url,
        "MEDFOLLOW_PSEUDONYM_KEY_FILE": str(key_file),
    }
    # The worker knows where the warehouse is (dbt's profile and asset names read it) but
    # holds no password and no key: its tasks get both from the API server.
    worker_env = _clean_env(root / "worker") | common
    worker_env |= {
        "MEDFOLLOW_DATABASE_URL": deployment.warehouse_url.replace(f":{password}@", "@"),
        "MEDFOLLOW_WH_HOST": parts.hostname or "127.0.0.1",
        "MEDFOLLOW_WH_PORT": str(parts.port or 5432),
        "MEDFOLLOW_WH_USER": role,
        "MEDFOLLOW_WH_DBNAME": warehouse_db,
        "MEDFOLLOW_PSEUDONYM_KEY_FILE": str(root / "no-key-file"),
    }
    control_log, worker_log = root / "control.log", root / "worker.log"
    try:
        with control_log.open("wb") as out:
            deployment.control = subprocess.Popen(
                [
                    MEDFOLLOW,
                    "airflow",
                    "--executor",
                    "celery",
                    "--port",
                    str(port),
                    "--queue",
                    queue,
                    "--parallelism",
                    str(SLOTS),
                    "--dbt-slots",
                    "2",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=control_env,
                start_new_session=True,
            )
        _wait_ready(deployment.control, control_log, "medfollow airflow")
        with worker_log.open("wb") as out:
            deployment.worker = subprocess.Popen(
                [
                    MEDFOLLOW,
                    "airflow",
                    "worker",
                    "--api-url",
                    api_url,
                    "--queue",
                    queue,
                    "--concurrency",
                    str(SLOTS),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=worker_env,
                start_new_session=True,
            )
        _wait_ready(deployment.worker, worker_log, "medfollow airflow worker")
        yield deployment
    finally:
        stop(deployment.worker)
        stop(deployment.control)
        with psycopg.connect(admin, autocommit=True) as conn:
            for db in (warehouse_db, metadata_db):
                conn.execute(f'drop database if exists "{db}" with (force)')
            # (a role that granted the platform's group roles stays: harmless, named per run)
            with contextlib.suppress(psycopg.errors.DependentObjectsStillExist):
                conn.execute(f"drop role if exists {role}")


CUTOFFS = [date(2026, 8, 31), date(2026, 9, 30)]
ROUND_TIMEOUT = 900.0
"""Seconds a round may take from its drop: under 2 minutes beside the rest of the suite on
2 cores (one dbt task per layer), so several times that on a slower machine."""


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("rounds")
    generate_rounds(out, persons=400, seed=5, genomes=8, cutoffs=CUTOFFS)
    return [out / "rounds" / cutoff.isoformat() / "landing" for cutoff in CUTOFFS]


def _wait_for_round(deployment: Deployment, manifests: list[Manifest], cutoff: date) -> float:
    """Seconds until every delivery of the round is loaded and its release is written."""
    started = time.monotonic()
    expected = {(m.source, m.delivery_id) for m in manifests}
    release = deployment.releases / f"medicinraadet-{cutoff.isoformat()}"
    while time.monotonic() - started < ROUND_TIMEOUT:
        loaded = set(
            deployment.query(
                deployment.warehouse_url,
                "select source, delivery_id from audit.deliveries where status = 'loaded'",
            )
        )
        if expected <= loaded and (release / "manifest.json").exists():
            return time.monotonic() - started
        time.sleep(3)
    missing = expected - loaded
    raise AssertionError(
        f"round {cutoff} not done after {ROUND_TIMEOUT:.0f} s (not loaded: {sorted(missing)}; "
        f"release written: {release.exists()})\n{deployment.diagnostics()}"
    )


def _misquarantined(deployment: Deployment) -> dict[str, int]:
    """Rows quarantined as unknown persons although their person is in the CPR register."""
    found: dict[str, int] = {}
    for contract in all_contracts().values():
        if not contract.references_cpr_register:
            continue
        for table in contract.tables:
            name = f"quarantine.{contract.source}__{table.name}"
            (exists,) = deployment.query(deployment.warehouse_url, "select to_regclass(%s)", name)
            if exists[0] is None:
                continue
            for column in (c.target for c in table.columns if c.type == "cpr"):
                ((count,),) = deployment.query(
                    deployment.warehouse_url,
                    f"select count(*) from {name} q where q.reason like %s and exists "
                    "(select 1 from raw.cpr__persons p where p.person_key = q.record ->> %s)",
                    f"{column}:%not in the CPR register%",
                    column,
                )
                if count:
                    found[f"{name}.{column}"] = int(str(count))
    return found


def test_two_rounds_flow_through_without_a_trigger(
    deployment: Deployment, rounds: list[Path]
) -> None:
    timings: dict[str, float] = {}
    for number, (landing, cutoff) in enumerate(zip(rounds, CUTOFFS, strict=True), start=1):
        manifests = deployment.drop(landing)
        if number == 2:
            # round one's deliveries again, in folders of other names: nothing may load twice
            deployment.drop(rounds[0], rename="-sent-again")
        timings[f"round {number}"] = _wait_for_round(deployment, manifests, cutoff)
        assert not _misquarantined(deployment), (
            f"round {number}: rows quarantined as unknown persons who are in the register"
        )

    attempts = deployment.query(
        deployment.warehouse_url,
        "select source, delivery_id, count(*) filter (where status = 'loaded'), "
        "count(*) filter (where status not in ('loaded', 'skipped')) "
        "from audit.deliveries group by 1, 2",
    )
    assert all(loaded == 1 and other == 0 for _, _, loaded, other in attempts), attempts

    runs = deployment.query(
        deployment.metadata_url, "select dag_id, run_type, state from dag_run order by 1"
    )
    assert {t for _, t, _ in runs} <= {"scheduled", "asset_triggered"}, (
        f"only the scheduler starts runs: {runs}"
    )
    # genomes waited for the opt-out register of their cut-off: no variant task failed, and
    # each genome delivery finished after the opt-out delivery of its month
    failed = deployment.query(
        deployment.metadata_url,
        "select task_id from task_instance where dag_id = 'variant_frequencies' "
        "and state = 'failed'",
    )
    assert not failed, failed
    order = deployment.query(
        deployment.warehouse_url,
        "select g.delivery_id, g.finished_at >= o.finished_at from audit.deliveries g "
        "join audit.deliveries o on o.source = 'optout' and o.status = 'loaded' "
        "and o.cutoff_date = g.cutoff_date where g.source = 'genomes' and g.status = 'loaded'",
    )
    assert len(order) == len(CUTOFFS) and all(after for _, after in order), order

    durations = [
        float(d)  # type: ignore[arg-type]
        for (d,) in deployment.query(
            deployment.metadata_url,
            "select extract(epoch from end_date - start_date) from task_instance "
            "where dag_id = 'followup_marts' and operator like 'Dbt%%' and state = 'success'",
        )
    ]
    assert durations, "no dbt task ran"
    timings["median dbt layer task"] = statistics.median(durations)
    print(
        "\nreal scheduler: "
        + "; ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + f" ({len(durations)} dbt tasks, max {max(durations):.1f} s)"
    )


def test_no_secret_in_any_service_environment(deployment: Deployment) -> None:
    """Neither the warehouse password nor the pseudonymisation key is in the environment of
    a service or anything it started; no AIRFLOW_CONN_ either."""
    seen = 0
    for pid in deployment.service_pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue  # a task process that has just finished
        seen += 1
        assert deployment.password.encode() not in environ, pid
        assert deployment.key_hex.encode() not in environ, pid
        assert b"AIRFLOW_CONN_" not in environ, pid
    assert seen >= 5  # four services and a worker, with whatever they run


def test_services_stop_cleanly(deployment: Deployment) -> None:
    pids = deployment.service_pids()
    assert stop(deployment.worker) == 0
    assert stop(deployment.control) == 0
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    assert not alive, f"still running after the supervisors stopped: {alive}"
