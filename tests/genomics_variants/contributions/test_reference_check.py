"""A store keeps the reference its genomes were read against: a later delivery called
against another sequence is refused before anything is stored; the same sequence under
another name, path or soft-masking is accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key
from support.variants import (
    CHR17_SEQ,
    RECORDS,
    SAMPLES,
    Handcrafted,
    vcf_text,
    write_handcrafted_reference,
    write_vcf,
)


def _stored(store: Store) -> tuple[int, int, str]:
    state = store.load()
    meta = (store.root / "store.json").read_text(encoding="utf-8")
    return state.samples.num_rows, state.generation, json.loads(meta)["reference"]


def test_a_delivery_against_another_sequence_is_refused(
    handcrafted: Handcrafted, tmp_path: Path
) -> None:
    key = load_key()
    # First delivery: s1 and s2 only, read against the handcrafted reference.
    first = tuple((*r[:5], " ".join(r[5].split()[:2])) for r in RECORDS)
    first_vcf = write_vcf(tmp_path / "first.vcf.gz", vcf_text(first, SAMPLES[:2]))
    store = Store(tmp_path / "store")
    ingest_files(store, [first_vcf], handcrafted.reference, key=key, manifest=handcrafted.manifest)
    before = _stored(store)
    assert before[0] == 2

    # Same contigs and lengths, one base changed far from any record.
    changed = CHR17_SEQ[:100] + ("A" if CHR17_SEQ[100] != "A" else "C") + CHR17_SEQ[101:]
    other = write_handcrafted_reference(tmp_path / "other" / "GRCh38.fa.gz", changed)
    with pytest.raises(MedfollowError, match=r"differs from the store's reference on chr17") as err:
        ingest_files(store, [handcrafted.vcf], other, key=key, manifest=handcrafted.manifest)
    assert "\n" not in str(err.value)
    assert _stored(store) == before  # nothing stored, the registered reference kept

    # The same sequence, soft-masked, under another name and folder: s3 and s4 are added.
    same = write_handcrafted_reference(
        tmp_path / "elsewhere" / "hg38_masked.fa.gz", CHR17_SEQ.lower()
    )
    assert same.read_bytes() != handcrafted.reference.read_bytes()
    result = ingest_files(store, [handcrafted.vcf], same, key=key, manifest=handcrafted.manifest)
    assert result.added == 2
    assert _stored(store)[0] == 4
