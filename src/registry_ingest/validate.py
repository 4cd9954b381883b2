"""Great Expectations suites generated from the contracts, run on every batch.

Each table's suite says what its contract says: required columns are not null, coded columns
hold allowed codes, dates fall between the contract's minimum and the delivery's cut-off, and
keys are unique. The suite runs on the typed, already pseudonymised batch whose stray CPR numbers
are masked (``stray_cprs``), with complete result format but without the unexpected values
themselves (``exclude_unexpected_values``): results and Data Docs hold row numbers and counts,
never a delivered value. Every row an expectation flags becomes a quarantine reason. Results are stored in a file-backed GX
context under the state directory and rendered as Data Docs after each delivery.

Parsing failures and CPR validity are decided before this step (``convert``): a value that
cannot be typed is already null here, and a CPR is already a pseudonym.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medfollow_core.landing.contracts import Column, SourceContract, Table

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # never phone home (no internet here)
logging.getLogger("great_expectations").setLevel(logging.WARNING)

_DATASOURCE = "medfollow_deliveries"


def load_great_expectations() -> ModuleType:
    """``great_expectations``, imported without its Spark support. GX imports pyspark
    whenever it is installed (it is: the variant aggregation runs on Spark), which adds a
    third of a second and pyspark's warnings to every ingest; the suites here run on
    pandas. While GX first loads, ``import pyspark`` fails as if it were absent; a process
    that has already imported pyspark keeps GX's Spark support."""
    if "great_expectations" not in sys.modules and "pyspark" not in sys.modules:
        sys.modules["pyspark"] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            import great_expectations.compatibility.pyspark
        finally:
            del sys.modules["pyspark"]
    import great_expectations as gx

    _without_fingerprints()
    return gx


def _without_fingerprints() -> None:
    """Stop GX hashing every frame it validates.

    Before validating a pandas frame of less than ``HASH_THRESHOLD`` (10^9) bytes GX runs
    pandas' ``hash_pandas_object`` over all of it, only to write an md5 of the frame into
    the result's batch markers (``pandas_data_fingerprint``), which nothing reads. Hashing
    dictionary-encodes every text column first, so on a delivery batch it cost nearly three
    times what the expectations themselves cost (0.28 of 0.38 s per million LPR3
    diagnoses). With the threshold at zero every expectation still runs on every row and
    reports the same rows; results lose that one marker. A test checks that stored results
    carry no fingerprint, so a GX upgrade that moves the switch fails it instead of quietly
    making validation slow again.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


def _reason(kind: str, column: str, kwargs: dict[str, Any]) -> str:
    if kind == "expect_column_values_to_not_be_null":
        return f"{column}: missing"
    if kind == "expect_column_values_to_be_in_set":
        return f"{column}: code not allowed"
    if kind == "expect_column_values_to_be_between":
        if kwargs.get("max_value") is None:
            return f"{column}: before {kwargs['min_value']}"
        return f"{column}: after the delivery cut-off"
    if kind in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        return f"duplicate key ({column})"
    return f"{column}: {kind}"


def expectations_for(table: Table, cutoff: date | None) -> list[Any]:
    """The table's suite, derived from its contract."""
    gx = load_great_expectations()

    found: list[Any] = []
    for col in table.columns:
        target = col.target
        if col.required:
            found.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=target))
        if col.allowed:
            found.append(
                gx.expectations.ExpectColumnValuesToBeInSet(
                    column=target, value_set=_typed_codes(col)
                )
            )
        if col.type in ("date", "timestamp"):
            if col.min is not None:
                found.append(
                    gx.expectations.ExpectColumnValuesToBeBetween(
                        column=target, min_value=_bound(col, date.fromisoformat(col.min))
                    )
                )
            if cutoff is not None:
                found.append(
                    gx.expectations.ExpectColumnValuesToBeBetween(
                        column=target, max_value=_bound(col, cutoff, end_of_day=True)
                    )
                )
    keys = [table.column(k).target for k in table.keys]
    if len(keys) == 1:
        found.append(gx.expectations.ExpectColumnValuesToBeUnique(column=keys[0]))
    elif keys:
        found.append(gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=keys))
    return found


def _typed_codes(col: Column) -> list[Any]:
    return [int(v) for v in col.allowed] if col.type == "int" else list(col.allowed)


def _bound(col: Column, day: date, *, end_of_day: bool = False) -> Any:
    """A date bound in the column's type; for timestamps the cut-off day counts in full."""
    import pandas as pd

    if col.type != "timestamp":
        return day
    start = pd.Timestamp(day)
    return start + pd.Timedelta(days=1) - pd.Timedelta(seconds=1) if end_of_day else start


def _row_numbers(unexpected_index_list: list[dict[str, Any]]) -> list[int]:
    """The flagged rows' numbers; with ``exclude_unexpected_values`` GX lists them together
    (``[{"_row_number": [...]}]``) instead of one dict per row with its value."""
    found: list[int] = []
    for hit in unexpected_index_list:
        rows = hit["_row_number"]
        found.extend(int(r) for r in (rows if isinstance(rows, list) else [rows]))
    return found


class DeliveryValidator:
    """Runs one delivery's batches through its tables' suites in a file-backed GX context."""

    def __init__(self, context_dir: Path, contract: SourceContract, cutoff: date | None) -> None:
        gx = load_great_expectations()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context_dir.mkdir(parents=True, exist_ok=True)
        self._gx = gx
        self.context = gx.get_context(mode="file", project_root_dir=str(context_dir))
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.contract = contract
        self.cutoff = cutoff
        self._definitions: dict[str, Any] = {}
        self._docs: Path | None = None  # Data Docs as last built, None once out of date

    def _definition(self, table: Table) -> Any:
        if table.name in self._definitions:
            return self._definitions[table.name]
        from great_expectations.datasource.fluent import PandasDatasource

        gx, ctx = self._gx, self.context
        name = f"{self.contract.source}__{table.name}"
        try:
            source = ctx.data_sources.get(_DATASOURCE)
        except (KeyError, ValueError):
            source = ctx.data_sources.add_pandas(_DATASOURCE)
        assert isinstance(source, PandasDatasource)  # _DATASOURCE is only added by add_pandas
        try:
            asset = source.get_asset(name)
        except (LookupError, ValueError):
            asset = source.add_dataframe_asset(name)
        try:
            batch = asset.get_batch_definition("batch")
        except (KeyError, ValueError):
            batch = asset.add_batch_definition_whole_dataframe("batch")
        suite = gx.ExpectationSuite(name=name, expectations=expectations_for(table, self.cutoff))
        suite = ctx.suites.add_or_update(suite)
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        self._definitions[table.name] = definition
        return definition

    def validate(self, table: Table, batch: pa.Table) -> tuple[pa.Array, bool]:
        """A reason per row (null where every expectation holds) and overall success."""
        self._docs = None
        # Only the columns the suite reads: no other column is converted to pandas.
        needed = self._columns(table)
        frame = batch.select([c for c in batch.column_names if c in needed]).to_pandas(
            date_as_object=True
        )
        result = self._definition(table).run(
            batch_parameters={"dataframe": frame},
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["_row_number"],
                "return_unexpected_index_query": False,
                # Row numbers only: results and Data Docs never list a delivered value.
                "exclude_unexpected_values": True,
            },
        )
        first_row = int(batch.column("_row_number")[0].as_py()) if batch.num_rows else 0
        # Per row the index of its reason in `texts` (-1: none): no Python object per row.
        codes = np.full(batch.num_rows, -1, dtype=np.int32)
        texts: list[str] = []
        delivered = {c.target: c.name for c in table.columns}
        for outcome in result.results:
            if outcome.success:
                continue
            config = outcome.expectation_config
            targets = (
                [config.kwargs["column"]]
                if "column" in config.kwargs
                else config.kwargs["column_list"]
            )
            # Reasons speak the delivery's language: `cpr`, not its pseudonym column.
            column = ", ".join(delivered.get(t, t) for t in targets)
            hits = _row_numbers(outcome.result.get("unexpected_index_list") or [])
            rows = np.asarray(hits, dtype=np.int64) - first_row
            codes[rows[codes[rows] < 0]] = len(texts)  # the first failed expectation names it
            texts.append(_reason(config.type, column, config.kwargs))
        if not texts:
            return pa.nulls(batch.num_rows, pa.string()), bool(result.success)
        reasons = pc.take(pa.array(texts, pa.string()), pa.array(codes, mask=codes < 0))
        return reasons, bool(result.success)

    def _columns(self, table: Table) -> set[str]:
        definition = self._definition(table)
        needed = {"_row_number"}
        for expectation in definition.suite.expectations:
            config = expectation.configuration
            needed.update(
                [config.kwargs["column"]]
                if "column" in config.kwargs
                else config.kwargs.get("column_list", [])
            )
        return needed

    def build_docs(self) -> Path:
        """The Data Docs index page, rendered anew only if a batch was validated since the
        last call (the loader builds them before it commits, see ``pipeline._then``)."""
        if self._docs is None:
            self.context.build_data_docs()
            self._docs = (
                Path(self.context.root_directory)
                / "uncommitted"
                / "data_docs"
                / "local_site"
                / "index.html"
            )
        return self._docs
