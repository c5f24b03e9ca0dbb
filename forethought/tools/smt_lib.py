"""SMT-LIB 2 scripts for the ``smt`` tool: commands, objectives and readable errors.

z3 parses declarations and assertions; the top-level commands are also scanned here, so that
``(minimize t)`` and ``(maximize t)`` become objectives, each assertion keeps its source text
(and ``:named`` name) for unsat cores, and z3's errors are shown with the offending line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from forethought.exceptions import UserError
from forethought.tools._z3 import Context, Expr, z3_module

_ERROR = re.compile(r"line (\d+) column (\d+): (.*?)\"?\)?\s*$", re.DOTALL)
_NAMED = re.compile(r":named\s+(\|[^|]*\||[^\s()]+)")
_SYMBOL = re.compile(r"unknown (?:constant|sort|function|symbol)\s+'?([^\s'()]+)'?")
_UNSUPPORTED = frozenset({"push", "pop", "reset", "reset-assertions", "check-sat-assuming",
                          "check-sat-using"})
_SORT_HINT = ("built-in sorts are Int, Real, Bool, String, (_ BitVec n) and (Array S T); "
              "declare others with (declare-sort Name 0) or (declare-datatypes ...)")


@dataclass(kw_only=True)
class Objective:
    sense: Literal["minimize", "maximize"]
    text: str
    term: Expr


@dataclass(kw_only=True)
class Command:
    """One top-level command: its head symbol, source text and offset."""

    head: str
    text: str
    start: int


@dataclass(kw_only=True)
class Script:
    items: list[tuple[str, str, Expr]] = field(
        default_factory=list[tuple[str, str, "Expr"]])
    """(key, text, formula) per assertion; key is the ``:named`` name or the number from 1."""
    objectives: list[Objective] = field(default_factory=list[Objective])
    labels: set[str] = field(default_factory=set[str])
    """``:named`` labels (z3 declares them as constants; they are not part of the model)."""


def _skip_atom(text: str, i: int) -> int:
    """Index just past a string literal, quoted symbol or comment starting at ``i``."""
    ch = text[i]
    if ch == ";":
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    close = '"' if ch == '"' else "|"
    j = i + 1
    while j < len(text):
        if text[j] == close:
            if close == '"' and text.startswith('""', j):  # "" escapes a quote
                j += 2
                continue
            return j + 1
        j += 1
    kind = "string" if close == '"' else "quoted symbol"
    raise _located(text, i, f"unterminated {kind}")


def commands(text: str) -> list[Command]:
    """The top-level commands of an SMT-LIB script.

    Raises:
        UserError: unbalanced parentheses or an unterminated string, with the line.
    """
    out: list[Command] = []
    depth, start, i = 0, -1, 0
    while i < len(text):
        ch = text[i]
        if ch in ';"|':
            i = _skip_atom(text, i)
            continue
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")":
            if depth == 0:
                raise _located(text, i, "unbalanced parentheses: this ')' closes nothing")
            depth -= 1
            if depth == 0:
                body = text[start:i + 1]
                head = re.match(r"\(\s*([^\s()]+)", body)
                out.append(Command(head=head.group(1) if head else "", text=body, start=start))
        elif depth == 0 and not ch.isspace():
            raise _located(text, i, f"unexpected {ch!r} outside a command; every SMT-LIB "
                           f"command is parenthesised, e.g. (assert ...)")
        i += 1
    if depth:
        raise _located(text, start, "unbalanced parentheses: this command's '(' is never "
                       "closed")
    return out


def _located(text: str, offset: int, message: str) -> UserError:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1)
    return _with_line(text, line, col, message)


def _with_line(text: str, line: int, col: int, message: str) -> UserError:
    lines = text.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1]
    col = max(0, min(col, len(source)))
    return UserError(f"SMT-LIB error at line {line}, column {col + 1}: {message}\n"
                     f"    {source}\n    {' ' * col}^")


def _z3_error(text: str, exc: Exception) -> UserError:
    raw = getattr(exc, "value", exc)
    message = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    m = _ERROR.search(message)
    if not m:
        return UserError(f"SMT-LIB error: {message.strip()}")
    line, col, detail = int(m.group(1)), int(m.group(2)), " ".join(m.group(3).split())
    lines = text.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1]
    symbol = _SYMBOL.search(detail)
    if symbol:  # z3's column is near the symbol; put the caret on it
        spots = [s.start() for s in re.finditer(re.escape(symbol.group(1)), source)]
        if spots:
            col = min(spots, key=lambda s: abs(s - col)) + 1
    if "unknown sort" in detail:
        detail += f" ({_SORT_HINT})"
    elif "unknown constant" in detail or "unknown function" in detail:
        detail += " (declare it first with declare-const or declare-fun, or check the spelling)"
    return _with_line(text, line, col - 1, detail)


def compile_smtlib(text: str, ctx: Context) -> Script:
    """Parse an SMT-LIB script into assertions and objectives in ``ctx``.

    Raises:
        UserError: a syntax error, unknown sort or unknown symbol, naming line and column.
    """
    z3 = z3_module()

    if not text.strip():
        raise UserError("the SMT-LIB script is empty")
    cmds = commands(text)
    for cmd in cmds:
        if cmd.head in _UNSUPPORTED:
            raise _located(text, cmd.start, f"({cmd.head} ...) is not supported: send one "
                           f"problem per call (declarations, assertions, optionally "
                           f"minimize/maximize); ask for an unsat core with unsat_core=true")
    base = list(text)
    goals: list[Command] = []
    for cmd in cmds:
        if cmd.head in ("minimize", "maximize"):
            goals.append(cmd)
            for k in range(cmd.start, cmd.start + len(cmd.text)):
                if base[k] != "\n":  # blank it out, keeping line and column numbers
                    base[k] = " "
    declarations = "".join(base)
    try:
        assertions = list(z3.parse_smt2_string(declarations, ctx=ctx))
    except z3.Z3Exception as exc:
        raise _z3_error(text, exc) from None
    asserts = [c for c in cmds if c.head == "assert"]
    script = Script()
    for i, formula in enumerate(assertions):
        source = asserts[i].text if len(asserts) == len(assertions) else formula.sexpr()
        named = _NAMED.search(source)
        key = named.group(1).strip("|") if named else str(i + 1)
        if named:
            script.labels.add(key)
        script.items.append((key, " ".join(source.split()), formula))
    for goal in goals:
        term_text = goal.text[goal.text.index(goal.head) + len(goal.head):-1].strip()
        probe = f"{declarations}\n(assert (= {term_text} {term_text}))"
        try:
            parsed = z3.parse_smt2_string(probe, ctx=ctx)
        except z3.Z3Exception as exc:
            detail = _z3_error(probe, exc).args[0].split("\n")[0].split(": ", 1)[-1]
            raise _located(text, goal.start, f"in ({goal.head} ...): {detail}") from None
        term = parsed[len(parsed) - 1].arg(0)
        if not z3.is_arith(term):
            raise _located(text, goal.start, f"({goal.head} ...) needs a numeric term, got "
                           f"one of sort {term.sort()}")
        sense: Literal["minimize", "maximize"] = (
            "minimize" if goal.head == "minimize" else "maximize")
        script.objectives.append(Objective(sense=sense, text=term_text, term=term))
    return script
