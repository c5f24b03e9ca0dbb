"""Reading a slash command's words: shell-like quoting, ``key=value`` options whose values are
YAML scalars (``width=4`` is a number, ``aggregation=weighted`` a string, ``sleep=true`` a
boolean), and ``--flag VALUE`` pairs.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from forethought.exceptions import UserError

MAX_VALUE_CHARS = 10_000


class CommandError(UserError):
    """A command was given the wrong words; the REPL prints the message and the usage."""


def split(line: str) -> list[str]:
    """The words of ``line``, quoted as in a shell (``/save "my session.json"``)."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise CommandError(f"cannot read the command: {exc} (close the quote)") from None


def value(text: str) -> Any:
    """A YAML scalar or flow value: ``4``, ``0.5``, ``true``, ``weighted``, ``[1, 2]``."""
    if len(text) > MAX_VALUE_CHARS:
        raise CommandError(f"a value is at most {MAX_VALUE_CHARS:,} characters")
    try:
        parsed: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # not YAML: the text itself (a model name with a colon, say)
    return text if parsed is None and text.strip() not in ("null", "~") else parsed


def options(words: list[str]) -> dict[str, Any]:
    """``key=value`` words as a mapping; a word without ``=`` is named in the error."""
    out: dict[str, Any] = {}
    for word in words:
        key, eq, raw = word.partition("=")
        if not eq or not key:
            raise CommandError(f"expected key=value, got {word!r}")
        if key in out:
            raise CommandError(f"option {key!r} is given twice")
        out[key] = value(raw)
    return out


def take_flag(words: list[str], flag: str, *, has_value: bool = True
              ) -> tuple[str | bool | None, list[str]]:
    """``flag``'s value (or ``True`` for a flag without one; ``None`` if absent) and the
    other words.
    """
    if flag not in words:
        return None, words
    i = words.index(flag)
    if not has_value:
        return True, words[:i] + words[i + 1:]
    if i + 1 >= len(words) or words[i + 1].startswith("--"):
        raise CommandError(f"{flag} needs a value")
    return words[i + 1], words[:i] + words[i + 2:]


def path(word: str) -> Path:
    """A file named on the command line (``~`` expanded)."""
    return Path(word).expanduser()
