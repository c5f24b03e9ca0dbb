"""``ast.parse`` made safe to call from several threads at once.

CPython 3.11 up to 3.11.7 keeps the AST constructor's recursion counter in per-interpreter
state (gh-106905). When a thread switch lands in the middle of one ``ast.parse`` and another
thread parses meanwhile (our own parsers, or the traceback module drawing its ``^^^`` markers),
the first parse fails with ``SystemError: AST constructor recursion depth mismatch`` although
its input was fine. Our own parses are serialised by a lock; a parse raced by code we do not
control is retried, since the error says nothing about the input.
"""

from __future__ import annotations

import ast
import threading
from typing import Literal

_LOCK = threading.Lock()
_ATTEMPTS = 5
_RACE = "AST constructor recursion depth mismatch"


def parse(source: str, mode: Literal["exec", "eval"] = "exec") -> ast.AST:
    """``ast.parse(source, mode=mode)``, immune to the cross-thread recursion-counter race.

    Raises what ``ast.parse`` raises for the input itself (``SyntaxError``, ``ValueError``,
    ``RecursionError``, ``MemoryError``).
    """
    for attempt in range(_ATTEMPTS):
        try:
            with _LOCK:
                return ast.parse(source, mode=mode)
        except SystemError as exc:
            if _RACE not in str(exc) or attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def parse_expression(source: str) -> ast.Expression:
    """``source`` parsed in ``eval`` mode (see :func:`parse`)."""
    tree = parse(source, mode="eval")
    assert isinstance(tree, ast.Expression)
    return tree
