"""Typed dependencies: RunContext[Deps] in tools, the run-time check of deps, agent.tool."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pydantic
import pytest
from typing_extensions import TypedDict

from forethought import Agent, FunctionTool, RunContext, RunStore, ScriptedModel, UserError, tool


@dataclasses.dataclass
class Inventory:
    stock: dict[str, int]


class Settings(TypedDict):
    unit: str


@tool
def in_stock(ctx: RunContext[Inventory], item: str) -> int:
    """How many of an item are in stock.

    Args:
        item: The item's name.
    """
    return ctx.deps.stock[item]


PLAN = '1. in_stock(item="apples")\n2. join()'


def test_a_tool_taking_the_context_gets_it_and_hides_it_from_the_schema() -> None:
    assert isinstance(in_stock, FunctionTool) and in_stock.deps_type is Inventory
    assert in_stock.parameters == {
        "type": "object", "additionalProperties": False, "required": ["item"],
        "properties": {"item": {"type": "string", "description": "The item's name."}}}
    agent = Agent(ScriptedModel([PLAN, "Action: Finish(12)"]), tools=[in_stock],
                  deps=Inventory(stock={"apples": 12}), store=None)
    assert agent.run("How many apples?").output == "12"


def test_deps_can_be_given_per_run() -> None:
    agent = Agent(ScriptedModel([PLAN, "Action: Finish(3)"]), tools=[in_stock],
                  deps=Inventory(stock={"apples": 12}), store=None)
    result = agent.run("How many apples?", deps=Inventory(stock={"apples": 3}))
    assert result.messages[2].content == "3"


def test_deps_of_the_wrong_type_fail_before_the_run_starts(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    model = ScriptedModel([PLAN, "Action: Finish(12)"])
    agent = Agent(model, tools=[in_stock], deps={"apples": 12}, store=store)  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"deps must be Inventory \(tool 'in_stock' takes "
                                        r"RunContext\[Inventory\]\), got dict: \{'apples': 12\}"):
        agent.run("How many apples?")
    typed = Agent(model, deps_type=Inventory, store=store)
    with pytest.raises(UserError, match=r"this run needs deps of type Inventory \(Agent\("
                                        r"deps_type=Inventory\)\) but got none"):
        typed.run("How many apples?")
    with pytest.raises(UserError, match=r"deps must be Inventory .* got str: 'apples'"):
        typed.run("q?", deps="apples")  # type: ignore[arg-type]
    assert model.requests == [] and store.runs() == []  # nothing started, nothing recorded


@pytest.mark.parametrize(("deps_type", "good", "bad", "message"), [
    (Settings, {"unit": "kg"}, {"unit": 3}, r"deps must be .*Settings.* got dict"),
    (int | None, None, "3", r"deps must be int \| None .* got str: '3'"),
    (dict[str, int], {"a": 1}, [1], r"deps must be dict\[str, int\] .* got list"),
])
def test_deps_types_beyond_classes(deps_type: Any, good: Any, bad: Any, message: str) -> None:
    agent = Agent(ScriptedModel(["1. join()", "Action: Finish(ok)"]), deps_type=deps_type,
                  store=None)
    assert agent.run("q?", deps=good).output == "ok"
    with pytest.raises(UserError, match=message):
        agent.run("q?", deps=bad)


def test_agent_tool_decorators() -> None:
    model = ScriptedModel(['1. price(item="pear")\n2. double(n=$1)\n3. join()',
                           "Action: Finish(8)"])
    agent = Agent(model, deps_type=Inventory, deps=Inventory(stock={"pear": 4}), store=None)

    @agent.tool
    def price(ctx: RunContext[Inventory], item: str) -> int:
        return ctx.deps.stock[item]

    @agent.tool_plain
    def double(n: int) -> int:
        return 2 * n

    assert agent.tools.names() == ["price", "double"]
    assert price(RunContext(model=model, deps=Inventory(stock={"x": 1})), "x") == 1
    result = agent.run("Twice the price of a pear?")
    assert [m.content for m in result.messages if m.role == "tool"] == ["4", "8"]


class LookAlike(pydantic.BaseModel):
    label: str


LookAlike.__name__ = LookAlike.__qualname__ = "RunContext"  # a user type sharing the name


def test_the_context_is_found_by_type_not_by_name() -> None:
    def describe(run_context: Any) -> str:
        return str(run_context.label)

    describe.__annotations__ = {"run_context": LookAlike, "return": str}
    described = FunctionTool(describe)
    assert described.deps_type is None
    assert described.parameters["required"] == ["run_context"]


def test_the_context_parameter_must_come_first() -> None:
    def late(item: str, ctx: RunContext[Inventory]) -> int:
        return ctx.deps.stock[item]

    with pytest.raises(UserError, match="tool 'late': the RunContext parameter 'ctx' must be "
                                        "the first parameter"):
        FunctionTool(late)


def test_an_unresolvable_annotation_is_named() -> None:
    def lookup(ctx: RunContext[Missing], item: str) -> int:  # type: ignore[name-defined]  # noqa: F821
        return 0

    with pytest.raises(UserError, match="tool 'lookup': the annotation 'Missing' cannot be "
                                        "resolved"):
        FunctionTool(lookup)
