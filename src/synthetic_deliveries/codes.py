"""Reference codes the synthetic registries use: drugs, laboratory analyses, SKS procedures.

Status of the codes (verify before anyone relies on them for real data):

* ATC codes of the chemotherapy, supportive and background drugs are the WHO codes as we
  know them; ATMP codes are *not* here, they come from the product seed.
* NPU codes: LDL cholesterol NPU01568 and neutrophils NPU02902 are believed correct;
  IgG NPU19814 and factor IX activity NPU01685 are plausible but unverified - treat them as
  synthetic.
* SKS procedure codes: NABE (intensive therapy) and NABB (intensive observation) identify
  ICU stays in LPR; BGDA0 (mechanical ventilation) and BWHA* (antineoplastic treatment) are
  plausible SKS codes; the imaging codes are plausible UX* codes. Verify against the SKS
  browser before using them in a real algorithm.
* Vare numbers (vnr) and indication codes (indo) in the prescription register are synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- hospital medicines (Sygehusmedicinregisteret) --------------------------------------


@dataclass(frozen=True)
class HospitalDrug:
    atc: str
    product: str
    dose: float
    unit: str


HOSPITAL_DRUGS: dict[str, HospitalDrug] = {
    d.atc: d
    for d in (
        HospitalDrug("L01FA01", "MabThera", 700, "mg"),
        HospitalDrug("L01AA01", "Sendoxan", 1400, "mg"),
        HospitalDrug("L01DB01", "Doxorubicin Accord", 90, "mg"),
        HospitalDrug("L01CA02", "Vincristin Hospira", 2, "mg"),
        HospitalDrug("L01BC05", "Gemcitabin Accord", 1800, "mg"),
        HospitalDrug("L01XA01", "Cisplatin Accord", 140, "mg"),
        HospitalDrug("L01FX14", "Polivy", 130, "mg"),
        HospitalDrug("L01AA09", "Levact", 160, "mg"),
        HospitalDrug("L01BA01", "Methotrexat Accord", 12, "mg"),
        HospitalDrug("L01XX24", "Oncaspar", 3750, "IE"),
        HospitalDrug("L01BC01", "Cytarabin Accord", 2000, "mg"),
        HospitalDrug("L01FX07", "Blincyto", 28, "mikrogram"),
        HospitalDrug("L01FC01", "Darzalex", 1800, "mg"),
        HospitalDrug("L01XG01", "Bortezomib Stada", 2.6, "mg"),
        HospitalDrug("L01XG02", "Kyprolis", 100, "mg"),
        HospitalDrug("L04AX06", "Imnovid", 4, "mg"),
        HospitalDrug("H02AB02", "Dexavit", 40, "mg"),
        HospitalDrug("L01BB05", "Fludara", 50, "mg"),
        HospitalDrug("L04AC07", "RoActemra", 560, "mg"),
        HospitalDrug("J06BA02", "Privigen", 30, "g"),
        HospitalDrug("B02BD04", "Octanine F", 3000, "IE"),
        HospitalDrug("H02AB06", "Prednisolon DAK", 60, "mg"),
        # background hospital treatment
        HospitalDrug("B03AC", "Monofer", 1000, "mg"),
        HospitalDrug("M05BA08", "Aclasta", 5, "mg"),
        HospitalDrug("L04AB02", "Remsima", 400, "mg"),
        HospitalDrug("L04AB04", "Hyrimoz", 40, "mg"),
        HospitalDrug("M05BX04", "Prolia", 60, "mg"),
        HospitalDrug("L01FF02", "Keytruda", 200, "mg"),
        HospitalDrug("L01FF01", "Opdivo", 480, "mg"),
        HospitalDrug("A04AA01", "Zofran", 8, "mg"),
        HospitalDrug("J01DC02", "Cefuroxim Fresenius Kabi", 1500, "mg"),
        HospitalDrug("J01CR05", "Tazocin", 4, "g"),
        HospitalDrug("J01DH02", "Meronem", 1, "g"),
        HospitalDrug("N02BE01", "Perfalgan", 1, "g"),
        HospitalDrug("L01FD01", "Herceptin", 600, "mg"),
        HospitalDrug("S01LA05", "Eylea", 2, "mg"),
    )
}

# (ATC, relative frequency) of background hospital administrations.
BACKGROUND_HOSPITAL_DRUGS: tuple[tuple[str, float], ...] = (
    ("S01LA05", 14),
    ("B03AC", 10),
    ("J01DC02", 10),
    ("J01CR05", 6),
    ("J01DH02", 2),
    ("N02BE01", 10),
    ("A04AA01", 6),
    ("M05BA08", 3),
    ("M05BX04", 4),
    ("L04AB02", 4),
    ("L04AB04", 2),
    ("L01FF02", 3),
    ("L01FF01", 2),
    ("L01FD01", 2),
)

# Regimens by response scale: prior lines (cycled), bridging/lymphodepletion, and therapy
# after progression. Each entry is a list of ATC codes given on the same day.
PRIOR_REGIMENS: dict[str, tuple[tuple[str, ...], ...]] = {
    "lugano": (
        ("L01FA01", "L01AA01", "L01DB01", "L01CA02"),  # R-CHOP
        ("L01FA01", "L01BC05", "L01XA01", "H02AB02"),  # R-GDP
        ("L01FX14", "L01AA09", "L01FA01"),  # Pola-BR
    ),
    "mrd": (
        ("L01CA02", "L01BA01", "L01XX24", "H02AB02"),  # induction
        ("L01BC01", "L01BA01"),  # consolidation
        ("L01FX07",),  # blinatumomab
    ),
    "imwg": (
        ("L01FC01", "L01XG01", "H02AB02"),
        ("L01XG02", "H02AB02"),
        ("L04AX06", "H02AB02"),
    ),
}
LYMPHODEPLETION: tuple[str, ...] = ("L01BB05", "L01AA01")
SUBSEQUENT_REGIMENS: dict[str, tuple[str, ...]] = {
    "lugano": ("L01FX14", "L01AA09", "L01FA01"),
    "mrd": ("L01FX07",),
    "imwg": ("L04AX06", "H02AB02"),
}
TOCILIZUMAB = "L04AC07"
DEXAMETHASONE = "H02AB02"
PREDNISOLONE = "H02AB06"
IVIG = "J06BA02"
FACTOR_IX_CONCENTRATE = "B02BD04"

# --- prescriptions (Lægemiddelstatistikregisteret) --------------------------------------


@dataclass(frozen=True)
class PrescriptionDrug:
    atc: str
    packsize: int
    ddd_per_pack: float
    min_age: int
    max_age: int
    sex: int  # 0 = both, 2 = women only
    weight: float  # relative frequency among background prescriptions
    indo: str | None


PRESCRIPTION_DRUGS: tuple[PrescriptionDrug, ...] = (
    PrescriptionDrug("C10AA05", 100, 200.0, 40, 110, 0, 8, "0000245"),
    PrescriptionDrug("C10AA01", 100, 133.3, 40, 110, 0, 4, "0000245"),
    PrescriptionDrug("A10BA02", 100, 25.0, 35, 110, 0, 5, "0000118"),
    PrescriptionDrug("C08CA01", 100, 100.0, 40, 110, 0, 6, "0000136"),
    PrescriptionDrug("C09CA01", 98, 98.0, 40, 110, 0, 5, "0000136"),
    PrescriptionDrug("C09AA05", 100, 200.0, 40, 110, 0, 3, "0000136"),
    PrescriptionDrug("A02BC02", 56, 56.0, 18, 110, 0, 6, "0000305"),
    PrescriptionDrug("N02BE01", 100, 16.7, 18, 110, 0, 6, "0000111"),
    PrescriptionDrug("M01AE01", 100, 33.3, 15, 90, 0, 4, "0000111"),
    PrescriptionDrug("J01CE02", 20, 8.0, 0, 110, 0, 8, "0000419"),
    PrescriptionDrug("J01CA04", 20, 6.7, 0, 110, 0, 4, "0000419"),
    PrescriptionDrug("N06AB06", 98, 98.0, 15, 110, 0, 4, "0000221"),
    PrescriptionDrug("H03AA01", 100, 66.7, 20, 110, 0, 3, "0000178"),
    PrescriptionDrug("R03AC02", 200, 25.0, 3, 110, 0, 3, "0000310"),
    PrescriptionDrug("R03AK07", 120, 30.0, 12, 110, 0, 2, "0000310"),
    PrescriptionDrug("B01AF02", 168, 84.0, 55, 110, 0, 3, "0000190"),
    PrescriptionDrug("C03CA01", 100, 100.0, 55, 110, 0, 2, "0000136"),
    PrescriptionDrug("N05CF01", 30, 30.0, 25, 110, 0, 2, None),
    PrescriptionDrug("G03AA07", 63, 63.0, 15, 50, 2, 5, "0000400"),
    PrescriptionDrug("R06AE07", 100, 100.0, 5, 90, 0, 3, None),
    # used by the treated cohort (antiviral / PJP prophylaxis after CAR-T)
    PrescriptionDrug("J05AB01", 70, 7.0, 0, 110, 0, 0, "0000420"),
    PrescriptionDrug("J05AB11", 42, 7.0, 0, 110, 0, 0, "0000420"),
    PrescriptionDrug("J01EE01", 30, 7.5, 0, 110, 0, 0, "0000420"),
)
STATINS = ("C10AA05", "C10AA01")
CAR_T_PROPHYLAXIS = ("J05AB01", "J01EE01")

# --- laboratory --------------------------------------------------------------------------


@dataclass(frozen=True)
class Analysis:
    npu: str
    name: str
    unit: str
    ref_low: float
    ref_high: float
    decimals: int
    floor: float  # values below are reported as text "<floor"


ANALYSES: dict[str, Analysis] = {
    "ldl": Analysis("NPU01568", "P-Kolesterol LDL, stofk.", "mmol/L", 0.0, 3.0, 1, 0.1),
    "neutrophils": Analysis("NPU02902", "B-Neutrocytter, antalk.", "10^9/L", 1.5, 7.5, 2, 0.1),
    "igg": Analysis("NPU19814", "P-Immunglobulin G, massek.", "g/L", 6.1, 14.9, 1, 1.0),
    "factor_ix": Analysis(
        "NPU01685", "P-Koagulationsfaktor IX, arb.stofk.(proc.)", "%", 70.0, 120.0, 0, 1.0
    ),
}

# --- SKS procedures ----------------------------------------------------------------------

ICU_THERAPY = "NABE"
ICU_OBSERVATION = "NABB"
VENTILATION = "BGDA0"
ANTINEOPLASTIC = "BWHA1"
BACKGROUND_PROCEDURES: tuple[tuple[str, float], ...] = (
    ("UXRC00", 5),
    ("UXUC85", 3),
    ("UXCC00", 2),
    ("ZZ0149", 4),
    ("BWAA31", 2),
    ("KNFB", 1),
)
