"""Follow-up marts: rebuilt by dbt (through Cosmos) whenever a source they use is reloaded."""

from datetime import timedelta

import pendulum
from airflow.sdk import DAG
from cosmos import DbtTaskGroup

from medfollow_airflow.cosmos_config import (
    execution_config,
    profile_config,
    project_config,
    render_config,
)
from medfollow_airflow.ingest import raw_assets, report_failure

MART_SOURCES = ["cpr"]

with DAG(
    dag_id="followup_marts",
    schedule=[asset for source in MART_SOURCES for asset in raw_assets(source)],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": timedelta(minutes=2),
                  "on_failure_callback": report_failure},
    tags=["dbt", "marts"],
    doc_md=__doc__,
) as dag:
    DbtTaskGroup(
        group_id="dbt",
        project_config=project_config(),
        profile_config=profile_config(),
        execution_config=execution_config(),
        render_config=render_config(),
    )
