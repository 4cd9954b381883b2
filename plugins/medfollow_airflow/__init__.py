"""Airflow adapters for medfollow: hooks, operators, sensors and DAG factories."""
