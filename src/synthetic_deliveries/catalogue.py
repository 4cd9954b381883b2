"""The ATMP product and indication lists, read from the dbt seeds.

The products are data, not code: adding a product to `atmp_products.csv` and its
indications to `atmp_indications.csv` is enough for the generator to treat patients with
it. Clinical behaviour is keyed by the indication's response scale and the product's
therapy class, never by a product code.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from medfollow_core.config import SEEDS_DIR


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    inn: str
    atc: str
    therapy_class: str  # "car_t" or "gene_therapy"
    target: str
    administered_abroad: bool


@dataclass(frozen=True)
class Indication:
    product: Product
    group: str
    label: str
    diagnosis_code: str
    response_scale: str  # lugano, mrd, imwg, factor_ix, motor, visual
    min_age: int
    max_age: int


def load_indications(seeds_dir: Path = SEEDS_DIR) -> list[Indication]:
    """Every (product, indication) pair in seed order."""
    with (seeds_dir / "atmp_products.csv").open(encoding="utf-8", newline="") as fh:
        products = {
            row["product_code"]: Product(
                code=row["product_code"],
                name=row["product_name"],
                inn=row["inn"],
                atc=row["atc_code"],
                therapy_class=row["therapy_class"],
                target=row["target"],
                administered_abroad=row["administered_abroad"].strip().lower() == "true",
            )
            for row in csv.DictReader(fh)
        }
    with (seeds_dir / "atmp_indications.csv").open(encoding="utf-8", newline="") as fh:
        return [
            Indication(
                product=products[row["product_code"]],
                group=row["indication_group"],
                label=row["indication_label"],
                diagnosis_code=row["diagnosis_codes"].split("|")[0].strip(),
                response_scale=row["response_scale"],
                min_age=int(row["min_age"]),
                max_age=int(row["max_age"]),
            )
            for row in csv.DictReader(fh)
        ]
