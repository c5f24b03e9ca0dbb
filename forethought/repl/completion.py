"""Tab completion: slash commands, then each command's names (models, planners, strategies
and their options, tools, budget keys, recipe files, run ids, re-runnable nodes), and file
paths for ``/save`` and ``/load``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from forethought.repl.commands import ALIASES, COMMANDS
from forethought.repl.shell import Shell

_FILE_COMMANDS = ("save", "load")


def _words(text: str) -> tuple[list[str], str]:
    """The complete words of ``text`` and the word being typed ('' after a space)."""
    try:
        words = shlex.split(text)
    except ValueError:  # an open quote: complete the rest as plain words
        words = text.split()
    if text and not text[-1].isspace() and words:
        return words[:-1], words[-1]
    return words, ""


def candidates(shell: Shell, text: str) -> list[str]:
    """What may come next after ``text`` (the input up to the cursor), unfiltered."""
    if not text.startswith("/"):
        return []
    words, current = _words(text[1:])
    if not words:
        return [f"/{name}" for name in COMMANDS]
    command = COMMANDS.get(ALIASES.get(words[0], words[0]))
    if command is None:
        return []
    del current
    try:
        return command.names(shell, words[1:])
    except Exception:  # noqa: BLE001 - completion must never break typing
        return []


class ReplCompleter(Completer):
    """Completes what :func:`candidates` offers, by prefix."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent
                        ) -> Iterable[Completion]:
        text = document.text_before_cursor
        words, current = _words(text[1:]) if text.startswith("/") else ([], "")
        if words and words[0] in _FILE_COMMANDS and len(words) == 1:
            yield from self.paths.get_completions(Document(current), complete_event)
            return
        if text.startswith("/") and not words:
            current = "/" + current
        for option in candidates(self.shell, text):
            if option.startswith(current) and option != current:
                yield Completion(option, start_position=-len(current))
