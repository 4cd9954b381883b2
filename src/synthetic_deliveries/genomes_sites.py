"""Variant sites of one simulated window: msprime haplotypes, reference sequence and alleles.

msprime gives realistic allele-frequency spectra and linkage, but only allele indices on a
coordinate line. This module gives those indices a GRCh38 location and a reference sequence,
turns some sites into indels (several inside repeats, written the way callers sometimes write
them: right-shifted or with untrimmed context) and reads every REF allele from the sequence
that will be written to the FASTA, so REF always matches the reference by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import msprime
import numpy as np

from synthetic_deliveries.genomes_reference import (
    BASE_INDEX,
    BASES,
    CHRX_PARS,
    CONTIG_LENGTH,
    add_background_repeats,
    plant_repeat,
    random_copies,
    random_repeat_unit,
    random_sequence,
)

MAX_ALLELES = 4  # JC69 mutations on a discrete genome give at most the four bases
NO_ALLELE = -2  # second haplotype of a haploid call (XY on chrX outside the PARs)

INDEL_FRACTION = 0.065  # share of biallelic sites turned into indels
REPEAT_INDEL_SHARE = 0.55  # of those, the share placed in a planted repeat run
MIXED_MULTIALLELIC_SHARE = 0.4  # multi-allelic sites whose last allele becomes an indel
RECURRENT_FRACTION = 0.02  # sites given a recurrent second alternate allele
MAX_SPAN = 40  # no indel record (run, padding included) reaches this far past its site
MAX_PLAIN_INDEL = 8


@dataclass(frozen=True)
class Window:
    """A simulated stretch of GRCh38 (1-based, inclusive) with its population parameters.

    Ne and recombination are per window because chrX outside the PARs has three copies
    per four autosomal ones (Ne x 3/4) and PAR1 recombines far more often (obligate male
    crossover), which shows in the linkage the simulation produces.
    """

    contig: str
    start: int
    end: int
    population_size: float = 10_000.0
    recombination_rate: float = 1e-8
    mutation_rate: float = 1.25e-8

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def label(self) -> str:
        return f"{self.contig}:{self.start}-{self.end}"

    @property
    def haploid_in_xy(self) -> bool:
        """True on chrX outside both PARs, where XY samples carry a single copy."""
        if self.contig != "chrX":
            return False
        return not any(lo <= self.start and self.end <= hi for lo, hi in CHRX_PARS)

    def validate(self) -> None:
        """Reject windows the generator cannot simulate faithfully."""
        if self.contig not in CONTIG_LENGTH or self.contig in ("chrY", "chrM"):
            raise ValueError(f"window {self.label}: only chr1-chr22 and chrX are simulated")
        if not 1 <= self.start <= self.end <= CONTIG_LENGTH[self.contig]:
            raise ValueError(f"window {self.label} lies outside the GRCh38 contig")
        if self.length <= 2 * MAX_SPAN:
            raise ValueError(f"window {self.label} is too short to simulate")
        if self.contig == "chrX":
            for lo, hi in CHRX_PARS:
                inside = lo <= self.start and self.end <= hi
                outside = self.end < lo or self.start > hi
                if not (inside or outside):
                    raise ValueError(f"window {self.label} straddles a PAR boundary")


@dataclass(frozen=True)
class WindowSites:
    """Everything the VCF writers need about one window.

    `hap` holds allele indices (sites x samples x 2); the second slot is NO_ALLELE for XY
    samples where the window is haploid. `alleles[:, 0]` is REF; unused slots are b"".
    `missing` (sites x samples) is set only for a window of planted named positions
    (planted.py): its calls are then clean, and missing exactly there.
    """

    window: Window
    sequence: np.ndarray
    pos: np.ndarray
    alleles: np.ndarray
    n_alleles: np.ndarray
    hap: np.ndarray
    haploid: np.ndarray
    missing: np.ndarray | None = None


def _msprime_seed(seed_seq: np.random.SeedSequence) -> int:
    """msprime wants a seed in [1, 2**32 - 1]."""
    return int(seed_seq.generate_state(1, dtype=np.uint32)[0]) % (2**32 - 1) + 1


def simulate_haplotypes(
    window: Window, n_samples: int, seed_seq: np.random.SeedSequence
) -> tuple[np.ndarray, np.ndarray]:
    """Coalescent genotypes for diploid individuals: (0-based offsets, sites x samples x 2)."""
    ancestry_seed, mutation_seed = seed_seq.spawn(2)
    ts = msprime.sim_ancestry(
        samples=n_samples,
        ploidy=2,
        population_size=window.population_size,
        recombination_rate=window.recombination_rate,
        sequence_length=window.length,
        random_seed=_msprime_seed(ancestry_seed),
    )
    mts = msprime.sim_mutations(
        ts,
        rate=window.mutation_rate,
        discrete_genome=True,
        random_seed=_msprime_seed(mutation_seed),
    )
    offsets = mts.tables.sites.position.astype(np.int64)
    genotypes = mts.genotype_matrix().astype(np.int8)
    return offsets, genotypes.reshape(len(offsets), n_samples, 2)


def add_recurrent_alleles(hap: np.ndarray, rng: np.random.Generator) -> None:
    """Give a few biallelic sites a second alternate allele carried by part of the carriers.

    At realistic mutation rates a small cohort has almost no multi-allelic sites, while a
    national cohort has many; recurrent alleles make every delivery exercise multi-allelic
    handling (splitting, per-allele counts).
    """
    n_alleles = hap.max(axis=(1, 2)) + 1
    carriers = (hap == 1).sum(axis=(1, 2))
    eligible = np.flatnonzero((n_alleles == 2) & (carriers >= 4))
    count = min(len(eligible), max(1, round(RECURRENT_FRACTION * len(hap))))
    for site in np.sort(rng.choice(eligible, size=count, replace=False)):
        slots = np.argwhere(hap[site] == 1)
        share = rng.uniform(0.2, 0.6)
        moved = min(len(slots) - 1, max(1, round(share * len(slots))))
        picked = slots[rng.permutation(len(slots))[:moved]]
        hap[site, picked[:, 0], picked[:, 1]] = 2


def _snv_permutations() -> tuple[np.ndarray, np.ndarray]:
    """For each REF base, the orders of the three other bases and their probabilities.

    The transition partner (A<->G, C<->T) comes first two times in three, giving a
    transition/transversion ratio near the human ~2.
    """
    partner = {0: 2, 1: 3, 2: 0, 3: 1}
    table = np.zeros((4, 6, 3), dtype=np.int8)
    for ref in range(4):
        others = [b for b in range(4) if b != ref]
        orders = sorted(permutations(others), key=lambda order: order[0] != partner[ref])
        table[ref] = orders
    weights = np.array([1 / 3, 1 / 3] + [1 / 12] * 4)
    return table, np.cumsum(weights)


SNV_ORDERS, SNV_CUMULATIVE = _snv_permutations()


def snv_alleles(
    sequence: np.ndarray, offsets: np.ndarray, n_alleles: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """REF from the sequence and distinct ALT bases for every site, vectorised."""
    ref = BASE_INDEX[sequence[offsets]]
    order = np.minimum(np.searchsorted(SNV_CUMULATIVE, rng.random(len(offsets))), 5)
    codes = np.concatenate([ref[:, None], SNV_ORDERS[ref, order]], axis=1)
    alleles = BASES[codes].view("S1").reshape(len(offsets), MAX_ALLELES)
    alleles = alleles.astype(f"S{2 * MAX_SPAN}")
    alleles[np.arange(MAX_ALLELES)[None, :] >= n_alleles[:, None]] = b""
    return alleles


def _repeat_indel(
    seq: bytes, site: int, run_end: int, unit: bytes, rng: np.random.Generator
) -> tuple[int, bytes, bytes]:
    """A whole-unit indel in the run after `site`, left-aligned or shifted to the run's end.

    Callers differ in where they place an indel inside a repeat and whether they trim
    shared context; writing both forms gives `bcftools norm` real realignment work.
    """
    copies = (run_end - site) // len(unit)
    size = len(unit) * (2 if copies >= 5 and rng.random() < 0.3 else 1)
    style = rng.choice(3, p=(0.35, 0.45, 0.20))  # left-aligned, right-shifted, untrimmed
    pad = int(rng.integers(1, 4)) if style == 2 else 0
    if rng.random() < 0.6:  # deletion
        anchor = site if style == 0 else run_end - size
        ref = seq[anchor : anchor + size + 1 + pad]
        alt = seq[anchor : anchor + 1] + seq[anchor + size + 1 : anchor + size + 1 + pad]
    else:  # insertion of whole units
        anchor = site if style == 0 else run_end
        ref = seq[anchor : anchor + 1 + pad]
        alt = (
            seq[anchor : anchor + 1]
            + unit * (size // len(unit))
            + seq[anchor + 1 : anchor + 1 + pad]
        )
    return anchor, ref, alt


def _plain_indel(
    seq: bytes, site: int, rng: np.random.Generator, *, pad: int = 0
) -> tuple[bytes, bytes]:
    """A deletion or an insertion of random bases anchored at `site` (REF, ALT)."""
    size = int(rng.integers(1, MAX_PLAIN_INDEL + 1))
    if rng.random() < 0.55:
        ref = seq[site : site + size + 1 + pad]
        return ref, seq[site : site + 1] + seq[site + size + 1 : site + size + 1 + pad]
    inserted = BASES[rng.integers(0, 4, size=size)].tobytes()
    return seq[site : site + 1 + pad], seq[site : site + 1] + inserted + seq[
        site + 1 : site + 1 + pad
    ]


def _mixed_alleles(
    seq: bytes, site: int, snvs: list[bytes], rng: np.random.Generator
) -> list[bytes]:
    """REF plus SNV alleles plus one indel at one record, all padded to a shared REF span."""
    ref, indel_alt = _plain_indel(seq, site, rng)
    return [ref, *(base + ref[1:] for base in snvs), indel_alt]


def _plant_indel_runs(
    sequence: np.ndarray, sites: np.ndarray, rng: np.random.Generator
) -> dict[int, tuple[int, bytes]]:
    """Write a repeat run right after each site; return site -> (last run offset, unit).

    The anchor base is made to differ from the unit's last base so that the left-aligned
    form written for some of these indels really is the normalised one.
    """
    runs: dict[int, tuple[int, bytes]] = {}
    for site in sites.tolist():
        unit = random_repeat_unit(rng)
        run_length = plant_repeat(sequence, site + 1, unit, random_copies(unit, rng))
        if sequence[site] == unit[-1]:
            sequence[site] = BASES[(BASE_INDEX[unit[-1]] + 1) % 4]
        runs[site] = (site + run_length, unit)
    return runs


def _choose(rng: np.random.Generator, candidates: np.ndarray, count: int) -> np.ndarray:
    """An exact number of distinct candidates, so every delivery gets its share of each kind."""
    count = min(count, len(candidates))
    return np.sort(rng.choice(candidates, size=count, replace=False))


def design_window(
    window: Window,
    offsets: np.ndarray,
    hap: np.ndarray,
    haploid: np.ndarray,
    rng: np.random.Generator,
) -> WindowSites:
    """Build the window's reference sequence and every site's alleles (indels included)."""
    n_alleles = (hap.max(axis=(1, 2)) + 1).astype(np.int64)
    gap_after = np.diff(offsets, append=window.length + MAX_SPAN)
    roomy = (offsets >= 1) & (gap_after > MAX_SPAN) & (offsets + MAX_SPAN < window.length)
    mixed = _choose(
        rng,
        np.flatnonzero(roomy & (n_alleles >= 3)),
        int(np.ceil(MIXED_MULTIALLELIC_SHARE * np.sum(n_alleles >= 3))),
    )
    indels = _choose(
        rng, np.flatnonzero(roomy & (n_alleles == 2)), max(1, round(INDEL_FRACTION * len(offsets)))
    )
    in_repeat = rng.random(len(indels)) < REPEAT_INDEL_SHARE

    sequence = random_sequence(window.length, rng)
    add_background_repeats(sequence, rng)
    runs = _plant_indel_runs(sequence, offsets[indels[in_repeat]], rng)

    alleles = snv_alleles(sequence, offsets, n_alleles, rng)
    anchors = offsets.copy()
    seq = sequence.tobytes()
    for site in indels.tolist():
        offset = int(offsets[site])
        if offset in runs:
            run_end, unit = runs[offset]
            anchors[site], ref, alt = _repeat_indel(seq, offset, run_end, unit, rng)
        else:
            ref, alt = _plain_indel(seq, offset, rng, pad=int(rng.random() < 0.25))
        alleles[site, :2] = (ref, alt)
    for site in mixed.tolist():
        k = int(n_alleles[site])
        snvs = alleles[site, 1 : k - 1].tolist()
        alleles[site, :k] = _mixed_alleles(seq, int(offsets[site]), snvs, rng)
    width = int(np.strings.str_len(alleles).max(initial=1))
    return WindowSites(
        window=window,
        sequence=sequence,
        pos=anchors + window.start,
        alleles=alleles.astype(f"S{width}"),
        n_alleles=n_alleles,
        hap=hap,
        haploid=haploid,
    )


def build_window(window: Window, xy: np.ndarray, seed_seq: np.random.SeedSequence) -> WindowSites:
    """Simulate one window for all samples; XY samples are haploid where the window is."""
    sim_seed, design_seed = seed_seq.spawn(2)
    offsets, hap = simulate_haplotypes(window, len(xy), sim_seed)
    haploid = xy & window.haploid_in_xy
    hap[:, haploid, 1] = NO_ALLELE
    rng = np.random.default_rng(design_seed)
    add_recurrent_alleles(hap, rng)
    polymorphic = hap.max(axis=(1, 2)) > 0
    return design_window(window, offsets[polymorphic], hap[polymorphic], haploid, rng)
