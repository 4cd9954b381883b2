"""A loader killed mid-load (SIGKILL) leaves nothing partial, and the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from registry_ingest.pipeline import ingest_delivery
from support.deliveries import make_cpr, write_delivery

pytestmark = pytest.mark.integration

_LOADER = """
import sys, time
from pathlib import Path
import registry_ingest.read as read
from registry_ingest.pipeline import ingest_delivery
read.BATCH_ROWS = 2_000
marker = Path(sys.argv[3])
def progress(label, done, total):
    if done >= 4_000 and not marker.exists():
        marker.write_text(str(done))
        time.sleep(120)
ingest_delivery(Path(sys.argv[1]), url=sys.argv[2], key=bytes.fromhex(sys.argv[4]), progress=progress)
"""


def test_sigkill_mid_load_leaves_nothing_and_rerun_completes(
    db_url: str, tmp_path: Path, key: bytes
) -> None:
    start = datetime(2024, 1, 1, 8, 0)
    rows = [
        {
            "cpr": make_cpr(date(1960 + i % 40, 1 + i % 12, 1 + i % 28), i),
            "proevetid": f"{start + timedelta(minutes=i):%d-%m-%Y %H:%M}",
            "npu_kode": "NPU01566",
            "analysenavn": "Koagulationsfaktor IX",
            "vaerdi": "35,5",
            "enhed": "%",
            "ref_nedre": "50",
            "ref_oevre": "150",
        }
        for i in range(10_000)
    ]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows})
    marker = tmp_path / "mid-load"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOADER, str(folder), db_url, str(marker), key.hex()],
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "loader exited before reaching the middle of the load"
        assert time.monotonic() < deadline, "loader never reached the middle of the load"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    with psycopg.connect(db_url) as conn:
        exists = conn.execute("select to_regclass('raw.lab__resultater')").fetchone()
        if exists != (None,):  # the table itself was created in the killed transaction
            assert conn.execute("select count(*) from raw.lab__resultater").fetchone() == (0,)
        assert conn.execute("select status from audit.deliveries").fetchall() == [("running",)]

    outcome = ingest_delivery(folder, url=db_url, key=key)
    assert outcome.status == "loaded"
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from raw.lab__resultater").fetchone() == (10_000,)
        statuses = conn.execute(
            "select status, reason from audit.deliveries order by attempt_id"
        ).fetchall()
    assert statuses == [("failed", "interrupted before completion"), ("loaded", None)]
