"""Build small deliveries for tests, with CPR numbers computed at run time (the repository
holds no CPR numbers, not even synthetic ones)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from medfollow_core.cpr import mod11_ok, seventh_digit_options
from medfollow_core.landing.contracts import contract_for
from medfollow_core.landing.manifest import write_manifest


def make_cpr(birth: date, serial: int, *, mod11: bool = True) -> str:
    """A CPR number for ``birth``; ``serial`` picks the sequence number (0-999 range).

    With ``mod11`` the last digit is chosen so the modulus-11 check passes when possible;
    without it, so that it fails (as for numbers issued since 2007).
    """
    yy = birth.year % 100
    stem = f"{birth:%d%m}{yy:02d}{_century_digit(birth.year, serial)}{serial % 100:02d}"
    for last in range(10):
        candidate = stem + str(last)
        if mod11_ok(candidate) == mod11:
            return candidate
    return make_cpr(birth, serial + 1, mod11=mod11)


def _century_digit(year: int, serial: int) -> int:
    """A seventh digit that, with YY, encodes ``year`` (``serial % 4`` where it can)."""
    options = seventh_digit_options(np.array([year]))[0]
    if not options.any():
        raise ValueError(f"no CPR century digit for {year}")
    return serial % 4 if options[serial % 4] else int(np.flatnonzero(options)[0])


def write_delivery(
    root: Path,
    source: str,
    tables: dict[str, list[dict[str, object]]],
    *,
    delivery_id: str | None = None,
    cutoff: date = date(2026, 9, 30),
    encoding: str = "utf-8",
) -> Path:
    """Write a CSV delivery of ``source`` with a correct manifest; returns its folder."""
    contract = contract_for(source)
    delivery_id = delivery_id or f"{source}-{cutoff:%Y%m}"
    folder = root / source / delivery_id
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for table in contract.tables:
        rows = tables.get(table.name, [])
        header = [c.name for c in table.columns]
        lines = [";".join(header)]
        lines += [";".join("" if r.get(c) is None else str(r.get(c)) for c in header) for r in rows]
        (folder / table.file).write_bytes(("\n".join(lines) + "\n").encode(encoding))
        files.append((table.file, table.name, len(rows)))
    write_manifest(folder, source=source, delivery_id=delivery_id, cutoff_date=cutoff, files=files)
    return folder


def contacts_with_diagnoses(root: Path, delivery_id: str, n: int) -> Path:
    """An LPR3 delivery of `n` contacts K0... with two diagnoses each (types A and B)."""
    contacts = [
        {"dw_ek_kontakt": f"K{i}", "cpr": make_cpr(date(1970, 1, 1), i), "dato_start": "01-01-2024"}
        for i in range(n)
    ]
    diagnoses = [
        {"dw_ek_kontakt": f"K{i // 2}", "diagnosekode": "DC833", "diagnosetype": "AB"[i % 2]}
        for i in range(2 * n)
    ]
    return write_delivery(
        root, "lpr3", {"kontakter": contacts, "diagnoser": diagnoses}, delivery_id=delivery_id
    )
