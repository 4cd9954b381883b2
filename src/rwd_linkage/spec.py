"""The linkage spec of the general ``link`` command: a few lines of YAML describe a job.

    left_id: person_id
    right_id: id
    fields:
      - {left: first_name, right: given, kind: name}
      - {left: last_name, right: family, kind: name}
      - {left: dob, right: birth_date, kind: date, format: "%m/%d/%Y"}
      - {left: zip, right: postcode, kind: postcode}
    blocking: [[last_name, dob], "l.zip = r.zip and l.dob__y = r.dob__y"]   # optional
    one_to_one: true                                                        # optional
    threshold: 0.9                                                          # optional

A field is referred to by its ``name`` (default: its left column). Blocking entries are lists
of field names that must agree, or SQL over ``l.``/``r.`` and the prepared columns. Every
mistake in a spec is reported as one line naming the entry at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from medfollow_core.errors import MedfollowError

Kind = Literal["name", "date", "postcode", "string", "exact"]
KINDS: tuple[str, ...] = ("name", "date", "postcode", "string", "exact")
BLOCKABLE: tuple[str, ...] = ("name", "date", "postcode", "exact")
DEFAULT_THRESHOLD = 0.9
_KNOWN_KEYS = {"left_id", "right_id", "fields", "blocking", "one_to_one", "threshold"}
_FIELD_KEYS = {"name", "left", "right", "kind", "format", "left_format", "right_format"}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    left: str
    right: str
    kind: Kind
    left_format: str | None = None
    right_format: str | None = None


@dataclass(frozen=True)
class LinkSpec:
    left_id: str
    right_id: str
    fields: tuple[FieldSpec, ...]
    blocking: tuple[tuple[str, ...] | str, ...]
    one_to_one: bool
    threshold: float

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


def load_spec(path: Path) -> LinkSpec:
    """Read and check a spec file; any problem is a one-line MedfollowError."""
    where = path.name
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MedfollowError(f"spec {path} does not exist") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MedfollowError(f"spec {where} is not valid YAML: {first}") from None
    return parse_spec(doc, where)


def parse_spec(doc: Any, where: str = "spec") -> LinkSpec:
    if not isinstance(doc, dict):
        raise MedfollowError(f"{where}: expected a mapping with left_id, right_id and fields")
    unknown = sorted(set(map(str, doc)) - _KNOWN_KEYS)
    if unknown:
        raise MedfollowError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KNOWN_KEYS))})"
        )
    left_id, right_id = _text(doc, "left_id", where), _text(doc, "right_id", where)
    raw_fields = doc.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise MedfollowError(f"{where}: 'fields' must be a non-empty list")
    fields = tuple(_field(entry, i, where) for i, entry in enumerate(raw_fields))
    names = [f.name for f in fields]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise MedfollowError(f"{where}: two fields are called {duplicate!r}; give one a 'name'")
    if not any(f.kind in BLOCKABLE for f in fields):
        raise MedfollowError(
            f"{where}: at least one field must be of kind "
            f"{', '.join(BLOCKABLE)} to find candidate pairs"
        )
    blocking = _blocking(doc.get("blocking"), set(names), where)
    one_to_one = doc.get("one_to_one", False)
    if not isinstance(one_to_one, bool):
        raise MedfollowError(f"{where}: one_to_one must be true or false")
    threshold = doc.get("threshold", DEFAULT_THRESHOLD)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < threshold <= 1
    ):
        raise MedfollowError(f"{where}: threshold must be a number in (0, 1], got {threshold!r}")
    return LinkSpec(left_id, right_id, fields, blocking, one_to_one, float(threshold))


def _text(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise MedfollowError(f"{where}: '{key}' must name a column")
    return str(value)


def _field(entry: Any, i: int, where: str) -> FieldSpec:
    at = f"{where}: fields[{i}]"
    if not isinstance(entry, dict):
        raise MedfollowError(f"{at} must be a mapping like {{left: COL, right: COL, kind: name}}")
    unknown = sorted(set(map(str, entry)) - _FIELD_KEYS)
    if unknown:
        raise MedfollowError(f"{at}: unknown key {unknown[0]!r}")
    left, right = _text(entry, "left", at), _text(entry, "right", at)
    kind = entry.get("kind")
    if kind not in KINDS:
        raise MedfollowError(f"{at}: kind must be one of {', '.join(KINDS)} (got {kind!r})")
    name = str(entry.get("name") or re.sub(r"[^a-z0-9_]+", "_", left.lower()).strip("_"))
    if not _NAME.fullmatch(name) or "__" in name:
        raise MedfollowError(
            f"{at}: name {name!r} must be lower-case letters, digits and "
            "single underscores, starting with a letter"
        )
    formats = {k: entry.get(k) for k in ("format", "left_format", "right_format")}
    for key, value in formats.items():
        if value is not None and (kind != "date" or not isinstance(value, str) or "%" not in value):
            raise MedfollowError(
                f"{at}: {key} is a strftime pattern such as '%d-%m-%Y', and only for kind date"
            )
    return FieldSpec(
        name=name,
        left=left,
        right=right,
        kind=cast(Kind, kind),
        left_format=formats["left_format"] or formats["format"],
        right_format=formats["right_format"] or formats["format"],
    )


def _blocking(raw: Any, names: set[str], where: str) -> tuple[tuple[str, ...] | str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise MedfollowError(f"{where}: 'blocking' must be a non-empty list of rules")
    rules: list[tuple[str, ...] | str] = []
    for i, rule in enumerate(raw):
        at = f"{where}: blocking[{i}]"
        if isinstance(rule, str) and ("l." in rule or "r." in rule):
            rules.append(rule)
            continue
        parts = [rule] if isinstance(rule, str) else rule
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
            raise MedfollowError(
                f"{at} must be a field name, a list of field names or SQL using l. and r."
            )
        missing = [p for p in parts if p not in names]
        if missing:
            raise MedfollowError(
                f"{at}: no field called {missing[0]!r} (fields: {', '.join(sorted(names))})"
            )
        rules.append(tuple(parts))
    return tuple(rules)
