"""Codes kept on disk while reading: both ways of reading them back agree, and neither the
reader nor the batch writer holds the codes of the whole file."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from genomics_variants.contributions.store import Store
from genomics_variants.vcf import bcf, block
from genomics_variants.vcf.genotypes import COPIES_SHIFT
from genomics_variants.vcf.read import read_file
from genomics_variants.vcf.spill import SpilledCodes, SpillWriter
from support.variants import CHR17_OFFSET, vcf_text, write_handcrafted_reference, write_vcf

T = TypeVar("T")
BASES = np.array(list("ACGT"))


def test_both_reads_of_spilled_codes_agree(tmp_path: Path) -> None:
    """Codes are read by sample to be stored and by variant to merge duplicate records;
    with records merged across two readers' spills, and a subset taken, both agree."""
    rng = np.random.default_rng(5)
    samples = ("s3", "s1", "s4", "s0", "s2")
    blocks = [rng.integers(0, 64, (rows, len(samples)), dtype=np.uint8) for rows in (3, 4, 2)]
    spills = []
    for name, written in (("a", blocks[:2]), ("b", blocks[2:])):
        with SpillWriter(tmp_path / name, samples) as writer:
            for codes in written:
                writer.write(codes, None)
        spills.append(writer.spill)
    raw = np.concatenate(blocks)
    # four variants: raw rows 4; 0 with 7 and 8 (the second reader's); 2; 5 with 1
    spilled = SpilledCodes(
        tuple(spills),
        samples,
        first=np.array([4, 0, 2, 5]),
        merged_rows=np.array([7, 8, 1]),
        merged_into=np.array([1, 1, 3]),
    )
    expected = raw[[4, 0, 2, 5]]
    expected[1] = raw[[0, 7, 8]].max(axis=0)
    expected[3] = np.maximum(raw[5], raw[1])
    by_name = np.argsort(samples)
    assert np.array_equal(spilled.array(), expected)
    assert np.array_equal(spilled.sample_rows(1, 4), expected[:, by_name].T[1:4])
    subset = spilled.take(np.array([3, 1]))
    assert np.array_equal(subset.array(), expected[[3, 1]])
    assert np.array_equal(subset.sample_rows(0, len(samples)), expected[[3, 1]][:, by_name].T)


def _peak(run: Callable[[], T]) -> tuple[T, int]:
    """What `run` returns and the most memory it had allocated at once (tracemalloc sees
    numpy's buffers as well as Python's objects)."""
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _wide_vcf(folder: Path, n_samples: int, n_records: int) -> tuple[Path, Path, np.ndarray]:
    """A joint VCF of SNVs at every position of a made-up chr17 stretch, its reference, and
    the ALT copies of each record and sample (samples named out of name order)."""
    rng = np.random.default_rng(11)
    ref = rng.choice(BASES, n_records)
    reference = write_handcrafted_reference(folder / "wide.fa.gz", "".join(ref))
    alt = BASES[(np.searchsorted(BASES, ref) + 1) % len(BASES)]
    copies = rng.choice(3, size=(n_records, n_samples), p=[0.8, 0.15, 0.05])
    calls = np.array([b"0/0\t", b"0/1\t", b"1/1\t"], dtype="S4")[copies]
    columns = calls.view(np.uint8).reshape(n_records, 4 * n_samples)
    columns[:, -1] = ord("\n")
    lines = [
        f"chr17\t{CHR17_OFFSET + p}\t.\t{r}\t{a}\t.\tPASS\t.\tGT\t{row.tobytes().decode()}"
        for p, r, a, row in zip(range(1, n_records + 1), ref, alt, columns, strict=True)
    ]
    samples = tuple(f"W{i:05d}" for i in rng.permutation(n_samples))
    vcf = write_vcf(folder / "wide.vcf.gz", vcf_text((), samples) + "".join(lines))
    return vcf, reference, copies


def test_reading_and_storing_hold_a_block_of_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With small blocks and reads, what reading a joint VCF and writing its batch
    allocate at their peak is well under the size of the file's codes: neither holds them
    whole, so neither grows with the file."""
    monkeypatch.setattr(block, "BLOCK_RECORDS", 32)
    monkeypatch.setattr(bcf, "CHUNK", 1 << 16)
    vcf, reference, copies = _wide_vcf(tmp_path, n_samples=2_000, n_records=4_000)
    codes_size = copies.size  # one byte per variant and sample
    (tmp_path / "codes").mkdir()
    calls, reading = _peak(lambda: read_file(vcf, reference, folder=tmp_path / "codes"))
    store = Store(tmp_path / "store")
    batch = partial(store.write_batch, sites=calls.sites, genome_ids=calls.samples, blocks=None)
    batch("000001-0001", 1, codes=calls.codes)  # once before: pyarrow imports on first use
    calls_file, storing = _peak(lambda: batch("000001-0002", 1, codes=calls.codes))
    assert len(calls.sites) == len(copies)
    assert reading < codes_size / 2 and storing < codes_size / 2, (reading, storing)
    ids, stored = store.batch_calls("000001-0002", calls_file, len(calls.sites))
    assert ids == sorted(calls.samples)
    by_name = np.argsort(calls.samples)
    assert np.array_equal(stored >> COPIES_SHIFT, copies[:, by_name])
