"""Airflow adapters for the variant-frequency database (``genomics_variants``).

The genomics code (cyvcf2, numpy, the store) is imported inside ``execute``: DAG parsing
only needs these class definitions.

The steps that update the aggregate (ingesting a file, removing opted-out persons) run in
the task's process, or, when ``MEDFOLLOW_SPARK_CONN_ID`` names an Airflow connection of
type spark (read when the DAG files are parsed, as by the workers), are submitted to that
cluster with spark-submit (spark.py; the Spark provider is imported only then)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from medfollow_airflow.assets import table_asset
from medfollow_airflow.hooks import WarehouseHook
from medfollow_core import config
from medfollow_core.errors import MedfollowError

log = logging.getLogger(__name__)

RELEASE_ASSET = table_asset("variants", "frequencies")
GENOTYPES_ASSET = table_asset("variants", "person_genotypes")


SPARK_CONN_ENV = "MEDFOLLOW_SPARK_CONN_ID"


def store_dir() -> Path:
    return config.variant_store_dir()


def spark_conn_id() -> str | None:
    """The Spark connection the counting steps are submitted to; None: they run in process."""
    return os.environ.get(SPARK_CONN_ENV, "").strip() or None


def ingest_operator() -> type[BaseOperator]:
    """The operator that adds one VCF (mapped over ``item``): in process, or on Spark."""
    if spark_conn_id() is None:
        return IngestGenomeFileOperator
    from medfollow_airflow.spark import SubmittedIngestOperator

    return SubmittedIngestOperator


def sync_optouts_operator() -> type[BaseOperator]:
    """The operator that removes opted-out persons and publishes: in process, or on Spark."""
    if spark_conn_id() is None:
        return SyncOptOutsOperator
    from medfollow_airflow.spark import SubmittedSyncOptOutsOperator

    return SubmittedSyncOptOutsOperator


def require_store() -> None:
    """Skip when there is no variant store yet (nothing to remove from)."""
    if not (store_dir() / "state").exists() and not any(store_dir().glob("*")):
        raise AirflowSkipException("no variant store yet")


def sync_outcome(genomes: int, release_id: str | None) -> dict[str, Any]:
    """An opt-out sync's result, or a skip when it published nothing (so nothing downstream
    runs for it)."""
    if release_id is None:
        raise AirflowSkipException(
            "no stored genome has an opt-out in force"
            if not genomes
            else f"{genomes} genome(s) removed before they were ever released"
        )
    return {"genomes_removed": genomes, "release_id": release_id}


class ListGenomeFilesOperator(BaseOperator):
    """Checks each pending delivery against its manifest and lists its VCF files (the unit
    the ingest tasks are mapped over). A delivery that fails its checks is refused."""

    def __init__(self, *, delivery_dirs: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delivery_dirs = delivery_dirs

    template_fields = ("delivery_dirs",)

    def execute(self, context: Any) -> list[dict[str, str]]:
        from genomics_variants import deliveries

        url = WarehouseHook().dsn()
        files: list[dict[str, str]] = []
        for folder in map(Path, self.delivery_dirs or []):
            try:
                files += [
                    {"delivery": str(folder), "vcf": str(vcf)}
                    for vcf in deliveries.genome_files(folder)
                ]
            except MedfollowError as exc:
                deliveries.record(
                    url, folder, status="refused", reason=str(exc), run_id=context["run_id"]
                )
                log.error("genomes/%s refused: %s", folder.name, exc)
        if not files:
            raise AirflowSkipException("no genome files to ingest")
        return files


class IngestGenomeFileOperator(BaseOperator):
    """Adds one VCF's genomes to the per-sample contribution store."""

    template_fields = ("item",)

    def __init__(self, *, item: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item = item

    def execute(self, context: Any) -> dict[str, Any]:
        from genomics_variants import deliveries

        hook = WarehouseHook()
        try:
            added = deliveries.ingest_genome_file(
                store_dir(),
                Path(self.item["delivery"]),
                Path(self.item["vcf"]),
                key=hook.pseudonym_key(),
                warehouse_url=hook.dsn(),
            )
        except MedfollowError as exc:
            raise AirflowFailException(f"{Path(self.item['vcf']).name}: {exc}") from None
        return {"delivery": self.item["delivery"], "added": added}


class PublishReleaseOperator(BaseOperator):
    """Publishes one release for everything ingested in this run (asset: variants release)."""

    template_fields = ("results",)

    def __init__(self, *, results: Any, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [RELEASE_ASSET])
        super().__init__(**kwargs)
        self.results = results

    def execute(self, context: Any) -> dict[str, Any]:
        from genomics_variants import deliveries

        added: dict[Path, int] = {}
        for result in self.results or []:
            folder = Path(result["delivery"])
            added[folder] = added.get(folder, 0) + int(result["added"])
        published = deliveries.publish_deliveries(
            store_dir(), added, url=WarehouseHook().dsn(), run_id=context["run_id"]
        )
        release = published.release
        return {
            "release_id": release.release_id if release else None,
            "samples": release.sample_count if release else 0,
        }


class SyncOptOutsOperator(BaseOperator):
    """Removes every stored genome whose person has an opt-out in force, then publishes."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [RELEASE_ASSET])
        super().__init__(**kwargs)

    def execute(self, context: Any) -> dict[str, Any]:
        from genomics_variants.pipeline import sync_optouts

        require_store()
        try:
            removed, published = sync_optouts(store_dir(), WarehouseHook().dsn())
        except MedfollowError as exc:
            raise AirflowFailException(str(exc)) from None
        release = published.release
        return sync_outcome(removed.genomes, release.release_id if release else None)


class ExportGenotypesOperator(BaseOperator):
    """Replaces ``variants.person_genotypes`` (each stored genome at the named positions of
    the dbt seed genotyped_positions) from the contribution store, in one transaction; the
    pharmacogenetic and FH marts read it (asset: variants.person_genotypes)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [GENOTYPES_ASSET])
        super().__init__(**kwargs)

    def execute(self, context: Any) -> dict[str, Any]:
        from genomics_variants.contributions.positions import export_genotypes

        if not (store_dir() / "state").exists():
            raise AirflowSkipException("no variant store yet")
        try:
            exported = export_genotypes(store_dir(), WarehouseHook().dsn())
        except MedfollowError as exc:
            raise AirflowFailException(str(exc)) from None
        return {
            "genomes": exported.genomes,
            "rows": exported.rows,
            "excluded_optout": exported.excluded,
        }
