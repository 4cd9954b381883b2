"""Known variants planted at named positions: pharmacogenetic alleles and FH carriers.

The coalescent windows (genomes_sites.py) give realistic background variation but never a
variant anyone has a name for. The pharmacogenetic and FH marts need genomes that carry
named variants (CYP2C19*2, TPMT*3A, a pathogenic LDLR allele, ...) at their GRCh38
positions, and an answer key saying what each genome carries and whether the delivery
lets the platform see it. This module reads the one list of named positions (the dbt seed
`genotyped_positions.csv`), draws two haplotypes per genome and gene from star-allele
frequencies, so that alleles defined by two variants in cis (TPMT*3A = *3B + *3C) come out
as they do in people, and builds one short window per position whose reference carries
the position's REF base.

Frequencies are Northern European allele frequencies (CPIC frequency tables), except that
the rare alleles are raised (CYP2C19*3, the DPYD variants, TPMT*2/*3B/*3C, NUDT15*3 to
1-3 %) so a demo cohort of a few hundred genomes has carriers of each and every gene has
persons with a non-normal phenotype: the synthetic world is not a prevalence estimate.
FH variants are carried only by the samples whose `planted` column names them (the FH
families decide who inherits).

Calls at planted positions are clean (DP 20-45, GQ >= 40, balanced heterozygotes), except
for about 3 % of genome x position cells drawn as missing calls: a './.' in the joint VCF,
a no-call block in a gVCF, a gap in a callable BED. Together with the plain VCFs delivered
without a BED (callability unknown), they give the marts genomes that must come out
`indeterminate` rather than a guessed normal.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medfollow_core.config import SEEDS_DIR
from synthetic_deliveries.genomes_calls import MISSING, Calls
from synthetic_deliveries.genomes_reference import CONTIG_LENGTH, random_sequence
from synthetic_deliveries.genomes_sites import MAX_ALLELES, Window, WindowSites

POSITIONS_SEED = "genotyped_positions.csv"
FLANK = 100  # bases of simulated sequence either side of a named position
MISSING_SHARE = 0.03  # genome x position cells delivered as a missing call

# Star alleles per gene as the variant keys they carry (in cis) and their synthetic allele
# frequency; the rest of a gene's haplotypes are the reference (*1) allele.
HAPLOTYPES: Mapping[str, tuple[tuple[str, tuple[str, ...], float], ...]] = {
    "CYP2C19": (
        ("*2", ("CYP2C19_c.681G>A",), 0.15),
        ("*3", ("CYP2C19_c.636G>A",), 0.02),  # real ~0.005, raised
        ("*17", ("CYP2C19_c.-806C>T",), 0.20),
    ),
    "DPYD": (
        ("*2A", ("DPYD_c.1905+1G>A",), 0.02),  # real ~0.01
        ("c.2846A>T", ("DPYD_c.2846A>T",), 0.02),  # real ~0.005
        ("HapB3", ("DPYD_c.1129-5923C>G",), 0.03),  # real ~0.02
        ("*13", ("DPYD_c.1679T>G",), 0.01),  # real ~0.001
    ),
    "TPMT": (
        ("*2", ("TPMT_c.238G>C",), 0.01),
        ("*3A", ("TPMT_c.460G>A", "TPMT_c.719A>G"), 0.04),
        ("*3B", ("TPMT_c.460G>A",), 0.005),
        ("*3C", ("TPMT_c.719A>G",), 0.01),
    ),
    "NUDT15": (("*3", ("NUDT15_c.415C>T",), 0.02),),  # real ~0.002 in Europeans
    "SLCO1B1": (("c.521C", ("SLCO1B1_c.521T>C",), 0.15),),
}


@dataclass(frozen=True)
class NamedPosition:
    """One row of the named-positions seed (GRCh38, 1-based)."""

    variant_key: str
    gene: str
    chrom: str
    pos: int
    ref: str
    alt: str
    purpose: str

    @property
    def window(self) -> Window:
        return Window(self.chrom, self.pos - FLANK, self.pos + FLANK)


def load_named_positions(seeds_dir: Path = SEEDS_DIR) -> tuple[NamedPosition, ...]:
    """The named positions of the dbt seed, in genome order of the file."""
    with (seeds_dir / POSITIONS_SEED).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(
        NamedPosition(
            r["variant_key"], r["gene"], r["chrom"], int(r["pos"]), r["ref"], r["alt"], r["purpose"]
        )
        for r in rows
    )


def _check(positions: Sequence[NamedPosition]) -> None:
    keys = [p.variant_key for p in positions]
    if len(set(keys)) != len(keys):
        raise ValueError("named positions: duplicate variant_key")
    for p in positions:
        if p.chrom not in CONTIG_LENGTH or p.chrom in ("chrX", "chrY", "chrM"):
            raise ValueError(f"named position {p.variant_key}: only autosomes are planted")
        if not (p.ref and p.alt and set(p.ref + p.alt) <= set("ACGT")):
            raise ValueError(f"named position {p.variant_key}: REF/ALT must be bases")


@dataclass(frozen=True)
class Planting:
    """What was planted: per position (in `positions` order) the ALT count of every genome
    of the samples table (0-2) and whether its call is missing."""

    positions: tuple[NamedPosition, ...]
    copies: np.ndarray  # positions x samples, int8
    missing: np.ndarray  # positions x samples, bool
    sites: tuple[WindowSites, ...]  # one window per position, `positions` order


def _haplotypes(
    positions: Sequence[NamedPosition], n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """positions x samples x 2 allele indices drawn from the star-allele frequencies."""
    index = {p.variant_key: i for i, p in enumerate(positions)}
    hap = np.zeros((len(positions), n_samples, 2), dtype=np.int8)
    for gene in sorted(HAPLOTYPES):
        alleles = [a for a in HAPLOTYPES[gene] if all(k in index for k in a[1])]
        if not alleles:
            continue
        cumulative = np.cumsum([a[2] for a in alleles])
        draw = np.searchsorted(cumulative, rng.random((n_samples, 2)), side="right")
        for j, (_name, keys, _freq) in enumerate(alleles):
            for key in keys:
                hap[index[key]] |= (draw == j).astype(np.int8)
    return hap


def plant(
    positions: Sequence[NamedPosition],
    planted: Sequence[str | None],
    seed_seq: np.random.SeedSequence,
) -> Planting:
    """Genotypes, missing calls and windows for every genome of the samples table.

    `planted[i]` names a variant key sample i carries heterozygously (or None).
    """
    positions = tuple(positions)
    _check(positions)
    n = len(planted)
    draw_seed, missing_seed, sequence_seed = seed_seq.spawn(3)
    hap = _haplotypes(positions, n, np.random.default_rng(draw_seed))
    index = {p.variant_key: i for i, p in enumerate(positions)}
    for sample, key in enumerate(planted):
        if key is None or key == "":
            continue
        if key not in index:
            raise ValueError(f"samples.planted: row {sample} names an unknown variant key")
        hap[index[key], sample, 0] = 1
    missing = np.random.default_rng(missing_seed).random((len(positions), n)) < MISSING_SHARE
    rng = np.random.default_rng(sequence_seed)
    sites = []
    for i, position in enumerate(positions):
        window = position.window
        sequence = random_sequence(window.length, rng)
        offset = position.pos - window.start
        sequence[offset : offset + len(position.ref)] = np.frombuffer(
            position.ref.encode(), dtype=np.uint8
        )
        width = max(len(position.ref), len(position.alt))
        alleles = np.zeros((1, MAX_ALLELES), dtype=f"S{width}")
        alleles[0, 0], alleles[0, 1] = position.ref.encode(), position.alt.encode()
        sites.append(
            WindowSites(
                window=window,
                sequence=sequence,
                pos=np.array([position.pos], dtype=np.int64),
                alleles=alleles,
                n_alleles=np.array([2], dtype=np.int64),
                hap=hap[i : i + 1],
                haploid=np.zeros(n, dtype=bool),
                missing=missing[i : i + 1],
            )
        )
    return Planting(positions, hap.sum(axis=2).astype(np.int8), missing, tuple(sites))


def planted_calls(hap: np.ndarray, missing: np.ndarray, rng: np.random.Generator) -> Calls:
    """Clean calls (sites x samples) for planted sites: every call passes genotype QC
    (DP >= 20, GQ >= 40, heterozygous allele balance 0.3-0.7) unless drawn missing."""
    a1 = np.minimum(hap[..., 0], hap[..., 1]).astype(np.int8)
    a2 = np.maximum(hap[..., 0], hap[..., 1]).astype(np.int8)
    dp = rng.integers(20, 46, size=a1.shape).astype(np.int32)
    het = a1 != a2
    on_alt = np.where(
        het, np.rint(dp * rng.uniform(0.35, 0.65, size=dp.shape)), np.where(a1 == 1, dp, 0)
    ).astype(np.int32)
    ad = np.zeros((*a1.shape, MAX_ALLELES), dtype=np.int32)
    ad[..., 0], ad[..., 1] = dp - on_alt, on_alt
    gq = np.where(het, np.minimum(99, 6 * np.minimum(on_alt, dp - on_alt)), 99).astype(np.int32)
    gq = np.maximum(gq, 40)
    a1 = np.where(missing, MISSING, a1).astype(np.int8)
    a2 = np.where(missing, MISSING, a2).astype(np.int8)
    ad[missing] = 0
    return Calls(a1, a2, np.where(missing, 0, dp), np.where(missing, 0, gq), ad)


GENOTYPE_TEXT = ("0/0", "0/1", "1/1")
TRUTH_FILE = "genome_positions.csv"
TRUTH_COLUMNS = ("genome_id", "variant_key", "genotype", "covered")


def covered_cells(
    planting: Planting,
    joint: np.ndarray,
    gvcf: np.ndarray,
    with_bed: np.ndarray,
    plain: np.ndarray,
) -> np.ndarray:
    """positions x samples: can the platform see this genome's genotype here?

    Joint-called genomes: their call is not missing and the delivery's joint VCF has the
    site at all (some joint genome carries the ALT; a joint VCF has no record where no one
    does, and between records it says nothing). gVCF and BED genomes: the call is not
    missing (reference blocks and BED intervals cover every passing call; planted calls
    all pass). A plain VCF without a BED: only where it has a record, i.e. carries the ALT.
    Genomes not delivered stay False. (A gVCF genome is assumed stored from its gVCF, which
    ingest prefers when a delivery's files are read together.)
    """
    called = ~planting.missing
    carrier = called & (planting.copies > 0)
    covered = np.zeros_like(called)
    if len(joint):
        seen = carrier[:, joint].any(axis=1, keepdims=True)
        covered[:, joint] = called[:, joint] & seen
    for group in (gvcf, with_bed):
        covered[:, group] = called[:, group]
    covered[:, plain] = carrier[:, plain]
    return covered


def write_truth(
    folder: Path,
    planting: Planting,
    genome_ids: Sequence[str],
    delivered: np.ndarray,
    covered: np.ndarray,
) -> Path:
    """Write (merge) `genome_positions.csv`: the delivered genomes' rows replace any earlier
    rows of the same genomes, so the file of a world sequenced over several months holds
    every genome delivered so far. Sorted, so one world gives the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TRUTH_FILE
    fresh = {genome_ids[i] for i in delivered.tolist()}
    rows: list[tuple[str, str, str, str]] = []
    if path.exists():
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [
                (r["genome_id"], r["variant_key"], r["genotype"], r["covered"])
                for r in csv.DictReader(fh)
                if r["genome_id"] not in fresh
            ]
    for i, position in enumerate(planting.positions):
        for sample in delivered.tolist():
            rows.append(
                (
                    genome_ids[sample],
                    position.variant_key,
                    GENOTYPE_TEXT[int(planting.copies[i, sample])],
                    "true" if covered[i, sample] else "false",
                )
            )
    rows.sort()
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        writer.writerows(rows)
    partial.replace(path)
    return path
