"""Helpers for the linkage tests: loading deliveries and reading linkage tables."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from registry_ingest.pipeline import ingest_delivery
from synthetic_deliveries import SynthResult

LINKED_SOURCES = ("cpr", "biobank", "outcomes_crossborder")


def ingest(url: str, key: bytes, folders: Iterable[Path]) -> None:
    """Load delivery folders, failing the test on any refusal."""
    for folder in folders:
        outcome = ingest_delivery(folder, url=url, key=key)
        assert outcome.status == "loaded", outcome.summary()


def synth_deliveries(synth: SynthResult, sources: Iterable[str] = LINKED_SOURCES) -> list[Path]:
    wanted = set(sources)
    return [d for d in synth.deliveries if d.parent.name in wanted]


def person_row(
    cpr: str,
    first: str,
    last: str,
    born: date,
    *,
    sex: str,
    postnr: str,
    kommune: str = "101",
    middle: str | None = None,
) -> dict[str, object]:
    """One row of a CPR-register delivery."""
    return {
        "cpr": cpr,
        "fornavn": first,
        "mellemnavn": middle,
        "efternavn": last,
        "koen": sex,
        "foedselsdato": born.strftime("%d-%m-%Y"),
        "region": "1084",
        "kommune": kommune,
        "postnr": postnr,
        "status": "01",
        "status_dato": None,
    }


def links(url: str, source: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """linkage.person_links as {(source, record_id): row}."""
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "select * from linkage.person_links where %(s)s::text is null or source = %(s)s",
            {"s": source},
        )
        names = [d.name for d in cur.description or ()]
        return {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def rows(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()
