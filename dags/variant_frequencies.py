"""National variant frequencies: new genome deliveries are ingested one VCF per mapped task,
then published as one release, and each stored genome's genotype at the named positions
(pharmacogenetics, FH) is exported for dbt; a daily sync removes genomes of persons who
opted out and exports the genotypes again without them.

A genome delivery is checked against the opt-out register of its own cut-off, so it waits
until that register is loaded (the ingest DAGs load it): the DAG polls the landing area and
also runs whenever the opt-out register is loaded.

Ingesting a file and removing opted-out persons run in the task, or on a Spark cluster when
MEDFOLLOW_SPARK_CONN_ID names one (medfollow_airflow.variants)."""

from datetime import timedelta

import pendulum
from airflow.sdk import (
    DAG,
    AssetAny,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    DeltaTriggerTimetable,
    Param,
)

from medfollow_airflow.ingest import PendingDeliverySensor, raw_assets, report_failure
from medfollow_airflow.schedules import landing_poll, sensor_timing
from medfollow_airflow.variants import (
    ExportGenotypesOperator,
    ListGenomeFilesOperator,
    PublishReleaseOperator,
    ingest_operator,
    sync_optouts_operator,
)

DEFAULT_ARGS = {
    "owner": "genomics",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "on_failure_callback": report_failure,
}

with DAG(
    dag_id="variant_frequencies",
    schedule=AssetOrTimeSchedule(
        timetable=DeltaTriggerTimetable(landing_poll()), assets=AssetAny(*raw_assets("optout"))
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["genomics", "variants"],
    params={"wait_for_deliveries": Param(True, type="boolean")},
    doc_md=__doc__,
) as variant_frequencies:
    pending = PendingDeliverySensor(
        task_id="wait_for_genomes",
        source="genomes",
        after="optout",
        soft_fail=True,
        retries=0,
        **sensor_timing(),
    )
    files = ListGenomeFilesOperator(task_id="list_genome_files", delivery_dirs=pending.output)
    ingested = (
        ingest_operator()
        .partial(task_id="ingest_genome_file", max_active_tis_per_dag=2)
        .expand(item=files.output)
    )
    published = PublishReleaseOperator(task_id="publish_release", results=ingested.output)
    published >> ExportGenotypesOperator(task_id="export_genotypes")

with DAG(
    dag_id="variant_optout_sync",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("@daily", timezone="UTC"),
        assets=AssetAny(*raw_assets("optout")),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["genomics", "opt-out"],
    doc_md="Removes from the variant database every person with an opt-out in force "
    "(tissue-use or genetic-data register), exactly, and publishes a new release. "
    "Runs daily and whenever the opt-out register is reloaded.",
) as variant_optout_sync:
    sync_optouts_operator()(task_id="sync_optouts") >> ExportGenotypesOperator(
        task_id="export_genotypes"
    )
