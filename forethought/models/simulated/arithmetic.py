"""The arithmetic oracle: what the simulator knows without being told.

It finds an expression over numbers with ``+ - * /`` and parentheses in a question, evaluates
it exactly with :class:`~fractions.Fraction` by walking its ``ast`` (never ``eval``), proposes
plausible wrong values, and turns it into an LLMCompiler-style plan of one calculator step per
binary operation.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from forethought import _pyast
from forethought.models.simulated.answers import format_number

# --- expression trees -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Num:
    value: Fraction


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str
    """One of ``+ - * /``."""
    left: Expr
    right: Expr


Expr = Num | Neg | BinOp

_SYMBOLS: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
                                           ast.Div: "/"}
_MISAPPLIED = {"+": "-", "-": "+", "*": "+", "/": "*"}
"""The slip "one operator misapplied" makes: a sign error, adding instead of multiplying, or
multiplying instead of dividing."""
_MAX_CHARS = 2000
_MAX_OPERATORS = 200


class _NotArithmeticError(ValueError):
    pass


def apply_op(op: str, left: Fraction, right: Fraction) -> Fraction:
    """``left op right``; raises :class:`ZeroDivisionError` on division by zero."""
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    return left / right


def evaluate(expr: Expr) -> Fraction:
    match expr:
        case Num(value=v):
            return v
        case Neg(operand=x):
            return -evaluate(x)
        case BinOp(op=op, left=left, right=right):
            return apply_op(op, evaluate(left), evaluate(right))


def count_operators(expr: Expr) -> int:
    match expr:
        case Num():
            return 0
        case Neg(operand=x):
            return count_operators(x)
        case BinOp(left=left, right=right):
            return 1 + count_operators(left) + count_operators(right)


def _convert(node: ast.expr) -> Expr:
    """Our tree from a Python AST, admitting only numbers, ``+ - * /``, unary signs."""
    match node:
        case ast.Constant(value=bool()):
            raise _NotArithmeticError("booleans are not numbers")
        case ast.Constant(value=int() as v):
            return Num(Fraction(v))
        case ast.Constant(value=float() as v):
            return Num(Fraction(str(v)))  # str() keeps the literal's decimal digits exact
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            inner = _convert(operand)
            return Num(-inner.value) if isinstance(inner, Num) else Neg(inner)
        case ast.UnaryOp(op=ast.UAdd(), operand=operand):
            return _convert(operand)
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _SYMBOLS:
            return BinOp(_SYMBOLS[type(op)], _convert(left), _convert(right))
        case _:
            raise _NotArithmeticError(f"{type(node).__name__} is not arithmetic")


def parse_expression(text: str) -> Expr | None:
    """The tree of ``text`` if it is a pure arithmetic expression, else ``None``."""
    if len(text) > _MAX_CHARS:
        return None
    try:
        return _convert(_pyast.parse_expression(text).body)
    except (SyntaxError, ValueError, RecursionError):
        return None


# --- finding a question's expression ------------------------------------------------------------

_CANDIDATE = re.compile(r"[0-9.+\-*/() \t]+")
_LEADING_ZERO = re.compile(r"(?<![\d.])0\d")
"""``01``: a date or code such as ``2024-01-05``, not arithmetic."""
_STRAY_DOTS = re.compile(r"^[.\s]+(?!\d)")
"""A full stop before the expression (``Answer this. 3 + 4``), not a decimal point."""
_UNICODE_OPS = str.maketrans({"×": "*", "÷": "/", "−": "-", "–": "-"})


def _balance(text: str) -> str:
    """Drop parentheses that have no partner (text around an expression often has some)."""
    drop: set[int] = set()
    open_at: list[int] = []
    for i, c in enumerate(text):
        if c == "(":
            open_at.append(i)
        elif c == ")":
            if open_at:
                open_at.pop()
            else:
                drop.add(i)
    drop.update(open_at)
    return "".join(c for i, c in enumerate(text) if i not in drop)


def _clean(candidate: str) -> str:
    text = _balance(candidate).strip().rstrip("+-*/.( \t").lstrip("+*/) \t")
    text = _balance(_STRAY_DOTS.sub("", text)).strip()
    return re.sub(r"[ \t]+", " ", text)


@dataclass(kw_only=True, frozen=True)
class Arithmetic:
    """An arithmetic question the oracle can answer exactly."""

    text: str
    """The expression as found in the question (whitespace normalised)."""
    expr: Expr = field(repr=False)
    value: Fraction
    operators: int
    """Number of binary operations."""

    @property
    def difficulty(self) -> float:
        """``min(1, operators / 8)``: one operation is easy, eight or more is as hard as it gets."""
        return min(1.0, self.operators / 8)

    @property
    def answer(self) -> str:
        return format_number(self.value)

    def distractors(self, limit: int = 6) -> tuple[str, ...]:
        """Plausible wrong values, most tempting first.

        In order: precedence ignored, off by one upwards, the outermost operator misapplied,
        off by one downwards, then the other operators misapplied.
        """
        candidates: list[Fraction] = []
        left_to_right = _left_to_right(self.text)
        if left_to_right is not None:
            candidates.append(left_to_right)
        candidates.append(self.value + 1)
        misapplied: list[Fraction] = []
        for variant in _misapplied(self.expr):
            try:
                misapplied.append(evaluate(variant))
            except ZeroDivisionError:
                continue
        candidates += [*misapplied[:1], self.value - 1, *misapplied[1:]]
        out: list[str] = []
        seen = {self.answer}
        for value in candidates:
            text = format_number(value)
            if text not in seen:
                seen.add(text)
                out.append(text)
        return tuple(out[:limit])


@lru_cache(maxsize=1024)
def find_arithmetic(text: str) -> Arithmetic | None:
    """The arithmetic expression in ``text`` with the most operators (the first on a tie).

    ``None`` when there is none, or it cannot be evaluated (division by zero).
    """
    best: Arithmetic | None = None
    for match in _CANDIDATE.finditer(text.translate(_UNICODE_OPS)):
        candidate = _clean(match.group())
        if not any(c in candidate for c in "+-*/") or _LEADING_ZERO.search(candidate):
            continue
        expr = parse_expression(candidate)
        if expr is None:
            continue
        operators = count_operators(expr)
        if not 0 < operators <= _MAX_OPERATORS or (best and operators <= best.operators):
            continue
        try:
            value = evaluate(expr)
        except ZeroDivisionError:
            continue
        best = Arithmetic(text=candidate, expr=expr, value=value, operators=operators)
    return best


def _misapplied(expr: Expr) -> Iterator[Expr]:
    """Every copy of ``expr`` with exactly one operator misapplied, outermost first."""
    match expr:
        case Num():
            return
        case Neg(operand=x):
            for v in _misapplied(x):
                yield Neg(v)
        case BinOp(op=op, left=left, right=right):
            yield BinOp(_MISAPPLIED[op], left, right)
            for v in _misapplied(left):
                yield BinOp(op, v, right)
            for v in _misapplied(right):
                yield BinOp(op, left, v)


_TOKEN = re.compile(r"\d+\.?\d*|\.\d+|[-+*/()]")


def _left_to_right(text: str) -> Fraction | None:
    """``text`` evaluated strictly left to right, parentheses kept but precedence ignored.

    The classic slip that reads ``2 + 3 * 4`` as 20.
    """
    tokens = _TOKEN.findall(text)
    pos = 0

    def operand() -> Fraction:
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token == "(":
            value = chain()
            pos += 1  # the closing parenthesis
            return value
        if token == "-":
            return -operand()
        if token == "+":
            return operand()
        return Fraction(token)

    def chain() -> Fraction:
        nonlocal pos
        value = operand()
        while pos < len(tokens) and tokens[pos] in ("+", "-", "*", "/"):
            op = tokens[pos]
            pos += 1
            value = apply_op(op, value, operand())
        return value

    try:
        return chain()
    except (ZeroDivisionError, IndexError, ValueError):
        return None


# --- plans -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """The result of an earlier plan step (0-based index), possibly negated."""

    index: int
    negated: bool = False


Operand = Fraction | Ref


@dataclass(frozen=True, slots=True)
class Step:
    """One calculator task: ``left op right``."""

    op: str
    left: Operand
    right: Operand

    def render(self, offset: int = 0) -> str:
        """The calculator expression, with references numbered from ``offset + 1``."""
        left = _render_operand(self.left, offset)
        return f"{left} {self.op} {_render_operand(self.right, offset)}"


def _render_operand(operand: Operand, offset: int) -> str:
    if isinstance(operand, Ref):
        return f"{'-' if operand.negated else ''}${operand.index + 1 + offset}"
    return format_number(operand, exact=True)


def plan_steps(expr: Expr) -> list[Step]:
    """One step per binary operation, in post-order.

    Independent sub-expressions become independent steps, and each step refers only to
    earlier ones.
    """
    steps: list[Step] = []

    def visit(e: Expr) -> Operand:
        match e:
            case Num(value=v):
                return v
            case Neg(operand=x):
                inner = visit(x)
                return Ref(inner.index, not inner.negated) if isinstance(inner, Ref) else -inner
            case BinOp(op=op, left=left, right=right):
                lhs = visit(left)
                rhs = visit(right)
                steps.append(Step(op, lhs, rhs))
                return Ref(len(steps) - 1)

    visit(expr)
    return steps


def evaluate_steps(steps: list[Step]) -> Fraction:
    """The value of the last step; raises :class:`ZeroDivisionError`."""
    values: list[Fraction] = []

    def value(operand: Operand) -> Fraction:
        if isinstance(operand, Ref):
            v = values[operand.index]
            return -v if operand.negated else v
        return operand

    for step in steps:
        values.append(apply_op(step.op, value(step.left), value(step.right)))
    return values[-1]


def plan_mistakes(steps: list[Step]) -> Iterator[list[Step]]:
    """Every plan that differs from ``steps`` by one mistake in one step.

    The mistake is a literal number off by one, or the step's operator misapplied.
    """
    for i, step in enumerate(steps):
        variants = [Step(_MISAPPLIED[step.op], step.left, step.right)]
        if isinstance(step.left, Fraction):
            variants += [Step(step.op, step.left + d, step.right) for d in (1, -1)]
        if isinstance(step.right, Fraction):
            variants += [Step(step.op, step.left, step.right + d) for d in (1, -1)]
        for variant in variants:
            yield [*steps[:i], variant, *steps[i + 1:]]
