"""The variant DAG's counting steps submitted to a Spark cluster (the Airflow Spark
provider's ``SparkSubmitOperator``): chosen by the DAG file when ``MEDFOLLOW_SPARK_CONN_ID``
names a Spark connection (see variants.py), in place of the in-process operators.

Each runs ``genomics_variants/spark_job.py`` with the same arguments the in-process task
uses and returns what it returns. The driver runs on this worker (client deploy mode,
whatever the connection says): it reads the delivery and the secrets here, and the
executors count. The secrets travel in a file only this user can read, in a private
temporary folder removed when the job ends; the command line and the Spark configuration
carry paths only."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from medfollow_airflow.hooks import WarehouseHook
from medfollow_airflow.variants import (
    RELEASE_ASSET,
    require_store,
    spark_conn_id,
    store_dir,
    sync_outcome,
)

JOB = "genomics_variants.spark_job"


def job_script() -> str:
    """The job's file (spark-submit takes a file, not a module)."""
    spec = importlib.util.find_spec(JOB)
    if spec is None or spec.origin is None:
        raise AirflowFailException(f"{JOB} is not installed on this worker")
    return spec.origin


@contextmanager
def _job_files(secrets: dict[str, str]) -> Iterator[tuple[Path, Path]]:
    """(secrets file, result file) in a private folder (mode 0700) removed afterwards; the
    secrets file is created 0600 before anything is written to it."""
    with tempfile.TemporaryDirectory(prefix="medfollow-spark-") as folder:
        path = Path(folder) / "secrets.json"
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            json.dump(secrets, out)
        yield path, Path(folder) / "result.json"


class _SubmittedStep(SparkSubmitOperator):
    """A spark_job.py step: `step` and its own arguments; returns the job's outcome, and
    fails without retrying when the job refused its input (as the in-process task does)."""

    step = ""

    def __init__(self, *, conn_id: str | None = None, **kwargs: Any) -> None:
        chosen = conn_id or spark_conn_id()
        if chosen is None:
            raise ValueError("no Spark connection: set MEDFOLLOW_SPARK_CONN_ID")
        kwargs.setdefault("name", f"medfollow-{self.step}")
        super().__init__(conn_id=chosen, deploy_mode="client", **kwargs)

    def step_args(self) -> list[str]:
        """The step's own arguments (beside the store, the secrets and the result)."""
        return []

    def secrets(self) -> dict[str, str]:
        """What the step needs from the secrets backend: the warehouse (ingest adds the key)."""
        return {"warehouse_url": WarehouseHook().dsn()}

    def run_job(self, context: Any) -> dict[str, Any]:
        with _job_files(self.secrets()) as (secrets, result):
            self.application = job_script()
            self.application_args = [
                self.step,
                "--store",
                str(store_dir()),
                *self.step_args(),
                "--secrets",
                str(secrets),
                "--result",
                str(result),
            ]
            # the driver runs the worker's own interpreter, where the platform is installed
            self.conf = {"spark.pyspark.driver.python": sys.executable, **(self.conf or {})}
            try:
                super().execute(context)
            except AirflowException:
                refused = _outcome(result).get("error")
                if refused:
                    raise AirflowFailException(self.refusal(refused)) from None
                raise
            return _outcome(result)

    def refusal(self, message: str) -> str:
        """The task's failure message for the job's refusal (as the in-process task words it)."""
        return message


def _outcome(result: Path) -> dict[str, Any]:
    """The job's outcome; empty if it wrote none (it did not get that far)."""
    if not result.exists():
        return {}
    outcome: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    return outcome


class SubmittedIngestOperator(_SubmittedStep):
    """IngestGenomeFileOperator's work on Spark: adds one VCF's genomes to the store."""

    step = "ingest"
    template_fields: Sequence[str] = (*SparkSubmitOperator.template_fields, "item")

    def __init__(self, *, item: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item = item

    def step_args(self) -> list[str]:
        return ["--delivery", str(self.item["delivery"]), "--vcf", str(self.item["vcf"])]

    def secrets(self) -> dict[str, str]:
        return {**super().secrets(), "pseudonym_key": WarehouseHook().pseudonym_key().hex()}

    def refusal(self, message: str) -> str:
        return f"{Path(self.item['vcf']).name}: {message}"

    # returns, unlike its base, what the in-process operator returns (to XCom)
    def execute(self, context: Any) -> dict[str, Any]:  # type: ignore[override]
        outcome = self.run_job(context)
        return {"delivery": self.item["delivery"], "added": int(outcome["added"])}


class SubmittedSyncOptOutsOperator(_SubmittedStep):
    """SyncOptOutsOperator's work on Spark: removes every stored genome whose person has an
    opt-out in force, then publishes."""

    step = "sync-optouts"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [RELEASE_ASSET])
        super().__init__(**kwargs)

    def execute(self, context: Any) -> dict[str, Any]:  # type: ignore[override]
        require_store()
        outcome = self.run_job(context)
        return sync_outcome(int(outcome["genomes"]), outcome["release_id"])
