"""One warehouse built from the synthetic world for the dbt modules that only read it.

Generating 3,000 persons, loading them, linking them and building every dbt layer takes
about a minute and a half; the marts, FH and release tests all read the same build, so it
is made once per session. Modules that change the warehouse do so only at their end
(test_marts.py ages a source and rewrites a milestone last) and rebuild what they touch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from medfollow_core.pseudonymise import load_key
from rwd_linkage.run import run_linkage
from support.databases import fresh_database
from support.marts import (
    WORLD_CUTOFF,
    WORLD_PERSONS,
    WORLD_SEED,
    Warehouse,
    load_deliveries,
    run_dbt,
)
from synthetic_deliveries import generate


@pytest.fixture(scope="session")
def marts_warehouse(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """The synthetic world loaded, linked and built by `dbt build`, with the unit tests run."""
    with fresh_database(server_url) as url:
        synth = tmp_path_factory.mktemp("marts_synth")
        work = tmp_path_factory.mktemp("marts_dbt")
        generate(synth, persons=WORLD_PERSONS, seed=WORLD_SEED, cutoff=WORLD_CUTOFF)
        load_deliveries(synth / "landing", url, load_key())
        run_linkage(url, load_key())
        build = run_dbt(url, ["build"], work)
        unit = run_dbt(url, ["test", "--select", "test_type:unit"], work)
        yield Warehouse(url=url, synth=synth, work=work, build=build, unit=unit)
