"""Airflow adapter for record linkage (``rwd_linkage``): one run links every source."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from medfollow_airflow.assets import table_asset
from medfollow_airflow.hooks import WarehouseHook
from medfollow_core.errors import MedfollowError

log = logging.getLogger(__name__)

PERSON_LINKS_ASSET = table_asset("linkage", "person_links")
# On synthetic data, the generator's ground truth adds true precision/recall/F1 to the report.
GROUND_TRUTH_ENV = "MEDFOLLOW_LINKAGE_GROUND_TRUTH"


class LinkPersonsOperator(BaseOperator):
    """Links every record to one person key; emits the ``linkage.person_links`` asset."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [PERSON_LINKS_ASSET])
        super().__init__(**kwargs)

    def execute(self, context: Any) -> dict[str, Any]:
        from rwd_linkage.run import run_linkage  # Splink and DuckDB: not at DAG parse time

        hook = WarehouseHook()
        truth = os.environ.get(GROUND_TRUTH_ENV)
        try:
            result = run_linkage(
                hook.dsn(), hook.pseudonym_key(), ground_truth=Path(truth) if truth else None
            )
        except MedfollowError as exc:
            raise AirflowFailException(str(exc)) from None
        log.info("linkage run %s finished", result.run_id)
        return {"run_id": result.run_id}
