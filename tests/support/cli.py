"""Read a Typer command's ``--help`` as a user sees it: its text, the commands and the
arguments it lists, so that help tests assert what a command's own help says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

_BOX = re.compile(r"[│╭╮╰╯─]")


def show_help(app: typer.Typer, *path: str) -> str:
    """The output of ``PROG *path --help``; fails unless it exits 0."""
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="medfollow")
    assert result.exit_code == 0, (path, result.output, result.exception)
    return result.output


def flat(output: str) -> str:
    """The help on one line, without panel borders: wrapped sentences read whole again."""
    return " ".join(_BOX.sub(" ", output).split())


def listed_commands(output: str) -> list[str]:
    """The command names in the help's Commands panel (or click's plain "Commands:" list)."""
    names: list[str] = []
    inside = False
    for line in output.splitlines():
        if re.match(r"\s*(╭─ )?Commands\b", line):
            inside = True
            continue
        if inside:
            row = re.match(r"^(?:│ |  )(\S+)\s", line)
            if row:
                names.append(row.group(1))
            elif not line.strip() or line.startswith("╰"):
                break
    return names


def usage_words(output: str) -> set[str]:
    """The words of the Usage line (argument names, lower case)."""
    usage = next(line for line in output.splitlines() if "Usage:" in line)
    return {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_-]*", usage)}


def names(output: str, item: str) -> bool:
    """Whether the help names ``item``: an option (``--x``) anywhere in it, a subcommand in
    its Commands list, or an argument in its Usage line."""
    if item.startswith("-"):
        return re.search(rf"(?<![\w-]){re.escape(item)}(?![\w-])", flat(output)) is not None
    return item in listed_commands(output) or item.lower() in usage_words(output)


def walk(app: typer.Typer) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``app`` (as Typer builds them: click commands from the
    click Typer vendors, hence ``Any``), with the words that invoke it."""

    def below(command: Any, path: tuple[str, ...]) -> Iterator:
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield (*path, name), sub
            yield from below(sub, (*path, name))

    yield from below(typer.main.get_command(app), ())


def own_parameters(command: Any) -> list[str]:
    """The options (longest spelling) and arguments a command declares, ``--help`` aside."""
    found = []
    for param in command.params:
        if param.name == "help":
            continue
        if param.param_type_name == "option":
            found.append(max(param.opts, key=len))
        else:
            found.append(param.name or "")
    return found
