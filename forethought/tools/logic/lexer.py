r"""Tokens of first-order formulas in FOLIO's Unicode notation and the usual ASCII spellings.

=========  ==========================================================
kind       spellings
=========  ==========================================================
forall     ``∀`` ``forall`` ``all``
exists     ``∃`` ``exists``
not        ``¬`` ``~`` ``!`` ``-`` ``not``
and        ``∧`` ``&`` ``&&`` ``/\`` ``and``
or         ``∨`` ``|`` ``||`` ``\/`` ``or``
xor        ``⊕`` ``⊻`` ``xor``
implies    ``→`` ``->`` ``=>`` ``⇒`` ``implies``
iff        ``↔`` ``⟷`` ``<->`` ``<=>`` ``⇔`` ``iff``
eq / neq   ``=``  /  ``≠`` ``!=``
true       ``⊤`` ``true``;  false: ``⊥`` ``false``
=========  ==========================================================

A name is a run of letters, digits and ``_`` (any script: ``IgaŚwiątek``), which may also
contain an apostrophe (``Companies’Stocks``), a hyphen between two word characters
(``Five-Story``) or a point between two digits (``y42.3billion``). Keywords are lower case and
whole names only, so ``All(x)`` or ``Notable(x)`` are ordinary predicates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from forethought.exceptions import UserError

_SYMBOLS: list[tuple[str, str]] = [
    # longest spellings first, so "<->" is not read as "<" then "->"
    ("<->", "iff"), ("<=>", "iff"), ("->", "implies"), ("=>", "implies"), ("!=", "neq"),
    ("&&", "and"), ("||", "or"), ("/\\", "and"), ("\\/", "or"),
    ("∀", "forall"), ("∃", "exists"), ("¬", "not"), ("~", "not"), ("!", "not"), ("-", "not"),
    ("∧", "and"), ("&", "and"), ("∨", "or"), ("|", "or"), ("⊕", "xor"), ("⊻", "xor"),
    ("→", "implies"), ("⇒", "implies"), ("↔", "iff"), ("⟷", "iff"), ("⇔", "iff"),
    ("=", "eq"), ("≠", "neq"), ("⊤", "true"), ("⊥", "false"),
    ("(", "lparen"), (")", "rparen"), (",", "comma"), (".", "dot"), (":", "colon"),
]
KEYWORDS: dict[str, str] = {
    "forall": "forall", "all": "forall", "exists": "exists", "not": "not", "and": "and",
    "or": "or", "xor": "xor", "implies": "implies", "iff": "iff", "true": "true",
    "false": "false",
}
_NAME = re.compile(r"\w+(?:(?:['’]+|(?<=\w)-(?=\w)|(?<=\d)\.(?=\d))\w*)*")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, kw_only=True)
class Token:
    kind: str
    """``name``, ``end`` or one of the operator and punctuation kinds above."""
    text: str
    start: int
    """Offset of the first character in the source."""


def locate(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``source``."""
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def syntax_error(source: str, offset: int, message: str, *, label: str = "") -> UserError:
    """An error whose message names the line and column and shows them with a caret."""
    line, column = locate(source, offset)
    text = source.splitlines()[line - 1] if source.strip() else ""
    where = f"{label}: " if label else ""
    return UserError(f"{where}{message} at line {line}, column {column}:\n"
                     f"    {text}\n    {' ' * (column - 1)}^")


def tokenize(source: str, *, label: str = "") -> list[Token]:
    """The tokens of ``source`` followed by an ``end`` token.

    Raises:
        UserError: on a character that belongs to no token, or unbalanced parentheses (the
            message points at the parenthesis that has no partner).
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        space = _SPACE.match(source, pos)
        if space:
            pos = space.end()
            continue
        name = _NAME.match(source, pos)
        if name:
            text = name.group()
            tokens.append(Token(kind=KEYWORDS.get(text, "name"), text=text, start=pos))
            pos = name.end()
            continue
        for spelling, kind in _SYMBOLS:
            if source.startswith(spelling, pos):
                tokens.append(Token(kind=kind, text=spelling, start=pos))
                pos += len(spelling)
                break
        else:
            raise syntax_error(source, pos, f"unexpected character {source[pos]!r}",
                               label=label)
    _check_parentheses(source, tokens, label)
    tokens.append(Token(kind="end", text="", start=len(source)))
    return tokens


def _check_parentheses(source: str, tokens: list[Token], label: str) -> None:
    opened: list[Token] = []
    for tok in tokens:
        if tok.kind == "lparen":
            opened.append(tok)
        elif tok.kind == "rparen":
            if not opened:
                raise syntax_error(source, tok.start, "unbalanced parentheses: this ')' closes "
                                   "nothing (remove it or add a '(' before it)", label=label)
            opened.pop()
    if opened:
        raise syntax_error(source, opened[-1].start, f"unbalanced parentheses: this '(' is "
                           f"never closed ({len(opened)} ')' missing)", label=label)
