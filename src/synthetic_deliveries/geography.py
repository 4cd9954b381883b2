"""Danish regions, municipalities and post codes used to place synthetic persons.

Municipality codes are the real 3-digit codes (98 municipalities since 2007); post codes
are a few real ones per municipality, enough for linkage on postcode to behave as it does
on real data. Weights are rounded populations in thousands so the spine's geography looks
like Denmark's (Copenhagen and Aarhus large, Læsø and Fanø tiny).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REGIONS: dict[int, str] = {
    1081: "Region Nordjylland",
    1082: "Region Midtjylland",
    1083: "Region Syddanmark",
    1084: "Region Hovedstaden",
    1085: "Region Sjælland",
}


@dataclass(frozen=True)
class Municipality:
    code: int
    name: str
    region: int
    postcodes: tuple[int, ...]
    population_k: float


def _m(code: int, name: str, region: int, postcodes: tuple[int, ...], pop: float) -> Municipality:
    return Municipality(code, name, region, postcodes, pop)


MUNICIPALITIES: tuple[Municipality, ...] = (
    _m(101, "København", 1084, (1150, 1620, 2100, 2200, 2300, 2400, 2450, 2500), 650),
    _m(147, "Frederiksberg", 1084, (1800, 2000), 105),
    _m(151, "Ballerup", 1084, (2750,), 49),
    _m(153, "Brøndby", 1084, (2605, 2660), 35),
    _m(155, "Dragør", 1084, (2791,), 14),
    _m(157, "Gentofte", 1084, (2820, 2900), 75),
    _m(159, "Gladsaxe", 1084, (2860, 2880), 70),
    _m(161, "Glostrup", 1084, (2600,), 23),
    _m(163, "Herlev", 1084, (2730,), 29),
    _m(165, "Albertslund", 1084, (2620,), 28),
    _m(167, "Hvidovre", 1084, (2650,), 54),
    _m(169, "Høje-Taastrup", 1084, (2630,), 51),
    _m(173, "Lyngby-Taarbæk", 1084, (2800,), 57),
    _m(175, "Rødovre", 1084, (2610,), 40),
    _m(183, "Ishøj", 1084, (2635,), 23),
    _m(185, "Tårnby", 1084, (2770,), 43),
    _m(187, "Vallensbæk", 1084, (2665,), 17),
    _m(190, "Furesø", 1084, (3500, 3520), 41),
    _m(201, "Allerød", 1084, (3450,), 26),
    _m(210, "Fredensborg", 1084, (3480, 2990), 41),
    _m(217, "Helsingør", 1084, (3000,), 63),
    _m(219, "Hillerød", 1084, (3400,), 52),
    _m(223, "Hørsholm", 1084, (2970,), 25),
    _m(230, "Rudersdal", 1084, (2840, 2950), 56),
    _m(240, "Egedal", 1084, (3650, 2765), 44),
    _m(250, "Frederikssund", 1084, (3600,), 46),
    _m(260, "Halsnæs", 1084, (3300, 3390), 31),
    _m(270, "Gribskov", 1084, (3200, 3230), 41),
    _m(400, "Bornholm", 1084, (3700, 3730), 39),
    _m(253, "Greve", 1085, (2670,), 50),
    _m(259, "Køge", 1085, (4600,), 62),
    _m(265, "Roskilde", 1085, (4000,), 90),
    _m(269, "Solrød", 1085, (2680,), 24),
    _m(306, "Odsherred", 1085, (4500, 4573), 33),
    _m(316, "Holbæk", 1085, (4300,), 72),
    _m(320, "Faxe", 1085, (4640,), 37),
    _m(326, "Kalundborg", 1085, (4400,), 48),
    _m(329, "Ringsted", 1085, (4100,), 35),
    _m(330, "Slagelse", 1085, (4200,), 80),
    _m(336, "Stevns", 1085, (4660,), 23),
    _m(340, "Sorø", 1085, (4180,), 30),
    _m(350, "Lejre", 1085, (4320,), 28),
    _m(360, "Lolland", 1085, (4930, 4900), 40),
    _m(370, "Næstved", 1085, (4700,), 83),
    _m(376, "Guldborgsund", 1085, (4800,), 60),
    _m(390, "Vordingborg", 1085, (4760,), 45),
    _m(410, "Middelfart", 1083, (5500,), 39),
    _m(420, "Assens", 1083, (5610,), 41),
    _m(430, "Faaborg-Midtfyn", 1083, (5600, 5750), 51),
    _m(440, "Kerteminde", 1083, (5300,), 24),
    _m(450, "Nyborg", 1083, (5800,), 32),
    _m(461, "Odense", 1083, (5000, 5200, 5210, 5220, 5230), 205),
    _m(479, "Svendborg", 1083, (5700,), 59),
    _m(480, "Nordfyns", 1083, (5400, 5471), 29),
    _m(482, "Langeland", 1083, (5900,), 12),
    _m(492, "Ærø", 1083, (5970,), 6),
    _m(510, "Haderslev", 1083, (6100,), 56),
    _m(530, "Billund", 1083, (7190,), 27),
    _m(540, "Sønderborg", 1083, (6400,), 74),
    _m(550, "Tønder", 1083, (6270,), 37),
    _m(561, "Esbjerg", 1083, (6700, 6705, 6710), 116),
    _m(563, "Fanø", 1083, (6720,), 3.5),
    _m(573, "Varde", 1083, (6800,), 50),
    _m(575, "Vejen", 1083, (6600,), 42),
    _m(580, "Aabenraa", 1083, (6200,), 59),
    _m(607, "Fredericia", 1083, (7000,), 51),
    _m(621, "Kolding", 1083, (6000,), 94),
    _m(630, "Vejle", 1083, (7100,), 117),
    _m(615, "Horsens", 1082, (8700,), 96),
    _m(657, "Herning", 1082, (7400,), 90),
    _m(661, "Holstebro", 1082, (7500,), 59),
    _m(665, "Lemvig", 1082, (7620,), 19),
    _m(671, "Struer", 1082, (7600,), 21),
    _m(706, "Syddjurs", 1082, (8400, 8410), 43),
    _m(707, "Norddjurs", 1082, (8500,), 38),
    _m(710, "Favrskov", 1082, (8450, 8370), 49),
    _m(727, "Odder", 1082, (8300,), 23),
    _m(730, "Randers", 1082, (8900, 8920, 8930), 98),
    _m(740, "Silkeborg", 1082, (8600,), 95),
    _m(741, "Samsø", 1082, (8305,), 3.7),
    _m(746, "Skanderborg", 1082, (8660,), 64),
    _m(751, "Aarhus", 1082, (8000, 8200, 8210, 8220, 8230, 8240, 8260, 8270), 360),
    _m(756, "Ikast-Brande", 1082, (7430, 7330), 41),
    _m(760, "Ringkøbing-Skjern", 1082, (6950, 6900), 56),
    _m(766, "Hedensted", 1082, (8722,), 47),
    _m(779, "Skive", 1082, (7800,), 46),
    _m(791, "Viborg", 1082, (8800,), 97),
    _m(773, "Morsø", 1081, (7900,), 20),
    _m(787, "Thisted", 1081, (7700,), 43),
    _m(810, "Brønderslev", 1081, (9700,), 36),
    _m(813, "Frederikshavn", 1081, (9900,), 59),
    _m(820, "Vesthimmerlands", 1081, (9600,), 36),
    _m(825, "Læsø", 1081, (9940,), 1.8),
    _m(840, "Rebild", 1081, (9520,), 30),
    _m(846, "Mariagerfjord", 1081, (9500,), 42),
    _m(849, "Jammerbugt", 1081, (9490, 9440), 38),
    _m(851, "Aalborg", 1081, (9000, 9200, 9210, 9220, 9400), 220),
    _m(860, "Hjørring", 1081, (9800,), 64),
)

MUNICIPALITY_CODES = np.array([m.code for m in MUNICIPALITIES], dtype=np.int16)
MUNICIPALITY_REGIONS = np.array([m.region for m in MUNICIPALITIES], dtype=np.int16)
MUNICIPALITY_WEIGHTS = np.array([m.population_k for m in MUNICIPALITIES]) / sum(
    m.population_k for m in MUNICIPALITIES
)

# Flattened (municipality index, postcode) pairs so a postcode can be drawn per person
# with one vectorised lookup.
_POST_OFFSETS = np.cumsum([0] + [len(m.postcodes) for m in MUNICIPALITIES])
_POSTCODES = np.array([p for m in MUNICIPALITIES for p in m.postcodes], dtype=np.int16)


def draw_residence(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(municipality index, region code, postcode) for `n` persons, population-weighted."""
    muni = rng.choice(len(MUNICIPALITIES), size=n, p=MUNICIPALITY_WEIGHTS).astype(np.int16)
    counts = np.diff(_POST_OFFSETS)[muni]
    pick = _POST_OFFSETS[muni] + np.floor(rng.random(n) * counts).astype(np.int64)
    return muni, MUNICIPALITY_REGIONS[muni], _POSTCODES[pick]


# Hospitals by region: the first is the university hospital that hosts specialised care.
HOSPITALS: dict[int, tuple[str, ...]] = {
    1081: ("Aalborg Universitetshospital", "Regionshospital Nordjylland"),
    1082: (
        "Aarhus Universitetshospital",
        "Regionshospitalet Gødstrup",
        "Regionshospitalet Randers",
    ),
    1083: ("Odense Universitetshospital", "Sygehus Lillebælt", "Sydvestjysk Sygehus"),
    1084: ("Rigshospitalet", "Herlev og Gentofte Hospital", "Bispebjerg og Frederiksberg Hospital"),
    1085: ("Sjællands Universitetshospital", "Holbæk Sygehus", "Næstved Sygehus"),
}
