"""End-to-end checks of the synthetic delivery set on a small run (about 2,000 persons)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medfollow_core.cpr import normalise_cpr, sex_of, validate_cpr
from medfollow_core.landing.manifest import Manifest, sha256_of
from synthetic_deliveries import SynthResult, generate
from synthetic_deliveries.catalogue import load_indications
from synthetic_deliveries.geography import MUNICIPALITIES

PERSONS = 2000
SEED = 11
CUTOFF = date(2026, 9, 30)
SOURCES = (
    "cpr",
    "lpr3",
    "sygehusmedicin",
    "lmdb",
    "doedsaarsag",
    "lab",
    "biobank",
    "outcomes",
    "outcomes_crossborder",
    "optout",
)
LATIN1 = {"cpr", "doedsaarsag", "optout"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("synth") / "a", persons=PERSONS, seed=SEED)


def landing_file(run: SynthResult, source: str, name: str, month: str = "202609") -> Path:
    return run.out / "landing" / source / f"{source}-{month}" / name


def rows(run: SynthResult, source: str, name: str, month: str = "202609") -> list[dict[str, str]]:
    encoding = "latin-1" if source in LATIN1 else "utf-8"
    text = landing_file(run, source, name, month).read_text(encoding=encoding)
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def truth(run: SynthResult, name: str) -> list[dict]:
    return pq.read_table(run.ground_truth / f"{name}.parquet").to_pylist()


def parse_day(text: str) -> date:
    text = text.split(" ")[0]
    if len(text) == 10 and text[4] == "-":
        return date.fromisoformat(text)
    return datetime.strptime(text, "%d-%m-%Y").date()


def person_by_cpr(run: SynthResult) -> dict[str, dict]:
    """Every CPR ever carried (old numbers included) -> the true person."""
    persons = {p["person_id"]: p for p in truth(run, "persons")}
    found = {p["cpr"]: p for p in persons.values()}
    for change in truth(run, "cpr_changes"):
        found[change["old_cpr"]] = persons[change["person_id"]]
    return found


def all_files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def test_same_arguments_give_identical_bytes(run: SynthResult, tmp_path: Path) -> None:
    again = generate(tmp_path / "b", persons=PERSONS, seed=SEED)

    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in all_files(root)
        }

    assert digests(run.out) == digests(again.out)
    other = generate(tmp_path / "c", persons=PERSONS, seed=SEED + 1)
    spine = Path("landing/cpr/cpr-202609/cpr_persons.csv")
    assert (run.out / spine).read_bytes() != (other.out / spine).read_bytes()


def test_every_source_has_a_delivery_with_a_true_manifest(run: SynthResult) -> None:
    folders = {
        p.relative_to(run.out / "landing").as_posix()
        for p in (run.out / "landing").glob("*/*")
        if p.is_dir()
    }
    expected = {f"{s}/{s}-202609" for s in SOURCES} | {"optout/optout-202608"}
    assert folders == expected
    assert {p.relative_to(run.out / "landing").as_posix() for p in run.deliveries} == expected
    for folder in folders:
        path = run.out / "landing" / folder
        manifest = Manifest.read(path)
        assert manifest.delivery_id == path.name and manifest.source == path.parent.name
        assert manifest.files
        for f in manifest.files:
            assert sha256_of(path / f.name) == f.sha256
            if f.name.endswith(".parquet"):
                assert pq.read_metadata(path / f.name).num_rows == f.rows
            else:
                assert (path / f.name).read_bytes().count(b"\n") - 1 == f.rows
        assert manifest.cutoff_date == (
            date(2026, 8, 31) if path.name.endswith("202608") else CUTOFF
        )


def test_cpr_numbers_follow_the_rules(run: SynthResult) -> None:
    persons = rows(run, "cpr", "cpr_persons.csv")
    assert len(persons) == PERSONS
    numbers = [normalise_cpr(p["cpr"]) for p in persons]
    assert all(numbers) and len(set(numbers)) == PERSONS
    assert any("-" in p["cpr"] for p in persons)
    warnings = 0
    region_of = {f"{m.code:03d}": m.region for m in MUNICIPALITIES}
    for p, number in zip(persons, numbers, strict=True):
        check = validate_cpr(p["cpr"])
        assert check.ok
        assert check.birth_date == parse_day(p["foedselsdato"])
        assert int(p["koen"]) == sex_of(number)
        assert region_of[p["kommune"]] == int(p["region"])
        if check.mod11_warning:
            warnings += 1
            assert check.birth_date.year > 2007
    assert warnings > 0


def test_encodings(run: SynthResult) -> None:
    spine = landing_file(run, "cpr", "cpr_persons.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        spine.decode("utf-8")
    text = spine.decode("latin-1")
    assert all(letter in text for letter in "æøå")
    for path in all_files(run.out / "landing"):
        if path.suffix == ".csv":
            source = path.parent.parent.name
            path.read_bytes().decode("latin-1" if source in LATIN1 else "utf-8")
    assert "æ" in landing_file(run, "lpr3", "kontakter.csv").read_text(encoding="utf-8")


DATED = {
    ("cpr", "cpr_persons.csv"): ("foedselsdato", "status_dato"),
    ("cpr", "cpr_migrations.csv"): ("dato",),
    ("cpr", "cpr_changes.csv"): ("dato",),
    ("lpr3", "kontakter.csv"): ("dato_start", "dato_slut"),
    ("lpr3", "procedurer.csv"): ("dato_start",),
    ("sygehusmedicin", "sygehusmedicin.csv"): ("adm_dato",),
    ("doedsaarsag", "doedsaarsag.csv"): ("doedsdato",),
    ("lab", "lab.csv"): ("proevetid",),
    ("biobank", "biobank_samples.csv"): ("udtagningstid",),
    ("biobank", "biobank_legacy.csv"): ("udtagningsdato",),
    ("outcomes", "outcomes.csv"): ("vurderingsdato", "crs_debut", "icans_debut"),
    ("outcomes_crossborder", "assessments.csv"): ("vurderingsdato", "crs_debut", "icans_debut"),
    ("optout", "optout.csv"): ("gyldig_fra", "gyldig_til"),
}


def test_nothing_happens_after_the_cutoff(run: SynthResult) -> None:
    for (source, name), columns in DATED.items():
        for row in rows(run, source, name):
            for column in columns:
                if row[column]:
                    assert parse_day(row[column]) <= CUTOFF, (source, name, column)
    eksd = pq.read_table(landing_file(run, "lmdb", "lmdb.parquet"))["eksd"].to_pylist()
    assert max(eksd) <= CUTOFF and min(eksd) >= date(2019, 1, 1)


def test_nothing_happens_after_death(run: SynthResult) -> None:
    people = person_by_cpr(run)
    events = [
        ("lpr3", "kontakter.csv", "dato_start"),
        ("sygehusmedicin", "sygehusmedicin.csv", "adm_dato"),
        ("lab", "lab.csv", "proevetid"),
        ("biobank", "biobank_samples.csv", "udtagningstid"),
        ("outcomes", "outcomes.csv", "vurderingsdato"),
    ]
    for source, name, column in events:
        for row in rows(run, source, name):
            person = people[normalise_cpr(row["cpr"])]
            if person["death_date"] is not None:
                assert parse_day(row[column]) <= person["death_date"], (source, name)
    lmdb = pq.read_table(landing_file(run, "lmdb", "lmdb.parquet")).to_pylist()
    for row in lmdb:
        death = people[row["cpr"]]["death_date"]
        assert death is None or row["eksd"] <= death


def test_treatment_truth_is_coherent(run: SynthResult) -> None:
    treatments = truth(run, "treatments")
    first = [t for t in treatments if t["atmp_line"] == 1]
    assert run.treated == len(first) == round(PERSONS * 0.015)
    assert len({t["person_id"] for t in treatments}) == len(first)
    seeded = {i.product.code for i in load_indications()}
    assert {t["product_code"] for t in treatments} == seeded
    for t in treatments:
        assert date(2019, 1, 1) <= t["diagnosis_date"] < t["treatment_date"] <= CUTOFF
        assert t["followup_end"] <= CUTOFF
        for column in ("progression_date", "death_date", "emigration_date", "crs_onset_date"):
            assert t[column] is None or t["treatment_date"] <= t[column] <= t["followup_end"]
        if t["crs_onset_date"] is not None:
            assert 1 <= (t["crs_onset_date"] - t["treatment_date"]).days <= 10


def test_the_cohort_meets_the_awkward_cases(run: SynthResult) -> None:
    """The situations follow-up definitions break on (synthetic_deliveries.situations): a
    CAR-T re-infusion, a patient who emigrates and comes back, a CPR-number change after
    the milestones settled, each visible in the deliveries as the registries record it."""
    people = person_by_cpr(run)
    products = {i.product.code: i.product for i in load_indications()}
    treatments = truth(run, "treatments")
    reinfused = [t for t in treatments if t["reinfusion_date"] is not None]
    returned = [t for t in treatments if t["abroad_from"] is not None]
    assert reinfused and returned
    given = {
        (people[normalise_cpr(r["cpr"])]["person_id"], r["atc"], parse_day(r["adm_dato"]))
        for r in rows(run, "sygehusmedicin", "sygehusmedicin.csv")
    }
    for t in reinfused:
        atc = products[t["product_code"]].atc
        assert (t["person_id"], atc, t["reinfusion_date"]) in given
        assert 50 <= (t["reinfusion_date"] - t["treatment_date"]).days <= 75
    moves = {
        (people[normalise_cpr(r["cpr"])]["person_id"], r["retning"], parse_day(r["dato"]))
        for r in rows(run, "cpr", "cpr_migrations.csv")
    }
    for t in returned:
        assert (t["person_id"], "ud", t["abroad_from"]) in moves
        assert (t["person_id"], "ind", t["abroad_until"]) in moves
        assert t["emigration_date"] is None and t["abroad_until"] < t["followup_end"]
    renumbered = [t for t in treatments if t["cpr_change_date"] is not None]
    changes = {(c["person_id"], c["change_date"]) for c in truth(run, "cpr_changes")}
    assert renumbered
    for t in renumbered:
        assert (t["person_id"], t["cpr_change_date"]) in changes
        assert (t["cpr_change_date"] - t["treatment_date"]).days >= 400


def test_a_patient_gets_a_second_line_atmp(run: SynthResult) -> None:
    """After progression on one CAR-T product a patient is given a different one for the
    same indication: a second truth row (atmp_line 2, the same person and fate), recorded
    in the hospital medicines data on its date (not a re-infusion of the first)."""
    people = person_by_cpr(run)
    products = {i.product.code: i.product for i in load_indications()}
    treatments = truth(run, "treatments")
    second = [t for t in treatments if t["atmp_line"] == 2]
    assert len(second) == 1
    line2 = second[0]
    (line1,) = [
        t for t in treatments if t["person_id"] == line2["person_id"] and t["atmp_line"] == 1
    ]
    assert line1["product_code"] != line2["product_code"]
    assert line1["indication_group"] == line2["indication_group"]
    assert line1["progression_date"] < line2["treatment_date"] < line2["followup_end"]
    for column in ("death_date", "emigration_date", "followup_end", "cpr"):
        assert line1[column] == line2[column]
    given = {
        (people[normalise_cpr(r["cpr"])]["person_id"], r["atc"], parse_day(r["adm_dato"]))
        for r in rows(run, "sygehusmedicin", "sygehusmedicin.csv")
    }
    atc = products[line2["product_code"]].atc
    assert (line2["person_id"], atc, line2["treatment_date"]) in given


def test_atmps_are_hospital_medicines_not_prescriptions(run: SynthResult) -> None:
    atmp_atc = {i.product.atc for i in load_indications()}
    lmdb_atc = set(pq.read_table(landing_file(run, "lmdb", "lmdb.parquet"))["atc"].to_pylist())
    assert not atmp_atc & lmdb_atc
    people = person_by_cpr(run)
    given = {
        (people[normalise_cpr(r["cpr"])]["person_id"], r["atc"], parse_day(r["adm_dato"]))
        for r in rows(run, "sygehusmedicin", "sygehusmedicin.csv")
        if r["atc"] in atmp_atc
    }
    products = {i.product.code: i.product for i in load_indications()}
    for t in truth(run, "treatments"):
        atc = products[t["product_code"]].atc
        if t["treated_abroad"]:
            assert not any(g[0] == t["person_id"] and g[1] == atc for g in given)
        else:
            assert (t["person_id"], atc, t["treatment_date"]) in given


def test_crossborder_extract_has_no_cpr_and_full_ground_truth(run: SynthResult) -> None:
    patients = rows(run, "outcomes_crossborder", "patients.csv")
    assessments = rows(run, "outcomes_crossborder", "assessments.csv")
    assert patients and "cpr" not in patients[0] and "cpr" not in assessments[0]
    links = {r["foreign_patient_id"]: r for r in truth(run, "crossborder_links")}
    assert {p["foreign_patient_id"] for p in patients} == set(links)
    assert {a["foreign_patient_id"] for a in assessments} <= set(links)
    assert any(r["person_id"] is None for r in links.values())
    abroad = {t["person_id"] for t in truth(run, "treatments") if t["treated_abroad"]}
    assert abroad == {r["person_id"] for r in links.values() if r["person_id"] is not None}
    abroad_products = {i.product.code for i in load_indications() if i.product.administered_abroad}
    for t in truth(run, "treatments"):
        if t["product_code"] in abroad_products:
            assert t["treated_abroad"] and t["foreign_patient_id"] in links


def test_outcome_assessments_follow_the_truth(run: SynthResult) -> None:
    people = person_by_cpr(run)
    by_key = {(t["person_id"], t["product_code"]): t for t in truth(run, "treatments")}
    seen = rows(run, "outcomes", "outcomes.csv")
    assert seen
    for row in seen:
        t = by_key[(people[normalise_cpr(row["cpr"])]["person_id"], row["produkt"])]
        day = parse_day(row["vurderingsdato"])
        assert t["treatment_date"] < day <= t["followup_end"]
        if t["progression_date"] is not None and t["progression_date"] <= day:
            assert row["respons"] in ("PD", "MRD-pos")


def test_optout_deliveries_add_and_end_opt_outs(run: SynthResult) -> None:
    before = rows(run, "optout", "optout.csv", "202608")
    after = rows(run, "optout", "optout.csv", "202609")
    month = (date(2026, 9, 1), CUTOFF)
    assert all(parse_day(r["gyldig_fra"]) <= date(2026, 8, 31) for r in before)
    assert any(month[0] <= parse_day(r["gyldig_fra"]) <= month[1] for r in after)
    assert any(
        r["gyldig_til"] and month[0] <= parse_day(r["gyldig_til"]) <= month[1] for r in after
    )
    assert {r["register"] for r in after} == {"vaev", "genetik"}


def test_prescriptions_are_typed_parquet(run: SynthResult) -> None:
    table = pq.read_table(landing_file(run, "lmdb", "lmdb.parquet"))
    assert table.column_names == ["cpr", "eksd", "atc", "vnr", "apk", "packsize", "volume", "indo"]
    assert str(table.schema.field("eksd").type) == "date32[day]"
    assert str(table.schema.field("volume").type) == "double"
    assert b"pandas" not in (table.schema.metadata or {})


def test_sequenced_persons_get_dna_samples_and_genomes(tmp_path: Path) -> None:
    pytest.importorskip("synthetic_deliveries.genomes")
    result = generate(tmp_path / "g", persons=1000, seed=SEED, genomes=12)
    assert result.genomes == 12
    genomes = pq.read_table(result.ground_truth / "genomes.parquet").to_pylist()
    assert [g["genome_id"] for g in genomes] == [f"NGC{i:07d}" for i in range(1, 13)]
    samples = {r["sample_id"]: r for r in rows(result, "biobank", "biobank_samples.csv")}
    persons = {p["person_id"]: p for p in truth(result, "persons")}
    for g in genomes:
        sample = samples[g["sample_id"]]
        assert sample["proevetype"] == "DNA" and sample["genome_id"] == g["genome_id"]
        assert normalise_cpr(sample["cpr"]) in {persons[g["person_id"]]["cpr"]} | {
            c["old_cpr"] for c in truth(result, "cpr_changes") if c["person_id"] == g["person_id"]
        }
    treated = {t["person_id"] for t in truth(result, "treatments")}
    assert treated & {g["person_id"] for g in genomes}
    sequenced_cprs = {persons[g["person_id"]]["cpr"] for g in genomes}
    new_optouts = [
        r
        for r in rows(result, "optout", "optout.csv")
        if parse_day(r["gyldig_fra"]) >= date(2026, 9, 1)
    ]
    assert any(r["cpr"] in sequenced_cprs for r in new_optouts)
    assert (result.out / "landing" / "genomes").is_dir()
