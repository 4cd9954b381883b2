"""A store with one published release and tokens of each tier, one per test module (each
module's budgets and audit log start empty)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genomics_variants.api.access import TokenStore
from genomics_variants.api.app import create_app
from genomics_variants.api.privacy import Tier
from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.release import write_release
from medfollow_core.pseudonymise import load_key
from support.variants import release_columns


@pytest.fixture(scope="module")
def api(
    delivery: Path, reference: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    store = Store(tmp_path_factory.mktemp("api") / "store")
    state = ingest_files(store, [delivery], reference, key=load_key(), workers=2).state
    columns = release_columns(write_release(store, state))
    ac = columns["ac"]
    common = columns["variant_id"][int(ac.argmax())]
    rare = columns["variant_id"][int(((ac > 0) & (ac < 5)).argmax())]
    tokens = TokenStore(store.access_dir)
    return {
        "client": TestClient(create_app(store.root)),
        "store": store,
        "common": common,
        "rare": rare,
        "registered": tokens.add("lab", Tier.REGISTERED, budget=1000),
        "controlled": tokens.add("research", Tier.CONTROLLED),
        "thrifty": tokens.add("thrifty", Tier.REGISTERED, budget=2),
    }
