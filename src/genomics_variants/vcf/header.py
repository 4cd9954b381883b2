"""What a VCF/BCF header tells us before any record is read: samples, kind, fields, assembly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cyvcf2 import VCF

from genomics_variants.assembly import assembly_problem
from medfollow_core.errors import MedfollowError

KINDS = ("joint", "vcf", "gvcf")
QC_FIELDS = ("GQ", "DP", "AD")


@dataclass(frozen=True)
class HeaderInfo:
    """The header facts ingest relies on.

    kind: `joint` (several samples), `vcf` (one sample, variant records only) or `gvcf`
      (one sample with reference blocks: `<NON_REF>`/`<*>` records carrying INFO/END).
    samples: genome ids in column order.
    formats: which of GQ, DP, AD (and MIN_DP) the header declares.
    contigs: declared contigs and lengths.
    """

    kind: str
    samples: tuple[str, ...]
    formats: frozenset[str]
    contigs: dict[str, int | None]


def read_header(path: Path) -> HeaderInfo:
    """Open `path`, check it is a GRCh38 VCF/BCF and classify it; refuses with one line."""
    if not path.exists():
        raise MedfollowError(f"VCF not found: {path}")
    try:
        vcf = VCF(str(path), lazy=True)
    except (OSError, ValueError) as exc:
        raise MedfollowError(f"cannot read {path.name} as VCF/BCF: {exc}") from None
    try:
        contigs: dict[str, int | None] = {}
        formats: set[str] = set()
        for record in vcf.header_iter():
            info = record.info()
            kind = info.get("HeaderType")
            if kind == "CONTIG":
                try:
                    length = record["length"]
                except KeyError:
                    length = None
                contigs[info["ID"]] = int(length) if length else None
            elif kind == "FORMAT":
                formats.add(info["ID"])
        samples = tuple(vcf.samples)
        raw = vcf.raw_header
        gvcf_hint = any(tag in raw for tag in ("##ALT=<ID=NON_REF", "##ALT=<ID=*", "##GVCFBlock"))
    finally:
        vcf.close()
    problem = assembly_problem(contigs, path.name)
    if problem:
        raise MedfollowError(problem)
    if not samples:
        raise MedfollowError(f"{path.name} has no sample columns: nothing to count")
    if "GT" not in formats:
        raise MedfollowError(f"{path.name} declares no FORMAT/GT: genotypes are needed")
    if len(set(samples)) != len(samples):
        raise MedfollowError(f"{path.name} names a sample twice")
    if gvcf_hint and len(samples) > 1:
        raise MedfollowError(
            f"{path.name} is a multi-sample gVCF; genotype it jointly first (one VCF)"
        )
    kind = "gvcf" if gvcf_hint else ("joint" if len(samples) > 1 else "vcf")
    return HeaderInfo(kind, samples, frozenset(formats & {*QC_FIELDS, "MIN_DP"}), contigs)
