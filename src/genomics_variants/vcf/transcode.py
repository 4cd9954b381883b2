"""Parse VCF text with pysam into a temporary BCF, which bcf.py then reads into numpy.

Parsing the FORMAT columns is most of the cost of reading a joint VCF, and the htslib
inside pysam (1.24) parses about twice as fast as older builds (the one inside cyvcf2's
wheel took 2.0 s where pysam takes 1.1 s, for 3,199 records x 4,000 samples of
GT:GQ:DP:AD). The BCF it writes holds each FORMAT field as one typed array per record,
which bcf.py takes as numpy views without further parsing. pysam releases the GIL while
it parses and writes.

A BCF input is read as it is. A bgzipped VCF is transcoded one piece at a time (the reader
asks for them in turn; partition.py), so the temporary file holds one piece, never the
whole file: a thread inflates the piece's blocks (bgzf.py) and writes the header and the
piece's lines into a pipe, from which htslib parses them. Any other VCF (plain gzip or
text) is parsed by htslib from the file, whole. Only the selected samples are parsed
(htslib skips the other columns).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pysam

from genomics_variants.vcf.bgzf import Bgzf, Piece
from medfollow_core.errors import MedfollowError

PIPE_BYTES = 1 << 20  # fewer wake-ups between the inflating thread and htslib
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def is_bcf(path: Path) -> bool:
    """Whether htslib sees BCF (binary) rather than VCF text in `path`."""
    with pysam.VariantFile(str(path)) as source:
        return bool(source.format == "BCF")


@contextmanager
def bcf_pieces(
    path: Path, pieces: Sequence[Piece] | None, samples: Sequence[str]
) -> Iterator[Iterator[Path]]:
    """Yield an iterator of BCF files: `path` itself if it is BCF and read whole, else one
    temporary uncompressed BCF per piece (or one for the whole VCF), each deleted once the
    next is asked for."""
    if pieces is None and is_bcf(path):
        yield iter([path])
        return
    with tempfile.TemporaryDirectory(prefix="medfollow-bcf-") as folder:
        yield _transcoded(path, pieces, samples, Path(folder))


def _transcoded(
    path: Path, pieces: Sequence[Piece] | None, samples: Sequence[str], folder: Path
) -> Iterator[Path]:
    for number, piece in enumerate(pieces or (None,)):
        out = folder / f"piece-{number}.bcf"
        _write_piece(path, piece, samples, out)
        yield out
        out.unlink()


def _write_piece(path: Path, piece: Piece | None, samples: Sequence[str], out: Path) -> None:
    """Transcode one piece; tags the file uses without declaring them are declared.

    htslib declares such a tag in the reader's header when it first meets it, too late for
    the BCF header already written, so the piece is written again with the declarations
    it collected (once per tag at most).
    """
    declared: list[str] = []
    while True:
        added = _try_piece(path, piece, samples, out, declared)
        if not added:
            return
        declared += added


def _try_piece(
    path: Path, piece: Piece | None, samples: Sequence[str], out: Path, declare: list[str]
) -> list[str]:
    """Write the piece; returns the header lines htslib had to invent if writing failed
    for want of them (the piece is then incomplete), else []."""
    where = f" at byte {piece.start:,}" if piece is not None else ""
    try:
        with _vcf_text(path, piece) as text, pysam.VariantFile(text) as source:
            for line in declare:
                source.header.add_line(line)
            if list(source.header.samples) != list(samples):
                source.subset_samples(list(samples))
            known = {str(r) for r in source.header.records}
            try:
                with pysam.VariantFile(str(out), "wb0", header=source.header) as sink:
                    for record in source:
                        sink.write(record)
            except OSError:
                invented = [str(r).strip() for r in source.header.records if str(r) not in known]
                if invented:
                    return invented
                raise
    except (OSError, ValueError) as exc:
        raise MedfollowError(f"{path.name}: cannot parse the VCF{where}: {exc}") from None
    if os.path.getsize(out) == 0:
        raise MedfollowError(f"{path.name}: could not be transcoded (empty output)")
    return []


@contextmanager
def _vcf_text(path: Path, piece: Piece | None) -> Iterator[str | int]:
    """What pysam opens: the file's name, or for a piece the read end of a pipe into which
    a thread writes the header and the piece's lines. Whatever stops the thread (a corrupt
    block, a read error, anything unforeseen) is raised here, in place of what htslib made of
    the text ending early: a piece is never taken for whole when it was not. When htslib
    stops early (a parse error), the thread is told to stop and what it still writes is
    drained, so it never blocks."""
    if piece is None:
        yield str(path)
        return
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):  # a smaller pipe only means more wake-ups
        fcntl.fcntl(write_end, F_SETPIPE_SZ, PIPE_BYTES)
    feeder = _Feeder(path, piece, write_end)
    feeder.start()
    try:
        yield read_end  # pysam reads from its own duplicate of the descriptor
    finally:
        feeder.stopping = True  # htslib may have stopped early: the thread stops at a block
        while os.read(read_end, PIPE_BYTES):
            pass
        os.close(read_end)
        feeder.join()
        if feeder.error is not None:  # the cause, rather than htslib's "truncated file"
            raise feeder.error


class _Feeder(threading.Thread):
    """Writes the VCF header and a piece's lines into a pipe, then closes it."""

    def __init__(self, path: Path, piece: Piece, write_end: int) -> None:
        super().__init__(name="medfollow-bgzf", daemon=True)
        self.path, self.piece, self.write_end = path, piece, write_end
        self.error: BaseException | None = None
        self.stopping = False

    def run(self) -> None:
        try:
            with Bgzf.open(self.path) as bgzf:
                header, _, _ = bgzf.header()
                self._write(header)
                for text in bgzf.text(self.piece):
                    if self.stopping:
                        return
                    self._write(text)
        except OSError as exc:
            self.error = MedfollowError(f"{self.path.name}: cannot be read ({exc.strerror})")
        except BaseException as exc:  # raised in the reading thread instead
            self.error = exc
        finally:
            os.close(self.write_end)

    def _write(self, text: bytes) -> None:
        view = memoryview(text)
        while view:
            view = view[os.write(self.write_end, view) :]
