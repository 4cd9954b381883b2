"""Running the platform's Airflow locally: environment, metadata database, DAG runs."""
