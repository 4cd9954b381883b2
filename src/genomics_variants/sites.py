"""Normalised variants as parallel arrays in genome order, and fast look-ups between sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from genomics_variants.assembly import contig_rank


@dataclass(frozen=True)
class Sites:
    """Variants: `chrom`, `pos` (1-based), `ref`, `alt` of the normalised form, row-aligned."""

    chrom: np.ndarray
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray

    def __len__(self) -> int:
        return len(self.pos)

    @classmethod
    def build(
        cls, chrom: npt.ArrayLike, pos: npt.ArrayLike, ref: npt.ArrayLike, alt: npt.ArrayLike
    ) -> Sites:
        """From sequences or arrays of each field, one value per variant."""
        return cls(
            np.asarray(chrom, dtype=str).reshape(-1),
            np.asarray(pos, dtype=np.int64).reshape(-1),
            np.asarray(ref, dtype=str).reshape(-1),
            np.asarray(alt, dtype=str).reshape(-1),
        )

    @classmethod
    def empty(cls) -> Sites:
        return cls.build([], [], [], [])

    @classmethod
    def concat(cls, parts: Sequence[Sites]) -> Sites:
        if not parts:
            return cls.empty()
        return cls.build(
            np.concatenate([p.chrom for p in parts]),
            np.concatenate([p.pos for p in parts]),
            np.concatenate([p.ref for p in parts]),
            np.concatenate([p.alt for p in parts]),
        )

    @cached_property
    def ids(self) -> np.ndarray:
        """CHROM-POS-REF-ALT per variant."""
        if not len(self):
            return np.array([], dtype=str)
        dash = np.array("-")
        out = np.strings.add(self.chrom, dash)
        out = np.strings.add(out, self.pos.astype(str))
        out = np.strings.add(np.strings.add(out, dash), self.ref)
        return np.strings.add(np.strings.add(out, dash), self.alt)

    @cached_property
    def rank(self) -> np.ndarray:
        """Karyotype rank of each variant's contig."""
        names, inverse = np.unique(self.chrom, return_inverse=True)
        return np.array([contig_rank(n) for n in names], dtype=np.int64)[inverse]

    @cached_property
    def position_key(self) -> np.ndarray:
        """Contig rank and position in one sortable integer (genome order, REF/ALT aside)."""
        return (self.rank << np.int64(32)) | self.pos

    def locate_sorted(self, query: Sites) -> np.ndarray:
        """Row of each `query` variant here, or -1; these sites must be in genome order.

        A binary search on (contig, position) finds the few variants at each position, and
        only those have their REF and ALT compared: no string is built or sorted, so the
        cost follows the query, not the size of these sites.
        """
        out = np.full(len(query), -1, dtype=np.int64)
        if not len(self) or not len(query):
            return out
        keys, wanted = self.position_key, query.position_key
        lo = np.searchsorted(keys, wanted, "left")
        hi = np.searchsorted(keys, wanted, "right")
        single = np.flatnonzero(hi - lo == 1)
        rows = lo[single]
        same = (self.ref[rows] == query.ref[single]) & (self.alt[rows] == query.alt[single])
        out[single[same]] = rows[same]
        for i in np.flatnonzero(hi - lo > 1).tolist():  # several alleles at one position
            at = np.arange(lo[i], hi[i])
            hit = at[(self.ref[at] == query.ref[i]) & (self.alt[at] == query.alt[i])]
            if len(hit):
                out[i] = hit[0]
        return out

    def genome_order(self) -> np.ndarray:
        """Permutation sorting by contig (karyotype order), position, REF, ALT."""
        return np.lexsort((self.alt, self.ref, self.pos, self.rank))

    def take(self, index: np.ndarray) -> Sites:
        return Sites(self.chrom[index], self.pos[index], self.ref[index], self.alt[index])

    def to_arrow(self) -> dict[str, pa.Array]:
        return {
            "chrom": pa.array(self.chrom, pa.string()),
            "pos": pa.array(self.pos, pa.int64()),
            "ref": pa.array(self.ref, pa.string()),
            "alt": pa.array(self.alt, pa.string()),
        }

    @classmethod
    def from_arrow(cls, table: pa.Table) -> Sites:
        return cls.build(
            table.column("chrom").to_numpy(zero_copy_only=False),
            table.column("pos").to_numpy(),
            table.column("ref").to_numpy(zero_copy_only=False),
            table.column("alt").to_numpy(zero_copy_only=False),
        )


def locate(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of each `query` value in `keys` (unique values), or -1 where absent."""
    if not len(keys) or not len(query):
        return np.full(len(query), -1, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    slot = np.searchsorted(keys, query, sorter=order)
    slot = np.minimum(slot, len(keys) - 1)
    found = order[slot]
    return np.where(keys[found] == query, found, -1)


def arrow_ids(located: Mapping[str, pa.Array]) -> pa.Array:
    """`Sites.ids` of the columns `Sites.to_arrow` gives, joined by Arrow: variable-width
    strings, where numpy's fixed-width ones take the longest allele's width for every row
    (a release's ids)."""
    return pc.binary_join_element_wise(
        located["chrom"], pc.cast(located["pos"], pa.string()), located["ref"], located["alt"], "-"
    )
