"""Registry, biobank and outcome ingest DAGs — one per source family, generated from the
contracts in ``src/medfollow_core/landing/contracts/``."""

from medfollow_airflow.factory import ingest_dags

globals().update(ingest_dags())
