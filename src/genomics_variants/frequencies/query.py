"""Look-ups in a release: parse what a user types, answer from an in-memory index.

Accepted variant spellings: `17-43045711-G-A`, `chr17-43045711-G-A`, `chr17:43045711 G>A`,
`chr17:43045711:G:A`; regions: `chr17:43040000-43050000` (1-based, inclusive; commas
allowed). Region answers are capped (span and number of variants) and say when they are.

The index keeps the release's columns as numpy arrays, a dict from variant id to row and,
per contig, the sorted positions: a variant costs one dict look-up, a region two binary
searches, whatever the size of the release. A record is assembled from one row of an integer
and one row of a float matrix, so answering costs microseconds, not a column scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from genomics_variants.assembly import CONTIG_LENGTHS, canonical_contig
from genomics_variants.frequencies.release import Release
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


def _coverage_by_contig(release: Release) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per contig, the callable intervals' (start, end, (intervals, strata) AN), in order."""
    if not release.coverage.exists():
        return {}
    table = pq.read_table(release.coverage)
    chrom = table.column("chrom").to_numpy(zero_copy_only=False)
    start, end = table.column("start").to_numpy(), table.column("end").to_numpy()
    an = np.stack([table.column(column("an", s)).to_numpy() for s in STRATA], axis=1)
    out = {}
    for contig in np.unique(chrom).tolist():
        rows = np.flatnonzero(chrom == contig)
        out[contig] = (start[rows], end[rows], an[rows])
    return out


class FrequencyIndex:
    """A release loaded for fast look-ups."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self._coverage: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        table = pq.read_table(release.frequencies)
        self.columns = {
            name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names
        }
        ids = self.columns["variant_id"].tolist()
        self._row = dict(zip(ids, range(len(ids)), strict=True))
        fields = [(s, f) for s in STRATA for f in (*FIELDS, *RAW_FIELDS)]
        kinds = {(s, f): self.columns[column(f, s)].dtype.kind for s, f in fields}
        self._int_fields = [key for key in fields if kinds[key] in "iu"]
        self._float_fields = [key for key in fields if kinds[key] not in "iu"]
        self._ints = (
            np.stack([self.columns[column(f, s)] for s, f in self._int_fields], axis=1).astype(
                np.int64
            )
            if ids
            else np.zeros((0, len(self._int_fields)), np.int64)
        )
        self._floats = (
            np.stack(
                [self.columns[column(f, s)].astype(np.float64) for s, f in self._float_fields],
                axis=1,
            )
            if ids
            else np.zeros((0, len(self._float_fields)))
        )
        chrom = self.columns["chrom"]
        self._by_contig: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for contig in np.unique(chrom).tolist():
            rows = np.flatnonzero(chrom == contig)
            order = np.argsort(self.columns["pos"][rows], kind="stable")
            self._by_contig[contig] = (self.columns["pos"][rows][order], rows[order])

    def __len__(self) -> int:
        return len(self._row)

    def row(self, variant: str) -> int | None:
        return self._row.get(variant)

    def at(self, chrom: str, pos: int) -> np.ndarray:
        """Rows of variants at one position."""
        return self.between(chrom, pos, pos)

    def between(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Rows with start <= POS <= end, in position order."""
        found = self._by_contig.get(chrom)
        if found is None:
            return np.zeros(0, dtype=np.int64)
        pos, rows = found
        lo, hi = np.searchsorted(pos, start, "left"), np.searchsorted(pos, end, "right")
        return rows[lo:hi]

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

    def callable_an(self, chrom: str, pos: int) -> dict[str, int]:
        """QC-passing AN per stratum at a position from the release's callable intervals
        (coverage.py): all zeros where no stored genome of known coverage covers it, so a
        variant without a row is "absent" where this is > 0 and "not covered" where it is 0.
        Releases made before coverage was published answer zeros."""
        if self._coverage is None:
            self._coverage = _coverage_by_contig(self.release)
        found = self._coverage.get(chrom)
        if found is not None:
            start, end, an = found
            i = int(np.searchsorted(start, pos, side="right")) - 1
            if i >= 0 and end[i] >= pos:
                return dict(zip(STRATA, an[i].tolist(), strict=True))
        return {stratum: 0 for stratum in STRATA}

    def value(self, name: str, row: int) -> object:
        """One field of one row as a plain Python value (None for null)."""
        value = self.columns[name][row]
        if isinstance(value, np.generic):
            value = value.item()
        return None if value is None or value != value else value  # NaN is null

    def record(self, row: int) -> dict[str, object]:
        """Everything the release says about one variant (full detail, before privacy).

        `frequencies` maps each stratum to its fields (strata.py); `grpmax` holds the
        grpmax fields.
        """
        frequencies: dict[str, dict[str, object]] = {stratum: {} for stratum in STRATA}
        for (stratum, field), number in zip(
            self._int_fields, self._ints[row].tolist(), strict=True
        ):
            frequencies[stratum][field] = number
        for (stratum, field), real in zip(
            self._float_fields, self._floats[row].tolist(), strict=True
        ):
            frequencies[stratum][field] = None if real != real else real  # NaN is null
        return {
            "variant_id": self.columns["variant_id"][row],
            "chrom": self.columns["chrom"][row],
            "pos": int(self.columns["pos"][row]),
            "ref": self.columns["ref"][row],
            "alt": self.columns["alt"][row],
            "release": self.release.release_id,
            "frequencies": frequencies,
            "grpmax": {f: self.value(f, row) for f in GRPMAX_FIELDS},
        }
