"""Add genomes: read their files, store their contributions, update the aggregate.

Which genomes are counted:

* every genome in a file must be in the sample manifest (else the file is refused: a genome
  we cannot tie to a person cannot be checked against opt-outs);
* a person with an opt-out in force is skipped, and never stored;
* one genome per person: a genome, or a person, already in the store is skipped, and within
  one run the first file wins, with gVCFs read before joint VCFs before plain VCFs, so the
  richer file of a genome delivered twice is the one kept.

How a genome is counted depends on what its file says about callability (aggregate.py):
a gVCF's reference blocks, or the callable-regions BED the manifest names for a plain
single-sample VCF (batch kind `vcf+bed`), make its sample count towards AN wherever it is
callable; a plain VCF without one is of unknown coverage (kind `vcf`) and only adds to the
`seen_unknown` count.

The cost is proportional to the files added: the new batches are read and summed, and only
the aggregate rows they list (plus, for gVCFs, the rows their blocks cover) change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genomics_variants.contributions.aggregate import (
    BLOCK_KINDS,
    UNKNOWN_COVERAGE_KIND,
    Aggregate,
    Contribution,
    add,
)
from genomics_variants.contributions.cells import UNKNOWN_REGION, cell_of
from genomics_variants.contributions.chunks import Chunks
from genomics_variants.contributions.manifest import (
    MANIFEST_NAME,
    Manifest,
    find_manifest,
    listed_files,
    read_manifest,
)
from genomics_variants.contributions.measures import measure_sums
from genomics_variants.contributions.store import State, Store
from genomics_variants.contributions.warehouse import optouts_in_force, regions_of
from genomics_variants.reference import require_same_sequence
from genomics_variants.sites import Sites, locate
from genomics_variants.vcf.callable import callable_blocks
from genomics_variants.vcf.calls import Blocks, FileCalls, FileSpec, ReadStats
from genomics_variants.vcf.header import HeaderInfo, read_header
from genomics_variants.vcf.qc import QCConfig
from genomics_variants.vcf.read import read_calls
from genomics_variants.vcf.spill import SpilledCodes
from medfollow_core.errors import MedfollowError
from medfollow_core.types import Progress

KIND_ORDER = {"gvcf": 0, "joint": 1, "vcf": 2}


@dataclass(frozen=True)
class FileReport:
    """What happened to one file.

    added: genomes stored; opted_out: skipped, opt-out in force; already_stored: the genome
    or its person was already in the store; duplicate: repeated within this run.
    """

    name: str
    kind: str
    samples: int
    added: int
    opted_out: int
    already_stored: int
    duplicate: int
    stats: ReadStats | None = None
    qc_skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestResult:
    """The files' fates, notes for the user, and the new state of the store."""

    state: State
    files: list[FileReport]
    notes: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)


def expand_inputs(inputs: Sequence[Path]) -> list[Path]:
    """Files to read: a delivery folder (holding sample_manifest.tsv) stands for the files its
    manifest lists, each replaced by its gVCF (`<genome>.g.vcf.gz`) when one lies beside it."""
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if not item.is_dir():
            files.append(item)
            continue
        manifest = item / MANIFEST_NAME
        if not manifest.exists():
            raise MedfollowError(f"{item} is a folder without {MANIFEST_NAME}: name the VCF files")
        listed = listed_files(manifest)
        for name in listed:
            path = item / name
            gvcf = path.with_name(path.name.replace(".vcf.gz", ".g.vcf.gz"))
            files.append(gvcf if gvcf != path and gvcf.exists() else path)
    unique = list(dict.fromkeys(p.resolve() for p in files))
    if not unique:
        raise MedfollowError("no VCF files to ingest")
    return unique


@dataclass
class _Plan:
    """One file: its header, the manifest rows of the genomes to read, why others are not,
    its batch kind and, for a plain VCF with callable regions, their blocks."""

    path: Path
    header: HeaderInfo
    kept: np.ndarray
    report: dict[str, int]
    kind: str
    blocks: Blocks | None


def _callability(
    header: HeaderInfo, manifest: Manifest, kept: np.ndarray
) -> tuple[str, Blocks | None]:
    """The batch kind of a file and the blocks its callable-regions BED gives, if any (only a
    plain VCF needs one: a gVCF has blocks, a joint VCF calls every sample at each record)."""
    if header.kind != UNKNOWN_COVERAGE_KIND or not len(kept):
        return header.kind, None
    row = int(kept[0])
    bed = str(manifest.callable_bed[row])
    if not bed:
        return header.kind, None
    return "vcf+bed", callable_blocks(Path(bed), manifest.karyotype[row] == "XY")


def _plan(paths: list[Path], manifest: Manifest, state: State, optouts: set[str]) -> list[_Plan]:
    """Decide, per file, which genomes are read (see module docstring)."""
    headers = {path: read_header(path) for path in paths}
    stored_genomes = np.asarray(state.samples.column("genome_id").to_pylist(), dtype=str)
    stored_people = np.asarray(state.samples.column("person_key").to_pylist(), dtype=str)
    excluded = np.asarray(sorted(optouts), dtype=str)
    taken = np.zeros(len(manifest.genome_id), dtype=bool)  # rows already kept in this run
    person_taken: set[str] = set()
    plans = []
    for path in sorted(paths, key=lambda p: KIND_ORDER[headers[p].kind]):
        header = headers[path]
        rows = manifest.rows(header.samples)
        if (rows < 0).any():
            first = header.samples[int(np.argmax(rows < 0))]
            raise MedfollowError(
                f"{path.name}: {int((rows < 0).sum())} genome(s) are not in the sample manifest "
                f"(first: {first}); every genome must map to a person"
            )
        people = manifest.person_key[rows]
        opted_out = np.isin(people, excluded)
        stored = ~opted_out & (
            np.isin(manifest.genome_id[rows], stored_genomes) | np.isin(people, stored_people)
        )
        seen = np.isin(people, np.asarray(sorted(person_taken), dtype=str)) | taken[rows]
        _unique, first_of_person = np.unique(people, return_index=True)
        repeated = np.ones(len(rows), dtype=bool)
        repeated[first_of_person] = False
        duplicate = ~opted_out & ~stored & (seen | repeated)
        keep = ~(opted_out | stored | duplicate)
        kept = rows[keep]
        taken[kept] = True
        person_taken.update(manifest.person_key[kept].tolist())
        report = {
            "opted_out": int(opted_out.sum()),
            "already_stored": int(stored.sum()),
            "duplicate": int(duplicate.sum()),
        }
        plans.append(_Plan(path, header, kept, report, *_callability(header, manifest, kept)))
    return plans


def _resident_block_cells(state: State) -> dict[str, int]:
    """The cell of each stored batch with blocks (one genome each), by batch id."""
    batches = state.batches.filter(
        pc.is_in(state.batches.column("kind"), value_set=pa.array(sorted(BLOCK_KINDS)))
    )
    cell_by_batch = dict(
        zip(
            state.samples.column("batch_id").to_pylist(),
            state.samples.column("cell").to_pylist(),
            strict=True,
        )
    )
    return {b: cell_by_batch[b] for b in batches.column("batch_id").to_pylist()}


def _resident_gvcfs(store: Store, state: State) -> list[Contribution]:
    """The stored samples with blocks, as needed to cover newly listed variants."""
    return [
        Contribution(
            sites=store.batch_sites(batch_id),
            codes=np.zeros((0, 1), dtype=np.uint8),
            cells=np.array([cell]),
            blocks=store.batch_blocks(batch_id),
        )
        for batch_id, cell in _resident_block_cells(state).items()
    ]


def _regions(person: np.ndarray, regions: dict[str, str]) -> np.ndarray:
    """Region stratum per person key; `unknown` for persons the warehouse did not place."""
    out = np.full(len(person), UNKNOWN_REGION, dtype=object)
    if regions:
        found = locate(np.asarray(list(regions), dtype=str), person)
        values = np.asarray(list(regions.values()), dtype=object)
        out[found >= 0] = values[found[found >= 0]]
    return out.astype(str)


def _specs(
    plans: list[_Plan], manifest: Manifest, regions: dict[str, str]
) -> tuple[list[FileSpec], list[pa.Table]]:
    """What to read from each file, and the sample rows (sex, region, cell) of its genomes."""
    specs, samples = [], []
    for plan in plans:
        genome_id = manifest.genome_id[plan.kept]
        person = manifest.person_key[plan.kept]
        sex = manifest.karyotype[plan.kept]
        region = _regions(person, regions)
        cells = cell_of(sex, region)
        specs.append(
            FileSpec(
                plan.path,
                plan.header,
                genome_id.tolist(),
                sex == "XY",
                partial(measure_sums, cells=cells, covered=plan.kind != UNKNOWN_COVERAGE_KIND),
            )
        )
        samples.append(
            pa.table(
                {
                    "genome_id": pa.array(genome_id, pa.string()),
                    "person_key": pa.array(person, pa.string()),
                    "sex": pa.array(sex, pa.string()),
                    "region": pa.array(region, pa.string()),
                    "cell": pa.array(cells, pa.int32()),
                }
            )
        )
    return specs, samples


def _stage(
    store: Store,
    state: State,
    plans: list[_Plan],
    calls: list[FileCalls],
    samples: list[pa.Table],
    qc: QCConfig,
    workers: int,
    spark: Any | None = None,
) -> State:
    """Write the new batches and compute the next state (not yet committed).

    Contribution files are compressed in threads (pyarrow releases the GIL) while the
    aggregate is updated; all are complete before the state that refers to them exists.
    """
    generation = state.generation + 1
    now = datetime.now(UTC).isoformat(timespec="seconds")
    contributions, sample_tables, batch_rows, writes = [], [], [], []
    with ThreadPoolExecutor(max_workers=workers) as writer:
        for number, (plan, fc, rows) in enumerate(zip(plans, calls, samples, strict=True), start=1):
            batch_id = f"{generation:06d}-{number:04d}"
            blocks = fc.blocks if fc.blocks is not None else plan.blocks
            sites, codes, sums = _kept(fc)
            writes.append(
                writer.submit(
                    store.write_batch,
                    batch_id,
                    generation,
                    sites,
                    fc.samples,
                    codes,
                    blocks,
                )
            )
            cells = rows.column("cell").to_numpy()
            covered = plan.kind != UNKNOWN_COVERAGE_KIND
            # the codes stay on disk (they are being written): `add` takes the readers' sums
            in_memory = np.zeros((0, len(fc.samples)), dtype=np.uint8)
            contributions.append(Contribution(sites, in_memory, cells, blocks, sums, covered))
            n = rows.num_rows
            sample_tables.append(
                rows.append_column("batch_id", pa.array([batch_id] * n, pa.string()))
                .append_column("added_at", pa.array([now] * n, pa.string()))
                .select(state.samples.column_names)
                .cast(state.samples.schema)
            )
            batch_rows.append(
                {
                    "batch_id": batch_id,
                    "kind": plan.kind,
                    "file_name": plan.path.name,
                    "n_sites": len(sites),
                    "qc": qc.describe(),
                    "added_at": now,
                }
            )
        new_sites = Sites.concat([c.sites for c in contributions])
        aggregate: Aggregate | Chunks
        if spark is None:
            grows = bool((state.aggregate.locate(new_sites) < 0).any())
            residents = _resident_gvcfs(store, state) if grows else []
            aggregate = add(state.aggregate, contributions, residents)
        for row, write in zip(batch_rows, writes, strict=True):
            row["calls_file"] = write.result()
        samples_after = pa.concat_tables([state.samples, *sample_tables])
        if spark is not None:  # reads the batches' files, now written
            grows = bool(state.chunks.missing(new_sites).any())  # reads their chunks' variants
            aggregate = _spark_added(
                store, spark, state, batch_rows, samples_after, grows, generation
            )
    return State(
        generation,
        samples_after,
        pa.concat_tables(
            [state.batches, pa.Table.from_pylist(batch_rows, schema=state.batches.schema)]
        ),
        aggregate,
    )


def _kept(fc: FileCalls) -> tuple[Sites, SpilledCodes, np.ndarray]:
    """The variants a file's batch keeps (see genotypes.carried), their codes and sums (which
    the readers computed, as _specs asks them to)."""
    if fc.sums is None:
        raise ValueError(f"{fc.path.name} was read without sums")
    if fc.carried.all():  # the usual case, all of a joint file's genomes kept: no copies
        return fc.sites, fc.codes, fc.sums
    keep = np.flatnonzero(fc.carried)
    return fc.sites.take(keep), fc.codes.take(keep), fc.sums[keep]


def _spark_added(
    store: Store,
    spark: Any,
    state: State,
    batch_rows: list[dict[str, Any]],
    samples: pa.Table,
    grows: bool,
    generation: int,
) -> Chunks:
    """The next aggregate computed by Spark from the new batches' written files, its changed
    chunks written as `generation`'s; `samples` is the next state's samples table, `grows`
    whether they list variants not yet listed."""
    from genomics_variants.contributions.spark import StoredBatch, spark_add

    new = [StoredBatch(r["batch_id"], r["kind"], r["calls_file"]) for r in batch_rows]
    residents = list(_resident_block_cells(state)) if grows else []
    return spark_add(
        store,
        spark,
        state.chunks,
        new,
        samples=samples,
        residents=residents,
        generation=generation,
    )


def ingest_files(
    store: Store,
    inputs: Sequence[Path],
    reference: Path,
    *,
    key: bytes,
    manifest: Path | None = None,
    warehouse_url: str | None = None,
    qc: QCConfig | None = None,
    workers: int = 2,
    on: date | None = None,
    exclude_persons: Iterable[str] = (),
    progress: Progress | None = None,
    spark: Any | None = None,
) -> IngestResult:
    """Add the genomes in `inputs` (VCF/BCF/gVCF files or delivery folders) to `store`.

    With `spark` (a session, see contributions/spark.py) the aggregate is updated by Spark
    from the new batches' files instead of in this process: the same numbers.

    Without `warehouse_url`, opt-outs are not checked and every region is `unknown` (a note
    says so); with it, persons opted out on `on` (default today) are skipped, as are the
    person keys in `exclude_persons` (an opt-out list held elsewhere).
    """
    qc = qc or QCConfig()
    paths = expand_inputs(inputs)
    manifest = manifest or find_manifest(paths)
    if manifest is None:
        raise MedfollowError(f"no {MANIFEST_NAME} found beside the files: pass --samples")
    genomes = read_manifest(manifest, key)
    notes: list[str] = []
    optouts: set[str] = set(exclude_persons)
    if warehouse_url is None:
        notes.append("no warehouse: opt-outs not checked, regions recorded as 'unknown'")
    else:
        found = optouts_in_force(warehouse_url, on or date.today())
        if found is None:
            # Counting a genome before its person's opt-out is known would publish it.
            raise MedfollowError(
                "the opt-out register (raw.optout__registreringer) is not "
                "loaded: load an optout delivery before ingesting genomes"
            )
        optouts |= found
    with store.writer():
        state = store.load()
        registered = store.reference
        if registered is not None:  # before anything is stored under another sequence
            require_same_sequence(registered, Path(reference))
        plans = _plan(paths, genomes, state, optouts)
        readable = [p for p in plans if len(p.kept)]
        people = {k for p in readable for k in genomes.person_key[p.kept].tolist()}
        regions = regions_of(warehouse_url, people) if warehouse_url else {}
        specs, samples = _specs(readable, genomes, regions)
        with store.scratch() as folder:  # the codes read, until _stage has stored them
            calls = read_calls(
                specs, reference, qc=qc, folder=folder, workers=workers, progress=progress
            )
            if readable:
                state = _stage(store, state, readable, calls, samples, qc, workers, spark)
                store.commit(state)
                store.remember_reference(reference)
    read = {p.path: fc for p, fc in zip(readable, calls, strict=True)}
    reports = [
        FileReport(
            name=plan.path.name,
            kind=plan.kind,
            samples=len(plan.header.samples),
            added=len(plan.kept),
            stats=read[plan.path].stats if plan.path in read else None,
            qc_skipped=read[plan.path].qc_skipped if plan.path in read else (),
            **plan.report,
        )
        for plan in plans
    ]
    uncounted = sum(r.stats.uncounted for r in reports if r.stats is not None)
    if uncounted:
        notes.append(
            f"{uncounted} record(s) on chrM not counted: mitochondrial frequencies need "
            "heteroplasmy levels (see genomics_variants.frequencies.strata)"
        )
    unknown = sum(r.added for r in reports if r.kind == UNKNOWN_COVERAGE_KIND)
    if unknown:
        notes.append(
            f"{unknown} genome(s) from plain VCFs without callable regions: of unknown coverage, "
            "counted only as 'also seen in N samples of unknown coverage', never in AC/AN/AF "
            "(name a callable_bed in the sample manifest to count them)"
        )
    return IngestResult(state, reports, notes)
