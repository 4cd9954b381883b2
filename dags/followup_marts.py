"""Follow-up marts for advanced therapies, then the Medicinrådet release.

First `source_freshness` runs `dbt source freshness`: a source past its error_after fails
the run, naming the source and how long ago it was loaded (it also leaves dbt's partial
parse for this warehouse, so that no dbt task parses the project again). Record linkage runs next (task
group `linkage`: every record to one person key, emitting the `linkage.person_links` asset
the marts resolve every person through). Then dbt, run by Cosmos as one `dbt build` task
per layer (seeds → staging → intermediate → marts → exports, each running its models' unit
and data tests), rebuilds everything once every source the marts read has delivered again
since the last build: one consistent rebuild per monthly delivery round, not one per
source. Each layer emits an asset for each of its tables
(``medfollow://warehouse/<schema>/<table>``, read from the dbt manifest built before parsing:
no dbt runs when this file is parsed); a failed data test fails its task without retry.
The release task then writes the release of the cut-off the exports were built for, once:
releases are immutable, so a rebuild for the same cut-off skips it, as does a month whose
deliveries are incomplete.
"""

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, TaskGroup

from medfollow_airflow.cosmos_config import check_source_freshness, dbt_layers
from medfollow_airflow.ingest import raw_assets, report_failure
from medfollow_airflow.linkage import LinkPersonsOperator
from medfollow_airflow.release import MedicinraadetReleaseOperator

MART_SOURCES = [
    "cpr",
    "lpr3",
    "sygehusmedicin",
    "doedsaarsag",
    "lab",
    "outcomes",
    "outcomes_crossborder",
    "lmdb",
    # the genetic-data opt-outs: the pharmacogenetic and FH marts leave those persons out
    "optout",
]


with DAG(
    dag_id="followup_marts",
    schedule=[asset for source in MART_SOURCES for asset in raw_assets(source)],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-engineering",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
        "on_failure_callback": report_failure,
    },
    tags=["dbt", "marts", "medicinraadet"],
    doc_md=__doc__,
) as dag:
    freshness = PythonOperator(
        task_id="source_freshness", python_callable=check_source_freshness, retries=0
    )
    with TaskGroup(group_id="linkage", tooltip="one person key for every record") as linkage:
        LinkPersonsOperator(task_id="link_persons")
    marts = dbt_layers("dbt")
    release = MedicinraadetReleaseOperator(task_id="medicinraadet_release", sources=MART_SOURCES)
    freshness >> linkage >> marts >> release
