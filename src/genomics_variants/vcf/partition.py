"""Split a bgzipped VCF into groups of about equal compressed size, one per reader process,
and each group into pieces of bounded size, read one after the other.

Cuts fall on BGZF blocks (bgzf.py), so no index is needed and no record is read to plan
them. Files that are not BGZF (plain gzip, text, BCF) are read whole by one process.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from genomics_variants.vcf.bgzf import Bgzf, Piece
from medfollow_core.errors import MedfollowError

MAX_PIECE_BYTES = 64 << 20  # compressed bytes per piece: ~150 MB of temporary BCF at most


def partition(
    path: Path, parts: int, max_piece_bytes: int | None = None
) -> list[list[Piece]] | None:
    """`parts` groups of pieces (fewer for a small file) covering the records of the file in
    order, each piece spanning at most about `max_piece_bytes` (default MAX_PIECE_BYTES) of
    the compressed file, so that what is held per piece stays bounded whatever the file's
    size; None for a file that is not a bgzipped VCF or holds no record. A bgzipped file
    without BGZF's end-of-file marker is refused: whole blocks lost from its end would
    otherwise go unnoticed (htslib, reading a file itself, refuses it too)."""
    bound = max_piece_bytes or MAX_PIECE_BYTES
    with Bgzf.open(path) as bgzf:
        if not bgzf.is_bgzf():
            return None
        header, first, skip = bgzf.header()
        if not header.startswith(b"##fileformat=VCF") or first >= bgzf.size:
            return None
        if not bgzf.ends_with_eof_marker():  # a writer stopped, or the tail was lost
            raise MedfollowError(
                f"{path.name}: no BGZF end-of-file marker: the file is truncated or incomplete"
            )
        span = bgzf.size - first
        bounds = [first + span * k // parts for k in range(parts + 1)]
        groups: list[list[Piece]] = []
        for lo, hi in itertools.pairwise(bounds):
            count = -(-(hi - lo) // bound)
            cuts = [lo + (hi - lo) * k // count for k in range(count + 1)] if count else []
            starts = [first if at == first else bgzf.block_at_or_after(at) for at in cuts]
            group = [
                Piece(start, end, skip if start == first else bgzf.skip_at(start))
                for start, end in itertools.pairwise(starts)
                if start < end
            ]
            if group:
                groups.append(group)
        return groups
