"""Genotypes of every stored genome at named positions, for the genomic follow-up marts.

The pharmacogenetic and FH marts need, per sequenced person, the genotype at a short list
of named variants (the dbt seed ``genotyped_positions.csv``) and whether the genome was
callable there: a person whose genome says nothing at a defining position must come out
`indeterminate`, never as a guessed normal. The answer comes from the per-sample
contribution store, never from the VCFs again: the store is what opt-out removal keeps
exact, and it already holds what each file said.

Per genome and position, from what the store holds (store.py, vcf/genotypes.py):

- the genome's batch lists the variant: its code decides. A called, QC-passing (adj) call
  gives `called_variant` (ALT copies > 0) or `called_ref`; a missing or failing call is
  `not_covered`.
- otherwise, a gVCF or a plain VCF with a callable-regions BED (batch kinds in
  BLOCK_KINDS): a QC-passing reference block or callable region over the position gives
  `called_ref`; a no-call block, a failing block or a gap is `not_covered`.
- otherwise `not_covered`: a joint VCF speaks only at its records (no record: nobody in it
  carried the variant, but a genome's callability there is unknown), and a plain VCF
  without a BED says nothing where it has no record. This is the convention of
  frequencies/coverage.py.

The table `variants.person_genotypes` is replaced in one transaction, so readers (dbt)
never see half an export. Persons with an opt-out in force are left out even if a genome
of theirs is still stored (opt-out removal runs daily; this export must not wait for it).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from psycopg import sql

from genomics_variants.contributions.aggregate import BLOCK_KINDS
from genomics_variants.contributions.store import Store
from genomics_variants.contributions.warehouse import optouts_in_force
from genomics_variants.sites import Sites
from genomics_variants.vcf.genotypes import ADJ, COPIES_SHIFT, PLOIDY_SHIFT, PRESENT
from medfollow_core.config import SEEDS_DIR
from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse.connection import connect
from medfollow_core.warehouse.copy import copy_table

POSITIONS_SEED = "genotyped_positions.csv"
TABLE = ("variants", "person_genotypes")
CALLED_REF, CALLED_VARIANT, NOT_COVERED = "called_ref", "called_variant", "not_covered"


@dataclass(frozen=True)
class NamedPositions:
    """The named positions (seed order) and the same variants as Sites."""

    variant_key: tuple[str, ...]
    sites: Sites

    @classmethod
    def load(cls, seeds_dir: Path = SEEDS_DIR) -> NamedPositions:
        with (seeds_dir / POSITIONS_SEED).open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        return cls(
            tuple(r["variant_key"] for r in rows),
            Sites.build(
                [r["chrom"] for r in rows],
                [int(r["pos"]) for r in rows],
                [r["ref"] for r in rows],
                [r["alt"] for r in rows],
            ),
        )


def _decide(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(decided, copies, ploidy) of genotype codes: decided where the code speaks at all."""
    codes = codes.astype(np.int64)
    present = (codes & PRESENT) > 0
    ploidy = (codes >> PLOIDY_SHIFT) & 3
    copies = (codes >> COPIES_SHIFT) & 3
    called = present & ((codes & ADJ) > 0) & (ploidy > 0)
    return present, np.where(called, copies, -1), np.where(called, ploidy, -1)


def genotype_table(store: Store, positions: NamedPositions, exclude: set[str]) -> pa.Table:
    """One row per stored genome (not excluded) and named position (module docstring)."""
    state = store.load()
    genome_ids = state.samples.column("genome_id").to_pylist()
    people = state.samples.column("person_key").to_pylist()
    batch_of = state.samples.column("batch_id").to_pylist()
    batches = {
        b: (k, f, int(n))
        for b, k, f, n in zip(
            state.batches.column("batch_id").to_pylist(),
            state.batches.column("kind").to_pylist(),
            state.batches.column("calls_file").to_pylist(),
            state.batches.column("n_sites").to_pylist(),
            strict=True,
        )
    }
    query = positions.sites
    n_pos = len(query)
    wanted: dict[str, list[int]] = {}
    for row, (person, batch) in enumerate(zip(people, batch_of, strict=True)):
        if person not in exclude:
            wanted.setdefault(batch, []).append(row)
    out_rows: list[int] = []
    out_copies: list[np.ndarray] = []
    out_ploidy: list[np.ndarray] = []
    for batch_id in sorted(wanted):
        rows = wanted[batch_id]
        kind, calls_file, n_sites = batches[batch_id]
        located = store.batch_sites(batch_id).locate_sorted(query)
        ids, codes = store.batch_calls(batch_id, calls_file, n_sites, [genome_ids[r] for r in rows])
        column = {g: j for j, g in enumerate(ids)}
        found = located >= 0
        blocks = store.batch_blocks(batch_id) if kind in BLOCK_KINDS else None
        for row in rows:
            copies = np.full(n_pos, -1, dtype=np.int64)
            ploidy = np.full(n_pos, -1, dtype=np.int64)
            decided = np.zeros(n_pos, dtype=bool)
            j = column.get(genome_ids[row])
            if j is not None and found.any():
                code = np.zeros(n_pos, dtype=np.uint8)
                code[found] = codes[located[found], j]
                decided, copies, ploidy = _decide(code)
            if blocks is not None:
                for i in np.flatnonzero(~decided).tolist():
                    at = (
                        (blocks.chrom == query.chrom[i])
                        & (blocks.start <= query.pos[i])
                        & (blocks.end >= query.pos[i])
                    )
                    _, _, block_ploidy = _decide(blocks.code[at])
                    if (block_ploidy > 0).any():
                        copies[i], ploidy[i] = 0, int(block_ploidy.max())
            out_rows.append(row)
            out_copies.append(copies)
            out_ploidy.append(ploidy)
    n = len(out_rows)
    copies_all = np.concatenate(out_copies) if n else np.zeros(0, dtype=np.int64)
    ploidy_all = np.concatenate(out_ploidy) if n else np.zeros(0, dtype=np.int64)
    covered = copies_all >= 0
    callability = np.where(
        ~covered, NOT_COVERED, np.where(copies_all > 0, CALLED_VARIANT, CALLED_REF)
    )
    repeat = np.repeat(np.asarray(out_rows, dtype=np.int64), n_pos)
    tile = np.tile(np.arange(n_pos), n)
    return pa.table(
        {
            "person_key": pa.array(np.asarray(people, dtype=object)[repeat], pa.string())
            if n
            else pa.array([], pa.string()),
            "genome_id": pa.array(np.asarray(genome_ids, dtype=object)[repeat], pa.string())
            if n
            else pa.array([], pa.string()),
            "variant_key": pa.array(np.asarray(positions.variant_key, dtype=object)[tile]),
            "chrom": pa.array(query.chrom[tile]),
            "pos": pa.array(query.pos[tile], pa.int32()),
            "ref": pa.array(query.ref[tile]),
            "alt": pa.array(query.alt[tile]),
            "callability": pa.array(callability, pa.string()),
            "alt_copies": pa.array(copies_all, pa.int16(), mask=~covered),
            "ploidy": pa.array(ploidy_all, pa.int16(), mask=~covered),
        }
    )


@dataclass(frozen=True)
class GenotypeExport:
    """genomes: genomes exported; rows: rows written; excluded: stored genomes left out for
    an opt-out in force."""

    genomes: int
    rows: int
    excluded: int


def export_genotypes(
    store_dir: Path,
    url: str,
    *,
    on: date | None = None,
    positions: NamedPositions | None = None,
    exported_at: datetime | None = None,
) -> GenotypeExport:
    """Replace `variants.person_genotypes` with the genotypes of the stored genomes."""
    store = Store(store_dir)
    named = positions or NamedPositions.load()
    exclude = optouts_in_force(url, on or date.today())
    if exclude is None:
        # Exporting a genome before its person's opt-out is known would hand it to research.
        raise MedfollowError(
            "the opt-out register (raw.optout__registreringer) is not loaded: "
            "genotypes are not exported without it"
        )
    table = genotype_table(store, named, exclude)
    stamp = exported_at or datetime.now(UTC)
    table = table.append_column(
        "exported_at", pa.array([stamp] * table.num_rows, pa.timestamp("us", tz="UTC"))
    )
    stored = store.load().samples.column("person_key").to_pylist()
    target = sql.Identifier(*TABLE)
    with connect(url) as conn, conn.transaction():
        conn.execute(sql.SQL("delete from {}").format(target))
        copy_table(conn, target, table)
    genomes = len(set(table.column("genome_id").to_pylist()))
    return GenotypeExport(genomes, table.num_rows, sum(1 for p in stored if p in exclude))
