"""The reference FASTA: assembly check and fast base look-ups for REF checks and left-alignment.

Reads go through pysam (bgzipped FASTA with .fai and .gzi, or plain FASTA with .fai) and are
cached in 1 Mb windows, so checking the REF of consecutive records costs a slice, not a seek.
A store keeps the reference its genomes were read against; `require_same_sequence` refuses
a later delivery whose FASTA carries another sequence.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import pysam

from genomics_variants.assembly import assembly_problem
from medfollow_core.errors import MedfollowError

WINDOW = 1 << 20


class Reference:
    """Upper-case reference bases by 0-based half-open coordinates."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MedfollowError(f"reference FASTA not found: {self.path}")
        try:
            self._fasta = pysam.FastaFile(str(self.path))
        except (OSError, ValueError) as exc:
            raise MedfollowError(f"cannot open reference FASTA {self.path.name}: {exc}") from None
        self.lengths = dict(zip(self._fasta.references, self._fasta.lengths, strict=True))
        problem = assembly_problem(dict(self.lengths), f"reference {self.path.name}")
        if problem:
            raise MedfollowError(problem)
        self._cache: dict[tuple[str, int], str] = {}

    def close(self) -> None:
        self._fasta.close()

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _window(self, contig: str, index: int) -> str:
        key = (contig, index)
        seq = self._cache.get(key)
        if seq is None:
            if len(self._cache) > 16:
                self._cache.clear()
            start = index * WINDOW
            seq = self._fasta.fetch(contig, start, start + WINDOW).upper()
            self._cache[key] = seq
        return seq

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Bases [start, end) of `contig` (0-based); shorter if the contig ends first."""
        if contig not in self.lengths:
            raise MedfollowError(f"contig {contig} is not in the reference {self.path.name}")
        end = min(end, self.lengths[contig])
        if start >= end:
            return ""
        first, last = start // WINDOW, (end - 1) // WINDOW
        if first == last:
            offset = first * WINDOW
            return self._window(contig, first)[start - offset : end - offset]
        return "".join(
            self._window(contig, i)[
                max(start, i * WINDOW) - i * WINDOW : min(end, (i + 1) * WINDOW) - i * WINDOW
            ]
            for i in range(first, last + 1)
        )

    def base(self, contig: str, pos: int) -> str:
        """The base at 1-based `pos`."""
        return self.fetch(contig, pos - 1, pos)


def require_same_sequence(registered: Path, delivered: Path) -> None:
    """Refuse (MedfollowError) a `delivered` FASTA that is not the sequence of `registered`.

    Genomes called against another sequence cannot be normalised and counted with the
    stored ones: their REF alleles and indel positions mean something else. Every contig of
    `registered` must be in `delivered` with the same bases (soft-masking aside); file
    names, paths, compression and extra contigs do not matter. Byte-identical files, the
    usual case (every delivery ships the same FASTA), are recognised without decoding.
    """
    with Reference(registered) as ours, Reference(delivered) as theirs:
        if filecmp.cmp(registered, delivered, shallow=False):
            return
        for contig, length in ours.lengths.items():
            if contig not in theirs.lengths:
                raise MedfollowError(
                    f"reference {delivered.name} lacks {contig} of the store's reference"
                )
            if theirs.lengths[contig] != length:
                raise MedfollowError(
                    f"reference {delivered.name} has {contig} of another length than the store's"
                )
            for start in range(0, length, WINDOW):
                if ours.fetch(contig, start, start + WINDOW) != theirs.fetch(
                    contig, start, start + WINDOW
                ):
                    raise MedfollowError(
                        f"reference {delivered.name} differs from the store's reference on "
                        f"{contig} (within {start + 1:,}-{min(start + WINDOW, length):,}): "
                        "its genomes were called against another sequence than the stored ones"
                    )
