"""Parse VCF text with pysam into a temporary BCF, which bcf.py then reads into numpy.

Parsing the FORMAT columns is most of the cost of reading a joint VCF, and the htslib
inside pysam (1.24) parses about twice as fast as older builds (the one inside cyvcf2's
wheel took 2.0 s where pysam takes 1.1 s, for 3,199 records x 4,000 samples of
GT:GQ:DP:AD). The BCF it writes holds each FORMAT field as one typed array per record,
which bcf.py takes as numpy views without further parsing. pysam releases the GIL while
it parses and writes.

A BCF input is read as it is. A VCF is transcoded one region at a time (the reader asks
for them in turn), so the temporary file holds one piece, never the whole file; records
are kept where their POS lies in the region, so a record overlapping two regions is read
once. Only the selected samples are parsed (htslib skips the other columns).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pysam

from genomics_variants.vcf.partition import Region
from medfollow_core.errors import MedfollowError


def is_bcf(path: Path) -> bool:
    """Whether htslib sees BCF (binary) rather than VCF text in `path`."""
    with pysam.VariantFile(str(path)) as source:
        return bool(source.format == "BCF")


@contextmanager
def bcf_pieces(
    path: Path, regions: Sequence[Region] | None, samples: Sequence[str]
) -> Iterator[Iterator[Path]]:
    """Yield an iterator of BCF files: `path` itself if it is BCF and read whole, else one
    temporary uncompressed BCF per region (or one for the whole VCF), each deleted once the
    next is asked for."""
    if regions is None and is_bcf(path):
        yield iter([path])
        return
    with tempfile.TemporaryDirectory(prefix="medfollow-bcf-") as folder:
        yield _transcoded(path, regions, samples, Path(folder))


def _transcoded(
    path: Path, regions: Sequence[Region] | None, samples: Sequence[str], folder: Path
) -> Iterator[Path]:
    for number, region in enumerate(regions or (None,)):
        piece = folder / f"piece-{number}.bcf"
        _write_piece(path, region, samples, piece)
        yield piece
        piece.unlink()


def _write_piece(path: Path, region: Region | None, samples: Sequence[str], out: Path) -> None:
    """Transcode one region; tags the file uses without declaring them are declared.

    htslib declares such a tag in the reader's header when it first meets it, too late for
    the BCF header already written, so the piece is written again with the declarations
    it collected (once per tag at most).
    """
    declared: list[str] = []
    while True:
        added = _try_piece(path, region, samples, out, declared)
        if not added:
            return
        declared += added


def _try_piece(
    path: Path, region: Region | None, samples: Sequence[str], out: Path, declare: list[str]
) -> list[str]:
    """Write the piece; returns the header lines htslib had to invent if writing failed
    for want of them (the piece is then incomplete), else []."""
    try:
        with pysam.VariantFile(str(path)) as source:
            for line in declare:
                source.header.add_line(line)
            if list(source.header.samples) != list(samples):
                source.subset_samples(list(samples))
            known = {str(r) for r in source.header.records}
            records = (
                source
                if region is None
                else source.fetch(region.contig, region.start - 1, region.end)
            )
            try:
                with pysam.VariantFile(str(out), "wb0", header=source.header) as sink:
                    for record in records:
                        if region is None or region.holds(record.pos):
                            sink.write(record)
            except OSError:
                invented = [str(r).strip() for r in source.header.records if str(r) not in known]
                if invented:
                    return invented
                raise
    except (OSError, ValueError) as exc:
        where = f" in {region.text}" if region is not None else ""
        raise MedfollowError(f"{path.name}: cannot parse the VCF{where}: {exc}") from None
    if os.path.getsize(out) == 0:
        raise MedfollowError(f"{path.name}: could not be transcoded (empty output)")
    return []
