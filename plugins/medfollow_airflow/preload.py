"""What a Celery worker imports before forking the processes its tasks run in (see
celery_config): the slowest imports of the platform's tasks — dbt's runner and Cosmos'
operators for every dbt task, Great Expectations and the ingest pipeline for every
delivery. None of them starts a thread or opens a connection on import, so forking after
it is safe."""

import cosmos.operators.local  # noqa: F401
import dbt.cli.main  # noqa: F401

import registry_ingest.pipeline  # noqa: F401
from registry_ingest.validate import load_great_expectations

load_great_expectations()  # without its Spark support (see there)
