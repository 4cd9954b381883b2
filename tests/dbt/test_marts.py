"""The follow-up marts, end to end on a real PostgreSQL: synthetic deliveries are ingested,
dbt builds every layer once for the module, and the results are checked against the
synthetic ground truth, against lifelines, against the disclosure rules and against the
researcher role's privileges; the Medicinrådet release is written from the build.

Record linkage runs before dbt, as in the marts DAG: the marts resolve every person through
linkage.person_links. Tests run in file order: the last ones change the warehouse (they age
a source and rewrite a settled milestone) and rebuild what depends on it.
"""

from __future__ import annotations

import base64
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pytest
from lifelines import KaplanMeierFitter
from sksurv.nonparametric import cumulative_incidence_competing_risks
from typer.testing import CliRunner

from medfollow.cli.release import app as release_app
from medfollow_airflow.cosmos_config import check_source_freshness
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import Pseudonymiser, load_key
from medicinraadet_release import write_release
from rwd_linkage.run import run_linkage
from support.marts import (
    FH_UNIT_TESTS,
    PGX_UNIT_TESTS,
    Warehouse,
    platform_environment,
    rows,
    run_dbt,
)
from support.marts import WORLD_CUTOFF as CUTOFF

pytestmark = pytest.mark.integration

Z = 1.959963984540054  # dbt var km_z
UNIT_TESTS = (
    {
        "retracted_diagnoses_are_dropped",
        "lab_values_parse_decimal_comma_and_censoring",
        "followup_is_censored_at_emigration",
        "agreement_milestones_with_missing_assessments",
        "reinfusion_within_episode_window_is_one_treatment",
        "treatment_ids_survive_cpr_changes_and_shifted_dates",
        "medicinraadet_counts_patients_not_treatments",
        "medicinraadet_rates_have_two_denominators",
        "milestones_settle_only_on_evidence_inside_a_closed_window",
        "settled_milestones_stay_settled",
        "subsequent_therapy_is_an_atc_class",
        "best_response_is_censored_and_icu_is_day_0_to_30",
        "followup_resumes_after_a_return_from_abroad",
        "cpr_status_emigrated_counts_without_a_migration_row",
        "a_return_ends_a_stay_abroad",
    }
    | FH_UNIT_TESTS
    | set(PGX_UNIT_TESTS)
)


@pytest.fixture(scope="module")
def warehouse(marts_warehouse: Warehouse) -> Warehouse:
    return marts_warehouse


@pytest.fixture(scope="module")
def pseudonym() -> Pseudonymiser:
    return Pseudonymiser(load_key())


# -- the build ----------------------------------------------------------------------------


def test_dbt_build_passes_and_flags_the_missing_linkage(warehouse: Warehouse) -> None:
    assert warehouse.build.success, (warehouse.build.failures(), warehouse.build.exception)
    assert warehouse.build.statuses["assert_crossborder_patients_linked"] == "warn"
    assert warehouse.build.statuses["snp_outcome_agreement_status"] == "success"
    assert warehouse.build.statuses["assert_atc_codes_are_classified"] == "pass"
    assert warehouse.build.statuses["assert_code_lists_classify_known_codes"] == "pass"


def test_dbt_unit_tests_pass(warehouse: Warehouse) -> None:
    assert warehouse.unit.success, warehouse.unit.failures()
    assert set(warehouse.unit.statuses) == UNIT_TESTS
    assert set(warehouse.unit.statuses.values()) == {"pass"}


# -- numbers against the synthetic ground truth --------------------------------------------


def test_every_danish_treatment_appears_once(
    warehouse: Warehouse, pseudonym: Pseudonymiser
) -> None:
    truth = [t for t in warehouse.truth("treatments") if not t["treated_abroad"]]
    marts = rows(warehouse.url, "select * from marts.fct_atmp_treatment where not treated_abroad")
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
        # a re-infusion within the episode window is the same treatment
        if t["reinfusion_date"] is not None:
            assert row["administrations"] == 2
    # background antineoplastic drugs occasionally add a line; the rest must agree
    assert lines_agree >= 0.9 * len(truth)


def test_survival_follows_the_truth(warehouse: Warehouse, pseudonym: Pseudonymiser) -> None:
    truth = {
        (pseudonym.one(t["cpr"]), t["product_code"]): t
        for t in warehouse.truth("treatments")
        if not t["treated_abroad"]
    }
    followup = rows(
        warehouse.url,
        "select f.* from marts.fct_atmp_followup as f "
        "join marts.fct_atmp_treatment as t using (treatment_id) where not t.treated_abroad",
    )
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
        if t["abroad_from"] is not None:  # emigrated and came back: follow-up resumed
            assert row["absences"] == 1
            assert row["days_abroad"] == (t["abroad_until"] - t["abroad_from"]).days
        if t["response_scale"] == "factor_ix":  # a single surgery dose is not prophylaxis
            assert row["prophylaxis_resumed"] == (t["prophylaxis_resumed_date"] is not None)
    truth_rows = truth.values()
    assert any(t["reinfusion_date"] for t in truth_rows), "no re-infusion in the synthetic set"
    assert any(t["abroad_from"] for t in truth_rows), "nobody emigrated and came back"
    assert any(t["surgery_factor_ix_date"] for t in truth_rows), "no factor IX surgery dose"
    assert reasons["death"] > 0 and reasons["cutoff"] > 0


def test_linked_treatments_abroad_reach_the_marts(
    warehouse: Warehouse, pseudonym: Pseudonymiser
) -> None:
    """Record linkage publishes cross-border patients under the raw table's name
    (outcomes_crossborder__patients); the marts must find them there, so that patients
    treated abroad whom linkage linked to a person enter from the cross-border extract.
    A patient linkage could only mint a key for stays out (no Danish follow-up) and is the
    one assert_crossborder_patients_linked warns about."""
    linked = rows(
        warehouse.url,
        "select record_id, person_key, method from linkage.person_links "
        "where source = 'outcomes_crossborder__patients'",
    )
    by_record = {r["record_id"]: r for r in linked}
    abroad = [t for t in warehouse.truth("treatments") if t["treated_abroad"]]
    assert abroad and all(
        by_record[t["foreign_patient_id"]]["person_key"] == pseudonym.one(t["cpr"]) for t in abroad
    ), "linkage did not link the synthetic patients treated abroad"
    assert any(r["method"] == "minted" for r in linked)
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


def test_medicinraadet_counts_patients_and_deaths_exactly(
    warehouse: Warehouse, pseudonym: Pseudonymiser
) -> None:
    """Distinct patients per product and indication, and the deaths among them, equal the
    generator's truth (re-infusions and re-treatments add no patient, no second death)."""
    patients: dict[tuple[str, str], set[str]] = defaultdict(set)
    deaths: dict[tuple[str, str], set[str]] = defaultdict(set)
    for t in warehouse.truth("treatments"):
        key = (t["product_code"], t["indication_group"])
        patients[key].add(t["cpr"])
        if t["death_date"] is not None:
            deaths[key].add(t["cpr"])
    counts = rows(
        warehouse.url,
        "select product_code, indication_group, measure, n from staging.int_medicinraadet_counts "
        "where period = 'total' and measure in ('patients_treated', 'deaths')",
    )
    found = {(r["product_code"], r["indication_group"], r["measure"]): r["n"] for r in counts}
    assert {(p, i) for p, i, _ in found} == set(patients)
    for key, members in patients.items():
        assert found[(*key, "patients_treated")] == len(members), key
        assert found[(*key, "deaths")] == len(deaths[key]), key
    treatments = rows(warehouse.url, "select treatment_id from marts.fct_atmp_treatment")
    assert len(treatments) == len({r["treatment_id"] for r in treatments})


def test_a_second_atmp_product_is_line_2(warehouse: Warehouse, pseudonym: Pseudonymiser) -> None:
    """The generator's patient given a different CAR-T after progression on the first has
    two treatments in the marts: the first product on line 1, the second on line 2."""
    second = [t for t in warehouse.truth("treatments") if t["atmp_line"] == 2]
    assert second, "no second-line ATMP in the synthetic set"
    marts = rows(warehouse.url, "select * from marts.fct_atmp_treatment")
    by_key = {(r["person_key"], r["product_code"]): r for r in marts}
    for t in warehouse.truth("treatments"):
        row = by_key[(pseudonym.one(t["cpr"]), t["product_code"])]
        if not t["treated_abroad"]:
            assert row["atmp_line"] == t["atmp_line"], t["product_code"]


# -- Kaplan-Meier against lifelines --------------------------------------------------------


def test_km_agrees_with_lifelines(warehouse: Warehouse) -> None:
    """Per patient, in counting-process form: a stay abroad takes the patient out of the
    risk set until the return (lifelines' entry)."""
    subjects = rows(
        warehouse.url,
        "select product_code, indication_group, entry_days, exit_days, died "
        "from staging.int_survival_segments",
    )
    assert any(s["entry_days"] > 0 for s in subjects), "nobody came back from abroad"
    patients = rows(
        warehouse.url,
        "select count(*) as n from marts.fct_atmp_followup where is_first_treatment",
    )[0]["n"]
    assert sum(s["entry_days"] == 0 for s in subjects) == patients
    km = rows(warehouse.url, "select * from marts.agg_survival_km order by time_days")
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for s in subjects:
        groups[(s["product_code"], s["indication_group"])].append(s)
    assert {(r["product_code"], r["indication_group"]) for r in km} == set(groups)
    worst = 0.0
    for group, members in groups.items():
        fitter = KaplanMeierFitter().fit(
            [m["exit_days"] for m in members],
            [m["died"] for m in members],
            entry=[m["entry_days"] for m in members],
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


# -- cumulative incidence (Aalen-Johansen) against an independent implementation ----------


def _aalen_johansen(times: np.ndarray, codes: np.ndarray, z: float) -> dict[int, tuple]:
    """Aalen-Johansen cumulative incidence of code 1 with code 2 competing, written plainly
    (one loop over the distinct times) as a second code path to the SQL macro: per time,
    (n at risk, events, competing, incidence, delta-method variance, CI lower, CI upper)."""
    grid = np.unique(np.concatenate([[0], times]))
    n = np.array([(times >= t).sum() for t in grid], dtype=float)
    d1 = np.array([((times == t) & (codes == 1)).sum() for t in grid], dtype=float)
    d2 = np.array([((times == t) & (codes == 2)).sum() for t in grid], dtype=float)
    d = d1 + d2
    survival_before = np.concatenate([[1.0], np.cumprod(1 - d / n)[:-1]])
    incidence = np.cumsum(survival_before * d1 / n)
    result: dict[int, tuple] = {}
    for j, t in enumerate(grid):
        f = incidence[j]
        variance = 0.0
        for u in range(j + 1):
            gap = f - incidence[u]
            if d[u] < n[u]:
                variance += gap**2 * d[u] / (n[u] * (n[u] - d[u]))
            variance += survival_before[u] ** 2 * d1[u] * (n[u] - d1[u]) / n[u] ** 3
            variance -= 2 * gap * survival_before[u] * d1[u] / n[u] ** 2
        variance = max(variance, 0.0)
        if 0 < f < 1:
            spread = z * np.sqrt(variance) / (f * np.log(f))
            lower = np.exp(-np.exp(np.log(-np.log(f)) - spread))
            upper = np.exp(-np.exp(np.log(-np.log(f)) + spread))
        else:
            lower = upper = float(f >= 1)
        result[int(t)] = (n[j], d1[j], d2[j], f, variance, lower, upper)
    return result


def test_cumulative_incidence_agrees_with_an_independent_aalen_johansen(
    warehouse: Warehouse,
) -> None:
    """agg_cumulative_incidence equals a plain numpy Aalen-Johansen on the rows of
    fct_atmp_competing_events to 1e-9 (estimate, variance, CI), for every product,
    indication and event type; and the event's and the competing event's incidences add up
    to 1 - Kaplan-Meier of either (lifelines), which checks the estimator itself."""
    subjects = rows(warehouse.url, "select * from marts.fct_atmp_competing_events")
    cif = rows(warehouse.url, "select * from marts.agg_cumulative_incidence")
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for s in subjects:
        groups[(s["product_code"], s["indication_group"], s["event_type"])].append(s)
    assert {(r["product_code"], r["indication_group"], r["event_type"]) for r in cif} == set(groups)
    assert {s["event_type"] for s in subjects} >= {
        "relapse_progression",
        "non_relapse_mortality",
        "severe_infection",
    }
    assert any(s["event_code"] == 1 for s in subjects) and any(
        s["event_code"] == 2 for s in subjects
    )
    worst = 0.0
    for group, members in groups.items():
        times = np.array([m["time_days"] for m in members])
        codes = np.array([m["event_code"] for m in members])
        expected = _aalen_johansen(times, codes, Z)
        competing = _aalen_johansen(times, np.where(codes > 0, 3 - codes, 0), Z)
        km = KaplanMeierFitter().fit(times, codes > 0).survival_function_.iloc[:, 0]
        mine = [
            r for r in cif if (r["product_code"], r["indication_group"], r["event_type"]) == group
        ]
        assert sorted(r["time_days"] for r in mine) == sorted(expected)
        for r in mine:
            n, d1, d2, f, variance, lower, upper = expected[r["time_days"]]
            assert (r["n_at_risk"], r["n_events"], r["n_competing"]) == (n, d1, d2)
            worst = max(
                worst,
                abs(r["cumulative_incidence"] - f),
                abs(r["variance"] - variance),
                abs(r["ci_lower"] - lower),
                abs(r["ci_upper"] - upper),
            )
            all_causes = f + competing[r["time_days"]][3]
            assert abs(all_causes - (1 - km[float(r["time_days"])])) <= 1e-9
    print(f"Aalen-Johansen max abs difference vs numpy: {worst:.3g}")
    assert worst <= 1e-9


def test_cumulative_incidence_equals_scikit_survival(warehouse: Warehouse) -> None:
    """The estimate equals scikit-survival's Aalen-Johansen (which handles tied times
    exactly) on the same rows, to 1e-9, for every product, indication and event type."""
    subjects = rows(warehouse.url, "select * from marts.fct_atmp_competing_events")
    cif = rows(warehouse.url, "select * from marts.agg_cumulative_incidence")
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for s in subjects:
        groups[(s["product_code"], s["indication_group"], s["event_type"])].append(s)
    worst, compared = 0.0, 0
    for group, members in groups.items():
        times = np.array([m["time_days"] for m in members])
        codes = np.array([m["event_code"] for m in members])
        if set(codes.tolist()) - {0} == {1, 2}:
            grid, incidence = cumulative_incidence_competing_risks(codes, times)
            first = incidence[1]
        else:  # scikit-survival needs events of both kinds: then F = 1 - Kaplan-Meier of code 1
            km = KaplanMeierFitter().fit(times, codes == 1).survival_function_.iloc[:, 0]
            grid, first = km.index.to_numpy(), 1 - km.to_numpy()
        for r in cif:
            if (r["product_code"], r["indication_group"], r["event_type"]) != group:
                continue
            at = np.searchsorted(grid, r["time_days"], side="right") - 1
            expected = first[at] if at >= 0 else 0.0
            worst = max(worst, abs(r["cumulative_incidence"] - expected))
            compared += 1
    print(f"Aalen-Johansen max abs difference vs scikit-survival: {worst:.3g} ({compared} rows)")
    assert compared > 0 and worst <= 1e-9


# -- disclosure control -------------------------------------------------------------------


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
        "medicinraadet_followup_cif.csv",
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


def test_settled_milestones_survive_a_cpr_change_and_relinkage(warehouse: Warehouse) -> None:
    """A person with settled milestones gets a new CPR number (the register delivers the
    change; their other records keep the old one) and linkage runs again: treatment ids,
    agreement milestones and their settled statuses stay as they were, under the new key,
    and the snapshot records no rewrite."""
    settled = rows(
        warehouse.url,
        "select agreement_status_id, treatment_id, status, person_key "
        "from marts.fct_outcome_agreement_status where status in ('met', 'not met') "
        "order by agreement_status_id",
    )
    assert settled, "no settled milestone in the synthetic set"
    old_key = settled[0]["person_key"]
    new_key = f"renumbered-{settled[0]['agreement_status_id']}"
    mine = {r["agreement_status_id"]: r for r in settled if r["person_key"] == old_key}
    with psycopg.connect(warehouse.url) as conn:
        conn.execute(
            "update raw.cpr__persons set person_key = %s where person_key = %s", (new_key, old_key)
        )
        conn.execute(
            "insert into raw.cpr__changes (gammelt_person_key, nyt_person_key, dato, "
            "_delivery_id) values (%s, %s, %s, 'test-cpr-change')",
            (old_key, new_key, CUTOFF),
        )
    run_linkage(warehouse.url, load_key())
    rebuild = run_dbt(warehouse.url, ["build", "--exclude", "test_type:unit"], warehouse.work)
    assert rebuild.success, rebuild.failures()
    assert rebuild.statuses["assert_settled_milestones_never_rewritten"] == "pass"
    after = {
        r["agreement_status_id"]: r
        for r in rows(
            warehouse.url,
            "select agreement_status_id, treatment_id, status, person_key "
            "from marts.fct_outcome_agreement_status where agreement_status_id = any(%s)",
            (list(mine),),
        )
    }
    assert set(after) == set(mine)
    for sid, before in mine.items():
        assert after[sid]["treatment_id"] == before["treatment_id"]
        assert after[sid]["status"] == before["status"]
        assert after[sid]["person_key"] == new_key


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
