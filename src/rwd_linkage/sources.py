"""Which raw tables are linked, and how.

Sources with a CPR column are found from the ingest contracts, so a new registry is linked
deterministically the day its contract lands. Sources without CPR need to say which columns
hold names, birth date and address, and whether one record can stand for only one person
on both sides; they are listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from medfollow_core.landing.contracts import all_contracts
from rwd_linkage.persons import Demographics

SPINE_TABLE = "cpr__persons"
CHANGES_TABLE = "cpr__changes"


@dataclass(frozen=True)
class CprSource:
    """A raw table whose ``column`` holds the pseudonymised CPR as delivered."""

    table: str
    column: str

    @property
    def name(self) -> str:
        """The ``source`` value in person_links: the table, plus the column if not the usual."""
        return self.table if self.column == "person_key" else f"{self.table}.{self.column}"


@dataclass(frozen=True)
class ExtractSource:
    """A raw table without CPR, linked probabilistically against the spine.

    ``one_to_one``: the source holds each person at most once (a cross-border patient is one
    patient), so two of its records may not both link to the same person. Without it a
    person may have many records (legacy biobank samples).
    """

    table: str
    demographics: Demographics
    one_to_one: bool

    @property
    def name(self) -> str:
        return self.table


EXTRACTS: tuple[ExtractSource, ...] = (
    ExtractSource(
        table="outcomes_crossborder__patients",
        demographics=Demographics(
            record_id="foreign_patient_id",
            first_names="fornavn",
            surname="efternavn",
            birth_date="foedselsdato",
            sex="koen",
            postcode="postnr",
            municipality="kommune",
        ),
        one_to_one=True,
    ),
    ExtractSource(
        table="biobank__legacy",
        demographics=Demographics(
            record_id="legacy_sample_id",
            first_names="fornavn",
            surname="efternavn",
            birth_date="foedselsdato",
            sex="koen",
            postcode="postnr",
        ),
        one_to_one=False,
    ),
)


def cpr_sources() -> list[CprSource]:
    """Every contract column of type cpr, except the CPR-change table itself (the map)."""
    found: list[CprSource] = []
    for contract in all_contracts().values():
        for table in contract.tables:
            name = f"{contract.source}__{table.name}"
            if name == CHANGES_TABLE:
                continue
            found.extend(CprSource(name, c.target) for c in table.columns if c.type == "cpr")
    return found
