"""Built-in tools, registered under the ``forethought.tools`` entry-point group."""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Callable
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forethought import _pyast
from forethought.exceptions import ModelRetry
from forethought.tools.base import tool

_MAX_EXPRESSION = 2000
_MAX_EXPONENT = 4096
_MAX_DIGITS = 5000

_BINARY: dict[type[ast.operator], Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
}


def _abs(*xs: Fraction) -> Fraction:
    if len(xs) != 1:
        raise ModelRetry(f"abs() takes one argument, got {len(xs)}")
    return abs(xs[0])


_FUNCTIONS: dict[str, Callable[..., Fraction]] = {"abs": _abs, "min": min, "max": max}


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise ModelRetry("only whole-number exponents are exact; rewrite without roots")
    if abs(exponent) > _MAX_EXPONENT:
        raise ModelRetry(f"exponent {exponent} is too large (limit {_MAX_EXPONENT})")
    if base == 0 and exponent < 0:
        raise ModelRetry("division by zero: 0 raised to a negative power")
    return base ** int(exponent)


def _evaluate(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ModelRetry(f"not a number: {node.value!r}")
        return Fraction(str(node.value)) if isinstance(node.value, float) else Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            result = _power(left, right)
        elif isinstance(node.op, ast.FloorDiv | ast.Mod):
            if right == 0:
                raise ModelRetry("division by zero")
            result = Fraction(left // right) if isinstance(node.op, ast.FloorDiv) else left % right
        elif type(node.op) in _BINARY:
            if isinstance(node.op, ast.Div) and right == 0:
                raise ModelRetry("division by zero")
            result = _BINARY[type(node.op)](left, right)
        else:
            raise ModelRetry(f"operator {type(node.op).__name__} is not supported")
        if len(str(result.numerator)) + len(str(result.denominator)) > _MAX_DIGITS:
            raise ModelRetry(f"result has more than {_MAX_DIGITS} digits")
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _FUNCTIONS and not node.keywords and node.args:
        return _FUNCTIONS[node.func.id](*(_evaluate(a) for a in node.args))
    raise ModelRetry(f"unsupported syntax {ast.unparse(node)!r}: use numbers, + - * / // % **, "
                     f"parentheses and {', '.join(_FUNCTIONS)}")


def format_number(value: Fraction) -> str:
    """Integers as integers, terminating decimals as decimals, other fractions as ``(p/q)``
    (parenthesised so the text can be substituted into another expression).
    """
    if value.denominator == 1:
        return str(value.numerator)
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d == 1:
        text = f"{value.numerator / value.denominator:.15g}"
        if Fraction(text) == value:
            return text
    return f"({value.numerator}/{value.denominator})"


def evaluate_expression(expression: str) -> Fraction:
    """Evaluate an arithmetic expression exactly. Raises :class:`ModelRetry` with a message a
    model can act on for anything that is not plain arithmetic.
    """
    text = expression.strip().replace("×", "*").replace("÷", "/").replace("^", "**")
    if not text:
        raise ModelRetry("the expression is empty")
    if len(text) > _MAX_EXPRESSION:
        raise ModelRetry(f"the expression is longer than {_MAX_EXPRESSION} characters")
    try:
        tree = _pyast.parse_expression(text)
    except SyntaxError as exc:
        raise ModelRetry(f"cannot parse {expression!r}: {exc.msg} at column {exc.offset}") from None
    return _evaluate(tree)


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly (rational arithmetic, no rounding).

    Args:
        expression: Numbers with + - * / // % **, parentheses, abs(), min() and max(),
            e.g. "(3 + 4) * 12 - 5".
    """
    return format_number(evaluate_expression(expression))


@tool
def clock(timezone: str = "UTC") -> str:
    """The current date and time (ISO 8601) in a timezone.

    Args:
        timezone: An IANA timezone name such as "UTC" or "Europe/Paris".
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ModelRetry(f"unknown timezone {timezone!r}; use an IANA name like "
                         f"'UTC' or 'America/New_York'") from None
    return dt.datetime.now(zone).isoformat(timespec="seconds")
