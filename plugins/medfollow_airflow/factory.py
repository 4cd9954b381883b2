"""Generate one ingest DAG per source family from the declared contracts.

No DAG file is copy-pasted: adding a source is adding a contract YAML. Each source gets a
sensor that waits for pending delivery folders, an ingest task mapped over them (one task
instance per delivery), and a publish task that emits the source's raw-table assets. Within a family the CPR register goes first, because other sources
are checked against it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param, TriggerRule

from medfollow_airflow.ingest import (
    IngestDeliveryOperator,
    PendingDeliverySensor,
    PublishRawTablesOperator,
    report_failure,
)
from medfollow_core.landing.contracts import SourceContract, families

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "on_failure_callback": report_failure,
}


def _doc(family: str, contracts: list[SourceContract]) -> str:
    lines = [
        f"### Ingest: {family}",
        "",
        "Waits for delivery folders in the landing area, then validates, pseudonymises and "
        "loads each one atomically into `raw` (see `audit.deliveries`).",
        "",
    ]
    for c in contracts:
        tables = ", ".join(f"`{c.raw_table(t)}`" for t in c.tables)
        lines.append(f"- **{c.title}** ({c.mode}): {tables}")
    return "\n".join(lines)


def ingest_dag(family: str, contracts: list[SourceContract]) -> DAG:
    ordered = sorted(contracts, key=lambda c: (c.source != "cpr", c.source))
    with DAG(
        dag_id=f"ingest_{family}",
        schedule="@hourly",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["ingest", family],
        params={
            "wait_for_deliveries": Param(
                True, type="boolean", description="Wait for deliveries if none is pending"
            )
        },
        doc_md=_doc(family, ordered),
    ) as dag:
        # Publishing runs even when one delivery was refused (the others committed); this
        # leaf makes the run itself fail whenever any delivery failed, so nothing is hidden.
        watcher = EmptyOperator(task_id="all_deliveries_ok", trigger_rule="all_success")
        previous = None
        for contract in ordered:
            sensor = PendingDeliverySensor(
                task_id=f"wait_for_{contract.source}",
                source=contract.source,
                poke_interval=60,
                timeout=30 * 60,
                mode="reschedule",
                soft_fail=True,
                retries=0,
            )
            ingest = IngestDeliveryOperator.partial(
                task_id=f"ingest_{contract.source}",
                source=contract.source,
                max_active_tis_per_dag=1,
            ).expand(delivery_dir=sensor.output)
            publish = PublishRawTablesOperator(
                task_id=f"publish_{contract.source}",
                source=contract.source,
                trigger_rule="all_done",
            )
            ingest >> publish
            ingest >> watcher
            if previous is not None:
                # a family member with nothing pending must not block the next
                sensor.trigger_rule = TriggerRule.ALL_DONE
                previous >> sensor
            previous = publish
    return dag


def ingest_dags() -> dict[str, DAG]:
    return {
        f"ingest_{family}": ingest_dag(family, contracts)
        for family, contracts in sorted(families().items())
    }
