"""The Game of 24 in the simulator: proposing steps, rolling out, valuing states, judging.

Requests carry ``metadata["domain"] == "game24"``; the numbers come from the prompt text, as a
model would read them (the last ``Input: ...`` line, then the ``... (left: ...)`` steps after
it). The simulator solves every state exactly by brute force (rational arithmetic), so it
knows which moves keep 24 reachable (*good* moves). A proposed move is a deliberate good one
with probability ``accuracy(1 - g)``, where ``g`` is the share of good moves among all moves
from the state (a state with few good moves is a hard one), and otherwise a move drawn at random
among the plausible ones (fractional results are drawn less often). A few proposal lines carry
an arithmetic slip, as real models' do, for the task's exact parser to reject. Values
(``sure``/``likely``/``impossible``) are exact for one or two numbers and err with the judge's
rates for more. A rollout (chain of thought) plays moves the same way to the end and always
claims ``= 24``, right or not.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import combinations
from typing import TYPE_CHECKING

from forethought.models.messages import ModelRequest
from forethought.models.simulated.answers import vote_reply
from forethought.models.simulated.arithmetic import evaluate, parse_expression

if TYPE_CHECKING:
    from forethought.models.simulated.policy import Policy

TARGET = Fraction(24)
LINES = 8
"""Proposal lines per reply (Tree of Thoughts' propose prompt shows eight)."""
SLIP_RATE = 0.04
"""Chance that a proposal line has a wrong result."""
FRACTION_WEIGHT = 0.3
"""Relative chance of drawing a move with a fractional result at random."""

_INPUT = re.compile(r"^\s*Input\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_STEP = re.compile(r"^\s*(\S+)\s*([-+*/])\s*(\S+)\s*=\s*(\S+)\s*\(left:", re.MULTILINE)
_NUMBER = re.compile(r"-?\d+(?:/\d+|\.\d+)?")


def is_game24(request: ModelRequest) -> bool:
    return request.metadata.get("domain") == "game24"


def fmt(value: Fraction) -> str:
    """``13`` or ``8/3``."""
    return str(value.numerator) if value.denominator == 1 else \
        f"{value.numerator}/{value.denominator}"


def parse_numbers(text: str) -> tuple[Fraction, ...]:
    return tuple(Fraction(t) for t in _NUMBER.findall(text))


@dataclass(frozen=True, slots=True)
class Move:
    """``a op b = result``, leaving ``left``."""

    a: Fraction
    op: str
    b: Fraction
    result: Fraction
    left: tuple[Fraction, ...]

    def line(self, shown: Fraction | None = None) -> str:
        """The move in Tree of Thoughts' format (``shown`` instead of the result: a slip)."""
        result = self.result if shown is None else shown
        left = sorted([*_without(self.left, self.result), result])
        return (f"{fmt(self.a)} {self.op} {fmt(self.b)} = {fmt(result)} "
                f"(left: {' '.join(fmt(x) for x in left)})")


def _without(values: tuple[Fraction, ...], item: Fraction) -> list[Fraction]:
    out = list(values)
    out.remove(item)
    return out


def _results(a: Fraction, b: Fraction) -> list[tuple[Fraction, str, Fraction, Fraction]]:
    hi, lo = (a, b) if a >= b else (b, a)
    out = [(hi, "+", lo, hi + lo), (hi, "*", lo, hi * lo), (hi, "-", lo, hi - lo)]
    if lo != 0:
        out.append((hi, "/", lo, hi / lo))
    if hi != 0 and hi != lo:
        out.append((lo, "/", hi, lo / hi))
    return out


@lru_cache(maxsize=65536)
def moves(values: tuple[Fraction, ...]) -> tuple[Move, ...]:
    """Every distinct move from ``values`` (sorted): two numbers combined with ``+ - * /``
    (differences taken non-negative).
    """
    out: dict[tuple[Fraction, str, Fraction], Move] = {}
    for i, j in combinations(range(len(values)), 2):
        rest = [v for k, v in enumerate(values) if k not in (i, j)]
        for a, op, b, result in _results(values[i], values[j]):
            if (a, op, b) not in out:
                out[(a, op, b)] = Move(a, op, b, result, tuple(sorted([*rest, result])))
    return tuple(out.values())


@lru_cache(maxsize=65536)
def solvable(values: tuple[Fraction, ...]) -> bool:
    """Whether ``values`` (sorted) can make exactly 24."""
    if len(values) == 1:
        return values[0] == TARGET
    return any(solvable(m.left) for m in moves(values))


def _pick(policy: Policy, values: tuple[Fraction, ...], rng: random.Random,
          exclude: set[Move]) -> Move | None:
    options = [m for m in moves(values) if m not in exclude]
    if not options:
        return None
    good = [m for m in options if solvable(m.left)]
    share = len([m for m in moves(values) if solvable(m.left)]) / len(moves(values))
    if good and rng.random() < policy.accuracy(1.0 - share):
        return rng.choice(good)
    weights = [1.0 if m.result.denominator == 1 else FRACTION_WEIGHT for m in options]
    return rng.choices(options, weights)[0]


def _current(text: str) -> tuple[tuple[Fraction, ...], list[str]]:
    """The numbers of the last ``Input:`` line and, replayed, the numbers and expressions
    after the steps written below it.
    """
    inputs = list(_INPUT.finditer(text))
    if not inputs:
        return (), []
    last = inputs[-1]
    items = [(v, fmt(v)) for v in parse_numbers(last.group(1))]
    for m in _STEP.finditer(text, last.end()):
        a, op, b = Fraction(m.group(1)), m.group(2), Fraction(m.group(3))
        ia = next((i for i, (v, _) in enumerate(items) if v == a), None)
        ib = next((i for i, (v, _) in enumerate(items) if v == b and i != ia), None)
        if ia is None or ib is None or (op == "/" and b == 0):
            break
        value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else a}[op]
        expr = f"({items[ia][1]} {op} {items[ib][1]})"
        items = [it for i, it in enumerate(items) if i not in (ia, ib)] + [(value, expr)]
    values = tuple(sorted(v for v, _ in items))
    return values, [e for _, e in sorted(items, key=lambda it: it[0])]


def _propose(policy: Policy, values: tuple[Fraction, ...], rng: random.Random) -> str:
    if len(values) < 2:
        return "No numbers are left to combine."
    chosen: set[Move] = set()
    lines: list[str] = []
    while len(lines) < LINES:
        move = _pick(policy, values, rng, chosen)
        if move is None:
            break
        chosen.add(move)
        if rng.random() < SLIP_RATE:
            slip = rng.choice((-1, 1))
            # An off-by-one that never turns a result negative: the format has no minus sign.
            lines.append(move.line(move.result + (1 if move.result + slip < 0 else slip)))
        else:
            lines.append(move.line())
    return "\n".join(lines)


def _rollout(policy: Policy, text: str, rng: random.Random) -> str:
    values, exprs = _current(text)
    if not values:
        return "Answer: I don't know."
    items: list[tuple[Fraction, str]] = list(zip(values, exprs, strict=True))
    lines: list[str] = []
    while len(items) > 1:
        current = tuple(sorted(v for v, _ in items))
        move = _pick(policy, current, rng, set())
        assert move is not None
        ia = next(i for i, (v, _) in enumerate(items) if v == move.a)
        ib = next(i for i, (v, _) in enumerate(items) if v == move.b and i != ia)
        expr = f"({items[ia][1]} {move.op} {items[ib][1]})"
        items = [it for i, it in enumerate(items) if i not in (ia, ib)] + [(move.result, expr)]
        lines.append(move.line())
    expr = items[0][1]
    if expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1]
    lines.append(f"Answer: {expr} = 24")
    return "\n".join(lines)


def _value(policy: Policy, values: tuple[Fraction, ...], rng: random.Random) -> str:
    from forethought.models.simulated.multistep import verdict

    if not values:
        return "I cannot read the numbers.\nlikely"
    if len(values) <= 2:
        word = "sure" if solvable(values) else "impossible"
    else:
        word = verdict(policy, solvable(values), 0.5, rng)
    shown = fmt(values[0]) if len(values) == 1 else moves(values)[0].line().split(" (")[0]
    return f"{shown}\n{word}"


def correct(puzzle: tuple[Fraction, ...], expression: str) -> bool:
    """Whether ``expression`` uses exactly the numbers of ``puzzle`` and makes 24."""
    expr = parse_expression(expression.split("=")[0].strip())
    if expr is None:
        return False
    try:
        value = evaluate(expr)
    except ZeroDivisionError:
        return False
    used = sorted(parse_numbers(expression.split("=")[0]))
    return value == TARGET and used == sorted(puzzle)


def _judge(policy: Policy, request: ModelRequest, text: str, rng: random.Random) -> str:
    candidate = request.metadata.get("candidate", "")
    inputs = _INPUT.findall(text)
    puzzle = parse_numbers(inputs[0]) if inputs else ()
    fpr, fnr = policy.judge_error_rates(0.5)
    right = bool(candidate) and correct(puzzle, candidate)
    accept = rng.random() >= fnr if right else rng.random() < fpr
    if request.purpose == "score":
        return f"Score: {min(1.0, max(0.0, rng.gauss(0.8 if accept else 0.2, 0.1))):.2f}"
    return "Yes\nThe expression reaches 24." if accept else "No\nThe expression is wrong."


def _can_reach_24(block: str) -> bool:
    values, _ = _current(block)
    return bool(values) and solvable(values)


def _vote(policy: Policy, text: str, rng: random.Random) -> str:
    fpr, _ = policy.judge_error_rates(0.5)
    return vote_reply(text, _can_reach_24, fpr, rng, "Choice {pick} can still reach 24.")


def reply(policy: Policy, request: ModelRequest, rng: random.Random) -> str:
    """The reply to a Game of 24 request, by purpose."""
    users = [m.content for m in request.messages if m.role == "user"]
    # A refinement's last turn is the feedback; the puzzle is in the first (it is solved
    # afresh: the simulator does not learn from a checker's "wrong").
    text = (users[0] if request.purpose == "refine" else users[-1]) if users else ""
    if request.purpose in ("judge", "score"):
        return _judge(policy, request, text, rng)
    if request.purpose == "vote":
        return _vote(policy, text, rng)
    values, _ = _current(text)
    if request.purpose == "step":
        from forethought.models.simulated.multistep import reward

        return reward(policy, bool(values) and solvable(values), 0.5, rng)
    if request.purpose == "propose":
        return _propose(policy, values, rng)
    if request.purpose == "value":
        return _value(policy, values, rng)
    return _rollout(policy, text, rng)
