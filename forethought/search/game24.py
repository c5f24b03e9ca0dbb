"""The Game of 24 as a search task, in Tree of Thoughts' format, with an exact verifier.

Yao et al., 2023, "Tree of Thoughts" (arXiv:2305.10601), section 4.1: four numbers must make
24 with ``+ - * /``; a thought is one step ``4 + 9 = 13 (left: 10 13 13)``; the proposer lists
several next steps in one reply; states are valued ``sure``/``likely``/``impossible`` from the
numbers left. Here every step a model writes is checked by code with exact rational
arithmetic (a wrong result, or a number that is not left, rejects the step, counted as
unparseable); the expression of every number is tracked, so a finished path yields its answer
without another call; and the final answer is verified by code (:func:`check_answer`, using
the exact evaluator of the ``calculator`` tool), never by a model.

The puzzles (``24.csv``, ranked by human solve time) come from the Tree of Thoughts repository;
the paper's test set is ranks 901-1000.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import pydantic

from forethought.exceptions import ModelRetry, UserError
from forethought.models.messages import ModelRequest
from forethought.search.machine import Action, Compute
from forethought.search.scorers import Scorer, Staged, ValueScorer, VerifierScorer
from forethought.search.task import Game24Options, Proposal, SearchTask, State
from forethought.tools.builtin import evaluate_expression

TARGET = Fraction(24)

PROPOSE_SYSTEM = """\
You play the Game of 24: combine the given numbers with + - * / to reach 24, two numbers at a
time. Given the numbers left, list up to {k} different possible next steps, one per line, each
in exactly this form, and nothing else:
a op b = c (left: the numbers remaining after the step, c included)

Input: 3 5 6 9
Possible next steps:
3 + 5 = 8 (left: 6 8 9)
9 - 3 = 6 (left: 5 6 6)
5 * 6 = 30 (left: 3 9 30)
6 / 3 = 2 (left: 2 5 9)
9 - 5 = 4 (left: 3 4 6)
3 * 9 = 27 (left: 5 6 27)
6 + 9 = 15 (left: 3 5 15)
9 / 3 = 3 (left: 3 5 6)"""

VALUE_SYSTEM = """\
Evaluate whether the given numbers can reach 24 with + - * /, using each number exactly once
(sure/likely/impossible). Try a few combinations, then write the verdict alone on the last line.

Input: 6 18
6 + 18 = 24
sure
Input: 7 15
7 + 15 = 22
15 - 7 = 8
7 * 15 = 105
15 / 7 = 2.14
impossible
Input: 2 5 7
(5 + 7) * 2 = 24
sure
Input: 4 6 13
4 + 6 + 13 = 23
(13 - 6) * 4 = 28
I cannot reach 24 yet, but the numbers are in a reasonable range
likely
Input: 1 1 2
1 + 1 + 2 = 4
(1 + 1) * 2 = 4
the numbers are all too small
impossible"""

ROLLOUT_SYSTEM = """\
You play the Game of 24: use each input number exactly once with + - * / to make 24. Each step
combines two of the numbers left into a new one. Continue from the steps already taken, if
any: write each remaining step as "a op b = c (left: ...)", then a last line
"Answer: <one expression using every input number once> = 24".

Input: 3 5 6 9
Steps:
5 * 6 = 30 (left: 3 9 30)
30 - 9 = 21 (left: 3 21)
21 + 3 = 24 (left: 24)
Answer: 5 * 6 - 9 + 3 = 24

Input: 1 2 4 7
Steps:
7 - 2 = 5 (left: 1 4 5)
5 + 1 = 6 (left: 4 6)
4 * 6 = 24 (left: 24)
Answer: 4 * (7 - 2 + 1) = 24"""

JUDGE_SYSTEM = """\
Decide whether the answer to a Game of 24 is correct: it must use each input number exactly
once and no other numbers, and equal 24. Reply "Yes" or "No" on the first line."""

REWARD_SYSTEM = """\
You check partial solutions of the Game of 24 (use each input number once with + - * / to make
24). Judge whether the steps so far are correct and 24 can still be reached from the numbers
left. Reply with one line "Score: <p>", p between 0 and 1."""

VOTE_SYSTEM = """\
Several partial solutions of the Game of 24 (use each input number once with + - * / to make
24) are given as numbered choices. Decide which one can most surely still reach 24, and
conclude with a last line "The best choice is <n>"."""

_NUMBER = r"-?\d+(?:\.\d+)?(?:/\d+)?"
_STEP = re.compile(rf"^\s*(?:[-*\d]+[.)]\s+)?({_NUMBER})\s*([-+*/×÷xX])\s*({_NUMBER})\s*=\s*"
                   rf"({_NUMBER})")
_OPS = {"×": "*", "x": "*", "X": "*", "÷": "/"}
_ANSWER = re.compile(r"^\s*answer\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_INTEGERS = re.compile(r"\d+(?:\.\d+)?")

Item = tuple[Fraction, str]
"""A number left and the expression that made it."""


def fmt(value: Fraction) -> str:
    """``13`` or ``8/3``."""
    return str(value.numerator) if value.denominator == 1 else \
        f"{value.numerator}/{value.denominator}"


def matches(written: str, value: Fraction) -> bool:
    """Whether ``written`` denotes ``value``: exactly (``13``, ``8/3``) or as a decimal rounded
    to its places (``2.67`` for 8/3).
    """
    try:
        number = Fraction(written)
    except (ValueError, ZeroDivisionError):
        return False
    if "." not in written:
        return number == value
    places = len(written.split(".", 1)[1])
    return abs(number - value) <= Fraction(1, 2 * 10**places)


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b


def apply_step(items: tuple[Item, ...], line: str) -> tuple[tuple[Item, ...], str] | str:
    """The numbers left after the step ``line`` and its canonical text, or why it is wrong."""
    m = _STEP.match(line)
    if m is None:
        return f"not a step of the form 'a op b = c (left: ...)': {line.strip()[:60]!r}"
    x, op, y, claimed = m.group(1), _OPS.get(m.group(2), m.group(2)), m.group(3), m.group(4)
    ia = next((i for i, (v, _) in enumerate(items) if matches(x, v)), None)
    ib = next((i for i, (v, _) in enumerate(items) if i != ia and matches(y, v)), None)
    if ia is None or ib is None:
        left = " ".join(fmt(v) for v, _ in items)
        return f"{line.strip()[:60]!r} uses a number that is not left (left: {left})"
    (a, ea), (b, eb) = items[ia], items[ib]
    if op == "/" and b == 0:
        return f"{line.strip()[:60]!r} divides by zero"
    result = _apply(op, a, b)
    if not matches(claimed, result):
        return f"{line.strip()[:60]!r}: {fmt(a)} {op} {fmt(b)} is {fmt(result)}, not {claimed}"
    rest = [it for i, it in enumerate(items) if i not in (ia, ib)]
    new = tuple(sorted([*rest, (result, f"({ea} {op} {eb})")], key=lambda it: it[0]))
    text = (f"{fmt(a)} {op} {fmt(b)} = {fmt(result)} "
            f"(left: {' '.join(fmt(v) for v, _ in new)})")
    return new, text


def _strip_parens(expr: str) -> str:
    if not (expr.startswith("(") and expr.endswith(")")):
        return expr
    depth = 0
    for i, c in enumerate(expr):
        depth += c == "("
        depth -= c == ")"
        if depth == 0 and i < len(expr) - 1:
            return expr  # the outer parentheses do not enclose everything
    return expr[1:-1]


def check_answer(numbers: tuple[int, ...], expression: str) -> bool:
    """Whether ``expression`` (optionally ``... = 24``) uses exactly ``numbers``, each once,
    and equals 24, by exact rational arithmetic.
    """
    left = expression.split("=")[0].strip()
    used = sorted(Fraction(t) for t in _INTEGERS.findall(left))
    if used != sorted(Fraction(n) for n in numbers):
        return False
    try:
        return evaluate_expression(left) == TARGET
    except ModelRetry:
        return False


@dataclass(kw_only=True)
class Game24Task(SearchTask):
    """One Game of 24 puzzle: ``numbers`` must make 24."""

    numbers: tuple[int, ...] = ()
    max_depth: int = 3
    metadata: dict[str, str] = field(default_factory=lambda: {"domain": "game24"})
    proposals_listed: int = 8
    """Steps the proposer is asked to list per reply."""

    steps_per_call: ClassVar[int] = 8
    options_model: ClassVar[type[pydantic.BaseModel]] = Game24Options

    def __post_init__(self) -> None:
        if not self.numbers:
            self.numbers = parse_puzzle(self.question)
        if len(self.numbers) < 2:
            raise UserError(f"a Game of 24 needs at least two numbers, got {self.question!r}")
        self.metadata.setdefault("domain", "game24")
        self.max_depth = len(self.numbers) - 1
        super().__post_init__()

    @classmethod
    def from_options(cls, question: str, options: dict[str, Any]) -> Game24Task:
        return cls(question=question, temperature=options.get("temperature", 0.7))

    @property
    def puzzle(self) -> str:
        return " ".join(str(n) for n in self.numbers)

    def root(self) -> State:
        items = tuple(sorted(((Fraction(n), str(n)) for n in self.numbers),
                             key=lambda it: it[0]))
        return State(data=items)

    def _items(self, state: State) -> tuple[Item, ...]:
        data: tuple[Item, ...] = state.data if state.data is not None else self.root().data
        return data

    def left(self, state: State) -> str:
        return " ".join(fmt(v) for v, _ in self._items(state))

    def key(self, state: State) -> tuple[Any, ...]:
        return (tuple(v for v, _ in self._items(state)), state.final,
                None if state.answer is None else self.normalise(state.answer))

    def normalise(self, answer: str) -> str:
        return "".join(answer.split("=")[0].split())

    def render(self, state: State) -> str:
        lines = [f"Input: {self.puzzle}", "Steps:", *state.steps]
        if state.final and state.answer is not None:
            lines.append(f"Answer: {state.answer} = 24")
        return "\n".join(lines)

    # --- proposer ------------------------------------------------------------------------------

    def propose_request(self, state: State) -> ModelRequest:
        return self.request(PROPOSE_SYSTEM.format(k=self.proposals_listed),
                            f"Input: {self.left(state)}\nPossible next steps:", "propose",
                            temperature=self.temperature)

    def _child(self, state: State, items: tuple[Item, ...], text: str) -> State:
        steps = (*state.steps, text)
        if len(items) == 1:
            return State(steps=steps, data=items, final=True, answer=_strip_parens(items[0][1]))
        return State(steps=steps, data=items)

    def parse_proposal(self, state: State, text: str) -> Proposal:
        proposal = Proposal()
        items = self._items(state)
        for line in text.splitlines():
            if "=" not in line:
                continue  # commentary, not an attempted step
            applied = apply_step(items, line)
            if isinstance(applied, str):
                proposal.rejected.append(applied)
            else:
                proposal.states.append(self._child(state, *applied))
        return proposal

    def rollout_request(self, state: State) -> ModelRequest:
        user = "\n".join([f"Input: {self.puzzle}", "Steps:", *state.steps])
        return self.request(ROLLOUT_SYSTEM, user, "rollout", temperature=self.temperature)

    def parse_rollout(self, state: State, text: str) -> State | None:
        current = state
        for line in text.splitlines():
            if "=" not in line or _ANSWER.match(line) or line.strip() in current.steps:
                continue
            applied = apply_step(self._items(current), line)
            if isinstance(applied, str):
                break  # the rest builds on a wrong step; the answer line is judged on its own
            current = self._child(current, *applied)
        stated = _ANSWER.findall(text)
        if stated:
            answer = stated[-1].split("=")[0].strip()
            return State(steps=current.steps, data=current.data, final=True, answer=answer)
        return current if current.final else None

    # --- evaluation ----------------------------------------------------------------------------

    def value_request(self, state: State) -> ModelRequest:
        return self.request(VALUE_SYSTEM, f"Input: {self.left(state)}", "value",
                            temperature=self.temperature)

    def judge_request(self, state: State) -> ModelRequest:
        user = f"Input: {self.puzzle}\nAnswer: {state.answer} = 24\nJudge:"
        return self.request(JUDGE_SYSTEM, user, "judge", candidate=state.answer or "")

    def score_request(self, state: State) -> ModelRequest:
        request = self.judge_request(state)
        return ModelRequest(messages=request.messages, purpose="score",
                            metadata=request.metadata, settings=request.settings)

    def reward_request(self, state: State) -> ModelRequest:
        return self.request(REWARD_SYSTEM, self.render(state), "step")

    def vote_request(self, states: Any) -> ModelRequest:
        choices = "\n\n".join(f"Choice {i}:\n{self.render(s)}" for i, s in enumerate(states, 1))
        return self.request(VOTE_SYSTEM, choices, "vote", temperature=self.temperature)

    @property
    def has_verifier(self) -> bool:
        return True

    def verify(self, state: State) -> Action:
        answer = state.answer or ""
        return Compute(fn=functools.partial(check_answer, self.numbers, answer), tag="verify")

    def default_scorer(self) -> Scorer:
        """Tree of Thoughts' value (three samples) on the way, the exact check at the end."""
        return Staged(partial=ValueScorer(samples=3), final=VerifierScorer())


def parse_puzzle(text: str) -> tuple[int, ...]:
    """The numbers of a puzzle written as ``4 9 10 13``, or in a sentence such as ``Use 4 9
    10 13 to make 24`` (the target is not one of them).
    """
    text = _TARGET_PHRASE.sub(" ", text)
    return tuple(int(t) for t in re.findall(r"(?<![\d.])\d+(?![\d])", text))


_TARGET_PHRASE = re.compile(r"\b(?:make|makes|making|reach|get|obtain|equals?|game of)\s+24\b",
                            re.IGNORECASE)


@dataclass(kw_only=True, frozen=True)
class Puzzle:
    rank: int
    numbers: tuple[int, ...]

    @property
    def text(self) -> str:
        return " ".join(str(n) for n in self.numbers)


def load_puzzles(path: str | Path, *, ranks: range | None = None) -> list[Puzzle]:
    """The puzzles of a ``24.csv`` (columns ``Rank``, ``Puzzles``), optionally only ``ranks``
    (the paper's test set: ``range(901, 1001)``).
    """
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise UserError(f"cannot read Game of 24 puzzles from {str(p)!r}: {exc}") from None
    puzzles: list[Puzzle] = []
    for row in rows:
        try:
            rank = int(row["Rank"])
            numbers = tuple(int(x) for x in row["Puzzles"].split())
        except (KeyError, ValueError):
            raise UserError(f"{str(p)!r}: row {row!r} lacks a Rank and a Puzzles column "
                            f"of integers") from None
        if ranks is None or rank in ranks:
            puzzles.append(Puzzle(rank=rank, numbers=numbers))
    return puzzles
