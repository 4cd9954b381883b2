"""The base layer every medfollow package may use and that uses none of them.

Configuration, the one error type and the CPR scrubber (``errors``), the CPR rules
(``cpr``), pseudonymisation, the landing protocol (contracts, manifests, the delivery
audit), the warehouse connection and bootstrap, Arrow → PostgreSQL COPY, and shared types.
Import direction is checked by import-linter (``.importlinter``): nothing here imports
ingest, linkage, variants, releases, the generator, the shell or the Airflow adapters.
"""
