"""The built-in calculator (exact, no eval) and clock."""

from __future__ import annotations

import datetime as dt

import pytest

from forethought.exceptions import ToolArgumentError
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.tools.base import ToolRegistry


@pytest.fixture
def ctx() -> RunContext:
    return RunContext(model=ScriptedModel([]), tools=ToolRegistry(["calculator", "clock"]))


@pytest.mark.parametrize(("expression", "expected"), [
    ("(3 + 4) * 12 - 5", "79"),
    ("0.1 + 0.2", "0.3"),  # exact, unlike floats
    ("7 / 3", "(7/3)"),
    ("(7/3) * 3", "7"),
    ("1 / 8", "0.125"),
    ("2 ** 64", "18446744073709551616"),
    ("-(2 ** 3) + abs(-4) + max(1, 5, 2)", "1"),
    ("17 // 5 + 17 % 5", "5"),
    ("3 × 4 ÷ 2", "6"),
])
async def test_exact_arithmetic(ctx: RunContext, expression: str, expected: str) -> None:
    assert await ctx.call_tool("calculator", {"expression": expression}) == expected


@pytest.mark.parametrize(("expression", "message"), [
    ("1 / 0", "division by zero"),
    ("__import__('os').system('true')", "unsupported syntax"),
    ("open('/etc/passwd')", "unsupported syntax"),
    ("2 ** 100000", "exponent 100000 is too large"),
    ("2 ** 0.5", "whole-number exponents"),
    ("(1 + 2", "cannot parse"),
    ("", "the expression is empty"),
    ("x + 1", "unsupported syntax 'x'"),
    ("'a' * 3", "not a number"),
])
async def test_bad_expressions_get_actionable_errors(ctx: RunContext, expression: str,
                                                     message: str) -> None:
    with pytest.raises(ToolArgumentError, match=message):
        await ctx.call_tool("calculator", {"expression": expression})


async def test_clock(ctx: RunContext) -> None:
    now = dt.datetime.fromisoformat(await ctx.call_tool("clock", {}))
    assert now.tzinfo is not None
    assert abs((now - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    paris = await ctx.call_tool("clock", {"timezone": "Europe/Paris"})
    assert paris.endswith(("+01:00", "+02:00"))
    with pytest.raises(ToolArgumentError, match="unknown timezone 'Mars/Olympus'"):
        await ctx.call_tool("clock", {"timezone": "Mars/Olympus"})
