"""With the warehouse: opt-outs in force are never counted, regions come from CPR, and
releases land in variants.frequencies with an atomic switch (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from genomics_variants.contributions.store import Store
from genomics_variants.contributions.warehouse import optouts_in_force, regions_of
from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.pipeline import ingest, publish, sync_optouts

pytestmark = pytest.mark.integration
TODAY = date(2026, 6, 1)


@pytest.fixture(scope="module")
def warehouse(
    db_url: str, manifest_rows: list[dict[str, str]], person_key: Callable[[str], str]
) -> dict[str, object]:
    """Raw opt-out and CPR tables as the registry ingest creates them."""
    keys = [person_key(r["cpr"]) for r in manifest_rows]
    joint = [
        k for k, r in zip(keys, manifest_rows, strict=True) if r["vcf_file"].startswith("joint")
    ]
    day = timedelta(days=1)
    optouts = [
        (joint[0], "vaev", TODAY - 100 * day, None),  # in force
        (joint[1], "genetik", TODAY - 100 * day, TODAY - day),  # expired
        (joint[2], "genetik", TODAY + day, None),  # not yet
        (joint[3], "genetik", TODAY - 10 * day, TODAY + 10 * day),  # in force
        (joint[4], "vaev", TODAY, None),  # from today
    ]
    regions = ["1081", "1082", "1083", "1084", "1085", None]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "create table raw.optout__registreringer (person_key text, register text, gyldig_fra date, "
            "gyldig_til date, _delivery_id text, _row_number bigint, _loaded_at timestamptz default now())"
        )
        conn.execute(
            "create table raw.cpr__persons (person_key text, region text, _delivery_id text, "
            "_row_number bigint, _loaded_at timestamptz default now())"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into raw.optout__registreringer (person_key, register, gyldig_fra, gyldig_til, "
                "_delivery_id, _row_number) values (%s, %s, %s, %s, 'optout-1', 1)",
                optouts,
            )
            cur.executemany(
                "insert into raw.cpr__persons (person_key, region, _delivery_id, _row_number, _loaded_at) "
                "values (%s, %s, 'cpr-old', 1, now() - interval '30 days')",
                [(k, "1085") for k in keys],
            )
            cur.executemany(
                "insert into raw.cpr__persons (person_key, region, _delivery_id, _row_number) "
                "values (%s, %s, 'cpr-new', 1)",
                [(k, regions[i % len(regions)]) for i, k in enumerate(keys)],
            )
    return {"url": db_url, "joint": joint, "keys": keys}


def test_optouts_in_force(warehouse: dict[str, object]) -> None:
    joint = warehouse["joint"]
    assert optouts_in_force(str(warehouse["url"]), TODAY) == {joint[0], joint[3], joint[4]}  # type: ignore[index]


def test_regions_from_the_latest_cpr_delivery(warehouse: dict[str, object]) -> None:
    keys = warehouse["keys"]
    found = regions_of(str(warehouse["url"]), keys[:6])  # type: ignore[index]
    assert [found[k] for k in keys[:6]] == [  # type: ignore[index]
        "nordjylland",
        "midtjylland",
        "syddanmark",
        "hovedstaden",
        "sjaelland",
        "unknown",
    ]


def test_ingest_sync_and_publish(
    warehouse: dict[str, object], delivery: Path, reference: Path, tmp_path: Path
) -> None:
    url, joint = str(warehouse["url"]), warehouse["joint"]
    result, published = ingest(
        tmp_path / "store", [delivery], reference, warehouse_url=url, on=TODAY, workers=2
    )
    assert sum(f.opted_out for f in result.files) == 3
    assert published.release is not None and published.warehouse_rows
    stored = set(result.state.samples.column("person_key").to_pylist())
    assert not stored & {joint[0], joint[3], joint[4]}  # type: ignore[index]
    assert set(result.state.samples.column("region").to_pylist()) > {"hovedstaden", "unknown"}
    first = published.release.release_id

    # AN at every callable site: a position covered by the gVCFs' reference blocks. Checked
    # on the first release, where no genome is withheld (later releases withhold randomly
    # chosen genomes, which may be the gVCF ones).
    index = FrequencyIndex(published.release)
    with psycopg.connect(url) as conn:
        chrom, start = conn.execute(
            "select chrom, start_pos from variants.coverage where stratum = 'all' limit 1"
        ).fetchone()  # type: ignore[misc]
        an = conn.execute(
            "select an from variants.coverage c join variants.releases r using (release_id) "
            "where r.is_current and stratum = 'all' and chrom = %s and %s between start_pos "
            "and end_pos",
            (chrom, start),
        ).fetchone()
    assert an is not None and an[0] == index.callable_an(chrom, start)["all"] > 0

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into raw.optout__registreringer (person_key, register, gyldig_fra, _delivery_id, "
            "_row_number) values (%s, 'genetik', %s, 'optout-2', 1)",
            (joint[5], TODAY),  # type: ignore[index]
        )
    removal, again = sync_optouts(tmp_path / "store", url, on=TODAY)
    assert (removal.found, removal.genomes) == (1, 1)
    assert again.release is not None and again.release.release_id != first
    assert again.withheld == 19

    with psycopg.connect(url) as conn:
        releases = conn.execute(
            "select release_id, is_current, sample_count from variants.releases order by release_id"
        ).fetchall()
        # the removal deleted the older release; 19 genomes withheld mask the one removed
        assert releases == [(again.release.release_id, True, 37 - 1 - 19)]
        assert first not in {
            r[0] for r in conn.execute("select release_id from variants.frequencies")
        }
        current = conn.execute(
            "select stratum, ac, an from variants.current_frequencies where variant_id = "
            "(select variant_id from variants.current_frequencies where stratum = 'all' "
            "order by ac desc limit 1) order by stratum"
        ).fetchall()
        strata = {s: (ac, an) for s, ac, an in current}
        assert strata["all"][0] == strata["XX"][0] + strata["XY"][0]
        regions = [
            "hovedstaden",
            "midtjylland",
            "nordjylland",
            "sjaelland",
            "syddanmark",
            "unknown",
        ]
        assert strata["all"][1] == sum(strata[r][1] for r in regions if r in strata)
        indexes = {
            r[0]
            for r in conn.execute(
                "select indexname from pg_indexes where schemaname = 'variants' and tablename = 'frequencies'"
            ).fetchall()
        }
        assert "frequencies_locus" in indexes and "frequencies_pkey" in indexes
        conn.execute("set enable_seqscan = off")  # is there an index for the look-up at all?
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "explain select * from variants.frequencies where release_id = 'r00002' and chrom = 'chr17' "
                "and pos = 43000928"
            ).fetchall()
        )
        assert "Index" in plan

    # a warehouse that lost the release (new, restored) gets it back though none is due
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from variants.releases")
    synced = publish(Store(tmp_path / "store"), warehouse_url=url)
    assert synced.release is None and synced.held and synced.warehouse_rows
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select release_id from variants.releases where is_current"
        ).fetchall() == [(again.release.release_id,)]
    assert publish(Store(tmp_path / "store"), warehouse_url=url).warehouse_rows is None


def test_optouts_follow_cpr_number_changes(warehouse: dict[str, object]) -> None:
    """An opt-out under one number excludes genomes delivered under the person's others."""
    url, joint = str(warehouse["url"]), warehouse["joint"]
    renumbered, chained = joint[6], joint[7]  # type: ignore[index]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "create table raw.cpr__changes (gammelt_person_key text, nyt_person_key text, "
            "_delivery_id text, _row_number bigint)"
        )
        conn.execute(
            "insert into raw.cpr__changes values "
            "(%(old)s, 'key-b', 'cpr-1', 1), ('key-b', 'key-c', 'cpr-1', 2), "  # old → b → c
            "(%(a)s, %(chained)s, 'cpr-1', 3)",  # an opted-out person's later number
            {"old": renumbered, "a": joint[0], "chained": chained},  # type: ignore[index]
        )
        conn.execute(
            "insert into raw.optout__registreringer (person_key, register, gyldig_fra, "
            "_delivery_id, _row_number) values ('key-c', 'genetik', %s, 'optout-3', 1)",
            (TODAY - timedelta(days=1),),
        )
        try:
            found = optouts_in_force(url, TODAY)
        finally:
            conn.execute("delete from raw.optout__registreringer where _delivery_id = 'optout-3'")
            conn.execute("drop table raw.cpr__changes")
    assert found is not None
    assert {renumbered, "key-b", "key-c", chained, joint[0]} <= found  # type: ignore[index]
    assert joint[1] not in found  # type: ignore[index]  # expired, and no change links it
