"""Fixtures for the linkage tests: synthetic national data sets, made once per session."""

from __future__ import annotations

import pytest

from synthetic_deliveries import SynthResult, generate


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """3,000 persons: a quick spine for behaviour tests (few records without CPR)."""
    return generate(tmp_path_factory.mktemp("synth_small"), persons=3000, seed=11)


@pytest.fixture(scope="session")
def synth_large(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """20,000 persons: enough cross-border patients (about 50) and legacy samples (200)
    for a true F1 that one error would visibly move; 3,000 persons give only a handful."""
    return generate(tmp_path_factory.mktemp("synth_large"), persons=20000, seed=7)
