# pyright: strict, reportUnnecessaryTypeIgnoreComment=true
"""Static types of the SDK, checked by pyright (CI runs it over tests/).

``assert_type`` fails the type check when an inferred type differs; the
``pyright: ignore[...]`` comments mark calls that must NOT type-check, and
``reportUnnecessaryTypeIgnoreComment`` fails the check if one of them stops being an error.
The functions also run (offline) under pytest, so the types describe what really happens.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, assert_type

import pydantic

from forethought import (
    Agent,
    AgentResult,
    AgentRun,
    Conversation,
    Event,
    FunctionTool,
    RunContext,
    ScriptedModel,
    StreamedRun,
    SyncRun,
    tool,
)


@dataclasses.dataclass
class Inventory:
    stock: dict[str, int]


@dataclasses.dataclass
class Ledger:
    balance: int


class City(pydantic.BaseModel):
    name: str


class Cat(pydantic.BaseModel):
    meows: int


class Dog(pydantic.BaseModel):
    barks: int


@tool
def in_stock(ctx: RunContext[Inventory], item: str) -> int:
    """Stock of an item."""
    assert_type(ctx.deps, Inventory)
    return ctx.deps.stock[item]


@tool
def balance(ctx: RunContext[Ledger]) -> int:
    """The balance."""
    return ctx.deps.balance


@tool
def shout(text: str) -> str:
    """Upper case."""
    return text.upper()


def script(*replies: str) -> ScriptedModel:
    return ScriptedModel(["1. join()", *replies])


def test_tools_carry_the_deps_type_of_their_context() -> None:
    assert_type(in_stock, FunctionTool[Inventory])
    assert_type(shout, FunctionTool[Any])
    ctx = RunContext(model=script(), deps=Inventory(stock={}))
    assert_type(ctx, RunContext[Inventory])
    assert_type(RunContext(model=script()).deps, None)


def test_agent_result_and_output_types() -> None:
    plain = Agent(script("Action: Finish(hi)"), store=None)
    assert_type(plain, Agent[Any, str])  # no deps type given: any deps
    result = plain.run("q?")
    assert_type(result, AgentResult[str])
    assert_type(result.output, str)

    typed = Agent(script('Action: Finish({"name": "Paris"})'), output_type=City, store=None)
    assert_type(typed, Agent[Any, City])
    assert_type(typed.run("q?").output, City)

    either = Agent(script('Action: Finish({"barks": 2})'), output_type=[Cat, Dog], store=None)
    assert_type(either.run("q?").output, Cat | Dog)



def static_per_run_output_types(agent: Agent[None, City]) -> None:
    """Checked by pyright, never called."""
    assert_type(agent.run("q?", output_type=int), AgentResult[int])
    assert_type(agent.run("q?", output_type=list[int]).output, list[int])
    assert_type(agent.run("q?"), AgentResult[City])
    assert_type(agent.iter_sync("q?", output_type=int), SyncRun[Event, int])
    assert_type(agent.run_stream_sync("q?"), SyncRun[str, City])
    agent.run("q?", deps=Ledger(balance=1))  # pyright: ignore[reportArgumentType]


def test_deps_are_typed_from_deps_type_deps_and_tools() -> None:
    stocked = Agent(script("Action: Finish(1)"), deps_type=Inventory, tools=[in_stock, shout],
                    deps=Inventory(stock={}), store=None)
    assert_type(stocked, Agent[Inventory, str])
    assert_type(Agent(script(), deps=Ledger(balance=1), store=None), Agent[Ledger, str])
    assert_type(Agent(script(), tools=[in_stock], store=None), Agent[Inventory, str])

    @stocked.tool
    def count(ctx: RunContext[Inventory], item: str) -> int:
        return ctx.deps.stock.get(item, 0)

    assert_type(count(RunContext(model=script(), deps=Inventory(stock={"a": 2})), "a"), int)



def static_deps_mismatches(stocked: Agent[Inventory, str]) -> None:
    """Checked by pyright, never called: each line must be a type error."""
    Agent(script(), deps_type=Inventory, tools=[balance])  # pyright: ignore[reportArgumentType]
    Agent(script(), deps=Ledger(balance=1), tools=[in_stock])  # pyright: ignore[reportArgumentType]
    stocked.run("q?", deps=Ledger(balance=1))  # pyright: ignore[reportArgumentType]

    def wrong(ctx: RunContext[Ledger]) -> int:
        return ctx.deps.balance

    stocked.tool(wrong)  # pyright: ignore[reportArgumentType]


def test_output_validators_are_checked_against_the_output_type() -> None:
    typed = Agent(script('Action: Finish({"name": "Paris"})'), output_type=City, store=None)

    @typed.output_validator
    def keep(city: City) -> City:
        return city

    @typed.output_validator
    async def with_ctx(ctx: RunContext[None], city: City) -> City:
        return city

    assert typed.run("q?").output == City(name="Paris")


def static_validator_mismatch(typed: Agent[None, City]) -> None:
    """Checked by pyright, never called."""
    def for_dogs(dog: Dog) -> Dog:
        return dog

    typed.output_validator(for_dogs)  # pyright: ignore[reportArgumentType, reportCallIssue]


def test_iterators_are_typed() -> None:
    model = ScriptedModel(lambda r: "1. join()" if r.purpose == "plan"
                          else 'Action: Finish({"name": "Paris"})')
    typed = Agent(model, output_type=City, store=None)

    async def main() -> None:
        run = typed.iter("q?")
        assert_type(run, AgentRun[City])
        async with run:
            async for event in run:
                assert_type(event, Event)
        assert_type(run.result, AgentResult[City])
        stream = typed.run_stream("q?")
        assert_type(stream, StreamedRun[City])
        async with stream:
            async for text in stream:
                assert_type(text, str)
        assert_type(stream.result.output, City)

    asyncio.run(main())
    with typed.iter_sync("q?") as sync:
        assert_type(sync, SyncRun[Event, City])
        for event in sync:
            assert_type(event, Event)
    assert_type(sync.result.output, City)


def test_conversations_are_typed() -> None:
    typed = Agent(script('Action: Finish({"name": "Paris"})'), output_type=City, store=None)
    conv = typed.chat()
    assert_type(conv, Conversation[Any, City])
    assert_type(conv.run("q?").output, City)
