"""Slash commands about the session itself: ``/save``, ``/load``, ``/clear``, ``/exit``."""

from __future__ import annotations

import asyncio

from rich.text import Text

from forethought.repl.args import CommandError, path
from forethought.repl.shell import Command, Shell
from forethought.trace import fmt


def _one_file(words: list[str], command: str) -> str:
    if len(words) != 1:
        raise CommandError(f"/{command} takes one file name (quote it if it has spaces)")
    return words[0]


async def save_command(shell: Shell, words: list[str]) -> None:
    target = path(_one_file(words, "save"))
    data = await asyncio.to_thread(shell.session.save, target)
    turns = sum(1 for e in data.transcript if e.kind == "question")
    runs = len(data.runs)
    shell.console.print(Text(f"saved the session to {target}: settings, "
                             f"{len(data.messages)} messages, {turns} "
                             f"question{'s' * (turns != 1)}, {runs} run{'s' * (runs != 1)}"))


async def load_command(shell: Shell, words: list[str]) -> None:
    source = path(_one_file(words, "load"))
    data = await shell.session.load(source)
    shell.console.print(Text.assemble(
        ("loaded ", "bold"), f"{source} (saved {fmt.when(data.saved)}): "
        f"{len(data.messages)} messages, {len(data.runs)} runs; conversation "
        f"{shell.session.conversation.id}"))
    shell.show_transcript()


async def clear_command(shell: Shell, words: list[str]) -> None:
    if words:
        raise CommandError("/clear takes no arguments")
    shell.session.clear()
    shell.console.clear()
    shell.console.print(Text("new conversation (earlier turns are forgotten; the settings and "
                             "/usage stay)", style="dim"))


async def exit_command(shell: Shell, words: list[str]) -> None:
    if words:
        raise CommandError("/exit takes no arguments")
    shell.request_exit()


COMMANDS = [
    Command(name="save", args="FILE", summary="save the session (settings, conversation, "
            "transcript, runs) as JSON", handler=save_command),
    Command(name="load", args="FILE", summary="load a saved session and show its transcript",
            handler=load_command),
    Command(name="clear", args="", summary="start a new conversation and clear the screen",
            handler=clear_command),
    Command(name="exit", args="", summary="leave (Ctrl-D too)", handler=exit_command),
]
