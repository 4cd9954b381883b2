"""Parsing the DAG files, as Airflow's dag-processor does every 30 seconds or so.

    python -m bench.dags [--repeats 5]

Each run is a fresh interpreter that imports Airflow (the dag-processor has it loaded), then
records every process start (a ``sys.addaudithook`` on ``subprocess.Popen``, ``os.fork``,
``os.posix_spawn``, ``os.exec*``, ``os.spawn*``, ``os.system``) while a ``DagBag`` loads the
whole ``dags/`` folder, the dbt manifest built beforehand as a deployment builds it. Side by
side, alternating, the same interpreter loads a folder holding one trivial DAG: Airflow's own
floor for a parse. Targets: no process started, the folder parsed in under 2 s. Prints each
file's share (Airflow's own per-file statistics) and the processes started, if any.

Everything the bench writes (the manifest, Airflow's home, Cosmos' cache) goes to a
temporary state folder, never the demo's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_SECONDS = 2.0

PROBE = r"""
import json, sys, time, traceback
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

STARTS = {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn",
          "os.system"}
started = []

def audit(event, args):
    if event in STARTS:
        frames = [f for f in traceback.extract_stack()[:-1] if "/importlib/" not in f.filename]
        started.append(f"{event} from " + " <- ".join(
            f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames[-4:])))

sys.addaudithook(audit)
begun = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - begun
print("RESULT " + json.dumps({
    "seconds": seconds,
    "started": started,
    "dags": len(bag.dags),
    "import_errors": {Path(k).name: v.strip().splitlines()[-1] for k, v in bag.import_errors.items()},
    "files": {Path(s.file).name: s.duration.total_seconds() for s in bag.dagbag_stats},
}))
"""

REFERENCE_DAG = """
import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="reference", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    EmptyOperator(task_id="nothing")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-dags-"))
    try:
        _run(state, args.repeats)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _run(state: Path, repeats: int) -> None:
    os.environ["MEDFOLLOW_STATE_DIR"] = str(state)
    from medfollow.orchestration import environment
    from medfollow.orchestration.runner import build_manifest
    from medfollow_core import config

    manifest = build_manifest()
    env = {**os.environ, **environment.airflow_env(), config.DBT_MANIFEST_ENV: str(manifest)}
    reference = state / "reference_dags"
    reference.mkdir()
    (reference / "reference.py").write_text(REFERENCE_DAG)

    ours, floor = [], []
    for _ in range(repeats):
        ours.append(_parse(config.DAGS_DIR, env))
        floor.append(_parse(reference, env))
    for result in ours:
        if result["import_errors"]:
            raise SystemExit(f"the DAG files do not load: {result['import_errors']}")

    load = os.getloadavg()[0]
    mine = [r["seconds"] for r in ours]
    base = [r["seconds"] for r in floor]
    print(
        f"dags/ ({ours[0]['dags']} DAGs) parsed in a fresh interpreter, {repeats} runs "
        f"(load average {load:.1f} on {os.cpu_count()} cores):"
    )
    print(f"  dags/           best {min(mine):5.2f} s   median {statistics.median(mine):5.2f} s")
    print(f"  one-task DAG    best {min(base):5.2f} s   median {statistics.median(base):5.2f} s")
    print(
        f"  ratio (median)  {statistics.median(mine) / statistics.median(base):5.1f} x Airflow's floor"
    )
    print("  per file (median):")
    for name in sorted(ours[0]["files"]):
        seconds = statistics.median(r["files"].get(name, 0.0) for r in ours)
        print(f"    {name:<28} {seconds:5.2f} s")
    started = sorted({s for r in ours for s in r["started"]})
    print(f"  processes started while parsing: {len(started)}")
    for start in started:
        print(f"    {start}")
    median = statistics.median(mine)
    verdict = "met" if not started and median < TARGET_SECONDS else "NOT met"
    print(f"  target (no process, under {TARGET_SECONDS:.0f} s): {verdict}")


def _parse(folder: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"parsing {folder} failed:\n{done.stderr[-3000:]}")
    result: dict = json.loads(lines[-1].removeprefix("RESULT "))
    return result


if __name__ == "__main__":
    main()
