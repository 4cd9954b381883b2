"""Split an indexed VCF into groups of about equal compressed size, one per reader process,
and each group into regions of bounded size, read one after the other.

The tabix (.tbi) linear index records, for every 16 kb window of every contig, the file
offset of the first record overlapping it. Cumulative offsets give a byte budget per window,
and cutting where the budget crosses 1/k of the file balances k readers without reading a
record. Files without a .tbi (BCF with .csi, or unindexed) are read whole by one process.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TBI_WINDOW = 1 << 14
MAX_PIECE_BYTES = 64 << 20  # compressed bytes per region: ~150 MB of temporary BCF at most


@dataclass(frozen=True)
class Region:
    """Records whose POS lies in [start, end] (1-based, inclusive) of `contig`."""

    contig: str
    start: int
    end: int

    @property
    def text(self) -> str:
        return f"{self.contig}:{self.start}-{self.end}"

    def holds(self, pos: int) -> bool:
        return self.start <= pos <= self.end


def linear_index(tbi: Path) -> dict[str, np.ndarray]:
    """Per contig, the compressed-file offset of each 16 kb window (from a .tbi file)."""
    data = gzip.decompress(tbi.read_bytes())
    magic, n_ref, *_cols, l_nm = struct.unpack_from("<4s8i", data, 0)
    if magic != b"TBI\x01":
        raise ValueError("not a tabix index")
    offset = 36
    names = [n.decode() for n in data[offset : offset + l_nm].split(b"\0")[:n_ref]]
    offset += l_nm
    windows: dict[str, np.ndarray] = {}
    for name in names:
        (n_bin,) = struct.unpack_from("<i", data, offset)
        offset += 4
        for _ in range(n_bin):
            _bin, n_chunk = struct.unpack_from("<Ii", data, offset)
            offset += 8 + 16 * n_chunk
        (n_intv,) = struct.unpack_from("<i", data, offset)
        offset += 4
        ioff = np.frombuffer(data, dtype="<u8", count=n_intv, offset=offset)
        offset += 8 * n_intv
        windows[name] = (ioff >> np.uint64(16)).astype(np.int64)
    return windows


def partition(
    path: Path, parts: int, max_piece_bytes: int | None = None
) -> list[list[Region]] | None:
    """`parts` groups of regions covering the file in order, each region spanning at most
    about `max_piece_bytes` (default MAX_PIECE_BYTES) of the compressed file (so what is held per region stays
    bounded, whatever the file's size); None when there is no tabix index to cut by."""
    tbi = Path(f"{path}.tbi")
    if not tbi.exists():
        return None
    bound = max_piece_bytes or MAX_PIECE_BYTES
    try:
        windows = linear_index(tbi)
    except (OSError, ValueError, struct.error):
        return None
    names = list(windows)
    if not any(len(o) for o in windows.values()):
        return None  # an index of no record (a VCF of a header only): nothing to cut
    contig = np.concatenate([np.full(len(o), i) for i, o in enumerate(windows.values())])
    window = np.concatenate([np.arange(len(o)) for o in windows.values()])
    if not len(window):
        return None
    offsets = np.maximum.accumulate(np.concatenate(list(windows.values())))
    span = offsets[-1] - offsets[0]
    cuts: list[int] = []
    if parts > 1 and span > 0:
        targets = offsets[0] + span * np.arange(1, parts) / parts
        cuts = sorted(set(np.searchsorted(offsets, targets).tolist()) - {0, len(window)})
    groups: list[list[Region]] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(window)], strict=True):
        group, first = [], lo
        for i in range(lo + 1, hi + 1):
            if i == hi or contig[i] != contig[first] or offsets[i] - offsets[first] > bound:
                name = names[int(contig[first])]
                last = int(window[i - 1])
                end = (last + 1) * TBI_WINDOW if last < len(windows[name]) - 1 else 2**31 - 1
                group.append(Region(name, int(window[first]) * TBI_WINDOW + 1, end))
                first = i
        groups.append(group)
    return groups
