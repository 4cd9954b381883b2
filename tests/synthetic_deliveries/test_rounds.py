"""Two monthly rounds of one synthetic world (`generate_rounds`, about 2,000 persons).

The second month must be what the registries would really send next: the CPR register as of
the later cut-off (same persons, later fates, newcomers), incremental sources with only the
rows that became known since the first cut-off, and rows of persons the first month's
register does not know, so ingest has to check each month against its own register.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pysam
import pytest

from medfollow_core.cpr import normalise_cpr
from medfollow_core.landing.contracts import contract_for
from medfollow_core.landing.manifest import Manifest
from synthetic_deliveries import SynthResult, generate_rounds

PERSONS = 2000
SEED = 11
GENOMES = 6
FIRST, SECOND = date(2026, 8, 31), date(2026, 9, 30)
LATIN1 = {"cpr", "doedsaarsag", "optout"}
INCREMENTAL = {
    "lpr3": ("kontakter.csv", "diagnoser.csv", "procedurer.csv"),
    "sygehusmedicin": ("sygehusmedicin.csv",),
    "lmdb": ("lmdb.parquet",),
    "doedsaarsag": ("doedsaarsag.csv",),
    "lab": ("lab.csv",),
    "outcomes": ("outcomes.csv",),
    "outcomes_crossborder": ("patients.csv", "assessments.csv"),
}
# Files whose rows name a person by CPR, and the column that dates each row.
WITH_CPR = {
    ("lpr3", "kontakter.csv"): "dato_slut",
    ("sygehusmedicin", "sygehusmedicin.csv"): "adm_dato",
    ("lmdb", "lmdb.parquet"): "eksd",
    ("doedsaarsag", "doedsaarsag.csv"): "doedsdato",
    ("lab", "lab.csv"): "proevetid",
    ("outcomes", "outcomes.csv"): "vurderingsdato",
    ("biobank", "biobank_samples.csv"): "udtagningstid",
    ("optout", "optout.csv"): "gyldig_fra",
}


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> list[SynthResult]:
    return generate_rounds(
        tmp_path_factory.mktemp("rounds") / "a",
        persons=PERSONS,
        seed=SEED,
        genomes=GENOMES,
        cutoffs=[FIRST, SECOND],
    )


def month(result: SynthResult) -> str:
    return result.out.name.replace("-", "")[:6]


def rows(result: SynthResult, source: str, name: str) -> list[dict[str, str]]:
    path = result.out / "landing" / source / f"{source}-{month(result)}" / name
    if name.endswith(".parquet"):
        return [
            {k: "" if v is None else str(v) for k, v in row.items()}
            for row in pq.read_table(path).to_pylist()
        ]
    text = path.read_text(encoding="latin-1" if source in LATIN1 else "utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def day_of(text: str) -> date:
    text = text.split(" ")[0]
    if text[4] == "-":
        return date.fromisoformat(text)
    return datetime.strptime(text, "%d-%m-%Y").date()


def register(result: SynthResult) -> dict[str, dict[str, str]]:
    return {normalise_cpr(p["cpr"]): p for p in rows(result, "cpr", "cpr_persons.csv")}


def known_numbers(result: SynthResult) -> set[str]:
    """Every number the round's register accounts for: current ones and replaced ones."""
    changes = rows(result, "cpr", "cpr_changes.csv")
    return set(register(result)) | {normalise_cpr(c["gammelt_cpr"]) for c in changes}


def identity(person: dict[str, str]) -> tuple[str, ...]:
    """What stays with a person from month to month (surnames and addresses may change)."""
    return tuple(person[k] for k in ("fornavn", "mellemnavn", "foedselsdato", "koen"))


def test_layout_and_manifests(rounds: list[SynthResult]) -> None:
    first, second = rounds
    assert [r.out.relative_to(r.out.parents[1]).as_posix() for r in rounds] == [
        "rounds/2026-08-31",
        "rounds/2026-09-30",
    ]
    ids: set[str] = set()
    for result, cutoff in ((first, FIRST), (second, SECOND)):
        assert (result.ground_truth / "persons.parquet").is_file()
        for folder in result.deliveries:
            manifest = Manifest.read(folder)
            assert manifest.delivery_id == folder.name not in ids
            ids.add(folder.name)
            assert manifest.cutoff_date <= cutoff
    assert {p.name for p in second.deliveries} >= {"cpr-202609", "optout-202609", "genomes-202609"}


def test_register_of_the_second_month_extends_the_first(rounds: list[SynthResult]) -> None:
    first, second = register(rounds[0]), register(rounds[1])
    renumbered = {
        normalise_cpr(c["gammelt_cpr"]): normalise_cpr(c["nyt_cpr"])
        for c in rows(rounds[1], "cpr", "cpr_changes.csv")
        if day_of(c["dato"]) > FIRST
    }
    assert renumbered, "a CPR number is replaced during the second month"
    changed: dict[str, int] = {"status": 0, "efternavn": 0, "postnr": 0}
    for number, person in first.items():
        later = second[renumbered.get(number, number)]  # nobody leaves the register
        assert identity(later) == identity(person)
        for column in changed:
            changed[column] += person[column] != later[column]
        if person["status"] != later["status"]:
            assert day_of(later["status_dato"]) > FIRST
    assert all(changed.values()), changed
    newcomers = set(second) - {renumbered.get(n, n) for n in first}
    assert len(second) == len(first) + len(newcomers) and newcomers
    for number in newcomers - set(renumbered.values()):
        arrived = day_of(second[number]["status_dato"])
        assert FIRST < arrived <= SECOND
    assert len(first) == rounds[0].persons and len(second) == rounds[1].persons
    moved = [m for m in rows(rounds[1], "cpr", "cpr_migrations.csv") if day_of(m["dato"]) > FIRST]
    assert moved and all(day_of(m["dato"]) <= SECOND for m in moved)


def test_incremental_sources_send_only_what_is_new(rounds: list[SynthResult]) -> None:
    for source, names in INCREMENTAL.items():
        assert contract_for(source).mode == "increment"
        for name in names:
            before = rows(rounds[0], source, name)
            after = rows(rounds[1], source, name)
            assert before, (source, name)
            # A month without a patient treated abroad has no new cross-border patient.
            assert after or source == "outcomes_crossborder", (source, name)
            seen = {tuple(r.values()) for r in before}
            assert not seen & {tuple(r.values()) for r in after}, (source, name)
    contacts = [rows(r, "lpr3", "kontakter.csv") for r in rounds]
    assert not {c["dw_ek_kontakt"] for c in contacts[0]} & {c["dw_ek_kontakt"] for c in contacts[1]}
    for (source, name), column in WITH_CPR.items():
        if contract_for(source).mode != "increment" or source == "doedsaarsag":
            continue  # death certificates may be registered a month or two late
        for result, lo, hi in ((rounds[0], date.min, FIRST), (rounds[1], FIRST, SECOND)):
            days = [day_of(r[column]) for r in rows(result, source, name)]
            assert all(lo < d <= hi for d in days), (source, name)


def test_snapshot_sources_send_their_state_as_of_each_cutoff(rounds: list[SynthResult]) -> None:
    for source in ("cpr", "biobank", "optout"):
        assert contract_for(source).mode == "snapshot"
    samples = [
        {s["sample_id"]: s for s in rows(r, "biobank", "biobank_samples.csv")} for r in rounds
    ]
    assert set(samples[0]) < set(samples[1])
    for sample_id in set(samples[1]) - set(samples[0]):
        assert FIRST < day_of(samples[1][sample_id]["udtagningstid"]) <= SECOND
    optouts = [
        {(o["register"], o["gyldig_fra"]) for o in rows(r, "optout", "optout.csv")} for r in rounds
    ]
    assert optouts[0] < optouts[1], "the second month adds opt-outs and drops none"


def test_every_row_refers_to_a_person_in_its_own_register(rounds: list[SynthResult]) -> None:
    first_register = set(register(rounds[0]))
    new_in_second = set()
    for result in rounds:
        known = known_numbers(result)
        for (source, name), _ in WITH_CPR.items():
            numbers = {normalise_cpr(r["cpr"]) for r in rows(result, source, name)}
            assert numbers <= known, (result.out.name, source, name)
            if result is rounds[1]:
                new_in_second |= {(source, n) for n in numbers - first_register}
    sources = {source for source, _ in new_in_second}
    assert {"lab", "lmdb", "biobank", "outcomes"} <= sources


def test_genomes_of_the_second_month_are_new_samples(rounds: list[SynthResult]) -> None:
    manifests = []
    for result in rounds:
        path = result.out / "landing" / "genomes" / f"genomes-{month(result)}"
        text = (path / "sample_manifest.tsv").read_text(encoding="utf-8")
        manifests.append(list(csv.DictReader(io.StringIO(text), delimiter="\t")))
    ids = [{g["genome_id"] for g in m} for m in manifests]
    assert len(ids[0]) == len(ids[1]) == GENOMES and not ids[0] & ids[1]
    samples = {s["sample_id"]: s for s in rows(rounds[1], "biobank", "biobank_samples.csv")}
    known = known_numbers(rounds[1])
    for genome in manifests[1]:
        sample = samples[genome["sample_id"]]
        assert sample["genome_id"] == genome["genome_id"]
        assert FIRST < day_of(sample["udtagningstid"]) <= SECOND
        assert normalise_cpr(genome["cpr"]) in known
    truth = pq.read_table(rounds[1].ground_truth / "genomes.parquet")
    assert set(truth["genome_id"].to_pylist()) == ids[0] | ids[1]


def _variants(delivery: Path) -> dict[tuple[str, int], tuple[str, set[str]]]:
    """(contig, POS) -> (REF, ALTs) over a genome delivery's joint and single-sample VCFs;
    every joint record must carry an ALT in one of the delivery's own samples."""
    found: dict[tuple[str, int], tuple[str, set[str]]] = {}
    for vcf in sorted(delivery.glob("**/*.vcf.gz")):
        if vcf.name.endswith(".g.vcf.gz"):
            continue
        with pysam.VariantFile(str(vcf)) as records:
            for rec in records:
                if vcf.name == "cohort.vcf.gz":
                    calls = [a for s in rec.samples.values() for a in s["GT"]]
                    assert any(a is not None and a > 0 for a in calls), (rec.chrom, rec.pos)
                ref, alts = found.setdefault((rec.chrom, rec.pos), (rec.ref, set()))
                assert rec.ref == ref, (vcf.name, rec.chrom, rec.pos)
                alts.update(rec.alts or ())
    return found


def test_genomes_of_every_month_share_one_reference_and_its_sites(
    rounds: list[SynthResult],
) -> None:
    """One simulation of every sequenced genome: the same FASTA bytes each month (the store
    registers its reference at first ingest), and a site's REF and ALTs do not depend on
    which month delivered the genome carrying it."""
    first, second = (r.out / "landing" / "genomes" / f"genomes-{month(r)}" for r in rounds)
    references = sorted(p.name for p in (first / "reference").iterdir())
    assert references == [
        "GRCh38_subset.fa.gz",
        "GRCh38_subset.fa.gz.fai",
        "GRCh38_subset.fa.gz.gzi",
    ]
    for name in references:
        assert (first / "reference" / name).read_bytes() == (
            second / "reference" / name
        ).read_bytes()
    ours, theirs = _variants(first), _variants(second)
    shared = ours.keys() & theirs.keys()
    # Common variants are carried in both months: most sites of one are sites of the other.
    assert len(shared) > 0.3 * min(len(ours), len(theirs)) > 30
    same_alt = 0
    for site in shared:
        assert ours[site][0] == theirs[site][0], site
        same_alt += bool(ours[site][1] & theirs[site][1])
    assert same_alt > 0.9 * len(shared)


def test_same_arguments_give_identical_bytes(rounds: list[SynthResult], tmp_path: Path) -> None:
    again = generate_rounds(
        tmp_path / "b", persons=PERSONS, seed=SEED, genomes=GENOMES, cutoffs=[FIRST, SECOND]
    )

    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digests(rounds[0].out.parents[1]) == digests(again[0].out.parents[1])


def test_cutoffs_must_be_increasing_months(tmp_path: Path) -> None:
    for cutoffs in ([], [SECOND, FIRST], [date(2026, 9, 1), SECOND]):
        with pytest.raises(ValueError, match="cutoffs"):
            generate_rounds(tmp_path, persons=10, seed=1, cutoffs=cutoffs)
