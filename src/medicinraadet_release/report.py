"""The release report: one self-contained HTML file for Medicinrådet, in Danish.

Everything it shows comes from the disclosure-controlled export tables, never from the
marts, so the report can reveal nothing the tables do not. Figures are drawn with
matplotlib's object API (no pyplot global state) and embedded as base64 PNG without
metadata, so the same tables give the same file.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from medicinraadet_release.labels import column_label, definitions
from medicinraadet_release.pgx import PGX
from medicinraadet_release.tables import ExportTable

SUMMARY = "medicinraadet_followup_summary"
CURVES = "medicinraadet_followup_km"
AT_RISK_EVERY_DAYS = 180
RESPONSE_SERIES = (("response_rate", "Respons"), ("complete_response_rate", "Komplet respons"))
TOXICITY_SERIES = (
    ("crs_grade3plus_rate", "CRS grad ≥ 3"),
    ("icans_grade3plus_rate", "ICANS grad ≥ 3"),
    ("icu_30d_rate", "Intensiv ≤ 30 dage"),
)
Group = tuple[str, str]  # (product_code, indication_group)
_SUMMARY_COLUMNS = (
    "period",
    "patients_treated",
    "deaths",
    "os_1y",
    "os_2y",
    "responders",
    "response_rate_treated",
    "response_rate",
    "complete_response_rate",
    "crs_grade3plus",
    "icans_grade3plus",
    "icu_30d",
)
_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 70em;
       color: #1b1b1b; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
.meta { color: #555; } img { max-width: 100%; } dt { font-weight: bold; margin-top: 0.5em; }
"""


def render_report(
    tables: Sequence[ExportTable],
    *,
    cutoff: date,
    threshold: int,
    code_version: str,
    dbt_invocation_id: str,
) -> str:
    by_name = {t.name: t for t in tables}
    summary = by_name[SUMMARY].records()
    curves = by_name[CURVES].records() if CURVES in by_name else []
    groups = sorted({(r["product_code"], r["indication_group"]) for r in summary})
    totals = {
        (r["product_code"], r["indication_group"]): r for r in summary if r["period"] == "total"
    }
    parts = [
        "<!DOCTYPE html>",
        '<html lang="da"><head><meta charset="utf-8">',
        "<title>Opfølgning på avancerede terapier (ATMP)</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Opfølgning på avancerede terapier (ATMP) til Medicinrådet</h1>",
        f'<p class="meta">Skæringsdato {cutoff:%d-%m-%Y} · kodeversion {escape(code_version)}'
        f" · dbt-kørsel {escape(dbt_invocation_id)}</p>",
        "<p>Tabellerne er aggregerede og diskretionerede: antal mellem 1 og "
        f"{threshold - 1} vises som &lt;{threshold} (eller ≤{threshold - 1}, 0 til {threshold - 1}), "
        "og tal der ellers kunne afsløre et lille "
        f"antal, vises som x (mindst {threshold}). Overlevelseskurverne falder kun i trin med "
        f"mindst {threshold} dødsfald og vises, så længe mindst {threshold} følges. "
        "Definitionerne sidst i rapporten forklarer tegn og tomme celler.</p>",
        "<h2>Oversigt</h2>",
        _overview_table(groups, totals),
        "<h2>Respons</h2>",
        _rate_section(
            groups,
            totals,
            "response_evaluable",
            RESPONSE_SERIES,
            "Andel af responsevaluerbare patienter",
            "Andel med respons og komplet respons pr. produkt og indikation",
        ),
        "<h2>Toksicitet</h2>",
        _rate_section(
            groups,
            totals,
            "toxicity_evaluable",
            TOXICITY_SERIES,
            "Andel af patienter med CRS/ICANS-vurdering",
            "Andel med svær CRS, svær ICANS og intensiv pr. produkt og indikation",
        ),
    ]
    for product, indication in groups:
        rows = [
            r
            for r in summary
            if (r["product_code"], r["indication_group"]) == (product, indication)
        ]
        total = totals.get((product, indication), rows[0])
        parts.append(
            f"<h2>{escape(str(total['product_name']))} · "
            f"{escape(str(total['indication_label']))} ({escape(indication)})</h2>"
        )
        points = [
            c for c in curves if (c["product_code"], c["indication_group"]) == (product, indication)
        ]
        if points:
            title = f"{total['product_name']}, {indication}"
            parts.append(_image(_km_figure(points, title), f"Overlevelseskurve, {title}"))
        else:
            parts.append(f"<p>Ingen overlevelseskurve: færre end {threshold} patienter følges.</p>")
        parts.append(_table(_SUMMARY_COLUMNS, rows))
    if PGX in by_name:
        parts.append(
            "<h2>Farmakogenetik</h2><p>Handlingsrelevante lægemiddeleksponeringer (CPIC-"
            "anbefaling forskellig fra standarddosering) pr. lægemiddel, gen, fænotype og år "
            f"findes i {PGX}.csv og på arket Farmakogenetik. En person tælles i året for sin "
            "første eksponering, så årene summerer til totalen; tallene er diskretioneret "
            "som tabellerne ovenfor.</p>"
        )
    parts.append("<h2>Definitioner</h2><dl>")
    parts.extend(
        f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in definitions(threshold)
    )
    parts.append("</dl></body></html>")
    return "\n".join(parts) + "\n"


def _rate_section(
    groups: Sequence[Group],
    totals: dict[Group, dict[str, Any]],
    evaluable: str,
    series: Sequence[tuple[str, str]],
    xlabel: str,
    alt: str,
) -> str:
    """A bar chart of rates over the groups the measure applies to (gene therapies have no
    response scale or CRS grading, so their empty bars would only mislead)."""
    assessed = [g for g in groups if g in totals and totals[g][evaluable] != "0"]
    return _image(_rate_chart(assessed, totals, series, xlabel), alt)


def _overview_table(groups: Iterable[Group], totals: dict[Group, dict[str, Any]]) -> str:
    columns = (
        "product_name",
        "indication_group",
        "patients_treated",
        "deaths",
        "os_1y",
        "os_1y_ci_lower",
        "os_1y_ci_upper",
        "os_2y",
        "response_rate_treated",
        "response_rate",
        "crs_grade3plus_rate",
        "icans_grade3plus_rate",
        "icu_30d_rate",
    )
    return _table(columns, [totals[g] for g in groups if g in totals])


def _table(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    head = "".join(f"<th>{escape(column_label(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_text(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.3f}".replace(".", ",")
    return str(value)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _km_figure(points: list[dict[str, Any]], title: str) -> Figure:
    """Survival with its confidence band as steps, and numbers at risk underneath."""
    points = sorted(points, key=lambda p: p["time_days"])
    days = [p["time_days"] for p in points]
    figure = Figure(figsize=(8, 4.6), dpi=100)
    plot = figure.add_axes((0.09, 0.32, 0.88, 0.6))
    plot.fill_between(
        days,
        [_number(p["ci_lower"]) for p in points],
        [_number(p["ci_upper"]) for p in points],
        step="post",
        alpha=0.25,
        color="#1f5f99",
        linewidth=0,
        label="95 %-konfidensinterval",
    )
    plot.step(
        days,
        [_number(p["survival"]) for p in points],
        where="post",
        color="#1f5f99",
        label="Samlet overlevelse",
    )
    plot.set_ylim(0, 1.02)
    plot.set_xlim(0, max(days[-1], 30))
    plot.set_ylabel("Overlevelse")
    plot.set_title(title)
    plot.grid(alpha=0.3)
    plot.legend(loc="lower left", fontsize=8)
    at_risk = {p["time_days"]: p["n_at_risk"] for p in points}
    ticks = [d for d in range(0, days[-1] + 1, AT_RISK_EVERY_DAYS) if d in at_risk]
    plot.set_xticks(ticks)
    plot.set_xticklabels([str(d) for d in ticks])
    table = figure.add_axes((0.09, 0.04, 0.88, 0.12), sharex=plot)
    table.axis("off")
    table.text(
        0,
        1.4,
        "Dage efter behandling / antal i risiko",
        fontsize=8,
        transform=table.get_yaxis_transform(),
    )
    for day in ticks:
        table.text(day, 0.5, _text(at_risk[day]), ha="center", va="center", fontsize=9)
    return figure


def _rate_chart(
    groups: Sequence[Group],
    totals: dict[Group, dict[str, Any]],
    series: Sequence[tuple[str, str]],
    xlabel: str,
) -> Figure:
    """Horizontal bars per product and indication; a hidden rate is marked "skjult"."""
    shown = list(groups)
    figure = Figure(figsize=(8, 0.45 * max(len(shown), 2) + 1.2), dpi=100)
    axes = figure.add_axes((0.3, 0.12, 0.66, 0.82))
    height = 0.8 / len(series)
    for k, (column, label) in enumerate(series):
        values = [_number(totals[g].get(column)) for g in shown]
        positions = [i + k * height for i in range(len(shown))]
        axes.barh(
            positions, [0 if math.isnan(v) else v for v in values], height=height, label=label
        )
        for position, value in zip(positions, values, strict=True):
            if math.isnan(value):
                axes.text(0.005, position, "skjult", va="center", fontsize=6, color="#777777")
    axes.set_yticks([i + height * (len(series) - 1) / 2 for i in range(len(shown))])
    axes.set_yticklabels([f"{totals[g]['product_name']} · {g[1]}" for g in shown], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel(xlabel)
    axes.legend(fontsize=8, loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    return figure


def _image(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<p><img alt="{escape(alt)}" src="data:image/png;base64,{encoded}"></p>'
