"""The general command's spec: defaults, names, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from medfollow_core.errors import MedfollowError
from rwd_linkage.general import blocking_rules, training_rules
from rwd_linkage.spec import DEFAULT_THRESHOLD, load_spec, parse_spec

BASE = {
    "left_id": "id",
    "right_id": "rid",
    "fields": [
        {"left": "First Name", "right": "fn", "kind": "name"},
        {"left": "last", "right": "ln", "kind": "name"},
        {"left": "dob", "right": "born", "kind": "date", "format": "%d/%m/%Y"},
        {"left": "city", "right": "town", "kind": "string"},
    ],
}


def test_defaults_and_field_names() -> None:
    spec = parse_spec(BASE)
    assert [f.name for f in spec.fields] == ["first_name", "last", "dob", "city"]
    assert spec.field("dob").left_format == spec.field("dob").right_format == "%d/%m/%Y"
    assert (spec.one_to_one, spec.threshold, spec.blocking) == (False, DEFAULT_THRESHOLD, ())


def test_default_blocking_pairs_fields_and_training_frees_every_field() -> None:
    spec = parse_spec(BASE)
    rules = blocking_rules(spec)
    assert ("first_name", "last") in rules and ("last", "dob") in rules
    assert "l.dob__swapped = r.dob" in rules
    assert all("city" not in r for r in rules if isinstance(r, tuple))
    chosen = training_rules(spec, rules)
    for name in ("first_name", "last", "dob", "city"):
        assert any(name not in rule for rule in chosen)


def test_explicit_blocking_is_kept() -> None:
    spec = parse_spec({**BASE, "blocking": [["last", "dob"], "l.city = r.city", "first_name"]})
    assert spec.blocking == (("last", "dob"), "l.city = r.city", ("first_name",))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"left_id": None}, "'left_id' must name a column"),
        ({"fields": []}, "'fields' must be a non-empty list"),
        ({"fields": [{"left": "a", "right": "b", "kind": "fuzzy"}]}, "kind must be one of"),
        (
            {"fields": [{"left": "a", "right": "b", "kind": "name", "format": "%Y"}]},
            "only for kind date",
        ),
        ({"fields": [{"left": "a", "right": "b", "kind": "string"}]}, "at least one field"),
        ({"blocking": [["nope"]]}, "no field called 'nope'"),
        ({"threshold": 1.5}, "threshold must be a number in (0, 1]"),
        ({"one_to_one": "yes"}, "one_to_one must be true or false"),
        ({"colour": "blue"}, "unknown key 'colour'"),
    ],
)
def test_bad_specs_fail_with_one_line(change: dict[str, object], message: str) -> None:
    with pytest.raises(MedfollowError) as err:
        parse_spec({**BASE, **change}, "spec.yaml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("left_id: [unclosed\n", encoding="utf-8")
    with pytest.raises(MedfollowError, match="not valid YAML") as err:
        load_spec(path)
    assert "\n" not in str(err.value)
    with pytest.raises(MedfollowError, match="does not exist"):
        load_spec(tmp_path / "missing.yaml")
