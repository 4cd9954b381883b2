"""The Medicinrådet release as an Airflow task: write the release of the cut-off just built.

The release code (matplotlib, openpyxl) is imported inside ``execute``, not at DAG parse
time.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from medfollow_airflow.hooks import WarehouseHook
from medfollow_core.errors import MedfollowError

log = logging.getLogger(__name__)


class MedicinraadetReleaseOperator(BaseOperator):
    """Writes the immutable release for the newest cut-off, awaiting review (built by
    "airflow:<dag id>"; a person approves it with `medfollow release approve`); skipped
    when there is nothing new (the cut-off was released already, or a source the marts
    read has not delivered). A release the disclosure audit refuses fails the task."""

    def __init__(self, *, sources: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = sources

    def execute(self, context: Any) -> str:
        from medicinraadet_release import ReleaseSkipped, publish_release, release_root

        try:
            folder = publish_release(
                WarehouseHook().dsn(),
                release_root(),
                self.sources,
                built_by=f"airflow:{self.dag_id}",
            )
        except ReleaseSkipped as skipped:
            raise AirflowSkipException(str(skipped)) from None
        except MedfollowError as exc:
            raise AirflowFailException(str(exc)) from None
        log.info("release written to %s", folder)
        return str(folder)
