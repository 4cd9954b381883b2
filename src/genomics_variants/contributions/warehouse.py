"""What ingest needs from the warehouse: opt-outs in force and regions of residence.

Opt-outs come from `raw.optout__registreringer` (person_key, register 'vaev' or 'genetik',
gyldig_fra, gyldig_til). A registration is in force on a date when gyldig_fra <= date and
gyldig_til is null or later; both registers exclude a person from variant frequencies,
under every CPR number the person has had (``linkage.key_succession()``).
Regions come from the latest delivery in `raw.cpr__persons` (person_key, region).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from genomics_variants.contributions.cells import region_name
from medfollow_core.warehouse.catalog import columns_of, table_exists
from medfollow_core.warehouse.connection import connect


def optouts_in_force(url: str, on: date) -> set[str] | None:
    """Person keys with an opt-out in force on `on`; None if the register is not loaded.

    A person who changed CPR number has one key per number, and a genome manifest may
    carry any of them: the person is resolved through the platform's one definition of
    CPR succession, ``linkage.key_succession()``, and every key of the person (current and
    retired) is returned.
    """
    with connect(url) as conn:
        if not table_exists(conn, "raw.optout__registreringer"):
            return None
        rows = conn.execute(
            """
            with succession as (select old_key, current_key from linkage.key_succession()),
            opted_out as (
                select coalesce(s.current_key, o.person_key) as person_key
                  from raw.optout__registreringer as o
                  left join succession as s on s.old_key = o.person_key
                 where o.register in ('vaev', 'genetik') and o.gyldig_fra <= %(on)s
                   and (o.gyldig_til is null or o.gyldig_til > %(on)s)
                   and o.person_key is not null
            )
            select person_key from opted_out
            union
            select s.old_key from succession as s join opted_out as o
                on o.person_key = s.current_key
            """,
            {"on": on},
        ).fetchall()
    return {row[0] for row in rows}


def regions_of(url: str, person_keys: Iterable[str]) -> dict[str, str]:
    """Region stratum name per person (latest CPR delivery); persons not found are absent."""
    keys = sorted(set(person_keys))
    if not keys:
        return {}
    with connect(url) as conn:
        if not table_exists(conn, "raw.cpr__persons"):
            return {}
        columns = columns_of(conn, "raw", "cpr__persons")
        latest = "_loaded_at desc nulls last" if "_loaded_at" in columns else "region"
        rows = conn.execute(
            "select distinct on (person_key) person_key, region from raw.cpr__persons "
            f"where person_key = any(%s) order by person_key, {latest}",
            (keys,),
        ).fetchall()
    return {key: region_name(region) for key, region in rows}
