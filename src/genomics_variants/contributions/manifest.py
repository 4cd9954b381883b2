"""The sample manifest: genome id -> person (pseudonymised on read) and karyotype.

`sample_manifest.tsv` (tab-separated, header row) has at least `genome_id`, `cpr` and
`karyotype`; `vcf_file` (relative to the manifest) is used when a delivery folder is
ingested; `callable_bed` (relative to the manifest, may be empty) names the callable regions
delivered with a genome's plain single-sample VCF (vcf/callable.py); other columns (such as the biobank `sample_id`) are not kept. The CPR column is normalised exactly as the registry ingest does and replaced by
its HMAC pseudonym at once: nothing downstream ever holds the number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from genomics_variants.sites import locate
from medfollow_core.cpr import validate_cpr_column
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import Pseudonymiser

MANIFEST_NAME = "sample_manifest.tsv"
REQUIRED = ("genome_id", "cpr", "karyotype")
KARYOTYPES = ("XX", "XY")


@dataclass(frozen=True)
class Manifest:
    """Genomes as parallel arrays: genome_id, person_key (pseudonym), karyotype (XX/XY) and
    callable_bed (path of the genome's callable-regions BED, "" when none was delivered)."""

    genome_id: np.ndarray
    person_key: np.ndarray
    karyotype: np.ndarray
    callable_bed: np.ndarray

    def rows(self, genome_ids: Sequence[str]) -> np.ndarray:
        """Row of each genome id, -1 where the manifest lacks it."""
        return locate(self.genome_id, np.asarray(genome_ids, dtype=str))


def read_manifest(path: Path, key: bytes) -> Manifest:
    """The manifest, pseudonymised; refuses (one line, no CPR) a manifest it cannot trust."""
    if not path.exists():
        raise MedfollowError(f"sample manifest not found: {path}")
    try:
        with path.open(encoding="utf-8") as handle:
            names = handle.readline().rstrip("\r\n").split("\t")
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter="\t"),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise MedfollowError(
            f"cannot read sample manifest {path.name}: {type(exc).__name__}"
        ) from None
    absent = [c for c in REQUIRED if c not in table.column_names]
    if absent:
        raise MedfollowError(f"sample manifest {path.name} lacks column(s): {', '.join(absent)}")
    cpr, reasons, _mod11 = validate_cpr_column(table.column("cpr").combine_chunks())
    bad = pc.indices_nonzero(pc.is_valid(reasons)).to_pylist()
    if bad:
        raise MedfollowError(
            f"sample manifest {path.name} row {bad[0] + 2}: {reasons[bad[0]].as_py()} "
            f"({len(bad)} bad row(s))"
        )
    person_key = Pseudonymiser(key).column(cpr).to_numpy(zero_copy_only=False).astype(str)
    del cpr
    genome_id = table.column("genome_id").to_numpy(zero_copy_only=False).astype(str)
    karyotype = table.column("karyotype").to_numpy(zero_copy_only=False).astype(str)
    wrong = np.flatnonzero(~np.isin(karyotype, KARYOTYPES))
    if len(wrong):
        raise MedfollowError(
            f"sample manifest {path.name} row {wrong[0] + 2}: karyotype must be XX or XY"
        )
    unique, first, counts = np.unique(genome_id, return_index=True, return_counts=True)
    repeated = np.flatnonzero((counts > 1) | (unique == ""))
    if len(repeated):
        raise MedfollowError(
            f"sample manifest {path.name} row {first[repeated[0]] + 2}: genome_id is empty or repeated"
        )
    beds = np.full(len(genome_id), "", dtype=object)
    if "callable_bed" in table.column_names:
        named = table.column("callable_bed").to_numpy(zero_copy_only=False).astype(str)
        given = np.char.str_len(np.char.strip(named)) > 0
        beds[given] = [str(path.parent / name.strip()) for name in named[given]]
    return Manifest(genome_id, person_key, karyotype, beds.astype(str))


def listed_files(manifest: Path) -> list[str]:
    """The distinct vcf_file entries of a manifest (relative paths), in order."""
    with manifest.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        if "vcf_file" not in header:
            raise MedfollowError(f"{manifest} has no vcf_file column: name the VCF files")
        column = header.index("vcf_file")
        return list(
            dict.fromkeys(
                line.rstrip("\r\n").split("\t")[column] for line in handle if line.strip()
            )
        )


def find_manifest(files: list[Path]) -> Path | None:
    """A sample_manifest.tsv beside the files or up to two folders above them."""
    for file in files:
        for folder in (file.parent, file.parent.parent, file.parent.parent.parent):
            candidate = folder / MANIFEST_NAME
            if candidate.exists():
                return candidate
    return None
