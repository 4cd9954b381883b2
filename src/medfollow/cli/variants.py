"""``medfollow variants``: the national variant-frequency database.

Genomes go in (`ingest`), persons come out (`remove`, `sync-optouts`), and changes publish
a new release (once enough genomes changed; a removal always) that `lookup`, `export` and
the API (`serve`) read. All commands
take `--store DIR` (default: the `variants` folder of the state directory).
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from medfollow.cli.output import console, print_table, progress_callback
from medfollow_core.cpr_shape import CPR_SHAPED
from medfollow_core.errors import MedfollowError

app = typer.Typer(
    help="National variant frequencies: ingest genomes (VCF/gVCF), remove opted-out persons, "
    "look up variants, export releases, serve a Beacon v2 API.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
token_app = typer.Typer(
    help="API tokens for registered and controlled users.", no_args_is_help=True
)
app.add_typer(token_app, name="token")


def lean_process() -> None:
    """Spare a process that runs a variant command what it would load for nothing.

    Called by the console entry point only (never when the app runs in-process, as in
    tests): both settings hold for the whole process. numpy's and scipy's OpenBLAS each
    start a thread per core that spins for a while after loading (0.2 s of CPU); no variant
    command multiplies matrices, and reading forks one process per core anyway. Must run
    before numpy is first imported.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _without_pyarrow_pandas_probe()


def _without_pyarrow_pandas_probe() -> None:
    """Spare the variant commands pandas' import (0.17 s of every run).

    pyarrow imports pandas on its first conversion of a Python or numpy value, only to ask
    whether the value is a pandas object (apache/arrow#34994). No variant command hands it
    one, so the probe is made to fail once, with pandas hidden: pyarrow then takes pandas
    for absent in that check, and still imports it where pandas is asked for by name
    (``to_pandas``, ``from_pandas``).
    """
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    hidden = _PandasHidden()
    sys.meta_path.insert(0, hidden)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(hidden)


class _PandasHidden(importlib.abc.MetaPathFinder):
    """An import finder under which `import pandas` fails."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store", help="Store folder (default: <state dir>/variants)", show_default=False
    ),
]
DsnOption = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        envvar="MEDFOLLOW_DATABASE_URL",
        help="Warehouse DSN for opt-outs, regions and variants.frequencies "
        "(default: the platform warehouse, started if embedded)",
        show_default=False,
    ),
]
WarehouseFlag = Annotated[
    bool,
    typer.Option(
        "--warehouse/--no-warehouse",
        help="Use the warehouse; --no-warehouse skips opt-out checks and regions (all 'unknown')",
    ),
]


MinChangeOption = Annotated[
    int | None,
    typer.Option(
        "--min-change",
        min=1,
        help="Genomes that must be added or removed before a new release (against "
        "differencing; a removal always publishes) [default: 20]",
    ),
]


MASTER_HINT = "$MEDFOLLOW_SPARK_MASTER, else local[*]"
SparkFlag = Annotated[
    bool,
    typer.Option(
        "--spark",
        help="Count on Apache Spark (local[*], $MEDFOLLOW_SPARK_MASTER or spark-submit's master) "
        "instead of in this process",
    ),
]


@contextmanager
def _spark_session(wanted: bool) -> Iterator[Any]:
    """A Spark session for the command when --spark is given (stopped after), else None."""
    if not wanted:
        yield None
        return
    try:
        from genomics_variants.contributions.spark import spark_session

        session = spark_session()
    except ImportError:
        raise MedfollowError("--spark needs pyspark: install medfollow[spark]") from None
    except Exception as exc:  # pyspark's own errors: no Java, a master that does not answer
        raise MedfollowError(
            f"could not start Spark ({type(exc).__name__}); is Java 17 installed and the "
            f"master ({MASTER_HINT}) reachable?"
        ) from None
    try:
        yield session
    finally:
        session.stop()


def _min_change(value: int | None) -> int:
    from genomics_variants.frequencies.discipline import MIN_CHANGE

    return MIN_CHANGE if value is None else value


def _store(store: Path | None) -> Path:
    if store is not None:
        return store
    from medfollow_core.config import variant_store_dir

    return variant_store_dir()


def _warehouse_url(dsn: str | None) -> str:
    """The warehouse to use: --dsn, else the platform's (started if embedded), bootstrapped."""
    from medfollow_core.warehouse.bootstrap import bootstrap
    from medfollow_core.warehouse.connection import database_url

    url = dsn or database_url()
    bootstrap(url)
    return url


def _warehouse(dsn: str | None, use: bool) -> str | None:
    return _warehouse_url(dsn) if use else None


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MedfollowError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _released(published: Any) -> None:
    release = published.release
    if release is None:
        console.print(f"no new release: {published.held or 'nothing changed'}")
        return
    line = (
        f"release {release.release_id}: {release.sample_count:,} genomes, "
        f"{release.meta['variant_count']:,} variants"
    )
    if published.warehouse_rows is not None:
        line += f"; {published.warehouse_rows:,} rows in variants.frequencies"
    console.print(line)
    if published.withheld:
        console.print(
            f"note: {published.withheld} other genome(s) withheld until the next release, so "
            "this release does not reveal the removed genome(s) by comparison"
        )


@app.command()
def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="VCF/BCF/gVCF files (bgzipped), or a delivery folder")
    ],
    reference: Annotated[
        Path,
        typer.Option(
            "--reference", "-r", help="Reference FASTA (GRCh38) the calls were made against"
        ),
    ],
    samples: Annotated[
        Path | None,
        typer.Option("--samples", help="sample_manifest.tsv (default: found beside the files)"),
    ] = None,
    store: StoreOption = None,
    qc: Annotated[
        str, typer.Option(help="Genotype QC: adj (gnomAD: GQ>=20, DP>=10/5, het AB>=0.2) or none")
    ] = "adj",
    dsn: DsnOption = None,
    warehouse: WarehouseFlag = True,
    workers: Annotated[int, typer.Option(min=1, help="Reader processes")] = 2,
    on: Annotated[
        str | None, typer.Option(help="Date opt-outs are checked on (default today)")
    ] = None,
    min_change: MinChangeOption = None,
    spark: SparkFlag = False,
) -> None:
    """Add genomes: normalise, QC, count, and publish a new release.

    Every genome must be in the sample manifest; persons with an opt-out in force, and
    genomes or persons already stored, are skipped. AN counts a genome only where its
    callability is known: a joint call, a gVCF's reference blocks, or the callable-regions
    BED the manifest names (`callable_bed`) for a plain single-sample VCF, which otherwise
    never implies hom-ref and only adds to "seen in N samples of unknown coverage". The
    release waits until --min-change genomes changed.
    """
    from genomics_variants.pipeline import ingest as run_ingest

    url = _warehouse(dsn, warehouse)
    with progress_callback("ingest") as progress, _spark_session(spark) as session:
        result, published = run_ingest(
            _store(store),
            files,
            reference,
            manifest=samples,
            warehouse_url=url,
            qc=qc,
            workers=workers,
            on=_date(on),
            progress=progress,
            min_change=_min_change(min_change),
            spark=session,
        )
    rows = [
        (
            f.name,
            f.kind,
            f.samples,
            f.added,
            f.opted_out,
            f.already_stored + f.duplicate,
            f.stats.alleles if f.stats else "",
            f.stats.realigned if f.stats else "",
            ", ".join(f.qc_skipped) or "-",
        )
        for f in result.files
    ]
    print_table(
        "ingested",
        [
            "file",
            "kind",
            "genomes",
            "added",
            "opted out",
            "skipped (stored/dup)",
            "variants",
            "realigned",
            "QC fields missing",
        ],
        rows,
    )
    for note in result.notes:
        console.print(f"note: {note}")
    _released(published)


@app.command()
def remove(
    person_keys: Annotated[
        list[str], typer.Argument(help="person_key pseudonyms (never CPR numbers)")
    ],
    store: StoreOption = None,
    dsn: DsnOption = None,
    warehouse: Annotated[
        bool,
        typer.Option("--warehouse/--no-warehouse", help="Also publish to variants.frequencies"),
    ] = True,
    min_change: MinChangeOption = None,
    spark: SparkFlag = False,
) -> None:
    """Remove persons' genomes exactly (e.g. an opt-out) and publish a release without them.

    Older releases (files and warehouse) are deleted and recorded exports rewritten; if
    fewer than --min-change genomes changed, other genomes are withheld until the next
    release so that comparing releases does not reveal the removed genomes.
    """
    from genomics_variants.pipeline import remove as run_remove

    for number, key in enumerate(person_keys, start=1):
        if CPR_SHAPED.fullmatch(key.strip()):
            raise MedfollowError(
                f"argument {number} looks like a CPR number; remove takes person_key pseudonyms"
            )

    url = _warehouse(dsn, warehouse)
    with _spark_session(spark) as session:
        result, published = run_remove(
            _store(store),
            person_keys,
            warehouse_url=url,
            min_change=_min_change(min_change),
            spark=session,
        )
    console.print(
        f"{result.found} of {result.requested} person(s) were stored; "
        f"removed {result.genomes} genome(s)"
    )
    _released(published)


@app.command("sync-optouts")
def sync_optouts(
    store: StoreOption = None,
    dsn: DsnOption = None,
    on: Annotated[
        str | None, typer.Option(help="Date opt-outs are in force on (default today)")
    ] = None,
    min_change: MinChangeOption = None,
    spark: SparkFlag = False,
) -> None:
    """Remove every stored person with an opt-out (vaev or genetik) in force."""
    from genomics_variants.pipeline import sync_optouts as run_sync

    url = _warehouse_url(dsn)
    with _spark_session(spark) as session:
        result, published = run_sync(
            _store(store), url, on=_date(on), min_change=_min_change(min_change), spark=session
        )
    console.print(
        f"{result.requested} opt-out(s) in force; {result.found} stored person(s) removed "
        f"({result.genomes} genome(s))"
    )
    _released(published)


FREQUENCY_COLUMNS = ["AC", "AN", "AF", "nhomalt", "nhemi", "faf95"]


def _number(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def _record_rows(record: dict[str, Any]) -> list[list[Any]]:
    """One row per stratum: stratum, AC, AN, AF, nhomalt, nhemi, faf95."""
    return [
        [
            stratum,
            *(_number(fields.get(f)) for f in ("ac", "an", "af", "nhomalt", "nhemi", "faf95")),
        ]
        for stratum, fields in record.get("frequencies", {}).items()
    ]


def _print_frequencies(title: str, first: str, rows: list[list[Any]]) -> None:
    """A table whose first column (stratum or variant id) never wraps."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column(first, no_wrap=True)
    for name in FREQUENCY_COLUMNS:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def _coverage_note(an: Any) -> str:
    """Absent where genomes of known coverage cover the position, else not covered."""
    if an is None:
        return ""
    if an:
        return f" (absent: AN {an:,} at this position from genomes of known coverage)"
    return " (not covered: no genome of known coverage is callable at this position)"


@app.command()
def lookup(
    query: Annotated[
        str,
        typer.Argument(
            help="17-43045711-G-A, 'chr17:43045711 G>A' or a region chr17:43040000-43050000"
        ),
    ],
    store: StoreOption = None,
    fmt: Annotated[str, typer.Option("--format", help="json or table")] = "table",
    tier: Annotated[
        str, typer.Option(help="Show what this tier would see: anonymous, registered, controlled")
    ] = "controlled",
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            "-r",
            help="FASTA to normalise a typed indel (default: the store's, from its last ingest)",
        ),
    ] = None,
) -> None:
    """Frequencies of a variant (by stratum) or of the variants in a region."""
    from genomics_variants.api.privacy import Policy, Tier, disclose
    from genomics_variants.contributions.store import Store
    from genomics_variants.frequencies.query import (
        FrequencyIndex,
        VariantQuery,
        normalise_query,
        parse_query,
    )
    from genomics_variants.pipeline import release_of
    from genomics_variants.reference import Reference

    if fmt not in ("json", "table"):
        raise MedfollowError("--format must be json or table")
    try:
        shown_tier = Tier(tier)
    except ValueError:
        raise MedfollowError("--tier must be anonymous, registered or controlled") from None
    parsed = parse_query(query)
    index = FrequencyIndex(release_of(_store(store)))
    policy = Policy()
    if isinstance(parsed, VariantQuery):
        reference = reference or Store(_store(store)).reference
        if reference is not None and not len(parsed.ref) == len(parsed.alt) == 1:
            with Reference(reference) as ref:
                parsed = normalise_query(parsed, ref)
        row = index.row(parsed.variant_id)
        result = (
            {"variant_id": parsed.variant_id, "exists": False}
            if row is None
            else disclose(index.record(row), shown_tier, policy)
        )
        if row is None and shown_tier is not Tier.ANONYMOUS:
            result["callable_an"] = index.callable_an(parsed.chrom, parsed.pos)["all"]
        if fmt == "json":
            console.print_json(json.dumps(result))
        elif not result.get("exists"):
            console.print(
                f"{parsed.variant_id}: not observed in release {index.release.release_id}"
                + _coverage_note(result.get("callable_an"))
            )
        else:
            _print_frequencies(
                f"{parsed.variant_id} (release {index.release.release_id})",
                "stratum",
                _record_rows(result),
            )
        return
    answer = index.region(parsed)
    records = [disclose(index.record(r), shown_tier, policy) for r in answer.rows.tolist()]
    if fmt == "json":
        console.print_json(
            json.dumps({"variants": records, "total": answer.total, "truncated": answer.truncated})
        )
        return
    rows = [
        [r["variant_id"], *(_record_rows(r)[0][1:] if r.get("frequencies") else [r["exists"]])]
        for r in records
        if r["exists"]
    ]
    _print_frequencies(
        f"{parsed.chrom}:{parsed.start}-{parsed.end} (release {index.release.release_id})",
        "variant",
        rows,
    )
    if answer.truncated:
        console.print(f"showing the first {answer.limit:,} of {answer.total:,} variants (cap)")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Output path (.vcf.gz for VCF)")],
    fmt: Annotated[
        str,
        typer.Option("--format", help="vcf (sites-only, bgzipped, tabix-indexed), parquet or tsv"),
    ] = "vcf",
    store: StoreOption = None,
) -> None:
    """Export the current release.

    The export is recorded in the store: an opt-out removal rewrites it from the release
    without the person, so no export keeps a removed person's counts.
    """
    from genomics_variants.frequencies.export import export_release
    from genomics_variants.pipeline import release_of

    release = release_of(_store(store))
    path = export_release(release, fmt, out)
    console.print(
        f"wrote release {release.release_id} ({release.meta['variant_count']:,} variants) to {path}"
    )


@app.command()
def releases(store: StoreOption = None) -> None:
    """List releases on disk (the newest is current)."""
    from genomics_variants.contributions.store import Store
    from genomics_variants.frequencies.release import list_releases

    rows = [
        (
            r.release_id,
            r.meta["created_at"],
            r.sample_count,
            r.meta["variant_count"],
            ", ".join(r.meta["qc"]),
        )
        for r in list_releases(Store(_store(store)))
    ]
    print_table("releases", ["release", "created", "genomes", "variants", "QC"], rows)


@app.command()
def verify(store: StoreOption = None, spark: SparkFlag = False) -> None:
    """Recompute the aggregate from the stored contributions and compare (exits 1 if different)."""
    import tempfile

    from genomics_variants.contributions.chunks import digests_of
    from genomics_variants.contributions.remove import recompute
    from genomics_variants.contributions.store import Store

    target = Store(_store(store))
    exists = (target.root / "store.json").exists()
    # no ingest or removal may change the store between reading it and recomputing it
    held = target.writer() if exists else nullcontext()
    with held, _spark_session(spark) as session:
        kept = target.load().chunks
        held_now = kept.verified_digests()  # what the files hold, read chunk by chunk
        if held_now != kept.digests:
            damaged = sum(held_now.get(c) != d for c, d in kept.digests.items())
            raise MedfollowError(
                f"{damaged} of the aggregate's chunk files differ from what its manifest "
                "records: the store is damaged"
            )
        if session is None:
            fresh = digests_of(recompute(target), kept.bits)
        else:
            from genomics_variants.contributions.spark import spark_aggregate

            # beside the store, on the storage its executors share, and gone afterwards
            aside = target.scratch() if exists else tempfile.TemporaryDirectory()
            with aside as folder:
                fresh = spark_aggregate(target, session, Path(folder) / "aggregate").digests
    if fresh != kept.digests:
        differ = len(set(fresh.items()) ^ set(kept.digests.items()))
        raise MedfollowError(
            "the aggregate differs from a recomputation of the stored contributions "
            f"(in {differ} chunk entries)"
        )
    engine = " on Spark" if spark else ""
    console.print(
        f"aggregate equals a full recomputation{engine} ({len(kept):,} variants "
        f"in {len(kept.files):,} chunks)"
    )


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, help="Server processes (budgets are shared)")] = 1,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="Address or network of a reverse proxy whose X-Forwarded-For is believed "
            "(repeatable); without one, client addresses are the socket's",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Serve the Beacon v2 / frequency API over the current release (OpenAPI at /docs)."""
    from genomics_variants.api.server import serve as run_server

    run_server(
        _store(store), host=host, port=port, workers=workers, trusted_proxies=trusted_proxy or ()
    )


@token_app.command("add")
def token_add(
    name: Annotated[str, typer.Argument(help="Who the token is for")],
    tier: Annotated[str, typer.Option(help="registered or controlled")] = "registered",
    budget: Annotated[int | None, typer.Option(help="Queries per day (0 = unlimited)")] = None,
    store: StoreOption = None,
) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    from genomics_variants.api.access import TokenStore
    from genomics_variants.api.privacy import Tier
    from genomics_variants.contributions.store import Store

    try:
        chosen = Tier(tier)
    except ValueError:
        raise MedfollowError("--tier must be registered or controlled") from None
    token = TokenStore(Store(_store(store)).access_dir).add(name, chosen, budget)
    console.print(f"token for {name} ({chosen.value}); it is not shown again:\n{token}")


@token_app.command("list")
def token_list(store: StoreOption = None) -> None:
    """List tokens (names, tiers, budgets; never the tokens)."""
    from genomics_variants.api.access import TokenStore
    from genomics_variants.contributions.store import Store

    entries = TokenStore(Store(_store(store)).access_dir).listing()
    print_table(
        "tokens",
        ["name", "tier", "budget", "created"],
        [(e["name"], e["tier"], e["budget"], e["created_at"]) for e in entries],
    )


@token_app.command("revoke")
def token_revoke(name: str, store: StoreOption = None) -> None:
    """Revoke a token by name."""
    from genomics_variants.api.access import TokenStore
    from genomics_variants.contributions.store import Store

    if not TokenStore(Store(_store(store)).access_dir).revoke(name):
        raise MedfollowError(f"no token named {name!r}")
    console.print(f"revoked {name}")
