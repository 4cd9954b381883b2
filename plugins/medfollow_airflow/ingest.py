"""Operators that adapt ``registry_ingest`` to Airflow: find pending deliveries, load one.

A refused delivery is a fact about the data, not a transient error: it fails the task
without retries (AirflowFailException). Connection trouble (a 'failed' attempt) raises
AirflowException so the task's retry policy (exponential backoff) applies. An already-loaded delivery is a skip, so no
asset event is emitted for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from medfollow_airflow.assets import table_asset
from medfollow_airflow.hooks import WarehouseHook
from medfollow_core.errors import MedfollowError, scrub
from medfollow_core.landing.contracts import contract_for

log = logging.getLogger(__name__)


def raw_assets(source: str) -> list[Any]:
    contract = contract_for(source)
    return [table_asset("raw", f"{source}__{t.name}") for t in contract.tables]


class PendingDeliverySensor(BaseSensorOperator):
    """Waits for delivery folders of one source in the landing area that are ready to load;
    returns their paths.

    With ``after`` (the CPR register for sources checked against it, the opt-out register
    for genomes), a delivery is ready only once ``after``'s delivery of the same or a later
    cut-off is loaded (``ready_deliveries``): the order comes from the data, not from which
    DAG happens to run first. A run triggered with ``{"wait_for_deliveries": false}`` (the
    demo, an engineer's manual run) does not wait: with nothing ready, the source is skipped
    at once.
    """

    def __init__(
        self,
        *,
        source: str,
        after: str | None = None,
        landing: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.after = after
        self.landing = landing

    def poke(self, context: Any) -> PokeReturnValue:
        from medfollow_core.landing.folders import landing_dir, ready_deliveries

        landing = Path(self.landing) if self.landing else landing_dir()
        found = ready_deliveries(landing, self.source, WarehouseHook().dsn(), after=self.after)
        log.info("%s: %d deliveries ready in %s", self.source, len(found.ready), landing)
        for folder, why in found.waiting.items():
            log.info("%s/%s %s", self.source, scrub(folder.name), why)
        if not found.ready and not context["params"].get("wait_for_deliveries", True):
            raise AirflowSkipException(f"{self.source}: no delivery ready")
        return PokeReturnValue(is_done=bool(found.ready), xcom_value=[str(p) for p in found.ready])


class IngestDeliveryOperator(BaseOperator):
    """Loads one delivery folder through the same code path as ``medfollow ingest``."""

    template_fields = ("delivery_dir",)

    def __init__(self, *, source: str, delivery_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.delivery_dir = delivery_dir

    def execute(self, context: Any) -> dict[str, Any]:
        from registry_ingest.pipeline import ingest_delivery

        hook = WarehouseHook()
        with scrubbed_errors():
            outcome = ingest_delivery(
                Path(self.delivery_dir),
                url=hook.dsn(),
                key=hook.pseudonym_key(),
                source=self.source,
                run_id=context["run_id"],
            )
        log.info(outcome.summary())
        if outcome.status == "refused":
            raise AirflowFailException(outcome.summary())
        if outcome.status == "failed":  # the warehouse went away: the retry policy applies
            raise AirflowException(outcome.summary())
        if outcome.status == "skipped":
            raise AirflowSkipException(outcome.summary())
        return {
            "source": outcome.source,
            "delivery_id": outcome.delivery_id,
            "rows_loaded": outcome.rows_loaded,
            "rows_quarantined": outcome.rows_quarantined,
        }


class PublishRawTablesOperator(BaseOperator):
    """Announces a source's raw tables as updated (one asset event per table).

    Runs once after all of a run's deliveries of the source are done (even if one of them
    was refused, the others committed): downstream DAGs scheduled on these assets start once
    per batch of deliveries, not once per file; if nothing loaded, this task skips and
    nothing downstream starts.
    """

    def __init__(self, *, source: str, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", raw_assets(source))
        super().__init__(**kwargs)
        self.source = source

    def execute(self, context: Any) -> None:
        loaded = [r for r in (context["ti"].xcom_pull(task_ids=f"ingest_{self.source}") or []) if r]
        if not loaded:
            raise AirflowSkipException(f"{self.source}: no delivery loaded in this run")
        log.info(
            "%s: %d deliveries loaded; published %s",
            self.source,
            len(loaded),
            ", ".join(a.name for a in self.outlets),
        )


class RecheckUnknownPersonsOperator(BaseOperator):
    """After a CPR register load: rows quarantined because their person was not yet in the
    register go back into raw if the register now knows every person they name
    (``registry_ingest.recheck``); the rest stay quarantined. Returns rows reinstated."""

    def execute(self, context: Any) -> int:
        from registry_ingest.recheck import recheck_unknown_persons

        with scrubbed_errors():
            moved = recheck_unknown_persons(WarehouseHook().dsn())
        return sum(m.rows for m in moved)


def report_failure(context: Any) -> None:
    """Failure callback: one line naming the task, the delivery and the reason."""
    ti = context.get("task_instance") or context.get("ti")
    exc = context.get("exception")
    log.error(
        "medfollow: %s failed in run %s: %s",
        getattr(ti, "task_id", "?"),
        context.get("run_id"),
        scrub(str(exc)),
    )


@contextmanager
def scrubbed_errors() -> Iterator[None]:
    """Unexpected errors still fail the task (and retry), but their text — which may quote a
    delivered value — is scrubbed of anything CPR-shaped before Airflow logs it."""
    try:
        yield
    except (AirflowFailException, AirflowSkipException):
        raise
    except MedfollowError as exc:
        raise AirflowFailException(str(exc)) from None
    except Exception as exc:
        raise AirflowException(scrub(f"{type(exc).__name__}: {exc}")) from None
