"""docs/repl.md lists every slash command with its usage exactly as /help prints it, and every
alias."""

from __future__ import annotations

from pathlib import Path

from forethought.repl.commands import ALIASES, COMMANDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "repl.md"


def test_the_page_lists_every_command_with_its_usage() -> None:
    # The table escapes | inside a cell.
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `/")]
    documented = [row.split("`")[1].replace("\\|", "|") for row in rows]
    usages = [command.usage.replace("\\|", "|") for command in COMMANDS.values()]
    assert documented == usages


def test_the_page_names_every_alias() -> None:
    text = DOC.read_text()
    for alias in ALIASES:
        assert f"`/{alias}`" in text, alias
