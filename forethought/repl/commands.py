"""The slash commands and their dispatch: a bad command prints what was wrong and its usage,
never a traceback.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from forethought.exceptions import ForethoughtError, UserError
from forethought.repl import cmd_runs, cmd_session, cmd_settings
from forethought.repl.args import CommandError, split
from forethought.repl.shell import Command, Shell


async def help_command(shell: Shell, words: list[str]) -> None:
    if len(words) > 1:
        raise CommandError("/help takes at most one command name")
    if words:
        command = find(words[0].lstrip("/"))
        shell.console.print(Text(command.usage, style="bold"))
        shell.console.print(Text(command.summary))
        if command.details:
            shell.console.print(Text(command.details, style="dim"))
        return
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    for command in COMMANDS.values():
        table.add_row(Text(command.usage), Text(command.summary))
    shell.console.print(table)
    shell.console.print(Text(
        "Anything else is a question; follow-up questions see the conversation. Enter sends; "
        "Esc Enter (Alt-Enter) or a line ending in \\ starts a new line, and pasted text keeps "
        "its lines; Tab completes; Ctrl-C cancels a run; Ctrl-D leaves.", style="dim"))


COMMANDS: dict[str, Command] = {c.name: c for c in [
    Command(name="help", args="[COMMAND]", summary="the commands, or one in detail",
            handler=help_command, names=lambda shell, words: [] if words else
            [c for c in COMMANDS if c != "help"]),
    *cmd_settings.COMMANDS, *cmd_runs.COMMANDS, *cmd_session.COMMANDS]}
ALIASES = {"quit": "exit", "q": "exit", "h": "help", "?": "help"}


def find(name: str) -> Command:
    command = COMMANDS.get(ALIASES.get(name, name))
    if command is None:
        raise CommandError(f"unknown command /{name}; the commands: "
                           f"{', '.join('/' + c for c in COMMANDS)} (/help says more)")
    return command


async def dispatch(shell: Shell, line: str) -> None:
    """Run the slash command ``line``; any error is printed with the command's usage."""
    command: Command | None = None
    try:
        words = split(line.strip()[1:])
        if not words:
            raise CommandError("a command name follows the slash (/help lists them)")
        command = find(words[0])
        await command.handler(shell, words[1:])
    except UserError as exc:  # a bad word or value: what was wrong, and the usage
        _error(shell, str(exc), command)
    except ForethoughtError as exc:
        _error(shell, str(exc), command, usage=False)
    except Exception as exc:  # noqa: BLE001 - a REPL reports and goes on; the prompt returns
        _error(shell, f"{type(exc).__name__}: {exc}", command, usage=False)


def _error(shell: Shell, message: str, command: Command | None, *, usage: bool = True
           ) -> None:
    shell.console.print(Text.assemble(("error: ", "bold red"), message))
    if command is not None and usage:
        shell.console.print(Text(f"usage: {command.usage}", style="dim"))
