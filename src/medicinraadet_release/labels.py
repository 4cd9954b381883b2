"""Danish wording for Medicinrådet: sheet names, column labels and the definitions sheet.

The tables keep their English column names in CSV (stable, machine-readable); people read
the workbook and the report, so those speak Danish.
"""

from __future__ import annotations

SHEETS: dict[str, str] = {
    "medicinraadet_followup_summary": "Opfølgning",
    "medicinraadet_followup_km": "Overlevelseskurver",
    "medicinraadet_followup_cif": "Kumulativ incidens",
    "pgx_actionable_exposures": "Farmakogenetik",
}

COLUMNS: dict[str, str] = {
    "product_code": "Produktkode",
    "product_name": "Produkt",
    "indication_group": "Indikationsgruppe",
    "indication_label": "Indikation",
    "period": "Periode (behandlingsår)",
    "cutoff_date": "Skæringsdato",
    "patients_treated": "Behandlede patienter",
    "deaths": "Døde",
    "response_followed": "Fulgt gennem responsvinduet",
    "response_evaluable": "Evaluerbare for respons",
    "responders": "Respons",
    "complete_responders": "Komplet respons",
    "toxicity_evaluable": "Evaluerbare for CRS/ICANS",
    "crs_grade3plus": "CRS grad ≥ 3",
    "icans_grade3plus": "ICANS grad ≥ 3",
    "icu_30d_evaluable": "Evaluerbare for intensiv (30 dage)",
    "icu_30d": "Intensiv inden for 30 dage",
    "response_rate_treated": "Andel med respons af alle behandlede",
    "response_rate": "Andel med respons af evaluerbare",
    "complete_response_rate_treated": "Andel med komplet respons af alle behandlede",
    "complete_response_rate": "Andel med komplet respons af evaluerbare",
    "crs_grade3plus_rate": "Andel med CRS grad ≥ 3",
    "icans_grade3plus_rate": "Andel med ICANS grad ≥ 3",
    "icu_30d_rate": "Andel på intensiv inden for 30 dage",
    "os_1y": "Overlevelse 1 år",
    "os_1y_ci_lower": "Overlevelse 1 år, nedre 95 %-KI",
    "os_1y_ci_upper": "Overlevelse 1 år, øvre 95 %-KI",
    "os_2y": "Overlevelse 2 år",
    "os_2y_ci_lower": "Overlevelse 2 år, nedre 95 %-KI",
    "os_2y_ci_upper": "Overlevelse 2 år, øvre 95 %-KI",
    "time_days": "Dage efter behandling",
    "n_at_risk": "Antal i risiko",
    "survival": "Overlevelse (Kaplan-Meier)",
    "ci_lower": "Nedre 95 %-KI",
    "ci_upper": "Øvre 95 %-KI",
    "event_type": "Hændelse",
    "cumulative_incidence": "Kumulativ incidens (Aalen-Johansen)",
    "atc_code": "ATC-kode",
    "drug": "Lægemiddel",
    "gene": "Gen",
    "phenotype": "Fænotype (CPIC)",
    "recommendation_class": "CPIC-anbefaling",
    "persons": "Personer (tælles i året for første eksponering)",
    "exposures": "Eksponeringer (udleveringer og indgifter)",
}


def column_label(name: str) -> str:
    """The Danish label of a column; an unlabelled column keeps its own name."""
    return COLUMNS.get(name, name)


def sheet_name(table: str) -> str:
    """Excel sheet names are at most 31 characters."""
    return SHEETS.get(table, table.removeprefix("medicinraadet_followup_"))[:31]


def definitions(threshold: int) -> list[tuple[str, str]]:
    """(term, definition) rows of the workbook's definitions sheet and the report."""
    small = f"<{threshold}"
    return [
        ("Skæringsdato", "Sidste dag med data. Hændelser efter skæringsdatoen indgår ikke."),
        ("Periode", "Behandlingsår (dato for første indgift). 'total' er alle år tilsammen."),
        (
            "Behandlede patienter",
            "Behandlinger med produktet på indikationen: indgifter "
            "registreret i Sygehusmedicinregisteret; flere indgifter under 30 dage fra hinanden er "
            "én behandling.",
        ),
        (
            "Indikation",
            "Bestemt ud fra diagnoser i Landspatientregisteret (LPR3) før behandlingen.",
        ),
        ("Døde", "Dødsfald under opfølgningen (CPR-registeret og Dødsårsagsregisteret)."),
        (
            "Overlevelse",
            "Samlet overlevelse efter Kaplan-Meier fra behandlingsdatoen. Patienter "
            "censureres ved udvandring, forsvinden og skæringsdatoen. 95 %-konfidensinterval med "
            "log(-log)-transformation og Greenwoods varians.",
        ),
        (
            "Respons",
            "Bedste respons på indikationens skala: Lugano (CR/PR), IMWG (sCR, CR, VGPR, "
            "PR) eller MRD-negativ remission (ALL). Andelen vises med to nævnere: alle behandlede "
            "fulgt gennem responsvinduet (120 dage, eller døde inden; død før første vurdering "
            "tæller som ingen respons) og de af dem med mindst én responsvurdering. Patienter "
            "fulgt kortere end vinduet indgår hverken i tæller eller nævner.",
        ),
        (
            "CRS / ICANS",
            "Cytokinfrigivelsessyndrom og neurotoksicitet, værste grad efter ASTCT "
            "(Lee et al. 2019); grad 3-4 er svær.",
        ),
        (
            "Intensiv inden for 30 dage",
            "Intensiv terapi (SKS NABE) i LPR3 eller indberettet af "
            "behandlingsstedet på dag 0-30 efter behandlingen. Andelen er af patienter fulgt i 30 "
            "dage (eller døde eller indlagt på intensiv inden da).",
        ),
        (small, f"Mellem 1 og {threshold - 1} patienter (diskretionering: små tal vises ikke)."),
        (
            f"≤{threshold - 1}",
            f"Mellem 0 og {threshold - 1} patienter. Bruges i stedet for {small} eller 0, hvor "
            "de ellers ville afsløre hinanden (fx flere små år under en lille total).",
        ),
        (
            "x",
            f"Skjult for at beskytte et lille antal (sekundær diskretionering). Værdien er "
            f"mindst {threshold}. De skjulte celler er valgt, så intet antal på 1-{threshold - 1} "
            "kan regnes ud af det offentliggjorte: hverken fra totalen, som forskel mellem to tal "
            "(fx behandlede minus døde eller responsevaluerbare minus respons), ud fra "
            "overlevelsen eller ved at sammenligne med den forrige udlevering.",
        ),
        (
            "Tom celle",
            f"Andele vises kun, når tæller og nævner begge vises. Overlevelse efter 1 og 2 år "
            f"vises kun, når antallet af døde og antallet af øvrige patienter på tidspunktet "
            f"hver er 0 eller mindst {threshold}, og mindst {threshold} stadig følges; for alle "
            "år tilsammen desuden kun, når overlevelseskurven går gennem samme værdi. "
            "Overlevelse kan også være udeladt for at beskytte et lille antal andetsteds. "
            "En tom celle siger ikke, hvilken af grundene der gælder.",
        ),
        (
            "Kun total",
            "Når tallene for de enkelte behandlingsår ikke kan vises uden at afsløre hinanden, "
            "vises kun totalen for produktet og indikationen.",
        ),
        (
            "Overlevelseskurve",
            f"Kurven falder kun i trin med mindst {threshold} dødsfald; mindre fald lægges "
            f"sammen med det næste. Kurven vises, så længe mindst {threshold} følges. Antal i "
            f"risiko vises kun, hvor det har ændret sig med 0 eller mindst {threshold} siden det "
            "sidst viste tal; ellers er feltet tomt.",
        ),
        (
            "Kumulativ incidens",
            f"Andel med hændelsen (fx tilbagefald/progression, ikke-tilbagefaldsrelateret død, "
            f"svær infektion) efter Aalen-Johansen, med død uden hændelsen som konkurrerende "
            f"risiko. Kurven stiger kun i trin med mindst {threshold} hændelser, og mindst "
            f"{threshold} er i risiko efter hvert trin; mindre stigninger lægges sammen med den "
            f"næste. Kurven vises, så længe mindst {threshold} er i risiko. Antal i risiko "
            "vises ikke. 95 %-konfidensinterval med log(-log)-transformation og delta-metodens "
            "varians.",
        ),
        (
            "Kontrol før udlevering",
            "Hver udlevering kontrolleres automatisk, samlet og sammen med den forrige "
            "udlevering, og godkendes derefter af en anden person end den, der dannede den "
            "(se manifest.json).",
        ),
        (
            "Behandlet i udlandet",
            "Patienter behandlet på nordiske centre indgår kun, når de er "
            "koblet til CPR-registeret ved record linkage; ellers mangler de i tabellerne.",
        ),
    ]
