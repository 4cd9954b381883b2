"""Genome deliveries from the landing area, in the steps the Airflow DAG maps over.

A delivery folder (``landing/genomes/<delivery_id>/``) is checked against its manifest,
split into its VCF files (one mapped task each: contributions are per file, so files are
independent), and published as one release once every file is in. Each delivery's fate is
recorded in ``audit.deliveries`` like any registry delivery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from genomics_variants.contributions.ingest import expand_inputs, ingest_files
from genomics_variants.contributions.store import Store
from genomics_variants.pipeline import Published, publish
from genomics_variants.vcf.qc import QCConfig
from medfollow_core.errors import MedfollowError
from medfollow_core.landing import audit
from medfollow_core.landing.delivered import delivered_file, shown
from medfollow_core.landing.manifest import MANIFEST_NAME, Manifest, sha256_of

SOURCE = "genomes"


def verified_manifest(delivery_dir: Path) -> Manifest:
    """The delivery's manifest, after checking every listed file's checksum. A genome
    delivery is a closed folder like any other: names are checked by `delivered_file`
    (no absolute paths, ``..``, symlinks or special files) before a byte is read."""
    if not (delivery_dir / MANIFEST_NAME).exists():
        raise MedfollowError(f"{delivery_dir.name}: no {MANIFEST_NAME}")
    manifest = Manifest.read(delivery_dir)
    for entry in manifest.files:
        path = delivered_file(delivery_dir, entry.name)
        if sha256_of(path) != entry.sha256:
            raise MedfollowError(f"{delivery_dir.name}/{shown(entry.name)}: checksum mismatch")
    return manifest


def reference_of(delivery_dir: Path) -> Path:
    found = sorted((delivery_dir / "reference").glob("*.fa.gz")) + sorted(
        (delivery_dir / "reference").glob("*.fa")
    )
    if not found:
        raise MedfollowError(f"{delivery_dir.name}: no reference FASTA under reference/")
    return found[0]


def genome_files(delivery_dir: Path) -> list[Path]:
    """The VCF files to ingest (gVCFs preferred where a genome has one)."""
    verified_manifest(delivery_dir)
    return expand_inputs([delivery_dir])


def ingest_genome_file(
    store_dir: Path,
    delivery_dir: Path,
    vcf: Path,
    *,
    key: bytes,
    warehouse_url: str | None,
    qc: str = "adj",
    spark: Any | None = None,
) -> int:
    """Add one file's genomes to the contribution store; returns genomes added. With a
    Spark session the aggregate is updated on Spark (spark_job.py runs this so)."""
    result = ingest_files(
        Store(store_dir),
        [vcf],
        reference_of(delivery_dir),
        key=key,
        manifest=delivery_dir / "sample_manifest.tsv",
        warehouse_url=warehouse_url,
        qc=QCConfig.named(qc),
        spark=spark,
    )
    return result.added


def publish_deliveries(
    store_dir: Path, added: dict[Path, int], *, url: str, run_id: str | None
) -> Published:
    """Publish one release for the deliveries just ingested (``added``: genomes added per
    delivery folder) and record each as loaded."""
    published = publish(Store(store_dir), warehouse_url=url)
    for delivery_dir, genomes in added.items():
        record(url, delivery_dir, status="loaded", run_id=run_id, genomes=genomes)
    return published


def record(
    url: str,
    delivery_dir: Path,
    *,
    status: str,
    run_id: str | None,
    genomes: int = 0,
    reason: str | None = None,
) -> None:
    """One ``audit.deliveries`` row for a genome delivery (loaded or refused)."""
    manifest_path = delivery_dir / MANIFEST_NAME
    try:
        manifest = Manifest.read(delivery_dir)
        delivery_id, cutoff = manifest.delivery_id, manifest.cutoff_date
    except (OSError, ValueError, KeyError):
        delivery_id, cutoff = delivery_dir.name, None
    with psycopg.connect(url, autocommit=True) as conn:
        attempt = audit.start_attempt(
            conn,
            source=SOURCE,
            delivery_id=delivery_id,
            cutoff=cutoff,
            manifest_sha256=sha256_of(manifest_path) if manifest_path.exists() else None,
            files_sha256=None,
            run_id=run_id,
        )
        audit.finish_attempt(
            conn,
            attempt,
            status=status,
            reason=reason,
            rows_read=genomes,
            rows_loaded=genomes if status == "loaded" else 0,
        )
