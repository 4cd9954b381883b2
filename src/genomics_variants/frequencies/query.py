"""Look-ups in a release: parse what a user types, answer from the release's served layout.

Accepted variant spellings: `17-43045711-G-A`, `chr17-43045711-G-A`, `chr17:43045711 G>A`,
`chr17:43045711:G:A`; regions: `chr17:43040000-43050000` (1-based, inclusive; commas
allowed). Region answers are capped (span and number of variants) and say when they are.

The index reads the release from disk (served.py): the rows in genome order in compressed
blocks, a sparse index of the blocks in memory. A variant costs a binary search and one
block read, a region two, whatever the size of the release; memory is the block index and
a bounded cache of blocks, not the release.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import pyarrow as pa

from genomics_variants.assembly import CONTIG_LENGTHS, CONTIGS, canonical_contig
from genomics_variants.frequencies.release import (
    COVERAGE_TABLE,
    VARIANTS_TABLE,
    Release,
    ensure_served,
)
from genomics_variants.frequencies.served import BlockCache, BlockTable, Layout, key_of
from genomics_variants.frequencies.strata import FIELDS, GRPMAX_FIELDS, RAW_FIELDS, STRATA, column
from genomics_variants.reference import Reference
from genomics_variants.vcf.normalise import normalise, ref_matches, variant_id
from medfollow_core.errors import MedfollowError

MAX_REGION_SPAN = 100_000
MAX_REGION_VARIANTS = 1_000

_VARIANT = re.compile(
    r"^\s*(?:chr)?([0-9]{1,2}|X|Y|M|MT)\s*[-:_]\s*([0-9][0-9,]*)(?:\s*[-:_]\s*|\s+)([ACGTN]+)\s*[->:/_]\s*([ACGTN]+)\s*$",
    re.IGNORECASE,
)
_REGION = re.compile(
    r"^\s*(?:chr)?([0-9]{1,2}|X|Y|M|MT)\s*:\s*([0-9][0-9,]*)\s*-\s*([0-9][0-9,]*)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class VariantQuery:
    chrom: str
    pos: int
    ref: str
    alt: str

    @property
    def variant_id(self) -> str:
        return variant_id(self.chrom, self.pos, self.ref, self.alt)


@dataclass(frozen=True)
class RegionQuery:
    """[start, end], 1-based inclusive."""

    chrom: str
    start: int
    end: int


def _contig(text: str) -> str:
    contig = canonical_contig(text)
    if contig is None:
        raise MedfollowError(f"unknown chromosome {text!r}")
    return contig


def parse_query(text: str) -> VariantQuery | RegionQuery:
    """A variant or a region from user input; refuses anything else with an example."""
    if match := _VARIANT.match(text):
        chrom, pos, ref, alt = match.groups()
        return VariantQuery(_contig(chrom), int(pos.replace(",", "")), ref.upper(), alt.upper())
    if match := _REGION.match(text):
        chrom, start, end = match.groups()
        query = RegionQuery(_contig(chrom), int(start.replace(",", "")), int(end.replace(",", "")))
        if query.start < 1 or query.end < query.start:
            raise MedfollowError(f"region {text.strip()!r} is empty or starts before 1")
        if query.start > CONTIG_LENGTHS[query.chrom]:
            raise MedfollowError(f"region {text.strip()!r} starts beyond the end of {query.chrom}")
        return query
    raise MedfollowError(
        f"cannot read {text.strip()!r}: give a variant (17-43045711-G-A, chr17:43045711 G>A) "
        "or a region (chr17:43040000-43050000)"
    )


def normalise_query(query: VariantQuery, reference: Reference) -> VariantQuery:
    """The normalised form of a typed variant, so a right-shifted indel still matches."""
    if not ref_matches(reference, query.chrom, query.pos, query.ref):
        raise MedfollowError(
            f"REF {query.ref} does not match the reference at {query.chrom}:{query.pos}"
        )
    return VariantQuery(
        query.chrom, *normalise(reference, query.chrom, query.pos, query.ref, query.alt)
    )


@dataclass(frozen=True)
class RegionAnswer:
    """Rows of a region query: `total` variants in the region, `rows` the first of them
    (at most the cap), `truncated` when some were left out."""

    rows: np.ndarray
    total: int
    truncated: bool
    limit: int


class FrequencyIndex:
    """A release opened for look-ups from its served layout (served.py): a variant costs a
    search of the in-memory block index and one block read, a region two, whatever the
    size of the release; a record is one row of an integer and one of a float matrix."""

    def __init__(self, release: Release, cache: BlockCache | None = None) -> None:
        self.release = release
        folder = ensure_served(release)
        cache = cache or BlockCache.from_environment()
        self.variants = BlockTable(folder, VARIANTS_TABLE, cache)
        covered = folder / f"{COVERAGE_TABLE}.json"
        self.coverage = BlockTable(folder, COVERAGE_TABLE, cache) if covered.exists() else None
        self._strata = _stratum_readers(self.variants.layout)
        if self.coverage is not None:
            ints = self.coverage.layout.ints
            self._end_at = ints.index("end")
            self._an_at = np.array([ints.index(column("an", s)) for s in STRATA])

    def __len__(self) -> int:
        return len(self.variants)

    @property
    def names(self) -> tuple[str, ...]:
        """The release's columns, in the order of frequencies.parquet."""
        return self.variants.layout.order

    def row(self, variant: str) -> int | None:
        """The row of a variant id (CHROM-POS-REF-ALT), or None."""
        parts = variant.split("-")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        chrom, pos, ref, alt = parts
        key = key_of(chrom, int(pos))
        if key < 0 or int(pos) >= 1 << 32:
            return None
        for row in self.variants.rows_at(key):
            block, at = self.variants.locate(row)
            if block.string("ref")[at] == ref and block.string("alt")[at] == alt:
                return row
        return None

    def between(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Rows with start <= POS <= end, in position order."""
        first, last = key_of(chrom, start), key_of(chrom, end)
        if first < 0:
            return np.zeros(0, dtype=np.int64)
        rows = self.variants.rows_between(first, last)
        return np.arange(rows.start, rows.stop, dtype=np.int64)

    def region(
        self,
        query: RegionQuery,
        *,
        max_span: int = MAX_REGION_SPAN,
        max_variants: int = MAX_REGION_VARIANTS,
    ) -> RegionAnswer:
        """Variants in a region, refusing spans over `max_span` and capping at `max_variants`."""
        span = query.end - query.start + 1
        if span > max_span:
            raise MedfollowError(
                f"region spans {span:,} bp; the limit is {max_span:,} bp: ask for a smaller region"
            )
        rows = self.between(query.chrom, query.start, query.end)
        return RegionAnswer(rows[:max_variants], len(rows), len(rows) > max_variants, max_variants)

    def shown(self, rows: np.ndarray, floor: int) -> np.ndarray:
        """Per row, whether its QC-passing AC reaches `floor` (the tier's rule)."""
        return self.variants.column("ac", rows) >= floor

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        """One column of the release at the given rows."""
        return self.variants.column(name, rows)

    def table(self, rows: np.ndarray) -> pa.Table:
        """The given rows with the release's columns (frequencies.parquet's order)."""
        return self.variants.table(rows)

    def callable_an(self, chrom: str, pos: int) -> dict[str, int]:
        """QC-passing AN per stratum at a position from the release's callable intervals
        (coverage.py): all zeros where no stored genome of known coverage covers it, so a
        variant without a row is "absent" where this is > 0 and "not covered" where it is 0.
        Releases made before coverage was published answer zeros."""
        key = key_of(chrom, pos)
        if self.coverage is not None and key >= 0:
            row = self.coverage.row_at_or_before(key)
            if row is not None:
                block, at = self.coverage.locate(row)
                same_contig = int(block.keys[at]) >> 32 == key >> 32
                if same_contig and int(block.ints[at, self._end_at]) >= pos:
                    return dict(zip(STRATA, block.ints[at, self._an_at].tolist(), strict=True))
        return {stratum: 0 for stratum in STRATA}

    def value(self, name: str, row: int) -> object:
        """One field of one row as a plain Python value (None for null)."""
        return self.variants.value(name, row)

    def record(self, row: int) -> dict[str, object]:
        """Everything the release says about one variant (full detail, before privacy).

        `frequencies` maps each stratum to its fields (strata.py); `grpmax` holds the
        grpmax fields.
        """
        block, at = self.variants.locate(row)
        ints, stored = block.ints[at].tolist(), block.stored[at].tolist()
        frequencies = {reader.stratum: reader.fields(ints, stored) for reader in self._strata}
        key = int(block.keys[at])
        chrom, pos = CONTIGS[key >> 32], key & 0xFFFFFFFF
        ref, alt = block.string("ref")[at], block.string("alt")[at]
        return {
            "variant_id": f"{chrom}-{pos}-{ref}-{alt}",
            "chrom": chrom,
            "pos": pos,
            "ref": ref,
            "alt": alt,
            "release": self.release.release_id,
            "frequencies": frequencies,
            "grpmax": {f: self.variants.value_in(block, at, f) for f in GRPMAX_FIELDS},
        }


@dataclass(frozen=True)
class _StratumReader:
    """Where one stratum's fields sit in a served row: its integer fields (`take` picks
    them from the row's integers, in `ints`' order), then its float fields, each a stored
    column or a ratio of two integer columns (served.py stores AF as AC and AN only)."""

    stratum: str
    ints: tuple[str, ...]
    take: Callable[[list[int]], tuple[int, ...]]
    floats: tuple[tuple[str, int, int], ...]  # (field, stored column, -1) or (field, num, den)

    def fields(self, ints: list[int], stored: list[float]) -> dict[str, object]:
        """The stratum's fields of one row as plain values (null for NaN, and for a ratio
        whose denominator is 0): the same float64 division as strata._ratio."""
        out: dict[str, object] = dict(zip(self.ints, self.take(ints), strict=True))
        for field, first, second in self.floats:
            if second < 0:
                real = stored[first]
                out[field] = None if real != real else real
            else:
                den = ints[second]
                out[field] = ints[first] / den if den > 0 else None
        return out


def _stratum_readers(layout: Layout) -> tuple[_StratumReader, ...]:
    """Per stratum, in the order of STRATA, how its record is read from a served row."""
    int_at = {name: i for i, name in enumerate(layout.ints)}
    stored_at = {name: i for i, name in enumerate(layout.floats)}
    ratio_at = {name: (int_at[num], int_at[den]) for name, num, den in layout.ratios}
    readers = []
    for stratum in STRATA:
        fields = (*FIELDS, *RAW_FIELDS)
        ints = tuple(f for f in fields if column(f, stratum) in int_at)
        floats: list[tuple[str, int, int]] = []
        for field in fields:
            name = column(field, stratum)
            if name in stored_at:
                floats.append((field, stored_at[name], -1))
            elif name in ratio_at:
                floats.append((field, *ratio_at[name]))
        places = [int_at[column(f, stratum)] for f in ints]
        take = (lambda row: ()) if not places else _picker(places)
        readers.append(_StratumReader(stratum, ints, take, tuple(floats)))
    return tuple(readers)


def _picker(places: list[int]) -> Callable[[list[int]], tuple[int, ...]]:
    """A function taking the values at `places` from a list, always as a tuple."""
    get = itemgetter(*places)
    if len(places) == 1:
        return lambda row: (get(row),)
    return get
