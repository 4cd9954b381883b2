"""Finding variants by position and alleles agrees with finding them by their ids."""

from __future__ import annotations

import numpy as np

from genomics_variants.sites import Sites


def test_locate_sorted_agrees_with_the_id_lookup() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    chrom = rng.choice(["chr17", "chrX", "chr2"], n)
    pos = rng.integers(1, 300, n)  # many variants share a position (multi-allelic sites)
    ref = rng.choice(["A", "C", "GT"], n)
    alt = rng.choice(["G", "T", "A", "C"], n)
    everything = Sites.build(chrom, pos, ref, alt)
    _, first = np.unique(everything.ids, return_index=True)
    unique = everything.take(first)
    stored = unique.take(unique.genome_order())
    stored = stored.take(np.flatnonzero(rng.random(len(stored)) < 0.7))  # some are absent
    query = everything.take(rng.permutation(n))
    row_of = {variant: row for row, variant in enumerate(stored.ids.tolist())}
    expected = np.array([row_of.get(variant, -1) for variant in query.ids.tolist()])
    assert (expected >= 0).any() and (expected < 0).any()
    assert np.array_equal(stored.locate_sorted(query), expected)
    assert np.array_equal(Sites.empty().locate_sorted(query), np.full(n, -1))
