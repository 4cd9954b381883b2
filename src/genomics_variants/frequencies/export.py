"""Export the current release: sites-only VCF (bgzipped, tabix-indexed), Parquet or TSV.

The VCF carries INFO AC, AN, AF, nhomalt, nhemi, faf95 (QC-passing genotypes), the same
with `_raw` (all genotypes), and per stratum `<KEY>_<stratum>` (e.g. AC_XX, AF_hovedstaden),
plus grpmax and seen_unknown_coverage; FILTER is AC0 where no QC-passing genotype carries
the allele. ID is the
variant id. bcftools and tabix read it as any gnomAD-style sites VCF.

Every export is recorded in the store (`releases/exports.json`: path and format) so that an
opt-out removal can rewrite each one still on disk from the release without the person
(`refresh_exports`): no export keeps a removed person's counts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pysam
from pysam.libcbgzf import BGZFile

from genomics_variants.assembly import ASSEMBLY, CONTIG_LENGTHS
from genomics_variants.frequencies.release import Release
from genomics_variants.frequencies.strata import STRATA, UNKNOWN_COVERAGE_FIELD, column
from medfollow_core.errors import MedfollowError

FORMATS = ("vcf", "parquet", "tsv")
EXPORTS_FILE = "exports.json"
CHUNK = 50_000

# (INFO key, release field, VCF type, description)
INFO_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("AC", "ac", "Integer", "Alternate allele count (QC-passing genotypes)"),
    ("AN", "an", "Integer", "Total number of called alleles (QC-passing genotypes)"),
    ("AF", "af", "Float", "Alternate allele frequency AC/AN (QC-passing genotypes)"),
    ("nhomalt", "nhomalt", "Integer", "Diploid homozygous-alternate genotypes (QC-passing)"),
    ("nhemi", "nhemi", "Integer", "Hemizygous alternate calls, XY outside the PARs (QC-passing)"),
    ("faf95", "faf95", "Float", "Filtering allele frequency, 95% Poisson (Whiffin et al. 2017)"),
    ("AC_raw", "ac_raw", "Integer", "Alternate allele count (all genotypes)"),
    ("AN_raw", "an_raw", "Integer", "Total number of called alleles (all genotypes)"),
    ("AF_raw", "af_raw", "Float", "Alternate allele frequency (all genotypes)"),
    ("nhomalt_raw", "nhomalt_raw", "Integer", "Diploid homozygous-alternate genotypes (all)"),
)
STRATUM_FIELDS = ("AC", "AN", "AF", "nhomalt", "nhemi")
GRPMAX_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("grpmax", "grpmax", "String", "Region with the highest AF among regions with AC > 0"),
    ("AF_grpmax", "grpmax_af", "Float", "AF in the grpmax region"),
    ("faf95_max", "faf95_max", "Float", "Highest regional faf95"),
    (
        "seen_unknown_coverage",
        UNKNOWN_COVERAGE_FIELD,
        "Integer",
        "Also seen in N samples of unknown coverage (plain VCFs without callable regions; "
        "in no AC, AN or AF)",
    ),
)


def _info_columns() -> list[tuple[str, str, str, str]]:
    fields = list(INFO_FIELDS)
    by_key = {key: (name, kind, text) for key, name, kind, text in INFO_FIELDS}
    for stratum in STRATA[1:]:
        for key in STRATUM_FIELDS:
            name, kind, text = by_key[key]
            fields.append((f"{key}_{stratum}", column(name, stratum), kind, f"{text}, {stratum}"))
    return fields + list(GRPMAX_FIELDS)


def vcf_header(release: Release) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        f"##reference={ASSEMBLY}",
        f"##source=medfollow-variants release {release.release_id} "
        f"({release.sample_count} samples, {release.meta['date']})",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=AC0,Description="No QC-passing genotype carries the allele">',
        *(
            f"##contig=<ID={name},length={length},assembly={ASSEMBLY}>"
            for name, length in CONTIG_LENGTHS.items()
        ),
        *(
            f'##INFO=<ID={key},Number={"1" if kind != "String" else "."},Type={kind},Description="{text}">'
            for key, _name, kind, text in _info_columns()
        ),
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    return "\n".join(lines) + "\n"


def _text(values: pa.ChunkedArray, kind: str) -> np.ndarray:
    """VCF text of a column: '.' for nulls, floats with 6 significant digits."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if kind == "Float":
        numbers = array.to_numpy(zero_copy_only=False).astype(np.float64)
        text = np.char.mod("%.6g", np.nan_to_num(numbers, nan=0.0))
        return np.where(np.isnan(numbers), ".", text)
    if kind == "String":
        return np.array(["." if v is None else str(v) for v in array.to_pylist()], dtype=object)
    return array.to_numpy(zero_copy_only=False).astype(np.int64).astype(str)


def _vcf_lines(table: pa.Table) -> bytes:
    info = None
    for key, name, kind, _description in _info_columns():
        part = np.strings.add(f"{key}=", _text(table.column(name), kind).astype(str))
        info = part if info is None else np.strings.add(np.strings.add(info, ";"), part)
    ac = table.column("ac").to_numpy()
    fields = [
        table.column("chrom").to_numpy(zero_copy_only=False).astype(str),
        table.column("pos").to_numpy().astype(str),
        table.column("variant_id").to_numpy(zero_copy_only=False).astype(str),
        table.column("ref").to_numpy(zero_copy_only=False).astype(str),
        table.column("alt").to_numpy(zero_copy_only=False).astype(str),
        np.full(len(ac), "."),
        np.where(ac > 0, "PASS", "AC0"),
        info,
    ]
    line = fields[0]
    for f in fields[1:]:
        line = np.strings.add(np.strings.add(line, "\t"), f)
    return ("\n".join(line.tolist()) + "\n").encode() if len(ac) else b""


def _registry(release: Release) -> Path:
    """The store's record of exports (beside its releases: it outlives each of them)."""
    return release.folder.parent / EXPORTS_FILE


def _recorded(registry: Path) -> list[dict[str, str]]:
    """The recorded exports: [{path, format}]."""
    if not registry.exists():
        return []
    entries: list[dict[str, str]] = json.loads(registry.read_text(encoding="utf-8"))
    return entries


def _save(registry: Path, entries: list[dict[str, str]]) -> None:
    """Replace the record in one rename, so a crash never leaves it half written."""
    staged = registry.with_name(f".{registry.name}.tmp")
    staged.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    os.replace(staged, registry)


def _record(release: Release, fmt: str, out: Path) -> None:
    """Remember an export (one entry per path; the latest format wins)."""
    registry = _registry(release)
    path = str(out.resolve())
    entries = [e for e in _recorded(registry) if e["path"] != path]
    _save(registry, [*entries, {"path": path, "format": fmt}])


def refresh_exports(release: Release) -> int:
    """Rewrite every recorded export still on disk from `release` (after a removal); exports
    deleted since are forgotten. Returns the number rewritten."""
    registry = _registry(release)
    rewritten = 0
    for entry in _recorded(registry):
        path = Path(entry["path"])
        if path.exists():
            export_release(release, entry["format"], path)
            rewritten += 1
    if registry.exists():
        _save(registry, [e for e in _recorded(registry) if Path(e["path"]).exists()])
    return rewritten


def export_release(release: Release, fmt: str, out: Path) -> Path:
    """Write the release to `out` in `fmt` (vcf, parquet or tsv) and record it in the store;
    returns the path."""
    path = _write(release, fmt, out)
    _record(release, fmt, path)
    return path


def _write(release: Release, fmt: str, out: Path) -> Path:
    """Write the release to `out` in `fmt`; returns the path."""
    if fmt not in FORMATS:
        raise MedfollowError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":  # one file, however many parts the release has
        partial = out.with_name(f".{out.name}.partial")
        schema = pq.read_schema(release.frequency_files()[0])
        try:
            with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
                for group in release.frequency_row_groups():
                    writer.write_table(group)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
        return out
    table = pq.read_table(release.frequencies)
    if fmt == "tsv":
        pacsv.write_csv(table, out, pacsv.WriteOptions(delimiter="\t", quoting_style="none"))
        return out
    if not out.name.endswith(".gz"):
        raise MedfollowError("a VCF export is bgzipped: give a path ending in .vcf.gz")
    with BGZFile(str(out), "wb", index=None) as handle:
        handle.write(vcf_header(release).encode())
        for start in range(0, table.num_rows, CHUNK):
            handle.write(_vcf_lines(table.slice(start, CHUNK)))
    pysam.tabix_index(str(out), preset="vcf", force=True)
    return out
