"""The application shell: the ``medfollow`` command line, the demo and the local Airflow
runner. It sits on top of every other package and nothing imports it."""
