"""The platform's person model: how a demographic record is prepared, compared and blocked.

Every source without CPR is linked against the CPR register (the spine) on the same
fields — given names, surname, birth date, sex, postcode and municipality — so one
description serves them all; a source only says which of its columns hold which field.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from splink import block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

from rwd_linkage import comparisons, prepare
from rwd_linkage.model import TrainingPass


@dataclass(frozen=True)
class Demographics:
    """Which columns of a raw table hold a person's demographics (SQL expressions).

    ``first_names`` may hold several given names ("Kirsten Marie"); ``middle_names`` is the
    CPR register's separate middle-name field, absent from most extracts.
    """

    record_id: str
    first_names: str
    surname: str
    birth_date: str
    middle_names: str | None = None
    sex: str | None = None
    postcode: str | None = None
    municipality: str | None = None

    def columns(self) -> list[str]:
        """The raw columns to read (record id first)."""
        found = [
            self.record_id,
            self.first_names,
            self.middle_names,
            self.surname,
            self.birth_date,
            self.sex,
            self.postcode,
            self.municipality,
        ]
        return [c for c in found if c is not None]


SPINE = Demographics(
    record_id="person_key",
    first_names="fornavn",
    middle_names="mellemnavn",
    surname="efternavn",
    birth_date="foedselsdato",
    sex="koen",
    postcode="postnr",
    municipality="kommune",
)


def prepared_select(d: Demographics, relation: str) -> str:
    """SQL that turns ``relation`` (raw columns) into the prepared person record."""
    given = f"concat_ws(' ', {d.first_names}, {d.middle_names or 'null'})"
    full = f"concat_ws(' ', {given}, {d.surname})"
    columns = {
        "unique_id": f"cast({d.record_id} as varchar)",
        "first_name": prepare.first_token(prepare.fold(d.first_names)),
        "given__tokens": prepare.tokens(prepare.fold(given)),
        **prepare.name_columns("surname", d.surname),
        "name__tokens": prepare.tokens(prepare.fold(full)),
        **prepare.date_columns("dob", d.birth_date),
        "sex": prepare.sex_column(d.sex) if d.sex else "cast(null as varchar)",
        "postcode": prepare.code_column(d.postcode) if d.postcode else "cast(null as varchar)",
        "municipality": (
            prepare.code_column(d.municipality, strip_zeros=True)
            if d.municipality
            else "cast(null as varchar)"
        ),
    }
    return f"select {prepare.select_list(columns)}\nfrom {relation}"


def comparison_list() -> list[ComparisonCreator]:
    """Given name, surname, birth date, sex and residence."""
    return [
        comparisons.name(
            "first_name", overlap='list_has_any("given__tokens_l", "given__tokens_r")'
        ),
        comparisons.name(
            "surname",
            overlap=(
                'list_has_any("surname__tokens_l", "name__tokens_r") '
                'or list_has_any("surname__tokens_r", "name__tokens_l")'
            ),
        ),
        comparisons.date("dob"),
        comparisons.exact("sex"),
        comparisons.residence("postcode", "municipality"),
    ]


def blocking_rules() -> list[BlockingRuleCreator | str]:
    """Candidate pairs: any one of these must hold.

    Together they survive any single corrupted field and nearly every pair of them: a name
    typo or transliteration (same birth date), a swapped day and month (the swapped date),
    a wrong birth year (a name with day and month), a name typo with a slipped day (postcode,
    year and sex). Each rule is selective on its own, which keeps a national spine to tens of
    candidates per record rather than thousands (surname and postcode alone would not be:
    the common -sen names fill every postcode).
    """
    return [
        block_on("dob"),
        "l.dob__swapped = r.dob",
        block_on("first_name", "surname", "dob__y"),
        block_on("first_name", "dob__m", "dob__d"),
        block_on("surname", "dob__m", "dob__d", "sex"),
        block_on("postcode", "dob__y", "sex"),
    ]


def mark_unique_name_places(con: duckdb.DuckDBPyConnection, spine: str, *others: str) -> None:
    """Add ``name_place_unique`` to each table: does this record's first name, surname and
    postcode belong to exactly one person in the spine? (See ``training_passes``.)"""
    con.execute(
        f"create temp table name_places as select first_name, surname, postcode, "
        f"count(*) = 1 as name_place_unique from {spine} "
        f"where first_name is not null and surname is not null and postcode is not null "
        f"group by all"
    )
    for table in (spine, *others):
        con.execute(
            f"create or replace table {table} as select t.*, "
            f"coalesce(n.name_place_unique, false) as name_place_unique from {table} t "
            f"left join name_places n using (first_name, surname, postcode)"
        )
    con.execute("drop table name_places")


def training_passes() -> list[TrainingPass]:
    """EM passes, each on pairs where the fields it learns are free to disagree.

    1. Pairs sharing a birth date teach the names, sex and residence, and the prior: among
       them, different people rarely share names as well, so EM separates cleanly.
    2. The birth date is learnt on pairs sharing first name, surname and postcode, but only
       where that combination belongs to one person in the spine. Without that condition the
       block fills with namesakes (the common -sen names fill every postcode) who differ only
       in birth date, and EM takes them for matches with a mistyped date. The prior is held
       at the value pass 1 gives for such pairs, for the same reason.
    """
    return [
        TrainingPass(block_on("dob"), learn_prior=True),
        TrainingPass(
            "l.first_name = r.first_name and l.surname = r.surname "
            "and l.postcode = r.postcode and l.name_place_unique and r.name_place_unique",
            learn_prior=False,
        ),
    ]
