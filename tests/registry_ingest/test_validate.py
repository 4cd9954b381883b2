"""The Great Expectations suites derived from the contracts flag exactly the rows that break
them, with readable reasons, and write Data Docs."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from medfollow_core.landing.contracts import contract_for
from registry_ingest.validate import DeliveryValidator, expectations_for


def test_suite_follows_the_contract() -> None:
    table = contract_for("cpr").table("persons")
    kinds = {
        (e.expectation_type, getattr(e, "column", None))
        for e in expectations_for(table, date(2026, 9, 30))
    }
    assert ("expect_column_values_to_not_be_null", "person_key") in kinds
    assert ("expect_column_values_to_be_in_set", "koen") in kinds
    assert ("expect_column_values_to_be_between", "foedselsdato") in kinds
    assert ("expect_column_values_to_be_unique", "person_key") in kinds


def test_rows_breaking_expectations_get_reasons_and_docs_are_built(tmp_path: Path) -> None:
    contract = contract_for("outcomes")
    table = contract.table("vurderinger")
    validator = DeliveryValidator(tmp_path / "gx", contract, date(2026, 9, 30))
    n = 5
    batch = pa.table(
        {
            "person_key": ["a" * 64, None, "c" * 64, "d" * 64, "e" * 64],
            "vurderingsdato": [
                date(2024, 1, 1),
                date(2024, 1, 1),
                date(2017, 1, 1),
                date(2027, 1, 1),
                date(2024, 1, 1),
            ],
            "tidspunkt": pa.array([90, 90, 90, 90, 91], pa.int64()),
            "crs_grad": pa.array([1, 2, 3, 4, 0], pa.int64()),
            "_row_number": pa.array(range(11, 11 + n), pa.int64()),
        }
    )
    for col in table.columns:
        if col.target not in batch.column_names:
            batch = batch.append_column(col.target, pa.nulls(n, pa.string()))
    reasons, ok = validator.validate(table, batch)
    assert not ok
    assert reasons.to_pylist() == [
        None,
        "cpr: missing",
        "vurderingsdato: before 2018-01-01",
        "vurderingsdato: after the delivery cut-off",
        "tidspunkt: code not allowed",
    ]
    docs = validator.build_docs()
    assert docs.exists() and docs.stat().st_size > 0


def test_timestamps_are_checked_against_the_cutoff(tmp_path: Path) -> None:
    contract = contract_for("lab")
    table = contract.table("resultater")
    validator = DeliveryValidator(tmp_path / "gx", contract, date(2026, 9, 30))
    batch = pa.table(
        {
            "person_key": ["a" * 64, "b" * 64],
            "proevetid": pa.array(
                [datetime(2025, 1, 1, 10), datetime(2026, 10, 1, 9)], pa.timestamp("s")
            ),
            "npu_kode": ["NPU01566", "NPU01566"],
            "vaerdi": ["1", "2"],
            "_row_number": pa.array([1, 2], pa.int64()),
        }
    )
    for col in table.columns:
        if col.target not in batch.column_names:
            batch = batch.append_column(col.target, pa.nulls(2, pa.string()))
    reasons, _ = validator.validate(table, batch)
    assert reasons.to_pylist() == [None, "proevetid: after the delivery cut-off"]


def test_great_expectations_loads_without_its_spark_support() -> None:
    """pyspark is installed (the variant aggregation); GX would import it on load in every
    ingest (a third of a second, and pyspark's warnings on stderr)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from registry_ingest.validate import load_great_expectations\n"
        "gx = load_great_expectations()\n"
        "print(hasattr(gx, 'expectations'), 'pyspark' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.split()[-2:] == ["True", "False"], done.stderr[-2000:]
    assert "pyspark" not in done.stderr.lower()


def test_great_expectations_does_not_fingerprint_batches(tmp_path: Path) -> None:
    """GX hashes every frame under 1 GB for a marker nothing reads (``validate`` turns that
    off: it cost three times the expectations); if an upgrade moves the switch, the marker
    comes back into the stored results and this fails."""
    contract = contract_for("lpr3")
    table = contract.table("diagnoser")
    validator = DeliveryValidator(tmp_path / "gx", contract, date(2026, 9, 30))
    batch = pa.table(
        {
            "dw_ek_kontakt": ["K1", None],
            "diagnosekode": ["DC833", "DC833"],
            "diagnosetype": ["A", "B"],
            "senere_afkraeftet": [False, True],
            "_row_number": pa.array([1, 2], pa.int64()),
        }
    )
    reasons, _ = validator.validate(table, batch)
    assert reasons.to_pylist() == [None, "dw_ek_kontakt: missing"]
    stored = [p for p in (tmp_path / "gx").rglob("*.json") if "validations" in p.parts]
    assert stored, "no validation result was stored"
    assert not [p for p in stored if b"pandas_data_fingerprint" in p.read_bytes()]


def test_a_row_breaking_several_expectations_gets_the_first_reason(tmp_path: Path) -> None:
    """Reasons follow the suite's order (the contract's column order), one per row."""
    contract = contract_for("outcomes")
    table = contract.table("vurderinger")
    validator = DeliveryValidator(tmp_path / "gx", contract, date(2026, 9, 30))
    batch = pa.table(
        {
            "person_key": [None, "b" * 64, "c" * 64, None],
            "vurderingsdato": [date(2017, 1, 1), date(2027, 1, 1), date(2024, 1, 1), None],
            "tidspunkt": pa.array([90, 91, 90, 90], pa.int64()),
            "crs_grad": pa.array([1, 1, 1, 1], pa.int64()),
            "_row_number": pa.array([101, 102, 103, 104], pa.int64()),
        }
    )
    for col in table.columns:
        if col.target not in batch.column_names:
            batch = batch.append_column(col.target, pa.nulls(4, pa.string()))
    reasons, ok = validator.validate(table, batch)
    assert not ok
    assert reasons.to_pylist() == [
        "cpr: missing",
        "vurderingsdato: after the delivery cut-off",
        None,
        "cpr: missing",
    ]
