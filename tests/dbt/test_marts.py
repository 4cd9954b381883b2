"""The follow-up marts, end to end on a real PostgreSQL: synthetic deliveries are ingested,
dbt builds every layer once for the module, and the results are checked against the
synthetic ground truth, against lifelines, against the disclosure rules and against the
researcher role's privileges; the Medicinrådet release is written from the build.

Record linkage runs before dbt, as in the marts DAG: the marts resolve every person through
linkage.person_links. Tests run in file order: the last ones change the warehouse (they age
a source, add cross-border links and rewrite a settled milestone) and rebuild what depends
on it.
"""

from __future__ import annotations

import base64
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from lifelines import KaplanMeierFitter
from typer.testing import CliRunner

from medfollow.cli.release import app as release_app
from medfollow_airflow.cosmos_config import check_source_freshness
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import Pseudonymiser, load_key
from medicinraadet_release import write_release
from rwd_linkage.run import run_linkage
from support.marts import DbtRun, load_deliveries, platform_environment, rows, run_dbt
from synthetic_deliveries import generate

pytestmark = pytest.mark.integration

SEED = 21
PERSONS = 3000
CUTOFF = date(2026, 9, 30)
THRESHOLD = 5
UNIT_TESTS = {
    "retracted_diagnoses_are_dropped",
    "lab_values_parse_decimal_comma_and_censoring",
    "followup_is_censored_at_emigration",
    "small_counts_are_suppressed_with_secondary_suppression",
    "agreement_milestones_with_missing_assessments",
}
COUNT_COLUMNS = (
    "patients_treated",
    "deaths",
    "response_evaluable",
    "responders",
    "complete_responders",
    "toxicity_evaluable",
    "crs_grade3plus",
    "icans_grade3plus",
    "icu_30d",
)


@dataclass(frozen=True)
class Warehouse:
    url: str
    synth: Path
    work: Path
    build: DbtRun
    unit: DbtRun

    def truth(self, name: str) -> list[dict]:
        return pq.read_table(self.synth / "ground_truth" / f"{name}.parquet").to_pylist()


@pytest.fixture(scope="module")
def warehouse(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    synth = tmp_path_factory.mktemp("marts_synth")
    work = tmp_path_factory.mktemp("marts_dbt")
    generate(synth, persons=PERSONS, seed=SEED, cutoff=CUTOFF)
    load_deliveries(synth / "landing", db_url, load_key())
    run_linkage(db_url, load_key())
    build = run_dbt(db_url, ["build"], work)
    unit = run_dbt(db_url, ["test", "--select", "test_type:unit"], work)
    return Warehouse(url=db_url, synth=synth, work=work, build=build, unit=unit)


@pytest.fixture(scope="module")
def pseudonym() -> Pseudonymiser:
    return Pseudonymiser(load_key())


# -- the build ----------------------------------------------------------------------------


def test_dbt_build_passes_and_flags_the_missing_linkage(warehouse: Warehouse) -> None:
    assert warehouse.build.success, (warehouse.build.failures(), warehouse.build.exception)
    assert warehouse.build.statuses["assert_crossborder_patients_linked"] == "warn"
    assert warehouse.build.statuses["snp_outcome_agreement_status"] == "success"


def test_dbt_unit_tests_pass(warehouse: Warehouse) -> None:
    assert warehouse.unit.success, warehouse.unit.failures()
    assert set(warehouse.unit.statuses) == UNIT_TESTS
    assert set(warehouse.unit.statuses.values()) == {"pass"}


# -- numbers against the synthetic ground truth --------------------------------------------


def test_every_danish_treatment_appears_once(
    warehouse: Warehouse, pseudonym: Pseudonymiser
) -> None:
    truth = [t for t in warehouse.truth("treatments") if not t["treated_abroad"]]
    marts = rows(warehouse.url, "select * from marts.fct_atmp_treatment")
    found = Counter((r["person_key"], r["product_code"]) for r in marts)
    by_key = {(r["person_key"], r["product_code"]): r for r in marts}
    assert len(marts) == len(truth)
    lines_agree = 0
    for t in truth:
        key = (pseudonym.one(t["cpr"]), t["product_code"])
        assert found[key] == 1, t["product_code"]
        row = by_key[key]
        assert row["treatment_date"] == t["treatment_date"]
        assert row["indication_group"] == t["indication_group"]
        assert row["treatment_source"] == "sygehusmedicin"
        expected_lines = t["prior_lines"] if row["therapy_class"] == "car_t" else None
        lines_agree += row["prior_therapy_lines"] == expected_lines
    # background antineoplastic drugs occasionally add a line; the rest must agree
    assert lines_agree >= 0.9 * len(truth)


def test_survival_follows_the_truth(warehouse: Warehouse, pseudonym: Pseudonymiser) -> None:
    truth = {
        (pseudonym.one(t["cpr"]), t["product_code"]): t
        for t in warehouse.truth("treatments")
        if not t["treated_abroad"]
    }
    followup = rows(warehouse.url, "select * from marts.fct_atmp_followup")
    assert len(followup) == len(truth)
    reasons = Counter()
    for row in followup:
        t = truth[(row["person_key"], row["product_code"])]
        died = t["death_date"] is not None
        assert row["os_event"] == int(died)
        assert row["death_date"] == t["death_date"]
        assert row["followup_end_date"] == t["followup_end"]
        assert row["os_time_days"] == (t["followup_end"] - t["treatment_date"]).days
        if t["emigration_date"] is not None:
            assert row["followup_end_reason"] == "emigration"
            assert row["emigration_date"] == t["emigration_date"]
        assert row["cutoff_date"] == CUTOFF
        if t["crs_grade"] is not None and row["crs_worst_grade"] is not None:
            assert row["crs_worst_grade"] == t["crs_grade"]
        icu_by_day_30 = t["icu"] and (t["icu_date"] - t["treatment_date"]).days <= 30
        assert row["icu_within_30d"] == icu_by_day_30
        assert row["ivig_used"] == t["ivig"]
        reasons[row["followup_end_reason"]] += 1
    assert reasons["death"] > 0 and reasons["cutoff"] > 0


# -- Kaplan-Meier against lifelines --------------------------------------------------------


def test_km_agrees_with_lifelines(warehouse: Warehouse) -> None:
    subjects = rows(
        warehouse.url,
        "select product_code, indication_group, os_time_days, os_event "
        "from marts.fct_atmp_followup",
    )
    km = rows(warehouse.url, "select * from marts.agg_survival_km order by time_days")
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for s in subjects:
        groups[(s["product_code"], s["indication_group"])].append(s)
    assert {(r["product_code"], r["indication_group"]) for r in km} == set(groups)
    worst = 0.0
    for group, members in groups.items():
        fitter = KaplanMeierFitter().fit(
            [m["os_time_days"] for m in members], [m["os_event"] for m in members]
        )
        survival = fitter.survival_function_.iloc[:, 0]
        lower = fitter.confidence_interval_.iloc[:, 0]
        upper = fitter.confidence_interval_.iloc[:, 1]
        table = fitter.event_table
        mine = [r for r in km if (r["product_code"], r["indication_group"]) == group]
        assert [r["time_days"] for r in mine] == [int(t) for t in survival.index]
        for r in mine:
            t = float(r["time_days"])
            assert r["n_at_risk"] == table.loc[t, "at_risk"]
            assert r["n_events"] == table.loc[t, "observed"]
            assert r["n_censored"] == table.loc[t, "censored"]
            worst = max(
                worst,
                abs(r["survival"] - survival[t]),
                abs(r["ci_lower"] - lower[t]),
                abs(r["ci_upper"] - upper[t]),
            )
    print(f"KM max abs difference vs lifelines: {worst:.3g}")
    assert worst <= 1e-9


# -- disclosure control -------------------------------------------------------------------


def _summary(url: str) -> list[dict]:
    return rows(url, "select * from exports.medicinraadet_followup_summary")


def test_no_exported_count_is_small(warehouse: Warehouse) -> None:
    cells = [r[c] for r in _summary(warehouse.url) for c in COUNT_COLUMNS]
    cells += [
        r["n_at_risk"]
        for r in rows(warehouse.url, "select * from exports.medicinraadet_followup_km")
    ]
    for cell in cells:
        shown_as_number = cell.isdigit() and int(cell) not in range(1, THRESHOLD)
        assert cell in (f"<{THRESHOLD}", "x") or shown_as_number
    assert f"<{THRESHOLD}" in cells  # the rule was exercised (secondary: the next test)


def test_hidden_cells_cannot_be_recovered_from_totals(warehouse: Warehouse) -> None:
    """For every count whose yearly cells add up to a published total, each hidden cell must
    keep at least two values consistent with everything published: "<5" means 1-4, "x"
    means at least 5 and at most the smallest published non-zero cell."""
    groups: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    for r in _summary(warehouse.url):
        for column in COUNT_COLUMNS:
            groups[(r["product_code"], r["indication_group"], column)][r["period"]] = r[column]
    protected = 0
    for key, cells in groups.items():
        total = cells.pop("total")
        hidden = [v for v in cells.values() if not v.isdigit()]
        if not total.isdigit() or not hidden:
            continue
        shown = [int(v) for v in cells.values() if v.isdigit()]
        remaining = int(total) - sum(shown)
        ceiling = min([v for v in shown if v > 0] or [remaining])
        bounds = [
            (1, THRESHOLD - 1) if v == f"<{THRESHOLD}" else (THRESHOLD, ceiling) for v in hidden
        ]
        for i, (low, high) in enumerate(bounds):
            others_low = sum(b[0] for j, b in enumerate(bounds) if j != i)
            others_high = sum(b[1] for j, b in enumerate(bounds) if j != i)
            feasible = [
                v for v in range(low, high + 1) if others_low <= remaining - v <= others_high
            ]
            assert len(feasible) >= 2, (key, hidden, total, shown, feasible)
        protected += 1
    assert protected > 0


def test_rates_only_from_shown_counts(warehouse: Warehouse) -> None:
    for r in _summary(warehouse.url):
        if r["response_rate"] is not None:
            assert r["responders"].isdigit() and r["response_evaluable"].isdigit()
            assert float(r["response_rate"]) == pytest.approx(
                int(r["responders"]) / int(r["response_evaluable"]), abs=5e-4
            )
        if r["os_1y"] is not None:
            assert r["patients_treated"].isdigit() and int(r["patients_treated"]) >= THRESHOLD
            assert r["os_1y_ci_lower"] <= r["os_1y"] <= r["os_1y_ci_upper"]


# -- access --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "raw.cpr__persons",
        "quarantine.cpr__persons",
        "audit.deliveries",
        "staging.int_atmp_treatments",
        "staging.stg_cpr__persons",
    ],
)
def test_researcher_cannot_read_engineering_schemas(warehouse: Warehouse, table: str) -> None:
    with psycopg.connect(warehouse.url) as conn:
        conn.execute("set role medfollow_researcher")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(f"select 1 from {table} limit 1")


def test_researcher_reads_marts_and_exports_built_after_bootstrap(warehouse: Warehouse) -> None:
    with psycopg.connect(warehouse.url) as conn:
        conn.execute("set role medfollow_researcher")
        for table in (
            "marts.fct_atmp_treatment",
            "marts.fct_atmp_followup",
            "marts.fct_followup_events",
            "marts.agg_survival_km",
            "marts.fct_outcome_agreement_status",
            "marts.dim_person",
            "exports.medicinraadet_followup_summary",
        ):
            assert conn.execute(f"select count(*) from {table}").fetchone()[0] > 0, table


# -- the Medicinrådet release ------------------------------------------------------------


def test_release_is_reproducible_and_self_contained(warehouse: Warehouse, tmp_path: Path) -> None:
    first = write_release(warehouse.url, CUTOFF, tmp_path / "a")
    second = write_release(warehouse.url, CUTOFF, tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert {
        "manifest.json",
        "medicinraadet_followup.xlsx",
        "medicinraadet_followup.html",
        "medicinraadet_followup_summary.csv",
        "medicinraadet_followup_km.csv",
    } <= set(names)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    html = (first / "medicinraadet_followup.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert images and all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert all(len(base64.b64decode(i)) > 1000 for i in images)
    assert not re.search(r'(src|href)="(?!data:)', html), "the report must not load anything"


def test_release_refuses_to_overwrite_or_mislabel(warehouse: Warehouse, tmp_path: Path) -> None:
    write_release(warehouse.url, CUTOFF, tmp_path)
    with pytest.raises(MedfollowError, match="already exists"):
        write_release(warehouse.url, CUTOFF, tmp_path)
    with pytest.raises(MedfollowError, match="built for cut-off 2026-09-30"):
        write_release(warehouse.url, date(2026, 8, 31), tmp_path)
    with platform_environment(warehouse.url):
        result = CliRunner().invoke(
            release_app, ["medicinraadet", "--cutoff", "2026-09-30", "--out", str(tmp_path)]
        )
    assert isinstance(result.exception, MedfollowError)
    assert len(str(result.exception).splitlines()) == 1


def test_records_under_replaced_cpr_numbers_reach_the_person(warehouse: Warehouse) -> None:
    """Registries carry the CPR number valid on the event date; the marts see the person's
    current one, as linkage published it (int_person_key_map), never an old one."""
    renamed = rows(
        warehouse.url,
        "select source_name, record_id, person_key from staging.int_person_key_map "
        "where link_method = 'deterministic' and record_id <> person_key",
    )
    assert renamed, "the synthetic set has no CPR-number changes"
    old_keys = [r["record_id"] for r in renamed]
    for table in ("fct_atmp_treatment", "fct_followup_events", "fct_outcome_agreement_status"):
        found = rows(
            warehouse.url,
            f"select count(*) as n from marts.{table} where person_key = any(%s)",
            (old_keys,),
        )
        assert found[0]["n"] == 0, table


# -- changes to the warehouse (keep these last) ---------------------------------------------


def test_source_freshness_passes_and_a_stale_source_fails_naming_it(
    warehouse: Warehouse,
) -> None:
    with platform_environment(warehouse.url):
        fresh = check_source_freshness()
    assert any(line.startswith("cpr.cpr__persons: pass") for line in fresh), fresh
    with psycopg.connect(warehouse.url) as conn:
        conn.execute("update raw.lab__resultater set _loaded_at = _loaded_at - interval '70 days'")
    try:
        with platform_environment(warehouse.url), pytest.raises(MedfollowError) as stale:
            check_source_freshness()
    finally:
        with psycopg.connect(warehouse.url) as conn:
            conn.execute(
                "update raw.lab__resultater set _loaded_at = _loaded_at + interval '70 days'"
            )
    message = str(stale.value)
    assert "lab.lab__resultater: error, last loaded 70.0 days ago" in message, message
    assert "error after 65 days" in message
    assert "cpr.cpr__persons" not in message


def test_treatments_abroad_join_once_linkage_exists(
    warehouse: Warehouse, pseudonym: Pseudonymiser
) -> None:
    """The seam: once linkage.person_links exists, linked patients treated abroad enter the
    marts from the cross-border extract. The links stand in for the record-linkage job's:
    the true person for patients in the CPR register, a minted key for the others (who stay
    out of the marts, having no Danish follow-up)."""
    persons = {p["person_id"]: p["cpr"] for p in warehouse.truth("persons")}
    links = [
        (link["foreign_patient_id"], pseudonym.one(persons[link["person_id"]]), "probabilistic")
        if link["person_id"] is not None
        else (link["foreign_patient_id"], f"minted-{link['foreign_patient_id']}", "minted")
        for link in warehouse.truth("crossborder_links")
    ]
    assert any(method == "probabilistic" for *_, method in links)
    with psycopg.connect(warehouse.url) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into linkage.person_links (source, record_id, person_key, method, "
            "run_id) values ('outcomes_crossborder', %s, %s, %s, 'test')",
            links,
        )
    rebuild = run_dbt(
        warehouse.url,
        [
            "build",
            "--select",
            "stg_linkage__person_links+",
            "--exclude",
            "assert_settled_milestones_never_rewritten",
        ],
        warehouse.work,
    )
    assert rebuild.success, rebuild.failures()
    assert rebuild.statuses["assert_crossborder_patients_linked"] == "pass"

    abroad = [t for t in warehouse.truth("treatments") if t["treated_abroad"]]
    marts = rows(
        warehouse.url,
        "select t.*, f.os_event from marts.fct_atmp_treatment as t "
        "join marts.fct_atmp_followup as f using (treatment_id) "
        "where t.treatment_source = 'crossborder_extract'",
    )
    by_key = {(r["person_key"], r["product_code"]): r for r in marts}
    assert len(marts) == len(abroad)
    for t in abroad:
        row = by_key[(pseudonym.one(t["cpr"]), t["product_code"])]
        assert row["treated_abroad"] and row["administrations"] is None
        assert abs((row["treatment_date"] - t["treatment_date"]).days) <= 10
        assert row["os_event"] == int(t["death_date"] is not None)
    total = rows(warehouse.url, "select count(*) as n from marts.fct_atmp_treatment")[0]["n"]
    assert total == len(warehouse.truth("treatments"))


def test_a_rewritten_settled_milestone_fails_the_build(warehouse: Warehouse) -> None:
    with psycopg.connect(warehouse.url) as conn:
        settled = conn.execute(
            "update marts.fct_outcome_agreement_status set status = 'not met', "
            "payment_share_due = 0 where agreement_status_id = (select agreement_status_id "
            "from marts.fct_outcome_agreement_status where status = 'met' "
            "order by agreement_status_id limit 1) returning agreement_status_id"
        ).fetchone()
    assert settled is not None, "no met milestone in the synthetic set"
    run = run_dbt(
        warehouse.url,
        [
            "build",
            "--select",
            "snp_outcome_agreement_status+",
            "--exclude",
            "fct_outcome_agreement_status",
        ],
        warehouse.work,
    )
    assert not run.success
    assert run.statuses["assert_settled_milestones_never_rewritten"] == "fail"
