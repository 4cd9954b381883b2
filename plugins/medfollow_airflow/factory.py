"""Generate one ingest DAG per source family from the declared contracts.

No DAG file is copy-pasted: adding a source is adding a contract YAML. Each source gets a
sensor that waits for pending delivery folders, an ingest task mapped over them (one task
instance per delivery), and a publish task that emits the source's raw-table assets.

Order comes from the data: a source checked against the CPR register waits until the
register of its own cut-off is loaded (whichever DAG loads it, whenever), and its family's
DAG also runs whenever a register is loaded. After each register load, rows quarantined
because their person was unknown are checked again against it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import (
    DAG,
    AssetAny,
    AssetOrTimeSchedule,
    DeltaTriggerTimetable,
    Param,
    TriggerRule,
)

from medfollow_airflow.ingest import (
    IngestDeliveryOperator,
    PendingDeliverySensor,
    PublishRawTablesOperator,
    RecheckUnknownPersonsOperator,
    raw_assets,
    report_failure,
)
from medfollow_airflow.schedules import landing_poll, sensor_timing
from medfollow_core.landing.contracts import SourceContract, families

REGISTER = "cpr"
"""The source every person-bearing source is validated against."""

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
    ordered = sorted(contracts, key=lambda c: (c.source != REGISTER, c.source))
    # (the family that loads the register waits for it within its own runs)
    waits_for_register = any(c.references_cpr_register for c in ordered) and all(
        c.source != REGISTER for c in ordered
    )
    poll = landing_poll()
    with DAG(
        dag_id=f"ingest_{family}",
        # Polled on a fixed interval; a family checked against the CPR register also runs as
        # soon as a register is loaded, so its deliveries that waited for it go right away.
        schedule=(
            AssetOrTimeSchedule(
                timetable=DeltaTriggerTimetable(poll), assets=AssetAny(*raw_assets(REGISTER))
            )
            if waits_for_register
            else DeltaTriggerTimetable(poll)
        ),
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
        loads_register = any(c.source == REGISTER for c in ordered)
        register_published = None
        for contract in ordered:
            # Sensors run side by side (a chain of them could outlive the schedule); a source
            # checked against the CPR register waits for the register of its own cut-off. In
            # the family that loads the register, its dependants start once the register's
            # load is done (so a run that does not wait, like the demo's, still loads them),
            # and both halves of that one link get half the sensors' time.
            timing = sensor_timing()
            if loads_register and (contract.source == REGISTER or contract.references_cpr_register):
                timing["timeout"] /= 2
            sensor = PendingDeliverySensor(
                task_id=f"wait_for_{contract.source}",
                source=contract.source,
                after=REGISTER if contract.references_cpr_register else None,
                soft_fail=True,
                retries=0,
                **timing,
            )
            if contract.references_cpr_register and register_published is not None:
                sensor.trigger_rule = TriggerRule.ALL_DONE
                register_published >> sensor
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
            if contract.source == REGISTER:
                register_published = publish
                # rows quarantined earlier because their person was not yet registered get
                # another chance against every newer register
                publish >> RecheckUnknownPersonsOperator(task_id="recheck_unknown_persons")
    return dag


def ingest_dags() -> dict[str, DAG]:
    return {
        f"ingest_{family}": ingest_dag(family, contracts)
        for family, contracts in sorted(families().items())
    }
