"""Render the source contracts as Markdown (docs/contracts.md), so the documentation of
what each delivery must contain is generated from the same objects the loader uses."""

from __future__ import annotations

from medfollow_core.landing.contracts import Column, SourceContract, all_contracts


def _table_section(contract: SourceContract) -> list[str]:
    lines: list[str] = []
    for table in contract.tables:
        keys = ", ".join(table.keys) or "—"
        numbered = "; rows numbered: `_row_number`" if table.numbered else ""
        lines += [
            f"#### `{contract.raw_table(table)}` ← `{table.file}` (keys: {keys}{numbered})",
            "",
            "| column | type | lands as | required | allowed / range | description |",
            "|---|---|---|---|---|---|",
        ]
        for col in table.columns:
            rules = ", ".join(col.allowed) or _range(col)
            if col.aliases:
                rules += f" (also delivered as {', '.join(col.aliases)})"
            lines.append(
                f"| `{col.name}` | {col.type} | `{col.target}` | "
                f"{'yes' if col.required else ''} | {rules} | "
                f"{col.description}{' (identifying)' if col.identifying else ''} |"
            )
        lines.append("")
    return lines


def _range(col: Column) -> str:
    """The range the row checks apply: numbers between min and max, dates up to the cut-off."""
    upper = "cut-off" if col.type in ("date", "timestamp") else col.max
    if col.min is not None and upper is not None:
        return f"{col.min} – {upper}"
    if col.min is not None:
        return f"≥ {col.min}"
    return f"≤ {upper}" if upper is not None else ""


def render_markdown() -> str:
    lines = [
        "# Source contracts",
        "",
        "Generated from `src/medfollow_core/landing/contracts/*.yaml` by "
        "`medfollow sources --markdown`; do not edit by hand.",
        "",
        "Every `cpr` column is validated and replaced by its HMAC pseudonym before loading. "
        "Dates are accepted as `DD-MM-YYYY` or ISO; decimals with a comma. Every raw table "
        "also has `_delivery_id` and `_loaded_at` (kept once per delivery, not per row); a "
        "table without a key whose rows are told apart downstream is numbered: it also "
        "has `_row_number`, the row in the delivered file.",
        "",
    ]
    for contract in all_contracts().values():
        lines += [
            f"## {contract.title} — `{contract.source}`",
            "",
            f"Family `{contract.family}` · {contract.mode} · usually {contract.format}"
            + (" · checked against the CPR register" if contract.references_cpr_register else ""),
            "",
        ]
        if contract.description:
            lines += [contract.description, ""]
        lines += _table_section(contract)
    return "\n".join(lines).rstrip() + "\n"
