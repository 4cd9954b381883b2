"""`medfollow link` on data it has never seen: an English/US-style pair of people files,
linked with a spec of a few lines, scored against the known true matches."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from medfollow.cli.linkage import link_command
from medfollow_core.errors import MedfollowError
from support.people import PeopleFiles, make_people

SPEC = """\
left_id: PersonID
right_id: rec_id
fields:
  - {left: GivenName, right: fname, kind: name}
  - {left: Surname, right: lname, kind: name}
  - {left: BirthDate, right: dob, kind: date, left_format: "%m/%d/%Y", right_format: "%Y-%m-%d"}
  - {left: ZIP, right: zipcode, kind: postcode}
one_to_one: true
"""

runner = CliRunner()
cli = typer.Typer()
cli.command()(link_command)


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> PeopleFiles:
    return make_people(tmp_path_factory.mktemp("people"), persons=2000)


def f1(out: Path, truth: set[tuple[str, str]]) -> float:
    with out.open(encoding="utf-8") as fh:
        found = {(r["left_id"], r["right_id"]) for r in csv.DictReader(fh)}
    tp = len(found & truth)
    precision, recall = tp / len(found), tp / len(truth)
    return 2 * precision * recall / (precision + recall)


def test_links_unseen_data_with_a_short_spec(people: PeopleFiles, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    out, model = tmp_path / "pairs.csv", tmp_path / "model.json"
    result = runner.invoke(
        cli,
        [
            str(people.left),
            str(people.right),
            "--spec",
            str(spec),
            "--out",
            str(out),
            "--model",
            str(model),
        ],
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == ["left_id", "right_id", "match_probability"]
    assert f1(out, people.truth) >= 0.95
    assert json.loads(model.read_text(encoding="utf-8"))["link_type"] == "link_only"


def test_without_blocking_or_formats_it_still_links(people: PeopleFiles, tmp_path: Path) -> None:
    """Default blocking and date layouts; many-to-many output."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.replace(', left_format: "%m/%d/%Y", right_format: "%Y-%m-%d"', "").replace(
            "one_to_one: true", "threshold: 0.95"
        ),
        encoding="utf-8",
    )
    out = tmp_path / "pairs.csv"
    result = runner.invoke(
        cli, [str(people.left), str(people.right), "--spec", str(spec), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f1(out, people.truth) >= 0.9


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SPEC.replace("kind: postcode", "kind: zipcode"), "kind must be one of"),
        (SPEC.replace("right: lname", "right: surname_missing"), "no column 'surname_missing'"),
        (SPEC.replace("left_id: PersonID", "left_id: Name"), "no column 'Name'"),
        (SPEC.replace("right_id: rec_id", "right_id: town"), "must be unique"),
        (SPEC + "blocking: [[nickname]]\n", "no field called 'nickname'"),
        ("fields: [oops\n", "not valid YAML"),
    ],
)
def test_bad_spec_fails_with_one_line(
    people: PeopleFiles, tmp_path: Path, spec: str, message: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(spec, encoding="utf-8")
    result = runner.invoke(
        cli,
        [
            str(people.left),
            str(people.right),
            "--spec",
            str(path),
            "--out",
            str(tmp_path / "pairs.csv"),
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, MedfollowError), result.output
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)


def test_unsupported_file_type(people: PeopleFiles, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    bad = tmp_path / "people.xlsx"
    bad.write_bytes(b"")
    result = runner.invoke(
        cli, [str(bad), str(people.right), "--spec", str(spec), "--out", str(tmp_path / "o.csv")]
    )
    assert isinstance(result.exception, MedfollowError)
    assert "expected a .csv or .parquet file" in str(result.exception)
