"""@tool: schemas from signatures, validation errors fit for the model, sync and async."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Literal

import pydantic
import pytest
from inline_snapshot import snapshot

from forethought.exceptions import (
    ToolArgumentError,
    ToolExecutionError,
    UnknownNameError,
    UserError,
)
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, ToolCallFinished
from forethought.tools.base import Tool, ToolRegistry, builtin_tools, tool


@tool
def search(query: str, k: int = 3, mode: Literal["fast", "exact"] = "fast") -> list[str]:
    """Search the corpus.

    Args:
        query: What to look for.
        k: How many passages
            to return.
        mode: Ranking mode.

    Returns:
        Passages.
    """
    return [f"{query}:{i}:{mode}" for i in range(k)]


@tool(name="wait", timeout_s=0.05)
async def slow(seconds: float) -> str:
    """Sleep."""
    await asyncio.sleep(seconds)
    return "woke"


@tool
def whoami(ctx: RunContext, greeting: str) -> str:
    """Uses the run context."""
    return f"{greeting} from run {ctx.run_id}"


@tool
def explode() -> None:
    """Always fails."""
    raise ValueError("kaboom")


def ctx_with(*tools: Tool) -> tuple[RunContext, list[Event]]:
    events: list[Event] = []
    ctx = RunContext(model=ScriptedModel([]), tools=ToolRegistry(tools), run_id="r1")
    ctx.events.subscribe(events.append)
    return ctx, events


def test_schema_from_signature_and_docstring() -> None:
    assert search.name == "search"
    assert search.description == "Search the corpus."
    assert search.parameters == snapshot({
        "additionalProperties": False,
        "properties": {
            "query": {"description": "What to look for.", "type": "string"},
            "k": {"default": 3, "description": "How many passages to return.",
                  "type": "integer"},
            "mode": {"default": "fast", "description": "Ranking mode.",
                     "enum": ["fast", "exact"], "type": "string"},
        },
        "required": ["query"],
        "type": "object",
    })


def test_context_parameter_is_hidden_from_the_model() -> None:
    assert list(whoami.parameters["properties"]) == ["greeting"]


async def test_sync_tool_runs_in_a_worker_thread() -> None:
    seen: list[str] = []

    @tool
    def where() -> str:
        """Report the thread."""
        seen.append(threading.current_thread().name)
        return "ok"

    ctx, _ = ctx_with(where)
    assert await ctx.call_tool("where", {}) == "ok"
    assert seen and seen[0] != threading.main_thread().name


async def test_call_validates_and_coerces() -> None:
    ctx, events = ctx_with(search, whoami)
    assert await ctx.call_tool("search", {"query": "x", "k": "2"}) == ["x:0:fast", "x:1:fast"]
    assert await ctx.call_tool("whoami", {"greeting": "hi"}) == "hi from run r1"
    assert [e.kind for e in events] == ["tool_call_started", "tool_call_finished"] * 2


@pytest.mark.parametrize(("args", "message"), [
    ({"k": 2}, "query: Field required"),
    ({"query": "x", "k": "many"}, "k: Input should be a valid integer"),
    ({"query": "x", "mode": "slow"}, "mode: Input should be 'fast' or 'exact'"),
    ({"query": "x", "extra": 1}, "extra: Extra inputs are not permitted"),
])
async def test_wrong_arguments_give_a_message_for_the_model(args: dict[str, object],
                                                           message: str) -> None:
    ctx, events = ctx_with(search)
    with pytest.raises(ToolArgumentError, match="invalid arguments for tool 'search'") as info:
        await ctx.call_tool("search", args)
    assert message in str(info.value)
    finished = events[-1]
    assert isinstance(finished, ToolCallFinished) and finished.error == str(info.value)


async def test_a_tool_that_raises_is_a_tool_execution_error() -> None:
    ctx, _ = ctx_with(explode)
    with pytest.raises(ToolExecutionError, match="tool 'explode' raised ValueError: kaboom"):
        await ctx.call_tool("explode", {})


async def test_tool_timeout() -> None:
    ctx, _ = ctx_with(slow)
    with pytest.raises(ToolExecutionError, match=r"timed out after 0\.05s"):
        await ctx.call_tool("wait", {"seconds": 2})


async def test_unknown_tool_lists_valid_ones() -> None:
    ctx, _ = ctx_with(search)
    with pytest.raises(UnknownNameError, match="unknown tool 'serch'; valid tools: 'search'"):
        await ctx.call_tool("serch", {})


def test_registry_by_name_and_conflicts() -> None:
    assert {"calculator", "clock"} <= set(builtin_tools())
    registry = ToolRegistry(["calculator", search])
    assert registry.names() == ["calculator", "search"]
    with pytest.raises(UnknownNameError, match="unknown tool 'calculater'"):
        ToolRegistry(["calculater"])

    @tool(name="search")
    def other(q: str) -> str:
        """Another."""
        return q

    with pytest.raises(UserError, match="two different tools are named 'search'"):
        registry.add(other)


def test_bad_definitions() -> None:
    def variadic(*values: int) -> int:
        return sum(values)

    with pytest.raises(UserError, match=r"\*args/\*\*kwargs cannot be described"):
        tool(variadic)
    with pytest.raises(UserError, match="invalid tool name"):
        tool(name="has space")(lambda: None)


async def test_annotated_constraints_reach_the_schema_and_validation() -> None:
    @tool
    def top(k: Annotated[int, pydantic.Field(ge=1, le=50, description="How many.")]) -> int:
        """Top k."""
        return k

    assert top.parameters["properties"]["k"] == {
        "description": "How many.", "maximum": 50, "minimum": 1, "type": "integer"}
    ctx, _ = ctx_with(top)
    with pytest.raises(ToolArgumentError, match="k: Input should be less than or equal to 50"):
        await ctx.call_tool("top", {"k": 99})
